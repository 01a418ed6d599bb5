//! Which kinds are cluster-scoped: Kubernetes' built-in list, and what CRDs declare.

use std::collections::BTreeSet;

use serde_yaml_ng::Value;

use super::document::Document;

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
    pub(super) cluster: BTreeSet<(String, String)>,
    namespaced: BTreeSet<(String, String)>,
}

impl Scopes {
    /// The built-in list plus the CRDs among `documents` (their `spec.scope`).
    pub fn from_documents(documents: &[Document]) -> Scopes {
        Scopes::from_crds(
            documents
                .iter()
                .filter(|m| is_crd(m.group(), &m.kind))
                .map(|m| &m.value),
        )
    }

    /// The built-in list plus what these CustomResourceDefinitions declare: `spec.group`,
    /// `spec.names.kind` and `spec.scope`.
    pub fn from_crds<'a>(crds: impl IntoIterator<Item = &'a Value>) -> Scopes {
        let mut s = Scopes::default();
        for crd in crds {
            let spec = crd.get("spec");
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

    /// The namespace an object of this kind lands in: `None` when cluster-scoped, else
    /// the one it names or, without one, `default_namespace` (the context's).
    pub fn namespace_of(
        &self,
        group: &str,
        kind: &str,
        namespace: Option<&str>,
        default_namespace: &str,
    ) -> Option<String> {
        if self.is_cluster_scoped(group, kind) {
            None
        } else {
            Some(namespace.unwrap_or(default_namespace).to_string())
        }
    }
}

pub(super) fn is_crd(group: &str, kind: &str) -> bool {
    group == "apiextensions.k8s.io" && kind == "CustomResourceDefinition"
}
