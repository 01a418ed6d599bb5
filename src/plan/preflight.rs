//! Stage 1, preflight: read-only checks of the tools, nothing created.

use crate::kube;
use crate::runner::Cmd;

use super::builder::Builder;
use super::{step, StepKind};

impl Builder<'_> {
    pub(super) fn preflight(&mut self) {
        let cfg = &self.loaded.config;
        let k3d = self.kube.is_k3d();
        let docker = Cmd::planned(
            &cfg.build.docker,
            &["version", "--format", "{{.Server.Version}}"],
            "check that the Docker daemon answers",
            30,
        );
        let kubectl = Cmd::planned(
            "kubectl",
            &["version", "--client", "-o", "json"],
            "check the kubectl version",
            30,
        );
        // helm is checked only when it is used (charts, an overlay's `helmCharts:`) or pinned.
        let uses_helm = cfg.tools.helm.is_some() || crate::overlays::uses_helm(self.loaded);
        let helm = uses_helm.then(|| {
            Cmd::planned(
                "helm",
                &["version", "--template", "{{.Version}}"],
                "check the helm version",
                30,
            )
        });
        let port_note = format!(
            "ports api={} registry={}",
            cfg.cluster.api_port, cfg.registry.port
        );
        // One observation serves the registry and cluster steps: every k3d container.
        let nodes = k3d.then(|| {
            kube::k3d(
                &["node", "list", "-o", "json"],
                "list k3d nodes and registries",
                30,
            )
        });
        let kind = StepKind::Preflight(step::Preflight {
            docker,
            k3d: k3d.then(|| kube::k3d(&["version", "-o", "json"], "check the k3d version", 30)),
            kubectl,
            helm,
            nodes,
        });
        self.push_step(
            "preflight",
            "Check prerequisites",
            kind,
            vec![],
            None,
            &port_note,
        );
    }
}
