//! What devenv remembers between runs, and the lock that keeps two runs apart.
//!
//! * [`write_atomic`]: every file devenv writes goes through it, so a crash or Ctrl-C
//!   never leaves a half-written kubeconfig, config or journal behind.
//! * [`Journal`] (`.devenv/state.json`): per step the fingerprint of its inputs and how
//!   its last attempt ended (so `up` skips what is done and resumes where it stopped),
//!   what devenv itself created (so `down` deletes only that), and the last run.
//!   It is a cache of facts devenv can re-check: deleting it is always safe.
//! * [`ProjectLock`] (`.devenv/lock`): one devenv at a time per project.
//!
//! [`journal`] and [`lock`] are files of their own; the state directory, atomic writes and
//! the checkout id stay here.
//!
//! All paths here take the state directory (the project's `.devenv/`), not the project
//! root.

mod journal;
mod lock;

pub use journal::*;
pub use lock::*;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// File name of the journal inside the state directory.
pub const JOURNAL_FILE: &str = "state.json";
/// File name of the project lock inside the state directory.
pub const LOCK_FILE: &str = "lock";
/// Version of the journal format this devenv writes.
pub const JOURNAL_VERSION: u32 = 1;
/// How long [`ProjectLock::acquire`] waits with `wait = true`.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(30 * 60);

// ---------------------------------------------------------------------------------------
// Atomic writes

/// Writes `bytes` to `path` so that readers see either the old or the new content, never
/// a mix: a temp file in the same directory is written, fsynced and renamed over `path`,
/// then the directory is fsynced. An existing file keeps its permission bits (a user's
/// 0600 kubeconfig stays 0600); a new file gets the usual 0666 minus umask. When `path`
/// is a symlink, the file it points to is replaced and the link is kept.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_impl(path, bytes, 0o666, true, |_| {})
}

/// Like [`write_atomic`], but a file that does not exist yet is created with `mode_if_new`
/// (e.g. `0o600` for a kubeconfig, which holds credentials).
pub fn write_atomic_with_mode(path: &Path, bytes: &[u8], mode_if_new: u32) -> io::Result<()> {
    write_atomic_impl(path, bytes, mode_if_new, true, |_| {})
}

fn write_atomic_impl(
    path: &Path,
    bytes: &[u8],
    mode_if_new: u32,
    sync_dir: bool,
    before_rename: impl FnOnce(&Path),
) -> io::Result<()> {
    let target = resolve_symlink(path)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?
        .to_string_lossy()
        .into_owned();
    let existing_mode = match fs::metadata(&target) {
        Ok(m) => Some(m.permissions().mode() & 0o7777),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };

    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        // Creation mode is filtered by the umask, like any new file.
        .permissions(fs::Permissions::from_mode(mode_if_new))
        .tempfile_in(&dir)?;
    tmp.write_all(bytes)?;
    if let Some(mode) = existing_mode {
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(mode))?;
    }
    tmp.as_file().sync_all()?;
    before_rename(tmp.path());
    tmp.persist(&target).map_err(|e| e.error)?;
    // The rename itself is durable only once the directory entry is on disk.
    if sync_dir {
        File::open(&dir)?.sync_all()?;
    }
    Ok(())
}

/// Follows symlinks (a chain of them) to the path that is really written.
fn resolve_symlink(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = fs::read_link(&p)?;
                p = match p.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(io::Error::other(format!(
        "too many levels of symbolic links at {}",
        path.display()
    )))
}

// ---------------------------------------------------------------------------------------
// The state directory and this checkout's ownership id

/// File name of this checkout's ownership id inside the state directory.
pub const CHECKOUT_ID_FILE: &str = "checkout-id";

