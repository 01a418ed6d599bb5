//! Profiles: merging one over the base (tables merge key by key, other values replace),
//! refusing an unknown one, and attributing an error the profile causes to the profile.

use super::keys::{is_at_or_below, join_key};
use super::spans::{locate_key_or_value, record_spans, SpanEntry, SpanMap};
use super::syntax::{detable_to_value, parse_toml};
use super::version::type_name;
use crate::config::diagnostic::{ConfigError, ConfigErrors, Source};
use crate::config::profiles;
use crate::config::suggest::closest;

/// The file's own `[profiles]`, taken out of the base while a profile is merged (a profile
/// is not part of the config it makes) and put back for the type check of its shape.
pub(super) struct OwnProfiles {
    /// The `profiles` value as written (a table, or whatever the user wrote).
    raw: Option<toml::Value>,
    /// Each profile that is a table, by name.
    pub(super) tables: Vec<(String, toml::Table)>,
}

impl OwnProfiles {
    pub(super) fn take(value: &mut toml::Value) -> OwnProfiles {
        let root_table = value.as_table_mut().expect("a TOML document is a table");
        let raw = root_table.remove("profiles");
        let tables = match &raw {
            Some(toml::Value::Table(t)) => t
                .iter()
                .filter_map(|(k, v)| v.as_table().map(|t| (k.clone(), t.clone())))
                .collect(),
            _ => Vec::new(),
        };
        OwnProfiles { raw, tables }
    }

    /// Put `[profiles]` back into a (merged) config value.
    pub(super) fn put_back(&self, value: &mut toml::Value) {
        if let Some(p) = self.raw.clone() {
            value
                .as_table_mut()
                .expect("table")
                .insert("profiles".into(), p);
        }
    }

    /// Every profile of the file is checked (a typo in the `ci` profile should not wait for
    /// CI to be found): none may set `version` or `profiles`.
    pub(super) fn forbidden_keys(&self, sources: &[Source], spans: &SpanMap) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        for (pname, t) in &self.tables {
            for bad in ["version", "profiles"] {
                if t.contains_key(bad) {
                    let key = join_key(&join_key("profiles", pname), bad);
                    errors.push(ConfigError {
                        key: key.clone(),
                        message: format!("a profile cannot set `{bad}` (profile `{pname}`)"),
                        help: Some("remove it from the profile: a profile only overrides settings of the base file".into()),
                        location: locate_key_or_value(&key, sources, spans),
                    });
                }
            }
        }
        errors
    }
}

/// The profile to merge: the file's own, else a built-in one (added to `sources`, its spans
/// recorded under `@NAME`); with the prefix its keys were recorded under.
pub(super) fn select(
    pname: &str,
    own: &OwnProfiles,
    sources: &mut Vec<Source>,
    spans: &mut SpanMap,
) -> Result<(toml::Table, String), ConfigErrors> {
    if let Some((_, t)) = own.tables.iter().find(|(n, _)| n == pname) {
        return Ok((t.clone(), join_key("profiles", pname)));
    }
    if let Some(builtin_text) = profiles::builtin(pname) {
        sources.push(Source {
            name: format!("profiles/{pname}.toml (built-in profile `{pname}`)"),
            text: builtin_text.to_string(),
        });
        let idx = sources.len() - 1;
        let t = parse_toml(&sources[idx], builtin_text)?;
        let prefix = format!("@{pname}");
        record_spans(&t, &prefix, idx, false, spans);
        return match detable_to_value(&t) {
            toml::Value::Table(t) => Ok((t, prefix)),
            _ => unreachable!("a TOML document is a table"),
        };
    }
    if let Some(toml::Value::Table(t)) = &own.raw {
        if let Some(other) = t.get(pname) {
            let key = join_key("profiles", pname);
            return Err(ConfigErrors::single(ConfigError {
                key: key.clone(),
                message: format!(
                    "profile `{pname}` must be a table, found {}",
                    type_name(other)
                ),
                help: Some(format!(
                    "write it as [profiles.{pname}] with keys such as cluster.agents"
                )),
                location: spans
                    .lookup(&key)
                    .map(|(_, e)| sources[e.src].locate(e.value.clone())),
            }));
        }
    }
    Err(ConfigErrors::single(unknown_profile(
        pname,
        &own.tables,
        &sources[0],
        spans,
    )))
}

/// Whether the base alone (without a profile) has this error.
pub(super) fn in_base(base_errs: &[ConfigError], e: &ConfigError) -> bool {
    base_errs
        .iter()
        .any(|b| b.key == e.key && b.message == e.message)
}

/// The errors of the base with profile `pname` merged (`errs`) and of the base alone
/// (`base_errs`), added to `errors`. An error at a key of the base that the base alone does
/// not have is caused by the profile: it is reported at the profile's line, naming the
/// profile. The base must still be valid on its own: its problems are reported on lines the
/// profile did not already cover.
pub(super) fn merge_errors(
    errors: &mut Vec<ConfigError>,
    errs: Vec<ConfigError>,
    base_errs: &[ConfigError],
    pname: &str,
    spans: &SpanMap,
    sources: &[Source],
) {
    for e in errs {
        let from_profile = spans.lookup(&e.key).is_some_and(|(_, en)| en.profile);
        if from_profile || in_base(base_errs, &e) {
            errors.push(e);
        } else {
            errors.push(attribute_to_profile(e, pname, spans, sources));
        }
    }
    for e in base_errs.iter().cloned() {
        let seen = errors
            .iter()
            .any(|x| x.key == e.key && (x.message == e.message || x.location == e.location));
        if !seen {
            errors.push(e);
        }
    }
}

