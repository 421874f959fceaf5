//! Messages in the broker's stored layout ([`StoredMessage`], Java `MessageExt`): what
//! `VIEW_MESSAGE_BY_ID`, `CHECK_TRANSACTION_STATE` and pull responses carry, decoded with
//! bounded inflation.
//!
//! Stored-message layout (`MessageDecoder.decode`, all integers big-endian):
//!
//! ```text
//! i32 totalSize | i32 magic | i32 bodyCRC | i32 queueId | i32 flag | i64 queueOffset
//! i64 commitLogOffset | i32 sysFlag | i64 bornTimestamp | bornHost (4|16 bytes IP, i32 port)
//! i64 storeTimestamp | storeHost (4|16 bytes IP, i32 port) | i32 reconsumeTimes
//! i64 preparedTransactionOffset | i32 bodyLen, body | topicLen (u8 V1 | i16 V2), topic
//! i16 propertiesLen, properties
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{Buf, Bytes};

use super::batch::{decode_batch, BatchError};
use super::compress::{decompress, type_from_sys_flag, CompressError, CompressionType};
use super::message::{
    decode_properties, offset_msg_id, property, MessageDecodeError, SysFlag,
    MESSAGE_MAGIC_CODE_V1, MESSAGE_MAGIC_CODE_V2,
};

/// A message in the broker's stored layout, as carried by `VIEW_MESSAGE_BY_ID`,
/// `QUERY_MESSAGE` and `CHECK_TRANSACTION_STATE` bodies (Java `MessageExt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Total size of the stored record.
    pub store_size: i32,
    /// Magic code (`MESSAGE_MAGIC_CODE_V1` or `MESSAGE_MAGIC_CODE_V2`).
    pub magic: i32,
    /// CRC32 of the stored body.
    pub body_crc: i32,
    /// Queue id.
    pub queue_id: i32,
    /// User flag.
    pub flag: i32,
    /// Offset in the consume queue.
    pub queue_offset: i64,
    /// Offset in the commit log.
    pub commit_log_offset: i64,
    /// `SysFlag` bits. As in Java 5.x, `SysFlag::COMPRESSED` is cleared once the body has
    /// been inflated.
    pub sys_flag: i32,
    /// Client time of sending, epoch ms.
    pub born_timestamp: i64,
    /// Address of the sender.
    pub born_host: SocketAddr,
    /// Broker time of storing, epoch ms.
    pub store_timestamp: i64,
    /// Address of the storing broker.
    pub store_host: SocketAddr,
    /// Reconsume count.
    pub reconsume_times: i32,
    /// Commit-log offset of the half message (transactions).
    pub prepared_transaction_offset: i64,
    /// The body: inflated when it was zlib-compressed (type bits 0 or `0x300`), otherwise
    /// as stored.
    pub body: Bytes,
    /// Whether `body` is still compressed (LZ4, Zstandard or an unknown type, not inflated).
    pub body_compressed: bool,
    /// Topic.
    pub topic: String,
    /// Properties in wire order.
    pub properties: Vec<(String, String)>,
    /// Offset message id, from the store host and commit-log offset.
    pub offset_msg_id: String,
}

impl StoredMessage {
    /// The value of property `key` (the last one if repeated, as Java's map keeps).
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The tag (`property::TAGS`).
    pub fn tags(&self) -> Option<&str> {
        self.property(property::TAGS)
    }

    /// The keys (`property::KEYS`), several separated by a space.
    pub fn keys(&self) -> Option<&str> {
        self.property(property::KEYS)
    }

    /// The client unique id (`property::UNIQ_KEY`).
    pub fn uniq_key(&self) -> Option<&str> {
        self.property(property::UNIQ_KEY)
    }

    /// The message id users see (Java `MessageClientExt.getMsgId`): the client unique id
    /// (`UNIQ_KEY`) when there is one, else the offset message id.
    pub fn msg_id(&self) -> &str {
        self.uniq_key()
            .filter(|id| !id.is_empty())
            .unwrap_or(&self.offset_msg_id)
    }
}

