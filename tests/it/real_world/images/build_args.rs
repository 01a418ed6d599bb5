//! Tests that can tell: build args reach `docker build` and the tag.

use super::*;

// ---------------------------------------------------------------------------------------
// Tests that can tell: build args reach `docker build` and the tag

#[test]
fn build_args_from_devenv_toml_reach_docker_build_and_the_tag() {
    let sb = Sandbox::new();
    image_project(&sb, "127.0.0.1:9", "build_args = { VERSION = \"1.4\" }", "");
    let a = build_args(&plan_json(&sb), "api");
    let i = a
        .iter()
        .position(|x| x == "--build-arg")
        .expect("--build-arg");
    assert_eq!(a[i + 1], "VERSION=1.4", "{a:?}");
    image_project(&sb, "127.0.0.1:9", "build_args = { VERSION = \"1.5\" }", "");
    let b = build_args(&plan_json(&sb), "api");
    assert!(b.contains(&"VERSION=1.5".to_string()), "{b:?}");
    assert_ne!(tag_in(&a), tag_in(&b), "a changed build arg keeps the tag");
}
