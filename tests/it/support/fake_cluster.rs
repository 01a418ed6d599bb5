//! What the deploy tests (charts, real charts, hooks, real_world::deploy) run and read back
//! against the fakes: `devenv` with a time limit, the kubectl calls it made, the objects the
//! fake cluster holds.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::{free_port, minimal_toml, reserved_port, Call, PortBlock, Run, Sandbox, CALICO};

/// devenv ARGS in the sandbox's project, killed after `limit` (then exit -1).
pub fn run(sb: &Sandbox, args: &[&str], limit: Duration) -> Run {
    Run::of(sb.devenv(args), limit)
}

/// `devenv up`, which must succeed within `limit`.
#[track_caller]
pub fn up_ok(sb: &Sandbox, limit: Duration) -> Run {
    let r = run(sb, &["up"], limit);
    assert_eq!(r.code, 0, "devenv up failed: {r:?}");
    r
}

/// The calls, one line each (failure messages).
pub fn lines(calls: &[Call]) -> String {
    calls.iter().map(Call::line).collect::<Vec<_>>().join("\n")
}

/// Ports `first` and `first + 1` of `block` (a test's registry and API ports).
pub fn port_pair(block: PortBlock, first: u16) -> (u16, u16) {
    (reserved_port(block, first), reserved_port(block, first + 1))
}

/// devenv.toml of `minimal_toml` on these (registry, API) ports, then `extra`.
pub fn minimal_project(sb: &Sandbox, name: &str, (registry, api): (u16, u16), extra: &str) {
    sb.write("devenv.toml", &minimal_toml(name, registry, api, extra));
}

/// A k3d project without images, verify off, one overlay `app` at k8s/app (its table
/// gets `overlay_extra` lines before its timeout).
pub fn overlay_project(sb: &Sandbox, name: &str, overlay_extra: &str) {
    sb.write(
        "devenv.toml",
        &format!(
            "version = 1\n\n[project]\nname = \"{name}\"\n\n[cluster]\napi_port = {}\nagents = 1\ntimeout = \"5m\"\n\n\
             [registry]\nport = {}\n\n[calico]\nmanifests = \"{CALICO}\"\ntimeout = \"5m\"\n\n\
             [verify]\nenabled = false\n\n\
             [[overlays]]\nname = \"app\"\npath = \"k8s/app\"\n{overlay_extra}timeout = \"5m\"\n",
            free_port(),
            free_port()
        ),
    );
}

/// The unit whose rendering an apply call applies (`…/rendered/NAME.apply.yaml`).
pub fn applied_unit(c: &Call) -> Option<String> {
    if c.tool != "kubectl" || !c.is_mutating() || !c.has(&["apply"]) {
        return None;
    }
    let file = c.argv.iter().find(|a| a.contains("/rendered/"))?;
    Some(file.rsplit('/').next()?.split('.').next()?.to_string())
}

/// What the deploy path did, in order: applies (by rendered file), deletes and waits of
/// objects (hooks), rollouts. The race of a Job's `Failed` with its `Complete` is left out
/// (either may be logged first).
pub fn deploy_actions(calls: &[Call]) -> Vec<String> {
    let mut out = Vec::new();
    for c in calls.iter().filter(|c| c.tool == "kubectl") {
        let a = &c.argv;
        let after = |w: &str| a.iter().position(|x| x == w).and_then(|i| a.get(i + 1));
        if c.has(&["apply"]) {
            let file = after("-f").map(String::as_str).unwrap_or("");
            if file.contains(".devenv/rendered/") {
                let name = Path::new(file).file_name().unwrap().to_string_lossy();
                out.push(format!("apply {name}"));
            }
        } else if c.has(&["delete"]) && c.has(&["--cascade=foreground"]) {
            let at = a.iter().position(|x| x == "delete").unwrap();
            out.push(format!("delete {} {}", a[at + 1], a[at + 2]));
        } else if c.has(&["wait", "--for=condition=Complete"]) {
            out.push(format!("wait {}", a.last().unwrap()));
        } else if c.has(&["rollout", "status"]) {
            out.push(format!("rollout {}", after("status").unwrap()));
        }
    }
    out
}

/// The objects of the fake cluster `cluster` (k3d clusters are named after the project).
pub fn objects(sb: &Sandbox, cluster: &str) -> Vec<Value> {
    sb.world()["clusters"][cluster]["objects"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The body of object KIND/NAME in namespace `ns` ("" for a cluster-scoped one).
pub fn object(sb: &Sandbox, cluster: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
    objects(sb, cluster)
        .into_iter()
        .find(|o| {
            o["kind"] == kind && o["name"] == name && o["namespace"].as_str().unwrap_or("") == ns
        })
        .map(|o| o["body"].clone())
}
