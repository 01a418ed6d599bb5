//! GitHub Actions output of the Reporter: groups, annotations, job summary.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use devenv::engine::{
    ImageAction, ImageRecord, RunSummary, SourceLocation, StepOutcome, StepRecord,
};
use devenv::ui::{OutputMode, Reporter, UiFlags};

use crate::support::capture::Buf;

fn github() -> (Reporter, Buf) {
    let buf = Buf::default();
    let r = Reporter::with_writer(
        OutputMode::Github,
        UiFlags::default(),
        Box::new(buf.clone()),
    );
    r.set_step_summary_path(None);
    (r, buf)
}

#[test]
fn concurrent_steps_get_one_contiguous_group_each() {
    let (r, buf) = github();
    const STEPS: usize = 6;
    const LINES: usize = 200;
    let barrier = Arc::new(Barrier::new(STEPS));
    let threads: Vec<_> = (0..STEPS)
        .map(|i| {
            let r = r.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let id = format!("step{i}");
                r.step_started(&id, &format!("Step {i}"));
                // All steps are running before any prints, so their lines interleave.
                barrier.wait();
                for n in 0..LINES {
                    r.step_output_line(&id, &format!("{id} line {n}"));
                }
                r.step_finished(&id, &StepOutcome::Done, Duration::from_millis(10));
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let out = buf.text();
    let lines: Vec<&str> = out.lines().collect();
    let mut groups = 0;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        assert_ne!(line, "::endgroup::", "endgroup without group at line {i}");
        if let Some(header) = line.strip_prefix("::group::") {
            groups += 1;
            let id = header
                .split_whitespace()
                .nth(2)
                .expect("header names the step id");
            assert!(
                header.ends_with(&format!("Step {} (0.0s)", &id[4..])),
                "{header}"
            );
            // The next LINES lines are this step's, in order, then the group closes.
            for n in 0..LINES {
                assert_eq!(lines[i + 1 + n], format!("{id} line {n}"));
            }
            assert_eq!(lines[i + 1 + LINES], "::endgroup::");
            i += LINES + 2;
        } else {
            assert!(line.contains("  start  step"), "stray line {line:?}");
            i += 1;
        }
    }
    assert_eq!(groups, STEPS);
}

#[test]
fn a_failed_step_is_annotated_at_the_step() {
    let (r, buf) = github();
    r.step_started("calico", "Install Calico");
    r.step_output_line("calico", "deployment.apps/tigera-operator created");
    r.step_finished(
        "calico",
        &StepOutcome::Failed {
            message: "`kubectl wait` failed (exit status: 1)\n--- output\nerror: 100% timed out"
                .into(),
            help: None,
        },
        Duration::from_secs(90),
    );
    let out = buf.text();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[1].starts_with("::group::"));
    assert!(lines[1].ends_with("  fail   calico  Install Calico (failed after 1m30s)"));
    assert_eq!(lines[2], "deployment.apps/tigera-operator created");
    assert_eq!(lines[3], "::endgroup::");
    assert_eq!(
        lines[4],
        "::error title=Install Calico::`kubectl wait` failed (exit status: 1)%0A--- output%0Aerror: 100%25 timed out"
    );
    assert_eq!(lines.len(), 5);
}

#[test]
fn a_step_without_output_gets_a_plain_line_not_an_empty_group() {
    let (r, buf) = github();
    r.step_started("ns", "Create namespaces");
    r.step_finished(
        "ns",
        &StepOutcome::Skipped {
            reason: "unchanged".into(),
        },
        Duration::ZERO,
    );
    let out = buf.text();
    assert!(!out.contains("::group::"), "{out}");
    assert!(out
        .lines()
        .nth(1)
        .unwrap()
        .ends_with("  skip   ns  Create namespaces (skipped: unchanged)"));
}

