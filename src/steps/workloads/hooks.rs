//! Hooks: a unit's Helm hook objects (`helm.sh/hook`), run as Helm runs them on install
//! and upgrade, around its main objects: the `pre-*` hooks after its CRDs and before the
//! rest, the `post-*` hooks once the rest is ready. What a hook is and the order are in
//! [`crate::deploy::Hook`] and [`crate::deploy::hooks_for`] (with Helm's sources named).
//!
//! Hooks run when the unit's rendering changed (an unchanged unit is done before, as Helm
//! runs upgrade hooks only on an upgrade), and they are not in the unit's inventory: a
//! hook Job that `hook-succeeded` deleted is neither pruned nor created again by a no-op
//! `up`, and one left in place stays as Helm leaves it (its namespace goes with `down`).

use std::path::Path;
use std::time::Duration;

use super::wait::{self, WaitFailure};
use super::StepKubectl;
use crate::deploy::{
    self, hooks_for, ApplyPlan, DeletePolicy, Hook, Phase, Release, RenderedOverlay, Unit,
    WaitKind, WaitSpec, WaitTarget,
};
use crate::engine::{Ctx, StepError};
use crate::plan::Step;
use crate::tenancy::Inventory;

/// Install the first time the unit is applied, upgrade after: the journal keeps the
/// rendering's sha256 of the unit's last successful deploy (`down` and `reset` forget it,
/// so the next `up` installs again).
pub(super) fn release(ctx: &Ctx, step: &Step) -> Release {
    match ctx.detail(&step.id).and_then(|d| d.get("sha256").cloned()) {
        Some(_) => Release::Upgrade,
        None => Release::Install,
    }
}

/// The unit's inventory without its hook objects, also for this run's prune (which keeps
/// what the units render now): hooks are not the unit's objects but runs of it.
pub(super) fn set_apart(
    ctx: &Ctx,
    name: &str,
    rendered: &RenderedOverlay,
    mut inventory: Inventory,
) -> Result<Inventory, StepError> {
    // Namespaces resolved exactly as the split does; no wait needed to find the hooks.
    let hooks = deploy::plan_apply(rendered, &default_namespace(ctx), &WaitSpec::None)
        .map_err(|e| StepError::new(e.to_string()))?
        .hooks;
    if hooks.is_empty() {
        return Ok(inventory);
    }
    let refs: Vec<_> = hooks.iter().map(Hook::object).collect();
    inventory
        .objects
        .retain(|o| !refs.iter().any(|r| r.identity() == o.identity()));
    ctx.rendered
        .lock()
        .unwrap()
        .insert(name.to_string(), inventory.clone());
    Ok(inventory)
}

/// The namespace of objects rendered without one (the owner's on a shared cluster).
fn default_namespace(ctx: &Ctx) -> String {
    match &ctx.isolation {
        Some(iso) => iso.mapping.map(&iso.default_namespace),
        None => "default".to_string(),
    }
}

