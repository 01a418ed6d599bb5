//! Per-developer isolation on a shared cluster: namespace mapping and rewriting of real
//! Kustomize output (`tests/fixtures/tenancy/`), labels, inventories and pruning, the
//! kubectl argvs (parsed by the real kubectl), and the context guard.

mod inventory;
mod isolate;
mod kubectl_argv;
mod namespace_ownership;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// The inventory of fixture NAME isolated for OWNER.
fn inv(name: &str, owner: &str) -> Inventory {
    Inventory::from_rendered(&isolated(name, owner), "default").unwrap()
}

fn oref(api: &str, kind: &str, ns: Option<&str>, name: &str) -> ObjectRef {
    ObjectRef {
        api_version: api.into(),
        kind: kind.into(),
        namespace: ns.map(Into::into),
        name: name.into(),
    }
}
