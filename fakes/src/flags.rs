//! A pflag-compatible command-line parser (the library behind cobra, used by both k3d and
//! kubectl), with pflag's exact error texts and cobra's usage layout.

use crate::common::{go_quote, parse_go_bool, parse_go_duration};
use std::collections::HashMap;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Bool,
    Str,
    Int,
    StrArray,
    StrSlice,
    Duration,
}

#[derive(Clone, Debug)]
pub struct Flag {
    pub long: &'static str,
    pub short: Option<char>,
    pub kind: Kind,
    /// pflag's DefValue as shown in usage (`""`/`false`/`0`/`[]` are hidden).
    pub default: &'static str,
    pub help: &'static str,
    /// For string flags with NoOptDefVal (`-o` style optional values are rare; kept for kubectl).
    pub no_opt: Option<&'static str>,
}

pub const fn flag(
    long: &'static str,
    short: Option<char>,
    kind: Kind,
    default: &'static str,
    help: &'static str,
) -> Flag {
    Flag {
        long,
        short,
        kind,
        default,
        help,
        no_opt: None,
    }
}

#[derive(Default, Debug)]
pub struct Parsed {
    values: HashMap<&'static str, Vec<String>>,
    pub args: Vec<String>,
}

impl Parsed {
    pub fn has(&self, long: &str) -> bool {
        self.values.contains_key(long)
    }
    pub fn str(&self, long: &str) -> Option<&str> {
        self.values
            .get(long)
            .and_then(|v| v.last())
            .map(|s| s.as_str())
    }
    pub fn all(&self, long: &str) -> Vec<String> {
        self.values.get(long).cloned().unwrap_or_default()
    }
    pub fn bool(&self, long: &str, default: bool) -> bool {
        self.str(long).and_then(parse_go_bool).unwrap_or(default)
    }
    pub fn int(&self, long: &str, default: i64) -> i64 {
        self.str(long)
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    }
    /// Duration in nanoseconds.
    pub fn duration(&self, long: &str) -> Option<i128> {
        self.str(long).and_then(|s| parse_go_duration(s).ok())
    }
}

fn flag_display(f: &Flag) -> String {
    match f.short {
        Some(c) => format!("-{c}, --{}", f.long),
        None => format!("--{}", f.long),
    }
}

fn set(parsed: &mut Parsed, f: &Flag, value: String) -> Result<(), String> {
    let bad = |why: String| {
        format!(
            "invalid argument {} for {} flag: {why}",
            go_quote(&value),
            go_quote(&flag_display(f))
        )
    };
    match f.kind {
        Kind::Bool => {
            if parse_go_bool(&value).is_none() {
                return Err(bad(format!(
                    "strconv.ParseBool: parsing {}: invalid syntax",
                    go_quote(&value)
                )));
            }
        }
        Kind::Int => {
            if value.parse::<i64>().is_err() {
                return Err(bad(format!(
                    "strconv.ParseInt: parsing {}: invalid syntax",
                    go_quote(&value)
                )));
            }
        }
        Kind::Duration => {
            parse_go_duration(&value).map_err(bad)?;
        }
        _ => {}
    }
    let entry = parsed.values.entry(f.long).or_default();
    match f.kind {
        Kind::StrArray => entry.push(value),
        Kind::StrSlice => entry.extend(value.split(',').map(str::to_string)),
        _ => *entry = vec![value],
    }
    Ok(())
}

