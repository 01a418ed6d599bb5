//! The k3d side: registry, pull-through caches, cluster, kubeconfig.
//! Each step observes the real state first (k3d's JSON) and only creates what is missing.

use serde_json::Value;

use crate::engine::{Ctx, Done, StepError};
use crate::plan::{step as kinds, Step, StepKind};
use crate::runner::Cmd;

/// Registry containers in `k3d node list -o json` (which prints `null` when empty).
pub fn registry_names(nodes: &Value) -> Vec<String> {
    nodes
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|n| n.get("role").and_then(Value::as_str) == Some("registry"))
                .filter_map(|n| n.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Cluster names in `k3d node list -o json`: the `k3d.cluster` label of non-registry nodes.
pub fn cluster_names(nodes: &Value) -> Vec<String> {
    let mut names: Vec<String> = nodes
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|n| n.get("role").and_then(Value::as_str) != Some("registry"))
                .filter_map(|n| {
                    n.pointer("/runtimeLabels/k3d.cluster")
                        .and_then(Value::as_str)
                })
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.dedup();
    names
}

/// The cluster's own nodes in `k3d node list -o json`: servers, agents and the load
/// balancer (not registries, and not the transient `k3d-NAME-tools` container, which has no
/// role and gets only k3d's default labels and `k3d.cluster`, never the `--runtime-label`s:
/// k3d `pkg/client/tools.go` `runToolsNode`).
pub fn cluster_members<'a>(nodes: &'a Value, cluster: &str) -> Vec<&'a Value> {
    labelled_nodes(nodes, cluster)
        .filter(|n| {
            matches!(
                n.get("role").and_then(Value::as_str),
                Some("server" | "agent" | "loadbalancer")
            )
        })
        .collect()
}

/// Every container of `k3d node list -o json` that k3d labelled as part of `cluster`
/// (`k3d.cluster=NAME`), whatever its role.
pub fn labelled_nodes<'a: 'c, 'c>(
    nodes: &'a Value,
    cluster: &'c str,
) -> impl Iterator<Item = &'a Value> + 'c {
    nodes.as_array().into_iter().flatten().filter(move |n| {
        n.pointer("/runtimeLabels/k3d.cluster")
            .and_then(Value::as_str)
            == Some(cluster)
    })
}

fn label<'a>(node: &'a Value, key: &str) -> Option<&'a str> {
    node.get("runtimeLabels")?.get(key)?.as_str()
}

/// Why a k3d cluster or registry is not this checkout's (its `Display` is for the user).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotOwned {
    #[error(
        "this checkout has no ownership id yet (.devenv/{})",
        crate::state::CHECKOUT_ID_FILE
    )]
    NoOwnerId,
    #[error("it has no nodes")]
    NoNodes,
    #[error("it does not exist")]
    Missing,
    #[error(
        "its nodes do not carry this checkout's label {}={id}",
        crate::render::OWNER_LABEL
    )]
    Unlabelled { id: String },
    #[error(
        "its nodes carry another checkout's label {}={others} (this checkout is {id})",
        crate::render::OWNER_LABEL
    )]
    OtherLabel { others: String, id: String },
    #[error("it does not carry this checkout's mark (volume {want})")]
    Unmarked { want: String },
    #[error("it carries another checkout's mark {other} (this checkout is {id})")]
    OtherMark { other: String, id: String },
}

/// `Ok` when every node of `cluster` carries this checkout's ownership id (the label only
/// devenv's own `k3d cluster create` puts there, see [`crate::render::OWNER_LABEL`]);
/// otherwise why not.
pub fn cluster_ownership(nodes: &Value, cluster: &str, id: Option<&str>) -> Result<(), NotOwned> {
    let members = cluster_members(nodes, cluster);
    let key = crate::render::OWNER_LABEL;
    let Some(id) = id else {
        return Err(NotOwned::NoOwnerId);
    };
    if members.is_empty() {
        return Err(NotOwned::NoNodes);
    }
    let ids: std::collections::BTreeSet<Option<&str>> =
        members.iter().map(|n| label(n, key)).collect();
    if ids.len() == 1 && ids.contains(&Some(id)) {
        return Ok(());
    }
    let others: Vec<&str> = ids
        .iter()
        .flatten()
        .filter(|i| **i != id)
        .copied()
        .collect();
    let id = id.to_string();
    Err(if others.is_empty() {
        NotOwned::Unlabelled { id }
    } else {
        NotOwned::OtherLabel {
            others: others.join(","),
            id,
        }
    })
}

