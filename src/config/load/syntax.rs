//! Parsing devenv.toml with spans (`toml::de::DeTable`): broken TOML and duplicate keys are
//! reported here, each with a fix; the parsed table becomes a plain `toml::Value`.

use toml::de::{DeTable, DeValue};

use crate::config::diagnostic::{ConfigError, ConfigErrors, Source};

/// `text` is `src.text` (borrowed separately so the table may outlive the borrow of `src`).
pub(super) fn parse_toml<'a>(src: &Source, text: &'a str) -> Result<DeTable<'a>, ConfigErrors> {
    let (parsed, errs) = DeTable::parse_recoverable(text);
    if !errs.is_empty() {
        let mut out: Vec<ConfigError> = Vec::new();
        for e in &errs {
            let err = toml_syntax_error(src, e);
            let line = err.location.as_ref().map(|l| l.line);
            if !out
                .iter()
                .any(|o| o.location.as_ref().map(|l| l.line) == line)
            {
                out.push(err);
            }
        }
        out.sort_by_key(|e| e.location.as_ref().map(|l| (l.line, l.col)));
        return Err(ConfigErrors { errors: out });
    }
    let mut table = parsed.into_inner();
    table.make_owned();
    Ok(table)
}

pub(super) fn toml_syntax_error(src: &Source, e: &toml::de::Error) -> ConfigError {
    let span = e.span().unwrap_or(0..0);
    let msg = e.message().trim().to_string();
    let key = key_at_offset(src, span.start);
    let (line, _) = src.line_col(span.start);
    let line_text = src.text.lines().nth(line.saturating_sub(1)).unwrap_or("");
    // The value written after `=`, without a trailing comment.
    let value = line_text
        .split_once('=')
        .map(|(_, v)| v.split(" #").next().unwrap_or("").trim().to_string())
        .filter(|_| !line_text.trim_start().starts_with('['));
    if msg.contains("string values must be quoted") || msg.contains("expected value") {
        match value.as_deref() {
            Some("") | Some("#") => {
                return ConfigError {
                    message: format!("invalid TOML: `{key}` has no value"),
                    help: Some(format!("write the value after `=` on the same line (e.g. `{key} = 1` or `{key} = \"text\"`), or remove the line")),
                    key,
                    location: Some(src.locate(span)),
                };
            }
            Some(v)
                if v.chars()
                    .all(|c| c.is_alphanumeric() || "-_.:/@".contains(c)) =>
            {
                return ConfigError {
                    message: format!("invalid TOML: {msg}"),
                    help: Some(format!("put text in quotes: `{key} = \"{v}\"`")),
                    key,
                    location: Some(src.locate(span)),
                };
            }
            Some(v) if v.contains(char::is_whitespace) && !v.starts_with(['[', '{', '"', '\'']) => {
                return ConfigError {
                    message: format!("invalid TOML: {msg}"),
                    help: Some(format!("a key holds one value: quote text (`{key} = \"{v}\"`) or write a list (`{key} = [{}]`)", v.split_whitespace().collect::<Vec<_>>().join(", "))),
                    key,
                    location: Some(src.locate(span)),
                };
            }
            _ => {}
        }
    }
    let help = if msg.contains("duplicate key")
        || msg.contains("duplicate table")
        || msg.contains("already")
    {
        let first = first_definition(src, &key, line);
        match first {
            Some(n) => format!("`{key}` is already defined on line {n}: each key and table may appear once, so merge the two or remove one"),
            None => "each key and table may appear once: merge the two or remove one".to_string(),
        }
    } else if msg.contains("unclosed table") || msg.contains("expected `]`") {
        "close the table header with `]`, e.g. [cluster]".to_string()
    } else if msg.contains("string")
        && (msg.contains("unclosed") || msg.contains("unterminated") || msg.contains("invalid"))
    {
        "close the string with the same quote it opens with (\" or ')".to_string()
    } else if msg.contains("key with no value") || msg.contains("expected `=`") {
        "write `key = value`, with the value on the same line".to_string()
    } else {
        "fix the TOML syntax on this line (see https://toml.io)".to_string()
    };
    ConfigError {
        key,
        message: format!("invalid TOML: {msg}"),
        help: Some(help),
        location: Some(src.locate(span)),
    }
}

/// The line (before `before_line`) where a key or table header with this name is defined.
pub(super) fn first_definition(src: &Source, key: &str, before_line: usize) -> Option<usize> {
    if key.is_empty() {
        return None;
    }
    let last = key.rsplit('.').next().unwrap_or(key).trim();
    src.text
        .lines()
        .take(before_line.saturating_sub(1))
        .enumerate()
        .find_map(|(i, l)| {
            let t = l.trim();
            let header = t
                .trim_start_matches('[')
                .split([']', '#'])
                .next()
                .unwrap_or("")
                .trim();
            let is_header = t.starts_with('[') && header == key;
            let k = t.split('=').next().unwrap_or("").trim().trim_matches('"');
            let is_key = !t.starts_with('[') && t.contains('=') && (k == key || k == last);
            (is_header || is_key).then_some(i + 1)
        })
}

/// Best-effort key name for a syntax error: the bare key at the start of the offending line.
pub(super) fn key_at_offset(src: &Source, offset: usize) -> String {
    let (line, _) = src.line_col(offset);
    let text = src.text.lines().nth(line - 1).unwrap_or("").trim();
    if let Some(t) = text.strip_prefix('[') {
        let inner = t.trim_start_matches('[');
        return inner
            .split([']', '#'])
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
    }
    text.split(['=', '#'])
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

pub(super) fn detable_to_value(t: &DeTable<'_>) -> toml::Value {
    let mut out = toml::Table::new();
    for (k, v) in t.iter() {
        out.insert(k.get_ref().to_string(), devalue_to_value(v.get_ref()));
    }
    toml::Value::Table(out)
}

pub(super) fn devalue_to_value(v: &DeValue<'_>) -> toml::Value {
    match v {
        DeValue::String(s) => toml::Value::String(s.to_string()),
        DeValue::Integer(i) => parse_integer(i.as_str(), i.radix()),
        DeValue::Float(f) => toml::Value::Float(parse_float(f.as_str())),
        DeValue::Boolean(b) => toml::Value::Boolean(*b),
        DeValue::Datetime(d) => toml::Value::Datetime(*d),
        DeValue::Array(a) => {
            toml::Value::Array(a.iter().map(|x| devalue_to_value(x.get_ref())).collect())
        }
        DeValue::Table(t) => detable_to_value(t),
    }
}

pub(super) fn parse_integer(text: &str, radix: u32) -> toml::Value {
    let digits = text.replace('_', "");
    match i64::from_str_radix(&digits, radix) {
        Ok(n) => toml::Value::Integer(n),
        // Out of i64 range: a number still (not a string, which would read "remove the quotes"),
        // so the type check reports it with the key as a number out of range.
        Err(_) => toml::Value::Float(digits.parse::<f64>().unwrap_or(f64::MAX)),
    }
}

pub(super) fn parse_float(text: &str) -> f64 {
    let t = text.replace('_', "");
    match t.as_str() {
        "inf" | "+inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        "nan" | "+nan" | "-nan" => f64::NAN,
        _ => t.parse().unwrap_or(f64::NAN),
    }
}
