//! Finding, parsing, versioning and merging devenv.toml.
//!
//! Loading keeps, for every key, where it was written (file and byte span), so that an error
//! found at any later stage (type check, validation, profile merge) points at the right line.
//!
//! Steps:
//! 1. parse the text with spans (`toml::de::DeTable`): broken TOML and duplicate keys stop here;
//! 2. read `version` and dispatch: a future version 2 would migrate a version 1 table here;
//! 3. merge the chosen profile over the base (tables merge deeply, other values replace);
//! 4. deserialize into [`Config`], collecting every unknown key and wrong type;
//! 5. validate values and cross-references, collecting every problem.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::diagnostic::{closest, ConfigError, ConfigErrors, Location, Source};
use super::profiles;
use super::schema::{Config, CURRENT_VERSION, SUPPORTED_VERSIONS};
use super::validate;

/// The file name devenv looks for.
pub const FILE_NAME: &str = "devenv.toml";

/// The config used when no devenv.toml is found: one server, two agents, Calico, a registry.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../templates/default.devenv.toml");

/// A loaded, merged and validated config, with where each key came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// The project folder: the folder of devenv.toml (or the working directory).
    pub root: PathBuf,
    /// The devenv.toml read, or `None` for the embedded default.
    pub file: Option<PathBuf>,
    /// The profile merged over the base, if any.
    pub profile: Option<String>,
    /// The effective project name (config or folder name).
    pub project: String,
    spans: SpanMap,
    sources: Vec<Source>,
}

impl Loaded {
    /// Where a key (e.g. `overlays[1].path`) was written, for annotations and late errors.
    pub fn locate(&self, key: &str) -> Option<Location> {
        self.spans.lookup(key).map(|(src, span)| self.sources[src].locate(span))
    }

    /// A config error at a key, located in its file.
    pub fn error_at(&self, key: &str, message: impl Into<String>, help: Option<String>) -> ConfigError {
        ConfigError {
            key: key.to_string(),
            message: message.into(),
            help,
            location: self.locate(key),
        }
    }

    /// The display name of the config file (or `<embedded default>`).
    pub fn source_name(&self) -> &str {
        &self.sources[0].name
    }

    /// Resolve a path written in the config, relative to the project folder.
    pub fn resolve(&self, p: &str) -> PathBuf {
        self.root.join(p)
    }
}

/// Key path → (source index, span of the value).
#[derive(Debug, Clone, Default)]
struct SpanMap {
    entries: BTreeMap<String, (usize, Range<usize>)>,
}

impl SpanMap {
    fn insert(&mut self, key: String, src: usize, span: Range<usize>) {
        self.entries.insert(key, (src, span));
    }

    /// Exact key, else its nearest written parent (a missing key points at its table).
    fn lookup(&self, key: &str) -> Option<(usize, Range<usize>)> {
        let mut k = key.to_string();
        loop {
            if let Some((s, r)) = self.entries.get(&k) {
                return Some((*s, r.clone()));
            }
            match parent_key(&k) {
                Some(p) => k = p,
                None => return None,
            }
        }
    }

    /// Forget every entry at or below `key` (a profile replaced that value).
    fn remove_below(&mut self, key: &str) {
        let doomed: Vec<String> = self
            .entries
            .keys()
            .filter(|k| *k == key || k.starts_with(&format!("{key}.")) || k.starts_with(&format!("{key}[")))
            .cloned()
            .collect();
        for k in doomed {
            self.entries.remove(&k);
        }
    }
}

fn parent_key(k: &str) -> Option<String> {
    if k.ends_with(']') {
        return k.rfind('[').map(|i| k[..i].to_string());
    }
    k.rfind('.').map(|i| k[..i].to_string())
}

fn join_key(prefix: &str, key: &str) -> String {
    let bare = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare { key.to_string() } else { format!("{key:?}") };
    if prefix.is_empty() {
        key
    } else {
        format!("{prefix}.{key}")
    }
}

