//! What a running step can use ([`Ctx`]) and how it ends ([`Done`], [`StepError`]). The
//! steps depend on these types; the engine fills them; neither knows the other's internals.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::config::Loaded;
use crate::exit::Exit;
use crate::hint::Hinted;
use crate::plan::{Plan, Step};
use crate::render::Names;
use crate::runner::{Output, RunError, Runner};
use crate::state::Journal;

use super::report::Report;
use super::summary::RunSummary;

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
    /// `devenv apply NAME`: the steps of the units named, applied even when their render did
    /// not change (what someone changed by hand on the cluster is put back); what they
    /// depend on is applied only when changed.
    pub reapply: Vec<String>,
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
    /// Where progress and messages go (the ui's reporter, behind the engine's trait).
    pub reporter: Arc<dyn Report>,
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
    pub renders: Mutex<BTreeMap<String, crate::deploy::RenderedOverlay>>,
}

impl Ctx {
    /// The inventory store of this project, context and owner (an empty one when none yet).
    pub fn load_inventory(
        loaded: &Loaded,
        context: &str,
    ) -> Result<(crate::tenancy::InventoryStore, PathBuf), Hinted> {
        let owner = crate::tenancy::owner_name();
        let path = crate::tenancy::InventoryStore::path(
            &crate::render::state_dir(&loaded.root),
            context,
            &owner,
        );
        let store = crate::tenancy::InventoryStore::load(&path)
            .map_err(|e| Hinted::new(e.to_string()))?
            .unwrap_or_else(|| crate::tenancy::InventoryStore::new(context, &owner));
        Ok((store, path))
    }

    pub fn state_dir(&self) -> PathBuf {
        crate::render::state_dir(&self.root)
    }

    /// Run one planned command of a step through the runner.
    pub async fn run(&self, step: &Step, cmd: &crate::runner::Cmd) -> Result<Output, StepError> {
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
