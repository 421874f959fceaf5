//! Message trace (Java `AsyncTraceDispatcher`): producers and consumers hand trace records to a
//! bounded buffer without waiting; one task per dispatcher collects them into batches, groups
//! them by the traced topic and sends each group as a message in Java's `TraceDataEncoder`
//! text format to the trace topic, through a transport of the layer above (a producer of its
//! own). A full buffer drops the record and counts it: tracing never slows or fails the send
//! or the handler call it describes.
//!
//! ```text
//!  send / handler call ── record() ── try_send ──▶ [buffer: 2048] ──▶ dispatcher task
//!                                 full: dropped += 1                 batch: `batch_size` or
//!                                                                    `flush_interval`
//!                                                                    group by topic, pack up
//!                                                                    to `max_message_size`
//!                                                                    ─▶ transport (≤ 4 sends
//!                                                                       in flight)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::error::{Result, ValidationError};
use crate::protocol::{TraceRecord, DEFAULT_TRACE_TOPIC};

use super::validate::check_send_topic;

/// Trace messages being sent at once by one dispatcher (Java 5.x: a pool of 2 to 4 threads).
const MAX_SENDS_IN_FLIGHT: usize = 4;

/// Longest `KEYS` property of a trace message: the broker stores at most 32 767 bytes of
/// properties, so the index keys stop short of that (the records themselves are all sent).
const MAX_INDEX_KEYS_LEN: usize = 16 * 1024;

/// Message-trace settings (Java `enableMsgTrace`, `customizedTraceTopic`,
/// `traceMsgBatchNum`). Tracing is off unless a producer or consumer builder is given one of
/// these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceConfig {
    topic: String,
    batch_size: usize,
    flush_interval: Duration,
    buffer_capacity: usize,
    max_message_size: usize,
}

impl Default for TraceConfig {
    fn default() -> Self {
        Self {
            topic: DEFAULT_TRACE_TOPIC.to_string(),
            batch_size: 10,
            flush_interval: Duration::from_secs(1),
            buffer_capacity: 2048,
            max_message_size: 128_000,
        }
    }
}

impl TraceConfig {
    /// Tracing to `RMQ_SYS_TRACE_TOPIC` with the defaults below.
    pub fn new() -> Self {
        Self::default()
    }

    /// The topic trace messages go to (Java `customizedTraceTopic`; default
    /// `RMQ_SYS_TRACE_TOPIC`, which a broker creates when started with
    /// `traceTopicEnable=true`). A namespace applies to a custom topic, as in Java 5.x.
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = topic.into();
        self
    }

    /// The trace topic.
    pub fn topic_name(&self) -> &str {
        &self.topic
    }

    /// Traced events (a send, a handler call) collected into one batch before it is sent
    /// (Java 5.x `traceMsgBatchNum`, 10; 1 to 100).
    pub fn batch_size(mut self, events: usize) -> Self {
        self.batch_size = events;
        self
    }

    /// Longest a traced event waits for its batch to fill (Java 5.x: 5 s; here 1 s;
    /// 1 ms to 1 h).
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self
    }

    /// Traced events buffered at most; more are dropped and counted in
    /// [`TraceStats::dropped`] (Java 5.x: 2048; 1 to 1 000 000).
    pub fn buffer_capacity(mut self, events: usize) -> Self {
        self.buffer_capacity = events;
        self
    }

    /// Characters of records packed into one trace message before another is started (Java
    /// 5.x: 128 000; 1 KiB to 4 MiB).
    pub fn max_message_size(mut self, chars: usize) -> Self {
        self.max_message_size = chars;
        self
    }

    /// Every setting in its range; no network.
    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        // Trace records are sent to this topic, so a topic no client may send to (the
        // scheduler's, the transactions') would drop every record.
        check_send_topic(&self.topic)?;
        let out_of_range = |field, expected, got: String| {
            Err(ValidationError::OutOfRange {
                field,
                expected,
                got,
            })
        };
        if !(1..=100).contains(&self.batch_size) {
            return out_of_range(
                "trace batch size",
                "1 to 100",
                self.batch_size.to_string(),
            );
        }
        if self.flush_interval < Duration::from_millis(1)
            || self.flush_interval > Duration::from_secs(3600)
        {
            return out_of_range(
                "trace flush interval",
                "1 ms to 1 h",
                format!("{:?}", self.flush_interval),
            );
        }
        if !(1..=1_000_000).contains(&self.buffer_capacity) {
            return out_of_range(
                "trace buffer capacity",
                "1 to 1000000",
                self.buffer_capacity.to_string(),
            );
        }
        if !(1024..=4 * 1024 * 1024).contains(&self.max_message_size) {
            return out_of_range(
                "trace max message size",
                "1 KiB to 4 MiB",
                self.max_message_size.to_string(),
            );
        }
        Ok(())
    }
}

