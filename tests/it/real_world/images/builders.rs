//! Issue 12 item 6: the builder decides where the image lands (legacy, buildx with the
//! `docker` or the `docker-container` driver); the fake's builder answers against the real
//! docker's, asked again when docker's setup changes, and named by `doctor`.

use super::*;

// ---------------------------------------------------------------------------------------
// Issue 12 item 6: the builder decides where the image lands

#[test]
fn each_builder_of_the_fake_docker_builds_so_that_the_push_works() {
    let reg = start_registry();
    for mode in [Mode::NoBuildx, Mode::BuildxDocker, Mode::BuildxContainer] {
        let sb = sandbox_in(mode);
        image_project(&sb, &reg.addr, "", "");
        sb.write("api/app.txt", &format!("{mode:?}\n"));
        let r = run(&sb, &["build"]);
        assert_eq!(r.code, 0, "{mode:?}: {r:?}");
        let calls = sb.calls();
        // Asked once which builder `docker build` uses, then built accordingly.
        let asks = calls
            .iter()
            .filter(|c| c.tool == "docker" && c.has(&["builder", "inspect"]))
            .count();
        assert_eq!(asks, 1, "{mode:?}: {:?}", calls);
        let build = calls
            .iter()
            .find(|c| c.tool == "docker" && c.argv.first().is_some_and(|a| a == "build"))
            .unwrap_or_else(|| panic!("{mode:?}: no docker build in {calls:?}"));
        let load = build.argv.iter().any(|a| a == "--load");
        assert_eq!(load, mode != Mode::NoBuildx, "{mode:?}: {:?}", build.argv);
        let tag = tag_in(&build.argv);
        assert_eq!(
            manifest_status(&reg.addr, "team/api", &tag),
            200,
            "{mode:?}: the pushed image is not in the registry: {r:?}"
        );
        // The answer is cached: a second build asks nothing (nothing to build either).
        sb.clear_calls();
        let r = run(&sb, &["build"]);
        assert_eq!(r.code, 0, "{mode:?}: {r:?}");
        assert!(
            sb.calls().iter().all(|c| c.tool != "docker"),
            "{mode:?}: {:?}",
            sb.calls()
        );
        // The plan shows what `up` runs.
        let args = build_args(&plan_json(&sb), "api");
        assert_eq!(args.iter().any(|a| a == "--load"), load, "{args:?}");
    }
}

#[test]
fn buildkit_forced_without_buildx_is_a_missing_prerequisite_before_anything_runs() {
    let reg = start_registry();
    let sb = Sandbox::new().env("DOCKER_BUILDKIT", "1");
    image_project(&sb, &reg.addr, "", "");
    let r = run(&sb, &["build"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr.contains("buildx component is missing")
            && r.stderr.contains("apt install docker-buildx")
            && r.stderr.contains("DOCKER_BUILDKIT"),
        "{r:?}"
    );
    assert!(
        sb.calls()
            .iter()
            .all(|c| c.tool != "docker" || c.has(&["builder", "inspect"])),
        "{:?}",
        sb.calls()
    );
}

/// The registry the real-Docker tests push to.
fn test_registry() -> String {
    std::env::var("DEVENV_TEST_REGISTRY")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "127.0.0.1:5000".into())
}

