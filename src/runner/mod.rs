//! The only place devenv starts a process.
//!
//! A [`Cmd`] is an argv (never a shell string) plus env, working directory, stdin and a
//! timeout. [`Runner::run`] starts it in its own process group, streams its output into
//! the step's log file (`<log_dir>/<step_id>.log`) and into memory, and on timeout or
//! Ctrl-C signals the whole group (SIGTERM, then SIGKILL after [`KILL_GRACE`]) so that
//! what the command started (k3d's helpers, docker build's children, a script's
//! background jobs) dies with it.
//!
//! Why a process group: `kill_on_drop` and `Child::kill` only reach the direct child.
//! With `process_group(0)` the child is also out of the terminal's foreground group, so
//! a Ctrl-C reaches devenv only; devenv then decides (via the shared
//! [`CancellationToken`]) to stop every running command and report which step was
//! interrupted, instead of children dying half-way in an order nobody chose.
//!
//! Log file format (appended, one block per command):
//! ```text
//! ==> 2026-06-12T09:41:03Z $ k3d cluster create --config .devenv/k3d-config.yaml
//! | a line the command wrote to stdout
//! ! a line the command wrote to stderr
//! ==> exit status: 0 after 12.3s
//! ```

mod children;
mod cmd;
mod error;
mod group;
#[cfg(test)]
mod tests;

pub use children::{leader_id, reap_leftovers, ChildRecord, LeaderId};
pub use cmd::{quote, Cmd};
pub use error::{hint_for_output, RunError};
pub use group::{install_signal_handlers, kill_all_running};

use children::write_child_record;
use error::{spawn_reason, status_text};
use group::{kill_group, set_parent_death_signal, GroupGuard};

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Exit code of devenv after SIGINT/SIGTERM (128 + SIGINT, as shells report it).
pub const INTERRUPTED_EXIT: i32 = 130;

/// Timeout of a [`Cmd`] unless [`Cmd::timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// Time a process group gets between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(1);

/// Lines of output kept in error messages.
pub const TAIL_LINES: usize = 20;

/// After the child exits, how long to keep reading pipes that a background grandchild
/// still holds open (everything the child itself wrote is already in the pipe).
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(500);

/// What a finished command produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// Exit code; 128 + N when the command was killed by signal N (as shells report it).
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub duration: Duration,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == 0
    }

    /// stdout as text (invalid UTF-8 replaced).
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Which pipe a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line of output, handed to the line sink as it arrives.
#[derive(Clone, Copy, Debug)]
pub struct Line<'a> {
    pub step_id: &'a str,
    pub stream: Stream,
    /// Without the trailing newline (and `\r`).
    pub text: &'a str,
}

/// Receives every output line of every command (e.g. to show docker build progress).
pub type LineSink = Arc<dyn Fn(Line<'_>) + Send + Sync>;

/// Runs commands; cheap to clone and share between concurrent steps.
#[derive(Clone)]
pub struct Runner {
    log_dir: PathBuf,
    cancel: CancellationToken,
    line_sink: Option<LineSink>,
    /// Where a record of each running child is kept (`.devenv/children`), so that the next
    /// devenv stops what a killed one left running ([`reap_leftovers`]).
    child_records: Option<PathBuf>,
}

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("log_dir", &self.log_dir)
            .field("cancelled", &self.cancel.is_cancelled())
            .field("line_sink", &self.line_sink.is_some())
            .finish()
    }
}

impl Runner {
    /// Logs go to `log_dir/<step_id>.log` (the directory is created on first use).
    /// Cancelling `cancel` stops every running command with [`RunError::Interrupted`].
    pub fn new(log_dir: PathBuf, cancel: CancellationToken) -> Runner {
        Runner {
            log_dir,
            cancel,
            line_sink: None,
            child_records: None,
        }
    }

    /// Records every running child in `dir` (see [`reap_leftovers`]).
    pub fn with_child_records(mut self, dir: PathBuf) -> Runner {
        self.child_records = Some(dir);
        self
    }

