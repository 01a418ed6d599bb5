//! Overlays that inflate Helm charts (`helmCharts:` in a kustomization): Kustomize runs
//! helm for them only with `--enable-helm`, and devenv then needs helm like a `[[charts]]`
//! entry does.
//!
//! How deep devenv looks: the overlay's own kustomization and every kustomization it
//! includes through `resources:`, `components:` or the older `bases:` that is a local
//! folder inside the repository (the same fence as every path devenv reads: a folder
//! outside it is not read, a remote URL is not fetched), recursively, each folder once.
//! A `helmCharts:` list that is present and not empty counts. Kustomize's other way in,
//! a `HelmChartInflationGenerator` config file listed under `generators:`, is not looked
//! for: it is the legacy form that `helmCharts:` replaced.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::config::paths::PathFence;
use crate::config::Loaded;

/// Whether the project needs helm: it declares `[[charts]]`, or one of its overlays
/// inflates charts. `doctor` and preflight check helm only then (or when `[tools]` pins it).
pub fn uses_helm(loaded: &Loaded) -> bool {
    if !loaded.config.charts.is_empty() {
        return true;
    }
    let (fence, _) = crate::config::validate::path_fence(loaded);
    loaded
        .config
        .overlays
        .iter()
        .any(|o| inflates_charts(&loaded.root.join(&o.path), &fence))
}

/// The file names Kustomize reads as a folder's kustomization, in its order
/// (kubernetes-sigs/kustomize `api/konfig/general.go` `RecognizedKustomizationFileNames`).
const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Whether the kustomization in `dir`, or one it includes from the repository, has
/// `helmCharts:`. A folder or file that cannot be read counts as no charts: rendering
/// reports it with Kustomize's own words.
pub fn inflates_charts(dir: &Path, fence: &PathFence) -> bool {
    let mut seen = BTreeSet::new();
    inflates_in(dir, fence, &mut seen)
}

fn inflates_in(dir: &Path, fence: &PathFence, seen: &mut BTreeSet<PathBuf>) -> bool {
    let Ok(dir) = dir.canonicalize() else {
        return false;
    };
    if !seen.insert(dir.clone()) || fence.check(&dir).is_err() {
        return false;
    }
    let Some(doc) = KUSTOMIZATION_FILES
        .iter()
        .find_map(|f| std::fs::read_to_string(dir.join(f)).ok())
        .and_then(|text| serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text).ok())
    else {
        return false;
    };
    if doc
        .get("helmCharts")
        .and_then(|c| c.as_sequence())
        .is_some_and(|c| !c.is_empty())
    {
        return true;
    }
    ["resources", "components", "bases"]
        .iter()
        .filter_map(|key| doc.get(*key)?.as_sequence())
        .flatten()
        .filter_map(|entry| entry.as_str())
        .filter(|entry| is_local(entry))
        .map(|entry| dir.join(entry))
        .filter(|path| path.is_dir())
        .any(|path| inflates_in(&path, fence, seen))
}

/// A local path, not a remote target (`https://…`, `github.com/org/repo//dir?ref=v1`,
/// `git@host:repo`), which Kustomize would fetch.
fn is_local(entry: &str) -> bool {
    !(entry.contains("://")
        || entry.starts_with("git@")
        || entry.starts_with("github.com/")
        || entry.starts_with("gitlab.com/")
        || entry.starts_with("bitbucket.org/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn fence(root: &Path) -> PathFence {
        PathFence::new(root, Vec::new())
    }

    #[test]
    fn charts_in_the_overlay_or_an_included_base_or_component_count() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        write(
            root,
            "base/kustomization.yaml",
            "helmCharts:\n- name: web\n",
        );
        write(
            root,
            "dev/kustomization.yaml",
            "resources:\n- ../base\n- cm.yaml\n",
        );
        write(root, "dev/cm.yaml", "kind: ConfigMap\n");
        write(root, "comp/kustomization.yml", "helmCharts:\n- name: db\n");
        write(root, "c/Kustomization", "components:\n- ../comp\n");
        write(root, "old/kustomization.yaml", "bases:\n- ../base\n");
        write(
            root,
            "direct/kustomization.yaml",
            "helmCharts:\n- name: x\n",
        );
        for dir in ["dev", "c", "old", "direct", "base"] {
            assert!(inflates_charts(&root.join(dir), &fence(root)), "{dir}");
        }
    }

    #[test]
    fn no_charts_an_empty_list_a_remote_a_cycle_or_a_folder_outside_do_not() {
        let t = tempfile::tempdir().unwrap();
        let repo = t.path().join("repo");
        write(&repo, "plain/kustomization.yaml", "resources:\n- d.yaml\n");
        write(&repo, "empty/kustomization.yaml", "helmCharts: []\n");
        write(
            &repo,
            "remote/kustomization.yaml",
            "resources:\n- https://github.com/org/repo//base?ref=v1\n- github.com/org/repo/base\n",
        );
        write(&repo, "a/kustomization.yaml", "resources:\n- ../b\n");
        write(&repo, "b/kustomization.yaml", "resources:\n- ../a\n");
        write(
            t.path(),
            "outside/kustomization.yaml",
            "helmCharts:\n- name: x\n",
        );
        write(
            &repo,
            "out/kustomization.yaml",
            "resources:\n- ../../outside\n",
        );
        for dir in ["plain", "empty", "remote", "a", "out", "missing"] {
            assert!(!inflates_charts(&repo.join(dir), &fence(&repo)), "{dir}");
        }
    }
}