/// How much decoding stored messages may inflate: a compressed body is a few bytes on the
/// wire and can expand a thousandfold, so both each body and the sum over one response are
/// bounded before anything is allocated for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InflateLimits {
    /// Largest inflated body of one message (64 MiB; a producer checks the body before it
    /// compresses, against a 4 MiB `maxMessageSize` by default).
    pub per_message: usize,
    /// Largest sum of inflated bodies over one response (128 MiB).
    pub per_response: usize,
}

impl Default for InflateLimits {
    fn default() -> Self {
        Self {
            per_message: 64 * 1024 * 1024,
            per_response: 128 * 1024 * 1024,
        }
    }
}

/// Decodes concatenated stored messages until the end of `buf` (Java `MessageDecoder.decode`
/// with `readBody` and `deCompressBody`, repeated), inflating compressed bodies within
/// `limits`.
///
/// As in Java the fields are read in sequence; `totalSize` is reported but not used for
/// framing. Topic and properties are decoded as UTF-8 with replacement, like Java's
/// `new String(bytes, UTF_8)`. Differences from Java: a V1 topic length is read as unsigned
/// (Java reads a signed byte and fails above 127), a negative body or properties length is an
/// error (Java reads it as empty and goes on misaligned), and a body with unknown compression
/// type bits is kept as stored with [`StoredMessage::body_compressed`] set (Java fails).
///
/// # Errors
/// [`MessageDecodeError`] when a message is truncated or malformed, or a body does not
/// inflate within `limits`.
pub fn decode_stored_messages(
    mut buf: Bytes,
    limits: InflateLimits,
) -> Result<Vec<StoredMessage>, MessageDecodeError> {
    let mut budget = limits.per_response;
    let mut out = Vec::new();
    while buf.has_remaining() {
        out.push(decode_one(&mut buf, limits.per_message, &mut budget)?);
    }
    Ok(out)
}

/// Splits 5.x inner batches (Java `MessageDecoder.decodeMessage(MessageExt, List)`): a stored
/// entry whose sysFlag has both [`SysFlag::INNER_BATCH`] and [`SysFlag::NEED_UNWRAP`] carries a
/// batch body; each member becomes a message sharing the entry's topic, queue, hosts, times,
/// sysFlag and commit-log offset, with its own body, flag and properties and the queue offset
/// `entry + index`. Other messages pass through.
///
/// # Errors
/// [`BatchError`] when a batch body does not decode.
pub fn unwrap_inner_batches(messages: Vec<StoredMessage>) -> Result<Vec<StoredMessage>, BatchError> {
    const BOTH: i32 = SysFlag::INNER_BATCH | SysFlag::NEED_UNWRAP;
    if messages.iter().all(|m| m.sys_flag & BOTH != BOTH) {
        return Ok(messages);
    }
    let mut out = Vec::with_capacity(messages.len());
    for m in messages {
        if m.sys_flag & BOTH != BOTH {
            out.push(m);
            continue;
        }
        for (i, member) in decode_batch(m.body.clone())?.into_iter().enumerate() {
            let mut inner = m.clone();
            inner.body = member.body;
            inner.flag = member.flag;
            inner.properties = decode_properties(&member.properties);
            inner.queue_offset = m.queue_offset + i as i64;
            out.push(inner);
        }
    }
    Ok(out)
}

/// Decodes the first stored message of `buf` and ignores the rest, for answers that carry one
/// message (`VIEW_MESSAGE_BY_ID`, `CHECK_TRANSACTION_STATE`): nothing after it is inflated.
///
/// # Errors
/// As [`decode_stored_messages`]; an empty `buf` is [`MessageDecodeError::Truncated`].
pub fn decode_first_stored_message(
    mut buf: Bytes,
    limits: InflateLimits,
) -> Result<StoredMessage, MessageDecodeError> {
    let mut budget = limits.per_response;
    decode_one(&mut buf, limits.per_message, &mut budget)
}

