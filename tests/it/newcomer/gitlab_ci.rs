//! Issue 14 #4: GitLab CI output and the shipped `.gitlab-ci.yml` example.

use super::*;

// ---------------------------------------------------------------------------------------
// Issue 14 #4: GitLab CI

/// `section_start:TS:NAME[opts]\r\e[0KHeader` markers of a log: (name, collapsed, header).
fn gitlab_sections(log: &str) -> Vec<(String, bool, String)> {
    let mut out = Vec::new();
    let mut open: Vec<String> = Vec::new();
    for line in log.lines() {
        if let Some(rest) = line.strip_prefix("\x1b[0Ksection_start:") {
            let (marker, header) = rest
                .split_once("\r\x1b[0K")
                .expect("marker ends with \\r\\e[0K");
            let mut parts = marker.splitn(2, ':');
            let ts = parts.next().unwrap();
            assert!(ts.parse::<u64>().is_ok(), "timestamp {ts:?}");
            let name = parts.next().unwrap();
            let (name, collapsed) = match name.strip_suffix("[collapsed=true]") {
                Some(n) => (n, true),
                None => (name, false),
            };
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
                "section name {name:?}"
            );
            open.push(name.to_string());
            out.push((name.to_string(), collapsed, header.to_string()));
        } else if let Some(rest) = line.strip_prefix("\x1b[0Ksection_end:") {
            let (marker, tail) = rest.split_once("\r\x1b[0K").expect("end marker");
            assert!(tail.is_empty(), "{line:?}");
            let name = marker.split_once(':').unwrap().1;
            assert_eq!(open.pop().as_deref(), Some(name), "sections nest: {log}");
        } else {
            assert!(!line.contains("section_"), "a stray marker: {line:?}");
        }
    }
    assert!(open.is_empty(), "unclosed sections {open:?}");
    out
}

/// With GITLAB_CI=true a failing `up` folds each step's output in a section (the failed
/// one expanded) and prints the failure as `devenv.toml:LINE:COL: error: …` outside any
/// section; no prompt, no spinner. (Before: Plain output, no sections.)
#[test]
fn gitlab_ci_folds_steps_in_sections_and_prints_the_failure_at_its_line() {
    let sb = Sandbox::new();
    let (registry, api) = ports(7);
    project(&sb, "gitlab", registry, api, "");
    sb.fault(json!({"tool": "k3d", "match": ["cluster", "create"], "action": "fail", "stderr": "boom: no space left"}));
    let o = run(sb
        .devenv(["up"])
        .env("GITLAB_CI", "true")
        .env("CI", "true")
        .env("CI_PROJECT_DIR", &sb.project));
    assert_eq!(o.code, Some(1), "{o:?}");
    let log = &o.stderr;
    let sections = gitlab_sections(log);
    let cluster = sections
        .iter()
        .find(|(n, _, _)| n == "devenv_cluster")
        .unwrap_or_else(|| panic!("no cluster section: {sections:?}\n{o:?}"));
    assert!(!cluster.1, "the failed step is expanded: {o:?}");
    assert!(cluster.2.contains("failed after"), "{o:?}");
    let registry_section = sections.iter().find(|(n, _, _)| n == "devenv_registry");
    assert!(
        registry_section.is_some_and(|s| s.1),
        "a step that passed is collapsed: {sections:?}"
    );
    // The failure, outside the sections, at the [cluster] line, relative to the project.
    let line = sb
        .read("devenv.toml")
        .lines()
        .position(|l| l == "[cluster]")
        .unwrap()
        + 1;
    let error = log
        .lines()
        .find(|l| l.starts_with("devenv.toml:"))
        .unwrap_or_else(|| panic!("no file:line error: {o:?}"));
    assert!(
        error.starts_with(&format!("devenv.toml:{line}:")) && error.contains(": error: "),
        "{error}"
    );
    assert!(log.contains("boom: no space left"), "{o:?}");
    // No spinner frames or cursor movement besides the documented markers.
    let without_markers = log.replace("\x1b[0K", "");
    assert!(!without_markers.contains('\x1b'), "{o:?}");
}

