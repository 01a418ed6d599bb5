//! Issue 13: promises devenv makes (ownership, secrets, a journal that tells the truth,
//! bad input refused at once) tried as a careless or unlucky team would break them. Each
//! test failed on the main before its fix.
//!
//! - `secrets`: no credential or credential-helper output ever touches the disk.
//! - `ownership`: clusters and registries proven devenv's by a per-checkout label.
//! - `config`: misnamed files, late refusals, profile locations, paths outside the repo.
//! - `runtime`: partial clusters, SIGKILL'd children, unreadable state, verify leftovers.

mod config;
mod ownership;
mod runtime;
mod secrets;
