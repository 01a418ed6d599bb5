//! Apply: the unit's objects, server-side, and what devenv does when the API server refuses
//! them for a reason it can act on (see [`crate::deploy::parse_immutable_changes`] and
//! [`crate::deploy::terminating_namespaces`]).

use std::path::Path;
use std::time::Duration;

use super::StepKubectl;
use crate::deploy::{self, ImmutableChange, Unit};
use crate::engine::StepError;
use crate::tenancy::{Inventory, ObjectRef};

/// What devenv may delete to re-create it: what the unit renders, among what devenv
/// applied before this run.
pub(super) struct Owned<'a> {
    /// The unit's objects in this run's rendering.
    pub rendered: &'a Inventory,
    /// Every object devenv applied before this run (all units).
    pub applied_before: &'a Inventory,
}

/// Applies `file` (everything but the CRDs). What the API server refuses for a while or
/// until devenv acts: a namespace still terminating (wait until it is gone, then the apply
/// creates it again), a field that cannot change in place (re-create the object). Then
/// apply again (one cause may hide the other: a re-created object meets the terminating
/// namespace), at most twice.
pub(super) async fn apply_rest(
    kube: &StepKubectl<'_>,
    unit: &Unit,
    file: &Path,
    owned: &Owned<'_>,
) -> Result<(), StepError> {
    let purpose = format!("apply {unit}");
    let mut retries = 0;
    while let Err(e) = kube
        .run(kube.k.apply_argv(file), Duration::from_secs(300), &purpose)
        .await
    {
        if e.is_interrupted() || retries == 2 {
            return Err(e);
        }
        let terminating = deploy::terminating_namespaces(&e.message);
        let changes = deploy::parse_immutable_changes(&e.message);
        if terminating.is_empty() && changes.is_empty() {
            return Err(e);
        }
        retries += 1;
        if !terminating.is_empty() {
            wait_namespaces_gone(kube, unit, &terminating).await?;
        }
        if !changes.is_empty() {
            recreate(kube, unit, owned, &changes).await?;
        }
    }
    Ok(())
}

/// Deletes (foreground: with its pods) and lets the caller apply again each object whose
/// change the API server refused because a field cannot change in place, when devenv
/// applied it before (its inventory, or on a shared cluster this project's and owner's
/// labels). An object devenv did not apply is never deleted: the error names the field and
/// what to do.
async fn recreate(
    kube: &StepKubectl<'_>,
    unit: &Unit,
    owned: &Owned<'_>,
    changes: &[ImmutableChange],
) -> Result<(), StepError> {
    // Every object first: if one is not devenv's, nothing is deleted at all.
    let mut doomed = Vec::new();
    for change in changes {
        // The object in this unit's rendering (the error names kind and name only).
        let refs: Vec<&ObjectRef> = owned
            .rendered
            .objects
            .iter()
            .filter(|r| r.kind == change.kind && r.group() == change.group && r.name == change.name)
            .collect();
        let what = format!("{}/{}", change.display_kind(), change.name);
        if refs.is_empty() {
            return Err(StepError::new(format!(
                "{unit}: {what} cannot be changed in place ({} cannot change) and is not in the overlay's rendering",
                change.fields_text()
            )));
        }
        for r in refs {
            let ns = r.namespace.as_deref();
            let ours = owned
                .applied_before
                .objects
                .iter()
                .any(|a| a.identity() == r.identity())
                || owned_by_labels(kube, r).await;
            let place = ns.map(|n| format!(" in {n}")).unwrap_or_default();
            if !ours {
                let ns_flag = ns.map(|n| format!(" -n {n}")).unwrap_or_default();
                return Err(StepError::new(format!(
                    "{unit}: {what}{place} cannot be changed in place ({} cannot change once it exists), and devenv did not create it, so it is left alone",
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
        kube.run(
            kube.k.delete_foreground_argv(
                &r.resource_arg(),
                &r.name,
                r.namespace.as_deref(),
                unit.timeout,
            ),
            unit.timeout + Duration::from_secs(30),
            &format!("delete {what}{place} to create it again"),
        )
        .await?;
        kube.ctx.reporter.info(&format!(
            "{unit}: re-created {what}{place} ({} cannot change in place)",
            change.fields_text()
        ));
    }
    Ok(())
}

/// Namespaces the unit applies into that are still being deleted (a `down` that did not
/// wait, someone's `kubectl delete namespace`): wait until they are gone, within the
/// unit's timeout, saying so.
async fn wait_namespaces_gone(
    kube: &StepKubectl<'_>,
    unit: &Unit,
    namespaces: &[String],
) -> Result<(), StepError> {
    let timeout = unit.timeout;
    kube.ctx.reporter.info(&format!(
        "{unit}: namespace(s) {} still terminating: waiting up to {} for them to be gone",
        namespaces.join(", "),
        humantime::format_duration(timeout)
    ));
    let mut args = vec![
        "wait".to_string(),
        "--for=delete".to_string(),
        deploy::timeout_flag(timeout),
    ];
    args.extend(namespaces.iter().map(|n| format!("namespace/{n}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    kube.run(
        kube.k.argv(&args),
        timeout + Duration::from_secs(30),
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
async fn owned_by_labels(kube: &StepKubectl<'_>, r: &ObjectRef) -> bool {
    let Some(iso) = &kube.ctx.isolation else {
        return false;
    };
    let resource = r.resource_arg();
    let mut args = vec!["get", resource.as_str(), r.name.as_str(), "-o", "json"];
    if let Some(ns) = &r.namespace {
        args.extend(["-n", ns.as_str()]);
    }
    let Ok(out) = kube
        .run(
            kube.k.argv(&args),
            Duration::from_secs(30),
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
