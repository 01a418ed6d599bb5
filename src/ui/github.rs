//! GitHub Actions workflow commands and the job summary.
//!
//! Escaping follows actions/toolkit `packages/core/src/command.ts`: the message
//! (`escapeData`) escapes `%`, `\r`, `\n`; property values (`escapeProperty`) also escape
//! `:` and `,`, which would otherwise end the value or the property list.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use std::time::SystemTime;

use crate::engine::{ImageAction, RunSummary, SourceLocation, StepOutcome, UnitKind};

use super::text::format_duration;

/// Escapes the message part of a workflow command (after the second `::`).
pub fn escape_data(s: &str) -> String {
    percent_escape(s, &['%', '\r', '\n'])
}

/// Escapes a property value of a workflow command (`file=`, `title=`, ...).
pub fn escape_property(s: &str) -> String {
    percent_escape(s, &['%', '\r', '\n', ':', ','])
}

/// Writes each of `special` as `%XX` (its code in upper-case hex), as the
/// runner's workflow-command parser expects.
fn percent_escape(s: &str, special: &[char]) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if special.contains(&c) {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Severity of an annotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Notice,
}

impl Level {
    fn command(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
        }
    }
}

/// One annotation line, e.g.
/// `::error file=devenv.toml,line=12,col=3,title=devenv::unknown key`.
///
/// `workspace` (normally `$GITHUB_WORKSPACE`) is stripped from absolute file paths:
/// GitHub only attaches an annotation to a file given relative to the repository root.
pub fn annotation(
    level: Level,
    title: Option<&str>,
    location: Option<&SourceLocation>,
    workspace: Option<&Path>,
    message: &str,
) -> String {
    let mut props: Vec<(&str, String)> = Vec::new();
    if let Some(loc) = location {
        props.push(("file", annotation_path(&loc.file, workspace)));
        if let Some(line) = loc.line {
            props.push(("line", line.to_string()));
            if let Some(col) = loc.col {
                props.push(("col", col.to_string()));
            }
        }
    }
    if let Some(t) = title.filter(|t| !t.is_empty()) {
        props.push(("title", t.to_string()));
    }
    let mut out = format!("::{}", level.command());
    for (i, (k, v)) in props.iter().enumerate() {
        out.push(if i == 0 { ' ' } else { ',' });
        let _ = write!(out, "{k}={}", escape_property(v));
    }
    out.push_str("::");
    out.push_str(&escape_data(message.trim_end_matches('\n')));
    out
}

/// The path GitHub expects: relative to the workspace when under it, with `/`. A relative
/// path is relative to the working directory, which need not be the workspace (a project
/// in a subfolder of the repository): it is resolved first.
fn annotation_path(file: &Path, workspace: Option<&Path>) -> String {
    let rel: PathBuf = match workspace {
        Some(ws) => {
            let abs = if file.is_absolute() {
                file.to_path_buf()
            } else {
                match std::env::current_dir() {
                    Ok(cwd) => cwd.join(file),
                    Err(_) => file.to_path_buf(),
                }
            };
            abs.strip_prefix(ws)
                .map(Path::to_path_buf)
                .unwrap_or_else(|_| file.to_path_buf())
        }
        None => file.to_path_buf(),
    };
    let s = rel.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

/// Escapes text for a Markdown table cell (one line, no column breaks).
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace("\r\n", " ")
        .replace(['\n', '\r'], " ")
}

/// Inline code in a table cell; backticks inside would end the span early.
fn code(s: &str) -> String {
    if s.contains('`') {
        format!("`` {} ``", cell(s))
    } else {
        format!("`{}`", cell(s))
    }
}

