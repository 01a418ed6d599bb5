//! A newcomer's first hour (issue 14) and pre-release tools (issue 12 #9): preflight lists
//! every problem at once, `[tools]` pins are enforced and `--install-tools` installs them
//! from a (local, stand-in) release server, a k3d pre-release with a known bug is refused,
//! GitLab CI output, and the shipped `.gitlab-ci.yml` example.

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use crate::support::file_server::{serve, Server};
use crate::support::{self, json, minimal_toml, Sandbox};
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

// ---------------------------------------------------------------------------------------
// Issue 14 #2: every problem at once

/// Docker down, k3d missing and the registry port busy: three problems in one failure,
/// exit 3, before anything is created. (Before: only the first one, the Docker daemon.)
#[test]
fn preflight_lists_docker_down_k3d_missing_and_a_busy_port_at_once() {
    let sb = Sandbox::new();
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = held.local_addr().unwrap().port();
    let (_, api) = ports(0);
    project(&sb, "allatonce", busy, api, "");
    sb.fault(json!({"tool": "docker", "match": ["version"], "action": "fail", "exit": 1,
        "stderr": "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"}));
    let path = path_with_only(&sb, &["kubectl", "docker"]);
    let o = run(sb.devenv(["up"]).env("PATH", &path));
    assert_eq!(o.code, Some(3), "{o:?}");
    let err = &o.stderr;
    assert!(err.contains("3 prerequisites are not met"), "{o:?}");
    let problems: Vec<&str> = err
        .lines()
        .filter(|l| l.trim_start().starts_with("✗ ") && !l.contains("Check prerequisites"))
        .collect();
    assert_eq!(problems.len(), 3, "{problems:#?}\n{o:?}");
    assert!(
        problems[0].contains("docker: the Docker daemon is not running"),
        "{problems:#?}"
    );
    assert!(
        problems[1].contains("k3d:") && problems[1].contains("not found on PATH"),
        "{problems:#?}"
    );
    assert!(
        problems[2].contains(&format!(
            "port {busy} on 127.0.0.1 (registry.port) is already in use"
        )),
        "{problems:#?}"
    );
    // Each with its fix.
    assert!(err.contains("fix: start Docker"), "{o:?}");
    assert!(err.contains("fix: install k3d"), "{o:?}");
    assert!(err.contains("set registry.port to a free port"), "{o:?}");
    assert!(sb.mutating_calls().is_empty(), "{:?}", sb.mutating_calls());
    drop(held);
}

/// One problem keeps the one-line message and its hint.
#[test]
fn preflight_with_one_problem_says_it_alone() {
    let sb = Sandbox::new();
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = held.local_addr().unwrap().port();
    let (_, api) = ports(1);
    project(&sb, "onlyone", busy, api, "");
    let o = run(&mut sb.devenv(["up"]));
    assert_eq!(o.code, Some(3), "{o:?}");
    assert!(!o.stderr.contains("prerequisites are not met"), "{o:?}");
    assert!(
        o.stderr.contains(&format!(
            "port {busy} on 127.0.0.1 (registry.port) is already in use"
        )),
        "{o:?}"
    );
    assert!(sb.mutating_calls().is_empty());
}

// ---------------------------------------------------------------------------------------
// Issue 12 #9: pre-release tools

/// k3d v5.9.0-rc.0 creates the registry listed in registries.use and fails (k3d#1642):
/// semver orders it before v5.9.0, and preflight refuses it. (Before: it passed as 5.9.0.)
#[test]
fn k3d_v5_9_0_rc_is_refused_before_anything_is_created() {
    let sb = Sandbox::new();
    let (registry, api) = ports(2);
    project(&sb, "prerelease", registry, api, "");
    // The output of an rc build (k3d-io/k3d#1642 shows its `k3d version`).
    sb.fault(
        json!({"tool": "k3d", "match": ["version"], "action": "garbage", "exit": 0,
        "stdout": "{\"k3d\":\"v5.9.0-rc.0\",\"k3s\":\"v1.34.3-k3s1\"}\n"}),
    );
    let o = run(&mut sb.devenv(["up"]));
    assert_eq!(o.code, Some(3), "{o:?}");
    assert!(
        o.stderr
            .contains("k3d v5.9.0-rc.0 is a pre-release of v5.9.0"),
        "{o:?}"
    );
    assert!(o.stderr.contains("k3d-io/k3d#1642"), "{o:?}");
    assert!(sb.mutating_calls().is_empty(), "{:?}", sb.mutating_calls());
    let d = run(&mut sb.devenv(["doctor"]));
    assert_eq!(d.code, Some(3), "{d:?}");
    assert!(d.stdout.contains("pre-release of v5.9.0"), "{d:?}");
}

