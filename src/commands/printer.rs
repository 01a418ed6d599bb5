//! The one place a command writes what a user reads outside a run's [`Reporter`]
//! (the model is uv's `printer.rs`): errors with their help line, notes, and the command's
//! own answer. A run of steps reports through the `Reporter` instead (spinners, CI modes).
//!
//! Streams are chosen deliberately. **stdout** carries what a user pipes or reads as the
//! command's answer: `plan` (text and `-o json`), `config show`, `config schema`,
//! `completions`, `man`, the `-o json` documents of `up`/`build`/`apply`/`verify`/`status`,
//! and the `status` and `doctor` tables. **stderr** carries every other line (errors,
//! notes, the `config:` line, `init`'s list of files), so `-o json | jq` never sees them.
//!
//! [`Reporter`]: crate::ui::Reporter

use std::io::Write;

use crate::hint::Hinted;

/// `error: message` and, when there is one, `  = help: …` under it (one hint style, as
/// rustc, cargo and devenv's config errors print it). stderr.
pub fn error(e: &Hinted) {
    eprintln!("error: {}", e.render());
}

/// `note: message`, something the user should know that is not a failure. stderr.
pub fn note(message: &str) {
    eprintln!("note: {message}");
}

/// A message line as it is (`config: devenv.toml`, `created  devenv.toml`, …). stderr.
pub fn line(message: &str) {
    eprintln!("{message}");
}

/// Text already laid out by its renderer (config diagnostics with their snippets, CI
/// annotation lines), written as it is, newlines included. stderr.
pub fn rendered(text: &str) {
    eprint!("{text}");
}

/// The command's answer, written as it is (a plan, a TOML document, a man page). stdout.
pub fn answer(text: &str) {
    print!("{text}");
}

/// One line of the command's answer (a row of the `status` table). stdout.
pub fn answer_line(line: &str) {
    println!("{line}");
}

/// A JSON document (`-o json`, `config schema`), pretty-printed, on stdout.
pub fn json(value: &serde_json::Value) {
    answer_line(&serde_json::to_string_pretty(value).expect("a JSON value serializes"));
}

/// stdout for a generator that writes itself (clap_complete, clap_mangen).
pub fn answer_writer() -> impl Write {
    std::io::stdout()
}
