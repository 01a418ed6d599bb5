//! Registry credentials from the user's Docker configuration, resolved as the docker CLI
//! does (`cli/config/configfile`): a per-registry `credHelpers` entry wins, then the
//! global `credsStore`, then the inline `auths.<host>.auth` (base64 `user:password`).
//!
//! Secrets never reach `Debug`/`Display` output: [`Credentials`] prints as
//! `Credentials { username: "…", secret: <redacted> }`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A user name and a password or token. `Debug` redacts the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub secret: String,
    /// Set when the helper returned an identity token (user name `<token>`): it is an
    /// OAuth refresh token, not a password.
    pub identity_token: bool,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("secret", &format_args!("<redacted>"))
            .field("identity_token", &self.identity_token)
            .finish()
    }
}

/// Where the credentials of a registry come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// Inline in `config.json` (`auths.<host>.auth`).
    Inline(Credentials),
    /// `docker-credential-<helper> get`, with the server address on stdin.
    Helper {
        helper: String,
        server: String,
    },
    None,
}

#[derive(Debug, Default, Deserialize)]
struct RawConfig {
    #[serde(default)]
    auths: BTreeMap<String, RawAuth>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Default, Deserialize)]
struct RawAuth {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default, rename = "identitytoken")]
    identity_token: Option<String>,
}

impl fmt::Debug for RawAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawAuth { <redacted> }")
    }
}

/// The parts of `config.json` devenv uses.
#[derive(Debug, Default)]
pub struct DockerConfig {
    raw: RawConfig,
    path: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum DockerConfigError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    // serde_json's message names the line and column, never the value.
    #[error("{path} is not valid Docker config JSON: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("the `auth` entry for {host} in {path} is not base64 of `user:password`")]
    BadAuth { host: String, path: PathBuf },
}

/// `$DOCKER_CONFIG` or `~/.docker` (the docker CLI's rule).
pub fn config_dir() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => dirs::home_dir().map(|h| h.join(".docker")),
    }
}

impl DockerConfig {
    /// Loads `config.json` from the default directory; a missing file is an empty config.
    pub fn load_default() -> Result<DockerConfig, DockerConfigError> {
        match config_dir() {
            Some(dir) => DockerConfig::load(&dir.join("config.json")),
            None => Ok(DockerConfig::default()),
        }
    }

    /// Loads a `config.json`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<DockerConfig, DockerConfigError> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(DockerConfig::default());
            }
            Err(source) => {
                return Err(DockerConfigError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        DockerConfig::parse(&text, path)
    }

    pub fn parse(text: &[u8], path: &Path) -> Result<DockerConfig, DockerConfigError> {
        let raw: RawConfig =
            serde_json::from_slice(text).map_err(|e| DockerConfigError::Parse {
                path: path.to_path_buf(),
                message: format!(
                    "line {} column {}: {:?}",
                    e.line(),
                    e.column(),
                    e.classify()
                ),
            })?;
        Ok(DockerConfig {
            raw,
            path: Some(path.to_path_buf()),
        })
    }

    /// Where the credentials for `registry` (`host[:port]`) come from.
    pub fn source_for(&self, registry: &str) -> Result<CredentialSource, DockerConfigError> {
        let host = hostname_of(registry);
        if let Some((_, helper)) = self
            .raw
            .cred_helpers
            .iter()
            .find(|(k, _)| hostname_of(k) == host)
        {
            return Ok(CredentialSource::Helper {
                helper: helper.clone(),
                server: registry.to_string(),
            });
        }
        if let Some(store) = self.raw.creds_store.as_ref().filter(|s| !s.is_empty()) {
            return Ok(CredentialSource::Helper {
                helper: store.clone(),
                server: registry.to_string(),
            });
        }
        // Exact key first, then any key with the same host (`https://host/v1/` style).
        let entry = self
            .raw
            .auths
            .get(registry)
            .map(|a| (registry.to_string(), a))
            .or_else(|| {
                self.raw
                    .auths
                    .iter()
                    .find(|(k, _)| hostname_of(k) == host)
                    .map(|(k, a)| (k.clone(), a))
            });
        let Some((key, auth)) = entry else {
            return Ok(CredentialSource::None);
        };
        if let Some(token) = auth.identity_token.as_ref().filter(|t| !t.is_empty()) {
            return Ok(CredentialSource::Inline(Credentials {
                username: auth.username.clone().unwrap_or_default(),
                secret: token.clone(),
                identity_token: true,
            }));
        }
        if let Some(encoded) = auth.auth.as_ref().filter(|a| !a.is_empty()) {
            let bad = || DockerConfigError::BadAuth {
                host: key.clone(),
                path: self.path.clone().unwrap_or_default(),
            };
            let decoded = base64_decode(encoded.trim()).ok_or_else(bad)?;
            let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
            let (user, pass) = decoded.split_once(':').ok_or_else(bad)?;
            return Ok(CredentialSource::Inline(Credentials {
                username: user.to_string(),
                secret: pass.trim_end_matches('\0').to_string(),
                identity_token: false,
            }));
        }
        if let (Some(u), Some(p)) = (&auth.username, &auth.password) {
            return Ok(CredentialSource::Inline(Credentials {
                username: u.clone(),
                secret: p.clone(),
                identity_token: false,
            }));
        }
        Ok(CredentialSource::None)
    }
}

