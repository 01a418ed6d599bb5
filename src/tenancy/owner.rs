//! Who: the developer's name as used in namespaces and labels, and DNS-label helpers.

/// Longest owner name: leaves room for the namespace in a 63-character label.
pub const OWNER_MAX: usize = 20;
/// Longest namespace name (a DNS-1123 label).
pub const NAMESPACE_MAX: usize = 63;

/// The developer's name as used in namespaces and labels: `DEVENV_OWNER`, else `USER`,
/// else `LOGNAME`, else the passwd entry of the effective uid; made a DNS label of at most
/// [`OWNER_MAX`] characters. A value that has no letter or digit at all is skipped; with
/// nothing usable, `uid-N` (unique on this machine, stable across runs).
pub fn owner_name() -> String {
    owner_from(&|key| std::env::var(key).ok(), passwd_name)
}

/// [`owner_name`] with the environment and the passwd lookup passed in (for tests).
pub fn owner_from(env: &dyn Fn(&str) -> Option<String>, passwd: fn() -> Option<String>) -> String {
    let candidates = ["DEVENV_OWNER", "USER", "LOGNAME"].into_iter().map(env);
    for raw in candidates.chain(std::iter::once_with(passwd)).flatten() {
        // `alice@example.com` (a CI actor, a Kerberos principal): the part before `@`.
        let local = raw.split('@').next().unwrap_or_default();
        let label = dns_label(local, OWNER_MAX);
        if !label.is_empty() {
            return label;
        }
    }
    // SAFETY: geteuid cannot fail and has no preconditions.
    format!("uid-{}", unsafe { libc::geteuid() })
}

/// The login name of the effective uid, from the passwd database (`whoami`'s answer).
fn passwd_name() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let mut size = 1024usize;
    loop {
        let mut buf = vec![0u8; size];
        // SAFETY: an all-zero passwd is a valid value for getpwuid_r to fill.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call and buf's length is passed along.
        let rc = unsafe {
            libc::getpwuid_r(
                uid,
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && size < 1 << 20 {
            size *= 4;
            continue;
        }
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        // SAFETY: pw_name points into buf, NUL-terminated, while buf lives.
        let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
        return Some(name.to_string_lossy().into_owned());
    }
}

/// `raw` as a DNS-1123 label of at most `max` characters: lowercase ASCII letters and
/// digits, every other run of characters one `-`, no `-` at either end. Longer results keep
/// their head and end with `-` and a hash of the whole, so distinct long names stay
/// distinct. Empty when `raw` has no ASCII letter or digit.
pub fn dns_label(raw: &str, max: usize) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    shorten(&out, max)
}

/// `s` itself when it fits in `max`, else its head, `-` and a short hash of all of `s`.
pub(super) fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let hash_len = if max >= 40 { 8 } else { 6 };
    let hash = blake3::hash(s.as_bytes()).to_hex();
    let head = s[..max.saturating_sub(hash_len + 1)].trim_end_matches('-');
    if head.is_empty() {
        return hash[..max.min(hash_len)].to_string();
    }
    format!("{head}-{}", &hash[..hash_len])
}

/// A DNS-1123 label: 1 to 63 of `[a-z0-9-]`, starting and ending with a letter or digit.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= NAMESPACE_MAX
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_prefers_devenv_owner_then_user_then_logname_then_passwd() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            owner_from(
                &env(&[("DEVENV_OWNER", "CI Bot"), ("USER", "alice")]),
                || None
            ),
            "ci-bot"
        );
        assert_eq!(
            owner_from(&env(&[("USER", "Alice.Smith")]), || None),
            "alice-smith"
        );
        assert_eq!(
            owner_from(&env(&[("USER", "!!!"), ("LOGNAME", "bob")]), || None),
            "bob"
        );
        assert_eq!(
            owner_from(&env(&[("DEVENV_OWNER", "carol@example.com")]), || None),
            "carol"
        );
        assert_eq!(owner_from(&env(&[]), || Some("dave".into())), "dave");
        assert!(owner_from(&env(&[]), || None).starts_with("uid-"));
    }

    #[test]
    fn long_owner_names_stay_distinct_and_short() {
        let a = dns_label("christopher-alexander-montgomery", OWNER_MAX);
        let b = dns_label("christopher-alexander-montgomerz", OWNER_MAX);
        assert!(a.len() <= OWNER_MAX && b.len() <= OWNER_MAX, "{a} {b}");
        assert!(is_dns_label(&a) && is_dns_label(&b));
        assert_ne!(a, b);
        assert!(a.starts_with("christopher-a"));
    }

    #[test]
    fn real_passwd_lookup_answers() {
        // Every machine running the tests has an entry for its uid (root in CI).
        let name = passwd_name().expect("the test's uid has a passwd entry");
        assert!(!name.is_empty());
    }
}
