//! `devenv up/down/reset/status/doctor/build/apply` end to end against the fake k3d/kubectl:
//! step order, idempotence, failures at every step, signals, ownership, the user's kubeconfig,
//! busy ports, the project lock, status/doctor, recreate, overlays.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    self, alive, copy_dir, journal, json, minimal_toml, wait_until, Call, Run, Sandbox, CALICO,
};

const PROJECTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/projects");

// ---------------------------------------------------------------------------------------
// helpers

/// Ports no other test uses: each test gets its own pair, so parallel runs never collide
/// (the fakes do not bind them, but test 7 does), below the ephemeral range so that no
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
    assert!(r.text.contains("skipped"), "{r:?}");
}

// ---------------------------------------------------------------------------------------
// 3. a failure at each step

struct FailCase {
    name: &'static str,
    tool: &'static str,
    words: &'static [&'static str],
    action: &'static str,
    /// Expected exit status of the failing `up`.
    exit: i32,
    /// The step the message must name.
    step: &'static str,
    /// Part of the command line the message must show.
    shows: &'static str,
    /// Mutating commands that finished before the failure and must not run again.
    not_again: &'static [&'static [&'static str]],
}

const REG: &[&str] = &["registry", "create"];
const CLU: &[&str] = &["cluster", "create"];
const CRDS: &[&str] = &["apply", "-f", ".devenv/calico/operator-crds.yaml"];
const OPER: &[&str] = &["apply", "-f", ".devenv/calico/tigera-operator.yaml"];
const INST: &[&str] = &["apply", "-f", ".devenv/calico/installation.yaml"];

fn fail_cases() -> Vec<FailCase> {
    let c = |name, tool, words, action, exit, step, shows, not_again| FailCase {
        name,
        tool,
        words,
        action,
        exit,
        step,
        shows,
        not_again,
    };
    vec![
        c(
            "k3d-version",
            "k3d",
            &["version", "-o", "json"][..],
            "fail",
            3,
            "preflight",
            "k3d version -o json",
            &[][..],
        ),
        c(
            "k3d-version-garbage",
            "k3d",
            &["version", "-o", "json"],
            "garbage",
            3,
            "preflight",
            "k3d",
            &[],
        ),
        c(
            "kubectl-version-garbage",
            "kubectl",
            &["version", "--client"],
            "garbage",
            3,
            "preflight",
            "kubectl",
            &[],
        ),
        c(
            "node-list-garbage",
            "k3d",
            &["node", "list"],
            "garbage",
            1,
            "preflight",
            "k3d node list -o json",
            &[],
        ),
        c(
            "registry-create",
            "k3d",
            REG,
            "fail",
            1,
            "registry",
            "k3d registry create",
            &[],
        ),
        c(
            "cluster-create",
            "k3d",
            CLU,
            "fail",
            1,
            "cluster",
            "k3d cluster create --config .devenv/k3d-config.yaml",
            &[REG],
        ),
        c(
            "kubeconfig-output",
            "k3d",
            &["kubeconfig", "merge", "--output"],
            "fail",
            1,
            "cluster",
            "k3d kubeconfig merge",
            &[REG, CLU],
        ),
        c(
            "kubeconfig-merge",
            "k3d",
            &["kubeconfig", "merge", "--kubeconfig-merge-default"],
            "fail",
            1,
            "kubeconfig",
            "--kubeconfig-merge-default",
            &[REG, CLU],
        ),
        c(
            "calico-crds-apply",
            "kubectl",
            CRDS,
            "fail",
            1,
            "calico-crds",
            "operator-crds.yaml",
            &[REG, CLU],
        ),
        c(
            "calico-crds-wait",
            "kubectl",
            &["wait", "--for=condition=Established"],
            "fail",
            1,
            "calico-crds",
            "--for=condition=Established",
            &[REG, CLU],
        ),
        c(
            "operator-apply",
            "kubectl",
            OPER,
            "fail",
            1,
            "calico-operator",
            "tigera-operator.yaml",
            &[REG, CLU, CRDS],
        ),
        c(
            "operator-rollout",
            "kubectl",
            &["rollout", "status", "deployment/tigera-operator"],
            "fail",
            1,
            "calico-operator",
            "rollout status deployment/tigera-operator",
            &[REG, CLU, CRDS],
        ),
        c(
            "installation-apply",
            "kubectl",
            INST,
            "fail",
            1,
            "calico-installation",
            "installation.yaml",
            &[REG, CLU, CRDS, OPER],
        ),
        c(
            "tigerastatus-create",
            "kubectl",
            &["wait", "--for=create"],
            "fail",
            1,
            "calico-ready",
            "--for=create",
            &[REG, CLU, CRDS, OPER, INST],
        ),
        c(
            "calico-available",
            "kubectl",
            &["wait", "--for=condition=Available"],
            "fail",
            1,
            "calico-ready",
            "--for=condition=Available",
            &[REG, CLU, CRDS, OPER, INST],
        ),
        c(
            "nodes-ready",
            "kubectl",
            &["wait", "--for=condition=Ready", "nodes"],
            "fail",
            1,
            "calico-ready",
            "nodes --all",
            &[REG, CLU, CRDS, OPER, INST],
        ),
        c(
            // Overlays render first, while the cluster boots: a bad overlay stops `up` before
            // anything is created.
            "overlay-render",
            "kubectl",
            &["kustomize"],
            "fail",
            1,
            "render:base",
            "kubectl kustomize",
            &[],
        ),
        c(
            "overlay-render-garbage",
            "kubectl",
            &["kustomize"],
            "garbage",
            1,
            "render:base",
            "kustomize",
            &[],
        ),
        c(
            "overlay-apply",
            "kubectl",
            &["apply", "-f", "OVERLAY"],
            "fail",
            1,
            "overlay:base",
            "base.apply.yaml",
            &[REG, CLU, CRDS, OPER, INST],
        ),
        c(
            "overlay-rollout",
            "kubectl",
            &["rollout", "status", "deployment/web"],
            "fail",
            1,
            "overlay:base",
            "deployment/web",
            &[REG, CLU, CRDS, OPER, INST],
        ),
        // Hung tools: killed at the step's timeout (short ones in this project), group and all.
        c(
            "calico-crds-wait-hangs",
            "kubectl",
            &["wait", "--for=condition=Established"],
            "hang",
            1,
            "calico-crds",
            "--for=condition=Established",
            &[REG, CLU],
        ),
        c(
            "overlay-rollout-hangs",
            "kubectl",
            &["rollout", "status", "deployment/web"],
            "hang",
            1,
            "overlay:base",
            "deployment/web",
            &[REG, CLU, CRDS, OPER, INST],
        ),
    ]
}

