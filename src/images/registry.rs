//! A small client for the registry HTTP API (distribution v2): does a tag exist (and
//! with which digest), list tags, list repositories.
//!
//! - `Accept`: every manifest type Docker pushes. distribution 2.8 answers a request
//!   without `application/vnd.docker.distribution.manifest.v2+json` by converting the
//!   manifest to schema1 on the fly, with a *different* `Docker-Content-Digest`; with
//!   this list the digest is the one `docker push` printed.
//! - Scheme: plain http for loopback registries (`localhost`, `127.0.0.0/8`, `::1`,
//!   which Docker also treats as insecure), https otherwise, or as configured.
//! - Auth: Docker's flow. A `401` with `WWW-Authenticate: Basic` is retried with the
//!   user's credentials; with `Bearer realm=…,service=…,scope=…` a token is fetched from
//!   the realm (with the credentials if there are any, anonymously otherwise) and cached.
//!   Credentials come from the Docker config ([`super::docker_config`]); a credential
//!   helper is run through [`crate::runner`].
//! - Secrets never appear in errors, `Debug` output or logs.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, LINK, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

use super::docker_config::{
    base64_encode, hostname_of, parse_helper_output, CredentialSource, Credentials, DockerConfig,
};
use crate::runner::{Cmd, Runner};

/// The manifest media types devenv accepts (see the module docs for why all four).
pub const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json";

/// How to reach a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheme {
    /// http for loopback hosts, https for the rest.
    #[default]
    Auto,
    Http,
    Https,
}

#[derive(Debug, Clone)]
pub struct RegistryOptions {
    pub scheme: Scheme,
    /// Per request, connection included.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// A `config.json` to read instead of `$DOCKER_CONFIG/config.json` or
    /// `~/.docker/config.json`.
    pub docker_config: Option<PathBuf>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            scheme: Scheme::Auto,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            docker_config: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach the registry at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the registry at {registry} refused access to {what}{}", if *.had_credentials { " with the credentials from the Docker config" } else { " (no credentials for it in the Docker config)" })]
    Unauthorized {
        registry: String,
        what: String,
        had_credentials: bool,
    },
    #[error("{method} {url} answered {status}{}", body_summary(.body))]
    Status {
        method: String,
        url: String,
        status: u16,
        body: String,
    },
    #[error("unexpected answer from {url}: {reason}")]
    Protocol { url: String, reason: String },
    #[error("cannot get the credentials for {registry}: {reason}")]
    Credentials { registry: String, reason: String },
}

fn body_summary(body: &str) -> String {
    let b = body.trim();
    if b.is_empty() {
        String::new()
    } else {
        let short: String = b.chars().take(300).collect();
        format!(": {short}")
    }
}

/// A cached bearer token. `Debug` is redacted.
#[derive(Clone)]
struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[derive(Debug, Clone)]
enum Auth {
    Basic(Credentials),
    Bearer(Token),
}

/// See the module docs. Cheap to share (`&self` everywhere); caches credentials and
/// tokens per registry.
pub struct RegistryClient {
    http: reqwest::Client,
    options: RegistryOptions,
    config: Mutex<Option<std::sync::Arc<DockerConfig>>>,
    helper_runner: Option<Runner>,
    creds: Mutex<HashMap<String, Option<Credentials>>>,
    auth: Mutex<HashMap<(String, String), Auth>>,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("options", &self.options)
            .field("credential_helpers", &self.helper_runner.is_some())
            .finish_non_exhaustive()
    }
}

/// What an answer means for `has_manifest`.
enum Want {
    Manifest,
    Json,
}

