//! Overlays against the real kubectl (Kustomize v5): the wrapper rewrites exactly the
//! images devenv built and nothing else, every argv devenv builds parses, the generated
//! objects match the Kubernetes schemas, and the verify probe binary works.
//!
//! Tests run `/usr/bin/kubectl` (or `kubectl` on PATH) directly; without it they fail
//! with a clear message rather than pass vacuously.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use devenv::deploy::{
    parse_wait_spec, plan_apply, RenderedOverlay, WaitKind, WaitSpec, WaitTarget,
};
use devenv::kube::KubeTarget;
use devenv::overlays::verify::{self, VerifyProbe};
use devenv::overlays::{
    image_name, render_argv, render_namespaces, wrapper_kustomization, ImageOverride,
    NamespaceSpec, PodSecurityLevel,
};
use serde_yaml_ng::Value;
use sha2::{Digest, Sha256};

const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kustomize")
}

fn kubectl() -> String {
    if Path::new("/usr/bin/kubectl").exists() {
        "/usr/bin/kubectl".into()
    } else {
        "kubectl".into()
    }
}

/// Runs an argv (argv[0] replaced by the real kubectl when it is `kubectl`).
fn run(argv: &[String], home: &Path) -> std::process::Output {
    let program = if argv[0] == "kubectl" {
        kubectl()
    } else {
        argv[0].clone()
    };
    Command::new(program)
        .args(&argv[1..])
        .env("HOME", home)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run kubectl (needed by these tests): {e}"))
}

fn render(dir: &Path, home: &Path) -> String {
    let out = run(&render_argv(None, dir, None), home);
    assert!(
        out.status.success(),
        "kubectl kustomize {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// sha256 of every file of a tree, by relative path.
fn tree_hashes(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.insert(
                    path.strip_prefix(root).unwrap().to_path_buf(),
                    hex::encode(Sha256::digest(bytes)),
                );
            }
        }
    }
    out
}

fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

/// Replaces the `image` of every container and init container by a marker and returns
/// the images found, by path, so two renderings can be compared field by field.
fn mask_images(value: &mut Value, path: &str, images: &mut BTreeMap<String, String>) {
    match value {
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                let key = k.as_str().unwrap_or("?").to_string();
                let here = format!("{path}/{key}");
                if matches!(key.as_str(), "containers" | "initContainers") {
                    for (i, c) in v.as_sequence_mut().into_iter().flatten().enumerate() {
                        if let Some(image) = c.get_mut("image") {
                            images
                                .insert(format!("{here}/{i}"), image.as_str().unwrap().to_string());
                            *image = Value::String("<image>".into());
                        }
                    }
                }
                mask_images(v, &here, images);
            }
        }
        Value::Sequence(seq) => {
            for (i, v) in seq.iter_mut().enumerate() {
                mask_images(v, &format!("{path}/{i}"), images);
            }
        }
        _ => {}
    }
}

fn overrides() -> Vec<ImageOverride> {
    vec![
        ImageOverride {
            stands_for: "ghcr.io/org/api".into(),
            new_name: "localhost:5111/api".into(),
            new_tag: "3f2a9c1e0b7d".into(),
        },
        ImageOverride {
            // Given with a tag: only the name counts.
            stands_for: "us-central1-docker.pkg.dev/proj/repo/frontend:1.2".into(),
            new_name: "localhost:5111/frontend".into(),
            new_tag: "0042".into(),
        },
    ]
}

/// The project layout devenv uses: the wrapper under `.devenv/overlays/NAME`, far from
/// the team's overlay (here the fixture tree), so the relative path climbs out.
fn write_wrapper(project: &Path, overlay: &str) -> PathBuf {
    let wrapper_dir = project.join(".devenv/overlays").join(overlay);
    let text = wrapper_kustomization(
        &fixtures().join("overlays").join(overlay),
        &wrapper_dir,
        &overrides(),
    );
    std::fs::create_dir_all(&wrapper_dir).unwrap();
    std::fs::write(wrapper_dir.join("kustomization.yaml"), text).unwrap();
    wrapper_dir
}

