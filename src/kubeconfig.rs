//! Read-only helpers on the user's kubeconfig.
//!
//! devenv never writes the user's kubeconfig itself: `k3d kubeconfig merge` does. These
//! helpers answer "which context is current?" and let tests (and `doctor`) check that
//! devenv left every other context, cluster and user exactly as it found them.
//!
//! A missing file reads as an empty kubeconfig, as kubectl treats it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use crate::hint::Hinted;

#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    #[error("could not read kubeconfig {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("kubeconfig {} is not valid YAML: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: serde_yaml_ng::Error,
    },
}

/// The kubeconfig files kubectl reads: `$KUBECONFIG` split on the platform's path
/// separator (`:`; empty entries skipped), else `~/.kube/config`.
pub fn default_kubeconfig_paths() -> Vec<PathBuf> {
    paths_from(
        std::env::var_os("KUBECONFIG").as_deref(),
        dirs::home_dir().as_deref(),
    )
}

fn paths_from(kubeconfig: Option<&std::ffi::OsStr>, home: Option<&Path>) -> Vec<PathBuf> {
    if let Some(v) = kubeconfig.filter(|v| !v.is_empty()) {
        let paths: Vec<PathBuf> = std::env::split_paths(v)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if !paths.is_empty() {
            return paths;
        }
    }
    home.map(|h| vec![h.join(".kube").join("config")])
        .unwrap_or_default()
}

/// Where a new context goes when `$KUBECONFIG` lists these files: kubectl writes a new
/// context to the first of them that exists, else to the first (client-go
/// tools/clientcmd/loader.go `GetDefaultFilename`, used by config.go `ModifyConfig` for a
/// context no file has yet). `None` for one file or none: k3d's `--kubeconfig-merge-default`
/// handles that case itself, and refuses more than one (k3d pkg/client/kubeconfig.go
/// `KubeconfigGetDefaultPath`: "multiple kubeconfigs specified via KUBECONFIG env var").
pub fn merge_target(paths: &[PathBuf]) -> Option<PathBuf> {
    if paths.len() < 2 {
        return None;
    }
    let chosen = paths
        .iter()
        .find(|p| p.exists())
        .unwrap_or(&paths[0])
        .clone();
    // k3d runs in the project folder: a relative entry is relative to where devenv started.
    Some(if chosen.is_relative() {
        std::env::current_dir()
            .map(|d| d.join(&chosen))
            .unwrap_or(chosen)
    } else {
        chosen
    })
}

/// Whether the kubeconfig files can take devenv's context, before anything is created:
/// every listed file that exists is a kubeconfig (kubectl and k3d refuse a file that is
/// not), and the file the context goes to can be written. `Err` is the problem, with the fix
/// as its help.
pub fn check_merge_target(paths: &[PathBuf]) -> Result<(), Hinted> {
    let shown = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    for p in paths {
        match load(p) {
            Ok(v) if v.is_null() || v.is_mapping() => {}
            Ok(_) => {
                return Err(Hinted::new(format!(
                    "{} (in KUBECONFIG={shown}) is not a kubeconfig: it is not a YAML mapping",
                    p.display()
                ))
                .help("fix or remove that file, or take it out of KUBECONFIG"))
            }
            Err(e) => {
                return Err(Hinted::new(format!("{e} (in KUBECONFIG={shown})")).help(
                    "fix that file (kubectl cannot read it either), or take it out of KUBECONFIG",
                ))
            }
        }
    }
    let Some(target) = merge_target(paths).or_else(|| paths.first().cloned()) else {
        return Ok(());
    };
    let writable = if target.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(&target)
            .map(|_| ())
    } else {
        // k3d creates the file (and its folder); the nearest existing folder must take it.
        let mut dir = target.parent().map(Path::to_path_buf);
        while let Some(d) = dir
            .clone()
            .filter(|d| !d.as_os_str().is_empty() && !d.exists())
        {
            dir = d.parent().map(Path::to_path_buf);
        }
        match dir.filter(|d| !d.as_os_str().is_empty()) {
            Some(d) => tempfile::tempfile_in(&d).map(|_| ()),
            None => Ok(()),
        }
    };
    writable.map_err(|e| {
        Hinted::new(format!(
            "devenv merges its context into {} (the file kubectl writes new contexts to), which cannot be written: {e}",
            target.display()
        ))
        .help("make it writable, set cluster.merge_kubeconfig = false, or put a writable file first in KUBECONFIG")
    })
}

