//! Per-developer isolation on a shared cluster: namespace mapping and rewriting of real
//! Kustomize output (`tests/fixtures/tenancy/`), labels, inventories and pruning, the
//! kubectl argvs (parsed by the real kubectl), and the context guard.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use devenv::kube::KubeTarget;
use devenv::tenancy::*;
use serde_yaml_ng::Value;

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tenancy")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn mapping(owner: &str) -> NamespaceMapping {
    NamespaceMapping::default_for(owner, "shop").unwrap()
}

fn isolated(name: &str, owner: &str) -> String {
    let m = mapping(owner);
    isolate(
        &fixture(name),
        &m,
        "default",
        &OwnerLabels::new("shop", owner),
    )
    .unwrap()
}

fn docs(yaml: &str) -> Vec<Value> {
    yaml.split("\n---\n")
        .map(|d| serde_yaml_ng::from_str::<Value>(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind) && d["metadata"]["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

fn yaml(s: &str) -> Value {
    serde_yaml_ng::from_str(s).unwrap()
}

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

// ---------------------------------------------------------------------------------------
// inventory and pruning

fn inv(name: &str, owner: &str) -> Inventory {
    Inventory::from_rendered(&isolated(name, owner), "default").unwrap()
}

#[test]
fn prune_removes_exactly_the_objects_dropped_between_two_renders() {
    let pruned = prune_set(&inv("v1.yaml", "alice"), &inv("v2.yaml", "alice"));
    let shown: Vec<String> = pruned.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        shown,
        [
            "configmap/banner in default-alice",
            "widget.example.com/blue in shop-alice"
        ]
    );
    // Nothing of bob's is ever in alice's prune set.
    let bob = inv("v1.yaml", "bob");
    assert!(pruned.iter().all(|r| !bob.contains(r)));
    // Same render: nothing to prune; and the reverse direction prunes the new Widget.
    assert!(prune_set(&inv("v2.yaml", "alice"), &inv("v2.yaml", "alice")).is_empty());
    let back: Vec<String> = prune_set(&inv("v2.yaml", "alice"), &inv("v1.yaml", "alice"))
        .iter()
        .map(|r| r.to_string())
        .collect();
    assert_eq!(back, ["widget.example.com/red in shop-alice"]);
}

fn oref(api: &str, kind: &str, ns: Option<&str>, name: &str) -> ObjectRef {
    ObjectRef {
        api_version: api.into(),
        kind: kind.into(),
        namespace: ns.map(Into::into),
        name: name.into(),
    }
}

#[test]
fn a_new_api_version_of_the_same_object_is_not_pruned() {
    let old = Inventory {
        objects: [oref("apps/v1beta2", "Deployment", Some("a"), "x")].into(),
    };
    let new = Inventory {
        objects: [oref("apps/v1", "Deployment", Some("a"), "x")].into(),
    };
    assert!(prune_set(&old, &new).is_empty());
}

#[test]
fn tearing_everything_down_goes_in_reverse_apply_order() {
    let all = prune_set(&inv("v1.yaml", "alice"), &Inventory::default());
    assert_eq!(all.len(), 11);
    let tiers: Vec<u8> = all.iter().map(ObjectRef::delete_tier).collect();
    assert!(tiers.windows(2).all(|w| w[0] <= w[1]), "{tiers:?}");
    assert!(all[all.len() - 2].is_namespace());
    assert!(all.last().unwrap().is_crd());
    // On a shared cluster the CRD stays (its deletion would delete everyone's Widgets).
    let (delete, keep) = split_for_shared_cluster(all);
    assert_eq!(
        keep.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["widgets.example.com"]
    );
    assert_eq!(delete.len(), 10);
    assert!(delete.last().unwrap().is_namespace());
}

fn rendered(pairs: &[(&str, Inventory)]) -> BTreeMap<String, Inventory> {
    pairs
        .iter()
        .map(|(n, i)| (n.to_string(), i.clone()))
        .collect()
}

#[test]
fn the_store_prunes_across_overlays_exactly() {
    let cm = |n: &str| oref("v1", "ConfigMap", Some("a-alice"), n);
    let one = |refs: &[ObjectRef]| Inventory {
        objects: refs.iter().cloned().collect(),
    };
    let overlays = vec!["base".to_string(), "app".to_string()];
    let mut store = InventoryStore::new("dev", "alice");
    let first = rendered(&[
        ("base", one(&[cm("x"), cm("moving")])),
        ("app", one(&[cm("y")])),
    ]);
    for (n, i) in &first {
        store.record_applying(n, i);
    }
    assert!(store.prune_plan(&first, &overlays).is_empty());
    store.commit(&first, &overlays);

    // `moving` goes from base to app, `x` is dropped: only `x` is pruned.
    let second = rendered(&[("base", one(&[])), ("app", one(&[cm("y"), cm("moving")]))]);
    for (n, i) in &second {
        store.record_applying(n, i);
    }
    assert_eq!(store.prune_plan(&second, &overlays), [cm("x")]);
    store.commit(&second, &overlays);

    // `devenv apply base` alone: app's objects are kept.
    let partial = rendered(&[("base", one(&[cm("z")]))]);
    store.record_applying("base", &partial["base"]);
    assert!(store.prune_plan(&partial, &overlays).is_empty());
    store.commit(&partial, &overlays);

    // The app overlay is removed from devenv.toml: its objects go.
    let only_base = vec!["base".to_string()];
    let third = rendered(&[("base", one(&[cm("z")]))]);
    assert_eq!(
        store.prune_plan(&third, &only_base),
        [cm("moving"), cm("y")]
    );
    store.commit(&third, &only_base);
    assert_eq!(store.all(), one(&[cm("z")]));

    // A failed apply after record_applying: what it may have created is still pruned later.
    store.record_applying("base", &one(&[cm("half")]));
    let retry = rendered(&[("base", one(&[cm("z")]))]);
    assert_eq!(store.prune_plan(&retry, &only_base), [cm("half")]);
}

#[test]
fn the_store_is_one_file_per_context_and_owner_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".devenv");
    let p = InventoryStore::path(&state, "arn:aws:eks:eu-west-1:123:cluster/dev", "alice");
    assert_ne!(
        p,
        InventoryStore::path(&state, "arn:aws:eks:eu-west-1:123:cluster/prod", "alice")
    );
    assert_ne!(
        p,
        InventoryStore::path(&state, "arn:aws:eks:eu-west-1:123:cluster/dev", "bob")
    );
    assert!(p.starts_with(state.join("inventory")));
    assert_eq!(InventoryStore::load(&p).unwrap(), None);

    let mut store = InventoryStore::new("dev", "alice");
    store.record_applying("base", &inv("v1.yaml", "alice"));
    store.save(&p).unwrap();
    assert_eq!(InventoryStore::load(&p).unwrap(), Some(store));

    std::fs::write(
        &p,
        "{\"version\": 99, \"context\": \"\", \"owner\": \"\", \"overlays\": {}}",
    )
    .unwrap();
    assert!(InventoryStore::load(&p)
        .unwrap_err()
        .to_string()
        .contains("version 99"));
    std::fs::write(&p, "not json").unwrap();
    assert!(InventoryStore::load(&p).is_err());
}

