//! The plan builder: what every stage shares (the config, the kube target, the steps so far,
//! the generated files) and the order of the stages. Each stage is in its own file.

use crate::config::schema::RegistryProvider;
use crate::config::Loaded;
use crate::kube::KubeTarget;
use crate::render::{GeneratedFile, Names};
use crate::runner::Cmd;

use super::{Plan, PlanInputs, RegistryInfo, Step, StepKind, FIELD_MANAGER, PLAN_JSON_VERSION};

pub(super) struct Builder<'a> {
    pub(super) loaded: &'a Loaded,
    pub(super) inputs: &'a PlanInputs,
    pub(super) names: Names,
    pub(super) kube: KubeTarget,
    pub(super) steps: Vec<Step>,
    pub(super) generated: Vec<GeneratedFile>,
}

/// What the stages before the cluster's tell the later ones.
pub(super) struct Ready {
    /// The step after which the cluster answers with a policy CNI running.
    pub(super) step: String,
    /// What an overlay waits for besides images and the overlays it depends on.
    pub(super) overlay_needs: Vec<String>,
}

impl<'a> Builder<'a> {
    pub(super) fn new(loaded: &'a Loaded, inputs: &'a PlanInputs) -> Self {
        Builder {
            loaded,
            inputs,
            names: Names::new(loaded),
            kube: KubeTarget::new(loaded),
            steps: Vec::new(),
            generated: Vec::new(),
        }
    }

    pub(super) fn build(mut self) -> Plan {
        self.preflight();
        let mut cluster_needs = vec!["preflight".to_string()];
        cluster_needs.extend(self.registries());
        let ready_step = if self.kube.is_k3d() {
            self.cluster(cluster_needs);
            self.calico()
        } else {
            self.cluster_check()
        };
        let overlay_needs = self.namespaces(&ready_step);
        let ready = Ready {
            step: ready_step,
            overlay_needs,
        };
        let image_ids = self.images();
        self.units(&ready, &image_ids);
        self.prune(&ready);
        self.verify(&ready, &image_ids);

        let files = self.generated.iter().map(|f| f.path.clone()).collect();
        Plan {
            version: PLAN_JSON_VERSION,
            project: self.names.project.clone(),
            profile: self.loaded.profile.clone(),
            context: self.kube.context.clone(),
            kubeconfig: self.kube.kubeconfig_label().to_string(),
            registry: RegistryInfo {
                push: self.registry_push(),
                pull: self.registry_pull(),
            },
            files,
            steps: self.steps,
            generated: self.generated,
            kube: self.kube,
        }
    }

    /// `kubectl [--kubeconfig K] --context C apply --server-side … -f FILE` as `devenv`.
    pub(super) fn apply(&self, file: &str, purpose: &str) -> Cmd {
        self.apply_as(FIELD_MANAGER, file, purpose)
    }

    pub(super) fn apply_as(&self, manager: &str, file: &str, purpose: &str) -> Cmd {
        self.kube.kubectl(
            &[
                "apply",
                "--server-side",
                &format!("--field-manager={manager}"),
                "--force-conflicts",
                "-f",
                file,
            ],
            purpose,
            300,
        )
    }

    /// Adds a step; its fingerprint hashes its id, the commands it always runs and `extra`
    /// (what else its result depends on).
    pub(super) fn push_step(
        &mut self,
        id: &str,
        title: &str,
        kind: StepKind,
        needs: Vec<String>,
        config_key: Option<&str>,
        extra: &str,
    ) {
        let mut step = Step {
            id: id.to_string(),
            title: title.to_string(),
            kind,
            needs,
            config_key: config_key.map(str::to_string),
            fingerprint: String::new(),
        };
        let mut h = blake3::Hasher::new();
        h.update(id.as_bytes());
        for c in step.observe().into_iter().chain(step.commands()) {
            h.update(c.display().as_bytes());
            h.update(b"\n");
        }
        h.update(extra.as_bytes());
        step.fingerprint = h.finalize().to_hex()[..16].to_string();
        self.steps.push(step);
    }

    /// The ids of the unit apply steps so far (overlays and charts).
    pub(super) fn unit_ids(&self) -> Vec<String> {
        self.steps
            .iter()
            .filter(|s| matches!(s.kind, StepKind::Overlay(_) | StepKind::Chart(_)))
            .map(|s| s.id.clone())
            .collect()
    }

    /// `--load` when buildx builds (see `images::builder`); none otherwise or unknown.
    pub(super) fn builder_flags(&self) -> Vec<String> {
        self.inputs
            .docker_builder
            .as_ref()
            .map(|b| b.build_flags())
            .unwrap_or_default()
    }

    pub(super) fn registry_push(&self) -> String {
        let r = &self.loaded.config.registry;
        match r.provider {
            RegistryProvider::K3d => format!("localhost:{}", r.port),
            RegistryProvider::External => r.address.clone().unwrap_or_default(),
        }
    }

    pub(super) fn registry_pull(&self) -> String {
        let r = &self.loaded.config.registry;
        match r.provider {
            RegistryProvider::K3d => format!("localhost:{}", r.port),
            RegistryProvider::External => r
                .pull_address
                .clone()
                .or_else(|| r.address.clone())
                .unwrap_or_default(),
        }
    }
}
