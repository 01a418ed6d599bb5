//! `devenv up/down/reset/status/doctor/build/apply` end to end against the fake k3d/kubectl:
//! step order, idempotence, failures at every step, signals, ownership, the user's kubeconfig,
//! busy ports, the project lock, status/doctor, recreate, overlays.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::{json, Call, Sandbox};

const CALICO_FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/calico");
const PROJECTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/projects");

// ---------------------------------------------------------------------------------------
// helpers

/// Ports no other test uses: each test gets its own pair, so parallel runs never collide
/// (the fakes do not bind them, but test 7 does).
fn ports(n: u16) -> (u16, u16) {
    (47100 + n * 2, 47101 + n * 2)
}

/// A minimal project: no images (no Docker needed), the Calico stand-in, verify off.
fn project(sb: &Sandbox, name: &str, n: u16, extra: &str) {
    let (registry, api) = ports(n);
    sb.write(
        "devenv.toml",
        &format!(
            "version = 1\n\n[project]\nname = \"{name}\"\n\n[cluster]\napi_port = {api}\nagents = 1\ntimeout = \"20s\"\n\n\
             [registry]\nport = {registry}\n\n[calico]\nmanifests = \"{CALICO_FIXTURE}\"\ntimeout = \"20s\"\n\n\
             [verify]\nenabled = false\n{extra}"
        ),
    );
}

/// Copy a fixture project (tests/fixtures/projects/NAME) into the sandbox.
fn copy_fixture(sb: &Sandbox, name: &str) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                copy(&p, &to.join(e.file_name()));
            } else {
                std::fs::copy(&p, to.join(e.file_name())).unwrap();
            }
        }
    }
    copy(&Path::new(PROJECTS).join(name), &sb.project);
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn run(sb: &Sandbox, args: &[&str]) -> Run {
    let o = sb
        .devenv(args)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("run devenv");
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

#[track_caller]
fn up_ok(sb: &Sandbox) -> Run {
    let r = run(sb, &["up"]);
    assert_eq!(r.code, 0, "devenv up failed: {r:?}");
    r
}

fn lines(calls: &[Call]) -> Vec<String> {
    calls.iter().map(Call::line).collect()
}

/// Index of the first call containing these words in order.
#[track_caller]
fn first(calls: &[Call], tool: &str, words: &[&str]) -> usize {
    calls
        .iter()
        .position(|c| c.tool == tool && c.has(words))
        .unwrap_or_else(|| {
            panic!(
                "no call `{tool} {}` in:\n{}",
                words.join(" "),
                lines(calls).join("\n")
            )
        })
}

fn count(calls: &[Call], tool: &str, words: &[&str]) -> usize {
    calls
        .iter()
        .filter(|c| c.tool == tool && c.has(words))
        .count()
}

fn journal(sb: &Sandbox) -> serde_json::Value {
    let text = sb.read(".devenv/state.json");
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!(".devenv/state.json is not JSON ({e}):\n{text}"))
}

/// Wait for a condition, failing with `what` after `limit`.
#[track_caller]
fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn alive(pid: i32) -> bool {
    // A zombie is dead for our purpose (its parent may not have reaped it yet).
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// Every process a `hang` fault started (the fake and its `sleep` grandchild) is gone.
#[track_caller]
fn hung_processes_gone(sb: &Sandbox) {
    let markers: Vec<PathBuf> = std::fs::read_dir(&sb.state)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("hang-")
        })
        .collect();
    assert!(!markers.is_empty(), "no hang fault ran");
    for m in markers {
        let name = m.file_name().unwrap().to_string_lossy().into_owned();
        let fake: i32 = name
            .trim_start_matches("hang-")
            .trim_end_matches(".child")
            .parse()
            .unwrap();
        let grandchild: i32 = std::fs::read_to_string(&m).unwrap().trim().parse().unwrap();
        // The runner kills the whole group before it returns; allow a moment for the reaper.
        wait_until(
            Duration::from_secs(2),
            &format!("fake {fake} and its child {grandchild} to be gone"),
            || !alive(fake) && !alive(grandchild),
        );
    }
}

fn spawn_devenv(sb: &Sandbox, args: &[&str]) -> Child {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_devenv"));
    c.env_clear()
        .envs(sb.envs())
        .current_dir(&sb.project)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c.spawn().expect("spawn devenv")
}

