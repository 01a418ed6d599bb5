//! Prerequisite checks (`devenv doctor`, and the `preflight` step of `up`): each check says
//! what it found and, when something is wrong, how to fix it.
//!
//! Parsing is pure (tested on real outputs); commands are built here and run by the
//! runner only. Why the minimum versions:
//! * k3d ≥ v5.5.0: the `k3d.io/v1alpha5` config format devenv writes and
//!   `k3d version -o json` both appeared in v5.5.0 (k3d-io/k3d #1264, #1262).
//! * kubectl ≥ v1.31: `kubectl wait --for=create` (1.30 answers
//!   `unrecognized condition: "create"`).
//! * kustomize ≥ v5 (inside kubectl): kustomize v2-v4 read overlays differently
//!   (`bases:`), so `kubectl kustomize` would fail or render something else.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::runner::{Cmd, Output, RunError, Runner};

/// How long a version command may take (a wedged Docker Desktop never answers).
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Warn,
    Fail,
}

/// The result of one check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub status: CheckStatus,
    /// What was found, one line (`Docker Engine 28.2.2`, `port 5111 on 127.0.0.1 is ...`).
    pub detail: String,
    /// What to do about it (set for warnings and failures).
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: CheckStatus::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn warn(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            name: name.into(),
            status: CheckStatus::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn fail(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            name: name.into(),
            status: CheckStatus::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// The worst status of a list (`Ok` when empty).
pub fn worst(checks: &[Check]) -> CheckStatus {
    checks
        .iter()
        .map(|c| c.status)
        .max()
        .unwrap_or(CheckStatus::Ok)
}

/// The checks as aligned text lines for `doctor` (symbol and word: color is not needed).
pub fn render_checks(checks: &[Check]) -> String {
    let w = checks
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for c in checks {
        let mark = match c.status {
            CheckStatus::Ok => "✓ ok  ",
            CheckStatus::Warn => "! warn",
            CheckStatus::Fail => "✗ FAIL",
        };
        out.push_str(&format!("{mark}  {:<w$}  {}\n", c.name, c.detail));
        if let (Some(fix), false) = (&c.fix, c.status == CheckStatus::Ok) {
            out.push_str(&format!("{:6}  {:<w$}  fix: {fix}\n", "", ""));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Versions

/// A tool version, compared as semver does: a pre-release sorts before its release
/// (`v5.9.0-rc.0 < v5.9.0`, semver.org §11), build metadata (`+dfsg1`) is ignored.
/// A suffix is a pre-release only when it names one (`alpha`, `beta`, `rc`, `pre`, `dev`, as
/// Kubernetes, k3d and helm tag theirs); vendor suffixes such as kubectl's `-dispatcher` or
/// `-eks-5e0fdde` mark builds of a release and are ignored like build metadata.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// Empty for a release; `semver::Prerelease` orders an empty one after any other.
    pub pre: semver::Prerelease,
}

impl Version {
    pub const fn new(major: u64, minor: u64, patch: u64) -> Version {
        Version {
            major,
            minor,
            patch,
            pre: semver::Prerelease::EMPTY,
        }
    }

    /// `v1.32.4-dispatcher`, `20.10.24+dfsg1`, `5.9.0-rc.0`, `v1.33` → a version; `v5-dev`
    /// → None (a major alone says too little).
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.trim();
        let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
        // Build metadata never changes what a version is (semver.org §10).
        let s = s.split('+').next().unwrap_or(s);
        let end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let mut parts = s[..end].split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = match parts.next() {
            None | Some("") => 0,
            Some(p) => p.parse().ok()?,
        };
        let pre = match s[end..].strip_prefix('-') {
            Some(p) if is_prerelease_tag(p) => semver::Prerelease::new(p).ok()?,
            // A vendor's suffix on a release (`-dispatcher` of Google Cloud SDK's kubectl,
            // `-eks-5e0fdde`, `-gke.100`): the release itself, or `>=1.31` would refuse it.
            _ => semver::Prerelease::EMPTY,
        };
        Some(Version {
            major,
            minor,
            patch,
            pre,
        })
    }

    /// Whether this is a pre-release (`-rc.0`, `-beta.1`, `-dispatcher`).
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }

    /// As a `semver::Version`, to match `[tools]` requirements.
    pub fn to_semver(&self) -> semver::Version {
        semver::Version {
            major: self.major,
            minor: self.minor,
            patch: self.patch,
            pre: self.pre.clone(),
            build: semver::BuildMetadata::EMPTY,
        }
    }
}

/// Whether a version's `-suffix` names a pre-release: its first identifier starts with a
/// pre-release word (`rc.0`, `rc1`, `beta.2`, `alpha`, `dev.3`, `pre`).
fn is_prerelease_tag(suffix: &str) -> bool {
    let first = suffix
        .split(['.', '-'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    ["alpha", "beta", "rc", "pre", "dev"].iter().any(|w| {
        first
            .strip_prefix(w)
            .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit()))
    })
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        Ok(())
    }
}

/// k3d versions devenv refuses although they are newer than [`K3D_MIN`]: the
/// pre-releases of a release (`5.9.0` stands for `v5.9.0-rc.0`, `v5.9.0-rc.1`, ...; semver
/// orders them before v5.9.0) and why. The pre-releases of v5.9.0 create the registry named
/// in `registries.use` and fail with "A registry node with that name already exists"
/// (k3d-io/k3d#1642); v5.9.0 skips creating a registry that is already in the use list
/// (`pkg/client/cluster.go`, `git diff v5.8.3 v5.9.0`).
pub const K3D_BAD_PRERELEASES: &[(Version, &str)] = &[(
    Version::new(5, 9, 0),
    "its pre-releases create the registry that devenv lists in registries.use and fail with \
     \"A registry node with that name already exists\" (k3d-io/k3d#1642, fixed in v5.9.0)",
)];

/// Why this k3d is a known-bad pre-release, if it is one.
fn k3d_known_bad(v: &Version) -> Option<(&'static Version, &'static str)> {
    K3D_BAD_PRERELEASES.iter().find_map(|(release, why)| {
        let same = (v.major, v.minor, v.patch) == (release.major, release.minor, release.patch);
        (same && v < release).then_some((release, *why))
    })
}

pub const K3D_MIN: Version = Version::new(5, 5, 0);
pub const KUBECTL_MIN: Version = Version::new(1, 31, 0);
pub const KUSTOMIZE_MIN: Version = Version::new(5, 0, 0);

const K3D_INSTALL: &str = "install k3d v5.5.0 or newer: https://k3d.io/#installation";
const KUBECTL_INSTALL: &str =
    "install kubectl v1.31 or newer: https://kubernetes.io/docs/tasks/tools/";
const DOCKER_INSTALL: &str =
    "install Docker (Docker Desktop, or Docker Engine: https://docs.docker.com/engine/install/)";

/// The first line of a text, trimmed (for one-line details).
fn first_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// The check for a tool that could not be run at all.
fn spawn_failure(name: &str, program: &str, e: &RunError, install: &str) -> Check {
    match e {
        RunError::TimedOut { timeout, .. } => Check::fail(
            name,
            format!(
                "`{program}` did not answer within {}",
                humantime::format_duration(*timeout)
            ),
            format!("check that `{program}` works in a shell; restart it if it hangs"),
        ),
        _ => Check::fail(
            name,
            e.to_string().lines().next().unwrap_or("").to_string(),
            install,
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Docker

/// `docker version --format {{.Server.Version}}`: the client asks the daemon.
pub fn docker_version_cmd(docker: &str) -> Cmd {
    Cmd::new(docker)
        .args(["version", "--format", "{{.Server.Version}}"])
        .timeout(CHECK_TIMEOUT)
}

/// Reads the result of [`docker_version_cmd`] (any exit status).
pub fn interpret_docker_version(status: i32, stdout: &str, stderr: &str) -> Check {
    interpret_docker_version_on(status, stdout, stderr, cfg!(target_os = "macos"))
}

fn interpret_docker_version_on(status: i32, stdout: &str, stderr: &str, macos: bool) -> Check {
    const NAME: &str = "docker";
    let version = first_line(stdout);
    if status == 0 && !version.is_empty() && version != "<no value>" {
        return Check::ok(NAME, format!("Docker Engine {version}"));
    }
    let lower = stderr.to_ascii_lowercase();
    let endpoint = docker_endpoint(stderr);
    let at = endpoint
        .as_deref()
        .map(|e| format!(" at {e}"))
        .unwrap_or_default();
    if lower.contains("permission denied") {
        return Check::fail(
            NAME,
            format!("permission denied on the Docker socket{at}"),
            "add your user to the docker group (`sudo usermod -aG docker $USER`), then log out \
             and in again (or run `newgrp docker`)",
        );
    }
    let not_running = [
        "cannot connect to the docker daemon",
        "is the docker daemon running",
        "failed to connect to the docker api",
        "error during connect",
        "connection refused",
        "no such file or directory",
    ];
    if not_running.iter().any(|n| lower.contains(n)) {
        let fix = if macos {
            "start Docker Desktop (or your Docker VM, e.g. `colima start`), then retry"
        } else {
            "start Docker: `sudo systemctl start docker` (or start Docker Desktop), then retry"
        };
        return Check::fail(
            NAME,
            format!("the Docker daemon is not running (cannot connect{at})"),
            fix,
        );
    }
    let why = first_line(stderr);
    Check::fail(
        NAME,
        if why.is_empty() {
            format!("`docker version` did not report a server version (exit status {status})")
        } else {
            format!("`docker version` failed: {why}")
        },
        "run `docker version` and fix what it reports",
    )
}

/// `unix:///var/run/docker.sock` out of a docker client error.
fn docker_endpoint(stderr: &str) -> Option<String> {
    for scheme in ["unix://", "npipe://", "tcp://", "ssh://"] {
        if let Some(i) = stderr.find(scheme) {
            let rest = &stderr[i..];
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"')
                .unwrap_or(rest.len());
            let e = rest[..end].trim_end_matches(['.', ':', ';', ',']);
            return Some(e.to_string());
        }
    }
    None
}

/// Runs and interprets the Docker check. Only an interruption is an error.
pub async fn check_docker(runner: &Runner, docker: &str) -> Result<Check, RunError> {
    match runner
        .run_unchecked("preflight-docker", &docker_version_cmd(docker))
        .await
    {
        Ok(o) => Ok(interpret_docker_version(
            o.status,
            &o.stdout_str(),
            &o.stderr_str(),
        )),
        Err(e) if e.is_interrupted() => Err(e),
        Err(e) => Ok(spawn_failure("docker", docker, &e, DOCKER_INSTALL)),
    }
}

// ---------------------------------------------------------------------------------------
// k3d

/// `k3d version -o json` (with `LOG_COLORS=false`, as every k3d call).
pub fn k3d_version_cmd(k3d: &str) -> Cmd {
    Cmd::new(k3d)
        .args(["version", "-o", "json"])
        .env("LOG_COLORS", "false")
        .timeout(CHECK_TIMEOUT)
}

/// What `k3d version` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct K3dVersion {
    /// As printed: `v5.9.0`, or `v5-dev` for a plain `go build`.
    pub k3d: String,
    /// The default k3s image tag, `v1.32.5-k3s1`.
    pub k3s: Option<String>,
}

/// Parses `{"k3d":"v5.9.0","k3s":"v1.32.5-k3s1"}` or the text form
/// `k3d version v5.9.0` / `k3s version v1.32.5-k3s1 (default)`.
pub fn parse_k3d_version(out: &str) -> Option<K3dVersion> {
    let t = out.trim();
    if t.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(t).ok()?;
        let k3d = v.get("k3d")?.as_str()?.to_string();
        let k3s = v.get("k3s").and_then(|s| s.as_str()).map(str::to_string);
        return Some(K3dVersion { k3d, k3s });
    }
    let field = |prefix: &str| {
        t.lines().find_map(|l| {
            l.trim()
                .strip_prefix(prefix)
                .and_then(|r| r.split_whitespace().next())
                .map(str::to_string)
        })
    };
    Some(K3dVersion {
        k3d: field("k3d version ")?,
        k3s: field("k3s version "),
    })
}

/// Whether this k3d is one devenv supports.
pub fn evaluate_k3d(v: &K3dVersion) -> Check {
    const NAME: &str = "k3d";
    let k3s = v
        .k3s
        .as_deref()
        .map(|s| format!(" (default k3s {s})"))
        .unwrap_or_default();
    match Version::parse(&v.k3d) {
        None => Check::warn(
            NAME,
            format!("k3d reports version `{}`{k3s}: devenv cannot tell whether it is v5.5.0 or newer", v.k3d),
            "if `k3d cluster create` rejects devenv's config, install a released k3d: https://k3d.io/#installation",
        ),
        Some(ver) if ver < K3D_MIN => Check::fail(
            NAME,
            format!(
                "k3d {} is too old: devenv needs {K3D_MIN} or newer (for the k3d.io/v1alpha5 config format)",
                v.k3d
            ),
            K3D_INSTALL,
        ),
        Some(ver) if k3d_known_bad(&ver).is_some() => {
            let (release, why) = k3d_known_bad(&ver).expect("checked");
            Check::fail(
                NAME,
                format!("k3d {} is a pre-release of {release}: {why}", v.k3d),
                format!("install k3d {release} or newer (or v5.8.3): https://k3d.io/#installation"),
            )
        }
        Some(ver) if ver.major > K3D_MIN.major => Check::warn(
            NAME,
            format!("k3d {}{k3s} is a newer major version than devenv knows (v5)", v.k3d),
            "if `k3d cluster create` rejects devenv's config, install k3d v5 (v5.5.0 or newer)",
        ),
        Some(_) => Check::ok(NAME, format!("k3d {}{k3s}", v.k3d)),
    }
}

/// Reads the result of [`k3d_version_cmd`] (any exit status).
pub fn interpret_k3d_version(status: i32, stdout: &str, stderr: &str) -> Check {
    if status == 0 {
        if let Some(v) = parse_k3d_version(stdout) {
            return evaluate_k3d(&v);
        }
    }
    // k3d before v5.5.0 has no `-o` flag on `version`.
    let lower = stderr.to_ascii_lowercase();
    if lower.contains("unknown shorthand flag") || lower.contains("unknown flag") {
        return Check::fail(
            "k3d",
            format!("k3d is older than {K3D_MIN} (it has no `k3d version -o json`)"),
            K3D_INSTALL,
        );
    }
    Check::fail(
        "k3d",
        format!(
            "could not read the k3d version from `k3d version -o json` (exit status {status}): {}",
            first_line(if stderr.trim().is_empty() {
                stdout
            } else {
                stderr
            })
        ),
        "run `k3d version` and fix what it reports",
    )
}

/// The k3d check for the `up` preflight: `Err((message, hint))` when it fails (warnings
/// pass; `doctor` shows them).
pub fn check_k3d_output(stdout: &str) -> Result<(), Problem> {
    Problem::from_check(interpret_k3d_version(0, stdout, ""))
}

/// Runs and interprets the k3d check. Only an interruption is an error.
pub async fn check_k3d(runner: &Runner, k3d: &str) -> Result<Check, RunError> {
    match runner
        .run_unchecked("preflight-k3d", &k3d_version_cmd(k3d))
        .await
    {
        Ok(o) => Ok(interpret_k3d_version(
            o.status,
            &o.stdout_str(),
            &o.stderr_str(),
        )),
        Err(e) if e.is_interrupted() => Err(e),
        Err(e) => Ok(spawn_failure("k3d", k3d, &e, K3D_INSTALL)),
    }
}

/// A failed prerequisite as `(message, hint)` for a step error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem(pub String, pub String);

impl Problem {
    fn from_check(c: Check) -> Result<(), Problem> {
        match c.status {
            CheckStatus::Fail => Err(Problem(c.detail, c.fix.unwrap_or_default())),
            _ => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// kubectl

/// `kubectl version --client -o json` (needs no cluster).
pub fn kubectl_version_cmd(kubectl: &str) -> Cmd {
    Cmd::new(kubectl)
        .args(["version", "--client", "-o", "json"])
        .timeout(CHECK_TIMEOUT)
}

/// What `kubectl version --client` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubectlVersion {
    /// As printed: `v1.33.1`, `v1.32.4-dispatcher`.
    pub client: String,
    /// The release, from `gitVersion`, else from `major`/`minor` (`"32+"` on vendor builds).
    pub version: Option<Version>,
    /// `v5.6.0` (absent in very old kubectl).
    pub kustomize: Option<String>,
}

/// Parses the JSON of [`kubectl_version_cmd`] or the text form
/// (`Client Version: v1.33.1` / `Kustomize Version: v5.6.0`).
pub fn parse_kubectl_version(out: &str) -> Option<KubectlVersion> {
    let t = out.trim();
    if t.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(t).ok()?;
        let cv = v.get("clientVersion")?;
        let client = cv
            .get("gitVersion")
            .and_then(|s| s.as_str())
            .unwrap_or("")
            .to_string();
        let num = |k: &str| {
            cv.get(k)
                .and_then(|s| s.as_str())
                .and_then(|s| s.trim_end_matches('+').parse::<u64>().ok())
        };
        let version =
            Version::parse(&client).or_else(|| Some(Version::new(num("major")?, num("minor")?, 0)));
        if client.is_empty() && version.is_none() {
            return None;
        }
        let kustomize = v
            .get("kustomizeVersion")
            .and_then(|s| s.as_str())
            .map(str::to_string);
        return Some(KubectlVersion {
            client,
            version,
            kustomize,
        });
    }
    let field = |prefix: &str| {
        t.lines().find_map(|l| {
            l.trim()
                .strip_prefix(prefix)
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
        })
    };
    let client = field("Client Version:")?;
    Some(KubectlVersion {
        version: Version::parse(&client),
        client,
        kustomize: field("Kustomize Version:"),
    })
}

/// Two checks: kubectl itself and the kustomize inside it.
pub fn evaluate_kubectl(v: &KubectlVersion) -> Vec<Check> {
    let client = match &v.version {
        Some(ver) if *ver < KUBECTL_MIN => Check::fail(
            "kubectl",
            format!(
                "kubectl {} is too old: devenv needs v1.31 or newer (for `kubectl wait --for=create`)",
                v.client
            ),
            KUBECTL_INSTALL,
        ),
        Some(_) => Check::ok("kubectl", format!("kubectl {}", v.client)),
        None => Check::warn(
            "kubectl",
            format!("kubectl reports version `{}`: devenv cannot tell whether it is v1.31 or newer", v.client),
            KUBECTL_INSTALL,
        ),
    };
    let kustomize = match v.kustomize.as_deref() {
        None => Check::fail(
            "kustomize",
            format!("kubectl {} reports no kustomize version", v.client),
            KUBECTL_INSTALL,
        ),
        Some(k) => match Version::parse(k) {
            Some(kv) if kv < KUSTOMIZE_MIN => Check::fail(
                "kustomize",
                format!("kustomize {k} (in kubectl) is too old: devenv needs kustomize v5"),
                KUBECTL_INSTALL,
            ),
            Some(_) => Check::ok("kustomize", format!("kustomize {k} (kubectl kustomize)")),
            None => Check::warn(
                "kustomize",
                format!(
                    "kubectl reports kustomize version `{k}`: devenv cannot tell whether it is v5"
                ),
                KUBECTL_INSTALL,
            ),
        },
    };
    vec![client, kustomize]
}

/// Reads the result of [`kubectl_version_cmd`] (any exit status).
pub fn interpret_kubectl_version(status: i32, stdout: &str, stderr: &str) -> Vec<Check> {
    match parse_kubectl_version(stdout) {
        Some(v) if status == 0 => evaluate_kubectl(&v),
        _ => vec![Check::fail(
            "kubectl",
            format!(
                "could not read the kubectl version from `kubectl version --client -o json` (exit status {status}): {}",
                first_line(if stderr.trim().is_empty() { stdout } else { stderr })
            ),
            KUBECTL_INSTALL,
        )],
    }
}

/// The kubectl check for the `up` preflight: `Err((message, hint))` on the first failure.
pub fn check_kubectl_output(stdout: &str) -> Result<(), Problem> {
    for c in interpret_kubectl_version(0, stdout, "") {
        Problem::from_check(c)?;
    }
    Ok(())
}

/// Runs and interprets the kubectl checks. Only an interruption is an error.
pub async fn check_kubectl(runner: &Runner, kubectl: &str) -> Result<Vec<Check>, RunError> {
    match runner
        .run_unchecked("preflight-kubectl", &kubectl_version_cmd(kubectl))
        .await
    {
        Ok(o) => Ok(interpret_kubectl_version(
            o.status,
            &o.stdout_str(),
            &o.stderr_str(),
        )),
        Err(e) if e.is_interrupted() => Err(e),
        Err(e) => Ok(vec![spawn_failure("kubectl", kubectl, &e, KUBECTL_INSTALL)]),
    }
}

// ---------------------------------------------------------------------------------------
// helm (checked only when `[tools]` pins it)

const HELM_INSTALL: &str = "install helm: https://helm.sh/docs/intro/install/";

/// `helm version --template {{.Version}}`: `v3.18.6` (helm 3 and 4, no cluster needed).
pub fn helm_version_cmd(helm: &str) -> Cmd {
    Cmd::new(helm)
        .args(["version", "--template", "{{.Version}}"])
        .timeout(CHECK_TIMEOUT)
}

/// Reads the result of [`helm_version_cmd`].
pub fn interpret_helm_version(status: i32, stdout: &str, stderr: &str) -> (Check, Option<Version>) {
    let v = first_line(stdout);
    match Version::parse(v) {
        Some(ver) if status == 0 => (Check::ok("helm", format!("helm {v}")), Some(ver)),
        _ => (
            Check::fail(
                "helm",
                format!(
                    "could not read the helm version from `helm version` (exit status {status}): {}",
                    first_line(if stderr.trim().is_empty() { stdout } else { stderr })
                ),
                HELM_INSTALL,
            ),
            None,
        ),
    }
}

// ---------------------------------------------------------------------------------------
// `[tools]` pins

/// Compares what is installed with the project's pin (`at`: `devenv.toml:14`).
pub fn evaluate_pin(
    pin: &crate::tools::Pin,
    installed: Option<&Version>,
    reported: &str,
    at: Option<&str>,
) -> Check {
    let tool = pin.tool.name();
    let name = format!("tools.{tool}");
    let key = format!(
        "tools.{tool} = {:?}{}",
        pin.spec,
        at.map(|a| format!(" ({a})")).unwrap_or_default()
    );
    let fix = pin_fix(pin);
    match installed {
        Some(v) if pin.matches(&v.to_semver()) => {
            Check::ok(name, format!("{tool} {v} matches {key}"))
        }
        Some(v) => Check::fail(name, format!("{tool} {v} does not match {key}"), fix),
        None => Check::fail(
            name,
            format!("{tool} reports version `{reported}`, which cannot be compared with {key}"),
            fix,
        ),
    }
}

/// What to do when the installed tool does not satisfy its pin (or is not installed).
fn pin_fix(pin: &crate::tools::Pin) -> String {
    let tool = pin.tool.name();
    match &pin.exact {
        Some(v) => format!(
            "run `devenv up --install-tools` to download {tool} v{v} into devenv's cache (your PATH is left alone), or install {tool} v{v} yourself"
        ),
        None => format!(
            "install a {tool} matching {:?}, or pin an exact version so that `devenv up --install-tools` can download it",
            pin.spec
        ),
    }
}

/// The checks of one tool's version command as the `up` preflight runs it: `kind` is
/// `docker`, `k3d`, `kubectl` or `helm`; a pin adds its comparison.
pub fn interpret_tool(
    kind: &str,
    status: i32,
    stdout: &str,
    stderr: &str,
    pin: Option<&crate::tools::Pin>,
    pin_at: Option<&str>,
) -> Vec<Check> {
    let (mut checks, installed, reported) = match kind {
        "docker" => (
            vec![interpret_docker_version(status, stdout, stderr)],
            None,
            String::new(),
        ),
        "k3d" => {
            let c = interpret_k3d_version(status, stdout, stderr);
            let reported = parse_k3d_version(stdout).map(|v| v.k3d).unwrap_or_default();
            (vec![c], Version::parse(&reported), reported)
        }
        "kubectl" => {
            let checks = interpret_kubectl_version(status, stdout, stderr);
            let v = parse_kubectl_version(stdout).filter(|_| status == 0);
            let reported = v.as_ref().map(|v| v.client.clone()).unwrap_or_default();
            (checks, v.and_then(|v| v.version), reported)
        }
        "helm" => {
            let (c, v) = interpret_helm_version(status, stdout, stderr);
            (vec![c], v, first_line(stdout).to_string())
        }
        _ => (vec![], None, String::new()),
    };
    // A tool that did not answer at all already failed: a pin adds nothing to say.
    let answered = !reported.is_empty();
    if let (Some(pin), true) = (pin, answered) {
        checks.push(evaluate_pin(pin, installed.as_ref(), &reported, pin_at));
    }
    checks
}

/// The check for a tool that could not be started: with a `[tools]` pin, the pin says
/// which version to install (and `--install-tools` can, for an exact one); a newcomer's
/// machine has none of the tools yet, so the generic "v5.5.0 or newer" would mislead.
pub fn spawn_failure_pinned(
    kind: &str,
    program: &str,
    e: &RunError,
    pin: Option<&crate::tools::Pin>,
    pin_at: Option<&str>,
) -> Check {
    let mut check = spawn_failure_for(kind, program, e);
    if let (Some(pin), false) = (pin, matches!(e, RunError::TimedOut { .. })) {
        check.detail = format!(
            "{} (tools.{} = {:?}{})",
            check.detail,
            pin.tool.name(),
            pin.spec,
            pin_at.map(|a| format!(", {a}")).unwrap_or_default()
        );
        check.fix = Some(pin_fix(pin));
    }
    check
}

/// The check for a tool that could not be started, with its install hint.
pub fn spawn_failure_for(kind: &str, program: &str, e: &RunError) -> Check {
    let install = match kind {
        "docker" => DOCKER_INSTALL,
        "k3d" => K3D_INSTALL,
        "kubectl" => KUBECTL_INSTALL,
        "helm" => HELM_INSTALL,
        _ => "install it",
    };
    spawn_failure(kind, program, e, install)
}

// ---------------------------------------------------------------------------------------
// Ports

/// A process holding a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    /// The command line (shortened), or the process name.
    pub command: String,
}

/// A listening TCP socket from `/proc/net/tcp{,6}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    pub addr: IpAddr,
    pub port: u16,
    pub inode: u64,
}

/// Parses `/proc/net/tcp` (`v6 = false`) or `/proc/net/tcp6` and keeps LISTEN sockets.
/// Addresses are printed as the kernel's 32-bit words in host byte order.
pub fn parse_proc_net_tcp(text: &str, v6: bool) -> Vec<Listener> {
    const LISTEN: &str = "0A";
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 || f[3] != LISTEN {
            continue;
        }
        let Some((addr_hex, port_hex)) = f[1].split_once(':') else {
            continue;
        };
        let Ok(port) = u16::from_str_radix(port_hex, 16) else {
            continue;
        };
        let Ok(inode) = f[9].parse::<u64>() else {
            continue;
        };
        let addr = if v6 {
            if addr_hex.len() != 32 {
                continue;
            }
            let mut bytes = [0u8; 16];
            let mut ok = true;
            for i in 0..4 {
                match u32::from_str_radix(&addr_hex[i * 8..i * 8 + 8], 16) {
                    Ok(w) => bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes()),
                    Err(_) => ok = false,
                }
            }
            if !ok {
                continue;
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        } else {
            let Ok(w) = u32::from_str_radix(addr_hex, 16) else {
                continue;
            };
            IpAddr::V4(Ipv4Addr::from(w.to_ne_bytes()))
        };
        out.push(Listener { addr, port, inode });
    }
    out
}

