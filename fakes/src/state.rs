//! The simulated world both fakes share, kept in `$DEVENV_FAKE_STATE/state.json`.
//!
//! Readers load it without the lock (writes are atomic renames); writers hold the
//! directory lock for the whole read-modify-write.

use crate::common::{die_internal, lock_state, write_atomic, StateLock};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Serialize, Deserialize, Default, Debug, Clone)]
pub struct State {
    /// k3d clusters by name.
    #[serde(default)]
    pub clusters: BTreeMap<String, Cluster>,
    /// k3d registries by container name (`k3d-NAME`).
    #[serde(default)]
    pub registries: BTreeMap<String, Registry>,
    /// Monotonic counter for network numbers and random ports.
    #[serde(default)]
    pub seq: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct PortMapping {
    pub host_ip: String,
    pub host_port: String,
    pub container_port: String,
    pub proto: String,
    /// Node names the LB forwards to (proxy) or the node publishing it (direct).
    pub targets: Vec<String>,
    pub direct: bool,
    pub spec: String,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Cluster {
    pub name: String,
    pub created_ms: u64,
    pub servers: u32,
    pub agents: u32,
    pub image: String,
    pub api_host: String,
    pub api_host_ip: String,
    pub api_port: String,
    pub no_lb: bool,
    pub net: u64,
    pub token: String,
    #[serde(default)]
    pub ports: Vec<PortMapping>,
    /// k3s args per node name, in filter order.
    #[serde(default)]
    pub node_args: BTreeMap<String, Vec<String>>,
    /// Registry container names from `registries.use` / `--registry-use`.
    #[serde(default)]
    pub registries_use: Vec<String>,
    #[serde(default)]
    pub registries_config: Option<String>,
    /// Docker labels given with `--runtime-label` / `options.runtime.labels`, per node name
    /// (k3d-io/k3d v5.9.0 `pkg/config/transform.go`, "RUNTIME LABELS").
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_labels: BTreeMap<String, BTreeMap<String, String>>,
    /// A `k3d cluster create` still running (or killed half-way): the nodes it has not
    /// created yet, and whether it has started any (k3d creates every container, then
    /// starts them: `pkg/client/cluster.go` `ClusterCreate`, then `ClusterStart`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_nodes: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_started: bool,
    /// The Docker host's architecture when the cluster was created (`DEVENV_FAKE_ARCH`,
    /// empty: amd64); see `network::node_arch`.
    #[serde(default)]
    pub arch: String,
    /// Objects in the simulated API server.
    #[serde(default)]
    pub objects: Vec<Obj>,
    #[serde(default)]
    pub rv: u64,
}

impl Cluster {
    /// The Kubernetes version k3s reports (`v1.32.5+k3s1`), read from the image tag
    /// (`rancher/k3s:v1.32.5-k3s1`), as a node's kubeletVersion and the server's gitVersion.
    pub fn k3s_version(&self) -> String {
        self.image
            .rsplit(':')
            .next()
            .unwrap_or("v1.32.5-k3s1")
            .replacen("-k3s", "+k3s", 1)
    }
    pub fn server_names(&self) -> Vec<String> {
        (0..self.servers)
            .map(|i| format!("k3d-{}-server-{i}", self.name))
            .collect()
    }
    pub fn agent_names(&self) -> Vec<String> {
        (0..self.agents)
            .map(|i| format!("k3d-{}-agent-{i}", self.name))
            .collect()
    }
    pub fn lb_name(&self) -> String {
        format!("k3d-{}-serverlb", self.name)
    }
    pub fn context(&self) -> String {
        format!("k3d-{}", self.name)
    }
    pub fn server_url(&self) -> String {
        format!("https://{}:{}", self.api_host, self.api_port)
    }
}

/// One object stored by the simulated API server.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Obj {
    pub group: String,
    pub version: String,
    pub kind: String,
    #[serde(default)]
    pub namespace: Option<String>,
    pub name: String,
    /// The object as applied (metadata/status are filled in when read).
    pub body: Value,
    pub created_ms: u64,
    /// Last change of the pod template (or spec): the rollout clock starts here.
    pub rollout_ms: u64,
    pub generation: u64,
    pub uid: String,
    pub rv: u64,
    #[serde(default)]
    pub managers: Vec<String>,
    /// What each field manager last applied: the body is their merge (server-side apply
    /// keeps fields another manager set when one manager's apply omits them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub applied: BTreeMap<String, Value>,
    /// When a delete was accepted for an object that stays a while (a Namespace is
    /// Terminating until its content is gone: see [`crate::kube::namespace_termination_ms`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_ms: Option<u64>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Registry {
    /// Container name, `k3d-NAME`.
    pub name: String,
    pub host: String,
    pub host_ip: String,
    pub host_port: String,
    pub image: String,
    pub created_ms: u64,
    /// Docker networks the container is attached to (cluster networks first, `bridge` last).
    pub networks: Vec<String>,
    /// `--volume` values, as docker keeps them in HostConfig.Binds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
}

pub fn state_path(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

pub fn load(dir: &Path) -> State {
    let mut state: State = match std::fs::read(state_path(dir)) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| die_internal(&format!("corrupt state.json: {e}"))),
        Err(_) => State::default(),
    };
    let now = crate::common::now_ms();
    for c in state.clusters.values_mut() {
        crate::kube::finish_terminations(c, now);
    }
    state
}

/// The state under the directory lock, saved back with `save`.
pub struct Locked {
    pub state: State,
    dir: PathBuf,
    _lock: StateLock,
}

impl Locked {
    pub fn save(&self) {
        let text = serde_json::to_vec_pretty(&self.state).expect("serializable");
        write_atomic(&state_path(&self.dir), &text)
            .unwrap_or_else(|e| die_internal(&format!("cannot write state: {e}")));
    }
}

pub fn load_locked(dir: &Path) -> Locked {
    let lock = lock_state(dir);
    Locked {
        state: load(dir),
        dir: dir.to_path_buf(),
        _lock: lock,
    }
}
