//! The helm fixtures of `support::helm` do what the chart tests rely on, with the real helm:
//! a created chart renders, a served repository answers `helm pull --repo`, a pushed OCI
//! chart pulls back, and the logging wrapper records each call and still runs helm.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::support::helm::{
    chart_name, helm3, helm_create, push_oci, real_helm, with_helm_log, ChartRepo,
};
use crate::support::{self, Sandbox};

/// `HELM ARGS` in `cwd` with the sandbox's environment (its HOME: no developer state).
fn run(sb: &Sandbox, helm: &Path, cwd: &Path, args: &[&str]) -> String {
    let out = sb
        .command(helm)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", support::show(&out));
    support::text(&out.stdout)
}

#[test]
#[ignore = "needs helm on PATH (scripts/test.sh provides it)"]
fn helm_create_gives_a_chart_that_renders_with_a_test_hook() {
    let sb = Sandbox::new();
    let chart = helm_create(&sb.path("charts"), "web");
    assert_eq!(chart, sb.path("charts/web"));
    assert_eq!(chart_name(&chart), "web");
    let out = run(
        &sb,
        &real_helm(),
        &sb.project,
        &["template", "web", chart.to_str().unwrap()],
    );
    assert!(out.contains("kind: Deployment"), "{out}");
    assert!(out.contains("\"helm.sh/hook\": test"), "{out}");
}

#[test]
#[ignore = "needs helm on PATH (scripts/test.sh provides it)"]
fn chart_repo_serves_packaged_charts_that_helm_pulls_and_counts_requests() {
    let sb = Sandbox::new();
    let web = helm_create(&sb.path("src"), "web");
    let db = helm_create(&sb.path("src"), "db");
    let repo = ChartRepo::serve(&[&web, &db]);
    assert!(repo.url.starts_with("http://127.0.0.1:"), "{}", repo.url);
    let dest = sb.path("pulled");
    fs::create_dir_all(&dest).unwrap();
    for (name, wanted) in [("db", "db-0.1.0.tgz"), ("web", "web-0.1.0.tgz")] {
        run(
            &sb,
            &real_helm(),
            &sb.project,
            &[
                "pull",
                name,
                "--repo",
                &repo.url,
                "--version",
                "0.1.0",
                "-d",
                dest.to_str().unwrap(),
            ],
        );
        assert!(dest.join(wanted).is_file(), "{wanted} pulled");
    }
    // Each pull reads the index, then the chart.
    assert_eq!(repo.requests(), 4);
}

#[test]
#[ignore = "needs helm on PATH and a registry on DEVENV_TEST_REGISTRY (scripts/test.sh provides both)"]
fn push_oci_gives_a_reference_helm_pulls_back() {
    let sb = Sandbox::new();
    let name = format!("fixture-oci-{}", std::process::id());
    let chart = helm_create(&sb.path("src"), &name);
    let registry = support::test_registry_addr();
    let reference = push_oci(&chart, &registry);
    assert_eq!(reference, format!("oci://{registry}/charts/{name}"));
    let dest = sb.path("pulled");
    fs::create_dir_all(&dest).unwrap();
    run(
        &sb,
        &real_helm(),
        &sb.project,
        &[
            "pull",
            &reference,
            "--version",
            "0.1.0",
            "--plain-http",
            "-d",
            dest.to_str().unwrap(),
        ],
    );
    assert!(dest.join(format!("{name}-0.1.0.tgz")).is_file());
}

#[test]
#[ignore = "needs helm on PATH (scripts/test.sh provides it)"]
fn the_logging_helm_records_each_call_and_runs_the_real_one() {
    let (sb, log) = with_helm_log(Sandbox::new(), &real_helm());
    let chart = helm_create(&sb.path("charts"), "web");
    // Found by name on the sandbox's PATH, as devenv finds it.
    let out = sb
        .command("helm")
        .args(["version", "--template", "{{.Version}}"])
        .output()
        .unwrap();
    assert!(
        support::text(&out.stdout).starts_with('v'),
        "{}",
        support::show(&out)
    );
    run(
        &sb,
        Path::new("helm"),
        &sb.project,
        &["template", "web", chart.to_str().unwrap(), "--set", "a b=c"],
    );
    assert_eq!(
        log.calls(),
        vec![
            vec![
                "version".to_string(),
                "--template".into(),
                "{{.Version}}".into()
            ],
            vec![
                "template".into(),
                "web".into(),
                chart.to_str().unwrap().into(),
                "--set".into(),
                "a b=c".into()
            ],
        ]
    );
    assert_eq!(log.count("template"), 1);
    assert_eq!(log.count("pull"), 0);
    log.clear();
    assert!(log.calls().is_empty());
}

/// The helm v3 that scripts/test.sh provides (DEVENV_TEST_HELM3) runs the same fixtures'
/// charts: `helm template` of a chart made by helm v4 works with v3 too.
#[test]
#[ignore = "needs helm on PATH (scripts/test.sh provides it)"]
fn helm3_when_provided_renders_the_same_chart() {
    let Some(helm3) = helm3() else {
        eprintln!("DEVENV_TEST_HELM3 is not set (scripts/test.sh sets it): nothing to compare");
        return;
    };
    let sb = Sandbox::new();
    let version = Command::new(&helm3)
        .args(["version", "--template", "{{.Version}}"])
        .output()
        .unwrap();
    assert!(
        support::text(&version.stdout).starts_with("v3."),
        "{}",
        support::show(&version)
    );
    let chart = helm_create(&sb.path("charts"), "web");
    let args = ["template", "web", chart.to_str().unwrap()];
    assert_eq!(
        run(&sb, &helm3, &sb.project, &args),
        run(&sb, &real_helm(), &sb.project, &args)
    );
}
