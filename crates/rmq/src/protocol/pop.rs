//! Pop consumption (5.x) without I/O: the checkpoint string a popped message carries
//! (`POP_CK`, Java `ExtraInfoUtil`), the pop retry topics (`KeyBuilder`) and the
//! `BATCH_ACK_MESSAGE` body (`BatchAckMessageRequestBody` / `BatchAck`).
//!
//! A checkpoint is 8 space-separated fields:
//! `ckQueueOffset popTime invisibleTime reviveQid retryFlag brokerName queueId msgQueueOffset`.
//! The broker needs it back, unchanged, to ack the message or change its invisible time.

use std::collections::HashMap;
use std::fmt;

use serde_json::json;

use super::header::PopMessageResponseHeader;
use super::message::property;
use super::stored::StoredMessage;

/// The revive queue id that marks an orderly checkpoint (`KeyBuilder.POP_ORDER_REVIVE_QUEUE`).
pub const POP_ORDER_REVIVE_QUEUE: i32 = 999;

const RETRY_PREFIX: &str = "%RETRY%";
const KEY_SEPARATOR: char = ' ';

/// Which topic a popped message came from (the checkpoint's retry flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PopTopicKind {
    /// The subscribed topic (`"0"`).
    Normal,
    /// The pop retry topic `%RETRY%<group>_<topic>` (`"1"`).
    RetryV1,
    /// The pop retry topic `%RETRY%<group>+<topic>` (`"2"`, broker `enableRetryTopicV2`).
    RetryV2,
}

impl PopTopicKind {
    /// The kind of a topic name (`ExtraInfoUtil.getRetry(topic)`).
    pub fn of_topic(topic: &str) -> Self {
        if topic.starts_with(RETRY_PREFIX) {
            if topic.contains('+') {
                Self::RetryV2
            } else {
                Self::RetryV1
            }
        } else {
            Self::Normal
        }
    }

    /// The wire flag.
    pub fn flag(self) -> &'static str {
        match self {
            Self::Normal => "0",
            Self::RetryV1 => "1",
            Self::RetryV2 => "2",
        }
    }

    fn parse(flag: &str) -> Option<Self> {
        match flag {
            "0" => Some(Self::Normal),
            "1" => Some(Self::RetryV1),
            "2" => Some(Self::RetryV2),
            _ => None,
        }
    }

    /// The topic the broker stored the message in, for the subscribed `topic` of `group`
    /// (`ExtraInfoUtil.getRealTopic`): what acks and invisible-time changes must name.
    pub fn real_topic(self, topic: &str, group: &str) -> String {
        match self {
            Self::Normal => topic.to_string(),
            Self::RetryV1 => format!("{RETRY_PREFIX}{group}_{topic}"),
            Self::RetryV2 => format!("{RETRY_PREFIX}{group}+{topic}"),
        }
    }
}

/// The subscribed topic behind a pop retry topic of `group` (`KeyBuilder.parseNormalTopic`);
/// other topics are returned as they are.
pub fn pop_normal_topic<'a>(topic: &'a str, group: &str) -> &'a str {
    let Some(rest) = topic.strip_prefix(RETRY_PREFIX) else {
        return topic;
    };
    match rest.strip_prefix(group) {
        Some(tail) => tail
            .strip_prefix('+')
            .or_else(|| tail.strip_prefix('_'))
            .unwrap_or(topic),
        None => topic,
    }
}

/// A checkpoint string that does not parse, or a pop answer whose offset infos do not fit
/// its messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pop checkpoint data {text:?}: {reason}")]
pub struct PopCheckpointError {
    /// The text that was read.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl PopCheckpointError {
    fn new(text: &str, reason: &'static str) -> Self {
        Self {
            text: text.to_string(),
            reason,
        }
    }
}

/// A popped message's checkpoint (`POP_CK`, the `extraInfo` of acks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopCheckpoint {
    /// First offset of the pop's range in the message's queue (`ckQueueOffset`).
    pub ck_queue_offset: i64,
    /// Broker time of the pop, epoch ms.
    pub pop_time: i64,
    /// Invisible time granted, ms.
    pub invisible_time: i64,
    /// Revive queue of the checkpoint.
    pub revive_qid: i32,
    /// Which topic the message came from.
    pub kind: PopTopicKind,
    /// The broker that popped it.
    pub broker_name: String,
    /// Queue id.
    pub queue_id: i32,
    /// The message's queue offset.
    pub queue_offset: i64,
}

