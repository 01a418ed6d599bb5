//! 2. OnDelete StatefulSets and DaemonSets are waited for by their Ready pods; 3. a Job that
//! fails is reported at once, with its log and events.

use super::*;

// ---------------------------------------------------------------------------------------
// 2. OnDelete StatefulSets and DaemonSets: rollout status refuses them

fn on_delete_workloads() -> [(&'static str, String); 2] {
    let pod = "    metadata:\n      labels: {app: X}\n    spec:\n      containers:\n        - name: X\n          image: docker.io/library/busybox:1.36\n";
    [
        (
            "db.yaml",
            format!(
                "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec:\n  serviceName: db\n  replicas: 2\n  updateStrategy:\n    type: OnDelete\n  selector:\n    matchLabels: {{app: db}}\n  template:\n{}",
                pod.replace('X', "db")
            ),
        ),
        (
            "agent.yaml",
            format!(
                "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\nspec:\n  updateStrategy:\n    type: OnDelete\n  selector:\n    matchLabels: {{app: agent}}\n  template:\n{}",
                pod.replace('X', "agent")
            ),
        ),
    ]
}

#[test]
fn on_delete_statefulsets_and_daemonsets_are_waited_for_by_their_ready_pods() {
    for (name, wait) in [
        ("ondelete", "\"auto\""),
        ("ondelete2", "[\"statefulset/db\", \"daemonset/agent\"]"),
    ] {
        let sb = Sandbox::new();
        project(&sb, name, wait);
        let files = on_delete_workloads();
        overlay(
            &sb,
            &files
                .iter()
                .map(|(f, t)| (*f, t.as_str()))
                .collect::<Vec<_>>(),
        );
        let r = up_ok(&sb, LIMIT);
        let calls = sb.calls();
        for object in [["statefulset", "db"], ["daemonset", "agent"]] {
            assert!(
                calls
                    .iter()
                    .any(|c| c.has(&["get", object[0], object[1], "-n", "shop", "-o", "json"])),
                "{wait}: {object:?} was not read:\n{}\n{r:?}",
                lines(&calls)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// 3. A Job that fails is reported at once, with its log and events

#[test]
fn a_failing_job_is_reported_within_seconds_with_its_log() {
    let sb = Sandbox::new();
    project(&sb, "failjob", "\"auto\"");
    overlay(&sb, &[("migrate.yaml", &job("migrate", "1", ""))]);
    std::fs::write(
        sb.state.join("jobs.json"),
        r#"{"shop/migrate": {"exit": 1, "log": "connecting to db\nrunning 0042_users.sql\nerror: relation \"users\" does not exist\n"}}"#,
    )
    .unwrap();
    // The overlay's timeout is 5 minutes: noticing the failure only then would time out here.
    let r = run(&sb, &["up"], Duration::from_secs(40));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.took < Duration::from_secs(30), "{r:?}");
    let text = r.text.clone();
    for want in [
        "job/migrate in shop failed (BackoffLimitExceeded: Job has reached the specified backoff limit)",
        "error: relation \"users\" does not exist",
        "running 0042_users.sql",
        // its events, as the Job controller records them
        "Warning BackoffLimitExceeded: Job has reached the specified backoff limit",
        "Normal SuccessfulCreate: Created pod: migrate-",
    ] {
        assert!(text.contains(want), "missing {want:?}: {r:?}");
    }
    // The failed step is recorded as failed, and the next up resumes at it: nothing before
    // it runs again, the Job is applied and waited for again.
    let journal: Value = serde_json::from_str(&sb.read(".devenv/state.json")).unwrap();
    assert_eq!(
        journal["steps"]["overlay:app"]["status"], "failed",
        "{journal:#}"
    );
    assert_eq!(journal["steps"]["cluster"]["status"], "done", "{journal:#}");
    std::fs::remove_file(sb.state.join("jobs.json")).unwrap();
    admin(&sb, "failjob", &["-n", "shop", "delete", "job", "migrate"]);
    sb.clear_calls();
    up_ok(&sb, LIMIT);
    let calls = sb.calls();
    assert!(
        !calls
            .iter()
            .any(|c| c.tool == "k3d" && c.has(&["cluster", "create"])),
        "{}",
        lines(&calls)
    );
    assert!(
        calls
            .iter()
            .any(|c| c.has(&["apply"]) && c.line().contains("app.apply.yaml"))
            && calls
                .iter()
                .any(|c| c.has(&["wait", "--for=condition=Complete", "job/migrate"])),
        "{}",
        lines(&calls)
    );
    let journal: Value = serde_json::from_str(&sb.read(".devenv/state.json")).unwrap();
    assert_eq!(
        journal["steps"]["overlay:app"]["status"], "done",
        "{journal:#}"
    );
}

#[test]
fn a_job_past_its_deadline_is_reported_as_deadline_exceeded() {
    // kubectl's waits time out on the simulated clock: give them time to see the deadline.
    let sb = Sandbox::new().sleep_scale(0.05);
    project(&sb, "deadline", "[\"job/slow\"]");
    overlay(
        &sb,
        &[(
            "slow.yaml",
            &job("slow", "1", "  activeDeadlineSeconds: 2\n"),
        )],
    );
    std::fs::write(
        sb.state.join("jobs.json"),
        r#"{"slow": {"exit": 0, "runs_ms": 600000, "log": "still working\n"}}"#,
    )
    .unwrap();
    let r = run(&sb, &["up"], Duration::from_secs(40));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.took < Duration::from_secs(30), "{r:?}");
    assert!(
        r.text.contains(
            "job/slow in shop failed (DeadlineExceeded: Job was active longer than specified deadline)"
        ),
        "{r:?}"
    );
}
