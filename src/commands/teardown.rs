//! What `down` and `reset` delete. On a k3d cluster: the cluster, the registry and the CI
//! cache mirrors this checkout created (ownership read from the containers themselves; a
//! container another checkout created is left alone unless `--force`). On an existing
//! (shared) cluster: exactly the objects this project and owner applied, never the cluster.
//! Either way the journal's steps, the inventory and devenv's kubeconfig are forgotten, so
//! the next `up` starts from scratch.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::session::{log_dir, runtime, stop_leftovers, CHILDREN_DIR};
use crate::config::schema::RegistryProvider;
use crate::config::Loaded;
use crate::engine::Ctx;
use crate::engine::StepOutcome;
use crate::exit::Exit;
use crate::kube::{self, KubeTarget};
use crate::render::Names;
use crate::runner::Cmd;
use crate::runner::{RunError, Runner};
use crate::state::{Journal, ProjectLock};
use crate::ui::Reporter;

/// How long `down` waits for the namespaces it deleted to be gone.
const NAMESPACE_GONE_SECS: u64 = 180;

/// Delete what devenv created for this checkout (see the module doc); the exit status says
/// how it went (1 when something was refused or failed, 130 when interrupted).
pub fn teardown(loaded: &Loaded, reporter: &Reporter, force: bool) -> Exit {
    let state_dir = crate::render::state_dir(&loaded.root);
    if let Err(e) = crate::state::ensure_state_dir(&state_dir) {
        reporter.error(&e.to_string(), None);
        return Exit::StepFailed;
    }
    let _lock = match ProjectLock::acquire(&state_dir, false) {
        Ok(l) => l,
        Err(e) => {
            reporter.error(&e.to_string(), None);
            return Exit::StepFailed;
        }
    };
    let mut journal = match Journal::load(&state_dir) {
        Ok(j) => j,
        Err(e) => {
            reporter.error(&e.to_string(), None);
            return Exit::StepFailed;
        }
    };
    stop_leftovers(&state_dir, reporter);
    if !kube::is_k3d(loaded) {
        let exit = teardown_existing(loaded, reporter);
        if exit == Exit::Success {
            journal.forget_steps();
            let _ = journal.save();
        }
        return exit;
    }
    runtime().block_on(teardown_k3d(loaded, reporter, force, &mut journal))
}

/// The runner of a teardown; inside the runtime (the signal handlers need it).
fn teardown_runner(loaded: &Loaded) -> Runner {
    let cancel = CancellationToken::new();
    let _ = crate::runner::install_signal_handlers(cancel.clone());
    Runner::new(log_dir(loaded), cancel)
        .with_child_records(crate::render::state_dir(&loaded.root).join(CHILDREN_DIR))
}

fn k3d(args: &[&str], purpose: &str) -> Cmd {
    kube::k3d(args, purpose, 300)
}

fn exit_for(e: &RunError) -> Exit {
    if e.is_interrupted() {
        Exit::Interrupted
    } else {
        Exit::StepFailed
    }
}

/// A k3d cluster or registry `down` may delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Cluster,
    Registry,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Cluster => "cluster",
            Kind::Registry => "registry",
        }
    }

    /// The journal records it as created by this checkout.
    fn recorded(self, journal: &Journal, name: &str) -> bool {
        match self {
            Kind::Cluster => journal.owns_cluster(name),
            Kind::Registry => journal.owns_registry(name),
        }
    }

    fn forget(self, journal: &mut Journal, name: &str) {
        match self {
            Kind::Cluster => journal.forget_owned_cluster(name),
            Kind::Registry => journal.forget_owned_registry(name),
        }
    }

    fn delete_command(self, name: &str) -> Cmd {
        match self {
            Kind::Cluster => {
                let mut cmd = k3d(&["cluster", "delete", name], "delete the cluster");
                // Several files in $KUBECONFIG: k3d cleans the one devenv merged into.
                cmd.env.extend(crate::kubeconfig::k3d_kubeconfig_env());
                cmd
            }
            Kind::Registry => k3d(&["registry", "delete", name], "delete the registry"),
        }
    }
}

/// One container `down` would delete.
struct Target {
    kind: Kind,
    name: String,
    /// Why it is not this checkout's (`None`: it is).
    not_ours: Option<String>,
    exists: bool,
}