fn check_failure(n: u16, case: &FailCase) -> Result<(), String> {
    let sb = Sandbox::new();
    copy_fixture(&sb, "overlays");
    // Short timeouts: a hung `kubectl wait` is killed once its --timeout (1 s) and the
    // runner's grace have passed.
    let overlay = "\n[[overlays]]\nname = \"base\"\npath = \"k8s/base\"\ntimeout = \"1s\"\n";
    project(&sb, &format!("f{n}"), 20 + n, overlay);
    let toml = sb.read("devenv.toml").replace(
        "timeout = \"20s\"\n\n[verify]",
        "timeout = \"1s\"\n\n[verify]",
    );
    sb.write("devenv.toml", &toml);
    let overlay_file = sb
        .path(".devenv/rendered/base.apply.yaml")
        .display()
        .to_string();
    let words: Vec<&str> = case
        .words
        .iter()
        .map(|w| {
            if *w == "OVERLAY" {
                overlay_file.as_str()
            } else {
                w
            }
        })
        .collect();
    let marker = format!("injected-{}", case.name);
    sb.fault(json!({"tool": case.tool, "match": words, "action": case.action, "stderr": marker, "exit": 1}));

    let started = Instant::now();
    let r = run(&sb, &["up"]);
    let ctx = |what: &str| format!("[{}] {what}\n{r:?}", case.name);
    if r.code != case.exit {
        return Err(ctx(&format!("exit {} instead of {}", r.code, case.exit)));
    }
    let text = r.text.clone();
    for (what, needle) in [("the step", case.step), ("the command", case.shows)] {
        if !text.contains(needle) {
            return Err(ctx(&format!("the message does not show {what} `{needle}`")));
        }
    }
    match case.action {
        "fail" if !text.contains(&marker) => {
            return Err(ctx("the tail of the command's output is not shown"))
        }
        "garbage" if !text.contains("garbage: this is not JSON") => {
            return Err(ctx("the unparsable output is not shown"))
        }
        "hang" if !text.contains("timed out") => {
            return Err(ctx("a hung command is not reported as timed out"))
        }
        _ => {}
    }
    let j: serde_json::Value = serde_json::from_str(&sb.read(".devenv/state.json"))
        .map_err(|e| ctx(&format!("state.json: {e}")))?;
    if j["last_run"]["outcome"] != "failed" || j["last_run"]["stopped_at_step"] != case.step {
        return Err(ctx(&format!("journal's last run: {}", j["last_run"])));
    }
    if case.action == "hang" {
        hung_processes_gone(&sb);
        if started.elapsed() > Duration::from_secs(45) {
            return Err(ctx(&format!(
                "a hung command took {:?} to give up on",
                started.elapsed()
            )));
        }
    }

    sb.clear_faults();
    sb.clear_calls();
    let again = run(&sb, &["up"]);
    if again.code != 0 {
        return Err(format!(
            "[{}] up after removing the fault failed:\n{again:?}",
            case.name
        ));
    }
    let calls = sb.calls();
    for words in case.not_again {
        if calls.iter().any(|c| c.has(words) && c.is_mutating()) {
            return Err(format!(
                "[{}] `{}` finished before the failure but ran again:\n{}",
                case.name,
                words.join(" "),
                lines(&calls).join("\n")
            ));
        }
    }
    Ok(())
}

#[test]
fn garbage_from_a_health_read_falls_back_to_waiting() {
    let sb = Sandbox::new();
    project(&sb, "garble", 23, "");
    up_ok(&sb);
    sb.fault(json!({"tool": "kubectl", "match": ["get", "tigerastatus"], "action": "garbage"}));
    sb.clear_calls();
    up_ok(&sb);
    let calls = sb.calls();
    // It could not read Calico's status: it waits for it instead, and changes nothing.
    first(
        &calls,
        "kubectl",
        &["wait", "--for=condition=Available", "tigerastatus/calico"],
    );
    assert!(
        sb.mutating_calls().is_empty(),
        "{:?}",
        lines(&sb.mutating_calls())
    );
}