impl PopCheckpoint {
    /// Parses the 8-field form.
    ///
    /// # Errors
    /// [`PopCheckpointError`] for a wrong field count or a field that does not parse.
    pub fn parse(text: &str) -> Result<Self, PopCheckpointError> {
        let fields: Vec<&str> = text.split(KEY_SEPARATOR).collect();
        if fields.len() != 8 {
            return Err(PopCheckpointError::new(text, "expected 8 fields"));
        }
        let bad = |reason| PopCheckpointError::new(text, reason);
        Ok(Self {
            ck_queue_offset: fields[0].parse().map_err(|_| bad("ckQueueOffset"))?,
            pop_time: fields[1].parse().map_err(|_| bad("popTime"))?,
            invisible_time: fields[2].parse().map_err(|_| bad("invisibleTime"))?,
            revive_qid: fields[3].parse().map_err(|_| bad("reviveQid"))?,
            kind: PopTopicKind::parse(fields[4]).ok_or_else(|| bad("retry flag"))?,
            broker_name: fields[5].to_string(),
            queue_id: fields[6].parse().map_err(|_| bad("queueId"))?,
            queue_offset: fields[7].parse().map_err(|_| bad("queue offset"))?,
        })
    }

    /// Whether it is an orderly checkpoint (`ExtraInfoUtil.isOrder`).
    pub fn is_order(&self) -> bool {
        self.revive_qid == POP_ORDER_REVIVE_QUEUE
    }

    /// When the broker makes the message visible again, epoch ms (unless acked or changed).
    pub fn visible_at_ms(&self) -> i64 {
        self.pop_time.saturating_add(self.invisible_time)
    }
}

impl fmt::Display for PopCheckpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {} {} {}",
            self.ck_queue_offset,
            self.pop_time,
            self.invisible_time,
            self.revive_qid,
            self.kind.flag(),
            self.broker_name,
            self.queue_id,
            self.queue_offset
        )
    }
}

type QueueKey = (PopTopicKind, i32);

/// Reads `"<flag> <queueId> <value>"` entries joined by `;` (`parseStartOffsetInfo`,
/// `parseMsgOffsetInfo`).
fn parse_queue_info<T>(
    text: &str,
    mut value: impl FnMut(&str) -> Option<T>,
) -> Result<HashMap<QueueKey, T>, PopCheckpointError> {
    let mut map = HashMap::new();
    for entry in text.split(';').filter(|e| !e.is_empty()) {
        let fields: Vec<&str> = entry.split(KEY_SEPARATOR).collect();
        let [flag, queue_id, v] = fields[..] else {
            return Err(PopCheckpointError::new(text, "expected 3 fields per queue"));
        };
        let key = (
            PopTopicKind::parse(flag)
                .ok_or_else(|| PopCheckpointError::new(text, "retry flag"))?,
            queue_id
                .parse()
                .map_err(|_| PopCheckpointError::new(text, "queue id"))?,
        );
        let v = value(v).ok_or_else(|| PopCheckpointError::new(text, "value"))?;
        if map.insert(key, v).is_some() {
            return Err(PopCheckpointError::new(text, "queue listed twice"));
        }
    }
    Ok(map)
}

