//! devenv's own logs (`tracing`, `-v`) on stderr, printed above the spinners.

use std::io::{self, Write};

use super::{color_enabled, lock, OutputMode, UiFlags, ACTIVE_PROGRESS};

/// Sets up `tracing` for devenv's own logs on stderr: `RUST_LOG` when set, else
/// `warn` / `-v` info / `-vv` debug / `-vvv` trace for the `devenv` target. No ANSI
/// unless Tty and colors are allowed. Lines are printed above the spinners.
pub fn init_tracing(verbosity: u8, mode: OutputMode) {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| {
            EnvFilter::new(match verbosity {
                0 => "warn",
                1 => "warn,devenv=info",
                2 => "warn,devenv=debug",
                _ => "warn,devenv=trace",
            })
        });
    let ansi = color_enabled(UiFlags::default(), mode);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_target(verbosity >= 2)
        .with_writer(|| TracingWriter)
        .try_init();
}

/// Writes tracing events to stderr, above the spinners when a Tty reporter is active.
struct TracingWriter;

impl Write for TracingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let progress = lock(&ACTIVE_PROGRESS).clone();
        match progress {
            Some(p) if !p.is_hidden() => p.suspend(|| io::stderr().write_all(buf))?,
            _ => io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}
