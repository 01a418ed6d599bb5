use super::*;

#[test]
fn port_mappings_follow_k3d_syntax() {
    let m = parse_port_mapping("8080:80@loadbalancer").unwrap();
    assert_eq!(
        (m.host_port, m.container_port, m.protocol.as_str()),
        (Some(8080), 80, "tcp")
    );
    let m = parse_port_mapping("127.0.0.1:8443:443/tcp@loadbalancer").unwrap();
    assert_eq!(m.host.as_deref(), Some("127.0.0.1"));
    assert!(parse_port_mapping("80:99999").is_err());
    assert!(parse_port_mapping("8080:80@server").is_err());
    assert!(parse_port_mapping("8080:80/icmp").is_err());
}

#[test]
fn node_filters_follow_k3d_regex() {
    for ok in [
        "server:*",
        "server:0",
        "agent:0,1",
        "agent:1-",
        "all",
        "loadbalancer",
        "servers:*:proxy",
    ] {
        assert!(check_node_filter(ok).is_ok(), "{ok}");
    }
    for bad in ["server", "agent", "node:*", "server:x", "server:0:1"] {
        assert!(check_node_filter(bad).is_err(), "{bad}");
    }
}

#[test]
fn references_split_tag_and_digest() {
    assert_eq!(
        strip_tag_and_digest("ghcr.io/org/api:1.4"),
        "ghcr.io/org/api"
    );
    assert_eq!(
        strip_tag_and_digest("localhost:5000/api"),
        "localhost:5000/api"
    );
    assert_eq!(
        strip_tag_and_digest("ghcr.io/org/api@sha256:abc"),
        "ghcr.io/org/api"
    );
    assert_eq!(
        image_tag("docker.io/rancher/k3s:v1.32.5-k3s1"),
        Some("v1.32.5-k3s1")
    );
    assert_eq!(image_tag("localhost:5000/k3s"), None);
}

#[test]
fn globs_match_context_names() {
    assert!(glob_match("kind-*", "kind-dev"));
    assert!(glob_match("*-staging", "eu-staging"));
    assert!(!glob_match("dev-*", "prod-1"));
}
