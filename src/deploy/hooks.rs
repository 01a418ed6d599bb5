//! Helm hooks: objects annotated `helm.sh/hook` are not part of a unit's main objects but
//! run around them, in Helm's order. Pure: classify, order, pick a phase; the steps run them
//! (`steps/workloads/hooks.rs`).
//!
//! `helm template` prints hook objects with the rest (Argo CD's model: devenv applies what
//! it renders), and a Kustomize `helmCharts:` inflation or a hand-written overlay can carry
//! them too, so every kind of unit gets the same treatment. What Helm does, read from its
//! sources (helm v4.1.4, the same in v3.21):
//!
//! - which objects are hooks and their events, weight and delete policies:
//!   `pkg/release/v1/util/manifest_sorter.go` (`sort`, `calculateHookWeight`,
//!   `operateAnnotationValues`); the names: `pkg/release/v1/hook.go`;
//! - the order: hooks are first sorted by kind (`sortHooksByKind`, stable, with
//!   `InstallOrder` of `pkg/release/v1/util/kind_sorter.go`, unknown kinds last and
//!   alphabetical), then `execHook` (`pkg/action/hooks.go`) sorts them stably by weight,
//!   then name: so weight, name, kind, rendered order;
//! - one hook at a time: delete it if `before-hook-creation` (the default when no policy
//!   is given), create it, wait until ready (`pkg/kube/statuswait.go` `WatchUntilReady`: a
//!   Job complete or failed, a Pod Succeeded or Failed, any other kind at once); a failure
//!   deletes it if `hook-failed` and stops; once all succeeded, those with `hook-succeeded`
//!   are deleted, last first. A CustomResourceDefinition is never deleted.
//!
//! devenv installs or upgrades, never uninstalls nor rolls back nor tests: it runs the
//! `pre-install`/`post-install` hooks the first time a unit is applied and the
//! `pre-upgrade`/`post-upgrade` hooks on every later change ([`Release`]); the `test`,
//! `*-delete` and `*-rollback` hooks are never applied.

use std::fmt;

use super::Manifest;
use crate::tenancy::ObjectRef;

/// `helm.sh/hook`: a comma list of events.
pub const HOOK_ANNOTATION: &str = "helm.sh/hook";
/// `helm.sh/hook-weight`: an integer (as a string), 0 when absent or not a number.
pub const WEIGHT_ANNOTATION: &str = "helm.sh/hook-weight";
/// `helm.sh/hook-delete-policy`: a comma list of [`DeletePolicy`].
pub const DELETE_POLICY_ANNOTATION: &str = "helm.sh/hook-delete-policy";

/// When a hook runs (`pkg/release/v1/hook.go`; `test-success` is Helm 2's `test`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HookEvent {
    PreInstall,
    PostInstall,
    PreUpgrade,
    PostUpgrade,
    PreDelete,
    PostDelete,
    PreRollback,
    PostRollback,
    Test,
}

impl HookEvent {
    fn parse(word: &str) -> Option<HookEvent> {
        Some(match word {
            "pre-install" => HookEvent::PreInstall,
            "post-install" => HookEvent::PostInstall,
            "pre-upgrade" => HookEvent::PreUpgrade,
            "post-upgrade" => HookEvent::PostUpgrade,
            "pre-delete" => HookEvent::PreDelete,
            "post-delete" => HookEvent::PostDelete,
            "pre-rollback" => HookEvent::PreRollback,
            "post-rollback" => HookEvent::PostRollback,
            "test" | "test-success" => HookEvent::Test,
            _ => return None,
        })
    }

    /// As in the annotation (`pre-install`).
    pub fn as_str(self) -> &'static str {
        match self {
            HookEvent::PreInstall => "pre-install",
            HookEvent::PostInstall => "post-install",
            HookEvent::PreUpgrade => "pre-upgrade",
            HookEvent::PostUpgrade => "post-upgrade",
            HookEvent::PreDelete => "pre-delete",
            HookEvent::PostDelete => "post-delete",
            HookEvent::PreRollback => "pre-rollback",
            HookEvent::PostRollback => "post-rollback",
            HookEvent::Test => "test",
        }
    }
}

impl fmt::Display for HookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `helm.sh/hook-delete-policy` values (`pkg/release/v1/hook.go`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeletePolicy {
    /// Delete the previous object (and wait until it is gone) before creating it again.
    BeforeHookCreation,
    /// Delete it once every hook of its phase succeeded.
    HookSucceeded,
    /// Delete it when it failed.
    HookFailed,
}

/// Whether this apply of the unit is its first (Helm's install) or a later one (upgrade).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    Install,
    Upgrade,
}

/// Before the unit's main objects are applied, or after they are ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Pre,
    Post,
}

