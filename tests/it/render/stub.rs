//! A loopback HTTP server that answers what the tests need without a cluster: a registry's
//! manifest `HEAD` (every image is there, so `up` builds nothing) and the Kubernetes
//! discovery documents the real kubectl reads before `apply --dry-run=client` (legacy
//! discovery, for the kinds the example and `helm create` use; every object is NotFound).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};

use serde_json::{json, Value};

/// The running stub; it serves until the test process ends.
pub struct Stub {
    pub port: u16,
}

/// A kind the stub serves: (kind, plural, namespaced).
type Resource = (&'static str, &'static str, bool);

/// group/version → its kinds.
const RESOURCES: &[(&str, &[Resource])] = &[
    (
        "v1",
        &[
            ("Namespace", "namespaces", false),
            ("ConfigMap", "configmaps", true),
            ("Secret", "secrets", true),
            ("Service", "services", true),
            ("ServiceAccount", "serviceaccounts", true),
            ("Pod", "pods", true),
            ("PersistentVolumeClaim", "persistentvolumeclaims", true),
        ],
    ),
    (
        "apps/v1",
        &[
            ("Deployment", "deployments", true),
            ("StatefulSet", "statefulsets", true),
            ("DaemonSet", "daemonsets", true),
        ],
    ),
    (
        "batch/v1",
        &[("Job", "jobs", true), ("CronJob", "cronjobs", true)],
    ),
    (
        "networking.k8s.io/v1",
        &[
            ("NetworkPolicy", "networkpolicies", true),
            ("Ingress", "ingresses", true),
        ],
    ),
    (
        "autoscaling/v2",
        &[("HorizontalPodAutoscaler", "horizontalpodautoscalers", true)],
    ),
    (
        "policy/v1",
        &[("PodDisruptionBudget", "poddisruptionbudgets", true)],
    ),
];

impl Stub {
    /// On a port the kernel picks.
    pub fn start() -> Stub {
        Stub::on(0)
    }

    /// On `port` (a registry's, known to devenv.toml before the stub starts).
    pub fn on(port: u16) -> Stub {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the stub");
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                std::thread::spawn(move || serve(conn));
            }
        });
        Stub { port }
    }
}

/// One request per connection (`Connection: close`).
fn serve(mut conn: TcpStream) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => break,
            Ok(_) if header == "\r\n" || header == "\n" => break,
            Ok(_) => {}
        }
    }
    let mut parts = request.split_whitespace();
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("").split('?').next().unwrap_or("");
    let (status, headers, body) = answer(path);
    let body = if method == "HEAD" {
        String::new()
    } else {
        body
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        if method == "HEAD" { 0 } else { body.len() }
    );
}

fn answer(path: &str) -> (&'static str, String, String) {
    let ok = |v: Value| ("200 OK", String::new(), v.to_string());
    if path.starts_with("/v2/") && path.contains("/manifests/") {
        let digest = format!("sha256:{}", "0".repeat(64));
        return (
            "200 OK",
            format!("Docker-Content-Digest: {digest}\r\n"),
            "{}".into(),
        );
    }
    match path {
        "/v2/" | "/v2" => return ok(json!({})),
        "/version" => {
            return ok(json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0"}));
        }
        "/api" => {
            return ok(json!({
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
            }));
        }
        "/apis" => {
            let groups: Vec<Value> = RESOURCES
                .iter()
                .filter_map(|(gv, _)| gv.split_once('/'))
                .map(|(group, version)| {
                    let gv =
                        json!({"groupVersion": format!("{group}/{version}"), "version": version});
                    json!({"name": group, "versions": [gv], "preferredVersion": gv})
                })
                .collect();
            return ok(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}));
        }
        _ => {}
    }
    let gv = path
        .strip_prefix("/api/")
        .or_else(|| path.strip_prefix("/apis/"))
        .unwrap_or("");
    if let Some((_, kinds)) = RESOURCES.iter().find(|(g, _)| *g == gv) {
        let resources: Vec<Value> = kinds
            .iter()
            .map(|(kind, plural, namespaced)| {
                json!({
                    "name": plural, "singularName": kind.to_lowercase(), "namespaced": namespaced,
                    "kind": kind,
                    "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
                })
            })
            .collect();
        return ok(json!({
            "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": resources,
        }));
    }
    (
        "404 Not Found",
        String::new(),
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("{path} not found"), "reason": "NotFound", "code": 404,
        })
        .to_string(),
    )
}
