//! Sharing one existing cluster between developers (`[cluster] provider = "existing"`).
//!
//! Pure pieces the steps call; nothing here starts a process or talks to a cluster:
//!
//! - **Who**: [`owner_name`] (from `DEVENV_OWNER`, else the login name) as a DNS label.
//! - **Where**: [`NamespaceMapping`] gives every namespace of the project a per-owner name
//!   (`{namespace}-{owner}` by default), and [`isolate`] rewrites rendered manifests into
//!   those namespaces, rewrites the references that must follow (RoleBinding subjects,
//!   NetworkPolicy namespace selectors on `kubernetes.io/metadata.name`) and labels every
//!   object as devenv's, with the project and the owner.
//! - **What was applied**: [`Inventory`] (objects by group, kind, namespace and name),
//!   [`InventoryStore`] (what is live, per overlay, kept in `.devenv/inventory/`),
//!   [`prune_set`] in delete order, and [`KubectlTarget`]'s delete argvs; when the
//!   inventory is lost, [`label_selector`] finds the same objects by label.
//! - **Which cluster**: [`check_context`], the guard against deploying to the wrong one.
//!
//! Decisions (see each item's docs for the why):
//! - `default` is mapped like any other namespace: on a shared cluster two developers'
//!   objects without a namespace would otherwise land in the same place.
//! - `kube-system`, `kube-public`, `kube-node-lease` (and any namespace declared shared) are
//!   never mapped. Writing into them, or creating cluster-scoped objects other than CRDs,
//!   is refused unless allowed: such objects are one per cluster, so two developers
//!   would overwrite each other's.
//! - CRDs are allowed (a project's CRDs are the same for every developer) but labelled
//!   without an owner, and never deleted on a shared cluster: deleting one deletes every
//!   developer's custom resources.
//! - Pruning uses an inventory devenv keeps, not kubectl's ApplySet (KEP-3659): ApplySet
//!   is alpha (`KUBECTL_APPLYSET=true`), prunes per `kubectl apply` call (devenv applies
//!   CRDs and the rest of an overlay separately, and overlays one by one, so an object
//!   moved between overlays would be deleted), and needs a parent object in one
//!   namespace. An inventory is exact, testable with a fake kubectl, and labels still
//!   find everything when it is lost.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_yaml_ng::{Mapping, Value};

use crate::overlays::{Manifest, RenderedOverlay};

/// `app.kubernetes.io/managed-by: devenv` on everything devenv applies.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "devenv";
/// `devenv.dev/project: P`.
pub const PROJECT_LABEL: &str = "devenv.dev/project";
/// `devenv.dev/owner: OWNER` (not on CRDs: they are shared by the project's developers).
pub const OWNER_LABEL: &str = "devenv.dev/owner";
/// The label the API server sets on every Namespace to its name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Default namespace template: a suffix, so `kubectl get ns` groups by project namespace.
pub const DEFAULT_TEMPLATE: &str = "{namespace}-{owner}";
/// Longest owner name: leaves room for the namespace in a 63-character label.
pub const OWNER_MAX: usize = 20;
/// Longest namespace name (a DNS-1123 label).
pub const NAMESPACE_MAX: usize = 63;
/// Namespaces of the cluster itself: never mapped, and not written to unless allowed.
pub const SYSTEM_NAMESPACES: &[&str] = &["kube-system", "kube-public", "kube-node-lease"];

/// What can go wrong turning manifests into one developer's share of a cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenancyError {
    #[error("namespace template {template:?} {reason}")]
    BadTemplate { template: String, reason: String },
    #[error("owner {owner:?} is not a DNS label (lowercase letters, digits, '-', at most {OWNER_MAX} characters)")]
    BadOwner { owner: String },
    #[error("{0}")]
    Render(String),
    #[error("{} would be shared by every developer on this cluster:\n  {}\n  = help: {}", if .objects.len() == 1 { "this object" } else { "these objects" }, .objects.join("\n  "), .hint)]
    Shared { objects: Vec<String>, hint: String },
    #[error("cannot serialize {object}: {reason}")]
    Serialize { object: String, reason: String },
}

// ---------------------------------------------------------------------------------------
// Owner

/// The developer's name as used in namespaces and labels: `DEVENV_OWNER`, else `USER`,
/// else `LOGNAME`, else the passwd entry of the effective uid; made a DNS label of at most
/// [`OWNER_MAX`] characters. A value that has no letter or digit at all is skipped; with
/// nothing usable, `uid-N` (unique on this machine, stable across runs).
pub fn owner_name() -> String {
    owner_from(&|key| std::env::var(key).ok(), passwd_name)
}

/// [`owner_name`] with the environment and the passwd lookup passed in (for tests).
pub fn owner_from(env: &dyn Fn(&str) -> Option<String>, passwd: fn() -> Option<String>) -> String {
    let candidates = ["DEVENV_OWNER", "USER", "LOGNAME"].into_iter().map(env);
    for raw in candidates.chain(std::iter::once_with(passwd)).flatten() {
        // `alice@example.com` (a CI actor, a Kerberos principal): the part before `@`.
        let local = raw.split('@').next().unwrap_or_default();
        let label = dns_label(local, OWNER_MAX);
        if !label.is_empty() {
            return label;
        }
    }
    // SAFETY: geteuid cannot fail and has no preconditions.
    format!("uid-{}", unsafe { libc::geteuid() })
}

