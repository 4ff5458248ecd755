//! Group commit for tracks: concurrent tracks that arrive within a short window are written in
//! one transaction and one commit ([`record_batch`]), and each caller is answered only after
//! that commit, so an acknowledged event is as durable as one written alone.
//!
//! A collector task takes the first waiting track, gathers more until the window has passed or
//! the batch is full, and hands the batch to an executor. At most [`MAX_BATCHES_IN_FLIGHT`]
//! batches run at once; while they do, tracks keep queueing, and the next batch takes every
//! track that waited (up to the maximum), so batches grow with the load by themselves.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, oneshot};

use super::ledger::{Ledger, TrackItem, TrackResult, record as record_batch};
use crate::ServiceError;

/// Batches written at the same time (each holds one pooled connection while it runs).
pub const MAX_BATCHES_IN_FLIGHT: usize = 4;

/// How tracks are grouped into transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackBatching {
    /// How long the first track of a batch waits for others; zero writes every track in a
    /// transaction of its own, at once.
    pub window: Duration,
    /// The most tracks in one transaction.
    pub max: usize,
}

impl Default for TrackBatching {
    fn default() -> Self {
        Self {
            window: Duration::from_millis(1),
            max: 64,
        }
    }
}

pub(crate) struct Submission {
    item: TrackItem,
    reply: oneshot::Sender<TrackResult>,
}

/// Where tracks are submitted: straight to the database (window zero, or no runtime to run a
/// collector on) or to the collector.
#[derive(Clone)]
pub(crate) enum TrackWriter {
    Direct(Ledger),
    Batched(mpsc::Sender<Submission>),
}

impl TrackWriter {
    /// A writer for `batching`; starts the collector task on the current Tokio runtime.
    pub(crate) fn new(ledger: Ledger, batching: TrackBatching) -> Self {
        let runtime = tokio::runtime::Handle::try_current();
        match runtime {
            Ok(runtime) if !batching.window.is_zero() && batching.max > 1 => {
                let (sender, receiver) = mpsc::channel(batching.max * MAX_BATCHES_IN_FLIGHT * 4);
                runtime.spawn(collect(ledger, batching, receiver));
                Self::Batched(sender)
            }
            _ => Self::Direct(ledger),
        }
    }

    /// Records one track and answers it once its transaction committed.
    pub(crate) async fn write(&self, item: TrackItem) -> TrackResult {
        match self {
            Self::Direct(ledger) => record_batch(ledger, vec![item])
                .await
                .pop()
                .unwrap_or_else(|| Err(lost())),
            Self::Batched(sender) => {
                let (reply, answer) = oneshot::channel();
                sender
                    .send(Submission { item, reply })
                    .await
                    .map_err(|_| lost())?;
                answer.await.map_err(|_| lost())?
            }
        }
    }
}

fn lost() -> ServiceError {
    ServiceError::internal("track", "the track batcher stopped")
}

/// The collector: runs until every sender is gone.
async fn collect(
    ledger: Ledger,
    batching: TrackBatching,
    mut receiver: mpsc::Receiver<Submission>,
) {
    let slots = Arc::new(Semaphore::new(MAX_BATCHES_IN_FLIGHT));
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + batching.window;
        while batch.len() < batching.max {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(next)) => batch.push(next),
                Ok(None) | Err(_) => break,
            }
        }
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        // Tracks that queued while every slot was busy join this batch.
        while batch.len() < batching.max {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let ledger = ledger.clone();
        tokio::spawn(async move {
            let (items, replies): (Vec<_>, Vec<_>) =
                batch.into_iter().map(|s| (s.item, s.reply)).unzip();
            let results = record_batch(&ledger, items).await;
            for (reply, result) in replies.into_iter().zip(results) {
                // A caller that went away (client disconnected) no longer waits; its track is
                // recorded all the same, and a retry with its request id is a duplicate.
                let _ = reply.send(result);
            }
            drop(slot);
        });
    }
}
