//! The simulated pod network, for `devenv verify`'s probe: can a client pod open a TCP
//! connection to a Service's backends?
//!
//! A connection needs the Service (found through the `$(NAME_SERVICE_HOST)` variable the
//! kubelet sets, or its ClusterIP), a port of it, and a Ready backend pod listening on the
//! target port. NetworkPolicy is then enforced only when the CNI enforces it: Calico
//! (an `Installation` Available by then). Without it, as with flannel, every client gets in.
//! `$DEVENV_FAKE_STATE/probe.json` lets a test decide instead:
//! `{"enforce": false}` (policies ignored even with Calico) and/or
//! `{"results": {"JOB": "connected" | "no-connection"}}` (one client's outcome, by Job name).

use crate::state::{Cluster, Registry};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A pod as the network sees it: where it lives and its labels.
#[derive(Clone, Debug)]
pub struct Endpoint<'a> {
    pub namespace: &'a str,
    pub labels: &'a Value,
}

/// Whether a `LabelSelector` (`matchLabels`, `matchExpressions`) selects these labels. An
/// empty selector selects everything.
pub fn selects(selector: &Value, labels: &Value) -> bool {
    let get = |k: &str| labels.get(k).and_then(Value::as_str);
    let by_labels = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .all(|(k, v)| get(k) == v.as_str());
    let by_expressions = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .all(|e| {
            let key = e["key"].as_str().unwrap_or("");
            let values: Vec<&str> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match e["operator"].as_str().unwrap_or("") {
                "In" => get(key).is_some_and(|v| values.contains(&v)),
                "NotIn" => !get(key).is_some_and(|v| values.contains(&v)),
                "Exists" => get(key).is_some(),
                "DoesNotExist" => get(key).is_none(),
                _ => false,
            }
        });
    by_labels && by_expressions
}

/// The policy types a NetworkPolicy applies (the API server's default: Ingress, plus
/// Egress when it has egress rules).
fn policy_types(spec: &Value) -> Vec<String> {
    match spec.get("policyTypes").and_then(Value::as_array) {
        Some(t) => t
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        None => {
            let mut t = vec!["Ingress".to_string()];
            if spec.get("egress").is_some() {
                t.push("Egress".into());
            }
            t
        }
    }
}

/// Whether a rule's peer list (`from` / `to`) includes `pod`. `policy_ns` is the policy's
/// namespace; `ns_labels` gives a namespace's labels. ipBlock peers never match a pod (the
/// simulated pods have no addresses a test could aim a CIDR at).
fn peers_include(
    peers: Option<&Value>,
    policy_ns: &str,
    pod: &Endpoint,
    ns_labels: &dyn Fn(&str) -> Value,
) -> bool {
    let Some(peers) = peers.and_then(Value::as_array) else {
        return true; // no `from`/`to`: every source/destination
    };
    if peers.is_empty() {
        return true;
    }
    peers.iter().any(|peer| {
        let pod_sel = peer.get("podSelector");
        let ns_sel = peer.get("namespaceSelector");
        if pod_sel.is_none() && ns_sel.is_none() {
            return false; // ipBlock
        }
        let ns_ok = match ns_sel {
            Some(sel) => selects(sel, &ns_labels(pod.namespace)),
            None => pod.namespace == policy_ns,
        };
        ns_ok && pod_sel.is_none_or(|sel| selects(sel, pod.labels))
    })
}

/// Whether a rule's `ports` admit TCP to `port` (named `port_name` on the destination).
fn ports_include(ports: Option<&Value>, port: u16, port_name: Option<&str>) -> bool {
    let Some(ports) = ports.and_then(Value::as_array) else {
        return true;
    };
    if ports.is_empty() {
        return true;
    }
    ports.iter().any(|p| {
        if p.get("protocol").and_then(Value::as_str).unwrap_or("TCP") != "TCP" {
            return false;
        }
        match p.get("port") {
            None => true,
            Some(Value::String(name)) => port_name == Some(name.as_str()),
            Some(n) => {
                let first = n.as_u64().unwrap_or(0);
                let last = p.get("endPort").and_then(Value::as_u64).unwrap_or(first);
                (first..=last).contains(&(port as u64))
            }
        }
    })
}

