//! A per-image stat cache, like git's index: for each file of a build context, the
//! `lstat` data seen when its content was last hashed, and that hash. A file whose stat
//! data is unchanged is not read again, so fingerprinting an unchanged context costs a
//! directory walk, not a read of every byte.
//!
//! Racy files (git's "racy clean" problem): a file changed within the timestamp
//! granularity of the moment it was hashed could keep the same mtime and size. So an
//! entry whose mtime or ctime is within [`RACY_WINDOW`] of the time its hash was taken is
//! marked racy and re-hashed on the next run (and then, usually, no longer racy).
//!
//! On disk: one binary file (`.devenv/cache/images/<image>.statcache`), written to a
//! temporary file in the same directory and renamed over the old one, with a blake3
//! checksum at the end. A missing, truncated or foreign file is an empty cache: the cost
//! of a bad cache is one full read, never a wrong hash.

use std::collections::HashMap;
use std::fs::Metadata;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

const MAGIC: &[u8; 8] = b"DVSTATC\0";
const VERSION: u32 = 1;
/// Margin for filesystems with coarse timestamps (FAT: 2 s; ext4, xfs, btrfs: 1 ns).
pub const RACY_WINDOW_NS: i64 = 2_000_000_000;

/// What must be unchanged for a cached hash to be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    pub dev: u64,
    pub mode: u32,
}

impl FileStat {
    pub fn from_metadata(m: &Metadata) -> FileStat {
        FileStat {
            size: m.size(),
            mtime_ns: m.mtime().saturating_mul(1_000_000_000) + m.mtime_nsec(),
            ctime_ns: m.ctime().saturating_mul(1_000_000_000) + m.ctime_nsec(),
            ino: m.ino(),
            dev: m.dev(),
            mode: m.mode(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    stat: FileStat,
    hash: [u8; 32],
    racy: bool,
    /// Seen in the current run (entries not seen are dropped at `finish_run`).
    used: bool,
}

/// FxHash-style hasher: the keys are file paths from the user's own tree, so no
/// HashDoS concern, and SipHash showed in profiles of an unchanged 20,000-file context.
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0xf135_7aea_2e62_a9c5;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let v = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(K);
        }
    }
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
}

type Map = HashMap<Vec<u8>, Entry, std::hash::BuildHasherDefault<FastHasher>>;

/// See the module docs. `lookup`/`record` are used by [`super::fingerprint`]; callers
/// only `open` (or `new`) and `save`.
#[derive(Debug, Default)]
pub struct StatCache {
    path: Option<PathBuf>,
    entries: Map,
    dirty: bool,
}

/// Nanoseconds since the epoch, now.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl StatCache {
    /// An empty cache kept in memory only.
    pub fn new() -> StatCache {
        StatCache::default()
    }

    /// Where devenv keeps the cache of an image: `.devenv/cache/images/<image>.statcache`
    /// under the project directory. Characters other than `[A-Za-z0-9._-]` in the image
    /// name become `_` (an image name may contain `/`).
    pub fn default_path(project_dir: &Path, image: &str) -> PathBuf {
        let safe: String = image
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        project_dir
            .join(".devenv/cache/images")
            .join(format!("{safe}.statcache"))
    }

    /// Loads the cache at `path`; anything unreadable gives an empty cache bound to
    /// `path` (it will be rewritten by `save`).
    pub fn open(path: impl Into<PathBuf>) -> StatCache {
        let path = path.into();
        let entries = match std::fs::read(&path) {
            Ok(bytes) => decode(&bytes).unwrap_or_else(|| {
                tracing::debug!("ignoring unreadable stat cache {}", path.display());
                Map::default()
            }),
            Err(e) => {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::debug!("ignoring stat cache {}: {e}", path.display());
                }
                Map::default()
            }
        };
        StatCache {
            path: Some(path),
            entries,
            dirty: false,
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cached content hash of `path` if its stat data is unchanged and the entry
    /// is not racy. Also carries the entry over to the current run.
    pub(crate) fn lookup(&mut self, path: &[u8], stat: &FileStat) -> Option<[u8; 32]> {
        let e = self.entries.get_mut(path)?;
        if e.racy || e.stat != *stat {
            return None;
        }
        e.used = true;
        Some(e.hash)
    }

    /// Records a hash taken during a run that started at `run_start_ns`.
    pub(crate) fn record(
        &mut self,
        path: Vec<u8>,
        stat: FileStat,
        hash: [u8; 32],
        run_start_ns: i64,
    ) {
        let racy = stat.mtime_ns.max(stat.ctime_ns) >= run_start_ns - RACY_WINDOW_NS;
        self.entries.insert(
            path,
            Entry {
                stat,
                hash,
                racy,
                used: true,
            },
        );
        self.dirty = true;
    }

    /// Ends a run: files not seen in it are forgotten.
    pub(crate) fn finish_run(&mut self) {
        let before = self.entries.len();
        self.entries
            .retain(|_, e| std::mem::replace(&mut e.used, false));
        if self.entries.len() != before {
            self.dirty = true;
        }
    }

    /// Writes the cache to its file (temp file + rename) if it changed.
    pub fn save(&mut self) -> io::Result<()> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        if !self.dirty && path.exists() {
            return Ok(());
        }
        self.save_to(&path)?;
        self.dirty = false;
        Ok(())
    }

    /// Writes the cache to `path` atomically.
    pub fn save_to(&self, path: &Path) -> io::Result<()> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let bytes = encode(&self.entries);
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(&bytes)?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

