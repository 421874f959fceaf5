//! The producer: [`Producer::builder`] → [`ProducerBuilder::start`] runs the start-up sequence
//! of the Java `DefaultMQProducer.start()`; [`Producer::shutdown`] reverses it.

mod accumulator;
mod auto_send;
mod fault;
mod message;
mod prepared;
mod request;
mod selector;
mod send;
pub(crate) mod trace;
mod transaction;
mod transaction_send;

use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tracing::{debug, info, warn};

use accumulator::Accumulator;
pub use accumulator::AutoBatch;
use fault::LatencyFaultTolerance;
pub use message::{Message, SendResult, SendStatus, MAX_DELAY_LEVEL};
pub use request::create_reply_message;
pub use selector::{MessageQueueSelector, SelectByHash, SelectRandom};
use transaction::{CheckLimits, DynListener, Transactions};
pub use transaction::{
    TransactionError, TransactionListener, TransactionSendResult, TransactionState,
};

use crate::client::validate::{
    check_producer_group, check_wire_group_len, wrap_namespace, AUTO_CREATE_TOPIC,
};
use crate::client::{
    check_timeout, ClientConfig, ClientInstance, InstanceConfig, Member, MemberKind,
    ProducerMember, TraceConfig, TraceDispatcher, TraceStats, TransactionCheck,
};
use crate::error::{Result, ValidationError};
use crate::protocol::CompressionType;
use crate::util::deadline_after;

type CheckCallback = Arc<dyn Fn(TransactionCheck) + Send + Sync>;

/// Lifecycle of a started producer. (Before start there is only the builder: "start twice" and
/// "send before start" cannot be written.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProducerState {
    /// Sending.
    Running,
    /// `shutdown()` is in progress: new sends fail, sends in flight finish.
    ShuttingDown,
    /// Shut down; every send fails with [`crate::Error::Shutdown`].
    Shutdown,
}

/// Longest a shutdown waits for the trace records still buffered to be sent.
const TRACE_FLUSH_LIMIT: Duration = Duration::from_secs(5);

/// Most transaction checks running or queued accepted.
const MAX_CHECKS: usize = 100_000;

/// Most retries accepted: each one is another broker round trip inside the same deadline.
const MAX_RETRIES: u32 = 100;

/// The producer's own settings (the client-instance ones live in [`ClientConfig`]). Each
/// setter documents the Java name and default.
#[derive(Clone)]
struct Settings {
    send_timeout: Duration,
    retries: u32,
    compress_threshold: usize,
    max_message_size: usize,
    default_topic_queue_nums: i32,
    create_topic_key: String,
    compression: Option<(CompressionType, i32)>,
    retry_another_broker_when_not_store_ok: bool,
    fault_tolerance: bool,
    max_in_flight_messages: usize,
    max_in_flight_bytes: usize,
    auto_batch: Option<AutoBatch>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            send_timeout: Duration::from_secs(3),
            retries: 2,
            compress_threshold: 4096,
            max_message_size: 4 * 1024 * 1024,
            default_topic_queue_nums: 4,
            create_topic_key: AUTO_CREATE_TOPIC.into(),
            compression: Some((CompressionType::Zlib, 5)),
            retry_another_broker_when_not_store_ok: false,
            fault_tolerance: true,
            max_in_flight_messages: 1024,
            max_in_flight_bytes: 100 * 1024 * 1024,
            auto_batch: None,
        }
    }
}

