//! Images on real machines: which builder `docker build` uses (legacy, buildx with the
//! `docker` or the `docker-container` driver) and where its result lands, the ignore file
//! each builder reads, bad ignore lines, build args; kustomizations at the project root or
//! beside it. Issue 12 items 6, 10, 11 and "tests that can tell"; issue 13 items 4 and 7.

mod build_args;
mod builders;
mod corporate_network;
mod ignore_files;
mod overlay_paths;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{fakes_dir, paths_under_ctx, start_registry, Run, Sandbox};

// ---------------------------------------------------------------------------------------
// helpers

/// HTTP status of `HEAD /v2/REPO/manifests/TAG` on a plain-HTTP registry.
fn manifest_status(addr: &str, repo: &str, tag: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "HEAD /v2/{repo}/manifests/{tag} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn run(sb: &Sandbox, args: &[&str]) -> Run {
    Run::of(sb.devenv(args), Duration::from_secs(120))
}

/// A project with one image `api` pushed to an external registry `REGISTRY/team`.
fn image_project(sb: &Sandbox, registry: &str, extra_image_keys: &str, extra: &str) {
    sb.write(
        "devenv.toml",
        &format!(
            "version = 1\n\n[project]\nname = \"imgs\"\n\n[registry]\nprovider = \"external\"\n\
             address = \"{registry}/team\"\n\n[verify]\nenabled = false\n\n[[images]]\nname = \"api\"\n\
             context = \"api\"\n{extra_image_keys}\n{extra}"
        ),
    );
    sb.write("api/Dockerfile", "FROM scratch\nCOPY . /app/\n");
    sb.write("api/app.txt", "v1\n");
}

fn plan_json(sb: &Sandbox) -> serde_json::Value {
    let r = run(sb, &["plan", "-o", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    serde_json::from_str(&r.stdout).expect("plan json")
}

/// The argv of the `docker build` of image `name` in the plan.
fn build_args(plan: &serde_json::Value, name: &str) -> Vec<String> {
    let step = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == format!("image:{name}"))
        .unwrap_or_else(|| panic!("no image:{name} step in {plan:#}"));
    step["commands"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// The tag of the reference after `-t`.
fn tag_in(args: &[String]) -> String {
    let i = args.iter().position(|a| a == "-t").expect("-t");
    args[i + 1].rsplit_once(':').unwrap().1.to_string()
}

/// The fake docker as the sandbox runs it.
fn fake_docker(sb: &Sandbox, args: &[&str]) -> String {
    let o = sb
        .command(fakes_dir().join("docker"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Install the fake buildx plugin in the sandbox's `~/.docker/cli-plugins` (where
/// `apt install docker-buildx-plugin` or Docker Desktop put it for the CLI to find).
fn install_buildx(sb: &Sandbox) {
    let dir = sb.home.join(".docker/cli-plugins");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("docker-buildx"), "").unwrap();
}

/// How `docker build` builds on the machine a test plays.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Debian's docker.io: no buildx, the legacy builder (`--load` is an unknown flag).
    NoBuildx,
    /// buildx with the Docker context's own builder (driver `docker`).
    BuildxDocker,
    /// buildx with a `docker-container` builder chosen for `docker build`, as CI does after
    /// `docker buildx create --use` with `BUILDX_BUILDER` set.
    BuildxContainer,
}

fn sandbox_in(mode: Mode) -> Sandbox {
    let mut sb = Sandbox::new();
    if mode == Mode::BuildxContainer {
        sb = sb.env("BUILDX_BUILDER", "ci-builder");
    }
    if mode != Mode::NoBuildx {
        install_buildx(&sb);
    }
    if mode == Mode::BuildxContainer {
        fake_docker(
            &sb,
            &[
                "buildx",
                "create",
                "--name",
                "ci-builder",
                "--driver",
                "docker-container",
                "--use",
            ],
        );
    }
    sb
}
