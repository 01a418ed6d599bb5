//! From a rendered overlay to stages: what to apply, in which order, and what to wait for.
//!
//! Why stages: `kubectl apply` sends objects in file order and does not reorder them. A
//! custom resource whose CRD is in the same file fails (`no matches for kind`), and so
//! does a namespaced object whose Namespace comes later. So: CRDs first, then wait until
//! they are Established; then Namespaces; then everything else in Kustomize's order.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value as Json;

use super::{write_atomic, Manifest, OverlayError, RenderedOverlay};

/// The stages of one overlay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyPlan {
    /// The CustomResourceDefinitions (multi-document YAML), applied first.
    pub crds: Option<String>,
    /// Their names (`plural.group`), to wait for `condition=Established`.
    pub crd_names: Vec<String>,
    /// Everything else, Namespaces first; empty when the overlay has only CRDs.
    pub rest: String,
    /// What to wait for after `rest` is applied, in rendered order.
    pub waits: Vec<WaitTarget>,
}

/// Files written by [`ApplyPlan::save`], each to pass to `kubectl apply -f`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyFiles {
    pub crds: Option<PathBuf>,
    pub rest: Option<PathBuf>,
}

impl ApplyPlan {
    /// Writes `DIR/NAME.crds.yaml` and `DIR/NAME.apply.yaml` (`DIR` is `.devenv/rendered`),
    /// removing a stale CRD file when the overlay no longer has CRDs.
    pub fn save(&self, dir: &Path, name: &str) -> Result<ApplyFiles, OverlayError> {
        let crds_path = dir.join(format!("{name}.crds.yaml"));
        let crds = match &self.crds {
            Some(yaml) => {
                write_atomic(&crds_path, yaml.as_bytes())?;
                Some(crds_path)
            }
            None => {
                let _ = std::fs::remove_file(&crds_path);
                None
            }
        };
        let rest_path = dir.join(format!("{name}.apply.yaml"));
        let rest = if self.rest.is_empty() {
            let _ = std::fs::remove_file(&rest_path);
            None
        } else {
            write_atomic(&rest_path, self.rest.as_bytes())?;
            Some(rest_path)
        };
        Ok(ApplyFiles { crds, rest })
    }
}

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
pub fn parse_wait_spec<S: AsRef<str>>(items: &[S]) -> Result<WaitSpec, OverlayError> {
    let bad = |spec: &str, reason: &str| OverlayError::BadWaitSpec {
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

// Cluster-scoped built-in kinds: one list for the whole crate.
use crate::tenancy::CLUSTER_SCOPED;

fn is_crd(m: &Manifest) -> bool {
    m.kind == "CustomResourceDefinition" && m.group() == "apiextensions.k8s.io"
}

/// Splits `rendered` into stages and lists what to wait for.
///
/// `default_namespace` is the namespace of the kube context devenv uses (`default` for
/// k3d's): a namespaced object rendered without `metadata.namespace` lands there, so its
/// wait target must say so.
pub fn plan_apply(
    rendered: &RenderedOverlay,
    default_namespace: &str,
    wait: &WaitSpec,
) -> Result<ApplyPlan, OverlayError> {
    // Scope of the custom kinds this overlay defines.
    let mut crd_cluster_scoped = BTreeMap::new();
    for m in rendered.manifests.iter().filter(|m| is_crd(m)) {
        let spec = m.value.get("spec");
        let field = |k: &str| spec.and_then(|s| s.get(k));
        let group = field("group").and_then(|v| v.as_str()).unwrap_or_default();
        let kind = field("names")
            .and_then(|n| n.get("kind"))
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let cluster = field("scope").and_then(|v| v.as_str()) == Some("Cluster");
        crd_cluster_scoped.insert((group.to_string(), kind.to_string()), cluster);
    }
    let namespace_of = |m: &Manifest| -> Option<String> {
        let cluster = CLUSTER_SCOPED.contains(&(m.group(), m.kind.as_str()))
            || crd_cluster_scoped
                .get(&(m.group().to_string(), m.kind.clone()))
                .copied()
                .unwrap_or(false);
        if cluster {
            None
        } else {
            Some(
                m.namespace
                    .clone()
                    .unwrap_or_else(|| default_namespace.to_string()),
            )
        }
    };

    let (crds, others): (Vec<&Manifest>, Vec<&Manifest>) =
        rendered.manifests.iter().partition(|m| is_crd(m));
    let (namespaces, others): (Vec<&Manifest>, Vec<&Manifest>) = others
        .into_iter()
        .partition(|m| m.kind == "Namespace" && m.group().is_empty());

    let crd_names = crds.iter().map(|m| m.name.clone()).collect();
    let crds = (!crds.is_empty()).then(|| join_documents(&crds));
    let rest: Vec<&Manifest> = namespaces.into_iter().chain(others).collect();

    let waits = match wait {
        WaitSpec::None => Vec::new(),
        WaitSpec::Auto => rendered
            .manifests
            .iter()
            .filter(|m| !m.name.is_empty() && !is_suspended_job(m))
            .filter_map(|m| {
                let kind = WaitKind::from_kind(&m.kind)?;
                Some(WaitTarget {
                    kind,
                    namespace: namespace_of(m)?,
                    name: m.name.clone(),
                })
            })
            .collect(),
        WaitSpec::Only(refs) => {
            let mut targets = Vec::new();
            for r in refs {
                targets.push(resolve_wait_ref(
                    rendered,
                    r,
                    default_namespace,
                    &namespace_of,
                )?);
            }
            targets
        }
    };
    let mut seen = std::collections::HashSet::new();
    let waits = waits
        .into_iter()
        .filter(|t| seen.insert(t.clone()))
        .collect();

    Ok(ApplyPlan {
        crds,
        crd_names,
        rest: join_documents(&rest),
        waits,
    })
}

/// A suspended Job never completes: waiting for it would only time out.
fn is_suspended_job(m: &Manifest) -> bool {
    m.kind == "Job"
        && m.value
            .get("spec")
            .and_then(|s| s.get("suspend"))
            .and_then(|v| v.as_bool())
            == Some(true)
}

/// A declared wait names an object of the overlay when it can; otherwise (an object an
/// operator creates, say) it is waited for where the user said, or in the overlay's
/// single namespace, or in the default namespace.
fn resolve_wait_ref(
    rendered: &RenderedOverlay,
    r: &WaitRef,
    default_namespace: &str,
    namespace_of: &dyn Fn(&Manifest) -> Option<String>,
) -> Result<WaitTarget, OverlayError> {
    let matches: Vec<String> = rendered
        .manifests
        .iter()
        .filter(|m| m.kind == r.kind.kind() && m.name == r.name)
        .filter_map(namespace_of)
        .filter(|ns| r.namespace.as_ref().is_none_or(|want| want == ns))
        .collect();
    let namespace = match matches.as_slice() {
        [ns] => ns.clone(),
        [] => r.namespace.clone().unwrap_or_else(|| {
            let mut all: Vec<String> = rendered.manifests.iter().filter_map(namespace_of).collect();
            all.sort();
            all.dedup();
            match all.as_slice() {
                [only] => only.clone(),
                _ => default_namespace.to_string(),
            }
        }),
        several => {
            return Err(OverlayError::UnknownWaitTarget {
                overlay: rendered.name.clone(),
                target: format!("{}/{}", r.kind.resource(), r.name),
                reason: format!(
                    "is in several namespaces ({}); write NAMESPACE/{}/{}",
                    several.join(", "),
                    r.kind.resource(),
                    r.name
                ),
            })
        }
    };
    Ok(WaitTarget {
        kind: r.kind,
        namespace,
        name: r.name.clone(),
    })
}

fn join_documents(manifests: &[&Manifest]) -> String {
    let mut out = String::new();
    for (i, m) in manifests.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&m.raw);
    }
    out
}

