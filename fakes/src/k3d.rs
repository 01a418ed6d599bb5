//! The fake `k3d` (v5.9.0): same commands, flags, outputs, exit codes as the real one for
//! everything devenv runs; containers and networks live in the shared state file.

use crate::common::{self, go_json_compact, hex_id, now_ms, rfc3339, scaled};
use crate::flags::{self, flag, Flag, Kind};
use crate::kubeconfig;
use crate::logrus::Logger;
use crate::state::{self, Cluster, PortMapping, Registry, State};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const K3D_VERSION: &str = "v5.9.0";
pub const K3S_VERSION: &str = "v1.32.5-k3s1";
const CREATE_MS: u64 = 20_000;

const GLOBAL: &[Flag] = &[
    flag(
        "timestamps",
        None,
        Kind::Bool,
        "false",
        "Enable Log timestamps",
    ),
    flag(
        "trace",
        None,
        Kind::Bool,
        "false",
        "Enable super verbose output (trace logging)",
    ),
    flag(
        "verbose",
        None,
        Kind::Bool,
        "false",
        "Enable verbose output (debug logging)",
    ),
];

fn help(name: &'static str) -> Flag {
    flag("help", Some('h'), Kind::Bool, "false", name)
}

struct Cmd {
    path: &'static [&'static str],
    aliases: &'static [&'static str],
    use_line: &'static str,
    flags: Vec<Flag>,
}

fn commands() -> Vec<Cmd> {
    let out_flag = |h: &'static str| flag("output", Some('o'), Kind::Str, "", h);
    vec![
        Cmd {
            path: &["version"],
            aliases: &[],
            use_line: "k3d version [flags]",
            flags: vec![help("help for version"), out_flag("This will return version information as a different format.  Only json is supported")],
        },
        Cmd {
            path: &["cluster", "create"],
            aliases: &[],
            use_line: "k3d cluster create NAME [flags]",
            flags: vec![
                help("help for create"),
                flag("api-port", None, Kind::Str, "", "Specify the Kubernetes API server port exposed on the LoadBalancer (Format: `[HOST:]HOSTPORT`)\n - Example: `k3d cluster create --servers 3 --api-port 0.0.0.0:6550`"),
                flag("agents", Some('a'), Kind::Int, "0", "Specify how many agents you want to create"),
                flag("agents-memory", None, Kind::Str, "", "Memory limit imposed on the agents nodes [From docker]"),
                flag("config", Some('c'), Kind::Str, "", "Path of a config file to use"),
                flag("env", Some('e'), Kind::StrArray, "[]", "Add environment variables to nodes (Format: `KEY[=VALUE][@NODEFILTER[;NODEFILTER...]]`"),
                flag("gpus", None, Kind::Str, "", "GPU devices to add to the cluster node containers ('all' to pass all GPUs) [From docker]"),
                flag("host-alias", None, Kind::StrArray, "[]", "Add `ip:host[,host,...]` mappings"),
                flag("host-pid-mode", None, Kind::Bool, "false", "Enable host pid mode of server(s) and agent(s)"),
                flag("image", Some('i'), Kind::Str, "", "Specify k3s image that you want to use for the nodes"),
                flag("k3s-arg", None, Kind::StrArray, "[]", "Additional args passed to k3s command (Format: `ARG@NODEFILTER[;@NODEFILTER]`)\n - Example: `k3d cluster create --k3s-arg \"--disable=traefik@server:0\"`"),
                flag("k3s-node-label", None, Kind::StrArray, "[]", "Add label to k3s node (Format: `KEY[=VALUE][@NODEFILTER[;NODEFILTER...]]`"),
                flag("kubeconfig-switch-context", None, Kind::Bool, "true", "Directly switch the default kubeconfig's current-context to the new cluster's context (requires --kubeconfig-update-default)"),
                flag("kubeconfig-update-default", None, Kind::Bool, "true", "Directly update the default kubeconfig with the new cluster's context"),
                flag("lb-config-override", None, Kind::StrArray, "[]", "Use dotted YAML path syntax to override nginx loadbalancer settings"),
                flag("network", None, Kind::Str, "", "Join an existing network"),
                flag("no-image-volume", None, Kind::Bool, "false", "Disable the creation of a volume for importing images"),
                flag("no-lb", None, Kind::Bool, "false", "Disable the creation of a LoadBalancer in front of the server nodes"),
                flag("no-rollback", None, Kind::Bool, "false", "Disable the automatic rollback actions, if anything goes wrong"),
                flag("port", Some('p'), Kind::StrArray, "[]", "Map ports from the node containers (via the serverlb) to the host (Format: `[HOST:][HOSTPORT:]CONTAINERPORT[/PROTOCOL][@NODEFILTER]`)\n - Example: `k3d cluster create --agents 2 -p 8080:80@agent:0 -p 8081@agent:1`"),
                flag("registry-config", None, Kind::Str, "", "Specify path to an extra registries.yaml file"),
                flag("registry-create", None, Kind::Str, "", "Create a k3d-managed registry and connect it to the cluster (Format: `NAME[:HOST][:HOSTPORT]`\n - Example: `k3d cluster create --registry-create mycluster-registry:0.0.0.0:5432`"),
                flag("registry-use", None, Kind::StrArray, "[]", "Connect to one or more k3d-managed registries running locally"),
                flag("runtime-label", None, Kind::StrArray, "[]", "Add label to container runtime (Format: `KEY[=VALUE][@NODEFILTER[;NODEFILTER...]]`"),
                flag("runtime-ulimit", None, Kind::StrArray, "[]", "Add ulimit to container runtime (Format: `NAME[=SOFT]:[HARD]`"),
                flag("servers", Some('s'), Kind::Int, "1", "Specify how many servers you want to create"),
                flag("servers-memory", None, Kind::Str, "", "Memory limit imposed on the server nodes [From docker]"),
                flag("subnet", None, Kind::Str, "", "[Experimental: IPAM] Define a subnet for the newly created container network (Example: `172.28.0.0/16`)"),
                flag("timeout", None, Kind::Duration, "0s", "Rollback changes if cluster couldn't be created in specified duration."),
                flag("token", None, Kind::Str, "", "Specify a cluster token. By default, we generate one."),
                flag("volume", Some('v'), Kind::StrArray, "[]", "Mount volumes into the nodes (Format: `[SOURCE:]DEST[@NODEFILTER[;NODEFILTER...]]`"),
                flag("wait", None, Kind::Bool, "true", "Wait for the server(s) to be ready before returning. Use '--timeout DURATION' to not wait forever."),
                flag("enforce-registry-port-match", None, Kind::Bool, "false", "Require the registry host port to match the registry's internal port"),
            ],
        },
        Cmd {
            path: &["cluster", "list"],
            aliases: &["list, ls, get"],
            use_line: "k3d cluster list [NAME [NAME...]] [flags]",
            flags: vec![
                help("help for list"),
                flag("no-headers", None, Kind::Bool, "false", "Disable headers"),
                out_flag("Output format. One of: json|yaml"),
                flag("token", None, Kind::Bool, "false", "Print k3s cluster token"),
            ],
        },
        Cmd {
            path: &["cluster", "delete"],
            aliases: &["delete, del, rm"],
            use_line: "k3d cluster delete [NAME [NAME ...] | --all] [flags]",
            flags: vec![
                help("help for delete"),
                flag("all", Some('a'), Kind::Bool, "false", "Delete all existing clusters"),
                flag("config", Some('c'), Kind::Str, "", "Path of a config file to use"),
            ],
        },
        Cmd {
            path: &["registry", "create"],
            aliases: &[],
            use_line: "k3d registry create NAME [flags]",
            flags: vec![
                help("help for create"),
                flag("default-network", None, Kind::Str, "bridge", "Specify the network connected to the registry"),
                flag("delete-enabled", None, Kind::Bool, "false", "Enable image deletion"),
                flag("enforce-port-match", None, Kind::Bool, "false", "Require the registry host port to match the registry's internal port"),
                flag("image", Some('i'), Kind::Str, "docker.io/library/registry:2", "Specify image used for the registry"),
                flag("no-help", None, Kind::Bool, "false", "Disable the help text (How-To use the registry)"),
                flag("port", Some('p'), Kind::Str, "random", "Select which port the registry should be listening on on your machine (localhost) (Format: `[HOST:]HOSTPORT`)\n - Example: `k3d registry create --port 0.0.0.0:5111`"),
                flag("proxy-password", None, Kind::Str, "", "Specify the password of the proxied remote registry"),
                flag("proxy-remote-url", None, Kind::Str, "", "Specify the url of the proxied remote registry"),
                flag("proxy-username", None, Kind::Str, "", "Specify the username of the proxied remote registry"),
                flag("volume", Some('v'), Kind::StrArray, "[]", "Mount volumes into the registry node (Format: `[SOURCE:]DEST`"),
            ],
        },
        Cmd {
            path: &["registry", "list"],
            aliases: &["list, ls, get"],
            use_line: "k3d registry list [NAME [NAME...]] [flags]",
            flags: vec![help("help for list"), flag("no-headers", None, Kind::Bool, "false", "Disable headers"), out_flag("Output format. One of: json|yaml")],
        },
        Cmd {
            path: &["registry", "delete"],
            aliases: &["delete, del, rm"],
            use_line: "k3d registry delete (NAME | --all) [flags]",
            flags: vec![help("help for delete"), flag("all", Some('a'), Kind::Bool, "false", "Delete all existing registries")],
        },
        Cmd {
            path: &["node", "list"],
            aliases: &["list, ls, get"],
            use_line: "k3d node list [NODE [NODE...]] [flags]",
            flags: vec![help("help for list"), flag("no-headers", None, Kind::Bool, "false", "Disable headers"), out_flag("Output format. One of: json|yaml")],
        },
        Cmd {
            path: &["kubeconfig", "get"],
            aliases: &["get, print, show"],
            use_line: "k3d kubeconfig get [CLUSTER [CLUSTER [...]] | --all] [flags]",
            flags: vec![help("help for get"), flag("all", Some('a'), Kind::Bool, "false", "Output kubeconfigs from all existing clusters")],
        },
        Cmd {
            path: &["kubeconfig", "merge"],
            aliases: &["merge, write"],
            use_line: "k3d kubeconfig merge [CLUSTER [CLUSTER [...]] | --all] [flags]",
            flags: vec![
                help("help for merge"),
                flag("all", Some('a'), Kind::Bool, "false", "Get kubeconfigs from all existing clusters"),
                flag("kubeconfig-merge-default", Some('d'), Kind::Bool, "false", "Merge into the default kubeconfig ($KUBECONFIG or $HOME/.kube/config)"),
                flag("kubeconfig-switch-context", Some('s'), Kind::Bool, "true", "Switch to new context"),
                out_flag("Define output [ - | FILE ] (default from $KUBECONFIG or $HOME/.kube/config"),
                flag("overwrite", None, Kind::Bool, "false", "[Careful!] Overwrite existing file, ignoring its contents"),
                flag("update", Some('u'), Kind::Bool, "true", "Update conflicting fields in existing kubeconfig"),
            ],
        },
    ]
}