/// Parse `argv` (the command words already removed) against `flags`, as pflag does with
/// interspersed arguments. Errors are pflag's texts (`unknown flag: --foo`, ...).
pub fn parse(flags: &[Flag], argv: &[String]) -> Result<Parsed, String> {
    let mut parsed = Parsed::default();
    let mut i = 0;
    while i < argv.len() {
        let a = &argv[i];
        i += 1;
        if a == "--" {
            parsed.args.extend(argv[i..].iter().cloned());
            break;
        }
        if let Some(body) = a.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let f = flags
                .iter()
                .find(|f| f.long == name)
                .ok_or_else(|| format!("unknown flag: --{name}"))?;
            let value = match inline {
                Some(v) => v,
                None if f.kind == Kind::Bool => "true".to_string(),
                None if f.no_opt.is_some() => f.no_opt.unwrap().to_string(),
                None => {
                    if i < argv.len() {
                        i += 1;
                        argv[i - 1].clone()
                    } else {
                        return Err(format!("flag needs an argument: --{name}"));
                    }
                }
            };
            set(&mut parsed, f, value)?;
        } else if a.len() > 1 && a.starts_with('-') {
            let shorts: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < shorts.len() {
                let c = shorts[j];
                let f = flags
                    .iter()
                    .find(|f| f.short == Some(c))
                    .ok_or_else(|| format!("unknown shorthand flag: '{c}' in {a}"))?;
                let rest: String = shorts[j + 1..].iter().collect();
                if let Some(v) = rest.strip_prefix('=') {
                    set(&mut parsed, f, v.to_string())?;
                    break;
                }
                if f.kind == Kind::Bool {
                    set(&mut parsed, f, "true".to_string())?;
                    j += 1;
                    continue;
                }
                if !rest.is_empty() {
                    set(&mut parsed, f, rest)?;
                } else if i < argv.len() {
                    i += 1;
                    set(&mut parsed, f, argv[i - 1].clone())?;
                } else {
                    return Err(format!("flag needs an argument: '{c}' in -{c}"));
                }
                break;
            }
        } else {
            parsed.args.push(a.clone());
        }
    }
    Ok(parsed)
}

/// Split the leading command words out of `argv` (cobra's `Find` with `stripFlags`): values of
/// known non-bool flags are skipped, unknown flags are assumed to take no value.
pub fn command_words(
    flags: &[Flag],
    argv: &[String],
    is_command: impl Fn(&[String]) -> bool,
) -> (Vec<String>, Vec<String>) {
    let mut words: Vec<String> = Vec::new();
    let mut rest = Vec::new();
    let mut i = 0;
    let mut collecting = true;
    while i < argv.len() {
        let a = &argv[i];
        i += 1;
        if !collecting {
            rest.push(a.clone());
            continue;
        }
        if a == "--" {
            collecting = false;
            rest.push(a.clone());
            continue;
        }
        if a.starts_with('-') && a.len() > 1 {
            rest.push(a.clone());
            let takes_value = if let Some(name) = a.strip_prefix("--") {
                !name.contains('=')
                    && flags
                        .iter()
                        .any(|f| f.long == name && f.kind != Kind::Bool && f.no_opt.is_none())
            } else {
                a.len() == 2
                    && flags
                        .iter()
                        .any(|f| f.short == a.chars().nth(1) && f.kind != Kind::Bool)
            };
            if takes_value && i < argv.len() {
                rest.push(argv[i].clone());
                i += 1;
            }
            continue;
        }
        let mut candidate = words.clone();
        candidate.push(a.clone());
        if is_command(&candidate) {
            words = candidate;
        } else {
            rest.push(a.clone());
            collecting = false;
            // Everything after the first argument is left for the flag parser as is.
        }
    }
    (words, rest)
}

fn type_name(f: &Flag) -> &'static str {
    match f.kind {
        Kind::Bool => "",
        Kind::Str => "string",
        Kind::Int => "int",
        Kind::StrArray => "stringArray",
        Kind::StrSlice => "strings",
        Kind::Duration => "duration",
    }
}

