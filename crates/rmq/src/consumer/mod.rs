//! The push consumer: [`PushConsumer::builder`] → subscribe → handler → [`PushConsumerBuilder::start`].
//!
//! A consumer joins a *consumer group*: the members of a group (Rust or Java, in any process)
//! split the queues of every subscribed topic among themselves (rebalancing whenever members
//! come or go), and each message is handed to one member. Delivery is *at least once*: the
//! group's offset of a queue is stored on the broker and moves past a message only once the
//! handler returned [`ConsumeResult::Success`] for it — and for every message before it — so a
//! crash or a rebalance can hand a message to a handler again, never skip one. A handler that
//! returns [`ConsumeResult::Later`] (or panics, or runs past the consume timeout) gets the
//! message again later through the group's retry topic, up to `max_reconsume_times`, after
//! which it goes to the group's dead-letter topic `%DLQ%<group>`.
//!
//! ```no_run
//! # async fn demo() -> rmq::Result<()> {
//! use rmq::{ConsumeResult, PushConsumer};
//!
//! let consumer = PushConsumer::builder("my_consumer_group")
//!     .name_server("127.0.0.1:9876")
//!     .subscribe("MyTopic", "TagA || TagB")
//!     .handler(|messages, _context| async move {
//!         for m in &messages {
//!             println!("{} {:?}", m.msg_id(), String::from_utf8_lossy(&m.body));
//!         }
//!         ConsumeResult::Success
//!     })
//!     .start()
//!     .await?;
//! // … until the service stops:
//! consumer.shutdown().await;
//! # Ok(()) }
//! ```

mod allocate;
mod engine;
mod fastjson;
mod lite_pull;
mod local_offsets;
mod offset;
mod orderly;
mod pop;
mod process_queue;
mod stats;
mod subscription;
mod trace;
mod types;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, info, warn};

pub use allocate::AllocateStrategy;
use engine::{Engine, Registration};
pub use lite_pull::{LitePullConsumer, LitePullConsumerBuilder};
pub use subscription::Selector;
use subscription::Subscription;
pub use types::{
    ConsumeContext, ConsumeFrom, ConsumeOrder, ConsumeResult, MessageModel, PopOptions,
};
use types::{Handler, Settings};

use crate::client::validate::{
    check_consumer_group, check_topic_name, check_wire_group_len, check_wire_topic_len,
    retry_topic, wrap_namespace,
};
use crate::client::{ClientConfig, ClientInstance, Member, MessageQueue, TraceConfig, TraceStats};
use crate::error::{Result, ValidationError};
use crate::producer::trace::{start_dispatcher, TraceKind};
use crate::protocol::StoredMessage;
use crate::util::deadline_after;

/// A running push consumer (Java `DefaultMQPushConsumer`): clustering or broadcasting,
/// concurrent or orderly, pull or (5.x) pop. Cheap to clone; [`shutdown`](Self::shutdown)
/// stops it.
#[derive(Clone)]
pub struct PushConsumer {
    engine: Arc<Engine>,
}

impl std::fmt::Debug for PushConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushConsumer")
            .field("group", &self.engine.group)
            .field("client_id", &self.client_id())
            .finish_non_exhaustive()
    }
}

impl PushConsumer {
    /// A builder for a consumer of `group` (namespaced when the client configuration has a
    /// namespace).
    pub fn builder(group: impl Into<String>) -> PushConsumerBuilder {
        PushConsumerBuilder {
            group: group.into(),
            client: ClientConfig::default(),
            settings: Settings::default(),
            subscriptions: Vec::new(),
            handler: None,
        }
    }

    /// The consumer group (with namespace).
    pub fn group(&self) -> &str {
        &self.engine.group
    }

    /// The client id of the instance this consumer joined (`IP@instance`).
    pub fn client_id(&self) -> &str {
        self.engine.instance.client_id()
    }

    /// The queues this member owns now (the group's retry queues included), sorted.
    pub fn assigned_queues(&self) -> Vec<MessageQueue> {
        self.engine.owned_queues()
    }

    /// The next offset to consume of `queue` as this member knows it, if it owns the queue.
    pub fn committed_offset(&self, queue: &MessageQueue) -> Option<i64> {
        self.engine.offsets.read(queue)
    }

    /// The message-trace counts, when tracing ([`PushConsumerBuilder::trace`]).
    pub fn trace_stats(&self) -> Option<TraceStats> {
        self.engine.trace.get().map(|t| t.stats())
    }

    /// Rebalances now instead of at the next period (Java `rebalanceImmediately`).
    pub fn rebalance_now(&self) {
        self.engine.rebalance_soon();
    }

