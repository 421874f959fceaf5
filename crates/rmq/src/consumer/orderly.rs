//! Orderly consumption (Java `ConsumeMessageOrderlyService`): queue locks at the masters, and
//! one worker per ordering lane of a queue that hands its messages to the handler one call at
//! a time, in queue order.
//!
//! ```text
//!  rebalance: new queue → LOCK_BATCH_MQ at its master (refused: try next round) → pull task
//!  lock task: every 20 s, LOCK_BATCH_MQ for every owned queue, per broker (renewal); a queue
//!             not renewed for 30 s is not handed to the handler until it is locked again, and
//!             then its offset is read again from the broker
//!  pull: messages → their lane (the queue, or the queue and the message key) → lane worker
//!  lane worker: lock valid? → permit → handler → success: commit (offset = lowest held)
//!               later: reconsume times + 1 (at the limit: dead-letter queue), wait the suspend
//!               time, the same messages again
//!  queue taken away: no new handler call; once the lanes are idle: persist, UNLOCK_BATCH_MQ
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, info, warn};

use super::engine::{Engine, QueueState};
use super::types::{ConsumeOrder, ConsumeResult, MessageModel};
use crate::client::MessageQueue;
use crate::protocol::StoredMessage;
use crate::util::{deadline_after, now_ms};

/// Lock renewal period (`rocketmq.client.rebalance.lockInterval`).
const LOCK_INTERVAL: Duration = Duration::from_secs(20);
/// First renewal after start (Java schedules `lockAll` at 1 s).
const FIRST_LOCK_RENEWAL: Duration = Duration::from_secs(1);
/// A lock not renewed for this long no longer counts (`rocketmq.client.rebalance.lockMaxLiveTime`).
pub(super) const LOCK_MAX_LIVE_MS: i64 = 30_000;
/// Timeout of a lock or unlock request (Java 1000 ms).
const LOCK_TIMEOUT: Duration = Duration::from_millis(1000);
/// How long a released queue waits for its running handler call before giving up the unlock
/// (the broker's lock then expires by itself; Java's force-unlock bound is 20 s).
const RELEASE_WAIT: Duration = Duration::from_secs(20);
/// Wait of a lane whose queue lock is not valid before trying again (Java 100 ms / 3 s).
const UNLOCKED_RETRY: Duration = Duration::from_millis(500);
/// Delay level that sends a message straight to the dead-letter queue.
const DLQ_DELAY_LEVEL: i32 = -1;

impl QueueState {
    /// Whether the handler may get messages of this queue: broadcasting needs no lock;
    /// otherwise a lock granted within the last 30 s.
    pub(super) fn lock_valid(&self, model: MessageModel) -> bool {
        model == MessageModel::Broadcasting
            || (self.locked.load(Ordering::Acquire)
                && now_ms() - self.last_lock_ms.load(Ordering::Acquire) <= LOCK_MAX_LIVE_MS)
    }

    /// Records a lock granted by the broker. Returns true when the queue had no valid lock
    /// before (then another member may have consumed it meanwhile: its offset is re-read).
    pub(super) fn mark_locked(&self) -> bool {
        let was_valid = self.locked.load(Ordering::Acquire)
            && now_ms() - self.last_lock_ms.load(Ordering::Acquire) <= LOCK_MAX_LIVE_MS;
        self.last_lock_ms.store(now_ms(), Ordering::Release);
        let was_locked = self.locked.swap(true, Ordering::AcqRel);
        was_locked && !was_valid
    }
}

impl Engine {
    /// The lane of a message: per-queue order has one lane; per-key order one per `KEYS`.
    fn lane_of(order: ConsumeOrder, m: &StoredMessage) -> String {
        match order {
            ConsumeOrder::OrderlyByKey => m.keys().unwrap_or_default().to_string(),
            _ => String::new(),
        }
    }

    /// Holds pulled messages in their lanes and starts a worker for each idle lane.
    pub(super) fn dispatch_orderly(
        self: &Arc<Self>,
        state: &Arc<QueueState>,
        messages: Vec<StoredMessage>,
    ) {
        let order = self.settings.order;
        let wake = state
            .pq()
            .put_ordered(&messages, |m| Self::lane_of(order, m));
        let generation = state.generation.load(Ordering::Relaxed);
        for lane in wake {
            self.tasks
                .spawn(Arc::clone(self).lane_worker(Arc::clone(state), lane, generation));
        }
    }