const GROUPS: &[(&str, &[(&str, &str)])] = &[
    (
        "cluster",
        &[
            ("create", "Create a new cluster"),
            ("delete", "Delete cluster(s)."),
            ("edit", "[EXPERIMENTAL] Edit cluster(s)."),
            ("list", "List cluster(s)"),
            ("start", "Start existing k3d cluster(s)"),
            ("stop", "Stop existing k3d cluster(s)"),
        ],
    ),
    (
        "registry",
        &[
            ("create", "Create a new registry"),
            ("delete", "Delete registry/registries."),
            ("list", "List registries"),
        ],
    ),
    (
        "node",
        &[
            ("create", "Create a new k3s node in docker"),
            ("delete", "Delete node(s)."),
            ("edit", "[EXPERIMENTAL] Edit node(s)."),
            ("list", "List node(s)"),
            ("start", "Start an existing k3d node"),
            ("stop", "Stop an existing k3d node"),
        ],
    ),
    (
        "kubeconfig",
        &[
            ("get", "Print kubeconfig(s) from cluster(s)."),
            (
                "merge",
                "Write/Merge kubeconfig(s) from cluster(s) into new or existing kubeconfig/file.",
            ),
        ],
    ),
];

const ROOT_COMMANDS: &[(&str, &str)] = &[
    ("cluster", "Manage cluster(s)"),
    (
        "completion",
        "Generate completion scripts for [bash, zsh, fish, powershell | psh]",
    ),
    ("config", "Work with config file(s)"),
    ("help", "Help about any command"),
    ("image", "Handle container images."),
    ("kubeconfig", "Manage kubeconfig(s)"),
    ("node", "Manage node(s)"),
    ("registry", "Manage registry/registries"),
    ("version", "Show k3d and default k3s version"),
];

fn canonical(word: &str) -> &str {
    match word {
        "ls" | "get" => "list",
        "del" | "rm" => "delete",
        "write" => "merge",
        "print" | "show" => "get",
        "registries" | "reg" => "registry",
        "clusters" => "cluster",
        "nodes" => "node",
        other => other,
    }
}

fn cmd_path(words: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if i == 0 {
            out.push(canonical(w).to_string());
        } else if out[0] == "kubeconfig" {
            // `kubeconfig get` keeps its name; its aliases are print/show.
            out.push(match w.as_str() {
                "write" => "merge".into(),
                "print" | "show" => "get".into(),
                x => x.to_string(),
            });
        } else {
            out.push(canonical(w).to_string());
        }
    }
    out
}

/// Cobra's error path: `Error: ...`, the usage, then the fatal line.
fn cobra_error(msg: &str, usage: &str, logger: &Logger) -> ! {
    eprintln!("Error: {msg}");
    eprintln!("{usage}");
    logger.fatal(msg)
}

pub fn main(argv: Vec<String>) -> i32 {
    let dir = common::state_dir();
    common::record_call(&dir, "k3d", &argv);
    common::apply_faults(&dir, "k3d", &argv);
    let cmds = commands();
    let is_cmd = |w: &[String]| {
        let p = cmd_path(w);
        (p.len() == 1
            && (ROOT_COMMANDS.iter().any(|(n, _)| *n == p[0])
                || GROUPS.iter().any(|(g, _)| *g == p[0])))
            || (p.len() == 2
                && cmds
                    .iter()
                    .any(|c| c.path == p.iter().map(String::as_str).collect::<Vec<_>>().as_slice()))
    };
    let mut root_flags = GLOBAL.to_vec();
    root_flags.push(help("help for k3d"));
    root_flags.push(flag(
        "version",
        None,
        Kind::Bool,
        "false",
        "Show k3d and default k3s version",
    ));
    let (words, rest) = flags::command_words(&root_flags, &argv, is_cmd);
    let path = cmd_path(&words);
    let path_ref: Vec<&str> = path.iter().map(String::as_str).collect();

    let Some(cmd) = cmds.iter().find(|c| c.path == path_ref.as_slice()) else {
        return group_or_root(&path, &rest, &root_flags);
    };
    let mut all_flags = cmd.flags.clone();
    all_flags.extend(GLOBAL.iter().cloned());
    let usage = flags::cobra_usage(
        cmd.use_line,
        cmd.aliases.first().copied().unwrap_or(""),
        &cmd.flags,
        GLOBAL,
        &[],
        "",
    );
    let parsed = match flags::parse(&all_flags, &rest) {
        Ok(p) => p,
        Err(e) => cobra_error(&e, &usage, &Logger::default_logrus()),
    };
    if parsed.bool("help", false) {
        print!("{usage}");
        return 0;
    }
    let log = Logger::k3d();
    let arg_error = |msg: &str| -> ! { cobra_error(msg, &usage, &log) };
    let ctx = Ctx {
        dir: &dir,
        log: &log,
    };
    match path_ref.as_slice() {
        ["version"] => version(&parsed),
        ["cluster", "create"] => {
            if parsed.args.len() > 1 {
                arg_error(&format!(
                    "accepts between 0 and 1 arg(s), received {}",
                    parsed.args.len()
                ));
            }
            ctx.cluster_create(&parsed)
        }
        ["cluster", "list"] => ctx.cluster_list(&parsed),
        ["cluster", "delete"] => ctx.cluster_delete(&parsed),
        ["registry", "create"] => {
            if parsed.args.len() > 1 {
                arg_error(&format!(
                    "accepts at most 1 arg(s), received {}",
                    parsed.args.len()
                ));
            }
            ctx.registry_create(&parsed)
        }
        ["registry", "list"] => ctx.registry_list(&parsed),
        ["registry", "delete"] => ctx.registry_delete(&parsed),
        ["node", "list"] => ctx.node_list(&parsed),
        ["kubeconfig", "get"] => {
            if parsed.args.is_empty() != parsed.bool("all", false) {
                arg_error("need to specify one or more cluster names *or* set `--all` flag");
            }
            ctx.kubeconfig_get(&parsed)
        }
        ["kubeconfig", "merge"] => ctx.kubeconfig_merge(&parsed),
        _ => unreachable!(),
    }
}

fn group_or_root(path: &[String], rest: &[String], root_flags: &[Flag]) -> i32 {
    let parsed = flags::parse(root_flags, rest);
    if path.is_empty() {
        let root_usage = flags::cobra_usage(
            "k3d",
            "",
            &[
                help("help for k3d"),
                flag(
                    "version",
                    None,
                    Kind::Bool,
                    "false",
                    "Show k3d and default k3s version",
                ),
            ],
            GLOBAL,
            ROOT_COMMANDS,
            "k3d",
        );
        match parsed {
            Err(e) => cobra_error(&e, &root_usage, &Logger::default_logrus()),
            Ok(p) if p.bool("version", false) => {
                print!("k3d version {K3D_VERSION}\nk3s version {K3S_VERSION} (default)\n");
                0
            }
            Ok(p) if !p.args.is_empty() => {
                let msg = format!(
                    "unknown command \"{}\" for \"k3d\"\nRun 'k3d --help' for usage.",
                    p.args[0]
                );
                eprintln!("Error: {msg}");
                Logger::default_logrus()
                    .fatal(&format!("unknown command \"{}\" for \"k3d\"", p.args[0]))
            }
            Ok(_) => {
                print!("https://k3d.io/\nk3d is a wrapper CLI that helps you to easily create k3s clusters inside docker.\nNodes of a k3d cluster are docker containers running a k3s image.\nAll Nodes of a k3d cluster are part of the same docker network.\n\n{root_usage}");
                0
            }
        }
    } else {
        let group = path[0].as_str();
        let subs = GROUPS
            .iter()
            .find(|(g, _)| *g == group)
            .map(|(_, s)| *s)
            .unwrap_or(&[]);
        let usage = flags::cobra_usage(
            "",
            "",
            &[help(Box::leak(
                format!("help for {group}").into_boxed_str(),
            ))],
            GLOBAL,
            subs,
            Box::leak(format!("k3d {group}").into_boxed_str()),
        );
        match parsed {
            Err(e) => cobra_error(&e, &usage, &Logger::default_logrus()),
            Ok(p) if !p.args.is_empty() && !subs.is_empty() => {
                eprintln!(
                    "Error: unknown command \"{}\" for \"k3d {group}\"\nRun 'k3d {group} --help' for usage.",
                    p.args[0]
                );
                Logger::default_logrus().fatal(&format!(
                    "unknown command \"{}\" for \"k3d {group}\"",
                    p.args[0]
                ))
            }
            Ok(_) => {
                print!("{usage}");
                0
            }
        }
    }
}

fn version(p: &flags::Parsed) -> i32 {
    match p.str("output").unwrap_or("") {
        "json" => {
            println!("{{\"k3d\":\"{K3D_VERSION}\",\"k3s\":\"{K3S_VERSION}\"}}");
        }
        "" => print!("k3d version {K3D_VERSION}\nk3s version {K3S_VERSION} (default)\n"),
        other => Logger::k3d().fatal(&format!("Unknown output format '{other}'")),
    }
    0
}

// ---------------------------------------------------------------------------------------
// JSON shapes (k3d pkg/types, encoded by encoding/json in field order)

#[derive(Serialize, Clone)]
struct Binding {
    #[serde(rename = "HostIp")]
    host_ip: String,
    #[serde(rename = "HostPort")]
    host_port: String,
}

#[derive(Serialize, Clone)]
struct KubeApi {
    #[serde(rename = "Port")]
    port: String,
    #[serde(rename = "Binding")]
    binding: Binding,
    #[serde(skip_serializing_if = "String::is_empty")]
    host: String,
}

#[derive(Serialize, Clone)]
struct ServerOpts {
    #[serde(
        rename = "isInitializingServer",
        skip_serializing_if = "std::ops::Not::not"
    )]
    is_init: bool,
    #[serde(rename = "kubeAPI")]
    kube_api: KubeApi,
}

#[derive(Serialize, Clone)]
struct Empty {}

#[derive(Serialize, Clone)]
struct NodeState {
    #[serde(rename = "Running")]
    running: bool,
    #[serde(rename = "Status")]
    status: String,
    #[serde(rename = "Started")]
    started: String,
}

