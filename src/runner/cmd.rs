//! [`Cmd`]: the one command type. The plan builds it (and prints it, `plan -o json`
//! serializes it), the runner runs it; it displays itself one way, secrets masked.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::DEFAULT_TIMEOUT;

/// A command to run: program and argv, never a shell string.
///
/// Serialized (for `devenv plan -o json`) as `program`, `args`, `env` (when set), `purpose`
/// and `timeout_secs`; the working directory, stdin and the secret flag are run-time only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cmd {
    pub program: String,
    pub args: Vec<String>,
    /// Added to (or overriding) the inherited environment; shown by [`Cmd::display`]
    /// (e.g. `LOG_COLORS=false` for k3d).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<(String, String)>,
    /// What the command is for, used in messages: "failed to {purpose}".
    pub purpose: String,
    #[serde(rename = "timeout_secs", serialize_with = "whole_seconds")]
    pub timeout: Duration,
    #[serde(skip)]
    pub cwd: Option<PathBuf>,
    /// Bytes written to the child's stdin (then closed); `None` = stdin is /dev/null.
    #[serde(skip)]
    pub stdin: Option<Vec<u8>>,
    /// The output is a secret (a credential helper's answer): it is kept in memory only,
    /// never written to the log file nor handed to the line sink.
    #[serde(skip)]
    pub secret_output: bool,
}

fn whole_seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

impl Cmd {
    pub fn new(program: impl Into<String>) -> Cmd {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            purpose: String::new(),
            timeout: DEFAULT_TIMEOUT,
            cwd: None,
            stdin: None,
            secret_output: false,
        }
    }

    /// What the plan shows: `program ARGS…`, what it is for, and its timeout in seconds.
    pub fn planned<S: AsRef<str>>(
        program: &str,
        args: &[S],
        purpose: impl Into<String>,
        timeout_secs: u64,
    ) -> Cmd {
        Cmd::new(program)
            .args(args)
            .purpose(purpose)
            .timeout(Duration::from_secs(timeout_secs))
    }

    pub fn purpose(mut self, p: impl Into<String>) -> Cmd {
        self.purpose = p.into();
        self
    }

    pub fn arg(mut self, a: impl AsRef<str>) -> Cmd {
        self.args.push(a.as_ref().to_string());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, a: I) -> Cmd {
        self.args
            .extend(a.into_iter().map(|s| s.as_ref().to_string()));
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

/// Quote for a POSIX shell only when needed (`--for=condition=Ready` stays readable).
pub fn quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-@%+=:,./".contains(c));
    if safe {
        return s.to_string();
    }
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