    /// Hands one lane's messages to the handler, one call at a time, oldest first, until the
    /// lane is empty or the queue is dropped or reset.
    async fn lane_worker(self: Arc<Self>, state: Arc<QueueState>, lane: String, generation: u64) {
        let stale = |state: &QueueState| {
            state.dropped.is_cancelled() || state.generation.load(Ordering::Relaxed) != generation
        };
        loop {
            if stale(&state) {
                state.pq().stop_lane(&lane);
                state.progress.notify_waiters();
                return;
            }
            if !state.lock_valid(self.settings.message_model) {
                debug!(group = %self.group, queue = ?state.mq, "queue lock not valid; taking it again");
                self.lock_queues(&[Arc::clone(&state)]).await;
                if !state.lock_valid(self.settings.message_model) {
                    // Dropped while waiting: the check at the top ends the worker.
                    super::engine::sleep_or_dropped(&state, UNLOCKED_RETRY).await;
                }
                continue;
            }
            let Some(batch) = state
                .pq()
                .lane_batch(&lane, self.settings.consume_batch_size)
            else {
                state.progress.notify_waiters();
                return;
            };
            let permit = tokio::select! {
                _ = state.dropped.cancelled() => continue,
                p = Arc::clone(&self.permits).acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            };
            let offsets: Vec<i64> = batch.iter().map(|m| m.queue_offset).collect();
            let started = std::time::Instant::now();
            let result = self.call_handler(&state.mq, batch.clone()).await;
            drop(permit);
            state.last_consume_ms.store(now_ms(), Ordering::Relaxed);
            if state.generation.load(Ordering::Relaxed) != generation {
                // The offset was reset meanwhile: these messages are gone from the queue.
                continue;
            }
            // A result that arrives after the queue was taken away still counts: the queue is
            // unlocked only once its lanes are idle, so the offset includes this call.
            match result {
                ConsumeResult::Success => {
                    self.record_consumed(&state.mq, true, batch.len(), started.elapsed());
                    self.finish(&state, &lane, &offsets);
                }
                ConsumeResult::Later { .. } => {
                    self.record_consumed(&state.mq, false, batch.len(), started.elapsed());
                    if self.token.is_cancelled() {
                        // Shutting down: the offset stays before them; the next owner gets them.
                        state.pq().stop_lane(&lane);
                        state.progress.notify_waiters();
                        return;
                    }
                    let max = self.settings.max_reconsume();
                    let mut dead = Vec::new();
                    let mut again = Vec::new();
                    for m in &batch {
                        if m.reconsume_times >= max {
                            match self.send_back(&state.mq, m, DLQ_DELAY_LEVEL).await {
                                Ok(()) => {
                                    warn!(group = %self.group, queue = ?state.mq, offset = m.queue_offset, reconsume_times = m.reconsume_times, "message failed max reconsume times; moved to the dead-letter queue");
                                    dead.push(m.queue_offset);
                                }
                                Err(e) => {
                                    warn!(group = %self.group, queue = ?state.mq, offset = m.queue_offset, error = %e, "message could not be moved to the dead-letter queue; the queue waits");
                                    again.push(m.queue_offset);
                                }
                            }
                        } else {
                            again.push(m.queue_offset);
                        }
                    }
                    if !dead.is_empty() {
                        self.finish(&state, &lane, &dead);
                    }
                    if again.is_empty() {
                        continue;
                    }
                    state.pq().count_redelivery(&again);
                    debug!(group = %self.group, queue = ?state.mq, lane, messages = again.len(), suspend = ?self.settings.suspend_time, "queue suspended; the same messages come again");
                    if !super::engine::sleep_or_dropped(&state, self.settings.suspend_time).await {
                        continue;
                    }
                }
            }
        }
    }

    /// Handled messages leave the lane; the committed offset follows the lowest held one.
    fn finish(&self, state: &QueueState, lane: &str, offsets: &[i64]) {
        let commit = state.pq().finish_lane(lane, offsets);
        state.progress.notify_waiters();
        if let Some(offset) = commit {
            self.offsets.update(&state.mq, offset, false);
        }
    }

    /// Locks one new queue at its master before it is pulled (clustering). Returns whether
    /// the broker granted it.
    pub(super) async fn lock_new_queue(&self, mq: &MessageQueue) -> bool {
        let Some(addr) = self.instance.master_addr(&mq.broker_name) else {
            return false;
        };
        match self
            .instance
            .api()
            .lock_batch_mq(
                &addr,
                &self.group,
                self.instance.client_id(),
                std::slice::from_ref(mq),
                deadline_after(LOCK_TIMEOUT),
            )
            .await
        {
            Ok(granted) => granted.contains(mq),
            Err(e) => {
                debug!(group = %self.group, queue = ?mq, error = %e, "lock request failed");
                false
            }
        }
    }