/// `::ffff:a.b.c.d` → `a.b.c.d`.
fn normalize(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(a),
        v4 => v4,
    }
}

/// Whether a socket listening on `listener` stops a bind to `bind` on the same port.
/// `0.0.0.0` conflicts with every IPv4 address, `::` with everything (dual stack).
pub fn addrs_conflict(listener: IpAddr, bind: IpAddr) -> bool {
    let (l, b) = (normalize(listener), normalize(bind));
    if l == b {
        return true;
    }
    let wildcard_covers = |w: IpAddr, other: IpAddr| match w {
        IpAddr::V6(v6) if v6.is_unspecified() => true,
        IpAddr::V4(v4) if v4.is_unspecified() => other.is_ipv4() || other.is_unspecified(),
        _ => false,
    };
    wildcard_covers(l, b) || wildcard_covers(b, l)
}

/// The listening sockets of this network namespace that conflict with `addr:port`
/// (empty where `/proc` is not available).
fn conflicting_listeners(addr: IpAddr, port: u16) -> Vec<Listener> {
    let mut out = Vec::new();
    for (path, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        if let Ok(text) = std::fs::read_to_string(path) {
            out.extend(
                parse_proc_net_tcp(&text, v6)
                    .into_iter()
                    .filter(|l| l.port == port && addrs_conflict(l.addr, addr)),
            );
        }
    }
    out
}

