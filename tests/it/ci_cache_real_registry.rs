//! The `[ci_cache]` pull-through mirror, for real: Debian's `docker-registry` (distribution
//! 2.8, the code of k3d's `registry:2` image) run with the config devenv renders, in front of
//! the test registry at `$DEVENV_TEST_REGISTRY` (scripts/test.sh starts one on a free loopback port) as the upstream.
//!
//! Needs `dockerd`, `docker-registry` on PATH and that registry; run with
//! `cargo test --test it ci_cache_real_registry:: -- --ignored --nocapture` (the measured times
//! are printed).
//!
//! The upstream is reached through a [`Link`], a TCP relay the test can cut, because what
//! CI caching is about is the re-run: the mirror's storage folder is kept (here: copied, as
//! actions/cache restores it), a new mirror serves it, and the upstream is no longer asked.
//! The link is cut only once the new mirror is up: distribution cannot *start* a proxy whose
//! upstream does not answer (see `a_mirror_cannot_start_while_its_upstream_is_unreachable`).

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::support::{free_port, test_registry_addr};

/// The Accept header a registry client must send to get the manifest as pushed (see
/// reference/environment.md: without the schema2 type distribution converts to schema1).
const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// A repository name no other test (or earlier run) uses.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("devenv-test/mirror-{prefix}-{}-{nanos}", std::process::id())
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Build a small two-layer image `FROM scratch` (content unique to `seed`), push it to the
/// upstream as `repo:tag`, and return the digest Docker pushed.
fn push_image(repo: &str, tag: &str, seed: &str) -> String {
    let ctx = tempfile::tempdir().unwrap();
    fs::write(ctx.path().join("a.txt"), format!("layer one of {seed}\n")).unwrap();
    fs::write(ctx.path().join("b.txt"), format!("layer two of {seed}\n")).unwrap();
    fs::write(
        ctx.path().join("Dockerfile"),
        "FROM scratch\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\n",
    )
    .unwrap();
    let reference = format!("{}/{repo}:{tag}", test_registry_addr());
    docker(&[
        "build",
        "-q",
        "-t",
        &reference,
        &ctx.path().to_string_lossy(),
    ]);
    docker(&["push", &reference]);
    let digests = docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        &reference,
    ]);
    let _ = Command::new("docker")
        .args(["rmi", "-f", &reference])
        .output();
    let digests: Vec<String> = serde_json::from_str(digests.trim()).unwrap();
    let wanted = format!("{}/{repo}@", test_registry_addr());
    let found = digests.iter().find_map(|d| d.strip_prefix(&wanted));
    found
        .unwrap_or_else(|| panic!("no digest for {reference} in {digests:?}"))
        .to_string()
}

fn client() -> reqwest::Client {
    // A bound on every request: a mirror stuck on its upstream fails the test, not hangs it.
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// A TCP relay to the upstream that the test can cut: afterwards its port refuses
/// connections, as an upstream that went away does.
struct Link {
    port: u16,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<JoinHandle<()>>,
}

impl Link {
    fn to(target: String) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (stop2, conns2) = (stop.clone(), conns.clone());
        let thread = std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let mut list = conns2.lock().unwrap();
                list.push(client.try_clone().unwrap());
                list.push(server.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Write);
                    });
                }
            }
            // The listener is dropped here: the port now refuses connections.
        });
        Link {
            port,
            stop,
            conns,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stop accepting (the port refuses from now on) and break every open connection.
    fn cut(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes accept()
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.cut();
    }
}

