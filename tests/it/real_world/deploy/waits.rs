//! 7. Terminating namespaces: down waits for them, so the next up can create content; custom
//! resources wait until their CRD is Established.

use super::*;

// ---------------------------------------------------------------------------------------
// 7. Terminating namespaces: down waits for them, so the next up can create content

/// A shared cluster `shared` with Calico up (as an admin would have it), for
/// `provider = "existing"`.
fn shared_cluster(sb: &Sandbox) {
    sb.k3d_ok(&["cluster", "create", "shared", "--agents", "1"]);
    let k = |args: &[&str]| {
        let mut all = vec!["--context", "k3d-shared"];
        all.extend_from_slice(args);
        sb.kubectl_ok(&all);
    };
    k(&[
        "apply",
        "--server-side",
        "-f",
        &format!("{CALICO}/operator-crds.yaml"),
    ]);
    k(&[
        "wait",
        "--for=condition=Established",
        "--timeout=300s",
        "crd/installations.operator.tigera.io",
    ]);
    k(&[
        "apply",
        "--server-side",
        "-f",
        &format!("{CALICO}/tigera-operator.yaml"),
    ]);
    k(&[
        "-n",
        "tigera-operator",
        "rollout",
        "status",
        "deployment/tigera-operator",
        "--timeout=300s",
    ]);
    let installation = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/calico-installation-k3d.yaml"
    );
    k(&["apply", "--server-side", "-f", installation]);
    k(&[
        "wait",
        "--for=create",
        "--timeout=300s",
        "tigerastatus/calico",
    ]);
    k(&[
        "wait",
        "--for=condition=Available",
        "--timeout=300s",
        "tigerastatus/calico",
    ]);
    let calico_node = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/existing/cluster/calico-node.yaml"
    );
    k(&["apply", "--server-side", "-f", calico_node]);
    sb.clear_calls();
}

#[test]
fn down_waits_for_its_namespaces_to_terminate_so_up_can_follow() {
    // A namespace takes 3 s to terminate (on a real cluster: seconds to minutes); kubectl's
    // waits time out on the simulated clock (× 0.05), long enough to see it go.
    let sb = Sandbox::new()
        .sleep_scale(0.05)
        .env("DEVENV_FAKE_NAMESPACE_TERMINATION_MS", "3000");
    shared_cluster(&sb);
    sb.write(
        "devenv.toml",
        "version = 1\n\n[project]\nname = \"shop\"\n\n[cluster]\nprovider = \"existing\"\ncontext = \"k3d-shared\"\n\n\
         [registry]\nprovider = \"external\"\naddress = \"registry.example.test/team\"\n\n[verify]\nenabled = false\n\n\
         [[overlays]]\nname = \"app\"\npath = \"k8s/app\"\ntimeout = \"20s\"\n",
    );
    overlay(&sb, &[("migrate.yaml", &job("migrate", "1", ""))]);
    let owner = [("DEVENV_OWNER", "alice")];
    let dev = |args: &[&str]| {
        let mut cmd = sb.devenv(args);
        cmd.envs(owner);
        Run::of(cmd, Duration::from_secs(60))
    };
    let r = dev(&["up"]);
    assert_eq!(r.code, 0, "{r:?}");
    let r = dev(&["down"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.text.contains("to finish terminating"), "{r:?}");
    // Gone, not Terminating.
    let ns = sb.kubectl_ok(&["--context", "k3d-shared", "get", "namespaces", "-o", "name"]);
    assert!(!ns.contains("shop-alice"), "{ns}");
    let r = dev(&["up"]);
    assert_eq!(r.code, 0, "up right after down: {r:?}");
    assert!(!r.text.contains("being terminated"), "{r:?}");
    // reset: the same delete, then up at once.
    let r = dev(&["reset", "--yes"]);
    assert_eq!(r.code, 0, "reset on an existing cluster: {r:?}");
    assert!(r.text.contains("to finish terminating"), "{r:?}");
}

// ---------------------------------------------------------------------------------------
// CRDs are not Established at once: an overlay's custom resources wait for their CRD

#[test]
fn custom_resources_are_applied_only_once_their_crd_is_established() {
    // The CRD takes a real second to be Established (the API serves its kind only then);
    // kubectl's waits run on a clock × 0.01 (5 minutes → 3 s).
    let sb = Sandbox::new()
        .sleep_scale(0.01)
        .env("DEVENV_FAKE_CRD_ESTABLISH_MS", "1000");
    project(&sb, "crds", "\"auto\"");
    overlay(
        &sb,
        &[
            (
                "crd.yaml",
                "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {kind: Widget, plural: widgets, singular: widget}\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}\n",
            ),
            (
                "widget.yaml",
                "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: 3\n",
            ),
        ],
    );
    let r = up_ok(&sb, LIMIT);
    let calls = sb.calls();
    let established = calls
        .iter()
        .position(|c| {
            c.has(&[
                "wait",
                "--for=condition=Established",
                "crd/widgets.example.com",
            ])
        })
        .unwrap_or_else(|| panic!("no Established wait:\n{}\n{r:?}", lines(&calls)));
    let applied = calls
        .iter()
        .position(|c| c.has(&["apply"]) && c.line().contains("app.apply.yaml"))
        .expect("the overlay is applied");
    assert!(established < applied, "{}", lines(&calls));
    let w = get_json(&sb, "crds", &["widgets", "w", "-n", "shop"]);
    assert_eq!(w["spec"]["size"], 3);
}
