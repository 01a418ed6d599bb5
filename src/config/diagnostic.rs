//! Config errors that point at the file, line, column and key, show the line, and say how to fix it.
//!
//! Rendered like rustc / cargo diagnostics:
//! ```text
//! error: `cluster.agents` must be at most 50, found 400
//!   --> devenv.toml:7:10
//!    |
//!  7 | agents = 400
//!    |          ^^^
//!    = help: lower cluster.agents
//! ```
//!
//! Why hand-written and not `annotate-snippets` (what rustc and cargo use; 0.12.18 tried,
//! with `Renderer::plain()`, on the errors of tests/it/snapshots/config_error_*.snap): it
//! cannot print what devenv's users read today, and no option of its `Renderer` changes it:
//! - it always puts an empty gutter line (`   |`) between the caret line and `= help:`
//!   (or, with the help as a group of its own, prints `help: …` at column 0, without `=`);
//!   devenv's `= help:` comes right under the caret line;
//! - its origin line is `--> file:line:col` and nothing more; devenv adds the key,
//!   `--> devenv.toml:7:10 (key `cluster.agents`)`. Passing that text as an `Origin` path
//!   prints it, but then the snippet gets a stray ` ::: ` line;
//! - a key that is not written (line 0) has no snippet: devenv prints
//!   `  --> devenv.toml (key `x`, not written there: …)` and `  = help:`, indented by two;
//!   annotate-snippets indents them by zero and one;
//! - it expands a tab in the source line to four spaces (and shifts the caret); devenv
//!   keeps the tab in both lines, so the caret stays under the value in any tab width.
//!
//! Switching would change every config error users and the snapshots see, which this
//! reshape (issue 15) must not do.

use std::fmt;
use std::ops::Range;

/// A text that config was read from: the user's devenv.toml or a built-in profile.
#[derive(Debug, Clone)]
pub struct Source {
    /// How the file is named in messages (a path relative to the working directory when possible).
    pub name: String,
    pub text: String,
}

impl Source {
    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = self.floor_boundary(offset);
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = self.text[line_start..offset].chars().count() + 1;
        (line, col)
    }

    fn floor_boundary(&self, offset: usize) -> usize {
        let mut o = offset.min(self.text.len());
        while !self.text.is_char_boundary(o) {
            o -= 1;
        }
        o
    }

    fn line_text(&self, line: usize) -> &str {
        self.text.lines().nth(line.saturating_sub(1)).unwrap_or("")
    }

    /// Where a span starts, with the line's text and the width of the caret.
    pub fn locate(&self, span: Range<usize>) -> Location {
        let (line, col) = self.line_col(span.start);
        let text = self.line_text(line).to_string();
        // The caret covers the span, but never past the end of its first line.
        // Spans may end inside a multi-byte character (a one-byte minimum width): round to
        // character boundaries before slicing.
        let start = self.floor_boundary(span.start);
        let mut end = span.end.max(start + 1).min(self.text.len());
        while !self.text.is_char_boundary(end) {
            end += 1;
        }
        let on_line: String = self.text[start.min(end)..end]
            .chars()
            .take_while(|c| *c != '\n')
            .collect();
        let width = on_line.chars().count().max(1);
        Location {
            file: self.name.clone(),
            line,
            col,
            line_text: text,
            width,
        }
    }
}

impl Source {
    /// A location for a key that is not written in this file (its default applies):
    /// line 0, rendered without a source line.
    pub fn unwritten(&self) -> Location {
        Location {
            file: self.name.clone(),
            line: 0,
            col: 0,
            line_text: String::new(),
            width: 0,
        }
    }
}

/// A position in a source file (`line` 0: the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub line_text: String,
    pub width: usize,
}

/// One problem in the config.
#[derive(Debug, Clone)]
pub struct ConfigError {
    /// The key path, e.g. `cluster.agents` or `overlays[1].depends_on[0]`.
    pub key: String,
    pub message: String,
    pub help: Option<String>,
    pub location: Option<Location>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        match &self.location {
            Some(loc) if loc.line == 0 => {
                writeln!(
                    f,
                    "  --> {} (key `{}`, not written there: its default applies)",
                    loc.file, self.key
                )?;
            }
            Some(loc) => {
                let gutter = loc.line.to_string().len();
                let pad = " ".repeat(gutter);
                writeln!(
                    f,
                    "{pad}--> {}:{}:{} (key `{}`)",
                    loc.file, loc.line, loc.col, self.key
                )?;
                writeln!(f, "{pad} |")?;
                writeln!(f, "{} | {}", loc.line, loc.line_text)?;
                let lead: String = loc
                    .line_text
                    .chars()
                    .take(loc.col.saturating_sub(1))
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                writeln!(f, "{pad} | {lead}{}", "^".repeat(loc.width))?;
            }
            None => writeln!(f, "  --> key `{}`", self.key)?,
        }
        if let Some(help) = &self.help {
            // `=` under the gutter's `|`, as rustc aligns it.
            let pad = match &self.location {
                Some(loc) if loc.line > 0 => " ".repeat(loc.line.to_string().len()),
                _ => " ".into(),
            };
            for (i, line) in help.lines().enumerate() {
                if i == 0 {
                    writeln!(f, "{pad} = help: {line}")?;
                } else {
                    writeln!(f, "{pad}         {line}")?;
                }
            }
        }
        Ok(())
    }
}

/// Every problem found in one load, reported together.
#[derive(Debug, Clone, Default)]
pub struct ConfigErrors {
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
    pub fn len(&self) -> usize {
        self.errors.len()
    }
    pub fn single(e: ConfigError) -> Self {
        ConfigErrors { errors: vec![e] }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        if self.errors.len() > 1 {
            writeln!(f)?;
            writeln!(
                f,
                "error: {} problems in the config; nothing was run",
                self.errors.len()
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let s = Source {
            name: "devenv.toml".into(),
            text: "version = 1\n[cluster]\nagents = 400\n".into(),
        };
        let off = s.text.find("400").unwrap();
        let loc = s.locate(off..off + 3);
        assert_eq!((loc.line, loc.col, loc.width), (3, 10, 3));
        assert_eq!(loc.line_text, "agents = 400");
    }

    #[test]
    fn rendering_shows_file_line_key_caret_and_help() {
        let s = Source {
            name: "devenv.toml".into(),
            text: "version = 1\nagents = 400\n".into(),
        };
        let off = s.text.find("400").unwrap();
        let e = ConfigError {
            key: "cluster.agents".into(),
            message: "too many".into(),
            help: Some("lower it".into()),
            location: Some(s.locate(off..off + 3)),
        };
        let text = e.to_string();
        assert!(
            text.contains("--> devenv.toml:2:10 (key `cluster.agents`)"),
            "{text}"
        );
        assert!(text.contains("2 | agents = 400"), "{text}");
        assert!(text.contains("  |          ^^^"), "{text}");
        assert!(text.contains("= help: lower it"), "{text}");
    }

    #[test]
    fn spans_inside_multibyte_characters_do_not_panic() {
        let s = Source {
            name: "devenv.toml".into(),
            text: "version = 1\n\u{feff}x = \"\u{1c4ca}\"\n".into(),
        };
        for start in 0..s.text.len() {
            let loc = s.locate(start..start);
            assert!(loc.line >= 1 && loc.width >= 1);
        }
    }
}