/// Whether the policies (`(namespace, spec)` of every NetworkPolicy in the cluster) let
/// `client` open a TCP connection to `server` on `port`.
pub fn policies_allow(
    policies: &[(&str, &Value)],
    client: &Endpoint,
    server: &Endpoint,
    port: u16,
    port_name: Option<&str>,
    ns_labels: &dyn Fn(&str) -> Value,
) -> bool {
    // Each direction: isolated when a policy of that type selects the pod; then some rule
    // of one of those policies must admit the peer.
    let direction = |pod: &Endpoint, peer: &Endpoint, ty: &str, rules: &str, peers: &str| {
        let selecting: Vec<&Value> = policies
            .iter()
            .filter(|(ns, spec)| {
                *ns == pod.namespace
                    && policy_types(spec).iter().any(|t| t == ty)
                    && selects(spec.get("podSelector").unwrap_or(&Value::Null), pod.labels)
            })
            .map(|(_, spec)| *spec)
            .collect();
        let policy_ns = pod.namespace;
        selecting.is_empty()
            || selecting.iter().any(|spec| {
                spec.get(rules)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|rule| {
                        peers_include(rule.get(peers), policy_ns, peer, ns_labels)
                            && ports_include(rule.get("ports"), port, port_name)
                    })
            })
    };
    direction(server, client, "Ingress", "ingress", "from")
        && direction(client, server, "Egress", "egress", "to")
}

/// What a `devenv-probe connect HOST PORT ATTEMPTS` container is asked to do, from its
/// pod spec (the image's entrypoint is the probe, so `args` are its arguments).
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectArgs {
    pub host: String,
    pub port: String,
    pub attempts: String,
}

pub fn connect_args(pod_spec: &Value) -> Option<ConnectArgs> {
    let c = pod_spec.pointer("/containers/0")?;
    if !is_probe_command(c) {
        return None;
    }
    match container_args(c).as_slice() {
        ["connect", host, port, attempts] => Some(ConnectArgs {
            host: host.to_string(),
            port: port.to_string(),
            attempts: attempts.to_string(),
        }),
        _ => None,
    }
}

/// `PROBE_SERVER` of `$(PROBE_SERVER_SERVICE_HOST)` → the Service `probe-server`.
pub fn service_of_env_ref(host: &str) -> Option<String> {
    let var = host.strip_prefix("$(")?.strip_suffix(')')?;
    let name = var.strip_suffix("_SERVICE_HOST")?;
    Some(name.to_lowercase().replace('_', "-"))
}

/// The port number a backend listens on for the Service's `targetPort` (a number, or the
/// name of one of its container ports), and that port's name.
pub fn target_port(backend_spec: &Value, target: &Value) -> Option<(u16, Option<String>)> {
    let ports: Vec<&Value> = backend_spec
        .get("containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|c| {
            c.get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .collect();
    let named = |n: u64| {
        ports
            .iter()
            .find(|p| p["containerPort"].as_u64() == Some(n))
            .and_then(|p| p["name"].as_str().map(str::to_string))
    };
    match target {
        Value::String(name) => ports
            .iter()
            .find(|p| p["name"].as_str() == Some(name.as_str()))
            .and_then(|p| p["containerPort"].as_u64())
            .map(|n| (n as u16, Some(name.clone()))),
        n => n.as_u64().map(|n| (n as u16, named(n))),
    }
}

/// Whether a backend container listens on `port`: the probe server listens on the port it
/// is given (`serve PORT`); anything else on the ports it declares.
pub fn listens_on(backend_spec: &Value, port: u16) -> bool {
    backend_spec
        .get("containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            let args = container_args(c);
            if is_probe_command(c) && args.first() == Some(&"serve") {
                return args.get(1) == Some(&port.to_string().as_str());
            }
            c.get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|p| p["containerPort"].as_u64() == Some(port as u64))
        })
}

