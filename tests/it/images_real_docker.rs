//! devenv's image code against the real Docker and a real registry (distribution).
//!
//! Every test needs a running `dockerd` and, for the registry tests, a registry at
//! `$DEVENV_TEST_REGISTRY` (scripts/test.sh starts one on a free loopback port); run with
//! `cargo test --test it images_real_docker:: -- --ignored`. The basic-auth test starts its
//! own `docker-registry` with htpasswd auth on a free loopback port.
//!
//! The context tests are the proof of "exactly as Docker": for each tricky
//! `.dockerignore`, the image `FROM scratch` + `COPY . /ctx/` is built by the real
//! builder, exported, and the paths that arrived under `/ctx` are compared with what
//! devenv's walker says Docker sends.

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use devenv::images::context::{context_entries, ContextSemantics};
use devenv::images::registry::{RegistryClient, RegistryError, RegistryOptions};
use devenv::images::{docker_build_argv, docker_push_argv, fingerprint, BuildInputs, StatCache};

use crate::support::{docker_config, paths_under_ctx, start_auth_registry, test_registry_addr};

/// A name no other test (or earlier run) uses.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "devenv-test-{prefix}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000
    )
}

fn docker(args: &[&str]) -> String {
    docker_env(args, &[], "docker")
}

/// Runs a docker client; panics with its stderr on failure. (Tests may spawn directly.)
fn docker_env(args: &[&str], env: &[(&str, &str)], program: &str) -> String {
    let out = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("docker runs");
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Removes images and containers when a test ends, even on panic.
#[derive(Default)]
struct Cleanup {
    images: Vec<String>,
    containers: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = Command::new("docker").args(["rm", "-f", c]).output();
        }
        for i in &self.images {
            let _ = Command::new("docker").args(["rmi", "-f", i]).output();
        }
    }
}

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content).unwrap();
}

/// A context with the shapes that make `.dockerignore` tricky: nested and empty
/// directories, dot files, names with globs' special characters, a vendored tree.
fn tricky_tree(root: &Path) {
    for rel in [
        "README.md",
        "docs/README.md",
        "docs/guide.md",
        "docs/img/logo.png",
        "src/main.rs",
        "src/lib.rs",
        "src/test/fixture.txt",
        "src/deep/a/b/c.txt",
        "node_modules/left-pad/index.js",
        "node_modules/keep/me.js",
        "node_modules/keep/not-me.js",
        "web/node_modules/x/y.js",
        "build/out.o",
        "build/keep.txt",
        ".env",
        ".git/HEAD",
        "a.log",
        "logs/b.log",
        "logs/keep.log",
        "weird[1].txt",
        "weird1.txt",
        "star*.txt",
        "q?.txt",
        "v1.2/x",
        "Dockerfile.dev",
    ] {
        write(root, rel, rel);
    }
    fs::create_dir_all(root.join("empty/inner")).unwrap();
    std::os::unix::fs::symlink("src/main.rs", root.join("link-to-main")).unwrap();
}

/// `.dockerignore` files worth checking against the real builder.
const CASES: &[&str] = &[
    "",
    "node_modules\n*.log\n",
    "**/node_modules\n",
    "node_modules\n!node_modules/keep\n",
    "node_modules\n!node_modules/keep/me.js\n",
    "node_modules\n!**/me.js\n",
    "*\n!src\n!Dockerfile\n",
    "*\n!src/**/*.txt\n",
    "**\n!docs/*.md\n",
    "docs\n!docs/README.md\n",
    "docs/*\n!docs/img\n",
    "/build\n!build/keep.txt\n",
    "**/*.log\n!logs/keep.log\n",
    "# comment\n   \n  .git  \n./.env\n/src/../a.log\n",
    "weird\\[1\\].txt\nstar\\*.txt\nq\\?.txt\n",
    "weird[0-9].txt\n",
    "src/*\n!src/deep\nsrc/deep/a/b\n",
    "**/README.md\n",
    "*.md\n!README*.md\nREADME-secret.md\n",
    "v1.2\n",
    "empty\n",
    "Dockerfile\n.dockerignore\n",
    "**\n!Dockerfile\n!empty\n",
];

