//! Remote charts: one from a chart repository over HTTP (`helm package` + `helm repo
//! index`), one pushed to an OCI registry (`helm push`). Pulled once into devenv's cache:
//! the second `up` pulls nothing and asks the repository nothing.

use super::*;
use crate::support::helm::{push_oci, ChartRepo};
use crate::support::test_registry_addr;

#[test]
#[ignore = "needs helm on PATH and a registry on DEVENV_TEST_REGISTRY (scripts/test.sh provides both)"]
fn remote_charts_are_pulled_once_then_rendered_from_the_cache() {
    let (sb, log) = sandbox();
    let sources = sb.root.path().join("chart-sources");
    let repo_chart = helm_create(&sources, "cache");
    let repo = ChartRepo::serve(&[&repo_chart]);
    // The registry is shared by tests running at once: a chart name of this test's own.
    let oci_name = format!("queue{}", std::process::id());
    let oci_chart = helm_create(&sources, &oci_name);
    let oci = push_oci(&oci_chart, &test_registry_addr());
    let extra = format!(
        "\n[[charts]]\nname = \"cache\"\nchart = \"cache\"\nrepo = \"{}\"\nversion = \"0.1.0\"\n\
         namespace = \"infra\"\n\
         \n[[charts]]\nname = \"queue\"\nchart = \"{oci}\"\nversion = \"0.1.0\"\nnamespace = \"infra\"\n\
         depends_on = [\"cache\"]\n",
        repo.url
    );
    project(&sb, "charts-remote", 2, &extra);
    up_ok(&sb);
    let calls = sb.calls();
    let applied: Vec<String> = calls.iter().filter_map(applied_unit).collect();
    assert_eq!(applied, ["cache", "queue"], "{}", lines(&calls));
    assert_eq!(log.count("pull"), 2, "{:#?}", helm_lines(&log));
    let oci_pull = helm_lines(&log)
        .into_iter()
        .find(|l| l.starts_with(&format!("pull {oci}")))
        .expect("the OCI chart was pulled");
    assert!(oci_pull.ends_with("--plain-http"), "{oci_pull}");
    assert!(object(&sb, "charts-remote", "Deployment", "infra", "cache").is_some());
    assert!(object(&sb, "charts-remote", "Deployment", "infra", &format!("queue-{oci_name}")).is_some());
    // The archives' digests are kept.
    let lock: Value = serde_json::from_str(&sb.read(".devenv/charts.lock.json")).unwrap();
    assert_eq!(lock["charts"].as_object().map(|m| m.len()), Some(2), "{lock:#}");

    // Second up: nothing pulled, the repository not even asked, nothing applied.
    let asked = repo.requests();
    log.clear();
    sb.clear_calls();
    up_ok(&sb);
    assert_eq!(log.count("pull"), 0, "{:#?}", helm_lines(&log));
    assert_eq!(log.count("template"), 2, "{:#?}", helm_lines(&log));
    assert_eq!(repo.requests(), asked, "the second up asked the chart repository");
    let calls = sb.calls();
    assert!(
        calls.iter().all(|c| !c.is_mutating()),
        "second up changed something:\n{}",
        lines(&calls)
    );
}
