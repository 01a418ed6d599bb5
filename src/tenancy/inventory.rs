//! What was applied: objects by group, kind, namespace and name, and what to delete when
//! a rendering no longer has them.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::document::{parse_documents, Document};
use super::labels::{MANAGED_BY, MANAGED_BY_LABEL, OWNER_LABEL, PROJECT_LABEL};
use super::scopes::{is_crd, Scopes, CLUSTER_SCOPED};
use super::TenancyError;

/// One object in the cluster. Ordered and compared field by field; [`ObjectRef::identity`]
/// is what says whether two refs are the same object (the version does not matter).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    /// `None` for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    /// API group (`apps`; empty for core).
    pub fn group(&self) -> &str {
        self.api_version.rsplit_once('/').map_or("", |(g, _)| g)
    }

    /// (group, kind, namespace, name): `apps/v1` and `apps/v1beta2` Deployments of the
    /// same name are the same object.
    pub fn identity(&self) -> (&str, &str, Option<&str>, &str) {
        (
            self.group(),
            &self.kind,
            self.namespace.as_deref(),
            &self.name,
        )
    }

    /// The type word kubectl takes: `Kind.group` (`Deployment.apps`, `ConfigMap`,
    /// `Widget.example.com`). kubectl's builder (`mappingFor`) first matches it as a resource
    /// (the REST mapper lowercases it: `deployment.apps`), then as a group and Kind, so it
    /// resolves whatever versions the server serves, even for a CRD whose singular name
    /// differs from its Kind.
    pub fn resource_arg(&self) -> String {
        match self.group() {
            "" => self.kind.clone(),
            g => format!("{}.{g}", self.kind),
        }
    }

    pub fn is_crd(&self) -> bool {
        is_crd(self.group(), &self.kind)
    }

    pub fn is_namespace(&self) -> bool {
        self.group().is_empty() && self.kind == "Namespace"
    }

    /// Position in delete order: namespaced objects (custom resources included) and
    /// cluster-scoped custom resources, then other cluster-scoped objects, then Namespaces,
    /// then CRDs: the reverse of the apply order (CRDs, Namespaces, the rest).
    pub fn delete_tier(&self) -> u8 {
        if self.is_crd() {
            3
        } else if self.is_namespace() {
            2
        } else if self.namespace.is_none()
            && CLUSTER_SCOPED.contains(&(self.group(), self.kind.as_str()))
        {
            1
        } else {
            0
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // As kubectl prints objects: `deployment.apps/api`.
        write!(f, "{}/{}", self.resource_arg().to_lowercase(), self.name)?;
        if let Some(ns) = &self.namespace {
            write!(f, " in {ns}")?;
        }
        Ok(())
    }
}

/// The objects of one rendering (or of everything applied).
/// The annotation of an object Helm never deletes (`helm.sh/resource-policy: keep`, helm's
/// pkg/kube/resource_policy.go), honoured by devenv's prune and `down` too.
pub const RESOURCE_POLICY: &str = "helm.sh/resource-policy";
pub const KEEP: &str = "keep";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub objects: BTreeSet<ObjectRef>,
    /// Those of `objects` annotated `helm.sh/resource-policy: keep`: left in place when the
    /// unit drops them or goes (devenv forgets them then).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub kept: BTreeSet<ObjectRef>,
}

impl Inventory {
    /// The objects of rendered (usually already [isolated](super::isolate)) manifests. Namespaced
    /// objects without a namespace are in `default_namespace`; objects with only
    /// `generateName` are skipped (`kubectl apply` refuses them anyway).
    pub fn from_rendered(yaml: &str, default_namespace: &str) -> Result<Inventory, TenancyError> {
        let documents = parse_documents("rendered", yaml)?;
        Ok(Inventory::from_documents(
            &documents,
            default_namespace,
            &Scopes::from_documents(&documents),
        ))
    }

