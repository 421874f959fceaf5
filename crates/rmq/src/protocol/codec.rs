//! The frame codec: `[length][serialize type | header length][header][body]`.
//!
//! ```text
//! +--------------+--------------------------+--------------+------------+
//! | i32 length   | u8 type | u24 headerLen  | header bytes | body bytes |
//! +--------------+--------------------------+--------------+------------+
//!   length = 4 + headerLen + bodyLen (it does not count its own 4 bytes)
//! ```
//!
//! Decoding accepts both header formats whatever the client sends, because a server answers in
//! its own configured format. Every malformed input is a [`CodecError`]; nothing here panics.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use tokio_util::codec::{Decoder, Encoder};

use super::command::{LanguageCode, RemotingCommand, SerializeType};
use super::ext_fields::ExtFields;

/// The Java decoder's default `maxFrameLength` (`com.rocketmq.remoting.frameMaxLength`):
/// 16 MiB, counting the 4-byte length field.
pub const DEFAULT_MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// Largest header length the 24-bit field can carry.
const MAX_HEADER_LEN: usize = 0x00FF_FFFF;

/// Language byte kept for a JSON language name this client does not know.
const UNKNOWN_LANGUAGE: LanguageCode = LanguageCode(u8::MAX);

/// Why a frame could not be decoded or encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The length prefix is negative or too small to hold the header-length field.
    #[error("invalid frame length {length}")]
    BadLength {
        /// The length as read.
        length: i64,
    },
    /// The frame exceeds the limit.
    #[error("frame of {length} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// Frame size including the length field.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// The header length points past the end of the frame.
    #[error("header length {header_len} exceeds the frame's {available} bytes")]
    HeaderTooLong {
        /// Declared header length.
        header_len: usize,
        /// Bytes available after the header-length field.
        available: usize,
    },
    /// The serialize-type byte is neither JSON (0) nor ROCKETMQ (1).
    #[error("unknown header serialize type {0}")]
    UnknownSerializeType(u8),
    /// The JSON header does not parse.
    #[error("invalid JSON header: {0}")]
    InvalidJson(String),
    /// A string in the header is not valid UTF-8.
    #[error("header string is not valid UTF-8")]
    InvalidUtf8,
    /// A binary header ends before one of its fields.
    #[error("binary header truncated while reading {what}")]
    Truncated {
        /// The field being read.
        what: &'static str,
    },
    /// A value does not fit the binary header (codes and versions are 16-bit there).
    #[error("{what} {value} does not fit the binary header")]
    OutOfRange {
        /// The field.
        what: &'static str,
        /// The value.
        value: i64,
    },
    /// Reading or writing the stream failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// [`Decoder`] and [`Encoder`] of [`RemotingCommand`] frames.
#[derive(Debug, Clone)]
pub struct RemotingCodec {
    max_frame_len: usize,
}

impl Default for RemotingCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_LEN)
    }
}

impl RemotingCodec {
    /// A codec that rejects frames larger than `max_frame_len` bytes (length field included).
    pub fn new(max_frame_len: usize) -> Self {
        Self { max_frame_len }
    }

    /// The frame size limit.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }
}

impl Decoder for RemotingCodec {
    type Item = RemotingCommand;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<RemotingCommand>, CodecError> {
        match split_frame(src, self.max_frame_len)? {
            Some(frame) => decode_frame_body(frame).map(Some),
            None => Ok(None),
        }
    }
}

/// A [`Decoder`] that only cuts the stream into frames, checking their lengths, and leaves
/// the header to [`decode_frame_body`]: a connection's reader decodes small headers at once
/// and hands large ones to a blocking thread, so no peer can stall the runtime with one.
#[derive(Debug, Clone)]
pub struct FrameSplitter {
    max_frame_len: usize,
}

impl FrameSplitter {
    /// A splitter that rejects frames larger than `max_frame_len` bytes (length field included).
    pub fn new(max_frame_len: usize) -> Self {
        Self { max_frame_len }
    }
}

impl Decoder for FrameSplitter {
    type Item = BytesMut;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, CodecError> {
        split_frame(src, self.max_frame_len)
    }
}

/// The declared header length of a frame cut by [`FrameSplitter`] (0 when too short to say).
pub fn frame_header_len(frame: &[u8]) -> usize {
    match frame {
        [_, a, b, c, ..] => usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c),
        _ => 0,
    }
}

