//! `devenv render`: the manifests `up` would apply, printed without a cluster. Each test
//! renders, then runs `up` against the fakes and compares the documents with the files `up`
//! applied (`.devenv/namespaces.yaml`, `.devenv/rendered/NAME{.crds,.apply}.yaml`), checks
//! that render ran no docker and no k3d, and feeds its output to the real kubectl's
//! `apply --dry-run=client` (discovery answered by [`stub::Stub`]).

pub(crate) mod stub;

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::support::helm::{helm_create, real_helm, with_helm_log};
use crate::support::{example_sandbox, free_port, minimal_toml, Run, Sandbox, CALICO};

fn run(sb: &Sandbox, args: &[&str]) -> Run {
    Run::of(sb.devenv(args), Duration::from_secs(120))
}

#[track_caller]
fn render_ok(sb: &Sandbox, args: &[&str]) -> Run {
    let r = run(sb, args);
    assert_eq!(r.code, 0, "devenv {args:?} failed: {r:?}");
    r
}

/// The documents of a YAML stream, as JSON values (comment-only documents left out).
fn docs(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// Sorted, so that two sets of objects compare whatever their order.
fn sorted(mut v: Vec<Value>) -> Vec<String> {
    let mut out: Vec<String> = v.drain(..).map(|d| d.to_string()).collect();
    out.sort();
    out
}

/// The unit names of render's comment lines, in order.
fn unit_lines(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("# devenv: "))
        .map(String::from)
        .collect()
}

/// render's stream cut at its comment lines: unit line → that unit's documents.
fn by_unit(stdout: &str) -> Vec<(String, Vec<Value>)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in stdout.split_inclusive('\n') {
        if let Some(unit) = line.strip_prefix("# devenv: ") {
            out.push((unit.trim().to_string(), String::new()));
        } else if let Some((_, text)) = out.last_mut() {
            text.push_str(line);
        }
    }
    out.into_iter().map(|(u, t)| (u, docs(&t))).collect()
}

/// What `up` applied for the unit `name`: its CRDs file and the rest.
fn applied(sb: &Sandbox, name: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for suffix in ["crds", "apply"] {
        let p = sb.path(format!(".devenv/rendered/{name}.{suffix}.yaml"));
        if let Ok(text) = std::fs::read_to_string(&p) {
            all.extend(docs(&text));
        }
    }
    all
}

/// Render, and the files `up` applied, hold the same objects unit by unit.
#[track_caller]
fn same_as_up(sb: &Sandbox, rendered: &str) {
    for (unit, objects) in by_unit(rendered) {
        let from_up = match unit.split_once(' ') {
            Some((_, name)) => applied(sb, name),
            None => docs(&sb.read(".devenv/namespaces.yaml")),
        };
        assert!(!objects.is_empty(), "{unit}: no objects rendered");
        assert_eq!(sorted(objects), sorted(from_up), "{unit}");
    }
}

/// Render called no docker and no k3d, and kubectl only to kustomize.
#[track_caller]
fn ran_only_renderers(sb: &Sandbox) {
    for c in sb.calls() {
        assert!(
            c.tool == "kubectl" && c.argv.first().map(String::as_str) == Some("kustomize"),
            "render ran `{}`",
            c.line()
        );
    }
}

/// The real kubectl (the fake one on the sandbox PATH only forwards `kustomize` to it).
fn real_kubectl() -> PathBuf {
    if let Some(k) = std::env::var_os("DEVENV_REAL_KUBECTL").filter(|k| !k.is_empty()) {
        return k.into();
    }
    let fakes = crate::support::fakes_dir();
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .filter(|d| *d != fakes)
        .map(|d| d.join("kubectl"))
        .find(|k| k.is_file())
        .expect("a real kubectl on PATH (or DEVENV_REAL_KUBECTL)")
}