// ---- nodes: architecture, labels, scheduling, exec ----------------------------------------

/// The architecture of a node of `cluster` (Go's GOARCH, as `status.nodeInfo.architecture`
/// and the `kubernetes.io/arch` label show it). k3d's nodes are containers of the Docker
/// host's native platform (the multi-arch `rancher/k3s` image resolves to it), so the fake
/// takes the "host" architecture from `DEVENV_FAKE_ARCH` when the cluster is created
/// (default `amd64`); a comma-separated list (`amd64,arm64`) gives node i the entry i mod n,
/// for a mixed cluster.
pub fn node_arch(cluster: &Cluster, node: &str) -> String {
    let list: Vec<&str> = cluster
        .arch
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    if list.is_empty() {
        return "amd64".into();
    }
    let mut all = cluster.server_names();
    all.extend(cluster.agent_names());
    let i = all.iter().position(|n| n == node).unwrap_or(0);
    list[i % list.len()].to_string()
}

/// The labels the kubelet registers a node with (k8s.io/api/core/v1 well_known_labels.go:
/// `kubernetes.io/arch`, `kubernetes.io/os`, `kubernetes.io/hostname`, and the deprecated
/// `beta.` ones; k3s adds the instance type).
pub fn node_labels(cluster: &Cluster, node: &str) -> Value {
    let arch = node_arch(cluster, node);
    let mut labels = json!({"beta.kubernetes.io/arch":arch,"beta.kubernetes.io/instance-type":"k3s","beta.kubernetes.io/os":"linux","kubernetes.io/arch":arch,"kubernetes.io/hostname":node,"kubernetes.io/os":"linux","node.kubernetes.io/instance-type":"k3s"});
    if node.contains("-server-") {
        labels["node-role.kubernetes.io/control-plane"] = json!("true");
        labels["node-role.kubernetes.io/master"] = json!("true");
    }
    labels
}

/// The nodes a pod may be scheduled on: those whose labels carry every pair of its
/// `nodeSelector` (kubernetes pkg/scheduler/framework/plugins/nodeaffinity/node_affinity.go,
/// through component-helpers/scheduling/corev1/nodeaffinity: a nodeSelector is a set of
/// labels that must all match).
pub fn schedulable_on(cluster: &Cluster, nodes: &[String], pod_spec: &Value) -> Vec<String> {
    let selector = pod_spec
        .get("nodeSelector")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    nodes
        .iter()
        .filter(|n| {
            let labels = node_labels(cluster, n);
            selector
                .iter()
                .all(|(k, v)| labels.get(k).and_then(Value::as_str) == v.as_str())
        })
        .cloned()
        .collect()
}

/// The scheduler's message for a pod no node fits because of its nodeSelector (kubernetes
/// pkg/scheduler/framework/plugins/nodeaffinity/node_affinity.go `ErrReasonPod`, counted
/// by pkg/scheduler/schedule_one.go as in "0/3 nodes are available: ...").
pub fn unschedulable_message(n: usize) -> String {
    format!("0/{n} nodes are available: {n} node(s) didn't match Pod's node affinity/selector. preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling.")
}

/// The architecture the verify probe's program is built for, when a container runs it: the
/// image holds `/devenv-probe-amd64` and `/devenv-probe-arm64` (`command` names one); an
/// image whose entrypoint is the probe (no `command`, as devenv shipped it before arm64)
/// holds the x86_64 one. Other programs are taken to match their node.
pub fn program_arch(container: &Value) -> Option<&'static str> {
    let args = container_args(container);
    match container.get("command").and_then(Value::as_array) {
        Some(cmd) => match cmd.first().and_then(Value::as_str) {
            Some("/devenv-probe-amd64") => Some("amd64"),
            Some("/devenv-probe-arm64") => Some("arm64"),
            _ => None,
        },
        None if matches!(args.first(), Some(&"serve") | Some(&"connect")) => Some("amd64"),
        None => None,
    }
}