/// Cuts one frame off `src` (without its length prefix) once it is complete.
fn split_frame(src: &mut BytesMut, max_frame_len: usize) -> Result<Option<BytesMut>, CodecError> {
    if src.len() < 4 {
        return Ok(None);
    }
    let length = i32::from_be_bytes([src[0], src[1], src[2], src[3]]);
    if length < 4 {
        return Err(CodecError::BadLength {
            length: length.into(),
        });
    }
    let frame_len = 4 + length as usize;
    if frame_len > max_frame_len {
        return Err(CodecError::FrameTooLarge {
            length: frame_len,
            max: max_frame_len,
        });
    }
    if src.len() < frame_len {
        src.reserve(frame_len - src.len());
        return Ok(None);
    }
    let mut frame = src.split_to(frame_len);
    frame.advance(4);
    Ok(Some(frame))
}

/// Decodes one frame without its length prefix: `[type | headerLen][header][body]`.
///
/// # Errors
/// [`CodecError`] for a malformed header.
pub fn decode_frame_body(mut frame: BytesMut) -> Result<RemotingCommand, CodecError> {
    if frame.len() < 4 {
        return Err(CodecError::BadLength {
            length: frame.len() as i64,
        });
    }
    let type_and_len = frame.get_u32();
    let type_code = (type_and_len >> 24) as u8;
    let header_len = (type_and_len & 0x00FF_FFFF) as usize;
    if header_len > frame.len() {
        return Err(CodecError::HeaderTooLong {
            header_len,
            available: frame.len(),
        });
    }
    let serialize_type =
        SerializeType::from_code(type_code).ok_or(CodecError::UnknownSerializeType(type_code))?;
    let header = frame.split_to(header_len);
    // Linear in the header's size (ext fields are collected, then de-duplicated with a hash
    // index), so decoding time is bounded by the frame limit.
    // The body is a view of the read buffer: no copy.
    let body = frame.freeze();
    let mut cmd = match serialize_type {
        SerializeType::Json => decode_json_header(&header)?,
        SerializeType::RocketMq => decode_binary_header(header.freeze())?,
    };
    cmd.body = body;
    cmd.serialize_type = serialize_type;
    Ok(cmd)
}

impl Encoder<RemotingCommand> for RemotingCodec {
    type Error = CodecError;

    fn encode(&mut self, cmd: RemotingCommand, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encode_ref(&cmd, dst)
    }
}

impl Encoder<&RemotingCommand> for RemotingCodec {
    type Error = CodecError;

    fn encode(&mut self, cmd: &RemotingCommand, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encode_ref(cmd, dst)
    }
}

impl RemotingCodec {
    fn encode_ref(&self, cmd: &RemotingCommand, dst: &mut BytesMut) -> Result<(), CodecError> {
        dst.reserve(8 + 128 + cmd.body.len());
        self.encode_head(cmd, dst)?;
        dst.extend_from_slice(&cmd.body);
        Ok(())
    }

    /// Appends the frame of `cmd` without its body: length prefix, header type and length,
    /// header. The body follows on the wire as it is, so a writer can send it from where it
    /// already lies instead of copying it into a frame of its own.
    ///
    /// # Errors
    /// [`CodecError`] when the command does not fit a frame; `dst` is then unchanged.
    pub fn encode_head(&self, cmd: &RemotingCommand, dst: &mut BytesMut) -> Result<(), CodecError> {
        let start = dst.len();
        dst.put_u64(0); // length and type|headerLen, patched below
        let encoded = match cmd.serialize_type {
            SerializeType::Json => encode_json_header(cmd, dst),
            SerializeType::RocketMq => encode_binary_header(cmd, dst),
        };
        if let Err(e) = encoded {
            dst.truncate(start);
            return Err(e);
        }
        let header_len = dst.len() - start - 8;
        let frame_len = 8 + header_len + cmd.body.len();
        if header_len > MAX_HEADER_LEN || frame_len > self.max_frame_len {
            dst.truncate(start);
            return Err(CodecError::FrameTooLarge {
                length: frame_len,
                max: self.max_frame_len.min(MAX_HEADER_LEN),
            });
        }
        let length = (frame_len - 4) as u32;
        let type_and_len = (u32::from(cmd.serialize_type.code()) << 24) | header_len as u32;
        dst[start..start + 4].copy_from_slice(&length.to_be_bytes());
        dst[start + 4..start + 8].copy_from_slice(&type_and_len.to_be_bytes());
        Ok(())
    }
}

