//! devenv as CI and scripts see it: GitHub Actions groups, annotations and job summary;
//! no escape codes or prompts without a terminal (or under CI); `--output json`; the
//! documented exit codes; completions and the man page. Everything runs against the
//! fake k3d/kubectl and a docker stub, so each test takes well under a second.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{self, free_port, json, show, text, Sandbox, CALICO};
use serde_json::Value;

/// A project with one image and one overlay, on free ports, with a docker stub (the real
/// docker is hidden): `version`/`info` answer, `build`/`push` succeed and print a line.
struct Project {
    sb: Sandbox,
    toml: String,
    registry_port: u16,
}

impl Project {
    fn new() -> Project {
        Project::in_sandbox(Sandbox::new().sleep_scale(0.0))
    }

    fn in_sandbox(sb: Sandbox) -> Project {
        let docker = sb.root.path().join("docker-stub");
        std::fs::write(
            &docker,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{log}'\ncase \"$1\" in\n  version) echo 27.3.1 ;;\n  info) echo '{root}' ;;\n  build|push) echo \"docker stub: $*\" ;;\n  *) echo \"docker stub: unexpected $*\" >&2; exit 1 ;;\nesac\n",
                log = sb.root.path().join("docker-calls.log").display(),
                root = sb.root.path().display(),
            ),
        )
        .unwrap();
        make_executable(&docker);
        let registry_port = free_port();
        let toml = format!(
            r#"version = 1

[project]
name = "demo"

[cluster]
agents = 1
api_port = {api_port}

[registry]
port = {registry_port}

[calico]
manifests = "{CALICO}"

[build]
docker = "{docker}"

[verify]
enabled = false

[[images]]
name = "web"
context = "app"

[namespaces.app]

[[overlays]]
name = "dev"
path = "deploy/overlays/dev"
"#,
            api_port = free_port(),
            docker = docker.display(),
        );
        sb.write("devenv.toml", &toml);
        sb.write("app/Dockerfile", "FROM scratch\nCOPY index.html /\n");
        sb.write("app/index.html", "hello\n");
        sb.write(
            "deploy/base/kustomization.yaml",
            "resources:\n  - deployment.yaml\n",
        );
        sb.write(
            "deploy/base/deployment.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: web\n",
        );
        sb.write(
            "deploy/overlays/dev/kustomization.yaml",
            "namespace: app\nresources:\n  - ../../base\n",
        );
        Project {
            sb,
            toml,
            registry_port,
        }
    }

    /// 1-based line of the first line of devenv.toml that is exactly `text`.
    fn line_of(&self, text: &str) -> usize {
        self.toml
            .lines()
            .position(|l| l == text)
            .unwrap_or_else(|| panic!("{text:?} not in devenv.toml"))
            + 1
    }
}

/// A registry API on 127.0.0.1:PORT that has every manifest (`status` asks it whether the
/// images `up` pushed are there). Runs until the test process ends.
fn serve_registry(port: u16) {
    use std::io::{BufRead, BufReader, Write};
    let listener =
        std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind the registry port");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            let mut header = String::new();
            while reader.read_line(&mut header).map_or(false, |n| n > 2) {
                header.clear();
            }
            let path = request.split_whitespace().nth(1).unwrap_or("");
            let response = if path == "/v2/" {
                "HTTP/1.1 200 OK\r\nDocker-Distribution-API-Version: registry/2.0\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_string()
            } else if path.starts_with("/v2/") && path.contains("/manifests/") {
                format!(
                    "HTTP/1.1 200 OK\r\nDocker-Content-Digest: sha256:{}\r\nContent-Type: application/vnd.docker.distribution.manifest.v2+json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    "ab".repeat(32)
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string()
            };
            let _ = reader.get_mut().write_all(response.as_bytes());
        }
    });
}

fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn run(cmd: &mut assert_cmd::Command) -> Output {
    cmd.output().expect("run devenv")
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

/// Exactly one JSON document on stdout, and nothing else.
fn one_json_document(o: &Output) -> Value {
    let mut docs = serde_json::Deserializer::from_slice(&o.stdout).into_iter::<Value>();
    let first = docs
        .next()
        .unwrap_or_else(|| panic!("no JSON document on stdout\n{}", show(o)))
        .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{}", show(o)));
    assert!(
        docs.next().is_none(),
        "more than one document on stdout\n{}",
        show(o)
    );
    assert_eq!(first["version"], json!(1), "{}", show(o));
    first
}

/// Plain-mode event lines: `2026-11-25T01:40:02Z  start  id  title`.
fn is_event_line(l: &str) -> bool {
    let b = l.as_bytes();
    b.len() > 22 && b[4] == b'-' && b[10] == b'T' && b[19] == b'Z' && &l[20..22] == "  "
}

// ---------------------------------------------------------------------------------------
// GitHub Actions

/// The groups of a GitHub-mode log: (header, lines inside). Panics on a nested group, an
/// `::endgroup::` without a group, a group never closed, or an event line of another step
/// inside a group (output interleaved).
fn github_groups(log: &str) -> Vec<(String, Vec<String>)> {
    let mut groups = Vec::new();
    let mut open: Option<(String, Vec<String>)> = None;
    let mut stop_token: Option<String> = None;
    for (n, line) in log.lines().enumerate() {
        if let Some(t) = &stop_token {
            // Between ::stop-commands:: and its token nothing is a command.
            if line == format!("::{t}::") {
                stop_token = None;
            } else if let Some((_, lines)) = open.as_mut() {
                lines.push(line.to_string());
            }
            continue;
        }
        if let Some(t) = line.strip_prefix("::stop-commands::") {
            stop_token = Some(t.to_string());
        } else if let Some(h) = line.strip_prefix("::group::") {
            assert!(open.is_none(), "group nested at line {n}:\n{log}");
            open = Some((h.to_string(), Vec::new()));
        } else if line == "::endgroup::" {
            groups.push(
                open.take()
                    .unwrap_or_else(|| panic!("endgroup without group at line {n}:\n{log}")),
            );
        } else if let Some((h, lines)) = open.as_mut() {
            assert!(
                !is_event_line(line),
                "event line inside the group {h:?} at line {n}:\n{log}"
            );
            lines.push(line.to_string());
        }
    }
    assert!(open.is_none(), "group never closed:\n{log}");
    groups
}

/// The step id in a group header `2026-…Z  done   cluster  Create cluster … (0.1s)`.
fn group_step(header: &str) -> &str {
    header.split_whitespace().nth(2).unwrap_or("")
}

#[test]
fn github_actions_folds_each_step_in_one_group_and_appends_the_summary() {
    let p = Project::new();
    let summary = p.sb.root.path().join("step-summary.md");
    std::fs::write(&summary, "## from an earlier step\n").unwrap();
    let o = run(p
        .sb
        .devenv(["up"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_WORKSPACE", &p.sb.project));
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    let log = text(&o.stderr);
    let groups = github_groups(&log);

    // Every step that ran commands has exactly one group, holding its own output.
    // (Preflight's commands print only data devenv reads, versions as JSON: that stays in
    // the step's log, so preflight has no group; checked below.)
    let expect = [
        (
            "registry",
            "Successfully created registry 'k3d-demo-registry'",
        ),
        ("cluster", "Cluster 'demo' created successfully!"),
        (
            "calico-crds",
            "installations.operator.tigera.io serverside-applied",
        ),
        (
            "calico-operator",
            "deployment \"tigera-operator\" successfully rolled out",
        ),
        ("image:web", "docker stub: build -t localhost:"),
        ("overlay:dev", "deployment.apps/web serverside-applied"),
    ];
    for (step, needle) in expect {
        let mine: Vec<_> = groups
            .iter()
            .filter(|(h, _)| group_step(h) == step)
            .collect();
        assert_eq!(mine.len(), 1, "groups of {step}: {mine:?}\n{log}");
        let (header, lines) = mine[0];
        assert!(header.contains("  done   "), "{header}");
        assert!(
            lines.iter().any(|l| l.contains(needle)),
            "{step}'s group lacks {needle:?}: {lines:?}"
        );
    }
    assert!(
        !log.contains("{\"k3d\":\"v"),
        "data a command printed for devenv (k3d version -o json) was folded:\n{log}"
    );
    // No step id appears twice, and no output was left over for an "unfinished" group.
    let ids: std::collections::HashSet<&str> = groups.iter().map(|(h, _)| group_step(h)).collect();
    assert_eq!(ids.len(), groups.len(), "a step has two groups:\n{log}");
    assert!(!log.contains("(unfinished)"), "{log}");
    assert!(!log.contains("::error"), "{log}");

    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.starts_with("## from an earlier step\n\n### devenv up succeeded in "),
        "{md}"
    );
    assert_eq!(md.matches("### devenv up").count(), 1, "{md}");
    for title in [
        "Check prerequisites",
        "Create cluster demo (1 server, 1 agent, no flannel)",
        "Build and push image web",
        "Apply overlay dev (deploy/overlays/dev)",
    ] {
        let row = md
            .lines()
            .find(|l| l.starts_with("| ✅ | ") && l.contains(&format!("| {title} |")))
            .unwrap_or_else(|| panic!("no row for {title:?}:\n{md}"));
        // | ✅ | title | done | 0.1s |
        let duration = row.trim_end_matches(" |").rsplit("| ").next().unwrap();
        assert!(
            duration.ends_with('s') && duration[..duration.len() - 1].parse::<f64>().is_ok(),
            "duration {duration:?} in {row}"
        );
    }
    let image = format!("| web | `localhost:{}/web:", p.registry_port);
    assert!(md.contains("#### Images") && md.contains(&image), "{md}");
    assert!(md.contains("| built |"), "{md}");
    assert!(
        md.contains("#### Overlays") && md.contains("| dev | 1 | `"),
        "{md}"
    );

    // A second run appends again (the journal makes every step unchanged).
    let o = run(p
        .sb
        .devenv(["up"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary));
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("## from an earlier step\n"), "{md}");
    assert_eq!(md.matches("### devenv up succeeded").count(), 2, "{md}");
}

#[test]
fn github_actions_annotates_a_failed_step_at_its_config_line() {
    let p = Project::new();
    p.sb.fault(json!({"tool": "k3d", "match": ["cluster", "create"], "action": "fail", "stderr": "boom: no space left"}));
    let summary = p.sb.root.path().join("step-summary.md");
    // The repository is the sandbox root; devenv.toml is in its `project/` folder.
    let o = run(p
        .sb
        .devenv(["up"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_WORKSPACE", p.sb.root.path()));
    assert_eq!(code(&o), Some(1), "{}", show(&o));
    let log = text(&o.stderr);
    github_groups(&log);
    let errors: Vec<&str> = log.lines().filter(|l| l.starts_with("::error")).collect();
    assert_eq!(errors.len(), 1, "{log}");
    let line = p.line_of("[cluster]");
    assert!(
        errors[0].starts_with(&format!("::error file=project/devenv.toml,line={line},")),
        "annotation not on [cluster] (line {line}): {}",
        errors[0]
    );
    assert!(errors[0].contains("boom: no space left"), "{}", errors[0]);
    // The message is one line for GitHub (escaped newlines).
    assert!(errors[0].contains("%0A"), "{}", errors[0]);
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("### devenv up failed in "), "{md}");
    assert!(md.contains("| ❌ | Create cluster demo"), "{md}");
}

#[test]
fn github_actions_annotates_image_and_overlay_failures_at_their_own_table() {
    let p = Project::new();
    // A second overlay, so the annotation must pick the right [[overlays]] table.
    p.sb.write(
        "deploy/overlays/extra/kustomization.yaml",
        "namespace: app\nresources:\n  - worker.yaml\n",
    );
    p.sb.write(
        "deploy/overlays/extra/worker.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: worker\nspec:\n  selector:\n    matchLabels: {app: worker}\n  template:\n    metadata:\n      labels: {app: worker}\n    spec:\n      containers:\n        - name: worker\n          image: busybox\n",
    );
    let toml = format!(
        "{}\n[[overlays]]\nname = \"extra\"\npath = \"deploy/overlays/extra\"\ndepends_on = [\"dev\"]\n",
        p.toml
    );
    p.sb.write("devenv.toml", &toml);
    let overlay_lines: Vec<usize> = toml
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == "[[overlays]]")
        .map(|(i, _)| i + 1)
        .collect();
    p.sb.fault(json!({"tool": "kubectl", "match": ["rollout", "status", "deployment/worker"], "action": "fail", "stderr": "error: deployment \"worker\" exceeded its progress deadline"}));
    let gh = |sb: &Sandbox| {
        let o = run(sb.devenv(["up"]).env("GITHUB_ACTIONS", "true"));
        assert_eq!(code(&o), Some(1), "{}", show(&o));
        let log = text(&o.stderr);
        github_groups(&log);
        let errors: Vec<String> = log
            .lines()
            .filter(|l| l.starts_with("::error"))
            .map(String::from)
            .collect();
        assert_eq!(errors.len(), 1, "{log}");
        errors[0].clone()
    };
    let error = gh(&p.sb);
    assert!(
        error.starts_with(&format!(
            "::error file=devenv.toml,line={},",
            overlay_lines[1]
        )),
        "not on the second [[overlays]] (line {}): {error}",
        overlay_lines[1]
    );
    assert!(
        error.contains("title=Apply overlay extra") && error.contains("worker"),
        "{error}"
    );

    // A failed push points at the image's [[images]] table.
    p.sb.clear_faults();
    p.sb.write("app/index.html", "changed\n"); // a new tag: the image is built again
    let stub = p.sb.root.path().join("docker-stub");
    let script = std::fs::read_to_string(&stub).unwrap();
    std::fs::write(&stub, script.replace("  build|push)", "  push) echo 'denied: requested access to the resource is denied' >&2; exit 1 ;;\n  build)")).unwrap();
    let error = gh(&p.sb);
    let line = p.line_of("[[images]]");
    assert!(
        error.starts_with(&format!("::error file=devenv.toml,line={line},")),
        "not on [[images]] (line {line}): {error}"
    );
    assert!(error.contains("denied"), "{error}");
}

#[test]
fn github_actions_annotates_a_config_error_and_exits_2() {
    let p = Project::new();
    let toml = p.toml.replace("agents = 1", "agents = \"many\"");
    p.sb.write("devenv.toml", &toml);
    let line = toml.lines().position(|l| l == "agents = \"many\"").unwrap() + 1;
    let o = run(p
        .sb
        .devenv(["up"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_WORKSPACE", &p.sb.project));
    assert_eq!(code(&o), Some(2), "{}", show(&o));
    let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
    let errors: Vec<&str> = all.lines().filter(|l| l.starts_with("::error")).collect();
    assert_eq!(errors.len(), 1, "{all}");
    assert!(
        errors[0].starts_with(&format!("::error file=devenv.toml,line={line},col=10")),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("cluster.agents"), "{}", errors[0]);
    // The human diagnostic is there too, and nothing ran.
    assert!(text(&o.stderr).contains("devenv.toml:"), "{}", show(&o));
    assert!(p.sb.calls().is_empty(), "{:?}", p.sb.calls());
}

// ---------------------------------------------------------------------------------------
// Non-interactive by detection

fn assert_no_escapes(what: &str, o: &Output) {
    for (name, bytes) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
        assert!(
            !bytes.contains(&0x1b),
            "{what}: escape code on {name}\n{}",
            show(o)
        );
    }
}

#[test]
fn no_escape_codes_without_a_terminal() {
    let p = Project::new();
    // A terminal type that allows color: only the missing terminal may turn it off.
    let dv = |args: &[&str]| {
        let mut c = p.sb.devenv(args);
        c.env("TERM", "xterm-256color");
        c
    };
    for args in [
        &["plan"][..],
        &["status"],
        &["up", "-v"],
        &["status"],
        &["up"],
        &["down"],
        &["--bogus"],
        &["reset"],
        &["completions", "bash"],
    ] {
        let o = run(&mut dv(args));
        assert_no_escapes(&args.join(" "), &o);
    }
    p.sb.fault(json!({"tool": "k3d", "match": ["registry", "create"], "action": "fail", "stderr": "\u{1b}[31mred failure\u{1b}[0m"}));
    let o = run(&mut dv(&["up"]));
    assert_eq!(code(&o), Some(1), "{}", show(&o));
    // A tool's own colors are stripped too.
    assert!(text(&o.stderr).contains("red failure"), "{}", show(&o));
    assert_no_escapes("failing up", &o);
    p.sb.write("devenv.toml", &p.toml.replace("agents = 1", "agents = -1"));
    let o = run(&mut dv(&["plan"]));
    assert_eq!(code(&o), Some(2), "{}", show(&o));
    assert_no_escapes("config error", &o);
}

/// Runs devenv with stdin, stdout and stderr on a new pseudo-terminal; returns the exit
/// status and everything the terminal received.
fn on_a_terminal(sb: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    use std::os::fd::{FromRawFd, OwnedFd};
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two new descriptors, which we then own.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut cmd = sb.command(env!("CARGO_BIN_EXE_devenv"));
    cmd.args(args)
        .env("TERM", "xterm-256color")
        .env("COLUMNS", "120")
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    for (k, v) in env {
        cmd.env(k, v);
    }
    // The terminal must be the controlling one for nothing here; a new session keeps
    // devenv from touching the test's own.
    use std::os::unix::process::CommandExt;
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn devenv on a pty");
    drop(cmd); // closes our copies of the slave: EOF (EIO) once devenv exits
    let mut reader = std::fs::File::from(master);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break, // EIO: the slave side is closed
        }
    }
    let status = child.wait().unwrap();
    (status.code(), text(&out))
}

#[test]
fn ci_turns_off_spinners_colors_and_prompts_even_on_a_terminal() {
    let p = Project::new();
    // Control: on a terminal without CI devenv draws (so the scan below can see escapes).
    let (status, tty) = on_a_terminal(&p.sb, &["up"], &[]);
    assert_eq!(status, Some(0), "{tty}");
    assert!(
        tty.contains('\u{1b}'),
        "no escape codes on a terminal:\n{tty}"
    );
    for ci in ["true", "1"] {
        let (status, out) = on_a_terminal(&p.sb, &["up"], &[("CI", ci)]);
        assert_eq!(status, Some(0), "{out}");
        assert!(!out.contains('\u{1b}'), "CI={ci}: escape codes:\n{out:?}");
        assert!(out.contains("devenv up succeeded"), "{out}");
        // No spinner frames: every line is a whole event line or a summary line.
        assert!(!out.replace("\r\n", "\n").contains('\r'), "{out:?}");
    }
    // A question `reset` would ask is an error naming the flag, even on a terminal.
    p.sb.clear_calls();
    let (status, out) = on_a_terminal(&p.sb, &["reset"], &[("CI", "true")]);
    assert_eq!(status, Some(2), "{out}");
    assert!(out.contains("--yes"), "{out}");
    assert!(
        p.sb.mutating_calls().is_empty(),
        "{:?}",
        p.sb.mutating_calls()
    );
}

#[test]
fn reset_without_yes_refuses_and_deletes_nothing() {
    let p = Project::new();
    let o = run(&mut p.sb.devenv(["up"]));
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    p.sb.clear_calls();
    let o = run(&mut p.sb.devenv(["reset"]));
    assert_eq!(code(&o), Some(2), "{}", show(&o));
    let err = text(&o.stderr);
    assert!(err.contains("--yes"), "{err}");
    assert!(
        err.contains("k3d-demo-registry") && err.contains("`demo`"),
        "{err}"
    );
    let deletes: Vec<String> =
        p.sb.calls()
            .iter()
            .filter(|c| c.tool == "k3d" && c.has(&["delete"]))
            .map(|c| c.line())
            .collect();
    assert!(deletes.is_empty(), "{deletes:?}");
    assert!(
        p.sb.mutating_calls().is_empty(),
        "{:?}",
        p.sb.mutating_calls()
    );
    let world = p.sb.world().to_string();
    assert!(
        world.contains("k3d-demo-server-0"),
        "the cluster is gone: {world}"
    );
}

// ---------------------------------------------------------------------------------------
// --output json

#[test]
fn plan_json_is_one_versioned_document_with_every_command() {
    let p = Project::new();
    // GitHub mode must not leak groups or annotations into the document either.
    let o = run(p
        .sb
        .devenv(["plan", "-o", "json"])
        .env("GITHUB_ACTIONS", "true"));
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    let doc = one_json_document(&o);
    assert_eq!(doc["project"], "demo");
    assert_eq!(doc["context"], "k3d-demo");
    let push = format!("localhost:{}", p.registry_port);
    assert_eq!(doc["registry"]["push"], json!(push));
    let steps = doc["steps"].as_array().expect("steps");
    let ids: Vec<&str> = steps.iter().filter_map(|s| s["id"].as_str()).collect();
    for id in [
        "preflight",
        "registry",
        "cluster",
        "image:web",
        "overlay:dev",
    ] {
        assert!(ids.contains(&id), "{id} not in {ids:?}");
    }
    for s in steps {
        for key in ["id", "kind", "title", "needs", "commands"] {
            assert!(!s[key].is_null(), "step without {key}: {s}");
        }
        for c in s["commands"].as_array().unwrap() {
            assert!(c["program"].is_string() && c["args"].is_array(), "{c}");
        }
    }
    let cluster = steps.iter().find(|s| s["id"] == "cluster").unwrap();
    let create = cluster["commands"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["args"][0] == "cluster" && c["args"][1] == "create")
        .unwrap_or_else(|| panic!("no k3d cluster create in {cluster}"));
    assert_eq!(create["program"], "k3d");
    assert_eq!(
        create["args"],
        json!(["cluster", "create", "--config", ".devenv/k3d-config.yaml"])
    );
    // plan runs nothing.
    assert!(p.sb.calls().is_empty(), "{:?}", p.sb.calls());
    assert!(!p.sb.root.path().join("docker-calls.log").exists());
}

#[test]
fn status_json_lists_components_and_health() {
    let p = Project::new();
    let o = run(&mut p.sb.devenv(["status", "-o", "json"]));
    assert_eq!(code(&o), Some(4), "{}", show(&o));
    let doc = one_json_document(&o);
    assert_eq!(doc["healthy"], false);
    let components = doc["components"].as_array().expect("components");
    assert!(!components.is_empty());
    for c in components {
        assert!(c["component"].is_string() && c["name"].is_string(), "{c}");
        assert!(c["healthy"].is_boolean() && c["detail"].is_string(), "{c}");
    }
    assert!(components
        .iter()
        .any(|c| c["component"] == "cluster" && c["healthy"] == false));

    assert_eq!(code(&run(&mut p.sb.devenv(["up"]))), Some(0));
    // The docker stub pushed nowhere: a registry that has every image stands in.
    serve_registry(p.registry_port);
    let o = run(&mut p.sb.devenv(["status", "-o", "json"]));
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    let doc = one_json_document(&o);
    assert_eq!(doc["healthy"], true, "{doc}");
    let components = doc["components"].as_array().unwrap();
    assert!(components.iter().all(|c| c["healthy"] == true), "{doc}");
    for name in ["registry", "cluster", "nodes", "calico"] {
        assert!(
            components.iter().any(|c| c["component"] == name),
            "{name} missing: {doc}"
        );
    }
}

#[test]
fn up_json_reports_steps_result_and_exit_code() {
    let p = Project::new();
    let o = run(p
        .sb
        .devenv(["up", "-o", "json"])
        .env("GITHUB_ACTIONS", "true"));
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    let doc = one_json_document(&o);
    assert_eq!(doc["result"], "success");
    assert_eq!(doc["exit_code"], 0);
    assert_eq!(doc["command"], "up");
    let steps = doc["steps"].as_array().expect("steps");
    assert!(steps.len() >= 8, "{doc}");
    for s in steps {
        // A first run has nothing to prune: that step is the one "unchanged".
        let expected = if s["id"] == "prune" {
            "unchanged"
        } else {
            "done"
        };
        assert_eq!(s["status"], expected, "{s}");
        assert!(
            s["id"].is_string() && s["title"].is_string() && s["duration_ms"].is_u64(),
            "{s}"
        );
    }
    let image = &doc["images"][0];
    assert_eq!(image["name"], "web");
    assert_eq!(image["action"], "built");
    assert!(image["reference"]
        .as_str()
        .unwrap()
        .starts_with(&format!("localhost:{}/web:", p.registry_port)));
    assert_eq!(doc["overlays"][0]["name"], "dev");
    assert_eq!(doc["overlays"][0]["objects"], 1);
    // Human progress stays off both streams in JSON mode.
    let err = text(&o.stderr);
    assert!(!err.lines().any(is_event_line), "{err}");
    assert!(!err.contains("::group::"), "{err}");

    // Again: every step is unchanged. Then a failure is a document too.
    let o = run(&mut p.sb.devenv(["up", "-o", "json"]));
    let doc = one_json_document(&o);
    assert_eq!(doc["result"], "success", "{doc}");
    let unchanged = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "unchanged")
        .count();
    assert!(unchanged >= 5, "{doc}");

    let p = Project::new();
    p.sb.fault(
        json!({"tool": "k3d", "match": ["cluster", "create"], "action": "fail", "stderr": "boom"}),
    );
    let o = run(&mut p.sb.devenv(["up", "-o", "json"]));
    assert_eq!(code(&o), Some(1), "{}", show(&o));
    let doc = one_json_document(&o);
    assert_eq!(doc["result"], "failed");
    assert_eq!(doc["exit_code"], 1);
    let failed = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "failed")
        .unwrap_or_else(|| panic!("no failed step: {doc}"));
    assert_eq!(failed["id"], "cluster");
    assert!(
        failed["detail"].as_str().unwrap().contains("boom"),
        "{failed}"
    );
}

// ---------------------------------------------------------------------------------------
// Exit codes (README: 0 ok, 1 step failed, 2 config/usage, 3 prerequisite, 4 unhealthy,
// 130 interrupted; 5 "not built yet" is unused: every subcommand is built).

#[test]
fn exit_0_plan_ok() {
    let p = Project::new();
    let o = run(&mut p.sb.devenv(["plan"]));
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    assert!(
        text(&o.stdout).contains("k3d cluster create --config .devenv/k3d-config.yaml"),
        "{}",
        show(&o)
    );
}

#[test]
fn exit_1_a_step_failed() {
    let p = Project::new();
    p.sb.fault(json!({"tool": "k3d", "match": ["registry", "create"], "action": "fail", "stderr": "port taken"}));
    let o = run(&mut p.sb.devenv(["up"]));
    assert_eq!(code(&o), Some(1), "{}", show(&o));
    let err = text(&o.stderr);
    assert!(
        err.contains("port taken") && err.contains("registry"),
        "{err}"
    );
    // Steps after the failed one did not run.
    assert!(
        !p.sb.calls().iter().any(|c| c.has(&["cluster", "create"])),
        "{:?}",
        p.sb.calls()
    );
}

#[test]
fn exit_2_bad_config() {
    let p = Project::new();
    p.sb.write("devenv.toml", &p.toml.replace("[verify]", "[verfy]"));
    for cmd in ["plan", "up", "status", "down"] {
        let o = run(&mut p.sb.devenv([cmd]));
        assert_eq!(code(&o), Some(2), "{cmd}: {}", show(&o));
        assert!(text(&o.stderr).contains("verfy"), "{cmd}: {}", show(&o));
    }
    assert!(p.sb.calls().is_empty(), "{:?}", p.sb.calls());
}

#[test]
fn exit_2_bad_command_line() {
    let p = Project::new();
    for args in [
        &["up", "--bogus"][..],
        &["plan", "-o", "yaml"],
        &["frobnicate"],
        &["completions", "tcsh"],
    ] {
        let o = run(&mut p.sb.devenv(args));
        assert_eq!(code(&o), Some(2), "{args:?}: {}", show(&o));
        assert!(text(&o.stderr).contains("error"), "{args:?}: {}", show(&o));
        assert!(o.stdout.is_empty(), "{args:?}: {}", show(&o));
    }
    assert!(p.sb.calls().is_empty());
}

#[test]
fn exit_3_a_prerequisite_is_missing() {
    let p = Project::new();
    // PATH with the fake kubectl but no k3d (and no real one).
    let bin = p.sb.root.path().join("bin-without-k3d");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["kubectl", "docker"] {
        std::os::unix::fs::symlink(support::fakes_dir().join(tool), bin.join(tool)).unwrap();
    }
    let fakes = support::fakes_dir();
    let rest = std::env::split_paths(&p.sb.path_var())
        .filter(|d| *d != fakes)
        .collect::<Vec<PathBuf>>();
    assert!(
        rest.iter().all(|d| !d.join("k3d").exists()),
        "a real k3d is on PATH: {rest:?}"
    );
    let path = std::env::join_paths(std::iter::once(bin).chain(rest)).unwrap();
    let o = run(p.sb.devenv(["up"]).env("PATH", &path));
    assert_eq!(code(&o), Some(3), "{}", show(&o));
    assert!(text(&o.stderr).contains("k3d"), "{}", show(&o));
    assert!(
        p.sb.mutating_calls().is_empty(),
        "{:?}",
        p.sb.mutating_calls()
    );
    let o = run(p.sb.devenv(["doctor"]).env("PATH", &path));
    assert_eq!(code(&o), Some(3), "{}", show(&o));
}

#[test]
fn exit_4_status_unhealthy() {
    let p = Project::new();
    let o = run(&mut p.sb.devenv(["status"]));
    assert_eq!(code(&o), Some(4), "{}", show(&o));
    assert!(text(&o.stdout).contains("UNHEALTHY"), "{}", show(&o));
    assert!(
        p.sb.mutating_calls().is_empty(),
        "{:?}",
        p.sb.mutating_calls()
    );
}

#[test]
fn exit_130_interrupted_by_sigint() {
    let p = Project::new();
    p.sb.fault(json!({"tool": "k3d", "match": ["cluster", "create"], "action": "hang"}));
    let mut child =
        p.sb.command(env!("CARGO_BIN_EXE_devenv"))
            .args(["up", "-o", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    // The fake writes hang-<pid>.child once it hangs.
    let start = Instant::now();
    let marker = loop {
        let found = std::fs::read_dir(&p.sb.state)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|f| {
                f.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("hang-")
            });
        if let Some(f) = found {
            break f;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "cluster create never hung"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "devenv exited before the hang"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    // SAFETY: a signal to the child we spawned.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let sent = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "devenv did not stop within 5s of SIGINT"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut stdout = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    let mut stderr = Vec::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    let o = Output {
        status,
        stdout,
        stderr,
    };
    assert_eq!(code(&o), Some(130), "{}", show(&o));
    let doc = one_json_document(&o);
    assert_eq!(doc["result"], "interrupted", "{doc}");
    assert_eq!(doc["exit_code"], 130);
    // The hung k3d's process group was killed with it.
    let pid: i32 = std::fs::read_to_string(&marker)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let gone = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z "))
    };
    while !gone(pid) {
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "the hung k3d survived"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ---------------------------------------------------------------------------------------
// Completions and the man page

#[test]
fn completions_for_every_shell_name_the_subcommands() {
    let sb = Sandbox::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let o = run(&mut sb.devenv(["completions", shell]));
        assert_eq!(code(&o), Some(0), "{shell}: {}", show(&o));
        let script = text(&o.stdout);
        assert!(script.len() > 200, "{shell}: {script}");
        for word in ["devenv", "up", "down", "plan", "status", "reset", "profile"] {
            assert!(has_word(&script, word), "{shell} completion lacks {word:?}");
        }
    }
}

/// `word` appears delimited (not as part of `update` or `--up-to`).
fn has_word(text: &str, word: &str) -> bool {
    let part = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(i, _)| {
        !text[..i].chars().next_back().is_some_and(part)
            && !text[i + word.len()..].chars().next().is_some_and(part)
    })
}

#[test]
fn man_prints_roff() {
    let sb = Sandbox::new();
    let o = run(&mut sb.devenv(["man"]));
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    let roff = text(&o.stdout);
    assert!(roff.contains(".TH devenv"), "{roff}");
    for word in ["up", "down", "status", "Exit status"] {
        assert!(roff.contains(word), "man page lacks {word:?}");
    }
}
