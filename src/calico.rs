//! The Calico manifests devenv applies: `operator-crds.yaml` then `tigera-operator.yaml`
//! of one Calico release (Tigera operator install).
//!
//! Calico publishes no checksums for the raw manifests, so devenv pins the sha256 of each
//! file of the versions it knows ([`PINNED`], computed from the git blobs at the release
//! tags) and never applies a download it could not check. Files are downloaded once into
//! the user's cache (`~/.cache/devenv/calico/<version>/`, or `$DEVENV_CACHE_DIR/calico/…`)
//! and re-checked on every use, so a corrupt cache entry is simply fetched again.
//! Air-gapped projects point `calico.manifests` at a folder holding the files instead.
//!
//! Before v3.30, `tigera-operator.yaml` bundles the CRDs and there is no separate CRDs
//! file to apply ([`CalicoManifests::crds`] is `None`).

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::http::{error_chain, proxy_for};
use crate::state::write_atomic;

/// The Calico version devenv installs unless `calico.version` says otherwise.
pub const DEFAULT_VERSION: &str = "v3.32.1";
/// The CRDs (Calico ≥ 3.30 applies them before the operator).
pub const CRDS_FILE: &str = "operator-crds.yaml";
/// The Tigera operator (and, before 3.30, the CRDs too).
pub const OPERATOR_FILE: &str = "tigera-operator.yaml";
/// Where the manifests of a tag live: `<base>/<version>/manifests/<file>`.
pub const DEFAULT_BASE_URL: &str = "https://raw.githubusercontent.com/projectcalico/calico";
/// Overrides [`DEFAULT_BASE_URL`] (a mirror, or a test server).
pub const ENV_BASE_URL: &str = "DEVENV_CALICO_BASE_URL";

/// sha256 of the manifests at the release tags (version, file, sha256); see
/// `calico.md` §1.2 of the reference notes. Sizes: v3.32.1 CRDs 3046956 bytes, operator
/// 19660 bytes; v3.29.7 operator (CRDs bundled) 1613913 bytes.
pub const PINNED: &[(&str, &str, &str)] = &[
    (
        "v3.32.1",
        CRDS_FILE,
        "192f8b2d934ef24b62e86b7e1a6e1762d1c8af26a916f78057bc13fa5ed60f71",
    ),
    (
        "v3.32.1",
        OPERATOR_FILE,
        "f18e073794207d372606bc3ea6f8fd73972f86d6828f4ba666dfe0d4aa8ab07f",
    ),
    (
        "v3.31.7",
        CRDS_FILE,
        "380414d5756e9a1af29ddb1ad70cada07aa344ae7a2680ba7355248621f8adbf",
    ),
    (
        "v3.31.7",
        OPERATOR_FILE,
        "092c10b3d0cb73617aca51367ca59755348f4647e6d2e63fa4e5b81266203214",
    ),
    (
        "v3.30.7",
        CRDS_FILE,
        "53b2e2791915809db8016b72d4ceac9d1dd529d053984eb203c06b94c6639ee3",
    ),
    (
        "v3.30.7",
        OPERATOR_FILE,
        "bcc9f89c1847ee5237c29c1b7e4a67c86296cb0139619093df6ca98ec14abf18",
    ),
    (
        "v3.29.7",
        OPERATOR_FILE,
        "a571ef21476c026618a7c7b092a3ab1744ec191e02492655d8c1468ac08f25f2",
    ),
];

/// The pinned sha256 of `file` at `version`, if devenv pins it.
pub fn pinned_sha256(version: &str, file: &str) -> Option<&'static str> {
    PINNED
        .iter()
        .find(|(v, f, _)| *v == version && *f == file)
        .map(|(_, _, sha)| *sha)
}

/// The versions devenv pins, newest first.
pub fn pinned_versions() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = PINNED.iter().map(|(v, _, _)| *v).collect();
    v.dedup();
    v
}

