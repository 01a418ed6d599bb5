//! `devenv status` (the health of each component, read-only) and `devenv doctor` (the
//! prerequisites, each with a fix).

use serde_json::Value;

use crate::config::schema::RegistryProvider;
use crate::config::Loaded;
use crate::deploy::drift::{self, UnitLive};
use crate::kube::{self, KubeTarget};
use crate::render::Names;
use crate::runner::{Cmd, RunError, Runner};
use crate::state::{Journal, StepStatus};

/// One line of `devenv status`.
#[derive(Debug, Clone)]
pub struct Component {
    pub component: &'static str,
    pub name: String,
    pub healthy: bool,
    pub detail: String,
    /// An overlay's or chart's objects as the cluster holds them, when they could be read.
    pub live: Option<UnitLive>,
}

fn comp(
    component: &'static str,
    name: impl Into<String>,
    healthy: bool,
    detail: impl std::fmt::Display,
) -> Component {
    Component {
        component,
        name: name.into(),
        healthy,
        detail: detail.to_string(),
        live: None,
    }
}

/// What `devenv status` runs to read the state: read-only, 30 seconds at most.
const READ: &str = "read the state";

/// Why `devenv status` could not read a piece of state (one line: a row of the table).
#[derive(Debug, thiserror::Error)]
enum ReadError {
    /// The command failed; its first line says how.
    #[error("{}", first_line(.0))]
    Run(RunError),
    #[error("`{cmd}` did not print JSON: {source}")]
    NotJson {
        cmd: String,
        source: serde_json::Error,
    },
}

fn first_line(e: &RunError) -> String {
    e.to_string().lines().next().unwrap_or("").to_string()
}

async fn read(runner: &Runner, root: &std::path::Path, cmd: Cmd) -> Result<Value, ReadError> {
    let cmd = cmd.cwd(root);
    let out = runner.run("status", &cmd).await.map_err(ReadError::Run)?;
    serde_json::from_slice(&out.stdout).map_err(|source| ReadError::NotJson {
        cmd: cmd.display(),
        source,
    })
}

/// Why the `local-registry-hosting` ConfigMap does not advertise devenv's registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostingMismatch {
    #[error("no localRegistryHosting.v1 key")]
    NoKey,
    #[error("no host in localRegistryHosting.v1")]
    NoHost,
    #[error("advertises {host}, but the registry devenv pushes to is bound to {bound}")]
    OtherHost { host: String, bound: String },
}

/// The `local-registry-hosting` ConfigMap (KEP-1755) must advertise the registry devenv
/// pushes to, as k3d writes it for a registry the cluster uses (`registries.use`): k3d
/// pkg/client/cluster.go turns the registry container back into a spec with
/// `RegistryFromNode` (pkg/client/registry.go), which keeps no host name, so
/// `RegistryGenerateLocalRegistryHostingConfigMapYAML` advertises the address the port is
/// bound to (`registry.bind`), with `0.0.0.0` written as `localhost`.
pub fn check_registry_hosting(
    cm: &Value,
    port: u16,
    bind: &str,
) -> Result<String, HostingMismatch> {
    let text = cm
        .pointer("/data/localRegistryHosting.v1")
        .and_then(Value::as_str)
        .ok_or(HostingMismatch::NoKey)?;
    let host = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("host:"))
        .map(|h| h.trim().trim_matches('"').to_string())
        .ok_or(HostingMismatch::NoHost)?;
    let bound = match bind {
        "" | "0.0.0.0" => "localhost",
        b => b,
    };
    let mut expected = vec![format!("{bound}:{port}")];
    if ["localhost", "127.0.0.1"].contains(&bound) {
        // The same address either way (an older devenv or k3d wrote the other).
        expected.extend([format!("localhost:{port}"), format!("127.0.0.1:{port}")]);
    }
    if expected.contains(&host) {
        Ok(format!("advertises {host}"))
    } else {
        Err(HostingMismatch::OtherHost {
            host,
            bound: expected.swap_remove(0),
        })
    }
}

