//! `devenv init`: a working starting point from `templates/init/` (a commented devenv.toml, a
//! Kustomize base and dev overlay, a sample Dockerfile, `.devenv/` in `.gitignore`), and with
//! `--chart NAME` a Helm chart (`templates/init/chart/`) with its `[[charts]]` entry, added to
//! a new project or to the devenv.toml already there.
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

/// `--chart NAME`: (path inside `deploy/charts/NAME/`, template text). `{{chart}}` is
/// replaced (Chart.yaml); the rest is Helm's own template syntax, left as it is.
const CHART_FILES: &[(&str, &str)] = &[
    (
        "Chart.yaml",
        include_str!("../../templates/init/chart/Chart.yaml"),
    ),
    (
        "values.yaml",
        include_str!("../../templates/init/chart/values.yaml"),
    ),
    (
        "values-dev.yaml",
        include_str!("../../templates/init/chart/values-dev.yaml"),
    ),
    (
        "templates/deployment.yaml",
        include_str!("../../templates/init/chart/templates/deployment.yaml"),
    ),
    (
        "templates/service.yaml",
        include_str!("../../templates/init/chart/templates/service.yaml"),
    ),
];

/// Helm's limit on a release name, which a scaffolded chart's name is.
const MAX_CHART_NAME: usize = 53;

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
    if let Some(chart) = &args.chart {
        if let Err(why) = check_dns_label(chart, MAX_CHART_NAME) {
            return fail(
                Exit::Usage,
                Hinted::new(format!("chart name {chart:?} is not valid: {why}")).help(format!(
                    "use lowercase letters, digits and '-', starting with a letter, at most {MAX_CHART_NAME} characters (it is the Helm release name), e.g. \"db\""
                )),
            );
        }
    }
    let config = dir.join("devenv.toml");
    let mut report = Vec::new();
    // With --chart, a project that has its devenv.toml only gains the chart.
    if args.chart.is_none() || !config.exists() {
        let name = match project_name(&dir, args) {
            Ok(n) => n,
            Err(e) => return e,
        };
        match write_scaffold(&dir, &name) {
            Ok(r) => report.extend(r),
            Err(e) => return fail(Exit::StepFailed, Hinted::new(e.to_string())),
        }
    }
    if let Some(chart) = &args.chart {
        match write_chart(&dir, chart) {
            Ok(r) => report.extend(r),
            Err(ChartError::Io(e)) => return fail(Exit::StepFailed, Hinted::new(e.to_string())),
            Err(ChartError::Refused(h)) => return fail(Exit::Usage, h),
        }
    }
    for (path, action) in &report {
        printer::line(&format!("{} {}", action.word(), path.display()));
    }
    printer::line("\nnext: `devenv plan` shows what `devenv up` will do; `devenv up` does it.");
    Exit::Success
}

/// The project name: `--name`, the folder's with `--yes`, else asked on a terminal; `Err`
/// is the exit after the error is printed.
fn project_name(dir: &Path, args: &InitArgs) -> Result<String, Exit> {
    let default_name = folder_project_name(dir);
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
            Err(e) => return Err(fail(Exit::Usage, Hinted::new(e.to_string()))),
        },
        (None, false) => {
            return Err(fail(
                Exit::Usage,
                Hinted::new("`devenv init` would ask for the project name, but there is no terminal (or CI is set)")
                    .help(format!("pass --yes to accept the defaults (project name {default_name:?}), or --name NAME")),
            ));
        }
    };
    if let Err(why) = check_dns_label(&name, 32) {
        return Err(fail(
            Exit::Usage,
            Hinted::new(format!("project name {name:?} is not valid: {why}")).help(
                "use lowercase letters, digits and '-', starting with a letter, at most 32 characters",
            ),
        ));
    }
    Ok(name)
}

/// What `init` did to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAction {
    Created,
    /// It existed and was left alone.
    Kept,
    /// `.gitignore` existed and `.devenv/` was appended to it (or devenv.toml, a
    /// `[[charts]]` entry).
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

/// Why `--chart` wrote nothing, or stopped.
#[derive(Debug)]
pub enum ChartError {
    Io(std::io::Error),
    /// devenv.toml cannot take the chart (its name is an overlay's, or it does not parse).
    Refused(Hinted),
}

impl From<std::io::Error> for ChartError {
    fn from(e: std::io::Error) -> Self {
        ChartError::Io(e)
    }
}

/// `deploy/charts/NAME/` and the `[[charts]]` entry appended to `dir`'s devenv.toml (its
/// text is kept byte for byte, comments too); an entry of that name already there is kept.
pub fn write_chart(dir: &Path, chart: &str) -> Result<Vec<(PathBuf, FileAction)>, ChartError> {
    let config = dir.join("devenv.toml");
    let text = std::fs::read_to_string(&config)?;
    let declared = declared_unit(&text, chart).map_err(|e| {
        ChartError::Refused(
            Hinted::new(format!("{} is not valid TOML: {e}", config.display()))
                .help("fix it first (`devenv config validate` shows where), then add the chart"),
        )
    })?;
    if declared == Some("overlays") {
        return Err(ChartError::Refused(
            Hinted::new(format!(
                "devenv.toml already has an overlay named {chart:?}"
            ))
            .help("charts and overlays share one name space: pick another name for the chart"),
        ));
    }
    let folder = PathBuf::from("deploy/charts").join(chart);
    let mut report = Vec::new();
    for (rel, template) in CHART_FILES {
        let rel = folder.join(rel);
        let path = dir.join(&rel);
        if path.symlink_metadata().is_ok() {
            report.push((rel, FileAction::Kept));
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        crate::state::write_atomic(&path, template.replace("{{chart}}", chart).as_bytes())?;
        report.push((rel, FileAction::Created));
    }
    if declared == Some("charts") {
        report.push((PathBuf::from("devenv.toml"), FileAction::Kept));
        return Ok(report);
    }
    let folder = folder.display().to_string();
    let mut entry = String::new();
    if !text.is_empty() && !text.ends_with('\n') {
        entry.push('\n');
    }
    entry.push_str(&format!(
        "\n# A Helm chart, scaffolded by `devenv init --chart {chart}`: devenv renders it with\n\
         # `helm template`, then applies, waits for and prunes it as it does overlays.\n\
         [[charts]]\n\
         name = \"{chart}\"\n\
         chart = \"{folder}\"\n\
         # Values files over the chart's values.yaml, in order.\n\
         values = [\"{folder}/values-dev.yaml\"]\n\
         # namespace = \"{chart}\"\n\
         # depends_on = []\n"
    ));
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&config)?
        .write_all(entry.as_bytes())?;
    report.push((PathBuf::from("devenv.toml"), FileAction::Appended));
    Ok(report)
}

/// Which table of `text` (a devenv.toml) declares a unit named `name`: "charts",
/// "overlays", or neither.
fn declared_unit(text: &str, name: &str) -> Result<Option<&'static str>, toml::de::Error> {
    let doc: toml::Table = toml::from_str(text)?;
    for table in ["charts", "overlays"] {
        let named = doc
            .get(table)
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .any(|u| u.get("name").and_then(toml::Value::as_str) == Some(name));
        if named {
            return Ok(Some(table));
        }
    }
    Ok(None)
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
