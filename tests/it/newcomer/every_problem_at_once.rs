//! Issue 14 #2: preflight names every problem at once, before anything is created.

use super::*;

// ---------------------------------------------------------------------------------------
// Issue 14 #2: every problem at once

/// Docker down, k3d missing and the registry port busy: three problems in one failure,
/// exit 3, before anything is created. (Before: only the first one, the Docker daemon.)
#[test]
fn preflight_lists_docker_down_k3d_missing_and_a_busy_port_at_once() {
    let sb = Sandbox::new();
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = held.local_addr().unwrap().port();
    let (_, api) = ports(0);
    project(&sb, "allatonce", busy, api, "");
    sb.fault(json!({"tool": "docker", "match": ["version"], "action": "fail", "exit": 1,
        "stderr": "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"}));
    let path = path_with_only(&sb, &["kubectl", "docker"]);
    let o = run(sb.devenv(["up"]).env("PATH", &path));
    assert_eq!(o.code, Some(3), "{o:?}");
    let err = &o.stderr;
    assert!(err.contains("3 prerequisites are not met"), "{o:?}");
    let problems: Vec<&str> = err
        .lines()
        .filter(|l| l.trim_start().starts_with("✗ ") && !l.contains("Check prerequisites"))
        .collect();
    assert_eq!(problems.len(), 3, "{problems:#?}\n{o:?}");
    assert!(
        problems[0].contains("docker: the Docker daemon is not running"),
        "{problems:#?}"
    );
    assert!(
        problems[1].contains("k3d:") && problems[1].contains("not found on PATH"),
        "{problems:#?}"
    );
    assert!(
        problems[2].contains(&format!(
            "port {busy} on 127.0.0.1 (registry.port) is already in use"
        )),
        "{problems:#?}"
    );
    // Each with its fix.
    assert!(err.contains("fix: start Docker"), "{o:?}");
    assert!(err.contains("fix: install k3d"), "{o:?}");
    assert!(err.contains("set registry.port to a free port"), "{o:?}");
    assert!(sb.mutating_calls().is_empty(), "{:?}", sb.mutating_calls());
    drop(held);
}

/// One problem keeps the one-line message and its hint.
#[test]
fn preflight_with_one_problem_says_it_alone() {
    let sb = Sandbox::new();
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = held.local_addr().unwrap().port();
    let (_, api) = ports(1);
    project(&sb, "onlyone", busy, api, "");
    let o = run(&mut sb.devenv(["up"]));
    assert_eq!(o.code, Some(3), "{o:?}");
    assert!(!o.stderr.contains("prerequisites are not met"), "{o:?}");
    assert!(
        o.stderr.contains(&format!(
            "port {busy} on 127.0.0.1 (registry.port) is already in use"
        )),
        "{o:?}"
    );
    assert!(sb.mutating_calls().is_empty());
}
