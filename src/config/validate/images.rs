//! [[images]]: names, build contexts and Dockerfiles (inside the repository), build
//! arguments, platforms, tags, and the manifest reference each image stands for.

use std::collections::HashMap;
use std::path::Path;

use super::names::{check_repository, is_docker_tag, strip_tag_and_digest};
use super::{parent_of, Errors, FolderWords};
use crate::config::schema::Image;

pub(super) fn check(errs: &mut Errors<'_>) {
    let images = &errs.loaded.config.images;
    let mut image_names: HashMap<&str, usize> = HashMap::new();
    let mut stands_for: HashMap<String, usize> = HashMap::new();
    for (i, img) in images.iter().enumerate() {
        let key = format!("images[{i}]");
        if let Err(why) = check_repository(&img.name) {
            errs.push(format!("{key}.name"), format!("image name {:?} is not a valid repository name: {why}", img.name), "use lowercase letters, digits, '.', '_', '-' and '/', e.g. \"api\" or \"team/api\"");
        }
        if let Some(prev) = image_names.insert(img.name.as_str(), i) {
            errs.push(
                format!("{key}.name"),
                format!(
                    "image {:?} is declared twice (also images[{prev}])",
                    img.name
                ),
                "give each [[images]] entry its own name",
            );
        }
        context_and_dockerfile(errs, &key, img);
        build_options(errs, &key, img);
        let sf = img.stands_for.clone().unwrap_or_else(|| img.name.clone());
        let sf_name = strip_tag_and_digest(&sf);
        if sf_name.is_empty() || sf_name.contains(char::is_whitespace) {
            errs.push(
                format!("{key}.stands_for"),
                format!("stands_for {sf:?} is not an image reference"),
                "write the reference your manifests use, e.g. \"ghcr.io/org/api\"",
            );
        } else if let Some(prev) = stands_for.insert(sf_name.to_string(), i) {
            errs.push(
                format!("{key}.stands_for"),
                format!("images[{prev}] and images[{i}] both stand for {sf_name:?}"),
                "each manifest image reference can be replaced by one image only",
            );
        }
    }
}

/// The build context is a folder of the repository holding a Dockerfile (given or the
/// default one, either may be a symlink out of the repository).
fn context_and_dockerfile(errs: &mut Errors<'_>, key: &str, img: &Image) {
    let words = FolderWords {
        is_file: (
            format!(
                "build context {} of image {:?} is a file, not a folder",
                img.context, img.name
            ),
            format!(
                "`context` is the folder sent to docker build, e.g. \"{}\"; a Dockerfile goes in `dockerfile`, relative to the context",
                parent_of(&img.context)
            ),
        ),
        missing: (
            format!(
                "build context {} of image {:?} does not exist",
                img.context, img.name
            ),
            "point `context` at a folder, relative to devenv.toml",
        ),
        fenced: format!("build context {:?} of image {:?}", img.context, img.name),
    };
    let Some(ctx) = errs.repository_folder(&format!("{key}.context"), &img.context, words) else {
        return;
    };
    let df = img.dockerfile.as_deref().unwrap_or("Dockerfile");
    let df_path = ctx.join(df);
    let df_key = format!(
        "{key}{}",
        if img.dockerfile.is_some() {
            ".dockerfile"
        } else {
            ".context"
        }
    );
    if df_path.is_dir() {
        errs.push(
            df_key,
            format!("image {:?}: {df} in {} is a folder, not a Dockerfile", img.name, img.context),
            "set `dockerfile` to the Dockerfile's path relative to the context, e.g. \"build/Dockerfile\"",
        );
    } else if df_path.is_file() {
        errs.fenced(
            &df_key,
            &format!("Dockerfile {df:?} of image {:?}", img.name),
            &Path::new(&img.context).join(df),
        );
    } else {
        errs.push(
            df_key,
            format!("image {:?}: {} has no {df}", img.name, img.context),
            format!(
                "create {}/{df}, or set `dockerfile` to its path relative to the context",
                img.context.trim_end_matches('/')
            ),
        );
    }
}

/// Build arguments, platform and extra tags.
fn build_options(errs: &mut Errors<'_>, key: &str, img: &Image) {
    for (arg, _) in img.build_args.iter() {
        if arg.is_empty() || arg.contains(['=', ' ']) {
            errs.push(
                format!("{key}.build_args"),
                format!("build argument name {arg:?} is not valid"),
                "names are like VERSION or GO_FLAGS (no '=' or spaces)",
            );
        }
    }
    if let Some(p) = &img.platform {
        if p.split('/').count() < 2 || p.contains(' ') {
            errs.push(
                format!("{key}.platform"),
                format!("platform {p:?} is not os/arch"),
                "write it like \"linux/amd64\" or \"linux/arm64\"",
            );
        }
    }
    for (j, t) in img.tags.iter().enumerate() {
        if !is_docker_tag(t) {
            errs.push(
                format!("{key}.tags[{j}]"),
                format!("tag {t:?} is not a valid Docker tag"),
                "tags are up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'",
            );
        }
    }
}