/// `Ok` when the registry container carries this checkout's ownership volume (see
/// [`crate::render::OWNER_VOLUME_DIR`]); otherwise why not.
pub fn registry_ownership(
    nodes: &Value,
    container: &str,
    id: Option<&str>,
) -> Result<(), NotOwned> {
    let Some(id) = id else {
        return Err(NotOwned::NoOwnerId);
    };
    let want = crate::render::owner_volume(id);
    let node = nodes
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|n| n.get("name").and_then(Value::as_str) == Some(container))
        })
        .ok_or(NotOwned::Missing)?;
    let volumes: Vec<&str> = node
        .get("volumes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    // HostConfig.Binds entries: `DEST`, `SRC:DEST` or `SRC:DEST:MODE`.
    let marks: Vec<&str> = volumes
        .iter()
        .flat_map(|v| v.split(':'))
        .filter(|p| p.starts_with(&format!("{}/", crate::render::OWNER_VOLUME_DIR)))
        .collect();
    if marks.contains(&want.as_str()) {
        return Ok(());
    }
    Err(match marks.first() {
        Some(other) => NotOwned::OtherMark {
            other: other.to_string(),
            id: id.to_string(),
        },
        None => NotOwned::Unmarked { want },
    })
}

/// How the observed cluster differs from the declared one, in the lines of [`spec_diff`]:
/// servers, agents, load balancer, k3s image (devenv's label), API and port bindings, and
/// containers that are not running. A `k3d cluster create` killed half-way leaves exactly
/// such a cluster (a server, no agents, no load balancer).
pub fn observed_diff(
    nodes: &Value,
    cluster: &str,
    c: &crate::config::schema::Cluster,
) -> Vec<String> {
    let members = cluster_members(nodes, cluster);
    let mut out = Vec::new();
    let role = |r: &str| {
        members
            .iter()
            .filter(|n| n.get("role").and_then(Value::as_str) == Some(r))
            .count()
    };
    for (key, found, want) in [
        ("servers", role("server"), c.servers as usize),
        ("agents", role("agent"), c.agents as usize),
    ] {
        if found != want {
            out.push(format!("  cluster {key}: {found} (found) -> {want}"));
        }
    }
    let lb = members
        .iter()
        .find(|n| n.get("role").and_then(Value::as_str) == Some("loadbalancer"));
    if lb.is_none() {
        out.push("  cluster load balancer: missing (found) -> present".into());
    }
    let images: std::collections::BTreeSet<&str> = members
        .iter()
        .filter_map(|n| label(n, crate::render::IMAGE_LABEL))
        .collect();
    if let Some(found) = images.iter().find(|i| **i != c.image) {
        out.push(format!(
            "  cluster image: {found:?} (found) -> {:?}",
            c.image
        ));
    }
    let bound = |key: &str, ip: &str, port: &str| {
        members.iter().any(|n| {
            n.pointer(&format!("/portMappings/{}", key.replace('/', "~1")))
                .and_then(Value::as_array)
                .is_some_and(|bs| {
                    bs.iter().any(|b| {
                        b.get("HostPort").and_then(Value::as_str) == Some(port)
                            && matches!(b.get("HostIp").and_then(Value::as_str), Some(h) if h == ip || h.is_empty() || h == "0.0.0.0")
                    })
                })
        })
    };
    if lb.is_some() && !bound("6443/tcp", &c.api_host, &c.api_port.to_string()) {
        out.push(format!(
            "  cluster api: not published on {}:{} (found) -> published",
            c.api_host, c.api_port
        ));
    }
    for spec in &c.ports {
        let Ok(m) = crate::config::validate::parse_port_mapping(spec) else {
            continue;
        };
        let Some(hp) = m.host_port else { continue };
        let host = m.host.clone().unwrap_or_else(|| c.api_host.clone());
        let key = format!("{}/{}", m.container_port, m.protocol);
        if !bound(&key, &host, &hp.to_string()) {
            out.push(format!(
                "  cluster ports: {spec:?} not published (found) -> published on {host}:{hp}"
            ));
        }
    }
    let stopped = members
        .iter()
        .filter(|n| n.pointer("/State/Running").and_then(Value::as_bool) != Some(true))
        .count();
    if stopped > 0 {
        out.push(format!(
            "  cluster containers: {stopped} of {} not running (found) -> all running",
            members.len()
        ));
    }
    out
}

