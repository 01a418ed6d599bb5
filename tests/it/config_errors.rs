//! The bad-input corpus (`tests/bad_configs/*.toml`, directives in its README.md): every file
//! must make devenv exit 2 before running any external program, with errors that name the
//! file, line, column and key, show the offending line and say how to fix it.

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::{bad_config_folders, Sandbox};

/// What one corpus file asks for (its header directives and `# <-` markers).
#[derive(Debug, Default)]
struct Case {
    name: String,
    text: String,
    expect: Vec<String>,
    keys: Vec<String>,
    /// 1-based lines an error must point at.
    lines: Vec<usize>,
    caret: Option<String>,
    ordered: bool,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// `# file: NAME`: the config is written under this name (not devenv.toml).
    file: Option<String>,
    /// The bytes written: the text, or with `# escapes` each `\xHH` as that byte (invalid
    /// UTF-8); `text` is then these bytes as devenv shows them (bad ones as U+FFFD).
    raw: Vec<u8>,
    /// `# symlink: LINK=TARGET` (relative to the project).
    symlinks: Vec<(String, String)>,
    /// `# touch: PATH`: a file (a Dockerfile) written there, relative to the project.
    touch: Vec<String>,
}

/// `\xHH` written as that byte.
fn unescape(text: &str) -> Vec<u8> {
    let raw = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        if raw[i..].starts_with(b"\\x") && i + 4 <= raw.len() {
            let hex = std::str::from_utf8(&raw[i + 2..i + 4]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

const MARKER: &str = "# <-";

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_configs")
}

fn parse_case(path: &Path) -> Case {
    let text = fs::read_to_string(path).expect("read corpus file");
    let mut c = Case {
        name: path.file_stem().unwrap().to_string_lossy().into_owned(),
        ..Case::default()
    };
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        let directive = |name: &str| {
            t.strip_prefix(&format!("# {name}:"))
                .map(|v| v.trim().to_string())
        };
        if let Some(v) = directive("expect") {
            c.expect.push(v);
        } else if let Some(v) = directive("key") {
            c.keys.push(v);
        } else if let Some(v) = directive("caret") {
            c.caret = Some(v);
        } else if let Some(v) = directive("line") {
            c.lines.push(v.parse().expect("# line: N"));
        } else if let Some(v) = directive("args") {
            c.args = shlex::split(&v).expect("# args: quoting");
        } else if let Some(v) = directive("env") {
            let (k, val) = v.split_once('=').expect("# env: K=V");
            c.env.push((k.into(), val.into()));
        } else if let Some(v) = directive("file") {
            c.file = Some(v);
        } else if let Some(v) = directive("symlink") {
            let (k, val) = v.split_once('=').expect("# symlink: LINK=TARGET");
            c.symlinks.push((k.into(), val.into()));
        } else if let Some(v) = directive("touch") {
            c.touch.push(v);
        } else if t == "# ordered" {
            c.ordered = true;
        }
        if line.trim_end().ends_with(MARKER) {
            c.lines.push(i + 1);
        }
    }
    c.raw = if text.lines().any(|l| l.trim() == "# escapes") {
        unescape(&text)
    } else {
        text.clone().into_bytes()
    };
    c.text = String::from_utf8_lossy(&c.raw).into_owned();
    c
}

/// One error block of devenv's stderr: `error: …`, `--> file:L:C (key `K`)`, ` | line`, `= help:`.
#[derive(Debug)]
struct Block {
    text: String,
    file: String,
    line: usize,
    col: usize,
    key: String,
}

fn blocks(stderr: &str) -> Vec<Result<Block, String>> {
    let mut out = Vec::new();
    let mut cur: Vec<&str> = Vec::new();
    let flush = |cur: &mut Vec<&str>, out: &mut Vec<Result<Block, String>>| {
        if cur.is_empty() {
            return;
        }
        let text = cur.join("\n");
        cur.clear();
        if text.contains("problems in the config; nothing was run") && !text.contains("-->") {
            return; // the summary line
        }
        let arrow = text
            .lines()
            .find_map(|l| l.trim_start().strip_prefix("--> "));
        let parsed = arrow.and_then(|a| {
            let (loc, rest) = a.split_once(" (key `")?;
            let key = rest.strip_suffix("`)")?.to_string();
            let mut parts = loc.rsplitn(3, ':');
            let col = parts.next()?.parse().ok()?;
            let line = parts.next()?.parse().ok()?;
            let file = parts.next()?.to_string();
            Some(Block {
                text: text.clone(),
                file,
                line,
                col,
                key,
            })
        });
        out.push(
            parsed.ok_or_else(|| format!("error without `--> FILE:LINE:COL (key `K`)`:\n{text}")),
        );
    };
    for l in stderr.lines() {
        if l.starts_with("error: ") {
            flush(&mut cur, &mut out);
        }
        cur.push(l);
    }
    flush(&mut cur, &mut out);
    out
}

/// Check one run; returns every problem found.
fn check_run(c: &Case, sb: &Sandbox, subcommand: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut cmd = sb.devenv(
        subcommand
            .iter()
            .copied()
            .chain(c.args.iter().map(String::as_str)),
    );
    for (k, v) in &c.env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run devenv");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let what = format!("{} (devenv {})", c.name, subcommand.join(" "));
    let mut fail = |m: String| {
        problems.push(format!(
            "{what}: {m}\n--- stderr ---\n{stderr}--------------"
        ))
    };

    if out.status.code() != Some(2) {
        fail(format!("exit status {:?}, expected 2", out.status.code()));
    }
    let calls = sb.calls();
    if !calls.is_empty() {
        fail(format!(
            "external programs ran: {:?}",
            calls.iter().map(|c| c.line()).collect::<Vec<_>>()
        ));
    }
    let lines: Vec<&str> = c.text.lines().collect();
    let parsed = blocks(&stderr);
    if parsed.is_empty() {
        fail("no error on stderr".into());
    }
    let mut located = Vec::new();
    for b in &parsed {
        match b {
            Err(e) => fail(e.clone()),
            Ok(b) => {
                let want_file = c.file.as_deref().unwrap_or("devenv.toml");
                if b.file != want_file {
                    fail(format!("error names {:?}, not {want_file}", b.file));
                }
                let Some(src) = lines.get(b.line.wrapping_sub(1)) else {
                    fail(format!("line {} is not in the file", b.line));
                    continue;
                };
                if !b.text.contains(&format!("{} | {}", b.line, src)) {
                    fail(format!("error at line {} does not show that line", b.line));
                }
                let caret = b
                    .text
                    .lines()
                    .find(|l| l.trim_start().starts_with('|') && l.contains('^'));
                match caret {
                    None => fail(format!("error at line {} has no caret", b.line)),
                    Some(caret_line) => {
                        // The caret sits under column `col` of the shown line.
                        let bar = caret_line.find('|').unwrap();
                        let caret_col = caret_line[bar + 2..].find('^').map(|i| i + 1);
                        if caret_col != Some(b.col) {
                            fail(format!(
                                "caret at column {caret_col:?}, location says {}",
                                b.col
                            ));
                        }
                        if b.col > src.chars().count() + 1 {
                            fail(format!(
                                "column {} is past the end of line {}",
                                b.col, b.line
                            ));
                        }
                    }
                }
                if !b.text.contains("= help: ") {
                    fail(format!("error at line {} has no help", b.line));
                }
                located.push((b.line, b.col, b.key.clone()));
            }
        }
    }
    for want in &c.expect {
        if !stderr.contains(want.as_str()) {
            fail(format!("stderr lacks {want:?}"));
        }
    }
    for key in &c.keys {
        if !located.iter().any(|(_, _, k)| k == key) {
            fail(format!("no error at key `{key}`"));
        }
    }
    for l in &c.lines {
        if !located.iter().any(|(line, _, _)| line == l) {
            fail(format!(
                "no error points at line {l}: {:?}",
                lines.get(l - 1)
            ));
        }
    }
    if let Some(text) = &c.caret {
        let marked: Vec<usize> = c.lines.clone();
        assert_eq!(
            marked.len(),
            1,
            "{}: `# caret:` needs exactly one marked line",
            c.name
        );
        let line = marked[0];
        let col = lines[line - 1]
            .find(text.as_str())
            .map(|byte| lines[line - 1][..byte].chars().count() + 1)
            .unwrap_or_else(|| panic!("{}: caret text {text:?} not on line {line}", c.name));
        if !located.iter().any(|(l, cl, _)| *l == line && *cl == col) {
            fail(format!(
                "no error at {line}:{col} (where {text:?} starts); errors at {located:?}"
            ));
        }
    }
    if c.ordered {
        let order: Vec<usize> = located.iter().map(|(l, _, _)| *l).collect();
        let mut sorted = order.clone();
        sorted.sort();
        if order != sorted {
            fail(format!("errors not in file order: lines {order:?}"));
        }
        let mut marked = c.lines.clone();
        marked.sort();
        if order != marked {
            fail(format!(
                "errors at lines {order:?}, expected exactly {marked:?}"
            ));
        }
    }
    problems
}

#[test]
fn every_bad_config_exits_2_with_a_located_fix_and_runs_nothing() {
    let started = std::time::Instant::now();
    let mut files: Vec<PathBuf> = fs::read_dir(corpus_dir())
        .expect("tests/bad_configs")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 40,
        "the corpus has {} files, at least 40 are required",
        files.len()
    );
    let mut problems = Vec::new();
    for f in &files {
        let c = parse_case(f);
        assert!(
            !c.expect.is_empty() && (!c.lines.is_empty()),
            "{}: needs `# expect:` and a marked line (`{MARKER}` or `# line: N`)",
            c.name
        );
        let sb = Sandbox::new();
        bad_config_folders(&sb);
        fs::write(sb.path(c.file.as_deref().unwrap_or("devenv.toml")), &c.raw).unwrap();
        for (link, target) in &c.symlinks {
            std::os::unix::fs::symlink(target, sb.path(link)).expect("# symlink:");
        }
        for f in &c.touch {
            sb.write(f, "FROM scratch\n");
        }
        // `up` would run k3d, docker and kubectl: a bad config must stop it before any.
        problems.extend(check_run(&c, &sb, &["up"]));
        problems.extend(check_run(&c, &sb, &["config", "validate"]));
    }
    eprintln!(
        "{} corpus files checked in {:?}",
        files.len(),
        started.elapsed()
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

#[test]
fn errors_found_from_a_subfolder_point_into_the_discovered_file() {
    let sb = Sandbox::new();
    sb.write("devenv.toml", "version = 1\n[cluster]\nagents = 500\n");
    let out = sb
        .devenv_in("services/api", ["config", "validate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = sb.path("devenv.toml");
    assert!(
        stderr.contains(&format!("{}:3:10 (key `cluster.agents`)", file.display())),
        "{stderr}"
    );
    assert!(stderr.contains("3 | agents = 500"), "{stderr}");
}

#[test]
fn a_missing_file_given_with_f_is_a_usage_error() {
    let sb = Sandbox::new();
    let out = sb
        .devenv(["plan", "-f", "nope/devenv.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("nope/devenv.toml") && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert!(stderr.contains("help:"), "{stderr}");
    assert!(sb.calls().is_empty());
}

#[test]
fn with_a_profile_the_base_is_still_checked_on_its_own_lines() {
    // The `ci` profile replaces cluster.agents with 1, but the base alone (what `devenv up`
    // without a profile reads) is invalid: that is reported on the base's line.
    let sb = Sandbox::new();
    sb.write("devenv.toml", "version = 1\n[cluster]\nagents = 500\n");
    let out = sb
        .devenv(["config", "validate", "--profile", "ci"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("devenv.toml:3:10 (key `cluster.agents`)"),
        "{stderr}"
    );
    assert!(!stderr.contains("set by profile"), "{stderr}");
}

/// Loads every file of `dir` under each profile; returns how many were loaded. A missing
/// folder is an error, never zero inputs that pass.
fn load_every_input_of(dir: &Path) -> usize {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut n = 0;
    for e in entries.flatten() {
        let bytes = fs::read(e.path()).unwrap();
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        for profile in [None, Some("ci"), Some("single-node")] {
            let r = std::panic::catch_unwind(|| {
                if let Err(errs) = devenv::config::load_from_str(&text, "devenv.toml", profile) {
                    // Rendering must not panic either, and every error says something.
                    assert!(!errs.to_string().is_empty());
                }
            });
            assert!(
                r.is_ok(),
                "{} panicked (profile {profile:?})",
                e.path().display()
            );
        }
        n += 1;
    }
    n
}

/// Inputs that once crashed the loader (committed): each loads without a panic.
#[test]
fn no_regression_input_panics_the_loader() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/config_load");
    let n = load_every_input_of(&dir);
    assert!(n >= 1, "{} holds no input", dir.display());
}

/// Whatever the bytes, loading gives a config or located errors, never a panic (the fuzz
/// corpus found a slice inside a multi-byte character once). The corpus is not committed
/// (scripts/fuzz.sh grows it; `scripts/fuzz.sh --seed-only` creates it from every
/// devenv.toml of the repository): without it this test fails rather than pass on nothing.
#[test]
#[ignore = "needs the fuzz corpus (fuzz/corpus/config_load): scripts/test.sh seeds it"]
fn no_input_of_the_fuzz_corpus_panics_the_loader() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/config_load");
    assert!(
        dir.is_dir(),
        "{} is missing: run `scripts/fuzz.sh --seed-only` (scripts/test.sh does)",
        dir.display()
    );
    let n = load_every_input_of(&dir);
    // The seeds alone are the example, the scaffold, the profiles and the fixtures.
    assert!(n >= 5, "only {n} inputs in {}", dir.display());
    eprintln!("{n} fuzz inputs loaded without a panic");
}

/// No false alarm: a chart of each kind (a folder with its values file, a repository chart,
/// an OCI chart) with an overlay depending on a chart, and a chart depending on an overlay,
/// is valid, and validating it runs nothing (no helm, no network).
#[test]
fn charts_of_every_kind_with_overlays_around_them_are_valid() {
    let sb = Sandbox::new();
    bad_config_folders(&sb);
    sb.write(
        "deploy/charts/web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    );
    sb.write("deploy/charts/web/values-dev.yaml", "replicaCount: 1\n");
    sb.write(
        "devenv.toml",
        r#"version = 1
[[overlays]]
name = "infra"
path = "k/a"
[[overlays]]
name = "app"
path = "k/b"
depends_on = ["db", "web"]
[[charts]]
name = "web"
chart = "deploy/charts/web"
values = ["deploy/charts/web/values-dev.yaml"]
set = { "image.tag" = "dev", resources = { limits = { memory = "64Mi" } } }
namespace = "web"
depends_on = ["infra"]
wait = ["deployment/web"]
timeout = "2m"
[[charts]]
name = "db"
chart = "postgresql"
repo = "https://charts.bitnami.com/bitnami"
version = "16.7.27"
release = "shop-db"
[[charts]]
name = "cache"
chart = "oci://127.0.0.1:5000/charts/redis"
version = "v1.2.3-rc.1"
"#,
    );
    let out = sb.devenv(["config", "validate"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(sb.calls().is_empty(), "{:?}", sb.calls());
}
