//! One module per subcommand; shared loading and error reporting here.

pub mod completions;
pub mod config;
pub mod init;
pub mod plan;
pub mod up;

use std::path::PathBuf;

use crate::cli::GlobalArgs;
use crate::config::{LoadOptions, Loaded};
use crate::exit::Exit;

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
    eprintln!("{}", which_config(loaded));
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
        eprint!("{errors}");
        report_config_errors_to_ci(&errors);
        Exit::Usage
    })?;
    // Pinned tools devenv installed into its cache are the ones every command runs.
    crate::tools::activate(&loaded.config);
    if let Some(c) = g.context.as_deref().filter(|c| !c.is_empty()) {
        if loaded.config.cluster.provider == crate::config::schema::ClusterProvider::Existing {
            loaded.config.cluster.context = Some(c.to_string());
        }
    }
    Ok(loaded)
}

/// On a CI service, each config problem again where the service shows it: a GitHub
/// annotation on its devenv.toml line, or GitLab's `devenv.toml:LINE:COL: error: message`.
/// (stderr: stdout is for data, `-o json`.)
fn report_config_errors_to_ci(errors: &crate::config::diagnostic::ConfigErrors) {
    let mode = crate::ui::detect(crate::ui::UiFlags::default());
    if !matches!(
        mode,
        crate::ui::OutputMode::Gitlab | crate::ui::OutputMode::Github
    ) {
        return;
    }
    for e in &errors.errors {
        let loc = e
            .location
            .as_ref()
            .filter(|l| l.line > 0)
            .map(|l| crate::engine::SourceLocation::new(l.file.clone(), l.line, l.col));
        if mode == crate::ui::OutputMode::Gitlab {
            eprint!(
                "{}",
                crate::ui::gitlab::error_line(loc.as_ref(), &e.message)
            );
        } else {
            eprintln!(
                "{}",
                crate::ui::github::annotation(
                    crate::ui::github::Level::Error,
                    Some("devenv.toml"),
                    loc.as_ref(),
                    crate::ui::github::workspace().as_deref(),
                    &e.message
                )
            );
        }
    }
}

