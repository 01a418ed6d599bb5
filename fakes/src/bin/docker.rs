//! The fake `docker` CLI (client 28.2.2) for the commands devenv runs: `version --format`,
//! `info --format`, `build`, `builder inspect`, `tag`, `push`, and a buildx plugin
//! (`buildx create/use/inspect/build`) when `$DOCKER_CONFIG/cli-plugins/docker-buildx`
//! exists: `docker build` goes to the legacy builder or to buildx exactly as docker/cli's
//! `processBuilder` decides, and the image lands in the image store, in the build cache
//! only, or in the registry as the legacy builder and buildx's `docker` and
//! `docker-container` drivers really do it. Flags, messages and exit
//! codes are the real client's (`unknown flag` → 125, a missing argument → 1, ...).
//!
//! Builds only sleep (15 s of "real" time × `DEVENV_FAKE_SLEEP_SCALE`) and remember the
//! image in `$DEVENV_FAKE_STATE/docker-images.json`. A push really uploads a minimal image
//! (a config blob and a schema2 manifest without layers) to the registry named by the
//! reference over plain HTTP, so a registry's API sees exactly what a real push leaves.
//! Every call is recorded in `calls.jsonl` (tool `docker`) and obeys `faults.json`.

use devenv_fakes::common::{self, lock_state, scaled, write_atomic};
use devenv_fakes::flags::{self, flag, Flag, Kind};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

const CLIENT_VERSION: &str = "28.2.2";
const CLIENT_BUILD: &str = "e6534b4";
const SERVER_VERSION: &str = "28.2.2";
const API_VERSION: &str = "1.50";
/// How long a build takes on a real machine (scaled by `DEVENV_FAKE_SLEEP_SCALE`).
const BUILD_MS: u64 = 15_000;

const MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
const CONFIG_V1: &str = "application/vnd.docker.container.image.v1+json";

fn main() {
    // Die quietly on a closed pipe, as the Go tools do.
    // SAFETY: restoring the default disposition of SIGPIPE before any output.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(run(argv));
}

fn run(argv: Vec<String>) -> i32 {
    let dir = common::state_dir();
    common::record_call(&dir, "docker", &argv);
    common::apply_faults(&dir, "docker", &argv);

    // Global options come before the command (docker parses them non-interspersed).
    let mut i = 0;
    while i < argv.len() {
        let a = argv[i].as_str();
        match a {
            "-v" | "--version" => {
                println!("Docker version {CLIENT_VERSION}, build {CLIENT_BUILD}");
                return 0;
            }
            "-D" | "--debug" | "--tls" | "--tlsverify" => i += 1,
            "-H" | "--host" | "-c" | "--context" | "--config" | "-l" | "--log-level" => i += 2,
            _ if a.starts_with("--") && a.contains('=') => i += 1,
            _ if a.starts_with('-') && a != "-" => {
                eprintln!("unknown flag: {a}\nSee 'docker --help'.");
                return 125;
            }
            _ => break,
        }
    }
    let Some(cmd) = argv.get(i) else {
        println!("\nUsage:  docker [OPTIONS] COMMAND\n\nA self-sufficient runtime for containers");
        return 0;
    };
    let rest = &argv[i + 1..];
    // docker/cli cmd/docker/builder.go `processBuilder`: `build`, `image build` and
    // `builder …` go to buildx when it is there and BuildKit is not disabled.
    let forwarded = matches!(
        (cmd.as_str(), rest.first().map(String::as_str)),
        ("build", _) | ("builder", _) | ("image", Some("build"))
    );
    if forwarded {
        match route_builder() {
            Err(code) => return code,
            Ok(Some(builder_env)) => {
                let sub: Vec<String> = match cmd.as_str() {
                    "build" => std::iter::once("build".to_string())
                        .chain(rest.iter().cloned())
                        .collect(),
                    "image" => std::iter::once("build".to_string())
                        .chain(rest[1..].iter().cloned())
                        .collect(),
                    _ => rest.to_vec(),
                };
                return buildx(&dir, &sub, builder_env);
            }
            Ok(None) => {}
        }
    }
    if cmd == "buildx" && buildx_installed() {
        return buildx(&dir, rest, None);
    }
    // `docker image build` / `docker image push` / `docker image tag` are the same commands.
    let (cmd, rest) = match (cmd.as_str(), rest.first().map(String::as_str)) {
        ("image", Some(sub @ ("build" | "push" | "tag"))) => (sub.to_string(), &rest[1..]),
        ("builder", Some("build")) => ("build".to_string(), &rest[1..]),
        ("builder", Some(other)) if other != "prune" && !other.starts_with('-') => {
            // cobra's unknown subcommand of the CLI's own `docker builder` (legacy).
            eprintln!("docker: unknown command: docker builder {other}\n\nUsage:  docker builder\n\nRun 'docker builder --help' for more information");
            return 1;
        }
        _ => (cmd.clone(), rest),
    };
    match cmd.as_str() {
        "version" => version(rest),
        "info" => info(rest),
        "build" => build(&dir, rest, None),
        "tag" => tag(&dir, rest),
        "push" => push(&dir, rest),
        other => {
            eprintln!("docker: unknown command: docker {other}\n\nRun 'docker --help' for more information");
            1
        }
    }
}

fn help() -> Flag {
    flag("help", None, Kind::Bool, "false", "Print usage")
}

