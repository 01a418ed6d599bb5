//! Issue 13 items 4 and 7: `<Dockerfile>.dockerignore` as the builder in use reads it; an
//! ignore line Docker refuses is bad input; what the real builders let through.

use super::*;

// ---------------------------------------------------------------------------------------
// Issue 13 item 4: `<Dockerfile>.dockerignore` as the builder in use reads it

#[test]
fn dockerfile_specific_ignore_file_counts_only_for_buildkit() {
    let reg = start_registry();
    for mode in [Mode::NoBuildx, Mode::BuildxContainer] {
        let sb = sandbox_in(mode);
        image_project(&sb, &reg.addr, "dockerfile = \"build/api.Dockerfile\"", "");
        sb.write("api/build/api.Dockerfile", "FROM scratch\nCOPY . /app/\n");
        sb.write("api/.dockerignore", "secret.txt\n");
        sb.write("api/build/api.Dockerfile.dockerignore", "notes.txt\n");
        sb.write("api/notes.txt", "n1\n");
        sb.write("api/secret.txt", "s1\n");
        // The builder is asked by the first build; the plan then follows it.
        let r = run(&sb, &["build"]);
        assert_eq!(r.code, 0, "{mode:?}: {r:?}");
        let before = tag_in(&build_args(&plan_json(&sb), "api"));
        sb.write("api/notes.txt", "n2\n");
        let notes = tag_in(&build_args(&plan_json(&sb), "api"));
        sb.write("api/secret.txt", "s2\n");
        let secret = tag_in(&build_args(&plan_json(&sb), "api"));
        match mode {
            // The legacy builder reads only api/.dockerignore: notes.txt is sent.
            Mode::NoBuildx => {
                assert_ne!(before, notes, "legacy: notes.txt is in the context");
                assert_eq!(notes, secret, "legacy: secret.txt is ignored");
            }
            // BuildKit reads build/api.Dockerfile.dockerignore instead.
            _ => {
                assert_eq!(before, notes, "buildkit: notes.txt is ignored");
                assert_ne!(notes, secret, "buildkit: secret.txt is in the context");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Issue 13 item 7: an ignore line Docker refuses is bad input

#[test]
fn invalid_line_of_the_dockerfile_specific_ignore_file_names_that_file() {
    let sb = sandbox_in(Mode::BuildxDocker);
    image_project(&sb, "127.0.0.1:9", "", "");
    sb.write("api/Dockerfile.dockerignore", "# keep\n!\n");
    let r = run(&sb, &["build"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("api/Dockerfile.dockerignore:2:"), "{r:?}");
}

#[test]
fn invalid_dockerignore_line_is_bad_input_naming_file_and_line() {
    // A lone `!`; an unclosed `[` (Go's filepath.Match syntax); a class Go's regexp refuses
    // (`[l-O]`, moby/patternmatcher compiles it lazily: moby issue 52203).
    for (ignore, line) in [
        ("src\n!\n", 2),
        ("# c\n\nok\n[abc\n", 4),
        ("a\n!b\n![Local-Only]/\n", 3),
    ] {
        let sb = Sandbox::new();
        image_project(&sb, "127.0.0.1:9", "", "");
        sb.write("api/.dockerignore", ignore);
        for cmd in [&["plan"][..], &["up"][..]] {
            let r = run(&sb, cmd);
            assert_eq!(r.code, 2, "{ignore:?} {cmd:?}: {r:?}");
            assert!(
                r.stderr.contains(&format!("api/.dockerignore:{line}:"))
                    && r.stderr.contains("help:"),
                "{ignore:?}: {r:?}"
            );
            // Nothing run: at most the read-only question which builder `docker build` uses.
            assert!(
                sb.calls().iter().all(|c| c.has(&["builder", "inspect"])),
                "{:?}",
                sb.calls()
            );
        }
    }
}

/// The files of `ctx` that reach an image built by the real `program` (+ env) with
/// `dockerfile`, whose Dockerfile is `FROM scratch` + `COPY . /ctx/`.
fn arrived_with(program: &str, env: &[(&str, &str)], ctx: &Path, dockerfile: &Path) -> Vec<String> {
    let image = format!(
        "devenv-test-ignore-{}-{}:t",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    );
    let o = Command::new(program)
        .args(["build", "-q", "-t", &image, "-f"])
        .arg(dockerfile)
        .arg(ctx)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{program} build: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let cid = String::from_utf8(
        Command::new(program)
            .args(["create", &image, "/none"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let export = Command::new(program)
        .args(["export", &cid])
        .output()
        .unwrap();
    let _ = Command::new(program).args(["rm", "-f", &cid]).output();
    let _ = Command::new(program).args(["rmi", "-f", &image]).output();
    paths_under_ctx(&export.stdout)
}

#[test]
#[ignore = "needs docker"]
fn real_docker_buildkit_reads_the_dockerfile_ignore_file_and_the_legacy_builder_does_not() {
    use devenv::images::{context_entries, ContextSemantics};
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(ctx.join("build")).unwrap();
    std::fs::write(ctx.join("a.txt"), "a").unwrap();
    std::fs::write(ctx.join("b.txt"), "b").unwrap();
    std::fs::write(ctx.join(".dockerignore"), "a.txt\n").unwrap();
    std::fs::write(
        ctx.join("build/api.Dockerfile"),
        "FROM scratch\nCOPY . /ctx/\n",
    )
    .unwrap();
    std::fs::write(ctx.join("build/api.Dockerfile.dockerignore"), "b.txt\n").unwrap();
    let df = ctx.join("build/api.Dockerfile");
    // The legacy builder of the 28.x client; BuildKit through Debian's 20.10 client (the
    // daemon's BuildKit: its Dockerfile frontend has read `<Dockerfile>.dockerignore` since
    // 2019, moby/buildkit 7ac4bf07 "dockerfile: add dockerignore override support").
    let cases = [
        (
            "/usr/local/bin/docker",
            ("DOCKER_BUILDKIT", "0"),
            ContextSemantics::Classic,
        ),
        (
            "/usr/bin/docker",
            ("DOCKER_BUILDKIT", "1"),
            ContextSemantics::BuildKit,
        ),
    ];
    for (program, env, semantics) in cases {
        assert!(Path::new(program).exists(), "{program} is not installed");
        let got = arrived_with(program, &[env], &ctx, &df);
        let predicted: Vec<String> = context_entries(&ctx, &df, semantics)
            .unwrap()
            .iter()
            .map(|e| e.path_lossy())
            .collect();
        for f in ["a.txt", "b.txt"] {
            assert_eq!(
                got.contains(&f.to_string()),
                predicted.contains(&f.to_string()),
                "{program} {semantics:?}: {f}: docker sent {got:?}, devenv predicts {predicted:?}"
            );
        }
        let a_sent = semantics == ContextSemantics::BuildKit;
        assert_eq!(
            got.contains(&"a.txt".to_string()),
            a_sent,
            "{program}: {got:?}"
        );
        assert_eq!(
            got.contains(&"b.txt".to_string()),
            !a_sent,
            "{program}: {got:?}"
        );
    }
}
