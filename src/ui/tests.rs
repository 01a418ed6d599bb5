use super::*;
use crate::engine::{Endpoint, ImageAction, ImageRecord, RunResult, StepRecord, UnitRecord};

// Buf: shared with the integration tests.
#[path = "../../tests/it/support/capture.rs"]
mod capture;
use capture::Buf;

fn reporter(mode: OutputMode, flags: UiFlags) -> (Reporter, Buf) {
    let buf = Buf::default();
    let r = Reporter::with_writer(mode, flags, Box::new(buf.clone()));
    r.set_step_summary_path(None);
    (r, buf)
}

fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |k| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    }
}

#[test]
fn detect_picks_the_mode_from_flags_env_and_terminal() {
    let f = UiFlags::default();
    assert_eq!(detect_with(f, env(&[]), true), OutputMode::Tty);
    assert_eq!(detect_with(f, env(&[]), false), OutputMode::Plain);
    assert_eq!(
        detect_with(f, env(&[("CI", "true")]), true),
        OutputMode::Plain
    );
    assert_eq!(detect_with(f, env(&[("CI", "1")]), true), OutputMode::Plain);
    assert_eq!(
        detect_with(f, env(&[("CI", "false")]), true),
        OutputMode::Tty
    );
    assert_eq!(detect_with(f, env(&[("CI", "0")]), true), OutputMode::Tty);
    assert_eq!(detect_with(f, env(&[("CI", "")]), true), OutputMode::Tty);
    assert_eq!(
        detect_with(f, env(&[("TERM", "dumb")]), true),
        OutputMode::Plain
    );
    assert_eq!(
        detect_with(f, env(&[("GITHUB_ACTIONS", "true"), ("CI", "true")]), false),
        OutputMode::Github
    );
    assert_eq!(
        detect_with(f, env(&[("GITHUB_ACTIONS", "false")]), true),
        OutputMode::Tty
    );
    let json = UiFlags {
        output_json: true,
        ..f
    };
    assert_eq!(
        detect_with(json, env(&[("GITHUB_ACTIONS", "true")]), true),
        OutputMode::Json
    );
}

#[test]
fn color_only_on_a_terminal_without_no_color() {
    let f = UiFlags::default();
    assert!(color_enabled_with(f, OutputMode::Tty, env(&[])));
    assert!(color_enabled_with(
        f,
        OutputMode::Tty,
        env(&[("NO_COLOR", "")])
    ));
    assert!(!color_enabled_with(
        f,
        OutputMode::Tty,
        env(&[("NO_COLOR", "1")])
    ));
    let no = UiFlags {
        no_color: true,
        ..f
    };
    assert!(!color_enabled_with(no, OutputMode::Tty, env(&[])));
    for m in [OutputMode::Plain, OutputMode::Github, OutputMode::Json] {
        assert!(!color_enabled_with(f, m, env(&[])));
    }
}

#[test]
fn durations_are_short() {
    assert_eq!(format_duration(Duration::from_millis(400)), "0.4s");
    assert_eq!(format_duration(Duration::from_millis(12_345)), "12.3s");
    assert_eq!(format_duration(Duration::from_secs(125)), "2m05s");
    assert_eq!(format_duration(Duration::from_secs(3720)), "1h02m");
}