/// Encodes one command into a complete frame (length prefix included).
///
/// # Errors
/// [`CodecError`] when the command does not fit a frame.
pub fn encode_frame(cmd: &RemotingCommand) -> Result<Bytes, CodecError> {
    let mut buf = BytesMut::new();
    RemotingCodec::default().encode_ref(cmd, &mut buf)?;
    Ok(buf.freeze())
}

// ---------------------------------------------------------------------------------------------
// JSON header

/// fastjson writes bean properties in alphabetical order and omits nulls; we do the same so
/// that our bytes match the Java client's.
#[derive(Serialize)]
struct JsonHeaderOut<'a> {
    code: i32,
    #[serde(rename = "extFields", skip_serializing_if = "ext_is_empty")]
    ext_fields: &'a ExtFields,
    flag: i32,
    language: &'a str,
    opaque: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    remark: Option<&'a str>,
    #[serde(rename = "serializeTypeCurrentRPC")]
    serialize_type_current_rpc: &'static str,
    version: i32,
}

fn ext_is_empty(ext: &&ExtFields) -> bool {
    ext.is_empty()
}

impl Serialize for ExtFields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ExtFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ExtVisitor;
        impl<'de> Visitor<'de> for ExtVisitor {
            type Value = ExtFields;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of strings")
            }
            fn visit_unit<E: de::Error>(self) -> Result<ExtFields, E> {
                Ok(ExtFields::new())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ExtFields, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(8).min(64));
                while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                    // Java writes strings; be lenient with scalars from other peers and
                    // drop nulls the way Java's map iteration skips them.
                    let v = match v {
                        serde_json::Value::Null => continue,
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    pairs.push((k, v));
                }
                Ok(ExtFields::from_pairs(pairs))
            }
        }
        deserializer.deserialize_any(ExtVisitor)
    }
}

#[derive(Deserialize)]
struct JsonHeaderIn {
    #[serde(default)]
    code: i32,
    #[serde(default)]
    language: Option<serde_json::Value>,
    #[serde(default)]
    version: i32,
    #[serde(default)]
    opaque: i32,
    #[serde(default)]
    flag: i32,
    #[serde(default)]
    remark: Option<String>,
    #[serde(default, rename = "extFields")]
    ext_fields: Option<ExtFields>,
}

fn encode_json_header(cmd: &RemotingCommand, dst: &mut BytesMut) -> Result<(), CodecError> {
    let header = JsonHeaderOut {
        code: cmd.code,
        ext_fields: &cmd.ext_fields,
        flag: cmd.flag,
        language: cmd.language.name().unwrap_or("OTHER"),
        opaque: cmd.opaque,
        remark: cmd.remark.as_deref(),
        serialize_type_current_rpc: SerializeType::Json.name(),
        version: cmd.version,
    };
    serde_json::to_writer(dst.writer(), &header).map_err(|e| CodecError::InvalidJson(e.to_string()))
}

fn decode_json_header(header: &[u8]) -> Result<RemotingCommand, CodecError> {
    std::str::from_utf8(header).map_err(|_| CodecError::InvalidUtf8)?;
    let h: JsonHeaderIn =
        serde_json::from_slice(header).map_err(|e| CodecError::InvalidJson(e.to_string()))?;
    Ok(RemotingCommand {
        code: h.code,
        language: match h.language {
            // A header without a language decodes as JAVA, as fastjson leaves the default.
            None => LanguageCode::JAVA,
            Some(serde_json::Value::String(name)) => {
                LanguageCode::from_name(&name).unwrap_or(UNKNOWN_LANGUAGE)
            }
            // fastjson also accepts the ordinal.
            Some(serde_json::Value::Number(n)) => n
                .as_u64()
                .and_then(|n| u8::try_from(n).ok())
                .map_or(UNKNOWN_LANGUAGE, LanguageCode),
            Some(_) => UNKNOWN_LANGUAGE,
        },
        version: h.version,
        opaque: h.opaque,
        flag: h.flag,
        remark: h.remark,
        ext_fields: h.ext_fields.unwrap_or_default(),
        body: Bytes::new(),
        serialize_type: SerializeType::Json,
    })
}

// ---------------------------------------------------------------------------------------------
// ROCKETMQ binary header (`RocketMQSerializable`)

