//! `[cluster] namespace_template`: the text that names one developer's copy of a namespace
//! on a shared cluster (`{namespace}-{owner}` → `shop-alice`).
//!
//! Only the template itself lives here (what the config key accepts, and filling it in), so
//! validation can check the key without knowing who the owner is; the per-owner mapping
//! built on it (shared namespaces, length limits) is `tenancy::NamespaceMapping`.

use std::collections::BTreeSet;

/// Default template: a suffix, so `kubectl get ns` groups by project namespace.
pub const DEFAULT_TEMPLATE: &str = "{namespace}-{owner}";

/// Why a template is refused: `namespace template "…" lacks {owner} (…)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("namespace template {template:?} {reason}")]
pub struct TemplateError {
    pub template: String,
    pub reason: String,
}

/// A checked template: it uses `{namespace}` (required), `{owner}` (required: without it
/// two developers would share namespaces) and maybe `{project}`; its literal text is
/// lowercase letters, digits and `-`, not at either end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceTemplate {
    text: String,
}

impl NamespaceTemplate {
    pub fn parse(template: &str) -> Result<NamespaceTemplate, TemplateError> {
        check(template)?;
        Ok(NamespaceTemplate {
            text: template.to_string(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The template with its placeholders filled in (not shortened: the caller knows the
    /// length limit).
    pub fn expand(&self, namespace: &str, owner: &str, project: &str) -> String {
        self.text
            .replace("{namespace}", namespace)
            .replace("{owner}", owner)
            .replace("{project}", project)
    }
}

fn check(template: &str) -> Result<(), TemplateError> {
    let bad = |reason: &str| TemplateError {
        template: template.to_string(),
        reason: reason.to_string(),
    };
    let mut literal = String::new();
    let mut rest = template;
    let mut seen = BTreeSet::new();
    while let Some(open) = rest.find('{') {
        literal.push_str(&rest[..open]);
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| bad("has a `{` without its `}`"))?
            + open;
        let name = &rest[open + 1..close];
        if !matches!(name, "namespace" | "owner" | "project") {
            return Err(bad(&format!(
                "uses {{{name}}}; the placeholders are {{namespace}}, {{owner}} and {{project}}"
            )));
        }
        seen.insert(name.to_string());
        literal.push('x');
        rest = &rest[close + 1..];
    }
    literal.push_str(rest);
    if literal.contains('}') {
        return Err(bad("has a `}` without its `{`"));
    }
    for needed in ["namespace", "owner"] {
        if !seen.contains(needed) {
            let why = if needed == "owner" {
                "developers would share namespaces"
            } else {
                "every namespace would map to one"
            };
            return Err(bad(&format!("lacks {{{needed}}} ({why})")));
        }
    }
    if !literal
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        || literal.starts_with('-')
        || literal.ends_with('-')
    {
        return Err(bad(
            "must give a DNS label: lowercase letters, digits and '-' around the placeholders, not starting or ending with '-'",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_template_says_why() {
        assert_eq!(
            NamespaceTemplate::parse("{namespace}")
                .unwrap_err()
                .to_string(),
            "namespace template \"{namespace}\" lacks {owner} (developers would share namespaces)"
        );
    }

    #[test]
    fn expand_fills_every_placeholder() {
        let t = NamespaceTemplate::parse("{owner}-{project}-{namespace}").unwrap();
        assert_eq!(t.expand("shop", "alice", "p"), "alice-p-shop");
    }
}
