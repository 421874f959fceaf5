//! [`Admin`]: calls for tools and operators — clusters, routes, producer connections, topic
//! creation, queue offsets and stored messages (a subset of Java's `MQAdminExt`), and the data
//! types they return.

use std::sync::Arc;

use crate::client::{ClientApi, ClientConfig, MessageQueue};
use crate::error::{Error, Result};
use crate::protocol::{decode_offset_msg_id, CreateTopicRequestHeader, StoredMessage};
use crate::remoting::{ConnectionPool, ServerRequestHandler, UnsupportedRequests};

pub use crate::protocol::{
    BrokerData, ClientConnection, ClusterInfo, Perm, ProducerConnection, QueueData,
    TopicRouteData as TopicRoute,
};

/// A consumer group's progress ([`Admin::consume_progress`], Java `ConsumeStats`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct ConsumeProgress {
    /// The group.
    pub group: String,
    /// One entry per queue, sorted by topic, broker name and queue id.
    pub queues: Vec<QueueProgress>,
    /// Sum of every queue's lag (mqadmin's "Consume Diff Total").
    pub total_lag: i64,
    /// The group's consume rate as the brokers measure it, messages per second, summed over
    /// the brokers.
    pub consume_tps: f64,
}

/// One queue of a [`ConsumeProgress`] (Java `OffsetWrapper`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct QueueProgress {
    /// The queue.
    pub queue: MessageQueue,
    /// The queue's max offset on the broker (the offset the next message gets).
    pub broker_offset: i64,
    /// The group's committed offset (0 when it has none).
    pub consumer_offset: i64,
    /// 5.x: the highest offset the group pulled (so `pull_offset - consumer_offset` is in
    /// flight); `None` from 4.x brokers.
    pub pull_offset: Option<i64>,
    /// `broker_offset - consumer_offset`: messages not yet consumed.
    pub lag: i64,
    /// Store time (epoch ms) of the last consumed message, when the broker knows it.
    pub last_timestamp: Option<i64>,
}

/// Administrative calls to the name servers and brokers of a [`ClientConfig`], on connections
/// of its own (no client instance, no heartbeats). Each call takes at most the API timeout.
///
/// ```no_run
/// # async fn demo() -> rmq::Result<()> {
/// let admin = rmq::Admin::new(&rmq::ClientConfig::new().name_server("127.0.0.1:9876"))?;
/// let route = admin.topic_route("TBW102").await?;
/// for broker in &route.broker_datas {
///     println!("{} at {:?}", broker.broker_name, broker.master_addr());
/// }
/// admin.close().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Admin {
    api: ClientApi,
}

impl Admin {
    /// Admin calls with the settings of `config` (name servers, timeouts, hook).
    ///
    /// # Errors
    /// [`Error::Validation`] for a bad setting or no name server.
    pub fn new(config: &ClientConfig) -> Result<Self> {
        let resolved = config.validate()?;
        // Brokers may send requests on any connection; a tool answers them as a Java peer
        // without processors does.
        let handler: Arc<dyn ServerRequestHandler> = Arc::new(UnsupportedRequests);
        let pool = Arc::new(ConnectionPool::new(resolved.connection, handler));
        let api = ClientApi::new(
            pool,
            resolved.identity,
            resolved.name_servers,
            resolved.api_timeout,
        );
        Ok(Self { api })
    }

    /// The name servers asked, in order.
    pub fn name_servers(&self) -> Vec<String> {
        self.api.name_servers()
    }

    /// Brokers and clusters known to the name servers (`GET_BROKER_CLUSTER_INFO`).
    ///
    /// # Errors
    /// Transport errors, or an error answer.
    pub async fn cluster_info(&self) -> Result<ClusterInfo> {
        self.api.cluster_info().await
    }

    /// The route of `topic`: its brokers and queues (`GET_ROUTEINFO_BY_TOPIC`).
    ///
    /// # Errors
    /// [`Error::Server`] with `TOPIC_NOT_EXIST` when no name server knows it; transport
    /// errors.
    pub async fn topic_route(&self, topic: &str) -> Result<TopicRoute> {
        crate::client::validate::check_topic_name(topic)?;
        self.api.topic_route(topic, self.api.deadline()).await
    }

    /// The producers of `group` connected to the broker at `broker_addr`
    /// (`GET_PRODUCER_CONNECTION_LIST`).
    ///
    /// # Errors
    /// Transport errors, or an error answer (a group without producers is `SYSTEM_ERROR`).
    pub async fn producer_connections(
        &self,
        broker_addr: &str,
        group: &str,
    ) -> Result<ProducerConnection> {
        self.api.producer_connections(broker_addr, group).await
    }