impl RegistryClient {
    pub fn new(options: RegistryOptions) -> Result<RegistryClient, RegistryError> {
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .user_agent(concat!("devenv/", env!("CARGO_PKG_VERSION")))
            // The proxy variables as reqwest reads them (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY,
            // NO_PROXY), except that a registry on this machine (localhost:PORT, 127.0.0.1)
            // is never reached through a proxy: a corporate proxy cannot see our loopback,
            // and NO_PROXY rarely lists it.
            .proxy(reqwest::Proxy::custom(|url| {
                let host = url.host_str()?.trim_matches(['[', ']']);
                let loopback = host.eq_ignore_ascii_case("localhost")
                    || host
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback());
                if loopback {
                    return None;
                }
                crate::http::env_proxy_for(url.as_str())
                    .and_then(|(p, _)| reqwest::Url::parse(&p).ok())
            }))
            // Redirects are followed (blob storage), but never with our Authorization:
            // reqwest drops it on a cross-host redirect.
            .build()
            .map_err(|e| RegistryError::Unreachable {
                url: String::new(),
                reason: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(RegistryClient {
            http,
            options,
            config: Mutex::new(None),
            helper_runner: None,
            creds: Mutex::new(HashMap::new()),
            auth: Mutex::new(HashMap::new()),
        })
    }

    /// Allows running `docker-credential-<helper> get` (for `credsStore` /
    /// `credHelpers`) through `runner`, with its output marked secret
    /// ([`Cmd::with_secret_output`]): its stdout is the credential, kept in memory only,
    /// and the log records only that the helper ran.
    pub fn with_credential_helpers(mut self, runner: &Runner) -> RegistryClient {
        self.helper_runner = Some(runner.clone());
        self
    }

    /// `http(s)://REGISTRY/v2/`.
    pub fn base_url(&self, registry: &str) -> String {
        let scheme = match self.options.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Auto if is_loopback(registry) => "http",
            Scheme::Auto => "https",
        };
        format!("{scheme}://{registry}/v2/")
    }

    /// `GET /v2/`: the registry answers (an auth challenge counts as an answer).
    pub async fn ping(&self, registry: &str) -> Result<(), RegistryError> {
        let url = self.base_url(registry);
        let resp = self.send(Method::GET, &url, None).await?;
        match resp.status() {
            s if s.is_success() || s == StatusCode::UNAUTHORIZED => Ok(()),
            s => Err(status_error("GET", &url, s, resp).await),
        }
    }

