//! See main.rs. Deploying to a real API server: immutable fields (a changed Job is
//! re-created), `OnDelete` StatefulSets and DaemonSets, Jobs that fail, namespaces that stay
//! Terminating after `down`. Each test failed on the main before its fix, against the fake
//! kubectl that now carries the API server's rules (`fakes/src/kube.rs` cites them).

mod example;
mod immutable_fields;
mod strict_server;
mod waits;
mod workloads;

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::fake_cluster::{lines, overlay_project, run, up_ok};
use crate::support::{copy_dir, free_port, Run, Sandbox, CALICO};

// ---------------------------------------------------------------------------------------
// helpers

/// How long one `devenv` run may take.
const LIMIT: Duration = Duration::from_secs(60);

/// A k3d project without images, verify off, one overlay `app` at k8s/app with `wait`.
fn project(sb: &Sandbox, name: &str, wait: &str) {
    overlay_project(sb, name, &format!("wait = {wait}\n"));
}

/// k8s/app: namespace `shop` and these manifests.
fn overlay(sb: &Sandbox, files: &[(&str, &str)]) {
    let mut resources = String::from("  - namespace.yaml\n");
    sb.write(
        "k8s/app/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
    );
    for (file, text) in files {
        sb.write(format!("k8s/app/{file}"), text);
        resources.push_str(&format!("  - {file}\n"));
    }
    sb.write(
        "k8s/app/kustomization.yaml",
        &format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: shop\nresources:\n{resources}"
        ),
    );
}

fn job(name: &str, version: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\nspec:\n  backoffLimit: 0\n{extra_spec}  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: {name}\n          image: docker.io/library/busybox:1.36\n          command: [\"sh\", \"-c\", \"echo migrating\"]\n          env:\n            - name: VERSION\n              value: \"{version}\"\n"
    )
}

/// `kubectl --context k3d-NAME ARGS` against the fake cluster, as its admin (stdout; panics
/// on failure).
fn admin(sb: &Sandbox, cluster: &str, args: &[&str]) -> String {
    let context = format!("k3d-{cluster}");
    let mut all = vec![
        "--kubeconfig",
        ".devenv/kubeconfig",
        "--context",
        context.as_str(),
    ];
    all.extend_from_slice(args);
    sb.kubectl_ok(&all)
}

fn get_json(sb: &Sandbox, cluster: &str, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend(["-o", "json"]);
    serde_json::from_str(&admin(sb, cluster, &all)).expect("kubectl get -o json")
}

fn condition(object: &Value, kind: &str) -> Option<String> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .and_then(|c| c["status"].as_str().map(str::to_string))
}
