//! A unit to deploy, as the deploy path needs it: its kind, name, waits and timeout.

use std::fmt;
use std::time::Duration;

use super::{parse_wait_spec, DeployError, WaitSpec};
use crate::config::schema::{Chart, Overlay, WaitSpec as ConfigWait};

/// The kinds of unit devenv deploys. They differ only in how they are rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitKind {
    /// A Kustomize overlay (`[[overlays]]`), rendered by `kubectl kustomize` of its wrapper.
    Overlay,
    /// A Helm chart (`[[charts]]`), rendered by `helm template`, then the same Kustomize
    /// wrapper as an overlay.
    Chart,
}

impl UnitKind {
    /// The word messages use for it (`overlay web: …`).
    pub fn noun(self) -> &'static str {
        match self {
            UnitKind::Overlay => "overlay",
            UnitKind::Chart => "chart",
        }
    }

    /// The devenv.toml table that declares it (`raise overlays.timeout for web`).
    pub fn table(self) -> &'static str {
        match self {
            UnitKind::Overlay => "overlays",
            UnitKind::Chart => "charts",
        }
    }
}

/// One unit: what the apply, wait and prune stages need to know about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    pub kind: UnitKind,
    pub name: String,
    /// What to wait for once it is applied.
    pub wait: WaitSpec,
    /// How long its waits (and a namespace it waits out) may take.
    pub timeout: Duration,
}

impl Unit {
    /// An `[[overlays]]` entry of devenv.toml.
    pub fn overlay(o: &Overlay) -> Result<Unit, DeployError> {
        Ok(Unit {
            kind: UnitKind::Overlay,
            name: o.name.clone(),
            wait: wait_spec(&o.wait)?,
            timeout: o.timeout.0,
        })
    }

    /// A `[[charts]]` entry of devenv.toml.
    pub fn chart(c: &Chart) -> Result<Unit, DeployError> {
        Ok(Unit {
            kind: UnitKind::Chart,
            name: c.name.clone(),
            wait: wait_spec(&c.wait)?,
            timeout: c.timeout.0,
        })
    }
}

fn wait_spec(wait: &ConfigWait) -> Result<WaitSpec, DeployError> {
    match wait {
        ConfigWait::Mode(m) => parse_wait_spec(&[m.as_str()]),
        ConfigWait::Objects(list) => parse_wait_spec(list),
    }
}

/// `overlay NAME`, as messages name it.
impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.noun(), self.name)
    }
}
