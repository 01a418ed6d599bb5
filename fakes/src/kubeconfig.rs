//! Kubeconfig files as k3d writes them (clientcmd: keys sorted, named lists sorted by name)
//! and as kubectl reads them (`--kubeconfig`, `KUBECONFIG` list, `~/.kube/config`).

use crate::common::home_dir;
use crate::state::Cluster;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

const LISTS: [(&str, &str); 3] = [
    ("clusters", "cluster"),
    ("contexts", "context"),
    ("users", "user"),
];

/// Standard base64 with padding, as clientcmd writes certificate data.
pub fn base64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn pem(kind: &str, who: &str) -> String {
    base64(
        format!(
            "-----BEGIN {kind}-----\nZmFrZSBrM2QgY3JlZGVudGlhbCBmb3Ig{}\n-----END {kind}-----\n",
            base64(who.as_bytes())
        )
        .as_bytes(),
    )
}

/// The kubeconfig `k3d kubeconfig get NAME` returns for a cluster.
pub fn for_cluster(c: &Cluster) -> Value {
    let ctx = c.context();
    let user = format!("admin@{ctx}");
    json!({
        "apiVersion": "v1",
        "clusters": [{"cluster": {"certificate-authority-data": pem("CERTIFICATE", &format!("ca {ctx}")), "server": c.server_url()}, "name": ctx}],
        "contexts": [{"context": {"cluster": ctx, "user": user}, "name": ctx}],
        "current-context": ctx,
        "kind": "Config",
        "preferences": {},
        "users": [{"name": user, "user": {
            "client-certificate-data": pem("CERTIFICATE", &format!("admin {ctx}")),
            "client-key-data": pem("EC PRIVATE KEY", &format!("admin {ctx}"))}}],
    })
}

/// An empty config as clientcmd loads it from an empty or missing file.
pub fn empty() -> Value {
    json!({"apiVersion": "v1", "clusters": [], "contexts": [], "current-context": "", "kind": "Config", "preferences": {}, "users": []})
}

/// Load a kubeconfig file; `Ok(None)` when it does not exist, `Err` when it is not YAML.
pub fn load(path: &Path) -> Result<Option<Value>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("open {}: {e}", path.display())),
    };
    if text.trim().is_empty() {
        return Ok(Some(empty()));
    }
    let v: Value = serde_yaml_ng::from_str(&text)
        .map_err(|e| format!("error loading config file \"{}\": {e}", path.display()))?;
    if !v.is_object() {
        return Err(format!(
            "error loading config file \"{}\": not a kubeconfig",
            path.display()
        ));
    }
    Ok(Some(normalize(v)))
}

/// Fill the keys clientcmd always writes.
fn normalize(mut v: Value) -> Value {
    let m = v.as_object_mut().expect("object");
    for (list, _) in LISTS {
        if !m.get(list).is_some_and(Value::is_array) {
            m.insert(list.to_string(), json!([]));
        }
    }
    m.entry("apiVersion").or_insert(json!("v1"));
    m.entry("kind").or_insert(json!("Config"));
    m.entry("preferences").or_insert(json!({}));
    if !m.get("current-context").is_some_and(Value::is_string) {
        m.insert("current-context".into(), json!(""));
    }
    v
}

/// clientcmd.Write: named lists sorted by name, keys sorted (serde_json's map is ordered).
pub fn to_yaml(v: &Value) -> String {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        for (list, _) in LISTS {
            if let Some(Value::Array(items)) = m.get_mut(list) {
                items.sort_by(|a, b| name_of(a).cmp(name_of(b)));
            }
        }
    }
    // go-yaml writes empty strings as "" where serde_yaml_ng writes ''
    serde_yaml_ng::to_string(&v)
        .expect("yaml")
        .replace(": ''\n", ": \"\"\n")
}

fn name_of(v: &Value) -> &str {
    v.get("name").and_then(Value::as_str).unwrap_or("")
}

