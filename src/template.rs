//! The two helpers devenv's file templates (`templates/`) are filled with.

/// Fill `{{key}}` placeholders. Every placeholder must be given: a missing one is a bug.
pub fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = template.to_string();
    for (k, v) in values {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    debug_assert!(
        !out.contains("{{"),
        "unfilled placeholder in template:\n{out}"
    );
    out
}

/// A YAML double-quoted scalar (JSON strings are valid YAML).
pub fn yq(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}
