//! See main.rs. What devenv created is proven by this checkout's ownership id on the
//! containers themselves (a docker label on every k3d node, a volume path on the
//! registry), never by a name in the journal: `down`/`reset` delete, and `up` adopts, only
//! what carries it; `--force` overrides.

use std::time::Duration;

use crate::support::{json, minimal_toml, reserved_port, PortBlock, Run, Sandbox};

/// Host ports of test `n` (registry, API), in the trust tests' block below the ephemeral
/// range: they were 48900+, where an outgoing connection of a busy machine took one (a
/// CI run failed on "port 48944 … is already in use").
pub fn ports(n: u16) -> (u16, u16) {
    (
        reserved_port(PortBlock::Trust, n * 2),
        reserved_port(PortBlock::Trust, n * 2 + 1),
    )
}

/// The devenv.toml of a minimal project (no images, the Calico stand-in, verify off).
pub fn toml(name: &str, n: u16, extra: &str) -> String {
    let (registry, api) = ports(n);
    minimal_toml(name, registry, api, extra)
}

pub fn project(sb: &Sandbox, name: &str, n: u16) {
    sb.write("devenv.toml", &toml(name, n, ""));
}

pub fn run(sb: &Sandbox, args: &[&str]) -> Run {
    Run::of(sb.devenv(args), Duration::from_secs(60))
}

pub fn clusters(sb: &Sandbox) -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_str(&sb.k3d_ok(&["cluster", "list", "-o", "json"])).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

pub fn registries(sb: &Sandbox) -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_str(&sb.k3d_ok(&["registry", "list", "-o", "json"])).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

/// The id in `DIR/.devenv/checkout-id` (its first line; the second names the folder).
fn id_of(sb: &Sandbox, dir: &str) -> String {
    sb.read(format!("{dir}.devenv/checkout-id"))
        .lines()
        .next()
        .unwrap()
        .to_string()
}

fn checkout_id(sb: &Sandbox) -> String {
    id_of(sb, "")
}

