//! Issue 12 item 11: kustomizations at the project root or beside it.

use super::*;

// ---------------------------------------------------------------------------------------
// Issue 12 item 11: overlays wherever they are

/// Every file under `dir` (not .devenv, not .git) with its content.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let name = e.file_name();
            if name == ".devenv" || name == ".git" {
                continue;
            }
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_symlink() {
                out.push((
                    p.clone(),
                    std::fs::read_link(&p)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                ));
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn deployment(name: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: c\n        image: ghcr.io/example/api:1.0\n"
    )
}

#[test]
fn overlays_at_the_root_beside_and_through_symlinks_render_with_real_kustomize() {
    // One git repository: the project and an infra folder beside it (a monorepo).
    let sb = Sandbox::new();
    let repo = sb.root.path().to_path_buf();
    assert!(Command::new("git")
        .args(["init", "-q"])
        .current_dir(&repo)
        .status()
        .unwrap()
        .success());
    sb.write(
        "kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- root.yaml\n",
    );
    sb.write("root.yaml", &deployment("root"));
    let infra = repo.join("infra/overlays/dev");
    std::fs::create_dir_all(&infra).unwrap();
    std::fs::write(
        infra.join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- beside.yaml\n",
    )
    .unwrap();
    std::fs::write(infra.join("beside.yaml"), deployment("beside")).unwrap();
    // `deploy` → the infra overlay; `self` → the project root itself.
    std::os::unix::fs::symlink("../infra/overlays/dev", sb.path("deploy")).unwrap();
    std::os::unix::fs::symlink(".", sb.path("self")).unwrap();
    let overlays = [
        ("root", ".", "root"),
        ("beside", "../infra/overlays/dev", "beside"),
        ("linked", "deploy", "beside"),
        ("selflink", "self", "root"),
    ];
    let mut toml = String::from(
        "version = 1\n\n[project]\nname = \"roots\"\n\n[registry]\nprovider = \"external\"\n\
         address = \"127.0.0.1:9/team\"\n\n[verify]\nenabled = false\n\n[[images]]\nname = \"api\"\n\
         context = \"api\"\nstands_for = \"ghcr.io/example/api\"\n",
    );
    for (name, path, _) in &overlays {
        toml.push_str(&format!(
            "\n[[overlays]]\nname = \"{name}\"\npath = \"{path}\"\n"
        ));
    }
    sb.write("devenv.toml", &toml);
    sb.write("api/Dockerfile", "FROM scratch\n");
    let before = (tree(&sb.project), tree(&repo.join("infra")));

    let plan = plan_json(&sb);
    let kubectl = std::env::var("DEVENV_REAL_KUBECTL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "kubectl".into());
    for (name, _, object) in &overlays {
        let step = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == format!("render:{name}"))
            .unwrap_or_else(|| panic!("no render:{name}"));
        let args: Vec<String> = step["commands"][0]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        // Exactly what `up` runs, in the project folder, with the real kustomize.
        let o = Command::new(&kubectl)
            .args(&args)
            .current_dir(&sb.project)
            .env("HOME", &sb.home)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "overlay {name}: kubectl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(out.contains(&format!("name: {object}")), "{name}: {out}");
        assert!(
            out.contains("image: 127.0.0.1:9/team/api:dv-"),
            "{name}: the built image is not substituted:\n{out}"
        );
    }
    assert_eq!(
        before,
        (tree(&sb.project), tree(&repo.join("infra"))),
        "the team's files changed"
    );
}
