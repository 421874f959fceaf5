//! Typed calls to name servers and brokers (Java `MQClientAPIImpl`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, info};

use super::route::MessageQueue;
use crate::error::{Error, Result, ValidationError};
use crate::protocol::{
    ConsumerSendMsgBackRequestHeader, GetConsumerListByGroupRequestHeader, PullMessageRequestHeader,
    QueryConsumerOffsetRequestHeader, SearchOffsetRequestHeader, UpdateConsumerOffsetRequestHeader,
    decode_first_stored_message, ClusterInfo, CommandHeader, CreateTopicRequestHeader,
    GetProducerConnectionListRequestHeader, GetRouteInfoRequestHeader, HeartbeatData, InflateLimits, LanguageCode,
    ProducerConnection, QueueOffsetRequestHeader, QueueOffsetResponseHeader, RemotingCommand,
    RequestCode, ResponseCode, SerializeType, StoredMessage, TopicRouteData,
    UnregisterClientRequestHeader, ViewMessageRequestHeader, VERSION_4_9_3,
};
use crate::remoting::{
    ConnectionConfig, ConnectionPool, ServerRequestHandler, UnsupportedRequests,
};

/// What every request this client sends declares about itself.
#[derive(Debug, Clone)]
pub struct WireIdentity {
    /// Language in every command (Java sends `JAVA`; 4.9.3 servers do not know `RUST`).
    pub language: LanguageCode,
    /// `MQVersion` ordinal in every command (399 = V4_9_3, like the Java 4.9.3 client).
    pub version: i32,
    /// Header format of requests (JSON by default, as the Java client).
    pub serialize_type: SerializeType,
}

impl Default for WireIdentity {
    fn default() -> Self {
        Self {
            language: LanguageCode::JAVA,
            version: VERSION_4_9_3,
            serialize_type: SerializeType::Json,
        }
    }
}

/// Parses a `;`-separated name-server list (`"a:9876;b:9876"`), validating each `host:port`
/// ([`check_address`]); white space around an entry and empty entries are ignored.
///
/// # Errors
/// [`ValidationError::InvalidAddress`] for an entry that is not `host:port`.
pub fn parse_name_servers(list: &str) -> Result<Vec<String>, ValidationError> {
    let mut out = Vec::new();
    for entry in list.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let entry = entry.strip_prefix("http://").unwrap_or(entry);
        check_address("name server address", entry)?;
        if !out.iter().any(|a| a == entry) {
            out.push(entry.to_string());
        }
    }
    Ok(out)
}

/// Checks one server address, `host:port`: the port 1 to 65535 in digits; the host an IP
/// address (IPv6 also in brackets) or a host name of letters, digits, `-`, `_` and `.`, not
/// all digits and dots unless it is an IPv4 address. Anything else (white space, a path, a
/// `999.1.1.1`) would only fail later in a DNS lookup or a connect, so it is refused here.
///
/// # Errors
/// [`ValidationError::InvalidAddress`] naming `field`.
pub fn check_address(field: &'static str, addr: &str) -> Result<(), ValidationError> {
    let valid = addr.rsplit_once(':').is_some_and(|(host, port)| {
        let port_ok = !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p > 0);
        port_ok && is_host(host)
    });
    if valid {
        Ok(())
    } else {
        Err(ValidationError::InvalidAddress {
            field,
            value: addr.to_string(),
        })
    }
}

fn is_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let name_chars = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let looks_like_ipv4 = host.chars().all(|c| c.is_ascii_digit() || c == '.');
    !host.is_empty() && name_chars && !looks_like_ipv4
}

/// Typed requests over a shared [`ConnectionPool`], with name-server selection.
///
/// Name-server calls stick to one address while it works and move to the next one in the list
/// when it fails (Java `getAndCreateNameserverChannel`).
pub struct ClientApi {
    pool: Arc<ConnectionPool>,
    identity: WireIdentity,
    name_servers: RwLock<Vec<String>>,
    chosen: AtomicUsize,
    timeout: Duration,
}

