//! A local chart (from `helm create`) with a values-dev.yaml and `set`, and an overlay that
//! depends on it.

use super::*;
use crate::support::helm::helm3;

fn local_project(sb: &Sandbox, name: &str, n: u16) {
    create_chart(sb, "deploy", "web");
    sb.write(
        "deploy/web/values-dev.yaml",
        "replicaCount: 2\nservice:\n  port: 8080\npodLabels:\n  tier: from-values-dev\n",
    );
    sb.write(
        "k8s/app/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - cm.yaml\n",
    );
    sb.write(
        "k8s/app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-settings\n  namespace: shop\ndata:\n  web: http://web.shop:8080\n",
    );
    // The overlay is declared first: its dependency still goes first.
    let extra = "\n[[overlays]]\nname = \"app\"\npath = \"k8s/app\"\ndepends_on = [\"web\"]\n\
                 \n[[charts]]\nname = \"web\"\nchart = \"deploy/web\"\nnamespace = \"shop\"\n\
                 values = [\"deploy/web/values-dev.yaml\"]\n\
                 set = { \"service.port\" = 9090, \"podLabels.owner\" = \"set\" }\n";
    project(sb, name, n, extra);
}

#[test]
#[ignore = "needs helm on PATH (scripts/test.sh provides it)"]
fn a_local_chart_is_applied_before_the_overlay_that_depends_on_it_then_left_alone() {
    local_chart_then_overlay(&real_helm(), "charts-local", 0);
}

/// The same with helm v3: devenv's helm argv is the same for both major versions.
#[test]
#[ignore = "needs a helm v3 (DEVENV_TEST_HELM3: scripts/test.sh provides it)"]
fn a_local_chart_comes_up_the_same_with_helm_v3() {
    let helm3 = helm3().expect("DEVENV_TEST_HELM3 names a helm v3 (scripts/test.sh sets it)");
    local_chart_then_overlay(&helm3, "charts-local-v3", 10);
}

fn local_chart_then_overlay(helm: &std::path::Path, cluster: &str, n: u16) {
    let (sb, log) = with_helm_log(Sandbox::new(), helm);
    local_project(&sb, cluster, n);
    let r = up_ok(&sb, LIMIT);
    // The run summary lists the chart under its own heading, beside the overlay.
    let summary = |heading: &str| {
        r.stderr
            .lines()
            .skip_while(|l| l.trim() != heading)
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    assert!(summary("charts").contains("web"), "{}", r.stderr);
    assert!(summary("overlays").contains("app"), "{}", r.stderr);
    let calls = sb.calls();
    let applied: Vec<String> = calls.iter().filter_map(applied_unit).collect();
    assert_eq!(applied, ["web", "app"], "{}", lines(&calls));
    // The chart is ready (its Deployment rolled out) before the overlay is applied.
    let rolled = calls
        .iter()
        .position(|c| c.has(&["rollout", "status", "deployment/web"]))
        .unwrap_or_else(|| panic!("no rollout wait:\n{}", lines(&calls)));
    let app = calls
        .iter()
        .position(|c| applied_unit(c).as_deref() == Some("app"))
        .unwrap();
    assert!(rolled < app, "{}", lines(&calls));
    let template = helm_lines(&log)
        .into_iter()
        .find(|c| c.starts_with("template "))
        .expect("helm template ran");
    assert!(
        template.starts_with("template web deploy/web --namespace shop -f deploy/web/values-dev.yaml -f .devenv/charts/web/set-values.yaml --include-crds --kube-version v1."),
        "{template}"
    );

    // The objects land in the release namespace, created for it.
    assert!(
        objects(&sb, cluster)
            .iter()
            .any(|o| o["kind"] == "Namespace" && o["name"] == "shop"),
        "the release namespace was not created"
    );
    let deploy = object(&sb, cluster, "Deployment", "shop", "web")
        .expect("the chart's Deployment in namespace shop");
    // values-dev.yaml over values.yaml (replicas 1), `set` over both.
    assert_eq!(deploy["spec"]["replicas"], 2, "{deploy:#}");
    let labels = &deploy["spec"]["template"]["metadata"]["labels"];
    assert_eq!(labels["tier"], "from-values-dev", "{deploy:#}");
    assert_eq!(labels["owner"], "set", "{deploy:#}");
    let svc = object(&sb, cluster, "Service", "shop", "web").expect("Service");
    assert_eq!(svc["spec"]["ports"][0]["port"], 9090, "{svc:#}");
    assert!(object(&sb, cluster, "ServiceAccount", "shop", "web").is_some());
    // helm create's `test` hook (a Pod for `helm test`) is not applied by up.
    assert!(
        object(&sb, cluster, "Pod", "shop", "web-test-connection").is_none(),
        "the chart's test hook was applied"
    );

    // A second up changes nothing.
    sb.clear_calls();
    up_ok(&sb, LIMIT);
    let calls = sb.calls();
    assert!(
        calls.iter().all(|c| !c.is_mutating()),
        "second up changed something:\n{}",
        lines(&calls)
    );

    // `devenv apply NAME` takes a chart's name as it takes an overlay's.
    let r = run(&sb, &["apply", "web"], LIMIT);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("chart:web"),
        "apply web did not run the chart's step: {r:?}"
    );

    // `status` reports the chart as it reports overlays.
    let r = run(&sb, &["status"], LIMIT);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("chart") && l.contains("web") && l.contains("ok")),
        "{}",
        r.stdout
    );

    // Removing the chart from devenv.toml prunes its objects (the overlay stays).
    let toml = sb.read("devenv.toml");
    let without =
        toml[..toml.find("\n[[charts]]").unwrap()].replace("depends_on = [\"web\"]\n", "");
    sb.write("devenv.toml", &without);
    up_ok(&sb, LIMIT);
    assert!(object(&sb, cluster, "Deployment", "shop", "web").is_none());
    assert!(object(&sb, cluster, "Service", "shop", "web").is_none());
    assert!(object(&sb, cluster, "ConfigMap", "shop", "app-settings").is_some());
}

