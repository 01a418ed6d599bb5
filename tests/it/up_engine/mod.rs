//! `devenv up/down/reset/status/doctor/build/apply` end to end against the fake k3d/kubectl:
//! step order, idempotence, failures at every step, signals, ownership, the user's kubeconfig,
//! busy ports, the project lock, status/doctor, recreate, overlays.

mod failures;
mod kubeconfig;
mod order;
mod overlays;
mod ownership;
mod ports_and_lock;
mod recreate_reset;
mod signals;
mod status_doctor;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    self, alive, copy_dir, journal, json, minimal_toml, wait_until, Call, Run, Sandbox, CALICO,
};

const PROJECTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/projects");

// The mutating commands of the first steps, as `first` and `count` find them in the call log.
const REG: &[&str] = &["registry", "create"];
const CLU: &[&str] = &["cluster", "create"];
const CRDS: &[&str] = &["apply", "-f", ".devenv/calico/operator-crds.yaml"];
const OPER: &[&str] = &["apply", "-f", ".devenv/calico/tigera-operator.yaml"];
const INST: &[&str] = &["apply", "-f", ".devenv/calico/installation.yaml"];

// ---------------------------------------------------------------------------------------
// helpers

/// Ports no other test uses: each test gets its own pair, so parallel runs never collide
/// (the fakes do not bind them, but ports_and_lock does), below the ephemeral range so that no
/// outgoing connection holds one (support::PortBlock).
fn ports(n: u16) -> (u16, u16) {
    use crate::support::{reserved_port, PortBlock};
    (
        reserved_port(PortBlock::UpEngine, n * 2),
        reserved_port(PortBlock::UpEngine, n * 2 + 1),
    )
}

/// A minimal project: no images (no Docker needed), the Calico stand-in, verify off.
fn project(sb: &Sandbox, name: &str, n: u16, extra: &str) {
    let (registry, api) = ports(n);
    sb.write("devenv.toml", &minimal_toml(name, registry, api, extra));
}

/// Copy a fixture project (tests/fixtures/projects/NAME) into the sandbox.
fn copy_fixture(sb: &Sandbox, name: &str) {
    copy_dir(&Path::new(PROJECTS).join(name), &sb.project);
}

fn run(sb: &Sandbox, args: &[&str]) -> Run {
    Run::of(sb.devenv(args), Duration::from_secs(60))
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
    let code = o
        .status
        .code()
        .unwrap_or_else(|| 128 + o.status.signal().unwrap_or(0));
    Run::new(code, &o, Duration::ZERO)
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: sending a signal to a child process this test started.
    unsafe { kill(pid as i32, sig) };
}

/// The fixture's overlays, declared out of dependency order (app, db, base): devenv must sort.
fn overlays_toml(extra: &str) -> String {
    format!(
        "\n[[overlays]]\nname = \"app\"\npath = \"k8s/app\"\ndepends_on = [\"db\"]\ntimeout = \"10s\"\n{extra}\n\
         \n[[overlays]]\nname = \"db\"\npath = \"k8s/db\"\ndepends_on = [\"base\"]\ntimeout = \"10s\"\n\
         \n[[overlays]]\nname = \"base\"\npath = \"k8s/base\"\ntimeout = \"10s\"\n"
    )
}

fn world_has(sb: &Sandbox, cluster: &str, registry: &str) -> (bool, bool) {
    let k3d = |args: &[&str]| -> serde_json::Value {
        serde_json::from_str(&sb.k3d_ok(args)).unwrap_or(serde_json::Value::Null)
    };
    let names = |v: serde_json::Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x["name"].as_str().map(String::from))
            .collect()
    };
    (
        names(k3d(&["cluster", "list", "-o", "json"]))
            .iter()
            .any(|n| n == cluster),
        names(k3d(&["registry", "list", "-o", "json"]))
            .iter()
            .any(|n| n == registry),
    )
}

fn applied_overlay(c: &Call) -> Option<String> {
    if c.tool != "kubectl" || !c.is_mutating() || !c.has(&["apply"]) {
        return None;
    }
    let file = c.argv.iter().find(|a| a.contains("/rendered/"))?;
    let name = file.rsplit('/').next()?.split('.').next()?;
    Some(name.to_string())
}
