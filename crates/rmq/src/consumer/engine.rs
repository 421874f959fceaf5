//! The running push consumer: the seeds' rebalance service (which queues this member owns),
//! the pull service (one long-polling task per owned queue), the consume service (the user's
//! handler, with bounded concurrency), offsets, retries and the answers to broker requests.
//!
//! ```text
//!  rebalance task ── every 20 s, on NOTIFY_CONSUMER_IDS_CHANGED, on a route change
//!     │ queues of each subscribed topic (read perm) + GET_CONSUMER_LIST_BY_GROUP → allocate
//!     ├─ new queue: start offset (QUERY_CONSUMER_OFFSET, else consume-from) → pull task
//!     └─ lost queue: stop its pull task, persist its offset, forget it
//!  pull task (per queue) ── flow control → PULL_MESSAGE (broker holds ≤ 15 s) → by status:
//!     FOUND: decode, tag check, hold in the process queue, hand batches to consume tasks
//!     NOT_FOUND / RETRY_IMMEDIATELY: next offset; OFFSET_MOVED: reset to what the broker says
//!  consume task (per batch) ── permit → handler (timeout, panic = later) →
//!     success: release; later: CONSUMER_SEND_MSG_BACK, else re-publish to %RETRY%, else
//!     retry locally in 5 s → the committed offset is the lowest offset still held
//!  persist task ── every 5 s: UPDATE_CONSUMER_OFFSET for offsets that moved
//! ```

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::json;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::fastjson::{parse_queue_keyed_offsets, queue_keyed_map};
use super::local_offsets::LocalOffsetFile;
use super::offset::OffsetStore;
use super::process_queue::ProcessQueue;
use super::stats::ConsumerStats;
use super::subscription::Subscription;
use super::trace::ConsumeTrace;
use super::types::{ConsumeContext, ConsumeResult, Handler, MessageModel, Settings};
use crate::client::validate::{retry_topic, without_namespace, CLIENT_INNER_PRODUCER_GROUP};
use crate::client::{
    subscribe_queues, ClientInstance, ConsumerMember, MemberKind, MessageQueue, TopicPublishInfo,
    TraceDispatcher,
};
use crate::error::{Error, Result};
use crate::protocol::{
    decode_first_stored_message, decode_stored_messages, encode_properties, property,
    unwrap_inner_batches, ConsumerSendMsgBackRequestHeader, InflateLimits,
    PullMessageRequestHeader, PullMessageResponseHeader, QueryConsumerOffsetRequestHeader,
    RemotingCommand, RequestCode, ResetOffsetRequestHeader, ResponseCode,
    SendMessageRequestHeaderV2, StoredMessage, TraceConsumeCode, UpdateConsumerOffsetRequestHeader,
    MASTER_ID,
};
use crate::remoting::HandlerFuture;
use crate::util::{deadline_after, now_ms, random_below};

/// How long the broker may hold a pull when nothing is there (`BROKER_SUSPEND_MAX_TIME_MILLIS`).
const BROKER_SUSPEND: Duration = Duration::from_secs(15);
/// Client timeout of a pull (`CONSUMER_TIMEOUT_MILLIS_WHEN_SUSPEND`): longer than the hold.
const PULL_TIMEOUT: Duration = Duration::from_secs(30);
/// Wait after a failed pull (`pullTimeDelayMillsWhenException`).
const PULL_RETRY_DELAY: Duration = Duration::from_secs(1);
/// Rebalance period (`rocketmq.client.rebalance.waitInterval`).
const REBALANCE_INTERVAL: Duration = Duration::from_secs(20);
/// Next round after an unbalanced one (5.x `rocketmq.client.rebalance.minInterval`).
const REBALANCE_RETRY: Duration = Duration::from_secs(1);
/// A message whose send-back failed is handed to the handler again after this long.
const LOCAL_RETRY_DELAY: Duration = Duration::from_secs(5);
/// Pull bodies larger than this are decoded on a blocking thread.
const INLINE_DECODE_LIMIT: usize = 64 * 1024;

/// Longest a shutdown waits for the trace records still buffered to be sent.
const TRACE_FLUSH_LIMIT: Duration = Duration::from_secs(5);

/// `PullSysFlag` bit: the broker may hold the pull until messages arrive.
const FLAG_SUSPEND: i32 = 0x2;

/// One owned queue.
pub(super) struct QueueState {
    pub(super) mq: MessageQueue,
    pq: Mutex<ProcessQueue>,
    /// Cancelled when the queue is taken away (or the consumer stops): its pull task ends and
    /// results of messages still being handled are ignored (concurrent consumption).
    pub(super) dropped: CancellationToken,
    /// Signalled when handled messages leave the process queue (flow control waits on it).
    pub(super) progress: Notify,
    /// Bumped when the queue's offset is reset: results for older messages are ignored.
    pub(super) generation: AtomicU64,
    last_pull_ms: AtomicI64,
    pub(super) last_consume_ms: AtomicI64,
    /// Orderly: the broker granted this member the queue's lock (Java `ProcessQueue.locked`).
    pub(super) locked: AtomicBool,
    /// Orderly: when the lock was last granted or renewed.
    pub(super) last_lock_ms: AtomicI64,
    /// Orderly: the lock came back after it lapsed; the pull task re-reads the offset.
    pub(super) reload_offset: AtomicBool,
}

impl QueueState {
    fn new(mq: MessageQueue, dropped: CancellationToken, locked: bool) -> Self {
        Self {
            mq,
            pq: Mutex::default(),
            dropped,
            progress: Notify::new(),
            generation: AtomicU64::new(0),
            last_pull_ms: AtomicI64::new(0),
            last_consume_ms: AtomicI64::new(0),
            locked: AtomicBool::new(locked),
            last_lock_ms: AtomicI64::new(if locked { now_ms() } else { 0 }),
            reload_offset: AtomicBool::new(false),
        }
    }

