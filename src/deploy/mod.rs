//! One deploy path for every kind of unit: render → split → inventory → apply → wait → prune.
//!
//! A *unit* is what a team declares to run in the cluster ([`Unit`]): a Kustomize overlay
//! ([`UnitKind::Overlay`]) or a Helm chart ([`UnitKind::Chart`]). Only the render differs
//! between kinds of unit: the plan holds the render commands (`kubectl kustomize` of the
//! overlay's wrapper, see the overlays module; for a chart `helm template`, then the same
//! images wrapper around its output, see the charts module). Everything after it is
//! shared, and lives here (what is pure) and in `steps/workloads/` (what runs commands):
//!
//! 1. **render**: the plan's render command prints YAML; [`RenderedOverlay::from_yaml`]
//!    splits it into documents and hashes the exact bytes, [`RenderedOverlay::save`]
//!    keeps it in `.devenv/rendered/NAME.yaml` (`steps/workloads/unit.rs` `render`, a
//!    chart's `steps/workloads/chart.rs`, both ending in `keep_rendering`).
//! 2. **split**: [`plan_apply`] puts CustomResourceDefinitions first, then Namespaces,
//!    then the rest, and resolves the unit's [`WaitSpec`] to [`WaitTarget`]s
//!    (`stages.rs`).
//! 3. **inventory**: what the unit renders is recorded before anything is applied, so a
//!    failed apply leaves nothing untracked (`crate::tenancy::Inventory`).
//! 4. **apply**: server-side ([`KubeTarget::apply_argv`](crate::kube::KubeTarget::apply_argv)); a refusal devenv can act on
//!    (`refusals.rs`: a field that cannot change in place, a namespace
//!    still terminating) is handled and the apply retried (`steps/workloads/apply.rs`).
//! 5. **wait**: rollouts, Jobs raced against their failure, OnDelete workloads read until
//!    ready (`readiness.rs`); a stuck object is explained
//!    (`explain.rs`) (`steps/workloads/wait.rs`).
//! 6. **prune**: what earlier runs applied and no unit renders any more is deleted
//!    (`steps/workloads/prune.rs`).
//!
//! Helm hooks (objects annotated `helm.sh/hook`, `hooks.rs`) are set apart by the split,
//! kept out of the inventory, and run one at a time in Helm's order: the `pre-install` /
//! `pre-upgrade` ones after the CRDs and Namespaces, before the rest; the `post-*` ones
//! after the waits (`steps/workloads/hooks.rs`). Any kind of unit may carry them.
//!
//! To add a kind of unit (as charts were added): a [`UnitKind`] variant and its
//! constructor from its config table (`unit.rs`), its entries in `config::units` (one name
//! space and one dependency order for every kind), its render step in the plan
//! (`plan/charts.rs` for charts), a step adapter beside `steps/workloads/unit.rs`
//! `overlay` and `chart` (look up the config entry, call the shared `deploy`), and its
//! names in the list `prune` keeps (`steps/workloads/prune.rs`). Split, inventory, apply,
//! waits and prune are not copied.

pub mod diff;
pub mod drift;
mod explain;
mod hooks;
mod kubectl;
mod readiness;
mod refusals;
mod rendered;
mod stages;
mod unit;
mod waits;

pub(crate) use kubectl::timeout_flag;

pub use explain::{explain_not_ready, explain_pods, pods_selector};
pub use hooks::{hooks_for, DeletePolicy, Hook, HookEvent, Phase, Release};
pub use readiness::{
    job_failure, ready_without_rollout, rollout_status_unsupported, updates_on_delete, NotReady,
};
pub use refusals::{parse_immutable_changes, terminating_namespaces, ImmutableChange};
pub use rendered::{Manifest, RenderedOverlay};
pub use stages::{plan_apply, ApplyFiles, ApplyPlan};
pub use unit::{Unit, UnitKind};
pub use waits::{parse_wait_spec, WaitKind, WaitRef, WaitSpec, WaitTarget};

use std::path::PathBuf;

/// What can go wrong between a rendered unit and an apply plan.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(
        "overlay `{overlay}`: document {index} of the rendered output is not valid YAML: {message}"
    )]
    BadDocument {
        overlay: String,
        index: usize,
        message: String,
    },
    #[error("overlay `{overlay}`: document {index} is not a Kubernetes object ({what})")]
    NotAnObject {
        overlay: String,
        index: usize,
        what: String,
    },
    #[error("bad wait spec `{spec}`: {reason}")]
    BadWaitSpec { spec: String, reason: String },
    #[error("overlay `{overlay}`: wait target `{target}` {reason}")]
    UnknownWaitTarget {
        overlay: String,
        target: String,
        reason: String,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Writes `bytes` to `path` so that readers see the old file or the new one, never half
/// of one ([`crate::state::write_atomic`]: temporary file, fsync, rename).
/// Creates the parent directory first (`.devenv/rendered` may not exist yet).
pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<(), DeployError> {
    let wrap = |source| DeployError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(wrap)?;
    }
    crate::state::write_atomic(path, bytes).map_err(wrap)
}

#[cfg(test)]
mod tests;
