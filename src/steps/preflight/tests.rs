use super::*;
use crate::version::*;
use std::net::TcpListener;
use std::path::Path;
use tools::interpret_docker_version_on;

const SAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/reference/samples"
);

#[test]
fn versions_parse_and_compare_by_release() {
    // Vendor builds of a release are that release (`[tools] kubectl = ">=1.31"` must
    // accept Google Cloud SDK's and EKS's kubectl).
    let dispatcher = Version::parse("v1.32.4-dispatcher").unwrap();
    assert_eq!(dispatcher, Version::new(1, 32, 4));
    assert!(!dispatcher.is_prerelease());
    let at_least = crate::tools::parse_spec(">=1.31").unwrap().0;
    assert!(at_least.matches(&dispatcher.to_semver()));
    assert_eq!(
        Version::parse("v1.29.0-eks-5e0fdde"),
        Some(Version::new(1, 29, 0))
    );
    assert_eq!(
        Version::parse("v1.27.3-gke.100"),
        Some(Version::new(1, 27, 3))
    );
    for pre in [
        "v1.34.0-alpha.1",
        "v1.34.0-beta.0",
        "v3.19.0-rc.1",
        "v5.9.0-dev.2",
        "1.0.0-rc1",
    ] {
        assert!(Version::parse(pre).unwrap().is_prerelease(), "{pre}");
    }
    assert_eq!(
        Version::parse("20.10.24+dfsg1"),
        Some(Version::new(20, 10, 24))
    );
    // Pre-releases sort before their release, as semver orders them (issue 12 #9).
    let rc = Version::parse("v5.9.0-rc.0").unwrap();
    assert!(rc.is_prerelease());
    assert!(rc < Version::new(5, 9, 0), "{rc}");
    assert!(rc > Version::new(5, 8, 3));
    assert!(Version::parse("v5.9.0-rc.0") < Version::parse("v5.9.0-rc.1"));
    assert!(Version::parse("v5.9.0-rc.2") < Version::parse("v5.9.0-rc.10"));
    assert!(Version::parse("v5.5.0-beta.1").unwrap() < K3D_MIN);
    assert_eq!(Version::parse("v1.33"), Some(Version::new(1, 33, 0)));
    assert_eq!(Version::parse("v5-dev"), None);
    assert_eq!(Version::parse(""), None);
    assert!(Version::parse("v5.10.0") > Version::parse("v5.9.9"));
    assert!(Version::parse("v1.31.0").unwrap() >= KUBECTL_MIN);
    assert!(Version::parse("v1.30.13").unwrap() < KUBECTL_MIN);
    assert!(Version::parse("v5.4.6").unwrap() < K3D_MIN);
}

#[test]
fn kubectl_sample_output_passes() {
    let text = std::fs::read_to_string(format!("{SAMPLES}/kubectl-version-client.json")).unwrap();
    let v = parse_kubectl_version(&text).unwrap();
    assert_eq!(v.client, "v1.33.1");
    assert_eq!(v.version, Some(Version::new(1, 33, 1)));
    assert_eq!(v.kustomize.as_deref(), Some("v5.6.0"));
    let checks = evaluate_kubectl(&v);
    assert!(
        checks.iter().all(|c| c.status == CheckStatus::Ok),
        "{checks:?}"
    );
    assert_eq!(checks[0].detail, "kubectl v1.33.1");
    assert_eq!(check_kubectl_output(&text), Ok(()));
}

#[test]
fn helm_versions_from_v3_8_pass_older_fail_with_the_install_hint() {
    for (out, ok) in [
        ("v3.7.2", false),
        ("v3.8.0", true),
        ("v3.17.2", true),
        ("v4.1.4", true),
    ] {
        let (c, v) = interpret_helm_version(0, out, "");
        assert_eq!(c.status == CheckStatus::Ok, ok, "{out}: {c:?}");
        assert_eq!(v, Version::parse(out));
        if !ok {
            assert_eq!(
                c.detail,
                "helm v3.7.2 is too old: devenv needs helm v3.8 or newer"
            );
            assert!(c.fix.unwrap().starts_with("install helm v3.8 or newer"));
        }
    }
}

