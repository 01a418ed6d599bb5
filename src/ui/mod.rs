//! How devenv talks to a human: one [`Reporter`], chosen once per run.
//!
//! * [`OutputMode::Tty`]: an indicatif spinner per running step; finished steps are
//!   printed above the spinners (`✓ title (1.2s)`), so lines never tear.
//! * [`OutputMode::Plain`]: one timestamped line per event, no escape codes (pipes, CI,
//!   `TERM=dumb`).
//! * [`OutputMode::Github`]: Plain, plus each step's output folded in `::group::`,
//!   failures as `::error` annotations and a Markdown job summary.
//! * [`OutputMode::Json`]: the command prints data on stdout; only warnings and errors
//!   reach stderr.
//!
//! Human output goes to stderr; data (JSON, `status` tables) is the commands' business
//! on stdout. Color is never the only signal: every line carries a symbol or a word.

pub mod github;
pub mod gitlab;

pub use github::{
    annotation, append_step_summary, escape_data, escape_property, step_summary_markdown, Level,
};

use std::collections::HashMap;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use console::Style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// Where and how human output is written; chosen once by [`detect`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputMode {
    Tty,
    Plain,
    Github,
    /// GitLab CI (`GITLAB_CI=true`): Plain, plus each step's output in a collapsible
    /// section and failures as `file:line:col: error:` lines.
    Gitlab,
    /// Machine output on stdout: human lines are suppressed (warnings/errors still go
    /// to stderr, which does not disturb the JSON).
    Json,
}

/// The global output flags of the command line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UiFlags {
    /// `-q`: only errors and the final one-line result.
    pub quiet: bool,
    /// `-v`: also each step's output lines.
    pub verbose: bool,
    /// `--no-color` (the `NO_COLOR` variable is read by [`color_enabled`]).
    pub no_color: bool,
    /// `-o json` / `--json`.
    pub output_json: bool,
}

/// Picks the output mode from the flags, the environment and whether stderr is a terminal.
pub fn detect(flags: UiFlags) -> OutputMode {
    detect_with(
        flags,
        |k| std::env::var(k).ok(),
        std::io::stderr().is_terminal(),
    )
}

/// [`detect`] with the environment and the terminal test given (for tests).
pub fn detect_with(
    flags: UiFlags,
    env: impl Fn(&str) -> Option<String>,
    stderr_is_terminal: bool,
) -> OutputMode {
    if flags.output_json {
        return OutputMode::Json;
    }
    if env("GITHUB_ACTIONS").as_deref() == Some("true") {
        return OutputMode::Github;
    }
    if gitlab::detected(&env) {
        return OutputMode::Gitlab;
    }
    // As cargo's `progress_supported`: CI systems often allocate a PTY, where spinners
    // only fill the log with redraws.
    let ci = is_ci_with(&env);
    let dumb = env("TERM").as_deref() == Some("dumb");
    if ci || dumb || !stderr_is_terminal {
        OutputMode::Plain
    } else {
        OutputMode::Tty
    }
}

/// Whether a CI system runs us (`CI` set to anything but empty, `false` or `0`, or
/// `GITHUB_ACTIONS=true`): no prompts, no spinners.
pub fn is_ci() -> bool {
    is_ci_with(|k| std::env::var(k).ok())
}

fn is_ci_with(env: impl Fn(&str) -> Option<String>) -> bool {
    env("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
        || env("GITHUB_ACTIONS").as_deref() == Some("true")
        || gitlab::detected(&env)
}

/// Whether to color: only on a terminal, never with `--no-color` or a non-empty `NO_COLOR`.
pub fn color_enabled(flags: UiFlags, mode: OutputMode) -> bool {
    color_enabled_with(flags, mode, |k| std::env::var(k).ok())
}

fn color_enabled_with(
    flags: UiFlags,
    mode: OutputMode,
    env: impl Fn(&str) -> Option<String>,
) -> bool {
    mode == OutputMode::Tty && !flags.no_color && env("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A place in a file an error refers to (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLocation {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub col: Option<usize>,
}

impl SourceLocation {
    pub fn new(file: impl Into<PathBuf>, line: usize, col: usize) -> SourceLocation {
        SourceLocation {
            file: file.into(),
            line: Some(line),
            col: Some(col),
        }
    }

    /// The whole file (no line known).
    pub fn file(file: impl Into<PathBuf>) -> SourceLocation {
        SourceLocation {
            file: file.into(),
            line: None,
            col: None,
        }
    }
}

impl std::fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.col {
                write!(f, ":{c}")?;
            }
        }
        Ok(())
    }
}