/// What runc says when the kernel refuses to run a container's program on `node_arch`
/// (ENOEXEC for a foreign ELF): opencontainers/runc internal/linux/linux.go `Exec` wraps the
/// error as `exec PATH: exec format error`, and libcontainer/init_linux.go `Init` prints it
/// and exits 255 (the container terminates with exit code 255, reason Error).
pub fn exec_error(pod_spec: &Value, node_arch: &str) -> Option<String> {
    pod_spec
        .get("containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find_map(|c| {
            let arch = program_arch(c)?;
            (arch != node_arch).then(|| {
                let path = c
                    .pointer("/command/0")
                    .and_then(Value::as_str)
                    .unwrap_or("/devenv-probe");
                format!("exec {path}: exec format error")
            })
        })
}

/// Exit code of a container whose program could not be executed (runc init_linux.go).
pub const EXEC_FAILED_EXIT: i32 = 255;

/// The probe's `command` (when it has one) names the probe program.
fn is_probe_command(c: &Value) -> bool {
    match c.get("command").and_then(Value::as_array) {
        None => true,
        Some(cmd) => cmd.len() == 1 && program_arch(c).is_some(),
    }
}

// ---- images: k3d's registries.yaml and what containerd can pull ---------------------------

/// One `mirrors` entry of a k3s `registries.yaml`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Mirror {
    #[serde(default, rename = "endpoint")]
    pub endpoints: Option<Vec<String>>,
    #[serde(default, rename = "rewrite")]
    pub rewrites: Option<BTreeMap<String, String>>,
}

/// A k3s `registries.yaml` as k3d reads it: rancher/wharfie pkg/registries/types.go
/// `Registry` (json tags `mirrors`, `configs`, `auths`; `Mirror` has `endpoint`, `rewrite`),
/// decoded by sigs.k8s.io/yaml (YAML → JSON → encoding/json: unknown keys are ignored,
/// a value of the wrong type is an error).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct RegistriesYaml {
    #[serde(default)]
    pub mirrors: Option<BTreeMap<String, Mirror>>,
    #[serde(default)]
    pub configs: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub auths: Option<BTreeMap<String, Value>>,
}

/// Parses `registries.config` as k3d pkg/config/transform.go does: a multi-line value is an
/// embedded registries.yaml (`failed to read embedded registries config: %w`), a single line
/// a path (`failed to open registry config file at %s: %w`).
pub fn parse_registries_config(text: &str) -> Result<RegistriesYaml, String> {
    let (yaml, what) = if text.contains('\n') {
        (
            text.to_string(),
            "failed to read embedded registries config",
        )
    } else {
        match std::fs::read_to_string(text) {
            Ok(t) => (t, "failed to read registry configuration"),
            Err(_) => {
                return Err(format!(
                    "failed to open registry config file at {text}: open {text}: no such file or directory"
                ))
            }
        }
    };
    let value: Value = serde_yaml_ng::from_str(&yaml)
        .map_err(|e| format!("{what}: error converting YAML to JSON: yaml: {e}"))?;
    if value.is_null() {
        return Ok(RegistriesYaml::default());
    }
    serde_json::from_value::<RegistriesYaml>(value.clone()).map_err(|_| {
        format!(
            "{what}: error unmarshaling JSON: while decoding JSON: json: {}",
            go_type_error(&value)
        )
    })
}