/// Whether `version` ships its CRDs in a separate `operator-crds.yaml` that must be
/// applied first (Calico ≥ 3.30; older `tigera-operator.yaml` bundles them).
/// Unparsable versions are assumed new.
pub fn has_separate_crds(version: &str) -> bool {
    let mut parts = version.trim_start_matches('v').split('.');
    let major = parts.next().and_then(|p| p.parse::<u32>().ok());
    let minor = parts.next().and_then(|p| {
        p.split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|d| d.parse::<u32>().ok())
    });
    match (major, minor) {
        (Some(major), Some(minor)) => (major, minor) >= (3, 30),
        _ => true,
    }
}

/// The files to apply for `version`, in order.
pub fn manifest_files(version: &str) -> &'static [&'static str] {
    if has_separate_crds(version) {
        &[CRDS_FILE, OPERATOR_FILE]
    } else {
        &[OPERATOR_FILE]
    }
}

/// Where the manifests come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestSource {
    /// A version devenv pins, from [`DEFAULT_BASE_URL`] (or `$DEVENV_CALICO_BASE_URL`).
    Pinned { version: String },
    /// Any version from any base URL; `sha256s` (file → digest) override/extend the pins.
    Url {
        base_url: String,
        version: String,
        sha256s: BTreeMap<String, String>,
    },
    /// A folder with the files (air-gapped use, or patched manifests); checked against
    /// `sha256s` where given, never against the pins (local copies are often edited,
    /// e.g. to point at a mirror registry).
    LocalDir {
        dir: PathBuf,
        version: String,
        sha256s: BTreeMap<String, String>,
    },
}

impl ManifestSource {
    /// From the `[calico]` table: `manifests` (already resolved against the project root)
    /// wins; otherwise a download, checked against `sha256` or else the pins.
    pub fn from_config(
        version: &str,
        manifests: Option<PathBuf>,
        sha256: &BTreeMap<String, String>,
    ) -> ManifestSource {
        match manifests {
            Some(dir) => ManifestSource::LocalDir {
                dir,
                version: version.to_string(),
                sha256s: sha256.clone(),
            },
            None if sha256.is_empty() => ManifestSource::Pinned {
                version: version.to_string(),
            },
            None => ManifestSource::Url {
                base_url: base_url(),
                version: version.to_string(),
                sha256s: sha256.clone(),
            },
        }
    }

    pub fn version(&self) -> &str {
        match self {
            ManifestSource::Pinned { version }
            | ManifestSource::Url { version, .. }
            | ManifestSource::LocalDir { version, .. } => version,
        }
    }

    /// Each file to apply, in order, with where it comes from and the digest it must
    /// have. Fails for a download without a digest (nothing is fetched unchecked).
    pub fn files(&self) -> Result<Vec<ManifestFile>, CalicoError> {
        let version = self.version();
        let (base, given) = match self {
            ManifestSource::Pinned { .. } => (Some(base_url()), None),
            ManifestSource::Url {
                base_url, sha256s, ..
            } => (Some(base_url.clone()), Some(sha256s)),
            ManifestSource::LocalDir { dir, sha256s, .. } => {
                return Ok(manifest_files(version)
                    .iter()
                    .map(|name| ManifestFile {
                        name,
                        origin: Origin::Local(dir.join(name)),
                        sha256: sha256s.get(*name).map(|s| s.to_ascii_lowercase()),
                    })
                    .collect());
            }
        };
        let base = base.unwrap_or_default();
        let mut files = Vec::new();
        let mut missing = Vec::new();
        for name in manifest_files(version) {
            let sha = given
                .and_then(|g| g.get(*name))
                .map(|s| s.to_ascii_lowercase())
                .or_else(|| pinned_sha256(version, name).map(str::to_string));
            match sha {
                Some(sha) => files.push(ManifestFile {
                    name,
                    origin: Origin::Url(manifest_url(&base, version, name)),
                    sha256: Some(sha),
                }),
                None => missing.push(name.to_string()),
            }
        }
        if !missing.is_empty() {
            return Err(CalicoError::UnknownVersion {
                version: version.to_string(),
                missing,
            });
        }
        Ok(files)
    }
}

/// One manifest file of a [`ManifestSource`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestFile {
    pub name: &'static str,
    pub origin: Origin,
    /// Lower-case hex; always set for downloads.
    pub sha256: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Url(String),
    Local(PathBuf),
}

/// The files to apply, in this order: `crds` (when the version has a separate CRDs
/// file), then `operator`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalicoManifests {
    pub crds: Option<PathBuf>,
    pub operator: PathBuf,
}

