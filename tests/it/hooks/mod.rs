//! Helm hooks (`helm.sh/hook`) on the one deploy path: classified and ordered as Helm does,
//! on real `helm template` output (`helm_order.rs`), and run around a unit's objects
//! against the fakes, through an overlay that carries hook objects (`up.rs`): what a chart
//! and a `helmCharts:` inflation render goes the same way.
//!
//! How the fake runs a hook Job: `fakes/src/kube.rs` `job_outcome` follows the Job
//! controller (kubernetes pkg/controller/job/job_controller.go): the pod's program is what
//! `jobs.json` declares (`{"exit": N, "log": "…"}`), exit 0 completes it, a failure past
//! `spec.backoffLimit` makes it Failed with reason `BackoffLimitExceeded`. A bare Pod
//! declared there with `restartPolicy: Never` ends Succeeded or Failed (`pod_run`, after
//! kubernetes pkg/kubelet/kubelet_pods.go `getPhase`).

mod helm_order;
mod shared_cluster;
mod up;

use crate::support::Sandbox;

/// k8s/app: namespace `shop`, a Deployment `web` (its `VERSION` env: `version`) and these
/// hook objects.
fn overlay(sb: &Sandbox, version: &str, hooks: &[String]) {
    sb.write(
        "k8s/app/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
    );
    sb.write(
        "k8s/app/web.yaml",
        &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n        - name: web\n          image: docker.io/library/busybox:1.36\n          command: [\"sleep\", \"infinity\"]\n          env:\n            - name: VERSION\n              value: \"{version}\"\n"
        ),
    );
    sb.write("k8s/app/hooks.yaml", &hooks.join("---\n"));
    sb.write(
        "k8s/app/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: shop\nresources:\n  - namespace.yaml\n  - web.yaml\n  - hooks.yaml\n",
    );
}

/// A hook object: a Job (its pod's program is `jobs.json`'s, or `true`), a ConfigMap or a Pod.
fn hook(kind: &str, name: &str, events: &str, weight: &str, policy: &str) -> String {
    let policy = if policy.is_empty() {
        String::new()
    } else {
        format!("    helm.sh/hook-delete-policy: {policy}\n")
    };
    let (api, body) = match kind {
        "Job" => ("batch/v1", format!("spec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: {name}\n          image: docker.io/library/busybox:1.36\n          command: [\"sh\", \"-c\", \"echo {name}\"]\n")),
        "Pod" => ("v1", format!("spec:\n  restartPolicy: Never\n  containers:\n    - name: {name}\n      image: docker.io/library/busybox:1.36\n      command: [\"wget\", \"web:80\"]\n")),
        _ => ("v1", "data:\n  step: \"1\"\n".to_string()),
    };
    format!(
        "apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}\n  annotations:\n    helm.sh/hook: {events}\n    helm.sh/hook-weight: \"{weight}\"\n{policy}{body}"
    )
}

/// The deploy actions from the first apply of the namespaces on; panics with all of them
/// when there is none.
#[track_caller]
fn from_namespaces(actions: &[String]) -> &[String] {
    let from = actions
        .iter()
        .position(|a| a == "apply namespaces.yaml")
        .unwrap_or_else(|| panic!("{actions:#?}"));
    &actions[from..]
}

/// The objects of `kind` in namespace shop of the fake cluster, by name.
fn objects(sb: &Sandbox, kind: &str) -> Vec<String> {
    objects_in(sb, kind, "shop")
}

/// The objects of `kind` in `namespace`, by name, in any cluster of the fakes' world.
fn objects_in(sb: &Sandbox, kind: &str, namespace: &str) -> Vec<String> {
    let world = sb.world();
    let mut names: Vec<String> = world["clusters"]
        .as_object()
        .into_iter()
        .flat_map(|c| c.values())
        .flat_map(|c| c["objects"].as_array().cloned().unwrap_or_default())
        .filter(|o| o["kind"] == kind && o["namespace"] == namespace)
        .filter_map(|o| o["name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}
