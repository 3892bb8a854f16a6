//! Log lines captured in memory, for tests that assert what was logged
//! (and what never was).

use std::sync::{Arc, Mutex};

/// A `tracing` subscriber's writer that keeps everything written; clones
/// share the buffer.
///
/// ```
/// use llm_layers_mock::testing::CapturedLogs;
///
/// let logs = CapturedLogs::default();
/// let subscriber = tracing_subscriber::fmt()
///     .with_writer(logs.clone())
///     .with_ansi(false)
///     .finish();
/// tracing::subscriber::with_default(subscriber, || tracing::warn!("careful"));
/// assert!(logs.text().contains("careful"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Captures this thread's logs (INFO and above) until the guard drops.
    /// A test reading logs wants a test binary of its own: `tracing`
    /// decides per process which call sites log.
    pub fn on_this_thread() -> (CapturedLogs, tracing::subscriber::DefaultGuard) {
        let logs = CapturedLogs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
