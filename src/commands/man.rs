//! The hidden `devenv man`: the man page, from the clap definitions, on stdout (piped into
//! a file by packagers).

use clap::CommandFactory;

use super::{fail, printer};
use crate::cli::Cli;
use crate::exit::Exit;
use crate::hint::Hinted;

pub fn run() -> Exit {
    let cmd = Cli::command();
    match clap_mangen::Man::new(cmd).render(&mut printer::answer_writer()) {
        Ok(()) => Exit::Success,
        Err(e) => fail(
            Exit::StepFailed,
            Hinted::new(format!("cannot write the man page: {e}")),
        ),
    }
}
