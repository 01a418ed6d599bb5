//! Watching processes a test started: polling, pid files, whether a process is gone.
//! Shared by the integration tests (`support::process`) and the runner's unit tests
//! (src/runner/tests.rs includes this file by path).

use std::path::Path;
use std::time::{Duration, Instant};

/// Polls `cond` every 10 ms until it holds or `within` has passed.
pub async fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Gone = no such process, or a zombie waiting for init to reap it.
pub fn process_gone(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// The pid a shell wrote to `path` (`echo $! > path`), once the line is complete.
pub async fn read_pid(path: &Path) -> i32 {
    assert!(
        eventually(Duration::from_secs(5), || std::fs::read_to_string(path)
            .is_ok_and(|s| s.ends_with('\n')))
        .await,
        "pid file {} never written",
        path.display()
    );
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}
