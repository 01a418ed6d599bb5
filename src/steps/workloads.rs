//! What runs in the cluster: namespaces, the team's overlays (rendered with Kustomize, CRDs
//! first, then waited for), and the NetworkPolicy verification probe.

use std::time::Duration;

use crate::config::schema::WaitSpec as ConfigWait;
use crate::engine::{Ctx, Done, StepError};
use crate::overlays::{self, Kubectl, RenderedOverlay, WaitSpec};
use crate::plan::{PlannedCommand, Step};
use crate::runner::Cmd;
use crate::ui::OverlayRecord;

/// The kubectl devenv uses for this project (its kubeconfig and context). On an existing
/// cluster the kubeconfig is empty: kubectl reads the user's as it always does (every file
/// of a `KUBECONFIG` list, merged; naming only the first would lose contexts of the others).
pub fn kubectl(ctx: &Ctx) -> Kubectl {
    let kubeconfig =
        if ctx.loaded.config.cluster.provider == crate::config::schema::ClusterProvider::K3d {
            ctx.root.join(crate::plan::KUBECONFIG_PATH)
        } else {
            std::path::PathBuf::new()
        };
    Kubectl::new("kubectl", kubeconfig, ctx.plan.context.clone())
}

fn cmd_of(mut argv: Vec<String>, cwd: &std::path::Path, timeout: Duration) -> Cmd {
    // An empty `--kubeconfig` means the user's kubeconfig: leave the flag out.
    if let Some(i) = argv
        .windows(2)
        .position(|w| w[0] == "--kubeconfig" && w[1].is_empty())
    {
        argv.drain(i..i + 2);
    }
    let mut it = argv.into_iter();
    let program = it.next().unwrap_or_else(|| "kubectl".into());
    Cmd::new(program)
        .args(it)
        .cwd(cwd.to_path_buf())
        .timeout(timeout)
}

pub async fn namespaces(ctx: &Ctx, step: &Step) -> Result<Done, StepError> {
    let yaml = std::fs::read_to_string(ctx.root.join(".devenv/namespaces.yaml"))
        .map_err(|e| StepError::new(format!("cannot read .devenv/namespaces.yaml: {e}")))?;
    let inventory = match &ctx.isolation {
        Some(iso) => iso.inventory(&yaml),
        None => crate::tenancy::Inventory::from_rendered(&yaml, "default"),
    }
    .map_err(|e| StepError::new(e.to_string()))?;
    ctx.rendered
        .lock()
        .unwrap()
        .insert(NAMESPACES_INVENTORY.to_string(), inventory.clone());
    if ctx.was_done(step) {
        return Ok(Done::Unchanged("already created".into()));
    }
    if ctx.isolation.is_some() {
        check_namespaces_are_ours(ctx, step, &inventory).await?;
    }
    {
        let mut inv = ctx.inventory.lock().unwrap();
        inv.0.record_applying(NAMESPACES_INVENTORY, &inventory);
        let _ = inv.0.save(&inv.1);
    }
    for cmd in &step.commands {
        ctx.run(step, cmd).await?;
    }
    Ok(Done::Changed(None))
}

/// The wait spec of an overlay, in the overlays module's terms.
pub fn wait_spec(w: &ConfigWait) -> Result<WaitSpec, String> {
    match w {
        ConfigWait::Mode(m) => overlays::parse_wait_spec(&[m.as_str()]).map_err(|e| e.to_string()),
        ConfigWait::Objects(list) => overlays::parse_wait_spec(list).map_err(|e| e.to_string()),
    }
}