/// pflag's parse with docker's error layout: the message, the usage line, exit 125.
fn parse(flags: &[Flag], args: &[String], name: &str, usage: &str) -> Result<flags::Parsed, i32> {
    match flags::parse(flags, args) {
        Ok(p) => Ok(p),
        Err(e) => {
            eprintln!("{e}\n\nUsage:  {usage}\n\nRun 'docker {name} --help' for more information");
            Err(125)
        }
    }
}

/// Cobra's argument count check, with docker's wording.
fn require_args(
    p: &flags::Parsed,
    n: usize,
    exact: bool,
    name: &str,
    usage: &str,
) -> Result<(), i32> {
    let ok = if exact {
        p.args.len() == n
    } else {
        p.args.len() >= n
    };
    if ok {
        return Ok(());
    }
    let what = if exact { "" } else { "at least " };
    let plural = if n == 1 { "argument" } else { "arguments" };
    eprintln!("docker: 'docker {name}' requires {what}{n} {plural}\n\nUsage:  {usage}\n\nRun 'docker {name} --help' for more information");
    Err(1)
}

/// A Go template that is only `{{.A.B}}` (what devenv uses) or `{{json .X}}`.
fn format_template(template: &str, data: &Value, type_name: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("template: :1: unclosed action"))?;
        let action = after[..end].trim();
        let (json_out, path) = match action.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, action),
        };
        let mut v = data;
        if path != "." {
            let Some(fields) = path.strip_prefix('.') else {
                return Err(format!("template: :1: function {:?} not defined", path));
            };
            for f in fields.split('.') {
                v = v.get(f).ok_or_else(|| format!("template: :1:{}: executing \"\" at <.{fields}>: can't evaluate field {f} in type {type_name}", start + 3))?;
            }
        }
        match (json_out, v) {
            (true, v) => out.push_str(&v.to_string()),
            (false, Value::String(s)) => out.push_str(s),
            (false, Value::Null) => out.push_str("<no value>"),
            (false, v) => out.push_str(&v.to_string()),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn version(args: &[String]) -> i32 {
    let p = match parse_format_only(args, "version", "docker version [OPTIONS]") {
        Ok(p) => p,
        Err(c) => return c,
    };
    let data = json!({
        "Client": { "Version": CLIENT_VERSION, "ApiVersion": API_VERSION, "GitCommit": CLIENT_BUILD, "Os": "linux", "Arch": "amd64" },
        "Server": { "Version": SERVER_VERSION, "ApiVersion": API_VERSION, "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64" },
    });
    match p.str("format") {
        Some(t) => print_template(t, &data, "types.VersionInfo"),
        None => {
            println!("Client:\n Version:           {CLIENT_VERSION}\n API version:       {API_VERSION}\n Git commit:        {CLIENT_BUILD}\n OS/Arch:           linux/amd64\n\nServer:\n Engine:\n  Version:          {SERVER_VERSION}\n  API version:      {API_VERSION} (minimum version 1.24)\n  OS/Arch:          linux/amd64");
            0
        }
    }
}

fn info(args: &[String]) -> i32 {
    let p = match parse_format_only(args, "info", "docker info [OPTIONS]") {
        Ok(p) => p,
        Err(c) => return c,
    };
    let data = json!({ "ServerVersion": SERVER_VERSION, "DockerRootDir": "/var/lib/docker", "OperatingSystem": "devenv fake docker", "NCPU": 2 });
    print_template(
        p.str("format")
            .unwrap_or("Server Version: {{.ServerVersion}}\nDocker Root Dir: {{.DockerRootDir}}"),
        &data,
        "system.Info",
    )
}

/// `docker version` and `docker info` take one flag besides `--help`: `-f/--format`.
fn parse_format_only(args: &[String], name: &str, usage: &str) -> Result<flags::Parsed, i32> {
    let fl = [
        flag(
            "format",
            Some('f'),
            Kind::Str,
            "",
            "Format output using a custom template",
        ),
        help(),
    ];
    parse(&fl, args, name, usage)
}

/// Prints `data` through a `--format` template; a template error exits 64 as docker's does.
fn print_template(template: &str, data: &Value, type_name: &str) -> i32 {
    match format_template(template, data, type_name) {
        Ok(s) => {
            println!("{s}");
            0
        }
        Err(e) => {
            eprintln!("{e}");
            64
        }
    }
}

// ---------------------------------------------------------------------------------------
// The builder: legacy, or buildx with its builders (where `docker build` sends its result)

// docker/cli cmd/docker/builder.go (messages verbatim).
const BUILDX_MISSING_WARNING: &str = "DEPRECATED: The legacy builder is deprecated and will be removed in a future release.\n            Install the buildx component to build images with BuildKit:\n            https://docs.docker.com/go/buildx/";
const BUILDKIT_DISABLED_WARNING: &str = "DEPRECATED: The legacy builder is deprecated and will be removed in a future release.\n            BuildKit is currently disabled; enable it by removing the DOCKER_BUILDKIT=0\n            environment-variable.";
const BUILDX_MISSING_ERROR: &str = "ERROR: BuildKit is enabled but the buildx component is missing or broken.\n       Install the buildx component to build images with BuildKit:\n       https://docs.docker.com/go/buildx/";

/// `$DOCKER_CONFIG`, else `~/.docker` (docker/cli cli/config/config.go `Dir`).
fn docker_config_dir() -> PathBuf {
    match std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".docker"),
    }
}

