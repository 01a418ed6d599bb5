//! The content-addressed fingerprint of an image build, and the tag derived from it.
//!
//! The fingerprint is a blake3 hash of everything that decides what `docker build`
//! produces: every entry Docker sends from the context (see [`super::context`]) sorted by
//! path, with its type, executable bit, size and content hash (symlinks by their target
//! text, directories by path only, empty ones included since Docker sends them), the
//! Dockerfile's content, the target, build args, labels, platform and any extra inputs
//! the caller adds. Absolute paths, mtimes, inodes, owners and the order of the walk
//! never enter it, so the same inputs give the same tag on any machine, in any folder.
//!
//! Cost: file contents are read only for files the [`StatCache`] cannot vouch for, on as
//! many threads as there are cores; an unchanged context costs one directory walk.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::context::{context_entries, ContextError, ContextSemantics, EntryKind};
use super::statcache::{now_ns, StatCache};

/// Bumped whenever what goes into the hash changes, so old tags are never reused for a
/// different meaning.
pub const FORMAT_VERSION: u32 = 2;

/// Prefix of devenv's content tags (`dv-` + 16 hex digits of the fingerprint).
pub const TAG_PREFIX: &str = "dv-";
const TAG_HEX_LEN: usize = 16;

/// Everything that decides an image. `context` and `dockerfile` are where to read from;
/// only what is inside them enters the hash, never the paths themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildInputs {
    pub context: PathBuf,
    /// May be outside `context` (docker reads it from there too).
    pub dockerfile: PathBuf,
    pub target: Option<String>,
    pub build_args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub platform: Option<String>,
    /// Anything else the caller wants to change the tag (e.g. a devenv option that
    /// changes the build). Hashed as key/value pairs.
    pub extra: BTreeMap<String, String>,
    /// Which builder's `.dockerignore` walk to reproduce (BuildKit by default: it sends
    /// a superset of the classic builder's files, so it is safe for either).
    pub semantics: ContextSemantics,
    /// Flags the builder in use needs (`--load` for buildx, see [`super::builder`]). They
    /// decide where the image lands, not what it is: never hashed.
    pub builder_flags: Vec<String>,
}

impl BuildInputs {
    /// Inputs with the defaults: no target, args, labels or platform.
    pub fn new(context: impl Into<PathBuf>, dockerfile: impl Into<PathBuf>) -> BuildInputs {
        BuildInputs {
            context: context.into(),
            dockerfile: dockerfile.into(),
            ..BuildInputs::default()
        }
    }
}

/// What a fingerprint run did (for `-v` output and the benchmark).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FingerprintStats {
    /// Entries Docker would send (files, directories, symlinks, others).
    pub entries: usize,
    pub files: usize,
    pub dirs: usize,
    pub symlinks: usize,
    /// Sum of the sizes of the regular files sent.
    pub bytes_total: u64,
    /// Files whose content was read and hashed in this run (cache misses).
    pub files_hashed: usize,
    pub bytes_hashed: u64,
    /// Files whose hash came from the stat cache.
    pub cache_hits: usize,
    pub elapsed: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub digest: [u8; 32],
    pub stats: FingerprintStats,
}

impl Fingerprint {
    /// The full fingerprint, 64 hex digits.
    pub fn hex(&self) -> String {
        hex::encode(self.digest)
    }

