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
    /// Where a key's value (e.g. `overlays[1].path`) was written, for annotations and late
    /// errors; a key not written points at its nearest written table.
    pub fn locate(&self, key: &str) -> Option<Location> {
        self.spans
            .lookup(key)
            .map(|(_, e)| self.sources[e.src].locate(e.value.clone()))
    }

    /// Whether the key itself was written (in the file or the profile), not defaulted.
    pub fn is_written(&self, key: &str) -> bool {
        self.spans.entries.contains_key(key)
    }

    /// A config error at a key, located in its file (or, for a key that is not written
    /// anywhere, naming the file and saying the default applies).
    pub fn error_at(
        &self,
        key: &str,
        message: impl Into<String>,
        help: Option<String>,
    ) -> ConfigError {
        let mut message = message.into();
        if let Some(note) = profile_note(&self.spans, key, self.profile.as_deref()) {
            message.push_str(&note);
        }
        ConfigError {
            key: key.to_string(),
            message,
            help,
            location: Some(
                self.locate(key)
                    .unwrap_or_else(|| self.sources[0].unwritten()),
            ),
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

/// Where one key was written.
#[derive(Debug, Clone)]
struct SpanEntry {
    /// Index in the sources (0: devenv.toml; then a built-in profile).
    src: usize,
    /// The value's span.
    value: Range<usize>,
    /// The key's own span (absent for array items).
    key: Option<Range<usize>>,
    /// The value comes from the merged profile.
    profile: bool,
}

/// Key path → where it was written.
#[derive(Debug, Clone, Default)]
struct SpanMap {
    entries: BTreeMap<String, SpanEntry>,
}

impl SpanMap {
    fn insert(&mut self, key: String, entry: SpanEntry) {
        self.entries.insert(key, entry);
    }

    /// Exact key, else its nearest written parent (a missing key points at its table).
    fn lookup(&self, key: &str) -> Option<(String, &SpanEntry)> {
        let mut k = key.to_string();
        loop {
            if let Some(e) = self.entries.get(&k) {
                return Some((k, e));
            }
            match parent_key(&k) {
                Some(p) => k = p,
                None => return None,
            }
        }
    }

    /// Forget every entry at or below `key` (a profile replaced that value).
    fn remove_below(&mut self, key: &str) {
        self.entries.retain(|k, _| !is_at_or_below(k, key));
    }
}

fn is_at_or_below(k: &str, key: &str) -> bool {
    k == key
        || (k.starts_with(key)
            && (k[key.len()..].starts_with('.') || k[key.len()..].starts_with('[')))
}

/// " (set by profile `ci`)" when the key's value comes from the merged profile.
fn profile_note(spans: &SpanMap, key: &str, profile: Option<&str>) -> Option<String> {
    let (_, e) = spans.lookup(key)?;
    match (e.profile, profile) {
        (true, Some(p)) => Some(format!(" (set by profile `{p}`)")),
        _ => None,
    }
}

fn parent_key(k: &str) -> Option<String> {
    if k.ends_with(']') {
        return k.rfind('[').map(|i| k[..i].to_string());
    }
    k.rfind('.').map(|i| k[..i].to_string())
}

/// `prefix.key`, quoting a key that is not a bare TOML key (`calico.sha256."a.yaml"`).
pub(crate) fn join_key(prefix: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    };
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
    /// `--default-config`: use the built-in default even when a file that looks like a
    /// misnamed devenv.toml (`Devenv.toml`, `devenv.toml.txt`, `devenv.yaml`…) is there.
    pub default_config: bool,
}

/// Whether a file name looks like a misnamed devenv.toml: another case (`Devenv.toml`), an
/// extra or other extension (`devenv.toml.txt`, `devenv.yaml`, `devenv.tml`), hidden
/// (`.devenv.toml`), or a typo (`devnev.toml`).
pub fn is_near_miss(name: &str) -> bool {
    if name == FILE_NAME {
        return false;
    }
    let l = name.to_lowercase();
    let l = l.strip_prefix('.').unwrap_or(&l);
    if l == FILE_NAME || l.starts_with("devenv.toml") {
        return true;
    }
    if let Some(ext) = l.strip_prefix("devenv.") {
        const CONFIG_EXTS: &[&str] = &[
            "yaml", "yml", "json", "ini", "conf", "cfg", "txt", "tml", "tom", "tmol", "tol",
        ];
        if CONFIG_EXTS.contains(&ext) || super::diagnostic::edit_distance(ext, "toml") <= 1 {
            return true;
        }
    }
    super::diagnostic::edit_distance(l, FILE_NAME) <= 2
}

/// Files in `dir` that look like a misnamed devenv.toml, sorted.
pub fn near_misses(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(is_near_miss))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// A file that is not UTF-8 (TOML must be): the line and column of the first bad byte.
fn not_utf8(name: &str, e: std::string::FromUtf8Error) -> ConfigError {
    let at = e.utf8_error().valid_up_to();
    let bytes = e.into_bytes();
    let bad: Vec<String> = bytes[at..]
        .iter()
        .take(4)
        .map(|b| format!("0x{b:02X}"))
        .collect();
    // Before `at` the text is valid: offsets there are the same in the lossy copy.
    let src = Source {
        name: name.to_string(),
        text: String::from_utf8_lossy(&bytes).into_owned(),
    };
    let loc = src.locate(at..at + 1);
    let key = enclosing_key(&src, loc.line);
    ConfigError {
        key,
        message: format!(
            "{name} is not valid UTF-8: byte {} at line {}, column {} (shown as \u{FFFD} below)",
            bad.first().cloned().unwrap_or_default(),
            loc.line,
            loc.col
        ),
        help: Some(
            if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
                "this file is UTF-16 (it starts with a UTF-16 byte order mark); TOML files must be UTF-8: save it as UTF-8 (e.g. `iconv -f utf-16 -t utf-8`)".into()
            } else {
                "TOML files must be UTF-8: save the file as UTF-8 in your editor (or convert it, e.g. `iconv -f latin1 -t utf-8`), or retype the marked character".into()
            },
        ),
        location: Some(loc),
    }
}

