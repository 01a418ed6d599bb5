//! The fake `kubectl` (client v1.33.1): the commands devenv runs, with kubectl's flags,
//! output formats, error texts and exit codes, against the simulated API of a fake k3d
//! cluster found through the kubeconfig's server URL.

use crate::common::{self, go_json_indent, local_offset_s, now_ms, scaled};
use crate::flags::{self, flag, Flag, Kind, Parsed};
use crate::jsonpath;
use crate::kube::{self, ResType, View};
use crate::kubeconfig;
use crate::state::{self, Cluster, State};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const GLOBAL: &[Flag] = &[
    flag(
        "kubeconfig",
        None,
        Kind::Str,
        "",
        "Path to the kubeconfig file to use for CLI requests.",
    ),
    flag(
        "context",
        None,
        Kind::Str,
        "",
        "The name of the kubeconfig context to use",
    ),
    flag(
        "namespace",
        Some('n'),
        Kind::Str,
        "",
        "If present, the namespace scope for this CLI request",
    ),
    flag(
        "cluster",
        None,
        Kind::Str,
        "",
        "The name of the kubeconfig cluster to use",
    ),
    flag(
        "user",
        None,
        Kind::Str,
        "",
        "The name of the kubeconfig user to use",
    ),
    flag(
        "server",
        Some('s'),
        Kind::Str,
        "",
        "The address and port of the Kubernetes API server",
    ),
    flag(
        "request-timeout",
        None,
        Kind::Str,
        "0",
        "The length of time to wait before giving up on a single server request.",
    ),
    flag(
        "insecure-skip-tls-verify",
        None,
        Kind::Bool,
        "false",
        "If true, the server's certificate will not be checked for validity.",
    ),
    flag(
        "token",
        None,
        Kind::Str,
        "",
        "Bearer token for authentication to the API server",
    ),
    flag(
        "v",
        Some('v'),
        Kind::Int,
        "0",
        "number for the log level verbosity",
    ),
    flag(
        "warnings-as-errors",
        None,
        Kind::Bool,
        "false",
        "Treat warnings received from the server as errors",
    ),
    flag("help", Some('h'), Kind::Bool, "false", "help"),
];

fn cmd_flags(path: &[&str]) -> Option<Vec<Flag>> {
    let output = flag("output", Some('o'), Kind::Str, "", "Output format.");
    let filename = flag(
        "filename",
        Some('f'),
        Kind::StrSlice,
        "[]",
        "Filename, directory, or URL to files",
    );
    let recursive = flag(
        "recursive",
        Some('R'),
        Kind::Bool,
        "false",
        "Process the directory used in -f recursively.",
    );
    let selector = flag(
        "selector",
        Some('l'),
        Kind::Str,
        "",
        "Selector (label query) to filter on",
    );
    let all_ns = flag(
        "all-namespaces",
        Some('A'),
        Kind::Bool,
        "false",
        "all namespaces",
    );
    let v = match path {
        ["version"] => vec![
            flag("client", None, Kind::Bool, "false", "client only"),
            output,
        ],
        ["apply"] => vec![
            filename,
            recursive,
            flag("kustomize", Some('k'), Kind::Str, "", "kustomization dir"),
            flag("server-side", None, Kind::Bool, "false", "SSA"),
            flag(
                "field-manager",
                None,
                Kind::Str,
                "kubectl-client-side-apply",
                "manager",
            ),
            flag("force-conflicts", None, Kind::Bool, "false", "force"),
            flag("dry-run", None, Kind::Str, "none", "dry run"),
            flag("validate", None, Kind::Str, "strict", "validate"),
            flag("prune", None, Kind::Bool, "false", "prune"),
            flag("wait", None, Kind::Bool, "false", "wait"),
            flag("overwrite", None, Kind::Bool, "true", "overwrite"),
            flag("force", None, Kind::Bool, "false", "force"),
            output,
            selector,
        ],
        ["wait"] => vec![
            filename,
            recursive,
            flag("for", None, Kind::Str, "", "The condition to wait on"),
            flag("timeout", None, Kind::Duration, "30s", "timeout"),
            flag("all", None, Kind::Bool, "false", "all"),
            all_ns,
            selector,
            flag("field-selector", None, Kind::Str, "", "field selector"),
            flag("local", None, Kind::Bool, "false", "local"),
            output,
        ],
        ["rollout", "status"] => vec![
            filename,
            recursive,
            flag("timeout", None, Kind::Duration, "0s", "timeout"),
            flag("watch", Some('w'), Kind::Bool, "true", "watch"),
            flag("revision", None, Kind::Int, "0", "revision"),
            selector,
        ],
        ["get"] => vec![
            filename,
            recursive,
            output,
            all_ns,
            selector,
            flag("ignore-not-found", None, Kind::Bool, "false", "ignore"),
            flag("no-headers", None, Kind::Bool, "false", "no headers"),
            flag("show-labels", None, Kind::Bool, "false", "labels"),
            flag("watch", Some('w'), Kind::Bool, "false", "watch"),
            flag("field-selector", None, Kind::Str, "", "field selector"),
        ],
        ["delete"] => vec![
            filename,
            recursive,
            flag("kustomize", Some('k'), Kind::Str, "", "kustomization dir"),
            flag("all", None, Kind::Bool, "false", "all"),
            all_ns,
            selector,
            flag("ignore-not-found", None, Kind::Bool, "false", "ignore"),
            flag("wait", None, Kind::Bool, "true", "wait"),
            flag("timeout", None, Kind::Duration, "0s", "timeout"),
            flag("force", None, Kind::Bool, "false", "force"),
            flag("cascade", None, Kind::Str, "background", "cascade"),
            flag("grace-period", None, Kind::Int, "-1", "grace"),
            flag("now", None, Kind::Bool, "false", "now"),
            output,
        ],
        ["api-resources"] => vec![
            output,
            flag("namespaced", None, Kind::Bool, "true", "namespaced"),
            flag("verbs", None, Kind::StrSlice, "[]", "verbs"),
            flag("api-group", None, Kind::Str, "", "api group"),
            flag("no-headers", None, Kind::Bool, "false", "no headers"),
            flag("sort-by", None, Kind::Str, "", "sort by"),
            flag("cached", None, Kind::Bool, "false", "cached"),
            flag("categories", None, Kind::StrSlice, "[]", "categories"),
        ],
        ["config", "get-contexts"] => vec![
            output,
            flag("no-headers", None, Kind::Bool, "false", "no headers"),
        ],
        ["config", "current-context"] | ["config", "use-context"] => vec![],
        ["config", "view"] => vec![
            output,
            flag("minify", None, Kind::Bool, "false", "minify"),
            flag("raw", None, Kind::Bool, "false", "raw"),
            flag("flatten", None, Kind::Bool, "false", "flatten"),
            flag("merge", None, Kind::Bool, "true", "merge"),
        ],
        ["logs"] => vec![
            flag("container", Some('c'), Kind::Str, "", "container"),
            flag("follow", Some('f'), Kind::Bool, "false", "follow"),
            flag("tail", None, Kind::Int, "-1", "tail"),
            flag("previous", Some('p'), Kind::Bool, "false", "previous"),
            flag("all-containers", None, Kind::Bool, "false", "all"),
            flag("timestamps", None, Kind::Bool, "false", "timestamps"),
            flag("since", None, Kind::Duration, "0s", "since"),
            selector,
            flag("prefix", None, Kind::Bool, "false", "prefix"),
        ],
        _ => return None,
    };
    Some(v)
}

const COMMANDS: &[&[&str]] = &[
    &["version"],
    &["apply"],
    &["wait"],
    &["rollout", "status"],
    &["get"],
    &["delete"],
    &["api-resources"],
    &["config", "get-contexts"],
    &["config", "current-context"],
    &["config", "use-context"],
    &["config", "view"],
    &["logs"],
    &["kustomize"],
];

/// An error that ends the command: text for stderr (already formatted) and exit 1.
struct Fail(String);

fn err(msg: impl Into<String>) -> Fail {
    let m = msg.into();
    Fail(if m.starts_with("error: ") || m.starts_with("Error ") {
        m
    } else {
        format!("error: {m}")
    })
}

fn not_found(t: &ResType, name: &str) -> String {
    format!(
        "Error from server (NotFound): {} \"{name}\" not found",
        t.plural_group()
    )
}