fn encode(entries: &Map) -> Vec<u8> {
    let mut sorted: Vec<_> = entries.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = Vec::with_capacity(16 + entries.len() * 120);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(sorted.len() as u64).to_le_bytes());
    for (path, e) in sorted {
        out.extend_from_slice(&(path.len() as u32).to_le_bytes());
        out.extend_from_slice(path);
        out.extend_from_slice(&e.stat.size.to_le_bytes());
        out.extend_from_slice(&e.stat.mtime_ns.to_le_bytes());
        out.extend_from_slice(&e.stat.ctime_ns.to_le_bytes());
        out.extend_from_slice(&e.stat.ino.to_le_bytes());
        out.extend_from_slice(&e.stat.dev.to_le_bytes());
        out.extend_from_slice(&e.stat.mode.to_le_bytes());
        out.push(e.racy as u8);
        out.extend_from_slice(&e.hash);
    }
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    out
}

fn decode(bytes: &[u8]) -> Option<Map> {
    let body_len = bytes.len().checked_sub(32)?;
    let (body, sum) = bytes.split_at(body_len);
    if blake3::hash(body).as_bytes() != sum {
        return None;
    }
    let mut r = Reader { b: body };
    if r.take(8)? != MAGIC || r.u32()? != VERSION {
        return None;
    }
    let count = r.u64()? as usize;
    let mut entries = Map::with_capacity_and_hasher(count.min(1 << 24), Default::default());
    for _ in 0..count {
        let len = r.u32()? as usize;
        let path = r.take(len)?.to_vec();
        let stat = FileStat {
            size: r.u64()?,
            mtime_ns: r.u64()? as i64,
            ctime_ns: r.u64()? as i64,
            ino: r.u64()?,
            dev: r.u64()?,
            mode: r.u32()?,
        };
        let racy = r.take(1)?[0] != 0;
        let hash: [u8; 32] = r.take(32)?.try_into().ok()?;
        entries.insert(
            path,
            Entry {
                stat,
                hash,
                racy,
                used: false,
            },
        );
    }
    r.b.is_empty().then_some(entries)
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.b.len() < n {
            return None;
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Some(h)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(size: u64) -> FileStat {
        FileStat {
            size,
            mtime_ns: 1_000,
            ctime_ns: 1_000,
            ino: 7,
            dev: 1,
            mode: 0o100644,
        }
    }

    #[test]
    fn roundtrip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.statcache");
        let mut c = StatCache::open(&path);
        c.record(b"a/b".to_vec(), stat(3), [1; 32], now_ns());
        c.finish_run();
        c.save().unwrap();
        let mut c2 = StatCache::open(&path);
        assert_eq!(c2.len(), 1);
        assert_eq!(c2.lookup(b"a/b", &stat(3)), Some([1; 32]));
        assert_eq!(
            c2.lookup(b"a/b", &stat(4)),
            None,
            "a changed size is a miss"
        );
        // A flipped byte is detected by the checksum: empty cache, not garbage.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[20] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert!(StatCache::open(&path).is_empty());
    }

    #[test]
    fn recent_files_are_racy() {
        let mut c = StatCache::new();
        let mut s = stat(1);
        let now = now_ns();
        s.mtime_ns = now - 1_000_000; // modified 1 ms before the run started
        c.record(b"f".to_vec(), s, [2; 32], now);
        c.finish_run();
        assert_eq!(c.lookup(b"f", &s), None, "a racy entry must be re-hashed");
    }

    #[test]
    fn default_path_is_safe() {
        let p = StatCache::default_path(Path::new("/p"), "team/api:v1");
        assert_eq!(
            p,
            Path::new("/p/.devenv/cache/images/team_api_v1.statcache")
        );
    }
}