/// `<base>/<version>/manifests/<file>`.
pub fn manifest_url(base_url: &str, version: &str, file: &str) -> String {
    format!(
        "{}/{version}/manifests/{file}",
        base_url.trim_end_matches('/')
    )
}

/// `$DEVENV_CALICO_BASE_URL`, else [`DEFAULT_BASE_URL`].
pub fn base_url() -> String {
    std::env::var(ENV_BASE_URL)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_BASE_URL.to_string())
}

/// Where the files of `version` are cached under `cache_root`.
pub fn cache_dir_for(cache_root: &Path, version: &str) -> PathBuf {
    cache_root.join("calico").join(version)
}

/// Why the manifests are not available.
#[derive(Debug, thiserror::Error)]
pub enum CalicoError {
    #[error(
        "Calico {version} is not pinned by this devenv (pinned: {pinned}) and devenv.toml gives \
         no sha256 for {files}; devenv does not apply manifests it cannot check.\n\
         Fix: use a pinned version, or set {keys} in devenv.toml (the sha256sum of each file), \
         or download the files yourself and set calico.manifests = \"DIR\"",
        pinned = pinned_versions().join(", "),
        files = missing.join(" and "),
        keys = missing.iter().map(|f| format!("calico.sha256.\"{f}\"")).collect::<Vec<_>>().join(" and "),
    )]
    UnknownVersion {
        version: String,
        missing: Vec<String>,
    },
    #[error(
        "{url} does not have the expected content: sha256 {actual}, expected {expected}; \
         nothing was cached.\n\
         Fix: if you trust this file (a mirror, a re-published release), set \
         calico.sha256.\"{file}\" = \"{actual}\" in devenv.toml; or download the manifests \
         yourself and set calico.manifests = \"DIR\""
    )]
    ChecksumMismatch {
        url: String,
        file: String,
        expected: String,
        actual: String,
    },
    #[error(
        "{} has sha256 {actual}, but devenv.toml expects {expected} (calico.sha256.\"{file}\"): \
         put the right file there or update the digest",
        path.display()
    )]
    LocalChecksumMismatch {
        path: PathBuf,
        file: String,
        expected: String,
        actual: String,
    },
    #[error(
        "{} not found: calico.manifests must point at a folder holding {}",
        path.display(),
        files_needed(version)
    )]
    LocalMissing { path: PathBuf, version: String },
    #[error("GET {url} answered {status}{}", if *status == 404 { format!(": is {version} a Calico release (tags look like {DEFAULT_VERSION})?") } else { String::new() })]
    HttpStatus {
        url: String,
        status: u16,
        version: String,
    },
    #[error(
        "cannot download {url}: {cause}\n\
         The network (or this host) looks unreachable. devenv downloads the Calico manifests once into {} \
         and reuses them offline afterwards. Without network access (air-gapped): copy {} of \
         Calico {version} into a folder and set calico.manifests = \"DIR\" in devenv.toml",
        cache_dir.display(),
        files_needed(version)
    )]
    Offline {
        url: String,
        cause: String,
        version: String,
        cache_dir: PathBuf,
    },
    #[error("cannot download {url}: {cause}")]
    Download { url: String, cause: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

fn files_needed(version: &str) -> String {
    if has_separate_crds(version) {
        format!("{CRDS_FILE} and {OPERATOR_FILE}")
    } else {
        format!("{OPERATOR_FILE} (Calico {version} bundles the CRDs in it)")
    }
}

/// Makes the manifests of `source` available on disk and returns their paths.
///
/// Downloads go to memory, are checked, and only then written (atomically) into
/// `cache_root/calico/<version>/`: dropping this future half-way (Ctrl-C) leaves no
/// partial file behind.
pub async fn ensure_manifests(
    source: &ManifestSource,
    cache_root: &Path,
    client: &reqwest::Client,
) -> Result<CalicoManifests, CalicoError> {
    let version = source.version();
    let cache_dir = cache_dir_for(cache_root, version);
    let mut paths = BTreeMap::new();
    for file in source.files()? {
        let path = match &file.origin {
            Origin::Local(path) => {
                check_local(path, version, file.name, file.sha256.as_deref())?;
                path.clone()
            }
            Origin::Url(url) => {
                let sha = file.sha256.as_deref().unwrap_or_default();
                let cached = cache_dir.join(file.name);
                if sha256_file(&cached).ok().as_deref() != Some(sha) {
                    if cached.exists() {
                        tracing::info!(
                            "cached {} does not match its sha256; downloading it again",
                            cached.display()
                        );
                    }
                    download(client, url, file.name, sha, version, &cache_dir).await?;
                }
                cached
            }
        };
        paths.insert(file.name, path);
    }
    let operator = paths
        .remove(OPERATOR_FILE)
        .expect("every version has tigera-operator.yaml");
    Ok(CalicoManifests {
        crds: paths.remove(CRDS_FILE),
        operator,
    })
}

/// The cached manifests of `source` if they are all present and intact (no network);
/// for `plan`/`doctor` to say whether `up` will download.
pub fn cached_manifests(source: &ManifestSource, cache_root: &Path) -> Option<CalicoManifests> {
    let cache_dir = cache_dir_for(cache_root, source.version());
    let mut paths = BTreeMap::new();
    for file in source.files().ok()? {
        let path = match &file.origin {
            Origin::Local(p) => p.clone(),
            Origin::Url(_) => cache_dir.join(file.name),
        };
        let ok = match &file.sha256 {
            Some(sha) => sha256_file(&path).ok().as_deref() == Some(sha.as_str()),
            None => path.is_file(),
        };
        if !ok {
            return None;
        }
        paths.insert(file.name, path);
    }
    Some(CalicoManifests {
        crds: paths.remove(CRDS_FILE),
        operator: paths.remove(OPERATOR_FILE)?,
    })
}

fn check_local(
    path: &Path,
    version: &str,
    name: &str,
    sha: Option<&str>,
) -> Result<(), CalicoError> {
    if !path.is_file() {
        return Err(CalicoError::LocalMissing {
            path: path.to_path_buf(),
            version: version.to_string(),
        });
    }
    if let Some(expected) = sha {
        let actual = sha256_file(path).map_err(|source| CalicoError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if actual != expected {
            return Err(CalicoError::LocalChecksumMismatch {
                path: path.to_path_buf(),
                file: name.to_string(),
                expected: expected.to_string(),
                actual,
            });
        }
    }
    Ok(())
}

async fn download(
    client: &reqwest::Client,
    url: &str,
    name: &str,
    expected: &str,
    version: &str,
    cache_dir: &Path,
) -> Result<(), CalicoError> {
    let net_err = |e: reqwest::Error| {
        let cause = explain_network_error(url, &error_chain(&e));
        if e.is_connect() || e.is_timeout() {
            CalicoError::Offline {
                url: url.to_string(),
                cause,
                version: version.to_string(),
                cache_dir: cache_dir.to_path_buf(),
            }
        } else {
            CalicoError::Download {
                url: url.to_string(),
                cause,
            }
        }
    };
    tracing::info!("downloading {url}");
    let resp = client.get(url).send().await.map_err(net_err)?;
    if !resp.status().is_success() {
        return Err(CalicoError::HttpStatus {
            url: url.to_string(),
            status: resp.status().as_u16(),
            version: version.to_string(),
        });
    }
    let body = resp.bytes().await.map_err(net_err)?;
    let actual = hex::encode(Sha256::digest(&body));
    if actual != expected {
        return Err(CalicoError::ChecksumMismatch {
            url: url.to_string(),
            file: name.to_string(),
            expected: expected.to_string(),
            actual,
        });
    }
    let path = cache_dir.join(name);
    std::fs::create_dir_all(cache_dir)
        .and_then(|_| write_atomic(&path, &body))
        .map_err(|source| CalicoError::Io { path, source })
}

/// A download error's cause with what the user needs to fix it: the proxy it went through,
/// and for a certificate the server (or a TLS-inspecting proxy) shows that nothing trusts,
/// where devenv looks for trusted CAs.
fn explain_network_error(url: &str, cause: &str) -> String {
    let mut out = cause.to_string();
    match proxy_for(url) {
        Some((proxy, var)) => out.push_str(&format!(" (through the proxy {proxy} from {var})")),
        None => out
            .push_str(" (no proxy: HTTPS_PROXY/HTTP_PROXY are unset or NO_PROXY covers the host)"),
    }
    let lower = cause.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("unknownissuer") {
        out.push_str(
            "\nThe server's TLS certificate is not trusted. Behind a TLS-inspecting proxy, its CA \
             must be trusted: devenv uses the system's certificate store (and SSL_CERT_FILE / \
             SSL_CERT_DIR) besides the Mozilla roots. Add the CA to the system store (Debian/Ubuntu: \
             copy it to /usr/local/share/ca-certificates/ and run `sudo update-ca-certificates`; \
             macOS: add it to the System keychain), or set SSL_CERT_FILE to a PEM bundle holding it",
        );
    }
    out
}

/// Lower-case hex sha256 of a file's content.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut f = std::fs::File::open(path)?;
    io::copy(&mut f, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Url(u) => f.write_str(u),
            Origin::Local(p) => write!(f, "{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devenv_fakes::release_host::{serve, Server};
    use std::net::TcpListener;
    use std::sync::atomic::Ordering;

    fn client() -> reqwest::Client {
        // no_proxy: a proxy set in the environment must not see the loopback test server.
        reqwest::Client::builder().no_proxy().build().unwrap()
    }

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    const CRDS: &[u8] = b"kind: CustomResourceDefinition\n";
    const OPERATOR: &[u8] = b"kind: Deployment\nmetadata:\n  name: tigera-operator\n";

    /// A server holding both files of `version`, and a Url source with their digests.
    fn release(version: &str) -> (Server, ManifestSource) {
        let server = serve(vec![
            (format!("/{version}/manifests/{CRDS_FILE}"), CRDS.to_vec()),
            (
                format!("/{version}/manifests/{OPERATOR_FILE}"),
                OPERATOR.to_vec(),
            ),
        ]);
        let source = ManifestSource::Url {
            base_url: server.base.clone(),
            version: version.to_string(),
            sha256s: BTreeMap::from([
                (CRDS_FILE.to_string(), sha(CRDS)),
                (OPERATOR_FILE.to_string(), sha(OPERATOR)),
            ]),
        };
        (server, source)
    }

    #[test]
    fn pins_cover_the_default_and_crd_split() {
        for file in [CRDS_FILE, OPERATOR_FILE] {
            assert!(pinned_sha256(DEFAULT_VERSION, file).is_some(), "{file}");
        }
        assert_eq!(
            pinned_versions(),
            ["v3.32.1", "v3.31.7", "v3.30.7", "v3.29.7"]
        );
        for (v, _, sha) in PINNED {
            assert_eq!(sha.len(), 64);
            assert!(sha
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
            // Each pinned version pins exactly the files it needs.
            for f in manifest_files(v) {
                assert!(pinned_sha256(v, f).is_some(), "{v} {f}");
            }
        }
        assert!(has_separate_crds("v3.30.0") && has_separate_crds("v3.32.1"));
        assert!(has_separate_crds("v4.0.0") && has_separate_crds("v3.31.0-rc.1"));
        assert!(!has_separate_crds("v3.29.7") && !has_separate_crds("v3.26.4"));
        assert_eq!(manifest_files("v3.29.7"), [OPERATOR_FILE]);
        assert_eq!(
            ManifestSource::Pinned {
                version: "v3.32.1".into()
            }
            .files()
            .unwrap()[0]
                .origin,
            Origin::Url(format!(
                "{}/v3.32.1/manifests/operator-crds.yaml",
                base_url()
            ))
        );
    }

    #[test]
    fn from_config_picks_the_source() {
        let none = BTreeMap::new();
        let sums = BTreeMap::from([(OPERATOR_FILE.to_string(), "ab".repeat(32))]);
        assert_eq!(
            ManifestSource::from_config("v3.31.7", None, &none),
            ManifestSource::Pinned {
                version: "v3.31.7".into()
            }
        );
        assert!(matches!(
            ManifestSource::from_config("v3.28.0", None, &sums),
            ManifestSource::Url { version, sha256s, .. } if version == "v3.28.0" && sha256s == sums
        ));
        assert!(matches!(
            ManifestSource::from_config("v3.32.1", Some("/m".into()), &sums),
            ManifestSource::LocalDir { dir, .. } if dir == Path::new("/m")
        ));
    }

    #[tokio::test]
    async fn downloads_verifies_and_reuses_the_cache() {
        let cache = tempfile::tempdir().unwrap();
        let (server, source) = release("v3.40.0");
        let m = ensure_manifests(&source, cache.path(), &client())
            .await
            .unwrap();
        let dir = cache.path().join("calico/v3.40.0");
        assert_eq!(m.crds.as_deref(), Some(dir.join(CRDS_FILE).as_path()));
        assert_eq!(m.operator, dir.join(OPERATOR_FILE));
        assert_eq!(std::fs::read(&m.operator).unwrap(), OPERATOR);
        assert_eq!(server.hits.load(Ordering::SeqCst), 2);
        assert_eq!(cached_manifests(&source, cache.path()), Some(m.clone()));

        let again = ensure_manifests(&source, cache.path(), &client())
            .await
            .unwrap();
        assert_eq!(again, m);
        assert_eq!(
            server.hits.load(Ordering::SeqCst),
            2,
            "served from the cache"
        );
    }

    #[tokio::test]
    async fn corrupt_cache_entry_is_downloaded_again() {
        let cache = tempfile::tempdir().unwrap();
        let (server, source) = release("v3.40.1");
        let m = ensure_manifests(&source, cache.path(), &client())
            .await
            .unwrap();
        std::fs::write(&m.operator, b"truncated").unwrap();
        assert_eq!(cached_manifests(&source, cache.path()), None);
        let again = ensure_manifests(&source, cache.path(), &client())
            .await
            .unwrap();
        assert_eq!(std::fs::read(&again.operator).unwrap(), OPERATOR);
        assert_eq!(
            server.hits.load(Ordering::SeqCst),
            3,
            "only the bad file refetched"
        );
    }

    #[tokio::test]
    async fn checksum_mismatch_is_refused_and_nothing_cached() {
        let cache = tempfile::tempdir().unwrap();
        let (server, mut source) = release("v3.40.2");
        let wrong = "0".repeat(64);
        if let ManifestSource::Url { sha256s, .. } = &mut source {
            sha256s.insert(CRDS_FILE.to_string(), wrong.clone());
        }
        let err = ensure_manifests(&source, cache.path(), &client())
            .await
            .unwrap_err();
        let url = format!("{}/v3.40.2/manifests/{CRDS_FILE}", server.base);
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "{url} does not have the expected content: sha256 {}, expected {wrong}; nothing was cached.",
                sha(CRDS)
            )),
            "{msg}"
        );
        assert!(
            msg.contains(&format!(
                "calico.sha256.\"{CRDS_FILE}\" = \"{}\"",
                sha(CRDS)
            )),
            "{msg}"
        );
        assert!(msg.contains("calico.manifests"), "{msg}");
        assert!(
            !cache.path().join("calico").exists(),
            "nothing left in the cache"
        );
    }

    #[tokio::test]
    async fn local_dir_is_used_without_any_request() {
        let (server, _) = release("v3.32.1");
        let local = tempfile::tempdir().unwrap();
        // Edited copies (e.g. a mirror registry) are fine: no pin applies to local files.
        std::fs::write(local.path().join(CRDS_FILE), b"edited crds").unwrap();
        std::fs::write(local.path().join(OPERATOR_FILE), b"edited operator").unwrap();
        let cache = tempfile::tempdir().unwrap();
        let mut source = ManifestSource::LocalDir {
            dir: local.path().to_path_buf(),
            version: "v3.32.1".into(),
            sha256s: BTreeMap::new(),
        };
        let m = ensure_manifests(&source, cache.path(), &client())
            .await
            .unwrap();
        assert_eq!(m.crds, Some(local.path().join(CRDS_FILE)));
        assert_eq!(m.operator, local.path().join(OPERATOR_FILE));

        // A given sha256 is checked.
        if let ManifestSource::LocalDir { sha256s, .. } = &mut source {
            sha256s.insert(OPERATOR_FILE.into(), sha(b"something else"));
        }
        let err = ensure_manifests(&source, cache.path(), &client())
            .await
            .unwrap_err();
        assert!(
            matches!(err, CalicoError::LocalChecksumMismatch { .. }),
            "{err}"
        );

        // Before 3.30 only tigera-operator.yaml is needed; from 3.30 both are.
        std::fs::remove_file(local.path().join(CRDS_FILE)).unwrap();
        let old = ManifestSource::LocalDir {
            dir: local.path().to_path_buf(),
            version: "v3.29.7".into(),
            sha256s: BTreeMap::new(),
        };
        let m = ensure_manifests(&old, cache.path(), &client())
            .await
            .unwrap();
        assert_eq!(
            (m.crds, m.operator),
            (None, local.path().join(OPERATOR_FILE))
        );
        let new = ManifestSource::LocalDir {
            dir: local.path().to_path_buf(),
            version: "v3.30.7".into(),
            sha256s: BTreeMap::new(),
        };
        let msg = ensure_manifests(&new, cache.path(), &client())
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            format!(
                "{} not found: calico.manifests must point at a folder holding {CRDS_FILE} and {OPERATOR_FILE}",
                local.path().join(CRDS_FILE).display()
            )
        );
        assert_eq!(server.hits.load(Ordering::SeqCst), 0);
        assert!(!cache.path().join("calico").exists());
    }

    #[tokio::test]
    async fn unknown_version_without_sha_is_refused_without_any_request() {
        let (server, _) = release("v3.99.0");
        let cache = tempfile::tempdir().unwrap();
        let source = ManifestSource::Url {
            base_url: server.base.clone(),
            version: "v3.99.0".into(),
            sha256s: BTreeMap::from([(OPERATOR_FILE.to_string(), sha(OPERATOR))]),
        };
        let err = ensure_manifests(&source, cache.path(), &client())
            .await
            .unwrap_err();
        let CalicoError::UnknownVersion { version, missing } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(
            (version.as_str(), missing.as_slice()),
            ("v3.99.0", [CRDS_FILE.to_string()].as_slice())
        );
        let msg = err.to_string();
        assert!(
            msg.starts_with("Calico v3.99.0 is not pinned by this devenv (pinned: v3.32.1, "),
            "{msg}"
        );
        assert!(
            msg.contains("does not apply manifests it cannot check"),
            "{msg}"
        );
        assert!(
            msg.contains("calico.sha256.\"operator-crds.yaml\""),
            "{msg}"
        );
        let pinned_only = ManifestSource::Pinned {
            version: "v3.99.0".into(),
        };
        assert!(matches!(
            ensure_manifests(&pinned_only, cache.path(), &client()).await,
            Err(CalicoError::UnknownVersion { missing, .. }) if missing.len() == 2
        ));
        assert_eq!(server.hits.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn not_found_and_offline_say_what_to_do() {
        let cache = tempfile::tempdir().unwrap();
        let server = serve(vec![]);
        let source = ManifestSource::Url {
            base_url: server.base.clone(),
            version: "v3.29.9".into(),
            sha256s: BTreeMap::from([(OPERATOR_FILE.to_string(), sha(OPERATOR))]),
        };
        let msg = ensure_manifests(&source, cache.path(), &client())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            msg.ends_with("answered 404: is v3.29.9 a Calico release (tags look like v3.32.1)?"),
            "{msg}"
        );

        // A port nobody listens on: connection refused, as without network.
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let source = ManifestSource::Url {
            base_url: format!("http://{closed}"),
            version: "v3.29.9".into(),
            sha256s: BTreeMap::from([(OPERATOR_FILE.to_string(), sha(OPERATOR))]),
        };
        let err = ensure_manifests(&source, cache.path(), &client())
            .await
            .unwrap_err();
        assert!(matches!(err, CalicoError::Offline { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("The network (or this host) looks unreachable"),
            "{msg}"
        );
        assert!(
            msg.contains(&cache.path().join("calico/v3.29.9").display().to_string()),
            "{msg}"
        );
        assert!(msg.contains("calico.manifests = \"DIR\""), "{msg}");
        assert!(
            msg.contains("(Calico v3.29.9 bundles the CRDs in it)"),
            "{msg}"
        );
    }
}
