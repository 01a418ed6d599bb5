//! Which builder `docker build` uses, and so how devenv must call it for the result to land
//! where `docker push` finds it, and which ignore file decides the context.
//!
//! What the docker CLI does with `docker build` (docker/cli `cmd/docker/builder.go`,
//! `processBuilder` and `forwardBuilder`):
//! - `DOCKER_BUILDKIT=0`, or no buildx plugin: the **legacy builder**. It writes the image
//!   into the daemon's image store; it knows neither `--load` nor `--push` (`unknown flag:
//!   --load`, exit 125). With `DOCKER_BUILDKIT=1` and no buildx the command fails:
//!   "ERROR: BuildKit is enabled but the buildx component is missing or broken."
//! - buildx present: `docker build` is `docker buildx build` with `BUILDX_BUILDER` set to
//!   the current Docker context unless `BUILDX_BUILDER` (or a `builder` alias from
//!   `docker buildx install`) names another builder. The same rewriting applies to
//!   `docker builder …` (→ `docker buildx …`), so **`docker builder inspect` reports the
//!   very builder `docker build` uses** — and fails as `unknown command` where `docker
//!   build` runs the legacy builder. That is the question devenv asks.
//! - buildx's `docker` driver exports to the image store by default; a `docker-container`
//!   (or `kubernetes`, `remote`) builder keeps the result in its build cache only: "No
//!   output specified with docker-container driver. Build result will only remain in the
//!   build cache." (docker/buildx `build/build.go` `warnOnNoOutput`, `build/opt.go`: the
//!   default export exists only for the moby driver or with `default-load`). And
//!   `BUILDX_NO_DEFAULT_LOAD` removes the default export even for the `docker` driver.
//!
//! So devenv passes `--load` whenever buildx builds (whatever the driver), never with the
//! legacy builder. `--push` is not used: a `docker-container` builder runs in its own
//! network namespace (docker/buildx `driver/docker-container/driver.go` sets no network
//! mode unless `--driver-opt network=…`), where `localhost:PORT` is not the host's
//! registry, and the extra tags (`docker tag`) need the image in the store anyway.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::context::ContextSemantics;
use crate::runner::Cmd;

/// What `docker build` runs on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DockerBuilder {
    /// The docker CLI's legacy builder (no buildx, or `DOCKER_BUILDKIT=0`).
    Legacy,
    /// An old docker CLI (< 23) driving the daemon's BuildKit itself (`DOCKER_BUILDKIT=1`
    /// without buildx): BuildKit's context rules, the image lands in the store.
    CliBuildKit,
    /// buildx, with the builder `name` and its driver (`docker`, `docker-container`, ...).
    Buildx { name: String, driver: String },
}

impl DockerBuilder {
    /// Which files the builder sends (and which ignore file it reads).
    pub fn semantics(&self) -> ContextSemantics {
        match self {
            DockerBuilder::Legacy => ContextSemantics::Classic,
            _ => ContextSemantics::BuildKit,
        }
    }

    /// Flags `docker build` needs so the image lands in the image store.
    pub fn build_flags(&self) -> Vec<String> {
        match self {
            DockerBuilder::Buildx { .. } => vec!["--load".to_string()],
            _ => Vec::new(),
        }
    }

    /// One line for messages and the plan.
    pub fn describe(&self) -> String {
        match self {
            DockerBuilder::Legacy => "the legacy builder (no buildx)".into(),
            DockerBuilder::CliBuildKit => "BuildKit through the docker CLI (no buildx)".into(),
            DockerBuilder::Buildx { name, driver } => {
                format!("buildx builder {name:?} (driver {driver})")
            }
        }
    }
}

/// The question: `docker builder inspect` (see the module comment).
pub fn detect_cmd(docker: &str) -> Cmd {
    Cmd::new(docker)
        .args(["builder", "inspect"])
        .timeout(Duration::from_secs(20))
}

/// A detection that cannot succeed: `(message, how to fix)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectError {
    pub message: String,
    pub hint: String,
    /// `docker build` itself would fail the same way (a prerequisite is missing).
    pub fatal: bool,
}

