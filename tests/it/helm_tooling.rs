//! helm as a prerequisite only when a project uses it, and overlays that inflate Helm
//! charts (`helmCharts:`), issue 16 items 5 and 6.
//!
//! * `doctor`, the plan's preflight and `up` check helm (v3.8 or newer, v4 too) only for a
//!   project with `[[charts]]` or an overlay whose kustomization (or one it includes from
//!   the repository) has `helmCharts:`; a missing or too old helm gets the install hint.
//! * Such an overlay renders with `kubectl kustomize --enable-helm`; with the real kubectl
//!   and the real helm (v4 on PATH, v3 from `$DEVENV_TEST_HELM3`) it comes up against the
//!   fakes, Kustomize running the helm devenv found on PATH.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::helm::{helm3, helm_create, real_helm, with_helm_log};
use crate::support::{self, fakes_dir, minimal_toml, reserved_port, PortBlock, Run, Sandbox};

fn ports(n: u16) -> (u16, u16) {
    (
        reserved_port(PortBlock::HelmTooling, 2 * n),
        reserved_port(PortBlock::HelmTooling, 2 * n + 1),
    )
}

fn run(cmd: assert_cmd::Command) -> Run {
    Run::of(cmd, Duration::from_secs(120))
}

/// devenv ARGS with this PATH.
fn run_with_path(sb: &Sandbox, args: &[&str], path: std::ffi::OsString) -> Run {
    let mut cmd = sb.devenv(args);
    cmd.env("PATH", path);
    run(cmd)
}

/// A `[[charts]]` entry for a local chart folder (a stand-in: only Chart.yaml).
const CHART: &str = "\n[[charts]]\nname = \"db\"\nchart = \"deploy/charts/db\"\n";

fn stand_in_chart(sb: &Sandbox) {
    sb.write(
        "deploy/charts/db/Chart.yaml",
        "apiVersion: v2\nname: db\nversion: 0.1.0\n",
    );
}

