//! Pinned tools: the optional `[tools]` table of devenv.toml (`k3d = "5.8.3"`,
//! `kubectl = "1.33"`, `helm = ">=3.18, <4"`), compared with the installed versions by
//! `doctor` and preflight, and `devenv up --install-tools`, which downloads the pinned
//! release binaries into devenv's cache and makes every command use them from there
//! (without touching the user's PATH).
//!
//! The pins themselves, their specs and their validation are the config's
//! (`crate::config::tools`). Only exact versions can be downloaded.
//!
//! Downloads (official release URLs, overridable for mirrors and tests):
//! * k3d: `<base>/vX/k3d-OS-ARCH`, checked against `<base>/vX/checksums.txt` (lines
//!   `<sha256>  _dist/k3d-OS-ARCH`, as the release's `sha256sum _dist/*` writes them);
//! * kubectl: `<base>/vX/bin/OS/ARCH/kubectl`, checked against `kubectl.sha256` (the bare
//!   digest), as <https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/> does;
//! * helm: `<base>/helm-vX-OS-ARCH.tar.gz`, checked against `….tar.gz.sha256sum`
//!   (`<sha256>  helm-vX-OS-ARCH.tar.gz`), the binary is `OS-ARCH/helm` inside
//!   (helm's `scripts/get-helm-3`).
//!
//! Each download goes to memory, is checked, written to a temporary file beside its place
//! and renamed into it: an interrupted or refused download leaves nothing behind.

use std::collections::BTreeMap;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use sha2::{Digest, Sha256};

use crate::config::Loaded;

pub use crate::config::tools::{example, parse_spec, pin_for, pin_location, pins, Pin, Tool};

impl Tool {
    /// The environment variable overriding the download base URL.
    pub fn base_url_env(self) -> &'static str {
        match self {
            Tool::K3d => "DEVENV_K3D_BASE_URL",
            Tool::Kubectl => "DEVENV_KUBECTL_BASE_URL",
            Tool::Helm => "DEVENV_HELM_BASE_URL",
        }
    }

    /// The official release location.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Tool::K3d => "https://github.com/k3d-io/k3d/releases/download",
            Tool::Kubectl => "https://dl.k8s.io/release",
            Tool::Helm => "https://get.helm.sh",
        }
    }

    pub fn base_url(self) -> String {
        std::env::var(self.base_url_env())
            .ok()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| self.default_base_url().to_string())
    }
}

// ---------------------------------------------------------------------------------------
// Resolution: which binary a program name runs

static RESOLVED: RwLock<BTreeMap<String, PathBuf>> = RwLock::new(BTreeMap::new());

/// The binary to run for `program`: the cached pinned one when devenv installed it,
/// else `program` itself (looked up on PATH by the OS).
pub fn resolve(program: &str) -> PathBuf {
    RESOLVED
        .read()
        .ok()
        .and_then(|m| m.get(program).cloned())
        .unwrap_or_else(|| PathBuf::from(program))
}

/// Whether `program` runs a cached pinned binary.
pub fn resolved_path(program: &str) -> Option<PathBuf> {
    RESOLVED.read().ok().and_then(|m| m.get(program).cloned())
}

fn set_resolved(tool: Tool, path: PathBuf) {
    if let Ok(mut m) = RESOLVED.write() {
        m.insert(tool.name().to_string(), path);
    }
}