/// What the user asked for on the command line.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-f/--file`: a devenv.toml to read instead of searching.
    pub file: Option<PathBuf>,
    /// `--profile` / `DEVENV_PROFILE`.
    pub profile: Option<String>,
    /// Where the search starts (the working directory).
    pub cwd: PathBuf,
}

/// Walk up from `start` to the first folder holding devenv.toml (as cargo finds Cargo.toml).
pub fn discover(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(FILE_NAME))
        .find(|candidate| candidate.is_file())
}

/// Find and load the config for a command.
pub fn load(opts: &LoadOptions) -> Result<Loaded, ConfigErrors> {
    let file = match &opts.file {
        Some(f) => {
            let f = if f.is_absolute() { f.clone() } else { opts.cwd.join(f) };
            if !f.is_file() {
                return Err(ConfigErrors::single(ConfigError {
                    key: "--file".into(),
                    message: format!("config file {} does not exist", f.display()),
                    help: Some("pass the path of a devenv.toml, or run `devenv init` to create one".into()),
                    location: None,
                }));
            }
            Some(f)
        }
        None => discover(&opts.cwd),
    };
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ConfigErrors::single(ConfigError {
                    key: "--file".into(),
                    message: format!("cannot read {}: {e}", path.display()),
                    help: None,
                    location: None,
                })
            })?;
            let root = path.parent().map(Path::to_path_buf).unwrap_or_else(|| opts.cwd.clone());
            let name = display_name(&path, &opts.cwd);
            load_text(&text, &name, &root, Some(path.clone()), opts.profile.as_deref())
        }
        None => load_text(EMBEDDED_DEFAULT, "<embedded default devenv.toml>", &opts.cwd, None, opts.profile.as_deref()),
    }
}

/// Load from text (used by `load`, tests and the fuzz target). Paths resolve against `root`.
pub fn load_text(
    text: &str,
    name: &str,
    root: &Path,
    file: Option<PathBuf>,
    profile: Option<&str>,
) -> Result<Loaded, ConfigErrors> {
    let base = Source {
        name: name.to_string(),
        text: text.to_string(),
    };
    let mut sources = vec![base];
    let mut spans = SpanMap::default();

    // 1. Parse with spans. Broken TOML and duplicate keys are reported here.
    let parsed = DeTable::parse(text).map_err(|e| toml_syntax_error(&sources[0], &e))?;
    let mut table = parsed.into_inner();
    table.make_owned();
    record_spans(&table, "", 0, &mut spans);
    let mut value = detable_to_value(&table);

    // 2. Version.
    check_version(&value, &sources[0], &spans)?;

    // 3. Profile.
    let root_table = value.as_table_mut().expect("a TOML document is a table");
    let own_profiles = root_table.remove("profiles");
    if let Some(name) = profile {
        let (overlay, src_idx, prefix) = match own_profiles.as_ref().and_then(|p| p.get(name)) {
            Some(p) => (p.clone(), 0, format!("profiles.{name}")),
            None => match profiles::builtin(name) {
                Some(builtin_text) => {
                    let src = Source {
                        name: format!("<built-in profile {name}> (profiles/{name}.toml)"),
                        text: builtin_text.to_string(),
                    };
                    let parsed = DeTable::parse(builtin_text).map_err(|e| toml_syntax_error(&src, &e))?;
                    let mut t = parsed.into_inner();
                    t.make_owned();
                    sources.push(src);
                    let idx = sources.len() - 1;
                    let mut profile_spans = SpanMap::default();
                    record_spans(&t, "", idx, &mut profile_spans);
                    spans.entries.extend(profile_spans.entries.into_iter().map(|(k, v)| (format!("@{name}.{k}"), v)));
                    (detable_to_value(&t), idx, format!("@{name}"))
                }
                None => return Err(ConfigErrors::single(unknown_profile(name, own_profiles.as_ref(), &sources[0], &spans))),
            },
        };
        let _ = src_idx;
        let overlay_table = match overlay {
            toml::Value::Table(t) => t,
            other => {
                return Err(ConfigErrors::single(ConfigError {
                    key: prefix.clone(),
                    message: format!("profile `{name}` must be a table, found {}", other.type_str()),
                    help: Some(format!("write it as [profiles.{name}] with keys such as cluster.agents")),
                    location: spans.lookup(&prefix).map(|(s, r)| sources[s].locate(r)),
                }))
            }
        };
        if overlay_table.contains_key("version") || overlay_table.contains_key("profiles") {
            let bad = if overlay_table.contains_key("version") { "version" } else { "profiles" };
            let key = format!("{prefix}.{bad}");
            return Err(ConfigErrors::single(ConfigError {
                key: key.clone(),
                message: format!("a profile cannot set `{bad}`"),
                help: Some("remove it from the profile: a profile only overrides settings of the base file".into()),
                location: spans.lookup(&key).map(|(s, r)| sources[s].locate(r)),
            }));
        }
        merge_into(root_table, &overlay_table, "", &prefix, &mut spans);
    }
    // Keep the profiles table for the typed config (only to validate its shape), not its effect.
    if let Some(p) = own_profiles.clone() {
        root_table.insert("profiles".into(), p);
    }

    // 4. Types, unknown keys: collect every such error by removing the offending key and retrying.
    let (config, mut errors) = deserialize_collecting(value, &sources, &spans);

    // 5. Values and cross-references.
    let project = match &config {
        Some(c) => c.project.name.clone().unwrap_or_else(|| folder_project_name(root)),
        None => folder_project_name(root),
    };
    let mut loaded = Loaded {
        config: config.clone().unwrap_or_else(|| Config::minimal()),
        root: root.to_path_buf(),
        file,
        profile: profile.map(str::to_string),
        project,
        spans,
        sources,
    };
    if config.is_some() {
        errors.extend(validate::validate(&loaded));
    }
    if !errors.is_empty() {
        return Err(ConfigErrors { errors });
    }
    loaded.config.profiles.clear();
    Ok(loaded)
}

