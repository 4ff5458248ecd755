//! A closed-loop load runner: `concurrency` workers, each sending its next request as soon as
//! the previous one answered, until a deadline or a request budget is reached (whichever comes
//! first). Latencies of successful operations are kept exactly (the budget bounds the memory).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One operation of a closed loop, boxed.
pub type BoxFut = std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'static>>;

/// Runs `work` on a thread and a current-thread runtime of its own, so that the tasks of this
/// process never delay it: what a probe run there measures is the server (and the shared cores).
pub async fn on_own_runtime<T: Send + 'static>(
    work: impl FnOnce(&tokio::runtime::Runtime) -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let result = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|rt| work(&rt));
        let _ = tx.send(result);
    });
    rx.await.map_err(|e| format!("probe thread: {e}"))?
}

/// When a run stops: after `duration` or after `max_requests` operations were started.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub duration: Duration,
    pub max_requests: u64,
}

impl Bounds {
    pub fn new(duration: Duration, max_requests: u64) -> Self {
        Self {
            duration,
            max_requests,
        }
    }
}

/// The outcome of a run.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// Sorted latencies of the successful operations, in microseconds.
    latencies_us: Vec<u64>,
}

impl Stats {
    /// Successful operations per second.
    pub fn throughput(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }

    /// The latency at quantile `q` (0..=1) in milliseconds, nearest-rank; 0 without samples.
    pub fn percentile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let n = self.latencies_us.len();
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.latencies_us[rank - 1] as f64 / 1000.0
    }

    pub fn p50(&self) -> f64 {
        self.percentile_ms(0.50)
    }

    pub fn p99(&self) -> f64 {
        self.percentile_ms(0.99)
    }

    pub fn max_ms(&self) -> f64 {
        self.latencies_us.last().map_or(0.0, |v| *v as f64 / 1000.0)
    }

    /// One line for progress output.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "{} ok in {:.2} s = {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms",
            self.ok,
            self.elapsed.as_secs_f64(),
            self.throughput(),
            self.p50(),
            self.p99(),
            self.max_ms()
        );
        if self.errors > 0 {
            line.push_str(&format!(
                ", {} errors (first: {})",
                self.errors,
                self.first_error.as_deref().unwrap_or("?")
            ));
        }
        line
    }
}

/// Runs `op(sequence_number, worker_index)` from `concurrency` workers within `bounds`.
pub async fn closed_loop<F, Fut>(concurrency: usize, bounds: Bounds, op: F) -> Stats
where
    F: Fn(u64, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + bounds.duration;
    let mut workers = Vec::with_capacity(concurrency);
    for worker in 0..concurrency.max(1) {
        let op = Arc::clone(&op);
        let next = Arc::clone(&next);
        let max = bounds.max_requests;
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut first_error = None;
            loop {
                if Instant::now() >= deadline {
                    break;
                }
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if seq >= max {
                    break;
                }
                let t0 = Instant::now();
                let result = op(seq, worker).await;
                let us = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
                match result {
                    Ok(()) => latencies.push(us),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (latencies, errors, first_error)
        }));
    }
    let mut stats = Stats::default();
    for worker in workers {
        match worker.await {
            Ok((latencies, errors, first_error)) => {
                stats.ok += latencies.len() as u64;
                stats.latencies_us.extend(latencies);
                stats.errors += errors;
                if stats.first_error.is_none() {
                    stats.first_error = first_error;
                }
            }
            Err(e) => {
                stats.errors += 1;
                stats
                    .first_error
                    .get_or_insert(format!("worker failed: {e}"));
            }
        }
    }
    stats.elapsed = started.elapsed();
    stats.latencies_us.sort_unstable();
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stops_at_the_request_budget_and_ranks_latencies() {
        let stats = closed_loop(
            4,
            Bounds::new(Duration::from_secs(5), 100),
            |seq, _| async move {
                if seq % 10 == 0 {
                    Err(format!("failed {seq}"))
                } else {
                    Ok(())
                }
            },
        )
        .await;
        assert_eq!(stats.ok + stats.errors, 100);
        assert_eq!(stats.errors, 10);
        assert!(stats.p99() >= stats.p50());
    }

    #[tokio::test]
    async fn stops_at_the_deadline() {
        let stats = closed_loop(
            2,
            Bounds::new(Duration::from_millis(50), u64::MAX),
            |_, _| async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok(())
            },
        )
        .await;
        assert!(stats.elapsed < Duration::from_secs(1));
        assert!(stats.ok > 0);
    }
}
