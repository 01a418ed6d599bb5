//! What a run of steps (`up`, `build`, `apply`, `verify`) needs and how it runs: the
//! reporter, the project lock, the plan, the journal and the inventory, the runner, the
//! engine; and the helpers `down`/`reset` share with it (runtime, log folder, leftovers).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::{fail, printer};
use crate::cli::{GlobalArgs, OutputFormat};
use crate::config::Loaded;
use crate::engine::{self, Ctx, RunOptions};
use crate::exit::Exit;
use crate::hint::Hinted;
use crate::plan::Plan;
use crate::render::Names;
use crate::runner::Runner;
use crate::state::{Journal, ProjectLock};
use crate::ui::{OutputMode, Reporter, UiFlags};

fn ui_flags(g: &GlobalArgs) -> UiFlags {
    UiFlags {
        quiet: g.quiet,
        verbose: g.verbose > 0,
        no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        output_json: g.output == OutputFormat::Json,
    }
}

/// The reporter of a run (its mode from the flags, CI and the terminal), with devenv's own
/// logs (`-v`, `RUST_LOG`) set up to print above it.
pub(super) fn reporter(g: &GlobalArgs) -> Reporter {
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
pub(super) fn interactive(loaded: &Loaded) -> bool {
    loaded.config.run.prompts
        && std::io::stdin().is_terminal()
        && std::io::stderr().is_terminal()
        && !crate::ui::is_ci()
}

/// The runtime a run's commands are awaited on (two workers: the steps mostly wait).
pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

/// `devenv up --recreate`: how this run was started, for the journal and lock messages.
pub(super) fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("devenv {}", args.join(" "))
}

/// A new log folder for this run (`.devenv/logs/<run-id>`, `.devenv/logs/latest` points at it).
pub(super) fn log_dir(loaded: &Loaded) -> std::path::PathBuf {
    let state_dir = crate::render::state_dir(&loaded.root);
    let run = crate::state::new_run_id();
    crate::state::new_log_dir(&state_dir, &run, 20)
        .unwrap_or_else(|_| state_dir.join("logs").join(run))
}

/// Everything a run of steps needs, or the exit status that says why it cannot start.
pub(super) struct Session {
    pub loaded: Loaded,
    pub plan: Plan,
    tags: BTreeMap<String, String>,
    pub reporter: Reporter,
    _lock: ProjectLock,
}

pub(super) fn open_session(g: &GlobalArgs, wait: bool) -> Result<Session, Exit> {
    open_session_for(g, wait, true)
}

/// `needs_cluster`: false for `build`, which reaches Docker and the registry only.
pub(super) fn open_session_for(
    g: &GlobalArgs,
    wait: bool,
    needs_cluster: bool,
) -> Result<Session, Exit> {
    open(g, wait, needs_cluster, true)
}

/// A session for a command that runs only renderers (`render`): no cluster, and no
/// `docker builder inspect` (the image tags follow the cached builder, as `plan`'s do).
pub(super) fn open_offline_session(g: &GlobalArgs) -> Result<Session, Exit> {
    open(g, false, false, false)
}

/// A session for a command that reads the cluster but builds nothing (`diff`): the
/// cluster's context is chosen, no `docker builder inspect`.
pub(super) fn open_reading_session(g: &GlobalArgs) -> Result<Session, Exit> {
    open(g, false, true, false)
}

fn open(
    g: &GlobalArgs,
    wait: bool,
    needs_cluster: bool,
    ask_builder: bool,
) -> Result<Session, Exit> {
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
    let (plan, tags) = super::prepare_plan(&loaded, ask_builder)?;
    Ok(Session {
        loaded,
        plan,
        tags,
        reporter,
        _lock: lock,
    })
}

