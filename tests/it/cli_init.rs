//! `devenv init`: the scaffold it writes works right away (`devenv plan`, `kubectl
//! kustomize`), it never overwrites or rewrites a file, it adds `.devenv/` to `.gitignore`
//! once, and without a terminal it asks nothing (an error names `--yes`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::SystemTime;

use crate::support::{self, show, text, Sandbox};

fn init(sb: &Sandbox, args: &[&str]) -> Output {
    sb.devenv(std::iter::once("init").chain(args.iter().copied()))
        .output()
        .expect("run devenv init")
}

/// Every file under `dir` (`.devenv/` aside): its bytes and modification time.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == ".devenv") {
                continue;
            }
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_path_buf();
                out.insert(rel, (std::fs::read(&p).unwrap(), meta.modified().unwrap()));
            }
        }
    }
    out
}

/// The real kubectl (the fake one on the sandbox PATH only forwards `kustomize` to it).
fn real_kubectl() -> PathBuf {
    if let Some(k) = std::env::var_os("DEVENV_REAL_KUBECTL").filter(|k| !k.is_empty()) {
        return k.into();
    }
    let fakes = support::fakes_dir();
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .filter(|d| *d != fakes)
        .map(|d| d.join("kubectl"))
        .find(|k| k.is_file())
        .expect("a real kubectl on PATH (or DEVENV_REAL_KUBECTL)")
}

