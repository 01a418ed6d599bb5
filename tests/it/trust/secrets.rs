//! See main.rs. No credential, and no credential helper's output, ever touches the disk:
//! every file devenv and its children wrote (the project's `.devenv/`, `$HOME`, `$TMPDIR`,
//! the fakes' state) is searched for the secret after a normal run and after a SIGKILL.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::Sandbox;

/// Distinctive, so that a plain search finds any copy.
const SECRET: &str = "hunter2-Z9q-secret-8e1f7c";
const USER: &str = "teammate";

/// A registry that answers 401 (Basic) without credentials and 404 with them: devenv has
/// to fetch the credentials (inline or from the helper) and then builds the image.
fn start_registry() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || serve(conn));
        }
    });
    addr
}

fn serve(conn: TcpStream) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    // One request per connection (Connection: close).
    let mut auth = false;
    let mut first = String::new();
    if reader.read_line(&mut first).unwrap_or(0) == 0 {
        return;
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line.to_ascii_lowercase().starts_with("authorization:") {
            auth = true;
        }
        if line == "\r\n" {
            break;
        }
    }
    let body = r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#;
    let resp = if auth {
        format!("HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}", body.len())
    } else {
        let b = r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
        format!("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"test\"\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{b}", b.len())
    };
    let head_only = first.starts_with("HEAD ");
    let resp = if head_only {
        resp.split("\r\n\r\n").next().unwrap().to_string() + "\r\n\r\n"
    } else {
        resp
    };
    let _ = conn.write_all(resp.as_bytes());
    let _ = conn.flush();
}

/// The three ways a Docker config gives credentials.
enum Source {
    Auths,
    CredsStore,
    CredHelpers,
}

/// The Docker config and the credential helper, outside the sandbox (they hold the secret
/// by design; what is searched is what devenv wrote).
struct Outside {
    dir: tempfile::TempDir,
}