// ---------------------------------------------------------------------------------------
// kubectl argvs

#[test]
fn delete_argvs_have_the_documented_shape() {
    let k = KubeTarget {
        kubeconfig: None,
        context: "team-dev".into(),
    };
    assert_eq!(
        k.delete_argv(&oref("apps/v1", "Deployment", Some("shop-alice"), "api")),
        [
            "kubectl",
            "--context",
            "team-dev",
            "delete",
            "Deployment.apps",
            "api",
            "-n",
            "shop-alice",
            "--ignore-not-found",
            "--wait=false"
        ]
    );
    assert_eq!(
        k.delete_argv(&oref("v1", "Namespace", None, "shop-alice")),
        [
            "kubectl",
            "--context",
            "team-dev",
            "delete",
            "Namespace",
            "shop-alice",
            "--ignore-not-found",
            "--wait=false"
        ]
    );
    let mut with_config = k.clone();
    with_config.kubeconfig = Some(".devenv/kubeconfig".into());
    assert_eq!(
        with_config.argv(&["get", "ns"])[..5],
        [
            "kubectl",
            "--kubeconfig",
            ".devenv/kubeconfig",
            "--context",
            "team-dev"
        ]
    );

    let all = prune_set(&inv("v1.yaml", "alice"), &Inventory::default());
    let batches = k.delete_batches(&all);
    // default-alice, shop-alice (namespaced), then the Namespace, then the CRD.
    assert_eq!(batches.len(), 4, "{batches:#?}");
    assert_eq!(
        batches[0][4..],
        [
            "ConfigMap/app-config-kc47f85tf5",
            "ConfigMap/banner",
            "-n",
            "default-alice",
            "--ignore-not-found",
            "--wait=false"
        ]
    );
    assert!(batches[1].contains(&"Widget.example.com/blue".to_string()));
    assert!(batches[1].contains(&"RoleBinding.rbac.authorization.k8s.io/api-reader".to_string()));
    assert_eq!(batches[2][4], "Namespace/shop-alice");
    assert_eq!(
        batches[3][4],
        "CustomResourceDefinition.apiextensions.k8s.io/widgets.example.com"
    );
    let objects: usize = batches
        .iter()
        .map(|b| b.iter().filter(|a| a.contains('/')).count())
        .sum();
    assert_eq!(objects, all.len());
}

