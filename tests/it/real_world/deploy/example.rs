//! The shipped example, twice, with a change to the `api` image in between.

use super::*;

// ---------------------------------------------------------------------------------------
// The shipped example, twice, with a change to the `api` image in between

/// A minimal OCI distribution registry (what `docker push` and devenv's registry client
/// use: the API check, blob uploads, manifests by tag or digest), serving on `listener`
/// until the test ends. Stands in for the k3d registry, which the fake k3d does not run.
fn serve_registry(listener: TcpListener) {
    use sha2::Digest;
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::{Arc, Mutex};
    type Store = HashMap<String, (String, Vec<u8>)>;
    let store: Arc<Mutex<Store>> = Arc::default();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut head = String::new();
                reader.read_line(&mut head).ok();
                let mut parts = head.split_whitespace();
                let method = parts.next().unwrap_or("").to_string();
                let target = parts.next().unwrap_or("").to_string();
                let mut len = 0usize;
                let mut ctype = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.trim_end().split_once(':') {
                        match k.to_ascii_lowercase().as_str() {
                            "content-length" => len = v.trim().parse().unwrap_or(0),
                            "content-type" => ctype = v.trim().to_string(),
                            _ => {}
                        }
                    }
                }
                let mut body = vec![0; len];
                reader.read_exact(&mut body).ok();
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                let digest_of =
                    |b: &[u8]| format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)));
                let mut st = store.lock().unwrap();
                let (status, headers, out): (&str, Vec<(String, String)>, Vec<u8>) = if path
                    == "/v2/"
                {
                    ("200 OK", vec![], b"{}".to_vec())
                } else if let Some((name, reference)) = path
                    .strip_prefix("/v2/")
                    .and_then(|p| p.split_once("/manifests/"))
                {
                    let key = format!("{name}@{reference}");
                    if method == "PUT" {
                        let d = digest_of(&body);
                        st.insert(key, (ctype.clone(), body.clone()));
                        st.insert(format!("{name}@{d}"), (ctype.clone(), body));
                        (
                            "201 Created",
                            vec![("Docker-Content-Digest".into(), d)],
                            vec![],
                        )
                    } else if let Some((t, b)) = st.get(&key) {
                        let h = vec![
                            ("Content-Type".into(), t.clone()),
                            ("Docker-Content-Digest".into(), digest_of(b)),
                        ];
                        ("200 OK", h, b.clone())
                    } else {
                        ("404 Not Found", vec![], br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#.to_vec())
                    }
                } else if let Some((name, rest)) = path
                    .strip_prefix("/v2/")
                    .and_then(|p| p.split_once("/blobs/"))
                {
                    if method == "POST" {
                        let loc = format!("/v2/{name}/blobs/uploads/u{}", st.len());
                        ("202 Accepted", vec![("Location".into(), loc)], vec![])
                    } else if method == "PUT" {
                        let d = query
                            .split('&')
                            .find_map(|kv| kv.strip_prefix("digest="))
                            .unwrap_or("")
                            .replace("%3A", ":");
                        st.insert(format!("blob {d}"), (String::new(), body));
                        (
                            "201 Created",
                            vec![("Docker-Content-Digest".into(), d)],
                            vec![],
                        )
                    } else if let Some((_, b)) = st.get(&format!("blob {rest}")) {
                        ("200 OK", vec![], b.clone())
                    } else {
                        ("404 Not Found", vec![], vec![])
                    }
                } else {
                    ("404 Not Found", vec![], vec![])
                };
                drop(st);
                let mut resp = format!(
                    "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n",
                    out.len()
                );
                for (k, v) in headers {
                    resp.push_str(&format!("{k}: {v}\r\n"));
                }
                resp.push_str("\r\n");
                let mut conn = conn;
                conn.write_all(resp.as_bytes()).ok();
                if method != "HEAD" {
                    conn.write_all(&out).ok();
                }
            });
        }
    });
}

#[test]
fn the_example_comes_up_again_after_a_change_to_the_api_image_and_migrate_is_recreated() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sb = Sandbox::new();
    copy_dir(&root.join("examples/shop"), &sb.path("examples/shop"));
    // The registry k3d would run, on a port of its own; the example's fixed ports and the
    // Calico download replaced (no network here), everything else as shipped.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let registry_port = listener.local_addr().unwrap().port();
    let example = std::fs::read_to_string(root.join("devenv.toml.example")).unwrap();
    let toml = example
        .replace("api_port = 6550", &format!("api_port = {}", free_port()))
        .replace(
            "version = \"v3.32.1\"\n",
            &format!("version = \"v3.32.1\"\nmanifests = \"{CALICO}\"\n"),
        );
    assert_ne!(toml, example);
    sb.write("devenv.toml", &toml);
    // The registry port is free for devenv's preflight; the registry listens once k3d
    // "created" it (the fake k3d runs no container).
    let port_line = "port = 5111";
    assert!(toml.contains(port_line));
    sb.write(
        "devenv.toml",
        &toml.replace(port_line, &format!("port = {registry_port}")),
    );
    drop(listener);
    let state = sb.state.clone();
    let started = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let world = std::fs::read_to_string(state.join("state.json")).unwrap_or_default();
            if world.contains("k3d-shop-registry") {
                serve_registry(TcpListener::bind(("127.0.0.1", registry_port)).unwrap());
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    // Builds take 15 s × 0.01 with the fake docker: the registry is up before the first push.
    let sb = sb.sleep_scale(0.01);
    let r = run(&sb, &["up"], Duration::from_secs(120));
    assert_eq!(r.code, 0, "first up: {r:?}");
    started.join().unwrap();
    let migrate = get_json(&sb, "shop", &["job", "migrate", "-n", "shop"]);
    let first_image = migrate["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string();

    // A change to the api image's context: a new content tag, so a new Job template.
    sb.write(
        "examples/shop/services/api/CHANGELOG",
        "a change to the api image\n",
    );
    sb.clear_calls();
    let r = run(&sb, &["up"], Duration::from_secs(120));
    assert_eq!(r.code, 0, "second up: {r:?}");
    assert!(
        r.text.contains("re-created job.batch/migrate in shop"),
        "{r:?}"
    );
    let migrate = get_json(&sb, "shop", &["job", "migrate", "-n", "shop"]);
    let image = migrate["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap();
    assert_ne!(image, first_image, "the Job runs the new api image");
    assert_eq!(
        condition(&migrate, "Complete").as_deref(),
        Some("True"),
        "{migrate:#}"
    );
}