/// The buildx plugin is installed: `$DOCKER_CONFIG/cli-plugins/docker-buildx` exists
/// (docker/cli cli-plugins/manager: the user's plugin folder comes first; the system folders
/// are not looked at, so the machine's own plugins never leak into a test).
fn buildx_installed() -> bool {
    docker_config_dir()
        .join("cli-plugins")
        .join("docker-buildx")
        .is_file()
}

/// `processBuilder`: `Ok(None)` for the legacy builder (after its warning), `Ok(Some(env))`
/// to forward to buildx with the `BUILDX_BUILDER` the CLI sets (`None`: keep the user's
/// choice), `Err(exit)` when BuildKit is required but missing.
fn route_builder() -> Result<Option<Option<String>>, i32> {
    let mut disabled = false;
    let mut use_builder = false;
    if let Ok(v) = std::env::var("DOCKER_BUILDKIT") {
        if !v.is_empty() {
            match common::parse_go_bool(&v) {
                Some(true) => use_builder = true,
                Some(false) => disabled = true,
                None => {
                    eprintln!("DOCKER_BUILDKIT environment variable expects boolean value: strconv.ParseBool: parsing {}: invalid syntax", common::go_quote(&v));
                    return Err(1);
                }
            }
        }
    }
    // `docker buildx install` writes the alias `"aliases": {"builder": "buildx"}`.
    let alias = std::fs::read(docker_config_dir().join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .is_some_and(|c| c["aliases"]["builder"].is_string());
    if alias {
        use_builder = true;
    }
    if disabled {
        eprintln!("{BUILDKIT_DISABLED_WARNING}\n");
        return Ok(None);
    }
    if !buildx_installed() {
        if use_builder {
            eprintln!("{BUILDX_MISSING_ERROR}");
            return Err(1);
        }
        eprintln!("{BUILDX_MISSING_WARNING}\n");
        return Ok(None);
    }
    // "user would expect docker build to always create a local docker image (default
    // context builder)": BUILDX_BUILDER=<current context> unless a builder is named.
    let named = std::env::var("BUILDX_BUILDER").is_ok_and(|v| !v.is_empty());
    if alias || named {
        Ok(Some(None))
    } else {
        Ok(Some(Some("default".to_string())))
    }
}

/// A buildx builder instance (docker/buildx store/nodegroup.go `NodeGroup`, reduced).
#[derive(Debug, Clone)]
struct BuildxBuilder {
    name: String,
    driver: String,
    /// `--driver-opt network=…` (docker-container).
    network: Option<String>,
    /// `--driver-opt default-load=true`.
    default_load: bool,
}

fn buildx_dir() -> PathBuf {
    docker_config_dir().join("buildx")
}

/// The builder named `name`, or the current one; the context's own builder `default`
/// (driver `docker`) always exists (docker/buildx builder/builder.go `New`).
fn resolve_builder(name: Option<&str>) -> Result<BuildxBuilder, String> {
    let name = match name.filter(|n| !n.is_empty()) {
        Some(n) => n.to_string(),
        None => std::fs::read(buildx_dir().join("current"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|c| c["Name"].as_str().map(str::to_string))
            .unwrap_or_else(|| "default".to_string()),
    };
    if name == "default" {
        return Ok(BuildxBuilder {
            name,
            driver: "docker".into(),
            network: None,
            default_load: false,
        });
    }
    let v: Value = std::fs::read(buildx_dir().join("instances").join(&name))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| format!("no builder {} found", common::go_quote(&name)))?;
    let opt = |k: &str| v["Nodes"][0]["DriverOpts"][k].as_str().map(str::to_string);
    Ok(BuildxBuilder {
        name,
        driver: v["Driver"]
            .as_str()
            .unwrap_or("docker-container")
            .to_string(),
        network: opt("network"),
        default_load: opt("default-load").as_deref() == Some("true"),
    })
}

/// `docker buildx …` (and `docker build` / `docker builder …` forwarded to it).
fn buildx(dir: &Path, args: &[String], builder_env: Option<String>) -> i32 {
    // root flag `--builder` defaults to $BUILDX_BUILDER (docker/buildx commands/root.go).
    let env_builder = builder_env.or_else(|| std::env::var("BUILDX_BUILDER").ok());
    let Some(sub) = args.first() else {
        println!("\nUsage:  docker buildx [OPTIONS] COMMAND\n\nExtended build capabilities with BuildKit");
        return 0;
    };
    let rest = &args[1..];
    match sub.as_str() {
        "version" => {
            println!("github.com/docker/buildx v0.24.0 d0e5e86");
            0
        }
        "build" | "b" => {
            let named = rest
                .iter()
                .position(|a| a == "--builder")
                .and_then(|i| rest.get(i + 1).cloned())
                .or_else(|| {
                    rest.iter()
                        .find_map(|a| a.strip_prefix("--builder=").map(str::to_string))
                })
                .or(env_builder);
            match resolve_builder(named.as_deref()) {
                Ok(b) => build(dir, rest, Some(&b)),
                Err(e) => {
                    eprintln!("ERROR: {e}");
                    1
                }
            }
        }
        "inspect" => {
            let fl = [
                flag(
                    "bootstrap",
                    None,
                    Kind::Bool,
                    "false",
                    "Ensure builder has booted before inspecting",
                ),
                help(),
            ];
            let p = match parse(&fl, rest, "buildx inspect", "docker buildx inspect [NAME]") {
                Ok(p) => p,
                Err(c) => return c,
            };
            let name = p.args.first().cloned().or(env_builder);
            match resolve_builder(name.as_deref()) {
                // commands/inspect.go (tabwriter, padding 1).
                Ok(b) => {
                    let endpoint = if b.driver == "docker" {
                        "default".to_string()
                    } else {
                        "unix:///var/run/docker.sock".to_string()
                    };
                    let node = if b.driver == "docker" {
                        b.name.clone()
                    } else {
                        format!("{}0", b.name)
                    };
                    println!("Name:          {}\nDriver:        {}\n\nNodes:\nName:             {node}\nEndpoint:         {endpoint}\nStatus:           running\nBuildKit version: v0.22.0\nPlatforms:        linux/amd64", b.name, b.driver);
                    0
                }
                Err(e) => {
                    eprintln!("ERROR: {e}");
                    1
                }
            }
        }
        "create" => {
            let fl = [
                flag("name", None, Kind::Str, "", "Builder instance name"),
                flag("driver", None, Kind::Str, "", "Driver to use"),
                flag(
                    "driver-opt",
                    None,
                    Kind::StrArray,
                    "[]",
                    "Options for the driver",
                ),
                flag(
                    "use",
                    None,
                    Kind::Bool,
                    "false",
                    "Set the current builder instance",
                ),
                flag(
                    "bootstrap",
                    None,
                    Kind::Bool,
                    "false",
                    "Boot builder after creation",
                ),
                help(),
            ];
            let p = match parse(
                &fl,
                rest,
                "buildx create",
                "docker buildx create [OPTIONS] [CONTEXT|ENDPOINT]",
            ) {
                Ok(p) => p,
                Err(c) => return c,
            };
            let name = p.str("name").unwrap_or("fake_builder").to_string();
            let driver = p.str("driver").unwrap_or("docker-container").to_string();
            // docker/buildx builder/builder.go Create: the docker driver cannot be created.
            if driver == "docker" {
                eprintln!("ERROR: failed to find driver \"docker\"");
                return 1;
            }
            let mut opts = serde_json::Map::new();
            for o in p.all("driver-opt") {
                if let Some((k, v)) = o.split_once('=') {
                    opts.insert(k.to_string(), Value::String(v.to_string()));
                }
            }
            let group = json!({
                "Name": name, "Driver": driver, "Dynamic": false,
                "Nodes": [{ "Name": format!("{name}0"), "Endpoint": "unix:///var/run/docker.sock", "DriverOpts": opts }],
            });
            let inst = buildx_dir().join("instances");
            let _ = std::fs::create_dir_all(&inst);
            if let Err(e) = write_atomic(&inst.join(&name), group.to_string().as_bytes()) {
                common::die_internal(&format!("cannot write the builder: {e}"));
            }
            if p.bool("use", false) {
                set_current(&name);
            }
            println!("{name}");
            0
        }
        "use" => {
            let Some(name) = rest.first() else {
                eprintln!("ERROR: \"docker buildx use\" requires exactly 1 argument.");
                return 1;
            };
            if let Err(e) = resolve_builder(Some(name)) {
                eprintln!(
                    "ERROR: run `docker buildx create --name {name}` to create a builder: {e}"
                );
                return 1;
            }
            set_current(name);
            0
        }
        other => {
            eprintln!("docker: unknown command: docker buildx {other}\n\nRun 'docker buildx --help' for more information");
            1
        }
    }
}

/// docker/buildx store: `current` holds the builder per Docker endpoint.
fn set_current(name: &str) {
    let _ = std::fs::create_dir_all(buildx_dir());
    let cur = json!({ "Key": "unix:///var/run/docker.sock", "Name": name, "Global": false });
    if let Err(e) = write_atomic(&buildx_dir().join("current"), cur.to_string().as_bytes()) {
        common::die_internal(&format!("cannot write the current builder: {e}"));
    }
}

// ---------------------------------------------------------------------------------------
// References and the local image store

/// A parsed image reference: registry host, repository path, tag.
#[derive(Debug, Clone, PartialEq)]
struct Reference {
    domain: String,
    path: String,
    tag: String,
}

impl Reference {
    /// Docker's normalisation: `app` → `docker.io/library/app:latest`.
    fn parse(s: &str) -> Result<Reference, String> {
        let invalid = || "invalid reference format".to_string();
        if s.is_empty() || s.contains('@') {
            return Err(invalid());
        }
        let (name, tag) = match s.rfind(':') {
            Some(i) if !s[i + 1..].contains('/') => (&s[..i], &s[i + 1..]),
            _ => (s, "latest"),
        };
        let tag_ok = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !tag_ok {
            return Err(invalid());
        }
        let (domain, path) = match name.split_once('/') {
            Some((d, p)) if d.contains('.') || d.contains(':') || d == "localhost" => {
                (d.to_string(), p.to_string())
            }
            Some(_) => ("docker.io".to_string(), name.to_string()),
            None => ("docker.io".to_string(), format!("library/{name}")),
        };
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(format!(
                "invalid reference format: repository name ({path}) must be lowercase"
            ));
        }
        let comp_ok = |c: &str| {
            !c.is_empty()
                && c.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
                && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
                && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
        };
        if !path.split('/').all(comp_ok) {
            return Err(invalid());
        }
        Ok(Reference {
            domain,
            path,
            tag: tag.to_string(),
        })
    }

    fn key(&self) -> String {
        format!("{}/{}:{}", self.domain, self.path, self.tag)
    }

    /// `localhost:5000/app` as docker shows it (docker.io names shortened).
    fn repository(&self) -> String {
        if self.domain == "docker.io" {
            format!("docker.io/{}", self.path)
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }
}

fn store_path(dir: &Path) -> PathBuf {
    dir.join("docker-images.json")
}

/// Normalised reference → `{ "id": ..., "config": <the image config JSON> }`.
fn load_store(dir: &Path) -> BTreeMap<String, Value> {
    std::fs::read(store_path(dir))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save_store(dir: &Path, store: &BTreeMap<String, Value>) {
    let text = serde_json::to_vec_pretty(store).expect("serializable");
    if let Err(e) = write_atomic(&store_path(dir), &text) {
        common::die_internal(&format!("cannot write the image store: {e}"));
    }
}

// ---------------------------------------------------------------------------------------
// build

fn build(dir: &Path, args: &[String], bx: Option<&BuildxBuilder>) -> i32 {
    let usage = if bx.is_some() {
        "docker buildx build [OPTIONS] PATH | URL | -"
    } else {
        "docker build [OPTIONS] PATH | URL | -"
    };
    let mut fl = vec![
        flag(
            "tag",
            Some('t'),
            Kind::StrArray,
            "[]",
            "Name and optionally a tag in the \"name:tag\" format",
        ),
        flag(
            "file",
            Some('f'),
            Kind::Str,
            "",
            "Name of the Dockerfile (Default is \"PATH/Dockerfile\")",
        ),
        flag(
            "target",
            None,
            Kind::Str,
            "",
            "Set the target build stage to build.",
        ),
        flag(
            "build-arg",
            None,
            Kind::StrArray,
            "[]",
            "Set build-time variables",
        ),
        flag(
            "label",
            None,
            Kind::StrArray,
            "[]",
            "Set metadata for an image",
        ),
        flag(
            "platform",
            None,
            Kind::Str,
            "",
            "Set platform if server is multi-platform capable",
        ),
        flag(
            "quiet",
            Some('q'),
            Kind::Bool,
            "false",
            "Suppress the build output and print image ID on success",
        ),
        flag(
            "pull",
            None,
            Kind::Bool,
            "false",
            "Always attempt to pull a newer version of the image",
        ),
        flag(
            "no-cache",
            None,
            Kind::Bool,
            "false",
            "Do not use cache when building the image",
        ),
        flag(
            "network",
            None,
            Kind::Str,
            "default",
            "Set the networking mode for the RUN instructions during build",
        ),
        flag(
            "iidfile",
            None,
            Kind::Str,
            "",
            "Write the image ID to the file",
        ),
        flag(
            "cache-from",
            None,
            Kind::StrSlice,
            "[]",
            "Images to consider as cache sources",
        ),
        help(),
    ];
    if bx.is_some() {
        // docker/buildx commands/build.go: the output flags the legacy builder lacks.
        fl.extend([
            flag(
                "load",
                None,
                Kind::Bool,
                "false",
                "Shorthand for \"--output=type=docker\"",
            ),
            flag(
                "push",
                None,
                Kind::Bool,
                "false",
                "Shorthand for \"--output=type=registry\"",
            ),
            flag(
                "output",
                Some('o'),
                Kind::StrArray,
                "[]",
                "Output destination (format: \"type=local,dest=path\")",
            ),
            flag(
                "builder",
                None,
                Kind::Str,
                "",
                "Override the configured builder instance",
            ),
            flag(
                "progress",
                None,
                Kind::Str,
                "auto",
                "Set type of progress output",
            ),
        ]);
    }
    let p = match parse(
        &fl,
        args,
        if bx.is_some() {
            "buildx build"
        } else {
            "build"
        },
        usage,
    ) {
        Ok(p) => p,
        Err(c) => return c,
    };
    if let Err(c) = require_args(&p, 1, true, "build", usage) {
        return c;
    }
    let mut refs = Vec::new();
    for t in p.all("tag") {
        match Reference::parse(&t) {
            Ok(r) => refs.push(r),
            Err(e) => {
                eprintln!("invalid argument \"{t}\" for \"-t, --tag\" flag: {e}\nSee 'docker build --help'.");
                return 125;
            }
        }
    }
    for a in p.all("label") {
        if a.is_empty() {
            eprintln!("invalid argument \"\" for \"--label\" flag: invalid label '': empty name\nSee 'docker build --help'.");
            return 125;
        }
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let context = cwd.join(&p.args[0]);
    if !context.is_dir() {
        eprintln!("unable to prepare context: path {:?} not found", p.args[0]);
        return 1;
    }
    let dockerfile = match p.str("file") {
        Some(f) => cwd.join(f),
        None => context.join("Dockerfile"),
    };
    let text = match std::fs::read_to_string(&dockerfile) {
        Ok(t) => t,
        Err(_) => {
            eprintln!("unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory", dockerfile.display());
            return 1;
        }
    };
    let instructions: Vec<String> = dockerfile_instructions(&text);
    if !instructions
        .first()
        .is_some_and(|i| i.to_ascii_uppercase().starts_with("FROM "))
    {
        eprintln!(
            "Error response from daemon: dockerfile parse error: no build stage in current context"
        );
        return 1;
    }
    // Stop at the end of the target stage, as the builder does.
    let mut steps = instructions.clone();
    if let Some(target) = p.str("target") {
        let stage_of = |i: &String| {
            let w: Vec<&str> = i.split_whitespace().collect();
            (w.len() == 4 && w[0].eq_ignore_ascii_case("FROM") && w[2].eq_ignore_ascii_case("AS"))
                .then(|| w[3].to_string())
        };
        let Some(start) = instructions
            .iter()
            .position(|i| stage_of(i).is_some_and(|s| s.eq_ignore_ascii_case(target)))
        else {
            eprintln!(
                "Error response from daemon: failed to reach build target {target} in Dockerfile"
            );
            return 1;
        };
        let end = instructions[start + 1..]
            .iter()
            .position(|i| i.to_ascii_uppercase().starts_with("FROM "))
            .map(|n| start + 1 + n)
            .unwrap_or(instructions.len());
        steps.truncate(end);
    }
    let labels: BTreeMap<String, String> = p
        .all("label")
        .iter()
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .unwrap_or((l.clone(), String::new()))
        })
        .collect();
    for l in &labels {
        steps.push(format!("LABEL {}={}", l.0, l.1));
    }

    // buildx prints BuildKit's progress on stderr, not the legacy builder's steps.
    if let Some(b) = bx {
        eprintln!(
            "#0 building with {} instance using {} driver",
            common::go_quote(&b.name),
            b.driver
        );
    }
    let quiet = p.bool("quiet", false) || bx.is_some();
    if !quiet {
        println!(
            "Sending build context to Docker daemon  {}",
            human_size(dir_size(&context))
        );
    }
    // The image's identity: what was built, from what, with which arguments.
    let mut h = Sha256::new();
    h.update(text.as_bytes());
    for a in args {
        h.update(a.as_bytes());
        h.update(b"\0");
    }
    h.update(&context_digest(&context));
    let id = h.hex();
    let n = steps.len();
    let pause = scaled(BUILD_MS) / n.max(1) as u64;
    for (k, s) in steps.iter().enumerate() {
        if !quiet {
            println!("Step {}/{n} : {s}", k + 1);
            println!(
                " ---> {}",
                &Sha256::digest(format!("{id}{k}").as_bytes())[..12]
            );
            let _ = std::io::stdout().flush();
        }
        common::sleep_ms(pause);
    }
    let config = json!({
        "architecture": p.str("platform").and_then(|pl| pl.split('/').nth(1)).unwrap_or("amd64"),
        "os": "linux",
        "config": { "Labels": labels },
        "rootfs": { "type": "layers", "diff_ids": [] },
        "history": [{ "created_by": format!("devenv fake docker build {id}") }],
    });
    // Where the result lands (docker/buildx build/opt.go: with no output, only the moby
    // (`docker`) driver, or a builder with `default-load`, exports to the image store;
    // `BUILDX_NO_DEFAULT_LOAD` turns that default off; build/build.go `warnOnNoOutput`).
    let (to_store, to_push) = match bx {
        None => (true, false),
        Some(b) => {
            let load = p.bool("load", false);
            let push = p.bool("push", false);
            let outputs = p.all("output");
            let no_default_load = std::env::var("BUILDX_NO_DEFAULT_LOAD")
                .ok()
                .and_then(|v| common::parse_go_bool(&v))
                .unwrap_or(false);
            let default = !load && !push && outputs.is_empty();
            let moby = b.driver == "docker";
            let store = load
                || outputs
                    .iter()
                    .any(|o| o == "type=docker" || o.starts_with("type=docker,"))
                || (default && !no_default_load && (moby || b.default_load))
                || (moby && push);
            if default && !store && !moby {
                eprintln!("WARNING: No output specified with {} driver. Build result will only remain in the build cache. To push result image into registry use --push or to load image into docker use --load", b.driver);
            }
            (store, push)
        }
    };
    if to_push {
        let b = bx.expect("only buildx pushes");
        // A docker-container builder runs in its own network namespace (buildx
        // driver/docker-container/driver.go sets a network mode only for
        // `--driver-opt network=…`): the host's loopback is not its loopback. BuildKit talks
        // plain HTTP to localhost registries (containerd remotes/docker `MatchLocalhost`).
        for r in &refs {
            let loopback = r.domain.starts_with("localhost") || r.domain.starts_with("127.");
            if b.driver != "docker" && loopback && b.network.as_deref() != Some("host") {
                let port = r.domain.rsplit_once(':').map(|(_, p)| p).unwrap_or("443");
                eprintln!("ERROR: failed to build: failed to solve: failed to push {}: failed to do request: Head \"http://{}/v2/{}/blobs/sha256:{}\": dial tcp 127.0.0.1:{port}: connect: connection refused", p.all("tag").first().cloned().unwrap_or_default(), r.domain, r.path, &id);
                return 1;
            }
            let cfg = serde_json::to_vec(&config).expect("serializable");
            if let Err(e) = upload(r, &cfg) {
                eprintln!("ERROR: failed to build: failed to solve: failed to push: {e}");
                return 1;
            }
        }
    }
    if to_store {
        let _lock = lock_state(dir);
        let mut store = load_store(dir);
        for r in &refs {
            store.insert(r.key(), json!({ "id": id, "config": config }));
        }
        save_store(dir, &store);
    }
    if let Some(f) = p.str("iidfile") {
        let _ = std::fs::write(cwd.join(f), format!("sha256:{id}"));
    }
    if bx.is_some() {
        if p.bool("quiet", false) {
            println!("sha256:{id}");
        }
    } else if quiet {
        println!("sha256:{id}");
    } else {
        println!("Successfully built {}", &id[..12]);
        for t in p.all("tag") {
            println!("Successfully tagged {t}");
        }
    }
    0
}

/// Instructions of a Dockerfile: comments and blank lines dropped, continuations joined.
fn dockerfile_instructions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if cur.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(head) => {
                cur.push_str(head.trim_end());
                cur.push(' ');
            }
            None => {
                cur.push_str(t);
                out.push(std::mem::take(&mut cur));
            }
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path, &std::fs::Metadata)) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Ok(m) = e.metadata() else { continue };
        if m.is_dir() {
            walk(&e.path(), f);
        } else {
            f(&e.path(), &m);
        }
    }
}