/// Runs the hooks of `phase` (the event `release` picks), one at a time in Helm's order:
/// `before-hook-creation` deletes the previous object first, then it is applied and waited
/// for; a failure stops (and deletes it if `hook-failed`); once all succeeded, those with
/// `hook-succeeded` are deleted, last first. Before the `pre-*` hooks, the unit's
/// Namespaces are applied (a hook may live in them). `dir` is `.devenv/rendered`.
pub(super) async fn run(
    kube: &StepKubectl<'_>,
    unit: &Unit,
    plan: &ApplyPlan,
    release: Release,
    phase: Phase,
    dir: &Path,
) -> Result<(), StepError> {
    let event = release.event(phase);
    let hooks = hooks_for(&plan.hooks, event);
    if hooks.is_empty() {
        return Ok(());
    }
    let folder = dir
        .join(format!("{}.hooks", unit.name))
        .join(event.as_str());
    let _ = std::fs::remove_dir_all(&folder);
    let write = |file: &str, yaml: &str| {
        let path = folder.join(file);
        deploy::write_atomic(&path, yaml.as_bytes())
            .map(|()| path)
            .map_err(|e| StepError::new(e.to_string()))
    };
    if let (Phase::Pre, Some(namespaces)) = (phase, &plan.namespaces) {
        let file = write("namespaces.yaml", namespaces)?;
        kube.run(
            kube.k.apply_argv(&file),
            Duration::from_secs(300),
            &format!("apply the namespaces of {unit} before its {event} hooks"),
        )
        .await?;
    }
    for (i, hook) in hooks.iter().enumerate() {
        if hook.deletes_on(DeletePolicy::BeforeHookCreation) {
            delete(kube, unit, hook, "before it is created again").await?;
        }
        let file = write(
            &format!(
                "{i:02}-{}-{}.yaml",
                hook.manifest.kind.to_lowercase(),
                hook.manifest.name
            ),
            &hook.manifest.raw,
        )?;
        kube.run(
            kube.k.apply_argv(&file),
            Duration::from_secs(300),
            &format!("apply the {event} hook {hook} of {unit}"),
        )
        .await?;
        if let Err(e) = until_ready(kube, unit, hook).await {
            if e.is_interrupted() {
                return Err(e);
            }
            let e = StepError {
                message: format!("{unit}: {event} hook {}", e.message),
                ..e
            };
            if hook.deletes_on(DeletePolicy::HookFailed) {
                delete(kube, unit, hook, "as its hook-failed policy says").await?;
            }
            // helm v4 deletes the hooks that succeeded before it too (`hook-succeeded`).
            delete_succeeded(kube, unit, &hooks[..i]).await?;
            return Err(e);
        }
        kube.ctx
            .reporter
            .info(&format!("{unit}: {event} hook {hook} succeeded"));
    }
    delete_succeeded(kube, unit, &hooks).await
}

/// The hooks with `hook-succeeded`, deleted last first.
async fn delete_succeeded(
    kube: &StepKubectl<'_>,
    unit: &Unit,
    hooks: &[&Hook],
) -> Result<(), StepError> {
    for hook in hooks.iter().rev() {
        if hook.deletes_on(DeletePolicy::HookSucceeded) {
            delete(kube, unit, hook, "as its hook-succeeded policy says").await?;
        }
    }
    Ok(())
}

/// Deletes the hook object and waits until it is gone (a Job with its pods), within the
/// unit's timeout.
async fn delete(
    kube: &StepKubectl<'_>,
    unit: &Unit,
    hook: &Hook,
    why: &str,
) -> Result<(), StepError> {
    let object = hook.object();
    kube.run(
        kube.k.delete_foreground_argv(
            &object.resource_arg(),
            &object.name,
            object.namespace.as_deref(),
            unit.timeout,
        ),
        unit.timeout + Duration::from_secs(30),
        &format!("delete the hook {hook} of {unit} {why}"),
    )
    .await
    .map(|_| ())
}

/// Waits as Helm's `WatchUntilReady` does: a Job until Complete or Failed, a Pod until
/// Succeeded or Failed, any other kind is ready once applied. The error's message starts
/// with the hook (`job/NAME in NS …`).
async fn until_ready(kube: &StepKubectl<'_>, unit: &Unit, hook: &Hook) -> Result<(), StepError> {
    let Some(namespace) = hook.namespace.clone() else {
        return Ok(());
    };
    let timeout = unit.timeout;
    match hook.manifest.kind.as_str() {
        "Job" if hook.manifest.group() == "batch" => {
            let target = WaitTarget {
                kind: WaitKind::Job,
                namespace,
                name: hook.manifest.name.clone(),
            };
            match wait::wait_for_job(kube, &target, timeout).await {
                Ok(()) => Ok(()),
                // The explanation: its condition, pods, events and last log lines.
                Err(WaitFailure::JobFailed(e)) => {
                    let again = if hook.deletes_on(DeletePolicy::HookFailed) {
                        " (its hook-failed policy deleted the failed Job)".to_string()
                    } else if hook.deletes_on(DeletePolicy::BeforeHookCreation) {
                        " (before-hook-creation deletes the failed Job first)".to_string()
                    } else {
                        format!(
                            " once the failed Job is gone (`kubectl -n {} delete job {}`)",
                            target.namespace, target.name
                        )
                    };
                    Err(e.hint(format!(
                        "fix what the log says, then run devenv up again: the hook runs again{again}"
                    )))
                }
                Err(WaitFailure::NotReady(e)) if e.is_interrupted() => Err(e),
                Err(WaitFailure::NotReady(e)) => {
                    let why = wait::explain(kube, &target).await;
                    Err(not_ready(unit, hook, &why, e))
                }
            }
        }
        "Pod" if hook.manifest.group().is_empty() => {
            pod_until_done(kube, unit, hook, &namespace).await
        }
        _ => Ok(()),
    }
}

