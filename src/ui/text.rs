//! Text helpers every output mode uses: durations, and tool output made safe to print.

use std::time::Duration;

/// `0.4s`, `12.3s`, `2m05s`, `1h02m`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else if secs < 3600.0 {
        let s = d.as_secs();
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let s = d.as_secs();
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// Removes escape sequences and control characters from a tool's output line, so Plain
/// and GitHub logs stay clean whatever the tool printed (docker, k3d color codes).
pub fn sanitize_line(line: &str) -> String {
    let stripped = console::strip_ansi_codes(line);
    // A carriage return inside a line is a progress redraw: keep the last frame.
    let last = stripped.rsplit('\r').find(|s| !s.is_empty()).unwrap_or("");
    let clean: String = last
        .chars()
        .filter(|c| *c == '\t' || !c.is_control())
        .collect();
    redact_cluster_token(&clean)
}

/// The k3s cluster token (a node that has it joins the cluster) appears in `k3d node list
/// -o json` (each node's env `K3S_TOKEN=…` and label `k3d.cluster.token`), which devenv
/// reads to observe the cluster: shown in a CI log (GitHub/GitLab groups, `-v`) it would be
/// readable by everyone who can read the job. Its value is masked as `***`.
pub fn redact_cluster_token(line: &str) -> String {
    const KEYS: [&str; 2] = ["K3S_TOKEN=", "\"k3d.cluster.token\":\""];
    if !KEYS.iter().any(|k| line.contains(k)) {
        return line.to_string();
    }
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some((at, key)) = KEYS
        .iter()
        .filter_map(|k| rest.find(k).map(|i| (i, *k)))
        .min_by_key(|(i, _)| *i)
    {
        let value_start = at + key.len();
        out.push_str(&rest[..value_start]);
        let value = &rest[value_start..];
        let end = value
            .find(|c: char| c == '"' || c == ',' || c.is_whitespace())
            .unwrap_or(value.len());
        if end > 0 {
            out.push_str("***");
        }
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}
