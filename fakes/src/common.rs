//! Plumbing shared by both fakes: the state directory and its lock, the call log, fault
//! injection, the simulated clock, and Go-compatible formatting (quoting, JSON, times).

use serde::Deserialize;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Directory holding `state.json`, `calls.jsonl`, `faults.json`, `pushed.json`.
pub const STATE_ENV: &str = "DEVENV_FAKE_STATE";
/// Multiplies the built-in realistic durations (cluster create 20 s, Calico 40 s, ...). Default 0.
pub const SCALE_ENV: &str = "DEVENV_FAKE_SLEEP_SCALE";

pub fn state_dir() -> PathBuf {
    let dir = match std::env::var_os(STATE_ENV) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        // SAFETY: getuid has no preconditions.
        _ => std::env::temp_dir().join(format!("devenv-fakes-{}", unsafe { libc::getuid() })),
    };
    let _ = fs::create_dir_all(&dir);
    dir
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub fn scale() -> f64 {
    std::env::var(SCALE_ENV)
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|f| f.is_finite() && *f > 0.0)
        .unwrap_or(0.0)
}

/// A built-in duration (in ms of "real" k3d/k3s time) as fake wall time.
pub fn scaled(base_ms: u64) -> u64 {
    (base_ms as f64 * scale()).round() as u64
}

pub fn sleep_ms(ms: u64) {
    if ms > 0 {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// Exclusive lock on the state directory (flock); released on drop.
pub struct StateLock {
    _file: File,
}

pub fn lock_state(dir: &Path) -> StateLock {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("state.lock"))
        .unwrap_or_else(|e| die_internal(&format!("cannot open state lock: {e}")));
    // SAFETY: flock on a valid open descriptor.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    StateLock { _file: file }
}

/// Write a file atomically (temp file in the same directory, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("f"),
        std::process::id()
    ));
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)
}

pub fn die_internal(msg: &str) -> ! {
    eprintln!("devenv-fakes internal error: {msg}");
    std::process::exit(97)
}

/// Append one JSON line describing this invocation to `calls.jsonl`. One `write` on an
/// `O_APPEND` descriptor, so concurrent fakes never interleave lines.
pub fn record_call(dir: &Path, tool: &str, argv: &[String]) {
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let env_val = |k: &str| {
        std::env::var(k)
            .ok()
            .map(serde_json::Value::String)
            .unwrap_or(serde_json::Value::Null)
    };
    let line = serde_json::json!({
        "tool": tool,
        "argv": argv,
        "cwd": cwd,
        "env": { "KUBECONFIG": env_val("KUBECONFIG"), "LOG_COLORS": env_val("LOG_COLORS") },
        "pid": std::process::id(),
        "ts_ms": now_ms(),
    });
    let mut text = line.to_string();
    text.push('\n');
    if let Ok(mut f) = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("calls.jsonl"))
    {
        let _ = f.write_all(text.as_bytes());
    }
}

/// One rule of `faults.json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    pub tool: String,
    #[serde(rename = "match", default)]
    pub words: Vec<String>,
    pub action: String,
    #[serde(default)]
    pub exit: Option<i32>,
    #[serde(default)]
    pub stderr: Option<String>,
    #[serde(default)]
    pub stdout: Option<String>,
    #[serde(default)]
    pub sleep_ms: Option<u64>,
    #[serde(default)]
    pub times: Option<u64>,
}

fn is_subsequence(words: &[String], argv: &[String]) -> bool {
    let mut it = argv.iter();
    words.iter().all(|w| it.any(|a| a == w))
}

