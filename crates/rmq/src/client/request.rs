//! Request–reply on the client instance (Java `RequestFutureHolder` and
//! `ClientRemotingProcessor.receiveReplyMessage`): the table of requests waiting for their
//! reply, keyed by correlation id, and the decoding of a reply the broker pushes
//! (`PUSH_REPLY_MESSAGE_TO_CLIENT`).
//!
//! ```text
//!  Producer::request ── register(correlation id) → PendingReply (removes itself on drop)
//!                       send the request … wait on the PendingReply until the timeout
//!  broker ── 326 ──→ processor ── reply_from_push ── complete(reply) → the waiter, or
//!                                                    "no pending request": logged, dropped
//!  instance stop ── close(): every waiter sees the table closed
//! ```

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use tracing::warn;

use crate::error::{Error, Result};
use crate::protocol::{
    decode_properties, decompress, property, type_from_sys_flag, InflateLimits, RemotingCommand,
    ReplyMessageRequestHeader, StoredMessage, SysFlag,
};
use crate::util::now_ms;

#[derive(Default)]
struct Table {
    waiters: HashMap<String, oneshot::Sender<StoredMessage>>,
    closed: bool,
}

/// Requests waiting for their reply, by correlation id. Shared by every producer of one
/// client instance, since the broker pushes replies to the client id.
#[derive(Default)]
pub struct RequestTable {
    inner: Mutex<Table>,
}

impl std::fmt::Debug for RequestTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestTable")
            .field("pending", &self.len())
            .finish()
    }
}

impl RequestTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a waiter for `correlation_id`. The returned guard removes it when dropped,
    /// however the request ends (reply, timeout, cancelled future).
    ///
    /// # Errors
    /// [`Error::Shutdown`] once the instance stopped.
    pub(crate) fn register(self: &Arc<Self>, correlation_id: &str) -> Result<PendingReply> {
        let (tx, rx) = oneshot::channel();
        let mut table = self.lock();
        if table.closed {
            return Err(Error::Shutdown);
        }
        table.waiters.insert(correlation_id.to_string(), tx);
        Ok(PendingReply {
            table: Arc::clone(self),
            correlation_id: correlation_id.to_string(),
            rx,
        })
    }

    /// Hands `reply` to the request waiting for its correlation id. Returns false (and drops
    /// the reply) when none waits: unknown, already answered, timed out or cancelled.
    pub(crate) fn complete(&self, reply: StoredMessage) -> bool {
        let Some(id) = reply.property(property::CORRELATION_ID).map(str::to_string) else {
            return false;
        };
        let waiter = self.lock().waiters.remove(&id);
        match waiter {
            // The receiver may have gone between the lookup and now (a cancelled request).
            Some(tx) => tx.send(reply).is_ok(),
            None => false,
        }
    }

    /// Ends every waiting request (they fail with [`Error::Shutdown`]) and refuses new ones.
    pub(crate) fn close(&self) {
        let mut table = self.lock();
        table.closed = true;
        table.waiters.clear();
    }

    /// How many requests wait for a reply.
    pub fn len(&self) -> usize {
        self.lock().waiters.len()
    }

    /// Whether no request waits for a reply.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One request waiting for its reply; leaves the table when dropped.
pub(crate) struct PendingReply {
    table: Arc<RequestTable>,
    correlation_id: String,
    rx: oneshot::Receiver<StoredMessage>,
}

impl PendingReply {
    /// Waits for the reply.
    ///
    /// # Errors
    /// [`Error::Shutdown`] when the instance stopped first.
    pub(crate) async fn reply(&mut self) -> Result<StoredMessage> {
        (&mut self.rx).await.map_err(|_| Error::Shutdown)
    }
}

impl Drop for PendingReply {
    fn drop(&mut self) {
        self.table.lock().waiters.remove(&self.correlation_id);
    }
}

