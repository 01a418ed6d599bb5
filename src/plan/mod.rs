//! The plan: the config turned into an explicit graph of steps, each with its dependencies and
//! the exact argv of the commands it runs. `devenv plan` prints it; `devenv up` executes it.
//!
//! Building a plan is pure: the same config (and the same image tags) gives a byte-identical plan.
//! Image builds depend only on the registry, not on the cluster, so they run while it boots.
//!
//! Built stage by stage (`builder.rs` runs them in order): `preflight.rs` (tool checks),
//! `cluster.rs` (registries, then the k3d cluster or the check of an existing one),
//! `calico.rs`, `images.rs`, `deploy.rs` (namespaces, the units in dependency order, prune),
//! `charts.rs` (a chart's render and apply steps), `verify.rs`. `step.rs`
//! holds the step kinds, each with the commands it runs by name; every kubectl and k3d
//! command line comes from the kube target ([`crate::kube`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde::Serialize;

use crate::config::Loaded;
use crate::kube::KubeTarget;
use crate::render::GeneratedFile;

mod builder;
mod calico;
mod charts;
mod cluster;
mod deploy;
mod images;
mod preflight;
pub mod step;
mod verify;

pub use step::{Step, StepKind};

/// Version of the `--output json` shape of a plan.
pub const PLAN_JSON_VERSION: u32 = 1;

pub const K3D_CONFIG_PATH: &str = ".devenv/k3d-config.yaml";
pub const CALICO_DIR: &str = ".devenv/calico";
pub const FIELD_MANAGER: &str = "devenv";
/// The field manager of the namespaces step (see the step).
pub const NAMESPACES_FIELD_MANAGER: &str = "devenv-namespaces";

/// CRDs the Tigera operator needs before its custom resources can be applied.
pub const CALICO_CRDS: &[&str] = &[
    "installations.operator.tigera.io",
    "apiservers.operator.tigera.io",
    "tigerastatuses.operator.tigera.io",
];

/// Inputs known only outside the config: the content-addressed image tags.
#[derive(Debug, Clone, Default)]
pub struct PlanInputs {
    /// Image name → content-addressed tag. Missing: shown as `<content-tag>`.
    pub image_tags: BTreeMap<String, String>,
    /// A fingerprint of the Calico manifests (their sha256s), when known.
    pub calico_manifests: Option<String>,
    /// The builder `docker build` uses (`None`: not asked yet, e.g. by `devenv plan` before
    /// the first `up`; the commands are then shown without builder flags).
    pub docker_builder: Option<crate::images::DockerBuilder>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegistryInfo {
    /// Where the host pushes (`localhost:5111`).
    pub push: String,
    /// Where the nodes pull from (the same reference, thanks to the registries.yaml mirror).
    pub pull: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub version: u32,
    pub project: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    pub context: String,
    pub kubeconfig: String,
    pub registry: RegistryInfo,
    /// Files generated under .devenv/ (the `files` themselves are written, not printed).
    pub files: Vec<String>,
    pub steps: Vec<Step>,
    #[serde(skip)]
    pub generated: Vec<GeneratedFile>,
    /// How every command reaches the cluster (`context` and `kubeconfig` above, as shown).
    #[serde(skip)]
    pub kube: KubeTarget,
}

impl Plan {
    pub fn build(loaded: &Loaded) -> Plan {
        Plan::build_with(loaded, &PlanInputs::default())
    }

    pub fn build_with(loaded: &Loaded, inputs: &PlanInputs) -> Plan {
        builder::Builder::new(loaded, inputs).build()
    }

    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// The ids of `ids` and everything they need, in plan order.
    pub fn closure(&self, ids: &[String]) -> Vec<String> {
        let index: HashMap<&str, &Step> = self.steps.iter().map(|s| (s.id.as_str(), s)).collect();
        let mut keep = std::collections::HashSet::new();
        let mut todo: Vec<&str> = ids.iter().map(String::as_str).collect();
        while let Some(id) = todo.pop() {
            if keep.insert(id.to_string()) {
                if let Some(s) = index.get(id) {
                    todo.extend(s.needs.iter().map(String::as_str));
                }
            }
        }
        self.steps
            .iter()
            .filter(|s| keep.contains(&s.id))
            .map(|s| s.id.clone())
            .collect()
    }

