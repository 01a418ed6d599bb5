//! The verify step: NetworkPolicy enforcement, node readiness, and a pull from the local
//! registry (the probe itself: [`crate::overlays::verify`]).

use std::time::Duration;

use super::StepKubectl;
use crate::engine::{Ctx, Done, StepError};
use crate::overlays::verify::{
    self as probe_lib, interpret_probe_results, probe_arch_for_nodes, probe_image_tag,
    write_probe_context, ProbeArch, ProbeReport, VerifyProbe, DEFAULT_PROBE_PORT, PROBE_IMAGE_NAME,
};
use crate::plan::step::Verify as ProbeCommands;
use crate::plan::Step;
use crate::runner::Cmd;

/// NetworkPolicy enforcement, node readiness, and a pull from the local registry. Runs the
/// plan's commands, with the probe's random namespace in place of `devenv-verify-RANDOM`.
pub async fn verify(ctx: &Ctx, step: &Step, cmds: &ProbeCommands) -> Result<Done, StepError> {
    if ctx.was_done(step) {
        return Ok(Done::Unchanged("verified on the last run".into()));
    }
    let kube = StepKubectl::new(ctx, &step.id);
    let tag = ensure_probe_image(ctx, step, cmds).await?;
    let arch = check_nodes(&kube, cmds).await?;

    // A verify killed half-way left its namespace: delete it first.
    if let Some(old) = probe_lib::leftover_namespace(&ctx.state_dir()) {
        ctx.reporter.info(&format!(
            "deleting the probe namespace {old} an interrupted verify left behind"
        ));
        kube.run(
            probe_lib::leftover_cleanup_argv(&kube.k, &old),
            Duration::from_secs(60),
            "delete a leftover probe namespace",
        )
        .await?;
        probe_lib::clear_pending_namespace(&ctx.state_dir());
    }
    let pull_ref = format!("{}/{PROBE_IMAGE_NAME}:{tag}", ctx.plan.registry.pull);
    let probe = VerifyProbe::new(pull_ref, DEFAULT_PROBE_PORT).on(arch);
    probe_lib::record_pending_namespace(&ctx.state_dir(), &probe.namespace)
        .map_err(|e| StepError::new(format!("cannot write .devenv/verify/namespace: {e}")))?;
    let dir = ctx.state_dir().join("verify");
    std::fs::create_dir_all(&dir).map_err(|e| StepError::new(e.to_string()))?;
    for (file, text) in [
        ("server.yaml", probe.server_manifests()),
        ("clients.yaml", probe.client_manifests()),
    ] {
        crate::state::write_atomic(&dir.join(file), text.as_bytes())
            .map_err(|e| StepError::new(e.to_string()))?;
    }
    let outcome = run_probe(&kube, step, cmds, &probe).await;
    // Always clean up, even after a failure or a timeout.
    if ctx
        .run(step, &in_namespace(&cmds.cleanup, &probe))
        .await
        .is_ok()
    {
        probe_lib::clear_pending_namespace(&ctx.state_dir());
    }
    let report = outcome?;
    for check in &report.checks {
        ctx.reporter.info(&check.to_string());
    }
    if !report.passed() {
        return Err(StepError::new(format!("NetworkPolicy verification failed:\n{report}")).hint("check that Calico is running (`kubectl -n calico-system get pods`) and that k3s runs with --disable-network-policy and flannel off"));
    }
    Ok(Done::Changed(Some(
        serde_json::json!({ "probe": report.to_string() }),
    )))
}

/// The probe image: built from what devenv ships, pushed only when the registry lacks it.
/// Returns its tag.
async fn ensure_probe_image(
    ctx: &Ctx,
    step: &Step,
    cmds: &ProbeCommands,
) -> Result<String, StepError> {
    write_probe_context(&ctx.state_dir().join("probe"))
        .map_err(|e| StepError::new(e.to_string()))?;
    let tag = probe_image_tag();
    let (host, prefix) = crate::steps::images::split_registry(&ctx.plan.registry.push);
    let client = crate::images::RegistryClient::new(crate::images::RegistryOptions::default())
        .map_err(|e| StepError::new(e.to_string()))?;
    if !matches!(
        client
            .has_manifest(&host, &format!("{prefix}{PROBE_IMAGE_NAME}"), &tag)
            .await,
        Ok(Some(_))
    ) {
        ctx.run(step, &cmds.build).await?;
        ctx.run(step, &cmds.push).await?;
    }
    Ok(tag)
}

