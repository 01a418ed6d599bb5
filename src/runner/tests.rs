use super::*;
use std::sync::Mutex;

// eventually, process_gone, read_pid: shared with the integration tests.
#[path = "../../tests/it/support/process.rs"]
mod process;
use process::{eventually, process_gone, read_pid};

fn runner(dir: &Path) -> Runner {
    Runner::new(dir.join("logs"), CancellationToken::new())
}

fn sh(script: &str) -> Cmd {
    Cmd::new("sh").arg("-c").arg(script)
}

#[tokio::test]
async fn captures_stdout_and_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let out = runner(dir.path())
        .run("s", &sh("echo out; echo err >&2; printf 'no newline'"))
        .await
        .unwrap();
    assert_eq!(out.status, 0);
    assert_eq!(out.stdout_str(), "out\nno newline");
    assert_eq!(out.stderr_str(), "err\n");
}

#[tokio::test]
async fn stdin_is_fed_and_env_and_cwd_apply() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = sh("cat; echo \"$DEVENV_TEST_VAR\"; pwd")
        .stdin(b"from stdin\n".to_vec())
        .env("DEVENV_TEST_VAR", "v1")
        .cwd(dir.path());
    let out = runner(dir.path()).run("s", &cmd).await.unwrap();
    let cwd = dir.path().canonicalize().unwrap();
    assert_eq!(
        out.stdout_str(),
        format!("from stdin\nv1\n{}\n", cwd.display())
    );
}

#[tokio::test]
async fn nonzero_exit_is_failed_with_tail_and_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let r = runner(dir.path());
    let script = "for i in $(seq 1 30); do echo line$i >&2; done; echo out; exit 3";
    let err = r.run("step-a", &sh(script)).await.unwrap_err();
    let RunError::Failed {
        cmd,
        status,
        signal,
        stderr_tail,
        tail_stream,
        log_path,
    } = &err
    else {
        panic!("expected Failed, got {err:?}");
    };
    assert_eq!(*status, 3);
    assert_eq!(*signal, None);
    assert_eq!(*tail_stream, Stream::Stderr);
    assert_eq!(cmd, &format!("sh -c '{script}'"));
    let expected: Vec<String> = (11..=30).map(|i| format!("line{i}")).collect();
    assert_eq!(stderr_tail, &expected.join("\n"));
    assert_eq!(log_path, &dir.path().join("logs/step-a.log"));
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!(
            "`sh -c '{script}'` failed (exit status: 3)\n--- stderr (last 20 lines)\nline11\n"
        )),
        "{shown}"
    );
    assert!(shown.ends_with(&format!("line30\n--- full log: {}", log_path.display())));
}

#[tokio::test]
async fn failed_tail_falls_back_to_stdout_and_reports_signals() {
    let dir = tempfile::tempdir().unwrap();
    let r = runner(dir.path());
    let err = r
        .run("s", &sh("echo only stdout; exit 1"))
        .await
        .unwrap_err();
    assert_eq!(err.output_tail(), "only stdout");
    assert!(
        err.to_string()
            .contains("--- stdout (last line)\nonly stdout"),
        "{err}"
    );

    let err = r.run("s", &sh("kill -SEGV $$")).await.unwrap_err();
    assert!(
        matches!(
            err,
            RunError::Failed {
                status: 139,
                signal: Some(11),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("killed by signal 11 (SIGSEGV)"),
        "{err}"
    );
}

#[tokio::test]
async fn run_unchecked_returns_nonzero_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = runner(dir.path())
        .run_unchecked("s", &sh("echo NotFound >&2; exit 1"))
        .await
        .unwrap();
    assert_eq!(out.status, 1);
    assert_eq!(out.stderr_str(), "NotFound\n");
}

#[tokio::test]
async fn timeout_kills_child_and_grandchild() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild.pid");
    let script = format!(
        "sleep 100 & echo $! > '{}'; echo started; sleep 100; wait",
        pidfile.display()
    );
    let started = Instant::now();
    let err = runner(dir.path())
        .run("t", &sh(&script).timeout(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let RunError::TimedOut { timeout, tail, .. } = &err else {
        panic!("expected TimedOut, got {err:?}");
    };
    assert_eq!(*timeout, Duration::from_millis(300));
    assert_eq!(tail, "started");
    assert!(err.to_string().starts_with("`sh -c "), "{err}");
    assert!(err.to_string().contains("timed out after 300ms"), "{err}");
    let pid = read_pid(&pidfile).await;
    assert!(
        eventually(Duration::from_secs(2), || process_gone(pid)).await,
        "grandchild {pid} survived"
    );
}

#[tokio::test]
async fn sigterm_ignoring_group_is_killed_after_grace() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild.pid");
    // Ignored signals are inherited: neither sh nor its sleep die on SIGTERM.
    let script = format!(
        "trap '' TERM; sleep 100 & echo $! > '{}'; sleep 100; wait",
        pidfile.display()
    );
    let started = Instant::now();
    let err = runner(dir.path())
        .run("t", &sh(&script).timeout(Duration::from_millis(200)))
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::TimedOut { .. }), "{err:?}");
    let took = started.elapsed();
    assert!(
        took >= KILL_GRACE && took < KILL_GRACE + Duration::from_secs(2),
        "{took:?}"
    );
    let pid = read_pid(&pidfile).await;
    assert!(
        eventually(Duration::from_secs(2), || process_gone(pid)).await,
        "grandchild {pid} survived"
    );
}

