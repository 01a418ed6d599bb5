//! Tool versions as devenv reads them from `k3d version`, `kubectl version` and `helm
//! version`: a leaf both preflight (is this version supported?) and `src/tools.rs` (is the
//! cached pinned binary the pinned version?) use.

use std::fmt;

/// A tool version, compared as semver does: a pre-release sorts before its release
/// (`v5.9.0-rc.0 < v5.9.0`, semver.org §11), build metadata (`+dfsg1`) is ignored.
/// A suffix is a pre-release only when it names one (`alpha`, `beta`, `rc`, `pre`, `dev`, as
/// Kubernetes, k3d and helm tag theirs); vendor suffixes such as kubectl's `-dispatcher` or
/// `-eks-5e0fdde` mark builds of a release and are ignored like build metadata.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// Empty for a release; `semver::Prerelease` orders an empty one after any other.
    pub pre: semver::Prerelease,
}

impl Version {
    pub const fn new(major: u64, minor: u64, patch: u64) -> Version {
        Version {
            major,
            minor,
            patch,
            pre: semver::Prerelease::EMPTY,
        }
    }

    /// `v1.32.4-dispatcher`, `20.10.24+dfsg1`, `5.9.0-rc.0`, `v1.33` → a version; `v5-dev`
    /// → None (a major alone says too little).
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.trim();
        let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
        // Build metadata never changes what a version is (semver.org §10).
        let s = s.split('+').next().unwrap_or(s);
        let end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let mut parts = s[..end].split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = match parts.next() {
            None | Some("") => 0,
            Some(p) => p.parse().ok()?,
        };
        let pre = match s[end..].strip_prefix('-') {
            Some(p) if is_prerelease_tag(p) => semver::Prerelease::new(p).ok()?,
            // A vendor's suffix on a release (`-dispatcher` of Google Cloud SDK's kubectl,
            // `-eks-5e0fdde`, `-gke.100`): the release itself, or `>=1.31` would refuse it.
            _ => semver::Prerelease::EMPTY,
        };
        Some(Version {
            major,
            minor,
            patch,
            pre,
        })
    }

    /// Whether this is a pre-release (`-rc.0`, `-beta.1`, `-dispatcher`).
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }

    /// As a `semver::Version`, to match `[tools]` requirements.
    pub fn to_semver(&self) -> semver::Version {
        semver::Version {
            major: self.major,
            minor: self.minor,
            patch: self.patch,
            pre: self.pre.clone(),
            build: semver::BuildMetadata::EMPTY,
        }
    }
}

/// Whether a version's `-suffix` names a pre-release: its first identifier starts with a
/// pre-release word (`rc.0`, `rc1`, `beta.2`, `alpha`, `dev.3`, `pre`).
fn is_prerelease_tag(suffix: &str) -> bool {
    let first = suffix
        .split(['.', '-'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    ["alpha", "beta", "rc", "pre", "dev"].iter().any(|w| {
        first
            .strip_prefix(w)
            .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit()))
    })
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        Ok(())
    }
}

/// What `k3d version` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct K3dVersion {
    /// As printed: `v5.9.0`, or `v5-dev` for a plain `go build`.
    pub k3d: String,
    /// The default k3s image tag, `v1.32.5-k3s1`.
    pub k3s: Option<String>,
}

/// Parses `{"k3d":"v5.9.0","k3s":"v1.32.5-k3s1"}` or the text form
/// `k3d version v5.9.0` / `k3s version v1.32.5-k3s1 (default)`.
pub fn parse_k3d_version(out: &str) -> Option<K3dVersion> {
    let t = out.trim();
    if t.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(t).ok()?;
        let k3d = v.get("k3d")?.as_str()?.to_string();
        let k3s = v.get("k3s").and_then(|s| s.as_str()).map(str::to_string);
        return Some(K3dVersion { k3d, k3s });
    }
    let field = |prefix: &str| {
        t.lines().find_map(|l| {
            l.trim()
                .strip_prefix(prefix)
                .and_then(|r| r.split_whitespace().next())
                .map(str::to_string)
        })
    };
    Some(K3dVersion {
        k3d: field("k3d version ")?,
        k3s: field("k3s version "),
    })
}

/// What `kubectl version --client` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubectlVersion {
    /// As printed: `v1.33.1`, `v1.32.4-dispatcher`.
    pub client: String,
    /// The release, from `gitVersion`, else from `major`/`minor` (`"32+"` on vendor builds).
    pub version: Option<Version>,
    /// `v5.6.0` (absent in very old kubectl).
    pub kustomize: Option<String>,
}

/// Parses the JSON of [`kubectl_version_cmd`] or the text form
/// (`Client Version: v1.33.1` / `Kustomize Version: v5.6.0`).
pub fn parse_kubectl_version(out: &str) -> Option<KubectlVersion> {
    let t = out.trim();
    if t.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(t).ok()?;
        let cv = v.get("clientVersion")?;
        let client = cv
            .get("gitVersion")
            .and_then(|s| s.as_str())
            .unwrap_or("")
            .to_string();
        let num = |k: &str| {
            cv.get(k)
                .and_then(|s| s.as_str())
                .and_then(|s| s.trim_end_matches('+').parse::<u64>().ok())
        };
        let version =
            Version::parse(&client).or_else(|| Some(Version::new(num("major")?, num("minor")?, 0)));
        if client.is_empty() && version.is_none() {
            return None;
        }
        let kustomize = v
            .get("kustomizeVersion")
            .and_then(|s| s.as_str())
            .map(str::to_string);
        return Some(KubectlVersion {
            client,
            version,
            kustomize,
        });
    }
    let field = |prefix: &str| {
        t.lines().find_map(|l| {
            l.trim()
                .strip_prefix(prefix)
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
        })
    };
    let client = field("Client Version:")?;
    Some(KubectlVersion {
        version: Version::parse(&client),
        client,
        kustomize: field("Kustomize Version:"),
    })
}
