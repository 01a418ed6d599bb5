//! Rewriting a rendering into one owner's share of the cluster: namespaces mapped, the
//! references that must follow them rewritten, every object labelled.

use serde_yaml_ng::{Mapping, Value};

use super::document::{parse_documents, Document};
use super::inventory::Inventory;
use super::labels::{OwnerLabels, NAMESPACE_NAME_LABEL, OWNER_LABEL};
use super::namespaces::NamespaceMapping;
use super::scopes::{is_crd, Scopes};
use super::TenancyError;

/// How [`Isolation::isolate`] treats what cannot be made per-developer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Isolation {
    pub mapping: NamespaceMapping,
    pub labels: OwnerLabels,
    /// Where namespaced objects without `metadata.namespace` go (mapped): `default`.
    pub default_namespace: String,
    /// Apply cluster-scoped objects other than CRDs and Namespaces, and objects in shared
    /// namespaces, as they are (labelled). Off by default: the next developer's `up`
    /// overwrites them.
    pub allow_shared: bool,
    /// Cluster-scoped kinds devenv cannot know from the manifests (from CRDs installed
    /// outside the project, e.g. cert-manager's `ClusterIssuer`), as (group, Kind).
    pub cluster_kinds: Vec<(String, String)>,
}

impl Isolation {
    pub fn new(mapping: NamespaceMapping) -> Isolation {
        let labels = OwnerLabels::new(mapping.project(), mapping.owner());
        Isolation {
            mapping,
            labels,
            default_namespace: "default".into(),
            allow_shared: false,
            cluster_kinds: Vec::new(),
        }
    }

    /// The scope of every kind in `documents`: built in, declared by a CRD among them,
    /// or listed in `cluster_kinds`.
    pub fn scopes(&self, documents: &[Document]) -> Scopes {
        let mut s = Scopes::from_documents(documents);
        for (g, k) in &self.cluster_kinds {
            s.cluster.insert((g.clone(), k.clone()));
        }
        s
    }

    /// Rewrites a rendered overlay (multi-document YAML) for this owner. `name` is used in
    /// error messages (the overlay's name).
    ///
    /// Each document is parsed (serde_yaml_ng) and written again by [`to_document`] as
    /// JSON: the objects are the same values apart from the changes above; comments and
    /// the original quoting are not kept.
    pub fn isolate(&self, name: &str, yaml: &str) -> Result<String, TenancyError> {
        let documents = parse_documents(name, yaml)?;
        let scopes = self.scopes(&documents);
        let mut refused = Vec::new();
        let mut docs = Vec::with_capacity(documents.len());
        for m in &documents {
            let mut value = m.value.clone();
            let group = m.group().to_string();
            let cluster = scopes.is_cluster_scoped(&group, &m.kind);
            let crd = is_crd(&group, &m.kind);
            let label = object_label(m);
            if cluster {
                if group.is_empty() && m.kind == "Namespace" {
                    if self.mapping.is_shared(&m.name) && !self.allow_shared {
                        refused.push(format!("{label} (a namespace of the whole cluster)"));
                    }
                    let mapped = self.mapping.map(&m.name);
                    let meta = metadata(&mut value);
                    meta.insert("name".into(), Value::String(mapped.clone()));
                    if let Some(Value::Mapping(labels)) = meta.get_mut("labels") {
                        if labels.contains_key(NAMESPACE_NAME_LABEL) {
                            labels.insert(NAMESPACE_NAME_LABEL.into(), Value::String(mapped));
                        }
                    }
                } else if !crd && !self.allow_shared {
                    refused.push(format!("{label} (cluster-scoped)"));
                }
                // The API server ignores it; removing it keeps inventories exact.
                metadata(&mut value).remove("namespace");
            } else {
                let ns = m
                    .namespace
                    .clone()
                    .unwrap_or_else(|| self.default_namespace.clone());
                if self.mapping.is_shared(&ns) && !self.allow_shared {
                    refused.push(format!("{label} (in namespace {ns})"));
                }
                metadata(&mut value)
                    .insert("namespace".into(), Value::String(self.mapping.map(&ns)));
            }
            self.follow_references(&group, &m.kind, &mut value);
            let labels = labels_of(&mut value);
            for (k, v) in self.labels.pairs() {
                if crd && k == OWNER_LABEL {
                    continue;
                }
                labels.insert(k.into(), Value::String(v.to_string()));
            }
            docs.push(to_document(&label, &value)?);
        }
        if !refused.is_empty() {
            return Err(TenancyError::Shared {
                objects: refused,
                help: "apply them once per cluster outside devenv (a cluster admin's job), or set cluster.allow_shared_objects = true in devenv.toml if every developer applying them is intended".into(),
            });
        }
        Ok(docs.join("---\n"))
    }