#[derive(Serialize, Clone)]
struct NodeIp {
    #[serde(rename = "IP")]
    ip: String,
    #[serde(rename = "Static")]
    is_static: bool,
}

#[derive(Serialize, Clone)]
struct LbConfig {
    ports: BTreeMap<String, Vec<String>>,
    settings: LbSettings,
}

#[derive(Serialize, Clone)]
struct LbSettings {
    #[serde(rename = "workerConnections")]
    worker_connections: u32,
}

#[derive(Serialize, Clone)]
struct NodeJson {
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    role: String,
    image: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volumes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    env: Vec<String>,
    #[serde(rename = "Cmd")]
    cmd: Option<Vec<String>>,
    #[serde(rename = "portMappings", skip_serializing_if = "BTreeMap::is_empty")]
    port_mappings: BTreeMap<String, Vec<Binding>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    restart: bool,
    created: String,
    #[serde(rename = "runtimeLabels")]
    runtime_labels: BTreeMap<String, String>,
    #[serde(rename = "Networks")]
    networks: Vec<String>,
    #[serde(rename = "ExtraHosts")]
    extra_hosts: Option<Vec<String>>,
    #[serde(rename = "serverOpts")]
    server_opts: ServerOpts,
    #[serde(rename = "agentOpts")]
    agent_opts: Empty,
    #[serde(rename = "GPURequest")]
    gpu_request: String,
    #[serde(rename = "Memory")]
    memory: String,
    #[serde(rename = "State")]
    state: NodeState,
    #[serde(rename = "IP")]
    ip: NodeIp,
    #[serde(rename = "K3dEntrypoint")]
    k3d_entrypoint: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<LbConfig>,
}

#[derive(Serialize)]
struct Ipam {
    #[serde(rename = "ipPrefix")]
    ip_prefix: String,
    #[serde(rename = "Managed")]
    managed: bool,
}

#[derive(Serialize)]
struct NetworkJson {
    name: String,
    id: String,
    #[serde(rename = "isExternal", skip_serializing_if = "std::ops::Not::not")]
    is_external: bool,
    ipam: Ipam,
    #[serde(rename = "Members")]
    members: Option<Vec<Value>>,
}

#[derive(Serialize)]
struct ClusterJson {
    name: String,
    network: NetworkJson,
    #[serde(rename = "clusterToken", skip_serializing_if = "String::is_empty")]
    token: String,
    nodes: Vec<NodeJson>,
    #[serde(rename = "InitNode")]
    init_node: Option<NodeJson>,
    #[serde(rename = "serverLoadBalancer", skip_serializing_if = "Option::is_none")]
    server_load_balancer: Option<NodeJson>,
    #[serde(rename = "imageVolume")]
    image_volume: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volumes: Vec<String>,
    #[serde(rename = "serversRunning")]
    servers_running: u32,
    #[serde(rename = "serversCount")]
    servers_count: u32,
    #[serde(rename = "agentsRunning")]
    agents_running: u32,
    #[serde(rename = "agentsCount")]
    agents_count: u32,
    #[serde(rename = "hasLoadbalancer", skip_serializing_if = "std::ops::Not::not")]
    has_loadbalancer: bool,
}

fn image_id(image: &str) -> String {
    format!("sha256:{}", hex_id(image, 64))
}

fn empty_server_opts() -> ServerOpts {
    ServerOpts {
        is_init: false,
        kube_api: KubeApi {
            port: String::new(),
            binding: Binding {
                host_ip: String::new(),
                host_port: String::new(),
            },
            host: String::new(),
        },
    }
}

fn running() -> NodeState {
    NodeState {
        running: true,
        status: "running".into(),
        started: String::new(),
    }
}

fn network_id(c: &Cluster) -> String {
    hex_id(&format!("network {} {}", c.name, c.net), 64)
}

fn cluster_labels(c: &Cluster, role: &str) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    l.insert("k3d.cluster".into(), c.name.clone());
    l.insert(
        "k3d.cluster.imageVolume".into(),
        format!("k3d-{}-images", c.name),
    );
    l.insert("k3d.cluster.network".into(), format!("k3d-{}", c.name));
    l.insert("k3d.cluster.network.external".into(), "false".into());
    l.insert("k3d.cluster.network.id".into(), network_id(c));
    l.insert(
        "k3d.cluster.network.iprange".into(),
        format!("172.{}.0.0/16", 18 + c.net % 200),
    );
    l.insert("k3d.cluster.token".into(), c.token.clone());
    l.insert(
        "k3d.cluster.url".into(),
        format!("https://k3d-{}-server-0:6443", c.name),
    );
    l.insert("k3d.role".into(), role.into());
    l.insert(
        "k3d.server.loadbalancer".into(),
        if c.no_lb { String::new() } else { c.lb_name() },
    );
    l.insert("k3d.version".into(), K3D_VERSION.into());
    l
}

fn node_ip(c: &Cluster, index: u32) -> String {
    format!("172.{}.0.{}", 18 + c.net % 200, 3 + index)
}

/// The cluster's containers in creation order (servers, agents, serverlb).
fn cluster_nodes(c: &Cluster) -> Vec<NodeJson> {
    let mut nodes = Vec::new();
    let k3s_env_tail = [
        "K3S_KUBECONFIG_OUTPUT=/output/kubeconfig.yaml",
        "PATH=/bin:/usr/bin:/sbin:/usr/sbin:/bin/aux",
        "CRI_CONFIG_FILE=/var/lib/rancher/k3s/agent/etc/crictl.yaml",
    ];
    let mut idx = 0;
    let api_binding = Binding {
        host_ip: c.api_host_ip.clone(),
        host_port: c.api_port.clone(),
    };
    for (i, name) in c.server_names().iter().enumerate() {
        let mut labels = cluster_labels(c, "server");
        labels.insert("k3d.server.api.host".into(), c.api_host.clone());
        labels.insert("k3d.server.api.hostIP".into(), c.api_host_ip.clone());
        labels.insert("k3d.server.api.port".into(), c.api_port.clone());
        if c.servers > 1 {
            labels.insert("k3d.server.init".into(), (i == 0).to_string());
        }
        let mut cmd = vec!["server".to_string()];
        cmd.extend(c.node_args.get(name).cloned().unwrap_or_default());
        cmd.extend(["--tls-san".to_string(), c.api_host.clone()]);
        if !c.no_lb {
            cmd.extend(["--tls-san".to_string(), c.lb_name()]);
        }
        let mut env = vec![format!("K3S_TOKEN={}", c.token)];
        env.extend(k3s_env_tail.iter().map(|s| s.to_string()));
        let mut ports = direct_ports(c, name);
        if c.no_lb && i == 0 {
            ports.insert("6443/tcp".into(), vec![api_binding.clone()]);
        }
        nodes.push(NodeJson {
            name: name.clone(),
            role: "server".into(),
            image: image_id(&c.image),
            volumes: vec![format!("k3d-{}-images:/k3d/images", c.name)],
            env,
            cmd: Some(cmd),
            port_mappings: ports,
            restart: true,
            created: rfc3339(c.created_ms + 10 * idx as u64 + 7, 0, true),
            runtime_labels: labels,
            networks: vec![format!("k3d-{}", c.name)],
            extra_hosts: None,
            server_opts: ServerOpts {
                is_init: c.servers > 1 && i == 0,
                kube_api: KubeApi {
                    port: String::new(),
                    binding: api_binding.clone(),
                    host: c.api_host.clone(),
                },
            },
            agent_opts: Empty {},
            gpu_request: String::new(),
            memory: String::new(),
            state: running(),
            ip: NodeIp {
                ip: node_ip(c, idx),
                is_static: false,
            },
            k3d_entrypoint: false,
            config: None,
        });
        idx += 1;
    }
    for name in c.agent_names() {
        let mut cmd = vec!["agent".to_string()];
        cmd.extend(c.node_args.get(&name).cloned().unwrap_or_default());
        let mut env = vec![
            format!("K3S_TOKEN={}", c.token),
            format!("K3S_URL=https://k3d-{}-server-0:6443", c.name),
        ];
        env.extend(k3s_env_tail.iter().map(|s| s.to_string()));
        nodes.push(NodeJson {
            name: name.clone(),
            role: "agent".into(),
            image: image_id(&c.image),
            volumes: vec![format!("k3d-{}-images:/k3d/images", c.name)],
            env,
            cmd: Some(cmd),
            port_mappings: direct_ports(c, &name),
            restart: true,
            created: rfc3339(c.created_ms + 10 * idx as u64 + 7, 0, true),
            runtime_labels: cluster_labels(c, "agent"),
            networks: vec![format!("k3d-{}", c.name)],
            extra_hosts: None,
            server_opts: empty_server_opts(),
            agent_opts: Empty {},
            gpu_request: String::new(),
            memory: String::new(),
            state: running(),
            ip: NodeIp {
                ip: node_ip(c, idx),
                is_static: false,
            },
            k3d_entrypoint: false,
            config: None,
        });
        idx += 1;
    }
    if !c.no_lb {
        nodes.push(lb_node(c, idx, false));
    }
    nodes.retain(|n| !c.missing_nodes.contains(&n.name));
    for n in &mut nodes {
        if c.not_started {
            n.state = NodeState {
                running: false,
                status: "created".into(),
                started: String::new(),
            };
        }
        user_labels(c, n);
    }
    nodes
}

/// The node's `--runtime-label`s, as `k3d node list` shows them: only keys starting with
/// `k3d` (k3d-io/k3d v5.9.0 `pkg/runtimes/docker/translate.go`
/// `TranslateContainerDetailsToNode`: "labels: only copy k3d.* labels",
/// `if strings.HasPrefix(k, "k3d")`).
fn user_labels(c: &Cluster, n: &mut NodeJson) {
    for (k, v) in c.node_labels.get(&n.name).into_iter().flatten() {
        if k.starts_with("k3d") {
            n.runtime_labels.insert(k.clone(), v.clone());
        }
    }
}

fn direct_ports(c: &Cluster, node: &str) -> BTreeMap<String, Vec<Binding>> {
    let mut m: BTreeMap<String, Vec<Binding>> = BTreeMap::new();
    for p in c
        .ports
        .iter()
        .filter(|p| (p.direct || c.no_lb) && p.targets.iter().any(|t| t == node))
    {
        m.entry(format!("{}/{}", p.container_port, p.proto))
            .or_default()
            .push(Binding {
                host_ip: p.host_ip.clone(),
                host_port: p.host_port.clone(),
            });
    }
    m
}