// ---------------------------------------------------------------------------------------
// Issue 14 #3: [tools]

#[test]
fn a_bad_tools_spec_is_a_located_config_error() {
    let sb = Sandbox::new();
    let (registry, api) = ports(3);
    project(
        &sb,
        "badspec",
        registry,
        api,
        "\n[tools]\nk3d = \"latest\"\n",
    );
    let line = sb
        .read("devenv.toml")
        .lines()
        .position(|l| l.starts_with("k3d ="))
        .unwrap()
        + 1;
    for args in [&["config", "validate"][..], &["up"][..]] {
        let o = run(&mut sb.devenv(args));
        assert_eq!(o.code, Some(2), "{args:?}: {o:?}");
        assert!(
            o.stderr.contains(&format!("devenv.toml:{line}:")),
            "{args:?}: {o:?}"
        );
        assert!(o.stderr.contains("tools.k3d"), "{o:?}");
        assert!(
            o.stderr.contains("is not a version or a version range"),
            "{o:?}"
        );
    }
    assert!(sb.calls().is_empty(), "{:?}", sb.calls());
}

/// The fakes are k3d v5.9.0 and kubectl v1.33.1.
#[test]
fn pins_are_enforced_by_doctor_and_preflight() {
    let sb = Sandbox::new();
    let (registry, api) = ports(4);
    project(
        &sb,
        "pinned",
        registry,
        api,
        "\n[tools]\nk3d = \"5.8.3\"\nkubectl = \"1.33\"\n",
    );
    let d = run(&mut sb.devenv(["doctor"]));
    assert_eq!(d.code, Some(3), "{d:?}");
    let k3d_line = d
        .stdout
        .lines()
        .find(|l| l.contains("tools.k3d"))
        .unwrap_or_else(|| panic!("{d:?}"));
    assert!(k3d_line.starts_with("FAIL"), "{d:?}");
    assert!(
        k3d_line.contains("k3d v5.9.0 does not match tools.k3d = \"5.8.3\" (devenv.toml:"),
        "{d:?}"
    );
    assert!(d.stdout.contains("devenv up --install-tools"), "{d:?}");
    let kubectl_line = d
        .stdout
        .lines()
        .find(|l| l.contains("tools.kubectl"))
        .unwrap();
    assert!(kubectl_line.starts_with("ok"), "{d:?}");

    let o = run(&mut sb.devenv(["up"]));
    assert_eq!(o.code, Some(3), "{o:?}");
    assert!(
        o.stderr.contains("k3d v5.9.0 does not match tools.k3d"),
        "{o:?}"
    );
    assert!(sb.mutating_calls().is_empty());

    // A range that the installed versions satisfy passes.
    project(
        &sb,
        "pinned",
        registry,
        api,
        "\n[tools]\nk3d = \">=5.8, <6\"\nkubectl = \"1.33\"\n",
    );
    let o = run(&mut sb.devenv(["up"]));
    assert_eq!(o.code, Some(0), "{o:?}");
}

