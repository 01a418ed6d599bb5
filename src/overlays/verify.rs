//! `devenv verify`: is NetworkPolicy actually enforced in the cluster?
//!
//! In a throwaway namespace `devenv-verify-<random>`, a server pod listens on a TCP port
//! behind a NetworkPolicy that admits only pods labelled `devenv-probe=allowed`. Two
//! client Jobs try to connect: the allowed one must connect, the denied one must not.
//!
//! The probe program exists for both architectures nodes have: `probe/devenv-probe-x86_64`
//! (linux/amd64, source `probe/devenv-probe-x86_64.S`) and `probe/devenv-probe-aarch64`
//! (linux/arm64: Apple Silicon laptops, ARM CI runners; source `probe/devenv-probe-aarch64.S`),
//! each a 1.4 KB static Linux binary with no libc, shipped inside devenv (`probe/build.sh`
//! rebuilds both). [`write_probe_context`] writes both with a `FROM scratch` Dockerfile into
//! `.devenv/probe/`; the engine builds and pushes that one image to the local registry like
//! any image (the legacy builder and every buildx driver can build it: no platform, no
//! manifest list), so nothing is pulled from outside. The node architecture (read before the
//! pods are created) picks the program: the pods run `/devenv-probe-ARCH` with a
//! `kubernetes.io/arch` nodeSelector, so a cluster with mixed nodes runs it where it can.
//! Why not devenv itself or busybox: devenv's own binary is dynamically linked (no musl
//! target here) and is a Mach-O on macOS; a host busybox is not something devenv ships.
//!
//! The sequence the engine runs (each argv from [`VerifyProbe`]):
//! 1. `docker build` + `docker push` of the probe image (tag [`probe_image_tag`]);
//! 2. apply [`VerifyProbe::server_manifests`] (namespace, policy, Service, server pod),
//!    then [`VerifyProbe::server_ready_argv`]: the policy exists before the pod, and the
//!    clients start only once the server answers, so a refused connection means policy;
//! 3. apply [`VerifyProbe::client_manifests`], then [`VerifyProbe::clients_done_argv`]
//!    (both Jobs complete whatever they observed);
//! 4. [`VerifyProbe::results_argv`] and [`interpret_probe_results`];
//! 5. always, even after a failure: [`VerifyProbe::cleanup_argv`].
//!
//! If a wait times out, [`VerifyProbe::results_argv`] output still explains it
//! ([`interpret_probe_results`] reports pods that never ran, e.g. ImagePullBackOff).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use crate::deploy::{timeout_flag, write_atomic, DeployError};
use crate::kube::KubeTarget;

const SERVER: &str = include_str!("../../templates/verify/server.yaml");
const CLIENT: &str = include_str!("../../templates/verify/client.yaml");
const DOCKERFILE: &str = include_str!("../../templates/verify/Dockerfile");

/// The probe program for linux/amd64 nodes (see `probe/devenv-probe-x86_64.S`).
pub const PROBE_BINARY_X86_64: &[u8] = include_bytes!("../../probe/devenv-probe-x86_64");
/// The probe program for linux/arm64 nodes (see `probe/devenv-probe-aarch64.S`).
pub const PROBE_BINARY_AARCH64: &[u8] = include_bytes!("../../probe/devenv-probe-aarch64");

/// A node architecture the probe exists for, as Kubernetes names it
/// (`status.nodeInfo.architecture`, the `kubernetes.io/arch` label: Go's GOARCH).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProbeArch {
    Amd64,
    Arm64,
}

impl ProbeArch {
    pub const ALL: [ProbeArch; 2] = [ProbeArch::Amd64, ProbeArch::Arm64];

    /// From a node's `status.nodeInfo.architecture`.
    pub fn from_node(arch: &str) -> Option<ProbeArch> {
        match arch {
            "amd64" => Some(ProbeArch::Amd64),
            "arm64" => Some(ProbeArch::Arm64),
            _ => None,
        }
    }

    /// `amd64` / `arm64`.
    pub fn name(self) -> &'static str {
        match self {
            ProbeArch::Amd64 => "amd64",
            ProbeArch::Arm64 => "arm64",
        }
    }

    /// The static binary for this architecture.
    pub fn binary(self) -> &'static [u8] {
        match self {
            ProbeArch::Amd64 => PROBE_BINARY_X86_64,
            ProbeArch::Arm64 => PROBE_BINARY_AARCH64,
        }
    }

    /// Its file name in the build context and its path in the image.
    pub fn file_name(self) -> String {
        format!("devenv-probe-{}", self.name())
    }
}

