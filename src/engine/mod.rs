//! Runs a plan: every step whose dependencies are met starts at once (image builds overlap the
//! cluster and Calico), the journal records each finished step with its fingerprint, and a
//! failure or Ctrl-C stops scheduling, lets running steps end (or kills them), and leaves a
//! journal the next run resumes from.
//!
//! The engine's room has three doors, all one-way: the steps use [`context`] (what a running
//! step can use, how it ends), the ui implements [`report::Report`] and reads [`summary`],
//! and the command hands [`execute`] the function that runs a step (`steps::run`), so the
//! engine depends on neither the steps nor the ui.

pub mod context;
pub mod report;
pub mod summary;

pub use context::{log_name, Ctx, Done, Observed, Prior, RunOptions, StepError};
pub use report::{Report, SourceLocation};
pub use summary::{
    Endpoint, ImageAction, ImageRecord, RunResult, RunSummary, StepOutcome, StepRecord, UnitKind,
    UnitRecord,
};

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::exit::Exit;
use crate::plan::Step;
use crate::state::{Journal, RunOutcome};

/// A step at work: what [`RunStep`] returns.
pub type StepFuture = Pin<Box<dyn Future<Output = Result<Done, StepError>> + Send>>;

/// How one step runs (`steps::run`), handed in by the command: the steps depend on the
/// engine's [`Ctx`], so the engine must not depend back on them.
pub type RunStep = fn(Arc<Ctx>, Step) -> StepFuture;

/// What a spawned step hands back: its id, how long it took, how it ended.
type Finished = (String, Duration, Result<Done, StepError>);

/// Execute the steps `ids` (in plan order, each after its needs). Returns the exit status.
pub async fn execute(ctx: Arc<Ctx>, ids: Vec<String>, run_step: RunStep) -> Exit {
    let started = Instant::now();
    let mut run = Schedule::new(&ctx, &ids);
    {
        let mut j = ctx.journal.lock().unwrap();
        j.begin_run(&crate::state::new_run_id(), Some(&ctx.opts.command));
        let _ = j.save();
    }
    let mut set: JoinSet<Finished> = JoinSet::new();
    loop {
        if run.failed.is_none() && !ctx.cancelled() {
            run.start_ready(&ctx, &mut set, run_step);
        }
        let Some(joined) = set.join_next().await else {
            break;
        };
        match joined {
            Ok((id, took, result)) => run.finish(&ctx, &id, took, result),
            Err(e) => {
                // A panicking step is a bug; report it as a failure of an unknown step.
                run.failed
                    .get_or_insert(("?".into(), StepError::new(format!("internal error: {e}"))));
            }
        }
    }
    let exit = run.end(&ctx);
    let mut summary = ctx.summary.lock().unwrap().clone();
    summary.total = started.elapsed();
    ctx.reporter.summary(&summary);
    *ctx.summary.lock().unwrap() = summary;
    exit
}

/// The state of one `execute`: which selected steps finished, run, or failed first.
struct Schedule {
    steps: Vec<Step>,
    selected: HashSet<String>,
    /// id → did it change something.
    finished: HashMap<String, bool>,
    running: HashSet<String>,
    /// The step that stopped the run (a failure wins over an interruption).
    failed: Option<(String, StepError)>,
}

impl Schedule {
    fn new(ctx: &Ctx, ids: &[String]) -> Schedule {
        let selected: HashSet<String> = ids.iter().cloned().collect();
        let steps = ctx
            .plan
            .steps
            .iter()
            .filter(|s| selected.contains(&s.id))
            .cloned()
            .collect();
        Schedule {
            steps,
            selected,
            finished: HashMap::new(),
            running: HashSet::new(),
            failed: None,
        }
    }

    /// Start every step whose needs are finished (needs outside the selection count as met).
    fn start_ready(&mut self, ctx: &Arc<Ctx>, set: &mut JoinSet<Finished>, run_step: RunStep) {
        for step in &self.steps {
            if self.finished.contains_key(&step.id) || self.running.contains(&step.id) {
                continue;
            }
            let ready = step
                .needs
                .iter()
                .all(|n| !self.selected.contains(n) || self.finished.contains_key(n));
            if !ready {
                continue;
            }
            // A need that changed something invalidates what this step did before.
            let upstream_changed = step
                .needs
                .iter()
                .any(|n| self.finished.get(n).copied().unwrap_or(false) && n != "preflight");
            self.running.insert(step.id.clone());
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
            let (ctx, step) = (ctx.clone(), step.clone());
            set.spawn(async move {
                let t = Instant::now();
                let id = step.id.clone();
                let r = run_step(ctx, step).await;
                (id, t.elapsed(), r)
            });
        }
    }

