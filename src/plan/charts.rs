//! A chart's two steps: `render:NAME` (`helm pull` on a cache miss, `helm dependency
//! build` for a local chart with dependencies, `helm template`, then the images wrapper,
//! after preflight, before the cluster is needed) and `chart:NAME` (the shared deploy path).

use crate::charts::{self, ChartSource, TemplateArgs};
use crate::render::GeneratedFile;
use crate::runner::Cmd;

use super::builder::{Builder, Ready};
use super::{step, StepKind};

impl Builder<'_> {
    pub(super) fn chart(&mut self, idx: usize, ready: &Ready, image_ids: &[String]) {
        let c = &self.loaded.config.charts[idx];
        let needs = self.unit_needs(ready, image_ids, &c.depends_on, &c.name);
        let rendering = self.render_chart(idx);
        let apply = self.apply(
            &format!(".devenv/rendered/{}.apply.yaml", c.name),
            &format!("apply chart {}", c.name),
        );
        let fp = format!("{:?}{:?}{rendering}", c.wait, c.timeout);
        self.push_step(
            &format!("chart:{}", c.name),
            &format!("Apply chart {} ({})", c.name, c.chart),
            StepKind::Chart(step::Chart {
                name: c.name.clone(),
                apply,
            }),
            needs,
            Some(&format!("charts[{idx}]")),
            &fp,
        );
    }

    /// The chart's render step and its generated files (the images wrapper, `set` as a
    /// values file); returns what the rendering depends on besides the commands.
    fn render_chart(&mut self, idx: usize) -> String {
        let cfg = &self.loaded.config;
        let root = &self.loaded.root;
        let c = &cfg.charts[idx];
        let source = ChartSource::of(c);
        let dir = charts::state_dir(&c.name);

        // A remote chart is rendered from its archive in devenv's cache: pulled once.
        let cache_root = crate::cache::default_cache_root()
            .unwrap_or_else(|| std::env::temp_dir().join("devenv"));
        let archive = source.archive(&cache_root);
        let pull = source.cache_dir(&cache_root).and_then(|dest| {
            let argv = charts::pull_argv(&source, &dest)?;
            Some(Cmd::planned(
                "helm",
                &argv,
                format!("pull chart {} into devenv's cache", c.name),
                300,
            ))
        });
        let dependency_build = match &source {
            ChartSource::Local { dir } if charts::has_dependencies(&root.join(dir)) => {
                Some(Cmd::planned(
                    "helm",
                    &charts::dependency_build_argv(dir),
                    format!("build the dependencies of chart {}", c.name),
                    300,
                ))
            }
            _ => None,
        };

        let mut values = c.values.clone();
        let mut fp = String::new();
        if !c.set.is_empty() {
            let file = format!("{dir}/{}", charts::SET_VALUES);
            let content = charts::set_values_yaml(&c.set);
            fp.push_str(&content);
            self.generated.push(GeneratedFile {
                path: file.clone(),
                content,
            });
            values.push(file);
        }
        let chart_ref = match (&source, &archive) {
            (ChartSource::Local { dir }, _) => dir.clone(),
            (_, Some(a)) => a.display().to_string(),
            (_, None) => c.chart.clone(),
        };
        // The k3s version of the cluster devenv creates; on an existing cluster the plan
        // does not know it (it is read only when the cluster check runs): helm's default.
        let kube_version = if self.kube.is_k3d() {
            charts::kube_version_of_image(&cfg.cluster.image)
        } else {
            None
        };
        let namespace = c.namespace.clone().unwrap_or_else(|| "default".into());
        let version = if source.is_remote() {
            c.version.as_deref()
        } else {
            None
        };
        let template = Cmd::planned(
            "helm",
            &charts::template_argv(&TemplateArgs {
                release: c.release_name(),
                chart: &chart_ref,
                namespace: &namespace,
                version,
                values: &values,
                kube_version: kube_version.as_deref(),
            }),
            format!("render chart {} with helm template", c.name),
            300,
        );

        // The same images wrapper as an overlay's, around the saved helm output.
        let overrides = self.image_overrides();
        let kustomization = crate::overlays::wrapper_kustomization(
            &root.join(&dir).join(charts::HELM_OUTPUT),
            &root.join(&dir),
            &overrides,
        );
        fp.push_str(&kustomization);
        self.generated.push(GeneratedFile {
            path: format!("{dir}/kustomization.yaml"),
            content: kustomization,
        });
        let render = self.kustomize(&dir, format!("point chart {} at the pushed images", c.name));
        // Helm's --create-namespace, unless [namespaces] creates it (with its policies).
        let create_namespace = namespace != "default"
            && !crate::tenancy::SYSTEM_NAMESPACES.contains(&namespace.as_str())
            && !cfg.namespaces.contains_key(&namespace);
        self.push_step(
            &format!("render:{}", c.name),
            &format!("Render chart {}", c.name),
            StepKind::RenderChart(step::RenderChart {
                name: c.name.clone(),
                namespace,
                create_namespace,
                archive,
                pull,
                dependency_build,
                template,
                render,
            }),
            // After preflight only: a missing or too old helm is reported there, with its
            // install hint (exit 3), not as a failed render.
            vec!["preflight".to_string()],
            Some(&format!("charts[{idx}].chart")),
            &fp,
        );
        fp
    }
}
