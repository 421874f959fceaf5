//! Request–reply (Java `DefaultMQProducer.request` and `MessageUtil.createReplyMessage`): a
//! request is a message with a correlation id; the responder's reply goes to the cluster's
//! reply topic and the broker pushes it straight to the requesting client.
//!
//! ```text
//!  requester: request(msg, timeout)                       responder (any consumer)
//!    CORRELATION_ID, REPLY_TO_CLIENT, TTL                   create_reply_message(&request, body)
//!    no cached route → look up + heartbeat every broker       → <cluster>_REPLY_TOPIC, MSG_TYPE=reply
//!    register the correlation id, send (SEND_MESSAGE_V2)    send_reply → SEND_REPLY_MESSAGE_V2
//!    wait until the timeout  ←── PUSH_REPLY_MESSAGE_TO_CLIENT ── broker (finds us by client id)
//! ```

use std::time::Duration;

use bytes::Bytes;
use tracing::debug;

use super::message::REPLY_MESSAGE_FLAG;
use super::{Message, MessageQueueSelector, Producer, SendResult};
use crate::client::check_timeout;
use crate::client::validate::without_namespace;
use crate::client::MessageQueue;
use crate::error::{Error, Result, ValidationError};
use crate::protocol::{property, StoredMessage};
use crate::util::deadline_after;

/// Suffix of a cluster's reply topic (Java `MixAll.REPLY_TOPIC_POSTFIX`).
const REPLY_TOPIC_POSTFIX: &str = "REPLY_TOPIC";

/// Builds the reply to a request received by a consumer (Java
/// `MessageUtil.createReplyMessage`): topic `<cluster>_REPLY_TOPIC`, property `MSG_TYPE` =
/// `reply`, and the request's `CORRELATION_ID`, `REPLY_TO_CLIENT` and `TTL`. Send it with
/// [`Producer::send_reply`] (or [`Producer::send`]: a reply always goes out as
/// `SEND_REPLY_MESSAGE_V2`).
///
/// ```
/// # fn reply(request: &rmq::MessageExt) -> Result<rmq::Message, rmq::ValidationError> {
/// let reply = rmq::create_reply_message(request, "pong")?;
/// assert!(reply.is_reply());
/// # Ok(reply) }
/// ```
///
/// # Errors
/// [`ValidationError::NotARequest`] when the message lacks `CLUSTER` (the broker stamps it on
/// every stored message), `CORRELATION_ID` or `REPLY_TO_CLIENT`.
pub fn create_reply_message(
    request: &StoredMessage,
    body: impl Into<Bytes>,
) -> Result<Message, ValidationError> {
    let get = |name: &'static str| {
        request
            .property(name)
            .filter(|v| !v.is_empty())
            .ok_or(ValidationError::NotARequest(name))
    };
    let cluster = get(property::CLUSTER)?;
    let correlation_id = get(property::CORRELATION_ID)?;
    let reply_to = get(property::MESSAGE_REPLY_TO_CLIENT)?;
    let mut reply = Message::new(format!("{cluster}_{REPLY_TOPIC_POSTFIX}"), body);
    reply.system_properties = vec![
        (property::MESSAGE_TYPE, REPLY_MESSAGE_FLAG.to_string()),
        (property::CORRELATION_ID, correlation_id.to_string()),
        (property::MESSAGE_REPLY_TO_CLIENT, reply_to.to_string()),
    ];
    if let Some(ttl) = request.property(property::MESSAGE_TTL) {
        reply
            .system_properties
            .push((property::MESSAGE_TTL, ttl.to_string()));
    }
    Ok(reply)
}