#[test]
#[ignore = "needs helm on PATH (scripts/test.sh provides it)"]
fn a_local_chart_gets_its_dependencies_built_once() {
    let (sb, log) = sandbox();
    create_chart(&sb, "deploy", "api");
    create_chart(&sb, "deploy", "sidecar");
    let chart_yaml = sb.read("deploy/api/Chart.yaml");
    sb.write(
        "deploy/api/Chart.yaml",
        &format!(
            "{chart_yaml}\ndependencies:\n  - name: sidecar\n    version: 0.1.0\n    repository: file://../sidecar\n"
        ),
    );
    project(
        &sb,
        "charts-deps",
        4,
        "\n[[charts]]\nname = \"api\"\nchart = \"deploy/api\"\nnamespace = \"shop\"\n",
    );
    let plan = run(&sb, &["plan"], LIMIT);
    assert!(
        plan.stdout.contains("$ helm dependency build deploy/api"),
        "{}",
        plan.stdout
    );
    up_ok(&sb, LIMIT);
    assert_eq!(log.count("dependency"), 1, "{:#?}", helm_lines(&log));
    // The dependency's objects are rendered with the chart's.
    assert!(object(&sb, "charts-deps", "Deployment", "shop", "api").is_some());
    assert!(object(&sb, "charts-deps", "Deployment", "shop", "api-sidecar").is_some());
    // Built once: the next up finds them in the chart's charts/ folder.
    log.clear();
    sb.clear_calls();
    up_ok(&sb, LIMIT);
    assert_eq!(log.count("dependency"), 0, "{:#?}", helm_lines(&log));
    assert!(sb.calls().iter().all(|c| !c.is_mutating()));
}

/// A chart that generates a password at render time (no `lookup` without a cluster) changes
/// on every render: `up` says so, naming the template, instead of silently rotating it.
#[test]
#[ignore = "needs helm on PATH (scripts/test.sh provides it)"]
fn a_chart_that_renders_random_values_is_reported() {
    let (sb, _log) = sandbox();
    create_chart(&sb, "deploy", "db");
    sb.write(
        "deploy/db/templates/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-auth\n\
         data:\n  password: {{ .Values.password | default (randAlphaNum 16) | b64enc | quote }}\n",
    );
    project(
        &sb,
        "charts-random",
        6,
        "\n[[charts]]\nname = \"db\"\nchart = \"deploy/db\"\nnamespace = \"data\"\n",
    );
    let r = up_ok(&sb, LIMIT);
    assert!(
        r.stderr.contains("chart db renders differently every time")
            && r.stderr.contains("db/templates/secret.yaml"),
        "{}",
        r.stderr
    );
    // The password set in devenv.toml: stable, no warning, and the next up is a no-op.
    let toml = sb.read("devenv.toml");
    sb.write(
        "devenv.toml",
        &format!("{toml}set = {{ password = \"dev-only\" }}\n"),
    );
    let r = up_ok(&sb, LIMIT);
    assert!(!r.stderr.contains("renders differently"), "{}", r.stderr);
    sb.clear_calls();
    let r = up_ok(&sb, LIMIT);
    assert!(!r.stderr.contains("renders differently"), "{}", r.stderr);
    assert!(sb.calls().iter().all(|c| !c.is_mutating()));
}

