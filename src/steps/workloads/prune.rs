//! Prune: the last stage of the deploy path. What earlier runs applied and no unit renders
//! any more (the inventory) is deleted, so an object removed from the manifests is removed
//! from the cluster too.

use std::time::Duration;

use super::{StepKubectl, NAMESPACES_INVENTORY};
use crate::engine::{Ctx, Done, StepError};
use crate::plan::Step;

/// Delete what earlier runs applied and no unit renders any more.
pub async fn prune(ctx: &Ctx, step: &Step) -> Result<Done, StepError> {
    // Overlays and charts share one name space. The namespaces step counts as a unit while
    // devenv.toml declares namespaces: when
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
        .chain(ctx.loaded.config.charts.iter().map(|c| c.name.clone()))
        .chain(namespaces_step)
        .collect();
    let rendered = ctx.rendered.lock().unwrap().clone();
    let (mut doomed, recorded) = {
        let store = &ctx.inventory.lock().unwrap().0;
        (store.prune_plan(&rendered, &config_overlays), store.all())
    };
    // `helm.sh/resource-policy: keep` (and a chart's crds/ CRDs, marked so at render), as
    // Helm honours it: left in place and forgotten. A CRD deleted takes every object of its
    // kind with it, also those devenv never made.
    let mut kept_in = std::collections::BTreeSet::new();
    doomed.retain(|r| {
        let keep = recorded.keeps(r);
        if keep {
            ctx.reporter.info(&format!(
                "{r} is no longer rendered but is marked {}: {}: left in place",
                crate::tenancy::RESOURCE_POLICY,
                crate::tenancy::KEEP
            ));
            kept_in.extend(r.namespace.clone());
        }
        !keep
    });
    // Deleting their namespace would delete them all the same.
    doomed.retain(|r| {
        let holds_kept = r.is_namespace() && kept_in.contains(&r.name);
        if holds_kept {
            ctx.reporter.info(&format!(
                "namespace {} holds objects kept in place: left in place too",
                r.name
            ));
        }
        !holds_kept
    });
    // A namespace a unit created (a chart's release namespace) stays while another unit
    // still has objects in it: deleting it would delete those too. As Helm leaves the
    // namespace of --create-namespace on uninstall.
    let in_use: std::collections::BTreeSet<String> =
        rendered.values().flat_map(|inv| inv.namespaces()).collect();
    doomed.retain(|r| !(r.is_namespace() && in_use.contains(&r.name)));
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
        return Ok(Done::Unchanged(
            "nothing removed from the overlays and charts".into(),
        ));
    }
    crate::tenancy::sort_for_delete(&mut doomed);
    // The plan's target as shown (devenv's kubeconfig relative: the commands run in the
    // project folder).
    let target = &ctx.plan.kube;
    let kube = StepKubectl::new(ctx, &step.id);
    if let Some(isolation) = &ctx.isolation {
        // On a shared cluster, only what still carries this project's and owner's labels:
        // the inventory is a file, and a stale or planted one must not delete someone
        // else's objects.
        let mut listings = Vec::new();
        for argv in target.get_batches(&doomed) {
            let out = kube
                .run(argv, Duration::from_secs(120), "read the objects to delete")
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
        kube.run(
            argv,
            Duration::from_secs(300),
            "delete objects removed from the overlays and charts",
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