/// A fresh random correlation id in the UUID form Java's `CorrelationIdUtil` uses (version 4).
fn new_correlation_id() -> String {
    let hi = (fastrand::u64(..) & !0xf000) | 0x4000;
    let lo = (fastrand::u64(..) & !(0b11 << 62)) | (0b10 << 62);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

/// Where a request goes.
enum Target<'a> {
    /// Any queue, with the send retries.
    Any,
    /// This queue, one attempt.
    Queue(&'a MessageQueue),
    /// The queue this picks among the topic's, one attempt.
    Select(&'a (dyn Fn(&[MessageQueue], &Message) -> usize + Sync)),
}

impl Producer {
    /// Sends `msg` as a request and waits up to `timeout` for its reply (Java
    /// `DefaultMQProducer.request(msg, timeout)`). The timeout covers the send too; the send
    /// has the usual retries. The reply is pushed to this client by the broker, so a topic
    /// whose route is not cached yet is looked up and every broker is sent a heartbeat first.
    ///
    /// Cancel safety: dropping the future may leave the request sent; its reply is then
    /// dropped when it arrives. Nothing stays registered either way.
    ///
    /// # Errors
    /// [`ValidationError::OutOfRange`] for a timeout outside 1 ms to 24 h and every error of
    /// [`Producer::send`] when the request cannot be sent; [`Error::RequestTimeout`] when it
    /// was sent but no reply came in time; [`Error::Shutdown`] when the client stopped while
    /// waiting.
    pub async fn request(&self, msg: Message, timeout: Duration) -> Result<StoredMessage> {
        self.request_to(msg, timeout, Target::Any).await
    }

    /// [`Producer::request`] to one given queue, one send attempt (Java `request(msg, mq,
    /// timeout)`).
    ///
    /// # Errors
    /// As [`Producer::request`], plus [`ValidationError::QueueTopicMismatch`].
    pub async fn request_to_queue(
        &self,
        msg: Message,
        queue: &MessageQueue,
        timeout: Duration,
    ) -> Result<StoredMessage> {
        if queue.topic != msg.topic {
            return Err(ValidationError::QueueTopicMismatch {
                queue_topic: queue.topic.clone(),
                message_topic: msg.topic.clone(),
            }
            .into());
        }
        self.request_to(msg, timeout, Target::Queue(queue)).await
    }

    /// [`Producer::request`] to the queue `selector` picks for `arg`, as
    /// [`Producer::send_with_selector`] does; one send attempt (Java `request(msg, selector,
    /// arg, timeout)`).
    ///
    /// # Errors
    /// As [`Producer::request`], plus [`ValidationError::SelectorOutOfRange`].
    pub async fn request_with_selector<A, S>(
        &self,
        msg: Message,
        selector: &S,
        arg: &A,
        timeout: Duration,
    ) -> Result<StoredMessage>
    where
        A: ?Sized + Sync,
        S: MessageQueueSelector<A> + ?Sized + Sync,
    {
        let pick = |queues: &[MessageQueue], msg: &Message| selector.select(queues, msg, arg);
        self.request_to(msg, timeout, Target::Select(&pick)).await
    }

    /// Sends a reply made by [`create_reply_message`] (`SEND_REPLY_MESSAGE_V2`), with the
    /// retries of [`Producer::send`]. The broker pushes it to the requester, and answers an
    /// error when the requester is not connected to it.
    ///
    /// # Errors
    /// [`ValidationError::NotAReply`] for any other message; otherwise as [`Producer::send`].
    pub async fn send_reply(&self, reply: Message) -> Result<SendResult> {
        if !reply.is_reply() {
            return Err(ValidationError::NotAReply.into());
        }
        self.send(reply).await
    }

    /// Requests of this producer's client instance waiting for their reply (for tests).
    #[doc(hidden)]
    pub fn pending_requests(&self) -> usize {
        self.inner.instance.requests().len()
    }

    async fn request_to(
        &self,
        mut msg: Message,
        timeout: Duration,
        target: Target<'_>,
    ) -> Result<StoredMessage> {
        check_timeout("request timeout", timeout)?;
        let inner = &*self.inner;
        let instance = &inner.instance;
        let correlation_id = new_correlation_id();
        msg.system_properties.retain(|(k, _)| {
            ![
                property::CORRELATION_ID,
                property::MESSAGE_REPLY_TO_CLIENT,
                property::MESSAGE_TTL,
                property::MESSAGE_TYPE,
            ]
            .contains(k)
        });
        msg.system_properties.extend([
            (property::CORRELATION_ID, correlation_id.clone()),
            (
                property::MESSAGE_REPLY_TO_CLIENT,
                instance.client_id().to_string(),
            ),
            (property::MESSAGE_TTL, timeout.as_millis().to_string()),
        ]);
        let deadline = deadline_after(timeout);
        let started = inner
            .begin_until(inner.prepare(&msg), self.state(), deadline)
            .await?;
        let (prepared, deadline) = (&started.prepared, started.deadline);
        if instance.route(&prepared.topic).is_none() {
            // The broker finds us by client id when it pushes the reply: make sure every
            // broker of the route has heard from this client.
            let looked_up = tokio::time::timeout_at(
                deadline,
                instance.update_topic_route(&prepared.topic, deadline),
            )
            .await;
            if let Ok(Err(e)) = looked_up {
                debug!(topic = %prepared.topic, error = %e, "request: route lookup failed");
            }
            let brokers = instance.heartbeat_all(deadline).await;
            debug!(topic = %prepared.topic, brokers, "request: heartbeat sent to every broker");
        }
        let mut pending = instance.requests().register(&correlation_id)?;
        let (fixed, attempts) = match target {
            Target::Any => (None, 1 + inner.settings.retries),
            Target::Queue(queue) => {
                inner.publish_info(&prepared.topic, deadline).await?;
                let queue = MessageQueue {
                    topic: prepared.topic.clone(),
                    ..queue.clone()
                };
                (Some(queue), 1)
            }
            Target::Select(pick) => {
                let info = inner.publish_info(&prepared.topic, deadline).await?;
                let user_queues: Vec<MessageQueue> = info
                    .queues
                    .iter()
                    .map(|q| MessageQueue {
                        topic: without_namespace(inner.namespace.as_deref(), &q.topic),
                        ..q.clone()
                    })
                    .collect();
                let index = pick(&user_queues, &msg);
                let Some(chosen) = info.queues.get(index).cloned() else {
                    return Err(ValidationError::SelectorOutOfRange {
                        index,
                        queues: info.queues.len(),
                    }
                    .into());
                };
                (Some(chosen), 1)
            }
        };
        let sent = inner
            .run_attempts(prepared, fixed, deadline, attempts)
            .await?;
        debug!(topic = %msg.topic, correlation_id = %correlation_id, msg_id = %sent.msg_id, "request sent; waiting for the reply");
        // Waiting for the reply holds no send permit.
        drop(started);
        match tokio::time::timeout_at(deadline, pending.reply()).await {
            Ok(reply) => reply,
            Err(_) => {
                debug!(topic = %msg.topic, correlation_id = %correlation_id, ?timeout, "request timed out");
                Err(Error::RequestTimeout {
                    topic: msg.topic,
                    timeout,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode_properties;

    fn request_with(props: &[(&str, &str)]) -> StoredMessage {
        let text = crate::protocol::encode_properties(props.iter().copied());
        StoredMessage {
            store_size: 0,
            magic: 0,
            body_crc: 0,
            queue_id: 0,
            flag: 0,
            queue_offset: 0,
            commit_log_offset: 0,
            sys_flag: 0,
            born_timestamp: 0,
            born_host: "127.0.0.1:1".parse().unwrap(),
            store_timestamp: 0,
            store_host: "127.0.0.1:2".parse().unwrap(),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: Bytes::from_static(b"ping"),
            body_compressed: false,
            topic: "T".into(),
            properties: decode_properties(&text),
            offset_msg_id: String::new(),
        }
    }

    #[test]
    fn a_reply_copies_the_request_properties_to_the_reply_topic() {
        let request = request_with(&[
            ("CLUSTER", "DefaultCluster"),
            ("CORRELATION_ID", "c-1"),
            ("REPLY_TO_CLIENT", "127.0.0.1@x"),
            ("TTL", "3000"),
        ]);
        let reply = create_reply_message(&request, "pong").unwrap();
        assert_eq!(reply.topic, "DefaultCluster_REPLY_TOPIC");
        assert_eq!(&reply.body[..], b"pong");
        assert!(reply.is_reply());
        assert_eq!(reply.system_property("CORRELATION_ID"), Some("c-1"));
        assert_eq!(
            reply.system_property("REPLY_TO_CLIENT"),
            Some("127.0.0.1@x")
        );
        assert_eq!(reply.system_property("TTL"), Some("3000"));
        assert!(reply.properties.is_empty(), "no user property");
    }

    #[test]
    fn a_message_without_cluster_is_not_a_request() {
        let request = request_with(&[("CORRELATION_ID", "c-1"), ("REPLY_TO_CLIENT", "x")]);
        assert_eq!(
            create_reply_message(&request, "pong").unwrap_err(),
            ValidationError::NotARequest("CLUSTER")
        );
        let request = request_with(&[("CLUSTER", "C"), ("REPLY_TO_CLIENT", "x")]);
        assert_eq!(
            create_reply_message(&request, "pong").unwrap_err(),
            ValidationError::NotARequest("CORRELATION_ID")
        );
    }

    #[test]
    fn correlation_ids_are_fresh_uuids() {
        let a = new_correlation_id();
        let b = new_correlation_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        let groups: Vec<&str> = a.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(groups[2].starts_with('4'), "version 4: {a}");
    }
}