    /// Human-readable plan: steps in order with their commands.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "devenv plan for project `{}`{}",
            self.project,
            self.profile
                .as_ref()
                .map(|p| format!(" (profile {p})"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            out,
            "  kube context: {} (kubeconfig {})",
            self.context, self.kubeconfig
        );
        let _ = writeln!(
            out,
            "  registry: push {} / pull {}",
            self.registry.push, self.registry.pull
        );
        if !self.files.is_empty() {
            let _ = writeln!(out, "  generated files: {}", self.files.join(", "));
        }
        for (i, s) in self.steps.iter().enumerate() {
            let _ = writeln!(out);
            let needs = if s.needs.is_empty() {
                String::new()
            } else {
                format!("  (after {})", s.needs.join(", "))
            };
            let _ = writeln!(out, "{:>2}. {} [{}]{}", i + 1, s.title, s.id, needs);
            for c in s.observe() {
                let _ = writeln!(out, "      check  $ {}", c.display());
            }
            for c in s.commands() {
                let _ = writeln!(out, "      run    $ {}", c.display());
            }
            for c in s.reads() {
                let _ = writeln!(out, "      read   $ {}", c.display());
            }
            for c in s.when_recreating() {
                let _ = writeln!(out, "      to recreate $ {}", c.display());
            }
        }
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a plan serializes")
    }
}

pub use crate::config::units::{unit_order, UnitRef};

/// The id of the step that applies `unit` (`overlay:NAME`, `chart:NAME`).
pub fn unit_step(cfg: &crate::config::Config, unit: UnitRef) -> String {
    format!("{}:{}", unit.noun(), unit.name(cfg))
}

/// The step id of the unit named `name` (`depends_on` entries); `overlay:NAME` for a name
/// no unit has (validation refuses it before a plan is built).
pub fn unit_step_id(cfg: &crate::config::Config, name: &str) -> String {
    match crate::config::units::by_name(cfg).get(name) {
        Some(&unit) => unit_step(cfg, unit),
        None => format!("overlay:{name}"),
    }
}

/// The build inputs of an image, with paths under `base` (empty: relative to the project
/// folder, as in the commands devenv prints and runs; the root: for fingerprinting).
pub fn image_build_inputs(
    base: &std::path::Path,
    img: &crate::config::schema::Image,
) -> crate::images::BuildInputs {
    let context = if base.as_os_str().is_empty() {
        std::path::PathBuf::from(&img.context)
    } else {
        base.join(&img.context)
    };
    let dockerfile = context.join(img.dockerfile.as_deref().unwrap_or("Dockerfile"));
    let mut inputs = crate::images::BuildInputs::new(context, dockerfile);
    inputs.target = img.target.clone();
    inputs.build_args = img.build_args.clone();
    inputs.labels = img.labels.clone();
    inputs.platform = img.platform.clone();
    inputs
}

/// How long devenv lets a command run whose own timeout is `secs` (kubectl --timeout, k3d
/// --timeout): a little longer, so the tool reports its own timeout first, but scaled, so a
/// short configured timeout also catches a hung tool quickly.
pub fn margin(secs: u64) -> u64 {
    secs + (secs / 10).clamp(2, 30)
}

/// The per-developer isolation of a shared cluster (provider = "existing"), else `None`.
pub fn isolation(loaded: &Loaded) -> Option<crate::tenancy::Isolation> {
    if crate::kube::is_k3d(loaded) {
        return None;
    }
    let c = &loaded.config.cluster;
    let owner = crate::tenancy::owner_name();
    let mapping =
        crate::tenancy::NamespaceMapping::new(&c.namespace_template, &owner, &loaded.project)
            .ok()?
            .with_shared(c.shared_namespaces.clone());
    let mut iso = crate::tenancy::Isolation::new(mapping);
    iso.allow_shared = c.allow_shared_objects;
    iso.cluster_kinds = c
        .cluster_scoped_kinds
        .iter()
        .map(|k| match k.split_once('.') {
            Some((kind, group)) => (group.to_string(), kind.to_string()),
            None => (String::new(), k.clone()),
        })
        .collect();
    Some(iso)
}