    /// The digest of `repo:tag` if the registry has it (`HEAD` on the manifest), `None`
    /// if the repository or tag is unknown.
    pub async fn has_manifest(
        &self,
        registry: &str,
        repo: &str,
        tag: &str,
    ) -> Result<Option<String>, RegistryError> {
        let url = format!("{}{repo}/manifests/{tag}", self.base_url(registry));
        let scope = format!("repository:{repo}:pull");
        let resp = self
            .request(Method::HEAD, &url, registry, &scope, Want::Manifest, repo)
            .await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                if let Some(d) = resp
                    .headers()
                    .get("Docker-Content-Digest")
                    .and_then(|v| v.to_str().ok())
                {
                    return Ok(Some(d.to_string()));
                }
                // No digest header (some proxies strip it): hash the manifest itself.
                let resp = self
                    .request(Method::GET, &url, registry, &scope, Want::Manifest, repo)
                    .await?;
                let body = resp.bytes().await.map_err(|e| RegistryError::Protocol {
                    url: url.clone(),
                    reason: e.to_string(),
                })?;
                use sha2::Digest;
                Ok(Some(format!(
                    "sha256:{}",
                    hex::encode(sha2::Sha256::digest(&body))
                )))
            }
            s => Err(status_error("HEAD", &url, s, resp).await),
        }
    }

    /// All tags of `repo` (following `Link` pagination); empty if the repo is unknown.
    pub async fn list_tags(
        &self,
        registry: &str,
        repo: &str,
    ) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let first = format!("{}{repo}/tags/list?n=1000", self.base_url(registry));
        let scope = format!("repository:{repo}:pull");
        let pages: Vec<Tags> = self.paginate(registry, &first, &scope, repo).await?;
        Ok(pages
            .into_iter()
            .flat_map(|p| p.tags.unwrap_or_default())
            .collect())
    }

    /// All repositories (`/v2/_catalog`, following `Link` pagination).
    pub async fn catalog(&self, registry: &str) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Catalog {
            #[serde(default)]
            repositories: Option<Vec<String>>,
        }
        let first = format!("{}_catalog?n=1000", self.base_url(registry));
        let pages: Vec<Catalog> = self
            .paginate(registry, &first, "registry:catalog:*", "the catalog")
            .await?;
        Ok(pages
            .into_iter()
            .flat_map(|p| p.repositories.unwrap_or_default())
            .collect())
    }

    async fn paginate<T: serde::de::DeserializeOwned>(
        &self,
        registry: &str,
        first: &str,
        scope: &str,
        what: &str,
    ) -> Result<Vec<T>, RegistryError> {
        let mut out = Vec::new();
        let mut next = Some(first.to_string());
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > 10_000 {
                return Err(RegistryError::Protocol {
                    url,
                    reason: "more than 10000 pages: the Link headers loop".into(),
                });
            }
            let resp = self
                .request(Method::GET, &url, registry, scope, Want::Json, what)
                .await?;
            let status = resp.status();
            if status == StatusCode::NOT_FOUND && pages == 1 && what != "the catalog" {
                return Ok(out); // unknown repository: no tags
            }
            if !status.is_success() {
                return Err(status_error("GET", &url, status, resp).await);
            }
            next = next_link(resp.headers(), &url);
            let body = resp.bytes().await.map_err(|e| RegistryError::Protocol {
                url: url.clone(),
                reason: e.to_string(),
            })?;
            out.push(
                serde_json::from_slice(&body).map_err(|e| RegistryError::Protocol {
                    url: url.clone(),
                    reason: format!("invalid JSON: {e}"),
                })?,
            );
        }
        Ok(out)
    }

    /// Sends with cached auth; on a 401, follows the challenge once and retries.
    async fn request(
        &self,
        method: Method,
        url: &str,
        registry: &str,
        scope: &str,
        want: Want,
        what: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        let key = (registry.to_string(), scope.to_string());
        let cached = self.auth.lock().expect("no panics").get(&key).cloned();
        let accept = match want {
            Want::Manifest => Some(MANIFEST_ACCEPT),
            Want::Json => None,
        };
        let resp = self
            .send_with(method.clone(), url, accept, cached.as_ref())
            .await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_default();
        let creds = self.credentials(registry).await?;
        let had_credentials = creds.is_some();
        let unauthorized = || RegistryError::Unauthorized {
            registry: registry.to_string(),
            what: what.to_string(),
            had_credentials,
        };
        let auth = match parse_challenge(&challenge) {
            Some(Challenge::Basic) => Auth::Basic(creds.ok_or_else(unauthorized)?),
            Some(Challenge::Bearer { realm, params }) => {
                let token = self
                    .fetch_token(&realm, &params, scope, creds.as_ref(), registry, what)
                    .await?;
                Auth::Bearer(Token(token))
            }
            None => return Err(unauthorized()),
        };
        let resp = self.send_with(method, url, accept, Some(&auth)).await?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            return Err(unauthorized());
        }
        self.auth.lock().expect("no panics").insert(key, auth);
        Ok(resp)
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        auth: Option<&Auth>,
    ) -> Result<reqwest::Response, RegistryError> {
        self.send_with(method, url, None, auth).await
    }

    async fn send_with(
        &self,
        method: Method,
        url: &str,
        accept: Option<&str>,
        auth: Option<&Auth>,
    ) -> Result<reqwest::Response, RegistryError> {
        let mut req = self.http.request(method, url);
        if let Some(a) = accept {
            req = req.header(ACCEPT, a);
        }
        match auth {
            Some(Auth::Basic(c)) => req = req.header(AUTHORIZATION, basic_header(c)),
            Some(Auth::Bearer(t)) => {
                let mut v = HeaderValue::from_str(&format!("Bearer {}", t.0)).map_err(|_| {
                    RegistryError::Protocol {
                        url: url.to_string(),
                        reason: "the token server returned a token that is not a valid header"
                            .into(),
                    }
                })?;
                v.set_sensitive(true);
                req = req.header(AUTHORIZATION, v);
            }
            None => {}
        }
        req.send().await.map_err(|e| RegistryError::Unreachable {
            url: url.to_string(),
            reason: reqwest_reason(&e),
        })
    }

    async fn fetch_token(
        &self,
        realm: &str,
        params: &HashMap<String, String>,
        scope: &str,
        creds: Option<&Credentials>,
        registry: &str,
        what: &str,
    ) -> Result<String, RegistryError> {
        let mut url = reqwest::Url::parse(realm).map_err(|e| RegistryError::Protocol {
            url: realm.to_string(),
            reason: format!("bad token realm: {e}"),
        })?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(service) = params.get("service") {
                q.append_pair("service", service);
            }
            q.append_pair("scope", params.get("scope").map_or(scope, String::as_str));
        }
        let req = match creds {
            // An identity token is an OAuth refresh token: exchanged by POST, as the
            // docker CLI does, never sent as a password.
            Some(c) if c.identity_token => {
                let mut form = reqwest::Url::parse("http://form.invalid/").expect("static URL");
                {
                    let mut q = form.query_pairs_mut();
                    q.append_pair("grant_type", "refresh_token");
                    q.append_pair("refresh_token", &c.secret);
                    q.append_pair("client_id", "devenv");
                    q.append_pair("scope", params.get("scope").map_or(scope, String::as_str));
                    if let Some(service) = params.get("service") {
                        q.append_pair("service", service);
                    }
                }
                let body = form.query().unwrap_or_default().to_string();
                let mut realm_url = url.clone();
                realm_url.set_query(None);
                self.http
                    .post(realm_url)
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(body)
            }
            Some(c) => self
                .http
                .get(url.clone())
                .header(AUTHORIZATION, basic_header(c)),
            None => self.http.get(url.clone()),
        };
        let resp = req.send().await.map_err(|e| RegistryError::Unreachable {
            url: url.to_string(),
            reason: reqwest_reason(&e),
        })?;
        if resp.status() == StatusCode::UNAUTHORIZED || resp.status() == StatusCode::FORBIDDEN {
            return Err(RegistryError::Unauthorized {
                registry: registry.to_string(),
                what: what.to_string(),
                had_credentials: creds.is_some(),
            });
        }
        if !resp.status().is_success() {
            let status = resp.status();
            return Err(status_error("GET", url.as_str(), status, resp).await);
        }
        #[derive(serde::Deserialize)]
        struct TokenResp {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
        }
        let body = resp.bytes().await.map_err(|e| RegistryError::Protocol {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        let t: TokenResp = serde_json::from_slice(&body).map_err(|_| RegistryError::Protocol {
            url: url.to_string(),
            reason: "the token server did not answer with JSON".into(),
        })?;
        t.token
            .or(t.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RegistryError::Protocol {
                url: url.to_string(),
                reason: "the token server's answer has no token".into(),
            })
    }

    fn docker_config(&self) -> Result<std::sync::Arc<DockerConfig>, RegistryError> {
        let mut slot = self.config.lock().expect("no panics");
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let loaded = match &self.options.docker_config {
            Some(p) => DockerConfig::load(p),
            None => DockerConfig::load_default(),
        }
        .map_err(|e| RegistryError::Credentials {
            registry: String::new(),
            reason: e.to_string(),
        })?;
        let c = std::sync::Arc::new(loaded);
        *slot = Some(c.clone());
        Ok(c)
    }

    /// The user's credentials for `registry`, or `None` (then requests are anonymous).
    async fn credentials(&self, registry: &str) -> Result<Option<Credentials>, RegistryError> {
        if let Some(c) = self.creds.lock().expect("no panics").get(registry) {
            return Ok(c.clone());
        }
        let source =
            self.docker_config()?
                .source_for(registry)
                .map_err(|e| RegistryError::Credentials {
                    registry: registry.to_string(),
                    reason: e.to_string(),
                })?;
        let creds = match source {
            CredentialSource::None => None,
            CredentialSource::Inline(c) => Some(c),
            CredentialSource::Helper { helper, server } => {
                self.run_helper(&helper, &server, registry).await?
            }
        };
        self.creds
            .lock()
            .expect("no panics")
            .insert(registry.to_string(), creds.clone());
        Ok(creds)
    }

    async fn run_helper(
        &self,
        helper: &str,
        server: &str,
        registry: &str,
    ) -> Result<Option<Credentials>, RegistryError> {
        let Some(runner) = &self.helper_runner else {
            return Err(RegistryError::Credentials {
                registry: registry.to_string(),
                reason: format!(
                    "the Docker config names the credential helper `docker-credential-{helper}`, \
                     and running helpers was not enabled for this client"
                ),
            });
        };
        let fail = |reason: String| RegistryError::Credentials {
            registry: registry.to_string(),
            reason,
        };
        // The helper's answer is the secret: kept in memory only. The run's log says that
        // the helper ran and how it ended, never what it printed (no file, no temp file).
        let cmd = Cmd::new(format!("docker-credential-{helper}"))
            .arg("get")
            .stdin(hostname_of(server).as_bytes().to_vec())
            .timeout(Duration::from_secs(30))
            .with_secret_output();
        let out = runner
            .run_unchecked("credential-helper", &cmd)
            .await
            .map_err(|e| fail(e.to_string()))?;
        if out.success() {
            return parse_helper_output(&out.stdout).map(Some).ok_or_else(|| {
                fail(format!(
                    "`{}` did not print credentials JSON",
                    cmd.argv_display()
                ))
            });
        }
        // Helpers say "credentials not found" when they have nothing: anonymous access.
        let stderr = out.stderr_str();
        let text = format!("{stderr}{}", out.stdout_str());
        if text.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        Err(fail(format!(
            "`{}` failed (exit status {}): {}",
            cmd.argv_display(),
            out.status,
            stderr.trim()
        )))
    }
}