fn display_name(path: &Path, cwd: &Path) -> String {
    path.strip_prefix(cwd)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string())
}

/// A project name from a folder name: lowercase, DNS-1123, at most 32 characters.
pub fn folder_project_name(root: &Path) -> String {
    let raw = root
        .file_name()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let mut name: String = raw
        .chars()
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '-' })
        .collect();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    let mut name: String = name.trim_matches('-').chars().take(32).collect();
    name = name.trim_end_matches('-').to_string();
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name = format!("dev-{name}").trim_end_matches('-').chars().take(32).collect();
    }
    if name == "dev" {
        "devenv".to_string()
    } else {
        name
    }
}

fn toml_syntax_error(src: &Source, e: &toml::de::Error) -> ConfigErrors {
    let span = e.span().unwrap_or(0..0);
    let msg = e.message().trim().to_string();
    let (key, help) = if msg.contains("duplicate key") {
        (
            key_at_offset(src, span.start),
            "each key may appear once per table: remove or rename one of them".to_string(),
        )
    } else {
        (
            key_at_offset(src, span.start),
            "fix the TOML syntax on this line (see https://toml.io)".to_string(),
        )
    };
    ConfigErrors::single(ConfigError {
        key,
        message: format!("invalid TOML in {}: {msg}", src.name),
        help: Some(help),
        location: Some(src.locate(span)),
    })
}

/// Best-effort key name for a syntax error: the bare key at the start of the offending line.
fn key_at_offset(src: &Source, offset: usize) -> String {
    let (line, _) = src.line_col(offset);
    let text = src.text.lines().nth(line - 1).unwrap_or("").trim();
    if let Some(t) = text.strip_prefix('[') {
        return t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
    }
    text.split('=').next().unwrap_or("").trim().to_string()
}