impl std::fmt::Debug for ClientApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientApi")
            .field("name_servers", &self.name_servers())
            .field("identity", &self.identity)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ClientApi {
    /// An API over `pool`, with `timeout` per call (Java `mqClientApiTimeout`, 3 s).
    pub fn new(
        pool: Arc<ConnectionPool>,
        identity: WireIdentity,
        name_servers: Vec<String>,
        timeout: Duration,
    ) -> Self {
        Self {
            pool,
            identity,
            name_servers: RwLock::new(name_servers),
            chosen: AtomicUsize::new(0),
            timeout,
        }
    }

    /// A stand-alone API with its own pool that answers server requests
    /// `REQUEST_CODE_NOT_SUPPORTED` (for tools such as the CLI).
    pub fn standalone(name_servers: Vec<String>, timeout: Duration) -> Self {
        let handler: Arc<dyn ServerRequestHandler> = Arc::new(UnsupportedRequests);
        let pool = Arc::new(ConnectionPool::new(ConnectionConfig::default(), handler));
        Self::new(pool, WireIdentity::default(), name_servers, timeout)
    }

    /// The connection pool.
    pub fn pool(&self) -> &Arc<ConnectionPool> {
        &self.pool
    }

    /// The identity in every request.
    pub fn identity(&self) -> &WireIdentity {
        &self.identity
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The current name-server list.
    pub fn name_servers(&self) -> Vec<String> {
        self.name_servers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the name-server list; returns whether it changed. Connections to name servers
    /// no longer listed are closed.
    pub async fn update_name_servers(&self, list: Vec<String>) -> bool {
        let removed: Vec<String> = {
            let mut current = self.name_servers.write().unwrap_or_else(|e| e.into_inner());
            let mut a = current.clone();
            let mut b = list.clone();
            a.sort();
            b.sort();
            if a == b {
                return false;
            }
            let removed = current
                .iter()
                .filter(|x| !list.contains(x))
                .cloned()
                .collect();
            info!(old = ?*current, new = ?list, "name server list changed");
            *current = list;
            removed
        };
        self.chosen.store(0, Ordering::Relaxed);
        for addr in removed {
            self.pool.close(&addr).await;
        }
        true
    }

    /// A request stamped with this client's identity.
    pub fn command(&self, code: RequestCode, header: Option<&dyn HeaderWriter>) -> RemotingCommand {
        let mut cmd = RemotingCommand::request(code);
        cmd.language = self.identity.language;
        cmd.version = self.identity.version;
        cmd.serialize_type = self.identity.serialize_type;
        if let Some(h) = header {
            h.write(&mut cmd);
        }
        cmd
    }

    /// Sends `cmd` to a name server before `deadline`: the last one that worked, else each in
    /// turn, each attempt getting an equal share of the time left. Returns the answer and the
    /// address that gave it.
    ///
    /// # Errors
    /// [`ValidationError::NoNameServer`], or the last name server's error.
    pub async fn invoke_name_server(
        &self,
        cmd: RemotingCommand,
        deadline: Instant,
    ) -> Result<(String, RemotingCommand)> {
        let list = self.name_servers();
        if list.is_empty() {
            return Err(ValidationError::NoNameServer.into());
        }
        let start = self.chosen.load(Ordering::Relaxed);
        let mut last_err = None;
        for i in 0..list.len() {
            let index = (start + i) % list.len();
            let addr = &list[index];
            let mut attempt = cmd.clone();
            if i > 0 {
                attempt.opaque = crate::protocol::next_opaque();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let share = left / u32::try_from(list.len() - i).unwrap_or(u32::MAX);
            match self.pool.request(addr, attempt, share).await {
                Ok(resp) => {
                    self.chosen.store(index, Ordering::Relaxed);
                    return Ok((addr.clone(), resp));
                }
                Err(e) if e.is_retriable() => {
                    debug!(addr = %addr, error = %e, "name server failed, trying the next");
                    last_err = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        self.chosen
            .store((start + 1) % list.len(), Ordering::Relaxed);
        Err(last_err.unwrap_or_else(|| ValidationError::NoNameServer.into()))
    }

    /// The deadline of a call made now with the API timeout.
    pub fn deadline(&self) -> Instant {
        crate::util::deadline_after(self.timeout)
    }

    /// Sends `cmd` to the server at `addr`, answering before `deadline`.
    ///
    /// # Errors
    /// Transport errors.
    pub async fn invoke(
        &self,
        addr: &str,
        cmd: RemotingCommand,
        deadline: Instant,
    ) -> Result<RemotingCommand> {
        let timeout = deadline.saturating_duration_since(Instant::now());
        self.pool.request(addr, cmd, timeout).await
    }

    /// Route of `topic` (`GET_ROUTEINFO_BY_TOPIC`).
    ///
    /// # Errors
    /// [`Error::Server`] with `TOPIC_NOT_EXIST` when the name server has no route.
    pub async fn topic_route(&self, topic: &str, deadline: Instant) -> Result<TopicRouteData> {
        let header = GetRouteInfoRequestHeader {
            topic: topic.to_string(),
            accept_standard_json_only: Some(true),
        };
        let cmd = self.command(RequestCode::GET_ROUTEINFO_BY_TOPIC, Some(&header));
        self.name_server_body(cmd, deadline, "route", TopicRouteData::from_json)
            .await
    }

    /// Sends `cmd` to a name server and parses the body of a `SUCCESS` answer.
    async fn name_server_body<T>(
        &self,
        cmd: RemotingCommand,
        deadline: Instant,
        what: &str,
        parse: impl FnOnce(&[u8]) -> Result<T, serde_json::Error>,
    ) -> Result<T> {
        let (addr, resp) = self.invoke_name_server(cmd, deadline).await?;
        let resp = expect_success(&addr, resp)?;
        parse(&resp.body).map_err(|e| Error::invalid_response(&addr, format!("{what} body: {e}")))
    }

    /// Brokers and clusters (`GET_BROKER_CLUSTER_INFO`).
    ///
    /// # Errors
    /// Transport errors, or an error response.
    pub async fn cluster_info(&self) -> Result<ClusterInfo> {
        let cmd = self.command(RequestCode::GET_BROKER_CLUSTER_INFO, None);
        self.name_server_body(cmd, self.deadline(), "cluster", ClusterInfo::from_json)
            .await
    }

    /// Sends a heartbeat to the broker at `addr`; returns the broker's version.
    ///
    /// # Errors
    /// Transport errors, or an error response.
    pub async fn heartbeat(
        &self,
        addr: &str,
        data: &HeartbeatData,
        deadline: Instant,
    ) -> Result<i32> {
        let cmd = self
            .command(RequestCode::HEART_BEAT, None)
            .with_body(data.to_json());
        let resp = expect_success(addr, self.invoke(addr, cmd, deadline).await?)?;
        Ok(resp.version)
    }

    /// Unregisters a producer and/or consumer group of `client_id` from the broker at `addr`.
    ///
    /// # Errors
    /// Transport errors, or an error response.
    pub async fn unregister_client(
        &self,
        addr: &str,
        client_id: &str,
        producer_group: Option<&str>,
        consumer_group: Option<&str>,
        deadline: Instant,
    ) -> Result<()> {
        let header = UnregisterClientRequestHeader {
            client_id: client_id.to_string(),
            producer_group: producer_group.map(str::to_string),
            consumer_group: consumer_group.map(str::to_string),
        };
        let cmd = self.command(RequestCode::UNREGISTER_CLIENT, Some(&header));
        expect_success(addr, self.invoke(addr, cmd, deadline).await?).map(drop)
    }

    /// Producer connections of `group` on the broker at `addr` (`GET_PRODUCER_CONNECTION_LIST`).
    ///
    /// # Errors
    /// Transport errors, or an error response (a group without producers is `SYSTEM_ERROR`).
    pub async fn producer_connections(
        &self,
        addr: &str,
        group: &str,
    ) -> Result<ProducerConnection> {
        let header = GetProducerConnectionListRequestHeader {
            producer_group: group.to_string(),
        };
        let cmd = self.command(RequestCode::GET_PRODUCER_CONNECTION_LIST, Some(&header));
        let resp = expect_success(addr, self.invoke(addr, cmd, self.deadline()).await?)?;
        ProducerConnection::from_json(&resp.body)
            .map_err(|e| Error::invalid_response(addr, format!("producer connections: {e}")))
    }

    /// Creates or updates a topic on the broker at `addr` (`UPDATE_AND_CREATE_TOPIC`).
    ///
    /// # Errors
    /// Transport errors, or an error response.
    pub async fn create_topic(&self, addr: &str, header: &CreateTopicRequestHeader) -> Result<()> {
        let cmd = self.command(RequestCode::UPDATE_AND_CREATE_TOPIC, Some(header));
        expect_success(addr, self.invoke(addr, cmd, self.deadline()).await?).map(drop)
    }

    /// Reads one stored message by its commit-log offset from the broker at `addr`
    /// (`VIEW_MESSAGE_BY_ID`; decode an offset message id for both).
    ///
    /// # Errors
    /// Transport errors, an error response, or a body that does not decode.
    pub async fn view_message(
        &self,
        addr: &str,
        offset: i64,
        topic: Option<&str>,
    ) -> Result<StoredMessage> {
        let header = ViewMessageRequestHeader {
            offset,
            topic: topic.map(str::to_string),
        };
        let cmd = self.command(RequestCode::VIEW_MESSAGE_BY_ID, Some(&header));
        let resp = expect_success(addr, self.invoke(addr, cmd, self.deadline()).await?)?;
        decode_first_stored_message(resp.body, InflateLimits::default())
            .map_err(|e| Error::invalid_response(addr, format!("stored message: {e}")))
    }

    /// The max offset (next offset to be written) of a queue on the broker at `addr`.
    ///
    /// # Errors
    /// Transport errors or an error response.
    pub async fn max_offset(&self, addr: &str, topic: &str, queue_id: i32) -> Result<i64> {
        let header = QueueOffsetRequestHeader {
            topic: topic.to_string(),
            queue_id,
        };
        self.offset_call(addr, RequestCode::GET_MAX_OFFSET, &header).await
    }

    /// Pulls from the broker at `addr` (`PULL_MESSAGE`, long polling: the broker may hold the
    /// request for `suspendTimeoutMillis`, so `timeout` must be longer). The answer is returned
    /// whatever its code: each pull status means something to the caller.
    ///
    /// # Errors
    /// Transport errors.
    pub async fn pull_message(
        &self,
        addr: &str,
        header: &PullMessageRequestHeader,
        timeout: std::time::Duration,
    ) -> Result<RemotingCommand> {
        let cmd = self.command(RequestCode::PULL_MESSAGE, Some(header));
        self.pool.request(addr, cmd, timeout).await
    }

    /// The offset `group` stored for a queue (`QUERY_CONSUMER_OFFSET`); `None` when the broker
    /// has none (`QUERY_NOT_FOUND`, the only answer that means "no offset").
    ///
    /// # Errors
    /// Transport errors and every other error answer.
    pub async fn query_consumer_offset(
        &self,
        addr: &str,
        header: &QueryConsumerOffsetRequestHeader,
    ) -> Result<Option<i64>> {
        let cmd = self.command(RequestCode::QUERY_CONSUMER_OFFSET, Some(header));
        let resp = self.invoke(addr, cmd, self.deadline()).await?;
        if resp.response_code() == ResponseCode::QUERY_NOT_FOUND {
            return Ok(None);
        }
        let resp = expect_success(addr, resp)?;
        let h: QueueOffsetResponseHeader = resp
            .decode_header()
            .map_err(|e| Error::invalid_response(addr, e))?;
        Ok(Some(h.offset))
    }

    /// Stores `group`'s offset of a queue (`UPDATE_CONSUMER_OFFSET`), waiting for the answer.
    ///
    /// # Errors
    /// Transport errors, or an error answer.
    pub async fn update_consumer_offset(
        &self,
        addr: &str,
        header: &UpdateConsumerOffsetRequestHeader,
        deadline: Instant,
    ) -> Result<()> {
        let cmd = self.command(RequestCode::UPDATE_CONSUMER_OFFSET, Some(header));
        expect_success(addr, self.invoke(addr, cmd, deadline).await?).map(drop)
    }

    /// The client ids of `group` the broker at `addr` knows (`GET_CONSUMER_LIST_BY_GROUP`).
    ///
    /// # Errors
    /// Transport errors, or an error answer (`SYSTEM_ERROR` when the broker has no consumer of
    /// the group yet).
    pub async fn consumer_ids(&self, addr: &str, group: &str) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Body {
            #[serde(default)]
            consumer_id_list: Vec<String>,
        }
        let header = GetConsumerListByGroupRequestHeader {
            consumer_group: group.to_string(),
        };
        let cmd = self.command(RequestCode::GET_CONSUMER_LIST_BY_GROUP, Some(&header));
        let resp = expect_success(addr, self.invoke(addr, cmd, self.deadline()).await?)?;
        let body: Body = crate::protocol::parse_fastjson(&resp.body)
            .map_err(|e| Error::invalid_response(addr, format!("consumer list: {e}")))?;
        Ok(body.consumer_id_list)
    }

    /// Locks `queues` for an orderly consumer of `group` at the master `addr`
    /// (`LOCK_BATCH_MQ`, body `LockBatchRequestBody`) and returns the queues the broker
    /// granted (it refuses those another client holds a live lock on).
    ///
    /// # Errors
    /// Transport errors, an error answer, or a body that does not parse.
    pub async fn lock_batch_mq(
        &self,
        addr: &str,
        group: &str,
        client_id: &str,
        queues: &[MessageQueue],
        deadline: Instant,
    ) -> Result<Vec<MessageQueue>> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Granted {
            topic: String,
            broker_name: String,
            queue_id: i32,
        }
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(default, rename = "lockOKMQSet")]
            locked: Vec<Granted>,
        }
        let body = lock_body(group, client_id, queues);
        let cmd = self
            .command(RequestCode::LOCK_BATCH_MQ, None)
            .with_body(body.into_bytes());
        let resp = expect_success(addr, self.invoke(addr, cmd, deadline).await?)?;
        let body: Body = crate::protocol::parse_fastjson(&resp.body)
            .map_err(|e| Error::invalid_response(addr, format!("lock answer: {e}")))?;
        Ok(body
            .locked
            .into_iter()
            .map(|g| MessageQueue::new(g.topic, g.broker_name, g.queue_id))
            .collect())
    }

    /// Releases queue locks of `group` at `addr` (`UNLOCK_BATCH_MQ`): oneway when a queue
    /// is given up during a rebalance, waiting for the answer otherwise (shutdown), as Java.
    ///
    /// # Errors
    /// Transport errors, or an error answer.
    pub async fn unlock_batch_mq(
        &self,
        addr: &str,
        group: &str,
        client_id: &str,
        queues: &[MessageQueue],
        oneway: bool,
        deadline: Instant,
    ) -> Result<()> {
        let body = lock_body(group, client_id, queues);
        let cmd = self
            .command(RequestCode::UNLOCK_BATCH_MQ, None)
            .with_body(body.into_bytes());
        let timeout = deadline.saturating_duration_since(Instant::now());
        if oneway {
            return self.pool.oneway(addr, cmd, timeout).await;
        }
        expect_success(addr, self.pool.request(addr, cmd, timeout).await?).map(drop)
    }

    /// Asks `addr` whether it accepts a consumer's subscription (`CHECK_CLIENT_CONFIG`, body
    /// `CheckClientRequestBody`; Java does this for SQL92 subscriptions at start). Returns the
    /// broker's answer as is: `SUCCESS`, `SYSTEM_ERROR` (filtering disabled) or
    /// `SUBSCRIPTION_PARSE_FAILED`.
    ///
    /// # Errors
    /// Transport errors.
    pub async fn check_client_config(
        &self,
        addr: &str,
        group: &str,
        client_id: &str,
        subscription: &serde_json::Value,
        deadline: Instant,
    ) -> Result<RemotingCommand> {
        let body = serde_json::json!({
            "clientId": client_id,
            "group": group,
            "subscriptionData": subscription,
        });
        let cmd = self
            .command(RequestCode::CHECK_CLIENT_CONFIG, None)
            .with_body(body.to_string().into_bytes());
        self.invoke(addr, cmd, deadline).await
    }

    /// Sends a consumed message back for a retry (`CONSUMER_SEND_MSG_BACK`) to the broker
    /// that stored it.
    ///
    /// # Errors
    /// Transport errors, or an error answer.
    pub async fn send_message_back(
        &self,
        addr: &str,
        header: &ConsumerSendMsgBackRequestHeader,
        deadline: Instant,
    ) -> Result<()> {
        let cmd = self.command(RequestCode::CONSUMER_SEND_MSG_BACK, Some(header));
        expect_success(addr, self.invoke(addr, cmd, deadline).await?).map(drop)
    }

    /// The min offset of a queue on the broker at `addr`.
    ///
    /// # Errors
    /// Transport errors or an error response.
    pub async fn min_offset(&self, addr: &str, topic: &str, queue_id: i32) -> Result<i64> {
        let header = QueueOffsetRequestHeader {
            topic: topic.to_string(),
            queue_id,
        };
        self.offset_call(addr, RequestCode::GET_MIN_OFFSET, &header).await
    }

    /// The offset of the first message stored at or after `timestamp` (epoch ms)
    /// (`SEARCH_OFFSET_BY_TIMESTAMP`).
    ///
    /// # Errors
    /// Transport errors or an error response.
    pub async fn search_offset(
        &self,
        addr: &str,
        topic: &str,
        queue_id: i32,
        timestamp: i64,
    ) -> Result<i64> {
        let header = SearchOffsetRequestHeader {
            topic: topic.to_string(),
            queue_id,
            timestamp,
            broker_name: None,
        };
        self.offset_call(addr, RequestCode::SEARCH_OFFSET_BY_TIMESTAMP, &header)
            .await
    }

    async fn offset_call<H: CommandHeader + Sync>(
        &self,
        addr: &str,
        code: RequestCode,
        header: &H,
    ) -> Result<i64> {
        let cmd = self.command(code, Some(header));
        let resp = expect_success(addr, self.invoke(addr, cmd, self.deadline()).await?)?;
        let h: QueueOffsetResponseHeader = resp
            .decode_header()
            .map_err(|e| Error::invalid_response(addr, e))?;
        Ok(h.offset)
    }

    /// A consumer group's offsets on the broker at `addr`, of every topic it has offsets of
    /// or of `topic` only (`GET_CONSUME_STATS`).
    ///
    /// # Errors
    /// Transport errors, an error answer, or a body that does not parse.
    pub async fn consume_stats(
        &self,
        addr: &str,
        group: &str,
        topic: Option<&str>,
        deadline: Instant,
    ) -> Result<crate::protocol::ConsumeStats> {
        let header = crate::protocol::GetConsumeStatsRequestHeader {
            consumer_group: group.to_string(),
            topic: topic.map(str::to_string),
        };
        let cmd = self.command(RequestCode::GET_CONSUME_STATS, Some(&header));
        let resp = expect_success(addr, self.invoke(addr, cmd, deadline).await?)?;
        crate::protocol::ConsumeStats::from_json(&resp.body)
            .map_err(|e| Error::invalid_response(addr, format!("consume stats: {e}")))
    }

    /// The store time (epoch ms) of the first message of a queue on the broker at `addr`
    /// (`GET_EARLIEST_MSG_STORETIME`).
    ///
    /// # Errors
    /// Transport errors or an error response (`SYSTEM_ERROR` for an empty queue).
    pub async fn earliest_msg_store_time(
        &self,
        addr: &str,
        topic: &str,
        queue_id: i32,
    ) -> Result<i64> {
        let header = QueueOffsetRequestHeader {
            topic: topic.to_string(),
            queue_id,
        };
        let cmd = self.command(RequestCode::GET_EARLIEST_MSG_STORETIME, Some(&header));
        let resp = expect_success(addr, self.invoke(addr, cmd, self.deadline()).await?)?;
        let h: crate::protocol::EarliestMsgStoreTimeResponseHeader = resp
            .decode_header()
            .map_err(|e| Error::invalid_response(addr, e))?;
        Ok(h.timestamp)
    }

    /// Stored messages indexed under a key at the broker at `addr` (`QUERY_MESSAGE`), with the
    /// broker's index update time; an empty list when the broker has none (`QUERY_NOT_FOUND`).
    /// The broker searches its index files, so this gets three times the API timeout, as
    /// Java's.
    ///
    /// # Errors
    /// Transport errors, another error answer, or a body that does not decode.
    pub async fn query_message(
        &self,
        addr: &str,
        header: &crate::protocol::QueryMessageRequestHeader,
    ) -> Result<(Vec<StoredMessage>, i64)> {
        let cmd = self.command(RequestCode::QUERY_MESSAGE, Some(header));
        let resp = self.pool.request(addr, cmd, self.timeout * 3).await?;
        if resp.response_code() == ResponseCode::QUERY_NOT_FOUND {
            return Ok((Vec::new(), 0));
        }
        let resp = expect_success(addr, resp)?;
        let h: crate::protocol::QueryMessageResponseHeader = resp
            .decode_header()
            .map_err(|e| Error::invalid_response(addr, e))?;
        let messages = crate::protocol::decode_stored_messages(resp.body, InflateLimits::default())
            .map_err(|e| Error::invalid_response(addr, format!("stored messages: {e}")))?;
        Ok((messages, h.index_last_update_timestamp.unwrap_or(0)))
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close_all().await;
    }
}

/// Object-safe view of a [`CommandHeader`], so headers can be passed as `&dyn`.
pub trait HeaderWriter {
    /// Writes the header into the command's ext fields.
    fn write(&self, cmd: &mut RemotingCommand);
}

impl<H: CommandHeader> HeaderWriter for H {
    fn write(&self, cmd: &mut RemotingCommand) {
        self.write_to(&mut cmd.ext_fields);
    }
}

/// Turns a non-`SUCCESS` response into [`Error::Server`] (or [`Error::Authentication`]
/// when a broker's ACL refused the credentials).
///
/// # Errors
/// [`Error::Server`] or [`Error::Authentication`] with the response's code and remark.
pub fn expect_success(addr: &str, resp: RemotingCommand) -> Result<RemotingCommand> {
    if resp.response_code() == ResponseCode::SUCCESS {
        Ok(resp)
    } else {
        Err(Error::from_response(
            addr,
            resp.response_code(),
            resp.remark.unwrap_or_default(),
        ))
    }
}

/// `LockBatchRequestBody` (4.9.3 fields; 5.x also reads `onlyThisBroker`, default false).
fn lock_body(group: &str, client_id: &str, queues: &[MessageQueue]) -> String {
    let mq_set: Vec<serde_json::Value> = queues
        .iter()
        .map(|mq| {
            serde_json::json!({"brokerName": mq.broker_name, "queueId": mq.queue_id, "topic": mq.topic})
        })
        .collect();
    serde_json::json!({"clientId": client_id, "consumerGroup": group, "mqSet": mq_set}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_server_lists() {
        assert_eq!(
            parse_name_servers(" 127.0.0.1:9876; 127.0.0.2:9876;;127.0.0.1:9876").unwrap(),
            vec!["127.0.0.1:9876", "127.0.0.2:9876"]
        );
        assert!(parse_name_servers("").unwrap().is_empty());
        assert_eq!(
            parse_name_servers("[::1]:9876;::1:9876;name-srv_1.example:9876").unwrap(),
            vec!["[::1]:9876", "::1:9876", "name-srv_1.example:9876"]
        );
        for bad in [
            "localhost",
            ":9876",
            "h:0",
            "h:99999",
            "h:x",
            "h:+80",
            "127.0.0.1 :9876",
            "local host:9876",
            "999.999.999.999:9876",
            "[::1:9876",
            "h/x:9876",
            "user@h:9876",
        ] {
            let err = parse_name_servers(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    ValidationError::InvalidAddress {
                        field: "name server address",
                        ..
                    }
                ),
                "{bad}: {err}"
            );
        }
    }
}
