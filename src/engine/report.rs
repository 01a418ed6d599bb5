//! The engine's door to the user: the [`Report`] trait, which the ui's reporter implements.
//! The engine and the steps call it; they never depend on how it prints.

use std::path::PathBuf;

use super::summary::{RunSummary, StepOutcome};
use std::time::Duration;

/// What the engine and the steps tell the user while a run goes on.
pub trait Report: Send + Sync {
    /// A step begins.
    fn step_started(&self, id: &str, title: &str);
    /// A step ended; a failure's location (a `devenv.toml` key) is shown with its message.
    fn step_finished_at(
        &self,
        id: &str,
        outcome: &StepOutcome,
        duration: Duration,
        location: Option<&SourceLocation>,
    );
    /// A neutral message.
    fn info(&self, msg: &str);
    /// Something the user should know, that does not stop the run.
    fn warn(&self, msg: &str);
    /// The run is over: what it did.
    fn summary(&self, summary: &RunSummary);
}

/// A place in a file an error refers to (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLocation {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub col: Option<usize>,
}

impl SourceLocation {
    pub fn new(file: impl Into<PathBuf>, line: usize, col: usize) -> SourceLocation {
        SourceLocation {
            file: file.into(),
            line: Some(line),
            col: Some(col),
        }
    }

    /// The whole file (no line known).
    pub fn file(file: impl Into<PathBuf>) -> SourceLocation {
        SourceLocation {
            file: file.into(),
            line: None,
            col: None,
        }
    }
}

impl std::fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.col {
                write!(f, ":{c}")?;
            }
        }
        Ok(())
    }
}