/// The host binding of a registry container's port 5000: (HostIp, HostPort).
pub fn registry_binding(nodes: &Value, container: &str) -> Option<(String, String)> {
    let node = nodes
        .as_array()?
        .iter()
        .find(|n| n.get("name").and_then(Value::as_str) == Some(container))?;
    let b = node
        .get("portMappings")?
        .get("5000/tcp")?
        .as_array()?
        .first()?;
    Some((
        b.get("HostIp")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        b.get("HostPort")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    ))
}

pub fn parse_json(step: &str, what: &str, out: &[u8]) -> Result<Value, StepError> {
    serde_json::from_slice(out).map_err(|e| {
        let text = String::from_utf8_lossy(out);
        let tail: String = text
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        StepError::new(format!(
            "{step}: `{what}` did not print JSON ({e}); its output ended with:\n{tail}"
        ))
        .hint("check that the tool on PATH is the real one and recent enough (`devenv doctor`)")
    })
}

pub async fn registry(ctx: &Ctx, step: &Step, create: &Cmd) -> Result<Done, StepError> {
    let container = ctx.names.registry_container.clone();
    let list = observed_nodes(ctx, step).await?;
    if registry_names(&list).contains(&container) {
        let r = &ctx.loaded.config.registry;
        if let Some((ip, port)) = registry_binding(&list, &container) {
            if port != r.port.to_string() {
                return Err(StepError::new(format!(
                    "registry {container} exists but is published on port {port}, not registry.port = {}",
                    r.port
                ))
                .hint("run `devenv down` (if devenv created it) or change registry.port to match"));
            }
            if !ip.is_empty() && ip != r.bind {
                ctx.reporter.warn(&format!(
                    "registry {container} is bound to {ip}, not {}",
                    r.bind
                ));
            }
        }
        let owned = registry_ownership(&list, &container, ctx.names.owner_id.as_deref());
        return Ok(Done::Unchanged(match owned {
            Ok(()) => "already running".into(),
            Err(why) => format!(
                "{container} already exists, not created by this checkout ({why}): `down` will leave it"
            ),
        }));
    }
    // Owned from before the create: an interrupted or failed create can leave a container
    // behind, and `down` must be able to remove what devenv started to make.
    {
        let mut j = ctx.journal.lock().unwrap();
        j.record_owned_registry(&container);
        let _ = j.save();
    }
    ctx.run(step, create).await?;
    ctx.observed.lock().unwrap().nodes = None;
    Ok(Done::Changed(None))
}

pub async fn cache_mirror(
    ctx: &Ctx,
    step: &Step,
    mirror: &kinds::CacheMirror,
) -> Result<Done, StepError> {
    let upstream = &mirror.upstream;
    let mirrors = crate::render::ci_cache_mirrors(&ctx.loaded, &ctx.names);
    let Some((_, m)) = mirrors.iter().find(|(u, _)| u == upstream) else {
        return Err(StepError::new(format!("no cache mirror for {upstream}")));
    };
    let list = observed_nodes(ctx, step).await?;
    if registry_names(&list).contains(&m.container) {
        return Ok(Done::Unchanged("already running".into()));
    }
    std::fs::create_dir_all(&m.storage)
        .map_err(|e| StepError::new(format!("cannot create {}: {e}", m.storage.display())))?;
    {
        let mut j = ctx.journal.lock().unwrap();
        j.record_owned_registry(&m.container);
        let _ = j.save();
    }
    ctx.run(step, &mirror.create).await?;
    Ok(Done::Changed(None))
}

