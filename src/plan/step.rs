//! A step of the plan and its kind. Each kind carries the commands it runs, by name: a step
//! runs what the plan built (and `devenv plan` shows), never a command of its own.

use serde::Serialize;

use crate::runner::Cmd;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub id: String,
    pub title: String,
    pub kind: StepKind,
    /// Steps that must be done first.
    pub needs: Vec<String>,
    /// The devenv.toml key this step comes from (for error annotations).
    pub config_key: Option<String>,
    /// Hash of everything the step's result depends on; the journal compares it.
    pub fingerprint: String,
}

impl Step {
    /// Read-only commands that observe the real state before acting (idempotency).
    pub fn observe(&self) -> Vec<&Cmd> {
        match &self.kind {
            StepKind::Preflight(p) => p.nodes.iter().collect(),
            _ => Vec::new(),
        }
    }

    /// The commands that do the work, in order.
    pub fn commands(&self) -> Vec<&Cmd> {
        match &self.kind {
            StepKind::Preflight(p) => p.tools().into_iter().map(|(_, c)| c).collect(),
            StepKind::ClusterCheck(c) => vec![&c.version, &c.daemonsets],
            StepKind::Registry(r) => vec![&r.create],
            StepKind::CacheMirror(m) => vec![&m.create],
            StepKind::Cluster(c) => vec![&c.create, &c.kubeconfig, &c.api],
            StepKind::Kubeconfig(k) => vec![&k.merge],
            StepKind::CalicoCrds(c) => vec![&c.apply, &c.wait],
            StepKind::CalicoOperator(o) => vec![&o.apply, &o.rollout],
            StepKind::CalicoInstallation(i) => vec![&i.apply],
            StepKind::CalicoReady(r) => r.waits().to_vec(),
            StepKind::Namespaces(n) => vec![&n.apply],
            StepKind::Image(i) => {
                let mut cmds = vec![&i.build, &i.push];
                for (tag, push) in &i.extra_tags {
                    cmds.extend([tag, push]);
                }
                cmds
            }
            StepKind::Render(r) => vec![&r.render],
            StepKind::Overlay(o) => vec![&o.apply],
            StepKind::RenderChart(r) => r.commands(),
            StepKind::Chart(c) => vec![&c.apply],
            StepKind::Prune => Vec::new(),
            StepKind::Verify(v) => vec![
                &v.build,
                &v.push,
                &v.apply_server,
                &v.wait_server,
                &v.apply_clients,
                &v.wait_clients,
                &v.results,
                &v.cleanup,
            ],
        }
    }

    /// Read-only commands the step runs to decide whether its work is still done or to say
    /// why it failed (not part of the fingerprint: they change nothing).
    /// The same read for two purposes is listed once.
    pub fn reads(&self) -> Vec<&Cmd> {
        let all = match &self.kind {
            StepKind::CalicoReady(r) => vec![
                &r.read_status,
                &r.read_nodes,
                &r.explain_status,
                &r.explain_nodes,
            ],
            StepKind::Verify(v) => vec![&v.read_nodes, &v.read_server_pods],
            _ => Vec::new(),
        };
        let mut reads: Vec<&Cmd> = Vec::new();
        for c in all {
            if !reads.iter().any(|r| r.display() == c.display()) {
                reads.push(c);
            }
        }
        reads
    }

    /// Commands run only when the step recreates what exists (not part of the fingerprint).
    pub fn when_recreating(&self) -> Vec<&Cmd> {
        match &self.kind {
            StepKind::Cluster(c) => vec![&c.delete],
            _ => Vec::new(),
        }
    }
}

/// `devenv plan -o json` shape of a step: its kind's name fields flattened, its commands as
/// lists.
impl Serialize for Step {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Json<'a> {
            id: &'a str,
            title: &'a str,
            #[serde(flatten)]
            kind: &'a StepKind,
            needs: &'a [String],
            #[serde(skip_serializing_if = "Vec::is_empty")]
            observe: Vec<&'a Cmd>,
            commands: Vec<&'a Cmd>,
            #[serde(skip_serializing_if = "Vec::is_empty")]
            reads: Vec<&'a Cmd>,
            #[serde(skip_serializing_if = "Vec::is_empty")]
            when_recreating: Vec<&'a Cmd>,
            #[serde(skip_serializing_if = "Option::is_none")]
            config_key: Option<&'a String>,
            fingerprint: &'a str,
        }
        Json {
            id: &self.id,
            title: &self.title,
            kind: &self.kind,
            needs: &self.needs,
            observe: self.observe(),
            commands: self.commands(),
            reads: self.reads(),
            when_recreating: self.when_recreating(),
            config_key: self.config_key.as_ref(),
            fingerprint: &self.fingerprint,
        }
        .serialize(s)
    }
}

