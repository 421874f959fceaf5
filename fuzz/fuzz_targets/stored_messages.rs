//! Stored-message records (`VIEW_MESSAGE_BY_ID`, `QUERY_MESSAGE`, `CHECK_TRANSACTION_STATE` and
//! pull bodies) through `decode_stored_messages` and `decode_first_stored_message`, with small
//! inflate limits so that compressed bodies (zlib, LZ4, zstd) hit them. The first message must
//! decode alone as it does in the sequence, no inflated body may exceed the per-message limit,
//! and every offset message id must decode back to its store host and commit-log offset.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rmq::protocol::{
    decode_first_stored_message, decode_offset_msg_id, decode_stored_messages, InflateLimits,
    MessageDecodeError, StoredMessage,
};

/// Small limits, so that the fuzzer reaches them without spending seconds inflating.
const LIMITS: InflateLimits = InflateLimits {
    per_message: 256 * 1024,
    per_response: 512 * 1024,
};

/// The decoder calls under test, in one place: adapt them here when their signatures change.
fn decode_all(body: Bytes) -> Result<Vec<StoredMessage>, MessageDecodeError> {
    decode_stored_messages(body, LIMITS)
}

fn decode_first(body: Bytes) -> Result<StoredMessage, MessageDecodeError> {
    decode_first_stored_message(body, LIMITS)
}

fuzz_target!(|data: &[u8]| {
    let input = Bytes::copy_from_slice(data);
    let first = decode_first(input.clone());
    let Ok(messages) = decode_all(input) else {
        return;
    };
    if let Some(m) = messages.first() {
        assert_eq!(
            first.as_ref(),
            Ok(m),
            "the first message decodes differently alone"
        );
    }
    for m in &messages {
        let _ = (m.tags(), m.keys(), m.uniq_key(), format!("{m:?}"));
        // A body is either as stored (at most the input) or inflated within the limit.
        assert!(
            m.body.len() <= LIMITS.per_message.max(data.len()),
            "body of {} bytes over the inflate limit",
            m.body.len()
        );
        let decoded = decode_offset_msg_id(&m.offset_msg_id).unwrap_or_else(|e| {
            panic!(
                "offset message id {:?} does not decode: {e}",
                m.offset_msg_id
            )
        });
        assert_eq!(
            decoded,
            (m.store_host, m.commit_log_offset),
            "offset message id round trip"
        );
    }
});