    pub(super) fn pq(&self) -> std::sync::MutexGuard<'_, ProcessQueue> {
        self.pq.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running push consumer.
pub(crate) struct Engine {
    pub(crate) group: String,
    pub(crate) namespace: Option<String>,
    pub(crate) instance: Arc<ClientInstance>,
    pub(crate) settings: Settings,
    pub(crate) subscriptions: Vec<Subscription>,
    handler: Handler,
    pub(crate) offsets: OffsetStore,
    /// Broadcasting: where this member's offsets are kept (none for clustering: the brokers).
    local_offsets: Option<LocalOffsetFile>,
    queues: Mutex<HashMap<MessageQueue, Arc<QueueState>>>,
    rebalance_now: Notify,
    /// Stops pulling, rebalancing and persisting; handlers still running may finish.
    pub(super) token: CancellationToken,
    /// Ends handler calls that outlive the shutdown timeout.
    abort_handlers: CancellationToken,
    pub(super) tasks: TaskTracker,
    pub(super) permits: Arc<Semaphore>,
    started_ms: i64,
    stopping: AtomicBool,
    /// Java's consumer statistics (running info `statusTable`) and the metrics handles.
    pub(crate) stats: Arc<ConsumerStats>,
    /// The message-trace dispatcher, when tracing (set once, before the services start).
    pub(crate) trace: OnceLock<Arc<TraceDispatcher>>,
}

impl Engine {
    pub(crate) fn new(
        group: String,
        namespace: Option<String>,
        instance: Arc<ClientInstance>,
        settings: Settings,
        subscriptions: Vec<Subscription>,
        handler: Handler,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(settings.consume_concurrency));
        let local_offsets = (settings.message_model == MessageModel::Broadcasting).then(|| {
            LocalOffsetFile::new(
                settings.offset_store_dir.as_deref(),
                instance.client_id(),
                &group,
            )
        });
        let stats = Arc::new(ConsumerStats::new(
            &group,
            subscriptions.iter().map(|s| s.topic.as_str()),
        ));
        Self {
            local_offsets,
            group,
            namespace,
            instance,
            settings,
            subscriptions,
            handler,
            offsets: OffsetStore::default(),
            queues: Mutex::default(),
            rebalance_now: Notify::new(),
            token: CancellationToken::new(),
            abort_handlers: CancellationToken::new(),
            tasks: TaskTracker::new(),
            permits,
            started_ms: now_ms(),
            stopping: AtomicBool::new(false),
            stats,
            trace: OnceLock::new(),
        }
    }

    fn queues(&self) -> std::sync::MutexGuard<'_, HashMap<MessageQueue, Arc<QueueState>>> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The queues this consumer owns now, sorted.
    pub(crate) fn owned_queues(&self) -> Vec<MessageQueue> {
        let mut owned: Vec<MessageQueue> = self.queues().keys().cloned().collect();
        owned.sort();
        owned
    }

    /// Every member reads every message (offsets in a local file).
    pub(super) fn is_broadcasting(&self) -> bool {
        self.settings.message_model == MessageModel::Broadcasting
    }

    /// Orderly clustering consumers lock their queues at the masters.
    pub(super) fn uses_locks(&self) -> bool {
        self.settings.order.is_orderly() && !self.is_broadcasting()
    }

    /// The owned queues' states.
    pub(super) fn queue_states(&self) -> Vec<Arc<QueueState>> {
        self.queues().values().cloned().collect()
    }

    /// Whether this member owns `mq` now.
    pub(super) fn owns(&self, mq: &MessageQueue) -> bool {
        self.queues().contains_key(mq)
    }

    /// Counts a handler call's result (running info).
    pub(super) fn record_consumed(
        &self,
        mq: &MessageQueue,
        ok: bool,
        messages: usize,
        took: Duration,
    ) {
        self.stats.record_consume_rt(&mq.topic, took);
        self.stats
            .record_consume_result(&mq.topic, took, ok, messages);
    }

    fn subscription(&self, topic: &str) -> Option<&Subscription> {
        self.subscriptions.iter().find(|s| s.topic == topic)
    }

    /// This consumer's `ConsumerData` in heartbeats (fastjson field order).
    pub(crate) fn heartbeat_json(&self) -> serde_json::Value {
        json!({
            "consumeFromWhere": self.settings.consume_from.java_name(),
            "consumeType": "CONSUME_PASSIVELY",
            "groupName": self.group,
            "messageModel": self.settings.message_model.java_name(),
            "subscriptionDataSet": self.subscriptions.iter().map(Subscription::heartbeat_json).collect::<Vec<_>>(),
            "unitMode": false,
        })
    }

    /// Starts the rebalance and persist tasks (the first rebalance runs at once).
    pub(crate) fn spawn_services(self: &Arc<Self>) {
        self.tasks
            .spawn(Arc::clone(&self.stats).run_sampler(self.token.clone()));
        if let Some(options) = self.settings.pop.clone() {
            // Pop: the brokers balance; no rebalance, no offsets to persist.
            return self.spawn_pop_service(options);
        }
        self.tasks.spawn(Arc::clone(self).rebalance_loop());
        self.tasks.spawn(Arc::clone(self).persist_loop());
        if self.uses_locks() {
            self.tasks.spawn(Arc::clone(self).lock_loop());
        }
    }

    /// Java `checkClientInBroker`: every SQL92 subscription is checked with each master of its
    /// topic (CHECK_CLIENT_CONFIG). A broker that refuses it fails the start.
    ///
    /// # Errors
    /// [`Error::FilterRejected`], or the transport error of a check.
    pub(crate) async fn check_filters(&self, deadline: tokio::time::Instant) -> Result<()> {
        for sub in self.subscriptions.iter().filter(|s| s.is_sql()) {
            let Some(route) = self.instance.route(&sub.topic) else {
                debug!(group = %self.group, topic = %sub.topic, "no route yet; SQL92 filter not checked");
                continue;
            };
            for broker in &route.broker_datas {
                let Some(addr) = broker.master_addr() else {
                    continue;
                };
                let resp = self
                    .instance
                    .api()
                    .check_client_config(
                        addr,
                        &self.group,
                        self.instance.client_id(),
                        &sub.heartbeat_json(),
                        deadline,
                    )
                    .await?;
                let code = resp.response_code();
                if code == ResponseCode::SUCCESS {
                    continue;
                }
                let remark = resp.remark.unwrap_or_default();
                let reason = if code == ResponseCode::SUBSCRIPTION_PARSE_FAILED {
                    format!("the expression does not parse: {remark}")
                } else {
                    format!(
                        "{remark} ({code}; SQL92 filters need enablePropertyFilter=true in the broker's configuration)"
                    )
                };
                return Err(Error::FilterRejected {
                    addr: addr.to_string(),
                    topic: without_namespace(self.namespace.as_deref(), &sub.topic),
                    expression: sub.expression.clone(),
                    reason,
                });
            }
        }
        Ok(())
    }

    /// Asks for a rebalance now (`NOTIFY_CONSUMER_IDS_CHANGED`).
    pub(crate) fn rebalance_soon(&self) {
        self.rebalance_now.notify_one();
    }

    // ---- rebalance ---------------------------------------------------------------------