fn lb_node(c: &Cluster, idx: u32, with_config: bool) -> NodeJson {
    let mut ports: BTreeMap<String, Vec<Binding>> = BTreeMap::new();
    ports.insert(
        "6443/tcp".into(),
        vec![Binding {
            host_ip: c.api_host_ip.clone(),
            host_port: c.api_port.clone(),
        }],
    );
    let mut lb_ports: BTreeMap<String, Vec<String>> = BTreeMap::new();
    lb_ports.insert("6443.tcp".into(), c.server_names());
    for p in c.ports.iter().filter(|p| !p.direct) {
        ports
            .entry(format!("{}/{}", p.container_port, p.proto))
            .or_default()
            .push(Binding {
                host_ip: p.host_ip.clone(),
                host_port: p.host_port.clone(),
            });
        lb_ports
            .entry(format!("{}.{}", p.container_port, p.proto))
            .or_default()
            .extend(p.targets.iter().cloned());
    }
    NodeJson {
        name: c.lb_name(),
        role: "loadbalancer".into(),
        image: image_id("ghcr.io/k3d-io/k3d-proxy:5.9.0"),
        volumes: vec![],
        // k3d proxy/Dockerfile: `ENV ARCH=${ARCH}`, the platform of the image variant the
        // Docker host pulled (the architecture of the host, like the nodes').
        env: [
            "K3S_KUBECONFIG_OUTPUT=/output/kubeconfig.yaml".to_string(),
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            "NGINX_VERSION=1.29.1".to_string(),
            "OS=linux".to_string(),
            format!("ARCH={}", crate::network::node_arch(c, &c.lb_name())),
        ]
        .to_vec(),
        cmd: None,
        port_mappings: ports,
        restart: true,
        created: rfc3339(c.created_ms + 10 * idx as u64 + 7, 0, true),
        runtime_labels: cluster_labels(c, "loadbalancer"),
        networks: vec![format!("k3d-{}", c.name)],
        extra_hosts: None,
        server_opts: empty_server_opts(),
        agent_opts: Empty {},
        gpu_request: String::new(),
        memory: String::new(),
        state: running(),
        ip: NodeIp {
            ip: node_ip(c, idx),
            is_static: false,
        },
        k3d_entrypoint: false,
        config: with_config.then(|| LbConfig {
            ports: lb_ports,
            settings: LbSettings {
                worker_connections: 1024,
            },
        }),
    }
}

fn registry_node(r: &Registry, state: &State) -> NodeJson {
    let mut labels = BTreeMap::new();
    labels.insert("k3d.cluster".into(), String::new());
    labels.insert("k3d.registry.host".into(), r.host.clone());
    labels.insert("k3d.registry.hostIP".into(), r.host_ip.clone());
    labels.insert("k3d.role".into(), "registry".into());
    labels.insert("k3d.version".into(), K3D_VERSION.into());
    let mut ports = BTreeMap::new();
    ports.insert(
        "5000/tcp".into(),
        vec![Binding {
            host_ip: r.host_ip.clone(),
            host_port: r.host_port.clone(),
        }],
    );
    let _ = state;
    NodeJson {
        name: r.name.clone(),
        role: "registry".into(),
        image: image_id(&r.image),
        volumes: r.volumes.clone(),
        env: vec![
            "K3S_KUBECONFIG_OUTPUT=/output/kubeconfig.yaml".into(),
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        ],
        cmd: Some(vec!["/etc/docker/registry/config.yml".into()]),
        port_mappings: ports,
        restart: true,
        created: rfc3339(r.created_ms, 0, true),
        runtime_labels: labels,
        networks: r.networks.clone(),
        extra_hosts: None,
        server_opts: empty_server_opts(),
        agent_opts: Empty {},
        gpu_request: String::new(),
        memory: String::new(),
        state: running(),
        ip: NodeIp {
            ip: String::new(),
            is_static: false,
        },
        k3d_entrypoint: false,
        config: None,
    }
}

fn cluster_json(c: &Cluster, get: bool, token: bool) -> ClusterJson {
    let agents_present = c
        .agent_names()
        .iter()
        .filter(|n| !c.missing_nodes.contains(n))
        .count() as u32;
    let mut nodes = cluster_nodes(c);
    // docker lists newest containers first
    nodes.reverse();
    let lb_idx = c.servers + c.agents;
    ClusterJson {
        name: c.name.clone(),
        network: NetworkJson {
            name: format!("k3d-{}", c.name),
            id: String::new(),
            is_external: false,
            ipam: Ipam {
                ip_prefix: String::new(),
                managed: false,
            },
            members: None,
        },
        token: if token {
            c.token.clone()
        } else {
            String::new()
        },
        nodes,
        init_node: None,
        server_load_balancer: (get && !c.no_lb && !c.missing_nodes.contains(&c.lb_name())).then(
            || {
                let mut lb = lb_node(c, lb_idx, true);
                user_labels(c, &mut lb);
                lb
            },
        ),
        image_volume: format!("k3d-{}-images", c.name),
        volumes: if get {
            vec![format!("k3d-{}-images", c.name)]
        } else {
            vec![]
        },
        servers_running: if c.not_started { 0 } else { c.servers },
        servers_count: c.servers,
        agents_running: if c.not_started { 0 } else { agents_present },
        agents_count: agents_present,
        has_loadbalancer: !c.no_lb && !c.missing_nodes.contains(&c.lb_name()),
    }
}

fn print_yaml<T: Serialize>(v: &T) {
    let value = serde_json::to_value(v).expect("value");
    print!("{}", serde_yaml_ng::to_string(&value).expect("yaml"));
}

// ---------------------------------------------------------------------------------------
// Commands

struct Ctx<'a> {
    dir: &'a Path,
    log: &'a Logger,
}

fn valid_name(name: &str) -> Result<(), String> {
    let inner = if name.is_empty() {
        "No name provided".to_string()
    } else if name.len() > 32 {
        format!(
            "Cluster name must be <= 32 characters, but has {}",
            name.len()
        )
    } else if name.starts_with('-') || name.ends_with('-') {
        format!("Hostname '{name}' must not start or end with '-' (dash)")
    } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        format!("Hostname '{name}' contains characters other than 'Aa-Zz', '0-9' or '-'")
    } else {
        return Ok(());
    };
    Err(format!(
        "provided cluster name '{name}' does not match requirements: {inner}"
    ))
}

/// Node filters (`server:*`, `agent:0,1`, `loadbalancer`, `all`) → node names.
fn resolve_filter(
    filter: &str,
    servers: &[String],
    agents: &[String],
    lb: Option<&str>,
) -> Result<(Vec<String>, String), String> {
    let mut parts = filter.splitn(3, ':');
    let group = parts.next().unwrap_or("");
    let subset = parts.next();
    let suffix = parts.next().unwrap_or("").to_string();
    let pool: Vec<String> = match group {
        "server" | "servers" => servers.to_vec(),
        "agent" | "agents" => agents.to_vec(),
        "loadbalancer" => {
            return Ok((
                lb.map(|l| vec![l.to_string()]).unwrap_or_default(),
                "loadbalancer".into(),
            ))
        }
        "all" => servers
            .iter()
            .chain(agents)
            .cloned()
            .chain(lb.map(str::to_string))
            .collect(),
        _ => {
            return Err(format!(
                "Failed to parse node filters: invalid format or empty subset in '{filter}'"
            ))
        }
    };
    if group == "all" {
        return Ok((pool, suffix));
    }
    let Some(subset) = subset else {
        return Err(format!(
            "Failed to parse node specifiers: unknown subset in '{filter}'"
        ));
    };
    let picked: Vec<String> = if subset == "*" {
        pool
    } else if let Some((a, b)) = subset.split_once('-') {
        let a: usize = if a.is_empty() {
            0
        } else {
            a.parse().map_err(|_| {
                format!(
                    "Failed to parse node filters: invalid format or empty subset in '{filter}'"
                )
            })?
        };
        let b: usize = if b.is_empty() {
            pool.len().saturating_sub(1)
        } else {
            b.parse().map_err(|_| {
                format!(
                    "Failed to parse node filters: invalid format or empty subset in '{filter}'"
                )
            })?
        };
        pool.into_iter()
            .enumerate()
            .filter(|(i, _)| *i >= a && *i <= b)
            .map(|(_, n)| n)
            .collect()
    } else {
        let mut v = Vec::new();
        for s in subset.split(',').filter(|s| !s.is_empty()) {
            let i: usize = s.parse().map_err(|_| {
                format!(
                    "Failed to parse node filters: invalid format or empty subset in '{filter}'"
                )
            })?;
            match pool.get(i) {
                Some(n) => v.push(n.clone()),
                None => {
                    return Err(format!(
                        "Index out of range: index '{i}' < '0' or > '{}' for node group '{group}'",
                        pool.len().saturating_sub(1)
                    ))
                }
            }
        }
        v
    };
    Ok((picked, suffix))
}

/// k3d-io/k3d v5.9.0 `cmd/util/runtimeLabels.go` `ValidateRuntimeLabelKey`.
fn validate_runtime_label_key(key: &str, log: &Logger) {
    if key.starts_with("k3s.") || key.starts_with("k3d.") || key == "app" {
        log.fatal(&format!(
            "runtime label \"{key}\" is reserved for internal usage"
        ));
    }
}

/// `ARG@FILTER[;FILTER]` → (arg, filters). Only one unescaped `@` is allowed.
fn split_filters(flag_value: &str) -> Result<(String, Vec<String>), String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = flag_value.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&'@') {
            cur.push('@');
            chars.next();
        } else if c == '@' {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    match parts.len() {
        1 => Ok((parts.remove(0), vec![])),
        2 => Ok((
            parts[0].clone(),
            parts[1].split(';').filter(|s| !s.is_empty()).map(str::to_string).collect(),
        )),
        _ => Err(format!(
            "invalid flag '{flag_value}': only one unescaped '@' allowed for node filter(s) (Escape literal '@' with '\\')"
        )),
    }
}

struct CreateOpts {
    name: String,
    servers: u32,
    agents: u32,
    image: String,
    api_host: String,
    api_host_ip: String,
    api_port: String,
    ports: Vec<(String, Vec<String>)>,
    k3s_args: Vec<(String, Vec<String>)>,
    registries_use: Vec<String>,
    registries_config: Option<String>,
    update_default: bool,
    switch_context: bool,
    no_lb: bool,
    timeout_ns: i128,
    /// (label, node filters) from `options.runtime.labels` then `--runtime-label`.
    runtime_labels: Vec<(String, Vec<String>)>,
}