fn basic_header(c: &Credentials) -> HeaderValue {
    let mut v = HeaderValue::from_str(&format!(
        "Basic {}",
        base64_encode(format!("{}:{}", c.username, c.secret).as_bytes())
    ))
    .expect("base64 is a valid header value");
    v.set_sensitive(true);
    v
}

fn reqwest_reason(e: &reqwest::Error) -> String {
    // The source chain says "connection refused" / "timed out"; reqwest's own Display
    // repeats the URL we already print.
    let mut reason = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    let mut src = std::error::Error::source(e);
    let mut last = None;
    while let Some(s) = src {
        last = Some(s.to_string());
        src = s.source();
    }
    if let Some(l) = last {
        reason.push_str(": ");
        reason.push_str(&l);
    }
    reason
}

async fn status_error(
    method: &str,
    url: &str,
    status: StatusCode,
    resp: reqwest::Response,
) -> RegistryError {
    let body = resp.text().await.unwrap_or_default();
    RegistryError::Status {
        method: method.to_string(),
        url: url.to_string(),
        status: status.as_u16(),
        body,
    }
}

/// Whether Docker (and devenv) talk plain http to this registry by default.
pub fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        registry.rsplit_once(':').map_or(registry, |(h, _)| h)
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

#[derive(Debug, PartialEq, Eq)]
enum Challenge {
    Basic,
    Bearer {
        realm: String,
        params: HashMap<String, String>,
    },
}

