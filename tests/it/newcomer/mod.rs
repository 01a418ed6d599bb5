//! A newcomer's first hour (issue 14) and pre-release tools (issue 12 #9): preflight lists
//! every problem at once, `[tools]` pins are enforced and `--install-tools` installs them
//! from a (local, stand-in) release server, a k3d pre-release with a known bug is refused,
//! GitLab CI output, and the shipped `.gitlab-ci.yml` example.

mod every_problem_at_once;
mod gitlab_ci;
mod prerelease_tools;
mod tools;

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use crate::support::{self, json, minimal_toml, Sandbox};
use devenv_fakes::release_host::{serve, Server};
use sha2::{Digest, Sha256};

/// Ports below Linux's ephemeral range (32768-60999), so an outgoing connection never holds
/// one; each test has its own pair.
fn ports(n: u16) -> (u16, u16) {
    (23100 + n * 2, 23101 + n * 2)
}

fn project(sb: &Sandbox, name: &str, registry: u16, api: u16, extra: &str) {
    sb.write("devenv.toml", &minimal_toml(name, registry, api, extra));
}

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn run(cmd: &mut assert_cmd::Command) -> Out {
    let o = cmd.output().expect("run devenv");
    Out {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// PATH with the fakes of `keep` only (the others missing), and no real k3d/kubectl.
fn path_with_only(sb: &Sandbox, keep: &[&str]) -> std::ffi::OsString {
    let bin = sb.root.path().join("bin-partial");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in keep {
        let link = bin.join(tool);
        if !link.exists() {
            std::os::unix::fs::symlink(support::fakes_dir().join(tool), link).unwrap();
        }
    }
    let fakes = support::fakes_dir();
    let rest: Vec<PathBuf> = std::env::split_paths(&sb.path_var())
        .filter(|d| *d != fakes)
        .collect();
    for t in ["k3d", "kubectl", "helm"] {
        if !keep.contains(&t) {
            assert!(
                rest.iter().all(|d| !d.join(t).exists()),
                "a real {t} is on PATH: {rest:?}"
            );
        }
    }
    std::env::join_paths(std::iter::once(bin).chain(rest)).unwrap()
}
