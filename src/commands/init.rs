//! `devenv init`: a working starting point from `templates/init/` (a commented devenv.toml, a
//! Kustomize base and dev overlay, a sample Dockerfile, `.devenv/` in `.gitignore`).
//! It never overwrites a file: running it again changes nothing.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::{fail, printer};
use crate::cli::{GlobalArgs, InitArgs};
use crate::config::load::folder_project_name;
use crate::config::validate::check_dns_label;
use crate::exit::Exit;
use crate::hint::Hinted;

/// (path relative to the project, template text). `{{project}}` is replaced.
const FILES: &[(&str, &str)] = &[
    (
        "devenv.toml",
        include_str!("../../templates/init/devenv.toml"),
    ),
    (
        "app/Dockerfile",
        include_str!("../../templates/init/app/Dockerfile"),
    ),
    (
        "app/.dockerignore",
        include_str!("../../templates/init/app/.dockerignore"),
    ),
    (
        "app/public/index.html",
        include_str!("../../templates/init/app/public/index.html"),
    ),
    (
        "deploy/base/kustomization.yaml",
        include_str!("../../templates/init/deploy/base/kustomization.yaml"),
    ),
    (
        "deploy/base/deployment.yaml",
        include_str!("../../templates/init/deploy/base/deployment.yaml"),
    ),
    (
        "deploy/base/service.yaml",
        include_str!("../../templates/init/deploy/base/service.yaml"),
    ),
    (
        "deploy/overlays/dev/kustomization.yaml",
        include_str!("../../templates/init/deploy/overlays/dev/kustomization.yaml"),
    ),
];

const GITIGNORE_LINE: &str = ".devenv/";

pub fn run(_g: &GlobalArgs, args: &InitArgs) -> Exit {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let dir = args
        .dir
        .as_ref()
        .map(|d| {
            if d.is_absolute() {
                d.clone()
            } else {
                cwd.join(d)
            }
        })
        .unwrap_or(cwd);
    let default_name = folder_project_name(&dir);
    let interactive =
        std::io::stdin().is_terminal() && std::io::stderr().is_terminal() && !crate::ui::is_ci();
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
            Err(e) => return fail(Exit::Usage, Hinted::new(e.to_string())),
        },
        (None, false) => {
            return fail(
                Exit::Usage,
                Hinted::new("`devenv init` would ask for the project name, but there is no terminal (or CI is set)")
                    .help(format!("pass --yes to accept the defaults (project name {default_name:?}), or --name NAME")),
            );
        }
    };
    if let Err(why) = check_dns_label(&name, 32) {
        return fail(
            Exit::Usage,
            Hinted::new(format!("project name {name:?} is not valid: {why}")).help(
                "use lowercase letters, digits and '-', starting with a letter, at most 32 characters",
            ),
        );
    }
    match write_scaffold(&dir, &name) {
        Ok(report) => {
            for (path, action) in &report {
                printer::line(&format!("{} {}", action.word(), path.display()));
            }
            printer::line(
                "\nnext: `devenv plan` shows what `devenv up` will do; `devenv up` does it.",
            );
            Exit::Success
        }
        Err(e) => fail(Exit::StepFailed, Hinted::new(e.to_string())),
    }
}

/// What `init` did to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAction {
    Created,
    /// It existed and was left alone.
    Kept,
    /// `.gitignore` existed and `.devenv/` was appended to it.
    Appended,
}

impl FileAction {
    fn word(self) -> &'static str {
        match self {
            FileAction::Created => "created ",
            FileAction::Kept => "kept    ",
            FileAction::Appended => "appended",
        }
    }
}

/// Write the scaffold; returns what was done to each path (relative to `dir`).
pub fn write_scaffold(dir: &Path, project: &str) -> std::io::Result<Vec<(PathBuf, FileAction)>> {
    let mut report = Vec::new();
    for (rel, text) in FILES {
        let path = dir.join(rel);
        // symlink_metadata: a dangling symlink is a file the user put there too.
        if path.symlink_metadata().is_ok() {
            report.push((PathBuf::from(rel), FileAction::Kept));
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        crate::state::write_atomic(&path, text.replace("{{project}}", project).as_bytes())?;
        report.push((PathBuf::from(rel), FileAction::Created));
    }
    let action = add_gitignore_line(&dir.join(".gitignore"))?;
    report.push((PathBuf::from(".gitignore"), action));
    Ok(report)
}

/// Adds `.devenv/` to a `.gitignore` that does not ignore it yet.
/// An existing file is appended to (never rewritten: its bytes, mode and symlink stay as
/// they are, whatever its encoding); its line ending is reused.
fn add_gitignore_line(path: &Path) -> std::io::Result<FileAction> {
    let existing = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let created = format!("{GITIGNORE_LINE}\n");
            crate::state::write_atomic(path, created.as_bytes())?;
            return Ok(FileAction::Created);
        }
        Err(e) => {
            return Err(std::io::Error::new(
                e.kind(),
                format!("cannot read {}: {e}", path.display()),
            ))
        }
    };
    let ignored = existing.split(|b| *b == b'\n').any(|l| {
        matches!(
            String::from_utf8_lossy(l).trim(),
            ".devenv" | ".devenv/" | "/.devenv" | "/.devenv/" | ".devenv/*" | "/.devenv/*"
        )
    });
    if ignored {
        return Ok(FileAction::Kept);
    }
    let eol = if existing.windows(2).any(|w| w == b"\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let mut text = String::new();
    if !existing.is_empty() && !existing.ends_with(b"\n") {
        text.push_str(eol);
    }
    text.push_str(GITIGNORE_LINE);
    text.push_str(eol);
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(FileAction::Appended)
}
