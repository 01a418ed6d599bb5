//! What applying would change, object by object: the live object against what the API
//! server's dry run of devenv's apply returns, both stripped of what is not the team's to
//! set (status, the server's bookkeeping in metadata), so that a freshly applied
//! environment compares equal. Pure: `devenv diff` (commands/diff.rs) runs kubectl.

use std::path::Path;

use serde_json::Value;

use crate::kube::KubeTarget;

/// metadata fields the server sets and nobody declares.
const SERVER_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "selfLink",
];

/// Annotations written by tools, not by the team.
const TOOL_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
];

/// The object without what is not the team's: `status`, the server's metadata, the
/// annotations tools write (an emptied `annotations` goes too).
pub fn normalize(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
    }
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in SERVER_METADATA {
            meta.remove(*f);
        }
        if let Some(ann) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            for a in TOOL_ANNOTATIONS {
                ann.remove(*a);
            }
            if ann.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    v
}

/// The dotted paths (`spec.replicas`, `data.key`) where `old` and `new` differ; objects
/// are compared key by key, anything else (lists included) as a whole.
pub fn changed_paths(old: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk("", old, new, &mut out);
    out
}

fn walk(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(
                    &p,
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (a, b) if a != b => out.push(path.to_string()),
        _ => {}
    }
}

/// A unified diff of two objects as YAML (`None`: absent, no lines), under `old_label` and
/// `new_label`; empty when they are equal.
pub fn unified(
    old: Option<&Value>,
    new: Option<&Value>,
    old_label: &str,
    new_label: &str,
) -> String {
    let yaml = |v: Option<&Value>| {
        v.map(|v| serde_yaml_ng::to_string(v).unwrap_or_default())
            .unwrap_or_default()
    };
    let (a, b) = (yaml(old), yaml(new));
    if a == b {
        return String::new();
    }
    similar::TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header(old_label, new_label)
        .to_string()
}

/// The objects of a `kubectl … -o json` answer: a List's items, or the one object.
pub fn objects_of(json: &str) -> Result<Vec<Value>, serde_json::Error> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    let v: Value = serde_json::from_str(json)?;
    Ok(match v.get("items").and_then(Value::as_array) {
        Some(items) if v["kind"] == "List" => items.clone(),
        _ => vec![v],
    })
}

/// An object's identity: API group, kind, namespace, name.
pub fn identity(obj: &Value) -> (String, String, Option<String>, String) {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).map(str::to_string);
    let api_version = s("/apiVersion").unwrap_or_default();
    let group = match api_version.split_once('/') {
        Some((g, _)) => g.to_string(),
        None => String::new(),
    };
    (
        group,
        s("/kind").unwrap_or_default(),
        s("/metadata/namespace"),
        s("/metadata/name").unwrap_or_default(),
    )
}

impl KubeTarget {
    /// `apply --server-side --field-manager=devenv --force-conflicts --dry-run=server -o
    /// json -f FILE`: the apply of [`Self::apply_argv`], answered by the API server with the
    /// objects as it would leave them, persisting nothing.
    pub fn dry_run_apply_argv(&self, file: &Path) -> Vec<String> {
        let file = file.to_string_lossy();
        self.argv(&[
            "apply",
            "--server-side",
            "--field-manager=devenv",
            "--force-conflicts",
            "--dry-run=server",
            "-o",
            "json",
            "-f",
            &file,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_freshly_applied_object_normalizes_to_what_was_declared() {
        let live = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"n",
            "uid":"u","resourceVersion":"7","creationTimestamp":"t","managedFields":[],
            "annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}"}},
            "data":{"k":"v"},"status":{}});
        let want = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"n"},"data":{"k":"v"}});
        assert_eq!(normalize(&live), want);
        assert!(changed_paths(&normalize(&live), &want).is_empty());
    }

    #[test]
    fn changed_paths_are_dotted_leaves() {
        let a = json!({"spec":{"replicas":3,"template":{"x":[1]}},"data":{"k":"edited"}});
        let b = json!({"spec":{"replicas":1,"template":{"x":[1]}},"data":{"k":"v","new":"n"}});
        assert_eq!(
            changed_paths(&a, &b),
            ["data.k", "data.new", "spec.replicas"]
        );
    }

    #[test]
    fn unified_names_both_sides_and_is_empty_when_equal() {
        let a = json!({"data":{"k":"a"}});
        let b = json!({"data":{"k":"b"}});
        let d = unified(Some(&a), Some(&b), "live X", "devenv");
        assert!(d.starts_with("--- live X\n+++ devenv\n"), "{d}");
        assert!(d.contains("-  k: a\n+  k: b\n"), "{d}");
        assert_eq!(unified(Some(&a), Some(&a), "l", "d"), "");
    }
}
