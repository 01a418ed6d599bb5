//! See main.rs. Deploying to a real API server: immutable fields (a changed Job is
//! re-created), `OnDelete` StatefulSets and DaemonSets, Jobs that fail, namespaces that stay
//! Terminating after `down`. Each test failed on the main before its fix, against the fake
//! kubectl that now carries the API server's rules (`fakes/src/kube.rs` cites them).

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{copy_dir, free_port, Call, Run, Sandbox, CALICO};

// ---------------------------------------------------------------------------------------
// helpers

/// devenv ARGS in the sandbox's project, killed after `limit` (then exit -1).
fn run_within(sb: &Sandbox, args: &[&str], limit: Duration) -> Run {
    Run::of(sb.devenv(args), limit)
}

fn run(sb: &Sandbox, args: &[&str]) -> Run {
    run_within(sb, args, Duration::from_secs(60))
}

#[track_caller]
fn up_ok(sb: &Sandbox) -> Run {
    let r = run(sb, &["up"]);
    assert_eq!(r.code, 0, "devenv up failed: {r:?}");
    r
}

fn lines(calls: &[Call]) -> String {
    calls.iter().map(Call::line).collect::<Vec<_>>().join("\n")
}

/// A k3d project without images, verify off, one overlay `app` at k8s/app with `wait`.
fn project(sb: &Sandbox, name: &str, wait: &str) {
    sb.write(
        "devenv.toml",
        &format!(
            "version = 1\n\n[project]\nname = \"{name}\"\n\n[cluster]\napi_port = {}\nagents = 1\ntimeout = \"5m\"\n\n\
             [registry]\nport = {}\n\n[calico]\nmanifests = \"{CALICO}\"\ntimeout = \"5m\"\n\n\
             [verify]\nenabled = false\n\n\
             [[overlays]]\nname = \"app\"\npath = \"k8s/app\"\nwait = {wait}\ntimeout = \"5m\"\n",
            free_port(),
            free_port()
        ),
    );
}

/// k8s/app: namespace `shop` and these manifests.
fn overlay(sb: &Sandbox, files: &[(&str, &str)]) {
    let mut resources = String::from("  - namespace.yaml\n");
    sb.write(
        "k8s/app/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
    );
    for (file, text) in files {
        sb.write(format!("k8s/app/{file}"), text);
        resources.push_str(&format!("  - {file}\n"));
    }
    sb.write(
        "k8s/app/kustomization.yaml",
        &format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: shop\nresources:\n{resources}"
        ),
    );
}

fn job(name: &str, version: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\nspec:\n  backoffLimit: 0\n{extra_spec}  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: {name}\n          image: docker.io/library/busybox:1.36\n          command: [\"sh\", \"-c\", \"echo migrating\"]\n          env:\n            - name: VERSION\n              value: \"{version}\"\n"
    )
}

/// `kubectl --context k3d-NAME ARGS` against the fake cluster, as its admin (stdout; panics
/// on failure).
fn admin(sb: &Sandbox, cluster: &str, args: &[&str]) -> String {
    let context = format!("k3d-{cluster}");
    let mut all = vec![
        "--kubeconfig",
        ".devenv/kubeconfig",
        "--context",
        context.as_str(),
    ];
    all.extend_from_slice(args);
    sb.kubectl_ok(&all)
}

fn get_json(sb: &Sandbox, cluster: &str, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend(["-o", "json"]);
    serde_json::from_str(&admin(sb, cluster, &all)).expect("kubectl get -o json")
}

fn condition(object: &Value, kind: &str) -> Option<String> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .and_then(|c| c["status"].as_str().map(str::to_string))
}

// ---------------------------------------------------------------------------------------
// 1. immutable fields: a changed Job devenv applied is re-created; one it did not, never

