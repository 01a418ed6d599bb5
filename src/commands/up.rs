//! `devenv up`: every step of the plan, after offering to install the pinned tools.

use super::session::{command_line, interactive, open_session, run_steps, runtime, Session};
use crate::cli::{GlobalArgs, UpArgs};
use crate::engine::RunOptions;
use crate::exit::Exit;
use crate::plan::StepKind;
use crate::tools::Tool;
use semver::Version;

pub fn run(g: &GlobalArgs, args: &UpArgs) -> Exit {
    let s = match open_session(g, args.wait) {
        Ok(s) => s,
        Err(e) => return e,
    };
    if let Err(e) = install_tools(&s, args) {
        return e;
    }
    let ids: Vec<String> = s
        .plan
        .steps
        .iter()
        .filter(|st| !(args.no_verify && matches!(st.kind, StepKind::Verify(_))))
        .map(|st| st.id.clone())
        .collect();
    let opts = RunOptions {
        recreate: args.recreate,
        yes: args.yes,
        interactive: interactive(&s.loaded) && !args.yes,
        command: command_line(),
        reapply: Vec::new(),
    };
    run_steps(g, s, ids, opts, &[])
}

/// `--install-tools`, or a yes at the prompt (on a terminal) when a pinned version is
/// neither in the cache nor the one on PATH: downloads the exact pins of `[tools]` into
/// devenv's cache and makes every command of this run use them.
fn install_tools(s: &Session, args: &UpArgs) -> Result<(), Exit> {
    let wanted = tools_to_install(s, args)?;
    if wanted.is_empty() {
        return Ok(());
    }
    let Ok(root) = crate::tools::cache_root() else {
        s.reporter
            .error(&crate::tools::ToolsError::NoCache.to_string(), None);
        return Err(Exit::Prerequisite);
    };
    let result = runtime().block_on(async {
        let client =
            crate::http::http_client().map_err(|e| crate::tools::ToolsError::Download {
                url: String::new(),
                cause: e.to_string(),
            })?;
        crate::tools::install(&wanted, &root, &client).await
    });
    match result {
        Ok(done) => {
            for i in done {
                let how = if i.downloaded {
                    "downloaded and checked"
                } else {
                    "already in the cache"
                };
                s.reporter.info(&format!(
                    "{} v{}: {how} ({})",
                    i.tool,
                    i.version,
                    i.path.display()
                ));
            }
            Ok(())
        }
        Err(e) => {
            s.reporter.error(&e.to_string(), None);
            Err(Exit::Prerequisite)
        }
    }
}

/// The pinned tools this `up` installs: every exact pin with `--install-tools`; else those
/// PATH and the cache lack, when the user says yes on a terminal (`--yes` answers there).
fn tools_to_install(s: &Session, args: &UpArgs) -> Result<Vec<(Tool, Version)>, Exit> {
    let pins = crate::tools::pins(&s.loaded.config);
    if pins.is_empty() {
        if args.install_tools {
            s.reporter
                .warn("--install-tools: devenv.toml has no [tools] table; nothing to install");
        }
        return Ok(Vec::new());
    }
    if args.install_tools {
        return crate::tools::exact_pins(&s.loaded).map_err(|e| {
            s.reporter.error(&e.to_string(), None);
            Exit::Usage
        });
    }
    let missing = crate::tools::missing_exact_pins(&s.loaded.config);
    // The question exists only on a terminal; --yes answers it there.
    if missing.is_empty() || !interactive(&s.loaded) {
        return Ok(Vec::new());
    }
    if args.yes {
        return Ok(missing);
    }
    let list: Vec<String> = missing.iter().map(|(t, v)| format!("{t} v{v}")).collect();
    let yes = dialoguer::Confirm::new()
        .with_prompt(format!(
            "devenv.toml pins {}, which is not what PATH has. Download {} into devenv's cache?",
            list.join(", "),
            if missing.len() == 1 { "it" } else { "them" }
        ))
        .default(false)
        .interact();
    Ok(if matches!(yes, Ok(true)) {
        missing
    } else {
        Vec::new()
    })
}
