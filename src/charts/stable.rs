//! Whether a chart renders the same twice. Charts that generate values at render time
//! (`randAlphaNum` for a password nobody set, a certificate from `genCA`) rely on `lookup`
//! to reuse the live object on upgrade; `helm template` has no cluster, so `lookup` is empty
//! and every render differs (Argo CD's well-known trap). For devenv that means a Secret
//! that changes on every `up` (a database whose volume keeps the first password stops
//! accepting the app) and an `up` that is never a no-op. It is found by rendering twice,
//! only when the output differs from the last one kept, and named by the templates whose
//! documents differ.

/// The templates (helm's `# Source: CHART/templates/FILE` comments) whose documents differ
/// between two renders of the same chart with the same inputs; empty when both are equal.
pub fn unstable_templates(first: &str, second: &str) -> Vec<String> {
    if first == second {
        return Vec::new();
    }
    let (a, b) = (documents(first), documents(second));
    let mut differ: Vec<String> = Vec::new();
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i), b.get(i));
        if x.map(|d| d.1) != y.map(|d| d.1) {
            let source = x.or(y).map(|d| d.0.clone()).unwrap_or_default();
            if !differ.contains(&source) {
                differ.push(source);
            }
        }
    }
    differ
}

/// helm's output split into documents, each with the template it came from (helm writes
/// `# Source: …` first in every document; "document N" when a document has none).
fn documents(yaml: &str) -> Vec<(String, &str)> {
    yaml.split("\n---")
        .filter(|d| !d.trim().is_empty())
        .enumerate()
        .map(|(i, d)| {
            let source = d
                .lines()
                .find_map(|l| l.strip_prefix("# Source: "))
                .map_or_else(|| format!("document {}", i + 1), str::to_string);
            (source, d)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_whose_documents_differ_are_named_once() {
        let first = "---\n# Source: db/templates/secret.yaml\ndata:\n  password: YWJj\n\
                     ---\n# Source: db/templates/svc.yaml\nkind: Service\n";
        let second = "---\n# Source: db/templates/secret.yaml\ndata:\n  password: eHl6\n\
                      ---\n# Source: db/templates/svc.yaml\nkind: Service\n";
        assert_eq!(
            unstable_templates(first, second),
            ["db/templates/secret.yaml"]
        );
        assert!(unstable_templates(first, first).is_empty());
        // A document without its Source comment is named by its position.
        assert_eq!(unstable_templates("a: 1\n", "a: 2\n"), ["document 1"]);
    }
}
