//! Non-interactive by detection: no escape codes or prompts without a terminal or under CI.

use super::*;

// ---------------------------------------------------------------------------------------
// Non-interactive by detection

fn assert_no_escapes(what: &str, o: &Output) {
    for (name, bytes) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
        assert!(
            !bytes.contains(&0x1b),
            "{what}: escape code on {name}\n{}",
            show(o)
        );
    }
}

#[test]
fn no_escape_codes_without_a_terminal() {
    let p = Project::new();
    // A terminal type that allows color: only the missing terminal may turn it off.
    let dv = |args: &[&str]| {
        let mut c = p.sb.devenv(args);
        c.env("TERM", "xterm-256color");
        c
    };
    for args in [
        &["plan"][..],
        &["status"],
        &["up", "-v"],
        &["status"],
        &["up"],
        &["down"],
        &["--bogus"],
        &["reset"],
        &["completions", "bash"],
    ] {
        let o = run(&mut dv(args));
        assert_no_escapes(&args.join(" "), &o);
    }
    p.sb.fault(json!({"tool": "k3d", "match": ["registry", "create"], "action": "fail", "stderr": "\u{1b}[31mred failure\u{1b}[0m"}));
    let o = run(&mut dv(&["up"]));
    assert_eq!(code(&o), Some(1), "{}", show(&o));
    // A tool's own colors are stripped too.
    assert!(text(&o.stderr).contains("red failure"), "{}", show(&o));
    assert_no_escapes("failing up", &o);
    p.sb.write("devenv.toml", &p.toml.replace("agents = 1", "agents = -1"));
    let o = run(&mut dv(&["plan"]));
    assert_eq!(code(&o), Some(2), "{}", show(&o));
    assert_no_escapes("config error", &o);
}

/// Runs devenv with stdin, stdout and stderr on a new pseudo-terminal; returns the exit
/// status and everything the terminal received.
fn on_a_terminal(sb: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    use std::os::fd::{FromRawFd, OwnedFd};
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two new descriptors, which we then own.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut cmd = sb.command(env!("CARGO_BIN_EXE_devenv"));
    cmd.args(args)
        .env("TERM", "xterm-256color")
        .env("COLUMNS", "120")
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    for (k, v) in env {
        cmd.env(k, v);
    }
    // The terminal must be the controlling one for nothing here; a new session keeps
    // devenv from touching the test's own.
    use std::os::unix::process::CommandExt;
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn devenv on a pty");
    drop(cmd); // closes our copies of the slave: EOF (EIO) once devenv exits
    let mut reader = std::fs::File::from(master);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break, // EIO: the slave side is closed
        }
    }
    let status = child.wait().unwrap();
    (status.code(), text(&out))
}

#[test]
fn ci_turns_off_spinners_colors_and_prompts_even_on_a_terminal() {
    let p = Project::new();
    // Control: on a terminal without CI devenv draws (so the scan below can see escapes).
    let (status, tty) = on_a_terminal(&p.sb, &["up"], &[]);
    assert_eq!(status, Some(0), "{tty}");
    assert!(
        tty.contains('\u{1b}'),
        "no escape codes on a terminal:\n{tty}"
    );
    for ci in ["true", "1"] {
        let (status, out) = on_a_terminal(&p.sb, &["up"], &[("CI", ci)]);
        assert_eq!(status, Some(0), "{out}");
        assert!(!out.contains('\u{1b}'), "CI={ci}: escape codes:\n{out:?}");
        assert!(out.contains("devenv up succeeded"), "{out}");
        // No spinner frames: every line is a whole event line or a summary line.
        assert!(!out.replace("\r\n", "\n").contains('\r'), "{out:?}");
    }
    // A question `reset` would ask is an error naming the flag, even on a terminal.
    p.sb.clear_calls();
    let (status, out) = on_a_terminal(&p.sb, &["reset"], &[("CI", "true")]);
    assert_eq!(status, Some(2), "{out}");
    assert!(out.contains("--yes"), "{out}");
    assert!(
        p.sb.mutating_calls().is_empty(),
        "{:?}",
        p.sb.mutating_calls()
    );
}

#[test]
fn reset_without_yes_refuses_and_deletes_nothing() {
    let p = Project::new();
    let o = run(&mut p.sb.devenv(["up"]));
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    p.sb.clear_calls();
    let o = run(&mut p.sb.devenv(["reset"]));
    assert_eq!(code(&o), Some(2), "{}", show(&o));
    let err = text(&o.stderr);
    assert!(err.contains("--yes"), "{err}");
    assert!(
        err.contains("k3d-demo-registry") && err.contains("`demo`"),
        "{err}"
    );
    let deletes: Vec<String> =
        p.sb.calls()
            .iter()
            .filter(|c| c.tool == "k3d" && c.has(&["delete"]))
            .map(|c| c.line())
            .collect();
    assert!(deletes.is_empty(), "{deletes:?}");
    assert!(
        p.sb.mutating_calls().is_empty(),
        "{:?}",
        p.sb.mutating_calls()
    );
    let world = p.sb.world().to_string();
    assert!(
        world.contains("k3d-demo-server-0"),
        "the cluster is gone: {world}"
    );
}
