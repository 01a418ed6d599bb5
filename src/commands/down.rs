//! `devenv down`: delete what devenv created for this checkout (see [`super::teardown`]).

use super::session::reporter;
use super::teardown;
use crate::cli::{DownArgs, GlobalArgs};
use crate::exit::Exit;

pub fn run(g: &GlobalArgs, args: &DownArgs) -> Exit {
    let loaded = match super::load_config(g) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let reporter = reporter(g);
    teardown::teardown(&loaded, &reporter, args.force)
}