#[test]
fn gitlab_ci_prints_config_errors_at_their_line() {
    let sb = Sandbox::new();
    let (registry, api) = ports(8);
    project(&sb, "gitlabconf", registry, api, "");
    let toml = sb
        .read("devenv.toml")
        .replace("agents = 1", "agents = \"many\"");
    sb.write("devenv.toml", &toml);
    let line = toml.lines().position(|l| l == "agents = \"many\"").unwrap() + 1;
    let o = run(sb
        .devenv(["up"])
        .env("GITLAB_CI", "true")
        .env("CI_PROJECT_DIR", &sb.project));
    assert_eq!(o.code, Some(2), "{o:?}");
    assert!(
        o.stderr
            .lines()
            .any(|l| l.starts_with(&format!("devenv.toml:{line}:10: error: "))),
        "{o:?}"
    );
    assert!(sb.calls().is_empty());
}

/// The keywords of `.gitlab-ci.yml` as GitLab's own JSON schema lists them
/// (gitlab-org/gitlab `app/assets/javascripts/editor/schema/ci.json`, read at the GitHub
/// mirror gitlabhq/gitlabhq 0286e4c6): `properties` of the root, of `default`, of
/// `definitions.job_template` (every job; `additionalProperties: false`), of a
/// `definitions.services` item object, and of `definitions.artifacts`.
mod gitlab_schema {
    pub const TOP_LEVEL: &[&str] = &[
        "$schema",
        "spec",
        "image",
        "services",
        "before_script",
        "after_script",
        "variables",
        "cache",
        "!reference",
        "default",
        "stages",
        "include",
        "pages",
        "workflow",
    ];
    pub const DEFAULT: &[&str] = &[
        "after_script",
        "artifacts",
        "before_script",
        "hooks",
        "cache",
        "image",
        "interruptible",
        "id_tokens",
        "identity",
        "retry",
        "services",
        "tags",
        "timeout",
        "!reference",
    ];
    pub const JOB: &[&str] = &[
        "image",
        "services",
        "before_script",
        "after_script",
        "hooks",
        "rules",
        "variables",
        "cache",
        "id_tokens",
        "identity",
        "inputs",
        "secrets",
        "script",
        "run",
        "stage",
        "only",
        "extends",
        "needs",
        "except",
        "tags",
        "allow_failure",
        "timeout",
        "when",
        "start_in",
        "manual_confirmation",
        "dependencies",
        "artifacts",
        "environment",
        "release",
        "coverage",
        "retry",
        "parallel",
        "interruptible",
        "resource_group",
        "trigger",
        "inherit",
        "publish",
        "pages",
    ];
    pub const SERVICE: &[&str] = &[
        "name",
        "entrypoint",
        "docker",
        "kubernetes",
        "pull_policy",
        "command",
        "alias",
        "variables",
    ];
    pub const ARTIFACTS: &[&str] = &[
        "paths",
        "exclude",
        "expose_as",
        "name",
        "untracked",
        "when",
        "access",
        "expire_in",
        "reports",
    ];
    /// `definitions.artifacts.properties.when.enum`.
    pub const ARTIFACTS_WHEN: &[&str] = &["on_success", "on_failure", "always"];
}

fn keys_within(v: &serde_yaml_ng::Value, allowed: &[&str], what: &str) {
    let map = v
        .as_mapping()
        .unwrap_or_else(|| panic!("{what} is not a mapping"));
    for k in map.keys() {
        let k = k
            .as_str()
            .unwrap_or_else(|| panic!("{what}: a non-string key"));
        assert!(
            allowed.contains(&k),
            "{what}: `{k}` is not a GitLab keyword here"
        );
    }
}

