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

use crate::support::fake_cluster::{
    deploy_actions, lines, minimal_project, object, objects, port_pair, run, up_ok,
};
use crate::support::helm::{real_helm, with_helm_log, HelmLog};
use crate::support::{minimal_toml, PortBlock, Sandbox};

/// How long one `devenv` run may take.
const LIMIT: Duration = Duration::from_secs(180);

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
    port_pair(PortBlock::UpEngine, 384 + n * 2)
}

/// devenv.toml of `minimal_toml` with `extra`, on test `n`'s ports.
fn project(sb: &Sandbox, name: &str, n: u16, extra: &str) {
    minimal_project(sb, name, ports(n), extra);
}

/// A second `up` with nothing changed applies, deletes and re-creates nothing.
#[track_caller]
fn second_up_changes_nothing(sb: &Sandbox) {
    sb.clear_calls();
    up_ok(sb, LIMIT);
    let calls = sb.calls();
    assert!(
        calls.iter().all(|c| !c.is_mutating()),
        "second up changed something:\n{}",
        lines(&calls)
    );
}

/// The body of object KIND/NAME in `ns` ("" for a cluster-scoped one); panics with the
/// cluster's inventory when there is none.
#[track_caller]
fn present(sb: &Sandbox, cluster: &str, kind: &str, ns: &str, name: &str) -> Value {
    object(sb, cluster, kind, ns, name).unwrap_or_else(|| panic!("{}", inventory(sb, cluster)))
}

/// Asserts that object KIND/NAME is in the cluster, showing its inventory when not.
#[track_caller]
fn assert_present(sb: &Sandbox, cluster: &str, kind: &str, ns: &str, name: &str) {
    assert!(
        object(sb, cluster, kind, ns, name).is_some(),
        "{}",
        inventory(sb, cluster)
    );
}

/// Asserts that object KIND/NAME is not in the cluster, showing its inventory when it is.
#[track_caller]
fn assert_gone(sb: &Sandbox, cluster: &str, kind: &str, ns: &str, name: &str) {
    assert!(
        object(sb, cluster, kind, ns, name).is_none(),
        "{}",
        inventory(sb, cluster)
    );
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
