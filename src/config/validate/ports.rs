//! Host ports: k3d port mappings (`cluster.ports`), and one owner per host port across the
//! API server, the registry and the port mappings.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::names::{check_node_filter, NodeFilterError};
use super::Errors;
use crate::config::schema::{ClusterProvider, RegistryProvider};

/// A k3d port mapping: `[HOST:][HOSTPORT:]CONTAINERPORT[/PROTOCOL][@NODEFILTER]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    pub host: Option<String>,
    pub host_port: Option<u16>,
    pub container_port: u16,
    pub protocol: String,
    pub node_filters: Vec<String>,
}

/// Why a port mapping is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortMappingError {
    #[error(transparent)]
    NodeFilter(#[from] NodeFilterError),
    #[error("protocol {0:?} is not tcp, udp or sctp")]
    Protocol(String),
    #[error("{0:?} is not a port number (1-65535)")]
    NotAPort(String),
    #[error("{0:?} is not an IP address")]
    NotAnAddress(String),
    #[error("too many ':'")]
    TooManyColons,
}

pub fn parse_port_mapping(spec: &str) -> Result<PortMapping, PortMappingError> {
    let (ports, filters) = match spec.split_once('@') {
        Some((p, f)) => (
            p,
            f.split(';')
                .map(|s| s.trim_start_matches('@').to_string())
                .collect::<Vec<_>>(),
        ),
        None => (spec, vec!["loadbalancer".to_string()]),
    };
    for f in &filters {
        check_node_filter(f)?;
    }
    let (ports, protocol) = match ports.split_once('/') {
        Some((p, proto)) => (p, proto.to_lowercase()),
        None => (ports, "tcp".to_string()),
    };
    if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
        return Err(PortMappingError::Protocol(protocol));
    }
    let parts: Vec<&str> = ports.split(':').collect();
    let port = |s: &str| -> Result<u16, PortMappingError> {
        match s.parse::<u16>() {
            Ok(0) | Err(_) => Err(PortMappingError::NotAPort(s.to_string())),
            Ok(p) => Ok(p),
        }
    };
    let (host, host_port, container) = match parts.as_slice() {
        [c] => (None, None, port(c)?),
        [h, c] => (None, Some(port(h)?), port(c)?),
        [ip, h, c] => {
            if ip.parse::<IpAddr>().is_err() {
                return Err(PortMappingError::NotAnAddress(ip.to_string()));
            }
            (Some(ip.to_string()), Some(port(h)?), port(c)?)
        }
        _ => return Err(PortMappingError::TooManyColons),
    };
    Ok(PortMapping {
        host,
        host_port,
        container_port: container,
        protocol,
        node_filters: filters,
    })
}

/// Host address and port → the key that takes it.
type HostPorts = BTreeMap<(String, u16), String>;

/// The API port, the registry port and every `cluster.ports` mapping: each valid, and each
/// host port taken once.
pub(super) fn check(errs: &mut Errors<'_>) {
    let c = &errs.loaded.config;
    let cl = &c.cluster;
    let mut host_ports = HostPorts::new();
    if cl.provider == ClusterProvider::K3d {
        host_ports.insert(
            (cl.api_host.clone(), cl.api_port),
            "cluster.api_port".into(),
        );
    }
    if c.registry.provider == RegistryProvider::K3d {
        registry_port(errs, &mut host_ports);
    }
    for (i, spec) in cl.ports.iter().enumerate() {
        let key = format!("cluster.ports[{i}]");
        match parse_port_mapping(spec) {
            Err(why) => errs.push(&key, format!("port mapping {spec:?} is not valid: {why}"), "write it as [HOST:][HOSTPORT:]CONTAINERPORT[/PROTOCOL][@NODEFILTER], e.g. \"8080:80@loadbalancer\""),
            Ok(m) => {
                if let Some(hp) = m.host_port {
                    let host = m.host.clone().unwrap_or_else(|| cl.api_host.clone());
                    let k = (host, hp);
                    if let Some(other) = clash(&host_ports, &k) {
                        errs.push(&key, format!("host port {hp} is used twice: by {key} and {other}"), "give each host port its own number (a host address of 0.0.0.0 takes the port on every address)");
                    } else {
                        host_ports.insert(k, key.clone());
                    }
                }
            }
        }
    }
}

/// The k3d registry's port: valid, and not the API server's.
fn registry_port(errs: &mut Errors<'_>, host_ports: &mut HostPorts) {
    let loaded = errs.loaded;
    let r = &loaded.config.registry;
    if r.port == 0 {
        errs.push(
            "registry.port",
            "registry.port must be a port from 1 to 65535, found 0",
            "pick a free port, e.g. 5111 (avoid 5000: macOS AirPlay Receiver holds it)",
        );
    }
    let key = (r.bind.clone(), r.port);
    if let Some(other) = clash(host_ports, &key) {
        // Point at the key the user wrote (the other one may be a default).
        let at = if loaded.is_written("registry.port") || !loaded.is_written(&other) {
            "registry.port".to_string()
        } else {
            other.clone()
        };
        let mine = if at == "registry.port" {
            other.clone()
        } else {
            "registry.port".to_string()
        };
        errs.push(
            &at,
            format!("host port {} is used twice: by {at} and {mine}", r.port),
            format!("give each host port its own number, e.g. change {at}"),
        );
    } else {
        host_ports.insert(key, "registry.port".into());
    }
}

fn clash(used: &HostPorts, key: &(String, u16)) -> Option<String> {
    // 0.0.0.0 and :: clash with every address on the same port.
    used.iter()
        .find(|((h, p), _)| *p == key.1 && (h == &key.0 || is_any(h) || is_any(&key.0)))
        .map(|(_, who)| who.clone())
}

fn is_any(h: &str) -> bool {
    h == "0.0.0.0" || h == "::" || h.is_empty()
}
