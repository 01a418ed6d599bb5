//! Issue 12, the cluster side: arm64 nodes and the verify probe, a multi-file KUBECONFIG,
//! a registry bound to another address, k3d's config and registry semantics in the fake,
//! and `verify` failing in the default suite (no real registry: the test serves the
//! registry API itself, see [`Registry`]).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    free_port, journal, json, probe_connect, Run, Sandbox, CALICO, GET_REGISTRY_HOSTING,
    PROBE_BAD_ARGUMENTS,
};

const PROBE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/probe");

// ---- a registry API in the test process --------------------------------------------------

/// The subset of the registry HTTP API v2 that the fake docker's push and devenv's registry
/// client use (`GET /v2/`, blob HEAD / upload, manifest PUT / HEAD / GET), in memory, on a
/// port the kernel picks on 127.0.0.1. The test starts it; it lives as long as the test.
struct Registry {
    port: u16,
    manifests: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

impl Registry {
    fn start() -> Registry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a registry port");
        let port = listener.local_addr().unwrap().port();
        let manifests: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
        let blobs: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
        let m = manifests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (m, blobs) = (m.clone(), blobs.clone());
                std::thread::spawn(move || serve_one(stream, &m, &blobs));
            }
        });
        Registry { port, manifests }
    }

    /// `REPO:TAG` of every manifest pushed.
    fn tags(&self) -> Vec<String> {
        self.manifests.lock().unwrap().keys().cloned().collect()
    }
}

fn serve_one(
    stream: std::net::TcpStream,
    manifests: &Mutex<BTreeMap<String, Vec<u8>>>,
    blobs: &Mutex<BTreeMap<String, Vec<u8>>>,
) {
    use sha2::Digest;
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut length = 0usize;
        let mut close = false;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap_or((h, ""));
            match k.to_ascii_lowercase().as_str() {
                "content-length" => length = v.trim().parse().unwrap_or(0),
                "connection" => close = v.trim().eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let digest = |b: &[u8]| format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)));
        let mut headers = vec![(
            "Docker-Distribution-API-Version".to_string(),
            "registry/2.0".to_string(),
        )];
        let (status, out): (&str, Vec<u8>) = if path == "/v2/" {
            ("200 OK", b"{}".to_vec())
        } else if let Some((repo, reference)) = path
            .strip_prefix("/v2/")
            .and_then(|p| p.rsplit_once("/manifests/"))
        {
            let key = format!("{repo}:{reference}");
            match method.as_str() {
                "PUT" => {
                    headers.push(("Docker-Content-Digest".into(), digest(&body)));
                    manifests.lock().unwrap().insert(key, body);
                    ("201 Created", vec![])
                }
                _ => match manifests.lock().unwrap().get(&key) {
                    Some(m) => {
                        headers.push(("Docker-Content-Digest".into(), digest(m)));
                        headers.push((
                            "Content-Type".into(),
                            "application/vnd.docker.distribution.manifest.v2+json".into(),
                        ));
                        ("200 OK", if method == "GET" { m.clone() } else { vec![] })
                    }
                    None => ("404 Not Found", vec![]),
                },
            }
        } else if path.contains("/blobs/uploads/") {
            match method.as_str() {
                "POST" => {
                    headers.push(("Location".into(), format!("{path}upload-1")));
                    ("202 Accepted", vec![])
                }
                _ => {
                    let d = query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix("digest="))
                        .unwrap_or("")
                        .replace("%3A", ":");
                    blobs.lock().unwrap().insert(d, body);
                    ("201 Created", vec![])
                }
            }
        } else if let Some((_, d)) = path.rsplit_once("/blobs/") {
            if blobs.lock().unwrap().contains_key(d) {
                ("200 OK", vec![])
            } else {
                ("404 Not Found", vec![])
            }
        } else {
            ("404 Not Found", vec![])
        };
        let mut resp = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", out.len());
        for (k, v) in headers {
            resp.push_str(&format!("{k}: {v}\r\n"));
        }
        resp.push_str("\r\n");
        let s = reader.get_mut();
        if s.write_all(resp.as_bytes()).is_err() || s.write_all(&out).is_err() {
            return;
        }
        if close {
            return;
        }
    }
}

