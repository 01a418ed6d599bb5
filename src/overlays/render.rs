//! The Kustomize renderer: the argv that renders an overlay (through its wrapper).

use std::path::Path;

/// The argv that renders the wrapper in `wrapper_dir`: `kubectl kustomize DIR`, or
/// `KUSTOMIZE build DIR` when a standalone kustomize binary is configured.
pub fn render_argv(kustomize: Option<&str>, wrapper_dir: &Path) -> Vec<String> {
    let dir = wrapper_dir.to_string_lossy().into_owned();
    match kustomize {
        Some(bin) => vec![bin.to_string(), "build".into(), dir],
        None => vec!["kubectl".into(), "kustomize".into(), dir],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_argv_uses_kubectl_or_a_configured_kustomize() {
        let dir = Path::new(".devenv/overlays/dev");
        assert_eq!(
            render_argv(None, dir),
            ["kubectl", "kustomize", ".devenv/overlays/dev"]
        );
        assert_eq!(
            render_argv(Some("/opt/kustomize"), dir),
            ["/opt/kustomize", "build", ".devenv/overlays/dev"]
        );
    }
}
