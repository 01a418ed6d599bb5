//! The plan: the config turned into an explicit graph of steps, each with its dependencies and
//! the exact argv of the commands it runs. `devenv plan` prints it; `devenv up` executes it.
//!
//! Building a plan is pure: the same config (and the same image tags) gives a byte-identical plan.
//! Image builds depend only on the registry, not on the cluster, so they run while it boots.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde::Serialize;

use crate::config::schema::{ClusterProvider, RegistryProvider};
use crate::config::Loaded;
use crate::render::{self, GeneratedFile, Names};

/// Version of the `--output json` shape of a plan.
pub const PLAN_JSON_VERSION: u32 = 1;

pub const KUBECONFIG_PATH: &str = ".devenv/kubeconfig";
pub const K3D_CONFIG_PATH: &str = ".devenv/k3d-config.yaml";
pub const CALICO_DIR: &str = ".devenv/calico";
pub const FIELD_MANAGER: &str = "devenv";
/// The field manager of the namespaces step (see the step).
pub const NAMESPACES_FIELD_MANAGER: &str = "devenv-namespaces";

/// CRDs the Tigera operator needs before its custom resources can be applied.
pub const CALICO_CRDS: &[&str] = &[
    "installations.operator.tigera.io",
    "apiservers.operator.tigera.io",
    "tigerastatuses.operator.tigera.io",
];

/// One external command, as argv.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedCommand {
    pub program: String,
    pub args: Vec<String>,
    /// Environment set for this command only (e.g. `LOG_COLORS=false` for k3d).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<(String, String)>,
    /// What the command is for, used in messages: "failed to {purpose}".
    pub purpose: String,
    pub timeout_secs: u64,
}

impl PlannedCommand {
    pub fn new(program: &str, args: &[&str], purpose: &str, timeout_secs: u64) -> Self {
        PlannedCommand {
            program: program.to_string(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            purpose: purpose.to_string(),
            timeout_secs,
        }
    }

    /// A shell-quoted command line a user can paste.
    pub fn display(&self) -> String {
        let mut parts: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .collect();
        parts.push(quote(&self.program));
        parts.extend(self.args.iter().map(|a| quote(a)));
        parts.join(" ")
    }

    pub fn to_runner(&self, cwd: &std::path::Path) -> crate::runner::Cmd {
        let mut cmd = crate::runner::Cmd::new(self.program.clone())
            .args(self.args.clone())
            .cwd(cwd.to_path_buf())
            .timeout(std::time::Duration::from_secs(self.timeout_secs));
        for (k, v) in &self.env {
            cmd = cmd.env(k.clone(), v.clone());
        }
        cmd
    }
}

/// Quote for a POSIX shell only when needed (`--for=condition=Ready` stays readable).
pub fn quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-@%+=:,./".contains(c));
    if safe {
        s.to_string()
    } else {
        shlex::try_quote(s)
            .map(|c| c.into_owned())
            .unwrap_or_else(|_| format!("{s:?}"))
    }
}

/// What a step is, for the engine to dispatch on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum StepKind {
    Preflight,
    /// An existing cluster: the context answers, its version is supported, a policy CNI runs.
    ClusterCheck,
    Registry,
    CacheMirror {
        upstream: String,
    },
    Cluster,
    Kubeconfig,
    CalicoCrds,
    CalicoOperator,
    CalicoInstallation,
    CalicoReady,
    Namespaces,
    Image {
        name: String,
    },
    /// Render an overlay with Kustomize: it needs nothing, so it runs while the cluster boots.
    Render {
        name: String,
    },
    Overlay {
        name: String,
    },
    /// Delete what earlier runs applied and the overlays no longer render (the inventory).
    Prune,
    Verify,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub id: String,
    pub title: String,
    #[serde(flatten)]
    pub kind: StepKind,
    /// Steps that must be done first.
    pub needs: Vec<String>,
    /// Read-only commands that observe the real state before acting (idempotency).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub observe: Vec<PlannedCommand>,
    /// The commands that do the work, in order.
    pub commands: Vec<PlannedCommand>,
    /// The devenv.toml key this step comes from (for error annotations).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_key: Option<String>,
    /// Hash of everything the step's result depends on; the journal compares it.
    pub fingerprint: String,
}