/// A fresh machine: the pinned k3d and helm are not installed at all. doctor and preflight
/// name the pin and its line and say `devenv up --install-tools` (for an exact pin), not
/// the generic "install k3d v5.5.0 or newer", which would get the team another version.
/// (Before: the pin was not mentioned when the tool was missing.)
#[test]
fn a_pinned_tool_that_is_missing_gets_the_pins_fix() {
    let sb = Sandbox::new();
    let (registry, api) = ports(11);
    project(
        &sb,
        "pinmissing",
        registry,
        api,
        "\n[tools]\nk3d = \"5.8.3\"\nhelm = \">=3.18, <4\"\n",
    );
    let text = sb.read("devenv.toml");
    let line_of = |key: &str| text.lines().position(|l| l.starts_with(key)).unwrap() + 1;
    let (k3d_line, helm_line) = (line_of("k3d ="), line_of("helm ="));
    let path = path_with_only(&sb, &["kubectl", "docker"]);
    let d = run(sb.devenv(["doctor"]).env("PATH", &path));
    assert_eq!(d.code, Some(3), "{d:?}");
    let o = run(sb.devenv(["up"]).env("PATH", &path));
    assert_eq!(o.code, Some(3), "{o:?}");
    assert!(sb.mutating_calls().is_empty(), "{:?}", sb.mutating_calls());
    for (what, out) in [("doctor", &d.stdout), ("up", &o.stderr)] {
        assert!(
            out.contains(&format!(
                "not found on PATH (tools.k3d = \"5.8.3\", devenv.toml:{k3d_line})"
            )),
            "{what}: {out}"
        );
        assert!(
            out.contains("run `devenv up --install-tools` to download k3d v5.8.3"),
            "{what}: {out}"
        );
        assert!(
            !out.contains("install k3d v5.5.0 or newer"),
            "{what}: {out}"
        );
        assert!(
            out.contains(&format!(
                "(tools.helm = \">=3.18, <4\", devenv.toml:{helm_line})"
            )),
            "{what}: {out}"
        );
        assert!(
            out.contains("install a helm matching \">=3.18, <4\""),
            "{what}: {out}"
        );
    }
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn platform() -> (&'static str, &'static str) {
    let os = if cfg!(target_os = "macos") {
        "darwin"
    } else {
        "linux"
    };
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "amd64"
    };
    (os, arch)
}

/// Stand-ins for the three release binaries: each reports the pinned version and hands
/// every other command to the fake (so `up` runs through them).
fn stand_ins() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let fakes = support::fakes_dir();
    let k3d = format!(
        "#!/bin/sh\nif [ \"$1\" = version ]; then echo '{{\"k3d\":\"v5.8.3\",\"k3s\":\"v1.31.5-k3s1\"}}'; exit 0; fi\nexec {} \"$@\"\n",
        fakes.join("k3d").display()
    );
    let kubectl = format!(
        "#!/bin/sh\nif [ \"$1\" = version ]; then echo '{{\"clientVersion\":{{\"major\":\"1\",\"minor\":\"33\",\"gitVersion\":\"v1.33.4\"}},\"kustomizeVersion\":\"v5.6.0\"}}'; exit 0; fi\nexec {} \"$@\"\n",
        fakes.join("kubectl").display()
    );
    let helm = "#!/bin/sh\necho v3.18.6\n".to_string();
    (k3d.into_bytes(), kubectl.into_bytes(), helm.into_bytes())
}

/// `helm-v3.18.6-OS-ARCH.tar.gz` holding `OS-ARCH/helm` (as get.helm.sh publishes it).
fn helm_tgz(helm: &[u8]) -> Vec<u8> {
    let (os, arch) = platform();
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut h = tar::Header::new_gnu();
    h.set_size(helm.len() as u64);
    h.set_mode(0o755);
    h.set_cksum();
    b.append_data(&mut h, format!("{os}-{arch}/helm"), helm)
        .unwrap();
    b.into_inner().unwrap().finish().unwrap()
}

