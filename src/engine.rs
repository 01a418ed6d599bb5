//! Runs a plan: every step whose dependencies are met starts at once (image builds overlap the
//! cluster and Calico), the journal records each finished step with its fingerprint, and a
//! failure or Ctrl-C stops scheduling, lets running steps end (or kills them), and leaves a
//! journal the next run resumes from.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::config::Loaded;
use crate::exit::Exit;
use crate::plan::{Plan, Step, StepKind};
use crate::render::Names;
use crate::runner::{Output, RunError, Runner};
use crate::state::{Journal, RunOutcome};
use crate::steps;
use crate::ui::{Reporter, RunSummary, StepOutcome, StepRecord};

/// What the user asked for that changes how steps behave.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `--recreate`: recreate the cluster when a change needs it, without asking.
    pub recreate: bool,
    /// `--yes`: answer yes to questions.
    pub yes: bool,
    /// Whether questions may be asked (a terminal, not CI, prompts allowed by config).
    pub interactive: bool,
    /// The devenv command line, for the journal and lock messages.
    pub command: String,
}

/// How a step that did not fail ended.
#[derive(Debug, Clone)]
pub enum Done {
    /// It changed something; `detail` goes into the journal.
    Changed(Option<serde_json::Value>),
    /// It found everything as declared.
    Unchanged(String),
    /// It did its work (e.g. rendered manifests) but changed nothing outside devenv: shown as
    /// done, without making the steps after it redo theirs.
    Observed(String),
}

/// Why a step failed, with what the user can do.
#[derive(Debug, Clone)]
pub struct StepError {
    pub message: String,
    pub hint: Option<String>,
    /// The exit status this failure gives (1, or 3 for a missing prerequisite).
    pub exit: Exit,
}

impl StepError {
    pub fn new(message: impl Into<String>) -> Self {
        StepError {
            message: message.into(),
            hint: None,
            exit: Exit::StepFailed,
        }
    }
    pub fn hint(mut self, h: impl Into<String>) -> Self {
        self.hint = Some(h.into());
        self
    }
    pub fn prerequisite(mut self) -> Self {
        self.exit = Exit::Prerequisite;
        self
    }
    pub fn interrupted() -> Self {
        StepError {
            message: "interrupted".into(),
            hint: None,
            exit: Exit::Interrupted,
        }
    }
    pub fn is_interrupted(&self) -> bool {
        self.exit == Exit::Interrupted
    }
}

impl From<RunError> for StepError {
    fn from(e: RunError) -> Self {
        if e.is_interrupted() {
            return StepError::interrupted();
        }
        StepError {
            message: e.to_string(),
            hint: e.hint(),
            exit: Exit::StepFailed,
        }
    }
}

/// What `preflight` observed, shared with the steps that would otherwise ask again.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// `k3d node list -o json`, parsed: every k3d container (cluster nodes and registries).
    pub nodes: Option<serde_json::Value>,
}

/// What the journal said about a step when this run reached it. `mark_started` replaces the
/// record (status `running`, no detail), so steps must not read the live journal to learn
/// whether they were done before.
#[derive(Debug, Clone, Default)]
pub struct Prior {
    /// Done with the same fingerprint, and nothing it needs changed in this run.
    pub done: bool,
    /// Facts the step recorded last time (cluster spec, overlay hash, tool stamps); they
    /// describe the world, so they survive an upstream change and a failed attempt.
    pub detail: Option<serde_json::Value>,
}

