//! The kube target: how devenv reaches the cluster, decided once from the loaded config.
//!
//! A cluster devenv creates with k3d is reached through devenv's own kubeconfig
//! (`.devenv/kubeconfig`) and the context `k3d-P`; an existing cluster through the user's
//! kubeconfig and the context `cluster.context` names. Every kubectl command line devenv
//! builds starts with [`KubeTarget::address`] (`[--kubeconfig K] --context C`), and every k3d
//! command line comes from [`k3d`] (with `LOG_COLORS=false`): the provider difference lives
//! here, not in the steps.
//!
//! [`KubeTarget`] is also the one kubectl-argv type: [`KubeTarget::argv`] is
//! `kubectl ADDRESS ARGS…`, and the argvs of the deploy path (`deploy/kubectl.rs`: apply,
//! waits, reads for failure messages) and of tenancy (`tenancy/kubectl.rs`: inventory
//! deletes, label fallback, namespace reads) are methods of it written next to their users.

use std::path::Path;

use crate::config::schema::ClusterProvider;
use crate::config::Loaded;
use crate::runner::Cmd;

/// devenv's kubeconfig for a k3d cluster, relative to the project folder.
pub const KUBECONFIG_PATH: &str = ".devenv/kubeconfig";

/// Where the cluster is and how kubectl reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeTarget {
    /// devenv's kubeconfig (k3d), as passed to `--kubeconfig`; `None`: the user's own
    /// (`$KUBECONFIG` or `~/.kube/config`), so no `--kubeconfig` flag.
    pub kubeconfig: Option<String>,
    pub context: String,
}

impl KubeTarget {
    /// The target of `loaded`, with devenv's kubeconfig relative to the project folder (as
    /// the plan shows it; commands run there).
    pub fn new(loaded: &Loaded) -> KubeTarget {
        let c = &loaded.config.cluster;
        let k3d_context = k3d_context(&loaded.project);
        match (&c.context, is_k3d(loaded)) {
            (Some(context), false) => KubeTarget {
                kubeconfig: None,
                context: context.clone(),
            },
            (_, k3d) => KubeTarget {
                kubeconfig: k3d.then(|| KUBECONFIG_PATH.to_string()),
                context: k3d_context,
            },
        }
    }

    /// The same target with devenv's kubeconfig as an absolute path under `root` (for
    /// commands that may run from elsewhere).
    pub fn under(mut self, root: &Path) -> KubeTarget {
        if let Some(k) = &self.kubeconfig {
            self.kubeconfig = Some(root.join(k).display().to_string());
        }
        self
    }

    /// Whether devenv created the cluster with k3d (and has its own kubeconfig for it).
    pub fn is_k3d(&self) -> bool {
        self.kubeconfig.is_some()
    }

    /// `[--kubeconfig K] --context C`: what every kubectl command line starts with.
    pub fn address(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(k) = &self.kubeconfig {
            out.extend(["--kubeconfig".to_string(), k.clone()]);
        }
        out.extend(["--context".to_string(), self.context.clone()]);
        out
    }

    /// `kubectl [--kubeconfig K] --context C ARGS…`
    pub fn kubectl<S: AsRef<str>>(&self, args: &[S], purpose: &str, timeout_secs: u64) -> Cmd {
        let mut argv = self.address();
        argv.extend(args.iter().map(|a| a.as_ref().to_string()));
        Cmd::planned(KUBECTL, &argv, purpose, timeout_secs)
    }

    /// `["kubectl", "[--kubeconfig", "K]", "--context", "C", ARGS…]`: the argv of a command
    /// built at run time from what the cluster answered (a wait on an object just applied,
    /// a delete of what the inventory lists).
    pub fn argv(&self, args: &[&str]) -> Vec<String> {
        let mut argv = vec![KUBECTL.to_string()];
        argv.extend(self.address());
        argv.extend(args.iter().map(|a| a.to_string()));
        argv
    }

    /// The kubeconfig as the plan names it.
    pub fn kubeconfig_label(&self) -> &str {
        self.kubeconfig.as_deref().unwrap_or("(your kubeconfig)")
    }
}

