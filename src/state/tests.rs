use super::journal::is_run_id;
use super::*;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Instant;

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn dir_entries(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn atomic_write_creates_and_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.yaml");
    write_atomic(&p, b"one").unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"one");
    write_atomic(&p, b"two").unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"two");
    assert_eq!(dir_entries(dir.path()), ["a.yaml"], "no temp file left");
}

#[test]
fn atomic_write_keeps_the_mode_of_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("kubeconfig");
    fs::write(&p, b"old").unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    write_atomic(&p, b"new").unwrap();
    assert_eq!(mode(&p), 0o600);
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    write_atomic_with_mode(&p, b"newer", 0o600).unwrap();
    assert_eq!(mode(&p), 0o755, "an existing file's mode wins");
    let fresh = dir.path().join("fresh");
    write_atomic_with_mode(&fresh, b"x", 0o600).unwrap();
    assert_eq!(mode(&fresh), 0o600);
}

#[test]
fn atomic_write_through_a_symlink_keeps_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    let link = dir.path().join("link");
    fs::write(&real, b"old").unwrap();
    std::os::unix::fs::symlink("real", &link).unwrap();
    write_atomic(&link, b"new").unwrap();
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read(&real).unwrap(), b"new");
}

#[test]
fn atomic_write_never_exposes_a_partial_target() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("state.json");
    fs::write(&p, b"old content").unwrap();
    let mut seen_tmp = None;
    write_atomic_impl(&p, b"new content", 0o666, true, |tmp| {
        // Just before the rename: the new bytes are complete in a different file of
        // the same directory, and the target still has the old bytes.
        assert_ne!(tmp, p.as_path());
        assert_eq!(tmp.parent(), p.parent());
        assert_eq!(fs::read(tmp).unwrap(), b"new content");
        assert_eq!(fs::read(&p).unwrap(), b"old content");
        seen_tmp = Some(tmp.to_path_buf());
    })
    .unwrap();
    assert!(!seen_tmp.unwrap().exists());
    assert_eq!(fs::read(&p).unwrap(), b"new content");
}

#[test]
fn atomic_write_into_missing_dir_fails_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let err = write_atomic(&dir.path().join("nope/x"), b"x").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(dir_entries(dir.path()).is_empty());
}

#[test]
fn journal_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".devenv");
    let mut j = Journal::load(&state).unwrap();
    assert!(!j.is_done("cluster", "f1"));
    j.begin_run("run-1", Some("devenv up"));
    j.mark_started("registry", "r1");
    j.mark_done("registry", "r1", Some(serde_json::json!({"port": 5001})));
    j.mark_started("cluster", "c1");
    j.mark_failed("cluster", "`k3d cluster create` failed");
    j.mark_started("images", "i1");
    j.mark_interrupted("images");
    j.mark_started("calico", "k1");
    j.record_owned_cluster("demo");
    j.record_owned_registry("demo-registry");
    j.finish_run(RunOutcome::Failed, Some("cluster"));
    j.save().unwrap();

    let j2 = Journal::load(&state).unwrap();
    assert_eq!(j2.data, j.data);
    assert!(j2.is_done("registry", "r1"));
    assert!(!j2.is_done("registry", "r2"), "other inputs: not done");
    assert!(!j2.is_done("cluster", "c1"));
    let reg = j2.step("registry").unwrap();
    assert_eq!(reg.detail, Some(serde_json::json!({"port": 5001})));
    assert!(reg.duration_ms.is_some() && reg.finished_at.is_some());
    let cluster = j2.step("cluster").unwrap();
    assert_eq!(cluster.status, StepStatus::Failed);
    assert_eq!(cluster.fingerprint, "c1");
    assert_eq!(
        cluster.error.as_deref(),
        Some("`k3d cluster create` failed")
    );
    assert_eq!(j2.step("images").unwrap().status, StepStatus::Interrupted);
    assert_eq!(j2.step("calico").unwrap().status, StepStatus::Running);
    assert!(j2.owns_cluster("demo") && j2.owns_registry("demo-registry"));
    let run = j2.last_run().unwrap();
    assert_eq!(
        (run.id.as_str(), run.outcome, run.stopped_at_step.as_deref()),
        ("run-1", RunOutcome::Failed, Some("cluster"))
    );

    // The file is the documented shape.
    let v: serde_json::Value =
        serde_json::from_slice(&fs::read(state.join(JOURNAL_FILE)).unwrap()).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["steps"]["registry"]["status"], "done");
    assert_eq!(v["steps"]["cluster"]["status"], "failed");
    assert_eq!(v["owned"]["clusters"], serde_json::json!(["demo"]));
    assert_eq!(v["last_run"]["outcome"], "failed");
}

#[test]
fn journal_forgets_and_saves_only_when_changed() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::load(dir.path()).unwrap();
    j.save().unwrap();
    assert!(
        !dir.path().join(JOURNAL_FILE).exists(),
        "nothing to save yet"
    );
    j.record_owned_cluster("a");
    j.mark_started("s", "f");
    j.mark_done("s", "f", None);
    j.save().unwrap();
    j.forget_owned_cluster("a");
    j.forget_step("s");
    j.save().unwrap();
    let j2 = Journal::load(dir.path()).unwrap();
    assert!(j2.owned().clusters.is_empty());
    assert!(j2.steps().is_empty());
}

