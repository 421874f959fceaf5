//! Auto-batching (Java 5.x `autoBatch`, off by default): single sends of one topic and queue
//! collected into `SEND_BATCH_MESSAGE` requests. This file holds the settings and the open
//! batches; `auto_send.rs` adds to them and sends what they hand out.
//!
//! Where it differs from Java's `ProduceAccumulator`, on purpose:
//! - one accumulator per producer, never shared through the client id, so one producer's
//!   shutdown cannot stop another's flushing (apache/rocketmq#10935) and no message joins a
//!   batch of another producer or cluster (#8806);
//! - the batch request carries no `UNIQ_KEY` of its own, so a broker never stores it as one
//!   "inner batch" on a `BatchCQ` topic and every member keeps its own id and offset (#7764);
//! - a failed batch hands its error to every member, not to the caller that sent it only;
//! - nothing is reserved before a message is accepted, so no byte count can leak; sends in
//!   flight are bounded by the producer's back-pressure, as every other send;
//! - the time a message waits in a batch counts against its own send timeout;
//! - shutdown sends the open batches at once instead of stranding them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::message::SendResult;
use super::prepared::Prepared;
use crate::client::MessageQueue;
use crate::error::{Result, ValidationError};

/// Longest [`AutoBatch::max_delay`] accepted (Java: 30 000 ms).
const MAX_DELAY_LIMIT: Duration = Duration::from_secs(30);

/// Auto-batching settings, given to [`super::ProducerBuilder::auto_batch`].
///
/// With auto-batching on, [`super::Producer::send`], [`super::Producer::send_to_queue`] and
/// [`super::Producer::send_with_selector`] put a message into the open batch of its topic
/// (and queue, when the caller fixed one) instead of sending it alone. A batch is sent as one
/// `SEND_BATCH_MESSAGE` request when its encoded size would pass [`AutoBatch::max_bytes`],
/// when it holds [`AutoBatch::max_messages`], or [`AutoBatch::max_delay`] after its first
/// message arrived, whichever comes first. Each caller still gets its own [`SendResult`]:
/// its own message id, the broker's offset id of its message and its queue offset.
///
/// Messages that a batch cannot carry, or would carry worse, are sent alone as before:
/// delayed and timed messages, retry topics, replies, transactions, one-way sends, and bodies
/// the producer would compress (at least [`super::ProducerBuilder::compress_threshold`]
/// bytes, when compression is on: a batch is never compressed).
///
/// Costs: a message waits up to `max_delay` before it is sent, inside its own send timeout;
/// a retry resends the whole batch, as a retry of a single send may store a message twice.
///
/// ```no_run
/// # async fn demo() -> rmq::Result<()> {
/// use std::time::Duration;
///
/// let producer = rmq::Producer::builder("my_group")
///     .name_server("127.0.0.1:9876")
///     .auto_batch(rmq::AutoBatch::new().max_delay(Duration::from_millis(5)))
///     .start()
///     .await?;
/// // Concurrent sends share requests; each caller gets the result of its own message.
/// let sends = (0..100).map(|i| producer.send(rmq::Message::new("MyTopic", format!("m{i}"))));
/// for result in futures_util::future::join_all(sends).await {
///     let result = result?;
///     println!("{} at offset {}", result.msg_id, result.queue_offset);
/// }
/// producer.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoBatch {
    max_delay: Duration,
    max_bytes: usize,
    max_messages: usize,
}

impl Default for AutoBatch {
    /// Java's defaults: 10 ms, 32 KiB; at most 1024 messages.
    fn default() -> Self {
        Self {
            max_delay: Duration::from_millis(10),
            max_bytes: 32 * 1024,
            max_messages: 1024,
        }
    }
}

impl AutoBatch {
    /// Auto-batching with the defaults: 10 ms, 32 KiB, 1024 messages.
    pub fn new() -> Self {
        Self::default()
    }

    /// Longest a batch stays open after its first message (Java `batchMaxDelayMs`, 10 ms;
    /// 1 ms to 30 s).
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Largest encoded batch body, members' properties included (Java `batchMaxBytes`, 32 KiB,
    /// which counts bodies only; 1 byte to 4 MiB and at most the producer's
    /// `max_message_size`). A message larger than this is sent alone.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Most messages in one batch (no such limit in Java; 1024 here; 1 to 65 536).
    pub fn max_messages(mut self, messages: usize) -> Self {
        self.max_messages = messages;
        self
    }

    pub(super) fn delay(&self) -> Duration {
        self.max_delay
    }

    pub(super) fn byte_limit(&self) -> usize {
        self.max_bytes
    }

    /// Every setting in its range, given the producer's largest message.
    pub(super) fn validate(&self, max_message_size: usize) -> Result<(), ValidationError> {
        let out_of_range = |field, expected, got: String| {
            Err(ValidationError::OutOfRange {
                field,
                expected,
                got,
            })
        };
        if self.max_delay < Duration::from_millis(1) || self.max_delay > MAX_DELAY_LIMIT {
            return out_of_range(
                "auto batch max delay",
                "1 ms to 30 s",
                format!("{:?}", self.max_delay),
            );
        }
        if self.max_bytes == 0 || self.max_bytes > (4 * 1024 * 1024).min(max_message_size) {
            return out_of_range(
                "auto batch max bytes",
                "1 byte to 4 MiB, and at most the max message size",
                self.max_bytes.to_string(),
            );
        }
        if self.max_messages == 0 || self.max_messages > 65_536 {
            return out_of_range(
                "auto batch max messages",
                "1 to 65536",
                self.max_messages.to_string(),
            );
        }
        Ok(())
    }
}

