//! The simulated Kubernetes API of a fake k3d cluster: resource types (built-in + CRDs),
//! stored objects, and the status each object has *now* on the simulated clock.
//!
//! Lifecycle (durations × `DEVENV_FAKE_SLEEP_SCALE`): nodes are NotReady until Calico is
//! available; the Tigera operator (hostNetwork) rolls out in 5 s; an `Installation` named
//! `default` creates `tigerastatus/calico` 2 s after both exist and makes it Available 40 s
//! later, which makes the nodes Ready; CRDs are Established 2 s after they are applied;
//! other workloads need Ready nodes (no CNI, no pod network) and resolvable images, then
//! roll out in 5 s. A Pod is Ready then; a Job gets one pod (`NAME-xxxxx`, listed with the
//! pods) that completes at once, unless it runs the verify probe's `connect`: then the
//! simulated network (`network.rs`) decides its termination message and how long it tries.

use crate::common::{hex_id, now_ms, rfc3339_utc, scaled, uuid_from};
use crate::network::{self, Endpoint};
use crate::state::{Cluster, Obj, State};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

pub const WORKLOAD_MS: u64 = 5_000;
pub const CALICO_MS: u64 = 40_000;
pub const TIGERASTATUS_MS: u64 = 2_000;
pub const CRD_MS: u64 = 2_000;
pub const CALICO_VERSION: &str = "v3.32.1";

#[derive(Clone, Debug, PartialEq)]
pub struct ResType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub short: Vec<String>,
    pub namespaced: bool,
}

