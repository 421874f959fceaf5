//! The producer: [`Producer::builder`] → [`ProducerBuilder::start`] runs the start-up sequence
//! of the Java `DefaultMQProducer.start()`; [`Producer::shutdown`] reverses it.

mod fault;
mod message;
pub use fault::{
    not_available_duration, select_queue, LatencyFaultTolerance, ISOLATION_LATENCY_MS,
    LATENCY_MAX_MS, NOT_AVAILABLE_DURATION_MS,
};

use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{Notify, Semaphore};
use tracing::{debug, info, warn};

mod send;

pub use message::{Message, SendResult, SendStatus};
pub use send::{
    java_string_hash, MessageQueueSelector, SelectByHash, SelectRandom, MAX_DELAY_LEVEL,
};

use crate::client::validate::{
    check_client_name, check_namespace, check_producer_group, wrap_namespace, AUTO_CREATE_TOPIC,
    GROUP_MAX_LEN,
};
use crate::client::{
    parse_name_servers, AddressServer, ClientInstance, InstanceConfig, RegisteredProducer,
    ValidationError, WireIdentity,
};
use crate::error::{Error, Result};
use crate::protocol::{
    CheckTransactionStateRequestHeader, CompressionType, LanguageCode, SerializeType, StoredMessage,
};
use crate::remoting::{ConnectionConfig, RpcHook};

/// A broker's question about a transaction, delivered to the producer of the message's group.
#[derive(Debug, Clone)]
pub struct TransactionCheck {
    /// Broker that asks.
    pub broker_addr: String,
    /// Producer group of the half message.
    pub group: String,
    /// Transaction id (the message's UNIQ_KEY, else the header's).
    pub transaction_id: Option<String>,
    /// The request header.
    pub header: CheckTransactionStateRequestHeader,
    /// The half message as stored.
    pub message: StoredMessage,
}

type CheckCallback = Arc<dyn Fn(TransactionCheck) + Send + Sync>;

/// Lifecycle of a started producer. (Before start there is only the builder: "start twice" and
/// "send before start" cannot be written.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProducerState {
    /// Sending.
    Running,
    /// `shutdown()` is in progress: new sends fail, sends in flight finish.
    ShuttingDown,
    /// Shut down; every send fails with [`Error::Shutdown`].
    Shutdown,
}

/// Settings of a producer. Each documents the Java name and default.
#[derive(Clone)]
struct Settings {
    name_servers: Vec<String>,
    address_server: Option<AddressServer>,
    client_ip: Option<String>,
    instance_name: String,
    unit_name: Option<String>,
    namespace: Option<String>,
    poll_name_server_interval: Duration,
    heartbeat_broker_interval: Duration,
    api_timeout: Duration,
    send_timeout: Duration,
    retries: u32,
    compress_threshold: usize,
    max_message_size: usize,
    default_topic_queue_nums: i32,
    create_topic_key: String,
    vip_channel: bool,
    identity: WireIdentity,
    connection: ConnectionConfig,
    compression: Option<(CompressionType, i32)>,
    retry_another_broker_when_not_store_ok: bool,
    fault_tolerance: bool,
    max_in_flight_messages: usize,
    max_in_flight_bytes: usize,
}

/// Builds and starts a [`Producer`]. Created by [`Producer::builder`].
pub struct ProducerBuilder {
    group: String,
    settings: Settings,
    name_server_error: Option<Error>,
    rpc_hook: Option<Arc<dyn RpcHook>>,
    on_check: Option<CheckCallback>,
}

impl fmt::Debug for ProducerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProducerBuilder")
            .field("group", &self.group)
            .field("name_servers", &self.settings.name_servers)
            .field("instance_name", &self.settings.instance_name)
            .finish_non_exhaustive()
    }
}

fn positive(field: &'static str, d: Duration) -> Result<(), ValidationError> {
    if d.is_zero() {
        return Err(ValidationError::OutOfRange {
            field,
            expected: "greater than zero",
            got: format!("{d:?}"),
        });
    }
    Ok(())
}

impl ProducerBuilder {
    /// Adds name servers: one address or a `;`-separated list; may be called repeatedly.
    /// (Java `namesrvAddr`; falls back to the `NAMESRV_ADDR` environment variable.)
    pub fn name_server(mut self, list: &str) -> Self {
        match parse_name_servers(list) {
            Ok(addrs) => {
                for a in addrs {
                    if !self.settings.name_servers.contains(&a) {
                        self.settings.name_servers.push(a);
                    }
                }
            }
            Err(e) => self.name_server_error = Some(e),
        }
        self
    }

