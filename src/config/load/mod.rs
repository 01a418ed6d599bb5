//! Finding, parsing, versioning and merging devenv.toml.
//!
//! Loading keeps, for every key, where it was written (file and byte span), so that an error
//! found at any later stage (type check, validation, profile merge) points at the right line.
//!
//! Steps, one file each:
//! 0. find and read the file (`discovery.rs`);
//! 1. parse the text with spans (`syntax.rs`, `spans.rs`): broken TOML and duplicate keys
//!    stop here;
//! 2. read `version` and dispatch (`version.rs`): a future version 2 would migrate a
//!    version 1 table here;
//! 3. merge the chosen profile over the base (`profiles.rs`: tables merge deeply, other
//!    values replace);
//! 4. deserialize into [`Config`], collecting every unknown key and wrong type (`types.rs`,
//!    worded by `humanize.rs`);
//! 5. validate values and cross-references, collecting every problem (`config/validate/`).
//!
//! Key paths (`overlays[1].path`) are built and followed in `keys.rs`.

mod discovery;
mod humanize;
mod keys;
mod profiles;
mod spans;
mod syntax;
mod types;
mod version;

use std::path::{Path, PathBuf};

use super::diagnostic::{ConfigError, ConfigErrors, Location, Source};
use super::schema::Config;
use super::validate;
use keys::is_at_or_below;
use profiles::OwnProfiles;
use spans::{profile_note, SpanMap};
use types::deserialize_collecting;

pub use discovery::{discover, folder_project_name, is_near_miss, near_misses};
pub(crate) use keys::join_key;

/// The file name devenv looks for.
pub const FILE_NAME: &str = "devenv.toml";

/// The config used when no devenv.toml is found: one server, two agents, Calico, a registry.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../../templates/default.devenv.toml");

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

/// Find and load the config for a command.
pub fn load(opts: &LoadOptions) -> Result<Loaded, ConfigErrors> {
    match discovery::find(opts)? {
        Some(path) => {
            let text = discovery::read(&path, &opts.cwd)?;
            let root = path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| opts.cwd.clone());
            let name = discovery::display_name(&path, &opts.cwd);
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
    let mut sources = vec![Source {
        name: name.to_string(),
        text: text.to_string(),
    }];
    let mut spans = SpanMap::default();

    // 1. Parse with spans. Broken TOML and duplicate keys are reported here (every one the
    //    parser finds, one per line: later errors on a line are usually echoes of the first).
    let table = syntax::parse_toml(&sources[0], text)?;
    spans::record_spans(&table, "", 0, false, &mut spans);
    let mut value = syntax::detable_to_value(&table);

    // 2. Version.
    version::check_version(&value, &sources[0], &spans)?;

    // 3. Profiles. Every profile of the file is checked; the chosen one is merged over the base.
    let own = OwnProfiles::take(&mut value);
    let mut errors = own.forbidden_keys(&sources, &spans);
    let base_value = value.clone();
    let base_spans = spans.clone();
    if let Some(pname) = profile {
        let (overlay, prefix) = profiles::select(pname, &own, &mut sources, &mut spans)?;
        let root_table = value.as_table_mut().expect("a TOML document is a table");
        profiles::merge_into(root_table, &overlay, "", &prefix, &mut spans);
        // The profile's own `version` was reported above; keep the base's.
        if overlay.contains_key("version") {
            root_table.insert("version".into(), base_value["version"].clone());
        }
    }
    // The typed config checks the shape of the profiles table too (not its effect).
    own.put_back(&mut value);

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
        own.put_back(&mut v);
        evaluate(&ctx, v, &base_spans, None).1
    } else {
        errs.clone()
    };
    match profile {
        None => errors.extend(errs),
        Some(pname) => {
            profiles::merge_errors(&mut errors, errs, &base_errs, pname, &spans, &sources)
        }
    }
    let base = Base {
        value: &base_value,
        spans: &base_spans,
        errors: &base_errs,
    };
    check_other_profiles(&ctx, &own, profile, &base, &mut errors);

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

/// The base file without any profile: its merged value, spans and errors.
struct Base<'a> {
    value: &'a toml::Value,
    spans: &'a SpanMap,
    errors: &'a [ConfigError],
}

/// The other profiles of the file, each merged over the base alone: only problems on the
/// profile's own lines, or caused by the profile, are reported (the base's are reported
/// once, with the chosen profile).
fn check_other_profiles(
    ctx: &Ctx<'_>,
    own: &OwnProfiles,
    chosen: Option<&str>,
    base: &Base<'_>,
    errors: &mut Vec<ConfigError>,
) {
    for (pname, overlay) in &own.tables {
        if Some(pname.as_str()) == chosen {
            continue;
        }
        let mut v = base.value.clone();
        let mut s = base.spans.clone();
        let mut overlay = overlay.clone();
        overlay.remove("version");
        overlay.remove("profiles");
        profiles::merge_into(
            v.as_table_mut().expect("table"),
            &overlay,
            "",
            &join_key("profiles", pname),
            &mut s,
        );
        let (_, errs) = evaluate(ctx, v, &s, Some(pname));
        for e in errs {
            let from_profile = s.lookup(&e.key).is_some_and(|(_, en)| en.profile);
            let e = if from_profile {
                e
            } else if !profiles::in_base(base.errors, &e) {
                profiles::attribute_to_profile(e, pname, &s, ctx.sources)
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

impl Config {
    /// `version = 1` and defaults everywhere (what a file with only `version = 1` gives).
    pub fn minimal() -> Config {
        toml::from_str("version = 1").expect("the minimal config deserializes")
    }
}
