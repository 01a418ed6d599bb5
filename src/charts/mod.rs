//! Helm charts, the second kind of deploy unit (`[[charts]]`), rendered with the real
//! `helm template` as Argo CD does: devenv applies the manifests itself, so waits, pruning
//! and shared-cluster isolation stay the deploy path's ([`crate::deploy`]).
//!
//! What differs from an overlay is only how the manifests are made:
//! 1. a remote chart (`repo` + name, or `oci://…`) is pulled once into devenv's cache
//!    (`source.rs`: where; `argv.rs`: `helm pull`), its archive's sha256 kept in
//!    `.devenv/charts.lock.json` so a chart changed at the same version is reported
//!    (`lock.rs`); a local chart with dependencies gets `helm dependency build`;
//! 2. `helm template` with the values files in order and `set` written as one more values
//!    file (`values.rs`), then the objects Helm would put in the release namespace get it
//!    (`namespace.rs`), and the release namespace is created when nothing else declares it;
//! 3. that output goes through the same Kustomize wrapper as an overlay (images pointed at
//!    the pushed tags), and from there on it is the shared deploy path.

mod argv;
mod lock;
mod namespace;
mod source;
mod stable;
mod values;

pub use argv::{dependency_build_argv, pull_argv, template_argv, TemplateArgs};
pub use lock::{ChartLock, DigestChange, LOCK_FILE};
pub use namespace::{in_release_namespace, namespace_object};
pub use source::{has_dependencies, kube_version_of_image, needs_dependency_build, ChartSource};
pub use stable::unstable_templates;
pub use values::set_values_yaml;

/// The folder under `.devenv/` that holds a chart's generated files: the wrapper
/// kustomization, the saved `helm template` output and `set` as a values file.
pub fn state_dir(name: &str) -> String {
    format!(".devenv/charts/{name}")
}

/// The saved `helm template` output, the wrapper's one resource (relative to the wrapper).
pub const HELM_OUTPUT: &str = "helm.yaml";

/// `set` as a values file, passed last to `helm template`.
pub const SET_VALUES: &str = "set-values.yaml";
