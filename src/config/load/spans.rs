//! Where every key of devenv.toml was written (file and byte span), so that an error found
//! at any later stage (type check, validation, profile merge) points at the right line.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::keys::{is_at_or_below, join_key, parent_key};
use crate::config::diagnostic::{Location, Source};

/// Where one key was written.
#[derive(Debug, Clone)]
pub(super) struct SpanEntry {
    /// Index in the sources (0: devenv.toml; then a built-in profile).
    pub(super) src: usize,
    /// The value's span.
    pub(super) value: Range<usize>,
    /// The key's own span (absent for array items).
    pub(super) key: Option<Range<usize>>,
    /// The value comes from the merged profile.
    pub(super) profile: bool,
}

/// Key path → where it was written.
#[derive(Debug, Clone, Default)]
pub(super) struct SpanMap {
    pub(super) entries: BTreeMap<String, SpanEntry>,
}

impl SpanMap {
    pub(super) fn insert(&mut self, key: String, entry: SpanEntry) {
        self.entries.insert(key, entry);
    }

    /// Exact key, else its nearest written parent (a missing key points at its table).
    pub(super) fn lookup(&self, key: &str) -> Option<(String, &SpanEntry)> {
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
    pub(super) fn remove_below(&mut self, key: &str) {
        self.entries.retain(|k, _| !is_at_or_below(k, key));
    }
}

/// " (set by profile `ci`)" when the key's value comes from the merged profile.
pub(super) fn profile_note(spans: &SpanMap, key: &str, profile: Option<&str>) -> Option<String> {
    let (_, e) = spans.lookup(key)?;
    match (e.profile, profile) {
        (true, Some(p)) => Some(format!(" (set by profile `{p}`)")),
        _ => None,
    }
}

/// The key's own name where it was written (for a key that must be removed), else its value.
pub(super) fn locate_key_or_value(
    key: &str,
    sources: &[Source],
    spans: &SpanMap,
) -> Option<Location> {
    let e = spans.entries.get(key)?;
    let src = sources.get(e.src)?;
    Some(src.locate(e.key.clone().unwrap_or_else(|| e.value.clone())))
}

pub(super) fn record_spans(
    table: &DeTable<'_>,
    prefix: &str,
    src: usize,
    profile: bool,
    spans: &mut SpanMap,
) {
    for (k, v) in table.iter() {
        let key = join_key(prefix, k.get_ref());
        record_value(v, Some(k.span()), &key, src, profile, spans);
    }
}

pub(super) fn record_value(
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
