//! What devenv remembers between runs, and the lock that keeps two runs apart.
//!
//! * [`write_atomic`]: every file devenv writes goes through it, so a crash or Ctrl-C
//!   never leaves a half-written kubeconfig, config or journal behind.
//! * [`Journal`] (`.devenv/state.json`): per step the fingerprint of its inputs and how
//!   its last attempt ended (so `up` skips what is done and resumes where it stopped),
//!   what devenv itself created (so `down` deletes only that), and the last run.
//!   It is a cache of facts devenv can re-check: deleting it is always safe.
//! * [`ProjectLock`] (`.devenv/lock`): one devenv at a time per project.
//!
//! All paths here take the state directory (the project's `.devenv/`), not the project
//! root.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

/// File name of the journal inside the state directory.
pub const JOURNAL_FILE: &str = "state.json";
/// File name of the project lock inside the state directory.
pub const LOCK_FILE: &str = "lock";
/// Version of the journal format this devenv writes.
pub const JOURNAL_VERSION: u32 = 1;
/// How long [`ProjectLock::acquire`] waits with `wait = true`.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(30 * 60);

// ---------------------------------------------------------------------------------------
// Atomic writes

/// Writes `bytes` to `path` so that readers see either the old or the new content, never
/// a mix: a temp file in the same directory is written, fsynced and renamed over `path`,
/// then the directory is fsynced. An existing file keeps its permission bits (a user's
/// 0600 kubeconfig stays 0600); a new file gets the usual 0666 minus umask. When `path`
/// is a symlink, the file it points to is replaced and the link is kept.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_impl(path, bytes, 0o666, true, |_| {})
}

/// Like [`write_atomic`], but a file that does not exist yet is created with `mode_if_new`
/// (e.g. `0o600` for a kubeconfig, which holds credentials).
pub fn write_atomic_with_mode(path: &Path, bytes: &[u8], mode_if_new: u32) -> io::Result<()> {
    write_atomic_impl(path, bytes, mode_if_new, true, |_| {})
}

fn write_atomic_impl(
    path: &Path,
    bytes: &[u8],
    mode_if_new: u32,
    sync_dir: bool,
    before_rename: impl FnOnce(&Path),
) -> io::Result<()> {
    let target = resolve_symlink(path)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?
        .to_string_lossy()
        .into_owned();
    let existing_mode = match fs::metadata(&target) {
        Ok(m) => Some(m.permissions().mode() & 0o7777),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };

    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        // Creation mode is filtered by the umask, like any new file.
        .permissions(fs::Permissions::from_mode(mode_if_new))
        .tempfile_in(&dir)?;
    tmp.write_all(bytes)?;
    if let Some(mode) = existing_mode {
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(mode))?;
    }
    tmp.as_file().sync_all()?;
    before_rename(tmp.path());
    tmp.persist(&target).map_err(|e| e.error)?;
    // The rename itself is durable only once the directory entry is on disk.
    if sync_dir {
        File::open(&dir)?.sync_all()?;
    }
    Ok(())
}

/// Follows symlinks (a chain of them) to the path that is really written.
fn resolve_symlink(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = fs::read_link(&p)?;
                p = match p.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(io::Error::other(format!(
        "too many levels of symbolic links at {}",
        path.display()
    )))
}

// ---------------------------------------------------------------------------------------
// The state directory and this checkout's ownership id

/// File name of this checkout's ownership id inside the state directory.
pub const CHECKOUT_ID_FILE: &str = "checkout-id";