#[test]
fn a_changed_job_that_devenv_applied_is_recreated_and_waited_for() {
    let sb = Sandbox::new();
    project(&sb, "recreate", "\"auto\"");
    overlay(&sb, &[("migrate.yaml", &job("migrate", "1", ""))]);
    up_ok(&sb);

    // A new image tag (here: a new env value) changes the Job's pod template, which the
    // API server refuses to update (spec.template is immutable).
    overlay(&sb, &[("migrate.yaml", &job("migrate", "2", ""))]);
    sb.clear_calls();
    let r = up_ok(&sb);
    assert!(
        r.text.contains(
            "re-created job.batch/migrate in shop (spec.template cannot change in place)"
        ),
        "{r:?}"
    );
    let calls = sb.calls();
    let delete = calls
        .iter()
        .position(|c| {
            c.tool == "kubectl"
                && c.has(&["delete", "Job.batch", "migrate", "-n", "shop"])
                && c.has(&["--cascade=foreground"])
        })
        .unwrap_or_else(|| panic!("no foreground delete of the Job:\n{}", lines(&calls)));
    let applies: Vec<usize> = calls
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            c.tool == "kubectl" && c.has(&["apply"]) && c.line().contains("app.apply.yaml")
        })
        .map(|(i, _)| i)
        .collect();
    assert!(
        applies.len() == 2 && applies[0] < delete && delete < applies[1],
        "refused apply, delete, apply again:\n{}",
        lines(&calls)
    );
    let waited = calls
        .iter()
        .rposition(|c| c.has(&["wait", "--for=condition=Complete", "job/migrate"]))
        .expect("the new Job is waited for");
    assert!(waited > applies[1], "{}", lines(&calls));
    // The Job in the cluster is the new one, and it completed.
    let j = get_json(&sb, "recreate", &["job", "migrate", "-n", "shop"]);
    assert_eq!(
        j["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"],
        "2"
    );
    assert_eq!(condition(&j, "Complete").as_deref(), Some("True"), "{j:#}");
}

#[test]
fn an_immutable_change_to_an_object_devenv_did_not_create_is_refused_with_the_field() {
    let sb = Sandbox::new();
    project(&sb, "notours", "\"none\"");
    overlay(&sb, &[("seed.yaml", &job("seed", "ours", ""))]);
    // The cluster exists (first up with an empty overlay), then someone else creates the Job.
    overlay(&sb, &[]);
    up_ok(&sb);
    let theirs = sb.write(
        "theirs.yaml",
        &job("seed", "theirs", "").replace(
            "metadata:\n  name: seed\n",
            "metadata:\n  name: seed\n  namespace: shop\n",
        ),
    );
    admin(
        &sb,
        "notours",
        &[
            "apply",
            "--server-side",
            "--field-manager=someone-else",
            "-f",
            theirs.to_str().unwrap(),
        ],
    );
    overlay(&sb, &[("seed.yaml", &job("seed", "ours", ""))]);
    sb.clear_calls();
    let r = run(&sb, &["up"]);
    assert_eq!(r.code, 1, "{r:?}");
    let text = r.text.clone();
    for want in [
        "job.batch/seed in shop cannot be changed in place",
        "spec.template",
        "devenv did not create it",
        "kubectl -n shop delete job.batch seed",
    ] {
        assert!(text.contains(want), "missing {want:?}: {r:?}");
    }
    let calls = sb.calls();
    assert!(
        !calls
            .iter()
            .any(|c| c.tool == "kubectl" && c.has(&["delete"])),
        "{}",
        lines(&calls)
    );
    let j = get_json(&sb, "notours", &["job", "seed", "-n", "shop"]);
    assert_eq!(
        j["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"],
        "theirs"
    );
}

// ---------------------------------------------------------------------------------------
// 2. OnDelete StatefulSets and DaemonSets: rollout status refuses them

