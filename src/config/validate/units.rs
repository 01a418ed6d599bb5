//! What `[[overlays]]` and `[[charts]]` share: names (DNS labels, unique across both
//! kinds), `depends_on` (a known unit, not itself, no cycle through either kind), `wait`
//! and `timeout`. The graph itself is `config::units`; each kind's own keys are checked in
//! `overlays.rs` and `charts.rs`.

use std::collections::{BTreeSet, HashMap};

use super::names::check_dns_label;
use super::Errors;
use crate::config::schema::{Config, DurationStr, WaitSpec};
use crate::config::suggest::{closest, quoted_items};
use crate::config::units::{find_cycle, units, UnitRef};

pub(super) fn check(errs: &mut Errors<'_>) {
    let c = &errs.loaded.config;
    let mut first: HashMap<&str, UnitRef> = HashMap::new();
    for u in units(c) {
        let (key, noun, name) = (u.key(), u.noun(), u.name(c));
        if let Err(why) = check_dns_label(name, 63) {
            let example = match u {
                UnitRef::Overlay(_) => "infra",
                UnitRef::Chart(_) => "postgres",
            };
            errs.push(
                format!("{key}.name"),
                format!("{noun} name {name:?} is not valid: {why}"),
                format!("use lowercase letters, digits and '-', e.g. \"{example}\""),
            );
        }
        match first.get(name) {
            None => {
                first.insert(name, u);
            }
            Some(prev) if prev.noun() == noun => errs.push(
                format!("{key}.name"),
                format!("{noun} {name:?} is declared twice (also {})", prev.key()),
                format!("give each [[{}s]] entry its own name", noun),
            ),
            Some(prev) => errs.push(
                format!("{key}.name"),
                format!("{noun} {name:?} has the name of {}", prev.key()),
                "charts and overlays share one name space (`depends_on` and `devenv apply NAME` name either kind): rename one of them",
            ),
        }
        let (wait, timeout) = wait_and_timeout(c, u);
        check_wait(errs, &key, wait);
        if timeout.0.is_zero() {
            errs.push(
                format!("{key}.timeout"),
                format!("{noun} timeout is zero"),
                "give it time to become ready, e.g. \"5m\"",
            );
        }
    }
    depends_on(errs, &first);
    if let Some(cycle) = find_cycle(c) {
        errs.push(
            format!("{}.depends_on", cycle[0].key()),
            cycle_message(c, &cycle),
            "remove one of these depends_on entries so the units have an order",
        );
    }
}

fn wait_and_timeout(c: &Config, u: UnitRef) -> (&WaitSpec, DurationStr) {
    match u {
        UnitRef::Overlay(i) => (&c.overlays[i].wait, c.overlays[i].timeout),
        UnitRef::Chart(i) => (&c.charts[i].wait, c.charts[i].timeout),
    }
}

/// A cycle of one kind reads as names (`a -> b -> a`); through both kinds, each name
/// says its kind.
fn cycle_message(c: &Config, cycle: &[UnitRef]) -> String {
    let one_kind = cycle.iter().all(|u| u.noun() == cycle[0].noun());
    let steps: Vec<String> = cycle
        .iter()
        .map(|u| {
            if one_kind {
                u.name(c).to_string()
            } else {
                format!("{} {}", u.noun(), u.name(c))
            }
        })
        .collect();
    let who = if one_kind {
        format!("{}s", cycle[0].noun())
    } else {
        "charts and overlays".to_string()
    };
    format!(
        "{who} depend on each other in a cycle: {}",
        steps.join(" -> ")
    )
}

fn check_wait(errs: &mut Errors<'_>, key: &str, wait: &WaitSpec) {
    match wait {
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

/// Every `depends_on` names another unit. A config without charts keeps the words it
/// always had ("which is not an overlay").
fn depends_on(errs: &mut Errors<'_>, first: &HashMap<&str, UnitRef>) {
    let c = &errs.loaded.config;
    for u in units(c) {
        let name = u.name(c);
        for (j, d) in u.depends_on(c).iter().enumerate() {
            let key = format!("{}.depends_on[{j}]", u.key());
            if d == name {
                errs.push(
                    &key,
                    format!("{} {name:?} depends on itself", u.noun()),
                    "remove it from its own depends_on",
                );
            } else if !first.contains_key(d.as_str()) {
                let known = |kind: &str| -> Vec<&str> {
                    let set: BTreeSet<&str> = first
                        .iter()
                        .filter(|(n, r)| !n.is_empty() && r.noun() == kind)
                        .map(|(n, _)| *n)
                        .collect();
                    set.into_iter().collect()
                };
                let hint = closest(d, first.keys().copied().filter(|n| !n.is_empty()))
                    .map(|c| format!("did you mean {c:?}? "))
                    .unwrap_or_default();
                let (what, listed) = if c.charts.is_empty() {
                    (
                        "an overlay",
                        format!("known overlays: {}", known("overlay").join(", ")),
                    )
                } else {
                    (
                        "an overlay or a chart",
                        format!(
                            "known overlays: {}; known charts: {}",
                            none_if_empty(known("overlay")),
                            none_if_empty(known("chart"))
                        ),
                    )
                };
                errs.push(
                    &key,
                    format!(
                        "{} {name:?} depends on {d:?}, which is not {what}",
                        u.noun()
                    ),
                    format!("{hint}{listed}"),
                );
            }
        }
    }
}

fn none_if_empty(names: Vec<&str>) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}
