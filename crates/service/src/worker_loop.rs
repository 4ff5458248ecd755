//! The loop every background worker runs: one pass at a time, each pass in a task of its own (so
//! even a bug that panics cannot stop the worker), a failed pass logged, and between passes a
//! wait that a new job cuts short.

use std::future::Future;
use std::time::Duration;

use tokio::sync::{Notify, watch};

/// Asks background workers to stop: each finishes the pass it is in (an email handed to the
/// mail server is marked sent, a webhook attempt is recorded) and then returns, so a shutdown
/// can wait for them before it closes the pool.
#[derive(Debug)]
pub struct StopWorkers(watch::Sender<bool>);

/// What a worker watches for [`StopWorkers`].
#[derive(Debug, Clone)]
pub struct StopSignal(watch::Receiver<bool>);

impl StopWorkers {
    /// A stopper and the signal its workers watch.
    pub fn new() -> (Self, StopSignal) {
        let (sender, receiver) = watch::channel(false);
        (Self(sender), StopSignal(receiver))
    }

    /// Asks every worker watching to stop after its pass in progress.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl StopSignal {
    /// A signal that never comes (a worker that runs until its task is dropped).
    pub fn never() -> Self {
        let (sender, receiver) = watch::channel(false);
        // The sender is gone: `requested` then waits forever.
        drop(sender);
        Self(receiver)
    }

    pub(crate) fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Returns once a stop is asked for (never when nobody can ask any more).
    pub(crate) async fn requested(&mut self) {
        if self.0.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// A worker that works in passes.
pub(crate) trait Passes: Clone + Send + Sync + 'static {
    /// What a pass returns (how much it did).
    type Done: Send + 'static;
    type Error: std::fmt::Display + Send + 'static;

    /// The name that starts the worker's log lines.
    const NAME: &'static str;

    /// One pass over what is due; once `stop` is asked for, it starts nothing new and returns
    /// when what it started has ended.
    fn pass(
        &self,
        stop: &StopSignal,
    ) -> impl Future<Output = Result<Self::Done, Self::Error>> + Send;

    /// Wakes the worker before its wait is over.
    fn signal(&self) -> &Notify;

    /// How long to wait after a pass when nobody wakes the worker.
    fn wait(&self) -> impl Future<Output = Duration> + Send;
}

/// Runs passes of `worker` until `stop` comes (then after the pass in progress) or the task is
/// dropped.
pub(crate) async fn run_until<W: Passes>(worker: W, mut stop: StopSignal) {
    let mut failures_in_a_row = 0;
    while !stop.is_requested() {
        let pass = worker.clone();
        let watching = stop.clone();
        let failed = match tokio::spawn(async move { pass.pass(&watching).await }).await {
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
            tokio::select! {
                () = tokio::time::sleep(wait.max(failure_backoff(failures_in_a_row))) => {}
                () = stop.requested() => {}
            }
            continue;
        }
        tokio::select! {
            () = worker.signal().notified() => {}
            () = tokio::time::sleep(wait) => {}
            () = stop.requested() => {}
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
    #![allow(clippy::unwrap_used, clippy::expect_used)]

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

        async fn pass(&self, _: &StopSignal) -> Result<(), String> {
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
        let running = tokio::spawn(run_until(worker, StopSignal::never()));
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        running.abort();
        // Passes at 0 s and 1 s (then 3 s, 7 s, ...); without the back-off, about 300.
        let done = passes.load(Ordering::SeqCst);
        assert!((1..=3).contains(&done), "{done} passes in 1.5 s");
    }

    /// A worker whose pass takes a while and counts the passes it finished.
    #[derive(Clone, Default)]
    struct Slow {
        finished: Arc<AtomicUsize>,
        signal: Arc<Notify>,
    }

    impl Passes for Slow {
        type Done = ();
        type Error = String;
        const NAME: &'static str = "slow";

        async fn pass(&self, _: &StopSignal) -> Result<(), String> {
            tokio::time::sleep(Duration::from_millis(300)).await;
            self.finished.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }

        fn signal(&self) -> &Notify {
            &self.signal
        }

        async fn wait(&self) -> Duration {
            Duration::from_secs(3600)
        }
    }

    #[tokio::test]
    async fn a_stopped_worker_finishes_its_pass_then_returns() {
        let worker = Slow::default();
        let finished = worker.finished.clone();
        let (stopper, signal) = StopWorkers::new();
        let running = tokio::spawn(run_until(worker, signal));
        // Asked to stop in the middle of its first pass.
        tokio::time::sleep(Duration::from_millis(100)).await;
        stopper.stop();
        tokio::time::timeout(Duration::from_secs(5), running)
            .await
            .expect("the worker returns")
            .unwrap();
        assert_eq!(finished.load(Ordering::SeqCst), 1, "the pass was finished");
    }

    #[tokio::test]
    async fn a_waiting_worker_returns_at_once_when_stopped() {
        let worker = Slow::default();
        let (stopper, signal) = StopWorkers::new();
        let running = tokio::spawn(run_until(worker, signal));
        tokio::time::sleep(Duration::from_millis(500)).await; // past its pass, into its hour's wait
        let asked = std::time::Instant::now();
        stopper.stop();
        tokio::time::timeout(Duration::from_secs(5), running)
            .await
            .expect("the worker returns")
            .unwrap();
        assert!(asked.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn the_back_off_doubles_up_to_a_minute() {
        let waits: Vec<u64> = (1..=9).map(|n| failure_backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
