//! Split: from a rendered unit to stages, what to apply in which order and what to wait for.
//!
//! Why stages: `kubectl apply` sends objects in file order and does not reorder them. A
//! custom resource whose CRD is in the same file fails (`no matches for kind`), and so
//! does a namespaced object whose Namespace comes later. So: CRDs first, then wait until
//! they are Established; then Namespaces; then everything else in the renderer's order.
//!
//! Helm hooks (`helm.sh/hook`, see `hooks.rs`) are none of these: they are set apart, to
//! run around the main objects, and are not waited for as main objects are.

use std::path::{Path, PathBuf};

use super::hooks::Hook;
use super::waits::{WaitKind, WaitRef, WaitSpec, WaitTarget};
use super::{write_atomic, DeployError, Manifest, RenderedOverlay};
// Which kinds are cluster-scoped: one answer for the whole crate.
use crate::tenancy::Scopes;

/// The stages of one overlay.
#[derive(Clone, Debug, PartialEq)]
pub struct ApplyPlan {
    /// The CustomResourceDefinitions (multi-document YAML), applied first.
    pub crds: Option<String>,
    /// Their names (`plural.group`), to wait for `condition=Established`.
    pub crd_names: Vec<String>,
    /// Everything else, Namespaces first; empty when the overlay has only CRDs.
    pub rest: String,
    /// What to wait for after `rest` is applied, in rendered order.
    pub waits: Vec<WaitTarget>,
    /// The Namespaces of `rest` alone: applied before the pre-install/pre-upgrade hooks,
    /// which may live in them.
    pub namespaces: Option<String>,
    /// The hook objects, in rendered order (never in `crds` nor `rest`).
    pub hooks: Vec<Hook>,
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
    pub fn save(&self, dir: &Path, name: &str) -> Result<ApplyFiles, DeployError> {
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
) -> Result<ApplyPlan, DeployError> {
    // Scope of the built-in kinds and of the custom kinds this unit defines.
    let scopes = Scopes::from_crds(
        rendered
            .manifests
            .iter()
            .filter(|m| is_crd(m))
            .map(|m| &m.value),
    );
    let namespace_of = |m: &Manifest| -> Option<String> {
        if scopes.is_cluster_scoped(m.group(), &m.kind) {
            None
        } else {
            Some(
                m.namespace
                    .clone()
                    .unwrap_or_else(|| default_namespace.to_string()),
            )
        }
    };

    let mut hooks = Vec::new();
    let mut main = Vec::new();
    for m in &rendered.manifests {
        match Hook::of(m, namespace_of(m)) {
            Some(hook) => hooks.push(hook),
            None => main.push(m),
        }
    }
    let (crds, others): (Vec<&Manifest>, Vec<&Manifest>) =
        main.iter().copied().partition(|m| is_crd(m));
    let (namespaces, others): (Vec<&Manifest>, Vec<&Manifest>) = others
        .into_iter()
        .partition(|m| m.kind == "Namespace" && m.group().is_empty());

    let crd_names = crds.iter().map(|m| m.name.clone()).collect();
    let crds = (!crds.is_empty()).then(|| join_documents(&crds));
    let namespaces_only = (!namespaces.is_empty()).then(|| join_documents(&namespaces));
    let rest: Vec<&Manifest> = namespaces.into_iter().chain(others).collect();

    let waits = match wait {
        WaitSpec::None => Vec::new(),
        WaitSpec::Auto => main
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
                    &rendered.name,
                    &main,
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
        namespaces: namespaces_only,
        hooks,
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

/// A declared wait names an object of the overlay when it can (among its main objects:
/// `manifests`, hooks apart); otherwise (an object an operator creates, say) it is waited
/// for where the user said, or in the overlay's single namespace, or in the default
/// namespace.
fn resolve_wait_ref(
    unit_name: &str,
    manifests: &[&Manifest],
    r: &WaitRef,
    default_namespace: &str,
    namespace_of: &dyn Fn(&Manifest) -> Option<String>,
) -> Result<WaitTarget, DeployError> {
    let matches: Vec<String> = manifests
        .iter()
        .copied()
        .filter(|m| m.kind == r.kind.kind() && m.name == r.name)
        .filter_map(namespace_of)
        .filter(|ns| r.namespace.as_ref().is_none_or(|want| want == ns))
        .collect();
    let namespace = match matches.as_slice() {
        [ns] => ns.clone(),
        [] => r.namespace.clone().unwrap_or_else(|| {
            let mut all: Vec<String> = manifests.iter().copied().filter_map(namespace_of).collect();
            all.sort();
            all.dedup();
            match all.as_slice() {
                [only] => only.clone(),
                _ => default_namespace.to_string(),
            }
        }),
        several => {
            return Err(DeployError::UnknownWaitTarget {
                overlay: unit_name.to_string(),
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
