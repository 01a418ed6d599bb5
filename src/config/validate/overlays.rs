//! [[overlays]]: the Kustomize folder (inside the repository). Names, `depends_on`,
//! `wait` and `timeout` are shared with charts (`units.rs`).

use super::{parent_of, Errors, FolderWords};
use crate::config::schema::Overlay;

pub(super) fn check(errs: &mut Errors<'_>) {
    for (i, o) in errs.loaded.config.overlays.iter().enumerate() {
        path(errs, &format!("overlays[{i}]"), o);
    }
}

/// A Kustomize folder of the repository.
fn path(errs: &mut Errors<'_>, key: &str, o: &Overlay) {
    let words = FolderWords {
        is_file: (
            format!(
                "overlay {:?}: path {} is a file, not a folder",
                o.name, o.path
            ),
            format!(
                "`path` is the Kustomize folder (the one holding kustomization.yaml), e.g. \"{}\"",
                parent_of(&o.path)
            ),
        ),
        missing: (
            format!("overlay {:?}: folder {} does not exist", o.name, o.path),
            "point `path` at a Kustomize folder (with a kustomization.yaml), relative to devenv.toml",
        ),
        fenced: format!("path {:?} of overlay {:?}", o.path, o.name),
    };
    let Some(dir) = errs.repository_folder(&format!("{key}.path"), &o.path, words) else {
        return;
    };
    if !["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .any(|f| dir.join(f).is_file())
    {
        errs.push(
            format!("{key}.path"),
            format!("overlay {:?}: {} has no kustomization.yaml", o.name, o.path),
            "create a kustomization.yaml there, or point `path` at the right folder",
        );
    }
}
