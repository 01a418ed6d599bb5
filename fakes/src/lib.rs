//! Test doubles for `k3d` and `kubectl` that behave like the real tools (flags, JSON
//! shapes, exit codes, error texts) over a shared simulated world in
//! `$DEVENV_FAKE_STATE` (see `state.rs`). Built only for devenv's tests.

pub mod common;
pub mod flags;
pub mod jsonpath;
pub mod k3d;
pub mod kube;
pub mod kubeconfig;
pub mod kubectl;
pub mod logrus;
pub mod network;
pub mod release_host;
pub mod state;