/// Gives each popped message its checkpoint, as Java's `MQClientAPIImpl.processPopResponse`:
/// a message that already carries `POP_CK` (the broker sets it on retried messages) keeps it;
/// the others get one built from the answer's header, their queue's start offset
/// (`startOffsetInfo`) and their offset from `msgOffsetInfo`, by position among the messages
/// of that queue. Brokers without `startOffsetInfo` get the old form (each queue's first
/// popped offset as the checkpoint offset). `1ST_POP_TIME` is set when absent.
///
/// # Errors
/// [`PopCheckpointError`] when the infos do not parse or name no start offset for a
/// message's queue.
pub fn attach_pop_checkpoints(
    header: &PopMessageResponseHeader,
    broker_name: &str,
    messages: &mut [StoredMessage],
) -> Result<(), PopCheckpointError> {
    let start_offsets = match header.start_offset_info.as_deref() {
        Some(text) if !text.is_empty() => Some(parse_queue_info(text, |v| v.parse::<i64>().ok())?),
        _ => None,
    };
    let msg_offsets = match header.msg_offset_info.as_deref() {
        Some(text) if !text.is_empty() => parse_queue_info(text, |v| {
            v.split(',')
                .map(|o| o.parse::<i64>().ok())
                .collect::<Option<Vec<i64>>>()
        })?,
        _ => HashMap::new(),
    };
    let mut seen_in_queue: HashMap<QueueKey, usize> = HashMap::new();
    let mut first_offset: HashMap<(String, i32), i64> = HashMap::new();
    for m in messages.iter_mut() {
        let existing = m.property(property::POP_CK).map(str::to_string);
        // The retry flag of an existing checkpoint wins: the broker may have renamed the
        // topic of a retried message to the subscribed one.
        let kind = existing
            .as_deref()
            .and_then(|ck| PopCheckpoint::parse(ck).ok())
            .map_or_else(|| PopTopicKind::of_topic(&m.topic), |ck| ck.kind);
        let key = (kind, m.queue_id);
        let position = {
            let n = seen_in_queue.entry(key).or_insert(0);
            *n += 1;
            *n - 1
        };
        if existing.is_none() {
            let (ck_queue_offset, queue_offset) = match &start_offsets {
                None => {
                    let first = *first_offset
                        .entry((m.topic.clone(), m.queue_id))
                        .or_insert(m.queue_offset);
                    (first, m.queue_offset)
                }
                Some(starts) => {
                    let start = *starts.get(&key).ok_or_else(|| {
                        PopCheckpointError::new(
                            header.start_offset_info.as_deref().unwrap_or_default(),
                            "no start offset for a popped message's queue",
                        )
                    })?;
                    let offset = msg_offsets
                        .get(&key)
                        .and_then(|offsets| offsets.get(position))
                        .copied()
                        .unwrap_or(m.queue_offset);
                    (start, offset)
                }
            };
            let ck = PopCheckpoint {
                ck_queue_offset,
                pop_time: header.pop_time,
                invisible_time: header.invisible_time,
                revive_qid: header.revive_qid,
                kind,
                broker_name: broker_name.to_string(),
                queue_id: m.queue_id,
                queue_offset,
            };
            m.properties
                .push((property::POP_CK.to_string(), ck.to_string()));
        }
        if m.property(property::FIRST_POP_TIME).is_none() {
            m.properties.push((
                property::FIRST_POP_TIME.to_string(),
                header.pop_time.to_string(),
            ));
        }
    }
    Ok(())
}

/// Builds a `BATCH_ACK_MESSAGE` body for checkpoints of messages of the subscribed `topic`
/// (namespaced) of `group`, as Java's `batchAckMessageAsync` does: one `BatchAck` per
/// (retry flag, queue, checkpoint offset, pop time), with a bit per acked offset counted from
/// the checkpoint offset. The body names the first checkpoint's broker; all should be from
/// one broker. Returns `None` for no checkpoints or offsets that do not fit a bit set (below
/// the checkpoint offset, or over 65536 past it): ack those one by one.
pub fn batch_ack_body(group: &str, topic: &str, checkpoints: &[PopCheckpoint]) -> Option<Vec<u8>> {
    const MAX_BITS: i64 = 65_536;
    let first = checkpoints.first()?;
    let mut acks: Vec<(&PopCheckpoint, Vec<u8>)> = Vec::new();
    for ck in checkpoints {
        let bit = ck.queue_offset - ck.ck_queue_offset;
        if !(0..MAX_BITS).contains(&bit) {
            return None;
        }
        let index = match acks.iter().position(|(a, _)| {
            a.kind == ck.kind
                && a.queue_id == ck.queue_id
                && a.ck_queue_offset == ck.ck_queue_offset
                && a.pop_time == ck.pop_time
        }) {
            Some(i) => i,
            None => {
                acks.push((ck, Vec::new()));
                acks.len() - 1
            }
        };
        let bits = &mut acks[index].1;
        let (byte, shift) = ((bit / 8) as usize, bit % 8);
        if bits.len() <= byte {
            bits.resize(byte + 1, 0);
        }
        bits[byte] |= 1 << shift;
    }
    let acks: Vec<serde_json::Value> = acks
        .iter()
        .map(|(ck, bits)| {
            json!({
                // java.util.BitSet.toByteArray (little endian), base64 as fastjson writes
                // byte arrays.
                "b": base64(bits),
                "c": group,
                "it": ck.invisible_time,
                "pt": ck.pop_time,
                "q": ck.queue_id,
                "r": ck.kind.flag(),
                "rq": ck.revive_qid,
                "so": ck.ck_queue_offset,
                "t": topic,
            })
        })
        .collect();
    let body = json!({"acks": acks, "brokerName": first.broker_name});
    Some(body.to_string().into_bytes())
}

