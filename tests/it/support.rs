//! Shared harness for devenv's integration tests (`crate::support`): a sandbox with a temp
//! project, a temp HOME, the fake `k3d`/`kubectl` first on PATH (real docker hidden unless
//! asked), the fakes' call log and fault injection.
//!
//! ```ignore
//! let sb = Sandbox::new();
//! sb.write("devenv.toml", "...");
//! sb.devenv(["up"]).assert().success();
//! assert!(sb.mutating_calls().is_empty());
//! ```

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

pub use serde_json::json;

pub mod capture;
pub mod fake_cluster;
pub mod helm;
pub mod process;

/// One recorded invocation of a fake.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub tool: String,
    pub argv: Vec<String>,
    pub cwd: String,
    pub kubeconfig_env: Option<String>,
    pub log_colors: Option<String>,
}

impl Call {
    /// `k3d cluster create --config x` as one line (for assertions and messages).
    pub fn line(&self) -> String {
        std::iter::once(self.tool.as_str())
            .chain(self.argv.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The argv contains these words in this order (not necessarily adjacent).
    pub fn has(&self, words: &[&str]) -> bool {
        let mut it = self.argv.iter();
        words.iter().all(|w| it.any(|a| a == w))
    }

    /// Whether the call changes the world (clusters, registries, objects, kubeconfigs).
    pub fn is_mutating(&self) -> bool {
        let words: Vec<&str> = self
            .argv
            .iter()
            .map(String::as_str)
            .filter(|a| !a.starts_with('-'))
            .collect();
        match self.tool.as_str() {
            "k3d" => {
                let verb = |group: &str, verbs: &[&str]| {
                    words.first() == Some(&group) && words.get(1).is_some_and(|v| verbs.contains(v))
                };
                verb(
                    "cluster",
                    &["create", "delete", "del", "rm", "start", "stop", "edit"],
                ) || verb("registry", &["create", "delete", "del", "rm"])
                    || verb(
                        "node",
                        &["create", "delete", "del", "rm", "start", "stop", "edit"],
                    )
                    || verb("kubeconfig", &["merge", "write"])
                    || verb("image", &["import", "load"])
            }
            "kubectl" => {
                let mutating = [
                    "apply", "delete", "create", "patch", "replace", "label", "annotate", "scale",
                    "set", "edit", "taint", "cordon", "drain",
                ];
                let dry = self
                    .argv
                    .iter()
                    .any(|a| a.starts_with("--dry-run") && a != "--dry-run=none");
                (!dry
                    && words.iter().any(|w| mutating.contains(w))
                    && !words.contains(&"kustomize"))
                    || (words.contains(&"rollout")
                        && words
                            .iter()
                            .any(|w| ["restart", "undo", "pause", "resume"].contains(w)))
                    || (words.first() == Some(&"config")
                        && words.get(1).is_some_and(|v| {
                            v.starts_with("use")
                                || v.starts_with("set")
                                || v.starts_with("delete")
                                || v.starts_with("rename")
                        }))
            }
            _ => false,
        }
    }
}

fn newest_mtime(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(m) = e.metadata().and_then(|m| m.modified()) {
                newest = newest.max(m);
            }
        }
    }
    newest
}

fn mtime(p: &Path) -> Option<SystemTime> {
    fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Directory holding the built fake `k3d` and `kubectl`. Built once per source change; a
/// file lock serializes concurrent test processes (nextest runs one per test). A separate
/// target directory keeps this build off the lock of the outer `cargo test`.
pub fn fakes_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let target = std::env::var_os("DEVENV_FAKES_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                // .../target/debug/devenv → .../target/devenv-fakes
                PathBuf::from(env!("CARGO_BIN_EXE_devenv"))
                    .parent()
                    .and_then(Path::parent)
                    .unwrap_or(&root.join("target"))
                    .join("devenv-fakes")
            });
        let bin = target.join("debug");
        let fresh = || {
            let src = newest_mtime(&root.join("fakes"))
                .max(mtime(&root.join("Cargo.lock")).unwrap_or(SystemTime::UNIX_EPOCH));
            ["k3d", "kubectl", "docker"]
                .iter()
                .all(|b| mtime(&bin.join(b)).is_some_and(|m| m >= src))
        };
        if fresh() {
            return bin;
        }
        fs::create_dir_all(&target).expect("create fakes target dir");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(target.join("build.lock"))
            .expect("open build lock");
        lock.lock().expect("lock fakes build");
        if !fresh() {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
            let out = Command::new(cargo)
                .args(["build", "-p", "devenv-fakes", "--bins", "--quiet"])
                .env("CARGO_TARGET_DIR", &target)
                .current_dir(&root)
                .output()
                .expect("run cargo build for the fakes");
            assert!(
                out.status.success(),
                "building the fakes failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            // cargo keeps the old mtime when nothing was rebuilt; touch so the check stays cheap
            for b in ["k3d", "kubectl", "docker"] {
                let f = fs::File::options()
                    .append(true)
                    .open(bin.join(b))
                    .expect("fake binary");
                f.set_modified(SystemTime::now())
                    .expect("touch fake binary");
            }
        }
        bin
    })
    .clone()
}

