//! Changes that need the cluster recreated, `reset`, `build`, a cluster deleted behind devenv's back.

use super::*;

// ---------------------------------------------------------------------------------------
// 10. changes that need the cluster recreated

fn agents_in_world(sb: &Sandbox, cluster: &str) -> usize {
    let nodes: serde_json::Value =
        serde_json::from_str(&sb.k3d_ok(&["node", "list", "-o", "json"])).unwrap();
    nodes
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["role"] == "agent" && n["runtimeLabels"]["k3d.cluster"] == cluster)
        .count()
}

#[test]
fn a_change_that_needs_a_new_cluster_asks_for_recreate() {
    let sb = Sandbox::new();
    project(&sb, "recreate", 15, "");
    let toml = sb.read("devenv.toml");
    sb.write("devenv.toml", &toml.replace("agents = 1\n", "agents = 2\n"));
    up_ok(&sb);
    assert_eq!(agents_in_world(&sb, "recreate"), 2);

    sb.write("devenv.toml", &toml);
    sb.clear_calls();
    for attempt in 0..2 {
        // Not a terminal: no question, an error naming the flag (the second time too).
        let r = run(&sb, &["up"]);
        assert_eq!(r.code, 1, "attempt {attempt}: {r:?}");
        let text = r.text.clone();
        assert!(
            text.contains("agents: 2 -> 1"),
            "attempt {attempt}: the diff is not shown: {r:?}"
        );
        assert!(text.contains("--recreate"), "attempt {attempt}: {r:?}");
        assert!(
            sb.mutating_calls().is_empty(),
            "attempt {attempt}: {:?}",
            lines(&sb.mutating_calls())
        );
        assert_eq!(agents_in_world(&sb, "recreate"), 2);
    }

    let r = run(&sb, &["up", "--recreate"]);
    assert_eq!(r.code, 0, "{r:?}");
    let calls = sb.calls();
    let delete = first(&calls, "k3d", &["cluster", "delete", "recreate"]);
    let create = first(&calls, "k3d", CLU);
    assert!(delete < create, "{}", lines(&calls).join("\n"));
    assert_eq!(
        count(&calls, "k3d", REG),
        0,
        "the registry does not depend on the cluster"
    );
    // Calico goes into the new cluster.
    assert!(first(&calls, "kubectl", CRDS) > create);
    assert_eq!(agents_in_world(&sb, "recreate"), 1);
    // And the new spec is remembered: the next up has nothing to do.
    sb.clear_calls();
    up_ok(&sb);
    assert!(
        sb.mutating_calls().is_empty(),
        "{:?}",
        lines(&sb.mutating_calls())
    );
}

// ---------------------------------------------------------------------------------------
// reset and build

#[test]
fn reset_asks_without_a_terminal_and_rebuilds_with_yes() {
    let sb = Sandbox::new();
    project(&sb, "again2", 20, "");
    up_ok(&sb);
    sb.clear_calls();
    let r = run(&sb, &["reset"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.text.contains("--yes"), "{r:?}");
    assert!(
        sb.mutating_calls().is_empty(),
        "{:?}",
        lines(&sb.mutating_calls())
    );

    let r = run(&sb, &["reset", "--yes"]);
    assert_eq!(r.code, 0, "{r:?}");
    let calls = sb.calls();
    let order = [
        first(&calls, "k3d", &["cluster", "delete", "again2"]),
        first(
            &calls,
            "k3d",
            &["registry", "delete", "k3d-again2-registry"],
        ),
        first(&calls, "k3d", REG),
        first(&calls, "k3d", CLU),
        first(&calls, "kubectl", CRDS),
    ];
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "{}",
        lines(&calls).join("\n")
    );
    assert_eq!(
        world_has(&sb, "again2", "k3d-again2-registry"),
        (true, true)
    );
}

#[test]
fn build_refuses_an_unknown_image() {
    let sb = Sandbox::new();
    project(&sb, "bld", 21, "");
    let r = run(&sb, &["build", "nope"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.text.contains("nope") && r.text.contains("(none)"),
        "{r:?}"
    );
    assert!(sb.calls().is_empty(), "{:?}", lines(&sb.calls()));
    let r = run(&sb, &["apply", "nope"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(sb.calls().is_empty(), "{:?}", lines(&sb.calls()));
}

#[test]
fn up_rebuilds_a_cluster_deleted_behind_its_back() {
    let sb = Sandbox::new();
    copy_fixture(&sb, "overlays");
    project(
        &sb,
        "heal",
        22,
        "\n[[overlays]]\nname = \"base\"\npath = \"k8s/base\"\n",
    );
    up_ok(&sb);
    sb.k3d_ok(&["cluster", "delete", "heal"]);
    sb.clear_calls();
    let r = up_ok(&sb);
    assert!(
        r.text.contains("gone"),
        "the user should hear why the cluster is created again: {r:?}"
    );
    let calls = sb.calls();
    assert_eq!(count(&calls, "k3d", REG), 0, "{}", lines(&calls).join("\n"));
    // Everything that lived in the old cluster is installed into the new one, in order.
    let order = [
        first(&calls, "k3d", CLU),
        first(&calls, "kubectl", CRDS),
        first(&calls, "kubectl", OPER),
        first(&calls, "kubectl", INST),
        calls
            .iter()
            .position(|c| applied_overlay(c).as_deref() == Some("base"))
            .expect("overlay base re-applied"),
    ];
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "{}",
        lines(&calls).join("\n")
    );
    let r = run(&sb, &["status"]);
    assert_eq!(r.code, 0, "{r:?}");
}
