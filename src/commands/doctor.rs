//! `devenv doctor`: every prerequisite checked (`steps::status::doctor`) plus which builder
//! `docker build` uses, one line each with its fix; exit 3 when one fails. The list is the
//! command's answer: stdout.

use super::printer;
use super::session::{observe_state_dir, runtime};
use crate::cli::GlobalArgs;
use crate::exit::Exit;
use crate::steps::preflight::{Check, CheckStatus};

pub fn run(g: &GlobalArgs) -> Exit {
    let loaded = match super::load_config(g) {
        Ok(l) => l,
        Err(e) => return e,
    };
    if let Err(exit) = observe_state_dir(&loaded) {
        return exit;
    }
    let rt = runtime();
    let mut checks = rt.block_on(crate::steps::status::doctor(&loaded));
    // Which builder `docker build` uses, and how devenv calls it (images::builder).
    match super::detect_builder(&loaded, true) {
        Ok(Some(b)) => checks.push(Check::ok(
            "docker build",
            if b.build_flags().is_empty() {
                b.describe()
            } else {
                format!(
                    "{} (devenv adds {} so the push finds the image)",
                    b.describe(),
                    b.build_flags().join(" ")
                )
            },
        )),
        Ok(None) => {}
        Err(e) => checks.push(Check::fail("docker build", e.message, e.hint)),
    }
    let mut failed = false;
    for c in &checks {
        let mark = match c.status {
            CheckStatus::Ok => "ok  ",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => {
                failed = true;
                "FAIL"
            }
        };
        printer::answer_line(&format!("{mark}  {:<22} {}", c.name, c.detail));
        if let Some(fix) = &c.fix {
            if c.status != CheckStatus::Ok {
                printer::answer_line(&format!("      fix: {fix}"));
            }
        }
    }
    if failed {
        Exit::Prerequisite
    } else {
        Exit::Success
    }
}
