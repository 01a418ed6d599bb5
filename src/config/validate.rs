//! Checks on values and cross-references, run after the types are known.
//! Every problem is collected (not just the first), each with its key and a fix.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use ipnet::Ipv4Net;

use super::diagnostic::{closest, ConfigError};
use super::load::{join_key, Loaded};
use super::paths::PathFence;
use super::schema::{ClusterProvider, RegistryProvider, WaitSpec};

const MAX_SERVERS: u32 = 9;
const MAX_AGENTS: u32 = 50;
/// k3d refuses cluster names longer than 32 characters.
const MAX_PROJECT_NAME: usize = 32;

/// k3s flags devenv sets itself from [cluster]; setting them again would contradict Calico.
const RESERVED_K3S_FLAGS: &[(&str, &str)] = &[
    (
        "--flannel-backend",
        "devenv sets --flannel-backend=none: Calico is the CNI",
    ),
    (
        "--disable-network-policy",
        "devenv always sets it: Calico enforces NetworkPolicies",
    ),
    (
        "--cluster-cidr",
        "set cluster.cidr instead: it is also the Calico pool",
    ),
    ("--service-cidr", "set cluster.service_cidr instead"),
];

struct Errors<'a> {
    loaded: &'a Loaded,
    out: Vec<ConfigError>,
}

impl Errors<'_> {
    fn push(
        &mut self,
        key: impl Into<String>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        let key = key.into();
        let e = self.loaded.error_at(&key, message, Some(help.into()));
        self.out.push(e);
    }
}