pub fn main(argv: Vec<String>) -> i32 {
    let dir = common::state_dir();
    common::record_call(&dir, "kubectl", &argv);
    common::apply_faults(&dir, "kubectl", &argv);
    let is_cmd = |w: &[String]| {
        let p: Vec<&str> = w.iter().map(String::as_str).collect();
        COMMANDS.iter().any(|c| c.starts_with(&p))
    };
    let (words, rest) = flags::command_words(GLOBAL, &argv, is_cmd);
    let path: Vec<&str> = words.iter().map(String::as_str).collect();
    if path == ["kustomize"] {
        return kustomize(&argv);
    }
    let Some(mut local) = cmd_flags(&path) else {
        if let Some(first) = rest.iter().find(|a| !a.starts_with('-')) {
            eprintln!("error: unknown command \"{first}\" for \"kubectl\"");
            return 1;
        }
        if !path.is_empty() {
            eprintln!(
                "error: unknown command \"{}\" for \"kubectl {}\"",
                rest.first().cloned().unwrap_or_default(),
                path.join(" ")
            );
            return 1;
        }
        println!(
            "kubectl controls the Kubernetes cluster manager.\n\n Find more information at: https://kubernetes.io/docs/reference/kubectl/"
        );
        return 0;
    };
    local.extend(GLOBAL.iter().cloned());
    let p = match flags::parse(&local, &rest) {
        Ok(p) => p,
        Err(e) => {
            eprintln!(
                "error: {e}\nSee 'kubectl {} --help' for usage.",
                path.join(" ")
            );
            return 1;
        }
    };
    if p.bool("help", false) {
        println!("Usage:\n  kubectl {} [options]", path.join(" "));
        return 0;
    }
    let k = Kubectl { dir: &dir, p: &p };
    let result = match path.as_slice() {
        ["version"] => k.version(),
        ["apply"] => k.apply(),
        ["wait"] => k.wait(),
        ["rollout", "status"] => k.rollout_status(),
        ["get"] => k.get(),
        ["delete"] => k.delete(),
        ["api-resources"] => k.api_resources(),
        ["config", "get-contexts"] => k.get_contexts(),
        ["config", "current-context"] => k.current_context(),
        ["config", "use-context"] => k.use_context(),
        ["config", "view"] => k.config_view(),
        ["logs"] => k.logs(),
        _ => unreachable!(),
    };
    match result {
        Ok(code) => code,
        Err(Fail(msg)) => {
            let msg = if msg.ends_with('\n') {
                msg
            } else {
                format!("{msg}\n")
            };
            eprint!("{msg}");
            1
        }
    }
}

/// Delegate to the real kubectl, the one command it can do without a cluster.
fn kustomize(argv: &[String]) -> i32 {
    let real = std::env::var("DEVENV_REAL_KUBECTL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/usr/bin/kubectl".into());
    let me = std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok());
    if me.is_some() && std::fs::canonicalize(&real).ok() == me {
        eprintln!("error: DEVENV_REAL_KUBECTL points at the fake kubectl itself");
        return 1;
    }
    match std::process::Command::new(&real).args(argv).status() {
        Ok(s) => s.code().unwrap_or(1),
        Err(e) => {
            eprintln!("error: cannot run the real kubectl {real} for kustomize: {e}");
            1
        }
    }
}

struct Target {
    namespace: String,
    host_port: String,
    url: String,
}

struct Kubectl<'a> {
    dir: &'a Path,
    p: &'a Parsed,
}

fn klog_lines(url: &str, host_port: &str, n: usize) -> String {
    let now = now_ms();
    let t = common::rfc3339(now, local_offset_s(now), false);
    // E1125 00:04:34.953775   17253 memcache.go:265] ...
    let (date, time) = (&t[5..10], &t[11..19]);
    let mut out = String::new();
    for i in 0..n {
        let micros = (now % 1000) * 1000 + i as u64 * 37;
        out.push_str(&format!(
            "E{}{} {}.{:06} {:>7} memcache.go:265] \"Unhandled Error\" err=\"couldn't get current server API group list: Get \\\"{url}/api?timeout=32s\\\": dial tcp {host_port}: connect: connection refused\"\n",
            &date[0..2], &date[3..5], time, micros, std::process::id()
        ));
    }
    out
}

fn refused(t: &Target, klog: usize) -> Fail {
    Fail(format!(
        "{}The connection to the server {} was refused - did you specify the right host or port?",
        klog_lines(&t.url, &t.host_port, klog),
        t.host_port
    ))
}

impl<'a> Kubectl<'a> {
    fn target(&self) -> Result<Target, Fail> {
        let cfg = kubeconfig::load_for_kubectl(self.p.str("kubeconfig")).map_err(err)?;
        let explicit = self.p.str("context").filter(|c| !c.is_empty());
        let context = explicit.map(str::to_string).unwrap_or_else(|| {
            cfg.cfg["current-context"]
                .as_str()
                .unwrap_or("")
                .to_string()
        });
        let ctx_entry = kubeconfig::find(&cfg.cfg, "contexts", &context).cloned();
        if ctx_entry.is_none() && !context.is_empty() {
            return Err(Fail(format!(
                "Error in configuration: context was not found for specified context: {context}"
            )));
        }
        let cluster_name = self.p.str("cluster").map(str::to_string).or_else(|| {
            ctx_entry
                .as_ref()
                .and_then(|c| c["context"]["cluster"].as_str())
                .map(str::to_string)
        });
        let server = self.p.str("server").map(str::to_string).or_else(|| {
            cluster_name
                .as_deref()
                .and_then(|n| kubeconfig::find(&cfg.cfg, "clusters", n))
                .and_then(|c| c["cluster"]["server"].as_str())
                .map(str::to_string)
        });
        if let (Some(name), None) = (&cluster_name, &server) {
            return Err(Fail(format!(
                "Error in configuration: \n* cluster has no server defined\n* context was not found for specified context: {name}"
            )));
        }
        let url = server.unwrap_or_else(|| "http://localhost:8080".into());
        let host_port = url
            .split("://")
            .last()
            .unwrap_or(&url)
            .trim_end_matches('/')
            .to_string();
        let namespace = self
            .p
            .str("namespace")
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .or_else(|| {
                ctx_entry
                    .as_ref()
                    .and_then(|c| c["context"]["namespace"].as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "default".into());
        Ok(Target {
            namespace,
            host_port,
            url,
        })
    }

    /// The fake cluster answering at the target's address.
    fn cluster_of<'s>(&self, t: &Target, st: &'s State) -> Option<&'s Cluster> {
        let (host, port) = t.host_port.rsplit_once(':')?;
        st.clusters.values().find(|c| {
            c.api_port == port
                && [
                    c.api_host.as_str(),
                    c.api_host_ip.as_str(),
                    "0.0.0.0",
                    "127.0.0.1",
                    "localhost",
                ]
                .contains(&host)
        })
    }

    fn connect(&self, klog: usize) -> Result<(Target, State, String), Fail> {
        let t = self.target()?;
        let st = state::load(self.dir);
        let name = self
            .cluster_of(&t, &st)
            .map(|c| c.name.clone())
            .ok_or_else(|| refused(&t, klog))?;
        Ok((t, st, name))
    }