/// The docker CLI's `ConvertToHostname`: strip a scheme and any path.
pub fn hostname_of(url: &str) -> &str {
    let s = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    s.split('/').next().unwrap_or(s)
}

/// Parses a credential helper's `get` answer: `{"ServerURL","Username","Secret"}`.
pub fn parse_helper_output(stdout: &[u8]) -> Option<Credentials> {
    #[derive(Deserialize)]
    struct Out {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret", default)]
        secret: String,
    }
    let out: Out = serde_json::from_slice(stdout).ok()?;
    if out.secret.is_empty() {
        return None;
    }
    Some(Credentials {
        identity_token: out.username == "<token>",
        username: out.username,
        secret: out.secret,
    })
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (what `config.json` and HTTP Basic use).
pub fn base64_encode(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Standard base64; padding optional; `None` on any other character.
/// Kept by hand: it also takes a dangling last symbol or extra `=`, which the `base64`
/// crate's decoders refuse, and reading a config.json must not start failing.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: &str) -> DockerConfig {
        DockerConfig::parse(json.as_bytes(), Path::new("/x/config.json")).unwrap()
    }

    #[test]
    fn base64_roundtrip() {
        for s in ["", "a", "ab", "abc", "user:pässword", "x:y:z"] {
            assert_eq!(
                base64_decode(&base64_encode(s.as_bytes())).unwrap(),
                s.as_bytes()
            );
        }
        assert_eq!(base64_encode(b"user:pass"), "dXNlcjpwYXNz");
        assert!(base64_decode("not base64!").is_none());
    }

    #[test]
    fn inline_auth_by_exact_key_or_hostname() {
        let c = cfg(r#"{"auths":{"https://reg.example.com/v1/":{"auth":"dXNlcjpwYXNz"}}}"#);
        let CredentialSource::Inline(cr) = c.source_for("reg.example.com").unwrap() else {
            panic!("expected inline credentials");
        };
        assert_eq!((cr.username.as_str(), cr.secret.as_str()), ("user", "pass"));
        assert_eq!(
            c.source_for("other.example.com").unwrap(),
            CredentialSource::None
        );
    }

    #[test]
    fn helpers_win_over_inline() {
        let c = cfg(
            r#"{"auths":{"r:5000":{"auth":"dXNlcjpwYXNz"}},"credsStore":"desktop",
                "credHelpers":{"gcr.io":"gcloud"}}"#,
        );
        assert_eq!(
            c.source_for("gcr.io").unwrap(),
            CredentialSource::Helper {
                helper: "gcloud".into(),
                server: "gcr.io".into()
            }
        );
        assert!(matches!(
            c.source_for("r:5000").unwrap(),
            CredentialSource::Helper { helper, .. } if helper == "desktop"
        ));
    }

    #[test]
    fn secrets_are_redacted_and_bad_auth_does_not_echo_it() {
        let c = cfg(r#"{"auths":{"r":{"auth":"c2VjcmV0LXdpdGhvdXQtY29sb24="}}}"#);
        let err = c.source_for("r").unwrap_err().to_string();
        assert!(
            !err.contains("c2VjcmV0") && !err.contains("secret-without"),
            "{err}"
        );
        let cr = Credentials {
            username: "u".into(),
            secret: "hunter2".into(),
            identity_token: false,
        };
        assert!(!format!("{cr:?}").contains("hunter2"));
    }

    #[test]
    fn helper_output() {
        let cr =
            parse_helper_output(br#"{"ServerURL":"r","Username":"<token>","Secret":"t"}"#).unwrap();
        assert!(cr.identity_token);
        assert!(parse_helper_output(b"credentials not found").is_none());
    }
}
