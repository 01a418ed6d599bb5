//! `devenv plan`: the steps `up` would run with their exact commands. Runs no external program,
//! creates, pushes and applies nothing; writes the generated files so they can be read.
//! The plan (text or `-o json`) is the command's answer: stdout.

use super::printer;
use crate::cli::{GlobalArgs, OutputFormat};
use crate::exit::Exit;

pub fn run(g: &GlobalArgs) -> Exit {
    let loaded = match super::load_config(g) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let (plan, _) = match super::prepare_plan(&loaded, false) {
        Ok(p) => p,
        Err(e) => return e,
    };
    match g.output {
        OutputFormat::Json => printer::json(&plan.to_json()),
        OutputFormat::Text => printer::answer(&plan.to_text()),
    }
    Exit::Success
}