    /// Creates (or updates) `topic` with `queues` read and write queues on the broker at
    /// `broker_addr` (`UPDATE_AND_CREATE_TOPIC`, as `mqadmin updateTopic`).
    ///
    /// # Errors
    /// [`Error::Validation`] for a bad name or count; transport errors, or an error answer.
    pub async fn create_topic(&self, broker_addr: &str, topic: &str, queues: i32) -> Result<()> {
        crate::client::validate::check_send_topic(topic)?;
        if !(1..=i32::from(u16::MAX)).contains(&queues) {
            return Err(crate::error::ValidationError::OutOfRange {
                field: "queue count",
                expected: "between 1 and 65535",
                got: queues.to_string(),
            }
            .into());
        }
        let header = CreateTopicRequestHeader {
            topic: topic.to_string(),
            default_topic: crate::client::validate::AUTO_CREATE_TOPIC.to_string(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm: Perm::READ | Perm::WRITE,
            topic_filter_type: "SINGLE_TAG".to_string(),
            topic_sys_flag: Some(0),
            order: false,
        };
        self.api.create_topic(broker_addr, &header).await
    }

    /// The next offset to be written in a queue of the broker at `broker_addr`
    /// (`GET_MAX_OFFSET`).
    ///
    /// # Errors
    /// Transport errors, or an error answer.
    pub async fn max_offset(&self, broker_addr: &str, topic: &str, queue_id: i32) -> Result<i64> {
        self.api.max_offset(broker_addr, topic, queue_id).await
    }

    /// The stored message with an offset message id (the broker-side id of a
    /// [`crate::SendResult`]), read from the broker the id names (`VIEW_MESSAGE_BY_ID`).
    ///
    /// # Errors
    /// [`crate::ValidationError::InvalidMessageId`] when it is not an offset message id;
    /// transport errors, or an error answer.
    pub async fn view_message(&self, offset_msg_id: &str) -> Result<StoredMessage> {
        let (addr, offset) = decode_offset_msg_id(offset_msg_id).map_err(|_| {
            Error::from(crate::error::ValidationError::InvalidMessageId(
                offset_msg_id.to_string(),
            ))
        })?;
        self.api.view_message(&addr.to_string(), offset, None).await
    }

    /// The consume progress of `group`, as `mqadmin consumerProgress` shows it: for every
    /// queue the group has an offset of (its retry topic included) — or of `topic` only —
    /// the broker's max offset, the group's offset and the difference (the lag).
    ///
    /// As Java's `examineConsumeStats`, the brokers asked are those of the group's retry topic
    /// `%RETRY%<group>` (else of `topic`), each with `GET_CONSUME_STATS`. A group the brokers
    /// know nothing of gives an empty result.
    ///
    /// # Errors
    /// [`Error::Validation`] for a bad group or topic name; [`Error::Server`] with
    /// `TOPIC_NOT_EXIST` when no route of the retry topic (or `topic`) exists; transport
    /// errors or an error answer of any broker (a partial answer would understate the lag).
    pub async fn consume_progress(
        &self,
        group: &str,
        topic: Option<&str>,
    ) -> Result<ConsumeProgress> {
        crate::client::validate::check_consumer_group(group)?;
        if let Some(topic) = topic {
            crate::client::validate::check_topic_name(topic)?;
        }
        let mut route_topics = vec![crate::client::validate::retry_topic(group)];
        if let Some(topic) = topic {
            route_topics.push(topic.to_string());
            // 5.x pop retry topic (`KeyBuilder.buildPopRetryTopic`).
            route_topics.push(format!("%RETRY%{group}_{topic}"));
        }
        let mut route = None;
        let mut last_err = None;
        for name in &route_topics {
            match self.api.topic_route(name, self.api.deadline()).await {
                Ok(r) => {
                    route = Some(r);
                    break;
                }
                Err(e) => last_err = Some(e),
            }
        }
        let route = match (route, last_err) {
            (Some(route), _) => route,
            (None, Some(e)) => return Err(e),
            (None, None) => unreachable!("route_topics is never empty"),
        };
        let brokers: Vec<String> = route
            .broker_datas
            .iter()
            .filter_map(|b| {
                b.master_addr()
                    .or_else(|| b.broker_addrs.values().next().map(String::as_str))
                    .map(str::to_string)
            })
            .collect();
        let answers = futures_util::future::join_all(brokers.iter().map(|addr| {
            self.api
                .consume_stats(addr, group, topic, self.api.deadline())
        }))
        .await;
        let mut progress = ConsumeProgress {
            group: group.to_string(),
            queues: Vec::new(),
            total_lag: 0,
            consume_tps: 0.0,
        };
        for answer in answers {
            let stats = answer?;
            progress.consume_tps += stats.consume_tps;
            for (key, offsets) in stats.offset_table {
                progress.queues.push(QueueProgress {
                    queue: MessageQueue::new(key.topic, key.broker_name, key.queue_id),
                    broker_offset: offsets.broker_offset,
                    consumer_offset: offsets.consumer_offset,
                    pull_offset: offsets.pull_offset,
                    lag: offsets.broker_offset - offsets.consumer_offset,
                    last_timestamp: (offsets.last_timestamp > 0).then_some(offsets.last_timestamp),
                });
            }
        }
        // Java's `MessageQueue` order: topic, broker name, queue id.
        progress.queues.sort_by(|a, b| a.queue.cmp(&b.queue));
        progress.queues.dedup_by(|a, b| a.queue == b.queue);
        progress.total_lag = progress.queues.iter().map(|q| q.lag).sum();
        Ok(progress)
    }

    /// Closes every connection. Idempotent.
    pub async fn close(&self) {
        self.api.close().await;
    }
}
