//! Pop consumption (RocketMQ 5.x): instead of owning queues through a client-side rebalance
//! and pulling them from a stored offset, every member of the group asks every broker of a
//! subscribed topic for messages (`POP_MESSAGE`, queue id −1: any queue of that broker). The
//! broker hands each message to one member and hides it from the group for the invisible
//! time; the member acknowledges it (`ACK_MESSAGE`, `BATCH_ACK_MESSAGE`) or asks to see it
//! again later (`CHANGE_MESSAGE_INVISIBLETIME`). A message neither acked nor changed (the
//! member crashed, or shut down before handling it) simply becomes visible again, through the
//! group's pop retry topic `%RETRY%<group>_<topic>`.
//!
//! ```text
//!  broker watch (per subscribed topic) ── every 20 s and on route changes:
//!     one pop task per readable broker of the topic, stopped when the broker leaves
//!  pop task ── waiting for ack ≤ max in flight → POP_MESSAGE (broker holds ≤ 15 s) →
//!     checkpoints (POP_CK) → tag check (no match: ack) → consume tasks, one queue per batch
//!  consume task ── permit → handler (timeout, panic = later) →
//!     success: ack (a batch: BATCH_ACK_MESSAGE) to the master of the checkpoint's broker
//!     later: CHANGE_MESSAGE_INVISIBLETIME = the retry delay; past max reconsume times or a
//!     negative delay level: CONSUMER_SEND_MSG_BACK to the dead-letter topic, then ack
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::engine::Engine;
use super::types::{ConsumeFrom, ConsumeResult, PopOptions};
use crate::client::validate::without_namespace;
use crate::client::MessageQueue;
use crate::error::{Error, Result};
use crate::protocol::{
    attach_pop_checkpoints, batch_ack_body, decode_stored_messages, property, unwrap_inner_batches,
    AckMessageRequestHeader, ChangeInvisibleTimeRequestHeader, ConsumerSendMsgBackRequestHeader,
    InflateLimits, PopCheckpoint, PopMessageRequestHeader, PopMessageResponseHeader,
    RemotingCommand, RequestCode, ResponseCode, StoredMessage,
};
use crate::util::{deadline_after, now_ms};

/// How long the broker may hold a pop when nothing is there (Java `BROKER_SUSPEND_MAX_TIME_MILLIS`).
const POLL_TIME: Duration = Duration::from_secs(15);
/// Client timeout of a pop: the hold plus 10 s, as Java's `PullAPIWrapper.popAsync`.
const POP_TIMEOUT: Duration = Duration::from_secs(25);
/// Timeout of acks and invisible-time changes (Java `ASYNC_TIMEOUT`).
const ACK_TIMEOUT: Duration = Duration::from_secs(3);
/// Wait after a failed pop (Java `pullTimeDelayMillsWhenException`).
const POP_RETRY_DELAY: Duration = Duration::from_secs(3);
/// A "nothing there" answer faster than this was not held: wait before asking again rather
/// than spin (a broker whose clock is far ahead answers every pop at once).
const MIN_HOLD: Duration = Duration::from_secs(1);
/// How often the brokers of a topic are looked at again (as the rebalance period).
const BROKER_WATCH_INTERVAL: Duration = Duration::from_secs(20);
/// Next look after a topic had no route.
const BROKER_WATCH_RETRY: Duration = Duration::from_secs(1);
/// Pop bodies larger than this are decoded on a blocking thread.
const INLINE_DECODE_LIMIT: usize = 64 * 1024;

/// Java's pop retry delays (`DefaultMQPushConsumerImpl.popDelayLevel`), seconds, indexed by
/// the message's reconsume times when the handler asked for no delay level.
const POP_RETRY_DELAYS_S: [u64; 16] = [
    10, 30, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 1200, 1800, 3600, 7200,
];
/// The broker's default `messageDelayLevel` (levels 1 to 18), seconds: what a handler's delay
/// level means, in pop mode as in pull mode.
const MESSAGE_DELAY_LEVELS_S: [u64; 18] = [
    1, 5, 10, 30, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 1200, 1800, 3600, 7200,
];