const DOCKERFILE: &str = "FROM scratch\nCOPY . /ctx/\n";

/// The paths under `/ctx` of the image built from `ctx` with `program` (+ env).
fn arrived(
    ctx: &Path,
    dockerfile: &Path,
    program: &str,
    env: &[(&str, &str)],
    cleanup: &mut Cleanup,
) -> BTreeSet<String> {
    let image = format!("{}:t", unique("ctx"));
    cleanup.images.push(image.clone());
    docker_env(
        &[
            "build",
            "-q",
            "-t",
            &image,
            "-f",
            dockerfile.to_str().unwrap(),
            ctx.to_str().unwrap(),
        ],
        env,
        program,
    );
    let cid = docker(&["create", &image, "/none"]).trim().to_string();
    cleanup.containers.push(cid.clone());
    let mut child = Command::new("docker")
        .args(["export", &cid])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut tar = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut tar).unwrap();
    assert!(child.wait().unwrap().success());
    paths_under_ctx(&tar).into_iter().collect()
}

/// What devenv says arrives: its entries plus the directories above them (the
/// builder creates parents of anything it copies).
fn predicted(ctx: &Path, dockerfile: &Path, semantics: ContextSemantics) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in context_entries(ctx, dockerfile, semantics).unwrap() {
        let p = e.path_lossy();
        let mut parent = Path::new(&p).parent();
        while let Some(d) = parent.filter(|d| !d.as_os_str().is_empty()) {
            out.insert(d.to_string_lossy().into_owned());
            parent = d.parent();
        }
        out.insert(p);
    }
    out
}

