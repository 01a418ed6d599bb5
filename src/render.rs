//! Files devenv generates from `templates/` into `.devenv/`: the k3d cluster config and the
//! Calico custom resources. Rendering is pure (text in, text out) so that the same config always
//! gives byte-identical files; writing them is atomic.

use std::path::{Path, PathBuf};

use crate::config::validate::parse_port_mapping;
use crate::config::Loaded;
use crate::mirror::CacheMirror;
use crate::template::{fill, yq};

pub const K3D_CONFIG_TEMPLATE: &str = include_str!("../templates/k3d-config.yaml");
pub const CALICO_INSTALLATION_TEMPLATE: &str =
    include_str!("../templates/calico/installation.yaml");

/// The folder devenv keeps its state and generated files in.
pub fn state_dir(root: &Path) -> PathBuf {
    root.join(".devenv")
}

/// Names derived from the project name (see docs/architecture.md, "Names devenv uses").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub project: String,
    pub cluster: String,
    pub context: String,
    /// The k3d registry name (`k3d registry create NAME`).
    pub registry: String,
    /// Its container name: k3d prefixes `k3d-`.
    pub registry_container: String,
    /// This checkout's ownership id (`.devenv/checkout-id`), `None` before the first
    /// `plan`/`up` made one (see [`crate::state::checkout_id`]).
    pub owner_id: Option<String>,
}

/// The docker label devenv puts on every node of the clusters it creates, with this
/// checkout's ownership id as its value. Why this key: `k3d node list -o json` shows only
/// the labels whose key starts with `k3d` (k3d-io/k3d v5.9.0
/// `pkg/runtimes/docker/translate.go`: `if strings.HasPrefix(k, "k3d")`), and k3d refuses
/// user labels starting with `k3d.`, `k3s.` or named `app` (`cmd/util/runtimeLabels.go`:
/// `runtime label "%s" is reserved for internal usage`): `k3d-devenv.` is both shown and
/// allowed.
pub const OWNER_LABEL: &str = "k3d-devenv.owner";

/// The label recording the k3s image the nodes were created from (`k3d node list` shows
/// the image's docker id, not its name).
pub const IMAGE_LABEL: &str = "k3d-devenv.image";

/// `k3d registry create` takes no label (k3d-io/k3d v5.9.0 `cmd/registry/registryCreate.go`
/// has no `--runtime-label`): devenv's registries carry the ownership id in the path of an
/// anonymous volume, `--volume /devenv/owner/<id>`, which `k3d node list -o json` shows in
/// the node's `volumes` (HostConfig.Binds, `pkg/runtimes/docker/translate.go`) and which
/// docker removes with the container (`RemoveVolumes: true`, `pkg/runtimes/docker/container.go`).
pub const OWNER_VOLUME_DIR: &str = "/devenv/owner";

/// The `--volume` value that marks a registry as this checkout's.
pub fn owner_volume(id: &str) -> String {
    format!("{OWNER_VOLUME_DIR}/{id}")
}

impl Names {
    pub fn new(loaded: &Loaded) -> Names {
        let project = loaded.project.clone();
        let registry = loaded
            .config
            .registry
            .name
            .clone()
            .unwrap_or_else(|| format!("{project}-registry"));
        Names {
            cluster: project.clone(),
            context: crate::kube::k3d_context(&project),
            registry_container: format!("k3d-{registry}"),
            registry,
            project,
            owner_id: crate::state::read_checkout_id(&state_dir(&loaded.root)),
        }
    }
}

/// `registries.yaml` mirrors so that `localhost:PORT/IMAGE` resolves inside the nodes too:
/// one image reference works from the host (push) and from the nodes (pull), as kind's
/// local-registry guide does with containerd's hosts.toml.
pub fn registry_mirrors_yaml(loaded: &Loaded, names: &Names) -> String {
    let port = loaded.config.registry.port;
    let mut yaml = String::from("mirrors:\n");
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        yaml.push_str(&format!(
            "  {}:\n    endpoint:\n      - http://{}:5000\n",
            yq(&host),
            names.registry_container
        ));
    }
    if loaded.config.ci_cache.enabled {
        // containerd asks a mirror first and falls back to the upstream itself when the mirror
        // fails (k3s keeps the default endpoint), so a broken cache slows pulls, never breaks
        // them. `docker.io` is the host containerd sees in image names; the mirror proxies
        // Docker Hub's API host, registry-1.docker.io (`mirror::remote_url`).
        for (upstream, mirror) in ci_cache_mirrors(loaded, names) {
            yaml.push_str(&format!(
                "  {}:\n    endpoint:\n      - http://{}:5000\n",
                yq(&upstream),
                mirror.container
            ));
        }
    }
    yaml
}

/// The mirrors of `[ci_cache]`, in the order of `upstreams`.
pub fn ci_cache_mirrors(loaded: &Loaded, names: &Names) -> Vec<(String, CacheMirror)> {
    let dir = loaded.resolve(&loaded.config.ci_cache.dir);
    loaded
        .config
        .ci_cache
        .upstreams
        .iter()
        .map(|u| {
            let slug = crate::mirror::slug(u);
            let name = format!("{}-mirror-{slug}", names.project);
            (
                u.clone(),
                CacheMirror {
                    container: format!("k3d-{name}"),
                    storage: dir.join(&slug),
                    name,
                    remote_url: crate::mirror::remote_url(u),
                },
            )
        })
        .collect()
}

