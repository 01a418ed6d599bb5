//! The user's kubeconfig: the rest of it left alone, its mode kept, switch-context.

use super::*;

// ---------------------------------------------------------------------------------------
// 6. the user's kubeconfig

const USER_KUBECONFIG: &str = "apiVersion: v1
kind: Config
preferences: {}
current-context: prod
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTg==
    server: https://prod.example.com:6443
  name: prod
- cluster:
    server: https://127.0.0.1:6444
  name: kind-play
contexts:
- context:
    cluster: prod
    namespace: payments
    user: prod-admin
  name: prod
- context:
    cluster: kind-play
    user: kind-play
  name: kind-play
users:
- name: prod-admin
  user:
    token: secret-token
- name: kind-play
  user:
    client-certificate-data: Y2VydA==
    client-key-data: a2V5
";

fn write_user_kubeconfig(sb: &Sandbox, mode: u32) -> PathBuf {
    let path = sb.default_kubeconfig();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, USER_KUBECONFIG).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn up_and_down_leave_the_rest_of_the_users_kubeconfig_alone() {
    let sb = Sandbox::new();
    project(&sb, "kc", 8, "");
    let path = write_user_kubeconfig(&sb, 0o640);
    let before = devenv::kubeconfig::snapshot(&path).unwrap();

    up_ok(&sb);
    let after_up = devenv::kubeconfig::snapshot(&path).unwrap();
    assert!(
        after_up.contexts.contains_key("k3d-kc"),
        "context not merged: {after_up:?}"
    );
    assert_eq!(
        after_up.current_context.as_deref(),
        Some("prod"),
        "up switched the current context"
    );
    assert_eq!(
        after_up.excluding_context("k3d-kc"),
        before,
        "up changed other entries of the kubeconfig"
    );
    assert_eq!(mode(&path), 0o640, "up changed the kubeconfig's mode");

    let r = run(&sb, &["down"]);
    assert_eq!(r.code, 0, "{r:?}");
    let after_down = devenv::kubeconfig::snapshot(&path).unwrap();
    assert!(
        !after_down.contexts.contains_key("k3d-kc"),
        "down left the context: {after_down:?}"
    );
    assert_eq!(
        after_down, before,
        "down did not restore the kubeconfig's other entries"
    );
    assert_eq!(mode(&path), 0o640, "down changed the kubeconfig's mode");
}

#[test]
fn switch_context_true_switches() {
    let sb = Sandbox::new();
    project(&sb, "sw", 9, "");
    let toml = sb
        .read("devenv.toml")
        .replace("agents = 1\n", "agents = 1\nswitch_context = true\n");
    sb.write("devenv.toml", &toml);
    let path = write_user_kubeconfig(&sb, 0o600);
    let before = devenv::kubeconfig::snapshot(&path).unwrap();
    up_ok(&sb);
    let after = devenv::kubeconfig::snapshot(&path).unwrap();
    assert_eq!(after.current_context.as_deref(), Some("k3d-sw"));
    let mut expected = before.clone();
    expected.current_context = Some("k3d-sw".into());
    assert_eq!(after.excluding_context("k3d-sw"), expected);
    assert_eq!(mode(&path), 0o600);
}
