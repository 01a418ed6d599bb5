//! Images on real machines: which builder `docker build` uses (legacy, buildx with the
//! `docker` or the `docker-container` driver) and where its result lands, the ignore file
//! each builder reads, bad ignore lines, build args; kustomizations at the project root or
//! beside it. Issue 12 items 6, 10, 11 and "tests that can tell"; issue 13 items 4 and 7.

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

// ---------------------------------------------------------------------------------------
// Issue 12 item 6: the builder decides where the image lands

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

// ---------------------------------------------------------------------------------------
// Tests that can tell: build args reach `docker build` and the tag

#[test]
fn build_args_from_devenv_toml_reach_docker_build_and_the_tag() {
    let sb = Sandbox::new();
    image_project(&sb, "127.0.0.1:9", "build_args = { VERSION = \"1.4\" }", "");
    let a = build_args(&plan_json(&sb), "api");
    let i = a
        .iter()
        .position(|x| x == "--build-arg")
        .expect("--build-arg");
    assert_eq!(a[i + 1], "VERSION=1.4", "{a:?}");
    image_project(&sb, "127.0.0.1:9", "build_args = { VERSION = \"1.5\" }", "");
    let b = build_args(&plan_json(&sb), "api");
    assert!(b.contains(&"VERSION=1.5".to_string()), "{b:?}");
    assert_ne!(tag_in(&a), tag_in(&b), "a changed build arg keeps the tag");
}

// ---------------------------------------------------------------------------------------
// Issue 12 item 11: overlays wherever they are

/// Every file under `dir` (not .devenv, not .git) with its content.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let name = e.file_name();
            if name == ".devenv" || name == ".git" {
                continue;
            }
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_symlink() {
                out.push((
                    p.clone(),
                    std::fs::read_link(&p)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                ));
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn deployment(name: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: c\n        image: ghcr.io/example/api:1.0\n"
    )
}

#[test]
fn overlays_at_the_root_beside_and_through_symlinks_render_with_real_kustomize() {
    // One git repository: the project and an infra folder beside it (a monorepo).
    let sb = Sandbox::new();
    let repo = sb.root.path().to_path_buf();
    assert!(Command::new("git")
        .args(["init", "-q"])
        .current_dir(&repo)
        .status()
        .unwrap()
        .success());
    sb.write(
        "kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- root.yaml\n",
    );
    sb.write("root.yaml", &deployment("root"));
    let infra = repo.join("infra/overlays/dev");
    std::fs::create_dir_all(&infra).unwrap();
    std::fs::write(
        infra.join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- beside.yaml\n",
    )
    .unwrap();
    std::fs::write(infra.join("beside.yaml"), deployment("beside")).unwrap();
    // `deploy` → the infra overlay; `self` → the project root itself.
    std::os::unix::fs::symlink("../infra/overlays/dev", sb.path("deploy")).unwrap();
    std::os::unix::fs::symlink(".", sb.path("self")).unwrap();
    let overlays = [
        ("root", ".", "root"),
        ("beside", "../infra/overlays/dev", "beside"),
        ("linked", "deploy", "beside"),
        ("selflink", "self", "root"),
    ];
    let mut toml = String::from(
        "version = 1\n\n[project]\nname = \"roots\"\n\n[registry]\nprovider = \"external\"\n\
         address = \"127.0.0.1:9/team\"\n\n[verify]\nenabled = false\n\n[[images]]\nname = \"api\"\n\
         context = \"api\"\nstands_for = \"ghcr.io/example/api\"\n",
    );
    for (name, path, _) in &overlays {
        toml.push_str(&format!(
            "\n[[overlays]]\nname = \"{name}\"\npath = \"{path}\"\n"
        ));
    }
    sb.write("devenv.toml", &toml);
    sb.write("api/Dockerfile", "FROM scratch\n");
    let before = (tree(&sb.project), tree(&repo.join("infra")));

    let plan = plan_json(&sb);
    let kubectl = std::env::var("DEVENV_REAL_KUBECTL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "kubectl".into());
    for (name, _, object) in &overlays {
        let step = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == format!("render:{name}"))
            .unwrap_or_else(|| panic!("no render:{name}"));
        let args: Vec<String> = step["commands"][0]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        // Exactly what `up` runs, in the project folder, with the real kustomize.
        let o = Command::new(&kubectl)
            .args(&args)
            .current_dir(&sb.project)
            .env("HOME", &sb.home)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "overlay {name}: kubectl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(out.contains(&format!("name: {object}")), "{name}: {out}");
        assert!(
            out.contains("image: 127.0.0.1:9/team/api:dv-"),
            "{name}: the built image is not substituted:\n{out}"
        );
    }
    assert_eq!(
        before,
        (tree(&sb.project), tree(&repo.join("infra"))),
        "the team's files changed"
    );
}

// ---------------------------------------------------------------------------------------
// Issue 12 item 10: a corporate network (a proxy, a CA only the platform's store holds)

mod corporate {
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio_rustls::rustls;

    /// A test CA and a server certificate it signed for `localhost` and a name only the
    /// proxy can resolve.
    pub struct Pki {
        pub ca_pem: String,
        pub server: rustls::ServerConfig,
    }

    pub const HIDDEN_HOST: &str = "calico-mirror.devenv-test.invalid";

    pub fn pki() -> Pki {
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name.push(
            rcgen::DnType::CommonName,
            "devenv test TLS-inspecting proxy CA",
        );
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let leaf =
            rcgen::CertificateParams::new(vec!["localhost".into(), HIDDEN_HOST.into()]).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf_cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
        Pki {
            ca_pem: ca_cert.pem(),
            server,
        }
    }