    /// Shuts down: stops pulling, lets handler calls in flight finish (within the shutdown
    /// timeout; messages still waiting are not handed to the handler and not sent back, so
    /// the next owner gets them from the committed offset), writes every offset to its broker
    /// and waits for the answers, unregisters the group from every broker and leaves the client
    /// instance. After a clean shutdown and a restart no message is handled twice. Idempotent.
    pub async fn shutdown(&self) {
        self.engine.shutdown().await;
    }

    #[cfg(feature = "unstable-internals")]
    /// The client instance (unstable internals).
    pub fn instance(&self) -> &Arc<ClientInstance> {
        &self.engine.instance
    }
}

/// Builds a [`PushConsumer`]. Every option names its Java counterpart and default.
#[must_use]
pub struct PushConsumerBuilder {
    group: String,
    client: ClientConfig,
    settings: Settings,
    subscriptions: Vec<(String, Selector)>,
    handler: Option<Handler>,
}

impl std::fmt::Debug for PushConsumerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushConsumerBuilder")
            .field("group", &self.group)
            .field("client", &self.client)
            .field("settings", &self.settings)
            .field("subscriptions", &self.subscriptions)
            .field("handler", &self.handler.is_some())
            .finish()
    }
}

impl PushConsumerBuilder {
    /// The client settings (name servers, instance name, timeouts, …), shared with producers
    /// of the same client id. Replaces earlier shortcuts.
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

    /// Subscribes to `topic` with a tag expression — `"*"` for every message, or tags
    /// separated by `||` (`"TagA || TagB"`) — or a [`Selector`] (`Selector::sql("a > 5")`).
    /// Call once per topic (Java `subscribe`).
    pub fn subscribe(mut self, topic: impl Into<String>, selector: impl Into<Selector>) -> Self {
        self.subscriptions.push((topic.into(), selector.into()));
        self
    }

    /// Clustering (the members split the queues) or broadcasting (every member gets every
    /// message) (`messageModel`, clustering). A broadcasting consumer keeps `DEFAULT` as its
    /// instance name (Java does not make it `PID#nanotime`), so its client id — and with it
    /// its offsets file — stays the same across restarts; give each broadcasting member of a
    /// group in one host its own [`instance_name`](Self::instance_name).
    pub fn message_model(mut self, model: MessageModel) -> Self {
        self.settings.message_model = model;
        self
    }

    /// Concurrent or ordered consumption ([`ConsumeOrder`], concurrent): Java's choice of a
    /// `MessageListenerConcurrently` or `MessageListenerOrderly`.
    pub fn consume_order(mut self, order: ConsumeOrder) -> Self {
        self.settings.order = order;
        self
    }

    /// Orderly consumers: how long a queue (or key) waits after [`ConsumeResult::Later`]
    /// before the same messages come again (`suspendCurrentQueueTimeMillis`, 1 s; 10 ms to
    /// 30 s).
    pub fn suspend_time(mut self, suspend: Duration) -> Self {
        self.settings.suspend_time = suspend;
        self
    }

