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
fn team_cluster(sb: &Sandbox) {
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

// ---------------------------------------------------------------------------------------
// 1. up: no k3d, the chosen context only, the kubeconfig untouched

#[test]
fn up_on_an_existing_cluster_runs_no_k3d_and_touches_only_the_chosen_context() {
    let t = team();
    let kubeconfig = t.sb.default_kubeconfig();
    let before = devenv::kubeconfig::snapshot(&kubeconfig).unwrap();
    let bytes_before = std::fs::read(&kubeconfig).unwrap();
    let prod_before = t.sb.world()["clusters"]["prod"].clone();

    let r = dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    only_shared_context(&r);
    assert!(
        !r.stderr.contains("no NetworkPolicy-enforcing CNI"),
        "Calico runs there: {r:?}"
    );
    assert!(
        r.calls
            .iter()
            .any(|c| c.tool == "kubectl" && c.has(&["apply", "--server-side"])),
        "nothing was applied: {r:?}"
    );

    // The kubeconfig: same contexts, clusters, users, current-context (prod!), mode, bytes.
    let after = devenv::kubeconfig::snapshot(&kubeconfig).unwrap();
    assert_eq!(before, after, "devenv changed the user's kubeconfig");
    assert_eq!(after.current_context.as_deref(), Some(PROD));
    assert_eq!(after.mode, Some(0o640));
    assert_eq!(std::fs::read(&kubeconfig).unwrap(), bytes_before);
    assert!(
        !t.alice.join(".devenv/kubeconfig").exists(),
        "devenv wrote a kubeconfig of its own"
    );
    // The other cluster (the current-context) saw nothing.
    assert_eq!(
        t.sb.world()["clusters"]["prod"],
        prod_before,
        "the prod cluster changed"
    );

    // What landed: the overlay's objects in alice's namespace, all labelled as hers.
    let mine = owned_by(&t.sb, "alice");
    assert_eq!(ids(&mine), expected_for("alice"), "alice's objects");
    for o in &mine {
        assert_eq!(
            o.label("app.kubernetes.io/managed-by"),
            Some("devenv"),
            "{}",
            o.id()
        );
        assert_eq!(o.label("devenv.dev/project"), Some("shop"), "{}", o.id());
    }
    let all = objects(&t.sb, "shared");
    assert!(
        find(&all, "Namespace", None, "shop").is_none(),
        "the manifests' own namespace was created"
    );

    // The plan shows the same: no registry, cluster or Calico steps, a cluster check.
    let plan = dev_ok(&t.sb, &t.alice, "alice", &["plan", "-o", "json"]);
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    let steps: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(plan["context"], SHARED);
    for absent in [
        "registry",
        "cluster",
        "kubeconfig",
        "calico-crds",
        "calico-ready",
    ] {
        assert!(
            !steps.contains(&absent),
            "step {absent} in an existing-cluster plan: {steps:?}"
        );
    }
    for present in ["preflight", "cluster-check", "overlay:app", "prune"] {
        assert!(steps.contains(&present), "no step {present}: {steps:?}");
    }
}

#[test]
fn a_second_up_on_an_unchanged_project_applies_and_deletes_nothing() {
    let t = team();
    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    let before = owned_by(&t.sb, "alice");
    let r = dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    only_shared_context(&r);
    let mutating: Vec<String> = r
        .calls
        .iter()
        .filter(|c| c.is_mutating())
        .map(Call::line)
        .collect();
    assert!(
        mutating.is_empty(),
        "a second up changed the cluster: {mutating:#?}"
    );
    assert_eq!(owned_by(&t.sb, "alice"), before);
}

// ---------------------------------------------------------------------------------------
// 2. two developers, one cluster

#[test]
fn two_developers_land_in_their_own_namespaces_without_touching_each_other() {
    let t = team();
    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    let alice_before = owned_by(&t.sb, "alice");

    let r = dev_ok(&t.sb, &t.bob, "bob", &["up"]);
    only_shared_context(&r);
    // bob's devenv never names alice's namespace (no read, no apply, no delete there).
    for c in &r.calls {
        assert!(
            !c.argv.iter().any(|a| a.contains("shop-alice")),
            "bob's devenv touched alice's namespace: {}",
            c.line()
        );
    }
    for f in std::fs::read_dir(t.bob.join(".devenv/rendered"))
        .unwrap()
        .flatten()
    {
        let text = std::fs::read_to_string(f.path()).unwrap();
        assert!(
            !text.contains("alice"),
            "{} names alice:\n{text}",
            f.path().display()
        );
    }

    let bobs = owned_by(&t.sb, "bob");
    assert_eq!(ids(&bobs), expected_for("bob"));
    // alice's objects are exactly as they were: same uid, same resourceVersion.
    assert_eq!(
        owned_by(&t.sb, "alice"),
        alice_before,
        "bob's up changed alice's objects"
    );

    // Each namespace is labelled with its owner; references follow the namespace.
    let all = objects(&t.sb, "shared");
    for owner in ["alice", "bob"] {
        let ns =
            find(&all, "Namespace", None, &format!("shop-{owner}")).expect("owner's namespace");
        assert_eq!(ns.label("devenv.dev/owner"), Some(owner));
        assert_eq!(ns.label("devenv.dev/project"), Some("shop"));
        assert_eq!(ns.label("app.kubernetes.io/managed-by"), Some("devenv"));
    }
    let world = t.sb.world();
    let policy = &world["clusters"]["shared"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "NetworkPolicy" && o["namespace"] == "shop-bob")
        .expect("bob's NetworkPolicy")["body"];
    assert_eq!(
        policy.pointer(
            "/spec/ingress/0/from/0/namespaceSelector/matchLabels/kubernetes.io~1metadata.name"
        ),
        Some(&Value::from("shop-bob")),
        "the policy's namespace selector must follow bob's namespace: {policy:#}"
    );
    // The inventories are per context and owner, in each checkout.
    let inv = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir.join(".devenv/inventory"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(
        inv(&t.alice).iter().all(|n| n.ends_with(".alice.json")) && !inv(&t.alice).is_empty(),
        "{:?}",
        inv(&t.alice)
    );
    assert!(
        inv(&t.bob).iter().all(|n| n.ends_with(".bob.json")) && !inv(&t.bob).is_empty(),
        "{:?}",
        inv(&t.bob)
    );
}

#[test]
fn a_namespace_someone_else_owns_is_refused() {
    let t = team();
    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    // Another project whose manifests also use namespace `shop`, deployed by the same
    // owner, maps onto shop-alice: labelled for project shop, so devenv must not use it.
    let before = owned_by(&t.sb, "alice");
    let other = t.sb.root.path().join("other");
    checkout(
        &other,
        &devenv_toml(CLUSTER_KEYS, "").replace("name = \"shop\"", "name = \"other\""),
    );
    let r = dev(&t.sb, &other, "alice", &["up"]);
    assert_eq!(
        r.code, 1,
        "up into a namespace of another project must fail: {r:?}"
    );
    assert!(
        r.stderr.contains("shop-alice") && r.stderr.contains("belongs to"),
        "{r:?}"
    );
    let applied: Vec<String> = r
        .calls
        .iter()
        .filter(|c| c.has(&["apply"]))
        .map(Call::line)
        .collect();
    assert!(
        applied.is_empty(),
        "applied into someone else's namespace: {applied:#?}"
    );
    assert_eq!(owned_by(&t.sb, "alice"), before);
}

// ---------------------------------------------------------------------------------------
// 3. down: exactly the owner's objects

#[test]
fn down_removes_only_the_owners_objects_and_keeps_the_cluster() {
    let t = team();
    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    dev_ok(&t.sb, &t.bob, "bob", &["up"]);
    let bobs = owned_by(&t.sb, "bob");
    let others: Vec<Obj> = objects(&t.sb, "shared")
        .into_iter()
        .filter(|o| o.label("devenv.dev/owner").is_none())
        .collect();

    let r = dev_ok(&t.sb, &t.alice, "alice", &["down"]);
    only_shared_context(&r);
    assert!(
        r.calls
            .iter()
            .all(|c| !c.argv.iter().any(|a| a.contains("shop-bob"))),
        "alice's down named bob's namespace: {r:?}"
    );
    assert!(
        owned_by(&t.sb, "alice").is_empty(),
        "alice's objects remain: {:?}",
        ids(&owned_by(&t.sb, "alice"))
    );
    assert_eq!(owned_by(&t.sb, "bob"), bobs, "bob's objects changed");
    let rest: Vec<Obj> = objects(&t.sb, "shared")
        .into_iter()
        .filter(|o| o.label("devenv.dev/owner").is_none())
        .collect();
    assert_eq!(
        rest, others,
        "objects of no developer changed (Calico, kube-system)"
    );
    assert!(
        t.sb.world()["clusters"]["shared"].is_object(),
        "the cluster is gone"
    );
    assert!(
        !t.alice
            .join(".devenv/inventory")
            .read_dir()
            .map(|mut d| d.next().is_some())
            .unwrap_or(false),
        "alice's inventory was kept after down"
    );

    // A second down has nothing left to delete, and says so without failing.
    let again = dev_ok(&t.sb, &t.alice, "alice", &["down"]);
    only_shared_context(&again);
    assert_eq!(owned_by(&t.sb, "bob"), bobs);

    // And an up after down recreates alice's objects (the journal does not skip them).
    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    assert_eq!(ids(&owned_by(&t.sb, "alice")), expected_for("alice"));
}

#[test]
fn down_without_the_inventory_finds_the_owners_objects_by_label() {
    let t = team();
    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    dev_ok(&t.sb, &t.bob, "bob", &["up"]);
    let bobs = owned_by(&t.sb, "bob");
    // Another machine, or `.devenv` deleted: no inventory, no journal.
    std::fs::remove_dir_all(t.alice.join(".devenv")).unwrap();

    let r = dev_ok(&t.sb, &t.alice, "alice", &["down"]);
    only_shared_context(&r);
    let selector =
        "app.kubernetes.io/managed-by=devenv,devenv.dev/project=shop,devenv.dev/owner=alice";
    assert!(
        r.calls.iter().any(|c| c.has(&["delete", "-l", selector])),
        "no delete by alice's labels: {r:?}"
    );
    assert!(
        owned_by(&t.sb, "alice").is_empty(),
        "left: {:?}",
        ids(&owned_by(&t.sb, "alice"))
    );
    assert_eq!(owned_by(&t.sb, "bob"), bobs, "bob's objects changed");
}

/// The inventory is a file in `.devenv/`: a stale one, or one a cloned repository planted,
/// naming objects alice never applied (bob's Deployment, a ConfigMap of nobody's). Neither
/// `down` nor the prune of `up` deletes them: only what carries alice's labels goes.
#[test]
fn a_planted_inventory_deletes_nothing_without_the_owners_labels() {
    let t = team();
    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    dev_ok(&t.sb, &t.bob, "bob", &["up"]);
    let cm = t.sb.write(
        "cluster-settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-settings\n  namespace: kube-system\ndata:\n  a: b\n",
    );
    admin(
        &t.sb,
        &["apply", "--server-side", "-f", &cm.display().to_string()],
    );
    let plant = |dir: &Path| {
        let inv_dir = dir.join(".devenv/inventory");
        let file = std::fs::read_dir(&inv_dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "json"))
            .expect("alice's inventory");
        let mut store: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let overlay = store["overlays"]
            .as_object_mut()
            .unwrap()
            .values_mut()
            .next()
            .unwrap();
        let objects = overlay["objects"].as_array_mut().unwrap();
        objects.push(json!({"api_version":"apps/v1","kind":"Deployment","namespace":"shop-bob","name":"web"}));
        objects.push(json!({"api_version":"v1","kind":"ConfigMap","namespace":"kube-system","name":"cluster-settings"}));
        std::fs::write(&file, serde_json::to_string(&store).unwrap()).unwrap();
    };
    let bobs = owned_by(&t.sb, "bob");
    let still_there = |sb: &Sandbox| {
        let all = objects(sb, "shared");
        assert!(find(&all, "ConfigMap", Some("kube-system"), "cluster-settings").is_some());
        assert_eq!(owned_by(sb, "bob"), bobs, "bob's objects changed");
    };

    // The prune of `up`: the planted refs are not rendered, so they look removed.
    plant(&t.alice);
    let r = dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    still_there(&t.sb);
    assert!(
        r.stderr
            .contains("does not carry this project's and owner's labels: left in place"),
        "{r:?}"
    );

    // `down`.
    plant(&t.alice);
    let r = dev_ok(&t.sb, &t.alice, "alice", &["down"]);
    still_there(&t.sb);
    assert!(
        owned_by(&t.sb, "alice").is_empty(),
        "{:?}",
        ids(&owned_by(&t.sb, "alice"))
    );
    assert!(r.stderr.contains("left in place"), "{r:?}");
}

// ---------------------------------------------------------------------------------------
// 4. pruning

#[test]
fn objects_removed_from_the_overlay_are_pruned_and_the_rest_stays() {
    let t = team();
    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    dev_ok(&t.sb, &t.bob, "bob", &["up"]);
    let bobs = owned_by(&t.sb, "bob");
    let kept_before = owned_by(&t.sb, "alice");

    // alice drops the worker Deployment and the settings ConfigMap from her overlay.
    let k = t.alice.join("k8s/app/kustomization.yaml");
    let text = std::fs::read_to_string(&k).unwrap();
    std::fs::write(
        &k,
        text.replace("  - worker.yaml\n", "")
            .replace("  - settings.yaml\n", ""),
    )
    .unwrap();

    let r = dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    only_shared_context(&r);
    let deletes: Vec<&Call> = r.calls.iter().filter(|c| c.has(&["delete"])).collect();
    assert!(!deletes.is_empty(), "nothing deleted: {r:?}");
    for d in &deletes {
        assert!(
            d.has(&["-n", "shop-alice"]),
            "a prune outside alice's namespace: {}",
            d.line()
        );
    }
    let mine = owned_by(&t.sb, "alice");
    let ns = "shop-alice";
    assert!(
        find(&mine, "Deployment", Some(ns), "worker").is_none(),
        "worker not pruned"
    );
    assert!(
        find(&mine, "ConfigMap", Some(ns), "settings").is_none(),
        "settings not pruned"
    );
    for (kind, name) in [
        ("Deployment", "web"),
        ("Service", "web"),
        ("NetworkPolicy", "web-from-shop"),
    ] {
        let now = find(&mine, kind, Some(ns), name)
            .unwrap_or_else(|| panic!("{kind}/{name} was deleted"));
        let then = find(&kept_before, kind, Some(ns), name).unwrap();
        assert_eq!(now.uid, then.uid, "{kind}/{name} was recreated");
    }
    assert!(find(&mine, "Namespace", None, ns).is_some());
    // bob still has his worker and settings.
    assert_eq!(owned_by(&t.sb, "bob"), bobs);

    // Nothing left to prune: the next up deletes nothing.
    let again = dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    assert!(!again.calls.iter().any(|c| c.has(&["delete"])), "{again:?}");

    // Put one back: applied again, nothing else deleted.
    std::fs::write(
        &k,
        std::fs::read_to_string(&k)
            .unwrap()
            .replace("  - web.yaml\n", "  - web.yaml\n  - settings.yaml\n"),
    )
    .unwrap();
    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    let mine = owned_by(&t.sb, "alice");
    assert!(find(&mine, "ConfigMap", Some(ns), "settings").is_some());
    assert!(find(&mine, "Deployment", Some(ns), "worker").is_none());
}

// ---------------------------------------------------------------------------------------
// 5. context safety

#[test]
fn without_a_chosen_context_nothing_runs_even_with_a_current_context() {
    let t = team();
    std::fs::write(t.alice.join("devenv.toml"), devenv_toml("", "")).unwrap();
    let prod_before = t.sb.world()["clusters"]["prod"].clone();
    let r = dev(&t.sb, &t.alice, "alice", &["up"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("--context"),
        "the error must name --context: {r:?}"
    );
    assert!(
        r.stderr.contains("current-context"),
        "and say the current-context is not used: {r:?}"
    );
    assert!(r.calls.is_empty(), "something ran: {r:?}");
    assert_eq!(t.sb.world()["clusters"]["prod"], prod_before);
    // plan refuses too: it would print commands against some context.
    let p = dev(&t.sb, &t.alice, "alice", &["plan"]);
    assert_eq!(p.code, 2, "{p:?}");

    // DEVENV_CONTEXT is the same choice as --context.
    t.sb.clear_calls();
    let o =
        t.sb.devenv(["up"])
            .current_dir(&t.alice)
            .env("DEVENV_OWNER", "alice")
            .env("DEVENV_CONTEXT", SHARED)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(ids(&owned_by(&t.sb, "alice")), expected_for("alice"));
    assert_eq!(t.sb.world()["clusters"]["prod"], prod_before);
}

#[test]
fn a_context_outside_allowed_contexts_or_the_kubeconfig_is_refused() {
    let t = team();
    let prod_before = t.sb.world()["clusters"]["prod"].clone();
    let write =
        |keys: &str| std::fs::write(t.alice.join("devenv.toml"), devenv_toml(keys, "")).unwrap();

    // devenv.toml names prod, which its own allowed_contexts does not allow.
    write("context = \"k3d-prod\"\nallowed_contexts = [\"k3d-shared\", \"k3d-staging-*\"]\n");
    let r = dev(&t.sb, &t.alice, "alice", &["up"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("allowed_contexts") && r.stderr.contains("k3d-prod"),
        "{r:?}"
    );
    assert!(r.calls.is_empty(), "something ran: {r:?}");

    // The usual file: --context (or DEVENV_CONTEXT) cannot get around the guard either,
    // for any command that reaches the cluster.
    write(CLUSTER_KEYS);
    for args in [
        &["up"][..],
        &["down"][..],
        &["reset", "--yes"][..],
        &["status"][..],
        &["apply"][..],
        &["plan"][..],
    ] {
        let mut with = vec!["--context", PROD];
        with.extend_from_slice(args);
        let r = dev(&t.sb, &t.alice, "alice", &with);
        assert_eq!(r.code, 2, "devenv {with:?}: {r:?}");
        assert!(
            r.stderr.contains("allowed_contexts") && r.stderr.contains("k3d-prod"),
            "{r:?}"
        );
        assert!(r.calls.is_empty(), "devenv {with:?}: {r:?}");
    }
    // A context the kubeconfig does not have (allowed by the pattern).
    let r = dev(
        &t.sb,
        &t.alice,
        "alice",
        &["--context", "k3d-staging-eu", "up"],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("k3d-staging-eu") && r.stderr.contains("not in your kubeconfig"),
        "{r:?}"
    );
    assert!(
        r.stderr.contains(SHARED),
        "the error lists the contexts there are: {r:?}"
    );
    assert!(r.calls.is_empty(), "{r:?}");
    assert_eq!(t.sb.world()["clusters"]["prod"], prod_before);

    // --context overrides the file's context: the file names a staging cluster this
    // machine does not have, the flag picks the shared one.
    write("context = \"k3d-staging-eu\"\nallowed_contexts = [\"k3d-shared\", \"k3d-staging-*\"]\n");
    assert_eq!(dev(&t.sb, &t.alice, "alice", &["up"]).code, 2);
    let r = dev_ok(&t.sb, &t.alice, "alice", &["--context", SHARED, "up"]);
    only_shared_context(&r);
    assert_eq!(ids(&owned_by(&t.sb, "alice")), expected_for("alice"));
    assert_eq!(t.sb.world()["clusters"]["prod"], prod_before);
}

#[test]
fn a_k3d_project_refuses_context() {
    let sb = Sandbox::new();
    sb.write(
        "devenv.toml",
        "version = 1\n\n[project]\nname = \"laptop\"\n",
    );
    let o = sb.devenv(["--context", SHARED, "plan"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("provider = \"existing\""), "{err}");
    assert!(sb.calls().is_empty());
}

// ---------------------------------------------------------------------------------------
// 6. status and build

#[test]
fn status_reports_the_shared_clusters_health() {
    let t = team();
    // Before any up: the nodes answer, the overlay is not applied yet.
    let r = dev(&t.sb, &t.alice, "alice", &["status"]);
    assert_eq!(r.code, 4, "{r:?}");
    only_shared_context(&r);
    assert!(r.stdout.contains("not applied yet"), "{r:?}");

    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    let r = dev_ok(&t.sb, &t.alice, "alice", &["status", "-o", "json"]);
    only_shared_context(&r);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"));
    assert_eq!(doc["healthy"], true, "{doc:#}");
    assert_eq!(
        doc["context"], SHARED,
        "status must report the context it read: {doc:#}"
    );
    let comps = doc["components"].as_array().unwrap();
    let comp = |c: &str| {
        comps
            .iter()
            .find(|x| x["component"] == c)
            .unwrap_or_else(|| panic!("no {c} in {doc:#}"))
    };
    assert_eq!(comp("nodes")["name"], "2 nodes", "{doc:#}");
    assert_eq!(comp("nodes")["healthy"], true);
    assert_eq!(comp("overlay")["name"], "app");
    assert_eq!(comp("overlay")["healthy"], true);
    for c in comps {
        assert!(
            c["component"] != "cluster" && c["component"] != "registry" && c["component"] != "k3d",
            "a k3d component on an existing cluster: {c}"
        );
    }
    // Text output: one line per component.
    let r = dev_ok(&t.sb, &t.alice, "alice", &["status"]);
    assert!(
        r.stdout.contains("nodes") && r.stdout.contains("all Ready"),
        "{r:?}"
    );

    // A node goes NotReady (Calico's installation removed): status says unhealthy, exit 4.
    admin(
        &t.sb,
        &["delete", "installation.operator.tigera.io", "default"],
    );
    let r = dev(&t.sb, &t.alice, "alice", &["status"]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stdout.contains("UNHEALTHY"), "{r:?}");
}

#[test]
fn build_with_an_external_registry_needs_no_cluster_and_status_sees_the_image() {
    let t = team();
    let reg = start_registry();
    let toml = devenv_toml(CLUSTER_KEYS, "\n[[images]]\nname = \"api\"\ncontext = \"api\"\nstands_for = \"ghcr.io/example/shop-api\"\n")
        .replace("registry.example.test/team", &format!("{}/team", reg.addr));
    std::fs::write(t.alice.join("devenv.toml"), toml).unwrap();
    std::fs::create_dir_all(t.alice.join("api")).unwrap();
    std::fs::write(
        t.alice.join("api/Dockerfile"),
        "FROM scratch\nCOPY app.txt /\n",
    )
    .unwrap();
    std::fs::write(t.alice.join("api/app.txt"), "v1\n").unwrap();

    let r = dev_ok(&t.sb, &t.alice, "alice", &["build"]);
    let to_cluster: Vec<String> = r
        .calls
        .iter()
        .filter(|c| talks_to_cluster(c))
        .map(Call::line)
        .collect();
    assert!(
        to_cluster.is_empty(),
        "build asked the cluster: {to_cluster:#?}"
    );
    assert!(r.calls.iter().all(|c| c.tool != "k3d"), "{r:?}");
    let pushed: Vec<&Call> = r
        .calls
        .iter()
        .filter(|c| c.tool == "docker" && c.has(&["push"]))
        .collect();
    assert_eq!(pushed.len(), 1, "{r:?}");
    let reference = pushed[0].argv.last().unwrap().clone();
    assert!(
        reference.starts_with(&format!("{}/team/api:", reg.addr)),
        "{reference}"
    );

    // A teammate's checkout with the same sources finds the tag and builds nothing.
    let bob_toml = std::fs::read_to_string(t.alice.join("devenv.toml")).unwrap();
    std::fs::write(t.bob.join("devenv.toml"), bob_toml).unwrap();
    copy_dir(&t.alice.join("api"), &t.bob.join("api"));
    let r = dev_ok(&t.sb, &t.bob, "bob", &["build"]);
    assert!(
        r.calls
            .iter()
            .all(|c| c.tool != "docker" || c.has(&["version"])),
        "bob rebuilt: {r:?}"
    );

    // status reads the registry for the image, and the shared cluster for the rest.
    let r = dev(&t.sb, &t.alice, "alice", &["status", "-o", "json"]);
    only_shared_context(&r);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"));
    let image = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "image")
        .cloned()
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(image["healthy"], true, "{doc:#}");
    assert!(
        image["detail"].as_str().unwrap().contains(&reference),
        "{doc:#}"
    );
    assert_eq!(
        doc["registry"]["host"],
        format!("{}/team", reg.addr),
        "{doc:#}"
    );

    // up deploys the pushed reference (the registry's address, not localhost).
    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    let rendered =
        std::fs::read_to_string(t.alice.join(".devenv/rendered/app.yaml")).unwrap_or_default();
    assert!(!rendered.contains("localhost:"), "{rendered}");
}

// ---------------------------------------------------------------------------------------
// 7. reset

#[test]
fn reset_deletes_only_the_owners_objects_then_applies_them_again() {
    let t = team();
    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    dev_ok(&t.sb, &t.bob, "bob", &["up"]);
    let alice_before = owned_by(&t.sb, "alice");
    let bobs = owned_by(&t.sb, "bob");

    let r = dev_ok(&t.sb, &t.alice, "alice", &["reset", "--yes"]);
    only_shared_context(&r);
    let first_delete = r
        .calls
        .iter()
        .position(|c| c.has(&["delete"]))
        .unwrap_or_else(|| panic!("nothing deleted: {r:?}"));
    let last_apply = r
        .calls
        .iter()
        .rposition(|c| c.has(&["apply"]))
        .unwrap_or_else(|| panic!("nothing applied: {r:?}"));
    assert!(
        first_delete < last_apply,
        "reset must delete, then apply: {r:?}"
    );
    for c in r.calls.iter().filter(|c| c.has(&["delete"])) {
        assert!(
            !c.argv.iter().any(|a| a.contains("shop-bob")),
            "reset touched bob: {}",
            c.line()
        );
    }
    // alice's objects are back (new objects: new uids), bob's never moved.
    let alice_after = owned_by(&t.sb, "alice");
    assert_eq!(ids(&alice_after), expected_for("alice"));
    for o in &alice_after {
        let old = alice_before.iter().find(|b| b.id() == o.id()).unwrap();
        assert_ne!(old.uid, o.uid, "{} was not recreated by reset", o.id());
    }
    assert_eq!(owned_by(&t.sb, "bob"), bobs, "reset changed bob's objects");
}

// ---------------------------------------------------------------------------------------
// more of the same world

#[test]
fn the_context_may_live_in_any_file_of_a_kubeconfig_list() {
    let t = team();
    // KUBECONFIG=laptop:default, the shared context in the second file: devenv must let
    // kubectl merge the list (as the user's own kubectl does), not pick one file.
    let laptop = t.sb.root.path().join("laptop-kubeconfig");
    std::fs::write(
        &laptop,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: laptop\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: laptop\n  context:\n    cluster: laptop\n    user: me\ncurrent-context: laptop\nusers:\n- name: me\n  user:\n    token: x\n",
    )
    .unwrap();
    let list = std::env::join_paths([laptop.clone(), t.sb.default_kubeconfig()])
        .unwrap()
        .into_string()
        .unwrap();
    let snapshots = || {
        [laptop.clone(), t.sb.default_kubeconfig()].map(|p| {
            (
                devenv::kubeconfig::snapshot(&p).unwrap(),
                std::fs::read(&p).unwrap(),
            )
        })
    };
    let before = snapshots();
    t.sb.clear_calls();
    let o =
        t.sb.devenv(["up"])
            .current_dir(&t.alice)
            .env("DEVENV_OWNER", "alice")
            .env("KUBECONFIG", &list)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
    let calls = t.sb.calls();
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stderr),
        lines(&calls).join("\n")
    );
    for c in calls.iter().filter(|c| talks_to_cluster(c)) {
        assert_eq!(context_of(c).as_deref(), Some(SHARED), "{}", c.line());
        assert!(
            !c.argv.iter().any(|a| a.starts_with("--kubeconfig")),
            "{}",
            c.line()
        );
        assert_eq!(
            c.kubeconfig_env.as_deref(),
            Some(list.as_str()),
            "{}",
            c.line()
        );
    }
    assert_eq!(ids(&owned_by(&t.sb, "alice")), expected_for("alice"));
    assert!(snapshots() == before, "a kubeconfig of the list changed");
}

#[test]
fn namespaces_declared_in_devenv_toml_are_the_owners_too() {
    let t = team();
    let extra = "\n[namespaces.shop]\npod_security = \"baseline\"\ndefault_deny = true\n";
    for dir in [&t.alice, &t.bob] {
        std::fs::write(dir.join("devenv.toml"), devenv_toml(CLUSTER_KEYS, extra)).unwrap();
    }
    let r = dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    only_shared_context(&r);
    dev_ok(&t.sb, &t.bob, "bob", &["up"]);

    let all = objects(&t.sb, "shared");
    for owner in ["alice", "bob"] {
        let ns = format!("shop-{owner}");
        let n = find(&all, "Namespace", None, &ns).expect("the owner's namespace");
        assert_eq!(n.label("devenv.dev/owner"), Some(owner), "{n:?}");
        assert_eq!(
            n.label("pod-security.kubernetes.io/enforce"),
            Some("baseline"),
            "{n:?}"
        );
        let policies: Vec<&Obj> = all
            .iter()
            .filter(|o| o.kind == "NetworkPolicy" && o.namespace.as_deref() == Some(ns.as_str()))
            .collect();
        assert!(
            policies.len() >= 2,
            "no default-deny policy in {ns}: {:?}",
            ids(&all)
        );
        for p in policies {
            assert_eq!(p.label("devenv.dev/owner"), Some(owner), "{}", p.id());
        }
    }
    assert!(find(&all, "Namespace", None, "shop").is_none());
    assert!(
        !all.iter()
            .any(|o| o.kind == "NetworkPolicy" && o.namespace.as_deref() == Some("shop")),
        "a policy in the unmapped namespace"
    );

    // [namespaces] dropped from alice's devenv.toml: its default policies are pruned, the
    // namespace stays (her overlay declares it too).
    let bobs = owned_by(&t.sb, "bob");
    std::fs::write(t.alice.join("devenv.toml"), devenv_toml(CLUSTER_KEYS, "")).unwrap();
    let r = dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    only_shared_context(&r);
    assert_eq!(
        ids(&owned_by(&t.sb, "alice")),
        expected_for("alice"),
        "{r:?}"
    );
    assert_eq!(owned_by(&t.sb, "bob"), bobs);

    // down deletes the rest, and nothing of bob's.
    dev_ok(&t.sb, &t.alice, "alice", &["down"]);
    assert!(
        owned_by(&t.sb, "alice").is_empty(),
        "{:?}",
        ids(&owned_by(&t.sb, "alice"))
    );
    assert_eq!(owned_by(&t.sb, "bob"), bobs);
}

#[test]
fn two_developers_can_run_up_at_the_same_time() {
    let t = team();
    let spawn = |dir: &Path, owner: &str| -> Child {
        let mut c = Command::new(env!("CARGO_BIN_EXE_devenv"));
        c.env_clear()
            .envs(t.sb.envs())
            .env("DEVENV_OWNER", owner)
            .current_dir(dir)
            .arg("up")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().expect("spawn devenv")
    };
    let (a, b) = (spawn(&t.alice, "alice"), spawn(&t.bob, "bob"));
    for (who, child) in [("alice", a), ("bob", b)] {
        let o = child.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "{who}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert_eq!(ids(&owned_by(&t.sb, "alice")), expected_for("alice"));
    assert_eq!(ids(&owned_by(&t.sb, "bob")), expected_for("bob"));
}

#[test]
fn up_json_names_the_existing_context_and_the_users_kubeconfig() {
    let t = team();
    let r = dev_ok(&t.sb, &t.alice, "alice", &["up", "-o", "json"]);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"));
    assert_eq!(doc["context"], SHARED, "{doc:#}");
    assert_eq!(doc["result"], "success");
    // The kubeconfig to use with that context is the user's own (devenv wrote none).
    assert_eq!(
        doc["kubeconfig"].as_str(),
        Some(t.sb.default_kubeconfig().to_str().unwrap()),
        "{doc:#}"
    );
    assert_eq!(doc["registry"]["host"], "registry.example.test/team");
    let steps: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(
        steps.contains(&"cluster-check") && steps.contains(&"prune"),
        "{steps:?}"
    );
}

#[test]
fn an_overlay_dropped_from_devenv_toml_is_pruned_even_the_last_one() {
    let t = team();
    let extra = "\n[[overlays]]\nname = \"extra\"\npath = \"k8s/extra\"\ndepends_on = [\"app\"]\ntimeout = \"20s\"\n";
    for dir in [&t.alice, &t.bob] {
        std::fs::write(dir.join("devenv.toml"), devenv_toml(CLUSTER_KEYS, extra)).unwrap();
        let owner = if dir == &t.alice { "alice" } else { "bob" };
        dev_ok(&t.sb, dir, owner, &["up"]);
    }
    let flags = |owner: &str| {
        find(
            &owned_by(&t.sb, owner),
            "ConfigMap",
            Some(&format!("shop-{owner}")),
            "feature-flags",
        )
        .cloned()
    };
    assert!(flags("alice").is_some() && flags("bob").is_some());
    let bobs = owned_by(&t.sb, "bob");

    // alice drops the extra overlay: its ConfigMap goes, the app overlay's objects stay.
    std::fs::write(t.alice.join("devenv.toml"), devenv_toml(CLUSTER_KEYS, "")).unwrap();
    let r = dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    only_shared_context(&r);
    assert!(
        flags("alice").is_none(),
        "the dropped overlay's ConfigMap remains: {r:?}"
    );
    assert_eq!(ids(&owned_by(&t.sb, "alice")), expected_for("alice"));

    // Then every overlay: nothing of alice's is left, as after `down`.
    let none = devenv_toml(CLUSTER_KEYS, "").replace(
        "[[overlays]]\nname = \"app\"\npath = \"k8s/app\"\ntimeout = \"20s\"\n",
        "",
    );
    assert!(!none.contains("[[overlays]]"), "{none}");
    std::fs::write(t.alice.join("devenv.toml"), none).unwrap();
    let r = dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    only_shared_context(&r);
    assert!(
        owned_by(&t.sb, "alice").is_empty(),
        "left: {:?}\n{r:?}",
        ids(&owned_by(&t.sb, "alice"))
    );
    assert_eq!(owned_by(&t.sb, "bob"), bobs, "bob's objects changed");
}

#[test]
fn a_cluster_without_a_policy_cni_is_used_with_a_warning() {
    let t = team();
    admin(
        &t.sb,
        &["-n", "calico-system", "delete", "daemonset", "calico-node"],
    );
    let r = dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    assert!(
        r.stderr
            .contains("no NetworkPolicy-enforcing CNI found in context k3d-shared"),
        "{r:?}"
    );
    assert_eq!(ids(&owned_by(&t.sb, "alice")), expected_for("alice"));
}
