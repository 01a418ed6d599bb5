//! The objects of a multi-document YAML stream, read for what tenancy needs of them.
//!
//! Tenancy reads its own documents rather than `overlays::RenderedOverlay`: the deploy
//! pipeline (overlays) uses tenancy's inventory and scopes, so tenancy must not depend on
//! it. It needs values, not bytes, so serde_yaml_ng's document iterator does the splitting
//! (the overlays module keeps each document's exact bytes for its sha256, and splits
//! itself for that).

use serde::Deserialize;
use serde_yaml_ng::Value;

use super::TenancyError;

/// One object of a rendering.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub api_version: String,
    pub kind: String,
    /// Empty when the object has only `generateName`.
    pub name: String,
    /// As written; `None` for cluster-scoped objects and for namespaced objects that take
    /// the context's namespace.
    pub namespace: Option<String>,
    pub value: Value,
}

impl Document {
    /// The object `value` is, or what it lacks to be one (`not a mapping`, `no apiVersion`,
    /// `no kind`).
    pub fn from_value(value: Value) -> Result<Document, &'static str> {
        if !value.is_mapping() {
            return Err("not a mapping");
        }
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        let api_version = text(value.get("apiVersion")).ok_or("no apiVersion")?;
        let kind = text(value.get("kind")).ok_or("no kind")?;
        let metadata = value.get("metadata");
        let name = text(metadata.and_then(|m| m.get("name"))).unwrap_or_default();
        let namespace = text(metadata.and_then(|m| m.get("namespace"))).filter(|n| !n.is_empty());
        Ok(Document {
            api_version,
            kind,
            name,
            namespace,
            value,
        })
    }

    /// API group (`apps`; empty for core).
    pub fn group(&self) -> &str {
        self.api_version.rsplit_once('/').map_or("", |(g, _)| g)
    }
}

/// The objects of `yaml` in order; empty documents (or comments only) are skipped. `name`
/// (the overlay's) is used in error messages, worded as the overlays module words them.
pub fn parse_documents(name: &str, yaml: &str) -> Result<Vec<Document>, TenancyError> {
    let mut out = Vec::new();
    for (index, doc) in serde_yaml_ng::Deserializer::from_str(yaml).enumerate() {
        let value = Value::deserialize(doc).map_err(|e| {
            TenancyError::Render(format!(
                "overlay `{name}`: document {index} of the rendered output is not valid YAML: {e}"
            ))
        })?;
        if value.is_null() {
            continue;
        }
        out.push(Document::from_value(value).map_err(|what| {
            TenancyError::Render(format!(
                "overlay `{name}`: document {index} is not a Kubernetes object ({what})"
            ))
        })?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_in_order_without_the_empty_ones() {
        let yaml = "---\n# nothing\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: a\n---\n{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": \"a\"}}\n";
        let docs = parse_documents("x", yaml).unwrap();
        let names: Vec<(&str, &str, Option<&str>)> = docs
            .iter()
            .map(|d| (d.group(), d.name.as_str(), d.namespace.as_deref()))
            .collect();
        assert_eq!(names, [("apps", "web", Some("a")), ("", "a", None)]);
        assert!(parse_documents("x", "").unwrap().is_empty());
        let e = parse_documents("x", "kind: Pod\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "overlay `x`: document 0 is not a Kubernetes object (no apiVersion)"
        );
    }
}