/// Run these steps of the session's plan; returns the exit status (and prints JSON if asked).
pub(super) fn run_steps(
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
    let inventory = match Ctx::load_inventory(&s.loaded, &s.plan.kube.context) {
        Ok(i) => i,
        Err(e) => {
            s.reporter.error(&e.render(), None);
            return Exit::StepFailed;
        }
    };
    let state_dir = crate::render::state_dir(&s.loaded.root);
    stop_leftovers(&state_dir, &s.reporter);
    let rt = runtime();
    rt.block_on(async move {
        let runner = signal_aware_runner(&s, &state_dir);
        // The lock is held until the run ends.
        let (ctx, _lock) = new_ctx(s, journal, inventory, runner, opts);
        let ctx = Arc::new(ctx);
        let exit = engine::execute(ctx.clone(), ids, |ctx, step| {
            Box::pin(async move { crate::steps::run(&ctx, &step).await })
        })
        .await;
        if g.output == OutputFormat::Json {
            printer::json(&super::run_json::result_json(&ctx, exit));
        }
        exit
    })
}

/// What the steps of a run can use (`engine::Ctx`), from the session and what the run
/// loaded: one construction for `run_steps` and `render`. The project lock comes back with
/// it, for the caller to hold while the steps run.
pub(super) fn new_ctx(
    s: Session,
    journal: Journal,
    inventory: (crate::tenancy::InventoryStore, std::path::PathBuf),
    runner: Runner,
    opts: RunOptions,
) -> (Ctx, ProjectLock) {
    let parallel = match s.loaded.config.build.parallel {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .min(4),
        n => n as usize,
    };
    let names = Names::new(&s.loaded);
    let ctx = Ctx {
        root: s.loaded.root.clone(),
        names,
        plan: s.plan,
        runner,
        reporter: std::sync::Arc::new(s.reporter.clone()),
        journal: Mutex::new(journal),
        opts,
        observed: Mutex::new(Default::default()),
        image_tags: s.tags,
        summary: Mutex::new(crate::engine::RunSummary {
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
    };
    (ctx, s._lock)
}

/// Where the runner records the commands running now (`.devenv/children/PGID.json`).
pub(super) const CHILDREN_DIR: &str = "children";

/// The runner of a command that runs steps: logs in the run's folder, output lines to the
/// reporter, children recorded (a crash leaves none running), and Ctrl-C / SIGTERM cancel
/// it. Inside the runtime: the signal handlers are tokio's.
pub(super) fn signal_aware_runner(s: &Session, state_dir: &std::path::Path) -> Runner {
    let cancel = CancellationToken::new();
    if let Err(e) = crate::runner::install_signal_handlers(cancel.clone()) {
        tracing::warn!("cannot install signal handlers: {e}");
    }
    Runner::new(log_dir(&s.loaded), cancel)
        .with_line_sink(s.reporter.line_sink())
        .with_child_records(state_dir.join(CHILDREN_DIR))
}

/// Stops what a devenv that was killed (SIGKILL, a closed terminal) left running: a child
/// that outlived it (no parent-death signal off Linux) or what that child started. Called
/// with the project lock held, so nothing recorded belongs to a devenv still running.
pub(super) fn stop_leftovers(state_dir: &std::path::Path, reporter: &Reporter) {
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

/// The names a command was given (all of `known` when none), or a usage error naming them.
pub(super) fn select(
    what: &str,
    known: &[String],
    given: &[String],
    loaded: &Loaded,
) -> Result<Vec<String>, Exit> {
    if let Some(bad) = given.iter().find(|n| !known.contains(n)) {
        let list = if known.is_empty() {
            "(none)".to_string()
        } else {
            known.join(", ")
        };
        return Err(fail(
            Exit::Usage,
            Hinted::new(format!(
                "no {what} named {bad:?} in {}",
                loaded.source_name()
            ))
            .help(format!("{what}s: {list}")),
        ));
    }
    Ok(if given.is_empty() {
        known.to_vec()
    } else {
        given.to_vec()
    })
}

/// `.devenv/` for a command that only observes (`status`, `doctor`): they write their logs
/// there. A link planted in `.devenv/` is refused; a folder that cannot be written (a
/// read-only checkout) only costs the logs.
pub(super) fn observe_state_dir(loaded: &Loaded) -> Result<(), Exit> {
    let state_dir = crate::render::state_dir(&loaded.root);
    if let Err(e) = crate::state::refuse_links_in_state_dir(&state_dir) {
        return Err(fail(Exit::StepFailed, Hinted::new(e.to_string())));
    }
    let _ = crate::state::ensure_state_dir(&state_dir);
    Ok(())
}