impl Settings {
    /// Every producer setting in its range; no network.
    fn validate(&self) -> Result<(), ValidationError> {
        let out_of_range = |field, expected, got: String| {
            Err(ValidationError::OutOfRange {
                field,
                expected,
                got,
            })
        };
        check_timeout("send timeout", self.send_timeout)?;
        if self.retries > MAX_RETRIES {
            return out_of_range("retries", "at most 100", self.retries.to_string());
        }
        if self.max_message_size == 0 || self.max_message_size > MAX_BODY_LIMIT {
            return out_of_range(
                "max message size",
                "between 1 byte and 1 GiB",
                self.max_message_size.to_string(),
            );
        }
        if self.max_in_flight_messages == 0
            || self.max_in_flight_bytes == 0
            || self.max_in_flight_messages > Semaphore::MAX_PERMITS
        {
            return out_of_range(
                "max in flight",
                "greater than zero",
                format!(
                    "{} messages, {} bytes",
                    self.max_in_flight_messages, self.max_in_flight_bytes
                ),
            );
        }
        if let Some((kind, level)) = self.compression {
            let (lo, hi) = kind.level_range();
            if !(lo..=hi).contains(&level) {
                return out_of_range(
                    "compression level",
                    "within the codec's range",
                    level.to_string(),
                );
            }
        }
        if !(1..=i32::from(u16::MAX)).contains(&self.default_topic_queue_nums) {
            return out_of_range(
                "default topic queue nums",
                "between 1 and 65535",
                self.default_topic_queue_nums.to_string(),
            );
        }
        if let Some(auto_batch) = &self.auto_batch {
            auto_batch.validate(self.max_message_size)?;
        }
        crate::client::validate::check_send_topic(&self.create_topic_key).or_else(|e| match e {
            // The template itself is a system topic; only its shape matters here.
            ValidationError::TopicNotAllowed(_) => Ok(()),
            e => Err(e),
        })?;
        Ok(())
    }
}

/// Largest `max_message_size` accepted (the broker's own limit is far lower: 4 MiB by default).
const MAX_BODY_LIMIT: usize = 1024 * 1024 * 1024;

/// Builds and starts a [`Producer`]. Created by [`Producer::builder`].
///
/// Client-instance settings (name servers, instance name, timeouts of the periodic work, …)
/// come from a [`ClientConfig`] given with [`ProducerBuilder::client`]; the most used ones have
/// shortcuts here. Everything else is the producer's own.
pub struct ProducerBuilder {
    group: String,
    client: ClientConfig,
    settings: Settings,
    on_check: Option<CheckCallback>,
    listener: Option<Arc<dyn DynListener>>,
    check_limits: CheckLimits,
    trace: Option<TraceConfig>,
}

