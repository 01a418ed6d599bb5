//! What `plan` and every run do before a step: the checkout's ownership id, which builder
//! `docker build` uses, the image tags, the plan and its generated files under `.devenv/`.

use std::collections::BTreeMap;

use super::{fail, printer};
use crate::config::Loaded;
use crate::exit::Exit;
use crate::hint::Hinted;
use crate::images::builder::DetectError;
use crate::images::DockerBuilder;
use crate::plan::Plan;

/// Which builder `docker build` uses (see `images::builder`), when a docker build can
/// happen: images to build, or the verify probe. `ask`: run `docker builder inspect` if the
/// cached answer is missing or stale (`up`, `build`); else only the cache (`plan` runs
/// nothing). A detection that fails for a reason `docker build` would also fail on is an
/// error (exit 3); any other failure leaves the builder unknown (preflight reports Docker).
pub fn docker_builder(loaded: &Loaded, ask: bool) -> Result<Option<DockerBuilder>, Exit> {
    detect_builder(loaded, ask)
        .map_err(|e| fail(Exit::Prerequisite, Hinted::new(e.message).help(e.hint)))
}

/// [`docker_builder`] with the fatal case as a value (for `doctor`).
pub fn detect_builder(loaded: &Loaded, ask: bool) -> Result<Option<DockerBuilder>, DetectError> {
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
) -> Result<(Plan, BTreeMap<String, String>), Exit> {
    // This checkout's ownership id (and `.devenv/.gitignore`), before the plan renders it
    // into the k3d config and the registry's create command.
    let state_dir = crate::render::state_dir(&loaded.root);
    if let Err(e) = crate::state::ensure_state_dir(&state_dir) {
        return Err(fail(Exit::StepFailed, Hinted::new(e.to_string())));
    }
    match crate::state::checkout_id(&state_dir) {
        Ok(c) => {
            if let Some(from) = c.replaced_from {
                printer::note(&format!(
                    ".devenv/ was copied or moved from {from}: this checkout gets its own ownership id; a cluster or registry the other one created is not this one's (`devenv down --force` deletes it)"
                ));
            }
        }
        Err(e) => {
            return Err(fail(
                Exit::StepFailed,
                Hinted::new(format!(
                    "cannot write {}: {e}",
                    state_dir.join(crate::state::CHECKOUT_ID_FILE).display()
                )),
            ));
        }
    }
    let builder = docker_builder(loaded, ask_builder)?;
    let tags = crate::steps::images::compute_tags(loaded, builder.as_ref()).map_err(|e| {
        let exit = if e.bad_input {
            Exit::Usage
        } else {
            Exit::StepFailed
        };
        fail(
            exit,
            Hinted {
                message: e.message,
                help: e.hint,
            },
        )
    })?;
    let inputs = crate::plan::PlanInputs {
        image_tags: tags.clone(),
        calico_manifests: None,
        docker_builder: builder,
    };
    let plan = Plan::build_with(loaded, &inputs);
    if let Err(e) = crate::render::write_files(&loaded.root, &plan.generated) {
        return Err(fail(
            Exit::StepFailed,
            Hinted::new(format!(
                "cannot write devenv's files under {}: {e}",
                state_dir.display()
            )),
        ));
    }
    Ok((plan, tags))
}