fn script_lines(v: &serde_yaml_ng::Value) -> Vec<String> {
    match v {
        serde_yaml_ng::Value::String(s) => vec![s.clone()],
        serde_yaml_ng::Value::Sequence(items) => items
            .iter()
            .map(|i| i.as_str().expect("a script line is a string").to_string())
            .collect(),
        other => panic!("a script is a string or a list, not {other:?}"),
    }
}

/// examples/gitlab-ci.yml uses only keywords GitLab's schema allows where it uses them,
/// and does what the README says: a Docker-in-Docker service, `devenv up --profile ci`
/// with the pinned tools, `verify`, and the logs as artifacts on failure.
#[test]
fn the_gitlab_ci_example_uses_only_documented_keywords() {
    use gitlab_schema::*;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/gitlab-ci.yml");
    let text = std::fs::read_to_string(path).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let root = doc.as_mapping().expect("a mapping at the root");
    let stages: Vec<String> = root
        .get("stages")
        .and_then(|s| s.as_sequence())
        .map(|s| s.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_else(|| vec!["build".into(), "test".into(), "deploy".into()]);
    if let Some(d) = root.get("default") {
        keys_within(d, DEFAULT, "default");
    }
    let mut jobs = 0;
    let mut all_script = Vec::new();
    for (k, v) in root {
        let k = k.as_str().unwrap();
        if TOP_LEVEL.contains(&k) || k.starts_with('.') {
            continue;
        }
        // Any other key is a job (`additionalProperties: {"$ref": "#/definitions/job"}`).
        jobs += 1;
        keys_within(v, JOB, &format!("job `{k}`"));
        let job = v.as_mapping().unwrap();
        assert!(job.contains_key("script"), "job `{k}` has no script");
        if let Some(stage) = job.get("stage").and_then(|s| s.as_str()) {
            assert!(
                stages.iter().any(|s| s == stage),
                "stage {stage} not in {stages:?}"
            );
        }
        let services = job
            .get("services")
            .and_then(|s| s.as_sequence())
            .cloned()
            .unwrap_or_default();
        let mut dind = false;
        for s in &services {
            let name = match s {
                serde_yaml_ng::Value::String(n) => n.clone(),
                other => {
                    keys_within(other, SERVICE, &format!("job `{k}` service"));
                    other
                        .get("name")
                        .and_then(|n| n.as_str())
                        .expect("a service has a name")
                        .to_string()
                }
            };
            dind |= name.starts_with("docker:") && name.ends_with("-dind");
        }
        assert!(dind, "job `{k}` has no Docker-in-Docker service");
        let artifacts = job.get("artifacts").expect("artifacts");
        keys_within(artifacts, ARTIFACTS, &format!("job `{k}` artifacts"));
        let when = artifacts.get("when").and_then(|w| w.as_str()).unwrap();
        assert!(ARTIFACTS_WHEN.contains(&when));
        assert_eq!(when, "on_failure");
        let paths: Vec<&str> = artifacts["paths"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert!(
            paths
                .iter()
                .any(|p| p.trim_end_matches('/') == ".devenv/logs"),
            "{paths:?}"
        );
        for key in ["before_script", "script", "after_script"] {
            if let Some(s) = job.get(key) {
                all_script.extend(script_lines(s));
            }
        }
    }
    assert_eq!(jobs, 1);
    let up = all_script
        .iter()
        .find(|l| l.starts_with("devenv up "))
        .expect("devenv up");
    assert!(
        up.contains("--profile ci") && up.contains("--install-tools"),
        "{up}"
    );
    assert!(all_script.iter().any(|l| l.starts_with("devenv verify")));
    // The pins --install-tools needs are documented next to it, and they parse.
    assert!(
        text.contains("k3d = \"5.8.3\""),
        "the example names the k3d pin"
    );
    assert!(devenv::tools::parse_spec("5.8.3").unwrap().1.is_some());
}
