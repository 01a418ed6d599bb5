//! `devenv up` runs a unit's hooks in Helm's order around its objects, against the fakes:
//! an overlay whose objects carry `helm.sh/hook` annotations (as `helm template` and a
//! `helmCharts:` inflation print them).

use std::time::Duration;

use super::{from_namespaces, hook, objects, overlay};
use crate::support::fake_cluster::{deploy_actions, overlay_project};
use crate::support::{Call, Run, Sandbox};

/// A k3d project without images, verify off, one overlay `app` at k8s/app.
fn project(sb: &Sandbox, name: &str) {
    overlay_project(sb, name, "");
}

fn up(sb: &Sandbox) -> Run {
    Run::of(sb.devenv(["up"]), Duration::from_secs(90))
}

fn hooks_of_the_app() -> Vec<String> {
    vec![
        // Weight 1: after `first`; same name and weight: the ConfigMap before the Job.
        hook(
            "Job",
            "migrate",
            "pre-install,pre-upgrade",
            "1",
            "before-hook-creation,hook-succeeded",
        ),
        hook("ConfigMap", "migrate", "pre-install", "1", ""),
        hook("Job", "seed", "pre-install", "1", ""),
        hook("Job", "first", "pre-install", "-1", "hook-succeeded"),
        hook("Job", "check", "pre-upgrade", "0", "hook-succeeded"),
        hook("Job", "notify", "post-install,post-upgrade", "0", ""),
        // helm create's kind of test: never applied by devenv.
        hook("Pod", "web-test-connection", "test", "0", ""),
        hook("Job", "cleanup", "pre-delete", "0", ""),
    ]
}

