//! The Kustomize renderer: the argv that renders an overlay (through its wrapper).

use std::path::Path;

/// The argv that renders the wrapper in `wrapper_dir`: `kubectl kustomize DIR`, or
/// `KUSTOMIZE build DIR` when a standalone kustomize binary is configured. `helm` is set
/// for an overlay that inflates charts ([`super::inflates_charts`]): Kustomize runs helm
/// only with `--enable-helm`, and runs `helm` from PATH unless `--helm-command` names
/// another (a pinned helm devenv installed into its cache). Both take the same flags
/// (`kubectl kustomize --help`, `kustomize build --help`).
pub fn render_argv(kustomize: Option<&str>, wrapper_dir: &Path, helm: Option<&str>) -> Vec<String> {
    let dir = wrapper_dir.to_string_lossy().into_owned();
    let mut argv = match kustomize {
        Some(bin) => vec![bin.to_string(), "build".into()],
        None => vec!["kubectl".into(), "kustomize".into()],
    };
    if let Some(helm) = helm {
        argv.push("--enable-helm".into());
        if helm != "helm" {
            argv.extend(["--helm-command".into(), helm.to_string()]);
        }
    }
    argv.push(dir);
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_argv_uses_kubectl_or_a_configured_kustomize() {
        let dir = Path::new(".devenv/overlays/dev");
        assert_eq!(
            render_argv(None, dir, None),
            ["kubectl", "kustomize", ".devenv/overlays/dev"]
        );
        assert_eq!(
            render_argv(Some("/opt/kustomize"), dir, None),
            ["/opt/kustomize", "build", ".devenv/overlays/dev"]
        );
    }

    #[test]
    fn an_overlay_that_inflates_charts_enables_helm_and_names_a_helm_off_path() {
        let dir = Path::new(".devenv/overlays/dev");
        assert_eq!(
            render_argv(None, dir, Some("helm")),
            [
                "kubectl",
                "kustomize",
                "--enable-helm",
                ".devenv/overlays/dev"
            ]
        );
        assert_eq!(
            render_argv(Some("kustomize"), dir, Some("/cache/helm-v3.18.6/helm")),
            [
                "kustomize",
                "build",
                "--enable-helm",
                "--helm-command",
                "/cache/helm-v3.18.6/helm",
                ".devenv/overlays/dev"
            ]
        );
    }
}
