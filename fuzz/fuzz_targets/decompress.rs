//! Message-body decompression (`decompress`) of zlib, LZ4 and zstd input with a 1 MiB output
//! limit, which must hold. Input: `[selector][data]`; `selector % 3` picks the type, and when
//! bit 7 is set `data` is also compressed with the type's default level and must decompress
//! back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rmq::protocol::{compress, decompress, CompressionType};

const MAX_LEN: usize = 1024 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, data)) = data.split_first() else {
        return;
    };
    let kind = match selector % 3 {
        0 => CompressionType::Zlib,
        1 => CompressionType::Lz4,
        _ => CompressionType::Zstd,
    };
    if let Ok(out) = decompress(kind, data, MAX_LEN) {
        assert!(
            out.len() <= MAX_LEN,
            "{kind}: {} bytes over the limit",
            out.len()
        );
    }
    if selector & 0x80 != 0 && data.len() <= MAX_LEN {
        let packed = compress(kind, kind.default_level(), data)
            .unwrap_or_else(|e| panic!("{kind}: compress failed: {e}"));
        match decompress(kind, &packed, MAX_LEN) {
            Ok(out) => assert_eq!(&out[..], data, "{kind}: round trip changed the data"),
            Err(e) => panic!("{kind}: our own compressed data does not decompress: {e}"),
        }
    }
});
