//! The remoting wire protocol, without I/O: commands, the frame codec, codes, typed headers and
//! JSON bodies.

mod batch;
mod code;
mod codec;
mod command;
mod compress;
mod consume_stats;
mod ext_fields;
mod header;
mod heartbeat;
mod message;
mod pop;
mod route;
mod stored;
mod trace;

pub(crate) use batch::RETRY_TOPIC_PREFIX;
pub use batch::{
    check_batch_rules, decode_batch, encode_batch, BatchEntry, BatchError, BatchMember,
    BatchMessage, BATCH_ENTRY_OVERHEAD,
};
pub use code::{RequestCode, ResponseCode};
pub use codec::{
    decode_frame_body, encode_frame, frame_header_len, CodecError, FrameSplitter, RemotingCodec,
    DEFAULT_MAX_FRAME_LEN,
};
pub use command::{
    next_opaque, LanguageCode, RemotingCommand, SerializeType, FLAG_ONEWAY,
    FLAG_RESPONSE, VERSION_4_9_3, VERSION_5_3_3,
};
pub use consume_stats::{normalize_object_keys, ConsumeStats, OffsetWrapper, QueueKey};
pub use ext_fields::ExtFields;
pub use compress::{
    compress, decompress, sys_flag_for, type_from_sys_flag, CompressError, CompressionType,
    DEFAULT_COMPRESS_THRESHOLD, DEFAULT_LEVEL,
};
pub use header::{
    CheckTransactionStateRequestHeader, CommandHeader, ConsumerGroupRequestHeader,
    EndTransactionRequestHeader,
    ConsumerSendMsgBackRequestHeader, GetConsumerListByGroupRequestHeader, PullMessageRequestHeader,
    PullMessageResponseHeader, QueryConsumerOffsetRequestHeader, ReplyMessageRequestHeader,
    ResetOffsetRequestHeader,
    SearchOffsetRequestHeader, UpdateConsumerOffsetRequestHeader,
    CreateTopicRequestHeader, ExtValue, GetProducerConnectionListRequestHeader,
    GetRouteInfoRequestHeader, HeaderError, QueueOffsetRequestHeader, QueueOffsetResponseHeader,
    SendMessageRequestHeaderV2, SendMessageResponseHeader, UnregisterClientRequestHeader,
    ViewMessageRequestHeader,
    GetConsumeStatsRequestHeader,
};
pub use header::{
    EarliestMsgStoreTimeResponseHeader, QueryMessageRequestHeader, QueryMessageResponseHeader,
};
pub use heartbeat::{HeartbeatData, ProducerData};
pub use message::{
    decode_offset_msg_id, decode_properties, encode_properties, is_reserved_property, local_ip,
    month_start_utc_ms, offset_msg_id, property, uniq_id_at, MessageDecodeError, SysFlag,
    UniqIdGenerator, MESSAGE_MAGIC_CODE_V1, MESSAGE_MAGIC_CODE_V2, NAME_VALUE_SEPARATOR,
    PROPERTY_SEPARATOR,
};
pub use header::{
    AckMessageRequestHeader, ChangeInvisibleTimeRequestHeader, ChangeInvisibleTimeResponseHeader,
    PopMessageRequestHeader, PopMessageResponseHeader,
};
pub use pop::{
    attach_pop_checkpoints, batch_ack_body, pop_normal_topic, PopCheckpoint, PopCheckpointError,
    PopTopicKind, POP_ORDER_REVIVE_QUEUE,
};
pub use stored::{
    decode_first_stored_message, decode_stored_messages, unwrap_inner_batches, InflateLimits,
    StoredMessage,
};
pub use trace::{
    EndTransactionTrace, PubTrace, SubAfterTrace, SubBeforeTrace, TraceConsumeCode,
    TraceMessageType, TraceRecord, DEFAULT_TRACE_REGION, DEFAULT_TRACE_TOPIC,
    TRACE_FIELD_SEPARATOR, TRACE_RECORD_END,
};
pub use route::{
    parse_fastjson, BrokerData, ClientConnection, ClusterInfo, Perm, ProducerConnection, QueueData,
    TopicRouteData, MASTER_ID, MAX_QUEUES_PER_BROKER, MAX_QUEUES_PER_TOPIC,
};