/// The program every kubectl command line runs (the runner resolves a pinned one).
const KUBECTL: &str = "kubectl";

/// Whether the config asks devenv to create the cluster with k3d (else it reaches an
/// existing cluster through a context of the user's kubeconfig).
pub fn is_k3d(loaded: &Loaded) -> bool {
    loaded.config.cluster.provider == ClusterProvider::K3d
}

/// The kubeconfig context k3d creates for the cluster of `project`: `k3d-PROJECT`.
pub fn k3d_context(project: &str) -> String {
    format!("k3d-{project}")
}

/// `LOG_COLORS=false k3d ARGS…`: plain logfmt lines instead of logrus' forced colors (see
/// reference k3d.md §1.1).
pub fn k3d<S: AsRef<str>>(args: &[S], purpose: &str, timeout_secs: u64) -> Cmd {
    k3d_at("k3d", args, purpose, timeout_secs)
}

/// [`k3d`] run from `program` (a path: `doctor` checks the k3d it found).
pub fn k3d_at<S: AsRef<str>>(program: &str, args: &[S], purpose: &str, timeout_secs: u64) -> Cmd {
    Cmd::planned(program, args, purpose, timeout_secs).env("LOG_COLORS", "false")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_text;

    const SHOP: &str = "version = 1\n[project]\nname = \"shop\"\n";

    fn loaded(toml: &str) -> Loaded {
        load_text(toml, "devenv.toml", Path::new("/work/shop"), None, None).unwrap()
    }

    fn target(toml: &str) -> KubeTarget {
        KubeTarget::new(&loaded(toml))
    }

    #[test]
    fn a_k3d_cluster_is_reached_through_devenvs_kubeconfig_and_context() {
        let t = target(SHOP);
        assert!(t.is_k3d());
        assert_eq!(
            t.address(),
            [
                "--kubeconfig",
                ".devenv/kubeconfig",
                "--context",
                "k3d-shop"
            ]
        );
        assert_eq!(t.kubeconfig_label(), KUBECONFIG_PATH);
        // The context k3d creates is the one the rest of devenv names (render::Names).
        let names = crate::render::Names::new(&loaded(SHOP));
        assert_eq!(names.context, t.context);
        let abs = t.under(Path::new("/work/shop"));
        assert_eq!(
            abs.kubeconfig.as_deref(),
            Some("/work/shop/.devenv/kubeconfig")
        );
        let get = abs.kubectl(&["get", "nodes"], "read the nodes", 30);
        assert_eq!(
            get.display(),
            "kubectl --kubeconfig /work/shop/.devenv/kubeconfig --context k3d-shop get nodes"
        );
        assert_eq!(
            abs.argv(&["get", "nodes"]),
            std::iter::once(get.program.clone())
                .chain(get.args.clone())
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn an_existing_cluster_is_reached_through_the_users_kubeconfig() {
        let t = target(
            "version = 1\n[cluster]\nprovider = \"existing\"\ncontext = \"team-dev\"\n\
             [registry]\nprovider = \"external\"\naddress = \"registry.example.test/team\"\n",
        );
        assert!(!t.is_k3d());
        assert_eq!(t.address(), ["--context", "team-dev"]);
        assert_eq!(t.clone().under(Path::new("/x")), t);
        assert_eq!(t.kubeconfig_label(), "(your kubeconfig)");
        assert_eq!(
            t.argv(&["get", "ns"]),
            ["kubectl", "--context", "team-dev", "get", "ns"]
        );
    }

    #[test]
    fn k3d_runs_without_colors() {
        let c = k3d(&["node", "list"], "list nodes", 30);
        assert_eq!(c.display(), "LOG_COLORS=false k3d node list");
        assert_eq!(c.purpose, "list nodes");
        assert_eq!(c.timeout.as_secs(), 30);
        let at = k3d_at("/opt/bin/k3d", &["version"], "check the k3d version", 20);
        assert_eq!(at.display(), "LOG_COLORS=false /opt/bin/k3d version");
    }
}
