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

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use super::dockerignore::{
    matches_or_parent_matches, matches_single_parent, MatchInfo, PatternError, PatternMatcher,
};
use super::statcache::FileStat;

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
    pub stat: Option<FileStat>,
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
    /// A line of the ignore file Docker refuses (`docker build` fails on it too).
    #[error("{}{}: {source}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    BadIgnoreLine {
        file: PathBuf,
        line: Option<usize>,
        #[source]
        source: PatternError,
    },
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

/// The ignore file the builder reads. BuildKit reads `<Dockerfile>.dockerignore` (beside
/// the Dockerfile, its name plus `.dockerignore`) instead of the context's `.dockerignore`
/// when it exists: moby/buildkit `frontend/dockerui/config.go` (`ReadEntrypoint` loads
/// `bctx.filename + ".dockerignore"` from the Dockerfile's folder and, when found, it
/// replaces the `.dockerignore` that `dockerIgnorePatterns` would read); buildx sends the
/// Dockerfile's folder and its base name (`build/opt.go`: `dockerfileDir =
/// filepath.Dir(DockerfilePath)`, `filename = filepath.Base(...)`). The legacy builder
/// reads only `CONTEXT/.dockerignore` (docker/cli `cli/command/image/build.go`,
/// `build.ReadDockerignore(contextDir)`).
pub fn ignore_file(context: &Path, dockerfile: &Path, semantics: ContextSemantics) -> PathBuf {
    if semantics == ContextSemantics::BuildKit {
        let mut specific = dockerfile.as_os_str().to_owned();
        specific.push(".dockerignore");
        let specific = PathBuf::from(specific);
        if specific.is_file() {
            return specific;
        }
    }
    context.join(".dockerignore")
}

/// The entries Docker sends for `context` built with `dockerfile`, sorted by path bytes.
pub fn context_entries(
    context: &Path,
    dockerfile: &Path,
    semantics: ContextSemantics,
) -> Result<Vec<ContextEntry>, ContextError> {
    let file = ignore_file(context, dockerfile, semantics);
    let content = match fs::read(&file) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(ContextError::io(&file, e)),
    };
    let excludes =
        super::dockerignore::read_ignore_file(&content).map_err(|e| ContextError::io(&file, e))?;
    context_entries_with(context, dockerfile, semantics, excludes).map_err(|e| match e {
        ContextError::Pattern(source) => ContextError::BadIgnoreLine {
            line: super::dockerignore::line_of(&content, &source),
            file,
            source,
        },
        other => other,
    })
}

fn context_entries_with(
    context: &Path,
    dockerfile: &Path,
    semantics: ContextSemantics,
    excludes: Vec<String>,
) -> Result<Vec<ContextEntry>, ContextError> {
    let mut out = match semantics {
        ContextSemantics::BuildKit => {
            let pm = PatternMatcher::new(&excludes)?;
            pm.check()?;
            Walker::new(&pm, semantics).run(context)?
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
            let mut out = Walker::new(&pm, semantics).run(context)?;
            // The daemon removes what was only sent to be read.
            if context.join(".dockerignore").exists() {
                for f in [".dockerignore", rel_df.as_str()] {
                    if matches_or_parent_matches(f, &excludes).unwrap_or(false) {
                        out.retain(|e| e.path != f.as_bytes());
                    }
                }
            }
            out
        }
    };
    out.sort_by(|a, b| a.path.cmp(&b.path));
    // BuildKit's lazily sent parents may come from several sibling directories.
    out.dedup_by(|a, b| a.path == b.path);
    Ok(out)
}

/// The entries of a directory. Go's walk reads them sorted, but each entry's verdict
/// depends only on its own path and its parent's results, so the order is irrelevant
/// here (the final list is sorted once).
fn read_dir_entries(abs: &Path) -> Result<Vec<fs::DirEntry>, ContextError> {
    fs::read_dir(abs)
        .map_err(|e| ContextError::io(abs, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ContextError::io(abs, e))
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
    let stat = if kind == EntryKind::Dir {
        None
    } else {
        let m = e
            .metadata()
            .map_err(|err| ContextError::io(&e.path(), err))?;
        Some(FileStat::from_metadata(&m))
    };
    Ok(ContextEntry { path, kind, stat })
}

/// One directory to read, with what its parent's matching left for it.
struct DirTask {
    abs: PathBuf,
    rel: Vec<u8>,
    info: MatchInfo,
    /// BuildKit: excluded ancestors, sent only once something below them is.
    pending: Vec<Vec<u8>>,
}

/// The walk of both builders, one directory per task on all cores (the `lstat` of
/// every file dominates an unchanged context's fingerprint). The per-directory rules
/// are the Go code's; only the order of the output differs, and it is sorted after.
struct Walker<'a> {
    pm: &'a PatternMatcher,
    semantics: ContextSemantics,
    /// BuildKit: every exception is a plain prefix, so excluded directories that no
    /// exception starts in can be skipped.
    only_prefix_exceptions: bool,
    /// The exception patterns as the skip rule compares them, plus `/` (BuildKit strips
    /// a trailing `/**` or `/*` first).
    exception_prefixes: Vec<String>,
}