/// The login name of the effective uid, from the passwd database (`whoami`'s answer).
fn passwd_name() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let mut size = 1024usize;
    loop {
        let mut buf = vec![0u8; size];
        // SAFETY: an all-zero passwd is a valid value for getpwuid_r to fill.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call and buf's length is passed along.
        let rc = unsafe {
            libc::getpwuid_r(
                uid,
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && size < 1 << 20 {
            size *= 4;
            continue;
        }
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        // SAFETY: pw_name points into buf, NUL-terminated, while buf lives.
        let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
        return Some(name.to_string_lossy().into_owned());
    }
}

/// `raw` as a DNS-1123 label of at most `max` characters: lowercase ASCII letters and
/// digits, every other run of characters one `-`, no `-` at either end. Longer results keep
/// their head and end with `-` and a hash of the whole, so distinct long names stay
/// distinct. Empty when `raw` has no ASCII letter or digit.
pub fn dns_label(raw: &str, max: usize) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    shorten(&out, max)
}

/// `s` itself when it fits in `max`, else its head, `-` and a short hash of all of `s`.
fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let hash_len = if max >= 40 { 8 } else { 6 };
    let hash = blake3::hash(s.as_bytes()).to_hex();
    let head = s[..max.saturating_sub(hash_len + 1)].trim_end_matches('-');
    if head.is_empty() {
        return hash[..max.min(hash_len)].to_string();
    }
    format!("{head}-{}", &hash[..hash_len])
}

/// A DNS-1123 label: 1 to 63 of `[a-z0-9-]`, starting and ending with a letter or digit.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= NAMESPACE_MAX
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

// ---------------------------------------------------------------------------------------
// Namespaces

/// Maps the project's namespaces to one owner's: `shop` → `shop-alice`.
///
/// The template may use `{namespace}` (required), `{owner}` (required: without it two
/// developers would share namespaces) and `{project}`; its literal text is lowercase
/// letters, digits and `-`. A prefix is `{owner}-{namespace}`, a suffix the default
/// `{namespace}-{owner}`. Results longer than 63 characters keep their head and end with a
/// hash of the full name.
///
/// Ambiguity: `{namespace}-{owner}` maps (`a-b`, owner `c`) and (`a`, owner `b-c`) to the
/// same `a-b-c`. Namespaces carry the owner label, so [`check_namespace_owner`] refuses to
/// use (or delete) a namespace another owner created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceMapping {
    template: String,
    owner: String,
    project: String,
    shared: BTreeSet<String>,
}

impl NamespaceMapping {
    pub fn new(
        template: &str,
        owner: &str,
        project: &str,
    ) -> Result<NamespaceMapping, TenancyError> {
        if !is_dns_label(owner) || owner.len() > OWNER_MAX {
            return Err(TenancyError::BadOwner {
                owner: owner.to_string(),
            });
        }
        check_template(template)?;
        Ok(NamespaceMapping {
            template: template.to_string(),
            owner: owner.to_string(),
            project: project.to_string(),
            shared: SYSTEM_NAMESPACES.iter().map(|s| s.to_string()).collect(),
        })
    }

    /// The default template, `{namespace}-{owner}`.
    pub fn default_for(owner: &str, project: &str) -> Result<NamespaceMapping, TenancyError> {
        NamespaceMapping::new(DEFAULT_TEMPLATE, owner, project)
    }

    /// Namespaces that belong to the whole cluster (shared infrastructure such as
    /// `monitoring`), besides the system ones: references to them are kept, and writing
    /// into them is refused unless allowed.
    pub fn with_shared<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        namespaces: I,
    ) -> Self {
        self.shared.extend(namespaces.into_iter().map(Into::into));
        self
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn project(&self) -> &str {
        &self.project
    }

    pub fn template(&self) -> &str {
        &self.template
    }

    /// Whether `namespace` is shared by every developer (never mapped).
    pub fn is_shared(&self, namespace: &str) -> bool {
        self.shared.contains(namespace)
    }

    /// The owner's name for `namespace`; shared namespaces are returned unchanged.
    pub fn map(&self, namespace: &str) -> String {
        if self.is_shared(namespace) {
            return namespace.to_string();
        }
        let full = self
            .template
            .replace("{namespace}", namespace)
            .replace("{owner}", &self.owner)
            .replace("{project}", &self.project);
        shorten(&full, NAMESPACE_MAX)
    }
}

fn check_template(template: &str) -> Result<(), TenancyError> {
    let bad = |reason: &str| TenancyError::BadTemplate {
        template: template.to_string(),
        reason: reason.to_string(),
    };
    let mut literal = String::new();
    let mut rest = template;
    let mut seen = BTreeSet::new();
    while let Some(open) = rest.find('{') {
        literal.push_str(&rest[..open]);
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| bad("has a `{` without its `}`"))?
            + open;
        let name = &rest[open + 1..close];
        if !matches!(name, "namespace" | "owner" | "project") {
            return Err(bad(&format!(
                "uses {{{name}}}; the placeholders are {{namespace}}, {{owner}} and {{project}}"
            )));
        }
        seen.insert(name.to_string());
        literal.push('x');
        rest = &rest[close + 1..];
    }
    literal.push_str(rest);
    if literal.contains('}') {
        return Err(bad("has a `}` without its `{`"));
    }
    for needed in ["namespace", "owner"] {
        if !seen.contains(needed) {
            let why = if needed == "owner" {
                "developers would share namespaces"
            } else {
                "every namespace would map to one"
            };
            return Err(bad(&format!("lacks {{{needed}}} ({why})")));
        }
    }
    if !literal
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        || literal.starts_with('-')
        || literal.ends_with('-')
    {
        return Err(bad(
            "must give a DNS label: lowercase letters, digits and '-' around the placeholders, not starting or ending with '-'",
        ));
    }
    Ok(())
}

