//! Typed request and response headers, converted to and from a command's `extFields`.
//!
//! Every value is a string on the wire (`RemotingCommand.makeCustomHeaderToNet` writes
//! `value.toString()`); optional fields are omitted when `None`.

use super::ext_fields::ExtFields;

/// A header field that is missing or does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// A required field is absent.
    #[error("header field `{field}` is missing")]
    Missing {
        /// Wire name of the field.
        field: &'static str,
    },
    /// A field's value does not parse as its type.
    #[error("header field `{field}` has invalid value {value:?}")]
    Invalid {
        /// Wire name of the field.
        field: &'static str,
        /// The raw value.
        value: String,
    },
}

/// A typed header that maps to and from `extFields`.
pub trait CommandHeader: Sized {
    /// Writes the fields into `ext`.
    fn write_to(&self, ext: &mut ExtFields);
    /// Reads the fields from `ext`.
    ///
    /// # Errors
    /// [`HeaderError`] when a required field is missing or invalid.
    fn read_from(ext: &ExtFields) -> Result<Self, HeaderError>;
}

/// A value type that can live in an ext field.
pub trait ExtValue: Sized {
    /// The wire text, or `None` to omit the field.
    fn to_ext(&self) -> Option<String>;
    /// Parses the field; `raw` is `None` when the field is absent.
    ///
    /// # Errors
    /// [`HeaderError`] when required and absent, or when the text does not parse.
    fn from_ext(field: &'static str, raw: Option<&str>) -> Result<Self, HeaderError>;
}

macro_rules! scalar_ext_value {
    ($($ty:ty),*) => {$(
        impl ExtValue for $ty {
            fn to_ext(&self) -> Option<String> {
                Some(self.to_string())
            }
            fn from_ext(field: &'static str, raw: Option<&str>) -> Result<Self, HeaderError> {
                let raw = raw.ok_or(HeaderError::Missing { field })?;
                raw.trim().parse().map_err(|_| HeaderError::Invalid { field, value: raw.to_owned() })
            }
        }
    )*};
}
scalar_ext_value!(i32, i64, u32, bool);

impl ExtValue for String {
    fn to_ext(&self) -> Option<String> {
        Some(self.clone())
    }
    fn from_ext(field: &'static str, raw: Option<&str>) -> Result<Self, HeaderError> {
        raw.map(str::to_owned).ok_or(HeaderError::Missing { field })
    }
}

impl<T: ExtValue> ExtValue for Option<T> {
    fn to_ext(&self) -> Option<String> {
        self.as_ref().and_then(T::to_ext)
    }
    fn from_ext(field: &'static str, raw: Option<&str>) -> Result<Self, HeaderError> {
        match raw {
            None => Ok(None),
            Some(_) => T::from_ext(field, raw).map(Some),
        }
    }
}

/// Declares a header struct whose fields map one-to-one to ext fields.
macro_rules! command_header {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty => $key:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl CommandHeader for $name {
            fn write_to(&self, ext: &mut ExtFields) {
                $( if let Some(v) = ExtValue::to_ext(&self.$field) { ext.insert($key, v); } )*
            }
            fn read_from(ext: &ExtFields) -> Result<Self, HeaderError> {
                Ok(Self { $( $field: ExtValue::from_ext($key, ext.get($key))?, )* })
            }
        }
    };
}

command_header! {
    /// `GET_ROUTEINFO_BY_TOPIC` (105) request.
    pub struct GetRouteInfoRequestHeader {
        /// Topic whose route is wanted.
        pub topic: String => "topic",
        /// Ask 4.9.4+ and 5.x name servers for standard JSON (quoted map keys).
        pub accept_standard_json_only: Option<bool> => "acceptStandardJsonOnly",
    }
}