/// The kubectl invocations devenv makes against its cluster. Every argv starts with the
/// program and `--kubeconfig K --context C`, so the user's current context never matters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kubectl {
    pub program: String,
    pub kubeconfig: PathBuf,
    pub context: String,
}

impl Kubectl {
    pub fn new(
        program: impl Into<String>,
        kubeconfig: impl Into<PathBuf>,
        context: impl Into<String>,
    ) -> Kubectl {
        Kubectl {
            program: program.into(),
            kubeconfig: kubeconfig.into(),
            context: context.into(),
        }
    }

    /// kubectl as the kube target reaches the cluster (no devenv kubeconfig: an empty one).
    pub fn from_target(target: &crate::kube::KubeTarget) -> Kubectl {
        let kubeconfig = target.kubeconfig.clone().unwrap_or_default();
        Kubectl::new("kubectl", kubeconfig, target.context.clone())
    }

    fn base(&self) -> Vec<String> {
        let target = crate::kube::KubeTarget {
            kubeconfig: Some(self.kubeconfig.to_string_lossy().into_owned())
                .filter(|k| !k.is_empty()),
            context: self.context.clone(),
        };
        let mut argv = vec![self.program.clone()];
        argv.extend(target.address());
        argv
    }

    /// `PROGRAM --kubeconfig K --context C ARGS...`, for any other kubectl call.
    pub fn argv(&self, args: &[&str]) -> Vec<String> {
        let mut argv = self.base();
        argv.extend(args.iter().map(|a| a.to_string()));
        argv
    }

    /// `apply --server-side --field-manager=devenv --force-conflicts -f FILE`.
    ///
    /// Server-side apply so that devenv owns exactly the fields it sets; forcing conflicts
    /// because devenv is the source of truth for what its overlays declare.
    pub fn apply_argv(&self, file: &Path) -> Vec<String> {
        let file = file.to_string_lossy();
        self.argv(&[
            "apply",
            "--server-side",
            "--field-manager=devenv",
            "--force-conflicts",
            "-f",
            &file,
        ])
    }

    /// `wait --for=condition=Established --timeout=Ns crd/A crd/B`.
    pub fn wait_crds_argv(&self, crd_names: &[String], timeout: Duration) -> Vec<String> {
        let mut argv = self.argv(&[
            "wait",
            "--for=condition=Established",
            &timeout_flag(timeout),
        ]);
        argv.extend(crd_names.iter().map(|n| format!("crd/{n}")));
        argv
    }

