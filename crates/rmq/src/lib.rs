//! A native async client for [Apache RocketMQ](https://rocketmq.apache.org/) that speaks
//! RocketMQ's own TCP "remoting" protocol to NameServers and Brokers, byte for byte like the
//! Java client, against 4.9.x and 5.x servers. It runs inside your tokio runtime: it never
//! builds a runtime of its own and leaves no task running after shutdown.
//!
//! # The model
//!
//! - A **client instance** is shared by every producer and consumer of one *client id*
//!   (`IP@instanceName[@unitName]`) in the process, as in Java's `MQClientInstance`. It owns
//!   the name-server list, one pipelined connection per server, the route and broker tables,
//!   and the periodic jobs: route refresh (every 30 s), heartbeats with every member (every
//!   30 s), offline-broker cleanup and, with an address server, name-server list refresh. It
//!   answers the brokers' requests to the client and hands those about one group to that
//!   group's member. It is created by the first member to start and stops when the last one
//!   leaves. Its settings are a [`ClientConfig`].
//! - A **[`Producer`]** sends messages ([`Message`]) to a topic's queues ([`MessageQueue`]):
//!   synchronously with retries on another broker, one-way, in batches, to a chosen queue, or
//!   through a [`MessageQueueSelector`] for ordered messages. Every send has one deadline that
//!   covers the route lookup and every attempt. [`Producer::request`] sends a request and
//!   waits for the reply a responder makes with [`create_reply_message`] and sends with
//!   [`Producer::send_reply`].
//! - A **[`PushConsumer`]** joins a *consumer group* on the same instance. The group's members
//!   (Rust or Java) split the queues of every subscribed topic among themselves, exactly as
//!   Java's allocation strategies do ([`AllocateStrategy`]), rebalancing every 20 s and as soon
//!   as a member comes or goes; each owned queue is long-polled and its messages handed to your
//!   handler. Delivery is **at least once**: the group's offset, stored on the broker, moves
//!   past a message only after the handler returned [`ConsumeResult::Success`] for it and for
//!   every message before it. [`ConsumeResult::Later`] (and a handler that panics or runs past
//!   the consume timeout) sends the message back: the broker delivers it again after a delay
//!   through the group's retry topic `%RETRY%<group>`, and after `max_reconsume_times`
//!   deliveries moves it to the dead-letter topic `%DLQ%<group>`. It consumes concurrently or
//!   in order ([`ConsumeOrder`]: per queue with broker locks, or per message key), clustering
//!   or broadcasting ([`MessageModel`]), filters by tags or SQL92 ([`Selector`]), and on 5.x
//!   brokers can pop instead of pull ([`PopOptions`]).
//! - A **[`LitePullConsumer`]** is driven by the application: it polls (or streams) batches of
//!   its assigned or rebalanced queues, seeks, pauses and commits.
//! - **[`Admin`]** makes one-off calls for tools: clusters, routes, connections, topics,
//!   offsets, a group's lag ([`Admin::consume_progress`]) and stored messages ([`MessageExt`]).
//! - **[`metrics`]**: producers and consumers publish counters, latency histograms and a
//!   per-queue lag gauge through the `metrics` facade, for whatever recorder you install.
//! - **Message trace** ([`TraceConfig`], off by default): producers and consumers record what
//!   they sent and handled in Java's trace format to the trace topic, without ever waiting
//!   for it.
//!
//! Errors are one [`Error`] type; everything rejected before the network is a
//! [`ValidationError`]. [`Error::is_retriable`] and [`Error::is_timeout`] classify them.
//!
//! # Quick start
//!
//! ```no_run
//! # async fn demo() -> rmq::Result<()> {
//! let producer = rmq::Producer::builder("my_group")
//!     .name_server("127.0.0.1:9876")
//!     .start()
//!     .await?;
//! let message = rmq::Message::new("MyTopic", "hello").with_tags("TagA");
//! let result = producer.send(message).await?;
//! println!("{} stored at {:?} offset {}", result.msg_id, result.queue, result.queue_offset);
//! producer.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Consuming:
//!
//! ```no_run
//! # async fn demo() -> rmq::Result<()> {
//! let consumer = rmq::PushConsumer::builder("my_consumer_group")
//!     .name_server("127.0.0.1:9876")
//!     .subscribe("MyTopic", "TagA || TagB")
//!     .handler(|messages, context| async move {
//!         for m in &messages {
//!             println!("{} from {:?}: {} bytes", m.msg_id(), context.queue, m.body.len());
//!         }
//!         rmq::ConsumeResult::Success
//!     })
//!     .start()
//!     .await?;
//! # consumer.shutdown().await; Ok(()) }
//! ```
//!
//! Shared instance settings go in a [`ClientConfig`]:
//!
//! ```no_run
//! # async fn demo() -> rmq::Result<()> {
//! use std::time::Duration;
//! let client = rmq::ClientConfig::new()
//!     .name_server("127.0.0.1:9876;127.0.0.2:9876")
//!     .instance_name("orders")
//!     .heartbeat_interval(Duration::from_secs(15));
//! let producer = rmq::Producer::builder("order_producers")
//!     .client(client)
//!     .send_timeout(Duration::from_secs(5))
//!     .start()
//!     .await?;
//! # producer.shutdown().await; Ok(()) }
//! ```
//!
//! # Feature flags
//!
//! - `unstable-internals` (off): makes the wire protocol (`protocol`), the connection layer
//!   (`remoting`) and the client layer (`client`: the instance, typed server calls) public, for
//!   this project's own tests, fuzzing and benchmarks. Nothing in them is covered by semantic
//!   versioning.

