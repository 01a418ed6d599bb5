//! `version`: read first, before anything else of the file. A future version 2 would
//! migrate a version 1 table here.

use super::spans::SpanMap;
use crate::config::diagnostic::{ConfigError, ConfigErrors, Source};
use crate::config::schema::{CURRENT_VERSION, SUPPORTED_VERSIONS};

pub(super) fn check_version(
    value: &toml::Value,
    src: &Source,
    spans: &SpanMap,
) -> Result<(), ConfigErrors> {
    let supported = SUPPORTED_VERSIONS
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    match value.get("version") {
        None => Err(ConfigErrors::single(ConfigError {
            key: "version".into(),
            message: format!("{} has no `version`", src.name),
            help: Some(format!("add `version = {CURRENT_VERSION}` as the first line (this devenv reads versions {supported})")),
            location: Some(src.locate(0..0)),
        })),
        Some(toml::Value::Integer(v)) if SUPPORTED_VERSIONS.contains(v) => Ok(()),
        Some(other) => {
            let loc = spans.lookup("version").map(|(_, e)| src.locate(e.value.clone()));
            let (message, help) = match other {
                toml::Value::Integer(v) if *v > CURRENT_VERSION => (
                    format!("unsupported devenv.toml version {v}; this devenv reads versions {supported}"),
                    "this file was written for a newer devenv: upgrade devenv (see README, Install)".to_string(),
                ),
                toml::Value::Integer(v) => (
                    format!("unsupported devenv.toml version {v}; this devenv reads versions {supported}"),
                    format!("set `version = {CURRENT_VERSION}`"),
                ),
                toml::Value::String(s) if s.trim().parse::<i64>().is_ok() => (
                    format!("`version` must be a number, found the string {s:?}"),
                    format!("write it without quotes: `version = {}`", s.trim()),
                ),
                other => (
                    format!("`version` must be a whole number, found {}", type_name(other)),
                    format!("set `version = {CURRENT_VERSION}`"),
                ),
            };
            Err(ConfigErrors::single(ConfigError {
                key: "version".into(),
                message,
                help: Some(help),
                location: loc,
            }))
        }
    }
}

/// How a value is named in messages.
pub(super) fn type_name(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("the string {s:?}"),
        toml::Value::Integer(i) => format!("the number {i}"),
        toml::Value::Float(f) => format!("the number {f:?}"),
        toml::Value::Boolean(b) => format!("{b}"),
        toml::Value::Datetime(d) => format!("the date {d}"),
        toml::Value::Array(_) => "a list".into(),
        toml::Value::Table(_) => "a table".into(),
    }
}