    /// `-n NS rollout status KIND/NAME --timeout=Ns` for rollouts,
    /// `-n NS wait --for=condition=Complete --timeout=Ns job/NAME` for Jobs.
    pub fn wait_argv(&self, target: &WaitTarget, timeout: Duration) -> Vec<String> {
        let object = format!("{}/{}", target.kind.resource(), target.name);
        let timeout = timeout_flag(timeout);
        match target.kind {
            WaitKind::Job => self.argv(&[
                "-n",
                &target.namespace,
                "wait",
                "--for=condition=Complete",
                &timeout,
                &object,
            ]),
            _ => self.argv(&[
                "-n",
                &target.namespace,
                "rollout",
                "status",
                &object,
                &timeout,
            ]),
        }
    }

    /// `-n NS wait --for=condition=Failed --timeout=Ns job/NAME`: raced with
    /// [`Self::wait_argv`]'s `Complete`, so a Job that fails is noticed at once instead of
    /// at the timeout (a failed Job never becomes Complete).
    pub fn wait_failed_argv(&self, target: &WaitTarget, timeout: Duration) -> Vec<String> {
        let object = format!("{}/{}", target.kind.resource(), target.name);
        self.argv(&[
            "-n",
            &target.namespace,
            "wait",
            "--for=condition=Failed",
            &timeout_flag(timeout),
            &object,
        ])
    }

    /// `-n NS logs job/NAME --all-containers --tail=N`: the last lines of a failed Job's pod.
    pub fn job_logs_argv(&self, target: &WaitTarget, lines: usize) -> Vec<String> {
        let object = format!("{}/{}", target.kind.resource(), target.name);
        let tail = format!("--tail={lines}");
        self.argv(&[
            "-n",
            &target.namespace,
            "logs",
            &object,
            "--all-containers",
            &tail,
        ])
    }

    /// `delete KIND.GROUP NAME -n NS --cascade=foreground --wait=true --timeout=Ns
    /// --ignore-not-found`: an object to re-create, gone with its dependents (a Job's pods)
    /// before it is applied again.
    pub fn delete_foreground_argv(
        &self,
        resource: &str,
        name: &str,
        namespace: Option<&str>,
        timeout: Duration,
    ) -> Vec<String> {
        let mut args = vec!["delete", resource, name];
        if let Some(ns) = namespace {
            args.extend(["-n", ns]);
        }
        let timeout = timeout_flag(timeout);
        args.extend([
            "--cascade=foreground",
            "--wait=true",
            timeout.as_str(),
            "--ignore-not-found",
        ]);
        self.argv(&args)
    }

    /// `get KIND NAME -n NS -o json`: the object, for [`explain_not_ready`].
    pub fn describe_argv(&self, target: &WaitTarget) -> Vec<String> {
        self.argv(&[
            "get",
            target.kind.resource(),
            &target.name,
            "-n",
            &target.namespace,
            "-o",
            "json",
        ])
    }

    /// `get events -n NS --field-selector involvedObject.name=NAME -o json`.
    pub fn events_argv(&self, target: &WaitTarget) -> Vec<String> {
        let selector = format!("involvedObject.name={}", target.name);
        self.argv(&[
            "get",
            "events",
            "-n",
            &target.namespace,
            "--field-selector",
            &selector,
            "-o",
            "json",
        ])
    }

    /// `get pods -n NS -l SELECTOR -o json`: the pods of a stuck object (see
    /// [`pods_selector`]), for [`explain_pods`].
    pub fn pods_argv(&self, namespace: &str, selector: &str) -> Vec<String> {
        self.argv(&["get", "pods", "-n", namespace, "-l", selector, "-o", "json"])
    }

    /// `delete namespace NS --wait=false --ignore-not-found`.
    pub fn delete_namespace_argv(&self, namespace: &str) -> Vec<String> {
        self.argv(&[
            "delete",
            "namespace",
            namespace,
            "--wait=false",
            "--ignore-not-found",
        ])
    }
}

/// An object the API server refused to update because the change touches a field that
/// cannot change once the object exists (from `kubectl apply`'s stderr).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImmutableChange {
    /// The Kind as in manifests (`Job`).
    pub kind: String,
    /// Its API group (`batch`; empty for core).
    pub group: String,
    pub name: String,
    /// What cannot change, as the server says it (`spec.template`, `spec.selector`,
    /// `spec.clusterIPs[0]`, or for a StatefulSet `spec` beyond the mutable fields).
    pub fields: Vec<String>,
}

impl ImmutableChange {
    /// `job.batch/migrate`, as kubectl names objects.
    pub fn display_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_lowercase()
        } else {
            format!("{}.{}", self.kind.to_lowercase(), self.group)
        }
    }

    /// `spec.template`, or `spec.template and spec.selector`.
    pub fn fields_text(&self) -> String {
        self.fields.join(" and ")
    }
}

