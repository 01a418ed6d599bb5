//! `devenv diff`: what `up` would change, computed by the (fake) API server's dry run of
//! devenv's apply against the live objects. The example comes up (the registry stub says
//! every image is there, so nothing is built), then objects are changed behind devenv's
//! back by another field manager, or removed from an overlay. `status_drift` reuses its
//! set-up (`example_up`, `address`, `applied_object`).

use std::time::Duration;

use serde_json::Value;

use crate::render::stub::Stub;
use crate::support::{example_sandbox, free_port, Run, Sandbox, CALICO};

pub(crate) fn run(sb: &Sandbox, args: &[&str]) -> Run {
    Run::of(sb.devenv(args), Duration::from_secs(120))
}

/// The example on free ports, the Calico stand-in, verify off, brought up: a first `up`
/// creates the fake's registry and fails to push, then the stub answers on its port that
/// every image is there.
pub(crate) fn example_up() -> (Sandbox, Stub) {
    let registry = free_port();
    let sb = example_sandbox();
    let text = sb
        .read("devenv.toml")
        .replace("port = 5111", &format!("port = {registry}"))
        .replace("api_port = 6550", &format!("api_port = {}", free_port()))
        .replace(
            "[calico]\n",
            &format!("[calico]\nmanifests = \"{CALICO}\"\n"),
        )
        .replace("[verify]\nenabled = true", "[verify]\nenabled = false");
    sb.write("devenv.toml", &text);
    let first = run(&sb, &["up"]);
    assert_eq!(first.code, 1, "{first:?}");
    let stub = Stub::on(registry);
    let up = run(&sb, &["up"]);
    assert_eq!(up.code, 0, "devenv up failed: {up:?}");
    (sb, stub)
}

/// The kubectl address devenv used (`[--kubeconfig K] --context C`), from its calls.
pub(crate) fn address(sb: &Sandbox) -> Vec<String> {
    let call = sb
        .calls()
        .into_iter()
        .find(|c| c.tool == "kubectl" && c.has(&["--context", "apply"]))
        .expect("devenv applied with kubectl");
    let at = call.argv.iter().position(|a| a == "--context").unwrap();
    call.argv[..at + 2].to_vec()
}

/// `kind`'s object named `name` (a prefix: a generated ConfigMap's name ends in a hash) in
/// what `up` applied for unit `unit`: (name, namespace).
pub(crate) fn applied_object(sb: &Sandbox, unit: &str, kind: &str, name: &str) -> (String, String) {
    let text = sb.read(format!(".devenv/rendered/{unit}.apply.yaml"));
    text.split("\n---\n")
        .find_map(|doc| {
            let v: Value = serde_yaml_ng::from_str(doc).ok()?;
            let n = v.pointer("/metadata/name")?.as_str()?;
            (v["kind"] == kind && n.starts_with(name)).then(|| {
                (
                    n.to_string(),
                    v.pointer("/metadata/namespace")
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_string(),
                )
            })
        })
        .unwrap_or_else(|| panic!("no {kind} {name} in:\n{text}"))
}

fn diff_json(sb: &Sandbox, args: &[&str]) -> (i32, Vec<Value>) {
    let mut all = vec!["diff", "-o", "json"];
    all.extend(args);
    let r = run(sb, &all);
    let entries: Vec<Value> =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {r:?}"));
    (r.code, entries)
}

/// The entries that are not `unchanged`, as (unit, kind, name, action, changed_paths).
fn changes(entries: &[Value]) -> Vec<(String, String, String, String, Vec<String>)> {
    entries
        .iter()
        .filter(|e| e["action"] != "unchanged")
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
            let paths = e["changed_paths"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_string())
                .collect();
            (s("unit"), s("kind"), s("name"), s("action"), paths)
        })
        .collect()
}

