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
pub mod hint;
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
pub mod tenancy;
pub mod tools;
pub mod ui;

use cli::{Cli, Command, ConfigCommand};
use exit::Exit;

/// Run one devenv command and say how it ended.
pub fn run(cli: Cli) -> Exit {
    let g = cli.global.clone();
    match cli.command {
        Command::Plan => commands::plan::run(&g),
        Command::Config(ConfigCommand::Show) => commands::config::show(&g),
        Command::Config(ConfigCommand::Validate) => commands::config::validate(&g),
        Command::Config(ConfigCommand::Schema) => commands::config::schema(),
        Command::Completions { shell } => commands::completions::completions(shell),
        Command::Man => commands::completions::man(),
        Command::Init(args) => commands::init::run(&g, &args),
        Command::Up(args) => commands::up::up(&g, &args),
        Command::Down(args) => commands::up::down(&g, &args),
        Command::Reset(args) => commands::up::reset(&g, &args),
        Command::Status => commands::up::status(&g),
        Command::Doctor => commands::up::doctor(&g),
        Command::Build(args) => commands::up::build(&g, &args),
        Command::Apply(args) => commands::up::apply(&g, &args),
        Command::Verify => commands::up::verify(&g),
    }
}
