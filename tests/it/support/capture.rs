//! A writer a test reads back: what the Reporter wrote, as text. Shared by the
//! integration tests (`support::capture`) and the Reporter's unit tests (src/ui/tests.rs
//! includes this file by path).

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

/// Clones share one buffer: hand one to the Reporter, read the other.
#[derive(Clone, Default)]
pub struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Buf {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}
