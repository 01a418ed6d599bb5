//! Remote charts: one from a chart repository over HTTP (`helm package` + `helm repo
//! index`), one pushed to an OCI registry (`helm push`). Pulled once into devenv's cache:
//! the second `up` pulls nothing and asks the repository nothing.

use super::*;
use crate::support::helm::{helm3, push_oci, ChartRepo};
use crate::support::test_registry_addr;

#[test]
#[ignore = "needs helm on PATH and a registry on DEVENV_TEST_REGISTRY (scripts/test.sh provides both)"]
fn remote_charts_are_pulled_once_then_rendered_from_the_cache() {
    remote_charts(&real_helm(), "charts-remote", 2);
}

/// The same with helm v3 (`helm pull --repo`, `oci://` with `--plain-http`).
#[test]
#[ignore = "needs a helm v3 (DEVENV_TEST_HELM3) and a registry on DEVENV_TEST_REGISTRY (scripts/test.sh provides both)"]
fn remote_charts_come_up_the_same_with_helm_v3() {
    let helm3 = helm3().expect("DEVENV_TEST_HELM3 names a helm v3 (scripts/test.sh sets it)");
    remote_charts(&helm3, "charts-remote-v3", 11);
}

fn remote_charts(helm: &std::path::Path, cluster: &str, n: u16) {
    let (sb, log) = with_helm_log(Sandbox::new(), helm);
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
    project(&sb, cluster, n, &extra);
    up_ok(&sb, LIMIT);
    let calls = sb.calls();
    let applied: Vec<String> = calls.iter().filter_map(applied_unit).collect();
    assert_eq!(applied, ["cache", "queue"], "{}", lines(&calls));
    assert_eq!(log.count("pull"), 2, "{:#?}", helm_lines(&log));
    let oci_pull = helm_lines(&log)
        .into_iter()
        .find(|l| l.starts_with(&format!("pull {oci}")))
        .expect("the OCI chart was pulled");
    assert!(oci_pull.ends_with("--plain-http"), "{oci_pull}");
    assert!(object(&sb, cluster, "Deployment", "infra", "cache").is_some());
    assert!(object(
        &sb,
        cluster,
        "Deployment",
        "infra",
        &format!("queue-{oci_name}")
    )
    .is_some());
    // The archives' digests are kept.
    let lock: Value = serde_json::from_str(&sb.read(".devenv/charts.lock.json")).unwrap();
    assert_eq!(
        lock["charts"].as_object().map(|m| m.len()),
        Some(2),
        "{lock:#}"
    );

    // Second up: nothing pulled, the repository not even asked, nothing applied.
    let asked = repo.requests();
    log.clear();
    sb.clear_calls();
    up_ok(&sb, LIMIT);
    assert_eq!(log.count("pull"), 0, "{:#?}", helm_lines(&log));
    assert_eq!(log.count("template"), 2, "{:#?}", helm_lines(&log));
    assert_eq!(
        repo.requests(),
        asked,
        "the second up asked the chart repository"
    );
    let calls = sb.calls();
    assert!(
        calls.iter().all(|c| !c.is_mutating()),
        "second up changed something:\n{}",
        lines(&calls)
    );

    // The chart changes at the same version (re-published): reported, not used silently.
    let cached = find_file(&sb.home, "cache-0.1.0.tgz").expect("the pulled archive in the cache");
    let values = std::fs::read_to_string(repo_chart.join("values.yaml")).unwrap();
    std::fs::write(
        repo_chart.join("values.yaml"),
        values.replace("replicaCount: 1", "replicaCount: 3"),
    )
    .unwrap();
    let out = std::process::Command::new(helm)
        .args(["package", repo_chart.to_str().unwrap(), "-d"])
        .arg(cached.parent().unwrap())
        .env("HELM_CONFIG_HOME", sb.root.path().join("helm-config"))
        .env("HELM_CACHE_HOME", sb.root.path().join("helm-cache"))
        .env("HELM_DATA_HOME", sb.root.path().join("helm-data"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", crate::support::show(&out));
    let r = up_ok(&sb, LIMIT);
    assert!(
        r.stderr.contains("changed at the same version"),
        "no report of the changed chart:\n{}",
        r.stderr
    );
}

/// The first file named `name` under `dir`.
fn find_file(dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}
