use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // clap exits 2 on a bad command line, as documented.
    let cli = devenv::cli::Cli::parse();
    ExitCode::from(devenv::run(cli).code())
}