/// Reads the answer of [`detect_cmd`]. `buildkit_env` is `DOCKER_BUILDKIT` as devenv sees it.
pub fn interpret(
    status: i32,
    stdout: &str,
    stderr: &str,
    buildkit_env: Option<&str>,
) -> Result<DockerBuilder, DetectError> {
    if status == 0 {
        // buildx `commands/inspect.go`: "Name:\t%s" then "Driver:\t%s" (tabwriter-aligned).
        let field = |key: &str| {
            stdout.lines().find_map(|l| {
                l.strip_prefix(key)
                    .map(|r| r.trim().to_string())
                    .filter(|r| !r.is_empty())
            })
        };
        if let Some(driver) = field("Driver:") {
            return Ok(DockerBuilder::Buildx {
                name: field("Name:").unwrap_or_default(),
                driver,
            });
        }
    }
    // docker/cli cmd/docker/builder.go buildxMissingError.
    if stderr.contains("BuildKit is enabled but the buildx component is missing or broken") {
        return Err(DetectError {
            message:
                "DOCKER_BUILDKIT=1 is set but Docker's buildx component is missing or broken, \
                      so `docker build` fails"
                    .into(),
            hint: "install buildx (Debian/Ubuntu: `sudo apt install docker-buildx`; others: \
                   https://docs.docker.com/go/buildx/), or unset DOCKER_BUILDKIT"
                .into(),
            fatal: true,
        });
    }
    // No buildx (or DOCKER_BUILDKIT=0): the CLI's own `docker builder` has no `inspect`
    // (docker ≥ 23: "unknown command"; Debian's 20.10 client prints the group's usage).
    let usage = "Usage:  docker builder COMMAND";
    if stderr.contains("unknown command")
        || stderr.contains("is not a docker command")
        || stderr.contains(usage)
        || stdout.contains(usage)
    {
        let on = buildkit_env
            .map(|v| matches!(v.trim(), "1" | "t" | "T" | "true" | "TRUE" | "True"))
            .unwrap_or(false);
        return Ok(if on {
            DockerBuilder::CliBuildKit
        } else {
            DockerBuilder::Legacy
        });
    }
    let why = stderr
        .lines()
        .chain(stdout.lines())
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("DEPRECATED"))
        .unwrap_or("")
        .to_string();
    Err(DetectError {
        message: format!(
            "cannot tell which builder `docker build` uses: `docker builder inspect` failed \
             (exit status {status}): {why}"
        ),
        hint: "run `docker builder inspect` and fix what it reports".into(),
        fatal: false,
    })
}

/// What the answer depends on besides the docker binary: the environment the docker CLI
/// reads, its config (aliases, current context), buildx's builder store and the plugin
/// itself (docker/cli `cli-plugins/manager`: `$DOCKER_CONFIG/cli-plugins` and the system
/// plugin folders). Any change there means asking again.
pub fn detection_key(docker: &str) -> Option<String> {
    let bin = which::which(docker).ok()?;
    let mut key = vec![stamp(&bin)];
    for var in [
        "DOCKER_BUILDKIT",
        "BUILDX_BUILDER",
        "BUILDX_NO_DEFAULT_LOAD",
        "DOCKER_CONTEXT",
        "DOCKER_HOST",
        "DOCKER_CONFIG",
    ] {
        key.push(format!(
            "{var}={}",
            std::env::var(var).unwrap_or_else(|_| "-".into())
        ));
    }
    let config = docker_config_dir();
    let mut files = vec![
        config.join("config.json"),
        config.join("buildx").join("current"),
        config.join("buildx").join("instances"),
        config.join("cli-plugins").join("docker-buildx"),
    ];
    for dir in [
        "/usr/local/lib/docker/cli-plugins",
        "/usr/local/libexec/docker/cli-plugins",
        "/usr/lib/docker/cli-plugins",
        "/usr/libexec/docker/cli-plugins",
    ] {
        files.push(Path::new(dir).join("docker-buildx"));
    }
    key.extend(files.iter().map(|f| stamp(f)));
    Some(key.join("\n"))
}

