//! [`Admin`]: calls for tools and operators — clusters, routes, producer connections, topic
//! creation, queue offsets and stored messages (a subset of Java's `MQAdminExt`), and the data
//! types they return.

use std::sync::Arc;

use crate::client::validate::{without_namespace, wrap_namespace};
use crate::client::{ClientApi, ClientConfig, MessageQueue};
use crate::error::Result;
use crate::remoting::{ConnectionPool, ServerRequestHandler, UnsupportedRequests};

mod calls;

pub use calls::TopicTarget;

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
/// With a [`ClientConfig::namespace`], topics and groups are given and returned without it:
/// `admin.topic_route("T")` asks for `<ns>%T`, as Java's `NamespaceUtil` wraps names.
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
    /// The configuration's namespace: wrapped around every topic and group sent, removed from
    /// every name returned.
    namespace: Option<String>,
}

impl Admin {
    /// Admin calls with the settings of `config` (name servers, timeouts, hook).
    ///
    /// # Errors
    /// [`crate::Error::Validation`] for a bad setting or no name server.
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
        Ok(Self {
            api,
            namespace: config.namespace_value().map(str::to_string),
        })
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
    /// [`crate::Error::Server`] with `TOPIC_NOT_EXIST` when no name server knows it; transport
    /// errors.
    pub async fn topic_route(&self, topic: &str) -> Result<TopicRoute> {
        crate::client::validate::check_topic_name(topic)?;
        self.api
            .topic_route(&self.wrap(topic), self.api.deadline())
            .await
    }

    /// The producers of `group` connected to the broker at `broker_addr`
    /// (`GET_PRODUCER_CONNECTION_LIST`).
    ///
    /// # Errors
    /// [`crate::Error::Validation`] for an address that is not `host:port` or a bad group
    /// name; transport errors, or an error answer (a group without producers is
    /// `SYSTEM_ERROR`).
    pub async fn producer_connections(
        &self,
        broker_addr: &str,
        group: &str,
    ) -> Result<ProducerConnection> {
        crate::client::check_address("broker address", broker_addr)?;
        crate::client::validate::check_group_name(group)?;
        self.api
            .producer_connections(broker_addr, &self.wrap(group))
            .await
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
    /// [`crate::Error::Validation`] for a bad group or topic name; [`crate::Error::Server`] with
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
        let user_group = group;
        let group = &self.wrap(group);
        let topic = topic.map(|t| self.wrap(t));
        let topic = topic.as_deref();
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
            group: user_group.to_string(),
            queues: Vec::new(),
            total_lag: 0,
            consume_tps: 0.0,
        };
        for answer in answers {
            let stats = answer?;
            progress.consume_tps += stats.consume_tps;
            for (key, offsets) in stats.offset_table {
                progress.queues.push(QueueProgress {
                    queue: MessageQueue::new(
                        without_namespace(self.namespace.as_deref(), &key.topic),
                        key.broker_name,
                        key.queue_id,
                    ),
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

    /// `name` in this admin's namespace, as it goes on the wire.
    fn wrap(&self, name: &str) -> String {
        wrap_namespace(self.namespace.as_deref(), name)
    }
}
