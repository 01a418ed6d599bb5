//! Where: every namespace of the project mapped to one owner's (`shop` → `shop-alice`).

use std::collections::BTreeSet;

use super::owner::{is_dns_label, shorten, NAMESPACE_MAX, OWNER_MAX};
use super::TenancyError;
use crate::config::namespace_template::{NamespaceTemplate, DEFAULT_TEMPLATE};

/// Namespaces of the cluster itself: never mapped, and not written to unless allowed.
pub const SYSTEM_NAMESPACES: &[&str] = &["kube-system", "kube-public", "kube-node-lease"];

/// Maps the project's namespaces to one owner's: `shop` → `shop-alice`.
///
/// The template may use `{namespace}` (required), `{owner}` (required: without it two
/// developers would share namespaces) and `{project}`; its literal text is lowercase
/// letters, digits and `-`. A prefix is `{owner}-{namespace}`, a suffix the default
/// `{namespace}-{owner}`. Results longer than 63 characters keep their head and end with a
/// hash of the full name.
///
/// Ambiguity: `{namespace}-{owner}` maps (`a-b`, owner `c`) and (`a`, owner `b-c`) to the
/// same `a-b-c`. Namespaces carry the owner label, so
/// [`check_namespace_owner`](super::check_namespace_owner) refuses to
/// use (or delete) a namespace another owner created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceMapping {
    template: NamespaceTemplate,
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
        let template = NamespaceTemplate::parse(template)?;
        Ok(NamespaceMapping {
            template,
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
        self.template.as_str()
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
        let full = self.template.expand(namespace, &self.owner, &self.project);
        shorten(&full, NAMESPACE_MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(owner: &str) -> NamespaceMapping {
        NamespaceMapping::default_for(owner, "shop").unwrap()
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
}
