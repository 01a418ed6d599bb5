//! SIGINT/SIGTERM to devenv stop every running command and kill its process group.
//! It signals its own process: nextest runs each test in a process of its own.

use std::time::{Duration, Instant};

use crate::support::process::{eventually, process_gone, read_pid};

use devenv::runner::{install_signal_handlers, kill_all_running, Cmd, RunError, Runner};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn sigterm_interrupts_every_running_command() {
    let dir = tempfile::tempdir().unwrap();
    let token = CancellationToken::new();
    install_signal_handlers(token.clone()).unwrap();
    let runner = Runner::new(dir.path().join("logs"), token.clone());

    // Two steps at once, each with a background grandchild.
    let mut tasks = Vec::new();
    let mut pidfiles = Vec::new();
    for step in ["a", "b"] {
        let pidfile = dir.path().join(format!("{step}.pid"));
        let script = format!(
            "sleep 100 & echo $! > '{}'; sleep 100; wait",
            pidfile.display()
        );
        let r = runner.clone();
        tasks.push(tokio::spawn(async move {
            r.run(step, &Cmd::new("sh").arg("-c").arg(script)).await
        }));
        pidfiles.push(pidfile);
    }
    let mut pids = Vec::new();
    for p in &pidfiles {
        pids.push(read_pid(p).await);
    }

    let sent = Instant::now();
    // SAFETY: signalling our own process; the handler above turns it into a cancel.
    unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
    for t in tasks {
        let err = t.await.unwrap().unwrap_err();
        assert!(matches!(err, RunError::Interrupted { .. }), "{err:?}");
    }
    assert!(token.is_cancelled());
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "{:?}",
        sent.elapsed()
    );
    for pid in pids {
        assert!(
            eventually(Duration::from_secs(2), || process_gone(pid)).await,
            "grandchild {pid} survived"
        );
    }

    // Nothing new starts once interrupted.
    let err = runner.run("c", &Cmd::new("true")).await.unwrap_err();
    assert!(err.is_interrupted());

    // What a second Ctrl-C does before exiting: SIGKILL every running group at once.
    let fresh = Runner::new(dir.path().join("logs"), CancellationToken::new());
    let pidfile = dir.path().join("c.pid");
    let script = format!(
        "sleep 100 & echo $! > '{}'; sleep 100; wait",
        pidfile.display()
    );
    let task =
        tokio::spawn(async move { fresh.run("c", &Cmd::new("sh").arg("-c").arg(script)).await });
    let pid = read_pid(&pidfile).await;
    kill_all_running();
    let err = task.await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            RunError::Failed {
                signal: Some(libc::SIGKILL),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        eventually(Duration::from_secs(2), || process_gone(pid)).await,
        "grandchild {pid} survived"
    );
}