#[test]
fn corrupt_journal_names_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(JOURNAL_FILE);
    fs::write(&p, b"{\"version\": 1, \"steps\": {\"x\": 3}}").unwrap();
    let msg = Journal::load(dir.path()).unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!("{} is corrupt: ", p.display())),
        "{msg}"
    );
    assert!(msg.contains("delete it"), "{msg}");
    fs::write(&p, b"not json").unwrap();
    assert!(matches!(
        Journal::load(dir.path()),
        Err(StateError::Corrupt { .. })
    ));
    fs::write(&p, b"{\"version\": 99}").unwrap();
    let msg = Journal::load(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("newer devenv (state version 99"), "{msg}");
}

#[test]
fn run_ids_sort_by_time() {
    let id = new_run_id();
    assert_eq!(
        id.len(),
        "20260612T094103Z".len() + 1 + std::process::id().to_string().len()
    );
    assert!(
        id.as_bytes()[8] == b'T' && id.as_bytes()[15] == b'Z',
        "{id}"
    );
}

#[test]
fn abandoned_running_steps_become_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::load(dir.path()).unwrap();
    j.begin_run("r1", None);
    j.mark_started("done", "f");
    j.mark_done("done", "f", None);
    j.mark_started("cluster", "f");
    j.save().unwrap(); // ... and the process dies here
    let mut j = Journal::load(dir.path()).unwrap();
    assert_eq!(j.settle_abandoned(), ["cluster"]);
    assert_eq!(j.step("cluster").unwrap().status, StepStatus::Interrupted);
    assert_eq!(j.step("done").unwrap().status, StepStatus::Done);
    let run = j.last_run().unwrap();
    assert_eq!(
        (run.outcome, run.stopped_at_step.as_deref()),
        (RunOutcome::Interrupted, Some("cluster"))
    );
    // A step this process is running is not abandoned.
    j.mark_started("images", "f");
    assert!(j.settle_abandoned().is_empty());
}

#[test]
fn log_dirs_point_latest_at_the_newest_and_prune_old_runs() {
    let state = tempfile::tempdir().unwrap();
    let ids = [
        "20260101T000000Z-1",
        "20260101T000001Z-2",
        "20260101T000002Z-3",
    ];
    for id in ids {
        let d = new_log_dir(state.path(), id, 2).unwrap();
        assert_eq!(d, state.path().join("logs").join(id));
        fs::write(d.join("step.log"), id).unwrap();
    }
    let logs = state.path().join("logs");
    assert_eq!(
        fs::read_to_string(logs.join("latest/step.log")).unwrap(),
        ids[2]
    );
    fs::create_dir(logs.join("keep-me")).unwrap();
    assert_eq!(
        dir_entries(&logs),
        [
            "20260101T000001Z-2",
            "20260101T000002Z-3",
            "keep-me",
            "latest"
        ]
    );
    assert!(is_run_id(&new_run_id()));
}

#[test]
fn lock_is_exclusive_within_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let lock = ProjectLock::acquire(dir.path(), false).unwrap();
    // A second open file description conflicts even in the same process (flock).
    let err = ProjectLock::acquire(dir.path(), false).unwrap_err();
    let LockError::Busy {
        pid,
        command,
        since,
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(*pid, Some(std::process::id()));
    assert!(command.is_some() && since.is_some());
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("another devenv (pid {}, `", std::process::id())),
        "{msg}"
    );
    assert!(
        msg.ends_with("is running in this project; wait for it or pass --wait"),
        "{msg}"
    );

    let started = Instant::now();
    let err =
        ProjectLock::acquire_within(dir.path(), Some(Duration::from_millis(250))).unwrap_err();
    assert!(matches!(err, LockError::WaitTimedOut { .. }), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(250));

    drop(lock);
    let again = ProjectLock::acquire(dir.path(), false).unwrap();
    assert!(again.path().ends_with(LOCK_FILE));
}

#[test]
fn waiting_acquire_gets_the_lock_once_released() {
    let dir = tempfile::tempdir().unwrap();
    let lock = ProjectLock::acquire(dir.path(), false).unwrap();
    let d = dir.path().to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        ProjectLock::acquire_notify(&d, Some(Duration::from_secs(10)), |who| {
            tx.send(who).unwrap()
        })
        .map(|_| ())
    });
    let who = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(who.starts_with("another devenv (pid "), "{who}");
    drop(lock);
    waiter.join().unwrap().unwrap();
}

/// Helper run as a child process by `lock_is_exclusive_across_processes`: holds the
/// lock until its stdin closes.
#[test]
fn lock_holder_child() {
    let Some(dir) = std::env::var_os("DEVENV_TEST_LOCK_DIR") else {
        return; // only meaningful as the child
    };
    let _lock = ProjectLock::acquire(Path::new(&dir), false).unwrap();
    println!("locked");
    io::stdout().flush().unwrap();
    let mut sink = Vec::new();
    io::stdin().read_to_end(&mut sink).unwrap();
}

#[test]
fn lock_is_exclusive_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "state::tests::lock_holder_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DEVENV_TEST_LOCK_DIR", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("locked") {
        line.clear();
        assert!(
            io::BufRead::read_line(&mut out, &mut line).unwrap() > 0,
            "child exited"
        );
    }
    let err = ProjectLock::acquire(dir.path(), false).unwrap_err();
    assert!(
        matches!(err, LockError::Busy { pid: Some(p), .. } if p == child.id()),
        "{err:?}"
    );
    drop(child.stdin.take()); // child releases the lock by exiting
    child.wait().unwrap();
    ProjectLock::acquire(dir.path(), false).unwrap();
}
