//! kubernetes/ingress-nginx's chart as a local folder: its admission webhook is set up by
//! hook Jobs (pre-install creates the certificate, post-install patches the
//! ValidatingWebhookConfiguration) whose RBAC objects are hooks too, with
//! `before-hook-creation,hook-succeeded`; it has cluster-scoped objects (ClusterRole,
//! IngressClass, the webhook configuration) and `kubeVersion: >=1.21.0-0`.

use super::*;

const CLUSTER: &str = "real-ingress";

fn ingress_project(sb: &Sandbox, n: u16, cluster_image: Option<&str>) {
    unpack("ingress-nginx-4.15.1", &sb.path("deploy"));
    sb.write(
        "deploy/ingress-values-dev.yaml",
        "controller:\n  replicaCount: 2\n  service:\n    type: ClusterIP\n",
    );
    let extra = String::from(
        "\n[[charts]]\nname = \"ingress\"\nchart = \"deploy/ingress-nginx\"\nnamespace = \"ingress\"\n\
         values = [\"deploy/ingress-values-dev.yaml\"]\n\
         set = { \"controller.ingressClassResource.name\" = \"dev\" }\n",
    );
    let (registry, api) = ports(n);
    let mut toml = minimal_toml(CLUSTER, registry, api, &extra);
    if let Some(image) = cluster_image {
        toml = toml.replace("[cluster]\n", &format!("[cluster]\nimage = \"{image}\"\n"));
    }
    sb.write("devenv.toml", &toml);
}

