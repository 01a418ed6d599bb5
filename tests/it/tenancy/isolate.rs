//! Namespace mapping and rewriting of real Kustomize output (`isolate`), owner labels.

use super::*;

// ---------------------------------------------------------------------------------------
// isolate

#[test]
fn two_owners_map_the_same_overlay_to_disjoint_namespaces() {
    let alice = Inventory::from_rendered(&isolated("v1.yaml", "alice"), "default").unwrap();
    let bob = Inventory::from_rendered(&isolated("v1.yaml", "bob"), "default").unwrap();
    assert_eq!(alice.len(), 11);
    assert_eq!(alice.len(), bob.len());

    let ns_a = alice.namespaces();
    let ns_b = bob.namespaces();
    assert_eq!(
        ns_a,
        BTreeSet::from(["default-alice".to_string(), "shop-alice".to_string()])
    );
    assert!(ns_a.is_disjoint(&ns_b), "{ns_a:?} / {ns_b:?}");

    // The only object both apply is the CRD: one per cluster by nature, the same for both.
    let common: Vec<&ObjectRef> = alice.objects.iter().filter(|o| bob.contains(o)).collect();
    assert_eq!(common.len(), 1, "{common:?}");
    assert!(common[0].is_crd());
}

#[test]
fn every_object_is_labelled_with_devenv_project_and_owner() {
    let out = docs(&isolated("v1.yaml", "alice"));
    let original = docs(&fixture("v1.yaml"));
    assert_eq!(out.len(), original.len());
    for (d, o) in out.iter().zip(&original) {
        let labels = &d["metadata"]["labels"];
        let what = format!(
            "{}/{}",
            d["kind"].as_str().unwrap(),
            d["metadata"]["name"].as_str().unwrap()
        );
        assert_eq!(labels[MANAGED_BY_LABEL].as_str(), Some("devenv"), "{what}");
        assert_eq!(labels[PROJECT_LABEL].as_str(), Some("shop"), "{what}");
        if d["kind"].as_str() == Some("CustomResourceDefinition") {
            assert!(
                labels.get(OWNER_LABEL).is_none(),
                "a CRD is shared: no owner on it"
            );
        } else {
            assert_eq!(labels[OWNER_LABEL].as_str(), Some("alice"), "{what}");
        }
        // The labels it had are kept.
        if let Some(Value::Mapping(before)) = o["metadata"].get("labels") {
            for (k, v) in before {
                assert_eq!(labels.get(k), Some(v), "{what} lost label {k:?}");
            }
        }
    }
}

#[test]
fn selectors_and_pod_templates_are_untouched() {
    let out = docs(&isolated("v1.yaml", "alice"));
    let app = yaml("app: api");
    let deploy = find(&out, "Deployment", "api");
    assert_eq!(deploy["spec"]["selector"]["matchLabels"], app);
    assert_eq!(deploy["spec"]["template"]["metadata"]["labels"], app);
    assert_eq!(find(&out, "Service", "api")["spec"]["selector"], app);
    let np = find(&out, "NetworkPolicy", "api-ingress");
    assert_eq!(np["spec"]["podSelector"]["matchLabels"], app);
    assert_eq!(
        np["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"],
        yaml("app: web")
    );
    // A namespace selector on a label of the team's own is not a name: kept.
    assert_eq!(
        np["spec"]["ingress"][0]["from"][2]["namespaceSelector"]["matchLabels"],
        yaml("team: checkout")
    );
}

