//! The body of a batch send (`SEND_BATCH_MESSAGE`, code 320): Java `MessageBatch.encode()` =
//! `MessageDecoder.encodeMessages`, the same layout in 4.9.3 and 5.3.3.
//!
//! Each member, concatenated without padding (integers big-endian):
//!
//! ```text
//! i32 totalSize = 4 + 4 + 4 + 4 + 4 + bodyLen + 2 + propertiesLen
//! i32 magicCode = 0 | i32 bodyCRC = 0 | i32 flag (the member's user flag)
//! i32 bodyLen, body | i16 propertiesLen, properties (UTF-8)
//! ```
//!
//! There is no topic per member: the request header's topic is every member's. The broker
//! (`MessageExtEncoder.encode(MessageExtBatch)`) reads only `flag`, `bodyLen` and
//! `propertiesLen`, computes each body's CRC, appends the header's properties to each member's
//! (adding a `\u{2}` when the member's do not end with one) and applies the header's sysFlag,
//! bornTimestamp and queueId to every member.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Bytes of a batch member besides its body and properties: five `i32`s and one `i16`.
pub const BATCH_ENTRY_OVERHEAD: usize = 4 + 4 + 4 + 4 + 4 + 2;

/// Prefix of retry topics, which cannot be batched (`MixAll.RETRY_GROUP_TOPIC_PREFIX`).
pub(crate) const RETRY_TOPIC_PREFIX: &str = "%RETRY%";

/// One member of a batch, as [`encode_batch`] writes it.
///
/// # Properties
///
/// Each member carries its own full properties string, as [`super::encode_properties`] makes
/// it: user properties, `TAGS`, `KEYS`, `WAIT` (Java's `Message` constructors always set it,
/// `"true"` by default) and the member's own `UNIQ_KEY` (`DefaultMQProducer.batch` calls
/// `setUniqID` on every member). The request header's properties are those of the batch
/// wrapper: `WAIT` of the first member; in 5.3.3 also a `UNIQ_KEY` of the batch itself
/// (4.9.3 gives the wrapper none); `INSTANCE_ID` when a namespace is set. The header's `flag`
/// is the wrapper's, `0`, and `batch` (`m`) is `true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchEntry<'a> {
    /// The member's user flag.
    pub flag: i32,
    /// The member's body.
    pub body: &'a [u8],
    /// The member's properties string (see [`BatchEntry`]).
    pub properties: &'a str,
}

/// One member of a batch, as [`decode_batch`] reads it (Java `MessageDecoder.decodeMessage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchMessage {
    /// User flag.
    pub flag: i32,
    /// Body.
    pub body: Bytes,
    /// Properties string.
    pub properties: String,
}

/// What [`check_batch_rules`] needs to know of one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMember<'a> {
    /// Topic, as the user gave it (the rules compare members with each other).
    pub topic: &'a str,
    /// Delay level; 0 is none.
    pub delay_level: u32,
    /// Whether the broker answers only after storing (property `WAIT`).
    pub wait_store_msg_ok: bool,
}

/// Why a batch could not be built, encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// The batch has no member.
    #[error("a batch needs at least one message")]
    Empty,
    /// A member has a delay level (Java: "TimeDelayLevel is not supported for batching").
    #[error("message {index}: a delay level is not supported in a batch")]
    DelayNotSupported {
        /// Position of the member.
        index: usize,
    },
    /// A member's topic is a retry topic (Java: "Retry Group is not supported for batching").
    #[error("message {index}: retry topic {topic:?} is not supported in a batch")]
    RetryTopic {
        /// Position of the member.
        index: usize,
        /// Its topic.
        topic: String,
    },
    /// A member's topic differs from the first member's.
    #[error("message {index}: topic {got:?} differs from the batch's topic {expected:?}")]
    TopicMismatch {
        /// Position of the member.
        index: usize,
        /// The first member's topic.
        expected: String,
        /// This member's topic.
        got: String,
    },
    /// A member's `waitStoreMsgOK` differs from the first member's.
    #[error("message {index}: waitStoreMsgOK differs from the first message's")]
    WaitStoreMsgOkMismatch {
        /// Position of the member.
        index: usize,
    },
    /// A member's properties exceed 32767 bytes (Java 4.9.3 throws; 5.3.3 would corrupt the
    /// body by truncating the length to 16 bits).
    #[error("message {index}: properties of {len} bytes exceed {max} bytes", max = i16::MAX)]
    PropertiesTooLong {
        /// Position of the member.
        index: usize,
        /// Length in bytes.
        len: usize,
    },
    /// A member's encoded size does not fit the `i32` `totalSize`.
    #[error("message {index}: body of {len} bytes is too large to encode")]
    BodyTooLong {
        /// Position of the member.
        index: usize,
        /// Body length in bytes.
        len: usize,
    },
    /// The encoded batch ends inside a field.
    #[error("batch body truncated while reading {what} of message {index}")]
    Truncated {
        /// Position of the member.
        index: usize,
        /// The field being read.
        what: &'static str,
    },
    /// A length field is negative.
    #[error("message {index}: negative {what} {len}")]
    NegativeLength {
        /// Position of the member.
        index: usize,
        /// The length field.
        what: &'static str,
        /// Its value.
        len: i32,
    },
    /// `totalSize` disagrees with the body and properties lengths.
    #[error("message {index}: totalSize {declared} but the fields take {actual} bytes")]
    SizeMismatch {
        /// Position of the member.
        index: usize,
        /// `totalSize` as read.
        declared: i32,
        /// Size implied by the lengths.
        actual: usize,
    },
    /// A properties string is not valid UTF-8.
    #[error("message {index}: properties are not valid UTF-8")]
    InvalidUtf8 {
        /// Position of the member.
        index: usize,
    },
}

