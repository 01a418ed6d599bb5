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

use serde_json::Value;

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
    if c.get("command").is_some() {
        return None;
    }
    let args: Vec<&str> = c
        .get("args")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match args.as_slice() {
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
            let args: Vec<&str> = c
                .get("args")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if c.get("command").is_none() && args.first() == Some(&"serve") {
                return args.get(1) == Some(&port.to_string().as_str());
            }
            c.get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|p| p["containerPort"].as_u64() == Some(port as u64))
        })
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
}
