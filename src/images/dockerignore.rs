//! `.dockerignore`, read and matched exactly as Docker does.
//!
//! This is a line-by-line port of the Go code Docker runs, so that devenv hashes the
//! very files `docker build` sends:
//! - [`read_ignore_file`] is `github.com/moby/patternmatcher/ignorefile.ReadAll`
//!   (BOM stripped; lines starting with `#` skipped *before* trimming; whitespace
//!   trimmed; `!` kept aside; `filepath.Clean`; one leading `/` removed).
//! - [`PatternMatcher`] is `github.com/moby/patternmatcher.PatternMatcher`: each pattern
//!   is cleaned again, syntax-checked with Go's `filepath.Match` rules, then compiled
//!   lazily, as moby does, into one of four forms: an exact string, a prefix (`dir/**`),
//!   a suffix (`**/name`) or a Go regexp (see [`super::goregex`] for why the regexp is
//!   interpreted with Go's rules instead of being treated as a glob).
//! - The three matching entry points keep moby's names and their differences:
//!   [`PatternMatcher::matches_or_parent_matches`] (a pattern matching any parent
//!   directory matches the file), [`PatternMatcher::matches_using_parent_results`]
//!   (what the context walkers call, with per-pattern results inherited from the parent
//!   directory) and the deprecated [`PatternMatcher::matches_single_parent`] (still used by
//!   the docker CLI to decide whether to force-include the Dockerfile).
//!
//! Last match wins: a pattern is only evaluated if it could change the current verdict
//! (an exclusion `!p` only when the path is currently excluded, and the reverse).

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::OnceLock;

use super::goregex::{go_chars, GoRegex};

/// A `.dockerignore` line that Docker would refuse (the build fails).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub pattern: String,
    pub reason: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid .dockerignore pattern {:?}: {}",
            self.pattern, self.reason
        )
    }
}

impl std::error::Error for PatternError {}

/// Go's `bufio.Scanner` default limit: a longer line makes `ReadAll` fail.
const MAX_LINE: usize = 64 * 1024;

/// `ignorefile.ReadAll`: the patterns of a `.dockerignore`, in order, still with their
/// `!` prefix.
pub fn read_ignore_file(content: &[u8]) -> io::Result<Vec<String>> {
    Ok(read_ignore_file_numbered(content)?
        .into_iter()
        .map(|(_, p)| p)
        .collect())
}

/// [`read_ignore_file`] with the 1-based line number of each pattern (for messages).
pub fn read_ignore_file_numbered(content: &[u8]) -> io::Result<Vec<(usize, String)>> {
    let mut out = Vec::new();
    let content = content.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(content);
    let mut lines: Vec<&[u8]> = content.split(|&b| b == b'\n').collect();
    // A trailing newline does not make one more (empty) line.
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    for (n, line) in lines.into_iter().enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > MAX_LINE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "error reading .dockerignore: bufio.Scanner: token too long",
            ));
        }
        let line = String::from_utf8_lossy(line);
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = go_clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        out.push((
            n + 1,
            if invert {
                format!("!{cleaned}")
            } else {
                cleaned
            },
        ));
    }
    Ok(out)
}

/// The line of the ignore file `content` that produced the pattern `err` names (the
/// matcher reports patterns as [`read_ignore_file`] gives them: cleaned, `!` kept).
pub fn line_of(content: &[u8], err: &PatternError) -> Option<usize> {
    read_ignore_file_numbered(content)
        .ok()?
        .into_iter()
        .find(|(_, p)| *p == err.pattern)
        .map(|(n, _)| n)
}

