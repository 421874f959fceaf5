//! JSON bodies from the name server: topic routes and cluster info.
//!
//! The Java name server encodes these with fastjson, which writes non-string map keys bare
//! (`"brokerAddrs":{0:"127.0.0.1:10911"}`): not valid JSON. 4.9.3 name servers always do; newer
//! ones do for cluster info and zone-mode routes. [`parse_fastjson`] accepts both forms.

use std::collections::{BTreeMap, HashMap};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Broker id of a master.
pub const MASTER_ID: i64 = 0;

/// Most read or write queues a route may give one broker. Queue counts come from the network
/// and size allocations (one queue object each), so a route outside the limit is rejected as
/// malformed rather than trusted; real topics have at most a few hundred queues per broker.
pub const MAX_QUEUES_PER_BROKER: i32 = 16_384;

/// Most queues one topic's route may have over all its brokers (read or write, and in
/// `orderTopicConf`): with [`MAX_QUEUES_PER_BROKER`], what keeps a small route answer from
/// asking for gigabytes.
pub const MAX_QUEUES_PER_TOPIC: usize = 65_536;

/// Permission bits of a topic or broker (`PermName`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Perm(pub i32);

impl Perm {
    /// Priority bit (8).
    pub const PRIORITY: i32 = 8;
    /// Readable bit (4).
    pub const READ: i32 = 4;
    /// Writable bit (2).
    pub const WRITE: i32 = 2;
    /// Inheritable bit (1): the topic can be a template for auto-creation.
    pub const INHERIT: i32 = 1;

    /// Whether producers may write.
    pub fn is_writeable(self) -> bool {
        self.0 & Self::WRITE != 0
    }

    /// Whether consumers may read.
    pub fn is_readable(self) -> bool {
        self.0 & Self::READ != 0
    }

    /// Whether new topics may inherit from this one.
    pub fn is_inherited(self) -> bool {
        self.0 & Self::INHERIT != 0
    }
}

impl std::fmt::Display for Perm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let flag = |bit: i32, c: char| if self.0 & bit != 0 { c } else { '-' };
        write!(
            f,
            "{}{}{}",
            flag(Self::READ, 'R'),
            flag(Self::WRITE, 'W'),
            flag(Self::INHERIT, 'X')
        )
    }
}

/// Queues of one broker for one topic (`QueueData`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueData {
    /// Broker name.
    pub broker_name: String,
    /// Number of read queues.
    pub read_queue_nums: i32,
    /// Number of write queues.
    pub write_queue_nums: i32,
    /// Permission bits.
    pub perm: Perm,
    /// Topic system flag.
    #[serde(default)]
    pub topic_sys_flag: i32,
}

/// One broker group: a master (id 0) and its slaves (`BrokerData`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerData {
    /// Cluster name.
    #[serde(default)]
    pub cluster: String,
    /// Broker name.
    pub broker_name: String,
    /// Broker id to `ip:port`; id 0 is the master.
    #[serde(default)]
    pub broker_addrs: BTreeMap<i64, String>,
    /// 5.x: zone of the broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_name: Option<String>,
}

impl BrokerData {
    /// Address of the master, if the group has one.
    pub fn master_addr(&self) -> Option<&str> {
        self.broker_addrs.get(&MASTER_ID).map(String::as_str)
    }
}

/// Route of a topic (`TopicRouteData`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TopicRouteData {
    /// Ordered-topic configuration `brokerA:4;brokerB:8`, when the name server has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_topic_conf: Option<String>,
    /// Queues per broker.
    #[serde(default)]
    pub queue_datas: Vec<QueueData>,
    /// Brokers hosting the topic.
    #[serde(default)]
    pub broker_datas: Vec<BrokerData>,
    /// Filter servers per broker address (legacy).
    #[serde(default)]
    pub filter_server_table: HashMap<String, Vec<String>>,
}

impl TopicRouteData {
    /// Parses a route body as a Java name server sends it.
    ///
    /// # Errors
    /// The JSON error when the body is not a route even after fastjson leniency.
    /// A route whose queue counts are outside the limits (16 384 queues per broker, 65 536 per
    /// topic), or whose `orderTopicConf` is not `broker:count;…`, is an error: those counts
    /// size allocations, so they are never trusted.
    pub fn from_json(body: &[u8]) -> Result<Self, serde_json::Error> {
        let route: Self = parse_fastjson(body)?;
        route.check_queue_counts().map_err(serde::de::Error::custom)?;
        Ok(route)
    }

    /// The `(broker name, queue count)` entries of `orderTopicConf` (`brokerA:4;brokerB:8`),
    /// empty when there is none. Entries are checked when the route is parsed.
    pub fn order_topic_queues(&self) -> Vec<(&str, i32)> {
        self.order_topic_conf
            .as_deref()
            .unwrap_or("")
            .split(';')
            .filter(|entry| !entry.trim().is_empty())
            .filter_map(|entry| {
                let (broker, n) = entry.split_once(':')?;
                Some((broker, n.trim().parse().ok()?))
            })
            .collect()
    }