/// Port the server listens on unless configured.
pub const DEFAULT_PROBE_PORT: u16 = 8080;
/// Repository name of the probe image in the local registry.
pub const PROBE_IMAGE_NAME: &str = "devenv-probe";

/// Connection attempts (2 s timeout each, 1 s apart). The allowed client stops at the
/// first success; the denied one keeps trying for about 15 s, so a policy that is
/// programmed late or not at all is caught.
const ALLOWED_ATTEMPTS: u32 = 10;
const DENIED_ATTEMPTS: u32 = 5;
/// A client Job that has not finished by then failed to run at all.
const CLIENT_DEADLINE_SECS: u32 = 120;

/// The two clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeClient {
    Allowed,
    Denied,
}

impl ProbeClient {
    pub fn label(self) -> &'static str {
        match self {
            ProbeClient::Allowed => "allowed",
            ProbeClient::Denied => "denied",
        }
    }
    fn job(self) -> String {
        format!("probe-{}", self.label())
    }
    fn attempts(self) -> u32 {
        match self {
            ProbeClient::Allowed => ALLOWED_ATTEMPTS,
            ProbeClient::Denied => DENIED_ATTEMPTS,
        }
    }
    fn should_connect(self) -> bool {
        self == ProbeClient::Allowed
    }
}

/// One run of the probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyProbe {
    pub namespace: String,
    /// Image reference as the nodes pull it (`localhost:5111/devenv-probe:TAG`).
    pub image: String,
    pub port: u16,
    /// The nodes it runs on (the program the pods run, their nodeSelector).
    pub arch: ProbeArch,
}

impl VerifyProbe {
    /// A probe in a fresh `devenv-verify-<random>` namespace, for amd64 nodes until
    /// [`VerifyProbe::on`] says otherwise.
    pub fn new(image: impl Into<String>, port: u16) -> VerifyProbe {
        VerifyProbe {
            namespace: format!("devenv-verify-{}", random_suffix()),
            image: image.into(),
            port,
            arch: ProbeArch::Amd64,
        }
    }

    /// The same probe for nodes of `arch`.
    pub fn on(self, arch: ProbeArch) -> VerifyProbe {
        VerifyProbe { arch, ..self }
    }

    fn fill(&self, template: &str) -> String {
        template
            .replace("{{namespace}}", &self.namespace)
            .replace("{{image}}", &self.image)
            .replace("{{port}}", &self.port.to_string())
            .replace("{{arch}}", self.arch.name())
            .replace("{{program}}", &format!("/{}", self.arch.file_name()))
    }

    /// Stage 1: Namespace, NetworkPolicy, Service, server Pod.
    pub fn server_manifests(&self) -> String {
        self.fill(SERVER)
    }

    /// Stage 2: the allowed and the denied client Jobs.
    pub fn client_manifests(&self) -> String {
        [ProbeClient::Allowed, ProbeClient::Denied]
            .iter()
            .map(|c| {
                self.fill(CLIENT)
                    .replace("{{role}}", c.label())
                    .replace("{{attempts}}", &c.attempts().to_string())
                    .replace("{{deadline}}", &CLIENT_DEADLINE_SECS.to_string())
            })
            .collect::<Vec<_>>()
            .join("---\n")
    }

    /// `-n NS wait --for=condition=Ready --timeout=Ns pod/probe-server`.
    pub fn server_ready_argv(&self, k: &KubeTarget, timeout: Duration) -> Vec<String> {
        let mut argv = ns_argv(k, &self.namespace);
        argv.extend([
            "wait".into(),
            "--for=condition=Ready".into(),
            timeout_flag(timeout),
        ]);
        argv.push("pod/probe-server".into());
        argv
    }

    /// `-n NS wait --for=condition=Complete --timeout=Ns job/probe-allowed job/probe-denied`.
    pub fn clients_done_argv(&self, k: &KubeTarget, timeout: Duration) -> Vec<String> {
        let mut argv = ns_argv(k, &self.namespace);
        argv.extend([
            "wait".into(),
            "--for=condition=Complete".into(),
            timeout_flag(timeout),
        ]);
        argv.extend(
            [ProbeClient::Allowed, ProbeClient::Denied].map(|c| format!("job/{}", c.job())),
        );
        argv
    }