#[tokio::test]
async fn cancellation_kills_group_and_returns_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild.pid");
    let token = CancellationToken::new();
    let r = Runner::new(dir.path().join("logs"), token.clone());
    let script = format!(
        "sleep 100 & echo $! > '{}'; sleep 100; wait",
        pidfile.display()
    );
    let task = tokio::spawn(async move { r.run("c", &sh(&script)).await });
    let pid = read_pid(&pidfile).await;
    let cancelled_at = Instant::now();
    token.cancel();
    let err = task.await.unwrap().unwrap_err();
    assert!(err.is_interrupted(), "{err:?}");
    assert_eq!(err.to_string(), format!("`{}` was interrupted", err.cmd()));
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(2),
        "{:?}",
        cancelled_at.elapsed()
    );
    assert!(
        eventually(Duration::from_secs(2), || process_gone(pid)).await,
        "grandchild {pid} survived"
    );
    let log = std::fs::read_to_string(dir.path().join("logs/c.log")).unwrap();
    assert!(log.contains("==> interrupted after"), "{log}");
}

#[tokio::test]
async fn already_cancelled_runner_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let token = CancellationToken::new();
    token.cancel();
    let marker = dir.path().join("ran");
    let err = Runner::new(dir.path().join("logs"), token)
        .run("c", &sh(&format!("touch '{}'", marker.display())))
        .await
        .unwrap_err();
    assert!(err.is_interrupted());
    assert!(!marker.exists());
}

#[tokio::test]
async fn dropping_the_run_kills_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild.pid");
    let r = runner(dir.path());
    let script = format!(
        "sleep 100 & echo $! > '{}'; sleep 100; wait",
        pidfile.display()
    );
    let task = tokio::spawn(async move { r.run("d", &sh(&script)).await });
    let pid = read_pid(&pidfile).await;
    task.abort();
    let _ = task.await;
    assert!(
        eventually(Duration::from_secs(2), || process_gone(pid)).await,
        "grandchild {pid} survived"
    );
}

#[tokio::test]
async fn background_grandchild_holding_pipes_does_not_block() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("bg.pid");
    let script = format!("sleep 100 & echo $! > '{}'; echo done", pidfile.display());
    let started = Instant::now();
    let out = runner(dir.path()).run("b", &sh(&script)).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.stdout_str(), "done\n");
    let pid = read_pid(&pidfile).await;
    // SAFETY: the test's own background sleep.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

