//! serde's type errors (`invalid type: string "two", expected u32`) in the words of
//! devenv.toml, each with a help that shows what to write.

use crate::config::suggest::{closest, quoted_items};

/// A message and its help.
type Worded = (String, String);

/// A serde message (`invalid type: string "two", expected u32`) in the words of devenv.toml.
pub(super) fn humanize_type_error(path: &str, msg: &str) -> Worded {
    let name = last_key_name(path);
    wrong_type(path, &name, msg)
        .or_else(|| unknown_variant(path, msg))
        .or_else(|| {
            msg.contains("untagged enum WaitSpec").then(|| {
                (
                    format!("`{path}` must be \"auto\", \"none\" or a list of KIND/NAME strings"),
                    type_help(path, msg),
                )
            })
        })
        .or_else(|| duration(path, &name, msg))
        .unwrap_or_else(|| {
            (
                format!("wrong value for `{path}`: {msg}"),
                type_help(path, msg),
            )
        })
}

/// What serde expected, in the words of devenv.toml.
fn expected_words(exp: &str) -> String {
    match exp.trim() {
        "u16" => "a port number from 1 to 65535".into(),
        "u32" => "a whole number, 0 or more".into(),
        "u64" | "usize" => "a whole number, 0 or more".into(),
        "i64" | "i32" => "a whole number".into(),
        "a boolean" => "true or false (without quotes)".into(),
        "a sequence" => "a list, e.g. [\"a\", \"b\"]".into(),
        "a string" | "string" => "a string in quotes".into(),
        "a map" => "a table".into(),
        e if e.starts_with("struct ") || e.starts_with("a map") => "a table".into(),
        e => e.to_string(),
    }
}

/// What serde found, in the words of devenv.toml.
fn found_words(found: &str) -> String {
    let f = found.trim();
    if let Some(s) = f.strip_prefix("string ") {
        return format!("the string {s}");
    }
    if let Some(n) = f.strip_prefix("integer ") {
        return format!("the number {}", n.trim_matches('`'));
    }
    if let Some(n) = f.strip_prefix("floating point ") {
        let n = n.trim_matches('`');
        return match n.parse::<f64>() {
            Ok(x) if x.abs() >= 1e15 => "a number far too large".to_string(),
            _ => format!("the number {n}"),
        };
    }
    if let Some(b) = f.strip_prefix("boolean ") {
        return b.trim_matches('`').to_string();
    }
    match f {
        "sequence" => "a list".into(),
        "map" => "a table".into(),
        other => other.to_string(),
    }
}

/// `invalid type: FOUND, expected EXP` (or `invalid value: …`).
fn wrong_type(path: &str, name: &str, msg: &str) -> Option<Worded> {
    let rest = msg
        .strip_prefix("invalid type: ")
        .or_else(|| msg.strip_prefix("invalid value: "))?;
    let (found, exp) = rest.rsplit_once(", expected ")?;
    let mut help = type_help(path, msg);
    if exp.trim() == "a sequence" {
        if let Some(text) = found.strip_prefix("string ") {
            help = list_help(path, name, text);
        }
    }
    if exp.trim() == "a boolean" && found.starts_with("string") {
        help = format!("write `{path} = true` or `{path} = false`, without quotes");
    } else if matches!(exp.trim(), "u16" | "u32" | "i64") && found.starts_with("string") {
        help = format!(
            "write the number without quotes, e.g. `{path} = {}`",
            digits_in(found).unwrap_or_else(|| "1".into())
        );
    }
    Some((
        format!(
            "`{path}` must be {}, found {}",
            expected_words(exp),
            found_words(found)
        ),
        help,
    ))
}

/// The names serde lists after "expected" in an unknown-field or
/// unknown-variant message ("expected one of `a`, `b` or `c`").
pub(super) fn expected_names(msg: &str) -> Vec<&str> {
    msg.split("expected ")
        .nth(1)
        .map(|s| {
            s.split(['`', ','])
                .map(str::trim)
                .filter(|w| !w.is_empty() && *w != "one of" && *w != "or")
                .collect()
        })
        .unwrap_or_default()
}

fn unknown_variant(path: &str, msg: &str) -> Option<Worded> {
    let rest = msg.strip_prefix("unknown variant `")?;
    let variant = rest.split('`').next().unwrap_or("");
    let allowed = expected_names(rest);
    let hint = closest(variant, allowed.iter().copied())
        .or_else(|| {
            allowed
                .iter()
                .copied()
                .find(|a| a.eq_ignore_ascii_case(variant))
        })
        .map(|c| format!("did you mean \"{c}\"? "))
        .unwrap_or_default();
    Some((
        format!(
            "`{path}` = {variant:?} is not one of: {}",
            allowed.join(", ")
        ),
        format!("{hint}write one of the values listed (mind the case)"),
    ))
}

/// The duration errors `DurationStr` gives (config/schema.rs): no unit, too long, too
/// short, not a duration.
fn duration(path: &str, name: &str, msg: &str) -> Option<Worded> {
    if let Some(n) = msg.strip_prefix("duration without a unit: ") {
        return Some(duration_without_unit(path, name, n));
    }
    // `TEXT (WHY)`
    let text_and_why = |rest: &'_ str| -> (String, String) {
        match rest.rsplit_once(" (") {
            Some((t, w)) => (t.to_string(), w.trim_end_matches(')').to_string()),
            None => (rest.to_string(), String::new()),
        }
    };
    if let Some(rest) = msg.strip_prefix("duration too long ") {
        let (text, why) = text_and_why(rest);
        return Some(duration_too_long(path, name, &text, &why));
    }
    if let Some(rest) = msg.strip_prefix("duration too short ") {
        let (text, why) = text_and_why(rest);
        return Some((
            format!("`{path}` = {text} is too short: {why}"),
            format!("give it at least a second, e.g. `{name} = \"30s\"`"),
        ));
    }
    if let Some(rest) = msg.strip_prefix("invalid duration ") {
        let (text, why) = text_and_why(rest);
        return Some((
            format!("`{path}` = {text} is not a duration: {why}"),
            type_help(path, msg),
        ));
    }
    None
}