    fn version(&self) -> Result<i32, Fail> {
        // `kubectl kustomize` runs the real kubectl: a test whose rendering depends on the
        // kustomize version (helm v4 needs v5.8) makes the fake report the real one.
        let kustomize = std::env::var("DEVENV_FAKE_KUSTOMIZE_VERSION")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "v5.6.0".into());
        let client = json!({"major":"1","minor":"33","gitVersion":"v1.33.1","gitCommit":"8adc0f041b8e7ad1d30e29cc59c6ae7a15e19828","gitTreeState":"clean","buildDate":"2025-05-15T08:27:33Z","goVersion":"go1.24.2","compiler":"gc","platform":"linux/amd64"});
        let fields = [
            "major",
            "minor",
            "gitVersion",
            "gitCommit",
            "gitTreeState",
            "buildDate",
            "goVersion",
            "compiler",
            "platform",
        ];
        // serde_json sorts map keys; kubectl prints struct order, so write it by hand.
        let ordered = |v: &Value, indent: &str| -> String {
            let inner: Vec<String> = fields
                .iter()
                .map(|f| format!("{indent}  \"{f}\": {}", v[*f]))
                .collect();
            format!("{{\n{}\n{indent}}}", inner.join(",\n"))
        };
        let server = if self.p.bool("client", false) {
            None
        } else {
            match self.connect(5) {
                Ok((_, st, name)) => {
                    let c = &st.clusters[&name];
                    let k3s = c.k3s_version();
                    let minor = k3s.split('.').nth(1).unwrap_or("32").to_string();
                    Some(
                        json!({"major":"1","minor":minor,"gitVersion":k3s,"gitCommit":common::hex_id(&k3s, 40),"gitTreeState":"clean","buildDate":"2025-06-01T00:00:00Z","goVersion":"go1.23.8","compiler":"gc","platform":"linux/amd64"}),
                    )
                }
                Err(e) if self.p.str("output").is_none() => {
                    println!("Client Version: v1.33.1\nKustomize Version: {kustomize}");
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        };
        match self.p.str("output").unwrap_or("") {
            "json" => {
                let mut s = format!(
                    "{{\n  \"clientVersion\": {},\n  \"kustomizeVersion\": \"{kustomize}\"",
                    ordered(&client, "  ")
                );
                if let Some(sv) = &server {
                    s.push_str(&format!(",\n  \"serverVersion\": {}", ordered(sv, "  ")));
                }
                println!("{s}\n}}");
            }
            "yaml" => {
                let mut v = json!({"clientVersion": client, "kustomizeVersion": kustomize});
                if let Some(sv) = server {
                    v["serverVersion"] = sv;
                }
                println!("{}", serde_yaml_ng::to_string(&v).unwrap());
            }
            "" => {
                println!("Client Version: v1.33.1\nKustomize Version: {kustomize}");
                if let Some(sv) = server {
                    println!(
                        "Server Version: {}",
                        sv["gitVersion"].as_str().unwrap_or("")
                    );
                }
            }
            other => {
                return Err(err(format!(
                    "--output must be 'yaml' or 'json', got {other:?}"
                )
                .replace("\"", "'")))
            }
        }
        Ok(0)
    }

    /// Documents from `-f` (files, directories, `-`) and `-k`, with their source names.
    fn read_docs(&self) -> Result<Vec<(String, Value)>, Fail> {
        let mut out = Vec::new();
        let recursive = self.p.bool("recursive", false);
        let mut sources: Vec<(String, String)> = Vec::new();
        for f in self.p.all("filename") {
            if f == "-" {
                let mut s = String::new();
                let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s);
                sources.push(("STDIN".into(), s));
                continue;
            }
            if f.starts_with("http://") || f.starts_with("https://") {
                return Err(err(format!(
                    "unable to read URL \"{f}\", server reported 404 Not Found, status code=404"
                )));
            }
            let path = PathBuf::from(&f);
            if path.is_dir() {
                let mut files = Vec::new();
                collect_dir(&path, recursive, &mut files);
                for fp in files {
                    let text = std::fs::read_to_string(&fp).map_err(|e| err(e.to_string()))?;
                    sources.push((fp.display().to_string(), text));
                }
            } else if path.exists() {
                sources.push((
                    f.clone(),
                    std::fs::read_to_string(&path).map_err(|e| err(format!("open {f}: {e}")))?,
                ));
            } else {
                return Err(err(format!("the path \"{f}\" does not exist")));
            }
        }
        if let Some(k) = self.p.str("kustomize").filter(|k| !k.is_empty()) {
            let real = std::env::var("DEVENV_REAL_KUBECTL")
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "/usr/bin/kubectl".into());
            let o = std::process::Command::new(real)
                .args(["kustomize", k])
                .output()
                .map_err(|e| err(e.to_string()))?;
            if !o.status.success() {
                return Err(Fail(String::from_utf8_lossy(&o.stderr).into_owned()));
            }
            sources.push((
                k.to_string(),
                String::from_utf8_lossy(&o.stdout).into_owned(),
            ));
        }
        if sources.is_empty() {
            return Err(err("must specify one of -f and -k"));
        }
        for (src, text) in sources {
            for doc in serde_yaml_ng::Deserializer::from_str(&text) {
                let v: Value = serde::Deserialize::deserialize(doc).map_err(|e| {
                    err(format!(
                        "error parsing {src}: error converting YAML to JSON: yaml: {e}"
                    ))
                })?;
                if v.is_null() {
                    continue;
                }
                // a `kind: List` expands to its items, as kubectl does
                if v.get("kind")
                    .and_then(Value::as_str)
                    .is_some_and(|k| k.ends_with("List"))
                    && v.get("items").is_some()
                {
                    for item in v["items"].as_array().cloned().unwrap_or_default() {
                        out.push((src.clone(), item));
                    }
                } else {
                    out.push((src.clone(), v));
                }
            }
        }
        Ok(out)
    }

    fn apply(&self) -> Result<i32, Fail> {
        let p = self.p;
        let ssa = p.bool("server-side", false);
        let force = p.bool("force-conflicts", false);
        if force && !ssa {
            return Err(err("--force-conflicts only works with --server-side"));
        }
        let manager = match p.str("field-manager") {
            Some(m) => m.to_string(),
            None if ssa => "kubectl".into(),
            None => "kubectl-client-side-apply".into(),
        };
        let dry = match p.str("dry-run").unwrap_or("none") {
            "none" | "false" => "",
            "server" => " (server dry run)",
            "client" | "true" => " (dry run)",
            other => {
                return Err(err(format!(
                    "Invalid dry-run value ({other}). Must be \"none\", \"server\", or \"client\"."
                )))
            }
        };
        // kubectl staging/src/k8s.io/kubectl/pkg/cmd/apply/apply.go, ApplyOptions.Validate:
        // the combinations refused before anything is read.
        let dry_run = p.str("dry-run").unwrap_or("none");
        if ssa && ["client", "true"].contains(&dry_run) {
            return Err(err("--dry-run=client doesn't work with --server-side (did you mean --dry-run=server instead?)"));
        }
        if ssa && p.bool("force", false) {
            return Err(err("--force cannot be used with --server-side"));
        }
        if dry_run == "server" && p.bool("force", false) {
            return Err(err("--dry-run=server cannot be used with --force"));
        }
        let output = p.str("output").unwrap_or("").to_string();
        if !["", "json", "name"].contains(&output.as_str()) {
            return Err(err(format!("unable to match a printer suitable for the output format \"{output}\", allowed formats are: json,name")));
        }
        let docs = self.read_docs()?;
        let t = self.target()?;
        let mut locked = state::load_locked(self.dir);
        let Some(cname) = self.cluster_of(&t, &locked.state).map(|c| c.name.clone()) else {
            let src = docs
                .first()
                .map(|d| d.0.clone())
                .unwrap_or_else(|| "STDIN".into());
            if p.str("validate").unwrap_or("strict") == "false" {
                return Err(refused(&t, 5));
            }
            return Err(err(format!(
                "error validating \"{src}\": error validating data: failed to download openapi: Get \"{}/openapi/v2?timeout=32s\": dial tcp {}: connect: connection refused; if you choose to ignore these errors, turn validation off with --validate=false",
                t.url, t.host_port
            )));
        };
        if docs.is_empty() {
            return Err(err("no objects passed to apply"));
        }
        let explicit_ns = p.str("namespace").filter(|n| !n.is_empty());
        let mut errors: Vec<String> = Vec::new();
        // REST mappings are resolved before anything is applied (a CRD and its CRs in one
        // apply fail the first time, as with the real kubectl).
        let mappings: Vec<Option<ResType>> = {
            let st = &locked.state;
            let v = kube::view(&st.clusters[&cname], st, self.dir);
            docs.iter()
                .map(|(_, d)| {
                    v.mapping(
                        d["apiVersion"].as_str().unwrap_or(""),
                        d["kind"].as_str().unwrap_or(""),
                    )
                })
                .collect()
        };
        let mut changed = false;
        // A server dry run is the whole apply on a copy of the cluster, never saved: the
        // objects come back as the apply would leave them, server-set fields and all.
        let mut scratch =
            (dry == " (server dry run)").then(|| locked.state.clusters[&cname].clone());
        let mut printed: Vec<(ResType, Option<String>, String)> = Vec::new();
        for ((src, doc), mapping) in docs.iter().zip(mappings) {
            let api_version = doc["apiVersion"].as_str().unwrap_or("");
            let kind = doc["kind"].as_str().unwrap_or("");
            let name = doc
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            let doc_ns = doc.pointer("/metadata/namespace").and_then(Value::as_str);
            if kind.is_empty() || api_version.is_empty() {
                let what = if kind.is_empty() {
                    "Kind"
                } else {
                    "APIVersion"
                };
                errors.push(format!(
                    "error: unable to decode \"{src}\": Object '{what}' is missing in '{}'",
                    serde_json::to_string(doc).unwrap_or_default()
                ));
                continue;
            }
            let Some(rt) = mapping else {
                errors.push(format!(
                    "error: resource mapping not found for name: \"{name}\" namespace: \"{}\" from \"{src}\": no matches for kind \"{kind}\" in version \"{api_version}\"\nensure CRDs are installed first",
                    doc_ns.unwrap_or("")
                ));
                continue;
            };
            let ns = if rt.namespaced {
                if let (Some(d), Some(e)) = (doc_ns, explicit_ns) {
                    if d != e {
                        errors.push(format!("error: the namespace from the provided object \"{d}\" does not match the namespace \"{e}\". You must pass '--namespace={d}' to perform this operation."));
                        continue;
                    }
                }
                Some(
                    doc_ns
                        .map(str::to_string)
                        .unwrap_or_else(|| t.namespace.clone()),
                )
            } else {
                None
            };
            if name.is_empty() {
                errors.push(format!("error: error when retrieving current configuration of:\nResource: \"{}/{}, Resource={}\", GroupVersionKind: \"{}, Kind={kind}\"\nName: \"\", Namespace: \"{}\"\nfrom server for: \"{src}\": resource name may not be empty", rt.group, rt.version, rt.plural, api_version, ns.clone().unwrap_or_default()));
                continue;
            }
            let cluster = locked.state.clusters.get_mut(&cname).unwrap();
            if let Some(n) = &ns {
                let exists = cluster
                    .objects
                    .iter()
                    .any(|o| o.group.is_empty() && o.kind == "Namespace" && &o.name == n);
                if !exists {
                    errors.push(format!(
                        "Error from server (NotFound): namespaces \"{n}\" not found"
                    ));
                    continue;
                }
            }
            let mut body = doc.clone();
            if let Some(m) = body.as_object_mut() {
                m.remove("status");
            }
            let existing = cluster.objects.iter().find(|o| {
                o.group == rt.group && o.kind == rt.kind && o.namespace == ns && o.name == name
            });
            // Strict field validation (kube::undeclared_fields cites the rules): the whole
            // patch is refused, `Error from server (BadRequest)`.
            let validate = p.str("validate").unwrap_or("strict");
            if ssa && !["false", "ignore", "warn"].contains(&validate) {
                let unknown = kube::undeclared_fields(&rt, &body);
                if !unknown.is_empty() {
                    let detail = if unknown.len() == 1 {
                        unknown[0].clone()
                    } else {
                        format!("errors:\n  {}", unknown.join("\n  "))
                    };
                    errors.push(format!(
                        "Error from server (BadRequest): error when serverside-apply \"{src}\": failed to create typed patch object ({}/{name}; {}, Kind={}): {detail}",
                        ns.clone().unwrap_or_default(),
                        if rt.group.is_empty() { format!("/{}", rt.version) } else { rt.api_version() },
                        rt.kind
                    ));
                    continue;
                }
            }
            // kubernetes staging/src/k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle/admission.go:
            // nothing new is created in a namespace being terminated (updates still pass),
            // admission.NewForbidden → `RESOURCE "NAME" is forbidden: …`; kubectl's apply
            // prefixes the source (kubectl pkg/cmd/util/helpers.go AddSourceToErr).
            if let (Some(n), None) = (&ns, existing) {
                if kube::namespace_terminating(cluster, n) {
                    let verb = if ssa { "serverside-apply" } else { "creating" };
                    errors.push(format!(
                        "Error from server (Forbidden): error when {verb} \"{src}\": {} \"{name}\" is forbidden: unable to create new content in namespace {n} because it is being terminated",
                        rt.plural_group()
                    ));
                    continue;
                }
            }
            // Update validation of immutable fields (kube::immutable_violation cites the
            // rules): a StatusError of reason Invalid, `KIND.GROUP "NAME" is invalid: …`
            // (apimachinery pkg/api/errors/errors.go NewInvalid), with the source prefixed
            // as above; kubectl exits 1.
            if let Some((old, new)) =
                kube::preview_apply(cluster, &rt, ns.as_deref(), name, &body, &manager, force)
            {
                if let Some(why) = kube::immutable_violation(&rt, &old, &new) {
                    let qualified = if rt.group.is_empty() {
                        rt.kind.clone()
                    } else {
                        format!("{}.{}", rt.kind, rt.group)
                    };
                    let verb = if ssa { "serverside-apply" } else { "patching" };
                    errors.push(format!(
                        "Error from server (Invalid): error when {verb} \"{src}\": {qualified} \"{name}\" is invalid: {why}"
                    ));
                    continue;
                }
            }
            if ssa && !force {
                if let Some(o) = existing {
                    let others: Vec<&String> = o
                        .managers
                        .iter()
                        .filter(|m| {
                            **m != manager
                                && !["k3s", "kubectl-client-side-apply"].contains(&m.as_str())
                        })
                        .collect();
                    let mut diffs = Vec::new();
                    leaf_diffs("", &o.body, &body, &mut diffs);
                    if let (Some(other), false) = (others.first(), diffs.is_empty()) {
                        let n = diffs.len();
                        let list = diffs
                            .iter()
                            .map(|d| format!("conflict with \"{other}\": {d}"))
                            .collect::<Vec<_>>();
                        let head = if n == 1 {
                            format!(
                                "Apply failed with 1 conflict: {}",
                                list[0].replacen(
                                    ": ",
                                    &format!(" using {}: ", rt.api_version()),
                                    1
                                )
                            )
                        } else {
                            format!(
                                "Apply failed with {n} conflicts: {}",
                                list.iter()
                                    .map(|l| l.replacen(
                                        ": ",
                                        &format!(" using {}: ", rt.api_version()),
                                        1
                                    ))
                                    .collect::<Vec<_>>()
                                    .join("\n")
                            )
                        };
                        errors.push(format!("error: {head}\nPlease review the fields above--they currently have other managers. Here\nare the ways you can resolve this warning:\n* If you intend to manage all of these fields, please re-run the apply\n  command with the `--force-conflicts` flag.\n* If you do not intend to manage all of the fields, please edit your\n  manifest to remove references to the fields that should keep their\n  current managers.\n* You may co-own fields by updating your manifest to match the existing\n  value; in this case, you'll become the manager if the other manager(s)\n  stop managing the field (remove it from their configuration).\nSee https://kubernetes.io/docs/reference/using-api/server-side-apply/#conflicts"));
                        continue;
                    }
                }
            }
            let op = if ssa {
                "serverside-applied"
            } else {
                match existing {
                    None => "created",
                    Some(o) if o.body == body => "unchanged",
                    Some(_) => "configured",
                }
            };
            if dry.is_empty() {
                changed |= kube::upsert(cluster, &rt, ns.clone(), name, body, &manager, force);
            } else if let Some(copy) = scratch.as_mut() {
                kube::upsert(copy, &rt, ns.clone(), name, body, &manager, force);
            }
            match output.as_str() {
                "json" => printed.push((rt, ns, name.to_string())),
                "name" => println!("{}/{name}", rt.kind_group()),
                _ => println!("{}/{name} {op}{dry}", rt.kind_group()),
            }
        }
        if output == "json" && !printed.is_empty() {
            // One object alone, several as a List (kubectl's printer over the visited infos).
            let cluster = scratch.as_ref().unwrap_or(&locked.state.clusters[&cname]);
            let v = kube::view(cluster, &locked.state, self.dir);
            let items: Vec<Value> = printed
                .iter()
                .filter_map(|(rt, ns, name)| v.get(rt, ns.as_deref(), name))
                .collect();
            let data = if items.len() == 1 {
                items[0].clone()
            } else {
                json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}})
            };
            println!("{}", go_json_indent(&data, "    "));
        }
        if changed || dry.is_empty() {
            locked.save();
        }
        drop(locked);
        report(errors)
    }

    /// Resources named on the command line or in `-f` files: (type, names or None for all).
    fn resource_args(
        &self,
        v: &View,
        args: &[String],
        require_name: bool,
    ) -> Result<Vec<(ResType, Option<String>)>, Fail> {
        let mut out = Vec::new();
        if !self.p.all("filename").is_empty() {
            for (src, d) in self.read_docs()? {
                let av = d["apiVersion"].as_str().unwrap_or("");
                let kind = d["kind"].as_str().unwrap_or("");
                let name = d
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                match v.mapping(av, kind) {
                    Some(t) => out.push((t, Some(name))),
                    None => {
                        return Err(err(format!(
                            "resource mapping not found for name: \"{name}\" namespace: \"{}\" from \"{src}\": no matches for kind \"{kind}\" in version \"{av}\"\nensure CRDs are installed first",
                            d.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("")
                        )))
                    }
                }
            }
            return Ok(out);
        }
        if args.is_empty() {
            return Err(err("You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'"));
        }
        if args[0].contains('/') {
            for a in args {
                let Some((ty, name)) = a.split_once('/') else {
                    return Err(err(format!("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'kubectl get resource/<resource_name>' instead of 'kubectl get resource resource/<resource_name>'")));
                };
                let t = v.resolve(ty).ok_or_else(|| {
                    err(format!("the server doesn't have a resource type \"{ty}\""))
                })?;
                out.push((t, Some(name.to_string())));
            }
            return Ok(out);
        }
        let mut types = Vec::new();
        for ty in args[0].split(',') {
            types.push(
                v.resolve(ty).ok_or_else(|| {
                    err(format!("the server doesn't have a resource type \"{ty}\""))
                })?,
            );
        }
        if args.len() == 1 {
            if require_name {
                return Err(err("resource(s) were provided, but no name was specified"));
            }
            for t in types {
                out.push((t, None));
            }
        } else {
            for t in &types {
                for n in &args[1..] {
                    out.push((t.clone(), Some(n.clone())));
                }
            }
        }
        Ok(out)
    }

    fn deadline(&self, default_ns: i128) -> Option<u64> {
        let ns = self.p.duration("timeout").unwrap_or(default_ns);
        if ns < 0 {
            return Some(now_ms() + scaled(7 * 24 * 3600 * 1000));
        }
        if ns == 0 {
            return None;
        }
        Some(now_ms() + scaled((ns / 1_000_000) as u64))
    }

    fn wait(&self) -> Result<i32, Fail> {
        let p = self.p;
        let for_ = p.str("for").unwrap_or("").to_string();
        enum For {
            Delete,
            Create,
            Cond(String, String),
            JsonPath(String, Option<String>),
        }
        let cond = if for_.eq_ignore_ascii_case("delete") {
            For::Delete
        } else if for_.eq_ignore_ascii_case("create") {
            For::Create
        } else if let Some(c) = for_.strip_prefix("condition=") {
            match c.split_once('=') {
                Some((k, v)) => For::Cond(k.to_string(), v.to_string()),
                None => For::Cond(c.to_string(), "true".into()),
            }
        } else if let Some(j) = for_.strip_prefix("jsonpath=") {
            let (expr, val) = match j.rfind("}=") {
                Some(i) => (j[..=i].to_string(), Some(j[i + 2..].to_string())),
                None => (j.to_string(), None),
            };
            For::JsonPath(expr, val)
        } else if for_.is_empty() {
            return Err(err("--for must be specified"));
        } else {
            return Err(err(format!("unrecognized condition: \"{for_}\"")));
        };
        let timeout_ns = p.duration("timeout").unwrap_or(30_000_000_000);
        let once = timeout_ns == 0;
        let deadline = self.deadline(30_000_000_000).unwrap_or_else(now_ms);
        let all = p.bool("all", false) || p.str("selector").is_some();
        let klog = if all || p.args.first().is_some_and(|a| !a.contains('/')) {
            5
        } else {
            4
        };
        let (t, st, cname) = self.connect(klog)?;
        let targets = {
            let v = kube::view(&st.clusters[&cname], &st, self.dir);
            let targets = self.resource_args(&v, &p.args, !all)?;
            let ns = if p.bool("all-namespaces", false) {
                None
            } else {
                Some(t.namespace.as_str())
            };
            let mut infos: Vec<(ResType, String, Option<String>)> = Vec::new();
            for (rt, name) in targets {
                let ns_for = if rt.namespaced { ns } else { None };
                match name {
                    Some(n) => {
                        let exists = v.get(&rt, ns_for, &n).is_some();
                        if !exists && !matches!(cond, For::Create | For::Delete) {
                            return Err(Fail(not_found(&rt, &n)));
                        }
                        if exists || matches!(cond, For::Create) {
                            infos.push((rt.clone(), n, ns_for.map(str::to_string)));
                        }
                    }
                    None => {
                        let sel = p.str("selector").map(parse_selector).unwrap_or_default();
                        for obj in v
                            .list(&rt, ns_for)
                            .into_iter()
                            .filter(|o| matches_selector(o, &sel))
                        {
                            let n = obj
                                .pointer("/metadata/name")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string();
                            let ons = obj
                                .pointer("/metadata/namespace")
                                .and_then(Value::as_str)
                                .map(str::to_string);
                            infos.push((rt.clone(), n, ons));
                        }
                    }
                }
            }
            if infos.is_empty() && !matches!(cond, For::Delete) {
                return Err(err("no matching resources found"));
            }
            infos
        };
        for (rt, name, ns) in targets {
            loop {
                let st = state::load(self.dir);
                let obj = st
                    .clusters
                    .get(&cname)
                    .and_then(|c| kube::view(c, &st, self.dir).get(&rt, ns.as_deref(), &name));
                if !st.clusters.contains_key(&cname) {
                    return Err(refused(&t, klog));
                }
                let met = match (&cond, &obj) {
                    (For::Delete, None) => true,
                    (For::Delete, Some(_)) => false,
                    (For::Create, o) => o.is_some(),
                    (For::Cond(k, want), Some(o)) => o
                        .pointer("/status/conditions")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .any(|c| {
                            c["type"]
                                .as_str()
                                .is_some_and(|t| t.eq_ignore_ascii_case(k))
                                && c["status"]
                                    .as_str()
                                    .is_some_and(|s| s.eq_ignore_ascii_case(want))
                        }),
                    (For::JsonPath(expr, want), Some(o)) => {
                        let got = jsonpath::execute(expr.trim_matches('\''), o).unwrap_or_default();
                        match want {
                            Some(w) => got == *w.trim_matches('\''),
                            None => !got.is_empty(),
                        }
                    }
                    (_, None) => false,
                };
                if met {
                    println!("{}/{name} condition met", rt.kind_group());
                    break;
                }
                if now_ms() >= deadline {
                    return Err(match cond {
                        For::Create => err("timed out waiting for the condition"),
                        _ if once => err(format!("condition not met for {}/{name}", rt.plural)),
                        _ => err(format!(
                            "timed out waiting for the condition on {}/{name}",
                            rt.plural
                        )),
                    });
                }
                common::sleep_ms(20.min(deadline.saturating_sub(now_ms())).max(1));
            }
        }
        Ok(0)
    }

    fn rollout_status(&self) -> Result<i32, Fail> {
        let p = self.p;
        let (t, st, cname) = self.connect(4)?;
        let (rt, name) = {
            let v = kube::view(&st.clusters[&cname], &st, self.dir);
            let mut targets = self.resource_args(&v, &p.args, true)?;
            if targets.len() != 1 {
                return Err(err(
                    "rollout status is only supported on individual resources and resource collections, but 2 resources were found",
                ));
            }
            let (rt, name) = targets.remove(0);
            (rt, name.unwrap_or_default())
        };
        if !(rt.group == "apps"
            && ["Deployment", "DaemonSet", "StatefulSet"].contains(&rt.kind.as_str()))
        {
            return Err(err(format!(
                "no status viewer has been implemented for {}",
                rt.kind
            )));
        }
        let ns = Some(t.namespace.clone());
        let deadline = self.deadline(0);
        let watch = p.bool("watch", true);
        let mut last = String::new();
        loop {
            let st = state::load(self.dir);
            let Some(c) = st.clusters.get(&cname) else {
                return Err(refused(&t, 4));
            };
            let v = kube::view(c, &st, self.dir);
            let Some(obj) = v.get(&rt, ns.as_deref(), &name) else {
                return Err(Fail(not_found(&rt, &name)));
            };
            let (msg, done) = rollout_message(&rt.kind, &obj)?;
            if msg != last || done {
                print!("{msg}");
                last = msg;
            }
            if done || !watch {
                return Ok(0);
            }
            if deadline.is_some_and(|d| now_ms() >= d) {
                return Err(err("timed out waiting for the condition"));
            }
            let wait = deadline
                .map_or(50, |d| d.saturating_sub(now_ms()).min(50))
                .max(1);
            common::sleep_ms(wait);
        }
    }

    fn get(&self) -> Result<i32, Fail> {
        let p = self.p;
        let (t, st, cname) = self.connect(5)?;
        let v = kube::view(&st.clusters[&cname], &st, self.dir);
        let targets = self.resource_args(&v, &p.args, false)?;
        let all_ns = p.bool("all-namespaces", false);
        let sel = p.str("selector").map(parse_selector).unwrap_or_default();
        // --field-selector: `path=value`, `path==value`, `path!=value`, comma-separated, on
        // the fields the API indexes (apimachinery pkg/fields/selector.go; for events
        // involvedObject.*, reason, type, source: pkg/registry/core/event/strategy.go).
        let fields: Vec<(String, bool, String)> = p
            .str("field-selector")
            .unwrap_or("")
            .split(',')
            .filter(|t| !t.is_empty())
            .map(|t| {
                if let Some((k, v)) = t.split_once("!=") {
                    (k.to_string(), false, v.to_string())
                } else {
                    let (k, v) = t.split_once('=').unwrap_or((t, ""));
                    (k.to_string(), true, v.trim_start_matches('=').to_string())
                }
            })
            .collect();
        let field_ok = |o: &Value| {
            fields.iter().all(|(k, eq, v)| {
                let ptr = format!("/{}", k.replace('.', "/"));
                let got = o.pointer(&ptr).and_then(Value::as_str).unwrap_or("");
                (got == v) == *eq
            })
        };
        let mut items = Vec::new();
        let mut errors = Vec::new();
        let single = targets.len() == 1 && targets[0].1.is_some();
        for (rt, name) in &targets {
            let ns = if !rt.namespaced || all_ns {
                None
            } else {
                Some(t.namespace.as_str())
            };
            match name {
                Some(n) => match v.get(rt, ns, n) {
                    Some(o) => items.push((rt.clone(), o)),
                    None if p.bool("ignore-not-found", false) => {}
                    None => errors.push(not_found(rt, n)),
                },
                None => items.extend(
                    v.list(rt, ns)
                        .into_iter()
                        .filter(|o| matches_selector(o, &sel) && field_ok(o))
                        .map(|o| (rt.clone(), o)),
                ),
            }
        }
        let output = p.str("output").unwrap_or("").to_string();
        let as_list = || json!({"apiVersion": "v1", "items": items.iter().map(|(_, o)| o.clone()).collect::<Vec<_>>(), "kind": "List", "metadata": {"resourceVersion": ""}});
        let data = if single && items.len() == 1 {
            items[0].1.clone()
        } else {
            as_list()
        };
        let show = !(single && items.is_empty());
        if output == "json" {
            if show {
                println!("{}", go_json_indent(&data, "    "));
            }
        } else if output == "yaml" {
            if show {
                print!("{}", serde_yaml_ng::to_string(&data).unwrap());
            }
        } else if output == "name" {
            for (rt, o) in &items {
                println!(
                    "{}/{}",
                    rt.kind_group(),
                    o["metadata"]["name"].as_str().unwrap_or("")
                );
            }
        } else if let Some(tpl) = output
            .strip_prefix("jsonpath=")
            .or_else(|| output.strip_prefix("jsonpath-as-json="))
        {
            if show {
                let tpl = tpl.trim_matches('\'');
                print!("{}", jsonpath::execute(tpl, &data).map_err(err)?);
            }
        } else if output.is_empty() || output == "wide" {
            if items.is_empty() && errors.is_empty() {
                if targets.iter().any(|(rt, _)| rt.namespaced) && !all_ns {
                    eprintln!("No resources found in {} namespace.", t.namespace);
                } else {
                    eprintln!("No resources found");
                }
            } else if !items.is_empty() {
                print!(
                    "{}",
                    table(&items, all_ns, p.bool("no-headers", false), v.now)
                );
            }
        } else {
            return Err(err(format!("unable to match a printer suitable for the output format \"{output}\", allowed formats are: custom-columns,custom-columns-file,go-template,go-template-file,json,jsonpath,jsonpath-as-json,jsonpath-file,name,template,templatefile,wide,yaml")));
        }
        report(errors)
    }

    fn delete(&self) -> Result<i32, Fail> {
        let p = self.p;
        // kubectl pkg/cmd/delete/delete_flags.go parseCascadingFlag.
        let cascade = p.str("cascade").unwrap_or("background");
        if !["background", "foreground", "orphan", "true", "false"].contains(&cascade) {
            return Err(err(format!(
                "invalid cascade value ({cascade}). Must be \"background\", \"foreground\", or \"orphan\""
            )));
        }
        let (t, st, cname) = self.connect(5)?;
        let all_ns = p.bool("all-namespaces", false);
        let sel = p
            .str("selector")
            .filter(|s| !s.is_empty())
            .map(parse_selector);
        // (type, name, namespace) of every object the command names or selects
        let targets: Vec<(ResType, String, Option<String>)> = {
            let v = kube::view(&st.clusters[&cname], &st, self.dir);
            // `-l` and `--all` select within the namespace (every namespace with `-A`);
            // names are looked up in the namespace and may not be combined with either.
            let select = p.bool("all", false) || sel.is_some();
            let named = self.resource_args(&v, &p.args, !select)?;
            if sel.is_some() && named.iter().any(|(_, n)| n.is_some()) {
                return Err(err("name cannot be provided when a selector is specified"));
            }
            if all_ns && named.iter().any(|(_, n)| n.is_some()) {
                return Err(err(
                    "a resource cannot be retrieved by name across all namespaces",
                ));
            }
            let mut out = Vec::new();
            for (rt, name) in named {
                match name {
                    Some(n) => {
                        let ns = rt.namespaced.then(|| t.namespace.clone());
                        out.push((rt, n, ns));
                    }
                    None => {
                        let ns = (rt.namespaced && !all_ns).then_some(t.namespace.as_str());
                        let sel = sel.clone().unwrap_or_default();
                        for o in v
                            .list(&rt, ns)
                            .into_iter()
                            .filter(|o| matches_selector(o, &sel))
                        {
                            let name = o["metadata"]["name"].as_str().unwrap_or("").to_string();
                            let ns = o["metadata"]["namespace"].as_str().map(str::to_string);
                            out.push((rt.clone(), name, ns));
                        }
                    }
                }
            }
            out
        };
        let mut locked = state::load_locked(self.dir);
        let mut errors = Vec::new();
        let mut dropped_types = Vec::new();
        let mut found = 0;
        let mut deleted_ns = Vec::new();
        for (rt, name, ns) in targets {
            let cluster = locked.state.clusters.get_mut(&cname).unwrap();
            match kube::delete(cluster, &rt, ns.as_deref(), &name) {
                Some(crd) => {
                    found += 1;
                    if rt.group.is_empty() && rt.kind == "Namespace" {
                        deleted_ns.push(name.clone());
                    }
                    dropped_types.extend(crd);
                    println!("{} \"{name}\" deleted", rt.kind_group());
                }
                None if p.bool("ignore-not-found", false) => {}
                None => errors.push(not_found(&rt, &name)),
            }
        }
        let cluster = locked.state.clusters.get_mut(&cname).unwrap();
        for ct in &dropped_types {
            kube::drop_custom_resources(cluster, ct);
        }
        let terminating = deleted_ns;
        locked.save();
        drop(locked);
        // kubectl pkg/cmd/delete/delete.go DeleteResult: with --wait (the default) kubectl
        // waits until what it deleted is gone (a week when --timeout is 0); what lingers in
        // the fake is a Terminating Namespace.
        if p.bool("wait", true) && p.str("dry-run").unwrap_or("none") == "none" {
            let timeout_ms = (p.duration("timeout").unwrap_or(0) / 1_000_000) as u64;
            let deadline = now_ms()
                + if timeout_ms == 0 {
                    168 * 3_600_000
                } else {
                    timeout_ms
                };
            loop {
                let st = state::load(self.dir);
                let Some(c) = st.clusters.get(&cname) else {
                    break;
                };
                if !terminating
                    .iter()
                    .any(|n| kube::namespace_terminating(c, n))
                {
                    break;
                }
                if now_ms() >= deadline {
                    return Err(err("timed out waiting for the condition"));
                }
                common::sleep_ms(20);
            }
        }
        // delete.go DeleteResult: nothing visited (NotFound ignored or none selected).
        if found == 0 && errors.is_empty() {
            println!("No resources found");
        }
        report(errors)
    }

    /// `kubectl api-resources`: the types the API serves now (built in, CRDs, the operator's),
    /// sorted by group as kubectl does by default; `-o name` prints `plural[.group]`.
    fn api_resources(&self) -> Result<i32, Fail> {
        let p = self.p;
        let (_, st, cname) = self.connect(5)?;
        let v = kube::view(&st.clusters[&cname], &st, self.dir);
        // Every type the fake serves supports the standard verbs.
        const VERBS: &[&str] = &[
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ];
        let verbs_ok = p.all("verbs").iter().all(|w| VERBS.contains(&w.as_str()));
        let namespaced = p.has("namespaced").then(|| p.bool("namespaced", true));
        let group = p.str("api-group");
        let mut types: Vec<ResType> = v
            .types()
            .into_iter()
            .map(|(t, _)| t)
            .filter(|t| namespaced.is_none_or(|n| t.namespaced == n))
            .filter(|t| group.is_none_or(|g| t.group == g))
            .filter(|_| verbs_ok)
            .collect();
        types.sort_by(|a, b| (&a.group, &a.plural).cmp(&(&b.group, &b.plural)));
        match p.str("output").unwrap_or("") {
            "name" => {
                for t in &types {
                    println!("{}", t.plural_group());
                }
            }
            "" | "wide" => {
                let mut rows = vec![vec![
                    "NAME".to_string(),
                    "SHORTNAMES".into(),
                    "APIVERSION".into(),
                    "NAMESPACED".into(),
                    "KIND".into(),
                ]];
                for t in &types {
                    rows.push(vec![
                        t.plural.clone(),
                        t.short.join(","),
                        t.api_version(),
                        t.namespaced.to_string(),
                        t.kind.clone(),
                    ]);
                }
                if p.bool("no-headers", false) {
                    rows.remove(0);
                }
                print!("{}", crate::common::tabwriter(&rows, false));
            }
            other => return Err(err(format!("--output {other} is not available"))),
        }
        Ok(0)
    }

    fn get_contexts(&self) -> Result<i32, Fail> {
        let cfg = kubeconfig::load_for_kubectl(self.p.str("kubeconfig")).map_err(err)?;
        let mut names = kubeconfig::names(&cfg.cfg, "contexts");
        names.sort();
        let wanted = &self.p.args;
        let current = cfg.cfg["current-context"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let mut missing = Vec::new();
        for w in wanted {
            if !names.contains(w) {
                missing.push(format!("error: context {w} not found"));
            }
        }
        let shown: Vec<String> = if wanted.is_empty() {
            names
        } else {
            names.into_iter().filter(|n| wanted.contains(n)).collect()
        };
        match self.p.str("output").unwrap_or("") {
            "name" => {
                for n in &shown {
                    println!("{n}");
                }
            }
            "" => {
                let mut rows = vec![vec![
                    "CURRENT".to_string(),
                    "NAME".into(),
                    "CLUSTER".into(),
                    "AUTHINFO".into(),
                    "NAMESPACE".into(),
                ]];
                for n in &shown {
                    let c = kubeconfig::find(&cfg.cfg, "contexts", n)
                        .cloned()
                        .unwrap_or(Value::Null);
                    let s = |k: &str| c["context"][k].as_str().unwrap_or("").to_string();
                    rows.push(vec![
                        if *n == current {
                            "*".into()
                        } else {
                            String::new()
                        },
                        n.clone(),
                        s("cluster"),
                        s("user"),
                        s("namespace"),
                    ]);
                }
                if self.p.bool("no-headers", false) {
                    rows.remove(0);
                }
                print!("{}", crate::common::tabwriter(&rows, true));
            }
            other => return Err(err(format!("output must be one of '' or 'name': {other}"))),
        }
        report(missing)
    }

    fn current_context(&self) -> Result<i32, Fail> {
        let cfg = kubeconfig::load_for_kubectl(self.p.str("kubeconfig")).map_err(err)?;
        match cfg.cfg["current-context"]
            .as_str()
            .filter(|s| !s.is_empty())
        {
            Some(c) => {
                println!("{c}");
                Ok(0)
            }
            None => Err(err("current-context is not set")),
        }
    }

    fn use_context(&self) -> Result<i32, Fail> {
        let Some(name) = self.p.args.first() else {
            return Err(err(
                "Unexpected args: []\nSee 'kubectl config use-context -h' for help and examples",
            ));
        };
        let cfg = kubeconfig::load_for_kubectl(self.p.str("kubeconfig")).map_err(err)?;
        if kubeconfig::find(&cfg.cfg, "contexts", name).is_none() {
            return Err(err(format!("no context exists with the name: \"{name}\"")));
        }
        // kubectl writes current-context to the first file of the list (or the explicit one)
        let file = cfg
            .files
            .first()
            .cloned()
            .unwrap_or_else(|| common::home_dir().join(".kube/config"));
        let mut on_disk = kubeconfig::load(&file)
            .map_err(err)?
            .unwrap_or_else(kubeconfig::empty);
        on_disk["current-context"] = json!(name);
        kubeconfig::write_in_place(&file, &on_disk).map_err(|e| err(e.to_string()))?;
        println!("Switched to context \"{name}\".");
        Ok(0)
    }

    fn config_view(&self) -> Result<i32, Fail> {
        let cfg = kubeconfig::load_for_kubectl(self.p.str("kubeconfig")).map_err(err)?;
        let mut v = cfg.cfg.clone();
        if self.p.bool("minify", false) {
            let current = self
                .p
                .str("context")
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| v["current-context"].as_str().unwrap_or("").to_string());
            if current.is_empty() {
                return Err(err("current-context must exist in order to minify"));
            }
            if kubeconfig::find(&v, "contexts", &current).is_none() {
                return Err(err(format!("cannot locate context {current}")));
            }
            v = kubeconfig::minify(&v, &current);
        }
        if !self.p.bool("raw", false) {
            for (list, key) in [("clusters", "cluster"), ("users", "user")] {
                for e in v[list].as_array_mut().into_iter().flatten() {
                    if let Some(m) = e.get_mut(key).and_then(Value::as_object_mut) {
                        for (k, val) in m.iter_mut() {
                            if k.ends_with("-data") {
                                *val = json!(if k == "client-key-data" {
                                    "DATA+OMITTED"
                                } else {
                                    "DATA+OMITTED"
                                });
                            } else if k == "token" || k == "password" {
                                *val = json!("REDACTED");
                            }
                        }
                    }
                }
            }
        }
        let out = self.p.str("output").unwrap_or("yaml").to_string();
        if out == "yaml" {
            print!("{}", kubeconfig::to_yaml(&v));
        } else if out == "json" {
            println!("{}", go_json_indent(&v, "    "));
        } else if let Some(tpl) = out.strip_prefix("jsonpath=") {
            print!(
                "{}",
                jsonpath::execute(tpl.trim_matches('\''), &v).map_err(err)?
            );
        } else {
            return Err(err(format!(
                "unable to match a printer suitable for the output format \"{out}\""
            )));
        }
        Ok(0)
    }

    fn logs(&self) -> Result<i32, Fail> {
        let (t, st, cname) = self.connect(5)?;
        let v = kube::view(&st.clusters[&cname], &st, self.dir);
        let Some(arg) = self.p.args.first() else {
            return Err(err("expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\nPOD or TYPE/NAME is a required argument for the logs command\nSee 'kubectl logs -h' for help and examples"));
        };
        let (ty, name) = arg.split_once('/').unwrap_or(("pod", arg.as_str()));
        let rt = v
            .resolve(ty)
            .ok_or_else(|| err(format!("the server doesn't have a resource type \"{ty}\"")))?;
        let ns = Some(t.namespace.as_str());
        let Some(_obj) = v.get(&rt, ns, name) else {
            return Err(Fail(not_found(&rt, name)));
        };
        let stored = st.clusters[&cname]
            .objects
            .iter()
            .find(|o| o.kind == rt.kind && o.name == name && o.namespace.as_deref() == ns)
            .cloned();
        if let Some(o) = &stored {
            if !v.workload_ready_at(o).is_some_and(|r| r <= v.now) {
                let container = kube::pod_spec(&o.body)
                    .pointer("/containers/0/name")
                    .and_then(Value::as_str)
                    .unwrap_or(name)
                    .to_string();
                return Err(Fail(format!(
                    "Error from server (BadRequest): container \"{container}\" in pod \"{name}-{}\" is waiting to start: ContainerCreating",
                    &common::hex_id(name, 5)
                )));
            }
        }
        // A Job's pod whose program a test declared (kube::View::job_program) logged this.
        let declared = stored
            .as_ref()
            .and_then(|o| v.job_program(o))
            .and_then(|prog| prog["log"].as_str())
            .map(str::to_string);
        let file = self
            .dir
            .join("logs")
            .join(t.namespace.as_str())
            .join(format!("{name}.log"));
        if let Some(text) = declared.or_else(|| std::fs::read_to_string(file).ok()) {
            // kubectl logs --tail=N: the last N lines (-1: all).
            let tail = self.p.int("tail", -1);
            let lines: Vec<&str> = text.lines().collect();
            let skip = if tail < 0 {
                0
            } else {
                lines.len().saturating_sub(tail as usize)
            };
            for l in &lines[skip..] {
                println!("{l}");
            }
        }
        Ok(0)
    }
}

