//! Issue 13, config side: a misnamed config is never silently replaced by the default, the
//! config used is named, pinned Calico versions are documented as the code pins them, and
//! paths outside the repository holding devenv.toml need devenv.toml's say-so. The bad
//! configs themselves are in tests/bad_configs (run by tests/it/config_errors.rs).

use std::fs;
use std::path::Path;

use crate::support::Sandbox;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Failed on main: `Devenv.toml` alone made `up` build a default cluster and exit 0.
#[test]
fn a_misnamed_config_is_named_and_nothing_runs_unless_asked() {
    let sb = Sandbox::new();
    sb.write("Devenv.toml", "version = 1\n[cluster]\nagents = 0\n");
    for cmd in [
        &["up"][..],
        &["plan"],
        &["status"],
        &["down"],
        &["config", "show"],
    ] {
        let out = sb.devenv(cmd).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {err}");
        assert!(
            err.contains("Devenv.toml looks like a misnamed one")
                && err.contains("--> Devenv.toml:1:1"),
            "{cmd:?}: {err}"
        );
        assert!(sb.calls().is_empty(), "{cmd:?} ran {:?}", sb.calls());
    }

    // Asked: -f reads it, --default-config uses the default; each says which it used.
    let out = sb.devenv(["plan", "-f", "Devenv.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("config: Devenv.toml\n"),
        "{}",
        stderr(&out)
    );
    let out = sb.devenv(["plan", "--default-config"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("config: the built-in default"),
        "{}",
        stderr(&out)
    );
}

/// Failed on main: from a subfolder, a `devenv.toml.txt` above was ignored for the default.
#[test]
fn a_misnamed_config_in_a_parent_folder_is_named_from_a_subfolder() {
    let sb = Sandbox::new();
    sb.write("devenv.toml.txt", "version = 1\n");
    let out = sb
        .devenv_in("services/api", ["config", "validate"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("devenv.toml.txt looks like a misnamed one"),
        "{err}"
    );
    assert!(err.contains("--default-config"), "{err}");
}

/// A real devenv.toml wins: files beside it that look like it (the example, a backup) are
/// not a reason to refuse.
#[test]
fn near_misses_beside_a_real_devenv_toml_change_nothing() {
    let sb = Sandbox::new();
    sb.write("devenv.toml", "version = 1\n");
    sb.write("devenv.toml.example", "version = 1\n");
    sb.write("Devenv.toml", "version = 1\n");
    let out = sb.devenv(["plan"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Failed on main (no line at all): every command that loads a config names it once on
/// stderr; -q hides it; `-o json` stdout stays one JSON document.
#[test]
fn every_command_names_the_config_it_read_once() {
    let sb = Sandbox::new();
    sb.write("devenv.toml", "version = 1\n[verify]\nenabled = false\n");
    for cmd in [
        &["plan"][..],
        &["config", "show"],
        &["status"],
        &["plan", "--profile", "ci"],
        &["up"],
        &["reset", "--yes"],
        &["down"],
    ] {
        let out = sb.devenv(cmd).output().unwrap();
        let err = stderr(&out);
        assert_eq!(
            err.matches("config: devenv.toml").count(),
            1,
            "{cmd:?}: {err}"
        );
    }
    let out = sb.devenv(["plan", "--profile", "ci"]).output().unwrap();
    assert!(
        stderr(&out).contains("config: devenv.toml (profile ci)"),
        "{}",
        stderr(&out)
    );
    let out = sb.devenv(["plan", "-q"]).output().unwrap();
    assert!(!stderr(&out).contains("config:"), "{}", stderr(&out));
    let out = sb.devenv(["plan", "-o", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(v["version"], 1);
    assert!(stderr(&out).contains("config: devenv.toml"));
    // `config validate` says it in its own line, once.
    let out = sb.devenv(["config", "validate"]).output().unwrap();
    assert_eq!(
        stderr(&out).matches("devenv.toml").count(),
        1,
        "{}",
        stderr(&out)
    );

    // No devenv.toml and nothing like one: the default, said so.
    let empty = Sandbox::new();
    let out = empty.devenv(["plan"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("config: the built-in default (no devenv.toml in"),
        "{}",
        stderr(&out)
    );
}

fn versions_in(line: &str) -> Vec<String> {
    line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .map(|w| w.trim_end_matches('.'))
        .filter(|w| {
            w.starts_with('v')
                && w[1..].split('.').count() == 3
                && w[1..]
                    .split('.')
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        })
        .map(str::to_string)
        .collect()
}

/// Failed on main: devenv.toml.example listed three pinned versions, the code pins four, and
/// the README listed none.
#[test]
fn the_pinned_calico_versions_in_readme_and_example_are_the_codes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let code: Vec<String> = devenv::calico::pinned_versions()
        .into_iter()
        .map(str::to_string)
        .collect();
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.starts_with("Calico versions devenv pins"))
        .expect("README.md has a line `Calico versions devenv pins …`");
    assert_eq!(versions_in(line), code, "README.md: {line}");
    let example = fs::read_to_string(root.join("devenv.toml.example")).unwrap();
    let text: String = example
        .lines()
        .skip_while(|l| !l.contains("devenv pins the sha256 of"))
        .take_while(|l| l.starts_with('#'))
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(versions_in(&text), code, "devenv.toml.example: {text}");
}

/// Monorepos: a context elsewhere in the same git repository stays allowed (a `.git` folder,
/// or a `.git` file as in worktrees and submodules).
#[test]
fn paths_elsewhere_in_the_same_git_repository_stay_allowed() {
    for git_is_file in [false, true] {
        let sb = Sandbox::new();
        let repo = sb.root.path();
        if git_is_file {
            fs::write(repo.join(".git"), "gitdir: /elsewhere/.git/worktrees/x\n").unwrap();
        } else {
            fs::create_dir_all(repo.join(".git")).unwrap();
        }
        sb.write("../shared/api/Dockerfile", "FROM scratch\n");
        sb.write("../infra/dev/kustomization.yaml", "resources: []\n");
        sb.write(
            "devenv.toml",
            "version = 1\n[[images]]\nname = \"api\"\ncontext = \"../shared/api\"\n\
             [[overlays]]\nname = \"dev\"\npath = \"../infra/dev\"\n",
        );
        let out = sb.devenv(["config", "validate"]).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "git file {git_is_file}: {}",
            stderr(&out)
        );
    }
}

/// Failed on main (built and pushed whatever `../shared-infra` held): outside the repository
/// only what `[project] allow_paths_outside` lists is used.
#[test]
fn a_folder_outside_the_repository_needs_allow_paths_outside() {
    let sb = Sandbox::new();
    sb.write("../shared-infra/api/Dockerfile", "FROM scratch\n");
    let config = "version = 1\n[[images]]\nname = \"api\"\ncontext = \"../shared-infra/api\"\n";
    sb.write("devenv.toml", config);
    let out = sb.devenv(["plan"]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--> devenv.toml:4:11 (key `images[0].context`)")
            && err.contains("is outside devenv.toml's folder")
            && err.contains("allow_paths_outside = [\"../shared-infra/api\"]"),
        "{err}"
    );
    assert!(sb.calls().is_empty());

    sb.write(
        "devenv.toml",
        &format!("{config}[project]\nallow_paths_outside = [\"../shared-infra\"]\n"),
    );
    let out = sb.devenv(["plan", "-o", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(plan.contains("shared-infra/api"), "{plan}");
}

/// Failed on main (read the parent's devenv.toml, said nothing): a misnamed file nearer than
/// the devenv.toml found above is more likely the one meant; devenv refuses and names both.
#[test]
fn a_misnamed_file_nearer_than_the_devenv_toml_found_is_refused() {
    let sb = Sandbox::new();
    sb.write("devenv.toml", "version = 1\n");
    sb.write(
        "services/api/Devenv.toml",
        "version = 1\n[cluster]\nagents = 0\n",
    );
    let api = sb.path("services/api");
    let out = sb.devenv(["up"]).current_dir(&api).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("Devenv.toml looks like a misnamed devenv.toml, nearer than")
            && err.contains(&sb.path("devenv.toml").display().to_string()),
        "{err}"
    );
    assert!(sb.calls().is_empty());
    // Asked, either one is read.
    for f in ["Devenv.toml", "../../devenv.toml"] {
        let out = sb
            .devenv(["plan", "-f", f])
            .current_dir(&api)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "-f {f}: {}", stderr(&out));
    }
}

/// Failed on main (a folder named devenv.toml was skipped for the default): it is refused.
#[test]
fn a_folder_named_devenv_toml_is_refused_not_skipped() {
    let sb = Sandbox::new();
    fs::create_dir_all(sb.path("devenv.toml")).unwrap();
    let out = sb.devenv(["up"]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("devenv.toml is a folder, not a file"), "{err}");
    assert!(sb.calls().is_empty());
    let out = sb.devenv(["plan", "--default-config"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// `-f services/api` (the folder, not its devenv.toml) is a common slip. It was called a
/// config file that "does not exist" (it does: it is a folder); it is named as a folder,
/// with the file inside it to pass. This test failed before the fix.
#[test]
fn dash_f_naming_a_folder_says_it_is_a_folder() {
    let sb = Sandbox::new();
    sb.write("services/api/devenv.toml", "version = 1\n");
    fs::create_dir_all(sb.path("empty")).unwrap();
    for (dir, help) in [
        ("services/api", "pass the file itself: -f "),
        ("empty", "-f takes a file, not a folder"),
    ] {
        let out = sb.devenv(["-f", dir, "up"]).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("is a folder, not a file"), "{err}");
        assert!(!err.contains("does not exist"), "{err}");
        assert!(err.contains(help), "{err}");
        assert!(sb.calls().is_empty());
    }
    let err = stderr(&sb.devenv(["-f", "services/api", "up"]).output().unwrap());
    assert!(err.contains("services/api/devenv.toml"), "{err}");
}
