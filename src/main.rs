//! The `devenv` binary: parse the command line, run it (`devenv::run`), exit with its code.
//! Everything else is in the library; `docs/architecture.md` maps it.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // `devenv plan | head` must end quietly, as other CLIs do, not panic on a closed pipe.
    // SAFETY: setting a signal disposition at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // clap exits 2 on a bad command line, as documented.
    let cli = devenv::cli::Cli::parse();
    ExitCode::from(devenv::run(cli).code())
}