/// Creates the state directory (`.devenv/`) if needed, with a `.gitignore` of `*` written
/// on first use: the directory holds an admin kubeconfig and logs, none of which belongs
/// in a commit. An existing `.gitignore` is left as the user made it.
pub fn ensure_state_dir(state_dir: &Path) -> io::Result<()> {
    refuse_links_in_state_dir(state_dir)?;
    // Private (0700): besides the admin kubeconfig it holds rendered overlays and their
    // logs, which carry the data of every Secret a kustomize secretGenerator made (from
    // `.env` files the user keeps at 0600). A folder widened since (or made by someone
    // else's script) is narrowed again.
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state_dir)?;
    if let Ok(m) = fs::metadata(state_dir) {
        if m.permissions().mode() & 0o077 != 0 {
            let _ = fs::set_permissions(state_dir, fs::Permissions::from_mode(0o700));
        }
    }
    let ignore = state_dir.join(".gitignore");
    match OpenOptions::new().write(true).create_new(true).open(&ignore) {
        Ok(mut f) => f.write_all(
            b"# Written by devenv: everything here is local (an admin kubeconfig, logs, state).\n*\n",
        ),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Refuses a `.devenv/` that is, or holds, a symbolic link devenv did not make (it makes
/// only `logs/latest`). devenv writes the admin kubeconfig, the k3d config and its journal
/// there, and writes through links ([`write_atomic`], k3d's `--output`): a cloned
/// repository that commits `.devenv/k3d-config.yaml -> ~/.bashrc` (a `.gitignore` does not
/// stop `git add -f`) would have devenv overwrite the user's file, or copy the cluster's
/// credentials wherever the link points.
pub fn refuse_links_in_state_dir(state_dir: &Path) -> io::Result<()> {
    let refuse = |p: &Path| -> io::Error {
        let target = fs::read_link(p)
            .map(|t| format!(" (to {})", t.display()))
            .unwrap_or_default();
        io::Error::other(format!(
            "{} is a symbolic link{target}: devenv keeps its own files (an admin kubeconfig, its journal, the k3d config) in .devenv/ and does not write through links that it did not make; remove the link (devenv recreates what it needs)",
            p.display()
        ))
    };
    match fs::symlink_metadata(state_dir) {
        Ok(m) if m.file_type().is_symlink() => return Err(refuse(state_dir)),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    let logs = state_dir.join("logs");
    let mut stack = vec![state_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(t) = e.file_type() else { continue };
            if t.is_symlink() {
                // `logs/latest` (and its temp name while it is replaced) is devenv's own.
                let name = e.file_name();
                let name = name.to_string_lossy();
                if dir == logs && (name == "latest" || name.starts_with(".latest.")) {
                    continue;
                }
                return Err(refuse(&p));
            }
            if t.is_dir() {
                stack.push(p);
            }
        }
    }
    Ok(())
}

/// This checkout's ownership id, or `None` when it has none yet (see [`checkout_id`]), or
/// when the file was made for another folder (a copied or moved checkout).
pub fn read_checkout_id(state_dir: &Path) -> Option<String> {
    match read_checkout_file(state_dir)? {
        (id, root) if root == checkout_root(state_dir) => Some(id),
        _ => None,
    }
}

/// The id and the checkout folder recorded in `.devenv/checkout-id`.
fn read_checkout_file(state_dir: &Path) -> Option<(String, String)> {
    let text = fs::read_to_string(state_dir.join(CHECKOUT_ID_FILE)).ok()?;
    let mut lines = text.lines();
    let id = lines.next()?.trim().to_string();
    let root = lines.next().unwrap_or("").to_string();
    is_checkout_id(&id).then_some((id, root))
}

/// The checkout folder the id belongs to: the state directory's parent, resolved.
fn checkout_root(state_dir: &Path) -> String {
    let root = state_dir.parent().unwrap_or(state_dir);
    fs::canonicalize(root)
        .unwrap_or_else(|_| root.to_path_buf())
        .display()
        .to_string()
}

/// 32 lowercase hex digits.
pub fn is_checkout_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What [`checkout_id`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutId {
    pub id: String,
    /// Set when `.devenv/` was copied or moved from another folder: the folder its old id
    /// belonged to. This checkout got a new id (what the other one created stays its own).
    pub replaced_from: Option<String>,
}

/// This checkout's ownership id (`.devenv/checkout-id`: the id, then the folder it belongs
/// to), made on first use: 128 random bits. devenv puts it on everything it creates (a
/// label on every k3d node, a volume path on its registries) and deletes or adopts only
/// what carries it. It lives in its own file, not in the journal, so that deleting a corrupt
/// `state.json` keeps what devenv owns; and it is bound to the folder, so that a copy of the
/// project with its `.devenv/` (`cp -r`) is another checkout, not a second owner.
pub fn checkout_id(state_dir: &Path) -> io::Result<CheckoutId> {
    let root = checkout_root(state_dir);
    let old = read_checkout_file(state_dir);
    if let Some((id, r)) = &old {
        if *r == root {
            return Ok(CheckoutId {
                id: id.clone(),
                replaced_from: None,
            });
        }
    }
    ensure_state_dir(state_dir)?;
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let path = state_dir.join(CHECKOUT_ID_FILE);
    let content = format!("{id}\n{root}\n");
    if old.is_some() {
        write_atomic(&path, content.as_bytes())?;
        return Ok(CheckoutId {
            id,
            replaced_from: old.map(|(_, r)| r),
        });
    }
    // Two devenvs starting at once: the first one's id wins, the other reads it.
    match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(mut f) => {
            f.write_all(content.as_bytes())?;
            f.sync_all()?;
            Ok(CheckoutId {
                id,
                replaced_from: None,
            })
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match read_checkout_id(state_dir) {
            Some(id) => Ok(CheckoutId {
                id,
                replaced_from: None,
            }),
            // An empty or torn file from a crash between create and write: replace it.
            None => {
                write_atomic(&path, content.as_bytes())?;
                Ok(CheckoutId {
                    id,
                    replaced_from: None,
                })
            }
        },
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------
// Journal

/// Errors reading or writing the journal.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error(
        "{} is corrupt: {source}\n\
         It only caches what devenv already did: delete it and run again \
         (devenv then re-checks every step).",
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "{} was written by a newer devenv (state version {found}, this devenv reads up to \
         {JOURNAL_VERSION}): upgrade devenv, or delete the file to start afresh",
        path.display()
    )]
    NewerVersion { path: PathBuf, found: u32 },
}

/// How the last attempt at a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    Done,
    Failed,
    Interrupted,
    /// Started and not finished: the process died (or is still running under the lock).
    Running,
}

/// What the journal knows about one step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Fingerprint of the step's inputs when it last started.
    pub fingerprint: String,
    pub status: StepStatus,
    /// RFC 3339, UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Step-specific facts (e.g. the image digest pushed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
    /// The error of a failed step (its first line is enough to show in `status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What devenv created, and so may delete.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owned {
    #[serde(default)]
    pub clusters: BTreeSet<String>,
    #[serde(default)]
    pub registries: BTreeSet<String>,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunOutcome {
    /// Not finished (still running, or devenv was killed).
    Running,
    Success,
    Failed,
    Interrupted,
}

/// The last `up` (or other command that ran steps).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRun {
    pub id: String,
    /// The devenv command line, e.g. `devenv up --profile ci`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    pub outcome: RunOutcome,
    /// The step that failed or was interrupted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at_step: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct JournalData {
    version: u32,
    #[serde(default)]
    steps: BTreeMap<String, StepRecord>,
    #[serde(default)]
    owned: Owned,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_run: Option<LastRun>,
}

