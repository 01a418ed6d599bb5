//! The helm command lines devenv runs. The same argv works with helm v3 (3.8+) and v4:
//! only flags both accept are used (`--repo`/`--version`/`--destination` of `helm pull`,
//! `--plain-http` since 3.13, `--include-crds`, `--kube-version`).

use std::path::Path;

use super::ChartSource;

/// `helm pull` of a remote chart into `destination` (a folder of devenv's cache); `None`
/// for a local chart.
pub fn pull_argv(source: &ChartSource, destination: &Path) -> Option<Vec<String>> {
    let dest = destination.display().to_string();
    let mut argv: Vec<String> = match source {
        ChartSource::Local { .. } => return None,
        ChartSource::Repo { url, name, version } => {
            ["pull", name, "--repo", url, "--version", version]
                .map(String::from)
                .to_vec()
        }
        ChartSource::Oci { reference, version } => ["pull", reference, "--version", version]
            .map(String::from)
            .to_vec(),
    };
    argv.extend(["--destination".to_string(), dest]);
    if source.plain_http() {
        argv.push("--plain-http".into());
    }
    Some(argv)
}

/// `helm dependency build DIR` of a local chart whose Chart.yaml lists dependencies.
pub fn dependency_build_argv(dir: &str) -> Vec<String> {
    ["dependency", "build", dir].map(String::from).to_vec()
}

/// What `helm template` is given.
pub struct TemplateArgs<'a> {
    pub release: &'a str,
    /// The chart folder or the pulled archive.
    pub chart: &'a str,
    pub namespace: &'a str,
    /// For a remote chart (shown; the archive already is that version).
    pub version: Option<&'a str>,
    /// The values files, in order, `set` last.
    pub values: &'a [String],
    /// `--kube-version`: the cluster's, when devenv knows it.
    pub kube_version: Option<&'a str>,
}

/// `helm template RELEASE CHART --namespace NS [--version V] -f VALUES… --include-crds
/// [--kube-version K]`: the manifests of an install, CRDs included (devenv applies them
/// first), printed rather than installed.
pub fn template_argv(t: &TemplateArgs) -> Vec<String> {
    let mut argv: Vec<String> = ["template", t.release, t.chart, "--namespace", t.namespace]
        .map(String::from)
        .to_vec();
    if let Some(v) = t.version {
        argv.extend(["--version".to_string(), v.to_string()]);
    }
    for f in t.values {
        argv.extend(["-f".to_string(), f.clone()]);
    }
    argv.push("--include-crds".into());
    if let Some(k) = t.kube_version {
        argv.extend(["--kube-version".to_string(), k.to_string()]);
    }
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_names_repository_version_and_destination() {
        let repo = ChartSource::Repo {
            url: "http://127.0.0.1:8080/charts".into(),
            name: "redis".into(),
            version: "1.0.0".into(),
        };
        assert_eq!(
            pull_argv(&repo, Path::new("/cache/x")).unwrap().join(" "),
            "pull redis --repo http://127.0.0.1:8080/charts --version 1.0.0 --destination /cache/x"
        );
        let oci = ChartSource::Oci {
            reference: "oci://localhost:5000/charts/pg".into(),
            version: "0.1.0".into(),
        };
        assert_eq!(
            pull_argv(&oci, Path::new("/c")).unwrap().join(" "),
            "pull oci://localhost:5000/charts/pg --version 0.1.0 --destination /c --plain-http"
        );
        let local = ChartSource::Local { dir: "c".into() };
        assert_eq!(pull_argv(&local, Path::new("/c")), None);
    }

    #[test]
    fn template_passes_values_in_order_then_crds_and_kube_version() {
        let argv = template_argv(&TemplateArgs {
            release: "db",
            chart: "deploy/pg",
            namespace: "data",
            version: None,
            values: &["a.yaml".into(), ".devenv/charts/db/set-values.yaml".into()],
            kube_version: Some("v1.32.5"),
        });
        assert_eq!(
            argv.join(" "),
            "template db deploy/pg --namespace data -f a.yaml -f .devenv/charts/db/set-values.yaml \
             --include-crds --kube-version v1.32.5"
        );
    }
}
