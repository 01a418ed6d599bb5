//! `[[charts]]` end to end: the real helm (`helm create`, `helm template`, `helm package`,
//! `helm repo index`, `helm push`) renders, the fake k3d/kubectl apply and wait. helm runs
//! through a wrapper on PATH that logs its argv, so a test sees which helm commands ran.

mod local;
mod order;


use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::{self, minimal_toml, reserved_port, Call, PortBlock, Run, Sandbox};

/// The real helm (tests: /usr/local/bin/helm; CI: from PyPI, see scripts/test.sh).
fn real_helm() -> PathBuf {
    which::which("helm").expect("helm on PATH (the real one, v3.8+ or v4)")
}

/// A sandbox whose PATH starts with a `helm` that appends its argv to `helm-calls.log` and
/// execs the real helm.
fn sandbox() -> Sandbox {
    let sb = Sandbox::new();
    let bin = sb.root.path().join("helm-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = sb.root.path().join("helm-calls.log");
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
        log.display(),
        real_helm().display()
    );
    let wrapper = bin.join("helm");
    std::fs::write(&wrapper, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = std::env::join_paths(
        std::iter::once(bin).chain(std::env::split_paths(&sb.path_var())),
    )
    .unwrap();
    sb.env("PATH", path.to_str().unwrap())
}

/// The helm command lines devenv ran so far (without `helm`).
fn helm_calls(sb: &Sandbox) -> Vec<String> {
    std::fs::read_to_string(sb.root.path().join("helm-calls.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn clear_helm_calls(sb: &Sandbox) {
    let _ = std::fs::remove_file(sb.root.path().join("helm-calls.log"));
}

/// Runs the real helm in the project folder (fixtures), outside devenv.
#[track_caller]
fn helm(sb: &Sandbox, args: &[&str]) -> String {
    let out = Command::new(real_helm())
        .args(args)
        .current_dir(&sb.project)
        .env("HOME", &sb.home)
        .env("HELM_CACHE_HOME", sb.home.join(".cache/helm"))
        .env("HELM_CONFIG_HOME", sb.home.join(".config/helm"))
        .env("HELM_DATA_HOME", sb.home.join(".local/share/helm"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "helm {}: {}",
        args.join(" "),
        support::show(&out)
    );
    support::text(&out.stdout)
}

/// A chart from `helm create NAME` under `dir` (a Deployment of nginx, a Service, a
/// ServiceAccount, a test hook), with a `values-dev.yaml` next to it.
fn create_chart(sb: &Sandbox, dir: &str, name: &str) {
    std::fs::create_dir_all(sb.path(dir)).unwrap();
    helm(sb, &["create", &format!("{dir}/{name}")]);
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

fn write_file(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}