/// How long a message the handler answered "later" stays hidden: the delay level's time
/// when the handler chose one (1 = 1 s … 18 = 2 h), else Java's pop table by reconsume times
/// (10 s, 30 s, 1 min, …, 2 h).
fn later_delay(delay_level: i32, reconsume_times: i32) -> Duration {
    let seconds = if delay_level > 0 {
        let level = (delay_level as usize).min(MESSAGE_DELAY_LEVELS_S.len());
        MESSAGE_DELAY_LEVELS_S[level - 1]
    } else {
        let index = usize::try_from(reconsume_times)
            .unwrap_or(0)
            .min(POP_RETRY_DELAYS_S.len() - 1);
        POP_RETRY_DELAYS_S[index]
    };
    Duration::from_secs(seconds)
}

/// A popped message and its checkpoint.
struct Popped {
    message: StoredMessage,
    checkpoint: PopCheckpoint,
}

/// Popped messages of one pop task not yet acked or changed (flow control).
#[derive(Default)]
struct InFlight {
    count: AtomicUsize,
    progress: Notify,
}

impl InFlight {
    fn done(&self, n: usize) {
        self.count.fetch_sub(n, Ordering::Relaxed);
        self.progress.notify_waiters();
    }
}

/// What one pop task pops: a subscribed topic on one broker.
struct Source {
    /// Index into the engine's subscriptions.
    subscription: usize,
    /// Subscribed topic, namespaced.
    topic: String,
    broker: String,
}

/// Checks that the brokers of the subscribed topics can pop, before the consumer starts: a
/// `POP_MESSAGE` asking for 33 messages, which a 5.x broker refuses (`INVALID_PARAMETER`,
/// over its limit of 32) before popping anything, and a 4.9.x broker does not know.
///
/// # Errors
/// [`Error::PopNotSupported`] for the first broker that does not know the request. Brokers
/// that cannot be reached are left to the pop tasks.
pub(super) async fn check_brokers_support_pop(engine: &Engine) -> Result<()> {
    let api = engine.instance.api();
    for sub in popped_subscriptions(engine) {
        let Some(route) = engine.instance.route(&sub.topic) else {
            continue;
        };
        for broker in readable_brokers(&route) {
            let Some(addr) = engine.instance.master_addr(&broker) else {
                continue;
            };
            let header = PopMessageRequestHeader {
                consumer_group: engine.group.clone(),
                topic: sub.topic.clone(),
                queue_id: -1,
                max_msg_nums: 33,
                invisible_time: 60_000,
                poll_time: 0,
                born_time: now_ms(),
                init_mode: 1,
                exp_type: Some("TAG".into()),
                exp: Some(sub.expression.clone()),
                order: Some(false),
                attempt_id: None,
                broker_name: Some(broker.clone()),
            };
            let cmd = api.command(RequestCode::POP_MESSAGE, Some(&header));
            match api.invoke(&addr, cmd, api.deadline()).await {
                Ok(resp) if resp.response_code() == ResponseCode::REQUEST_CODE_NOT_SUPPORTED => {
                    return Err(Error::PopNotSupported { broker, addr });
                }
                Ok(resp) => {
                    debug!(group = %engine.group, broker = %broker, code = ?resp.response_code(), "broker knows POP_MESSAGE");
                }
                Err(e) => {
                    warn!(group = %engine.group, broker = %broker, addr, error = %e, "cannot check pop support; popping anyway");
                }
            }
        }
    }
    Ok(())
}

/// The subscriptions that are popped: all but the group's pull retry topic, which pop
/// consumption does not use (the broker keeps pop retries in `%RETRY%<group>_<topic>`).
fn popped_subscriptions(
    engine: &Engine,
) -> impl Iterator<Item = &super::subscription::Subscription> {
    engine
        .subscriptions
        .iter()
        .filter(|s| !s.topic.starts_with("%RETRY%"))
}

