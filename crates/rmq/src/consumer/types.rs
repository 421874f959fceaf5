//! What a push consumer's user sees and sets: the handler's result and context, where a new
//! group starts, and the settings with their Java names and defaults.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::allocate::AllocateStrategy;
use crate::client::{MessageQueue, TraceConfig};
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

/// Who in a group gets a message (Java `MessageModel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MessageModel {
    /// The members split the queues; each message goes to one member, and the group's offsets
    /// live on the brokers (`CLUSTERING`, the default).
    #[default]
    Clustering,
    /// Every member gets every message. Each member keeps its own offsets in a local file
    /// (Java's `offsets.json`, see
    /// [`PushConsumerBuilder::offset_store_dir`](super::PushConsumerBuilder::offset_store_dir)).
    /// As in Java, a handler's [`ConsumeResult::Later`] is not retried: the message is logged
    /// and counted as failed, and the offset moves on (`BROADCASTING`).
    Broadcasting,
}

impl MessageModel {
    /// The Java enum name sent in heartbeats and running info.
    pub(crate) fn java_name(self) -> &'static str {
        match self {
            Self::Clustering => "CLUSTERING",
            Self::Broadcasting => "BROADCASTING",
        }
    }
}

/// In which order messages reach the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ConsumeOrder {
    /// Handler calls run concurrently, in any order (Java `MessageListenerConcurrently`, the
    /// default).
    #[default]
    Concurrently,
    /// One handler call at a time per queue, in queue order (Java `MessageListenerOrderly`).
    /// In clustering mode each queue is locked at its master broker before it is pulled
    /// (LOCK_BATCH_MQ, renewed every 20 s), so no two members of the group consume one queue
    /// at once; a queue whose lock was not renewed for 30 s is not consumed until it is locked
    /// again. [`ConsumeResult::Later`] suspends the queue for the suspend time (1 s by default)
    /// and hands the same messages again, in the same order; after `max_reconsume_times` (for
    /// orderly consumers unlimited by default, as in Java: a message that always fails then
    /// blocks its queue forever — set a limit to send it to the dead-letter topic instead)
    /// the message goes to `%DLQ%<group>` and the queue moves on.
    Orderly,
    /// Beyond Java: ordered per message key instead of per queue. Messages of one queue with
    /// the same `KEYS` property are handed over strictly in queue order, one call at a time;
    /// messages with different keys run concurrently (within `consume_concurrency`). Messages
    /// without keys are ordered among themselves. Locks, suspension and retries as
    /// [`ConsumeOrder::Orderly`], per key.
    OrderlyByKey,
}

impl ConsumeOrder {
    /// Whether this is one of the ordered modes.
    pub(crate) fn is_orderly(self) -> bool {
        !matches!(self, Self::Concurrently)
    }
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
    /// `maxReconsumeTimes` (-1, meaning 16 for concurrent and unlimited for orderly
    /// consumers): deliveries before the dead-letter topic. `None` until set.
    pub(crate) max_reconsume_times: Option<i32>,
    /// `messageModel`: clustering.
    pub(crate) message_model: MessageModel,
    /// Concurrent (`MessageListenerConcurrently`) or orderly (`MessageListenerOrderly`).
    pub(crate) order: ConsumeOrder,
    /// `suspendCurrentQueueTimeMillis` (1000 ms): how long an orderly queue waits after
    /// "later" before the same messages are handed again.
    pub(crate) suspend_time: Duration,
    /// `rocketmq.client.localOffsetStoreDir` (`$HOME/.rocketmq_offsets`): broadcasting
    /// consumers' offsets files.
    pub(crate) offset_store_dir: Option<std::path::PathBuf>,
    /// `consumeTimeout` (15 min): a handler call running longer counts as "later".
    pub(crate) consume_timeout: Duration,
    /// `persistConsumerOffsetInterval` (5 s).
    pub(crate) persist_interval: Duration,
    /// `awaitTerminationMillisWhenShutdown` (Java 0; here 10 s): how long shutdown waits for
    /// handler calls in flight.
    pub(crate) shutdown_timeout: Duration,
    /// Pop consumption (5.x) instead of pull + client rebalance, when set.
    pub(crate) pop: Option<PopOptions>,
    /// `enableMsgTrace` (off): message trace settings, when tracing.
    pub(crate) trace: Option<TraceConfig>,
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
            max_reconsume_times: None,
            message_model: MessageModel::default(),
            order: ConsumeOrder::default(),
            suspend_time: Duration::from_secs(1),
            offset_store_dir: None,
            consume_timeout: Duration::from_secs(15 * 60),
            persist_interval: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(10),
            pop: None,
            trace: None,
        }
    }
}