#[test]
fn wrapper_rewrites_only_the_built_images() {
    let before = tree_hashes(&fixtures());
    let tmp = tempfile::tempdir().unwrap();
    let started = Instant::now();
    for overlay in ["dev", "ci"] {
        let plain = render(&fixtures().join("overlays").join(overlay), tmp.path());
        let wrapper_dir = write_wrapper(tmp.path(), overlay);
        let wrapped = render(&wrapper_dir, tmp.path());

        let mut plain_docs = documents(&plain);
        let mut wrapped_docs = documents(&wrapped);
        let (mut plain_images, mut wrapped_images) = (BTreeMap::new(), BTreeMap::new());
        for (i, d) in plain_docs.iter_mut().enumerate() {
            mask_images(d, &format!("doc{i}"), &mut plain_images);
        }
        for (i, d) in wrapped_docs.iter_mut().enumerate() {
            mask_images(d, &format!("doc{i}"), &mut wrapped_images);
        }
        // Same objects, same order, same fields: only the image strings may differ.
        assert_eq!(
            plain_docs, wrapped_docs,
            "overlay {overlay}: something besides images changed"
        );
        assert_eq!(
            plain_images.keys().collect::<Vec<_>>(),
            wrapped_images.keys().collect::<Vec<_>>()
        );
        let mut rewritten = 0;
        for (path, old) in &plain_images {
            let new = &wrapped_images[path];
            let expected = match overrides()
                .iter()
                .find(|o| image_name(&o.stands_for) == image_name(old))
            {
                Some(o) => {
                    rewritten += 1;
                    format!("{}:{}", o.new_name, o.new_tag)
                }
                None => old.clone(),
            };
            assert_eq!(new, &expected, "overlay {overlay}, {path}: {old}");
        }
        // api by digest in the container and the init container, api:1.4 in the Job (and
        // the StatefulSet in ci), the frontend with its tag (overridden by the team in ci).
        assert_eq!(rewritten, if overlay == "ci" { 5 } else { 4 }, "{overlay}");
        assert!(wrapped.contains("image: localhost:5111/api:3f2a9c1e0b7d"));
        assert!(
            !wrapped.contains(DIGEST),
            "a digest reference survived in {overlay}"
        );
        assert!(
            wrapped.contains("image: localhost:5111/frontend:\"0042\"")
                || wrapped.contains("image: localhost:5111/frontend:0042")
        );
        assert!(wrapped.contains("docker.io/prom/statsd-exporter:v0.26.0"));
    }
    assert_eq!(
        before,
        tree_hashes(&fixtures()),
        "the fixture files changed"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn rendered_dev_overlay_is_staged_crds_first() {
    let tmp = tempfile::tempdir().unwrap();
    let wrapper_dir = write_wrapper(tmp.path(), "dev");
    let yaml = render(&wrapper_dir, tmp.path());
    let rendered = RenderedOverlay::from_yaml("dev", &yaml).unwrap();
    assert_eq!(
        rendered.sha256,
        hex::encode(Sha256::digest(yaml.as_bytes()))
    );

    let saved = rendered.save(&tmp.path().join(".devenv/rendered")).unwrap();
    assert_eq!(std::fs::read(&saved).unwrap(), yaml.as_bytes());

    let plan = plan_apply(&rendered, "default", &WaitSpec::Auto).unwrap();
    assert_eq!(plan.crd_names, ["widgets.example.com"]);
    let rest = RenderedOverlay::from_yaml("rest", &plan.rest).unwrap();
    assert_eq!(rest.manifests[0].kind, "Namespace");
    assert!(rest.manifests.iter().any(|m| m.kind == "Widget"));
    assert!(rest
        .manifests
        .iter()
        .all(|m| m.kind != "CustomResourceDefinition"));
    assert_eq!(rest.manifests.len() + 1, rendered.manifests.len());
    let t = |kind, name: &str| WaitTarget {
        kind,
        namespace: "shop-dev".into(),
        name: name.into(),
    };
    assert_eq!(
        plan.waits,
        [
            t(WaitKind::Deployment, "api"),
            t(WaitKind::Deployment, "frontend"),
            t(WaitKind::Job, "migrate")
        ]
    );

    let files = plan
        .save(&tmp.path().join(".devenv/rendered"), "dev")
        .unwrap();
    assert!(files.crds.is_some() && files.rest.is_some());
    let ci =
        RenderedOverlay::from_yaml("ci", &render(&write_wrapper(tmp.path(), "ci"), tmp.path()))
            .unwrap();
    let plan = plan_apply(
        &ci,
        "default",
        &parse_wait_spec(&["statefulset/cache", "ds/log-agent"]).unwrap(),
    )
    .unwrap();
    assert_eq!(plan.crds, None);
    assert_eq!(
        plan.waits.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
        [
            "statefulset/cache in shop-ci",
            "daemonset/log-agent in shop-ci"
        ]
    );
}

const FLAG_ERRORS: &[&str] = &[
    "unknown flag",
    "unknown shorthand",
    "invalid argument",
    "required flag",
    "unknown command",
    "usage:",
];

/// Every argv devenv builds, run by the real kubectl against a server that is not there:
/// each must fail for want of a server, never because of its flags.
#[test]
fn every_kubectl_argv_parses_with_the_real_kubectl() {
    let tmp = tempfile::tempdir().unwrap();
    let kubeconfig = tmp.path().join("kubeconfig");
    // A token user: with no credentials kubectl would prompt for a username.
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n\
         contexts:\n- name: k3d-shop\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    token: devenv-test\n\
         current-context: k3d-shop\n",
    )
    .unwrap();
    let manifest = tmp.path().join("apply.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
    )
    .unwrap();

    let k = KubeTarget {
        kubeconfig: Some(kubeconfig.display().to_string()),
        context: "k3d-shop".into(),
    };
    let t = |kind| WaitTarget {
        kind,
        namespace: "shop".into(),
        name: "api".into(),
    };
    let probe = VerifyProbe::new("localhost:5111/devenv-probe:abc", 8080);
    let timeout = Duration::from_secs(5);
    let mut argvs = vec![
        k.apply_argv(&manifest),
        k.wait_crds_argv(
            &["widgets.example.com".into(), "gadgets.example.com".into()],
            timeout,
        ),
        k.describe_argv(&t(WaitKind::Deployment)),
        k.events_argv(&t(WaitKind::Deployment)),
        k.pods_argv("shop", "app=api,tier=web"),
        k.delete_namespace_argv("shop"),
        probe.server_ready_argv(&k, timeout),
        probe.clients_done_argv(&k, timeout),
        probe.results_argv(&k),
        probe.cleanup_argv(&k),
    ];
    for kind in [
        WaitKind::Deployment,
        WaitKind::StatefulSet,
        WaitKind::DaemonSet,
        WaitKind::Job,
    ] {
        argvs.push(k.wait_argv(&t(kind), timeout));
    }
    // In parallel: each takes about 0.1 s, and the test must stay fast.
    let handles: Vec<_> = argvs
        .into_iter()
        .map(|argv| {
            let home = tmp.path().to_path_buf();
            std::thread::spawn(move || (run(&argv, &home), argv))
        })
        .collect();
    for h in handles {
        let (out, argv) = h.join().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{argv:?} succeeded without a server?"
        );
        for bad in FLAG_ERRORS {
            assert!(
                !stderr.contains(bad),
                "{argv:?}: flag error `{bad}`:\n{stderr}"
            );
        }
        assert!(
            stderr.contains("connection refused") || stderr.contains("was refused"),
            "{argv:?} did not get as far as the server:\n{stderr}"
        );
    }
}