command_header! {
    /// `UNREGISTER_CLIENT` (35) request.
    pub struct UnregisterClientRequestHeader {
        /// Client id of the instance.
        pub client_id: String => "clientID",
        /// Producer group leaving, if any.
        pub producer_group: Option<String> => "producerGroup",
        /// Consumer group leaving, if any.
        pub consumer_group: Option<String> => "consumerGroup",
    }
}

command_header! {
    /// `GET_PRODUCER_CONNECTION_LIST` (204) request.
    pub struct GetProducerConnectionListRequestHeader {
        /// The producer group.
        pub producer_group: String => "producerGroup",
    }
}

command_header! {
    /// `UPDATE_AND_CREATE_TOPIC` (17) request (`CreateTopicRequestHeader`).
    pub struct CreateTopicRequestHeader {
        /// Topic to create or update.
        pub topic: String => "topic",
        /// Template topic, `TBW102` in the Java admin tools.
        pub default_topic: String => "defaultTopic",
        /// Number of read queues.
        pub read_queue_nums: i32 => "readQueueNums",
        /// Number of write queues.
        pub write_queue_nums: i32 => "writeQueueNums",
        /// Permission bits (`PermName`), 6 = read + write.
        pub perm: i32 => "perm",
        /// `SINGLE_TAG` or `MULTI_TAG`.
        pub topic_filter_type: String => "topicFilterType",
        /// Topic system flag.
        pub topic_sys_flag: Option<i32> => "topicSysFlag",
        /// Ordered topic.
        pub order: bool => "order",
    }
}

command_header! {
    /// `SEND_MESSAGE_V2` (310) / `SEND_BATCH_MESSAGE` (320) request, with the one-letter
    /// field names of `SendMessageRequestHeaderV2`.
    pub struct SendMessageRequestHeaderV2 {
        /// Producer group.
        pub producer_group: String => "a",
        /// Topic.
        pub topic: String => "b",
        /// Template topic for auto-creation (`TBW102`).
        pub default_topic: String => "c",
        /// Queue count for auto-creation.
        pub default_topic_queue_nums: i32 => "d",
        /// Target queue id.
        pub queue_id: i32 => "e",
        /// `MessageSysFlag` bits.
        pub sys_flag: i32 => "f",
        /// Client time of sending, epoch ms.
        pub born_timestamp: i64 => "g",
        /// User flag.
        pub flag: i32 => "h",
        /// Properties string (`k\u{1}v\u{2}...`).
        pub properties: Option<String> => "i",
        /// Reconsume times (0 for producers).
        pub reconsume_times: Option<i32> => "j",
        /// Unit mode.
        pub unit_mode: Option<bool> => "k",
        /// Max reconsume times (retry topics only).
        pub max_reconsume_times: Option<i32> => "l",
        /// Batch send.
        pub batch: Option<bool> => "m",
        /// Target broker name (required by the 5.x proxy).
        pub broker_name: Option<String> => "n",
    }
}

command_header! {
    /// Response header of a send (`SendMessageResponseHeader`).
    pub struct SendMessageResponseHeader {
        /// Offset message id(s) (broker address + commit-log offset), comma-separated for batches.
        pub msg_id: String => "msgId",
        /// Queue the message went to.
        pub queue_id: i32 => "queueId",
        /// Offset in that queue.
        pub queue_offset: i64 => "queueOffset",
        /// Transaction id (5.x brokers: the message's UNIQ_KEY).
        pub transaction_id: Option<String> => "transactionId",
        /// 5.x: batch unique id.
        pub batch_uniq_id: Option<String> => "batchUniqId",
    }
}

command_header! {
    /// `VIEW_MESSAGE_BY_ID` (33) request.
    pub struct ViewMessageRequestHeader {
        /// Commit-log offset of the message.
        pub offset: i64 => "offset",
        /// 5.x: topic of the message.
        pub topic: Option<String> => "topic",
    }
}

command_header! {
    /// `GET_MAX_OFFSET` (30) / `GET_MIN_OFFSET` (31) request.
    pub struct QueueOffsetRequestHeader {
        /// Topic.
        pub topic: String => "topic",
        /// Queue id.
        pub queue_id: i32 => "queueId",
    }
}

