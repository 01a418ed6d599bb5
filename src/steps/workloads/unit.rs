//! The two steps of a unit: `render:NAME` (render, keep the rendering and its inventory)
//! and `overlay:NAME` / `chart:NAME` (split → inventory → apply → wait). Nothing after the
//! render depends on how the unit was rendered (a chart's render is `chart.rs`).

use std::time::Duration;

use super::{apply, check_namespaces_are_ours, hooks, wait, StepKubectl};
use crate::config::schema::{Chart, Overlay};
use crate::deploy::{
    self, ApplyPlan, DeployError, Phase, RenderedOverlay, Unit, UnitKind, WaitSpec,
};
use crate::engine::UnitRecord;
use crate::engine::{Ctx, Done, StepError};
use crate::plan::Step;

/// The `[[overlays]]` entry `name` of devenv.toml.
fn overlay_config<'a>(ctx: &'a Ctx, name: &str) -> Result<&'a Overlay, StepError> {
    ctx.loaded
        .config
        .overlays
        .iter()
        .find(|o| o.name == name)
        .ok_or_else(|| StepError::new(format!("unknown overlay {name}")))
}

/// The `[[charts]]` entry `name` of devenv.toml.
pub(super) fn chart_config<'a>(ctx: &'a Ctx, name: &str) -> Result<&'a Chart, StepError> {
    ctx.loaded
        .config
        .charts
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| StepError::new(format!("unknown chart {name}")))
}

/// Render an overlay (Kustomize through its wrapper, images pointing at the pushed tags)
/// and keep it for the apply step. Changes nothing outside `.devenv/`, so it runs at the
/// start of `up`, while the cluster boots.
pub async fn render(
    ctx: &Ctx,
    step: &Step,
    overlay: &crate::plan::step::Render,
) -> Result<Done, StepError> {
    let out = ctx.run(step, &overlay.render).await?;
    keep_rendering(
        ctx,
        UnitKind::Overlay,
        &overlay.name,
        &String::from_utf8_lossy(&out.stdout),
    )
}

/// The last stage of every unit's render, whatever made `yaml`: isolate it on a shared
/// cluster, split and hash it, keep it (`.devenv/rendered/`) and its inventory for the
/// apply step.
pub(super) fn keep_rendering(
    ctx: &Ctx,
    kind: UnitKind,
    name: &str,
    yaml: &str,
) -> Result<Done, StepError> {
    let unit = format!("{} {name}", kind.noun());
    let mut yaml = yaml.to_string();
    // A shared cluster: the owner's namespaces, every object labelled with project and owner.
    if let Some(iso) = &ctx.isolation {
        yaml = iso
            .isolate(name, &yaml)
            .map_err(|e| StepError::new(format!("{unit}: {}", e.hinted().render())))?;
    }
    let rendered =
        RenderedOverlay::from_yaml(name, &yaml).map_err(|e| StepError::new(e.to_string()))?;
    let inventory = match &ctx.isolation {
        Some(iso) => iso.inventory(&yaml),
        None => crate::tenancy::Inventory::from_rendered(&yaml, "default"),
    }
    .map_err(|e| StepError::new(format!("{unit}: {e}")))?;
    rendered
        .save(&ctx.state_dir().join("rendered"))
        .map_err(|e| StepError::new(e.to_string()))?;
    let summary = format!(
        "{} objects, sha256 {}",
        rendered.manifests.len(),
        &rendered.sha256[..12.min(rendered.sha256.len())]
    );
    ctx.rendered
        .lock()
        .unwrap()
        .insert(name.to_string(), inventory);
    ctx.renders
        .lock()
        .unwrap()
        .insert(name.to_string(), rendered);
    Ok(Done::Observed(summary))
}

/// Apply a rendered overlay and wait until it is ready.
pub async fn overlay(ctx: &Ctx, step: &Step, name: &str) -> Result<Done, StepError> {
    let config = overlay_config(ctx, name)?;
    deploy(ctx, step, UnitKind::Overlay, name, || Unit::overlay(config)).await
}

/// Apply a rendered chart and wait until it is ready: the same path as an overlay.
pub async fn chart(ctx: &Ctx, step: &Step, name: &str) -> Result<Done, StepError> {
    let config = chart_config(ctx, name)?;
    deploy(ctx, step, UnitKind::Chart, name, || Unit::chart(config)).await
}

