//! Stage 4, Calico (k3d clusters only: an existing cluster brings its own CNI): the
//! operator's CRDs, the Tigera operator, the Installation, then the waits.

use crate::render::{self, GeneratedFile};

use super::builder::Builder;
use super::{margin, step, StepKind, CALICO_CRDS, CALICO_DIR};

impl Builder<'_> {
    /// Returns the id of the step after which the cluster is ready (`calico-ready`).
    pub(super) fn calico(&mut self) -> String {
        let cfg = &self.loaded.config;
        let timeout = cfg.calico.timeout.as_secs();
        let t = format!("--timeout={timeout}s");
        let calico_fp = self
            .inputs
            .calico_manifests
            .clone()
            .unwrap_or_else(|| cfg.calico.version.clone());
        let mut crd_wait: Vec<String> = vec![
            "wait".into(),
            "--for=condition=Established".into(),
            t.clone(),
        ];
        crd_wait.extend(CALICO_CRDS.iter().map(|c| format!("crd/{c}")));
        let crds = step::CalicoCrds {
            apply: self.apply(
                &format!("{CALICO_DIR}/operator-crds.yaml"),
                "apply the Calico CRDs (server-side: the file is too large for client-side apply)",
            ),
            wait: self.kube.kubectl(
                &crd_wait,
                "wait for the Calico CRDs to be Established",
                margin(timeout),
            ),
        };
        self.push_step(
            "calico-crds",
            &format!("Install Calico {} CRDs", cfg.calico.version),
            StepKind::CalicoCrds(crds),
            vec!["cluster".into()],
            Some("calico.version"),
            &calico_fp,
        );

        let operator = step::CalicoOperator {
            apply: self.apply(
                &format!("{CALICO_DIR}/tigera-operator.yaml"),
                "apply the Tigera operator",
            ),
            rollout: self.kube.kubectl(
                &[
                    "-n",
                    "tigera-operator",
                    "rollout",
                    "status",
                    "deployment/tigera-operator",
                    &t,
                ],
                "wait for the Tigera operator to roll out",
                margin(timeout),
            ),
        };
        self.push_step(
            "calico-operator",
            "Install the Tigera operator",
            StepKind::CalicoOperator(operator),
            vec!["calico-crds".into()],
            Some("calico.version"),
            &calico_fp,
        );

        let installation = render::calico_installation(self.loaded);
        let inst_file = format!("{CALICO_DIR}/installation.yaml");
        self.generated.push(GeneratedFile {
            path: inst_file.clone(),
            content: installation.clone(),
        });
        let apply = self.apply(&inst_file, "apply the Calico Installation");
        self.push_step(
            "calico-installation",
            &format!(
                "Configure Calico (pool {}, {})",
                cfg.cluster.cidr, cfg.calico.encapsulation
            ),
            StepKind::CalicoInstallation(step::CalicoInstallation { apply }),
            vec!["calico-operator".into()],
            Some("calico"),
            &installation,
        );

        let status = ["get", "tigerastatus", "calico", "-o", "json"];
        let nodes = ["get", "nodes", "-o", "json"];
        let explain = "explain what is not ready";
        let ready = step::CalicoReady {
            created: self.kube.kubectl(
                &["wait", "--for=create", &t, "tigerastatus/calico"],
                "wait for the operator to report Calico's status",
                margin(timeout),
            ),
            available: self.kube.kubectl(
                &[
                    "wait",
                    "--for=condition=Available",
                    &t,
                    "tigerastatus/calico",
                ],
                "wait for Calico to be Available",
                margin(timeout),
            ),
            nodes_ready: self.kube.kubectl(
                &["wait", "--for=condition=Ready", &t, "nodes", "--all"],
                "wait for every node to be Ready",
                margin(timeout),
            ),
            read_status: self.kube.kubectl(&status, "read Calico's status", 30),
            read_nodes: self.kube.kubectl(&nodes, "read the nodes", 30),
            explain_status: self.kube.kubectl(&status, explain, 20),
            explain_nodes: self.kube.kubectl(&nodes, explain, 20),
        };
        self.push_step(
            "calico-ready",
            "Wait for Calico and every node to be ready",
            StepKind::CalicoReady(ready),
            vec!["calico-installation".into()],
            Some("calico.timeout"),
            "",
        );
        "calico-ready".into()
    }
}
