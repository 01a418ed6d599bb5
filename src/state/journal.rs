//! The journal (`.devenv/state.json`): per step the fingerprint of its inputs and how its
//! last attempt ended, what devenv created, and the last run.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::{ensure_state_dir, write_atomic_impl, JOURNAL_FILE, JOURNAL_VERSION};

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
pub(super) struct JournalData {
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
    pub(super) data: JournalData,
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
pub(super) fn is_run_id(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() > 17
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && &b[15..17] == b"Z-"
        && b[17..].iter().all(u8::is_ascii_digit)
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