/// The real docker client of this machine (28.2.2 without buildx: the legacy builder).
fn real_docker() -> String {
    for p in ["/usr/local/bin/docker", "/usr/bin/docker"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("no real docker client installed")
}

#[test]
#[ignore = "needs docker"]
fn real_docker_legacy_builder_builds_and_pushes_and_forced_buildkit_is_refused() {
    let registry = test_registry();
    let docker = real_docker();
    let sb = Sandbox::new().with_docker();
    let nonce = format!("{:?} {}", Instant::now(), sb.project.display());
    image_project(
        &sb,
        &registry,
        "",
        &format!("[build]\ndocker = \"{docker}\"\n"),
    );
    sb.write("api/app.txt", &format!("{nonce}\n"));
    let r = run(&sb, &["build"]);
    assert_eq!(r.code, 0, "{r:?}");
    let args = build_args(&plan_json(&sb), "api");
    assert!(!args.iter().any(|a| a == "--load"), "{args:?}");
    let tag = tag_in(&args);
    assert_eq!(manifest_status(&registry, "team/api", &tag), 200, "{r:?}");
    let _ = Command::new(&docker)
        .args(["rmi", "-f", &format!("{registry}/team/api:{tag}")])
        .output();

    // DOCKER_BUILDKIT=1 with no buildx: `docker build` itself would fail.
    let sb = Sandbox::new().with_docker().env("DOCKER_BUILDKIT", "1");
    image_project(
        &sb,
        &registry,
        "",
        &format!("[build]\ndocker = \"{docker}\"\n"),
    );
    sb.write("api/app.txt", &format!("{nonce} forced\n"));
    let r = run(&sb, &["build"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("buildx component is missing"), "{r:?}");
}

#[test]
#[ignore = "needs docker"]
fn real_docker_and_the_fake_agree_on_what_the_legacy_builder_answers() {
    // The 28.x client without buildx, as the fake models it (same messages, exit codes).
    let sb = Sandbox::new();
    sb.write("ctx/Dockerfile", "FROM scratch\n");
    let cases: [(&[(&str, &str)], &[&str]); 4] = [
        (&[], &["builder", "inspect"]),
        (&[("DOCKER_BUILDKIT", "1")], &["builder", "inspect"]),
        (&[("DOCKER_BUILDKIT", "0")], &["builder", "inspect"]),
        (
            &[],
            &["build", "--load", "-t", "devenv-test-never:t", "ctx"],
        ),
    ];
    for (env, args) in cases {
        let real = Command::new("/usr/local/bin/docker")
            .env_clear()
            .env("HOME", &sb.home)
            .env("PATH", "/usr/bin:/bin")
            .envs(env.iter().copied())
            .args(args)
            .current_dir(&sb.project)
            .output()
            .unwrap();
        let fake = sb
            .command(fakes_dir().join("docker"))
            .envs(env.iter().copied())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            (real.status.code(), String::from_utf8_lossy(&real.stderr)),
            (fake.status.code(), String::from_utf8_lossy(&fake.stderr)),
            "{env:?} docker {args:?}"
        );
    }
}

#[test]
fn the_builder_answer_is_asked_again_when_docker_setup_changes() {
    let reg = start_registry();
    let sb = Sandbox::new();
    image_project(&sb, &reg.addr, "", "");
    let build = |sb: &Sandbox, env: &[(&str, &str)], content: &str| {
        sb.write("api/app.txt", content);
        sb.clear_calls();
        let o = sb
            .devenv(["build"])
            .envs(env.iter().copied())
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let calls = sb.calls();
        let asked = calls.iter().any(|c| c.has(&["builder", "inspect"]));
        let load = calls
            .iter()
            .any(|c| c.argv.first().is_some_and(|a| a == "build") && c.has(&["--load"]));
        (asked, load)
    };
    // An empty DOCKER_CONFIG means ~/.docker, for docker (cli/config Dir) and for devenv.
    let none = [("DOCKER_CONFIG", "")];
    assert_eq!(
        build(&sb, &none, "1\n"),
        (true, false),
        "legacy: asked, no --load"
    );
    assert_eq!(build(&sb, &none, "2\n"), (false, false), "cached");
    // `apt install docker-buildx-plugin`: nothing else changes, the answer does.
    install_buildx(&sb);
    assert_eq!(
        build(&sb, &none, "3\n"),
        (true, true),
        "buildx appeared: asked again"
    );
    assert_eq!(build(&sb, &none, "4\n"), (false, true), "cached");
    // A docker-container builder chosen, as CI setups do.
    fake_docker(
        &sb,
        &[
            "buildx",
            "create",
            "--name",
            "ci",
            "--driver",
            "docker-container",
        ],
    );
    let ci = [("BUILDX_BUILDER", "ci"), ("DOCKER_CONFIG", "")];
    assert_eq!(
        build(&sb, &ci, "5\n"),
        (true, true),
        "buildx: asked again, --load"
    );
    assert_eq!(build(&sb, &ci, "6\n"), (false, true), "cached");
}

#[test]
fn doctor_says_which_builder_docker_build_uses() {
    for (mode, want) in [
        (Mode::NoBuildx, "the legacy builder (no buildx)"),
        (
            Mode::BuildxContainer,
            "buildx builder \"ci-builder\" (driver docker-container) (devenv adds --load",
        ),
    ] {
        let sb = sandbox_in(mode);
        image_project(&sb, "127.0.0.1:9", "", "");
        let r = run(&sb, &["doctor"]);
        assert!(
            r.stdout
                .lines()
                .any(|l| l.starts_with("ok") && l.contains("docker build") && l.contains(want)),
            "{mode:?}: {r:?}"
        );
    }
    let sb = Sandbox::new().env("DOCKER_BUILDKIT", "1");
    image_project(&sb, "127.0.0.1:9", "", "");
    let r = run(&sb, &["doctor"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stdout.contains("FAIL  docker build") && r.stdout.contains("docker-buildx"),
        "{r:?}"
    );
}