/// The labels devenv puts on everything it applies for one project and owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerLabels {
    pub project: String,
    pub owner: String,
}

impl OwnerLabels {
    pub fn new(project: &str, owner: &str) -> OwnerLabels {
        OwnerLabels {
            project: project.to_string(),
            owner: owner.to_string(),
        }
    }

    /// The three labels, in a stable order.
    pub fn pairs(&self) -> [(&'static str, &str); 3] {
        [
            (MANAGED_BY_LABEL, MANAGED_BY),
            (PROJECT_LABEL, &self.project),
            (OWNER_LABEL, &self.owner),
        ]
    }

    /// [`label_selector`] of this project and owner.
    pub fn selector(&self) -> String {
        label_selector(&self.project, &self.owner)
    }
}

/// `app.kubernetes.io/managed-by=devenv,devenv.dev/project=P,devenv.dev/owner=O`: selects
/// exactly what one owner applied for one project (the fallback when the inventory is lost).
/// Consecutive refs of one delete tier and namespace: `(namespace, ["kind.group/name", …])`.
fn batches(refs: &[ObjectRef]) -> Vec<(Option<String>, Vec<String>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < refs.len() {
        let key = (refs[i].delete_tier(), refs[i].namespace.clone());
        let mut j = i;
        while j < refs.len() && (refs[j].delete_tier(), refs[j].namespace.clone()) == key {
            j += 1;
        }
        let objects = refs[i..j]
            .iter()
            .map(|r| format!("{}/{}", r.resource_arg(), r.name))
            .collect();
        out.push((key.1, objects));
        i = j;
    }
    out
}

/// The refs whose live object (in `listings`, the JSON that [`KubectlTarget::get_batches`]
/// printed: a List, one object, or nothing) carries this project's and owner's labels, and
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

pub fn label_selector(project: &str, owner: &str) -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY},{PROJECT_LABEL}={project},{OWNER_LABEL}={owner}")
}

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

    /// The scope of every kind in `manifests`: built in, declared by a CRD among them,
    /// or listed in `cluster_kinds`.
    pub fn scopes(&self, manifests: &[Manifest]) -> Scopes {
        let mut s = Scopes::from_manifests(manifests);
        for (g, k) in &self.cluster_kinds {
            s.cluster.insert((g.clone(), k.clone()));
        }
        s
    }

    /// Rewrites a rendered overlay (multi-document YAML) for this owner. `name` is used in
    /// error messages (the overlay's name).
    ///
    /// Each document is parsed (serde_yaml_ng) and written again by [`to_yaml`] in
    /// Kustomize's block style: the objects are the same values apart from the changes
    /// above; comments and the original quoting are not kept (Kustomize's output has no
    /// comments, and its quoting comes out the same).
    pub fn isolate(&self, name: &str, yaml: &str) -> Result<String, TenancyError> {
        let rendered = RenderedOverlay::from_yaml(name, yaml)
            .map_err(|e| TenancyError::Render(e.to_string()))?;
        let scopes = self.scopes(&rendered.manifests);
        let mut refused = Vec::new();
        let mut docs = Vec::with_capacity(rendered.manifests.len());
        for m in &rendered.manifests {
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
            docs.push(to_yaml(&value).map_err(|reason| TenancyError::Serialize {
                object: label.clone(),
                reason,
            })?);
        }
        if !refused.is_empty() {
            return Err(TenancyError::Shared {
                objects: refused,
                hint: "apply them once per cluster outside devenv (a cluster admin's job), or set cluster.allow_shared_objects = true in devenv.toml if every developer applying them is intended".into(),
            });
        }
        Ok(docs.join("---\n"))
    }

    /// The inventory of what [`isolate`](Self::isolate) returned, with this isolation's
    /// scopes (kinds of `cluster_kinds` are cluster-scoped here too).
    pub fn inventory(&self, isolated_yaml: &str) -> Result<Inventory, TenancyError> {
        let rendered = RenderedOverlay::from_yaml("isolated", isolated_yaml)
            .map_err(|e| TenancyError::Render(e.to_string()))?;
        let default = self.mapping.map(&self.default_namespace);
        Ok(Inventory::from_manifests(
            &rendered.manifests,
            &default,
            &self.scopes(&rendered.manifests),
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
fn object_label(m: &Manifest) -> String {
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

fn is_crd(group: &str, kind: &str) -> bool {
    group == "apiextensions.k8s.io" && kind == "CustomResourceDefinition"
}

/// Built-in kinds that are not namespaced (as in `kubectl api-resources --namespaced=false`
/// of Kubernetes 1.33). Anything else is taken as namespaced unless a CRD says otherwise.
pub const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("", "ComponentStatus"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("storage.k8s.io", "VolumeAttributesClass"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("networking.k8s.io", "IngressClass"),
    ("networking.k8s.io", "IPAddress"),
    ("networking.k8s.io", "ServiceCIDR"),
    ("node.k8s.io", "RuntimeClass"),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "MutatingAdmissionPolicyBinding",
    ),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("certificates.k8s.io", "ClusterTrustBundle"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("policy", "PodSecurityPolicy"),
    ("resource.k8s.io", "DeviceClass"),
    ("authentication.k8s.io", "TokenReview"),
    ("authentication.k8s.io", "SelfSubjectReview"),
    ("authorization.k8s.io", "SubjectAccessReview"),
    ("authorization.k8s.io", "SelfSubjectAccessReview"),
    ("authorization.k8s.io", "SelfSubjectRulesReview"),
];

/// Which (group, Kind) pairs are cluster-scoped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes {
    cluster: BTreeSet<(String, String)>,
    namespaced: BTreeSet<(String, String)>,
}

impl Scopes {
    /// The built-in list plus the CRDs among `manifests` (their `spec.scope`).
    pub fn from_manifests(manifests: &[Manifest]) -> Scopes {
        let mut s = Scopes::default();
        for m in manifests.iter().filter(|m| is_crd(m.group(), &m.kind)) {
            let spec = m.value.get("spec");
            let field = |k: &str| spec.and_then(|s| s.get(k));
            let group = field("group")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let kind = field("names")
                .and_then(|n| n.get("kind"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if field("scope").and_then(Value::as_str) == Some("Cluster") {
                s.cluster.insert((group, kind));
            } else {
                s.namespaced.insert((group, kind));
            }
        }
        s
    }

    pub fn is_cluster_scoped(&self, group: &str, kind: &str) -> bool {
        let key = (group.to_string(), kind.to_string());
        if self.namespaced.contains(&key) {
            return false;
        }
        self.cluster.contains(&key) || CLUSTER_SCOPED.contains(&(group, kind))
    }
}

// ---------------------------------------------------------------------------------------
// YAML out

/// Block-style YAML for a Kubernetes object, read the same way by YAML 1.2 parsers and by
/// the YAML 1.1 one Kubernetes uses (go-yaml v2, via sigs.k8s.io/yaml).
///
/// serde_yaml_ng writes `yes`, `on` or `0777` as plain scalars (YAML 1.2 strings), which
/// kubectl reads as a boolean or a number: a ConfigMap value `"yes"` would be refused. So
/// strings are plain only when no YAML version can read them as anything else, multi-line
/// strings are literal blocks, and the rest is double-quoted (JSON escapes, valid YAML).
pub fn to_yaml(value: &Value) -> Result<String, String> {
    let mut out = String::new();
    match value {
        Value::Mapping(m) if !m.is_empty() => emit_mapping(m, 0, &mut out)?,
        Value::Sequence(s) if !s.is_empty() => emit_sequence(s, 0, &mut out)?,
        other => {
            out.push_str(&scalar(other, 0)?);
            out.push('\n');
        }
    }
    Ok(out)
}

fn emit_mapping(m: &Mapping, indent: usize, out: &mut String) -> Result<(), String> {
    for (i, (k, v)) in m.iter().enumerate() {
        // The first entry of a sequence item follows its `- ` on the same line.
        if i > 0 || !out.ends_with("- ") {
            push_indent(indent, out);
        }
        let key = match k {
            Value::String(s) => quote_if_needed(s),
            Value::Number(_) | Value::Bool(_) => scalar(k, indent)?,
            other => return Err(format!("a mapping key that is not a scalar: {other:?}")),
        };
        out.push_str(&key);
        out.push(':');
        emit_value(v, indent, out)?;
    }
    Ok(())
}

/// After `key:` — a nested block on the next lines, or ` scalar`.
fn emit_value(v: &Value, indent: usize, out: &mut String) -> Result<(), String> {
    match v {
        Value::Mapping(m) if !m.is_empty() => {
            out.push('\n');
            emit_mapping(m, indent + 2, out)
        }
        // Kustomize's style: a sequence under a key is not indented.
        Value::Sequence(s) if !s.is_empty() => {
            out.push('\n');
            emit_sequence(s, indent, out)
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other, indent + 2)?);
            out.push('\n');
            Ok(())
        }
    }
}

fn emit_sequence(s: &[Value], indent: usize, out: &mut String) -> Result<(), String> {
    for item in s {
        if !out.ends_with("- ") {
            push_indent(indent, out);
        }
        out.push_str("- ");
        match item {
            Value::Mapping(m) if !m.is_empty() => emit_mapping(m, indent + 2, out)?,
            Value::Sequence(inner) if !inner.is_empty() => emit_sequence(inner, indent + 2, out)?,
            other => {
                out.push_str(&scalar(other, indent + 2)?);
                out.push('\n');
            }
        }
    }
    Ok(())
}

fn push_indent(indent: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A scalar (or an empty collection) in flow form; a literal block for multi-line text,
/// its lines at `indent`.
fn scalar(v: &Value, indent: usize) -> Result<String, String> {
    Ok(match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => {
            let text = serde_yaml_ng::to_string(n).map_err(|e| e.to_string())?;
            text.trim_end().to_string()
        }
        Value::String(s) => match literal_block(s, indent) {
            Some(block) => block,
            None => quote_if_needed(s),
        },
        Value::Mapping(m) if m.is_empty() => "{}".into(),
        Value::Sequence(s) if s.is_empty() => "[]".into(),
        Value::Tagged(t) => {
            let inner = scalar(&t.value, indent)?;
            format!("{} {inner}", t.tag)
        }
        other => return Err(format!("cannot write {other:?} inline")),
    })
}

/// `|`, `|-` or `|+` and the lines, for text with line breaks that a literal block keeps
/// exactly; `None` when it cannot (carriage returns, other control characters, a first line
/// starting with a space, which would need an indentation indicator).
fn literal_block(s: &str, indent: usize) -> Option<String> {
    if !s.contains('\n') || s.starts_with([' ', '\t', '\n']) {
        return None;
    }
    if s.chars().any(|c| {
        (c.is_control() && c != '\n' && c != '\t')
            || c == '\u{feff}'
            || c == '\u{85}'
            || c == '\u{2028}'
            || c == '\u{2029}'
    }) {
        return None;
    }
    let body = s.trim_end_matches('\n');
    let chomp = match s.len() - body.len() {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let mut out = format!("|{chomp}\n");
    let mut lines: Vec<&str> = body.split('\n').collect();
    // `|+` keeps the trailing line breaks as empty lines.
    lines.extend(std::iter::repeat_n(
        "",
        (s.len() - body.len()).saturating_sub(1),
    ));
    for (i, line) in lines.iter().enumerate() {
        if !line.is_empty() {
            push_indent(indent, &mut out);
            out.push_str(line);
        }
        if i + 1 < lines.len() {
            out.push('\n');
        }
    }
    Some(out)
}

/// `s` plain when every YAML 1.1 and 1.2 reader takes it for this string; else quoted.
pub fn quote_if_needed(s: &str) -> String {
    if plain_is_safe(s) {
        s.to_string()
    } else {
        // A JSON string is a valid YAML double-quoted scalar with the same value.
        serde_json::to_string(s).expect("a string serializes")
    }
}

fn plain_is_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let allowed =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-' | '=' | '+' | ':');
    // `: ` and a final `:` end a key; `host:port` and `:8080` are plain text.
    if !s.chars().all(allowed) || s.ends_with(':') {
        return false;
    }
    // YAML 1.1 booleans and nulls, in any case (y, n, yes, no, on, off, true, false, null).
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
    ) {
        return false;
    }
    if first.is_ascii_alphabetic() || matches!(first, '_' | '/' | ':') {
        return true;
    }
    // Starts like a number (digit, sign, dot), or with `=` (YAML 1.1's value key): plain
    // only with a letter no number has (not a hex digit, nor e, x, o, b: 1e3, 0x1f, 0o7,
    // 0b1) and no `:` (1:20 is sexagesimal, dates have times), so `100Mi`, `10s` and
    // `--listen` stay plain and `0777`, `1.5`, `.inf`, `12:30` do not.
    if first == '=' || s.contains(':') || lower.contains("inf") || lower.contains("nan") {
        return false;
    }
    s.chars().any(|c| {
        c.is_ascii_alphabetic() && !matches!(c.to_ascii_lowercase(), 'a'..='f' | 'x' | 'o')
    })
}

// ---------------------------------------------------------------------------------------
// Inventory and pruning

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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub objects: BTreeSet<ObjectRef>,
}

impl Inventory {
    /// The objects of rendered (usually already [isolated](isolate)) manifests. Namespaced
    /// objects without a namespace are in `default_namespace`; objects with only
    /// `generateName` are skipped (`kubectl apply` refuses them anyway).
    pub fn from_rendered(yaml: &str, default_namespace: &str) -> Result<Inventory, TenancyError> {
        let rendered = RenderedOverlay::from_yaml("rendered", yaml)
            .map_err(|e| TenancyError::Render(e.to_string()))?;
        Ok(Inventory::from_manifests(
            &rendered.manifests,
            default_namespace,
            &Scopes::from_manifests(&rendered.manifests),
        ))
    }

    pub fn from_manifests(
        manifests: &[Manifest],
        default_namespace: &str,
        scopes: &Scopes,
    ) -> Inventory {
        let objects = manifests
            .iter()
            .filter(|m| !m.name.is_empty())
            .map(|m| ObjectRef {
                api_version: m.api_version.clone(),
                kind: m.kind.clone(),
                namespace: if scopes.is_cluster_scoped(m.group(), &m.kind) {
                    None
                } else {
                    Some(
                        m.namespace
                            .clone()
                            .unwrap_or_else(|| default_namespace.to_string()),
                    )
                },
                name: m.name.clone(),
            })
            .collect();
        Inventory { objects }
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

/// Current version of `.devenv/inventory/*.json`.
pub const INVENTORY_VERSION: u32 = 1;

/// What devenv has applied to one cluster context for one owner, per overlay
/// (`.devenv/inventory/CONTEXT-HASH.OWNER.json`).
///
/// The protocol, which keeps the store a superset of what is live:
/// 1. before applying an overlay, [`record_applying`](Self::record_applying) its new
///    inventory (and save): a failed apply leaves nothing untracked;
/// 2. after every overlay of the run is applied, [`prune_plan`](Self::prune_plan) with the
///    inventories rendered in this run gives what to delete; deleting overlay by overlay
///    would delete an object that moved from one overlay to the next;
/// 3. once deleted, [`commit`](Self::commit) (and save).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryStore {
    pub version: u32,
    pub context: String,
    pub owner: String,
    pub overlays: BTreeMap<String, Inventory>,
}

impl InventoryStore {
    pub fn new(context: &str, owner: &str) -> InventoryStore {
        InventoryStore {
            version: INVENTORY_VERSION,
            context: context.into(),
            owner: owner.into(),
            overlays: BTreeMap::new(),
        }
    }

    /// `STATE_DIR/inventory/CONTEXT-HASH.OWNER.json`: one file per cluster and owner, so a
    /// switch of context never prunes objects of another cluster. (Context names may hold
    /// any character, e.g. EKS ARNs: the name is made safe and a hash keeps it unique.)
    pub fn path(state_dir: &Path, context: &str, owner: &str) -> PathBuf {
        let hash = &blake3::hash(context.as_bytes()).to_hex()[..8];
        let safe = dns_label(context, 40);
        state_dir
            .join("inventory")
            .join(format!("{safe}-{hash}.{owner}.json"))
    }

    /// The store at `path`; `Ok(None)` when there is none (nothing applied, or lost: then
    /// [`label_selector`] is the way to find the objects).
    pub fn load(path: &Path) -> Result<Option<InventoryStore>, String> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let store: InventoryStore = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is not a devenv inventory: {e}", path.display()))?;
        if store.version != INVENTORY_VERSION {
            return Err(format!(
                "{} has inventory version {} (this devenv reads {INVENTORY_VERSION})",
                path.display(),
                store.version
            ));
        }
        Ok(Some(store))
    }

    /// Writes the store atomically (the parent folder is created).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::state::write_atomic(path, &text)
    }

    /// Everything recorded, all overlays together.
    pub fn all(&self) -> Inventory {
        let mut all = Inventory::default();
        for inv in self.overlays.values() {
            all.extend(inv);
        }
        all
    }

    /// Adds `new` to what overlay `name` may have live (before applying it).
    pub fn record_applying(&mut self, name: &str, new: &Inventory) {
        self.overlays
            .entry(name.to_string())
            .or_default()
            .extend(new);
    }

    /// What to delete once the overlays of `rendered` (name → its inventory this run) are
    /// applied. Overlays of `config_overlays` not rendered this run (`devenv apply NAME`)
    /// keep what they have; overlays no longer in the config lose everything.
    pub fn prune_plan(
        &self,
        rendered: &BTreeMap<String, Inventory>,
        config_overlays: &[String],
    ) -> Vec<ObjectRef> {
        let mut keep = Inventory::default();
        for inv in rendered.values() {
            keep.extend(inv);
        }
        for name in config_overlays
            .iter()
            .filter(|n| !rendered.contains_key(*n))
        {
            if let Some(inv) = self.overlays.get(name) {
                keep.extend(inv);
            }
        }
        prune_set(&self.all(), &keep)
    }

    /// After pruning: each rendered overlay has exactly its new objects, overlays gone from
    /// the config are forgotten.
    pub fn commit(&mut self, rendered: &BTreeMap<String, Inventory>, config_overlays: &[String]) {
        self.overlays
            .retain(|name, _| config_overlays.contains(name));
        for (name, inv) in rendered {
            self.overlays.insert(name.clone(), inv.clone());
        }
    }
}

/// How devenv reaches the cluster: `kubectl [--kubeconfig K] --context C`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubectlTarget {
    pub program: String,
    /// `None` on an existing cluster: the user's kubeconfig (KUBECONFIG or ~/.kube/config).
    pub kubeconfig: Option<String>,
    pub context: String,
}