#[test]
fn a_failure_at_any_step_is_reported_and_the_next_up_resumes() {
    let cases = fail_cases();
    // Sandboxes are independent: run the cases side by side (the hung ones wait out timeouts).
    let errors: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .enumerate()
            .map(|(i, c)| s.spawn(move || check_failure(i as u16, c)))
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap().err())
            .collect()
    });
    assert!(
        errors.is_empty(),
        "{} of {} cases failed:\n\n{}",
        errors.len(),
        cases.len(),
        errors.join("\n\n")
    );
}

// ---------------------------------------------------------------------------------------
// 4. Ctrl-C and SIGTERM

fn interrupt_during_cluster_create(sig: i32, n: u16) {
    let sb = Sandbox::new();
    project(&sb, &format!("sig{n}"), n, "");
    sb.fault(json!({"tool": "k3d", "match": ["cluster", "create"], "action": "hang", "times": 1}));
    let child = spawn_devenv(&sb, &["up"]);
    let pid = child.id();
    wait_until(
        Duration::from_secs(20),
        "k3d cluster create to start hanging",
        || {
            std::fs::read_dir(&sb.state).unwrap().flatten().any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                // The marker is written once the grandchild runs.
                name.starts_with("hang-")
                    && std::fs::read_to_string(e.path()).is_ok_and(|t| !t.trim().is_empty())
            })
        },
    );
    let sent = Instant::now();
    signal(pid, sig);
    let r = finish(child);
    let took = sent.elapsed();
    assert_eq!(r.code, 130, "signal {sig}: {r:?}");
    assert!(
        took < Duration::from_secs(2),
        "devenv took {took:?} to stop after signal {sig}"
    );
    assert!(r.text.contains("interrupted"), "{r:?}");
    hung_processes_gone(&sb);
    let j = journal(&sb);
    assert_eq!(j["last_run"]["outcome"], "interrupted", "{j:#}");
    assert_eq!(j["steps"]["cluster"]["status"], "interrupted", "{j:#}");

    sb.clear_calls();
    up_ok(&sb);
    let calls = sb.calls();
    assert_eq!(
        count(&calls, "k3d", REG),
        0,
        "the registry was made before the signal:\n{}",
        lines(&calls).join("\n")
    );
    assert_eq!(count(&calls, "k3d", CLU), 1, "{}", lines(&calls).join("\n"));
}

#[test]
fn sigint_during_a_slow_step_stops_everything_and_up_resumes() {
    interrupt_during_cluster_create(2, 4);
}

#[test]
fn sigterm_during_a_slow_step_stops_everything_and_up_resumes() {
    interrupt_during_cluster_create(15, 5);
}

// ---------------------------------------------------------------------------------------
// 5. down deletes only what devenv created

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

#[test]
fn down_deletes_what_up_created() {
    let sb = Sandbox::new();
    project(&sb, "gone", 6, "");
    up_ok(&sb);
    assert_eq!(world_has(&sb, "gone", "k3d-gone-registry"), (true, true));
    sb.clear_calls();
    let r = run(&sb, &["down"]);
    assert_eq!(r.code, 0, "{r:?}");
    let calls = sb.calls();
    assert_eq!(
        count(&calls, "k3d", &["cluster", "delete", "gone"]),
        1,
        "{}",
        lines(&calls).join("\n")
    );
    assert_eq!(
        count(&calls, "k3d", &["registry", "delete", "k3d-gone-registry"]),
        1,
        "{}",
        lines(&calls).join("\n")
    );
    assert_eq!(world_has(&sb, "gone", "k3d-gone-registry"), (false, false));
    assert!(
        !sb.path(".devenv/kubeconfig").exists(),
        "devenv's kubeconfig outlived its cluster"
    );
    // A second down has nothing to do and says so.
    let r = run(&sb, &["down"]);
    assert_eq!(r.code, 0, "{r:?}");
    // And up starts from scratch.
    sb.clear_calls();
    up_ok(&sb);
    assert_eq!(count(&sb.calls(), "k3d", CLU), 1);
}

