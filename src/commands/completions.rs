//! `devenv completions SHELL`: the completion script, from the clap definitions, on stdout
//! (it is piped into a file or `source`d).

use clap::CommandFactory;

use super::printer;
use crate::cli::Cli;
use crate::exit::Exit;

pub fn run(shell: clap_complete::Shell) -> Exit {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "devenv", &mut printer::answer_writer());
    Exit::Success
}