    pub fn with_line_sink(mut self, sink: LineSink) -> Runner {
        self.line_sink = Some(sink);
        self
    }

    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    pub fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }

    pub fn log_path(&self, step_id: &str) -> PathBuf {
        self.log_dir.join(format!("{step_id}.log"))
    }

    /// Runs `cmd`; a non-zero exit is [`RunError::Failed`].
    pub async fn run(&self, step_id: &str, cmd: &Cmd) -> Result<Output, RunError> {
        let (out, signal) = self.exec(step_id, cmd).await?;
        if out.success() {
            return Ok(out);
        }
        let (stderr_tail, tail_stream) = if cmd.secret_output {
            (String::new(), Stream::Stderr)
        } else {
            tail_of(&out)
        };
        Err(RunError::Failed {
            cmd: cmd.display(),
            status: out.status,
            signal,
            stderr_tail,
            tail_stream,
            log_path: self.log_path(step_id),
        })
    }

    /// Runs `cmd` and returns its output whatever the exit status (for commands whose
    /// non-zero exit is an answer, e.g. `kubectl get` of something that may not exist).
    /// Spawn failures, timeouts and interruptions are still errors.
    pub async fn run_unchecked(&self, step_id: &str, cmd: &Cmd) -> Result<Output, RunError> {
        Ok(self.exec(step_id, cmd).await?.0)
    }

    /// Runs `cmd`; also returns the signal that killed it, if one did.
    async fn exec(&self, step_id: &str, cmd: &Cmd) -> Result<(Output, Option<i32>), RunError> {
        let line = cmd.display();
        if self.cancel.is_cancelled() {
            return Err(RunError::Interrupted { cmd: line });
        }
        tracing::debug!(step = step_id, "$ {line}");
        let log_path = self.log_path(step_id);
        let mut log = StepLog::open(&self.log_dir, &log_path);
        log.write(&format!(
            "==> {} $ {line}\n",
            humantime::format_rfc3339_seconds(SystemTime::now())
        ));

        let start = Instant::now();
        let mut child = match process(cmd).spawn() {
            Ok(c) => c,
            Err(source) => {
                log.write(&format!(
                    "==> could not start: {}\n",
                    spawn_reason(&cmd.program, &source)
                ));
                return Err(RunError::Spawn {
                    cmd: line,
                    program: cmd.program.clone(),
                    source,
                    hint: None,
                });
            }
        };
        // The child leads its own group, so the group id is its pid.
        let pgid = child.id().map(|p| p as libc::pid_t);
        let mut guard = GroupGuard::new(pgid);
        if let (Some(dir), Some(pgid)) = (&self.child_records, pgid) {
            guard.record = write_child_record(dir, pgid, &line);
        }

        if let (Some(bytes), Some(mut stdin)) = (cmd.stdin.clone(), child.stdin.take()) {
            // A separate task: a child that does not read all its stdin must not block us.
            tokio::spawn(async move {
                let _ = stdin.write_all(&bytes).await;
                let _ = stdin.shutdown().await;
            });
        }

        let (tx, mut rx) = mpsc::unbounded_channel::<(Stream, Vec<u8>)>();
        let readers = [
            child
                .stdout
                .take()
                .map(|p| tokio::spawn(pump(p, Stream::Stdout, tx.clone()))),
            child
                .stderr
                .take()
                .map(|p| tokio::spawn(pump(p, Stream::Stderr, tx.clone()))),
        ];
        drop(tx);

        let mut out = Output::default();
        let mut status: Option<ExitStatus> = None;
        let mut pipes_open = true;
        let deadline = tokio::time::Instant::now() + cmd.timeout;
        let mut drain_deadline = None;

        let stop = loop {
            if status.is_some() && !pipes_open {
                break None;
            }
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => break Some(Stop::Cancelled),
                _ = tokio::time::sleep_until(deadline) => break Some(Stop::TimedOut),
                msg = rx.recv(), if pipes_open => match msg {
                    Some((stream, bytes)) => {
                        self.record(step_id, cmd, &mut out, &mut log, stream, bytes);
                    }
                    None => pipes_open = false,
                },
                st = child.wait(), if status.is_none() => {
                    match st {
                        Ok(st) => status = Some(st),
                        // wait() only fails if the child was already reaped: treat as gone.
                        Err(_) => status = Some(ExitStatus::default()),
                    }
                    drain_deadline = Some(tokio::time::Instant::now() + DRAIN_AFTER_EXIT);
                }
                _ = sleep_until_opt(drain_deadline), if status.is_some() && pipes_open => {
                    // A grandchild keeps the pipes open; the child's own output is all read.
                    pipes_open = false;
                }
            }
        };

        if let Some(stop) = stop {
            kill_group(pgid, &mut child).await;
            guard.disarm();
            // Everything is dead now, so the pipes reach EOF quickly; keep what was written.
            let _ = tokio::time::timeout(Duration::from_millis(200), async {
                while let Some((stream, bytes)) = rx.recv().await {
                    self.record(step_id, cmd, &mut out, &mut log, stream, bytes);
                }
            })
            .await;
            for r in readers.into_iter().flatten() {
                r.abort();
            }
            out.duration = start.elapsed();
            return Err(self.stopped(stop, cmd, &out, &mut log, line, log_path));
        }

        guard.disarm();
        for r in readers.into_iter().flatten() {
            r.abort();
        }
        let st = status.unwrap_or_default();
        out.status = exit_code(st);
        out.duration = start.elapsed();
        let signal = std::os::unix::process::ExitStatusExt::signal(&st);
        log.write(&format!(
            "==> {} after {}\n",
            status_text(out.status, signal),
            fmt_duration(out.duration)
        ));
        Ok((out, signal))
    }

    /// The error of a command stopped by a Ctrl-C or its timeout (its group is dead).
    fn stopped(
        &self,
        stop: Stop,
        cmd: &Cmd,
        out: &Output,
        log: &mut StepLog,
        line: String,
        log_path: PathBuf,
    ) -> RunError {
        match stop {
            Stop::Cancelled => {
                log.write(&format!(
                    "==> interrupted after {}\n",
                    fmt_duration(out.duration)
                ));
                RunError::Interrupted { cmd: line }
            }
            Stop::TimedOut => {
                log.write(&format!(
                    "==> timed out after {}: process group killed\n",
                    fmt_duration(out.duration)
                ));
                let (tail, tail_stream) = if cmd.secret_output {
                    (String::new(), Stream::Stderr)
                } else {
                    tail_of(out)
                };
                RunError::TimedOut {
                    cmd: line,
                    timeout: cmd.timeout,
                    tail,
                    tail_stream,
                    log_path,
                }
            }
        }
    }

    fn record(
        &self,
        step_id: &str,
        cmd: &Cmd,
        out: &mut Output,
        log: &mut StepLog,
        stream: Stream,
        bytes: Vec<u8>,
    ) {
        if cmd.secret_output {
            // In memory only: not in the log, not on the screen.
            match stream {
                Stream::Stdout => out.stdout.extend_from_slice(&bytes),
                Stream::Stderr => out.stderr.extend_from_slice(&bytes),
            }
            return;
        }
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim_end_matches('\n').trim_end_matches('\r');
        log.write(&format!(
            "{} {text}\n",
            if stream == Stream::Stdout { '|' } else { '!' }
        ));
        // Data devenv reads (`-o json`, a version string) is in the log, not in what the
        // reporter shows (`-v`, the CI folds): there it is noise.
        let shown = !(stream == Stream::Stdout && cmd.stdout_is_data());
        if let (Some(sink), true) = (&self.line_sink, shown) {
            sink(Line {
                step_id,
                stream,
                text,
            });
        }
        match stream {
            Stream::Stdout => out.stdout.extend_from_slice(&bytes),
            Stream::Stderr => out.stderr.extend_from_slice(&bytes),
        }
    }
}