/// The k3d `v1alpha5` Simple config of the cluster.
pub fn k3d_config(loaded: &Loaded, names: &Names) -> String {
    let c = &loaded.config.cluster;
    let mut ports = String::new();
    if !c.ports.is_empty() {
        ports.push_str("ports:\n");
        for spec in &c.ports {
            // Validated at load time; a mapping without a host address binds to api_host.
            let m = parse_port_mapping(spec).expect("port mappings are validated at load");
            let host = m.host.clone().unwrap_or_else(|| c.api_host.clone());
            let port = match m.host_port {
                Some(hp) => format!("{host}:{hp}:{}/{}", m.container_port, m.protocol),
                None => format!("{}/{}", m.container_port, m.protocol),
            };
            ports.push_str(&format!("  - port: {}\n    nodeFilters:\n", yq(&port)));
            for f in &m.node_filters {
                ports.push_str(&format!("      - {}\n", yq(f)));
            }
        }
    }
    let mut registries = String::new();
    if loaded.config.registry.provider == crate::config::schema::RegistryProvider::K3d {
        registries.push_str("registries:\n  use:\n");
        registries.push_str(&format!(
            "    - {}\n",
            yq(&format!(
                "{}:{}",
                names.registry_container, loaded.config.registry.port
            ))
        ));
        if loaded.config.ci_cache.enabled {
            for (_, m) in ci_cache_mirrors(loaded, names) {
                registries.push_str(&format!("    - {}\n", yq(&format!("{}:5000", m.container))));
            }
        }
        registries.push_str("  config: |\n");
        for line in registry_mirrors_yaml(loaded, names).lines() {
            registries.push_str(&format!("    {line}\n"));
        }
    }
    let mut args: Vec<(String, Vec<String>)> = vec![
        ("--flannel-backend=none".into(), vec!["server:*".into()]),
        ("--disable-network-policy".into(), vec!["server:*".into()]),
        (
            format!("--cluster-cidr={}", c.cidr),
            vec!["server:*".into()],
        ),
        (
            format!("--service-cidr={}", c.service_cidr),
            vec!["server:*".into()],
        ),
    ];
    args.extend(c.k3s_args.iter().map(|a| (a.arg.clone(), a.nodes.clone())));
    let mut k3s_args = String::new();
    for (arg, filters) in args {
        k3s_args.push_str(&format!(
            "      - arg: {}\n        nodeFilters:\n",
            yq(&arg)
        ));
        for f in filters {
            k3s_args.push_str(&format!("          - {}\n", yq(&f)));
        }
    }
    fill(
        K3D_CONFIG_TEMPLATE,
        &[
            ("name", yq(&names.cluster)),
            ("servers", c.servers.to_string()),
            ("agents", c.agents.to_string()),
            ("image", yq(&c.image)),
            ("api_host", yq(&c.api_host)),
            ("api_port", yq(&c.api_port.to_string())),
            ("ports", ports),
            ("registries", registries),
            ("timeout", yq(&format!("{}s", c.timeout.as_secs()))),
            ("k3s_args", k3s_args),
            ("runtime", runtime_labels(names, &c.image)),
        ],
    )
}

/// `options.runtime.labels`: every node (`all`, which includes the serverlb: k3d
/// `pkg/util/filter.go`) gets this checkout's ownership id and the k3s image's name.
fn runtime_labels(names: &Names, image: &str) -> String {
    let mut labels = vec![format!("{IMAGE_LABEL}={image}")];
    if let Some(id) = &names.owner_id {
        labels.insert(0, format!("{OWNER_LABEL}={id}"));
    }
    let mut out = String::from("  runtime:\n    # devenv's ownership id: `down` deletes only nodes that carry it.\n    labels:\n");
    for l in labels {
        out.push_str(&format!(
            "      - label: {}\n        nodeFilters:\n          - all\n",
            yq(&l)
        ));
    }
    out
}

/// The Calico `Installation` (pool CIDR = cluster CIDR) and `APIServer`.
pub fn calico_installation(loaded: &Loaded) -> String {
    fill(
        CALICO_INSTALLATION_TEMPLATE,
        &[
            ("cidr", loaded.config.cluster.cidr.clone()),
            (
                "encapsulation",
                loaded.config.calico.encapsulation.to_string(),
            ),
        ],
    )
}

/// A file devenv generates, with its content (written by `plan` and `up`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Path relative to the project folder, e.g. `.devenv/k3d-config.yaml`.
    pub path: String,
    pub content: String,
}

/// Write generated files atomically, skipping those whose content is unchanged.
pub fn write_files(root: &Path, files: &[GeneratedFile]) -> std::io::Result<()> {
    for f in files {
        let path = root.join(&f.path);
        if std::fs::read(&path)
            .map(|old| old == f.content.as_bytes())
            .unwrap_or(false)
        {
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        crate::state::write_atomic(&path, f.content.as_bytes())?;
    }
    Ok(())
}
