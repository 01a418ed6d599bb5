//! devenv as CI and scripts see it: GitHub Actions groups, annotations and job summary;
//! no escape codes or prompts without a terminal (or under CI); `--output json`; the
//! documented exit codes; completions and the man page. Everything runs against the
//! fake k3d/kubectl and a docker stub, so each test takes well under a second.

mod completions_man;
mod exit_codes;
mod github;
mod non_interactive;
mod output_json;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{self, free_port, json, show, text, Sandbox, CALICO};
use serde_json::Value;

/// A project with one image and one overlay, on free ports, with a docker stub (the real
/// docker is hidden): `version`/`info` answer, `build`/`push` succeed and print a line.
struct Project {
    sb: Sandbox,
    toml: String,
    registry_port: u16,
}

impl Project {
    fn new() -> Project {
        Project::in_sandbox(Sandbox::new().sleep_scale(0.0))
    }

    fn in_sandbox(sb: Sandbox) -> Project {
        let docker = sb.root.path().join("docker-stub");
        std::fs::write(
            &docker,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{log}'\ncase \"$1\" in\n  version) echo 27.3.1 ;;\n  info) echo '{root}' ;;\n  build|push) echo \"docker stub: $*\" ;;\n  *) echo \"docker stub: unexpected $*\" >&2; exit 1 ;;\nesac\n",
                log = sb.root.path().join("docker-calls.log").display(),
                root = sb.root.path().display(),
            ),
        )
        .unwrap();
        make_executable(&docker);
        let registry_port = free_port();
        let toml = format!(
            r#"version = 1

[project]
name = "demo"

[cluster]
agents = 1
api_port = {api_port}

[registry]
port = {registry_port}

[calico]
manifests = "{CALICO}"

[build]
docker = "{docker}"

[verify]
enabled = false

[[images]]
name = "web"
context = "app"

[namespaces.app]

[[overlays]]
name = "dev"
path = "deploy/overlays/dev"
"#,
            api_port = free_port(),
            docker = docker.display(),
        );
        sb.write("devenv.toml", &toml);
        sb.write("app/Dockerfile", "FROM scratch\nCOPY index.html /\n");
        sb.write("app/index.html", "hello\n");
        sb.write(
            "deploy/base/kustomization.yaml",
            "resources:\n  - deployment.yaml\n",
        );
        sb.write(
            "deploy/base/deployment.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: web\n",
        );
        sb.write(
            "deploy/overlays/dev/kustomization.yaml",
            "namespace: app\nresources:\n  - ../../base\n",
        );
        Project {
            sb,
            toml,
            registry_port,
        }
    }

    /// 1-based line of the first line of devenv.toml that is exactly `text`.
    fn line_of(&self, text: &str) -> usize {
        self.toml
            .lines()
            .position(|l| l == text)
            .unwrap_or_else(|| panic!("{text:?} not in devenv.toml"))
            + 1
    }
}

/// A registry API on 127.0.0.1:PORT that has every manifest (`status` asks it whether the
/// images `up` pushed are there). Runs until the test process ends.
fn serve_registry(port: u16) {
    use std::io::{BufRead, BufReader, Write};
    let listener =
        std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind the registry port");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            let mut header = String::new();
            while reader.read_line(&mut header).map_or(false, |n| n > 2) {
                header.clear();
            }
            let path = request.split_whitespace().nth(1).unwrap_or("");
            let response = if path == "/v2/" {
                "HTTP/1.1 200 OK\r\nDocker-Distribution-API-Version: registry/2.0\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_string()
            } else if path.starts_with("/v2/") && path.contains("/manifests/") {
                format!(
                    "HTTP/1.1 200 OK\r\nDocker-Content-Digest: sha256:{}\r\nContent-Type: application/vnd.docker.distribution.manifest.v2+json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    "ab".repeat(32)
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string()
            };
            let _ = reader.get_mut().write_all(response.as_bytes());
        }
    });
}

fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn run(cmd: &mut assert_cmd::Command) -> Output {
    cmd.output().expect("run devenv")
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

/// Exactly one JSON document on stdout, and nothing else.
fn one_json_document(o: &Output) -> Value {
    let mut docs = serde_json::Deserializer::from_slice(&o.stdout).into_iter::<Value>();
    let first = docs
        .next()
        .unwrap_or_else(|| panic!("no JSON document on stdout\n{}", show(o)))
        .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{}", show(o)));
    assert!(
        docs.next().is_none(),
        "more than one document on stdout\n{}",
        show(o)
    );
    assert_eq!(first["version"], json!(1), "{}", show(o));
    first
}

/// Plain-mode event lines: `2026-11-25T01:40:02Z  start  id  title`.
fn is_event_line(l: &str) -> bool {
    let b = l.as_bytes();
    b.len() > 22 && b[4] == b'-' && b[10] == b'T' && b[19] == b'Z' && &l[20..22] == "  "
}