command_header! {
    /// Response of `GET_MAX_OFFSET` / `GET_MIN_OFFSET`.
    pub struct QueueOffsetResponseHeader {
        /// The offset.
        pub offset: i64 => "offset",
    }
}

command_header! {
    /// `CHECK_TRANSACTION_STATE` (39) request from a broker (`CheckTransactionStateRequestHeader`).
    pub struct CheckTransactionStateRequestHeader {
        /// Offset in the transaction state table.
        pub tran_state_table_offset: Option<i64> => "tranStateTableOffset",
        /// Commit-log offset of the half message.
        pub commit_log_offset: Option<i64> => "commitLogOffset",
        /// Message id (UNIQ_KEY).
        pub msg_id: Option<String> => "msgId",
        /// Transaction id.
        pub transaction_id: Option<String> => "transactionId",
        /// Offset message id.
        pub offset_msg_id: Option<String> => "offsetMsgId",
        /// 5.x: topic.
        pub topic: Option<String> => "topic",
        /// 5.x: broker name.
        pub broker_name: Option<String> => "bname",
    }
}

command_header! {
    /// `END_TRANSACTION` (37) request, oneway (`EndTransactionRequestHeader`).
    pub struct EndTransactionRequestHeader {
        /// Producer group (with namespace).
        pub producer_group: String => "producerGroup",
        /// Queue offset of the half message.
        pub tran_state_table_offset: i64 => "tranStateTableOffset",
        /// Commit-log offset of the half message.
        pub commit_log_offset: i64 => "commitLogOffset",
        /// 8 commit, 12 rollback, 0 unknown.
        pub commit_or_rollback: i32 => "commitOrRollback",
        /// Whether this answers a broker's check.
        pub from_transaction_check: bool => "fromTransactionCheck",
        /// Message id (UNIQ_KEY).
        pub msg_id: String => "msgId",
        /// Transaction id (omitted when unknown, as 4.9.x brokers give none).
        pub transaction_id: Option<String> => "transactionId",
        /// 5.x: topic.
        pub topic: Option<String> => "topic",
        /// 5.x: broker name.
        pub broker_name: Option<String> => "bname",
    }
}

command_header! {
    /// A request carrying only a consumer group (`GET_CONSUMER_RUNNING_INFO`,
    /// `CONSUME_MESSAGE_DIRECTLY`, `NOTIFY_CONSUMER_IDS_CHANGED`).
    pub struct ConsumerGroupRequestHeader {
        /// The consumer group.
        pub consumer_group: Option<String> => "consumerGroup",
    }
}

command_header! {
    /// `PULL_MESSAGE` (11) request (`PullMessageRequestHeader`).
    pub struct PullMessageRequestHeader {
        /// Consumer group (namespaced).
        pub consumer_group: String => "consumerGroup",
        /// Topic.
        pub topic: String => "topic",
        /// Queue id.
        pub queue_id: i32 => "queueId",
        /// First offset wanted.
        pub queue_offset: i64 => "queueOffset",
        /// Most messages wanted.
        pub max_msg_nums: i32 => "maxMsgNums",
        /// `PullSysFlag` bits.
        pub sys_flag: i32 => "sysFlag",
        /// Offset to commit on the way (with `FLAG_COMMIT_OFFSET`).
        pub commit_offset: i64 => "commitOffset",
        /// How long the broker may hold the request when nothing is there (long polling).
        pub suspend_timeout_millis: i64 => "suspendTimeoutMillis",
        /// Subscription expression (with `FLAG_SUBSCRIPTION`).
        pub subscription: Option<String> => "subscription",
        /// Subscription version, as in the heartbeat.
        pub sub_version: i64 => "subVersion",
        /// `TAG` or `SQL92`.
        pub expression_type: Option<String> => "expressionType",
        /// 5.x: broker name (required by the 5.x proxy).
        pub broker_name: Option<String> => "bname",
    }
}

