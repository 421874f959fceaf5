//! The lite pull consumer (Java `DefaultLitePullConsumer`): the application asks for messages
//! with [`LitePullConsumer::poll`] (or reads [`LitePullConsumer::stream`]) instead of handing
//! a handler to the library.
//!
//! ```text
//!  subscribe(topic, tags) ── group member: heartbeat CONSUME_ACTIVELY, rebalance every 20 s,
//!     on NOTIFY_CONSUMER_IDS_CHANGED and on route changes → the queues this member owns
//!  assign(queues) ──────── exactly these queues, no rebalance
//!  pull task (per queue) ── pause / flow control → offset (seek, else last pull, else the
//!     group's stored offset, else consume-from) → PULL_MESSAGE, broker holds ≤ 20 s →
//!     FOUND: held in the process queue and queued as a batch for poll
//!  poll ── takes the first batch of a queue not paused; what it returns counts as consumed
//!  commit ── consumed offsets → UPDATE_CONSUMER_OFFSET, answers awaited
//! ```

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use futures_util::future::join_all;
use futures_util::Stream;
use serde_json::json;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::allocate::AllocateStrategy;
use super::fastjson::{parse_queue_keyed_offsets, queue_keyed_map};
use super::offset::OffsetStore;
use super::process_queue::ProcessQueue;
use super::subscription::{Selector, Subscription, SUBSCRIBE_ALL};
use super::trace::ConsumeTrace;
use super::types::ConsumeFrom;
use crate::client::validate::{
    check_consumer_group, check_topic_name, check_wire_group_len, check_wire_topic_len,
    without_namespace, wrap_namespace,
};
use crate::client::{
    subscribe_queues, ClientConfig, ClientInstance, ConsumerMember, Member, MemberKind,
    MessageQueue, TraceConfig, TraceDispatcher, TraceStats,
};
use crate::error::{Error, Result, ValidationError};
use crate::producer::trace::{start_dispatcher, TraceKind};
use crate::protocol::TraceConsumeCode;
use crate::protocol::{
    decode_stored_messages, unwrap_inner_batches, InflateLimits, PullMessageRequestHeader,
    PullMessageResponseHeader, QueryConsumerOffsetRequestHeader, RemotingCommand, RequestCode,
    ResetOffsetRequestHeader, ResponseCode, StoredMessage, UpdateConsumerOffsetRequestHeader,
    MASTER_ID,
};
use crate::remoting::HandlerFuture;
use crate::util::{deadline_after, now_ms, random_below};

/// How long the broker may hold a pull when nothing is there (lite pull
/// `brokerSuspendMaxTimeMillis`).
const BROKER_SUSPEND: Duration = Duration::from_secs(20);
/// Client timeout of a pull (`consumerTimeoutMillisWhenSuspend`): longer than the hold.
const PULL_TIMEOUT: Duration = Duration::from_secs(30);
/// 5.x `ResponseCode.FLOW_CONTROL`: the broker asks for a short pause.
const BROKER_FLOW_CONTROL: ResponseCode = ResponseCode(215);
/// Wait after a failed pull (`pullTimeDelayMillsWhenException`).
const PULL_RETRY_DELAY: Duration = Duration::from_secs(1);
/// Wait after the broker said `FLOW_CONTROL` (`PULL_TIME_DELAY_MILLS_WHEN_BROKER_FLOW_CONTROL`).
const BROKER_FLOW_CONTROL_DELAY: Duration = Duration::from_millis(20);
/// Wait after the start offset could not be read (Java: 3 s).
const START_OFFSET_RETRY_DELAY: Duration = Duration::from_secs(3);
/// A paused or flow-controlled queue looks again after this long, unless woken earlier.
const RECHECK_DELAY: Duration = Duration::from_secs(1);
/// Rebalance period (`rocketmq.client.rebalance.waitInterval`).
const REBALANCE_INTERVAL: Duration = Duration::from_secs(20);
/// Next round after an unbalanced one (5.x `rocketmq.client.rebalance.minInterval`).
const REBALANCE_RETRY: Duration = Duration::from_secs(1);
/// Pull bodies larger than this are decoded on a blocking thread.
const INLINE_DECODE_LIMIT: usize = 64 * 1024;

/// `PullSysFlag` of every lite pull: suspend | subscription | lite, no commit (Java
/// `buildSysFlag(false, true, true, false, true)` = 0x16). The expression travels in each
/// pull, so the broker filters without a registered subscription (assign mode needs that).
const LITE_PULL_SYS_FLAG: i32 = 0x2 | 0x4 | 0x10;

/// Longest a shutdown waits for the trace records still buffered to be sent.
const TRACE_FLUSH_LIMIT: Duration = Duration::from_secs(5);

/// Lite pull settings; each names its Java field and default.
#[derive(Debug, Clone)]
struct LiteSettings {
    /// `consumeFromWhere`: `CONSUME_FROM_LAST_OFFSET`.
    consume_from: ConsumeFrom,
    /// `allocateMessageQueueStrategy`: averagely.
    allocate: AllocateStrategy,
    /// `pullBatchSize` (10): messages asked for per pull, and the most one poll returns.
    pull_batch_size: i32,
    /// `autoCommit` (true).
    auto_commit: bool,
    /// `autoCommitIntervalMillis` (5 s, at least 1 s).
    auto_commit_interval: Duration,
    /// `pollTimeoutMillis` (5 s): how long each wait of [`LitePullConsumer::stream`] lasts.
    poll_timeout: Duration,
    /// `pullThresholdForAll` (10000): messages waiting for poll, all queues together.
    pull_threshold_for_all: usize,
    /// `pullThresholdForQueue` (1000): messages held per queue.
    pull_threshold_for_queue: usize,
    /// `pullThresholdSizeForQueue` (100 MiB): body bytes held per queue.
    pull_threshold_size_for_queue: usize,
    /// `consumeMaxSpan` (2000): offset span held per queue.
    max_span: i64,
    /// `enableMsgTrace` (off): message trace settings, when tracing.
    trace: Option<TraceConfig>,
}

impl Default for LiteSettings {
    fn default() -> Self {
        Self {
            consume_from: ConsumeFrom::default(),
            allocate: AllocateStrategy::default(),
            pull_batch_size: 10,
            auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            poll_timeout: Duration::from_secs(5),
            pull_threshold_for_all: 10_000,
            pull_threshold_for_queue: 1000,
            pull_threshold_size_for_queue: 100 * 1024 * 1024,
            max_span: 2000,
            trace: None,
        }
    }
}

impl LiteSettings {
    /// Java's ranges (`checkConfig` and the setters), plus bounds for what Java leaves open.
    fn validate(&self) -> Result<(), ValidationError> {
        if let Some(trace) = &self.trace {
            trace.validate()?;
        }
        fn range(
            field: &'static str,
            expected: &'static str,
            ok: bool,
            got: impl std::fmt::Debug,
        ) -> Result<(), ValidationError> {
            if ok {
                Ok(())
            } else {
                Err(ValidationError::OutOfRange {
                    field,
                    expected,
                    got: format!("{got:?}"),
                })
            }
        }
        let day = Duration::from_secs(86_400);
        range(
            "pull batch size",
            "between 1 and 1024",
            (1..=1024).contains(&self.pull_batch_size),
            self.pull_batch_size,
        )?;
        range(
            "auto commit interval",
            "between 1 s and 24 h",
            self.auto_commit_interval >= Duration::from_secs(1) && self.auto_commit_interval <= day,
            self.auto_commit_interval,
        )?;
        range(
            "poll timeout",
            "between 1 ms and 24 h",
            self.poll_timeout >= Duration::from_millis(1) && self.poll_timeout <= day,
            self.poll_timeout,
        )?;
        range(
            "pull threshold for all",
            "between 1 and 6553500",
            (1..=6_553_500).contains(&self.pull_threshold_for_all),
            self.pull_threshold_for_all,
        )?;
        range(
            "pull threshold for queue",
            "between 1 and 65535",
            (1..=65535).contains(&self.pull_threshold_for_queue),
            self.pull_threshold_for_queue,
        )?;
        range(
            "pull threshold size for queue",
            "between 1 MiB and 1024 MiB",
            (1024 * 1024..=1024 * 1024 * 1024).contains(&self.pull_threshold_size_for_queue),
            self.pull_threshold_size_for_queue,
        )?;
        range(
            "max span",
            "between 1 and 65535",
            (1..=65535).contains(&self.max_span),
            self.max_span,
        )
    }
}

/// How the consumer gets its queues; set by the first `subscribe` or `assign`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Unset,
    Subscribe,
    Assign,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Self::Unset => "nothing",
            Self::Subscribe => "subscribe",
            Self::Assign => "assign",
        }
    }
}