fn collect_dir(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if recursive {
                collect_dir(&p, recursive, out);
            }
        } else if p
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            out.push(p);
        }
    }
}

/// Print accumulated errors like `checkErr`: one error with its prefix, several without.
fn report(errors: Vec<String>) -> Result<i32, Fail> {
    match errors.len() {
        0 => Ok(0),
        1 => Err(Fail(errors[0].clone())),
        _ => Err(Fail(
            errors
                .iter()
                .map(|e| e.strip_prefix("error: ").unwrap_or(e).to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        )),
    }
}

/// The fields `new` sets to another value than `old` has (a conflict when another manager
/// owns them). Associative lists are compared item by item on their keys, as server-side
/// apply tracks them (`.spec.template.spec.containers[name="api"].image`); an item only one
/// side has is no conflict.
fn leaf_diffs(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    let field = path.rsplit('.').next().unwrap_or("");
    if let (Value::Array(a), Value::Array(b)) = (old, new) {
        if let Some(keys) = kube::list_map_keys(field, b) {
            for item in b {
                let key = kube::list_map_key(keys, item);
                if let Some(o) = a.iter().find(|x| kube::list_map_key(keys, x) == key) {
                    let sel = keys
                        .iter()
                        .zip(&key)
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(",");
                    leaf_diffs(&format!("{path}[{sel}]"), o, item, out);
                }
            }
            return;
        }
    }
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, nv) in b {
                if path.is_empty() && (k == "metadata" || k == "apiVersion" || k == "kind") {
                    continue;
                }
                if let Some(ov) = a.get(k) {
                    leaf_diffs(&format!("{path}.{k}"), ov, nv, out);
                }
            }
        }
        (a, b) if a != b => out.push(path.to_string()),
        _ => {}
    }
}