#![deny(missing_docs)]

/// Declares the internal layers: private, or public under the `unstable-internals` feature.
/// Their items are `pub` for that feature, so the unreachable-pub and dead-code lints are
/// meaningless for them in a build without it.
macro_rules! internal_modules {
    ($($(#[$meta:meta])* $name:ident),* $(,)?) => {
        $(
            $(#[$meta])*
            #[cfg(feature = "unstable-internals")]
            pub mod $name;
            #[cfg(not(feature = "unstable-internals"))]
            #[allow(unreachable_pub, dead_code, unused_imports)]
            mod $name;
        )*
    };
}

internal_modules! {
    /// The client layer: configuration, typed server calls, the shared client instance.
    client,
    /// The remoting wire protocol, without I/O.
    protocol,
    /// Connections to name servers and brokers.
    remoting,
}

mod admin;
mod consumer;
mod error;
pub mod metrics;
mod producer;
mod util;

pub use admin::{
    Admin, BrokerData, ClientConnection, ClusterInfo, Perm, ProducerConnection, QueueData,
    TopicRoute,
};
pub use admin::{ConsumeProgress, QueueProgress, TopicTarget};
pub use client::{
    AddressServerConfig, ClientConfig, CommandView, Credentials, MessageQueue, RpcHook, TlsConfig,
    TraceConfig, TraceStats,
};
pub use consumer::{
    AllocateStrategy, ConsumeContext, ConsumeFrom, ConsumeOrder, ConsumeResult, LitePullConsumer,
    LitePullConsumerBuilder, MessageModel, PopOptions, PushConsumer, PushConsumerBuilder, Selector,
};
pub use error::{CloseReason, Error, Result, ValidationError};
pub use producer::{
    create_reply_message, AutoBatch, Message, MessageQueueSelector, Producer, ProducerBuilder,
    ProducerState, SelectByHash, SelectRandom, SendResult, SendStatus, TransactionError,
    TransactionListener, TransactionSendResult, TransactionState, MAX_DELAY_LEVEL,
};
pub use protocol::{
    CodecError, CompressionType, LanguageCode, RequestCode, ResponseCode,
    SerializeType as HeaderFormat, StoredMessage as MessageExt,
};