/// "No offset" in the atomics below (offsets are never negative).
const NO_OFFSET: i64 = -1;

/// One queue this consumer reads.
struct QueueState {
    /// Namespaced.
    mq: MessageQueue,
    /// What an assigned queue pulls with (`*`); subscribed queues use their topic's current
    /// subscription.
    assigned_sub: Arc<Subscription>,
    pq: Mutex<ProcessQueue>,
    /// Cancelled when the queue is no longer read (or the consumer stops).
    dropped: CancellationToken,
    /// Interrupts a pull in flight or a pause wait (seek, pause, resume).
    wake: Notify,
    paused: AtomicBool,
    /// Offset the next pull must use (set by a seek). Changed with the cache lock held.
    seek: Mutex<Option<i64>>,
    /// Bumped by every seek: batches and pull results of an older generation are stale.
    generation: AtomicU64,
    /// The next offset after what poll returned (Java `consumeOffset`), what commit writes.
    consumed: AtomicI64,
    last_pull_ms: AtomicI64,
    last_consume_ms: AtomicI64,
}

impl QueueState {
    fn pq(&self) -> MutexGuard<'_, ProcessQueue> {
        self.pq.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn consumed(&self) -> Option<i64> {
        Some(self.consumed.load(Ordering::SeqCst)).filter(|o| *o >= 0)
    }
}

/// Messages of one pull waiting for poll (Java `ConsumeRequest`).
struct Batch {
    state: Arc<QueueState>,
    generation: u64,
    messages: VecDeque<StoredMessage>,
}

impl Batch {
    fn is_stale(&self) -> bool {
        self.state.dropped.is_cancelled()
            || self.state.generation.load(Ordering::SeqCst) != self.generation
    }
}

#[derive(Default)]
struct Assignment {
    mode: Option<Mode>,
    subscriptions: Vec<Arc<Subscription>>,
    queues: HashMap<MessageQueue, Arc<QueueState>>,
    /// Paused queues, also those not (yet) assigned.
    paused: HashSet<MessageQueue>,
}

impl Assignment {
    fn mode(&self) -> Mode {
        self.mode.unwrap_or(Mode::Unset)
    }
}

struct Inner {
    group: String,
    namespace: Option<String>,
    instance: Arc<ClientInstance>,
    settings: LiteSettings,
    assignment: Mutex<Assignment>,
    /// The group's offsets as committed (written to the brokers by commit and auto-commit).
    offsets: OffsetStore,
    /// Batches waiting for poll, oldest first. Lock order: cache before a process queue.
    cache: Mutex<VecDeque<Batch>>,
    /// A batch arrived, or a queue was resumed.
    ready: Notify,
    /// Poll took messages (flow-controlled pull tasks look again).
    drained: Notify,
    rebalance_now: Notify,
    next_auto_commit: Mutex<Instant>,
    token: CancellationToken,
    tasks: TaskTracker,
    started_ms: i64,
    stopping: AtomicBool,
    /// The message-trace dispatcher, when tracing (set once, at start).
    trace: OnceLock<Arc<TraceDispatcher>>,
}

/// A lite pull consumer (Java `DefaultLitePullConsumer`, clustering mode): the application
/// polls for messages. Cheap to clone; [`shutdown`](Self::shutdown) stops it.
///
/// It reads either the share of a consumer group — [`subscribe`](Self::subscribe): the
/// group's members split the queues of the topic, rebalancing every 20 s and whenever a
/// member comes or goes — or exactly the queues it is given — [`assign`](Self::assign), no
/// rebalance. The two are mutually exclusive; both may be called any time after
/// [`start`](LitePullConsumerBuilder::start), as with Java.
///
/// Whatever [`poll`](Self::poll) returned counts as consumed (there is no ack): with
/// auto-commit on, a poll after the auto-commit interval commits what the polls before it
/// returned, and every interval these commits are written to the brokers; [`commit`](Self::commit)
/// writes them at once. Delivery is at least once, provided the application finishes a batch
/// before it polls again.
///
/// ```no_run
/// # async fn demo() -> rmq::Result<()> {
/// use std::time::Duration;
/// use rmq::{ConsumeFrom, LitePullConsumer};
///
/// let consumer = LitePullConsumer::builder("my_lite_group")
///     .name_server("127.0.0.1:9876")
///     .consume_from(ConsumeFrom::FirstOffset)
///     .start()
///     .await?;
/// consumer.subscribe("MyTopic", "TagA || TagB").await?;
/// for _ in 0..10 {
///     for m in consumer.poll(Duration::from_secs(1)).await? {
///         println!("{} {:?}", m.msg_id(), String::from_utf8_lossy(&m.body));
///     }
/// }
/// consumer.commit().await?;
/// consumer.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct LitePullConsumer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LitePullConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LitePullConsumer")
            .field("group", &self.inner.group)
            .field("client_id", &self.client_id())
            .finish_non_exhaustive()
    }
}

/// Builds a [`LitePullConsumer`]. Every option names its Java counterpart and default.
#[must_use]
#[derive(Debug)]
pub struct LitePullConsumerBuilder {
    group: String,
    client: ClientConfig,
    settings: LiteSettings,
}

impl LitePullConsumer {
    /// A builder for a lite pull consumer of `group` (namespaced when the client
    /// configuration has a namespace).
    pub fn builder(group: impl Into<String>) -> LitePullConsumerBuilder {
        LitePullConsumerBuilder {
            group: group.into(),
            client: ClientConfig::default(),
            settings: LiteSettings::default(),
        }
    }

    /// The consumer group (with namespace).
    pub fn group(&self) -> &str {
        &self.inner.group
    }

    /// The client id of the instance this consumer joined (`IP@instance`).
    pub fn client_id(&self) -> &str {
        self.inner.instance.client_id()
    }

    /// Subscribes to `topic` with a tag expression (`"*"`, or tags separated by `||`) or a
    /// [`Selector`](super::Selector) (`Selector::sql("a > 5")`, evaluated by the broker), as a
    /// member of the group: this consumer then reads its share of the topic's queues
    /// (rebalanced every 20 s and when members come or go). Subscribing to a topic again
    /// replaces its expression. Checks the topic and expression before any network traffic;
    /// then fetches the route, sends a heartbeat and rebalances.
    ///
    /// # Errors
    /// [`ValidationError::SubscribeAndAssign`] after [`assign`](Self::assign), a bad topic or
    /// expression, [`Error::Shutdown`].
    pub async fn subscribe(&self, topic: &str, selector: impl Into<Selector>) -> Result<()> {
        let inner = &self.inner;
        inner.check_running()?;
        check_topic_name(topic)?;
        let topic = inner.wire_topic(topic);
        check_wire_topic_len(&topic)?;
        let sub = Arc::new(Subscription::from_selector(
            topic.clone(),
            &selector.into(),
        )?);
        let expression = sub.expression.clone();
        {
            let mut a = inner.assignment();
            if a.mode() == Mode::Assign {
                return Err(ValidationError::SubscribeAndAssign {
                    used: Mode::Assign.name(),
                }
                .into());
            }
            a.mode = Some(Mode::Subscribe);
            a.subscriptions.retain(|s| s.topic != topic);
            a.subscriptions.push(sub);
        }
        inner.instance.add_subscribed_topic(&topic);
        let deadline = inner.instance.api().deadline();
        if let Err(e) = inner.instance.update_topic_route(&topic, deadline).await {
            warn!(group = %inner.group, topic = %topic, error = %e, "no route yet; the rebalance retries");
        }
        inner.instance.heartbeat_all(deadline).await;
        info!(group = %inner.group, topic = %topic, expression = %expression, "subscribed");
        inner.rebalance_now.notify_one();
        Ok(())
    }

