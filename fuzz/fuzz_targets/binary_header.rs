//! The input as the ROCKETMQ binary header (serialize type 1, `RocketMQSerializable`) of a
//! well-formed frame with a fixed body, decoded by `decode_frame_body` (the frame without its
//! length prefix). A decoded command must carry the body and the type, and pass
//! `rmq_fuzz::check_command`.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rmq::protocol::{decode_frame_body, SerializeType};

const BODY: &[u8] = b"fuzz body";

fuzz_target!(|header: &[u8]| {
    if header.len() > 0x00FF_FFFF {
        return;
    }
    let frame = rmq_fuzz::frame(rmq_fuzz::BINARY, header, BODY);
    let Ok(cmd) = decode_frame_body(BytesMut::from(&frame[4..])) else {
        return;
    };
    assert_eq!(&cmd.body[..], BODY);
    assert_eq!(
        cmd.serialize_type,
        SerializeType::from_code(rmq_fuzz::BINARY).unwrap()
    );
    rmq_fuzz::check_command(&cmd);
});