fn entries<'a>(cfg: &'a Value, list: &str) -> impl Iterator<Item = &'a Value> {
    cfg.get(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

pub fn find<'a>(cfg: &'a Value, list: &str, name: &str) -> Option<&'a Value> {
    entries(cfg, list).find(|e| name_of(e) == name)
}

pub fn names(cfg: &Value, list: &str) -> Vec<String> {
    entries(cfg, list).map(|e| name_of(e).to_string()).collect()
}

fn upsert(cfg: &mut Value, list: &str, entry: Value) {
    let items = cfg
        .get_mut(list)
        .and_then(Value::as_array_mut)
        .expect("normalized");
    let name = name_of(&entry).to_string();
    match items.iter_mut().find(|e| name_of(e) == name) {
        Some(slot) => *slot = entry,
        None => items.push(entry),
    }
}

/// k3d's `KubeconfigMerge`: add or (when `overwrite`) replace the cluster's three entries.
pub fn merge(existing: Value, new: &Value, overwrite: bool, switch: bool) -> Result<Value, String> {
    let mut cfg = normalize(existing);
    let labels = [
        ("clusters", "cluster"),
        ("users", "AuthInfo"),
        ("contexts", "context"),
    ];
    for (list, label) in labels {
        for e in entries(new, list) {
            if find(&cfg, list, name_of(e)).is_some() && !overwrite {
                return Err(format!(
                    "{label} '{}' already exists in target KubeConfig",
                    name_of(e)
                ));
            }
        }
    }
    for (list, _) in labels {
        for e in entries(new, list).cloned().collect::<Vec<_>>() {
            upsert(&mut cfg, list, e);
        }
    }
    let current_empty = cfg["current-context"].as_str().unwrap_or("").is_empty();
    if switch || current_empty {
        cfg["current-context"] = new["current-context"].clone();
    }
    Ok(cfg)
}

/// k3d's `KubeconfigRemoveCluster`.
pub fn remove_cluster(mut cfg: Value, name: &str) -> Value {
    let ctx = format!("k3d-{name}");
    let user = format!("admin@{ctx}");
    for (list, target) in [("contexts", &ctx), ("clusters", &ctx), ("users", &user)] {
        if let Some(items) = cfg.get_mut(list).and_then(Value::as_array_mut) {
            items.retain(|e| name_of(e) != target.as_str());
        }
    }
    if cfg["current-context"].as_str() == Some(ctx.as_str()) {
        // Go map iteration picks "any other context"; take the first by name.
        let mut others = names(&cfg, "contexts");
        others.sort();
        cfg["current-context"] = json!(others.first().cloned().unwrap_or_default());
    }
    cfg
}

/// k3d's `KubeconfigWrite`: `clientcmd.WriteToFile` to a new `<path>.k3d_<time>` (mode 0600,
/// `os.WriteFile(tmp, content, 0600)`), then a rename over the target (symlink followed). So
/// whatever mode the user's kubeconfig had, k3d leaves it 0600.
pub fn write(path: &Path, cfg: &Value) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if let Some(dir) = real.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let now = crate::common::now_ms();
    let tmp = PathBuf::from(format!(
        "{}.k3d_{}_{}",
        real.display(),
        now,
        std::process::id()
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(to_yaml(cfg).as_bytes())?;
    drop(f);
    std::fs::rename(&tmp, &real)
}

/// kubectl's `clientcmd.ModifyConfig` → `WriteToFile(config, path)` on the file itself:
/// `os.WriteFile` truncates an existing file and keeps its mode; a new file gets 0600.
pub fn write_in_place(path: &Path, cfg: &Value) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(to_yaml(cfg).as_bytes())
}

/// clientcmd's default loading precedence: the `KUBECONFIG` list, else `~/.kube/config`.
pub fn default_precedence() -> Vec<PathBuf> {
    match std::env::var("KUBECONFIG") {
        Ok(v) if !v.is_empty() => {
            let mut seen = Vec::new();
            for p in v.split(':').filter(|p| !p.is_empty()) {
                let p = PathBuf::from(p);
                if !seen.contains(&p) {
                    seen.push(p);
                }
            }
            seen
        }
        _ => vec![home_dir().join(".kube").join("config")],
    }
}