/// How a step ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    Done,
    Skipped { reason: String },
    Failed { message: String },
    Interrupted,
}

/// One step of a finished run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRecord {
    pub id: String,
    pub title: String,
    pub outcome: StepOutcome,
    pub duration: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageAction {
    Built,
    /// Already in the registry with the same content hash.
    Reused,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRecord {
    pub name: String,
    /// `localhost:5111/api:3f2a…`
    pub reference: String,
    pub action: ImageAction,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverlayRecord {
    pub name: String,
    /// Number of objects applied.
    pub objects: usize,
    /// Hash of the rendered manifest.
    pub hash: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub name: String,
    pub url: String,
}

/// What a run did, for the final summary (terminal table and GitHub job summary).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// The subcommand, e.g. `up` (shown as "devenv up").
    pub command: String,
    pub steps: Vec<StepRecord>,
    pub images: Vec<ImageRecord>,
    pub overlays: Vec<OverlayRecord>,
    pub endpoints: Vec<Endpoint>,
    pub total: Duration,
}

/// The overall result of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunResult {
    Succeeded,
    Failed,
    Interrupted,
}

impl RunResult {
    pub fn word(self) -> &'static str {
        match self {
            RunResult::Succeeded => "succeeded",
            RunResult::Failed => "failed",
            RunResult::Interrupted => "interrupted",
        }
    }
}

impl RunSummary {
    /// Interrupted wins over failed (a Ctrl-C often makes running steps fail).
    pub fn result(&self) -> RunResult {
        if self
            .steps
            .iter()
            .any(|s| s.outcome == StepOutcome::Interrupted)
        {
            RunResult::Interrupted
        } else if self
            .steps
            .iter()
            .any(|s| matches!(s.outcome, StepOutcome::Failed { .. }))
        {
            RunResult::Failed
        } else {
            RunResult::Succeeded
        }
    }

    /// The final one-line result, e.g. `devenv up succeeded in 1m02s: 5 done, 3 skipped`.
    pub fn result_line(&self) -> String {
        let what = if self.command.is_empty() {
            "devenv".to_string()
        } else {
            format!("devenv {}", self.command)
        };
        let count =
            |f: fn(&StepOutcome) -> bool| self.steps.iter().filter(|s| f(&s.outcome)).count();
        let done = count(|o| *o == StepOutcome::Done);
        let skipped = count(|o| matches!(o, StepOutcome::Skipped { .. }));
        let failed: Vec<&str> = self
            .steps
            .iter()
            .filter(|s| matches!(s.outcome, StepOutcome::Failed { .. }))
            .map(|s| s.id.as_str())
            .collect();
        let mut parts = vec![format!("{done} done"), format!("{skipped} skipped")];
        if !failed.is_empty() {
            parts.push(format!("{} failed ({})", failed.len(), failed.join(", ")));
        }
        format!(
            "{what} {} in {}: {}",
            self.result().word(),
            format_duration(self.total),
            parts.join(", ")
        )
    }
}

/// `0.4s`, `12.3s`, `2m05s`, `1h02m`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else if secs < 3600.0 {
        let s = d.as_secs();
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let s = d.as_secs();
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// Removes escape sequences and control characters from a tool's output line, so Plain
/// and GitHub logs stay clean whatever the tool printed (docker, k3d color codes).
pub fn sanitize_line(line: &str) -> String {
    let stripped = console::strip_ansi_codes(line);
    // A carriage return inside a line is a progress redraw: keep the last frame.
    let last = stripped.rsplit('\r').find(|s| !s.is_empty()).unwrap_or("");
    let clean: String = last
        .chars()
        .filter(|c| *c == '\t' || !c.is_control())
        .collect();
    redact_cluster_token(&clean)
}

