//! What each kind of step does at run time: observe the real state, then run the plan's
//! commands for what is missing. Commands go through the runner only (`Ctx::run`).

pub mod calico;
pub mod cluster;
pub mod images;
pub mod preflight;
pub mod status;
pub mod workloads;

use std::net::IpAddr;

use crate::config::schema::RegistryProvider;
use crate::config::validate::parse_port_mapping;
use crate::engine::{Ctx, Done, StepError};
use crate::plan::{Step, StepKind};

/// Run one step.
pub async fn run(ctx: &Ctx, step: &Step) -> Result<Done, StepError> {
    if ctx.cancelled() {
        return Err(StepError::interrupted());
    }
    match &step.kind {
        StepKind::Preflight(p) => preflight_step(ctx, step, p).await,
        StepKind::ClusterCheck(c) => cluster::existing_cluster(ctx, step, c).await,
        StepKind::Prune => workloads::prune(ctx, step).await,
        StepKind::Registry(r) => cluster::registry(ctx, step, &r.create).await,
        StepKind::CacheMirror(m) => cluster::cache_mirror(ctx, step, m).await,
        StepKind::Cluster(c) => cluster::cluster(ctx, step, c).await,
        StepKind::Kubeconfig(k) => cluster::merge_kubeconfig(ctx, step, &k.merge).await,
        StepKind::CalicoCrds(c) => calico::crds(ctx, step, &[&c.apply, &c.wait]).await,
        StepKind::CalicoOperator(o) => calico::apply_once(ctx, step, &[&o.apply, &o.rollout]).await,
        StepKind::CalicoInstallation(i) => calico::apply_once(ctx, step, &[&i.apply]).await,
        StepKind::CalicoReady(r) => calico::ready(ctx, step, r).await,
        StepKind::Namespaces(n) => workloads::namespaces(ctx, step, &n.apply).await,
        StepKind::Image(i) => images::build_and_push(ctx, step, &i.name).await,
        StepKind::Render(r) => workloads::render(ctx, step, r).await,
        StepKind::Overlay(o) => workloads::overlay(ctx, step, &o.name).await,
        StepKind::RenderChart(r) => workloads::render_chart(ctx, step, r).await,
        StepKind::Chart(c) => workloads::chart(ctx, step, &c.name).await,
        StepKind::Verify(v) => workloads::verify(ctx, step, v).await,
    }
}

/// Tool versions are checked once per binary: the journal keeps them keyed by the binary's
/// path, size and mtime, so a second `up` runs none of the version commands.
fn tool_stamp(program: &str) -> Option<String> {
    let path = crate::tools::resolved_path(program).or_else(|| which::which(program).ok())?;
    let (len, mtime) = crate::tools::file_stamp(&path)?;
    Some(format!("{}:{len}:{mtime}", path.display()))
}

