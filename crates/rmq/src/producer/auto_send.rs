//! Sends through the auto-batching accumulator (`accumulator.rs`): a message joins the open
//! batch of its key and its caller awaits its own share of the batch's result, while the
//! batch itself is sent by a task of the producer's, so a caller that gives up never cancels
//! its batch-mates' send.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tracing::debug;

use super::accumulator::{Batch, BatchKey, Member};
use super::prepared::Prepared;
use super::send::Started;
use super::{Inner, Message, Producer, SendResult};
use crate::client::MessageQueue;
use crate::error::{Error, Result, ValidationError};
use crate::protocol::{
    encode_batch, encode_properties, BatchEntry, BATCH_ENTRY_OVERHEAD, RETRY_TOPIC_PREFIX,
};
use crate::util::now_ms;

/// How much later than its deadline a caller still waits for its batch's answer: the batch
/// is sent within the earliest member's deadline, and this covers the hand-over.
const RESULT_GRACE: Duration = Duration::from_millis(100);

impl Inner {
    /// Whether `msg` goes through the accumulator: auto-batching is on and a batch can carry
    /// the message as well as a single send would (see [`super::AutoBatch`]).
    pub(super) fn batchable(&self, msg: &Message) -> bool {
        let Some(accumulator) = &self.accumulator else {
            return false;
        };
        let compressed = self.settings.compression.is_some()
            && msg.body.len() >= self.settings.compress_threshold;
        msg.delay_level == 0
            && msg.deliver_time_ms.is_none()
            && !msg.topic.starts_with(RETRY_TOPIC_PREFIX)
            && !msg.is_reply()
            && !compressed
            && msg.body.len() < accumulator.config.byte_limit()
    }

