//! Stage 7, verify: a probe that proves NetworkPolicy enforcement and registry pulls.

use std::path::Path;

use crate::overlays::verify::{probe_image_tag, VerifyProbe, DEFAULT_PROBE_PORT, PROBE_IMAGE_NAME};
use crate::runner::Cmd;

use super::builder::{Builder, Ready};
use super::{margin, step, StepKind};

impl Builder<'_> {
    pub(super) fn verify(&mut self, ready: &Ready, image_ids: &[String]) {
        if !self.loaded.config.verify.enabled {
            return;
        }
        let mut needs = vec![ready.step.clone()];
        needs.extend(self.unit_ids());
        if needs.len() == 1 {
            needs.extend(image_ids.iter().cloned());
        }
        let probe = self.probe();
        self.push_step(
            "verify",
            "Verify NetworkPolicy enforcement and registry pulls",
            StepKind::Verify(probe),
            needs,
            Some("verify"),
            "",
        );
    }

    /// The probe's commands. Its namespace is random per run (`devenv-verify-XXXXXXXX`): the
    /// plan shows it as `devenv-verify-RANDOM`.
    fn probe(&self) -> step::Verify {
        let cfg = &self.loaded.config;
        let tag = probe_image_tag();
        let push_ref = format!("{}/{PROBE_IMAGE_NAME}:{tag}", self.registry_push());
        let pull_ref = format!("{}/{PROBE_IMAGE_NAME}:{tag}", self.registry_pull());
        let mut inputs =
            crate::images::BuildInputs::new(".devenv/probe", ".devenv/probe/Dockerfile");
        inputs.builder_flags = self.builder_flags();
        let docker = &cfg.build.docker;
        let probe = VerifyProbe {
            namespace: "devenv-verify-RANDOM".into(),
            ..VerifyProbe::new(pull_ref, DEFAULT_PROBE_PORT)
        };
        let k = &self.kube;
        let t = cfg.verify.timeout.0;
        let secs = margin(cfg.verify.timeout.as_secs());
        let kc = |argv: Vec<String>, purpose: &str, timeout: u64| {
            Cmd::planned(&argv[0], &argv[1..], purpose, timeout)
        };
        step::Verify {
            build: Cmd::planned(
                docker,
                &crate::images::docker_build_argv(&inputs, &push_ref),
                "build the probe image (skipped when the registry has it)",
                300,
            ),
            push: Cmd::planned(
                docker,
                &crate::images::docker_push_argv(&push_ref),
                "push the probe image",
                300,
            ),
            apply_server: kc(
                k.apply_argv(Path::new(".devenv/verify/server.yaml")),
                "start the probe server and its NetworkPolicy",
                120,
            ),
            wait_server: kc(
                probe.server_ready_argv(k, t),
                "wait for the probe server",
                secs,
            ),
            apply_clients: kc(
                k.apply_argv(Path::new(".devenv/verify/clients.yaml")),
                "start the allowed and the denied client",
                120,
            ),
            wait_clients: kc(probe.clients_done_argv(k, t), "wait for the clients", secs),
            results: kc(probe.results_argv(k), "read what each client saw", 30),
            cleanup: kc(probe.cleanup_argv(k), "delete the probe namespace", 60),
            read_nodes: k.kubectl(&["get", "nodes", "-o", "json"], "read the nodes", 30),
            read_server_pods: k.kubectl(
                &[
                    "-n",
                    &probe.namespace,
                    "get",
                    "pods",
                    "-l",
                    "devenv-probe=server",
                    "-o",
                    "json",
                ],
                "read the probe server pod",
                30,
            ),
        }
    }
}