/// Every prerequisite is checked before anything is reported, as `doctor` does: a missing
/// k3d does not hide a stopped Docker daemon or a busy port. The result is one failure
/// listing every problem (exit 3), before anything is created.
async fn preflight_step(
    ctx: &Ctx,
    step: &Step,
    tools: &crate::plan::step::Preflight,
) -> Result<Done, StepError> {
    let previous = ctx.detail(&step.id).unwrap_or(serde_json::Value::Null);
    let mut stamps = serde_json::Map::new();
    let mut ran_any = false;
    let mut checks: Vec<preflight::Check> = Vec::new();
    // Tools whose check failed: the node observation needs Docker and k3d.
    let mut docker_ok = true;
    let mut k3d_ok = true;
    let cfg = &ctx.loaded.config;
    // stdout of the kubectl and helm checks, for the check that compares them.
    let mut outputs = std::collections::BTreeMap::new();
    for (kind, cmd) in tools.tools() {
        let tool = crate::tools::Tool::from_name(kind);
        let pin = tool.and_then(|t| crate::tools::pin_for(cfg, t));
        // A pin change must re-run the check: it is part of the stamp.
        let stamp = tool_stamp(&cmd.program).map(|s| match &pin {
            Some(p) => format!("{s}|{}", p.spec),
            None => s,
        });
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
        if cached {
            if let Some(s) = &stamp {
                stamps.insert(key.clone(), serde_json::Value::String(s.clone()));
            }
            continue;
        }
        ran_any = true;
        let runner_cmd = cmd.clone().cwd(&ctx.root);
        let found = match ctx
            .runner
            .run_unchecked(&crate::engine::log_name(&step.id), &runner_cmd)
            .await
        {
            Ok(o) => {
                outputs.insert(kind, o.stdout_str().to_string());
                preflight::interpret_tool(
                    kind,
                    o.status,
                    &o.stdout_str(),
                    &o.stderr_str(),
                    pin.as_ref(),
                    tool.and_then(|t| crate::tools::pin_location(&ctx.loaded, t))
                        .as_deref(),
                )
            }
            Err(e) if e.is_interrupted() => return Err(StepError::interrupted()),
            Err(e) => vec![preflight::spawn_failure_pinned(
                kind,
                &cmd.program,
                &e,
                pin.as_ref(),
                tool.and_then(|t| crate::tools::pin_location(&ctx.loaded, t))
                    .as_deref(),
            )],
        };
        let failed = found
            .iter()
            .any(|c| c.status == preflight::CheckStatus::Fail);
        if failed {
            match kind {
                "docker" => docker_ok = false,
                "k3d" => k3d_ok = false,
                _ => {}
            }
        } else if let Some(s) = &stamp {
            // Only a check that passed is remembered.
            stamps.insert(key.clone(), serde_json::Value::String(s.clone()));
        }
        checks.extend(found);
    }
    if let (Some(kubectl), Some(helm)) = (outputs.get("kubectl"), outputs.get("helm")) {
        if cfg.build.kustomize.is_none() && crate::overlays::overlays_inflate_charts(&ctx.loaded) {
            checks.extend(preflight::check_kustomize_runs_helm(kubectl, helm));
        }
    }
    if ctx.plan.kube.is_k3d() {
        if docker_ok && k3d_ok {
            let nodes = cluster::observed_nodes(ctx, step).await?;
            checks.extend(preflight_ports(ctx, &nodes));
        } else if !docker_ok {
            // Docker is down: none of devenv's containers holds a port, so whatever does
            // is in the way.
            checks.extend(preflight_ports(ctx, &serde_json::json!([])));
        }
        // Docker up but k3d missing: devenv's own registry may hold its port; the check
        // runs once k3d is there.
        if cfg.cluster.merge_kubeconfig {
            // The kubeconfig files take the context: found out before the cluster exists.
            if let Err(e) = crate::kubeconfig::check_merge_target(
                &crate::kubeconfig::default_kubeconfig_paths(),
            ) {
                let fix = e.help.unwrap_or_default();
                checks.push(preflight::Check::fail("kubeconfig", e.message, fix));
            }
        }
    }
    let problems: Vec<&preflight::Check> = checks
        .iter()
        .filter(|c| c.status == preflight::CheckStatus::Fail)
        .collect();
    match problems.as_slice() {
        [] => {}
        [one] => {
            return Err(StepError::new(one.detail.clone())
                .hint(one.fix.clone().unwrap_or_default())
                .prerequisite())
        }
        many => {
            let mut msg = format!("{} prerequisites are not met:", many.len());
            for c in many {
                msg.push_str(&format!("\n  ✗ {}: {}", c.name, c.detail));
                if let Some(fix) = &c.fix {
                    msg.push_str(&format!("\n      fix: {fix}"));
                }
            }
            return Err(StepError::new(msg)
                .hint("fix each problem above, then run `devenv up` again (`devenv doctor` checks them all)")
                .prerequisite());
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

/// Every host port devenv is about to bind must be free before anything is created
/// (k3d would otherwise create, fail, and roll back). Ports of things that already exist
/// are theirs, not a conflict.
fn preflight_ports(ctx: &Ctx, nodes: &serde_json::Value) -> Vec<preflight::Check> {
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
    wanted
        .iter()
        .filter_map(|(host, port, key)| busy_port(host, *port, key))
        .collect()
}

/// A failed check when `host:port` is in use.
fn busy_port(host: &str, port: u16, key: &str) -> Option<preflight::Check> {
    let addr: IpAddr = host.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let busy = preflight::port_in_use(addr, port)?;
    Some(preflight::Check::fail(
        format!("port {port}"),
        format!("port {port} on {host} ({key}) is already in use{busy}"),
        format!("stop what holds it, or set {key} to a free port in devenv.toml"),
    ))
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
        if let Some(c) = busy_port(host, *port, key) {
            return Err(StepError::new(c.detail)
                .hint(c.fix.unwrap_or_default())
                .prerequisite());
        }
    }
    Ok(())
}