/// The k3s cluster token (a node that has it joins the cluster) appears in `k3d node list
/// -o json` (each node's env `K3S_TOKEN=…` and label `k3d.cluster.token`), which devenv
/// reads to observe the cluster: shown in a CI log (GitHub/GitLab groups, `-v`) it would be
/// readable by everyone who can read the job. Its value is masked as `***`.
pub fn redact_cluster_token(line: &str) -> String {
    const KEYS: [&str; 2] = ["K3S_TOKEN=", "\"k3d.cluster.token\":\""];
    if !KEYS.iter().any(|k| line.contains(k)) {
        return line.to_string();
    }
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some((at, key)) = KEYS
        .iter()
        .filter_map(|k| rest.find(k).map(|i| (i, *k)))
        .min_by_key(|(i, _)| *i)
    {
        let value_start = at + key.len();
        out.push_str(&rest[..value_start]);
        let value = &rest[value_start..];
        let end = value
            .find(|c: char| c == '"' || c == ',' || c.is_whitespace())
            .unwrap_or(value.len());
        if end > 0 {
            out.push_str("***");
        }
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

/// The spinners of the running Tty reporter, so tracing output can be printed above them.
static ACTIVE_PROGRESS: Mutex<Option<MultiProgress>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while printing must not silence every later message.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct RunningStep {
    title: String,
    bar: Option<ProgressBar>,
    /// GitHub and GitLab modes: the step's output, emitted as one group when it finishes.
    lines: Vec<String>,
    /// When the step started (GitLab's section markers carry it).
    started: SystemTime,
}

struct Inner {
    mode: OutputMode,
    quiet: bool,
    verbose: bool,
    color: bool,
    out: Mutex<Box<dyn Write + Send>>,
    steps: Mutex<HashMap<String, RunningStep>>,
    /// Tty only; hidden when quiet or when writing somewhere other than stderr.
    progress: Option<MultiProgress>,
    step_summary: Mutex<Option<PathBuf>>,
    workspace: Option<PathBuf>,
    /// Whether `progress` is the one tracing prints above ([`ACTIVE_PROGRESS`]).
    registered: bool,
}

/// Reports progress to the user; cheap to clone, shared by the engine's tasks.
#[derive(Clone)]
pub struct Reporter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter")
            .field("mode", &self.inner.mode)
            .field("quiet", &self.inner.quiet)
            .field("verbose", &self.inner.verbose)
            .finish()
    }
}

impl Reporter {
    /// A reporter writing to stderr. In Github mode the job summary goes to the file
    /// named by `$GITHUB_STEP_SUMMARY`.
    pub fn new(mode: OutputMode, flags: UiFlags) -> Reporter {
        let color = color_enabled(flags, mode);
        Reporter::build(mode, flags, color, Box::new(io::stderr()), true)
    }

    /// A reporter writing to `out` (tests, or a log). No spinners are drawn and no color
    /// is used; lines are the same as [`Reporter::new`] would print.
    pub fn with_writer(mode: OutputMode, flags: UiFlags, out: Box<dyn Write + Send>) -> Reporter {
        Reporter::build(mode, flags, false, out, false)
    }

    fn build(
        mode: OutputMode,
        flags: UiFlags,
        color: bool,
        out: Box<dyn Write + Send>,
        draw: bool,
    ) -> Reporter {
        let progress = (mode == OutputMode::Tty).then(|| {
            let target = if draw && !flags.quiet {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            };
            MultiProgress::with_draw_target(target)
        });
        let registered = draw && progress.as_ref().is_some_and(|p| !p.is_hidden());
        if registered {
            *lock(&ACTIVE_PROGRESS) = progress.clone();
        }
        let github = mode == OutputMode::Github;
        let env_path = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Reporter {
            inner: Arc::new(Inner {
                mode,
                quiet: flags.quiet,
                verbose: flags.verbose,
                color,
                out: Mutex::new(out),
                steps: Mutex::new(HashMap::new()),
                progress,
                step_summary: Mutex::new(if github {
                    env_path("GITHUB_STEP_SUMMARY")
                } else {
                    None
                }),
                workspace: if github {
                    env_path("GITHUB_WORKSPACE")
                } else {
                    None
                },
                registered,
            }),
        }
    }