impl KubectlTarget {
    pub fn new(context: &str) -> KubectlTarget {
        KubectlTarget {
            program: "kubectl".into(),
            kubeconfig: None,
            context: context.into(),
        }
    }

    /// kubectl as the kube target reaches the cluster.
    pub fn from_target(target: &crate::kube::KubeTarget) -> KubectlTarget {
        KubectlTarget {
            program: "kubectl".into(),
            kubeconfig: target.kubeconfig.clone(),
            context: target.context.clone(),
        }
    }

    /// `PROGRAM [--kubeconfig K] --context C ARGS...`
    pub fn argv(&self, args: &[&str]) -> Vec<String> {
        let target = crate::kube::KubeTarget {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        };
        let mut argv = vec![self.program.clone()];
        argv.extend(target.address());
        argv.extend(args.iter().map(|a| a.to_string()));
        argv
    }

    /// `kubectl --context C delete Kind.group NAME [-n NS] --ignore-not-found --wait=false`.
    pub fn delete_argv(&self, r: &ObjectRef) -> Vec<String> {
        let resource = r.resource_arg();
        let mut args = vec!["delete", resource.as_str(), r.name.as_str()];
        if let Some(ns) = &r.namespace {
            args.extend(["-n", ns.as_str()]);
        }
        args.extend(["--ignore-not-found", "--wait=false"]);
        self.argv(&args)
    }

