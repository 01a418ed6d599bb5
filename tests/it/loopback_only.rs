//! Nothing devenv starts listens on an address other than 127.0.0.1 unless the config asks:
//! after `devenv up`, every published port of every k3d container (API load balancer, port
//! mappings, the registry, the CI caches) is bound to 127.0.0.1, as the fake k3d records them
//! from the flags and config devenv passed (the way the real k3d hands them to Docker).

use crate::support::{self, Sandbox, CALICO};
use serde_json::Value;

fn host_ips(nodes: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for n in nodes.as_array().into_iter().flatten() {
        let name = n["name"].as_str().unwrap_or("?").to_string();
        for (port, bindings) in n["portMappings"].as_object().into_iter().flatten() {
            for b in bindings.as_array().into_iter().flatten() {
                out.push((
                    name.clone(),
                    port.clone(),
                    b["HostIp"].as_str().unwrap_or("").to_string(),
                ));
            }
        }
    }
    out
}

/// Port `i` (0-3) of test `n`: each test its own, below the ephemeral range.
fn port(n: u16, i: u16) -> u16 {
    support::reserved_port(support::PortBlock::LoopbackOnly, n * 4 + i)
}

fn up(sb: &Sandbox, n: u16, ports: &str) -> Vec<(String, String, String)> {
    let (api, registry) = (port(n, 0), port(n, 2));
    sb.write(
        "devenv.toml",
        &format!(
            "version = 1\n[project]\nname = \"lo\"\n[cluster]\napi_port = {api}\nagents = 1\nports = [{ports}]\n\
             [registry]\nport = {registry}\n[calico]\nmanifests = \"{CALICO}\"\n[verify]\nenabled = false\n"
        ),
    );
    let o = sb.devenv(["up"]).output().expect("run devenv up");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let nodes: Value =
        serde_json::from_str(&sb.k3d_ok(&["node", "list", "-o", "json"])).expect("node list JSON");
    host_ips(&nodes)
}

#[test]
fn every_published_port_is_bound_to_loopback_by_default() {
    let sb = Sandbox::new();
    let bindings = up(&sb, 0, &format!("\"{}:80@loadbalancer\"", port(0, 1)));
    assert!(
        bindings
            .iter()
            .any(|(n, p, _)| n.ends_with("registry") && p == "5000/tcp"),
        "{bindings:?}"
    );
    assert!(
        bindings.iter().any(|(_, p, _)| p == "6443/tcp"),
        "{bindings:?}"
    );
    assert!(
        bindings.iter().any(|(_, p, _)| p == "80/tcp"),
        "{bindings:?}"
    );
    for (node, port, ip) in &bindings {
        assert_eq!(
            ip, "127.0.0.1",
            "{node} publishes {port} on {ip:?}: {bindings:?}"
        );
    }
}

#[test]
fn another_address_only_where_the_config_asks() {
    let sb = Sandbox::new();
    // The LAN is asked for one mapping: that mapping only is on 0.0.0.0.
    let bindings = up(
        &sb,
        1,
        &format!(
            "\"0.0.0.0:{}:80@loadbalancer\", \"{}:443@loadbalancer\"",
            port(1, 1),
            port(1, 3)
        ),
    );
    for (node, port, ip) in &bindings {
        let expected = if port == "80/tcp" {
            "0.0.0.0"
        } else {
            "127.0.0.1"
        };
        assert_eq!(
            ip, expected,
            "{node} publishes {port} on {ip:?}: {bindings:?}"
        );
    }
    assert!(
        bindings.iter().any(|(_, p, _)| p == "443/tcp"),
        "{bindings:?}"
    );
}