/// The refusals of `kubectl apply` that come from immutable fields. The API server answers
/// `KIND.GROUP "NAME" is invalid: FIELD: Invalid value: VALUE: field is immutable` (apimachinery
/// `ValidateImmutableField`), `… may not change once set` (a Service's cluster IP), or for a
/// StatefulSet `spec: Forbidden: updates to statefulset spec for fields other than …` (kubernetes
/// pkg/apis/{batch,apps,core}/validation); kubectl prefixes `Error from server (Invalid): error
/// when serverside-apply "FILE": `. Other errors are not returned.
pub fn parse_immutable_changes(stderr: &str) -> Vec<ImmutableChange> {
    const MARKERS: &[&str] = &[
        "field is immutable",
        "may not change once set",
        "updates to statefulset spec for fields other than",
    ];
    let mut out: Vec<ImmutableChange> = Vec::new();
    for line in stderr.lines() {
        if !MARKERS.iter().any(|m| line.contains(m)) {
            continue;
        }
        let Some((head, body)) = line.split_once(" is invalid: ") else {
            continue;
        };
        // head ends with `KIND.GROUP "NAME"` (the name is a DNS subdomain: no quote in it).
        let Some(head) = head.strip_suffix('"') else {
            continue;
        };
        let Some((before, name)) = head.rsplit_once('"') else {
            continue;
        };
        let qualified = before.trim_end().rsplit(' ').next().unwrap_or("");
        let (kind, group) = qualified.split_once('.').unwrap_or((qualified, ""));
        if kind.is_empty() || name.is_empty() {
            continue;
        }
        let mut fields = Vec::new();
        if body.contains("updates to statefulset spec for fields other than") {
            fields.push("spec".to_string());
        }
        for (i, _) in body.match_indices(": Invalid value: ") {
            let before = &body[..i];
            // `[spec.selector: …, spec.template: …]`: an aggregate of several.
            let start = before.rfind(' ').map_or(0, |j| j + 1);
            let field = before[start..].trim_start_matches('[');
            if !field.is_empty() && !fields.iter().any(|f| f == field) {
                fields.push(field.to_string());
            }
        }
        if fields.is_empty() {
            fields.push("spec".to_string());
        }
        out.push(ImmutableChange {
            kind: kind.to_string(),
            group: group.to_string(),
            name: name.to_string(),
            fields,
        });
    }
    out
}

/// The namespaces an apply could not create content in because they are being deleted
/// (`… is forbidden: unable to create new content in namespace X because it is being
/// terminated`, kubernetes apiserver pkg/admission/plugin/namespace/lifecycle), each once.
pub fn terminating_namespaces(stderr: &str) -> Vec<String> {
    const MARK: &str = "unable to create new content in namespace ";
    let mut out: Vec<String> = Vec::new();
    for (i, _) in stderr.match_indices(MARK) {
        let rest = &stderr[i + MARK.len()..];
        if let Some(ns) = rest.split_whitespace().next() {
            if rest[ns.len()..].starts_with(" because it is being terminated")
                && !out.iter().any(|n| n == ns)
            {
                out.push(ns.to_string());
            }
        }
    }
    out
}

/// Whether the overlay declares this StatefulSet or DaemonSet with `updateStrategy.type:
/// OnDelete`: `kubectl rollout status` refuses those ("rollout status is only available for
/// RollingUpdate strategy type", kubectl pkg/polymorphichelpers/rollout_status.go), so devenv
/// reads their status instead.
pub fn updates_on_delete(rendered: &RenderedOverlay, target: &WaitTarget) -> bool {
    matches!(target.kind, WaitKind::StatefulSet | WaitKind::DaemonSet)
        && rendered.manifests.iter().any(|m| {
            m.kind == target.kind.kind()
                && m.name == target.name
                && m.value
                    .get("spec")
                    .and_then(|s| s.get("updateStrategy"))
                    .and_then(|u| u.get("type"))
                    .and_then(|t| t.as_str())
                    == Some("OnDelete")
        })
}

/// `kubectl rollout status` said this object has no rollout to watch.
pub fn rollout_status_unsupported(output: &str) -> bool {
    output.contains("rollout status is only available for")
}

/// Whether a StatefulSet or DaemonSet (`kubectl get … -o json`) is ready without a rolling
/// update: the controller saw the current spec, and as many pods are ready as wanted. With
/// `OnDelete` the pods of an older template stay until someone deletes them; they count (the
/// second value says whether some are of an older revision). `Err` when not ready yet, with
/// why.
pub fn ready_without_rollout(object_json: &str) -> Result<bool, String> {
    let o: Json = serde_json::from_str(object_json).map_err(|e| format!("unreadable: {e}"))?;
    let num = |p: &str| o.pointer(p).and_then(Json::as_u64);
    let generation = num("/metadata/generation").unwrap_or(0);
    let observed = num("/status/observedGeneration").unwrap_or(0);
    if observed < generation {
        return Err("waiting for the controller to observe the new spec".into());
    }
    match o["kind"].as_str() {
        Some("DaemonSet") => {
            let want = num("/status/desiredNumberScheduled").unwrap_or(0);
            let ready = num("/status/numberReady").unwrap_or(0);
            if ready < want {
                return Err(format!("{ready} of {want} pods ready"));
            }
            Ok(num("/status/updatedNumberScheduled").unwrap_or(0) < want)
        }
        _ => {
            let want = num("/spec/replicas").unwrap_or(1);
            let ready = num("/status/readyReplicas").unwrap_or(0);
            if ready < want {
                return Err(format!("{ready} of {want} replicas ready"));
            }
            let current = o.pointer("/status/currentRevision").and_then(Json::as_str);
            let update = o.pointer("/status/updateRevision").and_then(Json::as_str);
            Ok(current.is_some() && update.is_some() && current != update)
        }
    }
}