fn need(buf: &Bytes, n: usize, what: &'static str) -> Result<(), MessageDecodeError> {
    if buf.remaining() < n {
        Err(MessageDecodeError::Truncated { what })
    } else {
        Ok(())
    }
}

fn read_i16(buf: &mut Bytes, what: &'static str) -> Result<i16, MessageDecodeError> {
    need(buf, 2, what)?;
    Ok(buf.get_i16())
}

fn read_i32(buf: &mut Bytes, what: &'static str) -> Result<i32, MessageDecodeError> {
    need(buf, 4, what)?;
    Ok(buf.get_i32())
}

fn read_i64(buf: &mut Bytes, what: &'static str) -> Result<i64, MessageDecodeError> {
    need(buf, 8, what)?;
    Ok(buf.get_i64())
}

fn read_bytes(
    buf: &mut Bytes,
    len: usize,
    what: &'static str,
) -> Result<Bytes, MessageDecodeError> {
    need(buf, len, what)?;
    Ok(buf.split_to(len))
}

fn read_len(buf: &mut Bytes, len: i32, what: &'static str) -> Result<Bytes, MessageDecodeError> {
    let n = usize::try_from(len).map_err(|_| MessageDecodeError::NegativeLength { what, len })?;
    read_bytes(buf, n, what)
}

fn read_host(
    buf: &mut Bytes,
    v6: bool,
    what: &'static str,
) -> Result<SocketAddr, MessageDecodeError> {
    let ip = if v6 {
        need(buf, 16, what)?;
        let mut octets = [0u8; 16];
        buf.copy_to_slice(&mut octets);
        IpAddr::V6(Ipv6Addr::from(octets))
    } else {
        need(buf, 4, what)?;
        let mut octets = [0u8; 4];
        buf.copy_to_slice(&mut octets);
        IpAddr::V4(Ipv4Addr::from(octets))
    };
    let port = read_i32(buf, what)?;
    let port = u16::try_from(port).map_err(|_| MessageDecodeError::BadPort { what, port })?;
    Ok(SocketAddr::new(ip, port))
}

fn decode_one(
    buf: &mut Bytes,
    per_message: usize,
    budget: &mut usize,
) -> Result<StoredMessage, MessageDecodeError> {
    let store_size = read_i32(buf, "total size")?;
    let magic = read_i32(buf, "magic code")?;
    if magic != MESSAGE_MAGIC_CODE_V1 && magic != MESSAGE_MAGIC_CODE_V2 {
        return Err(MessageDecodeError::BadMagic { magic });
    }
    let body_crc = read_i32(buf, "body CRC")?;
    let queue_id = read_i32(buf, "queue id")?;
    let flag = read_i32(buf, "flag")?;
    let queue_offset = read_i64(buf, "queue offset")?;
    let commit_log_offset = read_i64(buf, "commit log offset")?;
    let mut sys_flag = read_i32(buf, "sys flag")?;
    let born_timestamp = read_i64(buf, "born timestamp")?;
    let born_host = read_host(buf, sys_flag & SysFlag::BORNHOST_V6 != 0, "born host")?;
    let store_timestamp = read_i64(buf, "store timestamp")?;
    let store_host = read_host(buf, sys_flag & SysFlag::STOREHOST_V6 != 0, "store host")?;
    let reconsume_times = read_i32(buf, "reconsume times")?;
    let prepared_transaction_offset = read_i64(buf, "prepared transaction offset")?;
    let body_len = read_i32(buf, "body length")?;
    let mut body = read_len(buf, body_len, "body")?;
    let mut body_compressed = false;
    if !body.is_empty() && sys_flag & SysFlag::COMPRESSED != 0 {
        match type_from_sys_flag(sys_flag) {
            Ok(kind) => {
                body = inflate(kind, &body, per_message, budget)?;
                sys_flag &= !SysFlag::COMPRESSED;
            }
            Err(_) => body_compressed = true,
        }
    }
    let topic_len = if magic == MESSAGE_MAGIC_CODE_V2 {
        i32::from(read_i16(buf, "topic length")?)
    } else {
        need(buf, 1, "topic length")?;
        i32::from(buf.get_u8())
    };
    let topic = String::from_utf8_lossy(&read_len(buf, topic_len, "topic")?).into_owned();
    let props_len = read_i16(buf, "properties length")?;
    let props = read_len(buf, i32::from(props_len), "properties")?;
    let properties = decode_properties(&String::from_utf8_lossy(&props));
    Ok(StoredMessage {
        store_size,
        magic,
        body_crc,
        queue_id,
        flag,
        queue_offset,
        commit_log_offset,
        sys_flag,
        born_timestamp,
        born_host,
        store_timestamp,
        store_host,
        reconsume_times,
        prepared_transaction_offset,
        body,
        body_compressed,
        topic,
        properties,
        offset_msg_id: offset_msg_id(store_host, commit_log_offset),
    })
}