/// Checks the client-side batch rules of Java `MessageBatch.generateFromList`, in its order.
/// Topic validation, body sizes and namespaces are the producer's business.
///
/// * `MessageBatch.generateFromList`, in member order: a member with a delay level above 0 →
///   "TimeDelayLevel is not supported for batching"; a topic starting with `%RETRY%` → "Retry
///   Group is not supported for batching"; a topic other than the first member's → "The topic
///   of the messages in one batch should be the same"; a `waitStoreMsgOK` other than the first
///   member's → "The waitStoreMsgOK of the messages in one batch should the same". An empty
///   batch fails too.
/// * `DefaultMQProducer.batch`: `Validators.checkMessage` on every member (topic valid and
///   allowed for sending, body non-empty and at most `maxMessageSize`), a `UNIQ_KEY` per
///   member, topics namespaced; then the encoded body is validated again as one message, so
///   `maxMessageSize` (4 MiB) bounds the **encoded batch**.
/// * Batches are never compressed and cannot be transactional (Java's
///   `sendMessageInTransaction` takes a single message).
/// * Java does not check the 5.x timer properties (`TIMER_DELIVER_MS` …) of members.
///
/// The broker rejects with `MESSAGE_ILLEGAL` a `%RETRY%` topic (5.x), a topic longer than 127
/// bytes, a transactional sysFlag or a delay level on the wrapper, a member or batch larger
/// than its `maxMessageSize`, and (5.x) header properties over 32767 bytes.
pub fn check_batch_rules<'a>(
    members: impl IntoIterator<Item = BatchMember<'a>>,
) -> Result<(), BatchError> {
    let mut first: Option<BatchMember<'a>> = None;
    for (index, m) in members.into_iter().enumerate() {
        if m.delay_level > 0 {
            return Err(BatchError::DelayNotSupported { index });
        }
        if m.topic.starts_with(RETRY_TOPIC_PREFIX) {
            return Err(BatchError::RetryTopic {
                index,
                topic: m.topic.to_owned(),
            });
        }
        match first {
            None => first = Some(m),
            Some(f) => {
                if f.topic != m.topic {
                    return Err(BatchError::TopicMismatch {
                        index,
                        expected: f.topic.to_owned(),
                        got: m.topic.to_owned(),
                    });
                }
                if f.wait_store_msg_ok != m.wait_store_msg_ok {
                    return Err(BatchError::WaitStoreMsgOkMismatch { index });
                }
            }
        }
    }
    if first.is_none() {
        return Err(BatchError::Empty);
    }
    Ok(())
}

/// Encodes the members of a batch into the `SEND_BATCH_MESSAGE` body (Java
/// `MessageDecoder.encodeMessages`). No members give an empty body; [`check_batch_rules`]
/// rejects empty batches.
pub fn encode_batch<'a>(
    entries: impl IntoIterator<Item = BatchEntry<'a>>,
) -> Result<Bytes, BatchError> {
    let mut out = BytesMut::new();
    for (index, e) in entries.into_iter().enumerate() {
        let props = e.properties.as_bytes();
        let props_len = i16::try_from(props.len()).map_err(|_| BatchError::PropertiesTooLong {
            index,
            len: props.len(),
        })?;
        let too_long = || BatchError::BodyTooLong {
            index,
            len: e.body.len(),
        };
        let total = BATCH_ENTRY_OVERHEAD
            .checked_add(e.body.len())
            .and_then(|n| n.checked_add(props.len()))
            .ok_or_else(too_long)?;
        let total_i32 = i32::try_from(total).map_err(|_| too_long())?;
        let body_len = i32::try_from(e.body.len()).map_err(|_| too_long())?;
        out.reserve(total);
        out.put_i32(total_i32);
        out.put_i32(0); // magic code
        out.put_i32(0); // body CRC
        out.put_i32(e.flag);
        out.put_i32(body_len);
        out.put_slice(e.body);
        out.put_i16(props_len);
        out.put_slice(props);
    }
    Ok(out.freeze())
}