/// devenv's create failed (after it had been recorded in the journal), then someone made a
/// cluster of that name: plain `down` leaves it alone and says why; `--force` deletes it.
#[test]
fn down_leaves_a_same_named_cluster_made_after_devenvs_create_failed() {
    let sb = Sandbox::new();
    project(&sb, "own1", 1);
    sb.fault(json!({"tool":"k3d","match":["cluster","create"],"action":"fail","times":1,
        "stderr":"time=\"2026-06-12T09:41:03Z\" level=fatal msg=\"Cluster creation FAILED, all changes have been rolled back!\""}));
    let r = run(&sb, &["up"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(!clusters(&sb).contains(&"own1".to_string()));
    // A colleague's script makes a cluster of the same name.
    let (_, api) = ports(1);
    sb.foreign_cluster("own1", &[], api);
    sb.clear_calls();
    let r = run(&sb, &["down"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.text
            .contains("cluster own1 exists but devenv did not create it")
            && r.text.contains("--force"),
        "{r:?}"
    );
    assert!(clusters(&sb).contains(&"own1".to_string()), "{r:?}");
    assert!(
        !sb.calls().iter().any(|c| c.has(&["cluster", "delete"])),
        "{:?}",
        sb.calls()
    );
    // Its own registry (created before the failed cluster) was deleted: it carries the id.
    assert!(registries(&sb).is_empty(), "{r:?}");
    // `status` does not call it devenv's healthy cluster.
    let s = run(&sb, &["status"]);
    assert_eq!(s.code, 4, "{s:?}");
    assert!(s.text.contains("not created by this checkout"), "{s:?}");
    // `up` does not adopt it either.
    let r = run(&sb, &["up"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.text.contains("devenv did not create it"), "{r:?}");
    // --force overrides.
    let r = run(&sb, &["down", "--force"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!clusters(&sb).contains(&"own1".to_string()), "{r:?}");
}

/// devenv's cluster was deleted behind its back and another checkout of the same project
/// made a new one: `down` here leaves that one alone (it carries the other checkout's id).
#[test]
fn down_leaves_the_cluster_another_checkout_made_after_ours_was_deleted() {
    let sb = Sandbox::new();
    project(&sb, "own2", 2);
    let r = run(&sb, &["up"]);
    assert_eq!(r.code, 0, "{r:?}");
    sb.k3d_ok(&["cluster", "delete", "own2"]);
    // The other checkout: the same devenv.toml in another folder.
    sb.write("other/devenv.toml", &toml("own2", 2, ""));
    let r = run(&sb, &["-f", "other/devenv.toml", "up"]);
    assert_eq!(r.code, 0, "{r:?}");
    let other_id = id_of(&sb, "other/");
    assert_ne!(other_id, checkout_id(&sb));
    sb.clear_calls();
    let r = run(&sb, &["down"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.text.contains("another checkout's label") && r.text.contains(&other_id),
        "{r:?}"
    );
    assert!(clusters(&sb).contains(&"own2".to_string()), "{r:?}");
    // The other checkout's own down deletes it.
    let r = run(&sb, &["-f", "other/devenv.toml", "down"]);
    assert!(!clusters(&sb).contains(&"own2".to_string()), "{r:?}");
}

/// A registry of the same name that someone else made is used, never deleted by `down`.
#[test]
fn down_leaves_a_registry_devenv_did_not_create() {
    let sb = Sandbox::new();
    project(&sb, "own3", 3);
    let (reg, _) = ports(3);
    sb.k3d_ok(&[
        "registry",
        "create",
        "own3-registry",
        "--port",
        &format!("127.0.0.1:{reg}"),
        "--no-help",
    ]);
    let r = run(&sb, &["up"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.text.contains("not created by this checkout"), "{r:?}");
    let r = run(&sb, &["down"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.text
            .contains("registry k3d-own3-registry exists but devenv did not create it"),
        "{r:?}"
    );
    assert_eq!(registries(&sb), ["k3d-own3-registry"], "{r:?}");
    assert!(
        clusters(&sb).is_empty(),
        "its own cluster is deleted: {r:?}"
    );
}

/// The id is where `k3d` shows it: a label on every node in `k3d node list -o json` and
/// `k3d cluster list -o json`, a volume of the registry; `.devenv/` is ignored by git.
#[test]
fn the_ownership_id_is_on_every_container_devenv_created() {
    let sb = Sandbox::new();
    project(&sb, "own4", 4);
    let r = run(&sb, &["up"]);
    assert_eq!(r.code, 0, "{r:?}");
    let id = checkout_id(&sb);
    assert_eq!(id.len(), 32, "{id}");
    assert_eq!(sb.read(".devenv/.gitignore").lines().last(), Some("*"));
    let nodes: serde_json::Value =
        serde_json::from_str(&sb.k3d_ok(&["node", "list", "-o", "json"])).unwrap();
    let mut seen = 0;
    for n in nodes.as_array().unwrap() {
        if n["role"] == "registry" {
            assert!(
                n["volumes"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(format!("/devenv/owner/{id}"))),
                "{n}"
            );
        } else {
            assert_eq!(n["runtimeLabels"]["k3d-devenv.owner"], json!(id), "{n}");
            seen += 1;
        }
    }
    assert_eq!(seen, 3, "server, agent, serverlb: {nodes}");
    let list = sb.k3d_ok(&["cluster", "list", "own4", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(
        list[0]["serverLoadBalancer"]["runtimeLabels"]["k3d-devenv.owner"],
        json!(id)
    );
}

/// The fake k3d labels nodes as the real one does: reserved keys are refused with k3d's
/// message, and `node list` shows only keys starting with `k3d`.
#[test]
fn fake_k3d_runtime_labels_follow_k3d() {
    let sb = Sandbox::new();
    let o = sb.k3d(&[
        "cluster",
        "create",
        "lbl",
        "--runtime-label",
        "k3d.owner=x@all",
        "--kubeconfig-update-default=false",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("runtime label \\\"k3d.owner\\\" is reserved for internal usage"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = sb.k3d(&[
        "cluster",
        "create",
        "lbl",
        "--runtime-label",
        "team=x",
        "--kubeconfig-update-default=false",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(
            "RuntimeLabelmapping 'team=x' lacks a node filter, but there's more than one node"
        ),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    sb.k3d_ok(&[
        "cluster",
        "create",
        "lbl",
        "--runtime-label",
        "team=x@server:0",
        "--runtime-label",
        "k3dteam=y@server:0",
        "--kubeconfig-update-default=false",
    ]);
    let nodes: serde_json::Value =
        serde_json::from_str(&sb.k3d_ok(&["node", "list", "k3d-lbl-server-0", "-o", "json"]))
            .unwrap();
    let labels = &nodes[0]["runtimeLabels"];
    assert_eq!(labels["k3dteam"], json!("y"), "{labels}");
    assert!(labels.get("team").is_none(), "{labels}");
}

/// `reset` deletes through the same check: a same-named cluster of someone else's stops it
/// before anything is deleted or created.
#[test]
fn reset_leaves_a_cluster_devenv_did_not_create() {
    let sb = Sandbox::new();
    project(&sb, "own5", 5);
    let (_, api) = ports(5);
    sb.foreign_cluster("own5", &[], api);
    sb.clear_calls();
    let r = run(&sb, &["reset", "--yes"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.text
            .contains("cluster own5 exists but devenv did not create it"),
        "{r:?}"
    );
    assert!(clusters(&sb).contains(&"own5".to_string()));
    assert!(
        !sb.calls()
            .iter()
            .any(|c| c.has(&["cluster", "delete"]) || c.has(&["cluster", "create"])),
        "{:?}",
        sb.calls()
    );
}

/// A copy of the project with its `.devenv/` (`cp -r`) is another checkout: it gets its own
/// id, so the original's `down` leaves the cluster the copy made.
#[test]
fn a_copied_checkout_is_another_owner() {
    let sb = Sandbox::new();
    project(&sb, "own6", 6);
    let r = run(&sb, &["up"]);
    assert_eq!(r.code, 0, "{r:?}");
    let id = checkout_id(&sb);
    sb.k3d_ok(&["cluster", "delete", "own6"]);
    let copy = sb.root.path().join("copy");
    let out = std::process::Command::new("cp")
        .arg("-r")
        .arg(&sb.project)
        .arg(&copy)
        .output()
        .unwrap();
    assert!(out.status.success());
    let r = run(
        &sb,
        &["-f", copy.join("devenv.toml").to_str().unwrap(), "up"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.text.contains("copied or moved from"), "{r:?}");
    let copy_id = std::fs::read_to_string(copy.join(".devenv/checkout-id")).unwrap();
    let copy_id = copy_id.lines().next().unwrap();
    assert_ne!(copy_id, id);
    assert_eq!(checkout_id(&sb), id, "the original keeps its id");
    let r = run(&sb, &["down"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(clusters(&sb).contains(&"own6".to_string()), "{r:?}");
}