command_header! {
    /// `PULL_MESSAGE` response (`PullMessageResponseHeader`).
    pub struct PullMessageResponseHeader {
        /// Broker id to pull from next.
        pub suggest_which_broker_id: i64 => "suggestWhichBrokerId",
        /// Offset to pull from next.
        pub next_begin_offset: i64 => "nextBeginOffset",
        /// Queue's min offset.
        pub min_offset: i64 => "minOffset",
        /// Queue's max offset.
        pub max_offset: i64 => "maxOffset",
        /// 5.x static topics: added to each message's queue offset.
        pub offset_delta: Option<i64> => "offsetDelta",
    }
}

command_header! {
    /// `QUERY_CONSUMER_OFFSET` (14) request.
    pub struct QueryConsumerOffsetRequestHeader {
        /// Consumer group.
        pub consumer_group: String => "consumerGroup",
        /// Topic.
        pub topic: String => "topic",
        /// Queue id.
        pub queue_id: i32 => "queueId",
        /// 5.x: broker name.
        pub broker_name: Option<String> => "bname",
    }
}

command_header! {
    /// `UPDATE_CONSUMER_OFFSET` (15) request.
    pub struct UpdateConsumerOffsetRequestHeader {
        /// Consumer group.
        pub consumer_group: String => "consumerGroup",
        /// Topic.
        pub topic: String => "topic",
        /// Queue id.
        pub queue_id: i32 => "queueId",
        /// Offset to store: the next offset to consume.
        pub commit_offset: i64 => "commitOffset",
        /// 5.x: broker name.
        pub broker_name: Option<String> => "bname",
    }
}

command_header! {
    /// `SEARCH_OFFSET_BY_TIMESTAMP` (29) request.
    pub struct SearchOffsetRequestHeader {
        /// Topic.
        pub topic: String => "topic",
        /// Queue id.
        pub queue_id: i32 => "queueId",
        /// Epoch ms.
        pub timestamp: i64 => "timestamp",
        /// 5.x: broker name.
        pub broker_name: Option<String> => "bname",
    }
}

command_header! {
    /// `GET_CONSUMER_LIST_BY_GROUP` (38) request.
    pub struct GetConsumerListByGroupRequestHeader {
        /// Consumer group.
        pub consumer_group: String => "consumerGroup",
    }
}

command_header! {
    /// `CONSUMER_SEND_MSG_BACK` (36) request (`ConsumerSendMsgBackRequestHeader`).
    pub struct ConsumerSendMsgBackRequestHeader {
        /// Commit-log offset of the message.
        pub offset: i64 => "offset",
        /// Consumer group.
        pub group: String => "group",
        /// Delay level of the retry (0: the broker's `3 + reconsumeTimes`; negative: DLQ).
        pub delay_level: i32 => "delayLevel",
        /// Message id (`UNIQ_KEY`, else the offset id).
        pub origin_msg_id: Option<String> => "originMsgId",
        /// Topic of the message.
        pub origin_topic: Option<String> => "originTopic",
        /// Unit mode (always sent).
        pub unit_mode: bool => "unitMode",
        /// Retries before the dead-letter queue.
        pub max_reconsume_times: Option<i32> => "maxReconsumeTimes",
        /// 5.x: broker name.
        pub broker_name: Option<String> => "bname",
    }
}

command_header! {
    /// `RESET_CONSUMER_CLIENT_OFFSET` (220) request from a broker.
    pub struct ResetOffsetRequestHeader {
        /// Topic.
        pub topic: String => "topic",
        /// Consumer group.
        pub group: String => "group",
        /// Reset to this time (epoch ms).
        pub timestamp: Option<i64> => "timestamp",
        /// Reset even forward.
        pub is_force: Option<bool> => "isForce",
    }
}

