//! `down` and `reset` delete exactly the owner's objects.

use super::*;

// ---------------------------------------------------------------------------------------
// 3. down: exactly the owner's objects

#[test]
fn down_removes_only_the_owners_objects_and_keeps_the_cluster() {
    let t = team();
    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    dev_ok(&t.sb, &t.bob, "bob", &["up"]);
    let bobs = owned_by(&t.sb, "bob");
    let others: Vec<Obj> = objects(&t.sb, "shared")
        .into_iter()
        .filter(|o| o.label("devenv.dev/owner").is_none())
        .collect();

    let r = dev_ok(&t.sb, &t.alice, "alice", &["down"]);
    only_shared_context(&r);
    assert!(
        r.calls
            .iter()
            .all(|c| !c.argv.iter().any(|a| a.contains("shop-bob"))),
        "alice's down named bob's namespace: {r:?}"
    );
    assert!(
        owned_by(&t.sb, "alice").is_empty(),
        "alice's objects remain: {:?}",
        ids(&owned_by(&t.sb, "alice"))
    );
    assert_eq!(owned_by(&t.sb, "bob"), bobs, "bob's objects changed");
    let rest: Vec<Obj> = objects(&t.sb, "shared")
        .into_iter()
        .filter(|o| o.label("devenv.dev/owner").is_none())
        .collect();
    assert_eq!(
        rest, others,
        "objects of no developer changed (Calico, kube-system)"
    );
    assert!(
        t.sb.world()["clusters"]["shared"].is_object(),
        "the cluster is gone"
    );
    assert!(
        !t.alice
            .join(".devenv/inventory")
            .read_dir()
            .map(|mut d| d.next().is_some())
            .unwrap_or(false),
        "alice's inventory was kept after down"
    );

    // A second down has nothing left to delete, and says so without failing.
    let again = dev_ok(&t.sb, &t.alice, "alice", &["down"]);
    only_shared_context(&again);
    assert_eq!(owned_by(&t.sb, "bob"), bobs);

    // And an up after down recreates alice's objects (the journal does not skip them).
    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    assert_eq!(ids(&owned_by(&t.sb, "alice")), expected_for("alice"));
}

#[test]
fn down_without_the_inventory_finds_the_owners_objects_by_label() {
    let t = team();
    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    dev_ok(&t.sb, &t.bob, "bob", &["up"]);
    let bobs = owned_by(&t.sb, "bob");
    // Another machine, or `.devenv` deleted: no inventory, no journal.
    std::fs::remove_dir_all(t.alice.join(".devenv")).unwrap();

    let r = dev_ok(&t.sb, &t.alice, "alice", &["down"]);
    only_shared_context(&r);
    let selector =
        "app.kubernetes.io/managed-by=devenv,devenv.dev/project=shop,devenv.dev/owner=alice";
    assert!(
        r.calls.iter().any(|c| c.has(&["delete", "-l", selector])),
        "no delete by alice's labels: {r:?}"
    );
    assert!(
        owned_by(&t.sb, "alice").is_empty(),
        "left: {:?}",
        ids(&owned_by(&t.sb, "alice"))
    );
    assert_eq!(owned_by(&t.sb, "bob"), bobs, "bob's objects changed");
}

/// The inventory is a file in `.devenv/`: a stale one, or one a cloned repository planted,
/// naming objects alice never applied (bob's Deployment, a ConfigMap of nobody's). Neither
/// `down` nor the prune of `up` deletes them: only what carries alice's labels goes.
#[test]
fn a_planted_inventory_deletes_nothing_without_the_owners_labels() {
    let t = team();
    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    dev_ok(&t.sb, &t.bob, "bob", &["up"]);
    let cm = t.sb.write(
        "cluster-settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-settings\n  namespace: kube-system\ndata:\n  a: b\n",
    );
    admin(
        &t.sb,
        &["apply", "--server-side", "-f", &cm.display().to_string()],
    );
    let plant = |dir: &Path| {
        let inv_dir = dir.join(".devenv/inventory");
        let file = std::fs::read_dir(&inv_dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "json"))
            .expect("alice's inventory");
        let mut store: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let overlay = store["overlays"]
            .as_object_mut()
            .unwrap()
            .values_mut()
            .next()
            .unwrap();
        let objects = overlay["objects"].as_array_mut().unwrap();
        objects.push(json!({"api_version":"apps/v1","kind":"Deployment","namespace":"shop-bob","name":"web"}));
        objects.push(json!({"api_version":"v1","kind":"ConfigMap","namespace":"kube-system","name":"cluster-settings"}));
        std::fs::write(&file, serde_json::to_string(&store).unwrap()).unwrap();
    };
    let bobs = owned_by(&t.sb, "bob");
    let still_there = |sb: &Sandbox| {
        let all = objects(sb, "shared");
        assert!(find(&all, "ConfigMap", Some("kube-system"), "cluster-settings").is_some());
        assert_eq!(owned_by(sb, "bob"), bobs, "bob's objects changed");
    };

    // The prune of `up`: the planted refs are not rendered, so they look removed.
    plant(&t.alice);
    let r = dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    still_there(&t.sb);
    assert!(
        r.stderr
            .contains("does not carry this project's and owner's labels: left in place"),
        "{r:?}"
    );

    // `down`.
    plant(&t.alice);
    let r = dev_ok(&t.sb, &t.alice, "alice", &["down"]);
    still_there(&t.sb);
    assert!(
        owned_by(&t.sb, "alice").is_empty(),
        "{:?}",
        ids(&owned_by(&t.sb, "alice"))
    );
    assert!(r.stderr.contains("left in place"), "{r:?}");
}

// ---------------------------------------------------------------------------------------
// 7. reset

#[test]
fn reset_deletes_only_the_owners_objects_then_applies_them_again() {
    let t = team();
    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    dev_ok(&t.sb, &t.bob, "bob", &["up"]);
    let alice_before = owned_by(&t.sb, "alice");
    let bobs = owned_by(&t.sb, "bob");

    let r = dev_ok(&t.sb, &t.alice, "alice", &["reset", "--yes"]);
    only_shared_context(&r);
    let first_delete = r
        .calls
        .iter()
        .position(|c| c.has(&["delete"]))
        .unwrap_or_else(|| panic!("nothing deleted: {r:?}"));
    let last_apply = r
        .calls
        .iter()
        .rposition(|c| c.has(&["apply"]))
        .unwrap_or_else(|| panic!("nothing applied: {r:?}"));
    assert!(
        first_delete < last_apply,
        "reset must delete, then apply: {r:?}"
    );
    for c in r.calls.iter().filter(|c| c.has(&["delete"])) {
        assert!(
            !c.argv.iter().any(|a| a.contains("shop-bob")),
            "reset touched bob: {}",
            c.line()
        );
    }
    // alice's objects are back (new objects: new uids), bob's never moved.
    let alice_after = owned_by(&t.sb, "alice");
    assert_eq!(ids(&alice_after), expected_for("alice"));
    for o in &alice_after {
        let old = alice_before.iter().find(|b| b.id() == o.id()).unwrap();
        assert_ne!(old.uid, o.uid, "{} was not recreated by reset", o.id());
    }
    assert_eq!(owned_by(&t.sb, "bob"), bobs, "reset changed bob's objects");
}
