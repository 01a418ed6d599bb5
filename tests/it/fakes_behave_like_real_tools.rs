//! The fake k3d/kubectl must match the real tools (shared/reference): JSON shapes and key
//! order of the samples, error texts, exit codes, kubeconfig merging, fault injection, speed.

use crate::support::{self, json, Sandbox, GET_REGISTRY_HOSTING};
use std::path::Path;
use std::time::{Duration, Instant};

// A copy of shared/reference/samples (facts gathered from the real tools, with their origins).
const SAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/reference/samples"
);

fn sample(name: &str) -> String {
    let p = Path::new(SAMPLES).join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).expect("utf8")
}

/// JSON structure with key order kept and scalar values reduced to their type.
#[derive(Debug, PartialEq)]
enum Shape {
    Obj(Vec<(String, Shape)>),
    Arr(Vec<Shape>),
    Str,
    Num,
    Bool,
    Null,
}

fn shape(s: &str) -> Shape {
    fn ws(b: &[u8], i: &mut usize) {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    }
    fn string(b: &[u8], i: &mut usize) -> String {
        *i += 1;
        let start = *i;
        while b[*i] != b'"' {
            if b[*i] == b'\\' {
                *i += 1;
            }
            *i += 1;
        }
        *i += 1;
        String::from_utf8_lossy(&b[start..*i - 1]).into_owned()
    }
    fn value(b: &[u8], i: &mut usize) -> Shape {
        ws(b, i);
        match b[*i] {
            b'{' => {
                *i += 1;
                let mut v = Vec::new();
                loop {
                    ws(b, i);
                    if b[*i] == b'}' {
                        *i += 1;
                        return Shape::Obj(v);
                    }
                    let k = string(b, i);
                    ws(b, i);
                    *i += 1; // ':'
                    v.push((k, value(b, i)));
                    ws(b, i);
                    if b[*i] == b',' {
                        *i += 1;
                    }
                }
            }
            b'[' => {
                *i += 1;
                let mut v = Vec::new();
                loop {
                    ws(b, i);
                    if b[*i] == b']' {
                        *i += 1;
                        return Shape::Arr(v);
                    }
                    v.push(value(b, i));
                    ws(b, i);
                    if b[*i] == b',' {
                        *i += 1;
                    }
                }
            }
            b'"' => {
                string(b, i);
                Shape::Str
            }
            b't' | b'f' => {
                *i += if b[*i] == b't' { 4 } else { 5 };
                Shape::Bool
            }
            b'n' => {
                *i += 4;
                Shape::Null
            }
            _ => {
                while *i < b.len()
                    && (b[*i] == b'-' || b[*i] == b'.' || b[*i].is_ascii_alphanumeric())
                {
                    *i += 1;
                }
                Shape::Num
            }
        }
    }
    value(s.as_bytes(), &mut 0)
}

/// The scenario of the samples: registry on 127.0.0.1:5111, cluster `devenv` from the sample config.
fn sample_world() -> Sandbox {
    let sb = Sandbox::new();
    sb.k3d_ok(&[
        "registry",
        "create",
        "devenv-registry",
        "--port",
        "127.0.0.1:5111",
        "--no-help",
    ]);
    std::fs::copy(
        Path::new(SAMPLES).join("k3d-config-v1alpha5.yaml"),
        sb.path("k3d.yaml"),
    )
    .unwrap();
    sb.k3d_ok(&["cluster", "create", "--config", "k3d.yaml"]);
    sb
}

const K: [&str; 4] = [
    "--kubeconfig",
    "../home/.kube/config",
    "--context",
    "k3d-devenv",
];

fn kc(args: &[&str]) -> Vec<String> {
    K.iter().chain(args).map(|s| s.to_string()).collect()
}

fn kubectl(sb: &Sandbox, args: &[&str]) -> std::process::Output {
    let a = kc(args);
    sb.kubectl(&a.iter().map(String::as_str).collect::<Vec<_>>())
}

/// `kubectl wait --for=CONDITION --timeout=TIMEOUT TARGETS...` against the sample world.
fn kubectl_wait(
    sb: &Sandbox,
    condition: &str,
    timeout: &str,
    targets: &[&str],
) -> std::process::Output {
    let (for_, timeout) = (format!("--for={condition}"), format!("--timeout={timeout}"));
    let args: Vec<&str> = ["wait", for_.as_str(), timeout.as_str()]
        .into_iter()
        .chain(targets.iter().copied())
        .collect();
    kubectl(sb, &args)
}

