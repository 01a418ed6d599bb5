//! What a renderer printed (`kubectl kustomize` for an overlay), split into documents and
//! kept byte for byte.

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;
use sha2::{Digest, Sha256};

use super::{write_atomic, DeployError};

/// One object of a rendered unit.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    pub api_version: String,
    pub kind: String,
    /// Empty when the object has only `generateName`.
    pub name: String,
    /// As written; `None` for cluster-scoped objects and for namespaced objects that take
    /// the context's namespace.
    pub namespace: Option<String>,
    /// The document's text exactly as rendered (no `---` separator, ends with a newline).
    pub raw: String,
    pub value: Value,
}

impl Manifest {
    /// API group (`apps`, `` for core).
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }

    /// `kind/name` as kubectl prints it, lowercase kind.
    pub fn display_name(&self) -> String {
        format!("{}/{}", self.kind.to_lowercase(), self.name)
    }
}

/// A rendered unit: documents in the order the renderer wrote them, and the sha256 of the
/// exact bytes (what was applied can be compared with what would be applied now). The name
/// is the overlay's today; a Helm chart's rendering is the same shape.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderedOverlay {
    pub name: String,
    pub yaml: String,
    /// Lowercase hex sha256 of `yaml`'s bytes.
    pub sha256: String,
    pub manifests: Vec<Manifest>,
}

impl RenderedOverlay {
    pub fn from_yaml(name: &str, yaml: &str) -> Result<RenderedOverlay, DeployError> {
        let mut manifests = Vec::new();
        for (index, raw) in split_documents(yaml).into_iter().enumerate() {
            let value: Value =
                serde_yaml_ng::from_str(&raw).map_err(|e| DeployError::BadDocument {
                    overlay: name.to_string(),
                    index,
                    message: e.to_string(),
                })?;
            // A document of comments only (or empty) is not an object: skip it.
            if value.is_null() {
                continue;
            }
            let not_object = |what: &str| DeployError::NotAnObject {
                overlay: name.to_string(),
                index,
                what: what.to_string(),
            };
            if !value.is_mapping() {
                return Err(not_object("not a mapping"));
            }
            let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
            let api_version =
                text(value.get("apiVersion")).ok_or_else(|| not_object("no apiVersion"))?;
            let kind = text(value.get("kind")).ok_or_else(|| not_object("no kind"))?;
            let metadata = value.get("metadata");
            let name_field = text(metadata.and_then(|m| m.get("name"))).unwrap_or_default();
            let namespace =
                text(metadata.and_then(|m| m.get("namespace"))).filter(|n| !n.is_empty());
            manifests.push(Manifest {
                api_version,
                kind,
                name: name_field,
                namespace,
                raw,
                value,
            });
        }
        Ok(RenderedOverlay {
            name: name.to_string(),
            yaml: yaml.to_string(),
            sha256: hex::encode(Sha256::digest(yaml.as_bytes())),
            manifests,
        })
    }

    /// Path of the saved rendering: `DIR/NAME.yaml`.
    pub fn path_in(dir: &Path, name: &str) -> PathBuf {
        dir.join(format!("{name}.yaml"))
    }

    /// Writes `DIR/NAME.yaml` and `DIR/NAME.yaml.sha256` (in `sha256sum` format, so
    /// `sha256sum -c NAME.yaml.sha256` works from DIR), each atomically.
    /// `dir` is `.devenv/rendered`. Returns the path of the YAML file.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, DeployError> {
        let path = Self::path_in(dir, &self.name);
        write_atomic(&path, self.yaml.as_bytes())?;
        let sum = format!("{}  {}.yaml\n", self.sha256, self.name);
        write_atomic(
            &dir.join(format!("{}.yaml.sha256", self.name)),
            sum.as_bytes(),
        )?;
        Ok(path)
    }

    /// The sha256 recorded by the last [`save`](Self::save) of overlay `name`, if any.
    pub fn saved_sha256(dir: &Path, name: &str) -> Option<String> {
        let text = std::fs::read_to_string(dir.join(format!("{name}.yaml.sha256"))).ok()?;
        let sum = text.split_whitespace().next()?;
        (sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit())).then(|| sum.to_string())
    }
}

/// Splits a multi-document YAML stream on its `---` lines (and `...` end markers).
///
/// In a stream of mappings, a line starting with `---` at column 0 can only be a document
/// marker (block scalars are indented under their key), so a line scan keeps each
/// document's bytes exactly, comments and quoting included.
fn split_documents(yaml: &str) -> Vec<String> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut flush = |current: &mut String| {
        if !current.trim().is_empty() {
            docs.push(std::mem::take(current));
        }
        current.clear();
    };
    for line in yaml.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        let is_marker = |m: &str| {
            bare == m
                || bare
                    .strip_prefix(m)
                    .is_some_and(|r| r.starts_with([' ', '\t']))
        };
        if is_marker("---") {
            flush(&mut current);
            // `--- {a: 1}` carries content on the marker line.
            let rest = bare[3..].trim();
            if !rest.is_empty() && !rest.starts_with('#') {
                current.push_str(rest);
                current.push('\n');
            }
        } else if is_marker("...") {
            flush(&mut current);
        } else if bare.starts_with('%') && current.trim().is_empty() {
            // A directive (`%YAML 1.2`) before a document: not content.
        } else {
            current.push_str(line);
            if !line.ends_with('\n') {
                current.push('\n');
            }
        }
    }
    flush(&mut current);
    docs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_order_bytes_and_metadata() {
        let yaml = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\n# comment\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: a\nspec:\n  x: |\n    ---\n    text\n---\n";
        let r = RenderedOverlay::from_yaml("dev", yaml).unwrap();
        assert_eq!(r.manifests.len(), 2);
        assert_eq!(r.manifests[0].kind, "Namespace");
        assert_eq!(r.manifests[0].namespace, None);
        assert_eq!(r.manifests[1].display_name(), "deployment/web");
        assert_eq!(r.manifests[1].namespace.as_deref(), Some("a"));
        assert_eq!(r.manifests[1].group(), "apps");
        assert_eq!(r.manifests[0].group(), "");
        assert!(r.manifests[1].raw.starts_with("# comment\n"));
        assert!(r.manifests[1].raw.contains("    ---\n"));
        assert_eq!(r.sha256, hex::encode(Sha256::digest(yaml.as_bytes())));
    }

    #[test]
    fn empty_documents_are_skipped_and_garbage_is_an_error() {
        let r = RenderedOverlay::from_yaml("x", "---\n# nothing\n---\n...\n").unwrap();
        assert!(r.manifests.is_empty());
        let e = RenderedOverlay::from_yaml("x", "apiVersion: v1\nkind: [\n").unwrap_err();
        assert!(e.to_string().contains("document 0"), "{e}");
        let e = RenderedOverlay::from_yaml("x", "- a\n- b\n").unwrap_err();
        assert!(e.to_string().contains("not a mapping"), "{e}");
        let e = RenderedOverlay::from_yaml("x", "---\nkind: Pod\n").unwrap_err();
        assert!(e.to_string().contains("no apiVersion"), "{e}");
    }

    #[test]
    fn save_is_atomic_and_records_the_hash() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("rendered");
        let r = RenderedOverlay::from_yaml(
            "dev",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
        )
        .unwrap();
        let path = r.save(&dir).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), r.yaml);
        assert_eq!(
            RenderedOverlay::saved_sha256(&dir, "dev"),
            Some(r.sha256.clone())
        );
        assert_eq!(RenderedOverlay::saved_sha256(&dir, "other"), None);
        // No temporary file is left behind.
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["dev.yaml", "dev.yaml.sha256"]);
    }
}