/// Why a Job failed, from `kubectl get job … -o json`: `REASON: MESSAGE` of its `Failed`
/// condition (BackoffLimitExceeded, DeadlineExceeded, …).
pub fn job_failure(object_json: &str) -> Option<String> {
    let o: Json = serde_json::from_str(object_json).ok()?;
    let c = o
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Failed" && c["status"] == "True")?;
    let reason = c["reason"].as_str().unwrap_or("Failed");
    Some(match c["message"].as_str() {
        Some(m) if !m.is_empty() => format!("{reason}: {m}"),
        _ => reason.to_string(),
    })
}

/// `--timeout=Ns`, whole seconds rounded up (at least 1: `0s` would mean "check once").
pub(crate) fn timeout_flag(timeout: Duration) -> String {
    let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
    format!("--timeout={}s", secs.max(1))
}

/// The label selector of a workload (`spec.selector.matchLabels`) as `k=v,k2=v2`, to find
/// its pods. `None` when the object has none or is not JSON.
pub fn pods_selector(object_json: &str) -> Option<String> {
    let object: Json = serde_json::from_str(object_json).ok()?;
    let labels = object.pointer("/spec/selector/matchLabels")?.as_object()?;
    let pairs: Vec<String> = labels
        .iter()
        .filter_map(|(k, v)| Some(format!("{k}={}", v.as_str()?)))
        .collect();
    (!pairs.is_empty()).then(|| pairs.join(","))
}

/// How many events [`explain_not_ready`] shows.
const LAST_EVENTS: usize = 5;

/// Why an object is not ready, from `kubectl get KIND NAME -o json` and its events
/// (`kubectl get events … -o json`): replica counts, each condition (type=status,
/// reason, message) and the last few events, oldest first. Never fails: what cannot be
/// parsed is said so.
pub fn explain_not_ready(object_json: &str, events_json: &str) -> String {
    let mut lines = Vec::new();
    match serde_json::from_str::<Json>(object_json) {
        Ok(object) => {
            let kind = object["kind"].as_str().unwrap_or("object");
            let name = object
                .pointer("/metadata/name")
                .and_then(Json::as_str)
                .unwrap_or("?");
            let mut head = format!("{}/{}", kind.to_lowercase(), name);
            if let Some(summary) = status_summary(kind, &object) {
                head.push_str(": ");
                head.push_str(&summary);
            }
            lines.push(head);
            let conditions = object
                .pointer("/status/conditions")
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default();
            if conditions.is_empty() {
                lines.push("  no conditions reported yet".to_string());
            }
            for c in &conditions {
                let field = |k: &str| c[k].as_str().unwrap_or("").trim().to_string();
                let mut line = format!("  condition {}={}", field("type"), field("status"));
                if !field("reason").is_empty() {
                    line.push_str(&format!(" ({})", field("reason")));
                }
                if !field("message").is_empty() {
                    line.push_str(&format!(": {}", field("message")));
                }
                lines.push(line);
            }
        }
        Err(e) => lines.push(format!("(the object could not be read: {e})")),
    }
    match serde_json::from_str::<Json>(events_json) {
        Ok(events) => {
            let mut items = events["items"].as_array().cloned().unwrap_or_default();
            items.sort_by_key(event_time);
            let skip = items.len().saturating_sub(LAST_EVENTS);
            if items.is_empty() {
                lines.push("  no events".to_string());
            } else {
                lines.push(format!("  last {} event(s):", items.len() - skip));
            }
            for e in items.iter().skip(skip) {
                let field = |k: &str| e[k].as_str().unwrap_or("").trim().to_string();
                let count = e["count"].as_u64().unwrap_or(1);
                let times = if count > 1 {
                    format!(" (x{count})")
                } else {
                    String::new()
                };
                lines.push(format!(
                    "    {} {}{}: {}",
                    field("type"),
                    field("reason"),
                    times,
                    field("message")
                ));
            }
        }
        Err(e) => lines.push(format!("  (the events could not be read: {e})")),
    }
    lines.join("\n")
}