    /// Record how a step ended: in the journal, on screen and in the run summary.
    fn finish(&mut self, ctx: &Ctx, id: &str, took: Duration, result: Result<Done, StepError>) {
        self.running.remove(id);
        let step = self
            .steps
            .iter()
            .find(|s| s.id == id)
            .expect("a spawned step is in the plan")
            .clone();
        let outcome = self.record(ctx, &step, result);
        // A failure points at the devenv.toml key its step comes from (annotation on GitHub).
        let loc = match &outcome {
            StepOutcome::Failed { .. } => step
                .config_key
                .as_deref()
                .and_then(|k| ctx.loaded.locate(k))
                .map(|l| SourceLocation::new(l.file, l.line, l.col)),
            _ => None,
        };
        ctx.reporter
            .step_finished_at(id, &outcome, took, loc.as_ref());
        ctx.summary.lock().unwrap().steps.push(StepRecord {
            id: id.to_string(),
            title: step.title.clone(),
            outcome,
            duration: took,
        });
    }

    /// The journal's record of a finished step, and the outcome the user reads.
    fn record(&mut self, ctx: &Ctx, step: &Step, result: Result<Done, StepError>) -> StepOutcome {
        let id = &step.id;
        let mut j = ctx.journal.lock().unwrap();
        let outcome = match result {
            Ok(Done::Changed(detail)) => {
                j.mark_done(id, &step.fingerprint, detail);
                self.finished.insert(id.clone(), true);
                StepOutcome::Done
            }
            Ok(Done::Observed(_)) => {
                j.mark_done(id, &step.fingerprint, None);
                self.finished.insert(id.clone(), false);
                StepOutcome::Done
            }
            Ok(Done::Unchanged(reason)) => {
                // The step may have recorded new facts itself (mark_done); else keep the old ones.
                let detail = j
                    .step(id)
                    .and_then(|r| r.detail.clone())
                    .or_else(|| ctx.detail(id));
                j.mark_done(id, &step.fingerprint, detail);
                self.finished.insert(id.clone(), false);
                StepOutcome::Skipped { reason }
            }
            Err(e) if e.is_interrupted() => {
                keep_detail(&mut j, step, ctx.detail(id));
                j.mark_interrupted(id);
                if self.failed.is_none() {
                    self.failed = Some((id.clone(), e));
                }
                StepOutcome::Interrupted
            }
            Err(e) => {
                keep_detail(&mut j, step, ctx.detail(id));
                j.mark_failed(id, &e.message);
                let outcome = StepOutcome::Failed {
                    message: e.message.clone(),
                    help: e.hint.clone(),
                };
                if self
                    .failed
                    .as_ref()
                    .map(|(_, f)| f.is_interrupted())
                    .unwrap_or(true)
                {
                    self.failed = Some((id.clone(), e));
                }
                outcome
            }
        };
        let _ = j.save();
        outcome
    }

    /// The run is over: its exit status, recorded in the journal, and how to go on.
    fn end(&self, ctx: &Ctx) -> Exit {
        let interrupted = ctx.cancelled()
            || self
                .failed
                .as_ref()
                .map(|(_, e)| e.is_interrupted())
                .unwrap_or(false);
        let exit = match &self.failed {
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
            j.finish_run(outcome, self.failed.as_ref().map(|(id, _)| id.as_str()));
            let _ = j.save();
        }
        if interrupted {
            let at = self
                .failed
                .as_ref()
                .map(|(id, _)| format!(" during `{id}`"))
                .unwrap_or_default();
            let again = rerun_hint(ctx);
            ctx.reporter.warn(&format!(
                "interrupted{at}: every command devenv started was stopped; `{again}` resumes from there"
            ));
        } else if let Some((id, _)) = &self.failed {
            let again = rerun_hint(ctx);
            ctx.reporter.info(&format!("stopped at step `{id}`; fix the problem and run `{again}` again: finished steps are not redone (logs: {})", ctx.runner.log_dir().display()));
        }
        exit
    }
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