    /// Reads exactly these queues (Java `assign`), replacing an earlier assignment; no
    /// rebalance, no group membership beyond the heartbeat. Every topic is read with `*`.
    /// A newly assigned queue starts at the group's stored offset, else where
    /// [`consume_from`](LitePullConsumerBuilder::consume_from) says, unless a
    /// [`seek`](Self::seek) comes first.
    ///
    /// # Errors
    /// [`ValidationError::SubscribeAndAssign`] after [`subscribe`](Self::subscribe),
    /// [`ValidationError::NoQueuesAssigned`], a bad topic name, [`Error::Shutdown`].
    pub async fn assign(&self, queues: impl IntoIterator<Item = MessageQueue>) -> Result<()> {
        let inner = &self.inner;
        inner.check_running()?;
        let mut wanted = BTreeSet::new();
        for q in queues {
            check_topic_name(&q.topic)?;
            let wire = inner.wire_queue(&q);
            check_wire_topic_len(&wire.topic)?;
            wanted.insert(wire);
        }
        if wanted.is_empty() {
            return Err(ValidationError::NoQueuesAssigned.into());
        }
        let mode = inner.assignment().mode();
        if mode == Mode::Subscribe {
            return Err(ValidationError::SubscribeAndAssign {
                used: Mode::Subscribe.name(),
            }
            .into());
        }
        // Routes first: pull tasks, seeks and offsets need the brokers' addresses.
        let topics: BTreeSet<&str> = wanted.iter().map(|q| q.topic.as_str()).collect();
        for topic in topics {
            inner.instance.add_subscribed_topic(topic);
            if inner.instance.route(topic).is_none() {
                let deadline = inner.instance.api().deadline();
                if let Err(e) = inner.instance.update_topic_route(topic, deadline).await {
                    warn!(group = %inner.group, topic, error = %e, "no route yet; the pull tasks retry");
                }
            }
        }
        let (removed, added) = {
            let mut a = inner.assignment();
            if a.mode() == Mode::Subscribe {
                return Err(ValidationError::SubscribeAndAssign {
                    used: Mode::Subscribe.name(),
                }
                .into());
            }
            a.mode = Some(Mode::Assign);
            let removed: Vec<MessageQueue> = a
                .queues
                .keys()
                .filter(|mq| !wanted.contains(*mq))
                .cloned()
                .collect();
            let removed: Vec<Arc<QueueState>> = removed
                .iter()
                .filter_map(|mq| a.queues.remove(mq))
                .collect();
            let mut added = Vec::new();
            for mq in wanted {
                if !a.queues.contains_key(&mq) {
                    let state = inner.new_queue_state(&a, mq.clone());
                    a.queues.insert(mq, Arc::clone(&state));
                    added.push(state);
                }
            }
            (removed, added)
        };
        for state in &removed {
            state.dropped.cancel();
            inner.offsets.remove(&state.mq);
        }
        info!(group = %inner.group, added = added.len(), removed = removed.len(), "queues assigned");
        for state in added {
            inner.tasks.spawn(Arc::clone(inner).pull_loop(state));
        }
        Ok(())
    }

    /// The queues this consumer reads now (without namespace), sorted: its share of the
    /// subscribed topics, or what was assigned.
    pub fn assignment(&self) -> Vec<MessageQueue> {
        let mut queues: Vec<MessageQueue> = self
            .inner
            .assignment()
            .queues
            .keys()
            .map(|mq| self.inner.user_queue(mq))
            .collect();
        queues.sort();
        queues
    }

    /// The readable queues of `topic` (Java `fetchMessageQueues`), sorted, for
    /// [`assign`](Self::assign).
    ///
    /// # Errors
    /// A bad topic name, [`Error::NoRoute`], transport errors.
    pub async fn queues(&self, topic: &str) -> Result<Vec<MessageQueue>> {
        check_topic_name(topic)?;
        let inner = &self.inner;
        let topic = inner.wire_topic(topic);
        check_wire_topic_len(&topic)?;
        inner
            .instance
            .update_topic_route(&topic, inner.instance.api().deadline())
            .await?;
        let route = inner.instance.route(&topic).ok_or_else(|| Error::NoRoute {
            topic: topic.clone(),
        })?;
        let queues: Vec<MessageQueue> = subscribe_queues(&topic, &route)
            .iter()
            .map(|mq| inner.user_queue(mq))
            .collect();
        if queues.is_empty() {
            return Err(Error::NoRoute { topic });
        }
        Ok(queues)
    }

    /// Up to `pull_batch_size` messages of one queue, waiting at most `timeout` for them;
    /// empty when none came. What it returns counts as consumed: the queue's consumed offset
    /// moves past it (and is committed by the next auto-commit or [`commit`](Self::commit)).
    /// Paused queues are skipped. With auto-commit on and its interval passed, first commits
    /// what earlier polls returned (in memory; written to the brokers by the auto-commit task).
    ///
    /// # Errors
    /// [`Error::Shutdown`] once the consumer is shut down.
    pub async fn poll(&self, timeout: Duration) -> Result<Vec<StoredMessage>> {
        Ok(self
            .poll_with_queue(timeout)
            .await?
            .map(|(_, messages)| messages)
            .unwrap_or_default())
    }

    /// As [`poll`](Self::poll), with the queue the messages come from (a message names its
    /// queue id but not its broker); `None` when none came.
    ///
    /// # Errors
    /// [`Error::Shutdown`] once the consumer is shut down.
    pub async fn poll_with_queue(
        &self,
        timeout: Duration,
    ) -> Result<Option<(MessageQueue, Vec<StoredMessage>)>> {
        let batch_size = self.inner.settings.pull_batch_size as usize;
        self.inner.poll(timeout, batch_size).await
    }

    /// The messages as an endless stream, one at a time (each counts as consumed when the
    /// stream yields it). Ends when the consumer is shut down. Each wait for messages lasts
    /// [`poll_timeout`](LitePullConsumerBuilder::poll_timeout), after which auto-commit gets
    /// its turn.
    pub fn stream(&self) -> impl Stream<Item = Result<StoredMessage>> + Send + 'static {
        let inner = Arc::clone(&self.inner);
        futures_util::stream::unfold(inner, |inner| async move {
            loop {
                match inner.poll(inner.settings.poll_timeout, 1).await {
                    Ok(Some((_, mut batch))) => {
                        if let Some(m) = batch.pop() {
                            return Some((Ok(m), inner));
                        }
                    }
                    Ok(None) => {}
                    Err(Error::Shutdown) => return None,
                    Err(e) => return Some((Err(e), inner)),
                }
            }
        })
    }

    /// Moves `queue` to `offset` (Java `seek`): the messages waiting for poll are dropped and
    /// the next poll of the queue starts there. The offset must be within the queue's stored
    /// range `min..=max` (asked from the broker; `max` is the next offset to be written).
    ///
    /// # Errors
    /// [`ValidationError::QueueNotAssigned`] (checked first, without network),
    /// [`Error::OffsetOutOfRange`], transport errors.
    pub async fn seek(&self, queue: &MessageQueue, offset: i64) -> Result<()> {
        let inner = &self.inner;
        inner.check_running()?;
        let state = inner.assigned_state(queue)?;
        let addr = inner.master_of(&state.mq).await?;
        let api = inner.instance.api();
        let min = api
            .min_offset(&addr, &state.mq.topic, state.mq.queue_id)
            .await?;
        let max = api
            .max_offset(&addr, &state.mq.topic, state.mq.queue_id)
            .await?;
        if offset < min || offset > max {
            return Err(Error::OffsetOutOfRange {
                topic: queue.topic.clone(),
                broker_name: queue.broker_name.clone(),
                queue_id: queue.queue_id,
                offset,
                min,
                max,
            });
        }
        inner.apply_seek(&state, offset);
        info!(group = %inner.group, queue = ?state.mq, offset, "seek");
        Ok(())
    }

    /// Moves `queue` to its first stored message (its min offset).
    ///
    /// # Errors
    /// As [`seek`](Self::seek).
    pub async fn seek_to_begin(&self, queue: &MessageQueue) -> Result<()> {
        let offset = self.queue_bound(queue, RequestCode::GET_MIN_OFFSET).await?;
        self.seek(queue, offset).await
    }

    /// Moves `queue` past its last stored message (its max offset): only new messages come.
    ///
    /// # Errors
    /// As [`seek`](Self::seek).
    pub async fn seek_to_end(&self, queue: &MessageQueue) -> Result<()> {
        let offset = self.queue_bound(queue, RequestCode::GET_MAX_OFFSET).await?;
        self.seek(queue, offset).await
    }

    /// Moves `queue` to the first message stored at or after `timestamp` (epoch ms;
    /// `SEARCH_OFFSET_BY_TIMESTAMP`; 4.9.x brokers answer the nearest message, which may be
    /// just before it).
    ///
    /// # Errors
    /// As [`seek`](Self::seek).
    pub async fn seek_by_timestamp(&self, queue: &MessageQueue, timestamp: i64) -> Result<()> {
        let inner = &self.inner;
        inner.check_running()?;
        let state = inner.assigned_state(queue)?;
        let addr = inner.master_of(&state.mq).await?;
        let offset = inner
            .instance
            .api()
            .search_offset(&addr, &state.mq.topic, state.mq.queue_id, timestamp)
            .await?;
        self.seek(queue, offset).await
    }

    async fn queue_bound(&self, queue: &MessageQueue, code: RequestCode) -> Result<i64> {
        let inner = &self.inner;
        inner.check_running()?;
        let state = inner.assigned_state(queue)?;
        let addr = inner.master_of(&state.mq).await?;
        let api = inner.instance.api();
        if code == RequestCode::GET_MIN_OFFSET {
            api.min_offset(&addr, &state.mq.topic, state.mq.queue_id)
                .await
        } else {
            api.max_offset(&addr, &state.mq.topic, state.mq.queue_id)
                .await
        }
    }

    /// Stops reading `queues` until [`resume`](Self::resume): no more pulls, and poll skips
    /// what was pulled already. Also applies to queues assigned later; unknown queues are
    /// remembered.
    pub fn pause(&self, queues: &[MessageQueue]) {
        self.inner.set_paused(queues, true);
    }

    /// Reads `queues` again after [`pause`](Self::pause).
    pub fn resume(&self, queues: &[MessageQueue]) {
        self.inner.set_paused(queues, false);
    }

    /// Commits what poll returned so far, for every queue this consumer reads: writes the
    /// consumed offsets to the brokers (`UPDATE_CONSUMER_OFFSET`) and waits for the answers.
    ///
    /// # Errors
    /// The first write that failed (the others are still made), [`Error::Shutdown`].
    pub async fn commit(&self) -> Result<()> {
        self.inner.check_running()?;
        self.inner.commit_consumed();
        self.inner.persist().await
    }

    /// The offset the group has stored on the broker for `queue`
    /// (`QUERY_CONSUMER_OFFSET`), `None` when it has none. Any queue may be asked about.
    /// Note that brokers answer 0 for a group they have never seen on a queue whose first
    /// message is still in memory.
    ///
    /// # Errors
    /// A bad topic name, [`Error::NoRoute`], transport errors, error answers.
    pub async fn committed(&self, queue: &MessageQueue) -> Result<Option<i64>> {
        check_topic_name(&queue.topic)?;
        let inner = &self.inner;
        let mq = inner.wire_queue(queue);
        check_wire_topic_len(&mq.topic)?;
        let addr = inner.master_of(&mq).await?;
        let header = QueryConsumerOffsetRequestHeader {
            consumer_group: inner.group.clone(),
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            broker_name: Some(mq.broker_name.clone()),
        };
        inner
            .instance
            .api()
            .query_consumer_offset(&addr, &header)
            .await
    }

    /// The message-trace counts, when tracing ([`LitePullConsumerBuilder::trace`]).
    pub fn trace_stats(&self) -> Option<TraceStats> {
        self.inner.trace.get().map(|t| t.stats())
    }

    /// Shuts down: stops every pull task, commits what poll returned (with auto-commit on)
    /// and writes every commit to its broker, waiting for the answers, then unregisters the
    /// group from every broker and leaves the client instance. No task is left running.
    /// Later calls of the other methods give [`Error::Shutdown`]. Idempotent.
    pub async fn shutdown(&self) {
        self.inner.shutdown().await;
    }

    #[cfg(feature = "unstable-internals")]
    /// The client instance (unstable internals).
    pub fn instance(&self) -> &Arc<ClientInstance> {
        &self.inner.instance
    }
}

