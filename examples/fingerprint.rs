//! Fingerprints a build context the way `devenv build` does, and prints what it did.
//!
//! `cargo run --release --example fingerprint -- CONTEXT [DOCKERFILE] [--cache FILE]
//! [--classic]`: prints the tag, the full fingerprint, the entries sent, the files
//! hashed (cache misses) and the time. Used by `benches/images/bench.sh`.

use std::path::PathBuf;
use std::process::ExitCode;

use devenv::images::{fingerprint, BuildInputs, ContextSemantics, StatCache};

fn main() -> ExitCode {
    let mut positional = Vec::new();
    let mut cache_path: Option<PathBuf> = None;
    let mut semantics = ContextSemantics::BuildKit;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--cache" => cache_path = args.next().map(PathBuf::from),
            "--classic" => semantics = ContextSemantics::Classic,
            "-h" | "--help" => {
                println!("usage: fingerprint CONTEXT [DOCKERFILE] [--cache FILE] [--classic]");
                return ExitCode::SUCCESS;
            }
            _ => positional.push(PathBuf::from(a)),
        }
    }
    let Some(context) = positional.first().cloned() else {
        eprintln!("usage: fingerprint CONTEXT [DOCKERFILE] [--cache FILE] [--classic]");
        return ExitCode::from(2);
    };
    let dockerfile = positional
        .get(1)
        .cloned()
        .unwrap_or_else(|| context.join("Dockerfile"));
    let mut inputs = BuildInputs::new(context, dockerfile);
    inputs.semantics = semantics;
    let mut cache = match &cache_path {
        Some(p) => StatCache::open(p),
        None => StatCache::new(),
    };
    let started = std::time::Instant::now();
    let fp = match fingerprint(&inputs, &mut cache) {
        Ok(fp) => fp,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = cache.save() {
        eprintln!("warning: cannot save the stat cache: {e}");
    }
    let total = started.elapsed();
    let s = &fp.stats;
    println!("tag           {}", fp.tag());
    println!("fingerprint   {}", fp.hex());
    println!(
        "entries       {} ({} files, {} dirs, {} symlinks, {:.1} MiB)",
        s.entries,
        s.files,
        s.dirs,
        s.symlinks,
        s.bytes_total as f64 / 1048576.0
    );
    println!(
        "hashed        {} files, {:.1} MiB ({} from the stat cache)",
        s.files_hashed,
        s.bytes_hashed as f64 / 1048576.0,
        s.cache_hits
    );
    println!(
        "time          {:.1} ms (with cache load/save: {:.1} ms)",
        s.elapsed.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3
    );
    ExitCode::SUCCESS
}