/// `k3d node list -o json`, observed once per run (preflight) and shared by the steps.
pub async fn observed_nodes(ctx: &Ctx, step: &Step) -> Result<Value, StepError> {
    if let Some(v) = ctx.observed.lock().unwrap().nodes.clone() {
        return Ok(v);
    }
    // The preflight step's observation, as the plan shows it.
    let cmd = match ctx.plan.step("preflight").map(|s| &s.kind) {
        Some(StepKind::Preflight(kinds::Preflight {
            nodes: Some(cmd), ..
        })) => cmd,
        _ => {
            return Err(StepError::new(
                "this plan has no `k3d node list` (its cluster is not a k3d one)",
            ))
        }
    };
    let out = ctx.run(step, cmd).await?;
    let v = parse_json(&step.id, &cmd.display(), &out.stdout)?;
    ctx.observed.lock().unwrap().nodes = Some(v.clone());
    Ok(v)
}

/// The settings that can only change by recreating the cluster.
pub fn cluster_spec(ctx: &Ctx) -> Value {
    let c = &ctx.loaded.config.cluster;
    serde_json::json!({
        "servers": c.servers,
        "agents": c.agents,
        "image": c.image,
        "cidr": c.cidr,
        "service_cidr": c.service_cidr,
        "api": format!("{}:{}", c.api_host, c.api_port),
        "ports": c.ports,
        "k3s_args": c.k3s_args.iter().map(|a| format!("{}@{}", a.arg, a.nodes.join(";"))).collect::<Vec<_>>(),
        "registry": format!("{}:{}", ctx.names.registry_container, ctx.loaded.config.registry.port),
    })
}

/// Lines `key: old -> new` for every recreate-only setting that changed.
pub fn spec_diff(old: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(o), Some(n)) = (old.as_object(), new.as_object()) {
        for (k, nv) in n {
            let ov = o.get(k).cloned().unwrap_or(Value::Null);
            if &ov != nv {
                out.push(format!("  cluster {k}: {ov} -> {nv}"));
            }
        }
    }
    out
}

