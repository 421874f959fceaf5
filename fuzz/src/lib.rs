//! Helpers shared by the fuzz targets (`fuzz_targets/`) and the seed generator
//! (`examples/seeds.rs`).

use bytes::BytesMut;
use rmq::protocol::{
    encode_frame, CheckTransactionStateRequestHeader, GetRouteInfoRequestHeader,
    QueueOffsetResponseHeader, RemotingCodec, RemotingCommand, SendMessageRequestHeaderV2,
    SendMessageResponseHeader,
};
use tokio_util::codec::Decoder;

/// Serialize-type byte of a JSON header.
pub const JSON: u8 = 0;
/// Serialize-type byte of a ROCKETMQ binary header.
pub const BINARY: u8 = 1;

/// A complete frame: `[i32 length][u8 type | u24 headerLen][header][body]`.
///
/// # Panics
/// If the header does not fit the 24-bit length field or the frame the `i32` length.
pub fn frame(serialize_type: u8, header: &[u8], body: &[u8]) -> Vec<u8> {
    assert!(header.len() <= 0x00FF_FFFF, "header too long for a frame");
    let length = i32::try_from(4 + header.len() + body.len()).expect("frame too long");
    let type_and_len = (u32::from(serialize_type) << 24) | header.len() as u32;
    let mut out = Vec::with_capacity(8 + header.len() + body.len());
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&type_and_len.to_be_bytes());
    out.extend_from_slice(header);
    out.extend_from_slice(body);
    out
}

/// What must hold for every command the decoder accepted:
///
/// * its `Debug` output and the typed headers' parsing do not panic;
/// * when it re-encodes ([`encode_frame`]; only a too-large result may be refused), the frame
///   decodes again, and that decodes to a command that re-encodes to the same bytes (one
///   round trip normalizes, e.g. an unknown JSON language becomes `OTHER`).
///
/// # Panics
/// When one of these properties does not hold: that is a bug for the fuzzer to report.
pub fn check_command(cmd: &RemotingCommand) {
    let _ = format!("{cmd:?}");
    let _ = cmd.request_code().name();
    let _ = cmd.response_code().name();
    let _ = cmd.decode_header::<GetRouteInfoRequestHeader>();
    let _ = cmd.decode_header::<SendMessageRequestHeaderV2>();
    let _ = cmd.decode_header::<SendMessageResponseHeader>();
    let _ = cmd.decode_header::<QueueOffsetResponseHeader>();
    let _ = cmd.decode_header::<CheckTransactionStateRequestHeader>();

    let Ok(first) = encode_frame(cmd) else {
        return;
    };
    let again = RemotingCodec::default()
        .decode(&mut BytesMut::from(&first[..]))
        .unwrap_or_else(|e| panic!("a re-encoded frame does not decode: {e}"))
        .expect("a re-encoded frame is complete");
    assert_eq!(again.body, cmd.body, "the body changed in a round trip");
    assert_eq!(again.serialize_type, cmd.serialize_type);
    let second = encode_frame(&again)
        .unwrap_or_else(|e| panic!("a command decoded from our own frame does not encode: {e}"));
    assert_eq!(
        first, second,
        "encode(decode(encode(cmd))) differs from encode(cmd)"
    );
}