/// The three release layouts on one server; `k3d_sum` is what checksums.txt says.
fn release_server(k3d_sum: Option<String>) -> Server {
    let (os, arch) = platform();
    let (k3d, kubectl, helm) = stand_ins();
    let tgz = helm_tgz(&helm);
    let other = sha(b"another asset");
    let k3d_sum = k3d_sum.unwrap_or_else(|| sha(&k3d));
    let helm_asset = format!("helm-v3.18.6-{os}-{arch}.tar.gz");
    serve(vec![
        (format!("/k3d/v5.8.3/k3d-{os}-{arch}"), k3d.clone()),
        (
            "/k3d/v5.8.3/checksums.txt".into(),
            format!("{other}  _dist/k3d-windows-amd64.exe\n{k3d_sum}  _dist/k3d-{os}-{arch}\n")
                .into_bytes(),
        ),
        (
            format!("/dl/v1.33.4/bin/{os}/{arch}/kubectl"),
            kubectl.clone(),
        ),
        (
            format!("/dl/v1.33.4/bin/{os}/{arch}/kubectl.sha256"),
            sha(&kubectl).into_bytes(),
        ),
        (format!("/helm/{helm_asset}"), tgz.clone()),
        (
            format!("/helm/{helm_asset}.sha256sum"),
            format!("{}  {helm_asset}\n", sha(&tgz)).into_bytes(),
        ),
    ])
}

fn with_server(sb: &Sandbox, server: &Server, cmd: &mut assert_cmd::Command) {
    cmd.env("DEVENV_K3D_BASE_URL", format!("{}/k3d", server.base))
        .env("DEVENV_KUBECTL_BASE_URL", format!("{}/dl", server.base))
        .env("DEVENV_HELM_BASE_URL", format!("{}/helm", server.base))
        .env("DEVENV_CACHE_DIR", sb.root.path().join("cache"));
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// `--install-tools`: a wrong checksum installs nothing; the right one installs the three
/// pinned binaries into the cache, `up` runs them (the fakes on PATH are other versions),
/// a second run downloads nothing, and `doctor` sees the cached ones. PATH is untouched.
#[test]
fn install_tools_downloads_checks_and_uses_the_pinned_binaries() {
    let sb = Sandbox::new();
    let (registry, api) = ports(5);
    project(
        &sb,
        "install",
        registry,
        api,
        "\n[tools]\nk3d = \"5.8.3\"\nkubectl = \"1.33.4\"\nhelm = \"3.18.6\"\n",
    );
    let cache = sb.root.path().join("cache");

    // 1. A checksums.txt that does not match the asset: refused, nothing installed.
    let bad = release_server(Some(sha(b"not the asset")));
    let mut cmd = sb.devenv(["up", "--install-tools"]);
    with_server(&sb, &bad, &mut cmd);
    let o = run(&mut cmd);
    assert_eq!(o.code, Some(3), "{o:?}");
    assert!(
        o.stderr.contains("does not match its published sha256"),
        "{o:?}"
    );
    assert!(o.stderr.contains("nothing was installed"), "{o:?}");
    assert!(files_under(&cache).is_empty(), "{:?}", files_under(&cache));
    assert!(sb.mutating_calls().is_empty());

    // 2. The right files: installed, checked, used.
    let good = release_server(None);
    let mut cmd = sb.devenv(["up", "--install-tools"]);
    with_server(&sb, &good, &mut cmd);
    let o = run(&mut cmd);
    assert_eq!(o.code, Some(0), "{o:?}");
    let downloads = good.hits.load(Ordering::SeqCst);
    assert_eq!(downloads, 6, "three assets and three checksum files");
    let (os, arch) = platform();
    for (tool, v) in [("k3d", "5.8.3"), ("kubectl", "1.33.4"), ("helm", "3.18.6")] {
        let bin = cache.join(format!("tools/{tool}/{v}/{os}-{arch}/{tool}"));
        let mode = std::fs::metadata(&bin)
            .unwrap_or_else(|e| panic!("{}: {e}\n{o:?}", bin.display()))
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "{} is not executable", bin.display());
        assert!(
            o.stderr
                .contains(&format!("{tool} v{v}: downloaded and checked")),
            "{o:?}"
        );
    }
    assert!(sb
        .mutating_calls()
        .iter()
        .any(|c| c.has(&["cluster", "create"])));

    // 3. Again: nothing downloaded, the cached binaries still used.
    let mut cmd = sb.devenv(["up", "--install-tools"]);
    with_server(&sb, &good, &mut cmd);
    let o = run(&mut cmd);
    assert_eq!(o.code, Some(0), "{o:?}");
    assert_eq!(good.hits.load(Ordering::SeqCst), downloads, "{o:?}");
    assert!(
        o.stderr.contains("k3d v5.8.3: already in the cache"),
        "{o:?}"
    );

    // 4. Without the flag, doctor and up use the cache too (the fakes on PATH are 5.9.0
    //    and 1.33.1, and there is no helm on PATH at all).
    let mut cmd = sb.devenv(["doctor"]);
    cmd.env("DEVENV_CACHE_DIR", &cache);
    let d = run(&mut cmd);
    for tool in ["tools.k3d", "tools.kubectl", "tools.helm"] {
        let l = d
            .stdout
            .lines()
            .find(|l| l.contains(tool))
            .unwrap_or_else(|| panic!("{d:?}"));
        assert!(l.starts_with("ok"), "{d:?}");
    }
    assert!(good.hits.load(Ordering::SeqCst) == downloads);
}

