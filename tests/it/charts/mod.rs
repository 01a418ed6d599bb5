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

use crate::support::helm::{helm_create, real_helm, with_helm_log, HelmLog};
use crate::support::{minimal_toml, reserved_port, Call, PortBlock, Run, Sandbox};

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

/// Ports of test `n` (the charts tests use the top of the up_engine block, two per test).
fn ports(n: u16) -> (u16, u16) {
    (
        reserved_port(PortBlock::UpEngine, 360 + n * 2),
        reserved_port(PortBlock::UpEngine, 360 + n * 2 + 1),
    )
}

fn project(sb: &Sandbox, name: &str, n: u16, extra: &str) {
    let (registry, api) = ports(n);
    sb.write("devenv.toml", &minimal_toml(name, registry, api, extra));
}

fn run(sb: &Sandbox, args: &[&str]) -> Run {
    Run::of(sb.devenv(args), Duration::from_secs(120))
}

#[track_caller]
fn up_ok(sb: &Sandbox) -> Run {
    let r = run(sb, &["up"]);
    assert_eq!(r.code, 0, "devenv up failed: {r:?}");
    r
}

fn lines(calls: &[Call]) -> String {
    calls.iter().map(Call::line).collect::<Vec<_>>().join("\n")
}

/// The unit whose rendering an apply call applies (`…/rendered/NAME.apply.yaml`).
fn applied_unit(c: &Call) -> Option<String> {
    if c.tool != "kubectl" || !c.is_mutating() || !c.has(&["apply"]) {
        return None;
    }
    let file = c.argv.iter().find(|a| a.contains("/rendered/"))?;
    Some(file.rsplit('/').next()?.split('.').next()?.to_string())
}

/// The objects of the fake cluster `cluster` (k3d clusters are named after the project).
fn objects(sb: &Sandbox, cluster: &str) -> Vec<Value> {
    sb.world()["clusters"][cluster]["objects"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The body of object KIND/NAME in namespace `ns` of `cluster`.
fn object(sb: &Sandbox, cluster: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
    objects(sb, cluster)
        .into_iter()
        .find(|o| o["kind"] == kind && o["namespace"] == ns && o["name"] == name)
        .map(|o| o["body"].clone())
}
