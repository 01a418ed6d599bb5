//! Busy ports are reported before anything is created; one devenv at a time per project.

use super::*;

// ---------------------------------------------------------------------------------------
// 7. busy ports

fn busy_port_is_reported_before_anything_is_created(which: &str) {
    let sb = Sandbox::new();
    // A port the kernel picks is free; holding it makes it busy for devenv.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (registry, api) = if which == "registry" {
        (port, ports(10).1)
    } else {
        (ports(11).0, port)
    };
    sb.write(
        "devenv.toml",
        &format!(
            "version = 1\n[project]\nname = \"busy\"\n[cluster]\napi_port = {api}\n[registry]\nport = {registry}\n\
             [calico]\nmanifests = \"{CALICO}\"\n[verify]\nenabled = false\n"
        ),
    );
    let r = run(&sb, &["up"]);
    assert_eq!(r.code, 3, "{r:?}");
    let text = r.text.clone();
    let setting = if which == "registry" {
        "registry.port"
    } else {
        "cluster.api_port"
    };
    assert!(
        text.contains(&port.to_string()) && text.contains(setting),
        "the message should name the port and its setting: {r:?}"
    );
    let me = std::process::id().to_string();
    let exe = std::env::current_exe().unwrap();
    let name = exe.file_name().unwrap().to_string_lossy();
    // /proc/PID/comm is the first 15 bytes of the executable's name.
    let comm: String = name.chars().take(15).collect();
    assert!(
        text.contains(&me) || text.contains(&comm),
        "the holder (pid {me}, {comm}) is not named: {r:?}"
    );
    let calls = sb.calls();
    assert_eq!(
        count(&calls, "k3d", REG) + count(&calls, "k3d", CLU),
        0,
        "created things with a busy port:\n{}",
        lines(&calls).join("\n")
    );
    drop(listener);
}

#[test]
fn a_busy_registry_port_is_reported_with_its_holder() {
    busy_port_is_reported_before_anything_is_created("registry");
}

#[test]
fn a_busy_api_port_is_reported_with_its_holder() {
    busy_port_is_reported_before_anything_is_created("api");
}

// ---------------------------------------------------------------------------------------
// 8. one devenv at a time per project

#[test]
fn a_second_up_in_the_same_project_refuses_or_waits() {
    let sb = Sandbox::new();
    project(&sb, "lock", 12, "");
    // The first up is slow in its Calico wait; the lock is held meanwhile.
    sb.fault(json!({"tool": "kubectl", "match": ["wait", "--for=condition=Available"], "action": "slow", "sleep_ms": 1500, "times": 1}));
    let first = spawn_devenv(&sb, &["up"]);
    wait_until(
        Duration::from_secs(20),
        "the first up to reach Calico",
        || {
            sb.calls()
                .iter()
                .any(|c| c.has(&["wait", "--for=condition=Available"]))
        },
    );
    let second = run(&sb, &["up"]);
    assert_ne!(second.code, 0, "{second:?}");
    let text = second.text.clone();
    assert!(
        text.contains("lock") || text.contains("another devenv"),
        "no lock message: {second:?}"
    );
    assert!(
        text.contains("--wait"),
        "the message should offer --wait: {second:?}"
    );

    // --wait blocks until the first is done, then finds everything in place.
    let waiter = spawn_devenv(&sb, &["up", "--wait"]);
    let r1 = finish(first);
    assert_eq!(r1.code, 0, "{r1:?}");
    let r2 = finish(waiter);
    assert_eq!(r2.code, 0, "{r2:?}");
    assert!(
        r2.text.contains("waiting"),
        "--wait should say what it waits for: {r2:?}"
    );
    assert_eq!(
        count(&sb.calls(), "k3d", CLU),
        1,
        "{}",
        lines(&sb.calls()).join("\n")
    );
}