impl fmt::Debug for ProducerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProducerBuilder")
            .field("group", &self.group)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl ProducerBuilder {
    /// The client-instance settings (replacing any given before, shortcuts included).
    pub fn client(mut self, config: ClientConfig) -> Self {
        self.client = config;
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

    /// Shortcut for [`ClientConfig::namespace`].
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.client = self.client.namespace(namespace);
        self
    }

    /// Total time a send may take, retries and route lookups included (Java
    /// `sendMsgTimeout`, 3 s; 1 ms to 24 h).
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.settings.send_timeout = timeout;
        self
    }

    /// Extra attempts after a failed send (Java `retryTimesWhenSendFailed`, 2; at most 100).
    pub fn retries(mut self, n: u32) -> Self {
        self.settings.retries = n;
        self
    }

    /// Bodies of at least this size are compressed (Java `compressMsgBodyOverHowmuch`, 4096).
    pub fn compress_threshold(mut self, bytes: usize) -> Self {
        self.settings.compress_threshold = bytes;
        self
    }

    /// Largest body accepted (Java `maxMessageSize`, 4 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.settings.max_message_size = bytes;
        self
    }

    /// Queues of an auto-created topic (Java `defaultTopicQueueNums`, 4).
    pub fn default_topic_queue_nums(mut self, n: i32) -> Self {
        self.settings.default_topic_queue_nums = n;
        self
    }

    /// Template topic for auto-creation (Java `createTopicKey`, `TBW102`).
    pub fn create_topic_key(mut self, topic: impl Into<String>) -> Self {
        self.settings.create_topic_key = topic.into();
        self
    }

    /// Body compression at and above `compress_threshold`: Java 5.x `compressType` and
    /// `compressLevel` (ZLIB, 5). LZ4 and ZSTD need 5.x consumers; `None` never compresses.
    pub fn compression(mut self, compression: Option<(CompressionType, i32)>) -> Self {
        self.settings.compression = compression;
        self
    }

    /// When a broker stores a message but answers FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT or
    /// SLAVE_NOT_AVAILABLE, send again to another broker (Java
    /// `retryAnotherBrokerWhenNotStoreOK`, false).
    pub fn retry_another_broker_when_not_store_ok(mut self, on: bool) -> Self {
        self.settings.retry_another_broker_when_not_store_ok = on;
        self
    }

    /// Avoid brokers that were slow or failed, for a time that grows with their latency (Java
    /// `sendLatencyFaultEnable`; off in Java, on here).
    pub fn fault_tolerance(mut self, on: bool) -> Self {
        self.settings.fault_tolerance = on;
        self
    }

    /// Bound on sends in flight: a send waits for room within its deadline (Java 5.x
    /// `backPressureForAsyncSendNum` 10000 / `…Size` 100 MiB, off in Java; here 1024 messages
    /// and 100 MiB, on).
    pub fn max_in_flight(mut self, messages: usize, bytes: usize) -> Self {
        self.settings.max_in_flight_messages = messages;
        self.settings.max_in_flight_bytes = bytes;
        self
    }

    /// Turns auto-batching on (Java 5.x `autoBatch`; off by default): concurrent single
    /// sends of one topic go to the broker together, in one `SEND_BATCH_MESSAGE`, and each
    /// caller still gets its own [`SendResult`]. See [`AutoBatch`] for what is batched and
    /// when a batch leaves.
    pub fn auto_batch(mut self, config: AutoBatch) -> Self {
        self.settings.auto_batch = Some(config);
        self
    }

    /// Makes this a transactional producer (Java `TransactionMQProducer.setTransactionListener`):
    /// [`Producer::send_in_transaction`] runs `listener`'s local transaction, and the brokers'
    /// check-backs (`CHECK_TRANSACTION_STATE`) are answered by its `check`.
    pub fn transaction_listener(mut self, listener: impl TransactionListener) -> Self {
        self.listener = Some(Arc::new(listener));
        self
    }

    /// Bounds on the brokers' check-backs: at most `running` checks run at once, at most
    /// `queued` more wait, and a check running longer than `timeout` is answered `UNKNOW`;
    /// a check arriving when the queue is full is dropped (the broker asks again). Defaults:
    /// 4 running, 2000 queued, 30 s (Java: 1 thread and a queue of 2000, no timeout). At least
    /// one running; `queued` may be 0; timeout 1 ms to 24 h.
    pub fn transaction_checks(mut self, running: usize, queued: usize, timeout: Duration) -> Self {
        self.check_limits = CheckLimits {
            running,
            queued,
            timeout,
        };
        self
    }

    /// Turns message trace on (Java `enableMsgTrace`; off by default): after every send the
    /// broker answered (not one-way sends), a `Pub` record, and for every transaction
    /// decision an `EndTransaction` record, in Java's `TraceDataEncoder` format, go to the
    /// trace topic in batches through a producer of their own (group
    /// `_INNER_TRACE_PRODUCER-<group>-PRODUCE-<n>`). Recording never waits: when the buffer is
    /// full the record is dropped and counted ([`Producer::trace_stats`]).
    pub fn trace(mut self, config: TraceConfig) -> Self {
        self.trace = Some(config);
        self
    }

    /// Called when a broker asks about a transaction of this producer's group
    /// (`CHECK_TRANSACTION_STATE`) and no [`ProducerBuilder::transaction_listener`] is set;
    /// nothing is answered. Runs off the connection's reader. Unstable: a test hook.
    #[cfg(feature = "unstable-internals")]
    pub fn on_transaction_check(
        mut self,
        f: impl Fn(TransactionCheck) + Send + Sync + 'static,
    ) -> Self {
        self.on_check = Some(Arc::new(f));
        self
    }

    /// Checks the group and every setting as [`start`](Self::start) does before anything
    /// touches the network, without starting anything (start checks them again): for tools
    /// that refuse bad input before doing other work.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] (every bad setting or name).
    pub fn validate(&self) -> Result<()> {
        self.checked().map(drop)
    }

    /// Steps (a) and (b) of [`start`](Self::start): the namespace, the group with it and the
    /// client-instance settings, once every check passed.
    fn checked(&self) -> Result<(Option<String>, String, InstanceConfig)> {
        check_producer_group(&self.group)?;
        let namespace = self.client.namespace_value().map(str::to_string);
        let group = wrap_namespace(namespace.as_deref(), &self.group);
        check_wire_group_len(&group)?;
        let instance_config = self.client.validate()?;
        self.settings.validate()?;
        let limits = self.check_limits;
        check_timeout("transaction check timeout", limits.timeout)?;
        if limits.running == 0 || limits.running > MAX_CHECKS || limits.queued > MAX_CHECKS {
            return Err(ValidationError::OutOfRange {
                field: "transaction checks",
                expected: "1 to 100000 running, at most 100000 queued",
                got: format!("{} running, {} queued", limits.running, limits.queued),
            }
            .into());
        }
        if let Some(trace) = &self.trace {
            trace.validate()?;
        }
        Ok((namespace, group, instance_config))
    }

    /// Starts the producer, in the order of the Java `DefaultMQProducer.start()`:
    /// (a) apply the namespace to the group; (b) validate the group, the client settings and
    /// the producer's — a typed error before any network; (c)–(f) join the client instance of
    /// this client id: the instance resolves the instance name `DEFAULT` to `PID#nanotime`,
    /// builds the client id `IP@instance[@unit]`, gets or creates the process-wide instance
    /// and registers the group; (g) add the `TBW102` publish info; (h) start the instance once
    /// (its periodic jobs) and fetch the `TBW102` route now; (i) become running; (j)
    /// heartbeat every known broker now. Steps (h) to (j) share one deadline, the API timeout.
    ///
    /// A failed start leaves nothing registered, so the group can be used again.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] (every bad setting or name),
    /// [`crate::Error::DuplicateGroup`].
    pub async fn start(self) -> Result<Producer> {
        // (a) + (b)
        let (namespace, group, instance_config) = self.checked()?;
        debug!(step = "namespace", group = %group, "group with namespace applied");
        let settings = self.settings;
        let limits = self.check_limits;
        let transactions = self
            .listener
            .map(|listener| Arc::new(Transactions::new(listener, limits)));
        debug!(step = "validate", group = %group, "group and settings valid");
        info!(group = %group, "starting producer");
        let byte_permits = settings
            .max_in_flight_bytes
            .min(Semaphore::MAX_PERMITS)
            .min(u32::MAX as usize);
        // (c) … (f)
        let (instance, inner) = ClientInstance::join(&instance_config, &group, |instance| {
            let inner = Arc::new(Inner {
                group: group.clone(),
                namespace: namespace.clone(),
                vip_channel: self.client.vip_channel_enabled(),
                settings: settings.clone(),
                instance: Arc::clone(instance),
                state: AtomicU8::new(STATE_RUNNING),
                in_flight: AtomicUsize::new(0),
                idle: Notify::new(),
                on_check: self.on_check.clone(),
                transactions: transactions.clone(),
                fault: LatencyFaultTolerance::new(),
                message_permits: Semaphore::new(settings.max_in_flight_messages),
                byte_permits: Semaphore::new(byte_permits),
                trace: OnceLock::new(),
                accumulator: settings.auto_batch.map(Accumulator::new),
            });
            let member = Member::Producer(Arc::new(Registration(Arc::downgrade(&inner))));
            (inner, member)
        })?;
        debug!(step = "register", group = %group, client_id = %instance.client_id(), "producer registered in the client instance");
        // (g)
        instance.add_publish_topic(AUTO_CREATE_TOPIC);
        debug!(
            step = "default_publish_info",
            topic = AUTO_CREATE_TOPIC,
            "default topic publish info added"
        );
        // (h) … (j) share one deadline, so start-up never takes longer than the API timeout
        // however many name servers or brokers are stalled.
        let deadline = deadline_after(self.client.api_timeout_value());
        instance.start(deadline).await;
        if let Err(e) = instance
            .update_topic_route(AUTO_CREATE_TOPIC, deadline)
            .await
        {
            warn!(group = %group, error = %e, "TBW102 route not available at start; the route refresh will retry");
        }
        // (i) the state is running from here; (j)
        debug!(step = "running", group = %group, "producer running");
        let brokers = instance.heartbeat_all(deadline).await;
        debug!(
            step = "heartbeat",
            brokers, "heartbeat sent to every known broker"
        );
        let producer = Producer { inner };
        // (k) the trace dispatcher, last, as Java's start() does.
        if let Some(config) = &self.trace {
            let plain = crate::client::validate::without_namespace(namespace.as_deref(), &group);
            if let Err(e) = producer.start_trace(&plain, &self.client, config).await {
                producer.shutdown().await;
                return Err(e);
            }
            debug!(step = "trace", group = %group, "trace dispatcher started");
        }
        info!(group = %group, client_id = %instance.client_id(), brokers, "producer started");
        Ok(producer)
    }
}