/// Decodes a `SEND_BATCH_MESSAGE` body (Java `MessageDecoder.decodeMessages`), stricter than
/// Java: `totalSize` must match the lengths, and properties must be UTF-8.
pub fn decode_batch(mut buf: Bytes) -> Result<Vec<BatchMessage>, BatchError> {
    let mut out = Vec::new();
    while buf.has_remaining() {
        let index = out.len();
        let need = |buf: &Bytes, n: usize, what: &'static str| {
            if buf.remaining() < n {
                Err(BatchError::Truncated { index, what })
            } else {
                Ok(())
            }
        };
        let len = |v: i32, what: &'static str| {
            usize::try_from(v).map_err(|_| BatchError::NegativeLength {
                index,
                what,
                len: v,
            })
        };
        need(&buf, 20, "header")?;
        let declared = buf.get_i32();
        let _magic = buf.get_i32();
        let _crc = buf.get_i32();
        let flag = buf.get_i32();
        let body_len = len(buf.get_i32(), "body length")?;
        need(&buf, body_len, "body")?;
        let body = buf.split_to(body_len);
        need(&buf, 2, "properties length")?;
        let props_len = len(i32::from(buf.get_i16()), "properties length")?;
        need(&buf, props_len, "properties")?;
        let props = buf.split_to(props_len);
        let actual = BATCH_ENTRY_OVERHEAD + body_len + props_len;
        if usize::try_from(declared).ok() != Some(actual) {
            return Err(BatchError::SizeMismatch {
                index,
                declared,
                actual,
            });
        }
        let properties =
            String::from_utf8(props.to_vec()).map_err(|_| BatchError::InvalidUtf8 { index })?;
        out.push(BatchMessage {
            flag,
            body,
            properties,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{decode_properties, encode_properties};

    fn member(topic: &str) -> BatchMember<'_> {
        BatchMember {
            topic,
            delay_level: 0,
            wait_store_msg_ok: true,
        }
    }

    #[test]
    fn encodes_java_layout() {
        let props = encode_properties([("WAIT", "true"), ("UNIQ_KEY", "AB")]);
        let got = encode_batch([
            BatchEntry {
                flag: 7,
                body: b"hi",
                properties: &props,
            },
            BatchEntry {
                flag: -1,
                body: b"",
                properties: "",
            },
        ])
        .unwrap();
        let mut want = Vec::new();
        let first_total = 22 + 2 + props.len();
        want.extend_from_slice(&(first_total as i32).to_be_bytes());
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 2]);
        want.extend_from_slice(b"hi");
        want.extend_from_slice(&(props.len() as i16).to_be_bytes());
        want.extend_from_slice(props.as_bytes());
        want.extend_from_slice(&[0, 0, 0, 22, 0, 0, 0, 0, 0, 0, 0, 0]);
        want.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&got[..], &want[..]);
        assert_eq!(got.len(), first_total + 22);
    }

    #[test]
    fn matches_a_java_vector() {
        // Java 5.3.3 `MessageDecoder.encodeMessages` of one message with flag 3, body "ab"
        // and properties {"a": "b"} (Java's string ends with \u{2}).
        let want = [
            0, 0, 0, 28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 2, b'a', b'b', 0, 4, b'a', 1,
            b'b', 2,
        ];
        let got = encode_batch([BatchEntry {
            flag: 3,
            body: b"ab",
            properties: "a\u{1}b\u{2}",
        }])
        .unwrap();
        assert_eq!(&got[..], &want[..]);
    }

    #[test]
    fn round_trips() {
        let bodies: Vec<Vec<u8>> = vec![b"one".to_vec(), Vec::new(), vec![0xAB; 70_000]];
        let props = [
            encode_properties([("TAGS", "t"), ("KEYS", "k1 k2"), ("UNIQ_KEY", "X")]),
            String::new(),
            encode_properties([("ünïcödé", "✓")]),
        ];
        let entries: Vec<_> = bodies
            .iter()
            .zip(&props)
            .enumerate()
            .map(|(i, (b, p))| BatchEntry {
                flag: i as i32 * 1000 - 1,
                body: b,
                properties: p,
            })
            .collect();
        let wire = encode_batch(entries.iter().copied()).unwrap();
        let got = decode_batch(wire).unwrap();
        assert_eq!(got.len(), 3);
        for (g, e) in got.iter().zip(&entries) {
            assert_eq!(g.flag, e.flag);
            assert_eq!(&g.body[..], e.body);
            assert_eq!(g.properties, e.properties);
        }
        assert_eq!(
            decode_properties(&got[2].properties),
            vec![("ünïcödé".to_owned(), "✓".to_owned())]
        );
        assert_eq!(encode_batch([]).unwrap(), Bytes::new());
        assert_eq!(decode_batch(Bytes::new()).unwrap(), vec![]);
    }

    #[test]
    fn properties_length_limit() {
        let max = "p".repeat(i16::MAX as usize);
        let wire = encode_batch([BatchEntry {
            flag: 0,
            body: b"x",
            properties: &max,
        }])
        .unwrap();
        assert_eq!(decode_batch(wire).unwrap()[0].properties.len(), 32767);
        let over = "p".repeat(i16::MAX as usize + 1);
        let ok = BatchEntry {
            flag: 0,
            body: b"x",
            properties: "",
        };
        assert_eq!(
            encode_batch([
                ok,
                BatchEntry {
                    properties: &over,
                    ..ok
                }
            ]),
            Err(BatchError::PropertiesTooLong {
                index: 1,
                len: 32768
            })
        );
    }

    #[test]
    fn malformed_bodies_are_errors() {
        let wire = encode_batch([BatchEntry {
            flag: 1,
            body: b"body",
            properties: "k\u{1}v",
        }])
        .unwrap()
        .to_vec();
        for cut in 1..wire.len() {
            let r = decode_batch(Bytes::copy_from_slice(&wire[..cut]));
            assert!(
                matches!(r, Err(BatchError::Truncated { index: 0, .. })),
                "{cut}: {r:?}"
            );
        }
        let patch = |at: usize, bytes: &[u8]| {
            let mut w = wire.clone();
            w[at..at + bytes.len()].copy_from_slice(bytes);
            decode_batch(Bytes::from(w))
        };
        assert_eq!(
            patch(16, &(-1i32).to_be_bytes()),
            Err(BatchError::NegativeLength {
                index: 0,
                what: "body length",
                len: -1
            })
        );
        assert_eq!(
            patch(24, &(-3i16).to_be_bytes()),
            Err(BatchError::NegativeLength {
                index: 0,
                what: "properties length",
                len: -3
            })
        );
        assert_eq!(
            patch(0, &99i32.to_be_bytes()),
            Err(BatchError::SizeMismatch {
                index: 0,
                declared: 99,
                actual: 29
            })
        );
        assert_eq!(
            patch(26, &[0xFF]),
            Err(BatchError::InvalidUtf8 { index: 0 })
        );
        // A second, partial member.
        let mut two = wire.clone();
        two.extend_from_slice(&wire[..10]);
        assert_eq!(
            decode_batch(Bytes::from(two)),
            Err(BatchError::Truncated {
                index: 1,
                what: "header"
            })
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for len in 0..400 {
            let buf: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = decode_batch(Bytes::from(buf));
        }
        assert!(decode_batch(Bytes::from_static(&[0x7F; 40])).is_err());
    }

    #[test]
    fn batch_rules_follow_generate_from_list() {
        assert_eq!(check_batch_rules([]), Err(BatchError::Empty));
        assert_eq!(check_batch_rules([member("T")]), Ok(()));
        assert_eq!(
            check_batch_rules([member("T"), member("T"), member("T")]),
            Ok(())
        );
        let delayed = BatchMember {
            delay_level: 3,
            ..member("T")
        };
        assert_eq!(
            check_batch_rules([member("T"), delayed]),
            Err(BatchError::DelayNotSupported { index: 1 })
        );
        // The delay is checked before the topic, as in Java.
        assert_eq!(
            check_batch_rules([
                member("T"),
                BatchMember {
                    topic: "U",
                    ..delayed
                }
            ]),
            Err(BatchError::DelayNotSupported { index: 1 })
        );
        assert_eq!(
            check_batch_rules([member("%RETRY%G")]),
            Err(BatchError::RetryTopic {
                index: 0,
                topic: "%RETRY%G".into()
            })
        );
        assert_eq!(
            check_batch_rules([member("T"), member("U")]),
            Err(BatchError::TopicMismatch {
                index: 1,
                expected: "T".into(),
                got: "U".into()
            })
        );
        let no_wait = BatchMember {
            wait_store_msg_ok: false,
            ..member("T")
        };
        assert_eq!(
            check_batch_rules([member("T"), member("T"), no_wait]),
            Err(BatchError::WaitStoreMsgOkMismatch { index: 2 })
        );
        assert_eq!(check_batch_rules([no_wait, no_wait]), Ok(()));
    }
}
