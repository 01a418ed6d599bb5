//! Inventories and pruning: what an owner applied, and what left the overlays.

use super::*;

// ---------------------------------------------------------------------------------------
// inventory and pruning

#[test]
fn prune_removes_exactly_the_objects_dropped_between_two_renders() {
    let pruned = prune_set(&inv("v1.yaml", "alice"), &inv("v2.yaml", "alice"));
    let shown: Vec<String> = pruned.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        shown,
        [
            "configmap/banner in default-alice",
            "widget.example.com/blue in shop-alice"
        ]
    );
    // Nothing of bob's is ever in alice's prune set.
    let bob = inv("v1.yaml", "bob");
    assert!(pruned.iter().all(|r| !bob.contains(r)));
    // Same render: nothing to prune; and the reverse direction prunes the new Widget.
    assert!(prune_set(&inv("v2.yaml", "alice"), &inv("v2.yaml", "alice")).is_empty());
    let back: Vec<String> = prune_set(&inv("v2.yaml", "alice"), &inv("v1.yaml", "alice"))
        .iter()
        .map(|r| r.to_string())
        .collect();
    assert_eq!(back, ["widget.example.com/red in shop-alice"]);
}

#[test]
fn a_new_api_version_of_the_same_object_is_not_pruned() {
    let old = Inventory {
        objects: [oref("apps/v1beta2", "Deployment", Some("a"), "x")].into(),
        ..Default::default()
    };
    let new = Inventory {
        objects: [oref("apps/v1", "Deployment", Some("a"), "x")].into(),
        ..Default::default()
    };
    assert!(prune_set(&old, &new).is_empty());
}

#[test]
fn tearing_everything_down_goes_in_reverse_apply_order() {
    let all = prune_set(&inv("v1.yaml", "alice"), &Inventory::default());
    assert_eq!(all.len(), 11);
    let tiers: Vec<u8> = all.iter().map(ObjectRef::delete_tier).collect();
    assert!(tiers.windows(2).all(|w| w[0] <= w[1]), "{tiers:?}");
    assert!(all[all.len() - 2].is_namespace());
    assert!(all.last().unwrap().is_crd());
    // On a shared cluster the CRD stays (its deletion would delete everyone's Widgets).
    let (delete, keep) = split_for_shared_cluster(all);
    assert_eq!(
        keep.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["widgets.example.com"]
    );
    assert_eq!(delete.len(), 10);
    assert!(delete.last().unwrap().is_namespace());
}

fn rendered(pairs: &[(&str, Inventory)]) -> BTreeMap<String, Inventory> {
    pairs
        .iter()
        .map(|(n, i)| (n.to_string(), i.clone()))
        .collect()
}

#[test]
fn the_store_prunes_across_overlays_exactly() {
    let cm = |n: &str| oref("v1", "ConfigMap", Some("a-alice"), n);
    let one = |refs: &[ObjectRef]| Inventory {
        objects: refs.iter().cloned().collect(),
        ..Default::default()
    };
    let overlays = vec!["base".to_string(), "app".to_string()];
    let mut store = InventoryStore::new("dev", "alice");
    let first = rendered(&[
        ("base", one(&[cm("x"), cm("moving")])),
        ("app", one(&[cm("y")])),
    ]);
    for (n, i) in &first {
        store.record_applying(n, i);
    }
    assert!(store.prune_plan(&first, &overlays).is_empty());
    store.commit(&first, &overlays);

    // `moving` goes from base to app, `x` is dropped: only `x` is pruned.
    let second = rendered(&[("base", one(&[])), ("app", one(&[cm("y"), cm("moving")]))]);
    for (n, i) in &second {
        store.record_applying(n, i);
    }
    assert_eq!(store.prune_plan(&second, &overlays), [cm("x")]);
    store.commit(&second, &overlays);

    // `devenv apply base` alone: app's objects are kept.
    let partial = rendered(&[("base", one(&[cm("z")]))]);
    store.record_applying("base", &partial["base"]);
    assert!(store.prune_plan(&partial, &overlays).is_empty());
    store.commit(&partial, &overlays);

    // The app overlay is removed from devenv.toml: its objects go.
    let only_base = vec!["base".to_string()];
    let third = rendered(&[("base", one(&[cm("z")]))]);
    assert_eq!(
        store.prune_plan(&third, &only_base),
        [cm("moving"), cm("y")]
    );
    store.commit(&third, &only_base);
    assert_eq!(store.all(), one(&[cm("z")]));

    // A failed apply after record_applying: what it may have created is still pruned later.
    store.record_applying("base", &one(&[cm("half")]));
    let retry = rendered(&[("base", one(&[cm("z")]))]);
    assert_eq!(store.prune_plan(&retry, &only_base), [cm("half")]);
}

#[test]
fn the_store_is_one_file_per_context_and_owner_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".devenv");
    let p = InventoryStore::path(&state, "arn:aws:eks:eu-west-1:123:cluster/dev", "alice");
    assert_ne!(
        p,
        InventoryStore::path(&state, "arn:aws:eks:eu-west-1:123:cluster/prod", "alice")
    );
    assert_ne!(
        p,
        InventoryStore::path(&state, "arn:aws:eks:eu-west-1:123:cluster/dev", "bob")
    );
    assert!(p.starts_with(state.join("inventory")));
    assert_eq!(InventoryStore::load(&p).unwrap(), None);

    let mut store = InventoryStore::new("dev", "alice");
    store.record_applying("base", &inv("v1.yaml", "alice"));
    store.save(&p).unwrap();
    assert_eq!(InventoryStore::load(&p).unwrap(), Some(store));

    std::fs::write(
        &p,
        "{\"version\": 99, \"context\": \"\", \"owner\": \"\", \"overlays\": {}}",
    )
    .unwrap();
    assert!(InventoryStore::load(&p)
        .unwrap_err()
        .to_string()
        .contains("version 99"));
    std::fs::write(&p, "not json").unwrap();
    assert!(InventoryStore::load(&p).is_err());
}