/// PATH directories with the programs `hidden` names replaced by mirrors without them
/// (shared, built once per set of hidden names): the real docker unless a test asks for it,
/// and always the real helm (scripts/test.sh puts one on PATH; a test that wants helm puts
/// its own first, support::helm::with_helm_log), so the outcome of a test does not depend on
/// what the machine has installed.
fn path_hiding(target: &Path, hide_docker: bool) -> Vec<PathBuf> {
    let hidden = |name: &str| name == "helm" || (hide_docker && name.starts_with("docker"));
    let tag = if hide_docker {
        "nodocker-nohelm"
    } else {
        "nohelm"
    };
    let mut out = Vec::new();
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let hides = fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| hidden(&e.file_name().to_string_lossy()));
        if !hides {
            out.push(dir);
            continue;
        }
        let mirror = target.join(tag).join(
            dir.to_string_lossy()
                .trim_start_matches('/')
                .replace('/', "_"),
        );
        if !mirror.join(".done").exists() {
            static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let tmp = mirror.with_extension(format!("tmp{}-{n}", std::process::id()));
            fs::create_dir_all(&tmp).expect("mirror dir");
            for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
                let name = e.file_name();
                if !hidden(&name.to_string_lossy()) {
                    let _ = std::os::unix::fs::symlink(e.path(), tmp.join(&name));
                }
            }
            fs::write(tmp.join(".done"), "").expect("mirror marker");
            if fs::rename(&tmp, &mirror).is_err() {
                let _ = fs::remove_dir_all(&tmp); // another process won the race
            }
        }
        out.push(mirror);
    }
    out
}

