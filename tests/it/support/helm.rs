//! The real helm for the chart tests (`crate::support::helm`): real chart sources made by
//! helm itself (a local chart, a chart repository over HTTP, an OCI chart in the test
//! registry) and a logging `helm` a test puts first on PATH to count what devenv ran.
//!
//! ```ignore
//! let chart = helm_create(&sb.path("charts"), "web");
//! let repo = ChartRepo::serve(&[&chart]);          // repo.url: http://127.0.0.1:PORT
//! let (sb, log) = with_helm_log(sb, &real_helm());  // helm on the sandbox's PATH logs
//! sb.devenv(["up"]).assert().success();
//! assert_eq!(log.count("pull"), 0);
//! ```
//!
//! helm is the one on PATH (v4 here and in CI, `scripts/test.sh` provides it);
//! `$DEVENV_TEST_HELM3` names a helm v3 binary when one was provided, so a test can run
//! the same scenario with both ([`helm3`]). Every helm these fixtures run gets its own
//! config, cache and data folders: a developer's repositories and registry logins are
//! neither read nor changed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;

use devenv_fakes::release_host::{self, Server};

use super::Sandbox;

/// The helm the tests run: `helm` on PATH.
pub fn real_helm() -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("helm"))
        .find(|p| p.is_file())
        .expect("helm is on PATH (scripts/test.sh provides it)")
}

/// A helm v3 binary (`$DEVENV_TEST_HELM3`, set by scripts/test.sh when it found one), for
/// tests that run a scenario with both major versions.
pub fn helm3() -> Option<PathBuf> {
    std::env::var_os("DEVENV_TEST_HELM3")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
}

/// Runs `helm ARGS` in `cwd` with helm's folders in a throwaway folder; panics with its
/// output when it fails. Returns stdout.
pub fn helm(cwd: &Path, args: &[&str]) -> String {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let out = Command::new(real_helm())
        .args(args)
        .current_dir(cwd)
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .expect("run helm");
    assert!(
        out.status.success(),
        "helm {} failed ({}):\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `helm create NAME` in `dir` (created): a realistic chart (Deployment, Service,
/// ServiceAccount, an optional Ingress and HPA, a `test` hook Pod, image `nginx` with the
/// chart's appVersion as tag). Returns the chart's folder, `dir/NAME`.
pub fn helm_create(dir: &Path, name: &str) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    helm(dir, &["create", name]);
    dir.join(name)
}

/// `name:` of a chart's Chart.yaml.
pub fn chart_name(chart_dir: &Path) -> String {
    let text = fs::read_to_string(chart_dir.join("Chart.yaml")).expect("Chart.yaml");
    text.lines()
        .find_map(|l| l.strip_prefix("name:"))
        .map(|n| n.trim().trim_matches('"').to_string())
        .expect("Chart.yaml has a name")
}

/// `helm package CHART -d OUT`: the path of the `.tgz` it wrote.
fn package(chart_dir: &Path, out: &Path) -> PathBuf {
    fs::create_dir_all(out).unwrap();
    let before: Vec<_> = tgz_files(out);
    helm(
        out,
        &[
            "package",
            chart_dir.to_str().unwrap(),
            "-d",
            out.to_str().unwrap(),
        ],
    );
    tgz_files(out)
        .into_iter()
        .find(|p| !before.contains(p))
        .expect("helm package wrote a .tgz")
}

fn tgz_files(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "tgz"))
        .collect()
}

/// A chart repository as `helm repo add` knows them: the charts packaged, an `index.yaml`
/// by `helm repo index` (relative URLs, which helm resolves against the repository's),
/// served over HTTP on loopback until the test process ends.
pub struct ChartRepo {
    /// `http://127.0.0.1:PORT` (no trailing slash): the `repo` of a `[[charts]]` entry.
    pub url: String,
    server: Server,
}

