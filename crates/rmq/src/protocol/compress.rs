//! Body compression, as the Java 5.3.3 `org.apache.rocketmq.common.compression` compressors.
//!
//! | type | sysFlag bits | Java compressor | format |
//! |------|--------------|-----------------|--------|
//! | [`CompressionType::Zlib`] | `0x300` (also type bits `0`) | `java.util.zip.Deflater(level)` + `DeflaterOutputStream` | zlib (RFC 1950: header, deflate, Adler-32) |
//! | [`CompressionType::Lz4`]  | `0x100` | lz4-java `LZ4FrameOutputStream` (4 MiB blocks, independent, no checksums) | LZ4 frame |
//! | [`CompressionType::Zstd`] | `0x200` | zstd-jni `ZstdOutputStream(out, level)` | Zstandard frame |
//!
//! A compressed message carries `sysFlag |= 0x1 | type bits` ([`sys_flag_for`]). Java 5.3.3 has
//! one `compressLevel` for every type (system property `rocketmq.message.compressLevel`,
//! default [`DEFAULT_LEVEL`] = 5): zlib and zstd use it unchanged, LZ4 ignores it. Only zlib is
//! readable by 4.x consumers, which inflate every compressed body as zlib.
//!
//! Output is interchangeable with Java's, not byte-identical: the zlib stream comes from
//! `miniz_oxide`, not Java's bundled zlib, so for example its header is `78 9C` where Java's
//! level 5 writes `78 5E`. Every malformed input is a [`CompressError`]; nothing here panics.

use std::io::{Read, Write};

use bytes::Bytes;

use super::message::SysFlag;

/// Java's default `compressLevel` (`rocketmq.message.compressLevel`), used for every type.
pub const DEFAULT_LEVEL: i32 = 5;

/// Java's default `compressMsgBodyOverHowmuch`: bodies of at least this many bytes are
/// compressed (Java compares with `>=`). Batches are never compressed.
pub const DEFAULT_COMPRESS_THRESHOLD: usize = 4096;

/// A compression algorithm of a message body (Java `CompressionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CompressionType {
    /// zlib (RFC 1950), Java's default and the only type 4.x consumers read.
    #[default]
    Zlib,
    /// LZ4 frame format (5.x consumers only).
    Lz4,
    /// Zstandard frame format (5.x consumers only).
    Zstd,
}

impl CompressionType {
    /// The type named `name`, as Java `CompressionType.of`: trimmed, case-insensitive `ZLIB`,
    /// `LZ4` or `ZSTD`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_uppercase().as_str() {
            "ZLIB" => Some(Self::Zlib),
            "LZ4" => Some(Self::Lz4),
            "ZSTD" => Some(Self::Zstd),
            _ => None,
        }
    }

    /// The Java name: `ZLIB`, `LZ4` or `ZSTD`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Zlib => "ZLIB",
            Self::Lz4 => "LZ4",
            Self::Zstd => "ZSTD",
        }
    }

    /// The type bits of `sysFlag` (Java `getCompressionFlag`), without
    /// `SysFlag::COMPRESSED`.
    pub fn sys_flag_bits(self) -> i32 {
        match self {
            Self::Zlib => SysFlag::COMPRESSION_ZLIB,
            Self::Lz4 => SysFlag::COMPRESSION_LZ4,
            Self::Zstd => SysFlag::COMPRESSION_ZSTD,
        }
    }

    /// The level Java 5.3.3 uses for every type (`compressLevel`, `DEFAULT_LEVEL`).
    pub fn default_level(self) -> i32 {
        DEFAULT_LEVEL
    }

    /// The levels `compress` accepts, inclusive: zlib `-1..=9` (Java's `Deflater` throws
    /// otherwise; `-1` is zlib's default, 6), zstd the library's range (out-of-range levels
    /// would be clamped, as zstd-jni does), LZ4 any (the level is ignored, as in Java).
    pub fn level_range(self) -> (i32, i32) {
        match self {
            Self::Zlib => (-1, 9),
            Self::Lz4 => (i32::MIN, i32::MAX),
            Self::Zstd => {
                let range = zstd::compression_level_range();
                (*range.start(), *range.end())
            }
        }
    }
}

