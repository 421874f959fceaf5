//! Message-trace records in the Java `TraceDataEncoder` text format: fields separated by
//! `\u{1}`, each record ended by `\u{2}`, absent strings written as `null`, numbers in decimal,
//! booleans as `true`/`false`. A trace message's body is its records one after another.
//!
//! The field counts are the ones every Java decoder (4.9.3 up to 5.x) reads completely: `Pub`
//! 14, `SubBefore` 8, `SubAfter` 9, `EndTransaction` 13. A record never ends with an empty
//! field (Java's `split` would drop it and the decoder would reject the whole body), so an
//! empty or absent string is written as `null`, and the message type is one of the four
//! values 4.9.3 knows.

use std::fmt::Write as _;

/// Separator between the fields of a record (`TraceConstants.CONTENT_SPLITOR`).
pub const TRACE_FIELD_SEPARATOR: char = '\u{1}';
/// Terminator of every record (`TraceConstants.FIELD_SPLITOR`).
pub const TRACE_RECORD_END: char = '\u{2}';
/// The default trace topic (`TopicValidator.RMQ_SYS_TRACE_TOPIC`).
pub const DEFAULT_TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";
/// Region of a trace when the broker named none (`MixAll.DEFAULT_TRACE_REGION_ID`).
pub const DEFAULT_TRACE_REGION: &str = "DefaultRegion";

/// Java `MessageType`, written as its ordinal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceMessageType {
    /// `Normal_Msg` (0).
    Normal = 0,
    /// `Trans_Msg_Half` (1): the half message of a transaction.
    TransactionHalf = 1,
    /// `Trans_msg_Commit` (2): every `EndTransaction` record.
    TransactionCommit = 2,
    /// `Delay_Msg` (3): a message with a delay level or a delivery time.
    Delay = 3,
}

/// Java `ConsumeReturnType`, written as its ordinal (`contextCode` of `SubAfter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceConsumeCode {
    /// `SUCCESS` (0).
    Success = 0,
    /// `TIME_OUT` (1): the handler ran past the consume timeout.
    Timeout = 1,
    /// `EXCEPTION` (2): the handler panicked.
    Exception = 2,
    /// `FAILED` (4): the handler asked for a later delivery.
    Failed = 4,
}

/// A publish record (`Pub`), written after a send that got an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubTrace {
    /// When the send attempt started (ms since the epoch).
    pub timestamp_ms: i64,
    /// `MSG_REGION` of the broker's answer.
    pub region_id: String,
    /// Producer group, without namespace.
    pub group: String,
    /// Topic, without namespace.
    pub topic: String,
    /// `UNIQ_KEY` (a batch: every id, comma-separated).
    pub msg_id: String,
    /// Tags, if any.
    pub tags: Option<String>,
    /// Keys, space-separated, if any.
    pub keys: Option<String>,
    /// Broker address the message was sent to.
    pub store_host: String,
    /// Body length on the wire (after compression; a batch: the encoded batch).
    pub body_length: usize,
    /// Milliseconds from the start of the attempt to the answer.
    pub cost_ms: u64,
    /// Message type.
    pub msg_type: TraceMessageType,
    /// The broker's offset message id.
    pub offset_msg_id: String,
    /// Whether the broker answered `SEND_OK`.
    pub success: bool,
}

/// A record written before a handler call, one per message (`SubBefore`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubBeforeTrace {
    /// When the handler call started (ms since the epoch).
    pub timestamp_ms: i64,
    /// `MSG_REGION` of the message.
    pub region_id: String,
    /// Consumer group, without namespace.
    pub group: String,
    /// Links the `SubBefore` and `SubAfter` records of one handler call.
    pub request_id: String,
    /// `UNIQ_KEY` of the message.
    pub msg_id: String,
    /// Times the message was delivered before.
    pub retry_times: i32,
    /// Keys, space-separated, if any.
    pub keys: Option<String>,
}

/// A record written after a handler call, one per message (`SubAfter`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAfterTrace {
    /// Same as the `SubBefore` record's.
    pub request_id: String,
    /// `UNIQ_KEY` of the message.
    pub msg_id: String,
    /// Milliseconds of the call divided by the number of messages in it.
    pub cost_ms: u64,
    /// Whether the handler consumed the message.
    pub success: bool,
    /// Keys, space-separated, if any.
    pub keys: Option<String>,
    /// How the call ended.
    pub code: TraceConsumeCode,
    /// When the call ended (ms since the epoch).
    pub timestamp_ms: i64,
    /// Consumer group, without namespace.
    pub group: String,
}