    /// The same deletions in few commands: consecutive refs of one tier and namespace go in
    /// one `delete KIND/NAME KIND/NAME … [-n NS] --ignore-not-found --wait=false` (order
    /// kept, so the tiers' order holds).
    pub fn delete_batches(&self, refs: &[ObjectRef]) -> Vec<Vec<String>> {
        batches(refs)
            .into_iter()
            .map(|(ns, objects)| {
                let mut args: Vec<&str> = vec!["delete"];
                args.extend(objects.iter().map(String::as_str));
                if let Some(ns) = &ns {
                    args.extend(["-n", ns.as_str()]);
                }
                args.extend(["--ignore-not-found", "--wait=false"]);
                self.argv(&args)
            })
            .collect()
    }

    /// What [`Self::delete_batches`] would delete, read first: `get KIND/NAME … [-n NS]
    /// --ignore-not-found -o json` per batch, for [`owned_objects`] to check their labels.
    pub fn get_batches(&self, refs: &[ObjectRef]) -> Vec<Vec<String>> {
        batches(refs)
            .into_iter()
            .map(|(ns, objects)| {
                let mut args: Vec<&str> = vec!["get"];
                args.extend(objects.iter().map(String::as_str));
                if let Some(ns) = &ns {
                    args.extend(["-n", ns.as_str()]);
                }
                args.extend(["--ignore-not-found", "-o", "json"]);
                self.argv(&args)
            })
            .collect()
    }

