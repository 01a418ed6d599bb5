//! Helm hooks (`helm.sh/hook`) on the one deploy path: classified and ordered as Helm does,
//! on real `helm template` output (`helm_order.rs`), and run around a unit's objects
//! against the fakes, through an overlay that carries hook objects (`up.rs`): what a chart
//! and a `helmCharts:` inflation render goes the same way.
//!
//! How the fake runs a hook Job: `fakes/src/kube.rs` `job_outcome` follows the Job
//! controller (kubernetes pkg/controller/job/job_controller.go): the pod's program is what
//! `jobs.json` declares (`{"exit": N, "log": "…"}`), exit 0 completes it, a failure past
//! `spec.backoffLimit` makes it Failed with reason `BackoffLimitExceeded`.

mod helm_order;
mod up;