/// Render an overlay with Kustomize (through its wrapper: images point at the pushed tags),
/// isolate it on a shared cluster, and keep it for the apply step. Changes nothing outside
/// `.devenv/`, so it runs at the start of `up`, while the cluster boots.
pub async fn render(ctx: &Ctx, step: &Step, name: &str) -> Result<Done, StepError> {
    let out = ctx.run(step, &step.commands[0]).await?;
    let mut yaml = String::from_utf8_lossy(&out.stdout).to_string();
    // A shared cluster: the owner's namespaces, every object labelled with project and owner.
    if let Some(iso) = &ctx.isolation {
        yaml = iso
            .isolate(name, &yaml)
            .map_err(|e| StepError::new(format!("overlay {name}: {e}")))?;
    }
    let rendered =
        RenderedOverlay::from_yaml(name, &yaml).map_err(|e| StepError::new(e.to_string()))?;
    let inventory = match &ctx.isolation {
        Some(iso) => iso.inventory(&yaml),
        None => crate::tenancy::Inventory::from_rendered(&yaml, "default"),
    }
    .map_err(|e| StepError::new(format!("overlay {name}: {e}")))?;
    rendered
        .save(&ctx.state_dir().join("rendered"))
        .map_err(|e| StepError::new(e.to_string()))?;
    let summary = format!(
        "{} objects, sha256 {}",
        rendered.manifests.len(),
        &rendered.sha256[..12.min(rendered.sha256.len())]
    );
    ctx.rendered
        .lock()
        .unwrap()
        .insert(name.to_string(), inventory);
    ctx.renders
        .lock()
        .unwrap()
        .insert(name.to_string(), rendered);
    Ok(Done::Observed(summary))
}

pub async fn overlay(ctx: &Ctx, step: &Step, name: &str) -> Result<Done, StepError> {
    let o = ctx
        .loaded
        .config
        .overlays
        .iter()
        .find(|o| o.name == name)
        .ok_or_else(|| StepError::new(format!("unknown overlay {name}")))?;
    let timeout = o.timeout.0;
    // 1. The render step's output (it ran earlier, in parallel with the cluster).
    let rendered = ctx
        .renders
        .lock()
        .unwrap()
        .get(name)
        .cloned()
        .ok_or_else(|| StepError::new(format!("overlay {name} was not rendered in this run")))?;
    let inventory = ctx
        .rendered
        .lock()
        .unwrap()
        .get(name)
        .cloned()
        .unwrap_or_default();
    let rendered_dir = ctx.state_dir().join("rendered");

    // 2. Unchanged manifests, already applied and ready: nothing to do.
    let previous = ctx
        .detail(&step.id)
        .and_then(|d| d.get("sha256").and_then(|s| s.as_str().map(str::to_string)));
    if ctx.was_done(step) && previous.as_deref() == Some(rendered.sha256.as_str()) {
        ctx.summary.lock().unwrap().overlays.push(OverlayRecord {
            name: name.into(),
            objects: rendered.manifests.len(),
            hash: rendered.sha256.clone(),
        });
        return Ok(Done::Unchanged("rendered manifests unchanged".into()));
    }

    // 3. CRDs first (Established), then everything else, then the waits.
    let mut spec = wait_spec(&o.wait).map_err(StepError::new)?;
    let default_ns = match &ctx.isolation {
        Some(iso) => {
            if let WaitSpec::Only(refs) = &mut spec {
                for r in refs.iter_mut() {
                    r.namespace = r.namespace.as_deref().map(|ns| iso.mapping.map(ns));
                }
            }
            iso.mapping.map(&iso.default_namespace)
        }
        None => "default".to_string(),
    };
    let plan = overlays::plan_apply(&rendered, &default_ns, &spec)
        .map_err(|e| StepError::new(e.to_string()))?;
    if ctx.isolation.is_some() {
        check_namespaces_are_ours(ctx, step, &inventory).await?;
    }
    // Record before applying: a failed apply leaves nothing untracked for `down`.
    {
        let mut inv = ctx.inventory.lock().unwrap();
        inv.0.record_applying(name, &inventory);
        inv.0
            .save(&inv.1)
            .map_err(|e| StepError::new(format!("cannot save {}: {e}", inv.1.display())))?;
    }
    let files = plan
        .save(&rendered_dir, name)
        .map_err(|e| StepError::new(e.to_string()))?;
    let k = kubectl(ctx);
    if let Some(crds) = &files.crds {
        ctx.run_cmd(
            &step.id,
            &cmd_of(k.apply_argv(crds), &ctx.root, Duration::from_secs(300)),
            &format!("apply the CRDs of overlay {name}"),
        )
        .await?;
        ctx.run_cmd(
            &step.id,
            &cmd_of(
                k.wait_crds_argv(&plan.crd_names, timeout),
                &ctx.root,
                timeout + Duration::from_secs(30),
            ),
            &format!("wait for the CRDs of overlay {name} to be Established"),
        )
        .await?;
    }
    if let Some(rest) = &files.rest {
        ctx.run_cmd(
            &step.id,
            &cmd_of(k.apply_argv(rest), &ctx.root, Duration::from_secs(300)),
            &format!("apply overlay {name}"),
        )
        .await?;
    }
    let deadline = std::time::Instant::now() + timeout;
    for target in &plan.waits {
        let left = deadline
            .saturating_duration_since(std::time::Instant::now())
            .max(Duration::from_secs(1));
        let argv = k.wait_argv(target, left);
        if let Err(e) = ctx
            .run_cmd(
                &step.id,
                &cmd_of(argv, &ctx.root, left + Duration::from_secs(30)),
                &format!("wait for {target}"),
            )
            .await
        {
            if e.is_interrupted() {
                return Err(e);
            }
            let why = explain(ctx, &step.id, &k, target).await;
            return Err(StepError {
                message: format!(
                    "overlay {name}: {target} is not ready after {}:\n{why}\n{}",
                    humantime::format_duration(timeout),
                    e.message
                ),
                hint: Some(format!(
                    "raise overlays.timeout for {name}, or look at `kubectl -n {} describe {}/{}`",
                    target.namespace,
                    target.kind.resource(),
                    target.name
                )),
                exit: e.exit,
            });
        }
    }
    ctx.summary.lock().unwrap().overlays.push(OverlayRecord {
        name: name.into(),
        objects: rendered.manifests.len(),
        hash: rendered.sha256.clone(),
    });
    Ok(Done::Changed(Some(
        serde_json::json!({ "sha256": rendered.sha256, "objects": rendered.manifests.len() }),
    )))
}