/// What a step is, for the engine to dispatch on, with the commands it runs. Serialized as
/// `kind` (kebab-case) and the kind's name fields; the commands are the step's lists.
// A plan has tens of steps, built once: boxing the larger payloads would save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum StepKind {
    Preflight(Preflight),
    /// An existing cluster: the context answers, its version is supported, a policy CNI runs.
    ClusterCheck(ClusterCheck),
    Registry(Registry),
    CacheMirror(CacheMirror),
    Cluster(Cluster),
    Kubeconfig(Kubeconfig),
    CalicoCrds(CalicoCrds),
    CalicoOperator(CalicoOperator),
    CalicoInstallation(CalicoInstallation),
    CalicoReady(CalicoReady),
    Namespaces(Namespaces),
    Image(Image),
    /// Render an overlay with Kustomize: it needs nothing, so it runs while the cluster boots.
    Render(Render),
    Overlay(Overlay),
    /// Render a Helm chart (`helm pull` on a cache miss, `helm template`, then the images
    /// wrapper): it needs no cluster either.
    RenderChart(RenderChart),
    /// Apply a rendered chart, as an overlay is applied.
    Chart(Chart),
    /// Delete what earlier runs applied and the overlays no longer render (the inventory).
    Prune,
    Verify(Verify),
}

/// The tool checks; each is cached per binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preflight {
    /// `docker version` (`build.docker` may name another client).
    #[serde(skip)]
    pub docker: Cmd,
    /// `k3d version` (k3d clusters only).
    #[serde(skip)]
    pub k3d: Option<Cmd>,
    #[serde(skip)]
    pub kubectl: Cmd,
    /// `helm version`, only when the project uses helm (charts, `helmCharts:`) or pins it.
    #[serde(skip)]
    pub helm: Option<Cmd>,
    /// `k3d node list -o json` (k3d clusters only): every k3d container, observed once per
    /// run and shared by the registry and cluster steps.
    #[serde(skip)]
    pub nodes: Option<Cmd>,
}

