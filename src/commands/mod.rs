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
    let mut loaded = load_config_without_cluster(g)?;
    choose_context(&mut loaded, g.context.as_deref())?;
    Ok(loaded)
}

/// Like [`load_config`] for commands that never reach the cluster (`build`, `config`): the
/// context of an existing cluster is not required there.
pub fn load_config_without_cluster(g: &GlobalArgs) -> Result<Loaded, Exit> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let opts = LoadOptions {
        file: g.file.clone(),
        profile: g.profile.clone().filter(|p| !p.is_empty()),
        cwd,
    };
    let mut loaded = crate::config::load(&opts).map_err(|errors| {
        eprint!("{errors}");
        // On GitHub Actions, each problem is also an annotation on its devenv.toml line.
        if crate::ui::detect(crate::ui::UiFlags::default()) == crate::ui::OutputMode::Github {
            for e in &errors.errors {
                let loc = e
                    .location
                    .as_ref()
                    .filter(|l| l.line > 0)
                    .map(|l| crate::ui::SourceLocation::new(l.file.clone(), l.line, l.col));
                // stderr: stdout is for data (`-o json`); the runner reads both streams.
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
        Exit::Usage
    })?;
    if let Some(c) = g.context.as_deref().filter(|c| !c.is_empty()) {
        if loaded.config.cluster.provider == crate::config::schema::ClusterProvider::Existing {
            loaded.config.cluster.context = Some(c.to_string());
        }
    }
    Ok(loaded)
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
