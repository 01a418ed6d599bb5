//! Built-in profiles, compiled into the binary from `profiles/*.toml`.

/// (name, TOML text) of every built-in profile.
pub const BUILTIN: &[(&str, &str)] = &[
    ("ci", include_str!("../../profiles/ci.toml")),
    (
        "single-node",
        include_str!("../../profiles/single-node.toml"),
    ),
];

/// The text of a built-in profile.
pub fn builtin(name: &str) -> Option<&'static str> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}
