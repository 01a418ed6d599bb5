//! Bitnami's charts (bitnami/charts): a `common` library dependency, StatefulSets, Secrets
//! whose password is kept with `lookup` (which `helm template` cannot do), `.Capabilities`
//! checks. postgresql from a chart repository, redis from an OCI registry (both as Bitnami
//! publishes them: `common` inside the archive), sealed-secrets as a local folder whose
//! `common` dependency comes from the team's chart repository (no internet), with its CRD
//! in `crds/`.

use super::*;
use crate::support::helm::{push_oci, ChartRepo};
use crate::support::{test_registry_addr, unique_image, CALICO};

#[test]
#[ignore = "needs helm on PATH (scripts/test.sh provides it)"]
fn postgresql_from_a_chart_repository_comes_up_as_a_waited_statefulset_and_follows_its_values() {
    let (sb, log) = sandbox();
    let sources = sb.root.path().join("chart-sources");
    let pg = unpack("postgresql-17.1.0", &sources);
    let repo = ChartRepo::serve(&[&pg]);
    sb.write(
        "deploy/postgres/values-dev.yaml",
        "primary:\n  persistence:\n    size: 1Gi\n  resourcesPreset: nano\n",
    );
    // The password is set: without it the chart makes a random one on every render.
    let extra = format!(
        "\n[[charts]]\nname = \"db\"\nchart = \"postgresql\"\nrepo = \"{}\"\nversion = \"17.1.0\"\n\
         namespace = \"data\"\nvalues = [\"deploy/postgres/values-dev.yaml\"]\n\
         set = {{ \"auth.postgresPassword\" = \"dev\", \"auth.database\" = \"shop\" }}\n",
        repo.url
    );
    project(&sb, "real-pg", 2, &extra);
    // The plan names the helm commands and asks the repository nothing.
    let plan = run(&sb, &["plan"], LIMIT);
    assert_eq!(plan.code, 0, "{plan:?}");
    for command in [
        format!(
            "$ helm pull postgresql --repo {} --version 17.1.0",
            repo.url
        ),
        "$ helm template db ".to_string(),
    ] {
        assert!(
            plan.stdout.contains(&command),
            "{command}:\n{}",
            plan.stdout
        );
    }
    assert_eq!(repo.requests(), 0, "plan asked the chart repository");
    up_ok(&sb, LIMIT);
    assert_eq!(log.count("pull"), 1);
    let cluster = "real-pg";
    let actions = deploy_actions(&sb.calls());
    assert!(
        actions
            .iter()
            .any(|a| a == "rollout statefulset/db-postgresql"),
        "the StatefulSet was not waited for: {actions:#?}"
    );
    let sts = present(&sb, cluster, "StatefulSet", "data", "db-postgresql");
    let claim = &sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"];
    assert_eq!(claim["storage"], "1Gi", "{sts:#}");
    let env = sts["spec"]["template"]["spec"]["containers"][0]["env"].to_string();
    assert!(
        env.contains("\"POSTGRES_DATABASE\",\"value\":\"shop\""),
        "{env}"
    );
    let secret = present(&sb, cluster, "Secret", "data", "db-postgresql");
    assert_eq!(secret["data"]["postgres-password"], "ZGV2", "{secret:#}");
    for (kind, name) in [
        ("Service", "db-postgresql"),
        ("Service", "db-postgresql-hl"),
        ("NetworkPolicy", "db-postgresql"),
        ("PodDisruptionBudget", "db-postgresql"),
    ] {
        assert!(
            object(&sb, cluster, kind, "data", name).is_some(),
            "{kind} {name}:\n{}",
            inventory(&sb, cluster)
        );
    }
    second_up_changes_nothing(&sb);

    // A value that drops an object from the chart prunes it; the rest stays.
    let toml = sb.read("devenv.toml");
    sb.write(
        "devenv.toml",
        &toml.replace(
            "\"auth.database\" = \"shop\"",
            "\"auth.database\" = \"shop\", \"primary.networkPolicy.enabled\" = false",
        ),
    );
    up_ok(&sb, LIMIT);
    assert_gone(&sb, cluster, "NetworkPolicy", "data", "db-postgresql");
    assert!(object(&sb, cluster, "StatefulSet", "data", "db-postgresql").is_some());
    assert_eq!(
        log.count("pull"),
        1,
        "a changed value pulled the chart again"
    );
}

#[test]
#[ignore = "needs helm on PATH and a registry on DEVENV_TEST_REGISTRY (scripts/test.sh provides both)"]
fn redis_from_an_oci_registry_comes_up_with_both_statefulsets_waited() {
    let (sb, log) = sandbox();
    let redis = unpack("redis-23.1.1", &sb.root.path().join("chart-sources"));
    let oci = push_oci(&redis, &test_registry_addr());
    let extra = format!(
        "\n[[charts]]\nname = \"cache\"\nchart = \"{oci}\"\nversion = \"23.1.1\"\nnamespace = \"data\"\n\
         set = {{ \"auth.password\" = \"dev\", \"replica.replicaCount\" = 1 }}\n"
    );
    project(&sb, "real-redis", 3, &extra);
    up_ok(&sb, LIMIT);
    assert_eq!(log.count("pull"), 1);
    let cluster = "real-redis";
    let actions = deploy_actions(&sb.calls());
    for sts in ["cache-redis-master", "cache-redis-replicas"] {
        assert!(
            actions.contains(&format!("rollout statefulset/{sts}")),
            "{sts} not waited for: {actions:#?}"
        );
        assert_present(&sb, cluster, "StatefulSet", "data", sts);
    }
    let replicas = object(&sb, cluster, "StatefulSet", "data", "cache-redis-replicas").unwrap();
    assert_eq!(replicas["spec"]["replicas"], 1, "{replicas:#}");
    second_up_changes_nothing(&sb);
    assert_eq!(log.count("pull"), 1, "the second up pulled again");
}