fn on_delete_workloads() -> [(&'static str, String); 2] {
    let pod = "    metadata:\n      labels: {app: X}\n    spec:\n      containers:\n        - name: X\n          image: docker.io/library/busybox:1.36\n";
    [
        (
            "db.yaml",
            format!(
                "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec:\n  serviceName: db\n  replicas: 2\n  updateStrategy:\n    type: OnDelete\n  selector:\n    matchLabels: {{app: db}}\n  template:\n{}",
                pod.replace('X', "db")
            ),
        ),
        (
            "agent.yaml",
            format!(
                "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\nspec:\n  updateStrategy:\n    type: OnDelete\n  selector:\n    matchLabels: {{app: agent}}\n  template:\n{}",
                pod.replace('X', "agent")
            ),
        ),
    ]
}

#[test]
fn on_delete_statefulsets_and_daemonsets_are_waited_for_by_their_ready_pods() {
    for (name, wait) in [
        ("ondelete", "\"auto\""),
        ("ondelete2", "[\"statefulset/db\", \"daemonset/agent\"]"),
    ] {
        let sb = Sandbox::new();
        project(&sb, name, wait);
        let files = on_delete_workloads();
        overlay(
            &sb,
            &files
                .iter()
                .map(|(f, t)| (*f, t.as_str()))
                .collect::<Vec<_>>(),
        );
        let r = up_ok(&sb);
        let calls = sb.calls();
        for object in [["statefulset", "db"], ["daemonset", "agent"]] {
            assert!(
                calls
                    .iter()
                    .any(|c| c.has(&["get", object[0], object[1], "-n", "shop", "-o", "json"])),
                "{wait}: {object:?} was not read:\n{}\n{r:?}",
                lines(&calls)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// 3. A Job that fails is reported at once, with its log and events

#[test]
fn a_failing_job_is_reported_within_seconds_with_its_log() {
    let sb = Sandbox::new();
    project(&sb, "failjob", "\"auto\"");
    overlay(&sb, &[("migrate.yaml", &job("migrate", "1", ""))]);
    std::fs::write(
        sb.state.join("jobs.json"),
        r#"{"shop/migrate": {"exit": 1, "log": "connecting to db\nrunning 0042_users.sql\nerror: relation \"users\" does not exist\n"}}"#,
    )
    .unwrap();
    // The overlay's timeout is 5 minutes: noticing the failure only then would time out here.
    let r = run_within(&sb, &["up"], Duration::from_secs(40));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.took < Duration::from_secs(30), "{r:?}");
    let text = r.text.clone();
    for want in [
        "job/migrate in shop failed (BackoffLimitExceeded: Job has reached the specified backoff limit)",
        "error: relation \"users\" does not exist",
        "running 0042_users.sql",
        // its events, as the Job controller records them
        "Warning BackoffLimitExceeded: Job has reached the specified backoff limit",
        "Normal SuccessfulCreate: Created pod: migrate-",
    ] {
        assert!(text.contains(want), "missing {want:?}: {r:?}");
    }
    // The failed step is recorded as failed, and the next up resumes at it: nothing before
    // it runs again, the Job is applied and waited for again.
    let journal: Value = serde_json::from_str(&sb.read(".devenv/state.json")).unwrap();
    assert_eq!(
        journal["steps"]["overlay:app"]["status"], "failed",
        "{journal:#}"
    );
    assert_eq!(journal["steps"]["cluster"]["status"], "done", "{journal:#}");
    std::fs::remove_file(sb.state.join("jobs.json")).unwrap();
    admin(&sb, "failjob", &["-n", "shop", "delete", "job", "migrate"]);
    sb.clear_calls();
    up_ok(&sb);
    let calls = sb.calls();
    assert!(
        !calls
            .iter()
            .any(|c| c.tool == "k3d" && c.has(&["cluster", "create"])),
        "{}",
        lines(&calls)
    );
    assert!(
        calls
            .iter()
            .any(|c| c.has(&["apply"]) && c.line().contains("app.apply.yaml"))
            && calls
                .iter()
                .any(|c| c.has(&["wait", "--for=condition=Complete", "job/migrate"])),
        "{}",
        lines(&calls)
    );
    let journal: Value = serde_json::from_str(&sb.read(".devenv/state.json")).unwrap();
    assert_eq!(
        journal["steps"]["overlay:app"]["status"], "done",
        "{journal:#}"
    );
}

#[test]
fn a_job_past_its_deadline_is_reported_as_deadline_exceeded() {
    // kubectl's waits time out on the simulated clock: give them time to see the deadline.
    let sb = Sandbox::new().sleep_scale(0.05);
    project(&sb, "deadline", "[\"job/slow\"]");
    overlay(
        &sb,
        &[(
            "slow.yaml",
            &job("slow", "1", "  activeDeadlineSeconds: 2\n"),
        )],
    );
    std::fs::write(
        sb.state.join("jobs.json"),
        r#"{"slow": {"exit": 0, "runs_ms": 600000, "log": "still working\n"}}"#,
    )
    .unwrap();
    let r = run_within(&sb, &["up"], Duration::from_secs(40));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.took < Duration::from_secs(30), "{r:?}");
    assert!(
        r.text.contains(
            "job/slow in shop failed (DeadlineExceeded: Job was active longer than specified deadline)"
        ),
        "{r:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 7. Terminating namespaces: down waits for them, so the next up can create content

/// A shared cluster `shared` with Calico up (as an admin would have it), for
/// `provider = "existing"`.
fn shared_cluster(sb: &Sandbox) {
    sb.k3d_ok(&["cluster", "create", "shared", "--agents", "1"]);
    let k = |args: &[&str]| {
        let mut all = vec!["--context", "k3d-shared"];
        all.extend_from_slice(args);
        sb.kubectl_ok(&all);
    };
    k(&[
        "apply",
        "--server-side",
        "-f",
        &format!("{CALICO}/operator-crds.yaml"),
    ]);
    k(&[
        "wait",
        "--for=condition=Established",
        "--timeout=300s",
        "crd/installations.operator.tigera.io",
    ]);
    k(&[
        "apply",
        "--server-side",
        "-f",
        &format!("{CALICO}/tigera-operator.yaml"),
    ]);
    k(&[
        "-n",
        "tigera-operator",
        "rollout",
        "status",
        "deployment/tigera-operator",
        "--timeout=300s",
    ]);
    let installation = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/calico-installation-k3d.yaml"
    );
    k(&["apply", "--server-side", "-f", installation]);
    k(&[
        "wait",
        "--for=create",
        "--timeout=300s",
        "tigerastatus/calico",
    ]);
    k(&[
        "wait",
        "--for=condition=Available",
        "--timeout=300s",
        "tigerastatus/calico",
    ]);
    let calico_node = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/existing/cluster/calico-node.yaml"
    );
    k(&["apply", "--server-side", "-f", calico_node]);
    sb.clear_calls();
}

#[test]
fn down_waits_for_its_namespaces_to_terminate_so_up_can_follow() {
    // A namespace takes 3 s to terminate (on a real cluster: seconds to minutes); kubectl's
    // waits time out on the simulated clock (× 0.05), long enough to see it go.
    let sb = Sandbox::new()
        .sleep_scale(0.05)
        .env("DEVENV_FAKE_NAMESPACE_TERMINATION_MS", "3000");
    shared_cluster(&sb);
    sb.write(
        "devenv.toml",
        "version = 1\n\n[project]\nname = \"shop\"\n\n[cluster]\nprovider = \"existing\"\ncontext = \"k3d-shared\"\n\n\
         [registry]\nprovider = \"external\"\naddress = \"registry.example.test/team\"\n\n[verify]\nenabled = false\n\n\
         [[overlays]]\nname = \"app\"\npath = \"k8s/app\"\ntimeout = \"20s\"\n",
    );
    overlay(&sb, &[("migrate.yaml", &job("migrate", "1", ""))]);
    let owner = [("DEVENV_OWNER", "alice")];
    let dev = |args: &[&str]| {
        let mut cmd = sb.devenv(args);
        cmd.envs(owner);
        Run::of(cmd, Duration::from_secs(60))
    };
    let r = dev(&["up"]);
    assert_eq!(r.code, 0, "{r:?}");
    let r = dev(&["down"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.text.contains("to finish terminating"), "{r:?}");
    // Gone, not Terminating.
    let ns = sb.kubectl_ok(&["--context", "k3d-shared", "get", "namespaces", "-o", "name"]);
    assert!(!ns.contains("shop-alice"), "{ns}");
    let r = dev(&["up"]);
    assert_eq!(r.code, 0, "up right after down: {r:?}");
    assert!(!r.text.contains("being terminated"), "{r:?}");
    // reset: the same delete, then up at once.
    let r = dev(&["reset", "--yes"]);
    assert_eq!(r.code, 0, "reset on an existing cluster: {r:?}");
    assert!(r.text.contains("to finish terminating"), "{r:?}");
}

// ---------------------------------------------------------------------------------------
// CRDs are not Established at once: an overlay's custom resources wait for their CRD

#[test]
fn custom_resources_are_applied_only_once_their_crd_is_established() {
    // The CRD takes a real second to be Established (the API serves its kind only then);
    // kubectl's waits run on a clock × 0.01 (5 minutes → 3 s).
    let sb = Sandbox::new()
        .sleep_scale(0.01)
        .env("DEVENV_FAKE_CRD_ESTABLISH_MS", "1000");
    project(&sb, "crds", "\"auto\"");
    overlay(
        &sb,
        &[
            (
                "crd.yaml",
                "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {kind: Widget, plural: widgets, singular: widget}\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}\n",
            ),
            (
                "widget.yaml",
                "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: 3\n",
            ),
        ],
    );
    let r = up_ok(&sb);
    let calls = sb.calls();
    let established = calls
        .iter()
        .position(|c| {
            c.has(&[
                "wait",
                "--for=condition=Established",
                "crd/widgets.example.com",
            ])
        })
        .unwrap_or_else(|| panic!("no Established wait:\n{}\n{r:?}", lines(&calls)));
    let applied = calls
        .iter()
        .position(|c| c.has(&["apply"]) && c.line().contains("app.apply.yaml"))
        .expect("the overlay is applied");
    assert!(established < applied, "{}", lines(&calls));
    let w = get_json(&sb, "crds", &["widgets", "w", "-n", "shop"]);
    assert_eq!(w["spec"]["size"], 3);
}

// ---------------------------------------------------------------------------------------
// The shipped example, twice, with a change to the `api` image in between

/// A minimal OCI distribution registry (what `docker push` and devenv's registry client
/// use: the API check, blob uploads, manifests by tag or digest), serving on `listener`
/// until the test ends. Stands in for the k3d registry, which the fake k3d does not run.
fn serve_registry(listener: TcpListener) {
    use sha2::Digest;
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::{Arc, Mutex};
    type Store = HashMap<String, (String, Vec<u8>)>;
    let store: Arc<Mutex<Store>> = Arc::default();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut head = String::new();
                reader.read_line(&mut head).ok();
                let mut parts = head.split_whitespace();
                let method = parts.next().unwrap_or("").to_string();
                let target = parts.next().unwrap_or("").to_string();
                let mut len = 0usize;
                let mut ctype = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.trim_end().split_once(':') {
                        match k.to_ascii_lowercase().as_str() {
                            "content-length" => len = v.trim().parse().unwrap_or(0),
                            "content-type" => ctype = v.trim().to_string(),
                            _ => {}
                        }
                    }
                }
                let mut body = vec![0; len];
                reader.read_exact(&mut body).ok();
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                let digest_of =
                    |b: &[u8]| format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)));
                let mut st = store.lock().unwrap();
                let (status, headers, out): (&str, Vec<(String, String)>, Vec<u8>) = if path
                    == "/v2/"
                {
                    ("200 OK", vec![], b"{}".to_vec())
                } else if let Some((name, reference)) = path
                    .strip_prefix("/v2/")
                    .and_then(|p| p.split_once("/manifests/"))
                {
                    let key = format!("{name}@{reference}");
                    if method == "PUT" {
                        let d = digest_of(&body);
                        st.insert(key, (ctype.clone(), body.clone()));
                        st.insert(format!("{name}@{d}"), (ctype.clone(), body));
                        (
                            "201 Created",
                            vec![("Docker-Content-Digest".into(), d)],
                            vec![],
                        )
                    } else if let Some((t, b)) = st.get(&key) {
                        let h = vec![
                            ("Content-Type".into(), t.clone()),
                            ("Docker-Content-Digest".into(), digest_of(b)),
                        ];
                        ("200 OK", h, b.clone())
                    } else {
                        ("404 Not Found", vec![], br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#.to_vec())
                    }
                } else if let Some((name, rest)) = path
                    .strip_prefix("/v2/")
                    .and_then(|p| p.split_once("/blobs/"))
                {
                    if method == "POST" {
                        let loc = format!("/v2/{name}/blobs/uploads/u{}", st.len());
                        ("202 Accepted", vec![("Location".into(), loc)], vec![])
                    } else if method == "PUT" {
                        let d = query
                            .split('&')
                            .find_map(|kv| kv.strip_prefix("digest="))
                            .unwrap_or("")
                            .replace("%3A", ":");
                        st.insert(format!("blob {d}"), (String::new(), body));
                        (
                            "201 Created",
                            vec![("Docker-Content-Digest".into(), d)],
                            vec![],
                        )
                    } else if let Some((_, b)) = st.get(&format!("blob {rest}")) {
                        ("200 OK", vec![], b.clone())
                    } else {
                        ("404 Not Found", vec![], vec![])
                    }
                } else {
                    ("404 Not Found", vec![], vec![])
                };
                drop(st);
                let mut resp = format!(
                    "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n",
                    out.len()
                );
                for (k, v) in headers {
                    resp.push_str(&format!("{k}: {v}\r\n"));
                }
                resp.push_str("\r\n");
                let mut conn = conn;
                conn.write_all(resp.as_bytes()).ok();
                if method != "HEAD" {
                    conn.write_all(&out).ok();
                }
            });
        }
    });
}