/// A record of the decision on a transaction (`EndTransaction`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndTransactionTrace {
    /// When the decision was sent (ms since the epoch).
    pub timestamp_ms: i64,
    /// `MSG_REGION` of the half message, else the default region.
    pub region_id: String,
    /// Producer group, without namespace.
    pub group: String,
    /// Topic, without namespace.
    pub topic: String,
    /// `UNIQ_KEY` of the half message.
    pub msg_id: String,
    /// Tags, if any.
    pub tags: Option<String>,
    /// Keys, space-separated, if any.
    pub keys: Option<String>,
    /// Broker the decision goes to.
    pub store_host: String,
    /// Transaction id, if known.
    pub transaction_id: Option<String>,
    /// `COMMIT_MESSAGE`, `ROLLBACK_MESSAGE` or `UNKNOW`.
    pub state: &'static str,
    /// Whether this answers a broker's check.
    pub from_transaction_check: bool,
}

/// One trace record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceRecord {
    /// `Pub`.
    Pub(PubTrace),
    /// `SubBefore`.
    SubBefore(SubBeforeTrace),
    /// `SubAfter`.
    SubAfter(SubAfterTrace),
    /// `EndTransaction`.
    EndTransaction(EndTransactionTrace),
}

/// Writes the fields of one record.
struct RecordWriter<'a> {
    out: &'a mut String,
}

impl<'a> RecordWriter<'a> {
    fn new(out: &'a mut String, kind: &str) -> Self {
        out.push_str(kind);
        Self { out }
    }

    fn separator(&mut self) {
        self.out.push(TRACE_FIELD_SEPARATOR);
    }

    /// A string field; empty or absent is `null`, separators inside are replaced by spaces.
    fn text(&mut self, value: Option<&str>) -> &mut Self {
        self.separator();
        match value.filter(|v| !v.is_empty()) {
            None => self.out.push_str("null"),
            Some(v) if v.contains([TRACE_FIELD_SEPARATOR, TRACE_RECORD_END]) => self.out.extend(
                v.chars().map(|c| match c {
                    TRACE_FIELD_SEPARATOR | TRACE_RECORD_END => ' ',
                    c => c,
                }),
            ),
            Some(v) => self.out.push_str(v),
        }
        self
    }

    fn str(&mut self, value: &str) -> &mut Self {
        self.text(Some(value))
    }

    fn num(&mut self, value: impl std::fmt::Display) -> &mut Self {
        self.separator();
        let _ = write!(self.out, "{value}");
        self
    }

    fn end(&mut self) {
        self.out.push(TRACE_RECORD_END);
    }
}

impl TraceRecord {
    /// Appends the record, terminator included, to `out`.
    pub fn encode_into(&self, out: &mut String) {
        match self {
            Self::Pub(r) => RecordWriter::new(out, "Pub")
                .num(r.timestamp_ms)
                .str(&r.region_id)
                .str(&r.group)
                .str(&r.topic)
                .str(&r.msg_id)
                .text(r.tags.as_deref())
                .text(r.keys.as_deref())
                .str(&r.store_host)
                .num(r.body_length)
                .num(r.cost_ms)
                .num(r.msg_type as i32)
                .str(&r.offset_msg_id)
                .num(r.success)
                .end(),
            Self::SubBefore(r) => RecordWriter::new(out, "SubBefore")
                .num(r.timestamp_ms)
                .str(&r.region_id)
                .str(&r.group)
                .str(&r.request_id)
                .str(&r.msg_id)
                .num(r.retry_times)
                .text(r.keys.as_deref())
                .end(),
            Self::SubAfter(r) => RecordWriter::new(out, "SubAfter")
                .str(&r.request_id)
                .str(&r.msg_id)
                .num(r.cost_ms)
                .num(r.success)
                .text(r.keys.as_deref())
                .num(r.code as i32)
                .num(r.timestamp_ms)
                .str(&r.group)
                .end(),
            Self::EndTransaction(r) => RecordWriter::new(out, "EndTransaction")
                .num(r.timestamp_ms)
                .str(&r.region_id)
                .str(&r.group)
                .str(&r.topic)
                .str(&r.msg_id)
                .text(r.tags.as_deref())
                .text(r.keys.as_deref())
                .str(&r.store_host)
                .num(TraceMessageType::TransactionCommit as i32)
                .text(r.transaction_id.as_deref())
                .str(r.state)
                .num(r.from_transaction_check)
                .end(),
        }
    }

