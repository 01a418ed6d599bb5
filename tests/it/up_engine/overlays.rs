//! `apply`: overlays in dependency order, CRDs first, readable timeouts, no-op re-apply.

use super::*;

// ---------------------------------------------------------------------------------------
// 11. apply: overlays in order, CRDs first, readable timeouts, no-op re-apply

fn overlay_project(sb: &Sandbox, name: &str, n: u16) -> u16 {
    copy_fixture(sb, "overlays");
    let (registry, _) = ports(n);
    // An image only the local registry could serve, and the registry does not have it.
    sb.write(
        "k8s/broken/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: shop\nresources:\n  - worker.yaml\n",
    );
    sb.write(
        "k8s/broken/worker.yaml",
        &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: worker\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: worker}}\n  \
             template:\n    metadata:\n      labels: {{app: worker}}\n    spec:\n      containers:\n        - name: worker\n          image: localhost:{registry}/worker:never-pushed\n"
        ),
    );
    let extra = overlays_toml("")
        + "\n[[overlays]]\nname = \"widgets\"\npath = \"k8s/widgets\"\ndepends_on = [\"base\"]\n\
           \n[[overlays]]\nname = \"broken\"\npath = \"k8s/broken\"\ndepends_on = [\"base\"]\ntimeout = \"2s\"\n";
    project(sb, name, n, &extra);
    registry
}

#[test]
fn apply_runs_an_overlay_after_what_it_depends_on_and_applies_it_even_unchanged() {
    let sb = Sandbox::new();
    overlay_project(&sb, "apply", 16);
    let r = run(&sb, &["apply", "app"]);
    assert_eq!(r.code, 0, "{r:?}");
    let calls = sb.calls();
    let applied: Vec<String> = calls.iter().filter_map(applied_overlay).collect();
    assert_eq!(
        applied,
        ["base", "db", "app"],
        "{}",
        lines(&calls).join("\n")
    );
    // Each overlay is applied only after the previous one is ready.
    let web_ready = first(&calls, "kubectl", &["rollout", "status", "deployment/web"]);
    let migrated = first(
        &calls,
        "kubectl",
        &["wait", "--for=condition=Complete", "job/migrate"],
    );
    let app_applied = calls
        .iter()
        .position(|c| applied_overlay(c).as_deref() == Some("app"))
        .unwrap();
    assert!(
        web_ready < migrated && migrated < app_applied,
        "{}",
        lines(&calls).join("\n")
    );
    let deploy = sb.kubectl_ok(&[
        "--kubeconfig",
        ".devenv/kubeconfig",
        "--context",
        "k3d-apply",
        "-n",
        "shop",
        "get",
        "deployment",
        "api",
        "-o",
        "json",
    ]);
    assert!(deploy.contains("\"name\": \"api\""), "{deploy}");

    // Unchanged rendered manifests: the overlay named is applied again all the same (what
    // someone changed by hand on the cluster is put back), what it depends on is not.
    sb.clear_calls();
    let r = run(&sb, &["apply", "app"]);
    assert_eq!(r.code, 0, "{r:?}");
    let calls = sb.calls();
    let applied: Vec<String> = calls.iter().filter_map(applied_overlay).collect();
    assert_eq!(applied, ["app"], "{}", lines(&calls).join("\n"));
    assert!(
        count(&calls, "kubectl", &["kustomize"]) >= 3,
        "overlays are rendered to see whether they changed"
    );

    // A change in one overlay re-applies that one only.
    let api = sb
        .read("k8s/app/api.yaml")
        .replace("replicas: 1", "replicas: 2");
    sb.write("k8s/app/api.yaml", &api);
    sb.clear_calls();
    let r = run(&sb, &["apply", "app"]);
    assert_eq!(r.code, 0, "{r:?}");
    let applied: Vec<String> = sb.calls().iter().filter_map(applied_overlay).collect();
    assert_eq!(applied, ["app"]);
}

#[test]
fn apply_puts_crds_in_place_before_the_resources_that_use_them() {
    let sb = Sandbox::new();
    overlay_project(&sb, "crd", 17);
    let r = run(&sb, &["apply", "widgets"]);
    assert_eq!(r.code, 0, "{r:?}");
    let calls = sb.calls();
    let crd_apply = calls
        .iter()
        .position(|c| {
            c.is_mutating()
                && c.argv
                    .iter()
                    .any(|a| a.contains("/rendered/widgets") && a.contains("crd"))
        })
        .unwrap_or_else(|| panic!("no separate CRD apply:\n{}", lines(&calls).join("\n")));
    let established = first(
        &calls,
        "kubectl",
        &[
            "wait",
            "--for=condition=Established",
            "crd/widgets.example.com",
        ],
    );
    let rest = calls
        .iter()
        .rposition(|c| applied_overlay(c).as_deref() == Some("widgets"))
        .unwrap();
    assert!(
        crd_apply < established && established < rest,
        "{}",
        lines(&calls).join("\n")
    );
    let widget = sb.kubectl_ok(&[
        "--kubeconfig",
        ".devenv/kubeconfig",
        "--context",
        "k3d-crd",
        "-n",
        "shop",
        "get",
        "widget",
        "gizmo",
        "-o",
        "json",
    ]);
    assert!(widget.contains("\"size\": 3"), "{widget}");
    // Other overlays were not asked for.
    assert!(calls
        .iter()
        .filter_map(applied_overlay)
        .all(|o| o == "base" || o == "widgets"));
}

#[test]
fn an_overlay_that_never_gets_ready_names_the_object() {
    let sb = Sandbox::new();
    overlay_project(&sb, "stuck", 18);
    sb.pushed(&[]); // the local registry holds nothing
    let started = Instant::now();
    let r = run(&sb, &["apply", "broken"]);
    assert_eq!(r.code, 1, "{r:?}");
    let text = r.text.clone();
    assert!(
        text.contains("overlay:broken") || text.contains("overlay broken"),
        "{r:?}"
    );
    assert!(
        text.contains("deployment/worker"),
        "the unready object is not named: {r:?}"
    );
    assert!(text.contains("not ready"), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    let j = journal(&sb);
    assert_eq!(j["steps"]["overlay:broken"]["status"], "failed", "{j:#}");
    assert_eq!(j["steps"]["overlay:base"]["status"], "done", "{j:#}");
}
