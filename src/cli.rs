//! The command line, as clap definitions only (no logic). Help, completions and the man page
//! are generated from these definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Exit status: 0 ok, 1 a step failed, 2 bad config or usage, 3 a prerequisite is missing,
4 unhealthy (status), 130 interrupted (5 is reserved for \"not built yet\").

devenv (the devenv-k8s project) is not devenv.sh, the Nix tool of the same name.";

#[derive(Debug, Parser)]
#[command(
    name = "devenv",
    version = concat!(env!("CARGO_PKG_VERSION"), " (devenv-k8s: k3d + Calico local Kubernetes; not devenv.sh)"),
    about = "One command from a versioned devenv.toml to a local Kubernetes environment: \
             a k3d registry, a k3d cluster without flannel, Calico, your images, your Kustomize overlays \
             and Helm charts.",
    after_help = AFTER_HELP,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// Read this devenv.toml instead of searching upward from the working directory.
    #[arg(short = 'f', long = "file", global = true, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// With no devenv.toml found, use the built-in default config even when a file that looks
    /// like a misnamed devenv.toml (Devenv.toml, devenv.toml.txt, devenv.yaml…) is there;
    /// without this flag devenv refuses (exit 2) and names that file.
    #[arg(long, global = true, conflicts_with = "file")]
    pub default_config: bool,
    /// Merge this profile over the config (built-in: ci, single-node; or [profiles.NAME]).
    #[arg(long, global = true, env = "DEVENV_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// Kube context of an existing cluster (provider = "existing"); overrides cluster.context.
    /// devenv never uses your current-context by itself.
    #[arg(long, global = true, env = "DEVENV_CONTEXT", value_name = "NAME")]
    pub context: Option<String>,
    /// More output (-v: step output, -vv: debug logs). RUST_LOG also works.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors and the final result.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Output format for plan, status, up, build, apply and verify.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a devenv.toml, a Kustomize base and dev overlay, and a sample Dockerfile.
    Init(InitArgs),
    /// Print the steps `up` would run, with their exact commands (runs nothing).
    Plan,
    /// Print the manifests `up` would apply, unit by unit (runs only the renderers).
    Render(RenderArgs),
    /// Show what `up` would change on the cluster, unit by unit (exit 1 if anything).
    Diff(DiffArgs),
    /// Create or update the whole environment (idempotent, resumable).
    Up(UpArgs),
    /// Show the health of each component; exits 4 when something is unhealthy.
    Status,
    /// Delete what devenv created, and nothing else: the k3d cluster and registry, or on an
    /// existing cluster only the objects you applied.
    Down(DownArgs),
    /// `down` then `up`: rebuild from scratch, after a confirmation.
    Reset(ResetArgs),
    /// Check every prerequisite and say how to fix each problem; exits 3 on a problem.
    Doctor,
    /// Build and push images (all, or the named ones).
    Build(BuildArgs),
    /// Render and apply overlays and charts, even unchanged (all, or the named ones and what they depend on).
    Apply(ApplyArgs),
    /// Prove NetworkPolicies are enforced, every node is Ready and pulls from the registry.
    Verify,
    /// Inspect the config.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) generated from this CLI.
    #[command(hide = true)]
    Man,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective config (profile merged, defaults filled) as TOML.
    Show,
    /// Check the config; exits 2 with every problem when it is not valid.
    Validate,
    /// Print the JSON Schema of devenv.toml (for editors: Taplo / Even Better TOML).
    Schema,
}

#[derive(Debug, Args, Default)]
pub struct InitArgs {
    /// Accept the defaults without asking.
    #[arg(short, long)]
    pub yes: bool,
    /// Project name (default: the folder's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Folder to create the project in (default: the working directory).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Also scaffold a Helm chart: `deploy/charts/NAME/` (Chart.yaml, values.yaml,
    /// values-dev.yaml, templates/) and its [[charts]] entry in devenv.toml.
    #[arg(long, value_name = "NAME")]
    pub chart: Option<String>,
}

#[derive(Debug, Args, Default)]
pub struct UpArgs {
    /// Recreate the cluster when a change needs it (node count, CIDR, k3s image), without asking.
    #[arg(long)]
    pub recreate: bool,
    /// Answer yes to every question.
    #[arg(short, long)]
    pub yes: bool,
    /// Wait for another devenv running in this project instead of refusing.
    #[arg(long)]
    pub wait: bool,
    /// Skip `devenv verify` at the end.
    #[arg(long)]
    pub no_verify: bool,
    /// Download the k3d, kubectl and helm versions pinned in devenv.toml's [tools] (exact
    /// versions) into devenv's cache, each checked against its published sha256, and run
    /// them from there (PATH is left alone).
    #[arg(long)]
    pub install_tools: bool,
}

#[derive(Debug, Args, Default)]
pub struct DownArgs {
    /// Also delete a cluster or registry of the same name that does not carry this
    /// checkout's ownership id (`.devenv/checkout-id`), i.e. that devenv did not create here.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args, Default)]
pub struct ResetArgs {
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub yes: bool,
    /// Also delete a cluster or registry of the same name that does not carry this
    /// checkout's ownership id (`.devenv/checkout-id`), i.e. that devenv did not create here.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args, Default)]
pub struct BuildArgs {
    /// Images to build (default: all).
    pub names: Vec<String>,
}

#[derive(Debug, Args, Default)]
pub struct RenderArgs {
    /// Overlays and charts to render (default: all, and the namespaces file).
    pub names: Vec<String>,
}

#[derive(Debug, Args, Default)]
pub struct DiffArgs {
    /// Overlays and charts to compare with the cluster (default: all, and the namespaces file).
    pub names: Vec<String>,
}

#[derive(Debug, Args, Default)]
pub struct ApplyArgs {
    /// Overlays and charts to apply, with what they depend on (default: all).
    pub names: Vec<String>,
}
