//! devenv's cache folder, shared by everything it keeps across projects (Calico manifests,
//! pinned tools, the Docker builder it found, overlay wrappers).

use std::path::PathBuf;

/// Overrides devenv's cache root (default: the platform cache dir + `devenv`).
pub const ENV_CACHE_DIR: &str = "DEVENV_CACHE_DIR";

/// devenv's cache root: `$DEVENV_CACHE_DIR`, else the platform cache dir + `devenv`
/// (`~/.cache/devenv` on Linux). `None` when there is no home directory.
pub fn default_cache_root() -> Option<PathBuf> {
    match std::env::var_os(ENV_CACHE_DIR) {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => dirs::cache_dir().map(|d| d.join("devenv")),
    }
}
