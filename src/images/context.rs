//! Which files of a build context Docker sends, and so which files an image can see.
//!
//! Two walkers, because Docker has two and they differ on purpose in one place (when an
//! excluded directory may be skipped without looking inside):
//! - [`ContextSemantics::Classic`]: the docker CLI's legacy builder (what `docker build`
//!   runs when buildx is missing, as on this project's CI). Ported from
//!   `cli/command/image/build.go` (`ReadDockerignore`, `TrimBuildFilesFromExcludes`,
//!   which force-includes `.dockerignore` and the Dockerfile with extra `!` patterns),
//!   `github.com/moby/go-archive` `TarWithOptions` (the walk: an excluded directory is
//!   entered only if some `!` pattern's text starts with `dir/`), and the daemon's
//!   `builder/remotecontext` `removeDockerfile` (which deletes `.dockerignore` and the
//!   Dockerfile again if the original patterns exclude them).
//! - [`ContextSemantics::BuildKit`]: BuildKit's context transfer,
//!   `github.com/tonistiigi/fsutil` `filterFS.Walk`: an excluded directory is skipped
//!   only if every `!` pattern is a plain prefix (no `*?[]^\` before a trailing `/*` or
//!   `/**`); otherwise it is entered, and it is sent only if something inside is.
//!
//! BuildKit sends a superset of what the classic builder sends, so it is the safe choice
//! for a fingerprint when the builder is not known: an extra file can cause a needless
//! rebuild, never a stale image.

use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::dockerignore::{
    matches_or_parent_matches, matches_single_parent, read_dockerignore, MatchInfo, PatternError,
    PatternMatcher,
};

/// Which builder's rules decide the set of files sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContextSemantics {
    /// The docker CLI's legacy builder (`DOCKER_BUILDKIT=0`, or no buildx plugin).
    Classic,
    /// BuildKit / buildx (the default of current Docker).
    #[default]
    BuildKit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntryKind {
    Dir,
    File,
    Symlink,
    /// FIFO, socket, device: sent as a bare header (or skipped) by Docker.
    Other,
}

/// One path Docker sends. `path` is relative to the context, `/`-separated, raw bytes
/// (Unix file names need not be UTF-8).
#[derive(Debug)]
pub struct ContextEntry {
    pub path: Vec<u8>,
    pub kind: EntryKind,
    /// `lstat` data; `None` for directories (not needed, and saves a syscall each).
    pub metadata: Option<Metadata>,
}

