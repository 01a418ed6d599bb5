//! `devenv config show | validate | schema`. `show` and `schema` print documents a user
//! pipes (TOML, JSON Schema): stdout; `validate` answers in one line on stderr.

use super::{fail, printer};
use crate::cli::GlobalArgs;
use crate::exit::Exit;
use crate::hint::Hinted;

pub fn show(g: &GlobalArgs) -> Exit {
    let loaded = match super::load_config_without_cluster(g) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let mut config = loaded.config.clone();
    // Show the effective project name even when it comes from the folder.
    config.project.name = Some(loaded.project.clone());
    let header = format!(
        "# Effective config from {}{}\n",
        loaded.source_name(),
        loaded
            .profile
            .as_ref()
            .map(|p| format!(" with profile {p}"))
            .unwrap_or_default()
    );
    match toml::to_string_pretty(&config) {
        Ok(text) => {
            printer::answer(&format!("{header}{text}"));
            Exit::Success
        }
        Err(e) => fail(
            Exit::StepFailed,
            Hinted::new(format!("cannot print the config: {e}")),
        ),
    }
}

pub fn validate(g: &GlobalArgs) -> Exit {
    // Its one line names the file (or the built-in default): no separate `config:` line.
    match super::load_config_unannounced(g) {
        Ok(l) => {
            printer::line(&format!(
                "{} is valid{}",
                l.source_name(),
                l.profile
                    .as_ref()
                    .map(|p| format!(" (with profile {p})"))
                    .unwrap_or_default()
            ));
            Exit::Success
        }
        Err(e) => e,
    }
}

pub fn schema() -> Exit {
    printer::json(&crate::config::json_schema());
    Exit::Success
}
