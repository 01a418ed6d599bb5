//! Images: content-addressed tags, a registry look-up before any docker command, builds
//! bounded by `build.parallel`, pushes to the registry's host address.

use std::collections::BTreeMap;

use crate::config::Loaded;
use crate::engine::{Ctx, Done, StepError};
use crate::engine::{ImageAction, ImageRecord};
use crate::images::{RegistryClient, RegistryOptions, StatCache};
use crate::plan::Step;

pub use crate::plan::image_build_inputs as build_inputs;

/// Why the tags cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagError {
    pub message: String,
    pub hint: Option<String>,
    /// The team's input is wrong (an ignore-file line Docker refuses): exit 2, nothing run.
    pub bad_input: bool,
}

impl std::fmt::Display for TagError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The content-addressed tag of every image (a walk per context; reads only changed files),
/// following the rules of `builder` (the builder `docker build` uses; `None`: BuildKit's,
/// the default of current Docker).
pub fn compute_tags(
    loaded: &Loaded,
    builder: Option<&crate::images::DockerBuilder>,
) -> Result<BTreeMap<String, String>, TagError> {
    let mut tags = BTreeMap::new();
    for img in &loaded.config.images {
        let mut inputs = build_inputs(&loaded.root, img);
        if let Some(b) = builder {
            inputs.semantics = b.semantics();
        }
        let cache_path = StatCache::default_path(&loaded.root, &img.name);
        let mut cache = StatCache::open(&cache_path);
        let fp = crate::images::fingerprint(&inputs, &mut cache).map_err(|e| {
            use crate::images::{ContextError, FingerprintError};
            match e {
                FingerprintError::Context(ContextError::BadIgnoreLine { file, line, source }) => {
                    let shown = file
                        .strip_prefix(&loaded.root)
                        .unwrap_or(&file)
                        .display()
                        .to_string();
                    let at = line.map(|l| format!(":{l}")).unwrap_or_default();
                    TagError {
                        message: format!(
                            "{shown}{at}: {source} (image {}): Docker refuses this line, so \
                             `docker build` would fail",
                            img.name
                        ),
                        hint: Some(format!(
                            "fix or delete {} of {shown}: a lone `!` needs a pattern after it \
                             (`!keep.txt`), and `[` opens a character class that needs its `]` \
                             (write `\\[` for a literal bracket)",
                            line.map(|l| format!("line {l}"))
                                .unwrap_or_else(|| "the line".into())
                        )),
                        bad_input: true,
                    }
                }
                other => TagError {
                    message: format!("image {}: {other}", img.name),
                    hint: None,
                    bad_input: false,
                },
            }
        })?;
        // A cache that cannot be saved only costs speed next time.
        if let Err(e) = cache.save() {
            tracing::warn!("cannot save the stat cache {}: {e}", cache_path.display());
        }
        tags.insert(img.name.clone(), fp.tag());
    }
    Ok(tags)
}

/// `localhost:5111` or `registry.example.com/team` → (host, path prefix).
pub fn split_registry(push: &str) -> (String, String) {
    match push.split_once('/') {
        Some((host, path)) => (host.to_string(), format!("{}/", path.trim_end_matches('/'))),
        None => (push.to_string(), String::new()),
    }
}

pub async fn build_and_push(ctx: &Ctx, step: &Step, name: &str) -> Result<Done, StepError> {
    let tag = ctx
        .image_tags
        .get(name)
        .cloned()
        .ok_or_else(|| StepError::new(format!("no tag computed for image {name}")))?;
    let push = ctx.plan.registry.push.clone();
    let reference = format!("{push}/{name}:{tag}");
    let (host, prefix) = split_registry(&push);
    let repo = format!("{prefix}{name}");

    // The tag is the content: if the registry has it, no docker command runs at all.
    let client = RegistryClient::new(RegistryOptions::default())
        .map_err(|e| StepError::new(format!("cannot create the registry client: {e}")))?
        .with_credential_helpers(&ctx.runner);
    match client.has_manifest(&host, &repo, &tag).await {
        Ok(Some(_digest)) => {
            ctx.summary.lock().unwrap().images.push(ImageRecord {
                name: name.into(),
                reference: reference.clone(),
                action: ImageAction::Reused,
            });
            return Ok(Done::Unchanged(format!(
                "{reference} is already in the registry"
            )));
        }
        Ok(None) => {}
        // Unreachable or refused: building and pushing will say what is wrong, precisely.
        Err(e) => ctx.reporter.warn(&format!(
            "cannot ask the registry whether {reference} exists ({e}); building it"
        )),
    }

    let _slot = tokio::select! {
        s = ctx.build_slots.acquire() => s.map_err(|_| StepError::interrupted())?,
        _ = ctx.runner.cancel_token().cancelled() => return Err(StepError::interrupted()),
    };
    for cmd in step.commands() {
        ctx.run(step, cmd).await.map_err(|mut e| {
            if !e.is_interrupted() {
                e.message = format!("image {name}: {}", e.message);
            }
            e
        })?;
    }
    ctx.summary.lock().unwrap().images.push(ImageRecord {
        name: name.into(),
        reference: reference.clone(),
        action: ImageAction::Built,
    });
    Ok(Done::Changed(Some(
        serde_json::json!({ "reference": reference }),
    )))
}