impl std::fmt::Display for CompressionType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a body could not be compressed or decompressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompressError {
    /// The level is outside [`CompressionType::level_range`].
    #[error("invalid {kind} compression level {level}")]
    InvalidLevel {
        /// The type.
        kind: CompressionType,
        /// The level asked for.
        level: i32,
    },
    /// The sysFlag's compression type bits are not a known type (Java `findByValue` throws).
    #[error("unknown compression type bits {bits:#x} in sysFlag")]
    UnknownType {
        /// `sysFlag & 0x700`.
        bits: i32,
    },
    /// The compressor failed.
    #[error("cannot compress with {kind}: {reason}")]
    Compress {
        /// The type.
        kind: CompressionType,
        /// What the library said.
        reason: String,
    },
    /// The input is not a valid stream of this type (corrupt, truncated or empty).
    #[error("cannot decompress {kind} data: {reason}")]
    Corrupt {
        /// The type.
        kind: CompressionType,
        /// What the library said.
        reason: String,
    },
    /// The input decompresses to more than the allowed length.
    #[error("{kind} data decompresses to more than {limit} bytes")]
    TooLarge {
        /// The type.
        kind: CompressionType,
        /// The limit.
        limit: usize,
    },
}

/// The sysFlag bits of a body compressed with `kind`: [`SysFlag::COMPRESSED`] | type bits
/// (zlib → `0x301`, LZ4 → `0x101`, zstd → `0x201`).
pub fn sys_flag_for(kind: CompressionType) -> i32 {
    SysFlag::COMPRESSED | kind.sys_flag_bits()
}

/// The compression type named by a sysFlag's type bits (`sysFlag & 0x700`); bits `0` mean zlib,
/// for bodies from 4.x producers. Whether the body is compressed at all is
/// [`SysFlag::COMPRESSED`], which this does not look at.
pub fn type_from_sys_flag(sys_flag: i32) -> Result<CompressionType, CompressError> {
    match sys_flag & SysFlag::COMPRESSION_TYPE_MASK {
        0 | SysFlag::COMPRESSION_ZLIB => Ok(CompressionType::Zlib),
        SysFlag::COMPRESSION_LZ4 => Ok(CompressionType::Lz4),
        SysFlag::COMPRESSION_ZSTD => Ok(CompressionType::Zstd),
        bits => Err(CompressError::UnknownType { bits }),
    }
}

/// Compresses `data` with `kind` at `level` (see [`CompressionType::level_range`]). The result
/// is used even when it is larger than `data`, as in Java.
pub fn compress(kind: CompressionType, level: i32, data: &[u8]) -> Result<Bytes, CompressError> {
    let (lo, hi) = kind.level_range();
    if !(lo..=hi).contains(&level) {
        return Err(CompressError::InvalidLevel { kind, level });
    }
    let failed = |e: &dyn std::fmt::Display| CompressError::Compress {
        kind,
        reason: e.to_string(),
    };
    let out = match kind {
        CompressionType::Zlib => {
            let level = match u32::try_from(level) {
                Ok(l) => flate2::Compression::new(l),
                Err(_) => flate2::Compression::default(),
            };
            let mut enc =
                flate2::write::ZlibEncoder::new(Vec::with_capacity(data.len() / 2), level);
            enc.write_all(data).map_err(|e| failed(&e))?;
            enc.finish().map_err(|e| failed(&e))?
        }
        CompressionType::Lz4 => {
            // As Java's `LZ4FrameOutputStream`: independent blocks (lz4-java cannot read linked
            // ones), no checksums, blocks of at most 4 MiB (smaller for small bodies).
            let block_size = if data.len() <= 64 * 1024 {
                lz4_flex::frame::BlockSize::Max64KB
            } else if data.len() <= 256 * 1024 {
                lz4_flex::frame::BlockSize::Max256KB
            } else if data.len() <= 1024 * 1024 {
                lz4_flex::frame::BlockSize::Max1MB
            } else {
                lz4_flex::frame::BlockSize::Max4MB
            };
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(block_size)
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(
                info,
                Vec::with_capacity(data.len() / 2 + 32),
            );
            enc.write_all(data).map_err(|e| failed(&e))?;
            enc.finish().map_err(|e| failed(&e))?
        }
        CompressionType::Zstd => zstd::stream::encode_all(data, level).map_err(|e| failed(&e))?,
    };
    Ok(Bytes::from(out))
}