fn yaml_str(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `os.ExpandEnv`: `$VAR` and `${VAR}`, unset variables become empty.
fn expand_env(s: &str) -> String {
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            if b[i + 1] == b'{' {
                if let Some(end) = s[i + 2..].find('}') {
                    out.push_str(&std::env::var(&s[i + 2..i + 2 + end]).unwrap_or_default());
                    i += 3 + end;
                    continue;
                }
            } else {
                let len = s[i + 1..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(s.len() - i - 1);
                if len > 0 {
                    out.push_str(&std::env::var(&s[i + 1..i + 1 + len]).unwrap_or_default());
                    i += 1 + len;
                    continue;
                }
            }
        }
        let ch = s[i..].chars().next().unwrap();
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// k3d's own JSON schema of `k3d.io/v1alpha5` (pkg/config/v1alpha5/schema.json, the copy
/// in tests/fixtures/schemas), validated as k3d pkg/config/jsonschema.go `ValidateSchemaJSON`
/// does with gojsonschema: every error as `- FIELD: DESCRIPTION\n`, FIELD `(root)` or the
/// dotted path (`options.k3d`, `ports.0.port`), DESCRIPTION in gojsonschema's wording
/// (locales.go) for the kinds a config meets.
const K3D_SCHEMA: &str = include_str!("../../tests/fixtures/schemas/k3d-v1alpha5.schema.json");

fn schema_check(cfg: &Value) -> Result<(), String> {
    use jsonschema::error::{TypeKind, ValidationErrorKind as K};
    let schema: Value = serde_json::from_str(K3D_SCHEMA).expect("k3d's schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("k3d's schema compiles");
    // gojsonschema sees the YAML as JSON: a null document is `{}` (jsonschema.go).
    let instance = if cfg.is_null() {
        json!({})
    } else {
        cfg.clone()
    };
    let go_type = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let mut errs = Vec::new();
    for e in validator.iter_errors(&instance) {
        let path = e
            .instance_path
            .as_str()
            .trim_start_matches('/')
            .replace('/', ".");
        let field = if path.is_empty() {
            "(root)".to_string()
        } else {
            path
        };
        let description = match &e.kind {
            K::AdditionalProperties { unexpected } => unexpected
                .iter()
                .map(|p| format!("Additional property {p} is not allowed"))
                .collect::<Vec<_>>()
                .join("\n- {field}: "),
            K::Type { kind } => {
                let expected = match kind {
                    TypeKind::Single(t) => t.to_string(),
                    TypeKind::Multiple(set) => set
                        .iter()
                        .map(|t| t.to_string())
                        .collect::<Vec<_>>()
                        .join("/"),
                };
                format!(
                    "Invalid type. Expected: {expected}, given: {}",
                    go_type(&e.instance)
                )
            }
            K::Enum { options } => format!(
                "{} must be one of the following: {}",
                field.rsplit('.').next().unwrap_or(&field),
                options
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|o| o.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            K::Required { property } => {
                format!("{} is required", property.as_str().unwrap_or_default())
            }
            K::Pattern { pattern } => format!("Does not match pattern '{pattern}'"),
            K::Minimum { limit } => format!("Must be greater than or equal to {limit}"),
            _ => e.to_string(),
        };
        errs.push(format!(
            "- {field}: {}\n",
            description.replace("{field}", &field)
        ));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.concat())
    }
}

fn parse_host_port(spec: &str) -> Option<(String, String)> {
    // [HOST:]HOSTPORT
    let (host, port) = match spec.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.to_string()),
        None => (String::new(), spec.to_string()),
    };
    (port == "random" || port.parse::<u16>().is_ok_and(|p| p > 0)).then_some((host, port))
}

impl Ctx<'_> {
    fn random_port(&self, st: &mut State) -> String {
        st.seq += 1;
        let used = used_ports(st);
        let mut p = 32768
            + (u64::from_str_radix(&hex_id(&format!("port {} {}", st.seq, now_ms()), 4), 16)
                .unwrap_or(0)
                % 28000) as u16;
        while used.contains(&p.to_string()) {
            p += 1;
        }
        p.to_string()
    }

    fn create_opts(&self, p: &flags::Parsed) -> CreateOpts {
        let log = self.log;
        let mut cfg = Value::Null;
        if let Some(file) = p.str("config").filter(|f| !f.is_empty()) {
            let text = if file == "-" {
                let mut s = String::new();
                let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s);
                s
            } else {
                if std::fs::metadata(file).is_err() {
                    log.fatal(&format!(
                        "Failed to stat config file {file}: stat {file}: no such file or directory"
                    ));
                }
                std::fs::read_to_string(file).unwrap_or_else(|e| {
                    log.fatal(&format!("error reading config file {file}: {e}"))
                })
            };
            cfg = match serde_yaml_ng::from_str::<Value>(&expand_env(&text)) {
                Ok(v) => v,
                Err(e) => log.fatal(&format!(
                    "Failed to read config file {file}: While parsing config: yaml: {e}"
                )),
            };
            let api_version = cfg
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if ![
                "k3d.io/v1alpha2",
                "k3d.io/v1alpha3",
                "k3d.io/v1alpha4",
                "k3d.io/v1alpha5",
            ]
            .contains(&api_version.to_lowercase().as_str())
            {
                log.fatal(&format!(
                    "Cannot validate config file {file}: unsupported apiVersion '{api_version}'"
                ));
            }
            if api_version.to_lowercase() != "k3d.io/v1alpha5" {
                log.fatal(&format!("Schema Validation failed for config file {file}: - (root): this fake only implements k3d.io/v1alpha5, got {api_version}\n"));
            }
            if let Err(e) = schema_check(&cfg) {
                log.fatal(&format!(
                    "Schema Validation failed for config file {file}: {e}"
                ));
            }
            log.info(&format!(
                "Using config file {file} ({}#{})",
                api_version.to_lowercase(),
                cfg["kind"].as_str().unwrap_or("").to_lowercase()
            ));
        }
        let get = |ptr: &str| cfg.pointer(ptr).filter(|v| !v.is_null());
        let cfg_bool =
            |ptr: &str, default: bool| get(ptr).and_then(Value::as_bool).unwrap_or(default);
        let name = p
            .args
            .first()
            .cloned()
            .or_else(|| get("/metadata/name").and_then(yaml_str))
            .unwrap_or_else(|| "k3s-default".into());
        let servers = if p.has("servers") {
            p.int("servers", 1)
        } else {
            get("/servers").and_then(Value::as_i64).unwrap_or(1)
        };
        let agents = if p.has("agents") {
            p.int("agents", 0)
        } else {
            get("/agents").and_then(Value::as_i64).unwrap_or(0)
        };
        let image = p
            .str("image")
            .map(str::to_string)
            .or_else(|| get("/image").and_then(yaml_str))
            .unwrap_or_else(|| format!("docker.io/rancher/k3s:{K3S_VERSION}"));
        let (mut api_host, mut api_host_ip, api_port) = if let Some(spec) = p.str("api-port") {
            match parse_host_port(spec) {
                Some((h, port)) => (
                    h.clone(),
                    h,
                    if port == "random" {
                        String::new()
                    } else {
                        port
                    },
                ),
                None => log.fatal(&format!(
                    "failed to parse API Port spec: Failed to parse API Port specification '{spec}'"
                )),
            }
        } else {
            (
                get("/kubeAPI/host").and_then(yaml_str).unwrap_or_default(),
                get("/kubeAPI/hostIP")
                    .and_then(yaml_str)
                    .unwrap_or_default(),
                get("/kubeAPI/hostPort")
                    .and_then(yaml_str)
                    .unwrap_or_default(),
            )
        };
        if api_host_ip.is_empty() {
            api_host_ip = "0.0.0.0".into();
        }
        if api_host.is_empty() {
            api_host = api_host_ip.clone();
        }
        let mut ports = Vec::new();
        for v in get("/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let filters = v
                .get("nodeFilters")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(yaml_str).collect())
                .unwrap_or_default();
            ports.push((
                v.get("port").and_then(yaml_str).unwrap_or_default(),
                filters,
            ));
        }
        for f in p.all("port") {
            ports.push(split_filters(&f).unwrap_or_else(|e| log.fatal(&e)));
        }
        let mut k3s_args = Vec::new();
        for v in get("/options/k3s/extraArgs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let filters = v
                .get("nodeFilters")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(yaml_str).collect())
                .unwrap_or_default();
            k3s_args.push((v.get("arg").and_then(yaml_str).unwrap_or_default(), filters));
        }
        for f in p.all("k3s-arg") {
            k3s_args.push(split_filters(&f).unwrap_or_else(|e| log.fatal(&e)));
        }
        let mut registries_use: Vec<String> = get("/registries/use")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(yaml_str).collect())
            .unwrap_or_default();
        registries_use.extend(p.all("registry-use"));
        let registries_config = p
            .str("registry-config")
            .map(|f| {
                std::fs::read_to_string(f).unwrap_or_else(|e| {
                    log.fatal(&format!("failed to read registry config file '{f}': {e}"))
                })
            })
            .or_else(|| get("/registries/config").and_then(yaml_str));
        // Read as k3d pkg/config/transform.go reads it (into rancher/wharfie's Registry):
        // a value of the wrong type stops `cluster create` (network.rs).
        if let Some(text) = &registries_config {
            if let Err(e) = crate::network::parse_registries_config(text) {
                log.fatal(&e);
            }
        }
        let update_default = if p.has("kubeconfig-update-default") {
            p.bool("kubeconfig-update-default", true)
        } else {
            cfg_bool("/options/kubeconfig/updateDefaultKubeconfig", true)
        };
        let switch_context = if p.has("kubeconfig-switch-context") {
            p.bool("kubeconfig-switch-context", true)
        } else {
            cfg_bool("/options/kubeconfig/switchCurrentContext", true)
        };
        let no_lb = if p.has("no-lb") {
            p.bool("no-lb", false)
        } else {
            cfg_bool("/options/k3d/disableLoadbalancer", false)
        };
        let timeout_ns = if p.has("timeout") {
            p.duration("timeout").unwrap_or(0)
        } else {
            get("/options/k3d/timeout")
                .and_then(yaml_str)
                .map(|s| common::parse_go_duration(&s).unwrap_or_else(|e| log.fatal(&e)))
                .unwrap_or(0)
        };
        if timeout_ns < 0 {
            log.fatal("Failed Cluster Configuration Validation:  timeout may not be negative");
        }
        if servers < 1 {
            log.fatal("Failed Cluster Configuration Validation:  cluster must have at least one server node");
        }
        let mut runtime_labels = Vec::new();
        for v in get("/options/runtime/labels")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let filters = v
                .get("nodeFilters")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(yaml_str).collect())
                .unwrap_or_default();
            runtime_labels.push((
                v.get("label").and_then(yaml_str).unwrap_or_default(),
                filters,
            ));
        }
        for f in p.all("runtime-label") {
            let (label, filters) = split_filters(&f).unwrap_or_else(|e| log.fatal(&e));
            // k3d v5.9.0 cmd/cluster/clusterCreate.go checks flag keys at once.
            validate_runtime_label_key(label.split('=').next().unwrap_or(""), log);
            runtime_labels.push((label, filters));
        }
        CreateOpts {
            name,
            servers: servers.max(0) as u32,
            agents: agents.max(0) as u32,
            image,
            api_host,
            api_host_ip,
            api_port,
            ports,
            k3s_args,
            registries_use,
            registries_config,
            update_default,
            switch_context,
            no_lb,
            timeout_ns,
            runtime_labels,
        }
    }

    fn cluster_create(&self, p: &flags::Parsed) -> i32 {
        let log = self.log;
        let o = self.create_opts(p);
        if let Err(e) = valid_name(&o.name) {
            log.fatal(&format!("Failed Cluster Configuration Validation:  {e}"));
        }
        let servers: Vec<String> = (0..o.servers)
            .map(|i| format!("k3d-{}-server-{i}", o.name))
            .collect();
        let agents: Vec<String> = (0..o.agents)
            .map(|i| format!("k3d-{}-agent-{i}", o.name))
            .collect();
        let lb = (!o.no_lb).then(|| format!("k3d-{}-serverlb", o.name));
        let node_count = servers.len() + agents.len() + usize::from(lb.is_some());
        // k3s args → per-node command lines
        let mut node_args: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (arg, filters) in &o.k3s_args {
            if filters.is_empty() {
                if node_count > 1 {
                    log.fatal(&format!(
                        "K3sExtraArg '{arg}' lacks a node filter, but there's more than one node"
                    ));
                }
                for n in servers.iter().chain(&agents) {
                    node_args.entry(n.clone()).or_default().push(arg.clone());
                }
                continue;
            }
            for f in filters {
                let (nodes, _) = resolve_filter(f, &servers, &agents, lb.as_deref())
                    .unwrap_or_else(|e| log.fatal(&e));
                for n in nodes.into_iter().filter(|n| Some(n) != lb.as_ref()) {
                    node_args.entry(n).or_default().push(arg.clone());
                }
            }
        }
        // runtime labels → docker labels per node (k3d v5.9.0 pkg/config/transform.go
        // "RUNTIME LABELS": a label without a filter on more than one node is an error,
        // the key is checked by cmd/util/runtimeLabels.go, `KEY[=VALUE]` splits on the first
        // `=`, pkg/util/labels.go)
        let mut node_labels: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (label, filters) in &o.runtime_labels {
            if filters.is_empty() && node_count > 1 {
                log.fatal(&format!(
                    "RuntimeLabelmapping '{label}' lacks a node filter, but there's more than one node"
                ));
            }
            let targets: Vec<String> = if filters.is_empty() {
                servers
                    .iter()
                    .chain(&agents)
                    .cloned()
                    .chain(lb.clone())
                    .collect()
            } else {
                let mut t = Vec::new();
                for f in filters {
                    let (nodes, _) = resolve_filter(f, &servers, &agents, lb.as_deref())
                        .unwrap_or_else(|e| {
                            log.fatal(&format!(
                                "failed to filter nodes for runtime label mapping '{label}': {e}"
                            ))
                        });
                    t.extend(nodes);
                }
                t
            };
            let (k, v) = label.split_once('=').unwrap_or((label.as_str(), ""));
            validate_runtime_label_key(k, log);
            for n in targets {
                node_labels
                    .entry(n)
                    .or_default()
                    .insert(k.to_string(), v.to_string());
            }
        }
        // ports
        let mut ports = Vec::new();
        for (spec, filters) in &o.ports {
            let (mapping, proto) = match spec.split_once('/') {
                Some((m, pr)) => (m.to_string(), pr.to_string()),
                None => (spec.clone(), "tcp".to_string()),
            };
            let parts: Vec<&str> = mapping.split(':').collect();
            let (host_ip, host_port, cport) = match parts.as_slice() {
                [c] => (String::new(), String::new(), c.to_string()),
                [h, c] => (String::new(), h.to_string(), c.to_string()),
                [ip, h, c] => (ip.to_string(), h.to_string(), c.to_string()),
                _ => log.fatal(&format!("Failed to parse port mapping '{spec}'")),
            };
            if cport.parse::<u16>().is_err()
                || (!host_port.is_empty() && host_port.parse::<u16>().is_err())
            {
                log.fatal(&format!(
                    "Failed to parse port mapping '{spec}': invalid port"
                ));
            }
            let (targets, direct) = if filters.is_empty()
                || filters.iter().any(|f| f == "loadbalancer")
            {
                if filters.is_empty() && node_count > 1 && lb.is_none() {
                    log.fatal(&format!(
                        "Portmapping '{spec}' lacks a node filter, but there's more than one node"
                    ));
                }
                if lb.is_some() {
                    log.info(&format!(
                        "portmapping '{spec}' targets the loadbalancer: defaulting to [servers:*:proxy agents:*:proxy]"
                    ));
                }
                (
                    servers.iter().chain(&agents).cloned().collect::<Vec<_>>(),
                    lb.is_none(),
                )
            } else {
                let mut t = Vec::new();
                let mut direct = lb.is_none();
                for f in filters {
                    let (nodes, suffix) = resolve_filter(f, &servers, &agents, lb.as_deref())
                        .unwrap_or_else(|e| log.fatal(&e));
                    direct |= suffix == "direct";
                    t.extend(nodes);
                }
                (t, direct)
            };
            ports.push(PortMapping {
                host_ip,
                host_port,
                container_port: cport,
                proto,
                targets,
                direct,
                spec: spec.clone(),
            });
        }
        let mut locked = state::load_locked(self.dir);
        let st = &mut locked.state;
        // registries to use must exist (the port in the reference is ignored)
        let mut reg_names = Vec::new();
        for r in &o.registries_use {
            let host = r.split("://").last().unwrap_or(r);
            let host = host.split(':').next().unwrap_or(host);
            let found = [host.to_string(), format!("k3d-{host}")]
                .into_iter()
                .find(|n| st.registries.contains_key(n));
            match found {
                Some(n) => reg_names.push(n),
                None => {
                    log.info("Prep: Network");
                    log.error(&format!("Failed Cluster Preparation: Failed to find registry node '{host}': failed to get container for node '{host}': Didn't find container for node '{host}'"));
                    log.error("Failed to create cluster >>> Rolling Back");
                    log.info(&format!("Deleting cluster '{}'", o.name));
                    log.fatal("Cluster creation FAILED, all changes have been rolled back!");
                }
            }
        }
        if st.clusters.contains_key(&o.name) {
            log.fatal(&format!(
                "Failed to create cluster '{}' because a cluster with that name already exists",
                o.name
            ));
        }
        // docker hands out the lowest free 172.x subnet
        let net = (0..)
            .find(|n| !st.clusters.values().any(|c| c.net == *n))
            .unwrap_or(0);
        let api_port = if o.api_port.is_empty() {
            self.random_port(st)
        } else {
            o.api_port.clone()
        };
        let cluster = Cluster {
            name: o.name.clone(),
            created_ms: now_ms(),
            servers: o.servers,
            agents: o.agents,
            image: o.image.clone(),
            api_host: o.api_host.clone(),
            api_host_ip: o.api_host_ip.clone(),
            api_port,
            no_lb: o.no_lb,
            net,
            token: hex_id(&format!("token {} {}", o.name, now_ms()), 20),
            ports,
            node_args,
            registries_use: reg_names.clone(),
            registries_config: o.registries_config.clone(),
            node_labels,
            missing_nodes: vec![],
            not_started: false,
            arch: std::env::var("DEVENV_FAKE_ARCH").unwrap_or_default(),
            objects: vec![],
            rv: 0,
        };
        // a host port already bound by another container fails at start, as docker would
        let used = used_ports(st);
        let wanted: Vec<(String, String)> =
            std::iter::once((cluster.api_host_ip.clone(), cluster.api_port.clone()))
                .chain(
                    cluster
                        .ports
                        .iter()
                        .filter(|p| !p.host_port.is_empty())
                        .map(|p| {
                            (
                                if p.host_ip.is_empty() {
                                    "0.0.0.0".to_string()
                                } else {
                                    p.host_ip.clone()
                                },
                                p.host_port.clone(),
                            )
                        }),
                )
                .collect();
        log.info("Prep: Network");
        log.info(&format!("Created network 'k3d-{}'", o.name));
        log.info(&format!("Created image volume k3d-{}-images", o.name));
        log.info("Starting new tools node...");
        log.info(&format!("Starting node 'k3d-{}-tools'", o.name));
        for n in cluster.server_names().iter().chain(&cluster.agent_names()) {
            log.info(&format!("Creating node '{n}'"));
        }
        if !o.no_lb {
            log.info(&format!("Creating LoadBalancer '{}'", cluster.lb_name()));
        }
        log.info("Using the k3d-tools node to gather environment information");
        log.info(&format!(
            "HostIP: using network gateway 172.{}.0.1 address",
            18 + net % 200
        ));
        log.info(&format!("Starting cluster '{}'", o.name));
        if let Some((ip, port)) = wanted.iter().find(|(_, port)| used.contains(port)) {
            let node = if o.no_lb {
                cluster.server_names()[0].clone()
            } else {
                cluster.lb_name()
            };
            log.error(&format!("Failed Cluster Start: Failed to start server {node}: runtime failed to start node '{node}': docker failed to start container for node '{node}': Error response from daemon: driver failed programming external connectivity on endpoint {node}: Bind for {ip}:{port} failed: port is already allocated"));
            log.error("Failed to create cluster >>> Rolling Back");
            log.info(&format!("Deleting cluster '{}'", o.name));
            log.info(&format!("Deleting cluster network 'k3d-{}'", o.name));
            log.info("Deleting 1 attached volumes...");
            log.fatal("Cluster creation FAILED, all changes have been rolled back!");
        }
        // The simulated creation time; the lock is released meanwhile so others can read.
        // Meanwhile the servers' containers exist, created and not started, and the agents
        // and the load balancer do not yet (k3d creates servers, then agents, then the LB,
        // then starts them): a k3d killed now leaves exactly that behind, with no rollback.
        let create_ms = scaled(CREATE_MS);
        let mut partial = cluster.clone();
        partial.missing_nodes = partial.agent_names();
        if !o.no_lb {
            partial.missing_nodes.push(partial.lb_name());
        }
        partial.not_started = true;
        locked.state.clusters.insert(o.name.clone(), partial);
        locked.save();
        drop(locked);
        let rollback = || {
            let mut locked = state::load_locked(self.dir);
            if locked
                .state
                .clusters
                .get(&o.name)
                .is_some_and(|c| c.token == cluster.token)
            {
                locked.state.clusters.remove(&o.name);
                locked.save();
            }
        };
        if o.timeout_ns > 0 && (create_ms as i128) * 1_000_000 > o.timeout_ns {
            common::sleep_ms((o.timeout_ns / 1_000_000) as u64);
            rollback();
            log.info("Starting servers...");
            log.error("Failed Cluster Start: Failed to start server: Context deadline exceeded");
            log.error("Failed to create cluster >>> Rolling Back");
            log.info(&format!("Deleting cluster '{}'", o.name));
            log.fatal("Cluster creation FAILED, all changes have been rolled back!");
        }
        common::sleep_ms(create_ms);
        let mut locked = state::load_locked(self.dir);
        if locked
            .state
            .clusters
            .get(&o.name)
            .is_some_and(|c| c.token != cluster.token)
        {
            log.fatal(&format!(
                "Failed to create cluster '{}' because a cluster with that name already exists",
                o.name
            ));
        }
        let mut cluster = cluster;
        cluster.created_ms = now_ms();
        crate::kube::seed_cluster(&mut cluster, &locked.state);
        for r in &reg_names {
            if let Some(reg) = locked.state.registries.get_mut(r) {
                let net_name = format!("k3d-{}", o.name);
                if !reg.networks.contains(&net_name) {
                    reg.networks.insert(0, net_name);
                }
            }
        }
        log.info("Starting servers...");
        for n in cluster.server_names() {
            log.info(&format!("Starting node '{n}'"));
        }
        if o.agents > 0 {
            log.info("Starting agents...");
            for n in cluster.agent_names() {
                log.info(&format!("Starting node '{n}'"));
            }
        }
        if !o.no_lb {
            log.info("Starting helpers...");
            log.info(&format!("Starting node '{}'", cluster.lb_name()));
        }
        let members = o.servers + o.agents + u32::from(!o.no_lb) + reg_names.len() as u32;
        log.info(&format!(
            "Injecting records for hostAliases (incl. host.k3d.internal) and for {members} network members into CoreDNS configmap..."
        ));
        if reg_names.len() > 1 {
            log.warn("More than one registry specified, but the LocalRegistryHostingV1 spec only supports one -> Selecting the first one");
        }
        let kc = kubeconfig::for_cluster(&cluster);
        locked.state.clusters.insert(o.name.clone(), cluster);
        locked.save();
        drop(locked);
        log.info(&format!("Cluster '{}' created successfully!", o.name));
        let mut switch = o.switch_context;
        if !o.update_default && switch {
            log.info(
                "--kubeconfig-update-default=false --> sets --kubeconfig-switch-context=false",
            );
            switch = false;
        }
        if o.update_default {
            let result = kubeconfig::default_path_for_write().and_then(|path| {
                let existing = kubeconfig::load(&path)
                    .map_err(|e| {
                        format!(
                            "failed to open output file '{}' or it's not a kubeconfig: {e}",
                            path.display()
                        )
                    })?
                    .unwrap_or_else(kubeconfig::empty);
                let merged = kubeconfig::merge(existing, &kc, true, switch)?;
                kubeconfig::write(&path, &merged).map_err(|e| {
                    format!(
                        "failed to write merged kubeconfig to '{}': {e}",
                        path.display()
                    )
                })
            });
            if let Err(e) = result {
                log.warn(&e);
            }
        }
        log.info("You can now use it like this:");
        if o.update_default && !switch {
            println!("kubectl config use-context k3d-{}", o.name);
        } else if !switch {
            println!(
                "export KUBECONFIG=$({} kubeconfig write {})",
                std::env::args().next().unwrap_or_else(|| "k3d".into()),
                o.name
            );
        }
        println!("kubectl cluster-info");
        0
    }

    fn cluster_list(&self, p: &flags::Parsed) -> i32 {
        let st = state::load(self.dir);
        let mut clusters: Vec<&Cluster> = Vec::new();
        for name in &p.args {
            match st.clusters.get(name) {
                Some(c) => clusters.push(c),
                None => self.log.fatal("No nodes found for given cluster"),
            }
        }
        let get = !p.args.is_empty();
        if !get {
            clusters = st.clusters.values().collect();
            // docker lists newest first
            clusters.sort_by_key(|c| std::cmp::Reverse(c.created_ms));
        }
        let token = p.bool("token", false);
        let json: Vec<ClusterJson> = clusters
            .iter()
            .map(|c| cluster_json(c, get, token))
            .collect();
        match p.str("output").unwrap_or("") {
            "json" => println!("{}", go_json_compact(&json)),
            "yaml" => print_yaml(&json),
            "" => {
                let mut rows = Vec::new();
                if !p.bool("no-headers", false) {
                    let mut h = vec![
                        "NAME".to_string(),
                        "SERVERS".into(),
                        "AGENTS".into(),
                        "LOADBALANCER".into(),
                    ];
                    if token {
                        h.push("TOKEN".into());
                    }
                    rows.push(h);
                }
                let mut sorted = clusters.clone();
                sorted.sort_by(|a, b| a.name.cmp(&b.name));
                for c in sorted {
                    // running/total from the nodes present, as the JSON (k3d v5.9.0 cmd/cluster/clusterList.go
                    // `PrintClusters`: ServerCountRunning, AgentCountRunning, HasLoadBalancer)
                    let j = cluster_json(c, false, false);
                    let mut r = vec![
                        c.name.clone(),
                        format!("{}/{}", j.servers_running, j.servers_count),
                        format!("{}/{}", j.agents_running, j.agents_count),
                        j.has_loadbalancer.to_string(),
                    ];
                    if token {
                        r.push(c.token.clone());
                    }
                    rows.push(r);
                }
                print!("{}", crate::common::tabwriter(&rows, false));
            }
            other => self.log.fatal(&format!("Unknown output format '{other}'")),
        }
        0
    }

    fn cluster_delete(&self, p: &flags::Parsed) -> i32 {
        let log = self.log;
        let mut names = p.args.clone();
        if let Some(file) = p.str("config").filter(|f| !f.is_empty()) {
            let text = std::fs::read_to_string(file).unwrap_or_else(|e| {
                log.fatal(&format!(
                    "Failed to stat config file {file}: stat {file}: {e}"
                ))
            });
            let cfg: Value = serde_yaml_ng::from_str(&expand_env(&text)).unwrap_or(Value::Null);
            if let Some(n) = cfg.pointer("/metadata/name").and_then(yaml_str) {
                names.push(n);
            }
        }
        let mut locked = state::load_locked(self.dir);
        if p.bool("all", false) {
            names = locked.state.clusters.keys().cloned().collect();
        } else if names.is_empty() {
            names.push("k3s-default".into());
        }
        if names.is_empty() {
            log.info("No clusters found");
            return 0;
        }
        let mut deleted_any = false;
        for name in &names {
            let Some(c) = locked.state.clusters.remove(name) else {
                log.info(&format!(
                    "No nodes found for cluster '{name}', nothing to delete."
                ));
                continue;
            };
            deleted_any = true;
            log.info(&format!("Deleting cluster '{name}'"));
            let net_name = format!("k3d-{name}");
            for reg in locked.state.registries.values_mut() {
                reg.networks.retain(|n| n != &net_name);
            }
            let _ = c;
            log.info(&format!("Deleting cluster network '{net_name}'"));
            log.info("Deleting 1 attached volumes...");
            log.info("Removing cluster details from default kubeconfig...");
            let res = kubeconfig::default_path_for_write()
                .map_err(|e| format!("failed to get default kubeconfig path: {e}"))
                .and_then(|path| match kubeconfig::load(&path) {
                    Ok(Some(cfg)) => {
                        kubeconfig::write(&path, &kubeconfig::remove_cluster(cfg, name))
                            .map_err(|e| e.to_string())
                    }
                    Ok(None) => Ok(()),
                    Err(e) => Err(format!("failed to get default kubeconfig file: {e}")),
                });
            if let Err(e) = res {
                log.warn(&format!(
                    "Failed to remove cluster details from default kubeconfig: {e}"
                ));
            }
            log.info("Removing standalone kubeconfig file (if there is one)...");
            let _ = std::fs::remove_file(standalone_kubeconfig(name));
            log.info(&format!("Successfully deleted cluster {name}!"));
        }
        locked.save();
        if !deleted_any {
            log.info("No clusters found");
        }
        0
    }

    fn registry_create(&self, p: &flags::Parsed) -> i32 {
        let log = self.log;
        let name = p.args.first().cloned().unwrap_or_else(|| "registry".into());
        let container = format!("k3d-{name}");
        if let Err(e) = valid_name(&name) {
            log.fatal(&format!(
                "Failed to create registry: {}",
                e.replace("cluster name", "registry name")
            ));
        }
        let spec = p.str("port").unwrap_or("random").to_string();
        let Some((host, port)) = parse_host_port(&spec) else {
            log.error("Failed to parse registry port");
            log.fatal(&format!(
                "failed to parse Port Exposure specification '{spec}': Format must be [(HostIP|HostName):]HostPort"
            ));
        };
        let mut locked = state::load_locked(self.dir);
        if locked.state.registries.contains_key(&container) {
            log.fatal("Failed to create registry: A registry node with that name already exists");
        }
        let host_port = if port == "random" {
            self.random_port(&mut locked.state)
        } else {
            port
        };
        let host_ip = if host.is_empty() {
            "0.0.0.0".to_string()
        } else {
            host.clone()
        };
        log.info(&format!("Creating node '{container}'"));
        if used_ports(&locked.state).contains(&host_port) {
            log.fatal(&format!("Failed to create registry: failed to start registry node '{container}': docker failed to start container for node '{container}': Error response from daemon: driver failed programming external connectivity on endpoint {container}: Bind for {host_ip}:{host_port} failed: port is already allocated"));
        }
        log.info(&format!("Successfully created registry '{container}'"));
        log.info(&format!("Starting node '{container}'"));
        locked.state.registries.insert(
            container.clone(),
            Registry {
                name: container.clone(),
                host,
                host_ip,
                host_port: host_port.clone(),
                image: p
                    .str("image")
                    .unwrap_or("docker.io/library/registry:2")
                    .to_string(),
                created_ms: now_ms(),
                networks: vec![p.str("default-network").unwrap_or("bridge").to_string()],
                // cmd/registry/registryCreate.go: each `--volume` (filters split off) goes to
                // the node's Volumes, i.e. HostConfig.Binds (pkg/runtimes/docker/translate.go).
                volumes: p
                    .all("volume")
                    .iter()
                    .map(|v| {
                        split_filters(v)
                            .map(|(v, _)| v)
                            .unwrap_or_else(|e| log.fatal(&e))
                    })
                    .collect(),
            },
        );
        locked.save();
        log.info(&format!("Successfully created registry '{container}'"));
        if !p.bool("no-help", false) {
            let r = format!("{container}:{host_port}");
            println!("# You can now use the registry like this (example):\n# 1. create a new cluster that uses this registry\nk3d cluster create --registry-use {r}\n\n# 2. tag an existing local image to be pushed to the registry\ndocker tag nginx:latest {r}/mynginx:v0.1\n\n# 3. push that image to the registry\ndocker push {r}/mynginx:v0.1\n\n# 4. run a pod that uses this image\nkubectl run mynginx --image {r}/mynginx:v0.1\n");
        }
        0
    }

    fn registry_list(&self, p: &flags::Parsed) -> i32 {
        let st = state::load(self.dir);
        let mut regs: Vec<&Registry> = Vec::new();
        for n in &p.args {
            match lookup_registry(&st, n) {
                Some(r) => regs.push(r),
                None => self.log.fatal(&format!(
                    "failed to get node '{n}': failed to get container for node '{n}': Didn't find container for node '{n}'"
                )),
            }
        }
        if p.args.is_empty() {
            regs = st.registries.values().collect();
        }
        let nodes: Vec<NodeJson> = regs.iter().map(|r| registry_node(r, &st)).collect();
        match p.str("output").unwrap_or("") {
            "json" => println!("{}", go_json_compact(&nodes)),
            "yaml" => print_yaml(&nodes),
            "" => {
                let mut rows = Vec::new();
                if !p.bool("no-headers", false) {
                    rows.push(vec![
                        "NAME".into(),
                        "ROLE".into(),
                        "CLUSTER".into(),
                        "STATUS".into(),
                    ]);
                }
                for r in regs {
                    rows.push(vec![
                        r.name.clone(),
                        "registry".into(),
                        String::new(),
                        "running".into(),
                    ]);
                }
                print!("{}", crate::common::tabwriter(&rows, false));
            }
            other => self.log.fatal(&format!("Unknown output format '{other}'")),
        }
        0
    }

    fn registry_delete(&self, p: &flags::Parsed) -> i32 {
        let mut locked = state::load_locked(self.dir);
        let names: Vec<String> = if p.bool("all", false) {
            locked.state.registries.keys().cloned().collect()
        } else if p.args.is_empty() {
            self.log
                .fatal("Expecting at least one registry name if `--all` is not set");
        } else {
            p.args.clone()
        };
        for n in names {
            let key = lookup_registry(&locked.state, &n).map(|r| r.name.clone());
            match key {
                Some(k) => {
                    locked.state.registries.remove(&k);
                }
                None => {
                    locked.save();
                    self.log.fatal(&format!(
                        "failed to get node '{n}': failed to get container for node '{n}': Didn't find container for node '{n}'"
                    ));
                }
            }
        }
        locked.save();
        0
    }

    fn node_list(&self, p: &flags::Parsed) -> i32 {
        let st = state::load(self.dir);
        let mut nodes: Vec<NodeJson> = st
            .clusters
            .values()
            .flat_map(cluster_nodes)
            .chain(st.registries.values().map(|r| registry_node(r, &st)))
            .collect();
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        if !p.args.is_empty() {
            let mut picked = Vec::new();
            for n in &p.args {
                match nodes.iter().find(|x| &x.name == n || x.name == format!("k3d-{n}")) {
                    Some(x) => picked.push(x.clone()),
                    None => self.log.fatal(&format!(
                        "failed to get node '{n}': failed to get container for node '{n}': Didn't find container for node '{n}'"
                    )),
                }
            }
            nodes = picked;
        }
        match p.str("output").unwrap_or("") {
            "json" => {
                if nodes.is_empty() {
                    println!("null");
                } else {
                    println!("{}", go_json_compact(&nodes));
                }
            }
            "yaml" => print_yaml(&nodes),
            "" => {
                let mut rows = Vec::new();
                if !p.bool("no-headers", false) {
                    rows.push(vec![
                        "NAME".into(),
                        "ROLE".into(),
                        "CLUSTER".into(),
                        "STATUS".into(),
                    ]);
                }
                for n in nodes {
                    let cluster = n
                        .runtime_labels
                        .get("k3d.cluster")
                        .cloned()
                        .unwrap_or_else(|| "*".into());
                    rows.push(vec![n.name, n.role, cluster, "running".into()]);
                }
                print!("{}", crate::common::tabwriter(&rows, false));
            }
            other => self.log.fatal(&format!("Unknown output format '{other}'")),
        }
        0
    }

    fn kubeconfig_get(&self, p: &flags::Parsed) -> i32 {
        let st = state::load(self.dir);
        let clusters: Vec<&Cluster> = if p.bool("all", false) {
            st.clusters.values().collect()
        } else {
            p.args
                .iter()
                .map(|n| {
                    st.clusters
                        .get(n)
                        .unwrap_or_else(|| self.log.fatal("No nodes found for given cluster"))
                })
                .collect()
        };
        for c in clusters {
            println!("---");
            print!("{}", kubeconfig::to_yaml(&kubeconfig::for_cluster(c)));
        }
        0
    }

    fn kubeconfig_merge(&self, p: &flags::Parsed) -> i32 {
        let log = self.log;
        let st = state::load(self.dir);
        let all = p.bool("all", false);
        if all && !p.args.is_empty() {
            log.fatal("Can either specify a list of clusters or --all, not both");
        }
        let names: Vec<String> = if all {
            st.clusters.keys().cloned().collect()
        } else if p.args.is_empty() {
            vec!["k3s-default".into()]
        } else {
            p.args.clone()
        };
        let clusters: Vec<&Cluster> = names
            .iter()
            .map(|n| {
                st.clusters
                    .get(n)
                    .unwrap_or_else(|| log.fatal("No nodes found for given cluster"))
            })
            .collect();
        let merge_default = p.bool("kubeconfig-merge-default", false);
        let output = p.str("output").unwrap_or("").to_string();
        if merge_default && !output.is_empty() {
            log.fatal(
                "Cannot use both '--output' and '--kubeconfig-merge-default' at the same time",
            );
        }
        let overwrite = p.bool("overwrite", false);
        let update = p.bool("update", true);
        let switch = p.bool("kubeconfig-switch-context", true);
        let mut written = Vec::new();
        let mut failed = false;
        for c in clusters {
            let target: PathBuf = if merge_default {
                match kubeconfig::default_path_for_write() {
                    Ok(pth) => pth,
                    Err(e) => {
                        log.error(&format!("failed to get default kubeconfig path: {e}"));
                        failed = true;
                        continue;
                    }
                }
            } else if !output.is_empty() {
                PathBuf::from(&output)
            } else {
                standalone_kubeconfig(&c.name)
            };
            let kc = kubeconfig::for_cluster(c);
            if target.as_os_str() == "-" {
                print!("{}", kubeconfig::to_yaml(&kc));
                continue;
            }
            let res = if overwrite {
                std::fs::create_dir_all(target.parent().unwrap_or(Path::new(".")))
                    .map_err(|e| e.to_string())
                    .and_then(|_| {
                        kubeconfig::write(&target, &kc).map_err(|e| {
                            format!("failed to create file '{}': {e}", target.display())
                        })
                    })
            } else {
                kubeconfig::load(&target)
                    .map_err(|e| {
                        format!(
                            "failed to open output file '{}' or it's not a kubeconfig: {e}",
                            target.display()
                        )
                    })
                    .and_then(|existing| {
                        kubeconfig::merge(
                            existing.unwrap_or_else(kubeconfig::empty),
                            &kc,
                            update,
                            switch,
                        )
                    })
                    .and_then(|merged| {
                        kubeconfig::write(&target, &merged).map_err(|e| {
                            format!(
                                "failed to write merged kubeconfig to temporary file '{}': {e}",
                                target.display()
                            )
                        })
                    })
            };
            match res {
                Ok(()) => written.push(target.display().to_string()),
                Err(e) => {
                    log.error(&e);
                    failed = true;
                }
            }
        }
        if output != "-" && !written.is_empty() {
            println!("{}", written.join(":"));
        }
        i32::from(failed)
    }
}

