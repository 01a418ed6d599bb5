//! k3d's logging: logrus' TextFormatter as configured by k3d's `initLogging()`
//! (info/debug to stdout, warn and above to stderr; colors forced unless `LOG_COLORS` says no).

use crate::common::{go_quote, local_offset_s, now_ms, rfc3339};
use std::io::Write;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
    Fatal,
}

pub struct Logger {
    pub colors: bool,
    pub full_timestamp: bool,
    start_ms: u64,
}

fn logfmt_value(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '/' | '@' | '^' | '+')
        });
    if plain {
        s.to_string()
    } else {
        go_quote(s)
    }
}

impl Logger {
    /// k3d's configured logger (after `initLogging`).
    pub fn k3d() -> Logger {
        let colors = match std::env::var("LOG_COLORS") {
            Ok(v) if !v.is_empty() => crate::common::parse_go_bool(&v).unwrap_or(true),
            _ => true,
        };
        let full_timestamp = std::env::var("LOG_TIMESTAMPS").is_ok_and(|v| !v.is_empty())
            || std::env::args().any(|a| a == "--timestamps");
        Logger {
            colors,
            full_timestamp,
            start_ms: now_ms(),
        }
    }

    /// logrus' defaults, in effect before cobra runs k3d's `OnInitialize` hooks (flag errors):
    /// stderr, colored only on a terminal, `LOG_COLORS` ignored.
    pub fn default_logrus() -> Logger {
        Logger {
            colors: crate::common::isatty(2),
            full_timestamp: false,
            start_ms: now_ms(),
        }
    }

    pub fn format(&self, level: Level, msg: &str) -> String {
        let msg = msg.trim_end_matches('\n');
        let now = now_ms();
        let ts = rfc3339(now, local_offset_s(now), false);
        if self.colors {
            let (color, text) = match level {
                Level::Info => (36, "INFO"),
                Level::Warn => (33, "WARN"),
                Level::Error => (31, "ERRO"),
                Level::Fatal => (31, "FATA"),
            };
            let stamp = if self.full_timestamp {
                ts
            } else {
                format!("{:04}", (now - self.start_ms) / 1000)
            };
            format!("\x1b[{color}m{text}\x1b[0m[{stamp}] {msg:<44} \n")
        } else {
            let lvl = match level {
                Level::Info => "info",
                Level::Warn => "warning",
                Level::Error => "error",
                Level::Fatal => "fatal",
            };
            format!(
                "time={} level={lvl} msg={}\n",
                go_quote(&ts),
                logfmt_value(msg)
            )
        }
    }

    pub fn log(&self, level: Level, msg: &str) {
        let line = self.format(level, msg);
        if level == Level::Info {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        } else {
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }

    pub fn info(&self, msg: &str) {
        self.log(Level::Info, msg)
    }
    pub fn warn(&self, msg: &str) {
        self.log(Level::Warn, msg)
    }
    pub fn error(&self, msg: &str) {
        self.log(Level::Error, msg)
    }
    pub fn fatal(&self, msg: &str) -> ! {
        self.log(Level::Fatal, msg);
        std::process::exit(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colored_line_pads_to_44_and_adds_a_space() {
        let l = Logger {
            colors: true,
            full_timestamp: false,
            start_ms: now_ms(),
        };
        assert_eq!(
            l.format(Level::Info, "Prep: Network"),
            "\x1b[36mINFO\x1b[0m[0000] Prep: Network                                \n"
        );
    }

    #[test]
    fn logfmt_quotes_only_when_needed() {
        let l = Logger {
            colors: false,
            full_timestamp: false,
            start_ms: now_ms(),
        };
        let line = l.format(Level::Warn, "No node filter specified");
        assert!(line.starts_with("time=\""), "{line}");
        assert!(
            line.ends_with(" level=warning msg=\"No node filter specified\"\n"),
            "{line}"
        );
        assert!(l
            .format(Level::Info, "plain")
            .ends_with("level=info msg=plain\n"));
    }
}