#[test]
fn diff_after_up_is_clean_and_shows_what_another_field_manager_changed() {
    let (sb, _stub) = example_up();
    let r = run(&sb, &["diff"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{r:?}");
    let (code, entries) = diff_json(&sb, &[]);
    assert_eq!(code, 0);
    assert!(
        !entries.is_empty() && changes(&entries).is_empty(),
        "{entries:?}"
    );

    // Someone scales the api Deployment and edits its ConfigMap, as `kubectl scale` and
    // `kubectl edit` would: another field manager, forcing.
    let (cm, ns) = applied_object(&sb, "app", "ConfigMap", "api-config");
    sb.write(
        "someone-else.yaml",
        &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: {ns}\nspec:\n  replicas: 3\n\
             ---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {cm}\n  namespace: {ns}\ndata:\n  LOG_LEVEL: trace\n"
        ),
    );
    let mut argv = address(&sb);
    argv.extend(
        [
            "apply",
            "--server-side",
            "--field-manager=someone-else",
            "--force-conflicts",
            "-f",
            "someone-else.yaml",
        ]
        .map(String::from),
    );
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    sb.kubectl_ok(&argv);

    sb.clear_calls();
    let r = run(&sb, &["diff"]);
    assert_eq!(r.code, 1, "{r:?}");
    let text = r.stdout.replace(&ns, "NS").replace(&cm, "api-config-HASH");
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!("diff_scaled_and_edited", text));

    let (code, entries) = diff_json(&sb, &[]);
    assert_eq!(code, 1);
    let mut got = changes(&entries);
    got.sort();
    let want = |kind: &str, name: &str, path: &str| {
        (
            "app".to_string(),
            kind.to_string(),
            name.to_string(),
            "update".to_string(),
            vec![path.to_string()],
        )
    };
    assert_eq!(
        got,
        [
            want("ConfigMap", &cm, "data.LOG_LEVEL"),
            want("Deployment", "api", "spec.replicas")
        ],
        "{entries:?}"
    );

    // NAME selects: infra is untouched, app is not.
    let r = run(&sb, &["diff", "infra"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{r:?}");
    let (code, entries) = diff_json(&sb, &["app"]);
    assert_eq!(code, 1);
    assert!(entries.iter().all(|e| e["unit"] == "app"), "{entries:?}");
    assert_eq!(changes(&entries).len(), 2, "{entries:?}");
    let r = run(&sb, &["diff", "nope"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("no unit named \"nope\""), "{r:?}");

    // No docker, no k3d; kubectl only renders, reads and dry-runs.
    for c in sb.calls() {
        assert!(
            c.tool == "kubectl"
                && (c.has(&["kustomize"])
                    || c.has(&["get"])
                    || c.has(&["apply", "--dry-run=server"])),
            "diff ran `{}`",
            c.line()
        );
    }
}

#[test]
fn an_object_removed_from_an_overlay_is_a_delete_until_up_prunes_it() {
    let (sb, _stub) = example_up();
    // The api Service goes from the base the app overlay builds on.
    let api = sb.read("examples/shop/deploy/base/api.yaml");
    let deployment: Vec<&str> = api
        .split("\n---\n")
        .filter(|doc| !doc.contains("kind: Service"))
        .collect();
    sb.write(
        "examples/shop/deploy/base/api.yaml",
        &deployment.join("\n---\n"),
    );

    let (code, entries) = diff_json(&sb, &[]);
    assert_eq!(code, 1, "{entries:?}");
    assert_eq!(
        changes(&entries),
        [(
            "app".into(),
            "Service".into(),
            "api".into(),
            "delete".into(),
            vec![]
        )],
        "{entries:?}"
    );
    let r = run(&sb, &["diff"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("+++ devenv (unit app)") && r.stdout.contains("-kind: Service"),
        "{r:?}"
    );

    let up = run(&sb, &["up"]);
    assert_eq!(up.code, 0, "devenv up failed: {up:?}");
    let r = run(&sb, &["diff"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{r:?}");
}

#[test]
fn the_fakes_server_dry_run_answers_the_merge_persists_nothing_and_refuses_as_kubectl_does() {
    let (sb, _stub) = example_up();
    let (_, ns) = applied_object(&sb, "app", "Deployment", "api");
    sb.write(
        "scale.yaml",
        &format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: {ns}\nspec:\n  replicas: 5\n"),
    );
    let kubectl = |extra: &[&str]| {
        let mut argv = address(&sb);
        argv.extend(extra.iter().map(|a| a.to_string()));
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        sb.kubectl(&argv)
    };
    let o = kubectl(&[
        "apply",
        "--server-side",
        "--field-manager=someone-else",
        "--force-conflicts",
        "--dry-run=server",
        "-o",
        "json",
        "-f",
        "scale.yaml",
    ]);
    assert!(o.status.success(), "{o:?}");
    let answer: Value = serde_json::from_slice(&o.stdout).unwrap();
    // The whole object as the apply would leave it: the other manager's replicas, devenv's
    // template, the server's metadata.
    assert_eq!(answer["spec"]["replicas"], 5, "{answer}");
    assert!(
        answer
            .pointer("/spec/template/spec/containers/0/image")
            .is_some(),
        "{answer}"
    );
    assert!(answer.pointer("/metadata/uid").is_some(), "{answer}");
    let live: Value = serde_json::from_slice(
        &kubectl(&["get", "deployment", "api", "-n", &ns, "-o", "json"]).stdout,
    )
    .unwrap();
    assert_eq!(live["spec"]["replicas"], 1, "the dry run persisted: {live}");

    let o = kubectl(&[
        "apply",
        "--server-side",
        "--dry-run=client",
        "-f",
        "scale.yaml",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("--dry-run=client doesn't work with --server-side"),
        "{o:?}"
    );
}

#[test]
fn diff_without_a_cluster_is_an_error_not_a_difference() {
    let sb = example_sandbox();
    let text = sb
        .read("devenv.toml")
        .replace("api_port = 6550", &format!("api_port = {}", free_port()))
        .replace(
            "[calico]\n",
            &format!("[calico]\nmanifests = \"{CALICO}\"\n"),
        );
    sb.write("devenv.toml", &text);
    let r = run(&sb, &["diff"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    assert!(
        r.stderr
            .contains("failed to ask the API server what applying would give"),
        "{r:?}"
    );
}