fn lookup_registry<'a>(st: &'a State, name: &str) -> Option<&'a Registry> {
    st.registries
        .get(name)
        .or_else(|| st.registries.get(&format!("k3d-{name}")))
}

fn standalone_kubeconfig(name: &str) -> PathBuf {
    match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x).join(format!("kubeconfig-{name}.yaml")),
        None => common::home_dir()
            .join(".config")
            .join("k3d")
            .join(format!("kubeconfig-{name}.yaml")),
    }
}

/// Host ports bound by any fake container.
fn used_ports(st: &State) -> Vec<String> {
    let mut v: Vec<String> = st
        .registries
        .values()
        .map(|r| r.host_port.clone())
        .collect();
    for c in st.clusters.values() {
        v.push(c.api_port.clone());
        v.extend(
            c.ports
                .iter()
                .filter(|p| !p.host_port.is_empty())
                .map(|p| p.host_port.clone()),
        );
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_k3d_rules() {
        assert!(valid_name("devenv").is_ok());
        assert_eq!(
            valid_name(&"a".repeat(33)).unwrap_err(),
            format!(
                "provided cluster name '{}' does not match requirements: Cluster name must be <= 32 characters, but has 33",
                "a".repeat(33)
            )
        );
        assert!(valid_name("dev_env").is_err());
        assert!(valid_name("-dev").is_err());
    }

    #[test]
    fn node_filters() {
        let s = vec!["s0".to_string(), "s1".to_string()];
        let a = vec!["a0".to_string()];
        assert_eq!(resolve_filter("server:*", &s, &a, Some("lb")).unwrap().0, s);
        assert_eq!(resolve_filter("agent:0", &s, &a, Some("lb")).unwrap().0, a);
        assert_eq!(
            resolve_filter("server", &s, &a, None).unwrap_err(),
            "Failed to parse node specifiers: unknown subset in 'server'"
        );
        assert_eq!(
            split_filters("--x@server:*;agent:0").unwrap(),
            (
                "--x".to_string(),
                vec!["server:*".to_string(), "agent:0".to_string()]
            )
        );
        assert!(split_filters("a@b@c").is_err());
    }

    #[test]
    fn expands_env_like_go() {
        std::env::set_var("DEVENV_FAKES_T", "v");
        assert_eq!(
            expand_env("a $DEVENV_FAKES_T ${DEVENV_FAKES_T}x $NOPE_NOT_SET."),
            "a v vx ."
        );
    }
}
