//! `up`, `build`, `apply`, `verify` (run steps of the plan), and `down`, `reset`, `status`,
//! `doctor` (observe or remove what devenv created).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::cli::{ApplyArgs, BuildArgs, DownArgs, GlobalArgs, OutputFormat, ResetArgs, UpArgs};
use crate::config::schema::{ClusterProvider, RegistryProvider};
use crate::config::Loaded;
use crate::engine::{self, Ctx, RunOptions};
use crate::exit::Exit;
use crate::plan::{Plan, StepKind};
use crate::runner::Cmd;
use crate::render::Names;
use crate::runner::Runner;
use crate::state::{Journal, ProjectLock};
use crate::ui::{OutputMode, Reporter, UiFlags};

/// Version of the `--output json` shape of `up` and `status`.
pub const RESULT_JSON_VERSION: u32 = 1;

fn ui_flags(g: &GlobalArgs) -> UiFlags {
    UiFlags {
        quiet: g.quiet,
        verbose: g.verbose > 0,
        no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        output_json: g.output == OutputFormat::Json,
    }
}

fn reporter(g: &GlobalArgs) -> Reporter {
    let flags = ui_flags(g);
    let mode = crate::ui::detect(flags);
    crate::ui::init_tracing(g.verbose, mode);
    let r = Reporter::new(mode, flags);
    r.set_step_summary_path(
        std::env::var_os("GITHUB_STEP_SUMMARY")
            .filter(|_| mode == OutputMode::Github)
            .map(Into::into),
    );
    r
}

/// Questions may be asked: a terminal on both ends, not CI, and the config allows prompts.
fn interactive(loaded: &Loaded) -> bool {
    loaded.config.run.prompts
        && std::io::stdin().is_terminal()
        && std::io::stderr().is_terminal()
        && !crate::ui::is_ci()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("devenv {}", args.join(" "))
}

/// A new log folder for this run (`.devenv/logs/<run-id>`, `.devenv/logs/latest` points at it).
fn log_dir(loaded: &Loaded) -> std::path::PathBuf {
    let state_dir = crate::render::state_dir(&loaded.root);
    let run = crate::state::new_run_id();
    crate::state::new_log_dir(&state_dir, &run, 20)
        .unwrap_or_else(|_| state_dir.join("logs").join(run))
}

/// Everything a run of steps needs, or the exit status that says why it cannot start.
struct Session {
    loaded: Loaded,
    plan: Plan,
    tags: BTreeMap<String, String>,
    reporter: Reporter,
    _lock: ProjectLock,
}

fn open_session(g: &GlobalArgs, wait: bool) -> Result<Session, Exit> {
    open_session_for(g, wait, true)
}

/// `needs_cluster`: false for `build`, which reaches Docker and the registry only.
fn open_session_for(g: &GlobalArgs, wait: bool, needs_cluster: bool) -> Result<Session, Exit> {
    let loaded = if needs_cluster {
        super::load_config(g)?
    } else {
        super::load_config_without_cluster(g)?
    };
    let reporter = reporter(g);
    let state_dir = crate::render::state_dir(&loaded.root);
    if let Err(e) = crate::state::ensure_state_dir(&state_dir) {
        reporter.error(&format!("cannot create {}: {e}", state_dir.display()), None);
        return Err(Exit::StepFailed);
    }
    let lock = ProjectLock::acquire_notify(
        &state_dir,
        wait.then_some(crate::state::DEFAULT_LOCK_WAIT),
        |holder| reporter.info(&format!("{holder}; waiting for it")),
    )
    .map_err(|e| {
        reporter.error(&e.to_string(), None);
        Exit::StepFailed
    })?;
    let (plan, tags) = super::prepare_plan(&loaded, true)?;
    Ok(Session {
        loaded,
        plan,
        tags,
        reporter,
        _lock: lock,
    })
}

