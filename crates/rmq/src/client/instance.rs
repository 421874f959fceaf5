//! The client instance shared by every producer and consumer with the same client id (Java
//! `MQClientInstance`): connections, routes, brokers, publish info, the member tables, and the
//! periodic jobs that keep them fresh.
//!
//! ```text
//!  ClientInstance::join(config, group, member)        one instance per client id, per process
//!    resolve DEFAULT → PID#nanotime, client id IP@instance[@unit]
//!    get or create (settings must agree) ─ register the member (retry on a dying instance)
//!  start(): once ─ address-server fetch, then one task per periodic job under one token:
//!    route refresh (pollNameServerInterval) │ heartbeat + offline-broker cleanup
//!    (heartbeatBrokerInterval) │ address-server fetch │ later: rebalance, offset persistence
//!  leave(kind, group): UNREGISTER_CLIENT everywhere; the last member stops the instance
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, RwLock, Weak};
use std::time::Duration;

use futures_util::future::join_all;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::api::{parse_name_servers, ClientApi};
use super::config::{redact_url, AddressServer, InstanceConfig};
use super::members::{JoinRefused, Member, MemberKind, Members, ProducerMember, TransactionCheck};
use super::processor::ClientRequestProcessor;
use super::request::RequestTable;
use super::route::TopicPublishInfo;
use super::validate::CLIENT_INNER_PRODUCER_GROUP;
use crate::error::{Error, Result, ValidationError};
use crate::protocol::{HeartbeatData, ProducerData, ResponseCode, TopicRouteData, MASTER_ID};
use crate::remoting::{ConnectionPool, ServerRequestHandler};
use crate::util::deadline_after;

/// The instance's own inner producer group: registered, answers nothing.
struct InnerProducer;

impl ProducerMember for InnerProducer {
    fn check_transaction_state(&self, check: TransactionCheck) {
        debug!(group = CLIENT_INNER_PRODUCER_GROUP, txid = ?check.transaction_id, "transaction check for the inner producer ignored");
    }
}

/// Process-wide table of instances by client id (Java `MQClientManager.factoryTable`).
static INSTANCES: LazyLock<Mutex<HashMap<String, Weak<ClientInstance>>>> =
    LazyLock::new(Default::default);

/// Broker name to broker id to address.
pub type BrokerTable = HashMap<String, BTreeMap<i64, String>>;

/// How often a member retries joining when the instance it found is just stopping.
const JOIN_ATTEMPTS: usize = 3;

/// The shared client instance. See the module docs.
pub struct ClientInstance {
    client_id: String,
    config: InstanceConfig,
    api: ClientApi,
    members: Arc<Members>,
    /// Requests waiting for their reply (request–reply).
    requests: Arc<RequestTable>,
    routes: RwLock<HashMap<String, Arc<TopicRouteData>>>,
    brokers: RwLock<BrokerTable>,
    publish: RwLock<HashMap<String, Arc<TopicPublishInfo>>>,
    /// Serializes route updates so two refreshes never interleave table changes.
    route_update: tokio::sync::Mutex<()>,
    /// When each topic's route was last looked up because one of its brokers could not be
    /// reached (ms since the epoch), to do that at most once a second per topic.
    failure_refreshes: Mutex<HashMap<String, i64>>,
    /// Topics consumers subscribe to: their routes are refreshed like the publish table's.
    subscribed: RwLock<BTreeSet<String>>,
    /// Bumped on every route change, so consumers can rebalance at once (a topic that gained
    /// queues is re-split without waiting for the next period).
    route_changes: tokio::sync::watch::Sender<u64>,
    /// Cancels every periodic job.
    token: CancellationToken,
    jobs: Mutex<Vec<JoinHandle<()>>>,
    started: AtomicBool,
}

impl fmt::Debug for ClientInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientInstance")
            .field("client_id", &self.client_id)
            .field("members", &self.members)
            .finish_non_exhaustive()
    }
}

impl Drop for ClientInstance {
    fn drop(&mut self) {
        // No I/O here: the periodic jobs see the token and end.
        self.token.cancel();
    }
}