    /// `-n NS get pods -l devenv-probe-role=client -o json`: input of
    /// [`interpret_probe_results`].
    pub fn results_argv(&self, k: &KubeTarget) -> Vec<String> {
        let mut argv = ns_argv(k, &self.namespace);
        argv.extend(
            [
                "get",
                "pods",
                "-l",
                "devenv-probe-role=client",
                "-o",
                "json",
            ]
            .map(String::from),
        );
        argv
    }

    /// `delete namespace NS --wait=false --ignore-not-found`: everything goes with it.
    pub fn cleanup_argv(&self, k: &KubeTarget) -> Vec<String> {
        k.delete_namespace_argv(&self.namespace)
    }
}

/// Both stages in one multi-document YAML (what `devenv verify --dry-run` would show).
pub fn render_verify(namespace: &str, image_ref: &str, port: u16, arch: ProbeArch) -> String {
    let probe = VerifyProbe {
        namespace: namespace.to_string(),
        image: image_ref.to_string(),
        port,
        arch,
    };
    format!(
        "{}---\n{}",
        probe.server_manifests(),
        probe.client_manifests()
    )
}

/// `.devenv/verify/namespace`: the probe namespace of a run in progress. Written before the
/// namespace is created and removed once it is deleted, so that a `verify` killed half-way
/// (SIGKILL, a closed terminal: no cleanup runs) leaves its name behind for the next run.
pub fn pending_namespace_file(state_dir: &Path) -> PathBuf {
    state_dir.join("verify").join("namespace")
}

/// Records `namespace` as created by the run in progress (see [`pending_namespace_file`]).
pub fn record_pending_namespace(state_dir: &Path, namespace: &str) -> std::io::Result<()> {
    let file = pending_namespace_file(state_dir);
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::state::write_atomic(&file, format!("{namespace}\n").as_bytes())
}

/// The probe namespace an interrupted run left behind, if any: only a name devenv itself
/// makes (`devenv-verify-` and 8 hex digits), so a tampered file cannot name another one.
pub fn leftover_namespace(state_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(pending_namespace_file(state_dir)).ok()?;
    let ns = text.trim();
    let suffix = ns.strip_prefix("devenv-verify-")?;
    (suffix.len() == 8 && suffix.bytes().all(|b| b.is_ascii_hexdigit())).then(|| ns.to_string())
}

/// The probe namespace is gone: forget it.
pub fn clear_pending_namespace(state_dir: &Path) {
    let _ = std::fs::remove_file(pending_namespace_file(state_dir));
}

/// `delete namespace NS --wait=false --ignore-not-found` for a leftover namespace.
pub fn leftover_cleanup_argv(k: &KubeTarget, namespace: &str) -> Vec<String> {
    k.delete_namespace_argv(namespace)
}

fn ns_argv(k: &KubeTarget, namespace: &str) -> Vec<String> {
    k.argv(&["-n", namespace])
}

/// 8 hex digits, different for every call (time, pid and a counter hashed).
fn random_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut h = blake3::Hasher::new();
    h.update(&nanos.to_le_bytes());
    h.update(&std::process::id().to_le_bytes());
    h.update(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    h.finalize().to_hex()[..8].to_string()
}

/// What a client observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    Connected,
    NoConnection,
    /// The client did not report (pod missing, never ran, crashed): the reason.
    Unknown(String),
}

/// One client's result against what the policy should do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeCheck {
    pub client: ProbeClient,
    pub observed: Observed,
}

impl ProbeCheck {
    pub fn passed(&self) -> bool {
        match self.observed {
            Observed::Connected => self.client.should_connect(),
            Observed::NoConnection => !self.client.should_connect(),
            Observed::Unknown(_) => false,
        }
    }
}