pub struct Sandbox {
    /// Holds the temp directory alive; everything below lives in it.
    pub root: tempfile::TempDir,
    /// The project directory (current directory of devenv).
    pub project: PathBuf,
    pub home: PathBuf,
    /// `$DEVENV_FAKE_STATE`: state.json, calls.jsonl, faults.json, pushed.json.
    pub state: PathBuf,
    env: Vec<(String, String)>,
    docker: bool,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let root = tempfile::Builder::new()
            .prefix("devenv-test-")
            .tempdir()
            .expect("tempdir");
        let project = root.path().join("project");
        let home = root.path().join("home");
        let state = root.path().join("fake-state");
        for d in [&project, &home, &state] {
            fs::create_dir_all(d).expect("sandbox dirs");
        }
        Sandbox {
            root,
            project,
            home,
            state,
            env: Vec::new(),
            docker: false,
        }
    }

    /// Keep the real docker on PATH (tests that build images).
    pub fn with_docker(mut self) -> Sandbox {
        self.docker = true;
        self
    }

    /// Extra environment for every command of this sandbox.
    pub fn env(mut self, key: &str, value: &str) -> Sandbox {
        self.env.push((key.into(), value.into()));
        self
    }

    /// `DEVENV_FAKE_SLEEP_SCALE` (0 by default: the simulated cluster is instant).
    pub fn sleep_scale(self, scale: f64) -> Sandbox {
        self.env("DEVENV_FAKE_SLEEP_SCALE", &scale.to_string())
    }

    pub fn path_var(&self) -> OsString {
        let fakes = fakes_dir();
        let mut dirs = vec![fakes.clone()];
        dirs.extend(path_hiding(fakes.parent().unwrap(), !self.docker));
        std::env::join_paths(dirs).expect("PATH")
    }

    /// The environment every command gets (the outer environment is not inherited).
    pub fn envs(&self) -> Vec<(String, OsString)> {
        let mut v: Vec<(String, OsString)> = vec![
            ("PATH".into(), self.path_var()),
            ("HOME".into(), self.home.clone().into()),
            ("DEVENV_FAKE_STATE".into(), self.state.clone().into()),
            ("TERM".into(), "dumb".into()),
            ("LANG".into(), "C.UTF-8".into()),
            ("TMPDIR".into(), self.root.path().into()),
        ];
        for k in ["DEVENV_REAL_KUBECTL", "RUST_BACKTRACE"] {
            if let Some(val) = std::env::var_os(k) {
                v.push((k.into(), val));
            }
        }
        v.extend(
            self.env
                .iter()
                .map(|(k, val)| (k.clone(), OsString::from(val))),
        );
        v
    }

    /// Any program run in the project directory with the sandbox environment.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env_clear().envs(self.envs()).current_dir(&self.project);
        c
    }

    /// The devenv binary under test.
    pub fn devenv<I, S>(&self, args: I) -> assert_cmd::Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut c = assert_cmd::Command::new(env!("CARGO_BIN_EXE_devenv"));
        c.env_clear()
            .envs(self.envs())
            .current_dir(&self.project)
            .args(args);
        c
    }

    /// devenv run from SUBDIR of the project (created if missing), as a developer who
    /// works in a subfolder: devenv.toml is found by walking up.
    pub fn devenv_in<I, S>(&self, subdir: &str, args: I) -> assert_cmd::Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let dir = self.path(subdir);
        fs::create_dir_all(&dir).unwrap();
        let mut c = self.devenv(args);
        c.current_dir(dir);
        c
    }

    fn run_fake(&self, tool: &str, args: &[&str]) -> Output {
        self.command(fakes_dir().join(tool))
            .args(args)
            .output()
            .expect("run fake")
    }

    /// Run the fake k3d (with `LOG_COLORS=false`, as devenv does) to prepare state.
    pub fn k3d(&self, args: &[&str]) -> Output {
        let mut c = self.command(fakes_dir().join("k3d"));
        c.env("LOG_COLORS", "false").args(args);
        c.output().expect("run fake k3d")
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.run_fake("kubectl", args)
    }

    /// Like `k3d`, asserting success; returns stdout.
    pub fn k3d_ok(&self, args: &[&str]) -> String {
        let o = self.k3d(args);
        assert!(
            o.status.success(),
            "k3d {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).expect("utf8")
    }

    /// A cluster devenv did not create (a colleague's `k3d cluster create NAME EXTRA…`),
    /// its API on 127.0.0.1:API, the default kubeconfig left alone.
    pub fn foreign_cluster(&self, name: &str, extra: &[&str], api: u16) {
        let api = format!("127.0.0.1:{api}");
        let mut args = vec!["cluster", "create", name];
        args.extend(extra);
        args.extend(["--api-port", &api, "--kubeconfig-update-default=false"]);
        self.k3d_ok(&args);
    }

    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let o = self.kubectl(args);
        assert!(
            o.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).expect("utf8")
    }

    /// Every fake call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        let text = fs::read_to_string(self.state.join("calls.jsonl")).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("calls.jsonl line");
                Call {
                    tool: v["tool"].as_str().unwrap_or("").into(),
                    argv: v["argv"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|a| a.as_str().map(String::from))
                        .collect(),
                    cwd: v["cwd"].as_str().unwrap_or("").into(),
                    kubeconfig_env: v["env"]["KUBECONFIG"].as_str().map(String::from),
                    log_colors: v["env"]["LOG_COLORS"].as_str().map(String::from),
                }
            })
            .collect()
    }

    pub fn mutating_calls(&self) -> Vec<Call> {
        self.calls().into_iter().filter(Call::is_mutating).collect()
    }

    /// Forget the calls so far (e.g. after preparing state).
    pub fn clear_calls(&self) {
        let _ = fs::remove_file(self.state.join("calls.jsonl"));
    }

    /// Add a fault rule, e.g. `json!({"tool":"k3d","match":["cluster","create"],"action":"fail","stderr":"boom"})`.
    pub fn fault(&self, rule: serde_json::Value) {
        let path = self.state.join("faults.json");
        let mut rules: Vec<serde_json::Value> = fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        rules.push(rule);
        fs::write(&path, serde_json::to_vec_pretty(&rules).unwrap()).expect("write faults.json");
    }

    pub fn clear_faults(&self) {
        let _ = fs::remove_file(self.state.join("faults.json"));
        let _ = fs::remove_file(self.state.join("fault_counts.json"));
    }

    /// Declare the images present in the fake registries (`localhost:PORT/...` refs not
    /// listed then never pull). Without this file every image resolves.
    pub fn pushed(&self, refs: &[&str]) {
        fs::write(
            self.state.join("pushed.json"),
            serde_json::to_vec(refs).unwrap(),
        )
        .expect("write pushed.json");
    }

    /// Path inside the project.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.project.join(rel)
    }

    /// Write a file inside the project (parents created); returns its path.
    pub fn write(&self, rel: impl AsRef<Path>, text: &str) -> PathBuf {
        let p = self.project.join(rel);
        fs::create_dir_all(p.parent().unwrap()).expect("parent dirs");
        fs::write(&p, text).expect("write file");
        p
    }

    pub fn read(&self, rel: impl AsRef<Path>) -> String {
        let p = self.project.join(rel);
        fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
    }

    /// The user's default kubeconfig (`~/.kube/config` in the sandbox HOME).
    pub fn default_kubeconfig(&self) -> PathBuf {
        self.home.join(".kube").join("config")
    }

    /// The fakes' world: clusters, registries, objects (see fakes/src/state.rs).
    pub fn world(&self) -> serde_json::Value {
        fs::read(self.state.join("state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(serde_json::json!({}))
    }
}

/// Blocks of fixed test ports, one per test file that needs ports known in advance (a
/// devenv.toml is written before anything listens). They lie below the kernel's ephemeral
/// range (Linux 32768-60999, `net.ipv4.ip_local_port_range`), so an outgoing connection can
/// never hold one, and apart from each other, so two tests running at once never collide:
/// each test of a file takes its own `n`. All blocks stay within 21000-21999: scripts/test.sh
/// starts its registry on a random port of 22000-31999.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortBlock {
    /// tests/it/up_engine/ (two ports per test).
    UpEngine,
    /// tests/it/verify_probe.rs.
    VerifyProbe,
    /// tests/it/loopback_only.rs.
    LoopbackOnly,
    /// tests/it/real_world/cluster.rs.
    RealWorldCluster,
    /// tests/it/trust/ (two ports per test).
    Trust,
    /// tests/it/helm_tooling.rs (two ports per test).
    HelmTooling,
}