/// The last unit dropped from devenv.toml on a k3d cluster takes its objects with it (the
/// plan used to leave out the prune step when no unit was left).
#[test]
#[ignore = "needs helm on PATH (scripts/test.sh provides it)"]
fn the_last_unit_removed_from_devenv_toml_is_pruned() {
    let (sb, _log) = sandbox();
    create_chart(&sb, "deploy", "solo");
    project(
        &sb,
        "charts-last",
        7,
        "\n[[charts]]\nname = \"solo\"\nchart = \"deploy/solo\"\nnamespace = \"solo\"\n",
    );
    up_ok(&sb, LIMIT);
    assert!(object(&sb, "charts-last", "Deployment", "solo", "solo").is_some());
    let toml = sb.read("devenv.toml");
    sb.write("devenv.toml", &toml[..toml.find("\n[[charts]]").unwrap()]);
    up_ok(&sb, LIMIT);
    assert!(object(&sb, "charts-last", "Deployment", "solo", "solo").is_none());
    assert!(object(&sb, "charts-last", "Service", "solo", "solo").is_none());
    // Nothing recorded any more: the next up's prune runs no command.
    sb.clear_calls();
    up_ok(&sb, LIMIT);
    assert!(sb.calls().iter().all(|c| !c.is_mutating()));
}

/// What Helm never deletes, devenv's prune leaves too: the CRDs of a chart's `crds/` folder
/// (deleting a CRD deletes every object of its kind, also those devenv never made) and any
/// object annotated `helm.sh/resource-policy: keep`. The rest of a dropped chart goes.
#[test]
#[ignore = "needs helm on PATH (scripts/test.sh provides it)"]
fn a_dropped_chart_leaves_its_crds_and_kept_objects_in_place() {
    let (sb, _log) = sandbox();
    create_chart(&sb, "deploy", "ops");
    sb.write(
        "deploy/ops/crds/widgets.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  \
         name: widgets.example.com\nspec:\n  group: example.com\n  names:\n    kind: Widget\n    \
         plural: widgets\n    singular: widget\n  scope: Namespaced\n  versions:\n    - name: v1\n      \
         served: true\n      storage: true\n      schema:\n        openAPIV3Schema:\n          type: object\n",
    );
    sb.write(
        "deploy/ops/templates/volume.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-data\n  \
         annotations:\n    helm.sh/resource-policy: keep\ndata:\n  rows: \"42\"\n",
    );
    project(
        &sb,
        "charts-keep",
        9,
        "\n[[charts]]\nname = \"ops\"\nchart = \"deploy/ops\"\nnamespace = \"ops\"\n",
    );
    up_ok(&sb, LIMIT);
    let crd = |sb: &Sandbox| {
        objects(sb, "charts-keep")
            .into_iter()
            .any(|o| o["kind"] == "CustomResourceDefinition" && o["name"] == "widgets.example.com")
    };
    assert!(crd(&sb), "the crds/ CRD was not applied");
    assert!(object(&sb, "charts-keep", "ConfigMap", "ops", "ops-data").is_some());

    let toml = sb.read("devenv.toml");
    sb.write("devenv.toml", &toml[..toml.find("\n[[charts]]").unwrap()]);
    let r = up_ok(&sb, LIMIT);
    assert!(object(&sb, "charts-keep", "Deployment", "ops", "ops").is_none());
    assert!(crd(&sb), "the crds/ CRD was pruned:\n{}", r.stderr);
    assert!(
        object(&sb, "charts-keep", "ConfigMap", "ops", "ops-data").is_some(),
        "the kept ConfigMap was pruned"
    );
    assert!(
        r.stderr
            .contains("marked helm.sh/resource-policy: keep: left in place"),
        "{}",
        r.stderr
    );
    // Forgotten: the next up says nothing more about them and deletes nothing.
    sb.clear_calls();
    let r = up_ok(&sb, LIMIT);
    assert!(!r.stderr.contains("left in place"), "{}", r.stderr);
    assert!(sb.calls().iter().all(|c| !c.is_mutating()));
}