pub fn validate(loaded: &Loaded) -> Vec<ConfigError> {
    let mut errs = Errors {
        loaded,
        out: Vec::new(),
    };
    let c = &loaded.config;

    // project
    if let Some(name) = &c.project.name {
        if let Err(why) = check_dns_label(name, MAX_PROJECT_NAME) {
            errs.push(
                "project.name",
                format!("project name {name:?} is not valid: {why}"),
                format!(
                    "use lowercase letters, digits and '-', starting with a letter, at most {MAX_PROJECT_NAME} characters (it names the k3d cluster), e.g. \"{}\"",
                    super::load::folder_project_name(std::path::Path::new(&name.to_lowercase()))
                ),
            );
        }
    }

    // Paths outside the repository holding devenv.toml: only those devenv.toml allows.
    let (fence, fence_errors) = path_fence(loaded);
    errs.out.extend(fence_errors);
    let fenced =
        |errs: &mut Errors<'_>, key: &str, what: &str, _written: &str, rel: &std::path::Path| {
            if let Some(e) = outside_repository(loaded, &fence, key, what, rel) {
                errs.out.push(e);
            }
        };

    // cluster
    let cl = &c.cluster;
    if cl.provider == ClusterProvider::K3d {
        if cl.servers == 0 || cl.servers > MAX_SERVERS {
            errs.push(
                "cluster.servers",
                format!(
                    "cluster.servers must be between 1 and {MAX_SERVERS}, found {}",
                    cl.servers
                ),
                "a cluster needs at least one server; 1 (or 3 for HA) is usual",
            );
        }
        if cl.agents > MAX_AGENTS {
            errs.push(
                "cluster.agents",
                format!(
                    "cluster.agents must be at most {MAX_AGENTS}, found {}",
                    cl.agents
                ),
                "lower cluster.agents: each agent is a container on this machine",
            );
        }
        if cl.context.is_some() {
            errs.push(
                "cluster.context",
                "cluster.context only applies to provider = \"existing\"",
                "remove cluster.context, or set cluster.provider = \"existing\"",
            );
        }
    }
    // provider = "existing" without cluster.context: the context must come from --context
    // (checked when a command runs, against the kubeconfig).
    match image_tag(&cl.image) {
        None => errs.push(
            "cluster.image",
            format!("k3s image {:?} is not pinned to a tag", cl.image),
            format!(
                "pin a version, e.g. \"{}\"",
                super::schema::DEFAULT_K3S_IMAGE
            ),
        ),
        Some("latest") | Some("stable") => errs.push(
            "cluster.image",
            format!("k3s image {:?} uses a moving tag", cl.image),
            format!(
                "pin a version so every teammate gets the same cluster, e.g. \"{}\"",
                super::schema::DEFAULT_K3S_IMAGE
            ),
        ),
        Some(_) => {}
    }
    if cl.api_host.parse::<IpAddr>().is_err() {
        errs.push(
            "cluster.api_host",
            format!("cluster.api_host {:?} is not an IP address", cl.api_host),
            "use 127.0.0.1 (the default) so the API is reachable from this machine only",
        );
    }
    if cl.api_port == 0 {
        errs.push(
            "cluster.api_port",
            "cluster.api_port must be a port from 1 to 65535, found 0",
            "pick a free port, e.g. 6550 (a fixed port keeps kubeconfigs stable across re-creates)",
        );
    }
    let mut host_ports: BTreeMap<(String, u16), String> = BTreeMap::new();
    if cl.provider == ClusterProvider::K3d {
        host_ports.insert(
            (cl.api_host.clone(), cl.api_port),
            "cluster.api_port".into(),
        );
    }
    if c.registry.provider == RegistryProvider::K3d {
        if c.registry.port == 0 {
            errs.push(
                "registry.port",
                "registry.port must be a port from 1 to 65535, found 0",
                "pick a free port, e.g. 5111 (avoid 5000: macOS AirPlay Receiver holds it)",
            );
        }
        let key = (c.registry.bind.clone(), c.registry.port);
        if let Some(other) = clash(&host_ports, &key) {
            // Point at the key the user wrote (the other one may be a default).
            let at = if loaded.is_written("registry.port") || !loaded.is_written(&other) {
                "registry.port".to_string()
            } else {
                other.clone()
            };
            let mine = if at == "registry.port" {
                other.clone()
            } else {
                "registry.port".to_string()
            };
            errs.push(
                &at,
                format!(
                    "host port {} is used twice: by {at} and {mine}",
                    c.registry.port
                ),
                format!("give each host port its own number, e.g. change {at}"),
            );
        } else {
            host_ports.insert(key, "registry.port".into());
        }
    }
    for (i, spec) in cl.ports.iter().enumerate() {
        let key = format!("cluster.ports[{i}]");
        match parse_port_mapping(spec) {
            Err(why) => errs.push(&key, format!("port mapping {spec:?} is not valid: {why}"), "write it as [HOST:][HOSTPORT:]CONTAINERPORT[/PROTOCOL][@NODEFILTER], e.g. \"8080:80@loadbalancer\""),
            Ok(m) => {
                if let Some(hp) = m.host_port {
                    let host = m.host.clone().unwrap_or_else(|| cl.api_host.clone());
                    let k = (host, hp);
                    if let Some(other) = clash(&host_ports, &k) {
                        errs.push(&key, format!("host port {hp} is used twice: by {key} and {other}"), format!("give each host port its own number (a host address of 0.0.0.0 takes the port on every address)"));
                    } else {
                        host_ports.insert(k, key.clone());
                    }
                }
            }
        }
    }
    let cidr = match cl.cidr.parse::<Ipv4Net>() {
        Ok(n) if n.network() != n.addr() => {
            errs.push(
                "cluster.cidr",
                format!("cluster.cidr {} has host bits set", cl.cidr),
                format!("use the network address: \"{}\"", n.trunc()),
            );
            None
        }
        Ok(n) if n.prefix_len() > 22 || n.prefix_len() < 8 => {
            errs.push("cluster.cidr", format!("cluster.cidr {} is a /{} network", cl.cidr, n.prefix_len()), "use a prefix between /8 and /22: k3s gives each node a /24 from it, e.g. \"10.42.0.0/16\"");
            None
        }
        Ok(n) => Some(n),
        Err(_) => {
            errs.push(
                "cluster.cidr",
                format!("cluster.cidr {:?} is not an IPv4 CIDR", cl.cidr),
                "write it like \"10.42.0.0/16\" (it is also the Calico IP pool)",
            );
            None
        }
    };
    match cl.service_cidr.parse::<Ipv4Net>() {
        Ok(s) => {
            if let Some(p) = cidr {
                if p.contains(&s.network()) || s.contains(&p.network()) {
                    errs.push("cluster.service_cidr", format!("cluster.service_cidr {} overlaps cluster.cidr {}", s, p), "pick two separate ranges, e.g. 10.42.0.0/16 for pods and 10.43.0.0/16 for services");
                }
            }
        }
        Err(_) => errs.push(
            "cluster.service_cidr",
            format!(
                "cluster.service_cidr {:?} is not an IPv4 CIDR",
                cl.service_cidr
            ),
            "write it like \"10.43.0.0/16\"",
        ),
    }
    for (i, a) in cl.k3s_args.iter().enumerate() {
        let key = format!("cluster.k3s_args[{i}]");
        if !a.arg.starts_with('-') {
            errs.push(
                format!("{key}.arg"),
                format!("k3s argument {:?} is not a flag", a.arg),
                "write the k3s flag with its dashes, e.g. \"--disable=traefik\"",
            );
        }
        let flag = a.arg.split('=').next().unwrap_or("");
        if let Some((_, why)) = RESERVED_K3S_FLAGS.iter().find(|(f, _)| *f == flag) {
            errs.push(
                format!("{key}.arg"),
                format!("k3s argument {flag} is managed by devenv"),
                format!("remove it: {why}"),
            );
        }
        if a.nodes.is_empty() {
            errs.push(format!("{key}.nodes"), "k3s argument has no node filter", "k3d needs one whenever the cluster has more than one node: use [\"server:*\"], [\"agent:*\"] or [\"all\"]");
        }
        for (j, f) in a.nodes.iter().enumerate() {
            if let Err(why) = check_node_filter(f) {
                errs.push(
                    format!("{key}.nodes[{j}]"),
                    format!("node filter {f:?} is not valid: {why}"),
                    "use k3d's syntax: server:*, server:0, agent:0,1, agent:1-, all, loadbalancer",
                );
            }
        }
    }
    if !cl.allowed_contexts.is_empty() {
        if let Some(ctx) = &cl.context {
            if !cl.allowed_contexts.iter().any(|p| glob_match(p, ctx)) {
                errs.push(
                    "cluster.context",
                    format!("context {ctx:?} is not in cluster.allowed_contexts"),
                    format!(
                        "add it to cluster.allowed_contexts ({}) if deploying there is intended",
                        cl.allowed_contexts.join(", ")
                    ),
                );
            }
        }
    }

    if let Err(why) =
        crate::tenancy::NamespaceMapping::new(&cl.namespace_template, "owner", "project")
    {
        errs.push(
            "cluster.namespace_template",
            format!(
                "cluster.namespace_template {:?} is not valid: {why}",
                cl.namespace_template
            ),
            "use {namespace} and {owner}, e.g. \"{namespace}-{owner}\" or \"{owner}-{namespace}\"",
        );
    }
    for (i, ns) in cl.shared_namespaces.iter().enumerate() {
        if let Err(why) = check_dns_label(ns, 63) {
            errs.push(
                format!("cluster.shared_namespaces[{i}]"),
                format!("shared namespace {ns:?} is not valid: {why}"),
                "use a namespace name: lowercase letters, digits and '-'",
            );
        }
    }
    if cl.provider == ClusterProvider::Existing && c.registry.provider == RegistryProvider::K3d {
        errs.push("registry.provider", "a k3d registry on this machine cannot serve an existing (shared) cluster", "set registry.provider = \"external\" with registry.address, the registry the cluster pulls from");
    }

    // registry
    let r = &c.registry;
    match r.provider {
        RegistryProvider::K3d => {
            if r.bind.parse::<IpAddr>().is_err() {
                errs.push("registry.bind", format!("registry.bind {:?} is not an IP address", r.bind), "use 127.0.0.1 (the default) so only this machine can push");
            }
            if let Some(n) = &r.name {
                if let Err(why) = check_dns_label(n, 59) {
                    errs.push("registry.name", format!("registry name {n:?} is not valid: {why}"), "use lowercase letters, digits and '-' (its container is named k3d-NAME)");
                }
            }
            if r.address.is_some() {
                errs.push("registry.address", "registry.address only applies to provider = \"external\"", "remove it, or set registry.provider = \"external\"");
            }
        }
        RegistryProvider::External => match &r.address {
            None => errs.push("registry.provider", "provider = \"external\" needs registry.address", "set registry.address to the registry (and path) to push to, e.g. \"registry.example.com/team\""),
            Some(a) if a.contains("://") || a.contains(char::is_whitespace) || a.is_empty() => {
                errs.push("registry.address", format!("registry.address {a:?} is not a registry address"), "write host[:port][/path] without a scheme, e.g. \"registry.example.com:5000/team\"")
            }
            _ => {}
        },
    }

    // calico
    if !is_semver_tag(&c.calico.version) {
        errs.push(
            "calico.version",
            format!("calico.version {:?} is not a release tag", c.calico.version),
            format!(
                "write it like \"{}\"",
                super::schema::DEFAULT_CALICO_VERSION
            ),
        );
    } else if c.calico.manifests.is_none() {
        // A download devenv cannot check is refused: say so now, not after the cluster and
        // the images are built.
        let v = c.calico.version.as_str();
        let missing: Vec<&str> = crate::calico::manifest_files(v)
            .iter()
            .copied()
            .filter(|f| {
                !c.calico.sha256.contains_key(*f) && crate::calico::pinned_sha256(v, f).is_none()
            })
            .collect();
        if !missing.is_empty() {
            let keys = missing
                .iter()
                .map(|f| join_key("calico.sha256", f))
                .collect::<Vec<_>>()
                .join(" and ");
            errs.push(
                "calico.version",
                format!(
                    "Calico {v} is not pinned by this devenv and calico.sha256 gives no digest for {}",
                    missing.join(" and ")
                ),
                format!(
                    "use a version devenv pins ({}), or set {keys} (the sha256sum of each file), or download the files and set calico.manifests = \"DIR\"",
                    crate::calico::pinned_versions().join(", ")
                ),
            );
        }
    }
    for (file, sum) in &c.calico.sha256 {
        let key = join_key("calico.sha256", file);
        if sum.len() != 64 || !sum.chars().all(|ch| ch.is_ascii_hexdigit()) {
            errs.push(
                &key,
                format!("sha256 for {file} is not 64 hex digits"),
                "paste the output of `sha256sum FILE` (the first field)",
            );
        }
        if !matches!(file.as_str(), "operator-crds.yaml" | "tigera-operator.yaml") {
            errs.push(
                &key,
                format!("unknown Calico manifest {file:?}"),
                "the files are operator-crds.yaml and tigera-operator.yaml",
            );
        }
    }
    if let Some(m) = &c.calico.manifests {
        let dir = loaded.resolve(m);
        if dir.is_file() {
            errs.push(
                "calico.manifests",
                format!("calico.manifests {m} is a file, not a folder"),
                format!(
                    "point calico.manifests at the folder holding operator-crds.yaml and tigera-operator.yaml, e.g. \"{}\"",
                    parent_of(m)
                ),
            );
        } else if !dir.join("tigera-operator.yaml").is_file() {
            errs.push("calico.manifests", format!("{} has no tigera-operator.yaml", dir.display()), "point calico.manifests at a folder holding operator-crds.yaml and tigera-operator.yaml of your Calico version");
        }
    }

    // images
    let mut image_names: HashMap<&str, usize> = HashMap::new();
    let mut stands_for: HashMap<String, usize> = HashMap::new();
    for (i, img) in c.images.iter().enumerate() {
        let key = format!("images[{i}]");
        if let Err(why) = check_repository(&img.name) {
            errs.push(format!("{key}.name"), format!("image name {:?} is not a valid repository name: {why}", img.name), "use lowercase letters, digits, '.', '_', '-' and '/', e.g. \"api\" or \"team/api\"");
        }
        if let Some(prev) = image_names.insert(img.name.as_str(), i) {
            errs.push(
                format!("{key}.name"),
                format!(
                    "image {:?} is declared twice (also images[{prev}])",
                    img.name
                ),
                "give each [[images]] entry its own name",
            );
        }
        let ctx = loaded.resolve(&img.context);
        if ctx.is_file() {
            errs.push(
                format!("{key}.context"),
                format!(
                    "build context {} of image {:?} is a file, not a folder",
                    img.context, img.name
                ),
                format!(
                    "`context` is the folder sent to docker build, e.g. \"{}\"; a Dockerfile goes in `dockerfile`, relative to the context",
                    parent_of(&img.context)
                ),
            );
        } else if !ctx.is_dir() {
            errs.push(
                format!("{key}.context"),
                format!(
                    "build context {} of image {:?} does not exist",
                    img.context, img.name
                ),
                "point `context` at a folder, relative to devenv.toml",
            );
        } else if fence.check(&ctx).is_err() {
            fenced(
                &mut errs,
                &format!("{key}.context"),
                &format!("build context {:?} of image {:?}", img.context, img.name),
                &img.context,
                std::path::Path::new(&img.context),
            );
        } else {
            let df = img.dockerfile.as_deref().unwrap_or("Dockerfile");
            let df_path = ctx.join(df);
            if df_path.is_dir() {
                errs.push(
                    format!(
                        "{key}{}",
                        if img.dockerfile.is_some() {
                            ".dockerfile"
                        } else {
                            ".context"
                        }
                    ),
                    format!("image {:?}: {df} in {} is a folder, not a Dockerfile", img.name, img.context),
                    "set `dockerfile` to the Dockerfile's path relative to the context, e.g. \"build/Dockerfile\"",
                );
            } else if df_path.is_file() {
                // Given or the default one: either may be a symlink out of the repository.
                fenced(
                    &mut errs,
                    &format!(
                        "{key}{}",
                        if img.dockerfile.is_some() {
                            ".dockerfile"
                        } else {
                            ".context"
                        }
                    ),
                    &format!("Dockerfile {df:?} of image {:?}", img.name),
                    df,
                    &std::path::Path::new(&img.context).join(df),
                );
            } else {
                errs.push(
                    format!(
                        "{key}{}",
                        if img.dockerfile.is_some() {
                            ".dockerfile"
                        } else {
                            ".context"
                        }
                    ),
                    format!("image {:?}: {} has no {df}", img.name, img.context),
                    format!(
                        "create {}/{df}, or set `dockerfile` to its path relative to the context",
                        img.context.trim_end_matches('/')
                    ),
                );
            }
        }
        for (arg, _) in img.build_args.iter() {
            if arg.is_empty() || arg.contains(['=', ' ']) {
                errs.push(
                    format!("{key}.build_args"),
                    format!("build argument name {arg:?} is not valid"),
                    "names are like VERSION or GO_FLAGS (no '=' or spaces)",
                );
            }
        }
        if let Some(p) = &img.platform {
            if p.split('/').count() < 2 || p.contains(' ') {
                errs.push(
                    format!("{key}.platform"),
                    format!("platform {p:?} is not os/arch"),
                    "write it like \"linux/amd64\" or \"linux/arm64\"",
                );
            }
        }
        for (j, t) in img.tags.iter().enumerate() {
            if !is_docker_tag(t) {
                errs.push(
                    format!("{key}.tags[{j}]"),
                    format!("tag {t:?} is not a valid Docker tag"),
                    "tags are up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'",
                );
            }
        }
        let sf = img.stands_for.clone().unwrap_or_else(|| img.name.clone());
        let sf_name = strip_tag_and_digest(&sf);
        if sf_name.is_empty() || sf_name.contains(char::is_whitespace) {
            errs.push(
                format!("{key}.stands_for"),
                format!("stands_for {sf:?} is not an image reference"),
                "write the reference your manifests use, e.g. \"ghcr.io/org/api\"",
            );
        } else if let Some(prev) = stands_for.insert(sf_name.to_string(), i) {
            errs.push(
                format!("{key}.stands_for"),
                format!("images[{prev}] and images[{i}] both stand for {sf_name:?}"),
                "each manifest image reference can be replaced by one image only",
            );
        }
    }

    // overlays
    let mut overlay_index: HashMap<&str, usize> = HashMap::new();
    for (i, o) in c.overlays.iter().enumerate() {
        let key = format!("overlays[{i}]");
        if let Err(why) = check_dns_label(&o.name, 63) {
            errs.push(
                format!("{key}.name"),
                format!("overlay name {:?} is not valid: {why}", o.name),
                "use lowercase letters, digits and '-', e.g. \"infra\"",
            );
        }
        if let Some(prev) = overlay_index.insert(o.name.as_str(), i) {
            errs.push(
                format!("{key}.name"),
                format!(
                    "overlay {:?} is declared twice (also overlays[{prev}])",
                    o.name
                ),
                "give each [[overlays]] entry its own name",
            );
        }
        let dir = loaded.resolve(&o.path);
        if dir.is_file() {
            errs.push(
                format!("{key}.path"),
                format!("overlay {:?}: path {} is a file, not a folder", o.name, o.path),
                format!(
                    "`path` is the Kustomize folder (the one holding kustomization.yaml), e.g. \"{}\"",
                    parent_of(&o.path)
                ),
            );
        } else if !dir.is_dir() {
            errs.push(format!("{key}.path"), format!("overlay {:?}: folder {} does not exist", o.name, o.path), "point `path` at a Kustomize folder (with a kustomization.yaml), relative to devenv.toml");
        } else if fence.check(&dir).is_err() {
            fenced(
                &mut errs,
                &format!("{key}.path"),
                &format!("path {:?} of overlay {:?}", o.path, o.name),
                &o.path,
                std::path::Path::new(&o.path),
            );
        } else if !["kustomization.yaml", "kustomization.yml", "Kustomization"]
            .iter()
            .any(|f| dir.join(f).is_file())
        {
            errs.push(
                format!("{key}.path"),
                format!("overlay {:?}: {} has no kustomization.yaml", o.name, o.path),
                "create a kustomization.yaml there, or point `path` at the right folder",
            );
        }
        match &o.wait {
            WaitSpec::Mode(m) if m != "auto" && m != "none" => {
                let help = if m.contains('/') {
                    // One object written as a string: the list form, even for one.
                    let items: Vec<String> = m
                        .split(',')
                        .map(str::trim)
                        .filter(|i| !i.is_empty())
                        .map(|i| format!("{i:?}"))
                        .collect();
                    format!(
                        "a list of objects is written in brackets, even with one: `wait = [{}]`",
                        items.join(", ")
                    )
                } else {
                    "use \"auto\", \"none\", or a list such as [\"deployment/api\", \"job/migrate\"]".to_string()
                };
                errs.push(
                    format!("{key}.wait"),
                    format!("wait = {m:?} is not understood"),
                    help,
                );
            }
            WaitSpec::Objects(list) => {
                for (j, w) in list.iter().enumerate() {
                    if let Err(why) = check_wait_object(w) {
                        errs.push(format!("{key}.wait[{j}]"), format!("wait target {w:?} is not valid: {why}"), "write KIND/NAME with KIND one of deployment, statefulset, daemonset, job (optionally NAMESPACE/KIND/NAME)");
                    }
                }
            }
            _ => {}
        }
        if o.timeout.0.is_zero() {
            errs.push(
                format!("{key}.timeout"),
                "overlay timeout is zero",
                "give it time to become ready, e.g. \"5m\"",
            );
        }
    }
    for (i, o) in c.overlays.iter().enumerate() {
        for (j, d) in o.depends_on.iter().enumerate() {
            let key = format!("overlays[{i}].depends_on[{j}]");
            if d == &o.name {
                errs.push(
                    &key,
                    format!("overlay {:?} depends on itself", o.name),
                    "remove it from its own depends_on",
                );
            } else if !overlay_index.contains_key(d.as_str()) {
                let hint = closest(d, overlay_index.keys().copied().filter(|n| !n.is_empty()))
                    .map(|c| format!("did you mean {c:?}? "))
                    .unwrap_or_default();
                let names: BTreeSet<&str> = overlay_index
                    .keys()
                    .copied()
                    .filter(|n| !n.is_empty())
                    .collect();
                errs.push(
                    &key,
                    format!(
                        "overlay {:?} depends on {d:?}, which is not an overlay",
                        o.name
                    ),
                    format!(
                        "{hint}known overlays: {}",
                        names.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
        }
    }
    if let Some(cycle) = find_cycle(c) {
        let first = overlay_index.get(cycle[0].as_str()).copied().unwrap_or(0);
        errs.push(
            format!("overlays[{first}].depends_on"),
            format!(
                "overlays depend on each other in a cycle: {}",
                cycle.join(" -> ")
            ),
            "remove one of these depends_on entries so the overlays have an order",
        );
    }

    // namespaces
    for name in c.namespaces.keys() {
        if let Err(why) = check_dns_label(name, 63) {
            errs.push(
                join_key("namespaces", name),
                format!("namespace name {name:?} is not valid: {why}"),
                "use lowercase letters, digits and '-', starting with a letter",
            );
        }
    }

    // Every other timeout: zero would fail at once, which is never what was meant.
    for (key, t) in [
        ("cluster.timeout", c.cluster.timeout),
        ("calico.timeout", c.calico.timeout),
        ("build.timeout", c.build.timeout),
        ("verify.timeout", c.verify.timeout),
    ] {
        if t.0.is_zero() {
            errs.push(key, format!("{key} is zero"), "give it time, e.g. \"5m\"");
        }
    }

    // ci cache
    if loaded.resolve(&c.ci_cache.dir).is_file() {
        errs.push(
            "ci_cache.dir",
            format!("ci_cache.dir {} is a file, not a folder", c.ci_cache.dir),
            "point it at a folder (devenv creates it), e.g. \".devenv/cache/registry-mirror\"",
        );
    }
    for (i, u) in c.ci_cache.upstreams.iter().enumerate() {
        if u.is_empty() || u.contains("://") || u.contains('/') {
            errs.push(
                format!("ci_cache.upstreams[{i}]"),
                format!("upstream {u:?} is not a registry host"),
                "write the registry host, e.g. \"docker.io\" or \"quay.io\"",
            );
        }
    }
    // [tools]: each spec a version or a range (src/tools.rs).
    errs.out.extend(super::tools::validate(loaded));
    // A program devenv runs (build.docker, build.kustomize) that is a file of the repository
    // would let a cloned repository run anything on this machine, as the user, before any
    // container: the fence above would mean nothing. Programs come from PATH or from an
    // absolute path outside the repository.
    let programs = [
        ("build.docker", Some(c.build.docker.as_str())),
        ("build.kustomize", c.build.kustomize.as_deref()),
    ];
    for (key, program) in programs {
        let Some(program) = program.filter(|p| p.contains('/')) else {
            continue;
        };
        if fence.inside_repository(&loaded.resolve(program)) {
            errs.push(
                key,
                format!("`{key}` = {program:?} runs a program from the repository holding devenv.toml"),
                "devenv runs only programs on your PATH or at an absolute path outside the repository, so a cloned repository cannot run its own code on your machine: name the program (e.g. \"docker\"), or install that one outside the repository and give its absolute path",
            );
        }
    }
    if c.build.parallel > 64 {
        errs.push(
            "build.parallel",
            format!("build.parallel {} is too high", c.build.parallel),
            "use 0 (automatic) or a small number such as 2 or 4",
        );
    }

    errs.out
}

/// The repository boundary of a project with the folders `[project] allow_paths_outside`
/// opens, and the errors of those entries (missing, a file, too broad).
pub fn path_fence(loaded: &Loaded) -> (PathFence, Vec<ConfigError>) {
    let mut errors = Vec::new();
    let mut allowed = Vec::new();
    let unfenced = PathFence::new(&loaded.root, Vec::new());
    let mut push = |key: &str, message: String, help: &str| {
        errors.push(loaded.error_at(key, message, Some(help.to_string())));
    };
    for (i, a) in loaded.config.project.allow_paths_outside.iter().enumerate() {
        let key = format!("project.allow_paths_outside[{i}]");
        match std::fs::canonicalize(loaded.resolve(a)) {
            Ok(r) if r.is_dir() => match unfenced.too_broad(&r) {
                Some(why) => push(
                    &key,
                    format!("allow_paths_outside entry {a:?} is too broad: {why}"),
                    "list only the folders devenv needs outside the repository, e.g. \"../shared-infra\"",
                ),
                None => allowed.push(r),
            },
            Ok(_) => push(
                &key,
                format!("allow_paths_outside entry {a:?} is a file, not a folder"),
                "list folders (relative to devenv.toml), e.g. \"../shared-infra\"",
            ),
            Err(_) => push(
                &key,
                format!("allow_paths_outside entry {a:?} does not exist"),
                "list existing folders, relative to devenv.toml, e.g. \"../shared-infra\"",
            ),
        }
    }
    (PathFence::new(&loaded.root, allowed), errors)
}

/// The error for a path devenv would build or apply (`rel`: relative to devenv.toml's folder,
/// as written) that lies outside the repository and is not allowed; `None` when it is fine
/// or does not exist (another check says so). `what` names it: `build context "x" of image
/// "api"`. Use it for every path devenv reads to build or apply (charts too).
pub fn outside_repository(
    loaded: &Loaded,
    fence: &PathFence,
    key: &str,
    what: &str,
    rel: &std::path::Path,
) -> Option<ConfigError> {
    let out = fence.check(&loaded.root.join(rel)).err()?;
    let allow = match rel.parent() {
        Some(p) if loaded.root.join(rel).is_file() && !p.as_os_str().is_empty() => p,
        _ => rel,
    };
    let resolved = if fence.lexically_inside(rel) {
        format!("through a symlink it is {}", out.resolved.display())
    } else {
        format!("it is {}", out.resolved.display())
    };
    Some(loaded.error_at(
        key,
        format!("{what} is outside {}; {resolved}", fence.describe()),
        Some(format!(
            "devenv only builds and applies files of the repository holding devenv.toml, so a cloned repository cannot send your files (your home folder) to a registry or a cluster; move it into the repository, or, if this folder is meant, allow it explicitly:\n[project] allow_paths_outside = [{:?}]",
            allow.display().to_string().trim_end_matches('/')
        )),
    ))
}

/// The folder holding a written path (`ctx/api/Dockerfile` → `ctx/api`), for hints.
fn parent_of(written: &str) -> String {
    match std::path::Path::new(written.trim_end_matches('/')).parent() {
        Some(p) if !p.as_os_str().is_empty() => p.display().to_string(),
        _ => ".".to_string(),
    }
}

fn clash(used: &BTreeMap<(String, u16), String>, key: &(String, u16)) -> Option<String> {
    // 0.0.0.0 and :: clash with every address on the same port.
    used.iter()
        .find(|((h, p), _)| *p == key.1 && (h == &key.0 || is_any(h) || is_any(&key.0)))
        .map(|(_, who)| who.clone())
}

fn is_any(h: &str) -> bool {
    h == "0.0.0.0" || h == "::" || h.is_empty()
}

/// A DNS-1123 label: lowercase alphanumerics and '-', starting with a letter, ending alphanumeric.
pub fn check_dns_label(name: &str, max: usize) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.len() > max {
        return Err(format!(
            "it has {} characters, at most {max} are allowed",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!("it contains {c:?}"));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err("it must start with a lowercase letter".into());
    }
    if name.ends_with('-') {
        return Err("it must not end with '-'".into());
    }
    Ok(())
}

/// A Docker repository path: components of `[a-z0-9]+([._-][a-z0-9]+)*` separated by '/'.
pub fn check_repository(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    for comp in name.split('/') {
        if comp.is_empty() {
            return Err("it has an empty path component".into());
        }
        if let Some(c) = comp.chars().find(|c| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        }) {
            return Err(format!("it contains {c:?}"));
        }
        if !comp.starts_with(|c: char| c.is_ascii_alphanumeric())
            || !comp.ends_with(|c: char| c.is_ascii_alphanumeric())
        {
            return Err(format!(
                "component {comp:?} must start and end with a letter or digit"
            ));
        }
    }
    Ok(())
}

fn is_docker_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && !t.starts_with(['.', '-'])
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The tag of an image reference, if any (`host:port/repo:tag` → `tag`).
pub fn image_tag(reference: &str) -> Option<&str> {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last.split_once(':')
        .map(|(_, t)| t)
        .filter(|t| !t.is_empty())
}

/// `ghcr.io/org/api:1.4@sha256:…` → `ghcr.io/org/api`.
pub fn strip_tag_and_digest(reference: &str) -> &str {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    match without_digest.rfind(':') {
        Some(i) if !without_digest[i..].contains('/') => &without_digest[..i],
        _ => without_digest,
    }
}

fn is_semver_tag(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let parts: Vec<&str> = rest.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// A k3d port mapping: `[HOST:][HOSTPORT:]CONTAINERPORT[/PROTOCOL][@NODEFILTER]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    pub host: Option<String>,
    pub host_port: Option<u16>,
    pub container_port: u16,
    pub protocol: String,
    pub node_filters: Vec<String>,
}

pub fn parse_port_mapping(spec: &str) -> Result<PortMapping, String> {
    let (ports, filters) = match spec.split_once('@') {
        Some((p, f)) => (
            p,
            f.split(';')
                .map(|s| s.trim_start_matches('@').to_string())
                .collect::<Vec<_>>(),
        ),
        None => (spec, vec!["loadbalancer".to_string()]),
    };
    for f in &filters {
        check_node_filter(f)?;
    }
    let (ports, protocol) = match ports.split_once('/') {
        Some((p, proto)) => (p, proto.to_lowercase()),
        None => (ports, "tcp".to_string()),
    };
    if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("protocol {protocol:?} is not tcp, udp or sctp"));
    }
    let parts: Vec<&str> = ports.split(':').collect();
    let port = |s: &str| -> Result<u16, String> {
        match s.parse::<u16>() {
            Ok(0) | Err(_) => Err(format!("{s:?} is not a port number (1-65535)")),
            Ok(p) => Ok(p),
        }
    };
    let (host, host_port, container) = match parts.as_slice() {
        [c] => (None, None, port(c)?),
        [h, c] => (None, Some(port(h)?), port(c)?),
        [ip, h, c] => {
            if ip.parse::<IpAddr>().is_err() {
                return Err(format!("{ip:?} is not an IP address"));
            }
            (Some(ip.to_string()), Some(port(h)?), port(c)?)
        }
        _ => return Err("too many ':'".into()),
    };
    Ok(PortMapping {
        host,
        host_port,
        container_port: container,
        protocol,
        node_filters: filters,
    })
}

