//! The release namespace, as Helm uses it on install: a namespaced object without
//! `metadata.namespace` lands in it (Helm sends it with `--namespace`), a cluster-scoped one
//! keeps none, and the namespace itself is created when nothing else creates it (Helm's
//! `--create-namespace`). `helm template` prints the objects as the chart wrote them, so
//! devenv does what the install would have done before applying them.
//!
//! One more thing Helm does on its own: the CustomResourceDefinitions of a chart's `crds/`
//! folder are never deleted (not on upgrade, not on uninstall: deleting a CRD deletes
//! every object of its kind, also those others made). devenv marks them
//! `helm.sh/resource-policy: keep`, the annotation its prune honours.

use std::collections::BTreeSet;

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
    let from_crds_dir = crds_dir_names(yaml);
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
        if d.kind == "CustomResourceDefinition" && from_crds_dir.contains(&d.name) {
            keep(&mut d.value);
        }
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&d.value).expect("an object serializes"));
    }
    Ok(out)
}

/// The names of the objects helm printed from a `crds/` folder (its `# Source: CHART/crds/…`
/// comment, which parsing drops: read before).
fn crds_dir_names(yaml: &str) -> BTreeSet<String> {
    yaml.split("\n---")
        .filter(|doc| {
            doc.lines()
                .any(|l| l.starts_with("# Source: ") && l.contains("/crds/"))
        })
        .filter_map(|doc| serde_yaml_ng::from_str::<Value>(doc).ok())
        .filter_map(|v| v["metadata"]["name"].as_str().map(str::to_string))
        .collect()
}

/// Annotates the object `helm.sh/resource-policy: keep`.
fn keep(object: &mut Value) {
    let Some(Value::Mapping(meta)) = object.get_mut("metadata") else {
        return;
    };
    let annotations = meta
        .entry("annotations".into())
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if let Value::Mapping(a) = annotations {
        a.insert(
            crate::tenancy::RESOURCE_POLICY.into(),
            crate::tenancy::KEEP.into(),
        );
    }
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

    #[test]
    fn crds_of_the_crds_folder_are_kept_and_templated_ones_are_not() {
        let crd = |source: &str, name: &str| {
            format!(
                "---\n# Source: {source}\napiVersion: apiextensions.k8s.io/v1\n\
                 kind: CustomResourceDefinition\nmetadata:\n  name: {name}\n"
            )
        };
        let helm = format!(
            "{}{}",
            crd("c/crds/widgets.yaml", "widgets.example.com"),
            crd("c/templates/gadgets.yaml", "gadgets.example.com")
        );
        let out = in_release_namespace("c", &helm, "data", false).unwrap();
        let docs = parse_documents("c", &out).unwrap();
        let policy = |i: usize| {
            docs[i].value["metadata"]["annotations"]["helm.sh/resource-policy"]
                .as_str()
                .map(str::to_string)
        };
        assert_eq!(docs[0].name, "widgets.example.com");
        assert_eq!(policy(0).as_deref(), Some("keep"));
        assert_eq!(policy(1), None);
    }
}