fn dir_size(dir: &Path) -> u64 {
    let mut n = 0;
    walk(dir, &mut |_, m| n += m.len());
    n
}

/// Names and contents of the context's files (small contexts only: this is a test double).
fn context_digest(dir: &Path) -> Vec<u8> {
    let mut h = Sha256::new();
    walk(dir, &mut |p, m| {
        h.update(
            p.strip_prefix(dir)
                .unwrap_or(p)
                .to_string_lossy()
                .as_bytes(),
        );
        if m.len() <= 1 << 20 {
            h.update(&std::fs::read(p).unwrap_or_default());
        } else {
            h.update(&m.len().to_le_bytes());
        }
    });
    h.finish().to_vec()
}

/// docker's units.HumanSize (decimal, 4 significant digits).
fn human_size(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    let s = format!("{v:.4}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    let digits: String = s
        .chars()
        .take(if s.contains('.') { 5 } else { 4 })
        .collect();
    format!("{}{}", digits.trim_end_matches('.'), units[u])
}

// ---------------------------------------------------------------------------------------
// tag

fn tag(dir: &Path, args: &[String]) -> i32 {
    let usage = "docker tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]";
    let p = match parse(&[help()], args, "tag", usage) {
        Ok(p) => p,
        Err(c) => return c,
    };
    if let Err(c) = require_args(&p, 2, true, "tag", usage) {
        return c;
    }
    let (src, dst) = match (Reference::parse(&p.args[0]), Reference::parse(&p.args[1])) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("Error parsing reference: {e}");
            return 1;
        }
    };
    let _lock = lock_state(dir);
    let mut store = load_store(dir);
    let Some(image) = store.get(&src.key()).cloned() else {
        eprintln!("Error response from daemon: No such image: {}", p.args[0]);
        return 1;
    };
    store.insert(dst.key(), image);
    save_store(dir, &store);
    0
}

