//! An `[[images]]` entry a chart uses (its values name the image): deployed with the tag
//! devenv pushed, through the same Kustomize wrapper as overlays.

use super::*;
use crate::support::{test_registry_addr, unique_image};

#[test]
#[ignore = "needs helm on PATH, docker and a registry on DEVENV_TEST_REGISTRY (scripts/test.sh provides them)"]
fn a_chart_deploys_the_image_devenv_built_with_its_content_tag() {
    let sb = Sandbox::new().with_docker();
    let (sb, _log) = with_helm_log(sb, &real_helm());
    let (_, api) = ports(3);
    let registry = test_registry_addr();
    create_chart(&sb, "deploy", "web");
    unique_image(&sb, "web");
    sb.write(
        "devenv.toml",
        &format!(
            "version = 1\n[project]\nname = \"charts-image\"\n[cluster]\napi_port = {api}\nagents = 1\n\
             [registry]\nprovider = \"external\"\naddress = \"{registry}/devenv-test\"\n\
             pull_address = \"registry.example.test/devenv-test\"\n\
             [calico]\nmanifests = \"{}\"\n[verify]\nenabled = false\n\
             [[images]]\nname = \"chart-web\"\ncontext = \"web\"\n\
             [[charts]]\nname = \"web\"\nchart = \"deploy/web\"\n\
             set = {{ \"image.repository\" = \"chart-web\", \"image.tag\" = \"dev\" }}\n",
            crate::support::CALICO
        ),
    );
    let plan = run(&sb, &["plan", "-o", "json"], LIMIT);
    assert_eq!(plan.code, 0, "{plan:?}");
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    let pushed = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "image:chart-web")
        .and_then(|s| {
            s["commands"].as_array()?.iter().find_map(|c| {
                let args: Vec<&str> = c["args"]
                    .as_array()?
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                (c["program"] == "docker" && args.first() == Some(&"push"))
                    .then(|| args[1].to_string())
            })
        })
        .unwrap_or_else(|| panic!("no docker push in the plan: {plan:#}"));
    // The nodes pull through `pull_address` (the test registry on 127.0.0.1 is the host's).
    let tag = pushed.rsplit_once(":dv-").map(|(_, t)| format!("dv-{t}"));
    let tag = tag.unwrap_or_else(|| panic!("not a content tag: {pushed}"));
    up_ok(&sb, LIMIT);
    let deploy = object(&sb, "charts-image", "Deployment", "default", "web")
        .expect("the chart's Deployment");
    let image = &deploy["spec"]["template"]["spec"]["containers"][0]["image"];
    assert_eq!(
        image,
        &Value::from(format!("registry.example.test/devenv-test/chart-web:{tag}")),
        "{deploy:#}"
    );
}