pub async fn cluster(ctx: &Ctx, step: &Step, cmds: &kinds::Cluster) -> Result<Done, StepError> {
    let name = ctx.names.cluster.clone();
    let list = observed_nodes(ctx, step).await?;
    let exists = cluster_names(&list).contains(&name);
    let spec = cluster_spec(ctx);
    let kubeconfig = ctx.root.join(crate::kube::KUBECONFIG_PATH);
    let (create, kubeconfig_cmd, api) = (&cmds.create, &cmds.kubeconfig, &cmds.api);

    if exists {
        // Ownership is proven by the label only this checkout's own create puts on every
        // node, never by a name in the journal: a same-named cluster someone else made after
        // devenv's create failed, or after devenv's cluster was deleted, is not adopted.
        if let Err(why) = cluster_ownership(&list, &name, ctx.names.owner_id.as_deref()) {
            // Installing Calico and workloads into someone else's cluster changes what is
            // theirs: refuse, as `down` refuses to delete it.
            return Err(StepError::new(format!(
                "a k3d cluster named {name} exists, but devenv did not create it from this checkout ({why}): devenv leaves it alone"
            ))
            .hint(format!(
                "give this project another name (project.name), or delete that cluster (`k3d cluster delete {name}`, or `devenv down --force`) and run `devenv up` again"
            )));
        }
        let recorded = ctx.detail("cluster").and_then(|d| d.get("spec").cloned());
        let mut diff = recorded
            .as_ref()
            .map(|old| spec_diff(old, &spec))
            .unwrap_or_default();
        // What really runs, compared with devenv.toml: a create killed half-way leaves a
        // server without agents, which must not pass for the declared cluster.
        for line in observed_diff(&list, &name, &ctx.loaded.config.cluster) {
            let key = line.split(':').next().unwrap_or("").to_string();
            if !diff.iter().any(|d| d.starts_with(&format!("{key}:"))) {
                diff.push(line);
            }
        }
        if !diff.is_empty() {
            let msg = format!("these changes need the cluster {name} to be recreated (its workloads and data are lost):\n{}", diff.join("\n"));
            if !confirm_recreate(ctx, &msg)? {
                let only_stopped = diff.iter().all(|l| l.starts_with("  cluster containers:"));
                return Err(StepError::new(msg).hint(if only_stopped {
                    format!(
                        "start it (`k3d cluster start {name}`), or pass --recreate to recreate it"
                    )
                } else {
                    "pass --recreate to recreate it, or revert the change in devenv.toml".into()
                }));
            }
            ctx.reporter.warn(&format!("recreating cluster {name}"));
            let mode = crate::kubeconfig::user_kubeconfig_mode();
            let deleted = ctx.run(step, &cmds.delete).await;
            crate::kubeconfig::restore_kubeconfig_mode(mode);
            deleted?;
        } else {
            if !kubeconfig.is_file() {
                ctx.run(step, kubeconfig_cmd).await?;
            }
            keep_private(&kubeconfig);
            if recorded.is_none() {
                // Created by a run that failed before recording it (or an older journal): what
                // exists is as declared, so later changes are compared with it.
                ctx.journal.lock().unwrap().mark_done(
                    &step.id,
                    &step.fingerprint,
                    Some(serde_json::json!({ "spec": spec })),
                );
            }
            return Ok(Done::Unchanged("already running".into()));
        }
    } else if recorded_owned_missing(ctx, &name) && ctx.detail("cluster").is_some() {
        ctx.reporter.warn(&format!(
            "cluster {name} that devenv created is gone: creating it again"
        ));
    }

    crate::steps::preflight_ports_for_cluster(ctx)?;
    // Owned from before the create (see `registry`): a killed `k3d cluster create` leaves
    // containers that only `down` should clean up.
    {
        let mut j = ctx.journal.lock().unwrap();
        j.record_owned_cluster(&name);
        let _ = j.save();
    }
    ctx.run(step, create).await?;
    ctx.observed.lock().unwrap().nodes = None;
    ctx.run(step, kubeconfig_cmd).await?;
    keep_private(&kubeconfig);
    wait_for_api(ctx, step, api).await?;
    Ok(Done::Changed(Some(serde_json::json!({ "spec": spec }))))
}

/// `.devenv/kubeconfig` holds the cluster's admin credentials: mode 0600, whoever wrote it
/// and whatever the umask.
pub fn keep_private(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if meta.permissions().mode() & 0o077 != 0 {
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!("cannot make {} private (0600): {e}", path.display());
        }
    }
}

fn recorded_owned_missing(ctx: &Ctx, name: &str) -> bool {
    ctx.journal.lock().unwrap().owns_cluster(name)
}

fn confirm_recreate(ctx: &Ctx, msg: &str) -> Result<bool, StepError> {
    if ctx.opts.recreate {
        return Ok(true);
    }
    if !ctx.opts.interactive {
        return Ok(false);
    }
    ctx.reporter.warn(msg);
    dialoguer::Confirm::new()
        .with_prompt("Recreate the cluster now?")
        .default(false)
        .interact()
        .map_err(|e| {
            StepError::new(format!("cannot ask for confirmation: {e}")).hint("pass --recreate")
        })
}

/// k3d's `--wait` waits for log lines, not for the API: poll until it answers (bounded).
async fn wait_for_api(ctx: &Ctx, step: &Step, api: &crate::runner::Cmd) -> Result<(), StepError> {
    let deadline = std::time::Instant::now() + ctx.loaded.config.cluster.timeout.0;
    let mut delay = std::time::Duration::from_millis(200);
    loop {
        match ctx.run(step, api).await {
            Ok(_) => return Ok(()),
            Err(e) if e.is_interrupted() => return Err(e),
            Err(e) if std::time::Instant::now() >= deadline => {
                return Err(StepError::new(format!(
                    "the Kubernetes API of {} did not answer within {}: {}",
                    ctx.names.cluster,
                    humantime::format_duration(ctx.loaded.config.cluster.timeout.0),
                    e.message
                )))
            }
            Err(_) => {
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = ctx.runner.cancel_token().cancelled() => return Err(StepError::interrupted()),
                }
                delay = (delay * 2).min(std::time::Duration::from_secs(3));
            }
        }
    }
}

