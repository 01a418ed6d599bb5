//! [build] and [ci_cache]: the programs devenv runs, how many builds at once, and the
//! CI registry cache.

use super::Errors;

pub(super) fn ci_cache(errs: &mut Errors<'_>) {
    let loaded = errs.loaded;
    let cache = &loaded.config.ci_cache;
    if loaded.resolve(&cache.dir).is_file() {
        errs.push(
            "ci_cache.dir",
            format!("ci_cache.dir {} is a file, not a folder", cache.dir),
            "point it at a folder (devenv creates it), e.g. \".devenv/cache/registry-mirror\"",
        );
    }
    for (i, u) in cache.upstreams.iter().enumerate() {
        if u.is_empty() || u.contains("://") || u.contains('/') {
            errs.push(
                format!("ci_cache.upstreams[{i}]"),
                format!("upstream {u:?} is not a registry host"),
                "write the registry host, e.g. \"docker.io\" or \"quay.io\"",
            );
        }
    }
}

/// A program devenv runs (build.docker, build.kustomize) that is a file of the repository
/// would let a cloned repository run anything on this machine, as the user, before any
/// container: the fence would mean nothing. Programs come from PATH or from an absolute
/// path outside the repository.
pub(super) fn programs(errs: &mut Errors<'_>) {
    let loaded = errs.loaded;
    let build = &loaded.config.build;
    let programs = [
        ("build.docker", Some(build.docker.as_str())),
        ("build.kustomize", build.kustomize.as_deref()),
    ];
    for (key, program) in programs {
        let Some(program) = program.filter(|p| p.contains('/')) else {
            continue;
        };
        if errs.fence.inside_repository(&loaded.resolve(program)) {
            errs.push(
                key,
                format!("`{key}` = {program:?} runs a program from the repository holding devenv.toml"),
                "devenv runs only programs on your PATH or at an absolute path outside the repository, so a cloned repository cannot run its own code on your machine: name the program (e.g. \"docker\"), or install that one outside the repository and give its absolute path",
            );
        }
    }
    if build.parallel > 64 {
        errs.push(
            "build.parallel",
            format!("build.parallel {} is too high", build.parallel),
            "use 0 (automatic) or a small number such as 2 or 4",
        );
    }
}
