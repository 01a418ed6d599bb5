//! Why an object is not ready, in words: from its JSON, its events and its pods.

use serde_json::Value as Json;

/// The label selector of a workload (`spec.selector.matchLabels`) as `k=v,k2=v2`, to find
/// its pods. `None` when the object has none or is not JSON.
pub fn pods_selector(object_json: &str) -> Option<String> {
    let object: Json = serde_json::from_str(object_json).ok()?;
    let labels = object.pointer("/spec/selector/matchLabels")?.as_object()?;
    let pairs: Vec<String> = labels
        .iter()
        .filter_map(|(k, v)| Some(format!("{k}={}", v.as_str()?)))
        .collect();
    (!pairs.is_empty()).then(|| pairs.join(","))
}

/// How many events [`explain_not_ready`] shows.
const LAST_EVENTS: usize = 5;

/// Why an object is not ready, from `kubectl get KIND NAME -o json` and its events
/// (`kubectl get events … -o json`): replica counts, each condition (type=status,
/// reason, message) and the last few events, oldest first. Never fails: what cannot be
/// parsed is said so.
pub fn explain_not_ready(object_json: &str, events_json: &str) -> String {
    let mut lines = Vec::new();
    match serde_json::from_str::<Json>(object_json) {
        Ok(object) => {
            let kind = object["kind"].as_str().unwrap_or("object");
            let name = object
                .pointer("/metadata/name")
                .and_then(Json::as_str)
                .unwrap_or("?");
            let mut head = format!("{}/{}", kind.to_lowercase(), name);
            if let Some(summary) = status_summary(kind, &object) {
                head.push_str(": ");
                head.push_str(&summary);
            }
            lines.push(head);
            let conditions = object
                .pointer("/status/conditions")
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default();
            if conditions.is_empty() {
                lines.push("  no conditions reported yet".to_string());
            }
            for c in &conditions {
                let field = |k: &str| c[k].as_str().unwrap_or("").trim().to_string();
                let mut line = format!("  condition {}={}", field("type"), field("status"));
                if !field("reason").is_empty() {
                    line.push_str(&format!(" ({})", field("reason")));
                }
                if !field("message").is_empty() {
                    line.push_str(&format!(": {}", field("message")));
                }
                lines.push(line);
            }
        }
        Err(e) => lines.push(format!("(the object could not be read: {e})")),
    }
    match serde_json::from_str::<Json>(events_json) {
        Ok(events) => {
            let mut items = events["items"].as_array().cloned().unwrap_or_default();
            items.sort_by_key(event_time);
            let skip = items.len().saturating_sub(LAST_EVENTS);
            if items.is_empty() {
                lines.push("  no events".to_string());
            } else {
                lines.push(format!("  last {} event(s):", items.len() - skip));
            }
            for e in items.iter().skip(skip) {
                let field = |k: &str| e[k].as_str().unwrap_or("").trim().to_string();
                let count = e["count"].as_u64().unwrap_or(1);
                let times = if count > 1 {
                    format!(" (x{count})")
                } else {
                    String::new()
                };
                lines.push(format!(
                    "    {} {}{}: {}",
                    field("type"),
                    field("reason"),
                    times,
                    field("message")
                ));
            }
        }
        Err(e) => lines.push(format!("  (the events could not be read: {e})")),
    }
    lines.join("\n")
}

fn event_time(e: &Json) -> String {
    [
        "/lastTimestamp",
        "/eventTime",
        "/firstTimestamp",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .find_map(|p| e.pointer(p).and_then(Json::as_str))
    .unwrap_or("")
    .to_string()
}

fn status_summary(kind: &str, object: &Json) -> Option<String> {
    let num = |p: &str| object.pointer(p).and_then(Json::as_u64).unwrap_or(0);
    Some(match kind {
        "Deployment" | "StatefulSet" => {
            let want = object
                .pointer("/spec/replicas")
                .and_then(Json::as_u64)
                .unwrap_or(1);
            format!(
                "{} of {} replicas ready, {} updated",
                num("/status/readyReplicas"),
                want,
                num("/status/updatedReplicas")
            )
        }
        "DaemonSet" => format!(
            "{} of {} pods ready, {} updated",
            num("/status/numberReady"),
            num("/status/desiredNumberScheduled"),
            num("/status/updatedNumberScheduled")
        ),
        "Job" => format!(
            "{} succeeded, {} failed, {} active",
            num("/status/succeeded"),
            num("/status/failed"),
            num("/status/active")
        ),
        _ => return None,
    })
}

/// A container state's `reason` (or `default`), then `: message` when it has one.
fn reason_and_message(state: &Json, default: &str) -> String {
    format!(
        "{}{}",
        state["reason"].as_str().unwrap_or(default),
        state["message"]
            .as_str()
            .map(|m| format!(": {m}"))
            .unwrap_or_default()
    )
}

/// What is wrong with the pods of a stuck object (`kubectl get pods -l … -o json`): for
/// each pod its phase and every container that is waiting (ImagePullBackOff,
/// CrashLoopBackOff, …) or terminated with an error, init containers included.
pub fn explain_pods(pods_json: &str) -> String {
    let pods: Json = match serde_json::from_str(pods_json) {
        Ok(p) => p,
        Err(e) => return format!("(the pods could not be read: {e})"),
    };
    let items = pods["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return "no pods".to_string();
    }
    let mut lines = Vec::new();
    for pod in &items {
        let name = pod
            .pointer("/metadata/name")
            .and_then(Json::as_str)
            .unwrap_or("?");
        let phase = pod
            .pointer("/status/phase")
            .and_then(Json::as_str)
            .unwrap_or("Unknown");
        lines.push(format!("pod/{name}: {phase}"));
        for (list, label) in [
            ("initContainerStatuses", "init container"),
            ("containerStatuses", "container"),
        ] {
            for cs in pod["status"][list].as_array().into_iter().flatten() {
                let cname = cs["name"].as_str().unwrap_or("?");
                let state = &cs["state"];
                if let Some(w) = state.get("waiting") {
                    lines.push(format!(
                        "  {label} {cname} waiting: {}",
                        reason_and_message(w, "?")
                    ));
                } else if let Some(t) = state.get("terminated") {
                    let code = t["exitCode"].as_i64().unwrap_or(0);
                    if code != 0 {
                        lines.push(format!(
                            "  {label} {cname} exited {code}: {}",
                            reason_and_message(t, "Error")
                        ));
                    }
                } else if cs["ready"].as_bool() == Some(false) && label == "container" {
                    lines.push(format!(
                        "  {label} {cname} running but not ready (readiness probe)"
                    ));
                }
            }
        }
    }
    lines.join("\n")
}