#[test]
fn empty_listings_are_byte_identical_to_the_samples() {
    let sb = Sandbox::new();
    assert_eq!(
        sb.k3d_ok(&["cluster", "list", "-o", "json"]),
        sample("k3d-cluster-list-empty.json")
    );
    assert_eq!(
        sb.k3d_ok(&["registry", "list", "-o", "json"]),
        sample("k3d-registry-list-empty.json")
    );
    assert_eq!(
        sb.k3d_ok(&["node", "list", "-o", "json"]),
        sample("k3d-node-list-empty.json")
    );
}

#[test]
fn versions_match_the_samples() {
    let sb = Sandbox::new();
    assert_eq!(
        sb.kubectl_ok(&["version", "--client", "-o", "json"]),
        sample("kubectl-version-client.json")
    );
    assert_eq!(
        sb.k3d_ok(&["version", "-o", "json"]),
        "{\"k3d\":\"v5.9.0\",\"k3s\":\"v1.32.5-k3s1\"}\n"
    );
    assert_eq!(
        sb.k3d_ok(&["version"]),
        "k3d version v5.9.0\nk3s version v1.32.5-k3s1 (default)\n"
    );
}

#[test]
fn k3d_listings_have_the_shape_and_key_order_of_the_samples() {
    let sb = sample_world();
    for (args, file) in [
        (
            vec!["cluster", "list", "-o", "json"],
            "k3d-cluster-list.json",
        ),
        (
            vec!["cluster", "list", "devenv", "-o", "json"],
            "k3d-cluster-get.json",
        ),
        (vec!["node", "list", "-o", "json"], "k3d-node-list.json"),
        (
            vec!["registry", "list", "-o", "json"],
            "k3d-registry-list.json",
        ),
    ] {
        let out = sb.k3d_ok(&args);
        assert!(
            out.ends_with("}]\n") && out.lines().count() == 1,
            "k3d prints one compact line: {out}"
        );
        assert_eq!(
            shape(&out),
            shape(&sample(file)),
            "shape of `k3d {}` differs from {file}",
            args.join(" ")
        );
        let ours: serde_json::Value = serde_json::from_str(&out).unwrap();
        let theirs: serde_json::Value = serde_json::from_str(&sample(file)).unwrap();
        // what devenv reads: names, roles, ports, labels (ids, IPs, times are illustrative)
        for ptr in [
            "/0/name",
            "/0/nodes/0/name",
            "/0/nodes/0/portMappings",
            "/0/serverLoadBalancer/config",
            "/0/nodes/2/Cmd",
            "/0/role",
            "/0/portMappings",
            "/0/Networks",
            "/1/runtimeLabels/k3d.registry.host",
        ] {
            assert_eq!(ours.pointer(ptr), theirs.pointer(ptr), "{file} {ptr}");
        }
    }
}