/// `kubectl apply --dry-run=client -f -` of `stream` with the real kubectl, against a stub
/// that answers discovery only (no OpenAPI: `--validate=false`); its stdout.
#[track_caller]
fn dry_run_apply(sb: &Sandbox, stub: &stub::Stub, stream: &str) -> String {
    let kubeconfig = sb.root.path().join("stub-kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: stub\n  cluster:\n    server: http://127.0.0.1:{}\n\
             users:\n- name: u\n  user: {{}}\ncontexts:\n- name: stub\n  context:\n    cluster: stub\n    user: u\n\
             current-context: stub\n",
            stub.port
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(real_kubectl())
        .args(["apply", "--dry-run=client", "--validate=false", "-f", "-"])
        .env("KUBECONFIG", &kubeconfig)
        .env("HOME", sb.root.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the real kubectl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stream.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "kubectl apply --dry-run=client refused render's output:\n{}\n--- stream\n{stream}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The example on free ports (the registry's: `registry`), the Calico stand-in, verify off
/// (the probe needs Docker).
fn example(registry: u16) -> Sandbox {
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
    sb
}

#[test]
fn render_of_the_example_is_what_up_applies_and_passes_kubectls_dry_run() {
    let registry = free_port();
    let sb = example(registry);
    let r = render_ok(&sb, &["render"]);
    assert_eq!(
        unit_lines(&r.stdout),
        ["namespaces", "overlay infra", "overlay app"],
        "{r:?}"
    );
    ran_only_renderers(&sb);
    // Images point at the content tags the plan computed, though nothing was built.
    let plan: Value =
        serde_json::from_str(&render_ok(&sb, &["plan", "-o", "json"]).stdout).unwrap();
    let tags = plan.to_string();
    for image in ["api", "web"] {
        let reference = r
            .stdout
            .lines()
            .find_map(|l| {
                l.trim()
                    .trim_start_matches("- ")
                    .strip_prefix("image: ")
                    .filter(|i| i.contains(&format!("/{image}:")))
            })
            .unwrap_or_else(|| panic!("no image {image} in:\n{}", r.stdout));
        let tag = reference.rsplit(':').next().unwrap();
        assert!(tag.starts_with("dv-") && tags.contains(tag), "{reference}");
    }
    // Progress on stderr only.
    assert!(r.stderr.contains("render:app"), "{r:?}");

    // A first `up` creates the registry (the fake's) and fails to push; then the stub
    // answers on its port that every image is there, and `up` applies.
    let first = run(&sb, &["up"]);
    assert_eq!(first.code, 1, "{first:?}");
    let stub = stub::Stub::on(registry);
    let up = run(&sb, &["up"]);
    assert_eq!(up.code, 0, "devenv up failed: {up:?}");
    same_as_up(&sb, &r.stdout);

    let out = dry_run_apply(&sb, &stub, &r.stdout);
    assert!(
        out.contains("deployment.apps/api created (dry run)"),
        "{out}"
    );
}

#[test]
fn render_selects_units_by_name_and_refuses_an_unknown_one() {
    let sb = example(free_port());
    let r = render_ok(&sb, &["render", "app"]);
    assert_eq!(unit_lines(&r.stdout), ["overlay app"], "{r:?}");
    let r = run(&sb, &["render", "nope"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    assert!(
        r.stderr.contains("no unit named \"nope\"") && r.stderr.contains("infra, app"),
        "{r:?}"
    );
}

#[test]
fn render_json_is_one_list_per_unit() {
    let stub = stub::Stub::start();
    let sb = example(free_port());
    let text = render_ok(&sb, &["render"]).stdout;
    let r = render_ok(&sb, &["render", "-o", "json"]);
    let lists: Vec<Value> = serde_json::Deserializer::from_str(&r.stdout)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("not a JSON stream ({e}):\n{}", r.stdout));
    let names: Vec<(&str, &str)> = lists
        .iter()
        .map(|l| {
            assert_eq!(
                (&l["apiVersion"], &l["kind"]),
                (&"v1".into(), &"List".into())
            );
            (
                l["metadata"]["annotations"]["devenv.dev/unit"]
                    .as_str()
                    .unwrap(),
                l["metadata"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("namespaces", "namespaces"),
            ("overlay", "infra"),
            ("overlay", "app")
        ]
    );
    // The same objects as the YAML stream.
    for (list, (_, objects)) in lists.iter().zip(by_unit(&text)) {
        let items = list["items"].as_array().unwrap().clone();
        assert_eq!(sorted(items), sorted(objects));
    }
    // kubectl takes the Lists too.
    let out = dry_run_apply(&sb, &stub, &r.stdout);
    assert!(out.contains("(dry run)"), "{out}");
}

#[test]
#[ignore = "needs helm on PATH (scripts/test.sh provides it)"]
fn render_of_a_chart_is_what_up_applies() {
    let stub = stub::Stub::start();
    let (sb, log) = with_helm_log(Sandbox::new(), &real_helm());
    helm_create(&sb.path("deploy"), "web");
    sb.write(
        "k8s/app/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - cm.yaml\n",
    );
    sb.write(
        "k8s/app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-settings\n  namespace: shop\ndata:\n  web: http://web.shop\n",
    );
    let extra = "\n[[overlays]]\nname = \"app\"\npath = \"k8s/app\"\ndepends_on = [\"web\"]\n\
                 \n[[charts]]\nname = \"web\"\nchart = \"deploy/web\"\nnamespace = \"shop\"\n";
    sb.write(
        "devenv.toml",
        &minimal_toml("render-chart", free_port(), free_port(), extra),
    );
    let r = render_ok(&sb, &["render"]);
    // The chart first: the overlay depends on it.
    assert_eq!(unit_lines(&r.stdout), ["chart web", "overlay app"], "{r:?}");
    ran_only_renderers(&sb);
    let helm: Vec<String> = log.calls().iter().map(|argv| argv.join(" ")).collect();
    assert!(
        !helm.is_empty() && helm.iter().all(|l| l.starts_with("template ")),
        "{helm:?}"
    );
    assert!(r.stdout.contains("kind: Deployment"), "{r:?}");

    let up = run(&sb, &["up"]);
    assert_eq!(up.code, 0, "devenv up failed: {up:?}");
    // up applies a chart's test hook on its own (hooks.rs): compare without hooks.
    let without_hooks: String = by_unit(&r.stdout)
        .into_iter()
        .map(|(unit, objects)| {
            let kept: Vec<String> = objects
                .into_iter()
                .filter(|o| o["metadata"]["annotations"]["helm.sh/hook"].is_null())
                .map(|o| serde_yaml_ng::to_string(&o).unwrap())
                .collect();
            format!("# devenv: {unit}\n{}", kept.join("---\n"))
        })
        .collect::<Vec<_>>()
        .join("---\n");
    same_as_up(&sb, &without_hooks);
    let out = dry_run_apply(&sb, &stub, &r.stdout);
    assert!(
        out.contains("deployment.apps/web created (dry run)"),
        "{out}"
    );
}

/// On a shared cluster the rendering is the owner's share, as `up` applies it: the owner's
/// namespaces, every object labelled with project and owner. No cluster is reached (the
/// kubeconfig does not even name the context).
#[test]
fn render_on_a_shared_cluster_is_isolated_for_the_owner_and_reaches_no_cluster() {
    let sb = Sandbox::new();
    crate::support::copy_dir(
        &crate::support::repo().join("tests/fixtures/existing/k8s"),
        &sb.path("k8s"),
    );
    sb.write(
        "devenv.toml",
        "version = 1\n\n[project]\nname = \"shop\"\n\n[cluster]\nprovider = \"existing\"\n\
         context = \"k3d-shared\"\n\n[registry]\nprovider = \"external\"\n\
         address = \"registry.example.test/team\"\n\n[verify]\nenabled = false\n\n\
         [[overlays]]\nname = \"app\"\npath = \"k8s/app\"\n",
    );
    let mut cmd = sb.devenv(["render"]);
    cmd.env("DEVENV_OWNER", "alice");
    let r = Run::of(cmd, Duration::from_secs(60));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(unit_lines(&r.stdout), ["overlay app"], "{r:?}");
    ran_only_renderers(&sb);
    let objects = docs(&r.stdout);
    assert!(!objects.is_empty(), "{r:?}");
    for o in &objects {
        let labels = &o["metadata"]["labels"];
        assert_eq!(labels["devenv.dev/owner"], "alice", "{o}");
        assert_eq!(labels["devenv.dev/project"], "shop", "{o}");
        let ns = match o["kind"].as_str() {
            Some("Namespace") => o["metadata"]["name"].as_str(),
            _ => o["metadata"]["namespace"].as_str(),
        };
        if let Some(ns) = ns {
            assert!(ns != "shop" && ns.contains("alice"), "{o}");
        }
    }
}