impl PortBlock {
    /// First port and size of the block.
    pub fn range(self) -> (u16, u16) {
        match self {
            PortBlock::UpEngine => (21100, 400),
            PortBlock::VerifyProbe => (21500, 100),
            PortBlock::LoopbackOnly => (21600, 100),
            PortBlock::RealWorldCluster => (21700, 100),
            PortBlock::Trust => (21800, 100),
            PortBlock::HelmTooling => (21000, 100),
        }
    }
}

/// Port `n` of `block`; panics when `n` is outside the block or the block reaches into this
/// machine's ephemeral range (a collision could then come back).
pub fn reserved_port(block: PortBlock, n: u16) -> u16 {
    let (first, len) = block.range();
    assert!(n < len, "{block:?} has {len} ports, not {}", n + 1);
    let port = first + n;
    let ephemeral_low = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    assert!(
        first + len <= ephemeral_low,
        "{block:?} ({first}..{}) reaches into the ephemeral port range (from {ephemeral_low})",
        first + len
    );
    port
}

/// One finished `devenv` run, as the tests read it.
pub struct Run {
    /// The exit code; -1 when a signal or the time limit ended it.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// stdout followed by stderr: what a user sees in a terminal, for `contains` checks.
    pub text: String,
    /// How long it ran; zero where the test did not time it (a child it spawned itself).
    pub took: Duration,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}", self.code)?;
        if !self.took.is_zero() {
            write!(f, " after {:?}", self.took)?;
        }
        write!(
            f,
            "\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        )
    }
}

