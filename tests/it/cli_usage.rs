//! Bad command lines exit 2 with clap's message and run nothing; good ones for the
//! config-only commands work.

use crate::support::Sandbox;

fn run(sb: &Sandbox, args: &[&str]) -> (Option<i32>, String, String) {
    let out = sb.devenv(args).output().expect("run devenv");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_command_lines_exit_2_and_run_nothing() {
    let sb = Sandbox::new();
    sb.write("devenv.toml", "version = 1\n");
    let cases: &[(&[&str], &str)] = &[
        (&["up", "--bogus"], "unexpected argument '--bogus'"),
        (&["plan", "-Z"], "unexpected argument '-Z'"),
        (&["-q", "-v", "up"], "cannot be used with"),
        (&["up", "--quiet", "--verbose"], "cannot be used with"),
        (&["frobnicate"], "unrecognized subcommand 'frobnicate'"),
        (&["config", "lint"], "unrecognized subcommand 'lint'"),
        (&["completions", "tcsh"], "invalid value 'tcsh'"),
        (&["completions"], "<SHELL>"),
        (&["plan", "-o", "yaml"], "invalid value 'yaml'"),
        (&["plan", "-f"], "a value is required for '--file <PATH>'"),
        (
            &["up", "--profile"],
            "a value is required for '--profile <NAME>'",
        ),
        (&["status", "extra"], "unexpected argument 'extra'"),
        (&[], "Usage: devenv"),
    ];
    for (args, want) in cases {
        sb.clear_calls();
        let (code, _, stderr) = run(&sb, args);
        assert_eq!(code, Some(2), "devenv {args:?}: exit {code:?}\n{stderr}");
        assert!(
            stderr.contains(want),
            "devenv {args:?}: stderr lacks {want:?}:\n{stderr}"
        );
        assert!(
            sb.calls().is_empty(),
            "devenv {args:?} ran {:?}",
            sb.calls()
        );
    }
}

#[test]
fn completions_work_for_every_supported_shell() {
    let sb = Sandbox::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, stdout, stderr) = run(&sb, &["completions", shell]);
        assert_eq!(code, Some(0), "{shell}: {stderr}");
        assert!(
            stdout.contains("devenv"),
            "{shell} completions do not mention devenv"
        );
    }
}

#[test]
fn help_and_version_exit_0_and_say_what_devenv_is() {
    let sb = Sandbox::new();
    let (code, stdout, _) = run(&sb, &["--help"]);
    assert_eq!(code, Some(0));
    for word in ["plan", "up", "config", "Exit status", "not devenv.sh"] {
        assert!(stdout.contains(word), "--help lacks {word:?}:\n{stdout}");
    }
    let (code, stdout, _) = run(&sb, &["--version"]);
    assert_eq!(code, Some(0));
    assert!(stdout.starts_with("devenv "), "{stdout}");
    let (code, stdout, _) = run(&sb, &["config", "--help"]);
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("schema") && stdout.contains("validate") && stdout.contains("show"),
        "{stdout}"
    );
}

#[test]
fn config_validate_says_which_file_and_profile_it_checked() {
    let sb = Sandbox::new();
    sb.write(
        "devenv.toml",
        "version = 1\n[profiles.small]\ncluster = { agents = 0 }\n",
    );
    let (code, _, stderr) = run(&sb, &["config", "validate"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("devenv.toml is valid"), "{stderr}");
    let (code, _, stderr) = run(&sb, &["config", "validate", "--profile", "small"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("with profile small"), "{stderr}");
    assert!(sb.calls().is_empty());
}
