//! The end of a run as the user reads it: the table of steps, images, overlays and
//! endpoints, and the one-line result. The engine fills the [`RunSummary`]; this only reads it.

use console::Style;

use crate::engine::{ImageAction, RunResult, RunSummary, StepOutcome, UnitKind};

use super::github::append_step_summary;
use super::text::format_duration;
use super::{lock, OutputMode, Reporter};

impl Reporter {
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
        let line = result_line(summary);
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
        for (kind, heading) in [(UnitKind::Overlay, "overlays"), (UnitKind::Chart, "charts")] {
            section(
                &mut out,
                heading,
                s.units
                    .iter()
                    .filter(|u| u.kind == kind)
                    .map(|u| {
                        [
                            u.name.clone(),
                            format!("{} objects", u.objects),
                            u.hash.clone(),
                        ]
                    })
                    .collect(),
            );
        }
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
}

/// The final one-line result, e.g. `devenv up succeeded in 1m02s: 5 done, 3 skipped`.
fn result_line(summary: &RunSummary) -> String {
    let what = if summary.command.is_empty() {
        "devenv".to_string()
    } else {
        format!("devenv {}", summary.command)
    };
    let count =
        |f: fn(&StepOutcome) -> bool| summary.steps.iter().filter(|s| f(&s.outcome)).count();
    let done = count(|o| *o == StepOutcome::Done);
    let skipped = count(|o| matches!(o, StepOutcome::Skipped { .. }));
    let failed: Vec<&str> = summary
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
        summary.result().word(),
        format_duration(summary.total),
        parts.join(", ")
    )
}
