//! `devenv up` runs a unit's hooks in Helm's order around its objects, against the fakes:
//! an overlay whose objects carry `helm.sh/hook` annotations (as `helm template` and a
//! `helmCharts:` inflation print them).

use std::path::Path;
use std::time::Duration;

use crate::support::{free_port, Call, Run, Sandbox, CALICO};

/// A k3d project without images, verify off, one overlay `app` at k8s/app.
fn project(sb: &Sandbox, name: &str) {
    sb.write(
        "devenv.toml",
        &format!(
            "version = 1\n\n[project]\nname = \"{name}\"\n\n[cluster]\napi_port = {}\nagents = 1\ntimeout = \"5m\"\n\n\
             [registry]\nport = {}\n\n[calico]\nmanifests = \"{CALICO}\"\ntimeout = \"5m\"\n\n\
             [verify]\nenabled = false\n\n\
             [[overlays]]\nname = \"app\"\npath = \"k8s/app\"\ntimeout = \"5m\"\n",
            free_port(),
            free_port()
        ),
    );
}

/// k8s/app: namespace `shop`, a Deployment `web` (its `VERSION` env: `version`) and these
/// hook objects.
fn overlay(sb: &Sandbox, version: &str, hooks: &[String]) {
    sb.write(
        "k8s/app/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
    );
    sb.write(
        "k8s/app/web.yaml",
        &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n        - name: web\n          image: docker.io/library/busybox:1.36\n          command: [\"sleep\", \"infinity\"]\n          env:\n            - name: VERSION\n              value: \"{version}\"\n"
        ),
    );
    sb.write("k8s/app/hooks.yaml", &hooks.join("---\n"));
    sb.write(
        "k8s/app/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: shop\nresources:\n  - namespace.yaml\n  - web.yaml\n  - hooks.yaml\n",
    );
}

/// A hook object: a Job (its pod's program is `jobs.json`'s, or `true`), a ConfigMap or a Pod.
fn hook(kind: &str, name: &str, events: &str, weight: &str, policy: &str) -> String {
    let policy = if policy.is_empty() {
        String::new()
    } else {
        format!("    helm.sh/hook-delete-policy: {policy}\n")
    };
    let (api, body) = match kind {
        "Job" => ("batch/v1", format!("spec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: {name}\n          image: docker.io/library/busybox:1.36\n          command: [\"sh\", \"-c\", \"echo {name}\"]\n")),
        "Pod" => ("v1", format!("spec:\n  restartPolicy: Never\n  containers:\n    - name: {name}\n      image: docker.io/library/busybox:1.36\n      command: [\"wget\", \"web:80\"]\n")),
        _ => ("v1", "data:\n  step: \"1\"\n".to_string()),
    };
    format!(
        "apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}\n  annotations:\n    helm.sh/hook: {events}\n    helm.sh/hook-weight: \"{weight}\"\n{policy}{body}"
    )
}

fn up(sb: &Sandbox) -> Run {
    Run::of(sb.devenv(["up"]), Duration::from_secs(90))
}

/// What the deploy path did, in order: applies (by file), deletes and waits of objects,
/// rollouts. The race of a Job's `Failed` with its `Complete` is left out (either may be
/// logged first).
fn deploy_actions(calls: &[Call]) -> Vec<String> {
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
            out.push(format!(
                "delete {} {}",
                after("delete").unwrap(),
                a[a.iter().position(|x| x == "delete").unwrap() + 2]
            ));
        } else if c.has(&["wait", "--for=condition=Complete"]) {
            out.push(format!("wait {}", a.last().unwrap()));
        } else if c.has(&["rollout", "status"]) {
            out.push(format!("rollout {}", after("status").unwrap()));
        }
    }
    out
}

/// The objects of `kind` in namespace shop of the fake cluster, by name.
fn objects(sb: &Sandbox, kind: &str) -> Vec<String> {
    let world = sb.world();
    let mut names: Vec<String> = world["clusters"]
        .as_object()
        .into_iter()
        .flat_map(|c| c.values())
        .flat_map(|c| c["objects"].as_array().cloned().unwrap_or_default())
        .filter(|o| o["kind"] == kind && o["namespace"] == "shop")
        .filter_map(|o| o["name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
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
    let from = actions
        .iter()
        .position(|a| a == "apply namespaces.yaml")
        .unwrap_or_else(|| panic!("{actions:#?}"));
    assert_eq!(
        actions[from..],
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
