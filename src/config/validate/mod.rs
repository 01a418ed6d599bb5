//! Checks on values and cross-references, run after the types are known.
//! Every problem is collected (not just the first), each with its key and a fix.
//!
//! One file per table of devenv.toml (`cluster.rs`, `registry.rs`, …); `ports.rs` checks the
//! host ports that several tables take, `fence.rs` the paths outside the repository, and
//! `names.rs` holds the pure checks of names and references that other modules use too.
//! A new key's check goes in its table's file; [`validate`] gives the order of the checks
//! (the order of errors on one line).

mod build;
mod calico;
mod charts;
mod cluster;
mod fence;
mod images;
mod names;
mod overlays;
mod ports;
mod registry;
mod units;

use std::path::{Path, PathBuf};

use super::diagnostic::ConfigError;
use super::load::{join_key, Loaded};
use super::paths::PathFence;

pub use fence::{outside_repository, path_fence};
pub use names::{
    check_dns_label, check_exact_version, check_node_filter, check_repository, glob_match,
    image_tag, strip_tag_and_digest, ChartVersionError, NameError, NodeFilterError,
};
pub use ports::{parse_port_mapping, PortMapping, PortMappingError};
pub use units::WaitTargetError;

/// k3d refuses cluster names longer than 32 characters.
const MAX_PROJECT_NAME: usize = 32;

/// The errors found so far, and what every check needs: the loaded config and the fence.
struct Errors<'a> {
    loaded: &'a Loaded,
    fence: PathFence,
    out: Vec<ConfigError>,
}

/// The errors of [`Errors::repository_folder`]: (message, help) for a file and for a
/// missing folder, and what names the folder when it is outside the repository.
struct FolderWords {
    is_file: (String, String),
    missing: (String, &'static str),
    fenced: String,
}

impl Errors<'_> {
    fn push(
        &mut self,
        key: impl Into<String>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        let key = key.into();
        let e = self.loaded.error_at(&key, message, Some(help.into()));
        self.out.push(e);
    }

    /// A key naming a folder of the repository (`rel`, relative to devenv.toml's folder):
    /// a file, a missing folder or one outside the repository is an error in the words
    /// given. Returns the folder when it is none of these.
    fn repository_folder(&mut self, key: &str, rel: &str, words: FolderWords) -> Option<PathBuf> {
        let dir = self.loaded.resolve(rel);
        if dir.is_file() {
            self.push(key, words.is_file.0, words.is_file.1);
        } else if !dir.is_dir() {
            self.push(key, words.missing.0, words.missing.1);
        } else if self.fence.check(&dir).is_err() {
            self.fenced(key, &words.fenced, Path::new(rel));
        } else {
            return Some(dir);
        }
        None
    }

    /// A path devenv builds or applies (`rel`, relative to devenv.toml's folder) that is
    /// outside the repository and not allowed; `what` names it.
    fn fenced(&mut self, key: &str, what: &str, rel: &Path) {
        if let Some(e) = outside_repository(self.loaded, &self.fence, key, what, rel) {
            self.out.push(e);
        }
    }
}

pub fn validate(loaded: &Loaded) -> Vec<ConfigError> {
    // Paths outside the repository holding devenv.toml: only those devenv.toml allows.
    let (fence, fence_errors) = path_fence(loaded);
    let mut errs = Errors {
        loaded,
        fence,
        out: Vec::new(),
    };
    project(&mut errs);
    errs.out.extend(fence_errors);
    cluster::check(&mut errs);
    registry::check(&mut errs);
    calico::check(&mut errs);
    images::check(&mut errs);
    units::check(&mut errs);
    overlays::check(&mut errs);
    charts::check(&mut errs);
    namespaces(&mut errs);
    timeouts(&mut errs);
    build::ci_cache(&mut errs);
    // [tools]: each spec a version or a range (src/tools.rs).
    errs.out.extend(super::tools::validate(loaded));
    build::programs(&mut errs);
    errs.out
}

fn project(errs: &mut Errors<'_>) {
    if let Some(name) = &errs.loaded.config.project.name {
        if let Err(why) = check_dns_label(name, MAX_PROJECT_NAME) {
            errs.push(
                "project.name",
                format!("project name {name:?} is not valid: {why}"),
                format!(
                    "use lowercase letters, digits and '-', starting with a letter, at most {MAX_PROJECT_NAME} characters (it names the k3d cluster), e.g. \"{}\"",
                    super::load::folder_project_name(Path::new(&name.to_lowercase()))
                ),
            );
        }
    }
}

fn namespaces(errs: &mut Errors<'_>) {
    for name in errs.loaded.config.namespaces.keys() {
        if let Err(why) = check_dns_label(name, 63) {
            errs.push(
                join_key("namespaces", name),
                format!("namespace name {name:?} is not valid: {why}"),
                "use lowercase letters, digits and '-', starting with a letter",
            );
        }
    }
}

/// Every timeout not checked with its table: zero would fail at once, which is never what
/// was meant.
fn timeouts(errs: &mut Errors<'_>) {
    let c = &errs.loaded.config;
    for (key, t) in [
        ("cluster.timeout", c.cluster.timeout),
        ("calico.timeout", c.calico.timeout),
        ("build.timeout", c.build.timeout),
        ("verify.timeout", c.verify.timeout),
    ] {
        if t.0.is_zero() {
            errs.push(key, format!("{key} is zero"), "give it time, e.g. \"5m\"");
        }
    }
}

/// The folder holding a written path (`ctx/api/Dockerfile` → `ctx/api`), for hints.
fn parent_of(written: &str) -> String {
    match Path::new(written.trim_end_matches('/')).parent() {
        Some(p) if !p.as_os_str().is_empty() => p.display().to_string(),
        _ => ".".to_string(),
    }
}

#[cfg(test)]
mod tests;