/// The job summary for one run, as GitHub-flavoured Markdown.
pub fn step_summary_markdown(summary: &RunSummary) -> String {
    let mut md = String::new();
    let what = if summary.command.is_empty() {
        "devenv".to_string()
    } else {
        format!("devenv {}", summary.command)
    };
    let _ = writeln!(
        md,
        "### {} {} in {}\n",
        cell(&what),
        summary.result().word(),
        format_duration(summary.total)
    );
    if !summary.steps.is_empty() {
        md.push_str("| | Step | Result | Duration |\n|---|---|---|---:|\n");
        for s in &summary.steps {
            let (icon, result) = match &s.outcome {
                StepOutcome::Done => ("✅", "done".to_string()),
                StepOutcome::Skipped { reason } => ("⏭️", format!("skipped: {reason}")),
                StepOutcome::Failed { message, .. } => {
                    // The first line only: the full text is in the log and the annotation.
                    (
                        "❌",
                        format!("failed: {}", message.lines().next().unwrap_or("")),
                    )
                }
                StepOutcome::Interrupted => ("⏹️", "interrupted".to_string()),
            };
            let duration = match s.outcome {
                StepOutcome::Skipped { .. } => "–".to_string(),
                _ => format_duration(s.duration),
            };
            let _ = writeln!(
                md,
                "| {icon} | {} | {} | {duration} |",
                cell(&s.title),
                cell(&result)
            );
        }
        md.push('\n');
    }
    if !summary.images.is_empty() {
        md.push_str("#### Images\n\n| Image | Reference | |\n|---|---|---|\n");
        for i in &summary.images {
            let action = match i.action {
                ImageAction::Built => "built",
                ImageAction::Reused => "reused",
            };
            let _ = writeln!(
                md,
                "| {} | {} | {action} |",
                cell(&i.name),
                code(&i.reference)
            );
        }
        md.push('\n');
    }
    for (kind, heading) in [(UnitKind::Overlay, "Overlays"), (UnitKind::Chart, "Charts")] {
        let units: Vec<_> = summary.units.iter().filter(|u| u.kind == kind).collect();
        if units.is_empty() {
            continue;
        }
        let _ = write!(
            md,
            "#### {heading}\n\n| {} | Objects | Hash |\n|---|---:|---|\n",
            heading.trim_end_matches('s')
        );
        for u in units {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                cell(&u.name),
                u.objects,
                code(&u.hash)
            );
        }
        md.push('\n');
    }
    if !summary.endpoints.is_empty() {
        md.push_str("#### Endpoints\n\n| Name | URL |\n|---|---|\n");
        for e in &summary.endpoints {
            let _ = writeln!(md, "| {} | {} |", cell(&e.name), cell(&e.url));
        }
        md.push('\n');
    }
    md
}

/// Appends the summary to `$GITHUB_STEP_SUMMARY` (never truncates: earlier steps of the
/// job write to the same file).
pub fn append_step_summary(path: &Path, summary: &RunSummary) -> io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // A blank line first, unless the file is empty or already ends with one: otherwise the
    // heading could be glued to an earlier step's table or paragraph.
    let mut md = String::new();
    let len = f.metadata()?.len();
    if len > 0 {
        let tail = last_bytes(path, len.min(2))?;
        if !tail.ends_with(b"\n\n") {
            md.push_str(if tail.ends_with(b"\n") { "\n" } else { "\n\n" });
        }
    }
    md.push_str(&step_summary_markdown(summary));
    f.write_all(md.as_bytes())
}

fn last_bytes(path: &Path, n: u64) -> io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::End(-(n as i64)))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(buf)
}

/// `$GITHUB_WORKSPACE`, which annotation paths are relative to (`None` when unset or empty).
pub fn workspace() -> Option<PathBuf> {
    std::env::var_os("GITHUB_WORKSPACE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `::group::header` + lines + `::endgroup::`, or just the header when there are no
/// lines. A line starting with `::` would be read as a workflow command (it could end the
/// group or set outputs), so such output is wrapped in `::stop-commands::`.
pub(super) fn group(header: &str, lines: &[String]) -> String {
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
