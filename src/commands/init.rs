//! `devenv init`: a working starting point from `templates/init/` (a commented devenv.toml, a
//! Kustomize base and dev overlay, a sample Dockerfile, `.devenv/` in `.gitignore`).
//! It never overwrites a file: running it again changes nothing.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::cli::{GlobalArgs, InitArgs};
use crate::config::load::folder_project_name;
use crate::config::validate::check_dns_label;
use crate::exit::Exit;

/// (path relative to the project, template text). `{{project}}` is replaced.
const FILES: &[(&str, &str)] = &[
    ("devenv.toml", include_str!("../../templates/init/devenv.toml")),
    ("app/Dockerfile", include_str!("../../templates/init/app/Dockerfile")),
    ("app/.dockerignore", include_str!("../../templates/init/app/.dockerignore")),
    ("app/public/index.html", include_str!("../../templates/init/app/public/index.html")),
    ("deploy/base/kustomization.yaml", include_str!("../../templates/init/deploy/base/kustomization.yaml")),
    ("deploy/base/deployment.yaml", include_str!("../../templates/init/deploy/base/deployment.yaml")),
    ("deploy/base/service.yaml", include_str!("../../templates/init/deploy/base/service.yaml")),
    ("deploy/overlays/dev/kustomization.yaml", include_str!("../../templates/init/deploy/overlays/dev/kustomization.yaml")),
];

const GITIGNORE_LINE: &str = ".devenv/";

pub fn run(_g: &GlobalArgs, args: &InitArgs) -> Exit {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let dir = args.dir.as_ref().map(|d| if d.is_absolute() { d.clone() } else { cwd.join(d) }).unwrap_or(cwd);
    let default_name = folder_project_name(&dir);
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal() && !crate::ui::is_ci();
    let name = match (&args.name, args.yes) {
        (Some(n), _) => n.clone(),
        (None, true) => default_name,
        (None, false) if interactive => match dialoguer::Input::<String>::new()
            .with_prompt("Project name (names the cluster, registry and kube context)")
            .default(default_name)
            .validate_with(|s: &String| check_dns_label(s, 32))
            .interact_text()
        {
            Ok(n) => n,
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Usage;
            }
        },
        (None, false) => {
            eprintln!("error: `devenv init` would ask for the project name, but there is no terminal");
            eprintln!("  = help: pass --yes to accept the defaults (project name {default_name:?}), or --name NAME");
            return Exit::Usage;
        }
    };
    if let Err(why) = check_dns_label(&name, 32) {
        eprintln!("error: project name {name:?} is not valid: {why}");
        eprintln!("  = help: use lowercase letters, digits and '-', starting with a letter, at most 32 characters");
        return Exit::Usage;
    }
    match write_scaffold(&dir, &name) {
        Ok(report) => {
            for (path, created) in &report {
                eprintln!("{} {}", if *created { "created" } else { "kept   " }, path.display());
            }
            eprintln!("\nnext: `devenv plan` shows what `devenv up` will do; `devenv up` does it.");
            Exit::Success
        }
        Err(e) => {
            eprintln!("error: {e}");
            Exit::StepFailed
        }
    }
}

/// Write the scaffold; returns each path and whether it was created (false: it existed).
pub fn write_scaffold(dir: &Path, project: &str) -> std::io::Result<Vec<(PathBuf, bool)>> {
    let mut report = Vec::new();
    for (rel, text) in FILES {
        let path = dir.join(rel);
        if path.exists() {
            report.push((PathBuf::from(rel), false));
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        crate::state::write_atomic(&path, text.replace("{{project}}", project).as_bytes())?;
        report.push((PathBuf::from(rel), true));
    }
    // .gitignore: add the line if missing, keep everything else.
    let gitignore = dir.join(".gitignore");
    let existing = std::fs::read_to_string(&gitignore).unwrap_or_default();
    let has = existing.lines().any(|l| matches!(l.trim(), ".devenv" | ".devenv/" | "/.devenv" | "/.devenv/"));
    if !has {
        let mut text = existing.clone();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(GITIGNORE_LINE);
        text.push('\n');
        crate::state::write_atomic(&gitignore, text.as_bytes())?;
    }
    report.push((PathBuf::from(".gitignore"), !has));
    Ok(report)
}