#[tokio::test]
async fn log_file_has_header_lines_and_footer_appended_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let r = runner(dir.path());
    r.run("step", &sh("echo one; echo two >&2; echo three"))
        .await
        .unwrap();
    let _ = r
        .run("step", &sh("exit 4").env("API_TOKEN", "hunter2"))
        .await;
    let log = std::fs::read_to_string(dir.path().join("logs/step.log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 7, "{log}");
    assert!(
        lines[0].starts_with("==> ")
            && lines[0].ends_with(" $ sh -c 'echo one; echo two >&2; echo three'"),
        "{log}"
    );
    // stdout and stderr lines may race each other, but each keeps its own order.
    let mut body = lines[1..4].to_vec();
    body.sort();
    assert_eq!(body, ["! two", "| one", "| three"]);
    assert!(log.find("| one").unwrap() < log.find("| three").unwrap());
    assert!(lines[4].starts_with("==> exit status: 0 after "), "{log}");
    assert!(
        lines[5].ends_with(" $ API_TOKEN='***' sh -c 'exit 4'"),
        "{log}"
    );
    assert!(!log.contains("hunter2"));
    assert!(lines[6].starts_with("==> exit status: 4 after "), "{log}");
}

#[test]
fn stdout_is_data_only_when_asked_for_in_a_machine_format() {
    let c = |args: &[&str]| Cmd::new("kubectl").args(args.iter().copied());
    for data in [
        &["get", "nodes", "-o", "json"][..],
        &["get", "nodes", "-ojson"],
        &["get", "nodes", "--output=yaml"],
        &["get", "x", "-o", "jsonpath={.a}"],
        &["version", "--format", "{{.Server.Version}}"],
        &["kustomize", "dir"],
    ] {
        assert!(c(data).stdout_is_data(), "{data:?}");
    }
    for progress in [
        &["apply", "-f", "x.yaml"][..],
        &["get", "nodes", "-o", "wide"],
        &["rollout", "status", "deployment/x"],
    ] {
        assert!(!c(progress).stdout_is_data(), "{progress:?}");
    }
}

#[tokio::test]
async fn secret_output_stays_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(0));
    let sink_seen = seen.clone();
    let r = runner(dir.path()).with_line_sink(Arc::new(move |_l: Line<'_>| {
        *sink_seen.lock().unwrap() += 1;
    }));
    let out = r
        .run(
            "helper",
            &sh("printf 'hun%s\\n' ter2; printf 'err-hun%s\\n' ter2 >&2").with_secret_output(),
        )
        .await
        .unwrap();
    assert_eq!(out.stdout_str(), "hunter2\n");
    let err = r
        .run(
            "helper",
            &sh("printf 'hun%s\\n' ter2; exit 3").with_secret_output(),
        )
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let log = std::fs::read_to_string(dir.path().join("logs/helper.log")).unwrap();
    assert!(!log.contains("hunter2"), "{log}");
    assert!(log.contains("==> exit status: 0 after"), "{log}");
    assert_eq!(*seen.lock().unwrap(), 0);
}

#[tokio::test]
async fn child_records_live_as_long_as_the_child_and_leftovers_are_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let records = dir.path().join("children");
    let r = runner(dir.path()).with_child_records(records.clone());
    let rec_dir = records.clone();
    // The record is written right after the spawn (the pid is its name): wait for it.
    let d = rec_dir.display();
    let script = format!("while [ -z \"$(ls '{d}' 2>/dev/null)\" ]; do sleep 0.01; done; ls '{d}'");
    let out = r
        .run("s", &sh(&script).timeout(Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(
        out.stdout_str().ends_with(".json\n"),
        "{}",
        out.stdout_str()
    );
    assert_eq!(std::fs::read_dir(&records).unwrap().count(), 0);
    // A leftover: a live group recorded by another (dead) devenv.
    use std::os::unix::process::CommandExt;
    let mut child = std::process::Command::new("sleep")
        .arg("100")
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = child.id() as i32;
    let rec = ChildRecord {
        pgid,
        devenv_pid: 1,
        command: "sleep 100".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        leader: leader_id(pgid),
    };
    std::fs::write(
        records.join(format!("{pgid}.json")),
        serde_json::to_vec(&rec).unwrap(),
    )
    .unwrap();
    let stopped = reap_leftovers(&records);
    assert_eq!(stopped.len(), 1);
    assert_eq!(stopped[0].pgid, pgid);
    let _ = child.wait();
    assert_eq!(std::fs::read_dir(&records).unwrap().count(), 0);
}

#[tokio::test]
async fn line_sink_sees_every_line() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink_seen = seen.clone();
    let r = runner(dir.path()).with_line_sink(Arc::new(move |l: Line<'_>| {
        sink_seen
            .lock()
            .unwrap()
            .push((l.step_id.to_string(), l.stream, l.text.to_string()));
    }));
    r.run("img", &sh("echo a; echo b; echo c >&2"))
        .await
        .unwrap();
    let mut seen = seen.lock().unwrap().clone();
    seen.sort_by(|a, b| a.2.cmp(&b.2));
    assert_eq!(
        seen,
        [
            ("img".to_string(), Stream::Stdout, "a".to_string()),
            ("img".to_string(), Stream::Stdout, "b".to_string()),
            ("img".to_string(), Stream::Stderr, "c".to_string()),
        ]
    );
}