/// Counts of one producer's or consumer's message trace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TraceStats {
    /// Traced events accepted into the buffer.
    pub recorded: u64,
    /// Traced events dropped because the buffer was full or the dispatcher had stopped.
    pub dropped: u64,
    /// Trace messages the broker stored.
    pub sent_messages: u64,
    /// Trace messages that could not be sent (their records are lost).
    pub failed_messages: u64,
}

/// The traced event of one send or one handler call: its records and the topic they are
/// about (trace messages group records by that topic, as Java's do).
#[derive(Debug, Clone)]
pub struct TraceEvent {
    /// The traced topic, without namespace.
    pub topic: String,
    /// Its records, written in this order.
    pub records: Vec<TraceRecord>,
}

/// The future a [`TraceTransport`] returns.
pub type TransportFuture = Pin<Box<dyn Future<Output = Result<()>> + Send + 'static>>;

/// Sends trace messages; implemented by the layer above with a producer of its own.
pub trait TraceTransport: Send + Sync + 'static {
    /// Sends one trace message with `body` to `topic`, indexed under `keys`.
    fn send(&self, topic: &str, body: String, keys: Vec<String>) -> TransportFuture;

    /// Stops the transport once the dispatcher sent what it had.
    fn shutdown(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
}

#[derive(Default)]
struct Counters {
    recorded: AtomicU64,
    dropped: AtomicU64,
    sent: AtomicU64,
    failed: AtomicU64,
}

/// A running dispatcher. [`TraceDispatcher::record`] never waits.
pub struct TraceDispatcher {
    tx: mpsc::Sender<TraceEvent>,
    counters: Arc<Counters>,
    stop: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
    transport: Arc<dyn TraceTransport>,
    topic: String,
}

impl fmt::Debug for TraceDispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceDispatcher")
            .field("topic", &self.topic)
            .field("stats", &self.stats())
            .finish()
    }
}

impl TraceDispatcher {
    /// Starts the dispatcher task on the caller's runtime. `config` must be validated.
    pub fn start(config: &TraceConfig, transport: Arc<dyn TraceTransport>) -> Arc<Self> {
        let (tx, rx) = mpsc::channel(config.buffer_capacity);
        let counters = Arc::new(Counters::default());
        let stop = CancellationToken::new();
        let task = tokio::spawn(
            Batcher {
                rx,
                transport: Arc::clone(&transport),
                counters: Arc::clone(&counters),
                topic: config.topic.clone(),
                batch_size: config.batch_size,
                flush_interval: config.flush_interval,
                max_message_size: config.max_message_size,
                permits: Arc::new(Semaphore::new(MAX_SENDS_IN_FLIGHT)),
                sends: JoinSet::new(),
            }
            .run(stop.clone()),
        );
        Arc::new(Self {
            tx,
            counters,
            stop,
            task: Mutex::new(Some(task)),
            transport,
            topic: config.topic.clone(),
        })
    }

    /// The trace topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Hands an event to the dispatcher; drops (and counts) it when the buffer is full.
    pub fn record(&self, event: TraceEvent) {
        match self.tx.try_send(event) {
            Ok(()) => {
                self.counters.recorded.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                let dropped = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                crate::metrics::record_trace_dropped();
                if dropped.is_power_of_two() {
                    warn!(topic = %self.topic, dropped, "trace buffer full or stopped; trace records dropped");
                }
            }
        }
    }

    /// The counts so far.
    pub fn stats(&self) -> TraceStats {
        TraceStats {
            recorded: self.counters.recorded.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            sent_messages: self.counters.sent.load(Ordering::Relaxed),
            failed_messages: self.counters.failed.load(Ordering::Relaxed),
        }
    }

    /// Sends what is buffered (within `limit`), then stops the task and the transport.
    /// Events recorded afterwards are dropped. Idempotent.
    pub async fn shutdown(&self, limit: Duration) {
        self.stop.cancel();
        let task = self
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(mut task) = task else {
            return;
        };
        if tokio::time::timeout(limit, &mut task).await.is_err() {
            warn!(topic = %self.topic, "trace records still unsent at shutdown; dropped");
            task.abort();
            let _ = task.await;
        }
        self.transport.shutdown().await;
    }
}

impl Drop for TraceDispatcher {
    fn drop(&mut self) {
        // A dispatcher dropped without shutdown (its owner dropped without shutting down)
        // leaves no task behind.
        if let Some(task) = self
            .task
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            task.abort();
        }
    }
}

/// The dispatcher task's state.
struct Batcher {
    rx: mpsc::Receiver<TraceEvent>,
    transport: Arc<dyn TraceTransport>,
    counters: Arc<Counters>,
    topic: String,
    batch_size: usize,
    flush_interval: Duration,
    max_message_size: usize,
    permits: Arc<Semaphore>,
    sends: JoinSet<()>,
}