    /// The image tag: `dv-` and the first 16 hex digits (a valid Docker tag:
    /// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`).
    pub fn tag(&self) -> String {
        format!("{TAG_PREFIX}{}", &self.hex()[..TAG_HEX_LEN])
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FingerprintError {
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Fingerprints `inputs`, reading only the files `cache` cannot vouch for, and updates
/// `cache` (call [`StatCache::save`] afterwards to keep it).
pub fn fingerprint(
    inputs: &BuildInputs,
    cache: &mut StatCache,
) -> Result<Fingerprint, FingerprintError> {
    let started = Instant::now();
    let run_start_ns = now_ns();
    let dockerfile = std::fs::read(&inputs.dockerfile).map_err(|source| FingerprintError::Io {
        path: inputs.dockerfile.clone(),
        source,
    })?;
    let entries = context_entries(&inputs.context, &inputs.dockerfile, inputs.semantics)?;

    let mut stats = FingerprintStats {
        entries: entries.len(),
        ..FingerprintStats::default()
    };
    // Content hashes: from the cache, or to compute (largest first, for balance).
    let mut hashes: Vec<Option<[u8; 32]>> = vec![None; entries.len()];
    let mut todo: Vec<usize> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        match e.kind {
            EntryKind::Dir => stats.dirs += 1,
            EntryKind::Symlink => stats.symlinks += 1,
            EntryKind::Other => {}
            EntryKind::File => {
                stats.files += 1;
                let st = e.stat.as_ref().expect("files carry stat data");
                stats.bytes_total += st.size;
                match cache.lookup(&e.path, st) {
                    Some(h) => {
                        hashes[i] = Some(h);
                        stats.cache_hits += 1;
                    }
                    None => todo.push(i),
                }
            }
        }
    }
    todo.sort_by_key(|&i| std::cmp::Reverse(entries[i].stat.map_or(0, |m| m.size)));

    let computed = hash_files(inputs, &entries, &todo)?;
    for (i, h) in computed {
        let st = entries[i].stat.expect("files carry stat data");
        stats.files_hashed += 1;
        stats.bytes_hashed += st.size;
        cache.record(entries[i].path.clone(), st, h, run_start_ns);
        hashes[i] = Some(h);
    }
    cache.finish_run();

    let mut h = blake3::Hasher::new();
    h.update(b"devenv image fingerprint\0");
    h.update(&FORMAT_VERSION.to_le_bytes());
    put_bytes(&mut h, b"dockerfile", &dockerfile);
    put_opt(&mut h, b"target", inputs.target.as_deref());
    put_map(&mut h, b"build-args", &inputs.build_args);
    put_map(&mut h, b"labels", &inputs.labels);
    put_opt(&mut h, b"platform", inputs.platform.as_deref());
    put_map(&mut h, b"extra", &inputs.extra);
    put_bytes(&mut h, b"context", &(entries.len() as u64).to_le_bytes());
    for (e, content) in entries.iter().zip(&hashes) {
        put_len(&mut h, &e.path);
        match e.kind {
            EntryKind::Dir => {
                h.update(b"d");
            }
            EntryKind::File => {
                let st = e.stat.as_ref().expect("files carry stat data");
                // Docker sends every permission bit (the legacy builder's tar, BuildKit's
                // fsutil) and COPY keeps them: `chmod 600` changes the image.
                h.update(b"f");
                h.update(&(st.mode & 0o7777).to_le_bytes());
                h.update(&st.size.to_le_bytes());
                h.update(&content.expect("every file hashed"));
            }
            EntryKind::Symlink => {
                let target =
                    std::fs::read_link(inputs.context.join(std::ffi::OsStr::from_bytes(&e.path)))
                        .map_err(|source| FingerprintError::Io {
                        path: inputs.context.join(std::ffi::OsStr::from_bytes(&e.path)),
                        source,
                    })?;
                h.update(b"l");
                put_len(&mut h, target.as_os_str().as_bytes());
            }
            EntryKind::Other => {
                let mode = e.stat.map_or(0, |m| m.mode);
                h.update(b"o");
                h.update(&(mode & libc::S_IFMT).to_le_bytes());
            }
        }
    }
    stats.elapsed = started.elapsed();
    Ok(Fingerprint {
        digest: *h.finalize().as_bytes(),
        stats,
    })
}

fn put_len(h: &mut blake3::Hasher, b: &[u8]) {
    h.update(&(b.len() as u64).to_le_bytes());
    h.update(b);
}

fn put_bytes(h: &mut blake3::Hasher, key: &[u8], b: &[u8]) {
    put_len(h, key);
    put_len(h, b);
}

fn put_opt(h: &mut blake3::Hasher, key: &[u8], v: Option<&str>) {
    put_len(h, key);
    match v {
        None => {
            h.update(&[0]);
        }
        Some(v) => {
            h.update(&[1]);
            put_len(h, v.as_bytes());
        }
    }
}

fn put_map(h: &mut blake3::Hasher, key: &[u8], m: &BTreeMap<String, String>) {
    put_len(h, key);
    h.update(&(m.len() as u64).to_le_bytes());
    for (k, v) in m {
        put_len(h, k.as_bytes());
        put_len(h, v.as_bytes());
    }
}

/// Hashes the files `todo` (indices into `entries`) on up to one thread per core.
fn hash_files(
    inputs: &BuildInputs,
    entries: &[super::context::ContextEntry],
    todo: &[usize],
) -> Result<Vec<(usize, [u8; 32])>, FingerprintError> {
    if todo.is_empty() {
        return Ok(Vec::new());
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
        .min(todo.len());
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(todo.len()));
    let error: Mutex<Option<FingerprintError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut buf = vec![0u8; 1 << 20];
                let mut local = Vec::new();
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= todo.len() || error.lock().expect("no panics").is_some() {
                        break;
                    }
                    let i = todo[k];
                    let path = inputs
                        .context
                        .join(std::ffi::OsStr::from_bytes(&entries[i].path));
                    match hash_file(&path, &mut buf) {
                        Ok(h) => local.push((i, h)),
                        Err(source) => {
                            *error.lock().expect("no panics") =
                                Some(FingerprintError::Io { path, source });
                            break;
                        }
                    }
                }
                results.lock().expect("no panics").extend(local);
            });
        }
    });
    if let Some(e) = error.into_inner().expect("no panics") {
        return Err(e);
    }
    Ok(results.into_inner().expect("no panics"))
}

fn hash_file(path: &std::path::Path, buf: &mut [u8]) -> io::Result<[u8; 32]> {
    let mut f = File::open(path)?;
    let mut h = blake3::Hasher::new();
    loop {
        let n = match f.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
    }
    Ok(*h.finalize().as_bytes())
}

#[cfg(test)]
mod tests;
