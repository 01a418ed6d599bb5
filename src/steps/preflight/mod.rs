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
//! * helm ≥ v3.8 (v4 too), only for a project that uses it ([`tools::HELM_MIN`]).

//!
//! The checks live by subject: [`tools`] (Docker, k3d, kubectl, helm and their `[tools]`
//! pins), [`ports`] (a port and who holds it), [`host`] (disk space, which `devenv` the
//! shell runs); this file has the [`Check`] they all return and runs them all. Version
//! parsing is the leaf [`crate::version`], shared with `crate::tools`.

mod host;
mod ports;
mod tools;

pub use host::*;
pub use ports::*;
pub use tools::*;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::runner::{Cmd, RunError, Runner};

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
        Check::with_fix(CheckStatus::Warn, name.into(), detail.into(), fix.into())
    }

    pub fn fail(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check::with_fix(CheckStatus::Fail, name.into(), detail.into(), fix.into())
    }

    fn with_fix(status: CheckStatus, name: String, detail: String, fix: String) -> Check {
        Check {
            name,
            status,
            detail,
            fix: Some(fix),
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
    /// The project uses helm (`[[charts]]`, an overlay's `helmCharts:`): check it even
    /// without a pin.
    pub uses_helm: bool,
}

/// Runs every check, the commands concurrently. Only an interruption is an error.
pub async fn run_all(runner: &Runner, input: &PreflightInput) -> Result<Vec<Check>, RunError> {
    let t = &input.tools;
    let pin = |tool: crate::tools::Tool| input.pins.iter().find(|(p, _)| p.tool == tool);
    let check = |kind: &'static str, program: String, cmd: Cmd| {
        let pin = crate::tools::Tool::from_name(kind).and_then(pin);
        async move {
            let (pin, at) = (pin.map(|(p, _)| p), pin.and_then(|(_, at)| at.as_deref()));
            run_check(
                runner,
                &format!("preflight-{kind}"),
                &cmd,
                |status, stdout, stderr| interpret_tool(kind, status, stdout, stderr, pin, at),
                |e| vec![spawn_failure_pinned(kind, &program, e, pin, at)],
            )
            .await
        }
    };
    let wants_helm = input.uses_helm || pin(crate::tools::Tool::Helm).is_some();
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
mod tests;