/// Inputs known only outside the config: the content-addressed image tags.
#[derive(Debug, Clone, Default)]
pub struct PlanInputs {
    /// Image name → content-addressed tag. Missing: shown as `<content-tag>`.
    pub image_tags: BTreeMap<String, String>,
    /// A fingerprint of the Calico manifests (their sha256s), when known.
    pub calico_manifests: Option<String>,
    /// The builder `docker build` uses (`None`: not asked yet, e.g. by `devenv plan` before
    /// the first `up`; the commands are then shown without builder flags).
    pub docker_builder: Option<crate::images::DockerBuilder>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegistryInfo {
    /// Where the host pushes (`localhost:5111`).
    pub push: String,
    /// Where the nodes pull from (the same reference, thanks to the registries.yaml mirror).
    pub pull: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub version: u32,
    pub project: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    pub context: String,
    pub kubeconfig: String,
    pub registry: RegistryInfo,
    /// Files generated under .devenv/ (the `files` themselves are written, not printed).
    pub files: Vec<String>,
    pub steps: Vec<Step>,
    #[serde(skip)]
    pub generated: Vec<GeneratedFile>,
}

impl Plan {
    pub fn build(loaded: &Loaded) -> Plan {
        Plan::build_with(loaded, &PlanInputs::default())
    }

    pub fn build_with(loaded: &Loaded, inputs: &PlanInputs) -> Plan {
        Builder::new(loaded, inputs).build()
    }

    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// The ids of `ids` and everything they need, in plan order.
    pub fn closure(&self, ids: &[String]) -> Vec<String> {
        let index: HashMap<&str, &Step> = self.steps.iter().map(|s| (s.id.as_str(), s)).collect();
        let mut keep = std::collections::HashSet::new();
        let mut todo: Vec<&str> = ids.iter().map(String::as_str).collect();
        while let Some(id) = todo.pop() {
            if keep.insert(id.to_string()) {
                if let Some(s) = index.get(id) {
                    todo.extend(s.needs.iter().map(String::as_str));
                }
            }
        }
        self.steps
            .iter()
            .filter(|s| keep.contains(&s.id))
            .map(|s| s.id.clone())
            .collect()
    }

    /// Human-readable plan: steps in order with their commands.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "devenv plan for project `{}`{}",
            self.project,
            self.profile
                .as_ref()
                .map(|p| format!(" (profile {p})"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            out,
            "  kube context: {} (kubeconfig {})",
            self.context, self.kubeconfig
        );
        let _ = writeln!(
            out,
            "  registry: push {} / pull {}",
            self.registry.push, self.registry.pull
        );
        if !self.files.is_empty() {
            let _ = writeln!(out, "  generated files: {}", self.files.join(", "));
        }
        for (i, s) in self.steps.iter().enumerate() {
            let _ = writeln!(out);
            let needs = if s.needs.is_empty() {
                String::new()
            } else {
                format!("  (after {})", s.needs.join(", "))
            };
            let _ = writeln!(out, "{:>2}. {} [{}]{}", i + 1, s.title, s.id, needs);
            for c in &s.observe {
                let _ = writeln!(out, "      check  $ {}", c.display());
            }
            for c in &s.commands {
                let _ = writeln!(out, "      run    $ {}", c.display());
            }
        }
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a plan serializes")
    }
}

struct Builder<'a> {
    loaded: &'a Loaded,
    inputs: &'a PlanInputs,
    names: Names,
    steps: Vec<Step>,
    generated: Vec<GeneratedFile>,
}

impl<'a> Builder<'a> {
    fn new(loaded: &'a Loaded, inputs: &'a PlanInputs) -> Self {
        Builder {
            loaded,
            inputs,
            names: Names::new(loaded),
            steps: Vec::new(),
            generated: Vec::new(),
        }
    }

    fn k3d(&self) -> bool {
        self.loaded.config.cluster.provider == ClusterProvider::K3d
    }

    fn context(&self) -> String {
        match &self.loaded.config.cluster.context {
            Some(c) if !self.k3d() => c.clone(),
            _ => self.names.context.clone(),
        }
    }

    /// `kubectl --kubeconfig K --context C ARGS...`
    fn kubectl(&self, args: &[&str], purpose: &str, timeout_secs: u64) -> PlannedCommand {
        let mut all: Vec<String> = Vec::new();
        if self.k3d() {
            all.extend(["--kubeconfig".to_string(), KUBECONFIG_PATH.to_string()]);
        }
        all.extend(["--context".to_string(), self.context()]);
        all.extend(args.iter().map(|s| s.to_string()));
        PlannedCommand {
            program: "kubectl".into(),
            args: all,
            env: Vec::new(),
            purpose: purpose.into(),
            timeout_secs,
        }
    }