/// Java's `InetSocketAddress.toString()` form (`host/1.2.3.4:5`, `/1.2.3.4:5`, IPv6 without
/// brackets) or plain `ip:port`, as a socket address; `0.0.0.0:0` when it does not parse.
fn parse_java_host(text: Option<&str>) -> SocketAddr {
    let unspecified = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
    let Some(text) = text else {
        return unspecified;
    };
    let text = text.rsplit_once('/').map_or(text, |(_, addr)| addr);
    let Some((host, port)) = text.rsplit_once(':') else {
        return unspecified;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match (host.parse::<IpAddr>(), port.parse::<u16>()) {
        (Ok(ip), Ok(port)) => SocketAddr::new(ip, port),
        _ => unspecified,
    }
}

/// The reply a `PUSH_REPLY_MESSAGE_TO_CLIENT` carries, as Java builds it: header fields, the
/// body (inflated when compressed; kept as sent when it does not inflate, as Java does), the
/// properties with `ARRIVE_TIME` added. Fields a push does not carry (offsets, CRC) are zero.
///
/// # Errors
/// [`crate::protocol::HeaderError`] as text when the header does not decode.
pub(crate) fn reply_from_push(addr: &str, request: &RemotingCommand) -> Result<StoredMessage, String> {
    let arrived = now_ms();
    let header = request
        .decode_header::<ReplyMessageRequestHeader>()
        .map_err(|e| e.to_string())?;
    let mut body = request.body.clone();
    let mut sys_flag = header.sys_flag;
    let mut body_compressed = false;
    if sys_flag & SysFlag::COMPRESSED != 0 {
        let inflated = type_from_sys_flag(sys_flag)
            .map_err(|e| e.to_string())
            .and_then(|kind| {
                decompress(kind, &body, InflateLimits::default().per_message)
                    .map_err(|e| e.to_string())
            });
        match inflated {
            Ok(inflated) => {
                body = inflated;
                sys_flag &= !SysFlag::COMPRESSED;
            }
            Err(e) => {
                warn!(addr, error = %e, "reply body does not inflate; kept as sent");
                body_compressed = true;
            }
        }
    }
    let mut properties = decode_properties(header.properties.as_deref().unwrap_or_default());
    properties.push((
        property::REPLY_MESSAGE_ARRIVE_TIME.to_string(),
        arrived.to_string(),
    ));
    Ok(StoredMessage {
        store_size: 0,
        magic: 0,
        body_crc: 0,
        queue_id: header.queue_id,
        flag: header.flag,
        queue_offset: 0,
        commit_log_offset: 0,
        sys_flag,
        born_timestamp: header.born_timestamp,
        born_host: parse_java_host(header.born_host.as_deref()),
        store_timestamp: header.store_timestamp,
        store_host: parse_java_host(header.store_host.as_deref()),
        reconsume_times: header.reconsume_times.unwrap_or(0),
        prepared_transaction_offset: 0,
        body,
        body_compressed,
        topic: header.topic,
        properties,
        offset_msg_id: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{compress, encode_properties, CompressionType, RequestCode};

    fn push(props: &str, sys_flag: i32, body: bytes::Bytes) -> RemotingCommand {
        let header = ReplyMessageRequestHeader {
            producer_group: Some("pg".into()),
            topic: "DefaultCluster_REPLY_TOPIC".into(),
            default_topic: Some("TBW102".into()),
            default_topic_queue_nums: Some(4),
            queue_id: 3,
            sys_flag,
            born_timestamp: 1_700_000_000_000,
            flag: 7,
            properties: Some(props.into()),
            reconsume_times: None,
            unit_mode: Some(false),
            born_host: Some("/127.0.0.1:54321".into()),
            store_host: Some("localhost/127.0.0.1:10911".into()),
            store_timestamp: 1_700_000_000_123,
        };
        RemotingCommand::request_with_header(RequestCode::PUSH_REPLY_MESSAGE_TO_CLIENT, &header)
            .with_body(body)
    }

    #[test]
    fn a_pushed_reply_decodes_with_inflated_body_hosts_and_arrive_time() {
        let props = encode_properties([("CORRELATION_ID", "c-1"), ("MSG_TYPE", "reply")]);
        let body = compress(CompressionType::Zlib, 5, b"hello reply").unwrap();
        let reply = reply_from_push("a", &push(&props, 1, body)).unwrap();
        assert_eq!(&reply.body[..], b"hello reply");
        assert_eq!(reply.sys_flag & SysFlag::COMPRESSED, 0);
        assert_eq!(reply.born_host, "127.0.0.1:54321".parse().unwrap());
        assert_eq!(reply.store_host, "127.0.0.1:10911".parse().unwrap());
        assert_eq!(reply.queue_id, 3);
        assert_eq!(reply.flag, 7);
        assert_eq!(reply.property("CORRELATION_ID"), Some("c-1"));
        assert!(reply.property("ARRIVE_TIME").unwrap().parse::<i64>().unwrap() > 0);
    }

    #[test]
    fn java_host_forms_parse() {
        assert_eq!(
            parse_java_host(Some("/0:0:0:0:0:0:0:1:80")),
            "[::1]:80".parse().unwrap()
        );
        assert_eq!(parse_java_host(Some("10.0.0.1:9")), "10.0.0.1:9".parse().unwrap());
        assert_eq!(parse_java_host(Some("junk")).port(), 0);
        assert_eq!(parse_java_host(None).port(), 0);
    }

    #[tokio::test]
    async fn the_table_completes_once_and_cleans_up_on_drop_and_close() {
        let table = Arc::new(RequestTable::default());
        let mut pending = table.register("c-1").unwrap();
        let props = encode_properties([("CORRELATION_ID", "c-1")]);
        let reply = reply_from_push("a", &push(&props, 0, "x".into())).unwrap();
        assert!(table.complete(reply.clone()));
        assert!(!table.complete(reply), "a second reply finds no waiter");
        assert_eq!(&pending.reply().await.unwrap().body[..], b"x");
        drop(pending);
        let dropped = table.register("c-2").unwrap();
        assert_eq!(table.len(), 1);
        drop(dropped);
        assert!(table.is_empty(), "a dropped request leaves nothing");
        let mut waiting = table.register("c-3").unwrap();
        table.close();
        assert!(matches!(waiting.reply().await, Err(Error::Shutdown)));
        assert!(matches!(table.register("c-4"), Err(Error::Shutdown)));
    }
}