/// The key written on a line, under the table header above it (`project.name`), or the
/// table of a header line; best effort, for errors found before parsing.
fn enclosing_key(src: &Source, line: usize) -> String {
    let header = src
        .text
        .lines()
        .take(line)
        .filter_map(|l| {
            let t = l.trim();
            t.starts_with('[').then(|| {
                t.trim_start_matches('[')
                    .split([']', '#'])
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string()
            })
        })
        .last()
        .unwrap_or_default();
    let here = src
        .text
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or("")
        .trim();
    if here.starts_with('[') || here.starts_with('#') || !here.contains('=') {
        return header;
    }
    let k = here
        .split('=')
        .next()
        .unwrap_or("")
        .trim()
        .trim_matches('"');
    if header.is_empty() {
        k.to_string()
    } else {
        format!("{header}.{k}")
    }
}

/// The refusal when no devenv.toml is found but a misnamed one is.
fn near_miss_error(found: &[PathBuf], cwd: &Path) -> ConfigError {
    let first = &found[0];
    let name = display_name(first, cwd);
    let others = found[1..]
        .iter()
        .map(|p| display_name(p, cwd))
        .collect::<Vec<_>>();
    let text = std::fs::read(first)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let src = Source {
        name: name.clone(),
        text,
    };
    let first_line_len = src.text.lines().next().map(|l| l.len()).unwrap_or(0);
    let fixed = first.with_file_name(FILE_NAME);
    // A template (devenv.toml.example) is meant to be copied, not renamed.
    let template = [".example", ".sample", ".template", ".dist", ".tmpl"]
        .iter()
        .any(|t| name.to_lowercase().ends_with(t));
    ConfigError {
        key: "--file".into(),
        message: format!(
            "no {FILE_NAME} found, but {name} looks like a misnamed one{}; devenv did not read it and ran nothing",
            if others.is_empty() {
                String::new()
            } else {
                format!(" (so do {})", others.join(", "))
            }
        ),
        help: Some(format!(
            "{} it: `{} {name} {}`; or read it as it is with `-f {name}`; or use the built-in default config with --default-config{}",
            if template { "copy" } else { "rename" },
            if template { "cp" } else { "mv" },
            display_name(&fixed, cwd),
            if name.ends_with(".yaml") || name.ends_with(".yml") {
                "\n(devenv.yaml is also the config of devenv.sh, the Nix tool: this is devenv-k8s, which reads devenv.toml)"
            } else {
                ""
            }
        )),
        location: Some(src.locate(0..first_line_len.max(1))),
    }
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
            let f = if f.is_absolute() {
                f.clone()
            } else {
                opts.cwd.join(f)
            };
            if f.is_dir() {
                // `-f path/to/project` is a common slip: say what is there, and the file meant.
                let inside = f.join("devenv.toml");
                return Err(ConfigErrors::single(ConfigError {
                    key: "--file".into(),
                    message: format!("config file {} is a folder, not a file", f.display()),
                    help: Some(if inside.is_file() {
                        format!("pass the file itself: -f {}", inside.display())
                    } else {
                        "pass the path of a devenv.toml file (-f takes a file, not a folder), or run `devenv init` there to create one".into()
                    }),
                    location: None,
                }));
            }
            if !f.is_file() {
                return Err(ConfigErrors::single(ConfigError {
                    key: "--file".into(),
                    message: format!("config file {} does not exist", f.display()),
                    help: Some(
                        "pass the path of a devenv.toml, or run `devenv init` to create one".into(),
                    ),
                    location: None,
                }));
            }
            Some(f)
        }
        None => match discover(&opts.cwd) {
            Some(f) => Some(f),
            None if opts.default_config => None,
            None => {
                // No devenv.toml anywhere up: before falling back to the built-in default,
                // refuse when a folder is named devenv.toml or a misnamed file sits in a
                // folder that was searched.
                if let Some(dir) = opts
                    .cwd
                    .ancestors()
                    .map(|d| d.join(FILE_NAME))
                    .find(|p| p.is_dir())
                {
                    let name = display_name(&dir, &opts.cwd);
                    return Err(ConfigErrors::single(ConfigError {
                        key: "--file".into(),
                        message: format!("{name} is a folder, not a file; devenv did not read it and ran nothing"),
                        help: Some("devenv reads a file named devenv.toml: rename the folder, pass the config file with -f, or use the built-in default config with --default-config".into()),
                        location: None,
                    }));
                }
                if let Some(found) = opts
                    .cwd
                    .ancestors()
                    .map(near_misses)
                    .find(|f| !f.is_empty())
                {
                    return Err(ConfigErrors::single(near_miss_error(&found, &opts.cwd)));
                }
                None
            }
        },
    };
    // A misnamed file nearer than the devenv.toml found above is more likely the one meant
    // (a devenv.toml in a parent folder may be another project's): refuse, naming both.
    if let (None, Some(found)) = (&opts.file, &file) {
        let found_dir = found.parent().unwrap_or(Path::new(""));
        if let Some(near) = opts
            .cwd
            .ancestors()
            .take_while(|d| *d != found_dir)
            .map(near_misses)
            .find(|f| !f.is_empty())
        {
            let mut e = near_miss_error(&near, &opts.cwd);
            let found_name = display_name(found, &opts.cwd);
            let near_name = display_name(&near[0], &opts.cwd);
            e.message = format!(
                "{near_name} looks like a misnamed devenv.toml, nearer than {found_name}, the devenv.toml devenv would read; devenv read neither and ran nothing"
            );
            e.help = Some(format!(
                "say which one you mean: rename {near_name} to devenv.toml, or pass -f {near_name} or -f {found_name}"
            ));
            return Err(ConfigErrors::single(e));
        }
    }
    let loaded = match file {
        Some(path) => {
            let bytes = std::fs::read(&path).map_err(|e| {
                ConfigErrors::single(ConfigError {
                    key: "--file".into(),
                    message: format!("cannot read {}: {e}", path.display()),
                    help: None,
                    location: None,
                })
            })?;
            let text = String::from_utf8(bytes)
                .map_err(|e| ConfigErrors::single(not_utf8(&display_name(&path, &opts.cwd), e)))?;
            let root = path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| opts.cwd.clone());
            let name = display_name(&path, &opts.cwd);
            load_text(
                &text,
                &name,
                &root,
                Some(path.clone()),
                opts.profile.as_deref(),
            )
        }
        None => load_text(
            EMBEDDED_DEFAULT,
            "<embedded default devenv.toml>",
            &opts.cwd,
            None,
            opts.profile.as_deref(),
        ),
    };
    loaded
}

