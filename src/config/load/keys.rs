//! Key paths as devenv names them in messages (`cluster.agents`, `overlays[1].depends_on[0]`,
//! `calico.sha256."a.yaml"`), and editing a TOML value at such a path.

pub(super) fn is_at_or_below(k: &str, key: &str) -> bool {
    k == key
        || (k.starts_with(key)
            && (k[key.len()..].starts_with('.') || k[key.len()..].starts_with('[')))
}

pub(super) fn parent_key(k: &str) -> Option<String> {
    if k.ends_with(']') {
        return k.rfind('[').map(|i| k[..i].to_string());
    }
    k.rfind('.').map(|i| k[..i].to_string())
}

/// `prefix.key`, quoting a key that is not a bare TOML key (`calico.sha256."a.yaml"`).
pub(crate) fn join_key(prefix: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    };
    if prefix.is_empty() {
        key
    } else {
        format!("{prefix}.{key}")
    }
}

/// Insert a value at a key path whose parent exists; false when it cannot.
pub(super) fn insert_key(root: &mut toml::Value, key: &str, v: toml::Value) -> bool {
    let Some(parent) = parent_key(key) else {
        return root
            .as_table_mut()
            .map(|t| t.insert(unquote(key).to_string(), v).is_none())
            .unwrap_or(false);
    };
    let last = unquote(key[parent.len()..].trim_start_matches('.')).to_string();
    match get_mut(root, &parent).and_then(toml::Value::as_table_mut) {
        Some(t) if !t.contains_key(&last) => {
            t.insert(last, v);
            true
        }
        _ => false,
    }
}

/// Remove the value at a key path; false when there was nothing to remove.
pub(super) fn remove_key(root: &mut toml::Value, key: &str) -> bool {
    let Some(parent) = parent_key(key) else {
        return root
            .as_table_mut()
            .map(|t| t.remove(unquote(key)).is_some())
            .unwrap_or(false);
    };
    let last = &key[parent.len()..];
    let Some(container) = get_mut(root, &parent) else {
        return false;
    };
    if let Some(idx) = last.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        let Ok(i) = idx.parse::<usize>() else {
            return false;
        };
        return match container {
            toml::Value::Array(a) if i < a.len() => {
                a.remove(i);
                true
            }
            _ => false,
        };
    }
    let name = unquote(last.trim_start_matches('.'));
    container
        .as_table_mut()
        .map(|t| t.remove(name).is_some())
        .unwrap_or(false)
}

pub(super) fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

pub(super) fn get_mut<'a>(root: &'a mut toml::Value, key: &str) -> Option<&'a mut toml::Value> {
    let mut cur = root;
    for seg in split_key(key) {
        cur = match seg {
            KeySeg::Name(n) => cur.as_table_mut()?.get_mut(&n)?,
            KeySeg::Index(i) => cur.as_array_mut()?.get_mut(i)?,
        };
    }
    Some(cur)
}

pub(super) enum KeySeg {
    Name(String),
    Index(usize),
}

pub(super) fn split_key(key: &str) -> Vec<KeySeg> {
    let mut out = Vec::new();
    let mut chars = key.chars().peekable();
    let mut cur = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                for c2 in chars.by_ref() {
                    if c2 == '"' {
                        break;
                    }
                    cur.push(c2);
                }
            }
            '.' => {
                if !cur.is_empty() {
                    out.push(KeySeg::Name(std::mem::take(&mut cur)));
                }
            }
            '[' => {
                if !cur.is_empty() {
                    out.push(KeySeg::Name(std::mem::take(&mut cur)));
                }
                let idx: String = chars.by_ref().take_while(|c| *c != ']').collect();
                if let Ok(i) = idx.parse() {
                    out.push(KeySeg::Index(i));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(KeySeg::Name(cur));
    }
    out
}