/// Inflates one body within the per-message limit and what is left of the response's budget.
fn inflate(
    kind: CompressionType,
    data: &[u8],
    per_message: usize,
    budget: &mut usize,
) -> Result<Bytes, MessageDecodeError> {
    let limit = per_message.min(*budget);
    let body = decompress(kind, data, limit).map_err(|e| match e {
        CompressError::TooLarge { .. } if limit < per_message => {
            MessageDecodeError::InflateBudgetExceeded { left: *budget }
        }
        CompressError::TooLarge { limit, .. } => MessageDecodeError::BodyTooLarge { limit },
        other => MessageDecodeError::Decompress(other.to_string()),
    })?;
    *budget -= body.len();
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::message::{decode_offset_msg_id, encode_properties, PROPERTY_SEPARATOR};
    use bytes::BufMut;
    use std::io::Write;

    fn decode_all(buf: Bytes) -> Result<Vec<StoredMessage>, MessageDecodeError> {
        decode_stored_messages(buf, InflateLimits::default())
    }

    // ---- stored messages --------------------------------------------------------------------

    /// Writes one stored message by hand, as the broker's `MessageDecoder.encode` does.
    fn encode_stored(m: &StoredMessage, wire_body: &[u8], props: &str) -> Vec<u8> {
        let mut b = Vec::new();
        b.put_i32(0); // patched below
        b.put_i32(m.magic);
        b.put_i32(m.body_crc);
        b.put_i32(m.queue_id);
        b.put_i32(m.flag);
        b.put_i64(m.queue_offset);
        b.put_i64(m.commit_log_offset);
        b.put_i32(m.sys_flag);
        b.put_i64(m.born_timestamp);
        put_host(&mut b, m.born_host);
        b.put_i64(m.store_timestamp);
        put_host(&mut b, m.store_host);
        b.put_i32(m.reconsume_times);
        b.put_i64(m.prepared_transaction_offset);
        b.put_i32(wire_body.len() as i32);
        b.put_slice(wire_body);
        if m.magic == MESSAGE_MAGIC_CODE_V2 {
            b.put_i16(m.topic.len() as i16);
        } else {
            b.put_u8(m.topic.len() as u8);
        }
        b.put_slice(m.topic.as_bytes());
        b.put_i16(props.len() as i16);
        b.put_slice(props.as_bytes());
        let total = b.len() as i32;
        b[..4].copy_from_slice(&total.to_be_bytes());
        b
    }

    fn put_host(b: &mut Vec<u8>, host: SocketAddr) {
        match host.ip() {
            IpAddr::V4(ip) => b.put_slice(&ip.octets()),
            IpAddr::V6(ip) => b.put_slice(&ip.octets()),
        }
        b.put_i32(i32::from(host.port()));
    }

    fn sample(magic: i32, sys_flag: i32) -> StoredMessage {
        let born_host: SocketAddr = if sys_flag & SysFlag::BORNHOST_V6 != 0 {
            "[2001:db8::1]:50000".parse().unwrap()
        } else {
            "192.168.1.7:50000".parse().unwrap()
        };
        let store_host: SocketAddr = if sys_flag & SysFlag::STOREHOST_V6 != 0 {
            "[2001:db8::2]:10911".parse().unwrap()
        } else {
            "10.0.0.1:10911".parse().unwrap()
        };
        let properties = vec![
            (
                "UNIQ_KEY".to_owned(),
                "0A00000130391B6D3586075BCD150000".to_owned(),
            ),
            ("KEYS".to_owned(), "k1 k2".to_owned()),
            ("TAGS".to_owned(), "TagA".to_owned()),
            ("WAIT".to_owned(), "true".to_owned()),
        ];
        StoredMessage {
            store_size: 0,
            magic,
            body_crc: 0x1234_5678,
            queue_id: 3,
            flag: 7,
            queue_offset: 42,
            commit_log_offset: 123_456,
            sys_flag,
            born_timestamp: 1_700_000_000_000,
            born_host,
            store_timestamp: 1_700_000_000_005,
            store_host,
            reconsume_times: 1,
            prepared_transaction_offset: -1,
            body: Bytes::from_static(b"hello body"),
            body_compressed: false,
            topic: "TopicTest".to_owned(),
            properties,
            offset_msg_id: offset_msg_id(store_host, 123_456),
        }
    }

    fn props_string(m: &StoredMessage) -> String {
        // 5.x style, with the trailing separator.
        let mut s = encode_properties(m.properties.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        s.push(PROPERTY_SEPARATOR);
        s
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(5));
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn round_trip(mut want: StoredMessage, wire_body: &[u8]) -> StoredMessage {
        let wire = encode_stored(&want, wire_body, &props_string(&want));
        want.store_size = wire.len() as i32;
        let got = decode_all(Bytes::from(wire)).unwrap();
        assert_eq!(got.len(), 1);
        let got = got.into_iter().next().unwrap();
        assert_eq!(got.store_size, want.store_size);
        got
    }

    #[test]
    fn decodes_v1_ipv4_message() {
        let want = sample(MESSAGE_MAGIC_CODE_V1, SysFlag::TRANSACTION_PREPARED);
        let got = round_trip(want.clone(), b"hello body");
        assert_eq!(
            got,
            StoredMessage {
                store_size: got.store_size,
                ..want
            }
        );
        assert_eq!(got.offset_msg_id, "0A00000100002A9F000000000001E240");
        assert_eq!(got.tags(), Some("TagA"));
        assert_eq!(got.keys(), Some("k1 k2"));
        assert_eq!(got.uniq_key(), Some("0A00000130391B6D3586075BCD150000"));
        assert_eq!(got.property("WAIT"), Some("true"));
        assert_eq!(got.property("nope"), None);
    }

    #[test]
    fn decodes_v2_ipv6_message_with_long_topic() {
        let flags = SysFlag::BORNHOST_V6 | SysFlag::STOREHOST_V6;
        let mut want = sample(MESSAGE_MAGIC_CODE_V2, flags);
        want.topic = "T".repeat(300);
        let got = round_trip(want.clone(), b"hello body");
        assert_eq!(got.topic, want.topic);
        assert_eq!(got.born_host, want.born_host);
        assert_eq!(got.store_host, want.store_host);
        assert_eq!(got.offset_msg_id.len(), 56);
        assert_eq!(
            decode_offset_msg_id(&got.offset_msg_id).unwrap(),
            (want.store_host, 123_456)
        );
        // Mixed: IPv6 born host, IPv4 store host.
        let want = sample(MESSAGE_MAGIC_CODE_V1, SysFlag::BORNHOST_V6);
        let got = round_trip(want.clone(), b"hello body");
        assert_eq!(got.born_host, want.born_host);
        assert_eq!(got.offset_msg_id.len(), 32);
    }

    #[test]
    fn inflates_zlib_bodies() {
        let plain = b"compress me ".repeat(500);
        for type_bits in [0, SysFlag::COMPRESSION_ZLIB] {
            let mut want = sample(MESSAGE_MAGIC_CODE_V1, SysFlag::COMPRESSED | type_bits);
            want.body = Bytes::from(plain.clone());
            let got = round_trip(want, &zlib(&plain));
            assert_eq!(got.body, plain);
            assert!(!got.body_compressed);
            // As Java 5.x, the compressed bit is cleared; the type bits stay.
            assert_eq!(got.sys_flag, type_bits);
        }
    }

    #[test]
    fn inflates_lz4_and_zstd_bodies_and_keeps_unknown_types_raw() {
        let plain = b"compress me too ".repeat(300);
        for kind in [CompressionType::Lz4, CompressionType::Zstd] {
            let mut want = sample(MESSAGE_MAGIC_CODE_V1, super::super::sys_flag_for(kind));
            want.body = Bytes::from(plain.clone());
            let wire_body = super::super::compress(kind, kind.default_level(), &plain).unwrap();
            let got = round_trip(want, &wire_body);
            assert_eq!(got.body, plain, "{kind}");
            assert!(!got.body_compressed);
            assert_eq!(got.sys_flag, kind.sys_flag_bits());
        }
        for type_bits in [0x400, 0x700] {
            let want = sample(MESSAGE_MAGIC_CODE_V1, SysFlag::COMPRESSED | type_bits);
            let got = round_trip(want, b"\x04\x22\x4d\x18opaque");
            assert_eq!(&got.body[..], b"\x04\x22\x4d\x18opaque");
            assert!(got.body_compressed);
            assert_eq!(got.sys_flag, SysFlag::COMPRESSED | type_bits);
        }
        // Type bits without the compressed bit: nothing to do.
        let want = sample(MESSAGE_MAGIC_CODE_V1, SysFlag::COMPRESSION_LZ4);
        let got = round_trip(want, b"plain");
        assert_eq!(&got.body[..], b"plain");
        assert!(!got.body_compressed);
    }

    /// `count` messages whose zlib bodies each inflate to `each` zero bytes.
    fn bomb(count: usize, each: usize) -> Bytes {
        let m = sample(MESSAGE_MAGIC_CODE_V1, SysFlag::COMPRESSED);
        let one = encode_stored(&m, &zlib(&vec![0u8; each]), "");
        Bytes::from(one.repeat(count))
    }

    #[test]
    fn inner_batches_become_one_message_per_member() {
        let body = super::super::encode_batch([
            super::super::BatchEntry { flag: 1, body: b"one", properties: "TAGS\u{1}a" },
            super::super::BatchEntry { flag: 2, body: b"two", properties: "TAGS\u{1}b" },
        ])
        .unwrap();
        let mut entry = sample(MESSAGE_MAGIC_CODE_V1, SysFlag::INNER_BATCH | SysFlag::NEED_UNWRAP);
        entry.body = body.clone();
        let wire = encode_stored(&entry, &body, &props_string(&entry));
        let plain = sample(MESSAGE_MAGIC_CODE_V1, 0);
        let mut all = wire.clone();
        all.extend(encode_stored(&plain, b"hello body", &props_string(&plain)));
        let got = unwrap_inner_batches(decode_all(Bytes::from(all)).unwrap()).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!((&got[0].body[..], got[0].flag, got[0].tags()), (&b"one"[..], 1, Some("a")));
        assert_eq!((&got[1].body[..], got[1].flag, got[1].tags()), (&b"two"[..], 2, Some("b")));
        assert_eq!(got[1].queue_offset, got[0].queue_offset + 1);
        assert_eq!(got[0].commit_log_offset, got[1].commit_log_offset);
        assert_eq!(&got[2].body[..], b"hello body");
        // A broken batch body is an error, not a silent skip.
        let mut bad = sample(MESSAGE_MAGIC_CODE_V1, SysFlag::INNER_BATCH | SysFlag::NEED_UNWRAP);
        bad.body = Bytes::from_static(b"\x00\x00");
        assert!(unwrap_inner_batches(vec![bad]).is_err());
    }

    #[test]
    fn inflation_is_bounded_per_message_and_per_response() {
        let limits = InflateLimits {
            per_message: 1024 * 1024,
            per_response: 4 * 1024 * 1024,
        };
        // Each body within the per-message limit, the sum over the limit: about 16 KiB of
        // input asking for 16 MiB.
        let input = bomb(16, 1024 * 1024);
        assert!(input.len() < 32 * 1024, "{}", input.len());
        assert_eq!(
            decode_stored_messages(input.clone(), limits),
            Err(MessageDecodeError::InflateBudgetExceeded { left: 0 })
        );
        // The first message alone decodes: nothing after it is inflated.
        let first = decode_first_stored_message(input, limits).unwrap();
        assert_eq!(first.body.len(), 1024 * 1024);
        // One body over the per-message limit.
        assert_eq!(
            decode_stored_messages(bomb(1, 2 * 1024 * 1024), limits),
            Err(MessageDecodeError::BodyTooLarge { limit: 1024 * 1024 })
        );
        // Within both limits: everything is there.
        let ok = decode_stored_messages(bomb(4, 1024 * 1024), limits).unwrap();
        assert_eq!(ok.len(), 4);
        assert!(ok.iter().all(|m| m.body.len() == 1024 * 1024));
        assert_eq!(
            decode_first_stored_message(Bytes::new(), limits),
            Err(MessageDecodeError::Truncated { what: "total size" })
        );
    }

    #[test]
    fn a_megabyte_of_bombs_stays_within_the_default_budget() {
        // The issue's case: about 1 MB of input that asked for 1 GiB before budgets existed.
        let input = bomb(64, 16 * 1024 * 1024);
        assert!(input.len() < 2 * 1024 * 1024, "{}", input.len());
        let err = decode_all(input).unwrap_err();
        assert!(
            matches!(err, MessageDecodeError::InflateBudgetExceeded { .. }),
            "{err}"
        );
    }

    #[test]
    fn empty_body_and_properties() {
        let mut want = sample(MESSAGE_MAGIC_CODE_V1, SysFlag::COMPRESSED);
        want.body = Bytes::new();
        want.properties.clear();
        let got = round_trip(want, b"");
        assert!(got.body.is_empty());
        assert!(!got.body_compressed);
        assert!(got.properties.is_empty());
        assert_eq!(got.tags(), None);
    }

    #[test]
    fn bad_zlib_body_is_an_error() {
        let want = sample(MESSAGE_MAGIC_CODE_V1, SysFlag::COMPRESSED);
        let wire = encode_stored(&want, b"definitely not zlib", "");
        assert!(matches!(
            decode_all(Bytes::from(wire)),
            Err(MessageDecodeError::Decompress(_))
        ));
        // A truncated zlib stream.
        let z = zlib(&b"abcdefgh".repeat(100));
        let wire = encode_stored(&want, &z[..z.len() / 2], "");
        assert!(matches!(
            decode_all(Bytes::from(wire)),
            Err(MessageDecodeError::Decompress(_))
        ));
    }

    #[test]
    fn decodes_concatenated_messages() {
        let a = sample(MESSAGE_MAGIC_CODE_V1, 0);
        let mut b = sample(MESSAGE_MAGIC_CODE_V2, SysFlag::STOREHOST_V6);
        b.topic = "Other".into();
        b.commit_log_offset = 999;
        let mut wire = encode_stored(&a, b"hello body", &props_string(&a));
        wire.extend(encode_stored(&b, b"hello body", &props_string(&b)));
        let got = decode_all(Bytes::from(wire)).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].topic, "TopicTest");
        assert_eq!(got[1].topic, "Other");
        assert_eq!(got[1].commit_log_offset, 999);
        assert_eq!(decode_all(Bytes::new()).unwrap(), vec![]);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let m = sample(MESSAGE_MAGIC_CODE_V2, SysFlag::BORNHOST_V6);
        let wire = encode_stored(&m, b"hello body", &props_string(&m));
        for len in 1..wire.len() {
            let r = decode_all(Bytes::copy_from_slice(&wire[..len]));
            assert!(
                matches!(r, Err(MessageDecodeError::Truncated { .. })),
                "len {len}: {r:?}"
            );
        }
        // A complete message followed by a partial one.
        let mut two = wire.clone();
        two.extend_from_slice(&wire[..10]);
        assert!(decode_all(Bytes::from(two)).is_err());
    }

    #[test]
    fn malformed_fields_are_typed_errors() {
        let m = sample(MESSAGE_MAGIC_CODE_V1, 0);
        let wire = encode_stored(&m, b"hello body", "");
        let patch = |at: usize, bytes: &[u8]| {
            let mut w = wire.clone();
            w[at..at + bytes.len()].copy_from_slice(bytes);
            decode_all(Bytes::from(w))
        };
        assert_eq!(
            patch(4, &[0, 0, 0, 0]),
            Err(MessageDecodeError::BadMagic { magic: 0 })
        );
        // Born host port at 4*5 + 8*2 + 4 + 8 + 4 = 52.
        assert_eq!(
            patch(52, &70_000i32.to_be_bytes()),
            Err(MessageDecodeError::BadPort {
                what: "born host",
                port: 70_000
            })
        );
        // Body length at 52 + 4 + 8 + 8 + 4 + 8 = 84.
        assert_eq!(
            patch(84, &(-1i32).to_be_bytes()),
            Err(MessageDecodeError::NegativeLength {
                what: "body",
                len: -1
            })
        );
        assert_eq!(
            patch(84, &i32::MAX.to_be_bytes()),
            Err(MessageDecodeError::Truncated { what: "body" })
        );
        // Properties length: the last two bytes (no properties).
        let at = wire.len() - 2;
        assert_eq!(
            patch(at, &(-5i16).to_be_bytes()),
            Err(MessageDecodeError::NegativeLength {
                what: "properties",
                len: -5
            })
        );
        // V2 topic length is an i16: negative is an error.
        let m2 = sample(MESSAGE_MAGIC_CODE_V2, 0);
        let mut w = encode_stored(&m2, b"", "");
        let at = 88; // after an empty body
        w[at..at + 2].copy_from_slice(&(-2i16).to_be_bytes());
        assert_eq!(
            decode_all(Bytes::from(w)),
            Err(MessageDecodeError::NegativeLength {
                what: "topic",
                len: -2
            })
        );
    }

    #[test]
    fn garbage_never_panics() {
        // Deterministic xorshift noise of many lengths, raw and behind a valid magic code.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for len in 0..600 {
            let mut buf = Vec::with_capacity(len);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf.push(x as u8);
            }
            let _ = decode_all(Bytes::from(buf.clone()));
            if len >= 8 {
                buf[4..8].copy_from_slice(&MESSAGE_MAGIC_CODE_V1.to_be_bytes());
                let _ = decode_all(Bytes::from(buf.clone()));
                buf[4..8].copy_from_slice(&MESSAGE_MAGIC_CODE_V2.to_be_bytes());
                let _ = decode_all(Bytes::from(buf));
            }
        }
        assert!(decode_all(Bytes::from_static(&[0xFF; 64])).is_err());
    }
}