fn check_version(value: &toml::Value, src: &Source, spans: &SpanMap) -> Result<(), ConfigErrors> {
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
            let loc = spans.lookup("version").map(|(_, r)| src.locate(r));
            let newer = matches!(other, toml::Value::Integer(v) if *v > CURRENT_VERSION);
            Err(ConfigErrors::single(ConfigError {
                key: "version".into(),
                message: format!("unsupported devenv.toml version {other}; this devenv reads versions {supported}"),
                help: Some(if newer {
                    "this file was written for a newer devenv: upgrade devenv (see README, Install)".into()
                } else {
                    format!("set `version = {CURRENT_VERSION}`")
                }),
                location: loc,
            }))
        }
    }
}

fn unknown_profile(name: &str, own: Option<&toml::Value>, src: &Source, spans: &SpanMap) -> ConfigError {
    let mut known: Vec<String> = profiles::BUILTIN.iter().map(|(n, _)| n.to_string()).collect();
    if let Some(toml::Value::Table(t)) = own {
        known.extend(t.keys().cloned());
    }
    let suggestion = closest(name, known.iter().map(String::as_str))
        .map(|c| format!("did you mean `{c}`? "))
        .unwrap_or_default();
    ConfigError {
        key: "profiles".into(),
        message: format!("profile `{name}` (from --profile or DEVENV_PROFILE) is not defined"),
        help: Some(format!(
            "{suggestion}known profiles: {}; define it as [profiles.{name}] in {}",
            known.join(", "),
            src.name
        )),
        location: spans.lookup("profiles").map(|(_, r)| src.locate(r)).or_else(|| Some(src.locate(0..0))),
    }
}

fn record_spans(table: &DeTable<'_>, prefix: &str, src: usize, spans: &mut SpanMap) {
    for (k, v) in table.iter() {
        let key = join_key(prefix, k.get_ref());
        record_value(v, &key, src, spans);
    }
}

fn record_value(v: &Spanned<DeValue<'_>>, key: &str, src: usize, spans: &mut SpanMap) {
    spans.insert(key.to_string(), src, v.span());
    match v.get_ref() {
        DeValue::Table(t) => record_spans(t, key, src, spans),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                record_value(item, &format!("{key}[{i}]"), src, spans);
            }
        }
        _ => {}
    }
}

fn detable_to_value(t: &DeTable<'_>) -> toml::Value {
    let mut out = toml::Table::new();
    for (k, v) in t.iter() {
        out.insert(k.get_ref().to_string(), devalue_to_value(v.get_ref()));
    }
    toml::Value::Table(out)
}

fn devalue_to_value(v: &DeValue<'_>) -> toml::Value {
    match v {
        DeValue::String(s) => toml::Value::String(s.to_string()),
        DeValue::Integer(i) => parse_integer(i.as_str(), i.radix()),
        DeValue::Float(f) => toml::Value::Float(parse_float(f.as_str())),
        DeValue::Boolean(b) => toml::Value::Boolean(*b),
        DeValue::Datetime(d) => toml::Value::Datetime(*d),
        DeValue::Array(a) => toml::Value::Array(a.iter().map(|x| devalue_to_value(x.get_ref())).collect()),
        DeValue::Table(t) => detable_to_value(t),
    }
}

fn parse_integer(text: &str, radix: u32) -> toml::Value {
    let digits = text.replace('_', "");
    match i64::from_str_radix(&digits, radix) {
        Ok(n) => toml::Value::Integer(n),
        // Out of i64 range: keep the text so the type check reports it with the key.
        Err(_) => toml::Value::String(text.to_string()),
    }
}

fn parse_float(text: &str) -> f64 {
    let t = text.replace('_', "");
    match t.as_str() {
        "inf" | "+inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        "nan" | "+nan" | "-nan" => f64::NAN,
        _ => t.parse().unwrap_or(f64::NAN),
    }
}

