//! The deploy units devenv.toml declares, `[[overlays]]` and `[[charts]]`: one name space,
//! one `depends_on` graph and one order for both kinds. Validation (`validate/units.rs`)
//! refuses a name used twice, an unknown dependency and a cycle; the plan deploys the units
//! in [`unit_order`].

use std::collections::HashMap;

use super::schema::Config;

/// One unit of a config: the index of its entry in `overlays` or in `charts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnitRef {
    Overlay(usize),
    Chart(usize),
}

impl UnitRef {
    /// The unit's `name` (what `depends_on` and `devenv apply NAME` use).
    pub fn name(self, cfg: &Config) -> &str {
        match self {
            UnitRef::Overlay(i) => &cfg.overlays[i].name,
            UnitRef::Chart(i) => &cfg.charts[i].name,
        }
    }

    /// The names this unit depends on, as written.
    pub fn depends_on(self, cfg: &Config) -> &[String] {
        match self {
            UnitRef::Overlay(i) => &cfg.overlays[i].depends_on,
            UnitRef::Chart(i) => &cfg.charts[i].depends_on,
        }
    }

    /// Its entry's key in devenv.toml: `overlays[0]`, `charts[1]`.
    pub fn key(self) -> String {
        match self {
            UnitRef::Overlay(i) => format!("overlays[{i}]"),
            UnitRef::Chart(i) => format!("charts[{i}]"),
        }
    }

    /// What a user calls this kind of unit: "overlay", "chart".
    pub fn noun(self) -> &'static str {
        match self {
            UnitRef::Overlay(_) => "overlay",
            UnitRef::Chart(_) => "chart",
        }
    }
}

/// Every unit in declaration order: the overlays in theirs, then the charts in theirs (the
/// order of entries across two arrays of tables is not known once parsed).
pub fn units(cfg: &Config) -> impl Iterator<Item = UnitRef> + '_ {
    (0..cfg.overlays.len())
        .map(UnitRef::Overlay)
        .chain((0..cfg.charts.len()).map(UnitRef::Chart))
}

/// The unit each name refers to; a name declared twice (refused by validation) refers to
/// its first declaration.
pub fn by_name(cfg: &Config) -> HashMap<&str, UnitRef> {
    let mut index = HashMap::new();
    for u in units(cfg) {
        index.entry(u.name(cfg)).or_insert(u);
    }
    index
}

/// Every unit in the order to deploy it: topological in `depends_on`, each unit as early
/// as its dependencies allow, ties in [`units`] order (overlays before charts). An
/// overlay-only config keeps the order it always had.
///
/// The config is validated (no cycle, no unknown name) before a plan is built; with a cycle
/// the units left are appended in [`units`] order, and an unknown name is ignored.
pub fn unit_order(cfg: &Config) -> Vec<UnitRef> {
    let all: Vec<UnitRef> = units(cfg).collect();
    let index = by_name(cfg);
    let mut done: HashMap<UnitRef, bool> = all.iter().map(|&u| (u, false)).collect();
    let mut order = Vec::with_capacity(all.len());
    while order.len() < all.len() {
        let ready = all.iter().copied().find(|u| {
            !done[u]
                && u.depends_on(cfg)
                    .iter()
                    .all(|d| index.get(d.as_str()).is_none_or(|dep| done[dep]))
        });
        match ready {
            Some(u) => {
                done.insert(u, true);
                order.push(u);
            }
            None => {
                order.extend(all.iter().copied().filter(|u| !done[u]));
                break;
            }
        }
    }
    order
}