command_header! {
    /// `POP_MESSAGE` (200050) request (`PopMessageRequestHeader`, 5.x).
    pub struct PopMessageRequestHeader {
        /// Consumer group.
        pub consumer_group: String => "consumerGroup",
        /// Topic.
        pub topic: String => "topic",
        /// Queue id; -1 pops from every queue of the broker.
        pub queue_id: i32 => "queueId",
        /// Most messages wanted (the broker refuses more than 32).
        pub max_msg_nums: i32 => "maxMsgNums",
        /// How long popped messages stay hidden from the group, ms.
        pub invisible_time: i64 => "invisibleTime",
        /// How long the broker may hold the request when nothing is there, ms.
        pub poll_time: i64 => "pollTime",
        /// Client time of the request, epoch ms (the broker refuses requests that are too old).
        pub born_time: i64 => "bornTime",
        /// Where a group without an offset starts: 0 = first offset, 1 = last.
        pub init_mode: i32 => "initMode",
        /// `TAG` or `SQL92`.
        pub exp_type: Option<String> => "expType",
        /// Filter expression.
        pub exp: Option<String> => "exp",
        /// Orderly pop.
        pub order: Option<bool> => "order",
        /// Orderly re-entrance id.
        pub attempt_id: Option<String> => "attemptId",
        /// Broker name.
        pub broker_name: Option<String> => "bname",
    }
}

command_header! {
    /// `POP_MESSAGE` response (`PopMessageResponseHeader`).
    pub struct PopMessageResponseHeader {
        /// Broker time of the pop, epoch ms.
        pub pop_time: i64 => "popTime",
        /// Invisible time granted, ms.
        pub invisible_time: i64 => "invisibleTime",
        /// Revive queue of the checkpoint.
        pub revive_qid: i32 => "reviveQid",
        /// Messages left in the queues popped.
        pub rest_num: i64 => "restNum",
        /// Start offset per queue: `<retry flag> <queue id> <offset>` joined by `;`.
        pub start_offset_info: Option<String> => "startOffsetInfo",
        /// Message offsets per queue: `<retry flag> <queue id> <o1>,<o2>,…` joined by `;`.
        pub msg_offset_info: Option<String> => "msgOffsetInfo",
        /// Orderly pops: delivery counts.
        pub order_count_info: Option<String> => "orderCountInfo",
    }
}

command_header! {
    /// `ACK_MESSAGE` (200051) request (`AckMessageRequestHeader`).
    pub struct AckMessageRequestHeader {
        /// Consumer group.
        pub consumer_group: String => "consumerGroup",
        /// The topic the message was popped from (the pop retry topic for a retried message).
        pub topic: String => "topic",
        /// Queue id.
        pub queue_id: i32 => "queueId",
        /// The message's checkpoint string (`POP_CK`).
        pub extra_info: String => "extraInfo",
        /// The message's queue offset.
        pub offset: i64 => "offset",
        /// Broker name.
        pub broker_name: Option<String> => "bname",
    }
}

command_header! {
    /// `CHANGE_MESSAGE_INVISIBLETIME` (200053) request (`ChangeInvisibleTimeRequestHeader`).
    pub struct ChangeInvisibleTimeRequestHeader {
        /// Consumer group.
        pub consumer_group: String => "consumerGroup",
        /// The topic the message was popped from (the pop retry topic for a retried message).
        pub topic: String => "topic",
        /// Queue id.
        pub queue_id: i32 => "queueId",
        /// The message's checkpoint string (`POP_CK`).
        pub extra_info: String => "extraInfo",
        /// The message's queue offset.
        pub offset: i64 => "offset",
        /// From now on, how long the message stays hidden, ms.
        pub invisible_time: i64 => "invisibleTime",
        /// Broker name.
        pub broker_name: Option<String> => "bname",
    }
}

