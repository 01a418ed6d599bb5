//! Calico with the Tigera operator: CRDs (server-side apply, then Established), the operator,
//! the `Installation` (pool = cluster CIDR), then TigeraStatus Available and every node Ready.
//! Every wait is bounded; a timeout says which component is not ready and why.

use serde_json::Value;

use crate::engine::{Ctx, Done, StepError};
use crate::plan::{step::CalicoReady, Step, CALICO_DIR};
use crate::runner::Cmd;

/// Put the manifests of the configured version under `.devenv/calico/` (from the cache, a
/// download checked against its sha256, or `calico.manifests`).
async fn prepare_manifests(ctx: &Ctx) -> Result<(), StepError> {
    let cfg = &ctx.loaded.config.calico;
    let source = crate::calico::ManifestSource::from_config(
        &cfg.version,
        cfg.manifests.as_ref().map(|m| ctx.loaded.resolve(m)),
        &cfg.sha256,
    );
    let cache_root =
        crate::cache::default_cache_root().unwrap_or_else(|| ctx.state_dir().join("cache"));
    let client = crate::http::http_client()
        .map_err(|e| StepError::new(format!("cannot create an HTTP client: {e}")))?;
    let manifests = crate::calico::ensure_manifests(&source, &cache_root, &client)
        .await
        .map_err(|e| StepError::new(format!("cannot get the Calico {} manifests: {e}", cfg.version)).hint("set calico.manifests to a folder holding operator-crds.yaml and tigera-operator.yaml for offline use"))?;
    let dir = ctx.root.join(CALICO_DIR);
    std::fs::create_dir_all(&dir)
        .map_err(|e| StepError::new(format!("cannot create {}: {e}", dir.display())))?;
    let copy = |from: &std::path::Path, to: &str| -> Result<(), StepError> {
        let bytes = std::fs::read(from)
            .map_err(|e| StepError::new(format!("cannot read {}: {e}", from.display())))?;
        crate::state::write_atomic(&dir.join(to), &bytes)
            .map_err(|e| StepError::new(format!("cannot write {}: {e}", dir.join(to).display())))
    };
    copy(&manifests.operator, "tigera-operator.yaml")?;
    // Before Calico 3.30 the CRDs ship inside tigera-operator.yaml: apply that bundle first.
    copy(
        manifests.crds.as_deref().unwrap_or(&manifests.operator),
        "operator-crds.yaml",
    )?;
    Ok(())
}

/// The CRDs: applied, then waited for until Established.
pub async fn crds(ctx: &Ctx, step: &Step, cmds: &[&Cmd]) -> Result<Done, StepError> {
    if ctx.was_done(step) {
        return Ok(Done::Unchanged("installed".into()));
    }
    prepare_manifests(ctx).await?;
    for cmd in cmds {
        ctx.run(step, cmd).await?;
    }
    Ok(Done::Changed(None))
}

/// The operator and the Installation: applied once per fingerprint; `calico-ready` checks health.
pub async fn apply_once(ctx: &Ctx, step: &Step, cmds: &[&Cmd]) -> Result<Done, StepError> {
    if ctx.was_done(step) {
        return Ok(Done::Unchanged("applied".into()));
    }
    if !ctx
        .root
        .join(CALICO_DIR)
        .join("tigera-operator.yaml")
        .is_file()
    {
        prepare_manifests(ctx).await?;
    }
    for cmd in cmds {
        ctx.run(step, cmd).await?;
    }
    Ok(Done::Changed(None))
}

/// Why Calico is not Available, from its TigeraStatus.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAvailable {
    #[error("Calico is not Available yet")]
    NoReason,
    /// The messages of its Degraded and Progressing conditions.
    #[error("Calico is not Available: {0}")]
    Because(String),
}

/// Is `tigerastatus/calico` Available (from `kubectl get tigerastatus calico -o json`)?
pub fn tigerastatus_available(v: &Value) -> Result<(), NotAvailable> {
    let conds = v
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let find = |t: &str| {
        conds
            .iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(t))
    };
    match find("Available") {
        Some(c) if c.get("status").and_then(Value::as_str) == Some("True") => Ok(()),
        _ => {
            let why = ["Degraded", "Progressing"]
                .iter()
                .filter_map(|t| find(t))
                .filter(|c| c.get("status").and_then(Value::as_str) == Some("True"))
                .filter_map(|c| c.get("message").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("; ");
            Err(if why.is_empty() {
                NotAvailable::NoReason
            } else {
                NotAvailable::Because(why)
            })
        }
    }
}

/// Nodes that are not Ready (from `kubectl get nodes -o json`), with the kubelet's reason.
pub fn unready_nodes(v: &Value) -> Vec<String> {
    v.get("items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|n| {
                    let name = n
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("?");
                    let ready = n
                        .pointer("/status/conditions")
                        .and_then(Value::as_array)
                        .and_then(|cs| {
                            cs.iter()
                                .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
                        });
                    match ready {
                        Some(c) if c.get("status").and_then(Value::as_str) == Some("True") => None,
                        Some(c) => Some(format!(
                            "{name}: {}",
                            c.get("message")
                                .and_then(Value::as_str)
                                .unwrap_or("not Ready")
                        )),
                        None => Some(format!("{name}: no Ready condition yet")),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

pub async fn ready(ctx: &Ctx, step: &Step, waits: &CalicoReady) -> Result<Done, StepError> {
    if ctx.was_done(step) {
        // A healthy environment answers two reads; anything else falls through to the waits.
        let status = ctx.run(step, &waits.read_status).await;
        if let Ok(out) = status {
            if let Ok(v) = serde_json::from_slice::<Value>(&out.stdout) {
                if tigerastatus_available(&v).is_ok() {
                    let nodes = ctx.run(step, &waits.read_nodes).await?;
                    let v = super::cluster::parse_json(
                        &step.id,
                        "kubectl get nodes -o json",
                        &nodes.stdout,
                    )?;
                    if unready_nodes(&v).is_empty() {
                        return Ok(Done::Unchanged("Calico Available, every node Ready".into()));
                    }
                }
            }
        } else if let Err(e) = status {
            if e.is_interrupted() {
                return Err(e);
            }
        }
    }
    for cmd in waits.waits() {
        if let Err(e) = ctx.run(step, cmd).await {
            if e.is_interrupted() {
                return Err(e);
            }
            return Err(explain_not_ready(ctx, step, waits, e).await);
        }
    }
    Ok(Done::Changed(None))
}

/// On a timeout, say which component is not ready and why (TigeraStatus, nodes).
async fn explain_not_ready(ctx: &Ctx, step: &Step, reads: &CalicoReady, e: StepError) -> StepError {
    let mut why = Vec::new();
    if let Ok(out) = ctx.run(step, &reads.explain_status).await {
        if let Ok(v) = serde_json::from_slice::<Value>(&out.stdout) {
            if let Err(m) = tigerastatus_available(&v) {
                why.push(m.to_string());
            }
        }
    }
    if let Ok(out) = ctx.run(step, &reads.explain_nodes).await {
        if let Ok(v) = serde_json::from_slice::<Value>(&out.stdout) {
            for n in unready_nodes(&v) {
                why.push(format!("node {n}"));
            }
        }
    }
    if why.is_empty() {
        return e;
    }
    StepError {
        message: format!("{}\nnot ready:\n  {}", e.message, why.join("\n  ")),
        hint: e.hint.or_else(|| Some("look at `kubectl -n calico-system get pods` and `kubectl get tigerastatus` in the cluster; a larger calico.timeout helps on slow machines".into())),
        exit: e.exit,
    }
}