impl fmt::Display for ProbeCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.passed() { "ok  " } else { "FAIL" };
        let who = format!(
            "{} client (devenv-probe={})",
            self.client.label(),
            self.client.label()
        );
        match (&self.observed, self.client) {
            (Observed::Connected, ProbeClient::Allowed) => {
                write!(
                    f,
                    "{mark} {who} connected to the server, as the policy allows"
                )
            }
            (Observed::NoConnection, ProbeClient::Denied) => {
                write!(f, "{mark} {who} was refused, as the policy requires")
            }
            (Observed::NoConnection, ProbeClient::Allowed) => write!(
                f,
                "{mark} {who} could not connect although the policy allows it \
                 (pod networking, the Service or the policy's allow rule is broken)"
            ),
            (Observed::Connected, ProbeClient::Denied) => write!(
                f,
                "{mark} {who} connected although the policy denies it: \
                 NetworkPolicy is not enforced (is Calico running? flannel alone ignores policies)"
            ),
            (Observed::Unknown(why), _) => write!(f, "{mark} {who} gave no result: {why}"),
        }
    }
}

/// Every check of a run; passes only if each client saw what the policy dictates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeReport {
    pub checks: Vec<ProbeCheck>,
}

impl ProbeReport {
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(ProbeCheck::passed)
    }
}

impl fmt::Display for ProbeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, check) in self.checks.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{check}")?;
        }
        Ok(())
    }
}

/// Reads the client pods (`kubectl get pods -l devenv-probe-role=client -o json`): each
/// pod's `devenv-probe` label says which client it is, and its terminated container's
/// message (`connected` / `no-connection`) what it saw.
pub fn interpret_probe_results(pods_json: &str) -> ProbeReport {
    let pods: Vec<Json> = serde_json::from_str::<Json>(pods_json)
        .ok()
        .and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default();
    let checks = [ProbeClient::Allowed, ProbeClient::Denied]
        .into_iter()
        .map(|client| {
            let pod = pods.iter().find(|p| {
                p.pointer("/metadata/labels/devenv-probe")
                    .and_then(Json::as_str)
                    == Some(client.label())
            });
            ProbeCheck {
                client,
                observed: pod.map_or_else(
                    || Observed::Unknown(format!("no pod of job/{} was found", client.job())),
                    observed,
                ),
            }
        })
        .collect();
    ProbeReport { checks }
}

fn observed(pod: &Json) -> Observed {
    let status = pod["status"]["containerStatuses"]
        .as_array()
        .and_then(|s| s.first())
        .cloned()
        .unwrap_or(Json::Null);
    if let Some(t) = status.pointer("/state/terminated") {
        let message = t["message"].as_str().unwrap_or("").trim();
        let code = t["exitCode"].as_i64().unwrap_or(-1);
        return match (code, message) {
            (0, "connected") => Observed::Connected,
            (0, "no-connection") => Observed::NoConnection,
            _ => Observed::Unknown(format!(
                "the probe exited {code}{}",
                if message.is_empty() {
                    String::new()
                } else {
                    format!(": {message}")
                }
            )),
        };
    }
    if let Some(w) = status.pointer("/state/waiting") {
        let reason = w["reason"].as_str().unwrap_or("waiting");
        let message = w["message"]
            .as_str()
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        return Observed::Unknown(format!("its container is {reason}{message}"));
    }
    let phase = pod
        .pointer("/status/phase")
        .and_then(Json::as_str)
        .unwrap_or("Unknown");
    Observed::Unknown(format!("its pod is {phase} and has not finished"))
}

/// The image build context for the probe: `DIR/Dockerfile`, `DIR/devenv-probe-amd64` and
/// `DIR/devenv-probe-arm64`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeContext {
    pub dir: PathBuf,
    pub dockerfile: PathBuf,
}

/// Writes the probe's build context into `dir` (`.devenv/probe`).
pub fn write_probe_context(dir: &Path) -> Result<ProbeContext, DeployError> {
    // The program of an older devenv (one binary, amd64 only) is not part of the image.
    let _ = std::fs::remove_file(dir.join("devenv-probe"));
    for arch in ProbeArch::ALL {
        let binary = dir.join(arch.file_name());
        write_atomic(&binary, arch.binary())?;
        // The scratch image runs it as uid 65534: it must be executable by everyone.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).map_err(
            |source| DeployError::Write {
                path: binary.clone(),
                source,
            },
        )?;
    }
    let dockerfile = dir.join("Dockerfile");
    write_atomic(&dockerfile, DOCKERFILE.as_bytes())?;
    Ok(ProbeContext {
        dir: dir.to_path_buf(),
        dockerfile,
    })
}

