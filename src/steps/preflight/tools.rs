//! The tool checks: Docker, k3d, kubectl (and the kustomize inside it), helm, and the
//! `[tools]` pins they must satisfy.

use crate::runner::{Cmd, RunError, Runner};
use crate::version::{
    parse_k3d_version, parse_kubectl_version, K3dVersion, KubectlVersion, Version,
};

use super::{Check, CheckStatus, CHECK_TIMEOUT};

// ---------------------------------------------------------------------------------------
// Versions

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
pub(super) fn first_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// Runs a check's command and reads its answer (exit status, stdout, stderr) with
/// `interpret`; a command that could not run at all is `could_not_run`'s check.
/// Only an interruption is an error.
pub(super) async fn run_check<T>(
    runner: &Runner,
    step_id: &str,
    cmd: &Cmd,
    interpret: impl FnOnce(i32, &str, &str) -> T,
    could_not_run: impl FnOnce(&RunError) -> T,
) -> Result<T, RunError> {
    match runner.run_unchecked(step_id, cmd).await {
        Ok(o) => Ok(interpret(o.status, &o.stdout_str(), &o.stderr_str())),
        Err(e) if e.is_interrupted() => Err(e),
        Err(e) => Ok(could_not_run(&e)),
    }
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

pub(super) fn interpret_docker_version_on(
    status: i32,
    stdout: &str,
    stderr: &str,
    macos: bool,
) -> Check {
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
    run_check(
        runner,
        "preflight-docker",
        &docker_version_cmd(docker),
        interpret_docker_version,
        |e| spawn_failure("docker", docker, e, DOCKER_INSTALL),
    )
    .await
}

// ---------------------------------------------------------------------------------------
// k3d

/// `k3d version -o json` (with `LOG_COLORS=false`, as every k3d call).
pub fn k3d_version_cmd(k3d: &str) -> Cmd {
    let secs = CHECK_TIMEOUT.as_secs();
    crate::kube::k3d_at(
        k3d,
        &["version", "-o", "json"],
        "check the k3d version",
        secs,
    )
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
    run_check(
        runner,
        "preflight-k3d",
        &k3d_version_cmd(k3d),
        interpret_k3d_version,
        |e| spawn_failure("k3d", k3d, e, K3D_INSTALL),
    )
    .await
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
    run_check(
        runner,
        "preflight-kubectl",
        &kubectl_version_cmd(kubectl),
        interpret_kubectl_version,
        |e| vec![spawn_failure("kubectl", kubectl, e, KUBECTL_INSTALL)],
    )
    .await
}

// ---------------------------------------------------------------------------------------
// helm (checked only when the project uses it: `[[charts]]`, an overlay's `helmCharts:`,
// or a `[tools]` pin)

/// helm v3.8: OCI charts (`oci://`) became generally available (no
/// `HELM_EXPERIMENTAL_OCI`); `helm version --template` and the `helm template` flags devenv
/// passes are older. helm v4 is accepted: the same argv works on both.
pub const HELM_MIN: Version = Version::new(3, 8, 0);

const HELM_INSTALL: &str =
    "install helm v3.8 or newer (v3 or v4): https://helm.sh/docs/intro/install/";

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
        Some(ver) if status == 0 && ver < HELM_MIN => (
            Check::fail(
                "helm",
                format!("helm {v} is too old: devenv needs helm v3.8 or newer"),
                HELM_INSTALL,
            ),
            Some(ver),
        ),
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