#[test]
fn down_leaves_a_cluster_and_registry_it_did_not_create_unless_forced() {
    let sb = Sandbox::new();
    let (registry_port, api) = ports(7);
    project(&sb, "theirs", 7, "");
    // Someone else's cluster and registry with the names devenv would use.
    sb.k3d_ok(&[
        "registry",
        "create",
        "theirs-registry",
        "--port",
        &format!("127.0.0.1:{registry_port}"),
        "--no-help",
    ]);
    sb.foreign_cluster("theirs", &["--agents", "1"], api);
    sb.clear_calls();
    let r = run(&sb, &["down"]);
    assert_eq!(r.code, 1, "{r:?}");
    let text = r.text.clone();
    assert!(
        text.contains("cluster theirs") && text.contains("did not create"),
        "{r:?}"
    );
    assert!(text.contains("k3d-theirs-registry"), "{r:?}");
    assert!(
        text.contains("--force"),
        "the message should say how to delete anyway: {r:?}"
    );
    assert!(
        sb.mutating_calls().is_empty(),
        "down deleted something it did not create:\n{}",
        lines(&sb.mutating_calls()).join("\n")
    );
    assert_eq!(
        world_has(&sb, "theirs", "k3d-theirs-registry"),
        (true, true)
    );

    let r = run(&sb, &["down", "--force"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        world_has(&sb, "theirs", "k3d-theirs-registry"),
        (false, false)
    );
}

// ---------------------------------------------------------------------------------------
// 6. the user's kubeconfig

const USER_KUBECONFIG: &str = "apiVersion: v1
kind: Config
preferences: {}
current-context: prod
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTg==
    server: https://prod.example.com:6443
  name: prod
- cluster:
    server: https://127.0.0.1:6444
  name: kind-play
contexts:
- context:
    cluster: prod
    namespace: payments
    user: prod-admin
  name: prod
- context:
    cluster: kind-play
    user: kind-play
  name: kind-play
users:
- name: prod-admin
  user:
    token: secret-token
- name: kind-play
  user:
    client-certificate-data: Y2VydA==
    client-key-data: a2V5
";

fn write_user_kubeconfig(sb: &Sandbox, mode: u32) -> PathBuf {
    let path = sb.default_kubeconfig();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, USER_KUBECONFIG).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn up_and_down_leave_the_rest_of_the_users_kubeconfig_alone() {
    let sb = Sandbox::new();
    project(&sb, "kc", 8, "");
    let path = write_user_kubeconfig(&sb, 0o640);
    let before = devenv::kubeconfig::snapshot(&path).unwrap();

    up_ok(&sb);
    let after_up = devenv::kubeconfig::snapshot(&path).unwrap();
    assert!(
        after_up.contexts.contains_key("k3d-kc"),
        "context not merged: {after_up:?}"
    );
    assert_eq!(
        after_up.current_context.as_deref(),
        Some("prod"),
        "up switched the current context"
    );
    assert_eq!(
        after_up.excluding_context("k3d-kc"),
        before,
        "up changed other entries of the kubeconfig"
    );
    assert_eq!(mode(&path), 0o640, "up changed the kubeconfig's mode");

    let r = run(&sb, &["down"]);
    assert_eq!(r.code, 0, "{r:?}");
    let after_down = devenv::kubeconfig::snapshot(&path).unwrap();
    assert!(
        !after_down.contexts.contains_key("k3d-kc"),
        "down left the context: {after_down:?}"
    );
    assert_eq!(
        after_down, before,
        "down did not restore the kubeconfig's other entries"
    );
    assert_eq!(mode(&path), 0o640, "down changed the kubeconfig's mode");
}

#[test]
fn switch_context_true_switches() {
    let sb = Sandbox::new();
    project(&sb, "sw", 9, "");
    let toml = sb
        .read("devenv.toml")
        .replace("agents = 1\n", "agents = 1\nswitch_context = true\n");
    sb.write("devenv.toml", &toml);
    let path = write_user_kubeconfig(&sb, 0o600);
    let before = devenv::kubeconfig::snapshot(&path).unwrap();
    up_ok(&sb);
    let after = devenv::kubeconfig::snapshot(&path).unwrap();
    assert_eq!(after.current_context.as_deref(), Some("k3d-sw"));
    let mut expected = before.clone();
    expected.current_context = Some("k3d-sw".into());
    assert_eq!(after.excluding_context("k3d-sw"), expected);
    assert_eq!(mode(&path), 0o600);
}

// ---------------------------------------------------------------------------------------
// 7. busy ports

fn busy_port_is_reported_before_anything_is_created(which: &str) {
    let sb = Sandbox::new();
    // A port the kernel picks is free; holding it makes it busy for devenv.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (registry, api) = if which == "registry" {
        (port, ports(10).1)
    } else {
        (ports(11).0, port)
    };
    sb.write(
        "devenv.toml",
        &format!(
            "version = 1\n[project]\nname = \"busy\"\n[cluster]\napi_port = {api}\n[registry]\nport = {registry}\n\
             [calico]\nmanifests = \"{CALICO}\"\n[verify]\nenabled = false\n"
        ),
    );
    let r = run(&sb, &["up"]);
    assert_eq!(r.code, 3, "{r:?}");
    let text = r.text.clone();
    let setting = if which == "registry" {
        "registry.port"
    } else {
        "cluster.api_port"
    };
    assert!(
        text.contains(&port.to_string()) && text.contains(setting),
        "the message should name the port and its setting: {r:?}"
    );
    let me = std::process::id().to_string();
    let exe = std::env::current_exe().unwrap();
    let name = exe.file_name().unwrap().to_string_lossy();
    // /proc/PID/comm is the first 15 bytes of the executable's name.
    let comm: String = name.chars().take(15).collect();
    assert!(
        text.contains(&me) || text.contains(&comm),
        "the holder (pid {me}, {comm}) is not named: {r:?}"
    );
    let calls = sb.calls();
    assert_eq!(
        count(&calls, "k3d", REG) + count(&calls, "k3d", CLU),
        0,
        "created things with a busy port:\n{}",
        lines(&calls).join("\n")
    );
    drop(listener);
}

#[test]
fn a_busy_registry_port_is_reported_with_its_holder() {
    busy_port_is_reported_before_anything_is_created("registry");
}

#[test]
fn a_busy_api_port_is_reported_with_its_holder() {
    busy_port_is_reported_before_anything_is_created("api");
}

// ---------------------------------------------------------------------------------------
// 8. one devenv at a time per project