/// `journal`: the journal, `Ok(None)` when there is none yet, `Err(why)` when
/// `.devenv/state.json` cannot be read (then status says so plainly, and what it cannot tell).
pub async fn observe(
    loaded: &Loaded,
    names: &Names,
    journal: Result<Option<&Journal>, String>,
) -> Vec<Component> {
    let (journal, journal_error) = match journal {
        Ok(j) => (j, None),
        Err(e) => (None, Some(e)),
    };
    let root = loaded.root.clone();
    let logs = crate::render::state_dir(&root).join("logs").join("status");
    let runner = Runner::new(logs, tokio_util::sync::CancellationToken::new());
    let mut out = Vec::new();
    let target = KubeTarget::new(loaded).under(&root);
    let k3d = target.is_k3d();

    let mut cluster_up = !k3d;
    if k3d {
        match read(
            &runner,
            &root,
            kube::k3d(&["node", "list", "-o", "json"], READ, 30),
        )
        .await
        {
            Err(e) => out.push(comp("k3d", "nodes", false, e)),
            Ok(nodes) => cluster_up = k3d_components(loaded, names, &nodes, &mut out),
        }
    }
    if cluster_up {
        out.extend(cluster_components(loaded, &runner, &target).await);
    }
    out.extend(image_components(loaded).await);
    let mut units = journal_components(loaded, journal, journal_error.as_deref());
    if cluster_up && journal_error.is_none() {
        live_units(loaded, &runner, &target, &mut units).await;
    }
    out.extend(units);
    out
}

