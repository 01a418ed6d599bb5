//! `devenv build` against a real external registry with basic auth (distribution's
//! `docker-registry` with an htpasswd file), credentials from a Docker config file only.
//!
//! Needs a running `dockerd`, `docker-registry` and `htpasswd` (apache2-utils); run with
//! `cargo test --test it external_registry:: -- --ignored`. Each test starts its own registry on
//! a free loopback port (127.0.0.0/8 is an insecure registry for Docker by default).
//!
//! The projects say `[cluster] provider = "existing"`, `context = "x"`, and no kubeconfig
//! has `x`: a build needs no cluster, so nothing may ask one (the preflight's
//! `kubectl --context x version` belongs to `up`/`apply`, not to `build`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{self, start_auth_registry, Registry};

const USER: &str = "teammate";
/// Distinctive, so that any leak into output or logs is found by a plain search.
const PASSWORD: &str = "s3cret-Pa55word-7f3a91";

/// A `docker-registry` with htpasswd auth; killed (and its images removed) on drop.
struct AuthRegistry {
    addr: String,
    images: Vec<String>,
    _registry: Registry,
}

impl Drop for AuthRegistry {
    fn drop(&mut self) {
        for image in &self.images {
            let _ = Command::new("docker").args(["rmi", "-f", image]).output();
        }
    }
}

fn start_registry() -> AuthRegistry {
    // bcrypt, as distribution requires.
    let htpasswd = Command::new("htpasswd")
        .args(["-Bbn", USER, PASSWORD])
        .output()
        .expect("htpasswd (apache2-utils) is installed");
    assert!(
        htpasswd.status.success(),
        "htpasswd: {}",
        String::from_utf8_lossy(&htpasswd.stderr)
    );
    let registry = start_auth_registry(&htpasswd.stdout, true);
    let reg = AuthRegistry {
        addr: registry.addr.clone(),
        images: Vec::new(),
        _registry: registry,
    };
    // Up when /v2/ answers 401 (it asks for the credentials): wait for that, not a fixed time.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, _) = curl(&reg, "/v2/", false);
        if code == 401 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the registry did not start on {} (last answer {code})",
            reg.addr
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    reg
}

/// `GET http://ADDR/PATH` with or without the credentials: (status, body).
fn curl(reg: &AuthRegistry, path: &str, auth: bool) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-o", "-", "-w", "\n%{http_code}"]);
    if auth {
        cmd.args(["-u", &format!("{USER}:{PASSWORD}")]);
    }
    let out = cmd
        .arg(format!("http://{}{path}", reg.addr))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// The Docker config folder with this test's credentials for `registry`.
fn docker_config(dir: &Path, registry: &str) -> PathBuf {
    support::docker_config(dir, registry, USER, PASSWORD)
}

/// A project with one image (`FROM scratch`, one file) for an existing cluster and the
/// external registry. `content` makes the image's inputs unique to the test.
fn project(dir: &Path, name: &str, registry: &str, content: &str) {
    fs::create_dir_all(dir.join("app")).unwrap();
    fs::write(
        dir.join("app/Dockerfile"),
        "FROM scratch\nCOPY hello.txt /hello.txt\n",
    )
    .unwrap();
    fs::write(dir.join("app/hello.txt"), content).unwrap();
    fs::write(
        dir.join("devenv.toml"),
        format!(
            "version = 1\n\n[project]\nname = \"{name}\"\n\n[cluster]\nprovider = \"existing\"\ncontext = \"x\"\n\n[registry]\nprovider = \"external\"\naddress = \"{registry}/team\"\n\n[[images]]\nname = \"app\"\ncontext = \"app\"\n"
        ),
    )
    .unwrap();
}

struct Run {
    output: Output,
    text: String,
    logs: String,
}

/// `devenv build` in `dir`, with only the test's Docker config and an empty kubeconfig
/// (the user's are never read): its output and every log it wrote.
fn devenv_build(dir: &Path, docker_config: &Path, home: &Path) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_devenv"))
        .arg("build")
        .current_dir(dir)
        .env("DOCKER_CONFIG", docker_config)
        .env("HOME", home)
        .env("KUBECONFIG", home.join("no-kubeconfig"))
        .env("NO_COLOR", "1")
        .env_remove("DEVENV_PROFILE")
        .stdin(Stdio::null())
        .output()
        .expect("devenv runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let mut logs = String::new();
    collect_files(&dir.join(".devenv"), &mut logs);
    Run { output, text, logs }
}

/// Every file under `dir` (logs, journal, rendered files), concatenated with its path.
fn collect_files(dir: &Path, out: &mut String) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let meta = fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            collect_files(&p, out);
        } else if meta.is_file() {
            out.push_str(&format!("\n== {}\n", p.display()));
            out.push_str(&String::from_utf8_lossy(&fs::read(&p).unwrap()));
        }
    }
}

fn assert_no_secret(run: &Run) {
    let b64 = devenv::images::docker_config::base64_encode(format!("{USER}:{PASSWORD}").as_bytes());
    for secret in [PASSWORD, b64.as_str()] {
        assert!(
            !run.text.contains(secret),
            "the password is in devenv's output:\n{}",
            run.text
        );
        assert!(
            !run.logs.contains(secret),
            "the password is in .devenv/:\n{}",
            run.logs
        );
    }
}

fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("hello from {} at {nanos}\n", std::process::id())
}

/// A build for an existing cluster needs no cluster: `devenv build` pushes with the
/// credentials of the Docker config (the registry client and `docker push` both read
/// `DOCKER_CONFIG`), never prints them, and a second project folder with the same image
/// inputs finds the content-addressed tag in the registry and builds nothing.
#[test]
#[ignore = "needs docker"]
fn build_pushes_with_docker_config_credentials_and_a_second_project_reuses_the_image() {
    let mut reg = start_registry();
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    fs::create_dir_all(&home).unwrap();
    let docker_cfg = docker_config(work.path(), &reg.addr);
    let content = unique();

    // Without credentials the registry refuses to list anything: the auth is real.
    assert_eq!(curl(&reg, "/v2/_catalog", false).0, 401);

    let first = work.path().join("team-a");
    project(&first, "team-a", &reg.addr, &content);
    let run = devenv_build(&first, &docker_cfg, &home);
    assert!(
        run.output.status.success(),
        "devenv build failed (exit {:?}); with provider = \"existing\" it must not need the cluster \
         (no `kubectl --context x version` in its preflight):\n{}\n{}",
        run.output.status.code(),
        run.text,
        run.logs
    );
    let (code, tags) = curl(&reg, "/v2/team/app/tags/list", true);
    assert_eq!(code, 200, "{tags}");
    let tags: serde_json::Value = serde_json::from_str(&tags).unwrap();
    let tag = tags["tags"][0]
        .as_str()
        .expect("one tag pushed")
        .to_string();
    assert_eq!(tags["tags"].as_array().unwrap().len(), 1, "{tags}");
    reg.images.push(format!("{}/team/app:{tag}", reg.addr));
    assert!(
        run.text.contains(&tag) || run.logs.contains(&tag),
        "the pushed tag {tag} is not reported"
    );
    // The manifest is really there (the client asks for schema 2, as devenv's does).
    let head = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-I",
            "-u",
            &format!("{USER}:{PASSWORD}"),
        ])
        .args([
            "-H",
            "Accept: application/vnd.docker.distribution.manifest.v2+json",
        ])
        .arg(format!("http://{}/v2/team/app/manifests/{tag}", reg.addr))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&head.stdout), "200");
    assert_no_secret(&run);
    // Nothing cluster-side ran: no k3d, no kubectl that talks to a cluster.
    for command in ["$ k3d ", "$ kubectl --context", "$ kubectl --kubeconfig"] {
        assert!(
            !run.logs.contains(command),
            "`{command}` ran for a build:\n{}",
            run.logs
        );
    }

    // A second folder, same image inputs: already in the registry, no docker build.
    let second = work.path().join("team-b");
    project(&second, "team-b", &reg.addr, &content);
    let run2 = devenv_build(&second, &docker_cfg, &home);
    assert!(run2.output.status.success(), "{}\n{}", run2.text, run2.logs);
    eprintln!("first build:\n{}\nsecond build:\n{}", run.text, run2.text);
    assert!(
        run2.text.contains("already in the registry"),
        "the reuse is not reported:\n{}",
        run2.text
    );
    for out in [&run2.text, &run2.logs] {
        assert!(
            !out.contains("docker build") && !out.contains("docker push"),
            "the second project built or pushed:\n{out}"
        );
    }
    assert_no_secret(&run2);
    let (_, tags2) = curl(&reg, "/v2/team/app/tags/list", true);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&tags2).unwrap()["tags"],
        serde_json::json!([tag])
    );
}

/// Wrong credentials: the push is refused, the error says so, and neither the wrong nor
/// the right password shows.
#[test]
#[ignore = "needs docker"]
fn wrong_credentials_fail_clearly_without_printing_them() {
    let reg = start_registry();
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    fs::create_dir_all(&home).unwrap();
    let wrong = "wrong-Pa55-c0ffee";
    let cfg = support::docker_config(work.path(), &reg.addr, USER, wrong);
    let dir = work.path().join("p");
    project(&dir, "p", &reg.addr, &unique());
    let run = devenv_build(&dir, &cfg, &home);
    assert!(
        !run.output.status.success(),
        "pushed with a wrong password?\n{}",
        run.text
    );
    assert_eq!(run.output.status.code(), Some(1), "{}", run.text);
    let lower = run.text.to_lowercase();
    assert!(
        lower.contains("unauthorized")
            || lower.contains("authentication required")
            || lower.contains("refused access"),
        "{}",
        run.text
    );
    let b64 = devenv::images::docker_config::base64_encode(format!("{USER}:{wrong}").as_bytes());
    for secret in [wrong, b64.as_str(), PASSWORD] {
        assert!(
            !run.text.contains(secret) && !run.logs.contains(secret),
            "a password leaked:\n{}\n{}",
            run.text,
            run.logs
        );
    }
    // Nothing reached the registry.
    assert_eq!(
        curl(&reg, "/v2/_catalog", true).1.trim(),
        r#"{"repositories":[]}"#
    );
}
