//! `up` on the shared cluster: no k3d, the chosen context only, the kubeconfig untouched;
//! `up -o json`; a cluster without a policy CNI.

use super::*;

// ---------------------------------------------------------------------------------------
// 1. up: no k3d, the chosen context only, the kubeconfig untouched

#[test]
fn up_on_an_existing_cluster_runs_no_k3d_and_touches_only_the_chosen_context() {
    let t = team();
    let kubeconfig = t.sb.default_kubeconfig();
    let before = devenv::kubeconfig::snapshot(&kubeconfig).unwrap();
    let bytes_before = std::fs::read(&kubeconfig).unwrap();
    let prod_before = t.sb.world()["clusters"]["prod"].clone();

    let r = dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    only_shared_context(&r);
    assert!(
        !r.stderr.contains("no NetworkPolicy-enforcing CNI"),
        "Calico runs there: {r:?}"
    );
    assert!(
        r.calls
            .iter()
            .any(|c| c.tool == "kubectl" && c.has(&["apply", "--server-side"])),
        "nothing was applied: {r:?}"
    );

    // The kubeconfig: same contexts, clusters, users, current-context (prod!), mode, bytes.
    let after = devenv::kubeconfig::snapshot(&kubeconfig).unwrap();
    assert_eq!(before, after, "devenv changed the user's kubeconfig");
    assert_eq!(after.current_context.as_deref(), Some(PROD));
    assert_eq!(after.mode, Some(0o640));
    assert_eq!(std::fs::read(&kubeconfig).unwrap(), bytes_before);
    assert!(
        !t.alice.join(".devenv/kubeconfig").exists(),
        "devenv wrote a kubeconfig of its own"
    );
    // The other cluster (the current-context) saw nothing.
    assert_eq!(
        t.sb.world()["clusters"]["prod"],
        prod_before,
        "the prod cluster changed"
    );

    // What landed: the overlay's objects in alice's namespace, all labelled as hers.
    let mine = owned_by(&t.sb, "alice");
    assert_eq!(ids(&mine), expected_for("alice"), "alice's objects");
    for o in &mine {
        assert_eq!(
            o.label("app.kubernetes.io/managed-by"),
            Some("devenv"),
            "{}",
            o.id()
        );
        assert_eq!(o.label("devenv.dev/project"), Some("shop"), "{}", o.id());
    }
    let all = objects(&t.sb, "shared");
    assert!(
        find(&all, "Namespace", None, "shop").is_none(),
        "the manifests' own namespace was created"
    );

    // The plan shows the same: no registry, cluster or Calico steps, a cluster check.
    let plan = dev_ok(&t.sb, &t.alice, "alice", &["plan", "-o", "json"]);
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    let steps: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(plan["context"], SHARED);
    for absent in [
        "registry",
        "cluster",
        "kubeconfig",
        "calico-crds",
        "calico-ready",
    ] {
        assert!(
            !steps.contains(&absent),
            "step {absent} in an existing-cluster plan: {steps:?}"
        );
    }
    for present in ["preflight", "cluster-check", "overlay:app", "prune"] {
        assert!(steps.contains(&present), "no step {present}: {steps:?}");
    }
}

#[test]
fn a_second_up_on_an_unchanged_project_applies_and_deletes_nothing() {
    let t = team();
    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    let before = owned_by(&t.sb, "alice");
    let r = dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    only_shared_context(&r);
    let mutating: Vec<String> = r
        .calls
        .iter()
        .filter(|c| c.is_mutating())
        .map(Call::line)
        .collect();
    assert!(
        mutating.is_empty(),
        "a second up changed the cluster: {mutating:#?}"
    );
    assert_eq!(owned_by(&t.sb, "alice"), before);
}

#[test]
fn up_json_names_the_existing_context_and_the_users_kubeconfig() {
    let t = team();
    let r = dev_ok(&t.sb, &t.alice, "alice", &["up", "-o", "json"]);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"));
    assert_eq!(doc["context"], SHARED, "{doc:#}");
    assert_eq!(doc["result"], "success");
    // The kubeconfig to use with that context is the user's own (devenv wrote none).
    assert_eq!(
        doc["kubeconfig"].as_str(),
        Some(t.sb.default_kubeconfig().to_str().unwrap()),
        "{doc:#}"
    );
    assert_eq!(doc["registry"]["host"], "registry.example.test/team");
    let steps: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(
        steps.contains(&"cluster-check") && steps.contains(&"prune"),
        "{steps:?}"
    );
}

#[test]
fn a_cluster_without_a_policy_cni_is_used_with_a_warning() {
    let t = team();
    admin(
        &t.sb,
        &["-n", "calico-system", "delete", "daemonset", "calico-node"],
    );
    let r = dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    assert!(
        r.stderr
            .contains("no NetworkPolicy-enforcing CNI found in context k3d-shared"),
        "{r:?}"
    );
    assert_eq!(ids(&owned_by(&t.sb, "alice")), expected_for("alice"));
}