impl Batcher {
    async fn run(mut self, stop: CancellationToken) {
        let mut stopping = false;
        while !stopping {
            let first = tokio::select! {
                event = self.rx.recv() => event,
                _ = stop.cancelled() => None,
            };
            let Some(first) = first else { break };
            let mut batch = vec![first];
            let flush_at = Instant::now() + self.flush_interval;
            while batch.len() < self.batch_size {
                tokio::select! {
                    event = self.rx.recv() => match event {
                        Some(event) => batch.push(event),
                        None => break,
                    },
                    _ = tokio::time::sleep_until(flush_at) => break,
                    _ = stop.cancelled() => {
                        stopping = true;
                        break;
                    }
                }
            }
            self.flush(batch).await;
            while self.sends.try_join_next().is_some() {}
        }
        // Stopping: whatever is buffered still goes out, in batches.
        self.rx.close();
        let mut rest = Vec::new();
        while let Ok(event) = self.rx.try_recv() {
            rest.push(event);
        }
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(self.batch_size));
            let batch = std::mem::replace(&mut rest, tail);
            self.flush(batch).await;
        }
        while self.sends.join_next().await.is_some() {}
    }

    /// Groups a batch by traced topic and sends each group in messages of at most
    /// `max_message_size` characters (a single larger record goes alone).
    async fn flush(&mut self, batch: Vec<TraceEvent>) {
        let mut by_topic: BTreeMap<String, Vec<TraceRecord>> = BTreeMap::new();
        for event in batch {
            by_topic
                .entry(event.topic)
                .or_default()
                .extend(event.records);
        }
        for records in by_topic.into_values() {
            let mut body = String::new();
            let mut keys = IndexKeys::default();
            for record in &records {
                record.encode_into(&mut body);
                keys.add(record);
                if body.len() >= self.max_message_size {
                    self.send(std::mem::take(&mut body), std::mem::take(&mut keys))
                        .await;
                }
            }
            if !body.is_empty() {
                self.send(body, keys).await;
            }
        }
    }

    /// Sends one trace message, waiting only for a free send slot.
    async fn send(&mut self, body: String, keys: IndexKeys) {
        let Ok(permit) = Arc::clone(&self.permits).acquire_owned().await else {
            return;
        };
        let future = self.transport.send(&self.topic, body, keys.into_vec());
        let counters = Arc::clone(&self.counters);
        let topic = self.topic.clone();
        self.sends.spawn(async move {
            let _permit = permit;
            match future.await {
                Ok(()) => {
                    counters.sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    debug!(topic = %topic, error = %e, "trace message not sent");
                }
            }
        });
    }
}

/// The `KEYS` of one trace message: every traced message id and key, once, within
/// [`MAX_INDEX_KEYS_LEN`].
#[derive(Default)]
struct IndexKeys {
    keys: BTreeSet<String>,
    len: usize,
}

impl IndexKeys {
    fn add(&mut self, record: &TraceRecord) {
        // A batch's message ids are one comma-separated field; each is indexed on its own.
        for key in record.index_keys().flat_map(|k| k.split(',')) {
            if key.is_empty() || self.len + key.len() + 1 > MAX_INDEX_KEYS_LEN {
                continue;
            }
            if self.keys.insert(key.to_string()) {
                self.len += key.len() + 1;
            }
        }
    }

