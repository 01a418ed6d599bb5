//! GitLab CI job logs: each step's output folded in a collapsible section, and failures as
//! `file:line:col: error: message` lines outside any section.
//!
//! The markers are the ones GitLab documents for custom collapsible sections
//! (docs.gitlab.com, "CI/CD job logs", "Custom collapsible sections"):
//! `\e[0Ksection_start:UNIX_TIMESTAMP:SECTION_NAME[collapsed=true]\r\e[0K` + header, then
//! `\e[0Ksection_end:UNIX_TIMESTAMP:SECTION_NAME\r\e[0K`. GitLab reads the options of a
//! section only on its start line, so a step is printed once it has finished: a step
//! that failed is left expanded, the others collapsed.

use std::time::SystemTime;

use crate::engine::SourceLocation;

/// Whether GitLab CI runs us (`GITLAB_CI=true`, set by every GitLab runner).
pub fn detected(env: impl Fn(&str) -> Option<String>) -> bool {
    env("GITLAB_CI").as_deref() == Some("true")
}

/// A section name GitLab accepts: letters, digits, `_`, `.` and `-` (`image:api` →
/// `devenv_image_api`).
pub fn section_name(id: &str) -> String {
    let mut s = String::from("devenv_");
    s.extend(id.chars().map(|c| {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
            c
        } else {
            '_'
        }
    }));
    s
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One collapsible section: start marker and header, the lines, end marker.
pub fn section(
    name: &str,
    header: &str,
    lines: &[String],
    collapsed: bool,
    started: SystemTime,
    ended: SystemTime,
) -> String {
    let mut s = format!(
        "\x1b[0Ksection_start:{}:{name}{}\r\x1b[0K{header}\n",
        unix(started),
        if collapsed { "[collapsed=true]" } else { "" }
    );
    for l in lines {
        // A tool's line must not open or close sections (sanitized lines carry no ESC, so
        // no marker can start in them; the check is for lines that were not).
        s.push_str(&l.replace('\x1b', ""));
        s.push('\n');
    }
    s.push_str(&format!(
        "\x1b[0Ksection_end:{}:{name}\r\x1b[0K\n",
        unix(ended)
    ));
    s
}

/// `devenv.toml:12:3: error: message` (the compiler form; further lines indented), or
/// `error: message` without a location.
pub fn error_line(location: Option<&SourceLocation>, message: &str) -> String {
    let project_dir = std::env::var_os("CI_PROJECT_DIR").map(std::path::PathBuf::from);
    error_line_in(location, message, project_dir.as_deref())
}

/// [`error_line`] with paths relative to `project_dir` (GitLab's `$CI_PROJECT_DIR`, the
/// repository's checkout) when they are under it.
pub fn error_line_in(
    location: Option<&SourceLocation>,
    message: &str,
    project_dir: Option<&std::path::Path>,
) -> String {
    let mut out = match location {
        Some(loc) => {
            let mut loc = loc.clone();
            if let Some(rel) = project_dir.and_then(|d| loc.file.strip_prefix(d).ok()) {
                loc.file = rel.to_path_buf();
            }
            format!("{loc}: error: ")
        }
        None => "error: ".to_string(),
    };
    for (i, l) in message.trim_end().lines().enumerate() {
        if i > 0 {
            out.push_str("\n  ");
        }
        out.push_str(&super::sanitize_line(l));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn markers_as_gitlab_documents_them() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let t1 = t0 + Duration::from_secs(3);
        let s = section(
            &section_name("image:api"),
            "done  image:api  Build api (3.0s)",
            &["#1 building".to_string()],
            true,
            t0,
            t1,
        );
        assert_eq!(
            s,
            "\x1b[0Ksection_start:1700000000:devenv_image_api[collapsed=true]\r\x1b[0Kdone  image:api  Build api (3.0s)\n\
             #1 building\n\
             \x1b[0Ksection_end:1700000003:devenv_image_api\r\x1b[0K\n"
        );
        let open = section("devenv_x", "h", &[], false, t0, t1);
        assert!(open.starts_with("\x1b[0Ksection_start:1700000000:devenv_x\r\x1b[0Kh\n"));
        assert!(detected(|k| (k == "GITLAB_CI").then(|| "true".to_string())));
        assert!(!detected(|_| None));
    }

    #[test]
    fn errors_in_the_compiler_form() {
        let loc = SourceLocation::new("devenv.toml", 12, 3);
        assert_eq!(
            error_line_in(Some(&loc), "unknown key `agnets`\nfix it", None),
            "devenv.toml:12:3: error: unknown key `agnets`\n  fix it\n"
        );
        assert_eq!(error_line_in(None, "boom", None), "error: boom\n");
        let abs = SourceLocation::new("/builds/team/app/devenv.toml", 4, 1);
        assert_eq!(
            error_line_in(
                Some(&abs),
                "x",
                Some(std::path::Path::new("/builds/team/app"))
            ),
            "devenv.toml:4:1: error: x\n"
        );
    }
}
