//! Issue 16: "charts will also be tried with real public charts you have not seen".
//! Real charts (tests/fixtures/real-charts/, README there: source, commit, licence) come
//! up against the fakes as a user would declare them: a local folder (ingress-nginx, with
//! its admission-webhook hooks), a chart repository (Bitnami's postgresql, with its
//! `common` library vendored), an OCI chart (Bitnami's redis), a local chart whose
//! `common` dependency comes from the team's repository (sealed-secrets, CRD in `crds/`),
//! a DaemonSet chart (prometheus-node-exporter). Rendering is the real helm's; applying
//! and waiting are the fakes'.

mod bitnami;
mod ingress_nginx;
mod node_exporter;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::helm::{real_helm, with_helm_log, HelmLog};
use crate::support::{minimal_toml, reserved_port, Call, PortBlock, Run, Sandbox};

/// tests/fixtures/real-charts/.
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/real-charts");

/// A sandbox whose PATH starts with a logging `helm` that runs the real one.
fn sandbox() -> (Sandbox, HelmLog) {
    with_helm_log(Sandbox::new(), &real_helm())
}

/// Unpacks the fixture archive `ARCHIVE.tgz` into `dir` (created): the chart's folder,
/// `dir/NAME`, as `helm pull --untar` leaves it.
fn unpack(archive: &str, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let status = Command::new("tar")
        .args(["-xzf", &format!("{FIXTURES}/{archive}.tgz"), "-C"])
        .arg(dir)
        .status()
        .expect("run tar");
    assert!(status.success(), "tar -xzf {archive}.tgz");
    let name = archive.rsplit_once('-').unwrap().0;
    dir.join(name)
}

/// Ports of test `n` (the top of the up_engine block, above the charts tests', two each).
fn ports(n: u16) -> (u16, u16) {
    (
        reserved_port(PortBlock::UpEngine, 384 + n * 2),
        reserved_port(PortBlock::UpEngine, 384 + n * 2 + 1),
    )
}

fn project(sb: &Sandbox, name: &str, n: u16, extra: &str) {
    let (registry, api) = ports(n);
    sb.write("devenv.toml", &minimal_toml(name, registry, api, extra));
}

fn run(sb: &Sandbox, args: &[&str]) -> Run {
    Run::of(sb.devenv(args), Duration::from_secs(180))
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

/// A second `up` with nothing changed applies, deletes and re-creates nothing.
#[track_caller]
fn second_up_changes_nothing(sb: &Sandbox) {
    sb.clear_calls();
    up_ok(sb);
    let calls = sb.calls();
    assert!(
        calls.iter().all(|c| !c.is_mutating()),
        "second up changed something:\n{}",
        lines(&calls)
    );
}

/// What the deploy path did, in order: applies (by rendered file), hook deletes, Job
/// waits, rollouts.
fn deploy_actions(calls: &[Call]) -> Vec<String> {
    let mut out = Vec::new();
    for c in calls.iter().filter(|c| c.tool == "kubectl") {
        let a = &c.argv;
        let after = |w: &str| a.iter().position(|x| x == w).and_then(|i| a.get(i + 1));
        if c.has(&["apply"]) {
            let file = after("-f").map(String::as_str).unwrap_or("");
            if file.contains(".devenv/rendered/") {
                let name = Path::new(file).file_name().unwrap().to_string_lossy();
                out.push(format!("apply {name}"));
            }
        } else if c.has(&["delete"]) && c.has(&["--cascade=foreground"]) {
            let at = a.iter().position(|x| x == "delete").unwrap();
            out.push(format!("delete {} {}", a[at + 1], a[at + 2]));
        } else if c.has(&["wait", "--for=condition=Complete"]) {
            out.push(format!("wait {}", a.last().unwrap()));
        } else if c.has(&["rollout", "status"]) {
            out.push(format!("rollout {}", after("status").unwrap()));
        }
    }
    out
}

/// The objects of the fake cluster `cluster` (k3d clusters are named after the project).
fn objects(sb: &Sandbox, cluster: &str) -> Vec<Value> {
    sb.world()["clusters"][cluster]["objects"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The body of object KIND/NAME in namespace `ns` ("" for a cluster-scoped one).
fn object(sb: &Sandbox, cluster: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
    objects(sb, cluster)
        .into_iter()
        .find(|o| {
            o["kind"] == kind && o["name"] == name && o["namespace"].as_str().unwrap_or("") == ns
        })
        .map(|o| o["body"].clone())
}

/// `KIND NAMESPACE/NAME` of every object, sorted (failure messages).
fn inventory(sb: &Sandbox, cluster: &str) -> String {
    let mut all: Vec<String> = objects(sb, cluster)
        .iter()
        .map(|o| {
            format!(
                "{} {}/{}",
                o["kind"].as_str().unwrap_or(""),
                o["namespace"].as_str().unwrap_or(""),
                o["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    all.sort();
    all.join("\n")
}