    fn into_vec(self) -> Vec<String> {
        self.keys.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{PubTrace, TraceMessageType};
    use std::sync::Mutex as StdMutex;

    #[derive(Default)]
    struct Captured {
        messages: StdMutex<Vec<(String, String, Vec<String>)>>,
        stopped: AtomicU64,
        gate: tokio::sync::Notify,
        hold: std::sync::atomic::AtomicBool,
    }

    struct Capture(Arc<Captured>);

    impl TraceTransport for Capture {
        fn send(&self, topic: &str, body: String, keys: Vec<String>) -> TransportFuture {
            let captured = Arc::clone(&self.0);
            let topic = topic.to_string();
            Box::pin(async move {
                if captured.hold.load(Ordering::Acquire) {
                    captured.gate.notified().await;
                }
                captured.messages.lock().unwrap().push((topic, body, keys));
                Ok(())
            })
        }

        fn shutdown(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
            let captured = Arc::clone(&self.0);
            Box::pin(async move {
                captured.stopped.fetch_add(1, Ordering::Relaxed);
            })
        }
    }

    fn event(topic: &str, id: usize) -> TraceEvent {
        TraceEvent {
            topic: topic.to_string(),
            records: vec![TraceRecord::Pub(PubTrace {
                timestamp_ms: 1,
                region_id: "DefaultRegion".into(),
                group: "g".into(),
                topic: topic.to_string(),
                msg_id: format!("ID{id}"),
                tags: None,
                keys: Some(format!("k{id}")),
                store_host: "127.0.0.1:10911".into(),
                body_length: 1,
                cost_ms: 1,
                msg_type: TraceMessageType::Normal,
                offset_msg_id: "O".into(),
                success: true,
            })],
        }
    }

    #[tokio::test]
    async fn a_full_batch_goes_out_at_once_grouped_by_topic_with_every_id_as_a_key() {
        let captured = Arc::new(Captured::default());
        let config = TraceConfig::new()
            .batch_size(4)
            .flush_interval(Duration::from_secs(3600));
        let dispatcher = TraceDispatcher::start(&config, Arc::new(Capture(Arc::clone(&captured))));
        for (i, topic) in ["A", "B", "A", "B"].into_iter().enumerate() {
            dispatcher.record(event(topic, i));
        }
        while captured.messages.lock().unwrap().len() < 2 {
            tokio::task::yield_now().await;
        }
        let messages = captured.messages.lock().unwrap().clone();
        assert!(messages.iter().all(|(t, _, _)| t == DEFAULT_TRACE_TOPIC));
        let a = messages.iter().find(|(_, b, _)| b.contains("ID0")).unwrap();
        assert!(a.1.contains("ID2") && !a.1.contains("ID1"));
        assert_eq!(a.2, ["ID0", "ID2", "k0", "k2"]);
        assert_eq!(a.1.matches('\u{2}').count(), 2);
        dispatcher.shutdown(Duration::from_secs(5)).await;
        assert_eq!(captured.stopped.load(Ordering::Relaxed), 1);
        assert_eq!(dispatcher.stats().sent_messages, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_event_waits_for_the_flush_interval_only() {
        let captured = Arc::new(Captured::default());
        let config = TraceConfig::new().flush_interval(Duration::from_millis(200));
        let dispatcher = TraceDispatcher::start(&config, Arc::new(Capture(Arc::clone(&captured))));
        dispatcher.record(event("A", 1));
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(captured.messages.lock().unwrap().is_empty());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(captured.messages.lock().unwrap().len(), 1);
        dispatcher.shutdown(Duration::from_secs(1)).await;
    }

    #[tokio::test]
    async fn a_full_buffer_drops_and_counts_without_waiting_and_shutdown_sends_the_rest() {
        let captured = Arc::new(Captured::default());
        captured.hold.store(true, Ordering::Release);
        let config = TraceConfig::new()
            .batch_size(1)
            .buffer_capacity(8)
            .flush_interval(Duration::from_millis(1));
        let dispatcher = TraceDispatcher::start(&config, Arc::new(Capture(Arc::clone(&captured))));
        // Sends hang: 4 in flight, one batch waiting for a slot, 8 buffered, the rest dropped.
        for i in 0..1000 {
            dispatcher.record(event("A", i));
            tokio::task::yield_now().await;
        }
        let stats = dispatcher.stats();
        assert_eq!(stats.recorded + stats.dropped, 1000);
        assert!(stats.dropped >= 1000 - 8 - 5 - 2, "{stats:?}");
        captured.hold.store(false, Ordering::Release);
        captured.gate.notify_waiters();
        dispatcher.shutdown(Duration::from_secs(5)).await;
        let sent = captured.messages.lock().unwrap().len() as u64;
        assert_eq!(sent, stats.recorded);
        dispatcher.record(event("A", 1));
        assert_eq!(dispatcher.stats().dropped, stats.dropped + 1);
    }

    #[tokio::test]
    async fn records_beyond_the_message_size_start_another_message() {
        let captured = Arc::new(Captured::default());
        let config = TraceConfig::new()
            .batch_size(100)
            .max_message_size(1024)
            .flush_interval(Duration::from_millis(10));
        let dispatcher = TraceDispatcher::start(&config, Arc::new(Capture(Arc::clone(&captured))));
        for i in 0..40 {
            dispatcher.record(event("A", i));
        }
        dispatcher.shutdown(Duration::from_secs(5)).await;
        let messages = captured.messages.lock().unwrap().clone();
        assert!(messages.len() >= 2, "{}", messages.len());
        let records: usize = messages.iter().map(|m| m.1.matches('\u{2}').count()).sum();
        assert_eq!(records, 40);
        assert!(messages.iter().all(|m| m.1.len() < 1024 + 200));
    }

    #[test]
    fn settings_out_of_range_are_validation_errors() {
        for bad in [
            TraceConfig::new().batch_size(0),
            TraceConfig::new().batch_size(101),
            TraceConfig::new().buffer_capacity(0),
            TraceConfig::new().flush_interval(Duration::ZERO),
            TraceConfig::new().max_message_size(10),
            TraceConfig::new().topic(""),
            TraceConfig::new().topic("a b"),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        assert!(TraceConfig::new().validate().is_ok());
    }
}
