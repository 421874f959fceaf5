//! A byte stream through `RemotingCodec` (the `tokio_util` `Decoder` of the connection layer),
//! delivered in chunks whose sizes the input chooses, and through `FrameSplitter` followed by
//! `decode_frame_body` (how the reader decodes large headers off its task), which must agree
//! with it frame by frame.
//!
//! Input: `[control][chunk sizes][stream]`. The low 3 bits of `control` give the number of
//! chunk-size bytes that follow (each chunk is that many bytes of the stream, 0 allowed; what is
//! left comes as a last chunk); bit 3 selects a small frame limit (256 bytes) instead of the
//! default 16 MiB. After each chunk, frames are decoded until the codec wants more bytes or
//! fails; at the end `decode_eof` runs. Every decoded command goes through
//! `rmq_fuzz::check_command` (re-encode with `encode_frame`, decode again, same bytes).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rmq::protocol::{decode_frame_body, FrameSplitter, RemotingCodec, DEFAULT_MAX_FRAME_LEN};
use tokio_util::codec::Decoder;

const SMALL_LIMIT: usize = 256;

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let splits = usize::from(control & 0x07).min(rest.len());
    let (sizes, mut stream) = rest.split_at(splits);
    let limit = if control & 0x08 != 0 {
        SMALL_LIMIT
    } else {
        DEFAULT_MAX_FRAME_LEN
    };
    let mut codec = RemotingCodec::new(limit);
    let mut splitter = FrameSplitter::new(limit);
    let (mut buf, mut split_buf) = (BytesMut::new(), BytesMut::new());
    let chunk_sizes = sizes
        .iter()
        .map(|&s| usize::from(s))
        .chain(std::iter::once(usize::MAX));
    for size in chunk_sizes {
        let (chunk, tail) = stream.split_at(size.min(stream.len()));
        stream = tail;
        buf.extend_from_slice(chunk);
        split_buf.extend_from_slice(chunk);
        loop {
            let decoded = codec.decode(&mut buf);
            let split = splitter.decode(&mut split_buf);
            match (decoded, split) {
                (Ok(Some(cmd)), Ok(Some(frame))) => {
                    let other = decode_frame_body(frame).unwrap_or_else(|e| {
                        panic!("the codec decoded {cmd:?}; the split frame fails: {e}")
                    });
                    assert_eq!(other, cmd, "codec and splitter+decode_frame_body differ");
                    rmq_fuzz::check_command(&cmd);
                }
                (Ok(None), Ok(None)) => break,
                (Err(_), Err(_)) => return,
                // The splitter leaves header errors to decode_frame_body.
                (Err(_), Ok(Some(frame))) => {
                    assert!(
                        decode_frame_body(frame).is_err(),
                        "the codec failed where splitter+decode_frame_body did not"
                    );
                    return;
                }
                (decoded, split) => panic!(
                    "codec and splitter disagree: {:?} vs {:?}",
                    decoded.map(|c| c.is_some()),
                    split.map(|f| f.is_some())
                ),
            }
        }
    }
    while let Ok(Some(cmd)) = codec.decode_eof(&mut buf) {
        rmq_fuzz::check_command(&cmd);
    }
});