/// For an existing cluster, the context comes from `--context` or devenv.toml (never the
/// kubeconfig's current-context), must exist, and must be allowed by `allowed_contexts`.
fn choose_context(loaded: &mut Loaded, requested: Option<&str>) -> Result<(), Exit> {
    use crate::config::schema::ClusterProvider;
    let requested = requested.filter(|c| !c.is_empty());
    if loaded.config.cluster.provider == ClusterProvider::K3d {
        if let Some(c) = requested {
            eprintln!("error: --context {c} only applies to provider = \"existing\"; this project's cluster is the k3d cluster `{}`", loaded.project);
            eprintln!("  = help: remove --context (or DEVENV_CONTEXT), or set [cluster] provider = \"existing\" in {}", loaded.source_name());
            return Err(Exit::Usage);
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
        Err(message) => {
            // Shown like any config error: at the key that chooses the context.
            let (message, help) = match message.split_once("\n  = help: ") {
                Some((m, h)) => (m.to_string(), Some(h.to_string())),
                None => (message, None),
            };
            let key = if loaded.config.cluster.context.is_some() {
                "cluster.context"
            } else {
                "cluster.provider"
            };
            let e = loaded.error_at(key, message, help);
            eprint!("{}", crate::config::ConfigErrors::single(e));
            Err(Exit::Usage)
        }
    }
}

/// Which builder `docker build` uses (see `images::builder`), when a docker build can
/// happen: images to build, or the verify probe. `ask`: run `docker builder inspect` if the
/// cached answer is missing or stale (`up`, `build`); else only the cache (`plan` runs
/// nothing). A detection that fails for a reason `docker build` would also fail on is an
/// error (exit 3); any other failure leaves the builder unknown (preflight reports Docker).
pub fn docker_builder(
    loaded: &Loaded,
    ask: bool,
) -> Result<Option<crate::images::DockerBuilder>, Exit> {
    match detect_builder(loaded, ask) {
        Ok(b) => Ok(b),
        Err(e) => {
            eprintln!("error: {}\n  = help: {}", e.message, e.hint);
            Err(Exit::Prerequisite)
        }
    }
}

/// [`docker_builder`] with the fatal case as a value (for `doctor`).
pub fn detect_builder(
    loaded: &Loaded,
    ask: bool,
) -> Result<Option<crate::images::DockerBuilder>, crate::images::builder::DetectError> {
    use crate::images::builder;
    let cfg = &loaded.config;
    if cfg.images.is_empty() && !cfg.verify.enabled {
        return Ok(None);
    }
    let docker = cfg.build.docker.as_str();
    if let Some(b) = builder::cached(docker) {
        return Ok(Some(b));
    }
    if !ask {
        return Ok(None);
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(_) => return Ok(None),
    };
    let runner = crate::runner::Runner::new(
        crate::render::state_dir(&loaded.root).join("logs"),
        tokio_util::sync::CancellationToken::new(),
    );
    let out =
        match rt.block_on(runner.run_unchecked("docker-builder", &builder::detect_cmd(docker))) {
            Ok(o) => o,
            // Not installed, hung: the preflight says so with its fix.
            Err(_) => return Ok(None),
        };
    let buildkit = std::env::var("DOCKER_BUILDKIT").ok();
    match builder::interpret(
        out.status,
        &out.stdout_str(),
        &out.stderr_str(),
        buildkit.as_deref(),
    ) {
        Ok(b) => {
            tracing::debug!("docker build uses {}", b.describe());
            builder::remember(docker, &b);
            Ok(Some(b))
        }
        Err(e) if e.fatal => Err(e),
        Err(e) => {
            tracing::warn!("{}", e.message);
            Ok(None)
        }
    }
}

/// Compute the image tags, build the plan and write its generated files under `.devenv/`.
/// `ask_builder`: see [`docker_builder`].
pub fn prepare_plan(
    loaded: &Loaded,
    ask_builder: bool,
) -> Result<
    (
        crate::plan::Plan,
        std::collections::BTreeMap<String, String>,
    ),
    Exit,
> {
    // This checkout's ownership id (and `.devenv/.gitignore`), before the plan renders it
    // into the k3d config and the registry's create command.
    let state_dir = crate::render::state_dir(&loaded.root);
    if let Err(e) = crate::state::ensure_state_dir(&state_dir) {
        eprintln!("error: {e}");
        return Err(Exit::StepFailed);
    }
    match crate::state::checkout_id(&state_dir) {
        Ok(c) => {
            if let Some(from) = c.replaced_from {
                eprintln!(
                    "note: .devenv/ was copied or moved from {from}: this checkout gets its own ownership id; a cluster or registry the other one created is not this one's (`devenv down --force` deletes it)"
                );
            }
        }
        Err(e) => {
            eprintln!(
                "error: cannot write {}: {e}",
                state_dir.join(crate::state::CHECKOUT_ID_FILE).display()
            );
            return Err(Exit::StepFailed);
        }
    }
    let builder = docker_builder(loaded, ask_builder)?;
    let tags = crate::steps::images::compute_tags(loaded, builder.as_ref()).map_err(|e| {
        eprintln!("error: {}", e.message);
        if let Some(h) = &e.hint {
            eprintln!("  = help: {h}");
        }
        if e.bad_input {
            Exit::Usage
        } else {
            Exit::StepFailed
        }
    })?;
    let inputs = crate::plan::PlanInputs {
        image_tags: tags.clone(),
        calico_manifests: None,
        docker_builder: builder,
    };
    let plan = crate::plan::Plan::build_with(loaded, &inputs);
    if let Err(e) = crate::render::write_files(&loaded.root, &plan.generated) {
        eprintln!(
            "error: cannot write devenv's files under {}: {e}",
            crate::render::state_dir(&loaded.root).display()
        );
        return Err(Exit::StepFailed);
    }
    Ok((plan, tags))
}
