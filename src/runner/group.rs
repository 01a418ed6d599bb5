//! Process groups: each command leads its own, which is signalled as a whole on a
//! timeout, a Ctrl-C or a dropped run; and the Ctrl-C handlers themselves.

use std::io;
use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use super::{INTERRUPTED_EXIT, KILL_GRACE};

/// SIGTERM to the group, SIGKILL after [`KILL_GRACE`], then reap the child.
pub(super) async fn kill_group(pgid: Option<libc::pid_t>, child: &mut tokio::process::Child) {
    let Some(pgid) = pgid else {
        let _ = child.kill().await;
        return;
    };
    signal_group(pgid, libc::SIGTERM);
    let _ = tokio::time::timeout(KILL_GRACE, child.wait()).await;
    // Also when the child is gone: grandchildren that ignored SIGTERM are still in the
    // group. The pgid cannot have been reused this fast (pids are not recycled while a
    // group with that id still has members).
    signal_group(pgid, libc::SIGKILL);
    let _ = child.wait().await;
}

pub(super) fn signal_group(pgid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: killpg has no memory-safety preconditions; ESRCH (group gone) is fine.
    unsafe {
        libc::killpg(pgid, sig);
    }
}

/// Process groups of commands still running, for [`kill_all_running`].
static ACTIVE_GROUPS: std::sync::Mutex<std::collections::BTreeSet<libc::pid_t>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

fn active_groups() -> std::sync::MutexGuard<'static, std::collections::BTreeSet<libc::pid_t>> {
    ACTIVE_GROUPS.lock().unwrap_or_else(|e| e.into_inner())
}

/// SIGKILLs the process group of every command running now. For exiting at once (a
/// second Ctrl-C): the groups are not in the terminal's foreground group, so nothing
/// else would stop them when devenv exits.
pub fn kill_all_running() {
    for pgid in active_groups().iter() {
        signal_group(*pgid, libc::SIGKILL);
    }
}

/// Registers a running group; kills it with SIGKILL if `run` is dropped half-way (e.g.
/// its task aborted) instead of finishing normally.
pub(super) struct GroupGuard {
    pgid: Option<libc::pid_t>,
    /// The child's record file (see [`write_child_record`]), removed with the group.
    pub(super) record: Option<PathBuf>,
}

impl GroupGuard {
    pub(super) fn new(pgid: Option<libc::pid_t>) -> GroupGuard {
        if let Some(p) = pgid {
            active_groups().insert(p);
        }
        GroupGuard { pgid, record: None }
    }

    /// The group is dealt with (reaped or killed): forget it.
    pub(super) fn disarm(&mut self) {
        if let Some(p) = self.pgid.take() {
            active_groups().remove(&p);
        }
        if let Some(r) = self.record.take() {
            let _ = std::fs::remove_file(r);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid {
            signal_group(pgid, libc::SIGKILL);
            self.disarm();
        }
    }
}

/// Linux: the child gets SIGKILL when devenv dies, even by SIGKILL (which no handler sees),
/// so a killed devenv leaves no `k3d cluster create` running on its own. The signal follows
/// the *thread* that forked: children are spawned from the runtime's worker threads, which
/// live as long as the command. What the child started itself (its process group) is
/// stopped by the next devenv from the child records ([`reap_leftovers`](super::reap_leftovers)).
#[cfg(target_os = "linux")]
pub(super) fn set_parent_death_signal(command: &mut tokio::process::Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and only calls async-signal-safe
    // functions (prctl, getppid, _exit); it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // devenv died between fork and prctl: nobody would ever stop this child.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// Elsewhere there is no parent-death signal: the child records let the next devenv stop
/// what a killed one left running ([`reap_leftovers`](super::reap_leftovers)).
#[cfg(not(target_os = "linux"))]
pub(super) fn set_parent_death_signal(_command: &mut tokio::process::Command) {}

/// On SIGINT or SIGTERM, cancels `token` (every running command then stops and returns
/// [`RunError::Interrupted`](super::RunError::Interrupted)). A second signal kills every running command's group and
/// exits at once with [`INTERRUPTED_EXIT`], for when cleanup itself hangs. Must be
/// called inside the tokio runtime.
pub fn install_signal_handlers(token: CancellationToken) -> io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        let mut seen = false;
        loop {
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
            }
            if seen {
                kill_all_running();
                std::process::exit(INTERRUPTED_EXIT);
            }
            seen = true;
            token.cancel();
        }
    });
    Ok(())
}