    /// Checks every count that will size an allocation against the documented limits.
    fn check_queue_counts(&self) -> Result<(), String> {
        let in_range = |what: &str, broker: &str, n: i32| {
            if (0..=MAX_QUEUES_PER_BROKER).contains(&n) {
                Ok(n as usize)
            } else {
                Err(format!(
                    "{what} {n} of broker {broker:?} is outside 0..={MAX_QUEUES_PER_BROKER}"
                ))
            }
        };
        let (mut read_total, mut write_total) = (0usize, 0usize);
        for q in &self.queue_datas {
            read_total += in_range("readQueueNums", &q.broker_name, q.read_queue_nums)?;
            write_total += in_range("writeQueueNums", &q.broker_name, q.write_queue_nums)?;
        }
        let mut order_total = 0usize;
        for entry in self.order_topic_conf.as_deref().unwrap_or("").split(';') {
            if entry.trim().is_empty() {
                continue;
            }
            let parsed = entry
                .split_once(':')
                .and_then(|(broker, n)| Some((broker, n.trim().parse::<i32>().ok()?)));
            let Some((broker, n)) = parsed else {
                return Err(format!("orderTopicConf entry {entry:?} is not broker:count"));
            };
            order_total += in_range("orderTopicConf count", broker, n)?;
        }
        let total = read_total.max(write_total).max(order_total);
        if total > MAX_QUEUES_PER_TOPIC {
            return Err(format!(
                "route has {total} queues, more than the limit of {MAX_QUEUES_PER_TOPIC}"
            ));
        }
        Ok(())
    }

    /// The route with queues and brokers sorted by name, for change detection (Java compares
    /// sorted copies too).
    pub fn normalized(&self) -> Self {
        let mut copy = self.clone();
        copy.queue_datas
            .sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
        copy.broker_datas
            .sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
        copy.filter_server_table.clear();
        copy
    }
}

/// Brokers and clusters known to a name server (`ClusterInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInfo {
    /// Broker name to broker data.
    #[serde(default)]
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    /// Cluster name to broker names.
    #[serde(default)]
    pub cluster_addr_table: BTreeMap<String, Vec<String>>,
}

impl ClusterInfo {
    /// Parses a cluster-info body as a Java name server sends it.
    ///
    /// # Errors
    /// The JSON error when the body is not cluster info even after fastjson leniency.
    pub fn from_json(body: &[u8]) -> Result<Self, serde_json::Error> {
        parse_fastjson(body)
    }
}

/// One producer connection as a broker reports it (`Connection` in `ProducerConnection`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientConnection {
    /// Client id (`IP@instance`).
    #[serde(default)]
    pub client_id: String,
    /// Remote address as the broker sees it.
    #[serde(default)]
    pub client_addr: String,
    /// Declared language name.
    #[serde(default)]
    pub language: Option<String>,
    /// Declared version.
    #[serde(default)]
    pub version: i32,
}

/// Body of a `GET_PRODUCER_CONNECTION_LIST` response (`ProducerConnection`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProducerConnection {
    /// Connections of the group.
    #[serde(default)]
    pub connection_set: Vec<ClientConnection>,
}

impl ProducerConnection {
    /// Parses the body.
    ///
    /// # Errors
    /// The JSON error when the body is not a producer connection list.
    pub fn from_json(body: &[u8]) -> Result<Self, serde_json::Error> {
        parse_fastjson(body)
    }
}

/// Parses JSON that may contain fastjson's bare numeric object keys.
///
/// Standard JSON parses directly; only on failure is the text rewritten (bare `-?[0-9]+` keys
/// quoted, strings left alone) and parsed again.
///
/// # Errors
/// The error of the rewritten text when it still does not parse.
pub fn parse_fastjson<T: DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    match serde_json::from_slice(body) {
        Ok(v) => Ok(v),
        Err(first) => {
            let fixed = quote_bare_numeric_keys(body);
            if fixed.len() == body.len() {
                return Err(first);
            }
            serde_json::from_slice(&fixed)
        }
    }
}

