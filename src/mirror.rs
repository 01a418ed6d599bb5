//! Pull-through registry mirrors for CI (`[ci_cache]`): one registry per upstream registry
//! the cluster pulls from, each a distribution registry in proxy mode whose storage is a host
//! folder that `actions/cache` keeps between runs.
//!
//! How a mirror is run (k3d v5.9.0, `cmd/registry/registryCreate.go`, `pkg/client/registry.go`):
//! `k3d registry create` starts the `registry:2` image with `--volume` binds passed verbatim
//! to Docker. `--proxy-remote-url` would only set the `REGISTRY_PROXY_REMOTEURL` environment
//! variable, and k3d has no flag for the rest of the registry's settings, so devenv writes the
//! whole distribution `config.yml` (see `templates/registry-mirror.yml`) and binds it over
//! the image's default `/etc/docker/registry/config.yml`, which the image's entrypoint serves.
//! One file holds every setting, and `devenv plan` shows it.
//!
//! Which upstreams matter (checked in the sources): k3s pulls its system images from
//! `docker.io/rancher/*` (pause, coredns, local-path-provisioner, metrics-server, klipper-*,
//! traefik); the Tigera operator runs from `quay.io/tigera/operator` and, with no
//! `Installation.spec.registry`, pulls Calico's images from `quay.io/calico/*`
//! (tigera/operator v1.42.3 `pkg/components/images.go`: `CalicoRegistry = "quay.io/"`).
//! Images the host's Docker pulls never pass through a mirror: the node image
//! (`docker.io/rancher/k3s`), k3d's `ghcr.io/k3d-io/k3d-proxy` and `k3d-tools`, and the
//! mirrors' own `registry:2`. CI caches those separately (`docker save` / `docker load`).

use std::path::{Path, PathBuf};

use crate::template::{fill, yq};

/// The distribution config template (`templates/registry-mirror.yml`).
pub const MIRROR_CONFIG_TEMPLATE: &str = include_str!("../templates/registry-mirror.yml");

/// The image the mirrors run: k3d v5.9.0's default (`k3d.DefaultRegistryImageRepo:Tag`),
/// written out because the config's mount path belongs to this image (registry:3 reads
/// `/etc/distribution/config.yml` instead).
pub const REGISTRY_IMAGE: &str = "docker.io/library/registry:2";
/// Where the registry:2 image reads its config (its `CMD`).
pub const CONFIG_IN_CONTAINER: &str = "/etc/docker/registry/config.yml";
/// The image's storage volume.
pub const STORAGE_IN_CONTAINER: &str = "/var/lib/registry";
/// The port k3d publishes and the nodes reach (`k3d.DefaultRegistryPort`).
pub const ADDR_IN_CONTAINER: &str = ":5000";
/// Folder of the generated mirror configs, relative to the project. Not under `ci_cache.dir`:
/// only the storage is worth caching.
pub const CONFIG_DIR: &str = ".devenv/cache";

/// A pull-through cache registry for one upstream registry (the `ci_cache` feature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheMirror {
    /// k3d registry name.
    pub name: String,
    /// Its container name.
    pub container: String,
    /// The upstream's URL (`--proxy-remote-url`).
    pub remote_url: String,
    /// Host folder keeping its storage (kept between CI runs by actions/cache).
    pub storage: PathBuf,
}