/// The process that owns one of these socket inodes, found through `/proc/PID/fd`.
/// Processes of other users are unreadable without privileges: then `None`.
fn holder_of(inodes: &[u64]) -> Option<Holder> {
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    let mut procs: Vec<u32> = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    // Look at ourselves first: cheap, and tests bind in-process.
    let me = std::process::id();
    procs.sort_by_key(|p| *p != me);
    for pid in procs {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                if wanted.iter().any(|w| target.as_os_str() == w.as_str()) {
                    return Some(Holder {
                        pid,
                        command: process_command(pid),
                    });
                }
            }
        }
    }
    None
}

/// `registry serve /etc/docker/registry/config.yml`, shortened; the name when the command
/// line is empty (kernel threads, zombies).
fn process_command(pid: u32) -> String {
    const MAX: usize = 80;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let text = if args.is_empty() {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    } else {
        let mut a = args;
        // The program's file name is enough; the directory only takes room.
        if let Some(name) = Path::new(&a[0]).file_name() {
            a[0] = name.to_string_lossy().into_owned();
        }
        shlex::try_join(a.iter().map(String::as_str)).unwrap_or_else(|_| a.join(" "))
    };
    if text.chars().count() > MAX {
        let cut: String = text.chars().take(MAX - 3).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// Who listens on `port` in a way that conflicts with binding `addr` (Linux `/proc`).
pub fn port_holder(port: u16, addr: IpAddr) -> Option<Holder> {
    let listeners = conflicting_listeners(addr, port);
    if listeners.is_empty() {
        return None;
    }
    holder_of(&listeners.iter().map(|l| l.inode).collect::<Vec<_>>())
}

/// Binds `addr:port` and lets it go at once.
pub fn try_bind(addr: IpAddr, port: u16) -> io::Result<()> {
    TcpListener::bind((addr, port)).map(drop)
}

/// Whether a port can be bound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortState {
    Free,
    /// In use; `holder` when the owning process could be found.
    Busy {
        holder: Option<Holder>,
    },
    /// The address is not one of this machine's.
    BadAddress,
}

/// Looks in `/proc` for a conflicting listener, then tries to bind (macOS, other network
/// namespaces, sockets of other users hidden from us).
pub fn port_state(addr: IpAddr, port: u16) -> PortState {
    let listeners = conflicting_listeners(addr, port);
    if !listeners.is_empty() {
        let inodes: Vec<u64> = listeners.iter().map(|l| l.inode).collect();
        return PortState::Busy {
            holder: holder_of(&inodes),
        };
    }
    match try_bind(addr, port) {
        Ok(()) => PortState::Free,
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => PortState::Busy { holder: None },
        Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable => PortState::BadAddress,
        // Privileged ports: Docker binds them as root, so they are not our concern.
        Err(_) => PortState::Free,
    }
}

/// For the `up` preflight: `Some(" by pid 4242 (`registry serve ...`)")` when the port is
/// busy (an empty string when the holder is unknown), `None` when free.
pub fn port_in_use(addr: IpAddr, port: u16) -> Option<String> {
    match port_state(addr, port) {
        PortState::Busy { holder } => Some(holder_suffix(holder.as_ref())),
        _ => None,
    }
}

fn holder_suffix(holder: Option<&Holder>) -> String {
    match holder {
        Some(h) => format!(" by pid {} (`{}`)", h.pid, h.command),
        None => String::new(),
    }
}

/// The check for one port devenv will publish; `setting` is the devenv.toml key that
/// chooses it (`registry.port`).
pub fn check_port(addr: IpAddr, port: u16, setting: &str) -> Check {
    evaluate_port(addr, port, setting, &port_state(addr, port))
}

/// [`check_port`] on an observed state.
pub fn evaluate_port(addr: IpAddr, port: u16, setting: &str, state: &PortState) -> Check {
    let name = format!("port {port}");
    match state {
        PortState::Free => Check::ok(name, format!("port {port} on {addr} is free ({setting})")),
        PortState::Busy { holder } => {
            let mut fix = format!("stop it or set {setting} in devenv.toml");
            if holder
                .as_ref()
                .is_some_and(|h| h.command.starts_with("docker-proxy"))
            {
                fix = format!(
                    "a container publishes it (`docker ps --filter publish={port}`): stop it or set {setting} in devenv.toml"
                );
            }
            Check::fail(
                name,
                format!(
                    "port {port} on {addr} is already in use{}",
                    holder_suffix(holder.as_ref())
                ),
                fix,
            )
        }
        PortState::BadAddress => Check::fail(
            name,
            format!("{addr} is not an address of this machine"),
            format!("use 127.0.0.1 (or 0.0.0.0) for {setting} in devenv.toml"),
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Disk space

pub const DISK_WARN_BELOW: u64 = 5 << 30;
pub const DISK_FAIL_BELOW: u64 = 1 << 30;

/// Bytes available to an unprivileged user on the filesystem of `path`.
#[cfg(unix)]
pub fn free_bytes(path: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)]
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

#[cfg(not(unix))]
pub fn free_bytes(_path: &Path) -> io::Result<u64> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "statvfs is not available",
    ))
}

