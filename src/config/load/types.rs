//! Deserializing into [`Config`], collecting every unknown key and wrong type (not just the
//! first): each offending key is reported, dropped (or given a placeholder), and the
//! deserialization tried again.

use super::humanize::{expected_names, humanize_type_error};
use super::keys::{insert_key, join_key, parent_key, remove_key};
use super::spans::{locate_key_or_value, profile_note, SpanMap};
use crate::config::diagnostic::{ConfigError, Source};
use crate::config::schema::Config;
use crate::config::suggest::closest;

/// What to do with the offending key before trying again.
pub(super) enum Fix {
    /// Drop it: the default applies.
    Remove,
    /// A required key is missing: put an empty string (every required key is a string).
    Placeholder,
}

/// Deserialize, and on each type error record it, drop the offending key, and try again, so
/// that one run reports every unknown key and wrong type, not just the first. Returns the
/// config with those keys defaulted, the errors, and the keys that had them.
pub(super) fn deserialize_collecting(
    mut value: toml::Value,
    sources: &[Source],
    spans: &SpanMap,
    profile: Option<&str>,
) -> (Option<Config>, Vec<ConfigError>, Vec<String>) {
    let mut errors = Vec::new();
    let mut poisoned: Vec<String> = Vec::new();
    for _ in 0..512 {
        let result: Result<Config, serde_path_to_error::Error<toml::de::Error>> =
            serde_path_to_error::deserialize(value.clone());
        match result {
            Ok(c) => return (Some(c), errors, poisoned),
            Err(e) => {
                let path = path_string(e.path());
                let inner = e.into_inner();
                let msg = inner.message().trim().to_string();
                let (key, mut err, fix) = describe_type_error(&path, &msg, sources, spans);
                if let Some(note) = profile_note(spans, &key, profile) {
                    err.message.push_str(&note);
                }
                let repeated = poisoned.contains(&key);
                if !repeated {
                    errors.push(err);
                    poisoned.push(key.clone());
                }
                let fixed = !repeated
                    && match fix {
                        Fix::Remove => remove_key(&mut value, &key),
                        Fix::Placeholder => {
                            insert_key(&mut value, &key, toml::Value::String(String::new()))
                        }
                    };
                if !fixed {
                    return (None, errors, poisoned);
                }
            }
        }
    }
    (None, errors, poisoned)
}

pub(super) fn path_string(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => out = join_key(&out, key),
            Segment::Enum { variant } => out = join_key(&out, variant),
            Segment::Unknown => out = join_key(&out, "?"),
        }
    }
    out
}

pub(super) fn describe_type_error(
    path: &str,
    msg: &str,
    sources: &[Source],
    spans: &SpanMap,
) -> (String, ConfigError, Fix) {
    let locate = |key: &str| {
        spans
            .lookup(key)
            .map(|(_, e)| sources[e.src].locate(e.value.clone()))
    };
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or("");
        // serde_path_to_error's path already ends with the unknown field.
        let (table_path, key) = match parent_key(path) {
            Some(parent) if join_key(&parent, field) == path => (parent, path.to_string()),
            None if join_key("", field) == path => (String::new(), path.to_string()),
            _ => (path.to_string(), join_key(path, field)),
        };
        let expected = expected_names(msg);
        let hint = match closest(field, expected.iter().copied()) {
            Some(c) => format!("did you mean `{c}`? "),
            None => String::new(),
        };
        let table = table_name(&table_path);
        let help = if expected.is_empty() {
            format!("{hint}remove `{field}`")
        } else {
            format!(
                "{hint}remove `{field}`, or use one of the keys of {table}: {}",
                expected.join(", ")
            )
        };
        let loc = locate_key_or_value(&key, sources, spans).or_else(|| locate(&key));
        return (
            key.clone(),
            ConfigError {
                key,
                message: format!("unknown key `{field}` in {table}"),
                help: Some(help),
                location: loc,
            },
            Fix::Remove,
        );
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or("");
        let key = join_key(path, field);
        let table = table_name(path);
        return (
            key.clone(),
            ConfigError {
                key: key.clone(),
                message: format!("{table} is missing the required key `{field}`"),
                help: Some(format!(
                    "add `{field} = ...` to {table} (see devenv.toml.example)"
                )),
                location: locate(path),
            },
            Fix::Placeholder,
        );
    }
    let (message, help) = humanize_type_error(path, msg);
    (
        path.to_string(),
        ConfigError {
            key: path.to_string(),
            message,
            help: Some(help),
            location: locate(path),
        },
        Fix::Remove,
    )
}

/// `[cluster]`, `[[images]] #2`, `the top level`.
pub(super) fn table_name(path: &str) -> String {
    if path.is_empty() {
        return "the top level".to_string();
    }
    if let Some(open) = path.rfind('[') {
        if path.ends_with(']') && !path[open..].contains('.') {
            let idx: usize = path[open + 1..path.len() - 1].parse().unwrap_or(0);
            return format!("[[{}]] #{} (`{path}`)", &path[..open], idx + 1);
        }
    }
    format!("[{path}]")
}