/// Deep-merge `overlay` into `base`: tables merge key by key, anything else replaces.
/// `prefix` is the key path in `base`; `span_prefix` where the overlay's keys were recorded.
fn merge_into(base: &mut toml::Table, overlay: &toml::Table, prefix: &str, span_prefix: &str, spans: &mut SpanMap) {
    for (k, v) in overlay {
        let key = join_key(prefix, k);
        let from = join_key(span_prefix, k);
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => {
                if let Some(s) = spans.entries.get(&from).cloned() {
                    spans.entries.entry(key.clone()).or_insert(s);
                }
                merge_into(b, o, &key, &from, spans);
            }
            _ => {
                base.insert(k.clone(), v.clone());
                spans.remove_below(&key);
                let moved: Vec<(String, (usize, Range<usize>))> = spans
                    .entries
                    .iter()
                    .filter(|(sk, _)| *sk == &from || sk.starts_with(&format!("{from}.")) || sk.starts_with(&format!("{from}[")))
                    .map(|(sk, sv)| (format!("{key}{}", &sk[from.len()..]), sv.clone()))
                    .collect();
                spans.entries.extend(moved);
            }
        }
    }
}

/// Deserialize, and on each type error record it, drop the offending key, and try again, so
/// that one run reports every unknown key and wrong type, not just the first.
fn deserialize_collecting(mut value: toml::Value, sources: &[Source], spans: &SpanMap) -> (Option<Config>, Vec<ConfigError>) {
    let mut errors = Vec::new();
    for _ in 0..64 {
        let result: Result<Config, serde_path_to_error::Error<toml::de::Error>> =
            serde_path_to_error::deserialize(value.clone());
        match result {
            Ok(c) if errors.is_empty() => return (Some(c), errors),
            Ok(_) => return (None, errors),
            Err(e) => {
                let path = path_string(e.path());
                let inner = e.into_inner();
                let msg = inner.message().trim().to_string();
                let (key, err) = describe_type_error(&path, &msg, sources, spans);
                let removed = remove_key(&mut value, &key);
                errors.push(err);
                if !removed {
                    return (None, errors);
                }
            }
        }
    }
    (None, errors)
}

fn path_string(path: &serde_path_to_error::Path) -> String {
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

fn describe_type_error(path: &str, msg: &str, sources: &[Source], spans: &SpanMap) -> (String, ConfigError) {
    let locate = |key: &str| spans.lookup(key).map(|(s, r)| sources[s].locate(r));
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or("");
        let key = join_key(path, field);
        let expected: Vec<&str> = msg
            .split("expected ")
            .nth(1)
            .map(|s| s.split(['`', ',']).map(str::trim).filter(|w| !w.is_empty() && *w != "one of" && *w != "or").collect())
            .unwrap_or_default();
        let hint = match closest(field, expected.iter().copied()) {
            Some(c) => format!("did you mean `{c}`? "),
            None => String::new(),
        };
        let table = if path.is_empty() { "the top level".to_string() } else { format!("[{path}]") };
        let help = if expected.is_empty() {
            format!("{hint}remove `{field}`")
        } else {
            format!("{hint}remove `{field}`, or use one of the keys of {table}: {}", expected.join(", "))
        };
        let loc = key_location(&key, sources, spans).or_else(|| locate(&key));
        return (
            key.clone(),
            ConfigError {
                key,
                message: format!("unknown key `{field}` in {table}"),
                help: Some(help),
                location: loc,
            },
        );
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or("");
        let key = join_key(path, field);
        let table = if path.is_empty() { "the top level".to_string() } else { format!("`{path}`") };
        return (
            key.clone(),
            ConfigError {
                key: key.clone(),
                message: format!("{table} is missing the required key `{field}`"),
                help: Some(format!("add `{field} = ...` to {table} (see devenv.toml.example)")),
                location: locate(path),
            },
        );
    }
    let help = type_help(path, msg);
    (
        path.to_string(),
        ConfigError {
            key: path.to_string(),
            message: format!("wrong value for `{path}`: {msg}"),
            help: Some(help),
            location: locate(path),
        },
    )
}

