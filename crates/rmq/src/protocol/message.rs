//! Messages: the properties string, reserved property keys, `sysFlag` bits, offset message ids
//! and client unique ids.
//!
//! Every malformed input is a [`MessageDecodeError`]; nothing here panics.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};


/// Separates a property's name from its value (`MessageDecoder.NAME_VALUE_SEPARATOR`).
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';

/// Separates one property from the next (`MessageDecoder.PROPERTY_SEPARATOR`).
pub const PROPERTY_SEPARATOR: char = '\u{2}';

/// Magic code of a V1 stored message (1-byte topic length): `0xDAA320A7`.
pub const MESSAGE_MAGIC_CODE_V1: i32 = -626_843_481;

/// Magic code of a V2 stored message (2-byte topic length): `0xDAA320AB`.
pub const MESSAGE_MAGIC_CODE_V2: i32 = -626_843_477;

/// Message property keys (`MessageConst`, 4.9.3 and 5.3.3).
pub mod property {
    /// Message keys, several joined by [`KEY_SEPARATOR`].
    pub const KEYS: &str = "KEYS";
    /// The message tag.
    pub const TAGS: &str = "TAGS";
    /// Whether the broker waits for flush/replication before answering (`WAIT_STORE_MSG_OK`);
    /// absent means `true`.
    pub const WAIT_STORE_MSG_OK: &str = "WAIT";
    /// Delay level, decimal (`DELAY_TIME_LEVEL`).
    pub const DELAY_TIME_LEVEL: &str = "DELAY";
    /// Original topic of a retried message.
    pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
    /// Original topic of a delayed, timer or half message.
    pub const REAL_TOPIC: &str = "REAL_TOPIC";
    /// Original queue id of a delayed, timer or half message.
    pub const REAL_QUEUE_ID: &str = "REAL_QID";
    /// `"true"` on a transactional half message (`TRANSACTION_PREPARED`).
    pub const TRANSACTION_PREPARED: &str = "TRAN_MSG";
    /// Producer group of the sender.
    pub const PRODUCER_GROUP: &str = "PGROUP";
    /// Minimum queue offset (pull results).
    pub const MIN_OFFSET: &str = "MIN_OFFSET";
    /// Maximum queue offset (pull results).
    pub const MAX_OFFSET: &str = "MAX_OFFSET";
    /// Buyer id.
    pub const BUYER_ID: &str = "BUYER_ID";
    /// Message id of the original message of a retry.
    pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
    /// Transfer flag.
    pub const TRANSFER_FLAG: &str = "TRANSFER_FLAG";
    /// Correction flag.
    pub const CORRECTION_FLAG: &str = "CORRECTION_FLAG";
    /// MQ2 flag.
    pub const MQ2_FLAG: &str = "MQ2_FLAG";
    /// Reconsume count.
    pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
    /// Region of the message.
    pub const MSG_REGION: &str = "MSG_REGION";
    /// Message-trace switch (`TRACE_SWITCH`).
    pub const TRACE_SWITCH: &str = "TRACE_ON";
    /// Client unique id (`UNIQ_CLIENT_MESSAGE_ID_KEYIDX`).
    pub const UNIQ_KEY: &str = "UNIQ_KEY";
    /// 5.x: extended unique info.
    pub const EXTEND_UNIQ_INFO: &str = "EXTEND_UNIQ_INFO";
    /// Maximum reconsume times.
    pub const MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
    /// Consume start timestamp (`CONSUME_START_TIMESTAMP`).
    pub const CONSUME_START_TIMESTAMP: &str = "CONSUME_START_TIME";
    /// 5.x: number of messages in an inner batch.
    pub const INNER_NUM: &str = "INNER_NUM";
    /// 5.x: base offset of an inner batch.
    pub const INNER_BASE: &str = "INNER_BASE";
    /// 5.x: duplication info.
    pub const DUP_INFO: &str = "DUP_INFO";
    /// Transaction check immunity, seconds.
    pub const CHECK_IMMUNITY_TIME_IN_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";
    /// Queue offset of the half message.
    pub const TRANSACTION_PREPARED_QUEUE_OFFSET: &str = "TRAN_PREPARED_QUEUE_OFFSET";
    /// 5.x: transaction id.
    pub const TRANSACTION_ID: &str = "__transactionId__";
    /// Number of transaction checks so far.
    pub const TRANSACTION_CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
    /// Namespace instance id.
    pub const INSTANCE_ID: &str = "INSTANCE_ID";
    /// Request–reply correlation id.
    pub const CORRELATION_ID: &str = "CORRELATION_ID";
    /// Request–reply: client id to reply to (`MESSAGE_REPLY_TO_CLIENT`).
    pub const MESSAGE_REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
    /// Request–reply: time to live, ms (`MESSAGE_TTL`).
    pub const MESSAGE_TTL: &str = "TTL";
    /// Request–reply: arrival time of the reply (`REPLY_MESSAGE_ARRIVE_TIME`).
    pub const REPLY_MESSAGE_ARRIVE_TIME: &str = "ARRIVE_TIME";
    /// Request–reply: push time of the reply.
    pub const PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";
    /// Cluster name.
    pub const CLUSTER: &str = "CLUSTER";
    /// Message type (`MESSAGE_TYPE`), e.g. `reply`.
    pub const MESSAGE_TYPE: &str = "MSG_TYPE";
    /// 5.x: pop checkpoint.
    pub const POP_CK: &str = "POP_CK";
    /// 5.x: pop checkpoint offset.
    pub const POP_CK_OFFSET: &str = "POP_CK_OFFSET";
    /// 5.x: first pop time.
    pub const FIRST_POP_TIME: &str = "1ST_POP_TIME";
    /// 5.x: sharding key.
    pub const SHARDING_KEY: &str = "__SHARDINGKEY";
    /// 5.x: forward queue id.
    pub const FORWARD_QUEUE_ID: &str = "PROPERTY_FORWARD_QUEUE_ID";
    /// 5.x: redirect.
    pub const REDIRECT: &str = "REDIRECT";
    /// Inner multi-dispatch.
    pub const INNER_MULTI_DISPATCH: &str = "INNER_MULTI_DISPATCH";
    /// Inner multi-queue offset.
    pub const INNER_MULTI_QUEUE_OFFSET: &str = "INNER_MULTI_QUEUE_OFFSET";
    /// 5.x: trace context.
    pub const TRACE_CONTEXT: &str = "TRACE_CONTEXT";
    /// 5.x timer: relative delay in seconds.
    pub const TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
    /// 5.x timer: absolute delivery time, epoch ms.
    pub const TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
    /// 5.x timer: relative delay in ms.
    pub const TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
    /// 5.x timer (broker internal): enqueue time.
    pub const TIMER_ENQUEUE_MS: &str = "TIMER_ENQUEUE_MS";
    /// 5.x timer (broker internal): dequeue time.
    pub const TIMER_DEQUEUE_MS: &str = "TIMER_DEQUEUE_MS";
    /// 5.x timer (broker internal): roll count.
    pub const TIMER_ROLL_TIMES: &str = "TIMER_ROLL_TIMES";
    /// 5.x timer (broker internal): timeout time.
    pub const TIMER_OUT_MS: &str = "TIMER_OUT_MS";
    /// 5.x timer (broker internal): unique key of a deleted timer message.
    pub const TIMER_DEL_UNIQKEY: &str = "TIMER_DEL_UNIQKEY";
    /// 5.x timer (broker internal): delay level.
    pub const TIMER_DELAY_LEVEL: &str = "TIMER_DELAY_LEVEL";
    /// 5.x: born host.
    pub const BORN_HOST: &str = "__BORNHOST";
    /// 5.x: born timestamp.
    pub const BORN_TIMESTAMP: &str = "BORN_TIMESTAMP";
    /// 5.x: CRC32 of the message.
    pub const CRC32: &str = "__CRC32#";
    /// 5.x: original topic of a dead-letter message.
    pub const DLQ_ORIGIN_TOPIC: &str = "DLQ_ORIGIN_TOPIC";
    /// 5.x: original message id of a dead-letter message.
    pub const DLQ_ORIGIN_MESSAGE_ID: &str = "DLQ_ORIGIN_MESSAGE_ID";
    /// 5.x: prefix of transient properties, which the broker does not store.
    pub const TRANSIENT_PREFIX: &str = "__RMQ.TRANSIENT.";
    /// Separator of several keys in [`KEYS`].
    pub const KEY_SEPARATOR: &str = " ";