/// kubectl's kustomize against helm, for overlays with `helmCharts:`: kustomize v5.6.0 (the
/// sample, as kubectl 1.33 ships it) runs helm v3 only; v5.8.1 runs helm v4 too.
#[test]
fn kubectl_kustomize_runs_helm_v4_only_from_v5_8() {
    let text = std::fs::read_to_string(format!("{SAMPLES}/kubectl-version-client.json")).unwrap();
    let c = check_kustomize_runs_helm(&text, "v3.17.2").unwrap();
    assert_eq!(c.status, CheckStatus::Ok, "{c:?}");
    assert_eq!(c.detail, "kustomize v5.6.0 runs helm v3.17.2");
    let c = check_kustomize_runs_helm(&text, "v4.1.4\n").unwrap();
    assert_eq!(c.status, CheckStatus::Fail, "{c:?}");
    assert!(c.detail.contains("cannot run helm v4.1.4"), "{c:?}");
    let newer = text.replace("v5.6.0", "v5.8.1");
    let c = check_kustomize_runs_helm(&newer, "v4.1.4").unwrap();
    assert_eq!(c.status, CheckStatus::Ok, "{c:?}");
    // Unreadable versions: their own checks report them.
    assert_eq!(check_kustomize_runs_helm("", "v4.1.4"), None);
    assert_eq!(check_kustomize_runs_helm(&text, ""), None);
}

#[test]
fn kubectl_dispatcher_build_with_plus_minor() {
    // Real output of the Google Cloud SDK dispatcher on the project's machines.
    let text = r#"{
  "clientVersion": {"major": "1", "minor": "32+", "gitVersion": "v1.32.4-dispatcher",
"gitCommit": "4cb5f0764b8d5f425645c6f433394fede34a8a26", "platform": "linux/amd64"},
  "kustomizeVersion": "v5.5.0"
}"#;
    let v = parse_kubectl_version(text).unwrap();
    assert_eq!(v.version, Version::parse("v1.32.4-dispatcher"));
    // No usable gitVersion: major/minor ("32+") still give the release.
    let odd = text.replace("v1.32.4-dispatcher", "custom");
    assert_eq!(
        parse_kubectl_version(&odd).unwrap().version,
        Some(Version::new(1, 32, 0))
    );
    let plain = "Client Version: v1.32.4-dispatcher\nKustomize Version: v5.5.0\n";
    let p = parse_kubectl_version(plain).unwrap();
    assert_eq!(p.client, "v1.32.4-dispatcher");
    assert_eq!(p.kustomize.as_deref(), Some("v5.5.0"));
    assert!(evaluate_kubectl(&p)
        .iter()
        .all(|c| c.status == CheckStatus::Ok));
}

#[test]
fn old_kubectl_and_old_kustomize_fail_with_a_fix() {
    let text = r#"{"clientVersion":{"major":"1","minor":"30","gitVersion":"v1.30.13"},"kustomizeVersion":"v5.0.4-0.20230601165947-6ce0bf390ce3"}"#;
    let checks = interpret_kubectl_version(0, text, "");
    assert_eq!(checks[0].status, CheckStatus::Fail);
    assert!(
        checks[0].detail.contains("--for=create"),
        "{}",
        checks[0].detail
    );
    assert!(checks[0].fix.as_deref().unwrap().contains("v1.31"));
    assert_eq!(checks[1].status, CheckStatus::Ok);
    let Err(Problem(msg, hint)) = check_kubectl_output(text) else {
        panic!("old kubectl passed")
    };
    assert!(msg.contains("v1.30.13") && hint.contains("kubernetes.io"));

    let old_kustomize = "Client Version: v1.31.0\nKustomize Version: v4.5.7\n";
    let checks = interpret_kubectl_version(0, old_kustomize, "");
    assert_eq!(checks[0].status, CheckStatus::Ok);
    assert_eq!(checks[1].status, CheckStatus::Fail);
    let bad = interpret_kubectl_version(1, "", "error: unknown flag: --client");
    assert_eq!(bad[0].status, CheckStatus::Fail);
    assert!(bad[0].detail.contains("unknown flag"));
}

#[test]
fn k3d_json_and_text_forms() {
    let json = "{\"k3d\":\"v5.9.0\",\"k3s\":\"v1.32.5-k3s1\"}\n";
    let v = parse_k3d_version(json).unwrap();
    assert_eq!(v.k3d, "v5.9.0");
    assert_eq!(v.k3s.as_deref(), Some("v1.32.5-k3s1"));
    let c = interpret_k3d_version(0, json, "");
    assert_eq!(c.status, CheckStatus::Ok);
    assert_eq!(c.detail, "k3d v5.9.0 (default k3s v1.32.5-k3s1)");

    let text = "k3d version v5.9.0\nk3s version v1.32.5-k3s1 (default)\n";
    assert_eq!(parse_k3d_version(text), Some(v));
    assert_eq!(check_k3d_output(json), Ok(()));
}

