//! Wait: until each of the unit's wait targets is ready, within the unit's timeout, and
//! when one is not, say why (its conditions and events; a failed Job's pods and log lines).

use std::time::{Duration, Instant};

use super::StepKubectl;
use crate::deploy::{self, RenderedOverlay, Unit, WaitKind, WaitTarget};
use crate::engine::StepError;

/// How a wait ended when it did not succeed.
pub(super) enum WaitFailure {
    /// A Job that failed: the error already says why (its condition, pods and log lines).
    JobFailed(StepError),
    /// Not ready in time, a command that failed, or an interruption.
    NotReady(StepError),
}

impl From<StepError> for WaitFailure {
    fn from(e: StepError) -> WaitFailure {
        WaitFailure::NotReady(e)
    }
}

/// Waits for every target in turn; together they have the unit's timeout.
pub(super) async fn wait_all(
    kube: &StepKubectl<'_>,
    unit: &Unit,
    rendered: &RenderedOverlay,
    targets: &[WaitTarget],
) -> Result<(), StepError> {
    let timeout = unit.timeout;
    let deadline = Instant::now() + timeout;
    for target in targets {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(1));
        let e = match wait_for(kube, rendered, target, left).await {
            Ok(()) => continue,
            Err(WaitFailure::JobFailed(e)) => {
                return Err(StepError {
                    message: format!("{unit}: {}", e.message),
                    ..e
                })
            }
            Err(WaitFailure::NotReady(e)) if e.is_interrupted() => return Err(e),
            Err(WaitFailure::NotReady(e)) => e,
        };
        let why = explain(kube, target).await;
        return Err(StepError {
            message: format!(
                "{unit}: {target} is not ready after {}:\n{why}\n{}",
                humantime::format_duration(timeout),
                e.message
            ),
            hint: Some(format!(
                "raise {}.timeout for {}, or look at `kubectl -n {} describe {}/{}`",
                unit.kind.table(),
                unit.name,
                target.namespace,
                target.kind.resource(),
                target.name
            )),
            exit: e.exit,
        });
    }
    Ok(())
}

/// Waits until `target` is ready: `rollout status` for rolling updates, the Job's `Complete`
/// raced with its `Failed` (a failed Job is reported at once, with its pod's last log lines
/// and events), and for an `OnDelete` StatefulSet or DaemonSet (which `rollout status`
/// refuses) its status read until enough pods are ready.
async fn wait_for(
    kube: &StepKubectl<'_>,
    rendered: &RenderedOverlay,
    target: &WaitTarget,
    left: Duration,
) -> Result<(), WaitFailure> {
    let grace = Duration::from_secs(30);
    let purpose = format!("wait for {target}");
    match target.kind {
        WaitKind::Job => wait_for_job(kube, target, left).await,
        WaitKind::StatefulSet | WaitKind::DaemonSet
            if deploy::updates_on_delete(rendered, target) =>
        {
            Ok(poll_ready(kube, target, left).await?)
        }
        _ => {
            match kube
                .run(kube.k.wait_argv(target, left), left + grace, &purpose)
                .await
            {
                Err(e) if !e.is_interrupted() && deploy::rollout_status_unsupported(&e.message) => {
                    Ok(poll_ready(kube, target, left).await?)
                }
                other => Ok(other.map(|_| ())?),
            }
        }
    }
}

/// A Job's `Complete` raced with its `Failed`: a failed Job never becomes Complete, so
/// waiting for Complete alone would notice the failure only at the timeout.
pub(super) async fn wait_for_job(
    kube: &StepKubectl<'_>,
    target: &WaitTarget,
    left: Duration,
) -> Result<(), WaitFailure> {
    let grace = Duration::from_secs(30);
    let purpose = format!("wait for {target}");
    let failed_purpose = format!("watch {target} for failure");
    let complete = kube.run(kube.k.wait_argv(target, left), left + grace, &purpose);
    let failed = kube.run(
        kube.k.wait_failed_argv(target, left),
        left + grace,
        &failed_purpose,
    );
    tokio::pin!(complete, failed);
    let failed_first = tokio::select! {
        done = &mut complete => match done {
            Ok(_) => return Ok(()),
            Err(e) if e.is_interrupted() => return Err(e.into()),
            // Not Complete in time: did it fail? (The failure watch has the same
            // timeout: it answers now.)
            Err(e) => match failed.await {
                Ok(_) => true,
                Err(_) => return Err(e.into()),
            },
        },
        f = &mut failed => f.is_ok(),
    };
    if !failed_first {
        // The failure watch gave up (its timeout, or it was interrupted): the
        // completion wait decides.
        return Ok(complete.await.map(|_| ())?);
    }
    Err(WaitFailure::JobFailed(
        StepError::new(explain_failed_job(kube, target).await).hint(format!(
            "fix what the log says, then run devenv up again (the Job is re-created when its spec changes; `kubectl -n {} delete job {}` to run it again as it is)",
            target.namespace, target.name
        )),
    ))
}