#[test]
fn namespaces_and_the_references_that_must_follow_are_rewritten() {
    let out = docs(&isolated("v1.yaml", "alice"));
    assert_eq!(
        find(&out, "Namespace", "shop-alice")["metadata"].get("namespace"),
        None
    );
    for (kind, name) in [
        ("ServiceAccount", "api"),
        ("Role", "api-reader"),
        ("Deployment", "api"),
        ("Widget", "blue"),
    ] {
        assert_eq!(
            find(&out, kind, name)["metadata"]["namespace"].as_str(),
            Some("shop-alice"),
            "{kind}/{name}"
        );
    }
    // No namespace in the render: the context's default, mapped like any other.
    assert_eq!(
        find(&out, "ConfigMap", "banner")["metadata"]["namespace"].as_str(),
        Some("default-alice")
    );
    assert_eq!(
        find(&out, "CustomResourceDefinition", "widgets.example.com")["metadata"].get("namespace"),
        None
    );

    let rb = find(&out, "RoleBinding", "api-reader");
    assert_eq!(rb["subjects"][0]["namespace"].as_str(), Some("shop-alice"));
    assert_eq!(
        rb["subjects"][1]["namespace"].as_str(),
        Some("kube-system"),
        "system namespaces are never mapped"
    );
    assert_eq!(rb["subjects"][2].get("namespace"), None);
    assert_eq!(rb["roleRef"]["name"].as_str(), Some("api-reader"));

    let np = find(&out, "NetworkPolicy", "api-ingress");
    let from = &np["spec"]["ingress"][0]["from"];
    assert_eq!(
        from[0]["namespaceSelector"]["matchLabels"][NAMESPACE_NAME_LABEL].as_str(),
        Some("shop-alice")
    );
    assert_eq!(
        from[1]["namespaceSelector"]["matchExpressions"][0]["values"],
        yaml("[shop-alice, ingress-alice]")
    );
    let to = &np["spec"]["egress"][0]["to"][0];
    assert_eq!(
        to["namespaceSelector"]["matchLabels"][NAMESPACE_NAME_LABEL].as_str(),
        Some("kube-system")
    );
}

/// Apart from namespaces, the references above and the three labels, every object is the
/// same value as rendered.
#[test]
fn everything_else_is_kept_as_rendered() {
    let out = docs(&isolated("v1.yaml", "alice"));
    let original = docs(&fixture("v1.yaml"));
    let skip = ["Namespace", "RoleBinding", "NetworkPolicy"];
    let mut compared = 0;
    for (d, o) in out.iter().zip(&original) {
        if skip.contains(&d["kind"].as_str().unwrap()) {
            continue;
        }
        let mut d = d.clone();
        let mut o = o.clone();
        for v in [&mut d, &mut o] {
            let meta = v.get_mut("metadata").unwrap().as_mapping_mut().unwrap();
            meta.remove("namespace");
            if let Some(Value::Mapping(labels)) = meta.get_mut("labels") {
                for k in [MANAGED_BY_LABEL, PROJECT_LABEL, OWNER_LABEL] {
                    labels.remove(k);
                }
                if labels.is_empty() {
                    meta.remove("labels");
                }
            }
        }
        assert_eq!(d, o);
        compared += 1;
    }
    assert_eq!(compared, 8);
}

/// Kubernetes reads manifests as YAML 1.1: a bare `yes`, `on` or `0777` would become a
/// boolean or a number. The re-serialized strings must stay quoted.
#[test]
fn strings_that_yaml_1_1_reads_otherwise_stay_quoted() {
    let out = isolated("v1.yaml", "alice");
    for key in ["FEATURE", "MODE", "text"] {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("\"{key}\":")))
            .unwrap();
        let value = line.split_once(':').unwrap().1.trim();
        assert!(value.starts_with('\'') || value.starts_with('"'), "{line}");
    }
    for bare in ["- true", "value: ~"] {
        assert!(!out.lines().any(|l| l.trim() == bare), "{bare} unquoted");
    }
    let d = docs(&out);
    assert_eq!(
        find(&d, "Deployment", "api")["spec"]["template"]["spec"]["containers"][0]["env"][0]
            ["value"]
            .as_str(),
        Some("hello\n  world\n")
    );
}

