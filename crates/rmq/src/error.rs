//! The library's errors: [`Error`] for everything, [`ValidationError`] for what is rejected
//! before anything touches the network.

use std::sync::Arc;
use std::time::Duration;

use crate::protocol::{CodecError, RequestCode, ResponseCode};

/// Result alias with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a connection closed. Shared by every request that was waiting on it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer closed the connection.
    #[error("closed by peer")]
    Eof,
    /// The peer closed a plain-TCP connection without ever answering: what a server that
    /// accepts only TLS (`tls.server.mode=enforcing`) does to a client without TLS.
    #[error("closed by peer before it sent anything (a server that accepts only TLS does this; see ClientConfig::tls)")]
    EofBeforeAnyFrame,
    /// Reading or writing failed.
    #[error("I/O error: {0}")]
    Io(Arc<std::io::Error>),
    /// The peer sent a malformed frame.
    #[error("malformed frame: {0}")]
    Codec(Arc<CodecError>),
    /// Nothing was read or written for the idle timeout.
    #[error("idle for {0:?}")]
    Idle(Duration),
    /// A request timed out after this long and the peer looked stalled (it had sent nothing
    /// since the request was queued), so the connection was closed rather than kept for
    /// requests that would time out too.
    #[error("unresponsive: no answer within {0:?}")]
    Unresponsive(Duration),
    /// Closed by this client (shutdown, replacement).
    #[error("closed by client")]
    Local,
}

/// Everything that can go wrong in this crate.
///
/// Errors are cheap to clone (shared parts sit behind [`Arc`]) because one failure, such as a
/// dropped connection, is reported to many waiting requests. Each variant stands for one
/// situation; [`Error::is_retriable`] and [`Error::is_timeout`] classify them.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting, name, message or argument was rejected before anything touched the network.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// Connecting failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// Target address.
        addr: String,
        /// The I/O error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// Connecting took longer than the connect timeout.
    #[error("connecting to {addr} timed out after {timeout:?}")]
    ConnectTimeout {
        /// Target address.
        addr: String,
        /// The timeout.
        timeout: Duration,
    },
    /// No response from a server within the deadline.
    #[error("{code} to {addr} timed out after {timeout:?}")]
    Timeout {
        /// Target address.
        addr: String,
        /// The request's code.
        code: RequestCode,
        /// Time allowed.
        timeout: Duration,
    },
    /// An operation's overall deadline (for example a send's `send_timeout`, which covers the
    /// route lookup and every attempt) passed before a server could be asked (again).
    #[error("{operation} did not finish within {timeout:?}")]
    DeadlineExceeded {
        /// What timed out (`send`, `route lookup`, …).
        operation: &'static str,
        /// Time allowed.
        timeout: Duration,
    },
    /// The connection closed before the response arrived.
    #[error("connection to {addr} closed: {reason}")]
    ConnectionClosed {
        /// Peer address.
        addr: String,
        /// Why it closed.
        reason: CloseReason,
    },
    /// The request cannot be encoded (e.g. it exceeds the frame limit).
    #[error("cannot encode request: {0}")]
    Encode(Arc<CodecError>),
    /// The server answered with an error code.
    #[error("{addr} answered {code}: {remark}")]
    Server {
        /// Server address.
        addr: String,
        /// The response code.
        code: ResponseCode,
        /// The server's remark.
        remark: String,
    },
    /// A broker with access control refused this client's credentials: a wrong access key
    /// or secret, or none where the broker requires them (4.9.x plain ACL answers
    /// `SYSTEM_ERROR` with an `AclException`, 5.x ACL 2.0 `NO_PERMISSION`). Not retried.
    #[error("{addr} refused the credentials ({code}): {remark}")]
    Authentication {
        /// Server address.
        addr: String,
        /// The response code.
        code: ResponseCode,
        /// The server's remark.
        remark: String,
    },
    /// The server's answer could not be understood.
    #[error("invalid response from {addr}: {reason}")]
    InvalidResponse {
        /// Server address.
        addr: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A producer or consumer of this group is already registered in the client instance.
    #[error("group {group} is already registered in client instance {client_id}")]
    DuplicateGroup {
        /// The group.
        group: String,
        /// The instance's client id.
        client_id: String,
    },
    /// The name servers know no route for the topic, neither its own nor the auto-create
    /// template's, or the route has no writable queue with a master.
    #[error("no route for topic {topic}")]
    NoRoute {
        /// The topic.
        topic: String,
    },
    /// Every attempt of a send failed.
    #[error("send failed after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        #[source]
        last: Box<Error>,
    },
    /// A send waited until its deadline for room among the sends in flight.
    #[error("too many sends in flight (limits: {max_messages} messages, {max_bytes} bytes) until the deadline")]
    BackPressure {
        /// Message limit.
        max_messages: usize,
        /// Byte limit.
        max_bytes: usize,
    },
    /// A request was sent, but no reply arrived within its timeout (Java
    /// `RequestTimeoutException`, 10006). A request whose send failed reports the send's error
    /// instead.
    #[error("request to {topic} was sent, but no reply arrived within {timeout:?}")]
    RequestTimeout {
        /// The request's topic.
        topic: String,
        /// Time allowed.
        timeout: Duration,
    },
    /// The producer (or consumer) was shut down before or during the call.
    #[error("client is shut down")]
    Shutdown,
    /// A seek asked for an offset outside the queue's stored range `min..=max` (Java "Seek
    /// offset illegal").
    #[error("offset {offset} of {topic}/{broker_name}/{queue_id} is outside {min}..={max}")]
    OffsetOutOfRange {
        /// The queue's topic.
        topic: String,
        /// The queue's broker.
        broker_name: String,
        /// The queue id.
        queue_id: i32,
        /// The offset asked for.
        offset: i64,
        /// The queue's min offset.
        min: i64,
        /// The queue's max offset (the next one to be written).
        max: i64,
    },
    /// A broker does not know `POP_MESSAGE` (4.9.x and older answer
    /// `REQUEST_CODE_NOT_SUPPORTED`): pop consumption needs RocketMQ 5.x brokers.
    #[error("broker {broker} at {addr} does not support pop consumption; pop needs RocketMQ 5.x brokers")]
    PopNotSupported {
        /// The broker name.
        broker: String,
        /// The address asked.
        addr: String,
    },
    /// A broker refused a consumer's SQL92 filter at start (CHECK_CLIENT_CONFIG): the broker
    /// runs without `enablePropertyFilter=true`, or cannot parse the expression.
    #[error("broker {addr} refused the filter {expression:?} of topic {topic}: {reason}")]
    FilterRejected {
        /// Broker address.
        addr: String,
        /// The subscribed topic.
        topic: String,
        /// The expression as given.
        expression: String,
        /// What the broker said.
        reason: String,
    },
    /// An admin call named a topic no name server has a route of (`TOPIC_NOT_EXIST`).
    #[error("topic {topic} does not exist")]
    TopicNotFound {
        /// The topic, as the caller named it.
        topic: String,
    },
    /// An admin call named a cluster the name servers do not know, or one without masters.
    #[error("cluster {cluster} does not exist or has no master")]
    ClusterNotFound {
        /// The cluster.
        cluster: String,
    },
    /// An admin call found no stored message: no message under a key, or none at an offset
    /// message id.
    #[error("message not found: {what}")]
    MessageNotFound {
        /// What was looked for.
        what: String,
    },
}

