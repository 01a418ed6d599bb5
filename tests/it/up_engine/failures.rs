//! A failure at each step: reported, and the next `up` resumes.

use super::*;

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
    // How to go on: the command that failed, to run again (engine `rerun_hint`).
    if case.exit != 130 && !text.contains("fix the problem and run `devenv up` again") {
        return Err(ctx("the message does not say to run `devenv up` again"));
    }
    // What the failed command was for (engine `Ctx::run`: "failed to {purpose}: …";
    // preflight words its tool checks itself).
    if case.action == "fail" && case.step != "preflight" && !text.contains("failed to ") {
        return Err(ctx(
            "the message does not say what the failed command was for",
        ));
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
