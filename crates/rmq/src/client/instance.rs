//! The client instance shared by every producer with the same client id (Java
//! `MQClientInstance`): connections, routes, brokers, publish info, registered groups, and the
//! scheduled work that keeps them fresh.
//!
//! Consumers will live here too (the pull and rebalance services of the Java instance); the
//! consumer table is empty for now, and heartbeats carry an empty consumer set.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex, RwLock, Weak};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::api::{parse_name_servers, ClientApi, WireIdentity};
use super::processor::ClientRequestProcessor;
use super::route::TopicPublishInfo;
use super::validate::CLIENT_INNER_PRODUCER_GROUP;
use crate::error::{Error, Result};
use crate::protocol::{HeartbeatData, ProducerData, ResponseCode, TopicRouteData, MASTER_ID};
use crate::remoting::{ConnectionConfig, ConnectionPool, RpcHook, ServerRequestHandler};

/// Where the name-server list comes from when none is given: an HTTP address server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressServer {
    /// URL answering with a `;`-separated list (Java `rocketmq.namesrv.domain` URL).
    pub url: String,
    /// Delay before the first periodic fetch (Java: 10 s); one fetch also happens at start.
    pub first_delay: Duration,
    /// Interval between fetches (Java: 2 minutes).
    pub interval: Duration,
}

/// Settings of a client instance. Producers that share an instance must agree on all of them.
#[derive(Clone)]
pub struct InstanceConfig {
    /// Name servers given directly.
    pub name_servers: Vec<String>,
    /// Address server, when the list comes from HTTP.
    pub address_server: Option<AddressServer>,
    /// The IP in the client id.
    pub client_ip: String,
    /// The instance name in the client id (already resolved from `DEFAULT`).
    pub instance_name: String,
    /// Optional unit name, the third part of the client id.
    pub unit_name: Option<String>,
    /// Route refresh interval (Java `pollNameServerInterval`, 30 s).
    pub poll_name_server_interval: Duration,
    /// Heartbeat interval (Java `heartbeatBrokerInterval`, 30 s).
    pub heartbeat_broker_interval: Duration,
    /// Timeout of route, heartbeat and unregister calls (Java `mqClientApiTimeout`, 3 s).
    pub api_timeout: Duration,
    /// What every request declares (language, version, header format).
    pub identity: WireIdentity,
    /// Connection settings.
    pub connection: ConnectionConfig,
    /// The RPC hook, if any.
    pub rpc_hook: Option<Arc<dyn RpcHook>>,
}

impl fmt::Debug for InstanceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstanceConfig")
            .field("name_servers", &self.name_servers)
            .field("address_server", &self.address_server)
            .field("client_ip", &self.client_ip)
            .field("instance_name", &self.instance_name)
            .field("unit_name", &self.unit_name)
            .field("poll_name_server_interval", &self.poll_name_server_interval)
            .field("heartbeat_broker_interval", &self.heartbeat_broker_interval)
            .field("api_timeout", &self.api_timeout)
            .field("identity", &self.identity)
            .field("connection", &self.connection)
            .field("rpc_hook", &self.rpc_hook.is_some())
            .finish()
    }
}

impl InstanceConfig {
    /// `IP@instanceName[@unitName]` (Java `buildMQClientId`).
    pub fn client_id(&self) -> String {
        match &self.unit_name {
            Some(unit) if !unit.is_empty() => {
                format!("{}@{}@{}", self.client_ip, self.instance_name, unit)
            }
            _ => format!("{}@{}", self.client_ip, self.instance_name),
        }
    }

    /// Settings that differ from `other`, by name (empty when an instance can be shared).
    fn differences(&self, other: &Self) -> Vec<&'static str> {
        let mut diff = Vec::new();
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v
        };
        if sorted(&self.name_servers) != sorted(&other.name_servers) {
            diff.push("name servers");
        }
        if self.address_server != other.address_server {
            diff.push("address server");
        }
        if self.poll_name_server_interval != other.poll_name_server_interval {
            diff.push("poll name server interval");
        }
        if self.heartbeat_broker_interval != other.heartbeat_broker_interval {
            diff.push("heartbeat interval");
        }
        if self.api_timeout != other.api_timeout {
            diff.push("api timeout");
        }
        if self.identity.language != other.identity.language
            || self.identity.version != other.identity.version
            || self.identity.serialize_type != other.identity.serialize_type
        {
            diff.push("language/version/header format");
        }
        let same_hook = match (&self.rpc_hook, &other.rpc_hook) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        if !same_hook {
            diff.push("rpc hook");
        }
        diff
    }
}