/// pflag's `FlagUsages`: sorted, aligned, with `(default ...)` for non-zero defaults.
pub fn flag_usages(flags: &[Flag]) -> String {
    let mut sorted: Vec<&Flag> = flags.iter().collect();
    sorted.sort_by_key(|f| f.long);
    let mut lines = Vec::new();
    let mut maxlen = 0;
    for f in &sorted {
        let mut line = match f.short {
            Some(c) => format!("  -{c}, --{}", f.long),
            None => format!("      --{}", f.long),
        };
        // A back-quoted word in the help names the value (pflag UnquoteUsage).
        let quoted = f
            .help
            .find('`')
            .and_then(|a| f.help[a + 1..].find('`').map(|b| (a, a + 1 + b)));
        let (varname, usage) = match quoted {
            Some((a, b)) => (f.help[a + 1..b].to_string(), f.help.replacen('`', "", 2)),
            None => (type_name(f).to_string(), f.help.to_string()),
        };
        if !varname.is_empty() {
            line.push(' ');
            line.push_str(&varname);
        }
        if let Some(no) = f.no_opt {
            if f.kind == Kind::Str {
                line.push_str(&format!("[=\"{no}\"]"));
            }
        }
        // pflag counts its \x00 separator in maxlen: the longest name gets 3 spaces
        maxlen = maxlen.max(line.len() + 1);
        let zero = matches!(f.default, "" | "false" | "0" | "[]" | "0s");
        let mut usage = usage;
        if !zero {
            if f.kind == Kind::Str {
                usage.push_str(&format!(" (default {})", go_quote(f.default)));
            } else {
                usage.push_str(&format!(" (default {})", f.default));
            }
        }
        lines.push((line, usage));
    }
    let mut out = String::new();
    for (line, usage) in lines {
        let pad = " ".repeat(maxlen - line.len());
        let usage = usage.replace('\n', &format!("\n{}", " ".repeat(maxlen + 2)));
        out.push_str(&format!("{line} {pad} {usage}\n"));
    }
    out
}

/// cobra's default usage template.
pub fn cobra_usage(
    use_line: &str,
    aliases: &str,
    local: &[Flag],
    global: &[Flag],
    subcommands: &[(&str, &str)],
    path: &str,
) -> String {
    let mut s = String::from("Usage:\n");
    if subcommands.is_empty() {
        s.push_str(&format!("  {use_line}\n"));
    } else {
        s.push_str(&format!("  {path} [command]\n"));
    }
    if !aliases.is_empty() {
        s.push_str(&format!("\nAliases:\n  {aliases}\n"));
    }
    if !subcommands.is_empty() {
        s.push_str("\nAvailable Commands:\n");
        let w = subcommands
            .iter()
            .map(|(n, _)| n.len())
            .max()
            .unwrap_or(0)
            .max(11);
        for (n, d) in subcommands {
            s.push_str(&format!("  {n:<w$} {d}\n"));
        }
    }
    if !local.is_empty() {
        s.push_str("\nFlags:\n");
        s.push_str(flag_usages(local).trim_end());
        s.push('\n');
    }
    if !global.is_empty() {
        s.push_str("\nGlobal Flags:\n");
        s.push_str(flag_usages(global).trim_end());
        s.push('\n');
    }
    if !subcommands.is_empty() {
        s.push_str(&format!(
            "\nUse \"{path} [command] --help\" for more information about a command.\n"
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    const FLAGS: &[Flag] = &[
        flag("output", Some('o'), Kind::Str, "", "out"),
        flag("all", Some('a'), Kind::Bool, "false", "all"),
        flag("port", Some('p'), Kind::StrArray, "[]", "port"),
        flag("servers", Some('s'), Kind::Int, "1", "servers"),
    ];

    #[test]
    fn parses_like_pflag() {
        let p = parse(
            FLAGS,
            &v(&["x", "-o", "json", "--port=1", "-p2", "-a", "y", "-s=3"]),
        )
        .unwrap();
        assert_eq!(p.args, v(&["x", "y"]));
        assert_eq!(p.str("output"), Some("json"));
        assert_eq!(p.all("port"), v(&["1", "2"]));
        assert!(p.bool("all", false));
        assert_eq!(p.int("servers", 1), 3);
    }

    #[test]
    fn errors_like_pflag() {
        assert_eq!(
            parse(FLAGS, &v(&["--foo"])).unwrap_err(),
            "unknown flag: --foo"
        );
        assert_eq!(
            parse(FLAGS, &v(&["-x"])).unwrap_err(),
            "unknown shorthand flag: 'x' in -x"
        );
        assert_eq!(
            parse(FLAGS, &v(&["--output"])).unwrap_err(),
            "flag needs an argument: --output"
        );
        assert_eq!(
            parse(FLAGS, &v(&["-o"])).unwrap_err(),
            "flag needs an argument: 'o' in -o"
        );
        assert_eq!(
            parse(FLAGS, &v(&["--all=maybe"])).unwrap_err(),
            "invalid argument \"maybe\" for \"-a, --all\" flag: strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
    }
}
