//! Fuzz the config loader and the planner with arbitrary `devenv.toml` text.
//!
//! Whatever the input, loading must return `Ok` or `Err` (never panic, never hang),
//! rendering the diagnostics must not panic (they slice the source text at spans,
//! the classic place for a char-boundary panic), and a config the loader accepted
//! must be planned without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // devenv reads the file as UTF-8 and reports anything else before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Without a profile, and with the profile every CI run uses (profile merging is
    // a separate code path).
    for profile in [None, Some("ci")] {
        match devenv::config::load_from_str(text, "devenv.toml", profile) {
            Ok(loaded) => {
                let _ = devenv::plan::Plan::build(&loaded.config);
            }
            Err(errors) => {
                let _ = errors.to_string();
            }
        }
    }
});