/// The first cycle among the units' `depends_on`, searched from the units in [`units`]
/// order: the units on it, the first repeated at the end (`a -> b -> a`). A unit that
/// depends on itself or on an unknown name is reported on its own, not as a cycle.
pub fn find_cycle(cfg: &Config) -> Option<Vec<UnitRef>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    fn visit(
        u: UnitRef,
        cfg: &Config,
        index: &HashMap<&str, UnitRef>,
        marks: &mut HashMap<UnitRef, Mark>,
        path: &mut Vec<UnitRef>,
    ) -> Option<Vec<UnitRef>> {
        marks.insert(u, Mark::OnPath);
        path.push(u);
        for d in u.depends_on(cfg) {
            let Some(&dep) = index.get(d.as_str()) else {
                continue;
            };
            if dep == u {
                continue;
            }
            match marks[&dep] {
                Mark::OnPath => {
                    let start = path.iter().position(|&p| p == dep).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(dep);
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(dep, cfg, index, marks, path) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks.insert(u, Mark::Done);
        None
    }
    let index = by_name(cfg);
    let mut marks: HashMap<UnitRef, Mark> = units(cfg).map(|u| (u, Mark::New)).collect();
    for u in units(cfg) {
        if marks[&u] == Mark::New {
            if let Some(c) = visit(u, cfg, &index, &mut marks, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        toml::from_str(text).expect("a valid config")
    }

    fn names(cfg: &Config, order: &[UnitRef]) -> Vec<String> {
        order
            .iter()
            .map(|u| format!("{}:{}", u.noun(), u.name(cfg)))
            .collect()
    }

    #[test]
    fn a_chart_declared_before_the_overlay_it_depends_on_comes_after_it() {
        // The chart `web` is the first unit in the file but depends on the overlay `infra`;
        // the overlay `api` depends on the chart `db`.
        let cfg = config(
            r#"
            version = 1
            [[charts]]
            name = "web"
            chart = "charts/web"
            depends_on = ["infra"]
            [[charts]]
            name = "db"
            chart = "postgresql"
            repo = "https://charts.example.com"
            version = "16.0.0"
            [[overlays]]
            name = "api"
            path = "k/api"
            depends_on = ["db"]
            [[overlays]]
            name = "infra"
            path = "k/infra"
            "#,
        );
        assert_eq!(
            names(&cfg, &unit_order(&cfg)),
            ["overlay:infra", "chart:web", "chart:db", "overlay:api"]
        );
        assert_eq!(find_cycle(&cfg), None);
    }

    #[test]
    fn overlays_alone_keep_their_order() {
        let cfg = config(
            r#"
            version = 1
            [[overlays]]
            name = "apps"
            path = "k/apps"
            depends_on = ["infra"]
            [[overlays]]
            name = "infra"
            path = "k/infra"
            [[overlays]]
            name = "tools"
            path = "k/tools"
            "#,
        );
        assert_eq!(
            unit_order(&cfg),
            [
                UnitRef::Overlay(1),
                UnitRef::Overlay(0),
                UnitRef::Overlay(2)
            ]
        );
    }

    #[test]
    fn a_cycle_through_both_kinds_is_found_and_still_ordered() {
        let cfg = config(
            r#"
            version = 1
            [[overlays]]
            name = "api"
            path = "k/api"
            depends_on = ["db"]
            [[charts]]
            name = "db"
            chart = "charts/db"
            depends_on = ["api"]
            [[charts]]
            name = "cache"
            chart = "charts/cache"
            "#,
        );
        let cycle = find_cycle(&cfg).expect("a cycle");
        assert_eq!(
            names(&cfg, &cycle),
            ["overlay:api", "chart:db", "overlay:api"]
        );
        // An unvalidated config still gets every unit once.
        assert_eq!(
            names(&cfg, &unit_order(&cfg)),
            ["chart:cache", "overlay:api", "chart:db"]
        );
    }

    #[test]
    fn a_name_refers_to_its_first_declaration() {
        let cfg = config(
            r#"
            version = 1
            [[overlays]]
            name = "db"
            path = "k/db"
            [[charts]]
            name = "db"
            chart = "charts/db"
            "#,
        );
        assert_eq!(by_name(&cfg)["db"], UnitRef::Overlay(0));
        assert_eq!(UnitRef::Chart(0).key(), "charts[0]");
    }
}
