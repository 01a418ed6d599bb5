//! Fuzz the config loader and the planner with arbitrary `devenv.toml` text.
//!
//! Whatever the input, loading must return `Ok` or `Err` (never panic, never hang), and
//! rendering the diagnostics must not panic (they slice the source text at spans, the
//! classic place for a char-boundary panic). A config the loader accepted must plan
//! without panicking, and the plan must be what the engine relies on: unique step ids,
//! every `needs` naming a step that comes earlier (plan order is a valid run order),
//! and printable as text and JSON.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // devenv reads the file as UTF-8 and reports anything else before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Without a profile, and with the built-in `ci` profile (profile merging is its own
    // code path, with its own spans into a second source).
    for profile in [None, Some("ci")] {
        match devenv::config::load_from_str(text, "devenv.toml", profile) {
            Ok(loaded) => check_plan(&devenv::plan::Plan::build(&loaded)),
            Err(errors) => {
                let rendered = errors.to_string();
                assert!(
                    !rendered.is_empty(),
                    "a config error renders as an empty message"
                );
            }
        }
    }
});

fn check_plan(plan: &devenv::plan::Plan) {
    let mut seen = HashSet::new();
    for step in &plan.steps {
        for need in &step.needs {
            assert!(
                seen.contains(need.as_str()),
                "step {} needs {need}, which is not an earlier step",
                step.id
            );
        }
        assert!(
            seen.insert(step.id.as_str()),
            "duplicate step id {}",
            step.id
        );
    }
    let all: Vec<String> = plan.steps.iter().map(|s| s.id.clone()).collect();
    assert_eq!(
        plan.closure(&all),
        all,
        "the closure of every step is not the whole plan"
    );
    let text = plan.to_text();
    for id in &all {
        assert!(
            text.contains(id.as_str()),
            "`devenv plan` does not show step {id}"
        );
    }
    let _ = plan.to_json();
}