    /// The keys a user may not set (`MessageConst.STRING_HASH_SET` of 5.3.3, a superset of
    /// 4.9.3's).
    pub const RESERVED: &[&str] = &[
        TRACE_SWITCH,
        MSG_REGION,
        KEYS,
        TAGS,
        WAIT_STORE_MSG_OK,
        DELAY_TIME_LEVEL,
        RETRY_TOPIC,
        REAL_TOPIC,
        REAL_QUEUE_ID,
        TRANSACTION_PREPARED,
        PRODUCER_GROUP,
        MIN_OFFSET,
        MAX_OFFSET,
        BUYER_ID,
        ORIGIN_MESSAGE_ID,
        TRANSFER_FLAG,
        CORRECTION_FLAG,
        MQ2_FLAG,
        RECONSUME_TIME,
        UNIQ_KEY,
        MAX_RECONSUME_TIMES,
        CONSUME_START_TIMESTAMP,
        POP_CK,
        POP_CK_OFFSET,
        FIRST_POP_TIME,
        TRANSACTION_PREPARED_QUEUE_OFFSET,
        DUP_INFO,
        EXTEND_UNIQ_INFO,
        INSTANCE_ID,
        CORRELATION_ID,
        MESSAGE_REPLY_TO_CLIENT,
        MESSAGE_TTL,
        REPLY_MESSAGE_ARRIVE_TIME,
        PUSH_REPLY_TIME,
        CLUSTER,
        MESSAGE_TYPE,
        INNER_MULTI_QUEUE_OFFSET,
        TIMER_DELAY_MS,
        TIMER_DELAY_SEC,
        TIMER_DELIVER_MS,
        TIMER_ENQUEUE_MS,
        TIMER_DEQUEUE_MS,
        TIMER_ROLL_TIMES,
        TIMER_OUT_MS,
        TIMER_DEL_UNIQKEY,
        TIMER_DELAY_LEVEL,
        BORN_HOST,
        BORN_TIMESTAMP,
        DLQ_ORIGIN_TOPIC,
        DLQ_ORIGIN_MESSAGE_ID,
        CRC32,
    ];
}