/// Makes every exact pin whose binary is in the cache (and intact) the one devenv runs.
/// Cheap: a stamp (size, mtime, sha256) written at install time is compared, the binary
/// is hashed again only when the stamp does not match.
pub fn activate(cfg: &crate::config::schema::Config) {
    let Some(root) = crate::cache::default_cache_root() else {
        return;
    };
    for pin in pins(cfg) {
        let Some(v) = &pin.exact else { continue };
        let path = binary_path(&root, pin.tool, v);
        if verify_stamp(&path) {
            tracing::debug!("{} v{v}: using {}", pin.tool, path.display());
            set_resolved(pin.tool, path);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Platform and URLs

/// `linux`/`darwin`, `amd64`/`arm64`, as the three projects name their assets.
pub fn platform() -> Result<(&'static str, &'static str), ToolsError> {
    let os = match std::env::consts::OS {
        "linux" => "linux",
        "macos" => "darwin",
        other => return Err(ToolsError::Unsupported(format!("operating system {other}"))),
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => return Err(ToolsError::Unsupported(format!("architecture {other}"))),
    };
    Ok((os, arch))
}

/// What to download for one tool: the asset, its checksum file, and how to read both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    pub asset_url: String,
    pub checksum_url: String,
    /// The name the checksum file lists the asset under (`None`: the file is the bare digest).
    pub listed_as: Option<String>,
    /// For an archive: the member holding the binary.
    pub member: Option<String>,
}

pub fn release(tool: Tool, v: &semver::Version, base: &str, os: &str, arch: &str) -> Release {
    let base = base.trim_end_matches('/');
    match tool {
        Tool::K3d => {
            let asset = format!("k3d-{os}-{arch}");
            Release {
                asset_url: format!("{base}/v{v}/{asset}"),
                checksum_url: format!("{base}/v{v}/checksums.txt"),
                listed_as: Some(asset),
                member: None,
            }
        }
        Tool::Kubectl => Release {
            asset_url: format!("{base}/v{v}/bin/{os}/{arch}/kubectl"),
            checksum_url: format!("{base}/v{v}/bin/{os}/{arch}/kubectl.sha256"),
            listed_as: None,
            member: None,
        },
        Tool::Helm => {
            let asset = format!("helm-v{v}-{os}-{arch}.tar.gz");
            Release {
                asset_url: format!("{base}/{asset}"),
                checksum_url: format!("{base}/{asset}.sha256sum"),
                listed_as: Some(asset),
                member: Some(format!("{os}-{arch}/helm")),
            }
        }
    }
}

/// The digest for `listed_as` in a `sha256sum`-style file (`<hex>  [*][dir/]name` lines),
/// or the file's only word when `listed_as` is `None`.
pub fn digest_from(text: &str, listed_as: Option<&str>) -> Option<String> {
    let valid = |h: &str| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit());
    match listed_as {
        None => {
            let h = text.split_whitespace().next()?;
            valid(h).then(|| h.to_ascii_lowercase())
        }
        Some(name) => text.lines().find_map(|l| {
            let mut it = l.split_whitespace();
            let h = it.next()?;
            let file = it.next()?.trim_start_matches('*');
            let file = file.rsplit('/').next().unwrap_or(file);
            (file == name && valid(h)).then(|| h.to_ascii_lowercase())
        }),
    }
}

// ---------------------------------------------------------------------------------------
// The cache

/// `<cache>/tools/<tool>/<version>/<os>-<arch>/<tool>`.
pub fn binary_path(cache_root: &Path, tool: Tool, v: &semver::Version) -> PathBuf {
    let plat = platform()
        .map(|(o, a)| format!("{o}-{a}"))
        .unwrap_or_else(|_| "unsupported".into());
    cache_root
        .join("tools")
        .join(tool.name())
        .join(v.to_string())
        .join(plat)
        .join(tool.name())
}

fn stamp_path(bin: &Path) -> PathBuf {
    let mut s = bin.as_os_str().to_owned();
    s.push(".verified");
    PathBuf::from(s)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A file's size and modification time (nanoseconds since the epoch): what tells a
/// binary replaced in place from the one a stamp was taken of.
pub(crate) fn file_stamp(path: &Path) -> Option<(u64, u128)> {
    let m = std::fs::metadata(path).ok()?;
    let mtime = m
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some((m.len(), mtime))
}

/// Whether the cached binary is the one installed (stamp: `sha256 size mtime`).
fn verify_stamp(bin: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(stamp_path(bin)) else {
        return false;
    };
    let mut it = text.split_whitespace();
    let (Some(sha), Some(size), Some(mtime)) = (it.next(), it.next(), it.next()) else {
        return false;
    };
    match file_stamp(bin) {
        Some((s, m)) if s.to_string() == size && m.to_string() == mtime => true,
        Some(_) => std::fs::read(bin).is_ok_and(|b| sha256_hex(&b) == sha),
        None => false,
    }
}

/// Why a tool could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum ToolsError {
    #[error(
        "tools.{tool} = {spec:?}{at} is a range: --install-tools downloads one release, so \
         it needs an exact version.\nFix: pin one version, e.g. tools.{tool} = \"{example}\"",
        at = location.as_deref().map(|l| format!(" ({l})")).unwrap_or_default()
    )]
    NotExact {
        tool: Tool,
        spec: String,
        location: Option<String>,
        example: String,
    },
    #[error("cannot install pinned tools on this machine: unsupported {0}")]
    Unsupported(String),
    #[error(
        "cannot download {url}: {cause}\nThe network looks unreachable; nothing was installed. \
         Install {tool} v{version} yourself (on PATH), or retry `devenv up --install-tools` online"
    )]
    Offline {
        tool: Tool,
        version: semver::Version,
        url: String,
        cause: String,
    },
    #[error("GET {url} answered {status}{}; nothing was installed", if *status == 404 { format!(": is v{version} a release of {tool}?") } else { String::new() })]
    HttpStatus {
        tool: Tool,
        version: semver::Version,
        url: String,
        status: u16,
    },
    #[error("{url} does not list a sha256 for {what}; nothing was installed")]
    NoChecksum { url: String, what: String },
    #[error(
        "{url} does not match its published sha256: got {actual}, expected {expected} (from \
         {checksum_url}); nothing was installed.\nFix: retry (a broken download or mirror), \
         or install {tool} yourself"
    )]
    ChecksumMismatch {
        tool: Tool,
        url: String,
        checksum_url: String,
        expected: String,
        actual: String,
    },
    #[error("{url}: no {member} in the archive ({cause}); nothing was installed")]
    Archive {
        url: String,
        member: String,
        cause: String,
    },
    #[error("cannot download {url}: {cause}")]
    Download { url: String, cause: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("devenv has no cache folder (no home directory): set DEVENV_CACHE_DIR")]
    NoCache,
}