/// Decompresses `data` of type `kind`, failing with [`CompressError::TooLarge`] as soon as the
/// output would exceed `max_len` bytes (protection against decompression bombs; see
/// [`super::InflateLimits`]).
///
/// Bytes after the end of a zlib stream are ignored, as Java's `InflaterInputStream` does;
/// concatenated LZ4 or zstd frames are all decoded. Empty input is an error.
pub fn decompress(
    kind: CompressionType,
    data: &[u8],
    max_len: usize,
) -> Result<Bytes, CompressError> {
    if data.is_empty() {
        return Err(CompressError::Corrupt {
            kind,
            reason: "empty input".to_owned(),
        });
    }
    let corrupt = |e: std::io::Error| CompressError::Corrupt {
        kind,
        reason: e.to_string(),
    };
    let limit = u64::try_from(max_len).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    match kind {
        CompressionType::Zlib => flate2::read::ZlibDecoder::new(data)
            .take(limit)
            .read_to_end(&mut out)
            .map_err(corrupt)?,
        CompressionType::Lz4 => {
            let frames = lz4_frames(data).map_err(|reason| CompressError::Corrupt {
                kind,
                reason: reason.to_owned(),
            })?;
            for frame in frames {
                let room = limit.saturating_sub(out.len() as u64);
                lz4_flex::frame::FrameDecoder::new(frame)
                    .take(room)
                    .read_to_end(&mut out)
                    .map_err(corrupt)?;
            }
            out.len()
        }
        CompressionType::Zstd => zstd::stream::read::Decoder::with_buffer(data)
            .map_err(corrupt)?
            .take(limit)
            .read_to_end(&mut out)
            .map_err(corrupt)?,
    };
    if out.len() > max_len {
        return Err(CompressError::TooLarge {
            kind,
            limit: max_len,
        });
    }
    Ok(Bytes::from(out))
}

