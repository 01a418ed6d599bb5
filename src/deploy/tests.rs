//! The pure half of the deploy path: split, waits, refusals, readiness, argv, explanations.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::kube::KubeTarget;

const CRD_AND_MORE: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec: {}
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Cluster
  names: {kind: Gadget, plural: gadgets}
---
apiVersion: example.com/v1
kind: Gadget
metadata:
  name: g
---
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  namespace: shop
---
apiVersion: batch/v1
kind: Job
metadata:
  name: later
  namespace: shop
spec:
  suspend: true
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  namespace: shop
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  namespace: kube-system
";

fn rendered() -> RenderedOverlay {
    RenderedOverlay::from_yaml("dev", CRD_AND_MORE).unwrap()
}

fn target(kind: WaitKind, ns: &str, name: &str) -> WaitTarget {
    WaitTarget {
        kind,
        namespace: ns.into(),
        name: name.into(),
    }
}

#[test]
fn crds_first_then_namespaces_then_the_rest_in_order() {
    let plan = plan_apply(&rendered(), "default", &WaitSpec::Auto).unwrap();
    assert_eq!(
        plan.crd_names,
        ["widgets.example.com", "gadgets.example.com"]
    );
    let crds = RenderedOverlay::from_yaml("c", plan.crds.as_deref().unwrap()).unwrap();
    assert!(crds
        .manifests
        .iter()
        .all(|m| m.kind == "CustomResourceDefinition"));
    let rest = RenderedOverlay::from_yaml("r", &plan.rest).unwrap();
    let order: Vec<String> = rest.manifests.iter().map(Manifest::display_name).collect();
    assert_eq!(
        order,
        [
            "namespace/shop",
            "deployment/web",
            "widget/w",
            "gadget/g",
            "job/migrate",
            "job/later",
            "statefulset/db",
            "daemonset/agent"
        ]
    );
}

#[test]
fn auto_waits_carry_the_namespace_actually_used() {
    let plan = plan_apply(&rendered(), "team-default", &WaitSpec::Auto).unwrap();
    assert_eq!(
        plan.waits,
        [
            target(WaitKind::Deployment, "team-default", "web"),
            target(WaitKind::Job, "shop", "migrate"),
            target(WaitKind::StatefulSet, "shop", "db"),
            target(WaitKind::DaemonSet, "kube-system", "agent"),
        ]
    );
    assert!(plan_apply(&rendered(), "default", &WaitSpec::None)
        .unwrap()
        .waits
        .is_empty());
}

#[test]
fn overlay_without_crds_has_no_crd_stage() {
    let r = RenderedOverlay::from_yaml(
        "x",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    )
    .unwrap();
    let plan = plan_apply(&r, "default", &WaitSpec::Auto).unwrap();
    assert_eq!(plan.crds, None);
    assert!(plan.crd_names.is_empty());
    assert!(plan.waits.is_empty());
    assert_eq!(
        plan.rest,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
    );
}

#[test]
fn wait_spec_parses_modes_and_objects() {
    assert_eq!(parse_wait_spec(&["auto"]).unwrap(), WaitSpec::Auto);
    assert_eq!(parse_wait_spec(&["none"]).unwrap(), WaitSpec::None);
    assert_eq!(parse_wait_spec::<&str>(&[]).unwrap(), WaitSpec::None);
    assert_eq!(
        parse_wait_spec(&["deployment/api", "jobs.batch/migrate", "shop/sts/db"]).unwrap(),
        WaitSpec::Only(vec![
            WaitRef {
                namespace: None,
                kind: WaitKind::Deployment,
                name: "api".into()
            },
            WaitRef {
                namespace: None,
                kind: WaitKind::Job,
                name: "migrate".into()
            },
            WaitRef {
                namespace: Some("shop".into()),
                kind: WaitKind::StatefulSet,
                name: "db".into()
            },
        ])
    );
    for bad in [
        "api",
        "pod/x",
        "deployment/",
        "deployment/API",
        "a/b/c/d",
        "none",
    ] {
        let items = if bad == "none" {
            vec!["deployment/a", bad]
        } else {
            vec![bad]
        };
        let e = parse_wait_spec(&items).unwrap_err();
        assert!(e.to_string().contains(bad), "{bad}: {e}");
    }
}