const STATE_RUNNING: u8 = 0;
const STATE_SHUTTING_DOWN: u8 = 1;
const STATE_SHUTDOWN: u8 = 2;

struct Inner {
    group: String,
    namespace: Option<String>,
    vip_channel: bool,
    settings: Settings,
    instance: Arc<ClientInstance>,
    state: AtomicU8,
    in_flight: AtomicUsize,
    idle: Notify,
    on_check: Option<CheckCallback>,
    /// Present on a transactional producer.
    transactions: Option<Arc<Transactions>>,
    fault: LatencyFaultTolerance,
    message_permits: Semaphore,
    byte_permits: Semaphore,
    /// The message-trace dispatcher, when tracing (set once, at the end of start).
    trace: OnceLock<Arc<TraceDispatcher>>,
    /// The open batches, with auto-batching on.
    accumulator: Option<Accumulator>,
}

impl Inner {
    /// Counts a send in flight until the guard drops.
    fn track(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self)
    }
}

/// The instance's view of a producer; weak, so the instance never keeps a producer alive.
struct Registration(std::sync::Weak<Inner>);

impl ProducerMember for Registration {
    fn check_transaction_state(&self, check: TransactionCheck) {
        let Some(inner) = self.0.upgrade() else {
            debug!(group = %check.group, "transaction check for a producer gone");
            return;
        };
        if let Some(transactions) = &inner.transactions {
            transactions.dispatch(
                check,
                Arc::clone(&inner.instance),
                inner.group.clone(),
                inner.namespace.clone(),
                inner.trace.get().cloned(),
            );
        } else if let Some(callback) = &inner.on_check {
            callback(check);
        } else {
            debug!(group = %check.group, "transaction check: no transaction listener");
        }
    }
}