    async fn read_head(s: &mut (impl AsyncReadExt + Unpin)) -> String {
        let mut buf = Vec::new();
        let mut b = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            if s.read(&mut b).await.unwrap_or(0) == 0 {
                break;
            }
            buf.push(b[0]);
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// An HTTPS server on 127.0.0.1 answering every GET with `body`.
    pub async fn https_server(config: rustls::ServerConfig, body: Vec<u8>) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let body = Arc::new(body);
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let body = body.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    read_head(&mut tls).await;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = tls.write_all(head.as_bytes()).await;
                    let _ = tls.write_all(&body).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        port
    }

    /// A CONNECT proxy on 127.0.0.1 that tunnels every target to 127.0.0.1:`to` (so a
    /// name only it "resolves" proves the proxy was used), or refuses with 403.
    pub async fn connect_proxy(to: u16, refuse: bool) -> (u16, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let log = log.clone();
                tokio::spawn(async move {
                    let head = read_head(&mut client).await;
                    let target = head
                        .lines()
                        .next()
                        .and_then(|l| l.strip_prefix("CONNECT "))
                        .and_then(|l| l.split_whitespace().next())
                        .unwrap_or("")
                        .to_string();
                    log.lock().unwrap().push(target);
                    if refuse {
                        let _ = client
                            .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                            .await;
                        return;
                    }
                    let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", to)).await else {
                        return;
                    };
                    let _ = client
                        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        .await;
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                });
            }
        });
        (port, seen)
    }
}

#[tokio::test]
async fn corporate_proxy_and_a_ca_only_the_platform_store_holds() {
    use devenv::calico::{ensure_manifests, manifest_files, ManifestSource};
    use devenv::http::http_client;
    use sha2::Digest;

    // This test owns its process's environment (nextest: one process per test).
    for v in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ] {
        std::env::remove_var(v);
    }
    let pki = corporate::pki();
    let body = b"kind: List\napiVersion: v1\nitems: []\n".to_vec();
    let sha = hex::encode(sha2::Sha256::digest(&body));
    let server = corporate::https_server(pki.server, body).await;
    let (proxy, seen) = corporate::connect_proxy(server, false).await;
    let work = tempfile::tempdir().unwrap();
    let ca = work.path().join("company-ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let version = "v3.99.0";
    let source = |host: &str| ManifestSource::Url {
        base_url: format!("https://{host}:{server}"),
        version: version.into(),
        sha256s: manifest_files(version)
            .iter()
            .map(|f| (f.to_string(), sha.clone()))
            .collect(),
    };
    let mut n = 0;
    let mut fetch = |host: &str| {
        n += 1;
        let cache = work.path().join(format!("cache{n}"));
        let src = source(host);
        async move {
            let client = http_client().unwrap();
            ensure_manifests(&src, &cache, &client)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    };

    // Through the proxy, with a certificate nothing this process trusts yet: the error
    // names the proxy, the certificate problem and where to put the CA.
    std::env::set_var("HTTPS_PROXY", format!("http://127.0.0.1:{proxy}"));
    let err = fetch(corporate::HIDDEN_HOST).await.unwrap_err();
    assert!(
        err.contains(&format!("through the proxy http://127.0.0.1:{proxy}"))
            && err.contains("HTTPS_PROXY")
            && err.contains("certificate")
            && err.contains("SSL_CERT_FILE"),
        "{err}"
    );
    assert_eq!(
        seen.lock().unwrap().last().map(String::as_str),
        Some(format!("{}:{server}", corporate::HIDDEN_HOST).as_str())
    );

    // The platform trust store holds the company CA (here: SSL_CERT_FILE): it works,
    // through the proxy (the host name only the proxy can reach proves it).
    std::env::set_var("SSL_CERT_FILE", &ca);
    fetch(corporate::HIDDEN_HOST)
        .await
        .expect("download through the proxy");

    // NO_PROXY: straight to the server, the proxy sees nothing.
    std::env::set_var("NO_PROXY", "localhost,.internal.example");
    let before = seen.lock().unwrap().len();
    fetch("localhost").await.expect("direct download");
    assert_eq!(seen.lock().unwrap().len(), before, "NO_PROXY was ignored");
    std::env::remove_var("NO_PROXY");

    // devenv's registry client never sends a loopback registry through the proxy (a
    // corporate proxy cannot reach this machine's 127.0.0.1), even without NO_PROXY.
    let reg = tokio::task::spawn_blocking(start_registry).await.unwrap();
    std::env::set_var("HTTP_PROXY", format!("http://127.0.0.1:{proxy}"));
    let client = devenv::images::RegistryClient::new(Default::default()).unwrap();
    let before = seen.lock().unwrap().len();
    let found = client.has_manifest(&reg.addr, "team/none", "dv-0").await;
    assert!(matches!(found, Ok(None)), "{found:?}");
    assert_eq!(
        seen.lock().unwrap().len(),
        before,
        "the registry went through the proxy"
    );
    std::env::remove_var("HTTP_PROXY");

    // A proxy that refuses: the error names it.
    let (refusing, _) = corporate::connect_proxy(server, true).await;
    std::env::set_var(
        "HTTPS_PROXY",
        format!("http://user:secret@127.0.0.1:{refusing}"),
    );
    let err = fetch(corporate::HIDDEN_HOST).await.unwrap_err();
    assert!(
        err.contains(&format!(
            "through the proxy http://user:***@127.0.0.1:{refusing}"
        )),
        "{err}"
    );
    assert!(
        !err.contains("secret"),
        "the proxy password is shown: {err}"
    );
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