fn docker_config_dir() -> PathBuf {
    std::env::var_os("DOCKER_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".docker")))
        .unwrap_or_else(|| PathBuf::from(".docker"))
}

fn stamp(p: &Path) -> String {
    match std::fs::metadata(p) {
        Ok(m) => {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{}:{}:{mtime}", p.display(), m.len())
        }
        Err(_) => format!("{}:-", p.display()),
    }
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    key: String,
    builder: DockerBuilder,
}

/// Where the answer is kept: per user (one question per machine and setup, whatever the
/// project), in devenv's cache (`$DEVENV_CACHE_DIR`, else `~/.cache/devenv`).
pub fn cache_path() -> Option<PathBuf> {
    Some(crate::cache::default_cache_root()?.join("docker-builder.json"))
}

/// The cached answer for `docker`, if it still holds.
pub fn cached(docker: &str) -> Option<DockerBuilder> {
    let key = detection_key(docker)?;
    let text = std::fs::read(cache_path()?).ok()?;
    let c: CacheFile = serde_json::from_slice(&text).ok()?;
    (c.key == key).then_some(c.builder)
}

/// Keep the answer (a cache that cannot be written only costs one more question).
pub fn remember(docker: &str, builder: &DockerBuilder) {
    let (Some(key), Some(path)) = (detection_key(docker), cache_path()) else {
        return;
    };
    let c = CacheFile {
        key,
        builder: builder.clone(),
    };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&tmp, serde_json::to_vec_pretty(&c).expect("serializes")).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_and_buildx_answers() {
        // docker 28.2.2 without buildx (this machine), stderr verbatim.
        let legacy = "DEPRECATED: The legacy builder is deprecated and will be removed in a future release.\n            Install the buildx component to build images with BuildKit:\n            https://docs.docker.com/go/buildx/\n\ndocker: unknown command: docker builder inspect\n\nUsage:  docker builder\n\nRun 'docker builder --help' for more information\n";
        assert_eq!(interpret(1, "", legacy, None), Ok(DockerBuilder::Legacy));
        assert_eq!(
            interpret(1, "", legacy, Some("1")),
            Ok(DockerBuilder::CliBuildKit)
        );
        let missing = "ERROR: BuildKit is enabled but the buildx component is missing or broken.\n       Install the buildx component to build images with BuildKit:\n       https://docs.docker.com/go/buildx/\n";
        let e = interpret(1, "", missing, Some("1")).unwrap_err();
        assert!(e.fatal && e.hint.contains("docker-buildx"), "{e:?}");
        let out = "Name:          ci-builder\nDriver:        docker-container\nLast Activity: 2025-01-01 00:00:00 +0000 UTC\n\nNodes:\nName:      ci-builder0\nEndpoint:  unix:///var/run/docker.sock\nStatus:    running\n";
        let b = interpret(0, out, "", None).unwrap();
        assert_eq!(
            b,
            DockerBuilder::Buildx {
                name: "ci-builder".into(),
                driver: "docker-container".into()
            }
        );
        assert_eq!(b.build_flags(), ["--load"]);
        assert_eq!(b.semantics(), ContextSemantics::BuildKit);
        assert!(DockerBuilder::Legacy.build_flags().is_empty());
        assert_eq!(DockerBuilder::Legacy.semantics(), ContextSemantics::Classic);
        // Debian's docker.io 20.10 client (/usr/bin/docker here), verbatim.
        let old = "\nUsage:  docker builder COMMAND\n\nManage builds\n\nCommands:\n  build       Build an image from a Dockerfile\n  prune       Remove build cache\n\nRun 'docker builder COMMAND --help' for more information on a command.\n";
        assert_eq!(interpret(1, "", old, None), Ok(DockerBuilder::Legacy));
        assert_eq!(
            interpret(1, "", old, Some("true")),
            Ok(DockerBuilder::CliBuildKit)
        );
        // Another failure: not fatal (preflight reports Docker), and the message quotes the
        // first line that says something, not the deprecation banner nor a blank line.
        let down = "DEPRECATED: The legacy builder is deprecated\n\nCannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n";
        let e = interpret(1, "", down, None).unwrap_err();
        assert!(!e.fatal);
        assert!(
            e.message
                .ends_with("(exit status 1): Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"),
            "{}",
            e.message
        );
    }
}