/// Counts a send in flight; `shutdown()` waits for the count to reach zero.
struct InFlight<'a>(&'a Inner);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// A started producer. Cheap to clone; every method takes `&self`.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("group", &self.inner.group)
            .field("client_id", &self.client_id())
            .field("state", &self.state())
            .finish()
    }
}

impl Producer {
    /// A builder for a producer of `group` (Java `new DefaultMQProducer(group)`).
    pub fn builder(group: impl Into<String>) -> ProducerBuilder {
        ProducerBuilder {
            group: group.into(),
            client: ClientConfig::default(),
            settings: Settings::default(),
            on_check: None,
            listener: None,
            check_limits: CheckLimits::default(),
            trace: None,
        }
    }

    /// The producer group (with namespace).
    pub fn group(&self) -> &str {
        &self.inner.group
    }

    /// The client id of the instance this producer uses.
    pub fn client_id(&self) -> &str {
        self.inner.instance.client_id()
    }

    /// The current state.
    pub fn state(&self) -> ProducerState {
        match self.inner.state.load(Ordering::Acquire) {
            STATE_RUNNING => ProducerState::Running,
            STATE_SHUTTING_DOWN => ProducerState::ShuttingDown,
            _ => ProducerState::Shutdown,
        }
    }

    /// The client instance (routes, brokers, publish info, groups). Unstable.
    #[cfg(feature = "unstable-internals")]
    pub fn instance(&self) -> &Arc<ClientInstance> {
        &self.inner.instance
    }