    /// Renews (or takes again) the locks of `states` at their masters, one request per broker.
    /// A queue whose lock comes back after it was lost re-reads its offset before pulling.
    async fn lock_queues(&self, states: &[Arc<QueueState>]) {
        let mut by_broker: BTreeMap<&str, Vec<&Arc<QueueState>>> = BTreeMap::new();
        for state in states {
            by_broker
                .entry(state.mq.broker_name.as_str())
                .or_default()
                .push(state);
        }
        for (broker, states) in by_broker {
            let Some(addr) = self.instance.master_addr(broker) else {
                for state in &states {
                    state.locked.store(false, Ordering::Release);
                }
                continue;
            };
            let queues: Vec<MessageQueue> = states.iter().map(|s| s.mq.clone()).collect();
            let granted = match self
                .instance
                .api()
                .lock_batch_mq(
                    &addr,
                    &self.group,
                    self.instance.client_id(),
                    &queues,
                    deadline_after(LOCK_TIMEOUT),
                )
                .await
            {
                Ok(granted) => granted,
                Err(e) => {
                    // Keep the current marks: a lock lapses by itself after 30 s.
                    debug!(group = %self.group, broker, error = %e, "lock renewal failed");
                    continue;
                }
            };
            for state in states {
                if granted.contains(&state.mq) {
                    if state.mark_locked() {
                        info!(group = %self.group, queue = ?state.mq, "queue locked again; its offset is read again from the broker");
                        state.reload_offset.store(true, Ordering::Release);
                    }
                } else {
                    if state.locked.swap(false, Ordering::AcqRel) {
                        warn!(group = %self.group, queue = ?state.mq, "queue lock refused (another member holds it); not consuming it");
                    }
                }
            }
        }
    }

    /// Renews every owned queue's lock every 20 s (clustering orderly consumers only).
    pub(super) async fn lock_loop(self: Arc<Self>) {
        let mut wait = FIRST_LOCK_RENEWAL;
        loop {
            tokio::select! {
                _ = self.token.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            wait = LOCK_INTERVAL;
            let states = self.queue_states();
            self.lock_queues(&states).await;
        }
    }

    /// A queue taken away (or the consumer stopping): once no handler call of it runs (at
    /// most 20 s), its offset is persisted and its lock released, so the next owner starts
    /// where this one stopped; a call still running then keeps the lock until it lapses.
    pub(super) async fn release_orderly_queue(self: Arc<Self>, state: Arc<QueueState>) {
        let idle = async {
            loop {
                let progress = state.progress.notified();
                if state.pq().running_lanes() == 0 {
                    return;
                }
                progress.await;
            }
        };
        if tokio::time::timeout(RELEASE_WAIT, idle).await.is_err() {
            warn!(group = %self.group, queue = ?state.mq, "a handler call of a released queue is still running; its lock is left to expire");
            return;
        }
        if self.owns(&state.mq) {
            // Taken back meanwhile: the new owner state carries on.
            return;
        }
        if let Some(offset) = self.offsets.read(&state.mq) {
            self.persist(vec![(state.mq.clone(), offset)]).await;
        }
        if self.owns(&state.mq) {
            return;
        }
        self.offsets.remove(&state.mq);
        if self.settings.message_model == MessageModel::Clustering {
            self.unlock(std::slice::from_ref(&state.mq), true).await;
        }
        debug!(group = %self.group, queue = ?state.mq, "orderly queue released");
    }

    /// Releases locks at the masters: oneway during a rebalance, waiting at shutdown.
    pub(super) async fn unlock(&self, queues: &[MessageQueue], oneway: bool) {
        let mut by_broker: BTreeMap<&str, Vec<MessageQueue>> = BTreeMap::new();
        for mq in queues {
            by_broker
                .entry(mq.broker_name.as_str())
                .or_default()
                .push(mq.clone());
        }
        for (broker, queues) in by_broker {
            let Some(addr) = self.instance.master_addr(broker) else {
                continue;
            };
            if let Err(e) = self
                .instance
                .api()
                .unlock_batch_mq(
                    &addr,
                    &self.group,
                    self.instance.client_id(),
                    &queues,
                    oneway,
                    deadline_after(LOCK_TIMEOUT),
                )
                .await
            {
                debug!(group = %self.group, broker, error = %e, "unlock failed; the broker's lock expires by itself");
            }
        }
    }
}