#[test]
fn label_selector_and_api_resources() {
    assert_eq!(
        label_selector("shop", "alice"),
        "app.kubernetes.io/managed-by=devenv,devenv.dev/project=shop,devenv.dev/owner=alice"
    );
    let out = "configmaps\nendpoints\nevents\npods\nsecrets\ndeployments.apps\nevents.events.k8s.io\nwidgets.example.com\n";
    assert_eq!(
        parse_api_resources(out),
        [
            "configmaps",
            "endpoints",
            "secrets",
            "deployments.apps",
            "widgets.example.com"
        ]
    );
}

/// The real kubectl, with a kubeconfig whose only server (https://127.0.0.1:1) refuses
/// connections and a token user: every argv must get past flag parsing and fail only for
/// want of a server.
#[test]
fn every_argv_passes_the_real_kubectls_flag_parsing() {
    let Some(kubectl) = real_kubectl() else {
        panic!("no kubectl: install it (it is on every machine of the project, and .ci/run installs one)");
    };
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n    insecure-skip-tls-verify: true\ncontexts:\n- name: team-dev\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    token: not-a-real-token\n",
    )
    .unwrap();
    let k = KubeTarget {
        kubeconfig: None,
        context: "team-dev".into(),
    };
    let all = prune_set(&inv("v1.yaml", "alice"), &Inventory::default());
    let mut argvs: Vec<Vec<String>> = all.iter().map(|r| k.delete_argv(r)).collect();
    argvs.extend(k.delete_batches(&all));
    argvs.extend(k.get_batches(&all));
    let selector = label_selector("shop", "alice");
    argvs.push(k.delete_by_label_argv(
        &[
            "configmaps".into(),
            "deployments.apps".into(),
            "widgets.example.com".into(),
        ],
        &selector,
    ));
    argvs.push(k.delete_namespaces_by_label_argv(&selector));
    argvs.push(k.api_resources_argv());
    argvs.push(k.get_namespace_argv("shop-alice"));

    let run = |argv: &[String]| {
        let out = Command::new(&kubectl)
            .args(&argv[1..])
            .env("KUBECONFIG", &kubeconfig)
            .env("HOME", dir.path())
            .env_remove("KUBECTL_APPLYSET")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for argv in &argvs {
        let (code, stderr) = run(argv);
        assert_ne!(code, Some(0), "{argv:?} succeeded without a server?");
        assert!(
            stderr.contains("127.0.0.1:1") && stderr.contains("refused"),
            "{argv:?} failed for another reason:\n{stderr}"
        );
    }
    // The check tells a parse error apart: a bad flag never reaches the server.
    let (_, stderr) = run(&k.argv(&["delete", "configmap", "x", "--no-such-flag"]));
    assert!(
        stderr.contains("unknown flag") && !stderr.contains("refused"),
        "{stderr}"
    );
}

fn real_kubectl() -> Option<PathBuf> {
    let usr = PathBuf::from("/usr/bin/kubectl");
    if usr.is_file() {
        return Some(usr);
    }
    which::which("kubectl").ok()
}

// ---------------------------------------------------------------------------------------
// namespace ownership and context guard