#[test]
fn install_tools_needs_exact_versions_and_says_when_offline() {
    let sb = Sandbox::new();
    let (registry, api) = ports(6);
    project(
        &sb,
        "ranges",
        registry,
        api,
        "\n[tools]\nkubectl = \"1.33\"\n",
    );
    let o = run(&mut sb.devenv(["up", "--install-tools"]));
    assert_eq!(o.code, Some(2), "{o:?}");
    assert!(
        o.stderr.contains("tools.kubectl = \"1.33\" (devenv.toml:"),
        "{o:?}"
    );
    assert!(o.stderr.contains("it needs an exact version"), "{o:?}");
    assert!(sb.calls().is_empty(), "{:?}", sb.calls());

    // Offline: a closed port.
    project(&sb, "ranges", registry, api, "\n[tools]\nk3d = \"5.8.3\"\n");
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let cache = sb.root.path().join("cache");
    let o = run(sb
        .devenv(["up", "--install-tools"])
        .env("DEVENV_K3D_BASE_URL", &url)
        .env("DEVENV_CACHE_DIR", &cache));
    assert_eq!(o.code, Some(3), "{o:?}");
    assert!(o.stderr.contains("cannot download"), "{o:?}");
    assert!(o.stderr.contains("nothing was installed"), "{o:?}");
    assert!(files_under(&cache).is_empty());
    assert!(sb.mutating_calls().is_empty());
}

// ---------------------------------------------------------------------------------------
// Issue 14 #4: GitLab CI

/// `section_start:TS:NAME[opts]\r\e[0KHeader` markers of a log: (name, collapsed, header).
fn gitlab_sections(log: &str) -> Vec<(String, bool, String)> {
    let mut out = Vec::new();
    let mut open: Vec<String> = Vec::new();
    for line in log.lines() {
        if let Some(rest) = line.strip_prefix("\x1b[0Ksection_start:") {
            let (marker, header) = rest
                .split_once("\r\x1b[0K")
                .expect("marker ends with \\r\\e[0K");
            let mut parts = marker.splitn(2, ':');
            let ts = parts.next().unwrap();
            assert!(ts.parse::<u64>().is_ok(), "timestamp {ts:?}");
            let name = parts.next().unwrap();
            let (name, collapsed) = match name.strip_suffix("[collapsed=true]") {
                Some(n) => (n, true),
                None => (name, false),
            };
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
                "section name {name:?}"
            );
            open.push(name.to_string());
            out.push((name.to_string(), collapsed, header.to_string()));
        } else if let Some(rest) = line.strip_prefix("\x1b[0Ksection_end:") {
            let (marker, tail) = rest.split_once("\r\x1b[0K").expect("end marker");
            assert!(tail.is_empty(), "{line:?}");
            let name = marker.split_once(':').unwrap().1;
            assert_eq!(open.pop().as_deref(), Some(name), "sections nest: {log}");
        } else {
            assert!(!line.contains("section_"), "a stray marker: {line:?}");
        }
    }
    assert!(open.is_empty(), "unclosed sections {open:?}");
    out
}