/// Quotes bare integer object keys: `{0:"a",-1:"b"}` becomes `{"0":"a","-1":"b"}`.
///
/// A token counts as a key when it follows `{` or `,` (after white space) and is followed by
/// `:`; anything inside a string literal is copied untouched.
fn quote_bare_numeric_keys(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + 16);
    let mut i = 0;
    let mut in_string = false;
    let mut escaped = false;
    // Whether the previous significant byte outside strings was `{` or `,`.
    let mut key_position = false;
    while i < input.len() {
        let b = input[i];
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                key_position = false;
                out.push(b);
                i += 1;
            }
            b'{' | b',' => {
                key_position = true;
                out.push(b);
                i += 1;
            }
            b' ' | b'\t' | b'\r' | b'\n' => {
                out.push(b);
                i += 1;
            }
            b'-' | b'0'..=b'9' if key_position => {
                let start = i;
                let mut j = i + 1;
                while j < input.len() && input[j].is_ascii_digit() {
                    j += 1;
                }
                let mut k = j;
                while k < input.len() && input[k].is_ascii_whitespace() {
                    k += 1;
                }
                if k < input.len() && input[k] == b':' {
                    out.push(b'"');
                    out.extend_from_slice(&input[start..j]);
                    out.push(b'"');
                } else {
                    out.extend_from_slice(&input[start..j]);
                }
                key_position = false;
                i = j;
            }
            _ => {
                key_position = false;
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FASTJSON_ROUTE: &str = r#"{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;

    fn route_with_queues(read: i64, write: i64, order: Option<&str>) -> String {
        let order = order.map_or(String::new(), |c| format!(r#""orderTopicConf":"{c}","#));
        format!(
            r#"{{{order}"brokerDatas":[],"queueDatas":[{{"brokerName":"b","perm":6,"readQueueNums":{read},"writeQueueNums":{write}}}]}}"#
        )
    }

    #[test]
    fn queue_counts_from_the_network_are_bounded() {
        let ok = route_with_queues(8, 8, Some("b:4;c:2"));
        let route = TopicRouteData::from_json(ok.as_bytes()).unwrap();
        assert_eq!(route.order_topic_queues(), vec![("b", 4), ("c", 2)]);
        let limit = i64::from(MAX_QUEUES_PER_BROKER);
        for (body, expected) in [
            (route_with_queues(4, 2_000_000_000, None), "writeQueueNums 2000000000"),
            (route_with_queues(-1, 4, None), "readQueueNums -1"),
            (route_with_queues(limit + 1, 4, None), "outside 0..=16384"),
            (route_with_queues(4, 4, Some("b:2000000000")), "orderTopicConf count"),
            (route_with_queues(4, 4, Some("b:x")), "is not broker:count"),
            (route_with_queues(4, 4, Some("b")), "is not broker:count"),
        ] {
            let err = TopicRouteData::from_json(body.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(expected), "{body}: {err}");
        }
        // Many brokers each within the limit still cannot add up past the topic limit.
        let many: Vec<String> = (0..5)
            .map(|i| format!(r#"{{"brokerName":"b{i}","perm":6,"readQueueNums":16384,"writeQueueNums":16384}}"#))
            .collect();
        let body = format!(r#"{{"brokerDatas":[],"queueDatas":[{}]}}"#, many.join(","));
        let err = TopicRouteData::from_json(body.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("81920 queues, more than the limit of 65536"), "{err}");
    }

    #[test]
    fn parses_fastjson_bare_keys() {
        let route = TopicRouteData::from_json(FASTJSON_ROUTE.as_bytes()).unwrap();
        assert_eq!(route.broker_datas[0].master_addr(), Some("10.0.0.1:10911"));
        assert_eq!(route.broker_datas[0].broker_addrs[&1], "10.0.0.2:10911");
        assert_eq!(route.queue_datas[0].write_queue_nums, 4);
        assert!(route.queue_datas[0].perm.is_writeable());
    }

    #[test]
    fn parses_standard_json_and_ignores_unknown_fields() {
        let std_json = FASTJSON_ROUTE
            .replace("{0:", "{\"0\":")
            .replace(",1:", ",\"1\":")
            .replace(
                "\"cluster\"",
                "\"enableActingMaster\":false,\"zoneName\":\"z\",\"cluster\"",
            );
        let route = TopicRouteData::from_json(std_json.as_bytes()).unwrap();
        assert_eq!(route.broker_datas[0].zone_name.as_deref(), Some("z"));
        assert_eq!(route.broker_datas[0].master_addr(), Some("10.0.0.1:10911"));
    }

    #[test]
    fn quoting_leaves_strings_and_arrays_alone() {
        let input = br#"{"a":"{0:1,2:3}","b":[1,2],-3:"x","c":{ 12 :"y"}}"#;
        let out = String::from_utf8(quote_bare_numeric_keys(input)).unwrap();
        assert_eq!(
            out,
            r#"{"a":"{0:1,2:3}","b":[1,2],"-3":"x","c":{ "12" :"y"}}"#
        );
    }

    #[test]
    fn cluster_info_from_fastjson() {
        let body = r#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"127.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}},"clusterAddrTable":{"DefaultCluster":["broker-a"]}}"#;
        let info = ClusterInfo::from_json(body.as_bytes()).unwrap();
        assert_eq!(info.cluster_addr_table["DefaultCluster"], vec!["broker-a"]);
        assert_eq!(
            info.broker_addr_table["broker-a"].master_addr(),
            Some("127.0.0.1:10911")
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(TopicRouteData::from_json(b"{0:").is_err());
        assert!(TopicRouteData::from_json(b"\xff\xfe").is_err());
        assert!(ClusterInfo::from_json(b"").is_err());
    }

    #[test]
    fn perm_display() {
        assert_eq!(Perm(6).to_string(), "RW-");
        assert_eq!(Perm(7).to_string(), "RWX");
    }
}
