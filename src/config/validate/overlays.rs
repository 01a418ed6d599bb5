//! [[overlays]]: names, Kustomize folders (inside the repository), what to wait for, and
//! the order their `depends_on` gives (no unknown name, no cycle).

use std::collections::{BTreeSet, HashMap};

use super::names::check_dns_label;
use super::{parent_of, Errors, FolderWords};
use crate::config::schema::{Config, Overlay, WaitSpec};
use crate::config::suggest::{closest, quoted_items};

pub(super) fn check(errs: &mut Errors<'_>) {
    let c = &errs.loaded.config;
    let mut overlay_index: HashMap<&str, usize> = HashMap::new();
    for (i, o) in c.overlays.iter().enumerate() {
        let key = format!("overlays[{i}]");
        if let Err(why) = check_dns_label(&o.name, 63) {
            errs.push(
                format!("{key}.name"),
                format!("overlay name {:?} is not valid: {why}", o.name),
                "use lowercase letters, digits and '-', e.g. \"infra\"",
            );
        }
        if let Some(prev) = overlay_index.insert(o.name.as_str(), i) {
            errs.push(
                format!("{key}.name"),
                format!(
                    "overlay {:?} is declared twice (also overlays[{prev}])",
                    o.name
                ),
                "give each [[overlays]] entry its own name",
            );
        }
        path(errs, &key, o);
        wait(errs, &key, o);
        if o.timeout.0.is_zero() {
            errs.push(
                format!("{key}.timeout"),
                "overlay timeout is zero",
                "give it time to become ready, e.g. \"5m\"",
            );
        }
    }
    depends_on(errs, &overlay_index);
    if let Some(cycle) = find_cycle(c) {
        let first = overlay_index.get(cycle[0].as_str()).copied().unwrap_or(0);
        errs.push(
            format!("overlays[{first}].depends_on"),
            format!(
                "overlays depend on each other in a cycle: {}",
                cycle.join(" -> ")
            ),
            "remove one of these depends_on entries so the overlays have an order",
        );
    }
}

/// A Kustomize folder of the repository.
fn path(errs: &mut Errors<'_>, key: &str, o: &Overlay) {
    let words = FolderWords {
        is_file: (
            format!(
                "overlay {:?}: path {} is a file, not a folder",
                o.name, o.path
            ),
            format!(
                "`path` is the Kustomize folder (the one holding kustomization.yaml), e.g. \"{}\"",
                parent_of(&o.path)
            ),
        ),
        missing: (
            format!("overlay {:?}: folder {} does not exist", o.name, o.path),
            "point `path` at a Kustomize folder (with a kustomization.yaml), relative to devenv.toml",
        ),
        fenced: format!("path {:?} of overlay {:?}", o.path, o.name),
    };
    let Some(dir) = errs.repository_folder(&format!("{key}.path"), &o.path, words) else {
        return;
    };
    if !["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .any(|f| dir.join(f).is_file())
    {
        errs.push(
            format!("{key}.path"),
            format!("overlay {:?}: {} has no kustomization.yaml", o.name, o.path),
            "create a kustomization.yaml there, or point `path` at the right folder",
        );
    }
}

fn wait(errs: &mut Errors<'_>, key: &str, o: &Overlay) {
    match &o.wait {
        WaitSpec::Mode(m) if m != "auto" && m != "none" => {
            let help = if m.contains('/') {
                // One object written as a string: the list form, even for one.
                let items = quoted_items(m);
                format!(
                    "a list of objects is written in brackets, even with one: `wait = [{}]`",
                    items.join(", ")
                )
            } else {
                "use \"auto\", \"none\", or a list such as [\"deployment/api\", \"job/migrate\"]"
                    .to_string()
            };
            errs.push(
                format!("{key}.wait"),
                format!("wait = {m:?} is not understood"),
                help,
            );
        }
        WaitSpec::Objects(list) => {
            for (j, w) in list.iter().enumerate() {
                if let Err(why) = check_wait_object(w) {
                    errs.push(format!("{key}.wait[{j}]"), format!("wait target {w:?} is not valid: {why}"), "write KIND/NAME with KIND one of deployment, statefulset, daemonset, job (optionally NAMESPACE/KIND/NAME)");
                }
            }
        }
        _ => {}
    }
}

/// Why a `wait` entry is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitTargetError {
    #[error("expected KIND/NAME")]
    NotKindSlashName,
    #[error("kind {0:?} cannot be waited for")]
    Kind(String),
    #[error("the name is empty")]
    EmptyName,
}

pub(super) fn check_wait_object(w: &str) -> Result<(), WaitTargetError> {
    let parts: Vec<&str> = w.split('/').collect();
    let (kind, name) = match parts.as_slice() {
        [k, n] => (*k, *n),
        [_ns, k, n] => (*k, *n),
        _ => return Err(WaitTargetError::NotKindSlashName),
    };
    let kind = kind.to_lowercase();
    if !matches!(
        kind.as_str(),
        "deployment" | "deploy" | "statefulset" | "sts" | "daemonset" | "ds" | "job"
    ) {
        return Err(WaitTargetError::Kind(kind));
    }
    if name.is_empty() {
        return Err(WaitTargetError::EmptyName);
    }
    Ok(())
}

/// Every `depends_on` names another overlay.
fn depends_on(errs: &mut Errors<'_>, overlay_index: &HashMap<&str, usize>) {
    let overlays = &errs.loaded.config.overlays;
    for (i, o) in overlays.iter().enumerate() {
        for (j, d) in o.depends_on.iter().enumerate() {
            let key = format!("overlays[{i}].depends_on[{j}]");
            if d == &o.name {
                errs.push(
                    &key,
                    format!("overlay {:?} depends on itself", o.name),
                    "remove it from its own depends_on",
                );
            } else if !overlay_index.contains_key(d.as_str()) {
                let hint = closest(d, overlay_index.keys().copied().filter(|n| !n.is_empty()))
                    .map(|c| format!("did you mean {c:?}? "))
                    .unwrap_or_default();
                let names: BTreeSet<&str> = overlay_index
                    .keys()
                    .copied()
                    .filter(|n| !n.is_empty())
                    .collect();
                errs.push(
                    &key,
                    format!(
                        "overlay {:?} depends on {d:?}, which is not an overlay",
                        o.name
                    ),
                    format!(
                        "{hint}known overlays: {}",
                        names.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
        }
    }
}

/// The first cycle among overlays' depends_on, as names (first name repeated at the end).
fn find_cycle(c: &Config) -> Option<Vec<String>> {
    let deps: HashMap<&str, Vec<&str>> = c
        .overlays
        .iter()
        .map(|o| {
            (
                o.name.as_str(),
                o.depends_on.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    // 0 = unvisited, 1 = on stack, 2 = done
    let mut state: HashMap<&str, u8> = HashMap::new();
    fn visit<'a>(
        n: &'a str,
        deps: &HashMap<&'a str, Vec<&'a str>>,
        state: &mut HashMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        state.insert(n, 1);
        stack.push(n);
        for d in deps.get(n).into_iter().flatten() {
            if *d == n || !deps.contains_key(d) {
                continue; // reported elsewhere
            }
            match state.get(d).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|x| x == d).unwrap_or(0);
                    let mut cyc: Vec<String> =
                        stack[start..].iter().map(|s| s.to_string()).collect();
                    cyc.push(d.to_string());
                    return Some(cyc);
                }
                0 => {
                    if let Some(c) = visit(d, deps, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n, 2);
        None
    }
    for o in &c.overlays {
        if state.get(o.name.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = visit(&o.name, &deps, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}
