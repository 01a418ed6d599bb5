//! Child records (`.devenv/children/PGID.json`): what runs now, so that the next devenv
//! stops what a killed one left running, and only if the group is still that one.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::group::signal_group;
use super::KILL_GRACE;

/// What `<records>/<pgid>.json` says about a running child.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ChildRecord {
    /// The child's pid, which is also its process group id.
    pub pgid: i32,
    /// The devenv that started it.
    pub devenv_pid: u32,
    /// The command line (secrets in env masked, as in logs).
    pub command: String,
    /// RFC 3339.
    pub started_at: String,
    /// Who the group leader is: this boot's id and the leader's start time in clock ticks
    /// after boot (`/proc/PID/stat` field 22). A pid is reused once its process and group
    /// are gone (after a reboot, surely): the record then names someone else's process
    /// group, which must not be killed. `None` where there is no procfs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<LeaderId>,
}

/// See [`ChildRecord::leader`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeaderId {
    pub boot_id: String,
    pub start_ticks: u64,
}

/// The identity of process `pid` now, where procfs tells it.
pub fn leader_id(pid: libc::pid_t) -> Option<LeaderId> {
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) S ppid ...`: field 22 (starttime) is the 20th after the comm.
    let (_, rest) = stat.rsplit_once(')')?;
    let start_ticks = rest.split_whitespace().nth(19)?.parse().ok()?;
    Some(LeaderId {
        boot_id: boot_id.trim().to_string(),
        start_ticks,
    })
}

/// Whether the live group `rec.pgid` is still the one the record was made for: its leader
/// (the child) is the same process, or it has exited, in which case the group id cannot
/// have been reused (a pid stays taken while a group of that id has members). A record
/// with no identity is trusted only when procfs cannot tell (macOS).
fn same_group(rec: &ChildRecord) -> bool {
    let boot_now = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok();
    let Some(boot_now) = boot_now else {
        return true; // no procfs: nothing better to go by
    };
    let Some(recorded) = &rec.leader else {
        return false;
    };
    if recorded.boot_id != boot_now.trim() {
        return false;
    }
    match leader_id(rec.pgid) {
        Some(now) => now == *recorded,
        None => true,
    }
}

pub(super) fn write_child_record(dir: &Path, pgid: libc::pid_t, command: &str) -> Option<PathBuf> {
    let rec = ChildRecord {
        pgid,
        devenv_pid: std::process::id(),
        command: command.to_string(),
        started_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        leader: leader_id(pgid),
    };
    let path = dir.join(format!("{pgid}.json"));
    let write = || -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(&path, serde_json::to_vec(&rec).map_err(io::Error::other)?)
    };
    match write() {
        Ok(()) => Some(path),
        Err(e) => {
            tracing::warn!("cannot record child {pgid} in {}: {e}", dir.display());
            None
        }
    }
}

/// Whether a process group still has a live member. Zombies do not count: a killed
/// child whose parent (the dead devenv) cannot reap it waits for init, which in a container
/// may never come.
fn group_alive(pgid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks existence and permission.
    if unsafe { libc::killpg(pgid, 0) } != 0 {
        return false;
    }
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return true; // no procfs (macOS): the group exists
    };
    procs.flatten().any(|e| {
        // `pid (comm) S ppid pgrp ...`: the comm may hold spaces and parentheses.
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            return false;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let mut f = rest.split_whitespace();
        let state = f.next().unwrap_or("Z");
        let pgrp = f.nth(1).and_then(|p| p.parse::<libc::pid_t>().ok());
        pgrp == Some(pgid) && state != "Z" && state != "X"
    })
}

/// Stops what a devenv that died (SIGKILL, power loss) left running, from its child
/// records in `dir`: each recorded process group still alive gets SIGTERM, then SIGKILL
/// after [`KILL_GRACE`]. Call it only while holding the project lock: then no other devenv
/// of this project runs, so every record is a leftover. Returns the records of the groups
/// it stopped.
pub fn reap_leftovers(dir: &Path) -> Vec<ChildRecord> {
    let mut stopped = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return stopped;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let rec: Option<ChildRecord> = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if let Some(rec) = rec {
            let mine = rec.devenv_pid == std::process::id();
            if !mine && rec.pgid > 1 && group_alive(rec.pgid) && same_group(&rec) {
                signal_group(rec.pgid, libc::SIGTERM);
                let deadline = Instant::now() + KILL_GRACE;
                while group_alive(rec.pgid) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                if group_alive(rec.pgid) {
                    signal_group(rec.pgid, libc::SIGKILL);
                }
                stopped.push(rec);
            } else if mine {
                continue;
            }
        }
        let _ = std::fs::remove_file(&path);
    }
    stopped
}