fn finish(child: Child) -> Run {
    let o = child.wait_with_output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    Run {
        code: o
            .status
            .code()
            .unwrap_or_else(|| 128 + o.status.signal().unwrap_or(0)),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: sending a signal to a child process this test started.
    unsafe { kill(pid as i32, sig) };
}

const MUTATING_STEPS: &[(&str, &[&str])] = &[
    ("k3d", &["registry", "create"]),
    ("k3d", &["cluster", "create"]),
    ("k3d", &["cluster", "delete"]),
    ("k3d", &["registry", "delete"]),
];

// ---------------------------------------------------------------------------------------
// 1. order

#[test]
fn up_runs_the_steps_in_dependency_order() {
    let sb = Sandbox::new();
    copy_fixture(&sb, "overlays");
    project(&sb, "order", 1, &overlays_toml(""));
    up_ok(&sb);
    let calls = sb.calls();
    let registry = first(&calls, "k3d", &["registry", "create"]);
    let cluster = first(&calls, "k3d", &["cluster", "create"]);
    let crds = first(
        &calls,
        "kubectl",
        &["apply", "-f", ".devenv/calico/operator-crds.yaml"],
    );
    let established = first(&calls, "kubectl", &["wait", "--for=condition=Established"]);
    let operator = first(
        &calls,
        "kubectl",
        &["apply", "-f", ".devenv/calico/tigera-operator.yaml"],
    );
    let installation = first(
        &calls,
        "kubectl",
        &["apply", "-f", ".devenv/calico/installation.yaml"],
    );
    let available = first(
        &calls,
        "kubectl",
        &["wait", "--for=condition=Available", "tigerastatus/calico"],
    );
    let nodes = first(
        &calls,
        "kubectl",
        &["wait", "--for=condition=Ready", "nodes", "--all"],
    );
    let apply = |name: &str| {
        calls
            .iter()
            .position(|c| {
                c.tool == "kubectl"
                    && c.has(&["apply"])
                    && c.argv
                        .iter()
                        .any(|a| a.contains(&format!("/rendered/{name}")))
            })
            .unwrap_or_else(|| {
                panic!(
                    "overlay {name} never applied:\n{}",
                    lines(&calls).join("\n")
                )
            })
    };
    let (base, db, app) = (apply("base"), apply("db"), apply("app"));
    let order = [
        registry,
        cluster,
        crds,
        established,
        operator,
        installation,
        available,
        nodes,
        base,
        db,
        app,
    ];
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "steps out of order {order:?}:\n{}",
        lines(&calls).join("\n")
    );
    // Every k3d call runs with plain logs, every kubectl call with devenv's own kubeconfig.
    for c in &calls {
        if c.tool == "k3d" {
            assert_eq!(c.log_colors.as_deref(), Some("false"), "{}", c.line());
        } else if c.tool == "kubectl" && !c.has(&["kustomize"]) && !c.has(&["version", "--client"])
        {
            let kubeconfig = c.argv.iter().skip_while(|a| *a != "--kubeconfig").nth(1);
            assert!(
                kubeconfig.is_some_and(|k| k.ends_with(".devenv/kubeconfig"))
                    && c.has(&["--context", "k3d-order"]),
                "{}",
                c.line()
            );
        }
    }
    let j = journal(&sb);
    for id in [
        "preflight",
        "registry",
        "cluster",
        "calico-crds",
        "calico-ready",
        "overlay:base",
        "overlay:app",
    ] {
        assert_eq!(j["steps"][id]["status"], "done", "{id} in {j:#}");
    }
}

/// The fixture's overlays, declared out of dependency order (app, db, base): devenv must sort.
fn overlays_toml(extra: &str) -> String {
    format!(
        "\n[[overlays]]\nname = \"app\"\npath = \"k8s/app\"\ndepends_on = [\"db\"]\ntimeout = \"10s\"\n{extra}\n\
         \n[[overlays]]\nname = \"db\"\npath = \"k8s/db\"\ndepends_on = [\"base\"]\ntimeout = \"10s\"\n\
         \n[[overlays]]\nname = \"base\"\npath = \"k8s/base\"\ntimeout = \"10s\"\n"
    )
}

// ---------------------------------------------------------------------------------------
// 2. idempotence

#[test]
fn a_second_up_on_a_healthy_environment_changes_nothing() {
    let sb = Sandbox::new();
    copy_fixture(&sb, "overlays");
    project(&sb, "again", 2, &overlays_toml(""));
    up_ok(&sb);
    sb.clear_calls();
    let r = up_ok(&sb);
    let calls = sb.calls();
    assert!(
        sb.mutating_calls().is_empty(),
        "a second up changed things:\n{}",
        lines(&sb.mutating_calls()).join("\n")
    );
    // Observing: k3d node list, Calico's status and the nodes, and rendering each overlay
    // (3 here: rendering is how devenv knows the manifests are unchanged).
    assert!(
        calls.len() <= 6,
        "{} commands on a healthy environment:\n{}",
        calls.len(),
        lines(&calls).join("\n")
    );
    assert!(r.text().contains("skipped"), "{r:?}");
}