impl Preflight {
    /// The tool checks in order, each with the tool it checks (`docker`, `k3d`, …).
    pub fn tools(&self) -> Vec<(&'static str, &Cmd)> {
        let mut out = vec![("docker", &self.docker)];
        out.extend(self.k3d.iter().map(|c| ("k3d", c)));
        out.push(("kubectl", &self.kubectl));
        out.extend(self.helm.iter().map(|c| ("helm", c)));
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterCheck {
    /// `kubectl version`: the cluster answers, and which version it runs.
    #[serde(skip)]
    pub version: Cmd,
    /// The DaemonSets of every namespace: is a NetworkPolicy-enforcing CNI running?
    #[serde(skip)]
    pub daemonsets: Cmd,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Registry {
    #[serde(skip)]
    pub create: Cmd,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheMirror {
    pub upstream: String,
    #[serde(skip)]
    pub create: Cmd,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cluster {
    #[serde(skip)]
    pub create: Cmd,
    /// Writes devenv's kubeconfig.
    #[serde(skip)]
    pub kubeconfig: Cmd,
    /// Polled until the API answers.
    #[serde(skip)]
    pub api: Cmd,
    /// Deletes the cluster before a recreate.
    #[serde(skip)]
    pub delete: Cmd,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kubeconfig {
    #[serde(skip)]
    pub merge: Cmd,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CalicoCrds {
    #[serde(skip)]
    pub apply: Cmd,
    /// Until every CRD is Established.
    #[serde(skip)]
    pub wait: Cmd,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CalicoOperator {
    #[serde(skip)]
    pub apply: Cmd,
    #[serde(skip)]
    pub rollout: Cmd,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CalicoInstallation {
    #[serde(skip)]
    pub apply: Cmd,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CalicoReady {
    /// Until the operator reports Calico's status.
    #[serde(skip)]
    pub created: Cmd,
    #[serde(skip)]
    pub available: Cmd,
    #[serde(skip)]
    pub nodes_ready: Cmd,
    /// Reads only: on a step done before, whether Calico is still Available and every
    /// node Ready (then the waits are skipped); after a wait fails, which part is not.
    #[serde(skip)]
    pub read_status: Cmd,
    #[serde(skip)]
    pub read_nodes: Cmd,
    #[serde(skip)]
    pub explain_status: Cmd,
    #[serde(skip)]
    pub explain_nodes: Cmd,
}

impl CalicoReady {
    pub fn waits(&self) -> [&Cmd; 3] {
        [&self.created, &self.available, &self.nodes_ready]
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Namespaces {
    #[serde(skip)]
    pub apply: Cmd,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Image {
    pub name: String,
    #[serde(skip)]
    pub build: Cmd,
    #[serde(skip)]
    pub push: Cmd,
    /// `docker tag` and `docker push` of each extra tag (`images[].tags`).
    #[serde(skip)]
    pub extra_tags: Vec<(Cmd, Cmd)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Render {
    pub name: String,
    /// `kubectl kustomize WRAPPER` (or `KUSTOMIZE build WRAPPER`).
    #[serde(skip)]
    pub render: Cmd,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Overlay {
    pub name: String,
    /// Applies `.devenv/rendered/NAME.apply.yaml`.
    #[serde(skip)]
    pub apply: Cmd,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenderChart {
    pub name: String,
    /// The release namespace: namespaced objects without one are put there.
    pub namespace: String,
    /// Whether the step adds the release namespace (nothing else in devenv.toml creates it).
    pub create_namespace: bool,
    /// The pulled archive in devenv's cache (remote charts): `pull` runs only when it is
    /// missing, and `template` renders it.
    #[serde(skip)]
    pub archive: Option<std::path::PathBuf>,
    /// `helm pull` into devenv's cache (remote charts).
    #[serde(skip)]
    pub pull: Option<Cmd>,
    /// `helm dependency build` (a local chart with dependencies), run while its `charts/`
    /// folder lacks one.
    #[serde(skip)]
    pub dependency_build: Option<Cmd>,
    /// `helm template`; its output is saved as `.devenv/charts/NAME/helm.yaml`.
    #[serde(skip)]
    pub template: Cmd,
    /// `kubectl kustomize .devenv/charts/NAME` (or `KUSTOMIZE build`): the images wrapper.
    #[serde(skip)]
    pub render: Cmd,
}

impl RenderChart {
    /// Every command the step may run, in order (the plan shows `helm pull` too, though a
    /// filled cache skips it).
    pub fn commands(&self) -> Vec<&Cmd> {
        let mut cmds: Vec<&Cmd> = self.pull.iter().collect();
        cmds.extend(self.dependency_build.iter());
        cmds.extend([&self.template, &self.render]);
        cmds
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chart {
    pub name: String,
    /// Applies `.devenv/rendered/NAME.apply.yaml`.
    #[serde(skip)]
    pub apply: Cmd,
}

/// The probe's commands, in the order they run. Its namespace is random per run: the plan
/// shows it as `devenv-verify-RANDOM`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verify {
    #[serde(skip)]
    pub build: Cmd,
    #[serde(skip)]
    pub push: Cmd,
    #[serde(skip)]
    pub apply_server: Cmd,
    #[serde(skip)]
    pub wait_server: Cmd,
    #[serde(skip)]
    pub apply_clients: Cmd,
    #[serde(skip)]
    pub wait_clients: Cmd,
    #[serde(skip)]
    pub results: Cmd,
    #[serde(skip)]
    pub cleanup: Cmd,
    /// Reads only: the nodes before the probe (Ready, no second CNI, their architecture),
    /// and the server pod when it does not become Ready (what it is stuck on).
    #[serde(skip)]
    pub read_nodes: Cmd,
    #[serde(skip)]
    pub read_server_pods: Cmd,
}