// ---- projects -------------------------------------------------------------------------------

/// A port for the Kubernetes API that no other test takes: below the ephemeral range
/// (32768-60999), so no outgoing connection can hold it, and one per test (`n`).
fn api_port(n: u16) -> u16 {
    crate::support::reserved_port(crate::support::PortBlock::RealWorldCluster, n)
}

/// A project with no images or overlays, the Calico stand-in, verify on (the default), its
/// registry on the test's [`Registry`] (already created as k3d would, so devenv's registry
/// step finds it and the fake cluster pulls through it).
fn project(sb: &Sandbox, name: &str, n: u16, registry: &Registry) {
    sb.write(
        "devenv.toml",
        &format!(
            "version = 1\n\n[project]\nname = \"{name}\"\n\n[cluster]\napi_port = {api}\nagents = 1\n\n\
             [registry]\nport = {port}\n\n[calico]\nmanifests = \"{CALICO}\"\n",
            api = api_port(n),
            port = registry.port,
        ),
    );
    sb.k3d_ok(&[
        "registry",
        "create",
        &format!("{name}-registry"),
        "--port",
        &format!("127.0.0.1:{}", registry.port),
        "--no-help",
    ]);
    sb.clear_calls();
}

fn run(sb: &Sandbox, args: &[&str]) -> Run {
    Run::of(sb.devenv(args), Duration::from_secs(120))
}

#[track_caller]
fn ok(sb: &Sandbox, args: &[&str]) -> Run {
    let r = run(sb, args);
    assert_eq!(r.code, 0, "devenv {args:?}: {r:?}");
    r
}

fn nodes(sb: &Sandbox, name: &str) -> Value {
    let out = sb.kubectl_ok(&[
        "--kubeconfig",
        &sb.path(".devenv/kubeconfig").display().to_string(),
        "--context",
        &format!("k3d-{name}"),
        "get",
        "nodes",
        "-o",
        "json",
    ]);
    serde_json::from_str(&out).unwrap()
}

// ---- item 4: arm64 nodes --------------------------------------------------------------------

/// Apple Silicon and ARM runners: the nodes are arm64. `up` with verify on (the default)
/// passes, the probe pods run the arm64 program on arm64 nodes, and nothing else assumed
/// amd64. Failed before the fix: verify refused ("built for linux/amd64 only").
#[test]
fn arm64_nodes_pass_verify_with_the_arm64_probe() {
    let registry = Registry::start();
    let sb = Sandbox::new().env("DEVENV_FAKE_ARCH", "arm64");
    project(&sb, "arm", 0, &registry);
    let r = ok(&sb, &["up"]);
    for who in ["allowed", "denied"] {
        assert!(
            r.text
                .contains(&format!("ok   {who} client (devenv-probe={who})")),
            "{r:?}"
        );
    }
    assert_eq!(journal(&sb)["steps"]["verify"]["status"], "done");
    let n = nodes(&sb, "arm");
    for node in n["items"].as_array().unwrap() {
        assert_eq!(node["status"]["nodeInfo"]["architecture"], "arm64");
        assert_eq!(node["metadata"]["labels"]["kubernetes.io/arch"], "arm64");
    }
    for file in ["server.yaml", "clients.yaml"] {
        let yaml = sb.read(Path::new(".devenv/verify").join(file));
        assert!(
            yaml.contains("command: [\"/devenv-probe-arm64\"]"),
            "{file}:\n{yaml}"
        );
        assert!(
            yaml.contains("kubernetes.io/arch: arm64"),
            "{file}:\n{yaml}"
        );
    }
    // The one probe image holds both programs, and it is in the registry.
    let ctx = sb.path(".devenv/probe");
    for f in ["devenv-probe-amd64", "devenv-probe-arm64"] {
        assert!(
            ctx.join(f).is_file(),
            "{f} not in the probe's build context"
        );
    }
    assert!(
        registry
            .tags()
            .iter()
            .any(|t| t.starts_with("devenv-probe:")),
        "{:?}",
        registry.tags()
    );
}