/// The objects devenv generates against strict schemas of the Kubernetes API (see
/// tests/fixtures/kustomize/schemas/README.md for why not kubectl).
#[test]
fn generated_namespaces_and_policies_match_the_api_schemas() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("schemas/k8s-subset.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();

    let namespaces = render_namespaces(&[
        NamespaceSpec {
            name: "shop".into(),
            pod_security: Some(PodSecurityLevel::Restricted),
            default_deny: true,
            labels: BTreeMap::from([
                ("team".into(), "shop".into()),
                ("cost-center".into(), "42".into()),
            ]),
        },
        NamespaceSpec {
            name: "tools".into(),
            pod_security: Some(PodSecurityLevel::Privileged),
            ..Default::default()
        },
    ]);
    let verify = VerifyProbe::new("localhost:5111/devenv-probe:abc", 8080).server_manifests();
    let mut checked = 0;
    for yaml in [&namespaces, &verify] {
        for doc in documents(yaml) {
            let json: serde_json::Value = serde_json::to_value(&doc).unwrap();
            if json["kind"] == "Pod" {
                continue; // not in the schema subset; its fields are checked by unit tests
            }
            let errors: Vec<String> = validator
                .iter_errors(&json)
                .map(|e| format!("{e} at {}", e.instance_path))
                .collect();
            assert!(errors.is_empty(), "{json:#}\n{errors:#?}");
            checked += 1;
        }
    }
    assert_eq!(checked, 4 + 3);

    // The schema does catch mistakes.
    let mut bad: serde_json::Value = serde_json::to_value(&documents(&namespaces)[1]).unwrap();
    bad["spec"]["policyType"] = serde_json::json!(["Ingress"]);
    assert!(!validator.is_valid(&bad));
}