    /// Broadcasting consumers: the directory of the offsets files
    /// (`rocketmq.client.localOffsetStoreDir`, `$HOME/.rocketmq_offsets`); the file is
    /// `<dir>/<client id>/<group>/offsets.json`, in Java's format.
    pub fn offset_store_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.settings.offset_store_dir = Some(dir.into());
        self
    }

    /// The handler: called with up to `consume_batch_size` messages of one queue at a time,
    /// at most `consume_concurrency` calls at once, never on a connection's task. A panic, or
    /// running past `consume_timeout`, counts as [`ConsumeResult::later`]. The messages carry
    /// everything the broker stored (Java `MessageExt`); a retried message shows its original
    /// topic and its `reconsume_times`.
    pub fn handler<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Vec<StoredMessage>, ConsumeContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ConsumeResult> + Send + 'static,
    {
        self.handler = Some(Arc::new(move |messages, context| {
            Box::pin(handler(messages, context))
        }));
        self
    }

    /// Where a queue without a stored offset starts (`consumeFromWhere`,
    /// [`ConsumeFrom::LastOffset`]).
    pub fn consume_from(mut self, from: ConsumeFrom) -> Self {
        self.settings.consume_from = from;
        self
    }

    /// How the group splits queues (`allocateMessageQueueStrategy`, averagely).
    pub fn allocate_strategy(mut self, strategy: AllocateStrategy) -> Self {
        self.settings.allocate = strategy;
        self
    }

    /// Handler calls at once (`consumeThreadMax`, 20; 1 to 1000).
    pub fn consume_concurrency(mut self, n: usize) -> Self {
        self.settings.consume_concurrency = n;
        self
    }

    /// Messages per handler call (`consumeMessageBatchMaxSize`, 1; 1 to 1024).
    pub fn consume_batch_size(mut self, n: usize) -> Self {
        self.settings.consume_batch_size = n;
        self
    }

    /// Messages asked for per pull (`pullBatchSize`, 32; 1 to 1024; brokers return at most 32
    /// by default).
    pub fn pull_batch_size(mut self, n: i32) -> Self {
        self.settings.pull_batch_size = n;
        self
    }

    /// Flow control per queue: pulling pauses while a queue holds `messages` messages
    /// (`pullThresholdForQueue`, 1000) or `bytes` body bytes (`pullThresholdSizeForQueue`,
    /// 100 MiB), or its held offsets span more than `span` (`consumeConcurrentlyMaxSpan`,
    /// 2000).
    pub fn flow_control(mut self, messages: usize, bytes: usize, span: i64) -> Self {
        self.settings.pull_threshold_for_queue = messages;
        self.settings.pull_threshold_size_for_queue = bytes;
        self.settings.max_span = span;
        self
    }

    /// Deliveries of a message before it goes to the dead-letter topic (`maxReconsumeTimes`,
    /// 16 for concurrent consumers; 0 to 10000). Orderly consumers default to unlimited, as
    /// in Java: a message whose handler never succeeds then blocks its queue (or key) for
    /// good, retried every suspend time — set a limit to move it to `%DLQ%<group>` instead.
    pub fn max_reconsume_times(mut self, n: i32) -> Self {
        self.settings.max_reconsume_times = Some(n);
        self
    }

    /// Longest handler call; a longer one is stopped and counts as "later" (`consumeTimeout`,
    /// 15 min).
    pub fn consume_timeout(mut self, timeout: Duration) -> Self {
        self.settings.consume_timeout = timeout;
        self
    }

    /// How often offsets are written to the brokers (`persistConsumerOffsetInterval`, 5 s).
    pub fn persist_offset_interval(mut self, interval: Duration) -> Self {
        self.settings.persist_interval = interval;
        self
    }

    /// How long [`PushConsumer::shutdown`] waits for handler calls in flight before stopping
    /// them (`awaitTerminationMillisWhenShutdown`; Java 0, here 10 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.settings.shutdown_timeout = timeout;
        self
    }

    /// Consumes by pop (RocketMQ 5.x brokers only) instead of pull and client-side
    /// rebalancing: every member pops from every broker of each subscribed topic, the broker
    /// hands each message to one member and hides it for the invisible time. A message
    /// handled with [`ConsumeResult::Success`] is acked (one ack per handler call); one
    /// answered [`ConsumeResult::Later`] (or whose handler panicked or timed out) is hidden
    /// again for the retry delay — the delay level's time if given (1 = 1 s … 18 = 2 h), else
    /// Java's pop table by reconsume times (10 s, 30 s, 1 min, …, 2 h) — and then delivered
    /// again, with its `reconsume_times` one higher; past `max_reconsume_times` (or with a
    /// negative delay level) it goes to the dead-letter topic `%DLQ%<group>`. Messages not
    /// handled before a shutdown or a crash come back after their invisible time. There is
    /// no queue ownership: [`PushConsumer::assigned_queues`] stays empty and
    /// `allocate_strategy`, `pull_batch_size`, `flow_control` and `persist_offset_interval`
    /// do not apply. [`PushConsumerBuilder::start`] fails with
    /// [`crate::Error::PopNotSupported`] when a broker is older than 5.x.
    pub fn pop(mut self, options: PopOptions) -> Self {
        self.settings.pop = Some(options);
        self
    }

    /// Turns message trace on (Java `enableMsgTrace`; off by default): every handler call
    /// records one `SubBefore` record per message as it starts and one `SubAfter` record per
    /// message as it ends (success, "later", a panic or the consume timeout), in Java's
    /// `TraceDataEncoder` format, sent in batches to the trace topic by a producer of their
    /// own (group `_INNER_TRACE_PRODUCER-<group>-CONSUME-<n>`). Recording never waits: when
    /// the buffer is full the records are dropped and counted ([`PushConsumer::trace_stats`]).
    pub fn trace(mut self, config: TraceConfig) -> Self {
        self.settings.trace = Some(config);
        self
    }

    /// Starts the consumer, as Java's `DefaultMQPushConsumerImpl.start()`: (a) check the group,
    /// settings, subscriptions and handler (typed errors, no network); (b) add the group's
    /// retry subscription `%RETRY%<group>` (clustering only); (c) join the client instance of
    /// this client id (`DEFAULT` becomes `PID#nanotime`, except for broadcasting) and register
    /// the group; (d) start the instance and fetch the route of every subscribed topic;
    /// (e) heartbeat every broker with the consumer's data, then check SQL92 subscriptions
    /// with the brokers (CHECK_CLIENT_CONFIG); (f) start the rebalance service (a first round
    /// at once, then every 20 s and on every change of the group or of a route), which starts
    /// a pull task per owned queue (orderly: after locking it at its master), the offset
    /// persistence, and for orderly consumers the lock renewal. Steps (d) and (e) share one
    /// deadline, the API timeout.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] (bad group, setting, topic or expression; no subscription;
    /// no handler), [`crate::Error::DuplicateGroup`], [`crate::Error::PopNotSupported`] (pop
    /// consumption with a broker older than 5.x), [`crate::Error::FilterRejected`] (an SQL92
    /// subscription the broker refuses).
    pub async fn start(self) -> Result<PushConsumer> {
        // (a)
        check_consumer_group(&self.group)?;
        let handler = self.handler.ok_or(ValidationError::NoHandler)?;
        if self.subscriptions.is_empty() {
            return Err(ValidationError::NoSubscription.into());
        }
        self.settings.validate()?;
        let broadcasting = self.settings.message_model == MessageModel::Broadcasting;
        if self.settings.pop.is_some() && (broadcasting || self.settings.order.is_orderly()) {
            return Err(ValidationError::IncompatibleOptions(
                "pop consumption is clustering and concurrent only (no broadcasting, no orderly)",
            )
            .into());
        }
        let instance_config = self.client.validate()?;
        let namespace = self.client.namespace_value().map(str::to_string);
        let group = wrap_namespace(namespace.as_deref(), &self.group);
        check_wire_group_len(&group)?;
        let mut specs: Vec<(String, Selector)> = Vec::new();
        for (topic, selector) in &self.subscriptions {
            check_topic_name(topic)?;
            let topic = wrap_namespace(namespace.as_deref(), topic);
            check_wire_topic_len(&topic)?;
            Subscription::from_selector(topic.clone(), selector)?;
            if !specs.iter().any(|(t, _)| *t == topic) {
                specs.push((topic, selector.clone()));
            }
        }
        // (b) Broadcasting consumers do not retry, so they have no retry subscription.
        if !broadcasting {
            specs.push((retry_topic(&group), Selector::tag("*")));
        }
        debug!(step = "validate", group = %group, "consumer settings valid");
        // (c)
        let settings = self.settings;
        // Java keeps `DEFAULT` for broadcasting consumers (their offsets file is named by it).
        let resolve_instance_name = !broadcasting;
        let join = ClientInstance::join_with(
            &instance_config,
            resolve_instance_name,
            &group,
            |instance| {
                let engine = Arc::new(Engine::new(
                    group.clone(),
                    namespace.clone(),
                    Arc::clone(instance),
                    settings.clone(),
                    // Checked above: every expression parses.
                    specs
                        .iter()
                        .filter_map(|(topic, selector)| {
                            Subscription::from_selector(topic.clone(), selector).ok()
                        })
                        .collect(),
                    Arc::clone(&handler),
                ));
                let member = Member::Consumer(Arc::new(Registration(Arc::downgrade(&engine))));
                (engine, member)
            },
        );
        let (instance, engine) = join?;
        debug!(step = "register", group = %group, client_id = %instance.client_id(), "consumer registered in the client instance");
        // (d)
        let deadline = deadline_after(self.client.api_timeout_value());
        instance.start(deadline).await;
        for sub in &engine.subscriptions {
            instance.add_subscribed_topic(&sub.topic);
            if let Err(e) = instance.update_topic_route(&sub.topic, deadline).await {
                warn!(group = %group, topic = %sub.topic, error = %e, "no route yet; the rebalance retries");
            }
        }
        // (e)
        let brokers = instance.heartbeat_all(deadline).await;
        debug!(
            step = "heartbeat",
            brokers, "heartbeat with the consumer's data sent"
        );
        if engine.settings.pop.is_some() {
            if let Err(e) = pop::check_brokers_support_pop(&engine).await {
                engine.shutdown().await;
                return Err(e);
            }
        }
        if let Err(e) = engine
            .check_filters(deadline_after(self.client.api_timeout_value()))
            .await
        {
            engine.shutdown().await;
            return Err(e);
        }
        // The trace dispatcher, before any handler call can be traced.
        if let Some(config) = &engine.settings.trace {
            match start_dispatcher(&self.group, TraceKind::Consume, &self.client, config).await {
                Ok(dispatcher) => {
                    let _ = engine.trace.set(dispatcher);
                }
                Err(e) => {
                    engine.shutdown().await;
                    return Err(e);
                }
            }
            debug!(step = "trace", group = %group, "trace dispatcher started");
        }
        // (f)
        engine.spawn_services();
        info!(group = %group, client_id = %instance.client_id(), brokers, "consumer started");
        Ok(PushConsumer { engine })
    }
}
