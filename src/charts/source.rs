//! Where a chart comes from, and where a remote one is kept once pulled.

use std::path::{Path, PathBuf};

use crate::config::schema::Chart;

/// A chart's source, as `chart`, `repo` and `version` of its `[[charts]]` entry say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChartSource {
    /// A chart folder, relative to devenv.toml.
    Local { dir: String },
    /// A chart `name` in the chart repository at `url` (`helm repo add` would take it).
    Repo {
        url: String,
        name: String,
        version: String,
    },
    /// `oci://HOST/PATH/NAME`.
    Oci { reference: String, version: String },
}

impl ChartSource {
    pub fn of(chart: &Chart) -> ChartSource {
        // Validation requires a version for remote charts; an empty one fails in helm.
        let version = chart.version.clone().unwrap_or_default();
        if chart.chart.starts_with("oci://") {
            ChartSource::Oci {
                reference: chart.chart.clone(),
                version,
            }
        } else if let Some(url) = &chart.repo {
            ChartSource::Repo {
                url: url.clone(),
                name: chart.chart.clone(),
                version,
            }
        } else {
            ChartSource::Local {
                dir: chart.chart.clone(),
            }
        }
    }

    pub fn is_remote(&self) -> bool {
        !matches!(self, ChartSource::Local { .. })
    }

    /// The chart's name as `helm pull` names its archive (`NAME-VERSION.tgz`).
    fn chart_name(&self) -> &str {
        match self {
            ChartSource::Local { dir } => dir.rsplit('/').next().unwrap_or(dir),
            ChartSource::Repo { name, .. } => name,
            ChartSource::Oci { reference, .. } => reference.rsplit('/').next().unwrap_or(""),
        }
    }

    /// The folder of devenv's cache that holds this chart once pulled, keyed by
    /// repository, name and version: `CACHE/charts/HASH-OF-REPO/NAME/VERSION`. `None` for a
    /// local chart.
    pub fn cache_dir(&self, cache_root: &Path) -> Option<PathBuf> {
        let (repo, version) = match self {
            ChartSource::Local { .. } => return None,
            ChartSource::Repo { url, version, .. } => (url.trim_end_matches('/'), version),
            ChartSource::Oci { reference, version } => {
                (reference.rsplit_once('/').map_or("", |(r, _)| r), version)
            }
        };
        let key = &blake3::hash(repo.as_bytes()).to_hex()[..16];
        Some(
            cache_root
                .join("charts")
                .join(key)
                .join(self.chart_name())
                .join(version),
        )
    }

    /// The archive `helm pull` leaves in [`Self::cache_dir`].
    pub fn archive(&self, cache_root: &Path) -> Option<PathBuf> {
        let version = match self {
            ChartSource::Local { .. } => return None,
            ChartSource::Repo { version, .. } | ChartSource::Oci { version, .. } => version,
        };
        self.cache_dir(cache_root)
            .map(|d| d.join(format!("{}-{version}.tgz", self.chart_name())))
    }

    /// An OCI registry on this machine (`127.0.0.1`, `localhost`, `[::1]`) speaks plain
    /// HTTP (a local `registry:2`, k3d's): helm needs `--plain-http` for it.
    pub fn plain_http(&self) -> bool {
        let ChartSource::Oci { reference, .. } = self else {
            return false;
        };
        let host = reference
            .trim_start_matches("oci://")
            .split('/')
            .next()
            .unwrap_or("");
        let host = match host.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => host,
        };
        matches!(host, "127.0.0.1" | "localhost" | "[::1]")
    }

    /// What identifies the chart across runs in the digest lock.
    pub fn lock_key(&self) -> String {
        match self {
            ChartSource::Local { dir } => dir.clone(),
            ChartSource::Repo { url, name, version } => format!("{url} {name} {version}"),
            ChartSource::Oci { reference, version } => format!("{reference} {version}"),
        }
    }
}

/// Whether the local chart in `dir` declares dependencies (`dependencies:` in Chart.yaml)
/// that are not in its `charts/` folder yet: then `helm dependency build` must run first.
pub fn needs_dependency_build(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("Chart.yaml")) else {
        return false;
    };
    let Ok(chart) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text) else {
        return false;
    };
    let wanted = chart
        .get("dependencies")
        .and_then(|d| d.as_sequence())
        .map_or(0, Vec::len);
    let present = std::fs::read_dir(dir.join("charts")).map_or(0, |entries| entries.count());
    present < wanted
}

/// Whether the local chart in `dir` declares dependencies at all (the plan then shows
/// `helm dependency build`, which `up` runs only while [`needs_dependency_build`]).
pub fn has_dependencies(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Chart.yaml"))
        .ok()
        .and_then(|t| serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&t).ok())
        .and_then(|c| {
            c.get("dependencies")
                .and_then(|d| d.as_sequence())
                .map(Vec::len)
        })
        .is_some_and(|n| n > 0)
}

/// The Kubernetes version of a k3s image (`rancher/k3s:v1.32.5-k3s1` → `v1.32.5`), for
/// `helm template --kube-version`: charts that check `.Capabilities.KubeVersion` render
/// for the cluster devenv creates, not for helm's built-in default.
pub fn kube_version_of_image(image: &str) -> Option<String> {
    let tag = image.rsplit_once(':')?.1;
    let version = tag.split('-').next()?;
    let numbers = version.strip_prefix('v')?;
    let ok = numbers.split('.').count() == 3
        && numbers
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    ok.then(|| version.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(chart: &str, repo: Option<&str>, version: Option<&str>) -> Chart {
        let mut toml = format!("name = \"x\"\nchart = \"{chart}\"\n");
        if let Some(r) = repo {
            toml += &format!("repo = \"{r}\"\n");
        }
        if let Some(v) = version {
            toml += &format!("version = \"{v}\"\n");
        }
        toml::from_str(&toml).unwrap()
    }

    #[test]
    fn the_source_follows_chart_and_repo() {
        assert_eq!(
            ChartSource::of(&chart("deploy/pg", None, None)),
            ChartSource::Local {
                dir: "deploy/pg".into()
            }
        );
        let repo = ChartSource::of(&chart("redis", Some("http://h/charts/"), Some("1.2.3")));
        assert!(repo.is_remote());
        let root = Path::new("/c");
        let archive = repo.archive(root).unwrap();
        assert!(
            archive.ends_with("redis/1.2.3/redis-1.2.3.tgz"),
            "{archive:?}"
        );
        let oci = ChartSource::of(&chart(
            "oci://127.0.0.1:5000/charts/pg",
            None,
            Some("0.1.0"),
        ));
        assert!(oci.plain_http());
        assert!(oci
            .archive(root)
            .unwrap()
            .ends_with("pg/0.1.0/pg-0.1.0.tgz"));
        let public = ChartSource::of(&chart("oci://ghcr.io/org/pg", None, Some("0.1.0")));
        assert!(!public.plain_http());
        // Another repository, same name and version: another cache folder.
        assert_ne!(oci.cache_dir(root), public.cache_dir(root));
    }

    #[test]
    fn the_kube_version_is_the_k3s_images_kubernetes_version() {
        assert_eq!(
            kube_version_of_image("docker.io/rancher/k3s:v1.32.5-k3s1").as_deref(),
            Some("v1.32.5")
        );
        assert_eq!(kube_version_of_image("localhost:5000/k3s:latest"), None);
        assert_eq!(kube_version_of_image("rancher/k3s"), None);
    }
}
