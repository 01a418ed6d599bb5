//! The namespaces devenv creates before any overlay (`.devenv/namespaces.yaml`).

use std::collections::BTreeMap;
use std::fmt;

const NAMESPACE: &str = include_str!("../../templates/namespaces/namespace.yaml");
const DEFAULT_DENY_INGRESS: &str =
    include_str!("../../templates/namespaces/default-deny-ingress.yaml");
const ALLOW_DNS_EGRESS: &str = include_str!("../../templates/namespaces/allow-dns-egress.yaml");

/// Pod Security Standards level (`pod-security.kubernetes.io/enforce`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodSecurityLevel {
    Restricted,
    Baseline,
    Privileged,
}

impl fmt::Display for PodSecurityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PodSecurityLevel::Restricted => "restricted",
            PodSecurityLevel::Baseline => "baseline",
            PodSecurityLevel::Privileged => "privileged",
        })
    }
}

/// One namespace devenv manages.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NamespaceSpec {
    pub name: String,
    /// Enforced, and also warned and audited at the same level (so `kubectl apply` prints
    /// why a pod would be rejected, and the audit log says so too).
    pub pod_security: Option<PodSecurityLevel>,
    /// Adds `default-deny-ingress` and `allow-dns-egress` (which makes egress deny-all
    /// except DNS; see `templates/namespaces/allow-dns-egress.yaml`).
    pub default_deny: bool,
    /// Extra labels. Pod Security labels derived from `pod_security` take precedence.
    pub labels: BTreeMap<String, String>,
}

/// Multi-document YAML: for each namespace, the Namespace then its policies.
pub fn render_namespaces(namespaces: &[NamespaceSpec]) -> String {
    let mut docs = Vec::new();
    for ns in namespaces {
        let name = yaml_scalar(&ns.name);
        let mut labels = ns.labels.clone();
        labels.insert("app.kubernetes.io/managed-by".into(), "devenv".into());
        if let Some(level) = ns.pod_security {
            for mode in ["enforce", "warn", "audit"] {
                labels.insert(
                    format!("pod-security.kubernetes.io/{mode}"),
                    level.to_string(),
                );
                labels.insert(
                    format!("pod-security.kubernetes.io/{mode}-version"),
                    "latest".into(),
                );
            }
        }
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("    {}: {}", yaml_scalar(k), yaml_scalar(v)))
            .collect();
        docs.push(
            NAMESPACE
                .replace("{{name}}", &name)
                .replace("{{labels}}", &labels.join("\n")),
        );
        if ns.default_deny {
            docs.push(DEFAULT_DENY_INGRESS.replace("{{name}}", &name));
            docs.push(ALLOW_DNS_EGRESS.replace("{{name}}", &name));
        }
    }
    docs.join("---\n")
}

/// A string as a YAML scalar, quoted when it would otherwise read as something else
/// (`"true"`, `"1.0"`, `"on"`, a leading `*`…).
fn yaml_scalar(s: &str) -> String {
    serde_yaml_ng::to_string(s)
        .expect("a string always serializes")
        .trim_end()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_yaml_ng::Value;

    fn parse(yaml: &str) -> Vec<Value> {
        serde_yaml_ng::Deserializer::from_str(yaml)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect()
    }

    #[test]
    fn namespace_with_pod_security_and_policies() {
        let yaml = render_namespaces(&[
            NamespaceSpec {
                name: "shop".into(),
                pod_security: Some(PodSecurityLevel::Restricted),
                default_deny: true,
                labels: BTreeMap::from([("team".into(), "true".into())]),
            },
            NamespaceSpec {
                name: "tools".into(),
                ..Default::default()
            },
        ]);
        let docs = parse(&yaml);
        assert_eq!(docs.len(), 4);
        let labels = &docs[0]["metadata"]["labels"];
        for mode in ["enforce", "warn", "audit"] {
            assert_eq!(
                labels[format!("pod-security.kubernetes.io/{mode}").as_str()],
                "restricted"
            );
            assert_eq!(
                labels[format!("pod-security.kubernetes.io/{mode}-version").as_str()],
                "latest"
            );
        }
        // "true" stays a string (label values must be strings).
        assert_eq!(labels["team"], Value::String("true".into()));
        assert_eq!(docs[1]["metadata"]["name"], "default-deny-ingress");
        assert_eq!(docs[1]["metadata"]["namespace"], "shop");
        assert_eq!(docs[1]["spec"]["policyTypes"][0], "Ingress");
        assert!(docs[1]["spec"].get("ingress").is_none());
        assert_eq!(docs[2]["metadata"]["name"], "allow-dns-egress");
        assert_eq!(docs[2]["spec"]["egress"][0]["ports"][0]["port"], 53);
        assert_eq!(docs[3]["kind"], "Namespace");
        assert_eq!(docs[3]["metadata"]["name"], "tools");
        let tools = docs[3]["metadata"]["labels"].as_mapping().unwrap();
        assert_eq!(tools.len(), 1, "only managed-by: {tools:?}");
    }

    #[test]
    fn pod_security_overrides_user_labels() {
        let yaml = render_namespaces(&[NamespaceSpec {
            name: "a".into(),
            pod_security: Some(PodSecurityLevel::Baseline),
            default_deny: false,
            labels: BTreeMap::from([(
                "pod-security.kubernetes.io/enforce".into(),
                "privileged".into(),
            )]),
        }]);
        let docs = parse(&yaml);
        assert_eq!(docs.len(), 1);
        assert_eq!(
            docs[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
            "baseline"
        );
    }

    #[test]
    fn nothing_to_render() {
        assert_eq!(render_namespaces(&[]), "");
    }
}