    /// Gets the name-server list from an HTTP address server at start, then every
    /// `interval` (Java: `rocketmq.namesrv.domain`, first after 10 s, every 2 minutes). Used
    /// only when no name server is given.
    pub fn address_server(
        mut self,
        url: impl Into<String>,
        first_delay: Duration,
        interval: Duration,
    ) -> Self {
        self.settings.address_server = Some(AddressServer {
            url: url.into(),
            first_delay,
            interval,
        });
        self
    }

    /// IP in the client id (Java `clientIP`; default: this host's first non-loopback IPv4).
    pub fn client_ip(mut self, ip: impl Into<String>) -> Self {
        self.settings.client_ip = Some(ip.into());
        self
    }

    /// Instance name (Java `instanceName`, default `DEFAULT`, which becomes `PID#nanotime`).
    /// Producers with the same instance name share one client instance.
    pub fn instance_name(mut self, name: impl Into<String>) -> Self {
        self.settings.instance_name = name.into();
        self
    }

    /// Unit name, appended to the client id (Java `unitName`, default none).
    pub fn unit_name(mut self, name: impl Into<String>) -> Self {
        self.settings.unit_name = Some(name.into());
        self
    }

    /// Namespace for the group and topics (Java `namespace`, default none).
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.settings.namespace = Some(ns.into());
        self
    }

    /// Route refresh interval (Java `pollNameServerInterval`, 30 s).
    pub fn poll_name_server_interval(mut self, d: Duration) -> Self {
        self.settings.poll_name_server_interval = d;
        self
    }

    /// Heartbeat interval (Java `heartbeatBrokerInterval`, 30 s).
    pub fn heartbeat_interval(mut self, d: Duration) -> Self {
        self.settings.heartbeat_broker_interval = d;
        self
    }

    /// Timeout of route, heartbeat and unregister calls (Java `mqClientApiTimeout`, 3 s).
    pub fn api_timeout(mut self, d: Duration) -> Self {
        self.settings.api_timeout = d;
        self
    }

    /// Total time a send may take, retries and route lookups included (Java
    /// `sendMsgTimeout`, 3 s).
    pub fn send_timeout(mut self, d: Duration) -> Self {
        self.settings.send_timeout = d;
        self
    }

    /// Extra attempts after a failed send (Java `retryTimesWhenSendFailed`, 2).
    pub fn retries(mut self, n: u32) -> Self {
        self.settings.retries = n;
        self
    }

    /// Bodies larger than this are compressed (Java `compressMsgBodyOverHowmuch`, 4096).
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

    /// Body compression above `compress_threshold`: Java 5.x `compressType` and
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

    /// Send to the broker's VIP port, listen port − 2 (Java `sendMessageWithVIPChannel`, false).
    pub fn vip_channel(mut self, on: bool) -> Self {
        self.settings.vip_channel = on;
        self
    }

    /// Language declared in requests (Java `language`, `JAVA`; `RUST` needs 4.9.4+ servers).
    pub fn language(mut self, language: LanguageCode) -> Self {
        self.settings.identity.language = language;
        self
    }

    /// Header format of requests (JSON, as Java; or the binary ROCKETMQ format).
    pub fn header_format(mut self, format: SerializeType) -> Self {
        self.settings.identity.serialize_type = format;
        self
    }

    /// Connection settings (connect timeout 3 s, idle close 120 s, frames up to 16 MiB).
    pub fn connection(mut self, config: ConnectionConfig) -> Self {
        self.settings.connection = config;
        self
    }

    /// A hook around every request (Java `RPCHook`), e.g. ACL signing.
    pub fn rpc_hook(mut self, hook: Arc<dyn RpcHook>) -> Self {
        self.rpc_hook = Some(hook);
        self
    }

    /// Called when a broker asks about a transaction of this producer's group
    /// (`CHECK_TRANSACTION_STATE`). Runs off the connection's reader.
    pub fn on_transaction_check(
        mut self,
        f: impl Fn(TransactionCheck) + Send + Sync + 'static,
    ) -> Self {
        self.on_check = Some(Arc::new(f));
        self
    }

    fn validate(&mut self) -> Result<()> {
        if let Some(e) = self.name_server_error.take() {
            return Err(e);
        }
        let s = &mut self.settings;
        positive("send timeout", s.send_timeout)?;
        positive("api timeout", s.api_timeout)?;
        positive("poll name server interval", s.poll_name_server_interval)?;
        positive("heartbeat interval", s.heartbeat_broker_interval)?;
        if s.max_message_size == 0 {
            return Err(ValidationError::OutOfRange {
                field: "max message size",
                expected: "greater than zero",
                got: "0".into(),
            }
            .into());
        }
        if s.max_in_flight_messages == 0 || s.max_in_flight_bytes == 0 {
            return Err(ValidationError::OutOfRange {
                field: "max in flight",
                expected: "greater than zero",
                got: format!(
                    "{} messages, {} bytes",
                    s.max_in_flight_messages, s.max_in_flight_bytes
                ),
            }
            .into());
        }
        if let Some((kind, level)) = s.compression {
            let (lo, hi) = kind.level_range();
            if !(lo..=hi).contains(&level) {
                return Err(ValidationError::OutOfRange {
                    field: "compression level",
                    expected: "within the codec's range",
                    got: level.to_string(),
                }
                .into());
            }
        }
        if s.default_topic_queue_nums <= 0 {
            return Err(ValidationError::OutOfRange {
                field: "default topic queue nums",
                expected: "greater than zero",
                got: s.default_topic_queue_nums.to_string(),
            }
            .into());
        }
        check_client_name("instance name", &s.instance_name)?;
        if let Some(unit) = &s.unit_name {
            check_client_name("unit name", unit)?;
        }
        if let Some(ns) = &s.namespace {
            check_namespace(ns)?;
        }
        if s.name_servers.is_empty() && s.address_server.is_none() {
            // Java's fallback; never an address server on the internet.
            if let Ok(env) = std::env::var("NAMESRV_ADDR") {
                s.name_servers = parse_name_servers(&env)?;
            }
        }
        if s.name_servers.is_empty() && s.address_server.is_none() {
            return Err(Error::NoNameServer);
        }
        Ok(())
    }

    /// Starts the producer, in the order of the Java `DefaultMQProducer.start()`:
    /// (a) apply the namespace to the group; (b) validate the group and every setting — a
    /// typed error before any network; (c) resolve the instance name `DEFAULT` to
    /// `PID#nanotime`; (d) build the client id `IP@instance[@unit]`; (e) get or create the
    /// process-wide client instance of that id; (f) register the group in it; (g) add the
    /// `TBW102` publish info; (h) start the instance once (its scheduled work) and fetch the
    /// `TBW102` route now; (i) become running; (j) heartbeat every known broker now.
    ///
    /// A failed start leaves nothing registered, so the group can be used again.
    ///
    /// # Errors
    /// [`Error::Validation`], [`Error::Config`], [`Error::NoNameServer`],
    /// [`Error::DuplicateGroup`].
    pub async fn start(mut self) -> Result<Producer> {
        // (a) + (b)
        self.validate()?;
        check_producer_group(&self.group)?;
        let namespace = self.settings.namespace.clone().filter(|n| !n.is_empty());
        let group = wrap_namespace(namespace.as_deref(), &self.group);
        debug!(step = "namespace", group = %group, "group with namespace applied");
        let len = group.encode_utf16().count();
        if len > GROUP_MAX_LEN {
            return Err(ValidationError::GroupTooLong { len }.into());
        }
        let s = self.settings;
        debug!(step = "validate", group = %group, "group and settings valid");
        // (c)
        let instance_name = if s.instance_name == "DEFAULT" {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            format!("{}#{}", std::process::id(), nanos)
        } else {
            s.instance_name.clone()
        };
        debug!(step = "instance_name", instance_name = %instance_name, "instance name resolved");
        // (d)
        let config = InstanceConfig {
            name_servers: s.name_servers.clone(),
            address_server: s.address_server.clone(),
            client_ip: s.client_ip.clone().unwrap_or_else(local_ip),
            instance_name,
            unit_name: s.unit_name.clone(),
            poll_name_server_interval: s.poll_name_server_interval,
            heartbeat_broker_interval: s.heartbeat_broker_interval,
            api_timeout: s.api_timeout,
            identity: s.identity.clone(),
            connection: s.connection.clone(),
            rpc_hook: self.rpc_hook.clone(),
        };
        info!(group = %group, client_id = %config.client_id(), "starting producer");
        let s_limits = (
            s.max_in_flight_messages,
            s.max_in_flight_bytes
                .min(Semaphore::MAX_PERMITS)
                .min(u32::MAX as usize),
        );
        // (e) + (f): an instance whose last producer is just leaving refuses the registration;
        // then a fresh instance is made for this client id.
        let mut attempts = 0;
        let (instance, inner) = loop {
            attempts += 1;
            let instance = ClientInstance::get_or_create(config.clone())?;
            let inner = Arc::new(Inner {
                group: group.clone(),
                namespace: namespace.clone(),
                settings: s.clone(),
                instance: Arc::clone(&instance),
                state: AtomicU8::new(STATE_RUNNING),
                in_flight: AtomicUsize::new(0),
                idle: Notify::new(),
                on_check: self.on_check.clone(),
                fault: LatencyFaultTolerance::new(),
                message_permits: Semaphore::new(s_limits.0),
                byte_permits: Semaphore::new(s_limits.1),
            });
            match instance.register_producer(&group, Arc::new(Registration(Arc::downgrade(&inner))))
            {
                Ok(()) => break (instance, inner),
                Err(Error::Shutdown) if attempts < 3 => continue,
                Err(e) => return Err(e),
            }
        };
        // (g)
        instance.add_publish_topic(AUTO_CREATE_TOPIC);
        debug!(
            step = "default_publish_info",
            topic = AUTO_CREATE_TOPIC,
            "default topic publish info added"
        );
        // (h)
        instance.start().await;
        if let Err(e) = instance.update_topic_route(AUTO_CREATE_TOPIC).await {
            warn!(group = %group, error = %e, "TBW102 route not available at start; the scheduled refresh will retry");
        }
        // (i) the state is running from here; (j)
        debug!(step = "running", group = %group, "producer running");
        let brokers = instance.heartbeat_all().await;
        debug!(
            step = "heartbeat",
            brokers, "heartbeat sent to every known broker"
        );
        info!(group = %group, client_id = %instance.client_id(), brokers, "producer started");
        Ok(Producer { inner })
    }
}