#[test]
fn declared_waits_resolve_against_the_overlay() {
    let spec = parse_wait_spec(&[
        "job/migrate",
        "deployment/web",
        "deployment/made-by-operator",
    ])
    .unwrap();
    let plan = plan_apply(&rendered(), "default", &spec).unwrap();
    assert_eq!(
        plan.waits,
        [
            target(WaitKind::Job, "shop", "migrate"),
            target(WaitKind::Deployment, "default", "web"),
            // Not in the overlay, which spans several namespaces: the default one.
            target(WaitKind::Deployment, "default", "made-by-operator"),
        ]
    );
    let two = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j, namespace: a}\n---\napiVersion: batch/v1\nkind: Job\nmetadata: {name: j, namespace: b}\n";
    let r = RenderedOverlay::from_yaml("two", two).unwrap();
    let e = plan_apply(&r, "default", &parse_wait_spec(&["job/j"]).unwrap()).unwrap_err();
    assert!(
        e.to_string().contains("b/job/j") || e.to_string().contains("NAMESPACE/job/j"),
        "{e}"
    );
    let plan = plan_apply(
        &r,
        "default",
        &parse_wait_spec(&["b/job/j", "job/other"]).unwrap(),
    )
    .unwrap();
    assert_eq!(
        plan.waits,
        [
            target(WaitKind::Job, "b", "j"),
            target(WaitKind::Job, "default", "other")
        ]
    );
}

#[test]
fn immutable_refusals_are_recognised_with_their_fields() {
    let stderr = "\
Error from server (Invalid): error when serverside-apply \".devenv/rendered/app.apply.yaml\": Job.batch \"migrate\" is invalid: spec.template: Invalid value: {\"metadata\":{}}: field is immutable
Error from server (Invalid): error when serverside-apply \"f\": StatefulSet.apps \"db\" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden
Error from server (Invalid): error when serverside-apply \"f\": Service \"web\" is invalid: spec.clusterIPs[0]: Invalid value: [\"10.43.0.9\"]: may not change once set
Error from server (Invalid): error when serverside-apply \"f\": Deployment.apps \"api\" is invalid: [spec.selector: Invalid value: {\"matchLabels\":{\"a\":\"b\"}}: field is immutable, spec.template.metadata.labels: Invalid value: {\"a\":\"c\"}: `selector` does not match template `labels`]
Error from server (NotFound): namespaces \"x\" not found";
    let got = parse_immutable_changes(stderr);
    let summary: Vec<String> = got
        .iter()
        .map(|c| format!("{}/{} {}", c.display_kind(), c.name, c.fields_text()))
        .collect();
    assert_eq!(
        summary,
        [
            "job.batch/migrate spec.template",
            "statefulset.apps/db spec",
            "service/web spec.clusterIPs[0]",
            "deployment.apps/api spec.selector and spec.template.metadata.labels",
        ]
    );
    assert!(parse_immutable_changes("error: something else").is_empty());
}

#[test]
fn terminating_namespaces_are_found_in_apply_errors() {
    let stderr = "Error from server (Forbidden): error when serverside-apply \"f\": jobs.batch \"m\" is forbidden: unable to create new content in namespace shop because it is being terminated\nError from server (Forbidden): error when serverside-apply \"f\": services \"s\" is forbidden: unable to create new content in namespace shop because it is being terminated\nError from server (NotFound): namespaces \"x\" not found";
    assert_eq!(terminating_namespaces(stderr), ["shop"]);
    assert!(terminating_namespaces("error: other").is_empty());
}

#[test]
fn on_delete_workloads_are_ready_by_their_counts() {
    let r = RenderedOverlay::from_yaml(
            "x",
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  updateStrategy: {type: OnDelete}\n",
        )
        .unwrap();
    assert!(updates_on_delete(
        &r,
        &target(WaitKind::StatefulSet, "default", "db")
    ));
    assert!(!updates_on_delete(
        &r,
        &target(WaitKind::StatefulSet, "default", "other")
    ));
    let sts = |observed: u64, ready: u64, cur: &str| {
        format!(
            r#"{{"kind":"StatefulSet","metadata":{{"generation":2}},"spec":{{"replicas":2}},
                "status":{{"observedGeneration":{observed},"readyReplicas":{ready},"currentRevision":"{cur}","updateRevision":"b"}}}}"#
        )
    };
    assert!(ready_without_rollout(&sts(1, 2, "b")).is_err());
    assert!(ready_without_rollout(&sts(2, 1, "b")).is_err());
    assert_eq!(ready_without_rollout(&sts(2, 2, "b")), Ok(false));
    assert_eq!(ready_without_rollout(&sts(2, 2, "a")), Ok(true));
    let ds = r#"{"kind":"DaemonSet","metadata":{"generation":1},"status":{"observedGeneration":1,"desiredNumberScheduled":3,"numberReady":2}}"#;
    assert_eq!(
        ready_without_rollout(ds),
        Err(NotReady("2 of 3 pods ready".into()))
    );
    assert!(rollout_status_unsupported(
        "error: rollout status is only available for RollingUpdate strategy type"
    ));
}

