//! `devenv render [NAME…]`: the manifests `up` would apply, without a cluster. Runs the
//! plan's own render steps (`render:NAME`: `kubectl kustomize` of an overlay's wrapper; a
//! chart's `helm pull` on a cache miss, `helm dependency build`, `helm template`, then
//! kustomize) through the same step code as `up`, so the images point at the content tags
//! the plan computed (built or not) and a shared cluster's isolation is applied. No docker,
//! no k3d, no kubectl that reaches a cluster.
//!
//! stdout holds only manifests, in apply order (`config::units::unit_order`): a YAML
//! stream, `---` between documents, `# devenv: overlay NAME` / `# devenv: chart NAME`
//! before each unit's documents (`# devenv: namespaces` first, the generated namespaces
//! file, when no NAME is given), so it pipes into `kubectl apply -f -`. With `-o json`: one
//! document per unit, `{"apiVersion":"v1","kind":"List","metadata":{"name":NAME,
//! "annotations":{"devenv.dev/unit":KIND}},"items":[…]}` (KIND: `overlay`, `chart` or
//! `namespaces`). Progress goes to stderr.

use std::time::Instant;

use super::printer;
use super::session::{self, new_ctx, open_offline_session, runtime, select};
use crate::cli::{GlobalArgs, OutputFormat, RenderArgs};
use crate::deploy::{Manifest, RenderedOverlay};
use crate::engine::{Ctx, RunOptions, StepOutcome};
use crate::exit::Exit;
use crate::plan::{unit_order, UnitRef};
use crate::state::Journal;

/// The annotation of a `-o json` List that says which kind of unit it holds.
const UNIT_ANNOTATION: &str = "devenv.dev/unit";

/// One unit's rendering as printed: its kind (`overlay`, `chart`, `namespaces`), its name,
/// its documents.
pub(super) struct Section {
    pub kind: &'static str,
    pub name: String,
    pub manifests: Vec<Manifest>,
}