#[test]
fn a_second_up_in_the_same_project_refuses_or_waits() {
    let sb = Sandbox::new();
    project(&sb, "lock", 12, "");
    // The first up is slow in its Calico wait; the lock is held meanwhile.
    sb.fault(json!({"tool": "kubectl", "match": ["wait", "--for=condition=Available"], "action": "slow", "sleep_ms": 1500, "times": 1}));
    let first = spawn_devenv(&sb, &["up"]);
    wait_until(
        Duration::from_secs(20),
        "the first up to reach Calico",
        || {
            sb.calls()
                .iter()
                .any(|c| c.has(&["wait", "--for=condition=Available"]))
        },
    );
    let second = run(&sb, &["up"]);
    assert_ne!(second.code, 0, "{second:?}");
    let text = second.text.clone();
    assert!(
        text.contains("lock") || text.contains("another devenv"),
        "no lock message: {second:?}"
    );
    assert!(
        text.contains("--wait"),
        "the message should offer --wait: {second:?}"
    );

    // --wait blocks until the first is done, then finds everything in place.
    let waiter = spawn_devenv(&sb, &["up", "--wait"]);
    let r1 = finish(first);
    assert_eq!(r1.code, 0, "{r1:?}");
    let r2 = finish(waiter);
    assert_eq!(r2.code, 0, "{r2:?}");
    assert!(
        r2.text.contains("waiting"),
        "--wait should say what it waits for: {r2:?}"
    );
    assert_eq!(
        count(&sb.calls(), "k3d", CLU),
        1,
        "{}",
        lines(&sb.calls()).join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// 9. status and doctor

#[test]
fn status_reports_health_and_exits_4_when_the_cluster_is_gone() {
    let sb = Sandbox::new();
    copy_fixture(&sb, "overlays");
    project(
        &sb,
        "stat",
        13,
        "\n[[overlays]]\nname = \"base\"\npath = \"k8s/base\"\n",
    );
    up_ok(&sb);
    sb.clear_calls();
    let r = run(&sb, &["status"]);
    assert_eq!(r.code, 0, "{r:?}");
    for component in ["registry", "cluster", "nodes", "calico", "overlay"] {
        assert!(
            r.stdout
                .lines()
                .any(|l| l.starts_with(component) && l.contains(" ok ")),
            "{component} not healthy: {r:?}"
        );
    }
    assert!(
        sb.mutating_calls().is_empty(),
        "status changed something: {:?}",
        lines(&sb.mutating_calls())
    );

    let r = run(&sb, &["status", "-o", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let doc: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("status -o json: {e}\n{r:?}"));
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["healthy"], true);
    assert_eq!(doc["context"], "k3d-stat");
    let components = doc["components"].as_array().unwrap();
    assert!(
        components.len() >= 5 && components.iter().all(|c| c["healthy"] == true),
        "{doc:#}"
    );

    // Deleted behind devenv's back.
    sb.k3d_ok(&["cluster", "delete", "stat"]);
    let r = run(&sb, &["status", "-o", "json"]);
    assert_eq!(r.code, 4, "{r:?}");
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["healthy"], false);
    let cluster = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "cluster")
        .expect("a cluster component");
    assert_eq!(cluster["healthy"], false, "{doc:#}");
    assert!(
        cluster["detail"].as_str().unwrap().contains("devenv up"),
        "the detail should say how to fix it: {doc:#}"
    );
    let r = run(&sb, &["status"]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stdout.contains("UNHEALTHY"), "{r:?}");
}

/// A PATH holding only these fakes (plus the system's tools, without docker).
fn path_with_fakes(sb: &Sandbox, fakes: &[&str]) -> std::ffi::OsString {
    let bin = sb.root.path().join(format!("bin-{}", fakes.join("-")));
    std::fs::create_dir_all(&bin).unwrap();
    for f in fakes {
        std::os::unix::fs::symlink(support::fakes_dir().join(f), bin.join(f)).unwrap();
    }
    let fakes_dir = support::fakes_dir();
    let rest: Vec<PathBuf> = std::env::split_paths(&sb.path_var())
        .filter(|p| *p != fakes_dir)
        .collect();
    std::env::join_paths(std::iter::once(bin).chain(rest)).unwrap()
}

#[test]
fn doctor_says_how_to_fix_a_missing_k3d_and_passes_when_all_is_well() {
    let sb = Sandbox::new();
    project(&sb, "doc", 14, "");
    let r = run(&sb, &["doctor"]);
    assert_eq!(r.code, 0, "{r:?}");
    for tool in ["docker", "k3d", "kubectl", "kustomize"] {
        assert!(
            r.stdout
                .lines()
                .any(|l| l.starts_with("ok") && l.contains(tool)),
            "{tool} not ok: {r:?}"
        );
    }

    let out = sb
        .devenv(["doctor"])
        .env("PATH", path_with_fakes(&sb, &["kubectl", "docker"]))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{text}");
    let k3d_line = text
        .lines()
        .position(|l| l.starts_with("FAIL") && l.contains("k3d"))
        .unwrap_or_else(|| panic!("no failed k3d check:\n{text}"));
    assert!(
        text.lines()
            .nth(k3d_line + 1)
            .is_some_and(|l| l.trim_start().starts_with("fix:") && l.contains("k3d")),
        "no fix for k3d:\n{text}"
    );

    // Without any docker client, doctor fails on it too (k3d needs the daemon; builds the client).
    let out = sb
        .devenv(["doctor"])
        .env("PATH", path_with_fakes(&sb, &["kubectl", "k3d"]))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAIL") && l.contains("docker")),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------
// 10. changes that need the cluster recreated

fn agents_in_world(sb: &Sandbox, cluster: &str) -> usize {
    let nodes: serde_json::Value =
        serde_json::from_str(&sb.k3d_ok(&["node", "list", "-o", "json"])).unwrap();
    nodes
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["role"] == "agent" && n["runtimeLabels"]["k3d.cluster"] == cluster)
        .count()
}

