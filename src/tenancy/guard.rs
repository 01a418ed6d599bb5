//! What devenv refuses to touch on a shared cluster: a namespace another owner (or no
//! devenv) created, and a kube context that was not chosen on purpose.

use super::labels::{OwnerLabels, MANAGED_BY, MANAGED_BY_LABEL, OWNER_LABEL, PROJECT_LABEL};
use crate::hint::Hinted;

/// Whether the live Namespace (`kubectl get namespace NS -o json`; empty: it does not exist)
/// is this owner's: devenv deploys into, resets and deletes only namespaces it labelled for
/// the same project and owner.
pub fn check_namespace_owner(
    namespace: &str,
    live_json: &str,
    labels: &OwnerLabels,
) -> Result<(), Hinted> {
    if live_json.trim().is_empty() {
        return Ok(());
    }
    let v: serde_json::Value = serde_json::from_str(live_json)
        .map_err(|e| Hinted::new(format!("cannot read namespace {namespace}: {e}")))?;
    let live = |k: &str| {
        v.pointer("/metadata/labels")
            .and_then(|l| l.get(k))
            .and_then(|x| x.as_str())
            .map(str::to_string)
    };
    match (live(MANAGED_BY_LABEL).as_deref(), live(PROJECT_LABEL), live(OWNER_LABEL)) {
        (Some(MANAGED_BY), Some(p), Some(o)) if p == labels.project && o == labels.owner => Ok(()),
        (Some(MANAGED_BY), Some(p), Some(o)) => Err(Hinted::new(format!(
            "namespace {namespace} belongs to {o} (project {p}), not to {} (project {}): devenv leaves it alone",
            labels.owner, labels.project
        ))
        .help("set DEVENV_OWNER to a name of your own, or change cluster.namespace_template")),
        _ => Err(Hinted::new(format!(
            "namespace {namespace} exists and was not created by devenv for {} (it lacks the labels {}): devenv leaves it alone",
            labels.owner,
            labels.selector(),
        ))
        .help(format!(
            "choose another cluster.namespace_template or DEVENV_OWNER, or label it yourself if it is yours: kubectl label namespace {namespace} {}",
            labels.pairs().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
        ))),
    }
}

/// The kube context devenv may use on an existing cluster.
///
/// `requested` is the user's explicit choice (`--context` or its environment variable) and
/// wins over `config_context` (`[cluster] context`). There is no third source: the
/// kubeconfig's current-context is never used by default, so a `kubectl config use-context
/// prod` elsewhere cannot redirect devenv. The context must exist in the kubeconfig
/// (`available`) and, when `allowed` is not empty, match one of its names or `*` globs.
pub fn check_context(
    requested: Option<&str>,
    config_context: Option<&str>,
    allowed: &[String],
    available: &[String],
) -> Result<String, Hinted> {
    fn some(s: Option<&str>) -> Option<&str> {
        s.map(str::trim).filter(|s| !s.is_empty())
    }
    let known = || {
        if available.is_empty() {
            "(none: is KUBECONFIG or ~/.kube/config there?)".to_string()
        } else {
            available.join(", ")
        }
    };
    let Some(context) = some(requested).or(some(config_context)) else {
        return Err(Hinted::new(
            "no kube context chosen: devenv never deploys to your kubeconfig's current-context by itself",
        )
        .help(format!(
            "set context = \"NAME\" under [cluster] in devenv.toml, or pass --context NAME; contexts in your kubeconfig: {}",
            known()
        )));
    };
    if !available.iter().any(|a| a == context) {
        return Err(Hinted::new(format!(
            "context {context:?} is not in your kubeconfig (KUBECONFIG or ~/.kube/config)"
        ))
        .help(format!(
            "contexts there: {}; see `kubectl config get-contexts`, or fix the name in devenv.toml / --context",
            known()
        )));
    }
    if !allowed.is_empty()
        && !allowed
            .iter()
            .any(|p| crate::config::validate::glob_match(p, context))
    {
        return Err(Hinted::new(format!(
            "context {context:?} is not in cluster.allowed_contexts ({}): refusing to deploy there",
            allowed.join(", "),
        ))
        .help(format!(
            "pick an allowed context, or add {context:?} (or a pattern such as \"{}*\") to cluster.allowed_contexts in devenv.toml if deploying there is intended",
            context.split(['-', '_', ':', '/', '.']).next().unwrap_or(context)
        )));
    }
    Ok(context.to_string())
}