/// `12.3 GiB`, `512 MiB`.
pub fn format_bytes(b: u64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    if b >= 1 << 30 {
        format!("{:.1} GiB", b as f64 / GIB)
    } else {
        format!("{} MiB", b >> 20)
    }
}

/// Warn under 5 GiB, fail under 1 GiB (images, k3s layers and the registry grow fast).
pub fn evaluate_disk(label: &str, path: &Path, free: u64) -> Check {
    let name = format!("disk ({label})");
    let detail = format!(
        "{} free on the filesystem of {}",
        format_bytes(free),
        path.display()
    );
    let fix = format!(
        "free space on the filesystem of {} (`docker system prune` removes unused images)",
        path.display()
    );
    if free < DISK_FAIL_BELOW {
        Check::fail(name, detail, fix)
    } else if free < DISK_WARN_BELOW {
        Check::warn(name, detail, fix)
    } else {
        Check::ok(name, detail)
    }
}

/// Disk space where `path` lives (a check that cannot read it is a warning).
pub fn check_disk(label: &str, path: &Path) -> Check {
    match free_bytes(path) {
        Ok(free) => evaluate_disk(label, path, free),
        Err(e) => Check::warn(
            format!("disk ({label})"),
            format!("could not read the free space of {}: {e}", path.display()),
            "check the free disk space by hand (`df -h`)",
        ),
    }
}