#[test]
fn a_change_that_needs_a_new_cluster_asks_for_recreate() {
    let sb = Sandbox::new();
    project(&sb, "recreate", 15, "");
    let toml = sb.read("devenv.toml");
    sb.write("devenv.toml", &toml.replace("agents = 1\n", "agents = 2\n"));
    up_ok(&sb);
    assert_eq!(agents_in_world(&sb, "recreate"), 2);

    sb.write("devenv.toml", &toml);
    sb.clear_calls();
    for attempt in 0..2 {
        // Not a terminal: no question, an error naming the flag (the second time too).
        let r = run(&sb, &["up"]);
        assert_eq!(r.code, 1, "attempt {attempt}: {r:?}");
        let text = r.text.clone();
        assert!(
            text.contains("agents: 2 -> 1"),
            "attempt {attempt}: the diff is not shown: {r:?}"
        );
        assert!(text.contains("--recreate"), "attempt {attempt}: {r:?}");
        assert!(
            sb.mutating_calls().is_empty(),
            "attempt {attempt}: {:?}",
            lines(&sb.mutating_calls())
        );
        assert_eq!(agents_in_world(&sb, "recreate"), 2);
    }

    let r = run(&sb, &["up", "--recreate"]);
    assert_eq!(r.code, 0, "{r:?}");
    let calls = sb.calls();
    let delete = first(&calls, "k3d", &["cluster", "delete", "recreate"]);
    let create = first(&calls, "k3d", CLU);
    assert!(delete < create, "{}", lines(&calls).join("\n"));
    assert_eq!(
        count(&calls, "k3d", REG),
        0,
        "the registry does not depend on the cluster"
    );
    // Calico goes into the new cluster.
    assert!(first(&calls, "kubectl", CRDS) > create);
    assert_eq!(agents_in_world(&sb, "recreate"), 1);
    // And the new spec is remembered: the next up has nothing to do.
    sb.clear_calls();
    up_ok(&sb);
    assert!(
        sb.mutating_calls().is_empty(),
        "{:?}",
        lines(&sb.mutating_calls())
    );
}

// ---------------------------------------------------------------------------------------
// 11. apply: overlays in order, CRDs first, readable timeouts, no-op re-apply

fn overlay_project(sb: &Sandbox, name: &str, n: u16) -> u16 {
    copy_fixture(sb, "overlays");
    let (registry, _) = ports(n);
    // An image only the local registry could serve, and the registry does not have it.
    sb.write(
        "k8s/broken/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: shop\nresources:\n  - worker.yaml\n",
    );
    sb.write(
        "k8s/broken/worker.yaml",
        &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: worker\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: worker}}\n  \
             template:\n    metadata:\n      labels: {{app: worker}}\n    spec:\n      containers:\n        - name: worker\n          image: localhost:{registry}/worker:never-pushed\n"
        ),
    );
    let extra = overlays_toml("")
        + "\n[[overlays]]\nname = \"widgets\"\npath = \"k8s/widgets\"\ndepends_on = [\"base\"]\n\
           \n[[overlays]]\nname = \"broken\"\npath = \"k8s/broken\"\ndepends_on = [\"base\"]\ntimeout = \"2s\"\n";
    project(sb, name, n, &extra);
    registry
}

fn applied_overlay(c: &Call) -> Option<String> {
    if c.tool != "kubectl" || !c.is_mutating() || !c.has(&["apply"]) {
        return None;
    }
    let file = c.argv.iter().find(|a| a.contains("/rendered/"))?;
    let name = file.rsplit('/').next()?.split('.').next()?;
    Some(name.to_string())
}

#[test]
fn apply_runs_an_overlay_after_what_it_depends_on_and_skips_unchanged_manifests() {
    let sb = Sandbox::new();
    overlay_project(&sb, "apply", 16);
    let r = run(&sb, &["apply", "app"]);
    assert_eq!(r.code, 0, "{r:?}");
    let calls = sb.calls();
    let applied: Vec<String> = calls.iter().filter_map(applied_overlay).collect();
    assert_eq!(
        applied,
        ["base", "db", "app"],
        "{}",
        lines(&calls).join("\n")
    );
    // Each overlay is applied only after the previous one is ready.
    let web_ready = first(&calls, "kubectl", &["rollout", "status", "deployment/web"]);
    let migrated = first(
        &calls,
        "kubectl",
        &["wait", "--for=condition=Complete", "job/migrate"],
    );
    let app_applied = calls
        .iter()
        .position(|c| applied_overlay(c).as_deref() == Some("app"))
        .unwrap();
    assert!(
        web_ready < migrated && migrated < app_applied,
        "{}",
        lines(&calls).join("\n")
    );
    let deploy = sb.kubectl_ok(&[
        "--kubeconfig",
        ".devenv/kubeconfig",
        "--context",
        "k3d-apply",
        "-n",
        "shop",
        "get",
        "deployment",
        "api",
        "-o",
        "json",
    ]);
    assert!(deploy.contains("\"name\": \"api\""), "{deploy}");

    // Unchanged rendered manifests: nothing is applied again.
    sb.clear_calls();
    let r = run(&sb, &["apply", "app"]);
    assert_eq!(r.code, 0, "{r:?}");
    let calls = sb.calls();
    assert!(
        calls.iter().all(|c| !c.is_mutating()),
        "re-applied unchanged manifests:\n{}",
        lines(&calls).join("\n")
    );
    assert!(
        count(&calls, "kubectl", &["kustomize"]) >= 3,
        "overlays are rendered to see whether they changed"
    );

    // A change in one overlay re-applies that one only.
    let api = sb
        .read("k8s/app/api.yaml")
        .replace("replicas: 1", "replicas: 2");
    sb.write("k8s/app/api.yaml", &api);
    sb.clear_calls();
    let r = run(&sb, &["apply", "app"]);
    assert_eq!(r.code, 0, "{r:?}");
    let applied: Vec<String> = sb.calls().iter().filter_map(applied_overlay).collect();
    assert_eq!(applied, ["app"]);
}

