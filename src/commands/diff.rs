//! `devenv diff [NAME…]`: what `up` would change on the cluster, unit by unit. Each unit is
//! rendered as `render` renders it (the same steps as `up`), then the API server answers a
//! dry run of devenv's own apply (`apply --server-side --field-manager=devenv
//! --force-conflicts --dry-run=server -o json`, persisting nothing) and the live objects
//! are read (`get KIND/NAME… -n NS -o json`, one call per namespace). The two are compared
//! without what is not the team's (deploy::diff::normalize). What pruning would delete is
//! what the inventory has and the renders no longer have, as `up`'s prune step decides.
//!
//! stdout: a unified diff per object that would change (`--- live KIND/NAME in NS`,
//! `+++ devenv (unit NAME)`), nothing when nothing would; `-o json`: one array, an entry per
//! object (`unit, kind, namespace, name, action, changed_paths`). Exit 0 when nothing would
//! change, 1 when something would (as `kubectl diff`); a kubectl failure exits 3 (the
//! cluster is a prerequisite), a bad config or name 2.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::printer;
use super::render::{namespaces_section, render_units, units_in_order, Section};
use super::session::{open_reading_session, select};
use crate::cli::{DiffArgs, GlobalArgs, OutputFormat};
use crate::deploy::diff::{changed_paths, identity, normalize, objects_of, unified};
use crate::engine::Ctx;
use crate::exit::Exit;
use crate::runner::Cmd;
use crate::steps::workloads::NAMESPACES_INVENTORY;
use crate::tenancy::{Inventory, ObjectRef};

/// What applying would do to one object.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Action {
    Create,
    Update,
    Delete,
    Unchanged,
}

/// One object's entry: the `-o json` fields, and the unified diff the text output prints.
#[derive(Debug, Serialize)]
struct Entry {
    unit: String,
    kind: String,
    namespace: Option<String>,
    name: String,
    action: Action,
    changed_paths: Vec<String>,
    #[serde(skip)]
    text: String,
}