/// k3d's `KubeconfigGetDefaultPath`.
pub fn default_path_for_write() -> Result<PathBuf, String> {
    let p = default_precedence();
    if p.len() > 1 {
        return Err("multiple kubeconfigs specified via KUBECONFIG env var: Please reduce to one entry, unset KUBECONFIG or explicitly choose an output".into());
    }
    Ok(p.into_iter()
        .next()
        .unwrap_or_else(|| home_dir().join(".kube").join("config")))
}

/// What kubectl sees: the merged config and the file it writes `use-context` changes to.
pub struct Loaded {
    pub cfg: Value,
    pub files: Vec<PathBuf>,
}

/// kubectl's loading: an explicit file must exist; the `KUBECONFIG` list is merged with
/// the first file winning for every name and for `current-context`.
pub fn load_for_kubectl(explicit: Option<&str>) -> Result<Loaded, String> {
    if let Some(p) = explicit.filter(|p| !p.is_empty()) {
        let path = PathBuf::from(p);
        return match load(&path)? {
            Some(cfg) => Ok(Loaded {
                cfg,
                files: vec![path],
            }),
            None => Err(format!("stat {p}: no such file or directory")),
        };
    }
    let files = default_precedence();
    let mut merged = empty();
    for f in &files {
        let Some(cfg) = load(f)? else { continue };
        for (list, _) in LISTS {
            for e in entries(&cfg, list) {
                if find(&merged, list, name_of(e)).is_none() {
                    merged[list].as_array_mut().unwrap().push(e.clone());
                }
            }
        }
        if merged["current-context"].as_str().unwrap_or("").is_empty() {
            merged["current-context"] = cfg["current-context"].clone();
        }
    }
    Ok(Loaded { cfg: merged, files })
}

/// `config view --minify`: only the current context, its cluster and user.
pub fn minify(cfg: &Value, context: &str) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("v1"));
    out.insert("kind".into(), json!("Config"));
    out.insert("preferences".into(), json!({}));
    out.insert("current-context".into(), json!(context));
    let ctx = find(cfg, "contexts", context).cloned();
    let cluster = ctx
        .as_ref()
        .and_then(|c| c["context"]["cluster"].as_str())
        .and_then(|n| find(cfg, "clusters", n))
        .cloned();
    let user = ctx
        .as_ref()
        .and_then(|c| c["context"]["user"].as_str())
        .and_then(|n| find(cfg, "users", n))
        .cloned();
    out.insert("contexts".into(), Value::Array(ctx.into_iter().collect()));
    out.insert(
        "clusters".into(),
        Value::Array(cluster.into_iter().collect()),
    );
    out.insert("users".into(), Value::Array(user.into_iter().collect()));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
    }

    #[test]
    fn merge_keeps_others_and_refuses_conflicts_without_update() {
        let other = json!({"apiVersion":"v1","kind":"Config","preferences":{},"current-context":"other",
            "clusters":[{"name":"other","cluster":{"server":"https://x:1"}}],
            "contexts":[{"name":"other","context":{"cluster":"other","user":"u"}}],
            "users":[{"name":"u","user":{"token":"t"}}]});
        let new = json!({"current-context":"k3d-a","clusters":[{"name":"k3d-a","cluster":{}}],"contexts":[{"name":"k3d-a","context":{}}],"users":[{"name":"admin@k3d-a","user":{}}]});
        let merged = merge(other.clone(), &new, true, false).unwrap();
        assert_eq!(merged["current-context"], "other");
        assert_eq!(find(&merged, "users", "u"), find(&other, "users", "u"));
        assert_eq!(names(&merged, "contexts"), ["other", "k3d-a"]);
        let err = merge(merged, &new, false, false).unwrap_err();
        assert_eq!(err, "cluster 'k3d-a' already exists in target KubeConfig");
    }
}