/// What is written reads back as the same values (YAML 1.2, serde_yaml_ng): JSON, which
/// is YAML, written by serde_json.
#[test]
fn the_yaml_written_reads_back_the_same() {
    for name in ["v1.yaml", "v2.yaml"] {
        for d in docs(&fixture(name)) {
            let written = to_document("d", &d).unwrap();
            assert_eq!(
                &serde_yaml_ng::from_str::<Value>(&written).unwrap(),
                &d,
                "{written}"
            );
        }
    }
    let tricky = yaml(
        r##"
a: ["yes", "No", "ON", "~", "null", "", " lead", "trail ", "0777", "1e3", "0x1F", "1_000", "1:20", ".inf", "-.5", "2024-01-01", "=", "-", "- x", "a: b", "#c", "x #y", "@at", "`b", "!t", "&a", "*a", "|", ">", "%", "[x]", "{x}", "'q'", "\"d\"", "tab\there", "héllo", "100Mi", "10s", "--listen", "v1.2.3", "ab", "3d", ":8080", "localhost:5111/app:tag", "12:30", "a:", "a: b"]
b: ["line\n", "two\nlines", "keep\n\n", "\n lead", "cr\r\nlf", " x\ny", "x\n y\n", "---\nkind: x", "...\n"]
n: [1, -2, 1.5, 1e20, true, null]
nested: [[1, [2]], [], {}, [{}], {k: []}]
"##,
    );
    let written = to_document("tricky", &tricky).unwrap();
    let back: Value = serde_yaml_ng::from_str(&written).unwrap();
    assert_eq!(back, tricky, "{written}");
    // JSON has no infinity nor NaN: refused rather than written as null.
    for bad in ["n: .inf", "n: [-.inf]", "n: {x: .nan}"] {
        assert!(
            matches!(
                to_document("bad", &yaml(bad)),
                Err(TenancyError::Serialize { .. })
            ),
            "{bad}"
        );
    }
}

