//! What the API server refuses on apply that devenv can act on: a field that cannot change
//! in place (the object is re-created), a namespace still terminating (waited for).

/// An object the API server refused to update because the change touches a field that
/// cannot change once the object exists (from `kubectl apply`'s stderr).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImmutableChange {
    /// The Kind as in manifests (`Job`).
    pub kind: String,
    /// Its API group (`batch`; empty for core).
    pub group: String,
    pub name: String,
    /// What cannot change, as the server says it (`spec.template`, `spec.selector`,
    /// `spec.clusterIPs[0]`, or for a StatefulSet `spec` beyond the mutable fields).
    pub fields: Vec<String>,
}

impl ImmutableChange {
    /// `job.batch/migrate`, as kubectl names objects.
    pub fn display_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_lowercase()
        } else {
            format!("{}.{}", self.kind.to_lowercase(), self.group)
        }
    }

    /// `spec.template`, or `spec.template and spec.selector`.
    pub fn fields_text(&self) -> String {
        self.fields.join(" and ")
    }
}

/// The refusals of `kubectl apply` that come from immutable fields. The API server answers
/// `KIND.GROUP "NAME" is invalid: FIELD: Invalid value: VALUE: field is immutable` (apimachinery
/// `ValidateImmutableField`), `… may not change once set` (a Service's cluster IP), or for a
/// StatefulSet `spec: Forbidden: updates to statefulset spec for fields other than …` (kubernetes
/// pkg/apis/{batch,apps,core}/validation); kubectl prefixes `Error from server (Invalid): error
/// when serverside-apply "FILE": `. Other errors are not returned.
pub fn parse_immutable_changes(stderr: &str) -> Vec<ImmutableChange> {
    const MARKERS: &[&str] = &[
        "field is immutable",
        "may not change once set",
        "updates to statefulset spec for fields other than",
    ];
    let mut out: Vec<ImmutableChange> = Vec::new();
    for line in stderr.lines() {
        if !MARKERS.iter().any(|m| line.contains(m)) {
            continue;
        }
        let Some((head, body)) = line.split_once(" is invalid: ") else {
            continue;
        };
        // head ends with `KIND.GROUP "NAME"` (the name is a DNS subdomain: no quote in it).
        let Some(head) = head.strip_suffix('"') else {
            continue;
        };
        let Some((before, name)) = head.rsplit_once('"') else {
            continue;
        };
        let qualified = before.trim_end().rsplit(' ').next().unwrap_or("");
        let (kind, group) = qualified.split_once('.').unwrap_or((qualified, ""));
        if kind.is_empty() || name.is_empty() {
            continue;
        }
        let mut fields = Vec::new();
        if body.contains("updates to statefulset spec for fields other than") {
            fields.push("spec".to_string());
        }
        for (i, _) in body.match_indices(": Invalid value: ") {
            let before = &body[..i];
            // `[spec.selector: …, spec.template: …]`: an aggregate of several.
            let start = before.rfind(' ').map_or(0, |j| j + 1);
            let field = before[start..].trim_start_matches('[');
            if !field.is_empty() && !fields.iter().any(|f| f == field) {
                fields.push(field.to_string());
            }
        }
        if fields.is_empty() {
            fields.push("spec".to_string());
        }
        out.push(ImmutableChange {
            kind: kind.to_string(),
            group: group.to_string(),
            name: name.to_string(),
            fields,
        });
    }
    out
}

/// The namespaces an apply could not create content in because they are being deleted
/// (`… is forbidden: unable to create new content in namespace X because it is being
/// terminated`, kubernetes apiserver pkg/admission/plugin/namespace/lifecycle), each once.
pub fn terminating_namespaces(stderr: &str) -> Vec<String> {
    const MARK: &str = "unable to create new content in namespace ";
    let mut out: Vec<String> = Vec::new();
    for (i, _) in stderr.match_indices(MARK) {
        let rest = &stderr[i + MARK.len()..];
        if let Some(ns) = rest.split_whitespace().next() {
            if rest[ns.len()..].starts_with(" because it is being terminated")
                && !out.iter().any(|n| n == ns)
            {
                out.push(ns.to_string());
            }
        }
    }
    out
}
