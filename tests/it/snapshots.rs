//! Snapshot tests of what users read: `plan` (text and JSON), `status` (healthy and not),
//! `--help` of every command, config errors as printed, and a failed `up` as each reporter
//! (plain, GitHub Actions, GitLab CI) prints it. A change in any of them is a reviewed diff
//! of a file under tests/it/snapshots/ (insta, https://insta.rs).
//!
//! Re-accept the snapshots after an intended change of output (no extra tool needed):
//!
//! ```text
//! INSTA_UPDATE=always cargo nextest run snapshots::
//! git diff tests/it/snapshots/     # review, then commit
//! ```
//!
//! A plain `cargo nextest run snapshots::` that finds a difference fails with a diff and,
//! outside CI, leaves `NAME.snap.new` beside the snapshot; `cargo insta review` (the
//! optional `cargo install cargo-insta`) then accepts or rejects each one interactively.
//!
//! A snapshot no test writes any more (a removed subcommand's help) is not deleted by
//! insta: `rm tests/it/snapshots/*.snap` before re-accepting drops them (git diff still shows
//! every change).
//!
//! What depends on the machine is redacted before comparing: the sandbox's temp folder →
//! `[ROOT]`, this repository's folder → `[REPO]`, ports picked at run time →
//! `[REGISTRY_PORT]` / `[API_PORT]`, durations of a run → `[DURATION]`, timestamps →
//! `[TIME]`, content tags `dv-<16 hex>` → `dv-[TAG]`, step fingerprints → `[FINGERPRINT]`,
//! ownership ids and log folders → `[ID]`, ESC → `\e`. Every run has a fixed environment
//! (the Sandbox clears it; TERM=dumb here, plus NO_COLOR=1 and COLUMNS=100).

use std::fs;

use crate::support::{bad_config_folders, example_sandbox, free_port, json, repo, Sandbox, CALICO};

/// One run as a user sees it: the command, its exit code, stdout and stderr.
struct Run {
    args: Vec<String>,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn text(&self) -> String {
        format!(
            "$ devenv {}\nexit: {}\n--- stdout\n{}--- stderr\n{}",
            self.args.join(" "),
            self.code.map_or("signal".to_string(), |c| c.to_string()),
            self.stdout,
            self.stderr
        )
    }
}

