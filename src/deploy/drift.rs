//! Drift: where a live object no longer holds what devenv last applied (someone ran
//! `kubectl edit`, `scale`, `set image`). Only the fields devenv applied count: the leaves
//! of the applied object, without what deploy::diff ignores; fields the server or another
//! controller added are not devenv's. Pure: `devenv status` (steps/status.rs) lists the
//! live objects, one call per kind, and hands them here.

use serde::Serialize;
use serde_json::Value;

use super::diff::{identity, normalize};
use super::readiness::{job_failure, ready_without_rollout};
use super::rendered::RenderedOverlay;
use super::DeployError;

/// An object as status names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObjectName {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectName {
    fn of(obj: &Value) -> ObjectName {
        let (_, kind, namespace, name) = identity(obj);
        ObjectName {
            kind,
            namespace,
            name,
        }
    }
}

impl std::fmt::Display for ObjectName {
    /// `deployment/api in shop` (`namespace/shop` for a cluster-scoped object).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.kind.to_lowercase(), self.name)?;
        match &self.namespace {
            Some(ns) => write!(f, " in {ns}"),
            None => Ok(()),
        }
    }
}

/// One field devenv applied that holds another value now (`live` is null when it is gone).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Drift {
    #[serde(flatten)]
    pub object: ObjectName,
    pub path: String,
    pub live: Value,
    pub applied: Value,
}

impl std::fmt::Display for Drift {
    /// `deployment/api in shop: spec.replicas is 3, devenv applied 1`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let live = match &self.live {
            Value::Null => "absent".to_string(),
            v => format!("is {v}"),
        };
        write!(
            f,
            "{}: {} {live}, devenv applied {}",
            self.object, self.path, self.applied
        )
    }
}

/// A unit's objects as the cluster holds them now.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct UnitLive {
    pub present: Vec<ObjectName>,
    pub missing: Vec<ObjectName>,
    /// Present but not ready, with why (`1 of 3 replicas ready`).
    #[serde(skip)]
    pub not_ready: Vec<(ObjectName, String)>,
    pub drift: Vec<Drift>,
}

impl UnitLive {
    /// Drift and missing objects are what `devenv up` puts back.
    pub fn in_sync(&self) -> bool {
        self.missing.is_empty() && self.drift.is_empty()
    }
}

/// The objects of a saved rendering (`.devenv/rendered/NAME.apply.yaml`), as JSON values.
pub fn applied_objects(name: &str, yaml: &str) -> Result<Vec<Value>, DeployError> {
    Ok(RenderedOverlay::from_yaml(name, yaml)?
        .manifests
        .into_iter()
        .filter_map(|m| serde_json::to_value(m.value).ok())
        .collect())
}