/// The process for `cmd`: its own process group, piped output, killed when dropped.
fn process(cmd: &Cmd) -> tokio::process::Command {
    // A pinned tool devenv installed runs from its cache (`[tools]`, src/tools.rs).
    let mut command = tokio::process::Command::new(crate::tools::resolve(&cmd.program));
    command
        .args(&cmd.args)
        .envs(cmd.env.iter().map(|(k, v)| (k, v)))
        .stdin(if cmd.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = &cmd.cwd {
        command.current_dir(dir);
    }
    set_parent_death_signal(&mut command);
    command
}

enum Stop {
    Cancelled,
    TimedOut,
}

async fn sleep_until_opt(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Reads one pipe line by line (raw bytes, newline kept) into the channel.
async fn pump<R: AsyncRead + Unpin>(
    pipe: R,
    stream: Stream,
    tx: mpsc::UnboundedSender<(Stream, Vec<u8>)>,
) {
    let mut reader = BufReader::new(pipe);
    loop {
        let mut buf = Vec::new();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if tx.send((stream, buf)).is_err() {
                    return;
                }
            }
        }
    }
}

fn exit_code(st: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 1,
    }
}

fn fmt_duration(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// The last [`TAIL_LINES`] lines of stderr, or of stdout when stderr is empty.
fn tail_of(out: &Output) -> (String, Stream) {
    let (src, stream) = if String::from_utf8_lossy(&out.stderr).trim().is_empty() {
        (&out.stdout, Stream::Stdout)
    } else {
        (&out.stderr, Stream::Stderr)
    };
    let text = String::from_utf8_lossy(src);
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let start = lines.len().saturating_sub(TAIL_LINES);
    (lines[start..].join("\n"), stream)
}

/// The step's log file; write errors are reported once and then ignored, because a
/// broken log must not turn a working command into a failure.
struct StepLog {
    file: Option<File>,
}

impl StepLog {
    fn open(dir: &Path, path: &Path) -> StepLog {
        let file = std::fs::create_dir_all(dir)
            .and_then(|_| OpenOptions::new().create(true).append(true).open(path));
        match file {
            Ok(f) => StepLog { file: Some(f) },
            Err(e) => {
                tracing::warn!("cannot write log file {}: {e}", path.display());
                StepLog { file: None }
            }
        }
    }

    fn write(&mut self, s: &str) {
        if let Some(f) = &mut self.file {
            if let Err(e) = f.write_all(s.as_bytes()) {
                tracing::warn!("cannot write log file: {e}");
                self.file = None;
            }
        }
    }
}