/// `subset_ok(case)`: the builder may send less than devenv predicts for this case
/// (never more: a file devenv does not hash must never reach the image).
fn check_cases(
    semantics: ContextSemantics,
    program: &str,
    env: &[(&str, &str)],
    subset_ok: fn(&str) -> bool,
) {
    let mut cleanup = Cleanup::default();
    let mut failures = Vec::new();
    for (k, ignore) in CASES.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path().join("ctx");
        tricky_tree(&ctx);
        write(&ctx, "Dockerfile", DOCKERFILE);
        if !ignore.is_empty() {
            write(&ctx, ".dockerignore", ignore);
        }
        let df = ctx.join("Dockerfile");
        let got = arrived(&ctx, &df, program, env, &mut cleanup);
        let want = predicted(&ctx, &df, semantics);
        let ok = got == want || (subset_ok(ignore) && got.is_subset(&want));
        if !ok {
            failures.push(format!(
                "case {k} {ignore:?}:\n  only in docker: {:?}\n  only in devenv: {:?}",
                got.difference(&want).collect::<Vec<_>>(),
                want.difference(&got).collect::<Vec<_>>()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
#[ignore = "needs docker"]
fn classic_builder_sends_exactly_what_devenv_hashes() {
    // The 28.x client without buildx (and DOCKER_BUILDKIT=0) uses the legacy builder.
    check_cases(
        ContextSemantics::Classic,
        "docker",
        &[("DOCKER_BUILDKIT", "0")],
        |_| false,
    );
}

#[test]
#[ignore = "needs docker"]
fn buildkit_sends_exactly_what_devenv_hashes() {
    // Debian's 20.10 client can drive the daemon's built-in BuildKit without buildx.
    assert!(
        Path::new("/usr/bin/docker").exists(),
        "no /usr/bin/docker (a client that runs BuildKit without buildx): install Debian's docker.io (scripts/test.sh does)"
    );
    // devenv follows current fsutil (buildx): an excluded directory is entered when an
    // exception has wildcards (`!**/me.js`). The 20.10 client vendors an older fsutil
    // that skips it, sending less. Exact everywhere else; a subset there (safe: a
    // fingerprint over more files can only cause a needless rebuild).
    let wildcard_exception = |case: &str| {
        case.lines()
            .filter_map(|l| l.trim().strip_prefix('!'))
            .any(|p| p.contains(['*', '?', '[']))
    };
    check_cases(
        ContextSemantics::BuildKit,
        "/usr/bin/docker",
        &[("DOCKER_BUILDKIT", "1")],
        wildcard_exception,
    );
}

#[test]
#[ignore = "needs docker"]
fn dockerfile_outside_the_context_and_excluded_dockerfile() {
    let mut cleanup = Cleanup::default();
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    tricky_tree(&ctx);
    write(&ctx, ".dockerignore", "sub\n!**/keep.txt\n");
    write(&ctx, "sub/Dockerfile", DOCKERFILE);
    write(&ctx, "sub/keep.txt", "k");
    write(&ctx, "sub/other.txt", "o");
    // Dockerfile inside an excluded directory: the CLI adds `!sub/Dockerfile`, which
    // makes it walk `sub`, where `!**/keep.txt` then re-includes keep.txt.
    let df = ctx.join("sub/Dockerfile");
    let got = arrived(
        &ctx,
        &df,
        "docker",
        &[("DOCKER_BUILDKIT", "0")],
        &mut cleanup,
    );
    assert_eq!(got, predicted(&ctx, &df, ContextSemantics::Classic));
    assert!(
        got.contains("sub/keep.txt") && !got.contains("sub/Dockerfile"),
        "{got:?}"
    );

    // Dockerfile outside the context.
    let outside = dir.path().join("docker/app.Dockerfile");
    write(dir.path(), "docker/app.Dockerfile", DOCKERFILE);
    let got = arrived(
        &ctx,
        &outside,
        "docker",
        &[("DOCKER_BUILDKIT", "0")],
        &mut cleanup,
    );
    let want = predicted(&ctx, &outside, ContextSemantics::Classic);
    // The legacy CLI ships an outside Dockerfile as `.dockerfile.<random>` in the context.
    let got: BTreeSet<String> = got
        .into_iter()
        .filter(|p| !p.starts_with(".dockerfile."))
        .collect();
    assert_eq!(got, want);
}

/// Builds a tiny image with devenv's argv helpers and returns (inputs, tag).
fn build_image(dir: &Path, reference_repo: &str, cleanup: &mut Cleanup) -> (BuildInputs, String) {
    let ctx = dir.join("ctx");
    fs::create_dir_all(&ctx).unwrap();
    fs::copy("/bin/busybox", ctx.join("busybox")).unwrap();
    write(&ctx, "hello.txt", &unique("content"));
    let df = dir.join("Dockerfile");
    fs::write(&df, "FROM scratch\nARG GREETING\nCOPY busybox /bin/busybox\nCOPY hello.txt /\nLABEL greeting=$GREETING\n").unwrap();
    let mut inputs = BuildInputs::new(&ctx, &df);
    inputs.build_args.insert("GREETING".into(), "hi".into());
    inputs.labels.insert("devenv.test".into(), "1".into());
    let tag = fingerprint(&inputs, &mut StatCache::new()).unwrap().tag();
    let reference = format!("{reference_repo}:{tag}");
    cleanup.images.push(reference.clone());
    let argv = docker_build_argv(&inputs, &reference);
    docker(&argv.iter().map(String::as_str).collect::<Vec<_>>());
    (inputs, tag)
}

fn repo_digest(reference: &str) -> String {
    let json = docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        reference,
    ]);
    let digests: Vec<String> = serde_json::from_str(json.trim()).unwrap();
    let repo = reference.rsplit_once(':').unwrap().0;
    let d = digests
        .iter()
        .find(|d| d.starts_with(&format!("{repo}@")))
        .unwrap_or_else(|| panic!("no RepoDigest for {repo} in {digests:?}"));
    d.split_once('@').unwrap().1.to_string()
}

#[tokio::test]
#[ignore = "needs docker"]
async fn push_then_registry_reports_the_same_digest() {
    let mut cleanup = Cleanup::default();
    let dir = tempfile::tempdir().unwrap();
    let reg = test_registry_addr();
    let repo = format!("{}/app", unique("push"));
    let (_, tag) = build_image(dir.path(), &format!("{reg}/{repo}"), &mut cleanup);
    let reference = format!("{reg}/{repo}:{tag}");

    let client = RegistryClient::new(RegistryOptions::default()).unwrap();
    assert_eq!(
        client.has_manifest(&reg, &repo, &tag).await.unwrap(),
        None,
        "not pushed yet"
    );
    docker(
        &docker_push_argv(&reference)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );

    let digest = client
        .has_manifest(&reg, &repo, &tag)
        .await
        .unwrap()
        .expect("pushed");
    assert_eq!(
        digest,
        repo_digest(&reference),
        "the registry must report docker's digest (schema2, not schema1)"
    );
    assert!(client.list_tags(&reg, &repo).await.unwrap().contains(&tag));
    assert!(client.catalog(&reg).await.unwrap().contains(&repo));
    assert_eq!(
        client
            .has_manifest(&reg, &repo, "dv-0000000000000000")
            .await
            .unwrap(),
        None
    );
    assert!(client
        .list_tags(&reg, &format!("{repo}-missing"))
        .await
        .unwrap()
        .is_empty());
}

const USER: &str = "devenv";
const PASSWORD: &str = "correct horse battery staple";
/// `htpasswd -nbB -C 5 devenv 'correct horse battery staple'`, computed once so the
/// test needs no htpasswd (apache2-utils) or bcrypt library.
const HTPASSWD: &str = "devenv:$2y$05$4ferBZxgtzBOElTYncfEz.JMkLxWxch2LVd8IEIj7xYRZvLuXBBj.\n";

#[tokio::test]
#[ignore = "needs docker"]
async fn basic_auth_registry_with_credentials_from_docker_config() {
    let reg = start_auth_registry(HTPASSWD.as_bytes(), false);
    let mut cleanup = Cleanup::default();
    let dir = tempfile::tempdir().unwrap();
    let repo = format!("{}/app", unique("auth"));
    let (_, tag) = build_image(dir.path(), &format!("{}/{repo}", reg.addr), &mut cleanup);
    let reference = format!("{}/{repo}:{tag}", reg.addr);

    // docker itself reads the same config to push
    let good = docker_config(dir.path(), &reg.addr, USER, PASSWORD);
    docker(&["--config", good.to_str().unwrap(), "push", &reference]);

    let with = |cfg: PathBuf| {
        RegistryClient::new(RegistryOptions {
            docker_config: Some(cfg.join("config.json")),
            ..RegistryOptions::default()
        })
        .unwrap()
    };
    let client = with(good);
    let digest = client
        .has_manifest(&reg.addr, &repo, &tag)
        .await
        .unwrap()
        .expect("pushed");
    assert_eq!(digest, repo_digest(&reference));
    assert!(client
        .list_tags(&reg.addr, &repo)
        .await
        .unwrap()
        .contains(&tag));

    // wrong password: refused, and neither the password nor its base64 is in the error
    let bad_dir = tempfile::tempdir().unwrap();
    let bad_password = "wrong-Pa55word-xyzzy";
    let bad = with(docker_config(bad_dir.path(), &reg.addr, USER, bad_password));
    let err = bad.has_manifest(&reg.addr, &repo, &tag).await.unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::Unauthorized {
                had_credentials: true,
                ..
            }
        ),
        "{err:?}"
    );
    let encoded =
        devenv::images::docker_config::base64_encode(format!("{USER}:{bad_password}").as_bytes());
    for shown in [err.to_string(), format!("{err:?}"), format!("{bad:?}")] {
        assert!(
            !shown.contains(bad_password) && !shown.contains(&encoded),
            "secret leaked: {shown}"
        );
    }

    // no credentials at all: refused, and the message says so
    let none_dir = tempfile::tempdir().unwrap();
    let none = with(none_dir.path().to_path_buf());
    let err = none.has_manifest(&reg.addr, &repo, &tag).await.unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::Unauthorized {
                had_credentials: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("no credentials"), "{err}");
}

#[tokio::test]
#[ignore = "needs docker"]
async fn unreachable_registry_is_a_quick_clear_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = RegistryClient::new(RegistryOptions::default()).unwrap();
    let started = Instant::now();
    let err = client
        .has_manifest(&format!("127.0.0.1:{port}"), "app", "dv-0")
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unreachable { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
