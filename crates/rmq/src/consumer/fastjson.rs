//! fastjson's message-queue-keyed maps (`offsetTable`, `mqTable`, `messageQueueTable`): Java
//! writes a `MessageQueue` object as the map key, which is not standard JSON, so these are
//! written and read by hand.

use serde_json::json;

use crate::client::MessageQueue;

/// A map keyed by message queues in fastjson's object-key form:
/// `{{"brokerName":"b","queueId":0,"topic":"t"}:value,…}` (not standard JSON, but what Java
/// reads and writes). `value` is JSON text.
pub(crate) fn queue_keyed_map<'a>(
    entries: impl Iterator<Item = (&'a MessageQueue, String)>,
) -> String {
    let items: Vec<String> = entries
        .map(|(mq, value)| {
            let key =
                json!({"brokerName": mq.broker_name, "queueId": mq.queue_id, "topic": mq.topic});
            format!("{key}:{value}")
        })
        .collect();
    format!("{{{}}}", items.join(","))
}

/// Reads `{"offsetTable":{<queue>:<offset>,…}}` with fastjson's object keys (or keys that are
/// JSON strings holding the object). Entries that do not parse are skipped.
pub(crate) fn parse_queue_keyed_offsets(body: &[u8]) -> Vec<(MessageQueue, i64)> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Key {
        topic: String,
        broker_name: String,
        queue_id: i32,
    }
    let text = String::from_utf8_lossy(body);
    let Some(start) = text.find("\"offsetTable\"") else {
        return Vec::new();
    };
    let rest = &text[start..];
    let Some(open) = rest.find('{') else {
        return Vec::new();
    };
    let mut s = &rest[open + 1..];
    let mut out = Vec::new();
    loop {
        s = s.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        let (key_text, after) = if let Some(inner) = s.strip_prefix('{') {
            let Some(end) = inner.find('}') else { break };
            (format!("{{{}}}", &inner[..end]), &inner[end + 1..])
        } else if s.starts_with('"') {
            let Ok(key) = serde_json::Deserializer::from_str(s)
                .into_iter::<String>()
                .next()
                .unwrap_or_else(|| Ok(String::new()))
            else {
                break;
            };
            let consumed = serde_json::to_string(&key).map_or(0, |k| k.len());
            (key, s.get(consumed..).unwrap_or(""))
        } else {
            break;
        };
        let after = after.trim_start();
        let Some(after) = after.strip_prefix(':') else {
            break;
        };
        let after = after.trim_start();
        let end = after
            .find(|c: char| !(c.is_ascii_digit() || c == '-'))
            .unwrap_or(after.len());
        let (number, tail) = after.split_at(end);
        if let (Ok(key), Ok(offset)) = (
            serde_json::from_str::<Key>(&key_text),
            number.parse::<i64>(),
        ) {
            out.push((
                MessageQueue::new(key.topic, key.broker_name, key.queue_id),
                offset,
            ));
        }
        s = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_keyed_maps_round_trip_in_fastjson_form() {
        let a = MessageQueue::new("T", "broker-a", 0);
        let b = MessageQueue::new("T", "broker-b", 3);
        let map = queue_keyed_map([(&a, "5".to_string()), (&b, "7".to_string())].into_iter());
        assert_eq!(
            map,
            r#"{{"brokerName":"broker-a","queueId":0,"topic":"T"}:5,{"brokerName":"broker-b","queueId":3,"topic":"T"}:7}"#
        );
        let body = format!(r#"{{"offsetTable":{map}}}"#);
        assert_eq!(
            parse_queue_keyed_offsets(body.as_bytes()),
            vec![(a.clone(), 5), (b, 7)]
        );
        // Keys as JSON strings, and garbage, are tolerated.
        let quoted =
            r#"{"offsetTable":{"{\"brokerName\":\"broker-a\",\"queueId\":0,\"topic\":\"T\"}":9}}"#;
        assert_eq!(parse_queue_keyed_offsets(quoted.as_bytes()), vec![(a, 9)]);
        assert!(parse_queue_keyed_offsets(b"{\"offsetTable\":{{{:").is_empty());
        assert!(parse_queue_keyed_offsets(b"nonsense").is_empty());
    }
}