/// Standard base64 with padding (what fastjson writes for a `byte[]`).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{CommandHeader, ExtFields};

    #[test]
    fn checkpoints_round_trip_in_java_form() {
        // As ExtraInfoUtil.buildExtraInfo(100, 1700000000000, 60000, 2, "%RETRY%G_T",
        // "broker-a", 3, 105) writes it.
        let text = "100 1700000000000 60000 2 1 broker-a 3 105";
        let ck = PopCheckpoint::parse(text).unwrap();
        assert_eq!(ck.ck_queue_offset, 100);
        assert_eq!(ck.pop_time, 1_700_000_000_000);
        assert_eq!(ck.invisible_time, 60_000);
        assert_eq!(ck.revive_qid, 2);
        assert_eq!(ck.kind, PopTopicKind::RetryV1);
        assert_eq!(ck.broker_name, "broker-a");
        assert_eq!(ck.queue_id, 3);
        assert_eq!(ck.queue_offset, 105);
        assert_eq!(ck.to_string(), text);
        assert_eq!(ck.visible_at_ms(), 1_700_000_060_000);
        assert!(!ck.is_order());
        for bad in ["", "1 2 3", "a 1 2 3 0 b 1 2", "1 2 3 4 9 b 1 2", "1 2 3 4 0 b 1 2 3"] {
            assert!(PopCheckpoint::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn retry_topics_follow_key_builder() {
        assert_eq!(PopTopicKind::of_topic("T"), PopTopicKind::Normal);
        assert_eq!(PopTopicKind::of_topic("%RETRY%G_T"), PopTopicKind::RetryV1);
        assert_eq!(PopTopicKind::of_topic("%RETRY%G+T"), PopTopicKind::RetryV2);
        assert_eq!(PopTopicKind::RetryV1.real_topic("T", "G"), "%RETRY%G_T");
        assert_eq!(PopTopicKind::RetryV2.real_topic("T", "G"), "%RETRY%G+T");
        assert_eq!(PopTopicKind::Normal.real_topic("T", "G"), "T");
        assert_eq!(pop_normal_topic("%RETRY%cg_a_T_b", "cg_a"), "T_b");
        assert_eq!(pop_normal_topic("%RETRY%cg_a+T_b", "cg_a"), "T_b");
        assert_eq!(pop_normal_topic("T", "cg"), "T");
        assert_eq!(pop_normal_topic("%RETRY%other_T", "cg"), "%RETRY%other_T");
    }

    fn popped(topic: &str, queue_id: i32, queue_offset: i64) -> StoredMessage {
        let host: std::net::SocketAddr = "127.0.0.1:10911".parse().unwrap();
        StoredMessage {
            store_size: 0,
            magic: crate::protocol::MESSAGE_MAGIC_CODE_V1,
            body_crc: 0,
            queue_id,
            flag: 0,
            queue_offset,
            commit_log_offset: 0,
            sys_flag: 0,
            born_timestamp: 0,
            born_host: host,
            store_timestamp: 0,
            store_host: host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: bytes::Bytes::new(),
            body_compressed: false,
            topic: topic.to_string(),
            properties: Vec::new(),
            offset_msg_id: String::new(),
        }
    }

    #[test]
    fn checkpoints_are_built_from_the_offset_infos_as_java_does() {
        let ext: ExtFields = [
            ("popTime", "1700000000000"),
            ("invisibleTime", "60000"),
            ("reviveQid", "5"),
            ("restNum", "0"),
            ("startOffsetInfo", "0 1 10;0 2 20;1 0 3"),
            ("msgOffsetInfo", "0 1 10,12;0 2 21;1 0 4"),
        ]
        .into_iter()
        .collect();
        let header = PopMessageResponseHeader::read_from(&ext).unwrap();
        let mut retried = popped("T", 0, 4);
        // The broker renames retried messages and sets their checkpoint itself.
        retried.properties.push((
            property::POP_CK.into(),
            "3 1699999999999 60000 5 1 broker-a 0 4".into(),
        ));
        let mut messages = vec![
            popped("T", 1, 10),
            popped("T", 2, 21),
            popped("T", 1, 12),
            retried,
        ];
        attach_pop_checkpoints(&header, "broker-a", &mut messages).unwrap();
        let cks: Vec<&str> = messages
            .iter()
            .map(|m| m.property(property::POP_CK).unwrap())
            .collect();
        assert_eq!(
            cks,
            vec![
                "10 1700000000000 60000 5 0 broker-a 1 10",
                "20 1700000000000 60000 5 0 broker-a 2 21",
                "10 1700000000000 60000 5 0 broker-a 1 12",
                "3 1699999999999 60000 5 1 broker-a 0 4",
            ]
        );
        assert!(messages
            .iter()
            .all(|m| m.property(property::FIRST_POP_TIME) == Some("1700000000000")));

        // Old brokers: no start offsets; each queue's first popped offset is the checkpoint's.
        let ext: ExtFields = [
            ("popTime", "7"),
            ("invisibleTime", "60000"),
            ("reviveQid", "0"),
            ("restNum", "0"),
        ]
        .into_iter()
        .collect();
        let header = PopMessageResponseHeader::read_from(&ext).unwrap();
        let mut messages = vec![popped("T", 1, 10), popped("T", 1, 11)];
        attach_pop_checkpoints(&header, "b", &mut messages).unwrap();
        assert_eq!(
            messages[1].property(property::POP_CK),
            Some("10 7 60000 0 0 b 1 11")
        );

        // A queue missing from the start offsets is an error, not a made-up checkpoint.
        let ext: ExtFields = [
            ("popTime", "7"),
            ("invisibleTime", "60000"),
            ("reviveQid", "0"),
            ("restNum", "0"),
            ("startOffsetInfo", "0 9 1"),
        ]
        .into_iter()
        .collect();
        let header = PopMessageResponseHeader::read_from(&ext).unwrap();
        let mut messages = vec![popped("T", 1, 10)];
        assert!(attach_pop_checkpoints(&header, "b", &mut messages).is_err());
    }

    #[test]
    fn batch_ack_bodies_match_java_batch_ack_json() {
        // As BatchAckTest: offsets start+1, start+3, start+5 → BitSet {1,3,5} = byte 0x2A.
        let ck = |queue_offset| PopCheckpoint {
            ck_queue_offset: 100,
            pop_time: 1_700_000_000_000,
            invisible_time: 5000,
            revive_qid: 2,
            kind: PopTopicKind::Normal,
            broker_name: "broker-a".into(),
            queue_id: 1,
            queue_offset,
        };
        let mut other_queue = ck(7);
        other_queue.queue_id = 2;
        other_queue.ck_queue_offset = 7;
        let body = batch_ack_body("G", "myTopic", &[ck(101), ck(103), ck(105), other_queue]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["brokerName"], "broker-a");
        let acks = v["acks"].as_array().unwrap();
        assert_eq!(acks.len(), 2);
        assert_eq!(
            acks[0],
            json!({"b": "Kg==", "c": "G", "it": 5000, "pt": 1_700_000_000_000_i64, "q": 1, "r": "0", "rq": 2, "so": 100, "t": "myTopic"})
        );
        assert_eq!(acks[1]["b"], "AQ==");
        assert_eq!(acks[1]["q"], 2);
        assert!(batch_ack_body("G", "T", &[]).is_none());
        assert!(batch_ack_body("G", "T", &[ck(99)]).is_none());
    }

    #[test]
    fn base64_matches_rfc_4648() {
        for (raw, encoded) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (&[0xff, 0xfe, 0x00][..], "//4A"),
        ] {
            assert_eq!(base64(raw), encoded);
        }
    }
}
