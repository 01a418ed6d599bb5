//! devenv: one command from a versioned `devenv.toml` to a local Kubernetes environment
//! (k3d registry, k3d cluster without flannel, Calico, images, Kustomize overlays).
//!
//! See `docs/architecture.md` for the map of modules.

pub mod calico;
pub mod cli;
pub mod commands;
pub mod config;
pub mod engine;
pub mod exit;
pub mod images;
pub mod kubeconfig;
pub mod overlays;
pub mod plan;
pub mod render;
pub mod runner;
pub mod state;
pub mod steps;
pub mod ui;