#[test]
fn k3d_version_range() {
    let eval = |k3d: &str| {
        evaluate_k3d(&K3dVersion {
            k3d: k3d.into(),
            k3s: None,
        })
    };
    assert_eq!(eval("v5.5.0").status, CheckStatus::Ok);
    let old = eval("v5.4.9");
    assert_eq!(old.status, CheckStatus::Fail);
    assert!(old.detail.contains("v1alpha5"), "{}", old.detail);
    assert_eq!(eval("v6.0.0").status, CheckStatus::Warn);
    // k3d-io/k3d#1642: the v5.9.0 pre-releases break registries.use; v5.9.0 fixed it.
    for rc in ["v5.9.0-rc.0", "v5.9.0-rc.1"] {
        let c = eval(rc);
        assert_eq!(c.status, CheckStatus::Fail, "{rc}: {c:?}");
        assert!(c.detail.contains("pre-release of v5.9.0"), "{}", c.detail);
        assert!(c.detail.contains("k3d-io/k3d#1642"), "{}", c.detail);
        assert!(c.fix.as_deref().unwrap().contains("v5.9.0 or newer"));
    }
    assert_eq!(eval("v5.9.0").status, CheckStatus::Ok);
    assert_eq!(eval("v5.9.1-rc.0").status, CheckStatus::Ok);
    assert_eq!(eval("v5.8.3").status, CheckStatus::Ok);
    assert_eq!(eval("v5-dev").status, CheckStatus::Warn);
    // k3d before v5.5.0 rejects `-o` on `version` (cobra's message).
    let c = interpret_k3d_version(1, "", "Error: unknown shorthand flag: 'o' in -o\n");
    assert_eq!(c.status, CheckStatus::Fail);
    assert!(c.detail.contains("older than v5.5.0"), "{}", c.detail);
    assert!(check_k3d_output("garbage").is_err());
}

#[test]
fn docker_outputs() {
    // Real outputs of the docker 28.2.2 client.
    let ok = interpret_docker_version_on(0, "20.10.24+dfsg1\n", "", false);
    assert_eq!(ok, Check::ok("docker", "Docker Engine 20.10.24+dfsg1"));

    let down = interpret_docker_version_on(
        1,
        "\n",
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n",
        false,
    );
    assert_eq!(down.status, CheckStatus::Fail);
    assert_eq!(
        down.detail,
        "the Docker daemon is not running (cannot connect at unix:///var/run/docker.sock)"
    );
    assert!(down
        .fix
        .as_deref()
        .unwrap()
        .contains("sudo systemctl start docker"));
    let mac = interpret_docker_version_on(1, "", "Cannot connect to the Docker daemon at unix:///Users/a/.docker/run/docker.sock. Is the docker daemon running?", true);
    assert!(mac.fix.as_deref().unwrap().contains("Docker Desktop"));

    let denied = interpret_docker_version_on(
        1,
        "\n",
        "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get \"http://%2Fvar%2Frun%2Fdocker.sock/v1.50/version\": dial unix /var/run/docker.sock: connect: permission denied\n",
        false,
    );
    assert_eq!(denied.status, CheckStatus::Fail);
    assert_eq!(
        denied.detail,
        "permission denied on the Docker socket at unix:///var/run/docker.sock"
    );
    assert!(denied.fix.as_deref().unwrap().contains("docker group"));

    let other = interpret_docker_version_on(1, "", "context \"x\" does not exist\n", false);
    assert_eq!(other.status, CheckStatus::Fail);
    assert!(other.detail.contains("context \"x\" does not exist"));
}

#[test]
fn address_conflicts() {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert!(addrs_conflict(ip("127.0.0.1"), ip("127.0.0.1")));
    assert!(addrs_conflict(ip("0.0.0.0"), ip("127.0.0.1")));
    assert!(addrs_conflict(ip("127.0.0.1"), ip("0.0.0.0")));
    assert!(addrs_conflict(ip("::"), ip("127.0.0.1")));
    assert!(addrs_conflict(ip("::ffff:127.0.0.1"), ip("127.0.0.1")));
    assert!(addrs_conflict(ip("::1"), ip("::")));
    assert!(!addrs_conflict(ip("127.0.0.2"), ip("127.0.0.1")));
    assert!(!addrs_conflict(ip("::1"), ip("127.0.0.1")));
    assert!(!addrs_conflict(ip("0.0.0.0"), ip("::1")));
}

