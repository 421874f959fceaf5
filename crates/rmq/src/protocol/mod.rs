//! The remoting wire protocol, without I/O: commands, the frame codec, codes, typed headers and
//! JSON bodies.

mod code;
mod codec;
mod command;
mod header;
mod heartbeat;
mod route;

pub use code::{RequestCode, ResponseCode};
pub use codec::{
    decode_frame_body, encode_frame, CodecError, RemotingCodec, DEFAULT_MAX_FRAME_LEN,
};
pub use command::{
    next_opaque, ExtFields, LanguageCode, RemotingCommand, SerializeType, FLAG_ONEWAY,
    FLAG_RESPONSE, VERSION_4_9_3, VERSION_5_3_3,
};
pub use header::{
    CommandHeader, CreateTopicRequestHeader, ExtValue, GetProducerConnectionListRequestHeader,
    GetRouteInfoRequestHeader, HeaderError, SendMessageRequestHeaderV2, SendMessageResponseHeader,
    UnregisterClientRequestHeader, ViewMessageRequestHeader,
};
pub use heartbeat::{HeartbeatData, ProducerData};
pub use route::{
    parse_fastjson, BrokerData, ClientConnection, ClusterInfo, Perm, ProducerConnection, QueueData,
    TopicRouteData, MASTER_ID,
};