pub fn run(g: &GlobalArgs, args: &DiffArgs) -> Exit {
    let s = match open_reading_session(g) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let order = units_in_order(&s.loaded.config);
    let known: Vec<String> = order.iter().map(|(_, n)| n.clone()).collect();
    let wanted = match select("unit", &known, &args.names, &s.loaded) {
        Ok(w) => w,
        Err(e) => return e,
    };
    // The units prune counts (prune.rs): every configured one, and the namespaces file.
    let mut config_units = known.clone();
    let mut sections = Vec::new();
    if let Some(ns) = namespaces_section(&s.plan) {
        config_units.push(NAMESPACES_INVENTORY.to_string());
        // `up` applies the namespaces file before any unit; a selection is about units only.
        if args.names.is_empty() {
            match ns {
                Ok(ns) => sections.push(ns),
                Err(e) => {
                    s.reporter.error(&e, None);
                    return Exit::StepFailed;
                }
            }
        }
    }
    let units: Vec<(&'static str, String)> = order
        .into_iter()
        .filter(|(_, n)| wanted.contains(n))
        .collect();
    let entries = render_units(s, &units, async |ctx, rendered| {
        sections.extend(rendered);
        compare(ctx, &sections, &config_units).await
    });
    let entries = match entries {
        Ok(e) => e,
        Err(exit) => return exit,
    };
    match g.output {
        OutputFormat::Text => {
            let text: String = entries.iter().map(|e| e.text.as_str()).collect();
            printer::answer(&text);
        }
        OutputFormat::Json => printer::json(&serde_json::to_value(&entries).unwrap_or_default()),
    }
    if entries.iter().all(|e| e.action == Action::Unchanged) {
        Exit::Success
    } else {
        Exit::StepFailed
    }
}

/// Every section's objects against the live ones, then what pruning would delete.
async fn compare(
    ctx: &Ctx,
    sections: &[Section],
    config_units: &[String],
) -> Result<Vec<Entry>, Exit> {
    let dir = ctx.state_dir().join("diff");
    std::fs::create_dir_all(&dir).map_err(|e| {
        report(format!("cannot create {}: {e}", dir.display()), None);
        Exit::StepFailed
    })?;
    let mut entries = Vec::new();
    let mut inventories: BTreeMap<String, Inventory> = BTreeMap::new();
    for section in sections {
        let inventory = inventory_of(ctx, section)?;
        let key = if section.kind == "namespaces" {
            NAMESPACES_INVENTORY.to_string()
        } else {
            section.name.clone()
        };
        inventories.insert(key, inventory.clone());
        if section.manifests.is_empty() {
            continue;
        }
        let file = dir.join(format!("{}.yaml", section.name));
        let stream: Vec<&str> = section.manifests.iter().map(|m| m.raw.as_str()).collect();
        std::fs::write(&file, stream.join("---\n")).map_err(|e| {
            report(format!("cannot write {}: {e}", file.display()), None);
            Exit::StepFailed
        })?;
        let step = format!("diff:{}", section.name);
        // Shown relative, as the deploy path's files are (kubectl runs in the project folder).
        let argv = ctx
            .plan
            .kube
            .dry_run_apply_argv(file.strip_prefix(&ctx.root).unwrap_or(&file));
        let wanted = kubectl_objects(
            ctx,
            &step,
            argv,
            "ask the API server what applying would give",
        )
        .await?;
        let refs: Vec<ObjectRef> = inventory.objects.iter().cloned().collect();
        let live = live_objects(ctx, &step, &refs).await?;
        for want in wanted {
            let id = identity(&want);
            let want = normalize(&want);
            let now = live.iter().find(|l| identity(l) == id).map(normalize);
            let (action, paths) = match &now {
                None => (Action::Create, Vec::new()),
                Some(l) if *l == want => (Action::Unchanged, Vec::new()),
                Some(l) => (Action::Update, changed_paths(l, &want)),
            };
            let text = match action {
                Action::Unchanged => String::new(),
                _ => unified(
                    now.as_ref(),
                    Some(&want),
                    &live_label(&id),
                    &unit_label(section),
                ),
            };
            entries.push(entry(&section.name, id, action, paths, text));
        }
    }
    entries.extend(deletions(ctx, &inventories, config_units).await?);
    Ok(entries)
}

/// What pruning would delete and is live: the inventory's objects no unit renders any more
/// (prune.rs's rules: `keep` objects and namespaces in use stay, shared objects stay on a
/// shared cluster).
async fn deletions(
    ctx: &Ctx,
    rendered: &BTreeMap<String, Inventory>,
    config_units: &[String],
) -> Result<Vec<Entry>, Exit> {
    let store = ctx.inventory.lock().unwrap().0.clone();
    let recorded = store.all();
    let mut doomed = store.prune_plan(rendered, config_units);
    let in_use: std::collections::BTreeSet<String> =
        rendered.values().flat_map(|inv| inv.namespaces()).collect();
    let stays = |r: &ObjectRef| recorded.keeps(r) || (r.is_namespace() && in_use.contains(&r.name));
    doomed.retain(|r| !stays(r));
    if ctx.isolation.is_some() {
        doomed = crate::tenancy::split_for_shared_cluster(doomed).0;
    }
    if doomed.is_empty() {
        return Ok(Vec::new());
    }
    let live = live_objects(ctx, "diff:prune", &doomed).await?;
    let mut out = Vec::new();
    for obj in live {
        let id = identity(&obj);
        let unit = store
            .overlays
            .iter()
            .find(|(_, inv)| {
                inv.objects.iter().any(|r| {
                    let (g, k, ns, n) = r.identity();
                    (g, k, ns, n) == (id.0.as_str(), id.1.as_str(), id.2.as_deref(), id.3.as_str())
                })
            })
            .map(|(name, _)| unit_name(name))
            .unwrap_or_default();
        let now = normalize(&obj);
        let text = unified(
            Some(&now),
            None,
            &live_label(&id),
            &format!("devenv (unit {unit})"),
        );
        out.push(entry(&unit, id, Action::Delete, Vec::new(), text));
    }
    Ok(out)
}

/// A section's objects, as the render step recorded them for prune (the namespaces file
/// has no render step: its inventory is made here, as the namespaces step makes it).
fn inventory_of(ctx: &Ctx, section: &Section) -> Result<Inventory, Exit> {
    if section.kind != "namespaces" {
        if let Some(inv) = ctx.rendered.lock().unwrap().get(&section.name) {
            return Ok(inv.clone());
        }
    }
    let yaml: Vec<&str> = section.manifests.iter().map(|m| m.raw.as_str()).collect();
    let yaml = yaml.join("---\n");
    match &ctx.isolation {
        Some(iso) => iso.inventory(&yaml),
        None => Inventory::from_rendered(&yaml, "default"),
    }
    .map_err(|e| {
        report(e.to_string(), None);
        Exit::StepFailed
    })
}

/// The live objects of `refs` (`get … --ignore-not-found -o json`, one call per namespace).
async fn live_objects(ctx: &Ctx, step: &str, refs: &[ObjectRef]) -> Result<Vec<Value>, Exit> {
    let mut out = Vec::new();
    for argv in ctx.plan.kube.get_batches(refs) {
        out.extend(kubectl_objects(ctx, step, argv, "read the live objects").await?);
    }
    Ok(out)
}

/// Runs a kubectl read and parses its `-o json` answer; a failure is reported and exits 3.
async fn kubectl_objects(
    ctx: &Ctx,
    step: &str,
    argv: Vec<String>,
    purpose: &str,
) -> Result<Vec<Value>, Exit> {
    let mut it = argv.into_iter();
    let program = it.next().unwrap_or_else(|| "kubectl".into());
    let cmd = Cmd::new(program)
        .args(it)
        .cwd(ctx.root.clone())
        .timeout(Duration::from_secs(120));
    let out = ctx.run_cmd(step, &cmd, purpose).await.map_err(|e| {
        report(e.message.clone(), e.hint.clone());
        if e.is_interrupted() {
            Exit::Interrupted
        } else {
            Exit::Prerequisite
        }
    })?;
    objects_of(&out.stdout_str()).map_err(|e| {
        report(
            format!("cannot {purpose}: kubectl's answer is not JSON: {e}"),
            None,
        );
        Exit::Prerequisite
    })
}

fn entry(
    unit: &str,
    (_, kind, namespace, name): (String, String, Option<String>, String),
    action: Action,
    changed_paths: Vec<String>,
    text: String,
) -> Entry {
    Entry {
        unit: unit.to_string(),
        kind,
        namespace,
        name,
        action,
        changed_paths,
        text,
    }
}

/// `live KIND/NAME in NS` (no `in` for a cluster-scoped object).
fn live_label((_, kind, ns, name): &(String, String, Option<String>, String)) -> String {
    match ns {
        Some(ns) => format!("live {kind}/{name} in {ns}"),
        None => format!("live {kind}/{name}"),
    }
}

fn unit_label(section: &Section) -> String {
    format!("devenv (unit {})", section.name)
}

/// The inventory's key as a unit's name (the namespaces file's key is not a name).
fn unit_name(key: &str) -> String {
    if key == NAMESPACES_INVENTORY {
        "namespaces".into()
    } else {
        key.to_string()
    }
}

/// An error on stderr, with its hint.
fn report(message: String, hint: Option<String>) {
    let mut e = crate::hint::Hinted::new(message);
    if let Some(h) = hint {
        e = e.help(h);
    }
    printer::error(&e);
}
