//! What to wait for once a unit is applied: the `wait = …` of devenv.toml, parsed, and the
//! objects it resolves to ([`super::plan_apply`] does the resolving).

use std::fmt;

use super::DeployError;

/// The kinds devenv knows how to wait for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WaitKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
}

impl WaitKind {
    pub fn from_kind(kind: &str) -> Option<WaitKind> {
        Some(match kind {
            "Deployment" => WaitKind::Deployment,
            "StatefulSet" => WaitKind::StatefulSet,
            "DaemonSet" => WaitKind::DaemonSet,
            "Job" => WaitKind::Job,
            _ => return None,
        })
    }

    /// As a user or kubectl may write it: `deploy`, `deployments`, `deployment.apps`, ….
    fn parse(word: &str) -> Option<WaitKind> {
        let word = word.to_ascii_lowercase();
        let base = word
            .strip_suffix(".apps")
            .or_else(|| word.strip_suffix(".batch"))
            .unwrap_or(&word);
        Some(match base {
            "deployment" | "deployments" | "deploy" => WaitKind::Deployment,
            "statefulset" | "statefulsets" | "sts" => WaitKind::StatefulSet,
            "daemonset" | "daemonsets" | "ds" => WaitKind::DaemonSet,
            "job" | "jobs" => WaitKind::Job,
            _ => return None,
        })
    }

    /// The Kind as in manifests.
    pub fn kind(self) -> &'static str {
        match self {
            WaitKind::Deployment => "Deployment",
            WaitKind::StatefulSet => "StatefulSet",
            WaitKind::DaemonSet => "DaemonSet",
            WaitKind::Job => "Job",
        }
    }

    /// The resource word kubectl takes (`deployment/NAME`).
    pub fn resource(self) -> &'static str {
        match self {
            WaitKind::Deployment => "deployment",
            WaitKind::StatefulSet => "statefulset",
            WaitKind::DaemonSet => "daemonset",
            WaitKind::Job => "job",
        }
    }
}

/// An object to wait for, with the namespace it actually lives in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WaitTarget {
    pub kind: WaitKind,
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for WaitTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} in {}",
            self.kind.resource(),
            self.name,
            self.namespace
        )
    }
}

/// A user-declared wait: `KIND/NAME` or `NAMESPACE/KIND/NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitRef {
    pub namespace: Option<String>,
    pub kind: WaitKind,
    pub name: String,
}

/// What to wait for after an overlay is applied (`wait = …` in devenv.toml).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum WaitSpec {
    /// Every Deployment, StatefulSet, DaemonSet (rollout) and Job (Complete) of the overlay.
    #[default]
    Auto,
    /// Nothing.
    None,
    /// Exactly these objects.
    Only(Vec<WaitRef>),
}

/// Parses `wait`: `["auto"]`, `["none"]` (the string forms) or a list of `KIND/NAME` /
/// `NAMESPACE/KIND/NAME` (kinds: deployment, statefulset, daemonset, job, and their
/// kubectl short names). An empty list means nothing to wait for.
pub fn parse_wait_spec<S: AsRef<str>>(items: &[S]) -> Result<WaitSpec, DeployError> {
    let bad = |spec: &str, reason: &str| DeployError::BadWaitSpec {
        spec: spec.to_string(),
        reason: reason.to_string(),
    };
    if let [only] = items {
        match only.as_ref().trim() {
            "auto" => return Ok(WaitSpec::Auto),
            "none" => return Ok(WaitSpec::None),
            _ => {}
        }
    }
    if items.is_empty() {
        return Ok(WaitSpec::None);
    }
    let mut refs = Vec::new();
    for item in items {
        let spec = item.as_ref().trim();
        if spec == "auto" || spec == "none" {
            return Err(bad(
                spec,
                "`auto` and `none` stand alone, not inside a list",
            ));
        }
        let parts: Vec<&str> = spec.split('/').collect();
        let (namespace, kind, name) = match parts[..] {
            [kind, name] => (None, kind, name),
            [ns, kind, name] => (Some(ns), kind, name),
            _ => {
                return Err(bad(
                    spec,
                    "expected KIND/NAME or NAMESPACE/KIND/NAME, e.g. deployment/api or shop/job/migrate",
                ))
            }
        };
        let kind = WaitKind::parse(kind).ok_or_else(|| {
            bad(
                spec,
                &format!(
                    "devenv waits for deployment, statefulset, daemonset or job, not `{kind}`"
                ),
            )
        })?;
        for (what, value) in [("name", Some(name)), ("namespace", namespace)] {
            if let Some(value) = value {
                if !is_dns_subdomain(value) {
                    return Err(bad(
                        spec,
                        &format!(
                            "`{value}` is not a valid {what} (lowercase letters, digits, `-`, `.`)"
                        ),
                    ));
                }
            }
        }
        refs.push(WaitRef {
            namespace: namespace.map(str::to_string),
            kind,
            name: name.to_string(),
        });
    }
    Ok(WaitSpec::Only(refs))
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}