impl ResType {
    /// `deployment.apps` / `namespace`: how kubectl names objects in its output.
    pub fn kind_group(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_lowercase()
        } else {
            format!("{}.{}", self.kind.to_lowercase(), self.group)
        }
    }
    /// `deployments.apps` / `nodes`: the group-resource in API errors.
    pub fn plural_group(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

fn rt(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    short: &[&str],
    namespaced: bool,
) -> ResType {
    ResType {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        short: short.iter().map(|s| s.to_string()).collect(),
        namespaced,
    }
}

pub fn builtin_types() -> Vec<ResType> {
    vec![
        rt("", "v1", "Namespace", "namespaces", &["ns"], false),
        rt("", "v1", "Node", "nodes", &["no"], false),
        rt("", "v1", "ConfigMap", "configmaps", &["cm"], true),
        rt("", "v1", "Secret", "secrets", &[], true),
        rt("", "v1", "Service", "services", &["svc"], true),
        rt("", "v1", "ServiceAccount", "serviceaccounts", &["sa"], true),
        rt("", "v1", "Pod", "pods", &["po"], true),
        rt(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            &["pvc"],
            true,
        ),
        rt(
            "",
            "v1",
            "PersistentVolume",
            "persistentvolumes",
            &["pv"],
            false,
        ),
        rt("", "v1", "Endpoints", "endpoints", &["ep"], true),
        rt("", "v1", "LimitRange", "limitranges", &["limits"], true),
        rt(
            "",
            "v1",
            "ResourceQuota",
            "resourcequotas",
            &["quota"],
            true,
        ),
        rt("", "v1", "Event", "events", &["ev"], true),
        rt("apps", "v1", "Deployment", "deployments", &["deploy"], true),
        rt("apps", "v1", "StatefulSet", "statefulsets", &["sts"], true),
        rt("apps", "v1", "DaemonSet", "daemonsets", &["ds"], true),
        rt("apps", "v1", "ReplicaSet", "replicasets", &["rs"], true),
        rt("batch", "v1", "Job", "jobs", &[], true),
        rt("batch", "v1", "CronJob", "cronjobs", &["cj"], true),
        rt(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            &[],
            false,
        ),
        rt(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            &[],
            false,
        ),
        rt(
            "rbac.authorization.k8s.io",
            "v1",
            "Role",
            "roles",
            &[],
            true,
        ),
        rt(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
            &[],
            true,
        ),
        rt(
            "networking.k8s.io",
            "v1",
            "Ingress",
            "ingresses",
            &["ing"],
            true,
        ),
        rt(
            "networking.k8s.io",
            "v1",
            "IngressClass",
            "ingressclasses",
            &[],
            false,
        ),
        rt(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            &["netpol"],
            true,
        ),
        rt(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            &["crd", "crds"],
            false,
        ),
        rt(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            &["pdb"],
            true,
        ),
        rt(
            "storage.k8s.io",
            "v1",
            "StorageClass",
            "storageclasses",
            &["sc"],
            false,
        ),
        rt(
            "scheduling.k8s.io",
            "v1",
            "PriorityClass",
            "priorityclasses",
            &["pc"],
            false,
        ),
        rt("coordination.k8s.io", "v1", "Lease", "leases", &[], true),
        rt(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            &["hpa"],
            true,
        ),
        rt(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
            &[],
            false,
        ),
        rt(
            "admissionregistration.k8s.io",
            "v1",
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfigurations",
            &[],
            false,
        ),
        rt(
            "apiregistration.k8s.io",
            "v1",
            "APIService",
            "apiservices",
            &[],
            false,
        ),
        rt("helm.cattle.io", "v1", "HelmChart", "helmcharts", &[], true),
        rt(
            "helm.cattle.io",
            "v1",
            "HelmChartConfig",
            "helmchartconfigs",
            &[],
            true,
        ),
    ]
}

/// The CRDs the Tigera operator creates itself (`-manage-crds=true`) once it runs.
fn operator_types() -> Vec<ResType> {
    let g = "operator.tigera.io";
    vec![
        rt(g, "v1", "Installation", "installations", &[], false),
        rt(g, "v1", "APIServer", "apiservers", &[], false),
        rt(g, "v1", "TigeraStatus", "tigerastatuses", &[], false),
        rt(g, "v1", "ImageSet", "imagesets", &[], false),
        rt(g, "v1", "Goldmane", "goldmanes", &[], false),
        rt(g, "v1", "Whisker", "whiskers", &[], false),
    ]
}

fn crd_type(body: &Value) -> Option<ResType> {
    let spec = body.get("spec")?;
    let names = spec.get("names")?;
    let version = spec
        .get("versions")
        .and_then(Value::as_array)
        .and_then(|vs| {
            vs.iter()
                .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .or(vs.first())
        })
        .and_then(|v| v.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("v1");
    let kind = names.get("kind")?.as_str()?.to_string();
    Some(ResType {
        group: spec.get("group")?.as_str()?.to_string(),
        version: version.to_string(),
        plural: names.get("plural")?.as_str()?.to_string(),
        singular: names
            .get("singular")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| kind.to_lowercase()),
        short: names
            .get("shortNames")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        kind,
        namespaced: spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
    })
}

fn served_versions(body: &Value) -> Vec<String> {
    body.pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("served").and_then(Value::as_bool) != Some(false))
                .filter_map(|v| v["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The API as seen at `now`.
pub struct View<'a> {
    pub cluster: &'a Cluster,
    pub state: &'a State,
    pub now: u64,
    pushed: Option<Vec<String>>,
    /// `probe.json`: a test's say over the simulated network (see `network.rs`).
    probe: Value,
    /// `jobs.json`: how the program of a Job's pod ends, by `NAMESPACE/NAME` or `NAME`:
    /// `{"exit": N, "runs_ms": MS, "log": "…"}` (a test's way to make a Job fail).
    jobs: Value,
}

pub fn view<'a>(cluster: &'a Cluster, state: &'a State, dir: &Path) -> View<'a> {
    let pushed = std::fs::read(dir.join("pushed.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Vec<String>>(&b).ok());
    let probe = std::fs::read(dir.join("probe.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .unwrap_or(Value::Null);
    let jobs = std::fs::read(dir.join("jobs.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .unwrap_or(Value::Null);
    View {
        cluster,
        state,
        now: now_ms(),
        pushed,
        probe,
        jobs,
    }
}

fn is_kind(o: &Obj, group: &str, kind: &str) -> bool {
    o.group == group && o.kind == kind
}

impl View<'_> {
    fn find(&self, group: &str, kind: &str, ns: Option<&str>, name: &str) -> Option<&Obj> {
        self.cluster
            .objects
            .iter()
            .find(|o| is_kind(o, group, kind) && o.name == name && o.namespace.as_deref() == ns)
    }

    /// When a CRD object is Established (None: not applied).
    ///
    /// The apiextensions-apiserver's establishing controller (kubernetes
    /// staging/src/k8s.io/apiextensions-apiserver/pkg/controller/establish/establishing_controller.go)
    /// sets Established asynchronously, after the names are accepted; until then the new
    /// kind has no REST mapping (`no matches for kind`), so an apply that does not wait for
    /// Established fails. `DEVENV_FAKE_CRD_ESTABLISH_MS` (real milliseconds) says how long,
    /// else 2 s on the simulated clock.
    fn crd_established(&self, o: &Obj) -> u64 {
        let after = std::env::var("DEVENV_FAKE_CRD_ESTABLISH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| scaled(CRD_MS));
        o.created_ms + after
    }

    /// Types the API serves now, with served versions.
    pub fn types(&self) -> Vec<(ResType, Vec<String>)> {
        let mut out: Vec<(ResType, Vec<String>)> = builtin_types()
            .into_iter()
            .map(|t| {
                let v = vec![t.version.clone()];
                (t, v)
            })
            .collect();
        for o in self
            .cluster
            .objects
            .iter()
            .filter(|o| is_kind(o, "apiextensions.k8s.io", "CustomResourceDefinition"))
        {
            if self.now >= self.crd_established(o) {
                if let Some(t) = crd_type(&o.body) {
                    let served = served_versions(&o.body);
                    out.retain(|(x, _)| !(x.group == t.group && x.kind == t.kind));
                    out.push((t, served));
                }
            }
        }
        if self.operator_ready(false).is_some_and(|t| t <= self.now) {
            for t in operator_types() {
                if !out
                    .iter()
                    .any(|(x, _)| x.group == t.group && x.kind == t.kind)
                {
                    let v = vec![t.version.clone()];
                    out.push((t, v));
                }
            }
        }
        out
    }

    /// Resolve what a user typed (`deploy`, `deployments.apps`, `crd`, `tigerastatus`).
    pub fn resolve(&self, typed: &str) -> Option<ResType> {
        let t = typed.to_lowercase();
        let types = self.types();
        let matches = |rt: &ResType, word: &str| {
            word == rt.plural
                || word == rt.singular
                || rt.short.iter().any(|s| s == word)
                || word == rt.kind.to_lowercase()
        };
        for (rt, _) in &types {
            if matches(rt, &t) {
                return Some(rt.clone());
            }
        }
        // TYPE.GROUP or TYPE.VERSION.GROUP
        for (rt, _) in &types {
            if let Some(rest) = t
                .split_once('.')
                .map(|(w, g)| (w.to_string(), g.to_string()))
            {
                let (word, group) = rest;
                let group_ok = group == rt.group || group == format!("{}.{}", rt.version, rt.group);
                if group_ok && matches(rt, &word) {
                    return Some(rt.clone());
                }
            }
        }
        None
    }

    /// Resolve a manifest's apiVersion/kind (the REST mapping).
    pub fn mapping(&self, api_version: &str, kind: &str) -> Option<ResType> {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        self.types()
            .into_iter()
            .find(|(t, served)| {
                t.group == group && t.kind == kind && served.iter().any(|v| v == version)
            })
            .map(|(t, _)| t)
    }

    fn images_resolvable(&self, body: &Value) -> bool {
        let spec = pod_spec(body);
        let images = ["containers", "initContainers"]
            .iter()
            .flat_map(|k| {
                spec.get(*k)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|c| c.get("image").and_then(Value::as_str).map(str::to_string));
        for img in images {
            let Some((host, _)) = img.split_once('/') else {
                continue;
            };
            let local = host.starts_with("localhost:") || host.starts_with("127.0.0.1:");
            let served = network::registry_serving(host, self.cluster, &self.state.registries);
            let k3d_registry = self
                .state
                .registries
                .values()
                .any(|r| host.split(':').next() == Some(r.name.as_str()));
            if !local && !k3d_registry {
                continue; // a public registry: the fake pulls anything from it
            }
            // localhost:PORT (or a registry container's name) is pullable only through a
            // registries.yaml mirror to one of the cluster's registries (network.rs).
            if served.is_none() {
                return false;
            }
            if let Some(pushed) = &self.pushed {
                let with_tag = if img
                    .rsplit('/')
                    .next()
                    .is_some_and(|last| last.contains(':') || last.contains('@'))
                {
                    img.clone()
                } else {
                    format!("{img}:latest")
                };
                if !pushed.iter().any(|p| p == &img || p == &with_tag) {
                    return false;
                }
            }
        }
        true
    }

    /// The node a pod of `spec` runs on, among those its nodeSelector admits (None: it
    /// cannot be scheduled).
    fn pod_node_for(&self, pod: &str, spec: &Value) -> Option<(String, u32)> {
        let nodes = network::schedulable_on(self.cluster, &self.node_names(), spec);
        if nodes.is_empty() {
            return None;
        }
        let i = hex_id(pod, 4)
            .chars()
            .fold(0usize, |a, c| a * 16 + c.to_digit(16).unwrap_or(0) as usize)
            % nodes.len();
        let node = nodes[i].clone();
        let idx = self.node_index(&node);
        Some((node, idx))
    }

    /// Why the program of a pod of `spec` cannot run on its node (runc's message), if so.
    fn exec_error(&self, pod: &str, spec: &Value) -> Option<String> {
        let (node, _) = self.pod_node_for(pod, spec)?;
        network::exec_error(spec, &network::node_arch(self.cluster, &node))
    }

    /// When the Tigera operator Deployment is available (it runs on the host network).
    fn operator_ready(&self, _: bool) -> Option<u64> {
        let o = self.find(
            "apps",
            "Deployment",
            Some("tigera-operator"),
            "tigera-operator",
        )?;
        self.images_resolvable(&o.body)
            .then_some(o.rollout_ms + scaled(WORKLOAD_MS))
    }

    /// When Calico is up: tigerastatus/calico created and available.
    fn calico_times(&self) -> Option<(u64, u64)> {
        let op = self.operator_ready(false)?;
        let inst = self.find("operator.tigera.io", "Installation", None, "default")?;
        let base = op.max(inst.created_ms);
        Some((base + scaled(TIGERASTATUS_MS), base + scaled(CALICO_MS)))
    }

    pub fn nodes_ready_at(&self) -> Option<u64> {
        self.calico_times().map(|(_, ready)| ready)
    }

    fn nodes_ready(&self) -> bool {
        self.nodes_ready_at().is_some_and(|t| t <= self.now)
    }

    /// When a workload object is fully rolled out (None: never, as things stand).
    pub fn workload_ready_at(&self, o: &Obj) -> Option<u64> {
        if !self.images_resolvable(&o.body) {
            return None;
        }
        // No node its nodeSelector admits: Pending for ever.
        self.pod_node_for(&o.name, pod_spec(&o.body))?;
        // A long-running program that cannot be executed never gets Ready (a Job's pod
        // runs and fails instead: `job_run`).
        if o.kind != "Job" && self.exec_error(&o.name, pod_spec(&o.body)).is_some() {
            return None;
        }
        let host_network = pod_spec(&o.body)
            .get("hostNetwork")
            .and_then(Value::as_bool)
            == Some(true);
        let start = if host_network {
            o.rollout_ms
        } else {
            o.rollout_ms.max(self.nodes_ready_at()?)
        };
        Some(start + scaled(WORKLOAD_MS))
    }

    /// How the single pod of a Job ran (None: it has not started, as things stand).
    pub fn job_run(&self, job: &Obj) -> Option<JobRun> {
        let started = self.workload_ready_at(job)?;
        if self.exec_error(&job.name, pod_spec(&job.body)).is_some() {
            return Some(JobRun {
                started,
                finished: started,
                exit: network::EXEC_FAILED_EXIT,
                message: None,
            });
        }
        if let Some(program) = self.job_program(job) {
            let exit = program["exit"].as_i64().unwrap_or(0) as i32;
            // Real milliseconds: a test says how long its program runs.
            let runs = program["runs_ms"].as_u64().unwrap_or(0);
            return Some(JobRun {
                started,
                finished: started + runs,
                exit,
                message: None,
            });
        }
        let Some(args) = network::connect_args(pod_spec(&job.body)) else {
            // Any other program: done as soon as it started.
            return Some(JobRun {
                started,
                finished: started,
                exit: 0,
                message: None,
            });
        };
        let usage = JobRun {
            started,
            finished: started,
            exit: 2,
            message: None,
        };
        let attempts: u64 = match args.attempts.parse() {
            Ok(n) if n > 0 => n,
            _ => return Some(usage),
        };
        let reach = match self.probe["results"][&job.name].as_str() {
            Some("connected") => Reach::Connected,
            Some(_) => Reach::Dropped,
            None => match self.reach(job, &args, started) {
                Some(r) => r,
                None => return Some(usage),
            },
        };
        // The probe: 2 s per attempt when packets are dropped, 1 s between attempts.
        let (took, message) = match reach {
            Reach::Connected => (0, "connected\n"),
            Reach::Refused => ((attempts - 1) * 1_000, "no-connection\n"),
            Reach::Dropped => (attempts * 3_000 - 1_000, "no-connection\n"),
        };
        Some(JobRun {
            started,
            finished: started + scaled(took),
            exit: 0,
            message: Some(message.into()),
        })
    }

    /// How a bare Pod's program ran, when a test declared it (`jobs.json`, by
    /// `NAMESPACE/NAME` or `NAME`, as for a Job) and the kubelet does not restart it: with
    /// `restartPolicy: Never`, or `OnFailure` once it exited 0, the Pod ends Succeeded or
    /// Failed (kubernetes pkg/kubelet/kubelet_pods.go `getPhase`). Any other Pod runs for
    /// ever, as before (a Helm `test` or hook Pod is such a declared one).
    pub fn pod_run(&self, pod: &Obj) -> Option<JobRun> {
        let program = self.job_program(pod)?;
        let started = self.workload_ready_at(pod)?;
        let exit = program["exit"].as_i64().unwrap_or(0) as i32;
        let policy = pod_spec(&pod.body)
            .get("restartPolicy")
            .and_then(Value::as_str)
            .unwrap_or("Always");
        if !(policy == "Never" || (policy == "OnFailure" && exit == 0)) {
            return None;
        }
        Some(JobRun {
            started,
            finished: started + program["runs_ms"].as_u64().unwrap_or(0),
            exit,
            message: None,
        })
    }

    /// The test-declared program of a Job's pod (`jobs.json`), if any.
    pub fn job_program(&self, job: &Obj) -> Option<&Value> {
        let ns = job.namespace.as_deref().unwrap_or("default");
        let key = format!("{ns}/{}", job.name);
        self.jobs
            .get(&key)
            .or_else(|| self.jobs.get(&job.name))
            .filter(|v| v.is_object())
    }

    /// How a Job ends as the Job controller decides it (kubernetes
    /// pkg/controller/job/job_controller.go): a pod that exits 0 completes it; a failing
    /// pod is replaced, after a back-off of 10 s doubling each time, until
    /// `spec.backoffLimit` (default 6) failures are exceeded: then the Job is Failed with
    /// reason `BackoffLimitExceeded`; a Job still active `spec.activeDeadlineSeconds` after
    /// it started is Failed with reason `DeadlineExceeded`. Returns (when, pods that
    /// failed, failure reason and message; None for a completion), or None while it runs.
    pub fn job_outcome(&self, job: &Obj) -> Option<JobOutcome> {
        let deadline = job
            .body
            .pointer("/spec/activeDeadlineSeconds")
            .and_then(Value::as_u64)
            .map(|s| job.rollout_ms + s * 1000);
        const DEADLINE: (&str, &str) = (
            "DeadlineExceeded",
            "Job was active longer than specified deadline",
        );
        let Some(run) = self.job_run(job) else {
            return deadline
                .filter(|d| *d <= self.now)
                .map(|d| (d, 0, Some(DEADLINE)));
        };
        let outcome = if run.exit == 0 {
            (run.finished, 0, None)
        } else {
            let limit = job
                .body
                .pointer("/spec/backoffLimit")
                .and_then(Value::as_u64)
                .unwrap_or(6);
            let took = run.finished - run.started;
            let mut at = run.finished;
            for i in 0..limit {
                at += scaled((10_000u64 << i.min(6)).min(360_000)) + took;
            }
            (
                at,
                limit + 1,
                Some((
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                )),
            )
        };
        match deadline {
            Some(d) if d < outcome.0 => (d <= self.now).then_some((d, 1, Some(DEADLINE))),
            _ => (outcome.0 <= self.now).then_some(outcome),
        }
    }

    /// Whether the probe client of `job` reaches its server at `at`; None when its
    /// arguments are not a probe's (an unexpanded `$(VAR)`, a bad port: it exits 2).
    fn reach(&self, job: &Obj, args: &network::ConnectArgs, at: u64) -> Option<Reach> {
        let ns = job.namespace.as_deref().unwrap_or("default");
        let port: u16 = args.port.parse().ok()?;
        let services = || {
            self.cluster
                .objects
                .iter()
                .filter(|o| is_kind(o, "", "Service"))
        };
        let service = match network::service_of_env_ref(&args.host) {
            // The kubelet sets NAME_SERVICE_HOST for the Services that exist when the pod
            // is created; otherwise `$(VAR)` stays as it is, which is no IPv4 address.
            Some(name) => {
                let links = pod_spec(&job.body)
                    .get("enableServiceLinks")
                    .and_then(Value::as_bool)
                    != Some(false);
                let found = services().find(|s| {
                    s.name == name
                        && s.namespace.as_deref() == Some(ns)
                        && s.created_ms <= job.rollout_ms
                });
                Some(found.filter(|_| links)?)
            }
            None => {
                args.host.parse::<std::net::Ipv4Addr>().ok()?;
                match services().find(|s| {
                    s.body.pointer("/spec/clusterIP").and_then(Value::as_str)
                        == Some(args.host.as_str())
                }) {
                    Some(s) => Some(s),
                    None => return Some(Reach::Dropped), // no such address
                }
            }
        }?;
        let svc_ns = service.namespace.as_deref().unwrap_or("default");
        let Some(svc_port) = service
            .body
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|p| {
                p["port"].as_u64() == Some(port as u64)
                    && p["protocol"].as_str().unwrap_or("TCP") == "TCP"
            })
        else {
            return Some(Reach::Dropped); // kube-proxy forwards only the Service's ports
        };
        let target = svc_port.get("targetPort").cloned().unwrap_or(json!(port));
        // No selector, or no Ready pod listening: kube-proxy rejects (refused at once).
        let Some(selector) = service
            .body
            .pointer("/spec/selector")
            .filter(|s| s.as_object().is_some_and(|m| !m.is_empty()))
        else {
            return Some(Reach::Refused);
        };
        let backends: Vec<(&Obj, u16, Option<String>)> = self
            .cluster
            .objects
            .iter()
            .filter(|o| is_kind(o, "", "Pod") && o.namespace.as_deref() == Some(svc_ns))
            .filter(|o| {
                let labels = o.body.pointer("/metadata/labels").unwrap_or(&Value::Null);
                network::selects(&json!({ "matchLabels": selector }), labels)
            })
            .filter(|o| self.workload_ready_at(o).is_some_and(|r| r <= at))
            .filter_map(|o| {
                let spec = pod_spec(&o.body);
                let (p, name) = network::target_port(spec, &target)?;
                network::listens_on(spec, p).then_some((o, p, name))
            })
            .collect();
        if backends.is_empty() {
            return Some(Reach::Refused);
        }
        let enforced = match self.probe["enforce"].as_bool() {
            Some(e) => e,
            None => self.calico_times().is_some_and(|(_, ready)| ready <= at),
        };
        if !enforced {
            return Some(Reach::Connected); // flannel alone ignores NetworkPolicy
        }
        let policies: Vec<(&str, &Value)> = self
            .cluster
            .objects
            .iter()
            .filter(|o| is_kind(o, "networking.k8s.io", "NetworkPolicy"))
            .map(|o| {
                (
                    o.namespace.as_deref().unwrap_or("default"),
                    o.body.get("spec").unwrap_or(&Value::Null),
                )
            })
            .collect();
        let ns_labels = |name: &str| self.namespace_labels(name);
        let client_labels = self.job_pod_labels(job);
        let client = Endpoint {
            namespace: ns,
            labels: &client_labels,
        };
        let admitted = backends.iter().any(|(o, p, name)| {
            let labels = o.body.pointer("/metadata/labels").unwrap_or(&Value::Null);
            let server = Endpoint {
                namespace: svc_ns,
                labels,
            };
            network::policies_allow(&policies, &client, &server, *p, name.as_deref(), &ns_labels)
        });
        // Calico drops what no policy admits: the client times out.
        Some(if admitted {
            Reach::Connected
        } else {
            Reach::Dropped
        })
    }

    /// A namespace's labels, with the one the API server sets on every namespace.
    fn namespace_labels(&self, name: &str) -> Value {
        let mut labels = self
            .find("", "Namespace", None, name)
            .and_then(|o| o.body.pointer("/metadata/labels").cloned())
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        labels["kubernetes.io/metadata.name"] = json!(name);
        labels
    }

    /// The labels the Job controller gives its pod: the template's and the job's own.
    fn job_pod_labels(&self, job: &Obj) -> Value {
        let mut labels = job
            .body
            .pointer("/spec/template/metadata/labels")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        for k in ["batch.kubernetes.io/controller-uid", "controller-uid"] {
            labels[k] = json!(job.uid);
        }
        for k in ["batch.kubernetes.io/job-name", "job-name"] {
            labels[k] = json!(job.name);
        }
        labels
    }

    /// The events the Job controller records about a Job (kubernetes
    /// pkg/controller/job/job_controller.go): `SuccessfulCreate` "Created pod: NAME" when
    /// its pod is created, then `Completed` "Job completed", or a Warning with the failure's
    /// reason and message (BackoffLimitExceeded, DeadlineExceeded).
    fn job_events(&self, job: &Obj) -> Vec<Value> {
        let ns = job.namespace.clone().unwrap_or_else(|| "default".into());
        let event = |at: u64, kind: &str, reason: &str, message: String, n: u32| {
            let name = format!("{}.{:x}{n}", job.name, job.rollout_ms);
            json!({"apiVersion":"v1","kind":"Event","count":1,"type":kind,"reason":reason,"message":message,
                "firstTimestamp":rfc3339_utc(at),"lastTimestamp":rfc3339_utc(at),
                "involvedObject":{"apiVersion":"batch/v1","kind":"Job","name":job.name,"namespace":ns,"uid":job.uid},
                "metadata":{"name":name,"namespace":ns,"creationTimestamp":rfc3339_utc(at)},
                "source":{"component":"job-controller"}})
        };
        let mut out = Vec::new();
        // The controller creates the pod at once (scheduled or not).
        let pod = self.job_pod(job);
        let pod_name = pod["metadata"]["name"].as_str().unwrap_or("").to_string();
        out.push(event(
            job.rollout_ms,
            "Normal",
            "SuccessfulCreate",
            format!("Created pod: {pod_name}"),
            0,
        ));
        match self.job_outcome(job) {
            Some((at, _, None)) => {
                out.push(event(at, "Normal", "Completed", "Job completed".into(), 1))
            }
            Some((at, _, Some((reason, message)))) => {
                out.push(event(at, "Warning", reason, message.into(), 1))
            }
            None => {}
        }
        out
    }

    /// The pod of a Job (`NAME-xxxxx`), as the API server shows it.
    fn job_pod(&self, job: &Obj) -> Value {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let suffix: String = hex_id(&format!("{} {}", job.uid, job.rollout_ms), 10)
            .as_bytes()
            .chunks(2)
            .map(|c| {
                let n = u8::from_str_radix(std::str::from_utf8(c).unwrap_or("0"), 16).unwrap_or(0);
                ALPHABET[n as usize % ALPHABET.len()] as char
            })
            .collect();
        let name = format!("{}-{suffix}", job.name);
        let ns = job.namespace.clone().unwrap_or_else(|| "default".into());
        let mut md = job
            .body
            .pointer("/spec/template/metadata")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        md["labels"] = self.job_pod_labels(job);
        md["name"] = json!(name);
        md["generateName"] = json!(format!("{}-", job.name));
        md["namespace"] = json!(ns);
        md["uid"] = json!(uuid_from(&format!("pod {name} {}", job.uid)));
        md["resourceVersion"] = json!(job.rv.to_string());
        md["creationTimestamp"] = json!(rfc3339_utc(job.rollout_ms));
        md["ownerReferences"] = json!([{"apiVersion":"batch/v1","blockOwnerDeletion":true,"controller":true,"kind":"Job","name":job.name,"uid":job.uid}]);
        let spec = job
            .body
            .pointer("/spec/template/spec")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let run = self.job_run(job);
        json!({"apiVersion":"v1","kind":"Pod","metadata":md,
            "spec": self.pod_spec_defaults(spec, &name),
            "status": self.pod_status(pod_spec(&job.body), &name, job.rollout_ms, self.workload_ready_at(job), run.as_ref())})
    }

    /// What the API server fills in a pod's spec (only what the manifest left out).
    fn pod_spec_defaults(&self, mut spec: Value, pod: &str) -> Value {
        if !spec.is_object() {
            spec = json!({});
        }
        let defaults = json!({"dnsPolicy":"ClusterFirst","enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority",
            "priority":0,"restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},"serviceAccount":"default",
            "serviceAccountName":"default","terminationGracePeriodSeconds":30,
            "tolerations":[{"effect":"NoExecute","key":"node.kubernetes.io/not-ready","operator":"Exists","tolerationSeconds":300},
                {"effect":"NoExecute","key":"node.kubernetes.io/unreachable","operator":"Exists","tolerationSeconds":300}]});
        for (k, v) in defaults.as_object().unwrap() {
            if spec.get(k).is_none() {
                spec[k] = v.clone();
            }
        }
        if self.nodes_ready() {
            if let Some((node, _)) = self.pod_node_for(pod, &spec) {
                spec["nodeName"] = json!(node);
            }
        }
        if let Some(cs) = spec.get_mut("containers").and_then(Value::as_array_mut) {
            for c in cs {
                for (k, v) in [
                    ("imagePullPolicy", "IfNotPresent"),
                    ("terminationMessagePath", "/dev/termination-log"),
                    ("terminationMessagePolicy", "File"),
                ] {
                    if c.get(k).is_none() {
                        c[k] = json!(v);
                    }
                }
            }
        }
        spec
    }

    /// A pod's status: Pending (unschedulable while the nodes are NotReady, pulling, or
    /// creating its containers), Running (Ready), then for a Job's pod Succeeded or Failed
    /// with each container's terminated state and termination message.
    fn pod_status(
        &self,
        spec: &Value,
        pod: &str,
        created: u64,
        ready_at: Option<u64>,
        run: Option<&JobRun>,
    ) -> Value {
        let ts = |ms: u64| json!(rfc3339_utc(ms));
        let now = self.now;
        let cond = |t: &str, ok: bool, at: u64| json!({"lastProbeTime":null,"lastTransitionTime":ts(at),"status":if ok {"True"} else {"False"},"type":t});
        let host_network = spec.get("hostNetwork").and_then(Value::as_bool) == Some(true);
        let containers: Vec<Value> = spec
            .get("containers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !host_network && !self.nodes_ready() {
            let n = self.node_names().len();
            return json!({"conditions":[{"lastProbeTime":null,"lastTransitionTime":ts(created),
                "message":format!("0/{n} nodes are available: {n} node(s) had untolerated taint {{node.kubernetes.io/not-ready: }}. preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling."),
                "reason":"Unschedulable","status":"False","type":"PodScheduled"}],"phase":"Pending","qosClass":"Burstable"});
        }
        let Some((_, idx)) = self.pod_node_for(pod, spec) else {
            let n = self.node_names().len();
            return json!({"conditions":[{"lastProbeTime":null,"lastTransitionTime":ts(created),
                "message":network::unschedulable_message(n),
                "reason":"Unschedulable","status":"False","type":"PodScheduled"}],"phase":"Pending","qosClass":"Burstable"});
        };
        let scheduled = created.max(self.nodes_ready_at().unwrap_or(created));
        let host_ip = format!("172.{}.0.{}", 18 + self.cluster.net % 200, 3 + idx);
        let pod_ip = if host_network {
            host_ip.clone()
        } else {
            format!(
                "10.42.{idx}.{}",
                2 + u8::from_str_radix(&hex_id(pod, 2), 16).unwrap_or(0) % 250
            )
        };
        let container_id = |c: &Value| {
            format!(
                "containerd://{}",
                hex_id(&format!("{pod} {}", c["name"].as_str().unwrap_or("")), 64)
            )
        };
        let status_of = |c: &Value, state: Value, ready: bool, started: bool| {
            let image = c["image"].as_str().unwrap_or("");
            let mut s = json!({"image":image,"imageID":"","lastState":{},"name":c["name"],"ready":ready,"restartCount":0,"started":started,"state":state});
            if started || state.get("terminated").is_some() {
                s["containerID"] = json!(container_id(c));
                s["imageID"] = json!(format!(
                    "{}@sha256:{}",
                    image.split(':').next().unwrap_or(image),
                    hex_id(image, 64)
                ));
            }
            s
        };
        let mut st = json!({"hostIP":host_ip,"hostIPs":[{"ip":host_ip}],"qosClass":"Burstable","startTime":ts(scheduled)});
        if run.is_none()
            && self.images_resolvable(&json!({"kind":"Pod","spec":spec}))
            && self.exec_error(pod, spec).is_some()
        {
            // `kubectl logs` would show runc's `exec PATH: exec format error`.
            // The kubelet restarts it with a back-off (kubernetes pkg/kubelet/kuberuntime
            // kuberuntime_manager.go doBackOff: "back-off %s restarting failed
            // container=%s pod=%s", the pod as format.Pod: NAME_NAMESPACE(UID)).
            let obj = self
                .cluster
                .objects
                .iter()
                .find(|o| o.kind == "Pod" && o.name == pod);
            let ns = obj
                .and_then(|o| o.namespace.clone())
                .unwrap_or_else(|| "default".into());
            let uid = obj.map(|o| o.uid.clone()).unwrap_or_else(|| uuid_from(pod));
            let started_at = scheduled + scaled(WORKLOAD_MS);
            st["phase"] = json!("Running");
            st["podIP"] = json!(pod_ip);
            st["podIPs"] = json!([{ "ip": pod_ip }]);
            st["conditions"] = json!([
                cond("PodReadyToStartContainers", true, started_at),
                cond("Initialized", true, scheduled),
                cond("Ready", false, scheduled),
                cond("ContainersReady", false, scheduled),
                cond("PodScheduled", true, scheduled)
            ]);
            st["containerStatuses"] = json!(containers.iter().map(|c| {
                    let name = c["name"].as_str().unwrap_or("");
                    let last = json!({"terminated":{"containerID":container_id(c),"exitCode":network::EXEC_FAILED_EXIT,
                        "finishedAt":ts(started_at),"reason":"Error","startedAt":ts(started_at)}});
                    let mut s = status_of(c, json!({"waiting":{"message":format!("back-off 5m0s restarting failed container={name} pod={pod}_{ns}({uid})"),"reason":"CrashLoopBackOff"}}), false, false);
                    s["lastState"] = last;
                    s["restartCount"] = json!(5);
                    s["containerID"] = json!(container_id(c));
                    s
                }).collect::<Vec<_>>());
            return st;
        }
        let started = match ready_at {
            Some(at) if at <= now => at,
            _ => {
                // Not started: the image cannot be pulled, or it is being pulled.
                let waiting = if ready_at.is_none() {
                    |c: &Value| json!({"waiting":{"message":format!("Back-off pulling image \"{}\"", c["image"].as_str().unwrap_or("")),"reason":"ImagePullBackOff"}})
                } else {
                    |_: &Value| json!({"waiting":{"reason":"ContainerCreating"}})
                };
                st["phase"] = json!("Pending");
                st["conditions"] = json!([
                    cond("PodReadyToStartContainers", ready_at.is_none(), scheduled),
                    cond("Initialized", true, scheduled),
                    cond("Ready", false, scheduled),
                    cond("ContainersReady", false, scheduled),
                    cond("PodScheduled", true, scheduled)
                ]);
                for k in ["Ready", "ContainersReady"] {
                    for c in st["conditions"].as_array_mut().unwrap() {
                        if c["type"] == k {
                            c["reason"] = json!("ContainersNotReady");
                            c["message"] = json!(format!(
                                "containers with unready status: [{}]",
                                containers
                                    .iter()
                                    .filter_map(|c| c["name"].as_str())
                                    .collect::<Vec<_>>()
                                    .join(" ")
                            ));
                        }
                    }
                }
                st["containerStatuses"] = json!(containers
                    .iter()
                    .map(|c| status_of(c, waiting(c), false, false))
                    .collect::<Vec<_>>());
                return st;
            }
        };
        st["podIP"] = json!(pod_ip);
        st["podIPs"] = json!([{ "ip": pod_ip }]);
        match run.filter(|r| r.finished <= now) {
            Some(r) => {
                let ok = r.exit == 0;
                st["phase"] = json!(if ok { "Succeeded" } else { "Failed" });
                let why = if ok { "PodCompleted" } else { "PodFailed" };
                let mut ready = cond("Ready", false, r.finished);
                ready["reason"] = json!(why);
                let mut cready = cond("ContainersReady", false, r.finished);
                cready["reason"] = json!(why);
                st["conditions"] = json!([
                    cond("PodReadyToStartContainers", false, r.finished),
                    cond("Initialized", true, scheduled),
                    ready,
                    cready,
                    cond("PodScheduled", true, scheduled)
                ]);
                st["containerStatuses"] = json!(containers.iter().map(|c| {
                    let mut t = json!({"containerID":container_id(c),"exitCode":r.exit,"finishedAt":ts(r.finished),
                        "reason":if ok {"Completed"} else {"Error"},"startedAt":ts(r.started)});
                    if let Some(m) = &r.message {
                        t["message"] = json!(m);
                    }
                    status_of(c, json!({"terminated": t}), false, false)
                }).collect::<Vec<_>>());
            }
            None => {
                st["phase"] = json!("Running");
                st["conditions"] = json!([
                    cond("PodReadyToStartContainers", true, started),
                    cond("Initialized", true, scheduled),
                    cond("Ready", true, started),
                    cond("ContainersReady", true, started),
                    cond("PodScheduled", true, scheduled)
                ]);
                st["containerStatuses"] = json!(containers
                    .iter()
                    .map(|c| status_of(c, json!({"running":{"startedAt":ts(started)}}), true, true))
                    .collect::<Vec<_>>());
            }
        }
        st
    }

    fn node_names(&self) -> Vec<String> {
        let mut v = self.cluster.agent_names();
        v.extend(self.cluster.server_names());
        v.sort();
        v
    }

    /// Every object of a type, rendered with metadata and status, sorted as the API lists them.
    pub fn list(&self, t: &ResType, ns: Option<&str>) -> Vec<Value> {
        let mut out: Vec<(String, String, Value)> = Vec::new();
        if t.group.is_empty() && t.kind == "Node" {
            for n in self.node_names() {
                out.push((String::new(), n.clone(), self.node(&n)));
            }
        }
        if t.group == "operator.tigera.io" && t.kind == "TigeraStatus" {
            if let Some((created, ready)) = self.calico_times() {
                if created <= self.now {
                    out.push((
                        String::new(),
                        "calico".into(),
                        self.tigerastatus("calico", created, ready),
                    ));
                    if self
                        .find("operator.tigera.io", "APIServer", None, "default")
                        .is_some()
                    {
                        out.push((
                            String::new(),
                            "apiserver".into(),
                            self.tigerastatus("apiserver", created, ready),
                        ));
                    }
                    out.push((
                        String::new(),
                        "ippools".into(),
                        self.tigerastatus("ippools", created, created),
                    ));
                }
            }
        }
        if t.group.is_empty() && t.kind == "Event" {
            for job in self.cluster.objects.iter().filter(|o| {
                is_kind(o, "batch", "Job") && (ns.is_none() || o.namespace.as_deref() == ns)
            }) {
                for (i, e) in self.job_events(job).into_iter().enumerate() {
                    let name = format!("{}.{:x}{i}", job.name, job.rollout_ms);
                    out.push((job.namespace.clone().unwrap_or_default(), name, e));
                }
            }
        }
        if t.group.is_empty() && t.kind == "Pod" {
            // The Job controller's pods (one per Job: no retries are simulated).
            for job in self.cluster.objects.iter().filter(|o| {
                is_kind(o, "batch", "Job") && (ns.is_none() || o.namespace.as_deref() == ns)
            }) {
                let pod = self.job_pod(job);
                let name = pod["metadata"]["name"].as_str().unwrap_or("").to_string();
                out.push((job.namespace.clone().unwrap_or_default(), name, pod));
            }
        }
        for o in &self.cluster.objects {
            if o.group == t.group
                && o.kind == t.kind
                && (ns.is_none() || o.namespace.as_deref() == ns)
            {
                out.push((
                    o.namespace.clone().unwrap_or_default(),
                    o.name.clone(),
                    self.render(o, t),
                ));
            }
        }
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out.into_iter().map(|(_, _, v)| v).collect()
    }

    pub fn get(&self, t: &ResType, ns: Option<&str>, name: &str) -> Option<Value> {
        let ns = if t.namespaced { ns } else { None };
        self.list(t, ns)
            .into_iter()
            .find(|v| v.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
    }

    fn metadata(&self, o: &Obj) -> Value {
        let mut md = o.body.get("metadata").cloned().unwrap_or_else(|| json!({}));
        let m = md.as_object_mut().unwrap();
        m.insert("name".into(), json!(o.name));
        if let Some(ns) = &o.namespace {
            m.insert("namespace".into(), json!(ns));
        } else {
            m.remove("namespace");
        }
        m.insert("uid".into(), json!(o.uid));
        m.insert("resourceVersion".into(), json!(o.rv.to_string()));
        m.insert("generation".into(), json!(o.generation));
        m.insert("creationTimestamp".into(), json!(rfc3339_utc(o.created_ms)));
        md
    }

    pub fn render(&self, o: &Obj, t: &ResType) -> Value {
        let mut v = o.body.clone();
        if !v.is_object() {
            v = json!({});
        }
        v["apiVersion"] = json!(t.api_version());
        v["kind"] = json!(t.kind);
        v["metadata"] = self.metadata(o);
        let replicas = o
            .body
            .pointer("/spec/replicas")
            .and_then(Value::as_u64)
            .unwrap_or(1);
        let ready_at = self.workload_ready_at(o);
        let ready = ready_at.is_some_and(|r| r <= self.now);
        let ts = |ms: u64| json!(rfc3339_utc(ms));
        let rs_name = format!(
            "{}-{}",
            o.name,
            &hex_id(&format!("{}{}", o.name, o.rollout_ms), 10)
        );
        let status = match (o.group.as_str(), o.kind.as_str()) {
            ("apps", "Deployment") => {
                let (avail, progressing) = if ready || replicas == 0 {
                    (
                        json!({"type":"Available","status":"True","reason":"MinimumReplicasAvailable","message":"Deployment has minimum availability.","lastTransitionTime":ts(ready_at.unwrap_or(o.rollout_ms)),"lastUpdateTime":ts(ready_at.unwrap_or(o.rollout_ms))}),
                        json!({"type":"Progressing","status":"True","reason":"NewReplicaSetAvailable","message":format!("ReplicaSet \"{rs_name}\" has successfully progressed."),"lastTransitionTime":ts(o.rollout_ms),"lastUpdateTime":ts(ready_at.unwrap_or(o.rollout_ms))}),
                    )
                } else {
                    (
                        json!({"type":"Available","status":"False","reason":"MinimumReplicasUnavailable","message":"Deployment does not have minimum availability.","lastTransitionTime":ts(o.rollout_ms),"lastUpdateTime":ts(o.rollout_ms)}),
                        json!({"type":"Progressing","status":"True","reason":"ReplicaSetUpdated","message":format!("ReplicaSet \"{rs_name}\" is progressing."),"lastTransitionTime":ts(o.rollout_ms),"lastUpdateTime":ts(o.rollout_ms)}),
                    )
                };
                let mut s = json!({"observedGeneration": o.generation, "replicas": replicas, "updatedReplicas": replicas, "conditions": [avail, progressing]});
                if ready || replicas == 0 {
                    if replicas > 0 {
                        s["readyReplicas"] = json!(replicas);
                        s["availableReplicas"] = json!(replicas);
                    }
                } else {
                    s["unavailableReplicas"] = json!(replicas);
                }
                s
            }
            ("apps", "StatefulSet") => {
                let rev = format!(
                    "{}-{}",
                    o.name,
                    &hex_id(&format!("{}{}", o.name, o.rollout_ms), 10)
                );
                let mut s = json!({"observedGeneration": o.generation, "replicas": replicas, "currentRevision": rev, "updateRevision": rev, "collisionCount": 0});
                if ready {
                    for k in [
                        "readyReplicas",
                        "currentReplicas",
                        "updatedReplicas",
                        "availableReplicas",
                    ] {
                        s[k] = json!(replicas);
                    }
                } else {
                    s["availableReplicas"] = json!(0);
                }
                s
            }
            ("apps", "DaemonSet") => {
                let n = self.node_names().len() as u64;
                let r = if ready { n } else { 0 };
                let mut s = json!({"observedGeneration": o.generation, "desiredNumberScheduled": n, "currentNumberScheduled": n, "updatedNumberScheduled": n, "numberMisscheduled": 0, "numberReady": r});
                if ready {
                    s["numberAvailable"] = json!(n);
                } else {
                    s["numberUnavailable"] = json!(n);
                }
                s
            }
            ("batch", "Job") => match self.job_outcome(o) {
                Some((done, _, None)) => {
                    json!({"startTime": ts(o.rollout_ms), "completionTime": ts(done), "succeeded": 1, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {},
                        "conditions": [
                            {"type":"SuccessCriteriaMet","status":"True","reason":"CompletionsReached","message":"Reached expected number of succeeded pods","lastProbeTime":ts(done),"lastTransitionTime":ts(done)},
                            {"type":"Complete","status":"True","reason":"CompletionsReached","message":"Reached expected number of succeeded pods","lastProbeTime":ts(done),"lastTransitionTime":ts(done)}]})
                }
                Some((done, failed, Some((reason, message)))) => {
                    json!({"startTime": ts(o.rollout_ms), "failed": failed, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {},
                        "conditions": [
                            {"type":"FailureTarget","status":"True","reason":reason,"message":message,"lastProbeTime":ts(done),"lastTransitionTime":ts(done)},
                            {"type":"Failed","status":"True","reason":reason,"message":message,"lastProbeTime":ts(done),"lastTransitionTime":ts(done)}]})
                }
                None => {
                    let running = ready_at.is_some_and(|r| r <= self.now);
                    let failed = self
                        .job_run(o)
                        .filter(|r| r.exit != 0 && r.finished <= self.now)
                        .map_or(0, |_| 1);
                    json!({"startTime": ts(o.rollout_ms), "active": 1, "failed": failed, "ready": if running { 1 } else { 0 }, "terminating": 0, "uncountedTerminatedPods": {}})
                }
            },
            ("", "Pod") => {
                v["spec"] = self.pod_spec_defaults(v["spec"].clone(), &o.name);
                let run = self.pod_run(o);
                self.pod_status(
                    pod_spec(&o.body),
                    &o.name,
                    o.created_ms,
                    ready_at,
                    run.as_ref(),
                )
            }
            ("apiextensions.k8s.io", "CustomResourceDefinition") => {
                let est = self.crd_established(o);
                let names = o.body.pointer("/spec/names").cloned().unwrap_or(json!({}));
                if self.now >= est {
                    json!({"acceptedNames": names, "storedVersions": served_versions(&o.body), "conditions": [
                        {"type":"NamesAccepted","status":"True","reason":"NoConflicts","message":"no conflicts found","lastTransitionTime":ts(o.created_ms)},
                        {"type":"Established","status":"True","reason":"InitialNamesAccepted","message":"the initial names have been accepted","lastTransitionTime":ts(est)}]})
                } else {
                    json!({"acceptedNames": names, "storedVersions": served_versions(&o.body), "conditions": [
                        {"type":"NamesAccepted","status":"True","reason":"NoConflicts","message":"no conflicts found","lastTransitionTime":ts(o.created_ms)},
                        {"type":"Established","status":"False","reason":"Installing","message":"the initial names have been accepted","lastTransitionTime":ts(o.created_ms)}]})
                }
            }
            ("", "Namespace") => match o.deleted_ms {
                // kubernetes pkg/controller/namespace/deletion: phase Terminating and the
                // conditions of the content still being deleted.
                Some(d) => {
                    v["metadata"]["deletionTimestamp"] = json!(rfc3339_utc(d));
                    v["spec"] = json!({"finalizers": ["kubernetes"]});
                    json!({"phase": "Terminating", "conditions": [
                        {"type":"NamespaceDeletionDiscoveryFailure","status":"False","reason":"ResourcesDiscovered","message":"All resources successfully discovered","lastTransitionTime":ts(d)},
                        {"type":"NamespaceDeletionContentFailure","status":"False","reason":"ContentDeleted","message":"All content successfully deleted, may be waiting on finalization","lastTransitionTime":ts(d)},
                        {"type":"NamespaceContentRemaining","status":"True","reason":"SomeResourcesRemain","message":"Some resources are remaining","lastTransitionTime":ts(d)}]})
                }
                None => json!({"phase": "Active"}),
            },
            ("operator.tigera.io", "Installation") => match self.calico_times() {
                Some((_, r)) if r <= self.now => {
                    json!({"calicoVersion": CALICO_VERSION, "variant": "Calico", "mtu": 1450, "computed": o.body.get("spec").cloned().unwrap_or(json!({})),
                    "conditions": [{"type":"Ready","status":"True","reason":"AllObjectsAvailable","message":"All Objects are available","lastTransitionTime":ts(r),"observedGeneration":o.generation}]})
                }
                _ => json!({"variant": "", "conditions": []}),
            },
            _ => return v,
        };
        v["status"] = status;
        v
    }

    fn tigerastatus(&self, name: &str, created: u64, ready: u64) -> Value {
        let ts = |ms: u64| json!(rfc3339_utc(ms));
        let conditions = if self.now >= ready {
            json!([
                {"lastTransitionTime":ts(ready),"message":"All objects available","observedGeneration":2,"reason":"AllObjectsAvailable","status":"False","type":"Degraded"},
                {"lastTransitionTime":ts(ready),"message":"All objects available","observedGeneration":2,"reason":"AllObjectsAvailable","status":"True","type":"Available"},
                {"lastTransitionTime":ts(ready),"message":"All objects available","observedGeneration":2,"reason":"AllObjectsAvailable","status":"False","type":"Progressing"}])
        } else {
            let n = self.node_names().len();
            json!([
                {"lastTransitionTime":ts(created),"observedGeneration":2,"reason":"Unknown","status":"False","type":"Degraded"},
                {"lastTransitionTime":ts(created),"observedGeneration":2,"reason":"Unknown","status":"False","type":"Available"},
                {"lastTransitionTime":ts(created),"message":format!("DaemonSet \"calico-system/calico-node\" is not available (awaiting {n} nodes)\nDeployment \"calico-system/calico-kube-controllers\" is not available (awaiting 1 replicas)"),"observedGeneration":2,"reason":"ResourceNotReady","status":"True","type":"Progressing"}])
        };
        json!({"apiVersion":"operator.tigera.io/v1","kind":"TigeraStatus","metadata":{"creationTimestamp":ts(created),"generation":1,"name":name,
            "resourceVersion": (1000 + self.cluster.rv).to_string(),"uid":uuid_from(&format!("ts {name} {}", self.cluster.name))},"spec":{},"status":{"conditions":conditions}})
    }

    fn node(&self, name: &str) -> Value {
        let c = self.cluster;
        let ready = self.nodes_ready();
        let ts = |ms: u64| json!(rfc3339_utc(ms));
        let created = c.created_ms;
        let idx = self.node_index(name);
        let ip = format!("172.{}.0.{}", 18 + c.net % 200, 3 + idx);
        let server = name.contains("-server-");
        let mut args: Vec<String> = vec![if server {
            "server".into()
        } else {
            "agent".into()
        }];
        for a in c.node_args.get(name).cloned().unwrap_or_default() {
            match a.split_once('=') {
                Some((k, v)) if k.starts_with("--") => {
                    args.push(k.into());
                    args.push(v.into());
                }
                _ => args.push(a),
            }
        }
        if server {
            args.extend(["--tls-san".to_string(), c.api_host.clone()]);
            if !c.no_lb {
                args.extend(["--tls-san".to_string(), c.lb_name()]);
            }
        }
        let cidr = c
            .node_args
            .values()
            .flatten()
            .find_map(|a| a.strip_prefix("--cluster-cidr=").map(str::to_string))
            .unwrap_or_else(|| "10.42.0.0/16".into());
        let octets: Vec<&str> = cidr
            .split('/')
            .next()
            .unwrap_or("10.42.0.0")
            .split('.')
            .collect();
        let pod_cidr = format!(
            "{}.{}.{}.0/24",
            octets.first().unwrap_or(&"10"),
            octets.get(1).unwrap_or(&"42"),
            idx
        );
        let labels = network::node_labels(c, name);
        let arch = network::node_arch(c, name);
        let heartbeat = ts(self.now - self.now % 30_000);
        let cond = |t: &str, reason: &str, msg: &str| json!({"lastHeartbeatTime":heartbeat,"lastTransitionTime":ts(created),"message":msg,"reason":reason,"status":"False","type":t});
        let ready_cond = if ready {
            json!({"lastHeartbeatTime":heartbeat,"lastTransitionTime":ts(self.nodes_ready_at().unwrap_or(created)),"message":"kubelet is posting ready status","reason":"KubeletReady","status":"True","type":"Ready"})
        } else {
            json!({"lastHeartbeatTime":heartbeat,"lastTransitionTime":ts(created),"message":"container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized","reason":"KubeletNotReady","status":"False","type":"Ready"})
        };
        let mut spec = json!({"podCIDR": pod_cidr, "podCIDRs": [pod_cidr], "providerID": format!("k3s://{name}")});
        if !ready {
            spec["taints"] = json!([{"effect":"NoSchedule","key":"node.kubernetes.io/not-ready"}]);
        }
        let k3s = c.k3s_version();
        json!({"apiVersion":"v1","kind":"Node","metadata":{
                "annotations":{"alpha.kubernetes.io/provided-node-ip":ip,"k3s.io/hostname":name,"k3s.io/internal-ip":ip,"k3s.io/node-args":serde_json::to_string(&args).unwrap(),"node.alpha.kubernetes.io/ttl":"0","volumes.kubernetes.io/controller-managed-attach-detach":"true"},
                "creationTimestamp":ts(created),"labels":labels,"name":name,"resourceVersion":(500 + c.rv).to_string(),"uid":uuid_from(&format!("node {name} {created}"))},
            "spec":spec,
            "status":{"addresses":[{"address":ip,"type":"InternalIP"},{"address":name,"type":"Hostname"}],
                "allocatable":{"cpu":"8","ephemeral-storage":"245016792764","hugepages-1Gi":"0","hugepages-2Mi":"0","memory":"32594884Ki","pods":"110"},
                "capacity":{"cpu":"8","ephemeral-storage":"251868504Ki","hugepages-1Gi":"0","hugepages-2Mi":"0","memory":"32594884Ki","pods":"110"},
                "conditions":[cond("MemoryPressure","KubeletHasSufficientMemory","kubelet has sufficient memory available"),cond("DiskPressure","KubeletHasNoDiskPressure","kubelet has no disk pressure"),cond("PIDPressure","KubeletHasSufficientPID","kubelet has sufficient PID available"),ready_cond],
                "daemonEndpoints":{"kubeletEndpoint":{"Port":10250}},
                "nodeInfo":{"architecture":arch,"bootID":uuid_from(&format!("boot {name}")),"containerRuntimeVersion":"containerd://2.0.5-k3s1","kernelVersion":"6.8.0-60-generic","kubeProxyVersion":k3s,"kubeletVersion":k3s,"machineID":"","operatingSystem":"linux","osImage":format!("K3s {k3s}"),"systemUUID":uuid_from(&format!("sys {name}"))}}})
    }

    fn node_index(&self, name: &str) -> u32 {
        let mut all = self.cluster.server_names();
        all.extend(self.cluster.agent_names());
        all.iter().position(|n| n == name).unwrap_or(0) as u32
    }
}

/// When a Job ended, how many of its pods failed, and for a failure its reason and message.
pub type JobOutcome = (u64, u64, Option<(&'static str, &'static str)>);

/// How a Job's pod ran (simulated clock, ms).
#[derive(Clone, Debug, PartialEq)]
pub struct JobRun {
    pub started: u64,
    pub finished: u64,
    pub exit: i32,
    /// The termination message (`/dev/termination-log`), when the program wrote one.
    pub message: Option<String>,
}

/// What a probe client's connection attempts meet.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Reach {
    Connected,
    /// Rejected at once (no endpoint).
    Refused,
    /// Dropped (by policy, or no route): every attempt times out.
    Dropped,
}

pub fn pod_spec(body: &Value) -> &Value {
    static NULL: Value = Value::Null;
    match body.get("kind").and_then(Value::as_str) {
        Some("Pod") => body.get("spec").unwrap_or(&NULL),
        Some("CronJob") => body
            .pointer("/spec/jobTemplate/spec/template/spec")
            .unwrap_or(&NULL),
        _ => body.pointer("/spec/template/spec").unwrap_or(&NULL),
    }
}

/// Store (create or update) an object; returns whether it changed.
pub fn upsert(
    cluster: &mut Cluster,
    t: &ResType,
    ns: Option<String>,
    name: &str,
    body: Value,
    manager: &str,
    force: bool,
) -> bool {
    let now = now_ms();
    cluster.rv += 1;
    let rv = cluster.rv;
    let spec_of = |b: &Value| b.get("spec").cloned();
    let template_of = |b: &Value| b.pointer("/spec/template").cloned();
    if let Some(o) = cluster
        .objects
        .iter_mut()
        .find(|o| o.group == t.group && o.kind == t.kind && o.namespace == ns && o.name == name)
    {
        // Server-side apply: this manager's new configuration replaces its previous one (the
        // fields it no longer sets go, unless another manager set them too); the object is
        // every manager's configuration merged, in the order they first applied.
        if o.applied.is_empty() {
            let first = o.managers.first().cloned().unwrap_or_default();
            o.applied.insert(first, o.body.clone());
        }
        if force {
            take_over(&mut o.applied, manager, &body);
        }
        o.applied.insert(manager.to_string(), body);
        if !o.managers.iter().any(|m| m == manager) {
            o.managers.push(manager.to_string());
        }
        let mut body = Value::Null;
        for m in &o.managers {
            if let Some(cfg) = o.applied.get(m) {
                merge_applied(&mut body, cfg);
            }
        }
        let changed = o.body != body;
        if spec_of(&o.body) != spec_of(&body) {
            o.generation += 1;
        }
        if template_of(&o.body) != template_of(&body) {
            o.rollout_ms = now;
        }
        o.body = body;
        o.version = t.version.clone();
        if changed {
            o.rv = rv;
        }
        return changed;
    }
    cluster.objects.push(Obj {
        group: t.group.clone(),
        version: t.version.clone(),
        kind: t.kind.clone(),
        namespace: ns,
        name: name.to_string(),
        body,
        created_ms: now,
        rollout_ms: now,
        generation: 1,
        uid: uuid_from(&format!("{} {} {name} {now} {rv}", cluster.name, t.kind)),
        rv,
        managers: vec![manager.to_string()],
        applied: Default::default(),
        deleted_ms: None,
    });
    true
}

/// What the object would be after `manager` applies `body` (server-side apply merges every
/// manager's configuration): (the stored body, the merged one); None for a new object.
pub fn preview_apply(
    cluster: &Cluster,
    t: &ResType,
    ns: Option<&str>,
    name: &str,
    body: &Value,
    manager: &str,
    force: bool,
) -> Option<(Value, Value)> {
    let o = cluster.objects.iter().find(|o| {
        o.group == t.group && o.kind == t.kind && o.namespace.as_deref() == ns && o.name == name
    })?;
    let mut applied = o.applied.clone();
    if applied.is_empty() {
        let first = o.managers.first().cloned().unwrap_or_default();
        applied.insert(first, o.body.clone());
    }
    if force {
        take_over(&mut applied, manager, body);
    }
    applied.insert(manager.to_string(), body.clone());
    let mut managers = o.managers.clone();
    if !managers.iter().any(|m| m == manager) {
        managers.push(manager.to_string());
    }
    let mut merged = Value::Null;
    for m in &managers {
        if let Some(cfg) = applied.get(m) {
            merge_applied(&mut merged, cfg);
        }
    }
    Some((o.body.clone(), merged))
}

/// The field error the API server's update validation returns when `new` changes a field
/// that is immutable once the object exists (the text after `KIND.GROUP "NAME" is invalid: `),
/// or None when the update is allowed. Values are rendered as apimachinery
/// pkg/util/validation/field/errors.go `ErrorBody` does (`Invalid value: VALUE: DETAIL`, a
/// composite value JSON-marshalled; the real server marshals its internal Go type, whose
/// field names may differ: nothing reads the value but people).
pub fn immutable_violation(t: &ResType, old: &Value, new: &Value) -> Option<String> {
    let at = |v: &Value, p: &str| v.pointer(p).cloned().unwrap_or(Value::Null);
    let invalid = |field: &str, v: &Value, detail: &str| {
        format!(
            "{field}: Invalid value: {}: {detail}",
            serde_json::to_string(v).unwrap_or_default()
        )
    };
    // apimachinery pkg/api/validation/generic.go: FieldImmutableErrorMsg.
    const IMMUTABLE: &str = "field is immutable";
    match (t.group.as_str(), t.kind.as_str()) {
        // kubernetes pkg/apis/batch/validation/validation.go, ValidateJobSpecUpdate:
        // ValidateImmutableField(spec.Selector, …) and ValidateImmutableField(template, …)
        // (a suspended Job that never started may change its scheduling directives: devenv
        // waits for no suspended Job, and the fake does not model the exception).
        ("batch", "Job") => {
            let mut errs = Vec::new();
            let (os, ns) = (at(old, "/spec/selector"), at(new, "/spec/selector"));
            if !os.is_null() && os != ns {
                errs.push(invalid("spec.selector", &ns, IMMUTABLE));
            }
            let (ot, nt) = (at(old, "/spec/template"), at(new, "/spec/template"));
            if ot != nt {
                errs.push(invalid("spec.template", &nt, IMMUTABLE));
            }
            aggregate(errs)
        }
        // kubernetes pkg/apis/apps/validation/validation.go, ValidateDeploymentUpdate /
        // ValidateDaemonSetUpdate / ValidateReplicaSetUpdate (apps/v1): the selector.
        ("apps", "Deployment" | "DaemonSet" | "ReplicaSet") => {
            let (os, ns) = (at(old, "/spec/selector"), at(new, "/spec/selector"));
            (os != ns).then(|| invalid("spec.selector", &ns, IMMUTABLE))
        }
        // kubernetes pkg/apis/apps/validation/validation.go, ValidateStatefulSetUpdate: every
        // field of the spec but these is forbidden to change.
        ("apps", "StatefulSet") => {
            const MUTABLE: &[&str] = &[
                "replicas",
                "ordinals",
                "template",
                "updateStrategy",
                "revisionHistoryLimit",
                "persistentVolumeClaimRetentionPolicy",
                "minReadySeconds",
            ];
            let rest = |v: &Value| {
                let mut spec = at(v, "/spec");
                if let Some(m) = spec.as_object_mut() {
                    for k in MUTABLE {
                        m.remove(*k);
                    }
                }
                spec
            };
            (rest(old) != rest(new)).then(|| {
                "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden".to_string()
            })
        }
        // kubernetes pkg/apis/core/validation/validation.go, validateUpgradeDowngradeClusterIPs:
        // a Service's cluster IP "may not change once set" (headless stays headless).
        ("", "Service") => {
            let ip = |v: &Value| {
                v.pointer("/spec/clusterIP")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            match (ip(old), ip(new)) {
                (Some(o), Some(n)) if !o.is_empty() && !n.is_empty() && o != n => Some(invalid(
                    "spec.clusterIPs[0]",
                    &json!([n]),
                    "may not change once set",
                )),
                _ => None,
            }
        }
        _ => None,
    }
}

/// apimachinery pkg/util/errors/errors.go `aggregate.Error`: one error as it is, several
/// as `[e1, e2]`.
fn aggregate(errs: Vec<String>) -> Option<String> {
    match errs.len() {
        0 => None,
        1 => errs.into_iter().next(),
        _ => Some(format!("[{}]", errs.join(", "))),
    }
}

/// How long a deleted Namespace stays `Terminating` (the namespace controller deletes its
/// content first: kubernetes pkg/controller/namespace/deletion/namespaced_resources_deleter.go):
/// `DEVENV_FAKE_NAMESPACE_TERMINATION_MS` when set, else 5 s on the simulated clock.
pub fn namespace_termination_ms() -> u64 {
    std::env::var("DEVENV_FAKE_NAMESPACE_TERMINATION_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| scaled(NAMESPACE_TERMINATION_MS))
}

pub const NAMESPACE_TERMINATION_MS: u64 = 5_000;

/// Namespaces whose termination is over are gone, with everything in them.
pub fn finish_terminations(cluster: &mut Cluster, now: u64) {
    let wait = namespace_termination_ms();
    let gone: Vec<String> = cluster
        .objects
        .iter()
        .filter(|o| is_kind(o, "", "Namespace"))
        .filter(|o| o.deleted_ms.is_some_and(|d| d + wait <= now))
        .map(|o| o.name.clone())
        .collect();
    if gone.is_empty() {
        return;
    }
    cluster.objects.retain(|o| {
        let ns_gone = is_kind(o, "", "Namespace") && gone.contains(&o.name);
        let inside_gone = o.namespace.as_ref().is_some_and(|n| gone.contains(n));
        !(ns_gone || inside_gone)
    });
}

/// Whether `ns` is Terminating (deleted, its content not yet gone).
pub fn namespace_terminating(cluster: &Cluster, ns: &str) -> bool {
    cluster
        .objects
        .iter()
        .any(|o| is_kind(o, "", "Namespace") && o.name == ns && o.deleted_ms.is_some())
}

/// Overlay one manager's applied configuration: maps merge key by key; lists the schema
/// declares as associative (`x-kubernetes-list-type: map`) merge item by item on their
/// `x-kubernetes-list-map-keys` (kubernetes api/openapi-spec: `containers` and `env` by
/// name, a container's `ports` by containerPort and protocol, a Service's by port and
/// protocol, `volumeMounts` by mountPath, ...), as structured-merge-diff does
/// (sigs.k8s.io/structured-merge-diff typed/merge.go); other lists and scalars are replaced
/// (atomic).
fn merge_applied(base: &mut Value, over: &Value) {
    merge_at(base, over, "")
}

/// The list-map keys of the list under `field` (None: atomic).
pub fn list_map_keys(field: &str, items: &[Value]) -> Option<&'static [&'static str]> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets" => &["name"],
        "volumeMounts" => &["mountPath"],
        "volumeDevices" => &["devicePath"],
        // core/v1 ContainerPort: containerPort+protocol; ServicePort: port+protocol.
        "ports" if items.iter().any(|i| i.get("containerPort").is_some()) => {
            &["containerPort", "protocol"]
        }
        "ports" if items.iter().any(|i| i.get("port").is_some()) => &["port", "protocol"],
        _ => return None,
    })
}

/// An item's key in an associative list (`protocol` defaults to TCP, as the schema says).
pub fn list_map_key(keys: &[&str], item: &Value) -> Vec<Value> {
    keys.iter()
        .map(|k| match (item.get(*k), *k) {
            (Some(v), _) => v.clone(),
            (None, "protocol") => json!("TCP"),
            (None, _) => Value::Null,
        })
        .collect()
}

/// Server-side apply with `--force-conflicts` (apimachinery
/// pkg/util/managedfields/internal/fieldmanager.go, `force`): the fields `body` sets to
/// another value than another manager's configuration change owner, that manager's
/// configuration loses them, so the forcing manager's value is what the merge keeps.
/// Associative lists are compared item by item on their keys, as [`merge_at`] merges them;
/// other lists are atomic.
fn take_over(applied: &mut BTreeMap<String, Value>, manager: &str, body: &Value) {
    for (m, cfg) in applied.iter_mut() {
        if m != manager {
            drop_conflicts(cfg, body);
        }
    }
}

fn drop_conflicts(cfg: &mut Value, body: &Value) {
    let (Value::Object(c), Value::Object(b)) = (cfg, body) else {
        return;
    };
    c.retain(|k, v| {
        let Some(bv) = b.get(k) else {
            return true;
        };
        if v.is_object() && bv.is_object() {
            drop_conflicts(v, bv);
            return true;
        }
        if let (Value::Array(items), Value::Array(theirs)) = (&mut *v, bv) {
            if let Some(keys) = list_map_keys(k, theirs) {
                for item in items.iter_mut() {
                    let key = list_map_key(keys, item);
                    if let Some(t) = theirs.iter().find(|t| list_map_key(keys, t) == key) {
                        drop_conflicts(item, t);
                    }
                }
                return true;
            }
        }
        v == bv
    });
}

fn merge_at(base: &mut Value, over: &Value, field: &str) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(bv) => merge_at(bv, v, k),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(b), Value::Array(o)) if list_map_keys(field, o).is_some() => {
            let keys = list_map_keys(field, o).unwrap_or(&[]);
            let key_of = |item: &Value| list_map_key(keys, item);
            for item in o {
                let key = key_of(item);
                match b.iter_mut().find(|x| key_of(x) == key) {
                    Some(existing) => merge_at(existing, item, ""),
                    None => b.push(item.clone()),
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// Delete an object. A namespace takes its objects with it; a CRD returns its type so the
/// caller can drop its custom resources once the whole command is done (the API server
/// deletes them asynchronously, so CRs named later in the same command are still found).
pub fn delete(
    cluster: &mut Cluster,
    t: &ResType,
    ns: Option<&str>,
    name: &str,
) -> Option<Option<ResType>> {
    let idx = cluster.objects.iter().position(|o| {
        o.group == t.group && o.kind == t.kind && o.name == name && o.namespace.as_deref() == ns
    })?;
    if t.group.is_empty() && t.kind == "Namespace" && namespace_termination_ms() > 0 {
        // The API server marks it Terminating (deletionTimestamp, phase Terminating); the
        // namespace controller removes its content, then the Namespace
        // (kubernetes pkg/registry/core/namespace/storage/storage.go Delete). (On an instant
        // simulated clock it is gone at once, below.)
        let o = &mut cluster.objects[idx];
        if o.deleted_ms.is_none() {
            o.deleted_ms = Some(now_ms());
        }
        return Some(None);
    }
    let o = cluster.objects.remove(idx);
    if t.group.is_empty() && t.kind == "Namespace" {
        cluster
            .objects
            .retain(|o| o.namespace.as_deref() != Some(name));
    }
    Some(if t.kind == "CustomResourceDefinition" {
        crd_type(&o.body)
    } else {
        None
    })
}

/// Drop every custom resource of a deleted CRD's type.
pub fn drop_custom_resources(cluster: &mut Cluster, ct: &ResType) {
    cluster
        .objects
        .retain(|o| !(o.group == ct.group && o.kind == ct.kind));
}

/// What k3s and k3d put in a new cluster.
pub fn seed_cluster(c: &mut Cluster, state: &State) {
    let types = builtin_types();
    let ns_t = types
        .iter()
        .find(|t| t.kind == "Namespace")
        .unwrap()
        .clone();
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        upsert(
            c,
            &ns_t,
            None,
            ns,
            json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":ns}}),
            "k3s",
            false,
        );
    }
    let dep_t = types
        .iter()
        .find(|t| t.kind == "Deployment")
        .unwrap()
        .clone();
    for (name, image) in [
        ("coredns", "rancher/mirrored-coredns-coredns:1.12.1"),
        (
            "local-path-provisioner",
            "rancher/local-path-provisioner:v0.0.31",
        ),
        ("metrics-server", "rancher/mirrored-metrics-server:v0.7.2"),
    ] {
        upsert(
            c,
            &dep_t,
            Some("kube-system".into()),
            name,
            json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":name,"namespace":"kube-system","labels":{"k8s-app":name}},
            "spec":{"replicas":1,"selector":{"matchLabels":{"k8s-app":name}},"template":{"metadata":{"labels":{"k8s-app":name}},"spec":{"containers":[{"name":name,"image":image}]}}}}),
            "k3s",
            false,
        );
    }
    if let Some(reg) = c
        .registries_use
        .first()
        .and_then(|r| state.registries.get(r))
    {
        // KEP-1755 ConfigMap, as k3d applies it (k3d.md §9.2). The registry comes from
        // `registries.use`: k3d pkg/client/cluster.go replaces it by `RegistryFromNode`
        // (pkg/client/registry.go), which sets only Host (the container name), Image and the
        // port binding, so RegistryGenerateLocalRegistryHostingConfigMapYAML finds no
        // ExposureOpts.Host and advertises the binding's HostIP; "0.0.0.0" becomes
        // "localhost". The registry's `k3d.registry.host` label plays no part.
        let host = match reg.host_ip.as_str() {
            "" | "0.0.0.0" => "localhost".to_string(),
            ip => ip.to_string(),
        };
        let data = format!(
            "help: https://k3d.io/stable/usage/registries/#using-a-local-registry\nhost: {host}:{}\nhostFromClusterNetwork: {}:5000\nhostFromContainerRuntime: {}:5000\n",
            reg.host_port, reg.name, reg.name
        );
        let cm_t = types
            .iter()
            .find(|t| t.kind == "ConfigMap")
            .unwrap()
            .clone();
        upsert(
            c,
            &cm_t,
            Some("kube-public".into()),
            "local-registry-hosting",
            json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"local-registry-hosting","namespace":"kube-public"},"data":{"localRegistryHosting.v1":data}}),
            "kubectl-client-side-apply",
            false,
        );
    }
}

// ---------------------------------------------------------------------------------------
// Strict field validation of server-side apply

/// The fields the API declares for the parts of the built-in kinds manifests set most
/// (Kubernetes v1.33 API: k8s.io/api apps/v1, batch/v1, core/v1 types.go and the OpenAPI
/// they generate). A name maps to the type of its value when the fake checks inside it;
/// `None` is a field whose content is not checked here. Deliberately partial: what is not
/// listed (custom resources, other kinds, deeper fields) is accepted as it is.
fn declared_fields(ty: &str) -> Option<&'static [(&'static str, Option<&'static str>)]> {
    const OBJECT_META: &[(&str, Option<&str>)] = &[
        ("name", None),
        ("generateName", None),
        ("namespace", None),
        ("selfLink", None),
        ("uid", None),
        ("resourceVersion", None),
        ("generation", None),
        ("creationTimestamp", None),
        ("deletionTimestamp", None),
        ("deletionGracePeriodSeconds", None),
        ("labels", None),
        ("annotations", None),
        ("ownerReferences", None),
        ("finalizers", None),
        ("managedFields", None),
    ];
    Some(match ty {
        "ObjectMeta" => OBJECT_META,
        "Workload" => &[
            ("apiVersion", None),
            ("kind", None),
            ("metadata", Some("ObjectMeta")),
            ("spec", None),
            ("status", None),
        ],
        "DeploymentSpec" => &[
            ("replicas", None),
            ("selector", None),
            ("template", Some("PodTemplateSpec")),
            ("strategy", None),
            ("minReadySeconds", None),
            ("revisionHistoryLimit", None),
            ("paused", None),
            ("progressDeadlineSeconds", None),
        ],
        "StatefulSetSpec" => &[
            ("replicas", None),
            ("selector", None),
            ("template", Some("PodTemplateSpec")),
            ("volumeClaimTemplates", None),
            ("serviceName", None),
            ("podManagementPolicy", None),
            ("updateStrategy", None),
            ("revisionHistoryLimit", None),
            ("minReadySeconds", None),
            ("persistentVolumeClaimRetentionPolicy", None),
            ("ordinals", None),
        ],
        "DaemonSetSpec" => &[
            ("selector", None),
            ("template", Some("PodTemplateSpec")),
            ("updateStrategy", None),
            ("minReadySeconds", None),
            ("revisionHistoryLimit", None),
        ],
        "JobSpec" => &[
            ("parallelism", None),
            ("completions", None),
            ("activeDeadlineSeconds", None),
            ("podFailurePolicy", None),
            ("successPolicy", None),
            ("backoffLimit", None),
            ("backoffLimitPerIndex", None),
            ("maxFailedIndexes", None),
            ("selector", None),
            ("manualSelector", None),
            ("template", Some("PodTemplateSpec")),
            ("ttlSecondsAfterFinished", None),
            ("completionMode", None),
            ("suspend", None),
            ("podReplacementPolicy", None),
            ("managedBy", None),
        ],
        "PodTemplateSpec" => &[("metadata", Some("ObjectMeta")), ("spec", Some("PodSpec"))],
        "PodSpec" => &[
            ("volumes", None),
            ("initContainers", Some("[Container]")),
            ("containers", Some("[Container]")),
            ("ephemeralContainers", None),
            ("restartPolicy", None),
            ("terminationGracePeriodSeconds", None),
            ("activeDeadlineSeconds", None),
            ("dnsPolicy", None),
            ("nodeSelector", None),
            ("serviceAccountName", None),
            ("serviceAccount", None),
            ("automountServiceAccountToken", None),
            ("nodeName", None),
            ("hostNetwork", None),
            ("hostPID", None),
            ("hostIPC", None),
            ("shareProcessNamespace", None),
            ("securityContext", None),
            ("imagePullSecrets", None),
            ("hostname", None),
            ("subdomain", None),
            ("affinity", None),
            ("schedulerName", None),
            ("tolerations", None),
            ("hostAliases", None),
            ("priorityClassName", None),
            ("priority", None),
            ("dnsConfig", None),
            ("readinessGates", None),
            ("runtimeClassName", None),
            ("enableServiceLinks", None),
            ("preemptionPolicy", None),
            ("overhead", None),
            ("topologySpreadConstraints", None),
            ("setHostnameAsFQDN", None),
            ("os", None),
            ("hostUsers", None),
            ("schedulingGates", None),
            ("resourceClaims", None),
            ("resources", None),
        ],
        "Container" => &[
            ("name", None),
            ("image", None),
            ("command", None),
            ("args", None),
            ("workingDir", None),
            ("ports", None),
            ("envFrom", None),
            ("env", None),
            ("resources", None),
            ("resizePolicy", None),
            ("restartPolicy", None),
            ("restartPolicyRules", None),
            ("volumeMounts", None),
            ("volumeDevices", None),
            ("livenessProbe", None),
            ("readinessProbe", None),
            ("startupProbe", None),
            ("lifecycle", None),
            ("terminationMessagePath", None),
            ("terminationMessagePolicy", None),
            ("imagePullPolicy", None),
            ("securityContext", None),
            ("stdin", None),
            ("stdinOnce", None),
            ("tty", None),
        ],
        "ServiceSpec" => &[
            ("ports", None),
            ("selector", None),
            ("clusterIP", None),
            ("clusterIPs", None),
            ("type", None),
            ("externalIPs", None),
            ("sessionAffinity", None),
            ("loadBalancerIP", None),
            ("loadBalancerSourceRanges", None),
            ("externalName", None),
            ("externalTrafficPolicy", None),
            ("healthCheckNodePort", None),
            ("publishNotReadyAddresses", None),
            ("sessionAffinityConfig", None),
            ("ipFamilies", None),
            ("ipFamilyPolicy", None),
            ("allocateLoadBalancerNodePorts", None),
            ("loadBalancerClass", None),
            ("internalTrafficPolicy", None),
            ("trafficDistribution", None),
        ],
        _ => return None,
    })
}

/// Unknown fields of an applied object, as server-side apply's strict field validation
/// reports them: the path in structured-merge-diff's notation (`.spec.template.spec.
/// containers[name="api"].imagePullPolicyy`). kubectl apply --server-side sends
/// fieldValidation=Strict unless --validate=false/ignore (kubectl pkg/cmd/util/helpers.go
/// GetValidationDirective); the server refuses the patch when it does not fit the schema
/// (apiserver pkg/endpoints/handlers/fieldmanager structuredmerge.go: `failed to create
/// typed patch object (NS/NAME; GROUP/VERSION, Kind=KIND): PATH: field not declared in
/// schema`, several as `errors:\n  …`, sigs.k8s.io/structured-merge-diff typed/validate.go).
pub fn undeclared_fields(t: &ResType, body: &Value) -> Vec<String> {
    let spec = match (t.group.as_str(), t.kind.as_str()) {
        ("apps", "Deployment") => "DeploymentSpec",
        ("apps", "StatefulSet") => "StatefulSetSpec",
        ("apps", "DaemonSet") => "DaemonSetSpec",
        ("batch", "Job") => "JobSpec",
        ("", "Service") => "ServiceSpec",
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    check_fields(body, "Workload", "", &mut out);
    if let Some(s) = body.get("spec") {
        check_fields(s, spec, ".spec", &mut out);
    }
    out
}

fn check_fields(v: &Value, ty: &str, path: &str, out: &mut Vec<String>) {
    if let Some(item_ty) = ty.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        for item in v.as_array().into_iter().flatten() {
            let key = item
                .get("name")
                .and_then(Value::as_str)
                .map(|n| format!("[name=\"{n}\"]"))
                .unwrap_or_default();
            check_fields(item, item_ty, &format!("{path}{key}"), out);
        }
        return;
    }
    let (Some(fields), Some(map)) = (declared_fields(ty), v.as_object()) else {
        return;
    };
    for (k, child) in map {
        match fields.iter().find(|(name, _)| name == k) {
            None => out.push(format!("{path}.{k}: field not declared in schema")),
            Some((_, Some(child_ty))) => check_fields(child, child_ty, &format!("{path}.{k}"), out),
            Some((_, None)) => {}
        }
    }
}