/// What messages of one batch share: the wire topic, the queue when the caller fixed it, and
/// `WAIT` (the request carries one for all).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct BatchKey {
    pub(super) topic: String,
    pub(super) queue: Option<MessageQueue>,
    pub(super) wait_store_msg_ok: bool,
}

/// One message waiting in a batch.
pub(super) struct Member {
    pub(super) prepared: Prepared,
    /// Its caller's deadline: the batch is sent before the earliest member's.
    pub(super) deadline: Instant,
    /// Where its result goes (a caller that gave up has dropped the other end).
    pub(super) reply: oneshot::Sender<Result<SendResult>>,
}

/// A batch taken out of the accumulator, to be sent.
pub(super) struct Batch {
    pub(super) key: BatchKey,
    pub(super) members: Vec<Member>,
}

impl Batch {
    /// The earliest deadline of `members`.
    pub(super) fn deadline_of(members: &[Member]) -> Instant {
        members
            .iter()
            .map(|m| m.deadline)
            .min()
            .unwrap_or_else(Instant::now)
    }
}

struct Open {
    /// Tells a timer whether the batch it was armed for is still this one.
    id: u64,
    members: Vec<Member>,
    bytes: usize,
}

#[derive(Default)]
struct State {
    open: HashMap<BatchKey, Open>,
    next_id: u64,
    /// Messages in open batches.
    pending: usize,
    closed: bool,
}

/// What [`Accumulator::add`] asks its caller to do.
pub(super) struct Added {
    /// Batches to send now.
    pub(super) ready: Vec<Batch>,
    /// A new batch was opened: arm its timer.
    pub(super) opened: Option<(BatchKey, u64)>,
}

/// The open batches of one producer, and the tasks that send them.
pub(super) struct Accumulator {
    pub(super) config: AutoBatch,
    state: Mutex<State>,
    /// Timers and batch sends; awaited at shutdown.
    pub(super) tasks: TaskTracker,
    /// Ends the timers at shutdown (their batches were sent by then).
    pub(super) stop: CancellationToken,
}

impl Accumulator {
    pub(super) fn new(config: AutoBatch) -> Self {
        Self {
            config,
            state: Mutex::new(State::default()),
            tasks: TaskTracker::new(),
            stop: CancellationToken::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a member of `size` encoded bytes (at most `max_bytes`). `None` when a shutdown
    /// closed the accumulator: the member is dropped, unsent.
    pub(super) fn add(&self, key: BatchKey, member: Member, size: usize) -> Option<Added> {
        let config = self.config;
        let mut state = self.state();
        if state.closed {
            return None;
        }
        let mut ready = Vec::new();
        // A member that would push the open batch past its size goes into a fresh one.
        if let Some(open) = state.open.get(&key) {
            if open.bytes + size > config.max_bytes {
                let open = state.open.remove(&key).expect("present");
                state.pending -= open.members.len();
                ready.push(Batch {
                    key: key.clone(),
                    members: open.members,
                });
            }
        }
        let mut opened = None;
        if !state.open.contains_key(&key) {
            let id = state.next_id;
            state.next_id += 1;
            opened = Some((key.clone(), id));
            state.open.insert(
                key.clone(),
                Open {
                    id,
                    members: Vec::new(),
                    bytes: 0,
                },
            );
        }
        state.pending += 1;
        let open = state.open.get_mut(&key).expect("present");
        open.members.push(member);
        open.bytes += size;
        if open.members.len() >= config.max_messages || open.bytes >= config.max_bytes {
            let open = state.open.remove(&key).expect("present");
            state.pending -= open.members.len();
            if opened.as_ref().is_some_and(|(_, id)| *id == open.id) {
                // Full as soon as opened: no timer needed.
                opened = None;
            }
            ready.push(Batch {
                key,
                members: open.members,
            });
        }
        Some(Added { ready, opened })
    }

    /// Takes the batch a timer was armed for, unless it was sent already.
    pub(super) fn take(&self, key: &BatchKey, id: u64) -> Option<Batch> {
        let mut state = self.state();
        if state.open.get(key).map(|o| o.id) != Some(id) {
            return None;
        }
        let open = state.open.remove(key)?;
        state.pending -= open.members.len();
        Some(Batch {
            key: key.clone(),
            members: open.members,
        })
    }

    /// Closes the accumulator (later adds are refused) and takes every open batch.
    pub(super) fn close(&self) -> Vec<Batch> {
        let mut state = self.state();
        state.closed = true;
        state.pending = 0;
        state
            .open
            .drain()
            .map(|(key, open)| Batch {
                key,
                members: open.members,
            })
            .collect()
    }

    /// Messages waiting in open batches.
    pub(super) fn pending(&self) -> usize {
        self.state().pending
    }
}
