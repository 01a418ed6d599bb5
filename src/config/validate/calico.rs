//! [calico]: the release, the digests of its manifests, or a folder holding them.

use super::names::is_semver_tag;
use super::{parent_of, Errors};
use crate::config::load::join_key;
use crate::config::schema::DEFAULT_CALICO_VERSION;

pub(super) fn check(errs: &mut Errors<'_>) {
    version(errs);
    let loaded = errs.loaded;
    let c = &loaded.config;
    for (file, sum) in &c.calico.sha256 {
        let key = join_key("calico.sha256", file);
        if sum.len() != 64 || !sum.chars().all(|ch| ch.is_ascii_hexdigit()) {
            errs.push(
                &key,
                format!("sha256 for {file} is not 64 hex digits"),
                "paste the output of `sha256sum FILE` (the first field)",
            );
        }
        if !matches!(file.as_str(), "operator-crds.yaml" | "tigera-operator.yaml") {
            errs.push(
                &key,
                format!("unknown Calico manifest {file:?}"),
                "the files are operator-crds.yaml and tigera-operator.yaml",
            );
        }
    }
    if let Some(m) = &c.calico.manifests {
        let dir = loaded.resolve(m);
        if dir.is_file() {
            errs.push(
                "calico.manifests",
                format!("calico.manifests {m} is a file, not a folder"),
                format!(
                    "point calico.manifests at the folder holding operator-crds.yaml and tigera-operator.yaml, e.g. \"{}\"",
                    parent_of(m)
                ),
            );
        } else if !dir.join("tigera-operator.yaml").is_file() {
            errs.push("calico.manifests", format!("{} has no tigera-operator.yaml", dir.display()), "point calico.manifests at a folder holding operator-crds.yaml and tigera-operator.yaml of your Calico version");
        }
    }
}

/// A release tag, and one devenv can check: pinned by devenv, or given digests, or
/// downloaded by the user.
fn version(errs: &mut Errors<'_>) {
    let c = &errs.loaded.config;
    if !is_semver_tag(&c.calico.version) {
        errs.push(
            "calico.version",
            format!("calico.version {:?} is not a release tag", c.calico.version),
            format!("write it like \"{DEFAULT_CALICO_VERSION}\""),
        );
        return;
    }
    if c.calico.manifests.is_some() {
        return;
    }
    // A download devenv cannot check is refused: say so now, not after the cluster and
    // the images are built.
    let v = c.calico.version.as_str();
    let missing: Vec<&str> = crate::calico::manifest_files(v)
        .iter()
        .copied()
        .filter(|f| {
            !c.calico.sha256.contains_key(*f) && crate::calico::pinned_sha256(v, f).is_none()
        })
        .collect();
    if !missing.is_empty() {
        let keys = missing
            .iter()
            .map(|f| join_key("calico.sha256", f))
            .collect::<Vec<_>>()
            .join(" and ");
        errs.push(
            "calico.version",
            format!(
                "Calico {v} is not pinned by this devenv and calico.sha256 gives no digest for {}",
                missing.join(" and ")
            ),
            format!(
                "use a version devenv pins ({}), or set {keys} (the sha256sum of each file), or download the files and set calico.manifests = \"DIR\"",
                crate::calico::pinned_versions().join(", ")
            ),
        );
    }
}
