//! The typed `devenv.toml`, version 1.
//!
//! Every table rejects unknown keys (`deny_unknown_fields`) and every field has a default,
//! so the smallest valid file is `version = 1`. These types are also the source of the JSON
//! Schema printed by `devenv config schema` (schemars), so editors and the loader agree.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The versions of devenv.toml this devenv reads.
pub const SUPPORTED_VERSIONS: &[i64] = &[1];
pub const CURRENT_VERSION: i64 = 1;

/// The root of devenv.toml (version 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Format version of this file. This devenv reads version 1.
    pub version: i64,
    #[serde(default)]
    pub project: Project,
    #[serde(default)]
    pub cluster: Cluster,
    #[serde(default)]
    pub registry: Registry,
    #[serde(default)]
    pub calico: Calico,
    /// Images built with Docker and pushed to the registry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
    /// Kustomize overlays, applied in the topological order of `depends_on`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overlays: Vec<Overlay>,
    /// Helm charts, rendered with `helm template` and deployed on the same path as overlays.
    /// Charts and overlays share one name space and one `depends_on` graph.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub charts: Vec<Chart>,
    /// Namespaces devenv creates before any overlay, keyed by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub namespaces: BTreeMap<String, Namespace>,
    #[serde(default)]
    pub build: Build,
    #[serde(default)]
    pub verify: Verify,
    #[serde(default)]
    pub run: Run,
    #[serde(default)]
    pub ci_cache: CiCache,
    #[serde(default, skip_serializing_if = "ToolVersions::is_empty")]
    pub tools: ToolVersions,
    /// Named partial configs merged over this file with `--profile NAME` / `DEVENV_PROFILE`.
    /// Only the source file carries them; the effective config never does.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub profiles: BTreeMap<String, toml::Table>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Project {
    /// DNS-1123 label (lowercase letters, digits, '-', at most 32 characters). Names the k3d
    /// cluster, the registry (`NAME-registry`) and the kube context (`k3d-NAME`).
    /// Default: the project folder's name, made DNS-safe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Folders outside the repository holding devenv.toml (its git root, or its folder when
    /// there is no git) that image contexts, Dockerfiles and overlays may use, relative to
    /// devenv.toml, e.g. `["../shared-infra"]`. Anything else outside is refused, so a cloned
    /// repository cannot build your home folder into an image. Not `/`, your home folder, or
    /// a folder holding the repository.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_paths_outside: Vec<String>,
}

/// Where the cluster comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterProvider {
    /// devenv creates a k3d cluster (the default).
    #[default]
    K3d,
    /// An existing cluster, reached through a kubeconfig context.
    Existing,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Cluster {
    /// `k3d` (devenv creates the cluster) or `existing` (use `context`).
    pub provider: ClusterProvider,
    /// Kubeconfig context of an existing cluster (provider = "existing").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Contexts devenv may deploy to (exact names or `*` globs), a guard against production.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_contexts: Vec<String>,
    /// Number of k3s servers (control-plane nodes).
    pub servers: u32,
    /// Number of k3s agents (worker nodes).
    pub agents: u32,
    /// Pinned k3s image (a tag is required; `latest` is refused).
    pub image: String,
    /// Host address the Kubernetes API is published on.
    pub api_host: String,
    /// Host port of the Kubernetes API.
    pub api_port: u16,
    /// Host port mappings, k3d syntax `[HOST:][HOSTPORT:]CONTAINERPORT[/PROTOCOL][@NODEFILTER]`,
    /// e.g. `8080:80@loadbalancer`. A mapping without a host address is bound to `api_host`.
    pub ports: Vec<String>,
    /// Pod network CIDR: k3s `--cluster-cidr` and the Calico IP pool.
    pub cidr: String,
    /// Service CIDR: k3s `--service-cidr`.
    pub service_cidr: String,
    /// Extra k3s arguments with the nodes they apply to.
    pub k3s_args: Vec<K3sArg>,
    /// Whether `devenv up` makes this cluster the current kubeconfig context.
    pub switch_context: bool,
    /// Whether the cluster's context is merged into your kubeconfig (KUBECONFIG or ~/.kube/config).
    /// devenv itself always uses `.devenv/kubeconfig`.
    pub merge_kubeconfig: bool,
    /// How long to wait for the cluster to be created and its API to answer.
    pub timeout: DurationStr,
    /// Shared clusters (provider = "existing"): the namespace each of your namespaces becomes,
    /// with `{namespace}` and `{owner}` (your user name, or DEVENV_OWNER), e.g. "{owner}-{namespace}".
    pub namespace_template: String,
    /// Shared clusters: namespaces used as they are (not per developer), e.g. ["monitoring"].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shared_namespaces: Vec<String>,
    /// Shared clusters: allow objects every developer shares (cluster-scoped kinds other than
    /// CRDs and Namespaces, or objects in shared namespaces). Off: such objects are refused.
    pub allow_shared_objects: bool,
    /// Shared clusters: extra cluster-scoped kinds, as "Kind.group" (built-in kinds are known).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cluster_scoped_kinds: Vec<String>,
}

