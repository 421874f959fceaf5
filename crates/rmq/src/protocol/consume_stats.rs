//! The `GET_CONSUME_STATS` body (`ConsumeStats`, `OffsetWrapper`) and a tolerant reader of
//! fastjson's object-keyed maps.
//!
//! Java serialises `Map<MessageQueue, …>` with fastjson, which writes the key object itself
//! as the key: `{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:{…}}}` — not JSON.
//! [`normalize_object_keys`] turns such keys into JSON strings holding the object, after which
//! any JSON parser reads the body.

use serde::Deserialize;

/// A queue as a map key of a Java body (`MessageQueue`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueKey {
    /// Topic.
    pub topic: String,
    /// Broker name.
    pub broker_name: String,
    /// Queue id.
    pub queue_id: i32,
}

/// One queue's offsets in [`ConsumeStats`] (Java `OffsetWrapper`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OffsetWrapper {
    /// The queue's max offset (next offset to be written).
    #[serde(default)]
    pub broker_offset: i64,
    /// The group's committed offset (0 when it has none).
    #[serde(default)]
    pub consumer_offset: i64,
    /// 5.x: the highest offset pulled by the group (at least `consumer_offset`); absent on 4.x.
    #[serde(default)]
    pub pull_offset: Option<i64>,
    /// Store time (epoch ms) of the last consumed message, 0 when unknown.
    #[serde(default)]
    pub last_timestamp: i64,
}

/// A broker's answer to `GET_CONSUME_STATS` (Java `ConsumeStats`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsumeStats {
    /// Offsets per queue, in the order the broker wrote them.
    pub offset_table: Vec<(QueueKey, OffsetWrapper)>,
    /// The group's consume rate on this broker (messages per second).
    pub consume_tps: f64,
}

impl ConsumeStats {
    /// Parses the body, object keys and all.
    ///
    /// # Errors
    /// When the body (once its keys are normalized) is not the expected JSON, or a key is not
    /// a queue.
    pub fn from_json(body: &[u8]) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            #[serde(default)]
            offset_table: serde_json::Map<String, serde_json::Value>,
            #[serde(default)]
            consume_tps: f64,
        }
        let raw: Raw = serde_json::from_slice(&normalize_object_keys(body))?;
        let mut offset_table = Vec::with_capacity(raw.offset_table.len());
        for (key, value) in raw.offset_table {
            let queue: QueueKey = serde_json::from_str(&key)?;
            offset_table.push((queue, serde_json::from_value(value)?));
        }
        Ok(Self {
            offset_table,
            consume_tps: raw.consume_tps,
        })
    }
}

/// Rewrites every object used as a map key (fastjson's form for `Map<MessageQueue, …>`) into
/// a JSON string holding that object's text; everything else is copied as it is. Bodies that
/// are JSON already come out unchanged.
pub fn normalize_object_keys(input: &[u8]) -> Vec<u8> {
    /// Per open container: is it an object, and is the next token of it a key?
    struct Level {
        object: bool,
        expect_key: bool,
    }
    let mut out = Vec::with_capacity(input.len() + 64);
    let mut stack: Vec<Level> = Vec::new();
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        match b {
            b'"' => {
                let end = string_end(input, i);
                out.extend_from_slice(&input[i..end]);
                i = end;
                continue;
            }
            b'{' if stack.last().is_some_and(|l| l.object && l.expect_key) => {
                let end = value_end(input, i);
                let key = String::from_utf8_lossy(&input[i..end]);
                // A String always serializes.
                out.extend_from_slice(
                    serde_json::to_string(key.as_ref())
                        .unwrap_or_default()
                        .as_bytes(),
                );
                i = end;
                continue;
            }
            b'{' | b'[' => stack.push(Level {
                object: b == b'{',
                expect_key: b == b'{',
            }),
            b'}' | b']' => {
                stack.pop();
            }
            b':' => {
                if let Some(l) = stack.last_mut() {
                    l.expect_key = false;
                }
            }
            b',' => {
                if let Some(l) = stack.last_mut() {
                    l.expect_key = l.object;
                }
            }
            _ => {}
        }
        out.push(b);
        i += 1;
    }
    out
}

/// The index just past the string literal that starts at `start` (or the end of input).
fn string_end(input: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < input.len() {
        match input[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    input.len()
}

/// The index just past the balanced object or array that starts at `start`.
fn value_end(input: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < input.len() {
        match input[i] {
            b'"' => {
                i = string_end(input, i);
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    input.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 5.3.3 broker's answer, as fastjson writes it.
    const BODY_5: &str = r#"{"consumeTps":1.5,"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:{"brokerOffset":3,"consumerOffset":3,"lastTimestamp":1764665439000,"pullOffset":3},{"brokerName":"broker-a","queueId":1,"topic":"%RETRY%g"}:{"brokerOffset":5,"consumerOffset":0,"lastTimestamp":0,"pullOffset":2}}}"#;

    #[test]
    fn object_keys_become_string_keys() {
        let normalized = String::from_utf8(normalize_object_keys(BODY_5.as_bytes())).unwrap();
        let v: serde_json::Value = serde_json::from_str(&normalized).unwrap();
        let table = v["offsetTable"].as_object().unwrap();
        assert_eq!(table.len(), 2);
        assert!(table.contains_key(r#"{"brokerName":"broker-a","queueId":0,"topic":"T"}"#));
        // Already-valid JSON (string keys holding braces, nested values) is left alone.
        let json = r#"{"a":{"{x}":[{"b":"}{"}]},"c":"\"{"}"#;
        assert_eq!(normalize_object_keys(json.as_bytes()), json.as_bytes());
    }

    #[test]
    fn consume_stats_parse_from_5x_and_4x_bodies() {
        let stats = ConsumeStats::from_json(BODY_5.as_bytes()).unwrap();
        assert_eq!(stats.consume_tps, 1.5);
        assert_eq!(
            stats.offset_table,
            vec![
                (
                    QueueKey {
                        topic: "T".into(),
                        broker_name: "broker-a".into(),
                        queue_id: 0
                    },
                    OffsetWrapper {
                        broker_offset: 3,
                        consumer_offset: 3,
                        pull_offset: Some(3),
                        last_timestamp: 1_764_665_439_000
                    }
                ),
                (
                    QueueKey {
                        topic: "%RETRY%g".into(),
                        broker_name: "broker-a".into(),
                        queue_id: 1
                    },
                    OffsetWrapper {
                        broker_offset: 5,
                        consumer_offset: 0,
                        pull_offset: Some(2),
                        last_timestamp: 0
                    }
                ),
            ]
        );
        // 4.9.3: no pullOffset.
        let body_4 = r#"{"consumeTps":0.0,"offsetTable":{{"brokerName":"b","queueId":2,"topic":"T"}:{"brokerOffset":9,"consumerOffset":4,"lastTimestamp":0}}}"#;
        let stats = ConsumeStats::from_json(body_4.as_bytes()).unwrap();
        assert_eq!(stats.offset_table[0].1.pull_offset, None);
        assert_eq!(stats.offset_table[0].1.broker_offset, 9);
        // An empty table, and garbage.
        let empty = ConsumeStats::from_json(br#"{"consumeTps":0.0,"offsetTable":{}}"#).unwrap();
        assert!(empty.offset_table.is_empty());
        assert!(ConsumeStats::from_json(b"{\"offsetTable\":{{{:").is_err());
        assert!(ConsumeStats::from_json(br#"{"offsetTable":{{"x":1}:{}}}"#).is_err());
    }
}
