//! The steps of `up` in dependency order, image builds beside the cluster's creation, and
//! a second `up` that changes nothing.

use super::*;

// ---------------------------------------------------------------------------------------
// 1. order

#[test]
fn up_runs_the_steps_in_dependency_order() {
    let sb = Sandbox::new();
    copy_fixture(&sb, "overlays");
    project(&sb, "order", 1, &overlays_toml(""));
    up_ok(&sb);
    // The journal says the run succeeded (`status` and the next `up` read it).
    let j: serde_json::Value = serde_json::from_str(&sb.read(".devenv/state.json")).unwrap();
    assert_eq!(j["last_run"]["outcome"], "success", "{j:#}");
    let calls = sb.calls();
    let registry = first(&calls, "k3d", &["registry", "create"]);
    let cluster = first(&calls, "k3d", &["cluster", "create"]);
    let crds = first(
        &calls,
        "kubectl",
        &["apply", "-f", ".devenv/calico/operator-crds.yaml"],
    );
    let established = first(&calls, "kubectl", &["wait", "--for=condition=Established"]);
    let operator = first(
        &calls,
        "kubectl",
        &["apply", "-f", ".devenv/calico/tigera-operator.yaml"],
    );
    let installation = first(
        &calls,
        "kubectl",
        &["apply", "-f", ".devenv/calico/installation.yaml"],
    );
    let available = first(
        &calls,
        "kubectl",
        &["wait", "--for=condition=Available", "tigerastatus/calico"],
    );
    let nodes = first(
        &calls,
        "kubectl",
        &["wait", "--for=condition=Ready", "nodes", "--all"],
    );
    let apply = |name: &str| {
        calls
            .iter()
            .position(|c| {
                c.tool == "kubectl"
                    && c.has(&["apply"])
                    && c.argv
                        .iter()
                        .any(|a| a.contains(&format!("/rendered/{name}")))
            })
            .unwrap_or_else(|| {
                panic!(
                    "overlay {name} never applied:\n{}",
                    lines(&calls).join("\n")
                )
            })
    };
    let (base, db, app) = (apply("base"), apply("db"), apply("app"));
    let order = [
        registry,
        cluster,
        crds,
        established,
        operator,
        installation,
        available,
        nodes,
        base,
        db,
        app,
    ];
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "steps out of order {order:?}:\n{}",
        lines(&calls).join("\n")
    );
    // Every k3d call runs with plain logs, every kubectl call with devenv's own kubeconfig.
    for c in &calls {
        if c.tool == "k3d" {
            assert_eq!(c.log_colors.as_deref(), Some("false"), "{}", c.line());
        } else if c.tool == "kubectl" && !c.has(&["kustomize"]) && !c.has(&["version", "--client"])
        {
            let kubeconfig = c.argv.iter().skip_while(|a| *a != "--kubeconfig").nth(1);
            assert!(
                kubeconfig.is_some_and(|k| k.ends_with(".devenv/kubeconfig"))
                    && c.has(&["--context", "k3d-order"]),
                "{}",
                c.line()
            );
        }
    }
    let j = journal(&sb);
    for id in [
        "preflight",
        "registry",
        "cluster",
        "calico-crds",
        "calico-ready",
        "overlay:base",
        "overlay:app",
    ] {
        assert_eq!(j["steps"][id]["status"], "done", "{id} in {j:#}");
    }
}

// ---------------------------------------------------------------------------------------
// 1b. image builds overlap the cluster's creation

/// The registry the image test pushes to (a real one, `$DEVENV_TEST_REGISTRY`: scripts/test.sh
/// starts `docker-registry` on a free loopback port). No default port: nothing may assume one.
fn test_registry() -> String {
    std::env::var("DEVENV_TEST_REGISTRY")
        .ok()
        .filter(|s| !s.is_empty())
        .expect("DEVENV_TEST_REGISTRY is not set: run scripts/test.sh (it starts a registry on a free loopback port and sets it), or set it to a registry you started")
}