/// k3d node filter: `group[:subset][:suffix]`, group ∈ server(s), agent(s), loadbalancer, all.
pub fn check_node_filter(f: &str) -> Result<(), String> {
    let mut parts = f.split(':');
    let group = parts.next().unwrap_or("");
    if !matches!(
        group,
        "server" | "servers" | "agent" | "agents" | "loadbalancer" | "all"
    ) {
        return Err(format!("unknown node group {group:?}"));
    }
    let subset = parts.next();
    let suffix = parts.next();
    if parts.next().is_some() {
        return Err("too many ':'".into());
    }
    match subset {
        None => {
            if matches!(group, "server" | "servers" | "agent" | "agents") {
                return Err(format!(
                    "k3d needs a subset after {group:?}, e.g. {group}:* or {group}:0"
                ));
            }
        }
        Some("*") => {}
        Some(s) if s.contains('-') => {
            let (a, b) = s.split_once('-').unwrap();
            if !(a.chars().all(|c| c.is_ascii_digit()) && b.chars().all(|c| c.is_ascii_digit())) {
                return Err(format!("range {s:?} is not N-M"));
            }
        }
        Some(s) => {
            if s.is_empty()
                || !s
                    .split(',')
                    .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
                    && !s
                        .trim_end_matches(',')
                        .split(',')
                        .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            {
                return Err(format!(
                    "subset {s:?} is not *, a list of indexes or a range"
                ));
            }
        }
    }
    if let Some(sfx) = suffix {
        if sfx.is_empty() || !sfx.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(format!(
                "suffix {sfx:?} is not a word such as proxy or direct"
            ));
        }
    }
    Ok(())
}

