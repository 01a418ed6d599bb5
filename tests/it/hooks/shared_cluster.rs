//! On a shared existing cluster, each developer's hooks run in that developer's namespaces
//! (the rendering is isolated before the hooks are set apart), and stay out of the
//! inventory that `down` and prune use.

use std::path::Path;
use std::time::Duration;

use super::{from_namespaces, hook, objects_in, overlay};
use crate::existing_cluster::team_cluster;
use crate::support::fake_cluster::deploy_actions;
use crate::support::{Call, Sandbox};

fn checkout(sb: &Sandbox, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("devenv.toml"),
        "version = 1\n\n[project]\nname = \"shop\"\n\n[cluster]\nprovider = \"existing\"\ncontext = \"k3d-shared\"\n\n\
         [registry]\nprovider = \"external\"\naddress = \"registry.example.test/team\"\n\n\
         [verify]\nenabled = false\n\n\
         [[overlays]]\nname = \"app\"\npath = \"k8s/app\"\ntimeout = \"20s\"\n",
    )
    .unwrap();
    // `overlay` writes into the sandbox's project: copy it to `dir` when it is elsewhere.
    if dir != sb.project {
        crate::support::copy_dir(&sb.project.join("k8s"), &dir.join("k8s"));
    }
}

fn up_as(sb: &Sandbox, dir: &Path, owner: &str) -> Vec<Call> {
    sb.clear_calls();
    let o = sb
        .devenv(["up"])
        .current_dir(dir)
        .env("DEVENV_OWNER", owner)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "up as {owner}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    sb.calls()
}

#[test]
fn each_developers_hooks_run_in_their_own_namespace() {
    let sb = Sandbox::new();
    team_cluster(&sb);
    overlay(
        &sb,
        "1",
        &[
            hook("Job", "migrate", "pre-install", "0", "hook-succeeded"),
            hook("ConfigMap", "installed", "post-install", "0", ""),
        ],
    );
    let alice = sb.project.clone();
    let bob = sb.root.path().join("bob");
    checkout(&sb, &alice);
    checkout(&sb, &bob);

    for (dir, owner) in [(&alice, "alice"), (&bob, "bob")] {
        let calls = up_as(&sb, dir, owner);
        let ns = format!("shop-{owner}");
        let actions = deploy_actions(&calls);
        assert_eq!(
            from_namespaces(&actions),
            [
                "apply namespaces.yaml",
                "apply 00-job-migrate.yaml",
                "wait job/migrate",
                "delete Job.batch migrate",
                "apply app.apply.yaml",
                "rollout deployment/web",
                "delete ConfigMap installed",
                "apply 00-configmap-installed.yaml",
            ],
            "{actions:#?}"
        );
        // Its hooks' commands name the owner's namespace, never the unmapped one.
        for c in calls
            .iter()
            .filter(|c| c.has(&["job/migrate"]) || c.has(&["installed"]))
        {
            assert!(c.has(&["-n", &ns]), "{}", c.line());
        }
        assert_eq!(objects_in(&sb, "ConfigMap", &ns), ["installed"]);
        assert!(objects_in(&sb, "Job", &ns).is_empty());
        let inventory: String = std::fs::read_dir(dir.join(".devenv/inventory"))
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        assert!(inventory.contains("\"web\""), "{inventory}");
        assert!(!inventory.contains("\"installed\""), "{inventory}");
        assert!(!inventory.contains("\"migrate\""), "{inventory}");
    }
    assert!(objects_in(&sb, "ConfigMap", "shop").is_empty());
}
