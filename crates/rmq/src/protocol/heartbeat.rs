//! The `HEART_BEAT` body (`HeartbeatData`).

use serde::{Deserialize, Serialize};

/// A producer group in a heartbeat (`ProducerData`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducerData {
    /// The group name.
    pub group_name: String,
}

/// The body of a `HEART_BEAT` request.
///
/// Field order follows fastjson's alphabetical order so the bytes match the Java client's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HeartbeatData {
    /// Client id of the sending instance.
    #[serde(rename = "clientID")]
    pub client_id: String,
    /// Consumer groups (always empty for now: consumers are not implemented yet).
    #[serde(rename = "consumerDataSet", default)]
    pub consumer_data_set: Vec<serde_json::Value>,
    /// Producer groups of the instance.
    #[serde(rename = "producerDataSet", default)]
    pub producer_data_set: Vec<ProducerData>,
}

impl HeartbeatData {
    /// Serializes the body.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain strings and vectors cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_java_layout() {
        let hb = HeartbeatData {
            client_id: "127.0.0.1@1#1".into(),
            consumer_data_set: vec![],
            producer_data_set: vec![
                ProducerData {
                    group_name: "CLIENT_INNER_PRODUCER".into(),
                },
                ProducerData {
                    group_name: "g".into(),
                },
            ],
        };
        assert_eq!(
            String::from_utf8(hb.to_json()).unwrap(),
            r#"{"clientID":"127.0.0.1@1#1","consumerDataSet":[],"producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"},{"groupName":"g"}]}"#
        );
    }
}