/// `docker info --format {{.DockerRootDir}}`: where images and containers are stored.
pub fn docker_root_dir_cmd(docker: &str) -> Cmd {
    Cmd::new(docker)
        .args(["info", "--format", "{{.DockerRootDir}}"])
        .timeout(CHECK_TIMEOUT)
}

/// Disk space of Docker's data root, when it is on this machine and on another
/// filesystem than `project_dir` (Docker Desktop keeps it inside a VM: then `None`).
pub async fn check_docker_disk(
    runner: &Runner,
    docker: &str,
    project_dir: &Path,
) -> Result<Option<Check>, RunError> {
    let out: Output = match runner
        .run_unchecked("preflight-docker", &docker_root_dir_cmd(docker))
        .await
    {
        Ok(o) if o.success() => o,
        Ok(_) => return Ok(None),
        Err(e) if e.is_interrupted() => return Err(e),
        Err(_) => return Ok(None),
    };
    let root = PathBuf::from(first_line(&out.stdout_str()));
    if root.as_os_str().is_empty() || !root.exists() || same_filesystem(&root, project_dir) {
        return Ok(None);
    }
    Ok(Some(check_disk("docker data", &root)))
}

#[cfg(unix)]
fn same_filesystem(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_filesystem(_a: &Path, _b: &Path) -> bool {
    false
}

// ---------------------------------------------------------------------------------------
// Which `devenv` the shell runs

/// Whether `devenv` on PATH is this program. Another one first on PATH (often devenv.sh,
/// a different tool with the same name, from Nix) would answer every `devenv` typed in a
/// shell.
pub fn evaluate_self_on_path(on_path: Option<&Path>, current: &Path) -> Check {
    const NAME: &str = "devenv on PATH";
    let dir = |p: &Path| {
        p.parent()
            .map(|d| d.display().to_string())
            .unwrap_or_default()
    };
    match on_path {
        Some(p) if p == current => Check::ok(NAME, format!("{}", p.display())),
        Some(p) => {
            let hint = if p.to_string_lossy().contains("/nix/store/")
                || p.to_string_lossy().contains(".nix-profile")
            {
                " (probably devenv.sh from Nix, a different tool)"
            } else {
                ""
            };
            Check::warn(
                NAME,
                format!(
                    "`devenv` on PATH is {}{hint}, not this program ({})",
                    p.display(),
                    current.display()
                ),
                format!(
                    "put {} before {} in PATH, or run this one by its full path",
                    dir(current),
                    dir(p)
                ),
            )
        }
        None => Check::warn(
            NAME,
            format!(
                "`devenv` is not on PATH (this program is {})",
                current.display()
            ),
            format!("add {} to PATH", dir(current)),
        ),
    }
}

/// [`evaluate_self_on_path`] for this process (paths compared after resolving symlinks).
pub fn check_self_on_path() -> Check {
    let canon = |p: PathBuf| std::fs::canonicalize(&p).unwrap_or(p);
    let current = match std::env::current_exe() {
        Ok(p) => canon(p),
        Err(e) => {
            return Check::warn(
                "devenv on PATH",
                format!("could not find this program's path: {e}"),
                "run devenv by its full path",
            )
        }
    };
    let found = which::which("devenv").ok().map(canon);
    evaluate_self_on_path(found.as_deref(), &current)
}

// ---------------------------------------------------------------------------------------
// All checks

/// The programs to check (e.g. a `DEVENV_DOCKER` override).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tools {
    pub docker: String,
    pub k3d: String,
    pub kubectl: String,
}