impl ChartRepo {
    /// Packages each chart folder and serves them with their index.
    pub fn serve<P: AsRef<Path>>(charts: &[P]) -> ChartRepo {
        let dir = tempfile::Builder::new()
            .prefix("devenv-test-chart-repo-")
            .tempdir()
            .unwrap();
        for c in charts {
            package(c.as_ref(), dir.path());
        }
        helm(dir.path(), &["repo", "index", "."]);
        let files = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| {
                (
                    format!("/{}", e.file_name().to_string_lossy()),
                    fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        let server = release_host::serve(files);
        ChartRepo {
            url: server.base.clone(),
            server,
        }
    }

    /// How many HTTP requests the repository answered (index and chart downloads): zero
    /// new ones on an `up` that works from devenv's cache.
    pub fn requests(&self) -> usize {
        self.server.hits.load(Ordering::SeqCst)
    }
}

/// Packages the chart and `helm push`es it (`--plain-http`) to `registry` (HOST:PORT, the
/// test registry: `support::test_registry_addr()`; tests that call this are
/// `#[ignore = "needs a registry …"]` like the suite's other registry tests). Returns the
/// chart's reference, `oci://REGISTRY/charts/NAME`. The registry is shared by the tests
/// running at once: give each test's chart a name of its own.
pub fn push_oci(chart_dir: &Path, registry: &str) -> String {
    let out = tempfile::Builder::new()
        .prefix("devenv-test-oci-chart-")
        .tempdir()
        .unwrap();
    let tgz = package(chart_dir, out.path());
    helm(
        out.path(),
        &[
            "push",
            tgz.to_str().unwrap(),
            &format!("oci://{registry}/charts"),
            "--plain-http",
        ],
    );
    format!("oci://{registry}/charts/{}", chart_name(chart_dir))
}

/// A logging `helm`: every call's argv is appended to a file, then the real helm runs.
pub struct HelmLog {
    /// The folder holding the wrapper `helm` (put first on PATH).
    pub bin: PathBuf,
    log: PathBuf,
}

/// Separates the arguments of one logged call (a byte no argv holds in these tests).
const SEP: char = '\u{1f}';

impl HelmLog {
    /// Writes the wrapper into `dir/helm-log/bin/helm`, running `real` (v4 or v3).
    pub fn wrap(dir: &Path, real: &Path) -> HelmLog {
        use std::os::unix::fs::PermissionsExt;
        let root = dir.join("helm-log");
        let bin = root.join("bin");
        fs::create_dir_all(&bin).unwrap();
        let log = root.join("calls.log");
        fs::write(&log, "").unwrap();
        let script = format!(
            "#!/bin/sh\n{{ for a in \"$@\"; do printf '%s\\037' \"$a\"; done; echo; }} >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        );
        let helm = bin.join("helm");
        fs::write(&helm, script).unwrap();
        fs::set_permissions(&helm, fs::Permissions::from_mode(0o755)).unwrap();
        HelmLog { bin, log }
    }

    /// Every call so far, in order, as argv without the program.
    pub fn calls(&self) -> Vec<Vec<String>> {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                l.trim_end_matches(SEP)
                    .split(SEP)
                    .filter(|a| !a.is_empty())
                    .map(String::from)
                    .collect()
            })
            .collect()
    }

    /// How many calls had `verb` (`pull`, `template`, `dependency`…) as their first word.
    pub fn count(&self, verb: &str) -> usize {
        self.calls()
            .iter()
            .filter(|argv| argv.iter().find(|a| !a.starts_with('-')) == Some(&verb.to_string()))
            .count()
    }

    /// Forgets the calls so far (before a second `up`).
    pub fn clear(&self) {
        fs::write(&self.log, "").unwrap();
    }
}

/// The sandbox with a logging wrapper of `real` first on its PATH (before the fakes).
pub fn with_helm_log(sb: Sandbox, real: &Path) -> (Sandbox, HelmLog) {
    let log = HelmLog::wrap(sb.root.path(), real);
    let mut dirs = vec![log.bin.clone()];
    dirs.extend(std::env::split_paths(&sb.path_var()));
    let path = std::env::join_paths(dirs).unwrap();
    let sb = sb.env("PATH", path.to_str().unwrap());
    (sb, log)
}
