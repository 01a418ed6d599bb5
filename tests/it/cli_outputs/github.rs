//! GitHub Actions: one group per step, annotations at the config line, the job summary.

use super::*;

// ---------------------------------------------------------------------------------------
// GitHub Actions

/// The groups of a GitHub-mode log: (header, lines inside). Panics on a nested group, an
/// `::endgroup::` without a group, a group never closed, or an event line of another step
/// inside a group (output interleaved).
fn github_groups(log: &str) -> Vec<(String, Vec<String>)> {
    let mut groups = Vec::new();
    let mut open: Option<(String, Vec<String>)> = None;
    let mut stop_token: Option<String> = None;
    for (n, line) in log.lines().enumerate() {
        if let Some(t) = &stop_token {
            // Between ::stop-commands:: and its token nothing is a command.
            if line == format!("::{t}::") {
                stop_token = None;
            } else if let Some((_, lines)) = open.as_mut() {
                lines.push(line.to_string());
            }
            continue;
        }
        if let Some(t) = line.strip_prefix("::stop-commands::") {
            stop_token = Some(t.to_string());
        } else if let Some(h) = line.strip_prefix("::group::") {
            assert!(open.is_none(), "group nested at line {n}:\n{log}");
            open = Some((h.to_string(), Vec::new()));
        } else if line == "::endgroup::" {
            groups.push(
                open.take()
                    .unwrap_or_else(|| panic!("endgroup without group at line {n}:\n{log}")),
            );
        } else if let Some((h, lines)) = open.as_mut() {
            assert!(
                !is_event_line(line),
                "event line inside the group {h:?} at line {n}:\n{log}"
            );
            lines.push(line.to_string());
        }
    }
    assert!(open.is_none(), "group never closed:\n{log}");
    groups
}

/// The step id in a group header `2026-…Z  done   cluster  Create cluster … (0.1s)`.
fn group_step(header: &str) -> &str {
    header.split_whitespace().nth(2).unwrap_or("")
}

