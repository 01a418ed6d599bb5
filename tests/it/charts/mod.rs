//! `[[charts]]` end to end: the real helm (`helm create`, `helm template`, `helm package`,
//! `helm repo index`, `helm push`: `support::helm`) renders, the fake k3d/kubectl apply and
//! wait. helm runs through a wrapper on PATH that logs its argv, so a test sees which helm
//! commands ran.

mod images;
mod local;
mod order;
mod remote;
mod together;

use std::time::Duration;

use serde_json::Value;

use crate::support::fake_cluster::{
    applied_unit, lines, minimal_project, object, objects, port_pair, run, up_ok,
};
use crate::support::helm::{helm_create, real_helm, with_helm_log, HelmLog};
use crate::support::{PortBlock, Sandbox};

/// How long one `devenv` run may take.
const LIMIT: Duration = Duration::from_secs(120);

/// A sandbox whose PATH starts with a logging `helm` that runs the real one.
fn sandbox() -> (Sandbox, HelmLog) {
    with_helm_log(Sandbox::new(), &real_helm())
}

/// The helm command lines devenv ran so far, each joined with spaces.
fn helm_lines(log: &HelmLog) -> Vec<String> {
    log.calls().iter().map(|argv| argv.join(" ")).collect()
}

/// A chart from `helm create NAME` in the project's `dir` (a Deployment of nginx, a
/// Service, a ServiceAccount, a test hook).
fn create_chart(sb: &Sandbox, dir: &str, name: &str) {
    helm_create(&sb.path(dir), name);
}

/// Ports of test `n` (the top of the up_engine block, two per test).
fn ports(n: u16) -> (u16, u16) {
    port_pair(PortBlock::UpEngine, 360 + n * 2)
}

/// devenv.toml of `minimal_toml` with `extra`, on test `n`'s ports.
fn project(sb: &Sandbox, name: &str, n: u16, extra: &str) {
    minimal_project(sb, name, ports(n), extra);
}