fn encode_binary_header(cmd: &RemotingCommand, dst: &mut BytesMut) -> Result<(), CodecError> {
    let code = i16::try_from(cmd.code).map_err(|_| CodecError::OutOfRange {
        what: "code",
        value: cmd.code.into(),
    })?;
    let version = i16::try_from(cmd.version).map_err(|_| CodecError::OutOfRange {
        what: "version",
        value: cmd.version.into(),
    })?;
    dst.put_i16(code);
    dst.put_u8(cmd.language.0);
    dst.put_i16(version);
    dst.put_i32(cmd.opaque);
    dst.put_i32(cmd.flag);
    match cmd.remark.as_deref() {
        Some(remark) if !remark.is_empty() => {
            dst.put_i32(remark.len() as i32);
            dst.put_slice(remark.as_bytes());
        }
        _ => dst.put_i32(0),
    }
    if cmd.ext_fields.is_empty() {
        dst.put_i32(0);
        return Ok(());
    }
    let len_at = dst.len();
    dst.put_i32(0);
    for (k, v) in cmd.ext_fields.iter() {
        let key_len = i16::try_from(k.len()).map_err(|_| CodecError::OutOfRange {
            what: "ext field key length",
            value: k.len() as i64,
        })?;
        dst.put_i16(key_len);
        dst.put_slice(k.as_bytes());
        dst.put_i32(v.len() as i32);
        dst.put_slice(v.as_bytes());
    }
    let ext_len = (dst.len() - len_at - 4) as i32;
    dst[len_at..len_at + 4].copy_from_slice(&ext_len.to_be_bytes());
    Ok(())
}

fn take_len(buf: &mut Bytes, n: i64, what: &'static str) -> Result<Bytes, CodecError> {
    if n < 0 || n as usize > buf.len() {
        return Err(CodecError::Truncated { what });
    }
    Ok(buf.split_to(n as usize))
}

fn utf8(bytes: Bytes) -> Result<String, CodecError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| CodecError::InvalidUtf8)
}

