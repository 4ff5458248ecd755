//! Reading what the servers of this test process log. The servers run in the test process, so
//! their events reach its one global subscriber; a second layer of it writes every event at
//! `info` and above (production's default level) into a shared buffer while at least one
//! [`LogCapture`] is alive. Tests of one binary run in parallel and share the buffer, so a
//! capture may hold other tests' lines too: assert on values unique to the test (a random
//! token), never on the absence of ordinary lines.

use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::filter::dynamic_filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Filter};

static BUFFER: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// Captures the log lines written from now on until it is dropped.
pub struct LogCapture {
    start: usize,
}

/// Starts capturing the servers' log lines.
pub fn capture_logs() -> LogCapture {
    let buffer = BUFFER.lock().unwrap_or_else(|e| e.into_inner());
    ACTIVE.fetch_add(1, Ordering::SeqCst);
    LogCapture {
        start: buffer.len(),
    }
}

impl LogCapture {
    /// Everything logged since the capture started (plain text, one event a line, with the
    /// fields of the spans it happened in).
    pub fn text(&self) -> String {
        let buffer = BUFFER.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(buffer.get(self.start..).unwrap_or_default()).into_owned()
    }
}

impl Drop for LogCapture {
    fn drop(&mut self) {
        let mut buffer = BUFFER.lock().unwrap_or_else(|e| e.into_inner());
        if ACTIVE.fetch_sub(1, Ordering::SeqCst) == 1 {
            buffer.clear();
        }
    }
}

/// Which events the capture layer formats: `info` and above, only while a capture is alive.
/// (Asked again at every span and event: a capture starts and ends at any time.)
pub(crate) fn capture_filter<S: Subscriber>() -> impl Filter<S> {
    dynamic_filter_fn(|meta: &Metadata<'_>, _: &Context<'_, S>| {
        ACTIVE.load(Ordering::SeqCst) > 0 && *meta.level() <= Level::INFO
    })
    .with_max_level_hint(Level::INFO)
}

/// The writer of the capture layer.
#[derive(Clone, Copy)]
pub(crate) struct CaptureWriter;

impl io::Write for CaptureWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if ACTIVE.load(Ordering::SeqCst) > 0 {
            BUFFER
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CaptureWriter {
    type Writer = CaptureWriter;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}