fn parse_selector(s: &str) -> Vec<(String, Option<String>)> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| match x.split_once('=') {
            Some((k, v)) => (
                k.trim_end_matches('=').to_string(),
                Some(v.trim_start_matches('=').to_string()),
            ),
            None => (x.to_string(), None),
        })
        .collect()
}

fn matches_selector(obj: &Value, sel: &[(String, Option<String>)]) -> bool {
    sel.iter().all(|(k, v)| {
        let got = obj
            .pointer("/metadata/labels")
            .and_then(|l| l.get(k.as_str()))
            .and_then(Value::as_str);
        match v {
            Some(v) => got == Some(v.as_str()),
            None => got.is_some(),
        }
    })
}

fn rollout_message(kind: &str, o: &Value) -> Result<(String, bool), Fail> {
    let name = o["metadata"]["name"].as_str().unwrap_or("");
    let s = &o["status"];
    let n = |k: &str| s[k].as_u64().unwrap_or(0);
    let generation = o["metadata"]["generation"].as_u64().unwrap_or(0);
    let replicas = o
        .pointer("/spec/replicas")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    Ok(match kind {
        "Deployment" => {
            if generation > n("observedGeneration") {
                (
                    "Waiting for deployment spec update to be observed...\n".into(),
                    false,
                )
            } else if n("updatedReplicas") < replicas {
                (
                    format!(
                        "Waiting for deployment \"{name}\" rollout to finish: {} out of {replicas} new replicas have been updated...\n",
                        n("updatedReplicas")
                    ),
                    false,
                )
            } else if n("replicas") > n("updatedReplicas") {
                (
                    format!(
                        "Waiting for deployment \"{name}\" rollout to finish: {} old replicas are pending termination...\n",
                        n("replicas") - n("updatedReplicas")
                    ),
                    false,
                )
            } else if n("availableReplicas") < n("updatedReplicas") {
                (
                    format!(
                        "Waiting for deployment \"{name}\" rollout to finish: {} of {} updated replicas are available...\n",
                        n("availableReplicas"),
                        n("updatedReplicas")
                    ),
                    false,
                )
            } else {
                (
                    format!("deployment \"{name}\" successfully rolled out\n"),
                    true,
                )
            }
        }
        "DaemonSet" => {
            // kubectl pkg/polymorphichelpers/rollout_status.go DaemonSetStatusViewer.Status.
            if o.pointer("/spec/updateStrategy/type")
                .and_then(Value::as_str)
                .is_some_and(|t| t != "RollingUpdate")
            {
                return Err(err(
                    "rollout status is only available for RollingUpdate strategy type",
                ));
            }
            if generation > n("observedGeneration") {
                (
                    "Waiting for daemon set spec update to be observed...\n".into(),
                    false,
                )
            } else if n("updatedNumberScheduled") < n("desiredNumberScheduled") {
                (
                    format!(
                        "Waiting for daemon set \"{name}\" rollout to finish: {} out of {} new pods have been updated...\n",
                        n("updatedNumberScheduled"),
                        n("desiredNumberScheduled")
                    ),
                    false,
                )
            } else if n("numberAvailable") < n("desiredNumberScheduled") {
                (
                    format!(
                        "Waiting for daemon set \"{name}\" rollout to finish: {} of {} updated pods are available...\n",
                        n("numberAvailable"),
                        n("desiredNumberScheduled")
                    ),
                    false,
                )
            } else {
                (
                    format!("daemon set \"{name}\" successfully rolled out\n"),
                    true,
                )
            }
        }
        _ => {
            // kubectl pkg/polymorphichelpers/rollout_status.go StatefulSetStatusViewer.Status.
            if o.pointer("/spec/updateStrategy/type")
                .and_then(Value::as_str)
                .is_some_and(|t| t != "RollingUpdate")
            {
                return Err(err(
                    "rollout status is only available for RollingUpdate strategy type",
                ));
            }
            if n("observedGeneration") == 0 || generation > n("observedGeneration") {
                (
                    "Waiting for statefulset spec update to be observed...\n".into(),
                    false,
                )
            } else if n("readyReplicas") < replicas {
                (
                    format!(
                        "Waiting for {} pods to be ready...\n",
                        replicas - n("readyReplicas")
                    ),
                    false,
                )
            } else if let Some(rolling) = o.pointer("/spec/updateStrategy/rollingUpdate") {
                // A RollingUpdate with its parameters given: the partition decides.
                let partition = rolling["partition"].as_u64();
                match partition {
                    Some(p) if n("updatedReplicas") < replicas.saturating_sub(p) => (
                        format!(
                            "Waiting for partitioned roll out to finish: {} out of {} new pods have been updated...\n",
                            n("updatedReplicas"),
                            replicas.saturating_sub(p)
                        ),
                        false,
                    ),
                    _ => (
                        format!(
                            "partitioned roll out complete: {} new pods have been updated...\n",
                            n("updatedReplicas")
                        ),
                        true,
                    ),
                }
            } else if s["updateRevision"] != s["currentRevision"] {
                (
                    format!(
                        "waiting for statefulset rolling update to complete {} pods at revision {}...\n",
                        n("updatedReplicas"),
                        s["updateRevision"].as_str().unwrap_or("")
                    ),
                    false,
                )
            } else {
                (
                    format!(
                        "statefulset rolling update complete {} pods at revision {}...\n",
                        n("currentReplicas"),
                        s["currentRevision"].as_str().unwrap_or("")
                    ),
                    true,
                )
            }
        }
    })
}

