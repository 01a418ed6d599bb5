//! Checks of the machine itself: free disk space, and which `devenv` the shell runs.

use std::io;
use std::path::{Path, PathBuf};

use crate::runner::{Cmd, Output, RunError, Runner};

use super::{first_line, Check, CHECK_TIMEOUT};

// ---------------------------------------------------------------------------------------
// Disk space

pub const DISK_WARN_BELOW: u64 = 5 << 30;
pub const DISK_FAIL_BELOW: u64 = 1 << 30;

/// Bytes available to an unprivileged user on the filesystem of `path`.
#[cfg(unix)]
pub fn free_bytes(path: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)]
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

#[cfg(not(unix))]
pub fn free_bytes(_path: &Path) -> io::Result<u64> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "statvfs is not available",
    ))
}

/// `12.3 GiB`, `512 MiB`.
pub fn format_bytes(b: u64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    if b >= 1 << 30 {
        format!("{:.1} GiB", b as f64 / GIB)
    } else {
        format!("{} MiB", b >> 20)
    }
}

/// Warn under 5 GiB, fail under 1 GiB (images, k3s layers and the registry grow fast).
pub fn evaluate_disk(label: &str, path: &Path, free: u64) -> Check {
    let name = format!("disk ({label})");
    let detail = format!(
        "{} free on the filesystem of {}",
        format_bytes(free),
        path.display()
    );
    let fix = format!(
        "free space on the filesystem of {} (`docker system prune` removes unused images)",
        path.display()
    );
    if free < DISK_FAIL_BELOW {
        Check::fail(name, detail, fix)
    } else if free < DISK_WARN_BELOW {
        Check::warn(name, detail, fix)
    } else {
        Check::ok(name, detail)
    }
}

/// Disk space where `path` lives (a check that cannot read it is a warning).
pub fn check_disk(label: &str, path: &Path) -> Check {
    match free_bytes(path) {
        Ok(free) => evaluate_disk(label, path, free),
        Err(e) => Check::warn(
            format!("disk ({label})"),
            format!("could not read the free space of {}: {e}", path.display()),
            "check the free disk space by hand (`df -h`)",
        ),
    }
}

/// `docker info --format {{.DockerRootDir}}`: where images and containers are stored.
pub fn docker_root_dir_cmd(docker: &str) -> Cmd {
    Cmd::new(docker)
        .args(["info", "--format", "{{.DockerRootDir}}"])
        .timeout(CHECK_TIMEOUT)
}

/// Disk space of Docker's data root, when it is on this machine and on another
/// filesystem than `project_dir` (Docker Desktop keeps it inside a VM: then `None`).
pub async fn check_docker_disk(
    runner: &Runner,
    docker: &str,
    project_dir: &Path,
) -> Result<Option<Check>, RunError> {
    let out: Output = match runner
        .run_unchecked("preflight-docker", &docker_root_dir_cmd(docker))
        .await
    {
        Ok(o) if o.success() => o,
        Ok(_) => return Ok(None),
        Err(e) if e.is_interrupted() => return Err(e),
        Err(_) => return Ok(None),
    };
    let root = PathBuf::from(first_line(&out.stdout_str()));
    if root.as_os_str().is_empty() || !root.exists() || same_filesystem(&root, project_dir) {
        return Ok(None);
    }
    Ok(Some(check_disk("docker data", &root)))
}

#[cfg(unix)]
fn same_filesystem(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_filesystem(_a: &Path, _b: &Path) -> bool {
    false
}

// ---------------------------------------------------------------------------------------
// Which `devenv` the shell runs

/// Whether `devenv` on PATH is this program. Another one first on PATH (often devenv.sh,
/// a different tool with the same name, from Nix) would answer every `devenv` typed in a
/// shell.
pub fn evaluate_self_on_path(on_path: Option<&Path>, current: &Path) -> Check {
    const NAME: &str = "devenv on PATH";
    let dir = |p: &Path| {
        p.parent()
            .map(|d| d.display().to_string())
            .unwrap_or_default()
    };
    match on_path {
        Some(p) if p == current => Check::ok(NAME, format!("{}", p.display())),
        Some(p) => {
            let hint = if p.to_string_lossy().contains("/nix/store/")
                || p.to_string_lossy().contains(".nix-profile")
            {
                " (probably devenv.sh from Nix, a different tool)"
            } else {
                ""
            };
            Check::warn(
                NAME,
                format!(
                    "`devenv` on PATH is {}{hint}, not this program ({})",
                    p.display(),
                    current.display()
                ),
                format!(
                    "put {} before {} in PATH, or run this one by its full path",
                    dir(current),
                    dir(p)
                ),
            )
        }
        None => Check::warn(
            NAME,
            format!(
                "`devenv` is not on PATH (this program is {})",
                current.display()
            ),
            format!("add {} to PATH", dir(current)),
        ),
    }
}

/// [`evaluate_self_on_path`] for this process (paths compared after resolving symlinks).
pub fn check_self_on_path() -> Check {
    let canon = |p: PathBuf| std::fs::canonicalize(&p).unwrap_or(p);
    let current = match std::env::current_exe() {
        Ok(p) => canon(p),
        Err(e) => {
            return Check::warn(
                "devenv on PATH",
                format!("could not find this program's path: {e}"),
                "run devenv by its full path",
            )
        }
    };
    let found = which::which("devenv").ok().map(canon);
    evaluate_self_on_path(found.as_deref(), &current)
}