fn event_time(e: &Json) -> String {
    [
        "/lastTimestamp",
        "/eventTime",
        "/firstTimestamp",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .find_map(|p| e.pointer(p).and_then(Json::as_str))
    .unwrap_or("")
    .to_string()
}

fn status_summary(kind: &str, object: &Json) -> Option<String> {
    let num = |p: &str| object.pointer(p).and_then(Json::as_u64).unwrap_or(0);
    Some(match kind {
        "Deployment" | "StatefulSet" => {
            let want = object
                .pointer("/spec/replicas")
                .and_then(Json::as_u64)
                .unwrap_or(1);
            format!(
                "{} of {} replicas ready, {} updated",
                num("/status/readyReplicas"),
                want,
                num("/status/updatedReplicas")
            )
        }
        "DaemonSet" => format!(
            "{} of {} pods ready, {} updated",
            num("/status/numberReady"),
            num("/status/desiredNumberScheduled"),
            num("/status/updatedNumberScheduled")
        ),
        "Job" => format!(
            "{} succeeded, {} failed, {} active",
            num("/status/succeeded"),
            num("/status/failed"),
            num("/status/active")
        ),
        _ => return None,
    })
}

/// What is wrong with the pods of a stuck object (`kubectl get pods -l … -o json`): for
/// each pod its phase and every container that is waiting (ImagePullBackOff,
/// CrashLoopBackOff, …) or terminated with an error, init containers included.
pub fn explain_pods(pods_json: &str) -> String {
    let pods: Json = match serde_json::from_str(pods_json) {
        Ok(p) => p,
        Err(e) => return format!("(the pods could not be read: {e})"),
    };
    let items = pods["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return "no pods".to_string();
    }
    let mut lines = Vec::new();
    for pod in &items {
        let name = pod
            .pointer("/metadata/name")
            .and_then(Json::as_str)
            .unwrap_or("?");
        let phase = pod
            .pointer("/status/phase")
            .and_then(Json::as_str)
            .unwrap_or("Unknown");
        lines.push(format!("pod/{name}: {phase}"));
        for (list, label) in [
            ("initContainerStatuses", "init container"),
            ("containerStatuses", "container"),
        ] {
            for cs in pod["status"][list].as_array().into_iter().flatten() {
                let cname = cs["name"].as_str().unwrap_or("?");
                let state = &cs["state"];
                if let Some(w) = state.get("waiting") {
                    lines.push(format!(
                        "  {label} {cname} waiting: {}{}",
                        w["reason"].as_str().unwrap_or("?"),
                        w["message"]
                            .as_str()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    ));
                } else if let Some(t) = state.get("terminated") {
                    let code = t["exitCode"].as_i64().unwrap_or(0);
                    if code != 0 {
                        lines.push(format!(
                            "  {label} {cname} exited {code}: {}{}",
                            t["reason"].as_str().unwrap_or("Error"),
                            t["message"]
                                .as_str()
                                .map(|m| format!(": {m}"))
                                .unwrap_or_default()
                        ));
                    }
                } else if cs["ready"].as_bool() == Some(false) && label == "container" {
                    lines.push(format!(
                        "  {label} {cname} running but not ready (readiness probe)"
                    ));
                }
            }
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRD_AND_MORE: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec: {}
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Cluster
  names: {kind: Gadget, plural: gadgets}
---
apiVersion: example.com/v1
kind: Gadget
metadata:
  name: g
---
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  namespace: shop
---
apiVersion: batch/v1
kind: Job
metadata:
  name: later
  namespace: shop
spec:
  suspend: true
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  namespace: shop
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  namespace: kube-system
";

    fn rendered() -> RenderedOverlay {
        RenderedOverlay::from_yaml("dev", CRD_AND_MORE).unwrap()
    }

    fn target(kind: WaitKind, ns: &str, name: &str) -> WaitTarget {
        WaitTarget {
            kind,
            namespace: ns.into(),
            name: name.into(),
        }
    }

    #[test]
    fn crds_first_then_namespaces_then_the_rest_in_order() {
        let plan = plan_apply(&rendered(), "default", &WaitSpec::Auto).unwrap();
        assert_eq!(
            plan.crd_names,
            ["widgets.example.com", "gadgets.example.com"]
        );
        let crds = RenderedOverlay::from_yaml("c", plan.crds.as_deref().unwrap()).unwrap();
        assert!(crds
            .manifests
            .iter()
            .all(|m| m.kind == "CustomResourceDefinition"));
        let rest = RenderedOverlay::from_yaml("r", &plan.rest).unwrap();
        let order: Vec<String> = rest.manifests.iter().map(Manifest::display_name).collect();
        assert_eq!(
            order,
            [
                "namespace/shop",
                "deployment/web",
                "widget/w",
                "gadget/g",
                "job/migrate",
                "job/later",
                "statefulset/db",
                "daemonset/agent"
            ]
        );
    }

    #[test]
    fn auto_waits_carry_the_namespace_actually_used() {
        let plan = plan_apply(&rendered(), "team-default", &WaitSpec::Auto).unwrap();
        assert_eq!(
            plan.waits,
            [
                target(WaitKind::Deployment, "team-default", "web"),
                target(WaitKind::Job, "shop", "migrate"),
                target(WaitKind::StatefulSet, "shop", "db"),
                target(WaitKind::DaemonSet, "kube-system", "agent"),
            ]
        );
        assert!(plan_apply(&rendered(), "default", &WaitSpec::None)
            .unwrap()
            .waits
            .is_empty());
    }

    #[test]
    fn overlay_without_crds_has_no_crd_stage() {
        let r = RenderedOverlay::from_yaml(
            "x",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        )
        .unwrap();
        let plan = plan_apply(&r, "default", &WaitSpec::Auto).unwrap();
        assert_eq!(plan.crds, None);
        assert!(plan.crd_names.is_empty());
        assert!(plan.waits.is_empty());
        assert_eq!(
            plan.rest,
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
        );
    }

    #[test]
    fn wait_spec_parses_modes_and_objects() {
        assert_eq!(parse_wait_spec(&["auto"]).unwrap(), WaitSpec::Auto);
        assert_eq!(parse_wait_spec(&["none"]).unwrap(), WaitSpec::None);
        assert_eq!(parse_wait_spec::<&str>(&[]).unwrap(), WaitSpec::None);
        assert_eq!(
            parse_wait_spec(&["deployment/api", "jobs.batch/migrate", "shop/sts/db"]).unwrap(),
            WaitSpec::Only(vec![
                WaitRef {
                    namespace: None,
                    kind: WaitKind::Deployment,
                    name: "api".into()
                },
                WaitRef {
                    namespace: None,
                    kind: WaitKind::Job,
                    name: "migrate".into()
                },
                WaitRef {
                    namespace: Some("shop".into()),
                    kind: WaitKind::StatefulSet,
                    name: "db".into()
                },
            ])
        );
        for bad in [
            "api",
            "pod/x",
            "deployment/",
            "deployment/API",
            "a/b/c/d",
            "none",
        ] {
            let items = if bad == "none" {
                vec!["deployment/a", bad]
            } else {
                vec![bad]
            };
            let e = parse_wait_spec(&items).unwrap_err();
            assert!(e.to_string().contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn declared_waits_resolve_against_the_overlay() {
        let spec = parse_wait_spec(&[
            "job/migrate",
            "deployment/web",
            "deployment/made-by-operator",
        ])
        .unwrap();
        let plan = plan_apply(&rendered(), "default", &spec).unwrap();
        assert_eq!(
            plan.waits,
            [
                target(WaitKind::Job, "shop", "migrate"),
                target(WaitKind::Deployment, "default", "web"),
                // Not in the overlay, which spans several namespaces: the default one.
                target(WaitKind::Deployment, "default", "made-by-operator"),
            ]
        );
        let two = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j, namespace: a}\n---\napiVersion: batch/v1\nkind: Job\nmetadata: {name: j, namespace: b}\n";
        let r = RenderedOverlay::from_yaml("two", two).unwrap();
        let e = plan_apply(&r, "default", &parse_wait_spec(&["job/j"]).unwrap()).unwrap_err();
        assert!(
            e.to_string().contains("b/job/j") || e.to_string().contains("NAMESPACE/job/j"),
            "{e}"
        );
        let plan = plan_apply(
            &r,
            "default",
            &parse_wait_spec(&["b/job/j", "job/other"]).unwrap(),
        )
        .unwrap();
        assert_eq!(
            plan.waits,
            [
                target(WaitKind::Job, "b", "j"),
                target(WaitKind::Job, "default", "other")
            ]
        );
    }

    #[test]
    fn immutable_refusals_are_recognised_with_their_fields() {
        let stderr = "\
Error from server (Invalid): error when serverside-apply \".devenv/rendered/app.apply.yaml\": Job.batch \"migrate\" is invalid: spec.template: Invalid value: {\"metadata\":{}}: field is immutable
Error from server (Invalid): error when serverside-apply \"f\": StatefulSet.apps \"db\" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden
Error from server (Invalid): error when serverside-apply \"f\": Service \"web\" is invalid: spec.clusterIPs[0]: Invalid value: [\"10.43.0.9\"]: may not change once set
Error from server (Invalid): error when serverside-apply \"f\": Deployment.apps \"api\" is invalid: [spec.selector: Invalid value: {\"matchLabels\":{\"a\":\"b\"}}: field is immutable, spec.template.metadata.labels: Invalid value: {\"a\":\"c\"}: `selector` does not match template `labels`]
Error from server (NotFound): namespaces \"x\" not found";
        let got = parse_immutable_changes(stderr);
        let summary: Vec<String> = got
            .iter()
            .map(|c| format!("{}/{} {}", c.display_kind(), c.name, c.fields_text()))
            .collect();
        assert_eq!(
            summary,
            [
                "job.batch/migrate spec.template",
                "statefulset.apps/db spec",
                "service/web spec.clusterIPs[0]",
                "deployment.apps/api spec.selector and spec.template.metadata.labels",
            ]
        );
        assert!(parse_immutable_changes("error: something else").is_empty());
    }

    #[test]
    fn terminating_namespaces_are_found_in_apply_errors() {
        let stderr = "Error from server (Forbidden): error when serverside-apply \"f\": jobs.batch \"m\" is forbidden: unable to create new content in namespace shop because it is being terminated\nError from server (Forbidden): error when serverside-apply \"f\": services \"s\" is forbidden: unable to create new content in namespace shop because it is being terminated\nError from server (NotFound): namespaces \"x\" not found";
        assert_eq!(terminating_namespaces(stderr), ["shop"]);
        assert!(terminating_namespaces("error: other").is_empty());
    }

    #[test]
    fn on_delete_workloads_are_ready_by_their_counts() {
        let r = RenderedOverlay::from_yaml(
            "x",
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  updateStrategy: {type: OnDelete}\n",
        )
        .unwrap();
        assert!(updates_on_delete(
            &r,
            &target(WaitKind::StatefulSet, "default", "db")
        ));
        assert!(!updates_on_delete(
            &r,
            &target(WaitKind::StatefulSet, "default", "other")
        ));
        let sts = |observed: u64, ready: u64, cur: &str| {
            format!(
                r#"{{"kind":"StatefulSet","metadata":{{"generation":2}},"spec":{{"replicas":2}},
                "status":{{"observedGeneration":{observed},"readyReplicas":{ready},"currentRevision":"{cur}","updateRevision":"b"}}}}"#
            )
        };
        assert!(ready_without_rollout(&sts(1, 2, "b")).is_err());
        assert!(ready_without_rollout(&sts(2, 1, "b")).is_err());
        assert_eq!(ready_without_rollout(&sts(2, 2, "b")), Ok(false));
        assert_eq!(ready_without_rollout(&sts(2, 2, "a")), Ok(true));
        let ds = r#"{"kind":"DaemonSet","metadata":{"generation":1},"status":{"observedGeneration":1,"desiredNumberScheduled":3,"numberReady":2}}"#;
        assert_eq!(ready_without_rollout(ds), Err("2 of 3 pods ready".into()));
        assert!(rollout_status_unsupported(
            "error: rollout status is only available for RollingUpdate strategy type"
        ));
    }

    #[test]
    fn a_failed_job_says_why() {
        let job = r#"{"status":{"conditions":[{"type":"FailureTarget","status":"True","reason":"BackoffLimitExceeded"},
            {"type":"Failed","status":"True","reason":"BackoffLimitExceeded","message":"Job has reached the specified backoff limit"}]}}"#;
        assert_eq!(
            job_failure(job).as_deref(),
            Some("BackoffLimitExceeded: Job has reached the specified backoff limit")
        );
        assert_eq!(job_failure(r#"{"status":{}}"#), None);
    }

    #[test]
    fn argv_shapes() {
        let k = Kubectl::new("kubectl", ".devenv/kubeconfig", "k3d-shop");
        let base = "kubectl --kubeconfig .devenv/kubeconfig --context k3d-shop";
        let s = |v: Vec<String>| v.join(" ");
        assert_eq!(
            s(k.apply_argv(Path::new(".devenv/rendered/dev.apply.yaml"))),
            format!("{base} apply --server-side --field-manager=devenv --force-conflicts -f .devenv/rendered/dev.apply.yaml")
        );
        assert_eq!(
            s(k.wait_crds_argv(
                &["a.x.io".into(), "b.x.io".into()],
                Duration::from_millis(60_500)
            )),
            format!("{base} wait --for=condition=Established --timeout=61s crd/a.x.io crd/b.x.io")
        );
        let dep = target(WaitKind::Deployment, "shop", "api");
        let job = target(WaitKind::Job, "shop", "migrate");
        assert_eq!(
            s(k.wait_argv(&dep, Duration::from_secs(300))),
            format!("{base} -n shop rollout status deployment/api --timeout=300s")
        );
        assert_eq!(
            s(k.wait_argv(&job, Duration::ZERO)),
            format!("{base} -n shop wait --for=condition=Complete --timeout=1s job/migrate")
        );
        assert_eq!(
            s(k.describe_argv(&job)),
            format!("{base} get job migrate -n shop -o json")
        );
        assert_eq!(
            s(k.events_argv(&dep)),
            format!("{base} get events -n shop --field-selector involvedObject.name=api -o json")
        );
    }

    #[test]
    fn explains_conditions_and_last_events() {
        let object = r#"{"kind":"Deployment","metadata":{"name":"api"},"spec":{"replicas":2},
            "status":{"readyReplicas":1,"updatedReplicas":2,"conditions":[
              {"type":"Available","status":"False","reason":"MinimumReplicasUnavailable","message":"Deployment does not have minimum availability."},
              {"type":"Progressing","status":"True","reason":"ReplicaSetUpdated"}]}}"#;
        let mut items = Vec::new();
        for i in 0..7 {
            items.push(format!(
                r#"{{"type":"Normal","reason":"R{i}","message":"m{i}","count":{c},"lastTimestamp":"2026-01-01T00:00:0{i}Z"}}"#,
                c = if i == 6 { 3 } else { 1 }
            ));
        }
        items.reverse(); // the API does not promise an order
        let events = format!(r#"{{"items":[{}]}}"#, items.join(","));
        let text = explain_not_ready(object, &events);
        let expected = "\
deployment/api: 1 of 2 replicas ready, 2 updated
  condition Available=False (MinimumReplicasUnavailable): Deployment does not have minimum availability.
  condition Progressing=True (ReplicaSetUpdated)
  last 5 event(s):
    Normal R2: m2
    Normal R3: m3
    Normal R4: m4
    Normal R5: m5
    Normal R6 (x3): m6";
        assert_eq!(text, expected);
        let broken = explain_not_ready("not json", r#"{"items":[]}"#);
        assert!(
            broken.contains("could not be read") && broken.contains("no events"),
            "{broken}"
        );
    }

    #[test]
    fn explains_pods_and_finds_their_selector() {
        let object = r#"{"spec":{"selector":{"matchLabels":{"app":"api","tier":"web"}}}}"#;
        assert_eq!(pods_selector(object).as_deref(), Some("app=api,tier=web"));
        assert_eq!(pods_selector("{}"), None);
        let pods = r#"{"items":[{"metadata":{"name":"api-1"},"status":{"phase":"Pending",
            "initContainerStatuses":[{"name":"check","ready":false,"state":{"terminated":{"exitCode":2,"reason":"Error"}}}],
            "containerStatuses":[{"name":"api","ready":false,"state":{"waiting":{"reason":"ImagePullBackOff","message":"Back-off pulling image \"localhost:5111/api:abc\""}}}]}}]}"#;
        assert_eq!(
            explain_pods(pods),
            "pod/api-1: Pending\n  init container check exited 2: Error\n  container api waiting: ImagePullBackOff: Back-off pulling image \"localhost:5111/api:abc\""
        );
        assert_eq!(explain_pods(r#"{"items":[]}"#), "no pods");
    }
}
