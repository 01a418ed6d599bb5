//! `[cluster] provider = "existing"` end to end against the fake kubectl (issue 9): a shared
//! cluster (a fake k3d cluster `shared` with Calico installed by an admin), a second,
//! unrelated cluster `prod` that is the kubeconfig's current-context, and two developers
//! (alice and bob) deploying the same project from their own folders.
//!
//! What is proved: `up` runs no k3d command and talks to the chosen context only, the
//! kubeconfig is left exactly as it was (contexts, current-context, mode), each developer's
//! objects land in their own labelled namespaces, `down`/`reset` delete exactly the owner's
//! objects (by inventory, or by label when it is lost), pruning deletes what left the
//! overlays, the context guard refuses what it must, `status` reads the shared cluster's
//! health and `build` needs no cluster at all.

mod charts;
mod context_safety;
mod down_reset;
mod pruning;
mod status_build;
mod two_developers;
mod up;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{copy_dir, json, start_registry, Call, Sandbox, CALICO};
use serde_json::Value;

const INSTALLATION: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/calico-installation-k3d.yaml"
);
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/existing");

/// The shared cluster's context, and the other one (current-context, never to be touched).
const SHARED: &str = "k3d-shared";
const PROD: &str = "k3d-prod";

// ---------------------------------------------------------------------------------------
// the team's world

/// `kubectl --context k3d-shared ARGS` as the cluster's admin (asserting success).
fn admin(sb: &Sandbox, args: &[&str]) -> String {
    let mut all = vec!["--context", SHARED];
    all.extend_from_slice(args);
    sb.kubectl_ok(&all)
}

/// A shared cluster with Calico (its CRDs, the operator, an Installation, nodes Ready and the
/// calico-node DaemonSet the operator would create), then an unrelated `prod` cluster, which
/// k3d makes the current-context. The kubeconfig is made 0640 (a mode k3d would not write).
pub(crate) fn team_cluster(sb: &Sandbox) {
    sb.k3d_ok(&["cluster", "create", "shared", "--agents", "1"]);
    let crds = format!("{CALICO}/operator-crds.yaml");
    admin(sb, &["apply", "--server-side", "-f", &crds]);
    admin(
        sb,
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=20s",
            "crd/installations.operator.tigera.io",
            "crd/tigerastatuses.operator.tigera.io",
        ],
    );
    let operator = format!("{CALICO}/tigera-operator.yaml");
    admin(sb, &["apply", "--server-side", "-f", &operator]);
    admin(
        sb,
        &[
            "-n",
            "tigera-operator",
            "rollout",
            "status",
            "deployment/tigera-operator",
            "--timeout=20s",
        ],
    );
    admin(sb, &["apply", "--server-side", "-f", INSTALLATION]);
    admin(
        sb,
        &[
            "wait",
            "--for=create",
            "--timeout=20s",
            "tigerastatus/calico",
        ],
    );
    admin(
        sb,
        &[
            "wait",
            "--for=condition=Available",
            "--timeout=20s",
            "tigerastatus/calico",
        ],
    );
    admin(
        sb,
        &[
            "wait",
            "--for=condition=Ready",
            "--timeout=20s",
            "nodes",
            "--all",
        ],
    );
    let calico_node = format!("{FIXTURE}/cluster/calico-node.yaml");
    admin(sb, &["apply", "--server-side", "-f", &calico_node]);

    sb.k3d_ok(&["cluster", "create", "prod"]);
    let current = sb.kubectl_ok(&["config", "current-context"]);
    assert_eq!(current.trim(), PROD, "the fixture's current-context");
    std::fs::set_permissions(
        sb.default_kubeconfig(),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    sb.clear_calls();
}

/// `[cluster]` keys of the usual project: the shared context, allowed explicitly.
const CLUSTER_KEYS: &str =
    "context = \"k3d-shared\"\nallowed_contexts = [\"k3d-shared\", \"k3d-staging-*\"]\n";

fn devenv_toml(cluster_keys: &str, extra: &str) -> String {
    format!(
        "version = 1\n\n[project]\nname = \"shop\"\n\n[cluster]\nprovider = \"existing\"\n{cluster_keys}\n\
         [registry]\nprovider = \"external\"\naddress = \"registry.example.test/team\"\n\n\
         [verify]\nenabled = false\n\n\
         [[overlays]]\nname = \"app\"\npath = \"k8s/app\"\ntimeout = \"20s\"\n{extra}"
    )
}

/// A developer's checkout of the project in `dir`, with this devenv.toml.
fn checkout(dir: &Path, toml: &str) {
    copy_dir(&Path::new(FIXTURE).join("k8s"), &dir.join("k8s"));
    std::fs::write(dir.join("devenv.toml"), toml).unwrap();
}

/// The shared cluster, alice's checkout (the sandbox's project folder) and bob's.
struct Team {
    sb: Sandbox,
    alice: PathBuf,
    bob: PathBuf,
}

fn team() -> Team {
    let sb = Sandbox::new();
    team_cluster(&sb);
    let alice = sb.project.clone();
    let bob = sb.root.path().join("bob");
    checkout(&alice, &devenv_toml(CLUSTER_KEYS, ""));
    checkout(&bob, &devenv_toml(CLUSTER_KEYS, ""));
    Team { sb, alice, bob }
}

