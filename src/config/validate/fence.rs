//! The repository fence: paths devenv builds or applies must lie inside the repository
//! holding devenv.toml, or in a folder `[project] allow_paths_outside` opens.

use std::path::Path;

use crate::config::diagnostic::ConfigError;
use crate::config::load::Loaded;
use crate::config::paths::PathFence;

/// The repository boundary of a project with the folders `[project] allow_paths_outside`
/// opens, and the errors of those entries (missing, a file, too broad).
pub fn path_fence(loaded: &Loaded) -> (PathFence, Vec<ConfigError>) {
    let mut errors = Vec::new();
    let mut allowed = Vec::new();
    let unfenced = PathFence::new(&loaded.root, Vec::new());
    let mut push = |key: &str, message: String, help: &str| {
        errors.push(loaded.error_at(key, message, Some(help.to_string())));
    };
    for (i, a) in loaded.config.project.allow_paths_outside.iter().enumerate() {
        let key = format!("project.allow_paths_outside[{i}]");
        match std::fs::canonicalize(loaded.resolve(a)) {
            Ok(r) if r.is_dir() => match unfenced.too_broad(&r) {
                Some(why) => push(
                    &key,
                    format!("allow_paths_outside entry {a:?} is too broad: {why}"),
                    "list only the folders devenv needs outside the repository, e.g. \"../shared-infra\"",
                ),
                None => allowed.push(r),
            },
            Ok(_) => push(
                &key,
                format!("allow_paths_outside entry {a:?} is a file, not a folder"),
                "list folders (relative to devenv.toml), e.g. \"../shared-infra\"",
            ),
            Err(_) => push(
                &key,
                format!("allow_paths_outside entry {a:?} does not exist"),
                "list existing folders, relative to devenv.toml, e.g. \"../shared-infra\"",
            ),
        }
    }
    (PathFence::new(&loaded.root, allowed), errors)
}

/// The error for a path devenv would build or apply (`rel`: relative to devenv.toml's folder,
/// as written) that lies outside the repository and is not allowed; `None` when it is fine
/// or does not exist (another check says so). `what` names it: `build context "x" of image
/// "api"`. Use it for every path devenv reads to build or apply (charts too).
pub fn outside_repository(
    loaded: &Loaded,
    fence: &PathFence,
    key: &str,
    what: &str,
    rel: &Path,
) -> Option<ConfigError> {
    let out = fence.check(&loaded.root.join(rel)).err()?;
    let allow = match rel.parent() {
        Some(p) if loaded.root.join(rel).is_file() && !p.as_os_str().is_empty() => p,
        _ => rel,
    };
    let resolved = if fence.lexically_inside(rel) {
        format!("through a symlink it is {}", out.resolved.display())
    } else {
        format!("it is {}", out.resolved.display())
    };
    Some(loaded.error_at(
        key,
        format!("{what} is outside {}; {resolved}", fence.describe()),
        Some(format!(
            "devenv only builds and applies files of the repository holding devenv.toml, so a cloned repository cannot send your files (your home folder) to a registry or a cluster; move it into the repository, or, if this folder is meant, allow it explicitly:\n[project] allow_paths_outside = [{:?}]",
            allow.display().to_string().trim_end_matches('/')
        )),
    ))
}
