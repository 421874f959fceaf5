//! Topic creation, queue offsets and stored messages on [`Admin`] (Java `MQAdminImpl`):
//! `UPDATE_AND_CREATE_TOPIC`, `GET_MAX_OFFSET`, `GET_MIN_OFFSET`, `SEARCH_OFFSET_BY_TIMESTAMP`,
//! `GET_EARLIEST_MSG_STORETIME`, `VIEW_MESSAGE_BY_ID` and `QUERY_MESSAGE`.

use tracing::{debug, warn};

use super::{Admin, Perm, TopicRoute};
use crate::client::validate::{
    check_property_text, check_send_topic, check_topic_name, without_namespace, AUTO_CREATE_TOPIC,
};
use crate::client::MessageQueue;
use crate::error::{Error, Result, ValidationError};
use crate::protocol::{
    decode_offset_msg_id, property, CreateTopicRequestHeader, QueryMessageRequestHeader,
    ResponseCode, StoredMessage,
};

/// Where [`Admin::create_topic_on`] creates a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TopicTarget {
    /// On every master of the named cluster (`mqadmin updateTopic -c`).
    Cluster(String),
    /// On the broker at this address, `host:port` (`mqadmin updateTopic -b`).
    Broker(String),
    /// On every master of every cluster the name servers know (none when they know none).
    AllClusters,
}

/// The separator of a message's keys (`MessageConst.KEY_SEPARATOR`).
const KEY_SEPARATOR: char = ' ';

impl Admin {
    /// Creates (or updates) `topic` with `queues` read and write queues on the broker at
    /// `broker_addr`: [`Admin::create_topic_on`] with [`TopicTarget::Broker`].
    ///
    /// # Errors
    /// As [`Admin::create_topic_on`].
    pub async fn create_topic(&self, broker_addr: &str, topic: &str, queues: i32) -> Result<()> {
        self.create_topic_on(topic, queues, TopicTarget::Broker(broker_addr.to_string()))
            .await
            .map(drop)
    }

