//! The documented exit codes (README): 0, 1, 2, 3, 4 and 130.

use super::*;

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