fn check_wait_object(w: &str) -> Result<(), String> {
    let parts: Vec<&str> = w.split('/').collect();
    let (kind, name) = match parts.as_slice() {
        [k, n] => (*k, *n),
        [_ns, k, n] => (*k, *n),
        _ => return Err("expected KIND/NAME".into()),
    };
    let kind = kind.to_lowercase();
    if !matches!(
        kind.as_str(),
        "deployment" | "deploy" | "statefulset" | "sts" | "daemonset" | "ds" | "job"
    ) {
        return Err(format!("kind {kind:?} cannot be waited for"));
    }
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    Ok(())
}

/// A `*` glob (for allowed_contexts).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((pre, rest)) => {
            if !text.starts_with(pre) {
                return false;
            }
            let tail = &text[pre.len()..];
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob_match(rest, &tail[i..]))
        }
    }
}

/// The first cycle among overlays' depends_on, as names (first name repeated at the end).
fn find_cycle(c: &super::schema::Config) -> Option<Vec<String>> {
    let deps: HashMap<&str, Vec<&str>> = c
        .overlays
        .iter()
        .map(|o| {
            (
                o.name.as_str(),
                o.depends_on.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    // 0 = unvisited, 1 = on stack, 2 = done
    let mut state: HashMap<&str, u8> = HashMap::new();
    fn visit<'a>(
        n: &'a str,
        deps: &HashMap<&'a str, Vec<&'a str>>,
        state: &mut HashMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        state.insert(n, 1);
        stack.push(n);
        for d in deps.get(n).into_iter().flatten() {
            if *d == n || !deps.contains_key(d) {
                continue; // reported elsewhere
            }
            match state.get(d).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|x| x == d).unwrap_or(0);
                    let mut cyc: Vec<String> =
                        stack[start..].iter().map(|s| s.to_string()).collect();
                    cyc.push(d.to_string());
                    return Some(cyc);
                }
                0 => {
                    if let Some(c) = visit(d, deps, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n, 2);
        None
    }
    for o in &c.overlays {
        if state.get(o.name.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = visit(&o.name, &deps, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_mappings_follow_k3d_syntax() {
        let m = parse_port_mapping("8080:80@loadbalancer").unwrap();
        assert_eq!(
            (m.host_port, m.container_port, m.protocol.as_str()),
            (Some(8080), 80, "tcp")
        );
        let m = parse_port_mapping("127.0.0.1:8443:443/tcp@loadbalancer").unwrap();
        assert_eq!(m.host.as_deref(), Some("127.0.0.1"));
        assert!(parse_port_mapping("80:99999").is_err());
        assert!(parse_port_mapping("8080:80@server").is_err());
        assert!(parse_port_mapping("8080:80/icmp").is_err());
    }

    #[test]
    fn node_filters_follow_k3d_regex() {
        for ok in [
            "server:*",
            "server:0",
            "agent:0,1",
            "agent:1-",
            "all",
            "loadbalancer",
            "servers:*:proxy",
        ] {
            assert!(check_node_filter(ok).is_ok(), "{ok}");
        }
        for bad in ["server", "agent", "node:*", "server:x", "server:0:1"] {
            assert!(check_node_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn references_split_tag_and_digest() {
        assert_eq!(
            strip_tag_and_digest("ghcr.io/org/api:1.4"),
            "ghcr.io/org/api"
        );
        assert_eq!(
            strip_tag_and_digest("localhost:5000/api"),
            "localhost:5000/api"
        );
        assert_eq!(
            strip_tag_and_digest("ghcr.io/org/api@sha256:abc"),
            "ghcr.io/org/api"
        );
        assert_eq!(
            image_tag("docker.io/rancher/k3s:v1.32.5-k3s1"),
            Some("v1.32.5-k3s1")
        );
        assert_eq!(image_tag("localhost:5000/k3s"), None);
    }

    #[test]
    fn globs_match_context_names() {
        assert!(glob_match("kind-*", "kind-dev"));
        assert!(glob_match("*-staging", "eu-staging"));
        assert!(!glob_match("dev-*", "prod-1"));
    }
}