impl Error {
    /// Whether trying again (on another connection or broker, or later) may succeed.
    ///
    /// True for transport failures, timeouts, a missing route, and for server codes the Java
    /// 5.x producer retries ([`ResponseCode::is_retriable_for_send`]); false for bad input,
    /// encoding errors, duplicate groups and shutdown. [`Error::RetriesExhausted`] answers for
    /// its last error, as [`Error::is_timeout`] does.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Connect { .. }
            | Self::ConnectTimeout { .. }
            | Self::Timeout { .. }
            | Self::DeadlineExceeded { .. }
            | Self::ConnectionClosed { .. }
            | Self::NoRoute { .. }
            | Self::BackPressure { .. } => true,
            Self::Server { code, .. } => code.is_retriable_for_send(),
            Self::RetriesExhausted { last, .. } => last.is_retriable(),
            Self::Validation(_)
            | Self::Encode(_)
            | Self::InvalidResponse { .. }
            | Self::DuplicateGroup { .. }
            | Self::Shutdown
            | Self::RequestTimeout { .. }
            | Self::OffsetOutOfRange { .. }
            | Self::PopNotSupported { .. }
            | Self::FilterRejected { .. }
            | Self::Authentication { .. }
            | Self::TopicNotFound { .. }
            | Self::ClusterNotFound { .. }
            | Self::MessageNotFound { .. } => false,
        }
    }

    /// Whether this is a timeout (connect, response or overall deadline), also as the last
    /// error of exhausted retries. A connection closed because a request on it got no answer
    /// in time ([`CloseReason::Unresponsive`]) counts too: every request waiting on it timed
    /// out with that one.
    pub fn is_timeout(&self) -> bool {
        match self {
            Self::Timeout { .. }
            | Self::ConnectTimeout { .. }
            | Self::DeadlineExceeded { .. }
            | Self::RequestTimeout { .. }
            | Self::ConnectionClosed {
                reason: CloseReason::Unresponsive(_),
                ..
            } => true,
            Self::RetriesExhausted { last, .. } => last.is_timeout(),
            _ => false,
        }
    }

    /// Whether the peer could not be reached or dropped the connection (connect failure,
    /// connect timeout, connection closed), as opposed to an answer or a slow one.
    pub(crate) fn is_unreachable(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::ConnectTimeout { .. } | Self::ConnectionClosed { .. } => {
                true
            }
            Self::RetriesExhausted { last, .. } => last.is_unreachable(),
            _ => false,
        }
    }

    /// The server's response code, for [`Error::Server`] (also as the last error of
    /// exhausted retries).
    pub fn response_code(&self) -> Option<ResponseCode> {
        match self {
            Self::Server { code, .. } => Some(*code),
            Self::RetriesExhausted { last, .. } => last.response_code(),
            _ => None,
        }
    }

    /// The error for a response with an error code: [`Error::Authentication`] when the
    /// broker's ACL refused the credentials, else [`Error::Server`].
    pub(crate) fn from_response(addr: &str, code: ResponseCode, remark: String) -> Self {
        if is_authentication_failure(code, &remark) {
            Self::Authentication {
                addr: addr.to_string(),
                code,
                remark,
            }
        } else {
            Self::Server {
                addr: addr.to_string(),
                code,
                remark,
            }
        }
    }

    pub(crate) fn invalid_response(addr: &str, reason: impl std::fmt::Display) -> Self {
        Self::InvalidResponse {
            addr: addr.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Whether a response says the broker's access control refused the caller's identity.
/// 4.9.x: `SYSTEM_ERROR` carrying the `AclException` of `PlainAccessValidator` (unknown
/// access key, bad signature, no access key). 5.x: `NO_PERMISSION` with the messages of the
/// authentication chain (authorization failures, which also answer `NO_PERMISSION`, stay
/// [`Error::Server`]).
fn is_authentication_failure(code: ResponseCode, remark: &str) -> bool {
    if code == ResponseCode::SYSTEM_ERROR {
        return remark.contains("AclException")
            && [
                "No acl config for",
                "Check signature failed",
                "No accessKey is configured",
            ]
            .iter()
            .any(|m| remark.contains(m));
    }
    code == ResponseCode::NO_PERMISSION
        && [
            "check signature failed",
            "username cannot be null",
            "is not found",
            "is disabled",
            "authentication header is incorrect",
            "create authentication context error",
        ]
        .iter()
        .any(|m| remark.contains(m))
}

/// A name or value rejected before any network traffic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The group is empty or only white space.
    #[error("the group is blank")]
    GroupBlank,
    /// The group is longer than 255 characters (Java `Validators.CHARACTER_MAX_LENGTH`).
    #[error("the group is {len} characters long; the limit is 255")]
    GroupTooLong {
        /// Its length in characters.
        len: usize,
    },
    /// The group has a character outside `%|a-zA-Z0-9_-`.
    #[error("the group {group:?} contains {ch:?}; only %|a-zA-Z0-9_- are allowed")]
    GroupIllegalChar {
        /// The group.
        group: String,
        /// The first illegal character.
        ch: char,
    },
    /// The group is reserved by RocketMQ.
    #[error("the group {0:?} is reserved by RocketMQ; choose another one")]
    GroupReserved(String),
    /// The namespace has a character outside `a-zA-Z0-9_-`.
    #[error("the namespace {namespace:?} contains {ch:?}; only a-zA-Z0-9_- are allowed")]
    NamespaceIllegalChar {
        /// The namespace.
        namespace: String,
        /// The first illegal character.
        ch: char,
    },
    /// The instance or unit name would break the client id (`IP@instance@unit`).
    #[error("the {field} {value:?} is invalid: {reason}")]
    IllegalName {
        /// `instance name` or `unit name`.
        field: &'static str,
        /// The value.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The topic is empty or only white space.
    #[error("the topic is blank")]
    TopicBlank,
    /// The topic is longer than 127 characters (Java `Validators.TOPIC_MAX_LENGTH`).
    #[error("the topic is {len} characters long; the limit is 127")]
    TopicTooLong {
        /// Its length in characters.
        len: usize,
    },
    /// The topic has a character outside `%|a-zA-Z0-9_-`.
    #[error("the topic {topic:?} contains {ch:?}; only %|a-zA-Z0-9_- are allowed")]
    TopicIllegalChar {
        /// The topic.
        topic: String,
        /// The first illegal character.
        ch: char,
    },
    /// Messages may not be sent to this system topic.
    #[error("sending to the system topic {0:?} is not allowed")]
    TopicNotAllowed(String),
    /// The message body is empty.
    #[error("the message body is empty")]
    BodyEmpty,
    /// The message body is larger than the producer's `max_message_size`.
    #[error("the message body is {len} bytes; the limit is {max}")]
    BodyTooLarge {
        /// Body size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A user property uses a name RocketMQ reserves.
    #[error("the property name {0:?} is reserved by RocketMQ")]
    PropertyReserved(String),
    /// A property name or value is blank, or a tag, key, name or value contains the
    /// property separators `\u{1}`/`\u{2}` (they would corrupt every property after it).
    #[error("{what} {value:?} is blank or contains a reserved separator character")]
    IllegalPropertyText {
        /// `property name`, `property value`, `tag` or `key`.
        what: &'static str,
        /// The text.
        value: String,
    },
    /// The delay level is outside 1..=`max` (the broker's `messageDelayLevel` count, 18).
    #[error("delay level {level} is outside 1..={max}")]
    DelayLevelOutOfRange {
        /// The level.
        level: u32,
        /// The highest level of a default broker.
        max: u32,
    },
    /// A delay level and a delivery time were both set.
    #[error("a message cannot have both a delay level and a delivery time")]
    DelayAndDeliveryTime,
    /// A batch is empty.
    #[error("the batch is empty")]
    BatchEmpty,
    /// A batch mixes topics.
    #[error("a batch must have one topic: {first:?} and {other:?} are mixed")]
    BatchMixedTopics {
        /// The first message's topic.
        first: String,
        /// A different topic in the batch.
        other: String,
    },
    /// A batch message asks for a delay (Java rejects these too).
    #[error("batch messages cannot be delayed")]
    BatchDelayed,
    /// A batch targets a retry topic.
    #[error("batches cannot be sent to retry topics")]
    BatchRetryTopic,
    /// A batch mixes `wait_store_msg_ok` settings.
    #[error("batch messages must agree on wait_store_msg_ok")]
    BatchWaitMismatch,
    /// The encoded batch is larger than `max_message_size`.
    #[error("the encoded batch is {len} bytes; the limit is {max}")]
    BatchTooLarge {
        /// Encoded size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The queue given belongs to another topic.
    #[error("the queue belongs to topic {queue_topic:?}, the message to {message_topic:?}")]
    QueueTopicMismatch {
        /// The queue's topic.
        queue_topic: String,
        /// The message's topic.
        message_topic: String,
    },
    /// A duration or size setting is out of range.
    #[error("{field} must be {expected}, got {got}")]
    OutOfRange {
        /// The setting.
        field: &'static str,
        /// The allowed range.
        expected: &'static str,
        /// The value given.
        got: String,
    },
    /// A name-server (or other server) address is not `host:port`.
    #[error("{field} {value:?} is not host:port")]
    InvalidAddress {
        /// Which setting.
        field: &'static str,
        /// The value given.
        value: String,
    },
    /// Neither a name server nor an address server is configured, and `NAMESRV_ADDR` is unset.
    #[error("no name server address: pass one (e.g. 127.0.0.1:9876) or set NAMESRV_ADDR")]
    NoNameServer,
    /// A TLS setting cannot be used: a certificate or key file is missing or holds no PEM
    /// item of the expected kind.
    #[error("TLS setting: {reason}")]
    Tls {
        /// The file and what is wrong with it.
        reason: String,
    },
    /// ACL credentials with a blank access key or an empty secret key.
    #[error("ACL credentials need an access key and a secret key")]
    BlankCredentials,
    /// The client id is already used in this process by a client instance with other
    /// settings (the Java client silently shares it: apache/rocketmq#1247).
    #[error("client id {client_id} is already used by a client instance with different {differences}; give this client another instance name")]
    ClientIdInUse {
        /// The client id.
        client_id: String,
        /// The settings that differ, comma-separated.
        differences: String,
    },
    /// A message's properties, encoded, exceed what the broker stores (a 16-bit length).
    #[error("the message properties are {len} bytes encoded; the limit is {max}")]
    PropertiesTooLong {
        /// Encoded length.
        len: usize,
        /// The limit (`Short.MAX_VALUE`).
        max: usize,
    },
    /// Not an offset message id (32 or 56 hex digits: store address and commit-log offset).
    #[error("{0:?} is not an offset message id")]
    InvalidMessageId(String),
    /// A queue selector chose an index outside the queue list.
    #[error("the selector chose queue {index} of {queues}")]
    SelectorOutOfRange {
        /// The index chosen.
        index: usize,
        /// How many queues there are.
        queues: usize,
    },
    /// A consumer was started without any subscription.
    #[error("the consumer subscribes to nothing: call subscribe(topic, expression) first")]
    NoSubscription,
    /// A consumer was started without a message handler.
    #[error("the consumer has no message handler: call handler(..) first")]
    NoHandler,
    /// Two settings that cannot be used together.
    #[error("incompatible options: {0}")]
    IncompatibleOptions(&'static str),
    /// An SQL92 selector with an empty expression.
    #[error("the SQL92 expression is empty")]
    EmptySqlExpression,
    /// A tag expression names no tag (`"||"`, `" || "`).
    #[error("the tag expression {0:?} names no tag; use \"*\" for every message")]
    BadTagExpression(String),
    /// A lite pull consumer either subscribes (the group splits the queues) or is assigned
    /// queues, never both (Java "Subscribe and assign are mutually exclusive.").
    #[error("subscribe and assign are mutually exclusive: this consumer already uses {used}")]
    SubscribeAndAssign {
        /// `subscribe` or `assign`: what the consumer was set up with first.
        used: &'static str,
    },
    /// `assign` was given no queue.
    #[error("assign needs at least one message queue")]
    NoQueuesAssigned,
    /// The queue is not (or no longer) assigned to this consumer.
    #[error("{topic}/{broker_name}/{queue_id} is not assigned to this consumer")]
    QueueNotAssigned {
        /// The queue's topic.
        topic: String,
        /// The queue's broker.
        broker_name: String,
        /// The queue id.
        queue_id: i32,
    },
    /// A reply was asked for a message that is not a request: it lacks a property every
    /// request has (`CLUSTER`, stamped by the broker; `CORRELATION_ID`; `REPLY_TO_CLIENT`).
    /// Java: `CREATE_REPLY_MESSAGE_EXCEPTION` (10007).
    #[error("cannot create a reply: the request message has no {0} property")]
    NotARequest(&'static str),
    /// `send_reply` was given a message that `create_reply_message` did not make.
    #[error("not a reply message: build it with create_reply_message")]
    NotAReply,
    /// A transactional send on a producer built without a transaction listener (Java
    /// "TransactionListener is null").
    #[error(
        "no transaction listener: build the producer with ProducerBuilder::transaction_listener"
    )]
    NoTransactionListener,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retriable_classification() {
        let server = |code| Error::Server {
            addr: "a".into(),
            code,
            remark: String::new(),
        };
        assert!(server(ResponseCode::SYSTEM_BUSY).is_retriable());
        assert!(!server(ResponseCode::MESSAGE_ILLEGAL).is_retriable());
        assert!(Error::ConnectionClosed {
            addr: "a".into(),
            reason: CloseReason::Eof
        }
        .is_retriable());
        assert!(!Error::Shutdown.is_retriable());
        assert!(!Error::from(ValidationError::NoNameServer).is_retriable());
        assert_eq!(
            server(ResponseCode::GO_AWAY).response_code(),
            Some(ResponseCode::GO_AWAY)
        );
    }

    #[test]
    fn retries_exhausted_answers_for_its_last_error() {
        let timeout = Error::Timeout {
            addr: "127.0.0.1:10911".into(),
            code: RequestCode::SEND_MESSAGE_V2,
            timeout: Duration::from_secs(1),
        };
        let exhausted = |last: Error| Error::RetriesExhausted {
            attempts: 3,
            last: Box::new(last),
        };
        let e = exhausted(timeout);
        assert!(e.is_timeout() && e.is_retriable());
        let e = exhausted(Error::Server {
            addr: "a".into(),
            code: ResponseCode::MESSAGE_ILLEGAL,
            remark: String::new(),
        });
        assert!(!e.is_timeout() && !e.is_retriable());
        assert_eq!(e.response_code(), Some(ResponseCode::MESSAGE_ILLEGAL));
    }
}