/// Splits `data` into its LZ4 frames, reading only headers and block lengths, and fails unless
/// every frame is complete up to its end mark and content checksum, as lz4-java's
/// `LZ4FrameInputStream` requires. (`lz4_flex` takes input that stops between blocks for the
/// end of the frame, which would accept a truncated body.) Skippable frames are dropped, as
/// lz4-java does; `lz4_flex` would reject them.
fn lz4_frames(mut d: &[u8]) -> Result<Vec<&[u8]>, &'static str> {
    fn take<'b>(d: &mut &'b [u8], n: usize) -> Result<&'b [u8], &'static str> {
        if d.len() < n {
            return Err("truncated LZ4 frame");
        }
        let (head, rest) = d.split_at(n);
        *d = rest;
        Ok(head)
    }
    fn u32_le(d: &mut &[u8]) -> Result<usize, &'static str> {
        let b = take(d, 4)?;
        usize::try_from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .map_err(|_| "LZ4 length too large")
    }
    const FRAME_MAGIC: usize = 0x184D_2204;
    const SKIPPABLE_MAGIC: usize = 0x184D_2A50; // to 0x184D2A5F
    const FLG_DICT_ID: u8 = 0x01;
    const FLG_CONTENT_CHECKSUM: u8 = 0x04;
    const FLG_CONTENT_SIZE: u8 = 0x08;
    const FLG_BLOCK_CHECKSUM: u8 = 0x10;
    let mut frames = Vec::new();
    while !d.is_empty() {
        let frame_start = d;
        let magic = u32_le(&mut d)?;
        if magic & !0xF == SKIPPABLE_MAGIC {
            let len = u32_le(&mut d)?;
            take(&mut d, len)?;
            continue;
        }
        if magic != FRAME_MAGIC {
            return Err("not an LZ4 frame");
        }
        let flg = take(&mut d, 2)?[0]; // FLG, BD
        let mut header_rest = 1; // HC
        if flg & FLG_CONTENT_SIZE != 0 {
            header_rest += 8;
        }
        if flg & FLG_DICT_ID != 0 {
            header_rest += 4;
        }
        take(&mut d, header_rest)?;
        let block_checksum = if flg & FLG_BLOCK_CHECKSUM != 0 { 4 } else { 0 };
        loop {
            let block = u32_le(&mut d)?;
            if block == 0 {
                break; // end mark
            }
            take(&mut d, (block & 0x7FFF_FFFF) + block_checksum)?;
        }
        if flg & FLG_CONTENT_CHECKSUM != 0 {
            take(&mut d, 4)?;
        }
        frames.push(&frame_start[..frame_start.len() - d.len()]);
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [CompressionType; 3] = [
        CompressionType::Zlib,
        CompressionType::Lz4,
        CompressionType::Zstd,
    ];

    fn noise(len: usize, mut x: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn sample_bodies() -> Vec<Vec<u8>> {
        vec![
            Vec::new(),
            b"x".to_vec(),
            b"hello".to_vec(),
            b"compress me ".repeat(500),
            noise(5000, 7),
            // Spans several 64 KiB blocks and more than one 4 MiB block.
            b"0123456789abcdef".repeat(300_000),
            noise(70_000, 9),
        ]
    }

    #[test]
    fn sys_flags_match_java() {
        assert_eq!(sys_flag_for(CompressionType::Zlib), 0x301);
        assert_eq!(sys_flag_for(CompressionType::Lz4), 0x101);
        assert_eq!(sys_flag_for(CompressionType::Zstd), 0x201);
        for kind in ALL {
            assert_eq!(type_from_sys_flag(sys_flag_for(kind)), Ok(kind));
            // Other bits do not matter.
            assert_eq!(type_from_sys_flag(sys_flag_for(kind) | 0x8C), Ok(kind));
        }
        // 4.x producers set only the compressed bit: zlib.
        assert_eq!(type_from_sys_flag(0x1), Ok(CompressionType::Zlib));
        assert_eq!(type_from_sys_flag(0), Ok(CompressionType::Zlib));
        for bits in [0x400, 0x500, 0x600, 0x700] {
            assert_eq!(
                type_from_sys_flag(bits | 1),
                Err(CompressError::UnknownType { bits })
            );
        }
        assert_eq!(
            type_from_sys_flag(-1),
            Err(CompressError::UnknownType { bits: 0x700 })
        );
    }

    #[test]
    fn names_follow_java() {
        for kind in ALL {
            assert_eq!(CompressionType::from_name(kind.name()), Some(kind));
            assert_eq!(kind.to_string(), kind.name());
        }
        assert_eq!(
            CompressionType::from_name(" zstd "),
            Some(CompressionType::Zstd)
        );
        assert_eq!(
            CompressionType::from_name("Lz4"),
            Some(CompressionType::Lz4)
        );
        assert_eq!(CompressionType::from_name("gzip"), None);
        assert_eq!(CompressionType::default(), CompressionType::Zlib);
    }

    #[test]
    fn round_trips_every_type_and_level() {
        for kind in ALL {
            let levels: &[i32] = match kind {
                CompressionType::Zlib => &[-1, 0, 1, 5, 9],
                CompressionType::Lz4 => &[DEFAULT_LEVEL, -7, 100],
                CompressionType::Zstd => &[-5, 0, 1, DEFAULT_LEVEL, 19],
            };
            for &level in levels {
                for body in sample_bodies() {
                    let c = compress(kind, level, &body).unwrap();
                    let d = decompress(kind, &c, body.len()).unwrap();
                    assert!(d == body, "{kind} level {level} len {}", body.len());
                }
            }
        }
    }

    #[test]
    fn compresses_repetitive_data() {
        let body = b"compress me ".repeat(500);
        for kind in ALL {
            let c = compress(kind, DEFAULT_LEVEL, &body).unwrap();
            assert!(c.len() < body.len() / 10, "{kind}: {}", c.len());
        }
    }

    #[test]
    fn zlib_has_a_valid_header_and_adler32() {
        for level in [-1, 0, 1, 5, 9] {
            let c = compress(CompressionType::Zlib, level, b"hello").unwrap();
            // CMF: deflate with a 32 KiB window; FCHECK makes CMF*256+FLG a multiple of 31;
            // no preset dictionary.
            assert_eq!(c[0], 0x78);
            assert_eq!((u16::from(c[0]) << 8 | u16::from(c[1])) % 31, 0);
            assert_eq!(c[1] & 0x20, 0);
            // Adler-32 of "hello", big-endian, ends the stream.
            assert_eq!(&c[c.len() - 4..], &[0x06, 0x2C, 0x02, 0x15]);
        }
    }

    #[test]
    fn decodes_java_output() {
        // Java 5.3.3 `ZlibCompressor.compress("hello", 5)` (zlib 1.2.13, `Deflater(5)`).
        let zlib = [
            0x78, 0x5E, 0xCB, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0x06, 0x2C, 0x02, 0x15,
        ];
        assert_eq!(
            decompress(CompressionType::Zlib, &zlib, 5).unwrap(),
            &b"hello"[..]
        );
        // lz4-java 1.8.0 `LZ4FrameOutputStream` of "hello": FLG 0x60 (version 1, independent
        // blocks), BD 0x70 (4 MiB), HC, one stored block, end mark.
        let lz4 = [
            0x04, 0x22, 0x4D, 0x18, 0x60, 0x70, 0x73, 0x05, 0x00, 0x00, 0x80, b'h', b'e', b'l',
            b'l', b'o', 0x00, 0x00, 0x00, 0x00,
        ];
        assert_eq!(
            decompress(CompressionType::Lz4, &lz4, 5).unwrap(),
            &b"hello"[..]
        );
        // zstd-jni 1.5.5 `ZstdOutputStream(out, 5)` of "hello", written then flushed then closed
        // as Java does: a raw block, then an empty last block.
        let zstd = [
            0x28, 0xB5, 0x2F, 0xFD, 0x00, 0x58, 0x28, 0x00, 0x00, b'h', b'e', b'l', b'l', b'o',
            0x01, 0x00, 0x00,
        ];
        assert_eq!(
            decompress(CompressionType::Zstd, &zstd, 5).unwrap(),
            &b"hello"[..]
        );
    }

    #[test]
    fn lz4_frame_header_matches_java_for_large_bodies() {
        let body = noise(5 * 1024 * 1024, 3);
        let c = compress(CompressionType::Lz4, DEFAULT_LEVEL, &body).unwrap();
        // Magic 0x184D2204 (LE), FLG 0x60, BD 0x70: Java's header exactly.
        assert_eq!(&c[..6], &[0x04, 0x22, 0x4D, 0x18, 0x60, 0x70]);
        let small = compress(CompressionType::Lz4, DEFAULT_LEVEL, b"hi").unwrap();
        assert_eq!(&small[..6], &[0x04, 0x22, 0x4D, 0x18, 0x60, 0x40]);
    }

    #[test]
    fn invalid_levels_are_errors() {
        for level in [-2, 10, i32::MIN, i32::MAX] {
            assert_eq!(
                compress(CompressionType::Zlib, level, b"x"),
                Err(CompressError::InvalidLevel {
                    kind: CompressionType::Zlib,
                    level
                })
            );
        }
        let (lo, hi) = CompressionType::Zstd.level_range();
        assert!(lo < 0 && hi >= 19);
        assert!(compress(CompressionType::Zstd, hi + 1, b"x").is_err());
        assert!(compress(CompressionType::Zstd, lo - 1, b"x").is_err());
        assert!(compress(CompressionType::Zstd, hi, b"x").is_ok());
    }

    #[test]
    fn garbage_is_an_error() {
        for kind in ALL {
            assert!(matches!(
                decompress(kind, &[], 100),
                Err(CompressError::Corrupt { .. })
            ));
            for len in [1, 2, 3, 4, 7, 16, 100, 1000] {
                for seed in 1..20 {
                    let g = noise(len, seed);
                    // Never panics; mostly errors (a random stream may rarely be valid).
                    let _ = decompress(kind, &g, 1 << 20);
                }
            }
            assert!(
                matches!(
                    decompress(kind, &[0xFF; 64], 1 << 20),
                    Err(CompressError::Corrupt { .. })
                ),
                "{kind}"
            );
            assert!(decompress(kind, b"definitely not compressed", 1 << 20).is_err());
        }
    }

    #[test]
    fn truncated_and_corrupted_streams_are_errors() {
        let body = noise(3000, 11);
        for kind in ALL {
            let c = compress(kind, DEFAULT_LEVEL, &body).unwrap();
            for cut in [1, 2, 5, c.len() / 2, c.len() - 1] {
                let r = decompress(kind, &c[..cut], 1 << 20);
                assert!(r.is_err(), "{kind} cut at {cut}: {r:?}");
            }
            // Flipping bytes never panics.
            for at in (0..c.len()).step_by(7) {
                let mut bad = c.to_vec();
                bad[at] ^= 0x5A;
                let _ = decompress(kind, &bad, 1 << 20);
            }
        }
        // zlib's Adler-32 is checked.
        let mut c = compress(CompressionType::Zlib, 5, &body).unwrap().to_vec();
        let last = c.len() - 1;
        c[last] ^= 1;
        assert!(decompress(CompressionType::Zlib, &c, 1 << 20).is_err());
    }

    #[test]
    fn lz4_truncated_between_blocks_is_an_error() {
        // Several 64 KiB blocks: cutting right after a block, or inside the end mark, must
        // fail (Java's LZ4FrameInputStream throws), not return part of the body.
        let body = noise(200_000, 5);
        let info = lz4_flex::frame::FrameInfo::new()
            .block_size(lz4_flex::frame::BlockSize::Max64KB)
            .block_checksums(true)
            .content_checksum(true)
            .content_size(Some(200_000));
        let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
        enc.write_all(&body).unwrap();
        let c = enc.finish().unwrap();
        // Checksums and content size are understood.
        assert!(decompress(CompressionType::Lz4, &c, body.len()).unwrap() == body);
        // Walk the blocks: header is 4 + 2 + 8 + 1 bytes.
        let mut at = 15;
        let mut boundaries = vec![at];
        loop {
            let size = u32::from_le_bytes(c[at..at + 4].try_into().unwrap()) as usize;
            if size == 0 {
                break;
            }
            at += 4 + (size & 0x7FFF_FFFF) + 4;
            boundaries.push(at);
        }
        assert!(boundaries.len() >= 4);
        for cut in boundaries
            .into_iter()
            .chain([c.len() - 6, c.len() - 5, c.len() - 1])
        {
            let r = decompress(CompressionType::Lz4, &c[..cut], 1 << 20);
            assert!(
                matches!(r, Err(CompressError::Corrupt { .. })),
                "cut at {cut}"
            );
        }
        // A skippable frame before the data frame is allowed.
        let mut skippable = vec![0x5A, 0x2A, 0x4D, 0x18, 3, 0, 0, 0, 1, 2, 3];
        skippable.extend_from_slice(&compress(CompressionType::Lz4, 0, b"hello").unwrap());
        assert_eq!(
            decompress(CompressionType::Lz4, &skippable, 5).unwrap(),
            &b"hello"[..]
        );
    }

    #[test]
    fn output_larger_than_max_len_is_an_error() {
        // A bomb: 64 MiB of zeros compresses to a few KiB.
        let big = vec![0u8; 64 * 1024 * 1024];
        for kind in ALL {
            let c = compress(kind, 1, &big).unwrap();
            assert!(c.len() < 2 * 1024 * 1024, "{kind}: {}", c.len());
            assert_eq!(
                decompress(kind, &c, 1024),
                Err(CompressError::TooLarge { kind, limit: 1024 })
            );
            let small = compress(kind, DEFAULT_LEVEL, b"hello").unwrap();
            assert_eq!(decompress(kind, &small, 5).unwrap(), &b"hello"[..]);
            assert_eq!(
                decompress(kind, &small, 4),
                Err(CompressError::TooLarge { kind, limit: 4 })
            );
            assert_eq!(
                decompress(kind, &compress(kind, 1, b"").unwrap(), 0).unwrap(),
                Bytes::new()
            );
        }
    }

    #[test]
    fn trailing_data_and_concatenated_frames() {
        // zlib: bytes after the stream are ignored, as Java's InflaterInputStream does.
        let mut z = compress(CompressionType::Zlib, 5, b"hello")
            .unwrap()
            .to_vec();
        z.extend_from_slice(b"trailing");
        assert_eq!(
            decompress(CompressionType::Zlib, &z, 100).unwrap(),
            &b"hello"[..]
        );
        // LZ4 and zstd: concatenated frames are one stream.
        for kind in [CompressionType::Lz4, CompressionType::Zstd] {
            let mut two = compress(kind, 5, b"hello ").unwrap().to_vec();
            two.extend_from_slice(&compress(kind, 5, b"world").unwrap());
            assert_eq!(decompress(kind, &two, 100).unwrap(), &b"hello world"[..]);
        }
    }
}