/// A Pod hook: its phase Succeeded, raced with Failed (a failed Pod never succeeds).
async fn pod_until_done(
    kube: &StepKubectl<'_>,
    unit: &Unit,
    hook: &Hook,
    namespace: &str,
) -> Result<(), StepError> {
    let timeout = unit.timeout;
    let object = format!("pod/{}", hook.manifest.name);
    let argv = |phase: &str| {
        let for_ = format!("--for=jsonpath={{.status.phase}}={phase}");
        kube.k.argv(&[
            "-n",
            namespace,
            "wait",
            &for_,
            &deploy::timeout_flag(timeout),
            &object,
        ])
    };
    let grace = timeout + Duration::from_secs(30);
    let succeeded = kube.run(argv("Succeeded"), grace, "wait for the hook pod to succeed");
    let failed = kube.run(argv("Failed"), grace, "watch the hook pod for failure");
    tokio::pin!(succeeded, failed);
    let failed_first = tokio::select! {
        done = &mut succeeded => match done {
            Ok(_) => return Ok(()),
            Err(e) if e.is_interrupted() => return Err(e),
            // Not Succeeded in time: did it fail? (Same timeout: it answers now.)
            Err(e) => match failed.await {
                Ok(_) => None,
                Err(_) => Some(e),
            },
        },
        f = &mut failed => match f {
            Ok(_) => None,
            Err(e) if e.is_interrupted() => return Err(e),
            Err(_) => match succeeded.await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_interrupted() => return Err(e),
                Err(e) => Some(e),
            },
        },
    };
    let pods = kube
        .run(
            kube.k.argv(&[
                "get",
                "pod",
                &hook.manifest.name,
                "-n",
                namespace,
                "-o",
                "json",
            ]),
            Duration::from_secs(20),
            "read the hook pod",
        )
        .await
        .map(|o| deploy::explain_pods(&format!("{{\"items\":[{}]}}", o.stdout_str())))
        .unwrap_or_default();
    match failed_first {
        None => Err(
            StepError::new(format!("{hook} failed:\n{pods}")).hint(format!(
                "fix what `kubectl -n {namespace} logs {}` says, then run devenv up again",
                hook.manifest.name
            )),
        ),
        Some(e) => Err(not_ready(unit, hook, &pods, e)),
    }
}

/// A hook not done within the unit's timeout (or failed without a Job's explanation).
fn not_ready(unit: &Unit, hook: &Hook, why: &str, e: StepError) -> StepError {
    StepError {
        message: format!(
            "{hook} is not done after {}:\n{why}\n{}",
            humantime::format_duration(unit.timeout),
            e.message
        ),
        hint: Some(format!(
            "raise {}.timeout for {}, or look at `kubectl{} describe {}`",
            unit.kind.table(),
            unit.name,
            hook.namespace
                .as_deref()
                .map(|n| format!(" -n {n}"))
                .unwrap_or_default(),
            hook.manifest.display_name()
        )),
        exit: e.exit,
    }
}