    /// `api-resources --namespaced=true --verbs=delete,list -o name`: the namespaced kinds
    /// the label fallback deletes ([`parse_api_resources`] reads the output).
    pub fn api_resources_argv(&self) -> Vec<String> {
        self.argv(&[
            "api-resources",
            "--namespaced=true",
            "--verbs=delete,list",
            "-o",
            "name",
        ])
    }

    /// The fallback when the inventory is lost: `delete R1,R2,… -l SELECTOR --all-namespaces
    /// --ignore-not-found --wait=false` (namespaced resources from [`Self::api_resources_argv`]),
    /// then [`Self::delete_namespaces_by_label_argv`].
    pub fn delete_by_label_argv(&self, resources: &[String], selector: &str) -> Vec<String> {
        let list = resources.join(",");
        self.argv(&[
            "delete",
            &list,
            "-l",
            selector,
            "--all-namespaces",
            "--ignore-not-found",
            "--wait=false",
        ])
    }

    /// `delete namespaces -l SELECTOR --ignore-not-found --wait=false`.
    pub fn delete_namespaces_by_label_argv(&self, selector: &str) -> Vec<String> {
        self.argv(&[
            "delete",
            "namespaces",
            "-l",
            selector,
            "--ignore-not-found",
            "--wait=false",
        ])
    }