/// What `--install-tools` did for one tool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installed {
    pub tool: Tool,
    pub version: semver::Version,
    pub path: PathBuf,
    /// False when the cache already held it (nothing downloaded).
    pub downloaded: bool,
}

/// Every pin must be exact to be installed; the first range is the error.
pub fn exact_pins(loaded: &Loaded) -> Result<Vec<(Tool, semver::Version)>, ToolsError> {
    let mut out = Vec::new();
    for pin in pins(&loaded.config) {
        match pin.exact {
            Some(v) => out.push((pin.tool, v)),
            None => {
                return Err(ToolsError::NotExact {
                    tool: pin.tool,
                    spec: pin.spec.clone(),
                    location: pin_location(loaded, pin.tool),
                    example: example(pin.tool).to_string(),
                })
            }
        }
    }
    Ok(out)
}

/// Exact pins that are not in the cache and that the tool on PATH does not satisfy (for
/// the prompt of `up` on a terminal). Runs each tool's version command.
pub fn missing_exact_pins(cfg: &crate::config::schema::Config) -> Vec<(Tool, semver::Version)> {
    let root = crate::cache::default_cache_root();
    let mut out = Vec::new();
    for pin in pins(cfg) {
        let Some(v) = pin.exact.clone() else { continue };
        if root
            .as_ref()
            .is_some_and(|r| verify_stamp(&binary_path(r, pin.tool, &v)))
        {
            continue;
        }
        let args: &[&str] = match pin.tool {
            Tool::K3d => &["version", "-o", "json"],
            Tool::Kubectl => &["version", "--client", "-o", "json"],
            Tool::Helm => &["version", "--template", "{{.Version}}"],
        };
        let on_path = std::process::Command::new(pin.tool.name())
            .args(args)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| {
                let text = String::from_utf8_lossy(&o.stdout).to_string();
                match pin.tool {
                    Tool::K3d => crate::version::parse_k3d_version(&text)
                        .and_then(|v| crate::version::Version::parse(&v.k3d)),
                    Tool::Kubectl => {
                        crate::version::parse_kubectl_version(&text).and_then(|v| v.version)
                    }
                    Tool::Helm => crate::version::Version::parse(&text),
                }
            });
        if !on_path.is_some_and(|p| pin.matches(&p.to_semver())) {
            out.push((pin.tool, v));
        }
    }
    out
}