/// A number written for a duration: suggest it with a unit (a small number is likely
/// minutes, a large one seconds).
fn duration_without_unit(path: &str, name: &str, n: &str) -> Worded {
    let (first, second) = match n.parse::<f64>() {
        Ok(x) if !x.is_finite() || x <= 0.0 => ("5m".to_string(), "90s".to_string()),
        Ok(x) if x.fract() != 0.0 && x < 60.0 => (
            humantime::format_duration(std::time::Duration::from_secs((x * 60.0).round() as u64))
                .to_string(),
            format!("{}s", x.round().max(1.0)),
        ),
        Ok(x) if x.fract() != 0.0 => (format!("{}s", x.round()), format!("{}m", (x / 60.0).ceil())),
        Ok(x) if x > 86_400.0 => ("30m".to_string(), "24h".to_string()),
        Ok(x) if x >= 1_440.0 => (format!("{n}s"), "24h".to_string()),
        Ok(x) if x >= 60.0 => (format!("{n}s"), format!("{n}m")),
        _ => (format!("{n}m"), format!("{n}s")),
    };
    (
        format!("`{path}` must be a string with a unit, such as \"{first}\", found the number {n}"),
        format!("a duration needs a unit, in quotes: write `{name} = \"{first}\"` (or \"{second}\"); units: s, m, h, e.g. \"1h 30m\""),
    )
}

fn duration_too_long(path: &str, name: &str, text: &str, why: &str) -> Worded {
    let max = crate::config::schema::MAX_DURATION_TEXT;
    // "5M" reads as 5 months (humantime's `M`): surely minutes were meant.
    let raw = text.trim_matches('"');
    let minutes = raw.replace('M', "m");
    if raw.contains('M')
        && humantime::parse_duration(minutes.trim())
            .is_ok_and(|d| d <= crate::config::schema::MAX_DURATION)
    {
        return (
            format!("`{path}` = {text} is too long: `M` means months"),
            format!("for minutes write a lowercase `m`: `{name} = \"{minutes}\"`"),
        );
    }
    (
        format!("`{path}` = {text} is too long: {why}"),
        format!("devenv waits at most {max} for anything: write a shorter duration, e.g. `{name} = \"30m\"`"),
    )
}

/// The last name of a key path: `overlays[0].depends_on` → `depends_on`.
pub(super) fn last_key_name(path: &str) -> String {
    let mut p = path;
    while p.ends_with(']') {
        match p.rfind('[') {
            Some(i) => p = &p[..i],
            None => break,
        }
    }
    p.rsplit('.')
        .next()
        .unwrap_or(p)
        .trim_matches('"')
        .to_string()
}

/// A list written as one string (`depends_on = "api"`, `ports = "8080:80, 8443:443"`): the same
/// items as a TOML list.
pub(super) fn list_help(path: &str, name: &str, quoted: &str) -> String {
    let inner: String = serde_json::from_str::<String>(quoted.trim())
        .unwrap_or_else(|_| quoted.trim().trim_matches('"').to_string());
    // Lists of tables are written as [[TABLE]] sections.
    match path {
        "cluster.k3s_args" => {
            return format!(
                "`k3s_args` is a list of tables, one per argument: write\n[[cluster.k3s_args]]\narg = {:?}\nnodes = [\"server:*\"]",
                inner.trim()
            )
        }
        "images" | "overlays" => {
            return format!(
                "`{path}` is a list of tables: write one [[{path}]] section per entry, with its keys below (see devenv.toml.example)"
            )
        }
        _ => {}
    }
    let items = quoted_items(&inner);
    let example = if items.is_empty() {
        "\"a\", \"b\"".to_string()
    } else {
        items.join(", ")
    };
    format!("`{name}` is a list, even with one item: write `{name} = [{example}]`")
}

pub(super) fn digits_in(s: &str) -> Option<String> {
    let d: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
    (!d.is_empty()).then_some(d)
}

pub(super) fn type_help(path: &str, msg: &str) -> String {
    if msg.contains("expected u16") {
        return format!("`{path}` is a port number: a whole number from 1 to 65535");
    }
    if msg.contains("expected u32") {
        return format!("`{path}` takes a whole number, zero or more");
    }
    if msg.contains("expected i64") {
        return format!("`{path}` takes a whole number");
    }
    if msg.contains("expected a boolean") {
        return format!("`{path}` takes true or false (without quotes)");
    }
    if msg.contains("expected a string") {
        return format!("`{path}` takes a string in quotes");
    }
    if msg.contains("expected a sequence") {
        return format!("`{path}` takes a list, e.g. [\"a\", \"b\"]; for tables write [[{path}]]");
    }
    if msg.contains("expected a map") || msg.contains("expected struct") {
        return format!("`{path}` takes a table: write [{path}] with its keys below");
    }
    if msg.contains("untagged enum WaitSpec") {
        return "write `wait = \"auto\"`, `wait = \"none\"`, or a list such as [\"deployment/api\", \"job/migrate\"]".into();
    }
    if msg.contains("duration") {
        return format!("write `{path}` like \"90s\", \"5m\" or \"1h 30m\"");
    }
    format!("see devenv.toml.example for the form `{path}` takes")
}
