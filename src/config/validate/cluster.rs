//! [cluster]: node counts, the k3s image, the API address, the networks, k3s arguments,
//! contexts and namespaces. Its host ports are checked in `ports.rs`.

use std::net::IpAddr;

use ipnet::Ipv4Net;

use super::names::{check_dns_label, check_node_filter, glob_match, image_tag};
use super::Errors;
use crate::config::schema::{ClusterProvider, RegistryProvider, DEFAULT_K3S_IMAGE};

const MAX_SERVERS: u32 = 9;
const MAX_AGENTS: u32 = 50;

/// k3s flags devenv sets itself from [cluster]; setting them again would contradict Calico.
const RESERVED_K3S_FLAGS: &[(&str, &str)] = &[
    (
        "--flannel-backend",
        "devenv sets --flannel-backend=none: Calico is the CNI",
    ),
    (
        "--disable-network-policy",
        "devenv always sets it: Calico enforces NetworkPolicies",
    ),
    (
        "--cluster-cidr",
        "set cluster.cidr instead: it is also the Calico pool",
    ),
    ("--service-cidr", "set cluster.service_cidr instead"),
];

pub(super) fn check(errs: &mut Errors<'_>) {
    nodes(errs);
    image(errs);
    api(errs);
    super::ports::check(errs);
    networks(errs);
    k3s_args(errs);
    contexts(errs);
    namespaces(errs);
    let c = &errs.loaded.config;
    if c.cluster.provider == ClusterProvider::Existing
        && c.registry.provider == RegistryProvider::K3d
    {
        errs.push("registry.provider", "a k3d registry on this machine cannot serve an existing (shared) cluster", "set registry.provider = \"external\" with registry.address, the registry the cluster pulls from");
    }
}

/// Servers, agents and `context` of a k3d cluster. With provider = "existing" and no
/// cluster.context, the context comes from --context (checked when a command runs,
/// against the kubeconfig).
fn nodes(errs: &mut Errors<'_>) {
    let cl = &errs.loaded.config.cluster;
    if cl.provider != ClusterProvider::K3d {
        return;
    }
    if cl.servers == 0 || cl.servers > MAX_SERVERS {
        errs.push(
            "cluster.servers",
            format!(
                "cluster.servers must be between 1 and {MAX_SERVERS}, found {}",
                cl.servers
            ),
            "a cluster needs at least one server; 1 (or 3 for HA) is usual",
        );
    }
    if cl.agents > MAX_AGENTS {
        errs.push(
            "cluster.agents",
            format!(
                "cluster.agents must be at most {MAX_AGENTS}, found {}",
                cl.agents
            ),
            "lower cluster.agents: each agent is a container on this machine",
        );
    }
    if cl.context.is_some() {
        errs.push(
            "cluster.context",
            "cluster.context only applies to provider = \"existing\"",
            "remove cluster.context, or set cluster.provider = \"existing\"",
        );
    }
}

/// The k3s image is pinned to a version, so every teammate gets the same cluster.
fn image(errs: &mut Errors<'_>) {
    let cl = &errs.loaded.config.cluster;
    match image_tag(&cl.image) {
        None => errs.push(
            "cluster.image",
            format!("k3s image {:?} is not pinned to a tag", cl.image),
            format!("pin a version, e.g. \"{DEFAULT_K3S_IMAGE}\""),
        ),
        Some("latest") | Some("stable") => errs.push(
            "cluster.image",
            format!("k3s image {:?} uses a moving tag", cl.image),
            format!(
                "pin a version so every teammate gets the same cluster, e.g. \"{DEFAULT_K3S_IMAGE}\""
            ),
        ),
        Some(_) => {}
    }
}

fn api(errs: &mut Errors<'_>) {
    let cl = &errs.loaded.config.cluster;
    if cl.api_host.parse::<IpAddr>().is_err() {
        errs.push(
            "cluster.api_host",
            format!("cluster.api_host {:?} is not an IP address", cl.api_host),
            "use 127.0.0.1 (the default) so the API is reachable from this machine only",
        );
    }
    if cl.api_port == 0 {
        errs.push(
            "cluster.api_port",
            "cluster.api_port must be a port from 1 to 65535, found 0",
            "pick a free port, e.g. 6550 (a fixed port keeps kubeconfigs stable across re-creates)",
        );
    }
}