/// The object's conditions and recent events, for a timeout message.
async fn explain(ctx: &Ctx, step_id: &str, k: &Kubectl, target: &overlays::WaitTarget) -> String {
    let t = Duration::from_secs(20);
    let object = ctx
        .run_cmd(
            step_id,
            &cmd_of(k.describe_argv(target), &ctx.root, t),
            "read the object",
        )
        .await
        .map(|o| o.stdout_str())
        .unwrap_or_default();
    let events = ctx
        .run_cmd(
            step_id,
            &cmd_of(k.events_argv(target), &ctx.root, t),
            "read its events",
        )
        .await
        .map(|o| o.stdout_str())
        .unwrap_or_default();
    overlays::explain_not_ready(&object, &events)
}

/// NetworkPolicy enforcement, node readiness, and a pull from the local registry. Runs the
/// plan's commands, with the probe's random namespace in place of `devenv-verify-RANDOM`.
pub async fn verify(ctx: &Ctx, step: &Step) -> Result<Done, StepError> {
    use overlays::verify::{
        interpret_probe_results, probe_arch_for_nodes, probe_image_tag, write_probe_context,
        VerifyProbe, DEFAULT_PROBE_PORT, PROBE_IMAGE_NAME,
    };
    if ctx.was_done(step) {
        return Ok(Done::Unchanged("verified on the last run".into()));
    }
    let [build, push, apply_server, wait_server, apply_clients, wait_clients, results, cleanup] =
        step.commands.as_slice()
    else {
        return Err(StepError::new(
            "the verify step of this plan is not the probe sequence",
        ));
    };
    let k = kubectl(ctx);
    // The probe image: built from what devenv ships, pushed only when the registry lacks it.
    write_probe_context(&ctx.state_dir().join("probe"))
        .map_err(|e| StepError::new(e.to_string()))?;
    let tag = probe_image_tag();
    let (host, prefix) = super::images::split_registry(&ctx.plan.registry.push);
    let client = crate::images::RegistryClient::new(crate::images::RegistryOptions::default())
        .map_err(|e| StepError::new(e.to_string()))?;
    if !matches!(
        client
            .has_manifest(&host, &format!("{prefix}{PROBE_IMAGE_NAME}"), &tag)
            .await,
        Ok(Some(_))
    ) {
        ctx.run(step, build).await?;
        ctx.run(step, push).await?;
    }
    let nodes = ctx
        .run_cmd(
            &step.id,
            &cmd_of(
                k.argv(&["get", "nodes", "-o", "json"]),
                &ctx.root,
                Duration::from_secs(30),
            ),
            "read the nodes",
        )
        .await?;
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&nodes.stdout) {
        let unready = super::calico::unready_nodes(&v);
        if !unready.is_empty() {
            return Err(StepError::new(format!(
                "nodes not Ready:\n  {}",
                unready.join("\n  ")
            )));
        }
    }
    // On devenv's k3d cluster, k3s's own CNI or policy controller beside Calico: the probe
    // would prove nothing. (An existing k3s cluster may rightly use k3s's own.)
    let conflicts =
        if ctx.loaded.config.cluster.provider == crate::config::schema::ClusterProvider::K3d {
            overlays::verify::k3s_conflicts_with_calico(&nodes.stdout_str())
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
    let arch = probe_arch_for_nodes(&nodes.stdout_str()).map_err(StepError::new)?;

    let pull_ref = format!("{}/{PROBE_IMAGE_NAME}:{tag}", ctx.plan.registry.pull);
    let probe = VerifyProbe::new(pull_ref, DEFAULT_PROBE_PORT).on(arch);
    let with_ns = |c: &PlannedCommand| {
        let mut c = c.clone();
        for a in c.args.iter_mut() {
            *a = a.replace("devenv-verify-RANDOM", &probe.namespace);
        }
        c
    };
    let dir = ctx.state_dir().join("verify");
    std::fs::create_dir_all(&dir).map_err(|e| StepError::new(e.to_string()))?;
    for (file, text) in [
        ("server.yaml", probe.server_manifests()),
        ("clients.yaml", probe.client_manifests()),
    ] {
        crate::state::write_atomic(&dir.join(file), text.as_bytes())
            .map_err(|e| StepError::new(e.to_string()))?;
    }
    let outcome = async {
        ctx.run(step, &with_ns(apply_server)).await?;
        if let Err(e) = ctx.run(step, &with_ns(wait_server)).await {
            if e.is_interrupted() {
                return Err(e);
            }
            // A bare "timed out" hides the usual cause (the probe image cannot be pulled
            // from the local registry): say what the server pod is stuck on.
            let argv = k.argv(&[
                "-n",
                &probe.namespace,
                "get",
                "pods",
                "-l",
                "devenv-probe=server",
                "-o",
                "json",
            ]);
            let why = ctx
                .run_cmd(
                    &step.id,
                    &cmd_of(argv, &ctx.root, Duration::from_secs(30)),
                    "read the probe server pod",
                )
                .await
                .map(|o| overlays::explain_pods(&o.stdout_str()))
                .unwrap_or_default();
            return Err(StepError {
                message: format!(
                    "the probe server did not become Ready:\n{why}\n{}",
                    e.message
                ),
                ..e
            });
        }
        ctx.run(step, &with_ns(apply_clients)).await?;
        let waited = ctx.run(step, &with_ns(wait_clients)).await;
        if let Err(e) = &waited {
            if e.is_interrupted() {
                return Err(e.clone());
            }
        }
        let pods = ctx.run(step, &with_ns(results)).await?;
        let report = interpret_probe_results(&pods.stdout_str());
        match waited {
            Err(e) if report.checks.is_empty() => Err(e),
            _ => Ok(report),
        }
    }
    .await;
    // Always clean up, even after a failure or a timeout.
    let _ = ctx.run(step, &with_ns(cleanup)).await;
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

/// On a shared cluster, a namespace that exists must carry this project's and owner's labels.
async fn check_namespaces_are_ours(
    ctx: &Ctx,
    step: &Step,
    inventory: &crate::tenancy::Inventory,
) -> Result<(), StepError> {
    let Some(iso) = &ctx.isolation else {
        return Ok(());
    };
    let target = crate::tenancy::KubectlTarget::new(&ctx.plan.context);
    for ns in inventory.namespaces() {
        if iso.mapping.is_shared(&ns) {
            continue;
        }
        let argv = target.get_namespace_argv(&ns);
        let out = ctx
            .run_cmd(
                &step.id,
                &cmd_of(argv, &ctx.root, Duration::from_secs(30)),
                &format!("read namespace {ns}"),
            )
            .await?;
        crate::tenancy::check_namespace_owner(&ns, &out.stdout_str(), &iso.labels).map_err(
            |m| match m.split_once("\n  = help: ") {
                Some((m, h)) => StepError::new(m.to_string()).hint(h.to_string()),
                None => StepError::new(m),
            },
        )?;
    }
    Ok(())
}

/// Delete what earlier runs applied and no overlay renders any more (the inventory), so an
/// object removed from the manifests is removed from the cluster too.
pub async fn prune(ctx: &Ctx, step: &Step) -> Result<Done, StepError> {
    // The namespaces step counts as an overlay while devenv.toml declares namespaces: when
    // [namespaces] goes, what it created is pruned like a dropped overlay.
    let namespaces_step = ctx
        .plan
        .step("namespaces")
        .is_some()
        .then(|| NAMESPACES_INVENTORY.to_string());
    let config_overlays: Vec<String> = ctx
        .loaded
        .config
        .overlays
        .iter()
        .map(|o| o.name.clone())
        .chain(namespaces_step)
        .collect();
    let rendered = ctx.rendered.lock().unwrap().clone();
    let mut doomed = ctx
        .inventory
        .lock()
        .unwrap()
        .0
        .prune_plan(&rendered, &config_overlays);
    if ctx.isolation.is_some() {
        // CRDs and other shared objects are never deleted on a shared cluster.
        let (ours, kept) = crate::tenancy::split_for_shared_cluster(doomed);
        for r in kept {
            ctx.reporter.warn(&format!(
                "{r} is no longer in the overlays but is shared by the cluster: left in place"
            ));
        }
        doomed = ours;
    }
    if doomed.is_empty() {
        let mut inv = ctx.inventory.lock().unwrap();
        inv.0.commit(&rendered, &config_overlays);
        let _ = inv.0.save(&inv.1);
        return Ok(Done::Unchanged("nothing removed from the overlays".into()));
    }
    crate::tenancy::sort_for_delete(&mut doomed);
    let target = delete_target(ctx);
    for argv in target.delete_batches(&doomed) {
        ctx.run_cmd(
            &step.id,
            &cmd_of(argv, &ctx.root, Duration::from_secs(300)),
            "delete objects removed from the overlays",
        )
        .await?;
    }
    let mut inv = ctx.inventory.lock().unwrap();
    inv.0.commit(&rendered, &config_overlays);
    inv.0
        .save(&inv.1)
        .map_err(|e| StepError::new(format!("cannot save {}: {e}", inv.1.display())))?;
    Ok(Done::Changed(Some(
        serde_json::json!({ "pruned": doomed.iter().map(|r| r.to_string()).collect::<Vec<_>>() }),
    )))
}

/// The name under which the namespaces step's objects are kept in the inventory (not a valid
/// overlay name, so it cannot collide).
pub const NAMESPACES_INVENTORY: &str = "@namespaces";

/// kubectl as devenv reaches this project's cluster, for deletes.
pub fn delete_target(ctx: &Ctx) -> crate::tenancy::KubectlTarget {
    let mut t = crate::tenancy::KubectlTarget::new(&ctx.plan.context);
    if ctx.loaded.config.cluster.provider == crate::config::schema::ClusterProvider::K3d {
        t.kubeconfig = Some(crate::plan::KUBECONFIG_PATH.to_string());
    }
    t
}
