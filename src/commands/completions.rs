//! `devenv completions SHELL` and the hidden `devenv man`, both from the clap definitions.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::exit::Exit;

pub fn completions(shell: clap_complete::Shell) -> Exit {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "devenv", &mut std::io::stdout());
    Exit::Success
}

pub fn man() -> Exit {
    let cmd = Cli::command();
    match clap_mangen::Man::new(cmd).render(&mut std::io::stdout()) {
        Ok(()) => Exit::Success,
        Err(e) => {
            eprintln!("error: cannot write the man page: {e}");
            Exit::StepFailed
        }
    }
}