    /// Sends one batch the accumulator handed out and gives every member its result.
    async fn send_batch_now(&self, batch: Batch) {
        let Batch { key, mut members } = batch;
        // A caller that gave up before its batch left does not want its message sent.
        members.retain(|m| !m.reply.is_closed());
        let attempts = if key.queue.is_some() {
            1
        } else {
            1 + self.settings.retries
        };
        let deadline = Batch::deadline_of(&members);
        if members.len() <= 1 {
            // Alone after all: a plain send, compressed-free and cheaper for the broker.
            if let Some(member) = members.pop() {
                let result = self
                    .run_attempts(&member.prepared, key.queue, deadline, attempts)
                    .await;
                let _ = member.reply.send(result);
            }
            return;
        }
        let body = match encode_batch(members.iter().map(|m| BatchEntry {
            flag: m.prepared.flag,
            body: &m.prepared.body,
            properties: &m.prepared.properties,
        })) {
            Ok(body) => body,
            Err(e) => {
                // Each member was checked alone; only a bug gets here.
                let error = Error::Validation(ValidationError::BatchTooLarge {
                    len: members.iter().map(|m| m.prepared.body.len()).sum(),
                    max: self.settings.max_message_size,
                });
                debug!(topic = %key.topic, error = %e, "auto batch could not be encoded");
                for member in members {
                    let _ = member.reply.send(Err(error.clone()));
                }
                return;
            }
        };
        let wait = if key.wait_store_msg_ok {
            "true"
        } else {
            "false"
        };
        // No UNIQ_KEY of the batch's own: a BatchCQ topic then stores every member as itself.
        let prepared = Prepared {
            topic: key.topic.clone(),
            body,
            sys_flag: 0,
            flag: 0,
            properties: encode_properties([("WAIT", wait)]),
            uniq_keys: members
                .iter()
                .flat_map(|m| m.prepared.uniq_keys.iter().cloned())
                .collect(),
            batch: true,
            reply: false,
            // Traced per member below, with each one's own tags, keys and ids.
            trace: None,
        };
        let started_ms = now_ms();
        let started = std::time::Instant::now();
        let result = self
            .run_attempts(&prepared, key.queue.clone(), deadline, attempts)
            .await;
        let elapsed = started.elapsed();
        debug!(topic = %key.topic, messages = members.len(), ok = result.is_ok(), "auto batch sent");
        match result {
            Ok(batch_result) => {
                let offset_ids: Vec<&str> = batch_result.offset_msg_id.split(',').collect();
                let split = offset_ids.len() == members.len();
                for (i, member) in members.into_iter().enumerate() {
                    let mine = SendResult {
                        msg_id: member.prepared.uniq_keys.concat(),
                        offset_msg_id: if split {
                            offset_ids[i].to_string()
                        } else {
                            batch_result.offset_msg_id.clone()
                        },
                        queue_offset: batch_result.queue_offset + i as i64,
                        ..batch_result.clone()
                    };
                    self.trace_publish(&member.prepared, &mine.queue, &mine, started_ms, elapsed);
                    let _ = member.reply.send(Ok(mine));
                }
            }
            Err(e) => {
                for member in members {
                    let _ = member.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Sends `batch` on a task of the producer's.
fn spawn_send(inner: &Arc<Inner>, batch: Batch) {
    let Some(accumulator) = &inner.accumulator else {
        return;
    };
    let inner = Arc::clone(inner);
    accumulator
        .tasks
        .spawn(async move { inner.send_batch_now(batch).await });
}

/// Sends the batch opened as `id` under `key` once its delay is over, unless it left before.
fn arm_timer(inner: &Arc<Inner>, key: BatchKey, id: u64) {
    let Some(accumulator) = &inner.accumulator else {
        return;
    };
    let inner = Arc::clone(inner);
    accumulator.tasks.spawn(async move {
        let Some(accumulator) = &inner.accumulator else {
            return;
        };
        tokio::select! {
            _ = tokio::time::sleep(accumulator.config.delay()) => {}
            // Shutdown took the open batches itself.
            _ = accumulator.stop.cancelled() => return,
        }
        if let Some(batch) = accumulator.take(&key, id) {
            inner.send_batch_now(batch).await;
        }
    });
}

impl Producer {
    /// Sends a started send through the accumulator: the open batch of its topic (and
    /// `queue`, when fixed) takes it, and this waits for its share of the batch's result.
    /// `attempts` is what the batch gets: a fixed queue gets one.
    pub(super) async fn send_auto(
        &self,
        started: Started<'_>,
        wait_store_msg_ok: bool,
        queue: Option<MessageQueue>,
        attempts: u32,
    ) -> Result<SendResult> {
        let inner = &self.inner;
        let Some(accumulator) = &inner.accumulator else {
            return Err(Error::Shutdown);
        };
        let deadline = started.deadline;
        let size =
            BATCH_ENTRY_OVERHEAD + started.prepared.body.len() + started.prepared.properties.len();
        if size > accumulator.config.byte_limit() {
            // Its properties make it larger than a batch may be: alone, as without batching.
            return inner
                .run_attempts(&started.prepared, queue, deadline, attempts)
                .await;
        }
        // The permits and the in-flight count stay with this call until the answer is in.
        let (held, prepared) = started.split();
        let key = BatchKey {
            topic: prepared.topic.clone(),
            queue,
            wait_store_msg_ok,
        };
        let (reply, answer) = oneshot::channel();
        let member = Member {
            prepared,
            deadline,
            reply,
        };
        let added = accumulator.add(key, member, size).ok_or(Error::Shutdown)?;
        for batch in added.ready {
            spawn_send(inner, batch);
        }
        if let Some((key, id)) = added.opened {
            arm_timer(inner, key, id);
        }
        let result = match tokio::time::timeout_at(deadline + RESULT_GRACE, answer).await {
            Ok(Ok(result)) => result,
            // The sending task ended without an answer: only a panic does that.
            Ok(Err(_)) => Err(Error::Shutdown),
            Err(_) => Err(Error::DeadlineExceeded {
                operation: "send",
                timeout: inner.settings.send_timeout,
            }),
        };
        drop(held);
        result
    }

    /// Shutdown, first step: refuses new members and sends every open batch now.
    pub(super) fn flush_auto_batches(&self) {
        if let Some(accumulator) = &self.inner.accumulator {
            for batch in accumulator.close() {
                spawn_send(&self.inner, batch);
            }
        }
    }

    /// Shutdown, last step: ends the timers and waits (at most `limit`) for batch sends.
    pub(super) async fn stop_auto_batching(&self, limit: Duration) {
        if let Some(accumulator) = &self.inner.accumulator {
            accumulator.stop.cancel();
            accumulator.tasks.close();
            let _ = tokio::time::timeout(limit, accumulator.tasks.wait()).await;
        }
    }
}
