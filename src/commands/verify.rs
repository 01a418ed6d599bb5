//! `devenv verify`: run the verify step again (whatever the journal says).

use super::fail;
use super::session::{command_line, open_session, run_steps};
use crate::cli::GlobalArgs;
use crate::engine::RunOptions;
use crate::exit::Exit;
use crate::hint::Hinted;

pub fn run(g: &GlobalArgs) -> Exit {
    let s = match open_session(g, false) {
        Ok(s) => s,
        Err(e) => return e,
    };
    if s.plan.step("verify").is_none() {
        // verify.enabled = false only skips it in `up`; `devenv verify` always runs it.
        return fail(
            Exit::Usage,
            Hinted::new(format!(
                "verification is disabled by verify.enabled = false in {}",
                s.loaded.source_name()
            )),
        );
    }
    let opts = RunOptions {
        command: command_line(),
        ..Default::default()
    };
    // Always probe again: `devenv verify` is a question about now.
    run_steps(g, s, vec!["verify".into()], opts, &["verify"])
}