impl ContextEntry {
    pub fn path_lossy(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("cannot read the build context {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Pattern(#[from] PatternError),
}

impl ContextError {
    fn io(path: &Path, source: io::Error) -> ContextError {
        ContextError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The Dockerfile's path relative to the context, `/`-separated, as the docker CLI
/// computes it (both sides with symlinks resolved). Starts with `../` when outside.
pub fn relative_dockerfile(context: &Path, dockerfile: &Path) -> io::Result<String> {
    let ctx = fs::canonicalize(context)?;
    let df = fs::canonicalize(dockerfile)?;
    Ok(match df.strip_prefix(&ctx) {
        Ok(rel) => rel.to_string_lossy().into_owned(),
        Err(_) => {
            // `filepath.Rel`: climb from the context to the common ancestor.
            let ctx_parts: Vec<_> = ctx.components().collect();
            let df_parts: Vec<_> = df.components().collect();
            let common = ctx_parts
                .iter()
                .zip(&df_parts)
                .take_while(|(a, b)| a == b)
                .count();
            let mut parts: Vec<String> = vec!["..".into(); ctx_parts.len() - common];
            parts.extend(
                df_parts[common..]
                    .iter()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned()),
            );
            parts.join("/")
        }
    })
}

/// The entries Docker sends for `context` built with `dockerfile`, sorted by path bytes.
pub fn context_entries(
    context: &Path,
    dockerfile: &Path,
    semantics: ContextSemantics,
) -> Result<Vec<ContextEntry>, ContextError> {
    let excludes = read_dockerignore(context).map_err(|e| ContextError::io(context, e))?;
    let mut out = Vec::new();
    match semantics {
        ContextSemantics::BuildKit => {
            let pm = PatternMatcher::new(&excludes)?;
            pm.check()?;
            let walker = BuildKitWalker::new(&pm);
            let mut ancestors = Vec::new();
            walker.visit(
                context,
                &[],
                &MatchInfo::default(),
                &mut ancestors,
                &mut out,
            )?;
        }
        ContextSemantics::Classic => {
            let rel_df = relative_dockerfile(context, dockerfile)
                .map_err(|e| ContextError::io(dockerfile, e))?;
            let mut trimmed = excludes.clone();
            if matches_single_parent(".dockerignore", &trimmed).unwrap_or(false) {
                trimmed.push("!.dockerignore".into());
            }
            if matches_single_parent(&rel_df, &trimmed).unwrap_or(false) {
                trimmed.push(format!("!{rel_df}"));
            }
            let pm = PatternMatcher::new(&trimmed)?;
            // The CLI first checks every path with the original patterns
            // (ValidateContextDirectory), so a pattern Go cannot compile fails the build.
            PatternMatcher::new(&excludes)?.check()?;
            classic_visit(&pm, context, &[], &MatchInfo::default(), &mut out)?;
            // The daemon removes what was only sent to be read.
            if context.join(".dockerignore").exists() {
                for f in [".dockerignore", rel_df.as_str()] {
                    if matches_or_parent_matches(f, &excludes).unwrap_or(false) {
                        out.retain(|e| e.path != f.as_bytes());
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Reads a directory in Go's `WalkDir` order (names sorted bytewise).
fn sorted_dir(abs: &Path) -> Result<Vec<fs::DirEntry>, ContextError> {
    let mut entries = fs::read_dir(abs)
        .map_err(|e| ContextError::io(abs, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ContextError::io(abs, e))?;
    entries.sort_by(|a, b| a.file_name().as_bytes().cmp(b.file_name().as_bytes()));
    Ok(entries)
}

fn join_rel(rel: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rel.len() + 1 + name.len());
    if !rel.is_empty() {
        out.extend_from_slice(rel);
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

fn make_entry(
    e: &fs::DirEntry,
    path: Vec<u8>,
    ft: fs::FileType,
) -> Result<ContextEntry, ContextError> {
    let kind = if ft.is_dir() {
        EntryKind::Dir
    } else if ft.is_file() {
        EntryKind::File
    } else if ft.is_symlink() {
        EntryKind::Symlink
    } else {
        EntryKind::Other
    };
    let metadata = if kind == EntryKind::Dir {
        None
    } else {
        Some(
            e.metadata()
                .map_err(|err| ContextError::io(&e.path(), err))?,
        )
    };
    Ok(ContextEntry {
        path,
        kind,
        metadata,
    })
}

fn classic_visit(
    pm: &PatternMatcher,
    abs: &Path,
    rel: &[u8],
    parent: &MatchInfo,
    out: &mut Vec<ContextEntry>,
) -> Result<(), ContextError> {
    for e in sorted_dir(abs)? {
        let name = e.file_name();
        let path = join_rel(rel, name.as_bytes());
        let ft = e
            .file_type()
            .map_err(|err| ContextError::io(&e.path(), err))?;
        let (skip, info) = pm.matches_using_parent_results(&path, parent)?;
        if skip {
            if !ft.is_dir() || !pm.has_exclusions() {
                continue;
            }
            let mut dir_slash = path.clone();
            dir_slash.push(b'/');
            let reincluded = pm.patterns().iter().any(|p| {
                p.is_exclusion()
                    && format!("{}/", p.as_str())
                        .as_bytes()
                        .starts_with(&dir_slash)
            });
            if reincluded {
                classic_visit(pm, &e.path(), &path, &info, out)?;
            }
            continue;
        }
        let is_dir = ft.is_dir();
        out.push(make_entry(&e, path.clone(), ft)?);
        if is_dir {
            classic_visit(pm, &e.path(), &path, &info, out)?;
        }
    }
    Ok(())
}

struct BuildKitWalker<'a> {
    pm: &'a PatternMatcher,
    only_prefix_exceptions: bool,
    exception_prefixes: Vec<String>,
}

/// A directory on the current path: sent lazily, once something inside it is sent.
struct Ancestor {
    entry: Option<ContextEntry>,
}

impl<'a> BuildKitWalker<'a> {
    fn new(pm: &'a PatternMatcher) -> Self {
        let exception_prefixes: Vec<String> = pm
            .patterns()
            .iter()
            .filter(|p| p.is_exclusion())
            .map(|p| {
                let s = p.as_str();
                let s = s.strip_suffix("/**").unwrap_or(s);
                let s = s.strip_suffix("/*").unwrap_or(s);
                s.to_string()
            })
            .collect();
        let only_prefix_exceptions = exception_prefixes
            .iter()
            .all(|p| !p.contains(['*', '[', ']', '?', '^', '\\']));
        BuildKitWalker {
            pm,
            only_prefix_exceptions,
            exception_prefixes,
        }
    }

    fn visit(
        &self,
        abs: &Path,
        rel: &[u8],
        parent: &MatchInfo,
        ancestors: &mut Vec<Ancestor>,
        out: &mut Vec<ContextEntry>,
    ) -> Result<(), ContextError> {
        for e in sorted_dir(abs)? {
            let name = e.file_name();
            let path = join_rel(rel, name.as_bytes());
            let ft = e
                .file_type()
                .map_err(|err| ContextError::io(&e.path(), err))?;
            let is_dir = ft.is_dir();
            let (excluded, info) = self.pm.matches_using_parent_results(&path, parent)?;
            if excluded && is_dir && self.only_prefix_exceptions {
                if !self.pm.has_exclusions() {
                    continue;
                }
                let mut dir_slash = path.clone();
                dir_slash.push(b'/');
                let reincluded = self
                    .exception_prefixes
                    .iter()
                    .any(|p| format!("{p}/").as_bytes().starts_with(&dir_slash));
                if !reincluded {
                    continue;
                }
            }
            let entry = make_entry(&e, path.clone(), ft)?;
            if !excluded {
                // Parents that were excluded themselves are sent now, before the child.
                for a in ancestors.iter_mut() {
                    if let Some(dir) = a.entry.take() {
                        out.push(dir);
                    }
                }
            }
            if is_dir {
                let pending = if excluded {
                    Some(entry)
                } else {
                    out.push(entry);
                    None
                };
                ancestors.push(Ancestor { entry: pending });
                let res = self.visit(&e.path(), &path, &info, ancestors, out);
                ancestors.pop();
                res?;
            } else if !excluded {
                out.push(entry);
            }
        }
        Ok(())
    }
}
