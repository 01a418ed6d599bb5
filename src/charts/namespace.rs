//! The release namespace, as Helm uses it on install: a namespaced object without
//! `metadata.namespace` lands in it (Helm sends it with `--namespace`), a cluster-scoped one
//! keeps none, and the namespace itself is created when nothing else creates it (Helm's
//! `--create-namespace`). `helm template` prints the objects as the chart wrote them, so
//! devenv does what the install would have done before applying them.

use serde_yaml_ng::{Mapping, Value};

use crate::tenancy::{parse_documents, Scopes, TenancyError};

/// `yaml` (the output of `helm template` for chart `name`) with every namespaced object
/// that names no namespace put in `namespace`, and, when `create` is set and the output
/// holds no such Namespace, that Namespace first. Comments are not kept: the output is
/// re-serialized object by object.
pub fn in_release_namespace(
    name: &str,
    yaml: &str,
    namespace: &str,
    create: bool,
) -> Result<String, TenancyError> {
    let mut docs = parse_documents(name, yaml)?;
    let scopes = Scopes::from_documents(&docs);
    let declared = docs
        .iter()
        .any(|d| d.api_version == "v1" && d.kind == "Namespace" && d.name == namespace);
    let mut out = String::new();
    if create && !declared {
        out.push_str(&namespace_object(namespace));
    }
    for d in &mut docs {
        if d.namespace.is_none() && !scopes.is_cluster_scoped(d.group(), &d.kind) {
            if let Some(Value::Mapping(meta)) = d.value.get_mut("metadata") {
                meta.insert("namespace".into(), namespace.into());
            }
        }
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&d.value).expect("an object serializes"));
    }
    Ok(out)
}

/// A Namespace object, as a YAML document.
pub fn namespace_object(namespace: &str) -> String {
    let mut meta = Mapping::new();
    meta.insert("name".into(), namespace.into());
    let mut ns = Mapping::new();
    ns.insert("apiVersion".into(), "v1".into());
    ns.insert("kind".into(), "Namespace".into());
    ns.insert("metadata".into(), Value::Mapping(meta));
    format!(
        "---\n{}",
        serde_yaml_ng::to_string(&Value::Mapping(ns)).expect("a namespace serializes")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELM: &str = "---\n# Source: c/templates/sa.yaml\napiVersion: v1\nkind: ServiceAccount\n\
        metadata:\n  name: db\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n\
        metadata:\n  name: db\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n  \
        namespace: elsewhere\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n";

    #[test]
    fn namespaced_objects_without_one_land_in_the_release_namespace() {
        let out = in_release_namespace("db", HELM, "data", true).unwrap();
        let docs = parse_documents("db", &out).unwrap();
        let placed: Vec<(&str, Option<&str>)> = docs
            .iter()
            .map(|d| (d.kind.as_str(), d.namespace.as_deref()))
            .collect();
        assert_eq!(
            placed,
            [
                ("Namespace", None),
                ("ServiceAccount", Some("data")),
                ("ClusterRole", None),
                ("ConfigMap", Some("elsewhere")),
                ("Widget", Some("data")),
            ]
        );
        // Declared elsewhere, or by the chart itself: not created again.
        let out = in_release_namespace("db", HELM, "data", false).unwrap();
        assert!(!out.contains("kind: Namespace"));
        let own = format!("{}{HELM}", namespace_object("data"));
        let out = in_release_namespace("db", &own, "data", true).unwrap();
        assert_eq!(out.matches("kind: Namespace").count(), 1);
    }
}