#[test]
#[cfg(target_os = "linux")]
fn a_busy_port_names_this_test_process() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    let h = port_holder(port, lo).expect("holder found");
    assert_eq!(h.pid, std::process::id());
    assert!(!h.command.is_empty());
    // The wildcard address conflicts with it too.
    assert_eq!(
        port_holder(port, "0.0.0.0".parse().unwrap()).unwrap().pid,
        h.pid
    );
    let c = check_port(lo, port, "registry.port");
    assert_eq!(c.status, CheckStatus::Fail);
    assert!(
        c.detail.starts_with(&format!(
            "port {port} on 127.0.0.1 is already in use by pid {} (`",
            h.pid
        )),
        "{}",
        c.detail
    );
    assert_eq!(
        c.fix.as_deref(),
        Some("stop it or set registry.port in devenv.toml")
    );
    assert_eq!(
        port_in_use(lo, port),
        Some(format!(" by pid {} (`{}`)", h.pid, h.command))
    );
    drop(l);
    // Free again once closed (a fresh bind, as devenv's registry would do).
    assert_eq!(port_state(lo, port), PortState::Free);
    assert_eq!(port_in_use(lo, port), None);
}

#[test]
fn busy_without_a_known_holder_still_fails() {
    let c = evaluate_port(
        "127.0.0.1".parse().unwrap(),
        6550,
        "cluster.api_port",
        &PortState::Busy { holder: None },
    );
    assert_eq!(c.status, CheckStatus::Fail);
    assert_eq!(c.detail, "port 6550 on 127.0.0.1 is already in use");
    let docker = evaluate_port(
        "127.0.0.1".parse().unwrap(),
        5111,
        "registry.port",
        &PortState::Busy {
            holder: Some(Holder {
                pid: 9,
                command: "docker-proxy -proto tcp -host-ip 127.0.0.1".into(),
            }),
        },
    );
    assert!(docker
        .fix
        .unwrap()
        .contains("docker ps --filter publish=5111"));
    // 192.0.2.1 (TEST-NET-1) is never a local address.
    let bad = check_port("192.0.2.1".parse().unwrap(), 5111, "registry.bind");
    assert_eq!(bad.status, CheckStatus::Fail);
}

#[test]
fn disk_thresholds() {
    let p = Path::new("/p");
    assert_eq!(
        evaluate_disk("project", p, 10 << 30).status,
        CheckStatus::Ok
    );
    assert_eq!(
        evaluate_disk("project", p, 4 << 30).status,
        CheckStatus::Warn
    );
    let low = evaluate_disk("project", p, 512 << 20);
    assert_eq!(low.status, CheckStatus::Fail);
    assert_eq!(low.detail, "512 MiB free on the filesystem of /p");
    assert_eq!(format_bytes(12_884_901_888), "12.0 GiB");
    // The real filesystem answers.
    let here = free_bytes(Path::new(".")).unwrap();
    assert!(here > 0);
    assert!(check_disk("x", Path::new("/definitely/not/here")).status == CheckStatus::Warn);
}

#[test]
fn devenv_on_path() {
    let me = Path::new("/home/u/.cargo/bin/devenv");
    assert_eq!(evaluate_self_on_path(Some(me), me).status, CheckStatus::Ok);
    let nix = evaluate_self_on_path(Some(Path::new("/nix/store/abc-devenv-1.0/bin/devenv")), me);
    assert_eq!(nix.status, CheckStatus::Warn);
    assert!(nix.detail.contains("devenv.sh"), "{}", nix.detail);
    assert_eq!(
        nix.fix.as_deref(),
        Some("put /home/u/.cargo/bin before /nix/store/abc-devenv-1.0/bin in PATH, or run this one by its full path")
    );
    assert_eq!(evaluate_self_on_path(None, me).status, CheckStatus::Warn);
}

#[test]
fn worst_and_render() {
    let checks = vec![
        Check::ok("docker", "Docker Engine 28.2.2"),
        Check::warn("k3d", "k3d v6.0.0", "install k3d v5"),
        Check::fail("port 5111", "in use", "stop it"),
    ];
    assert_eq!(worst(&checks), CheckStatus::Fail);
    assert_eq!(worst(&checks[..2]), CheckStatus::Warn);
    assert_eq!(worst(&[]), CheckStatus::Ok);
    let text = render_checks(&checks);
    assert_eq!(
        text,
        "✓ ok    docker     Docker Engine 28.2.2\n\
         ! warn  k3d        k3d v6.0.0\n\
         \x20                  fix: install k3d v5\n\
         ✗ FAIL  port 5111  in use\n\
         \x20                  fix: stop it\n"
    );
    let json = serde_json::to_value(&checks[2]).unwrap();
    assert_eq!(json["status"], "fail");
}