/// Load from text (used by `load`, tests and the fuzz target). Paths resolve against `root`.
pub fn load_text(
    text: &str,
    name: &str,
    root: &Path,
    file: Option<PathBuf>,
    profile: Option<&str>,
) -> Result<Loaded, ConfigErrors> {
    let mut sources = vec![Source {
        name: name.to_string(),
        text: text.to_string(),
    }];
    let mut spans = SpanMap::default();

    // 1. Parse with spans. Broken TOML and duplicate keys are reported here (every one the
    //    parser finds, one per line: later errors on a line are usually echoes of the first).
    let table = parse_toml(&sources[0], text)?;
    record_spans(&table, "", 0, false, &mut spans);
    let mut value = detable_to_value(&table);

    // 2. Version.
    check_version(&value, &sources[0], &spans)?;

    // 3. Profiles. Every profile of the file is checked (a typo in the `ci` profile should
    //    not wait for CI to be found); the chosen one is merged over the base.
    let root_table = value.as_table_mut().expect("a TOML document is a table");
    let own_profiles = root_table.remove("profiles");
    let own: Vec<(String, toml::Table)> = match &own_profiles {
        Some(toml::Value::Table(t)) => t
            .iter()
            .filter_map(|(k, v)| v.as_table().map(|t| (k.clone(), t.clone())))
            .collect(),
        _ => Vec::new(),
    };
    let mut errors = Vec::new();
    for (pname, t) in &own {
        for bad in ["version", "profiles"] {
            if t.contains_key(bad) {
                let key = join_key(&join_key("profiles", pname), bad);
                errors.push(ConfigError {
                    key: key.clone(),
                    message: format!("a profile cannot set `{bad}` (profile `{pname}`)"),
                    help: Some("remove it from the profile: a profile only overrides settings of the base file".into()),
                    location: locate_key_or_value(&key, &sources, &spans),
                });
            }
        }
    }
    let base_value = value.clone();
    let base_spans = spans.clone();
    if let Some(pname) = profile {
        let (overlay, prefix) = match own.iter().find(|(n, _)| n == pname) {
            Some((_, t)) => (t.clone(), join_key("profiles", pname)),
            None => match profiles::builtin(pname) {
                Some(builtin_text) => {
                    sources.push(Source {
                        name: format!("profiles/{pname}.toml (built-in profile `{pname}`)"),
                        text: builtin_text.to_string(),
                    });
                    let idx = sources.len() - 1;
                    let t = parse_toml(&sources[idx], builtin_text)?;
                    let prefix = format!("@{pname}");
                    record_spans(&t, &prefix, idx, false, &mut spans);
                    match detable_to_value(&t) {
                        toml::Value::Table(t) => (t, prefix),
                        _ => unreachable!("a TOML document is a table"),
                    }
                }
                None => {
                    if let Some(toml::Value::Table(t)) = &own_profiles {
                        if let Some(other) = t.get(pname) {
                            let key = join_key("profiles", pname);
                            return Err(ConfigErrors::single(ConfigError {
                                key: key.clone(),
                                message: format!("profile `{pname}` must be a table, found {}", type_name(other)),
                                help: Some(format!("write it as [profiles.{pname}] with keys such as cluster.agents")),
                                location: spans.lookup(&key).map(|(_, e)| sources[e.src].locate(e.value.clone())),
                            }));
                        }
                    }
                    return Err(ConfigErrors::single(unknown_profile(
                        pname,
                        &own,
                        &sources[0],
                        &spans,
                    )));
                }
            },
        };
        let root_table = value.as_table_mut().expect("a TOML document is a table");
        merge_into(root_table, &overlay, "", &prefix, &mut spans);
        // The profile's own `version` was reported above; keep the base's.
        if overlay.contains_key("version") {
            root_table.insert("version".into(), base_value["version"].clone());
        }
    }
    // The typed config checks the shape of the profiles table too (not its effect).
    if let Some(p) = own_profiles.clone() {
        value
            .as_table_mut()
            .expect("table")
            .insert("profiles".into(), p);
    }

    // 4 and 5: types, unknown keys, then values and cross-references.
    let ctx = Ctx {
        sources: &sources,
        root,
        file: file.clone(),
    };
    let (config, errs) = evaluate(&ctx, value, &spans, profile);

    // The base alone: what `devenv up` without a profile reads.
    let base_errs = if profile.is_some() {
        let mut v = base_value.clone();
        if let Some(p) = own_profiles.clone() {
            v.as_table_mut()
                .expect("table")
                .insert("profiles".into(), p);
        }
        evaluate(&ctx, v, &base_spans, None).1
    } else {
        errs.clone()
    };
    let in_base = |e: &ConfigError| {
        base_errs
            .iter()
            .any(|b| b.key == e.key && b.message == e.message)
    };

    match profile {
        None => errors.extend(errs),
        Some(pname) => {
            // An error at a key of the base that the base alone does not have is caused by
            // the profile: it is reported at the profile's line, naming the profile.
            for e in errs {
                let from_profile = spans.lookup(&e.key).is_some_and(|(_, en)| en.profile);
                if from_profile || in_base(&e) {
                    errors.push(e);
                } else {
                    errors.push(attribute_to_profile(e, pname, &spans, &sources));
                }
            }
            // The base must still be valid on its own: report its problems on lines the
            // profile did not already cover.
            for e in base_errs.iter().cloned() {
                let seen = errors.iter().any(|x| {
                    x.key == e.key && (x.message == e.message || x.location == e.location)
                });
                if !seen {
                    errors.push(e);
                }
            }
        }
    }

    // The other profiles of the file, each merged over the base alone: only problems on the
    // profile's own lines, or caused by the profile, are reported (the base's are reported
    // once, above).
    for (pname, overlay) in &own {
        if Some(pname.as_str()) == profile {
            continue;
        }
        let mut v = base_value.clone();
        let mut s = base_spans.clone();
        let mut overlay = overlay.clone();
        overlay.remove("version");
        overlay.remove("profiles");
        merge_into(
            v.as_table_mut().expect("table"),
            &overlay,
            "",
            &join_key("profiles", pname),
            &mut s,
        );
        let (_, errs) = evaluate(&ctx, v, &s, Some(pname));
        for e in errs {
            let from_profile = s.lookup(&e.key).is_some_and(|(_, en)| en.profile);
            let e = if from_profile {
                e
            } else if !in_base(&e) {
                attribute_to_profile(e, pname, &s, &sources)
            } else {
                continue;
            };
            if !errors
                .iter()
                .any(|x| x.key == e.key && x.message == e.message)
            {
                errors.push(e);
            }
        }
    }

    match config {
        Some(config) if errors.is_empty() => {
            let project = config
                .project
                .name
                .clone()
                .unwrap_or_else(|| folder_project_name(root));
            let mut loaded = Loaded {
                config,
                root: root.to_path_buf(),
                file,
                profile: profile.map(str::to_string),
                project,
                spans,
                sources,
            };
            loaded.config.profiles.clear();
            Ok(loaded)
        }
        _ => {
            sort_errors(&mut errors, &sources);
            Err(ConfigErrors { errors })
        }
    }
}