impl Outside {
    fn new(source: &Source, registry: &str, hang: bool) -> Outside {
        let dir = tempfile::tempdir().unwrap();
        let docker = dir.path().join("docker");
        let bin = dir.path().join("bin");
        fs::create_dir_all(&docker).unwrap();
        fs::create_dir_all(&bin).unwrap();
        let b64 = base64(&format!("{USER}:{SECRET}"));
        let config = match source {
            Source::Auths => format!(r#"{{"auths":{{"{registry}":{{"auth":"{b64}"}}}}}}"#),
            Source::CredsStore => r#"{"credsStore":"devenvtest"}"#.to_string(),
            Source::CredHelpers => {
                format!(r#"{{"auths":{{}},"credHelpers":{{"{registry}":"devenvtest"}}}}"#)
            }
        };
        fs::write(docker.join("config.json"), config).unwrap();
        // The helper prints the secret, then (hang) says so and waits to be killed.
        let marker = dir.path().join("helper-answered");
        let tail = if hang {
            format!("touch '{}'\nexec sleep 30\n", marker.display())
        } else {
            String::new()
        };
        let helper = bin.join("docker-credential-devenvtest");
        fs::write(
            &helper,
            format!(
                "#!/bin/sh\nread server\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{SECRET}\"}}\\n' \"$server\"\n{tail}"
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
        Outside { dir }
    }

    fn docker_config(&self) -> PathBuf {
        self.dir.path().join("docker")
    }

    fn marker(&self) -> PathBuf {
        self.dir.path().join("helper-answered")
    }
}

fn base64(s: &str) -> String {
    devenv::images::docker_config::base64_encode(s.as_bytes())
}

fn sandbox(registry: &str, outside: &Outside) -> Sandbox {
    let sb = Sandbox::new();
    let mut path = std::ffi::OsString::from(outside.dir.path().join("bin"));
    path.push(":");
    path.push(sb.path_var());
    let sb = sb
        .env("PATH", path.to_str().unwrap())
        .env("DOCKER_CONFIG", outside.docker_config().to_str().unwrap());
    sb.write(
        "devenv.toml",
        &format!(
            "version = 1\n\n[project]\nname = \"sec\"\n\n[cluster]\nprovider = \"existing\"\ncontext = \"x\"\n\n[registry]\nprovider = \"external\"\naddress = \"{registry}/team\"\n\n[[images]]\nname = \"app\"\ncontext = \"app\"\n"
        ),
    );
    sb.write(
        "app/Dockerfile",
        "FROM scratch\nCOPY hello.txt /hello.txt\n",
    );
    sb.write("app/hello.txt", "hello\n");
    sb
}

/// Every regular file under `dir` that holds the secret (in clear or base64).
fn files_with_secret(dir: &Path) -> Vec<String> {
    let needles = [SECRET.to_string(), base64(&format!("{USER}:{SECRET}"))];
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            let Ok(meta) = fs::symlink_metadata(&p) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(p);
            } else if meta.is_file() {
                let bytes = fs::read(&p).unwrap_or_default();
                let text = String::from_utf8_lossy(&bytes);
                if needles.iter().any(|n| text.contains(n.as_str())) {
                    found.push(format!("{}:\n{text}", p.display()));
                }
            }
        }
    }
    found
}

/// `auths`, `credsStore` and `credHelpers`: a normal `devenv build` uses the credentials
/// (the registry sees them and says the image is missing: devenv goes on to docker) and
/// no file anywhere holds them.
#[test]
fn no_credential_reaches_the_disk_after_a_normal_run() {
    let registry = start_registry();
    for source in [Source::Auths, Source::CredsStore, Source::CredHelpers] {
        let outside = Outside::new(&source, &registry, false);
        let sb = sandbox(&registry, &outside);
        let out = sb.devenv(["build"]).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // (The fake docker's push is anonymous, so the registry refuses it: what matters here
        // is devenv's own use of the credentials, before docker.)
        assert!(!text.contains(SECRET), "{text}");
        // The credentials were really fetched and sent: the registry said 404, so docker built.
        assert!(
            sb.calls()
                .iter()
                .any(|c| c.tool == "docker" && c.has(&["build"])),
            "{text}"
        );
        let leaks = files_with_secret(sb.root.path());
        assert!(leaks.is_empty(), "secret on disk:\n{}", leaks.join("\n"));
        if !matches!(source, Source::Auths) {
            // That a helper ran is logged, never its output.
            let log = sb.read(".devenv/logs/latest/credential-helper.log");
            assert!(log.contains("docker-credential-devenvtest get"), "{log}");
            assert!(log.contains("==> exit status: 0"), "{log}");
        }
    }
}

/// devenv SIGKILLed while the helper runs (after it printed the secret): nothing left on
/// disk holds the secret, and the helper did not outlive devenv.
#[test]
fn no_credential_reaches_the_disk_after_sigkill() {
    let registry = start_registry();
    for source in [Source::CredsStore, Source::CredHelpers] {
        let outside = Outside::new(&source, &registry, true);
        let sb = sandbox(&registry, &outside);
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_devenv"))
            .arg("build")
            .env_clear()
            .envs(sb.envs())
            .current_dir(&sb.project)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !outside.marker().exists() {
            assert!(Instant::now() < deadline, "the helper never ran");
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let leaks = files_with_secret(sb.root.path());
        assert!(leaks.is_empty(), "secret on disk:\n{}", leaks.join("\n"));
    }
}

/// A Secret made by a kustomize secretGenerator from a `.env` the user keeps at 0600 is
/// rendered by devenv into `.devenv/rendered/*.yaml` and the render log: those copies were
/// 0644 in a 0755 `.devenv/`, readable by every local user. `.devenv/` is now 0700 (and
/// narrowed again when something widened it), so no copy is readable by anyone else. This
/// test failed before the fix.
#[test]
fn rendered_secrets_under_devenv_dir_are_readable_by_the_user_only() {
    use std::os::unix::fs::PermissionsExt;
    let password = "pw-Zx81-rendered-secret";
    let sb = Sandbox::new();
    sb.write(
        "devenv.toml",
        &super::ownership::toml(
            "sec-render",
            22,
            "\n[[overlays]]\nname = \"app\"\npath = \"k/app\"\n",
        ),
    );
    sb.write(
        "k/app/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: app\nresources: [ns.yaml]\nsecretGenerator:\n- name: db\n  envs: [.env]\n",
    );
    sb.write(
        "k/app/ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: app\n",
    );
    let env = sb.write("k/app/.env", &format!("DB_PASSWORD={password}\n"));
    fs::set_permissions(&env, fs::Permissions::from_mode(0o600)).unwrap();
    let b64 = base64(password);
    let dir = sb.path(".devenv");
    for widened in [false, true] {
        if widened {
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let r = super::ownership::run(&sb, &["up"]);
        assert_eq!(r.code, 0, "{r:?}");
        // Every copy devenv wrote: none may be reachable by group or others.
        let mut copies = Vec::new();
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                let meta = fs::symlink_metadata(&p).unwrap();
                if meta.is_dir() {
                    stack.push(p);
                } else if meta.is_file() {
                    let text = String::from_utf8_lossy(&fs::read(&p).unwrap()).into_owned();
                    if text.contains(password) || text.contains(&b64) {
                        copies.push(p);
                    }
                }
            }
        }
        assert!(
            !copies.is_empty(),
            "the overlay was not rendered under .devenv/"
        );
        let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode & 0o077,
            0,
            "widened: {widened}: .devenv/ is {mode:o}, so others can read {copies:?}"
        );
    }
}

/// The k3s cluster token (whoever has it can join a node to the cluster) is in the output
/// of `k3d node list -o json`, which devenv reads to observe the cluster. In GitHub Actions
/// and GitLab CI, where each step's output is folded into the job log (readable by everyone
/// who can read the job), and with `-v`, it was printed in clear. It is masked now. This
/// test failed before the fix.
#[test]
fn the_cluster_token_is_not_printed_in_ci_logs() {
    let sb = Sandbox::new();
    sb.write("devenv.toml", &super::ownership::toml("sec-token", 23, ""));
    let r = super::ownership::run(&sb, &["up"]);
    assert_eq!(r.code, 0, "{r:?}");
    let nodes = sb.k3d_ok(&["node", "list", "-o", "json"]);
    let token = nodes
        .split("K3S_TOKEN=")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .expect("the fake k3d puts K3S_TOKEN in the nodes' env")
        .to_string();
    assert!(token.len() >= 8, "{token}");
    for env in [
        &[("GITHUB_ACTIONS", "true"), ("CI", "true")][..],
        &[("GITLAB_CI", "true"), ("CI", "true")],
        &[("CI", "true")],
        &[],
    ] {
        for args in [
            &["up"][..],
            &["up", "-vv"],
            &["status", "-v"],
            &["up", "-o", "json"],
        ] {
            let mut cmd = sb.devenv(args);
            for (k, v) in env {
                cmd.env(k, v);
            }
            let o = cmd.output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(
                !text.contains(&token),
                "{env:?} devenv {args:?} printed the cluster token:\n{text}"
            );
        }
    }
}
