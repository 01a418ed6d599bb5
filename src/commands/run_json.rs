//! The `--output json` document of a run (`up`, `build`, `apply`, `verify`; `status` has
//! its own), printed on stdout for scripts.

use serde_json::{json, Value};

use crate::engine::Ctx;
use crate::exit::Exit;

/// Version of the `--output json` shape of `up` and `status`.
pub const RESULT_JSON_VERSION: u32 = 1;

/// The kubeconfig that goes with `context`: devenv's own for k3d; on an existing cluster the
/// user's, as a KUBECONFIG value (devenv writes none there).
fn kubeconfig_for_json(ctx: &Ctx) -> String {
    if let Some(devenvs) = ctx.plan.kube.clone().under(&ctx.root).kubeconfig {
        return devenvs;
    }
    std::env::join_paths(crate::kubeconfig::default_kubeconfig_paths())
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The `--output json` document of a run.
pub(super) fn result_json(ctx: &Ctx, exit: Exit) -> Value {
    let summary = ctx.summary.lock().unwrap().clone();
    let steps: Vec<Value> = summary
        .steps
        .iter()
        .map(|s| {
            let (status, detail) = match &s.outcome {
                crate::engine::StepOutcome::Done => ("done", Value::Null),
                crate::engine::StepOutcome::Skipped { reason } => ("unchanged", json!(reason)),
                crate::engine::StepOutcome::Failed { message, help } => (
                    "failed",
                    json!(crate::hint::Hinted {
                        message: message.clone(),
                        help: help.clone()
                    }
                    .render()),
                ),
                crate::engine::StepOutcome::Interrupted => ("interrupted", Value::Null),
            };
            json!({ "id": s.id, "title": s.title, "status": status, "detail": detail, "duration_ms": s.duration.as_millis() as u64 })
        })
        .collect();
    let images: Vec<Value> = summary
        .images
        .iter()
        .map(|i| json!({ "name": i.name, "reference": i.reference, "action": match i.action { crate::engine::ImageAction::Built => "built", crate::engine::ImageAction::Reused => "reused" } }))
        .collect();
    // One list per kind of unit: `overlays` as before, `charts` beside it.
    let units = |kind: crate::deploy::UnitKind| -> Vec<Value> {
        summary
            .units
            .iter()
            .filter(|u| u.kind == kind)
            .map(|u| json!({ "name": u.name, "objects": u.objects, "sha256": u.hash }))
            .collect()
    };
    json!({
        "version": RESULT_JSON_VERSION,
        "command": summary.command,
        "project": ctx.names.project,
        "result": match exit { Exit::Success => "success", Exit::Interrupted => "interrupted", _ => "failed" },
        "exit_code": exit.code(),
        "context": ctx.plan.kube.context,
        "kubeconfig": kubeconfig_for_json(ctx),
        "registry": { "host": ctx.plan.registry.push, "pull": ctx.plan.registry.pull },
        "steps": steps,
        "images": images,
        "overlays": units(crate::deploy::UnitKind::Overlay),
        "charts": units(crate::deploy::UnitKind::Chart),
        "duration_ms": summary.total.as_millis() as u64,
        "logs": ctx.runner.log_dir(),
    })
}
