//! Kustomize overlays: from the team's overlay to objects applied in a safe order.
//!
//! The pipeline for one overlay `NAME` (every step is pure or writes only under `.devenv/`;
//! the commands are built here and run by the engine through [`crate::runner`]):
//!
//! 1. [`wrapper_kustomization`] writes `.devenv/overlays/NAME/kustomization.yaml`, a
//!    Kustomization whose only resource is the team's overlay (by a *relative* path:
//!    Kustomize refuses absolute ones) and whose `images:` transformer points every
//!    image devenv built at the local registry. The team's files are never touched.
//! 2. [`render_argv`] renders the wrapper (`kubectl kustomize DIR`);
//!    [`RenderedOverlay::from_yaml`] splits the output into documents, hashes the exact
//!    bytes and [`RenderedOverlay::save`] keeps them in `.devenv/rendered/NAME.yaml`.
//! 3. [`plan_apply`] splits the objects into stages: CustomResourceDefinitions first (then
//!    wait until Established), then Namespaces, then everything else, and lists what to
//!    wait for (rollouts, Jobs). [`Kubectl`] builds the exact argv of each command, and
//!    [`explain_not_ready`] turns a stuck object and its events into a readable reason.
//!
//! [`render_namespaces`] generates the namespaces devenv manages (Pod Security labels,
//! default-deny policies); [`verify`] holds the NetworkPolicy enforcement probe.

mod apply;
mod namespaces;
mod rendered;
pub mod verify;
mod wrapper;

pub(crate) use apply::timeout_flag;
pub use apply::{
    explain_not_ready, explain_pods, job_failure, parse_immutable_changes, parse_wait_spec,
    plan_apply, pods_selector, ready_without_rollout, rollout_status_unsupported,
    terminating_namespaces, updates_on_delete, ApplyFiles, ApplyPlan, ImmutableChange, Kubectl,
    WaitKind, WaitRef, WaitSpec, WaitTarget,
};
pub use namespaces::{render_namespaces, NamespaceSpec, PodSecurityLevel};
pub use rendered::{render_argv, Manifest, RenderedOverlay};
pub use wrapper::{image_name, relative_path, wrapper_dir, wrapper_kustomization, ImageOverride};

use std::path::PathBuf;

/// What can go wrong between a rendered overlay and an apply plan.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
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
pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<(), OverlayError> {
    let wrap = |source| OverlayError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(wrap)?;
    }
    crate::state::write_atomic(path, bytes).map_err(wrap)
}