/// Creates the state directory (`.devenv/`) if needed, with a `.gitignore` of `*` written
/// on first use: the directory holds an admin kubeconfig and logs, none of which belongs
/// in a commit. An existing `.gitignore` is left as the user made it.
pub fn ensure_state_dir(state_dir: &Path) -> io::Result<()> {
    refuse_links_in_state_dir(state_dir)?;
    // Private (0700): besides the admin kubeconfig it holds rendered overlays and their
    // logs, which carry the data of every Secret a kustomize secretGenerator made (from
    // `.env` files the user keeps at 0600). A folder widened since (or made by someone
    // else's script) is narrowed again.
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state_dir)?;
    if let Ok(m) = fs::metadata(state_dir) {
        if m.permissions().mode() & 0o077 != 0 {
            let _ = fs::set_permissions(state_dir, fs::Permissions::from_mode(0o700));
        }
    }
    let ignore = state_dir.join(".gitignore");
    match OpenOptions::new().write(true).create_new(true).open(&ignore) {
        Ok(mut f) => f.write_all(
            b"# Written by devenv: everything here is local (an admin kubeconfig, logs, state).\n*\n",
        ),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Refuses a `.devenv/` that is, or holds, a symbolic link devenv did not make (it makes
/// only `logs/latest`). devenv writes the admin kubeconfig, the k3d config and its journal
/// there, and writes through links ([`write_atomic`], k3d's `--output`): a cloned
/// repository that commits `.devenv/k3d-config.yaml -> ~/.bashrc` (a `.gitignore` does not
/// stop `git add -f`) would have devenv overwrite the user's file, or copy the cluster's
/// credentials wherever the link points.
pub fn refuse_links_in_state_dir(state_dir: &Path) -> io::Result<()> {
    let refuse = |p: &Path| -> io::Error {
        let target = fs::read_link(p)
            .map(|t| format!(" (to {})", t.display()))
            .unwrap_or_default();
        io::Error::other(format!(
            "{} is a symbolic link{target}: devenv keeps its own files (an admin kubeconfig, its journal, the k3d config) in .devenv/ and does not write through links that it did not make; remove the link (devenv recreates what it needs)",
            p.display()
        ))
    };
    match fs::symlink_metadata(state_dir) {
        Ok(m) if m.file_type().is_symlink() => return Err(refuse(state_dir)),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    let logs = state_dir.join("logs");
    let mut stack = vec![state_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(t) = e.file_type() else { continue };
            if t.is_symlink() {
                // `logs/latest` (and its temp name while it is replaced) is devenv's own.
                let name = e.file_name();
                let name = name.to_string_lossy();
                if dir == logs && (name == "latest" || name.starts_with(".latest.")) {
                    continue;
                }
                return Err(refuse(&p));
            }
            if t.is_dir() {
                stack.push(p);
            }
        }
    }
    Ok(())
}

/// This checkout's ownership id, or `None` when it has none yet (see [`checkout_id`]), or
/// when the file was made for another folder (a copied or moved checkout).
pub fn read_checkout_id(state_dir: &Path) -> Option<String> {
    match read_checkout_file(state_dir)? {
        (id, root) if root == checkout_root(state_dir) => Some(id),
        _ => None,
    }
}

/// The id and the checkout folder recorded in `.devenv/checkout-id`.
fn read_checkout_file(state_dir: &Path) -> Option<(String, String)> {
    let text = fs::read_to_string(state_dir.join(CHECKOUT_ID_FILE)).ok()?;
    let mut lines = text.lines();
    let id = lines.next()?.trim().to_string();
    let root = lines.next().unwrap_or("").to_string();
    is_checkout_id(&id).then_some((id, root))
}

/// The checkout folder the id belongs to: the state directory's parent, resolved.
fn checkout_root(state_dir: &Path) -> String {
    let root = state_dir.parent().unwrap_or(state_dir);
    fs::canonicalize(root)
        .unwrap_or_else(|_| root.to_path_buf())
        .display()
        .to_string()
}

/// 32 lowercase hex digits.
pub fn is_checkout_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What [`checkout_id`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutId {
    pub id: String,
    /// Set when `.devenv/` was copied or moved from another folder: the folder its old id
    /// belonged to. This checkout got a new id (what the other one created stays its own).
    pub replaced_from: Option<String>,
}

/// This checkout's ownership id (`.devenv/checkout-id`: the id, then the folder it belongs
/// to), made on first use: 128 random bits. devenv puts it on everything it creates (a
/// label on every k3d node, a volume path on its registries) and deletes or adopts only
/// what carries it. It lives in its own file, not in the journal, so that deleting a corrupt
/// `state.json` keeps what devenv owns; and it is bound to the folder, so that a copy of the
/// project with its `.devenv/` (`cp -r`) is another checkout, not a second owner.
pub fn checkout_id(state_dir: &Path) -> io::Result<CheckoutId> {
    let root = checkout_root(state_dir);
    let old = read_checkout_file(state_dir);
    if let Some((id, r)) = &old {
        if *r == root {
            return Ok(CheckoutId {
                id: id.clone(),
                replaced_from: None,
            });
        }
    }
    ensure_state_dir(state_dir)?;
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let path = state_dir.join(CHECKOUT_ID_FILE);
    let content = format!("{id}\n{root}\n");
    if old.is_some() {
        write_atomic(&path, content.as_bytes())?;
        return Ok(CheckoutId {
            id,
            replaced_from: old.map(|(_, r)| r),
        });
    }
    // Two devenvs starting at once: the first one's id wins, the other reads it.
    match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(mut f) => {
            f.write_all(content.as_bytes())?;
            f.sync_all()?;
            Ok(CheckoutId {
                id,
                replaced_from: None,
            })
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match read_checkout_id(state_dir) {
            Some(id) => Ok(CheckoutId {
                id,
                replaced_from: None,
            }),
            // An empty or torn file from a crash between create and write: replace it.
            None => {
                write_atomic(&path, content.as_bytes())?;
                Ok(CheckoutId {
                    id,
                    replaced_from: None,
                })
            }
        },
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests;
