//! What each kind of step does at run time: observe the real state, then run the plan's
//! commands for what is missing. Commands go through the runner only (`Ctx::run`).

pub mod calico;
pub mod cluster;
pub mod images;
pub mod preflight;
pub mod status;
pub mod workloads;

use std::net::IpAddr;

use crate::config::schema::{ClusterProvider, RegistryProvider};
use crate::config::validate::parse_port_mapping;
use crate::engine::{Ctx, Done, StepError};
use crate::plan::{Step, StepKind};

/// Run one step.
pub async fn run(ctx: &Ctx, step: &Step) -> Result<Done, StepError> {
    if ctx.cancelled() {
        return Err(StepError::interrupted());
    }
    match &step.kind {
        StepKind::Preflight => preflight_step(ctx, step).await,
        StepKind::ClusterCheck => cluster::existing_cluster(ctx, step).await,
        StepKind::Prune => workloads::prune(ctx, step).await,
        StepKind::Registry => cluster::registry(ctx, step).await,
        StepKind::CacheMirror { upstream } => cluster::cache_mirror(ctx, step, upstream).await,
        StepKind::Cluster => cluster::cluster(ctx, step).await,
        StepKind::Kubeconfig => cluster::merge_kubeconfig(ctx, step).await,
        StepKind::CalicoCrds => calico::crds(ctx, step).await,
        StepKind::CalicoOperator | StepKind::CalicoInstallation => {
            calico::apply_once(ctx, step).await
        }
        StepKind::CalicoReady => calico::ready(ctx, step).await,
        StepKind::Namespaces => workloads::namespaces(ctx, step).await,
        StepKind::Image { name } => images::build_and_push(ctx, step, name).await,
        StepKind::Render { name } => workloads::render(ctx, step, name).await,
        StepKind::Overlay { name } => workloads::overlay(ctx, step, name).await,
        StepKind::Verify => workloads::verify(ctx, step).await,
    }
}

/// Tool versions are checked once per binary: the journal keeps them keyed by the binary's
/// path, size and mtime, so a second `up` runs none of the version commands.
fn tool_stamp(program: &str) -> Option<String> {
    let path = which::which(program).ok()?;
    let meta = std::fs::metadata(&path).ok()?;
    let mtime = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some(format!("{}:{}:{}", path.display(), meta.len(), mtime))
}

async fn preflight_step(ctx: &Ctx, step: &Step) -> Result<Done, StepError> {
    let previous = ctx.detail(&step.id).unwrap_or(serde_json::Value::Null);
    let mut stamps = serde_json::Map::new();
    let mut ran_any = false;
    for cmd in &step.commands {
        let stamp = tool_stamp(&cmd.program);
        let key = format!(
            "{} {}",
            cmd.program,
            cmd.args.first().cloned().unwrap_or_default()
        );
        // The Docker daemon can stop at any time: its check is cached only when no image
        // needs building (the image steps report a stopped daemon themselves).
        let cached = stamp.is_some()
            && previous.get(&key).and_then(|v| v.as_str()) == stamp.as_deref()
            && ctx.was_done(step);
        if let Some(s) = &stamp {
            stamps.insert(key.clone(), serde_json::Value::String(s.clone()));
        }
        if cached {
            continue;
        }
        ran_any = true;
        let out = match ctx.run(step, cmd).await {
            Ok(o) => o,
            Err(e) if e.is_interrupted() => return Err(e),
            Err(e) => return Err(prereq_error(&cmd.program, e)),
        };
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        match cmd.program.as_str() {
            "k3d" => preflight::check_k3d_output(&text)
                .map_err(|m| StepError::new(m.0).hint(m.1).prerequisite())?,
            "kubectl" if cmd.args.iter().any(|a| a == "--client") => {
                preflight::check_kubectl_output(&text)
                    .map_err(|m| StepError::new(m.0).hint(m.1).prerequisite())?
            }
            _ => {}
        }
    }
    if ctx.loaded.config.cluster.provider == ClusterProvider::K3d {
        let nodes = cluster::observed_nodes(ctx, step).await?;
        preflight_ports(ctx, &nodes)?;
        if ctx.loaded.config.cluster.merge_kubeconfig {
            // The kubeconfig files take the context: found out before the cluster exists.
            crate::kubeconfig::check_merge_target(&crate::kubeconfig::default_kubeconfig_paths())
                .map_err(|(m, hint)| StepError::new(m).hint(hint).prerequisite())?;
        }
    }
    let detail = serde_json::Value::Object(stamps);
    if !ran_any {
        // Nothing to check again; keep the stamps.
        ctx.journal
            .lock()
            .unwrap()
            .mark_done(&step.id, &step.fingerprint, Some(detail));
        return Ok(Done::Unchanged(
            "tools unchanged since the last check".into(),
        ));
    }
    Ok(Done::Changed(Some(detail)))
}

