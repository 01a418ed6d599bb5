//! `devenv status`: what runs now, one row per component (registry, cluster, Calico,
//! images, overlays, …), observed by `steps::status`; exit 4 when something is unhealthy.
//! The table (or the `-o json` document) is the command's answer: stdout.

use serde_json::json;

use super::printer;
use super::run_json::RESULT_JSON_VERSION;
use super::session::{observe_state_dir, runtime};
use crate::cli::{GlobalArgs, OutputFormat};
use crate::exit::Exit;
use crate::render::Names;
use crate::state::Journal;
use crate::steps::status::Component;

pub fn run(g: &GlobalArgs) -> Exit {
    let loaded = match super::load_config(g) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let names = Names::new(&loaded);
    // status writes its logs under .devenv/: never without the .gitignore.
    if let Err(exit) = observe_state_dir(&loaded) {
        return exit;
    }
    let journal = Journal::load(&crate::render::state_dir(&loaded.root));
    let rt = runtime();
    let components = rt.block_on(crate::steps::status::observe(
        &loaded,
        &names,
        journal.as_ref().map(Some).map_err(|e| e.to_string()),
    ));
    let plan = crate::plan::Plan::build(&loaded);
    let healthy = components.iter().all(|c| c.healthy);
    if g.output == OutputFormat::Json {
        printer::json(&json!({
            "version": RESULT_JSON_VERSION,
            "project": names.project,
            "healthy": healthy,
            // What devenv reads and pushes to: the existing cluster's context, the external registry.
            "context": plan.kube.context,
            "registry": { "host": plan.registry.push, "pull": plan.registry.pull },
            "components": components.iter().map(component_json).collect::<Vec<_>>(),
        }));
    } else {
        for line in table(&components) {
            printer::answer_line(&line);
        }
    }
    if healthy {
        Exit::Success
    } else {
        Exit::Unhealthy
    }
}

/// A row of `-o json`; an overlay or chart read live also carries its objects `present`,
/// `missing` and its `drift` (`{kind, namespace, name, path, live, applied}`).
fn component_json(c: &Component) -> serde_json::Value {
    let mut v = json!({ "component": c.component, "name": c.name, "healthy": c.healthy, "detail": c.detail });
    if let Some(live) = &c.live {
        v["present"] = json!(live.present);
        v["missing"] = json!(live.missing);
        v["drift"] = json!(live.drift);
    }
    v
}

/// `COMPONENT  NAME  HEALTH  DETAIL`, then a row per component, columns padded to fit.
fn table(components: &[Component]) -> Vec<String> {
    let w = components
        .iter()
        .map(|c| c.component.len())
        .max()
        .unwrap_or(9)
        .max(9);
    let n = components
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut lines = vec![format!(
        "{:<w$}  {:<n$}  {:<9}  DETAIL",
        "COMPONENT", "NAME", "HEALTH"
    )];
    for c in components {
        lines.push(format!(
            "{:<w$}  {:<n$}  {:<9}  {}",
            c.component,
            c.name,
            if c.healthy { "ok" } else { "UNHEALTHY" },
            c.detail
        ));
        // Each drifted field on a line of its own under its unit.
        for d in c.live.iter().flat_map(|l| &l.drift) {
            lines.push(format!("  drift: {d}"));
        }
    }
    lines
}