/// Reads the live objects of every unit devenv applied (what `.devenv/rendered/NAME.crds.yaml`
/// and `NAME.apply.yaml` hold), one list call per kind for all units together, and replaces
/// the journal's word on each unit with what the cluster holds: objects present or missing,
/// ready or not, and drift from what devenv applied.
async fn live_units(
    loaded: &Loaded,
    runner: &Runner,
    target: &KubeTarget,
    units: &mut [Component],
) {
    let dir = crate::render::state_dir(&loaded.root).join("rendered");
    let mut applied: Vec<(usize, Result<Vec<Value>, String>)> = Vec::new();
    for (i, unit) in units.iter().enumerate() {
        if !matches!(unit.component, "overlay" | "chart") {
            continue;
        }
        let apply = dir.join(format!("{}.apply.yaml", unit.name));
        let Ok(text) = std::fs::read_to_string(&apply) else {
            continue; // never applied: the journal's word stands
        };
        let crds = std::fs::read_to_string(dir.join(format!("{}.crds.yaml", unit.name)))
            .unwrap_or_default();
        let objects = drift::applied_objects(&unit.name, &crds)
            .and_then(|mut o| {
                o.extend(drift::applied_objects(&unit.name, &text)?);
                Ok(o)
            })
            .map_err(|e| format!("{} is unreadable: {e}", apply.display()));
        applied.push((i, objects));
    }
    let all: Vec<Value> = applied
        .iter()
        .filter_map(|(_, o)| o.as_ref().ok())
        .flatten()
        .cloned()
        .collect();
    let mut live = Vec::new();
    let mut failed = Vec::new();
    for resource in drift::list_resources(&all) {
        let list = target.kubectl(&["get", resource.as_str(), "-A", "-o", "json"], READ, 30);
        let e = match read(runner, &loaded.root, list).await {
            Ok(v) => {
                live.extend(v["items"].as_array().cloned().unwrap_or_default());
                continue;
            }
            Err(e) => e,
        };
        // Refused cluster-wide (a shared cluster's user may list only their own
        // namespaces): one list per namespace the unit's objects of this kind live in.
        let namespaces = drift::namespaces_of(&all, &resource);
        let mut per_namespace = Err(e.to_string());
        for ns in &namespaces {
            let list = target.kubectl(
                &["get", resource.as_str(), "-n", ns, "-o", "json"],
                READ,
                30,
            );
            per_namespace = match read(runner, &loaded.root, list).await {
                Ok(v) => {
                    live.extend(v["items"].as_array().cloned().unwrap_or_default());
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            };
            if per_namespace.is_err() {
                break;
            }
        }
        if let Err(why) = per_namespace {
            failed.push((resource, why));
        }
    }
    for (i, objects) in applied {
        let unit = &mut units[i];
        let objects = match objects {
            Ok(o) => o,
            Err(why) => {
                (unit.healthy, unit.detail) = (false, why);
                continue;
            }
        };
        let resources = drift::list_resources(&objects);
        if let Some((r, why)) = failed.iter().find(|(r, _)| resources.contains(r)) {
            (unit.healthy, unit.detail) = (false, format!("cannot list {r}: {why}"));
            continue;
        }
        let state = drift::compare_unit(&objects, &live);
        let mut detail = vec![format!(
            "{}/{} objects present",
            state.present.len(),
            objects.len()
        )];
        if !state.missing.is_empty() {
            let m: Vec<String> = state.missing.iter().map(|o| o.to_string()).collect();
            detail.push(format!("missing {}", m.join(", ")));
        }
        for (o, why) in &state.not_ready {
            detail.push(format!("{o} not ready: {why}"));
        }
        match state.drift.len() {
            0 => {}
            1 => detail.push("1 field drifted".into()),
            n => detail.push(format!("{n} fields drifted")),
        }
        // The journal's word (applied when, or how the last attempt failed) stays.
        detail.push(unit.detail.clone());
        if !state.in_sync() {
            detail.push(format!("`devenv apply {}` puts it back", unit.name));
        }
        unit.healthy = unit.healthy && state.in_sync() && state.not_ready.is_empty();
        unit.detail = detail.join("; ");
        unit.live = Some(state);
    }
}

/// The registry and cluster containers in `k3d node list -o json`; returns whether every
/// container of the cluster runs.
fn k3d_components(loaded: &Loaded, names: &Names, nodes: &Value, out: &mut Vec<Component>) -> bool {
    let mut cluster_up = false;
    if loaded.config.registry.provider == RegistryProvider::K3d {
        let c = &names.registry_container;
        let node = nodes.as_array().and_then(|a| {
            a.iter()
                .find(|n| n.get("name").and_then(Value::as_str) == Some(c.as_str()))
                .cloned()
        });
        out.push(match node {
            None => comp("registry", c, false, "not created (run `devenv up`)"),
            Some(n) => {
                let running = n
                    .pointer("/State/Running")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let bind = super::cluster::registry_binding(nodes, c)
                    .map(|(ip, p)| format!("{}:{p}", if ip.is_empty() { "0.0.0.0" } else { &ip }))
                    .unwrap_or_default();
                comp(
                    "registry",
                    c,
                    running,
                    if running {
                        format!("running on {bind}")
                    } else {
                        "stopped".to_string()
                    },
                )
            }
        });
    }
    let members: Vec<&Value> = super::cluster::labelled_nodes(nodes, &names.cluster)
        .filter(|n| n.get("role").and_then(Value::as_str) != Some("registry"))
        .collect();
    if members.is_empty() {
        out.push(comp(
            "cluster",
            &names.cluster,
            false,
            "not created (run `devenv up`)",
        ));
    } else {
        let running = members
            .iter()
            .filter(|n| {
                n.pointer("/State/Running")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            })
            .count();
        cluster_up = running == members.len();
        // What runs must be what devenv.toml declares: a create killed half-way
        // leaves a server without agents, which is not a healthy cluster.
        let diff = super::cluster::observed_diff(nodes, &names.cluster, &loaded.config.cluster);
        let mut detail = format!("{running}/{} containers running", members.len());
        if !diff.is_empty() {
            let d: Vec<String> = diff
                .iter()
                .map(|l| l.trim().trim_start_matches("cluster ").to_string())
                .collect();
            detail.push_str(&format!(
                "; differs from {}: {} (`devenv up --recreate` recreates it)",
                loaded.source_name(),
                d.join("; ")
            ));
        }
        // A same-named cluster this checkout did not create is not its environment.
        let owned =
            super::cluster::cluster_ownership(nodes, &names.cluster, names.owner_id.as_deref());
        if let Err(why) = &owned {
            detail.push_str(&format!(
                "; not created by this checkout ({why}): `devenv up` will not use it"
            ));
        }
        out.push(comp(
            "cluster",
            &names.cluster,
            cluster_up && diff.is_empty() && owned.is_ok(),
            detail,
        ));
    }
    cluster_up
}

/// What the cluster's API tells: nodes, and on a k3d cluster Calico and the registry hosting.
async fn cluster_components(
    loaded: &Loaded,
    runner: &Runner,
    target: &KubeTarget,
) -> Vec<Component> {
    let mut out = Vec::new();
    let root = &loaded.root;
    let k3d = target.is_k3d();
    let kubectl = |args: &[&str]| target.kubectl(args, READ, 30);
    match read(runner, root, kubectl(&["get", "nodes", "-o", "json"])).await {
        Err(e) => out.push(comp("nodes", "", false, e)),
        Ok(v) => {
            let unready = super::calico::unready_nodes(&v);
            let total = v
                .get("items")
                .and_then(Value::as_array)
                .map(|a| a.len())
                .unwrap_or(0);
            out.push(comp(
                "nodes",
                format!("{total} nodes"),
                unready.is_empty() && total > 0,
                if unready.is_empty() {
                    "all Ready".to_string()
                } else {
                    unready.join("; ")
                },
            ));
        }
    }
    if k3d {
        let calico = kubectl(&["get", "tigerastatus", "calico", "-o", "json"]);
        out.push(match read(runner, root, calico).await {
            Err(e) => comp("calico", &loaded.config.calico.version, false, e),
            Ok(v) => match super::calico::tigerastatus_available(&v) {
                Ok(()) => comp("calico", &loaded.config.calico.version, true, "Available"),
                Err(why) => comp("calico", &loaded.config.calico.version, false, why),
            },
        });
        if loaded.config.registry.provider == RegistryProvider::K3d {
            let hosting = kubectl(&[
                "-n",
                "kube-public",
                "get",
                "configmap",
                "local-registry-hosting",
                "-o",
                "json",
            ]);
            out.push(match read(runner, root, hosting).await {
                Err(e) => comp(
                    "registry-hosting",
                    "kube-public/local-registry-hosting",
                    false,
                    e,
                ),
                Ok(v) => match check_registry_hosting(
                    &v,
                    loaded.config.registry.port,
                    &loaded.config.registry.bind,
                ) {
                    Ok(d) => comp(
                        "registry-hosting",
                        "kube-public/local-registry-hosting",
                        true,
                        d,
                    ),
                    Err(d) => comp(
                        "registry-hosting",
                        "kube-public/local-registry-hosting",
                        false,
                        d,
                    ),
                },
            });
        }
    }
    out
}

/// Images: is the content tag of the current sources in the registry?
async fn image_components(loaded: &Loaded) -> Vec<Component> {
    let mut out = Vec::new();
    if !loaded.config.images.is_empty() {
        let tags = super::images::compute_tags(
            loaded,
            crate::images::builder::cached(&loaded.config.build.docker).as_ref(),
        )
        .unwrap_or_default();
        let push = crate::plan::Plan::build(loaded).registry.push;
        let (host, prefix) = super::images::split_registry(&push);
        let client =
            crate::images::RegistryClient::new(crate::images::RegistryOptions::default()).ok();
        for img in &loaded.config.images {
            let tag = tags.get(&img.name).cloned().unwrap_or_default();
            let reference = format!("{push}/{}:{tag}", img.name);
            let found = match &client {
                Some(c) => c
                    .has_manifest(&host, &format!("{prefix}{}", img.name), &tag)
                    .await
                    .map_err(|e| e.to_string()),
                None => Err("no HTTP client".into()),
            };
            out.push(match found {
                Ok(Some(_)) => comp(
                    "image",
                    &img.name,
                    true,
                    format!("{reference} in the registry"),
                ),
                Ok(None) => comp(
                    "image",
                    &img.name,
                    false,
                    format!("{reference} not pushed yet (sources changed since the last build?)"),
                ),
                Err(e) => comp("image", &img.name, false, e),
            });
        }
    }
    out
}

/// The journal's state, and the overlays and charts it says were applied (status only reads).
fn journal_components(
    loaded: &Loaded,
    journal: Option<&Journal>,
    journal_error: Option<&str>,
) -> Vec<Component> {
    let mut out = Vec::new();
    if let Some(e) = journal_error {
        out.push(comp(
            "state",
            crate::state::JOURNAL_FILE,
            false,
            format!(
                "unreadable, so what was applied is unknown: {} (delete it and run `devenv up`: it only caches what devenv did, and devenv re-checks every step)",
                e.lines().next().unwrap_or("")
            ),
        ));
    }
    // Overlays and charts: from the journal (applying is what `up` does; status only reads).
    let units = (loaded.config.overlays.iter().map(|o| ("overlay", &o.name)))
        .chain(loaded.config.charts.iter().map(|c| ("chart", &c.name)));
    for (kind, name) in units {
        if journal_error.is_some() {
            out.push(comp(
                kind,
                name,
                false,
                "unknown (.devenv/state.json is unreadable)",
            ));
            continue;
        }
        let rec = journal.and_then(|j| j.step(&format!("{kind}:{name}")));
        out.push(match rec {
            Some(r) if r.status == StepStatus::Done => comp(
                kind,
                name,
                true,
                format!("applied {}", r.finished_at.clone().unwrap_or_default()),
            ),
            Some(r) => comp(
                kind,
                name,
                false,
                format!(
                    "last attempt {:?}: {}",
                    r.status,
                    r.error
                        .clone()
                        .unwrap_or_default()
                        .lines()
                        .next()
                        .unwrap_or("")
                ),
            ),
            None => comp(kind, name, false, "not applied yet"),
        });
    }
    out
}

/// Every prerequisite, each with how to fix it. Ports held by devenv's own registry or
/// cluster are fine (devenv is up), so they are checked only for what does not exist yet.
pub async fn doctor(loaded: &Loaded) -> Vec<super::preflight::Check> {
    let names = Names::new(loaded);
    let state_dir = crate::render::state_dir(&loaded.root);
    // doctor writes its logs under .devenv/: never without the .gitignore.
    let _ = crate::state::ensure_state_dir(&state_dir);
    let logs = state_dir.join("logs").join("doctor");
    let runner = Runner::new(logs, tokio_util::sync::CancellationToken::new());
    let k3d = kube::is_k3d(loaded);
    let nodes = if k3d {
        read(
            &runner,
            &loaded.root,
            kube::k3d(&["node", "list", "-o", "json"], READ, 30),
        )
        .await
        .unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let mut ports = Vec::new();
    let c = &loaded.config;
    let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    if k3d
        && c.registry.provider == RegistryProvider::K3d
        && !super::cluster::registry_names(&nodes).contains(&names.registry_container)
    {
        ports.push(super::preflight::PortRequest {
            addr: c.registry.bind.parse().unwrap_or(localhost),
            port: c.registry.port,
            setting: "registry.port".into(),
        });
    }
    if k3d && !super::cluster::cluster_names(&nodes).contains(&names.cluster) {
        ports.push(super::preflight::PortRequest {
            addr: c.cluster.api_host.parse().unwrap_or(localhost),
            port: c.cluster.api_port,
            setting: "cluster.api_port".into(),
        });
        for (i, p) in c.cluster.ports.iter().enumerate() {
            if let Ok(m) = crate::config::validate::parse_port_mapping(p) {
                if let Some(hp) = m.host_port {
                    let host = m.host.unwrap_or_else(|| c.cluster.api_host.clone());
                    ports.push(super::preflight::PortRequest {
                        addr: host.parse().unwrap_or(localhost),
                        port: hp,
                        setting: format!("cluster.ports[{i}]"),
                    });
                }
            }
        }
    }
    let input = super::preflight::PreflightInput {
        tools: super::preflight::Tools {
            docker: c.build.docker.clone(),
            ..Default::default()
        },
        project_dir: loaded.root.clone(),
        ports,
        skip_k3d: !k3d,
        uses_helm: crate::overlays::uses_helm(loaded),
        kubectl_kustomize_runs_helm: c.build.kustomize.is_none()
            && crate::overlays::overlays_inflate_charts(loaded),
        pins: crate::tools::pins(c)
            .into_iter()
            .map(|p| {
                let at = crate::tools::pin_location(loaded, p.tool);
                (p, at)
            })
            .collect(),
    };
    let mut checks = super::preflight::run_all(&runner, &input)
        .await
        .unwrap_or_default();
    if k3d && c.cluster.merge_kubeconfig {
        // The files of $KUBECONFIG take devenv's context (the same check as up's preflight).
        let paths = crate::kubeconfig::default_kubeconfig_paths();
        let target = crate::kubeconfig::merge_target(&paths).or_else(|| paths.first().cloned());
        checks.push(match crate::kubeconfig::check_merge_target(&paths) {
            Ok(()) => super::preflight::Check::ok(
                "kubeconfig",
                format!(
                    "the context goes into {}",
                    target.map_or("~/.kube/config".into(), |t| t.display().to_string())
                ),
            ),
            Err(e) => {
                super::preflight::Check::fail("kubeconfig", e.message, e.help.unwrap_or_default())
            }
        });
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(host: &str) -> Value {
        serde_json::json!({"data": {"localRegistryHosting.v1": format!(
            "help: https://k3d.io/stable/usage/registries/#using-a-local-registry\nhost: {host}\nhostFromClusterNetwork: k3d-p-registry:5000\nhostFromContainerRuntime: k3d-p-registry:5000\n"
        )}})
    }

    #[test]
    fn registry_hosting_is_the_bound_address() {
        assert!(check_registry_hosting(&cm("127.0.0.1:5111"), 5111, "127.0.0.1").is_ok());
        assert!(check_registry_hosting(&cm("localhost:5111"), 5111, "127.0.0.1").is_ok());
        assert!(check_registry_hosting(&cm("localhost:5111"), 5111, "0.0.0.0").is_ok());
        assert!(check_registry_hosting(&cm("192.168.1.10:5111"), 5111, "192.168.1.10").is_ok());
        assert_eq!(
            check_registry_hosting(&cm("localhost:5111"), 5111, "192.168.1.10")
                .unwrap_err()
                .to_string(),
            "advertises localhost:5111, but the registry devenv pushes to is bound to 192.168.1.10:5111"
        );
        assert!(check_registry_hosting(&cm("127.0.0.1:5112"), 5111, "127.0.0.1").is_err());
        assert!(check_registry_hosting(&serde_json::json!({}), 5111, "127.0.0.1").is_err());
    }
}