#[test]
fn a_failed_job_says_why() {
    let job = r#"{"status":{"conditions":[{"type":"FailureTarget","status":"True","reason":"BackoffLimitExceeded"},
            {"type":"Failed","status":"True","reason":"BackoffLimitExceeded","message":"Job has reached the specified backoff limit"}]}}"#;
    assert_eq!(
        job_failure(job).as_deref(),
        Some("BackoffLimitExceeded: Job has reached the specified backoff limit")
    );
    assert_eq!(job_failure(r#"{"status":{}}"#), None);
}

#[test]
fn argv_shapes() {
    let k = KubeTarget {
        kubeconfig: Some(".devenv/kubeconfig".into()),
        context: "k3d-shop".into(),
    };
    let base = "kubectl --kubeconfig .devenv/kubeconfig --context k3d-shop";
    let s = |v: Vec<String>| v.join(" ");
    assert_eq!(
            s(k.apply_argv(Path::new(".devenv/rendered/dev.apply.yaml"))),
            format!("{base} apply --server-side --field-manager=devenv --force-conflicts -f .devenv/rendered/dev.apply.yaml")
        );
    assert_eq!(
        s(k.wait_crds_argv(
            &["a.x.io".into(), "b.x.io".into()],
            Duration::from_millis(60_500)
        )),
        format!("{base} wait --for=condition=Established --timeout=61s crd/a.x.io crd/b.x.io")
    );
    let dep = target(WaitKind::Deployment, "shop", "api");
    let job = target(WaitKind::Job, "shop", "migrate");
    assert_eq!(
        s(k.wait_argv(&dep, Duration::from_secs(300))),
        format!("{base} -n shop rollout status deployment/api --timeout=300s")
    );
    assert_eq!(
        s(k.wait_argv(&job, Duration::ZERO)),
        format!("{base} -n shop wait --for=condition=Complete --timeout=1s job/migrate")
    );
    assert_eq!(
        s(k.describe_argv(&job)),
        format!("{base} get job migrate -n shop -o json")
    );
    assert_eq!(
        s(k.events_argv(&dep)),
        format!("{base} get events -n shop --field-selector involvedObject.name=api -o json")
    );
}

#[test]
fn explains_conditions_and_last_events() {
    let object = r#"{"kind":"Deployment","metadata":{"name":"api"},"spec":{"replicas":2},
            "status":{"readyReplicas":1,"updatedReplicas":2,"conditions":[
              {"type":"Available","status":"False","reason":"MinimumReplicasUnavailable","message":"Deployment does not have minimum availability."},
              {"type":"Progressing","status":"True","reason":"ReplicaSetUpdated"}]}}"#;
    let mut items = Vec::new();
    for i in 0..7 {
        items.push(format!(
                r#"{{"type":"Normal","reason":"R{i}","message":"m{i}","count":{c},"lastTimestamp":"2026-01-01T00:00:0{i}Z"}}"#,
                c = if i == 6 { 3 } else { 1 }
            ));
    }
    items.reverse(); // the API does not promise an order
    let events = format!(r#"{{"items":[{}]}}"#, items.join(","));
    let text = explain_not_ready(object, &events);
    let expected = "\
deployment/api: 1 of 2 replicas ready, 2 updated
  condition Available=False (MinimumReplicasUnavailable): Deployment does not have minimum availability.
  condition Progressing=True (ReplicaSetUpdated)
  last 5 event(s):
    Normal R2: m2
    Normal R3: m3
    Normal R4: m4
    Normal R5: m5
    Normal R6 (x3): m6";
    assert_eq!(text, expected);
    let broken = explain_not_ready("not json", r#"{"items":[]}"#);
    assert!(
        broken.contains("could not be read") && broken.contains("no events"),
        "{broken}"
    );
}

#[test]
fn explains_pods_and_finds_their_selector() {
    let object = r#"{"spec":{"selector":{"matchLabels":{"app":"api","tier":"web"}}}}"#;
    assert_eq!(pods_selector(object).as_deref(), Some("app=api,tier=web"));
    assert_eq!(pods_selector("{}"), None);
    let pods = r#"{"items":[{"metadata":{"name":"api-1"},"status":{"phase":"Pending",
            "initContainerStatuses":[{"name":"check","ready":false,"state":{"terminated":{"exitCode":2,"reason":"Error"}}}],
            "containerStatuses":[{"name":"api","ready":false,"state":{"waiting":{"reason":"ImagePullBackOff","message":"Back-off pulling image \"localhost:5111/api:abc\""}}}]}}]}"#;
    assert_eq!(
            explain_pods(pods),
            "pod/api-1: Pending\n  init container check exited 2: Error\n  container api waiting: ImagePullBackOff: Back-off pulling image \"localhost:5111/api:abc\""
        );
    assert_eq!(explain_pods(r#"{"items":[]}"#), "no pods");
}