/// `.devenv/state.json`. Every `mark_*`/`record_*` changes memory only; call
/// [`Journal::save`] to persist (cheap: one small atomic write, skipped when nothing
/// changed).
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    data: JournalData,
    /// When each running step started, for an exact duration (wall clock may jump).
    started: HashMap<String, Instant>,
    dirty: bool,
}

impl Journal {
    /// Reads `<state_dir>/state.json`; a missing file is an empty journal.
    pub fn load(state_dir: &Path) -> Result<Journal, StateError> {
        let path = state_dir.join(JOURNAL_FILE);
        let data = match fs::read(&path) {
            Ok(bytes) => Self::parse(&path, &bytes)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => JournalData {
                version: JOURNAL_VERSION,
                ..JournalData::default()
            },
            Err(source) => return Err(StateError::Read { path, source }),
        };
        Ok(Journal {
            path,
            data,
            started: HashMap::new(),
            dirty: false,
        })
    }

    fn parse(path: &Path, bytes: &[u8]) -> Result<JournalData, StateError> {
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        let corrupt = |source| StateError::Corrupt {
            path: path.to_path_buf(),
            source,
        };
        let v: Version = serde_json::from_slice(bytes).map_err(corrupt)?;
        if v.version > JOURNAL_VERSION {
            return Err(StateError::NewerVersion {
                path: path.to_path_buf(),
                found: v.version,
            });
        }
        serde_json::from_slice(bytes).map_err(corrupt)
    }

