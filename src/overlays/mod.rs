//! Kustomize overlays: the renderer of the deploy path's first kind of unit, and what devenv
//! generates beside them.
//!
//! For one overlay `NAME` (every step is pure or writes only under `.devenv/`):
//!
//! 1. [`wrapper_kustomization`] writes `.devenv/overlays/NAME/kustomization.yaml`, a
//!    Kustomization whose only resource is the team's overlay (by a *relative* path:
//!    Kustomize refuses absolute ones) and whose `images:` transformer points every
//!    image devenv built at the local registry. The team's files are never touched.
//! 2. [`render_argv`] renders the wrapper (`kubectl kustomize DIR`), with
//!    `--enable-helm` when the overlay inflates Helm charts ([`inflates_charts`]).
//!
//! From there the rendering goes the way every unit goes: [`crate::deploy`] (split,
//! inventory, apply, wait, prune).
//!
//! [`render_namespaces`] generates the namespaces devenv manages (Pod Security labels,
//! default-deny policies); [`verify`] holds the NetworkPolicy enforcement probe.

mod inflate;
mod namespaces;
mod render;
pub mod verify;
mod wrapper;

pub use inflate::{inflates_charts, uses_helm};
pub use namespaces::{render_namespaces, NamespaceSpec, PodSecurityLevel};
pub use render::render_argv;
pub use wrapper::{image_name, relative_path, wrapper_dir, wrapper_kustomization, ImageOverride};