/// What `down` would delete. Ownership is read from the containers themselves (the label
/// or volume only this checkout's create puts there), never from the journal.
fn teardown_targets(loaded: &Loaded, journal: &Journal, nodes: &Value) -> Vec<Target> {
    use crate::steps::cluster::{cluster_ownership, registry_ownership};
    let names = Names::new(loaded);
    let id = names.owner_id.as_deref();
    let mut out = Vec::new();
    if kube::is_k3d(loaded) {
        let exists = crate::steps::cluster::cluster_names(nodes).contains(&names.cluster);
        out.push(Target {
            kind: Kind::Cluster,
            name: names.cluster.clone(),
            not_ours: cluster_ownership(nodes, &names.cluster, id)
                .err()
                .map(|e| e.to_string()),
            exists,
        });
    }
    let registries = crate::steps::cluster::registry_names(nodes);
    if loaded.config.registry.provider == RegistryProvider::K3d {
        out.push(Target {
            kind: Kind::Registry,
            name: names.registry_container.clone(),
            not_ours: registry_ownership(nodes, &names.registry_container, id)
                .err()
                .map(|e| e.to_string()),
            exists: registries.contains(&names.registry_container),
        });
    }
    for (_, m) in crate::render::ci_cache_mirrors(loaded, &names) {
        if journal.owns_registry(&m.container) || registries.contains(&m.container) {
            out.push(Target {
                kind: Kind::Registry,
                not_ours: registry_ownership(nodes, &m.container, id)
                    .err()
                    .map(|e| e.to_string()),
                exists: registries.contains(&m.container),
                name: m.container,
            });
        }
    }
    out
}

/// `down` of a k3d cluster: each of [`teardown_targets`] that exists and is this
/// checkout's (or `force`) is deleted; then the environment's files are forgotten.
async fn teardown_k3d(
    loaded: &Loaded,
    reporter: &Reporter,
    force: bool,
    journal: &mut Journal,
) -> Exit {
    let runner = teardown_runner(loaded);
    let run = |cmd: Cmd| {
        let runner = runner.clone();
        let root = loaded.root.clone();
        async move { runner.run("down", &cmd.cwd(root)).await }
    };
    let list = k3d(
        &["node", "list", "-o", "json"],
        "list k3d nodes and registries",
    );
    let nodes = match run(list).await {
        Ok(out) => match serde_json::from_slice::<Value>(&out.stdout) {
            Ok(v) => v,
            Err(e) => {
                reporter.error(
                    &format!("`k3d node list -o json` did not print JSON: {e}"),
                    None,
                );
                return Exit::StepFailed;
            }
        },
        Err(e) => {
            reporter.error(&e.to_string(), None);
            return exit_for(&e);
        }
    };
    let mut refused = false;
    for Target {
        kind,
        name,
        not_ours,
        exists,
    } in teardown_targets(loaded, journal, &nodes)
    {
        let word = kind.word();
        if !exists {
            if kind.recorded(journal, &name) {
                reporter.info(&format!("{word} {name} is already gone"));
                kind.forget(journal, &name);
            }
            continue;
        }
        if let Some(why) = &not_ours {
            if !force {
                reporter.error(&format!("{word} {name} exists but devenv did not create it from this checkout ({why}): leaving it alone (pass --force to delete it anyway)"), None);
                refused = true;
                continue;
            }
            reporter.warn(&format!(
                "{word} {name} was not created by this checkout ({why}): deleting it anyway (--force)"
            ));
        }
        let step = format!("delete-{word}");
        reporter.step_started(&step, &format!("Delete {word} {name}"));
        let t = Instant::now();
        // `k3d cluster delete` rewrites the user's kubeconfig (0600): keep its mode.
        let mode = crate::kubeconfig::user_kubeconfig_mode();
        let result = run(kind.delete_command(&name)).await;
        crate::kubeconfig::restore_kubeconfig_mode(mode);
        match result {
            Ok(_) => {
                reporter.step_finished(&step, &StepOutcome::Done, t.elapsed());
                kind.forget(journal, &name);
            }
            Err(e) => {
                let failed = StepOutcome::Failed {
                    message: e.to_string(),
                    help: None,
                };
                reporter.step_finished(&step, &failed, t.elapsed());
                let _ = journal.save();
                return exit_for(&e);
            }
        }
    }
    // The environment is gone: the next `up` starts from scratch, with nothing to prune.
    if let Ok((_, inventory)) = Ctx::load_inventory(loaded, &Names::new(loaded).context) {
        let _ = std::fs::remove_file(inventory);
    }
    journal.forget_steps();
    let _ = journal.save();
    let _ = std::fs::remove_file(loaded.root.join(crate::kube::KUBECONFIG_PATH));
    if refused {
        Exit::StepFailed
    } else {
        Exit::Success
    }
}