pub async fn merge_kubeconfig(ctx: &Ctx, step: &Step, merge: &Cmd) -> Result<Done, StepError> {
    if ctx.was_done(step) {
        let has = crate::kubeconfig::default_kubeconfig_paths()
            .iter()
            .any(|p| {
                crate::kubeconfig::contexts(p)
                    .iter()
                    .any(|c| c == &ctx.names.context)
            });
        if has {
            return Ok(Done::Unchanged(format!(
                "context {} is in your kubeconfig",
                ctx.names.context
            )));
        }
    }
    let mode = crate::kubeconfig::user_kubeconfig_mode();
    let merged = ctx.run(step, merge).await;
    crate::kubeconfig::restore_kubeconfig_mode(mode);
    merged?;
    Ok(Done::Changed(None))
}

/// Oldest Kubernetes minor devenv supports on an existing cluster (server-side apply with
/// field managers, `kubectl wait --for=create` semantics, Pod Security admission labels).
pub const MIN_SERVER_MINOR: u64 = 25;

/// DaemonSets of CNIs that enforce NetworkPolicy (flannel alone does not).
const POLICY_CNIS: &[(&str, &str)] = &[
    ("calico-node", "Calico"),
    ("cilium", "Cilium"),
    ("antrea-agent", "Antrea"),
    ("kube-router", "kube-router"),
    ("weave-net", "Weave Net"),
    ("canal", "Canal"),
    (
        "aws-node",
        "Amazon VPC CNI (policies need its network policy agent)",
    ),
];

/// The server version `vMAJOR.MINOR…` from `kubectl version -o json`.
pub fn server_minor(v: &Value) -> Option<(String, u64)> {
    let git = v
        .pointer("/serverVersion/gitVersion")?
        .as_str()?
        .to_string();
    let minor = v
        .pointer("/serverVersion/minor")?
        .as_str()?
        .trim_end_matches('+')
        .parse()
        .ok()?;
    Some((git, minor))
}

/// The policy-enforcing CNIs found among `kubectl get daemonsets -A -o json`.
pub fn policy_cnis(v: &Value) -> Vec<&'static str> {
    let names: Vec<&str> = v
        .get("items")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|d| d.pointer("/metadata/name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    POLICY_CNIS
        .iter()
        .filter(|(ds, _)| names.contains(ds))
        .map(|(_, cni)| *cni)
        .collect()
}

