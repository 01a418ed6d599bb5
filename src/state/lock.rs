//! The project lock (`.devenv/lock`): one devenv at a time per project.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::{now_rfc3339, DEFAULT_LOCK_WAIT, LOCK_FILE};

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