    /// `wait --for=delete --timeout=Ns namespace/A namespace/B …`: a deleted Namespace stays
    /// `Terminating` until its content is gone, and nothing can be created in it meanwhile
    /// ("unable to create new content in namespace X because it is being terminated"), so
    /// `down` and `reset` wait for it before the next `up`.
    pub fn wait_namespaces_gone_argv(
        &self,
        namespaces: &[String],
        timeout_secs: u64,
    ) -> Vec<String> {
        let timeout = format!("--timeout={timeout_secs}s");
        let objects: Vec<String> = namespaces
            .iter()
            .map(|n| format!("namespace/{n}"))
            .collect();
        let mut args = vec!["wait", "--for=delete", timeout.as_str()];
        args.extend(objects.iter().map(String::as_str));
        self.argv(&args)
    }

    /// `wait --for=delete --timeout=Ns namespaces -l SELECTOR`, after
    /// [`Self::delete_namespaces_by_label_argv`].
    pub fn wait_namespaces_gone_by_label_argv(
        &self,
        selector: &str,
        timeout_secs: u64,
    ) -> Vec<String> {
        let timeout = format!("--timeout={timeout_secs}s");
        self.argv(&[
            "wait",
            "--for=delete",
            &timeout,
            "namespaces",
            "-l",
            selector,
        ])
    }

    /// `get namespace NS -o json --ignore-not-found` (empty output: no such namespace), for
    /// [`check_namespace_owner`].
    pub fn get_namespace_argv(&self, namespace: &str) -> Vec<String> {
        self.argv(&[
            "get",
            "namespace",
            namespace,
            "-o",
            "json",
            "--ignore-not-found",
        ])
    }
}

/// The resources of `kubectl api-resources -o name` (`deployments.apps`, `configmaps`, …),
/// without the ones whose deletion is never devenv's business: events, and pods (devenv
/// applies no bare pods: they belong to their controllers, deleted with them).
pub fn parse_api_resources(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter(|l| !matches!(*l, "events" | "events.events.k8s.io" | "pods" | "bindings"))
        .map(str::to_string)
        .collect()
}

/// Whether the live Namespace (`kubectl get namespace NS -o json`; empty: it does not exist)
/// is this owner's: devenv deploys into, resets and deletes only namespaces it labelled for
/// the same project and owner.
pub fn check_namespace_owner(
    namespace: &str,
    live_json: &str,
    labels: &OwnerLabels,
) -> Result<(), String> {
    if live_json.trim().is_empty() {
        return Ok(());
    }
    let v: serde_json::Value = serde_json::from_str(live_json)
        .map_err(|e| format!("cannot read namespace {namespace}: {e}"))?;
    let live = |k: &str| {
        v.pointer("/metadata/labels")
            .and_then(|l| l.get(k))
            .and_then(|x| x.as_str())
            .map(str::to_string)
    };
    match (live(MANAGED_BY_LABEL).as_deref(), live(PROJECT_LABEL), live(OWNER_LABEL)) {
        (Some(MANAGED_BY), Some(p), Some(o)) if p == labels.project && o == labels.owner => Ok(()),
        (Some(MANAGED_BY), Some(p), Some(o)) => Err(format!(
            "namespace {namespace} belongs to {o} (project {p}), not to {} (project {}): devenv leaves it alone\n  = help: set DEVENV_OWNER to a name of your own, or change cluster.namespace_template",
            labels.owner, labels.project
        )),
        _ => Err(format!(
            "namespace {namespace} exists and was not created by devenv for {} (it lacks the labels {}): devenv leaves it alone\n  = help: choose another cluster.namespace_template or DEVENV_OWNER, or label it yourself if it is yours: kubectl label namespace {namespace} {}",
            labels.owner,
            labels.selector(),
            labels.pairs().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
        )),
    }
}

