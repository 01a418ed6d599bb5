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
//!   [`prune_set`] in delete order, and the kube target's delete argvs (`kubectl.rs`); when the
//!   inventory is lost, [`label_selector`] finds the same objects by label.
//! - **Which cluster**: [`check_context`], the guard against deploying to the wrong one,
//!   and [`check_namespace_owner`], against touching another owner's namespace.
//!
//! One file per concept: `owner.rs` (who), `namespaces.rs` (where; the template itself is
//! a config key, `config/namespace_template.rs`), `labels.rs`, `document.rs` and
//! `scopes.rs` (reading a rendering), `isolate.rs` (the rewrite), `inventory.rs` and
//! `store.rs` (what was applied), `kubectl.rs` (the argvs), `guard.rs` (the refusals).
//! Tenancy depends on config, state and the kube target (`crate::kube`) only: the deploy
//! path (`deploy`, `overlays`), the plan and the steps use it, never the other way round.
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

mod document;
mod guard;
mod inventory;
mod isolate;
mod kubectl;
mod labels;
mod namespaces;
mod owner;
mod scopes;
mod store;

pub use crate::config::namespace_template::DEFAULT_TEMPLATE;
pub use document::{parse_documents, Document};
pub use guard::{check_context, check_namespace_owner};
pub use inventory::{
    owned_objects, prune_set, sort_for_delete, split_for_shared_cluster, Inventory, ObjectRef,
    KEEP, RESOURCE_POLICY,
};
pub use isolate::{isolate, to_document, Isolation};
pub use kubectl::parse_api_resources;
pub use labels::{
    label_selector, OwnerLabels, MANAGED_BY, MANAGED_BY_LABEL, NAMESPACE_NAME_LABEL, OWNER_LABEL,
    PROJECT_LABEL,
};
pub use namespaces::{NamespaceMapping, SYSTEM_NAMESPACES};
pub use owner::{dns_label, is_dns_label, owner_from, owner_name, NAMESPACE_MAX, OWNER_MAX};
pub use scopes::{Scopes, CLUSTER_SCOPED};
pub use store::{InventoryError, InventoryStore, INVENTORY_VERSION};

use crate::config::namespace_template::TemplateError;
use crate::hint::Hinted;

/// What can go wrong turning manifests into one developer's share of a cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenancyError {
    #[error(transparent)]
    BadTemplate(#[from] TemplateError),
    #[error("owner {owner:?} is not a DNS label (lowercase letters, digits, '-', at most {OWNER_MAX} characters)")]
    BadOwner { owner: String },
    #[error("{0}")]
    Render(String),
    #[error("{} would be shared by every developer on this cluster:\n  {}", if .objects.len() == 1 { "this object" } else { "these objects" }, .objects.join("\n  "))]
    Shared { objects: Vec<String>, help: String },
    #[error("cannot serialize {object}: {reason}")]
    Serialize { object: String, reason: String },
}

impl TenancyError {
    /// What the user can do about it, when there is something to say.
    pub fn help(&self) -> Option<&str> {
        match self {
            TenancyError::Shared { help, .. } => Some(help),
            _ => None,
        }
    }

    /// The message and its help, for whoever prints it.
    pub fn hinted(&self) -> Hinted {
        Hinted {
            message: self.to_string(),
            help: self.help().map(str::to_string),
        }
    }
}