#[test]
#[ignore = "needs a registry on DEVENV_TEST_REGISTRY (scripts/test.sh starts one)"]
fn image_builds_run_while_the_cluster_is_created() {
    // Realistic durations, scaled down: cluster create 20 s × 0.05 = 1 s, a build 15 s × 0.05.
    let sb = Sandbox::new().with_docker().sleep_scale(0.05);
    let (_, api) = ports(19);
    let registry = test_registry();
    // Content unique to this run: the tag is the content, and a tag already in the shared
    // registry would (rightly) not be built again.
    let nonce = format!(
        "{:?} {}",
        std::time::SystemTime::now(),
        sb.project.display()
    );
    for img in ["api", "worker"] {
        sb.write(
            &format!("{img}/Dockerfile"),
            "FROM scratch\nCOPY nonce.txt /nonce.txt\n",
        );
        sb.write(&format!("{img}/nonce.txt"), &format!("{img} {nonce}\n"));
    }
    sb.write(
        "devenv.toml",
        &format!(
            "version = 1\n[project]\nname = \"overlap\"\n[cluster]\napi_port = {api}\nagents = 1\n\
             [registry]\nprovider = \"external\"\naddress = \"{registry}/devenv-test\"\n\
             [calico]\nmanifests = \"{CALICO}\"\n[verify]\nenabled = false\n\
             [[images]]\nname = \"api\"\ncontext = \"api\"\n[[images]]\nname = \"worker\"\ncontext = \"worker\"\n"
        ),
    );
    let r = run(&sb, &["up"]);
    assert_eq!(r.code, 0, "{r:?}");
    let j = journal(&sb);
    let span = |id: &str| -> (String, String) {
        let s = &j["steps"][id];
        (
            s["started_at"].as_str().unwrap().to_string(),
            s["finished_at"].as_str().unwrap().to_string(),
        )
    };
    // RFC 3339 UTC with the same precision: compare as text.
    let cluster = span("cluster");
    for img in ["image:api", "image:worker"] {
        let b = span(img);
        assert!(
            b.0 < cluster.1 && cluster.0 < b.1,
            "{img} {b:?} did not overlap the cluster {cluster:?}"
        );
    }
    let builds = sb
        .calls()
        .iter()
        .filter(|c| c.tool == "docker" && c.has(&["build"]))
        .count();
    assert_eq!(builds, 2, "{}", lines(&sb.calls()).join("\n"));
    eprintln!(
        "cluster {cluster:?} api {:?} worker {:?}",
        span("image:api"),
        span("image:worker")
    );
    // Every build was pushed and then reused by a second up (no docker command).
    sb.clear_calls();
    up_ok(&sb);
    let calls = sb.calls();
    assert!(
        calls.iter().all(|c| c.tool != "docker"),
        "{}",
        lines(&calls).join("\n")
    );
    assert!(
        sb.mutating_calls().is_empty() && calls.len() <= 6,
        "{}",
        lines(&calls).join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// 2. idempotence

#[test]
fn a_second_up_on_a_healthy_environment_changes_nothing() {
    let sb = Sandbox::new();
    copy_fixture(&sb, "overlays");
    project(&sb, "again", 2, &overlays_toml(""));
    up_ok(&sb);
    sb.clear_calls();
    let r = up_ok(&sb);
    let calls = sb.calls();
    assert!(
        sb.mutating_calls().is_empty(),
        "a second up changed things:\n{}",
        lines(&sb.mutating_calls()).join("\n")
    );
    // Observing: k3d node list, Calico's status and the nodes, and rendering each overlay
    // (3 here: rendering is how devenv knows the manifests are unchanged).
    assert!(
        calls.len() <= 6,
        "{} commands on a healthy environment:\n{}",
        calls.len(),
        lines(&calls).join("\n")
    );
    assert!(r.text.contains("skipped"), "{r:?}");
}