/// A name part for an upstream host: `quay.io` → `quay-io`, `host:5000` → `host-5000`.
pub fn slug(upstream: &str) -> String {
    upstream
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// The URL the mirror proxies for an upstream registry host.
///
/// Docker Hub's registry API is not served by `docker.io` but by `registry-1.docker.io`
/// (what containerd and Docker use for the `docker.io` host). Official images keep their
/// `library/` prefix on the way: containerd asks the mirror for `/v2/library/NAME/...`.
pub fn remote_url(upstream: &str) -> String {
    if upstream == "docker.io" || upstream == "index.docker.io" {
        "https://registry-1.docker.io".to_string()
    } else {
        format!("https://{upstream}")
    }
}

/// The generated config of an upstream's mirror, relative to the project folder.
pub fn config_file(upstream: &str) -> String {
    format!("{CONFIG_DIR}/mirror-{}.yml", slug(upstream))
}

/// A distribution (v2.8) config for a pull-through cache of `remote_url`, keeping its data
/// under `storage_root` and listening on `listen_addr` (`:5000`, `127.0.0.1:5123`).
pub fn render_mirror_config(remote_url: &str, storage_root: &str, listen_addr: &str) -> String {
    fill(
        MIRROR_CONFIG_TEMPLATE,
        &[
            ("remote_url", yq(remote_url)),
            ("storage", yq(storage_root)),
            ("addr", yq(listen_addr)),
        ],
    )
}

/// The config of a mirror run by k3d (storage and address inside the container).
pub fn k3d_mirror_config(m: &CacheMirror) -> String {
    render_mirror_config(&m.remote_url, STORAGE_IN_CONTAINER, ADDR_IN_CONTAINER)
}

/// `k3d registry create ...` arguments (after `k3d`) for a mirror whose config file is at
/// `config_host_path`. Both binds need absolute host paths (a relative one would name a
/// Docker volume), and the config file must exist first, or Docker creates a folder there.
pub fn k3d_create_args(m: &CacheMirror, config_host_path: &Path) -> Vec<String> {
    vec![
        "registry".into(),
        "create".into(),
        m.name.clone(),
        "--image".into(),
        REGISTRY_IMAGE.into(),
        // Nodes use the container's port 5000 on the cluster network; the host port (loopback
        // only) is for looking at the cache. `random` makes k3d pick a free port and record it,
        // where `0` would be recorded as port 0 in its labels and registries.yaml.
        "--port".into(),
        "127.0.0.1:random".into(),
        "--volume".into(),
        format!("{}:{CONFIG_IN_CONTAINER}:ro", config_host_path.display()),
        "--volume".into(),
        format!("{}:{STORAGE_IN_CONTAINER}", m.storage.display()),
        "--no-help".into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_text;
    use crate::plan::{Plan, StepKind};
    use crate::render::{ci_cache_mirrors, Names};
    use serde_yaml_ng::Value;
    use std::path::PathBuf;

    fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
        path.split('.').fold(v, |v, k| &v[k])
    }

    fn parse(yaml: &str) -> Value {
        serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("not YAML: {e}\n{yaml}"))
    }

    #[test]
    fn the_config_is_a_distribution_proxy_config() {
        let yaml = render_mirror_config("https://quay.io", "/var/lib/registry", ":5000");
        let v = parse(&yaml);
        assert_eq!(get(&v, "version"), &Value::from(0.1));
        assert_eq!(get(&v, "proxy.remoteurl").as_str(), Some("https://quay.io"));
        assert_eq!(
            get(&v, "storage.filesystem.rootdirectory").as_str(),
            Some("/var/lib/registry")
        );
        assert_eq!(get(&v, "http.addr").as_str(), Some(":5000"));
        assert_eq!(get(&v, "storage.delete.enabled").as_bool(), Some(false));
        assert_eq!(
            get(&v, "health.storagedriver.enabled").as_bool(),
            Some(true)
        );
        assert_eq!(get(&v, "log.level").as_str(), Some("info"));
        // Credentials never go into the file.
        let proxy = get(&v, "proxy").as_mapping().unwrap();
        assert_eq!(
            proxy
                .keys()
                .map(|k| k.as_str().unwrap())
                .collect::<Vec<_>>(),
            ["remoteurl"]
        );
        assert!(!yaml.contains("{{"));
    }

    #[test]
    fn the_config_quotes_what_yaml_would_misread() {
        // A path with a colon and a space, an address starting with ':' and a '#'.
        let yaml = render_mirror_config(
            "http://127.0.0.1:5000",
            "/tmp/a dir/x:y #z",
            "127.0.0.1:5123",
        );
        let v = parse(&yaml);
        assert_eq!(
            get(&v, "storage.filesystem.rootdirectory").as_str(),
            Some("/tmp/a dir/x:y #z")
        );
        assert_eq!(get(&v, "http.addr").as_str(), Some("127.0.0.1:5123"));
        assert_eq!(
            get(&v, "proxy.remoteurl").as_str(),
            Some("http://127.0.0.1:5000")
        );
    }

    #[test]
    fn upstreams_map_to_their_registry_api() {
        assert_eq!(remote_url("docker.io"), "https://registry-1.docker.io");
        assert_eq!(remote_url("quay.io"), "https://quay.io");
        assert_eq!(
            remote_url("registry.example.com:5443"),
            "https://registry.example.com:5443"
        );
        assert_eq!(
            slug("registry.example.com:5443"),
            "registry-example-com-5443"
        );
        assert_eq!(config_file("ghcr.io"), ".devenv/cache/mirror-ghcr-io.yml");
    }

    /// `k3d registry create` flags in k3d v5.9.0 (`cmd/registry/registryCreate.go`, global
    /// flags from `cmd/root.go`): (long, short, takes a value).
    const K3D_REGISTRY_CREATE_FLAGS: &[(&str, Option<char>, bool)] = &[
        ("cluster", Some('c'), true),
        ("image", Some('i'), true),
        ("port", Some('p'), true),
        ("volume", Some('v'), true),
        ("default-network", None, true),
        ("proxy-remote-url", None, true),
        ("proxy-username", None, true),
        ("proxy-password", None, true),
        ("no-help", None, false),
        ("delete-enabled", None, false),
        ("enforce-port-match", None, false),
        ("help", Some('h'), false),
        ("verbose", None, false),
        ("trace", None, false),
        ("timestamps", None, false),
    ];

    /// Parse argv after `registry create` as cobra would: (name, [(flag, value)]).
    fn parse_k3d_flags(args: &[String]) -> (Vec<String>, Vec<(String, Option<String>)>) {
        let mut positional = Vec::new();
        let mut flags = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let spec = if let Some(long) = a.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (long, None),
                };
                let f = K3D_REGISTRY_CREATE_FLAGS.iter().find(|f| f.0 == name);
                f.map(|f| (f, inline))
            } else if let Some(short) = a.strip_prefix('-') {
                let c = short.chars().next().unwrap();
                K3D_REGISTRY_CREATE_FLAGS
                    .iter()
                    .find(|f| f.1 == Some(c))
                    .map(|f| (f, None))
            } else {
                positional.push(a.clone());
                continue;
            };
            let ((name, _, takes_value), inline) =
                spec.unwrap_or_else(|| panic!("{a} is not a flag of k3d v5.9.0 `registry create`"));
            let value = if *takes_value {
                Some(
                    inline
                        .or_else(|| it.next().cloned())
                        .unwrap_or_else(|| panic!("--{name} needs a value")),
                )
            } else {
                None
            };
            flags.push((name.to_string(), value));
        }
        (positional, flags)
    }

    #[test]
    #[should_panic(expected = "is not a flag of k3d v5.9.0")]
    fn the_flag_check_rejects_flags_k3d_does_not_have() {
        // `--env` exists on `cluster create`, not on `registry create`.
        parse_k3d_flags(&["m".to_string(), "--env".to_string(), "A=B".to_string()]);
    }

    fn ci_loaded(text: &str) -> crate::config::Loaded {
        load_text(
            text,
            "devenv.toml",
            Path::new("/work/demo"),
            Some(PathBuf::from("/work/demo/devenv.toml")),
            Some("ci"),
        )
        .unwrap_or_else(|e| panic!("config: {e:?}"))
    }

    #[test]
    fn the_plan_creates_each_mirror_with_real_k3d_flags_and_its_config() {
        let loaded = ci_loaded("version = 1\n[project]\nname = \"demo\"\n");
        assert!(
            loaded.config.ci_cache.enabled,
            "the ci profile turns the cache on"
        );
        let plan = Plan::build(&loaded);
        let names = Names::new(&loaded);
        let mirrors = ci_cache_mirrors(&loaded, &names);
        assert!(!mirrors.is_empty());
        for (upstream, m) in &mirrors {
            let step = plan
                .step(&format!("mirror:{upstream}"))
                .unwrap_or_else(|| panic!("no step for {upstream}"));
            let StepKind::CacheMirror(mirror) = &step.kind else {
                panic!("{:?} is not a cache mirror step", step.kind)
            };
            assert_eq!(&mirror.upstream, upstream);
            assert_eq!(step.commands().len(), 1);
            let cmd = &mirror.create;
            assert_eq!(cmd.program, "k3d");
            assert_eq!(&cmd.args[..2], ["registry", "create"]);
            let (positional, flags) = parse_k3d_flags(&cmd.args[2..]);
            assert_eq!(
                positional,
                [m.name.clone()],
                "one NAME (cobra.MaximumNArgs(1))"
            );
            assert_eq!(
                format!("k3d-{}", positional[0]),
                m.container,
                "k3d prefixes the container name"
            );
            let value = |f: &str| {
                flags
                    .iter()
                    .filter(|(n, _)| n == f)
                    .map(|(_, v)| v.clone().unwrap())
                    .collect::<Vec<_>>()
            };
            assert_eq!(value("image"), [REGISTRY_IMAGE]);
            assert_eq!(value("port"), ["127.0.0.1:random"]);
            assert!(flags.iter().any(|(n, _)| n == "no-help"));
            // The proxy is configured by the mounted file alone (no REGISTRY_PROXY_* env).
            assert!(value("proxy-remote-url").is_empty());

            // The mounted config is a generated file of the plan, bound read-only at the
            // path the image serves, and proxies this upstream with storage on the volume.
            let rel = config_file(upstream);
            let file = plan
                .generated
                .iter()
                .find(|f| f.path == rel)
                .unwrap_or_else(|| panic!("{rel} is not generated"));
            let volumes = value("volume");
            let config_bind = format!(
                "{}:{CONFIG_IN_CONTAINER}:ro",
                loaded.root.join(&rel).display()
            );
            let storage_bind = format!("{}:{STORAGE_IN_CONTAINER}", m.storage.display());
            assert_eq!(volumes, [config_bind, storage_bind]);
            for v in &volumes {
                assert!(
                    v.starts_with('/'),
                    "{v}: Docker takes a relative source for a volume name"
                );
            }
            let cfg = parse(&file.content);
            assert_eq!(
                get(&cfg, "proxy.remoteurl").as_str(),
                Some(remote_url(upstream).as_str())
            );
            assert_eq!(
                get(&cfg, "storage.filesystem.rootdirectory").as_str(),
                Some(STORAGE_IN_CONTAINER)
            );
            assert_eq!(get(&cfg, "http.addr").as_str(), Some(ADDR_IN_CONTAINER));
            assert!(m
                .storage
                .starts_with(loaded.resolve(&loaded.config.ci_cache.dir)));

            // The cluster waits for the mirror, and the nodes' registries.yaml sends the
            // upstream's pulls to the container's port 5000 on the cluster network.
            assert!(plan.step("cluster").unwrap().needs.contains(&step.id));
            let k3d_config = plan
                .generated
                .iter()
                .find(|f| f.path == crate::plan::K3D_CONFIG_PATH)
                .unwrap();
            let k3d = parse(&k3d_config.content);
            let uses: Vec<&str> = k3d["registries"]["use"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|u| u.as_str().unwrap())
                .collect();
            assert!(
                uses.contains(&format!("{}:5000", m.container).as_str()),
                "{uses:?}"
            );
            let registries_yaml = parse(k3d["registries"]["config"].as_str().unwrap());
            let endpoints = &registries_yaml["mirrors"][upstream.as_str()]["endpoint"];
            assert_eq!(
                endpoints,
                &parse(&format!("[\"http://{}:5000\"]", m.container))
            );
        }
    }

    #[test]
    fn the_default_upstreams_cover_k3s_and_calico() {
        let loaded = ci_loaded("version = 1\n");
        let ups = &loaded.config.ci_cache.upstreams;
        // k3s system images (docker.io/rancher/*), the Tigera operator and Calico (quay.io).
        for needed in ["docker.io", "quay.io"] {
            assert!(
                ups.iter().any(|u| u == needed),
                "{needed} missing from {ups:?}"
            );
        }
    }

    #[test]
    fn mirrors_are_off_without_the_ci_profile() {
        let loaded = load_text(
            "version = 1\n",
            "devenv.toml",
            Path::new("/work/demo"),
            None,
            None,
        )
        .unwrap();
        let plan = Plan::build(&loaded);
        assert!(!plan
            .steps
            .iter()
            .any(|s| matches!(s.kind, StepKind::CacheMirror(_))));
        assert!(!plan
            .generated
            .iter()
            .any(|f| f.path.starts_with(&format!("{CONFIG_DIR}/mirror-"))));
    }

    #[test]
    fn a_changed_upstream_list_changes_the_steps_and_files() {
        let loaded =
            ci_loaded("version = 1\n[ci_cache]\nupstreams = [\"registry.example.com:5443\"]\n");
        let plan = Plan::build(&loaded);
        let ids: Vec<&str> = plan
            .steps
            .iter()
            .filter(|s| matches!(s.kind, StepKind::CacheMirror(_)))
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(ids, ["mirror:registry.example.com:5443"]);
        let file = plan
            .generated
            .iter()
            .find(|f| f.path == ".devenv/cache/mirror-registry-example-com-5443.yml")
            .unwrap();
        assert_eq!(
            get(&parse(&file.content), "proxy.remoteurl").as_str(),
            Some("https://registry.example.com:5443")
        );
    }
}
