//! `devenv apply [UNIT…]`: apply overlays and charts (all, or those named) with what they
//! need, then prune.

use super::session::{command_line, interactive, open_session, run_steps, select};
use crate::cli::{ApplyArgs, GlobalArgs};
use crate::engine::RunOptions;
use crate::exit::Exit;

pub fn run(g: &GlobalArgs, args: &ApplyArgs) -> Exit {
    let s = match open_session(g, false) {
        Ok(s) => s,
        Err(e) => return e,
    };
    // Overlays and charts share one name space.
    let cfg = &s.loaded.config;
    let known: Vec<String> = (cfg.overlays.iter().map(|o| o.name.clone()))
        .chain(cfg.charts.iter().map(|c| c.name.clone()))
        .collect();
    let wanted = match select("overlay", &known, &args.names, &s.loaded) {
        Ok(w) => w,
        Err(e) => return e,
    };
    let targets: Vec<String> = wanted
        .iter()
        .map(|n| crate::plan::unit_step_id(cfg, n))
        .collect();
    let mut ids = s.plan.closure(&targets);
    // Objects removed from these overlays go too; the overlays not applied keep theirs (prune
    // runs after the selected ones: needs outside the selection count as met).
    if s.plan.step("prune").is_some() {
        ids.push("prune".into());
    }
    let opts = RunOptions {
        interactive: interactive(&s.loaded),
        command: command_line(),
        // Asked for by name: applied even when unchanged, so a hand edit is put back.
        reapply: targets,
        ..Default::default()
    };
    run_steps(g, s, ids, opts, &[])
}
