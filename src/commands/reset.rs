//! `devenv reset`: after a confirmation, `down` (see [`super::teardown`]) then `up`.

use super::session::{interactive, reporter};
use super::{fail, printer, teardown};
use crate::cli::{GlobalArgs, ResetArgs, UpArgs};
use crate::config::Loaded;
use crate::exit::Exit;
use crate::hint::Hinted;
use crate::render::Names;

pub fn run(g: &GlobalArgs, args: &ResetArgs) -> Exit {
    let loaded = match super::load_config(g) {
        Ok(l) => l,
        Err(e) => return e,
    };
    if !args.yes {
        if let Err(exit) = confirm(&loaded) {
            return exit;
        }
    }
    let reporter = reporter(g);
    match teardown::teardown(&loaded, &reporter, args.force) {
        Exit::Success => {}
        other => return other,
    }
    drop(reporter);
    super::up::run(
        g,
        &UpArgs {
            yes: true,
            ..Default::default()
        },
    )
}

/// Says what a reset deletes and asks; `Err` is the exit status when the answer is not a
/// yes (no: nothing changed, exit 0; no terminal to ask on: exit 2).
fn confirm(loaded: &Loaded) -> Result<(), Exit> {
    let names = Names::new(loaded);
    let what = if !crate::kube::is_k3d(loaded) {
        format!(
            "This deletes every object devenv applied for {} in your namespaces of context `{}` (not the cluster, not other developers' namespaces), then runs `devenv up`.",
            crate::tenancy::owner_name(),
            loaded.config.cluster.context.clone().unwrap_or_default()
        )
    } else {
        format!(
            "This deletes the k3d cluster `{}` and the registry `{}` (with every image pushed to it), then runs `devenv up`.",
            names.cluster, names.registry_container
        )
    };
    if !interactive(loaded) {
        return Err(fail(
            Exit::Usage,
            Hinted::new("`devenv reset` asks for confirmation, but there is no terminal (or prompts are off)")
                .help(format!("{what} Pass --yes to confirm.")),
        ));
    }
    printer::line(&what);
    match dialoguer::Confirm::new()
        .with_prompt("Reset the environment?")
        .default(false)
        .interact()
    {
        Ok(true) => Ok(()),
        Ok(false) => {
            printer::line("nothing was changed");
            Err(Exit::Success)
        }
        Err(e) => Err(fail(
            Exit::Usage,
            Hinted::new(format!("cannot ask for confirmation: {e}")),
        )),
    }
}