impl ClientInstance {
    /// Joins `member` under `group` to the instance of `config`'s client id, creating the
    /// instance if there is none: resolves the instance name `DEFAULT` to `PID#nanotime`,
    /// builds the client id, gets or creates the process-wide instance (whose settings must
    /// agree), and registers the member. `make` builds the member for the instance it will
    /// join; an instance whose last member is just leaving refuses it, and a fresh instance is
    /// made instead.
    ///
    /// # Errors
    /// [`ValidationError::ClientIdInUse`], [`Error::DuplicateGroup`].
    pub(crate) fn join<T>(
        config: &InstanceConfig,
        group: &str,
        make: impl FnMut(&Arc<Self>) -> (T, Member),
    ) -> Result<(Arc<Self>, T)> {
        Self::join_with(config, true, group, make)
    }

    /// [`join`](Self::join), keeping the instance name `DEFAULT` as it is unless
    /// `resolve_default_name` (Java's broadcasting consumers skip `changeInstanceNameToPID`).
    pub(crate) fn join_with<T>(
        config: &InstanceConfig,
        resolve_default_name: bool,
        group: &str,
        mut make: impl FnMut(&Arc<Self>) -> (T, Member),
    ) -> Result<(Arc<Self>, T)> {
        let config = if resolve_default_name {
            config.resolved()
        } else {
            config.clone()
        };
        debug!(step = "instance_name", instance_name = %config.instance_name, "instance name resolved");
        for _ in 0..JOIN_ATTEMPTS {
            let instance = Self::get_or_create(&config)?;
            let (value, member) = make(&instance);
            let kind = member.kind();
            match instance.members.join(group, member) {
                Ok(()) => {
                    info!(client_id = %instance.client_id, group, ?kind, "member registered");
                    return Ok((instance, value));
                }
                Err(JoinRefused::Duplicate) => {
                    return Err(Error::DuplicateGroup {
                        group: group.to_string(),
                        client_id: instance.client_id.clone(),
                    })
                }
                Err(JoinRefused::Closing) => {
                    debug!(client_id = %instance.client_id, "instance is stopping; making a new one");
                }
            }
        }
        // Three instances in a row stopped while we joined: only a client that starts and
        // stops members of this client id in a tight loop gets here.
        Err(Error::Shutdown)
    }

    /// The running instance for `config.client_id()`, or a new one (not started yet).
    fn get_or_create(config: &InstanceConfig) -> Result<Arc<Self>> {
        let client_id = config.client_id();
        let mut table = INSTANCES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = table.get(&client_id).and_then(Weak::upgrade) {
            if existing.runtime_gone() {
                // Its members cannot be served any more; theirs stays theirs.
                warn!(client_id = %client_id, "client instance's runtime shut down; making a new one");
            } else if !existing.members.is_closed() {
                let diff = existing.config.differences(config);
                if !diff.is_empty() {
                    return Err(ValidationError::ClientIdInUse {
                        client_id,
                        differences: diff.join(", "),
                    }
                    .into());
                }
                debug!(client_id = %client_id, "reusing client instance");
                return Ok(existing);
            }
        }
        let members = Arc::new(Members::default());
        let inner = Member::Producer(Arc::new(InnerProducer));
        // A fresh table: the inner group always joins.
        let _ = members.join(CLIENT_INNER_PRODUCER_GROUP, inner);
        let requests = Arc::new(RequestTable::default());
        let processor = ClientRequestProcessor::new(
            client_id.clone(),
            Arc::clone(&members),
            Arc::clone(&requests),
        );
        let pool = Arc::new(ConnectionPool::new(
            config.connection.clone(),
            Arc::new(processor) as Arc<dyn ServerRequestHandler>,
        ));
        let api = ClientApi::new(
            pool,
            config.identity.clone(),
            config.name_servers.clone(),
            config.api_timeout,
        );
        let instance = Arc::new(Self {
            client_id: client_id.clone(),
            config: config.clone(),
            api,
            members,
            requests,
            routes: RwLock::default(),
            brokers: RwLock::default(),
            publish: RwLock::default(),
            route_update: tokio::sync::Mutex::new(()),
            failure_refreshes: Mutex::default(),
            subscribed: RwLock::default(),
            route_changes: tokio::sync::watch::Sender::new(0),
            token: CancellationToken::new(),
            jobs: Mutex::new(Vec::new()),
            started: AtomicBool::new(false),
        });
        table.retain(|_, w| w.strong_count() > 0);
        table.insert(client_id.clone(), Arc::downgrade(&instance));
        info!(client_id = %client_id, "created client instance");
        Ok(instance)
    }