/// Apply the first matching fault rule. Returns normally when there is none (or after "slow").
pub fn apply_faults(dir: &Path, tool: &str, argv: &[String]) {
    let path = dir.join("faults.json");
    let Ok(text) = fs::read_to_string(&path) else {
        return;
    };
    let rules: Vec<FaultRule> = serde_json::from_str(&text)
        .unwrap_or_else(|e| die_internal(&format!("bad {}: {e}", path.display())));
    let mut chosen = None;
    for (i, rule) in rules.iter().enumerate() {
        if rule.tool != tool || !is_subsequence(&rule.words, argv) {
            continue;
        }
        if let Some(limit) = rule.times {
            // Count uses of limited rules under the state lock: concurrent fakes share them.
            let _lock = lock_state(dir);
            let counts_path = dir.join("fault_counts.json");
            let mut counts: std::collections::BTreeMap<String, u64> = fs::read(&counts_path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            let used = counts.entry(i.to_string()).or_insert(0);
            if *used >= limit {
                continue;
            }
            *used += 1;
            let _ = write_atomic(
                &counts_path,
                serde_json::to_string(&counts).unwrap().as_bytes(),
            );
        }
        chosen = Some(rule);
        break;
    }
    let Some(rule) = chosen else { return };
    let print_streams = |default_err: &str| {
        if let Some(out) = &rule.stdout {
            print!("{out}");
        }
        let err = rule
            .stderr
            .clone()
            .unwrap_or_else(|| default_err.to_string());
        if !err.is_empty() {
            if err.ends_with('\n') {
                eprint!("{err}");
            } else {
                eprintln!("{err}");
            }
        }
        let _ = std::io::stdout().flush();
    };
    match rule.action.as_str() {
        "fail" => {
            print_streams(&format!("injected failure of {tool}"));
            std::process::exit(rule.exit.unwrap_or(1));
        }
        "hang" => {
            // A grandchild makes process-group killing observable.
            let child = std::process::Command::new("sleep").arg("1000").spawn();
            if let Ok(child) = &child {
                let _ = fs::write(
                    dir.join(format!("hang-{}.child", std::process::id())),
                    child.id().to_string(),
                );
            }
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        "slow" => sleep_ms(rule.sleep_ms.unwrap_or(1000)),
        "garbage" => {
            match &rule.stdout {
                Some(out) => print!("{out}"),
                None => println!("<html>garbage: this is not JSON {{{{"),
            }
            let _ = std::io::stdout().flush();
            std::process::exit(rule.exit.unwrap_or(0));
        }
        other => die_internal(&format!("unknown fault action {other:?}")),
    }
}

/// Go's `%q` for the strings we print.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `encoding/json` escapes `<`, `>`, `&`, U+2028 and U+2029 (HTML-safe). Those only occur
/// inside strings of serialized JSON, so a textual replacement is exact.
pub fn go_html_escape(json: String) -> String {
    if !json.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return json;
    }
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// `json.Marshal` output: compact, HTML-escaped.
pub fn go_json_compact<T: serde::Serialize>(v: &T) -> String {
    go_html_escape(serde_json::to_string(v).expect("serializable"))
}

/// `json.MarshalIndent(v, "", "    ")` as kubectl prints objects (keys sorted by the Value map).
pub fn go_json_indent<T: serde::Serialize>(v: &T, indent: &str) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    v.serialize(&mut ser).expect("serializable");
    go_html_escape(String::from_utf8(buf).expect("utf8"))
}

/// Days since 1970-01-01 to (year, month, day) — Howard Hinnant's civil_from_days.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = (z - era * 146_097) as u64;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe as i64 + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// RFC 3339 time of `ms` since the epoch, shifted by `offset_s`; `frac` adds Go's RFC3339Nano
/// fraction (trailing zeros trimmed).
pub fn rfc3339(ms: u64, offset_s: i64, frac: bool) -> String {
    let secs = (ms / 1000) as i64 + offset_s;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let mut s = format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    if frac && ms % 1000 != 0 {
        let f = format!("{:03}", ms % 1000);
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    if offset_s == 0 {
        s.push('Z');
    } else {
        let sign = if offset_s < 0 { '-' } else { '+' };
        let o = offset_s.abs();
        s.push_str(&format!("{sign}{:02}:{:02}", o / 3600, o / 60 % 60));
    }
    s
}

pub fn rfc3339_utc(ms: u64) -> String {
    rfc3339(ms, 0, false)
}

/// Offset of the local zone (TZ) from UTC, in seconds, at `ms`.
pub fn local_offset_s(ms: u64) -> i64 {
    let t = (ms / 1000) as libc::time_t;
    // SAFETY: localtime_r writes into the zeroed struct we own.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff as i64
    }
}

/// Parse a Go `time.Duration` string (`300s`, `1m30s`, `0`, `-1s`, `1.5h`).
pub fn parse_go_duration(s: &str) -> Result<i128, String> {
    let invalid = || format!("time: invalid duration {}", go_quote(s));
    let mut rest = s;
    let neg = rest.starts_with('-');
    if rest.starts_with('-') || rest.starts_with('+') {
        rest = &rest[1..];
    }
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return Err(invalid());
        }
        let num: f64 = rest[..num_end].parse().map_err(|_| invalid())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let ns = match unit {
            "" => return Err(format!("time: missing unit in duration {}", go_quote(s))),
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    go_quote(unit),
                    go_quote(s)
                ))
            }
        };
        total += num * ns;
    }
    Ok(if neg { -(total as i128) } else { total as i128 })
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

pub fn isatty(fd: i32) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// Small deterministic pseudo-random hex/ids derived from a seed (no rand crate needed).
pub fn hex_id(seed: &str, len: usize) -> String {
    let mut out = String::new();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut round = 0u64;
    while out.len() < len {
        for b in seed.bytes().chain(round.to_le_bytes()) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
        round += 1;
    }
    out.truncate(len);
    out
}

pub fn uuid_from(seed: &str) -> String {
    let h = hex_id(seed, 32);
    format!(
        "{}-{}-4{}-9{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

pub fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_go_duration("300s"), Ok(300_000_000_000));
        assert_eq!(parse_go_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(
            parse_go_duration("30").unwrap_err(),
            "time: missing unit in duration \"30\""
        );
        assert_eq!(
            parse_go_duration("abc").unwrap_err(),
            "time: invalid duration \"abc\""
        );
    }

    #[test]
    fn times_format_like_go() {
        assert_eq!(rfc3339_utc(1_781_257_263_000), "2026-06-12T09:41:03Z");
        assert_eq!(
            rfc3339(1_781_257_263_120, 0, true),
            "2026-06-12T09:41:03.12Z"
        );
        assert_eq!(
            rfc3339(1_781_257_263_000, 3600, false),
            "2026-06-12T10:41:03+01:00"
        );
    }

    #[test]
    fn subsequence_matching() {
        let argv: Vec<String> = ["cluster", "create", "--config", "x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(is_subsequence(&["cluster".into(), "x".into()], &argv));
        assert!(!is_subsequence(&["create".into(), "cluster".into()], &argv));
    }
}

/// Go's tabwriter as kubectl and k3d use it (min width 0, padding 3, spaces): every column
/// padded to its widest cell plus 3; the last column unpadded unless `keep_trailing` (kubectl
/// `config get-contexts` keeps the trailing spaces).
pub fn tabwriter(rows: &[Vec<String>], keep_trailing: bool) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.len()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() && !keep_trailing {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}", w = widths[i] + 3));
            }
        }
        out.push('\n');
    }
    out
}
