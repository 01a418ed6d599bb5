//! The whole project in one devenv.toml: a local chart with a values-dev.yaml, a
//! chart from a chart repository, an OCI chart, and an overlay that depends on a chart.
//! It comes up in dependency order, a second `up` changes nothing and pulls nothing, and a
//! chart dropped from devenv.toml takes its objects with it.

use super::*;
use crate::support::helm::{push_oci, ChartRepo};
use crate::support::test_registry_addr;

#[test]
#[ignore = "needs helm on PATH and a registry on DEVENV_TEST_REGISTRY (scripts/test.sh provides both)"]
fn local_repository_and_oci_charts_with_an_overlay_come_up_in_order_then_stay() {
    let (sb, log) = sandbox();
    // Sources the team does not keep in its repository: a chart repository and an OCI one.
    let sources = sb.root.path().join("chart-sources");
    let repo = ChartRepo::serve(&[helm_create(&sources, "cache")]);
    let oci_name = format!("events{}", std::process::id());
    let oci = push_oci(&helm_create(&sources, &oci_name), &test_registry_addr());
    // The team's own chart and overlay.
    create_chart(&sb, "deploy", "api");
    sb.write("deploy/api/values-dev.yaml", "replicaCount: 2\n");
    sb.write(
        "k8s/app/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - cm.yaml\n",
    );
    sb.write(
        "k8s/app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-settings\n  namespace: shop\ndata:\n  api: http://api.shop\n",
    );
    let extra = format!(
        "\n[[overlays]]\nname = \"app\"\npath = \"k8s/app\"\ndepends_on = [\"api\"]\n\
         \n[[charts]]\nname = \"api\"\nchart = \"deploy/api\"\nnamespace = \"shop\"\n\
         values = [\"deploy/api/values-dev.yaml\"]\ndepends_on = [\"cache\", \"events\"]\n\
         \n[[charts]]\nname = \"events\"\nchart = \"{oci}\"\nversion = \"0.1.0\"\nnamespace = \"shop\"\n\
         depends_on = [\"cache\"]\n\
         \n[[charts]]\nname = \"cache\"\nchart = \"cache\"\nrepo = \"{}\"\nversion = \"0.1.0\"\nnamespace = \"shop\"\n",
        repo.url
    );
    project(&sb, "charts-all", 8, &extra);
    up_ok(&sb, LIMIT);
    let calls = sb.calls();
    let applied: Vec<String> = calls.iter().filter_map(applied_unit).collect();
    assert_eq!(
        applied,
        ["cache", "events", "api", "app"],
        "{}",
        lines(&calls)
    );
    assert_eq!(log.count("pull"), 2, "{:#?}", helm_lines(&log));
    let api = object(&sb, "charts-all", "Deployment", "shop", "api").expect("api");
    assert_eq!(api["spec"]["replicas"], 2, "values-dev.yaml: {api:#}");
    assert!(object(&sb, "charts-all", "Deployment", "shop", "cache").is_some());
    let events = format!("events-{oci_name}");
    assert!(object(&sb, "charts-all", "Deployment", "shop", &events).is_some());
    assert!(object(&sb, "charts-all", "ConfigMap", "shop", "app-settings").is_some());

    // Second up: nothing pulled, nothing changed.
    log.clear();
    sb.clear_calls();
    up_ok(&sb, LIMIT);
    assert_eq!(log.count("pull"), 0, "{:#?}", helm_lines(&log));
    let calls = sb.calls();
    assert!(
        calls.iter().all(|c| !c.is_mutating()),
        "second up changed something:\n{}",
        lines(&calls)
    );

    // The OCI chart dropped from devenv.toml (and from api's depends_on): its objects go,
    // the others stay.
    let toml = sb.read("devenv.toml");
    let start = toml.find("\n[[charts]]\nname = \"events\"").unwrap();
    let end = start + toml[start + 1..].find("\n[[charts]]").unwrap() + 1;
    let without = format!("{}{}", &toml[..start], &toml[end..]).replace(
        "depends_on = [\"cache\", \"events\"]",
        "depends_on = [\"cache\"]",
    );
    sb.write("devenv.toml", &without);
    up_ok(&sb, LIMIT);
    assert!(object(&sb, "charts-all", "Deployment", "shop", &events).is_none());
    assert!(object(&sb, "charts-all", "Deployment", "shop", "api").is_some());
    assert!(object(&sb, "charts-all", "Deployment", "shop", "cache").is_some());
    assert!(object(&sb, "charts-all", "ConfigMap", "shop", "app-settings").is_some());
}