// ---------------------------------------------------------------------------------------
// running devenv and reading the world

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    calls: Vec<Call>,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}\n--- calls\n{}",
            self.code,
            self.stdout,
            self.stderr,
            lines(&self.calls).join("\n")
        )
    }
}

fn lines(calls: &[Call]) -> Vec<String> {
    calls.iter().map(Call::line).collect()
}

/// devenv in `dir` as `owner` (`DEVENV_OWNER`), with the calls it made (the log is cleared first).
fn dev(sb: &Sandbox, dir: &Path, owner: &str, args: &[&str]) -> Run {
    sb.clear_calls();
    let o = sb
        .devenv(args)
        .current_dir(dir)
        .env("DEVENV_OWNER", owner)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("run devenv");
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        calls: sb.calls(),
    }
}

#[track_caller]
fn dev_ok(sb: &Sandbox, dir: &Path, owner: &str, args: &[&str]) -> Run {
    let r = dev(sb, dir, owner, args);
    assert_eq!(
        r.code,
        0,
        "devenv {} as {owner} failed: {r:?}",
        args.join(" ")
    );
    r
}

/// One object of the fake API server, as stored.
#[derive(Debug, Clone, PartialEq)]
struct Obj {
    kind: String,
    namespace: Option<String>,
    name: String,
    uid: String,
    rv: u64,
    labels: Value,
}

impl Obj {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).and_then(Value::as_str)
    }
    fn id(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{} in {ns}", self.kind, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }
}

/// Every object of a fake cluster (`shared`, `prod`).
fn objects(sb: &Sandbox, cluster: &str) -> Vec<Obj> {
    sb.world()["clusters"][cluster]["objects"]
        .as_array()
        .unwrap_or_else(|| panic!("no fake cluster {cluster}"))
        .iter()
        .map(|o| Obj {
            kind: o["kind"].as_str().unwrap_or("").into(),
            namespace: o["namespace"].as_str().map(String::from),
            name: o["name"].as_str().unwrap_or("").into(),
            uid: o["uid"].as_str().unwrap_or("").into(),
            rv: o["rv"].as_u64().unwrap_or(0),
            labels: o["body"]["metadata"]["labels"].clone(),
        })
        .collect()
}

/// The objects an owner's devenv applied to the shared cluster (by the owner label).
fn owned_by(sb: &Sandbox, owner: &str) -> Vec<Obj> {
    objects(sb, "shared")
        .into_iter()
        .filter(|o| o.label("devenv.dev/owner") == Some(owner))
        .collect()
}

fn ids(objs: &[Obj]) -> Vec<String> {
    let mut v: Vec<String> = objs.iter().map(Obj::id).collect();
    v.sort();
    v
}

fn find<'a>(objs: &'a [Obj], kind: &str, ns: Option<&str>, name: &str) -> Option<&'a Obj> {
    objs.iter()
        .find(|o| o.kind == kind && o.namespace.as_deref() == ns && o.name == name)
}

/// What the fixture overlay renders for one owner, as `Kind/name in NS` (and the Namespace).
fn expected_for(owner: &str) -> Vec<String> {
    let ns = format!("shop-{owner}");
    let mut v: Vec<String> = [
        ("ConfigMap", "settings"),
        ("Deployment", "web"),
        ("Deployment", "worker"),
        ("NetworkPolicy", "web-from-shop"),
        ("Service", "web"),
    ]
    .iter()
    .map(|(k, n)| format!("{k}/{n} in {ns}"))
    .chain([format!("Namespace/{ns}")])
    .collect();
    v.sort();
    v
}

/// A kubectl call that reaches a cluster (not `version --client`, not `kustomize`).
fn talks_to_cluster(c: &Call) -> bool {
    c.tool == "kubectl"
        && !c.has(&["version", "--client"])
        && c.argv.first().map(String::as_str) != Some("kustomize")
}

/// `--context C` (as two words or `--context=C`) in a call.
fn context_of(c: &Call) -> Option<String> {
    let mut it = c.argv.iter();
    while let Some(a) = it.next() {
        if a == "--context" {
            return it.next().cloned();
        }
        if let Some(v) = a.strip_prefix("--context=") {
            return Some(v.to_string());
        }
    }
    None
}

/// Every call went to the shared context only; no k3d at all.
#[track_caller]
fn only_shared_context(r: &Run) {
    let k3d: Vec<String> = r
        .calls
        .iter()
        .filter(|c| c.tool == "k3d")
        .map(Call::line)
        .collect();
    assert!(
        k3d.is_empty(),
        "k3d was run against an existing cluster: {k3d:#?}"
    );
    for c in r.calls.iter().filter(|c| talks_to_cluster(c)) {
        assert_eq!(
            context_of(c).as_deref(),
            Some(SHARED),
            "a kubectl call without --context {SHARED}: {}",
            c.line()
        );
        assert!(
            c.kubeconfig_env.is_none() && !c.argv.iter().any(|a| a.starts_with("--kubeconfig")),
            "kubectl on an existing cluster reads the user's kubeconfig as kubectl would: {}",
            c.line()
        );
    }
}