pub const DEFAULT_K3S_IMAGE: &str = "docker.io/rancher/k3s:v1.32.5-k3s1";

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            provider: ClusterProvider::K3d,
            context: None,
            allowed_contexts: Vec::new(),
            servers: 1,
            agents: 2,
            image: DEFAULT_K3S_IMAGE.to_string(),
            api_host: "127.0.0.1".to_string(),
            api_port: 6550,
            ports: Vec::new(),
            cidr: "10.42.0.0/16".to_string(),
            service_cidr: "10.43.0.0/16".to_string(),
            k3s_args: Vec::new(),
            switch_context: false,
            merge_kubeconfig: true,
            timeout: DurationStr::secs(300),
            namespace_template: "{namespace}-{owner}".to_string(),
            shared_namespaces: Vec::new(),
            allow_shared_objects: false,
            cluster_scoped_kinds: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct K3sArg {
    /// The k3s flag, e.g. `--disable=traefik`.
    pub arg: String,
    /// k3d node filters, e.g. `server:*`, `agent:0,1`, `all`. Default: `server:*`.
    #[serde(default = "default_node_filters")]
    pub nodes: Vec<String>,
}

fn default_node_filters() -> Vec<String> {
    vec!["server:*".to_string()]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RegistryProvider {
    /// devenv creates a registry with k3d (the default).
    #[default]
    K3d,
    /// A registry that already exists (shared by a team); credentials come from Docker's config.
    External,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Registry {
    /// `k3d` (devenv creates it) or `external` (use `address`).
    pub provider: RegistryProvider,
    /// k3d registry name; its container is `k3d-NAME`. Default: `PROJECT-registry`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Host port the registry is published on (images are pushed to `localhost:PORT`).
    pub port: u16,
    /// Host address the registry binds to. Keep 127.0.0.1 unless the LAN must reach it.
    pub bind: String,
    /// External registry address to push to, e.g. `registry.example.com/team` (provider = "external").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Address the cluster pulls from, when it differs from `address`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_address: Option<String>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            provider: RegistryProvider::K3d,
            name: None,
            port: 5111,
            bind: "127.0.0.1".to_string(),
            address: None,
            pull_address: None,
        }
    }
}

/// Calico IP pool encapsulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum Encapsulation {
    /// VXLAN between every pair of nodes (no BGP needed inside Docker networks).
    #[default]
    VXLAN,
    VXLANCrossSubnet,
    IPIP,
    IPIPCrossSubnet,
    None,
}