/// An error found at a key of the base file that only the profile's values cause (a port
/// clash with a port the profile sets, a provider the profile changes): point at what the
/// profile sets, name the profile and its line, and say where the base key is.
pub(super) fn attribute_to_profile(
    e: ConfigError,
    pname: &str,
    spans: &SpanMap,
    sources: &[Source],
) -> ConfigError {
    let set: Vec<(&String, &SpanEntry)> =
        spans.entries.iter().filter(|(_, en)| en.profile).collect();
    // The values the profile sets (not the tables holding them).
    let leaves: Vec<(&String, &SpanEntry)> = set
        .iter()
        .filter(|(k, _)| !set.iter().any(|(o, _)| o != k && is_at_or_below(o, k)))
        .copied()
        .collect();
    let text = format!("{} {}", e.message, e.help.as_deref().unwrap_or(""));
    let mentioned = |k: &str| {
        text.match_indices(k).any(|(i, _)| {
            let after = text[i + k.len()..].chars().next();
            let before = text[..i].chars().next_back();
            !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
                && !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
        })
    };
    let shared = |k: &str| {
        k.split('.')
            .zip(e.key.split('.'))
            .take_while(|(a, b)| a == b)
            .count()
    };
    let chosen = leaves
        .iter()
        .filter(|(k, _)| mentioned(k))
        .max_by_key(|(k, _)| k.len())
        .or_else(|| {
            leaves
                .iter()
                .max_by_key(|(k, en)| (shared(k), std::cmp::Reverse(en.value.start)))
        });
    let Some((key, en)) = chosen else {
        return e;
    };
    let loc = sources[en.src].locate(en.value.clone());
    let base_at = match &e.location {
        Some(l) if l.line > 0 && l.file == loc.file && l.line == loc.line => String::new(),
        Some(l) if l.line > 0 => format!("`{}` is on line {} of {}", e.key, l.line, l.file),
        _ => format!("`{}` keeps its default", e.key),
    };
    let mut help = e.help.unwrap_or_default();
    if !base_at.is_empty() {
        help.push_str(&format!(
            "\n{base_at}; without --profile {pname} it is valid"
        ));
    }
    ConfigError {
        message: format!(
            "{} (caused by profile `{pname}`, which sets `{key}` on line {} of {})",
            e.message, loc.line, loc.file
        ),
        key: key.to_string(),
        help: Some(help),
        location: Some(loc),
    }
}

pub(super) fn unknown_profile(
    name: &str,
    own: &[(String, toml::Table)],
    src: &Source,
    spans: &SpanMap,
) -> ConfigError {
    let mut known: Vec<String> = profiles::BUILTIN
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    known.extend(own.iter().map(|(n, _)| n.clone()));
    let lower = name.to_lowercase();
    let suggestion = known
        .iter()
        .find(|k| k.to_lowercase() == lower)
        .map(String::as_str)
        .or_else(|| closest(&lower, known.iter().map(String::as_str)))
        .map(|c| {
            if c.to_lowercase() == lower {
                format!("did you mean `{c}`? (profile names are case-sensitive) ")
            } else {
                format!("did you mean `{c}`? ")
            }
        })
        .unwrap_or_default();
    ConfigError {
        key: "--profile".into(),
        message: format!(
            "profile `{name}` (from --profile or DEVENV_PROFILE) is not defined in {}",
            src.name
        ),
        help: Some(format!(
            "{suggestion}known profiles: {}; or define it as [profiles.{name}] in {}",
            known.join(", "),
            src.name
        )),
        location: locate_key_or_value("profiles", std::slice::from_ref(src), spans)
            .or_else(|| Some(src.locate(0..0))),
    }
}

/// Deep-merge `overlay` into `base`: tables merge key by key, anything else replaces.
/// `prefix` is the key path in `base`; `span_prefix` where the overlay's keys were recorded.
/// Every value taken from the overlay is marked as coming from the profile.
pub(super) fn merge_into(
    base: &mut toml::Table,
    overlay: &toml::Table,
    prefix: &str,
    span_prefix: &str,
    spans: &mut SpanMap,
) {
    for (k, v) in overlay {
        let key = join_key(prefix, k);
        let from = join_key(span_prefix, k);
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => {
                if let Some(s) = spans.entries.get(&from).cloned() {
                    spans
                        .entries
                        .entry(key.clone())
                        .or_insert(SpanEntry { profile: true, ..s });
                }
                merge_into(b, o, &key, &from, spans);
            }
            _ => {
                base.insert(k.clone(), v.clone());
                spans.remove_below(&key);
                let moved: Vec<(String, SpanEntry)> = spans
                    .entries
                    .iter()
                    .filter(|(sk, _)| is_at_or_below(sk, &from))
                    .map(|(sk, sv)| {
                        (
                            format!("{key}{}", &sk[from.len()..]),
                            SpanEntry {
                                profile: true,
                                ..sv.clone()
                            },
                        )
                    })
                    .collect();
                spans.entries.extend(moved);
            }
        }
    }
}
