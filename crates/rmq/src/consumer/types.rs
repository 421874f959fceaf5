//! What a push consumer's user sees and sets: the handler's result and context, where a new
//! group starts, and the settings with their Java names and defaults.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::allocate::AllocateStrategy;
use crate::client::MessageQueue;
use crate::error::ValidationError;
use crate::protocol::StoredMessage;

/// What the handler says about the messages it was given (Java `ConsumeConcurrentlyStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsumeResult {
    /// Handled: the offset may move past them (`CONSUME_SUCCESS`).
    Success,
    /// Try again later (`RECONSUME_LATER`): each message is sent back to the broker, which
    /// delivers it again after the delay level's time, through the group's retry topic
    /// `%RETRY%<group>`; after `max_reconsume_times` deliveries it goes to the dead-letter
    /// topic `%DLQ%<group>` instead.
    Later {
        /// Delay level of the next delivery: 0 lets the broker choose (`3 + reconsume
        /// times`: 10 s, 30 s, 1 min, …), a level from 1 (1 s) to 18 (2 h) picks one, and a
        /// negative level sends the messages straight to the dead-letter topic
        /// (`delayLevelWhenNextConsume`).
        delay_level: i32,
    },
}

impl ConsumeResult {
    /// [`ConsumeResult::Later`] with the broker's default delay.
    pub fn later() -> Self {
        Self::Later { delay_level: 0 }
    }
}

/// Where the messages handed to a handler come from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsumeContext {
    /// The queue they were pulled from.
    pub queue: MessageQueue,
}

/// Where a queue with no offset stored for the group starts (Java `ConsumeFromWhere`). A
/// stored offset always wins. Note the broker's rule for young queues: when a queue's first
/// message is still in memory (offset 0 not yet deleted), the broker answers "offset 0" for a
/// group it has never seen, so a brand-new group reads such a queue from its start whatever
/// this says — as with Java.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ConsumeFrom {
    /// Skip the backlog: start at the queue's max offset (`CONSUME_FROM_LAST_OFFSET`, the
    /// default). The group's retry queues start at 0.
    #[default]
    LastOffset,
    /// Start at the first offset (`CONSUME_FROM_FIRST_OFFSET`).
    FirstOffset,
    /// Start at the first message stored at or after this time, epoch ms
    /// (`CONSUME_FROM_TIMESTAMP` with `consumeTimestamp`). Retry queues start at their max
    /// offset.
    Timestamp(i64),
}

impl ConsumeFrom {
    /// The Java enum name sent in heartbeats.
    pub(crate) fn java_name(self) -> &'static str {
        match self {
            Self::LastOffset => "CONSUME_FROM_LAST_OFFSET",
            Self::FirstOffset => "CONSUME_FROM_FIRST_OFFSET",
            Self::Timestamp(_) => "CONSUME_FROM_TIMESTAMP",
        }
    }
}

/// The boxed future a handler returns.
pub(crate) type HandlerFuture = Pin<Box<dyn Future<Output = ConsumeResult> + Send + 'static>>;

/// The user's handler, type-erased.
pub(crate) type Handler =
    Arc<dyn Fn(Vec<StoredMessage>, ConsumeContext) -> HandlerFuture + Send + Sync + 'static>;

