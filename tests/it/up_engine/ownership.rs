//! `down` deletes only what devenv created; `up` never takes over a cluster it did not create.

use super::*;

// ---------------------------------------------------------------------------------------
// 5. down deletes only what devenv created

#[test]
fn down_deletes_what_up_created() {
    let sb = Sandbox::new();
    project(&sb, "gone", 6, "");
    up_ok(&sb);
    assert_eq!(world_has(&sb, "gone", "k3d-gone-registry"), (true, true));
    sb.clear_calls();
    let r = run(&sb, &["down"]);
    assert_eq!(r.code, 0, "{r:?}");
    let calls = sb.calls();
    assert_eq!(
        count(&calls, "k3d", &["cluster", "delete", "gone"]),
        1,
        "{}",
        lines(&calls).join("\n")
    );
    assert_eq!(
        count(&calls, "k3d", &["registry", "delete", "k3d-gone-registry"]),
        1,
        "{}",
        lines(&calls).join("\n")
    );
    assert_eq!(world_has(&sb, "gone", "k3d-gone-registry"), (false, false));
    assert!(
        !sb.path(".devenv/kubeconfig").exists(),
        "devenv's kubeconfig outlived its cluster"
    );
    // A second down has nothing to do and says so.
    let r = run(&sb, &["down"]);
    assert_eq!(r.code, 0, "{r:?}");
    // And up starts from scratch.
    sb.clear_calls();
    up_ok(&sb);
    assert_eq!(count(&sb.calls(), "k3d", CLU), 1);
}

#[test]
fn down_leaves_a_cluster_and_registry_it_did_not_create_unless_forced() {
    let sb = Sandbox::new();
    let (registry_port, api) = ports(7);
    project(&sb, "theirs", 7, "");
    // Someone else's cluster and registry with the names devenv would use.
    sb.k3d_ok(&[
        "registry",
        "create",
        "theirs-registry",
        "--port",
        &format!("127.0.0.1:{registry_port}"),
        "--no-help",
    ]);
    sb.foreign_cluster("theirs", &["--agents", "1"], api);
    sb.clear_calls();
    let r = run(&sb, &["down"]);
    assert_eq!(r.code, 1, "{r:?}");
    let text = r.text.clone();
    assert!(
        text.contains("cluster theirs") && text.contains("did not create"),
        "{r:?}"
    );
    assert!(text.contains("k3d-theirs-registry"), "{r:?}");
    assert!(
        text.contains("--force"),
        "the message should say how to delete anyway: {r:?}"
    );
    assert!(
        sb.mutating_calls().is_empty(),
        "down deleted something it did not create:\n{}",
        lines(&sb.mutating_calls()).join("\n")
    );
    assert_eq!(
        world_has(&sb, "theirs", "k3d-theirs-registry"),
        (true, true)
    );

    let r = run(&sb, &["down", "--force"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        world_has(&sb, "theirs", "k3d-theirs-registry"),
        (false, false)
    );
}

// ---------------------------------------------------------------------------------------
// up never takes over a cluster it did not create

#[test]
fn up_refuses_a_same_named_cluster_it_did_not_create() {
    let sb = Sandbox::new();
    let (_, api) = ports(40);
    project(&sb, "foreign", 40, "");
    sb.foreign_cluster("foreign", &[], api);
    sb.clear_calls();
    let r = run(&sb, &["up"]);
    assert_eq!(r.code, 1, "{r:?}");
    let text = r.text.clone();
    assert!(
        text.contains("devenv did not create it") && text.contains("project.name"),
        "{r:?}"
    );
    // Nothing was installed into it, and it is still there.
    assert!(
        !sb.calls()
            .iter()
            .any(|c| c.tool == "kubectl" && c.has(&["apply"])),
        "{:?}",
        sb.calls()
    );
    assert!(sb
        .k3d_ok(&["cluster", "list", "-o", "json"])
        .contains("\"foreign\""));
}
