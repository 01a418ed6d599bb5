//! `--output json`: plan, status and up as one versioned document each.

use super::*;

// ---------------------------------------------------------------------------------------
// --output json

#[test]
fn plan_json_is_one_versioned_document_with_every_command() {
    let p = Project::new();
    // GitHub mode must not leak groups or annotations into the document either.
    let o = run(p
        .sb
        .devenv(["plan", "-o", "json"])
        .env("GITHUB_ACTIONS", "true"));
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    let doc = one_json_document(&o);
    assert_eq!(doc["project"], "demo");
    assert_eq!(doc["context"], "k3d-demo");
    let push = format!("localhost:{}", p.registry_port);
    assert_eq!(doc["registry"]["push"], json!(push));
    let steps = doc["steps"].as_array().expect("steps");
    let ids: Vec<&str> = steps.iter().filter_map(|s| s["id"].as_str()).collect();
    for id in [
        "preflight",
        "registry",
        "cluster",
        "image:web",
        "overlay:dev",
    ] {
        assert!(ids.contains(&id), "{id} not in {ids:?}");
    }
    for s in steps {
        for key in ["id", "kind", "title", "needs", "commands"] {
            assert!(!s[key].is_null(), "step without {key}: {s}");
        }
        for c in s["commands"].as_array().unwrap() {
            assert!(c["program"].is_string() && c["args"].is_array(), "{c}");
        }
    }
    let cluster = steps.iter().find(|s| s["id"] == "cluster").unwrap();
    let create = cluster["commands"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["args"][0] == "cluster" && c["args"][1] == "create")
        .unwrap_or_else(|| panic!("no k3d cluster create in {cluster}"));
    assert_eq!(create["program"], "k3d");
    assert_eq!(
        create["args"],
        json!(["cluster", "create", "--config", ".devenv/k3d-config.yaml"])
    );
    // plan runs nothing.
    assert!(p.sb.calls().is_empty(), "{:?}", p.sb.calls());
    assert!(!p.sb.root.path().join("docker-calls.log").exists());
}

#[test]
fn status_json_lists_components_and_health() {
    let p = Project::new();
    let o = run(&mut p.sb.devenv(["status", "-o", "json"]));
    assert_eq!(code(&o), Some(4), "{}", show(&o));
    let doc = one_json_document(&o);
    assert_eq!(doc["healthy"], false);
    let components = doc["components"].as_array().expect("components");
    assert!(!components.is_empty());
    for c in components {
        assert!(c["component"].is_string() && c["name"].is_string(), "{c}");
        assert!(c["healthy"].is_boolean() && c["detail"].is_string(), "{c}");
    }
    assert!(components
        .iter()
        .any(|c| c["component"] == "cluster" && c["healthy"] == false));

    assert_eq!(code(&run(&mut p.sb.devenv(["up"]))), Some(0));
    // The docker stub pushed nowhere: a registry that has every image stands in.
    serve_registry(p.registry_port);
    let o = run(&mut p.sb.devenv(["status", "-o", "json"]));
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    let doc = one_json_document(&o);
    assert_eq!(doc["healthy"], true, "{doc}");
    let components = doc["components"].as_array().unwrap();
    assert!(components.iter().all(|c| c["healthy"] == true), "{doc}");
    for name in ["registry", "cluster", "nodes", "calico"] {
        assert!(
            components.iter().any(|c| c["component"] == name),
            "{name} missing: {doc}"
        );
    }
}

#[test]
fn up_json_reports_steps_result_and_exit_code() {
    let p = Project::new();
    let o = run(p
        .sb
        .devenv(["up", "-o", "json"])
        .env("GITHUB_ACTIONS", "true"));
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    let doc = one_json_document(&o);
    assert_eq!(doc["result"], "success");
    assert_eq!(doc["exit_code"], 0);
    assert_eq!(doc["command"], "up");
    let steps = doc["steps"].as_array().expect("steps");
    assert!(steps.len() >= 8, "{doc}");
    for s in steps {
        // A first run has nothing to prune: that step is the one "unchanged".
        let expected = if s["id"] == "prune" {
            "unchanged"
        } else {
            "done"
        };
        assert_eq!(s["status"], expected, "{s}");
        assert!(
            s["id"].is_string() && s["title"].is_string() && s["duration_ms"].is_u64(),
            "{s}"
        );
    }
    let image = &doc["images"][0];
    assert_eq!(image["name"], "web");
    assert_eq!(image["action"], "built");
    assert!(image["reference"]
        .as_str()
        .unwrap()
        .starts_with(&format!("localhost:{}/web:", p.registry_port)));
    assert_eq!(doc["overlays"][0]["name"], "dev");
    assert_eq!(doc["overlays"][0]["objects"], 1);
    // Human progress stays off both streams in JSON mode.
    let err = text(&o.stderr);
    assert!(!err.lines().any(is_event_line), "{err}");
    assert!(!err.contains("::group::"), "{err}");

    // Again: every step is unchanged. Then a failure is a document too.
    let o = run(&mut p.sb.devenv(["up", "-o", "json"]));
    let doc = one_json_document(&o);
    assert_eq!(doc["result"], "success", "{doc}");
    let unchanged = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "unchanged")
        .count();
    assert!(unchanged >= 5, "{doc}");

    let p = Project::new();
    p.sb.fault(
        json!({"tool": "k3d", "match": ["cluster", "create"], "action": "fail", "stderr": "boom"}),
    );
    let o = run(&mut p.sb.devenv(["up", "-o", "json"]));
    assert_eq!(code(&o), Some(1), "{}", show(&o));
    let doc = one_json_document(&o);
    assert_eq!(doc["result"], "failed");
    assert_eq!(doc["exit_code"], 1);
    let failed = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "failed")
        .unwrap_or_else(|| panic!("no failed step: {doc}"));
    assert_eq!(failed["id"], "cluster");
    assert!(
        failed["detail"].as_str().unwrap().contains("boom"),
        "{failed}"
    );
}