impl fmt::Display for Encapsulation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Encapsulation::VXLAN => "VXLAN",
            Encapsulation::VXLANCrossSubnet => "VXLANCrossSubnet",
            Encapsulation::IPIP => "IPIP",
            Encapsulation::IPIPCrossSubnet => "IPIPCrossSubnet",
            Encapsulation::None => "None",
        };
        f.write_str(s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Calico {
    /// Calico release, e.g. `v3.32.1`. Versions devenv does not pin need `sha256`.
    pub version: String,
    /// IP pool encapsulation.
    pub encapsulation: Encapsulation,
    /// A folder holding `operator-crds.yaml` and `tigera-operator.yaml` (air-gapped use).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifests: Option<String>,
    /// sha256 of each manifest file, for a version devenv does not pin.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sha256: BTreeMap<String, String>,
    /// How long to wait for Calico and every node to be ready.
    pub timeout: DurationStr,
}

pub const DEFAULT_CALICO_VERSION: &str = "v3.32.1";

impl Default for Calico {
    fn default() -> Self {
        Calico {
            version: DEFAULT_CALICO_VERSION.to_string(),
            encapsulation: Encapsulation::VXLAN,
            manifests: None,
            sha256: BTreeMap::new(),
            timeout: DurationStr::secs(600),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// Repository name in the registry, e.g. `api` or `team/api`.
    pub name: String,
    /// Build context folder, relative to devenv.toml.
    pub context: String,
    /// Dockerfile, relative to the context (as `docker build -f`). Default: `Dockerfile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    /// Build stage (`docker build --target`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Build arguments (`--build-arg KEY=VALUE`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub build_args: BTreeMap<String, String>,
    /// Image labels (`--label KEY=VALUE`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Target platform, e.g. `linux/amd64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Extra tags pushed besides the content-addressed one, e.g. `dev`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The image reference your manifests use for this image (any tag or digest they carry is
    /// replaced), e.g. `ghcr.io/org/api`. Default: `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stands_for: Option<String>,
}

/// What to wait for after applying an overlay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum WaitSpec {
    /// `"auto"` (every Deployment, StatefulSet, DaemonSet rolled out and every Job complete)
    /// or `"none"`.
    Mode(String),
    /// Explicit objects, e.g. `["deployment/api", "job/migrate", "statefulset/db"]`.
    Objects(Vec<String>),
}

impl Default for WaitSpec {
    fn default() -> Self {
        WaitSpec::Mode("auto".to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Overlay {
    /// Name used by `depends_on` and `devenv apply NAME`.
    pub name: String,
    /// Kustomize folder (with a kustomization.yaml), relative to devenv.toml.
    pub path: String,
    /// Overlays applied and ready before this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// What to wait for before the next overlay: "auto", "none", or a list of `kind/name`.
    #[serde(default)]
    pub wait: WaitSpec,
    /// How long to wait for this overlay to be ready.
    #[serde(default = "default_overlay_timeout")]
    pub timeout: DurationStr,
}

/// A Helm chart: rendered with `helm template` (devenv applies the manifests, as Argo CD
/// does), so ordering, waits, pruning and shared-cluster isolation are the overlays' own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Chart {
    /// Name used by `depends_on` and `devenv apply NAME` (shared with overlays' names).
    pub name: String,
    /// A local chart folder (relative to devenv.toml), a chart name in the repository `repo`,
    /// or an OCI reference `oci://HOST/PATH/NAME`.
    pub chart: String,
    /// URL of the chart repository (`https://…`, the one `helm repo add` takes) when `chart`
    /// is a chart name in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// Exact chart version, e.g. `16.7.27` (required for `repo` and `oci://` charts: no
    /// ranges, no `latest`, so the environment is reproducible). Refused for a chart folder,
    /// which is rendered as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Values files relative to devenv.toml, merged in order (later wins).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Values set over the files (merged last). Dotted keys nest as with `helm --set`:
    /// `"auth.database" = "app"`.
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub set: toml::Table,
    /// Namespace of the release (`helm template --namespace`): the chart's namespaced
    /// objects without one land in it (default: the chart's objects keep theirs, else
    /// `default`). On a shared cluster it becomes one per developer, as overlays' do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Helm release name, at most 53 characters (Helm's limit). Default: `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// Charts and overlays applied and ready before this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// What to wait for before the next unit: "auto", "none", or a list of `kind/name`.
    #[serde(default)]
    pub wait: WaitSpec,
    /// How long to wait for this chart to be ready.
    #[serde(default = "default_overlay_timeout")]
    pub timeout: DurationStr,
}

impl Chart {
    /// The Helm release name: `release`, else `name`.
    pub fn release_name(&self) -> &str {
        self.release.as_deref().unwrap_or(&self.name)
    }
}

fn default_overlay_timeout() -> DurationStr {
    DurationStr::secs(300)
}

/// Pod Security Standards level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PodSecurity {
    Restricted,
    Baseline,
    Privileged,
}

impl PodSecurity {
    pub fn as_str(self) -> &'static str {
        match self {
            PodSecurity::Restricted => "restricted",
            PodSecurity::Baseline => "baseline",
            PodSecurity::Privileged => "privileged",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Namespace {
    /// Pod Security Standards level enforced (and warned, audited) in this namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_security: Option<PodSecurity>,
    /// Deny all ingress by default, and allow egress to DNS only.
    pub default_deny: bool,
    /// Extra labels on the namespace.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Build {
    /// How many images build at once. 0 = the number of CPUs, capped at 4.
    pub parallel: u32,
    /// Docker client program (e.g. `/usr/bin/docker` for BuildKit without buildx).
    pub docker: String,
    /// Kustomize program; default `kubectl kustomize`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kustomize: Option<String>,
    /// How long one image build may take.
    pub timeout: DurationStr,
}

impl Default for Build {
    fn default() -> Self {
        Build {
            parallel: 0,
            docker: "docker".to_string(),
            kustomize: None,
            timeout: DurationStr::secs(1200),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Verify {
    /// Run `devenv verify` at the end of `devenv up`.
    pub enabled: bool,
    /// How long the NetworkPolicy probe may take.
    pub timeout: DurationStr,
}

impl Default for Verify {
    fn default() -> Self {
        Verify {
            enabled: true,
            timeout: DurationStr::secs(180),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Run {
    /// Ask before anything destructive when on a terminal. `false` never asks (as in CI):
    /// a question that would be asked becomes an error naming the flag to pass.
    pub prompts: bool,
}

impl Default for Run {
    fn default() -> Self {
        Run { prompts: true }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CiCache {
    /// Run pull-through registry mirrors for the upstream registries the cluster pulls from.
    pub enabled: bool,
    /// Folder holding the mirrors' storage (keep it with `actions/cache`), relative to devenv.toml.
    pub dir: String,
    /// Upstream registries mirrored.
    pub upstreams: Vec<String>,
}

impl Default for CiCache {
    fn default() -> Self {
        CiCache {
            enabled: false,
            dir: ".devenv/cache/registry-mirror".to_string(),
            // What the nodes pull: k3s's system images (docker.io) and Calico (quay.io).
            upstreams: vec!["docker.io".to_string(), "quay.io".to_string()],
        }
    }
}

/// A duration written as text: `90s`, `5m`, `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationStr(pub Duration);

impl DurationStr {
    pub const fn secs(s: u64) -> Self {
        DurationStr(Duration::from_secs(s))
    }
    pub fn as_secs(self) -> u64 {
        self.0.as_secs()
    }
}

impl Serialize for DurationStr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

/// The longest duration devenv accepts: every wait devenv makes is bounded, and a longer one
/// (or an absurd one such as "300000000000years") would overflow the clock at run time.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);
/// [`MAX_DURATION`] as written in devenv.toml.
pub const MAX_DURATION_TEXT: &str = "24h";

impl<'de> Deserialize<'de> for DurationStr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = DurationStr;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration string such as \"5m\"")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<DurationStr, E> {
                parse_duration(text).map_err(E::custom)
            }
            // A number has no unit: say so (the loader turns this into a hint with one).
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<DurationStr, E> {
                Err(E::custom(DurationError::WithoutUnit(n.to_string())))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<DurationStr, E> {
                Err(E::custom(DurationError::WithoutUnit(n.to_string())))
            }
            fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<DurationStr, E> {
                Err(E::custom(DurationError::WithoutUnit(n.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

/// Why a duration is refused. The wording is what the loader reads back from serde's
/// message to word its help (config/load/humanize.rs, `duration`): keep the two in step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("duration without a unit: {0}")]
    WithoutUnit(String),
    #[error("duration too long {0:?} (more than the maximum, {MAX_DURATION_TEXT})")]
    TooLong(String),
    #[error("duration too short {0:?} (less than a second; devenv waits in whole seconds)")]
    TooShort(String),
    #[error("invalid duration {text:?} ({why})")]
    Invalid { text: String, why: String },
}

/// `"90s"`, `"5m"`, `"1h 30m"`, at most [`MAX_DURATION`].
fn parse_duration(text: &str) -> Result<DurationStr, DurationError> {
    match humantime::parse_duration(text.trim()) {
        Ok(d) if d > MAX_DURATION => Err(DurationError::TooLong(text.to_string())),
        // Waits are counted in whole seconds: "500ms" would become 0 s.
        Ok(d) if !d.is_zero() && d.as_secs() == 0 => Err(DurationError::TooShort(text.to_string())),
        Ok(d) => Ok(DurationStr(d)),
        Err(humantime::DurationError::NumberOverflow) => {
            Err(DurationError::TooLong(text.to_string()))
        }
        Err(e) => {
            // humantime lists every unit it knows; the help line says what to write.
            let why = e.to_string();
            let why = why
                .split(", supported units")
                .next()
                .unwrap_or(&why)
                .to_string();
            Err(DurationError::Invalid {
                text: text.to_string(),
                why,
            })
        }
    }
}

impl JsonSchema for DurationStr {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration such as \"90s\", \"5m\" or \"1h 30m\", from 1s to 24h.",
            "pattern": "^\\s*[0-9]+\\s*[a-zA-Z]+(\\s*[0-9]+\\s*[a-zA-Z]+)*\\s*$"
        })
    }
}

/// `[tools]`: the versions of k3d, kubectl and helm this project expects. Each is an exact
/// version (`"5.8.3"`), a release line (`"1.33"`: any 1.33.x) or a semver range
/// (`">=1.31, <1.34"`); pre-releases match only a spec that names one. `doctor` and
/// preflight refuse other versions (exit 3); `devenv up --install-tools` downloads exact
/// pins into devenv's cache and uses them from there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ToolVersions {
    /// k3d version, e.g. `"5.8.3"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k3d: Option<String>,
    /// kubectl version, e.g. `"1.33"` (any 1.33.x) or `"1.33.4"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubectl: Option<String>,
    /// helm version, e.g. `"3.18.6"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub helm: Option<String>,
}

impl ToolVersions {
    pub fn is_empty(&self) -> bool {
        self.k3d.is_none() && self.kubectl.is_none() && self.helm.is_none()
    }

    /// The spec for one tool.
    pub fn get(&self, tool: super::tools::Tool) -> Option<&str> {
        match tool {
            super::tools::Tool::K3d => self.k3d.as_deref(),
            super::tools::Tool::Kubectl => self.kubectl.as_deref(),
            super::tools::Tool::Helm => self.helm.as_deref(),
        }
    }
}