    /// Writes the journal atomically if anything changed since the last load/save.
    pub fn save(&mut self) -> Result<(), StateError> {
        if !self.dirty {
            return Ok(());
        }
        let write = |path: &Path, data: &JournalData| -> io::Result<()> {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)?;
            }
            let mut json = serde_json::to_vec_pretty(data).map_err(io::Error::other)?;
            json.push(b'\n');
            // Without the directory fsync (half the cost, ~6 ms instead of ~11 ms on
            // ext4): a crash may lose the rename, and then the previous journal, which
            // is complete and only one step behind, is read. The data fsync stays, so
            // the journal is never seen empty or torn.
            write_atomic_impl(path, &json, 0o666, false, |_| {})
        };
        write(&self.path, &self.data).map_err(|source| StateError::Write {
            path: self.path.clone(),
            source,
        })?;
        self.dirty = false;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when the step finished successfully with exactly these inputs.
    pub fn is_done(&self, step_id: &str, fingerprint: &str) -> bool {
        self.data
            .steps
            .get(step_id)
            .is_some_and(|r| r.status == StepStatus::Done && r.fingerprint == fingerprint)
    }

    pub fn step(&self, step_id: &str) -> Option<&StepRecord> {
        self.data.steps.get(step_id)
    }

    /// All step records, by step id.
    pub fn steps(&self) -> &BTreeMap<String, StepRecord> {
        &self.data.steps
    }

    pub fn mark_started(&mut self, step_id: &str, fingerprint: &str) {
        self.started.insert(step_id.to_string(), Instant::now());
        self.data.steps.insert(
            step_id.to_string(),
            StepRecord {
                fingerprint: fingerprint.to_string(),
                status: StepStatus::Running,
                started_at: Some(now_rfc3339()),
                finished_at: None,
                duration_ms: None,
                detail: None,
                error: None,
            },
        );
        self.dirty = true;
    }

    /// Records success; `fingerprint` is what [`Journal::is_done`] will compare against.
    pub fn mark_done(
        &mut self,
        step_id: &str,
        fingerprint: &str,
        detail: Option<serde_json::Value>,
    ) {
        let rec = self.finish(step_id, StepStatus::Done);
        rec.fingerprint = fingerprint.to_string();
        rec.detail = detail;
    }

    /// Records a failure with its message (the fingerprint is the one given to
    /// `mark_started`).
    pub fn mark_failed(&mut self, step_id: &str, error: &str) {
        let rec = self.finish(step_id, StepStatus::Failed);
        rec.error = Some(error.to_string());
    }

    pub fn mark_interrupted(&mut self, step_id: &str) {
        self.finish(step_id, StepStatus::Interrupted);
    }

    fn finish(&mut self, step_id: &str, status: StepStatus) -> &mut StepRecord {
        self.dirty = true;
        let elapsed = self.started.remove(step_id).map(|t| t.elapsed());
        let rec = self
            .data
            .steps
            .entry(step_id.to_string())
            .or_insert_with(|| StepRecord {
                fingerprint: String::new(),
                status,
                started_at: None,
                finished_at: None,
                duration_ms: None,
                detail: None,
                error: None,
            });
        rec.status = status;
        rec.finished_at = Some(now_rfc3339());
        rec.duration_ms = elapsed.map(|d| d.as_millis() as u64);
        rec.error = None;
        rec
    }

    /// Forgets one step (it will run again).
    pub fn forget_step(&mut self, step_id: &str) {
        self.dirty |= self.data.steps.remove(step_id).is_some();
    }

    /// Forgets every step (after `down`/`reset`); ownership records are kept.
    pub fn forget_steps(&mut self) {
        self.dirty |= !self.data.steps.is_empty();
        self.data.steps.clear();
    }

    pub fn owned(&self) -> &Owned {
        &self.data.owned
    }

    pub fn owns_cluster(&self, name: &str) -> bool {
        self.data.owned.clusters.contains(name)
    }

    pub fn owns_registry(&self, name: &str) -> bool {
        self.data.owned.registries.contains(name)
    }

    pub fn record_owned_cluster(&mut self, name: &str) {
        self.dirty |= self.data.owned.clusters.insert(name.to_string());
    }

    pub fn record_owned_registry(&mut self, name: &str) {
        self.dirty |= self.data.owned.registries.insert(name.to_string());
    }

    pub fn forget_owned_cluster(&mut self, name: &str) {
        self.dirty |= self.data.owned.clusters.remove(name);
    }

    pub fn forget_owned_registry(&mut self, name: &str) {
        self.dirty |= self.data.owned.registries.remove(name);
    }

    pub fn last_run(&self) -> Option<&LastRun> {
        self.data.last_run.as_ref()
    }

    /// Settles what a devenv that died (SIGKILL, power loss) left as `running`: those
    /// steps and the last run become `interrupted`. Call it once the lock is held (then no
    /// other devenv can be running them). Returns the steps it changed.
    pub fn settle_abandoned(&mut self) -> Vec<String> {
        let mut changed = Vec::new();
        for (id, rec) in &mut self.data.steps {
            if rec.status == StepStatus::Running && !self.started.contains_key(id) {
                rec.status = StepStatus::Interrupted;
                changed.push(id.clone());
            }
        }
        if let Some(run) = &mut self.data.last_run {
            if run.outcome == RunOutcome::Running {
                run.outcome = RunOutcome::Interrupted;
                run.stopped_at_step = run
                    .stopped_at_step
                    .take()
                    .or_else(|| changed.first().cloned());
                self.dirty = true;
            }
        }
        self.dirty |= !changed.is_empty();
        changed
    }

    /// Starts a new run record (outcome `running`), replacing the previous one.
    pub fn begin_run(&mut self, id: &str, command: Option<&str>) {
        self.data.last_run = Some(LastRun {
            id: id.to_string(),
            command: command.map(str::to_string),
            started_at: now_rfc3339(),
            finished_at: None,
            outcome: RunOutcome::Running,
            stopped_at_step: None,
        });
        self.dirty = true;
    }

    /// Ends the current run record (does nothing without [`Journal::begin_run`]).
    pub fn finish_run(&mut self, outcome: RunOutcome, stopped_at_step: Option<&str>) {
        if let Some(run) = &mut self.data.last_run {
            run.outcome = outcome;
            run.finished_at = Some(now_rfc3339());
            run.stopped_at_step = stopped_at_step.map(str::to_string);
            self.dirty = true;
        }
    }
}