impl Default for Tools {
    fn default() -> Tools {
        Tools {
            docker: "docker".into(),
            k3d: "k3d".into(),
            kubectl: "kubectl".into(),
        }
    }
}

/// A host port devenv will publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortRequest {
    pub addr: IpAddr,
    pub port: u16,
    /// The devenv.toml key choosing it (`registry.port`, `cluster.api_port`).
    pub setting: String,
}

/// What `doctor` checks. Ports held by devenv's own registry or cluster must be left out
/// by the caller (they are busy because devenv is up, which is fine).
#[derive(Clone, Debug, Default)]
pub struct PreflightInput {
    pub tools: Tools,
    pub project_dir: PathBuf,
    pub ports: Vec<PortRequest>,
    /// Skip the k3d check (a cluster provider other than k3d).
    pub skip_k3d: bool,
    /// `[tools]` pins, each with where it is written (`devenv.toml:14`).
    pub pins: Vec<(crate::tools::Pin, Option<String>)>,
}

/// Runs every check, the commands concurrently. Only an interruption is an error.
pub async fn run_all(runner: &Runner, input: &PreflightInput) -> Result<Vec<Check>, RunError> {
    let t = &input.tools;
    let pin = |tool: crate::tools::Tool| input.pins.iter().find(|(p, _)| p.tool == tool);
    let check = |kind: &'static str, program: String, cmd: Cmd| {
        let pin = crate::tools::Tool::from_name(kind).and_then(pin);
        async move {
            match runner
                .run_unchecked(&format!("preflight-{kind}"), &cmd)
                .await
            {
                Ok(o) => Ok(interpret_tool(
                    kind,
                    o.status,
                    &o.stdout_str(),
                    &o.stderr_str(),
                    pin.map(|(p, _)| p),
                    pin.and_then(|(_, at)| at.as_deref()),
                )),
                Err(e) if e.is_interrupted() => Err(e),
                Err(e) => Ok(vec![spawn_failure_pinned(
                    kind,
                    &program,
                    &e,
                    pin.map(|(p, _)| p),
                    pin.and_then(|(_, at)| at.as_deref()),
                )]),
            }
        }
    };
    let wants_helm = pin(crate::tools::Tool::Helm).is_some();
    let (docker, k3d, kubectl, helm) = tokio::join!(
        check("docker", t.docker.clone(), docker_version_cmd(&t.docker)),
        async {
            if input.skip_k3d {
                Ok(vec![])
            } else {
                check("k3d", t.k3d.clone(), k3d_version_cmd(&t.k3d)).await
            }
        },
        check(
            "kubectl",
            t.kubectl.clone(),
            kubectl_version_cmd(&t.kubectl)
        ),
        async {
            if wants_helm {
                check("helm", "helm".into(), helm_version_cmd("helm")).await
            } else {
                Ok(vec![])
            }
        },
    );
    let docker = docker?;
    let docker_ok = docker.iter().all(|c| c.status == CheckStatus::Ok);
    let mut checks = docker;
    checks.extend(k3d?);
    checks.extend(kubectl?);
    checks.extend(helm?);
    for p in &input.ports {
        checks.push(check_port(p.addr, p.port, &p.setting));
    }
    checks.push(check_disk("project", &input.project_dir));
    if docker_ok {
        checks.extend(check_docker_disk(runner, &t.docker, &input.project_dir).await?);
    }
    checks.push(check_self_on_path());
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/reference/samples"
    );

    #[test]
    fn versions_parse_and_compare_by_release() {
        // Vendor builds of a release are that release (`[tools] kubectl = ">=1.31"` must
        // accept Google Cloud SDK's and EKS's kubectl).
        let dispatcher = Version::parse("v1.32.4-dispatcher").unwrap();
        assert_eq!(dispatcher, Version::new(1, 32, 4));
        assert!(!dispatcher.is_prerelease());
        let at_least = crate::tools::parse_spec(">=1.31").unwrap().0;
        assert!(at_least.matches(&dispatcher.to_semver()));
        assert_eq!(
            Version::parse("v1.29.0-eks-5e0fdde"),
            Some(Version::new(1, 29, 0))
        );
        assert_eq!(
            Version::parse("v1.27.3-gke.100"),
            Some(Version::new(1, 27, 3))
        );
        for pre in [
            "v1.34.0-alpha.1",
            "v1.34.0-beta.0",
            "v3.19.0-rc.1",
            "v5.9.0-dev.2",
            "1.0.0-rc1",
        ] {
            assert!(Version::parse(pre).unwrap().is_prerelease(), "{pre}");
        }
        assert_eq!(
            Version::parse("20.10.24+dfsg1"),
            Some(Version::new(20, 10, 24))
        );
        // Pre-releases sort before their release, as semver orders them (issue 12 #9).
        let rc = Version::parse("v5.9.0-rc.0").unwrap();
        assert!(rc.is_prerelease());
        assert!(rc < Version::new(5, 9, 0), "{rc}");
        assert!(rc > Version::new(5, 8, 3));
        assert!(Version::parse("v5.9.0-rc.0") < Version::parse("v5.9.0-rc.1"));
        assert!(Version::parse("v5.9.0-rc.2") < Version::parse("v5.9.0-rc.10"));
        assert!(Version::parse("v5.5.0-beta.1").unwrap() < K3D_MIN);
        assert_eq!(Version::parse("v1.33"), Some(Version::new(1, 33, 0)));
        assert_eq!(Version::parse("v5-dev"), None);
        assert_eq!(Version::parse(""), None);
        assert!(Version::parse("v5.10.0") > Version::parse("v5.9.9"));
        assert!(Version::parse("v1.31.0").unwrap() >= KUBECTL_MIN);
        assert!(Version::parse("v1.30.13").unwrap() < KUBECTL_MIN);
        assert!(Version::parse("v5.4.6").unwrap() < K3D_MIN);
    }

    #[test]
    fn kubectl_sample_output_passes() {
        let text =
            std::fs::read_to_string(format!("{SAMPLES}/kubectl-version-client.json")).unwrap();
        let v = parse_kubectl_version(&text).unwrap();
        assert_eq!(v.client, "v1.33.1");
        assert_eq!(v.version, Some(Version::new(1, 33, 1)));
        assert_eq!(v.kustomize.as_deref(), Some("v5.6.0"));
        let checks = evaluate_kubectl(&v);
        assert!(
            checks.iter().all(|c| c.status == CheckStatus::Ok),
            "{checks:?}"
        );
        assert_eq!(checks[0].detail, "kubectl v1.33.1");
        assert_eq!(check_kubectl_output(&text), Ok(()));
    }

    #[test]
    fn kubectl_dispatcher_build_with_plus_minor() {
        // Real output of the Google Cloud SDK dispatcher on the project's machines.
        let text = r#"{
  "clientVersion": {"major": "1", "minor": "32+", "gitVersion": "v1.32.4-dispatcher",
    "gitCommit": "4cb5f0764b8d5f425645c6f433394fede34a8a26", "platform": "linux/amd64"},
  "kustomizeVersion": "v5.5.0"
}"#;
        let v = parse_kubectl_version(text).unwrap();
        assert_eq!(v.version, Version::parse("v1.32.4-dispatcher"));
        // No usable gitVersion: major/minor ("32+") still give the release.
        let odd = text.replace("v1.32.4-dispatcher", "custom");
        assert_eq!(
            parse_kubectl_version(&odd).unwrap().version,
            Some(Version::new(1, 32, 0))
        );
        let plain = "Client Version: v1.32.4-dispatcher\nKustomize Version: v5.5.0\n";
        let p = parse_kubectl_version(plain).unwrap();
        assert_eq!(p.client, "v1.32.4-dispatcher");
        assert_eq!(p.kustomize.as_deref(), Some("v5.5.0"));
        assert!(evaluate_kubectl(&p)
            .iter()
            .all(|c| c.status == CheckStatus::Ok));
    }

    #[test]
    fn old_kubectl_and_old_kustomize_fail_with_a_fix() {
        let text = r#"{"clientVersion":{"major":"1","minor":"30","gitVersion":"v1.30.13"},"kustomizeVersion":"v5.0.4-0.20230601165947-6ce0bf390ce3"}"#;
        let checks = interpret_kubectl_version(0, text, "");
        assert_eq!(checks[0].status, CheckStatus::Fail);
        assert!(
            checks[0].detail.contains("--for=create"),
            "{}",
            checks[0].detail
        );
        assert!(checks[0].fix.as_deref().unwrap().contains("v1.31"));
        assert_eq!(checks[1].status, CheckStatus::Ok);
        let Err(Problem(msg, hint)) = check_kubectl_output(text) else {
            panic!("old kubectl passed")
        };
        assert!(msg.contains("v1.30.13") && hint.contains("kubernetes.io"));

        let old_kustomize = "Client Version: v1.31.0\nKustomize Version: v4.5.7\n";
        let checks = interpret_kubectl_version(0, old_kustomize, "");
        assert_eq!(checks[0].status, CheckStatus::Ok);
        assert_eq!(checks[1].status, CheckStatus::Fail);
        let bad = interpret_kubectl_version(1, "", "error: unknown flag: --client");
        assert_eq!(bad[0].status, CheckStatus::Fail);
        assert!(bad[0].detail.contains("unknown flag"));
    }

    #[test]
    fn k3d_json_and_text_forms() {
        let json = "{\"k3d\":\"v5.9.0\",\"k3s\":\"v1.32.5-k3s1\"}\n";
        let v = parse_k3d_version(json).unwrap();
        assert_eq!(v.k3d, "v5.9.0");
        assert_eq!(v.k3s.as_deref(), Some("v1.32.5-k3s1"));
        let c = interpret_k3d_version(0, json, "");
        assert_eq!(c.status, CheckStatus::Ok);
        assert_eq!(c.detail, "k3d v5.9.0 (default k3s v1.32.5-k3s1)");

        let text = "k3d version v5.9.0\nk3s version v1.32.5-k3s1 (default)\n";
        assert_eq!(parse_k3d_version(text), Some(v));
        assert_eq!(check_k3d_output(json), Ok(()));
    }

    #[test]
    fn k3d_version_range() {
        let eval = |k3d: &str| {
            evaluate_k3d(&K3dVersion {
                k3d: k3d.into(),
                k3s: None,
            })
        };
        assert_eq!(eval("v5.5.0").status, CheckStatus::Ok);
        let old = eval("v5.4.9");
        assert_eq!(old.status, CheckStatus::Fail);
        assert!(old.detail.contains("v1alpha5"), "{}", old.detail);
        assert_eq!(eval("v6.0.0").status, CheckStatus::Warn);
        // k3d-io/k3d#1642: the v5.9.0 pre-releases break registries.use; v5.9.0 fixed it.
        for rc in ["v5.9.0-rc.0", "v5.9.0-rc.1"] {
            let c = eval(rc);
            assert_eq!(c.status, CheckStatus::Fail, "{rc}: {c:?}");
            assert!(c.detail.contains("pre-release of v5.9.0"), "{}", c.detail);
            assert!(c.detail.contains("k3d-io/k3d#1642"), "{}", c.detail);
            assert!(c.fix.as_deref().unwrap().contains("v5.9.0 or newer"));
        }
        assert_eq!(eval("v5.9.0").status, CheckStatus::Ok);
        assert_eq!(eval("v5.9.1-rc.0").status, CheckStatus::Ok);
        assert_eq!(eval("v5.8.3").status, CheckStatus::Ok);
        assert_eq!(eval("v5-dev").status, CheckStatus::Warn);
        // k3d before v5.5.0 rejects `-o` on `version` (cobra's message).
        let c = interpret_k3d_version(1, "", "Error: unknown shorthand flag: 'o' in -o\n");
        assert_eq!(c.status, CheckStatus::Fail);
        assert!(c.detail.contains("older than v5.5.0"), "{}", c.detail);
        assert!(check_k3d_output("garbage").is_err());
    }

    #[test]
    fn docker_outputs() {
        // Real outputs of the docker 28.2.2 client.
        let ok = interpret_docker_version_on(0, "20.10.24+dfsg1\n", "", false);
        assert_eq!(ok, Check::ok("docker", "Docker Engine 20.10.24+dfsg1"));

        let down = interpret_docker_version_on(
            1,
            "\n",
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n",
            false,
        );
        assert_eq!(down.status, CheckStatus::Fail);
        assert_eq!(
            down.detail,
            "the Docker daemon is not running (cannot connect at unix:///var/run/docker.sock)"
        );
        assert!(down
            .fix
            .as_deref()
            .unwrap()
            .contains("sudo systemctl start docker"));
        let mac = interpret_docker_version_on(1, "", "Cannot connect to the Docker daemon at unix:///Users/a/.docker/run/docker.sock. Is the docker daemon running?", true);
        assert!(mac.fix.as_deref().unwrap().contains("Docker Desktop"));

        let denied = interpret_docker_version_on(
            1,
            "\n",
            "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get \"http://%2Fvar%2Frun%2Fdocker.sock/v1.50/version\": dial unix /var/run/docker.sock: connect: permission denied\n",
            false,
        );
        assert_eq!(denied.status, CheckStatus::Fail);
        assert_eq!(
            denied.detail,
            "permission denied on the Docker socket at unix:///var/run/docker.sock"
        );
        assert!(denied.fix.as_deref().unwrap().contains("docker group"));

        let other = interpret_docker_version_on(1, "", "context \"x\" does not exist\n", false);
        assert_eq!(other.status, CheckStatus::Fail);
        assert!(other.detail.contains("context \"x\" does not exist"));
    }

    #[test]
    fn proc_net_tcp_lines() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:13F7 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0\n\
   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0\n\
   2: 0100007F:A1B2 0100007F:13F7 01 00000000:00000000 00:00000000 00000000  1000        0 999 1 0000000000000000 20 4 30 10 -1\n";
        let l = parse_proc_net_tcp(v4, false);
        assert_eq!(
            l,
            vec![
                Listener {
                    addr: "127.0.0.1".parse().unwrap(),
                    port: 5111,
                    inode: 4242
                },
                Listener {
                    addr: "0.0.0.0".parse().unwrap(),
                    port: 8080,
                    inode: 777
                },
            ]
        );
        let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000000000000000000001000000:1B58 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 10 0\n\
   1: 0000000000000000FFFF00000100007F:1B59 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31338 1 0000000000000000 100 0 0 10 0\n";
        let l = parse_proc_net_tcp(v6, true);
        assert_eq!(l[0].addr, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(l[0].port, 7000);
        assert_eq!(l[1].addr, "::ffff:127.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn address_conflicts() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(addrs_conflict(ip("127.0.0.1"), ip("127.0.0.1")));
        assert!(addrs_conflict(ip("0.0.0.0"), ip("127.0.0.1")));
        assert!(addrs_conflict(ip("127.0.0.1"), ip("0.0.0.0")));
        assert!(addrs_conflict(ip("::"), ip("127.0.0.1")));
        assert!(addrs_conflict(ip("::ffff:127.0.0.1"), ip("127.0.0.1")));
        assert!(addrs_conflict(ip("::1"), ip("::")));
        assert!(!addrs_conflict(ip("127.0.0.2"), ip("127.0.0.1")));
        assert!(!addrs_conflict(ip("::1"), ip("127.0.0.1")));
        assert!(!addrs_conflict(ip("0.0.0.0"), ip("::1")));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_busy_port_names_this_test_process() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let h = port_holder(port, lo).expect("holder found");
        assert_eq!(h.pid, std::process::id());
        assert!(!h.command.is_empty());
        // The wildcard address conflicts with it too.
        assert_eq!(
            port_holder(port, "0.0.0.0".parse().unwrap()).unwrap().pid,
            h.pid
        );
        let c = check_port(lo, port, "registry.port");
        assert_eq!(c.status, CheckStatus::Fail);
        assert!(
            c.detail.starts_with(&format!(
                "port {port} on 127.0.0.1 is already in use by pid {} (`",
                h.pid
            )),
            "{}",
            c.detail
        );
        assert_eq!(
            c.fix.as_deref(),
            Some("stop it or set registry.port in devenv.toml")
        );
        assert_eq!(
            port_in_use(lo, port),
            Some(format!(" by pid {} (`{}`)", h.pid, h.command))
        );
        drop(l);
        // Free again once closed (a fresh bind, as devenv's registry would do).
        assert_eq!(port_state(lo, port), PortState::Free);
        assert_eq!(port_in_use(lo, port), None);
    }

    #[test]
    fn busy_without_a_known_holder_still_fails() {
        let c = evaluate_port(
            "127.0.0.1".parse().unwrap(),
            6550,
            "cluster.api_port",
            &PortState::Busy { holder: None },
        );
        assert_eq!(c.status, CheckStatus::Fail);
        assert_eq!(c.detail, "port 6550 on 127.0.0.1 is already in use");
        let docker = evaluate_port(
            "127.0.0.1".parse().unwrap(),
            5111,
            "registry.port",
            &PortState::Busy {
                holder: Some(Holder {
                    pid: 9,
                    command: "docker-proxy -proto tcp -host-ip 127.0.0.1".into(),
                }),
            },
        );
        assert!(docker
            .fix
            .unwrap()
            .contains("docker ps --filter publish=5111"));
        // 192.0.2.1 (TEST-NET-1) is never a local address.
        let bad = check_port("192.0.2.1".parse().unwrap(), 5111, "registry.bind");
        assert_eq!(bad.status, CheckStatus::Fail);
    }

    #[test]
    fn disk_thresholds() {
        let p = Path::new("/p");
        assert_eq!(
            evaluate_disk("project", p, 10 << 30).status,
            CheckStatus::Ok
        );
        assert_eq!(
            evaluate_disk("project", p, 4 << 30).status,
            CheckStatus::Warn
        );
        let low = evaluate_disk("project", p, 512 << 20);
        assert_eq!(low.status, CheckStatus::Fail);
        assert_eq!(low.detail, "512 MiB free on the filesystem of /p");
        assert_eq!(format_bytes(12_884_901_888), "12.0 GiB");
        // The real filesystem answers.
        let here = free_bytes(Path::new(".")).unwrap();
        assert!(here > 0);
        assert!(check_disk("x", Path::new("/definitely/not/here")).status == CheckStatus::Warn);
    }

    #[test]
    fn devenv_on_path() {
        let me = Path::new("/home/u/.cargo/bin/devenv");
        assert_eq!(evaluate_self_on_path(Some(me), me).status, CheckStatus::Ok);
        let nix =
            evaluate_self_on_path(Some(Path::new("/nix/store/abc-devenv-1.0/bin/devenv")), me);
        assert_eq!(nix.status, CheckStatus::Warn);
        assert!(nix.detail.contains("devenv.sh"), "{}", nix.detail);
        assert_eq!(
            nix.fix.as_deref(),
            Some("put /home/u/.cargo/bin before /nix/store/abc-devenv-1.0/bin in PATH, or run this one by its full path")
        );
        assert_eq!(evaluate_self_on_path(None, me).status, CheckStatus::Warn);
    }

    #[test]
    fn worst_and_render() {
        let checks = vec![
            Check::ok("docker", "Docker Engine 28.2.2"),
            Check::warn("k3d", "k3d v6.0.0", "install k3d v5"),
            Check::fail("port 5111", "in use", "stop it"),
        ];
        assert_eq!(worst(&checks), CheckStatus::Fail);
        assert_eq!(worst(&checks[..2]), CheckStatus::Warn);
        assert_eq!(worst(&[]), CheckStatus::Ok);
        let text = render_checks(&checks);
        assert_eq!(
            text,
            "✓ ok    docker     Docker Engine 28.2.2\n\
             ! warn  k3d        k3d v6.0.0\n\
             \x20                  fix: install k3d v5\n\
             ✗ FAIL  port 5111  in use\n\
             \x20                  fix: stop it\n"
        );
        let json = serde_json::to_value(&checks[2]).unwrap();
        assert_eq!(json["status"], "fail");
    }
}