/// With GITLAB_CI=true a failing `up` folds each step's output in a section (the failed
/// one expanded) and prints the failure as `devenv.toml:LINE:COL: error: …` outside any
/// section; no prompt, no spinner. (Before: Plain output, no sections.)
#[test]
fn gitlab_ci_folds_steps_in_sections_and_prints_the_failure_at_its_line() {
    let sb = Sandbox::new();
    let (registry, api) = ports(7);
    project(&sb, "gitlab", registry, api, "");
    sb.fault(json!({"tool": "k3d", "match": ["cluster", "create"], "action": "fail", "stderr": "boom: no space left"}));
    let o = run(sb
        .devenv(["up"])
        .env("GITLAB_CI", "true")
        .env("CI", "true")
        .env("CI_PROJECT_DIR", &sb.project));
    assert_eq!(o.code, Some(1), "{o:?}");
    let log = &o.stderr;
    let sections = gitlab_sections(log);
    let cluster = sections
        .iter()
        .find(|(n, _, _)| n == "devenv_cluster")
        .unwrap_or_else(|| panic!("no cluster section: {sections:?}\n{o:?}"));
    assert!(!cluster.1, "the failed step is expanded: {o:?}");
    assert!(cluster.2.contains("failed after"), "{o:?}");
    let registry_section = sections.iter().find(|(n, _, _)| n == "devenv_registry");
    assert!(
        registry_section.is_some_and(|s| s.1),
        "a step that passed is collapsed: {sections:?}"
    );
    // The failure, outside the sections, at the [cluster] line, relative to the project.
    let line = sb
        .read("devenv.toml")
        .lines()
        .position(|l| l == "[cluster]")
        .unwrap()
        + 1;
    let error = log
        .lines()
        .find(|l| l.starts_with("devenv.toml:"))
        .unwrap_or_else(|| panic!("no file:line error: {o:?}"));
    assert!(
        error.starts_with(&format!("devenv.toml:{line}:")) && error.contains(": error: "),
        "{error}"
    );
    assert!(log.contains("boom: no space left"), "{o:?}");
    // No spinner frames or cursor movement besides the documented markers.
    let without_markers = log.replace("\x1b[0K", "");
    assert!(!without_markers.contains('\x1b'), "{o:?}");
}

#[test]
fn gitlab_ci_prints_config_errors_at_their_line() {
    let sb = Sandbox::new();
    let (registry, api) = ports(8);
    project(&sb, "gitlabconf", registry, api, "");
    let toml = sb
        .read("devenv.toml")
        .replace("agents = 1", "agents = \"many\"");
    sb.write("devenv.toml", &toml);
    let line = toml.lines().position(|l| l == "agents = \"many\"").unwrap() + 1;
    let o = run(sb
        .devenv(["up"])
        .env("GITLAB_CI", "true")
        .env("CI_PROJECT_DIR", &sb.project));
    assert_eq!(o.code, Some(2), "{o:?}");
    assert!(
        o.stderr
            .lines()
            .any(|l| l.starts_with(&format!("devenv.toml:{line}:10: error: "))),
        "{o:?}"
    );
    assert!(sb.calls().is_empty());
}

/// The keywords of `.gitlab-ci.yml` as GitLab's own JSON schema lists them
/// (gitlab-org/gitlab `app/assets/javascripts/editor/schema/ci.json`, read at the GitHub
/// mirror gitlabhq/gitlabhq 0286e4c6): `properties` of the root, of `default`, of
/// `definitions.job_template` (every job; `additionalProperties: false`), of a
/// `definitions.services` item object, and of `definitions.artifacts`.
mod gitlab_schema {
    pub const TOP_LEVEL: &[&str] = &[
        "$schema",
        "spec",
        "image",
        "services",
        "before_script",
        "after_script",
        "variables",
        "cache",
        "!reference",
        "default",
        "stages",
        "include",
        "pages",
        "workflow",
    ];
    pub const DEFAULT: &[&str] = &[
        "after_script",
        "artifacts",
        "before_script",
        "hooks",
        "cache",
        "image",
        "interruptible",
        "id_tokens",
        "identity",
        "retry",
        "services",
        "tags",
        "timeout",
        "!reference",
    ];
    pub const JOB: &[&str] = &[
        "image",
        "services",
        "before_script",
        "after_script",
        "hooks",
        "rules",
        "variables",
        "cache",
        "id_tokens",
        "identity",
        "inputs",
        "secrets",
        "script",
        "run",
        "stage",
        "only",
        "extends",
        "needs",
        "except",
        "tags",
        "allow_failure",
        "timeout",
        "when",
        "start_in",
        "manual_confirmation",
        "dependencies",
        "artifacts",
        "environment",
        "release",
        "coverage",
        "retry",
        "parallel",
        "interruptible",
        "resource_group",
        "trigger",
        "inherit",
        "publish",
        "pages",
    ];
    pub const SERVICE: &[&str] = &[
        "name",
        "entrypoint",
        "docker",
        "kubernetes",
        "pull_policy",
        "command",
        "alias",
        "variables",
    ];
    pub const ARTIFACTS: &[&str] = &[
        "paths",
        "exclude",
        "expose_as",
        "name",
        "untracked",
        "when",
        "access",
        "expire_in",
        "reports",
    ];
    /// `definitions.artifacts.properties.when.enum`.
    pub const ARTIFACTS_WHEN: &[&str] = &["on_success", "on_failure", "always"];
}

