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
    let mut failures_in_a_row = 0;
    loop {
        let pass = worker.clone();
        let failed = match tokio::spawn(async move { pass.pass().await }).await {
            Ok(Ok(_)) => false,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "{}: a pass failed", W::NAME);
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "{}: a pass panicked", W::NAME);
                true
            }
        };
        failures_in_a_row = if failed { failures_in_a_row + 1 } else { 0 };
        let wait = worker.wait().await;
        if failures_in_a_row > 0 {
            // A database that reads but does not write, a full disk, a bug: the work stays due,
            // so waiting "until it is due" would spin. Wait longer after each failed pass in a
            // row, and let no wake-up cut it short.
            tokio::time::sleep(wait.max(failure_backoff(failures_in_a_row))).await;
            continue;
        }
        tokio::select! {
            () = worker.signal().notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// The wait after `failures` failed passes in a row: 1 s, 2 s, 4 s, ... up to a minute.
fn failure_backoff(failures: u32) -> Duration {
    let doubled = 1u64 << failures.saturating_sub(1).min(6);
    Duration::from_secs(doubled.min(60))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A worker whose every pass fails while its work stays due at once.
    #[derive(Clone, Default)]
    struct AlwaysFailing {
        passes: Arc<AtomicUsize>,
        signal: Arc<Notify>,
    }

    impl Passes for AlwaysFailing {
        type Done = ();
        type Error = String;
        const NAME: &'static str = "test";

        async fn pass(&self) -> Result<(), String> {
            self.passes.fetch_add(1, Ordering::SeqCst);
            // Its failure queues more work, as a failing webhook pass leaves deliveries due.
            self.signal.notify_one();
            Err("the database refuses writes".to_owned())
        }

        fn signal(&self) -> &Notify {
            &self.signal
        }

        async fn wait(&self) -> Duration {
            Duration::from_millis(5)
        }
    }

    #[tokio::test]
    async fn a_failing_worker_backs_off_instead_of_spinning() {
        let worker = AlwaysFailing::default();
        let passes = worker.passes.clone();
        let running = tokio::spawn(run_forever(worker));
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        running.abort();
        // Passes at 0 s and 1 s (then 3 s, 7 s, ...); without the back-off, about 300.
        let done = passes.load(Ordering::SeqCst);
        assert!((1..=3).contains(&done), "{done} passes in 1.5 s");
    }

    #[test]
    fn the_back_off_doubles_up_to_a_minute() {
        let waits: Vec<u64> = (1..=9).map(|n| failure_backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