#[tokio::test]
async fn missing_program_is_spawn_error_with_hint_hook() {
    let dir = tempfile::tempdir().unwrap();
    let err = runner(dir.path())
        .run("s", &Cmd::new("devenv-no-such-program").arg("version"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "could not run `devenv-no-such-program version`: `devenv-no-such-program` was not found on PATH"
    );
    assert_eq!(err.hint(), None);
    let err = err.with_install_hint("install it from https://example.invalid");
    assert_eq!(
        err.hint().as_deref(),
        Some("install it from https://example.invalid")
    );
    let log = std::fs::read_to_string(dir.path().join("logs/s.log")).unwrap();
    assert!(
        log.contains("==> could not start: `devenv-no-such-program` was not found on PATH"),
        "{log}"
    );
}

#[test]
fn display_quotes_args_and_masks_secrets() {
    let cmd = Cmd::new("kubectl")
        .args([
            "apply",
            "-f",
            "my file.yaml",
            "--selector=app in (a,b)",
            "it's",
            "",
        ])
        .env("LOG_COLORS", "false")
        .env("DOCKER_PASSWORD", "pw")
        .env("gh_token", "t")
        .env("ClientSecret", "s")
        .env("LOG_COLORS", "true");
    assert_eq!(
        cmd.display(),
        "DOCKER_PASSWORD='***' gh_token='***' ClientSecret='***' LOG_COLORS=true \
         kubectl apply -f 'my file.yaml' '--selector=app in (a,b)' \"it's\" ''"
    );
    assert_eq!(
        cmd.argv_display(),
        cmd.display().split_once("true ").unwrap().1
    );
    assert_eq!(cmd.to_string(), cmd.display());
    // What is shown parses back to the same argv.
    assert_eq!(
        shlex::split(&cmd.argv_display()).unwrap(),
        std::iter::once(cmd.program.clone())
            .chain(cmd.args.clone())
            .collect::<Vec<_>>()
    );
}

#[test]
fn hints_recognise_known_problems() {
    let h = |text: &str| hint_for_output("docker push x", text);
    assert!(h("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?")
        .unwrap()
        .contains("Docker daemon is not running"));
    let port = h("docker: Error response from daemon: driver failed programming external connectivity on endpoint k3d-p-registry: Bind for 127.0.0.1:5001 failed: port is already allocated.").unwrap();
    assert!(port.starts_with("port 5001 is already in use"), "{port}");
    let port = h("Error: listen tcp 0.0.0.0:6443: bind: address already in use").unwrap();
    assert!(port.starts_with("port 6443 is already in use"), "{port}");
    assert!(h("bind: address already in use")
        .unwrap()
        .starts_with("a port devenv needs"));
    let old = hint_for_output(
        "kubectl --kubeconfig k wait --for=create tigerastatus/calico",
        "error: unrecognized condition: \"create\"",
    )
    .unwrap();
    assert!(old.contains("kubectl 1.31"), "{old}");
    let flag = hint_for_output(
        "LOG_COLORS=false k3d registry create p --no-help",
        "time=\"2026-06-12T09:41:03Z\" level=fatal msg=\"unknown flag: --no-help\"",
    )
    .unwrap();
    assert!(
        flag.starts_with("`k3d` does not know the flag `--no-help`"),
        "{flag}"
    );
    // kubectl 1.32 (kustomize v5.5.0) inflating `helmCharts:` with helm v4.1.4, as printed.
    let helm4 = hint_for_output(
        "kubectl kustomize --enable-helm .devenv/overlays/dev",
        "E1208 00:23:14.112073   19204 run.go:72] \"command failed\" err=<\n\taccumulating resources: \
         recursed accumulation of path '/p/deploy/base': Error: unknown shorthand flag: 'c' in -c\n\t: \
         unable to run: 'helm version -c --short' with env=[HELM_CONFIG_HOME=/tmp/kustomize-helm-1/helm] \
         (is 'helm' installed?): exit status 1\n >",
    )
    .unwrap();
    assert!(
        helm4.contains("older than v5.8 and cannot run helm v4"),
        "{helm4}"
    );
    assert_eq!(h("error: something else entirely"), None);
}

#[tokio::test]
async fn run_error_hint_reads_the_failed_output() {
    let dir = tempfile::tempdir().unwrap();
    let err = runner(dir.path())
        .run("s", &sh("echo 'Is the docker daemon running?' >&2; exit 1"))
        .await
        .unwrap_err();
    assert!(err.hint().unwrap().contains("Docker daemon is not running"));
}

#[test]
fn a_planned_command_serializes_as_the_plan_shows_it() {
    let cmd = Cmd::planned("k3d", &["cluster", "delete", "p"], "delete it", 300)
        .env("LOG_COLORS", "false")
        .cwd("/somewhere")
        .stdin("x");
    assert_eq!(
        serde_json::to_value(&cmd).unwrap(),
        serde_json::json!({
            "program": "k3d",
            "args": ["cluster", "delete", "p"],
            "env": [["LOG_COLORS", "false"]],
            "purpose": "delete it",
            "timeout_secs": 300,
        })
    );
    // No env: no `env` key.
    let plain = Cmd::planned("kubectl", &["version"], "check", 30);
    assert!(serde_json::to_value(&plain).unwrap().get("env").is_none());
    // One quoting: readable flags stay bare, the rest is quoted for a shell.
    let wait = Cmd::new("kubectl").args(["wait", "--for=condition=Ready", "a b"]);
    assert_eq!(wait.display(), "kubectl wait --for=condition=Ready 'a b'");
}
