//! The loop every background worker runs: one pass at a time, each pass in a task of its own (so
//! even a bug that panics cannot stop the worker), a failed pass logged, and between passes a
//! wait that a new job cuts short.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Notify;

/// A worker that works in passes.
pub(crate) trait Passes: Clone + Send + Sync + 'static {
    /// What a pass returns (how much it did).
    type Done: Send + 'static;
    type Error: std::fmt::Display + Send + 'static;

    /// The name that starts the worker's log lines.
    const NAME: &'static str;

    /// One pass over what is due.
    fn pass(&self) -> impl Future<Output = Result<Self::Done, Self::Error>> + Send;

    /// Wakes the worker before its wait is over.
    fn signal(&self) -> &Notify;

    /// How long to wait after a pass when nobody wakes the worker.
    fn wait(&self) -> impl Future<Output = Duration> + Send;
}

/// Runs passes of `worker` until the task is dropped.
pub(crate) async fn run_forever<W: Passes>(worker: W) {
    loop {
        let pass = worker.clone();
        match tokio::spawn(async move { pass.pass().await }).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "{}: a pass failed", W::NAME),
            Err(e) => tracing::error!(error = %e, "{}: a pass panicked", W::NAME),
        }
        let wait = worker.wait().await;
        tokio::select! {
            () = worker.signal().notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}