/// Now, RFC 3339 UTC with milliseconds (`2026-06-12T09:41:03.120Z`).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// A run id that sorts by time and names the log directory: `20260612T094103Z-4242`
/// (UTC to the second, then the pid so two runs in the same second differ).
pub fn new_run_id() -> String {
    let ts = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let compact: String = ts.chars().filter(|c| *c != '-' && *c != ':').collect();
    format!("{compact}-{}", std::process::id())
}

/// Creates `<state_dir>/logs/<run_id>/`, points `<state_dir>/logs/latest` at it, and
/// deletes the oldest run directories beyond `keep` (only names made by [`new_run_id`]).
pub fn new_log_dir(state_dir: &Path, run_id: &str, keep: usize) -> io::Result<PathBuf> {
    // Whatever command writes logs first, `.devenv/` gets its `.gitignore`.
    ensure_state_dir(state_dir)?;
    let logs = state_dir.join("logs");
    let dir = logs.join(run_id);
    fs::create_dir_all(&dir)?;
    // Replace the link atomically: a new link under a temp name, renamed over `latest`.
    let tmp = logs.join(format!(".latest.{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(run_id, &tmp)?;
    fs::rename(&tmp, logs.join("latest"))?;

    let mut runs: Vec<String> = fs::read_dir(&logs)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_run_id(n))
        .collect();
    runs.sort();
    let excess = runs.len().saturating_sub(keep.max(1));
    for old in &runs[..excess] {
        if old != run_id {
            let _ = fs::remove_dir_all(logs.join(old));
        }
    }
    Ok(dir)
}

/// `20260612T094103Z-4242`
fn is_run_id(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() > 17
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && &b[15..17] == b"Z-"
        && b[17..].iter().all(u8::is_ascii_digit)
}

// ---------------------------------------------------------------------------------------
// Project lock

/// Why the project lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{}; wait for it or pass --wait", holder_text(pid, command, since))]
    Busy {
        pid: Option<u32>,
        command: Option<String>,
        since: Option<String>,
    },
    #[error("{} and did not finish within {}", holder_text(pid, command, since), humantime::format_duration(*waited))]
    WaitTimedOut {
        pid: Option<u32>,
        command: Option<String>,
        since: Option<String>,
        waited: Duration,
    },
    #[error("cannot lock {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

fn holder_text(pid: &Option<u32>, command: &Option<String>, since: &Option<String>) -> String {
    let mut who = Vec::new();
    if let Some(pid) = pid {
        who.push(format!("pid {pid}"));
    }
    if let Some(cmd) = command {
        who.push(format!("`{cmd}`"));
    }
    if let Some(since) = since {
        // "started 2026-06-12T09:41:03.120Z, 2m 5s ago"
        let ago = humantime::parse_rfc3339(since)
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .map(|d| {
                let secs = Duration::from_secs(d.as_secs());
                format!(", {} ago", humantime::format_duration(secs))
            })
            .unwrap_or_default();
        who.push(format!("started {since}{ago}"));
    }
    if who.is_empty() {
        "another devenv is running in this project".to_string()
    } else {
        format!(
            "another devenv ({}) is running in this project",
            who.join(", ")
        )
    }
}

/// Who holds the lock, as written into the lock file.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Holder {
    pid: Option<u32>,
    command: Option<String>,
    since: Option<String>,
}

/// An exclusive lock on `<state_dir>/lock` (an OS file lock: released on drop and by the
/// kernel when the process dies, so a crash never leaves a stale lock behind).
#[derive(Debug)]
pub struct ProjectLock {
    file: File,
    path: PathBuf,
}

impl ProjectLock {
    /// Takes the lock. Busy: with `wait` false returns [`LockError::Busy`] at once; with
    /// `wait` true polls up to [`DEFAULT_LOCK_WAIT`]. Blocks the thread while waiting.
    pub fn acquire(state_dir: &Path, wait: bool) -> Result<ProjectLock, LockError> {
        Self::acquire_within(state_dir, wait.then_some(DEFAULT_LOCK_WAIT))
    }