fn keys_within(v: &serde_yaml_ng::Value, allowed: &[&str], what: &str) {
    let map = v
        .as_mapping()
        .unwrap_or_else(|| panic!("{what} is not a mapping"));
    for k in map.keys() {
        let k = k
            .as_str()
            .unwrap_or_else(|| panic!("{what}: a non-string key"));
        assert!(
            allowed.contains(&k),
            "{what}: `{k}` is not a GitLab keyword here"
        );
    }
}

fn script_lines(v: &serde_yaml_ng::Value) -> Vec<String> {
    match v {
        serde_yaml_ng::Value::String(s) => vec![s.clone()],
        serde_yaml_ng::Value::Sequence(items) => items
            .iter()
            .map(|i| i.as_str().expect("a script line is a string").to_string())
            .collect(),
        other => panic!("a script is a string or a list, not {other:?}"),
    }
}

/// examples/gitlab-ci.yml uses only keywords GitLab's schema allows where it uses them,
/// and does what the README says: a Docker-in-Docker service, `devenv up --profile ci`
/// with the pinned tools, `verify`, and the logs as artifacts on failure.
#[test]
fn the_gitlab_ci_example_uses_only_documented_keywords() {
    use gitlab_schema::*;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/gitlab-ci.yml");
    let text = std::fs::read_to_string(path).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let root = doc.as_mapping().expect("a mapping at the root");
    let stages: Vec<String> = root
        .get("stages")
        .and_then(|s| s.as_sequence())
        .map(|s| s.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_else(|| vec!["build".into(), "test".into(), "deploy".into()]);
    if let Some(d) = root.get("default") {
        keys_within(d, DEFAULT, "default");
    }
    let mut jobs = 0;
    let mut all_script = Vec::new();
    for (k, v) in root {
        let k = k.as_str().unwrap();
        if TOP_LEVEL.contains(&k) || k.starts_with('.') {
            continue;
        }
        // Any other key is a job (`additionalProperties: {"$ref": "#/definitions/job"}`).
        jobs += 1;
        keys_within(v, JOB, &format!("job `{k}`"));
        let job = v.as_mapping().unwrap();
        assert!(job.contains_key("script"), "job `{k}` has no script");
        if let Some(stage) = job.get("stage").and_then(|s| s.as_str()) {
            assert!(
                stages.iter().any(|s| s == stage),
                "stage {stage} not in {stages:?}"
            );
        }
        let services = job
            .get("services")
            .and_then(|s| s.as_sequence())
            .cloned()
            .unwrap_or_default();
        let mut dind = false;
        for s in &services {
            let name = match s {
                serde_yaml_ng::Value::String(n) => n.clone(),
                other => {
                    keys_within(other, SERVICE, &format!("job `{k}` service"));
                    other
                        .get("name")
                        .and_then(|n| n.as_str())
                        .expect("a service has a name")
                        .to_string()
                }
            };
            dind |= name.starts_with("docker:") && name.ends_with("-dind");
        }
        assert!(dind, "job `{k}` has no Docker-in-Docker service");
        let artifacts = job.get("artifacts").expect("artifacts");
        keys_within(artifacts, ARTIFACTS, &format!("job `{k}` artifacts"));
        let when = artifacts.get("when").and_then(|w| w.as_str()).unwrap();
        assert!(ARTIFACTS_WHEN.contains(&when));
        assert_eq!(when, "on_failure");
        let paths: Vec<&str> = artifacts["paths"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert!(
            paths
                .iter()
                .any(|p| p.trim_end_matches('/') == ".devenv/logs"),
            "{paths:?}"
        );
        for key in ["before_script", "script", "after_script"] {
            if let Some(s) = job.get(key) {
                all_script.extend(script_lines(s));
            }
        }
    }
    assert_eq!(jobs, 1);
    let up = all_script
        .iter()
        .find(|l| l.starts_with("devenv up "))
        .expect("devenv up");
    assert!(
        up.contains("--profile ci") && up.contains("--install-tools"),
        "{up}"
    );
    assert!(all_script.iter().any(|l| l.starts_with("devenv verify")));
    // The pins --install-tools needs are documented next to it, and they parse.
    assert!(
        text.contains("k3d = \"5.8.3\""),
        "the example names the k3d pin"
    );
    assert!(devenv::tools::parse_spec("5.8.3").unwrap().1.is_some());
}

/// helm is checked only when `[tools]` pins it (nothing runs helm yet): the plan shows
/// the check, and a missing helm is one more listed problem.
#[test]
fn a_helm_pin_adds_the_helm_check_to_the_plan_and_preflight() {
    let sb = Sandbox::new();
    let (registry, api) = ports(9);
    project(&sb, "helmpin", registry, api, "");
    let plan = run(&mut sb.devenv(["plan", "-o", "json"]));
    assert_eq!(plan.code, Some(0), "{plan:?}");
    assert!(!plan.stdout.contains("\"helm\""), "{plan:?}");

    project(
        &sb,
        "helmpin",
        registry,
        api,
        "\n[tools]\nhelm = \"3.18.6\"\nk3d = \"5.8.3\"\n",
    );
    let plan = run(&mut sb.devenv(["plan", "-o", "json"]));
    let v: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let pre = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "preflight")
        .unwrap();
    assert!(
        pre["commands"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["program"] == "helm" && c["args"][0] == "version"),
        "{pre:#}"
    );
    let o = run(&mut sb.devenv(["up"]));
    assert_eq!(o.code, Some(3), "{o:?}");
    assert!(o.stderr.contains("2 prerequisites are not met"), "{o:?}");
    assert!(o.stderr.contains("✗ helm: could not run"), "{o:?}");
    assert!(
        o.stderr.contains("✗ tools.k3d: k3d v5.9.0 does not match"),
        "{o:?}"
    );
    assert!(sb.mutating_calls().is_empty());
}

/// On a terminal, `up` offers to install pinned versions that neither the cache nor PATH
/// has; a yes installs them (the terminal is a pty from util-linux `script`).
#[test]
fn on_a_terminal_up_asks_before_installing_the_pinned_tools() {
    which::which("script")
        .expect("util-linux `script` gives devenv a terminal (Debian: util-linux)");
    let sb = Sandbox::new();
    let (registry, api) = ports(10);
    project(&sb, "prompt", registry, api, "\n[tools]\nk3d = \"5.8.3\"\n");
    let server = release_server(None);
    let cache = sb.root.path().join("cache");
    let devenv = env!("CARGO_BIN_EXE_devenv");
    let mut child = sb
        .command("script")
        .args(["-qec", &format!("{devenv} up"), "/dev/null"])
        .env("DEVENV_K3D_BASE_URL", format!("{}/k3d", server.base))
        .env("DEVENV_CACHE_DIR", &cache)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"y").unwrap();
    let o = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("devenv.toml pins k3d v5.8.3"), "{text}");
    assert!(
        text.contains("k3d v5.8.3: downloaded and checked"),
        "{text}"
    );
    assert!(server.hits.load(Ordering::SeqCst) == 2, "{text}");
}