/// Run devenv in the sandbox with a fixed environment plus `env`.
fn devenv(sb: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = sb.devenv(args);
    cmd.env("NO_COLOR", "1").env("COLUMNS", "100");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().expect("run devenv");
    Run {
        args: args.iter().map(|a| a.to_string()).collect(),
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Literal values of this run that vary between machines and runs.
#[derive(Default)]
struct Redact {
    ports: Vec<(u16, &'static str)>,
    /// Redact durations (`up` prints how long each step took). Off elsewhere: a plan's
    /// `--timeout=300s` comes from the config and is part of what is reviewed.
    durations: bool,
}

/// Compare `text` with tests/it/snapshots/NAME.snap after redaction.
fn check(name: &str, sb: &Sandbox, redact: &Redact, text: &str) {
    let mut text = text.replace('\x1b', "\\e");
    // Longest first: the repository may sit inside the temp folder, or the reverse.
    let mut literals: Vec<(String, &str)> = Vec::new();
    for p in [sb.root.path().to_path_buf(), repo()] {
        let label = if p == repo() { "[REPO]" } else { "[ROOT]" };
        literals.push((p.display().to_string(), label));
        if let Ok(c) = fs::canonicalize(&p) {
            literals.push((c.display().to_string(), label));
        }
    }
    literals.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
    for (s, label) in literals {
        text = text.replace(&s, label);
    }
    for (port, label) in &redact.ports {
        text = replace_number(&text, *port, label);
    }
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    // RFC 3339 timestamps, then GitLab's `section_start:UNIX:` markers.
    settings.add_filter(
        r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?",
        "[TIME]",
    );
    settings.add_filter(r"section_(start|end):\d+:", "section_$1:[TIME]:");
    // Content tags of images (a hash of the build context and this machine's files).
    settings.add_filter(r"dv-[0-9a-f]{16}", "dv-[TAG]");
    // A step's fingerprint (`plan -o json`): a hash over its commands, which hold the owner
    // id below and the content tags.
    settings.add_filter(
        r#""fingerprint": "[0-9a-f]+""#,
        r#""fingerprint": "[FINGERPRINT]""#,
    );
    // The checkout's ownership id on the registry's volume (random, `.devenv/checkout-id`).
    settings.add_filter(r"/devenv/owner/[0-9a-f]{32}", "/devenv/owner/[ID]");
    // A run's log folder: .devenv/logs/20261207T182900Z-26461 (time and process id).
    settings.add_filter(r"\b\d{8}T\d{6}Z-\d+\b", "[TIME]-[ID]");
    if redact.durations {
        // Durations as the reporters print them: 1.2s, 0.03s, 123ms, 123 ms, 2m3s, 1m 2s.
        settings.add_filter(
            r"\b\d+(\.\d+)?\s?(ms|µs|s)\b|\b\d+m\s?\d+(\.\d+)?s\b",
            "[DURATION]",
        );
    }
    settings.bind(|| insta::assert_snapshot!(name, text));
}

/// Replace `n` where it stands as a whole number.
fn replace_number(text: &str, n: u16, label: &str) -> String {
    let needle = n.to_string();
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(&needle) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + needle.len()..].chars().next();
        out.push_str(&rest[..i]);
        if before.is_some_and(|c| c.is_ascii_digit()) || after.is_some_and(|c| c.is_ascii_digit()) {
            out.push_str(&needle);
        } else {
            out.push_str(label);
        }
        rest = &rest[i + needle.len()..];
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------- plan

#[test]
fn plan_of_the_example() {
    let sb = example_sandbox();
    let r = devenv(&sb, &["plan"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.text());
    check("plan_example", &sb, &Redact::default(), &r.text());
}

#[test]
fn plan_json_of_the_example() {
    let sb = example_sandbox();
    let r = devenv(&sb, &["plan", "-o", "json"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.text());
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("one JSON document");
    let pretty = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    check(
        "plan_example_json",
        &sb,
        &Redact::default(),
        &Run {
            stdout: pretty,
            ..r
        }
        .text(),
    );
}

#[test]
fn plan_of_a_minimal_config() {
    let sb = Sandbox::new();
    sb.write("devenv.toml", "version = 1\n");
    let r = devenv(&sb, &["plan"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.text());
    check("plan_minimal", &sb, &Redact::default(), &r.text());
}

// ---------------------------------------------------------------- status

/// A small project on run-time ports: no image (so `status` needs no registry API), verify
/// off, Calico from the fixture, and with `overlay` one namespace and one overlay (without,
/// every step of `up` runs after the one before, so the order of events is fixed).
fn small_project(overlay: bool) -> (Sandbox, Redact) {
    let sb = Sandbox::new().sleep_scale(0.0);
    let (registry, api) = (free_port(), free_port());
    sb.write(
        "devenv.toml",
        &format!(
            "version = 1\n\n[project]\nname = \"demo\"\n\n[cluster]\nagents = 1\napi_port = {api}\n\n\
             [registry]\nport = {registry}\n\n[calico]\nmanifests = \"{CALICO}\"\n\n\
             [verify]\nenabled = false\n{}",
            if overlay {
                "\n[namespaces.app]\n\n[[overlays]]\nname = \"dev\"\npath = \"deploy/dev\"\n"
            } else {
                ""
            }
        ),
    );
    sb.write(
        "deploy/dev/kustomization.yaml",
        "namespace: app\nresources:\n  - configmap.yaml\n",
    );
    sb.write(
        "deploy/dev/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  greeting: hello\n",
    );
    let redact = Redact {
        ports: vec![(registry, "[REGISTRY_PORT]"), (api, "[API_PORT]")],
        durations: false,
    };
    (sb, redact)
}

#[test]
fn status_healthy_after_up() {
    let (sb, redact) = small_project(true);
    let up = devenv(&sb, &["up"], &[]);
    assert_eq!(up.code, Some(0), "{}", up.text());
    let r = devenv(&sb, &["status"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.text());
    check("status_healthy", &sb, &redact, &r.text());
    let r = devenv(&sb, &["status", "-o", "json"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.text());
    check("status_healthy_json", &sb, &redact, &r.text());
}

#[test]
fn status_unhealthy_when_nodes_are_not_ready() {
    let (sb, redact) = small_project(true);
    let up = devenv(&sb, &["up"], &[]);
    assert_eq!(up.code, Some(0), "{}", up.text());
    // Calico's Installation deleted: the nodes' network goes, they turn NotReady.
    sb.kubectl_ok(&[
        "--context",
        "k3d-demo",
        "delete",
        "installation.operator.tigera.io",
        "default",
    ]);
    let r = devenv(&sb, &["status"], &[]);
    assert_eq!(r.code, Some(4), "{}", r.text());
    check("status_nodes_not_ready", &sb, &redact, &r.text());
    let r = devenv(&sb, &["status", "-o", "json"], &[]);
    assert_eq!(r.code, Some(4), "{}", r.text());
    check("status_nodes_not_ready_json", &sb, &redact, &r.text());
}

// ---------------------------------------------------------------- help

/// Every command path of the CLI (`[]`, `["up"]`, `["config", "show"]`…), from clap.
fn command_paths(cmd: &clap::Command, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(prefix.clone());
    for sub in cmd.get_subcommands() {
        let mut p = prefix.clone();
        p.push(sub.get_name().to_string());
        command_paths(sub, p, out);
    }
}

#[test]
fn help_of_every_command() {
    use clap::CommandFactory;
    let sb = Sandbox::new();
    let mut paths = Vec::new();
    command_paths(&devenv::cli::Cli::command(), Vec::new(), &mut paths);
    assert!(paths.len() > 10, "{paths:?}");
    for path in paths {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let r = devenv(&sb, &args, &[]);
        assert_eq!(r.code, Some(0), "{}", r.text());
        let name = if path.is_empty() {
            "help".to_string()
        } else {
            format!("help_{}", path.join("_"))
        };
        check(&name, &sb, &Redact::default(), &r.text());
    }
}

// ---------------------------------------------------------------- config errors

/// Run `devenv config validate` on a devenv.toml (the corpus file's own directives give the
/// file name and arguments) and snapshot what it prints.
fn config_error(name: &str, file: &str, text: &str, args: &[&str]) {
    let sb = Sandbox::new();
    bad_config_folders(&sb);
    sb.write(file, text);
    let mut all = vec!["config", "validate"];
    all.extend(args);
    let r = devenv(&sb, &all, &[]);
    assert_eq!(r.code, Some(2), "{}", r.text());
    assert!(sb.calls().is_empty(), "{:?}", sb.calls());
    check(name, &sb, &Redact::default(), &r.text());
}

fn corpus(name: &str) -> String {
    fs::read_to_string(
        repo()
            .join("tests/bad_configs")
            .join(format!("{name}.toml")),
    )
    .unwrap()
}

#[test]
fn config_error_type() {
    config_error(
        "config_error_type",
        "devenv.toml",
        &corpus("type_string_for_int"),
        &[],
    );
}

#[test]
fn config_error_unknown_key() {
    config_error(
        "config_error_unknown_key",
        "devenv.toml",
        &corpus("unknown_key_cluster"),
        &[],
    );
}

#[test]
fn config_error_misnamed_config() {
    config_error(
        "config_error_misnamed",
        "devenv.yaml",
        &corpus("near_miss_yaml"),
        &[],
    );
}

#[test]
fn config_error_caused_by_a_profile() {
    config_error(
        "config_error_profile",
        "devenv.toml",
        &corpus("profile_causes_base_error"),
        &["--profile", "tiny"],
    );
}

#[test]
fn config_error_duration_out_of_range() {
    config_error(
        "config_error_duration",
        "devenv.toml",
        &corpus("duration_over_max"),
        &[],
    );
}

#[test]
fn config_error_path_outside_the_repository() {
    let sb_text = corpus("outside_overlay");
    let sb = Sandbox::new();
    bad_config_folders(&sb);
    sb.write("../home/kustomization.yaml", "resources: []\n");
    sb.write("devenv.toml", &sb_text);
    let r = devenv(&sb, &["config", "validate"], &[]);
    assert_eq!(r.code, Some(2), "{}", r.text());
    check("config_error_outside", &sb, &Redact::default(), &r.text());
}

#[test]
fn config_error_bad_tools_spec() {
    config_error(
        "config_error_tools",
        "devenv.toml",
        "version = 1\n\n[tools]\nk3d = \"5.8.3\"\nkubectl = \"one point thirty\"\n",
        &[],
    );
}

#[test]
fn config_error_syntax() {
    config_error(
        "config_error_syntax",
        "devenv.toml",
        &corpus("syntax_unclosed_string"),
        &[],
    );
}

/// Every `[[charts]]` error as printed: each `chart_*` corpus file, with the files its
/// `# touch:` lines ask for, is snapshot `config_error_<file>`.
#[test]
fn config_errors_of_charts() {
    let mut names: Vec<String> = fs::read_dir(repo().join("tests/bad_configs"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_prefix("chart_")
                .and_then(|n| n.strip_suffix(".toml"))
                .map(|n| format!("chart_{n}"))
        })
        .collect();
    names.sort();
    assert!(names.len() >= 30, "{names:?}");
    for name in names {
        let text = corpus(&name);
        let sb = Sandbox::new();
        bad_config_folders(&sb);
        for line in text.lines() {
            if let Some(path) = line.strip_prefix("# touch:") {
                sb.write(path.trim(), "FROM scratch\n");
            }
        }
        sb.write("devenv.toml", &text);
        let r = devenv(&sb, &["config", "validate"], &[]);
        assert_eq!(r.code, Some(2), "{name}: {}", r.text());
        check(&format!("config_error_{name}"), &sb, &Redact::default(), &r.text());
    }
}

// ---------------------------------------------------------------- a failed up

/// `up` with `k3d cluster create` failing, as each reporter prints it off a terminal.
fn failed_up(name: &str, env: &[(&str, &str)]) {
    let (sb, mut redact) = small_project(false);
    redact.durations = true;
    sb.fault(json!({"tool": "k3d", "match": ["cluster", "create"], "action": "fail", "stderr": "boom: no space left on device", "exit": 1}));
    let project = sb.project.display().to_string();
    let env: Vec<(&str, &str)> = env
        .iter()
        .map(|(k, v)| {
            (
                *k,
                if *v == "[PROJECT]" {
                    project.as_str()
                } else {
                    *v
                },
            )
        })
        .collect();
    let r = devenv(&sb, &["up"], &env);
    assert_eq!(r.code, Some(1), "{}", r.text());
    check(name, &sb, &redact, &r.text());
}

#[test]
fn failed_up_plain() {
    failed_up("up_failed_plain", &[]);
}

#[test]
fn failed_up_github_actions() {
    failed_up(
        "up_failed_github",
        &[("GITHUB_ACTIONS", "true"), ("CI", "true")],
    );
}

#[test]
fn failed_up_gitlab_ci() {
    failed_up(
        "up_failed_gitlab",
        &[
            ("GITLAB_CI", "true"),
            ("CI", "true"),
            ("CI_PROJECT_DIR", "[PROJECT]"),
        ],
    );
}
