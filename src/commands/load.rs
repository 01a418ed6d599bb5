//! Loading the config for a command: find devenv.toml, merge the profile, choose the kube
//! context of an existing cluster, and say which file was read.

use std::path::PathBuf;

use super::{fail, printer};
use crate::cli::GlobalArgs;
use crate::config::{LoadOptions, Loaded};
use crate::exit::Exit;
use crate::hint::Hinted;

/// Load the config for a command, or print every problem and return exit status 2.
pub fn load_config(g: &GlobalArgs) -> Result<Loaded, Exit> {
    let loaded = load_config_unannounced(g)?;
    say_which_config(g, &loaded);
    Ok(loaded)
}

/// [`load_config`] without the `config: FILE` line, for a command whose own output names
/// the file (`config validate`).
pub fn load_config_unannounced(g: &GlobalArgs) -> Result<Loaded, Exit> {
    let mut loaded = load_quietly(g)?;
    choose_context(&mut loaded, g.context.as_deref())?;
    Ok(loaded)
}

/// Like [`load_config`] for commands that never reach the cluster (`build`, `config`): the
/// context of an existing cluster is not required there.
pub fn load_config_without_cluster(g: &GlobalArgs) -> Result<Loaded, Exit> {
    let loaded = load_quietly(g)?;
    say_which_config(g, &loaded);
    Ok(loaded)
}

/// One line on stderr (unless -q) naming the config read: the file, or the built-in default,
/// so a misnamed or unexpected file never goes unnoticed. stdout (`-o json`) is untouched.
pub fn say_which_config(g: &GlobalArgs, loaded: &Loaded) {
    // Once per run: `reset` loads the config again for its `up`.
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if g.quiet || SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    printer::line(&which_config(loaded));
}

/// `config: devenv.toml (profile ci)` or `config: the built-in default (no devenv.toml in … or above…)`.
pub fn which_config(loaded: &Loaded) -> String {
    let profile = loaded
        .profile
        .as_ref()
        .map(|p| format!(" (profile {p})"))
        .unwrap_or_default();
    match &loaded.file {
        Some(_) => format!("config: {}{profile}", loaded.source_name()),
        None => format!(
            "config: the built-in default{profile} (no devenv.toml in {} or above; `devenv init` writes one)",
            loaded.root.display()
        ),
    }
}

fn load_quietly(g: &GlobalArgs) -> Result<Loaded, Exit> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let opts = LoadOptions {
        file: g.file.clone(),
        profile: g.profile.clone().filter(|p| !p.is_empty()),
        cwd,
        default_config: g.default_config,
    };
    let mut loaded = crate::config::load(&opts).map_err(|errors| {
        printer::rendered(&errors.to_string());
        report_config_errors_to_ci(&errors);
        Exit::Usage
    })?;
    // Pinned tools devenv installed into its cache are the ones every command runs.
    crate::tools::activate(&loaded.config);
    if let Some(c) = g.context.as_deref().filter(|c| !c.is_empty()) {
        if !crate::kube::is_k3d(&loaded) {
            loaded.config.cluster.context = Some(c.to_string());
        }
    }
    Ok(loaded)
}

/// On a CI service, each config problem again where the service shows it: a GitHub
/// annotation on its devenv.toml line, or GitLab's `devenv.toml:LINE:COL: error: message`.
/// (stderr: stdout is for data, `-o json`.)
fn report_config_errors_to_ci(errors: &crate::config::diagnostic::ConfigErrors) {
    use crate::engine::SourceLocation;
    use crate::ui::{github, gitlab, OutputMode};
    let mode = crate::ui::detect(crate::ui::UiFlags::default());
    if !matches!(mode, OutputMode::Gitlab | OutputMode::Github) {
        return;
    }
    for e in &errors.errors {
        let loc = e
            .location
            .as_ref()
            .filter(|l| l.line > 0)
            .map(|l| SourceLocation::new(l.file.clone(), l.line, l.col));
        if mode == OutputMode::Gitlab {
            printer::rendered(&gitlab::error_line(loc.as_ref(), &e.message));
        } else {
            printer::line(&github::annotation(
                github::Level::Error,
                Some("devenv.toml"),
                loc.as_ref(),
                github::workspace().as_deref(),
                &e.message,
            ));
        }
    }
}

/// For an existing cluster, the context comes from `--context` or devenv.toml (never the
/// kubeconfig's current-context), must exist, and must be allowed by `allowed_contexts`.
fn choose_context(loaded: &mut Loaded, requested: Option<&str>) -> Result<(), Exit> {
    let requested = requested.filter(|c| !c.is_empty());
    if crate::kube::is_k3d(loaded) {
        if let Some(c) = requested {
            return Err(fail(
                Exit::Usage,
                Hinted::new(format!("--context {c} only applies to provider = \"existing\"; this project's cluster is the k3d cluster `{}`", loaded.project))
                    .help(format!("remove --context (or DEVENV_CONTEXT), or set [cluster] provider = \"existing\" in {}", loaded.source_name())),
            ));
        }
        return Ok(());
    }
    let available: Vec<String> = crate::kubeconfig::default_kubeconfig_paths()
        .iter()
        .flat_map(|p| crate::kubeconfig::contexts(p))
        .collect();
    let cluster = &loaded.config.cluster;
    match crate::tenancy::check_context(
        requested,
        cluster.context.as_deref(),
        &cluster.allowed_contexts,
        &available,
    ) {
        Ok(ctx) => {
            loaded.config.cluster.context = Some(ctx);
            Ok(())
        }
        Err(Hinted { message, help }) => {
            // Shown like any config error: at the key that chooses the context.
            let key = if loaded.config.cluster.context.is_some() {
                "cluster.context"
            } else {
                "cluster.provider"
            };
            let e = loaded.error_at(key, message, help);
            printer::rendered(&crate::config::ConfigErrors::single(e).to_string());
            Err(Exit::Usage)
        }
    }
}
