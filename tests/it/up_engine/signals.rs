//! Ctrl-C and SIGTERM during a slow step stop everything; `up` resumes.

use super::*;

// ---------------------------------------------------------------------------------------
// 4. Ctrl-C and SIGTERM

fn interrupt_during_cluster_create(sig: i32, n: u16) {
    let sb = Sandbox::new();
    project(&sb, &format!("sig{n}"), n, "");
    sb.fault(json!({"tool": "k3d", "match": ["cluster", "create"], "action": "hang", "times": 1}));
    let child = spawn_devenv(&sb, &["up"]);
    let pid = child.id();
    wait_until(
        Duration::from_secs(20),
        "k3d cluster create to start hanging",
        || {
            std::fs::read_dir(&sb.state).unwrap().flatten().any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                // The marker is written once the grandchild runs.
                name.starts_with("hang-")
                    && std::fs::read_to_string(e.path()).is_ok_and(|t| !t.trim().is_empty())
            })
        },
    );
    let sent = Instant::now();
    signal(pid, sig);
    let r = finish(child);
    let took = sent.elapsed();
    assert_eq!(r.code, 130, "signal {sig}: {r:?}");
    assert!(
        took < Duration::from_secs(2),
        "devenv took {took:?} to stop after signal {sig}"
    );
    assert!(r.text.contains("interrupted"), "{r:?}");
    hung_processes_gone(&sb);
    let j = journal(&sb);
    assert_eq!(j["last_run"]["outcome"], "interrupted", "{j:#}");
    assert_eq!(j["steps"]["cluster"]["status"], "interrupted", "{j:#}");

    sb.clear_calls();
    up_ok(&sb);
    let calls = sb.calls();
    assert_eq!(
        count(&calls, "k3d", REG),
        0,
        "the registry was made before the signal:\n{}",
        lines(&calls).join("\n")
    );
    assert_eq!(count(&calls, "k3d", CLU), 1, "{}", lines(&calls).join("\n"));
}

#[test]
fn sigint_during_a_slow_step_stops_everything_and_up_resumes() {
    interrupt_during_cluster_create(2, 4);
}

#[test]
fn sigterm_during_a_slow_step_stops_everything_and_up_resumes() {
    interrupt_during_cluster_create(15, 5);
}