#[test]
fn hooks_run_in_helms_order_around_the_unit_and_not_again_on_a_no_op_up() {
    let sb = Sandbox::new();
    project(&sb, "hooks");
    overlay(&sb, "1", &hooks_of_the_app());
    let r = up(&sb);
    assert_eq!(r.code, 0, "{r:?}");
    let actions = deploy_actions(&sb.calls());
    assert_eq!(
        from_namespaces(&actions),
        [
            // First apply of the unit: the install hooks. Namespaces first (hooks live there).
            "apply namespaces.yaml",
            "apply 00-job-first.yaml",
            "wait job/first",
            "delete ConfigMap migrate",
            "apply 01-configmap-migrate.yaml",
            "delete Job.batch migrate",
            "apply 02-job-migrate.yaml",
            "wait job/migrate",
            "delete Job.batch seed",
            "apply 03-job-seed.yaml",
            "wait job/seed",
            // All succeeded: hook-succeeded deletes, last first.
            "delete Job.batch migrate",
            "delete Job.batch first",
            // The unit's objects, ready, then the post-install hooks.
            "apply app.apply.yaml",
            "rollout deployment/web",
            "delete Job.batch notify",
            "apply 00-job-notify.yaml",
            "wait job/notify",
        ],
        "{actions:#?}"
    );
    // hook-succeeded deleted `first` and `migrate`; the others stay, as Helm leaves them;
    // the test and pre-delete hooks were never applied.
    assert_eq!(objects(&sb, "Job"), ["notify", "seed"]);
    assert_eq!(objects(&sb, "ConfigMap"), ["migrate"]);
    assert!(objects(&sb, "Pod").is_empty(), "{:?}", objects(&sb, "Pod"));
    assert!(
        r.text
            .contains("overlay app: pre-install hook job/migrate in shop succeeded"),
        "{r:?}"
    );
    // Hooks are not the unit's objects: not in the inventory that prune and down use.
    let inventory = std::fs::read_dir(sb.path(".devenv/inventory"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert!(inventory.contains("\"web\""), "{inventory}");
    for hook in ["first", "migrate", "seed", "notify", "web-test-connection"] {
        assert!(
            !inventory.contains(&format!("\"{hook}\"")),
            "{hook}: {inventory}"
        );
    }

    // A second up with nothing changed: no hook runs, nothing is pruned or re-created.
    sb.clear_calls();
    let r = up(&sb);
    assert_eq!(r.code, 0, "{r:?}");
    let actions = deploy_actions(&sb.calls());
    assert!(actions.is_empty(), "{actions:#?}");
    assert!(
        !sb.calls().iter().any(|c| c.has(&["delete"])),
        "{:#?}",
        sb.calls().iter().map(Call::line).collect::<Vec<_>>()
    );
    assert_eq!(objects(&sb, "Job"), ["notify", "seed"]);

    // A change: an upgrade, so the upgrade hooks run (and not the install-only ones).
    overlay(&sb, "2", &hooks_of_the_app());
    sb.clear_calls();
    let r = up(&sb);
    assert_eq!(r.code, 0, "{r:?}");
    let actions = deploy_actions(&sb.calls());
    assert_eq!(
        actions,
        [
            "apply namespaces.yaml",
            "apply 00-job-check.yaml",
            "wait job/check",
            "delete Job.batch migrate",
            "apply 01-job-migrate.yaml",
            "wait job/migrate",
            "delete Job.batch migrate",
            "delete Job.batch check",
            "apply app.apply.yaml",
            "rollout deployment/web",
            "delete Job.batch notify",
            "apply 00-job-notify.yaml",
            "wait job/notify",
        ],
        "{actions:#?}"
    );
    // Nothing pruned: the hooks left in place were never the unit's objects.
    assert_eq!(objects(&sb, "Job"), ["notify", "seed"]);
}

#[test]
fn a_failing_pre_install_hook_stops_up_naming_the_hook_with_its_logs() {
    let sb = Sandbox::new();
    project(&sb, "hookfail");
    overlay(
        &sb,
        "1",
        &[hook("Job", "db-migrate", "pre-install", "0", "")],
    );
    std::fs::write(
        sb.state.join("jobs.json"),
        r#"{"shop/db-migrate": {"exit": 1, "log": "connecting to postgres:5432\napplying 0007_orders.sql\nerror: relation \"customers\" does not exist\n"}}"#,
    )
    .unwrap();
    let r = up(&sb);
    assert_eq!(r.code, 1, "{r:?}");
    // The unit's objects were not applied: the step stopped at its pre-install hook.
    let actions = deploy_actions(&sb.calls());
    assert!(
        !actions.iter().any(|a| a == "apply app.apply.yaml"),
        "{actions:#?}"
    );
    assert!(objects(&sb, "Deployment").is_empty());
    let start = r
        .stderr
        .find("overlay app: pre-install hook")
        .unwrap_or_else(|| panic!("{r:?}"));
    let message: String = r.stderr[start..]
        .lines()
        .take_while(|l| !l.contains("stopped at step"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    // The fake's pod name suffix and event times.
    settings.add_filter(r"db-migrate-[0-9a-z]{5}\b", "db-migrate-[POD]");
    settings.bind(|| insta::assert_snapshot!("hook_failed", message));
}

/// The failing hook's Job, fixed: the next `up` runs the hook again (its default policy,
/// before-hook-creation, deletes the failed Job first), then the unit.
#[test]
fn a_fixed_hook_runs_again_and_a_hook_failed_policy_deletes_the_failed_job() {
    let sb = Sandbox::new();
    project(&sb, "hookfix");
    overlay(
        &sb,
        "1",
        &[
            hook("Job", "db-migrate", "pre-install", "0", ""),
            hook("Job", "z-probe", "post-install", "0", "hook-failed"),
        ],
    );
    let fail = |job: &str| {
        std::fs::write(
            sb.state.join("jobs.json"),
            format!(r#"{{"shop/{job}": {{"exit": 1, "log": "failed\n"}}}}"#),
        )
        .unwrap()
    };
    fail("db-migrate");
    let r = up(&sb);
    assert_eq!(r.code, 1, "{r:?}");
    // Its default policy keeps the failed Job (to read), deleting it before the next run.
    assert_eq!(objects(&sb, "Job"), ["db-migrate"]);

    // Fixed, and now the post-install hook fails: hook-failed deletes it.
    fail("z-probe");
    sb.clear_calls();
    let r = up(&sb);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.text
            .contains("overlay app: post-install hook job/z-probe in shop failed"),
        "{r:?}"
    );
    assert!(
        r.text
            .contains("its hook-failed policy deleted the failed Job"),
        "{r:?}"
    );
    let actions = deploy_actions(&sb.calls());
    assert_eq!(
        actions,
        [
            // Still an install: the unit was never deployed.
            "apply namespaces.yaml",
            "delete Job.batch db-migrate",
            "apply 00-job-db-migrate.yaml",
            "wait job/db-migrate",
            "apply app.apply.yaml",
            "rollout deployment/web",
            // A policy is written: no before-hook-creation (Helm's default only without one).
            "apply 00-job-z-probe.yaml",
            "wait job/z-probe",
            "delete Job.batch z-probe",
        ],
        "{actions:#?}"
    );
    assert_eq!(objects(&sb, "Job"), ["db-migrate"]);
    assert_eq!(objects(&sb, "Deployment"), ["web"]);
}

/// A Pod hook is done when its phase is Succeeded (helm pkg/kube/statuswait.go: Jobs and
/// Pods are waited for, other kinds are ready once created); a Failed one stops the step.
#[test]
fn a_pod_hook_is_waited_for_until_it_succeeds_or_fails() {
    let sb = Sandbox::new();
    project(&sb, "hookpod");
    overlay(
        &sb,
        "1",
        &[hook(
            "Pod",
            "smoke",
            "post-install,post-upgrade",
            "0",
            "hook-succeeded",
        )],
    );
    let program = |exit: i32| {
        std::fs::write(
            sb.state.join("jobs.json"),
            format!(
                r#"{{"shop/smoke": {{"exit": {exit}, "log": "GET http://web:80 -> {exit}\n"}}}}"#
            ),
        )
        .unwrap()
    };
    program(0);
    let r = up(&sb);
    assert_eq!(r.code, 0, "{r:?}");
    let calls = sb.calls();
    assert!(
        calls.iter().any(|c| c.has(&[
            "-n",
            "shop",
            "wait",
            "--for=jsonpath={.status.phase}=Succeeded",
            "pod/smoke"
        ])),
        "{:#?}",
        calls.iter().map(Call::line).collect::<Vec<_>>()
    );
    // hook-succeeded: gone.
    assert!(objects(&sb, "Pod").is_empty(), "{:?}", objects(&sb, "Pod"));

    // A change, and now the smoke test fails: the step fails naming the hook.
    program(1);
    overlay(
        &sb,
        "2",
        &[hook(
            "Pod",
            "smoke",
            "post-install,post-upgrade",
            "0",
            "hook-succeeded",
        )],
    );
    let r = up(&sb);
    assert_eq!(r.code, 1, "{r:?}");
    for want in [
        "overlay app: post-upgrade hook pod/smoke in shop failed:",
        "pod/smoke: Failed",
        "container smoke exited 1: Error",
    ] {
        assert!(r.text.contains(want), "missing {want:?}: {r:?}");
    }
    // A failed hook is not deleted by hook-succeeded: it stays to be looked at.
    assert_eq!(objects(&sb, "Pod"), ["smoke"]);
}