#[test]
fn init_yes_creates_a_scaffold_that_plans_and_renders() {
    let sb = Sandbox::new();
    let o = init(&sb, &["--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    for f in [
        "devenv.toml",
        "app/Dockerfile",
        "app/.dockerignore",
        "deploy/base/kustomization.yaml",
        "deploy/overlays/dev/kustomization.yaml",
        ".gitignore",
    ] {
        assert!(sb.path(f).is_file(), "{f} missing\n{}", show(&o));
        assert!(
            text(&o.stderr).contains(f),
            "{f} not reported\n{}",
            show(&o)
        );
    }
    assert_eq!(sb.read(".gitignore"), ".devenv/\n");
    // The project is named after its folder (the sandbox's is `project`).
    let toml = sb.read("devenv.toml");
    assert!(toml.contains("name = \"project\""), "{toml}");
    assert!(!toml.contains("{{"), "unreplaced placeholder:\n{toml}");

    // `devenv plan` succeeds right away, and runs nothing.
    let o = sb.devenv(["plan"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let plan = text(&o.stdout);
    assert!(
        plan.contains("k3d cluster create --config .devenv/k3d-config.yaml"),
        "{plan}"
    );
    assert!(plan.contains("docker build"), "{plan}");
    assert!(sb.calls().is_empty(), "{:?}", sb.calls());
    let o = sb.devenv(["config", "validate"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));

    // The dev overlay renders with the real kubectl: the app in its namespace, one replica.
    let o = sb
        .command(real_kubectl())
        .args(["kustomize", "deploy/overlays/dev"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    let docs: Vec<serde_json::Value> = text(&o.stdout)
        .split("\n---\n")
        .map(|d| serde_yaml_ng::from_str(d).expect("YAML document"))
        .collect();
    let find = |kind: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {docs:?}"))
    };
    let deploy = find("Deployment");
    assert_eq!(deploy["metadata"]["namespace"], "app");
    assert_eq!(deploy["spec"]["replicas"], 1);
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["image"],
        "app"
    );
    assert_eq!(find("Service")["metadata"]["namespace"], "app");
}

#[test]
fn init_again_changes_no_file() {
    let sb = Sandbox::new();
    assert_eq!(init(&sb, &["--yes"]).status.code(), Some(0));
    let before = snapshot(&sb.project);
    assert!(before.len() >= 6, "{:?}", before.keys());
    // A user edit must survive too.
    sb.write("app/Dockerfile", "FROM scratch\n");
    let before = {
        let mut b = before;
        let p = sb.path("app/Dockerfile");
        b.insert(
            "app/Dockerfile".into(),
            (
                std::fs::read(&p).unwrap(),
                std::fs::metadata(&p).unwrap().modified().unwrap(),
            ),
        );
        b
    };
    for args in [&["--yes"][..], &["--name", "other"]] {
        let o = init(&sb, args);
        assert_eq!(o.status.code(), Some(0), "{}", show(&o));
        let err = text(&o.stderr);
        assert!(
            !err.contains("created") && !err.contains("appended"),
            "{err}"
        );
        assert!(err.contains("kept"), "{err}");
        let after = snapshot(&sb.project);
        assert_eq!(
            after.keys().collect::<Vec<_>>(),
            before.keys().collect::<Vec<_>>()
        );
        for (path, (bytes, mtime)) in &before {
            let (b, m) = &after[path];
            assert!(b == bytes, "{} changed", path.display());
            assert_eq!(m, mtime, "{} was rewritten", path.display());
        }
    }
}

#[test]
fn an_existing_gitignore_keeps_its_lines_and_gains_devenv_once() {
    let sb = Sandbox::new();
    // No newline at the end: the new line must not be glued to the last one.
    sb.write(".gitignore", "target/\n# editors\n*.swp");
    let o = init(&sb, &["--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(
        sb.read(".gitignore"),
        "target/\n# editors\n*.swp\n.devenv/\n"
    );
    assert!(
        text(&o.stderr).contains("appended .gitignore"),
        "{}",
        show(&o)
    );
    let o = init(&sb, &["--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(
        sb.read(".gitignore"),
        "target/\n# editors\n*.swp\n.devenv/\n"
    );

    // Already ignored another way, or CRLF line endings: respected.
    for (before, after) in [
        ("/.devenv\n", "/.devenv\n"),
        ("node_modules\r\n", "node_modules\r\n.devenv/\r\n"),
    ] {
        let sb = Sandbox::new();
        sb.write(".gitignore", before);
        assert_eq!(init(&sb, &["--yes"]).status.code(), Some(0));
        assert_eq!(sb.read(".gitignore"), after, "from {before:?}");
    }

    // Not UTF-8: appended to, never rewritten.
    let sb = Sandbox::new();
    std::fs::write(sb.path(".gitignore"), b"caf\xe9/\n").unwrap();
    assert_eq!(init(&sb, &["--yes"]).status.code(), Some(0));
    assert_eq!(
        std::fs::read(sb.path(".gitignore")).unwrap(),
        b"caf\xe9/\n.devenv/\n"
    );
}

#[test]
fn init_never_overwrites_an_existing_file() {
    let sb = Sandbox::new();
    let mine = "version = 1\n[project]\nname = \"mine\"\n";
    sb.write("devenv.toml", mine);
    let o = init(&sb, &["--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(sb.read("devenv.toml"), mine);
    assert!(
        text(&o.stderr).contains("kept     devenv.toml"),
        "{}",
        show(&o)
    );
    // The rest was created.
    assert!(sb.path("deploy/overlays/dev/kustomization.yaml").is_file());
}

#[test]
fn init_with_a_name_or_a_folder() {
    let sb = Sandbox::new();
    // --name alone needs no question.
    let o = init(&sb, &["--name", "shop"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(sb.read("devenv.toml").contains("name = \"shop\""));
    // --dir: created there, named after that folder (made a valid name).
    let o = init(&sb, &["--yes", "--dir", "My_Service"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(sb
        .read("My_Service/devenv.toml")
        .contains("name = \"my-service\""));
    assert_eq!(sb.read("My_Service/.gitignore"), ".devenv/\n");
}

#[test]
fn init_without_a_terminal_or_with_a_bad_name_exits_2_and_writes_nothing() {
    let sb = Sandbox::new();
    for (args, needle) in [
        (&[][..], "--yes"),
        (&["--name", "BadName"], "BadName"),
        (&["--yes", "--name", "BadName"], "BadName"),
        (&["--yes", "--name", "1abc"], "1abc"),
        (&["--yes", "--name", &"a".repeat(33)], "32"),
    ] {
        let o = init(&sb, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", show(&o));
        assert!(text(&o.stderr).contains(needle), "{args:?}: {}", show(&o));
        assert!(snapshot(&sb.project).is_empty(), "{args:?} wrote files");
    }
    // CI set: no question either (stdin is not a terminal here anyway).
    let o = sb.devenv(["init"]).env("CI", "true").output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(text(&o.stderr).contains("--yes"), "{}", show(&o));
}

/// The real helm (tests run against it: /usr/local/bin/helm here, `provision_helm` in CI).
fn real_helm() -> PathBuf {
    let fakes = support::fakes_dir();
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .filter(|d| *d != fakes)
        .map(|d| d.join("helm"))
        .find(|h| h.is_file())
        .expect("a real helm on PATH (scripts/test.sh provision_helm)")
}

/// `helm ARGS` in the project; its stdout.
fn helm(sb: &Sandbox, args: &[&str]) -> String {
    let o = std::process::Command::new(real_helm())
        .args(args)
        .current_dir(&sb.project)
        .output()
        .unwrap();
    assert!(o.status.success(), "helm {args:?}: {}", show(&o));
    text(&o.stdout)
}

/// `init --chart db` in an empty folder: the project, a chart that the real helm lints and
/// renders with the values devenv.toml lists (values-dev.yaml over values.yaml), and its
/// [[charts]] entry, which devenv validates.
#[test]
fn init_with_a_chart_scaffolds_a_chart_helm_renders_and_devenv_accepts() {
    let sb = Sandbox::new();
    let o = init(&sb, &["--yes", "--chart", "db"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let err = text(&o.stderr);
    for f in [
        "Chart.yaml",
        "values.yaml",
        "values-dev.yaml",
        "templates/deployment.yaml",
    ] {
        assert!(sb.path(format!("deploy/charts/db/{f}")).is_file(), "{f}");
        assert!(
            err.contains(&format!("created  deploy/charts/db/{f}")),
            "{err}"
        );
    }
    assert!(err.contains("appended devenv.toml"), "{err}");

    let config: toml::Table = toml::from_str(&sb.read("devenv.toml")).unwrap();
    let chart = &config["charts"].as_array().unwrap()[0];
    assert_eq!(chart["name"].as_str(), Some("db"));
    assert_eq!(chart["chart"].as_str(), Some("deploy/charts/db"));
    let values: Vec<&str> = chart["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(values, ["deploy/charts/db/values-dev.yaml"]);
    let o = sb.devenv(["config", "validate"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));

    helm(&sb, &["lint", "deploy/charts/db"]);
    let mut args = vec!["template", "db", "deploy/charts/db"];
    for v in &values {
        args.extend(["--values", v]);
    }
    let rendered: Vec<serde_json::Value> = serde_yaml_ng::Deserializer::from_str(&helm(&sb, &args))
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|d: &serde_json::Value| !d.is_null())
        .collect();
    let kinds: Vec<(&str, &str)> = rendered
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap(),
                d["metadata"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(kinds, [("Service", "db"), ("Deployment", "db")]);
    // values-dev.yaml (1 replica) wins over the chart's values.yaml (2).
    assert_eq!(rendered[1]["spec"]["replicas"], 1);
}

/// In a project, `--chart` adds the chart and appends its entry, keeping every byte of
/// devenv.toml; again, it changes nothing; an overlay's name is refused.
#[test]
fn init_with_a_chart_in_a_project_appends_once_and_refuses_an_overlays_name() {
    let sb = Sandbox::new();
    assert_eq!(init(&sb, &["--yes"]).status.code(), Some(0));
    let before = sb.read("devenv.toml");
    let o = init(&sb, &["--chart", "cache"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let after = sb.read("devenv.toml");
    assert!(
        after.starts_with(&before),
        "devenv.toml was rewritten:\n{after}"
    );
    assert!(
        after[before.len()..].contains("[[charts]]\nname = \"cache\"\n"),
        "{after}"
    );
    let o = sb.devenv(["config", "validate"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));

    let snap = snapshot(&sb.project);
    let o = init(&sb, &["--chart", "cache"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(!text(&o.stderr).contains("created"), "{}", show(&o));
    assert_eq!(snapshot(&sb.project), snap);

    // The scaffold's overlay is `dev`: charts and overlays share one name space.
    let o = init(&sb, &["--chart", "dev"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        text(&o.stderr).contains("already has an overlay named \"dev\""),
        "{}",
        show(&o)
    );
    assert_eq!(snapshot(&sb.project), snap);
}
