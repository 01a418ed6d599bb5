//! Finding devenv.toml: walking up from the working directory (as cargo finds Cargo.toml),
//! refusing a misnamed file (`Devenv.toml`, `devenv.yaml`…) or a folder named devenv.toml,
//! and reading it as UTF-8.

use std::path::{Path, PathBuf};

use super::{LoadOptions, FILE_NAME};
use crate::config::diagnostic::{ConfigError, ConfigErrors, Source};
use crate::config::suggest::edit_distance;

/// Whether a file name looks like a misnamed devenv.toml: another case (`Devenv.toml`), an
/// extra or other extension (`devenv.toml.txt`, `devenv.yaml`, `devenv.tml`), hidden
/// (`.devenv.toml`), or a typo (`devnev.toml`).
pub fn is_near_miss(name: &str) -> bool {
    if name == FILE_NAME {
        return false;
    }
    let l = name.to_lowercase();
    let l = l.strip_prefix('.').unwrap_or(&l);
    if l == FILE_NAME || l.starts_with("devenv.toml") {
        return true;
    }
    if let Some(ext) = l.strip_prefix("devenv.") {
        const CONFIG_EXTS: &[&str] = &[
            "yaml", "yml", "json", "ini", "conf", "cfg", "txt", "tml", "tom", "tmol", "tol",
        ];
        if CONFIG_EXTS.contains(&ext) || edit_distance(ext, "toml") <= 1 {
            return true;
        }
    }
    edit_distance(l, FILE_NAME) <= 2
}

/// Files in `dir` that look like a misnamed devenv.toml, sorted.
pub fn near_misses(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(is_near_miss))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// A file that is not UTF-8 (TOML must be): the line and column of the first bad byte.
fn not_utf8(name: &str, e: std::string::FromUtf8Error) -> ConfigError {
    let at = e.utf8_error().valid_up_to();
    let bytes = e.into_bytes();
    let bad: Vec<String> = bytes[at..]
        .iter()
        .take(4)
        .map(|b| format!("0x{b:02X}"))
        .collect();
    // Before `at` the text is valid: offsets there are the same in the lossy copy.
    let src = Source {
        name: name.to_string(),
        text: String::from_utf8_lossy(&bytes).into_owned(),
    };
    let loc = src.locate(at..at + 1);
    let key = enclosing_key(&src, loc.line);
    ConfigError {
        key,
        message: format!(
            "{name} is not valid UTF-8: byte {} at line {}, column {} (shown as \u{FFFD} below)",
            bad.first().cloned().unwrap_or_default(),
            loc.line,
            loc.col
        ),
        help: Some(
            if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
                "this file is UTF-16 (it starts with a UTF-16 byte order mark); TOML files must be UTF-8: save it as UTF-8 (e.g. `iconv -f utf-16 -t utf-8`)".into()
            } else {
                "TOML files must be UTF-8: save the file as UTF-8 in your editor (or convert it, e.g. `iconv -f latin1 -t utf-8`), or retype the marked character".into()
            },
        ),
        location: Some(loc),
    }
}

/// The key written on a line, under the table header above it (`project.name`), or the
/// table of a header line; best effort, for errors found before parsing.
fn enclosing_key(src: &Source, line: usize) -> String {
    let header = src
        .text
        .lines()
        .take(line)
        .filter_map(|l| {
            let t = l.trim();
            t.starts_with('[').then(|| {
                t.trim_start_matches('[')
                    .split([']', '#'])
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string()
            })
        })
        .last()
        .unwrap_or_default();
    let here = src
        .text
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or("")
        .trim();
    if here.starts_with('[') || here.starts_with('#') || !here.contains('=') {
        return header;
    }
    let k = here
        .split('=')
        .next()
        .unwrap_or("")
        .trim()
        .trim_matches('"');
    if header.is_empty() {
        k.to_string()
    } else {
        format!("{header}.{k}")
    }
}

/// The refusal when no devenv.toml is found but a misnamed one is.
fn near_miss_error(found: &[PathBuf], cwd: &Path) -> ConfigError {
    let first = &found[0];
    let name = display_name(first, cwd);
    let others = found[1..]
        .iter()
        .map(|p| display_name(p, cwd))
        .collect::<Vec<_>>();
    let text = std::fs::read(first)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let src = Source {
        name: name.clone(),
        text,
    };
    let first_line_len = src.text.lines().next().map(|l| l.len()).unwrap_or(0);
    let fixed = first.with_file_name(FILE_NAME);
    // A template (devenv.toml.example) is meant to be copied, not renamed.
    let template = [".example", ".sample", ".template", ".dist", ".tmpl"]
        .iter()
        .any(|t| name.to_lowercase().ends_with(t));
    ConfigError {
        key: "--file".into(),
        message: format!(
            "no {FILE_NAME} found, but {name} looks like a misnamed one{}; devenv did not read it and ran nothing",
            if others.is_empty() {
                String::new()
            } else {
                format!(" (so do {})", others.join(", "))
            }
        ),
        help: Some(format!(
            "{} it: `{} {name} {}`; or read it as it is with `-f {name}`; or use the built-in default config with --default-config{}",
            if template { "copy" } else { "rename" },
            if template { "cp" } else { "mv" },
            display_name(&fixed, cwd),
            if name.ends_with(".yaml") || name.ends_with(".yml") {
                "\n(devenv.yaml is also the config of devenv.sh, the Nix tool: this is devenv-k8s, which reads devenv.toml)"
            } else {
                ""
            }
        )),
        location: Some(src.locate(0..first_line_len.max(1))),
    }
}

/// Walk up from `start` to the first folder holding devenv.toml (as cargo finds Cargo.toml).
pub fn discover(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(FILE_NAME))
        .find(|candidate| candidate.is_file())
}

