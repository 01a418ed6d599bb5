//! What a run did: the engine records it step by step (and the steps add their images and
//! overlays); the reporter only reads it for the final summary.

use std::time::Duration;

/// How a step ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    Done,
    Skipped {
        reason: String,
    },
    /// The message, and what the user can do as a field of its own (printed as an
    /// `  = help: …` line under the message).
    Failed {
        message: String,
        help: Option<String>,
    },
    Interrupted,
}

/// One step of a finished run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRecord {
    pub id: String,
    pub title: String,
    pub outcome: StepOutcome,
    pub duration: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageAction {
    Built,
    /// Already in the registry with the same content hash.
    Reused,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRecord {
    pub name: String,
    /// `localhost:5111/api:3f2a…`
    pub reference: String,
    pub action: ImageAction,
}

/// The kinds of unit a summary lists (the deploy path's own).
pub use crate::deploy::UnitKind;

/// A unit the run deployed (or found unchanged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitRecord {
    /// Overlay or chart: the summary lists each kind under its own heading.
    pub kind: crate::deploy::UnitKind,
    pub name: String,
    /// Number of objects applied.
    pub objects: usize,
    /// Hash of the rendered manifest.
    pub hash: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub name: String,
    pub url: String,
}

/// What a run did, for the final summary (terminal table and GitHub job summary).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// The subcommand, e.g. `up` (shown as "devenv up").
    pub command: String,
    pub steps: Vec<StepRecord>,
    pub images: Vec<ImageRecord>,
    pub units: Vec<UnitRecord>,
    pub endpoints: Vec<Endpoint>,
    pub total: Duration,
}

/// The overall result of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunResult {
    Succeeded,
    Failed,
    Interrupted,
}

impl RunResult {
    pub fn word(self) -> &'static str {
        match self {
            RunResult::Succeeded => "succeeded",
            RunResult::Failed => "failed",
            RunResult::Interrupted => "interrupted",
        }
    }
}

impl RunSummary {
    /// Interrupted wins over failed (a Ctrl-C often makes running steps fail).
    pub fn result(&self) -> RunResult {
        if self
            .steps
            .iter()
            .any(|s| s.outcome == StepOutcome::Interrupted)
        {
            RunResult::Interrupted
        } else if self
            .steps
            .iter()
            .any(|s| matches!(s.outcome, StepOutcome::Failed { .. }))
        {
            RunResult::Failed
        } else {
            RunResult::Succeeded
        }
    }
}