/// Reads `CONTEXT/.dockerignore`; no file means no patterns (as in the docker CLI).
pub fn read_dockerignore(context: &Path) -> io::Result<Vec<String>> {
    match std::fs::read(context.join(".dockerignore")) {
        Ok(bytes) => read_ignore_file(&bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Go's `path/filepath.Clean` on a slash-separated path (Unix).
pub fn go_clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Syntax check of Go's `filepath.Match` (Go >= 1.16 reports an error for any malformed
/// part of the pattern). Mirrors `scanChunk` + `matchChunk` + `getEsc` on Unix.
pub fn go_match_syntax(pattern: &str) -> Result<(), &'static str> {
    let b = pattern.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b'*' {
            i += 1;
        }
        // scanChunk: up to the next `*` outside a `[...]`
        let start = i;
        let mut inrange = false;
        while i < b.len() {
            match b[i] {
                b'\\' => {
                    if i + 1 < b.len() {
                        i += 1;
                    }
                }
                b'[' => inrange = true,
                b']' => inrange = false,
                b'*' if !inrange => break,
                _ => {}
            }
            i += 1;
        }
        check_chunk(&b[start..i])?;
    }
    Ok(())
}

fn check_chunk(mut chunk: &[u8]) -> Result<(), &'static str> {
    const BAD: &str = "syntax error in pattern";
    while let Some(&c) = chunk.first() {
        match c {
            b'[' => {
                chunk = &chunk[1..];
                if chunk.first() == Some(&b'^') {
                    chunk = &chunk[1..];
                }
                let mut nrange = 0;
                loop {
                    if chunk.first() == Some(&b']') && nrange > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    chunk = get_esc(chunk).ok_or(BAD)?;
                    if chunk[0] == b'-' {
                        chunk = get_esc(&chunk[1..]).ok_or(BAD)?;
                    }
                    nrange += 1;
                }
            }
            b'\\' => {
                chunk = &chunk[1..];
                if chunk.is_empty() {
                    return Err(BAD);
                }
                chunk = &chunk[1..];
            }
            _ => chunk = &chunk[1..],
        }
    }
    Ok(())
}

/// `getEsc`: one (possibly escaped) class character; the rest must not be empty.
fn get_esc(mut chunk: &[u8]) -> Option<&[u8]> {
    if chunk.is_empty() || chunk[0] == b'-' || chunk[0] == b']' {
        return None;
    }
    if chunk[0] == b'\\' {
        chunk = &chunk[1..];
        if chunk.is_empty() {
            return None;
        }
    }
    let n = utf8_len(chunk)?;
    let rest = &chunk[n..];
    if rest.is_empty() {
        return None;
    }
    Some(rest)
}

/// Length of the first UTF-8 character, `None` where Go's decoder returns
/// `(RuneError, 1)` on an invalid byte.
fn utf8_len(b: &[u8]) -> Option<usize> {
    for n in 1..=4.min(b.len()) {
        if std::str::from_utf8(&b[..n]).is_ok() {
            return Some(n);
        }
    }
    None
}

#[derive(Debug)]
enum Compiled {
    Exact,
    Prefix,
    Suffix,
    /// The regexp, and the literal text every match must end with (a cheap
    /// pre-check: `*.log` need not run the regexp on `main.rs`).
    Regex(GoRegex, String),
    Bad(String),
}

/// One pattern line, with moby's lazily compiled matcher.
#[derive(Debug)]
pub struct Pattern {
    cleaned: String,
    exclusion: bool,
    compiled: OnceLock<Compiled>,
}

impl Pattern {
    /// The cleaned pattern without its `!` (moby's `Pattern.String()`).
    pub fn as_str(&self) -> &str {
        &self.cleaned
    }

    pub fn is_exclusion(&self) -> bool {
        self.exclusion
    }

    fn compiled(&self) -> &Compiled {
        self.compiled.get_or_init(|| compile(&self.cleaned))
    }