/// Parses `WWW-Authenticate` (one challenge: registries send one).
fn parse_challenge(h: &str) -> Option<Challenge> {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = HashMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (key, after) = s.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            let mut val = String::new();
            let mut chars = q.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            val.push(n);
                        }
                    }
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => val.push(c),
                }
            }
            (val, &q[end?..])
        } else {
            let (v, t) = after.split_once(',').unwrap_or((after, ""));
            (v.trim().to_string(), t)
        };
        params.insert(key, value);
        s = tail.trim_start().trim_start_matches(',').trim_start();
    }
    let realm = params.remove("realm")?;
    Some(Challenge::Bearer { realm, params })
}

/// The `rel="next"` target of a `Link` header, resolved against `current`.
fn next_link(headers: &HeaderMap, current: &str) -> Option<String> {
    for v in headers.get_all(LINK) {
        let v = v.to_str().ok()?;
        for part in v.split(',') {
            let (target, attrs) = part.split_once(';')?;
            if !attrs.replace(' ', "").contains("rel=\"next\"") && !attrs.contains("rel=next") {
                continue;
            }
            let target = target.trim().trim_start_matches('<').trim_end_matches('>');
            let base = reqwest::Url::parse(current).ok()?;
            return base.join(target).ok().map(|u| u.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_use_http() {
        for r in [
            "127.0.0.1:5000",
            "localhost:5000",
            "[::1]:5000",
            "127.0.0.2",
            "LOCALHOST",
        ] {
            assert!(is_loopback(r), "{r}");
        }
        for r in [
            "registry.example.com",
            "10.0.0.1:5000",
            "ghcr.io",
            "localhost.example.com:5000",
        ] {
            assert!(!is_loopback(r), "{r}");
        }
        let c = RegistryClient::new(RegistryOptions::default()).unwrap();
        assert_eq!(c.base_url("127.0.0.1:5000"), "http://127.0.0.1:5000/v2/");
        assert_eq!(c.base_url("ghcr.io"), "https://ghcr.io/v2/");
    }

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        let Some(Challenge::Bearer { realm, params }) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/a,b:pull""#,
        ) else {
            panic!("bearer expected");
        };
        assert_eq!(realm, "https://auth.docker.io/token");
        assert_eq!(params["service"], "registry.docker.io");
        assert_eq!(params["scope"], "repository:library/a,b:pull");
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn link_pagination() {
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            HeaderValue::from_static(r#"</v2/_catalog?last=b&n=1>; rel="next""#),
        );
        assert_eq!(
            next_link(&h, "http://127.0.0.1:5000/v2/_catalog?n=1").as_deref(),
            Some("http://127.0.0.1:5000/v2/_catalog?last=b&n=1")
        );
        assert_eq!(next_link(&HeaderMap::new(), "http://x/v2/"), None);
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = RegistryClient::new(RegistryOptions::default()).unwrap();
        c.auth.lock().unwrap().insert(
            ("r".into(), "s".into()),
            Auth::Basic(Credentials {
                username: "u".into(),
                secret: "hunter2".into(),
                identity_token: false,
            }),
        );
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{:?}", Auth::Bearer(Token("tok-secret".into()))).contains("tok-secret"));
    }
}