#[test]
fn github_actions_folds_each_step_in_one_group_and_appends_the_summary() {
    let p = Project::new();
    let summary = p.sb.root.path().join("step-summary.md");
    std::fs::write(&summary, "## from an earlier step\n").unwrap();
    let o = run(p
        .sb
        .devenv(["up"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_WORKSPACE", &p.sb.project));
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    let log = text(&o.stderr);
    let groups = github_groups(&log);

    // Every step that ran commands has exactly one group, holding its own output.
    // (Preflight's commands print only data devenv reads, versions as JSON: that stays in
    // the step's log, so preflight has no group; checked below.)
    let expect = [
        (
            "registry",
            "Successfully created registry 'k3d-demo-registry'",
        ),
        ("cluster", "Cluster 'demo' created successfully!"),
        (
            "calico-crds",
            "installations.operator.tigera.io serverside-applied",
        ),
        (
            "calico-operator",
            "deployment \"tigera-operator\" successfully rolled out",
        ),
        ("image:web", "docker stub: build -t localhost:"),
        ("overlay:dev", "deployment.apps/web serverside-applied"),
    ];
    for (step, needle) in expect {
        let mine: Vec<_> = groups
            .iter()
            .filter(|(h, _)| group_step(h) == step)
            .collect();
        assert_eq!(mine.len(), 1, "groups of {step}: {mine:?}\n{log}");
        let (header, lines) = mine[0];
        assert!(header.contains("  done   "), "{header}");
        assert!(
            lines.iter().any(|l| l.contains(needle)),
            "{step}'s group lacks {needle:?}: {lines:?}"
        );
    }
    assert!(
        !log.contains("{\"k3d\":\"v"),
        "data a command printed for devenv (k3d version -o json) was folded:\n{log}"
    );
    // No step id appears twice, and no output was left over for an "unfinished" group.
    let ids: std::collections::HashSet<&str> = groups.iter().map(|(h, _)| group_step(h)).collect();
    assert_eq!(ids.len(), groups.len(), "a step has two groups:\n{log}");
    assert!(!log.contains("(unfinished)"), "{log}");
    assert!(!log.contains("::error"), "{log}");

    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.starts_with("## from an earlier step\n\n### devenv up succeeded in "),
        "{md}"
    );
    assert_eq!(md.matches("### devenv up").count(), 1, "{md}");
    for title in [
        "Check prerequisites",
        "Create cluster demo (1 server, 1 agent, no flannel)",
        "Build and push image web",
        "Apply overlay dev (deploy/overlays/dev)",
    ] {
        let row = md
            .lines()
            .find(|l| l.starts_with("| ✅ | ") && l.contains(&format!("| {title} |")))
            .unwrap_or_else(|| panic!("no row for {title:?}:\n{md}"));
        // | ✅ | title | done | 0.1s |
        let duration = row.trim_end_matches(" |").rsplit("| ").next().unwrap();
        assert!(
            duration.ends_with('s') && duration[..duration.len() - 1].parse::<f64>().is_ok(),
            "duration {duration:?} in {row}"
        );
    }
    let image = format!("| web | `localhost:{}/web:", p.registry_port);
    assert!(md.contains("#### Images") && md.contains(&image), "{md}");
    assert!(md.contains("| built |"), "{md}");
    assert!(
        md.contains("#### Overlays") && md.contains("| dev | 1 | `"),
        "{md}"
    );

    // A second run appends again (the journal makes every step unchanged).
    let o = run(p
        .sb
        .devenv(["up"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary));
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("## from an earlier step\n"), "{md}");
    assert_eq!(md.matches("### devenv up succeeded").count(), 2, "{md}");
}

#[test]
fn github_actions_annotates_a_failed_step_at_its_config_line() {
    let p = Project::new();
    p.sb.fault(json!({"tool": "k3d", "match": ["cluster", "create"], "action": "fail", "stderr": "boom: no space left"}));
    let summary = p.sb.root.path().join("step-summary.md");
    // The repository is the sandbox root; devenv.toml is in its `project/` folder.
    let o = run(p
        .sb
        .devenv(["up"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_WORKSPACE", p.sb.root.path()));
    assert_eq!(code(&o), Some(1), "{}", show(&o));
    let log = text(&o.stderr);
    github_groups(&log);
    let errors: Vec<&str> = log.lines().filter(|l| l.starts_with("::error")).collect();
    assert_eq!(errors.len(), 1, "{log}");
    let line = p.line_of("[cluster]");
    assert!(
        errors[0].starts_with(&format!("::error file=project/devenv.toml,line={line},")),
        "annotation not on [cluster] (line {line}): {}",
        errors[0]
    );
    assert!(errors[0].contains("boom: no space left"), "{}", errors[0]);
    // The message is one line for GitHub (escaped newlines).
    assert!(errors[0].contains("%0A"), "{}", errors[0]);
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("### devenv up failed in "), "{md}");
    assert!(md.contains("| ❌ | Create cluster demo"), "{md}");
}

#[test]
fn github_actions_annotates_image_and_overlay_failures_at_their_own_table() {
    let p = Project::new();
    // A second overlay, so the annotation must pick the right [[overlays]] table.
    p.sb.write(
        "deploy/overlays/extra/kustomization.yaml",
        "namespace: app\nresources:\n  - worker.yaml\n",
    );
    p.sb.write(
        "deploy/overlays/extra/worker.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: worker\nspec:\n  selector:\n    matchLabels: {app: worker}\n  template:\n    metadata:\n      labels: {app: worker}\n    spec:\n      containers:\n        - name: worker\n          image: busybox\n",
    );
    let toml = format!(
        "{}\n[[overlays]]\nname = \"extra\"\npath = \"deploy/overlays/extra\"\ndepends_on = [\"dev\"]\n",
        p.toml
    );
    p.sb.write("devenv.toml", &toml);
    let overlay_lines: Vec<usize> = toml
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == "[[overlays]]")
        .map(|(i, _)| i + 1)
        .collect();
    p.sb.fault(json!({"tool": "kubectl", "match": ["rollout", "status", "deployment/worker"], "action": "fail", "stderr": "error: deployment \"worker\" exceeded its progress deadline"}));
    let gh = |sb: &Sandbox| {
        let o = run(sb.devenv(["up"]).env("GITHUB_ACTIONS", "true"));
        assert_eq!(code(&o), Some(1), "{}", show(&o));
        let log = text(&o.stderr);
        github_groups(&log);
        let errors: Vec<String> = log
            .lines()
            .filter(|l| l.starts_with("::error"))
            .map(String::from)
            .collect();
        assert_eq!(errors.len(), 1, "{log}");
        errors[0].clone()
    };
    let error = gh(&p.sb);
    assert!(
        error.starts_with(&format!(
            "::error file=devenv.toml,line={},",
            overlay_lines[1]
        )),
        "not on the second [[overlays]] (line {}): {error}",
        overlay_lines[1]
    );
    assert!(
        error.contains("title=Apply overlay extra") && error.contains("worker"),
        "{error}"
    );

    // A failed push points at the image's [[images]] table.
    p.sb.clear_faults();
    p.sb.write("app/index.html", "changed\n"); // a new tag: the image is built again
    let stub = p.sb.root.path().join("docker-stub");
    let script = std::fs::read_to_string(&stub).unwrap();
    std::fs::write(&stub, script.replace("  build|push)", "  push) echo 'denied: requested access to the resource is denied' >&2; exit 1 ;;\n  build)")).unwrap();
    let error = gh(&p.sb);
    let line = p.line_of("[[images]]");
    assert!(
        error.starts_with(&format!("::error file=devenv.toml,line={line},")),
        "not on [[images]] (line {line}): {error}"
    );
    assert!(error.contains("denied"), "{error}");
}

#[test]
fn github_actions_annotates_a_config_error_and_exits_2() {
    let p = Project::new();
    let toml = p.toml.replace("agents = 1", "agents = \"many\"");
    p.sb.write("devenv.toml", &toml);
    let line = toml.lines().position(|l| l == "agents = \"many\"").unwrap() + 1;
    let o = run(p
        .sb
        .devenv(["up"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_WORKSPACE", &p.sb.project));
    assert_eq!(code(&o), Some(2), "{}", show(&o));
    let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
    let errors: Vec<&str> = all.lines().filter(|l| l.starts_with("::error")).collect();
    assert_eq!(errors.len(), 1, "{all}");
    assert!(
        errors[0].starts_with(&format!("::error file=devenv.toml,line={line},col=10")),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("cluster.agents"), "{}", errors[0]);
    // The human diagnostic is there too, and nothing ran.
    assert!(text(&o.stderr).contains("devenv.toml:"), "{}", show(&o));
    assert!(p.sb.calls().is_empty(), "{:?}", p.sb.calls());
}
