//! The write queue for logs produced inside nuvem (function logs): [`Ingest::push`] never
//! blocks and never fails. Events wait in a bounded channel ([`QUEUE`] events); when it is
//! full an event is dropped and counted (`dropped` in `/_nuvem/health`). One task drains the
//! channel in rounds: after the first event of a round it lets [`LINGER`] pass (or
//! [`BATCH`] events gather), then writes the round — every stream — in one transaction on
//! the blocking pool. A line is visible about [`LINGER`] after it was printed (CloudWatch
//! takes seconds), never slows the invocation that printed it, and busy functions cost one
//! commit per round rather than one per stream and wake-up.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use crate::LogsService;

/// Events waiting to be written, at most.
pub const QUEUE: usize = 16_384;
/// Events written per round, at most.
const BATCH: usize = 2_048;
/// How long a round gathers events after its first one.
const LINGER: std::time::Duration = std::time::Duration::from_millis(25);
/// What one message may hold (longer ones are cut, as Lambda cuts lines to 256 KB).
const MAX_MESSAGE: usize = 256 * 1024;

struct Event {
    group: String,
    stream: String,
    timestamp: i64,
    message: String,
}

/// A handle on the queue. Cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Event>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    ingested: AtomicU64,
    dropped: AtomicU64,
}

impl Ingest {
    /// Starts the writer task on the current tokio runtime (without one, every push is
    /// dropped and counted).
    pub fn start(svc: LogsService) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let counters = Arc::new(Counters::default());
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(writer(svc, rx, counters.clone()));
            }
            Err(_) => tracing::warn!("logs: no async runtime; function logs are not stored"),
        }
        Self { tx, counters }
    }

    /// Queues one event. Returns at once; a full queue drops the event (counted).
    pub fn push(&self, group: &str, stream: &str, timestamp: i64, mut message: String) {
        if message.len() > MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        let event = Event {
            group: group.to_owned(),
            stream: stream.to_owned(),
            timestamp,
            message,
        };
        if self.tx.try_send(event).is_err() {
            let before = self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            if before.is_power_of_two() || before == 0 {
                tracing::warn!(
                    dropped = before + 1,
                    "logs: the write queue is full or stopped; log events dropped"
                );
            }
        }
    }

    /// Events written so far.
    pub fn ingested(&self) -> u64 {
        self.counters.ingested.load(Ordering::Relaxed)
    }

    /// Events dropped so far (queue full, or a write that failed).
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }
}

async fn writer(svc: LogsService, mut rx: mpsc::Receiver<Event>, counters: Arc<Counters>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        if rx.recv_many(&mut batch, BATCH).await == 0 {
            return;
        }
        if batch.len() < BATCH {
            // Let the round gather: one commit for whatever the functions print meanwhile.
            let _ = tokio::time::timeout(LINGER, async {
                while batch.len() < BATCH {
                    let room = BATCH - batch.len();
                    if rx.recv_many(&mut batch, room).await == 0 {
                        break;
                    }
                }
            })
            .await;
        }
        let mut by_stream: BTreeMap<(String, String), Vec<(i64, String)>> = BTreeMap::new();
        for e in batch.drain(..) {
            by_stream
                .entry((e.group, e.stream))
                .or_default()
                .push((e.timestamp, e.message));
        }
        let round: Vec<crate::ops::StreamEvents> = by_stream.into_iter().collect();
        let me = svc.clone();
        // On the blocking pool whatever the engine: a commit may wait on fsync or a database,
        // and the async workers are the invocations'.
        let (round, results) = svc
            .store()
            .offload(move || {
                let results = crate::ops::ingest(&me, &round, crate::now_ms());
                (round, results)
            })
            .await;
        let results = match results {
            Ok(r) => r,
            Err(e) => {
                let n: usize = round.iter().map(|(_, events)| events.len()).sum();
                counters.dropped.fetch_add(n as u64, Ordering::Relaxed);
                tracing::warn!(error = %e, events = n, "logs: writing log events failed; dropped");
                continue;
            }
        };
        for (((group, _), events), result) in round.iter().zip(results) {
            let n = events.len();
            match result {
                Ok(w) => {
                    counters.ingested.fetch_add(w as u64, Ordering::Relaxed);
                    counters
                        .dropped
                        .fetch_add((n - w.min(n)) as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    counters.dropped.fetch_add(n as u64, Ordering::Relaxed);
                    tracing::warn!(error = %e, group, "logs: writing log events failed; dropped");
                }
            }
        }
    }
}
