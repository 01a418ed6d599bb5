//! The digest of each pulled chart archive, kept in `.devenv/charts.lock.json`: the next
//! `up` renders from the cache (offline), and a chart whose archive changed at the same
//! version (a re-published chart, a tampered cache) is reported instead of used silently.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The lock file, under the state folder (`.devenv/`).
pub const LOCK_FILE: &str = "charts.lock.json";

/// Chart (repository, name and version: [`super::ChartSource::lock_key`]) → sha256 of the
/// archive used.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ChartLock {
    charts: BTreeMap<String, String>,
}

/// A chart whose archive is not the one recorded for its version.
#[derive(Debug, PartialEq, Eq)]
pub struct DigestChange {
    pub chart: String,
    pub was: String,
    pub now: String,
}

impl ChartLock {
    /// The lock in `state_dir` (empty when there is none or it cannot be read: it is
    /// written again after this run).
    pub fn load(state_dir: &Path) -> ChartLock {
        std::fs::read_to_string(state_dir.join(LOCK_FILE))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, state_dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).expect("a lock serializes");
        crate::state::write_atomic(&state_dir.join(LOCK_FILE), text.as_bytes())
    }

    /// Records `sha256` for `chart`; the change when another digest was recorded.
    pub fn record(&mut self, chart: &str, sha256: &str) -> Option<DigestChange> {
        let was = self.charts.insert(chart.to_string(), sha256.to_string())?;
        (was != sha256).then(|| DigestChange {
            chart: chart.to_string(),
            was,
            now: sha256.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_archive_at_the_same_version_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut lock = ChartLock::load(dir.path());
        assert_eq!(lock.record("r pg 1.0.0", "aaa"), None);
        lock.save(dir.path()).unwrap();
        let mut lock = ChartLock::load(dir.path());
        assert_eq!(lock.record("r pg 1.0.0", "aaa"), None);
        assert_eq!(
            lock.record("r pg 1.0.0", "bbb"),
            Some(DigestChange {
                chart: "r pg 1.0.0".into(),
                was: "aaa".into(),
                now: "bbb".into()
            })
        );
        assert_eq!(lock.record("r pg 1.0.0", "bbb"), None);
    }
}