/// The key itself (not its value) for an unknown key: that is what must be removed.
fn key_location(key: &str, sources: &[Source], spans: &SpanMap) -> Option<Location> {
    let (src, value_span) = spans.entries.get(key).cloned()?;
    let source = &sources[src];
    // The key's name is on the same line, before the value: point at the line's start.
    let (line, _) = source.line_col(value_span.start);
    let line_start: usize = source.text.lines().take(line - 1).map(|l| l.len() + 1).sum();
    let text = source.text.lines().nth(line - 1).unwrap_or("");
    let indent = text.len() - text.trim_start().len();
    let key_len = text.trim_start().split(['=', ' ']).next().unwrap_or("").len().max(1);
    Some(source.locate(line_start + indent..line_start + indent + key_len))
}

fn type_help(path: &str, msg: &str) -> String {
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
    if msg.contains("unknown variant") {
        return format!("`{path}` must be one of the values listed above (mind the case)");
    }
    if msg.contains("expected a string") {
        return format!("`{path}` takes a string in quotes");
    }
    if msg.contains("expected a sequence") {
        return format!("`{path}` takes a list, e.g. [\"a\", \"b\"]");
    }
    if msg.contains("untagged enum WaitSpec") {
        return "write `wait = \"auto\"`, `wait = \"none\"`, or a list such as [\"deployment/api\"]".into();
    }
    if msg.contains("duration") {
        return format!("write `{path}` like \"90s\", \"5m\" or \"1h 30m\"");
    }
    format!("see devenv.toml.example for the form `{path}` takes")
}

/// Remove the value at a key path; false when there was nothing to remove.
fn remove_key(root: &mut toml::Value, key: &str) -> bool {
    let Some(parent) = parent_key(key) else {
        return root.as_table_mut().map(|t| t.remove(unquote(key)).is_some()).unwrap_or(false);
    };
    let last = &key[parent.len()..];
    let Some(container) = get_mut(root, &parent) else { return false };
    if let Some(idx) = last.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        let Ok(i) = idx.parse::<usize>() else { return false };
        return match container {
            toml::Value::Array(a) if i < a.len() => {
                a.remove(i);
                true
            }
            _ => false,
        };
    }
    let name = unquote(last.trim_start_matches('.'));
    container.as_table_mut().map(|t| t.remove(name).is_some()).unwrap_or(false)
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(s)
}

fn get_mut<'a>(root: &'a mut toml::Value, key: &str) -> Option<&'a mut toml::Value> {
    let mut cur = root;
    for seg in split_key(key) {
        cur = match seg {
            KeySeg::Name(n) => cur.as_table_mut()?.get_mut(&n)?,
            KeySeg::Index(i) => cur.as_array_mut()?.get_mut(i)?,
        };
    }
    Some(cur)
}

enum KeySeg {
    Name(String),
    Index(usize),
}

fn split_key(key: &str) -> Vec<KeySeg> {
    let mut out = Vec::new();
    let mut chars = key.chars().peekable();
    let mut cur = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                for c2 in chars.by_ref() {
                    if c2 == '"' {
                        break;
                    }
                    cur.push(c2);
                }
            }
            '.' => {
                if !cur.is_empty() {
                    out.push(KeySeg::Name(std::mem::take(&mut cur)));
                }
            }
            '[' => {
                if !cur.is_empty() {
                    out.push(KeySeg::Name(std::mem::take(&mut cur)));
                }
                let idx: String = chars.by_ref().take_while(|c| *c != ']').collect();
                if let Ok(i) = idx.parse() {
                    out.push(KeySeg::Index(i));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(KeySeg::Name(cur));
    }
    out
}

impl Config {
    /// `version = 1` and defaults everywhere (what a file with only `version = 1` gives).
    pub fn minimal() -> Config {
        toml::from_str("version = 1").expect("the minimal config deserializes")
    }
}