    /// Creates (or updates) `topic` with `queues` read and write queues, readable and
    /// writable, on every master of a cluster or on one broker (`UPDATE_AND_CREATE_TOPIC`,
    /// as `mqadmin updateTopic`). Returns the addresses of the brokers that created it. The
    /// brokers then register the topic with the name servers, so its route follows shortly.
    ///
    /// # Errors
    /// [`Error::Validation`] for a bad name, a count outside `1..=16384` or a bad address;
    /// [`Error::ClusterNotFound`] when the name servers know no such cluster (or it has no
    /// master); transport errors or an error answer of any broker.
    pub async fn create_topic_on(
        &self,
        topic: &str,
        queues: i32,
        target: TopicTarget,
    ) -> Result<Vec<String>> {
        check_send_topic(topic)?;
        if !(1..=crate::protocol::MAX_QUEUES_PER_BROKER).contains(&queues) {
            return Err(ValidationError::OutOfRange {
                field: "queue count",
                expected: "between 1 and 16384",
                got: queues.to_string(),
            }
            .into());
        }
        let addrs = match target {
            TopicTarget::Broker(addr) => {
                crate::client::check_address("broker address", &addr)?;
                vec![addr]
            }
            TopicTarget::AllClusters => {
                let info = self.api.cluster_info().await?;
                let mut masters: Vec<String> = info
                    .broker_addr_table
                    .values()
                    .filter_map(|b| b.master_addr().map(str::to_string))
                    .collect();
                masters.sort();
                masters
            }
            TopicTarget::Cluster(cluster) => {
                let info = self.api.cluster_info().await?;
                let masters: Vec<String> = info
                    .cluster_addr_table
                    .get(&cluster)
                    .into_iter()
                    .flatten()
                    .filter_map(|name| info.broker_addr_table.get(name))
                    .filter_map(|b| b.master_addr().map(str::to_string))
                    .collect();
                if masters.is_empty() {
                    return Err(Error::ClusterNotFound { cluster });
                }
                masters
            }
        };
        let header = CreateTopicRequestHeader {
            topic: self.wrap(topic),
            default_topic: AUTO_CREATE_TOPIC.to_string(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm: Perm::READ | Perm::WRITE,
            topic_filter_type: "SINGLE_TAG".to_string(),
            topic_sys_flag: Some(0),
            order: false,
        };
        for addr in &addrs {
            debug!(topic = %header.topic, broker = %addr, queues, "creating topic");
            self.api.create_topic(addr, &header).await?;
        }
        Ok(addrs)
    }

    /// The readable queues of `topic`, sorted (Java `fetchSubscribeMessageQueues`): what
    /// [`Admin::max_offset`] and the other queue calls take.
    ///
    /// # Errors
    /// [`Error::Validation`] for a bad name; [`Error::TopicNotFound`]; transport errors.
    pub async fn queues(&self, topic: &str) -> Result<Vec<MessageQueue>> {
        let route = self.route_of(topic).await?;
        let mut queues: Vec<MessageQueue> = route
            .queue_datas
            .iter()
            .filter(|q| q.perm.is_readable())
            .flat_map(|q| {
                (0..q.read_queue_nums).map(|id| MessageQueue::new(topic, q.broker_name.clone(), id))
            })
            .collect();
        queues.sort();
        Ok(queues)
    }

    /// The max offset of a queue: the offset its next message gets (`GET_MAX_OFFSET`).
    ///
    /// # Errors
    /// See [`Admin::search_offset`].
    pub async fn max_offset(&self, queue: &MessageQueue) -> Result<i64> {
        let addr = self.queue_broker(queue).await?;
        self.api
            .max_offset(&addr, &self.wrap(&queue.topic), queue.queue_id)
            .await
    }

    /// The min offset of a queue: the offset of its oldest stored message
    /// (`GET_MIN_OFFSET`).
    ///
    /// # Errors
    /// See [`Admin::search_offset`].
    pub async fn min_offset(&self, queue: &MessageQueue) -> Result<i64> {
        let addr = self.queue_broker(queue).await?;
        self.api
            .min_offset(&addr, &self.wrap(&queue.topic), queue.queue_id)
            .await
    }

    /// The offset of the first message of a queue stored at or after `timestamp` (epoch
    /// ms), as the broker finds it (`SEARCH_OFFSET_BY_TIMESTAMP`): the max offset when every
    /// message is older, the min offset when every message is newer.
    ///
    /// # Errors
    /// [`Error::Validation`] for a bad topic name; [`Error::TopicNotFound`] when the topic
    /// has no route; [`Error::NoRoute`] when the route has no master named
    /// `queue.broker_name`; transport errors or an error answer.
    pub async fn search_offset(&self, queue: &MessageQueue, timestamp: i64) -> Result<i64> {
        let addr = self.queue_broker(queue).await?;
        self.api
            .search_offset(&addr, &self.wrap(&queue.topic), queue.queue_id, timestamp)
            .await
    }

    /// The store time (epoch ms) of the oldest message of a queue
    /// (`GET_EARLIEST_MSG_STORETIME`).
    ///
    /// # Errors
    /// See [`Admin::search_offset`]; an empty queue is an error answer of the broker.
    pub async fn earliest_msg_store_time(&self, queue: &MessageQueue) -> Result<i64> {
        let addr = self.queue_broker(queue).await?;
        self.api
            .earliest_msg_store_time(&addr, &self.wrap(&queue.topic), queue.queue_id)
            .await
    }

    /// The stored message with an offset message id ([`crate::SendResult::offset_msg_id`]),
    /// read with its body from the broker the id names (`VIEW_MESSAGE_BY_ID`). Its topic is
    /// given without this admin's namespace.
    ///
    /// # Errors
    /// [`ValidationError::InvalidMessageId`] when it is not an offset message id (before any
    /// network traffic); [`Error::MessageNotFound`] when the broker has no message at that
    /// offset; transport errors or another error answer.
    pub async fn view_message(&self, offset_msg_id: &str) -> Result<StoredMessage> {
        let (addr, offset) = decode_offset_msg_id(offset_msg_id)
            .map_err(|_| ValidationError::InvalidMessageId(offset_msg_id.to_string()))?;
        let addr = addr.to_string();
        match self.api.view_message(&addr, offset, None).await {
            Ok(mut m) => {
                m.topic = without_namespace(self.namespace.as_deref(), &m.topic);
                Ok(m)
            }
            // Both 4.9.3 and 5.x answer `SYSTEM_ERROR` "can not find message by the offset".
            Err(Error::Server { code, remark, .. })
                if code == ResponseCode::SYSTEM_ERROR && remark.contains("can not find") =>
            {
                Err(Error::MessageNotFound {
                    what: format!("{offset_msg_id} (offset {offset} at {addr})"),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Stored messages of `topic` with the key `key` among their keys, stored between
    /// `begin_ms` and `end_ms` (epoch ms), at most `max` from each broker (Java
    /// `queryMessage`): `QUERY_MESSAGE` to a broker of every broker name of the topic's
    /// route (the master when it has one), answers merged and sorted by store time. As in
    /// Java, the brokers' index is a hash index, so only messages whose keys (split on
    /// spaces) contain `key` and whose topic is `topic` are kept; a broker that fails is
    /// left out (logged) unless all fail. Topics are given without this admin's namespace.
    ///
    /// The brokers index a message shortly after storing it, so a query right after a send
    /// may not find it yet.
    ///
    /// # Errors
    /// [`Error::Validation`] for a bad topic, a blank key or `max < 1`;
    /// [`Error::TopicNotFound`]; [`Error::MessageNotFound`] when no broker has a matching
    /// message; the first broker's error when every broker failed.
    pub async fn query_message(
        &self,
        topic: &str,
        key: &str,
        max: i32,
        begin_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<StoredMessage>> {
        self.query(topic, key, max, begin_ms, end_ms, false).await
    }

    /// The stored message of `topic` with the client-side message id `msg_id`
    /// ([`crate::SendResult::msg_id`], property `UNIQ_KEY`; Java `queryMessageByUniqKey`):
    /// `QUERY_MESSAGE` by unique key to every broker of the route; of several copies (a
    /// message sent again) the earliest stored.
    ///
    /// # Errors
    /// As [`Admin::query_message`].
    pub async fn query_message_by_id(&self, topic: &str, msg_id: &str) -> Result<StoredMessage> {
        let mut found = self.query(topic, msg_id, 32, 0, i64::MAX, true).await?;
        Ok(found.remove(0))
    }

    async fn query(
        &self,
        topic: &str,
        key: &str,
        max: i32,
        begin_ms: i64,
        end_ms: i64,
        unique: bool,
    ) -> Result<Vec<StoredMessage>> {
        check_topic_name(topic)?;
        check_property_text("message key", key)?;
        if max < 1 {
            return Err(ValidationError::OutOfRange {
                field: "max messages",
                expected: "at least 1",
                got: max.to_string(),
            }
            .into());
        }
        let wire_topic = self.wrap(topic);
        let route = self.route_of(topic).await?;
        let addrs: Vec<String> = route
            .broker_datas
            .iter()
            .filter_map(|b| {
                b.master_addr()
                    .or_else(|| b.broker_addrs.values().next().map(String::as_str))
                    .map(str::to_string)
            })
            .collect();
        let header = QueryMessageRequestHeader {
            topic: wire_topic.clone(),
            key: key.to_string(),
            max_num: max,
            begin_timestamp: begin_ms,
            end_timestamp: end_ms,
            unique_key_query: Some(unique),
        };
        let answers = futures_util::future::join_all(
            addrs
                .iter()
                .map(|addr| self.api.query_message(addr, &header)),
        )
        .await;
        let mut found = Vec::new();
        let mut first_err = None;
        let mut answered = 0;
        for (addr, answer) in addrs.iter().zip(answers) {
            match answer {
                Ok((messages, _)) => {
                    answered += 1;
                    found.extend(messages.into_iter().filter(|m| {
                        let matched = m.topic == wire_topic
                            && if unique {
                                m.msg_id() == key
                            } else {
                                m.property(property::KEYS).is_some_and(|keys| {
                                    keys.split(KEY_SEPARATOR).any(|k| k == key)
                                })
                            };
                        if !matched {
                            debug!(broker = %addr, msg_id = %m.offset_msg_id, "query hit another key or topic (hash collision)");
                        }
                        matched
                    }));
                }
                Err(e) => {
                    warn!(broker = %addr, topic = %wire_topic, error = %e, "query message failed at one broker");
                    first_err.get_or_insert(e);
                }
            }
        }
        if answered == 0 {
            if let Some(e) = first_err {
                return Err(e);
            }
        }
        if found.is_empty() {
            return Err(Error::MessageNotFound {
                what: format!("key {key:?} in topic {topic}"),
            });
        }
        found.sort_by(|a, b| {
            (a.store_timestamp, &a.offset_msg_id).cmp(&(b.store_timestamp, &b.offset_msg_id))
        });
        found.dedup_by(|a, b| a.offset_msg_id == b.offset_msg_id);
        for m in &mut found {
            m.topic = without_namespace(self.namespace.as_deref(), &m.topic);
        }
        Ok(found)
    }

    /// The route of `topic` (given without namespace); `TOPIC_NOT_EXIST` becomes
    /// [`Error::TopicNotFound`].
    async fn route_of(&self, topic: &str) -> Result<TopicRoute> {
        check_topic_name(topic)?;
        match self
            .api
            .topic_route(&self.wrap(topic), self.api.deadline())
            .await
        {
            Err(e) if e.response_code() == Some(ResponseCode::TOPIC_NOT_EXIST) => {
                Err(Error::TopicNotFound {
                    topic: topic.to_string(),
                })
            }
            other => other,
        }
    }

    /// The master address of `queue`'s broker, from the topic's route.
    async fn queue_broker(&self, queue: &MessageQueue) -> Result<String> {
        let route = self.route_of(&queue.topic).await?;
        route
            .broker_datas
            .iter()
            .find(|b| b.broker_name == queue.broker_name)
            .and_then(|b| b.master_addr())
            .map(str::to_string)
            .ok_or_else(|| Error::NoRoute {
                topic: queue.topic.clone(),
            })
    }
}