#[test]
#[ignore = "needs helm on PATH (scripts/test.sh provides it)"]
fn ingress_nginx_runs_its_webhook_hooks_in_helms_order_on_install_and_upgrade() {
    let (sb, _log) = sandbox();
    ingress_project(&sb, 0, None);
    up_ok(&sb, LIMIT);
    let calls = sb.calls();
    let actions = deploy_actions(&calls);
    let controller = actions
        .iter()
        .position(|a| a == "apply ingress.apply.yaml")
        .unwrap_or_else(|| panic!("{actions:#?}"));
    let create = actions
        .iter()
        .position(|a| a.starts_with("wait job/ingress-ingress-nginx-admission-create"))
        .unwrap_or_else(|| panic!("no wait for the pre-install Job: {actions:#?}"));
    let patch = actions
        .iter()
        .position(|a| a.starts_with("wait job/ingress-ingress-nginx-admission-patch"))
        .unwrap_or_else(|| panic!("no wait for the post-install Job: {actions:#?}"));
    let rollout = actions
        .iter()
        .position(|a| a == "rollout deployment/ingress-ingress-nginx-controller")
        .unwrap_or_else(|| panic!("no rollout of the controller: {actions:#?}"));
    // pre-install Job, then the chart's objects, ready, then the post-install Job.
    assert!(create < controller, "{actions:#?}");
    assert!(controller < rollout && rollout < patch, "{actions:#?}");

    // Namespaced objects in the release namespace, cluster-scoped ones without one.
    let deploy = present(
        &sb,
        CLUSTER,
        "Deployment",
        "ingress",
        "ingress-ingress-nginx-controller",
    );
    // values-dev.yaml over the chart's values.
    assert_eq!(deploy["spec"]["replicas"], 2, "{deploy:#}");
    let svc = present(
        &sb,
        CLUSTER,
        "Service",
        "ingress",
        "ingress-ingress-nginx-controller",
    );
    assert_eq!(svc["spec"]["type"], "ClusterIP", "{svc:#}");
    // `set` over both.
    assert_present(&sb, CLUSTER, "IngressClass", "", "dev");
    assert_present(&sb, CLUSTER, "ClusterRole", "", "ingress-ingress-nginx");
    assert_present(
        &sb,
        CLUSTER,
        "ValidatingWebhookConfiguration",
        "",
        "ingress-ingress-nginx-admission",
    );
    // hook-succeeded: the hook Jobs and their RBAC are gone once they succeeded.
    for kind in ["Job", "ServiceAccount", "Role", "ClusterRole"] {
        assert!(
            object(
                &sb,
                CLUSTER,
                kind,
                "ingress",
                "ingress-ingress-nginx-admission"
            )
            .is_none()
                && object(&sb, CLUSTER, kind, "", "ingress-ingress-nginx-admission").is_none(),
            "{kind} hook left behind:\n{}",
            inventory(&sb, CLUSTER)
        );
    }

    second_up_changes_nothing(&sb);

    // A changed value is an upgrade: the pre-upgrade Job again before the new objects, the
    // post-upgrade one after they are ready, each re-created (before-hook-creation).
    sb.write(
        "deploy/ingress-values-dev.yaml",
        "controller:\n  replicaCount: 3\n  service:\n    type: ClusterIP\n",
    );
    sb.clear_calls();
    up_ok(&sb, LIMIT);
    let actions = deploy_actions(&sb.calls());
    let at = |prefix: &str| {
        actions
            .iter()
            .position(|a| a.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix}: {actions:#?}"))
    };
    assert!(
        at("wait job/ingress-ingress-nginx-admission-create") < at("apply ingress.apply.yaml"),
        "{actions:#?}"
    );
    assert!(
        at("rollout deployment/ingress-ingress-nginx-controller")
            < at("wait job/ingress-ingress-nginx-admission-patch"),
        "{actions:#?}"
    );
    let deploy = object(
        &sb,
        CLUSTER,
        "Deployment",
        "ingress",
        "ingress-ingress-nginx-controller",
    )
    .unwrap();
    assert_eq!(deploy["spec"]["replicas"], 3, "{deploy:#}");
    assert_gone(
        &sb,
        CLUSTER,
        "Job",
        "ingress",
        "ingress-ingress-nginx-admission-patch",
    );
}

#[test]
#[ignore = "needs helm on PATH (scripts/test.sh provides it)"]
fn a_cluster_older_than_the_charts_kube_version_constraint_is_named_before_anything_is_applied() {
    let (sb, _log) = sandbox();
    ingress_project(&sb, 1, Some("rancher/k3s:v1.20.15-k3s1"));
    let r = run(&sb, &["up"], LIMIT);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        r.text.contains(
            "chart requires kubeVersion: >=1.21.0-0 which is incompatible with Kubernetes v1.20.15"
        ),
        "{r:?}"
    );
    assert!(r.text.contains("ingress"), "{r:?}");
    assert!(
        !sb.calls().iter().any(|c| c.tool == "kubectl"
            && c.has(&["apply"])
            && c.argv.iter().any(|a| a.contains("/rendered/ingress"))),
        "{}",
        lines(&sb.calls())
    );
}

#[test]
#[ignore = "needs helm on PATH (scripts/test.sh provides it)"]
fn a_failing_certificate_job_stops_up_before_the_controller_with_the_jobs_logs() {
    let (sb, _log) = sandbox();
    ingress_project(&sb, 7, None);
    // kube-webhook-certgen failing as it does without RBAC for the Secret.
    std::fs::write(
        sb.state.join("jobs.json"),
        r#"{"ingress/ingress-ingress-nginx-admission-create": {"exit": 1, "log": "{\"level\":\"fatal\",\"msg\":\"error creating secret\",\"err\":\"secrets is forbidden\"}\n"}}"#,
    )
    .unwrap();
    let r = run(&sb, &["up"], LIMIT);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("chart ingress: pre-install hook job/ingress-ingress-nginx-admission-create"),
        "{r:?}"
    );
    assert!(r.stderr.contains("error creating secret"), "{r:?}");
    let actions = deploy_actions(&sb.calls());
    assert!(
        !actions.iter().any(|a| a == "apply ingress.apply.yaml"),
        "{actions:#?}"
    );
    assert_gone(
        &sb,
        CLUSTER,
        "Deployment",
        "ingress",
        "ingress-ingress-nginx-controller",
    );
}
