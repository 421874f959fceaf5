//! Every send path of [`Producer`], on one engine: validate, wait for room (back-pressure),
//! prepare (unique id, properties, compression), find the route, then up to `1 + retries`
//! attempts inside one deadline, each on another broker when there is one, steered by the
//! latency fault tolerance.
//!
//! ```text
//!  send / send_batch / send_oneway / send_to_queue / send_with_selector
//!      │ validate (typed errors, no network)
//!      │ permits: messages + bytes in flight, waiting at most until the deadline
//!      │ prepare: UNIQ_KEY, properties string, compression (single messages only)
//!      │ publish info: cached │ name server (single-flight) │ TBW102 template (auto-create)
//!      └ attempts ─ pick queue (fault tolerance, avoid last broker) ─ SEND_MESSAGE_V2/BATCH
//!                   └ each capped at remaining / attempts left; failures isolate the broker
//! ```

use std::sync::Arc;

use tokio::sync::SemaphorePermit;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::prepared::{Prepared, PubTraceMeta};
use super::{
    Inner, Message, MessageQueueSelector, Producer, ProducerState, SendResult, SendStatus,
};
use crate::client::validate::{
    check_send_topic, check_wire_topic_len, without_namespace, wrap_namespace,
};
use crate::client::{MessageQueue, TopicPublishInfo, TraceEvent};
use crate::error::{Error, Result, ValidationError};
use crate::protocol::{
    compress, encode_batch, encode_properties, property, sys_flag_for, BatchEntry, BatchError,
    PubTrace, RemotingCommand, RequestCode, ResponseCode, SendMessageRequestHeaderV2,
    SendMessageResponseHeader, SysFlag, TraceMessageType, TraceRecord, UniqIdGenerator,
    DEFAULT_TRACE_REGION,
};
use crate::util::{deadline_after, now_ms};

/// Longest encoded properties string the broker stores (a 16-bit length, `Short.MAX_VALUE`).
const MAX_PROPERTIES_LEN: usize = i16::MAX as usize;

/// Permits for one send: released when the send ends, however it ends.
struct Permits<'a> {
    _messages: SemaphorePermit<'a>,
    _bytes: Option<SemaphorePermit<'a>>,
}

/// A send that passed the checks: prepared for the wire, counted in flight, holding its
/// permits, with its one deadline.
pub(super) struct Started<'a> {
    _in_flight: super::InFlight<'a>,
    _permits: Permits<'a>,
    pub(super) deadline: Instant,
    pub(super) prepared: Prepared,
}

/// What a started send holds while it is in flight, once its message was handed on.
pub(super) struct Held<'a> {
    _in_flight: super::InFlight<'a>,
    _permits: Permits<'a>,
}

impl<'a> Started<'a> {
    /// Separates the message from what the send holds until it ends.
    pub(super) fn split(self) -> (Held<'a>, Prepared) {
        (
            Held {
                _in_flight: self._in_flight,
                _permits: self._permits,
            },
            self.prepared,
        )
    }
}