/// Whether `name` is reserved for the system (`MessageConst.STRING_HASH_SET` of 5.3.3, a
/// superset of 4.9.3's): Java's `Message.putUserProperty` rejects such names.
pub fn is_reserved_property(name: &str) -> bool {
    property::RESERVED.contains(&name)
}

/// Encodes properties as `k\u{1}v\u{2}k\u{1}v`, without the trailing `\u{2}` (4.9.3 style;
/// every Java version accepts it).
///
/// Pairs with an empty key or value are skipped, since the receiver would drop them. Keys and
/// values must not contain the separators; this function does not check.
pub fn encode_properties<'a>(props: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (k, v) in props {
        if k.is_empty() || v.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(PROPERTY_SEPARATOR);
        }
        out.push_str(k);
        out.push(NAME_VALUE_SEPARATOR);
        out.push_str(v);
    }
    out
}

/// Decodes a properties string (Java `string2messageProperties`), keeping the wire order.
///
/// A trailing `\u{2}` is accepted; segments without a `\u{1}`, or with an empty key or value,
/// are dropped. A value may contain `\u{1}` (the first one splits). Repeated keys are all kept;
/// Java's map keeps the last, as [`StoredMessage::property`] does.
pub fn decode_properties(s: &str) -> Vec<(String, String)> {
    s.split(PROPERTY_SEPARATOR)
        .filter_map(|segment| {
            let (k, v) = segment.split_once(NAME_VALUE_SEPARATOR)?;
            (!k.is_empty() && !v.is_empty()).then(|| (k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// `MessageSysFlag` bits.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SysFlag;

impl SysFlag {
    /// The body is compressed.
    pub const COMPRESSED: i32 = 0x1;
    /// The topic's filter type is `MULTI_TAG` (set by the broker).
    pub const MULTI_TAGS: i32 = 0x2;
    /// Mask of the transaction type.
    pub const TRANSACTION_TYPE_MASK: i32 = 0xC;
    /// Transaction type: not transactional.
    pub const TRANSACTION_NOT: i32 = 0x0;
    /// Transaction type: half (prepared) message.
    pub const TRANSACTION_PREPARED: i32 = 0x4;
    /// Transaction type: commit.
    pub const TRANSACTION_COMMIT: i32 = 0x8;
    /// Transaction type: rollback.
    pub const TRANSACTION_ROLLBACK: i32 = 0xC;
    /// The born host is IPv6 (16 address bytes).
    pub const BORNHOST_V6: i32 = 0x10;
    /// The store host is IPv6 (16 address bytes).
    pub const STOREHOST_V6: i32 = 0x20;
    /// 5.x: the message needs unwrapping.
    pub const NEED_UNWRAP: i32 = 0x40;
    /// 5.x: inner batch.
    pub const INNER_BATCH: i32 = 0x80;
    /// 5.x: mask of the compression type; type bits 0 mean zlib.
    pub const COMPRESSION_TYPE_MASK: i32 = 0x700;
    /// 5.x compression type: LZ4.
    pub const COMPRESSION_LZ4: i32 = 0x100;
    /// 5.x compression type: Zstandard.
    pub const COMPRESSION_ZSTD: i32 = 0x200;
    /// 5.x compression type: zlib.
    pub const COMPRESSION_ZLIB: i32 = 0x300;
}

/// Why a stored message or a message id could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageDecodeError {
    /// The input ends inside a field.
    #[error("stored message truncated while reading {what}")]
    Truncated {
        /// The field being read.
        what: &'static str,
    },
    /// The magic code is neither V1 nor V2.
    #[error("unknown message magic code {magic:#010x}")]
    BadMagic {
        /// The magic code as read.
        magic: i32,
    },
    /// A length field is negative.
    #[error("negative {what} {len}")]
    NegativeLength {
        /// The length field.
        what: &'static str,
        /// The value.
        len: i32,
    },
    /// A port is outside `0..=65535`.
    #[error("invalid {what} port {port}")]
    BadPort {
        /// Which host.
        what: &'static str,
        /// The value.
        port: i32,
    },
    /// A compressed body does not inflate.
    #[error("cannot inflate message body: {0}")]
    Decompress(String),
    /// A compressed body inflates past the per-message limit
    /// ([`InflateLimits::per_message`](super::InflateLimits)).
    #[error("inflated message body exceeds {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The bodies of one response inflate past its budget
    /// ([`InflateLimits::per_response`](super::InflateLimits)).
    #[error("inflated message bodies exceed the response's budget ({left} bytes were left)")]
    InflateBudgetExceeded {
        /// What was left of the budget when a body would not fit.
        left: usize,
    },
    /// An offset message id is not 32 or 56 hex digits, or its port is out of range.
    #[error("invalid offset message id {0:?}")]
    InvalidMessageId(String),
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
        out.push(char::from(HEX_UPPER[usize::from(b & 0xF)]));
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// The offset message id of a stored message: uppercase hex of the store host's IP (4 or 16
/// bytes), its port as an `i32` and the commit-log offset as an `i64` — 32 hex digits for
/// IPv4, 56 for IPv6 (Java `MessageDecoder.createMessageId`).
pub fn offset_msg_id(store_host: SocketAddr, commit_log_offset: i64) -> String {
    let mut bytes = Vec::with_capacity(28);
    match store_host.ip() {
        IpAddr::V4(ip) => bytes.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => bytes.extend_from_slice(&ip.octets()),
    }
    bytes.extend_from_slice(&i32::from(store_host.port()).to_be_bytes());
    bytes.extend_from_slice(&commit_log_offset.to_be_bytes());
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, &bytes);
    out
}

/// Decodes an offset message id into the store host and commit-log offset (Java
/// `MessageDecoder.decodeMessageId`): 32 hex digits for IPv4, 56 for IPv6, either case.
///
/// # Errors
/// [`MessageDecodeError::InvalidMessageId`] for any other length, a non-hex digit or a port
/// outside `0..=65535`.
pub fn decode_offset_msg_id(id: &str) -> Result<(SocketAddr, i64), MessageDecodeError> {
    let invalid = || MessageDecodeError::InvalidMessageId(id.to_owned());
    let ip_len = match id.len() {
        32 => 4,
        56 => 16,
        _ => return Err(invalid()),
    };
    let bytes = id
        .as_bytes()
        .chunks_exact(2)
        .map(|pair| Some(hex_digit(pair[0])? << 4 | hex_digit(pair[1])?))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(invalid)?;
    let (ip_bytes, rest) = bytes.split_at(ip_len);
    let ip = if let Ok(octets) = <[u8; 4]>::try_from(ip_bytes) {
        IpAddr::V4(Ipv4Addr::from(octets))
    } else {
        let octets = <[u8; 16]>::try_from(ip_bytes).map_err(|_| invalid())?;
        IpAddr::V6(Ipv6Addr::from(octets))
    };
    let port = <[u8; 4]>::try_from(&rest[..4]).map_err(|_| invalid())?;
    let port = u16::try_from(i32::from_be_bytes(port)).map_err(|_| invalid())?;
    let offset = <[u8; 8]>::try_from(&rest[4..]).map_err(|_| invalid())?;
    Ok((SocketAddr::new(ip, port), i64::from_be_bytes(offset)))
}

const MS_PER_DAY: i64 = 86_400_000;

/// Epoch ms of 00:00:00.000 UTC on the first day of the month containing `now_ms` (proleptic
/// Gregorian calendar). Saturates instead of overflowing at the ends of the `i64` range.
pub fn month_start_utc_ms(now_ms: i64) -> i64 {
    let days = now_ms.div_euclid(MS_PER_DAY);
    let day_of_month = civil_day_of_month(days);
    (days - (day_of_month - 1)).saturating_mul(MS_PER_DAY)
}

/// Day of month (1..=31) of `days` since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_day_of_month(days: i64) -> i64 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1st
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    doy - (153 * mp + 2) / 5 + 1
}

/// The client unique id (`UNIQ_KEY`) for the given fixed prefix, time and counter, byte-exact
/// with Java `MessageClientIDSetter.createUniqID`.
///
/// `prefix` is the IP (4 or 16 bytes), the pid as an `i16` and the class-loader hash as an
/// `i32`. The result is uppercase hex of `prefix`, `(now_ms - month_start_ms)` cast to `i32`
/// (wrapping, as Java's `(int)` cast; values in `-1_000_000 < diff < 0` become 0), and
/// `counter`: 32 hex digits for an IPv4 prefix, 56 for IPv6.
pub fn uniq_id_at(prefix: &[u8], now_ms: i64, month_start_ms: i64, counter: u16) -> String {
    let mut diff = now_ms.wrapping_sub(month_start_ms) as i32;
    if diff < 0 && diff > -1_000_000 {
        diff = 0;
    }
    let mut out = String::with_capacity((prefix.len() + 6) * 2);
    push_hex(&mut out, prefix);
    push_hex(&mut out, &diff.to_be_bytes());
    push_hex(&mut out, &counter.to_be_bytes());
    out
}

/// Generator of client unique ids (`UNIQ_KEY`), byte-exact with Java
/// `MessageClientIDSetter.createUniqID`.
///
/// One difference: Java takes the month start in the JVM's default time zone; this uses UTC,
/// as there is no time-zone database here. On UTC machines both agree; elsewhere only the
/// 4 time bytes differ, which Java uses for nothing but `getNearlyTimeFromID`.
///
/// Java's counter is process-wide: use [`UniqIdGenerator::global`] (or one shared generator)
/// so that ids from one process never repeat within a millisecond.
#[derive(Debug)]
pub struct UniqIdGenerator {
    prefix: Vec<u8>,
    counter: AtomicU32,
}

impl UniqIdGenerator {
    /// A generator for host `ip`, process id `pid` (truncated to 16 bits, as Java's `(short)`)
    /// and `class_loader_hash` (any per-process random value).
    pub fn new(ip: IpAddr, pid: u32, class_loader_hash: i32) -> Self {
        let mut prefix = Vec::with_capacity(22);
        match ip {
            IpAddr::V4(ip) => prefix.extend_from_slice(&ip.octets()),
            IpAddr::V6(ip) => prefix.extend_from_slice(&ip.octets()),
        }
        prefix.extend_from_slice(&(pid as u16).to_be_bytes());
        prefix.extend_from_slice(&class_loader_hash.to_be_bytes());
        Self {
            prefix,
            counter: AtomicU32::new(0),
        }
    }

    /// A generator for this process: the host's primary IPv4 address (the source address the
    /// OS would route an outside datagram from; no packet is sent) or, if there is none, Java's
    /// fake IP (bytes 4..8 of the current epoch ms as a big-endian `i64`); the process id; and
    /// a random `i32`.
    pub fn for_process() -> Self {
        let now = now_ms();
        let ip = local_ipv4().unwrap_or_else(|| {
            let b = now.to_be_bytes();
            Ipv4Addr::new(b[4], b[5], b[6], b[7])
        });
        let pid = std::process::id();
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_i64(now);
        hasher.write_u32(pid);
        Self::new(IpAddr::V4(ip), pid, hasher.finish() as i32)
    }

    /// The process-wide generator, created by [`UniqIdGenerator::for_process`] on first use.
    pub fn global() -> &'static Self {
        static GLOBAL: OnceLock<UniqIdGenerator> = OnceLock::new();
        GLOBAL.get_or_init(Self::for_process)
    }

    /// The next id; thread-safe.
    pub fn next_id(&self) -> String {
        let counter = self.counter.fetch_add(1, Ordering::Relaxed) as u16;
        let now = now_ms();
        uniq_id_at(&self.prefix, now, month_start_utc_ms(now), counter)
    }
}

fn now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// This host's address as Java's `RemotingUtil.getLocalAddress` picks it, from the interface
/// list (no traffic): the first non-loopback IPv4 outside 192.168/16, else one inside it, else
/// a non-loopback IPv6.
pub fn local_ip() -> Option<IpAddr> {
    let addrs: Vec<IpAddr> = if_addrs::get_if_addrs()
        .map(|ifs| {
            ifs.into_iter()
                .filter(|i| !i.is_loopback())
                .map(|i| i.ip())
                .collect()
        })
        .unwrap_or_default();
    let v4 = |private: bool| {
        addrs.iter().copied().find(|ip| match ip {
            IpAddr::V4(v4) => !v4.is_unspecified() && (v4.octets()[..2] == [192, 168]) == private,
            IpAddr::V6(_) => false,
        })
    };
    v4(false)
        .or_else(|| v4(true))
        .or_else(|| addrs.iter().copied().find(IpAddr::is_ipv6))
}

fn local_ipv4() -> Option<Ipv4Addr> {
    match local_ip()? {
        IpAddr::V4(ip) => Some(ip),
        IpAddr::V6(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- properties -------------------------------------------------------------------------

    #[test]
    fn encode_properties_skips_empty_and_has_no_trailing_separator() {
        let s = encode_properties([("KEYS", "k1 k2"), ("", "x"), ("E", ""), ("TAGS", "t")]);
        assert_eq!(s, "KEYS\u{1}k1 k2\u{2}TAGS\u{1}t");
        assert_eq!(encode_properties([]), "");
        assert_eq!(encode_properties([("", "")]), "");
        assert_eq!(encode_properties([("", ""), ("A", "1")]), "A\u{1}1");
    }

    #[test]
    fn decode_properties_matches_java() {
        let want = vec![("KEYS".into(), "k".into()), ("TAGS".into(), "t".into())];
        assert_eq!(decode_properties("KEYS\u{1}k\u{2}TAGS\u{1}t"), want);
        assert_eq!(decode_properties("KEYS\u{1}k\u{2}TAGS\u{1}t\u{2}"), want);
        assert_eq!(decode_properties(""), Vec::<(String, String)>::new());
        // Empty key, empty value, missing separator, empty segments: dropped.
        assert_eq!(
            decode_properties("\u{1}v\u{2}K\u{1}\u{2}nosep\u{2}\u{2}A\u{1}1\u{2}\u{2}"),
            vec![("A".into(), "1".into())]
        );
        // The first \u1 splits; the value may hold more.
        assert_eq!(
            decode_properties("A\u{1}b\u{1}c"),
            vec![("A".into(), "b\u{1}c".into())]
        );
        let props = [("UNIQ_KEY", "ABC"), ("WAIT", "true"), ("ü", "ß")];
        let decoded = decode_properties(&encode_properties(props));
        let decoded: Vec<(&str, &str)> = decoded
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(decoded, props);
    }

    #[test]
    fn reserved_properties_follow_5_3_3() {
        assert_eq!(property::RESERVED.len(), 51);
        for k in [
            "KEYS",
            "TAGS",
            "WAIT",
            "DELAY",
            "UNIQ_KEY",
            "TRAN_MSG",
            "PGROUP",
            "INSTANCE_ID",
            "TRACE_ON",
            "TIMER_DELIVER_MS",
            "TIMER_DELAY_SEC",
            "TIMER_DELAY_MS",
            "TRAN_PREPARED_QUEUE_OFFSET",
            "INNER_MULTI_QUEUE_OFFSET",
            "__CRC32#",
            "DLQ_ORIGIN_TOPIC",
            "__BORNHOST",
            "1ST_POP_TIME",
        ] {
            assert!(is_reserved_property(k), "{k}");
        }
        for k in [
            "__transactionId__",
            "INNER_MULTI_DISPATCH",
            "TRANSACTION_CHECK_TIMES",
            "CHECK_IMMUNITY_TIME_IN_SECONDS",
            "__SHARDINGKEY",
            "keys",
            "myProp",
            "",
        ] {
            assert!(!is_reserved_property(k), "{k}");
        }
    }

    #[test]
    fn sys_flag_values() {
        assert_eq!(SysFlag::COMPRESSED, 0x1);
        assert_eq!(SysFlag::MULTI_TAGS, 0x2);
        assert_eq!(SysFlag::TRANSACTION_PREPARED, 0x4);
        assert_eq!(SysFlag::TRANSACTION_COMMIT, 0x8);
        assert_eq!(SysFlag::TRANSACTION_ROLLBACK, 0xC);
        assert_eq!(SysFlag::BORNHOST_V6, 0x10);
        assert_eq!(SysFlag::STOREHOST_V6, 0x20);
        assert_eq!(SysFlag::COMPRESSION_TYPE_MASK, 0x700);
        assert_eq!(SysFlag::COMPRESSION_LZ4, 0x100);
        assert_eq!(SysFlag::COMPRESSION_ZSTD, 0x200);
        assert_eq!(SysFlag::COMPRESSION_ZLIB, 0x300);
        assert_eq!(MESSAGE_MAGIC_CODE_V1 as u32, 0xDAA3_20A7);
        assert_eq!(MESSAGE_MAGIC_CODE_V2 as u32, 0xDAA3_20AB);
    }

    // ---- message ids ------------------------------------------------------------------------

    #[test]
    fn offset_msg_id_matches_protocol_vector() {
        let host: SocketAddr = "10.0.0.1:10911".parse().unwrap();
        assert_eq!(
            offset_msg_id(host, 123_456),
            "0A00000100002A9F000000000001E240"
        );
        assert_eq!(
            decode_offset_msg_id("0A00000100002A9F000000000001E240").unwrap(),
            (host, 123_456)
        );
        assert_eq!(
            decode_offset_msg_id("0a00000100002a9f000000000001e240").unwrap(),
            (host, 123_456)
        );
        let v6: SocketAddr = "[fe80::1:2]:65535".parse().unwrap();
        let id = offset_msg_id(v6, i64::MIN);
        assert_eq!(id.len(), 56);
        assert_eq!(decode_offset_msg_id(&id).unwrap(), (v6, i64::MIN));
    }

    #[test]
    fn bad_offset_msg_ids_are_errors() {
        for id in [
            "",
            "0A00000100002A9F000000000001E24",
            "0A00000100002A9F000000000001E2400",
            "0A00000100002A9F000000000001E24G",
            "0A000001FFFFFFFF000000000001E240", // port -1
            "0A00000100010000000000000001E240", // port 65536
            "ÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄ",                 // 32 bytes, not hex
        ] {
            assert_eq!(
                decode_offset_msg_id(id),
                Err(MessageDecodeError::InvalidMessageId(id.to_owned())),
                "{id}"
            );
        }
    }

    #[test]
    fn uniq_id_matches_protocol_vector() {
        let mut prefix = vec![10, 0, 0, 1];
        prefix.extend_from_slice(&12345u16.to_be_bytes());
        prefix.extend_from_slice(&0x1B6D_3586i32.to_be_bytes());
        let start = 1_700_000_000_000;
        assert_eq!(
            uniq_id_at(&prefix, start + 123_456_789, start, 0),
            "0A00000130391B6D3586075BCD150000"
        );
        // Small negative differences are clamped; large ones are kept as Java's int.
        assert_eq!(
            &uniq_id_at(&prefix, start - 999_999, start, 0xABCD)[20..],
            "00000000ABCD"
        );
        assert_eq!(
            &uniq_id_at(&prefix, start - 1_000_000, start, 1)[20..],
            "FFF0BDC00001"
        );
        // The (int) cast wraps.
        assert_eq!(
            &uniq_id_at(&prefix, start + (1i64 << 32) + 5, start, 2)[20..],
            "000000050002"
        );
        let gen = UniqIdGenerator::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 12345, 0x1B6D_3586);
        let id = gen.next_id();
        assert_eq!(id.len(), 32);
        assert_eq!(&id[..20], "0A00000130391B6D3586");
        assert_eq!(&id[28..], "0000");
        assert_eq!(&gen.next_id()[28..], "0001");
    }

    #[test]
    fn uniq_id_generator_details() {
        // pid is truncated to 16 bits; IPv6 gives 56 hex digits.
        let gen = UniqIdGenerator::new("2001:db8::7".parse().unwrap(), 0x0012_3456, -1);
        let id = gen.next_id();
        assert_eq!(id.len(), 56);
        assert_eq!(&id[..44], "20010DB80000000000000000000000073456FFFFFFFF");
        // The counter wraps at 16 bits.
        let gen = UniqIdGenerator::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1, 1);
        gen.counter.store(0xFFFF, Ordering::Relaxed);
        assert!(gen.next_id().ends_with("FFFF"));
        assert!(gen.next_id().ends_with("0000"));
        // The time part is the ms since the UTC month start.
        let id = UniqIdGenerator::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1, 1).next_id();
        let diff = i64::from(u32::from_str_radix(&id[20..28], 16).unwrap());
        let now = now_ms();
        assert!((0..=now - month_start_utc_ms(now)).contains(&diff));

        let p = UniqIdGenerator::for_process();
        let id = p.next_id();
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| HEX_UPPER.contains(&b)));
        let pid = format!("{:04X}", std::process::id() as u16);
        assert_eq!(&id[8..12], pid);
        assert!(std::ptr::eq(
            UniqIdGenerator::global(),
            UniqIdGenerator::global()
        ));
    }

    #[test]
    fn uniq_ids_are_unique_across_threads() {
        let gen = std::sync::Arc::new(UniqIdGenerator::new(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            1,
            2,
        ));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let gen = std::sync::Arc::clone(&gen);
                std::thread::spawn(move || (0..1000).map(|_| gen.next_id()).collect::<Vec<_>>())
            })
            .collect();
        let mut counters = std::collections::HashSet::new();
        for h in handles {
            for id in h.join().unwrap() {
                assert!(counters.insert(id[28..].to_owned()));
            }
        }
        assert_eq!(counters.len(), 4000);
    }

    #[test]
    fn month_start_known_dates() {
        assert_eq!(month_start_utc_ms(0), 0);
        // 2024-02-29T12:34:56Z (leap day) -> 2024-02-01.
        assert_eq!(month_start_utc_ms(1_709_210_096_000), 1_706_745_600_000);
        // 2000-03-01T00:00:00Z is its own month start (2000 is a leap year).
        assert_eq!(month_start_utc_ms(951_868_800_000), 951_868_800_000);
        assert_eq!(month_start_utc_ms(951_868_799_999), 949_363_200_000);
        // 2100-02-28T23:59:59Z (2100 is not a leap year) -> 2100-02-01.
        assert_eq!(month_start_utc_ms(4_107_542_399_000), 4_105_123_200_000);
        assert_eq!(month_start_utc_ms(4_107_542_400_000), 4_107_542_400_000);
        // Before the epoch: 1969-12-31T23:59:59Z -> 1969-12-01.
        assert_eq!(month_start_utc_ms(-1_000), -2_678_400_000);
        assert_eq!(month_start_utc_ms(-1), -2_678_400_000);
        // Extremes do not panic.
        assert!(month_start_utc_ms(i64::MAX) > i64::MAX - 32 * MS_PER_DAY);
        assert_eq!(month_start_utc_ms(i64::MIN), i64::MIN);
    }

    #[test]
    fn month_start_agrees_with_a_naive_calendar() {
        // Walk day by day from 1600-01-01 to 2400-12-31.
        fn leap(y: i64) -> bool {
            (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
        }
        fn month_len(y: i64, m: i64) -> i64 {
            match m {
                2 if leap(y) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            }
        }
        // 1600-01-01 is 135140 days before the epoch.
        let mut days = -135_140i64;
        let mut month_start = days;
        for y in 1600..=2400 {
            for m in 1..=12 {
                month_start = days;
                for d in 0..month_len(y, m) {
                    let ms = (days + d) * MS_PER_DAY;
                    assert_eq!(month_start_utc_ms(ms), month_start * MS_PER_DAY);
                    assert_eq!(
                        month_start_utc_ms(ms + MS_PER_DAY - 1),
                        month_start * MS_PER_DAY
                    );
                }
                days += month_len(y, m);
            }
        }
        // 2401-01-01 is 157 420 days after the epoch; checks the walk itself.
        assert_eq!(days, 157_420);
        assert_eq!(month_start, days - 31);
    }
}