fn prereq_error(program: &str, e: StepError) -> StepError {
    let hint = e.hint.clone().unwrap_or_else(|| match program {
        "docker" => {
            "install Docker and start its daemon (Docker Desktop, or `sudo systemctl start docker`)"
                .into()
        }
        "k3d" => "install k3d v5.5 or newer: https://k3d.io/#installation".into(),
        "kubectl" => {
            "install kubectl 1.31 or newer: https://kubernetes.io/docs/tasks/tools/".into()
        }
        other => format!("install {other}"),
    });
    StepError {
        message: e.message,
        hint: Some(hint),
        exit: crate::exit::Exit::Prerequisite,
    }
}

/// Every host port devenv is about to bind must be free before anything is created
/// (k3d would otherwise create, fail, and roll back). Ports of things that already exist
/// are theirs, not a conflict.
fn preflight_ports(ctx: &Ctx, nodes: &serde_json::Value) -> Result<(), StepError> {
    let cfg = &ctx.loaded.config;
    let mut wanted: Vec<(String, u16, String)> = Vec::new();
    if cfg.registry.provider == RegistryProvider::K3d
        && !cluster::registry_names(nodes).contains(&ctx.names.registry_container)
    {
        wanted.push((
            cfg.registry.bind.clone(),
            cfg.registry.port,
            "registry.port".into(),
        ));
    }
    if !cluster::cluster_names(nodes).contains(&ctx.names.cluster) {
        wanted.extend(cluster_ports(ctx));
    }
    check_ports(&wanted)
}

/// Host ports the cluster publishes: the API and every port mapping with a host port.
pub fn cluster_ports(ctx: &Ctx) -> Vec<(String, u16, String)> {
    let c = &ctx.loaded.config.cluster;
    let mut out = vec![(
        c.api_host.clone(),
        c.api_port,
        "cluster.api_port".to_string(),
    )];
    for (i, p) in c.ports.iter().enumerate() {
        if let Ok(m) = parse_port_mapping(p) {
            if let Some(hp) = m.host_port {
                out.push((
                    m.host.unwrap_or_else(|| c.api_host.clone()),
                    hp,
                    format!("cluster.ports[{i}]"),
                ));
            }
        }
    }
    out
}

/// Called right before `k3d cluster create` (also when recreating).
pub fn preflight_ports_for_cluster(ctx: &Ctx) -> Result<(), StepError> {
    check_ports(&cluster_ports(ctx))
}

fn check_ports(wanted: &[(String, u16, String)]) -> Result<(), StepError> {
    for (host, port, key) in wanted {
        let addr: IpAddr = host.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]));
        if let Some(busy) = preflight::port_in_use(addr, *port) {
            return Err(StepError::new(format!(
                "port {port} on {host} ({key}) is already in use{busy}"
            ))
            .hint(format!(
                "stop what holds it, or set {key} to a free port in devenv.toml"
            ))
            .prerequisite());
        }
    }
    Ok(())
}
