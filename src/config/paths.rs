//! Which folders a devenv.toml may send to `docker build` or apply to a cluster.
//!
//! A devenv.toml comes with the repository that holds it, and a cloned repository must not be
//! able to build the user's home folder into an image pushed to a registry it names. So an
//! image context, a Dockerfile, an overlay (and any path devenv reads to build or apply) must
//! be inside the repository that holds devenv.toml: its git root (the nearest folder above
//! devenv.toml with a `.git` folder or file: no git program is needed), or devenv.toml's own
//! folder when it is in no git repository. Elsewhere in the same repository is fine
//! (monorepos: `../infra/overlays/dev`). Outside it, a path is allowed only when
//! `[project] allow_paths_outside` lists it (or a folder holding it). Symlinks are resolved
//! before checking, so a link inside the repository to `~` does not get through.
//!
//! Validation uses it through `validate::path_fence` and `validate::outside_repository`;
//! a new kind of path devenv reads to build or apply (a Helm chart) goes through the same.

use std::path::{Path, PathBuf};

/// The repository boundary of a project and the folders outside it devenv.toml allows.
#[derive(Debug, Clone)]
pub struct PathFence {
    /// The git root holding devenv.toml, or devenv.toml's folder (symlinks resolved).
    pub boundary: PathBuf,
    /// Whether `boundary` is a git root (else: devenv.toml's folder, no git around).
    pub git: bool,
    /// `[project] allow_paths_outside`, resolved against devenv.toml's folder.
    allowed: Vec<PathBuf>,
    /// devenv.toml's folder (symlinks resolved).
    root: PathBuf,
}

/// Why a path may not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outside {
    /// The path with symlinks resolved.
    pub resolved: PathBuf,
}

impl PathFence {
    /// The fence of a project whose devenv.toml lives in `root`. `allowed` are the entries of
    /// `allow_paths_outside` that resolved to existing folders.
    pub fn new(root: &Path, allowed: Vec<PathBuf>) -> PathFence {
        let root = canonical(root);
        let (boundary, git) = match git_root(&root) {
            Some(g) => (g, true),
            None => (root.clone(), false),
        };
        PathFence {
            boundary,
            git,
            allowed,
            root,
        }
    }

    /// `Ok` when `path` (existing; symlinks resolved) is inside the boundary or an allowed
    /// folder. A path that does not exist is `Ok` here: another check reports it.
    /// Whether `path` exists and, symlinks resolved, lies inside the repository itself.
    pub fn inside_repository(&self, path: &Path) -> bool {
        std::fs::canonicalize(path).is_ok_and(|r| r.starts_with(&self.boundary))
    }

    pub fn check(&self, path: &Path) -> Result<(), Outside> {
        let Ok(resolved) = std::fs::canonicalize(path) else {
            return Ok(());
        };
        if resolved.starts_with(&self.boundary)
            || self.allowed.iter().any(|a| resolved.starts_with(a))
        {
            Ok(())
        } else {
            Err(Outside { resolved })
        }
    }

    /// Whether `written` (relative to devenv.toml's folder), read without resolving symlinks
    /// (only `.` and `..`), is inside the boundary: a path inside this way but outside once
    /// resolved goes out through a symlink.
    pub fn lexically_inside(&self, written: &Path) -> bool {
        let mut out = self.root.clone();
        for c in written.components() {
            match c {
                std::path::Component::ParentDir => {
                    out.pop();
                }
                std::path::Component::CurDir => {}
                other => out.push(other),
            }
        }
        out.starts_with(&self.boundary)
    }

    /// What the boundary is, for messages: "the git repository /x" or "the folder /x".
    pub fn describe(&self) -> String {
        if self.git {
            format!(
                "the git repository holding devenv.toml, {}",
                self.boundary.display()
            )
        } else {
            format!(
                "devenv.toml's folder {} (it is in no git repository)",
                self.boundary.display()
            )
        }
    }

    /// Whether an `allow_paths_outside` folder would open too much: the filesystem root, the
    /// home folder, or a folder holding the whole repository.
    pub fn too_broad(&self, allowed: &Path) -> Option<&'static str> {
        if allowed.parent().is_none() {
            return Some("it is the filesystem root");
        }
        if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            if canonical(Path::new(&home)) == allowed {
                return Some("it is your home folder");
            }
        }
        if self.boundary.starts_with(allowed) {
            return Some("it holds the whole repository (and everything beside it)");
        }
        None
    }
}

/// The nearest folder at or above `dir` holding `.git` (a folder, or a file for worktrees and
/// submodules).
pub fn git_root(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| d.join(".git").symlink_metadata().is_ok())
        .map(Path::to_path_buf)
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_the_git_root_is_allowed_and_outside_is_not() {
        let t = tempfile::tempdir().unwrap();
        let repo = t.path().join("repo");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        std::fs::create_dir_all(repo.join("svc/devenv")).unwrap();
        std::fs::create_dir_all(repo.join("infra/dev")).unwrap();
        std::fs::create_dir_all(t.path().join("home")).unwrap();
        let fence = PathFence::new(&repo.join("svc/devenv"), Vec::new());
        assert!(fence.git);
        assert!(fence
            .check(&repo.join("svc/devenv/../../infra/dev"))
            .is_ok());
        assert!(fence.check(&repo.join("../home")).is_err());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(t.path().join("home"), repo.join("link")).unwrap();
            assert!(fence.check(&repo.join("link")).is_err());
        }
        let allowed = PathFence::new(&repo, vec![canonical(&t.path().join("home"))]);
        assert!(allowed.check(&repo.join("../home")).is_ok());
    }

    #[test]
    fn without_git_the_folder_of_devenv_toml_is_the_boundary() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("p/a")).unwrap();
        std::fs::create_dir_all(t.path().join("q")).unwrap();
        let fence = PathFence::new(&t.path().join("p"), Vec::new());
        if fence.git {
            return; // the temp folder sits in a git repository on this machine
        }
        assert!(fence.check(&t.path().join("p/a")).is_ok());
        assert!(fence.check(&t.path().join("q")).is_err());
        assert!(fence.too_broad(&canonical(t.path())).is_some());
    }
}
