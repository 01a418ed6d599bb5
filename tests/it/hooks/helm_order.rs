//! The classification and the order are Helm's, on what the real `helm template` prints
//! for a chart made by the real `helm create` (it has a `test` hook), with hook Jobs of
//! several weights added as a chart author writes them.

use devenv::deploy::{hooks_for, plan_apply, DeletePolicy, HookEvent, RenderedOverlay, WaitSpec};

use crate::support::helm::{helm, helm_create};

/// A hook object of the chart `demo` (`{{ include "demo.fullname" . }}-SUFFIX`).
fn hook(kind: &str, suffix: &str, events: &str, weight: &str, policy: &str) -> String {
    let policy = if policy.is_empty() {
        String::new()
    } else {
        format!("    \"helm.sh/hook-delete-policy\": {policy}\n")
    };
    let body = match kind {
        "Job" => "spec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: run\n          image: busybox:1.36\n          command: [\"true\"]\n",
        "Secret" => "stringData:\n  token: x\n",
        _ => "data:\n  step: \"1\"\n",
    };
    let api = if kind == "Job" { "batch/v1" } else { "v1" };
    format!(
        "---\napiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {{{{ include \"demo.fullname\" . }}}}-{suffix}\n  annotations:\n    \"helm.sh/hook\": {events}\n    \"helm.sh/hook-weight\": \"{weight}\"\n{policy}{body}"
    )
}

#[test]
fn helm_template_output_is_split_and_ordered_as_helm_runs_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    helm_create(dir, "demo");
    let hooks = [
        hook(
            "Job",
            "migrate",
            "pre-install,pre-upgrade",
            "-5",
            "before-hook-creation,hook-succeeded",
        ),
        // Same weight and name as the Job: Helm's kind order puts the ConfigMap first.
        hook("ConfigMap", "migrate", "pre-install", "-5", ""),
        hook("Secret", "aaa", "pre-install", "10", "hook-failed"),
        hook("Job", "seed", "post-install,post-upgrade", "5", ""),
        // Weight before name: `early` (-10) runs first.
        hook("Job", "early", "pre-install", "-10", "hook-succeeded"),
        hook("Job", "cleanup", "pre-delete", "0", ""),
    ]
    .concat();
    std::fs::write(dir.join("demo/templates/hooks.yaml"), hooks).unwrap();
    let yaml = helm(dir, &["template", "rel", "./demo", "--namespace", "shop"]);
    let rendered = RenderedOverlay::from_yaml("demo", &yaml).unwrap();
    let plan = plan_apply(&rendered, "shop", &WaitSpec::Auto).unwrap();

    // The main objects: what helm create makes, no hook among them, waits on them only.
    assert!(!plan.rest.contains("helm.sh/hook"), "{}", plan.rest);
    for want in ["kind: Deployment", "kind: Service", "kind: ServiceAccount"] {
        assert!(plan.rest.contains(want), "{want} missing: {}", plan.rest);
    }
    let waits: Vec<String> = plan.waits.iter().map(|w| w.to_string()).collect();
    assert_eq!(waits, ["deployment/rel-demo in shop"]);

    let order = |event| -> Vec<String> {
        hooks_for(&plan.hooks, event)
            .iter()
            .map(|h| h.to_string())
            .collect()
    };
    assert_eq!(
        order(HookEvent::PreInstall),
        [
            "job/rel-demo-early in shop",
            "configmap/rel-demo-migrate in shop",
            "job/rel-demo-migrate in shop",
            "secret/rel-demo-aaa in shop",
        ]
    );
    assert_eq!(order(HookEvent::PostInstall), ["job/rel-demo-seed in shop"]);
    assert_eq!(
        order(HookEvent::PreUpgrade),
        ["job/rel-demo-migrate in shop"]
    );
    assert_eq!(order(HookEvent::PostUpgrade), ["job/rel-demo-seed in shop"]);
    // helm create's test Pod is a `test` hook: in no install or upgrade phase.
    assert_eq!(
        order(HookEvent::Test),
        ["pod/rel-demo-test-connection in shop"]
    );
    assert_eq!(
        order(HookEvent::PreDelete),
        ["job/rel-demo-cleanup in shop"]
    );

    let by_name = |n: &str, kind: &str| {
        plan.hooks
            .iter()
            .find(|h| h.manifest.name == n && h.manifest.kind == kind)
            .unwrap()
    };
    let migrate = by_name("rel-demo-migrate", "Job");
    assert!(migrate.deletes_on(DeletePolicy::BeforeHookCreation));
    assert!(migrate.deletes_on(DeletePolicy::HookSucceeded));
    assert!(!migrate.deletes_on(DeletePolicy::HookFailed));
    // No policy written: before-hook-creation, Helm's default.
    let test = by_name("rel-demo-test-connection", "Pod");
    assert!(test.deletes_on(DeletePolicy::BeforeHookCreation));
    assert!(!test.deletes_on(DeletePolicy::HookSucceeded));
    let aaa = by_name("rel-demo-aaa", "Secret");
    assert!(aaa.deletes_on(DeletePolicy::HookFailed));
    assert!(!aaa.deletes_on(DeletePolicy::BeforeHookCreation));
}
