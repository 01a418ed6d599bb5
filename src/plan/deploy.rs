//! Stage 6, deploy: the namespaces, each unit (an overlay here, a chart in `charts.rs`:
//! rendered at the start, applied once the cluster, the images and the units it depends on
//! are there), then the prune.

use crate::config::schema::PodSecurity;
use crate::overlays::{self, NamespaceSpec, PodSecurityLevel};
use crate::render::GeneratedFile;
use crate::runner::Cmd;

use super::builder::{Builder, Ready};
use super::{
    isolation, step, unit_order, unit_step_id, StepKind, UnitRef, NAMESPACES_FIELD_MANAGER,
};

impl Builder<'_> {
    /// Namespaces with Pod Security and default policies, after `ready_step`; returns what an
    /// overlay needs besides images and other overlays.
    pub(super) fn namespaces(&mut self, ready_step: &str) -> Vec<String> {
        let cfg = &self.loaded.config;
        if cfg.namespaces.is_empty() {
            return vec![ready_step.to_string()];
        }
        let file = ".devenv/namespaces.yaml";
        // Its own field manager: an overlay that declares the same Namespace (applied as
        // `devenv`) would otherwise drop the Pod Security labels set here, since a
        // server-side apply removes the fields its manager set before and omits now.
        let apply = self.apply_as(
            NAMESPACES_FIELD_MANAGER,
            file,
            "create the namespaces and their default policies",
        );
        let list: Vec<&str> = cfg.namespaces.keys().map(String::as_str).collect();
        let specs: Vec<NamespaceSpec> = cfg
            .namespaces
            .iter()
            .map(|(name, ns)| NamespaceSpec {
                name: name.clone(),
                pod_security: ns.pod_security.map(|p| match p {
                    PodSecurity::Restricted => PodSecurityLevel::Restricted,
                    PodSecurity::Baseline => PodSecurityLevel::Baseline,
                    PodSecurity::Privileged => PodSecurityLevel::Privileged,
                }),
                default_deny: ns.default_deny,
                labels: ns.labels.clone(),
            })
            .collect();
        let mut yaml = overlays::render_namespaces(&specs);
        if let Some(iso) = isolation(self.loaded) {
            // Shared cluster: the owner's namespaces, labelled. Validated at load, so an
            // error here is a shared namespace the config asks to create: keep it visible.
            yaml = iso
                .isolate("namespaces", &yaml)
                .unwrap_or_else(|e| format!("# {}\n{yaml}", e.hinted().render()));
        }
        self.generated.push(GeneratedFile {
            path: file.into(),
            content: yaml.clone(),
        });
        self.push_step(
            "namespaces",
            &format!("Create namespaces {}", list.join(", ")),
            StepKind::Namespaces(step::Namespaces { apply }),
            vec![ready_step.to_string()],
            Some("namespaces"),
            &yaml,
        );
        vec!["namespaces".into()]
    }

    /// Overlays and charts in one dependency order (ties: declaration order), each
    /// rendered by its own step.
    pub(super) fn units(&mut self, ready: &Ready, image_ids: &[String]) {
        for unit in unit_order(&self.loaded.config) {
            match unit {
                UnitRef::Overlay(idx) => self.overlay(idx, ready, image_ids),
                UnitRef::Chart(idx) => self.chart(idx, ready, image_ids),
            }
        }
    }

    /// What a unit's apply step needs: the cluster ready (and the namespaces), the images,
    /// the units it depends on, and its render step.
    pub(super) fn unit_needs(
        &self,
        ready: &Ready,
        image_ids: &[String],
        depends_on: &[String],
        name: &str,
    ) -> Vec<String> {
        let cfg = &self.loaded.config;
        let mut needs = ready.overlay_needs.clone();
        needs.extend(image_ids.iter().cloned());
        needs.extend(depends_on.iter().map(|d| unit_step_id(cfg, d)));
        needs.push(format!("render:{name}"));
        needs
    }

    fn overlay(&mut self, idx: usize, ready: &Ready, image_ids: &[String]) {
        let cfg = &self.loaded.config;
        let o = &cfg.overlays[idx];
        let needs = self.unit_needs(ready, image_ids, &o.depends_on, &o.name);
        let kustomization = self.wrapper(idx);
        // CustomResourceDefinitions of the overlay (if any) are applied first from
        // NAME.crds.yaml and waited for until Established; then the rest, then the waits.
        let apply = self.apply(
            &format!(".devenv/rendered/{}.apply.yaml", o.name),
            &format!("apply overlay {}", o.name),
        );
        let fp = format!("{:?}{:?}{kustomization}", o.wait, o.timeout);
        self.push_step(
            &format!("overlay:{}", o.name),
            &format!("Apply overlay {} ({})", o.name, o.path),
            StepKind::Overlay(step::Overlay {
                name: o.name.clone(),
                apply,
            }),
            needs,
            Some(&format!("overlays[{idx}]")),
            &fp,
        );
    }

    /// The images devenv pushes, as the wrapper kustomization of a unit points at them.
    pub(super) fn image_overrides(&self) -> Vec<overlays::ImageOverride> {
        self.loaded
            .config
            .images
            .iter()
            .map(|img| overlays::ImageOverride {
                stands_for: crate::config::validate::strip_tag_and_digest(
                    img.stands_for.as_deref().unwrap_or(&img.name),
                )
                .to_string(),
                new_name: format!("{}/{}", self.registry_pull(), img.name),
                new_tag: self
                    .inputs
                    .image_tags
                    .get(&img.name)
                    .cloned()
                    .unwrap_or_else(|| "latest".into()),
            })
            .collect()
    }

    /// `kubectl kustomize DIR` (or the configured `KUSTOMIZE build DIR`).
    pub(super) fn kustomize(&self, dir: &str, purpose: String) -> Cmd {
        let argv = overlays::render_argv(
            self.loaded.config.build.kustomize.as_deref(),
            std::path::Path::new(dir),
            None,
        );
        Cmd::planned(&argv[0], &argv[1..], purpose, 120)
    }

    /// The overlay's Kustomize wrapper (images pointed at the pushed tags) and the step that
    /// renders it; returns the wrapper's kustomization.
    fn wrapper(&mut self, idx: usize) -> String {
        let cfg = &self.loaded.config;
        let o = &cfg.overlays[idx];
        let root = &self.loaded.root;
        let wrapper = overlays::wrapper_dir(root, &o.name, &root.join(&o.path));
        let overrides = self.image_overrides();
        let kustomization =
            overlays::wrapper_kustomization(&root.join(&o.path), &root.join(&wrapper), &overrides);
        self.generated.push(GeneratedFile {
            path: format!("{wrapper}/kustomization.yaml"),
            content: kustomization.clone(),
        });
        let purpose = format!("render overlay {}", o.name);
        // An overlay with `helmCharts:` renders with `--enable-helm` (and a pinned helm's path).
        let fence = crate::config::validate::path_fence(self.loaded).0;
        let helm = overlays::inflates_charts(&root.join(&o.path), &fence).then(|| {
            crate::tools::resolved_path("helm").map_or("helm".into(), |p| p.display().to_string())
        });
        let argv = overlays::render_argv(
            cfg.build.kustomize.as_deref(),
            std::path::Path::new(&wrapper),
            helm.as_deref(),
        );
        let render = Cmd::planned(&argv[0], &argv[1..], purpose, 120);
        // Rendering needs nothing but the wrapper: it runs at the start, off the critical path.
        self.push_step(
            &format!("render:{}", o.name),
            &format!("Render overlay {}", o.name),
            StepKind::Render(step::Render {
                name: o.name.clone(),
                render,
            }),
            vec![],
            Some(&format!("overlays[{idx}].path")),
            &kustomization,
        );
        kustomization
    }

    /// Prune what earlier runs applied and no overlay or chart renders any more. Also with
    /// no unit left: the last one dropped from devenv.toml must take its objects with it
    /// (the plan cannot know whether anything was applied before; with nothing recorded the
    /// step runs no command).
    pub(super) fn prune(&mut self, ready: &Ready) {
        let cfg = &self.loaded.config;
        let mut needs = self.unit_ids();
        if needs.is_empty() {
            needs = ready.overlay_needs.clone();
        }
        self.push_step(
            "prune",
            if cfg.charts.is_empty() {
                "Delete objects removed from the overlays"
            } else {
                "Delete objects removed from the overlays and charts"
            },
            StepKind::Prune,
            needs,
            Some("overlays"),
            "",
        );
    }
}
