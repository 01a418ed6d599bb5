//! Live `devenv status`: the objects of every unit read from the (fake) cluster, one list
//! call per kind, compared with what devenv last applied. The example comes up as in
//! tests/it/diff/ (the registry stub says every image is there), then objects are changed
//! behind devenv's back by another field manager, or deleted.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::diff::{address, applied_object, example_up, run};
use crate::support::Sandbox;

/// `kubectl ADDRESS ARGS…`.
fn kubectl_ok(sb: &Sandbox, address: &[String], args: &[&str]) {
    let mut argv: Vec<&str> = address.iter().map(String::as_str).collect();
    argv.extend(args);
    sb.kubectl_ok(&argv);
}

/// The kinds `up` applied over every unit (`.devenv/rendered/*.apply.yaml`, `*.crds.yaml`).
fn applied_kinds(sb: &Sandbox) -> Vec<String> {
    let mut kinds = Vec::new();
    for entry in std::fs::read_dir(sb.path(".devenv/rendered")).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        if !(file.ends_with(".apply.yaml") || file.ends_with(".crds.yaml")) {
            continue;
        }
        for doc in std::fs::read_to_string(&path).unwrap().split("\n---\n") {
            if let Ok(v) = serde_yaml_ng::from_str::<Value>(doc) {
                if let Some(k) = v["kind"].as_str() {
                    kinds.push(k.to_string());
                }
            }
        }
    }
    kinds.sort();
    kinds.dedup();
    kinds
}

fn status_json(sb: &Sandbox) -> (i32, Value) {
    let r = run(sb, &["status", "-o", "json"]);
    let v = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {r:?}"));
    (r.code, v)
}

/// The `-o json` rows of overlays and charts, by name.
fn units(status: &Value) -> BTreeMap<String, Value> {
    status["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["component"] == "overlay" || c["component"] == "chart")
        .map(|c| (c["name"].as_str().unwrap().to_string(), c.clone()))
        .collect()
}

#[test]
fn status_reads_the_live_objects_and_names_drift_and_missing_objects() {
    let (sb, _stub) = example_up();
    let address = address(&sb);

    // After up: every unit present, in sync, one list call per kind applied.
    sb.clear_calls();
    let r = run(&sb, &["status"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stdout.contains("drift"), "{r:?}");
    let lists: Vec<String> = sb
        .calls()
        .into_iter()
        .filter(|c| c.tool == "kubectl" && c.has(&["get", "-A"]))
        .map(|c| {
            let at = c.argv.iter().position(|a| a == "get").unwrap();
            c.argv[at + 1].split('.').next().unwrap().to_string()
        })
        .collect();
    let mut distinct = lists.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        lists.len(),
        "a kind listed twice: {lists:?}"
    );
    assert_eq!(distinct, applied_kinds(&sb), "{lists:?}");
    // The other reads are status's own: nodes, Calico, the registry hosting.
    for c in sb.calls() {
        assert!(
            c.tool != "kubectl"
                || !c.has(&["get"])
                || c.has(&["-A"])
                || c.has(&["nodes"])
                || c.has(&["tigerastatus"])
                || c.has(&["local-registry-hosting"]),
            "status read one object: `{}`",
            c.line()
        );
    }
    let (code, v) = status_json(&sb);
    assert_eq!(code, 0, "{v}");
    for (name, unit) in units(&v) {
        assert_eq!(unit["healthy"], true, "{name}: {unit}");
        assert_eq!(unit["drift"], serde_json::json!([]), "{name}: {unit}");
        assert_eq!(unit["missing"], serde_json::json!([]), "{name}: {unit}");
        assert!(
            !unit["present"].as_array().unwrap().is_empty(),
            "{name}: {unit}"
        );
    }

    // Someone scales api and edits its ConfigMap, as `kubectl scale` and `kubectl edit`
    // would: another field manager, forcing.
    let (cm, ns) = applied_object(&sb, "app", "ConfigMap", "api-config");
    sb.write(
        "someone-else.yaml",
        &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: {ns}\nspec:\n  replicas: 3\n\
             ---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {cm}\n  namespace: {ns}\ndata:\n  LOG_LEVEL: trace\n"
        ),
    );
    kubectl_ok(
        &sb,
        &address,
        &[
            "apply",
            "--server-side",
            "--field-manager=someone-else",
            "--force-conflicts",
            "-f",
            "someone-else.yaml",
        ],
    );
    let r = run(&sb, &["status"]);
    assert_eq!(r.code, 4, "{r:?}");
    let text = r.stdout.replace(&ns, "NS").replace(&cm, "api-config-HASH");
    // The units' rows and their drift; applied times vary.
    let rows: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("overlay") || l.starts_with("chart") || l.starts_with("  drift"))
        .map(regex_free_times)
        .collect();
    let rows = rows.join("\n");
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!("status_scaled_and_edited", rows));

    let (code, v) = status_json(&sb);
    assert_eq!(code, 4);
    let app = &units(&v)["app"];
    assert_eq!(app["healthy"], false, "{app}");
    let mut drift: Vec<(String, String, String, Value, Value)> = app["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let s = |k: &str| d[k].as_str().unwrap().to_string();
            assert_eq!(d["namespace"], ns.as_str(), "{d}");
            (
                s("kind"),
                s("name"),
                s("path"),
                d["live"].clone(),
                d["applied"].clone(),
            )
        })
        .collect();
    drift.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(drift.len(), 2, "{app}");
    assert_eq!(
        (&drift[0].0, &drift[0].1, &drift[0].2, &drift[0].3),
        (
            &"ConfigMap".to_string(),
            &cm,
            &"data.LOG_LEVEL".to_string(),
            &Value::from("trace")
        ),
        "{app}"
    );
    assert_eq!(
        (
            &drift[1].0,
            drift[1].1.as_str(),
            drift[1].2.as_str(),
            &drift[1].3,
            &drift[1].4
        ),
        (
            &"Deployment".to_string(),
            "api",
            "spec.replicas",
            &Value::from(3),
            &Value::from(1)
        ),
        "{app}"
    );

    // A deleted object is missing.
    kubectl_ok(&sb, &address, &["delete", "service", "api", "-n", &ns]);
    let (code, v) = status_json(&sb);
    assert_eq!(code, 4);
    let app = &units(&v)["app"];
    assert_eq!(
        app["missing"],
        serde_json::json!([{"kind": "Service", "namespace": ns, "name": "api"}]),
        "{app}"
    );
    let r = run(&sb, &["status"]);
    assert!(
        r.stdout.contains(&format!("missing service/api in {ns}"))
            && r.stdout.contains("`devenv apply app` puts it back"),
        "{r:?}"
    );

    // As the hint says: `devenv apply app` applies the unit although its render did not
    // change, and the drift and the missing Service are gone.
    let r = run(&sb, &["apply", "app"]);
    assert_eq!(r.code, 0, "{r:?}");
    let (code, v) = status_json(&sb);
    let app = &units(&v)["app"];
    assert_eq!(code, 0, "{app}");
    assert_eq!(app["drift"], serde_json::json!([]), "{app}");
    assert_eq!(app["missing"], serde_json::json!([]), "{app}");
}

/// `applied 2026-…Z` → `applied [TIME]`.
fn regex_free_times(text: &str) -> String {
    text.split(' ')
        .map(|w| {
            let bare = w.trim_end_matches(';');
            if bare.len() >= 20 && bare.starts_with("20") && bare.contains('T') {
                format!("[TIME]{}", &w[bare.len()..])
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
