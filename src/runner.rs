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

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
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

/// A command to run: program and argv, never a shell string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmd {
    pub program: String,
    pub args: Vec<String>,
    /// Added to (or overriding) the inherited environment; shown by [`Cmd::display`].
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    /// Bytes written to the child's stdin (then closed); `None` = stdin is /dev/null.
    pub stdin: Option<Vec<u8>>,
    pub timeout: Duration,
    /// The output is a secret (a credential helper's answer): it is kept in memory only,
    /// never written to the log file nor handed to the line sink.
    pub secret_output: bool,
}

impl Cmd {
    pub fn new(program: impl Into<String>) -> Cmd {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            stdin: None,
            timeout: DEFAULT_TIMEOUT,
            secret_output: false,
        }
    }

    pub fn arg(mut self, a: impl Into<String>) -> Cmd {
        self.args.push(a.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, a: I) -> Cmd {
        self.args.extend(a.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the child (later calls with the same key win).
    pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Cmd {
        let k = k.into();
        self.env.retain(|(key, _)| *key != k);
        self.env.push((k, v.into()));
        self
    }

    pub fn cwd(mut self, p: impl Into<PathBuf>) -> Cmd {
        self.cwd = Some(p.into());
        self
    }

    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Cmd {
        self.stdin = Some(bytes.into());
        self
    }

    pub fn timeout(mut self, d: Duration) -> Cmd {
        self.timeout = d;
        self
    }

    /// Whether stdout is data for devenv to read rather than progress for a person:
    /// `-o json|yaml|name|jsonpath=…`, `--output …`, `--format …` (docker's Go templates),
    /// `k3d version -o json`, `kubectl kustomize` (the rendered manifests).
    pub fn stdout_is_data(&self) -> bool {
        const DATA: [&str; 5] = ["json", "yaml", "name", "jsonpath", "go-template"];
        let is_data = |v: &str| {
            DATA.iter()
                .any(|d| v == *d || v.starts_with(&format!("{d}=")))
        };
        let mut args = self.args.iter().map(String::as_str).peekable();
        if self.args.first().map(String::as_str) == Some("kustomize") {
            return true;
        }
        while let Some(a) = args.next() {
            match a {
                "-o" | "--output" => {
                    if args.peek().is_some_and(|v| is_data(v)) {
                        return true;
                    }
                }
                "--format" => return true,
                _ => {
                    if let Some(v) = a.strip_prefix("-o").or_else(|| a.strip_prefix("--output=")) {
                        if is_data(v.trim_start_matches('=')) {
                            return true;
                        }
                    }
                    if a.starts_with("--format=") {
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Marks the output as secret (the `secret_output` field): the log says that the
    /// command ran and how it ended, never what it printed.
    pub fn with_secret_output(mut self) -> Cmd {
        self.secret_output = true;
        self
    }

    /// The argv only (no env), shell-quoted.
    pub fn argv_display(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .map(quote)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A shell-quoted command line a user can paste, with `KEY=VALUE` for the env set
    /// through [`Cmd::env`] (values of secret-looking keys shown as `***`).
    pub fn display(&self) -> String {
        let mut out = String::new();
        for (k, v) in &self.env {
            let v = if is_secret_key(k) { "***" } else { v };
            out.push_str(&quote(k));
            out.push('=');
            out.push_str(&quote(v));
            out.push(' ');
        }
        out.push_str(&self.argv_display());
        out
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

fn quote(s: &str) -> String {
    // try_quote only fails on NUL bytes, which no argv can contain anyway.
    match shlex::try_quote(s) {
        Ok(q) => q.into_owned(),
        Err(_) => format!("{s:?}"),
    }
}

fn is_secret_key(k: &str) -> bool {
    let k = k.to_ascii_uppercase();
    ["PASSWORD", "TOKEN", "SECRET"]
        .iter()
        .any(|s| k.contains(s))
}

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

/// Why a command did not succeed.
///
/// `Display` names the command line, the status, the tail of its output and the log
/// file; [`RunError::hint`] is printed separately by the UI as a `hint:` line.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The program could not be started (usually: not installed / not on PATH).
    #[error("could not run `{cmd}`: {}", spawn_reason(program, source))]
    Spawn {
        cmd: String,
        program: String,
        #[source]
        source: io::Error,
        /// How to install the program; callers that know it fill it in.
        hint: Option<String>,
    },
    #[error("`{cmd}` failed ({}){}{}", status_text(*status, *signal), tail_block(*tail_stream, stderr_tail), log_line(log_path))]
    Failed {
        cmd: String,
        /// Exit code, or 128 + signal number.
        status: i32,
        /// Set when the command was killed by a signal it did not get from devenv.
        signal: Option<i32>,
        /// Last [`TAIL_LINES`] lines of stderr, or of stdout when stderr was empty.
        stderr_tail: String,
        /// Which stream `stderr_tail` comes from.
        tail_stream: Stream,
        log_path: PathBuf,
    },
    #[error("`{cmd}` timed out after {}{}{}", humantime::format_duration(*timeout), tail_block(*tail_stream, tail), log_line(log_path))]
    TimedOut {
        cmd: String,
        timeout: Duration,
        tail: String,
        tail_stream: Stream,
        log_path: PathBuf,
    },
    #[error("`{cmd}` was interrupted")]
    Interrupted { cmd: String },
}

fn spawn_reason(program: &str, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => format!("`{program}` was not found on PATH"),
        io::ErrorKind::PermissionDenied => format!("permission denied executing `{program}`"),
        _ => e.to_string(),
    }
}

fn status_text(status: i32, signal: Option<i32>) -> String {
    match signal {
        Some(sig) => format!("killed by signal {sig}{}", signal_name(sig)),
        None => format!("exit status: {status}"),
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGINT => " (SIGINT)",
        libc::SIGTERM => " (SIGTERM)",
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGSEGV => " (SIGSEGV)",
        libc::SIGABRT => " (SIGABRT)",
        libc::SIGPIPE => " (SIGPIPE)",
        _ => "",
    }
}

fn tail_block(stream: Stream, tail: &str) -> String {
    if tail.trim().is_empty() {
        return String::new();
    }
    let n = tail.lines().count();
    let what = if n == 1 {
        "line".to_string()
    } else {
        format!("{n} lines")
    };
    let name = match stream {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    };
    format!(
        "\n--- {name} (last {what})\n{}",
        tail.trim_end_matches('\n')
    )
}

fn log_line(path: &Path) -> String {
    format!("\n--- full log: {}", path.display())
}

impl RunError {
    /// The command line of the failed command.
    pub fn cmd(&self) -> &str {
        match self {
            RunError::Spawn { cmd, .. }
            | RunError::Failed { cmd, .. }
            | RunError::TimedOut { cmd, .. }
            | RunError::Interrupted { cmd } => cmd,
        }
    }

    pub fn is_interrupted(&self) -> bool {
        matches!(self, RunError::Interrupted { .. })
    }

    /// The captured output tail (empty for `Spawn`/`Interrupted`).
    pub fn output_tail(&self) -> &str {
        match self {
            RunError::Failed { stderr_tail, .. } => stderr_tail,
            RunError::TimedOut { tail, .. } => tail,
            _ => "",
        }
    }

    pub fn log_path(&self) -> Option<&Path> {
        match self {
            RunError::Failed { log_path, .. } | RunError::TimedOut { log_path, .. } => {
                Some(log_path)
            }
            _ => None,
        }
    }

    /// Sets the install hint of a `Spawn` error (no effect on other variants).
    pub fn with_install_hint(mut self, h: impl Into<String>) -> RunError {
        if let RunError::Spawn { hint, .. } = &mut self {
            *hint = Some(h.into());
        }
        self
    }

    /// What the user can do about it, when the error is a known problem.
    pub fn hint(&self) -> Option<String> {
        if let RunError::Spawn { hint, .. } = self {
            return hint.clone();
        }
        hint_for_output(self.cmd(), self.output_tail())
    }
}

/// Recognises well-known problems in a command's output.
pub fn hint_for_output(cmd: &str, text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    if lower.contains("cannot connect to the docker daemon")
        || lower.contains("is the docker daemon running")
    {
        return Some(
            "the Docker daemon is not running: start Docker (Docker Desktop, or \
             `sudo systemctl start docker`) and check with `docker version`"
                .into(),
        );
    }
    for needle in ["port is already allocated", "address already in use"] {
        if let Some(line) = text
            .lines()
            .find(|l| l.to_ascii_lowercase().contains(needle))
        {
            return Some(match port_in(line) {
                Some(port) => format!(
                    "port {port} is already in use by another process or container: free it \
                     (`docker ps --filter publish={port}`, `lsof -i :{port}`) or choose another \
                     port in devenv.toml"
                ),
                None => "a port devenv needs is already in use by another process or \
                         container: free it or choose another port in devenv.toml"
                    .into(),
            });
        }
    }
    if lower.contains("unrecognized condition: \"create\"") {
        return Some(
            "this kubectl does not support `wait --for=create` (added in kubectl 1.31): \
             install a newer kubectl (`devenv doctor` shows the versions found)"
                .into(),
        );
    }
    if let Some(pos) = lower.find("unknown flag:") {
        let flag = text[pos + "unknown flag:".len()..]
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_matches(|c| c == '"' || c == '\'');
        let program = cmd
            .split_whitespace()
            .find(|w| !w.contains('='))
            .unwrap_or("the program");
        return Some(format!(
            "`{program}` does not know the flag `{flag}`: it is probably older than devenv \
             needs; upgrade it (`devenv doctor` shows the versions found)"
        ));
    }
    None
}

/// The port in a docker/k3d "already in use" line: the digits after the last ':' that
/// is followed by digits (`Bind for 127.0.0.1:5001 failed`, `listen tcp 0.0.0.0:6443: bind`).
fn port_in(line: &str) -> Option<u16> {
    let bytes = line.as_bytes();
    let mut found = None;
    for (i, _) in line.match_indices(':') {
        let digits: String = bytes[i + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .map(|&b| b as char)
            .collect();
        if let Ok(p) = digits.parse::<u16>() {
            if p > 0 {
                found = Some(p);
            }
        }
    }
    found
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

        let start = Instant::now();
        let mut child = match command.spawn() {
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
            return match stop {
                Stop::Cancelled => {
                    log.write(&format!(
                        "==> interrupted after {}\n",
                        fmt_duration(out.duration)
                    ));
                    Err(RunError::Interrupted { cmd: line })
                }
                Stop::TimedOut => {
                    log.write(&format!(
                        "==> timed out after {}: process group killed\n",
                        fmt_duration(out.duration)
                    ));
                    let (tail, tail_stream) = if cmd.secret_output {
                        (String::new(), Stream::Stderr)
                    } else {
                        tail_of(&out)
                    };
                    Err(RunError::TimedOut {
                        cmd: line,
                        timeout: cmd.timeout,
                        tail,
                        tail_stream,
                        log_path,
                    })
                }
            };
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

/// SIGTERM to the group, SIGKILL after [`KILL_GRACE`], then reap the child.
async fn kill_group(pgid: Option<libc::pid_t>, child: &mut tokio::process::Child) {
    let Some(pgid) = pgid else {
        let _ = child.kill().await;
        return;
    };
    signal_group(pgid, libc::SIGTERM);
    let _ = tokio::time::timeout(KILL_GRACE, child.wait()).await;
    // Also when the child is gone: grandchildren that ignored SIGTERM are still in the
    // group. The pgid cannot have been reused this fast (pids are not recycled while a
    // group with that id still has members).
    signal_group(pgid, libc::SIGKILL);
    let _ = child.wait().await;
}

fn signal_group(pgid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: killpg has no memory-safety preconditions; ESRCH (group gone) is fine.
    unsafe {
        libc::killpg(pgid, sig);
    }
}

/// Process groups of commands still running, for [`kill_all_running`].
static ACTIVE_GROUPS: std::sync::Mutex<std::collections::BTreeSet<libc::pid_t>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

fn active_groups() -> std::sync::MutexGuard<'static, std::collections::BTreeSet<libc::pid_t>> {
    ACTIVE_GROUPS.lock().unwrap_or_else(|e| e.into_inner())
}

/// SIGKILLs the process group of every command running now. For exiting at once (a
/// second Ctrl-C): the groups are not in the terminal's foreground group, so nothing
/// else would stop them when devenv exits.
pub fn kill_all_running() {
    for pgid in active_groups().iter() {
        signal_group(*pgid, libc::SIGKILL);
    }
}

/// Registers a running group; kills it with SIGKILL if `run` is dropped half-way (e.g.
/// its task aborted) instead of finishing normally.
struct GroupGuard {
    pgid: Option<libc::pid_t>,
    /// The child's record file (see [`write_child_record`]), removed with the group.
    record: Option<PathBuf>,
}

impl GroupGuard {
    fn new(pgid: Option<libc::pid_t>) -> GroupGuard {
        if let Some(p) = pgid {
            active_groups().insert(p);
        }
        GroupGuard { pgid, record: None }
    }

    /// The group is dealt with (reaped or killed): forget it.
    fn disarm(&mut self) {
        if let Some(p) = self.pgid.take() {
            active_groups().remove(&p);
        }
        if let Some(r) = self.record.take() {
            let _ = std::fs::remove_file(r);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid {
            signal_group(pgid, libc::SIGKILL);
            self.disarm();
        }
    }
}

/// Linux: the child gets SIGKILL when devenv dies, even by SIGKILL (which no handler sees),
/// so a killed devenv leaves no `k3d cluster create` running on its own. The signal follows
/// the *thread* that forked: children are spawned from the runtime's worker threads, which
/// live as long as the command. What the child started itself (its process group) is
/// stopped by the next devenv from the child records ([`reap_leftovers`]).
#[cfg(target_os = "linux")]
fn set_parent_death_signal(command: &mut tokio::process::Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and only calls async-signal-safe
    // functions (prctl, getppid, _exit); it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // devenv died between fork and prctl: nobody would ever stop this child.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// Elsewhere there is no parent-death signal: the child records let the next devenv stop
/// what a killed one left running ([`reap_leftovers`]).
#[cfg(not(target_os = "linux"))]
fn set_parent_death_signal(_command: &mut tokio::process::Command) {}

/// What `<records>/<pgid>.json` says about a running child.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ChildRecord {
    /// The child's pid, which is also its process group id.
    pub pgid: i32,
    /// The devenv that started it.
    pub devenv_pid: u32,
    /// The command line (secrets in env masked, as in logs).
    pub command: String,
    /// RFC 3339.
    pub started_at: String,
    /// Who the group leader is: this boot's id and the leader's start time in clock ticks
    /// after boot (`/proc/PID/stat` field 22). A pid is reused once its process and group
    /// are gone (after a reboot, surely): the record then names someone else's process
    /// group, which must not be killed. `None` where there is no procfs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<LeaderId>,
}

/// See [`ChildRecord::leader`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeaderId {
    pub boot_id: String,
    pub start_ticks: u64,
}

/// The identity of process `pid` now, where procfs tells it.
pub fn leader_id(pid: libc::pid_t) -> Option<LeaderId> {
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) S ppid ...`: field 22 (starttime) is the 20th after the comm.
    let (_, rest) = stat.rsplit_once(')')?;
    let start_ticks = rest.split_whitespace().nth(19)?.parse().ok()?;
    Some(LeaderId {
        boot_id: boot_id.trim().to_string(),
        start_ticks,
    })
}

/// Whether the live group `rec.pgid` is still the one the record was made for: its leader
/// (the child) is the same process, or it has exited, in which case the group id cannot
/// have been reused (a pid stays taken while a group of that id has members). A record
/// with no identity is trusted only when procfs cannot tell (macOS).
fn same_group(rec: &ChildRecord) -> bool {
    let boot_now = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok();
    let Some(boot_now) = boot_now else {
        return true; // no procfs: nothing better to go by
    };
    let Some(recorded) = &rec.leader else {
        return false;
    };
    if recorded.boot_id != boot_now.trim() {
        return false;
    }
    match leader_id(rec.pgid) {
        Some(now) => now == *recorded,
        None => true,
    }
}

fn write_child_record(dir: &Path, pgid: libc::pid_t, command: &str) -> Option<PathBuf> {
    let rec = ChildRecord {
        pgid,
        devenv_pid: std::process::id(),
        command: command.to_string(),
        started_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        leader: leader_id(pgid),
    };
    let path = dir.join(format!("{pgid}.json"));
    let write = || -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(&path, serde_json::to_vec(&rec).map_err(io::Error::other)?)
    };
    match write() {
        Ok(()) => Some(path),
        Err(e) => {
            tracing::warn!("cannot record child {pgid} in {}: {e}", dir.display());
            None
        }
    }
}

/// Whether a process group still has a live member. Zombies do not count: a killed
/// child whose parent (the dead devenv) cannot reap it waits for init, which in a container
/// may never come.
fn group_alive(pgid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks existence and permission.
    if unsafe { libc::killpg(pgid, 0) } != 0 {
        return false;
    }
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return true; // no procfs (macOS): the group exists
    };
    procs.flatten().any(|e| {
        // `pid (comm) S ppid pgrp ...`: the comm may hold spaces and parentheses.
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            return false;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let mut f = rest.split_whitespace();
        let state = f.next().unwrap_or("Z");
        let pgrp = f.nth(1).and_then(|p| p.parse::<libc::pid_t>().ok());
        pgrp == Some(pgid) && state != "Z" && state != "X"
    })
}

/// Stops what a devenv that died (SIGKILL, power loss) left running, from its child
/// records in `dir`: each recorded process group still alive gets SIGTERM, then SIGKILL
/// after [`KILL_GRACE`]. Call it only while holding the project lock: then no other devenv
/// of this project runs, so every record is a leftover. Returns the records of the groups
/// it stopped.
pub fn reap_leftovers(dir: &Path) -> Vec<ChildRecord> {
    let mut stopped = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return stopped;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let rec: Option<ChildRecord> = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if let Some(rec) = rec {
            let mine = rec.devenv_pid == std::process::id();
            if !mine && rec.pgid > 1 && group_alive(rec.pgid) && same_group(&rec) {
                signal_group(rec.pgid, libc::SIGTERM);
                let deadline = Instant::now() + KILL_GRACE;
                while group_alive(rec.pgid) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                if group_alive(rec.pgid) {
                    signal_group(rec.pgid, libc::SIGKILL);
                }
                stopped.push(rec);
            } else if mine {
                continue;
            }
        }
        let _ = std::fs::remove_file(&path);
    }
    stopped
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

/// On SIGINT or SIGTERM, cancels `token` (every running command then stops and returns
/// [`RunError::Interrupted`]). A second signal kills every running command's group and
/// exits at once with [`INTERRUPTED_EXIT`], for when cleanup itself hangs. Must be
/// called inside the tokio runtime.
pub fn install_signal_handlers(token: CancellationToken) -> io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        let mut seen = false;
        loop {
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
            }
            if seen {
                kill_all_running();
                std::process::exit(INTERRUPTED_EXIT);
            }
            seen = true;
            token.cancel();
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn runner(dir: &Path) -> Runner {
        Runner::new(dir.join("logs"), CancellationToken::new())
    }

    fn sh(script: &str) -> Cmd {
        Cmd::new("sh").arg("-c").arg(script)
    }

    /// Polls `cond` every 10 ms until it holds or `within` has passed.
    async fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if cond() {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Gone = no such process, or a zombie waiting for init to reap it.
    fn process_gone(pid: i32) -> bool {
        // SAFETY: signal 0 only checks for existence.
        if unsafe { libc::kill(pid, 0) } != 0 {
            return true;
        }
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
            Err(_) => true,
        }
    }

    async fn read_pid(path: &Path) -> i32 {
        assert!(
            eventually(Duration::from_secs(5), || std::fs::read_to_string(path)
                .is_ok_and(|s| s.ends_with('\n')))
            .await,
            "pid file {} never written",
            path.display()
        );
        std::fs::read_to_string(path)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    #[tokio::test]
    async fn captures_stdout_and_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let out = runner(dir.path())
            .run("s", &sh("echo out; echo err >&2; printf 'no newline'"))
            .await
            .unwrap();
        assert_eq!(out.status, 0);
        assert_eq!(out.stdout_str(), "out\nno newline");
        assert_eq!(out.stderr_str(), "err\n");
    }

    #[tokio::test]
    async fn stdin_is_fed_and_env_and_cwd_apply() {
        let dir = tempfile::tempdir().unwrap();
        let cmd = sh("cat; echo \"$DEVENV_TEST_VAR\"; pwd")
            .stdin(b"from stdin\n".to_vec())
            .env("DEVENV_TEST_VAR", "v1")
            .cwd(dir.path());
        let out = runner(dir.path()).run("s", &cmd).await.unwrap();
        let cwd = dir.path().canonicalize().unwrap();
        assert_eq!(
            out.stdout_str(),
            format!("from stdin\nv1\n{}\n", cwd.display())
        );
    }

    #[tokio::test]
    async fn nonzero_exit_is_failed_with_tail_and_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let r = runner(dir.path());
        let script = "for i in $(seq 1 30); do echo line$i >&2; done; echo out; exit 3";
        let err = r.run("step-a", &sh(script)).await.unwrap_err();
        let RunError::Failed {
            cmd,
            status,
            signal,
            stderr_tail,
            tail_stream,
            log_path,
        } = &err
        else {
            panic!("expected Failed, got {err:?}");
        };
        assert_eq!(*status, 3);
        assert_eq!(*signal, None);
        assert_eq!(*tail_stream, Stream::Stderr);
        assert_eq!(cmd, &format!("sh -c '{script}'"));
        let expected: Vec<String> = (11..=30).map(|i| format!("line{i}")).collect();
        assert_eq!(stderr_tail, &expected.join("\n"));
        assert_eq!(log_path, &dir.path().join("logs/step-a.log"));
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!(
                "`sh -c '{script}'` failed (exit status: 3)\n--- stderr (last 20 lines)\nline11\n"
            )),
            "{shown}"
        );
        assert!(shown.ends_with(&format!("line30\n--- full log: {}", log_path.display())));
    }

    #[tokio::test]
    async fn failed_tail_falls_back_to_stdout_and_reports_signals() {
        let dir = tempfile::tempdir().unwrap();
        let r = runner(dir.path());
        let err = r
            .run("s", &sh("echo only stdout; exit 1"))
            .await
            .unwrap_err();
        assert_eq!(err.output_tail(), "only stdout");
        assert!(
            err.to_string()
                .contains("--- stdout (last line)\nonly stdout"),
            "{err}"
        );

        let err = r.run("s", &sh("kill -SEGV $$")).await.unwrap_err();
        assert!(
            matches!(
                err,
                RunError::Failed {
                    status: 139,
                    signal: Some(11),
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("killed by signal 11 (SIGSEGV)"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn run_unchecked_returns_nonzero_output() {
        let dir = tempfile::tempdir().unwrap();
        let out = runner(dir.path())
            .run_unchecked("s", &sh("echo NotFound >&2; exit 1"))
            .await
            .unwrap();
        assert_eq!(out.status, 1);
        assert_eq!(out.stderr_str(), "NotFound\n");
    }

    #[tokio::test]
    async fn timeout_kills_child_and_grandchild() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild.pid");
        let script = format!(
            "sleep 100 & echo $! > '{}'; echo started; sleep 100; wait",
            pidfile.display()
        );
        let started = Instant::now();
        let err = runner(dir.path())
            .run("t", &sh(&script).timeout(Duration::from_millis(300)))
            .await
            .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        let RunError::TimedOut { timeout, tail, .. } = &err else {
            panic!("expected TimedOut, got {err:?}");
        };
        assert_eq!(*timeout, Duration::from_millis(300));
        assert_eq!(tail, "started");
        assert!(err.to_string().starts_with("`sh -c "), "{err}");
        assert!(err.to_string().contains("timed out after 300ms"), "{err}");
        let pid = read_pid(&pidfile).await;
        assert!(
            eventually(Duration::from_secs(2), || process_gone(pid)).await,
            "grandchild {pid} survived"
        );
    }

    #[tokio::test]
    async fn sigterm_ignoring_group_is_killed_after_grace() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild.pid");
        // Ignored signals are inherited: neither sh nor its sleep die on SIGTERM.
        let script = format!(
            "trap '' TERM; sleep 100 & echo $! > '{}'; sleep 100; wait",
            pidfile.display()
        );
        let started = Instant::now();
        let err = runner(dir.path())
            .run("t", &sh(&script).timeout(Duration::from_millis(200)))
            .await
            .unwrap_err();
        assert!(matches!(err, RunError::TimedOut { .. }), "{err:?}");
        let took = started.elapsed();
        assert!(
            took >= KILL_GRACE && took < KILL_GRACE + Duration::from_secs(2),
            "{took:?}"
        );
        let pid = read_pid(&pidfile).await;
        assert!(
            eventually(Duration::from_secs(2), || process_gone(pid)).await,
            "grandchild {pid} survived"
        );
    }

    #[tokio::test]
    async fn cancellation_kills_group_and_returns_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild.pid");
        let token = CancellationToken::new();
        let r = Runner::new(dir.path().join("logs"), token.clone());
        let script = format!(
            "sleep 100 & echo $! > '{}'; sleep 100; wait",
            pidfile.display()
        );
        let task = tokio::spawn(async move { r.run("c", &sh(&script)).await });
        let pid = read_pid(&pidfile).await;
        let cancelled_at = Instant::now();
        token.cancel();
        let err = task.await.unwrap().unwrap_err();
        assert!(err.is_interrupted(), "{err:?}");
        assert_eq!(err.to_string(), format!("`{}` was interrupted", err.cmd()));
        assert!(
            cancelled_at.elapsed() < Duration::from_secs(2),
            "{:?}",
            cancelled_at.elapsed()
        );
        assert!(
            eventually(Duration::from_secs(2), || process_gone(pid)).await,
            "grandchild {pid} survived"
        );
        let log = std::fs::read_to_string(dir.path().join("logs/c.log")).unwrap();
        assert!(log.contains("==> interrupted after"), "{log}");
    }

    #[tokio::test]
    async fn already_cancelled_runner_starts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let token = CancellationToken::new();
        token.cancel();
        let marker = dir.path().join("ran");
        let err = Runner::new(dir.path().join("logs"), token)
            .run("c", &sh(&format!("touch '{}'", marker.display())))
            .await
            .unwrap_err();
        assert!(err.is_interrupted());
        assert!(!marker.exists());
    }

    #[tokio::test]
    async fn dropping_the_run_kills_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild.pid");
        let r = runner(dir.path());
        let script = format!(
            "sleep 100 & echo $! > '{}'; sleep 100; wait",
            pidfile.display()
        );
        let task = tokio::spawn(async move { r.run("d", &sh(&script)).await });
        let pid = read_pid(&pidfile).await;
        task.abort();
        let _ = task.await;
        assert!(
            eventually(Duration::from_secs(2), || process_gone(pid)).await,
            "grandchild {pid} survived"
        );
    }

    #[tokio::test]
    async fn background_grandchild_holding_pipes_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("bg.pid");
        let script = format!("sleep 100 & echo $! > '{}'; echo done", pidfile.display());
        let started = Instant::now();
        let out = runner(dir.path()).run("b", &sh(&script)).await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(out.stdout_str(), "done\n");
        let pid = read_pid(&pidfile).await;
        // SAFETY: the test's own background sleep.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }

    #[tokio::test]
    async fn log_file_has_header_lines_and_footer_appended_per_command() {
        let dir = tempfile::tempdir().unwrap();
        let r = runner(dir.path());
        r.run("step", &sh("echo one; echo two >&2; echo three"))
            .await
            .unwrap();
        let _ = r
            .run("step", &sh("exit 4").env("API_TOKEN", "hunter2"))
            .await;
        let log = std::fs::read_to_string(dir.path().join("logs/step.log")).unwrap();
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 7, "{log}");
        assert!(
            lines[0].starts_with("==> ")
                && lines[0].ends_with(" $ sh -c 'echo one; echo two >&2; echo three'"),
            "{log}"
        );
        // stdout and stderr lines may race each other, but each keeps its own order.
        let mut body = lines[1..4].to_vec();
        body.sort();
        assert_eq!(body, ["! two", "| one", "| three"]);
        assert!(log.find("| one").unwrap() < log.find("| three").unwrap());
        assert!(lines[4].starts_with("==> exit status: 0 after "), "{log}");
        assert!(
            lines[5].ends_with(" $ API_TOKEN='***' sh -c 'exit 4'"),
            "{log}"
        );
        assert!(!log.contains("hunter2"));
        assert!(lines[6].starts_with("==> exit status: 4 after "), "{log}");
    }

    #[test]
    fn stdout_is_data_only_when_asked_for_in_a_machine_format() {
        let c = |args: &[&str]| Cmd::new("kubectl").args(args.iter().copied());
        for data in [
            &["get", "nodes", "-o", "json"][..],
            &["get", "nodes", "-ojson"],
            &["get", "nodes", "--output=yaml"],
            &["get", "x", "-o", "jsonpath={.a}"],
            &["version", "--format", "{{.Server.Version}}"],
            &["kustomize", "dir"],
        ] {
            assert!(c(data).stdout_is_data(), "{data:?}");
        }
        for progress in [
            &["apply", "-f", "x.yaml"][..],
            &["get", "nodes", "-o", "wide"],
            &["rollout", "status", "deployment/x"],
        ] {
            assert!(!c(progress).stdout_is_data(), "{progress:?}");
        }
    }

    #[tokio::test]
    async fn secret_output_stays_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let seen = Arc::new(Mutex::new(0));
        let sink_seen = seen.clone();
        let r = runner(dir.path()).with_line_sink(Arc::new(move |_l: Line<'_>| {
            *sink_seen.lock().unwrap() += 1;
        }));
        let out = r
            .run(
                "helper",
                &sh("printf 'hun%s\\n' ter2; printf 'err-hun%s\\n' ter2 >&2").with_secret_output(),
            )
            .await
            .unwrap();
        assert_eq!(out.stdout_str(), "hunter2\n");
        let err = r
            .run(
                "helper",
                &sh("printf 'hun%s\\n' ter2; exit 3").with_secret_output(),
            )
            .await
            .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let log = std::fs::read_to_string(dir.path().join("logs/helper.log")).unwrap();
        assert!(!log.contains("hunter2"), "{log}");
        assert!(log.contains("==> exit status: 0 after"), "{log}");
        assert_eq!(*seen.lock().unwrap(), 0);
    }

    #[tokio::test]
    async fn child_records_live_as_long_as_the_child_and_leftovers_are_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let records = dir.path().join("children");
        let r = runner(dir.path()).with_child_records(records.clone());
        let rec_dir = records.clone();
        // The record is written right after the spawn (the pid is its name): wait for it.
        let d = rec_dir.display();
        let script =
            format!("while [ -z \"$(ls '{d}' 2>/dev/null)\" ]; do sleep 0.01; done; ls '{d}'");
        let out = r
            .run("s", &sh(&script).timeout(Duration::from_secs(10)))
            .await
            .unwrap();
        assert!(
            out.stdout_str().ends_with(".json\n"),
            "{}",
            out.stdout_str()
        );
        assert_eq!(std::fs::read_dir(&records).unwrap().count(), 0);
        // A leftover: a live group recorded by another (dead) devenv.
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sleep")
            .arg("100")
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id() as i32;
        let rec = ChildRecord {
            pgid,
            devenv_pid: 1,
            command: "sleep 100".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            leader: leader_id(pgid),
        };
        std::fs::write(
            records.join(format!("{pgid}.json")),
            serde_json::to_vec(&rec).unwrap(),
        )
        .unwrap();
        let stopped = reap_leftovers(&records);
        assert_eq!(stopped.len(), 1);
        assert_eq!(stopped[0].pgid, pgid);
        let _ = child.wait();
        assert_eq!(std::fs::read_dir(&records).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn line_sink_sees_every_line() {
        let dir = tempfile::tempdir().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink_seen = seen.clone();
        let r = runner(dir.path()).with_line_sink(Arc::new(move |l: Line<'_>| {
            sink_seen
                .lock()
                .unwrap()
                .push((l.step_id.to_string(), l.stream, l.text.to_string()));
        }));
        r.run("img", &sh("echo a; echo b; echo c >&2"))
            .await
            .unwrap();
        let mut seen = seen.lock().unwrap().clone();
        seen.sort_by(|a, b| a.2.cmp(&b.2));
        assert_eq!(
            seen,
            [
                ("img".to_string(), Stream::Stdout, "a".to_string()),
                ("img".to_string(), Stream::Stdout, "b".to_string()),
                ("img".to_string(), Stream::Stderr, "c".to_string()),
            ]
        );
    }

    #[tokio::test]
    async fn missing_program_is_spawn_error_with_hint_hook() {
        let dir = tempfile::tempdir().unwrap();
        let err = runner(dir.path())
            .run("s", &Cmd::new("devenv-no-such-program").arg("version"))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "could not run `devenv-no-such-program version`: `devenv-no-such-program` was not found on PATH"
        );
        assert_eq!(err.hint(), None);
        let err = err.with_install_hint("install it from https://example.invalid");
        assert_eq!(
            err.hint().as_deref(),
            Some("install it from https://example.invalid")
        );
        let log = std::fs::read_to_string(dir.path().join("logs/s.log")).unwrap();
        assert!(
            log.contains("==> could not start: `devenv-no-such-program` was not found on PATH"),
            "{log}"
        );
    }

    #[test]
    fn display_quotes_args_and_masks_secrets() {
        let cmd = Cmd::new("kubectl")
            .args([
                "apply",
                "-f",
                "my file.yaml",
                "--selector=app in (a,b)",
                "it's",
                "",
            ])
            .env("LOG_COLORS", "false")
            .env("DOCKER_PASSWORD", "pw")
            .env("gh_token", "t")
            .env("ClientSecret", "s")
            .env("LOG_COLORS", "true");
        assert_eq!(
            cmd.display(),
            "DOCKER_PASSWORD='***' gh_token='***' ClientSecret='***' LOG_COLORS=true \
             kubectl apply -f 'my file.yaml' '--selector=app in (a,b)' \"it's\" ''"
        );
        assert_eq!(
            cmd.argv_display(),
            cmd.display().split_once("true ").unwrap().1
        );
        assert_eq!(cmd.to_string(), cmd.display());
        // What is shown parses back to the same argv.
        assert_eq!(
            shlex::split(&cmd.argv_display()).unwrap(),
            std::iter::once(cmd.program.clone())
                .chain(cmd.args.clone())
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn hints_recognise_known_problems() {
        let h = |text: &str| hint_for_output("docker push x", text);
        assert!(h("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?")
            .unwrap()
            .contains("Docker daemon is not running"));
        let port = h("docker: Error response from daemon: driver failed programming external connectivity on endpoint k3d-p-registry: Bind for 127.0.0.1:5001 failed: port is already allocated.").unwrap();
        assert!(port.starts_with("port 5001 is already in use"), "{port}");
        let port = h("Error: listen tcp 0.0.0.0:6443: bind: address already in use").unwrap();
        assert!(port.starts_with("port 6443 is already in use"), "{port}");
        assert!(h("bind: address already in use")
            .unwrap()
            .starts_with("a port devenv needs"));
        let old = hint_for_output(
            "kubectl --kubeconfig k wait --for=create tigerastatus/calico",
            "error: unrecognized condition: \"create\"",
        )
        .unwrap();
        assert!(old.contains("kubectl 1.31"), "{old}");
        let flag = hint_for_output(
            "LOG_COLORS=false k3d registry create p --no-help",
            "time=\"2026-06-12T09:41:03Z\" level=fatal msg=\"unknown flag: --no-help\"",
        )
        .unwrap();
        assert!(
            flag.starts_with("`k3d` does not know the flag `--no-help`"),
            "{flag}"
        );
        assert_eq!(h("error: something else entirely"), None);
    }

    #[tokio::test]
    async fn run_error_hint_reads_the_failed_output() {
        let dir = tempfile::tempdir().unwrap();
        let err = runner(dir.path())
            .run("s", &sh("echo 'Is the docker daemon running?' >&2; exit 1"))
            .await
            .unwrap_err();
        assert!(err.hint().unwrap().contains("Docker daemon is not running"));
    }
}
