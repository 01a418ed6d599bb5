//! One shape for an error a user can act on: what went wrong, and what to do about it.
//!
//! The help travels as a field, never inside the message (`"…\n  = help: …"` strings had
//! to be split apart again by whoever printed them). Whoever prints an error prints the
//! help the same way everywhere: an `  = help: …` line under the message (the style of
//! rustc and cargo, and of devenv's config errors).

use std::fmt;

/// A message with an optional help line. `Display` shows the message only: the reporter
/// (or the command printing it) adds the help line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hinted {
    pub message: String,
    pub help: Option<String>,
}

impl Hinted {
    pub fn new(message: impl Into<String>) -> Hinted {
        Hinted {
            message: message.into(),
            help: None,
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Hinted {
        self.help = Some(help.into());
        self
    }

    /// The message and its help line as a user reads them on stderr.
    pub fn render(&self) -> String {
        match &self.help {
            Some(h) => format!("{}\n  = help: {h}", self.message),
            None => self.message.clone(),
        }
    }
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

impl From<String> for Hinted {
    fn from(message: String) -> Hinted {
        Hinted::new(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_is_a_line_of_its_own_under_the_message() {
        let e = Hinted::new("context \"x\" is not in your kubeconfig")
            .help("see `kubectl config get-contexts`");
        assert_eq!(e.to_string(), "context \"x\" is not in your kubeconfig");
        assert_eq!(
            e.render(),
            "context \"x\" is not in your kubeconfig\n  = help: see `kubectl config get-contexts`"
        );
        assert_eq!(Hinted::new("plain").render(), "plain");
    }
}
