//! Issue 14 #3: `[tools]` pins are enforced; `--install-tools` installs them from a (local,
//! stand-in) release server.

use super::*;

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

/// A project that uses no helm (no charts, no `helmCharts:`) has its helm checked only when
/// `[tools]` pins it: the plan shows the check, and a missing helm is one more listed problem.
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