/// Content tag of the probe image (first 12 hex digits of the sha256 of the Dockerfile
/// and the binaries): the same devenv version pushes the same tag, so it is built once.
pub fn probe_image_tag() -> String {
    let mut h = Sha256::new();
    h.update(DOCKERFILE.as_bytes());
    for arch in ProbeArch::ALL {
        h.update(arch.file_name().as_bytes());
        h.update(arch.binary());
    }
    hex::encode(h.finalize())[..12].to_string()
}

/// Why no node can run the verify probe.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoProbeNode {
    #[error("cannot read the nodes: {0}")]
    Unreadable(String),
    #[error("the cluster has no nodes")]
    NoNodes,
    #[error("the verify probe exists for linux/amd64 and linux/arm64; no node is either: {nodes}")]
    NoSupportedArch { nodes: String },
}

/// Which program the probe runs, from the nodes (`kubectl get nodes -o json`): the
/// architecture most Ready nodes have among those the probe exists for (amd64 on a tie);
/// the pods are pinned to it by a nodeSelector. [`NoProbeNode`] when no node can run it.
pub fn probe_arch_for_nodes(nodes_json: &str) -> Result<ProbeArch, NoProbeNode> {
    let nodes: Json =
        serde_json::from_str(nodes_json).map_err(|e| NoProbeNode::Unreadable(e.to_string()))?;
    let mut counts = std::collections::BTreeMap::<ProbeArch, usize>::new();
    let mut others = Vec::new();
    for n in nodes["items"].as_array().into_iter().flatten() {
        let arch = n
            .pointer("/status/nodeInfo/architecture")
            .and_then(Json::as_str)
            .unwrap_or("");
        match ProbeArch::from_node(arch) {
            Some(a) => *counts.entry(a).or_default() += 1,
            None => others.push(format!(
                "{} ({})",
                n.pointer("/metadata/name")
                    .and_then(Json::as_str)
                    .unwrap_or("?"),
                if arch.is_empty() { "unknown" } else { arch }
            )),
        }
    }
    // Ties go to the first in ALL order (amd64): max_by_key keeps the last maximum.
    match counts.iter().rev().max_by_key(|(_, n)| **n) {
        Some((arch, _)) => Ok(*arch),
        None if others.is_empty() => Err(NoProbeNode::NoNodes),
        None => Err(NoProbeNode::NoSupportedArch {
            nodes: others.join(", "),
        }),
    }
}