    async fn rebalance_loop(self: Arc<Self>) {
        let mut routes = self.instance.route_changes();
        loop {
            let balanced = self.rebalance().await;
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

    /// One rebalance round over every subscribed topic. Returns whether every topic could be
    /// balanced (else the next round comes sooner).
    async fn rebalance(self: &Arc<Self>) -> bool {
        let mut balanced = true;
        for sub in &self.subscriptions {
            if self.token.is_cancelled() {
                return true;
            }
            match self.allocate_topic(&sub.topic).await {
                Ok(Some(assigned)) => {
                    if !self.apply_assignment(sub, assigned).await {
                        balanced = false;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    balanced = false;
                    debug!(group = %self.group, topic = %sub.topic, error = %e, "rebalance of topic skipped");
                }
            }
        }
        balanced
    }

    /// The queues of `topic` this member should own, or `None` while the topic has no route.
    async fn allocate_topic(&self, topic: &str) -> Result<Option<BTreeSet<MessageQueue>>> {
        let Some(route) = self.instance.route_or_lookup(topic).await? else {
            return Ok(None);
        };
        let mq_all = subscribe_queues(topic, &route);
        if route.broker_datas.is_empty() {
            return Ok(None);
        }
        if self.is_broadcasting() {
            // Every member reads every queue.
            return Ok((!mq_all.is_empty()).then(|| mq_all.into_iter().collect()));
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
            // As Java: keep the current assignment rather than drop everything.
            return Ok(None);
        }
        let client_id = self.instance.client_id();
        if !cid_all.iter().any(|c| c == client_id) {
            debug!(group = %self.group, topic, "this client is not in the group's list yet");
        }
        let assigned = self
            .settings
            .allocate
            .allocate(client_id, &mq_all, &cid_all);
        Ok(Some(assigned.into_iter().collect()))
    }

    /// Makes the owned queues of `sub`'s topic equal `assigned`. Returns false when a new
    /// queue's start offset could not be read (it is tried again next round).
    async fn apply_assignment(
        self: &Arc<Self>,
        sub: &Subscription,
        assigned: BTreeSet<MessageQueue>,
    ) -> bool {
        let (removed, added): (Vec<Arc<QueueState>>, Vec<MessageQueue>) = {
            let queues = self.queues();
            let removed = queues
                .values()
                .filter(|q| q.mq.topic == sub.topic && !assigned.contains(&q.mq))
                .cloned()
                .collect();
            let added = assigned
                .iter()
                .filter(|mq| !queues.contains_key(*mq))
                .cloned()
                .collect();
            (removed, added)
        };
        if removed.is_empty() && added.is_empty() {
            return true;
        }
        for state in &removed {
            self.release_queue(state).await;
        }
        let mut complete = true;
        let mut started = Vec::new();
        // Orderly clustering: a queue is locked at its master before it is read (Java
        // `RebalanceImpl.updateProcessQueueTableInRebalance`); the offset is read after the
        // lock, so what the previous owner committed is honoured.
        let locks = self.uses_locks();
        for mq in added {
            if locks && !self.lock_new_queue(&mq).await {
                complete = false;
                debug!(group = %self.group, queue = ?mq, "queue lock not granted (the previous owner still holds it); tried again next round");
                continue;
            }
            match self.start_offset(&mq).await {
                Ok(offset) => {
                    let state =
                        Arc::new(QueueState::new(mq.clone(), self.token.child_token(), locks));
                    self.queues().insert(mq.clone(), Arc::clone(&state));
                    started.push((state, offset));
                }
                Err(e) => {
                    complete = false;
                    warn!(group = %self.group, queue = ?mq, error = %e, "cannot read the start offset; queue skipped this round");
                }
            }
        }
        info!(group = %self.group, topic = %sub.topic, released = removed.len(), added = started.len(), owned = self.queues().values().filter(|q| q.mq.topic == sub.topic).count(), "rebalanced");
        // The broker must see the new subscription version before pulls carry it.
        sub.bump_version();
        self.instance
            .heartbeat_all(deadline_after(self.instance.config().api_timeout))
            .await;
        for (state, offset) in started {
            self.tasks.spawn(Arc::clone(self).pull_loop(state, offset));
        }
        complete
    }

    /// Stops a queue taken away: its pull task ends, its offset is persisted and forgotten
    /// (orderly: once its handler calls are done, and then its lock is released).
    async fn release_queue(self: &Arc<Self>, state: &Arc<QueueState>) {
        state.dropped.cancel();
        self.queues().remove(&state.mq);
        if self.settings.order.is_orderly() {
            self.tasks
                .spawn(Arc::clone(self).release_orderly_queue(Arc::clone(state)));
            return;
        }
        if let Some(offset) = self.offsets.read(&state.mq) {
            self.persist(vec![(state.mq.clone(), offset)]).await;
        }
        self.offsets.remove(&state.mq);
        debug!(group = %self.group, queue = ?state.mq, "queue released");
    }

    /// Where a newly owned queue starts (Java `computePullFromWhereWithException`): the
    /// group's stored offset, else as `consume_from` says. Only "no offset stored" falls back;
    /// an error is an error (the queue waits for the next round instead of jumping).
    async fn start_offset(&self, mq: &MessageQueue) -> Result<i64> {
        let (addr, _) = self.broker_of(mq)?;
        let api = self.instance.api();
        let stored = match &self.local_offsets {
            // Broadcasting: this member's own offsets file (read again each time, as Java's
            // READ_FROM_STORE).
            Some(file) => match file.load().await {
                Ok(table) => table.into_iter().find(|(q, _)| q == mq).map(|(_, o)| o),
                Err(e) => {
                    warn!(group = %self.group, path = %file.path().display(), error = %e, "offsets file unreadable; starting as for a new member");
                    None
                }
            },
            None => {
                let header = QueryConsumerOffsetRequestHeader {
                    consumer_group: self.group.clone(),
                    topic: mq.topic.clone(),
                    queue_id: mq.queue_id,
                    broker_name: Some(mq.broker_name.clone()),
                };
                api.query_consumer_offset(&addr, &header).await?
            }
        };
        if let Some(offset) = stored {
            if offset >= 0 {
                self.offsets.loaded(mq, offset);
                return Ok(offset);
            }
        }
        let is_retry = mq.topic.starts_with("%RETRY%");
        let offset = match self.settings.consume_from {
            super::ConsumeFrom::LastOffset if is_retry => 0,
            super::ConsumeFrom::LastOffset => api.max_offset(&addr, &mq.topic, mq.queue_id).await?,
            super::ConsumeFrom::FirstOffset => 0,
            super::ConsumeFrom::Timestamp(_) if is_retry => {
                api.max_offset(&addr, &mq.topic, mq.queue_id).await?
            }
            super::ConsumeFrom::Timestamp(ts) => {
                api.search_offset(&addr, &mq.topic, mq.queue_id, ts).await?
            }
        };
        info!(group = %self.group, queue = ?mq, offset, from = ?self.settings.consume_from, "no stored offset; starting here");
        self.offsets.update(mq, offset, false);
        Ok(offset)
    }

    /// The master of the queue's broker, else any node of it (offsets, send-back).
    fn broker_of(&self, mq: &MessageQueue) -> Result<(String, i64)> {
        self.instance
            .broker_addr(&mq.broker_name, MASTER_ID)
            .ok_or_else(|| Error::NoRoute {
                topic: mq.topic.clone(),
            })
    }

    // ---- pulling -----------------------------------------------------------------------

    async fn pull_loop(self: Arc<Self>, state: Arc<QueueState>, mut next_offset: i64) {
        let mq = state.mq.clone();
        let Some(sub) = self.subscription(&mq.topic) else {
            return;
        };
        let mut broker_id = MASTER_ID;
        debug!(group = %self.group, queue = ?mq, next_offset, "pulling");
        loop {
            if state.dropped.is_cancelled() {
                return;
            }
            if !self.wait_for_room(&state).await {
                return;
            }
            if self.uses_locks() {
                // Orderly: pull only what this member may consume (Java defers the pull 3 s).
                if !state.lock_valid(self.settings.message_model) {
                    if !sleep_or_dropped(&state, PULL_RETRY_DELAY).await {
                        return;
                    }
                    continue;
                }
                if state.reload_offset.swap(false, Ordering::AcqRel) {
                    // The lock lapsed and came back: another member may have consumed the
                    // queue meanwhile, so its committed offset is read again.
                    match self.start_offset(&mq).await {
                        Ok(offset) => {
                            state.generation.fetch_add(1, Ordering::Relaxed);
                            state.pq().clear();
                            state.progress.notify_waiters();
                            self.offsets.update(&mq, offset, false);
                            next_offset = offset;
                        }
                        Err(e) => {
                            state.reload_offset.store(true, Ordering::Release);
                            debug!(group = %self.group, queue = ?mq, error = %e, "cannot read the offset again yet");
                            if !sleep_or_dropped(&state, PULL_RETRY_DELAY).await {
                                return;
                            }
                            continue;
                        }
                    }
                }
            }
            state.last_pull_ms.store(now_ms(), Ordering::Relaxed);
            let Some((addr, _node)) = self.instance.broker_addr(&mq.broker_name, broker_id) else {
                let _ = self
                    .instance
                    .update_topic_route(&mq.topic, self.instance.api().deadline())
                    .await;
                if !sleep_or_dropped(&state, PULL_RETRY_DELAY).await {
                    return;
                }
                continue;
            };
            // No commit offset rides on the pull (Java sets FLAG_COMMIT_OFFSET): the broker
            // applies it on its pull threads and offset writes on others, so a pull still in
            // its queue could overwrite the offset written at shutdown or when the queue was
            // released with an older one, and the next owner would get messages again. The
            // persist task and those writes carry every offset instead.
            let header = PullMessageRequestHeader {
                consumer_group: self.group.clone(),
                topic: mq.topic.clone(),
                queue_id: mq.queue_id,
                queue_offset: next_offset,
                max_msg_nums: self.settings.pull_batch_size,
                sys_flag: FLAG_SUSPEND,
                commit_offset: 0,
                suspend_timeout_millis: BROKER_SUSPEND.as_millis() as i64,
                subscription: None,
                sub_version: sub.sub_version(),
                expression_type: Some(sub.expression_type.into()),
                broker_name: Some(mq.broker_name.clone()),
            };
            let api = self.instance.api();
            let response = tokio::select! {
                _ = state.dropped.cancelled() => return,
                r = api.pull_message(&addr, &header, PULL_TIMEOUT) => r,
            };
            let delay = match response {
                Ok(resp) => {
                    self.on_pull_response(
                        &state,
                        sub,
                        &addr,
                        resp,
                        &mut next_offset,
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
                if !sleep_or_dropped(&state, delay).await {
                    return;
                }
            }
        }
    }

    /// Waits while the process queue is over its limits. Returns false when the queue is gone.
    async fn wait_for_room(&self, state: &QueueState) -> bool {
        loop {
            let progress = state.progress.notified();
            let full = {
                let pq = state.pq();
                pq.len() >= self.settings.pull_threshold_for_queue
                    || pq.bytes() >= self.settings.pull_threshold_size_for_queue
                    || pq.span() > self.settings.max_span
            };
            if !full {
                return true;
            }
            tokio::select! {
                _ = state.dropped.cancelled() => return false,
                _ = progress => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// Handles one pull answer; returns how long to wait before the next pull.
    async fn on_pull_response(
        self: &Arc<Self>,
        state: &Arc<QueueState>,
        sub: &Subscription,
        addr: &str,
        resp: RemotingCommand,
        next_offset: &mut i64,
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
            let quiet = matches!(
                code,
                ResponseCode::SUBSCRIPTION_NOT_LATEST
                    | ResponseCode::SUBSCRIPTION_NOT_EXIST
                    | ResponseCode::FILTER_DATA_NOT_EXIST
                    | ResponseCode::FILTER_DATA_NOT_LATEST
            );
            if quiet {
                debug!(group = %self.group, queue = ?mq, ?code, "broker has not seen the subscription yet");
            } else {
                warn!(group = %self.group, queue = ?mq, addr, ?code, remark = ?resp.remark, "pull refused");
            }
            return Some(PULL_RETRY_DELAY);
        }
        let header: PullMessageResponseHeader = match resp.decode_header() {
            Ok(h) => h,
            Err(e) => {
                warn!(group = %self.group, queue = ?mq, addr, error = %e, "pull answer without its header");
                return Some(PULL_RETRY_DELAY);
            }
        };
        *broker_id = header.suggest_which_broker_id;
        if let Some(committed) = self.offsets.read(mq) {
            self.stats.record_lag(mq, header.max_offset, committed);
        }
        match code {
            ResponseCode::SUCCESS => {
                let body = resp.body;
                let resp_len = body.len();
                let decode = move || {
                    let messages = decode_stored_messages(body, InflateLimits::default())
                        .map_err(|e| e.to_string())?;
                    unwrap_inner_batches(messages).map_err(|e| e.to_string())
                };
                let decoded = if resp_len > INLINE_DECODE_LIMIT {
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
                        warn!(group = %self.group, queue = ?mq, offset = *next_offset, error = %e, "pull body does not decode; pulling the same offset again");
                        return Some(PULL_RETRY_DELAY);
                    }
                };
                let from = *next_offset;
                *next_offset = header.next_begin_offset;
                let retry = retry_topic(&self.group);
                let kept: Vec<StoredMessage> = messages
                    .into_iter()
                    .filter(|m| m.queue_offset >= from && sub.matches(m))
                    .map(|mut m| {
                        self.prepare_for_handler(&mut m, &retry, &header);
                        // Bodies are slices of the pull's frame: a copy lets the frame go as
                        // soon as it is decoded, instead of one held message pinning all 32.
                        m.body = bytes::Bytes::copy_from_slice(&m.body);
                        m
                    })
                    .collect();
                // Round trip since the pull was sent (`last_pull_ms` is set just before).
                let rt = now_ms() - state.last_pull_ms.load(Ordering::Relaxed);
                let rt = Duration::from_millis(u64::try_from(rt).unwrap_or(0));
                self.stats.record_pull(&mq.topic, rt, kept.len());
                if kept.is_empty() {
                    self.advance_if_idle(state, header.next_begin_offset);
                } else if self.settings.order.is_orderly() {
                    self.dispatch_orderly(state, kept);
                } else {
                    state.pq().put(&kept);
                    self.dispatch(state, kept);
                }
                None
            }
            ResponseCode::PULL_OFFSET_MOVED => {
                warn!(group = %self.group, queue = ?mq, requested = *next_offset, next = header.next_begin_offset, "offset moved; continuing where the broker says");
                *next_offset = header.next_begin_offset;
                state.generation.fetch_add(1, Ordering::Relaxed);
                state.pq().clear();
                state.progress.notify_waiters();
                self.offsets.update(mq, header.next_begin_offset, false);
                self.persist(vec![(mq.clone(), header.next_begin_offset)])
                    .await;
                None
            }
            _ => {
                // Nothing new, or nothing matched: the offset still moves on.
                *next_offset = header.next_begin_offset;
                self.advance_if_idle(state, header.next_begin_offset);
                None
            }
        }
    }

    /// With nothing held, skipped ranges (filtered out, no match) count as consumed.
    fn advance_if_idle(&self, state: &QueueState, offset: i64) {
        if state.pq().is_empty() {
            self.offsets.update(&state.mq, offset, true);
        }
    }

    /// What the handler sees: the original topic of a retried message (without namespace),
    /// and the queue's offsets as properties.
    fn prepare_for_handler(
        &self,
        m: &mut StoredMessage,
        retry: &str,
        header: &PullMessageResponseHeader,
    ) {
        if m.topic == retry {
            if let Some(original) = m.property(property::RETRY_TOPIC).map(str::to_string) {
                m.topic = original;
            }
        }
        if self.namespace.is_some() {
            m.topic = without_namespace(self.namespace.as_deref(), &m.topic);
        }
        m.properties
            .push(("MIN_OFFSET".into(), header.min_offset.to_string()));
        m.properties
            .push(("MAX_OFFSET".into(), header.max_offset.to_string()));
    }

    // ---- consuming ---------------------------------------------------------------------

    /// Hands held messages to consume tasks, `consume_batch_size` at a time.
    fn dispatch(self: &Arc<Self>, state: &Arc<QueueState>, messages: Vec<StoredMessage>) {
        let generation = state.generation.load(Ordering::Relaxed);
        for batch in messages.chunks(self.settings.consume_batch_size) {
            self.tasks.spawn(Arc::clone(self).consume(
                Arc::clone(state),
                batch.to_vec(),
                generation,
            ));
        }
    }

    /// Hands messages whose send-back failed to the handler again.
    fn consume_again(
        self: &Arc<Self>,
        state: &Arc<QueueState>,
        batch: Vec<StoredMessage>,
        generation: u64,
    ) {
        self.tasks
            .spawn(Arc::clone(self).consume(Arc::clone(state), batch, generation));
    }

    /// A batch waiting for a handler slot. Kept small (the handler call's state is boxed only
    /// once the batch runs): thousands of these wait while the handler is slow.
    async fn consume(
        self: Arc<Self>,
        state: Arc<QueueState>,
        batch: Vec<StoredMessage>,
        generation: u64,
    ) {
        let permit = tokio::select! {
            _ = state.dropped.cancelled() => return,
            p = Arc::clone(&self.permits).acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let run: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
            Box::pin(self.run_batch(state, batch, generation, permit));
        run.await;
    }

    async fn run_batch(
        self: Arc<Self>,
        state: Arc<QueueState>,
        batch: Vec<StoredMessage>,
        generation: u64,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) {
        let handler_started = std::time::Instant::now();
        let result = self.call_handler(&state.mq, batch.clone()).await;
        let handler_rt = handler_started.elapsed();
        drop(permit);
        self.stats.record_consume_rt(&state.mq.topic, handler_rt);
        state.last_consume_ms.store(now_ms(), Ordering::Relaxed);
        let stale = state.dropped.is_cancelled() && !self.token.is_cancelled()
            || state.generation.load(Ordering::Relaxed) != generation;
        if stale {
            debug!(group = %self.group, queue = ?state.mq, "queue dropped or reset; result ignored");
            return;
        }
        let done: Vec<i64> = match result {
            ConsumeResult::Success => {
                self.stats
                    .record_consume_result(&state.mq.topic, handler_rt, true, batch.len());
                batch.iter().map(|m| m.queue_offset).collect()
            }
            ConsumeResult::Later { delay_level } => {
                self.stats
                    .record_consume_result(&state.mq.topic, handler_rt, false, batch.len());
                if self.token.is_cancelled() {
                    // Shutting down: leave them in the queue so the offset stays before them;
                    // the next owner gets them again, without a retry copy (no duplicates).
                    return;
                }
                if self.is_broadcasting() {
                    // Java's broadcasting consumer does not retry: logged, and the offset
                    // moves on.
                    for m in &batch {
                        warn!(group = %self.group, queue = ?state.mq, offset = m.queue_offset, msg_id = %m.msg_id(), "broadcasting: handler said later; the message is not retried");
                    }
                    let done: Vec<i64> = batch.iter().map(|m| m.queue_offset).collect();
                    let commit = state.pq().remove(done);
                    state.progress.notify_waiters();
                    if let Some(offset) = commit {
                        self.offsets.update(&state.mq, offset, true);
                    }
                    return;
                }
                let mut done = Vec::new();
                let mut again = Vec::new();
                for m in batch {
                    match self.send_back(&state.mq, &m, delay_level).await {
                        Ok(()) => done.push(m.queue_offset),
                        Err(e) => {
                            warn!(group = %self.group, queue = ?state.mq, offset = m.queue_offset, error = %e, "message could not be sent back; handing it to the handler again in 5 s");
                            again.push(m);
                        }
                    }
                }
                if !again.is_empty() {
                    let engine = Arc::clone(&self);
                    let state = Arc::clone(&state);
                    self.tasks.spawn(async move {
                        if sleep_or_dropped(&state, LOCAL_RETRY_DELAY).await {
                            let again = again
                                .into_iter()
                                .map(|mut m| {
                                    m.reconsume_times += 1;
                                    m
                                })
                                .collect();
                            engine.consume_again(&state, again, generation);
                        }
                    });
                }
                done
            }
        };
        if done.is_empty() {
            return;
        }
        let commit = state.pq().remove(done);
        state.progress.notify_waiters();
        if let Some(offset) = commit {
            self.offsets.update(&state.mq, offset, true);
        }
    }

    /// Runs the handler on its own task: a panic, or running past the consume timeout (the
    /// call is then stopped), counts as "later"; so does a shutdown that outlasts its bound.
    pub(super) async fn call_handler(
        &self,
        mq: &MessageQueue,
        batch: Vec<StoredMessage>,
    ) -> ConsumeResult {
        let context = ConsumeContext {
            queue: MessageQueue::new(
                without_namespace(self.namespace.as_deref(), &mq.topic),
                mq.broker_name.clone(),
                mq.queue_id,
            ),
        };
        let trace = self.trace.get().and_then(|dispatcher| {
            ConsumeTrace::before(dispatcher, self.namespace.as_deref(), &self.group, &batch)
        });
        let mut call = tokio::spawn((self.handler)(batch, context));
        let outcome = tokio::select! {
            r = tokio::time::timeout(self.settings.consume_timeout, &mut call) => r,
            _ = self.abort_handlers.cancelled() => {
                // Stopped by shutdown: no end to trace (as Java for a dropped queue).
                call.abort();
                return ConsumeResult::later();
            }
        };
        let (result, code) = match outcome {
            Ok(Ok(result)) => {
                let code = match result {
                    ConsumeResult::Success => TraceConsumeCode::Success,
                    ConsumeResult::Later { .. } => TraceConsumeCode::Failed,
                };
                (result, code)
            }
            Ok(Err(e)) => {
                warn!(group = %self.group, queue = ?mq, error = %e, "handler panicked; the messages will be delivered again");
                (ConsumeResult::later(), TraceConsumeCode::Exception)
            }
            Err(_) => {
                call.abort();
                warn!(group = %self.group, queue = ?mq, timeout = ?self.settings.consume_timeout, "handler exceeded the consume timeout; the messages will be delivered again");
                (ConsumeResult::later(), TraceConsumeCode::Timeout)
            }
        };
        if let Some(trace) = trace {
            trace.after(code);
        }
        result
    }

    /// Sends a message back for a later retry: `CONSUMER_SEND_MSG_BACK` to the master that
    /// stored it; if that fails, re-published to the retry topic as Java's inner producer does.
    pub(super) async fn send_back(
        &self,
        mq: &MessageQueue,
        m: &StoredMessage,
        delay_level: i32,
    ) -> Result<()> {
        let api = self.instance.api();
        let header = ConsumerSendMsgBackRequestHeader {
            offset: m.commit_log_offset,
            group: self.group.clone(),
            delay_level,
            origin_msg_id: Some(m.msg_id().to_string()),
            origin_topic: Some(crate::client::validate::wrap_namespace(
                self.namespace.as_deref(),
                &m.topic,
            )),
            unit_mode: false,
            max_reconsume_times: Some(self.settings.max_reconsume()),
            broker_name: Some(mq.broker_name.clone()),
        };
        let direct = match self.instance.master_addr(&mq.broker_name) {
            Some(addr) => api.send_message_back(&addr, &header, api.deadline()).await,
            None => Err(Error::NoRoute {
                topic: mq.topic.clone(),
            }),
        };
        match direct {
            Ok(()) => Ok(()),
            Err(e) => {
                debug!(group = %self.group, error = %e, "send-back failed; re-publishing to the retry topic");
                self.republish_to_retry(m, delay_level).await
            }
        }
    }

    /// Java's fallback: a new message on `%RETRY%<group>` with the original body and
    /// properties, `RETRY_TOPIC`, `RECONSUME_TIME`, `MAX_RECONSUME_TIMES`, `ORIGIN_MESSAGE_ID`
    /// and a delay of `3 + reconsume times`.
    async fn republish_to_retry(&self, m: &StoredMessage, delay_level: i32) -> Result<()> {
        let retry = retry_topic(&self.group);
        let route = match self.instance.route(&retry) {
            Some(r) => r,
            None => {
                self.instance
                    .update_topic_route(&retry, self.instance.api().deadline())
                    .await?;
                self.instance.route(&retry).ok_or_else(|| Error::NoRoute {
                    topic: retry.clone(),
                })?
            }
        };
        let info = TopicPublishInfo::from_route(&retry, &route);
        let queue = info.select_queue(None).ok_or_else(|| Error::NoRoute {
            topic: retry.clone(),
        })?;
        let addr = self
            .instance
            .master_addr(&queue.broker_name)
            .ok_or_else(|| Error::NoRoute {
                topic: retry.clone(),
            })?;
        let original_topic =
            crate::client::validate::wrap_namespace(self.namespace.as_deref(), &m.topic);
        let reconsume = m.reconsume_times + 1;
        let delay = if delay_level > 0 {
            delay_level
        } else {
            3 + m.reconsume_times
        };
        let skip = [
            property::RETRY_TOPIC,
            property::RECONSUME_TIME,
            property::MAX_RECONSUME_TIMES,
            property::ORIGIN_MESSAGE_ID,
            property::TRANSACTION_PREPARED,
            property::DELAY_TIME_LEVEL,
            "MIN_OFFSET",
            "MAX_OFFSET",
        ];
        let origin = m
            .property(property::ORIGIN_MESSAGE_ID)
            .unwrap_or(m.msg_id())
            .to_string();
        let retry_of = m
            .property(property::RETRY_TOPIC)
            .unwrap_or(&original_topic)
            .to_string();
        let extra = [
            (property::RETRY_TOPIC, retry_of),
            (property::RECONSUME_TIME, reconsume.to_string()),
            (
                property::MAX_RECONSUME_TIMES,
                self.settings.max_reconsume().to_string(),
            ),
            (property::ORIGIN_MESSAGE_ID, origin),
            (property::DELAY_TIME_LEVEL, delay.to_string()),
        ];
        let properties = encode_properties(
            m.properties
                .iter()
                .filter(|(k, _)| !skip.contains(&k.as_str()))
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .chain(extra.iter().map(|(k, v)| (*k, v.as_str()))),
        );
        let header = SendMessageRequestHeaderV2 {
            producer_group: CLIENT_INNER_PRODUCER_GROUP.to_string(),
            topic: retry.clone(),
            default_topic: crate::client::validate::AUTO_CREATE_TOPIC.to_string(),
            default_topic_queue_nums: 4,
            queue_id: queue.queue_id,
            sys_flag: 0,
            born_timestamp: now_ms(),
            flag: m.flag,
            properties: Some(properties),
            reconsume_times: Some(reconsume),
            unit_mode: Some(false),
            max_reconsume_times: Some(self.settings.max_reconsume()),
            batch: Some(false),
            broker_name: Some(queue.broker_name.clone()),
        };
        let api = self.instance.api();
        let cmd = api
            .command(RequestCode::SEND_MESSAGE_V2, Some(&header))
            .with_body(m.body.clone());
        let resp = api.invoke(&addr, cmd, api.deadline()).await?;
        crate::client::expect_success(&addr, resp).map(drop)
    }

    // ---- offsets -----------------------------------------------------------------------

    async fn persist_loop(self: Arc<Self>) {
        let mut ticks = tokio::time::interval_at(
            deadline_after(self.settings.persist_interval),
            self.settings.persist_interval,
        );
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.token.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let owned: BTreeSet<MessageQueue> = self.queues().keys().cloned().collect();
            // Broker-stored offsets all go out every time, changed or not (as Java's
            // persistAll): a master that crashed and came back, or one that was down while
            // its slave took the offsets, gets them again. The local file needs only changes.
            let offsets = if self.is_broadcasting() {
                self.offsets.dirty()
            } else {
                self.offsets.all()
            };
            let owned = offsets
                .into_iter()
                .filter(|(mq, _)| owned.contains(mq))
                .collect();
            self.persist(owned).await;
        }
    }

    /// Writes offsets to their brokers, all at once, waiting for each answer (Java sends these
    /// oneway; an answer tells us the offset is there).
    pub(crate) async fn persist(&self, offsets: Vec<(MessageQueue, i64)>) {
        if let Some(file) = &self.local_offsets {
            match file.store(offsets.clone()).await {
                Ok(()) => {
                    for (mq, offset) in &offsets {
                        self.offsets.persisted(mq, *offset);
                    }
                }
                Err(e) => {
                    warn!(group = %self.group, path = %file.path().display(), error = %e, "offsets not written to the local file")
                }
            }
            return;
        }
        let api = self.instance.api();
        let deadline = api.deadline();
        let writes = offsets.into_iter().map(|(mq, offset)| async move {
            let Ok((addr, _)) = self.broker_of(&mq) else {
                return;
            };
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
                    debug!(group = %self.group, queue = ?mq, offset, "offset persisted");
                }
                Err(e) => warn!(group = %self.group, queue = ?mq, offset, error = %e, "offset not persisted"),
            }
        });
        join_all(writes).await;
    }

    // ---- shutdown ----------------------------------------------------------------------

    /// Stops pulling, lets handler calls in flight finish (within the shutdown timeout),
    /// persists every offset and leaves the client instance (which unregisters the group).
    pub(crate) async fn shutdown(&self) {
        if self.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        info!(group = %self.group, "shutting down consumer");
        self.token.cancel();
        self.tasks.close();
        if tokio::time::timeout(self.settings.shutdown_timeout, self.tasks.wait())
            .await
            .is_err()
        {
            warn!(group = %self.group, timeout = ?self.settings.shutdown_timeout, "handlers still running at shutdown are stopped");
            self.abort_handlers.cancel();
            self.tasks.wait().await;
        }
        let owned: BTreeSet<MessageQueue> = self.queues().keys().cloned().collect();
        let final_offsets: Vec<(MessageQueue, i64)> = owned
            .iter()
            .filter_map(|mq| {
                // The stored offset never passes a message still held (it comes from the
                // process queue's lowest offset), so it is what may be committed.
                let held = self.queues().get(mq).and_then(|s| s.pq().commit_offset());
                Some((mq.clone(), self.offsets.read(mq).or(held)?))
            })
            .collect();
        self.persist(final_offsets).await;
        if self.uses_locks() {
            // Java `unlockAll(false)` at shutdown: the next owner need not wait for expiry.
            self.unlock(&owned.iter().cloned().collect::<Vec<_>>(), false)
                .await;
        }
        self.queues().clear();
        if let Some(trace) = self.trace.get() {
            // The handler calls above recorded their ends; those records still go out.
            trace.shutdown(TRACE_FLUSH_LIMIT).await;
        }
        self.instance.leave(MemberKind::Consumer, &self.group).await;
        info!(group = %self.group, "consumer shut down");
    }

    // ---- broker requests ---------------------------------------------------------------

    fn handle_request(self: Arc<Self>, addr: &str, request: RemotingCommand) -> HandlerFuture {
        let addr = addr.to_string();
        Box::pin(async move {
            match request.request_code() {
                RequestCode::NOTIFY_CONSUMER_IDS_CHANGED => {
                    info!(group = %self.group, broker = %addr, "consumer ids changed; rebalancing");
                    self.rebalance_soon();
                    None
                }
                RequestCode::GET_CONSUMER_RUNNING_INFO => Some(
                    RemotingCommand::response_to(&request, ResponseCode::SUCCESS, None)
                        .with_body(self.running_info().into_bytes()),
                ),
                RequestCode::CONSUME_MESSAGE_DIRECTLY => {
                    Some(self.consume_directly(&request).await)
                }
                RequestCode::GET_CONSUMER_STATUS_FROM_CLIENT => {
                    let topic = request.ext_fields.get("topic").unwrap_or_default();
                    Some(
                        RemotingCommand::response_to(&request, ResponseCode::SUCCESS, None)
                            .with_body(self.offsets.status_body(topic).into_bytes()),
                    )
                }
                RequestCode::RESET_CONSUMER_CLIENT_OFFSET => {
                    self.reset_offsets(&request).await;
                    None
                }
                _ => Some(crate::remoting::UnsupportedRequests::response(&request)),
            }
        })
    }

    /// `RESET_CONSUMER_CLIENT_OFFSET` (4.9.x admin reset): stop the queues named, store the
    /// new offsets, and let the next rebalance take them up from there.
    async fn reset_offsets(&self, request: &RemotingCommand) {
        let Ok(header) = request.decode_header::<ResetOffsetRequestHeader>() else {
            return;
        };
        let table = parse_queue_keyed_offsets(&request.body);
        info!(group = %self.group, topic = %header.topic, queues = table.len(), "offset reset by the broker");
        for (mq, offset) in &table {
            let state = self.queues().get(mq).cloned();
            if let Some(state) = state {
                state.dropped.cancel();
                self.queues().remove(mq);
            }
            self.offsets.update(mq, *offset, false);
        }
        self.persist(table.clone()).await;
        for (mq, _) in &table {
            self.offsets.remove(mq);
        }
        self.rebalance_soon();
    }

    /// `CONSUME_MESSAGE_DIRECTLY`: run the handler once on the message in the body (no offset
    /// or retry side effects) and report how it went.
    async fn consume_directly(&self, request: &RemotingCommand) -> RemotingCommand {
        let message =
            match decode_first_stored_message(request.body.clone(), InflateLimits::default()) {
                Ok(m) => m,
                Err(e) => {
                    return RemotingCommand::response_to(
                        request,
                        ResponseCode::SYSTEM_ERROR,
                        Some(format!("message does not decode: {e}")),
                    )
                }
            };
        let broker = request
            .ext_fields
            .get("brokerName")
            .unwrap_or_default()
            .to_string();
        let mq = MessageQueue::new(message.topic.clone(), broker, message.queue_id);
        let started = now_ms();
        let result = self.call_handler(&mq, vec![message]).await;
        let consume_result = match result {
            ConsumeResult::Success => "CR_SUCCESS",
            ConsumeResult::Later { .. } => "CR_LATER",
        };
        let body = json!({
            "autoCommit": true,
            "consumeResult": consume_result,
            "order": self.settings.order.is_orderly(),
            "spentTimeMills": now_ms() - started,
        });
        RemotingCommand::response_to(request, ResponseCode::SUCCESS, None)
            .with_body(body.to_string().into_bytes())
    }

    /// `ConsumerRunningInfo` as Java writes it (queue-keyed maps in fastjson's object-key
    /// form), so `mqadmin consumerStatus` and the dashboard can read it.
    fn running_info(&self) -> String {
        let config = self.instance.config();
        let mut properties = serde_json::Map::new();
        let mut prop = |k: &str, v: String| {
            properties.insert(k.to_string(), serde_json::Value::String(v));
        };
        prop(
            "PROP_CONSUMEORDERLY",
            self.settings.order.is_orderly().to_string(),
        );
        prop("PROP_CONSUME_TYPE", "CONSUME_PASSIVELY".into());
        prop("PROP_CLIENT_VERSION", "V4_9_3".into());
        prop("PROP_CONSUMER_START_TIMESTAMP", self.started_ms.to_string());
        prop(
            "PROP_THREADPOOL_CORE_SIZE",
            self.settings.consume_concurrency.to_string(),
        );
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
        prop(
            "messageModel",
            self.settings.message_model.java_name().into(),
        );
        prop(
            "consumeFromWhere",
            self.settings.consume_from.java_name().into(),
        );
        prop(
            "allocateMessageQueueStrategy",
            self.settings.allocate.name().into(),
        );
        prop(
            "consumeThreadMin",
            self.settings.consume_concurrency.to_string(),
        );
        prop(
            "consumeThreadMax",
            self.settings.consume_concurrency.to_string(),
        );
        prop(
            "consumeMessageBatchMaxSize",
            self.settings.consume_batch_size.to_string(),
        );
        prop("pullBatchSize", self.settings.pull_batch_size.to_string());
        prop(
            "pullThresholdForQueue",
            self.settings.pull_threshold_for_queue.to_string(),
        );
        prop(
            "pullThresholdSizeForQueue",
            (self.settings.pull_threshold_size_for_queue / (1024 * 1024)).to_string(),
        );
        prop(
            "consumeConcurrentlyMaxSpan",
            self.settings.max_span.to_string(),
        );
        prop(
            "maxReconsumeTimes",
            self.settings.max_reconsume().to_string(),
        );
        prop(
            "consumeTimeout",
            (self.settings.consume_timeout.as_secs() / 60).to_string(),
        );
        prop("instanceName", config.instance_name.clone());
        prop("clientIP", config.client_ip.clone());
        let queues: Vec<Arc<QueueState>> = self.queues().values().cloned().collect();
        let mq_table = queue_keyed_map(queues.iter().map(|q| {
            let pq = q.pq();
            let (min, max) = pq.offset_range().unwrap_or((0, 0));
            let info = json!({
                "cachedMsgCount": pq.len(),
                "cachedMsgMaxOffset": max,
                "cachedMsgMinOffset": min,
                "cachedMsgSizeInMiB": pq.bytes() / (1024 * 1024),
                "commitOffset": self.offsets.read(&q.mq).unwrap_or(-1),
                "droped": q.dropped.is_cancelled(),
                "lastConsumeTimestamp": q.last_consume_ms.load(Ordering::Relaxed),
                "lastLockTimestamp": q.last_lock_ms.load(Ordering::Relaxed),
                "lastPullTimestamp": q.last_pull_ms.load(Ordering::Relaxed),
                "locked": q.locked.load(Ordering::Relaxed),
                "transactionMsgCount": 0,
                "transactionMsgMaxOffset": 0,
                "transactionMsgMinOffset": 0,
                "tryUnlockTimes": 0,
            });
            (&q.mq, info.to_string())
        }));
        let status: serde_json::Map<String, serde_json::Value> = self
            .subscriptions
            .iter()
            .map(|s| {
                (
                    s.topic.clone(),
                    self.stats.consume_status(&s.topic).to_json(),
                )
            })
            .collect();
        let subscriptions: Vec<serde_json::Value> = self
            .subscriptions
            .iter()
            .map(Subscription::heartbeat_json)
            .collect();
        format!(
            r#"{{"jstack":"","mqTable":{mq_table},"properties":{},"statusTable":{},"subscriptionSet":{}}}"#,
            serde_json::Value::Object(properties),
            serde_json::Value::Object(status),
            serde_json::Value::Array(subscriptions),
        )
    }
}

/// Sleeps, unless the queue is dropped first. Returns false when it was.
pub(super) async fn sleep_or_dropped(state: &QueueState, d: Duration) -> bool {
    tokio::select! {
        _ = state.dropped.cancelled() => false,
        _ = tokio::time::sleep(d) => true,
    }
}

/// The consumer's entry in the client instance's member table.
pub(crate) struct Registration(pub(crate) Weak<Engine>);

impl ConsumerMember for Registration {
    fn heartbeat_data(&self) -> serde_json::Value {
        self.0
            .upgrade()
            .map_or(serde_json::Value::Null, |e| e.heartbeat_json())
    }

    fn handle_request(&self, addr: &str, request: RemotingCommand) -> HandlerFuture {
        match self.0.upgrade() {
            Some(engine) => engine.handle_request(addr, request),
            None => Box::pin(async { None }),
        }
    }
}