    fn k3d_cmd(&self, args: &[&str], purpose: &str, timeout_secs: u64) -> PlannedCommand {
        let mut c = PlannedCommand::new("k3d", args, purpose, timeout_secs);
        // Plain logfmt lines instead of logrus' forced colors (see reference k3d.md §1.1).
        c.env.push(("LOG_COLORS".into(), "false".into()));
        c
    }

    fn apply(&self, file: &str, purpose: &str) -> PlannedCommand {
        self.apply_as(FIELD_MANAGER, file, purpose)
    }

    fn apply_as(&self, manager: &str, file: &str, purpose: &str) -> PlannedCommand {
        self.kubectl(
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

    fn push_step(
        &mut self,
        id: &str,
        title: &str,
        kind: StepKind,
        needs: Vec<String>,
        observe: Vec<PlannedCommand>,
        commands: Vec<PlannedCommand>,
        config_key: Option<&str>,
        extra: &str,
    ) {
        let mut h = blake3::Hasher::new();
        h.update(id.as_bytes());
        for c in observe.iter().chain(commands.iter()) {
            h.update(c.display().as_bytes());
            h.update(b"\n");
        }
        h.update(extra.as_bytes());
        self.steps.push(Step {
            id: id.to_string(),
            title: title.to_string(),
            kind,
            needs,
            observe,
            commands,
            config_key: config_key.map(str::to_string),
            fingerprint: h.finalize().to_hex()[..16].to_string(),
        });
    }

    /// The probe's commands. Its namespace is random per run (`devenv-verify-XXXXXXXX`): the
    /// plan shows it as `devenv-verify-RANDOM`.
    fn verify_commands(&self) -> Vec<PlannedCommand> {
        use crate::overlays::verify::{
            probe_image_tag, VerifyProbe, DEFAULT_PROBE_PORT, PROBE_IMAGE_NAME,
        };
        let cfg = &self.loaded.config;
        let tag = probe_image_tag();
        let push_ref = format!("{}/{PROBE_IMAGE_NAME}:{tag}", self.registry_push());
        let pull_ref = format!("{}/{PROBE_IMAGE_NAME}:{tag}", self.registry_pull());
        let mut inputs =
            crate::images::BuildInputs::new(".devenv/probe", ".devenv/probe/Dockerfile");
        inputs.builder_flags = self.builder_flags();
        let docker = cfg.build.docker.clone();
        let probe = VerifyProbe {
            namespace: "devenv-verify-RANDOM".into(),
            ..VerifyProbe::new(pull_ref, DEFAULT_PROBE_PORT)
        };
        let k = crate::deploy::Kubectl::new(
            "kubectl",
            if self.k3d() {
                KUBECONFIG_PATH.to_string()
            } else {
                String::new()
            },
            self.context(),
        );
        let t = cfg.verify.timeout.0;
        let secs = margin(cfg.verify.timeout.as_secs());
        let kc = |argv: Vec<String>, purpose: &str, timeout: u64| {
            let mut argv = argv;
            if !self.k3d() {
                // No devenv kubeconfig: drop `--kubeconfig ""`.
                if let Some(i) = argv.iter().position(|a| a == "--kubeconfig") {
                    argv.drain(i..i + 2);
                }
            }
            PlannedCommand {
                program: argv[0].clone(),
                args: argv[1..].to_vec(),
                env: vec![],
                purpose: purpose.into(),
                timeout_secs: timeout,
            }
        };
        vec![
            PlannedCommand {
                program: docker.clone(),
                args: crate::images::docker_build_argv(&inputs, &push_ref),
                env: vec![],
                purpose: "build the probe image (skipped when the registry has it)".into(),
                timeout_secs: 300,
            },
            PlannedCommand {
                program: docker,
                args: crate::images::docker_push_argv(&push_ref),
                env: vec![],
                purpose: "push the probe image".into(),
                timeout_secs: 300,
            },
            kc(
                k.apply_argv(std::path::Path::new(".devenv/verify/server.yaml")),
                "start the probe server and its NetworkPolicy",
                120,
            ),
            kc(
                probe.server_ready_argv(&k, t),
                "wait for the probe server",
                secs,
            ),
            kc(
                k.apply_argv(std::path::Path::new(".devenv/verify/clients.yaml")),
                "start the allowed and the denied client",
                120,
            ),
            kc(probe.clients_done_argv(&k, t), "wait for the clients", secs),
            kc(probe.results_argv(&k), "read what each client saw", 30),
            kc(probe.cleanup_argv(&k), "delete the probe namespace", 60),
        ]
    }

    /// `--load` when buildx builds (see `images::builder`); none otherwise or unknown.
    fn builder_flags(&self) -> Vec<String> {
        self.inputs
            .docker_builder
            .as_ref()
            .map(|b| b.build_flags())
            .unwrap_or_default()
    }

    fn registry_push(&self) -> String {
        let r = &self.loaded.config.registry;
        match r.provider {
            RegistryProvider::K3d => format!("localhost:{}", r.port),
            RegistryProvider::External => r.address.clone().unwrap_or_default(),
        }
    }

    fn registry_pull(&self) -> String {
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

    fn build(mut self) -> Plan {
        let cfg = &self.loaded.config;
        let k3d = self.k3d();
        let names = self.names.clone();

        // 1. Preflight: read-only checks, nothing created.
        let mut pre = vec![PlannedCommand::new(
            &cfg.build.docker,
            &["version", "--format", "{{.Server.Version}}"],
            "check that the Docker daemon answers",
            30,
        )];
        if k3d {
            pre.push(self.k3d_cmd(&["version", "-o", "json"], "check the k3d version", 30));
        }
        pre.push(PlannedCommand::new(
            "kubectl",
            &["version", "--client", "-o", "json"],
            "check the kubectl version",
            30,
        ));
        // helm is checked only when `[tools]` pins it (no step runs helm yet).
        if cfg.tools.helm.is_some() {
            pre.push(PlannedCommand::new(
                "helm",
                &["version", "--template", "{{.Version}}"],
                "check the helm version",
                30,
            ));
        }
        let port_note = format!(
            "ports api={} registry={}",
            cfg.cluster.api_port, cfg.registry.port
        );
        // One observation serves the registry and cluster steps: every k3d container.
        let observe = if k3d {
            vec![self.k3d_cmd(
                &["node", "list", "-o", "json"],
                "list k3d nodes and registries",
                30,
            )]
        } else {
            vec![]
        };
        self.push_step(
            "preflight",
            "Check prerequisites",
            StepKind::Preflight,
            vec![],
            observe,
            pre,
            None,
            &port_note,
        );

        let mut cluster_needs = vec!["preflight".to_string()];
        // 2. Registry.
        if cfg.registry.provider == RegistryProvider::K3d {
            let port = format!("{}:{}", cfg.registry.bind, cfg.registry.port);
            let observe = vec![];
            let mut args = vec!["registry", "create", &names.registry, "--port", &port];
            // The ownership mark (see render::OWNER_VOLUME_DIR).
            let owner = names.owner_id.as_deref().map(render::owner_volume);
            if let Some(v) = &owner {
                args.extend(["--volume", v.as_str()]);
            }
            args.push("--no-help");
            let create = self.k3d_cmd(&args, "create the local registry", 120);
            let title = format!("Create registry {} on {port}", names.registry_container);
            self.push_step(
                "registry",
                &title,
                StepKind::Registry,
                vec!["preflight".into()],
                observe,
                vec![create],
                Some("registry"),
                "",
            );
            cluster_needs.push("registry".into());
        }
        // 2b. Pull-through caches for CI.
        if k3d && cfg.ci_cache.enabled {
            for (upstream, m) in render::ci_cache_mirrors(self.loaded, &names) {
                let id = format!("mirror:{upstream}");
                // The registry's whole config is a generated file bound into the container
                // (k3d's flags cover only the remote URL): see src/mirror.rs.
                let config_file = crate::mirror::config_file(&upstream);
                let config = crate::mirror::k3d_mirror_config(&m);
                self.generated.push(GeneratedFile {
                    path: config_file.clone(),
                    content: config.clone(),
                });
                let mut args =
                    crate::mirror::k3d_create_args(&m, &self.loaded.resolve(&config_file));
                if let Some(id) = &names.owner_id {
                    let at = args.len() - 1; // before --no-help
                    args.splice(at..at, ["--volume".to_string(), render::owner_volume(id)]);
                }
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let observe = vec![];
                let create = self.k3d_cmd(
                    &args,
                    &format!("create the pull-through cache for {upstream}"),
                    120,
                );
                self.push_step(
                    &id,
                    &format!("Create pull-through cache for {upstream}"),
                    StepKind::CacheMirror {
                        upstream: upstream.clone(),
                    },
                    vec!["preflight".into()],
                    observe,
                    vec![create],
                    Some("ci_cache"),
                    &config,
                );
                cluster_needs.push(id);
            }
        }

        let mut ready_step = "preflight".to_string();
        if !k3d {
            // Its own step: `devenv build` needs Docker and the registry, not the cluster.
            let cmds = vec![
                self.kubectl(
                    &["version", "-o", "json"],
                    "check that the cluster answers and its version",
                    30,
                ),
                self.kubectl(
                    &["get", "daemonsets", "--all-namespaces", "-o", "json"],
                    "look for a NetworkPolicy-enforcing CNI",
                    30,
                ),
            ];
            self.push_step(
                "cluster-check",
                &format!("Check the existing cluster (context {})", self.context()),
                StepKind::ClusterCheck,
                vec!["preflight".into()],
                vec![],
                cmds,
                Some("cluster.context"),
                "",
            );
            ready_step = "cluster-check".into();
        }
        if k3d {
            // 3. Cluster.
            let k3d_config = render::k3d_config(self.loaded, &names);
            self.generated.push(GeneratedFile {
                path: K3D_CONFIG_PATH.into(),
                content: k3d_config.clone(),
            });
            let observe = vec![];
            let create = self.k3d_cmd(
                &["cluster", "create", "--config", K3D_CONFIG_PATH],
                "create the k3d cluster",
                margin(cfg.cluster.timeout.as_secs()),
            );
            let kubeconfig = self.k3d_cmd(
                &[
                    "kubeconfig",
                    "merge",
                    &names.cluster,
                    "--output",
                    KUBECONFIG_PATH,
                    "--kubeconfig-switch-context=false",
                ],
                "write devenv's kubeconfig",
                60,
            );
            let api = self.kubectl(
                &["get", "nodes", "-o", "json"],
                "check that the Kubernetes API answers",
                30,
            );
            let title = format!(
                "Create cluster {} ({} server{}, {} agent{}, no flannel)",
                names.cluster,
                cfg.cluster.servers,
                if cfg.cluster.servers == 1 { "" } else { "s" },
                cfg.cluster.agents,
                if cfg.cluster.agents == 1 { "" } else { "s" }
            );
            self.push_step(
                "cluster",
                &title,
                StepKind::Cluster,
                cluster_needs,
                observe,
                vec![create, kubeconfig, api],
                Some("cluster"),
                &k3d_config,
            );

            if cfg.cluster.merge_kubeconfig {
                let switch = format!("--kubeconfig-switch-context={}", cfg.cluster.switch_context);
                // Several files in $KUBECONFIG: k3d's -d refuses them; merge into the file
                // kubectl writes new contexts to (crate::kubeconfig::merge_target).
                let target =
                    crate::kubeconfig::merge_target(&crate::kubeconfig::default_kubeconfig_paths())
                        .map(|p| p.display().to_string());
                let mut merge_args = vec!["kubeconfig", "merge", &names.cluster];
                match &target {
                    Some(t) => merge_args.extend(["--output", t.as_str()]),
                    None => merge_args.push("--kubeconfig-merge-default"),
                }
                merge_args.push(&switch);
                let merge = self.k3d_cmd(&merge_args, "merge the cluster into your kubeconfig", 60);
                let title = format!(
                    "Merge context {} into your kubeconfig{}",
                    names.context,
                    if cfg.cluster.switch_context {
                        " and switch to it"
                    } else {
                        ""
                    }
                );
                self.push_step(
                    "kubeconfig",
                    &title,
                    StepKind::Kubeconfig,
                    vec!["cluster".into()],
                    vec![],
                    vec![merge],
                    Some("cluster.merge_kubeconfig"),
                    "",
                );
            }

            // 4. Calico.
            let timeout = cfg.calico.timeout.as_secs();
            let t = format!("--timeout={timeout}s");
            let calico_fp = self
                .inputs
                .calico_manifests
                .clone()
                .unwrap_or_else(|| cfg.calico.version.clone());
            let crds_file = format!("{CALICO_DIR}/operator-crds.yaml");
            let mut crd_wait: Vec<String> = vec![
                "wait".into(),
                "--for=condition=Established".into(),
                t.clone(),
            ];
            crd_wait.extend(CALICO_CRDS.iter().map(|c| format!("crd/{c}")));
            let crd_wait: Vec<&str> = crd_wait.iter().map(String::as_str).collect();
            let crd_cmds = vec![
                self.apply(&crds_file, "apply the Calico CRDs (server-side: the file is too large for client-side apply)"),
                self.kubectl(&crd_wait, "wait for the Calico CRDs to be Established", margin(timeout)),
            ];
            self.push_step(
                "calico-crds",
                &format!("Install Calico {} CRDs", cfg.calico.version),
                StepKind::CalicoCrds,
                vec!["cluster".into()],
                vec![],
                crd_cmds,
                Some("calico.version"),
                &calico_fp,
            );

            let op_cmds = vec![
                self.apply(
                    &format!("{CALICO_DIR}/tigera-operator.yaml"),
                    "apply the Tigera operator",
                ),
                self.kubectl(
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
            ];
            self.push_step(
                "calico-operator",
                "Install the Tigera operator",
                StepKind::CalicoOperator,
                vec!["calico-crds".into()],
                vec![],
                op_cmds,
                Some("calico.version"),
                &calico_fp,
            );

            let installation = render::calico_installation(self.loaded);
            let inst_file = format!("{CALICO_DIR}/installation.yaml");
            self.generated.push(GeneratedFile {
                path: inst_file.clone(),
                content: installation.clone(),
            });
            let inst_cmds = vec![self.apply(&inst_file, "apply the Calico Installation")];
            self.push_step(
                "calico-installation",
                &format!(
                    "Configure Calico (pool {}, {})",
                    cfg.cluster.cidr, cfg.calico.encapsulation
                ),
                StepKind::CalicoInstallation,
                vec!["calico-operator".into()],
                vec![],
                inst_cmds,
                Some("calico"),
                &installation,
            );

            let ready_cmds = vec![
                self.kubectl(
                    &["wait", "--for=create", &t, "tigerastatus/calico"],
                    "wait for the operator to report Calico's status",
                    margin(timeout),
                ),
                self.kubectl(
                    &[
                        "wait",
                        "--for=condition=Available",
                        &t,
                        "tigerastatus/calico",
                    ],
                    "wait for Calico to be Available",
                    margin(timeout),
                ),
                self.kubectl(
                    &["wait", "--for=condition=Ready", &t, "nodes", "--all"],
                    "wait for every node to be Ready",
                    margin(timeout),
                ),
            ];
            self.push_step(
                "calico-ready",
                "Wait for Calico and every node to be ready",
                StepKind::CalicoReady,
                vec!["calico-installation".into()],
                vec![],
                ready_cmds,
                Some("calico.timeout"),
                "",
            );
            ready_step = "calico-ready".into();
        }

        // 5. Namespaces with Pod Security and default policies.
        let mut overlay_base_needs = vec![ready_step.clone()];
        if !cfg.namespaces.is_empty() {
            let file = ".devenv/namespaces.yaml";
            // Its own field manager: an overlay that declares the same Namespace (applied as
            // `devenv`) would otherwise drop the Pod Security labels set here, since a
            // server-side apply removes the fields its manager set before and omits now.
            let cmds = vec![self.apply_as(
                NAMESPACES_FIELD_MANAGER,
                file,
                "create the namespaces and their default policies",
            )];
            let list: Vec<&str> = cfg.namespaces.keys().map(String::as_str).collect();
            let specs: Vec<crate::overlays::NamespaceSpec> = cfg
                .namespaces
                .iter()
                .map(|(name, ns)| crate::overlays::NamespaceSpec {
                    name: name.clone(),
                    pod_security: ns.pod_security.map(|p| match p {
                        crate::config::schema::PodSecurity::Restricted => {
                            crate::overlays::PodSecurityLevel::Restricted
                        }
                        crate::config::schema::PodSecurity::Baseline => {
                            crate::overlays::PodSecurityLevel::Baseline
                        }
                        crate::config::schema::PodSecurity::Privileged => {
                            crate::overlays::PodSecurityLevel::Privileged
                        }
                    }),
                    default_deny: ns.default_deny,
                    labels: ns.labels.clone(),
                })
                .collect();
            let mut yaml = crate::overlays::render_namespaces(&specs);
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
            let fp = yaml;
            self.push_step(
                "namespaces",
                &format!("Create namespaces {}", list.join(", ")),
                StepKind::Namespaces,
                vec![ready_step.clone()],
                vec![],
                cmds,
                Some("namespaces"),
                &fp,
            );
            overlay_base_needs = vec!["namespaces".into()];
        }

        // 6. Images: they need the registry only, so they build while the cluster boots.
        let image_needs = if cfg.registry.provider == RegistryProvider::K3d {
            vec!["registry".to_string()]
        } else {
            vec!["preflight".to_string()]
        };
        let push = self.registry_push();
        let docker = cfg.build.docker.clone();
        let mut image_ids = Vec::new();
        for (i, img) in cfg.images.iter().enumerate() {
            let tag = self
                .inputs
                .image_tags
                .get(&img.name)
                .cloned()
                .unwrap_or_else(|| "<content-tag>".into());
            let reference = format!("{push}/{}:{tag}", img.name);
            // Paths relative to the project folder: commands run there, and the plan is the
            // same on every machine.
            let mut inputs = image_build_inputs(std::path::Path::new(""), img);
            inputs.builder_flags = self.builder_flags();
            let args = crate::images::docker_build_argv(&inputs, &reference);
            let build = PlannedCommand {
                program: docker.clone(),
                args,
                env: Vec::new(),
                purpose: format!("build image {}", img.name),
                timeout_secs: cfg.build.timeout.as_secs(),
            };
            let mut cmds = vec![
                build,
                PlannedCommand::new(
                    &docker,
                    &["push", &reference],
                    &format!("push image {}", img.name),
                    600,
                ),
            ];
            for extra in &img.tags {
                let extra_ref = format!("{push}/{}:{extra}", img.name);
                cmds.push(PlannedCommand::new(
                    &docker,
                    &["tag", &reference, &extra_ref],
                    &format!("tag image {} as {extra}", img.name),
                    60,
                ));
                cmds.push(PlannedCommand::new(
                    &docker,
                    &["push", &extra_ref],
                    &format!("push image {}:{extra}", img.name),
                    600,
                ));
            }
            let id = format!("image:{}", img.name);
            self.push_step(
                &id,
                &format!("Build and push image {}", img.name),
                StepKind::Image {
                    name: img.name.clone(),
                },
                image_needs.clone(),
                vec![],
                cmds,
                Some(&format!("images[{i}]")),
                &tag,
            );
            image_ids.push(id);
        }

        // 7. Overlays in dependency order (ties: declaration order).
        for idx in overlay_order(cfg) {
            let o = &cfg.overlays[idx];
            let mut needs = overlay_base_needs.clone();
            needs.extend(image_ids.iter().cloned());
            needs.extend(o.depends_on.iter().map(|d| format!("overlay:{d}")));
            let wrapper = crate::overlays::wrapper_dir(
                &self.loaded.root,
                &o.name,
                &self.loaded.root.join(&o.path),
            );
            let overrides: Vec<crate::overlays::ImageOverride> = cfg
                .images
                .iter()
                .map(|img| crate::overlays::ImageOverride {
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
                .collect();
            let root = &self.loaded.root;
            let kustomization = crate::overlays::wrapper_kustomization(
                &root.join(&o.path),
                &root.join(&wrapper),
                &overrides,
            );
            self.generated.push(GeneratedFile {
                path: format!("{wrapper}/kustomization.yaml"),
                content: kustomization.clone(),
            });
            let render = match &cfg.build.kustomize {
                Some(bin) => PlannedCommand::new(
                    bin,
                    &["build", &wrapper],
                    &format!("render overlay {}", o.name),
                    120,
                ),
                None => PlannedCommand::new(
                    "kubectl",
                    &["kustomize", &wrapper],
                    &format!("render overlay {}", o.name),
                    120,
                ),
            };
            // Rendering needs nothing but the wrapper: it runs at the start, off the critical path.
            let render_id = format!("render:{}", o.name);
            self.push_step(
                &render_id,
                &format!("Render overlay {}", o.name),
                StepKind::Render {
                    name: o.name.clone(),
                },
                vec![],
                vec![],
                vec![render],
                Some(&format!("overlays[{idx}].path")),
                &kustomization,
            );
            needs.push(render_id);
            // CustomResourceDefinitions of the overlay (if any) are applied first from
            // NAME.crds.yaml and waited for until Established; then the rest, then the waits.
            let cmds = vec![self.apply(
                &format!(".devenv/rendered/{}.apply.yaml", o.name),
                &format!("apply overlay {}", o.name),
            )];
            let fp = format!("{:?}{:?}{kustomization}", o.wait, o.timeout);
            self.push_step(
                &format!("overlay:{}", o.name),
                &format!("Apply overlay {} ({})", o.name, o.path),
                StepKind::Overlay {
                    name: o.name.clone(),
                },
                needs,
                vec![],
                cmds,
                Some(&format!("overlays[{idx}]")),
                &fp,
            );
        }

        // 7b. Prune what earlier runs applied and no overlay renders any more. On a shared
        // cluster also with no overlay left: the last one dropped from devenv.toml must take
        // its objects with it (the plan cannot know whether anything was applied before).
        if !cfg.overlays.is_empty() || !k3d {
            let mut needs: Vec<String> = self
                .steps
                .iter()
                .filter(|s| matches!(s.kind, StepKind::Overlay { .. }))
                .map(|s| s.id.clone())
                .collect();
            if needs.is_empty() {
                needs = overlay_base_needs.clone();
            }
            self.push_step(
                "prune",
                "Delete objects removed from the overlays",
                StepKind::Prune,
                needs,
                vec![],
                vec![],
                Some("overlays"),
                "",
            );
        }

        // 8. Verify: NetworkPolicy enforcement, nodes, Calico, registry pulls.
        if cfg.verify.enabled {
            let mut needs = vec![ready_step.clone()];
            needs.extend(
                self.steps
                    .iter()
                    .filter(|s| matches!(s.kind, StepKind::Overlay { .. }))
                    .map(|s| s.id.clone()),
            );
            if needs.len() == 1 {
                needs.extend(image_ids.iter().cloned());
            }
            let cmds = self.verify_commands();
            self.push_step(
                "verify",
                "Verify NetworkPolicy enforcement and registry pulls",
                StepKind::Verify,
                needs,
                vec![],
                cmds,
                Some("verify"),
                "",
            );
        }

        let files = self.generated.iter().map(|f| f.path.clone()).collect();
        Plan {
            version: PLAN_JSON_VERSION,
            project: names.project.clone(),
            profile: self.loaded.profile.clone(),
            context: self.context(),
            kubeconfig: if k3d {
                KUBECONFIG_PATH.into()
            } else {
                "(your kubeconfig)".into()
            },
            registry: RegistryInfo {
                push: self.registry_push(),
                pull: self.registry_pull(),
            },
            files,
            steps: self.steps,
            generated: self.generated,
        }
    }
}

/// Overlay indexes in topological order of depends_on, ties broken by declaration order.
/// The config is validated (no cycle, no unknown name) before a plan is built.
pub fn overlay_order(cfg: &crate::config::Config) -> Vec<usize> {
    let index: HashMap<&str, usize> = cfg
        .overlays
        .iter()
        .enumerate()
        .map(|(i, o)| (o.name.as_str(), i))
        .collect();
    let mut done = vec![false; cfg.overlays.len()];
    let mut order = Vec::new();
    while order.len() < cfg.overlays.len() {
        let next = (0..cfg.overlays.len()).find(|&i| {
            !done[i]
                && cfg.overlays[i]
                    .depends_on
                    .iter()
                    .all(|d| index.get(d.as_str()).map(|&j| done[j]).unwrap_or(true))
        });
        match next {
            Some(i) => {
                done[i] = true;
                order.push(i);
            }
            // A cycle (only reachable with an unvalidated config): keep declaration order.
            None => {
                order.extend((0..cfg.overlays.len()).filter(|&i| !done[i]));
                break;
            }
        }
    }
    order
}

/// The build inputs of an image, with paths under `base` (empty: relative to the project
/// folder, as in the commands devenv prints and runs; the root: for fingerprinting).
pub fn image_build_inputs(
    base: &std::path::Path,
    img: &crate::config::schema::Image,
) -> crate::images::BuildInputs {
    let context = if base.as_os_str().is_empty() {
        std::path::PathBuf::from(&img.context)
    } else {
        base.join(&img.context)
    };
    let dockerfile = context.join(img.dockerfile.as_deref().unwrap_or("Dockerfile"));
    let mut inputs = crate::images::BuildInputs::new(context, dockerfile);
    inputs.target = img.target.clone();
    inputs.build_args = img.build_args.clone();
    inputs.labels = img.labels.clone();
    inputs.platform = img.platform.clone();
    inputs
}

/// How long devenv lets a command run whose own timeout is `secs` (kubectl --timeout, k3d
/// --timeout): a little longer, so the tool reports its own timeout first, but scaled, so a
/// short configured timeout also catches a hung tool quickly.
pub fn margin(secs: u64) -> u64 {
    secs + (secs / 10).clamp(2, 30)
}

/// The per-developer isolation of a shared cluster (provider = "existing"), else `None`.
pub fn isolation(loaded: &Loaded) -> Option<crate::tenancy::Isolation> {
    let c = &loaded.config.cluster;
    if c.provider != ClusterProvider::Existing {
        return None;
    }
    let owner = crate::tenancy::owner_name();
    let mapping =
        crate::tenancy::NamespaceMapping::new(&c.namespace_template, &owner, &loaded.project)
            .ok()?
            .with_shared(c.shared_namespaces.clone());
    let mut iso = crate::tenancy::Isolation::new(mapping);
    iso.allow_shared = c.allow_shared_objects;
    iso.cluster_kinds = c
        .cluster_scoped_kinds
        .iter()
        .map(|k| match k.split_once('.') {
            Some((kind, group)) => (group.to_string(), kind.to_string()),
            None => (String::new(), k.clone()),
        })
        .collect();
    Some(iso)
}