command_header! {
    /// `CHANGE_MESSAGE_INVISIBLETIME` response (`ChangeInvisibleTimeResponseHeader`).
    pub struct ChangeInvisibleTimeResponseHeader {
        /// Pop time of the new checkpoint, epoch ms.
        pub pop_time: i64 => "popTime",
        /// Invisible time of the new checkpoint, ms.
        pub invisible_time: i64 => "invisibleTime",
        /// Revive queue of the new checkpoint.
        pub revive_qid: i32 => "reviveQid",
    }
}

command_header! {
    /// `GET_CONSUME_STATS` (208) request (`GetConsumeStatsRequestHeader`): a group's offsets
    /// on one broker, for every topic it has offsets of, or for `topic` only.
    pub struct GetConsumeStatsRequestHeader {
        /// The consumer group.
        pub consumer_group: String => "consumerGroup",
        /// Only this topic.
        pub topic: Option<String> => "topic",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_optional_fields() {
        let h = GetRouteInfoRequestHeader {
            topic: "T".into(),
            accept_standard_json_only: None,
        };
        let mut ext = ExtFields::new();
        h.write_to(&mut ext);
        assert_eq!(ext.iter().collect::<Vec<_>>(), vec![("topic", "T")]);
        assert_eq!(GetRouteInfoRequestHeader::read_from(&ext).unwrap(), h);
    }

    #[test]
    fn missing_and_invalid_fields_are_typed_errors() {
        let ext: ExtFields = [("msgId", "X"), ("queueId", "nope")].into_iter().collect();
        assert_eq!(
            SendMessageResponseHeader::read_from(&ext),
            Err(HeaderError::Invalid {
                field: "queueId",
                value: "nope".into()
            })
        );
        let ext: ExtFields = [("msgId", "X")].into_iter().collect();
        assert_eq!(
            SendMessageResponseHeader::read_from(&ext),
            Err(HeaderError::Missing { field: "queueId" })
        );
    }

    #[test]
    fn pop_headers_use_java_field_names() {
        let pop = PopMessageRequestHeader {
            consumer_group: "G".into(),
            topic: "T".into(),
            queue_id: -1,
            max_msg_nums: 32,
            invisible_time: 60_000,
            poll_time: 15_000,
            born_time: 1_700_000_000_000,
            init_mode: 0,
            exp_type: Some("TAG".into()),
            exp: Some("*".into()),
            order: Some(false),
            attempt_id: None,
            broker_name: Some("broker-a".into()),
        };
        let mut ext = ExtFields::new();
        pop.write_to(&mut ext);
        assert_eq!(
            ext.iter().collect::<Vec<_>>(),
            vec![
                ("consumerGroup", "G"),
                ("topic", "T"),
                ("queueId", "-1"),
                ("maxMsgNums", "32"),
                ("invisibleTime", "60000"),
                ("pollTime", "15000"),
                ("bornTime", "1700000000000"),
                ("initMode", "0"),
                ("expType", "TAG"),
                ("exp", "*"),
                ("order", "false"),
                ("bname", "broker-a"),
            ]
        );
        let change = ChangeInvisibleTimeRequestHeader {
            consumer_group: "G".into(),
            topic: "%RETRY%G_T".into(),
            queue_id: 1,
            extra_info: "0 1 2 3 1 broker-a 1 7".into(),
            offset: 7,
            invisible_time: 10_000,
            broker_name: Some("broker-a".into()),
        };
        let mut ext = ExtFields::new();
        change.write_to(&mut ext);
        assert_eq!(ext.get("extraInfo"), Some("0 1 2 3 1 broker-a 1 7"));
        assert_eq!(ext.get("invisibleTime"), Some("10000"));
        assert_eq!(ChangeInvisibleTimeRequestHeader::read_from(&ext).unwrap(), change);
        // A broker answer as the 5.3.3 broker writes it (optional infos may be absent).
        let ext: ExtFields = [
            ("popTime", "1700000000123"),
            ("invisibleTime", "60000"),
            ("reviveQid", "3"),
            ("restNum", "0"),
            ("msgOffsetInfo", "0 1 5,6"),
        ]
        .into_iter()
        .collect();
        let h = PopMessageResponseHeader::read_from(&ext).unwrap();
        assert_eq!(h.pop_time, 1_700_000_000_123);
        assert_eq!(h.revive_qid, 3);
        assert_eq!(h.start_offset_info, None);
        assert_eq!(h.msg_offset_info.as_deref(), Some("0 1 5,6"));
    }
}

command_header! {
    /// `PUSH_REPLY_MESSAGE_TO_CLIENT` (326) request from a broker (`ReplyMessageRequestHeader`):
    /// the reply's send header, plus where it was born and stored.
    pub struct ReplyMessageRequestHeader {
        /// The responder's producer group.
        pub producer_group: Option<String> => "producerGroup",
        /// The reply topic (`<cluster>_REPLY_TOPIC`).
        pub topic: String => "topic",
        /// Template topic of the responder.
        pub default_topic: Option<String> => "defaultTopic",
        /// Queue count of an auto-created topic.
        pub default_topic_queue_nums: Option<i32> => "defaultTopicQueueNums",
        /// Queue id.
        pub queue_id: i32 => "queueId",
        /// `SysFlag` bits of the reply (bit 0: the body is compressed).
        pub sys_flag: i32 => "sysFlag",
        /// Responder's time of sending, epoch ms.
        pub born_timestamp: i64 => "bornTimestamp",
        /// User flag.
        pub flag: i32 => "flag",
        /// Properties string (`k\u{1}v\u{2}...`).
        pub properties: Option<String> => "properties",
        /// Reconsume times.
        pub reconsume_times: Option<i32> => "reconsumeTimes",
        /// Unit mode.
        pub unit_mode: Option<bool> => "unitMode",
        /// The responder's address, in Java's `InetSocketAddress.toString()` form
        /// (`host/1.2.3.4:5` or `/1.2.3.4:5`).
        pub born_host: Option<String> => "bornHost",
        /// The broker's address, same form.
        pub store_host: Option<String> => "storeHost",
        /// Broker time of receiving the reply, epoch ms.
        pub store_timestamp: i64 => "storeTimestamp",
    }
}

command_header! {
    /// `QUERY_MESSAGE` (12) request: stored messages of `topic` indexed under `key` in a time
    /// range (`QueryMessageRequestHeader`; the ext field `_UNIQUE_KEY_QUERY` rides along).
    pub struct QueryMessageRequestHeader {
        /// Topic.
        pub topic: String => "topic",
        /// The index key (a message key, or a `UNIQ_KEY` for a unique-key query).
        pub key: String => "key",
        /// Most messages to return.
        pub max_num: i32 => "maxNum",
        /// Start of the store-time range, epoch ms.
        pub begin_timestamp: i64 => "beginTimestamp",
        /// End of the store-time range, epoch ms.
        pub end_timestamp: i64 => "endTimestamp",
        /// `"true"` for a query by `UNIQ_KEY` (`MixAll.UNIQUE_MSG_QUERY_FLAG`).
        pub unique_key_query: Option<bool> => "_UNIQUE_KEY_QUERY",
    }
}

command_header! {
    /// Response of `QUERY_MESSAGE` (`QueryMessageResponseHeader`).
    pub struct QueryMessageResponseHeader {
        /// When the broker's index was last updated, epoch ms.
        pub index_last_update_timestamp: Option<i64> => "indexLastUpdateTimestamp",
        /// Commit-log offset the index was last updated at.
        pub index_last_update_phyoffset: Option<i64> => "indexLastUpdatePhyoffset",
    }
}

command_header! {
    /// Response of `GET_EARLIEST_MSG_STORETIME` (32; the request is a
    /// [`QueueOffsetRequestHeader`]).
    pub struct EarliestMsgStoreTimeResponseHeader {
        /// Store time of the queue's first message, epoch ms.
        pub timestamp: i64 => "timestamp",
    }
}
