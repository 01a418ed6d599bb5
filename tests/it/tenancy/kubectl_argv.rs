//! The kubectl argvs of tenancy, parsed by the real kubectl.

use super::*;
use devenv::kube::KubeTarget;

// ---------------------------------------------------------------------------------------
// kubectl argvs

#[test]
fn delete_argvs_have_the_documented_shape() {
    let k = KubeTarget {
        kubeconfig: None,
        context: "team-dev".into(),
    };
    assert_eq!(
        k.delete_argv(&oref("apps/v1", "Deployment", Some("shop-alice"), "api")),
        [
            "kubectl",
            "--context",
            "team-dev",
            "delete",
            "Deployment.apps",
            "api",
            "-n",
            "shop-alice",
            "--ignore-not-found",
            "--wait=false"
        ]
    );
    assert_eq!(
        k.delete_argv(&oref("v1", "Namespace", None, "shop-alice")),
        [
            "kubectl",
            "--context",
            "team-dev",
            "delete",
            "Namespace",
            "shop-alice",
            "--ignore-not-found",
            "--wait=false"
        ]
    );
    let mut with_config = k.clone();
    with_config.kubeconfig = Some(".devenv/kubeconfig".into());
    assert_eq!(
        with_config.argv(&["get", "ns"])[..5],
        [
            "kubectl",
            "--kubeconfig",
            ".devenv/kubeconfig",
            "--context",
            "team-dev"
        ]
    );

    let all = prune_set(&inv("v1.yaml", "alice"), &Inventory::default());
    let batches = k.delete_batches(&all);
    // default-alice, shop-alice (namespaced), then the Namespace, then the CRD.
    assert_eq!(batches.len(), 4, "{batches:#?}");
    assert_eq!(
        batches[0][4..],
        [
            "ConfigMap/app-config-kc47f85tf5",
            "ConfigMap/banner",
            "-n",
            "default-alice",
            "--ignore-not-found",
            "--wait=false"
        ]
    );
    assert!(batches[1].contains(&"Widget.example.com/blue".to_string()));
    assert!(batches[1].contains(&"RoleBinding.rbac.authorization.k8s.io/api-reader".to_string()));
    assert_eq!(batches[2][4], "Namespace/shop-alice");
    assert_eq!(
        batches[3][4],
        "CustomResourceDefinition.apiextensions.k8s.io/widgets.example.com"
    );
    let objects: usize = batches
        .iter()
        .map(|b| b.iter().filter(|a| a.contains('/')).count())
        .sum();
    assert_eq!(objects, all.len());
}

#[test]
fn label_selector_and_api_resources() {
    assert_eq!(
        label_selector("shop", "alice"),
        "app.kubernetes.io/managed-by=devenv,devenv.dev/project=shop,devenv.dev/owner=alice"
    );
    let out = "configmaps\nendpoints\nevents\npods\nsecrets\ndeployments.apps\nevents.events.k8s.io\nwidgets.example.com\n";
    assert_eq!(
        parse_api_resources(out),
        [
            "configmaps",
            "endpoints",
            "secrets",
            "deployments.apps",
            "widgets.example.com"
        ]
    );
}

/// The real kubectl, with a kubeconfig whose only server (https://127.0.0.1:1) refuses
/// connections and a token user: every argv must get past flag parsing and fail only for
/// want of a server.
#[test]
fn every_argv_passes_the_real_kubectls_flag_parsing() {
    let Some(kubectl) = real_kubectl() else {
        panic!("no kubectl: install it (it is on every machine of the project, and .ci/run installs one)");
    };
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n    insecure-skip-tls-verify: true\ncontexts:\n- name: team-dev\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    token: not-a-real-token\n",
    )
    .unwrap();
    let k = KubeTarget {
        kubeconfig: None,
        context: "team-dev".into(),
    };
    let all = prune_set(&inv("v1.yaml", "alice"), &Inventory::default());
    let mut argvs: Vec<Vec<String>> = all.iter().map(|r| k.delete_argv(r)).collect();
    argvs.extend(k.delete_batches(&all));
    argvs.extend(k.get_batches(&all));
    let selector = label_selector("shop", "alice");
    argvs.push(k.delete_by_label_argv(
        &[
            "configmaps".into(),
            "deployments.apps".into(),
            "widgets.example.com".into(),
        ],
        &selector,
    ));
    argvs.push(k.delete_namespaces_by_label_argv(&selector));
    argvs.push(k.api_resources_argv());
    argvs.push(k.get_namespace_argv("shop-alice"));

    let run = |argv: &[String]| {
        let out = Command::new(&kubectl)
            .args(&argv[1..])
            .env("KUBECONFIG", &kubeconfig)
            .env("HOME", dir.path())
            .env_remove("KUBECTL_APPLYSET")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for argv in &argvs {
        let (code, stderr) = run(argv);
        assert_ne!(code, Some(0), "{argv:?} succeeded without a server?");
        assert!(
            stderr.contains("127.0.0.1:1") && stderr.contains("refused"),
            "{argv:?} failed for another reason:\n{stderr}"
        );
    }
    // The check tells a parse error apart: a bad flag never reaches the server.
    let (_, stderr) = run(&k.argv(&["delete", "configmap", "x", "--no-such-flag"]));
    assert!(
        stderr.contains("unknown flag") && !stderr.contains("refused"),
        "{stderr}"
    );
}

fn real_kubectl() -> Option<PathBuf> {
    let usr = PathBuf::from("/usr/bin/kubectl");
    if usr.is_file() {
        return Some(usr);
    }
    which::which("kubectl").ok()
}