#[test]
fn the_example_comes_up_again_after_a_change_to_the_api_image_and_migrate_is_recreated() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sb = Sandbox::new();
    copy_dir(&root.join("examples/shop"), &sb.path("examples/shop"));
    // The registry k3d would run, on a port of its own; the example's fixed ports and the
    // Calico download replaced (no network here), everything else as shipped.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let registry_port = listener.local_addr().unwrap().port();
    let example = std::fs::read_to_string(root.join("devenv.toml.example")).unwrap();
    let toml = example
        .replace("api_port = 6550", &format!("api_port = {}", free_port()))
        .replace(
            "version = \"v3.32.1\"\n",
            &format!("version = \"v3.32.1\"\nmanifests = \"{CALICO}\"\n"),
        );
    assert_ne!(toml, example);
    sb.write("devenv.toml", &toml);
    // The registry port is free for devenv's preflight; the registry listens once k3d
    // "created" it (the fake k3d runs no container).
    let port_line = "port = 5111";
    assert!(toml.contains(port_line));
    sb.write(
        "devenv.toml",
        &toml.replace(port_line, &format!("port = {registry_port}")),
    );
    drop(listener);
    let state = sb.state.clone();
    let started = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let world = std::fs::read_to_string(state.join("state.json")).unwrap_or_default();
            if world.contains("k3d-shop-registry") {
                serve_registry(TcpListener::bind(("127.0.0.1", registry_port)).unwrap());
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    // Builds take 15 s × 0.01 with the fake docker: the registry is up before the first push.
    let sb = sb.sleep_scale(0.01);
    let r = run_within(&sb, &["up"], Duration::from_secs(120));
    assert_eq!(r.code, 0, "first up: {r:?}");
    started.join().unwrap();
    let migrate = get_json(&sb, "shop", &["job", "migrate", "-n", "shop"]);
    let first_image = migrate["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string();

    // A change to the api image's context: a new content tag, so a new Job template.
    sb.write(
        "examples/shop/services/api/CHANGELOG",
        "a change to the api image\n",
    );
    sb.clear_calls();
    let r = run_within(&sb, &["up"], Duration::from_secs(120));
    assert_eq!(r.code, 0, "second up: {r:?}");
    assert!(
        r.text.contains("re-created job.batch/migrate in shop"),
        "{r:?}"
    );
    let migrate = get_json(&sb, "shop", &["job", "migrate", "-n", "shop"]);
    let image = migrate["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap();
    assert_ne!(image, first_image, "the Job runs the new api image");
    assert_eq!(
        condition(&migrate, "Complete").as_deref(),
        Some("True"),
        "{migrate:#}"
    );
}

// ---------------------------------------------------------------------------------------
// The fake API server as strict as the real one: unknown fields, list merging, StatefulSets

#[test]
fn a_misspelt_field_is_refused_by_the_server_and_named() {
    let sb = Sandbox::new();
    project(&sb, "typo", "\"auto\"");
    overlay(
        &sb,
        &[(
            "migrate.yaml",
            &job("migrate", "1", "").replace(
                "restartPolicy: Never",
                "restartPolicy: Never\n      restartPolicyy: Never",
            ),
        )],
    );
    let r = run(&sb, &["up"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.text.contains(
            "failed to create typed patch object (shop/migrate; batch/v1, Kind=Job): .spec.template.spec.restartPolicyy: field not declared in schema"
        ),
        "{r:?}"
    );
}

#[test]
fn a_container_another_manager_added_survives_devenvs_apply() {
    // A mesh injector (another field manager) adds a sidecar to devenv's Deployment; devenv
    // applies again: server-side apply merges `containers` by name, so both stay.
    let sb = Sandbox::new();
    project(&sb, "sidecar", "\"none\"");
    let deployment = |v: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  selector:\n    matchLabels: {{app: api}}\n  template:\n    metadata:\n      labels: {{app: api}}\n    spec:\n      containers:\n        - name: api\n          image: docker.io/library/busybox:1.36\n          env:\n            - name: VERSION\n              value: \"{v}\"\n"
        )
    };
    overlay(&sb, &[("api.yaml", &deployment("1"))]);
    up_ok(&sb);
    let sidecar = sb.write(
        "sidecar.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: shop\nspec:\n  template:\n    spec:\n      containers:\n        - name: proxy\n          image: docker.io/library/envoy:v1\n        - name: api\n          env:\n            - name: MESH\n              value: \"on\"\n",
    );
    admin(
        &sb,
        "sidecar",
        &[
            "apply",
            "--server-side",
            "--field-manager=injector",
            "-f",
            sidecar.to_str().unwrap(),
        ],
    );
    overlay(&sb, &[("api.yaml", &deployment("2"))]);
    up_ok(&sb);
    let d = get_json(&sb, "sidecar", &["deployment", "api", "-n", "shop"]);
    let containers = d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = containers
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["api", "proxy"], "{d:#}");
    let env: Vec<(String, String)> = containers[0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().into(),
                e["value"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        env,
        [("VERSION".into(), "2".into()), ("MESH".into(), "on".into())],
        "{d:#}"
    );
}

#[test]
fn a_statefulset_whose_service_name_changed_is_recreated() {
    let sb = Sandbox::new();
    project(&sb, "stsname", "\"auto\"");
    let sts = |service: &str| {
        format!(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec:\n  serviceName: {service}\n  replicas: 1\n  selector:\n    matchLabels: {{app: db}}\n  template:\n    metadata:\n      labels: {{app: db}}\n    spec:\n      containers:\n        - name: db\n          image: docker.io/library/postgres:17\n"
        )
    };
    overlay(&sb, &[("db.yaml", &sts("db"))]);
    up_ok(&sb);
    overlay(&sb, &[("db.yaml", &sts("db-headless"))]);
    let r = up_ok(&sb);
    assert!(
        r.text
            .contains("re-created statefulset.apps/db in shop (spec cannot change in place)"),
        "{r:?}"
    );
    let s = get_json(&sb, "stsname", &["statefulset", "db", "-n", "shop"]);
    assert_eq!(s["spec"]["serviceName"], "db-headless");
}

#[test]
fn an_overlay_applied_into_a_namespace_still_terminating_waits_for_it_and_creates_it_again() {
    // Someone deleted the namespace (or a down that did not wait): it takes 3 s to go.
    let sb = Sandbox::new()
        .sleep_scale(0.05)
        .env("DEVENV_FAKE_NAMESPACE_TERMINATION_MS", "3000");
    project(&sb, "terminating", "\"auto\"");
    overlay(&sb, &[("migrate.yaml", &job("migrate", "1", ""))]);
    up_ok(&sb);
    admin(
        &sb,
        "terminating",
        &["delete", "namespace", "shop", "--wait=false"],
    );
    overlay(&sb, &[("migrate.yaml", &job("migrate", "2", ""))]);
    let r = up_ok(&sb);
    assert!(
        r.text.contains("namespace(s) shop still terminating"),
        "{r:?}"
    );
    let ns = get_json(&sb, "terminating", &["namespace", "shop"]);
    assert_eq!(ns["status"]["phase"], "Active", "{ns:#}");
    let j = get_json(&sb, "terminating", &["job", "migrate", "-n", "shop"]);
    assert_eq!(condition(&j, "Complete").as_deref(), Some("True"), "{j:#}");
}

#[test]
fn a_deployment_whose_selector_changed_and_a_service_whose_cluster_ip_changed_are_recreated() {
    let sb = Sandbox::new();
    project(&sb, "selectors", "\"auto\"");
    let files = |app: &str, ip: &str| {
        [
            (
                "api.yaml",
                format!(
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  selector:\n    matchLabels: {{app: {app}}}\n  template:\n    metadata:\n      labels: {{app: {app}}}\n    spec:\n      containers:\n        - name: api\n          image: docker.io/library/busybox:1.36\n"
                ),
            ),
            (
                "svc.yaml",
                format!(
                    "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\nspec:\n  clusterIP: {ip}\n  selector: {{app: {app}}}\n  ports:\n    - port: 80\n"
                ),
            ),
        ]
    };
    let first = files("api", "10.43.0.50");
    overlay(
        &sb,
        &first
            .iter()
            .map(|(f, t)| (*f, t.as_str()))
            .collect::<Vec<_>>(),
    );
    up_ok(&sb);
    let second = files("api-v2", "10.43.0.51");
    overlay(
        &sb,
        &second
            .iter()
            .map(|(f, t)| (*f, t.as_str()))
            .collect::<Vec<_>>(),
    );
    let r = up_ok(&sb);
    for want in [
        "re-created deployment.apps/api in shop (spec.selector cannot change in place)",
        "re-created service/api in shop (spec.clusterIPs[0] cannot change in place)",
    ] {
        assert!(r.text.contains(want), "missing {want:?}: {r:?}");
    }
    let d = get_json(&sb, "selectors", &["deployment", "api", "-n", "shop"]);
    assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], "api-v2");
    let s = get_json(&sb, "selectors", &["service", "api", "-n", "shop"]);
    assert_eq!(s["spec"]["clusterIP"], "10.43.0.51");
}