// ---------------------------------------------------------------------------------------
// push

fn push(dir: &Path, args: &[String]) -> i32 {
    let usage = "docker push [OPTIONS] NAME[:TAG]";
    let fl = [
        flag(
            "all-tags",
            Some('a'),
            Kind::Bool,
            "false",
            "Push all tags of an image to the repository",
        ),
        flag(
            "quiet",
            Some('q'),
            Kind::Bool,
            "false",
            "Suppress verbose output",
        ),
        flag(
            "platform",
            None,
            Kind::Str,
            "",
            "Push a platform-specific manifest as a single-platform image",
        ),
        help(),
    ];
    let p = match parse(&fl, args, "push", usage) {
        Ok(p) => p,
        Err(c) => return c,
    };
    if let Err(c) = require_args(&p, 1, true, "push", usage) {
        return c;
    }
    let r = match Reference::parse(&p.args[0]) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let quiet = p.bool("quiet", false);
    if !quiet {
        println!("The push refers to repository [{}]", r.repository());
        let _ = std::io::stdout().flush();
    }
    let Some(image) = load_store(dir).get(&r.key()).cloned() else {
        eprintln!("tag does not exist: {}", p.args[0]);
        return 1;
    };
    if r.domain == "docker.io" {
        // A test double never talks to Docker Hub.
        eprintln!("denied: requested access to the resource is denied");
        return 1;
    }
    let config = serde_json::to_vec(&image["config"]).expect("serializable");
    match upload(&r, &config) {
        Ok((digest, size)) => {
            if quiet {
                println!("{}:{}", r.repository(), r.tag);
            } else {
                println!("{}: digest: {digest} size: {size}", r.tag);
            }
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// Upload the config blob (unless present) and the manifest; returns (digest, size).
fn upload(r: &Reference, config: &[u8]) -> Result<(String, usize), String> {
    let host = r.domain.as_str();
    let config_digest = format!("sha256:{}", Sha256::digest(config));
    // The API check every client starts with.
    let ping = http(host, "GET", "/v2/", &[], &[])?;
    if ping.status != 200 && ping.status != 401 {
        return Err(format!(
            "error from registry at {host}: GET /v2/ answered {}",
            ping.status
        ));
    }
    let blob = format!("/v2/{}/blobs/{config_digest}", r.path);
    if http(host, "HEAD", &blob, &[], &[])?.status != 200 {
        let start = http(
            host,
            "POST",
            &format!("/v2/{}/blobs/uploads/", r.path),
            &[],
            &[],
        )?;
        if start.status != 202 {
            return Err(registry_error("start a blob upload", &start));
        }
        let location = start
            .header("location")
            .ok_or("the registry gave no upload location")?;
        // The Location is absolute (`http://host/v2/...`) or a path.
        let path = match location.split_once("://") {
            Some((_, rest)) => rest
                .find('/')
                .map(|i| rest[i..].to_string())
                .unwrap_or_else(|| "/".into()),
            None => location.to_string(),
        };
        let sep = if path.contains('?') { '&' } else { '?' };
        let put = http(
            host,
            "PUT",
            &format!("{path}{sep}digest={config_digest}"),
            &[("Content-Type", "application/octet-stream")],
            config,
        )?;
        if put.status != 201 {
            return Err(registry_error("upload the image config", &put));
        }
    }
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_V2,
        "config": { "mediaType": CONFIG_V1, "size": config.len(), "digest": config_digest },
        "layers": [],
    }))
    .expect("serializable");
    let put = http(
        host,
        "PUT",
        &format!("/v2/{}/manifests/{}", r.path, r.tag),
        &[("Content-Type", MANIFEST_V2)],
        &manifest,
    )?;
    if put.status != 201 {
        return Err(registry_error("upload the manifest", &put));
    }
    Ok((
        format!("sha256:{}", Sha256::digest(&manifest)),
        manifest.len(),
    ))
}