/// The parsed document (`Value::Null` for a missing or empty file).
fn load(path: &Path) -> Result<Value, KubeconfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Value::Null),
        Err(source) => {
            return Err(KubeconfigError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_yaml_ng::from_str(&text).map_err(|source| KubeconfigError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

fn current_of(doc: &Value) -> Option<String> {
    doc.get("current-context")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// `name → entry` of a named list (`contexts`, `clusters`, `users`). The first entry of a
/// name wins, as in kubectl.
fn named(doc: &Value, list: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    if let Some(items) = doc.get(list).and_then(Value::as_sequence) {
        for item in items {
            if let Some(name) = item.get("name").and_then(Value::as_str) {
                out.entry(name.to_string()).or_insert_with(|| item.clone());
            }
        }
    }
    out
}

/// `current-context` of one file (`None` when unset or empty, or when the file cannot be
/// read: see [`try_current_context`]).
pub fn current_context(path: &Path) -> Option<String> {
    try_current_context(path).ok().flatten()
}

pub fn try_current_context(path: &Path) -> Result<Option<String>, KubeconfigError> {
    Ok(current_of(&load(path)?))
}

/// The current context kubectl would use with these files: the first non-empty
/// `current-context`, as kubectl merges `$KUBECONFIG`.
pub fn effective_current_context(paths: &[PathBuf]) -> Result<Option<String>, KubeconfigError> {
    for p in paths {
        if let Some(c) = try_current_context(p)? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// Context names, in file order (empty when the file cannot be read: see
/// [`try_contexts`]).
pub fn contexts(path: &Path) -> Vec<String> {
    try_contexts(path).unwrap_or_default()
}

pub fn try_contexts(path: &Path) -> Result<Vec<String>, KubeconfigError> {
    let doc = load(path)?;
    Ok(doc
        .get("contexts")
        .and_then(Value::as_sequence)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

/// The context entry (`{name, context: {cluster, user, namespace}}`) serialized in a
/// canonical form: equal bytes mean an unchanged entry even if a tool reformatted the file.
/// `None` when there is no such context or the file cannot be read.
pub fn context_entry_bytes(path: &Path, name: &str) -> Option<Vec<u8>> {
    try_context_entry_bytes(path, name).ok().flatten()
}

pub fn try_context_entry_bytes(
    path: &Path,
    name: &str,
) -> Result<Option<Vec<u8>>, KubeconfigError> {
    let doc = load(path)?;
    Ok(named(&doc, "contexts").get(name).map(|v| {
        serde_yaml_ng::to_string(v)
            .expect("a parsed YAML value serializes")
            .into_bytes()
    }))
}

/// Everything in a kubeconfig that devenv must not disturb, comparable with `==`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeconfigSnapshot {
    pub contexts: BTreeMap<String, Value>,
    pub clusters: BTreeMap<String, Value>,
    pub users: BTreeMap<String, Value>,
    pub current_context: Option<String>,
    /// Permission bits (`0o600`), `None` when the file does not exist.
    pub mode: Option<u32>,
}

/// Reads `path` into a [`KubeconfigSnapshot`].
pub fn snapshot(path: &Path) -> Result<KubeconfigSnapshot, KubeconfigError> {
    let doc = load(path)?;
    let mode = match std::fs::metadata(path) {
        Ok(m) => Some(permission_bits(&m)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(KubeconfigError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    Ok(KubeconfigSnapshot {
        contexts: named(&doc, "contexts"),
        clusters: named(&doc, "clusters"),
        users: named(&doc, "users"),
        current_context: current_of(&doc),
        mode,
    })
}

#[cfg(unix)]
fn permission_bits(m: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn permission_bits(m: &std::fs::Metadata) -> u32 {
    if m.permissions().readonly() {
        0o444
    } else {
        0o644
    }
}

impl KubeconfigSnapshot {
    /// The snapshot without one context and what belongs to it: the cluster and user it
    /// references, plus k3d's names for them (`k3d-P`, `admin@k3d-P`) so a snapshot taken
    /// after the context is gone compares equal too. `current_context` is kept: whether
    /// devenv may switch it is a separate question.
    pub fn excluding_context(&self, context: &str) -> KubeconfigSnapshot {
        let mut s = self.clone();
        let mut clusters = vec![context.to_string()];
        let mut users = vec![format!("admin@{context}")];
        if let Some(entry) = s.contexts.remove(context) {
            let field = |k: &str| {
                entry
                    .get("context")
                    .and_then(|c| c.get(k))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            clusters.extend(field("cluster"));
            users.extend(field("user"));
        }
        // Keep a cluster or user another context still uses: that one must not change.
        let used = |k: &str, name: &str| {
            s.contexts.values().any(|c| {
                c.get("context")
                    .and_then(|c| c.get(k))
                    .and_then(Value::as_str)
                    == Some(name)
            })
        };
        for c in clusters {
            if !used("cluster", &c) {
                s.clusters.remove(&c);
            }
        }
        for u in users {
            if !used("user", &u) {
                s.users.remove(&u);
            }
        }
        s
    }
}

/// The user's kubeconfig that k3d rewrites (`merge -d`, `cluster delete`; with several files
/// in `$KUBECONFIG`, the one devenv merges into with `--output`) and its mode.
pub fn user_kubeconfig_mode() -> Option<(std::path::PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let paths = default_kubeconfig_paths();
    let path = match paths.as_slice() {
        [path] => path.clone(),
        _ => merge_target(&paths)?,
    };
    let mode = std::fs::metadata(&path).ok()?.permissions().mode() & 0o7777;
    Some((path, mode))
}

/// `KUBECONFIG=FILE` for a `k3d cluster delete` when `$KUBECONFIG` lists several files:
/// k3d removes the cluster's entries from "the default kubeconfig" only when there is one
/// (pkg/client/kubeconfig.go `KubeconfigRemoveClusterFromDefaultConfig` fails on several,
/// and cluster delete then only warns), so it is pointed at the file devenv merged into.
pub fn k3d_kubeconfig_env() -> Option<(String, String)> {
    let target = merge_target(&default_kubeconfig_paths())?;
    Some(("KUBECONFIG".into(), target.display().to_string()))
}

/// k3d writes the kubeconfig to a new 0600 file (clientcmd.WriteToFile) renamed over the old
/// one, which drops the mode the user gave it (0640 for a group, say): put it back.
pub fn restore_kubeconfig_mode(saved: Option<(std::path::PathBuf, u32)>) {
    use std::os::unix::fs::PermissionsExt;
    let Some((path, mode)) = saved else { return };
    let now = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o7777);
    if now.is_ok_and(|m| m != mode) {
        if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)) {
            tracing::warn!(
                "cannot restore the mode {mode:o} of {}: {e}",
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    const CONFIG: &str = "\
apiVersion: v1
kind: Config
clusters:
- cluster:
    server: https://prod.example:6443
  name: prod
- cluster:
    server: https://127.0.0.1:6550
  name: k3d-devenv
contexts:
- context:
    cluster: prod
    user: alice
    namespace: web
  name: prod
- context:
    cluster: k3d-devenv
    user: admin@k3d-devenv
  name: k3d-devenv
current-context: prod
preferences: {}
users:
- name: alice
  user:
    token: abc
- name: admin@k3d-devenv
  user:
    client-certificate-data: Zm9v
";

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_new_context_goes_where_kubectl_writes_it() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = write(dir.path(), "b", CONFIG);
        assert_eq!(merge_target(std::slice::from_ref(&b)), None);
        // The first file that exists; none exists: the first.
        assert_eq!(merge_target(&[a.clone(), b.clone()]), Some(b.clone()));
        let c = dir.path().join("c");
        assert_eq!(merge_target(&[a.clone(), c.clone()]), Some(a.clone()));
        assert!(check_merge_target(&[a.clone(), b.clone()]).is_ok());
        let bad = write(dir.path(), "bad", "clusters: [\n");
        let msg = check_merge_target(&[b.clone(), bad.clone()])
            .unwrap_err()
            .message;
        assert!(
            msg.contains("bad") && msg.contains("not valid YAML"),
            "{msg}"
        );
        let list = write(dir.path(), "list", "- a\n- b\n");
        let msg = check_merge_target(&[list, b.clone()]).unwrap_err().message;
        assert!(msg.contains("is not a kubeconfig"), "{msg}");
    }

    #[test]
    fn paths_follow_kubeconfig_then_home() {
        let home = Path::new("/home/u");
        assert_eq!(
            paths_from(Some(OsStr::new("/a/one:/b/two::")), Some(home)),
            vec![PathBuf::from("/a/one"), PathBuf::from("/b/two")]
        );
        assert_eq!(
            paths_from(Some(OsStr::new("")), Some(home)),
            vec![PathBuf::from("/home/u/.kube/config")]
        );
        assert_eq!(
            paths_from(None, Some(home)),
            vec![PathBuf::from("/home/u/.kube/config")]
        );
        assert!(paths_from(None, None).is_empty());
    }

    #[test]
    fn reads_contexts_and_current_context() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "config", CONFIG);
        assert_eq!(current_context(&p).as_deref(), Some("prod"));
        assert_eq!(contexts(&p), vec!["prod", "k3d-devenv"]);
        let entry = String::from_utf8(context_entry_bytes(&p, "prod").unwrap()).unwrap();
        assert!(entry.contains("namespace: web"), "{entry}");
        assert!(entry.contains("name: prod"), "{entry}");
        assert_eq!(context_entry_bytes(&p, "nope"), None);
    }

    #[test]
    fn missing_and_empty_files_read_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        assert_eq!(try_current_context(&missing).unwrap(), None);
        assert!(try_contexts(&missing).unwrap().is_empty());
        let s = snapshot(&missing).unwrap();
        assert_eq!(s.mode, None);
        assert!(s.contexts.is_empty());
        let empty = write(dir.path(), "empty", "\n");
        assert_eq!(try_current_context(&empty).unwrap(), None);
        let blank_current = write(dir.path(), "blank", "current-context: \"\"\ncontexts: []\n");
        assert_eq!(try_current_context(&blank_current).unwrap(), None);
    }

    #[test]
    fn invalid_yaml_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "bad", "contexts: [\n");
        assert!(contexts(&p).is_empty());
        let e = try_contexts(&p).unwrap_err();
        assert!(e.to_string().contains("bad"), "{e}");
        assert!(matches!(e, KubeconfigError::Parse { .. }));
    }

    #[test]
    fn effective_current_context_is_the_first_set() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a", "contexts: []\n");
        let b = write(dir.path(), "b", CONFIG);
        assert_eq!(
            effective_current_context(&[a.clone(), b.clone()])
                .unwrap()
                .as_deref(),
            Some("prod")
        );
        assert_eq!(effective_current_context(&[a]).unwrap(), None);
    }

    #[test]
    fn snapshots_ignore_formatting_but_see_changes_to_other_contexts() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "config", CONFIG);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let before = snapshot(&p).unwrap();
        #[cfg(unix)]
        assert_eq!(before.mode, Some(0o600));

        // A rewrite in another layout (as clientcmd does) with the same content is equal.
        let doc: Value = serde_yaml_ng::from_str(CONFIG).unwrap();
        let reformatted = serde_json::to_string_pretty(&doc).unwrap(); // JSON is YAML
        std::fs::write(&p, reformatted).unwrap();
        assert_eq!(snapshot(&p).unwrap(), before);

        // Removing devenv's own context (as `k3d cluster delete` does) leaves the rest equal.
        let without_devenv = CONFIG
            .replace(
                "- cluster:\n    server: https://127.0.0.1:6550\n  name: k3d-devenv\n",
                "",
            )
            .replace(
                "- context:\n    cluster: k3d-devenv\n    user: admin@k3d-devenv\n  name: k3d-devenv\n",
                "",
            )
            .replace(
                "- name: admin@k3d-devenv\n  user:\n    client-certificate-data: Zm9v\n",
                "",
            );
        std::fs::write(&p, &without_devenv).unwrap();
        let after = snapshot(&p).unwrap();
        assert_ne!(after, before);
        assert_eq!(
            after.excluding_context("k3d-devenv"),
            before.excluding_context("k3d-devenv")
        );

        // Touching another context's namespace is a difference.
        std::fs::write(
            &p,
            without_devenv.replace("namespace: web", "namespace: api"),
        )
        .unwrap();
        assert_ne!(
            snapshot(&p).unwrap().excluding_context("k3d-devenv"),
            before.excluding_context("k3d-devenv")
        );
    }

    #[test]
    fn excluding_keeps_a_cluster_another_context_uses() {
        let dir = tempfile::tempdir().unwrap();
        let shared = CONFIG.replace(
            "  name: prod\n- context:",
            "  name: prod\n- context:\n    cluster: k3d-devenv\n    user: alice\n  name: other\n- context:",
        );
        let p = write(dir.path(), "config", &shared);
        let s = snapshot(&p).unwrap().excluding_context("k3d-devenv");
        assert!(s.clusters.contains_key("k3d-devenv"));
        assert!(!s.users.contains_key("admin@k3d-devenv"));
        assert!(s.contexts.contains_key("other"));
    }
}
