//! `devenv build [IMAGE…]`: build and push images (all, or those named), without the cluster.

use super::session::{command_line, interactive, open_session_for, run_steps, select};
use crate::cli::{BuildArgs, GlobalArgs};
use crate::engine::RunOptions;
use crate::exit::Exit;

pub fn run(g: &GlobalArgs, args: &BuildArgs) -> Exit {
    let s = match open_session_for(g, false, false) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let known: Vec<String> = s
        .loaded
        .config
        .images
        .iter()
        .map(|i| i.name.clone())
        .collect();
    let wanted = match select("image", &known, &args.names, &s.loaded) {
        Ok(w) => w,
        Err(e) => return e,
    };
    let targets: Vec<String> = wanted.iter().map(|n| format!("image:{n}")).collect();
    let ids = s.plan.closure(&targets);
    let opts = RunOptions {
        interactive: interactive(&s.loaded),
        command: command_line(),
        ..Default::default()
    };
    run_steps(g, s, ids, opts, &[])
}
