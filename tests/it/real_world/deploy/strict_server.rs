//! The fake API server as strict as the real one: unknown fields, list merging, StatefulSets,
//! terminating namespaces, immutable selectors and cluster IPs.

use super::*;

// ---------------------------------------------------------------------------------------
// The fake API server as strict as the real one: unknown fields, list merging, StatefulSets

#[test]
fn a_misspelt_field_is_refused_by_the_server_and_named() {
    let sb = Sandbox::new();
    project(&sb, "typo", "\"auto\"");
    overlay(
        &sb,
        &[(
            "migrate.yaml",
            &job("migrate", "1", "").replace(
                "restartPolicy: Never",
                "restartPolicy: Never\n      restartPolicyy: Never",
            ),
        )],
    );
    let r = run(&sb, &["up"], LIMIT);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.text.contains(
            "failed to create typed patch object (shop/migrate; batch/v1, Kind=Job): .spec.template.spec.restartPolicyy: field not declared in schema"
        ),
        "{r:?}"
    );
}

#[test]
fn a_container_another_manager_added_survives_devenvs_apply() {
    // A mesh injector (another field manager) adds a sidecar to devenv's Deployment; devenv
    // applies again: server-side apply merges `containers` by name, so both stay.
    let sb = Sandbox::new();
    project(&sb, "sidecar", "\"none\"");
    let deployment = |v: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  selector:\n    matchLabels: {{app: api}}\n  template:\n    metadata:\n      labels: {{app: api}}\n    spec:\n      containers:\n        - name: api\n          image: docker.io/library/busybox:1.36\n          env:\n            - name: VERSION\n              value: \"{v}\"\n"
        )
    };
    overlay(&sb, &[("api.yaml", &deployment("1"))]);
    up_ok(&sb, LIMIT);
    let sidecar = sb.write(
        "sidecar.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: shop\nspec:\n  template:\n    spec:\n      containers:\n        - name: proxy\n          image: docker.io/library/envoy:v1\n        - name: api\n          env:\n            - name: MESH\n              value: \"on\"\n",
    );
    admin(
        &sb,
        "sidecar",
        &[
            "apply",
            "--server-side",
            "--field-manager=injector",
            "-f",
            sidecar.to_str().unwrap(),
        ],
    );
    overlay(&sb, &[("api.yaml", &deployment("2"))]);
    up_ok(&sb, LIMIT);
    let d = get_json(&sb, "sidecar", &["deployment", "api", "-n", "shop"]);
    let containers = d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = containers
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["api", "proxy"], "{d:#}");
    let env: Vec<(String, String)> = containers[0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().into(),
                e["value"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        env,
        [("VERSION".into(), "2".into()), ("MESH".into(), "on".into())],
        "{d:#}"
    );
}

#[test]
fn a_statefulset_whose_service_name_changed_is_recreated() {
    let sb = Sandbox::new();
    project(&sb, "stsname", "\"auto\"");
    let sts = |service: &str| {
        format!(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec:\n  serviceName: {service}\n  replicas: 1\n  selector:\n    matchLabels: {{app: db}}\n  template:\n    metadata:\n      labels: {{app: db}}\n    spec:\n      containers:\n        - name: db\n          image: docker.io/library/postgres:17\n"
        )
    };
    overlay(&sb, &[("db.yaml", &sts("db"))]);
    up_ok(&sb, LIMIT);
    overlay(&sb, &[("db.yaml", &sts("db-headless"))]);
    let r = up_ok(&sb, LIMIT);
    assert!(
        r.text
            .contains("re-created statefulset.apps/db in shop (spec cannot change in place)"),
        "{r:?}"
    );
    let s = get_json(&sb, "stsname", &["statefulset", "db", "-n", "shop"]);
    assert_eq!(s["spec"]["serviceName"], "db-headless");
}

#[test]
fn an_overlay_applied_into_a_namespace_still_terminating_waits_for_it_and_creates_it_again() {
    // Someone deleted the namespace (or a down that did not wait): it takes 3 s to go.
    let sb = Sandbox::new()
        .sleep_scale(0.05)
        .env("DEVENV_FAKE_NAMESPACE_TERMINATION_MS", "3000");
    project(&sb, "terminating", "\"auto\"");
    overlay(&sb, &[("migrate.yaml", &job("migrate", "1", ""))]);
    up_ok(&sb, LIMIT);
    admin(
        &sb,
        "terminating",
        &["delete", "namespace", "shop", "--wait=false"],
    );
    overlay(&sb, &[("migrate.yaml", &job("migrate", "2", ""))]);
    let r = up_ok(&sb, LIMIT);
    assert!(
        r.text.contains("namespace(s) shop still terminating"),
        "{r:?}"
    );
    let ns = get_json(&sb, "terminating", &["namespace", "shop"]);
    assert_eq!(ns["status"]["phase"], "Active", "{ns:#}");
    let j = get_json(&sb, "terminating", &["job", "migrate", "-n", "shop"]);
    assert_eq!(condition(&j, "Complete").as_deref(), Some("True"), "{j:#}");
}

#[test]
fn a_deployment_whose_selector_changed_and_a_service_whose_cluster_ip_changed_are_recreated() {
    let sb = Sandbox::new();
    project(&sb, "selectors", "\"auto\"");
    let files = |app: &str, ip: &str| {
        [
            (
                "api.yaml",
                format!(
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  selector:\n    matchLabels: {{app: {app}}}\n  template:\n    metadata:\n      labels: {{app: {app}}}\n    spec:\n      containers:\n        - name: api\n          image: docker.io/library/busybox:1.36\n"
                ),
            ),
            (
                "svc.yaml",
                format!(
                    "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\nspec:\n  clusterIP: {ip}\n  selector: {{app: {app}}}\n  ports:\n    - port: 80\n"
                ),
            ),
        ]
    };
    let first = files("api", "10.43.0.50");
    overlay(
        &sb,
        &first
            .iter()
            .map(|(f, t)| (*f, t.as_str()))
            .collect::<Vec<_>>(),
    );
    up_ok(&sb, LIMIT);
    let second = files("api-v2", "10.43.0.51");
    overlay(
        &sb,
        &second
            .iter()
            .map(|(f, t)| (*f, t.as_str()))
            .collect::<Vec<_>>(),
    );
    let r = up_ok(&sb, LIMIT);
    for want in [
        "re-created deployment.apps/api in shop (spec.selector cannot change in place)",
        "re-created service/api in shop (spec.clusterIPs[0] cannot change in place)",
    ] {
        assert!(r.text.contains(want), "missing {want:?}: {r:?}");
    }
    let d = get_json(&sb, "selectors", &["deployment", "api", "-n", "shop"]);
    assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], "api-v2");
    let s = get_json(&sb, "selectors", &["service", "api", "-n", "shop"]);
    assert_eq!(s["spec"]["clusterIP"], "10.43.0.51");
}
