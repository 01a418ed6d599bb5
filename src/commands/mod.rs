//! One module per subcommand (as cargo's `src/bin/cargo/commands/` and mise's `src/cli/`),
//! each with a `run` that returns the exit status; the helpers they share beside them:
//!
//! - [`load`]: find and load devenv.toml, choose the kube context, say which config was read;
//! - [`prepare`]: image tags, the plan and its generated files (`plan`, and every run);
//! - [`session`]: what a run of steps needs (reporter, lock, journal, runner) and running it;
//! - [`teardown`]: what `down` and `reset` delete;
//! - [`printer`]: every line a command writes itself, and on which stream.

pub mod apply;
pub mod build;
pub mod completions;
pub mod config;
pub mod diff;
pub mod doctor;
pub mod down;
pub mod init;
pub mod load;
pub mod man;
pub mod plan;
pub mod prepare;
pub mod printer;
pub mod render;
pub mod reset;
mod run_json;
pub mod session;
pub mod status;
pub mod teardown;
pub mod up;
pub mod verify;

pub use load::{load_config, load_config_unannounced, load_config_without_cluster};
pub use prepare::{detect_builder, docker_builder, prepare_plan};

use crate::exit::Exit;
use crate::hint::Hinted;

/// Print `e` (`error: …` + `  = help: …`) and return `exit`: a command stops here.
pub fn fail(exit: Exit, e: Hinted) -> Exit {
    printer::error(&e);
    exit
}