/// Every node Ready, no second CNI or policy engine beside Calico on devenv's cluster;
/// returns the architecture the probe runs on.
async fn check_nodes(kube: &StepKubectl<'_>, cmds: &ProbeCommands) -> Result<ProbeArch, StepError> {
    let ctx = kube.ctx;
    let nodes = kube.run_planned(&cmds.read_nodes).await?;
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&nodes.stdout) {
        let unready = crate::steps::calico::unready_nodes(&v);
        if !unready.is_empty() {
            return Err(StepError::new(format!(
                "nodes not Ready:\n  {}",
                unready.join("\n  ")
            )));
        }
    }
    // On devenv's k3d cluster, k3s's own CNI or policy controller beside Calico: the probe
    // would prove nothing. (An existing k3s cluster may rightly use k3s's own.)
    let conflicts = if ctx.plan.kube.is_k3d() {
        probe_lib::k3s_conflicts_with_calico(&nodes.stdout_str())
    } else {
        vec![]
    };
    if !conflicts.is_empty() {
        return Err(StepError::new(format!(
            "NetworkPolicy verification failed:\n  {}",
            conflicts.join("\n  ")
        ))
        .hint("recreate the cluster (`devenv reset`): devenv's k3d config passes --flannel-backend=none and --disable-network-policy to every server"));
    }
    // The nodes' architecture picks the probe program (amd64 or arm64).
    probe_arch_for_nodes(&nodes.stdout_str()).map_err(|e| StepError::new(e.to_string()))
}

/// A plan command of the probe, in this run's probe namespace.
fn in_namespace(c: &Cmd, probe: &VerifyProbe) -> Cmd {
    let mut c = c.clone();
    for a in c.args.iter_mut() {
        *a = a.replace("devenv-verify-RANDOM", &probe.namespace);
    }
    c
}

/// Server, then clients, then their results. A wait that times out still reads the results
/// when there are some: they say why (a pod that never ran, a connection refused).
async fn run_probe(
    kube: &StepKubectl<'_>,
    step: &Step,
    cmds: &ProbeCommands,
    probe: &VerifyProbe,
) -> Result<ProbeReport, StepError> {
    let ctx = kube.ctx;
    ctx.run(step, &in_namespace(&cmds.apply_server, probe))
        .await?;
    if let Err(e) = ctx.run(step, &in_namespace(&cmds.wait_server, probe)).await {
        if e.is_interrupted() {
            return Err(e);
        }
        // A bare "timed out" hides the usual cause (the probe image cannot be pulled
        // from the local registry): say what the server pod is stuck on.
        let why = kube
            .run_planned(&in_namespace(&cmds.read_server_pods, probe))
            .await
            .map(|o| crate::deploy::explain_pods(&o.stdout_str()))
            .unwrap_or_default();
        return Err(StepError {
            message: format!(
                "the probe server did not become Ready:\n{why}\n{}",
                e.message
            ),
            ..e
        });
    }
    ctx.run(step, &in_namespace(&cmds.apply_clients, probe))
        .await?;
    let waited = ctx
        .run(step, &in_namespace(&cmds.wait_clients, probe))
        .await;
    if let Err(e) = &waited {
        if e.is_interrupted() {
            return Err(e.clone());
        }
    }
    let pods = ctx.run(step, &in_namespace(&cmds.results, probe)).await?;
    let report = interpret_probe_results(&pods.stdout_str());
    match waited {
        Err(e) if report.checks.is_empty() => Err(e),
        _ => Ok(report),
    }
}