    /// Whether the runtime this instance was started on has shut down: a periodic job ended
    /// while the instance runs (they only end when it stops). An instance is shared by every
    /// member of its client id in the process, and its tasks run on the runtime of the member
    /// that started it; a member on another runtime then needs an instance of its own.
    fn runtime_gone(&self) -> bool {
        self.started.load(Ordering::SeqCst)
            && !self.token.is_cancelled()
            && self
                .jobs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .any(JoinHandle::is_finished)
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

    /// The member tables.
    pub fn members(&self) -> &Members {
        &self.members
    }

    /// Requests waiting for their reply, shared by every producer of the instance.
    pub fn requests(&self) -> &Arc<RequestTable> {
        &self.requests
    }

    /// Registered producer groups, including the instance's own `CLIENT_INNER_PRODUCER`,
    /// sorted.
    pub fn producer_groups(&self) -> Vec<String> {
        self.members.producer_groups()
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

    /// Address of broker `broker_name`'s node `broker_id`, as Java's
    /// `findBrokerAddressInSubscribe(name, id, onlyThisBroker = false)`: that node, else the
    /// next id when a slave was asked for, else any node of the group (master first).
    pub fn broker_addr(&self, broker_name: &str, broker_id: i64) -> Option<(String, i64)> {
        let brokers = self.brokers.read().unwrap_or_else(|e| e.into_inner());
        let ids = brokers.get(broker_name)?;
        if let Some(addr) = ids.get(&broker_id) {
            return Some((addr.clone(), broker_id));
        }
        if broker_id != MASTER_ID {
            if let Some(addr) = ids.get(&(broker_id + 1)) {
                return Some((addr.clone(), broker_id + 1));
            }
        }
        ids.iter().next().map(|(id, addr)| (addr.clone(), *id))
    }

    /// Adds `topic` to the topics whose routes are refreshed for consumers.
    pub fn add_subscribed_topic(&self, topic: &str) {
        self.subscribed
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(topic.to_string());
    }

    /// The route of `topic`, if known.
    pub fn route(&self, topic: &str) -> Option<Arc<TopicRouteData>> {
        self.routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(topic)
            .cloned()
    }

    /// Changes whenever a route changes.
    pub fn route_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.route_changes.subscribe()
    }

    /// Whether the instance has been stopped.
    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
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

    /// Adds `topic` to the publish table (empty until its route is known), so the route
    /// refresh keeps its route current.
    pub fn add_publish_topic(&self, topic: &str) {
        self.publish
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(topic.to_string())
            .or_default();
    }

    /// Starts the periodic jobs once; later calls do nothing. With an address server, fetches
    /// the name-server list first, before `deadline` (the member's start-up deadline).
    pub(crate) async fn start(self: &Arc<Self>, deadline: Instant) {
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(server) = &self.config.address_server {
            // Java fetches once at start, then on the schedule.
            let left = deadline.saturating_duration_since(Instant::now());
            if let Err(e) = self.fetch_name_servers(server, left).await {
                warn!(client_id = %self.client_id, url = %redact_url(&server.url), error = %e, "address server fetch failed");
            }
        }
        let config = &self.config;
        // Java polls 10 ms after start; a member's start has just fetched the routes it needs,
        // so the first refresh waits a full interval.
        self.spawn_job(
            "route refresh",
            config.poll_name_server_interval,
            config.poll_name_server_interval,
            |instance| async move { instance.update_all_routes().await },
        );
        self.spawn_job(
            "heartbeat",
            Duration::from_secs(1),
            config.heartbeat_broker_interval,
            |instance| async move {
                instance.clean_offline_brokers();
                let deadline = deadline_after(instance.config.api_timeout);
                instance.heartbeat_all(deadline).await;
            },
        );
        if let Some(server) = &config.address_server {
            self.spawn_job(
                "address server fetch",
                server.first_delay,
                server.interval,
                |instance| async move {
                    let Some(server) = instance.config.address_server.clone() else {
                        return;
                    };
                    match instance
                        .fetch_name_servers(&server, instance.config.api_timeout)
                        .await
                    {
                        Ok(changed) => debug!(changed, "address server fetched"),
                        Err(e) => {
                            warn!(url = %redact_url(&server.url), error = %e, "address server fetch failed")
                        }
                    }
                },
            );
        }
        info!(client_id = %self.client_id, "client instance started");
    }

    /// Runs `job` every `every` (first after `first`) on its own task until the instance
    /// stops. Each run gets a bounded time, so a stuck call never stalls a job for long; the
    /// task holds the instance only while a run lasts, so a forgotten instance still stops.
    pub(crate) fn spawn_job<F, Fut>(
        self: &Arc<Self>,
        name: &'static str,
        first: Duration,
        every: Duration,
        job: F,
    ) where
        F: Fn(Arc<Self>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let weak = Arc::downgrade(self);
        let token = self.token.clone();
        let budget = self.config.api_timeout.saturating_mul(4);
        let client_id = self.client_id.clone();
        let handle = tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(deadline_after(first), every);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = ticks.tick() => {}
                }
                let Some(instance) = weak.upgrade() else {
                    break;
                };
                tokio::select! {
                    _ = token.cancelled() => break,
                    run = tokio::time::timeout(budget, job(instance)) => {
                        if run.is_err() {
                            warn!(client_id = %client_id, job = name, ?budget, "periodic job timed out");
                        }
                    }
                }
            }
            debug!(client_id = %client_id, job = name, "periodic job ended");
        });
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle);
    }

    /// Asks the address server for the name-server list and applies it when it changed.
    async fn fetch_name_servers(&self, server: &AddressServer, timeout: Duration) -> Result<bool> {
        let timeout = timeout.max(Duration::from_millis(1));
        let list = super::address::fetch(&server.url, timeout).await?;
        let servers = parse_name_servers(&list).map_err(|e| Error::InvalidResponse {
            addr: redact_url(&server.url),
            reason: e.to_string(),
        })?;
        if servers.is_empty() {
            return Err(Error::InvalidResponse {
                addr: redact_url(&server.url),
                reason: "empty name-server list".into(),
            });
        }
        Ok(self.api.update_name_servers(servers).await)
    }

    /// Fetches the route of `topic` and applies it to the route, broker and publish tables.
    /// Returns whether anything changed. A topic the name server does not know is not an error.
    ///
    /// # Errors
    /// Transport errors talking to the name servers.
    pub async fn update_topic_route(&self, topic: &str, deadline: Instant) -> Result<bool> {
        let _serial = self.route_update.lock().await;
        self.update_topic_route_locked(topic, deadline).await
    }

    /// The route of `topic`: the cached one, else looked up now; `None` when the name
    /// servers know none.
    ///
    /// # Errors
    /// Transport errors talking to the name servers.
    pub async fn route_or_lookup(&self, topic: &str) -> Result<Option<Arc<TopicRouteData>>> {
        if let Some(route) = self.route(topic) {
            return Ok(Some(route));
        }
        self.update_topic_route(topic, self.api.deadline()).await?;
        Ok(self.route(topic))
    }

    /// A broker of `topic` could not be reached: looks the route up again now, at most once a
    /// second per topic, instead of waiting for the periodic refresh (up to 30 s). A crashed
    /// master leaves the route at once (the name server sees its connection close), so
    /// consumers move to its slave within about a second, and a restarted broker is found as
    /// soon as it registered.
    pub async fn refresh_route_after_failure(&self, topic: &str) {
        let now = crate::util::now_ms();
        {
            let mut last = self
                .failure_refreshes
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if last.get(topic).is_some_and(|at| now - at < 1000) {
                return;
            }
            last.insert(topic.to_string(), now);
        }
        let deadline = deadline_after(self.config.api_timeout);
        match self.update_topic_route(topic, deadline).await {
            Ok(changed) => {
                debug!(client_id = %self.client_id, topic, changed, "route looked up after a broker failure")
            }
            Err(e) => {
                debug!(client_id = %self.client_id, topic, error = %e, "route lookup after a broker failure failed")
            }
        }
    }

    /// Publish info of `topic`, looking its route up if there is none yet. Concurrent callers
    /// share one lookup: the others find the result when they get the lock.
    ///
    /// # Errors
    /// Transport errors talking to the name servers.
    pub async fn ensure_publish_info(
        &self,
        topic: &str,
        deadline: Instant,
    ) -> Result<Option<Arc<TopicPublishInfo>>> {
        self.add_publish_topic(topic);
        let _serial = self.route_update.lock().await;
        if let Some(info) = self.publish_info(topic).filter(|i| i.ok()) {
            return Ok(Some(info));
        }
        self.update_topic_route_locked(topic, deadline).await?;
        Ok(self.publish_info(topic).filter(|i| i.ok()))
    }

    async fn update_topic_route_locked(&self, topic: &str, deadline: Instant) -> Result<bool> {
        let route = match self.api.topic_route(topic, deadline).await {
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
        self.route_changes.send_modify(|n| *n += 1);
        Ok(true)
    }

    /// Refreshes the route of every topic in the publish table and every subscribed topic.
    async fn update_all_routes(&self) {
        let mut topics: BTreeSet<String> = self
            .publish
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        topics.extend(
            self.subscribed
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned(),
        );
        for topic in topics {
            let deadline = deadline_after(self.config.api_timeout);
            if let Err(e) = self.update_topic_route(&topic, deadline).await {
                warn!(client_id = %self.client_id, topic, error = %e, "route refresh failed; keeping the old route");
            }
        }
    }

    /// Removes brokers that appear in no route any more (Java `cleanOfflineBroker`).
    pub fn clean_offline_brokers(&self) {
        let live: HashSet<String> = self
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

    /// The heartbeat body: every producer group, and every consumer's data.
    fn heartbeat_data(&self) -> HeartbeatData {
        HeartbeatData {
            client_id: self.client_id.clone(),
            consumer_data_set: self.members.consumer_heartbeat_data(),
            producer_data_set: self
                .members
                .producer_groups()
                .into_iter()
                .map(|group_name| ProducerData { group_name })
                .collect(),
        }
    }

    /// Sends a heartbeat with every member to the brokers, all at once, before `deadline`: to
    /// masters only while there is no consumer, to every broker (slaves included,
    /// which consumers may pull from) once there is one — as Java does. Returns how many
    /// brokers accepted it.
    pub async fn heartbeat_all(&self, deadline: Instant) -> usize {
        let data = self.heartbeat_data();
        let masters_only = data.consumer_data_set.is_empty();
        let targets: Vec<(String, i64, String)> = self
            .brokers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .flat_map(|(name, ids)| {
                ids.iter()
                    .filter(|(id, _)| !masters_only || **id == MASTER_ID)
                    .map(|(id, addr)| (name.clone(), *id, addr.clone()))
            })
            .collect();
        let sends = targets.iter().map(|(name, id, addr)| {
            let data = &data;
            async move {
                match self.api.heartbeat(addr, data, deadline).await {
                    Ok(version) => {
                        debug!(client_id = %self.client_id, broker = %name, id, addr = %addr, broker_version = version, "heartbeat sent");
                        true
                    }
                    Err(e) => {
                        warn!(client_id = %self.client_id, broker = %name, id, addr = %addr, error = %e, "heartbeat failed");
                        false
                    }
                }
            }
        });
        join_all(sends).await.into_iter().filter(|ok| *ok).count()
    }

    /// Sends `UNREGISTER_CLIENT` for each group to every broker address, masters and slaves,
    /// all at once, within one API timeout.
    async fn unregister_everywhere(&self, groups: &[(MemberKind, String)]) {
        let addrs: Vec<String> = self
            .brokers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .flat_map(|ids| ids.values().cloned())
            .collect();
        let deadline = deadline_after(self.config.api_timeout);
        let calls = addrs.iter().flat_map(|addr| {
            groups.iter().map(move |(kind, group)| async move {
                let (producer, consumer) = match kind {
                    MemberKind::Producer => (Some(group.as_str()), None),
                    MemberKind::Consumer => (None, Some(group.as_str())),
                };
                match self
                    .api
                    .unregister_client(addr, &self.client_id, producer, consumer, deadline)
                    .await
                {
                    Ok(()) => {
                        info!(client_id = %self.client_id, group = %group, ?kind, addr = %addr, "unregistered")
                    }
                    Err(e) => {
                        warn!(client_id = %self.client_id, group = %group, ?kind, addr = %addr, error = %e, "unregister failed")
                    }
                }
            })
        });
        join_all(calls).await;
    }

    /// Removes `group` of `kind`, tells every broker, and stops the instance when no user
    /// member is left. Bounded by about twice the API timeout.
    pub(crate) async fn leave(&self, kind: MemberKind, group: &str) {
        let Some(last) = self.members.leave(kind, group) else {
            return;
        };
        let mut groups = vec![(kind, group.to_string())];
        if last && self.members.remove_inner() {
            groups.push((MemberKind::Producer, CLIENT_INNER_PRODUCER_GROUP.to_string()));
        }
        self.unregister_everywhere(&groups).await;
        if last {
            self.stop().await;
        }
    }

    /// Stops the instance: leaves the process-wide table, ends every periodic job, closes
    /// every connection.
    async fn stop(&self) {
        {
            let mut table = INSTANCES.lock().unwrap_or_else(|e| e.into_inner());
            if table
                .get(&self.client_id)
                .is_some_and(|w| std::ptr::eq(w.as_ptr(), self))
            {
                table.remove(&self.client_id);
            }
        }
        self.token.cancel();
        self.requests.close();
        let jobs = std::mem::take(&mut *self.jobs.lock().unwrap_or_else(|e| e.into_inner()));
        for job in jobs {
            let _ = job.await;
        }
        self.api.close().await;
        info!(client_id = %self.client_id, "client instance stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ConsumerMember;
    use crate::protocol::RemotingCommand;
    use crate::remoting::HandlerFuture;

    struct TestConsumer;
    impl ConsumerMember for TestConsumer {
        fn heartbeat_data(&self) -> serde_json::Value {
            serde_json::json!({"groupName": "cg", "consumeType": "CONSUME_PASSIVELY"})
        }
        fn handle_request(&self, _addr: &str, _request: RemotingCommand) -> HandlerFuture {
            Box::pin(async { None })
        }
    }

    struct TestProducer;
    impl ProducerMember for TestProducer {
        fn check_transaction_state(&self, _check: TransactionCheck) {}
    }

    fn config(name: &str) -> InstanceConfig {
        crate::client::ClientConfig::new()
            .name_server("127.0.0.1:1")
            .instance_name(name)
            .client_ip("10.0.0.1")
            .validate()
            .unwrap()
    }

    #[tokio::test]
    async fn a_consumer_and_a_producer_share_one_instance_until_both_leave() {
        let c = config("members_test");
        let (instance, ()) =
            ClientInstance::join(&c, "cg", |_| ((), Member::Consumer(Arc::new(TestConsumer))))
                .unwrap();
        let (same, ()) =
            ClientInstance::join(&c, "pg", |_| ((), Member::Producer(Arc::new(TestProducer))))
                .unwrap();
        assert!(Arc::ptr_eq(&instance, &same));
        assert_eq!(instance.client_id(), "10.0.0.1@members_test");
        let hb = instance.heartbeat_data();
        assert_eq!(hb.consumer_data_set.len(), 1);
        assert_eq!(hb.producer_data_set.len(), 2, "pg and the inner group");
        instance.leave(MemberKind::Producer, "pg").await;
        assert!(!instance.is_stopped(), "the consumer still uses it");
        instance.leave(MemberKind::Consumer, "cg").await;
        assert!(instance.is_stopped());
    }

    #[test]
    fn default_instance_names_become_pid_and_nanotime() {
        let resolved = config("DEFAULT").resolved();
        let (pid, nanos) = resolved.instance_name.split_once('#').unwrap();
        assert_eq!(pid, std::process::id().to_string());
        assert!(nanos.parse::<u128>().is_ok());
        assert_eq!(config("x").resolved().instance_name, "x");
    }

    #[test]
    fn a_clashing_client_id_is_a_validation_error() {
        let a = config("clash_test");
        let (_instance, ()) =
            ClientInstance::join(&a, "g", |_| ((), Member::Producer(Arc::new(TestProducer))))
                .unwrap();
        let mut b = a.clone();
        b.api_timeout = Duration::from_secs(9);
        let err = ClientInstance::join(&b, "g2", |_| {
            ((), Member::Producer(Arc::new(TestProducer)))
        })
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Validation(ValidationError::ClientIdInUse { .. })
            ),
            "{err}"
        );
    }
}