impl Release {
    /// The event whose hooks run in `phase`.
    pub fn event(self, phase: Phase) -> HookEvent {
        match (self, phase) {
            (Release::Install, Phase::Pre) => HookEvent::PreInstall,
            (Release::Install, Phase::Post) => HookEvent::PostInstall,
            (Release::Upgrade, Phase::Pre) => HookEvent::PreUpgrade,
            (Release::Upgrade, Phase::Post) => HookEvent::PostUpgrade,
        }
    }
}

/// One hook object of a unit.
#[derive(Clone, Debug, PartialEq)]
pub struct Hook {
    /// Its events; empty when the annotation names an event Helm does not know (Helm then
    /// skips the object altogether: "skipping unknown hook").
    pub events: Vec<HookEvent>,
    pub weight: i64,
    /// As written; [`Hook::deletes_on`] applies Helm's default.
    pub delete_policies: Vec<DeletePolicy>,
    /// The namespace it lives in (`None`: cluster-scoped).
    pub namespace: Option<String>,
    pub manifest: Manifest,
}

impl Hook {
    /// The hook of a rendered object, `None` when it has no `helm.sh/hook` annotation.
    /// `namespace` is where it lives (resolved by the caller, as for the main objects).
    pub fn of(manifest: &Manifest, namespace: Option<String>) -> Option<Hook> {
        let annotation = |key: &str| {
            manifest
                .value
                .get("metadata")
                .and_then(|m| m.get("annotations"))
                .and_then(|a| a.get(key))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let events_text = annotation(HOOK_ANNOTATION)?;
        // manifest_sorter.go: one unknown event makes the whole object an unknown hook.
        let events: Option<Vec<HookEvent>> = comma_list(&events_text)
            .map(|w| HookEvent::parse(&w))
            .collect();
        // calculateHookWeight: strconv.Atoi of the value as is, 0 when it is not a number.
        let weight = annotation(WEIGHT_ANNOTATION)
            .and_then(|w| w.parse::<i64>().ok())
            .unwrap_or(0);
        // Values Helm does not know are kept by Helm but match no policy: dropped here.
        let delete_policies = annotation(DELETE_POLICY_ANNOTATION)
            .map(|p| {
                comma_list(&p)
                    .filter_map(|w| match w.as_str() {
                        "before-hook-creation" => Some(DeletePolicy::BeforeHookCreation),
                        "hook-succeeded" => Some(DeletePolicy::HookSucceeded),
                        "hook-failed" => Some(DeletePolicy::HookFailed),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Hook {
            events: events.unwrap_or_default(),
            weight,
            delete_policies,
            namespace,
            manifest: manifest.clone(),
        })
    }

    /// Whether Helm deletes it on `policy`: its policies, or `before-hook-creation` when it
    /// has none (`hookSetDeletePolicy`); never a CustomResourceDefinition.
    pub fn deletes_on(&self, policy: DeletePolicy) -> bool {
        if self.manifest.kind == "CustomResourceDefinition" {
            return false;
        }
        if self.delete_policies.is_empty() {
            return policy == DeletePolicy::BeforeHookCreation;
        }
        self.delete_policies.contains(&policy)
    }

    /// The object, as the inventory and kubectl name it.
    pub fn object(&self) -> ObjectRef {
        ObjectRef {
            api_version: self.manifest.api_version.clone(),
            kind: self.manifest.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.manifest.name.clone(),
        }
    }
}

/// `job/migrate in shop`, as messages name a hook.
impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.manifest.display_name())?;
        if let Some(ns) = &self.namespace {
            write!(f, " in {ns}")?;
        }
        Ok(())
    }
}

/// `a, B ,c` → `a`, `b`, `c` (Helm trims and lowercases each value).
fn comma_list(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(',').map(|w| w.trim().to_ascii_lowercase())
}

/// Helm's `InstallOrder` (`pkg/release/v1/util/kind_sorter.go`, helm v4.1.4).
const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// The hooks of `event`, in the order Helm runs them: by weight, then name, then kind
/// (`InstallOrder`; unknown kinds after, alphabetically), then as rendered (every sort is
/// stable).
pub fn hooks_for(hooks: &[Hook], event: HookEvent) -> Vec<&Hook> {
    let mut chosen: Vec<&Hook> = hooks.iter().filter(|h| h.events.contains(&event)).collect();
    chosen.sort_by(|a, b| {
        (a.weight, &a.manifest.name, kind_rank(a)).cmp(&(b.weight, &b.manifest.name, kind_rank(b)))
    });
    chosen
}

/// Position of a hook's kind in [`INSTALL_ORDER`]; unknown kinds after, by kind.
fn kind_rank(h: &Hook) -> (usize, &str) {
    let kind = h.manifest.kind.as_str();
    match INSTALL_ORDER.iter().position(|k| *k == kind) {
        Some(i) => (i, ""),
        None => (INSTALL_ORDER.len(), kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::RenderedOverlay;

    fn hooks(yaml: &str) -> Vec<Hook> {
        RenderedOverlay::from_yaml("u", yaml)
            .unwrap()
            .manifests
            .iter()
            .filter_map(|m| Hook::of(m, Some("default".into())))
            .collect()
    }

    fn doc(kind: &str, name: &str, annotations: &str) -> String {
        format!("apiVersion: v1\nkind: {kind}\nmetadata:\n  name: {name}\n  annotations:\n{annotations}---\n")
    }

    fn names(hs: &[&Hook]) -> Vec<String> {
        hs.iter().map(|h| h.manifest.display_name()).collect()
    }

    #[test]
    fn events_weights_and_policies_are_read_as_helm_reads_them() {
        let yaml = [
            doc("ConfigMap", "plain", "    other: x\n"),
            doc(
                "Job",
                "both",
                "    helm.sh/hook: \" Pre-Install, post-upgrade\"\n    helm.sh/hook-weight: \"-5\"\n    helm.sh/hook-delete-policy: hook-succeeded, HOOK-FAILED,bogus\n",
            ),
            doc("Pod", "t", "    helm.sh/hook: test-success\n    helm.sh/hook-weight: \" 3\"\n"),
            doc("Job", "odd", "    helm.sh/hook: pre-install,crd-install\n"),
        ]
        .concat();
        let hs = hooks(&yaml);
        assert_eq!(hs.len(), 3, "the object without the annotation is no hook");
        assert_eq!(
            hs[0].events,
            [HookEvent::PreInstall, HookEvent::PostUpgrade]
        );
        assert_eq!(hs[0].weight, -5);
        assert_eq!(
            hs[0].delete_policies,
            [DeletePolicy::HookSucceeded, DeletePolicy::HookFailed]
        );
        assert!(!hs[0].deletes_on(DeletePolicy::BeforeHookCreation));
        assert_eq!(hs[1].events, [HookEvent::Test]);
        // strconv.Atoi(" 3") fails: weight 0.
        assert_eq!(hs[1].weight, 0);
        // No policy: before-hook-creation, Helm's default.
        assert!(hs[1].deletes_on(DeletePolicy::BeforeHookCreation));
        assert!(!hs[1].deletes_on(DeletePolicy::HookSucceeded));
        // An unknown event: the whole object is skipped, it runs in no phase.
        assert!(hs[2].events.is_empty());
        assert!(hooks_for(&hs, HookEvent::PreInstall)
            .iter()
            .all(|h| h.manifest.name != "odd"));
    }

    #[test]
    fn order_is_weight_then_name_then_kind() {
        let ann =
            |w: &str| format!("    helm.sh/hook: pre-install\n    helm.sh/hook-weight: \"{w}\"\n");
        let yaml = [
            doc("Job", "b", &ann("0")),
            doc("ConfigMap", "c", &ann("0")),
            doc("Job", "a", &ann("0")),
            doc("Widget", "a", &ann("0")),
            doc("Gadget", "a", &ann("0")),
            doc("ConfigMap", "a", &ann("0")),
            doc("Job", "z", &ann("-1")),
            doc("Job", "y", &ann("10")),
        ]
        .concat();
        let hs = hooks(&yaml);
        assert_eq!(
            names(&hooks_for(&hs, HookEvent::PreInstall)),
            [
                "job/z",
                "configmap/a",
                "job/a",
                "gadget/a",
                "widget/a",
                "job/b",
                "configmap/c",
                "job/y"
            ]
        );
        assert!(hooks_for(&hs, HookEvent::PostInstall).is_empty());
    }

    #[test]
    fn install_or_upgrade_picks_the_events() {
        assert_eq!(Release::Install.event(Phase::Pre), HookEvent::PreInstall);
        assert_eq!(Release::Install.event(Phase::Post), HookEvent::PostInstall);
        assert_eq!(Release::Upgrade.event(Phase::Pre), HookEvent::PreUpgrade);
        assert_eq!(Release::Upgrade.event(Phase::Post), HookEvent::PostUpgrade);
    }

    #[test]
    fn a_crd_hook_is_never_deleted() {
        let hs = hooks(&doc(
            "CustomResourceDefinition",
            "w.example.com",
            "    helm.sh/hook: pre-install\n    helm.sh/hook-delete-policy: hook-succeeded\n",
        ));
        assert!(!hs[0].deletes_on(DeletePolicy::HookSucceeded));
        assert!(!hs[0].deletes_on(DeletePolicy::BeforeHookCreation));
    }
}