/// Run these steps of the session's plan; returns the exit status (and prints JSON if asked).
fn run_steps(
    g: &GlobalArgs,
    s: Session,
    ids: Vec<String>,
    opts: RunOptions,
    forget: &[&str],
) -> Exit {
    let journal = match Journal::load(&crate::render::state_dir(&s.loaded.root)) {
        Ok(mut j) => {
            // Steps a killed devenv left "running" are unfinished: the next run redoes them.
            j.settle_abandoned();
            for id in forget {
                j.forget_step(id);
            }
            j
        }
        Err(e) => {
            s.reporter.error(&e.to_string(), None);
            return Exit::StepFailed;
        }
    };
    let inventory = match Ctx::load_inventory(&s.loaded, &s.plan.context) {
        Ok(i) => i,
        Err(e) => {
            s.reporter.error(&e, None);
            return Exit::StepFailed;
        }
    };
    let state_dir = crate::render::state_dir(&s.loaded.root);
    stop_leftovers(&state_dir, &s.reporter);
    let rt = runtime();
    rt.block_on(async move {
        let cancel = CancellationToken::new();
        if let Err(e) = crate::runner::install_signal_handlers(cancel.clone()) {
            tracing::warn!("cannot install signal handlers: {e}");
        }
        let runner = Runner::new(log_dir(&s.loaded), cancel)
            .with_line_sink(s.reporter.line_sink())
            .with_child_records(state_dir.join(CHILDREN_DIR));
        let parallel = match s.loaded.config.build.parallel {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .min(4),
            n => n as usize,
        };
        let names = Names::new(&s.loaded);
        let ctx = Arc::new(Ctx {
            root: s.loaded.root.clone(),
            names,
            plan: s.plan,
            runner,
            reporter: s.reporter.clone(),
            journal: Mutex::new(journal),
            opts,
            observed: Mutex::new(Default::default()),
            image_tags: s.tags,
            summary: Mutex::new(crate::ui::RunSummary {
                command: command_name(),
                ..Default::default()
            }),
            build_slots: tokio::sync::Semaphore::new(parallel),
            prior: Mutex::new(Default::default()),
            isolation: crate::plan::isolation(&s.loaded),
            inventory: Mutex::new(inventory),
            rendered: Mutex::new(Default::default()),
            renders: Mutex::new(Default::default()),
            loaded: s.loaded,
        });
        let exit = engine::execute(ctx.clone(), ids).await;
        if g.output == OutputFormat::Json {
            println!(
                "{}",
                serde_json::to_string_pretty(&result_json(&ctx, exit)).expect("json")
            );
        }
        exit
    })
}

/// Where the runner records the commands running now (`.devenv/children/PGID.json`).
const CHILDREN_DIR: &str = "children";

/// Stops what a devenv that was killed (SIGKILL, a closed terminal) left running: a child
/// that outlived it (no parent-death signal off Linux) or what that child started. Called
/// with the project lock held, so nothing recorded belongs to a devenv still running.
fn stop_leftovers(state_dir: &std::path::Path, reporter: &Reporter) {
    for rec in crate::runner::reap_leftovers(&state_dir.join(CHILDREN_DIR)) {
        reporter.warn(&format!(
            "stopped `{}` (process group {}), left running since {} by a devenv that was killed",
            rec.command, rec.pgid, rec.started_at
        ));
    }
}

fn command_name() -> String {
    std::env::args()
        .nth(1)
        .filter(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "up".into())
}

