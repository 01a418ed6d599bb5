//! The render step of a chart: the pulled archive (once, then from devenv's cache), the
//! dependencies of a local chart, `helm template`, the release namespace, then the same
//! images wrapper and the same keeping of the rendering as an overlay.

use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::unit::{chart_config, keep_rendering};
use crate::charts::{self, ChartLock};
use crate::deploy::UnitKind;
use crate::engine::{Ctx, Done, StepError};
use crate::plan::step::RenderChart;
use crate::plan::Step;

/// Render steps run in parallel; the digest lock is one file.
static LOCK_FILE: Mutex<()> = Mutex::new(());

pub async fn render_chart(ctx: &Ctx, step: &Step, r: &RenderChart) -> Result<Done, StepError> {
    let name = r.name.as_str();
    if let (Some(pull), Some(archive)) = (&r.pull, &r.archive) {
        // A cache miss only: the next `up` renders offline.
        if !archive.is_file() {
            if let Some(dir) = archive.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StepError::new(format!("cannot create {}: {e}", dir.display())))?;
            }
            ctx.run(step, pull).await?;
            if !archive.is_file() {
                return Err(StepError::new(format!(
                    "chart {name}: `helm pull` did not leave {} (is the chart's own name `{}`?)",
                    archive.display(),
                    archive.file_name().unwrap_or_default().to_string_lossy()
                )));
            }
        }
        check_digest(ctx, r, archive)?;
    }
    if let Some(build) = &r.dependency_build {
        let dir = ctx.root.join(&chart_config(ctx, name)?.chart);
        if charts::needs_dependency_build(&dir) {
            ctx.run(step, build).await?;
        }
    }
    let out = ctx.run(step, &r.template).await?;
    let helm_output = String::from_utf8_lossy(&out.stdout).into_owned();
    let yaml = charts::in_release_namespace(name, &helm_output, &r.namespace, r.create_namespace)
        .map_err(|e| StepError::new(format!("chart {name}: {e}")))?;
    let saved = ctx
        .root
        .join(charts::state_dir(name))
        .join(charts::HELM_OUTPUT);
    // Unchanged output (the no-op `up`): nothing more to run. Changed: is it the inputs,
    // or a chart that renders differently every time?
    if std::fs::read_to_string(&saved).ok().as_deref() != Some(yaml.as_str()) {
        let again = ctx.run(step, &r.template).await?;
        let unstable =
            charts::unstable_templates(&helm_output, &String::from_utf8_lossy(&again.stdout));
        if !unstable.is_empty() {
            ctx.reporter.warn(&format!(
                "chart {name} renders differently every time (random values from {}): each \
                 `up` re-applies it and changes them. Set those values in a values file or \
                 `set` (e.g. a password) so the environment is reproducible",
                unstable.join(", ")
            ));
        }
    }
    crate::deploy::write_atomic(&saved, yaml.as_bytes())
        .map_err(|e| StepError::new(e.to_string()))?;
    let out = ctx.run(step, &r.render).await?;
    keep_rendering(
        ctx,
        UnitKind::Chart,
        name,
        &String::from_utf8_lossy(&out.stdout),
    )
}

/// Records the archive's sha256; a different one recorded for the same chart and version
/// is reported (the chart was re-published, or the cache changed under devenv).
fn check_digest(ctx: &Ctx, r: &RenderChart, archive: &std::path::Path) -> Result<(), StepError> {
    let bytes = std::fs::read(archive)
        .map_err(|e| StepError::new(format!("cannot read {}: {e}", archive.display())))?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let config = chart_config(ctx, &r.name)?;
    let key = charts::ChartSource::of(config).lock_key();
    let _guard = LOCK_FILE.lock().unwrap();
    let state = ctx.state_dir();
    let mut lock = ChartLock::load(&state);
    if let Some(change) = lock.record(&key, &sha) {
        ctx.reporter.warn(&format!(
            "chart {}: {} changed at the same version: sha256 was {}, is now {} (re-published? \
             delete {} to pull it again)",
            r.name,
            change.chart,
            change.was,
            change.now,
            archive.display()
        ));
    }
    lock.save(&state)
        .map_err(|e| StepError::new(format!("cannot save {}: {e}", charts::LOCK_FILE)))
}