/// What the instance needs to know about a registered producer.
pub(crate) trait RegisteredProducer: Send + Sync + 'static {
    /// A broker asks about a transaction of this group.
    fn check_transaction_state(&self, check: crate::producer::TransactionCheck);
}

/// Registration of the instance's own inner producer group.
struct InnerProducer;

impl RegisteredProducer for InnerProducer {
    fn check_transaction_state(&self, check: crate::producer::TransactionCheck) {
        debug!(group = CLIENT_INNER_PRODUCER_GROUP, txid = ?check.transaction_id, "transaction check for the inner producer ignored");
    }
}

/// Process-wide table of instances by client id (Java `MQClientManager.factoryTable`).
static INSTANCES: LazyLock<Mutex<HashMap<String, Weak<ClientInstance>>>> =
    LazyLock::new(Default::default);

/// Broker name to broker id to address.
pub type BrokerTable = HashMap<String, BTreeMap<i64, String>>;

/// The shared client instance. See the module docs.
pub struct ClientInstance {
    client_id: String,
    config: InstanceConfig,
    api: ClientApi,
    routes: RwLock<HashMap<String, Arc<TopicRouteData>>>,
    brokers: RwLock<BrokerTable>,
    publish: RwLock<HashMap<String, Arc<TopicPublishInfo>>>,
    producers: Mutex<HashMap<String, Arc<dyn RegisteredProducer>>>,
    /// Serializes route updates so two ticks never interleave table changes.
    route_update: tokio::sync::Mutex<()>,
    token: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
    started: std::sync::atomic::AtomicBool,
    /// Set (under the producer-table lock) when the last producer left: no one may join.
    closing: std::sync::atomic::AtomicBool,
}

impl fmt::Debug for ClientInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientInstance")
            .field("client_id", &self.client_id)
            .field("producer_groups", &self.producer_groups())
            .finish_non_exhaustive()
    }
}

impl Drop for ClientInstance {
    fn drop(&mut self) {
        // No I/O here: the scheduled task sees the token and ends.
        self.token.cancel();
    }
}

impl ClientInstance {
    /// The running instance for `config.client_id()`, or a new one (not started yet).
    ///
    /// # Errors
    /// [`Error::Config`] when an instance with this client id exists with other settings
    /// (the Java client silently shares it: apache/rocketmq#1247).
    pub fn get_or_create(config: InstanceConfig) -> Result<Arc<Self>> {
        let client_id = config.client_id();
        let mut table = INSTANCES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = table.get(&client_id).and_then(Weak::upgrade) {
            if !existing.is_closing() {
                let diff = existing.config.differences(&config);
                if !diff.is_empty() {
                    return Err(Error::Config {
                        field: "instance name",
                        reason: format!(
                            "client id {client_id} is already used by a client instance with different {}; \
                             give this producer another instance name",
                            diff.join(", ")
                        ),
                    });
                }
                debug!(client_id = %client_id, "reusing client instance");
                return Ok(existing);
            }
        }
        let processor = Arc::new(ClientRequestProcessor::new(client_id.clone()));
        let mut connection = config.connection.clone();
        if let Some(hook) = &config.rpc_hook {
            connection.rpc_hooks.push(Arc::clone(hook));
        }
        let pool = Arc::new(ConnectionPool::new(
            connection,
            Arc::clone(&processor) as Arc<dyn ServerRequestHandler>,
        ));
        let api = ClientApi::new(
            pool,
            config.identity.clone(),
            config.name_servers.clone(),
            config.api_timeout,
        );
        let instance = Arc::new(Self {
            client_id: client_id.clone(),
            config,
            api,
            routes: RwLock::default(),
            brokers: RwLock::default(),
            publish: RwLock::default(),
            producers: Mutex::new(HashMap::from([(
                CLIENT_INNER_PRODUCER_GROUP.to_string(),
                Arc::new(InnerProducer) as Arc<dyn RegisteredProducer>,
            )])),
            route_update: tokio::sync::Mutex::new(()),
            token: CancellationToken::new(),
            task: Mutex::new(None),
            started: std::sync::atomic::AtomicBool::new(false),
            closing: std::sync::atomic::AtomicBool::new(false),
        });
        processor.attach(Arc::downgrade(&instance));
        table.retain(|_, w| w.strong_count() > 0);
        table.insert(client_id.clone(), Arc::downgrade(&instance));
        info!(client_id = %client_id, "created client instance");
        Ok(instance)
    }

