//! devenv.toml: discovery, versions, profiles, the typed schema, validation and diagnostics.

pub mod diagnostic;
pub mod load;
pub mod namespace_template;
pub mod paths;
pub mod profiles;
pub mod schema;
pub mod suggest;
pub mod tools;
pub mod units;
pub mod validate;

pub use diagnostic::{ConfigError, ConfigErrors, Location, Source};
pub use load::{discover, load, load_text, LoadOptions, Loaded, FILE_NAME};
pub use schema::Config;

/// Load from text with a file name (used by the fuzz target and tests): paths resolve
/// against the current directory.
pub fn load_from_str(
    text: &str,
    file_name: &str,
    profile: Option<&str>,
) -> Result<Loaded, ConfigErrors> {
    let root = std::env::current_dir().unwrap_or_else(|_| std::path::PathBuf::from("."));
    load_text(text, file_name, &root, None, profile)
}

/// The JSON Schema of devenv.toml, generated from the same types the loader uses.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Config);
    let mut v = serde_json::to_value(schema).expect("a schema serializes");
    // A profile is a partial config: the same tables (no `version`, no nested `profiles`),
    // with unknown keys refused as the loader refuses them after merging.
    let mut partial = serde_json::Map::new();
    if let Some(props) = v["properties"].as_object() {
        for (k, p) in props {
            if k != "version" && k != "profiles" {
                partial.insert(k.clone(), p.clone());
            }
        }
    }
    v["properties"]["profiles"]["additionalProperties"] = serde_json::json!({
        "type": "object",
        "description": "A partial config merged over the file: tables merge key by key, other values (lists too) replace.",
        "properties": partial,
        "additionalProperties": false
    });
    v
}
