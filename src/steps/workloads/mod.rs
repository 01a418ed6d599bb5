//! What runs in the cluster: namespaces, the team's units (overlays and charts) on the
//! deploy path, and the NetworkPolicy verification probe.
//!
//! The deploy path of a unit ([`crate::deploy`] holds its pure half and says why each
//! stage is there), as the steps run it:
//!
//! - `render:NAME` (`unit::render`; a chart: `chart::render_chart`, `helm template` first):
//!   the plan's render command, isolation on a shared cluster, the rendering and its
//!   inventory kept for the apply step;
//! - `overlay:NAME` / `chart:NAME` (`unit::overlay`, `unit::chart`): split, inventory
//!   recorded, CRDs applied and Established, the `pre-*` Helm hooks, the rest applied
//!   (`apply.rs`: refusals handled), the waits (`wait.rs`), then the `post-*` hooks
//!   (`hooks.rs`);
//! - `prune` (`prune.rs`): what no unit renders any more is deleted.

mod apply;
mod chart;
mod hooks;
mod prune;
mod unit;
mod verify;
mod wait;

pub use chart::render_chart;
pub use prune::prune;
pub use unit::{chart, overlay, render};
pub use verify::verify;

use std::time::Duration;

use crate::engine::{Ctx, Done, StepError};
use crate::kube::KubeTarget;
use crate::plan::Step;
use crate::runner::{Cmd, Output};

/// The kubectl devenv uses for this project (its kubeconfig and context). On an existing
/// cluster the kubeconfig is empty: kubectl reads the user's as it always does (every file
/// of a `KUBECONFIG` list, merged; naming only the first would lose contexts of the others).
pub fn kubectl(ctx: &Ctx) -> KubeTarget {
    ctx.plan.kube.clone().under(&ctx.root)
}

fn cmd_of(argv: Vec<String>, cwd: &std::path::Path, timeout: Duration) -> Cmd {
    let mut it = argv.into_iter();
    let program = it.next().unwrap_or_else(|| "kubectl".into());
    Cmd::new(program)
        .args(it)
        .cwd(cwd.to_path_buf())
        .timeout(timeout)
}

/// The commands a step builds at run time (a wait, a read for a failure message, a
/// delete), run under the step's log.
struct StepKubectl<'a> {
    ctx: &'a Ctx,
    step_id: &'a str,
    k: KubeTarget,
}

impl<'a> StepKubectl<'a> {
    fn new(ctx: &'a Ctx, step_id: &'a str) -> StepKubectl<'a> {
        StepKubectl {
            ctx,
            step_id,
            k: kubectl(ctx),
        }
    }

    /// Runs a read the plan built, with its purpose and timeout, in the project folder.
    async fn run_planned(&self, cmd: &Cmd) -> Result<Output, StepError> {
        let cmd = cmd.clone().cwd(&self.ctx.root);
        self.ctx.run_cmd(self.step_id, &cmd, &cmd.purpose).await
    }

    /// Runs `argv` (from [`KubeTarget`]'s deploy or tenancy argvs) within `timeout`.
    async fn run(
        &self,
        argv: Vec<String>,
        timeout: Duration,
        purpose: &str,
    ) -> Result<Output, StepError> {
        self.ctx
            .run_cmd(
                self.step_id,
                &cmd_of(argv, &self.ctx.root, timeout),
                purpose,
            )
            .await
    }
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

/// On a shared cluster, a namespace that exists must carry this project's and owner's labels.
async fn check_namespaces_are_ours(
    ctx: &Ctx,
    step: &Step,
    inventory: &crate::tenancy::Inventory,
) -> Result<(), StepError> {
    let Some(iso) = &ctx.isolation else {
        return Ok(());
    };
    // Isolation means an existing cluster: the user's kubeconfig, the configured context.
    let target = &ctx.plan.kube;
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
            |e| match e.help {
                Some(h) => StepError::new(e.message).hint(h),
                None => StepError::new(e.message),
            },
        )?;
    }
    Ok(())
}

/// The name under which the namespaces step's objects are kept in the inventory (not a valid
/// overlay name, so it cannot collide).
pub const NAMESPACES_INVENTORY: &str = "@namespaces";