#[test]
fn apply_puts_crds_in_place_before_the_resources_that_use_them() {
    let sb = Sandbox::new();
    overlay_project(&sb, "crd", 17);
    let r = run(&sb, &["apply", "widgets"]);
    assert_eq!(r.code, 0, "{r:?}");
    let calls = sb.calls();
    let crd_apply = calls
        .iter()
        .position(|c| {
            c.is_mutating()
                && c.argv
                    .iter()
                    .any(|a| a.contains("/rendered/widgets") && a.contains("crd"))
        })
        .unwrap_or_else(|| panic!("no separate CRD apply:\n{}", lines(&calls).join("\n")));
    let established = first(
        &calls,
        "kubectl",
        &[
            "wait",
            "--for=condition=Established",
            "crd/widgets.example.com",
        ],
    );
    let rest = calls
        .iter()
        .rposition(|c| applied_overlay(c).as_deref() == Some("widgets"))
        .unwrap();
    assert!(
        crd_apply < established && established < rest,
        "{}",
        lines(&calls).join("\n")
    );
    let widget = sb.kubectl_ok(&[
        "--kubeconfig",
        ".devenv/kubeconfig",
        "--context",
        "k3d-crd",
        "-n",
        "shop",
        "get",
        "widget",
        "gizmo",
        "-o",
        "json",
    ]);
    assert!(widget.contains("\"size\": 3"), "{widget}");
    // Other overlays were not asked for.
    assert!(calls
        .iter()
        .filter_map(applied_overlay)
        .all(|o| o == "base" || o == "widgets"));
}