/// What `kubectl get` takes to list a kind of these objects (`ConfigMap`, `Deployment.apps`),
/// each once, sorted.
pub fn list_resources(objects: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = objects
        .iter()
        .map(|o| {
            let (group, kind, _, _) = identity(o);
            if group.is_empty() {
                kind
            } else {
                format!("{kind}.{group}")
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The namespaces the `objects` of list resource `resource` (as [`list_resources`] names
/// it) live in: where to list them one namespace at a time when the cluster-wide list is
/// refused (a shared cluster whose user may list only their own namespaces).
pub fn namespaces_of(objects: &[Value], resource: &str) -> Vec<String> {
    let mut out: Vec<String> = objects
        .iter()
        .filter_map(|o| {
            let (group, kind, namespace, _) = identity(o);
            let name = if group.is_empty() {
                kind
            } else {
                format!("{kind}.{group}")
            };
            (name == resource).then_some(namespace).flatten()
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Compares what a unit applied with the live objects (of every kind it applied).
pub fn compare_unit(applied: &[Value], live: &[Value]) -> UnitLive {
    let mut out = UnitLive::default();
    for a in applied {
        let name = ObjectName::of(a);
        match find_live(a, live) {
            None => out.missing.push(name),
            Some(l) => {
                if let Err(why) = readiness(l) {
                    out.not_ready.push((name.clone(), why));
                }
                out.drift.extend(drift(a, l));
                out.present.push(name);
            }
        }
    }
    out
}

/// The live object of `applied`: same group, kind, name and namespace; an object applied
/// without a namespace went to the context's, whichever it is.
fn find_live<'a>(applied: &Value, live: &'a [Value]) -> Option<&'a Value> {
    let (group, kind, ns, name) = identity(applied);
    live.iter().find(|l| {
        let (g, k, n, nm) = identity(l);
        g == group && k == kind && nm == name && (ns.is_none() || n == ns)
    })
}

/// Every leaf devenv applied whose live value differs; lists are walked item by item, so
/// what the server adds to an item (defaults) is not drift.
pub fn drift(applied: &Value, live: &Value) -> Vec<Drift> {
    let mut leaves = Vec::new();
    walk("", &normalize(applied), Some(live), &mut leaves);
    let object = ObjectName::of(applied);
    leaves
        .into_iter()
        .map(|(path, applied, live)| Drift {
            object: object.clone(),
            path,
            live,
            applied,
        })
        .collect()
}

fn walk(path: &str, applied: &Value, live: Option<&Value>, out: &mut Vec<(String, Value, Value)>) {
    match applied {
        Value::Object(m) => {
            for (k, v) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(&p, v, live.and_then(|l| l.get(k)), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(&format!("{path}[{i}]"), v, live.and_then(|l| l.get(i)), out);
            }
        }
        leaf if live != Some(leaf) => out.push((
            path.to_string(),
            leaf.clone(),
            live.cloned().unwrap_or(Value::Null),
        )),
        _ => {}
    }
}

/// Whether a live object is ready, as `up` waits for it: workloads have their replicas
/// ready, a Job has not failed. Other kinds are ready when present.
fn readiness(live: &Value) -> Result<(), String> {
    match live["kind"].as_str() {
        Some("Deployment" | "StatefulSet" | "DaemonSet") => {
            ready_without_rollout(&live.to_string())
                .map(|_| ())
                .map_err(|e| e.0)
        }
        Some("Job") => {
            job_failure(&live.to_string()).map_or(Ok(()), |why| Err(format!("failed: {why}")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(replicas: u64, ready: u64) -> Value {
        json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"api","namespace":"shop",
            "uid":"u","managedFields":[]},
            "spec":{"replicas":replicas,"template":{"spec":{"containers":[{"name":"api","image":"i:1",
                "imagePullPolicy":"IfNotPresent"}]}}},
            "status":{"readyReplicas":ready}})
    }

    #[test]
    fn only_the_fields_devenv_applied_count() {
        let applied = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"api","namespace":"shop"},
            "spec":{"replicas":1,"template":{"spec":{"containers":[{"name":"api","image":"i:1"}]}}}});
        // Server defaults and status are not drift.
        assert!(drift(&applied, &deployment(1, 1)).is_empty());
        let d = drift(&applied, &deployment(3, 3));
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].to_string(),
            "deployment/api in shop: spec.replicas is 3, devenv applied 1"
        );
        let mut gone = deployment(1, 1);
        gone["spec"]["template"]["spec"]["containers"] = json!([]);
        assert_eq!(
            drift(&applied, &gone)
                .iter()
                .map(|d| d.path.as_str())
                .collect::<Vec<_>>(),
            [
                "spec.template.spec.containers[0].image",
                "spec.template.spec.containers[0].name"
            ]
        );
    }

    #[test]
    fn a_unit_has_present_missing_and_not_ready_objects() {
        let applied = vec![
            json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"api","namespace":"shop"},"spec":{"replicas":1}}),
            json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"shop"},"data":{"k":"v"}}),
        ];
        assert_eq!(list_resources(&applied), ["ConfigMap", "Deployment.apps"]);
        let live = compare_unit(&applied, &[deployment(1, 0)]);
        assert_eq!(live.present.len(), 1);
        assert_eq!(live.missing[0].to_string(), "configmap/c in shop");
        assert_eq!(live.not_ready[0].1, "0 of 1 replicas ready");
        assert!(live.drift.is_empty() && !live.in_sync());
    }

    #[test]
    fn a_refused_cluster_wide_list_falls_back_to_the_namespaces_of_that_kind() {
        let objects = [
            json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"a","namespace":"shop-alice"}}),
            json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"b","namespace":"data-alice"}}),
            json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"c","namespace":"shop-alice"}}),
            json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d","namespace":"other-alice"}}),
            json!({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"e"}}),
        ];
        assert_eq!(
            namespaces_of(&objects, "Deployment.apps"),
            ["data-alice", "shop-alice"]
        );
        assert_eq!(namespaces_of(&objects, "ConfigMap"), ["other-alice"]);
        // Cluster-scoped: no namespace to fall back to.
        assert!(namespaces_of(&objects, "ClusterRole.rbac.authorization.k8s.io").is_empty());
    }
}