/// `down` on an existing (shared) cluster: delete exactly what this project and owner applied
/// (the inventory; the project and owner labels when it was lost), never the cluster, never
/// another developer's namespaces, never shared objects such as CRDs.
fn teardown_existing(loaded: &Loaded, reporter: &Reporter) -> Exit {
    let names = Names::new(loaded);
    let context = loaded.config.cluster.context.clone().unwrap_or_default();
    let (store, path) = match Ctx::load_inventory(loaded, &context) {
        Ok(x) => x,
        Err(e) => {
            reporter.error(&e.render(), None);
            return Exit::StepFailed;
        }
    };
    let owner = crate::tenancy::owner_name();
    runtime().block_on(async {
        let runner = teardown_runner(loaded);
        let t = Instant::now();
        reporter.step_started(
            "down",
            &format!(
                "Delete what {} applied for {owner} in context {context}",
                names.project
            ),
        );
        let shared = SharedTeardown {
            loaded,
            reporter,
            runner,
            target: KubeTarget::new(loaded),
            project: &names.project,
            owner: &owner,
        };
        let result = if store.overlays.is_empty() {
            shared.delete_by_labels().await
        } else {
            shared.delete_inventory(&store).await
        };
        match result {
            Ok(n) => {
                let _ = std::fs::remove_file(&path);
                reporter.step_finished("down", &StepOutcome::Done, t.elapsed());
                reporter.info(&format!("deleted {n} objects; the cluster and other developers' namespaces are untouched"));
                Exit::Success
            }
            Err(e) => {
                let failed = StepOutcome::Failed {
                    message: e.to_string(),
                    help: None,
                };
                reporter.step_finished("down", &failed, t.elapsed());
                exit_for(&e)
            }
        }
    })
}

/// What the deletion on a shared cluster works with.
struct SharedTeardown<'a> {
    loaded: &'a Loaded,
    reporter: &'a Reporter,
    runner: Runner,
    target: KubeTarget,
    project: &'a str,
    owner: &'a str,
}

impl SharedTeardown<'_> {
    async fn run(
        &self,
        argv: Vec<String>,
        timeout: u64,
    ) -> Result<crate::runner::Output, RunError> {
        let mut it = argv.into_iter();
        let cmd = crate::runner::Cmd::new(it.next().unwrap_or_default())
            .args(it)
            .cwd(self.loaded.root.clone())
            .timeout(Duration::from_secs(timeout));
        self.runner.run("down", &cmd).await
    }

    /// No inventory (another machine, or .devenv deleted): the labels say what is ours.
    async fn delete_by_labels(&self) -> Result<usize, RunError> {
        let target = &self.target;
        let selector = crate::tenancy::label_selector(self.project, self.owner);
        let out = self.run(target.api_resources_argv(), 60).await?;
        let resources = crate::tenancy::parse_api_resources(&out.stdout_str());
        self.run(target.delete_by_label_argv(&resources, &selector), 600)
            .await?;
        self.run(target.delete_namespaces_by_label_argv(&selector), 600)
            .await?;
        self.reporter.info(&format!(
            "waiting up to {}s for the deleted namespaces to finish terminating",
            NAMESPACE_GONE_SECS
        ));
        self.run(
            target.wait_namespaces_gone_by_label_argv(&selector, NAMESPACE_GONE_SECS),
            NAMESPACE_GONE_SECS + 30,
        )
        .await?;
        Ok(0)
    }

    /// The objects of the inventory that still carry this project's and owner's labels.
    async fn delete_inventory(
        &self,
        store: &crate::tenancy::InventoryStore,
    ) -> Result<usize, RunError> {
        let (target, reporter) = (&self.target, self.reporter);
        let (mut ours, shared) = crate::tenancy::split_for_shared_cluster(
            crate::tenancy::prune_set(&store.all(), &crate::tenancy::Inventory::default()),
        );
        for r in shared {
            reporter.info(&format!("{r} is shared by the cluster: left in place"));
        }
        crate::tenancy::sort_for_delete(&mut ours);
        // Only what still carries this project's and owner's labels: the inventory is a
        // file, and a stale or planted one must not delete someone else's objects.
        let mut listings = Vec::new();
        for argv in target.get_batches(&ours) {
            listings.push(self.run(argv, 120).await?.stdout_str());
        }
        let (mut ours, foreign) =
            crate::tenancy::owned_objects(&ours, &listings, self.project, self.owner);
        for r in foreign {
            reporter.warn(&format!(
                "{r} is in the inventory but does not carry the labels of {} for {}: left in place",
                self.project, self.owner
            ));
        }
        crate::tenancy::sort_for_delete(&mut ours);
        for argv in target.delete_batches(&ours) {
            self.run(argv, 600).await?;
        }
        // A deleted namespace stays Terminating a while; the next `up` could not create
        // anything in it: wait until it is gone.
        let namespaces: Vec<String> = ours
            .iter()
            .filter(|r| r.is_namespace())
            .map(|r| r.name.clone())
            .collect();
        if !namespaces.is_empty() {
            reporter.info(&format!(
                "waiting up to {NAMESPACE_GONE_SECS}s for namespace(s) {} to finish terminating",
                namespaces.join(", ")
            ));
            self.run(
                target.wait_namespaces_gone_argv(&namespaces, NAMESPACE_GONE_SECS),
                NAMESPACE_GONE_SECS + 30,
            )
            .await?;
        }
        Ok(ours.len())
    }
}