#[test]
fn config_errors_are_annotated_at_file_line_col() {
    let (r, buf) = github();
    r.error(
        "unknown field `prot`, expected one of `port`, `name`",
        Some(&SourceLocation::new("devenv.toml", 12, 3)),
    );
    r.warn("registry port 5111, is used");
    assert_eq!(
        buf.text(),
        "::error file=devenv.toml,line=12,col=3,title=devenv::unknown field `prot`, expected one of `port`, `name`\n\
         ::warning::registry port 5111, is used\n"
    );
}

#[test]
fn output_that_looks_like_a_workflow_command_cannot_break_the_group() {
    let (r, buf) = github();
    r.step_started("build", "Build image api");
    r.step_output_line("build", "::endgroup::");
    r.step_output_line("build", "::set-output name=x::y");
    r.step_finished("build", &StepOutcome::Done, Duration::from_secs(1));
    let out = buf.text();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[1].starts_with("::group::"));
    let token = lines[2]
        .strip_prefix("::stop-commands::")
        .expect("commands stopped inside the group");
    assert!(token.len() >= 16 && !token.contains(':'));
    assert_eq!(lines[3], "::endgroup::");
    assert_eq!(lines[4], "::set-output name=x::y");
    assert_eq!(lines[5], format!("::{token}::"));
    assert_eq!(lines[6], "::endgroup::");
}

fn summary() -> RunSummary {
    RunSummary {
        command: "up".into(),
        steps: vec![
            StepRecord {
                id: "registry".into(),
                title: "Create registry devenv-registry".into(),
                outcome: StepOutcome::Done,
                duration: Duration::from_millis(1500),
            },
            StepRecord {
                id: "images".into(),
                title: "Build image a|b".into(),
                outcome: StepOutcome::Skipped {
                    reason: "unchanged".into(),
                },
                duration: Duration::ZERO,
            },
        ],
        images: vec![ImageRecord {
            name: "api".into(),
            reference: "localhost:5111/api:3f2a".into(),
            action: ImageAction::Reused,
        }],
        total: Duration::from_secs(75),
        ..Default::default()
    }
}

#[test]
fn the_job_summary_is_appended_not_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("step_summary.md");
    std::fs::write(&path, "## from an earlier step\n\n").unwrap();
    let (r, buf) = github();
    r.set_step_summary_path(Some(path.clone()));
    r.summary(&summary());
    r.summary(&summary());
    let md = std::fs::read_to_string(&path).unwrap();
    assert!(md.starts_with("## from an earlier step\n\n### devenv up succeeded in 1m15s\n"));
    assert_eq!(md.matches("### devenv up succeeded").count(), 2);
    assert!(
        md.contains("| ✅ | Create registry devenv-registry | done | 1.5s |\n"),
        "{md}"
    );
    // A `|` in a title must not split the table cell.
    assert!(
        md.contains("| ⏭️ | Build image a\\|b | skipped: unchanged | – |\n"),
        "{md}"
    );
    assert!(
        md.contains("| api | `localhost:5111/api:3f2a` | reused |\n"),
        "{md}"
    );
    // The log still gets the one-line result.
    assert!(buf
        .text()
        .contains("end    devenv up succeeded in 1m15s: 1 done, 1 skipped"));
}

#[test]
fn an_unwritable_summary_file_is_a_warning_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let (r, buf) = github();
    r.set_step_summary_path(Some(dir.path().join("missing-dir").join("summary.md")));
    r.summary(&summary());
    assert!(buf
        .text()
        .contains("::warning::could not append the job summary"));
}

#[test]
fn a_step_failure_about_the_config_is_annotated_at_its_line() {
    let (r, buf) = github();
    r.step_started("registry", "Create registry");
    r.step_finished_at(
        "registry",
        &StepOutcome::Failed {
            message: "port 5111 on 127.0.0.1 is already in use".into(),
            help: None,
        },
        Duration::from_secs(1),
        Some(&SourceLocation::new("devenv.toml", 7, 8)),
    );
    let out = buf.text();
    assert_eq!(
        out.lines().last().unwrap(),
        "::error file=devenv.toml,line=7,col=8,title=Create registry::port 5111 on 127.0.0.1 is already in use"
    );
}
