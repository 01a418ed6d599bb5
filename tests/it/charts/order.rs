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
    let r = run(&sb, &["plan"]);
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