/// What k3s runs beside Calico on a k3d cluster, from each server node's `k3s.io/node-args`
/// annotation (the server's command line, written by k3s pkg/nodeconfig/nodeconfig.go
/// `SetNodeConfigAnnotations`, called from pkg/agent/run.go `configureNode`): without
/// `--flannel-backend=none` k3s starts flannel (pkg/agent/run.go: `if !nodeConfig.NoFlannel`),
/// a second CNI; without `--disable-network-policy` it starts its own NetworkPolicy
/// controller (kube-router's, pkg/agent/netpol/netpol.go), a second policy engine writing
/// iptables rules beside Calico's. Either way a passing probe proves nothing about Calico.
/// Empty when both are off, or when the nodes are not k3s (no annotation).
pub fn k3s_conflicts_with_calico(nodes_json: &str) -> Vec<String> {
    let Ok(nodes) = serde_json::from_str::<Json>(nodes_json) else {
        return vec![];
    };
    let mut out = Vec::new();
    for n in nodes["items"].as_array().into_iter().flatten() {
        let Some(args) = n
            .pointer("/metadata/annotations/k3s.io~1node-args")
            .and_then(Json::as_str)
            .and_then(|a| serde_json::from_str::<Vec<String>>(a).ok())
        else {
            continue;
        };
        if args.first().map(String::as_str) != Some("server") {
            continue; // agents take both settings from the server
        }
        // The last occurrence of a flag wins, as the k3s CLI parses it.
        let value = |flag: &str| -> Option<String> {
            let mut found = None;
            let mut it = args.iter().peekable();
            while let Some(a) = it.next() {
                if a == flag {
                    found = Some(match it.peek() {
                        Some(v) if !v.starts_with("--") => it.next().cloned().unwrap_or_default(),
                        _ => "true".to_string(),
                    });
                } else if let Some(v) = a.strip_prefix(&format!("{flag}=")) {
                    found = Some(v.to_string());
                }
            }
            found
        };
        let name = n
            .pointer("/metadata/name")
            .and_then(Json::as_str)
            .unwrap_or("?");
        if value("--flannel-backend").as_deref() != Some("none") {
            out.push(format!(
                "k3s on {name} runs flannel beside Calico (no --flannel-backend=none)"
            ));
        }
        if value("--disable-network-policy").as_deref() != Some("true") {
            out.push(format!(
                "k3s on {name} runs its own NetworkPolicy controller beside Calico (no --disable-network-policy)"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_yaml_ng::Value;

    fn docs(yaml: &str) -> Vec<Value> {
        serde_yaml_ng::Deserializer::from_str(yaml)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .filter(|v: &Value| !v.is_null())
            .collect()
    }

    fn probe() -> VerifyProbe {
        VerifyProbe {
            namespace: "devenv-verify-0a1b2c3d".into(),
            image: "localhost:5111/devenv-probe:abc".into(),
            port: 8080,
            arch: ProbeArch::Amd64,
        }
    }

    #[test]
    fn manifests_have_no_placeholder_left_and_the_policy_under_test() {
        let all = render_verify(
            "devenv-verify-x",
            "localhost:5111/devenv-probe:abc",
            9000,
            ProbeArch::Arm64,
        );
        assert!(!all.contains("{{"), "{all}");
        let d = docs(&all);
        let kinds: Vec<&str> = d.iter().map(|v| v["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            ["Namespace", "NetworkPolicy", "Service", "Pod", "Job", "Job"]
        );
        for v in &d[1..] {
            assert_eq!(v["metadata"]["namespace"], "devenv-verify-x");
        }
        let policy = &d[1]["spec"];
        assert_eq!(
            policy["podSelector"]["matchLabels"]["devenv-probe"],
            "server"
        );
        assert_eq!(
            policy["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["devenv-probe"],
            "allowed"
        );
        assert_eq!(policy["ingress"][0]["ports"][0]["port"], 9000);
        assert_eq!(d[3]["spec"]["containers"][0]["args"][1], "9000");
        // The arm64 program, on arm64 nodes only: server and both clients.
        for spec in [
            &d[3]["spec"],
            &d[4]["spec"]["template"]["spec"],
            &d[5]["spec"]["template"]["spec"],
        ] {
            assert_eq!(
                spec["containers"][0]["command"],
                docs("['/devenv-probe-arm64']")[0]
            );
            assert_eq!(spec["nodeSelector"]["kubernetes.io/arch"], "arm64");
            assert_eq!(spec["nodeSelector"]["kubernetes.io/os"], "linux");
        }
        assert_eq!(
            d[3]["spec"]["containers"][0]["image"],
            "localhost:5111/devenv-probe:abc"
        );
        let roles: Vec<&str> = d[4..]
            .iter()
            .map(|j| {
                j["spec"]["template"]["metadata"]["labels"]["devenv-probe"]
                    .as_str()
                    .unwrap()
            })
            .collect();
        assert_eq!(roles, ["allowed", "denied"]);
        assert_eq!(
            d[5]["spec"]["template"]["spec"]["containers"][0]["args"],
            docs("[connect, $(PROBE_SERVER_SERVICE_HOST), '9000', '5']")[0]
        );
    }

    #[test]
    fn a_leftover_namespace_is_remembered_until_deleted_and_only_a_probe_one() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(leftover_namespace(dir.path()), None);
        record_pending_namespace(dir.path(), "devenv-verify-0a1b2c3d").unwrap();
        assert_eq!(
            leftover_namespace(dir.path()).as_deref(),
            Some("devenv-verify-0a1b2c3d")
        );
        clear_pending_namespace(dir.path());
        assert_eq!(leftover_namespace(dir.path()), None);
        for bad in [
            "kube-system",
            "devenv-verify-../x",
            "devenv-verify-0a1b2c3dd",
        ] {
            record_pending_namespace(dir.path(), bad).unwrap();
            assert_eq!(leftover_namespace(dir.path()), None, "{bad}");
        }
    }

    #[test]
    fn namespaces_are_random_and_valid() {
        let a = VerifyProbe::new("i", 1).namespace;
        let b = VerifyProbe::new("i", 1).namespace;
        assert_ne!(a, b);
        assert!(a.starts_with("devenv-verify-") && a.len() == 22, "{a}");
    }

    #[test]
    fn argv_of_each_stage() {
        let k = KubeTarget {
            kubeconfig: Some("K".into()),
            context: "k3d-p".into(),
        };
        let p = probe();
        let base = "kubectl --kubeconfig K --context k3d-p -n devenv-verify-0a1b2c3d";
        assert_eq!(
            p.server_ready_argv(&k, Duration::from_secs(60)).join(" "),
            format!("{base} wait --for=condition=Ready --timeout=60s pod/probe-server")
        );
        assert_eq!(
            p.clients_done_argv(&k, Duration::from_secs(90)).join(" "),
            format!("{base} wait --for=condition=Complete --timeout=90s job/probe-allowed job/probe-denied")
        );
        assert_eq!(
            p.results_argv(&k).join(" "),
            format!("{base} get pods -l devenv-probe-role=client -o json")
        );
        assert_eq!(
            p.cleanup_argv(&k).join(" "),
            "kubectl --kubeconfig K --context k3d-p delete namespace devenv-verify-0a1b2c3d --wait=false --ignore-not-found"
        );
    }

    fn pod(role: &str, state: &str) -> String {
        format!(
            r#"{{"metadata":{{"labels":{{"devenv-probe":"{role}","devenv-probe-role":"client"}}}},
                "status":{{"phase":"Succeeded","containerStatuses":[{{"name":"client","state":{state}}}]}}}}"#
        )
    }

    fn pods(items: &[String]) -> String {
        format!(
            r#"{{"apiVersion":"v1","kind":"List","items":[{}]}}"#,
            items.join(",")
        )
    }

    const CONNECTED: &str =
        r#"{"terminated":{"exitCode":0,"message":"connected\n","reason":"Completed"}}"#;
    const REFUSED: &str =
        r#"{"terminated":{"exitCode":0,"message":"no-connection\n","reason":"Completed"}}"#;

    #[test]
    fn passes_only_when_allowed_connects_and_denied_does_not() {
        let ok =
            interpret_probe_results(&pods(&[pod("denied", REFUSED), pod("allowed", CONNECTED)]));
        assert!(ok.passed(), "{ok}");
        assert_eq!(
            ok.to_string(),
            "ok   allowed client (devenv-probe=allowed) connected to the server, as the policy allows\n\
             ok   denied client (devenv-probe=denied) was refused, as the policy requires"
        );

        let open = interpret_probe_results(&pods(&[
            pod("allowed", CONNECTED),
            pod("denied", CONNECTED),
        ]));
        assert!(!open.passed());
        assert!(open.checks[0].passed() && !open.checks[1].passed());
        assert!(
            open.to_string().contains("NetworkPolicy is not enforced"),
            "{open}"
        );

        let closed =
            interpret_probe_results(&pods(&[pod("allowed", REFUSED), pod("denied", REFUSED)]));
        assert!(!closed.passed());
        assert!(!closed.checks[0].passed() && closed.checks[1].passed());
    }

    #[test]
    fn missing_or_stuck_clients_fail_with_a_reason() {
        let pulling =
            r#"{"waiting":{"reason":"ImagePullBackOff","message":"Back-off pulling image"}}"#;
        let crashed = r#"{"terminated":{"exitCode":3,"message":""}}"#;
        let r = interpret_probe_results(&pods(&[pod("allowed", pulling), pod("denied", crashed)]));
        assert!(!r.passed());
        assert_eq!(
            r.checks[0].observed,
            Observed::Unknown("its container is ImagePullBackOff: Back-off pulling image".into())
        );
        assert_eq!(
            r.checks[1].observed,
            Observed::Unknown("the probe exited 3".into())
        );
        let none = interpret_probe_results(&pods(&[]));
        assert!(!none.passed());
        assert!(
            none.to_string().contains("no pod of job/probe-allowed"),
            "{none}"
        );
        assert!(!interpret_probe_results("garbage").passed());
    }

    #[test]
    fn k3s_flannel_or_policy_controller_beside_calico_is_found() {
        let nodes = |args: &[&str]| {
            let a = serde_json::to_string(&serde_json::to_string(args).unwrap()).unwrap();
            format!(
                r#"{{"items":[{{"metadata":{{"name":"s0","annotations":{{"k3s.io/node-args":{a}}}}}}}]}}"#
            )
        };
        let good = [
            "server",
            "--flannel-backend",
            "none",
            "--disable-network-policy",
            "--tls-san",
            "127.0.0.1",
        ];
        assert!(k3s_conflicts_with_calico(&nodes(&good)).is_empty());
        assert!(k3s_conflicts_with_calico(&nodes(&[
            "server",
            "--flannel-backend=none",
            "--disable-network-policy=true"
        ]))
        .is_empty());
        assert_eq!(
            k3s_conflicts_with_calico(&nodes(&["server", "--flannel-backend", "none"])),
            ["k3s on s0 runs its own NetworkPolicy controller beside Calico (no --disable-network-policy)"]
        );
        assert_eq!(
            k3s_conflicts_with_calico(&nodes(&[
                "server",
                "--disable-network-policy",
                "--disable-network-policy=false"
            ]))
            .len(),
            2
        );
        assert!(k3s_conflicts_with_calico(&nodes(&["agent"])).is_empty());
        assert!(k3s_conflicts_with_calico(r#"{"items":[{"metadata":{"name":"x"}}]}"#).is_empty());
    }

    #[test]
    fn the_node_architecture_picks_the_program() {
        let nodes = |archs: &[&str]| {
            let items: Vec<String> = archs
                .iter()
                .enumerate()
                .map(|(i, a)| format!(r#"{{"metadata":{{"name":"n{i}"}},"status":{{"nodeInfo":{{"architecture":"{a}"}}}}}}"#))
                .collect();
            format!(r#"{{"items":[{}]}}"#, items.join(","))
        };
        assert_eq!(
            probe_arch_for_nodes(&nodes(&["amd64"])),
            Ok(ProbeArch::Amd64)
        );
        assert_eq!(
            probe_arch_for_nodes(&nodes(&["arm64", "arm64"])),
            Ok(ProbeArch::Arm64)
        );
        // Mixed: where most nodes are (the nodeSelector keeps the pods there); a tie: amd64.
        assert_eq!(
            probe_arch_for_nodes(&nodes(&["amd64", "arm64", "arm64"])),
            Ok(ProbeArch::Arm64)
        );
        assert_eq!(
            probe_arch_for_nodes(&nodes(&["arm64", "amd64"])),
            Ok(ProbeArch::Amd64)
        );
        assert_eq!(
            probe_arch_for_nodes(&nodes(&["s390x", "arm64"])),
            Ok(ProbeArch::Arm64)
        );
        assert_eq!(
            probe_arch_for_nodes(&nodes(&["s390x"]))
                .unwrap_err()
                .to_string(),
            "the verify probe exists for linux/amd64 and linux/arm64; no node is either: n0 (s390x)"
        );
        assert!(probe_arch_for_nodes("[").is_err());
        // No node at all is its own message, not an empty list of unsupported ones.
        assert_eq!(
            probe_arch_for_nodes(&nodes(&[])).unwrap_err().to_string(),
            "the cluster has no nodes"
        );
    }

    #[test]
    fn probe_context_is_an_executable_static_binary_and_a_scratch_dockerfile() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let ctx = write_probe_context(&tmp.path().join("probe")).unwrap();
        // ELF e_machine: 62 = EM_X86_64, 183 = EM_AARCH64 (include/uapi/linux/elf-em.h).
        for (file, machine) in [("devenv-probe-amd64", 62), ("devenv-probe-arm64", 183)] {
            let bin = std::fs::read(ctx.dir.join(file)).unwrap();
            assert_eq!(&bin[..4], b"\x7fELF");
            assert_eq!(u16::from_le_bytes([bin[18], bin[19]]), machine, "{file}");
            let mode = std::fs::metadata(ctx.dir.join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o755);
        }
        let dockerfile = std::fs::read_to_string(&ctx.dockerfile).unwrap();
        assert!(dockerfile.contains("FROM scratch"));
        for file in ["devenv-probe-amd64", "devenv-probe-arm64"] {
            assert!(
                dockerfile.contains(&format!("COPY {file} /{file}")),
                "{dockerfile}"
            );
        }
        assert_eq!(probe_image_tag().len(), 12);
    }
}