    pub fn from_documents(
        documents: &[Document],
        default_namespace: &str,
        scopes: &Scopes,
    ) -> Inventory {
        let mut inventory = Inventory::default();
        for m in documents.iter().filter(|m| !m.name.is_empty()) {
            let object = ObjectRef {
                api_version: m.api_version.clone(),
                kind: m.kind.clone(),
                namespace: scopes.namespace_of(
                    m.group(),
                    &m.kind,
                    m.namespace.as_deref(),
                    default_namespace,
                ),
                name: m.name.clone(),
            };
            if m.value["metadata"]["annotations"][RESOURCE_POLICY].as_str() == Some(KEEP) {
                inventory.kept.insert(object.clone());
            }
            inventory.objects.insert(object);
        }
        inventory
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Whether an object with the same identity (any version) is here.
    pub fn contains(&self, r: &ObjectRef) -> bool {
        self.objects.iter().any(|o| o.identity() == r.identity())
    }

    /// Every namespace the objects live in or that is an object itself.
    pub fn namespaces(&self) -> BTreeSet<String> {
        self.objects
            .iter()
            .filter_map(|o| {
                if o.is_namespace() {
                    Some(o.name.clone())
                } else {
                    o.namespace.clone()
                }
            })
            .collect()
    }

    pub fn extend(&mut self, other: &Inventory) {
        self.objects.extend(other.objects.iter().cloned());
        self.kept.extend(other.kept.iter().cloned());
    }

    /// Whether the object is annotated to be kept (any version of it).
    pub fn keeps(&self, r: &ObjectRef) -> bool {
        self.kept.iter().any(|o| o.identity() == r.identity())
    }
}

/// The objects of `old` that `new` no longer has, in delete order ([`ObjectRef::delete_tier`],
/// then by name within a tier): what to delete after applying `new`.
pub fn prune_set(old: &Inventory, new: &Inventory) -> Vec<ObjectRef> {
    let keep: BTreeSet<_> = new.objects.iter().map(ObjectRef::identity).collect();
    let mut out: Vec<ObjectRef> = old
        .objects
        .iter()
        .filter(|o| !keep.contains(&o.identity()))
        .cloned()
        .collect();
    sort_for_delete(&mut out);
    out
}

/// Sorts refs in delete order (stable within a tier: by namespace, kind, name).
pub fn sort_for_delete(refs: &mut [ObjectRef]) {
    refs.sort_by(|a, b| {
        (a.delete_tier(), &a.namespace, a.group(), &a.kind, &a.name).cmp(&(
            b.delete_tier(),
            &b.namespace,
            b.group(),
            &b.kind,
            &b.name,
        ))
    });
}

/// On a shared cluster, splits refs into those to delete and those to leave: every
/// cluster-scoped object but the owner's Namespaces is left (a CRD's deletion deletes
/// every developer's custom resources; other cluster-scoped objects may be in use by
/// another developer's deployment).
pub fn split_for_shared_cluster(refs: Vec<ObjectRef>) -> (Vec<ObjectRef>, Vec<ObjectRef>) {
    refs.into_iter()
        .partition(|r| r.namespace.is_some() || r.is_namespace())
}

/// The refs whose live object (in `listings`, the JSON that
/// [`KubeTarget::get_batches`](crate::kube::KubeTarget::get_batches) printed: a List, one
/// object, or nothing) carries this project's and owner's labels, and
/// those found without them (refs not found are gone already: in neither).
/// Deletions on a shared cluster go through this: the inventory is a file in `.devenv/`,
/// and a stale or planted one must not make devenv delete what it did not apply.
pub fn owned_objects(
    refs: &[ObjectRef],
    listings: &[String],
    project: &str,
    owner: &str,
) -> (Vec<ObjectRef>, Vec<ObjectRef>) {
    let mut labelled = std::collections::HashSet::new();
    let mut found = std::collections::HashSet::new();
    for text in listings {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
            continue;
        };
        let items = match v.get("items").and_then(|i| i.as_array()) {
            Some(items) => items.clone(),
            None => vec![v],
        };
        for o in items {
            let labels = &o["metadata"]["labels"];
            let has = |k: &str, want: &str| labels[k].as_str() == Some(want);
            let id = (
                o["kind"].as_str().unwrap_or("").to_string(),
                o["metadata"]["namespace"].as_str().map(String::from),
                o["metadata"]["name"].as_str().unwrap_or("").to_string(),
            );
            if has(MANAGED_BY_LABEL, MANAGED_BY)
                && has(PROJECT_LABEL, project)
                && has(OWNER_LABEL, owner)
            {
                labelled.insert(id.clone());
            }
            found.insert(id);
        }
    }
    let id = |r: &ObjectRef| (r.kind.clone(), r.namespace.clone(), r.name.clone());
    // Gone already: nothing to delete, nothing to say.
    refs.iter()
        .filter(|r| found.contains(&id(r)))
        .cloned()
        .partition(|r| labelled.contains(&id(r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_tiers_reverse_the_apply_order() {
        let r = |api: &str, kind: &str, ns: Option<&str>| ObjectRef {
            api_version: api.into(),
            kind: kind.into(),
            namespace: ns.map(Into::into),
            name: "x".into(),
        };
        let mut refs = vec![
            r("apiextensions.k8s.io/v1", "CustomResourceDefinition", None),
            r("v1", "Namespace", None),
            r("rbac.authorization.k8s.io/v1", "ClusterRole", None),
            r("example.com/v1", "Widget", Some("a")),
            r("example.com/v1", "ClusterWidget", None),
        ];
        sort_for_delete(&mut refs);
        let kinds: Vec<&str> = refs.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "ClusterWidget",
                "Widget",
                "ClusterRole",
                "Namespace",
                "CustomResourceDefinition"
            ]
        );
    }
}