/// Installs (or finds in the cache) each `(tool, version)` and makes devenv use it.
pub async fn install(
    wanted: &[(Tool, semver::Version)],
    cache_root: &Path,
    client: &reqwest::Client,
) -> Result<Vec<Installed>, ToolsError> {
    let (os, arch) = platform()?;
    let mut out = Vec::new();
    for (tool, v) in wanted {
        let path = binary_path(cache_root, *tool, v);
        let downloaded = if verify_stamp(&path) {
            false
        } else {
            let rel = release(*tool, v, &tool.base_url(), os, arch);
            let bytes = fetch_verified(client, *tool, v, &rel).await?;
            write_binary(&path, &bytes)?;
            true
        };
        set_resolved(*tool, path.clone());
        out.push(Installed {
            tool: *tool,
            version: v.clone(),
            path,
            downloaded,
        });
    }
    Ok(out)
}

async fn get(
    client: &reqwest::Client,
    tool: Tool,
    v: &semver::Version,
    url: &str,
) -> Result<Vec<u8>, ToolsError> {
    let net = |e: reqwest::Error| {
        let cause = crate::http::error_chain(&e);
        if e.is_connect() || e.is_timeout() {
            ToolsError::Offline {
                tool,
                version: v.clone(),
                url: url.to_string(),
                cause,
            }
        } else {
            ToolsError::Download {
                url: url.to_string(),
                cause,
            }
        }
    };
    let resp = client.get(url).send().await.map_err(net)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(ToolsError::HttpStatus {
            tool,
            version: v.clone(),
            url: url.to_string(),
            status: status.as_u16(),
        });
    }
    Ok(resp.bytes().await.map_err(net)?.to_vec())
}

/// Downloads the asset and its checksum file, checks the digest, and returns the binary.
async fn fetch_verified(
    client: &reqwest::Client,
    tool: Tool,
    v: &semver::Version,
    rel: &Release,
) -> Result<Vec<u8>, ToolsError> {
    let sums = get(client, tool, v, &rel.checksum_url).await?;
    let expected = digest_from(&String::from_utf8_lossy(&sums), rel.listed_as.as_deref())
        .ok_or_else(|| ToolsError::NoChecksum {
            url: rel.checksum_url.clone(),
            what: rel
                .listed_as
                .clone()
                .unwrap_or_else(|| rel.asset_url.clone()),
        })?;
    let asset = get(client, tool, v, &rel.asset_url).await?;
    let actual = sha256_hex(&asset);
    if actual != expected {
        return Err(ToolsError::ChecksumMismatch {
            tool,
            url: rel.asset_url.clone(),
            checksum_url: rel.checksum_url.clone(),
            expected,
            actual,
        });
    }
    match &rel.member {
        None => Ok(asset),
        Some(member) => extract(&asset, member).map_err(|cause| ToolsError::Archive {
            url: rel.asset_url.clone(),
            member: member.clone(),
            cause,
        }),
    }
}

/// The bytes of `member` in a `.tar.gz`.
pub fn extract(tgz: &[u8], member: &str) -> Result<Vec<u8>, String> {
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    for entry in ar.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path().map_err(|e| e.to_string())?.into_owned();
        if path == Path::new(member) {
            let mut buf = Vec::new();
            entry.read_to_end(&mut buf).map_err(|e| e.to_string())?;
            return Ok(buf);
        }
    }
    Err("not found".into())
}

/// Writes the binary through a temporary file renamed into place, then its stamp.
fn write_binary(path: &Path, bytes: &[u8]) -> Result<(), ToolsError> {
    let io_err = |source: io::Error| ToolsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().expect("a cache path has a parent");
    std::fs::create_dir_all(dir).map_err(io_err)?;
    // A stale stamp must not vouch for the new file while it is being replaced.
    let _ = std::fs::remove_file(stamp_path(path));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err)?;
    io::Write::write_all(&mut tmp, bytes).map_err(io_err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o755))
            .map_err(io_err)?;
    }
    tmp.as_file().sync_all().map_err(io_err)?;
    tmp.persist(path).map_err(|e| io_err(e.error))?;
    let (size, mtime) = file_stamp(path).ok_or_else(|| io_err(io::ErrorKind::NotFound.into()))?;
    crate::state::write_atomic(
        &stamp_path(path),
        format!("{} {size} {mtime}\n", sha256_hex(bytes)).as_bytes(),
    )
    .map_err(io_err)?;
    Ok(())
}