impl LitePullConsumerBuilder {
    /// The client settings (name servers, instance name, timeouts, …), shared with producers
    /// and consumers of the same client id. Replaces earlier shortcuts.
    pub fn client(mut self, client: ClientConfig) -> Self {
        self.client = client;
        self
    }

    /// Shortcut for [`ClientConfig::name_server`].
    pub fn name_server(mut self, list: &str) -> Self {
        self.client = self.client.name_server(list);
        self
    }

    /// Shortcut for [`ClientConfig::instance_name`].
    pub fn instance_name(mut self, name: impl Into<String>) -> Self {
        self.client = self.client.instance_name(name);
        self
    }

    /// Where a queue with no offset stored for the group starts (`consumeFromWhere`,
    /// [`ConsumeFrom::LastOffset`]).
    pub fn consume_from(mut self, from: ConsumeFrom) -> Self {
        self.settings.consume_from = from;
        self
    }

    /// How the group splits queues in subscribe mode (`allocateMessageQueueStrategy`,
    /// averagely).
    pub fn allocate_strategy(mut self, strategy: AllocateStrategy) -> Self {
        self.settings.allocate = strategy;
        self
    }

    /// Messages asked for per pull, and the most one poll returns (`pullBatchSize`, 10;
    /// 1 to 1024).
    pub fn pull_batch_size(mut self, n: i32) -> Self {
        self.settings.pull_batch_size = n;
        self
    }

    /// Whether polls commit on their own (`autoCommit`, true). Off: only
    /// [`LitePullConsumer::commit`] commits.
    pub fn auto_commit(mut self, on: bool) -> Self {
        self.settings.auto_commit = on;
        self
    }

    /// How often auto-commit commits and writes the commits to the brokers
    /// (`autoCommitIntervalMillis`, 5 s; at least 1 s).
    pub fn auto_commit_interval(mut self, interval: Duration) -> Self {
        self.settings.auto_commit_interval = interval;
        self
    }

    /// How long each wait of [`LitePullConsumer::stream`] lasts (`pollTimeoutMillis`, 5 s).
    pub fn poll_timeout(mut self, timeout: Duration) -> Self {
        self.settings.poll_timeout = timeout;
        self
    }

    /// Flow control per queue: pulling pauses while a queue holds `messages` messages not
    /// yet polled (`pullThresholdForQueue`, 1000) or `bytes` body bytes
    /// (`pullThresholdSizeForQueue`, 100 MiB), or their offsets span more than `span`
    /// (`consumeMaxSpan`, 2000).
    pub fn flow_control(mut self, messages: usize, bytes: usize, span: i64) -> Self {
        self.settings.pull_threshold_for_queue = messages;
        self.settings.pull_threshold_size_for_queue = bytes;
        self.settings.max_span = span;
        self
    }

    /// Flow control over all queues: pulling pauses while more than about this many
    /// messages wait for poll (`pullThresholdForAll`, 10000; counted as waiting batches ×
    /// pull batch size, as Java does).
    pub fn pull_threshold_for_all(mut self, messages: usize) -> Self {
        self.settings.pull_threshold_for_all = messages;
        self
    }

    /// Turns message trace on (Java `enableMsgTrace`; off by default): each poll records a
    /// `SubBefore` and a `SubAfter` record per message returned (success, as Java 5.x does),
    /// sent in batches to the trace topic by a producer of their own. Recording never waits;
    /// a full buffer drops and counts ([`LitePullConsumer::trace_stats`]).
    pub fn trace(mut self, config: TraceConfig) -> Self {
        self.settings.trace = Some(config);
        self
    }

    /// Starts the consumer: (a) checks the group and settings (typed errors, no network);
    /// (b) joins the client instance of this client id (`DEFAULT` becomes `PID#nanotime`) and
    /// registers the group; (c) starts the instance and sends a heartbeat
    /// (`CONSUME_ACTIVELY`); (d) starts the rebalance and auto-commit tasks. Then call
    /// [`LitePullConsumer::subscribe`] or [`LitePullConsumer::assign`].
    ///
    /// # Errors
    /// [`crate::Error::Validation`] (bad group or setting), [`crate::Error::DuplicateGroup`].
    pub async fn start(self) -> Result<LitePullConsumer> {
        // (a)
        check_consumer_group(&self.group)?;
        self.settings.validate()?;
        let instance_config = self.client.validate()?;
        let namespace = self.client.namespace_value().map(str::to_string);
        let group = wrap_namespace(namespace.as_deref(), &self.group);
        check_wire_group_len(&group)?;
        // (b)
        let settings = self.settings;
        let (instance, inner) = ClientInstance::join(&instance_config, &group, |instance| {
            let inner = Arc::new(Inner {
                group: group.clone(),
                namespace: namespace.clone(),
                instance: Arc::clone(instance),
                next_auto_commit: Mutex::new(Instant::now() + settings.auto_commit_interval),
                settings: settings.clone(),
                assignment: Mutex::default(),
                offsets: OffsetStore::default(),
                cache: Mutex::default(),
                ready: Notify::new(),
                drained: Notify::new(),
                rebalance_now: Notify::new(),
                token: CancellationToken::new(),
                tasks: TaskTracker::new(),
                started_ms: now_ms(),
                stopping: AtomicBool::new(false),
                trace: OnceLock::new(),
            });
            let member = Member::Consumer(Arc::new(LiteRegistration(Arc::downgrade(&inner))));
            (inner, member)
        })?;
        // (c)
        let deadline = deadline_after(self.client.api_timeout_value());
        instance.start(deadline).await;
        let brokers = instance.heartbeat_all(deadline).await;
        if let Some(config) = &inner.settings.trace {
            match start_dispatcher(&self.group, TraceKind::Consume, &self.client, config).await {
                Ok(dispatcher) => {
                    let _ = inner.trace.set(dispatcher);
                }
                Err(e) => {
                    inner.shutdown().await;
                    return Err(e);
                }
            }
        }
        // (d)
        inner.tasks.spawn(Arc::clone(&inner).rebalance_loop());
        if inner.settings.auto_commit {
            inner.tasks.spawn(Arc::clone(&inner).auto_commit_loop());
        }
        info!(group = %group, client_id = %instance.client_id(), brokers, "lite pull consumer started");
        Ok(LitePullConsumer { inner })
    }
}