fn age(created: &str, now: u64) -> String {
    // creationTimestamp is RFC 3339 UTC; compare against the same formatting of candidates
    let secs = parse_rfc3339_secs(created)
        .map(|c| (now / 1000).saturating_sub(c))
        .unwrap_or(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 8 * 3600 => format!("{}h{}m", s / 3600, s / 60 % 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn parse_rfc3339_secs(s: &str) -> Option<u64> {
    let y: i64 = s.get(0..4)?.parse().ok()?;
    let m: i64 = s.get(5..7)?.parse().ok()?;
    let d: i64 = s.get(8..10)?.parse().ok()?;
    let hh: i64 = s.get(11..13)?.parse().ok()?;
    let mm: i64 = s.get(14..16)?.parse().ok()?;
    let ss: i64 = s.get(17..19)?.parse().ok()?;
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86400 + hh * 3600 + mm * 60 + ss) as u64)
}

fn table(items: &[(ResType, Value)], all_ns: bool, no_headers: bool, now: u64) -> String {
    let kind = &items[0].0.kind;
    let mut rows: Vec<Vec<String>> = Vec::new();
    let ns_col = all_ns && items[0].0.namespaced;
    let mut header: Vec<String> = if ns_col {
        vec!["NAMESPACE".into()]
    } else {
        vec![]
    };
    match kind.as_str() {
        "Node" => header.extend(["NAME", "STATUS", "ROLES", "AGE", "VERSION"].map(String::from)),
        "Deployment" => {
            header.extend(["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"].map(String::from))
        }
        _ => header.extend(["NAME", "AGE"].map(String::from)),
    }
    if !no_headers {
        rows.push(header);
    }
    for (_, o) in items {
        let mut r: Vec<String> = if ns_col {
            vec![o["metadata"]["namespace"].as_str().unwrap_or("").into()]
        } else {
            vec![]
        };
        let name = o["metadata"]["name"].as_str().unwrap_or("").to_string();
        let a = age(
            o["metadata"]["creationTimestamp"].as_str().unwrap_or(""),
            now,
        );
        match kind.as_str() {
            "Node" => {
                let ready = o
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True");
                let roles = if o
                    .pointer("/metadata/labels/node-role.kubernetes.io~1control-plane")
                    .is_some()
                {
                    "control-plane,master"
                } else {
                    "<none>"
                };
                r.extend([
                    name,
                    if ready { "Ready" } else { "NotReady" }.into(),
                    roles.into(),
                    a,
                    o.pointer("/status/nodeInfo/kubeletVersion")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .into(),
                ]);
            }
            "Deployment" => {
                let s = &o["status"];
                let want = o
                    .pointer("/spec/replicas")
                    .and_then(Value::as_u64)
                    .unwrap_or(1);
                r.extend([
                    name,
                    format!("{}/{want}", s["readyReplicas"].as_u64().unwrap_or(0)),
                    s["updatedReplicas"].as_u64().unwrap_or(0).to_string(),
                    s["availableReplicas"].as_u64().unwrap_or(0).to_string(),
                    a,
                ]);
            }
            _ => r.extend([name, a]),
        }
        rows.push(r);
    }
    crate::common::tabwriter(&rows, false)
}
