//! Two developers, one cluster: their own namespaces, at the same time, namespaces declared
//! in devenv.toml.

use super::*;

// ---------------------------------------------------------------------------------------
// 2. two developers, one cluster

#[test]
fn two_developers_land_in_their_own_namespaces_without_touching_each_other() {
    let t = team();
    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    let alice_before = owned_by(&t.sb, "alice");

    let r = dev_ok(&t.sb, &t.bob, "bob", &["up"]);
    only_shared_context(&r);
    // bob's devenv never names alice's namespace (no read, no apply, no delete there).
    for c in &r.calls {
        assert!(
            !c.argv.iter().any(|a| a.contains("shop-alice")),
            "bob's devenv touched alice's namespace: {}",
            c.line()
        );
    }
    for f in std::fs::read_dir(t.bob.join(".devenv/rendered"))
        .unwrap()
        .flatten()
    {
        let text = std::fs::read_to_string(f.path()).unwrap();
        assert!(
            !text.contains("alice"),
            "{} names alice:\n{text}",
            f.path().display()
        );
    }

    let bobs = owned_by(&t.sb, "bob");
    assert_eq!(ids(&bobs), expected_for("bob"));
    // alice's objects are exactly as they were: same uid, same resourceVersion.
    assert_eq!(
        owned_by(&t.sb, "alice"),
        alice_before,
        "bob's up changed alice's objects"
    );

    // Each namespace is labelled with its owner; references follow the namespace.
    let all = objects(&t.sb, "shared");
    for owner in ["alice", "bob"] {
        let ns =
            find(&all, "Namespace", None, &format!("shop-{owner}")).expect("owner's namespace");
        assert_eq!(ns.label("devenv.dev/owner"), Some(owner));
        assert_eq!(ns.label("devenv.dev/project"), Some("shop"));
        assert_eq!(ns.label("app.kubernetes.io/managed-by"), Some("devenv"));
    }
    let world = t.sb.world();
    let policy = &world["clusters"]["shared"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "NetworkPolicy" && o["namespace"] == "shop-bob")
        .expect("bob's NetworkPolicy")["body"];
    assert_eq!(
        policy.pointer(
            "/spec/ingress/0/from/0/namespaceSelector/matchLabels/kubernetes.io~1metadata.name"
        ),
        Some(&Value::from("shop-bob")),
        "the policy's namespace selector must follow bob's namespace: {policy:#}"
    );
    // The inventories are per context and owner, in each checkout.
    let inv = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir.join(".devenv/inventory"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(
        inv(&t.alice).iter().all(|n| n.ends_with(".alice.json")) && !inv(&t.alice).is_empty(),
        "{:?}",
        inv(&t.alice)
    );
    assert!(
        inv(&t.bob).iter().all(|n| n.ends_with(".bob.json")) && !inv(&t.bob).is_empty(),
        "{:?}",
        inv(&t.bob)
    );
}

#[test]
fn a_namespace_someone_else_owns_is_refused() {
    let t = team();
    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    // Another project whose manifests also use namespace `shop`, deployed by the same
    // owner, maps onto shop-alice: labelled for project shop, so devenv must not use it.
    let before = owned_by(&t.sb, "alice");
    let other = t.sb.root.path().join("other");
    checkout(
        &other,
        &devenv_toml(CLUSTER_KEYS, "").replace("name = \"shop\"", "name = \"other\""),
    );
    let r = dev(&t.sb, &other, "alice", &["up"]);
    assert_eq!(
        r.code, 1,
        "up into a namespace of another project must fail: {r:?}"
    );
    assert!(
        r.stderr.contains("shop-alice") && r.stderr.contains("belongs to"),
        "{r:?}"
    );
    let applied: Vec<String> = r
        .calls
        .iter()
        .filter(|c| c.has(&["apply"]))
        .map(Call::line)
        .collect();
    assert!(
        applied.is_empty(),
        "applied into someone else's namespace: {applied:#?}"
    );
    assert_eq!(owned_by(&t.sb, "alice"), before);
}

#[test]
fn namespaces_declared_in_devenv_toml_are_the_owners_too() {
    let t = team();
    let extra = "\n[namespaces.shop]\npod_security = \"baseline\"\ndefault_deny = true\n";
    for dir in [&t.alice, &t.bob] {
        std::fs::write(dir.join("devenv.toml"), devenv_toml(CLUSTER_KEYS, extra)).unwrap();
    }
    let r = dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    only_shared_context(&r);
    dev_ok(&t.sb, &t.bob, "bob", &["up"]);

    let all = objects(&t.sb, "shared");
    for owner in ["alice", "bob"] {
        let ns = format!("shop-{owner}");
        let n = find(&all, "Namespace", None, &ns).expect("the owner's namespace");
        assert_eq!(n.label("devenv.dev/owner"), Some(owner), "{n:?}");
        assert_eq!(
            n.label("pod-security.kubernetes.io/enforce"),
            Some("baseline"),
            "{n:?}"
        );
        let policies: Vec<&Obj> = all
            .iter()
            .filter(|o| o.kind == "NetworkPolicy" && o.namespace.as_deref() == Some(ns.as_str()))
            .collect();
        assert!(
            policies.len() >= 2,
            "no default-deny policy in {ns}: {:?}",
            ids(&all)
        );
        for p in policies {
            assert_eq!(p.label("devenv.dev/owner"), Some(owner), "{}", p.id());
        }
    }
    assert!(find(&all, "Namespace", None, "shop").is_none());
    assert!(
        !all.iter()
            .any(|o| o.kind == "NetworkPolicy" && o.namespace.as_deref() == Some("shop")),
        "a policy in the unmapped namespace"
    );

    // [namespaces] dropped from alice's devenv.toml: its default policies are pruned, the
    // namespace stays (her overlay declares it too).
    let bobs = owned_by(&t.sb, "bob");
    std::fs::write(t.alice.join("devenv.toml"), devenv_toml(CLUSTER_KEYS, "")).unwrap();
    let r = dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    only_shared_context(&r);
    assert_eq!(
        ids(&owned_by(&t.sb, "alice")),
        expected_for("alice"),
        "{r:?}"
    );
    assert_eq!(owned_by(&t.sb, "bob"), bobs);

    // down deletes the rest, and nothing of bob's.
    dev_ok(&t.sb, &t.alice, "alice", &["down"]);
    assert!(
        owned_by(&t.sb, "alice").is_empty(),
        "{:?}",
        ids(&owned_by(&t.sb, "alice"))
    );
    assert_eq!(owned_by(&t.sb, "bob"), bobs);
}

#[test]
fn two_developers_can_run_up_at_the_same_time() {
    let t = team();
    let spawn = |dir: &Path, owner: &str| -> Child {
        let mut c = Command::new(env!("CARGO_BIN_EXE_devenv"));
        c.env_clear()
            .envs(t.sb.envs())
            .env("DEVENV_OWNER", owner)
            .current_dir(dir)
            .arg("up")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().expect("spawn devenv")
    };
    let (a, b) = (spawn(&t.alice, "alice"), spawn(&t.bob, "bob"));
    for (who, child) in [("alice", a), ("bob", b)] {
        let o = child.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "{who}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert_eq!(ids(&owned_by(&t.sb, "alice")), expected_for("alice"));
    assert_eq!(ids(&owned_by(&t.sb, "bob")), expected_for("bob"));
}
