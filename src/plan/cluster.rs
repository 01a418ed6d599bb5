//! Stages 2 and 3: the registries (devenv's and the CI pull-through caches), then the cluster:
//! a k3d one devenv creates (and merges into the user's kubeconfig), or the check of an
//! existing one.

use crate::config::schema::RegistryProvider;
use crate::kube::{self, KUBECONFIG_PATH};
use crate::render::{self, GeneratedFile};

use super::builder::Builder;
use super::{margin, step, StepKind, K3D_CONFIG_PATH};

impl Builder<'_> {
    /// devenv's registry and the CI caches; returns their step ids (the cluster needs them).
    pub(super) fn registries(&mut self) -> Vec<String> {
        let cfg = &self.loaded.config;
        let names = self.names.clone();
        let mut ids = Vec::new();
        if cfg.registry.provider == RegistryProvider::K3d {
            let port = format!("{}:{}", cfg.registry.bind, cfg.registry.port);
            let mut args = vec!["registry", "create", &names.registry, "--port", &port];
            // The ownership mark (see render::OWNER_VOLUME_DIR).
            let owner = names.owner_id.as_deref().map(render::owner_volume);
            if let Some(v) = &owner {
                args.extend(["--volume", v.as_str()]);
            }
            args.push("--no-help");
            let create = kube::k3d(&args, "create the local registry", 120);
            let title = format!("Create registry {} on {port}", names.registry_container);
            self.push_step(
                "registry",
                &title,
                StepKind::Registry(step::Registry { create }),
                vec!["preflight".into()],
                Some("registry"),
                "",
            );
            ids.push("registry".into());
        }
        if self.kube.is_k3d() && cfg.ci_cache.enabled {
            ids.extend(self.cache_mirrors());
        }
        ids
    }

    /// Pull-through caches for CI.
    fn cache_mirrors(&mut self) -> Vec<String> {
        let names = self.names.clone();
        let mut ids = Vec::new();
        for (upstream, m) in render::ci_cache_mirrors(self.loaded, &names) {
            let id = format!("mirror:{upstream}");
            // The registry's whole config is a generated file bound into the container
            // (k3d's flags cover only the remote URL): see src/mirror.rs.
            let config_file = crate::mirror::config_file(&upstream);
            let config = crate::mirror::k3d_mirror_config(&m);
            self.generated.push(GeneratedFile {
                path: config_file.clone(),
                content: config.clone(),
            });
            let mut args = crate::mirror::k3d_create_args(&m, &self.loaded.resolve(&config_file));
            if let Some(id) = &names.owner_id {
                let at = args.len() - 1; // before --no-help
                args.splice(at..at, ["--volume".to_string(), render::owner_volume(id)]);
            }
            let create = kube::k3d(
                &args,
                &format!("create the pull-through cache for {upstream}"),
                120,
            );
            self.push_step(
                &id,
                &format!("Create pull-through cache for {upstream}"),
                StepKind::CacheMirror(step::CacheMirror {
                    upstream: upstream.clone(),
                    create,
                }),
                vec!["preflight".into()],
                Some("ci_cache"),
                &config,
            );
            ids.push(id);
        }
        ids
    }

    /// An existing cluster: its own step, since `devenv build` needs Docker and the registry,
    /// not the cluster. Returns the id of the step after which the cluster is ready.
    pub(super) fn cluster_check(&mut self) -> String {
        let kind = StepKind::ClusterCheck(step::ClusterCheck {
            version: self.kube.kubectl(
                &["version", "-o", "json"],
                "check that the cluster answers and its version",
                30,
            ),
            daemonsets: self.kube.kubectl(
                &["get", "daemonsets", "--all-namespaces", "-o", "json"],
                "look for a NetworkPolicy-enforcing CNI",
                30,
            ),
        });
        self.push_step(
            "cluster-check",
            &format!("Check the existing cluster (context {})", self.kube.context),
            kind,
            vec!["preflight".into()],
            Some("cluster.context"),
            "",
        );
        "cluster-check".into()
    }

    /// The k3d cluster, then (when asked) its context merged into the user's kubeconfig.
    pub(super) fn cluster(&mut self, needs: Vec<String>) {
        let cfg = &self.loaded.config;
        let names = self.names.clone();
        let k3d_config = render::k3d_config(self.loaded, &names);
        self.generated.push(GeneratedFile {
            path: K3D_CONFIG_PATH.into(),
            content: k3d_config.clone(),
        });
        let create = kube::k3d(
            &["cluster", "create", "--config", K3D_CONFIG_PATH],
            "create the k3d cluster",
            margin(cfg.cluster.timeout.as_secs()),
        );
        let kubeconfig = kube::k3d(
            &[
                "kubeconfig",
                "merge",
                &names.cluster,
                "--output",
                KUBECONFIG_PATH,
                "--kubeconfig-switch-context=false",
            ],
            "write devenv's kubeconfig",
            60,
        );
        let api = self.kube.kubectl(
            &["get", "nodes", "-o", "json"],
            "check that the Kubernetes API answers",
            30,
        );
        // k3d removes the cluster from the user's kubeconfig too (see k3d_kubeconfig_env).
        let mut delete = kube::k3d(
            &["cluster", "delete", &names.cluster],
            "delete the cluster to recreate it",
            300,
        );
        delete.env.extend(crate::kubeconfig::k3d_kubeconfig_env());
        let title = format!(
            "Create cluster {} ({} server{}, {} agent{}, no flannel)",
            names.cluster,
            cfg.cluster.servers,
            if cfg.cluster.servers == 1 { "" } else { "s" },
            cfg.cluster.agents,
            if cfg.cluster.agents == 1 { "" } else { "s" }
        );
        self.push_step(
            "cluster",
            &title,
            StepKind::Cluster(step::Cluster {
                create,
                kubeconfig,
                api,
                delete,
            }),
            needs,
            Some("cluster"),
            &k3d_config,
        );
        if cfg.cluster.merge_kubeconfig {
            self.merge_kubeconfig();
        }
    }

    fn merge_kubeconfig(&mut self) {
        let cfg = &self.loaded.config;
        let names = &self.names;
        let switch = format!("--kubeconfig-switch-context={}", cfg.cluster.switch_context);
        // Several files in $KUBECONFIG: k3d's -d refuses them; merge into the file
        // kubectl writes new contexts to (crate::kubeconfig::merge_target).
        let target =
            crate::kubeconfig::merge_target(&crate::kubeconfig::default_kubeconfig_paths())
                .map(|p| p.display().to_string());
        let mut merge_args = vec!["kubeconfig", "merge", &names.cluster];
        match &target {
            Some(t) => merge_args.extend(["--output", t.as_str()]),
            None => merge_args.push("--kubeconfig-merge-default"),
        }
        merge_args.push(&switch);
        let merge = kube::k3d(&merge_args, "merge the cluster into your kubeconfig", 60);
        let title = format!(
            "Merge context {} into your kubeconfig{}",
            names.context,
            if cfg.cluster.switch_context {
                " and switch to it"
            } else {
                ""
            }
        );
        self.push_step(
            "kubeconfig",
            &title,
            StepKind::Kubeconfig(step::Kubeconfig { merge }),
            vec!["cluster".into()],
            Some("cluster.merge_kubeconfig"),
            "",
        );
    }
}
