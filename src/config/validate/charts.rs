//! [[charts]]: where the chart comes from (a local folder of the repository, a chart of an
//! http(s) chart repository, or an `oci://` reference), its exact version, the values
//! files and `set`, the namespace and the release name. Names, `depends_on`, `wait` and
//! `timeout` are shared with overlays (`units.rs`).

use std::path::Path;

use super::names::{check_dns_label, check_exact_version};
use super::{Errors, FolderWords};
use crate::config::schema::{Chart, ClusterProvider};

/// Helm's limit on a release name (helm `pkg/chartutil/validate_name.go`,
/// `maxReleaseNameLen = 53`): charts prefix object names (at most 63 characters) with it.
const MAX_RELEASE_NAME: usize = 53;

/// Where a chart comes from, as its keys say.
enum Source<'a> {
    Local(&'a str),
    Repository { url: &'a str, name: &'a str },
    Oci(&'a str),
}

pub(super) fn check(errs: &mut Errors<'_>) {
    let charts = &errs.loaded.config.charts;
    for (i, ch) in charts.iter().enumerate() {
        let key = format!("charts[{i}]");
        if let Some(source) = source(errs, &key, ch) {
            match source {
                Source::Local(folder) => local(errs, &key, ch, folder),
                Source::Repository { url, name } => {
                    repository(errs, &key, ch, url, name);
                    version(errs, &key, ch);
                }
                Source::Oci(reference) => {
                    oci(errs, &key, ch, reference);
                    version(errs, &key, ch);
                }
            }
        }
        values(errs, &key, ch);
        set(errs, &key, ch);
        namespace(errs, &key, ch);
        release(errs, &key, ch);
    }
}

/// The kind of source `chart` and `repo` give, or `None` after an error for a mix.
fn source<'a>(errs: &mut Errors<'_>, key: &str, ch: &'a Chart) -> Option<Source<'a>> {
    let oci = ch.chart.starts_with("oci://");
    match ch.repo.as_deref() {
        Some(url) if url.starts_with("oci://") => {
            let name = ch.chart.rsplit('/').next().unwrap_or(&ch.chart);
            errs.push(
                format!("{key}.repo"),
                format!("chart {:?}: repo {url:?} is an OCI registry, not a chart repository", ch.name),
                format!(
                    "an OCI chart is named by its reference alone: chart = \"{}/{name}\" and no `repo`",
                    url.trim_end_matches('/')
                ),
            );
            None
        }
        Some(_) if oci => {
            errs.push(
                format!("{key}.repo"),
                format!("chart {:?}: an oci:// chart takes no `repo`", ch.name),
                format!("{:?} names its registry itself: remove `repo`", ch.chart),
            );
            None
        }
        Some(url) if ch.chart.contains('/') || ch.chart.starts_with('.') => {
            errs.push(
                format!("{key}.chart"),
                format!(
                    "chart {:?}: chart {:?} is a path, but `repo` names a chart repository",
                    ch.name, ch.chart
                ),
                format!(
                    "with `repo`, `chart` is the chart's name in that repository, e.g. chart = {:?} and repo = {url:?}; for a chart folder of this repository remove `repo`",
                    ch.chart.rsplit('/').next().unwrap_or(&ch.chart)
                ),
            );
            None
        }
        Some(url) => Some(Source::Repository {
            url,
            name: &ch.chart,
        }),
        None if oci => Some(Source::Oci(&ch.chart)),
        None => Some(Source::Local(&ch.chart)),
    }
}

/// A chart folder of the repository, holding a Chart.yaml; its version is its Chart.yaml's.
fn local(errs: &mut Errors<'_>, key: &str, ch: &Chart, folder: &str) {
    // `bitnami/postgresql` is how `helm repo add` users name a repository's chart.
    let missing_help = if folder.split('/').count() == 2 && !folder.starts_with('.') {
        "point `chart` at a chart folder (with a Chart.yaml), relative to devenv.toml; for a chart of a repository added with `helm repo add`, devenv does not read helm's repository list: write its URL, e.g. repo = \"https://charts.bitnami.com/bitnami\" and chart = \"postgresql\""
    } else {
        "point `chart` at a chart folder (with a Chart.yaml), relative to devenv.toml, or set `repo` (a chart repository's URL) or write an oci:// reference"
    };
    let words = FolderWords {
        is_file: (
            format!(
                "chart {:?}: {folder} is a file, not a chart folder",
                ch.name
            ),
            "a local `chart` is the folder holding Chart.yaml (a packaged .tgz is not read)"
                .to_string(),
        ),
        missing: (
            format!("chart {:?}: folder {folder} does not exist", ch.name),
            missing_help,
        ),
        fenced: format!("chart folder {:?} of chart {:?}", folder, ch.name),
    };
    if let Some(dir) = errs.repository_folder(&format!("{key}.chart"), folder, words) {
        if !dir.join("Chart.yaml").is_file() {
            errs.push(
                format!("{key}.chart"),
                format!("chart {:?}: {folder} has no Chart.yaml", ch.name),
                "point `chart` at the chart's folder (the one holding Chart.yaml); `helm create NAME` makes one",
            );
        }
    }
    // Refused rather than ignored: helm renders a chart folder as it is, whatever
    // --version says, so a version here would promise something nothing checks.
    if let Some(v) = &ch.version {
        errs.push(
            format!("{key}.version"),
            format!(
                "chart {:?} is a local folder, so version {v:?} would not be used",
                ch.name
            ),
            "a chart folder is rendered as it is (its version is the one in its Chart.yaml): remove `version`",
        );
    }
}

/// `oci://HOST/PATH/NAME`, its version in `version` (where it is checked and pinned).
fn oci(errs: &mut Errors<'_>, key: &str, ch: &Chart, reference: &str) {
    let rest = &reference["oci://".len()..];
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.last().copied().unwrap_or("");
    if segments.len() < 2 || segments.iter().any(|s| s.is_empty()) {
        errs.push(
            format!("{key}.chart"),
            format!("chart {:?}: {reference:?} is not an OCI chart reference", ch.name),
            "write oci://HOST/PATH/NAME, e.g. \"oci://registry-1.docker.io/bitnamicharts/postgresql\"",
        );
    } else if last.contains([':', '@']) {
        let bare = last.split([':', '@']).next().unwrap_or(last);
        errs.push(
            format!("{key}.chart"),
            format!("chart {:?}: {reference:?} carries a tag or digest", ch.name),
            format!(
                "write the reference without it and the version in `version`: chart = \"oci://{}/{bare}\"",
                segments[..segments.len() - 1].join("/")
            ),
        );
    }
}

/// A chart repository is reached over http(s), as `helm repo add` takes it.
fn repository(errs: &mut Errors<'_>, key: &str, ch: &Chart, url: &str, name: &str) {
    if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() <= "https://".len()
    {
        errs.push(
            format!("{key}.repo"),
            format!("chart {:?}: repo {url:?} is not an http(s) URL", ch.name),
            "write the chart repository's URL (the one `helm repo add` takes), e.g. \"https://charts.bitnami.com/bitnami\"",
        );
    }
    if name.is_empty() {
        errs.push(
            format!("{key}.chart"),
            format!("chart {:?}: `chart` is empty", ch.name),
            "write the chart's name in the repository, e.g. \"postgresql\"",
        );
    }
}

/// A remote chart needs one exact version: the environment must be the same for everyone
/// and on every `up`.
fn version(errs: &mut Errors<'_>, key: &str, ch: &Chart) {
    let why = "a remote chart is pinned so every developer, and every `up`, renders the same chart";
    match &ch.version {
        None => errs.push(
            format!("{key}.version"),
            format!("chart {:?} comes from {} and has no version", ch.name, remote_place(ch)),
            format!("{why}: add the exact version, e.g. version = \"1.2.3\" (`helm search repo --versions` or `helm show chart` lists them)"),
        ),
        Some(v) => {
            if let Err(reason) = check_exact_version(v) {
                errs.push(
                    format!("{key}.version"),
                    format!("chart {:?}: version {v:?} is not an exact version: {reason}", ch.name),
                    format!("{why}: write one version, e.g. \"1.2.3\""),
                );
            }
        }
    }
}

fn remote_place(ch: &Chart) -> String {
    match &ch.repo {
        Some(url) => format!("the repository {url}"),
        None => ch.chart.clone(),
    }
}

/// Each values file is a file of the repository.
fn values(errs: &mut Errors<'_>, key: &str, ch: &Chart) {
    for (j, v) in ch.values.iter().enumerate() {
        let key = format!("{key}.values[{j}]");
        let path = errs.loaded.resolve(v);
        if path.is_dir() {
            errs.push(
                &key,
                format!("chart {:?}: values file {v} is a folder", ch.name),
                "list values files (YAML), relative to devenv.toml, e.g. \"deploy/postgres/values-dev.yaml\"",
            );
        } else if !path.is_file() {
            errs.push(
                &key,
                format!("chart {:?}: values file {v} does not exist", ch.name),
                "create it, or fix the path: values files are relative to devenv.toml, e.g. \"deploy/postgres/values-dev.yaml\"",
            );
        } else {
            errs.fenced(
                &key,
                &format!("values file {v:?} of chart {:?}", ch.name),
                Path::new(v),
            );
        }
    }
}

/// `set` keys nest at their dots as with `helm --set`: no segment may be empty.
fn set(errs: &mut Errors<'_>, key: &str, ch: &Chart) {
    /// (key in devenv.toml, the key as written) of each bad key.
    fn walk(table: &toml::Table, prefix: &str, bad: &mut Vec<(String, String)>) {
        for (k, v) in table {
            let key = crate::config::load::join_key(prefix, k);
            if k.split('.').any(str::is_empty) {
                bad.push((key.clone(), k.clone()));
            }
            if let toml::Value::Table(t) = v {
                walk(t, &key, bad);
            }
        }
    }
    let mut bad = Vec::new();
    walk(&ch.set, &format!("{key}.set"), &mut bad);
    for (k, written) in bad {
        errs.push(
            &k,
            format!("chart {:?}: set key {written:?} has an empty part between dots", ch.name),
            "a dot nests a value as with `helm --set`: write names between the dots, e.g. \"auth.database\" = \"app\"",
        );
    }
}

fn namespace(errs: &mut Errors<'_>, key: &str, ch: &Chart) {
    let Some(ns) = &ch.namespace else {
        return;
    };
    if let Err(why) = check_dns_label(ns, 63) {
        errs.push(
            format!("{key}.namespace"),
            format!("chart {:?}: namespace {ns:?} is not valid: {why}", ch.name),
            "use lowercase letters, digits and '-', starting with a letter, e.g. \"db\"",
        );
        return;
    }
    // On a shared cluster a shared namespace is every developer's: the chart's objects
    // there would be refused at apply time (tenancy), so say it now, on its line.
    let cl = &errs.loaded.config.cluster;
    if cl.provider == ClusterProvider::Existing
        && !cl.allow_shared_objects
        && cl.shared_namespaces.iter().any(|s| s == ns)
    {
        errs.push(
            format!("{key}.namespace"),
            format!(
                "chart {:?} installs into namespace {ns:?}, which cluster.shared_namespaces shares between every developer",
                ch.name
            ),
            "each developer would install it over the others': use a namespace of your own (it becomes one per developer), or set cluster.allow_shared_objects = true if that is intended",
        );
    }
}

fn release(errs: &mut Errors<'_>, key: &str, ch: &Chart) {
    let Some(r) = &ch.release else {
        // The name is the release: a valid name may still be too long for Helm.
        if ch.name.len() > MAX_RELEASE_NAME && check_dns_label(&ch.name, 63).is_ok() {
            errs.push(
                format!("{key}.name"),
                format!(
                    "chart {:?} is also its Helm release name, and has {} characters: Helm allows {MAX_RELEASE_NAME}",
                    ch.name,
                    ch.name.len()
                ),
                "shorten the name, or set a shorter `release`",
            );
        }
        return;
    };
    if let Err(why) = check_dns_label(r, MAX_RELEASE_NAME) {
        errs.push(
            format!("{key}.release"),
            format!("chart {:?}: release name {r:?} is not valid: {why}", ch.name),
            format!("use lowercase letters, digits and '-', at most {MAX_RELEASE_NAME} characters (Helm's limit: charts prefix object names with it), or leave `release` out to use the chart's name"),
        );
    }
}