#[test]
#[ignore = "needs helm on PATH (scripts/test.sh provides it)"]
fn sealed_secrets_builds_common_from_the_teams_repository_and_applies_its_crd_first() {
    let (sb, log) = sandbox();
    let common = unpack("common-2.31.10", &sb.root.path().join("chart-sources"));
    let repo = ChartRepo::serve(&[&common]);
    // The chart as in git (no vendored charts/), its dependency pointed at the team's
    // repository instead of Docker Hub (no internet).
    let chart = unpack("sealed-secrets-2.5.20", &sb.path("deploy"));
    std::fs::remove_dir_all(chart.join("charts")).unwrap();
    let _ = std::fs::remove_file(chart.join("Chart.lock"));
    let yaml = sb.read("deploy/sealed-secrets/Chart.yaml");
    assert!(
        yaml.contains("oci://registry-1.docker.io/bitnamicharts"),
        "{yaml}"
    );
    sb.write(
        "deploy/sealed-secrets/Chart.yaml",
        &yaml.replace("oci://registry-1.docker.io/bitnamicharts", &repo.url),
    );
    project(
        &sb,
        "real-sealed",
        4,
        "\n[[charts]]\nname = \"sealed\"\nchart = \"deploy/sealed-secrets\"\nnamespace = \"secrets\"\n",
    );
    up_ok(&sb, LIMIT);
    assert_eq!(log.count("dependency"), 1, "{:#?}", log.calls());
    let cluster = "real-sealed";
    let calls = sb.calls();
    let crd_applied = calls
        .iter()
        .position(|c| {
            c.tool == "kubectl"
                && c.has(&["apply"])
                && !c.has(&["--dry-run=server"])
                && c.argv.iter().any(|a| a.contains("crds"))
        })
        .unwrap_or_else(|| panic!("no CRD apply:\n{}", lines(&calls)));
    let unit_applied = calls
        .iter()
        .position(|c| {
            c.argv
                .iter()
                .any(|a| a.ends_with("/rendered/sealed.apply.yaml"))
        })
        .unwrap_or_else(|| panic!("no apply of the chart:\n{}", lines(&calls)));
    assert!(crd_applied < unit_applied, "{}", lines(&calls));
    assert_present(
        &sb,
        cluster,
        "CustomResourceDefinition",
        "",
        "sealedsecrets.bitnami.com",
    );
    assert_present(
        &sb,
        cluster,
        "Deployment",
        "secrets",
        "sealed-sealed-secrets",
    );
    assert_present(
        &sb,
        cluster,
        "ClusterRole",
        "",
        "sealed-sealed-secrets-unsealer",
    );
    log.clear();
    second_up_changes_nothing(&sb);
    assert_eq!(log.count("dependency"), 0, "{:#?}", log.calls());
}

#[test]
#[ignore = "needs helm on PATH, docker and a registry on DEVENV_TEST_REGISTRY (scripts/test.sh provides them)"]
fn a_teams_own_postgres_image_replaces_bitnamis_in_the_chart_with_its_content_tag() {
    let sb = Sandbox::new().with_docker();
    let (sb, _log) = with_helm_log(sb, &real_helm());
    let (_, api) = ports(6);
    let registry = test_registry_addr();
    let pg = unpack("postgresql-17.1.0", &sb.root.path().join("chart-sources"));
    let repo = ChartRepo::serve(&[&pg]);
    unique_image(&sb, "postgres");
    // The chart's values stay Bitnami's (its image check passes); the reference it
    // renders, docker.io/bitnami/postgresql:17.6.0-debian-12-r4, is what the image stands for.
    sb.write(
        "devenv.toml",
        &format!(
            "version = 1\n[project]\nname = \"real-pg-image\"\n[cluster]\napi_port = {api}\nagents = 1\n\
             [registry]\nprovider = \"external\"\naddress = \"{registry}/devenv-test\"\n\
             pull_address = \"registry.example.test/devenv-test\"\n\
             [calico]\nmanifests = \"{CALICO}\"\n[verify]\nenabled = false\n\
             [[images]]\nname = \"shop-postgres\"\ncontext = \"postgres\"\n\
             stands_for = \"docker.io/bitnami/postgresql\"\n\
             [[charts]]\nname = \"db\"\nchart = \"postgresql\"\nrepo = \"{}\"\nversion = \"17.1.0\"\n\
             namespace = \"data\"\nset = {{ \"auth.postgresPassword\" = \"dev\" }}\n",
            repo.url
        ),
    );
    up_ok(&sb, LIMIT);
    let sts = present(&sb, "real-pg-image", "StatefulSet", "data", "db-postgresql");
    let image = sts["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        image.starts_with("registry.example.test/devenv-test/shop-postgres:dv-"),
        "{sts:#}"
    );
    second_up_changes_nothing(&sb);
}
