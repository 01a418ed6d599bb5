//! `status` reads the shared cluster's health; `build` needs no cluster.

use super::*;

// ---------------------------------------------------------------------------------------
// 6. status and build

#[test]
fn status_reports_the_shared_clusters_health() {
    let t = team();
    // Before any up: the nodes answer, the overlay is not applied yet.
    let r = dev(&t.sb, &t.alice, "alice", &["status"]);
    assert_eq!(r.code, 4, "{r:?}");
    only_shared_context(&r);
    assert!(r.stdout.contains("not applied yet"), "{r:?}");

    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    let r = dev_ok(&t.sb, &t.alice, "alice", &["status", "-o", "json"]);
    only_shared_context(&r);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"));
    assert_eq!(doc["healthy"], true, "{doc:#}");
    assert_eq!(
        doc["context"], SHARED,
        "status must report the context it read: {doc:#}"
    );
    let comps = doc["components"].as_array().unwrap();
    let comp = |c: &str| {
        comps
            .iter()
            .find(|x| x["component"] == c)
            .unwrap_or_else(|| panic!("no {c} in {doc:#}"))
    };
    assert_eq!(comp("nodes")["name"], "2 nodes", "{doc:#}");
    assert_eq!(comp("nodes")["healthy"], true);
    assert_eq!(comp("overlay")["name"], "app");
    assert_eq!(comp("overlay")["healthy"], true);
    for c in comps {
        assert!(
            c["component"] != "cluster" && c["component"] != "registry" && c["component"] != "k3d",
            "a k3d component on an existing cluster: {c}"
        );
    }
    // Text output: one line per component.
    let r = dev_ok(&t.sb, &t.alice, "alice", &["status"]);
    assert!(
        r.stdout.contains("nodes") && r.stdout.contains("all Ready"),
        "{r:?}"
    );

    // A node goes NotReady (Calico's installation removed): status says unhealthy, exit 4.
    admin(
        &t.sb,
        &["delete", "installation.operator.tigera.io", "default"],
    );
    let r = dev(&t.sb, &t.alice, "alice", &["status"]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stdout.contains("UNHEALTHY"), "{r:?}");
}

#[test]
fn build_with_an_external_registry_needs_no_cluster_and_status_sees_the_image() {
    let t = team();
    let reg = start_registry();
    let toml = devenv_toml(CLUSTER_KEYS, "\n[[images]]\nname = \"api\"\ncontext = \"api\"\nstands_for = \"ghcr.io/example/shop-api\"\n")
        .replace("registry.example.test/team", &format!("{}/team", reg.addr));
    std::fs::write(t.alice.join("devenv.toml"), toml).unwrap();
    std::fs::create_dir_all(t.alice.join("api")).unwrap();
    std::fs::write(
        t.alice.join("api/Dockerfile"),
        "FROM scratch\nCOPY app.txt /\n",
    )
    .unwrap();
    std::fs::write(t.alice.join("api/app.txt"), "v1\n").unwrap();

    let r = dev_ok(&t.sb, &t.alice, "alice", &["build"]);
    let to_cluster: Vec<String> = r
        .calls
        .iter()
        .filter(|c| talks_to_cluster(c))
        .map(Call::line)
        .collect();
    assert!(
        to_cluster.is_empty(),
        "build asked the cluster: {to_cluster:#?}"
    );
    assert!(r.calls.iter().all(|c| c.tool != "k3d"), "{r:?}");
    let pushed: Vec<&Call> = r
        .calls
        .iter()
        .filter(|c| c.tool == "docker" && c.has(&["push"]))
        .collect();
    assert_eq!(pushed.len(), 1, "{r:?}");
    let reference = pushed[0].argv.last().unwrap().clone();
    assert!(
        reference.starts_with(&format!("{}/team/api:", reg.addr)),
        "{reference}"
    );

    // A teammate's checkout with the same sources finds the tag and builds nothing.
    let bob_toml = std::fs::read_to_string(t.alice.join("devenv.toml")).unwrap();
    std::fs::write(t.bob.join("devenv.toml"), bob_toml).unwrap();
    copy_dir(&t.alice.join("api"), &t.bob.join("api"));
    let r = dev_ok(&t.sb, &t.bob, "bob", &["build"]);
    assert!(
        r.calls
            .iter()
            .all(|c| c.tool != "docker" || c.has(&["version"])),
        "bob rebuilt: {r:?}"
    );

    // status reads the registry for the image, and the shared cluster for the rest.
    let r = dev(&t.sb, &t.alice, "alice", &["status", "-o", "json"]);
    only_shared_context(&r);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"));
    let image = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "image")
        .cloned()
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(image["healthy"], true, "{doc:#}");
    assert!(
        image["detail"].as_str().unwrap().contains(&reference),
        "{doc:#}"
    );
    assert_eq!(
        doc["registry"]["host"],
        format!("{}/team", reg.addr),
        "{doc:#}"
    );

    // up deploys the pushed reference (the registry's address, not localhost).
    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    let rendered =
        std::fs::read_to_string(t.alice.join(".devenv/rendered/app.yaml")).unwrap_or_default();
    assert!(!rendered.contains("localhost:"), "{rendered}");
}