/// An error found at a key of the base file that only the profile's values cause (a port
/// clash with a port the profile sets, a provider the profile changes): point at what the
/// profile sets, name the profile and its line, and say where the base key is.
fn attribute_to_profile(
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

struct Ctx<'a> {
    sources: &'a [Source],
    root: &'a Path,
    file: Option<PathBuf>,
}

/// Deserialize (collecting every type error) and validate a merged config value.
fn evaluate(
    ctx: &Ctx<'_>,
    value: toml::Value,
    spans: &SpanMap,
    profile: Option<&str>,
) -> (Option<Config>, Vec<ConfigError>) {
    let (config, mut errors, poisoned) = deserialize_collecting(value, ctx.sources, spans, profile);
    let Some(config) = config else {
        return (None, errors);
    };
    let project = config
        .project
        .name
        .clone()
        .unwrap_or_else(|| folder_project_name(ctx.root));
    let loaded = Loaded {
        config,
        root: ctx.root.to_path_buf(),
        file: ctx.file.clone(),
        profile: profile.map(str::to_string),
        project,
        spans: spans.clone(),
        sources: ctx.sources.to_vec(),
    };
    // A key with a type error was replaced by its default (or a placeholder): what validation
    // says about it, or about its clash with another key, would be noise.
    let noise = |e: &ConfigError| {
        poisoned
            .iter()
            .any(|p| is_at_or_below(&e.key, p) || e.message.contains(p.as_str()))
    };
    errors.extend(
        validate::validate(&loaded)
            .into_iter()
            .filter(|e| !noise(e)),
    );
    (Some(loaded.config), errors)
}