    /// Overrides where the GitHub job summary is appended (`None`: nowhere).
    pub fn set_step_summary_path(&self, path: Option<PathBuf>) {
        *lock(&self.inner.step_summary) = path;
    }

    pub fn mode(&self) -> OutputMode {
        self.inner.mode
    }

    pub fn is_quiet(&self) -> bool {
        self.inner.quiet
    }

    pub fn is_verbose(&self) -> bool {
        self.inner.verbose
    }

    /// A runner line sink that forwards every command output line to
    /// [`Reporter::step_output_line`].
    pub fn line_sink(&self) -> crate::runner::LineSink {
        let r = self.clone();
        Arc::new(move |l: crate::runner::Line<'_>| r.step_output_line(l.step_id, l.text))
    }

    fn style(&self, s: Style) -> Style {
        s.force_styling(self.inner.color)
    }

    /// Writes whole lines at once, above the spinners (Tty).
    fn emit(&self, text: &str) {
        let write = || {
            let mut out = lock(&self.inner.out);
            let _ = out.write_all(text.as_bytes());
            if !text.ends_with('\n') {
                let _ = out.write_all(b"\n");
            }
            let _ = out.flush();
        };
        match &self.inner.progress {
            Some(p) if !p.is_hidden() => p.suspend(write),
            _ => write(),
        }
    }

    /// `2026-11-25T01:40:02Z  start  cluster  Create k3d cluster devenv`; continuation
    /// lines of a multi-line text are indented under the text.
    fn plain_line(kind: &str, text: &str) -> String {
        let prefix = format!(
            "{}  {kind:<5}  ",
            humantime::format_rfc3339_seconds(SystemTime::now())
        );
        let pad = " ".repeat(prefix.len());
        let mut out = String::new();
        for (i, line) in text.trim_end_matches('\n').split('\n').enumerate() {
            out.push_str(if i == 0 { &prefix } else { &pad });
            out.push_str(&sanitize_line(line));
            out.push('\n');
        }
        out
    }

    /// A step begins.
    pub fn step_started(&self, id: &str, title: &str) {
        let inner = &self.inner;
        let mut bar = None;
        match inner.mode {
            OutputMode::Tty => {
                if let Some(p) = inner.progress.as_ref().filter(|p| !p.is_hidden()) {
                    let b = p.add(ProgressBar::new_spinner());
                    b.set_style(self.spinner_style());
                    b.set_message(title.to_string());
                    b.enable_steady_tick(Duration::from_millis(100));
                    bar = Some(b);
                }
            }
            OutputMode::Plain | OutputMode::Github | OutputMode::Gitlab if !inner.quiet => {
                self.emit(&Self::plain_line("start", &format!("{id}  {title}")));
            }
            _ => {}
        }
        lock(&inner.steps).insert(
            id.to_string(),
            RunningStep {
                title: title.to_string(),
                bar,
                lines: Vec::new(),
                started: SystemTime::now(),
            },
        );
    }

    fn spinner_style(&self) -> ProgressStyle {
        let template = if self.inner.color {
            "{spinner:.cyan} {wide_msg} {secs:.dim}"
        } else {
            "{spinner} {wide_msg} {secs}"
        };
        ProgressStyle::with_template(template)
            .expect("valid spinner template")
            .with_key("secs", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}", format_duration(s.elapsed()));
            })
    }

    /// One line of a step's command output (docker build, kubectl apply...). Shown with
    /// `-v`, and in GitHub mode folded into the step's group.
    pub fn step_output_line(&self, id: &str, line: &str) {
        let inner = &self.inner;
        match inner.mode {
            OutputMode::Tty => {
                let steps = lock(&inner.steps);
                let step = steps.get(resolve_step_id(&steps, id));
                if let Some((b, title)) = step.and_then(|s| s.bar.as_ref().map(|b| (b, &s.title))) {
                    // The latest line next to the spinner says what the step is doing.
                    let clean = sanitize_line(line);
                    if !clean.trim().is_empty() {
                        b.set_message(format!("{title} · {}", clean.trim()));
                    }
                }
                drop(steps);
                if inner.verbose && !inner.quiet {
                    let bar = self.style(Style::new().dim()).apply_to(format!("{id} │"));
                    self.emit(&format!("{bar} {}", sanitize_line(line)));
                }
            }
            OutputMode::Plain => {
                if inner.verbose && !inner.quiet {
                    self.emit(&Self::plain_line("out", &format!("{id}  {line}")));
                }
            }
            OutputMode::Github | OutputMode::Gitlab => {
                let mut steps = lock(&inner.steps);
                let key = resolve_step_id(&steps, id).to_string();
                let step = steps.entry(key).or_insert_with(|| RunningStep {
                    title: id.to_string(),
                    bar: None,
                    lines: Vec::new(),
                    started: SystemTime::now(),
                });
                step.lines.push(sanitize_line(line));
            }
            OutputMode::Json => {}
        }
    }

    /// A step ended. A failure's message is printed here (the engine need not call
    /// [`Reporter::error`] for it too).
    pub fn step_finished(&self, id: &str, outcome: &StepOutcome, duration: Duration) {
        self.step_finished_at(id, outcome, duration, None)
    }

    /// [`Reporter::step_finished`] for a step whose failure is about a place in the
    /// config (`devenv.toml:12:3`): the location is shown under the message, and in GitHub
    /// mode the `::error` annotation is attached to that line.
    pub fn step_finished_at(
        &self,
        id: &str,
        outcome: &StepOutcome,
        duration: Duration,
        location: Option<&SourceLocation>,
    ) {
        let inner = &self.inner;
        let step = lock(&inner.steps).remove(id);
        let (title, lines, started) = match step {
            Some(s) => {
                if let Some(b) = &s.bar {
                    b.finish_and_clear();
                    if let Some(p) = &inner.progress {
                        p.remove(b);
                    }
                }
                (s.title, s.lines, s.started)
            }
            None => (id.to_string(), Vec::new(), SystemTime::now() - duration),
        };
        let failed = matches!(outcome, StepOutcome::Failed { .. });
        if inner.quiet && !failed {
            return;
        }
        let took = format_duration(duration);
        match inner.mode {
            OutputMode::Tty => {
                let line = match outcome {
                    StepOutcome::Done => format!(
                        "{} {title} {}",
                        self.style(Style::new().green()).apply_to("✓"),
                        self.style(Style::new().dim()).apply_to(format!("({took})"))
                    ),
                    StepOutcome::Skipped { reason } => format!(
                        "{} {title} {}",
                        self.style(Style::new().cyan()).apply_to("↷"),
                        self.style(Style::new().dim())
                            .apply_to(format!("(skipped: {reason})"))
                    ),
                    StepOutcome::Failed { message } => {
                        let mut s = format!(
                            "{} {title} {}",
                            self.style(Style::new().red().bold()).apply_to("✗"),
                            self.style(Style::new().red())
                                .apply_to(format!("(failed after {took})"))
                        );
                        for l in message.trim_end().lines() {
                            s.push_str("\n  ");
                            s.push_str(l);
                        }
                        if let Some(loc) = location {
                            s.push_str(&format!(
                                "\n  {} {loc}",
                                self.style(Style::new().blue()).apply_to("-->")
                            ));
                        }
                        s
                    }
                    StepOutcome::Interrupted => format!(
                        "{} {title} {}",
                        self.style(Style::new().yellow()).apply_to("⊘"),
                        self.style(Style::new().yellow())
                            .apply_to(format!("(interrupted after {took})"))
                    ),
                };
                self.emit(&line);
            }
            OutputMode::Plain | OutputMode::Github => {
                let text = match outcome {
                    StepOutcome::Done => {
                        Self::plain_line("done", &format!("{id}  {title} ({took})"))
                    }
                    StepOutcome::Skipped { reason } => {
                        Self::plain_line("skip", &format!("{id}  {title} (skipped: {reason})"))
                    }
                    // In GitHub mode the message goes to the annotation below.
                    StepOutcome::Failed { message } if inner.mode == OutputMode::Plain => {
                        Self::plain_line(
                            "fail",
                            &format!(
                                "{id}  {title} (failed after {took})\n{}{}",
                                message.trim_end(),
                                location.map(|l| format!("\n--> {l}")).unwrap_or_default()
                            ),
                        )
                    }
                    StepOutcome::Failed { .. } => {
                        Self::plain_line("fail", &format!("{id}  {title} (failed after {took})"))
                    }
                    StepOutcome::Interrupted => Self::plain_line(
                        "intr",
                        &format!("{id}  {title} (interrupted after {took})"),
                    ),
                };
                if inner.mode == OutputMode::Plain {
                    self.emit(&text);
                } else {
                    let mut block = github_group(text.trim_end(), &lines);
                    if let StepOutcome::Failed { message } = outcome {
                        block.push_str(&annotation(
                            Level::Error,
                            Some(&title),
                            location,
                            inner.workspace.as_deref(),
                            message,
                        ));
                        block.push('\n');
                    }
                    // One write: groups of concurrent steps never interleave.
                    self.emit(&block);
                }
            }
            OutputMode::Gitlab => {
                let (kind, what) = match outcome {
                    StepOutcome::Done => ("done", format!("({took})")),
                    StepOutcome::Skipped { reason } => ("skip", format!("(skipped: {reason})")),
                    StepOutcome::Failed { .. } => ("fail", format!("(failed after {took})")),
                    StepOutcome::Interrupted => ("intr", format!("(interrupted after {took})")),
                };
                let header = Self::plain_line(kind, &format!("{id}  {title} {what}"));
                let mut block = if lines.is_empty() {
                    header
                } else {
                    // A failed step stays expanded: its output is what the reader wants.
                    gitlab::section(
                        &gitlab::section_name(id),
                        header.trim_end(),
                        &lines,
                        !failed,
                        started,
                        SystemTime::now(),
                    )
                };
                if let StepOutcome::Failed { message } = outcome {
                    block.push_str(&gitlab::error_line(
                        location,
                        &format!("{title}: {}", message.trim_end()),
                    ));
                }
                // One write: sections of concurrent steps never interleave.
                self.emit(&block);
            }
            OutputMode::Json => {}
        }
    }

    /// A neutral message (suppressed by `-q` and in JSON mode).
    pub fn info(&self, msg: &str) {
        let inner = &self.inner;
        if inner.quiet {
            return;
        }
        match inner.mode {
            OutputMode::Tty => self.emit(msg),
            OutputMode::Plain | OutputMode::Github | OutputMode::Gitlab => {
                self.emit(&Self::plain_line("info", msg))
            }
            OutputMode::Json => {}
        }
    }

    /// Something the user should know about (suppressed by `-q`).
    pub fn warn(&self, msg: &str) {
        let inner = &self.inner;
        if inner.quiet {
            return;
        }
        match inner.mode {
            OutputMode::Tty | OutputMode::Json => self.emit(&format!(
                "{} {msg}",
                self.style(Style::new().yellow().bold())
                    .apply_to("warning:")
            )),
            OutputMode::Plain | OutputMode::Gitlab => self.emit(&Self::plain_line("warn", msg)),
            OutputMode::Github => {
                self.emit(&annotation(Level::Warning, None, None, None, msg));
            }
        }
    }

    /// An error, optionally at a place in a file (e.g. `devenv.toml:12:3`). Always shown.
    pub fn error(&self, msg: &str, location: Option<&SourceLocation>) {
        let inner = &self.inner;
        match inner.mode {
            OutputMode::Tty | OutputMode::Json => {
                let mut s = format!(
                    "{} {msg}",
                    self.style(Style::new().red().bold()).apply_to("error:")
                );
                if let Some(loc) = location {
                    s.push_str(&format!(
                        "\n  {} {loc}",
                        self.style(Style::new().blue()).apply_to("-->")
                    ));
                }
                self.emit(&s);
            }
            OutputMode::Plain => {
                let text = match location {
                    Some(loc) => format!("{loc}: {msg}"),
                    None => msg.to_string(),
                };
                self.emit(&Self::plain_line("error", &text));
            }
            OutputMode::Gitlab => self.emit(&gitlab::error_line(location, msg)),
            OutputMode::Github => {
                self.emit(&annotation(
                    Level::Error,
                    Some("devenv"),
                    location,
                    inner.workspace.as_deref(),
                    msg,
                ));
            }
        }
    }

    /// The end of a run: a table of steps (unless quiet), then the one-line result. In
    /// GitHub mode the Markdown summary is also appended to `$GITHUB_STEP_SUMMARY`.
    pub fn summary(&self, summary: &RunSummary) {
        let inner = &self.inner;
        if inner.mode == OutputMode::Json {
            return;
        }
        self.flush_pending_groups();
        let mut text = String::new();
        if !inner.quiet {
            text.push_str(&self.summary_table(summary));
        }
        let result = summary.result();
        let line = summary.result_line();
        match inner.mode {
            OutputMode::Tty => {
                let (sym, style) = match result {
                    RunResult::Succeeded => ("✓", Style::new().green().bold()),
                    RunResult::Failed => ("✗", Style::new().red().bold()),
                    RunResult::Interrupted => ("⊘", Style::new().yellow().bold()),
                };
                text.push_str(&format!("{} {line}", self.style(style).apply_to(sym)));
            }
            _ => text.push_str(&Self::plain_line("end", &line)),
        }
        self.emit(&text);
        if inner.mode == OutputMode::Github {
            let path = lock(&inner.step_summary).clone();
            if let Some(path) = path {
                if let Err(e) = append_step_summary(&path, summary) {
                    self.warn(&format!(
                        "could not append the job summary to {}: {e}",
                        path.display()
                    ));
                }
            }
        }
    }

    fn summary_table(&self, s: &RunSummary) -> String {
        let mut rows: Vec<(String, String, String)> = Vec::new();
        for st in &s.steps {
            let (sym, status) = match &st.outcome {
                StepOutcome::Done => ("✓", format_duration(st.duration)),
                StepOutcome::Skipped { reason } => ("↷", format!("skipped: {reason}")),
                StepOutcome::Failed { .. } => (
                    "✗",
                    format!("failed after {}", format_duration(st.duration)),
                ),
                StepOutcome::Interrupted => ("⊘", "interrupted".to_string()),
            };
            rows.push((sym.to_string(), st.title.clone(), status));
        }
        let mut out = String::new();
        if !rows.is_empty() {
            let w = rows
                .iter()
                .map(|r| console::measure_text_width(&r.1))
                .max()
                .unwrap_or(0);
            out.push('\n');
            for (sym, title, status) in rows {
                let pad = w - console::measure_text_width(&title);
                out.push_str(&format!("  {sym} {title}{}  {status}\n", " ".repeat(pad)));
            }
        }
        let section = |out: &mut String, head: &str, rows: Vec<[String; 3]>| {
            if rows.is_empty() {
                return;
            }
            out.push_str(&format!("\n  {head}\n"));
            let w0 = rows
                .iter()
                .map(|r| console::measure_text_width(&r[0]))
                .max()
                .unwrap_or(0);
            let w1 = rows
                .iter()
                .map(|r| console::measure_text_width(&r[1]))
                .max()
                .unwrap_or(0);
            for r in rows {
                let line = format!(
                    "    {}{}  {}{}  {}",
                    r[0],
                    " ".repeat(w0 - console::measure_text_width(&r[0])),
                    r[1],
                    " ".repeat(w1 - console::measure_text_width(&r[1])),
                    r[2]
                );
                out.push_str(line.trim_end());
                out.push('\n');
            }
        };
        section(
            &mut out,
            "images",
            s.images
                .iter()
                .map(|i| {
                    let a = match i.action {
                        ImageAction::Built => "built",
                        ImageAction::Reused => "reused",
                    };
                    [i.name.clone(), i.reference.clone(), a.to_string()]
                })
                .collect(),
        );
        section(
            &mut out,
            "overlays",
            s.overlays
                .iter()
                .map(|o| {
                    [
                        o.name.clone(),
                        format!("{} objects", o.objects),
                        o.hash.clone(),
                    ]
                })
                .collect(),
        );
        section(
            &mut out,
            "endpoints",
            s.endpoints
                .iter()
                .map(|e| [e.name.clone(), e.url.clone(), String::new()])
                .collect(),
        );
        if !out.is_empty() {
            out.push('\n');
        }
        out
    }

    /// GitHub mode: emits buffered output of steps that never finished (e.g. the run was
    /// aborted), so nothing a tool printed is lost.
    fn flush_pending_groups(&self) {
        if !matches!(self.inner.mode, OutputMode::Github | OutputMode::Gitlab) {
            return;
        }
        let pending: Vec<(String, RunningStep)> = lock(&self.inner.steps)
            .iter_mut()
            .filter(|(_, s)| !s.lines.is_empty())
            .map(|(id, s)| {
                (
                    id.clone(),
                    RunningStep {
                        title: s.title.clone(),
                        bar: None,
                        lines: std::mem::take(&mut s.lines),
                        started: s.started,
                    },
                )
            })
            .collect();
        for (id, s) in pending {
            let header = format!("{id}  {} (unfinished)", s.title);
            if self.inner.mode == OutputMode::Gitlab {
                self.emit(&gitlab::section(
                    &gitlab::section_name(&id),
                    &header,
                    &s.lines,
                    false,
                    s.started,
                    SystemTime::now(),
                ));
            } else {
                self.emit(&github_group(&header, &s.lines));
            }
        }
    }
}