/// Everything a running step can use.
pub struct Ctx {
    pub loaded: Loaded,
    pub plan: Plan,
    pub names: Names,
    pub root: PathBuf,
    pub runner: Runner,
    pub reporter: Reporter,
    pub journal: Mutex<Journal>,
    pub opts: RunOptions,
    pub observed: Mutex<Observed>,
    /// Image name → content-addressed tag.
    pub image_tags: BTreeMap<String, String>,
    pub summary: Mutex<RunSummary>,
    /// Limits concurrent image builds.
    pub build_slots: tokio::sync::Semaphore,
    /// The journal's record of each step as this run found it (filled by `execute`).
    pub prior: Mutex<HashMap<String, Prior>>,
    /// Shared cluster (provider = "existing"): the owner's namespaces and labels.
    pub isolation: Option<crate::tenancy::Isolation>,
    /// What this project applied to this context (for pruning and `down`), and where it is kept.
    pub inventory: Mutex<(crate::tenancy::InventoryStore, PathBuf)>,
    /// The inventory of each overlay rendered in this run.
    pub rendered: Mutex<BTreeMap<String, crate::tenancy::Inventory>>,
    /// Each overlay rendered in this run (by its render step), for its apply step.
    pub renders: Mutex<BTreeMap<String, crate::overlays::RenderedOverlay>>,
}

impl Ctx {
    /// The inventory store of this project, context and owner (an empty one when none yet).
    pub fn load_inventory(
        loaded: &Loaded,
        context: &str,
    ) -> Result<(crate::tenancy::InventoryStore, PathBuf), String> {
        let owner = crate::tenancy::owner_name();
        let path = crate::tenancy::InventoryStore::path(
            &crate::render::state_dir(&loaded.root),
            context,
            &owner,
        );
        let store = crate::tenancy::InventoryStore::load(&path)?
            .unwrap_or_else(|| crate::tenancy::InventoryStore::new(context, &owner));
        Ok((store, path))
    }

    pub fn state_dir(&self) -> PathBuf {
        crate::render::state_dir(&self.root)
    }

    /// Run one planned command of a step through the runner.
    pub async fn run(
        &self,
        step: &Step,
        cmd: &crate::runner::Cmd,
    ) -> Result<Output, StepError> {
        let c = cmd.clone().cwd(&self.root);
        self.runner.run(&log_name(&step.id), &c).await.map_err(|e| {
            let hint = e.hint();
            let mut err = StepError::from(e);
            if err.hint.is_none() {
                err.hint = hint;
            }
            if !err.is_interrupted() {
                err.message = format!("failed to {}: {}", cmd.purpose, err.message);
            }
            err
        })
    }

    /// Run an ad-hoc command (built by a step at run time) with the step's log.
    pub async fn run_cmd(
        &self,
        step_id: &str,
        cmd: &crate::runner::Cmd,
        purpose: &str,
    ) -> Result<Output, StepError> {
        self.runner.run(&log_name(step_id), cmd).await.map_err(|e| {
            let mut err = StepError::from(e);
            if !err.is_interrupted() {
                err.message = format!("failed to {purpose}: {}", err.message);
            }
            err
        })
    }

    /// Did an earlier run finish this step with the same inputs (and nothing upstream changed)?
    pub fn was_done(&self, step: &Step) -> bool {
        match self.prior.lock().unwrap().get(&step.id) {
            Some(p) => p.done,
            // Not reached through `execute` (a step run on its own): ask the journal.
            None => self
                .journal
                .lock()
                .unwrap()
                .is_done(&step.id, &step.fingerprint),
        }
    }

    pub fn detail(&self, step_id: &str) -> Option<serde_json::Value> {
        if let Some(p) = self.prior.lock().unwrap().get(step_id) {
            return p.detail.clone();
        }
        self.journal
            .lock()
            .unwrap()
            .step(step_id)
            .and_then(|r| r.detail.clone())
    }

    pub fn cancelled(&self) -> bool {
        self.runner.cancel_token().is_cancelled()
    }
}

/// Step ids as file names (`image:api` → `image-api`).
pub fn log_name(id: &str) -> String {
    id.replace([':', '/'], "-")
}