    /// Takes the lock, waiting up to `wait` for it (`None`: do not wait).
    pub fn acquire_within(
        state_dir: &Path,
        wait: Option<Duration>,
    ) -> Result<ProjectLock, LockError> {
        Self::acquire_notify(state_dir, wait, |holder| {
            tracing::info!("{holder}; waiting for it")
        })
    }

    /// Like [`ProjectLock::acquire_within`]; when it has to wait, first calls `on_wait`
    /// with who holds the lock ("another devenv (pid 42, `devenv up`, started …) is
    /// running in this project"), so the UI can say why nothing happens.
    pub fn acquire_notify(
        state_dir: &Path,
        wait: Option<Duration>,
        on_wait: impl FnOnce(String),
    ) -> Result<ProjectLock, LockError> {
        let mut on_wait = Some(on_wait);
        let path = state_dir.join(LOCK_FILE);
        let io_err = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(state_dir).map_err(io_err)?;
        // No truncate: until we hold the lock, the content belongs to the holder.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(&path)
            .map_err(io_err)?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) => {
                    let holder = read_holder(&mut file);
                    let Some(limit) = wait else {
                        return Err(LockError::Busy {
                            pid: holder.pid,
                            command: holder.command,
                            since: holder.since,
                        });
                    };
                    if started.elapsed() >= limit {
                        return Err(LockError::WaitTimedOut {
                            pid: holder.pid,
                            command: holder.command,
                            since: holder.since,
                            waited: limit,
                        });
                    }
                    if let Some(notify) = on_wait.take() {
                        notify(holder_text(&holder.pid, &holder.command, &holder.since));
                    }
                    std::thread::sleep(Duration::from_millis(100).min(limit));
                }
                Err(fs::TryLockError::Error(e)) => return Err(io_err(e)),
            }
        }
        let holder = Holder {
            pid: Some(std::process::id()),
            command: Some(own_command_line()),
            since: Some(now_rfc3339()),
        };
        let json = serde_json::to_vec(&holder).map_err(|e| io_err(io::Error::other(e)))?;
        file.set_len(0).map_err(io_err)?;
        file.rewind().map_err(io_err)?;
        file.write_all(&json).map_err(io_err)?;
        Ok(ProjectLock { file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ProjectLock {
    fn drop(&mut self) {
        // Clear the holder info while still holding the lock; the file stays (deleting it
        // would let two processes lock two different inodes). Closing the file unlocks.
        let _ = self.file.set_len(0);
    }
}

fn read_holder(file: &mut File) -> Holder {
    let mut s = String::new();
    if file.rewind().is_err() || file.read_to_string(&mut s).is_err() {
        return Holder::default();
    }
    serde_json::from_str(&s).unwrap_or_default()
}

/// `devenv up --profile ci`: the program's file name and the arguments.
fn own_command_line() -> String {
    let mut args = std::env::args_os();
    let program = args
        .next()
        .map(|p| {
            Path::new(&p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "devenv".to_string());
    std::iter::once(program)
        .chain(args.map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StepStatus::Done => "done",
            StepStatus::Failed => "failed",
            StepStatus::Interrupted => "interrupted",
            StepStatus::Running => "running",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    fn dir_entries(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn atomic_write_creates_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.yaml");
        write_atomic(&p, b"one").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"one");
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(dir_entries(dir.path()), ["a.yaml"], "no temp file left");
    }

    #[test]
    fn atomic_write_keeps_the_mode_of_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kubeconfig");
        fs::write(&p, b"old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(mode(&p), 0o600);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        write_atomic_with_mode(&p, b"newer", 0o600).unwrap();
        assert_eq!(mode(&p), 0o755, "an existing file's mode wins");
        let fresh = dir.path().join("fresh");
        write_atomic_with_mode(&fresh, b"x", 0o600).unwrap();
        assert_eq!(mode(&fresh), 0o600);
    }

    #[test]
    fn atomic_write_through_a_symlink_keeps_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        let link = dir.path().join("link");
        fs::write(&real, b"old").unwrap();
        std::os::unix::fs::symlink("real", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&real).unwrap(), b"new");
    }

    #[test]
    fn atomic_write_never_exposes_a_partial_target() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        fs::write(&p, b"old content").unwrap();
        let mut seen_tmp = None;
        write_atomic_impl(&p, b"new content", 0o666, true, |tmp| {
            // Just before the rename: the new bytes are complete in a different file of
            // the same directory, and the target still has the old bytes.
            assert_ne!(tmp, p.as_path());
            assert_eq!(tmp.parent(), p.parent());
            assert_eq!(fs::read(tmp).unwrap(), b"new content");
            assert_eq!(fs::read(&p).unwrap(), b"old content");
            seen_tmp = Some(tmp.to_path_buf());
        })
        .unwrap();
        assert!(!seen_tmp.unwrap().exists());
        assert_eq!(fs::read(&p).unwrap(), b"new content");
    }

    #[test]
    fn atomic_write_into_missing_dir_fails_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_atomic(&dir.path().join("nope/x"), b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(dir_entries(dir.path()).is_empty());
    }

    #[test]
    fn journal_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".devenv");
        let mut j = Journal::load(&state).unwrap();
        assert!(!j.is_done("cluster", "f1"));
        j.begin_run("run-1", Some("devenv up"));
        j.mark_started("registry", "r1");
        j.mark_done("registry", "r1", Some(serde_json::json!({"port": 5001})));
        j.mark_started("cluster", "c1");
        j.mark_failed("cluster", "`k3d cluster create` failed");
        j.mark_started("images", "i1");
        j.mark_interrupted("images");
        j.mark_started("calico", "k1");
        j.record_owned_cluster("demo");
        j.record_owned_registry("demo-registry");
        j.finish_run(RunOutcome::Failed, Some("cluster"));
        j.save().unwrap();

        let j2 = Journal::load(&state).unwrap();
        assert_eq!(j2.data, j.data);
        assert!(j2.is_done("registry", "r1"));
        assert!(!j2.is_done("registry", "r2"), "other inputs: not done");
        assert!(!j2.is_done("cluster", "c1"));
        let reg = j2.step("registry").unwrap();
        assert_eq!(reg.detail, Some(serde_json::json!({"port": 5001})));
        assert!(reg.duration_ms.is_some() && reg.finished_at.is_some());
        let cluster = j2.step("cluster").unwrap();
        assert_eq!(cluster.status, StepStatus::Failed);
        assert_eq!(cluster.fingerprint, "c1");
        assert_eq!(
            cluster.error.as_deref(),
            Some("`k3d cluster create` failed")
        );
        assert_eq!(j2.step("images").unwrap().status, StepStatus::Interrupted);
        assert_eq!(j2.step("calico").unwrap().status, StepStatus::Running);
        assert!(j2.owns_cluster("demo") && j2.owns_registry("demo-registry"));
        let run = j2.last_run().unwrap();
        assert_eq!(
            (run.id.as_str(), run.outcome, run.stopped_at_step.as_deref()),
            ("run-1", RunOutcome::Failed, Some("cluster"))
        );

        // The file is the documented shape.
        let v: serde_json::Value =
            serde_json::from_slice(&fs::read(state.join(JOURNAL_FILE)).unwrap()).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["steps"]["registry"]["status"], "done");
        assert_eq!(v["steps"]["cluster"]["status"], "failed");
        assert_eq!(v["owned"]["clusters"], serde_json::json!(["demo"]));
        assert_eq!(v["last_run"]["outcome"], "failed");
    }

    #[test]
    fn journal_forgets_and_saves_only_when_changed() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::load(dir.path()).unwrap();
        j.save().unwrap();
        assert!(
            !dir.path().join(JOURNAL_FILE).exists(),
            "nothing to save yet"
        );
        j.record_owned_cluster("a");
        j.mark_started("s", "f");
        j.mark_done("s", "f", None);
        j.save().unwrap();
        j.forget_owned_cluster("a");
        j.forget_step("s");
        j.save().unwrap();
        let j2 = Journal::load(dir.path()).unwrap();
        assert!(j2.owned().clusters.is_empty());
        assert!(j2.steps().is_empty());
    }

    #[test]
    fn corrupt_journal_names_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(JOURNAL_FILE);
        fs::write(&p, b"{\"version\": 1, \"steps\": {\"x\": 3}}").unwrap();
        let msg = Journal::load(dir.path()).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!("{} is corrupt: ", p.display())),
            "{msg}"
        );
        assert!(msg.contains("delete it"), "{msg}");
        fs::write(&p, b"not json").unwrap();
        assert!(matches!(
            Journal::load(dir.path()),
            Err(StateError::Corrupt { .. })
        ));
        fs::write(&p, b"{\"version\": 99}").unwrap();
        let msg = Journal::load(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("newer devenv (state version 99"), "{msg}");
    }

    #[test]
    fn run_ids_sort_by_time() {
        let id = new_run_id();
        assert_eq!(
            id.len(),
            "20260612T094103Z".len() + 1 + std::process::id().to_string().len()
        );
        assert!(
            id.as_bytes()[8] == b'T' && id.as_bytes()[15] == b'Z',
            "{id}"
        );
    }

    #[test]
    fn abandoned_running_steps_become_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::load(dir.path()).unwrap();
        j.begin_run("r1", None);
        j.mark_started("done", "f");
        j.mark_done("done", "f", None);
        j.mark_started("cluster", "f");
        j.save().unwrap(); // ... and the process dies here
        let mut j = Journal::load(dir.path()).unwrap();
        assert_eq!(j.settle_abandoned(), ["cluster"]);
        assert_eq!(j.step("cluster").unwrap().status, StepStatus::Interrupted);
        assert_eq!(j.step("done").unwrap().status, StepStatus::Done);
        let run = j.last_run().unwrap();
        assert_eq!(
            (run.outcome, run.stopped_at_step.as_deref()),
            (RunOutcome::Interrupted, Some("cluster"))
        );
        // A step this process is running is not abandoned.
        j.mark_started("images", "f");
        assert!(j.settle_abandoned().is_empty());
    }

    #[test]
    fn log_dirs_point_latest_at_the_newest_and_prune_old_runs() {
        let state = tempfile::tempdir().unwrap();
        let ids = [
            "20260101T000000Z-1",
            "20260101T000001Z-2",
            "20260101T000002Z-3",
        ];
        for id in ids {
            let d = new_log_dir(state.path(), id, 2).unwrap();
            assert_eq!(d, state.path().join("logs").join(id));
            fs::write(d.join("step.log"), id).unwrap();
        }
        let logs = state.path().join("logs");
        assert_eq!(
            fs::read_to_string(logs.join("latest/step.log")).unwrap(),
            ids[2]
        );
        fs::create_dir(logs.join("keep-me")).unwrap();
        assert_eq!(
            dir_entries(&logs),
            [
                "20260101T000001Z-2",
                "20260101T000002Z-3",
                "keep-me",
                "latest"
            ]
        );
        assert!(is_run_id(&new_run_id()));
    }

    #[test]
    fn lock_is_exclusive_within_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let lock = ProjectLock::acquire(dir.path(), false).unwrap();
        // A second open file description conflicts even in the same process (flock).
        let err = ProjectLock::acquire(dir.path(), false).unwrap_err();
        let LockError::Busy {
            pid,
            command,
            since,
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(*pid, Some(std::process::id()));
        assert!(command.is_some() && since.is_some());
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("another devenv (pid {}, `", std::process::id())),
            "{msg}"
        );
        assert!(
            msg.ends_with("is running in this project; wait for it or pass --wait"),
            "{msg}"
        );

        let started = Instant::now();
        let err =
            ProjectLock::acquire_within(dir.path(), Some(Duration::from_millis(250))).unwrap_err();
        assert!(matches!(err, LockError::WaitTimedOut { .. }), "{err:?}");
        assert!(started.elapsed() >= Duration::from_millis(250));

        drop(lock);
        let again = ProjectLock::acquire(dir.path(), false).unwrap();
        assert!(again.path().ends_with(LOCK_FILE));
    }

    #[test]
    fn waiting_acquire_gets_the_lock_once_released() {
        let dir = tempfile::tempdir().unwrap();
        let lock = ProjectLock::acquire(dir.path(), false).unwrap();
        let d = dir.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            ProjectLock::acquire_notify(&d, Some(Duration::from_secs(10)), |who| {
                tx.send(who).unwrap()
            })
            .map(|_| ())
        });
        let who = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(who.starts_with("another devenv (pid "), "{who}");
        drop(lock);
        waiter.join().unwrap().unwrap();
    }

    /// Helper run as a child process by `lock_is_exclusive_across_processes`: holds the
    /// lock until its stdin closes.
    #[test]
    fn lock_holder_child() {
        let Some(dir) = std::env::var_os("DEVENV_TEST_LOCK_DIR") else {
            return; // only meaningful as the child
        };
        let _lock = ProjectLock::acquire(Path::new(&dir), false).unwrap();
        println!("locked");
        io::stdout().flush().unwrap();
        let mut sink = Vec::new();
        io::stdin().read_to_end(&mut sink).unwrap();
    }

    #[test]
    fn lock_is_exclusive_across_processes() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "state::tests::lock_holder_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("DEVENV_TEST_LOCK_DIR", dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.contains("locked") {
            line.clear();
            assert!(
                io::BufRead::read_line(&mut out, &mut line).unwrap() > 0,
                "child exited"
            );
        }
        let err = ProjectLock::acquire(dir.path(), false).unwrap_err();
        assert!(
            matches!(err, LockError::Busy { pid: Some(p), .. } if p == child.id()),
            "{err:?}"
        );
        drop(child.stdin.take()); // child releases the lock by exiting
        child.wait().unwrap();
        ProjectLock::acquire(dir.path(), false).unwrap();
    }
}