/// The step a runner line belongs to. The runner names steps by their log file
/// ([`crate::engine::log_name`]: `image:api` → `image-api`), the reporter by their plan id;
/// without this, the output of `image:*` and `overlay:*` steps missed their group.
fn resolve_step_id<'a>(steps: &'a HashMap<String, RunningStep>, id: &'a str) -> &'a str {
    if steps.contains_key(id) {
        return id;
    }
    steps
        .keys()
        .find(|k| crate::engine::log_name(k) == id)
        .map_or(id, String::as_str)
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(p) = &self.progress {
            if self.registered {
                // Stop routing tracing through spinners that are gone.
                *lock(&ACTIVE_PROGRESS) = None;
            }
            let _ = p.clear();
        }
    }
}

/// `::group::header` + lines + `::endgroup::`, or just the header when there are no
/// lines. A line starting with `::` would be read as a workflow command (it could end the
/// group or set outputs), so such output is wrapped in `::stop-commands::`.
fn github_group(header: &str, lines: &[String]) -> String {
    let mut s = String::new();
    if lines.is_empty() {
        s.push_str(header);
        s.push('\n');
        return s;
    }
    s.push_str("::group::");
    s.push_str(&escape_data(header));
    s.push('\n');
    let needs_stop = lines.iter().any(|l| l.contains("::"));
    let token = needs_stop.then(stop_token);
    if let Some(t) = &token {
        s.push_str(&format!("::stop-commands::{t}\n"));
    }
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    if let Some(t) = &token {
        s.push_str(&format!("::{t}::\n"));
    }
    s.push_str("::endgroup::\n");
    s
}

