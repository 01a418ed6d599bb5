//! HTTP for devenv's downloads (Calico manifests, pinned tools) and the registry client:
//! one client setup, the proxy the environment names, and error causes a user can read.

use std::time::Duration;

/// An HTTP client for the downloads: honours the usual proxy variables (`HTTPS_PROXY`,
/// `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, upper or lower case, read by reqwest), trusts the
/// platform's certificate store (rustls-native-certs: the system bundle, `SSL_CERT_FILE`,
/// `SSL_CERT_DIR`, where a company installs its TLS-inspecting proxy's CA) as well as the
/// bundled Mozilla roots, and gives up on a dead network quickly instead of hanging.
pub fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("devenv/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(180))
        .build()
}

/// The proxy reqwest takes for `url` from the environment, and the variable that named it,
/// credentials hidden (`http://user:***@proxy:3128`). Follows reqwest's rules: `HTTPS_PROXY`
/// for https, `HTTP_PROXY` for http, else `ALL_PROXY`, lower case first; `NO_PROXY` (`*`, or
/// hosts and domain suffixes, comma-separated) bypasses it.
pub fn proxy_for(url: &str) -> Option<(String, String)> {
    let (value, name) = env_proxy_for(url)?;
    let shown = match reqwest::Url::parse(&value) {
        Ok(mut u) if u.password().is_some() || !u.username().is_empty() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => value,
    };
    Some((shown, name))
}

/// [`proxy_for`] with the proxy URL as configured (credentials included), for a client.
pub fn env_proxy_for(url: &str) -> Option<(String, String)> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let host = parsed
        .host_str()?
        .trim_matches(['[', ']'])
        .to_ascii_lowercase();
    let var = |name: &str| {
        [name.to_ascii_lowercase(), name.to_string()]
            .into_iter()
            .find_map(|n| {
                std::env::var(&n)
                    .ok()
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (n, v))
            })
    };
    if let Some((_, no_proxy)) = var("NO_PROXY") {
        for entry in no_proxy.split(',').map(|e| e.trim().to_ascii_lowercase()) {
            let entry = entry.trim_start_matches('.');
            if entry == "*"
                || (!entry.is_empty() && (host == entry || host.ends_with(&format!(".{entry}"))))
            {
                return None;
            }
        }
    }
    let scheme_var = if parsed.scheme() == "https" {
        "HTTPS_PROXY"
    } else {
        "HTTP_PROXY"
    };
    let (name, value) = var(scheme_var).or_else(|| var("ALL_PROXY"))?;
    // `proxy.corp:3128` means http:// (as reqwest and curl read it).
    let value = if value.contains("://") {
        value
    } else {
        format!("http://{value}")
    };
    Some((value, name))
}

/// The useful part of a reqwest error ("tcp connect error: Connection refused"): its own
/// message only repeats the URL, the cause is in its sources.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !text.starts_with("client error") && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}
