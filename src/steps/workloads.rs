//! What runs in the cluster: namespaces, the team's overlays (rendered with Kustomize, CRDs
//! first, then waited for), and the NetworkPolicy verification probe.

use std::time::Duration;

use crate::config::schema::WaitSpec as ConfigWait;
use crate::engine::{Ctx, Done, StepError};
use crate::overlays::{self, Kubectl, RenderedOverlay, WaitSpec};
use crate::plan::Step;
use crate::runner::Cmd;
use crate::ui::OverlayRecord;

/// The kubectl devenv uses for this project (its kubeconfig and context). On an existing
/// cluster the kubeconfig is empty: kubectl reads the user's as it always does (every file
/// of a `KUBECONFIG` list, merged; naming only the first would lose contexts of the others).
pub fn kubectl(ctx: &Ctx) -> Kubectl {
    Kubectl::from_target(&ctx.plan.kube.clone().under(&ctx.root))
}

fn cmd_of(argv: Vec<String>, cwd: &std::path::Path, timeout: Duration) -> Cmd {
    let mut it = argv.into_iter();
    let program = it.next().unwrap_or_else(|| "kubectl".into());
    Cmd::new(program)
        .args(it)
        .cwd(cwd.to_path_buf())
        .timeout(timeout)
}

pub async fn namespaces(ctx: &Ctx, step: &Step, apply: &Cmd) -> Result<Done, StepError> {
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
    ctx.run(step, apply).await?;
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
pub async fn render(
    ctx: &Ctx,
    step: &Step,
    overlay: &crate::plan::step::Render,
) -> Result<Done, StepError> {
    let name = overlay.name.as_str();
    let out = ctx.run(step, &overlay.render).await?;
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
    // What devenv applied before this run: the objects it may delete and create again when
    // a change touches a field that cannot change in place.
    let applied_before = ctx.inventory.lock().unwrap().0.all();
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
        let apply = cmd_of(k.apply_argv(rest), &ctx.root, Duration::from_secs(300));
        let purpose = format!("apply overlay {name}");
        // What the API server refuses for a while or until devenv acts: a namespace still
        // terminating (wait until it is gone, then the apply creates it again), a field that
        // cannot change in place (re-create the object). Then apply again (one cause may
        // hide the other: a re-created object meets the terminating namespace).
        let mut retries = 0;
        while let Err(e) = ctx.run_cmd(&step.id, &apply, &purpose).await {
            if e.is_interrupted() || retries == 2 {
                return Err(e);
            }
            let terminating = overlays::terminating_namespaces(&e.message);
            let changes = overlays::parse_immutable_changes(&e.message);
            if terminating.is_empty() && changes.is_empty() {
                return Err(e);
            }
            retries += 1;
            if !terminating.is_empty() {
                wait_namespaces_gone(ctx, &step.id, &k, name, &terminating, timeout).await?;
            }
            if !changes.is_empty() {
                recreate(
                    ctx,
                    &step.id,
                    &k,
                    name,
                    &inventory,
                    &applied_before,
                    &changes,
                    timeout,
                )
                .await?;
            }
        }
    }
    let deadline = std::time::Instant::now() + timeout;
    for target in &plan.waits {
        let left = deadline
            .saturating_duration_since(std::time::Instant::now())
            .max(Duration::from_secs(1));
        if let Err(e) = wait_for(ctx, &step.id, &k, &rendered, target, left).await {
            if e.is_interrupted() || e.message.starts_with(FAILED_JOB) {
                return Err(StepError {
                    message: e
                        .message
                        .replacen(FAILED_JOB, &format!("overlay {name}: "), 1),
                    ..e
                });
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

/// Marks a wait error that already says everything (a failed Job): reported as it is.
const FAILED_JOB: &str = "\u{0}failed-job: ";

/// Waits until `target` is ready: `rollout status` for rolling updates, the Job's `Complete`
/// raced with its `Failed` (a failed Job is reported at once, with its pod's last log lines
/// and events), and for an `OnDelete` StatefulSet or DaemonSet (which `rollout status`
/// refuses) its status read until enough pods are ready.
async fn wait_for(
    ctx: &Ctx,
    step_id: &str,
    k: &Kubectl,
    rendered: &RenderedOverlay,
    target: &overlays::WaitTarget,
    left: Duration,
) -> Result<(), StepError> {
    let grace = Duration::from_secs(30);
    let purpose = format!("wait for {target}");
    match target.kind {
        overlays::WaitKind::Job => {
            let complete_cmd = cmd_of(k.wait_argv(target, left), &ctx.root, left + grace);
            let failed_cmd = cmd_of(k.wait_failed_argv(target, left), &ctx.root, left + grace);
            let failed_purpose = format!("watch {target} for failure");
            let complete = ctx.run_cmd(step_id, &complete_cmd, &purpose);
            let failed = ctx.run_cmd(step_id, &failed_cmd, &failed_purpose);
            tokio::pin!(complete, failed);
            let failed_first = tokio::select! {
                done = &mut complete => match done {
                    Ok(_) => return Ok(()),
                    Err(e) if e.is_interrupted() => return Err(e),
                    // Not Complete in time: did it fail? (The failure watch has the same
                    // timeout: it answers now.)
                    Err(e) => match failed.await {
                        Ok(_) => true,
                        Err(_) => return Err(e),
                    },
                },
                f = &mut failed => f.is_ok(),
            };
            if !failed_first {
                // The failure watch gave up (its timeout, or it was interrupted): the
                // completion wait decides.
                return complete.await.map(|_| ());
            }
            Err(StepError::new(format!(
                "{FAILED_JOB}{}",
                explain_failed_job(ctx, step_id, k, target).await
            ))
            .hint(format!(
                "fix what the log says, then run devenv up again (the Job is re-created when its spec changes; `kubectl -n {} delete job {}` to run it again as it is)",
                target.namespace, target.name
            )))
        }
        overlays::WaitKind::StatefulSet | overlays::WaitKind::DaemonSet
            if overlays::updates_on_delete(rendered, target) =>
        {
            poll_ready(ctx, step_id, k, target, left).await
        }
        _ => {
            let argv = k.wait_argv(target, left);
            match ctx
                .run_cmd(step_id, &cmd_of(argv, &ctx.root, left + grace), &purpose)
                .await
            {
                Err(e)
                    if !e.is_interrupted() && overlays::rollout_status_unsupported(&e.message) =>
                {
                    poll_ready(ctx, step_id, k, target, left).await
                }
                other => other.map(|_| ()),
            }
        }
    }
}

/// Reads a StatefulSet or DaemonSet that `rollout status` cannot follow (`OnDelete`) until
/// its pods are ready ([`overlays::ready_without_rollout`]), twice a second.
async fn poll_ready(
    ctx: &Ctx,
    step_id: &str,
    k: &Kubectl,
    target: &overlays::WaitTarget,
    left: Duration,
) -> Result<(), StepError> {
    let deadline = std::time::Instant::now() + left;
    let mut why;
    loop {
        let read = ctx
            .run_cmd(
                step_id,
                &cmd_of(k.describe_argv(target), &ctx.root, Duration::from_secs(30)),
                &format!("read {target}"),
            )
            .await;
        match read {
            Err(e) if e.is_interrupted() => return Err(e),
            Err(e) => why = e.message,
            Ok(out) => match overlays::ready_without_rollout(&out.stdout_str()) {
                Ok(old_pods) => {
                    if old_pods {
                        ctx.reporter.info(&format!(
                            "{target} updates its pods OnDelete: some still run the previous template (delete them to update them)"
                        ));
                    }
                    return Ok(());
                }
                Err(w) => why = w,
            },
        }
        if std::time::Instant::now() >= deadline {
            return Err(StepError::new(format!(
                "timed out waiting for {target} ({why})"
            )));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = ctx.runner.cancel_token().cancelled() => return Err(StepError::interrupted()),
        }
    }
}

/// How many log lines of a failed Job's pod are shown.
const JOB_LOG_LINES: usize = 20;

/// A failed Job: why (its Failed condition), its pods, its last log lines and its events.
async fn explain_failed_job(
    ctx: &Ctx,
    step_id: &str,
    k: &Kubectl,
    target: &overlays::WaitTarget,
) -> String {
    let t = Duration::from_secs(20);
    let (object, events) = object_and_events(ctx, step_id, k, target).await;
    let reason = overlays::job_failure(&object).unwrap_or_else(|| "Failed".into());
    let selector = format!("batch.kubernetes.io/job-name={}", target.name);
    let pods = ctx
        .run_cmd(
            step_id,
            &cmd_of(k.pods_argv(&target.namespace, &selector), &ctx.root, t),
            "read its pods",
        )
        .await
        .map(|o| overlays::explain_pods(&o.stdout_str()))
        .unwrap_or_default();
    let logs = match ctx
        .runner
        .run_unchecked(
            &crate::engine::log_name(step_id),
            &cmd_of(k.job_logs_argv(target, JOB_LOG_LINES), &ctx.root, t),
        )
        .await
    {
        Ok(o) if o.success() && !o.stdout_str().trim().is_empty() => o
            .stdout_str()
            .lines()
            .map(|l| format!("  | {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
        Ok(o) if o.success() => "  (the pod wrote nothing)".to_string(),
        Ok(o) => format!("  (no log: {})", o.stderr_str().trim()),
        Err(e) => format!("  (no log: {e})"),
    };
    format!(
        "{target} failed ({reason}):\n{}\n{pods}\nlast log lines of its pod:\n{logs}",
        overlays::explain_not_ready(&object, &events)
    )
}

/// Deletes (foreground: with its pods) and lets the caller apply again each object whose
/// change the API server refused because a field cannot change in place, when devenv
/// applied it before (its inventory, or on a shared cluster this project's and owner's
/// labels). An object devenv did not apply is never deleted: the error names the field and
/// what to do.
#[allow(clippy::too_many_arguments)]
async fn recreate(
    ctx: &Ctx,
    step_id: &str,
    k: &Kubectl,
    overlay: &str,
    inventory: &crate::tenancy::Inventory,
    applied_before: &crate::tenancy::Inventory,
    changes: &[overlays::ImmutableChange],
    timeout: Duration,
) -> Result<(), StepError> {
    // Every object first: if one is not devenv's, nothing is deleted at all.
    let mut doomed = Vec::new();
    for change in changes {
        // The object in this overlay's rendering (the error names kind and name only).
        let refs: Vec<&crate::tenancy::ObjectRef> = inventory
            .objects
            .iter()
            .filter(|r| r.kind == change.kind && r.group() == change.group && r.name == change.name)
            .collect();
        let what = format!("{}/{}", change.display_kind(), change.name);
        if refs.is_empty() {
            return Err(StepError::new(format!(
                "overlay {overlay}: {what} cannot be changed in place ({} cannot change) and is not in the overlay's rendering",
                change.fields_text()
            )));
        }
        for r in refs {
            let ns = r.namespace.as_deref();
            let ours = applied_before
                .objects
                .iter()
                .any(|a| a.identity() == r.identity())
                || owned_by_labels(ctx, step_id, k, r).await;
            let place = ns.map(|n| format!(" in {n}")).unwrap_or_default();
            if !ours {
                let ns_flag = ns.map(|n| format!(" -n {n}")).unwrap_or_default();
                return Err(StepError::new(format!(
                    "overlay {overlay}: {what}{place} cannot be changed in place ({} cannot change once it exists), and devenv did not create it, so it is left alone",
                    change.fields_text()
                ))
                .hint(format!(
                    "delete it yourself (`kubectl{ns_flag} delete {} {}`) and run devenv up again, or undo the change to {}",
                    change.display_kind(),
                    change.name,
                    change.fields_text()
                )));
            }
            doomed.push((change, r, what.clone(), place));
        }
    }
    for (change, r, what, place) in doomed {
        ctx.run_cmd(
            step_id,
            &cmd_of(
                k.delete_foreground_argv(
                    &r.resource_arg(),
                    &r.name,
                    r.namespace.as_deref(),
                    timeout,
                ),
                &ctx.root,
                timeout + Duration::from_secs(30),
            ),
            &format!("delete {what}{place} to create it again"),
        )
        .await?;
        ctx.reporter.info(&format!(
            "overlay {overlay}: re-created {what}{place} ({} cannot change in place)",
            change.fields_text()
        ));
    }
    Ok(())
}

/// Namespaces the overlay applies into that are still being deleted (a `down` that did not
/// wait, someone's `kubectl delete namespace`): wait until they are gone, within the
/// overlay's timeout, saying so.
async fn wait_namespaces_gone(
    ctx: &Ctx,
    step_id: &str,
    k: &Kubectl,
    overlay: &str,
    namespaces: &[String],
    timeout: Duration,
) -> Result<(), StepError> {
    ctx.reporter.info(&format!(
        "overlay {overlay}: namespace(s) {} still terminating: waiting up to {} for them to be gone",
        namespaces.join(", "),
        humantime::format_duration(timeout)
    ));
    let mut args = vec![
        "wait".to_string(),
        "--for=delete".to_string(),
        crate::overlays::timeout_flag(timeout),
    ];
    args.extend(namespaces.iter().map(|n| format!("namespace/{n}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ctx.run_cmd(
        step_id,
        &cmd_of(k.argv(&args), &ctx.root, timeout + Duration::from_secs(30)),
        &format!("wait for namespace(s) {} to be gone", namespaces.join(", ")),
    )
    .await
    .map(|_| ())
    .map_err(|e| {
        let hint = format!(
            "`kubectl get namespace {} -o yaml` shows what holds it (finalizers of objects still in it)",
            namespaces[0]
        );
        e.hint(hint)
    })
}

/// On a shared cluster, an object that carries this project's and owner's labels was
/// applied by devenv for this owner (an inventory lost with `.devenv/`).
async fn owned_by_labels(
    ctx: &Ctx,
    step_id: &str,
    k: &Kubectl,
    r: &crate::tenancy::ObjectRef,
) -> bool {
    let Some(iso) = &ctx.isolation else {
        return false;
    };
    let resource = r.resource_arg();
    let mut args = vec!["get", resource.as_str(), r.name.as_str(), "-o", "json"];
    if let Some(ns) = &r.namespace {
        args.extend(["-n", ns.as_str()]);
    }
    let Ok(out) = ctx
        .run_cmd(
            step_id,
            &cmd_of(k.argv(&args), &ctx.root, Duration::from_secs(30)),
            &format!("read {r}"),
        )
        .await
    else {
        return false;
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
        return false;
    };
    iso.labels.pairs().iter().all(|(key, want)| {
        v.pointer("/metadata/labels")
            .and_then(|l| l.get(*key))
            .and_then(|x| x.as_str())
            == Some(*want)
    })
}

/// The object's conditions and recent events, for a timeout message.
async fn explain(ctx: &Ctx, step_id: &str, k: &Kubectl, target: &overlays::WaitTarget) -> String {
    let (object, events) = object_and_events(ctx, step_id, k, target).await;
    overlays::explain_not_ready(&object, &events)
}

/// The object (`get -o json`) and its events, as read for a failure message: each empty
/// when it cannot be read (the message then says less, it does not fail).
async fn object_and_events(
    ctx: &Ctx,
    step_id: &str,
    k: &Kubectl,
    target: &overlays::WaitTarget,
) -> (String, String) {
    let t = Duration::from_secs(20);
    let read = |argv: Vec<String>, purpose: &'static str| async move {
        ctx.run_cmd(step_id, &cmd_of(argv, &ctx.root, t), purpose)
            .await
            .map(|o| o.stdout_str())
            .unwrap_or_default()
    };
    let object = read(k.describe_argv(target), "read the object").await;
    let events = read(k.events_argv(target), "read its events").await;
    (object, events)
}

/// NetworkPolicy enforcement, node readiness, and a pull from the local registry. Runs the
/// plan's commands, with the probe's random namespace in place of `devenv-verify-RANDOM`.
pub async fn verify(
    ctx: &Ctx,
    step: &Step,
    probe_cmds: &crate::plan::step::Verify,
) -> Result<Done, StepError> {
    use overlays::verify::{
        interpret_probe_results, probe_arch_for_nodes, probe_image_tag, write_probe_context,
        VerifyProbe, DEFAULT_PROBE_PORT, PROBE_IMAGE_NAME,
    };
    if ctx.was_done(step) {
        return Ok(Done::Unchanged("verified on the last run".into()));
    }
    let crate::plan::step::Verify {
        build,
        push,
        apply_server,
        wait_server,
        apply_clients,
        wait_clients,
        results,
        cleanup,
    } = probe_cmds;
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
    let conflicts = if ctx.plan.kube.is_k3d() {
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

    // A verify killed half-way left its namespace: delete it first.
    if let Some(old) = crate::overlays::verify::leftover_namespace(&ctx.state_dir()) {
        ctx.reporter.info(&format!(
            "deleting the probe namespace {old} an interrupted verify left behind"
        ));
        ctx.run_cmd(
            &step.id,
            &cmd_of(
                crate::overlays::verify::leftover_cleanup_argv(&k, &old),
                &ctx.root,
                Duration::from_secs(60),
            ),
            "delete a leftover probe namespace",
        )
        .await?;
        crate::overlays::verify::clear_pending_namespace(&ctx.state_dir());
    }
    let pull_ref = format!("{}/{PROBE_IMAGE_NAME}:{tag}", ctx.plan.registry.pull);
    let probe = VerifyProbe::new(pull_ref, DEFAULT_PROBE_PORT).on(arch);
    crate::overlays::verify::record_pending_namespace(&ctx.state_dir(), &probe.namespace)
        .map_err(|e| StepError::new(format!("cannot write .devenv/verify/namespace: {e}")))?;
    let with_ns = |c: &Cmd| {
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
    if ctx.run(step, &with_ns(cleanup)).await.is_ok() {
        crate::overlays::verify::clear_pending_namespace(&ctx.state_dir());
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
    if let Some(isolation) = &ctx.isolation {
        // On a shared cluster, only what still carries this project's and owner's labels:
        // the inventory is a file, and a stale or planted one must not delete someone
        // else's objects.
        let mut listings = Vec::new();
        for argv in target.get_batches(&doomed) {
            let out = ctx
                .run_cmd(
                    &step.id,
                    &cmd_of(argv, &ctx.root, Duration::from_secs(120)),
                    "read the objects to delete",
                )
                .await?;
            listings.push(out.stdout_str());
        }
        let (ours, foreign) = crate::tenancy::owned_objects(
            &doomed,
            &listings,
            &isolation.labels.project,
            &isolation.labels.owner,
        );
        for r in foreign {
            ctx.reporter.warn(&format!(
                "{r} is in the inventory but does not carry this project's and owner's labels: left in place"
            ));
        }
        doomed = ours;
        crate::tenancy::sort_for_delete(&mut doomed);
    }
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
    crate::tenancy::KubectlTarget::from_target(&ctx.plan.kube)
}
