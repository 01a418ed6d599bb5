//! `devenv plan`: units in dependency order whatever the order they are declared in, and
//! every helm command `up` may run.

use super::*;

#[test]
#[ignore = "needs helm on PATH (scripts/test.sh provides it)"]
fn plan_orders_a_unit_after_its_dependency_declared_later_and_shows_the_helm_commands() {
    let (sb, log) = sandbox();
    create_chart(&sb, "deploy", "db");
    sb.write(
        "k8s/api/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n",
    );
    // api (an overlay) first, depending on cache (a remote chart) declared after it, which
    // depends on db (a local chart) declared last.
    let extra = "\n[[overlays]]\nname = \"api\"\npath = \"k8s/api\"\ndepends_on = [\"cache\"]\n\
                 \n[[charts]]\nname = \"cache\"\nchart = \"redis\"\nrepo = \"http://127.0.0.1:9/charts\"\n\
                 version = \"1.2.3\"\ndepends_on = [\"db\"]\n\
                 \n[[charts]]\nname = \"db\"\nchart = \"deploy/db\"\n";
    project(&sb, "charts-order", 1, extra);
    let r = run(&sb, &["plan"], LIMIT);
    assert_eq!(r.code, 0, "{r:?}");
    let at = |id: &str| {
        r.stdout
            .find(&format!("[{id}]"))
            .unwrap_or_else(|| panic!("no step {id}:\n{}", r.stdout))
    };
    assert!(at("chart:db") < at("chart:cache"), "{}", r.stdout);
    assert!(at("chart:cache") < at("overlay:api"), "{}", r.stdout);
    let step = |id: &str| {
        let start = at(id);
        let rest = &r.stdout[start..];
        rest[..rest.find("\n\n").unwrap_or(rest.len())].to_string()
    };
    assert!(
        step("overlay:api").contains("chart:cache"),
        "{}",
        step("overlay:api")
    );
    assert!(
        step("chart:cache").contains("chart:db"),
        "{}",
        step("chart:cache")
    );
    let render = step("render:cache");
    assert!(
        render.contains(
            "$ helm pull redis --repo http://127.0.0.1:9/charts --version 1.2.3 --destination "
        ),
        "{render}"
    );
    assert!(
        render.contains("$ helm template cache ")
            && render
                .contains("redis-1.2.3.tgz --namespace default --version 1.2.3 --include-crds"),
        "{render}"
    );
    assert!(
        render.contains("$ kubectl kustomize .devenv/charts/cache"),
        "{render}"
    );
    // Nothing ran: plan only prints.
    assert!(log.calls().is_empty(), "{:?}", log.calls());
}

/// `devenv plan` of a local chart with values and `set`, and an overlay on top: every
/// command of the units, as a user reads them (from the first unit on).
#[test]
fn plan_of_a_local_chart_and_an_overlay() {
    let sb = Sandbox::new();
    sb.write(
        "deploy/web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    );
    sb.write("deploy/web/values-dev.yaml", "replicaCount: 2\n");
    sb.write(
        "k8s/app/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n",
    );
    let extra = "\n[namespaces.shop]\n\
                 \n[[overlays]]\nname = \"app\"\npath = \"k8s/app\"\ndepends_on = [\"web\"]\n\
                 \n[[charts]]\nname = \"web\"\nchart = \"deploy/web\"\nnamespace = \"shop\"\n\
                 release = \"shop-web\"\nvalues = [\"deploy/web/values-dev.yaml\"]\n\
                 set = { \"image.tag\" = \"1.27\" }\n";
    project(&sb, "charts-plan", 5, extra);
    let r = run(&sb, &["plan"], LIMIT);
    assert_eq!(r.code, 0, "{r:?}");
    let units = &r.stdout[r.stdout.find("Render ").expect("a render step") - 4..];
    let units = units[..units.find(". Delete objects").unwrap_or(units.len()) - 3].trim_end();
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!("plan_local_chart_and_overlay", units));
}
