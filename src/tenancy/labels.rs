//! The labels devenv puts on what it applies, and the selector that finds them again.

/// `app.kubernetes.io/managed-by: devenv` on everything devenv applies.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "devenv";
/// `devenv.dev/project: P`.
pub const PROJECT_LABEL: &str = "devenv.dev/project";
/// `devenv.dev/owner: OWNER` (not on CRDs: they are shared by the project's developers).
pub const OWNER_LABEL: &str = "devenv.dev/owner";
/// The label the API server sets on every Namespace to its name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

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
pub fn label_selector(project: &str, owner: &str) -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY},{PROJECT_LABEL}={project},{OWNER_LABEL}={owner}")
}