/// Errors in file order (the base file first, then a built-in profile), unlocated last.
fn sort_errors(errors: &mut [ConfigError], sources: &[Source]) {
    errors.sort_by_key(|e| match &e.location {
        Some(l) => (
            sources
                .iter()
                .position(|s| s.name == l.file)
                .unwrap_or(usize::MAX),
            l.line,
            l.col,
        ),
        None => (usize::MAX, usize::MAX, usize::MAX),
    });
}

/// `text` is `src.text` (borrowed separately so the table may outlive the borrow of `src`).
fn parse_toml<'a>(src: &Source, text: &'a str) -> Result<DeTable<'a>, ConfigErrors> {
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
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    let mut name: String = name.trim_matches('-').chars().take(32).collect();
    name = name.trim_end_matches('-').to_string();
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name = format!("dev-{name}")
            .trim_end_matches('-')
            .chars()
            .take(32)
            .collect();
    }
    if name == "dev" {
        "devenv".to_string()
    } else {
        name
    }
}

fn toml_syntax_error(src: &Source, e: &toml::de::Error) -> ConfigError {
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
fn first_definition(src: &Source, key: &str, before_line: usize) -> Option<usize> {
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
fn key_at_offset(src: &Source, offset: usize) -> String {
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
fn type_name(v: &toml::Value) -> String {
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

fn unknown_profile(
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

/// The key's own name where it was written (for a key that must be removed), else its value.
fn locate_key_or_value(key: &str, sources: &[Source], spans: &SpanMap) -> Option<Location> {
    let e = spans.entries.get(key)?;
    let src = sources.get(e.src)?;
    Some(src.locate(e.key.clone().unwrap_or_else(|| e.value.clone())))
}

fn record_spans(table: &DeTable<'_>, prefix: &str, src: usize, profile: bool, spans: &mut SpanMap) {
    for (k, v) in table.iter() {
        let key = join_key(prefix, k.get_ref());
        record_value(v, Some(k.span()), &key, src, profile, spans);
    }
}

fn record_value(
    v: &Spanned<DeValue<'_>>,
    key_span: Option<Range<usize>>,
    key: &str,
    src: usize,
    profile: bool,
    spans: &mut SpanMap,
) {
    spans.insert(
        key.to_string(),
        SpanEntry {
            src,
            value: v.span(),
            key: key_span,
            profile,
        },
    );
    match v.get_ref() {
        DeValue::Table(t) => record_spans(t, key, src, profile, spans),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                record_value(item, None, &format!("{key}[{i}]"), src, profile, spans);
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
        DeValue::Array(a) => {
            toml::Value::Array(a.iter().map(|x| devalue_to_value(x.get_ref())).collect())
        }
        DeValue::Table(t) => detable_to_value(t),
    }
}

fn parse_integer(text: &str, radix: u32) -> toml::Value {
    let digits = text.replace('_', "");
    match i64::from_str_radix(&digits, radix) {
        Ok(n) => toml::Value::Integer(n),
        // Out of i64 range: a number still (not a string, which would read "remove the quotes"),
        // so the type check reports it with the key as a number out of range.
        Err(_) => toml::Value::Float(digits.parse::<f64>().unwrap_or(f64::MAX)),
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
/// Every value taken from the overlay is marked as coming from the profile.
fn merge_into(
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

/// What to do with the offending key before trying again.
enum Fix {
    /// Drop it: the default applies.
    Remove,
    /// A required key is missing: put an empty string (every required key is a string).
    Placeholder,
}

/// Deserialize, and on each type error record it, drop the offending key, and try again, so
/// that one run reports every unknown key and wrong type, not just the first. Returns the
/// config with those keys defaulted, the errors, and the keys that had them.
fn deserialize_collecting(
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

fn describe_type_error(
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
        let expected: Vec<&str> = msg
            .split("expected ")
            .nth(1)
            .map(|s| {
                s.split(['`', ','])
                    .map(str::trim)
                    .filter(|w| !w.is_empty() && *w != "one of" && *w != "or")
                    .collect()
            })
            .unwrap_or_default();
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
fn table_name(path: &str) -> String {
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

/// A serde message (`invalid type: string "two", expected u32`) in the words of devenv.toml.
fn humanize_type_error(path: &str, msg: &str) -> (String, String) {
    let name = last_key_name(path);
    let expected_words = |exp: &str| -> String {
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
    };
    let found_words = |found: &str| -> String {
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
    };
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            if let Some((found, exp)) = rest.rsplit_once(", expected ") {
                let exp_w = expected_words(exp);
                let mut help = type_help(path, msg);
                if exp.trim() == "a sequence" {
                    if let Some(text) = found.strip_prefix("string ") {
                        help = list_help(path, &name, text);
                    }
                }
                if exp.trim() == "a boolean" && found.starts_with("string") {
                    help = format!("write `{path} = true` or `{path} = false`, without quotes");
                } else if matches!(exp.trim(), "u16" | "u32" | "i64") && found.starts_with("string")
                {
                    help = format!(
                        "write the number without quotes, e.g. `{path} = {}`",
                        digits_in(found).unwrap_or_else(|| "1".into())
                    );
                }
                return (
                    format!("`{path}` must be {exp_w}, found {}", found_words(found)),
                    help,
                );
            }
        }
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `") {
        let variant = rest.split('`').next().unwrap_or("");
        let allowed: Vec<&str> = rest
            .split("expected ")
            .nth(1)
            .map(|s| {
                s.split(['`', ','])
                    .map(str::trim)
                    .filter(|w| !w.is_empty() && *w != "one of" && *w != "or")
                    .collect()
            })
            .unwrap_or_default();
        let hint = closest(variant, allowed.iter().copied())
            .or_else(|| {
                allowed
                    .iter()
                    .copied()
                    .find(|a| a.eq_ignore_ascii_case(variant))
            })
            .map(|c| format!("did you mean \"{c}\"? "))
            .unwrap_or_default();
        return (
            format!(
                "`{path}` = {variant:?} is not one of: {}",
                allowed.join(", ")
            ),
            format!("{hint}write one of the values listed (mind the case)"),
        );
    }
    if msg.contains("untagged enum WaitSpec") {
        return (
            format!("`{path}` must be \"auto\", \"none\" or a list of KIND/NAME strings"),
            type_help(path, msg),
        );
    }
    if let Some(n) = msg.strip_prefix("duration without a unit: ") {
        // A small number is likely minutes, a large one seconds.
        let (first, second) = match n.parse::<f64>() {
            Ok(x) if !x.is_finite() || x <= 0.0 => ("5m".to_string(), "90s".to_string()),
            Ok(x) if x.fract() != 0.0 && x < 60.0 => (
                humantime::format_duration(std::time::Duration::from_secs(
                    (x * 60.0).round() as u64
                ))
                .to_string(),
                format!("{}s", x.round().max(1.0)),
            ),
            Ok(x) if x.fract() != 0.0 => {
                (format!("{}s", x.round()), format!("{}m", (x / 60.0).ceil()))
            }
            Ok(x) if x > 86_400.0 => ("30m".to_string(), "24h".to_string()),
            Ok(x) if x >= 1_440.0 => (format!("{n}s"), "24h".to_string()),
            Ok(x) if x >= 60.0 => (format!("{n}s"), format!("{n}m")),
            _ => (format!("{n}m"), format!("{n}s")),
        };
        return (
            format!("`{path}` must be a string with a unit, such as \"{first}\", found the number {n}"),
            format!("a duration needs a unit, in quotes: write `{name} = \"{first}\"` (or \"{second}\"); units: s, m, h, e.g. \"1h 30m\""),
        );
    }
    if let Some(rest) = msg.strip_prefix("duration too long ") {
        let (text, why) = match rest.rsplit_once(" (") {
            Some((t, w)) => (t, w.trim_end_matches(')')),
            None => (rest, ""),
        };
        let max = super::schema::MAX_DURATION_TEXT;
        // "5M" reads as 5 months (humantime's `M`): surely minutes were meant.
        let raw = text.trim_matches('"');
        let minutes = raw.replace('M', "m");
        if raw.contains('M')
            && humantime::parse_duration(minutes.trim())
                .is_ok_and(|d| d <= super::schema::MAX_DURATION)
        {
            return (
                format!("`{path}` = {text} is too long: `M` means months"),
                format!("for minutes write a lowercase `m`: `{name} = \"{minutes}\"`"),
            );
        }
        return (
            format!("`{path}` = {text} is too long: {why}"),
            format!("devenv waits at most {max} for anything: write a shorter duration, e.g. `{name} = \"30m\"`"),
        );
    }
    if let Some(rest) = msg.strip_prefix("duration too short ") {
        let (text, why) = match rest.rsplit_once(" (") {
            Some((t, w)) => (t, w.trim_end_matches(')')),
            None => (rest, ""),
        };
        return (
            format!("`{path}` = {text} is too short: {why}"),
            format!("give it at least a second, e.g. `{name} = \"30s\"`"),
        );
    }
    if let Some(rest) = msg.strip_prefix("invalid duration ") {
        let (text, why) = match rest.rsplit_once(" (") {
            Some((t, w)) => (t, w.trim_end_matches(')')),
            None => (rest, ""),
        };
        return (
            format!("`{path}` = {text} is not a duration: {why}"),
            type_help(path, msg),
        );
    }
    (
        format!("wrong value for `{path}`: {msg}"),
        type_help(path, msg),
    )
}

/// The last name of a key path: `overlays[0].depends_on` → `depends_on`.
fn last_key_name(path: &str) -> String {
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
fn list_help(path: &str, name: &str, quoted: &str) -> String {
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
    let items: Vec<String> = inner
        .split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .map(|i| format!("{i:?}"))
        .collect();
    let example = if items.is_empty() {
        "\"a\", \"b\"".to_string()
    } else {
        items.join(", ")
    };
    format!("`{name}` is a list, even with one item: write `{name} = [{example}]`")
}

fn digits_in(s: &str) -> Option<String> {
    let d: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
    (!d.is_empty()).then_some(d)
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

/// Insert a value at a key path whose parent exists; false when it cannot.
fn insert_key(root: &mut toml::Value, key: &str, v: toml::Value) -> bool {
    let Some(parent) = parent_key(key) else {
        return root
            .as_table_mut()
            .map(|t| t.insert(unquote(key).to_string(), v).is_none())
            .unwrap_or(false);
    };
    let last = unquote(key[parent.len()..].trim_start_matches('.')).to_string();
    match get_mut(root, &parent).and_then(toml::Value::as_table_mut) {
        Some(t) if !t.contains_key(&last) => {
            t.insert(last, v);
            true
        }
        _ => false,
    }
}

/// Remove the value at a key path; false when there was nothing to remove.
fn remove_key(root: &mut toml::Value, key: &str) -> bool {
    let Some(parent) = parent_key(key) else {
        return root
            .as_table_mut()
            .map(|t| t.remove(unquote(key)).is_some())
            .unwrap_or(false);
    };
    let last = &key[parent.len()..];
    let Some(container) = get_mut(root, &parent) else {
        return false;
    };
    if let Some(idx) = last.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        let Ok(i) = idx.parse::<usize>() else {
            return false;
        };
        return match container {
            toml::Value::Array(a) if i < a.len() => {
                a.remove(i);
                true
            }
            _ => false,
        };
    }
    let name = unquote(last.trim_start_matches('.'));
    container
        .as_table_mut()
        .map(|t| t.remove(name).is_some())
        .unwrap_or(false)
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
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

#[cfg(test)]
mod near_miss_tests {
    use super::is_near_miss;

    #[test]
    fn near_misses_are_other_cases_extensions_hidden_files_and_typos() {
        for name in [
            "Devenv.toml",
            "DEVENV.TOML",
            "devenv.toml.txt",
            "devenv.toml~",
            "devenv.toml.example",
            "devenv.yaml",
            "devenv.yml",
            "devenv.json",
            ".devenv.toml",
            "devenv.tml",
            "devenv.tmol",
            "devnev.toml",
            "devenv_toml",
        ] {
            assert!(is_near_miss(name), "{name}");
        }
        for name in [
            "devenv.toml",
            "devenv",
            "devenv.nix",
            "devenv.lock",
            "Cargo.toml",
            "dev.toml",
            "README.md",
        ] {
            assert!(!is_near_miss(name), "{name}");
        }
    }
}