/// An existing cluster: the context answers, its version is supported, and a CNI that enforces
/// NetworkPolicy runs (`devenv verify` then proves it enforces).
pub async fn existing_cluster(
    ctx: &Ctx,
    step: &Step,
    check: &kinds::ClusterCheck,
) -> Result<Done, StepError> {
    let context = ctx.plan.kube.context.clone();
    let out = ctx.run(step, &check.version).await.map_err(|e| {
        let m = e.message.clone();
        StepError { message: format!("the cluster of context {context} does not answer: {m}"), hint: Some("check `kubectl --context CONTEXT get nodes` (VPN, credentials, the context's server)".into()), exit: crate::exit::Exit::Prerequisite }
    })?;
    let v = parse_json(&step.id, &check.version.display(), &out.stdout)?;
    let (git, minor) = server_minor(&v).ok_or_else(|| {
        StepError::new(format!(
            "`{}` printed no serverVersion",
            check.version.display()
        ))
    })?;
    if minor < MIN_SERVER_MINOR {
        return Err(StepError::new(format!("the cluster of context {context} runs Kubernetes {git}; devenv needs 1.{MIN_SERVER_MINOR} or newer")).hint("upgrade the cluster, or use a k3d cluster (provider = \"k3d\")").prerequisite());
    }
    let ds = ctx.run(step, &check.daemonsets).await?;
    let v = parse_json(&step.id, &check.daemonsets.display(), &ds.stdout)?;
    let cnis = policy_cnis(&v);
    if cnis.is_empty() {
        ctx.reporter.warn(&format!("no NetworkPolicy-enforcing CNI found in context {context} (Calico, Cilium, Antrea, …): NetworkPolicies may be ignored there; `devenv verify` will tell"));
    }
    let detail = serde_json::json!({ "server": git, "cni": cnis });
    // The same cluster as last time: what was applied to it still stands (a `Changed` here
    // would make every later step redo its work).
    if ctx.was_done(step) && ctx.detail(&step.id).as_ref() == Some(&detail) {
        return Ok(Done::Unchanged(format!(
            "context {context} answers (Kubernetes {git})"
        )));
    }
    Ok(Done::Changed(Some(detail)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "0123456789abcdef0123456789abcdef";

    fn node(name: &str, role: &str, owner: Option<&str>) -> Value {
        let mut labels = json!({ "k3d.cluster": "p", "k3d.role": role });
        if let Some(o) = owner {
            labels["k3d-devenv.owner"] = json!(o);
        }
        json!({ "name": name, "role": role, "runtimeLabels": labels, "State": { "Running": true } })
    }

    #[test]
    fn a_cluster_is_ours_only_when_every_node_carries_our_id() {
        let ours = json!([
            node("k3d-p-server-0", "server", Some(ID)),
            node("k3d-p-serverlb", "loadbalancer", Some(ID)),
            // The transient tools node has no role and none of the --runtime-labels.
            { "name": "k3d-p-tools", "runtimeLabels": { "k3d.cluster": "p" } },
        ]);
        assert_eq!(cluster_ownership(&ours, "p", Some(ID)), Ok(()));
        let err = cluster_ownership(&ours, "p", None).unwrap_err().to_string();
        assert!(err.contains("no ownership id"), "{err}");
        let plain = json!([node("k3d-p-server-0", "server", None)]);
        let err = cluster_ownership(&plain, "p", Some(ID))
            .unwrap_err()
            .to_string();
        assert!(err.contains("do not carry"), "{err}");
        let other = "f".repeat(32);
        let mixed = json!([
            node("k3d-p-server-0", "server", Some(ID)),
            node("k3d-p-agent-0", "agent", Some(&other)),
        ]);
        let err = cluster_ownership(&mixed, "p", Some(ID))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&other), "{err}");
    }

    #[test]
    fn a_registry_is_ours_only_with_our_volume() {
        let reg = |volumes: Value| json!([{ "name": "k3d-p-registry", "role": "registry", "volumes": volumes }]);
        let mine = format!("/devenv/owner/{ID}");
        assert_eq!(
            registry_ownership(&reg(json!([mine])), "k3d-p-registry", Some(ID)),
            Ok(())
        );
        assert!(registry_ownership(&reg(json!([])), "k3d-p-registry", Some(ID)).is_err());
        let theirs = format!("/devenv/owner/{}", "e".repeat(32));
        let err = registry_ownership(&reg(json!([theirs])), "k3d-p-registry", Some(ID))
            .unwrap_err()
            .to_string();
        assert!(err.contains("another checkout"), "{err}");
        // A bind whose host path merely mentions the id is not the mark.
        let bind = format!("/home/x/{ID}:/var/lib/registry");
        assert!(registry_ownership(&reg(json!([bind])), "k3d-p-registry", Some(ID)).is_err());
    }

    #[test]
    fn a_half_created_cluster_differs_from_the_declared_one() {
        let c = crate::config::schema::Cluster {
            servers: 1,
            agents: 2,
            ..Default::default()
        };
        let mut server = node("k3d-p-server-0", "server", Some(ID));
        server["State"]["Running"] = json!(false);
        let diff = observed_diff(&json!([server]), "p", &c);
        assert!(
            diff.contains(&"  cluster agents: 0 (found) -> 2".to_string()),
            "{diff:?}"
        );
        assert!(diff.iter().any(|l| l.contains("load balancer")), "{diff:?}");
        assert!(
            diff.iter().any(|l| l.contains("1 of 1 not running")),
            "{diff:?}"
        );
        assert!(!diff.iter().any(|l| l.contains("servers")), "{diff:?}");
    }
}
