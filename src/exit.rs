//! The documented exit codes (README, `devenv --help`). 5 is reserved there ("not built
//! yet"); no command returns it, so it has no variant.

/// Why devenv stopped, as the process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: everything asked was done (or is healthy).
    Success,
    /// 1: a step failed; the journal lets the next `up` resume.
    StepFailed,
    /// 2: bad config or bad command line; nothing was run.
    Usage,
    /// 3: a prerequisite is missing (doctor, preflight); nothing was created.
    Prerequisite,
    /// 4: `status` found something unhealthy.
    Unhealthy,
    /// 130: interrupted by SIGINT or SIGTERM; children were stopped.
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::StepFailed => 1,
            Exit::Usage => 2,
            Exit::Prerequisite => 3,
            Exit::Unhealthy => 4,
            Exit::Interrupted => 130,
        }
    }
}
