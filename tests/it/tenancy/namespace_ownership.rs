//! Namespace ownership and the context guard.

use super::*;

// ---------------------------------------------------------------------------------------
// namespace ownership and context guard

#[test]
fn namespaces_of_someone_else_are_left_alone() {
    let me = OwnerLabels::new("shop", "alice");
    let ns =
        |labels: &str| format!("{{\"metadata\":{{\"name\":\"shop-alice\",\"labels\":{labels}}}}}");
    let mine = ns(
        r#"{"app.kubernetes.io/managed-by":"devenv","devenv.dev/project":"shop","devenv.dev/owner":"alice"}"#,
    );
    assert_eq!(check_namespace_owner("shop-alice", &mine, &me), Ok(()));
    assert_eq!(
        check_namespace_owner("shop-alice", "", &me),
        Ok(()),
        "absent: devenv creates it"
    );
    let theirs = ns(
        r#"{"app.kubernetes.io/managed-by":"devenv","devenv.dev/project":"shop","devenv.dev/owner":"al"}"#,
    );
    let e = check_namespace_owner("shop-alice", &theirs, &me)
        .unwrap_err()
        .render();
    assert!(
        e.contains("belongs to al") && e.contains("DEVENV_OWNER"),
        "{e}"
    );
    let manual = ns(r#"{"kubernetes.io/metadata.name":"shop-alice"}"#);
    let e = check_namespace_owner("shop-alice", &manual, &me)
        .unwrap_err()
        .render();
    assert!(
        e.contains("not created by devenv") && e.contains("kubectl label namespace shop-alice"),
        "{e}"
    );
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn context_is_used_only_when_named_and_present_and_allowed() {
    let available = strings(&["prod", "team-dev", "team-staging", "k3d-shop"]);
    // Nothing named: never the current-context, whatever it is.
    let e = check_context(None, None, &[], &available)
        .unwrap_err()
        .render();
    assert!(
        e.contains("current-context") && e.contains("--context") && e.contains("[cluster]"),
        "{e}"
    );
    assert!(check_context(Some(" "), Some(""), &[], &available).is_err());
    // devenv.toml names it; an explicit choice wins.
    assert_eq!(
        check_context(None, Some("team-dev"), &[], &available),
        Ok("team-dev".into())
    );
    assert_eq!(
        check_context(Some("team-staging"), Some("team-dev"), &[], &available),
        Ok("team-staging".into())
    );
    // Must exist.
    let e = check_context(None, Some("team-qa"), &[], &available)
        .unwrap_err()
        .render();
    assert!(
        e.contains("\"team-qa\" is not in your kubeconfig") && e.contains("team-dev"),
        "{e}"
    );
    let e = check_context(None, Some("x"), &[], &[])
        .unwrap_err()
        .render();
    assert!(e.contains("KUBECONFIG"), "{e}");
    // Allowed: exact names and globs; production refused even when asked for explicitly.
    let allowed = strings(&["team-*", "k3d-shop"]);
    assert_eq!(
        check_context(None, Some("team-dev"), &allowed, &available),
        Ok("team-dev".into())
    );
    assert_eq!(
        check_context(Some("k3d-shop"), None, &allowed, &available),
        Ok("k3d-shop".into())
    );
    let e = check_context(Some("prod"), Some("team-dev"), &allowed, &available)
        .unwrap_err()
        .render();
    assert!(
        e.contains("not in cluster.allowed_contexts (team-*, k3d-shop)")
            && e.contains("add \"prod\""),
        "{e}"
    );
}

/// The namespaces devenv generates (`[namespaces]` in devenv.toml) go through the same
/// isolation: the Namespace is renamed, its default-deny policies follow it.
#[test]
fn generated_namespaces_and_their_policies_follow_the_owner() {
    use devenv::overlays::{render_namespaces, NamespaceSpec, PodSecurityLevel};
    let yaml = render_namespaces(&[NamespaceSpec {
        name: "shop".into(),
        pod_security: Some(PodSecurityLevel::Restricted),
        default_deny: true,
        labels: BTreeMap::from([("team".to_string(), "yes".to_string())]),
    }]);
    let out = isolate(
        &yaml,
        &mapping("alice"),
        "default",
        &OwnerLabels::new("shop", "alice"),
    )
    .unwrap();
    let d = docs(&out);
    let ns = find(&d, "Namespace", "shop-alice");
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"].as_str(),
        Some("restricted")
    );
    assert_eq!(ns["metadata"]["labels"]["team"].as_str(), Some("yes"));
    let policies: Vec<&Value> = d
        .iter()
        .filter(|v| v["kind"].as_str() == Some("NetworkPolicy"))
        .collect();
    assert!(!policies.is_empty());
    for p in policies {
        assert_eq!(p["metadata"]["namespace"].as_str(), Some("shop-alice"));
        assert_eq!(p["metadata"]["labels"][OWNER_LABEL].as_str(), Some("alice"));
    }
    assert!(!out.contains("team: yes"), "a YAML 1.1 boolean:\n{out}");
}
