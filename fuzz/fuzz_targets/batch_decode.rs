//! `SEND_BATCH_MESSAGE` bodies through `decode_batch`; what decodes must encode again with
//! `encode_batch` and decode to the same members.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rmq::protocol::{decode_batch, encode_batch, BatchEntry};

fuzz_target!(|data: &[u8]| {
    let Ok(members) = decode_batch(Bytes::copy_from_slice(data)) else {
        return;
    };
    let encoded = encode_batch(members.iter().map(|m| BatchEntry {
        flag: m.flag,
        body: &m.body,
        properties: &m.properties,
    }))
    .unwrap_or_else(|e| panic!("decoded batch members do not encode: {e}"));
    // Magic code and body CRC are written as 0, so only the members are compared.
    let again =
        decode_batch(encoded).unwrap_or_else(|e| panic!("an encoded batch does not decode: {e}"));
    assert_eq!(again, members, "batch changed in a round trip");
});
