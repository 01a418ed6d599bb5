//! devenv's integration tests, as one test binary (as cargo's `tests/testsuite/main.rs` and
//! just's `tests/lib.rs`): the shared harness and devenv's library are compiled and linked
//! once, not once per file. Each module was a test binary of its own before; the names are
//! kept, so a test's full name starts with its old binary's name and a filter such as
//! `cargo nextest run -E 'test(/^snapshots::/)'` selects what `--test snapshots` used to.
//!
//! Several tests own their process (they signal it, or set environment variables):
//! nextest runs every test in a process of its own, which they rely on. Under plain
//! `cargo test`, scripts/test.sh runs them apart (PROCESS_OWNING_TESTS there); a new
//! test that signals or changes its own process goes on that list.

mod support;

mod charts;
mod ci_cache_real_registry;
mod cli_init;
mod cli_outputs;
mod cli_usage;
mod config_errors;
mod config_plan;
mod diff;
mod existing_cluster;
mod external_registry;
mod fakes_behave_like_real_tools;
mod helm_fixtures;
mod helm_tooling;
mod hooks;
mod images_real_docker;
mod loopback_only;
mod newcomer;
mod overlays_render;
mod real_charts;
mod real_world;
mod render;
mod runner_signals;
mod snapshots;
mod status_drift;
mod tenancy;
mod trust;
mod ui_github;
mod up_engine;
mod verify_probe;