#[test]
fn namespaces_of_someone_else_are_left_alone() {
    let me = OwnerLabels::new("shop", "alice");
    let ns =
        |labels: &str| format!("{{\"metadata\":{{\"name\":\"shop-alice\",\"labels\":{labels}}}}}");
    let mine = ns(
        r#"{"app.kubernetes.io/managed-by":"devenv","devenv.dev/project":"shop","devenv.dev/owner":"alice"}"#,
    );
    assert_eq!(check_namespace_owner("shop-alice", &mine, &me), Ok(()));
    assert_eq!(
        check_namespace_owner("shop-alice", "", &me),
        Ok(()),
        "absent: devenv creates it"
    );
    let theirs = ns(
        r#"{"app.kubernetes.io/managed-by":"devenv","devenv.dev/project":"shop","devenv.dev/owner":"al"}"#,
    );
    let e = check_namespace_owner("shop-alice", &theirs, &me)
        .unwrap_err()
        .render();
    assert!(
        e.contains("belongs to al") && e.contains("DEVENV_OWNER"),
        "{e}"
    );
    let manual = ns(r#"{"kubernetes.io/metadata.name":"shop-alice"}"#);
    let e = check_namespace_owner("shop-alice", &manual, &me)
        .unwrap_err()
        .render();
    assert!(
        e.contains("not created by devenv") && e.contains("kubectl label namespace shop-alice"),
        "{e}"
    );
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn context_is_used_only_when_named_and_present_and_allowed() {
    let available = strings(&["prod", "team-dev", "team-staging", "k3d-shop"]);
    // Nothing named: never the current-context, whatever it is.
    let e = check_context(None, None, &[], &available)
        .unwrap_err()
        .render();
    assert!(
        e.contains("current-context") && e.contains("--context") && e.contains("[cluster]"),
        "{e}"
    );
    assert!(check_context(Some(" "), Some(""), &[], &available).is_err());
    // devenv.toml names it; an explicit choice wins.
    assert_eq!(
        check_context(None, Some("team-dev"), &[], &available),
        Ok("team-dev".into())
    );
    assert_eq!(
        check_context(Some("team-staging"), Some("team-dev"), &[], &available),
        Ok("team-staging".into())
    );
    // Must exist.
    let e = check_context(None, Some("team-qa"), &[], &available)
        .unwrap_err()
        .render();
    assert!(
        e.contains("\"team-qa\" is not in your kubeconfig") && e.contains("team-dev"),
        "{e}"
    );
    let e = check_context(None, Some("x"), &[], &[])
        .unwrap_err()
        .render();
    assert!(e.contains("KUBECONFIG"), "{e}");
    // Allowed: exact names and globs; production refused even when asked for explicitly.
    let allowed = strings(&["team-*", "k3d-shop"]);
    assert_eq!(
        check_context(None, Some("team-dev"), &allowed, &available),
        Ok("team-dev".into())
    );
    assert_eq!(
        check_context(Some("k3d-shop"), None, &allowed, &available),
        Ok("k3d-shop".into())
    );
    let e = check_context(Some("prod"), Some("team-dev"), &allowed, &available)
        .unwrap_err()
        .render();
    assert!(
        e.contains("not in cluster.allowed_contexts (team-*, k3d-shop)")
            && e.contains("add \"prod\""),
        "{e}"
    );
}

/// The namespaces devenv generates (`[namespaces]` in devenv.toml) go through the same
/// isolation: the Namespace is renamed, its default-deny policies follow it.
#[test]
fn generated_namespaces_and_their_policies_follow_the_owner() {
    use devenv::overlays::{render_namespaces, NamespaceSpec, PodSecurityLevel};
    let yaml = render_namespaces(&[NamespaceSpec {
        name: "shop".into(),
        pod_security: Some(PodSecurityLevel::Restricted),
        default_deny: true,
        labels: BTreeMap::from([("team".to_string(), "yes".to_string())]),
    }]);
    let out = isolate(
        &yaml,
        &mapping("alice"),
        "default",
        &OwnerLabels::new("shop", "alice"),
    )
    .unwrap();
    let d = docs(&out);
    let ns = find(&d, "Namespace", "shop-alice");
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"].as_str(),
        Some("restricted")
    );
    assert_eq!(ns["metadata"]["labels"]["team"].as_str(), Some("yes"));
    let policies: Vec<&Value> = d
        .iter()
        .filter(|v| v["kind"].as_str() == Some("NetworkPolicy"))
        .collect();
    assert!(!policies.is_empty());
    for p in policies {
        assert_eq!(p["metadata"]["namespace"].as_str(), Some("shop-alice"));
        assert_eq!(p["metadata"]["labels"][OWNER_LABEL].as_str(), Some("alice"));
    }
    assert!(!out.contains("team: yes"), "a YAML 1.1 boolean:\n{out}");
}
