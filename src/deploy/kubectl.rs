//! The kubectl argv of the deploy path (apply, waits, reads for failure messages, deletes):
//! methods of the one kube target, so the cluster's address (`[--kubeconfig K] --context
//! C`) comes from [`KubeTarget::address`] and nowhere else.

use std::path::Path;
use std::time::Duration;

use super::waits::{WaitKind, WaitTarget};
use crate::kube::KubeTarget;

/// The deploy path's kubectl invocations: every argv is [`KubeTarget::argv`], so it starts
/// with `kubectl [--kubeconfig K] --context C` and the user's current context never matters.
impl KubeTarget {
    /// `apply --server-side --field-manager=devenv --force-conflicts -f FILE`.
    ///
    /// Server-side apply so that devenv owns exactly the fields it sets; forcing conflicts
    /// because devenv is the source of truth for what its overlays declare.
    pub fn apply_argv(&self, file: &Path) -> Vec<String> {
        let file = file.to_string_lossy();
        self.argv(&[
            "apply",
            "--server-side",
            "--field-manager=devenv",
            "--force-conflicts",
            "-f",
            &file,
        ])
    }

    /// `wait --for=condition=Established --timeout=Ns crd/A crd/B`.
    pub fn wait_crds_argv(&self, crd_names: &[String], timeout: Duration) -> Vec<String> {
        let mut argv = self.argv(&[
            "wait",
            "--for=condition=Established",
            &timeout_flag(timeout),
        ]);
        argv.extend(crd_names.iter().map(|n| format!("crd/{n}")));
        argv
    }

    /// `-n NS rollout status KIND/NAME --timeout=Ns` for rollouts,
    /// `-n NS wait --for=condition=Complete --timeout=Ns job/NAME` for Jobs.
    pub fn wait_argv(&self, target: &WaitTarget, timeout: Duration) -> Vec<String> {
        let object = format!("{}/{}", target.kind.resource(), target.name);
        let timeout = timeout_flag(timeout);
        match target.kind {
            WaitKind::Job => self.argv(&[
                "-n",
                &target.namespace,
                "wait",
                "--for=condition=Complete",
                &timeout,
                &object,
            ]),
            _ => self.argv(&[
                "-n",
                &target.namespace,
                "rollout",
                "status",
                &object,
                &timeout,
            ]),
        }
    }

    /// `-n NS wait --for=condition=Failed --timeout=Ns job/NAME`: raced with
    /// [`Self::wait_argv`]'s `Complete`, so a Job that fails is noticed at once instead of
    /// at the timeout (a failed Job never becomes Complete).
    pub fn wait_failed_argv(&self, target: &WaitTarget, timeout: Duration) -> Vec<String> {
        let object = format!("{}/{}", target.kind.resource(), target.name);
        self.argv(&[
            "-n",
            &target.namespace,
            "wait",
            "--for=condition=Failed",
            &timeout_flag(timeout),
            &object,
        ])
    }

    /// `-n NS logs job/NAME --all-containers --tail=N`: the last lines of a failed Job's pod.
    pub fn job_logs_argv(&self, target: &WaitTarget, lines: usize) -> Vec<String> {
        let object = format!("{}/{}", target.kind.resource(), target.name);
        let tail = format!("--tail={lines}");
        self.argv(&[
            "-n",
            &target.namespace,
            "logs",
            &object,
            "--all-containers",
            &tail,
        ])
    }

    /// `delete KIND.GROUP NAME -n NS --cascade=foreground --wait=true --timeout=Ns
    /// --ignore-not-found`: an object to re-create, gone with its dependents (a Job's pods)
    /// before it is applied again.
    pub fn delete_foreground_argv(
        &self,
        resource: &str,
        name: &str,
        namespace: Option<&str>,
        timeout: Duration,
    ) -> Vec<String> {
        let mut args = vec!["delete", resource, name];
        if let Some(ns) = namespace {
            args.extend(["-n", ns]);
        }
        let timeout = timeout_flag(timeout);
        args.extend([
            "--cascade=foreground",
            "--wait=true",
            timeout.as_str(),
            "--ignore-not-found",
        ]);
        self.argv(&args)
    }

    /// `get KIND NAME -n NS -o json`: the object, for [`explain_not_ready`].
    pub fn describe_argv(&self, target: &WaitTarget) -> Vec<String> {
        self.argv(&[
            "get",
            target.kind.resource(),
            &target.name,
            "-n",
            &target.namespace,
            "-o",
            "json",
        ])
    }

    /// `get events -n NS --field-selector involvedObject.name=NAME -o json`.
    pub fn events_argv(&self, target: &WaitTarget) -> Vec<String> {
        let selector = format!("involvedObject.name={}", target.name);
        self.argv(&[
            "get",
            "events",
            "-n",
            &target.namespace,
            "--field-selector",
            &selector,
            "-o",
            "json",
        ])
    }

    /// `get pods -n NS -l SELECTOR -o json`: the pods of a stuck object (see
    /// [`pods_selector`]), for [`explain_pods`].
    pub fn pods_argv(&self, namespace: &str, selector: &str) -> Vec<String> {
        self.argv(&["get", "pods", "-n", namespace, "-l", selector, "-o", "json"])
    }

    /// `delete namespace NS --wait=false --ignore-not-found`.
    pub fn delete_namespace_argv(&self, namespace: &str) -> Vec<String> {
        self.argv(&[
            "delete",
            "namespace",
            namespace,
            "--wait=false",
            "--ignore-not-found",
        ])
    }
}

/// `--timeout=Ns`, whole seconds rounded up (at least 1: `0s` would mean "check once").
pub(crate) fn timeout_flag(timeout: Duration) -> String {
    let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
    format!("--timeout={}s", secs.max(1))
}
