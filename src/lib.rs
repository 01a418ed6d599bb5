//! devenv: one command from a versioned `devenv.toml` to a local Kubernetes environment
//! (k3d registry, k3d cluster without flannel, Calico, images, Kustomize overlays).
//!
//! See `docs/architecture.md` for the map of modules.

pub mod cache;
pub mod calico;
pub mod charts;
pub mod cli;
pub mod commands;
pub mod config;
pub mod deploy;
pub mod engine;
pub mod exit;
pub mod hint;
pub mod http;
pub mod images;
pub mod kube;
pub mod kubeconfig;
pub mod mirror;
pub mod overlays;
pub mod plan;
pub mod render;
pub mod runner;
pub mod state;
pub mod steps;
pub mod template;
pub mod tenancy;
pub mod tools;
pub mod ui;
pub mod version;

use cli::{Cli, Command, ConfigCommand};
use exit::Exit;

/// Run one devenv command and say how it ended: a dispatch to `commands/`, one module per
/// subcommand.
pub fn run(cli: Cli) -> Exit {
    let g = &cli.global;
    match cli.command {
        Command::Plan => commands::plan::run(g),
        Command::Render(args) => commands::render::run(g, &args),
        Command::Diff(args) => commands::diff::run(g, &args),
        Command::Config(ConfigCommand::Show) => commands::config::show(g),
        Command::Config(ConfigCommand::Validate) => commands::config::validate(g),
        Command::Config(ConfigCommand::Schema) => commands::config::schema(),
        Command::Completions { shell } => commands::completions::run(shell),
        Command::Man => commands::man::run(),
        Command::Init(args) => commands::init::run(g, &args),
        Command::Up(args) => commands::up::run(g, &args),
        Command::Down(args) => commands::down::run(g, &args),
        Command::Reset(args) => commands::reset::run(g, &args),
        Command::Status => commands::status::run(g),
        Command::Doctor => commands::doctor::run(g),
        Command::Build(args) => commands::build::run(g, &args),
        Command::Apply(args) => commands::apply::run(g, &args),
        Command::Verify => commands::verify::run(g),
    }
}