/// Java's orderly default for `maxReconsumeTimes` (`Integer.MAX_VALUE`).
pub(crate) const ORDERLY_MAX_RECONSUME_TIMES: i32 = i32::MAX;

impl Settings {
    /// Deliveries before the dead-letter topic: the setting, else 16 for concurrent and
    /// unlimited for orderly consumers (Java `getMaxReconsumeTimes`).
    pub(crate) fn max_reconsume(&self) -> i32 {
        match self.max_reconsume_times {
            Some(n) => n,
            None if self.order.is_orderly() => ORDERLY_MAX_RECONSUME_TIMES,
            None => 16,
        }
    }

    /// Java's `checkConfig` ranges, plus ranges for what Java leaves unchecked.
    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        if let Some(trace) = &self.trace {
            trace.validate()?;
        }
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
        if let Some(n) = self.max_reconsume_times {
            range(
                "max reconsume times",
                "between 0 and 10000",
                (0..=10_000).contains(&n),
                n.to_string(),
            )?;
        }
        let d = self.suspend_time;
        range(
            "suspend time",
            "between 10 ms and 30 s",
            d >= Duration::from_millis(10) && d <= Duration::from_secs(30),
            format!("{d:?}"),
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

/// Pop consumption settings for [`PushConsumerBuilder::pop`](super::PushConsumerBuilder::pop)
/// (Java `DefaultMQPushConsumer` `popInvisibleTime`, `popBatchNums`,
/// `popThresholdForQueue`). Needs RocketMQ 5.x brokers.
///
/// ```
/// use std::time::Duration;
/// let options = rmq::PopOptions::new()
///     .invisible_time(Duration::from_secs(30))
///     .batch_size(16);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopOptions {
    pub(crate) invisible_time: Duration,
    pub(crate) batch_size: i32,
    pub(crate) max_in_flight: usize,
}

impl Default for PopOptions {
    fn default() -> Self {
        Self {
            invisible_time: Duration::from_secs(60),
            batch_size: 32,
            max_in_flight: 96,
        }
    }
}

impl PopOptions {
    /// The defaults: 60 s invisible time, 32 messages per pop, 96 in flight per broker.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long a popped message stays hidden from the group while its handler runs
    /// (`popInvisibleTime`, 60 s; 5 s to 300 s). A handler call that outlives it is skipped
    /// or its result is moot: the broker hands the message out again.
    pub fn invisible_time(mut self, invisible_time: Duration) -> Self {
        self.invisible_time = invisible_time;
        self
    }

    /// Messages asked for per pop (`popBatchNums`, 32; 1 to 32, the broker's limit).
    pub fn batch_size(mut self, n: i32) -> Self {
        self.batch_size = n;
        self
    }

    /// Flow control per broker: popping pauses while this many popped messages wait for
    /// their handler or their ack (`popThresholdForQueue`, 96; 1 to 65535).
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        let d = self.invisible_time;
        if d < Duration::from_secs(5) || d > Duration::from_secs(300) {
            return Err(ValidationError::OutOfRange {
                field: "pop invisible time",
                expected: "between 5 s and 300 s",
                got: format!("{d:?}"),
            });
        }
        if !(1..=32).contains(&self.batch_size) {
            return Err(ValidationError::OutOfRange {
                field: "pop batch size",
                expected: "between 1 and 32",
                got: self.batch_size.to_string(),
            });
        }
        if !(1..=65535).contains(&self.max_in_flight) {
            return Err(ValidationError::OutOfRange {
                field: "pop max in flight",
                expected: "between 1 and 65535",
                got: self.max_in_flight.to_string(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pop_options_are_checked() {
        assert!(PopOptions::new().validate().is_ok());
        for bad in [
            PopOptions::new().invisible_time(Duration::from_secs(4)),
            PopOptions::new().invisible_time(Duration::from_secs(301)),
            PopOptions::new().batch_size(0),
            PopOptions::new().batch_size(33),
            PopOptions::new().max_in_flight(0),
        ] {
            assert!(matches!(
                bad.validate(),
                Err(ValidationError::OutOfRange { .. })
            ));
        }
    }
}