/// The fake is strict about it: the amd64 program on arm64 nodes does not run (runc's
/// `exec format error`, exit 255: the server crash-loops and never gets Ready, so verify
/// would fail). Mixed clusters run the probe where most nodes are (nodeSelector).
#[test]
fn the_wrong_program_for_the_node_crashes_and_mixed_nodes_are_pinned() {
    let registry = Registry::start();
    let sb = Sandbox::new().env("DEVENV_FAKE_ARCH", "arm64,amd64,arm64");
    project(&sb, "mixed", 1, &registry);
    sb.write(
        "devenv.toml",
        &sb.read("devenv.toml")
            .replace("agents = 1", "agents = 2")
            .replace("[calico]", "[verify]\ntimeout = \"20s\"\n\n[calico]"),
    );
    let r = ok(&sb, &["up"]);
    assert!(r.text.contains("ok   denied client"), "{r:?}");
    let yaml = sb.read(".devenv/verify/clients.yaml");
    assert!(yaml.contains("kubernetes.io/arch: arm64"), "{yaml}");

    // The same pods by hand, with the amd64 program on the arm64 nodes: the server crashes
    // and never gets Ready (the kubelet's back-off), a client exits 255.
    let kubeconfig = sb.path(".devenv/kubeconfig").display().to_string();
    let wrong = sb.read(".devenv/verify/server.yaml").replace(
        "command: [\"/devenv-probe-arm64\"]",
        "command: [\"/devenv-probe-amd64\"]",
    );
    let ns = wrong
        .lines()
        .find_map(|l| l.trim().strip_prefix("name: devenv-verify-"))
        .map(|s| format!("devenv-verify-{s}"))
        .unwrap();
    sb.write("wrong.yaml", &wrong);
    sb.kubectl_ok(&[
        "--kubeconfig",
        &kubeconfig,
        "--context",
        "k3d-mixed",
        "apply",
        "-f",
        "wrong.yaml",
    ]);
    let pod: Value = serde_json::from_str(&sb.kubectl_ok(&[
        "--kubeconfig",
        &kubeconfig,
        "--context",
        "k3d-mixed",
        "-n",
        &ns,
        "get",
        "pod",
        "probe-server",
        "-o",
        "json",
    ]))
    .unwrap();
    let status = &pod["status"]["containerStatuses"][0];
    assert_eq!(
        status["state"]["waiting"]["reason"], "CrashLoopBackOff",
        "{pod:#}"
    );
    assert_eq!(
        status["lastState"]["terminated"]["exitCode"], 255,
        "{pod:#}"
    );
    assert_eq!(status["ready"], false);
    let node = pod["spec"]["nodeName"].as_str().unwrap().to_string();
    let n = nodes(&sb, "mixed");
    let arch = n["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["metadata"]["name"] == node.as_str())
        .map(|x| x["status"]["nodeInfo"]["architecture"].clone())
        .unwrap();
    assert_eq!(arch, "arm64", "scheduled on {node}");
}

/// The arm64 program really works: run under qemu-user (Debian's `qemu-user`; natively on
/// an arm64 machine), it serves, connects, reports a closed port and refuses bad
/// arguments exactly as the x86_64 one does. Failed before the fix: there was no such
/// program.
#[test]
fn the_aarch64_probe_runs_under_qemu_user() {
    let bin = Path::new(PROBE_DIR).join("devenv-probe-aarch64");
    let bytes = std::fs::read(&bin).expect("probe/devenv-probe-aarch64 is shipped");
    assert_eq!(&bytes[..4], b"\x7fELF");
    assert_eq!(
        u16::from_le_bytes([bytes[18], bytes[19]]),
        183,
        "EM_AARCH64"
    );
    let runner: Vec<String> = if cfg!(target_arch = "aarch64") {
        vec![]
    } else {
        let ok = Command::new("qemu-aarch64")
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "qemu-aarch64 is needed to run the arm64 probe here: apt-get install qemu-user (.ci/run installs it)"
        );
        vec!["qemu-aarch64".into()]
    };
    let cmd = |args: &[&str]| {
        let mut c = match runner.first() {
            Some(q) => {
                let mut c = Command::new(q);
                c.arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        c.args(args);
        c
    };
    let port = free_port();
    let mut server = cmd(&["serve", &port.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "listening\n");
    let connect = |port: u16, attempts: &str| probe_connect(cmd(&[]), port, attempts);
    assert_eq!(connect(port, "3"), (Some(0), "connected\n".to_string()));
    for _ in 0..5 {
        assert_eq!(connect(port, "1").1, "connected\n");
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let closed = free_port();
    let started = Instant::now();
    assert_eq!(
        connect(closed, "2"),
        (Some(0), "no-connection\n".to_string())
    );
    // Two attempts, a 1 s pause between them.
    assert!(started.elapsed() >= Duration::from_millis(900));
    for bad in PROBE_BAD_ARGUMENTS {
        let out = cmd(bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).starts_with("usage: devenv-probe"),
            "{bad:?}"
        );
    }
}

// ---- verify's failure path in the default suite ---------------------------------------------

/// `verify` that never fails would pass every other test: here the simulated CNI ignores
/// NetworkPolicy (as flannel does) and verify must fail, name the client that got in and
/// clean up, with no registry but the test's own.
#[test]
fn verify_fails_when_policies_are_not_enforced() {
    let registry = Registry::start();
    let sb = Sandbox::new();
    project(&sb, "vopen", 2, &registry);
    ok(&sb, &["up", "--no-verify"]);
    std::fs::write(
        sb.state.join("probe.json"),
        json!({"enforce": false}).to_string(),
    )
    .unwrap();
    let r = run(&sb, &["verify"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.text.contains(
            "FAIL denied client (devenv-probe=denied) connected although the policy denies it"
        ),
        "{r:?}"
    );
    assert_eq!(journal(&sb)["steps"]["verify"]["status"], "failed");
    std::fs::write(sb.state.join("probe.json"), "{}").unwrap();
    ok(&sb, &["verify"]);
    assert_eq!(journal(&sb)["steps"]["verify"]["status"], "done");
}

// ---- item 5: a KUBECONFIG of several files --------------------------------------------------

/// A project with verify off (nothing to pull) on two ports of test `n`.
fn plain_project(sb: &Sandbox, name: &str, n: u16, extra: &str) {
    sb.write(
        "devenv.toml",
        &format!(
            "version = 1\n\n[project]\nname = \"{name}\"\n\n[cluster]\napi_port = {api}\nagents = 1\n{extra}\n\
             [registry]\nport = {port}\n\n[calico]\nmanifests = \"{CALICO}\"\n\n[verify]\nenabled = false\n",
            api = api_port(n),
            port = api_port(n + 50),
        ),
    );
}

const WORK: &str = "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://work.example:6443\n  name: work\ncontexts:\n- context:\n    cluster: work\n    user: me\n  name: work\ncurrent-context: work\npreferences: {}\nusers:\n- name: me\n  user:\n    token: s3cret\n";

/// `KUBECONFIG=~/.kube/config:~/.kube/work` with `merge_kubeconfig = true`: k3d's
/// `kubeconfig merge -d` refuses several files, so `up` failed after creating the cluster.
/// Now the context goes into the first file (where kubectl writes a new context), whose
/// mode is kept; the other file is untouched byte for byte. Failed before the fix.
#[test]
fn a_kubeconfig_of_two_files_gets_the_context_in_the_first() {
    use std::os::unix::fs::PermissionsExt;
    let sb0 = Sandbox::new();
    let first = sb0.home.join(".kube/config");
    let second = sb0.home.join(".kube/work");
    std::fs::create_dir_all(first.parent().unwrap()).unwrap();
    // (k3d sets current-context in the file it merges into when that file has none,
    // pkg/client/kubeconfig.go KubeconfigMerge: this one has one.)
    std::fs::write(&first, WORK.replace("work", "home")).unwrap();
    std::fs::set_permissions(&first, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::write(&second, WORK).unwrap();
    std::fs::set_permissions(&second, std::fs::Permissions::from_mode(0o600)).unwrap();
    let list = format!("{}:{}", first.display(), second.display());
    let sb = sb0.env("KUBECONFIG", &list);
    plain_project(
        &sb,
        "twofiles",
        3,
        "merge_kubeconfig = true\nswitch_context = false\n",
    );
    let second_before = std::fs::read(&second).unwrap();
    let r = ok(&sb, &["up"]);
    let text = std::fs::read_to_string(&first).unwrap();
    assert!(text.contains("name: k3d-twofiles"), "{r:?}\n{text}");
    assert_eq!(
        std::fs::metadata(&first).unwrap().permissions().mode() & 0o777,
        0o640,
        "the mode of the first file changed"
    );
    assert_eq!(
        std::fs::read(&second).unwrap(),
        second_before,
        "the second file changed"
    );
    assert_eq!(
        std::fs::metadata(&second).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // kubectl, reading both files, finds the context; the current one is still `home`.
    let contexts = sb.kubectl_ok(&["config", "get-contexts", "-o", "name"]);
    for name in ["k3d-twofiles", "home", "work"] {
        assert!(contexts.lines().any(|l| l == name), "{name}: {contexts}");
    }
    assert_eq!(sb.kubectl_ok(&["config", "current-context"]).trim(), "home");
    let merges: Vec<String> = sb
        .calls()
        .into_iter()
        .filter(|c| c.tool == "k3d" && c.has(&["kubeconfig", "merge"]))
        .map(|c| c.line())
        .collect();
    assert!(
        merges.iter().any(|l| l.ends_with(&format!(
            "--output {} --kubeconfig-switch-context=false",
            first.display()
        ))),
        "{merges:#?}"
    );

    // `down`: k3d removes the context from that file too (k3d alone would only warn that
    // KUBECONFIG has several files); the other file is still untouched.
    ok(&sb, &["down"]);
    let text = std::fs::read_to_string(&first).unwrap();
    assert!(!text.contains("k3d-twofiles"), "{text}");
    assert!(text.contains("name: home"), "{text}");
    assert_eq!(
        std::fs::metadata(&first).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert_eq!(std::fs::read(&second).unwrap(), second_before);
}

/// Issue 13 item 9: a KUBECONFIG of two files is checked by preflight, before the cluster
/// exists: a file in the list that is not a kubeconfig stops `up` with the file named and
/// nothing created. Failed before: the cluster was created, then the merge failed.
#[test]
fn a_broken_file_in_a_two_file_kubeconfig_stops_up_before_the_cluster() {
    let sb0 = Sandbox::new();
    let first = sb0.home.join(".kube/config");
    let second = sb0.home.join(".kube/broken");
    std::fs::create_dir_all(first.parent().unwrap()).unwrap();
    std::fs::write(&first, WORK).unwrap();
    std::fs::write(&second, "clusters: [\n  - {name: x\n").unwrap();
    let sb = sb0.env(
        "KUBECONFIG",
        &format!("{}:{}", first.display(), second.display()),
    );
    plain_project(&sb, "brokenkc", 4, "merge_kubeconfig = true\n");
    let r = run(&sb, &["up"]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.text.contains(&second.display().to_string()), "{r:?}");
    assert!(
        !sb.calls()
            .iter()
            .any(|c| c.tool == "k3d" && c.has(&["cluster", "create"])),
        "the cluster was created before the kubeconfig was checked: {r:?}"
    );
    assert_eq!(std::fs::read_to_string(&first).unwrap(), WORK);
    // `doctor` says the same.
    let r = run(&sb, &["doctor"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.text.contains(&second.display().to_string()), "{r:?}");
}

// ---- item 8: a registry bound to another address ---------------------------------------------

/// `registry.bind` set to an address of this machine other than 127.0.0.1 (here 127.0.0.2,
/// which the tests can bind, standing in for a LAN address like 192.168.1.10): k3d's
/// KEP-1755 ConfigMap advertises that address (RegistryFromNode keeps only the binding),
/// and `status` accepts exactly what k3d writes. Failed before the fix: status reported
/// the ConfigMap as wrong ("but devenv pushes to localhost:PORT").
#[test]
fn status_accepts_the_registry_hosting_k3d_writes_for_a_bound_address() {
    let sb = Sandbox::new();
    plain_project(&sb, "lanreg", 5, "");
    let port = api_port(55);
    sb.write(
        "devenv.toml",
        &sb.read("devenv.toml").replace(
            &format!("port = {port}\n"),
            &format!("port = {port}\nbind = \"127.0.0.2\"\n"),
        ),
    );
    ok(&sb, &["up"]);
    let kubeconfig = sb.path(".devenv/kubeconfig").display().to_string();
    let mut args = vec!["--kubeconfig", &kubeconfig, "--context", "k3d-lanreg"];
    args.extend(GET_REGISTRY_HOSTING);
    let cm: Value = serde_json::from_str(&sb.kubectl_ok(&args)).unwrap();
    let data = cm["data"]["localRegistryHosting.v1"].as_str().unwrap();
    assert!(
        data.contains(&format!("host: 127.0.0.2:{port}\n")),
        "{data}"
    );
    assert!(
        data.contains("hostFromClusterNetwork: k3d-lanreg-registry:5000\n"),
        "{data}"
    );
    let r = ok(&sb, &["status"]);
    assert!(
        r.text.contains(&format!("advertises 127.0.0.2:{port}")),
        "{r:?}"
    );
    assert!(!r.text.contains("but the registry"), "{r:?}");
}

// ---- the fake k3d is as strict as k3d --------------------------------------------------------

/// The whole config is validated against k3d's own v1alpha5 schema, with gojsonschema's
/// messages: a misspelt key deep inside (`nodeFilter` for `nodeFilters`) is refused as k3d
/// refuses it, where the fake used to check the top-level keys only.
#[test]
fn the_fake_k3d_validates_the_whole_config_against_k3ds_schema() {
    let sb = Sandbox::new();
    let config = "apiVersion: k3d.io/v1alpha5\nkind: Simple\nmetadata:\n  name: strict\nservers: 1\n\
                  options:\n  k3s:\n    extraArgs:\n      - arg: --disable-network-policy\n        nodeFilter:\n          - server:*\n";
    sb.write("k3d.yaml", config);
    let o = sb.k3d(&["cluster", "create", "--config", "k3d.yaml"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Schema Validation failed for config file k3d.yaml: - options.k3s.extraArgs.0: Additional property nodeFilter is not allowed"),
        "{err}"
    );
    sb.write("k3d.yaml", &config.replace("servers: 1", "servers: \"1\""));
    let err = String::from_utf8_lossy(
        &sb.k3d(&["cluster", "create", "--config", "k3d.yaml"])
            .stderr,
    )
    .into_owned();
    assert!(
        err.contains("- servers: Invalid type. Expected: number, given: string"),
        "{err}"
    );
    // The config devenv generates passes it (and creates the cluster).
    let registry = Registry::start();
    project(&sb, "strict", 6, &registry);
    ok(&sb, &["up", "--no-verify"]);
}

/// `registries.config` is read as k3d reads it (sigs.k8s.io/yaml into rancher/wharfie's
/// Registry): a mirror whose `endpoint` is a string, not a list, stops `cluster create`;
/// and `localhost:PORT/IMAGE` is pullable only through a mirror that maps it to one of the
/// cluster's registries: with the key misspelt (`endpoints`, ignored as encoding/json
/// ignores unknown keys) the pod stays in ImagePullBackOff.
#[test]
fn local_images_pull_only_through_a_registry_mirror_that_maps_them() {
    let registry = Registry::start();
    let sb = Sandbox::new();
    project(&sb, "mirror", 7, &registry);
    ok(&sb, &["up", "--no-verify"]);
    let kubeconfig = sb.path(".devenv/kubeconfig").display().to_string();
    let pod_state = |name: &str| -> Value {
        sb.write(
            format!("{name}.yaml"),
            &format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  containers:\n  - name: c\n    image: localhost:{}/app:1\n",
                registry.port
            ),
        );
        let k = |args: &[&str]| {
            let mut v = vec![
                "--kubeconfig",
                kubeconfig.as_str(),
                "--context",
                "k3d-mirror",
            ];
            v.extend(args);
            sb.kubectl_ok(&v)
        };
        k(&["apply", "-f", &format!("{name}.yaml")]);
        let pod: Value = serde_json::from_str(&k(&["get", "pod", name, "-o", "json"])).unwrap();
        pod["status"]["containerStatuses"][0]["state"].clone()
    };
    assert!(pod_state("through-mirror").get("running").is_some());

    // The same cluster with the mirror's key misspelt in its registries.yaml.
    let state_file = sb.state.join("state.json");
    let mut world: Value =
        serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap()).unwrap();
    let cfg = world["clusters"]["mirror"]["registries_config"]
        .as_str()
        .expect("the cluster has devenv's registries.config")
        .to_string();
    assert!(
        cfg.contains(&format!("\"localhost:{}\"", registry.port)),
        "{cfg}"
    );
    world["clusters"]["mirror"]["registries_config"] =
        json!(cfg.replace("endpoint:", "endpoints:"));
    std::fs::write(&state_file, world.to_string()).unwrap();
    assert_eq!(
        pod_state("no-mirror")["waiting"]["reason"],
        "ImagePullBackOff"
    );

    // A mirror whose endpoint is not a list: k3d refuses the config.
    sb.write(
        "bad.yaml",
        "apiVersion: k3d.io/v1alpha5\nkind: Simple\nmetadata:\n  name: badmirror\nregistries:\n  config: |\n    mirrors:\n      \"localhost:5000\":\n        endpoint: http://k3d-r:5000\n",
    );
    let o = sb.k3d(&["cluster", "create", "--config", "bad.yaml"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("failed to read embedded registries config: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string into Go struct field Mirror.mirrors.endpoint of type []string"),
        "{err}"
    );
}

// ---- k3s's own flannel and policy controller --------------------------------------------------

/// devenv's k3d config turns off k3s's flannel and its NetworkPolicy controller so that
/// Calico alone is the CNI and the policy engine. The fake's nodes show the servers' real
/// command line (`k3s.io/node-args`); a cluster made without `--disable-network-policy`
/// (or with flannel) fails verify, which says why, whatever the probe would have seen.
#[test]
fn verify_fails_when_k3s_runs_its_own_policy_controller_or_flannel() {
    let registry = Registry::start();
    let sb = Sandbox::new();
    project(&sb, "npc", 8, &registry);
    ok(&sb, &["up", "--no-verify"]);
    let state_file = sb.state.join("state.json");
    let edit = |drop: &str| {
        let mut world: Value =
            serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap()).unwrap();
        for args in world["clusters"]["npc"]["node_args"]
            .as_object_mut()
            .unwrap()
            .values_mut()
        {
            args.as_array_mut().unwrap().retain(|a| a != drop);
        }
        std::fs::write(&state_file, world.to_string()).unwrap();
    };
    edit("--disable-network-policy");
    let r = run(&sb, &["verify"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.text.contains(
            "k3s on k3d-npc-server-0 runs its own NetworkPolicy controller beside Calico (no --disable-network-policy)"
        ),
        "{r:?}"
    );
    edit("--flannel-backend=none");
    let r = run(&sb, &["verify"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.text.contains(
            "k3s on k3d-npc-server-0 runs flannel beside Calico (no --flannel-backend=none)"
        ),
        "{r:?}"
    );
}
