//! Readiness beyond `kubectl rollout status` / `kubectl wait`: OnDelete StatefulSets and
//! DaemonSets (read until ready), and why a Job failed.

use serde_json::Value as Json;

use super::waits::{WaitKind, WaitTarget};
use super::RenderedOverlay;

/// Whether the overlay declares this StatefulSet or DaemonSet with `updateStrategy.type:
/// OnDelete`: `kubectl rollout status` refuses those ("rollout status is only available for
/// RollingUpdate strategy type", kubectl pkg/polymorphichelpers/rollout_status.go), so devenv
/// reads their status instead.
pub fn updates_on_delete(rendered: &RenderedOverlay, target: &WaitTarget) -> bool {
    matches!(target.kind, WaitKind::StatefulSet | WaitKind::DaemonSet)
        && rendered.manifests.iter().any(|m| {
            m.kind == target.kind.kind()
                && m.name == target.name
                && m.value
                    .get("spec")
                    .and_then(|s| s.get("updateStrategy"))
                    .and_then(|u| u.get("type"))
                    .and_then(|t| t.as_str())
                    == Some("OnDelete")
        })
}

/// `kubectl rollout status` said this object has no rollout to watch.
pub fn rollout_status_unsupported(output: &str) -> bool {
    output.contains("rollout status is only available for")
}

/// Why a workload is not ready yet (`2 of 3 pods ready`): not an error, a state to wait out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotReady(pub String);

/// Whether a StatefulSet or DaemonSet (`kubectl get … -o json`) is ready without a rolling
/// update: the controller saw the current spec, and as many pods are ready as wanted. With
/// `OnDelete` the pods of an older template stay until someone deletes them; they count (the
/// second value says whether some are of an older revision). [`NotReady`] when not ready
/// yet, with why.
pub fn ready_without_rollout(object_json: &str) -> Result<bool, NotReady> {
    let o: Json =
        serde_json::from_str(object_json).map_err(|e| NotReady(format!("unreadable: {e}")))?;
    let num = |p: &str| o.pointer(p).and_then(Json::as_u64);
    let generation = num("/metadata/generation").unwrap_or(0);
    let observed = num("/status/observedGeneration").unwrap_or(0);
    if observed < generation {
        return Err(NotReady(
            "waiting for the controller to observe the new spec".into(),
        ));
    }
    match o["kind"].as_str() {
        Some("DaemonSet") => {
            let want = num("/status/desiredNumberScheduled").unwrap_or(0);
            let ready = num("/status/numberReady").unwrap_or(0);
            if ready < want {
                return Err(NotReady(format!("{ready} of {want} pods ready")));
            }
            Ok(num("/status/updatedNumberScheduled").unwrap_or(0) < want)
        }
        _ => {
            let want = num("/spec/replicas").unwrap_or(1);
            let ready = num("/status/readyReplicas").unwrap_or(0);
            if ready < want {
                return Err(NotReady(format!("{ready} of {want} replicas ready")));
            }
            let current = o.pointer("/status/currentRevision").and_then(Json::as_str);
            let update = o.pointer("/status/updateRevision").and_then(Json::as_str);
            Ok(current.is_some() && update.is_some() && current != update)
        }
    }
}

/// Why a Job failed, from `kubectl get job … -o json`: `REASON: MESSAGE` of its `Failed`
/// condition (BackoffLimitExceeded, DeadlineExceeded, …).
pub fn job_failure(object_json: &str) -> Option<String> {
    let o: Json = serde_json::from_str(object_json).ok()?;
    let c = o
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Failed" && c["status"] == "True")?;
    let reason = c["reason"].as_str().unwrap_or("Failed");
    Some(match c["message"].as_str() {
        Some(m) if !m.is_empty() => format!("{reason}: {m}"),
        _ => reason.to_string(),
    })
}