    /// `Pattern.match`: `path` is a clean relative path with `/` separators.
    fn matches(&self, path: &[u8]) -> Result<bool, PatternError> {
        let p = self.cleaned.as_bytes();
        match self.compiled() {
            Compiled::Exact => Ok(path == p),
            Compiled::Prefix => Ok(path.starts_with(&p[..p.len() - 2])),
            Compiled::Suffix => {
                let suffix = &p[2..];
                if path.ends_with(suffix) {
                    return Ok(true);
                }
                // `**/foo` matches `foo`
                Ok(suffix.first() == Some(&b'/') && path == &suffix[1..])
            }
            Compiled::Regex(re, suffix) => {
                if !path.ends_with(suffix.as_bytes()) {
                    return Ok(false);
                }
                Ok(re.is_match(&go_chars(path)))
            }
            Compiled::Bad(reason) => Err(PatternError {
                pattern: self.to_string(),
                reason: reason.clone(),
            }),
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.exclusion {
            f.write_str("!")?;
        }
        f.write_str(&self.cleaned)
    }
}

#[derive(Debug, PartialEq, Clone, Copy)]
enum Kind {
    Exact,
    Prefix,
    Suffix,
    Regex,
}

/// `Pattern.compile`: the translation to a Go regexp, character by character (the
/// `text/scanner` loop), tracking which simple form still applies.
fn compile(pattern: &str) -> Compiled {
    let (kind, re, mut suffix) = translate(pattern);
    if suffix.contains('\u{FFFD}') {
        suffix.clear(); // stands for invalid bytes: compare chars, not bytes
    }
    match kind {
        Kind::Exact => Compiled::Exact,
        Kind::Prefix => Compiled::Prefix,
        Kind::Suffix => Compiled::Suffix,
        Kind::Regex => match GoRegex::new(&re) {
            Ok(r) => Compiled::Regex(r, suffix),
            Err(e) => Compiled::Bad(format!("{e} (in the translated expression {re:?})")),
        },
    }
}

/// The match kind, the Go regexp string moby builds (for [`Kind::Regex`]) and the
/// run of plain literal characters the regexp ends with.
fn translate(pattern: &str) -> (Kind, String, String) {
    let mut tail = String::new();
    let chars: Vec<char> = go_chars(pattern.as_bytes());
    let mut re = String::from("^");
    let mut kind = Kind::Exact;
    let mut k = 0;
    let mut iteration = 0;
    while k < chars.len() {
        let ch = chars[k];
        k += 1;
        if ch == '*' {
            if chars.get(k) == Some(&'*') {
                k += 1;
                // Treat `**/` as `**`.
                if chars.get(k) == Some(&'/') {
                    k += 1;
                }
                if k == chars.len() {
                    // `**` at the end: everything below (as in .gitignore)
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        re.push_str(".*");
                        kind = Kind::Regex;
                    }
                } else {
                    // any number of directories, even none
                    re.push_str("(.*/)?");
                    kind = Kind::Regex;
                }
                if iteration == 0 {
                    kind = Kind::Suffix;
                }
            } else {
                re.push_str("[^/]*");
                kind = Kind::Regex;
            }
            tail.clear();
        } else if ch == '?' {
            re.push_str("[^/]");
            kind = Kind::Regex;
            tail.clear();
        } else if ".+()|{}$".contains(ch) {
            re.push('\\');
            re.push(ch);
            tail.push(ch);
        } else if ch == '\\' {
            tail.clear();
            if k < chars.len() {
                re.push('\\');
                re.push(chars[k]);
                k += 1;
                kind = Kind::Regex;
            } else {
                re.push('\\');
            }
        } else if ch == '[' || ch == ']' {
            re.push(ch);
            kind = Kind::Regex;
            tail.clear();
        } else if ch == '^' {
            re.push(ch); // a Go regexp anchor, not a literal
            tail.clear();
        } else {
            re.push(ch);
            tail.push(ch);
        }
        iteration += 1;
    }
    if kind == Kind::Regex {
        re.push('$');
    }
    (kind, re, tail)
}

/// Per-pattern results for a directory, handed down to its children
/// (moby's `MatchInfo`). The default value means "no information".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchInfo {
    parent_matched: Vec<bool>,
}

