//! The subset of kubectl's JSONPath templates tests and scripts use: fields (with `\.`
//! escapes and `['k']`), `[N]`, `[*]`, filters `[?(@.a=="v")]`, `range`/`end`, quoted
//! literals, and `{"\n"}`. Output follows kubectl: strings raw, values space-separated.

use serde_json::Value;

#[derive(Debug, Clone)]
enum Seg {
    Field(String),
    Index(i64),
    All,
    Filter(Vec<Seg>, Option<String>),
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Expr(Vec<Seg>),
    Range(Vec<Seg>, Vec<Node>),
}

fn parse_path(expr: &str) -> Result<Vec<Seg>, String> {
    let mut segs = Vec::new();
    let e = expr.trim();
    let e = e.strip_prefix('$').unwrap_or(e);
    let e = e.strip_prefix('@').unwrap_or(e);
    let chars: Vec<char> = e.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                let mut name = String::new();
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        name.push(chars[i + 1]);
                        i += 2;
                    } else {
                        name.push(chars[i]);
                        i += 1;
                    }
                }
                if !name.is_empty() {
                    segs.push(Seg::Field(name));
                }
            }
            '[' => {
                let mut depth = 0;
                let start = i + 1;
                let mut j = i;
                while j < chars.len() {
                    if chars[j] == '[' {
                        depth += 1;
                    } else if chars[j] == ']' {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(format!("unterminated array in {expr}"));
                }
                let inner: String = chars[start..j].iter().collect();
                let inner = inner.trim();
                if inner == "*" {
                    segs.push(Seg::All);
                } else if let Some(f) = inner.strip_prefix("?(").and_then(|s| s.strip_suffix(')')) {
                    let (lhs, op_rhs) = match f.find("==") {
                        Some(p) => (&f[..p], Some(f[p + 2..].trim())),
                        None => (f, None),
                    };
                    let rhs = op_rhs.map(|r| r.trim_matches(|c| c == '"' || c == '\'').to_string());
                    segs.push(Seg::Filter(parse_path(lhs.trim())?, rhs));
                } else if (inner.starts_with('\'') && inner.ends_with('\''))
                    || (inner.starts_with('"') && inner.ends_with('"'))
                {
                    segs.push(Seg::Field(inner[1..inner.len() - 1].to_string()));
                } else {
                    segs.push(Seg::Index(
                        inner
                            .parse()
                            .map_err(|_| format!("invalid array index {inner}"))?,
                    ));
                }
                i = j + 1;
            }
            c if c.is_whitespace() => i += 1,
            _ => {
                // a bare first field (kubectl accepts `{metadata.name}`)
                let rest: String = chars[i..].iter().collect();
                let mut more = parse_path(&format!(".{rest}"))?;
                segs.append(&mut more);
                break;
            }
        }
    }
    Ok(segs)
}

fn unquote(lit: &str) -> String {
    let inner = &lit[1..lit.len() - 1];
    let mut out = String::new();
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn parse_template(t: &str) -> Result<Vec<Node>, String> {
    let mut tokens: Vec<(bool, String)> = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            tokens.push((false, rest[..open].to_string()));
        }
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| format!("unclosed action in template {t}"))?
            + open;
        tokens.push((true, rest[open + 1..close].to_string()));
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        tokens.push((false, rest.to_string()));
    }
    fn build(
        tokens: &[(bool, String)],
        pos: &mut usize,
        in_range: bool,
    ) -> Result<Vec<Node>, String> {
        let mut nodes = Vec::new();
        while *pos < tokens.len() {
            let (action, text) = &tokens[*pos];
            *pos += 1;
            if !action {
                nodes.push(Node::Text(text.clone()));
                continue;
            }
            let a = text.trim();
            if a == "end" {
                if in_range {
                    return Ok(nodes);
                }
                return Err("not in range, nothing to end".into());
            } else if let Some(expr) = a.strip_prefix("range ") {
                let body = build(tokens, pos, true)?;
                nodes.push(Node::Range(parse_path(expr)?, body));
            } else if (a.starts_with('"') && a.ends_with('"') && a.len() >= 2)
                || (a.starts_with('\'') && a.ends_with('\'') && a.len() >= 2)
            {
                nodes.push(Node::Text(unquote(a)));
            } else {
                nodes.push(Node::Expr(parse_path(a)?));
            }
        }
        if in_range {
            return Err("unclosed range".into());
        }
        Ok(nodes)
    }
    build(&tokens, &mut 0, false)
}

fn eval(segs: &[Seg], root: &Value) -> Vec<Value> {
    let mut cur = vec![root.clone()];
    for s in segs {
        let mut next = Vec::new();
        for v in &cur {
            match s {
                Seg::Field(f) => {
                    if let Some(x) = v.get(f.as_str()) {
                        next.push(x.clone());
                    }
                }
                Seg::Index(i) => {
                    if let Some(a) = v.as_array() {
                        let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                        if let Some(x) = usize::try_from(idx).ok().and_then(|i| a.get(i)) {
                            next.push(x.clone());
                        }
                    }
                }
                Seg::All => match v {
                    Value::Array(a) => next.extend(a.iter().cloned()),
                    Value::Object(m) => next.extend(m.values().cloned()),
                    _ => {}
                },
                Seg::Filter(lhs, rhs) => {
                    for item in v.as_array().into_iter().flatten() {
                        let got = eval(lhs, item);
                        let keep = match rhs {
                            Some(r) => got.iter().any(|g| text(g) == *r),
                            None => !got.is_empty(),
                        };
                        if keep {
                            next.push(item.clone());
                        }
                    }
                }
            }
        }
        cur = next;
    }
    cur
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

fn render(nodes: &[Node], data: &Value, out: &mut String) -> Result<(), String> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Expr(p) => {
                let vals = eval(p, data);
                out.push_str(&vals.iter().map(text).collect::<Vec<_>>().join(" "));
            }
            Node::Range(p, body) => {
                for v in eval(p, data) {
                    render(body, &v, out)?;
                }
            }
        }
    }
    Ok(())
}

/// Render `template` against `data`; errors are kubectl's `error parsing jsonpath` texts.
pub fn execute(template: &str, data: &Value) -> Result<String, String> {
    let nodes =
        parse_template(template).map_err(|e| format!("error parsing jsonpath {template}, {e}"))?;
    let mut out = String::new();
    render(&nodes, data, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn common_templates() {
        let d = json!({"items":[{"metadata":{"name":"a"},"status":{"conditions":[{"type":"Ready","status":"False"}]}},{"metadata":{"name":"b"},"status":{"conditions":[{"type":"Ready","status":"True"}]}}]});
        assert_eq!(execute("{.items[*].metadata.name}", &d).unwrap(), "a b");
        assert_eq!(
            execute(
                "{range .items[*]}{.metadata.name}{\" \"}{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
                &d
            )
            .unwrap(),
            "a False\nb True\n"
        );
        assert_eq!(execute("{.items[0].metadata.name}", &d).unwrap(), "a");
        let cm = json!({"data":{"a.b/c":"x"}});
        assert_eq!(execute("{.data.a\\.b/c}", &cm).unwrap(), "x");
        assert_eq!(execute("{.data['a.b/c']}", &cm).unwrap(), "x");
    }
}