fn readable_brokers(route: &crate::protocol::TopicRouteData) -> Vec<String> {
    let mut brokers: Vec<String> = route
        .queue_datas
        .iter()
        .filter(|q| q.perm.is_readable() && q.read_queue_nums > 0)
        .map(|q| q.broker_name.clone())
        .collect();
    brokers.sort();
    brokers.dedup();
    brokers
}

impl Engine {
    /// Starts pop consumption: a broker watch per subscribed topic, which runs the pop tasks.
    pub(super) fn spawn_pop_service(self: &Arc<Self>, options: PopOptions) {
        let engine = self;
        let options = Arc::new(options);
        for (index, sub) in engine.subscriptions.iter().enumerate() {
            if sub.topic.starts_with("%RETRY%") {
                continue;
            }
            engine.tasks.spawn(watch_brokers(
                Arc::clone(engine),
                index,
                Arc::clone(&options),
            ));
        }
        info!(group = %engine.group, invisible_time = ?options.invisible_time, batch = options.batch_size, "pop consumption started");
    }
}

/// Keeps one pop task per readable broker of a subscribed topic.
async fn watch_brokers(engine: Arc<Engine>, subscription: usize, options: Arc<PopOptions>) {
    let topic = engine.subscriptions[subscription].topic.clone();
    let mut routes = engine.instance.route_changes();
    let mut running: HashMap<String, CancellationToken> = HashMap::new();
    loop {
        let route = match engine.instance.route(&topic) {
            Some(route) => Some(route),
            None => {
                let _ = engine
                    .instance
                    .update_topic_route(&topic, engine.instance.api().deadline())
                    .await;
                engine.instance.route(&topic)
            }
        };
        let brokers = route.as_deref().map(readable_brokers).unwrap_or_default();
        running.retain(|broker, stop| {
            let keep = brokers.contains(broker);
            if !keep {
                info!(group = %engine.group, topic = %topic, broker = %broker, "broker left the route; its pop task stops");
                stop.cancel();
            }
            keep
        });
        for broker in &brokers {
            if running.contains_key(broker) {
                continue;
            }
            let stop = engine.token.child_token();
            running.insert(broker.clone(), stop.clone());
            let source = Source {
                subscription,
                topic: topic.clone(),
                broker: broker.clone(),
            };
            engine.tasks.spawn(pop_loop(
                Arc::clone(&engine),
                source,
                Arc::clone(&options),
                stop,
            ));
        }
        let wait = if brokers.is_empty() {
            BROKER_WATCH_RETRY
        } else {
            BROKER_WATCH_INTERVAL
        };
        tokio::select! {
            _ = engine.token.cancelled() => return,
            changed = routes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Sleeps, unless `stop` comes first. Returns false when it did.
async fn sleep_or_stopped(stop: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(d) => true,
    }
}

/// Pops one topic from one broker until stopped.
async fn pop_loop(
    engine: Arc<Engine>,
    source: Source,
    options: Arc<PopOptions>,
    stop: CancellationToken,
) {
    let source = Arc::new(source);
    let in_flight = Arc::new(InFlight::default());
    let sub = &engine.subscriptions[source.subscription];
    debug!(group = %engine.group, topic = %source.topic, broker = %source.broker, "popping");
    loop {
        // Flow control: as Java, pause while too many popped messages wait.
        loop {
            let progress = in_flight.progress.notified();
            if in_flight.count.load(Ordering::Relaxed) < options.max_in_flight {
                break;
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = progress => {}
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
        if stop.is_cancelled() {
            return;
        }
        let Some(addr) = engine.instance.master_addr(&source.broker) else {
            let _ = engine
                .instance
                .update_topic_route(&source.topic, engine.instance.api().deadline())
                .await;
            if !sleep_or_stopped(&stop, POP_RETRY_DELAY).await {
                return;
            }
            continue;
        };
        let header = PopMessageRequestHeader {
            consumer_group: engine.group.clone(),
            topic: source.topic.clone(),
            queue_id: -1,
            max_msg_nums: options.batch_size,
            invisible_time: options.invisible_time.as_millis() as i64,
            poll_time: POLL_TIME.as_millis() as i64,
            born_time: now_ms(),
            init_mode: i32::from(engine.settings.consume_from != ConsumeFrom::FirstOffset),
            exp_type: Some("TAG".into()),
            exp: Some(sub.expression.clone()),
            order: Some(false),
            attempt_id: None,
            broker_name: Some(source.broker.clone()),
        };
        let api = engine.instance.api();
        let cmd = api.command(RequestCode::POP_MESSAGE, Some(&header));
        let asked = Instant::now();
        let response = tokio::select! {
            _ = stop.cancelled() => return,
            r = api.invoke(&addr, cmd, deadline_after(POP_TIMEOUT)) => r,
        };
        let delay = match response {
            Ok(resp) => on_pop_response(&engine, &source, &in_flight, &addr, resp, asked).await,
            Err(e) => {
                debug!(group = %engine.group, topic = %source.topic, broker = %source.broker, addr, error = %e, "pop failed");
                Some(POP_RETRY_DELAY)
            }
        };
        if let Some(delay) = delay {
            if !sleep_or_stopped(&stop, delay).await {
                return;
            }
        }
    }
}

/// Handles one pop answer; returns how long to wait before the next pop.
async fn on_pop_response(
    engine: &Arc<Engine>,
    source: &Arc<Source>,
    in_flight: &Arc<InFlight>,
    addr: &str,
    resp: RemotingCommand,
    asked: Instant,
) -> Option<Duration> {
    let code = resp.response_code();
    match code {
        ResponseCode::SUCCESS => {}
        ResponseCode::POLLING_TIMEOUT | ResponseCode::PULL_NOT_FOUND => {
            return (asked.elapsed() < MIN_HOLD).then_some(MIN_HOLD);
        }
        ResponseCode::POLLING_FULL => {
            debug!(group = %engine.group, broker = %source.broker, "broker's pop hold queue is full");
            return Some(POP_RETRY_DELAY);
        }
        ResponseCode::REQUEST_CODE_NOT_SUPPORTED => {
            warn!(group = %engine.group, broker = %source.broker, addr, "broker does not support pop; pop needs RocketMQ 5.x");
            return Some(BROKER_WATCH_INTERVAL);
        }
        _ => {
            warn!(group = %engine.group, topic = %source.topic, broker = %source.broker, addr, ?code, remark = ?resp.remark, "pop refused");
            return Some(POP_RETRY_DELAY);
        }
    }
    let header: PopMessageResponseHeader = match resp.decode_header() {
        Ok(h) => h,
        Err(e) => {
            warn!(group = %engine.group, broker = %source.broker, addr, error = %e, "pop answer without its header; the messages come back after their invisible time");
            return Some(POP_RETRY_DELAY);
        }
    };
    let rest = header.rest_num;
    let body = resp.body;
    let body_len = body.len();
    let broker = source.broker.clone();
    let decode = move || -> std::result::Result<Vec<StoredMessage>, String> {
        let mut messages =
            decode_stored_messages(body, InflateLimits::default()).map_err(|e| e.to_string())?;
        attach_pop_checkpoints(&header, &broker, &mut messages).map_err(|e| e.to_string())?;
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
            warn!(group = %engine.group, broker = %source.broker, error = %e, "pop body does not decode; the messages come back after their invisible time");
            return Some(POP_RETRY_DELAY);
        }
    };
    let sub = &engine.subscriptions[source.subscription];
    let handler_topic = without_namespace(engine.namespace.as_deref(), &source.topic);
    let mut kept = Vec::new();
    let mut unwanted = Vec::new();
    let mut dead = Vec::new();
    for mut message in messages {
        let Some(checkpoint) = message
            .property(property::POP_CK)
            .and_then(|ck| PopCheckpoint::parse(ck).ok())
        else {
            warn!(group = %engine.group, broker = %source.broker, msg_id = %message.msg_id(), "popped message without a valid checkpoint; it comes back after its invisible time");
            continue;
        };
        // The handler sees the subscribed topic, also for messages of the pop retry topic.
        message.topic = handler_topic.clone();
        // Bodies are slices of the pop's frame: a copy lets the frame go at once.
        message.body = bytes::Bytes::copy_from_slice(&message.body);
        let popped = Popped {
            message,
            checkpoint,
        };
        if !sub.matches(&popped.message) {
            unwanted.push(popped.checkpoint);
        } else if popped.message.reconsume_times > engine.settings.max_reconsume() {
            dead.push(popped);
        } else {
            kept.push(popped);
        }
    }
    debug!(group = %engine.group, broker = %source.broker, kept = kept.len(), filtered = unwanted.len(), dead = dead.len(), rest, "popped");
    // Java feeds pop results into the pull statistics.
    engine
        .stats
        .record_pull(&source.topic, asked.elapsed(), kept.len());
    if !unwanted.is_empty() {
        // Messages the tag check drops are done with, as Java's `processPopResult`.
        ack(engine, &source.topic, unwanted).await;
    }
    for popped in dead {
        to_dead_letter(engine, &source.topic, popped).await;
    }
    if kept.is_empty() {
        return None;
    }
    in_flight.count.fetch_add(kept.len(), Ordering::Relaxed);
    let mut by_queue: Vec<(i32, Vec<Popped>)> = Vec::new();
    for popped in kept {
        let queue_id = popped.checkpoint.queue_id;
        match by_queue.iter_mut().find(|(q, _)| *q == queue_id) {
            Some((_, list)) => list.push(popped),
            None => by_queue.push((queue_id, vec![popped])),
        }
    }
    let batch_size = engine.settings.consume_batch_size;
    for (_, mut list) in by_queue {
        while !list.is_empty() {
            let rest = list.split_off(batch_size.min(list.len()));
            let batch = std::mem::replace(&mut list, rest);
            engine.tasks.spawn(consume(
                Arc::clone(engine),
                Arc::clone(source),
                Arc::clone(in_flight),
                batch,
            ));
        }
    }
    None
}

/// A batch waiting for a handler slot: not handed to the handler once the consumer stops
/// (the broker hands the messages out again after their invisible time).
async fn consume(
    engine: Arc<Engine>,
    source: Arc<Source>,
    in_flight: Arc<InFlight>,
    batch: Vec<Popped>,
) {
    let permit = tokio::select! {
        _ = engine.token.cancelled() => {
            in_flight.done(batch.len());
            return;
        }
        p = Arc::clone(&engine.permits).acquire_owned() => match p {
            Ok(p) => p,
            Err(_) => {
                in_flight.done(batch.len());
                return;
            }
        },
    };
    let n = batch.len();
    let run: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
        Box::pin(run_batch(Arc::clone(&engine), source, batch, permit));
    run.await;
    in_flight.done(n);
}

async fn run_batch(
    engine: Arc<Engine>,
    source: Arc<Source>,
    batch: Vec<Popped>,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    // As Java's `isPopTimeout`: once visible again, the broker may have handed the messages
    // to another member; handling them here too would only make a duplicate.
    let visible_at = batch
        .iter()
        .map(|p| p.checkpoint.visible_at_ms())
        .min()
        .unwrap_or(i64::MAX);
    if now_ms() >= visible_at {
        debug!(group = %engine.group, broker = %source.broker, "popped messages waited past their invisible time; skipped");
        return;
    }
    let Some(first) = batch.first() else {
        return;
    };
    let mq = MessageQueue::new(
        source.topic.clone(),
        source.broker.clone(),
        first.checkpoint.queue_id,
    );
    let messages: Vec<StoredMessage> = batch.iter().map(|p| p.message.clone()).collect();
    let (n, handler_started) = (messages.len(), std::time::Instant::now());
    let result = engine.call_handler(&mq, messages).await;
    drop(permit);
    let handler_rt = handler_started.elapsed();
    engine.stats.record_consume_rt(&mq.topic, handler_rt);
    let ok = matches!(result, ConsumeResult::Success);
    engine
        .stats
        .record_consume_result(&mq.topic, handler_rt, ok, n);
    match result {
        ConsumeResult::Success => {
            ack(
                &engine,
                &source.topic,
                batch.into_iter().map(|p| p.checkpoint).collect(),
            )
            .await;
        }
        ConsumeResult::Later { delay_level } => {
            let later = batch.into_iter().map(|popped| {
                let engine = Arc::clone(&engine);
                let topic = source.topic.clone();
                async move {
                    if delay_level < 0
                        || popped.message.reconsume_times >= engine.settings.max_reconsume()
                    {
                        to_dead_letter(&engine, &topic, popped).await;
                    } else {
                        let delay = later_delay(delay_level, popped.message.reconsume_times);
                        if let Err(e) =
                            change_invisible_time(&engine, &topic, &popped.checkpoint, delay).await
                        {
                            warn!(group = %engine.group, msg_id = %popped.message.msg_id(), error = %e, "invisible time not changed; the message comes back after its invisible time");
                        }
                    }
                }
            });
            join_all(later).await;
        }
    }
}

/// The master of a checkpoint's broker (acks must go there).
async fn master_of(engine: &Engine, topic: &str, broker: &str) -> Result<String> {
    if let Some(addr) = engine.instance.master_addr(broker) {
        return Ok(addr);
    }
    engine
        .instance
        .update_topic_route(topic, engine.instance.api().deadline())
        .await?;
    engine
        .instance
        .master_addr(broker)
        .ok_or_else(|| Error::NoRoute {
            topic: topic.to_string(),
        })
}

/// Acks popped messages of the subscribed `topic` (namespaced): one `ACK_MESSAGE` for one
/// message, one `BATCH_ACK_MESSAGE` per broker for several. Failures are logged: the message
/// then comes back after its invisible time (at least once).
async fn ack(engine: &Engine, topic: &str, checkpoints: Vec<PopCheckpoint>) {
    let mut by_broker: Vec<(String, Vec<PopCheckpoint>)> = Vec::new();
    for ck in checkpoints {
        match by_broker.iter_mut().find(|(b, _)| *b == ck.broker_name) {
            Some((_, list)) => list.push(ck),
            None => by_broker.push((ck.broker_name.clone(), vec![ck])),
        }
    }
    for (broker, cks) in by_broker {
        let addr = match master_of(engine, topic, &broker).await {
            Ok(addr) => addr,
            Err(e) => {
                warn!(group = %engine.group, broker = %broker, error = %e, "no master to ack to; the messages come back after their invisible time");
                continue;
            }
        };
        let api = engine.instance.api();
        let batch = (cks.len() > 1)
            .then(|| batch_ack_body(&engine.group, topic, &cks))
            .flatten();
        if let Some(body) = batch {
            let cmd = api
                .command(RequestCode::BATCH_ACK_MESSAGE, None)
                .with_body(body);
            match api.invoke(&addr, cmd, deadline_after(ACK_TIMEOUT)).await {
                Ok(resp) if resp.response_code() == ResponseCode::SUCCESS => {
                    debug!(group = %engine.group, broker = %broker, n = cks.len(), "batch acked");
                }
                Ok(resp) => {
                    warn!(group = %engine.group, broker = %broker, code = ?resp.response_code(), remark = ?resp.remark, "batch ack refused; the messages come back after their invisible time")
                }
                Err(e) => {
                    warn!(group = %engine.group, broker = %broker, error = %e, "batch ack failed; the messages come back after their invisible time")
                }
            }
            continue;
        }
        let acks = cks.iter().map(|ck| {
            let api = &api;
            let addr = &addr;
            async move {
                let header = AckMessageRequestHeader {
                    consumer_group: engine.group.clone(),
                    topic: ck.kind.real_topic(topic, &engine.group),
                    queue_id: ck.queue_id,
                    extra_info: ck.to_string(),
                    offset: ck.queue_offset,
                    broker_name: Some(ck.broker_name.clone()),
                };
                let cmd = api.command(RequestCode::ACK_MESSAGE, Some(&header));
                match api.invoke(addr, cmd, deadline_after(ACK_TIMEOUT)).await {
                    Ok(resp) if resp.response_code() == ResponseCode::SUCCESS => {}
                    Ok(resp) => warn!(group = %engine.group, checkpoint = %ck, code = ?resp.response_code(), remark = ?resp.remark, "ack refused; the message comes back after its invisible time"),
                    Err(e) => warn!(group = %engine.group, checkpoint = %ck, error = %e, "ack failed; the message comes back after its invisible time"),
                }
            }
        });
        join_all(acks).await;
    }
}

/// Hides a popped message for `delay` from now (`CHANGE_MESSAGE_INVISIBLETIME`); the broker
/// hands it out again after that, with its reconsume times one higher.
async fn change_invisible_time(
    engine: &Engine,
    topic: &str,
    ck: &PopCheckpoint,
    delay: Duration,
) -> Result<()> {
    let addr = master_of(engine, topic, &ck.broker_name).await?;
    let header = ChangeInvisibleTimeRequestHeader {
        consumer_group: engine.group.clone(),
        topic: ck.kind.real_topic(topic, &engine.group),
        queue_id: ck.queue_id,
        extra_info: ck.to_string(),
        offset: ck.queue_offset,
        invisible_time: delay.as_millis() as i64,
        broker_name: Some(ck.broker_name.clone()),
    };
    let api = engine.instance.api();
    let cmd = api.command(RequestCode::CHANGE_MESSAGE_INVISIBLETIME, Some(&header));
    let resp = api.invoke(&addr, cmd, deadline_after(ACK_TIMEOUT)).await?;
    crate::client::expect_success(&addr, resp)?;
    debug!(group = %engine.group, checkpoint = %ck, ?delay, "message hidden until its retry");
    Ok(())
}

/// Moves a message that is out of retries (or that the handler sent there) to the group's
/// dead-letter topic (`CONSUMER_SEND_MSG_BACK`, delay level −1), then acks it. If the move
/// fails, the message is hidden for the longest retry delay and tried again then.
async fn to_dead_letter(engine: &Engine, topic: &str, popped: Popped) {
    let Popped {
        message,
        checkpoint,
    } = popped;
    let moved = async {
        let addr = master_of(engine, topic, &checkpoint.broker_name).await?;
        let header = ConsumerSendMsgBackRequestHeader {
            offset: message.commit_log_offset,
            group: engine.group.clone(),
            delay_level: -1,
            origin_msg_id: Some(message.msg_id().to_string()),
            origin_topic: Some(topic.to_string()),
            unit_mode: false,
            max_reconsume_times: Some(engine.settings.max_reconsume()),
            broker_name: Some(checkpoint.broker_name.clone()),
        };
        let api = engine.instance.api();
        api.send_message_back(&addr, &header, deadline_after(ACK_TIMEOUT))
            .await
    };
    match moved.await {
        Ok(()) => {
            info!(group = %engine.group, msg_id = %message.msg_id(), reconsume_times = message.reconsume_times, "message moved to the dead-letter topic");
            ack(engine, topic, vec![checkpoint]).await;
        }
        Err(e) => {
            warn!(group = %engine.group, msg_id = %message.msg_id(), error = %e, "message not moved to the dead-letter topic; trying again later");
            let longest = Duration::from_secs(POP_RETRY_DELAYS_S[POP_RETRY_DELAYS_S.len() - 1]);
            let _ = change_invisible_time(engine, topic, &checkpoint, longest).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_delays_follow_java_pop_table_or_the_delay_level() {
        assert_eq!(later_delay(0, 0), Duration::from_secs(10));
        assert_eq!(later_delay(0, 1), Duration::from_secs(30));
        assert_eq!(later_delay(0, 15), Duration::from_secs(7200));
        assert_eq!(later_delay(0, 99), Duration::from_secs(7200));
        assert_eq!(later_delay(1, 5), Duration::from_secs(1));
        assert_eq!(later_delay(2, 0), Duration::from_secs(5));
        assert_eq!(later_delay(18, 0), Duration::from_secs(7200));
        assert_eq!(later_delay(40, 0), Duration::from_secs(7200));
    }
}