/// Reads a StatefulSet or DaemonSet that `rollout status` cannot follow (`OnDelete`) until
/// its pods are ready ([`deploy::ready_without_rollout`]), twice a second.
async fn poll_ready(
    kube: &StepKubectl<'_>,
    target: &WaitTarget,
    left: Duration,
) -> Result<(), StepError> {
    let deadline = Instant::now() + left;
    let mut why;
    loop {
        let read = kube
            .run(
                kube.k.describe_argv(target),
                Duration::from_secs(30),
                &format!("read {target}"),
            )
            .await;
        match read {
            Err(e) if e.is_interrupted() => return Err(e),
            Err(e) => why = e.message,
            Ok(out) => match deploy::ready_without_rollout(&out.stdout_str()) {
                Ok(old_pods) => {
                    if old_pods {
                        kube.ctx.reporter.info(&format!(
                            "{target} updates its pods OnDelete: some still run the previous template (delete them to update them)"
                        ));
                    }
                    return Ok(());
                }
                Err(w) => why = w.to_string(),
            },
        }
        if Instant::now() >= deadline {
            return Err(StepError::new(format!(
                "timed out waiting for {target} ({why})"
            )));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = kube.ctx.runner.cancel_token().cancelled() => return Err(StepError::interrupted()),
        }
    }
}

/// How many log lines of a failed Job's pod are shown.
const JOB_LOG_LINES: usize = 20;

/// A failed Job: why (its Failed condition), its pods, its last log lines and its events.
async fn explain_failed_job(kube: &StepKubectl<'_>, target: &WaitTarget) -> String {
    let t = Duration::from_secs(20);
    let (object, events) = object_and_events(kube, target).await;
    let reason = deploy::job_failure(&object).unwrap_or_else(|| "Failed".into());
    let selector = format!("batch.kubernetes.io/job-name={}", target.name);
    let pods = kube
        .run(
            kube.k.pods_argv(&target.namespace, &selector),
            t,
            "read its pods",
        )
        .await
        .map(|o| deploy::explain_pods(&o.stdout_str()))
        .unwrap_or_default();
    let logs = match kube
        .ctx
        .runner
        .run_unchecked(
            &crate::engine::log_name(kube.step_id),
            &super::cmd_of(
                kube.k.job_logs_argv(target, JOB_LOG_LINES),
                &kube.ctx.root,
                t,
            ),
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
        deploy::explain_not_ready(&object, &events)
    )
}

/// The object's conditions and recent events, for a timeout message.
pub(super) async fn explain(kube: &StepKubectl<'_>, target: &WaitTarget) -> String {
    let (object, events) = object_and_events(kube, target).await;
    deploy::explain_not_ready(&object, &events)
}

/// The object (`get -o json`) and its events, as read for a failure message: each empty
/// when it cannot be read (the message then says less, it does not fail).
async fn object_and_events(kube: &StepKubectl<'_>, target: &WaitTarget) -> (String, String) {
    let t = Duration::from_secs(20);
    let read = |argv: Vec<String>, purpose: &'static str| async move {
        kube.run(argv, t, purpose)
            .await
            .map(|o| o.stdout_str())
            .unwrap_or_default()
    };
    let object = read(kube.k.describe_argv(target), "read the object").await;
    let events = read(kube.k.events_argv(target), "read its events").await;
    (object, events)
}