    /// Brokers the latency fault tolerance currently avoids (isolated after failures or
    /// slow answers), by name.
    pub fn isolated_brokers(&self) -> Vec<String> {
        let mut names = self
            .inner
            .fault
            .unavailable_brokers(std::time::Instant::now());
        names.sort();
        names
    }

    /// The message-trace counts, when tracing ([`ProducerBuilder::trace`]).
    pub fn trace_stats(&self) -> Option<TraceStats> {
        self.inner.trace.get().map(|t| t.stats())
    }

    /// Messages waiting in open auto-batches, not sent yet (0 without auto-batching).
    pub fn auto_batch_pending(&self) -> usize {
        self.inner
            .accumulator
            .as_ref()
            .map_or(0, Accumulator::pending)
    }

    /// Whether two producers use the same client instance.
    pub fn shares_instance_with(&self, other: &Producer) -> bool {
        Arc::ptr_eq(&self.inner.instance, &other.inner.instance)
    }

    /// Shuts down: new sends fail with [`crate::Error::Shutdown`]; open auto-batches are sent
    /// at once; sends in flight get up to the send timeout to finish; `UNREGISTER_CLIENT` goes to every broker; the client instance stops
    /// when this was its last producer. Idempotent.
    pub async fn shutdown(&self) {
        let inner = &*self.inner;
        if inner
            .state
            .compare_exchange(
                STATE_RUNNING,
                STATE_SHUTTING_DOWN,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return;
        }
        info!(group = %inner.group, client_id = %self.client_id(), "shutting down producer");
        self.flush_auto_batches();
        let drained = tokio::time::timeout(inner.settings.send_timeout, async {
            loop {
                let idle = inner.idle.notified();
                if inner.in_flight.load(Ordering::Acquire) == 0 {
                    break;
                }
                idle.await;
            }
        })
        .await;
        if drained.is_err() {
            warn!(group = %inner.group, in_flight = inner.in_flight.load(Ordering::Acquire), "sends still in flight at shutdown");
        }
        self.stop_auto_batching(inner.settings.send_timeout).await;
        if let Some(transactions) = &inner.transactions {
            transactions.shutdown().await;
        }
        if let Some(trace) = inner.trace.get() {
            // What the sends above recorded still goes out.
            trace.shutdown(TRACE_FLUSH_LIMIT).await;
        }
        inner
            .instance
            .leave(MemberKind::Producer, &inner.group)
            .await;
        inner.state.store(STATE_SHUTDOWN, Ordering::Release);
        info!(group = %inner.group, "producer shut down");
    }
}

/// The broker's VIP ("fast") port: listen port − 2 (Java `MixAll.brokerVIPChannel`).
fn vip_addr(addr: &str) -> String {
    match addr
        .rsplit_once(':')
        .and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h, p)))
    {
        Some((host, port)) if port > 2 => format!("{host}:{}", port - 2),
        _ => addr.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vip_port_is_listen_port_minus_two() {
        assert_eq!(vip_addr("127.0.0.1:10911"), "127.0.0.1:10909");
        assert_eq!(vip_addr("weird"), "weird");
    }
}
