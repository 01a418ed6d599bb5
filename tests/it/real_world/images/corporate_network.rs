//! Issue 12 item 10: a corporate network (a proxy, a CA only the platform's store holds).
//! The test here sets proxy variables in its own process: nextest runs it alone, and
//! scripts/test.sh runs it apart under plain `cargo test`.

use super::*;

// ---------------------------------------------------------------------------------------
// Issue 12 item 10: a corporate network (a proxy, a CA only the platform's store holds)

mod corporate {
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio_rustls::rustls;

    /// A test CA and a server certificate it signed for `localhost` and a name only the
    /// proxy can resolve.
    pub struct Pki {
        pub ca_pem: String,
        pub server: rustls::ServerConfig,
    }

    pub const HIDDEN_HOST: &str = "calico-mirror.devenv-test.invalid";

    pub fn pki() -> Pki {
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name.push(
            rcgen::DnType::CommonName,
            "devenv test TLS-inspecting proxy CA",
        );
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let leaf =
            rcgen::CertificateParams::new(vec!["localhost".into(), HIDDEN_HOST.into()]).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf_cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
        Pki {
            ca_pem: ca_cert.pem(),
            server,
        }
    }

    async fn read_head(s: &mut (impl AsyncReadExt + Unpin)) -> String {
        let mut buf = Vec::new();
        let mut b = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            if s.read(&mut b).await.unwrap_or(0) == 0 {
                break;
            }
            buf.push(b[0]);
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// An HTTPS server on 127.0.0.1 answering every GET with `body`.
    pub async fn https_server(config: rustls::ServerConfig, body: Vec<u8>) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let body = Arc::new(body);
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let body = body.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    read_head(&mut tls).await;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = tls.write_all(head.as_bytes()).await;
                    let _ = tls.write_all(&body).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        port
    }

    /// A CONNECT proxy on 127.0.0.1 that tunnels every target to 127.0.0.1:`to` (so a
    /// name only it "resolves" proves the proxy was used), or refuses with 403.
    pub async fn connect_proxy(to: u16, refuse: bool) -> (u16, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let log = log.clone();
                tokio::spawn(async move {
                    let head = read_head(&mut client).await;
                    let target = head
                        .lines()
                        .next()
                        .and_then(|l| l.strip_prefix("CONNECT "))
                        .and_then(|l| l.split_whitespace().next())
                        .unwrap_or("")
                        .to_string();
                    log.lock().unwrap().push(target);
                    if refuse {
                        let _ = client
                            .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                            .await;
                        return;
                    }
                    let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", to)).await else {
                        return;
                    };
                    let _ = client
                        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        .await;
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                });
            }
        });
        (port, seen)
    }
}

#[tokio::test]
async fn corporate_proxy_and_a_ca_only_the_platform_store_holds() {
    use devenv::calico::{ensure_manifests, manifest_files, ManifestSource};
    use devenv::http::http_client;
    use sha2::Digest;

    // This test owns its process's environment (nextest: one process per test).
    for v in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ] {
        std::env::remove_var(v);
    }
    let pki = corporate::pki();
    let body = b"kind: List\napiVersion: v1\nitems: []\n".to_vec();
    let sha = hex::encode(sha2::Sha256::digest(&body));
    let server = corporate::https_server(pki.server, body).await;
    let (proxy, seen) = corporate::connect_proxy(server, false).await;
    let work = tempfile::tempdir().unwrap();
    let ca = work.path().join("company-ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let version = "v3.99.0";
    let source = |host: &str| ManifestSource::Url {
        base_url: format!("https://{host}:{server}"),
        version: version.into(),
        sha256s: manifest_files(version)
            .iter()
            .map(|f| (f.to_string(), sha.clone()))
            .collect(),
    };
    let mut n = 0;
    let mut fetch = |host: &str| {
        n += 1;
        let cache = work.path().join(format!("cache{n}"));
        let src = source(host);
        async move {
            let client = http_client().unwrap();
            ensure_manifests(&src, &cache, &client)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    };

    // Through the proxy, with a certificate nothing this process trusts yet: the error
    // names the proxy, the certificate problem and where to put the CA.
    std::env::set_var("HTTPS_PROXY", format!("http://127.0.0.1:{proxy}"));
    let err = fetch(corporate::HIDDEN_HOST).await.unwrap_err();
    assert!(
        err.contains(&format!("through the proxy http://127.0.0.1:{proxy}"))
            && err.contains("HTTPS_PROXY")
            && err.contains("certificate")
            && err.contains("SSL_CERT_FILE"),
        "{err}"
    );
    assert_eq!(
        seen.lock().unwrap().last().map(String::as_str),
        Some(format!("{}:{server}", corporate::HIDDEN_HOST).as_str())
    );

    // The platform trust store holds the company CA (here: SSL_CERT_FILE): it works,
    // through the proxy (the host name only the proxy can reach proves it).
    std::env::set_var("SSL_CERT_FILE", &ca);
    fetch(corporate::HIDDEN_HOST)
        .await
        .expect("download through the proxy");

    // NO_PROXY: straight to the server, the proxy sees nothing.
    std::env::set_var("NO_PROXY", "localhost,.internal.example");
    let before = seen.lock().unwrap().len();
    fetch("localhost").await.expect("direct download");
    assert_eq!(seen.lock().unwrap().len(), before, "NO_PROXY was ignored");
    std::env::remove_var("NO_PROXY");

    // devenv's registry client never sends a loopback registry through the proxy (a
    // corporate proxy cannot reach this machine's 127.0.0.1), even without NO_PROXY.
    let reg = tokio::task::spawn_blocking(start_registry).await.unwrap();
    std::env::set_var("HTTP_PROXY", format!("http://127.0.0.1:{proxy}"));
    let client = devenv::images::RegistryClient::new(Default::default()).unwrap();
    let before = seen.lock().unwrap().len();
    let found = client.has_manifest(&reg.addr, "team/none", "dv-0").await;
    assert!(matches!(found, Ok(None)), "{found:?}");
    assert_eq!(
        seen.lock().unwrap().len(),
        before,
        "the registry went through the proxy"
    );
    std::env::remove_var("HTTP_PROXY");

    // A proxy that refuses: the error names it.
    let (refusing, _) = corporate::connect_proxy(server, true).await;
    std::env::set_var(
        "HTTPS_PROXY",
        format!("http://user:secret@127.0.0.1:{refusing}"),
    );
    let err = fetch(corporate::HIDDEN_HOST).await.unwrap_err();
    assert!(
        err.contains(&format!(
            "through the proxy http://user:***@127.0.0.1:{refusing}"
        )),
        "{err}"
    );
    assert!(
        !err.contains("secret"),
        "the proxy password is shown: {err}"
    );
}