    /// The inventory of what [`isolate`](Self::isolate) returned, with this isolation's
    /// scopes (kinds of `cluster_kinds` are cluster-scoped here too).
    pub fn inventory(&self, isolated_yaml: &str) -> Result<Inventory, TenancyError> {
        let documents = parse_documents("isolated", isolated_yaml)?;
        let default = self.mapping.map(&self.default_namespace);
        Ok(Inventory::from_documents(
            &documents,
            &default,
            &self.scopes(&documents),
        ))
    }

    /// Namespaces named inside objects that must follow the mapping.
    fn follow_references(&self, group: &str, kind: &str, value: &mut Value) {
        let map = |v: &mut Value| {
            if let Some(s) = v.as_str() {
                *v = Value::String(self.mapping.map(s));
            }
        };
        match (group, kind) {
            ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
                for subject in seq_mut(value.get_mut("subjects")) {
                    if subject.get("kind").and_then(Value::as_str) == Some("ServiceAccount") {
                        if let Some(ns) = subject.get_mut("namespace") {
                            map(ns);
                        }
                    }
                }
            }
            ("networking.k8s.io", "NetworkPolicy") => {
                let spec = value.get_mut("spec");
                let Some(spec) = spec else { return };
                for (rules, peers) in [("ingress", "from"), ("egress", "to")] {
                    for rule in seq_mut(spec.get_mut(rules)) {
                        for peer in seq_mut(rule.get_mut(peers)) {
                            if let Some(sel) = peer.get_mut("namespaceSelector") {
                                self.map_namespace_selector(sel);
                            }
                        }
                    }
                }
            }
            // Only reachable with allow_shared: the webhook's Service is the owner's.
            (
                "admissionregistration.k8s.io",
                "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration",
            ) => {
                for hook in seq_mut(value.get_mut("webhooks")) {
                    if let Some(ns) = hook
                        .get_mut("clientConfig")
                        .and_then(|c| c.get_mut("service"))
                        .and_then(|s| s.get_mut("namespace"))
                    {
                        map(ns);
                    }
                }
            }
            ("apiregistration.k8s.io", "APIService") => {
                if let Some(ns) = value
                    .get_mut("spec")
                    .and_then(|s| s.get_mut("service"))
                    .and_then(|s| s.get_mut("namespace"))
                {
                    map(ns);
                }
            }
            _ => {}
        }
    }

    /// `matchLabels` / `matchExpressions` on `kubernetes.io/metadata.name` name namespaces.
    fn map_namespace_selector(&self, selector: &mut Value) {
        if let Some(v) = selector
            .get_mut("matchLabels")
            .and_then(|l| l.get_mut(NAMESPACE_NAME_LABEL))
        {
            if let Some(s) = v.as_str() {
                *v = Value::String(self.mapping.map(s));
            }
        }
        for expr in seq_mut(selector.get_mut("matchExpressions")) {
            if expr.get("key").and_then(Value::as_str) != Some(NAMESPACE_NAME_LABEL) {
                continue;
            }
            for v in seq_mut(expr.get_mut("values")) {
                if let Some(s) = v.as_str() {
                    *v = Value::String(self.mapping.map(s));
                }
            }
        }
    }
}