/// The shipped probe binaries are exactly what their sources assemble to (with the same
/// commands as probe/build.sh). The assembler of each target is needed: GNU binutils natively,
/// or the cross binutils (`binutils-aarch64-linux-gnu` on x86_64, installed by .ci/run).
#[test]
#[ignore = "needs binutils (as, ld) and the other architecture's (binutils-aarch64-linux-gnu): scripts/test.sh installs them"]
fn probe_binaries_are_reproducible_from_their_sources() {
    let have = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let tools = |prefix: &str, native: &str, package: &str| -> (String, String) {
        let cross = (format!("{prefix}-as"), format!("{prefix}-ld"));
        if have(&cross.0) && have(&cross.1) {
            return cross;
        }
        assert!(
            std::env::consts::ARCH == native && have("as") && have("ld"),
            "no assembler for {native}: install {package} (.ci/run does)"
        );
        ("as".into(), "ld".into())
    };
    let tmp = tempfile::tempdir().unwrap();
    let probe = Path::new(env!("CARGO_MANIFEST_DIR")).join("probe");
    for (source, shipped, (as_, ld), as_flags) in [
        (
            "devenv-probe-x86_64.S",
            verify::PROBE_BINARY_X86_64,
            tools(
                "x86_64-linux-gnu",
                "x86_64",
                "binutils (or binutils-x86-64-linux-gnu)",
            ),
            &["--64"][..],
        ),
        (
            "devenv-probe-aarch64.S",
            verify::PROBE_BINARY_AARCH64,
            tools("aarch64-linux-gnu", "aarch64", "binutils-aarch64-linux-gnu"),
            &[][..],
        ),
    ] {
        let object = tmp.path().join(format!("{source}.o"));
        let binary = tmp.path().join(format!("{source}.bin"));
        let ok = Command::new(&as_)
            .args(as_flags)
            .arg("-o")
            .arg(&object)
            .arg(probe.join(source))
            .status()
            .unwrap();
        assert!(ok.success(), "{as_} {source}");
        let ok = Command::new(&ld)
            .args([
                "-static",
                "-nostdlib",
                "-s",
                "--build-id=none",
                "-z",
                "noseparate-code",
                "-o",
            ])
            .arg(&binary)
            .arg(&object)
            .status()
            .unwrap();
        assert!(ok.success(), "{ld} {source}");
        assert!(
            std::fs::read(&binary).unwrap() == shipped,
            "the binary of probe/{source} is stale: rebuild it with probe/build.sh"
        );
    }
}

/// The probe as the cluster runs it: serve, then connect (allowed) and a closed port.
#[cfg(target_arch = "x86_64")]
#[test]
fn probe_binary_serves_and_reports_connections() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = verify::write_probe_context(&tmp.path().join("probe")).unwrap();
    let bin = ctx.dir.join("devenv-probe-amd64");

    let port = crate::support::free_port();
    let mut server = Command::new(&bin)
        .args(["serve", &port.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the listener (a condition, not a fixed sleep).
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "probe server did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    let connect = |port: u16, attempts: &str| {
        crate::support::probe_connect(Command::new(&bin), port, attempts)
    };
    assert_eq!(connect(port, "3"), (Some(0), "connected\n".to_string()));
    // Many clients in a row: the server keeps accepting.
    for _ in 0..20 {
        assert_eq!(connect(port, "1").1, "connected\n");
    }
    server.kill().unwrap();
    server.wait().unwrap();

    let closed = crate::support::free_port();
    let started = Instant::now();
    assert_eq!(
        connect(closed, "1"),
        (Some(0), "no-connection\n".to_string())
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    for bad in crate::support::PROBE_BAD_ARGUMENTS {
        let status = Command::new(&bin)
            .args(bad)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(2), "{bad:?}");
    }
}
