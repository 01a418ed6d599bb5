//! Pruning deletes what left the overlays, and only that.

use super::*;

// ---------------------------------------------------------------------------------------
// 4. pruning

#[test]
fn objects_removed_from_the_overlay_are_pruned_and_the_rest_stays() {
    let t = team();
    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    dev_ok(&t.sb, &t.bob, "bob", &["up"]);
    let bobs = owned_by(&t.sb, "bob");
    let kept_before = owned_by(&t.sb, "alice");

    // alice drops the worker Deployment and the settings ConfigMap from her overlay.
    let k = t.alice.join("k8s/app/kustomization.yaml");
    let text = std::fs::read_to_string(&k).unwrap();
    std::fs::write(
        &k,
        text.replace("  - worker.yaml\n", "")
            .replace("  - settings.yaml\n", ""),
    )
    .unwrap();

    let r = dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    only_shared_context(&r);
    let deletes: Vec<&Call> = r.calls.iter().filter(|c| c.has(&["delete"])).collect();
    assert!(!deletes.is_empty(), "nothing deleted: {r:?}");
    for d in &deletes {
        assert!(
            d.has(&["-n", "shop-alice"]),
            "a prune outside alice's namespace: {}",
            d.line()
        );
    }
    let mine = owned_by(&t.sb, "alice");
    let ns = "shop-alice";
    assert!(
        find(&mine, "Deployment", Some(ns), "worker").is_none(),
        "worker not pruned"
    );
    assert!(
        find(&mine, "ConfigMap", Some(ns), "settings").is_none(),
        "settings not pruned"
    );
    for (kind, name) in [
        ("Deployment", "web"),
        ("Service", "web"),
        ("NetworkPolicy", "web-from-shop"),
    ] {
        let now = find(&mine, kind, Some(ns), name)
            .unwrap_or_else(|| panic!("{kind}/{name} was deleted"));
        let then = find(&kept_before, kind, Some(ns), name).unwrap();
        assert_eq!(now.uid, then.uid, "{kind}/{name} was recreated");
    }
    assert!(find(&mine, "Namespace", None, ns).is_some());
    // bob still has his worker and settings.
    assert_eq!(owned_by(&t.sb, "bob"), bobs);

    // Nothing left to prune: the next up deletes nothing.
    let again = dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    assert!(!again.calls.iter().any(|c| c.has(&["delete"])), "{again:?}");

    // Put one back: applied again, nothing else deleted.
    std::fs::write(
        &k,
        std::fs::read_to_string(&k)
            .unwrap()
            .replace("  - web.yaml\n", "  - web.yaml\n  - settings.yaml\n"),
    )
    .unwrap();
    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    let mine = owned_by(&t.sb, "alice");
    assert!(find(&mine, "ConfigMap", Some(ns), "settings").is_some());
    assert!(find(&mine, "Deployment", Some(ns), "worker").is_none());
}

#[test]
fn an_overlay_dropped_from_devenv_toml_is_pruned_even_the_last_one() {
    let t = team();
    let extra = "\n[[overlays]]\nname = \"extra\"\npath = \"k8s/extra\"\ndepends_on = [\"app\"]\ntimeout = \"20s\"\n";
    for dir in [&t.alice, &t.bob] {
        std::fs::write(dir.join("devenv.toml"), devenv_toml(CLUSTER_KEYS, extra)).unwrap();
        let owner = if dir == &t.alice { "alice" } else { "bob" };
        dev_ok(&t.sb, dir, owner, &["up"]);
    }
    let flags = |owner: &str| {
        find(
            &owned_by(&t.sb, owner),
            "ConfigMap",
            Some(&format!("shop-{owner}")),
            "feature-flags",
        )
        .cloned()
    };
    assert!(flags("alice").is_some() && flags("bob").is_some());
    let bobs = owned_by(&t.sb, "bob");

    // alice drops the extra overlay: its ConfigMap goes, the app overlay's objects stay.
    std::fs::write(t.alice.join("devenv.toml"), devenv_toml(CLUSTER_KEYS, "")).unwrap();
    let r = dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    only_shared_context(&r);
    assert!(
        flags("alice").is_none(),
        "the dropped overlay's ConfigMap remains: {r:?}"
    );
    assert_eq!(ids(&owned_by(&t.sb, "alice")), expected_for("alice"));

    // Then every overlay: nothing of alice's is left, as after `down`.
    let none = devenv_toml(CLUSTER_KEYS, "").replace(
        "[[overlays]]\nname = \"app\"\npath = \"k8s/app\"\ntimeout = \"20s\"\n",
        "",
    );
    assert!(!none.contains("[[overlays]]"), "{none}");
    std::fs::write(t.alice.join("devenv.toml"), none).unwrap();
    let r = dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    only_shared_context(&r);
    assert!(
        owned_by(&t.sb, "alice").is_empty(),
        "left: {:?}\n{r:?}",
        ids(&owned_by(&t.sb, "alice"))
    );
    assert_eq!(owned_by(&t.sb, "bob"), bobs, "bob's objects changed");
}