fn decode_binary_header(mut h: Bytes) -> Result<RemotingCommand, CodecError> {
    const FIXED: usize = 2 + 1 + 2 + 4 + 4 + 4;
    if h.len() < FIXED {
        return Err(CodecError::Truncated {
            what: "fixed fields",
        });
    }
    let code = i32::from(h.get_i16());
    let language = LanguageCode(h.get_u8());
    let version = i32::from(h.get_i16());
    let opaque = h.get_i32();
    let flag = h.get_i32();
    let remark_len = i64::from(h.get_i32());
    let remark = take_len(&mut h, remark_len, "remark")?;
    // Java 5.x reads a zero-length string as null.
    let remark = if remark.is_empty() {
        None
    } else {
        Some(utf8(remark)?)
    };
    if h.len() < 4 {
        return Err(CodecError::Truncated {
            what: "ext fields length",
        });
    }
    let ext_len = i64::from(h.get_i32());
    let mut ext_bytes = take_len(&mut h, ext_len, "ext fields")?;
    let mut pairs = Vec::new();
    while ext_bytes.has_remaining() {
        if ext_bytes.len() < 2 {
            return Err(CodecError::Truncated {
                what: "ext key length",
            });
        }
        let key_len = i64::from(ext_bytes.get_i16());
        let key = utf8(take_len(&mut ext_bytes, key_len, "ext key")?)?;
        if ext_bytes.len() < 4 {
            return Err(CodecError::Truncated {
                what: "ext value length",
            });
        }
        let val_len = i64::from(ext_bytes.get_i32());
        let val = utf8(take_len(&mut ext_bytes, val_len, "ext value")?)?;
        pairs.push((key, val));
    }
    let ext_fields = ExtFields::from_pairs(pairs);
    Ok(RemotingCommand {
        code,
        language,
        version,
        opaque,
        flag,
        remark,
        ext_fields,
        body: Bytes::new(),
        serialize_type: SerializeType::RocketMq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::RequestCode;

    fn route_request(serialize_type: SerializeType) -> RemotingCommand {
        let mut cmd = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC);
        cmd.opaque = 1;
        cmd.ext_fields.insert("topic", "TopicTest");
        cmd.serialize_type = serialize_type;
        cmd
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn json_request_matches_documented_layout() {
        let frame = encode_frame(&route_request(SerializeType::Json)).unwrap();
        let header = r#"{"code":105,"extFields":{"topic":"TopicTest"},"flag":0,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":399}"#;
        assert_eq!(&frame[..8], &[0, 0, 0, 0x87, 0, 0, 0, 0x83]);
        assert_eq!(&frame[8..], header.as_bytes());
    }

    #[test]
    fn binary_request_matches_documented_layout() {
        let frame = encode_frame(&route_request(SerializeType::RocketMq)).unwrap();
        assert_eq!(
            hex(&frame),
            "0000002d01000029006900018f00000001000000000000000000000014\
             0005746f70696300000009546f70696354657374"
        );
    }

    #[test]
    fn round_trip_both_formats_byte_by_byte() {
        for st in [SerializeType::Json, SerializeType::RocketMq] {
            let mut cmd = route_request(st)
                .with_body(&b"payload"[..])
                .with_remark("r");
            cmd.flag = 1;
            let frame = encode_frame(&cmd).unwrap();
            let mut codec = RemotingCodec::default();
            let mut buf = BytesMut::new();
            // Fed one byte at a time, the decoder waits until the frame is complete.
            for (i, b) in frame.iter().enumerate() {
                buf.put_u8(*b);
                let out = codec.decode(&mut buf).unwrap();
                if i + 1 < frame.len() {
                    assert!(out.is_none());
                } else {
                    assert_eq!(out.unwrap(), cmd);
                }
            }
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn malformed_frames_are_errors() {
        let mut codec = RemotingCodec::default();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                vec![0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0],
                "invalid frame length -2",
            ),
            (vec![0, 0, 0, 2, 0, 0], "invalid frame length 2"),
            (vec![0x7f, 0, 0, 0], "exceeds the limit"),
            (
                vec![0, 0, 0, 6, 0, 0, 0, 9, b'{', b'}'],
                "header length 9 exceeds",
            ),
            (
                vec![0, 0, 0, 6, 7, 0, 0, 2, b'{', b'}'],
                "unknown header serialize type 7",
            ),
            (
                vec![0, 0, 0, 7, 0, 0, 0, 3, b'{', b'x', b'}'],
                "invalid JSON header",
            ),
            (vec![0, 0, 0, 6, 0, 0, 0, 2, 0xc3, 0x28], "not valid UTF-8"),
            (vec![0, 0, 0, 6, 1, 0, 0, 2, 0, 1], "truncated"),
        ];
        for (bytes, expected) in cases {
            let mut buf = BytesMut::from(&bytes[..]);
            let err = codec.decode(&mut buf).unwrap_err().to_string();
            assert!(err.contains(expected), "{bytes:?}: {err}");
        }
    }

    #[test]
    fn binary_header_with_lying_inner_lengths_is_an_error() {
        let mut cmd = route_request(SerializeType::RocketMq);
        cmd.remark = Some("abc".into());
        let frame = encode_frame(&cmd).unwrap();
        let mut bytes = frame.to_vec();
        // remarkLen at header offset 13 (frame offset 8 + 13): claim 1000 bytes.
        bytes[21..25].copy_from_slice(&1000i32.to_be_bytes());
        let err = RemotingCodec::default()
            .decode(&mut BytesMut::from(&bytes[..]))
            .unwrap_err();
        assert!(
            matches!(err, CodecError::Truncated { what: "remark" }),
            "{err}"
        );
    }

    #[test]
    fn oversized_outgoing_frame_is_rejected_before_writing() {
        let cmd = route_request(SerializeType::Json).with_body(vec![0u8; 64]);
        let mut codec = RemotingCodec::new(100);
        let mut buf = BytesMut::new();
        let err = codec.encode(&cmd, &mut buf).unwrap_err();
        assert!(matches!(err, CodecError::FrameTooLarge { .. }), "{err}");
        assert!(buf.is_empty());
    }

    #[test]
    fn unknown_json_fields_and_nulls_are_tolerated() {
        let header = br#"{"code":0,"flag":1,"opaque":5,"language":"KOTLIN","extFields":{"a":"1","b":null,"c":2},"suspended":true}"#;
        let mut frame = BytesMut::new();
        frame.put_i32(4 + header.len() as i32);
        frame.put_u32(header.len() as u32);
        frame.put_slice(header);
        let cmd = RemotingCodec::default()
            .decode(&mut frame)
            .unwrap()
            .unwrap();
        assert_eq!(cmd.opaque, 5);
        assert_eq!(cmd.language.name(), None);
        assert_eq!(
            cmd.ext_fields.iter().collect::<Vec<_>>(),
            vec![("a", "1"), ("c", "2")]
        );
    }
}