/// A token the tool's output cannot guess (it must not be able to resume commands).
fn stop_token() -> String {
    let mut h = blake3::Hasher::new();
    h.update(&std::process::id().to_le_bytes());
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    h.update(&now.as_nanos().to_le_bytes());
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    h.update(&n.to_le_bytes());
    let addr = &h as *const _ as usize;
    h.update(&addr.to_le_bytes());
    format!("devenv-{}", &h.finalize().to_hex()[..24])
}

/// Sets up `tracing` for devenv's own logs on stderr: `RUST_LOG` when set, else
/// `warn` / `-v` info / `-vv` debug / `-vvv` trace for the `devenv` target. No ANSI
/// unless Tty and colors are allowed. Lines are printed above the spinners.
pub fn init_tracing(verbosity: u8, mode: OutputMode) {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| {
            EnvFilter::new(match verbosity {
                0 => "warn",
                1 => "warn,devenv=info",
                2 => "warn,devenv=debug",
                _ => "warn,devenv=trace",
            })
        });
    let ansi = color_enabled(UiFlags::default(), mode);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_target(verbosity >= 2)
        .with_writer(|| TracingWriter)
        .try_init();
}

/// Writes tracing events to stderr, above the spinners when a Tty reporter is active.
struct TracingWriter;

impl Write for TracingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let progress = lock(&ACTIVE_PROGRESS).clone();
        match progress {
            Some(p) if !p.is_hidden() => p.suspend(|| io::stderr().write_all(buf))?,
            _ => io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests;
