//! 1. Immutable fields: a changed Job devenv applied is re-created; one it did not, never.

use super::*;

// ---------------------------------------------------------------------------------------
// 1. immutable fields: a changed Job devenv applied is re-created; one it did not, never

#[test]
fn a_changed_job_that_devenv_applied_is_recreated_and_waited_for() {
    let sb = Sandbox::new();
    project(&sb, "recreate", "\"auto\"");
    overlay(&sb, &[("migrate.yaml", &job("migrate", "1", ""))]);
    up_ok(&sb, LIMIT);

    // A new image tag (here: a new env value) changes the Job's pod template, which the
    // API server refuses to update (spec.template is immutable).
    overlay(&sb, &[("migrate.yaml", &job("migrate", "2", ""))]);
    sb.clear_calls();
    let r = up_ok(&sb, LIMIT);
    assert!(
        r.text.contains(
            "re-created job.batch/migrate in shop (spec.template cannot change in place)"
        ),
        "{r:?}"
    );
    let calls = sb.calls();
    let delete = calls
        .iter()
        .position(|c| {
            c.tool == "kubectl"
                && c.has(&["delete", "Job.batch", "migrate", "-n", "shop"])
                && c.has(&["--cascade=foreground"])
        })
        .unwrap_or_else(|| panic!("no foreground delete of the Job:\n{}", lines(&calls)));
    let applies: Vec<usize> = calls
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            c.tool == "kubectl" && c.has(&["apply"]) && c.line().contains("app.apply.yaml")
        })
        .map(|(i, _)| i)
        .collect();
    assert!(
        applies.len() == 2 && applies[0] < delete && delete < applies[1],
        "refused apply, delete, apply again:\n{}",
        lines(&calls)
    );
    let waited = calls
        .iter()
        .rposition(|c| c.has(&["wait", "--for=condition=Complete", "job/migrate"]))
        .expect("the new Job is waited for");
    assert!(waited > applies[1], "{}", lines(&calls));
    // The Job in the cluster is the new one, and it completed.
    let j = get_json(&sb, "recreate", &["job", "migrate", "-n", "shop"]);
    assert_eq!(
        j["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"],
        "2"
    );
    assert_eq!(condition(&j, "Complete").as_deref(), Some("True"), "{j:#}");
}

#[test]
fn an_immutable_change_to_an_object_devenv_did_not_create_is_refused_with_the_field() {
    let sb = Sandbox::new();
    project(&sb, "notours", "\"none\"");
    overlay(&sb, &[("seed.yaml", &job("seed", "ours", ""))]);
    // The cluster exists (first up with an empty overlay), then someone else creates the Job.
    overlay(&sb, &[]);
    up_ok(&sb, LIMIT);
    let theirs = sb.write(
        "theirs.yaml",
        &job("seed", "theirs", "").replace(
            "metadata:\n  name: seed\n",
            "metadata:\n  name: seed\n  namespace: shop\n",
        ),
    );
    admin(
        &sb,
        "notours",
        &[
            "apply",
            "--server-side",
            "--field-manager=someone-else",
            "-f",
            theirs.to_str().unwrap(),
        ],
    );
    overlay(&sb, &[("seed.yaml", &job("seed", "ours", ""))]);
    sb.clear_calls();
    let r = run(&sb, &["up"], LIMIT);
    assert_eq!(r.code, 1, "{r:?}");
    let text = r.text.clone();
    for want in [
        "job.batch/seed in shop cannot be changed in place",
        "spec.template",
        "devenv did not create it",
        "kubectl -n shop delete job.batch seed",
    ] {
        assert!(text.contains(want), "missing {want:?}: {r:?}");
    }
    let calls = sb.calls();
    assert!(
        !calls
            .iter()
            .any(|c| c.tool == "kubectl" && c.has(&["delete"])),
        "{}",
        lines(&calls)
    );
    let j = get_json(&sb, "notours", &["job", "seed", "-n", "shop"]);
    assert_eq!(
        j["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"],
        "theirs"
    );
}