/// moby's `PatternMatcher`.
#[derive(Debug)]
pub struct PatternMatcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl PatternMatcher {
    /// `patternmatcher.New`: trims, cleans, splits off `!`, checks Go glob syntax.
    pub fn new<I, S>(patterns: I) -> Result<PatternMatcher, PatternError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = Vec::new();
        let mut exclusions = false;
        for raw in patterns {
            let p = raw.as_ref().trim();
            if p.is_empty() {
                continue;
            }
            let mut p = go_clean(p);
            let mut exclusion = false;
            if let Some(rest) = p.strip_prefix('!') {
                if rest.is_empty() {
                    return Err(PatternError {
                        pattern: raw.as_ref().to_string(),
                        reason: "illegal exclusion pattern: \"!\"".into(),
                    });
                }
                exclusion = true;
                exclusions = true;
                p = rest.to_string();
            }
            if let Err(reason) = go_match_syntax(&p) {
                return Err(PatternError {
                    pattern: raw.as_ref().to_string(),
                    reason: reason.into(),
                });
            }
            out.push(Pattern {
                cleaned: p,
                exclusion,
                compiled: OnceLock::new(),
            });
        }
        Ok(PatternMatcher {
            patterns: out,
            exclusions,
        })
    }

    /// Compiles every pattern now and reports the first one Go's regexp package would
    /// reject. Docker finds these lazily, on the first path the pattern is tried on,
    /// which in practice is the first file of the context; checking up front gives the
    /// same failure without depending on the walk order.
    pub fn check(&self) -> Result<(), PatternError> {
        for p in &self.patterns {
            if let Compiled::Bad(reason) = p.compiled() {
                return Err(PatternError {
                    pattern: p.to_string(),
                    reason: reason.clone(),
                });
            }
        }
        Ok(())
    }

    /// Whether any pattern is an exception (`!…`).
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// `MatchesOrParentMatches`: `file` (clean, relative, `/`-separated) is excluded.
    pub fn matches_or_parent_matches(&self, file: &[u8]) -> Result<bool, PatternError> {
        let parents = parent_dirs(file);
        self.last_verdict(file, |pattern| {
            // moby ignores errors here: the file itself was already matched.
            parents
                .iter()
                .any(|parent| pattern.matches(parent).unwrap_or(false))
        })
    }

    /// The deprecated `Matches`: only the parent prefix with as many components as the
    /// pattern is tried. The docker CLI still uses it in `TrimBuildFilesFromExcludes`.
    pub fn matches_single_parent(&self, file: &[u8]) -> Result<bool, PatternError> {
        let parents = parent_dirs(file);
        self.last_verdict(file, |pattern| {
            let ndirs = pattern.cleaned.split('/').count();
            !parents.is_empty()
                && ndirs <= parents.len()
                && pattern.matches(parents[ndirs - 1]).unwrap_or(false)
        })
    }

    /// The walk both moby matchers share: patterns in order, the last one that
    /// matches decides, and a pattern that cannot change the verdict so far is
    /// skipped. `parent_matches` is asked only when `file` itself did not match.
    fn last_verdict(
        &self,
        file: &[u8],
        parent_matches: impl Fn(&Pattern) -> bool,
    ) -> Result<bool, PatternError> {
        let mut matched = false;
        for pattern in &self.patterns {
            if pattern.exclusion != matched {
                continue;
            }
            if pattern.matches(file)? || parent_matches(pattern) {
                matched = !pattern.exclusion;
            }
        }
        Ok(matched)
    }

    /// `MatchesUsingParentResults`: as `matches_or_parent_matches`, but a pattern that
    /// matched the parent directory (recorded in `parent`) counts as matching, without
    /// looking at the ancestors again. Returns the verdict and this path's `MatchInfo`.
    pub fn matches_using_parent_results(
        &self,
        file: &[u8],
        parent: &MatchInfo,
    ) -> Result<(bool, MatchInfo), PatternError> {
        let parent_matched = &parent.parent_matched;
        if !parent_matched.is_empty() && parent_matched.len() != self.patterns.len() {
            return Err(PatternError {
                pattern: String::new(),
                reason: "wrong number of values in parentMatched".into(),
            });
        }
        let mut matched = false;
        let mut info = vec![false; self.patterns.len()];
        for (i, pattern) in self.patterns.iter().enumerate() {
            let mut m = parent_matched.get(i).copied().unwrap_or(false);
            if !m {
                if pattern.exclusion != matched {
                    continue;
                }
                m = pattern.matches(file)?;
                if !m && parent_matched.is_empty() {
                    for p in parent_dirs(file) {
                        if pattern.matches(p).unwrap_or(false) {
                            m = true;
                            break;
                        }
                    }
                }
            }
            info[i] = m;
            if m {
                matched = !pattern.exclusion;
            }
        }
        Ok((
            matched,
            MatchInfo {
                parent_matched: info,
            },
        ))
    }
}

/// `a/b/c` → [`a`, `a/b`] (moby splits `filepath.Dir(file)`).
fn parent_dirs(file: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    for (i, &b) in file.iter().enumerate() {
        if b == b'/' {
            out.push(&file[..i]);
        }
    }
    out
}

/// The top-level `patternmatcher.MatchesOrParentMatches(file, patterns)`.
pub fn matches_or_parent_matches(file: &str, patterns: &[String]) -> Result<bool, PatternError> {
    match_cleaned(file, patterns, PatternMatcher::matches_or_parent_matches)
}

/// The top-level deprecated `patternmatcher.Matches(file, patterns)`.
pub fn matches_single_parent(file: &str, patterns: &[String]) -> Result<bool, PatternError> {
    match_cleaned(file, patterns, PatternMatcher::matches_single_parent)
}

/// What both top-level functions do first: compile the patterns, `filepath.Clean` the
/// file, and never match `.` (the context root itself).
fn match_cleaned(
    file: &str,
    patterns: &[String],
    matches: fn(&PatternMatcher, &[u8]) -> Result<bool, PatternError>,
) -> Result<bool, PatternError> {
    let pm = PatternMatcher::new(patterns)?;
    let file = go_clean(file);
    if file == "." {
        return Ok(false);
    }
    matches(&pm, file.as_bytes())
}

#[cfg(test)]
mod tests;
