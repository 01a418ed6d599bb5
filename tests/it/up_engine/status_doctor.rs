//! `status` and `doctor`.

use super::*;

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