// ---------------------------------------------------------------------------------------
// Context

/// The kube context devenv may use on an existing cluster.
///
/// `requested` is the user's explicit choice (`--context` or its environment variable) and
/// wins over `config_context` (`[cluster] context`). There is no third source: the
/// kubeconfig's current-context is never used by default, so a `kubectl config use-context
/// prod` elsewhere cannot redirect devenv. The context must exist in the kubeconfig
/// (`available`) and, when `allowed` is not empty, match one of its names or `*` globs.
pub fn check_context(
    requested: Option<&str>,
    config_context: Option<&str>,
    allowed: &[String],
    available: &[String],
) -> Result<String, String> {
    fn some(s: Option<&str>) -> Option<&str> {
        s.map(str::trim).filter(|s| !s.is_empty())
    }
    let known = || {
        if available.is_empty() {
            "(none: is KUBECONFIG or ~/.kube/config there?)".to_string()
        } else {
            available.join(", ")
        }
    };
    let Some(context) = some(requested).or(some(config_context)) else {
        return Err(format!(
            "no kube context chosen: devenv never deploys to your kubeconfig's current-context by itself\n  = help: set context = \"NAME\" under [cluster] in devenv.toml, or pass --context NAME; contexts in your kubeconfig: {}",
            known()
        ));
    };
    if !available.iter().any(|a| a == context) {
        return Err(format!(
            "context {context:?} is not in your kubeconfig (KUBECONFIG or ~/.kube/config)\n  = help: contexts there: {}; see `kubectl config get-contexts`, or fix the name in devenv.toml / --context",
            known()
        ));
    }
    if !allowed.is_empty()
        && !allowed
            .iter()
            .any(|p| crate::config::validate::glob_match(p, context))
    {
        return Err(format!(
            "context {context:?} is not in cluster.allowed_contexts ({}): refusing to deploy there\n  = help: pick an allowed context, or add {context:?} (or a pattern such as \"{}*\") to cluster.allowed_contexts in devenv.toml if deploying there is intended",
            allowed.join(", "),
            context.split(['-', '_', ':', '/', '.']).next().unwrap_or(context)
        ));
    }
    Ok(context.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(owner: &str) -> NamespaceMapping {
        NamespaceMapping::default_for(owner, "shop").unwrap()
    }

    #[test]
    fn owner_prefers_devenv_owner_then_user_then_logname_then_passwd() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            owner_from(
                &env(&[("DEVENV_OWNER", "CI Bot"), ("USER", "alice")]),
                || None
            ),
            "ci-bot"
        );
        assert_eq!(
            owner_from(&env(&[("USER", "Alice.Smith")]), || None),
            "alice-smith"
        );
        assert_eq!(
            owner_from(&env(&[("USER", "!!!"), ("LOGNAME", "bob")]), || None),
            "bob"
        );
        assert_eq!(
            owner_from(&env(&[("DEVENV_OWNER", "carol@example.com")]), || None),
            "carol"
        );
        assert_eq!(owner_from(&env(&[]), || Some("dave".into())), "dave");
        assert!(owner_from(&env(&[]), || None).starts_with("uid-"));
    }

    #[test]
    fn long_owner_names_stay_distinct_and_short() {
        let a = dns_label("christopher-alexander-montgomery", OWNER_MAX);
        let b = dns_label("christopher-alexander-montgomerz", OWNER_MAX);
        assert!(a.len() <= OWNER_MAX && b.len() <= OWNER_MAX, "{a} {b}");
        assert!(is_dns_label(&a) && is_dns_label(&b));
        assert_ne!(a, b);
        assert!(a.starts_with("christopher-a"));
    }

    #[test]
    fn real_passwd_lookup_answers() {
        // Every machine running the tests has an entry for its uid (root in CI).
        let name = passwd_name().expect("the test's uid has a passwd entry");
        assert!(!name.is_empty());
    }

    #[test]
    fn templates_need_namespace_and_owner_and_give_dns_labels() {
        assert!(NamespaceMapping::new("{owner}-{namespace}", "al", "p").is_ok());
        assert!(NamespaceMapping::new("{project}-{namespace}-{owner}", "al", "p").is_ok());
        for bad in [
            "{namespace}",
            "dev-{owner}",
            "{namespace}_{owner}",
            "-{namespace}-{owner}",
            "{namespace}-{owner",
            "{ns}-{owner}",
            "{namespace}-{Owner}",
        ] {
            assert!(
                NamespaceMapping::new(bad, "al", "p").is_err(),
                "{bad} accepted"
            );
        }
        assert!(matches!(
            NamespaceMapping::new(DEFAULT_TEMPLATE, "Al", "p"),
            Err(TenancyError::BadOwner { .. })
        ));
    }

    #[test]
    fn map_default_system_shared_and_long() {
        let m = mapping("alice");
        assert_eq!(m.map("shop"), "shop-alice");
        assert_eq!(m.map("default"), "default-alice");
        assert_eq!(m.map("kube-system"), "kube-system");
        let m = m.with_shared(["monitoring"]);
        assert_eq!(m.map("monitoring"), "monitoring");
        let long = "a".repeat(60);
        let mapped = m.map(&long);
        assert!(is_dns_label(&mapped), "{mapped}");
        assert_eq!(mapped.len(), NAMESPACE_MAX);
        assert_ne!(mapped, m.map(&"a".repeat(59)));
    }

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