#[test]
fn an_overlay_that_never_gets_ready_names_the_object() {
    let sb = Sandbox::new();
    overlay_project(&sb, "stuck", 18);
    sb.pushed(&[]); // the local registry holds nothing
    let started = Instant::now();
    let r = run(&sb, &["apply", "broken"]);
    assert_eq!(r.code, 1, "{r:?}");
    let text = r.text.clone();
    assert!(
        text.contains("overlay:broken") || text.contains("overlay broken"),
        "{r:?}"
    );
    assert!(
        text.contains("deployment/worker"),
        "the unready object is not named: {r:?}"
    );
    assert!(text.contains("not ready"), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    let j = journal(&sb);
    assert_eq!(j["steps"]["overlay:broken"]["status"], "failed", "{j:#}");
    assert_eq!(j["steps"]["overlay:base"]["status"], "done", "{j:#}");
}

// ---------------------------------------------------------------------------------------
// 1b. image builds overlap the cluster's creation

/// The registry the image test pushes to (a real one, `$DEVENV_TEST_REGISTRY`: scripts/test.sh
/// starts `docker-registry` on a free loopback port). No default port: nothing may assume one.
fn test_registry() -> String {
    std::env::var("DEVENV_TEST_REGISTRY")
        .ok()
        .filter(|s| !s.is_empty())
        .expect("DEVENV_TEST_REGISTRY is not set: run scripts/test.sh (it starts a registry on a free loopback port and sets it), or set it to a registry you started")
}

#[test]
#[ignore = "needs a registry on DEVENV_TEST_REGISTRY (scripts/test.sh starts one)"]
fn image_builds_run_while_the_cluster_is_created() {
    // Realistic durations, scaled down: cluster create 20 s × 0.05 = 1 s, a build 15 s × 0.05.
    let sb = Sandbox::new().with_docker().sleep_scale(0.05);
    let (_, api) = ports(19);
    let registry = test_registry();
    // Content unique to this run: the tag is the content, and a tag already in the shared
    // registry would (rightly) not be built again.
    let nonce = format!(
        "{:?} {}",
        std::time::SystemTime::now(),
        sb.project.display()
    );
    for img in ["api", "worker"] {
        sb.write(
            &format!("{img}/Dockerfile"),
            "FROM scratch\nCOPY nonce.txt /nonce.txt\n",
        );
        sb.write(&format!("{img}/nonce.txt"), &format!("{img} {nonce}\n"));
    }
    sb.write(
        "devenv.toml",
        &format!(
            "version = 1\n[project]\nname = \"overlap\"\n[cluster]\napi_port = {api}\nagents = 1\n\
             [registry]\nprovider = \"external\"\naddress = \"{registry}/devenv-test\"\n\
             [calico]\nmanifests = \"{CALICO}\"\n[verify]\nenabled = false\n\
             [[images]]\nname = \"api\"\ncontext = \"api\"\n[[images]]\nname = \"worker\"\ncontext = \"worker\"\n"
        ),
    );
    let r = run(&sb, &["up"]);
    assert_eq!(r.code, 0, "{r:?}");
    let j = journal(&sb);
    let span = |id: &str| -> (String, String) {
        let s = &j["steps"][id];
        (
            s["started_at"].as_str().unwrap().to_string(),
            s["finished_at"].as_str().unwrap().to_string(),
        )
    };
    // RFC 3339 UTC with the same precision: compare as text.
    let cluster = span("cluster");
    for img in ["image:api", "image:worker"] {
        let b = span(img);
        assert!(
            b.0 < cluster.1 && cluster.0 < b.1,
            "{img} {b:?} did not overlap the cluster {cluster:?}"
        );
    }
    let builds = sb
        .calls()
        .iter()
        .filter(|c| c.tool == "docker" && c.has(&["build"]))
        .count();
    assert_eq!(builds, 2, "{}", lines(&sb.calls()).join("\n"));
    eprintln!(
        "cluster {cluster:?} api {:?} worker {:?}",
        span("image:api"),
        span("image:worker")
    );
    // Every build was pushed and then reused by a second up (no docker command).
    sb.clear_calls();
    up_ok(&sb);
    let calls = sb.calls();
    assert!(
        calls.iter().all(|c| c.tool != "docker"),
        "{}",
        lines(&calls).join("\n")
    );
    assert!(
        sb.mutating_calls().is_empty() && calls.len() <= 6,
        "{}",
        lines(&calls).join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// reset and build

#[test]
fn reset_asks_without_a_terminal_and_rebuilds_with_yes() {
    let sb = Sandbox::new();
    project(&sb, "again2", 20, "");
    up_ok(&sb);
    sb.clear_calls();
    let r = run(&sb, &["reset"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.text.contains("--yes"), "{r:?}");
    assert!(
        sb.mutating_calls().is_empty(),
        "{:?}",
        lines(&sb.mutating_calls())
    );

    let r = run(&sb, &["reset", "--yes"]);
    assert_eq!(r.code, 0, "{r:?}");
    let calls = sb.calls();
    let order = [
        first(&calls, "k3d", &["cluster", "delete", "again2"]),
        first(
            &calls,
            "k3d",
            &["registry", "delete", "k3d-again2-registry"],
        ),
        first(&calls, "k3d", REG),
        first(&calls, "k3d", CLU),
        first(&calls, "kubectl", CRDS),
    ];
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "{}",
        lines(&calls).join("\n")
    );
    assert_eq!(
        world_has(&sb, "again2", "k3d-again2-registry"),
        (true, true)
    );
}

#[test]
fn build_refuses_an_unknown_image() {
    let sb = Sandbox::new();
    project(&sb, "bld", 21, "");
    let r = run(&sb, &["build", "nope"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.text.contains("nope") && r.text.contains("(none)"),
        "{r:?}"
    );
    assert!(sb.calls().is_empty(), "{:?}", lines(&sb.calls()));
    let r = run(&sb, &["apply", "nope"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(sb.calls().is_empty(), "{:?}", lines(&sb.calls()));
}

#[test]
fn up_rebuilds_a_cluster_deleted_behind_its_back() {
    let sb = Sandbox::new();
    copy_fixture(&sb, "overlays");
    project(
        &sb,
        "heal",
        22,
        "\n[[overlays]]\nname = \"base\"\npath = \"k8s/base\"\n",
    );
    up_ok(&sb);
    sb.k3d_ok(&["cluster", "delete", "heal"]);
    sb.clear_calls();
    let r = up_ok(&sb);
    assert!(
        r.text.contains("gone"),
        "the user should hear why the cluster is created again: {r:?}"
    );
    let calls = sb.calls();
    assert_eq!(count(&calls, "k3d", REG), 0, "{}", lines(&calls).join("\n"));
    // Everything that lived in the old cluster is installed into the new one, in order.
    let order = [
        first(&calls, "k3d", CLU),
        first(&calls, "kubectl", CRDS),
        first(&calls, "kubectl", OPER),
        first(&calls, "kubectl", INST),
        calls
            .iter()
            .position(|c| applied_overlay(c).as_deref() == Some("base"))
            .expect("overlay base re-applied"),
    ];
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "{}",
        lines(&calls).join("\n")
    );
    let r = run(&sb, &["status"]);
    assert_eq!(r.code, 0, "{r:?}");
}

// ---------------------------------------------------------------------------------------
// up never takes over a cluster it did not create

#[test]
fn up_refuses_a_same_named_cluster_it_did_not_create() {
    let sb = Sandbox::new();
    let (_, api) = ports(40);
    project(&sb, "foreign", 40, "");
    sb.foreign_cluster("foreign", &[], api);
    sb.clear_calls();
    let r = run(&sb, &["up"]);
    assert_eq!(r.code, 1, "{r:?}");
    let text = r.text.clone();
    assert!(
        text.contains("devenv did not create it") && text.contains("project.name"),
        "{r:?}"
    );
    // Nothing was installed into it, and it is still there.
    assert!(
        !sb.calls()
            .iter()
            .any(|c| c.tool == "kubectl" && c.has(&["apply"])),
        "{:?}",
        sb.calls()
    );
    assert!(sb
        .k3d_ok(&["cluster", "list", "-o", "json"])
        .contains("\"foreign\""));
}