/// `docker-registry serve` with the config devenv renders for a mirror.
struct Mirror {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Mirror {
    /// Start a mirror of `remote_url` keeping its data in `storage`; wait until it answers
    /// `/v2/`. `Err` carries its log when it exits first.
    async fn start(
        dir: &Path,
        storage: &Path,
        remote_url: &str,
    ) -> Result<(Mirror, Duration), String> {
        let addr = format!("127.0.0.1:{}", free_port());
        let config =
            devenv::mirror::render_mirror_config(remote_url, &storage.to_string_lossy(), &addr);
        let n = fs::read_dir(dir).unwrap().count();
        let config_path = dir.join(format!("mirror-{n}.yml"));
        let log = dir.join(format!("mirror-{n}.log"));
        fs::write(&config_path, config).unwrap();
        let out = fs::File::create(&log).unwrap();
        let started = Instant::now();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("docker-registry runs (apt-get install docker-registry)");
        let mut mirror = Mirror {
            child,
            base: format!("http://{addr}"),
            log,
        };
        let http = client();
        while started.elapsed() < Duration::from_secs(20) {
            if let Some(status) = mirror.child.try_wait().unwrap() {
                return Err(format!("exited ({status}):\n{}", mirror.log_text()));
            }
            if let Ok(r) = http.get(format!("{}/v2/", mirror.base)).send().await {
                if r.status().is_success() {
                    return Ok((mirror, started.elapsed()));
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "the mirror did not answer /v2/ within 20 s:\n{}",
            mirror.log_text()
        );
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A manifest as served: its bytes and `Docker-Content-Digest`.
struct Manifest {
    body: Vec<u8>,
    digest: String,
    media_type: String,
}

async fn get_manifest(base: &str, repo: &str, reference: &str) -> Result<Manifest, String> {
    let url = format!("{base}/v2/{repo}/manifests/{reference}");
    let r = client()
        .get(&url)
        .header("Accept", MANIFEST_ACCEPT)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!("GET {url}: {}", r.status()));
    }
    let header = |k: &str| {
        r.headers()
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (digest, media_type) = (header("Docker-Content-Digest"), header("Content-Type"));
    let body = r.bytes().await.map_err(|e| e.to_string())?.to_vec();
    Ok(Manifest {
        body,
        digest,
        media_type,
    })
}

/// `HEAD` of a tag, as containerd resolves a reference: the digest it names.
async fn head_manifest(base: &str, repo: &str, tag: &str) -> Result<String, String> {
    let url = format!("{base}/v2/{repo}/manifests/{tag}");
    let r = client()
        .head(&url)
        .header("Accept", MANIFEST_ACCEPT)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!("HEAD {url}: {}", r.status()));
    }
    Ok(r.headers()["Docker-Content-Digest"]
        .to_str()
        .unwrap()
        .to_string())
}

/// The config and layer digests (and sizes) a schema2 / OCI manifest names.
fn blobs_of(manifest: &[u8]) -> Vec<(String, u64)> {
    let v: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    let mut out = vec![(
        v["config"]["digest"].as_str().unwrap().to_string(),
        v["config"]["size"].as_u64().unwrap(),
    )];
    for l in v["layers"].as_array().unwrap() {
        out.push((
            l["digest"].as_str().unwrap().to_string(),
            l["size"].as_u64().unwrap(),
        ));
    }
    out
}

/// Fetch every blob through `base` and check each one's digest and size.
async fn check_blobs(base: &str, repo: &str, blobs: &[(String, u64)]) {
    for (digest, size) in blobs {
        let url = format!("{base}/v2/{repo}/blobs/{digest}");
        let r = client()
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert!(r.status().is_success(), "GET {url}: {}", r.status());
        let bytes = r.bytes().await.unwrap();
        assert_eq!(&sha256(&bytes), digest, "blob content through {base}");
        assert_eq!(bytes.len() as u64, *size);
    }
}

/// Where distribution's filesystem driver keeps a blob.
fn blob_path(storage: &Path, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap();
    storage.join(format!(
        "docker/registry/v2/blobs/sha256/{}/{hex}/data",
        &hex[..2]
    ))
}

/// The digest a tag points at in a mirror's storage.
fn stored_tag(storage: &Path, repo: &str, tag: &str) -> Option<String> {
    let link = storage.join(format!(
        "docker/registry/v2/repositories/{repo}/_manifests/tags/{tag}/current/link"
    ));
    fs::read_to_string(link).ok()
}

/// Wait for a condition on the file system (the proxy stores blobs in the background, after
/// it has streamed them to the client).
async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A copy of a folder tree (contents only, as actions/cache restores it with tar).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[tokio::test]
#[ignore = "needs docker"]
async fn a_restored_mirror_storage_serves_the_image_with_the_upstream_down() {
    let repo = unique("rerun");
    let pushed = push_image(&repo, "v1", &repo);
    let direct = get_manifest(&format!("http://{}", test_registry_addr()), &repo, "v1")
        .await
        .unwrap();
    assert_eq!(direct.digest, pushed);

    // First CI run: an empty cache, the upstream reachable.
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage");
    let mut link = Link::to(test_registry_addr());
    let (mirror, first_start) = Mirror::start(dir.path(), &storage, &link.url())
        .await
        .unwrap();
    let through = get_manifest(&mirror.base, &repo, "v1").await.unwrap();
    assert_eq!(
        through.body, direct.body,
        "the mirror serves the upstream's manifest bytes"
    );
    assert_eq!(through.digest, pushed);
    assert_eq!(sha256(&through.body), pushed);
    assert_eq!(
        through.media_type,
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    let blobs = blobs_of(&through.body);
    assert_eq!(blobs.len(), 3, "config and two layers");
    check_blobs(&mirror.base, &repo, &blobs).await;

    // What actions/cache keeps: the blobs, the manifest and the tag, all in the storage folder.
    wait_until(
        "the mirror to store the image",
        Duration::from_secs(15),
        || {
            blobs.iter().all(|(d, _)| blob_path(&storage, d).is_file())
                && blob_path(&storage, &pushed).is_file()
                && stored_tag(&storage, &repo, "v1").as_deref() == Some(pushed.as_str())
        },
    )
    .await;
    for (d, _) in &blobs {
        assert_eq!(sha256(&fs::read(blob_path(&storage, d)).unwrap()), *d);
    }
    mirror.stop();
    link.cut();

    // Next CI run: the folder restored elsewhere, a new mirror on it, then the upstream gone.
    let restored = dir.path().join("restored");
    copy_tree(&storage, &restored);
    let mut link = Link::to(test_registry_addr());
    let (mirror, second_start) = Mirror::start(dir.path(), &restored, &link.url())
        .await
        .unwrap();
    link.cut();

    let t = Instant::now();
    // containerd: HEAD the tag for its digest, then GET the manifest by digest, then blobs.
    let digest = head_manifest(&mirror.base, &repo, "v1")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", mirror.log_text()));
    assert_eq!(digest, pushed, "the tag falls back to the one stored");
    let by_digest = get_manifest(&mirror.base, &repo, &digest).await.unwrap();
    assert_eq!(by_digest.body, direct.body);
    let by_tag = get_manifest(&mirror.base, &repo, "v1").await.unwrap();
    assert_eq!(by_tag.digest, pushed);
    check_blobs(&mirror.base, &repo, &blobs).await;
    let served = t.elapsed();

    // And the upstream really is out of reach: what was never cached is not served.
    let missing = get_manifest(&mirror.base, &unique("never-pulled"), "v1").await;
    assert!(
        missing.is_err(),
        "an uncached image cannot come from a cut upstream"
    );

    eprintln!(
        "mirror start: {first_start:?} (empty), {second_start:?} (restored); \
         cached image served with the upstream down (HEAD tag, manifest by digest and by tag, {} blobs) in {served:?}",
        blobs.len()
    );
}

#[tokio::test]
#[ignore = "needs docker"]
async fn a_moved_tag_is_followed_while_the_upstream_answers() {
    let repo = unique("moved");
    let first = push_image(&repo, "v1", &format!("{repo} first"));
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage");
    let mut link = Link::to(test_registry_addr());
    let (mirror, _) = Mirror::start(dir.path(), &storage, &link.url())
        .await
        .unwrap();
    assert_eq!(
        get_manifest(&mirror.base, &repo, "v1")
            .await
            .unwrap()
            .digest,
        first
    );

    // The tag moves upstream: the mirror asks the upstream for tags, so it follows.
    let second = push_image(&repo, "v1", &format!("{repo} second"));
    assert_ne!(first, second);
    let now = get_manifest(&mirror.base, &repo, "v1").await.unwrap();
    assert_eq!(now.digest, second);
    check_blobs(&mirror.base, &repo, &blobs_of(&now.body)).await;

    // Cut off, it serves the last tag it saw, not the first.
    link.cut();
    assert_eq!(
        head_manifest(&mirror.base, &repo, "v1").await.unwrap(),
        second
    );
}

#[tokio::test]
#[ignore = "needs docker"]
async fn a_mirror_cannot_start_while_its_upstream_is_unreachable() {
    // distribution 2.8 (and 3.1) asks the upstream's /v2/ for its token realm while starting
    // a proxy (registry/proxy/proxyauth.go getAuthURLs) and panics when that fails. In k3d
    // the container is restarted until the upstream answers; containerd meanwhile pulls
    // from the upstream directly. So a cache helps when the upstream is slow, limited or
    // goes away during the run, not when it is unreachable from the start.
    let dir = tempfile::tempdir().unwrap();
    let closed = format!("http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let err = match Mirror::start(dir.path(), &dir.path().join("storage"), &closed).await {
        Ok(_) => panic!("the mirror started with its upstream unreachable: update the notes in templates/registry-mirror.yml"),
        Err(log) => log,
    };
    assert!(
        err.contains("panic:") && err.contains("connection refused"),
        "{err}"
    );
    eprintln!(
        "with the upstream unreachable the mirror exits after {:?}",
        started.elapsed()
    );
}

#[test]
fn the_relay_used_as_upstream_really_cuts() {
    // The offline checks above rely on a cut Link refusing connections.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = server.local_addr().unwrap().to_string();
    let echo = std::thread::spawn(move || {
        let (mut s, _) = server.accept().unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
    });
    let mut link = Link::to(target);
    let mut c = TcpStream::connect(("127.0.0.1", link.port)).unwrap();
    c.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    echo.join().unwrap();
    link.cut();
    assert!(TcpStream::connect(("127.0.0.1", link.port)).is_err());
}