/// Kubernetes reads YAML 1.1 (go-yaml v2): PyYAML, a YAML 1.1 reader, must read what is
/// written as the same JSON as serde_yaml_ng does.
#[test]
#[ignore = "needs python3 with PyYAML (python3-yaml): scripts/test.sh installs it"]
fn a_yaml_1_1_reader_agrees() {
    let probe = Command::new("python3")
        .args(["-c", "import yaml, json"])
        .output();
    assert!(
        probe.map(|o| o.status.success()).unwrap_or(false),
        "python3 with PyYAML is not installed (Debian: python3-yaml; scripts/test.sh installs it)"
    );
    let out = isolated("v1.yaml", "alice");
    let mut extra = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: t\ndata:\n");
    for (i, v) in [
        "yes",
        "No",
        "ON",
        "off",
        "y",
        "~",
        "null",
        "0777",
        "1e3",
        "0x1F",
        "1_000",
        "1:20",
        "2024-01-01",
        ".inf",
        "=",
        "3d",
        "100Mi",
        "--x",
        ":8080",
        "localhost:5111/x:y",
        "12:30",
        "2001-12-14t21:59:43.10-05:00",
        "1.0",
        "a\nb\n",
    ]
    .iter()
    .enumerate()
    {
        extra.push_str(&format!("  k{i}: {}\n", serde_json::to_string(v).unwrap()));
    }
    let extra_doc: Value = serde_yaml_ng::from_str(&extra).unwrap();
    let all = format!("{out}---\n{}", to_document("extra", &extra_doc).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("all.yaml");
    std::fs::write(&file, &all).unwrap();
    let py = Command::new("python3")
        .args(["-c", "import sys, yaml, json; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1]))), sort_keys=True))"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let by_yaml_1_1: serde_json::Value = serde_json::from_slice(&py.stdout).unwrap();
    let by_serde: Vec<serde_json::Value> = docs(&all)
        .iter()
        .map(|d| serde_json::to_value(d).unwrap())
        .collect();
    assert_eq!(by_yaml_1_1, serde_json::Value::Array(by_serde));
}

#[test]
fn isolation_is_deterministic_per_owner() {
    assert_eq!(isolated("v1.yaml", "alice"), isolated("v1.yaml", "alice"));
    assert_ne!(isolated("v1.yaml", "alice"), isolated("v1.yaml", "bob"));
}

#[test]
fn a_prefix_template_and_the_project_placeholder() {
    let m = NamespaceMapping::new("{owner}-{project}-{namespace}", "alice", "shop").unwrap();
    let out = docs(
        &isolate(
            &fixture("v1.yaml"),
            &m,
            "default",
            &OwnerLabels::new("shop", "alice"),
        )
        .unwrap(),
    );
    assert_eq!(
        find(&out, "Deployment", "api")["metadata"]["namespace"].as_str(),
        Some("alice-shop-shop")
    );
    assert!(
        find(&out, "Namespace", "alice-shop-shop")["metadata"]["labels"]
            .get("team")
            .is_some()
    );
}

const CLUSTER_ROLE: &str = "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: reader
rules: []
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: c
  namespace: kube-system
---
apiVersion: v1
kind: Namespace
metadata:
  name: kube-public
";

#[test]
fn objects_shared_by_the_whole_cluster_are_refused_with_a_fix() {
    let m = mapping("alice");
    let err = isolate(
        CLUSTER_ROLE,
        &m,
        "default",
        &OwnerLabels::new("shop", "alice"),
    )
    .unwrap_err();
    let text = err.hinted().render();
    assert!(
        matches!(err, TenancyError::Shared { ref objects, .. } if objects.len() == 3),
        "{text}"
    );
    for what in [
        "ClusterRole.rbac.authorization.k8s.io/reader",
        "ConfigMap/c in kube-system",
        "Namespace/kube-public",
    ] {
        assert!(text.contains(what), "{what} not in: {text}");
    }
    assert!(text.contains("allow_shared_objects"), "{text}");

    // Allowed: applied as they are, labelled, namespaces of the cluster not renamed.
    let mut iso = Isolation::new(m);
    iso.allow_shared = true;
    let out = docs(&iso.isolate("o", CLUSTER_ROLE).unwrap());
    assert_eq!(
        find(&out, "ClusterRole", "reader")["metadata"]["labels"][OWNER_LABEL].as_str(),
        Some("alice")
    );
    assert_eq!(
        find(&out, "ConfigMap", "c")["metadata"]["namespace"].as_str(),
        Some("kube-system")
    );
    find(&out, "Namespace", "kube-public");
}

#[test]
fn scope_comes_from_the_crds_of_the_render_and_from_configured_kinds() {
    let yaml = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gizmos.example.com
spec:
  group: example.com
  scope: Cluster
  names: {kind: Gizmo, plural: gizmos}
  versions: []
---
apiVersion: example.com/v1
kind: Gizmo
metadata:
  name: g
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: ca
";
    let m = mapping("alice");
    let err = isolate(yaml, &m, "default", &OwnerLabels::new("shop", "alice"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Gizmo.example.com/g (cluster-scoped)"),
        "{err}"
    );
    // Not known to be cluster-scoped: taken as namespaced, like kubectl would need.
    assert!(!err.contains("ClusterIssuer"), "{err}");

    let mut iso = Isolation::new(m);
    iso.allow_shared = true;
    iso.cluster_kinds
        .push(("cert-manager.io".into(), "ClusterIssuer".into()));
    let text = iso.isolate("o", yaml).unwrap();
    let out = docs(&text);
    assert_eq!(
        find(&out, "ClusterIssuer", "ca")["metadata"].get("namespace"),
        None
    );
    assert_eq!(find(&out, "Gizmo", "g")["metadata"].get("namespace"), None);
    let inventory = iso.inventory(&text).unwrap();
    assert!(
        inventory.objects.iter().all(|o| o.namespace.is_none()),
        "{inventory:?}"
    );
    assert_eq!(inventory.len(), 3);
}

#[test]
fn bad_yaml_is_an_error_not_a_panic() {
    let m = mapping("alice");
    let labels = OwnerLabels::new("shop", "alice");
    assert!(matches!(
        isolate("kind: [", &m, "default", &labels),
        Err(TenancyError::Render(_))
    ));
    assert!(matches!(
        isolate("- a\n- b\n", &m, "default", &labels),
        Err(TenancyError::Render(_))
    ));
    assert_eq!(isolate("", &m, "default", &labels).unwrap(), "");
}