/// The deploy path of the unit `name` after its render. `unit` reads its waits and timeout
/// from the config, only when there is something to apply (an unchanged unit is done
/// before).
async fn deploy(
    ctx: &Ctx,
    step: &Step,
    kind: UnitKind,
    name: &str,
    unit: impl FnOnce() -> Result<Unit, DeployError>,
) -> Result<Done, StepError> {
    // 1. The render step's output (it ran earlier, in parallel with the cluster).
    let rendered = ctx
        .renders
        .lock()
        .unwrap()
        .get(name)
        .cloned()
        .ok_or_else(|| {
            StepError::new(format!(
                "{} {name} was not rendered in this run",
                kind.noun()
            ))
        })?;
    let inventory = ctx
        .rendered
        .lock()
        .unwrap()
        .get(name)
        .cloned()
        .unwrap_or_default();
    // Helm hooks run around the unit's objects, they are not among them (hooks.rs).
    let inventory = hooks::set_apart(ctx, name, &rendered, inventory)?;

    // 2. Unchanged manifests, already applied and ready: nothing to do.
    let previous = ctx
        .detail(&step.id)
        .and_then(|d| d.get("sha256").and_then(|s| s.as_str().map(str::to_string)));
    if !ctx.opts.reapply.contains(&step.id)
        && ctx.was_done(step)
        && previous.as_deref() == Some(rendered.sha256.as_str())
    {
        record_summary(ctx, kind, name, &rendered);
        return Ok(Done::Unchanged("rendered manifests unchanged".into()));
    }

    // 3. Split: CRDs first (Established), then everything else, then the waits.
    let unit = unit().map_err(|e| StepError::new(e.to_string()))?;
    let plan = split(ctx, &unit, &rendered)?;
    if ctx.isolation.is_some() {
        check_namespaces_are_ours(ctx, step, &inventory).await?;
    }
    // 4. Inventory. What devenv applied before this run: the objects it may delete and
    // create again when a change touches a field that cannot change in place.
    let applied_before = ctx.inventory.lock().unwrap().0.all();
    // Record before applying: a failed apply leaves nothing untracked for `down`.
    {
        let mut inv = ctx.inventory.lock().unwrap();
        inv.0.record_applying(name, &inventory);
        inv.0
            .save(&inv.1)
            .map_err(|e| StepError::new(format!("cannot save {}: {e}", inv.1.display())))?;
    }
    // 5. Apply, stage by stage.
    let dir = ctx.state_dir().join("rendered");
    let files = plan
        .save(&dir, name)
        .map_err(|e| StepError::new(e.to_string()))?;
    let kube = StepKubectl::new(ctx, &step.id);
    if let Some(crds) = &files.crds {
        apply_crds(&kube, &unit, crds, &plan.crd_names).await?;
    }
    let release = hooks::release(ctx, step);
    hooks::run(&kube, &unit, &plan, release, Phase::Pre, &dir).await?;
    if let Some(rest) = &files.rest {
        let owned = apply::Owned {
            rendered: &inventory,
            applied_before: &applied_before,
        };
        apply::apply_rest(&kube, &unit, rest, &owned).await?;
    }
    // 6. Wait.
    wait::wait_all(&kube, &unit, &rendered, &plan.waits).await?;
    hooks::run(&kube, &unit, &plan, release, Phase::Post, &dir).await?;
    record_summary(ctx, kind, name, &rendered);
    Ok(Done::Changed(Some(
        serde_json::json!({ "sha256": rendered.sha256, "objects": rendered.manifests.len() }),
    )))
}

/// The unit's stages, with its waits in the namespaces they actually live in (on a shared
/// cluster, the owner's).
fn split(ctx: &Ctx, unit: &Unit, rendered: &RenderedOverlay) -> Result<ApplyPlan, StepError> {
    let mut spec = unit.wait.clone();
    let default_ns = match &ctx.isolation {
        Some(iso) => {
            if let WaitSpec::Only(refs) = &mut spec {
                for r in refs.iter_mut() {
                    r.namespace = r.namespace.as_deref().map(|ns| iso.mapping.map(ns));
                }
            }
            iso.mapping.map(&iso.default_namespace)
        }
        None => "default".to_string(),
    };
    deploy::plan_apply(rendered, &default_ns, &spec).map_err(|e| StepError::new(e.to_string()))
}

/// The CRD stage: applied, then Established before anything that may use them.
async fn apply_crds(
    kube: &StepKubectl<'_>,
    unit: &Unit,
    file: &std::path::Path,
    names: &[String],
) -> Result<(), StepError> {
    kube.run(
        kube.k.apply_argv(file),
        Duration::from_secs(300),
        &format!("apply the CRDs of {unit}"),
    )
    .await?;
    kube.run(
        kube.k.wait_crds_argv(names, unit.timeout),
        unit.timeout + Duration::from_secs(30),
        &format!("wait for the CRDs of {unit} to be Established"),
    )
    .await?;
    Ok(())
}

/// What `up` prints about the unit at the end.
fn record_summary(ctx: &Ctx, kind: UnitKind, name: &str, rendered: &RenderedOverlay) {
    ctx.summary.lock().unwrap().units.push(UnitRecord {
        kind,
        name: name.into(),
        objects: rendered.manifests.len(),
        hash: rendered.sha256.clone(),
    });
}