impl<'a> Walker<'a> {
    fn new(pm: &'a PatternMatcher, semantics: ContextSemantics) -> Self {
        let exception_prefixes: Vec<String> = pm
            .patterns()
            .iter()
            .filter(|p| p.is_exclusion())
            .map(|p| {
                let s = p.as_str();
                if semantics == ContextSemantics::Classic {
                    return s.to_string();
                }
                let s = s.strip_suffix("/**").unwrap_or(s);
                let s = s.strip_suffix("/*").unwrap_or(s);
                s.to_string()
            })
            .collect();
        let only_prefix_exceptions = exception_prefixes
            .iter()
            .all(|p| !p.contains(['*', '[', ']', '?', '^', '\\']));
        // Compared as `pattern + "/"`.
        let exception_prefixes = exception_prefixes.into_iter().map(|p| p + "/").collect();
        Walker {
            pm,
            semantics,
            only_prefix_exceptions,
            exception_prefixes,
        }
    }

    /// Some exception pattern starts inside `dir` (Go: `HasPrefix(pat+"/", dir+"/")`).
    fn exception_inside(&self, dir: &[u8]) -> bool {
        self.exception_prefixes.iter().any(|p| {
            let p = p.as_bytes();
            p.len() > dir.len() && p.starts_with(dir) && p[dir.len()] == b'/'
        })
    }

    fn run(&self, context: &Path) -> Result<Vec<ContextEntry>, ContextError> {
        let root = DirTask {
            abs: context.to_path_buf(),
            rel: Vec::new(),
            info: MatchInfo::default(),
            pending: Vec::new(),
        };
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 8);
        // (tasks to do, tasks in progress)
        let state = Mutex::new((vec![root], 0usize));
        let wake = Condvar::new();
        let failed: Mutex<Option<ContextError>> = Mutex::new(None);
        let results = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    let mut out = Vec::new();
                    let mut spawned = Vec::new();
                    loop {
                        let task = {
                            let mut st = state.lock().expect("no panics");
                            loop {
                                if let Some(t) = st.0.pop() {
                                    st.1 += 1;
                                    break Some(t);
                                }
                                if st.1 == 0 {
                                    break None;
                                }
                                st = wake.wait(st).expect("no panics");
                            }
                        };
                        let Some(task) = task else { break };
                        if let Err(e) = self.visit(task, &mut out, &mut spawned) {
                            failed.lock().expect("no panics").get_or_insert(e);
                            spawned.clear();
                        }
                        let stop = failed.lock().expect("no panics").is_some();
                        let mut st = state.lock().expect("no panics");
                        if stop {
                            st.0.clear();
                        } else {
                            st.0.append(&mut spawned);
                        }
                        st.1 -= 1;
                        wake.notify_all();
                    }
                    results.lock().expect("no panics").append(&mut out);
                });
            }
        });
        if let Some(e) = failed.into_inner().expect("no panics") {
            return Err(e);
        }
        Ok(results.into_inner().expect("no panics"))
    }

    fn visit(
        &self,
        task: DirTask,
        out: &mut Vec<ContextEntry>,
        spawn: &mut Vec<DirTask>,
    ) -> Result<(), ContextError> {
        let mut pending = task.pending;
        for e in read_dir_entries(&task.abs)? {
            let name = e.file_name();
            let path = join_rel(&task.rel, name.as_bytes());
            let ft = e
                .file_type()
                .map_err(|err| ContextError::io(&e.path(), err))?;
            let is_dir = ft.is_dir();
            let (excluded, info) = self.pm.matches_using_parent_results(&path, &task.info)?;
            let child = |info: MatchInfo, pending: Vec<Vec<u8>>| DirTask {
                abs: e.path(),
                rel: path.clone(),
                info,
                pending,
            };
            match self.semantics {
                // go-archive TarWithOptions
                ContextSemantics::Classic => {
                    if excluded {
                        if is_dir && self.pm.has_exclusions() && self.exception_inside(&path) {
                            spawn.push(child(info, Vec::new()));
                        }
                        continue;
                    }
                    if is_dir {
                        spawn.push(child(info, Vec::new()));
                    }
                }
                // fsutil filterFS.Walk
                ContextSemantics::BuildKit => {
                    if excluded
                        && is_dir
                        && self.only_prefix_exceptions
                        && (!self.pm.has_exclusions() || !self.exception_inside(&path))
                    {
                        continue;
                    }
                    if excluded {
                        if is_dir {
                            let mut p = pending.clone();
                            p.push(path.clone());
                            spawn.push(child(info, p));
                        }
                        continue;
                    }
                    for dir in pending.drain(..) {
                        out.push(ContextEntry {
                            path: dir,
                            kind: EntryKind::Dir,
                            stat: None,
                        });
                    }
                    if is_dir {
                        spawn.push(child(info, Vec::new()));
                    }
                }
            }
            out.push(make_entry(&e, path, ft)?);
        }
        Ok(())
    }
}
