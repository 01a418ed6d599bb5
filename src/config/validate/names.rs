//! Pure checks of names and references written in devenv.toml: DNS labels, Docker
//! repositories, tags and references, release tags, k3d node filters, context globs.
//! Each says why a value is refused; the caller adds the key and the help.

/// Why a name (a DNS-1123 label or a Docker repository path) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("it is empty")]
    Empty,
    #[error("it has {len} characters, at most {max} are allowed")]
    TooLong { len: usize, max: usize },
    #[error("it contains {0:?}")]
    Contains(char),
    #[error("it must start with a lowercase letter")]
    StartsWithoutLetter,
    #[error("it must not end with '-'")]
    EndsWithDash,
    #[error("it has an empty path component")]
    EmptyComponent,
    #[error("component {0:?} must start and end with a letter or digit")]
    ComponentEdges(String),
}

/// A DNS-1123 label: lowercase alphanumerics and '-', starting with a letter, ending alphanumeric.
pub fn check_dns_label(name: &str, max: usize) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > max {
        return Err(NameError::TooLong {
            len: name.len(),
            max,
        });
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(NameError::Contains(c));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(NameError::StartsWithoutLetter);
    }
    if name.ends_with('-') {
        return Err(NameError::EndsWithDash);
    }
    Ok(())
}

/// A Docker repository path: components of `[a-z0-9]+([._-][a-z0-9]+)*` separated by '/'.
pub fn check_repository(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    for comp in name.split('/') {
        if comp.is_empty() {
            return Err(NameError::EmptyComponent);
        }
        if let Some(c) = comp.chars().find(|c| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        }) {
            return Err(NameError::Contains(c));
        }
        if !comp.starts_with(|c: char| c.is_ascii_alphanumeric())
            || !comp.ends_with(|c: char| c.is_ascii_alphanumeric())
        {
            return Err(NameError::ComponentEdges(comp.to_string()));
        }
    }
    Ok(())
}

pub(super) fn is_docker_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && !t.starts_with(['.', '-'])
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The tag of an image reference, if any (`host:port/repo:tag` → `tag`).
pub fn image_tag(reference: &str) -> Option<&str> {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last.split_once(':')
        .map(|(_, t)| t)
        .filter(|t| !t.is_empty())
}

/// `ghcr.io/org/api:1.4@sha256:…` → `ghcr.io/org/api`.
pub fn strip_tag_and_digest(reference: &str) -> &str {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    match without_digest.rfind(':') {
        Some(i) if !without_digest[i..].contains('/') => &without_digest[..i],
        _ => without_digest,
    }
}

pub(super) fn is_semver_tag(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let parts: Vec<&str> = rest.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// Why a k3d node filter is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeFilterError {
    #[error("unknown node group {0:?}")]
    UnknownGroup(String),
    #[error("too many ':'")]
    TooManyColons,
    #[error("k3d needs a subset after {0:?}, e.g. {0}:* or {0}:0")]
    NoSubset(String),
    #[error("range {0:?} is not N-M")]
    BadRange(String),
    #[error("subset {0:?} is not *, a list of indexes or a range")]
    BadSubset(String),
    #[error("suffix {0:?} is not a word such as proxy or direct")]
    BadSuffix(String),
}

/// k3d node filter: `group[:subset][:suffix]`, group ∈ server(s), agent(s), loadbalancer, all.
pub fn check_node_filter(f: &str) -> Result<(), NodeFilterError> {
    let mut parts = f.split(':');
    let group = parts.next().unwrap_or("");
    if !matches!(
        group,
        "server" | "servers" | "agent" | "agents" | "loadbalancer" | "all"
    ) {
        return Err(NodeFilterError::UnknownGroup(group.to_string()));
    }
    let subset = parts.next();
    let suffix = parts.next();
    if parts.next().is_some() {
        return Err(NodeFilterError::TooManyColons);
    }
    match subset {
        None => {
            if matches!(group, "server" | "servers" | "agent" | "agents") {
                return Err(NodeFilterError::NoSubset(group.to_string()));
            }
        }
        Some("*") => {}
        Some(s) if s.contains('-') => {
            let (a, b) = s.split_once('-').unwrap();
            if !(a.chars().all(|c| c.is_ascii_digit()) && b.chars().all(|c| c.is_ascii_digit())) {
                return Err(NodeFilterError::BadRange(s.to_string()));
            }
        }
        Some(s) => {
            if s.is_empty()
                || !s
                    .split(',')
                    .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
                    && !s
                        .trim_end_matches(',')
                        .split(',')
                        .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            {
                return Err(NodeFilterError::BadSubset(s.to_string()));
            }
        }
    }
    if let Some(sfx) = suffix {
        if sfx.is_empty() || !sfx.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(NodeFilterError::BadSuffix(sfx.to_string()));
        }
    }
    Ok(())
}

/// A `*` glob (for allowed_contexts).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((pre, rest)) => {
            if !text.starts_with(pre) {
                return false;
            }
            let tail = &text[pre.len()..];
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob_match(rest, &tail[i..]))
        }
    }
}

/// Why a chart `version` is not one exact version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChartVersionError {
    #[error("it is empty")]
    Empty,
    #[error("\"latest\" is whatever was published last")]
    Latest,
    #[error("it is a range ({0:?}), which resolves to the newest matching version of the day")]
    Range(char),
    #[error("it is a wildcard ({0:?}), which resolves to the newest matching version of the day")]
    Wildcard(String),
    #[error("it is not MAJOR.MINOR.PATCH (helm reads a shorter version as a range)")]
    Partial,
    #[error("it contains {0:?}")]
    Contains(char),
}

/// One exact semantic version, as a chart's `version` must be: `1.2.3`, `v1.2.3`,
/// `1.2.3-rc.1`, `1.2.3+build.5`. Helm (Masterminds semver) reads anything else given to
/// `--version` as a constraint: `^1`, `~1.2`, `>=1`, `1.x`, `*`, even `1.2`.
pub fn check_exact_version(v: &str) -> Result<(), ChartVersionError> {
    if v.trim().is_empty() {
        return Err(ChartVersionError::Empty);
    }
    if v.eq_ignore_ascii_case("latest") {
        return Err(ChartVersionError::Latest);
    }
    if let Some(c) = v
        .chars()
        .find(|c| matches!(c, '^' | '~' | '>' | '<' | '=' | '|' | ',' | ' '))
    {
        return Err(ChartVersionError::Range(c));
    }
    let core_end = v.find(['-', '+']).unwrap_or(v.len());
    let (core, rest) = v.split_at(core_end);
    let core = core.strip_prefix('v').unwrap_or(core);
    let parts: Vec<&str> = core.split('.').collect();
    if let Some(w) = parts.iter().find(|p| matches!(**p, "x" | "X" | "*")) {
        return Err(ChartVersionError::Wildcard(w.to_string()));
    }
    if let Some(c) = core.chars().find(|c| !(c.is_ascii_digit() || *c == '.')) {
        return Err(ChartVersionError::Contains(c));
    }
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(ChartVersionError::Partial);
    }
    if let Some(c) = rest
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '+')))
    {
        return Err(ChartVersionError::Contains(c));
    }
    Ok(())
}