#[test]
fn kubectl_objects_have_the_shape_of_the_samples() {
    let sb = sample_world();
    let out = text(&kubectl(&sb, &["get", "nodes", "-o", "json"]).stdout);
    assert!(
        out.starts_with("{\n    \"apiVersion\": \"v1\",\n    \"items\": ["),
        "4-space List wrapper: {out}"
    );
    assert!(out.ends_with("    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n"));
    let ours: serde_json::Value = serde_json::from_str(&out).unwrap();
    let theirs: serde_json::Value =
        serde_json::from_str(&sample("kubectl-get-nodes.json")).unwrap();
    let server = ours["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["metadata"]["name"] == "k3d-devenv-server-0")
        .unwrap();
    assert_eq!(
        shape(&serde_json::to_string(server).unwrap()),
        shape(&serde_json::to_string(&theirs["items"][0]).unwrap())
    );
    assert_eq!(
        server["status"]["conditions"][3],
        json!({"lastHeartbeatTime": server["status"]["conditions"][3]["lastHeartbeatTime"], "lastTransitionTime": server["status"]["conditions"][3]["lastTransitionTime"], "message": theirs["items"][0]["status"]["conditions"][3]["message"], "reason": "KubeletNotReady", "status": "False", "type": "Ready"})
    );
    assert_eq!(
        server["spec"]["taints"],
        theirs["items"][0]["spec"]["taints"]
    );
    assert_eq!(
        server["metadata"]["annotations"]["k3s.io/node-args"],
        theirs["items"][0]["metadata"]["annotations"]["k3s.io/node-args"]
    );

    let cm = text(&kubectl(&sb, &GET_REGISTRY_HOSTING).stdout);
    let cm: serde_json::Value = serde_json::from_str(&cm).unwrap();
    let want: serde_json::Value =
        serde_yaml_ng_free(&sample("k3d-local-registry-hosting-configmap.yaml"));
    assert_eq!(cm["data"], want["data"]);
}

/// The sample ConfigMap's data value, read without a YAML crate in the test.
fn serde_yaml_ng_free(yaml: &str) -> serde_json::Value {
    let block: Vec<&str> = yaml
        .lines()
        .skip_while(|l| !l.contains("localRegistryHosting.v1"))
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .collect();
    let value: String = block.iter().map(|l| format!("{}\n", &l[4..])).collect();
    json!({"data": {"localRegistryHosting.v1": value}})
}

fn install_calico(sb: &Sandbox) {
    sb.write(
        "operator.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: tigera-operator\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: tigera-operator\n  namespace: tigera-operator\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {name: tigera-operator}\n  template:\n    metadata:\n      labels: {name: tigera-operator}\n    spec:\n      hostNetwork: true\n      containers:\n      - name: tigera-operator\n        image: quay.io/tigera/operator:v1.42.3\n",
    );
    let o = kubectl(
        sb,
        &[
            "apply",
            "--server-side",
            "--field-manager=devenv",
            "--force-conflicts",
            "-f",
            "operator.yaml",
        ],
    );
    assert_eq!(
        text(&o.stdout),
        "namespace/tigera-operator serverside-applied\ndeployment.apps/tigera-operator serverside-applied\n",
        "{}",
        text(&o.stderr)
    );
    let o = kubectl(
        sb,
        &[
            "-n",
            "tigera-operator",
            "rollout",
            "status",
            "deployment/tigera-operator",
            "--timeout=60s",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).ends_with("deployment \"tigera-operator\" successfully rolled out\n"));
    let inst = Path::new(SAMPLES).join("calico-installation-k3d.yaml");
    let o = kubectl(
        sb,
        &[
            "apply",
            "--server-side",
            "--field-manager=devenv",
            "--force-conflicts",
            "-f",
            inst.to_str().unwrap(),
        ],
    );
    assert_eq!(
        text(&o.stdout),
        "installation.operator.tigera.io/default serverside-applied\napiserver.operator.tigera.io/default serverside-applied\n"
    );
}

#[test]
fn calico_lifecycle_makes_nodes_ready() {
    let sb = sample_world();
    // before the operator: its CRDs do not exist
    let inst = Path::new(SAMPLES).join("calico-installation-k3d.yaml");
    let o = kubectl(
        &sb,
        &[
            "apply",
            "--server-side",
            "--field-manager=devenv",
            "-f",
            inst.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert_eq!(
        text(&o.stderr),
        format!("resource mapping not found for name: \"default\" namespace: \"\" from \"{0}\": no matches for kind \"Installation\" in version \"operator.tigera.io/v1\"\nensure CRDs are installed first\nresource mapping not found for name: \"default\" namespace: \"\" from \"{0}\": no matches for kind \"APIServer\" in version \"operator.tigera.io/v1\"\nensure CRDs are installed first\n", inst.display())
    );
    let o = kubectl_wait(&sb, "create", "30s", &["tigerastatus/calico"]);
    assert_eq!(
        text(&o.stderr),
        "error: the server doesn't have a resource type \"tigerastatus\"\n"
    );
    let o = kubectl_wait(&sb, "condition=Ready", "30s", &["nodes", "--all"]);
    assert_eq!(
        (o.status.code(), text(&o.stderr)),
        (
            Some(1),
            "error: timed out waiting for the condition on nodes/k3d-devenv-agent-0\n".to_string()
        )
    );

    install_calico(&sb);
    let o = kubectl_wait(&sb, "condition=Available", "30s", &["tigerastatus/calico"]);
    assert_eq!(
        text(&o.stdout),
        "tigerastatus.operator.tigera.io/calico condition met\n"
    );
    let o = kubectl_wait(&sb, "condition=Ready", "30s", &["nodes", "--all"]);
    assert_eq!(
        text(&o.stdout),
        "node/k3d-devenv-agent-0 condition met\nnode/k3d-devenv-server-0 condition met\n"
    );
    let ts = text(&kubectl(&sb, &["get", "tigerastatus", "calico", "-o", "json"]).stdout);
    assert_eq!(
        shape(&ts),
        shape(&sample("calico-tigerastatus-calico.json"))
    );
    let nodes: serde_json::Value =
        serde_json::from_str(&text(&kubectl(&sb, &["get", "nodes", "-o", "json"]).stdout)).unwrap();
    assert!(nodes["items"][0]["spec"].get("taints").is_none());
}

#[test]
fn tigerastatus_is_progressing_before_available() {
    let sb = sample_world().sleep_scale(0.05); // Calico takes 40 s × 0.05 = 2 s
    install_calico(&sb);
    let o = kubectl_wait(&sb, "create", "300s", &["tigerastatus/calico"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let ts = text(&kubectl(&sb, &["get", "tigerastatus", "calico", "-o", "json"]).stdout);
    assert_eq!(
        shape(&ts),
        shape(&sample("calico-tigerastatus-calico-progressing.json"))
    );
    let o = kubectl_wait(&sb, "condition=Available", "300s", &["tigerastatus/calico"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

#[test]
fn workloads_with_unknown_images_time_out_like_kubectl() {
    let sb = sample_world();
    install_calico(&sb);
    // The sample config has no registries.config: only the names k3d mirrors itself
    // (container name and port, RegistryGenerateK3sConfig) reach the registry from the
    // nodes; `localhost:5111/...` would not (tests/it/real_world/cluster.rs).
    sb.pushed(&["k3d-devenv-registry:5111/app:v1"]);
    sb.write("app.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: a}}\n    spec:\n      containers: [{name: a, image: k3d-devenv-registry:5111/app:missing}]\n---\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: m, image: k3d-devenv-registry:5111/app:v1}]\n");
    let o = kubectl(
        &sb,
        &[
            "apply",
            "--server-side",
            "--field-manager=devenv",
            "-f",
            "app.yaml",
        ],
    );
    assert_eq!(
        text(&o.stdout),
        "deployment.apps/app serverside-applied\njob.batch/migrate serverside-applied\n"
    );
    let o = kubectl(
        &sb,
        &["rollout", "status", "deployment/app", "--timeout=5s"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stdout),
        "Waiting for deployment \"app\" rollout to finish: 0 of 2 updated replicas are available...\n"
    );
    assert_eq!(
        text(&o.stderr),
        "error: timed out waiting for the condition\n"
    );
    let o = kubectl_wait(&sb, "condition=Complete", "5s", &["job/migrate"]);
    assert_eq!(text(&o.stdout), "job.batch/migrate condition met\n");
    let o = kubectl_wait(&sb, "condition=Available", "5s", &["deployment/app"]);
    assert_eq!(
        text(&o.stderr),
        "error: timed out waiting for the condition on deployments/app\n"
    );
}

#[test]
fn unknown_flags_fail_like_cobra() {
    let sb = Sandbox::new();
    let o = sb.k3d(&["cluster", "create", "--foo"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let err = text(&o.stderr);
    assert!(
        err.starts_with(
            "Error: unknown flag: --foo\nUsage:\n  k3d cluster create NAME [flags]\n\nFlags:\n"
        ),
        "{err}"
    );
    assert!(
        err.contains("\nGlobal Flags:\n      --timestamps   Enable Log timestamps\n"),
        "{err}"
    );
    // flag errors happen before initLogging: logrus defaults, LOG_COLORS ignored, piped ⇒ logfmt
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("time=\"") && last.ends_with(" level=fatal msg=\"unknown flag: --foo\""),
        "{last}"
    );

    for (args, cmd) in [
        (vec!["apply", "--foo", "-f", "-"], "apply"),
        (vec!["wait", "--foo"], "wait"),
        (vec!["rollout", "status", "--foo"], "rollout status"),
        (vec!["get", "nodes", "--foo"], "get"),
        (vec!["config", "use-context", "--foo"], "config use-context"),
    ] {
        let o = sb.kubectl(&args);
        assert_eq!(o.status.code(), Some(1));
        assert!(o.stdout.is_empty());
        assert_eq!(
            text(&o.stderr),
            format!("error: unknown flag: --foo\nSee 'kubectl {cmd} --help' for usage.\n")
        );
    }
}

#[test]
fn k3d_errors_and_exit_codes_match_the_reference() {
    let sb = Sandbox::new();
    let fatal = |o: &std::process::Output| {
        text(&o.stderr)
            .lines()
            .last()
            .unwrap_or("")
            .split(" msg=")
            .nth(1)
            .unwrap_or("")
            .to_string()
    };
    let long = "a".repeat(33);
    let o = sb.k3d(&["cluster", "create", &long]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(fatal(&o), format!("\"Failed Cluster Configuration Validation:  provided cluster name '{long}' does not match requirements: Cluster name must be <= 32 characters, but has 33\""));
    let o = sb.k3d(&[
        "cluster",
        "create",
        "dev",
        "--k3s-arg",
        "--flannel-backend=none",
    ]);
    assert_eq!(
        fatal(&o),
        "\"K3sExtraArg '--flannel-backend=none' lacks a node filter, but there's more than one node\""
    );
    let o = sb.k3d(&["cluster", "create", "a", "b"]);
    assert!(
        text(&o.stderr).starts_with("Error: accepts between 0 and 1 arg(s), received 2\nUsage:")
    );
    sb.k3d_ok(&[
        "cluster",
        "create",
        "dev",
        "--k3s-arg",
        "--flannel-backend=none@server:*",
        "--kubeconfig-update-default=false",
    ]);
    let o = sb.k3d(&["cluster", "create", "dev"]);
    assert_eq!(
        fatal(&o),
        "\"Failed to create cluster 'dev' because a cluster with that name already exists\""
    );
    let o = sb.k3d(&["cluster", "list", "nope", "-o", "json"]);
    assert_eq!(
        (o.status.code(), fatal(&o)),
        (Some(1), "\"No nodes found for given cluster\"".to_string())
    );
    let o = sb.k3d(&["cluster", "delete", "nope"]);
    assert_eq!(o.status.code(), Some(0));
    let out = text(&o.stdout);
    assert!(
        out.contains("msg=\"No nodes found for cluster 'nope', nothing to delete.\"\n")
            && out.ends_with("msg=\"No clusters found\"\n"),
        "{out}"
    );

    let o = sb.k3d(&["registry", "create", "reg", "--port", "127.0.0.1:5111"]);
    let out = text(&o.stdout);
    assert!(
        out.contains("msg=\"Successfully created registry 'k3d-reg'\"\n# You can now use the registry like this (example):\n"),
        "{out}"
    );
    assert!(out.ends_with("kubectl run mynginx --image k3d-reg:5111/mynginx:v0.1\n\n"));
    let o = sb.k3d(&["registry", "create", "reg", "--port", "5112"]);
    assert_eq!(
        fatal(&o),
        "\"Failed to create registry: A registry node with that name already exists\""
    );
    let regs: serde_json::Value =
        serde_json::from_str(&sb.k3d_ok(&["registry", "list", "-o", "json"])).unwrap();
    assert_eq!(
        regs[0]["portMappings"]["5000/tcp"],
        json!([{"HostIp": "127.0.0.1", "HostPort": "5111"}])
    );
    sb.k3d_ok(&["registry", "delete", "reg"]);
    let o = sb.k3d(&["registry", "delete", "k3d-reg"]);
    assert_eq!(
        fatal(&o),
        "\"failed to get node 'k3d-reg': failed to get container for node 'k3d-reg': Didn't find container for node 'k3d-reg'\""
    );

    // LOG_COLORS unset ⇒ logrus' forced colors, padded to 44 columns plus a space
    let mut c = sb.command(support::fakes_dir().join("k3d"));
    let o = c.args(["cluster", "delete", "nope"]).output().unwrap();
    assert!(
        text(&o.stdout).starts_with(
            "\x1b[36mINFO\x1b[0m[0000] No nodes found for cluster 'nope', nothing to delete. \n"
        ),
        "{:?}",
        text(&o.stdout)
    );
}

#[test]
fn kubectl_errors_match_the_reference() {
    let sb = sample_world();
    let err = |args: &[&str]| {
        let o = kubectl(&sb, args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        text(&o.stderr)
    };
    assert_eq!(
        err(&["wait", "--for=condition=Available", "tigerastatus/calico"]),
        "error: the server doesn't have a resource type \"tigerastatus\"\n"
    );
    assert_eq!(
        err(&["wait", "--for=condition=Available", "deployment/nope"]),
        "Error from server (NotFound): deployments.apps \"nope\" not found\n"
    );
    assert_eq!(
        err(&[
            "-n",
            "empty",
            "wait",
            "--for=condition=Available",
            "deployment",
            "--all"
        ]),
        "error: no matching resources found\n"
    );
    assert_eq!(
        err(&["apply", "--force-conflicts", "-f", "nope.yaml"]),
        "error: --force-conflicts only works with --server-side\n"
    );
    assert_eq!(
        err(&["-n", "nope", "rollout", "status", "deployment/x"]),
        "Error from server (NotFound): deployments.apps \"x\" not found\n"
    );
    assert_eq!(
        sb.kubectl(&["--context", "nope", "get", "nodes"]).stderr,
        b"Error in configuration: context was not found for specified context: nope\n"
    );

    // the cluster goes away: the kubeconfig devenv keeps now points at a closed port
    std::fs::copy(sb.default_kubeconfig(), sb.path("kubeconfig")).unwrap();
    sb.k3d_ok(&["cluster", "delete", "devenv"]);
    let o = sb.kubectl(&[
        "--kubeconfig",
        "kubeconfig",
        "--context",
        "k3d-devenv",
        "get",
        "nodes",
    ]);
    let e = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(e.lines().count(), 6, "{e}");
    assert!(e.lines().next().unwrap().contains(" memcache.go:265] \"Unhandled Error\" err=\"couldn't get current server API group list: Get \\\"https://127.0.0.1:6550/api?timeout=32s\\\": dial tcp 127.0.0.1:6550: connect: connection refused\""), "{e}");
    assert!(e.ends_with("The connection to the server 127.0.0.1:6550 was refused - did you specify the right host or port?\n"));
    let o = sb.kubectl(&[
        "--kubeconfig",
        "kubeconfig",
        "--context",
        "k3d-devenv",
        "wait",
        "--for=condition=Ready",
        "node/x",
    ]);
    assert_eq!(text(&o.stderr).lines().count(), 5);
}

#[test]
fn kubeconfig_merge_keeps_other_entries_byte_identical() {
    let sb = Sandbox::new();
    let other = "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: b3RoZXI=\n    server: https://10.0.0.1:6443\n  name: work\ncontexts:\n- context:\n    cluster: work\n    namespace: team\n    user: me\n  name: work\ncurrent-context: work\nkind: Config\npreferences: {}\nusers:\n- name: me\n  user:\n    token: secret\n";
    std::fs::create_dir_all(sb.default_kubeconfig().parent().unwrap()).unwrap();
    std::fs::write(sb.default_kubeconfig(), other).unwrap();
    sb.k3d_ok(&[
        "cluster",
        "create",
        "dev",
        "--kubeconfig-switch-context=false",
    ]);
    let merged = std::fs::read_to_string(sb.default_kubeconfig()).unwrap();
    for block in [
        "- cluster:\n    certificate-authority-data: b3RoZXI=\n    server: https://10.0.0.1:6443\n  name: work\n",
        "- context:\n    cluster: work\n    namespace: team\n    user: me\n  name: work\n",
        "- name: me\n  user:\n    token: secret\n",
        "current-context: work\n",
    ] {
        assert!(merged.contains(block), "lost {block:?} in\n{merged}");
    }
    assert!(merged.contains("  name: k3d-dev\n") && merged.contains("- name: admin@k3d-dev\n"));

    // devenv's own file, without switching; then the default one, switching
    let out = sb.k3d_ok(&[
        "kubeconfig",
        "merge",
        "dev",
        "--output",
        ".devenv/kubeconfig",
        "--kubeconfig-switch-context=false",
    ]);
    assert_eq!(out, ".devenv/kubeconfig\n");
    assert!(
        sb.read(".devenv/kubeconfig")
            .contains("current-context: k3d-dev\n"),
        "an empty file takes the new context"
    );
    let out = sb.k3d_ok(&[
        "kubeconfig",
        "merge",
        "dev",
        "--kubeconfig-merge-default",
        "--kubeconfig-switch-context=true",
    ]);
    assert_eq!(out, format!("{}\n", sb.default_kubeconfig().display()));
    let switched = std::fs::read_to_string(sb.default_kubeconfig()).unwrap();
    assert_eq!(
        switched,
        merged.replace("current-context: work\n", "current-context: k3d-dev\n")
    );
    assert_eq!(
        sb.kubectl_ok(&["config", "get-contexts", "-o", "name"]),
        "k3d-dev\nwork\n"
    );

    // a multi-file KUBECONFIG is refused for writing
    let o = sb
        .command(support::fakes_dir().join("k3d"))
        .env("LOG_COLORS", "false")
        .env("KUBECONFIG", "a:b")
        .args(["kubeconfig", "merge", "dev", "-d"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("multiple kubeconfigs specified via KUBECONFIG env var: Please reduce to one entry, unset KUBECONFIG or explicitly choose an output"));

    // delete removes only the cluster's entries; the current context falls back to another
    sb.k3d_ok(&["cluster", "delete", "dev"]);
    assert_eq!(
        std::fs::read_to_string(sb.default_kubeconfig()).unwrap(),
        other
    );
}

#[test]
fn faults_fail_garble_and_hang() {
    let sb = Sandbox::new();
    sb.fault(json!({"tool": "k3d", "match": ["cluster", "create"], "action": "fail", "exit": 3, "stderr": "boom", "times": 1}));
    sb.fault(json!({"tool": "kubectl", "match": ["version"], "action": "garbage"}));
    let o = sb.k3d(&["cluster", "create", "x"]);
    assert_eq!(
        (o.status.code(), text(&o.stderr)),
        (Some(3), "boom\n".to_string())
    );
    sb.k3d_ok(&["cluster", "create", "x"]); // `times: 1` used up
    let o = sb.kubectl(&["version", "--client", "-o", "json"]);
    assert!(o.status.success() && serde_json::from_slice::<serde_json::Value>(&o.stdout).is_err());
    let calls = sb.calls();
    assert_eq!(
        calls.iter().map(|c| c.line()).collect::<Vec<_>>(),
        [
            "k3d cluster create x",
            "k3d cluster create x",
            "kubectl version --client -o json"
        ]
    );
    assert_eq!(calls[0].log_colors.as_deref(), Some("false"));
    assert_eq!(sb.mutating_calls().len(), 2);

    sb.fault(json!({"tool": "kubectl", "match": ["wait"], "action": "hang"}));
    use std::os::unix::process::CommandExt;
    let mut child = sb
        .command(support::fakes_dir().join("kubectl"))
        .args(["wait", "--for=create", "x/y"])
        .process_group(0)
        .spawn()
        .unwrap();
    let marker = sb.state.join(format!("hang-{}.child", child.id()));
    let start = Instant::now();
    while !marker.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "hang never started its grandchild"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(20));
    let grandchild: i32 = std::fs::read_to_string(&marker)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(Path::new(&format!("/proc/{grandchild}")).exists());
    assert!(child.try_wait().unwrap().is_none(), "hang must not exit");
    // SAFETY: signalling the process group we created.
    unsafe { libc_kill(-(child.id() as i32), 9) };
    child.wait().unwrap();
    let gone = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
    };
    while !gone(grandchild) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "grandchild survived the group kill"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn a_fake_call_takes_a_few_milliseconds() {
    let sb = sample_world();
    let calls: Vec<(&str, Vec<String>)> = vec![
        (
            "k3d",
            vec!["cluster".into(), "list".into(), "-o".into(), "json".into()],
        ),
        ("kubectl", kc(&["get", "nodes", "-o", "json"])),
        ("kubectl", kc(&GET_REGISTRY_HOSTING)),
    ];
    let n = 50;
    let start = Instant::now();
    for i in 0..n {
        let (tool, args) = &calls[i % calls.len()];
        let o = sb
            .command(support::fakes_dir().join(tool))
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success());
    }
    let avg = start.elapsed() / n as u32;
    println!("average fake call (spawn included): {avg:?}");
    assert!(
        avg < Duration::from_millis(50),
        "fake calls average {avg:?}"
    );
}