pub(super) fn display_name(path: &Path, cwd: &Path) -> String {
    path.strip_prefix(cwd)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string())
}

/// A project name from a folder name: lowercase, DNS-1123, at most 32 characters.
pub fn folder_project_name(root: &Path) -> String {
    let raw = root
        .file_name()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    let mut name: String = name.trim_matches('-').chars().take(32).collect();
    name = name.trim_end_matches('-').to_string();
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name = format!("dev-{name}")
            .trim_end_matches('-')
            .chars()
            .take(32)
            .collect();
    }
    if name == "dev" {
        "devenv".to_string()
    } else {
        name
    }
}

/// The devenv.toml a command reads: `-f`, else the first found walking up from the working
/// directory; `None` for the built-in default. A misnamed file (nearer than the devenv.toml
/// found, or with none found) or a folder named devenv.toml is refused.
pub(super) fn find(opts: &LoadOptions) -> Result<Option<PathBuf>, ConfigErrors> {
    let file = match &opts.file {
        Some(f) => {
            let f = if f.is_absolute() {
                f.clone()
            } else {
                opts.cwd.join(f)
            };
            if f.is_dir() {
                // `-f path/to/project` is a common slip: say what is there, and the file meant.
                let inside = f.join("devenv.toml");
                return Err(ConfigErrors::single(ConfigError {
                    key: "--file".into(),
                    message: format!("config file {} is a folder, not a file", f.display()),
                    help: Some(if inside.is_file() {
                        format!("pass the file itself: -f {}", inside.display())
                    } else {
                        "pass the path of a devenv.toml file (-f takes a file, not a folder), or run `devenv init` there to create one".into()
                    }),
                    location: None,
                }));
            }
            if !f.is_file() {
                return Err(ConfigErrors::single(ConfigError {
                    key: "--file".into(),
                    message: format!("config file {} does not exist", f.display()),
                    help: Some(
                        "pass the path of a devenv.toml, or run `devenv init` to create one".into(),
                    ),
                    location: None,
                }));
            }
            Some(f)
        }
        None => match discover(&opts.cwd) {
            Some(f) => Some(f),
            None if opts.default_config => None,
            None => {
                // No devenv.toml anywhere up: before falling back to the built-in default,
                // refuse when a folder is named devenv.toml or a misnamed file sits in a
                // folder that was searched.
                if let Some(dir) = opts
                    .cwd
                    .ancestors()
                    .map(|d| d.join(FILE_NAME))
                    .find(|p| p.is_dir())
                {
                    let name = display_name(&dir, &opts.cwd);
                    return Err(ConfigErrors::single(ConfigError {
                        key: "--file".into(),
                        message: format!("{name} is a folder, not a file; devenv did not read it and ran nothing"),
                        help: Some("devenv reads a file named devenv.toml: rename the folder, pass the config file with -f, or use the built-in default config with --default-config".into()),
                        location: None,
                    }));
                }
                if let Some(found) = opts
                    .cwd
                    .ancestors()
                    .map(near_misses)
                    .find(|f| !f.is_empty())
                {
                    return Err(ConfigErrors::single(near_miss_error(&found, &opts.cwd)));
                }
                None
            }
        },
    };
    // A misnamed file nearer than the devenv.toml found above is more likely the one meant
    // (a devenv.toml in a parent folder may be another project's): refuse, naming both.
    if let (None, Some(found)) = (&opts.file, &file) {
        let found_dir = found.parent().unwrap_or(Path::new(""));
        if let Some(near) = opts
            .cwd
            .ancestors()
            .take_while(|d| *d != found_dir)
            .map(near_misses)
            .find(|f| !f.is_empty())
        {
            let mut e = near_miss_error(&near, &opts.cwd);
            let found_name = display_name(found, &opts.cwd);
            let near_name = display_name(&near[0], &opts.cwd);
            e.message = format!(
                "{near_name} looks like a misnamed devenv.toml, nearer than {found_name}, the devenv.toml devenv would read; devenv read neither and ran nothing"
            );
            e.help = Some(format!(
                "say which one you mean: rename {near_name} to devenv.toml, or pass -f {near_name} or -f {found_name}"
            ));
            return Err(ConfigErrors::single(e));
        }
    }
    Ok(file)
}

/// The text of devenv.toml: it must be readable and UTF-8.
pub(super) fn read(path: &Path, cwd: &Path) -> Result<String, ConfigErrors> {
    let bytes = std::fs::read(path).map_err(|e| {
        ConfigErrors::single(ConfigError {
            key: "--file".into(),
            message: format!("cannot read {}: {e}", path.display()),
            help: None,
            location: None,
        })
    })?;
    String::from_utf8(bytes)
        .map_err(|e| ConfigErrors::single(not_utf8(&display_name(path, cwd), e)))
}

#[cfg(test)]
mod near_miss_tests {
    use super::is_near_miss;

    #[test]
    fn near_misses_are_other_cases_extensions_hidden_files_and_typos() {
        for name in [
            "Devenv.toml",
            "DEVENV.TOML",
            "devenv.toml.txt",
            "devenv.toml~",
            "devenv.toml.example",
            "devenv.yaml",
            "devenv.yml",
            "devenv.json",
            ".devenv.toml",
            "devenv.tml",
            "devenv.tmol",
            "devnev.toml",
            "devenv_toml",
        ] {
            assert!(is_near_miss(name), "{name}");
        }
        for name in [
            "devenv.toml",
            "devenv",
            "devenv.nix",
            "devenv.lock",
            "Cargo.toml",
            "dev.toml",
            "README.md",
        ] {
            assert!(!is_near_miss(name), "{name}");
        }
    }
}
