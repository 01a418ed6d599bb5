//! How devenv reaches the cluster for tenancy's work: the kubectl argvs that read, delete
//! and wait for the objects of an inventory, or of a label selector when it is lost. They
//! are methods of the one kube target ([`KubeTarget::argv`] gives the address).

use super::inventory::ObjectRef;
use crate::kube::KubeTarget;

impl KubeTarget {
    /// `kubectl --context C delete Kind.group NAME [-n NS] --ignore-not-found --wait=false`.
    pub fn delete_argv(&self, r: &ObjectRef) -> Vec<String> {
        let resource = r.resource_arg();
        let mut args = vec!["delete", resource.as_str(), r.name.as_str()];
        if let Some(ns) = &r.namespace {
            args.extend(["-n", ns.as_str()]);
        }
        args.extend(["--ignore-not-found", "--wait=false"]);
        self.argv(&args)
    }

    /// The same deletions in few commands: consecutive refs of one tier and namespace go in
    /// one `delete KIND/NAME KIND/NAME … [-n NS] --ignore-not-found --wait=false` (order
    /// kept, so the tiers' order holds).
    pub fn delete_batches(&self, refs: &[ObjectRef]) -> Vec<Vec<String>> {
        batches(refs)
            .into_iter()
            .map(|(ns, objects)| {
                let mut args: Vec<&str> = vec!["delete"];
                args.extend(objects.iter().map(String::as_str));
                if let Some(ns) = &ns {
                    args.extend(["-n", ns.as_str()]);
                }
                args.extend(["--ignore-not-found", "--wait=false"]);
                self.argv(&args)
            })
            .collect()
    }

    /// What [`Self::delete_batches`] would delete, read first: `get KIND/NAME … [-n NS]
    /// --ignore-not-found -o json` per batch, for [`owned_objects`] to check their labels.
    pub fn get_batches(&self, refs: &[ObjectRef]) -> Vec<Vec<String>> {
        batches(refs)
            .into_iter()
            .map(|(ns, objects)| {
                let mut args: Vec<&str> = vec!["get"];
                args.extend(objects.iter().map(String::as_str));
                if let Some(ns) = &ns {
                    args.extend(["-n", ns.as_str()]);
                }
                args.extend(["--ignore-not-found", "-o", "json"]);
                self.argv(&args)
            })
            .collect()
    }

    /// `api-resources --namespaced=true --verbs=delete,list -o name`: the namespaced kinds
    /// the label fallback deletes ([`parse_api_resources`] reads the output).
    pub fn api_resources_argv(&self) -> Vec<String> {
        self.argv(&[
            "api-resources",
            "--namespaced=true",
            "--verbs=delete,list",
            "-o",
            "name",
        ])
    }

    /// The fallback when the inventory is lost: `delete R1,R2,… -l SELECTOR --all-namespaces
    /// --ignore-not-found --wait=false` (namespaced resources from [`Self::api_resources_argv`]),
    /// then [`Self::delete_namespaces_by_label_argv`].
    pub fn delete_by_label_argv(&self, resources: &[String], selector: &str) -> Vec<String> {
        let list = resources.join(",");
        self.argv(&[
            "delete",
            &list,
            "-l",
            selector,
            "--all-namespaces",
            "--ignore-not-found",
            "--wait=false",
        ])
    }

    /// `delete namespaces -l SELECTOR --ignore-not-found --wait=false`.
    pub fn delete_namespaces_by_label_argv(&self, selector: &str) -> Vec<String> {
        self.argv(&[
            "delete",
            "namespaces",
            "-l",
            selector,
            "--ignore-not-found",
            "--wait=false",
        ])
    }

    /// `wait --for=delete --timeout=Ns namespace/A namespace/B …`: a deleted Namespace stays
    /// `Terminating` until its content is gone, and nothing can be created in it meanwhile
    /// ("unable to create new content in namespace X because it is being terminated"), so
    /// `down` and `reset` wait for it before the next `up`.
    pub fn wait_namespaces_gone_argv(
        &self,
        namespaces: &[String],
        timeout_secs: u64,
    ) -> Vec<String> {
        let timeout = format!("--timeout={timeout_secs}s");
        let objects: Vec<String> = namespaces
            .iter()
            .map(|n| format!("namespace/{n}"))
            .collect();
        let mut args = vec!["wait", "--for=delete", timeout.as_str()];
        args.extend(objects.iter().map(String::as_str));
        self.argv(&args)
    }

    /// `wait --for=delete --timeout=Ns namespaces -l SELECTOR`, after
    /// [`Self::delete_namespaces_by_label_argv`].
    pub fn wait_namespaces_gone_by_label_argv(
        &self,
        selector: &str,
        timeout_secs: u64,
    ) -> Vec<String> {
        let timeout = format!("--timeout={timeout_secs}s");
        self.argv(&[
            "wait",
            "--for=delete",
            &timeout,
            "namespaces",
            "-l",
            selector,
        ])
    }

    /// `get namespace NS -o json --ignore-not-found` (empty output: no such namespace), for
    /// [`check_namespace_owner`].
    pub fn get_namespace_argv(&self, namespace: &str) -> Vec<String> {
        self.argv(&[
            "get",
            "namespace",
            namespace,
            "-o",
            "json",
            "--ignore-not-found",
        ])
    }
}

/// Consecutive refs of one delete tier and namespace: `(namespace, ["kind.group/name", …])`.
fn batches(refs: &[ObjectRef]) -> Vec<(Option<String>, Vec<String>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < refs.len() {
        let key = (refs[i].delete_tier(), refs[i].namespace.clone());
        let mut j = i;
        while j < refs.len() && (refs[j].delete_tier(), refs[j].namespace.clone()) == key {
            j += 1;
        }
        let objects = refs[i..j]
            .iter()
            .map(|r| format!("{}/{}", r.resource_arg(), r.name))
            .collect();
        out.push((key.1, objects));
        i = j;
    }
    out
}

/// The resources of `kubectl api-resources -o name` (`deployments.apps`, `configmaps`, …),
/// without the ones whose deletion is never devenv's business: events, and pods (devenv
/// applies no bare pods: they belong to their controllers, deleted with them).
pub fn parse_api_resources(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter(|l| !matches!(*l, "events" | "events.events.k8s.io" | "pods" | "bindings"))
        .map(str::to_string)
        .collect()
}
