//! Stage 5, images: they need the registry only, so they build while the cluster boots.

use crate::config::schema::RegistryProvider;
use crate::runner::Cmd;

use super::builder::Builder;
use super::{image_build_inputs, step, StepKind};

impl Builder<'_> {
    /// Returns the image step ids.
    pub(super) fn images(&mut self) -> Vec<String> {
        let cfg = &self.loaded.config;
        let image_needs = if cfg.registry.provider == RegistryProvider::K3d {
            vec!["registry".to_string()]
        } else {
            vec!["preflight".to_string()]
        };
        let push = self.registry_push();
        let docker = cfg.build.docker.clone();
        let mut image_ids = Vec::new();
        for (i, img) in cfg.images.iter().enumerate() {
            let tag = self
                .inputs
                .image_tags
                .get(&img.name)
                .cloned()
                .unwrap_or_else(|| "<content-tag>".into());
            let reference = format!("{push}/{}:{tag}", img.name);
            // Paths relative to the project folder: commands run there, and the plan is the
            // same on every machine.
            let mut inputs = image_build_inputs(std::path::Path::new(""), img);
            inputs.builder_flags = self.builder_flags();
            let build = Cmd::planned(
                &docker,
                &crate::images::docker_build_argv(&inputs, &reference),
                format!("build image {}", img.name),
                cfg.build.timeout.as_secs(),
            );
            let push_cmd = Cmd::planned(
                &docker,
                &["push", &reference],
                format!("push image {}", img.name),
                600,
            );
            let extra_tags = img
                .tags
                .iter()
                .map(|extra| {
                    let extra_ref = format!("{push}/{}:{extra}", img.name);
                    let tag = Cmd::planned(
                        &docker,
                        &["tag", &reference, &extra_ref],
                        format!("tag image {} as {extra}", img.name),
                        60,
                    );
                    let push = Cmd::planned(
                        &docker,
                        &["push", &extra_ref],
                        format!("push image {}:{extra}", img.name),
                        600,
                    );
                    (tag, push)
                })
                .collect();
            let id = format!("image:{}", img.name);
            self.push_step(
                &id,
                &format!("Build and push image {}", img.name),
                StepKind::Image(step::Image {
                    name: img.name.clone(),
                    build,
                    push: push_cmd,
                    extra_tags,
                }),
                image_needs.clone(),
                Some(&format!("images[{i}]")),
                &tag,
            );
            image_ids.push(id);
        }
        image_ids
    }
}
