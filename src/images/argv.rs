//! The argv of `docker build` and `docker push` (without the program name), in the
//! fixed order of `docs/architecture.md`:
//! `build [--load] -t REF -f DOCKERFILE [--target T] [--build-arg K=V]... [--label K=V]...
//! [--platform P] CONTEXT`. Build args and labels come sorted by key (they are
//! `BTreeMap`s), so the same inputs always give the same command line.

use super::fingerprint::BuildInputs;

/// `build -t REF -f DOCKERFILE … CONTEXT`. The Dockerfile may be outside the context:
/// docker reads it from there. Paths are passed as given (make them absolute or relative
/// to the directory the command runs in).
pub fn docker_build_argv(inputs: &BuildInputs, image_ref: &str) -> Vec<String> {
    let mut argv = vec!["build".to_string()];
    argv.extend(inputs.builder_flags.iter().cloned());
    argv.extend([
        "-t".to_string(),
        image_ref.to_string(),
        "-f".to_string(),
        inputs.dockerfile.to_string_lossy().into_owned(),
    ]);
    if let Some(t) = &inputs.target {
        argv.push("--target".into());
        argv.push(t.clone());
    }
    for (k, v) in &inputs.build_args {
        argv.push("--build-arg".into());
        argv.push(format!("{k}={v}"));
    }
    for (k, v) in &inputs.labels {
        argv.push("--label".into());
        argv.push(format!("{k}={v}"));
    }
    if let Some(p) = &inputs.platform {
        argv.push("--platform".into());
        argv.push(p.clone());
    }
    argv.push(inputs.context.to_string_lossy().into_owned());
    argv
}

/// `push REF`.
pub fn docker_push_argv(image_ref: &str) -> Vec<String> {
    vec!["push".to_string(), image_ref.to_string()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_argv_order_is_fixed() {
        let mut i = BuildInputs::new("/src/app", "/src/docker/Dockerfile");
        i.target = Some("dev".into());
        i.build_args.insert("B".into(), "2".into());
        i.build_args.insert("A".into(), "1=x".into());
        i.labels.insert("org.x".into(), "y".into());
        i.platform = Some("linux/amd64".into());
        assert_eq!(
            docker_build_argv(&i, "localhost:5000/app:dv-0123456789abcdef"),
            [
                "build",
                "-t",
                "localhost:5000/app:dv-0123456789abcdef",
                "-f",
                "/src/docker/Dockerfile",
                "--target",
                "dev",
                "--build-arg",
                "A=1=x",
                "--build-arg",
                "B=2",
                "--label",
                "org.x=y",
                "--platform",
                "linux/amd64",
                "/src/app",
            ]
        );
        let plain = BuildInputs::new("ctx", "ctx/Dockerfile");
        assert_eq!(
            docker_build_argv(&plain, "r/a:t"),
            ["build", "-t", "r/a:t", "-f", "ctx/Dockerfile", "ctx"]
        );
        assert_eq!(docker_push_argv("r/a:t"), ["push", "r/a:t"]);
    }
}