#[test]
fn sanitize_removes_escapes_and_progress_redraws() {
    assert_eq!(sanitize_line("\x1b[1;32mok\x1b[0m done"), "ok done");
    assert_eq!(sanitize_line("10%\r50%\r100%"), "100%");
    assert_eq!(sanitize_line("a\x07b\tc"), "ab\tc");
    assert_eq!(
        sanitize_line(r#"{"env":["K3S_TOKEN=abc123","X=1"],"k3d.cluster.token":"abc123","n":1}"#),
        r#"{"env":["K3S_TOKEN=***","X=1"],"k3d.cluster.token":"***","n":1}"#
    );
    assert_eq!(sanitize_line("K3S_TOKEN= none"), "K3S_TOKEN= none");
}

#[test]
fn escaping_follows_the_actions_toolkit() {
    assert_eq!(
        escape_data("100% done\r\nnext: a,b"),
        "100%25 done%0D%0Anext: a,b"
    );
    assert_eq!(escape_property("C:\\x,y\n%"), "C%3A\\x%2Cy%0A%25");
}

#[test]
fn annotation_with_file_line_col_and_title() {
    let loc = SourceLocation::new("devenv.toml", 12, 3);
    assert_eq!(
        annotation(
            Level::Error,
            Some("devenv"),
            Some(&loc),
            None,
            "unknown key `prot`"
        ),
        "::error file=devenv.toml,line=12,col=3,title=devenv::unknown key `prot`"
    );
    // No column: the line alone; a title with a colon is escaped.
    let loc = SourceLocation {
        file: "/ws/app/devenv.toml".into(),
        line: Some(4),
        col: None,
    };
    assert_eq!(
        annotation(
            Level::Warning,
            Some("step: build"),
            Some(&loc),
            Some(std::path::Path::new("/ws")),
            "two\nlines"
        ),
        "::warning file=app/devenv.toml,line=4,title=step%3A build::two%0Alines"
    );
    assert_eq!(
        annotation(Level::Error, None, None, None, "boom"),
        "::error::boom"
    );
}

fn plain_prefix_ok(line: &str, kind: &str) -> bool {
    // 2026-11-25T01:40:02Z  start  ...
    let ts = &line[..20];
    ts.len() == 20
        && ts.as_bytes()[4] == b'-'
        && ts.as_bytes()[10] == b'T'
        && ts.ends_with('Z')
        && line[20..].starts_with(&format!("  {kind:<5}  "))
}

#[test]
fn plain_mode_prints_one_timestamped_line_per_event_and_no_escape_codes() {
    let (r, buf) = reporter(
        OutputMode::Plain,
        UiFlags {
            verbose: true,
            ..Default::default()
        },
    );
    r.step_started("cluster", "Create k3d cluster devenv");
    r.step_output_line("cluster", "\x1b[36mINFO\x1b[0m[0000] Creating node");
    r.step_finished("cluster", &StepOutcome::Done, Duration::from_millis(1200));
    r.step_started("calico", "Install Calico");
    r.step_finished(
        "calico",
        &StepOutcome::Failed {
            message: "`kubectl wait` failed\n--- output\nerror: timed out".into(),
            help: None,
        },
        Duration::from_secs(3),
    );
    r.warn("\x1b[33mcareful\x1b[0m");
    r.error("bad key", Some(&SourceLocation::new("devenv.toml", 2, 1)));
    r.summary(&RunSummary {
        command: "up".into(),
        steps: vec![StepRecord {
            id: "cluster".into(),
            title: "Create k3d cluster devenv".into(),
            outcome: StepOutcome::Done,
            duration: Duration::from_millis(1200),
        }],
        ..Default::default()
    });
    let out = buf.text();
    assert!(!out.contains('\x1b'), "escape code in plain output:\n{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(plain_prefix_ok(lines[0], "start"), "{}", lines[0]);
    assert!(lines[0].ends_with("  cluster  Create k3d cluster devenv"));
    assert!(plain_prefix_ok(lines[1], "out"));
    assert!(
        lines[1].ends_with("cluster  INFO[0000] Creating node"),
        "{}",
        lines[1]
    );
    assert!(plain_prefix_ok(lines[2], "done"));
    assert!(lines[2].ends_with("cluster  Create k3d cluster devenv (1.2s)"));
    assert!(plain_prefix_ok(lines[4], "fail"));
    // Continuation lines are indented under the text, not prefixed again.
    assert_eq!(lines[5].trim_start(), "`kubectl wait` failed");
    assert_eq!(lines[5].len() - lines[5].trim_start().len(), 29);
    assert!(out.contains("warn   careful\n"));
    assert!(out.contains("error  devenv.toml:2:1: bad key\n"));
    assert!(
        out.contains("  ✓ Create k3d cluster devenv  1.2s\n"),
        "{out}"
    );
    assert!(out
        .lines()
        .last()
        .unwrap()
        .ends_with("end    devenv up succeeded in 0.0s: 1 done, 0 skipped"));
}

#[test]
fn plain_mode_hides_output_lines_unless_verbose() {
    let (r, buf) = reporter(OutputMode::Plain, UiFlags::default());
    r.step_started("a", "A");
    r.step_output_line("a", "noise");
    r.step_finished("a", &StepOutcome::Done, Duration::ZERO);
    assert!(!buf.text().contains("noise"));
    assert_eq!(buf.text().lines().count(), 2);
}

#[test]
fn quiet_shows_only_errors_and_the_result() {
    for mode in [OutputMode::Tty, OutputMode::Plain, OutputMode::Github] {
        let (r, buf) = reporter(
            mode,
            UiFlags {
                quiet: true,
                ..Default::default()
            },
        );
        r.step_started("a", "Step A");
        r.step_output_line("a", "chatter");
        r.step_finished("a", &StepOutcome::Done, Duration::from_secs(1));
        r.info("hello");
        r.warn("warned");
        r.step_started("b", "Step B");
        r.step_finished(
            "b",
            &StepOutcome::Failed {
                message: "it broke".into(),
                help: None,
            },
            Duration::from_secs(1),
        );
        r.error("bad", None);
        r.summary(&RunSummary {
            command: "up".into(),
            steps: vec![StepRecord {
                id: "b".into(),
                title: "Step B".into(),
                outcome: StepOutcome::Failed {
                    message: "it broke".into(),
                    help: None,
                },
                duration: Duration::from_secs(1),
            }],
            ..Default::default()
        });
        let out = buf.text();
        for hidden in ["Step A", "chatter", "hello", "warned"] {
            assert!(!out.contains(hidden), "{mode:?} showed {hidden:?}:\n{out}");
        }
        assert!(out.contains("it broke"), "{mode:?}:\n{out}");
        assert!(out.contains("bad"), "{mode:?}:\n{out}");
        assert!(
            out.trim_end()
                .ends_with("devenv up failed in 0.0s: 0 done, 0 skipped, 1 failed (b)"),
            "{mode:?}:\n{out}"
        );
    }
}

#[test]
fn tty_lines_have_symbols_and_durations() {
    let (r, buf) = reporter(OutputMode::Tty, UiFlags::default());
    r.step_started("registry", "Create registry");
    r.step_finished("registry", &StepOutcome::Done, Duration::from_millis(1200));
    r.step_started("images", "Build images");
    r.step_finished(
        "images",
        &StepOutcome::Skipped {
            reason: "unchanged".into(),
        },
        Duration::ZERO,
    );
    r.step_started("calico", "Install Calico");
    r.step_finished(
        "calico",
        &StepOutcome::Failed {
            message: "timed out".into(),
            help: None,
        },
        Duration::from_secs(2),
    );
    r.step_started("registry2", "Create registry again");
    r.step_finished_at(
        "registry2",
        &StepOutcome::Failed {
            message: "port busy".into(),
            help: None,
        },
        Duration::from_secs(1),
        Some(&SourceLocation::new("devenv.toml", 5, 1)),
    );
    r.error(
        "no such file",
        Some(&SourceLocation::new("devenv.toml", 3, 7)),
    );
    let out = buf.text();
    assert_eq!(
        out,
        "✓ Create registry (1.2s)\n\
         ↷ Build images (skipped: unchanged)\n\
         ✗ Install Calico (failed after 2.0s)\n  timed out\n\
         ✗ Create registry again (failed after 1.0s)\n  port busy\n  --> devenv.toml:5:1\n\
         error: no such file\n  --> devenv.toml:3:7\n"
    );
}

#[test]
fn json_mode_keeps_stderr_to_warnings_and_errors() {
    let (r, buf) = reporter(OutputMode::Json, UiFlags::default());
    r.step_started("a", "A");
    r.step_output_line("a", "x");
    r.step_finished("a", &StepOutcome::Done, Duration::ZERO);
    r.info("hi");
    r.summary(&RunSummary::default());
    assert_eq!(buf.text(), "");
    r.warn("w");
    r.error("e", None);
    assert_eq!(buf.text(), "warning: w\nerror: e\n");
}

#[test]
fn result_prefers_interrupted_over_failed() {
    let rec = |outcome| StepRecord {
        id: "x".into(),
        title: "X".into(),
        outcome,
        duration: Duration::ZERO,
    };
    let mut s = RunSummary::default();
    assert_eq!(s.result(), RunResult::Succeeded);
    s.steps.push(rec(StepOutcome::Failed {
        message: String::new(),
        help: None,
    }));
    assert_eq!(s.result(), RunResult::Failed);
    s.steps.push(rec(StepOutcome::Interrupted));
    assert_eq!(s.result(), RunResult::Interrupted);
}

#[test]
fn summary_table_lists_images_overlays_endpoints() {
    let (r, buf) = reporter(OutputMode::Plain, UiFlags::default());
    r.summary(&RunSummary {
        command: "up".into(),
        images: vec![
            ImageRecord {
                name: "api".into(),
                reference: "localhost:5111/api:3f2a".into(),
                action: ImageAction::Built,
            },
            ImageRecord {
                name: "worker".into(),
                reference: "localhost:5111/worker:9b1c".into(),
                action: ImageAction::Reused,
            },
        ],
        units: vec![UnitRecord {
            kind: crate::engine::UnitKind::Overlay,
            name: "app".into(),
            objects: 7,
            hash: "abc".into(),
        }],
        endpoints: vec![Endpoint {
            name: "api".into(),
            url: "http://localhost:8080".into(),
        }],
        total: Duration::from_secs(62),
        ..Default::default()
    });
    let out = buf.text();
    assert!(
        out.contains("\n    api     localhost:5111/api:3f2a     built\n"),
        "{out}"
    );
    assert!(
        out.contains("\n    worker  localhost:5111/worker:9b1c  reused\n"),
        "{out}"
    );
    assert!(out.contains("\n    app  7 objects  abc\n"), "{out}");
    assert!(out.contains("\n    api  http://localhost:8080\n"), "{out}");
    assert!(out.contains("devenv up succeeded in 1m02s"), "{out}");
}

#[test]
fn runner_lines_named_by_log_file_reach_the_step_group() {
    // The runner names `image:api` by its log file, `image-api`.
    let (r, buf) = reporter(OutputMode::Github, UiFlags::default());
    r.step_started("image:api", "Build and push image api");
    r.step_output_line("image-api", "Step 1/3 : FROM scratch");
    r.step_finished("image:api", &StepOutcome::Done, Duration::from_millis(5));
    let out = buf.text();
    let lines: Vec<&str> = out.lines().collect();
    let g = lines
        .iter()
        .position(|l| l.starts_with("::group::") && l.contains("image:api"))
        .unwrap_or_else(|| panic!("no group for image:api:\n{out}"));
    assert_eq!(lines[g + 1], "Step 1/3 : FROM scratch", "{out}");
    assert_eq!(lines[g + 2], "::endgroup::", "{out}");
    assert!(!out.contains("unfinished"), "{out}");
}

#[test]
fn the_job_summary_starts_after_a_blank_line() {
    let dir = tempfile::tempdir().unwrap();
    let summary = RunSummary {
        command: "up".into(),
        ..Default::default()
    };
    for (before, joined) in [
        ("", ""),
        ("| a | b |", "| a | b |\n\n"),
        ("| a | b |\n", "| a | b |\n\n"),
        ("text\n\n", "text\n\n"),
    ] {
        let path = dir.path().join("summary.md");
        std::fs::write(&path, before).unwrap();
        append_step_summary(&path, &summary).unwrap();
        let md = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            md,
            format!("{joined}{}", step_summary_markdown(&summary)),
            "after {before:?}"
        );
    }
}

#[test]
fn a_relative_annotation_path_is_made_relative_to_the_workspace() {
    // devenv runs in a subfolder of the repository: GitHub wants `sub/devenv.toml`.
    let cwd = std::env::current_dir().unwrap();
    let (ws, sub) = (cwd.parent().unwrap(), cwd.file_name().unwrap());
    let loc = SourceLocation::new("devenv.toml", 3, 1);
    assert_eq!(
        annotation(Level::Error, None, Some(&loc), Some(ws), "boom"),
        format!(
            "::error file={}/devenv.toml,line=3,col=1::boom",
            sub.to_string_lossy()
        )
    );
    // Outside the workspace: left as given.
    let loc = SourceLocation::new("devenv.toml", 3, 1);
    assert_eq!(
        annotation(
            Level::Error,
            None,
            Some(&loc),
            Some(std::path::Path::new("/elsewhere")),
            "boom"
        ),
        "::error file=devenv.toml,line=3,col=1::boom"
    );
}
