//! How devenv talks to a human: one [`Reporter`], chosen once per run.
//!
//! * [`OutputMode::Tty`]: an indicatif spinner per running step; finished steps are
//!   printed above the spinners (`✓ title (1.2s)`), so lines never tear.
//! * [`OutputMode::Plain`]: one timestamped line per event, no escape codes (pipes, CI,
//!   `TERM=dumb`).
//! * [`OutputMode::Github`]: Plain, plus each step's output folded in `::group::`,
//!   failures as `::error` annotations and a Markdown job summary.
//! * [`OutputMode::Gitlab`]: Plain, plus each step's output in a collapsible section and
//!   failures as `file:line:col: error:` lines.
//! * [`OutputMode::Json`]: the command prints data on stdout; only warnings and errors
//!   reach stderr.
//!
//! Human output goes to stderr; data (JSON, `status` tables) is the commands' business
//! on stdout. Color is never the only signal: every line carries a symbol or a word.

pub mod github;
pub mod gitlab;
mod log;
mod summary;
mod text;

pub use github::{
    annotation, append_step_summary, escape_data, escape_property, step_summary_markdown, Level,
};
pub use log::init_tracing;
pub use text::{format_duration, redact_cluster_token, sanitize_line};

use std::collections::HashMap;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use console::Style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::engine::{Report, RunSummary, SourceLocation, StepOutcome};
use crate::hint::Hinted;

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
                    StepOutcome::Failed { message, help } => {
                        let message = failure_text(message, help);
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
                    StepOutcome::Failed { message, help } if inner.mode == OutputMode::Plain => {
                        let message = failure_text(message, help);
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
                    let mut block = github::group(text.trim_end(), &lines);
                    if let StepOutcome::Failed { message, help } = outcome {
                        block.push_str(&annotation(
                            Level::Error,
                            Some(&title),
                            location,
                            inner.workspace.as_deref(),
                            &failure_text(message, help),
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
                if let StepOutcome::Failed { message, help } = outcome {
                    block.push_str(&gitlab::error_line(
                        location,
                        &format!("{title}: {}", failure_text(message, help).trim_end()),
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
                self.emit(&github::group(&header, &s.lines));
            }
        }
    }
}

/// A failure as the user reads it: the message, then its help on a line of its own.
fn failure_text(message: &str, help: &Option<String>) -> String {
    Hinted {
        message: message.to_string(),
        help: help.clone(),
    }
    .render()
}

impl Report for Reporter {
    fn step_started(&self, id: &str, title: &str) {
        Reporter::step_started(self, id, title)
    }
    fn step_finished_at(
        &self,
        id: &str,
        outcome: &StepOutcome,
        duration: Duration,
        location: Option<&SourceLocation>,
    ) {
        Reporter::step_finished_at(self, id, outcome, duration, location)
    }
    fn info(&self, msg: &str) {
        Reporter::info(self, msg)
    }
    fn warn(&self, msg: &str) {
        Reporter::warn(self, msg)
    }
    fn summary(&self, summary: &RunSummary) {
        Reporter::summary(self, summary)
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

#[cfg(test)]
mod tests;