/// Push-consumer settings; each names its Java field and default.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// `consumeFromWhere`: `CONSUME_FROM_LAST_OFFSET`.
    pub(crate) consume_from: ConsumeFrom,
    /// `allocateMessageQueueStrategy`: averagely.
    pub(crate) allocate: AllocateStrategy,
    /// `consumeThreadMax` (20): handler calls running at once.
    pub(crate) consume_concurrency: usize,
    /// `consumeMessageBatchMaxSize` (1): messages per handler call.
    pub(crate) consume_batch_size: usize,
    /// `pullBatchSize` (32): messages asked for per pull.
    pub(crate) pull_batch_size: i32,
    /// `pullThresholdForQueue` (1000): messages held per queue before pulling pauses.
    pub(crate) pull_threshold_for_queue: usize,
    /// `pullThresholdSizeForQueue` (100 MiB): body bytes held per queue before pulling pauses.
    pub(crate) pull_threshold_size_for_queue: usize,
    /// `consumeConcurrentlyMaxSpan` (2000): offset span held per queue before pulling pauses.
    pub(crate) max_span: i64,
    /// `maxReconsumeTimes` (-1, meaning 16): deliveries before the dead-letter topic.
    pub(crate) max_reconsume_times: i32,
    /// `consumeTimeout` (15 min): a handler call running longer counts as "later".
    pub(crate) consume_timeout: Duration,
    /// `persistConsumerOffsetInterval` (5 s).
    pub(crate) persist_interval: Duration,
    /// `awaitTerminationMillisWhenShutdown` (Java 0; here 10 s): how long shutdown waits for
    /// handler calls in flight.
    pub(crate) shutdown_timeout: Duration,
    /// Pop consumption (5.x) instead of pull + client rebalance, when set.
    pub(crate) pop: Option<super::pop::PopOptions>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            consume_from: ConsumeFrom::default(),
            allocate: AllocateStrategy::default(),
            consume_concurrency: 20,
            consume_batch_size: 1,
            pull_batch_size: 32,
            pull_threshold_for_queue: 1000,
            pull_threshold_size_for_queue: 100 * 1024 * 1024,
            max_span: 2000,
            max_reconsume_times: 16,
            consume_timeout: Duration::from_secs(15 * 60),
            persist_interval: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(10),
            pop: None,
        }
    }
}

impl Settings {
    /// Java's `checkConfig` ranges, plus ranges for what Java leaves unchecked.
    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        let range = |field, expected, ok: bool, got: String| {
            if ok {
                Ok(())
            } else {
                Err(ValidationError::OutOfRange {
                    field,
                    expected,
                    got,
                })
            }
        };
        let n = self.consume_concurrency;
        range(
            "consume concurrency",
            "between 1 and 1000",
            (1..=1000).contains(&n),
            n.to_string(),
        )?;
        let n = self.consume_batch_size;
        range(
            "consume batch size",
            "between 1 and 1024",
            (1..=1024).contains(&n),
            n.to_string(),
        )?;
        let n = self.pull_batch_size;
        range(
            "pull batch size",
            "between 1 and 1024",
            (1..=1024).contains(&n),
            n.to_string(),
        )?;
        let n = self.pull_threshold_for_queue;
        range(
            "pull threshold for queue",
            "between 1 and 65535",
            (1..=65535).contains(&n),
            n.to_string(),
        )?;
        let n = self.pull_threshold_size_for_queue;
        range(
            "pull threshold size for queue",
            "between 1 MiB and 1024 MiB",
            (1024 * 1024..=1024 * 1024 * 1024).contains(&n),
            n.to_string(),
        )?;
        let n = self.max_span;
        range(
            "max span",
            "between 1 and 65535",
            (1..=65535).contains(&n),
            n.to_string(),
        )?;
        let n = self.max_reconsume_times;
        range(
            "max reconsume times",
            "between 0 and 10000",
            (0..=10_000).contains(&n),
            n.to_string(),
        )?;
        let ms = |d: Duration| format!("{d:?}");
        let d = self.consume_timeout;
        range(
            "consume timeout",
            "between 1 ms and 24 h",
            d >= Duration::from_millis(1) && d <= Duration::from_secs(86_400),
            ms(d),
        )?;
        let d = self.persist_interval;
        range(
            "persist offset interval",
            "between 10 ms and 24 h",
            d >= Duration::from_millis(10) && d <= Duration::from_secs(86_400),
            ms(d),
        )?;
        let d = self.shutdown_timeout;
        range(
            "shutdown timeout",
            "at most 24 h",
            d <= Duration::from_secs(86_400),
            ms(d),
        )?;
        if let Some(pop) = &self.pop {
            pop.validate()?;
        }
        Ok(())
    }
}