/// encoding/json's UnmarshalTypeError text for the first value of the wrong type.
fn go_type_error(v: &Value) -> String {
    let kind = |v: &Value| match v {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    };
    if !v.is_object() {
        return format!(
            "cannot unmarshal {} into Go value of type registries.Registry",
            kind(v)
        );
    }
    for key in ["mirrors", "configs", "auths"] {
        match v.get(key) {
            None | Some(Value::Null) | Some(Value::Object(_)) => {}
            Some(other) => {
                return format!(
                    "cannot unmarshal {} into Go struct field Registry.{key} of type map[string]registries.{}",
                    kind(other),
                    match key {
                        "mirrors" => "Mirror",
                        "configs" => "RegistryConfig",
                        _ => "AuthConfig",
                    }
                )
            }
        }
    }
    for m in v["mirrors"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        if !(m.is_object() || m.is_null()) {
            return format!(
                "cannot unmarshal {} into Go struct field Registry.mirrors of type registries.Mirror",
                kind(m)
            );
        }
        match m.get("endpoint") {
            Some(Value::Array(a)) => {
                if let Some(bad) = a.iter().find(|e| !e.is_string()) {
                    return format!(
                        "cannot unmarshal {} into Go struct field Mirror.mirrors.endpoint of type string",
                        kind(bad)
                    );
                }
            }
            None | Some(Value::Null) => {}
            Some(other) => {
                return format!(
                "cannot unmarshal {} into Go struct field Mirror.mirrors.endpoint of type []string",
                kind(other)
            )
            }
        }
        if let Some(r) = m.get("rewrite").filter(|r| !r.is_object() && !r.is_null()) {
            return format!(
                "cannot unmarshal {} into Go struct field Mirror.mirrors.rewrite of type map[string]string",
                kind(r)
            );
        }
    }
    "cannot unmarshal the registries config".into()
}

/// The mirrors the nodes' `/etc/rancher/k3s/registries.yaml` holds: for each registry the
/// cluster uses, k3d pkg/client/registry.go `RegistryGenerateK3sConfig` maps
/// `NAME:HOSTPORT` and `NAME:5000` to `http://NAME:5000`; pkg/client/cluster.go then merges
/// `registries.config` over it with `RegistryMergeConfig` (mergo.MergeWithOverwrite: a
/// mirror of the same name is replaced).
pub fn effective_mirrors(
    cluster: &Cluster,
    registries: &BTreeMap<String, Registry>,
) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for name in &cluster.registries_use {
        let Some(r) = registries.get(name) else {
            continue;
        };
        let internal = format!("http://{}:5000", r.name);
        out.insert(
            format!("{}:{}", r.name, r.host_port),
            vec![internal.clone()],
        );
        out.insert(format!("{}:5000", r.name), vec![internal]);
    }
    if let Some(cfg) = cluster
        .registries_config
        .as_deref()
        .and_then(|t| parse_registries_config(t).ok())
    {
        for (host, m) in cfg.mirrors.unwrap_or_default() {
            out.insert(host, m.endpoints.unwrap_or_default());
        }
    }
    out
}

/// Where containerd on a node gets an image of registry host `host` from: the registry
/// container behind the first mirror endpoint that is one of the cluster's registries
/// (`http://NAME:5000`, reachable on the cluster network). None when no endpoint reaches
/// one: containerd then falls back to `https://HOST` itself (k3s
/// pkg/agent/containerd/config.go keeps the default endpoint), which for `localhost:PORT`
/// is the node container's own loopback, where nothing listens: ErrImagePull.
pub fn registry_serving(
    host: &str,
    cluster: &Cluster,
    registries: &BTreeMap<String, Registry>,
) -> Option<String> {
    let mirrors = effective_mirrors(cluster, registries);
    mirrors.get(host)?.iter().find_map(|e| {
        let rest = e.strip_prefix("http://")?;
        let hostport = rest.split('/').next()?;
        let (name, port) = hostport.rsplit_once(':')?;
        (port == "5000" && cluster.registries_use.iter().any(|u| u == name))
            .then(|| name.to_string())
    })
}