    /// The client id (`IP@instance[@unit]`).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The instance settings.
    pub fn config(&self) -> &InstanceConfig {
        &self.config
    }

    /// The typed API over the instance's connections.
    pub fn api(&self) -> &ClientApi {
        &self.api
    }

    /// Registered groups, including the instance's own `CLIENT_INNER_PRODUCER`, sorted.
    pub fn producer_groups(&self) -> Vec<String> {
        let mut groups: Vec<String> = self
            .producers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        groups.sort();
        groups
    }

    /// Snapshot of the route table.
    pub fn routes(&self) -> HashMap<String, Arc<TopicRouteData>> {
        self.routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Snapshot of the broker address table.
    pub fn brokers(&self) -> BrokerTable {
        self.brokers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Snapshot of the publish-info table.
    pub fn publish_infos(&self) -> HashMap<String, Arc<TopicPublishInfo>> {
        self.publish
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Publish info of `topic`, if known.
    pub fn publish_info(&self, topic: &str) -> Option<Arc<TopicPublishInfo>> {
        self.publish
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(topic)
            .cloned()
    }

    /// Master address of `broker_name`.
    pub fn master_addr(&self, broker_name: &str) -> Option<String> {
        self.brokers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(broker_name)
            .and_then(|ids| ids.get(&MASTER_ID).cloned())
    }

    /// Whether the instance has been stopped.
    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Whether the instance is stopping or stopped (its last producer left).
    fn is_closing(&self) -> bool {
        self.closing.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub(crate) fn register_producer(
        &self,
        group: &str,
        producer: Arc<dyn RegisteredProducer>,
    ) -> Result<()> {
        let mut producers = self.producers.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_closing() {
            return Err(Error::Shutdown);
        }
        if producers.contains_key(group) {
            return Err(Error::DuplicateGroup {
                group: group.to_string(),
                client_id: self.client_id.clone(),
            });
        }
        producers.insert(group.to_string(), producer);
        info!(client_id = %self.client_id, group, "producer registered");
        Ok(())
    }

    pub(crate) fn producer(&self, group: &str) -> Option<Arc<dyn RegisteredProducer>> {
        self.producers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(group)
            .cloned()
    }

    /// Stores publish info built from the auto-create template for `topic`, unless a usable
    /// one exists already; the topic's own route replaces it once the name server has one.
    pub fn set_template_publish_info(
        &self,
        topic: &str,
        info: Arc<TopicPublishInfo>,
    ) -> Arc<TopicPublishInfo> {
        let mut publish = self.publish.write().unwrap_or_else(|e| e.into_inner());
        let slot = publish.entry(topic.to_string()).or_default();
        if !slot.ok() {
            *slot = info;
        }
        Arc::clone(slot)
    }

    /// Adds `topic` to the publish table (empty until its route is known), so the scheduled
    /// refresh keeps its route current.
    pub fn add_publish_topic(&self, topic: &str) {
        self.publish
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(topic.to_string())
            .or_default();
    }

    /// Starts the scheduled work once; later calls do nothing.
    pub(crate) async fn start(self: &Arc<Self>) {
        if self.started.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        if let Some(server) = &self.config.address_server {
            // Java fetches once at start, then on the schedule.
            if let Err(e) = self.fetch_name_servers(server).await {
                warn!(client_id = %self.client_id, url = %server.url, error = %e, "address server fetch failed");
            }
        }
        let task = tokio::spawn(scheduled(
            Arc::downgrade(self),
            self.token.clone(),
            self.config.clone(),
        ));
        *self.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        info!(client_id = %self.client_id, "client instance started");
    }

    /// Asks the address server for the name-server list and applies it when it changed.
    async fn fetch_name_servers(&self, server: &AddressServer) -> Result<bool> {
        let list = super::address::fetch(&server.url, self.config.api_timeout).await?;
        let servers = parse_name_servers(&list)?;
        if servers.is_empty() {
            return Err(Error::InvalidResponse {
                addr: server.url.clone(),
                reason: "empty name-server list".into(),
            });
        }
        Ok(self.api.update_name_servers(servers).await)
    }

    /// Fetches the route of `topic` and applies it to the route, broker and publish tables.
    /// Returns whether anything changed. A topic the name server does not know is not an error.
    ///
    /// # Errors
    /// Transport errors talking to the name server.
    pub async fn update_topic_route(&self, topic: &str) -> Result<bool> {
        let _serial = self.route_update.lock().await;
        self.update_topic_route_locked(topic).await
    }

    /// Publish info of `topic`, looking its route up if there is none yet. Concurrent callers
    /// share one lookup: the others find the result when they get the lock.
    ///
    /// # Errors
    /// Transport errors talking to the name server.
    pub async fn ensure_publish_info(&self, topic: &str) -> Result<Option<Arc<TopicPublishInfo>>> {
        self.add_publish_topic(topic);
        let _serial = self.route_update.lock().await;
        if let Some(info) = self.publish_info(topic).filter(|i| i.ok()) {
            return Ok(Some(info));
        }
        self.update_topic_route_locked(topic).await?;
        Ok(self.publish_info(topic).filter(|i| i.ok()))
    }

    async fn update_topic_route_locked(&self, topic: &str) -> Result<bool> {
        let route = match self.api.topic_route(topic).await {
            Ok(route) => route,
            Err(e) if e.response_code() == Some(ResponseCode::TOPIC_NOT_EXIST) => {
                debug!(topic, "name server has no route");
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let old = self
            .routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(topic)
            .cloned();
        let changed = old.is_none_or(|old| old.normalized() != route.normalized());
        let stale = self.publish_info(topic).is_some_and(|p| !p.ok());
        if !changed && !stale {
            return Ok(false);
        }
        {
            let mut brokers = self.brokers.write().unwrap_or_else(|e| e.into_inner());
            for b in &route.broker_datas {
                brokers.insert(b.broker_name.clone(), b.broker_addrs.clone());
            }
        }
        {
            let mut publish = self.publish.write().unwrap_or_else(|e| e.into_inner());
            if let Some(slot) = publish.get_mut(topic) {
                *slot = Arc::new(TopicPublishInfo::from_route(topic, &route));
            }
        }
        info!(client_id = %self.client_id, topic, queues = route.queue_datas.len(), brokers = route.broker_datas.len(), "route updated");
        self.routes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(topic.to_string(), Arc::new(route));
        Ok(true)
    }

    /// Refreshes the route of every topic in the publish table.
    async fn update_all_routes(&self) {
        let topics: Vec<String> = self
            .publish
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        for topic in topics {
            if let Err(e) = self.update_topic_route(&topic).await {
                warn!(client_id = %self.client_id, topic, error = %e, "route refresh failed; keeping the old route");
            }
        }
    }

    /// Removes brokers that appear in no route any more (Java `cleanOfflineBroker`).
    pub fn clean_offline_brokers(&self) {
        let live: std::collections::HashSet<String> = self
            .routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .flat_map(|r| {
                r.broker_datas
                    .iter()
                    .flat_map(|b| b.broker_addrs.values().cloned())
            })
            .collect();
        let mut brokers = self.brokers.write().unwrap_or_else(|e| e.into_inner());
        brokers.retain(|name, addrs| {
            addrs.retain(|id, addr| {
                let keep = live.contains(addr);
                if !keep {
                    info!(broker = %name, id, addr = %addr, "broker offline, removed");
                }
                keep
            });
            !addrs.is_empty()
        });
    }

    /// Sends a heartbeat with every registered group to every master (no consumers yet, so
    /// masters only, like Java). Returns how many brokers accepted it.
    pub async fn heartbeat_all(&self) -> usize {
        let groups = self.producer_groups();
        if groups.is_empty() {
            return 0;
        }
        let data = HeartbeatData {
            client_id: self.client_id.clone(),
            consumer_data_set: Vec::new(),
            producer_data_set: groups
                .into_iter()
                .map(|group_name| ProducerData { group_name })
                .collect(),
        };
        let masters: Vec<(String, String)> = self
            .brokers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|(name, ids)| ids.get(&MASTER_ID).map(|a| (name.clone(), a.clone())))
            .collect();
        let mut ok = 0;
        for (name, addr) in masters {
            match self.api.heartbeat(&addr, &data).await {
                Ok(version) => {
                    ok += 1;
                    debug!(client_id = %self.client_id, broker = %name, addr = %addr, broker_version = version, "heartbeat sent");
                }
                Err(e) => {
                    warn!(client_id = %self.client_id, broker = %name, addr = %addr, error = %e, "heartbeat failed")
                }
            }
        }
        ok
    }

    /// Sends `UNREGISTER_CLIENT` for `group` to every broker address, masters and slaves.
    async fn unregister_everywhere(&self, group: &str) {
        let addrs: Vec<String> = self
            .brokers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .flat_map(|ids| ids.values().cloned())
            .collect();
        for addr in addrs {
            match self
                .api
                .unregister_producer(&addr, &self.client_id, group)
                .await
            {
                Ok(()) => info!(client_id = %self.client_id, group, addr = %addr, "unregistered"),
                Err(e) => {
                    warn!(client_id = %self.client_id, group, addr = %addr, error = %e, "unregister failed")
                }
            }
        }
    }

    /// Removes `group`, tells every broker, and stops the instance when only its own inner
    /// group is left.
    pub(crate) async fn unregister_producer(&self, group: &str) {
        let last = {
            let mut producers = self.producers.lock().unwrap_or_else(|e| e.into_inner());
            if producers.remove(group).is_none() {
                return;
            }
            let last = producers.keys().all(|g| g == CLIENT_INNER_PRODUCER_GROUP);
            if last {
                // Decided under the table lock, so no producer can join a stopping instance.
                self.closing
                    .store(true, std::sync::atomic::Ordering::SeqCst);
            }
            last
        };
        self.unregister_everywhere(group).await;
        if last {
            self.shutdown().await;
        }
    }

    /// Stops the instance: unregisters the inner group, ends the scheduled work, closes every
    /// connection and leaves the process-wide table.
    async fn shutdown(&self) {
        {
            let mut table = INSTANCES.lock().unwrap_or_else(|e| e.into_inner());
            if table
                .get(&self.client_id)
                .is_some_and(|w| std::ptr::eq(w.as_ptr(), self))
            {
                table.remove(&self.client_id);
            }
        }
        if self
            .producers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(CLIENT_INNER_PRODUCER_GROUP)
            .is_some()
        {
            self.unregister_everywhere(CLIENT_INNER_PRODUCER_GROUP)
                .await;
        }
        self.token.cancel();
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        self.api.close().await;
        info!(client_id = %self.client_id, "client instance stopped");
    }
}

/// The scheduled work: route refresh, broker cleanup + heartbeat, address-server fetch. Holds
/// only a weak reference, so a forgotten instance still stops.
async fn scheduled(
    instance: Weak<ClientInstance>,
    token: CancellationToken,
    config: InstanceConfig,
) {
    let now = Instant::now();
    // Java polls 10 ms after start; start() here has just fetched the routes it needs, so the
    // first refresh waits a full interval.
    let mut routes = tokio::time::interval_at(
        now + config.poll_name_server_interval,
        config.poll_name_server_interval,
    );
    let mut heartbeat = tokio::time::interval_at(
        now + Duration::from_secs(1),
        config.heartbeat_broker_interval,
    );
    let addr_server = config.address_server.clone();
    let (first, every) = addr_server.as_ref().map_or(
        (Duration::from_secs(3600), Duration::from_secs(3600)),
        |s| (s.first_delay, s.interval),
    );
    let mut fetch = tokio::time::interval_at(now + first, every);
    for tick in [&mut routes, &mut heartbeat, &mut fetch] {
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    }
    // Each tick gets a bounded time so one stuck call never stalls the others for long.
    let budget = config.api_timeout * 4;
    loop {
        tokio::select! {
            _ = token.cancelled() => break,
            _ = routes.tick() => {
                let Some(instance) = instance.upgrade() else { break };
                if tokio::time::timeout(budget, instance.update_all_routes()).await.is_err() {
                    warn!(client_id = %instance.client_id, "route refresh tick timed out");
                }
            }
            _ = heartbeat.tick() => {
                let Some(instance) = instance.upgrade() else { break };
                instance.clean_offline_brokers();
                if tokio::time::timeout(budget, instance.heartbeat_all()).await.is_err() {
                    warn!(client_id = %instance.client_id, "heartbeat tick timed out");
                }
            }
            _ = fetch.tick(), if addr_server.is_some() => {
                let Some(instance) = instance.upgrade() else { break };
                if let Some(server) = &addr_server {
                    match tokio::time::timeout(budget, instance.fetch_name_servers(server)).await {
                        Ok(Ok(changed)) => debug!(changed, "address server fetched"),
                        Ok(Err(e)) => warn!(url = %server.url, error = %e, "address server fetch failed"),
                        Err(_) => warn!(url = %server.url, "address server fetch timed out"),
                    }
                }
            }
        }
    }
    debug!("scheduled work ended");
}
