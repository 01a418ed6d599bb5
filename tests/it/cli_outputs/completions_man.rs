//! Completions for every shell and the man page.

use super::*;

// ---------------------------------------------------------------------------------------
// Completions and the man page

#[test]
fn completions_for_every_shell_name_the_subcommands() {
    let sb = Sandbox::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let o = run(&mut sb.devenv(["completions", shell]));
        assert_eq!(code(&o), Some(0), "{shell}: {}", show(&o));
        let script = text(&o.stdout);
        assert!(script.len() > 200, "{shell}: {script}");
        for word in ["devenv", "up", "down", "plan", "status", "reset", "profile"] {
            assert!(has_word(&script, word), "{shell} completion lacks {word:?}");
        }
    }
}

/// `word` appears delimited (not as part of `update` or `--up-to`).
fn has_word(text: &str, word: &str) -> bool {
    let part = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(i, _)| {
        !text[..i].chars().next_back().is_some_and(part)
            && !text[i + word.len()..].chars().next().is_some_and(part)
    })
}

#[test]
fn man_prints_roff() {
    let sb = Sandbox::new();
    let o = run(&mut sb.devenv(["man"]));
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    let roff = text(&o.stdout);
    assert!(roff.contains(".TH devenv"), "{roff}");
    for word in ["up", "down", "status", "Exit status"] {
        assert!(roff.contains(word), "man page lacks {word:?}");
    }
}