/// Runs `fut` unless the queue is dropped first (then `None`).
async fn unless_dropped<T>(state: &QueueState, fut: impl Future<Output = T>) -> Option<T> {
    tokio::select! {
        _ = state.dropped.cancelled() => None,
        v = fut => Some(v),
    }
}

/// Sleeps `d`, or less when the queue is woken. Returns false when it was dropped.
async fn nap(state: &QueueState, d: Duration) -> bool {
    tokio::select! {
        _ = state.dropped.cancelled() => false,
        _ = state.wake.notified() => true,
        _ = tokio::time::sleep(d) => true,
    }
}

impl Inner {
    fn assignment(&self) -> MutexGuard<'_, Assignment> {
        self.assignment.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cache(&self) -> MutexGuard<'_, VecDeque<Batch>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check_running(&self) -> Result<()> {
        if self.stopping.load(Ordering::SeqCst) {
            Err(Error::Shutdown)
        } else {
            Ok(())
        }
    }

    fn wire_topic(&self, topic: &str) -> String {
        wrap_namespace(self.namespace.as_deref(), topic)
    }

    fn wire_queue(&self, q: &MessageQueue) -> MessageQueue {
        MessageQueue::new(self.wire_topic(&q.topic), q.broker_name.clone(), q.queue_id)
    }

    fn user_queue(&self, mq: &MessageQueue) -> MessageQueue {
        MessageQueue::new(
            without_namespace(self.namespace.as_deref(), &mq.topic),
            mq.broker_name.clone(),
            mq.queue_id,
        )
    }

    fn new_queue_state(&self, a: &Assignment, mq: MessageQueue) -> Arc<QueueState> {
        // The expression "*" always parses.
        let assigned_sub = Subscription::new(mq.topic.clone(), SUBSCRIBE_ALL)
            .map(Arc::new)
            .unwrap_or_else(|_| unreachable!("\"*\" is a valid expression"));
        Arc::new(QueueState {
            paused: AtomicBool::new(a.paused.contains(&mq)),
            mq,
            assigned_sub,
            pq: Mutex::default(),
            dropped: self.token.child_token(),
            wake: Notify::new(),
            seek: Mutex::new(None),
            generation: AtomicU64::new(0),
            consumed: AtomicI64::new(NO_OFFSET),
            last_pull_ms: AtomicI64::new(0),
            last_consume_ms: AtomicI64::new(0),
        })
    }

    /// The state of an assigned queue given in user terms.
    fn assigned_state(&self, queue: &MessageQueue) -> Result<Arc<QueueState>, ValidationError> {
        let mq = self.wire_queue(queue);
        self.assignment().queues.get(&mq).cloned().ok_or_else(|| {
            ValidationError::QueueNotAssigned {
                topic: queue.topic.clone(),
                broker_name: queue.broker_name.clone(),
                queue_id: queue.queue_id,
            }
        })
    }

    /// The subscription a queue pulls with now.
    fn subscription_for(&self, state: &QueueState) -> Arc<Subscription> {
        self.assignment()
            .subscriptions
            .iter()
            .find(|s| s.topic == state.mq.topic)
            .cloned()
            .unwrap_or_else(|| Arc::clone(&state.assigned_sub))
    }

    /// The master of the queue's broker, else any node of it, refreshing the route once if
    /// the broker is unknown.
    async fn master_of(&self, mq: &MessageQueue) -> Result<String> {
        if let Some((addr, _)) = self.instance.broker_addr(&mq.broker_name, MASTER_ID) {
            return Ok(addr);
        }
        self.instance
            .update_topic_route(&mq.topic, self.instance.api().deadline())
            .await?;
        self.instance
            .broker_addr(&mq.broker_name, MASTER_ID)
            .map(|(addr, _)| addr)
            .ok_or_else(|| Error::NoRoute {
                topic: mq.topic.clone(),
            })
    }

    fn set_paused(&self, queues: &[MessageQueue], paused: bool) {
        let states: Vec<Arc<QueueState>> = {
            let mut a = self.assignment();
            queues
                .iter()
                .filter_map(|q| {
                    let mq = self.wire_queue(q);
                    if paused {
                        a.paused.insert(mq.clone());
                    } else {
                        a.paused.remove(&mq);
                    }
                    a.queues.get(&mq).cloned()
                })
                .collect()
        };
        for state in states {
            state.paused.store(paused, Ordering::SeqCst);
            state.wake.notify_one();
        }
        if !paused {
            self.ready.notify_waiters();
        }
        debug!(group = %self.group, queues = queues.len(), paused, "pause state changed");
    }

    /// Drops what is held of the queue and makes its next pull start at `offset`.
    fn apply_seek(&self, state: &QueueState, offset: i64) {
        {
            let mut cache = self.cache();
            state.generation.fetch_add(1, Ordering::SeqCst);
            state.pq().clear();
            cache.retain(|b| b.state.mq != state.mq);
            *state.seek.lock().unwrap_or_else(|e| e.into_inner()) = Some(offset);
            state.consumed.store(offset, Ordering::SeqCst);
        }
        state.wake.notify_one();
        self.drained.notify_waiters();
    }

    // ---- polling -----------------------------------------------------------------------

    async fn poll(
        &self,
        timeout: Duration,
        max: usize,
    ) -> Result<Option<(MessageQueue, Vec<StoredMessage>)>> {
        self.check_running()?;
        if self.settings.auto_commit {
            self.auto_commit_if_due();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let ready = self.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            if let Some(taken) = self.take(max) {
                // Java 5.x traces a poll as a handler call that succeeded at once.
                if let Some(dispatcher) = self.trace.get() {
                    let group = &self.group;
                    let namespace = self.namespace.as_deref();
                    if let Some(trace) =
                        ConsumeTrace::before(dispatcher, namespace, group, &taken.1)
                    {
                        trace.after(TraceConsumeCode::Success);
                    }
                }
                return Ok(Some(taken));
            }
            tokio::select! {
                _ = ready => {}
                _ = self.token.cancelled() => return Err(Error::Shutdown),
                _ = tokio::time::sleep_until(deadline) => return Ok(None),
            }
        }
    }

    /// Takes up to `max` messages from the oldest batch of a queue that is not paused,
    /// dropping stale batches on the way; marks them consumed.
    fn take(&self, max: usize) -> Option<(MessageQueue, Vec<StoredMessage>)> {
        let mut cache = self.cache();
        cache.retain(|b| !b.is_stale());
        let index = cache
            .iter()
            .position(|b| !b.state.paused.load(Ordering::SeqCst))?;
        let batch = &mut cache[index];
        let n = max.min(batch.messages.len());
        let taken: Vec<StoredMessage> = batch.messages.drain(..n).collect();
        let state = Arc::clone(&batch.state);
        if batch.messages.is_empty() {
            cache.remove(index);
        }
        if let Some(next) = state.pq().remove(taken.iter().map(|m| m.queue_offset)) {
            state.consumed.store(next, Ordering::SeqCst);
        }
        drop(cache);
        state.last_consume_ms.store(now_ms(), Ordering::Relaxed);
        self.drained.notify_waiters();
        Some((self.user_queue(&state.mq), taken))
    }

    // ---- offsets -----------------------------------------------------------------------

    fn auto_commit_if_due(&self) {
        let now = Instant::now();
        let mut next = self
            .next_auto_commit
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if now >= *next {
            *next = now + self.settings.auto_commit_interval;
            drop(next);
            self.commit_consumed();
        }
    }

    /// Makes the consumed offset of every queue read the group's committed offset (memory).
    fn commit_consumed(&self) {
        let states: Vec<Arc<QueueState>> = self.assignment().queues.values().cloned().collect();
        for state in states {
            if let Some(offset) = state.consumed() {
                self.offsets.update(&state.mq, offset, false);
            }
        }
    }

    /// Writes every commit to its broker, changed or not (as Java's `persistAll`: a master
    /// that crashed and came back gets them again), all at once, waiting for the answers.
    /// Returns the first failure.
    async fn persist(&self) -> Result<()> {
        let dirty = self.offsets.all();
        let api = self.instance.api();
        let deadline = api.deadline();
        let writes = dirty.into_iter().map(|(mq, offset)| async move {
            let addr = self.master_of(&mq).await?;
            let header = UpdateConsumerOffsetRequestHeader {
                consumer_group: self.group.clone(),
                topic: mq.topic.clone(),
                queue_id: mq.queue_id,
                commit_offset: offset,
                broker_name: Some(mq.broker_name.clone()),
            };
            match api.update_consumer_offset(&addr, &header, deadline).await {
                Ok(()) => {
                    self.offsets.persisted(&mq, offset);
                    debug!(group = %self.group, queue = ?mq, offset, "offset committed");
                    Ok(())
                }
                Err(e) => {
                    warn!(group = %self.group, queue = ?mq, offset, error = %e, "offset not committed");
                    Err(e)
                }
            }
        });
        join_all(writes).await.into_iter().collect()
    }

    async fn auto_commit_loop(self: Arc<Self>) {
        let interval = self.settings.auto_commit_interval;
        let mut ticks = tokio::time::interval_at(Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.token.cancelled() => return,
                _ = ticks.tick() => {}
            }
            // Failures are logged; the offsets stay dirty and go with the next round.
            let _ = self.persist().await;
        }
    }

    /// Where a queue starts without a seek (Java `computePullFromWhereWithException`): the
    /// group's stored offset, else as `consume_from` says. Only "no offset stored" falls back;
    /// an error is an error (the task tries again instead of jumping).
    async fn start_offset(&self, mq: &MessageQueue) -> Result<i64> {
        let addr = self.master_of(mq).await?;
        let api = self.instance.api();
        let header = QueryConsumerOffsetRequestHeader {
            consumer_group: self.group.clone(),
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            broker_name: Some(mq.broker_name.clone()),
        };
        if let Some(offset) = api.query_consumer_offset(&addr, &header).await? {
            if offset >= 0 {
                self.offsets.loaded(mq, offset);
                return Ok(offset);
            }
        }
        let offset = match self.settings.consume_from {
            ConsumeFrom::LastOffset => api.max_offset(&addr, &mq.topic, mq.queue_id).await?,
            ConsumeFrom::FirstOffset => 0,
            ConsumeFrom::Timestamp(ts) => {
                api.search_offset(&addr, &mq.topic, mq.queue_id, ts).await?
            }
        };
        info!(group = %self.group, queue = ?mq, offset, from = ?self.settings.consume_from, "no stored offset; starting here");
        Ok(offset)
    }

    // ---- pulling -----------------------------------------------------------------------

    /// Whether the queue (or the consumer as a whole) holds too much not yet polled.
    fn over_limits(&self, state: &QueueState) -> bool {
        let waiting_batches = self.cache().len();
        if waiting_batches * self.settings.pull_batch_size as usize
            > self.settings.pull_threshold_for_all
        {
            return true;
        }
        let pq = state.pq();
        pq.len() > self.settings.pull_threshold_for_queue
            || pq.bytes() > self.settings.pull_threshold_size_for_queue
            || pq.span() > self.settings.max_span
    }

    async fn pull_loop(self: Arc<Self>, state: Arc<QueueState>) {
        let mq = state.mq.clone();
        let mut pull_offset: Option<i64> = None;
        let mut broker_id = MASTER_ID;
        debug!(group = %self.group, queue = ?mq, "pull task started");
        loop {
            if state.dropped.is_cancelled() {
                return;
            }
            if state.paused.load(Ordering::SeqCst) {
                if !nap(&state, RECHECK_DELAY).await {
                    return;
                }
                continue;
            }
            let drained = self.drained.notified();
            if self.over_limits(&state) {
                let wait = tokio::time::timeout(RECHECK_DELAY, drained);
                if unless_dropped(&state, wait).await.is_none() {
                    return;
                }
                continue;
            }
            drop(drained);
            state.last_pull_ms.store(now_ms(), Ordering::Relaxed);
            let (generation, seek) = {
                let _cache = self.cache();
                let seek = state.seek.lock().unwrap_or_else(|e| e.into_inner()).take();
                (state.generation.load(Ordering::SeqCst), seek)
            };
            let offset = match seek.or(pull_offset) {
                Some(offset) => offset,
                None => match unless_dropped(&state, self.start_offset(&mq)).await {
                    None => return,
                    Some(Ok(offset)) => offset,
                    Some(Err(e)) => {
                        warn!(group = %self.group, queue = ?mq, error = %e, "cannot read the start offset; trying again");
                        if !nap(&state, START_OFFSET_RETRY_DELAY).await {
                            return;
                        }
                        continue;
                    }
                },
            };
            if state.generation.load(Ordering::SeqCst) != generation {
                continue; // A seek came in meanwhile.
            }
            // Never pull with a negative offset: the broker would move the queue to its
            // minimum (apache/rocketmq#10176).
            if offset < 0 {
                warn!(group = %self.group, queue = ?mq, offset, "negative offset; not pulling");
                pull_offset = None;
                if !nap(&state, START_OFFSET_RETRY_DELAY).await {
                    return;
                }
                continue;
            }
            pull_offset = Some(offset);
            let Some((addr, _)) = self.instance.broker_addr(&mq.broker_name, broker_id) else {
                let deadline = self.instance.api().deadline();
                let _ = unless_dropped(
                    &state,
                    self.instance.update_topic_route(&mq.topic, deadline),
                )
                .await;
                if !nap(&state, PULL_RETRY_DELAY).await {
                    return;
                }
                continue;
            };
            let sub = self.subscription_for(&state);
            // PULL_MESSAGE (11), not LITE_PULL_MESSAGE (361): a 5.x broker runs both through
            // the same PullMessageProcessor (361 only picks another thread pool and can be
            // switched off with litePullMessageEnable), and 4.9.x brokers reject 361.
            let header = PullMessageRequestHeader {
                consumer_group: self.group.clone(),
                topic: mq.topic.clone(),
                queue_id: mq.queue_id,
                queue_offset: offset,
                max_msg_nums: self.settings.pull_batch_size,
                sys_flag: LITE_PULL_SYS_FLAG,
                commit_offset: 0,
                suspend_timeout_millis: BROKER_SUSPEND.as_millis() as i64,
                subscription: Some(sub.expression.clone()),
                // Java sends 0 for tag expressions: the broker does not compare versions of
                // a subscription carried in the pull.
                sub_version: 0,
                expression_type: Some(sub.expression_type.into()),
                broker_name: Some(mq.broker_name.clone()),
            };
            let api = self.instance.api();
            let response = tokio::select! {
                _ = state.dropped.cancelled() => return,
                // A seek or a pause: this pull's answer would be thrown away anyway.
                _ = state.wake.notified() => continue,
                r = api.pull_message(&addr, &header, PULL_TIMEOUT) => r,
            };
            if state.generation.load(Ordering::SeqCst) != generation {
                continue;
            }
            let delay = match response {
                Ok(resp) => {
                    self.on_pull_response(
                        &state,
                        &sub,
                        generation,
                        offset,
                        resp,
                        &mut pull_offset,
                        &mut broker_id,
                    )
                    .await
                }
                Err(e) => {
                    debug!(group = %self.group, queue = ?mq, addr, error = %e, "pull failed");
                    if e.is_unreachable() {
                        // A crashed master: its slave may already be in the route.
                        self.instance.refresh_route_after_failure(&mq.topic).await;
                    }
                    Some(PULL_RETRY_DELAY)
                }
            };
            if let Some(delay) = delay {
                if !nap(&state, delay).await {
                    return;
                }
            }
        }
    }

    /// Handles one pull answer; returns how long to wait before the next pull.
    #[allow(clippy::too_many_arguments)]
    async fn on_pull_response(
        &self,
        state: &Arc<QueueState>,
        sub: &Subscription,
        generation: u64,
        offset: i64,
        resp: RemotingCommand,
        pull_offset: &mut Option<i64>,
        broker_id: &mut i64,
    ) -> Option<Duration> {
        let mq = &state.mq;
        let code = resp.response_code();
        let pull_status = matches!(
            code,
            ResponseCode::SUCCESS
                | ResponseCode::PULL_NOT_FOUND
                | ResponseCode::PULL_RETRY_IMMEDIATELY
                | ResponseCode::PULL_OFFSET_MOVED
        );
        if !pull_status {
            if code == BROKER_FLOW_CONTROL {
                return Some(BROKER_FLOW_CONTROL_DELAY);
            }
            warn!(group = %self.group, queue = ?mq, ?code, remark = ?resp.remark, "pull refused");
            return Some(PULL_RETRY_DELAY);
        }
        let header: PullMessageResponseHeader = match resp.decode_header() {
            Ok(h) => h,
            Err(e) => {
                warn!(group = %self.group, queue = ?mq, error = %e, "pull answer without its header");
                return Some(PULL_RETRY_DELAY);
            }
        };
        *broker_id = header.suggest_which_broker_id;
        let next = header.next_begin_offset;
        if next < 0 {
            warn!(group = %self.group, queue = ?mq, next, "broker answered a negative next offset; pulling the same offset again");
            return Some(PULL_RETRY_DELAY);
        }
        match code {
            ResponseCode::SUCCESS => {
                let body = resp.body;
                let body_len = body.len();
                let decode = move || {
                    let messages = decode_stored_messages(body, InflateLimits::default())
                        .map_err(|e| e.to_string())?;
                    unwrap_inner_batches(messages).map_err(|e| e.to_string())
                };
                let decoded = if body_len > INLINE_DECODE_LIMIT {
                    tokio::task::spawn_blocking(decode)
                        .await
                        .unwrap_or_else(|e| Err(e.to_string()))
                } else {
                    decode()
                };
                let messages = match decoded {
                    Ok(messages) => messages,
                    Err(e) => {
                        // Never skip: the same offset is pulled again.
                        warn!(group = %self.group, queue = ?mq, offset, error = %e, "pull body does not decode; pulling the same offset again");
                        return Some(PULL_RETRY_DELAY);
                    }
                };
                *pull_offset = Some(next);
                let mut kept: VecDeque<StoredMessage> = messages
                    .into_iter()
                    .filter(|m| m.queue_offset >= offset && sub.matches(m))
                    .map(|mut m| {
                        m.topic = without_namespace(self.namespace.as_deref(), &m.topic);
                        m.properties
                            .push(("MIN_OFFSET".into(), header.min_offset.to_string()));
                        m.properties
                            .push(("MAX_OFFSET".into(), header.max_offset.to_string()));
                        // Bodies are slices of the pull's frame: a copy lets the frame go.
                        m.body = bytes::Bytes::copy_from_slice(&m.body);
                        m
                    })
                    .collect();
                if kept.is_empty() {
                    self.advance_if_idle(state, next, false);
                    return None;
                }
                {
                    let mut cache = self.cache();
                    if state.generation.load(Ordering::SeqCst) != generation {
                        return None;
                    }
                    state.pq().put(kept.make_contiguous());
                    cache.push_back(Batch {
                        state: Arc::clone(state),
                        generation,
                        messages: kept,
                    });
                }
                self.ready.notify_one();
                None
            }
            ResponseCode::PULL_OFFSET_MOVED => {
                warn!(group = %self.group, queue = ?mq, requested = offset, next, "offset moved; continuing where the broker says");
                *pull_offset = Some(next);
                // The broker's word (a 5.x server-side reset may move backwards).
                self.advance_if_idle(state, next, true);
                None
            }
            _ => {
                // Nothing new, or nothing matched: the offset still moves on.
                *pull_offset = Some(next);
                self.advance_if_idle(state, next, false);
                None
            }
        }
    }

    /// With nothing waiting for poll, skipped ranges (filtered out, no match) count as
    /// consumed.
    fn advance_if_idle(&self, state: &QueueState, offset: i64, overwrite: bool) {
        let _cache = self.cache();
        if state.pq().is_empty() && (overwrite || state.consumed().is_none_or(|c| c < offset)) {
            state.consumed.store(offset, Ordering::SeqCst);
        }
    }

    // ---- rebalance ---------------------------------------------------------------------

    async fn rebalance_loop(self: Arc<Self>) {
        let mut routes = self.instance.route_changes();
        loop {
            let balanced = if self.assignment().mode() == Mode::Subscribe {
                self.rebalance().await
            } else {
                true
            };
            let wait = if balanced {
                REBALANCE_INTERVAL
            } else {
                REBALANCE_RETRY
            };
            tokio::select! {
                _ = self.token.cancelled() => return,
                _ = self.rebalance_now.notified() => debug!(group = %self.group, "rebalance requested"),
                changed = routes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One round over every subscribed topic; returns whether every topic was balanced.
    async fn rebalance(self: &Arc<Self>) -> bool {
        let subscriptions = self.assignment().subscriptions.clone();
        let mut balanced = true;
        for sub in subscriptions {
            if self.token.is_cancelled() {
                return true;
            }
            match self.allocate_topic(&sub.topic).await {
                Ok(Some(assigned)) => self.apply_assignment(&sub.topic, assigned).await,
                Ok(None) => {}
                Err(e) => {
                    balanced = false;
                    debug!(group = %self.group, topic = %sub.topic, error = %e, "rebalance of topic skipped");
                }
            }
        }
        // Queues of topics no longer subscribed (Java `truncateMessageQueueNotMyTopic`).
        let stale: Vec<Arc<QueueState>> = {
            let mut a = self.assignment();
            let topics: HashSet<String> = a.subscriptions.iter().map(|s| s.topic.clone()).collect();
            let gone: Vec<MessageQueue> = a
                .queues
                .keys()
                .filter(|mq| !topics.contains(&mq.topic))
                .cloned()
                .collect();
            gone.iter().filter_map(|mq| a.queues.remove(mq)).collect()
        };
        self.release(stale).await;
        balanced
    }

    /// The queues of `topic` this member should read, or `None` while that cannot be known
    /// (no route, no member list): the current assignment is kept then, as Java does.
    async fn allocate_topic(&self, topic: &str) -> Result<Option<BTreeSet<MessageQueue>>> {
        let Some(route) = self.instance.route_or_lookup(topic).await? else {
            return Ok(None);
        };
        let mq_all = subscribe_queues(topic, &route);
        if route.broker_datas.is_empty() {
            return Ok(None);
        }
        // Java asks a random broker of the topic, its master if it has one.
        let broker = &route.broker_datas[random_below(route.broker_datas.len())];
        let Some(addr) = broker
            .master_addr()
            .or_else(|| broker.broker_addrs.values().next().map(String::as_str))
        else {
            return Ok(None);
        };
        let cid_all = self.instance.api().consumer_ids(addr, &self.group).await?;
        if mq_all.is_empty() || cid_all.is_empty() {
            return Ok(None);
        }
        let assigned =
            self.settings
                .allocate
                .allocate(self.instance.client_id(), &mq_all, &cid_all);
        Ok(Some(assigned.into_iter().collect()))
    }

    /// Makes the queues read of `topic` equal `assigned`.
    async fn apply_assignment(self: &Arc<Self>, topic: &str, assigned: BTreeSet<MessageQueue>) {
        let (removed, added) = {
            let mut a = self.assignment();
            if a.mode() != Mode::Subscribe {
                return;
            }
            let gone: Vec<MessageQueue> = a
                .queues
                .keys()
                .filter(|mq| mq.topic == topic && !assigned.contains(*mq))
                .cloned()
                .collect();
            let removed: Vec<Arc<QueueState>> =
                gone.iter().filter_map(|mq| a.queues.remove(mq)).collect();
            let mut added = Vec::new();
            for mq in assigned {
                if !a.queues.contains_key(&mq) {
                    let state = self.new_queue_state(&a, mq.clone());
                    a.queues.insert(mq, Arc::clone(&state));
                    added.push(state);
                }
            }
            (removed, added)
        };
        if removed.is_empty() && added.is_empty() {
            return;
        }
        let (released, started) = (removed.len(), added.len());
        self.release(removed).await;
        for state in added {
            self.tasks.spawn(Arc::clone(self).pull_loop(state));
        }
        let owned = self
            .assignment()
            .queues
            .keys()
            .filter(|mq| mq.topic == topic)
            .count();
        info!(group = %self.group, topic, released, added = started, owned, "rebalanced");
    }

    /// Stops reading queues taken away; with auto-commit their consumed offsets are committed
    /// and written first, so the next owner starts after what this one polled.
    async fn release(&self, states: Vec<Arc<QueueState>>) {
        if states.is_empty() {
            return;
        }
        for state in &states {
            state.dropped.cancel();
            if self.settings.auto_commit {
                if let Some(offset) = state.consumed() {
                    self.offsets.update(&state.mq, offset, false);
                }
            }
        }
        let _ = self.persist().await;
        for state in &states {
            self.offsets.remove(&state.mq);
            debug!(group = %self.group, queue = ?state.mq, "queue released");
        }
    }

    // ---- shutdown ----------------------------------------------------------------------

    async fn shutdown(&self) {
        if self.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        info!(group = %self.group, "shutting down lite pull consumer");
        self.token.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        if self.settings.auto_commit {
            self.commit_consumed();
        }
        let _ = self.persist().await;
        self.cache().clear();
        self.assignment().queues.clear();
        if let Some(trace) = self.trace.get() {
            trace.shutdown(TRACE_FLUSH_LIMIT).await;
        }
        self.instance.leave(MemberKind::Consumer, &self.group).await;
        info!(group = %self.group, "lite pull consumer shut down");
    }

    // ---- broker requests ---------------------------------------------------------------

    /// This consumer's `ConsumerData` in heartbeats (fastjson field order).
    fn heartbeat_json(&self) -> serde_json::Value {
        let subscriptions: Vec<serde_json::Value> = self
            .assignment()
            .subscriptions
            .iter()
            .map(|s| s.heartbeat_json())
            .collect();
        json!({
            "consumeFromWhere": self.settings.consume_from.java_name(),
            "consumeType": "CONSUME_ACTIVELY",
            "groupName": self.group,
            "messageModel": "CLUSTERING",
            "subscriptionDataSet": subscriptions,
            "unitMode": false,
        })
    }

    fn handle_request(&self, addr: &str, request: RemotingCommand) -> Option<RemotingCommand> {
        match request.request_code() {
            RequestCode::NOTIFY_CONSUMER_IDS_CHANGED => {
                info!(group = %self.group, broker = %addr, "consumer ids changed; rebalancing");
                self.rebalance_now.notify_one();
                None
            }
            RequestCode::GET_CONSUMER_RUNNING_INFO => Some(
                RemotingCommand::response_to(&request, ResponseCode::SUCCESS, None)
                    .with_body(self.running_info().into_bytes()),
            ),
            RequestCode::GET_CONSUMER_STATUS_FROM_CLIENT => {
                let topic = request.ext_fields.get("topic").unwrap_or_default();
                Some(
                    RemotingCommand::response_to(&request, ResponseCode::SUCCESS, None)
                        .with_body(self.offsets.status_body(topic).into_bytes()),
                )
            }
            RequestCode::RESET_CONSUMER_CLIENT_OFFSET => {
                // 4.9.x admin reset: a seek of every queue named that this consumer reads.
                if request.decode_header::<ResetOffsetRequestHeader>().is_ok() {
                    for (mq, offset) in parse_queue_keyed_offsets(&request.body) {
                        let state = self.assignment().queues.get(&mq).cloned();
                        if let Some(state) = state {
                            info!(group = %self.group, queue = ?mq, offset, "offset reset by the broker");
                            self.apply_seek(&state, offset);
                        }
                    }
                }
                None
            }
            _ => Some(crate::remoting::UnsupportedRequests::response(&request)),
        }
    }

    /// `ConsumerRunningInfo` as Java writes it (queue-keyed maps in fastjson's object-key
    /// form), so `mqadmin consumerStatus` and the dashboard can read it.
    fn running_info(&self) -> String {
        let config = self.instance.config();
        let (subscriptions, queues): (Vec<serde_json::Value>, Vec<Arc<QueueState>>) = {
            let a = self.assignment();
            (
                a.subscriptions.iter().map(|s| s.heartbeat_json()).collect(),
                a.queues.values().cloned().collect(),
            )
        };
        let s = &self.settings;
        let mut properties = serde_json::Map::new();
        let mut prop = |k: &str, v: String| {
            properties.insert(k.to_string(), serde_json::Value::String(v));
        };
        prop("PROP_CONSUMEORDERLY", "false".into());
        prop("PROP_CONSUME_TYPE", "CONSUME_ACTIVELY".into());
        prop("PROP_CLIENT_VERSION", "V4_9_3".into());
        prop("PROP_CONSUMER_START_TIMESTAMP", self.started_ms.to_string());
        prop(
            "PROP_NAMESERVER_ADDR",
            self.instance
                .api()
                .name_servers()
                .iter()
                .map(|a| format!("{a};"))
                .collect(),
        );
        prop("consumerGroup", self.group.clone());
        prop("messageModel", "CLUSTERING".into());
        prop("consumeFromWhere", s.consume_from.java_name().into());
        prop("allocateMessageQueueStrategy", s.allocate.name().into());
        prop("pullBatchSize", s.pull_batch_size.to_string());
        prop("autoCommit", s.auto_commit.to_string());
        prop(
            "autoCommitIntervalMillis",
            s.auto_commit_interval.as_millis().to_string(),
        );
        prop("pollTimeoutMillis", s.poll_timeout.as_millis().to_string());
        prop("pullThresholdForAll", s.pull_threshold_for_all.to_string());
        prop(
            "pullThresholdForQueue",
            s.pull_threshold_for_queue.to_string(),
        );
        prop(
            "pullThresholdSizeForQueue",
            (s.pull_threshold_size_for_queue / (1024 * 1024)).to_string(),
        );
        prop("consumeMaxSpan", s.max_span.to_string());
        prop(
            "brokerSuspendMaxTimeMillis",
            BROKER_SUSPEND.as_millis().to_string(),
        );
        prop(
            "consumerTimeoutMillisWhenSuspend",
            PULL_TIMEOUT.as_millis().to_string(),
        );
        prop("instanceName", config.instance_name.clone());
        prop("clientIP", config.client_ip.clone());
        let mq_table = queue_keyed_map(queues.iter().map(|q| {
            let pq = q.pq();
            let (min, max) = pq.offset_range().unwrap_or((0, 0));
            let commit = self
                .offsets
                .read(&q.mq)
                .or_else(|| q.consumed())
                .unwrap_or(NO_OFFSET);
            let info = json!({
                "cachedMsgCount": pq.len(),
                "cachedMsgMaxOffset": max,
                "cachedMsgMinOffset": min,
                "cachedMsgSizeInMiB": pq.bytes() / (1024 * 1024),
                "commitOffset": commit,
                "droped": q.dropped.is_cancelled(),
                "lastConsumeTimestamp": q.last_consume_ms.load(Ordering::Relaxed),
                "lastLockTimestamp": 0,
                "lastPullTimestamp": q.last_pull_ms.load(Ordering::Relaxed),
                "locked": false,
                "transactionMsgCount": 0,
                "transactionMsgMaxOffset": 0,
                "transactionMsgMinOffset": 0,
                "tryUnlockTimes": 0,
            });
            (&q.mq, info.to_string())
        }));
        format!(
            r#"{{"jstack":"","mqTable":{mq_table},"properties":{},"statusTable":{{}},"subscriptionSet":{}}}"#,
            serde_json::Value::Object(properties),
            serde_json::Value::Array(subscriptions),
        )
    }
}

/// The consumer's entry in the client instance's member table.
struct LiteRegistration(Weak<Inner>);

impl ConsumerMember for LiteRegistration {
    fn heartbeat_data(&self) -> serde_json::Value {
        self.0
            .upgrade()
            .map_or(serde_json::Value::Null, |inner| inner.heartbeat_json())
    }

    fn handle_request(&self, addr: &str, request: RemotingCommand) -> HandlerFuture {
        let inner = self.0.upgrade();
        let addr = addr.to_string();
        Box::pin(async move {
            match inner {
                Some(inner) => inner.handle_request(&addr, request),
                None => None,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_javas_and_ranges_are_checked() {
        let s = LiteSettings::default();
        assert_eq!(
            (
                s.pull_batch_size,
                s.auto_commit,
                s.auto_commit_interval,
                s.poll_timeout
            ),
            (10, true, Duration::from_secs(5), Duration::from_secs(5))
        );
        assert_eq!(
            (
                s.pull_threshold_for_all,
                s.pull_threshold_for_queue,
                s.max_span
            ),
            (10_000, 1000, 2000)
        );
        assert!(s.validate().is_ok());
        let field = |s: LiteSettings| match s.validate() {
            Err(ValidationError::OutOfRange { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let with = |f: fn(&mut LiteSettings)| {
            let mut s = LiteSettings::default();
            f(&mut s);
            s
        };
        assert_eq!(field(with(|s| s.pull_batch_size = 1025)), "pull batch size");
        assert_eq!(
            field(with(|s| s.auto_commit_interval = Duration::from_millis(999))),
            "auto commit interval"
        );
        assert_eq!(
            field(with(|s| s.poll_timeout = Duration::ZERO)),
            "poll timeout"
        );
        assert_eq!(
            field(with(|s| s.pull_threshold_size_for_queue = 1024)),
            "pull threshold size for queue"
        );
        assert_eq!(field(with(|s| s.max_span = 0)), "max span");
        assert!(with(|s| s.auto_commit_interval = Duration::from_secs(1))
            .validate()
            .is_ok());
    }

    #[test]
    fn the_sys_flag_is_javas_lite_pull_flag() {
        assert_eq!(LITE_PULL_SYS_FLAG, 0x16);
    }
}
