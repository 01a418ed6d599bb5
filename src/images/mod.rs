//! Images: which files a `docker build` sees (`.dockerignore` exactly as Docker reads
//! it), a content-addressed fingerprint of everything that decides the image (so the
//! tag is the same on every machine and changes when an input does), a stat cache that
//! makes an unchanged context cost a directory walk instead of a read, the argv of
//! `docker build` / `docker push`, and a small registry HTTP client (does the tag
//! already exist? with Docker's credentials).

pub mod argv;
pub mod builder;
pub mod context;
pub mod docker_config;
pub mod dockerignore;
pub mod fingerprint;
mod goregex;
pub mod registry;
pub mod statcache;

pub use argv::{docker_build_argv, docker_push_argv};
pub use builder::DockerBuilder;
pub use context::{context_entries, ContextEntry, ContextError, ContextSemantics, EntryKind};
pub use dockerignore::{read_dockerignore, read_ignore_file, PatternError, PatternMatcher};
pub use fingerprint::{fingerprint, BuildInputs, Fingerprint, FingerprintError, FingerprintStats};
pub use registry::{RegistryClient, RegistryError, RegistryOptions, Scheme};
pub use statcache::StatCache;
