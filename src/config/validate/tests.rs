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

/// The reasons are typed now; their words are the ones the `String` errors had, and users
/// read them after "is not valid: ".
#[test]
fn reasons_read_as_before() {
    let reason = |r: Result<(), NameError>| r.unwrap_err().to_string();
    assert_eq!(reason(check_dns_label("", 63)), "it is empty");
    assert_eq!(
        reason(check_dns_label("abcdef", 3)),
        "it has 6 characters, at most 3 are allowed"
    );
    assert_eq!(reason(check_dns_label("a_b", 63)), "it contains '_'");
    assert_eq!(
        reason(check_dns_label("1ab", 63)),
        "it must start with a lowercase letter"
    );
    assert_eq!(
        reason(check_dns_label("ab-", 63)),
        "it must not end with '-'"
    );
    assert_eq!(
        reason(check_repository("team//api")),
        "it has an empty path component"
    );
    assert_eq!(
        reason(check_repository("team/-api")),
        "component \"-api\" must start and end with a letter or digit"
    );

    let filter = |f: &str| check_node_filter(f).unwrap_err().to_string();
    assert_eq!(filter("node:*"), "unknown node group \"node\"");
    assert_eq!(filter("server:0:proxy:x"), "too many ':'");
    assert_eq!(
        filter("agent"),
        "k3d needs a subset after \"agent\", e.g. agent:* or agent:0"
    );
    assert_eq!(filter("agent:a-b"), "range \"a-b\" is not N-M");
    assert_eq!(
        filter("agent:x"),
        "subset \"x\" is not *, a list of indexes or a range"
    );
    assert_eq!(
        filter("agent:0:1"),
        "suffix \"1\" is not a word such as proxy or direct"
    );

    let mapping = |s: &str| parse_port_mapping(s).unwrap_err().to_string();
    assert_eq!(mapping("8080:80@node:*"), "unknown node group \"node\"");
    assert_eq!(
        mapping("8080:80/icmp"),
        "protocol \"icmp\" is not tcp, udp or sctp"
    );
    assert_eq!(
        mapping("80:99999"),
        "\"99999\" is not a port number (1-65535)"
    );
    assert_eq!(mapping("host:80:80"), "\"host\" is not an IP address");
    assert_eq!(mapping("1:2:3:4"), "too many ':'");

    let wait = |w: &str| units::check_wait_object(w).unwrap_err().to_string();
    assert_eq!(wait("api"), "expected KIND/NAME");
    assert_eq!(wait("service/api"), "kind \"service\" cannot be waited for");
    assert_eq!(wait("job/"), "the name is empty");
}

#[test]
fn a_chart_version_is_one_exact_version() {
    for ok in [
        "1.2.3",
        "v16.4.0",
        "1.2.3-rc.1",
        "0.1.0+build.5",
        "10.0.0-alpha-1",
    ] {
        assert_eq!(check_exact_version(ok), Ok(()), "{ok}");
    }
    let reason = |v: &str| check_exact_version(v).unwrap_err().to_string();
    assert_eq!(
        reason("latest"),
        "\"latest\" is whatever was published last"
    );
    for range in ["^1.2.0", "~1.2", ">=1.0.0", "1.0.0 - 2.0.0", "<2", "=1.2.3"] {
        assert!(reason(range).starts_with("it is a range"), "{range}");
    }
    for wildcard in ["1.x", "1.2.*", "*"] {
        assert!(
            reason(wildcard).starts_with("it is a wildcard"),
            "{wildcard}"
        );
    }
    assert_eq!(
        reason("1.2"),
        "it is not MAJOR.MINOR.PATCH (helm reads a shorter version as a range)"
    );
    assert_eq!(reason("1.2.3.4"), reason("1.2"));
    assert_eq!(reason("stable"), "it contains 's'");
}