impl Inner {
    /// The common start of every send path: validate and prepare (no network), count it in
    /// flight, refuse after shutdown, set the deadline, wait for room within it.
    async fn begin(&self, prepared: Result<Prepared>, state: ProducerState) -> Result<Started<'_>> {
        let deadline = deadline_after(self.settings.send_timeout);
        self.begin_until(prepared, state, deadline).await
    }

    /// [`Self::begin`] with a deadline of the caller's (a request's timeout).
    pub(super) async fn begin_until(
        &self,
        prepared: Result<Prepared>,
        state: ProducerState,
        deadline: Instant,
    ) -> Result<Started<'_>> {
        let prepared = prepared?;
        let in_flight = self.track();
        if state != ProducerState::Running {
            return Err(Error::Shutdown);
        }
        let permits = self.acquire(prepared.body.len(), deadline).await?;
        Ok(Started {
            _in_flight: in_flight,
            _permits: permits,
            deadline,
            prepared,
        })
    }

    fn validate_message(&self, msg: &Message) -> Result<(), ValidationError> {
        msg.validate_within(self.settings.max_message_size)
    }

    /// Waits (until `deadline`) for room for one more message of `bytes` bytes in flight.
    async fn acquire(&self, bytes: usize, deadline: Instant) -> Result<Permits<'_>> {
        let overloaded = || Error::BackPressure {
            max_messages: self.settings.max_in_flight_messages,
            max_bytes: self.settings.max_in_flight_bytes,
        };
        let messages = tokio::time::timeout_at(deadline, self.message_permits.acquire())
            .await
            .map_err(|_| overloaded())?
            .map_err(|_| Error::Shutdown)?;
        // A message larger than the whole byte budget takes all of it rather than waiting
        // forever.
        let want = bytes.min(self.settings.max_in_flight_bytes) as u32;
        let bytes = if want == 0 {
            None
        } else {
            Some(
                tokio::time::timeout_at(deadline, self.byte_permits.acquire_many(want))
                    .await
                    .map_err(|_| overloaded())?
                    .map_err(|_| Error::Shutdown)?,
            )
        };
        Ok(Permits {
            _messages: messages,
            _bytes: bytes,
        })
    }

    /// Properties of one message, with `UNIQ_KEY` and (with a namespace) `INSTANCE_ID`.
    fn properties_of(&self, msg: &Message, uniq_key: &str) -> String {
        let mut props: Vec<(&str, &str)> = Vec::with_capacity(8 + msg.properties.len());
        if let Some(tags) = &msg.tags {
            props.push(("TAGS", tags));
        }
        let keys = msg.keys.join(" ");
        if !keys.is_empty() {
            props.push(("KEYS", &keys));
        }
        props.push((
            "WAIT",
            if msg.wait_store_msg_ok {
                "true"
            } else {
                "false"
            },
        ));
        // Formatted only when set: most messages have no delay.
        let delay = (msg.delay_level > 0).then(|| msg.delay_level.to_string());
        if let Some(delay) = &delay {
            props.push(("DELAY", delay));
        }
        let deliver = msg.deliver_time_ms.map(|t| t.to_string());
        if let Some(deliver) = &deliver {
            props.push(("TIMER_DELIVER_MS", deliver));
        }
        for (k, v) in &msg.properties {
            props.push((k, v));
        }
        for (k, v) in &msg.system_properties {
            props.push((k, v));
        }
        props.push(("UNIQ_KEY", uniq_key));
        if let Some(ns) = &self.namespace {
            props.push(("INSTANCE_ID", ns));
        }
        encode_properties(props)
    }

    /// Checks and encodes one message.
    pub(super) fn prepare(&self, msg: &Message) -> Result<Prepared> {
        self.validate_message(msg)?;
        let uniq_key = UniqIdGenerator::global().next_id();
        let properties = self.properties_of(msg, &uniq_key);
        if properties.len() > MAX_PROPERTIES_LEN {
            return Err(ValidationError::PropertiesTooLong {
                len: properties.len(),
                max: MAX_PROPERTIES_LEN,
            }
            .into());
        }
        let (body, sys_flag) = match self.settings.compression {
            // Java compresses bodies of at least the threshold.
            Some((kind, level)) if msg.body.len() >= self.settings.compress_threshold => {
                match compress(kind, level, &msg.body) {
                    Ok(compressed) => (compressed, sys_flag_for(kind)),
                    Err(e) => {
                        // Java sends uncompressed when compression fails.
                        warn!(error = %e, "compression failed, sending uncompressed");
                        (msg.body.clone(), 0)
                    }
                }
            }
            _ => (msg.body.clone(), 0),
        };
        let reply = msg.is_reply();
        // A reply goes to the cluster's own reply topic, which no namespace prefixes.
        let topic = if reply {
            msg.topic.clone()
        } else {
            wrap_namespace(self.namespace.as_deref(), &msg.topic)
        };
        check_wire_topic_len(&topic)?;
        let trace = self.trace.get().is_some().then(|| {
            let delayed = msg.delay_level > 0 || msg.deliver_time_ms.is_some();
            Box::new(PubTraceMeta {
                tags: msg.tags.clone(),
                keys: (!msg.keys.is_empty()).then(|| msg.keys.join(" ")),
                msg_type: if delayed {
                    TraceMessageType::Delay
                } else {
                    TraceMessageType::Normal
                },
            })
        });
        Ok(Prepared {
            topic,
            body,
            sys_flag,
            flag: msg.flag,
            properties,
            uniq_keys: vec![uniq_key],
            batch: false,
            reply,
            trace,
        })
    }

    /// Checks and encodes the half message of a transaction (Java
    /// `sendMessageInTransaction`): no delay level, properties `TRAN_MSG=true` and
    /// `PGROUP=<group>`, the transaction-prepared sysFlag bit.
    fn prepare_half(&self, msg: &Message) -> Result<Prepared> {
        let mut msg = msg.clone();
        msg.delay_level = 0;
        let mut prepared = self.prepare(&msg)?;
        let extra = encode_properties([
            (property::TRANSACTION_PREPARED, "true"),
            (property::PRODUCER_GROUP, self.group.as_str()),
        ]);
        prepared.properties = format!("{}\u{2}{extra}", prepared.properties);
        if prepared.properties.len() > MAX_PROPERTIES_LEN {
            return Err(ValidationError::PropertiesTooLong {
                len: prepared.properties.len(),
                max: MAX_PROPERTIES_LEN,
            }
            .into());
        }
        prepared.sys_flag |= SysFlag::TRANSACTION_PREPARED;
        if let Some(meta) = &mut prepared.trace {
            meta.msg_type = TraceMessageType::TransactionHalf;
        }
        Ok(prepared)
    }

    fn prepare_batch(&self, msgs: &[Message]) -> Result<Prepared> {
        let first = msgs.first().ok_or(ValidationError::BatchEmpty)?;
        for m in msgs {
            self.validate_message(m)?;
            if m.topic != first.topic {
                return Err(ValidationError::BatchMixedTopics {
                    first: first.topic.clone(),
                    other: m.topic.clone(),
                }
                .into());
            }
            if m.delay_level > 0 || m.deliver_time_ms.is_some() {
                return Err(ValidationError::BatchDelayed.into());
            }
            if m.wait_store_msg_ok != first.wait_store_msg_ok {
                return Err(ValidationError::BatchWaitMismatch.into());
            }
        }
        if first.topic.starts_with("%RETRY%") {
            return Err(ValidationError::BatchRetryTopic.into());
        }
        let topic = wrap_namespace(self.namespace.as_deref(), &first.topic);
        check_wire_topic_len(&topic)?;
        let uniq_keys: Vec<String> = msgs
            .iter()
            .map(|_| UniqIdGenerator::global().next_id())
            .collect();
        let props: Vec<String> = msgs
            .iter()
            .zip(&uniq_keys)
            .map(|(m, k)| self.properties_of(m, k))
            .collect();
        let body = encode_batch(msgs.iter().zip(&props).map(|(m, p)| BatchEntry {
            flag: m.flag,
            body: &m.body,
            properties: p,
        }))
        .map_err(|e| match e {
            BatchError::PropertiesTooLong { len, .. } => ValidationError::PropertiesTooLong {
                len,
                max: MAX_PROPERTIES_LEN,
            },
            _ => ValidationError::BatchTooLarge {
                len: msgs.iter().map(|m| m.body.len()).sum(),
                max: self.settings.max_message_size,
            },
        })?;
        if body.len() > self.settings.max_message_size {
            return Err(ValidationError::BatchTooLarge {
                len: body.len(),
                max: self.settings.max_message_size,
            }
            .into());
        }
        let wait = if first.wait_store_msg_ok {
            "true"
        } else {
            "false"
        };
        Ok(Prepared {
            topic,
            body,
            sys_flag: 0,
            flag: 0,
            properties: encode_properties([("WAIT", wait)]),
            uniq_keys,
            batch: true,
            reply: false,
            // Java traces a batch as one message without tags or keys.
            trace: self.trace.get().is_some().then(|| {
                Box::new(PubTraceMeta {
                    tags: None,
                    keys: None,
                    msg_type: TraceMessageType::Normal,
                })
            }),
        })
    }

    /// Publish info for `topic`: cached, else from the name server (one lookup shared by
    /// concurrent callers), else from the auto-create template.
    pub(super) async fn publish_info(
        &self,
        topic: &str,
        deadline: Instant,
    ) -> Result<Arc<TopicPublishInfo>> {
        let instance = &self.instance;
        if let Some(info) = instance.publish_info(topic).filter(|i| i.ok()) {
            return Ok(info);
        }
        let lookup_timeout = || Error::DeadlineExceeded {
            operation: "route lookup",
            timeout: self.settings.send_timeout,
        };
        // The lookup's own failure (a refused or stalled name server) is what the caller sees
        // when the template cannot stand in either, never a bare "no route".
        let lookup_error =
            match tokio::time::timeout_at(deadline, instance.ensure_publish_info(topic, deadline))
                .await
            {
                Ok(Ok(Some(info))) => return Ok(info),
                Ok(Ok(None)) => None,
                Ok(Err(e)) => {
                    debug!(topic, error = %e, "route lookup failed");
                    Some(e)
                }
                Err(_) => return Err(lookup_timeout()),
            };
        // Auto-create: the template's route, queue counts capped, under the user topic's name.
        let key = &self.settings.create_topic_key;
        let template = match instance.routes().get(key.as_str()).cloned() {
            Some(t) => Some(t),
            None if lookup_error.is_none() => {
                match tokio::time::timeout_at(deadline, instance.update_topic_route(key, deadline))
                    .await
                {
                    Ok(Ok(_)) => instance.routes().get(key.as_str()).cloned(),
                    Ok(Err(e)) => return Err(e),
                    Err(_) => return Err(lookup_timeout()),
                }
            }
            None => None,
        };
        let Some(template) = template else {
            return Err(lookup_error.unwrap_or_else(|| Error::NoRoute {
                topic: topic.to_string(),
            }));
        };
        let mut route = (*template).clone();
        let cap = self.settings.default_topic_queue_nums;
        for q in &mut route.queue_datas {
            q.read_queue_nums = q.read_queue_nums.min(cap);
            q.write_queue_nums = q.write_queue_nums.min(cap);
        }
        let info = TopicPublishInfo::from_route(topic, &route);
        if !info.ok() {
            return Err(Error::NoRoute {
                topic: topic.to_string(),
            });
        }
        // Kept for the next sends, as Java does, until the topic's own route shows up.
        Ok(instance.set_template_publish_info(topic, Arc::new(info)))
    }

    /// Picks the queue for the next attempt.
    fn pick_queue(
        &self,
        info: &TopicPublishInfo,
        last_broker: Option<&str>,
    ) -> Option<MessageQueue> {
        if self.settings.fault_tolerance {
            let start = info.next_index();
            super::fault::select_queue(
                &info.queues,
                start,
                last_broker,
                &self.fault,
                std::time::Instant::now(),
            )
            .cloned()
        } else {
            info.select_queue(last_broker).cloned()
        }
    }

    /// The request that sends `prepared` to `queue`, and the broker address to send it to.
    fn request_for(
        &self,
        queue: &MessageQueue,
        prepared: &Prepared,
    ) -> Result<(String, RemotingCommand)> {
        let instance = &self.instance;
        let Some(mut addr) = instance.master_addr(&queue.broker_name) else {
            return Err(Error::NoRoute {
                topic: without_namespace(self.namespace.as_deref(), &queue.topic),
            });
        };
        if self.vip_channel {
            addr = super::vip_addr(&addr);
        }
        let header = SendMessageRequestHeaderV2 {
            producer_group: self.group.clone(),
            topic: queue.topic.clone(),
            default_topic: self.settings.create_topic_key.clone(),
            default_topic_queue_nums: self.settings.default_topic_queue_nums,
            queue_id: queue.queue_id,
            sys_flag: prepared.sys_flag,
            born_timestamp: now_ms(),
            flag: prepared.flag,
            properties: Some(prepared.properties.clone()),
            reconsume_times: Some(0),
            unit_mode: Some(false),
            max_reconsume_times: None,
            batch: Some(prepared.batch),
            broker_name: Some(queue.broker_name.clone()),
        };
        let code = if prepared.batch {
            RequestCode::SEND_BATCH_MESSAGE
        } else if prepared.reply {
            // Java `sendKernelImpl`: a message with `MSG_TYPE=reply` takes the reply path.
            RequestCode::SEND_REPLY_MESSAGE_V2
        } else {
            RequestCode::SEND_MESSAGE_V2
        };
        let cmd = instance
            .api()
            .command(code, Some(&header))
            .with_body(prepared.body.clone());
        Ok((addr, cmd))
    }

    /// Writes `prepared` to the broker of `queue` without waiting for an answer.
    async fn attempt_oneway(
        &self,
        queue: &MessageQueue,
        prepared: &Prepared,
        deadline: Instant,
    ) -> Result<()> {
        let (addr, cmd) = self.request_for(queue, prepared)?;
        let timeout = deadline.saturating_duration_since(Instant::now());
        self.instance.api().pool().oneway(&addr, cmd, timeout).await
    }

    /// Sends `prepared` to the broker of `queue` and reads the result, before `deadline`.
    async fn attempt(
        &self,
        queue: &MessageQueue,
        prepared: &Prepared,
        deadline: Instant,
    ) -> Result<SendResult> {
        let (addr, cmd) = self.request_for(queue, prepared)?;
        let timeout = deadline.saturating_duration_since(Instant::now());
        let mut resp = self
            .instance
            .api()
            .pool()
            .request(&addr, cmd, timeout)
            .await?;
        let status = match resp.response_code() {
            ResponseCode::SUCCESS => SendStatus::SendOk,
            ResponseCode::FLUSH_DISK_TIMEOUT => SendStatus::FlushDiskTimeout,
            ResponseCode::FLUSH_SLAVE_TIMEOUT => SendStatus::FlushSlaveTimeout,
            ResponseCode::SLAVE_NOT_AVAILABLE => SendStatus::SlaveNotAvailable,
            code => {
                return Err(Error::from_response(
                    &addr,
                    code,
                    resp.remark.take().unwrap_or_default(),
                ))
            }
        };
        let h: SendMessageResponseHeader =
            resp.decode_header().map_err(|e| Error::InvalidResponse {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
        Ok(SendResult {
            status,
            msg_id: prepared.uniq_keys.join(","),
            offset_msg_id: h.msg_id,
            queue: MessageQueue {
                topic: without_namespace(self.namespace.as_deref(), &queue.topic),
                broker_name: queue.broker_name.clone(),
                queue_id: h.queue_id,
            },
            queue_offset: h.queue_offset,
            transaction_id: h.transaction_id,
            region_id: resp
                .ext_fields
                .get(property::MSG_REGION)
                .filter(|r| !r.is_empty())
                .unwrap_or(DEFAULT_TRACE_REGION)
                .to_string(),
            trace_on: resp.ext_fields.get(property::TRACE_SWITCH) != Some("false"),
        })
    }

    /// Records the publish trace of an attempt the broker answered (Java
    /// `SendMessageTraceHookImpl.sendMessageAfter`: not when the broker turned tracing off).
    pub(super) fn trace_publish(
        &self,
        prepared: &Prepared,
        queue: &MessageQueue,
        result: &SendResult,
        started_ms: i64,
        elapsed: std::time::Duration,
    ) {
        let (Some(trace), Some(meta)) = (self.trace.get(), &prepared.trace) else {
            return;
        };
        if !result.trace_on {
            return;
        }
        let topic = without_namespace(self.namespace.as_deref(), &prepared.topic);
        let store_host = self
            .instance
            .master_addr(&queue.broker_name)
            .unwrap_or_default();
        let record = TraceRecord::Pub(PubTrace {
            timestamp_ms: started_ms,
            region_id: result.region_id.clone(),
            group: without_namespace(self.namespace.as_deref(), &self.group),
            topic: topic.clone(),
            msg_id: result.msg_id.clone(),
            tags: meta.tags.clone(),
            keys: meta.keys.clone(),
            store_host,
            body_length: prepared.body.len(),
            cost_ms: elapsed.as_millis() as u64,
            msg_type: meta.msg_type,
            offset_msg_id: result.offset_msg_id.clone(),
            success: result.status == SendStatus::SendOk,
        });
        trace.record(TraceEvent {
            topic,
            records: vec![record],
        });
    }

    /// [`Self::attempts`], its outcome published as metrics (once per send).
    pub(super) async fn run_attempts(
        &self,
        prepared: &Prepared,
        fixed_queue: Option<MessageQueue>,
        deadline: Instant,
        attempts: u32,
    ) -> Result<SendResult> {
        let started = std::time::Instant::now();
        let result = self
            .attempts(prepared, fixed_queue, deadline, attempts)
            .await;
        crate::metrics::record_send(&prepared.topic, result.is_ok(), started.elapsed());
        result
    }

    /// Up to `attempts` attempts inside `deadline`.
    async fn attempts(
        &self,
        prepared: &Prepared,
        fixed_queue: Option<MessageQueue>,
        deadline: Instant,
        attempts: u32,
    ) -> Result<SendResult> {
        let info = match &fixed_queue {
            Some(_) => None,
            None => Some(self.publish_info(&prepared.topic, deadline).await?),
        };
        let mut last_broker: Option<String> = None;
        let mut last_err: Option<Error> = None;
        let mut last_result: Option<SendResult> = None;
        let mut made = 0;
        for attempt in 1..=attempts {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let queue = match (&fixed_queue, &info) {
                (Some(q), _) => q.clone(),
                (None, Some(info)) => match self.pick_queue(info, last_broker.as_deref()) {
                    Some(q) => q,
                    None => break,
                },
                (None, None) => break,
            };
            // Later attempts still get their share of the time that is left.
            let left = deadline - now;
            let attempt_deadline = now + left / (attempts - attempt + 1);
            made += 1;
            let started = std::time::Instant::now();
            let started_ms = now_ms();
            let outcome = self.attempt(&queue, prepared, attempt_deadline).await;
            let elapsed = started.elapsed();
            match outcome {
                Ok(result) => {
                    self.trace_publish(prepared, &queue, &result, started_ms, elapsed);
                    self.fault.update(
                        &queue.broker_name,
                        elapsed,
                        false,
                        std::time::Instant::now(),
                    );
                    if result.status != SendStatus::SendOk
                        && self.settings.retry_another_broker_when_not_store_ok
                        && attempt < attempts
                    {
                        debug!(topic = %prepared.topic, broker = %queue.broker_name, status = ?result.status, "not stored OK, trying another broker");
                        last_broker = Some(queue.broker_name.clone());
                        last_result = Some(result);
                    } else {
                        return Ok(result);
                    }
                }
                Err(e) if e.is_retriable() => {
                    // As Java 5.x: a broker that answered an error is reachable-but-failing
                    // only in name; it is isolated and marked unreachable. A transport error
                    // isolates it too.
                    let now = std::time::Instant::now();
                    match e {
                        Error::Server { .. } => self.fault.update_reachable(
                            &queue.broker_name,
                            elapsed,
                            true,
                            false,
                            now,
                        ),
                        _ => self.fault.update(&queue.broker_name, elapsed, true, now),
                    }
                    debug!(topic = %prepared.topic, broker = %queue.broker_name, attempt, error = %e, "send attempt failed");
                    last_broker = Some(queue.broker_name.clone());
                    last_err = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(result) = last_result {
            return Ok(result);
        }
        let last = last_err.unwrap_or(Error::DeadlineExceeded {
            operation: "send",
            timeout: self.settings.send_timeout,
        });
        if made <= 1 && attempts == 1 {
            return Err(last);
        }
        Err(Error::RetriesExhausted {
            attempts: made,
            last: Box::new(last),
        })
    }
}

impl Producer {
    /// Sends one message and waits until the broker stored it.
    ///
    /// Up to `1 + retries` attempts inside one deadline (`send_timeout`, route lookups
    /// included); each attempt gets at most its share of the time left, and the next one goes
    /// to another broker when there is one. Waits for room when too much is in flight.
    ///
    /// Cancel safety: dropping the future may still leave the message stored.
    ///
    /// # Errors
    /// [`Error::Validation`] (before any network), [`Error::Shutdown`],
    /// [`Error::BackPressure`], [`Error::NoRoute`], [`Error::RetriesExhausted`], or a
    /// non-retriable broker answer ([`Error::Server`]).
    pub async fn send(&self, msg: Message) -> Result<SendResult> {
        let inner = &*self.inner;
        let started = inner.begin(inner.prepare(&msg), self.state()).await?;
        let attempts = 1 + inner.settings.retries;
        if inner.batchable(&msg) {
            return self
                .send_auto(started, msg.wait_store_msg_ok, None, attempts)
                .await;
        }
        inner
            .run_attempts(&started.prepared, None, started.deadline, attempts)
            .await
    }

    /// Sends the half message of a transaction with the retries of [`Producer::send`]
    /// (used by [`Producer::send_in_transaction`]).
    pub(super) async fn send_half(&self, msg: &Message) -> Result<SendResult> {
        let inner = &*self.inner;
        let started = inner.begin(inner.prepare_half(msg), self.state()).await?;
        let attempts = 1 + inner.settings.retries;
        inner
            .run_attempts(&started.prepared, None, started.deadline, attempts)
            .await
    }

    /// Sends a batch of messages of one topic in one request (`SEND_BATCH_MESSAGE`), with
    /// the retries of [`Producer::send`]. Bodies are never compressed in a batch.
    ///
    /// The result's `msg_id` and `offset_msg_id` list every message, comma-separated.
    ///
    /// # Errors
    /// As [`Producer::send`], plus the batch rules ([`ValidationError::BatchMixedTopics`] …).
    pub async fn send_batch(&self, msgs: Vec<Message>) -> Result<SendResult> {
        let inner = &*self.inner;
        let started = inner
            .begin(inner.prepare_batch(&msgs), self.state())
            .await?;
        let attempts = 1 + inner.settings.retries;
        inner
            .run_attempts(&started.prepared, None, started.deadline, attempts)
            .await
    }

    /// Sends without waiting for the broker: one attempt, no result (Java `sendOneway`).
    ///
    /// # Errors
    /// As [`Producer::send`], for what happens before the message is written.
    pub async fn send_oneway(&self, msg: Message) -> Result<()> {
        let inner = &*self.inner;
        let started = inner.begin(inner.prepare(&msg), self.state()).await?;
        let (prepared, deadline) = (&started.prepared, started.deadline);
        let info = inner.publish_info(&prepared.topic, deadline).await?;
        let queue = inner
            .pick_queue(&info, None)
            .ok_or_else(|| Error::NoRoute {
                topic: msg.topic.clone(),
            })?;
        let started_at = std::time::Instant::now();
        let outcome = inner.attempt_oneway(&queue, prepared, deadline).await;
        crate::metrics::record_send(&prepared.topic, outcome.is_ok(), started_at.elapsed());
        inner.fault.update(
            &queue.broker_name,
            started_at.elapsed(),
            outcome.is_err(),
            std::time::Instant::now(),
        );
        outcome
    }

    /// Sends to one given queue (one attempt: the caller chose the queue).
    ///
    /// # Errors
    /// As [`Producer::send`], plus [`ValidationError::QueueTopicMismatch`].
    pub async fn send_to_queue(&self, msg: Message, queue: &MessageQueue) -> Result<SendResult> {
        let inner = &*self.inner;
        let prepared = inner.prepare(&msg).and_then(|p| {
            if queue.topic == msg.topic {
                Ok(p)
            } else {
                Err(ValidationError::QueueTopicMismatch {
                    queue_topic: queue.topic.clone(),
                    message_topic: msg.topic.clone(),
                }
                .into())
            }
        });
        let started = inner.begin(prepared, self.state()).await?;
        // Make sure the broker's address is known.
        inner
            .publish_info(&started.prepared.topic, started.deadline)
            .await?;
        let target = MessageQueue {
            topic: started.prepared.topic.clone(),
            ..queue.clone()
        };
        if inner.batchable(&msg) {
            return self
                .send_auto(started, msg.wait_store_msg_ok, Some(target), 1)
                .await;
        }
        inner
            .run_attempts(&started.prepared, Some(target), started.deadline, 1)
            .await
    }

    /// Sends to the queue `selector` picks for `arg` among the topic's queues — for ordered
    /// messages: the same `arg` always lands on the same queue while the route is unchanged.
    /// One attempt, as in Java (retrying elsewhere would break the order).
    ///
    /// # Errors
    /// As [`Producer::send`], plus [`ValidationError::SelectorOutOfRange`].
    pub async fn send_with_selector<A, S>(
        &self,
        msg: Message,
        selector: &S,
        arg: &A,
    ) -> Result<SendResult>
    where
        A: ?Sized + Sync,
        S: MessageQueueSelector<A> + ?Sized,
    {
        let inner = &*self.inner;
        let started = inner.begin(inner.prepare(&msg), self.state()).await?;
        let (prepared, deadline) = (&started.prepared, started.deadline);
        let info = inner.publish_info(&prepared.topic, deadline).await?;
        let user_queues: Vec<MessageQueue> = info
            .queues
            .iter()
            .map(|q| MessageQueue {
                topic: without_namespace(inner.namespace.as_deref(), &q.topic),
                ..q.clone()
            })
            .collect();
        let index = selector.select(&user_queues, &msg, arg);
        let Some(chosen) = info.queues.get(index).cloned() else {
            return Err(ValidationError::SelectorOutOfRange {
                index,
                queues: info.queues.len(),
            }
            .into());
        };
        if inner.batchable(&msg) {
            return self
                .send_auto(started, msg.wait_store_msg_ok, Some(chosen), 1)
                .await;
        }
        inner
            .run_attempts(prepared, Some(chosen), deadline, 1)
            .await
    }

    /// The queues a send to `topic` can use now (looked up if needed), for
    /// [`Producer::send_to_queue`].
    ///
    /// # Errors
    /// [`Error::NoRoute`] and lookup errors.
    pub async fn queues(&self, topic: &str) -> Result<Vec<MessageQueue>> {
        check_send_topic(topic)?;
        let inner = &*self.inner;
        let wire_topic = wrap_namespace(inner.namespace.as_deref(), topic);
        check_wire_topic_len(&wire_topic)?;
        let deadline = deadline_after(inner.settings.send_timeout);
        let info = inner.publish_info(&wire_topic, deadline).await?;
        Ok(info
            .queues
            .iter()
            .map(|q| MessageQueue {
                topic: topic.to_string(),
                ..q.clone()
            })
            .collect())
    }
}