impl Run {
    /// Runs `cmd` (a [`Sandbox::devenv`] command, perhaps with more env), killed after `limit`.
    pub fn of(mut cmd: assert_cmd::Command, limit: Duration) -> Run {
        let start = Instant::now();
        let o = cmd.timeout(limit).output().expect("run devenv");
        Run::new(o.status.code().unwrap_or(-1), &o, start.elapsed())
    }

    /// A finished process's output, with `code` as the caller reads its status.
    pub fn new(code: i32, o: &Output, took: Duration) -> Run {
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        Run {
            code,
            text: format!("{stdout}{stderr}"),
            stdout,
            stderr,
            took,
        }
    }
}

/// The folders every sandbox of the bad-config corpus has (tests/bad_configs/README.md):
/// kustomizations, a folder that is not one, build contexts with and without a Dockerfile.
pub fn bad_config_folders(sb: &Sandbox) {
    for d in ["k/a", "k/b", "k/c"] {
        sb.write(format!("{d}/kustomization.yaml"), "resources: []\n");
    }
    sb.write("nokust/README.md", "not a kustomization\n");
    sb.write("ctx/api/Dockerfile", "FROM scratch\n");
    sb.write("ctx/nodf/main.go", "package main\n");
}

/// Arguments the verify probe (probe/) refuses with exit 2, on every architecture.
pub const PROBE_BAD_ARGUMENTS: [&[&str]; 8] = [
    &["connect", "127.0.0.1", "80"],
    &["connect", "1.2.3", "80", "1"],
    &["connect", "1.2.3.256", "80", "1"],
    &["connect", "1.2.3.4", "0", "1"],
    &["connect", "1.2.3.4", "65536", "1"],
    &["connect", "1.2.3.4", "80", "0"],
    &["serve", "http"],
    &["dance", "1"],
];

/// `PROBE connect 127.0.0.1 PORT ATTEMPTS` (PROBE: the binary, or qemu running it): its
/// exit code and stdout.
pub fn probe_connect(mut probe: Command, port: u16, attempts: &str) -> (Option<i32>, String) {
    let out = probe
        .args(["connect", "127.0.0.1", &port.to_string(), attempts])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// kubectl's arguments that read the configmap k3d writes for KEP-1755
/// (kube-public/local-registry-hosting), as JSON.
pub const GET_REGISTRY_HOSTING: [&str; 7] = [
    "-n",
    "kube-public",
    "get",
    "configmap",
    "local-registry-hosting",
    "-o",
    "json",
];

/// The Calico manifests stand-in (operator CRDs, Tigera operator) the fake kubectl runs.
pub const CALICO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/calico");

/// The devenv.toml of a minimal project on these ports: no images (no Docker needed), the
/// Calico stand-in, verify off, then `extra`.
pub fn minimal_toml(name: &str, registry: u16, api: u16, extra: &str) -> String {
    format!(
        "version = 1\n\n[project]\nname = \"{name}\"\n\n[cluster]\napi_port = {api}\nagents = 1\ntimeout = \"20s\"\n\n\
         [registry]\nport = {registry}\n\n[calico]\nmanifests = \"{CALICO}\"\ntimeout = \"20s\"\n\n\
         [verify]\nenabled = false\n{extra}"
    )
}

/// An image context at `dir` (`FROM scratch` and a file) whose content is unique to this
/// run: an existing tag would (rightly) not be built again.
pub fn unique_image(sb: &Sandbox, dir: &str) {
    let nonce = format!("{:?} {}", SystemTime::now(), sb.project.display());
    sb.write(
        format!("{dir}/Dockerfile"),
        "FROM scratch\nCOPY nonce.txt /nonce.txt\n",
    );
    sb.write(format!("{dir}/nonce.txt"), &nonce);
}

/// Output bytes as text (lossy: a test shows what it got, whatever it is).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A finished process for a failure message: exit status, stdout, stderr.
pub fn show(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    )
}

