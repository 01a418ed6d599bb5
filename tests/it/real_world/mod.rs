//! Issue 12: what real machines do to `devenv up` that kind fakes hid. One test per
//! situation (each failed on the main before its fix), against fakes that carry the real
//! tools' behaviour, each rule citing the real source file it follows.
//!
//! - `deploy`: immutable fields (Jobs re-created), OnDelete rollouts, failing Jobs,
//!   terminating namespaces.
//! - `cluster`: arm64 nodes and the probe, multi-file KUBECONFIG, a registry on a LAN
//!   address, pre-release tool versions, k3d's config and registry semantics.
//! - `images`: buildx builders, proxies and the platform trust store, kustomizations at the
//!   project root or beside it.

mod cluster;
mod deploy;
mod images;
