//! The context guard: no chosen context, one outside allowed_contexts or the kubeconfig, a
//! k3d project with `context`; the context in any file of a kubeconfig list.

use super::*;

// ---------------------------------------------------------------------------------------
// 5. context safety

#[test]
fn without_a_chosen_context_nothing_runs_even_with_a_current_context() {
    let t = team();
    std::fs::write(t.alice.join("devenv.toml"), devenv_toml("", "")).unwrap();
    let prod_before = t.sb.world()["clusters"]["prod"].clone();
    let r = dev(&t.sb, &t.alice, "alice", &["up"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("--context"),
        "the error must name --context: {r:?}"
    );
    assert!(
        r.stderr.contains("current-context"),
        "and say the current-context is not used: {r:?}"
    );
    assert!(r.calls.is_empty(), "something ran: {r:?}");
    assert_eq!(t.sb.world()["clusters"]["prod"], prod_before);
    // plan refuses too: it would print commands against some context.
    let p = dev(&t.sb, &t.alice, "alice", &["plan"]);
    assert_eq!(p.code, 2, "{p:?}");

    // DEVENV_CONTEXT is the same choice as --context.
    t.sb.clear_calls();
    let o =
        t.sb.devenv(["up"])
            .current_dir(&t.alice)
            .env("DEVENV_OWNER", "alice")
            .env("DEVENV_CONTEXT", SHARED)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(ids(&owned_by(&t.sb, "alice")), expected_for("alice"));
    assert_eq!(t.sb.world()["clusters"]["prod"], prod_before);
}

#[test]
fn a_context_outside_allowed_contexts_or_the_kubeconfig_is_refused() {
    let t = team();
    let prod_before = t.sb.world()["clusters"]["prod"].clone();
    let write =
        |keys: &str| std::fs::write(t.alice.join("devenv.toml"), devenv_toml(keys, "")).unwrap();

    // devenv.toml names prod, which its own allowed_contexts does not allow.
    write("context = \"k3d-prod\"\nallowed_contexts = [\"k3d-shared\", \"k3d-staging-*\"]\n");
    let r = dev(&t.sb, &t.alice, "alice", &["up"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("allowed_contexts") && r.stderr.contains("k3d-prod"),
        "{r:?}"
    );
    assert!(r.calls.is_empty(), "something ran: {r:?}");

    // The usual file: --context (or DEVENV_CONTEXT) cannot get around the guard either,
    // for any command that reaches the cluster.
    write(CLUSTER_KEYS);
    for args in [
        &["up"][..],
        &["down"][..],
        &["reset", "--yes"][..],
        &["status"][..],
        &["apply"][..],
        &["plan"][..],
    ] {
        let mut with = vec!["--context", PROD];
        with.extend_from_slice(args);
        let r = dev(&t.sb, &t.alice, "alice", &with);
        assert_eq!(r.code, 2, "devenv {with:?}: {r:?}");
        assert!(
            r.stderr.contains("allowed_contexts") && r.stderr.contains("k3d-prod"),
            "{r:?}"
        );
        assert!(r.calls.is_empty(), "devenv {with:?}: {r:?}");
    }
    // A context the kubeconfig does not have (allowed by the pattern).
    let r = dev(
        &t.sb,
        &t.alice,
        "alice",
        &["--context", "k3d-staging-eu", "up"],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("k3d-staging-eu") && r.stderr.contains("not in your kubeconfig"),
        "{r:?}"
    );
    assert!(
        r.stderr.contains(SHARED),
        "the error lists the contexts there are: {r:?}"
    );
    assert!(r.calls.is_empty(), "{r:?}");
    assert_eq!(t.sb.world()["clusters"]["prod"], prod_before);

    // --context overrides the file's context: the file names a staging cluster this
    // machine does not have, the flag picks the shared one.
    write("context = \"k3d-staging-eu\"\nallowed_contexts = [\"k3d-shared\", \"k3d-staging-*\"]\n");
    assert_eq!(dev(&t.sb, &t.alice, "alice", &["up"]).code, 2);
    let r = dev_ok(&t.sb, &t.alice, "alice", &["--context", SHARED, "up"]);
    only_shared_context(&r);
    assert_eq!(ids(&owned_by(&t.sb, "alice")), expected_for("alice"));
    assert_eq!(t.sb.world()["clusters"]["prod"], prod_before);
}

#[test]
fn a_k3d_project_refuses_context() {
    let sb = Sandbox::new();
    sb.write(
        "devenv.toml",
        "version = 1\n\n[project]\nname = \"laptop\"\n",
    );
    let o = sb.devenv(["--context", SHARED, "plan"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("provider = \"existing\""), "{err}");
    assert!(sb.calls().is_empty());
}

#[test]
fn the_context_may_live_in_any_file_of_a_kubeconfig_list() {
    let t = team();
    // KUBECONFIG=laptop:default, the shared context in the second file: devenv must let
    // kubectl merge the list (as the user's own kubectl does), not pick one file.
    let laptop = t.sb.root.path().join("laptop-kubeconfig");
    std::fs::write(
        &laptop,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: laptop\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: laptop\n  context:\n    cluster: laptop\n    user: me\ncurrent-context: laptop\nusers:\n- name: me\n  user:\n    token: x\n",
    )
    .unwrap();
    let list = std::env::join_paths([laptop.clone(), t.sb.default_kubeconfig()])
        .unwrap()
        .into_string()
        .unwrap();
    let snapshots = || {
        [laptop.clone(), t.sb.default_kubeconfig()].map(|p| {
            (
                devenv::kubeconfig::snapshot(&p).unwrap(),
                std::fs::read(&p).unwrap(),
            )
        })
    };
    let before = snapshots();
    t.sb.clear_calls();
    let o =
        t.sb.devenv(["up"])
            .current_dir(&t.alice)
            .env("DEVENV_OWNER", "alice")
            .env("KUBECONFIG", &list)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
    let calls = t.sb.calls();
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stderr),
        lines(&calls).join("\n")
    );
    for c in calls.iter().filter(|c| talks_to_cluster(c)) {
        assert_eq!(context_of(c).as_deref(), Some(SHARED), "{}", c.line());
        assert!(
            !c.argv.iter().any(|a| a.starts_with("--kubeconfig")),
            "{}",
            c.line()
        );
        assert_eq!(
            c.kubeconfig_env.as_deref(),
            Some(list.as_str()),
            "{}",
            c.line()
        );
    }
    assert_eq!(ids(&owned_by(&t.sb, "alice")), expected_for("alice"));
    assert!(snapshots() == before, "a kubeconfig of the list changed");
}