/// The paths under `ctx/` in a tar stream (`docker export` of an image built `FROM scratch`
/// with `COPY . /ctx/`), as the real `tar -t` lists them, folders without their slash.
pub fn paths_under_ctx(tar: &[u8]) -> Vec<String> {
    use std::io::Write;
    let mut t = Command::new("tar")
        .args(["-tf", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    t.stdin.take().unwrap().write_all(tar).unwrap();
    let out = t.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("ctx/"))
        .map(|l| l.trim_end_matches('/').to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Namespaces of cluster `name` in the fake world. A namespace deleted with `--wait=false`
/// stays Terminating a while on a real cluster too: deleted is what devenv can promise, so
/// deleted ones are left out.
pub fn namespaces(sb: &Sandbox, name: &str) -> Vec<String> {
    sb.world()["clusters"][name]["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["kind"] == "Namespace")
        .filter(|o| o["deleted_ms"].is_null())
        .filter_map(|o| o["name"].as_str().map(String::from))
        .collect()
}

/// A sandbox holding the documented example: devenv.toml.example and examples/shop.
pub fn example_sandbox() -> Sandbox {
    let sb = Sandbox::new();
    sb.write(
        "devenv.toml",
        &fs::read_to_string(repo().join("devenv.toml.example")).unwrap(),
    );
    copy_dir(&repo().join("examples/shop"), &sb.path("examples/shop"));
    sb
}

/// `DIR/docker-config/config.json` with `auths` for `registry`, what `docker login` writes;
/// returns the folder (for `DOCKER_CONFIG`).
pub fn docker_config(dir: &Path, registry: &str, user: &str, password: &str) -> PathBuf {
    let auth =
        devenv::images::docker_config::base64_encode(format!("{user}:{password}").as_bytes());
    let cfg_dir = dir.join("docker-config");
    fs::create_dir_all(&cfg_dir).unwrap();
    fs::write(
        cfg_dir.join("config.json"),
        format!(r#"{{"auths":{{"{registry}":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
    cfg_dir
}

/// The journal devenv keeps in the project (`.devenv/state.json`).
pub fn journal(sb: &Sandbox) -> serde_json::Value {
    let text = sb.read(".devenv/state.json");
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!(".devenv/state.json is not JSON ({e}):\n{text}"))
}

/// This repository's folder (devenv.toml.example, examples/, tests/fixtures/).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A port nothing listens on now (the kernel picks it from the ephemeral range; the tests
/// with fixed ports use blocks below it, [`PortBlock`]).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Copies the tree `from` into `to` (created), files and folders only.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// Waits for a condition, failing with `what` after `limit`.
#[track_caller]
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether process `pid` runs. A zombie is dead for our purpose (its parent may not have
/// reaped it yet).
pub fn alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// The real registry the Docker tests push to: `$DEVENV_TEST_REGISTRY`, which
/// `scripts/test.sh` sets after starting one on a free loopback port. No default: a test
/// must not assume a service on a fixed port that nothing in the suite started.
pub fn test_registry_addr() -> String {
    std::env::var("DEVENV_TEST_REGISTRY")
        .ok()
        .filter(|s| !s.is_empty())
        .expect("DEVENV_TEST_REGISTRY is not set: run scripts/test.sh (it starts a registry on a free loopback port and sets it), or set it to a registry you started")
}

/// A plain `docker-registry` (distribution, no auth) on a free loopback port; killed on drop.
pub struct Registry {
    child: std::process::Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_registry() -> Registry {
    start_registry_with(None, false)
}

/// A `docker-registry` that asks for these credentials (`htpasswd` file content: bcrypt
/// lines, as distribution requires) and, with `delete`, offers the delete API.
pub fn start_auth_registry(htpasswd: &[u8], delete: bool) -> Registry {
    start_registry_with(Some(htpasswd), delete)
}

fn start_registry_with(htpasswd: Option<&[u8]>, delete: bool) -> Registry {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let mut config = format!(
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n",
        dir.path().join("data").display()
    );
    if delete {
        config.push_str("  delete:\n    enabled: true\n");
    }
    config.push_str(&format!("http:\n  addr: {addr}\n"));
    if let Some(htpasswd) = htpasswd {
        let file = dir.path().join("htpasswd");
        fs::write(&file, htpasswd).unwrap();
        config.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: devenv-test\n    path: {}\n",
            file.display()
        ));
    }
    let cfg = dir.path().join("config.yml");
    fs::write(&cfg, config).unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("docker-registry (the distribution registry) is installed");
    let reg = Registry {
        child,
        addr,
        _dir: dir,
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(&reg.addr).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "no registry on {}",
            reg.addr
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    reg
}