/// The cache root, or the error saying there is none.
pub fn cache_root() -> Result<PathBuf, ToolsError> {
    crate::cache::default_cache_root().ok_or(ToolsError::NoCache)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> semver::Version {
        semver::Version::parse(s).unwrap()
    }

    #[test]
    fn specs_exact_lines_and_ranges() {
        let (req, exact) = parse_spec("5.8.3").unwrap();
        assert_eq!(exact, Some(v("5.8.3")));
        assert!(req.matches(&v("5.8.3")) && !req.matches(&v("5.8.4")));
        assert_eq!(parse_spec("v5.8.3").unwrap().1, Some(v("5.8.3")));
        assert_eq!(parse_spec("=5.8.3").unwrap().1, Some(v("5.8.3")));
        let (line, exact) = parse_spec("1.33").unwrap();
        assert_eq!(exact, None);
        assert!(line.matches(&v("1.33.0")) && line.matches(&v("1.33.7")));
        assert!(!line.matches(&v("1.34.0")) && !line.matches(&v("1.32.9")));
        let (range, _) = parse_spec(">=1.31, <1.34").unwrap();
        assert!(range.matches(&v("1.31.0")) && !range.matches(&v("1.34.0")));
        // Pre-releases: only a spec naming one lets them in (semver).
        assert!(!parse_spec("5.9").unwrap().0.matches(&v("5.9.0-rc.0")));
        let (rc, exact) = parse_spec("5.9.0-rc.0").unwrap();
        assert!(rc.matches(&v("5.9.0-rc.0")));
        assert_eq!(exact, Some(v("5.9.0-rc.0")));
        for bad in ["", "latest", "5.8.x.1", "1.33+gke", ">= banana"] {
            assert!(parse_spec(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn urls_follow_the_official_layouts() {
        let r = release(
            Tool::K3d,
            &v("5.8.3"),
            Tool::K3d.default_base_url(),
            "linux",
            "amd64",
        );
        assert_eq!(
            r.asset_url,
            "https://github.com/k3d-io/k3d/releases/download/v5.8.3/k3d-linux-amd64"
        );
        assert_eq!(
            r.checksum_url,
            "https://github.com/k3d-io/k3d/releases/download/v5.8.3/checksums.txt"
        );
        let r = release(
            Tool::Kubectl,
            &v("1.33.4"),
            Tool::Kubectl.default_base_url(),
            "linux",
            "arm64",
        );
        assert_eq!(
            r.asset_url,
            "https://dl.k8s.io/release/v1.33.4/bin/linux/arm64/kubectl"
        );
        assert_eq!(r.checksum_url, format!("{}.sha256", r.asset_url));
        let r = release(
            Tool::Helm,
            &v("3.18.6"),
            Tool::Helm.default_base_url(),
            "darwin",
            "arm64",
        );
        assert_eq!(
            r.asset_url,
            "https://get.helm.sh/helm-v3.18.6-darwin-arm64.tar.gz"
        );
        assert_eq!(r.checksum_url, format!("{}.sha256sum", r.asset_url));
        assert_eq!(r.member.as_deref(), Some("darwin-arm64/helm"));
    }

    #[test]
    fn checksum_files_as_published() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let k3d = format!("{a}  _dist/k3d-darwin-amd64\n{b}  _dist/k3d-linux-amd64\n");
        assert_eq!(digest_from(&k3d, Some("k3d-linux-amd64")), Some(b.clone()));
        assert_eq!(digest_from(&k3d, Some("k3d-linux-arm64")), None);
        assert_eq!(digest_from(&format!("{a}\n"), None), Some(a.clone()));
        assert_eq!(digest_from("not a digest", None), None);
        let helm = format!("{a}  helm-v3.18.6-linux-amd64.tar.gz\n");
        assert_eq!(
            digest_from(&helm, Some("helm-v3.18.6-linux-amd64.tar.gz")),
            Some(a)
        );
    }
}