/// The pod network (also the Calico pool) and the service network: valid and apart.
fn networks(errs: &mut Errors<'_>) {
    let cl = &errs.loaded.config.cluster;
    let cidr = match cl.cidr.parse::<Ipv4Net>() {
        Ok(n) if n.network() != n.addr() => {
            errs.push(
                "cluster.cidr",
                format!("cluster.cidr {} has host bits set", cl.cidr),
                format!("use the network address: \"{}\"", n.trunc()),
            );
            None
        }
        Ok(n) if n.prefix_len() > 22 || n.prefix_len() < 8 => {
            errs.push("cluster.cidr", format!("cluster.cidr {} is a /{} network", cl.cidr, n.prefix_len()), "use a prefix between /8 and /22: k3s gives each node a /24 from it, e.g. \"10.42.0.0/16\"");
            None
        }
        Ok(n) => Some(n),
        Err(_) => {
            errs.push(
                "cluster.cidr",
                format!("cluster.cidr {:?} is not an IPv4 CIDR", cl.cidr),
                "write it like \"10.42.0.0/16\" (it is also the Calico IP pool)",
            );
            None
        }
    };
    match cl.service_cidr.parse::<Ipv4Net>() {
        Ok(s) => {
            if let Some(p) = cidr {
                if p.contains(&s.network()) || s.contains(&p.network()) {
                    errs.push("cluster.service_cidr", format!("cluster.service_cidr {} overlaps cluster.cidr {}", s, p), "pick two separate ranges, e.g. 10.42.0.0/16 for pods and 10.43.0.0/16 for services");
                }
            }
        }
        Err(_) => errs.push(
            "cluster.service_cidr",
            format!(
                "cluster.service_cidr {:?} is not an IPv4 CIDR",
                cl.service_cidr
            ),
            "write it like \"10.43.0.0/16\"",
        ),
    }
}

fn k3s_args(errs: &mut Errors<'_>) {
    let cl = &errs.loaded.config.cluster;
    for (i, a) in cl.k3s_args.iter().enumerate() {
        let key = format!("cluster.k3s_args[{i}]");
        if !a.arg.starts_with('-') {
            errs.push(
                format!("{key}.arg"),
                format!("k3s argument {:?} is not a flag", a.arg),
                "write the k3s flag with its dashes, e.g. \"--disable=traefik\"",
            );
        }
        let flag = a.arg.split('=').next().unwrap_or("");
        if let Some((_, why)) = RESERVED_K3S_FLAGS.iter().find(|(f, _)| *f == flag) {
            errs.push(
                format!("{key}.arg"),
                format!("k3s argument {flag} is managed by devenv"),
                format!("remove it: {why}"),
            );
        }
        if a.nodes.is_empty() {
            errs.push(format!("{key}.nodes"), "k3s argument has no node filter", "k3d needs one whenever the cluster has more than one node: use [\"server:*\"], [\"agent:*\"] or [\"all\"]");
        }
        for (j, f) in a.nodes.iter().enumerate() {
            if let Err(why) = check_node_filter(f) {
                errs.push(
                    format!("{key}.nodes[{j}]"),
                    format!("node filter {f:?} is not valid: {why}"),
                    "use k3d's syntax: server:*, server:0, agent:0,1, agent:1-, all, loadbalancer",
                );
            }
        }
    }
}

fn contexts(errs: &mut Errors<'_>) {
    let cl = &errs.loaded.config.cluster;
    if cl.allowed_contexts.is_empty() {
        return;
    }
    if let Some(ctx) = &cl.context {
        if !cl.allowed_contexts.iter().any(|p| glob_match(p, ctx)) {
            errs.push(
                "cluster.context",
                format!("context {ctx:?} is not in cluster.allowed_contexts"),
                format!(
                    "add it to cluster.allowed_contexts ({}) if deploying there is intended",
                    cl.allowed_contexts.join(", ")
                ),
            );
        }
    }
}

fn namespaces(errs: &mut Errors<'_>) {
    let cl = &errs.loaded.config.cluster;
    if let Err(why) =
        crate::config::namespace_template::NamespaceTemplate::parse(&cl.namespace_template)
    {
        errs.push(
            "cluster.namespace_template",
            format!(
                "cluster.namespace_template {:?} is not valid: {why}",
                cl.namespace_template
            ),
            "use {namespace} and {owner}, e.g. \"{namespace}-{owner}\" or \"{owner}-{namespace}\"",
        );
    }
    for (i, ns) in cl.shared_namespaces.iter().enumerate() {
        if let Err(why) = check_dns_label(ns, 63) {
            errs.push(
                format!("cluster.shared_namespaces[{i}]"),
                format!("shared namespace {ns:?} is not valid: {why}"),
                "use a namespace name: lowercase letters, digits and '-'",
            );
        }
    }
}
