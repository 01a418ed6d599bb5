//! [`RunError`]: why a command did not succeed, and the hints for well-known failures.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Stream;

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
        /// Last [`TAIL_LINES`](super::TAIL_LINES) lines of stderr, or of stdout when stderr was empty.
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

pub(super) fn spawn_reason(program: &str, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => format!("`{program}` was not found on PATH"),
        io::ErrorKind::PermissionDenied => format!("permission denied executing `{program}`"),
        _ => e.to_string(),
    }
}

pub(super) fn status_text(status: i32, signal: Option<i32>) -> String {
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
    // Kustomize before v5.8 probes helm with `helm version -c`, a flag helm v4 removed
    // (kubernetes-sigs/kustomize#6013): an overlay's `helmCharts:` then cannot render.
    if lower.contains("helm version -c") && lower.contains("unknown shorthand flag") {
        return Some(
            "this kustomize is older than v5.8 and cannot run helm v4 for `helmCharts:`: \
             install a kubectl whose `kubectl version --client` shows Kustomize v5.8 or newer \
             (kubectl 1.37 does), set `[build] kustomize` to a kustomize v5.8+, or use helm v3"
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