fn registry_error(what: &str, resp: &Response) -> String {
    let body = String::from_utf8_lossy(&resp.body);
    let msg = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| {
            v.pointer("/errors/0/message")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| body.trim().to_string());
    format!(
        "failed to {what}: the registry answered {}: {msg}",
        resp.status
    )
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request over a fresh connection (`Connection: close`: read until EOF).
fn http(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, String> {
    let with_port = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    let addrs: Vec<_> = with_port
        .to_socket_addrs()
        .map_err(|e| format!("Get \"http://{host}/v2/\": dial tcp: lookup {host}: {e}"))?
        .collect();
    let mut last = None;
    let mut stream = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, Duration::from_secs(5)) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some((a, e)),
        }
    }
    let Some(mut s) = stream else {
        let (a, e) = last
            .map(|(a, e)| (a.to_string(), e.to_string()))
            .unwrap_or_default();
        let why = if e.contains("refused") {
            "connect: connection refused".to_string()
        } else {
            e
        };
        return Err(format!("Get \"http://{host}/v2/\": dial tcp {a}: {why}"));
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: docker/{CLIENT_VERSION} (devenv fake)\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    s.write_all(&bytes)
        .map_err(|e| format!("{method} http://{host}{path}: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .map_err(|e| format!("{method} http://{host}{path}: {e}"))?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{method} http://{host}{path}: malformed HTTP response"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("{method} http://{host}{path}: malformed status line"))?;
    let headers = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    Ok(Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}

// ---------------------------------------------------------------------------------------
// SHA-256 (FIPS 180-4), for registry digests: std has none and the fakes stay small.

struct Sha256 {
    h: [u32; 8],
    buf: Vec<u8>,
    len: u64,
}

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

impl Sha256 {
    fn new() -> Self {
        Sha256 {
            h: [
                0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
                0x5be0cd19,
            ],
            buf: Vec::with_capacity(64),
            len: 0,
        }
    }

    fn digest(data: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(data);
        h.hex()
    }

    fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if !self.buf.is_empty() {
            let take = (64 - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == 64 {
                let block: [u8; 64] = self.buf[..].try_into().expect("64 bytes");
                self.compress(&block);
                self.buf.clear();
            }
        }
        while data.len() >= 64 {
            self.compress(data[..64].try_into().expect("64 bytes"));
            data = &data[64..];
        }
        self.buf.extend_from_slice(data);
    }

    fn compress(&mut self, block: &[u8; 64]) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes(block[4 * i..4 * i + 4].try_into().expect("4 bytes"));
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = self.h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = h
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            h = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in self.h.iter_mut().zip([a, b, c, d, e, f, g, h]) {
            *x = x.wrapping_add(y);
        }
    }

    fn finish(mut self) -> [u8; 32] {
        let bits = self.len.wrapping_mul(8);
        let mut pad = vec![0x80u8];
        while (self.buf.len() + pad.len()) % 64 != 56 {
            pad.push(0);
        }
        pad.extend_from_slice(&bits.to_be_bytes());
        let len = self.len;
        self.update(&pad);
        self.len = len;
        let mut out = [0u8; 32];
        for (i, v) in self.h.iter().enumerate() {
            out[4 * i..4 * i + 4].copy_from_slice(&v.to_be_bytes());
        }
        out
    }

    fn hex(self) -> String {
        self.finish().iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_known_vectors() {
        assert_eq!(
            Sha256::digest(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            Sha256::digest(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let long = vec![b'a'; 1000];
        let mut h = Sha256::new();
        for chunk in long.chunks(7) {
            h.update(chunk);
        }
        assert_eq!(h.hex(), Sha256::digest(&long));
    }

    #[test]
    fn references_normalise_like_docker() {
        let r = Reference::parse("localhost:5000/app:dv-1").unwrap();
        assert_eq!(
            (r.domain.as_str(), r.path.as_str(), r.tag.as_str()),
            ("localhost:5000", "app", "dv-1")
        );
        assert_eq!(
            Reference::parse("nginx").unwrap().key(),
            "docker.io/library/nginx:latest"
        );
        assert_eq!(
            Reference::parse("localhost:5000/a/b").unwrap().tag,
            "latest"
        );
        assert!(Reference::parse("Localhost:5000/App:x").is_err());
        assert!(Reference::parse("a:").is_err());
    }

    #[test]
    fn templates_read_fields() {
        let v = json!({"Server": {"Version": "28.2.2"}});
        assert_eq!(
            format_template("{{.Server.Version}}", &v, "t").unwrap(),
            "28.2.2"
        );
        assert!(format_template("{{.Nope}}", &v, "t")
            .unwrap_err()
            .contains("can't evaluate field Nope"));
    }

    #[test]
    fn dockerfile_continuations_join() {
        assert_eq!(
            dockerfile_instructions("# c\nFROM x AS b\n\nRUN a \\\n  b\n"),
            ["FROM x AS b", "RUN a b"]
        );
    }
}