/// A PATH of the fakes, a folder with a stand-in `helm` printing `version` (none when
/// `None`), and the system's folders without the real helm.
fn path_with_helm(sb: &Sandbox, version: Option<&str>) -> std::ffi::OsString {
    let bin = sb
        .root
        .path()
        .join(format!("helm-{}", version.unwrap_or("none")));
    std::fs::create_dir_all(&bin).unwrap();
    if let Some(v) = version {
        let helm = bin.join("helm");
        std::fs::write(&helm, format!("#!/bin/sh\nprintf '%s' '{v}'\n")).unwrap();
        std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let dirs: Vec<PathBuf> = vec![fakes_dir(), bin, "/usr/bin".into(), "/bin".into()];
    std::env::join_paths(dirs).unwrap()
}

/// The preflight step of `devenv plan -o json`: its commands' argv.
fn plan_steps(sb: &Sandbox) -> serde_json::Value {
    let out = sb.devenv(["plan", "-o", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", support::show(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn commands_of(plan: &serde_json::Value, step: &str) -> Vec<Vec<String>> {
    let s = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == step)
        .unwrap_or_else(|| panic!("no step {step}: {plan:#}"));
    s["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            std::iter::once(c["program"].as_str().unwrap().to_string())
                .chain(
                    c["args"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a.as_str().unwrap().to_string()),
                )
                .collect()
        })
        .collect()
}

fn checks_helm(plan: &serde_json::Value) -> bool {
    commands_of(plan, "preflight")
        .iter()
        .any(|c| c[0] == "helm" && c[1] == "version")
}

#[test]
fn helm_is_checked_only_when_the_project_declares_charts() {
    let sb = Sandbox::new();
    let (registry, api) = ports(0);
    sb.write("devenv.toml", &minimal_toml("nohelm", registry, api, ""));
    assert!(!checks_helm(&plan_steps(&sb)));
    let d = run_with_path(&sb, &["doctor"], path_with_helm(&sb, None));
    assert_eq!(d.code, 0, "no helm, no charts: nothing to miss {d:?}");
    assert!(!d.stdout.contains("helm"), "{d:?}");

    stand_in_chart(&sb);
    sb.write("devenv.toml", &minimal_toml("nohelm", registry, api, CHART));
    assert!(checks_helm(&plan_steps(&sb)));
    let d = run_with_path(&sb, &["doctor"], path_with_helm(&sb, None));
    assert_eq!(d.code, 3, "{d:?}");
    let at = d
        .stdout
        .lines()
        .position(|l| l.starts_with("FAIL") && l.contains("helm"))
        .unwrap_or_else(|| panic!("no failed helm check: {d:?}"));
    let fix = d.stdout.lines().nth(at + 1).unwrap_or("");
    assert_eq!(
        fix.trim(),
        "fix: install helm v3.8 or newer (v3 or v4): https://helm.sh/docs/intro/install/",
        "{d:?}"
    );
    // up stops in preflight with the same problem, before anything is created.
    let u = run_with_path(&sb, &["up"], path_with_helm(&sb, None));
    assert_eq!(u.code, 3, "{u:?}");
    assert!(u.text.contains("helm"), "{u:?}");
    assert!(sb.mutating_calls().is_empty(), "{:?}", sb.mutating_calls());
}

#[test]
fn helm_v3_8_and_newer_and_v4_pass_older_fails() {
    let sb = Sandbox::new();
    let (registry, api) = ports(1);
    stand_in_chart(&sb);
    sb.write(
        "devenv.toml",
        &minimal_toml("helmver", registry, api, CHART),
    );
    for (version, ok) in [
        ("v3.7.2", false),
        ("v3.8.0", true),
        ("v3.17.2", true),
        ("v4.1.4", true),
    ] {
        let d = run_with_path(&sb, &["doctor"], path_with_helm(&sb, Some(version)));
        let line = d
            .stdout
            .lines()
            .find(|l| l.contains(" helm "))
            .unwrap_or_else(|| panic!("no helm line for {version}: {d:?}"))
            .to_string();
        if ok {
            assert!(
                line.starts_with("ok") && line.ends_with(&format!("helm {version}")),
                "{line}"
            );
        } else {
            assert!(
                line.starts_with("FAIL") && line.contains("helm v3.7.2 is too old"),
                "{line}"
            );
            assert_eq!(d.code, 3, "{d:?}");
        }
    }
}

/// The kustomizations of an overlay `deploy/dev` including `deploy/base`, which inflates
/// the local chart `deploy/base/charts/web` (kustomize's default `chartHome`).
fn inflating_overlay(sb: &Sandbox) {
    sb.write(
        "deploy/base/kustomization.yaml",
        "helmCharts:\n  - name: web\n    releaseName: web\n    namespace: shop\n    \
         valuesInline:\n      replicaCount: 3\n      fullnameOverride: web\n",
    );
    sb.write(
        "deploy/dev/kustomization.yaml",
        "resources:\n  - namespace.yaml\n  - ../base\n",
    );
    sb.write(
        "deploy/dev/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
    );
    sb.write(
        "deploy/plain/kustomization.yaml",
        "resources:\n  - cm.yaml\n",
    );
    sb.write(
        "deploy/plain/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n  namespace: default\n",
    );
}

const OVERLAYS: &str = "\n[[overlays]]\nname = \"dev\"\npath = \"deploy/dev\"\ntimeout = \"20s\"\n\
                        \n[[overlays]]\nname = \"plain\"\npath = \"deploy/plain\"\n";

#[test]
fn an_overlay_including_helm_charts_renders_with_enable_helm_and_needs_helm() {
    let sb = Sandbox::new();
    let (registry, api) = ports(2);
    inflating_overlay(&sb);
    sb.write(
        "devenv.toml",
        &minimal_toml("inflate", registry, api, OVERLAYS),
    );
    let plan = plan_steps(&sb);
    assert!(checks_helm(&plan));
    assert_eq!(
        commands_of(&plan, "render:dev"),
        [[
            "kubectl",
            "kustomize",
            "--enable-helm",
            ".devenv/overlays/dev"
        ]]
    );
    assert_eq!(
        commands_of(&plan, "render:plain"),
        [["kubectl", "kustomize", ".devenv/overlays/plain"]]
    );
    let d = run_with_path(&sb, &["doctor"], path_with_helm(&sb, None));
    assert_eq!(d.code, 3, "{d:?}");
    assert!(
        d.stdout
            .lines()
            .any(|l| l.starts_with("FAIL") && l.contains("helm")),
        "{d:?}"
    );
}

/// The real kubectl (`$DEVENV_REAL_KUBECTL`, as the fake runs it) and its kustomize
/// version; kustomize before v5.8 runs `helm version -c`, which helm v4 refuses
/// (kubernetes-sigs/kustomize#6013).
fn real_kustomize_version() -> (String, String) {
    let kubectl = std::env::var("DEVENV_REAL_KUBECTL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/usr/bin/kubectl".into());
    let out = std::process::Command::new(&kubectl)
        .args(["version", "--client"])
        .output()
        .unwrap_or_else(|e| panic!("the real kubectl {kubectl}: {e}"));
    let text = support::text(&out.stdout);
    let v = text
        .lines()
        .find_map(|l| l.strip_prefix("Kustomize Version: "))
        .unwrap_or("")
        .to_string();
    (kubectl, v)
}

fn up_with_inflating_overlay(helm: &Path, n: u16) {
    let (sb, log) = with_helm_log(Sandbox::new(), helm);
    let (registry, api) = ports(n);
    inflating_overlay(&sb);
    helm_create(&sb.path("deploy/base/charts"), "web");
    sb.write(
        "devenv.toml",
        &minimal_toml("inflate", registry, api, OVERLAYS),
    );
    let r = run(sb.devenv(["up"]));
    assert_eq!(r.code, 0, "{} {r:?}", helm.display());
    // Kustomize ran the helm devenv found on PATH, to render the chart.
    assert!(log.count("template") >= 1, "{:?}", log.calls());
    let render = sb
        .calls()
        .into_iter()
        .find(|c| c.tool == "kubectl" && c.has(&["kustomize", "--enable-helm"]))
        .unwrap_or_else(|| panic!("no kustomize --enable-helm call: {r:?}"));
    assert!(
        render.line().ends_with(".devenv/overlays/dev"),
        "{}",
        render.line()
    );
    // The chart's Deployment, with the overlay's values, is in the cluster (in the
    // namespace Kustomize gave it: the chart's templates name none).
    let all = sb.kubectl_ok(&[
        "--kubeconfig",
        ".devenv/kubeconfig",
        "--context",
        "k3d-inflate",
        "get",
        "deployments",
        "--all-namespaces",
        "-o",
        "json",
    ]);
    let all: serde_json::Value = serde_json::from_str(&all).unwrap();
    let dep = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["metadata"]["name"] == "web")
        .unwrap_or_else(|| panic!("no Deployment web: {all:#}"));
    assert_eq!(dep["spec"]["replicas"], 3, "{dep:#}");
    assert_eq!(
        dep["metadata"]["labels"]["app.kubernetes.io/managed-by"], "Helm",
        "{dep:#}"
    );
}

#[test]
#[ignore = "needs helm on PATH and kubectl with kustomize v5.8+ (scripts/test.sh provides both)"]
fn an_overlay_inflating_a_local_chart_comes_up_with_helm_v4() {
    let (kubectl, kustomize) = real_kustomize_version();
    let v = devenv::version::Version::parse(&kustomize)
        .unwrap_or_else(|| panic!("{kubectl}: no kustomize version"));
    assert!(
        v >= devenv::version::Version::new(5, 8, 0),
        "{kubectl} has kustomize {kustomize}: helm v4 needs v5.8+ (scripts/test.sh provides it as DEVENV_REAL_KUBECTL)"
    );
    up_with_inflating_overlay(&real_helm(), 3);
}

#[test]
#[ignore = "needs a helm v3 (DEVENV_TEST_HELM3) and kubectl (scripts/test.sh provides both)"]
fn an_overlay_inflating_a_local_chart_comes_up_with_helm_v3() {
    let helm3 = helm3().expect("DEVENV_TEST_HELM3 names a helm v3 (scripts/test.sh sets it)");
    up_with_inflating_overlay(&helm3, 4);
}