/// [`Isolation::isolate`] with the defaults: shared objects refused, no extra kinds.
pub fn isolate(
    yaml: &str,
    mapping: &NamespaceMapping,
    default_namespace: &str,
    labels: &OwnerLabels,
) -> Result<String, TenancyError> {
    let mut iso = Isolation::new(mapping.clone());
    iso.default_namespace = default_namespace.to_string();
    iso.labels = labels.clone();
    iso.isolate("rendered", yaml)
}

/// `kind/name` as a user reads it in a list, with the namespace when there is one.
fn object_label(m: &Document) -> String {
    let kind = if m.group().is_empty() {
        m.kind.clone()
    } else {
        format!("{}.{}", m.kind, m.group())
    };
    match &m.namespace {
        Some(ns) => format!("{kind}/{} in {ns}", m.name),
        None => format!("{kind}/{}", m.name),
    }
}

/// The object's `metadata`, created when missing.
fn metadata(value: &mut Value) -> &mut Mapping {
    let root = value
        .as_mapping_mut()
        .expect("a rendered object is a mapping");
    let meta = root
        .entry("metadata".into())
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if !meta.is_mapping() {
        *meta = Value::Mapping(Mapping::new());
    }
    meta.as_mapping_mut().expect("just made a mapping")
}

/// The object's `metadata.labels` (not a selector's, not a pod template's).
fn labels_of(value: &mut Value) -> &mut Mapping {
    let labels = metadata(value)
        .entry("labels".into())
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if !labels.is_mapping() {
        *labels = Value::Mapping(Mapping::new());
    }
    labels.as_mapping_mut().expect("just made a mapping")
}

fn seq_mut(v: Option<&mut Value>) -> impl Iterator<Item = &mut Value> {
    v.and_then(Value::as_sequence_mut)
        .into_iter()
        .flat_map(|s| s.iter_mut())
}

/// One object as a document kubectl reads: a comment line, then the object as JSON
/// (`object` names it in errors).
///
/// JSON because it is YAML that every YAML reader takes the same way: strings are always
/// quoted, so `yes`, `on` or `0777` stay strings for the YAML 1.1 reader Kubernetes uses
/// (go-yaml v2, via sigs.k8s.io/yaml), where a YAML 1.2 emitter (serde_yaml_ng) writes
/// them plain and kubectl reads a boolean or a number. serde_json writes it; no emitter of
/// devenv's own. The comment comes first because kubectl takes a file whose first
/// character is `{` for a JSON stream, which ends at the first `---` (kubectl 1.32:
/// "error parsing …: invalid character '-' in numeric literal"); every document starts
/// with it, so any file made of these documents starts as YAML.
pub fn to_document(object: &str, value: &Value) -> Result<String, TenancyError> {
    let cannot = |reason: String| TenancyError::Serialize {
        object: object.to_string(),
        reason,
    };
    if let Some(reason) = json_cannot_carry(value) {
        return Err(cannot(reason));
    }
    let json = serde_json::to_string_pretty(value).map_err(|e| cannot(e.to_string()))?;
    Ok(format!("# written by devenv (JSON is YAML)\n{json}\n"))
}

/// Why serde_json cannot write `value` faithfully, if it cannot: it would write a
/// non-finite number as `null` and a tagged value as a one-key map. Refused instead (the API
/// server reads neither from YAML either).
fn json_cannot_carry(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) if n.is_nan() || n.is_infinite() => {
            Some(format!("{n} is not a number JSON can carry"))
        }
        Value::Tagged(t) => Some(format!("a YAML tag ({}) JSON cannot carry", t.tag)),
        Value::Sequence(s) => s.iter().find_map(json_cannot_carry),
        Value::Mapping(m) => m
            .iter()
            .find_map(|(k, v)| json_cannot_carry(k).or_else(|| json_cannot_carry(v))),
        _ => None,
    }
}