const STATE_RUNNING: u8 = 0;
const STATE_SHUTTING_DOWN: u8 = 1;
const STATE_SHUTDOWN: u8 = 2;

struct Inner {
    group: String,
    namespace: Option<String>,
    settings: Settings,
    instance: Arc<ClientInstance>,
    state: AtomicU8,
    in_flight: AtomicUsize,
    idle: Notify,
    on_check: Option<CheckCallback>,
    fault: LatencyFaultTolerance,
    message_permits: Semaphore,
    byte_permits: Semaphore,
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

impl RegisteredProducer for Registration {
    fn check_transaction_state(&self, check: TransactionCheck) {
        match self.0.upgrade().and_then(|inner| inner.on_check.clone()) {
            Some(callback) => callback(check),
            None => debug!(group = %check.group, "transaction check: no checker registered"),
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
            settings: Settings {
                name_servers: Vec::new(),
                address_server: None,
                client_ip: None,
                instance_name: "DEFAULT".into(),
                unit_name: None,
                namespace: None,
                poll_name_server_interval: Duration::from_secs(30),
                heartbeat_broker_interval: Duration::from_secs(30),
                api_timeout: Duration::from_secs(3),
                send_timeout: Duration::from_secs(3),
                retries: 2,
                compress_threshold: 4096,
                max_message_size: 4 * 1024 * 1024,
                default_topic_queue_nums: 4,
                create_topic_key: AUTO_CREATE_TOPIC.into(),
                vip_channel: false,
                identity: WireIdentity::default(),
                connection: ConnectionConfig::default(),
                compression: Some((CompressionType::Zlib, 5)),
                retry_another_broker_when_not_store_ok: false,
                fault_tolerance: true,
                max_in_flight_messages: 1024,
                max_in_flight_bytes: 100 * 1024 * 1024,
            },
            name_server_error: None,
            rpc_hook: None,
            on_check: None,
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

    /// The client instance (routes, brokers, publish info, groups) — read-only views.
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

    /// Whether two producers use the same client instance.
    pub fn shares_instance_with(&self, other: &Producer) -> bool {
        Arc::ptr_eq(&self.inner.instance, &other.inner.instance)
    }

    /// Shuts down: new sends fail with [`Error::Shutdown`]; sends in flight get up to the send
    /// timeout to finish; `UNREGISTER_CLIENT` goes to every broker; the client instance stops
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
        inner.instance.unregister_producer(&inner.group).await;
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

/// This host's address for the client id (see [`crate::protocol::local_ip`]), else 127.0.0.1.
fn local_ip() -> String {
    crate::protocol::local_ip().map_or_else(|| "127.0.0.1".to_string(), |ip| ip.to_string())
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