/// Execute the steps `ids` (in plan order, each after its needs). Returns the exit status.
pub async fn execute(ctx: Arc<Ctx>, ids: Vec<String>) -> Exit {
    let started = Instant::now();
    let selected: HashSet<String> = ids.iter().cloned().collect();
    let steps: Vec<Step> = ctx
        .plan
        .steps
        .iter()
        .filter(|s| selected.contains(&s.id))
        .cloned()
        .collect();
    {
        let mut j = ctx.journal.lock().unwrap();
        j.begin_run(&crate::state::new_run_id(), Some(&ctx.opts.command));
        let _ = j.save();
    }

    let mut finished: HashMap<String, bool> = HashMap::new(); // id → did it change something
    let mut running: HashSet<String> = HashSet::new();
    let mut failed: Option<(String, StepError)> = None;
    let mut set: JoinSet<(String, Duration, Result<Done, StepError>)> = JoinSet::new();

    loop {
        // Start every step whose needs are finished (needs outside the selection count as met).
        if failed.is_none() && !ctx.cancelled() {
            for step in &steps {
                if finished.contains_key(&step.id) || running.contains(&step.id) {
                    continue;
                }
                let ready = step
                    .needs
                    .iter()
                    .all(|n| !selected.contains(n) || finished.contains_key(n));
                if !ready {
                    continue;
                }
                // A need that changed something invalidates what this step did before.
                let upstream_changed = step
                    .needs
                    .iter()
                    .any(|n| finished.get(n).copied().unwrap_or(false) && n != "preflight");
                running.insert(step.id.clone());
                ctx.reporter.step_started(&step.id, &step.title);
                {
                    let mut j = ctx.journal.lock().unwrap();
                    let prior = Prior {
                        done: !upstream_changed && j.is_done(&step.id, &step.fingerprint),
                        detail: j.step(&step.id).and_then(|r| r.detail.clone()),
                    };
                    ctx.prior.lock().unwrap().insert(step.id.clone(), prior);
                    j.mark_started(&step.id, &step.fingerprint);
                    let _ = j.save();
                }
                let ctx2 = ctx.clone();
                let step2 = step.clone();
                set.spawn(async move {
                    let t = Instant::now();
                    let r = steps::run(&ctx2, &step2).await;
                    (step2.id.clone(), t.elapsed(), r)
                });
            }
        }
        let Some(joined) = set.join_next().await else {
            break;
        };
        let (id, took, result) = match joined {
            Ok(x) => x,
            Err(e) => {
                // A panicking step is a bug; report it as a failure of an unknown step.
                failed.get_or_insert(("?".into(), StepError::new(format!("internal error: {e}"))));
                continue;
            }
        };
        running.remove(&id);
        let step = steps
            .iter()
            .find(|s| s.id == id)
            .expect("a spawned step is in the plan");
        let outcome = match &result {
            Ok(Done::Changed(detail)) => {
                let mut j = ctx.journal.lock().unwrap();
                j.mark_done(&id, &step.fingerprint, detail.clone());
                let _ = j.save();
                finished.insert(id.clone(), true);
                StepOutcome::Done
            }
            Ok(Done::Observed(_)) => {
                let mut j = ctx.journal.lock().unwrap();
                j.mark_done(&id, &step.fingerprint, None);
                let _ = j.save();
                finished.insert(id.clone(), false);
                StepOutcome::Done
            }
            Ok(Done::Unchanged(reason)) => {
                let mut j = ctx.journal.lock().unwrap();
                // The step may have recorded new facts itself (mark_done); else keep the old ones.
                let detail = j
                    .step(&id)
                    .and_then(|r| r.detail.clone())
                    .or_else(|| ctx.detail(&id));
                j.mark_done(&id, &step.fingerprint, detail);
                let _ = j.save();
                finished.insert(id.clone(), false);
                StepOutcome::Skipped {
                    reason: reason.clone(),
                }
            }
            Err(e) if e.is_interrupted() => {
                let mut j = ctx.journal.lock().unwrap();
                keep_detail(&mut j, step, ctx.detail(&id));
                j.mark_interrupted(&id);
                let _ = j.save();
                if failed.is_none() {
                    failed = Some((id.clone(), e.clone()));
                }
                StepOutcome::Interrupted
            }
            Err(e) => {
                let mut j = ctx.journal.lock().unwrap();
                keep_detail(&mut j, step, ctx.detail(&id));
                j.mark_failed(&id, &e.message);
                let _ = j.save();
                let mut msg = e.message.clone();
                if let Some(h) = &e.hint {
                    msg.push_str(&format!("\nhint: {h}"));
                }
                if failed
                    .as_ref()
                    .map(|(_, f)| f.is_interrupted())
                    .unwrap_or(true)
                {
                    failed = Some((id.clone(), e.clone()));
                }
                StepOutcome::Failed { message: msg }
            }
        };
        // A failure points at the devenv.toml key its step comes from (annotation on GitHub).
        let loc = match &outcome {
            StepOutcome::Failed { .. } => step
                .config_key
                .as_deref()
                .and_then(|k| ctx.loaded.locate(k))
                .map(|l| crate::ui::SourceLocation::new(l.file, l.line, l.col)),
            _ => None,
        };
        ctx.reporter
            .step_finished_at(&id, &outcome, took, loc.as_ref());
        ctx.summary.lock().unwrap().steps.push(StepRecord {
            id: id.clone(),
            title: step.title.clone(),
            outcome,
            duration: took,
        });
    }

    let interrupted = ctx.cancelled()
        || failed
            .as_ref()
            .map(|(_, e)| e.is_interrupted())
            .unwrap_or(false);
    let exit = match &failed {
        None if !interrupted => Exit::Success,
        _ if interrupted => Exit::Interrupted,
        Some((_, e)) => e.exit,
        None => Exit::StepFailed,
    };
    {
        let mut j = ctx.journal.lock().unwrap();
        let outcome = match exit {
            Exit::Success => RunOutcome::Success,
            Exit::Interrupted => RunOutcome::Interrupted,
            _ => RunOutcome::Failed,
        };
        j.finish_run(outcome, failed.as_ref().map(|(id, _)| id.as_str()));
        let _ = j.save();
    }
    if interrupted {
        let at = failed
            .as_ref()
            .map(|(id, _)| id.clone())
            .unwrap_or_default();
        let again = rerun_hint(&ctx);
        ctx.reporter.warn(&format!(
            "interrupted{}: every command devenv started was stopped; `{again}` resumes from there",
            if at.is_empty() {
                String::new()
            } else {
                format!(" during `{at}`")
            }
        ));
    } else if let Some((id, _)) = &failed {
        let again = rerun_hint(&ctx);
        ctx.reporter.info(&format!("stopped at step `{id}`; fix the problem and run `{again}` again: finished steps are not redone (logs: {})", ctx.runner.log_dir().display()));
    }
    let mut summary = ctx.summary.lock().unwrap().clone();
    summary.total = started.elapsed();
    ctx.reporter.summary(&summary);
    *ctx.summary.lock().unwrap() = summary;
    exit
}

/// A failed attempt must not lose what the step knew (e.g. the spec the cluster was created
/// with: without it a declined `--recreate` would look like no change next time). The journal
/// has no setter for the detail of an unfinished record: record it through `mark_done`, which
/// the caller's `mark_failed`/`mark_interrupted` then overrides (keeping the detail).
fn keep_detail(j: &mut Journal, step: &Step, detail: Option<serde_json::Value>) {
    if let Some(d) = detail {
        j.mark_done(&step.id, &step.fingerprint, Some(d));
    }
}

/// Is the step one whose work the journal alone can vouch for (no live check needed)?
pub fn is_step_kind(step: &Step, kind: &StepKind) -> bool {
    std::mem::discriminant(&step.kind) == std::mem::discriminant(kind)
}

/// The command to run again after a failure: the one that failed (`devenv verify`, `devenv
/// build api`, …), `devenv up` when unknown.
fn rerun_hint(ctx: &Ctx) -> String {
    let cmd = ctx.opts.command.trim();
    if cmd.is_empty() || cmd == "devenv" {
        "devenv up".to_string()
    } else {
        cmd.to_string()
    }
}