/// The kubeconfig that goes with `context`: devenv's own for k3d; on an existing cluster the
/// user's, as a KUBECONFIG value (devenv writes none there).
fn kubeconfig_for_json(ctx: &Ctx) -> String {
    if ctx.loaded.config.cluster.provider == ClusterProvider::K3d {
        return ctx
            .root
            .join(crate::kube::KUBECONFIG_PATH)
            .display()
            .to_string();
    }
    std::env::join_paths(crate::kubeconfig::default_kubeconfig_paths())
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The `--output json` document of a run.
fn result_json(ctx: &Ctx, exit: Exit) -> Value {
    let summary = ctx.summary.lock().unwrap().clone();
    let steps: Vec<Value> = summary
        .steps
        .iter()
        .map(|s| {
            let (status, detail) = match &s.outcome {
                crate::ui::StepOutcome::Done => ("done", Value::Null),
                crate::ui::StepOutcome::Skipped { reason } => ("unchanged", json!(reason)),
                crate::ui::StepOutcome::Failed { message } => ("failed", json!(message)),
                crate::ui::StepOutcome::Interrupted => ("interrupted", Value::Null),
            };
            json!({ "id": s.id, "title": s.title, "status": status, "detail": detail, "duration_ms": s.duration.as_millis() as u64 })
        })
        .collect();
    let images: Vec<Value> = summary
        .images
        .iter()
        .map(|i| json!({ "name": i.name, "reference": i.reference, "action": match i.action { crate::ui::ImageAction::Built => "built", crate::ui::ImageAction::Reused => "reused" } }))
        .collect();
    let overlays: Vec<Value> = summary
        .overlays
        .iter()
        .map(|o| json!({ "name": o.name, "objects": o.objects, "sha256": o.hash }))
        .collect();
    json!({
        "version": RESULT_JSON_VERSION,
        "command": summary.command,
        "project": ctx.names.project,
        "result": match exit { Exit::Success => "success", Exit::Interrupted => "interrupted", _ => "failed" },
        "exit_code": exit.code(),
        "context": ctx.plan.context,
        "kubeconfig": kubeconfig_for_json(ctx),
        "registry": { "host": ctx.plan.registry.push, "pull": ctx.plan.registry.pull },
        "steps": steps,
        "images": images,
        "overlays": overlays,
        "duration_ms": summary.total.as_millis() as u64,
        "logs": ctx.runner.log_dir(),
    })
}

pub fn up(g: &GlobalArgs, args: &UpArgs) -> Exit {
    let s = match open_session(g, args.wait) {
        Ok(s) => s,
        Err(e) => return e,
    };
    if let Err(e) = install_tools(&s, args) {
        return e;
    }
    let ids: Vec<String> = s
        .plan
        .steps
        .iter()
        .filter(|st| !(args.no_verify && matches!(st.kind, StepKind::Verify(_))))
        .map(|st| st.id.clone())
        .collect();
    let opts = RunOptions {
        recreate: args.recreate,
        yes: args.yes,
        interactive: interactive(&s.loaded) && !args.yes,
        command: command_line(),
    };
    run_steps(g, s, ids, opts, &[])
}

/// `--install-tools`, or a yes at the prompt (on a terminal) when a pinned version is
/// neither in the cache nor the one on PATH: downloads the exact pins of `[tools]` into
/// devenv's cache and makes every command of this run use them.
fn install_tools(s: &Session, args: &UpArgs) -> Result<(), Exit> {
    let pins = crate::tools::pins(&s.loaded.config);
    if pins.is_empty() {
        if args.install_tools {
            s.reporter
                .warn("--install-tools: devenv.toml has no [tools] table; nothing to install");
        }
        return Ok(());
    }
    let wanted = if args.install_tools {
        match crate::tools::exact_pins(&s.loaded) {
            Ok(w) => w,
            Err(e) => {
                s.reporter.error(&e.to_string(), None);
                return Err(Exit::Usage);
            }
        }
    } else {
        let missing = crate::tools::missing_exact_pins(&s.loaded.config);
        // The question exists only on a terminal; --yes answers it there.
        if missing.is_empty() || !interactive(&s.loaded) {
            return Ok(());
        }
        let list: Vec<String> = missing.iter().map(|(t, v)| format!("{t} v{v}")).collect();
        if args.yes {
            missing
        } else {
            match dialoguer::Confirm::new()
                .with_prompt(format!(
                "devenv.toml pins {}, which is not what PATH has. Download {} into devenv's cache?",
                list.join(", "),
                if missing.len() == 1 { "it" } else { "them" }
            ))
                .default(false)
                .interact()
            {
                Ok(true) => missing,
                _ => return Ok(()),
            }
        }
    };
    let Ok(root) = crate::tools::cache_root() else {
        s.reporter
            .error(&crate::tools::ToolsError::NoCache.to_string(), None);
        return Err(Exit::Prerequisite);
    };
    let result = runtime().block_on(async {
        let client =
            crate::calico::http_client().map_err(|e| crate::tools::ToolsError::Download {
                url: String::new(),
                cause: e.to_string(),
            })?;
        crate::tools::install(&wanted, &root, &client).await
    });
    match result {
        Ok(done) => {
            for i in done {
                let how = if i.downloaded {
                    "downloaded and checked"
                } else {
                    "already in the cache"
                };
                s.reporter.info(&format!(
                    "{} v{}: {how} ({})",
                    i.tool,
                    i.version,
                    i.path.display()
                ));
            }
            Ok(())
        }
        Err(e) => {
            s.reporter.error(&e.to_string(), None);
            Err(Exit::Prerequisite)
        }
    }
}

/// The names a command was given (all of `known` when none), or a usage error naming them.
fn select(
    what: &str,
    known: &[String],
    given: &[String],
    loaded: &Loaded,
) -> Result<Vec<String>, Exit> {
    if let Some(bad) = given.iter().find(|n| !known.contains(n)) {
        eprintln!("error: no {what} named {bad:?} in {}", loaded.source_name());
        let list = if known.is_empty() {
            "(none)".to_string()
        } else {
            known.join(", ")
        };
        eprintln!("  = help: {what}s: {list}");
        return Err(Exit::Usage);
    }
    Ok(if given.is_empty() {
        known.to_vec()
    } else {
        given.to_vec()
    })
}

pub fn build(g: &GlobalArgs, args: &BuildArgs) -> Exit {
    let s = match open_session_for(g, false, false) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let known: Vec<String> = s
        .loaded
        .config
        .images
        .iter()
        .map(|i| i.name.clone())
        .collect();
    let wanted = match select("image", &known, &args.names, &s.loaded) {
        Ok(w) => w,
        Err(e) => return e,
    };
    let targets: Vec<String> = wanted.iter().map(|n| format!("image:{n}")).collect();
    let ids = s.plan.closure(&targets);
    let opts = RunOptions {
        interactive: interactive(&s.loaded),
        command: command_line(),
        ..Default::default()
    };
    run_steps(g, s, ids, opts, &[])
}

pub fn apply(g: &GlobalArgs, args: &ApplyArgs) -> Exit {
    let s = match open_session(g, false) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let known: Vec<String> = s
        .loaded
        .config
        .overlays
        .iter()
        .map(|o| o.name.clone())
        .collect();
    let wanted = match select("overlay", &known, &args.names, &s.loaded) {
        Ok(w) => w,
        Err(e) => return e,
    };
    let targets: Vec<String> = wanted.iter().map(|n| format!("overlay:{n}")).collect();
    let mut ids = s.plan.closure(&targets);
    // Objects removed from these overlays go too; the overlays not applied keep theirs (prune
    // runs after the selected ones: needs outside the selection count as met).
    if s.plan.step("prune").is_some() {
        ids.push("prune".into());
    }
    let opts = RunOptions {
        interactive: interactive(&s.loaded),
        command: command_line(),
        ..Default::default()
    };
    run_steps(g, s, ids, opts, &[])
}

pub fn verify(g: &GlobalArgs) -> Exit {
    let s = match open_session(g, false) {
        Ok(s) => s,
        Err(e) => return e,
    };
    if s.plan.step("verify").is_none() {
        // verify.enabled = false only skips it in `up`; `devenv verify` always runs it.
        eprintln!(
            "error: verification is disabled by verify.enabled = false in {}",
            s.loaded.source_name()
        );
        return Exit::Usage;
    }
    let opts = RunOptions {
        command: command_line(),
        ..Default::default()
    };
    // Always probe again: `devenv verify` is a question about now.
    run_steps(g, s, vec!["verify".into()], opts, &["verify"])
}

// ---------------------------------------------------------------------------------------
// down, reset

fn k3d(args: &[&str], purpose: &str) -> Cmd {
    crate::kube::k3d(args, purpose, 300)
}

pub fn down(g: &GlobalArgs, args: &DownArgs) -> Exit {
    let loaded = match super::load_config(g) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let reporter = reporter(g);
    teardown(&loaded, &reporter, args.force)
}

/// What `down` would delete: (kind, name, why it is not this checkout's (`None`: it is),
/// exists). Ownership is read from the containers themselves (the label or volume only
/// this checkout's create puts there), never from the journal.
fn teardown_targets(
    loaded: &Loaded,
    journal: &Journal,
    nodes: &Value,
) -> Vec<(&'static str, String, Option<String>, bool)> {
    use crate::steps::cluster::{cluster_ownership, registry_ownership};
    let names = Names::new(loaded);
    let id = names.owner_id.as_deref();
    let mut out = Vec::new();
    if loaded.config.cluster.provider == ClusterProvider::K3d {
        let exists = crate::steps::cluster::cluster_names(nodes).contains(&names.cluster);
        out.push((
            "cluster",
            names.cluster.clone(),
            cluster_ownership(nodes, &names.cluster, id).err().map(|e| e.to_string()),
            exists,
        ));
    }
    let registries = crate::steps::cluster::registry_names(nodes);
    if loaded.config.registry.provider == RegistryProvider::K3d {
        out.push((
            "registry",
            names.registry_container.clone(),
            registry_ownership(nodes, &names.registry_container, id).err().map(|e| e.to_string()),
            registries.contains(&names.registry_container),
        ));
    }
    for (_, m) in crate::render::ci_cache_mirrors(loaded, &names) {
        if journal.owns_registry(&m.container) || registries.contains(&m.container) {
            out.push((
                "registry",
                m.container.clone(),
                registry_ownership(nodes, &m.container, id).err().map(|e| e.to_string()),
                registries.contains(&m.container),
            ));
        }
    }
    out
}

fn teardown(loaded: &Loaded, reporter: &Reporter, force: bool) -> Exit {
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
    if loaded.config.cluster.provider == ClusterProvider::Existing {
        let exit = teardown_existing(loaded, reporter);
        if exit == Exit::Success {
            journal.forget_steps();
            let _ = journal.save();
        }
        return exit;
    }
    let rt = runtime();
    rt.block_on(async {
        let cancel = CancellationToken::new();
        let _ = crate::runner::install_signal_handlers(cancel.clone());
        let runner =
            Runner::new(log_dir(loaded), cancel).with_child_records(state_dir.join(CHILDREN_DIR));
        let run = |cmd: Cmd| {
            let runner = runner.clone();
            let root = loaded.root.clone();
            async move { runner.run("down", &cmd.cwd(root)).await }
        };
        let nodes = match run(k3d(&["node", "list", "-o", "json"], "list k3d nodes and registries")).await {
            Ok(out) => match serde_json::from_slice::<Value>(&out.stdout) {
                Ok(v) => v,
                Err(e) => {
                    reporter.error(&format!("`k3d node list -o json` did not print JSON: {e}"), None);
                    return Exit::StepFailed;
                }
            },
            Err(e) => {
                reporter.error(&e.to_string(), None);
                return if e.is_interrupted() { Exit::Interrupted } else { Exit::StepFailed };
            }
        };
        let mut refused = false;
        for (kind, name, not_ours, exists) in teardown_targets(loaded, &journal, &nodes) {
            let recorded = if kind == "cluster" { journal.owns_cluster(&name) } else { journal.owns_registry(&name) };
            if !exists {
                if recorded {
                    reporter.info(&format!("{kind} {name} is already gone"));
                    if kind == "cluster" { journal.forget_owned_cluster(&name) } else { journal.forget_owned_registry(&name) }
                }
                continue;
            }
            if let Some(why) = &not_ours {
                if !force {
                    reporter.error(&format!("{kind} {name} exists but devenv did not create it from this checkout ({why}): leaving it alone (pass --force to delete it anyway)"), None);
                    refused = true;
                    continue;
                }
                reporter.warn(&format!("{kind} {name} was not created by this checkout ({why}): deleting it anyway (--force)"));
            }
            reporter.step_started(&format!("delete-{kind}"), &format!("Delete {kind} {name}"));
            let t = std::time::Instant::now();
            let cmd = if kind == "cluster" { k3d(&["cluster", "delete", &name], "delete the cluster") } else { k3d(&["registry", "delete", &name], "delete the registry") };
            // Several files in $KUBECONFIG: k3d cleans the one devenv merged into.
            let mut cmd = cmd;
            if kind == "cluster" {
                cmd.env.extend(crate::kubeconfig::k3d_kubeconfig_env());
            }
            // `k3d cluster delete` rewrites the user's kubeconfig (0600): keep its mode.
            let mode = crate::kubeconfig::user_kubeconfig_mode();
            let result = run(cmd).await;
            crate::kubeconfig::restore_kubeconfig_mode(mode);
            match result {
                Ok(_) => {
                    reporter.step_finished(&format!("delete-{kind}"), &crate::ui::StepOutcome::Done, t.elapsed());
                    if kind == "cluster" { journal.forget_owned_cluster(&name) } else { journal.forget_owned_registry(&name) }
                }
                Err(e) => {
                    reporter.step_finished(&format!("delete-{kind}"), &crate::ui::StepOutcome::Failed { message: e.to_string() }, t.elapsed());
                    let _ = journal.save();
                    return if e.is_interrupted() { Exit::Interrupted } else { Exit::StepFailed };
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
        if refused { Exit::StepFailed } else { Exit::Success }
    })
}

pub fn reset(g: &GlobalArgs, args: &ResetArgs) -> Exit {
    let loaded = match super::load_config(g) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let names = Names::new(&loaded);
    let what = if loaded.config.cluster.provider == ClusterProvider::Existing {
        format!(
            "This deletes every object devenv applied for {} in your namespaces of context `{}` (not the cluster, not other developers' namespaces), then runs `devenv up`.",
            crate::tenancy::owner_name(),
            loaded.config.cluster.context.clone().unwrap_or_default()
        )
    } else {
        format!(
            "This deletes the k3d cluster `{}` and the registry `{}` (with every image pushed to it), then runs `devenv up`.",
            names.cluster, names.registry_container
        )
    };
    if !args.yes {
        if !interactive(&loaded) {
            eprintln!("error: `devenv reset` asks for confirmation, but there is no terminal (or prompts are off)");
            eprintln!("  = help: {what} Pass --yes to confirm.");
            return Exit::Usage;
        }
        eprintln!("{what}");
        match dialoguer::Confirm::new()
            .with_prompt("Reset the environment?")
            .default(false)
            .interact()
        {
            Ok(true) => {}
            Ok(false) => {
                eprintln!("nothing was changed");
                return Exit::Success;
            }
            Err(e) => {
                eprintln!("error: cannot ask for confirmation: {e}");
                return Exit::Usage;
            }
        }
    }
    let reporter = reporter(g);
    match teardown(&loaded, &reporter, args.force) {
        Exit::Success => {}
        other => return other,
    }
    drop(reporter);
    up(
        g,
        &UpArgs {
            yes: true,
            ..Default::default()
        },
    )
}

// ---------------------------------------------------------------------------------------
// status, doctor

pub fn status(g: &GlobalArgs) -> Exit {
    let loaded = match super::load_config(g) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let names = Names::new(&loaded);
    // status writes its logs under .devenv/: never without the .gitignore.
    // A link planted in .devenv/ is refused; a folder that cannot be written (a read-only
    // checkout) only costs the logs.
    let state_dir = crate::render::state_dir(&loaded.root);
    if let Err(e) = crate::state::refuse_links_in_state_dir(&state_dir) {
        eprintln!("error: {e}");
        return Exit::StepFailed;
    }
    let _ = crate::state::ensure_state_dir(&state_dir);
    let journal = Journal::load(&crate::render::state_dir(&loaded.root));
    let rt = runtime();
    let components = rt.block_on(crate::steps::status::observe(
        &loaded,
        &names,
        journal.as_ref().map(Some).map_err(|e| e.to_string()),
    ));
    let plan = crate::plan::Plan::build(&loaded);
    let healthy = components.iter().all(|c| c.healthy);
    if g.output == OutputFormat::Json {
        let doc = json!({
            "version": RESULT_JSON_VERSION,
            "project": names.project,
            "healthy": healthy,
            // What devenv reads and pushes to: the existing cluster's context, the external registry.
            "context": plan.context,
            "registry": { "host": plan.registry.push, "pull": plan.registry.pull },
            "components": components.iter().map(|c| json!({ "component": c.component, "name": c.name, "healthy": c.healthy, "detail": c.detail })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
    } else {
        let w = components
            .iter()
            .map(|c| c.component.len())
            .max()
            .unwrap_or(9)
            .max(9);
        let n = components
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        println!(
            "{:<w$}  {:<n$}  {:<9}  DETAIL",
            "COMPONENT", "NAME", "HEALTH"
        );
        for c in &components {
            println!(
                "{:<w$}  {:<n$}  {:<9}  {}",
                c.component,
                c.name,
                if c.healthy { "ok" } else { "UNHEALTHY" },
                c.detail
            );
        }
    }
    if healthy {
        Exit::Success
    } else {
        Exit::Unhealthy
    }
}

pub fn doctor(g: &GlobalArgs) -> Exit {
    let loaded = match super::load_config(g) {
        Ok(l) => l,
        Err(e) => return e,
    };
    // A link planted in .devenv/ is refused; a folder that cannot be written (a read-only
    // checkout) only costs the logs.
    let state_dir = crate::render::state_dir(&loaded.root);
    if let Err(e) = crate::state::refuse_links_in_state_dir(&state_dir) {
        eprintln!("error: {e}");
        return Exit::StepFailed;
    }
    let _ = crate::state::ensure_state_dir(&state_dir);
    let rt = runtime();
    let mut checks = rt.block_on(crate::steps::status::doctor(&loaded));
    // Which builder `docker build` uses, and how devenv calls it (images::builder).
    match super::detect_builder(&loaded, true) {
        Ok(Some(b)) => checks.push(crate::steps::preflight::Check::ok(
            "docker build",
            if b.build_flags().is_empty() {
                b.describe()
            } else {
                format!(
                    "{} (devenv adds {} so the push finds the image)",
                    b.describe(),
                    b.build_flags().join(" ")
                )
            },
        )),
        Ok(None) => {}
        Err(e) => checks.push(crate::steps::preflight::Check::fail(
            "docker build",
            e.message,
            e.hint,
        )),
    }
    let mut failed = false;
    for c in &checks {
        let mark = match c.status {
            crate::steps::preflight::CheckStatus::Ok => "ok  ",
            crate::steps::preflight::CheckStatus::Warn => "warn",
            crate::steps::preflight::CheckStatus::Fail => {
                failed = true;
                "FAIL"
            }
        };
        println!("{mark}  {:<22} {}", c.name, c.detail);
        if let Some(fix) = &c.fix {
            if c.status != crate::steps::preflight::CheckStatus::Ok {
                println!("      fix: {fix}");
            }
        }
    }
    if failed {
        Exit::Prerequisite
    } else {
        Exit::Success
    }
}

/// How long `down` waits for the namespaces it deleted to be gone.
const NAMESPACE_GONE_SECS: u64 = 180;

/// `down` on an existing (shared) cluster: delete exactly what this project and owner applied
/// (the inventory; the project and owner labels when it was lost), never the cluster, never
/// another developer's namespaces, never shared objects such as CRDs.
fn teardown_existing(loaded: &Loaded, reporter: &Reporter) -> Exit {
    let names = Names::new(loaded);
    let context = loaded.config.cluster.context.clone().unwrap_or_default();
    let (store, path) = match Ctx::load_inventory(loaded, &context) {
        Ok(x) => x,
        Err(e) => {
            reporter.error(&e, None);
            return Exit::StepFailed;
        }
    };
    let target = crate::tenancy::KubectlTarget::new(&context);
    let owner = crate::tenancy::owner_name();
    let rt = runtime();
    rt.block_on(async {
        let cancel = CancellationToken::new();
        let _ = crate::runner::install_signal_handlers(cancel.clone());
        let runner = Runner::new(log_dir(loaded), cancel).with_child_records(
            crate::render::state_dir(&loaded.root).join(CHILDREN_DIR),
        );
        let run = |argv: Vec<String>, timeout: u64| {
            let runner = runner.clone();
            let root = loaded.root.clone();
            async move {
                let mut it = argv.into_iter();
                let cmd = crate::runner::Cmd::new(it.next().unwrap_or_default()).args(it).cwd(root).timeout(std::time::Duration::from_secs(timeout));
                runner.run("down", &cmd).await
            }
        };
        let t = std::time::Instant::now();
        reporter.step_started("down", &format!("Delete what {} applied for {owner} in context {context}", names.project));
        let result: Result<usize, crate::runner::RunError> = async {
            if store.overlays.is_empty() {
                // No inventory (another machine, or .devenv deleted): the labels say what is ours.
                let selector = crate::tenancy::label_selector(&names.project, &owner);
                let out = run(target.api_resources_argv(), 60).await?;
                let resources = crate::tenancy::parse_api_resources(&out.stdout_str());
                run(target.delete_by_label_argv(&resources, &selector), 600).await?;
                run(target.delete_namespaces_by_label_argv(&selector), 600).await?;
                reporter.info(&format!("waiting up to {}s for the deleted namespaces to finish terminating", NAMESPACE_GONE_SECS));
                run(target.wait_namespaces_gone_by_label_argv(&selector, NAMESPACE_GONE_SECS), NAMESPACE_GONE_SECS + 30).await?;
                return Ok(0);
            }
            let (mut ours, shared) = crate::tenancy::split_for_shared_cluster(crate::tenancy::prune_set(&store.all(), &crate::tenancy::Inventory::default()));
            for r in shared {
                reporter.info(&format!("{r} is shared by the cluster: left in place"));
            }
            crate::tenancy::sort_for_delete(&mut ours);
            // Only what still carries this project's and owner's labels: the inventory is a
            // file, and a stale or planted one must not delete someone else's objects.
            let mut listings = Vec::new();
            for argv in target.get_batches(&ours) {
                listings.push(run(argv, 120).await?.stdout_str());
            }
            let (mut ours, foreign) = crate::tenancy::owned_objects(&ours, &listings, &names.project, &owner);
            for r in foreign {
                reporter.warn(&format!("{r} is in the inventory but does not carry the labels of {} for {owner}: left in place", names.project));
            }
            crate::tenancy::sort_for_delete(&mut ours);
            for argv in target.delete_batches(&ours) {
                run(argv, 600).await?;
            }
            // A deleted namespace stays Terminating a while; the next `up` could not create
            // anything in it: wait until it is gone.
            let namespaces: Vec<String> = ours.iter().filter(|r| r.is_namespace()).map(|r| r.name.clone()).collect();
            if !namespaces.is_empty() {
                reporter.info(&format!("waiting up to {NAMESPACE_GONE_SECS}s for namespace(s) {} to finish terminating", namespaces.join(", ")));
                run(target.wait_namespaces_gone_argv(&namespaces, NAMESPACE_GONE_SECS), NAMESPACE_GONE_SECS + 30).await?;
            }
            Ok(ours.len())
        }
        .await;
        match result {
            Ok(n) => {
                let _ = std::fs::remove_file(&path);
                reporter.step_finished("down", &crate::ui::StepOutcome::Done, t.elapsed());
                reporter.info(&format!("deleted {n} objects; the cluster and other developers' namespaces are untouched"));
                Exit::Success
            }
            Err(e) => {
                reporter.step_finished("down", &crate::ui::StepOutcome::Failed { message: e.to_string() }, t.elapsed());
                if e.is_interrupted() { Exit::Interrupted } else { Exit::StepFailed }
            }
        }
    })
}
