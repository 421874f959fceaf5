//! A message checked and encoded for the wire, shared by every send path.

use bytes::Bytes;

use crate::protocol::TraceMessageType;

/// A message ready for the wire.
pub(super) struct Prepared {
    /// Topic with namespace.
    pub(super) topic: String,
    pub(super) body: Bytes,
    pub(super) sys_flag: i32,
    pub(super) flag: i32,
    pub(super) properties: String,
    /// `UNIQ_KEY`s, one per message (several for a batch).
    pub(super) uniq_keys: Vec<String>,
    pub(super) batch: bool,
    /// A reply (request–reply): sent with `SEND_REPLY_MESSAGE_V2`.
    pub(super) reply: bool,
    /// What a publish trace record needs beyond the result; only when tracing.
    pub(super) trace: Option<Box<PubTraceMeta>>,
}

/// The message's part of a publish trace record (Java `SendMessageTraceHookImpl`).
pub(super) struct PubTraceMeta {
    pub(super) tags: Option<String>,
    pub(super) keys: Option<String>,
    pub(super) msg_type: TraceMessageType,
}