    /// The record encoded on its own.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        self.encode_into(&mut out);
        out
    }

    /// The keys under which the broker indexes the trace message that carries this record
    /// (Java `TraceTransferBean.transKey`): the message id, and each of the message's keys.
    pub fn index_keys(&self) -> impl Iterator<Item = &str> {
        let (msg_id, keys) = match self {
            Self::Pub(r) => (&r.msg_id, &r.keys),
            Self::SubBefore(r) => (&r.msg_id, &r.keys),
            Self::SubAfter(r) => (&r.msg_id, &r.keys),
            Self::EndTransaction(r) => (&r.msg_id, &r.keys),
        };
        std::iter::once(msg_id.as_str())
            .chain(keys.iter().flat_map(|k| k.split(' ')))
            .filter(|k| !k.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(encoded: &str) -> Vec<&str> {
        let record = encoded
            .strip_suffix(TRACE_RECORD_END)
            .expect("record terminator");
        record.split(TRACE_FIELD_SEPARATOR).collect()
    }

    fn publish() -> PubTrace {
        PubTrace {
            timestamp_ms: 1_796_652_619_869,
            region_id: "DefaultRegion".into(),
            group: "drv_pg".into(),
            topic: "TopicA".into(),
            msg_id: "FD00".into(),
            tags: Some("tagA".into()),
            keys: Some("key1 key2".into()),
            store_host: "127.0.0.1:10911".into(),
            body_length: 10,
            cost_ms: 132,
            msg_type: TraceMessageType::Normal,
            offset_msg_id: "7F00000100002A9F0000000000000000".into(),
            success: true,
        }
    }

    #[test]
    fn a_publish_record_is_what_java_writes() {
        // Captured from a Java 5.3.3 producer with trace on (| is \1, # is \2).
        let java = "Pub|1796652619869|DefaultRegion|drv_pg|TopicA|FD00|tagA|key1 key2|127.0.0.1:10911|10|132|0|7F00000100002A9F0000000000000000|true#";
        let ours = TraceRecord::Pub(publish())
            .encode()
            .replace('\u{1}', "|")
            .replace('\u{2}', "#");
        assert_eq!(ours, java);
    }

    #[test]
    fn every_record_has_the_field_count_every_java_decoder_reads_whole() {
        let before = TraceRecord::SubBefore(SubBeforeTrace {
            timestamp_ms: 1,
            region_id: "DefaultRegion".into(),
            group: "g".into(),
            request_id: "R".into(),
            msg_id: "M".into(),
            retry_times: 2,
            keys: None,
        });
        let after = TraceRecord::SubAfter(SubAfterTrace {
            request_id: "R".into(),
            msg_id: "M".into(),
            cost_ms: 3,
            success: false,
            keys: Some(String::new()),
            code: TraceConsumeCode::Failed,
            timestamp_ms: 4,
            group: "g".into(),
        });
        let end = TraceRecord::EndTransaction(EndTransactionTrace {
            timestamp_ms: 5,
            region_id: "DefaultRegion".into(),
            group: "g".into(),
            topic: "T".into(),
            msg_id: "M".into(),
            tags: None,
            keys: None,
            store_host: "127.0.0.1:10911".into(),
            transaction_id: None,
            state: "UNKNOW",
            from_transaction_check: true,
        });
        let cases = [
            (TraceRecord::Pub(publish()), 14),
            (before, 8),
            (after, 9),
            (end, 13),
        ];
        for (record, count) in cases {
            let encoded = record.encode();
            let f = fields(&encoded);
            assert_eq!(f.len(), count, "{encoded:?}");
            assert!(f.iter().all(|v| !v.is_empty()), "empty field in {encoded:?}");
        }
        let empty_keys = cases_sub_before_keys();
        assert_eq!(fields(&empty_keys)[7], "null");
    }

    fn cases_sub_before_keys() -> String {
        TraceRecord::SubBefore(SubBeforeTrace {
            timestamp_ms: 1,
            region_id: "r".into(),
            group: "g".into(),
            request_id: "R".into(),
            msg_id: "M".into(),
            retry_times: 0,
            keys: Some(String::new()),
        })
        .encode()
    }

    #[test]
    fn absent_tags_and_keys_are_null_and_separators_never_leak() {
        let mut p = publish();
        p.tags = None;
        p.keys = Some("a\u{1}b\u{2}c".into());
        let encoded = TraceRecord::Pub(p).encode();
        let f = fields(&encoded);
        assert_eq!(f[6], "null");
        assert_eq!(f[7], "a b c");
        assert_eq!(f.len(), 14);
    }

    #[test]
    fn index_keys_are_the_message_id_and_each_key() {
        let record = TraceRecord::Pub(publish());
        let keys: Vec<&str> = record.index_keys().collect();
        assert_eq!(keys, ["FD00", "key1", "key2"]);
    }
}
