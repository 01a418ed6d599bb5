//! prometheus-community/helm-charts' prometheus-node-exporter from a local folder: a
//! DaemonSet (host network and PID, waited as a DaemonSet), next to an overlay.

use super::*;

#[test]
#[ignore = "needs helm on PATH (scripts/test.sh provides it)"]
fn node_exporter_comes_up_as_a_waited_daemonset_and_is_pruned_when_removed() {
    let (sb, _log) = sandbox();
    unpack("prometheus-node-exporter-4.56.1", &sb.path("deploy"));
    sb.write(
        "k8s/app/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ns.yaml\n  - cm.yaml\n",
    );
    sb.write(
        "k8s/app/ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
    );
    sb.write(
        "k8s/app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: shop\ndata:\n  a: b\n",
    );
    // The overlay stays when the chart goes: on a k3d cluster a project with no unit
    // left has no prune step (see the README's problems).
    project(
        &sb,
        "real-node-exporter",
        5,
        "\n[[overlays]]\nname = \"app\"\npath = \"k8s/app\"\n\n[[charts]]\nname = \"nodes\"\nchart = \"deploy/prometheus-node-exporter\"\n\
         namespace = \"monitoring\"\n",
    );
    up_ok(&sb, LIMIT);
    let cluster = "real-node-exporter";
    let actions = deploy_actions(&sb.calls());
    assert!(
        actions
            .iter()
            .any(|a| a == "rollout daemonset/nodes-prometheus-node-exporter"),
        "the DaemonSet was not waited for: {actions:#?}"
    );
    assert_present(
        &sb,
        cluster,
        "DaemonSet",
        "monitoring",
        "nodes-prometheus-node-exporter",
    );
    second_up_changes_nothing(&sb);

    let toml = sb.read("devenv.toml");
    sb.write("devenv.toml", &toml[..toml.find("\n[[charts]]").unwrap()]);
    up_ok(&sb, LIMIT);
    assert_gone(
        &sb,
        cluster,
        "DaemonSet",
        "monitoring",
        "nodes-prometheus-node-exporter",
    );
    assert_gone(
        &sb,
        cluster,
        "Service",
        "monitoring",
        "nodes-prometheus-node-exporter",
    );
    assert!(object(&sb, cluster, "ConfigMap", "shop", "app").is_some());
}