/// A container's `args` that are strings (none when it has no `args`).
fn container_args(container: &Value) -> Vec<&str> {
    container
        .get("args")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy() -> Value {
        json!({"podSelector":{"matchLabels":{"devenv-probe":"server"}},"policyTypes":["Ingress"],
            "ingress":[{"from":[{"podSelector":{"matchLabels":{"devenv-probe":"allowed"}}}],"ports":[{"protocol":"TCP","port":8080}]}]})
    }

    #[test]
    fn the_probe_policy_admits_the_allowed_client_only_on_its_port() {
        let p = policy();
        let policies = [("ns", &p)];
        let none = |_: &str| json!({});
        let server_labels = json!({"devenv-probe":"server"});
        let server = Endpoint {
            namespace: "ns",
            labels: &server_labels,
        };
        let allowed = json!({"devenv-probe":"allowed"});
        let denied = json!({"devenv-probe":"denied"});
        let c = |labels| Endpoint {
            namespace: "ns",
            labels,
        };
        assert!(policies_allow(
            &policies,
            &c(&allowed),
            &server,
            8080,
            None,
            &none
        ));
        assert!(!policies_allow(
            &policies,
            &c(&denied),
            &server,
            8080,
            None,
            &none
        ));
        assert!(!policies_allow(
            &policies,
            &c(&allowed),
            &server,
            9090,
            None,
            &none
        ));
        // Another namespace's allowed pod is not a peer of a podSelector-only rule.
        let other = Endpoint {
            namespace: "other",
            labels: &allowed,
        };
        assert!(!policies_allow(
            &policies, &other, &server, 8080, None, &none
        ));
        // No policy selects the server: everyone gets in.
        assert!(policies_allow(&[], &c(&denied), &server, 8080, None, &none));
    }

    #[test]
    fn egress_rules_and_expressions() {
        let deny_egress = json!({"podSelector":{"matchExpressions":[{"key":"devenv-probe","operator":"In","values":["allowed"]}]},"policyTypes":["Egress"]});
        let policies = [("ns", &deny_egress)];
        let none = |_: &str| json!({});
        let s = json!({"app":"s"});
        let a = json!({"devenv-probe":"allowed"});
        let server = Endpoint {
            namespace: "ns",
            labels: &s,
        };
        let client = Endpoint {
            namespace: "ns",
            labels: &a,
        };
        assert!(!policies_allow(&policies, &client, &server, 1, None, &none));
        assert!(selects(&json!({}), &json!({"x":"y"})));
        assert!(selects(
            &json!({"matchExpressions":[{"key":"x","operator":"DoesNotExist"}]}),
            &json!({})
        ));
    }

    #[test]
    fn probe_arguments_and_service_variables() {
        let spec = json!({"containers":[{"name":"client","args":["connect","$(PROBE_SERVER_SERVICE_HOST)","8080","5"]}]});
        let a = connect_args(&spec).unwrap();
        assert_eq!(a.port, "8080");
        assert_eq!(service_of_env_ref(&a.host).as_deref(), Some("probe-server"));
        assert_eq!(service_of_env_ref("10.43.0.1"), None);
        assert!(connect_args(&json!({"containers":[{"args":["serve","8080"]}]})).is_none());
        let server = json!({"containers":[{"args":["serve","8080"],"ports":[{"name":"probe","containerPort":8080}]}]});
        assert_eq!(
            target_port(&server, &json!("probe")),
            Some((8080, Some("probe".into())))
        );
        assert!(listens_on(&server, 8080) && !listens_on(&server, 8081));
    }

    fn cluster(arch: &str, use_: &[&str], config: Option<&str>) -> Cluster {
        serde_json::from_value(json!({"name":"p","created_ms":0,"servers":1,"agents":2,"image":"k3s",
            "api_host":"127.0.0.1","api_host_ip":"127.0.0.1","api_port":"6550","no_lb":false,"net":0,
            "token":"t","arch":arch,"registries_use":use_,"registries_config":config}))
        .unwrap()
    }

    #[test]
    fn node_architecture_labels_and_scheduling() {
        let c = cluster("arm64,amd64", &[], None);
        assert_eq!(node_arch(&c, "k3d-p-server-0"), "arm64");
        assert_eq!(node_arch(&c, "k3d-p-agent-0"), "amd64");
        assert_eq!(node_arch(&c, "k3d-p-agent-1"), "arm64");
        assert_eq!(node_arch(&cluster("", &[], None), "k3d-p-agent-0"), "amd64");
        let nodes: Vec<String> = ["k3d-p-agent-0", "k3d-p-agent-1", "k3d-p-server-0"]
            .map(String::from)
            .to_vec();
        let spec = json!({"nodeSelector":{"kubernetes.io/arch":"amd64"}});
        assert_eq!(schedulable_on(&c, &nodes, &spec), ["k3d-p-agent-0"]);
        assert_eq!(schedulable_on(&c, &nodes, &json!({})).len(), 3);
        assert!(schedulable_on(
            &c,
            &nodes,
            &json!({"nodeSelector":{"kubernetes.io/arch":"s390x"}})
        )
        .is_empty());
        let probe =
            |cmd: &str| json!({"containers":[{"name":"c","command":[cmd],"args":["serve","80"]}]});
        assert_eq!(exec_error(&probe("/devenv-probe-arm64"), "arm64"), None);
        assert_eq!(
            exec_error(&probe("/devenv-probe-amd64"), "arm64").as_deref(),
            Some("exec /devenv-probe-amd64: exec format error")
        );
        // The single-binary image of old: its entrypoint is the x86_64 probe.
        let old = json!({"containers":[{"name":"c","args":["connect","h","80","1"]}]});
        assert!(exec_error(&old, "arm64").is_some() && exec_error(&old, "amd64").is_none());
        assert!(connect_args(&json!({"containers":[{"command":["/devenv-probe-arm64"],"args":["connect","h","80","1"]}]})).is_some());
        assert!(connect_args(
            &json!({"containers":[{"command":["/bin/sh"],"args":["connect","h","80","1"]}]})
        )
        .is_none());
    }

    #[test]
    fn registries_config_as_k3d_reads_it_and_the_mirrors_nodes_get() {
        let ok =
            "mirrors:\n  \"localhost:5111\":\n    endpoint:\n      - http://k3d-p-registry:5000\n";
        let r = parse_registries_config(ok).unwrap();
        assert_eq!(
            r.mirrors.unwrap()["localhost:5111"].endpoints.as_deref(),
            Some(&["http://k3d-p-registry:5000".to_string()][..])
        );
        // Unknown keys are ignored (encoding/json), wrong types are not.
        assert!(parse_registries_config("mirrors:\n  x:\n    endpoints: [a]\n").is_ok());
        assert_eq!(
            parse_registries_config("mirrors:\n  x:\n    endpoint: http://a\n").unwrap_err(),
            "failed to read embedded registries config: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string into Go struct field Mirror.mirrors.endpoint of type []string"
        );
        assert!(parse_registries_config("mirrors: [a]\n").is_err());

        let mut regs = BTreeMap::new();
        regs.insert(
            "k3d-p-registry".to_string(),
            serde_json::from_value::<Registry>(
                json!({"name":"k3d-p-registry","host":"127.0.0.1","host_ip":"127.0.0.1",
                "host_port":"5111","image":"registry:2","created_ms":0,"networks":["k3d-p"]}),
            )
            .unwrap(),
        );
        let with = cluster("", &["k3d-p-registry"], Some(ok));
        assert_eq!(
            registry_serving("localhost:5111", &with, &regs).as_deref(),
            Some("k3d-p-registry")
        );
        // k3d's own mirrors: the container name with either port.
        assert!(registry_serving("k3d-p-registry:5111", &with, &regs).is_some());
        assert!(registry_serving("k3d-p-registry:5000", &with, &regs).is_some());
        let without = cluster("", &["k3d-p-registry"], None);
        assert_eq!(registry_serving("localhost:5111", &without, &regs), None);
        let typo = cluster(
            "",
            &["k3d-p-registry"],
            Some(&ok.replace("endpoint:", "endpoints:")),
        );
        assert_eq!(registry_serving("localhost:5111", &typo, &regs), None);
        // A mirror to a registry the cluster does not use reaches nothing.
        let unused = cluster("", &[], Some(ok));
        assert_eq!(registry_serving("localhost:5111", &unused, &regs), None);
    }
}
