//! The `[tools]` table of devenv.toml: which tool versions a project pins (`k3d = "5.8.3"`,
//! `kubectl = "1.33"`, `helm = ">=3.18, <4"`), how a spec reads, and its validation.
//! `src/tools.rs` compares the pins with the installed versions and downloads them.
//!
//! A spec is an exact version (`5.8.3`, `v5.8.3`, `=5.8.3`), a release line (`1.33`: any
//! 1.33.x; `5`: any 5.x) or a semver range as the `semver` crate reads it
//! (`>=1.31, <1.34`, `~1.33`, `^5.8`). Pre-releases match only a spec that names one, as
//! semver does. Only exact versions can be downloaded.

use std::fmt;

use super::{ConfigError, Loaded};

/// A tool devenv can pin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tool {
    K3d,
    Kubectl,
    Helm,
}

impl Tool {
    pub const ALL: [Tool; 3] = [Tool::K3d, Tool::Kubectl, Tool::Helm];

    /// The program name (also the devenv.toml key under `[tools]`).
    pub fn name(self) -> &'static str {
        match self {
            Tool::K3d => "k3d",
            Tool::Kubectl => "kubectl",
            Tool::Helm => "helm",
        }
    }

    pub fn from_name(name: &str) -> Option<Tool> {
        Tool::ALL.into_iter().find(|t| t.name() == name)
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One `[tools]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    pub tool: Tool,
    /// As written in devenv.toml.
    pub spec: String,
    pub req: semver::VersionReq,
    /// Set when the spec names one version (what `--install-tools` can download).
    pub exact: Option<semver::Version>,
}

impl Pin {
    /// Whether an installed version satisfies the pin (semver rules, pre-releases included).
    pub fn matches(&self, v: &semver::Version) -> bool {
        self.req.matches(v)
    }

    /// `v5.8.3`, or the spec for a range.
    pub fn describe(&self) -> String {
        match &self.exact {
            Some(v) => format!("v{v}"),
            None => format!("\"{}\"", self.spec),
        }
    }
}

/// Reads a spec; `Err` says why it is not one.
pub fn parse_spec(spec: &str) -> Result<(semver::VersionReq, Option<semver::Version>), String> {
    let s = spec.trim();
    if s.is_empty() {
        return Err("it is empty".into());
    }
    let bare = s.strip_prefix(['v', 'V']).unwrap_or(s);
    let exact_text = bare.strip_prefix('=').map(str::trim).unwrap_or(bare);
    let exact_text = exact_text.strip_prefix(['v', 'V']).unwrap_or(exact_text);
    if let Ok(v) = semver::Version::parse(exact_text) {
        if !v.build.is_empty() {
            return Err("build metadata (`+…`) cannot be pinned".into());
        }
        let req = semver::VersionReq::parse(&format!("={v}")).map_err(|e| e.to_string())?;
        return Ok((req, Some(v)));
    }
    // A release line: `1.33` is every 1.33.x, `5` every 5.x (semver would read `1.33` as
    // `^1.33`, which lets 1.34 in: not what a team pinning kubectl 1.33 means).
    let is_line = !bare.is_empty()
        && bare.split('.').count() <= 2
        && bare
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let text = if is_line {
        format!("~{bare}")
    } else {
        s.to_string()
    };
    let req = semver::VersionReq::parse(&text).map_err(|e| e.to_string())?;
    Ok((req, None))
}

/// The pins of a config, in tool order (specs that do not parse are left out: validation
/// reports them).
pub fn pins(cfg: &super::schema::Config) -> Vec<Pin> {
    let mut out = Vec::new();
    for tool in Tool::ALL {
        if let Some(spec) = cfg.tools.get(tool) {
            if let Ok((req, exact)) = parse_spec(spec) {
                out.push(Pin {
                    tool,
                    spec: spec.to_string(),
                    req,
                    exact,
                });
            }
        }
    }
    out
}

/// The pin of one tool.
pub fn pin_for(cfg: &super::schema::Config, tool: Tool) -> Option<Pin> {
    pins(cfg).into_iter().find(|p| p.tool == tool)
}

/// Config validation of `[tools]`: each spec must parse (file:line errors).
pub fn validate(loaded: &Loaded) -> Vec<ConfigError> {
    let mut out = Vec::new();
    for tool in Tool::ALL {
        let Some(spec) = loaded.config.tools.get(tool) else {
            continue;
        };
        if let Err(why) = parse_spec(spec) {
            let key = format!("tools.{}", tool.name());
            out.push(loaded.error_at(
                &key,
                format!("{key} = {spec:?} is not a version or a version range: {why}"),
                Some(format!(
                    "write an exact version (\"{ex}\"), a release line (\"{line}\": any {line}.x) or a semver range (\">={line}, <{next}\")",
                    ex = example(tool),
                    line = example_line(tool),
                    next = example_next(tool),
                )),
            ));
        }
    }
    out
}

/// An exact version of `tool`, for messages.
pub fn example(tool: Tool) -> &'static str {
    match tool {
        Tool::K3d => "5.8.3",
        Tool::Kubectl => "1.33.4",
        Tool::Helm => "3.18.6",
    }
}

fn example_line(tool: Tool) -> &'static str {
    match tool {
        Tool::K3d => "5.8",
        Tool::Kubectl => "1.33",
        Tool::Helm => "3.18",
    }
}

fn example_next(tool: Tool) -> &'static str {
    match tool {
        Tool::K3d => "5.9",
        Tool::Kubectl => "1.34",
        Tool::Helm => "3.19",
    }
}

/// Where a pin is written, for messages (`devenv.toml:14`).
pub fn pin_location(loaded: &Loaded, tool: Tool) -> Option<String> {
    let e = loaded.error_at(&format!("tools.{}", tool.name()), "", None);
    e.location
        .filter(|l| l.line > 0)
        .map(|l| format!("{}:{}", l.file, l.line))
}