pub fn run(g: &GlobalArgs, args: &RenderArgs) -> Exit {
    let s = match open_offline_session(g) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let order = units_in_order(&s.loaded.config);
    let known: Vec<String> = order.iter().map(|(_, n)| n.clone()).collect();
    let wanted = match select("unit", &known, &args.names, &s.loaded) {
        Ok(w) => w,
        Err(e) => return e,
    };
    let mut sections = Vec::new();
    // `up` applies the namespaces file before any unit; a selection is about units only.
    if args.names.is_empty() {
        if let Some(ns) = namespaces_section(&s.plan) {
            match ns {
                Ok(ns) => sections.push(ns),
                Err(e) => {
                    s.reporter.error(&e, None);
                    return Exit::StepFailed;
                }
            }
        }
    }
    let units: Vec<(&'static str, String)> = order
        .into_iter()
        .filter(|(_, n)| wanted.contains(n))
        .collect();
    match render_units(s, &units, async |_, sections| Ok(sections)) {
        Ok(rendered) => sections.extend(rendered),
        Err(exit) => return exit,
    }
    match g.output {
        OutputFormat::Text => printer::answer(&yaml_stream(&sections)),
        OutputFormat::Json => {
            for section in &sections {
                match list_of(section) {
                    Ok(list) => printer::json(&list),
                    Err(e) => {
                        printer::error(&crate::hint::Hinted::new(e));
                        return Exit::StepFailed;
                    }
                }
            }
        }
    }
    Exit::Success
}

/// Every unit, in apply order: (`overlay` or `chart`, its name).
pub(super) fn units_in_order(cfg: &crate::config::Config) -> Vec<(&'static str, String)> {
    unit_order(cfg)
        .into_iter()
        .map(|u| {
            let kind = match u {
                UnitRef::Overlay(_) => "overlay",
                UnitRef::Chart(_) => "chart",
            };
            (kind, u.name(cfg).to_string())
        })
        .collect()
}

/// The generated namespaces file (`.devenv/namespaces.yaml`), when the config declares
/// namespaces.
pub(super) fn namespaces_section(plan: &crate::plan::Plan) -> Option<Result<Section, String>> {
    plan.step("namespaces")?;
    let file = plan
        .generated
        .iter()
        .find(|f| f.path == ".devenv/namespaces.yaml")?;
    Some(
        RenderedOverlay::from_yaml("namespaces", &file.content)
            .map(|r| Section {
                kind: "namespaces",
                name: "namespaces".into(),
                manifests: r.manifests,
            })
            .map_err(|e| e.to_string()),
    )
}

/// Runs the render step of each unit, in order, as `up` runs it, then `then` on the
/// renderings it kept, with the same context (its runner, its inventories).
pub(super) fn render_units<T>(
    s: session::Session,
    units: &[(&'static str, String)],
    then: impl AsyncFnOnce(&Ctx, Vec<Section>) -> Result<T, Exit>,
) -> Result<T, Exit> {
    let state_dir = crate::render::state_dir(&s.loaded.root);
    // Read only: render steps record nothing in the journal, and this command saves none.
    let journal = Journal::load(&state_dir).map_err(|e| {
        s.reporter.error(&e.to_string(), None);
        Exit::StepFailed
    })?;
    let inventory = Ctx::load_inventory(&s.loaded, &s.plan.kube.context).map_err(|e| {
        s.reporter.error(&e.render(), None);
        Exit::StepFailed
    })?;
    let rt = runtime();
    rt.block_on(async move {
        let runner = session::signal_aware_runner(&s, &state_dir);
        let opts = RunOptions {
            command: session::command_line(),
            ..Default::default()
        };
        let (ctx, _lock) = new_ctx(s, journal, inventory, runner, opts);
        let mut sections = Vec::new();
        for (kind, name) in units {
            let id = format!("render:{name}");
            let step = ctx
                .plan
                .step(&id)
                .expect("the plan has a render step for every unit")
                .clone();
            ctx.reporter.step_started(&step.id, &step.title);
            let started = Instant::now();
            let result = crate::steps::run(&ctx, &step).await;
            let outcome = match &result {
                Ok(_) => StepOutcome::Done,
                Err(e) if e.is_interrupted() => StepOutcome::Interrupted,
                Err(e) => StepOutcome::Failed {
                    message: e.message.clone(),
                    help: e.hint.clone(),
                },
            };
            ctx.reporter
                .step_finished_at(&step.id, &outcome, started.elapsed(), None);
            if let Err(e) = result {
                return Err(e.exit);
            }
            let rendered = ctx.renders.lock().unwrap().remove(name.as_str());
            let rendered = rendered.expect("a render step keeps its rendering");
            sections.push(Section {
                kind,
                name: name.clone(),
                manifests: rendered.manifests,
            });
        }
        then(&ctx, sections).await
    })
}

/// One YAML stream: `---` between documents, the unit's comment line before its first.
fn yaml_stream(sections: &[Section]) -> String {
    let mut out = String::new();
    for section in sections {
        if !out.is_empty() {
            out.push_str("---\n");
        }
        out.push_str(&comment_line(section));
        for (i, m) in section.manifests.iter().enumerate() {
            if i > 0 {
                out.push_str("---\n");
            }
            out.push_str(&m.raw);
        }
    }
    out
}

fn comment_line(section: &Section) -> String {
    if section.kind == "namespaces" {
        "# devenv: namespaces\n".into()
    } else {
        format!("# devenv: {} {}\n", section.kind, section.name)
    }
}

/// A unit as one `v1` List (what `kubectl get -o json` prints for many objects).
fn list_of(section: &Section) -> Result<serde_json::Value, String> {
    let items = section
        .manifests
        .iter()
        .map(|m| {
            serde_json::to_value(&m.value).map_err(|e| {
                format!(
                    "{} {}: {} is not representable as JSON: {e}",
                    section.kind,
                    section.name,
                    m.display_name()
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(serde_json::json!({
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {
            "name": section.name,
            "annotations": { UNIT_ANNOTATION: section.kind },
        },
        "items": items,
    }))
}
