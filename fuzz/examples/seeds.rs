//! Writes the committed seed corpus, `fuzz/corpus/<target>/`, from real frames and bodies:
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example seeds
//! ```
//!
//! Each seed is named after what it is; running again rewrites the same files with the same
//! bytes (nothing here is random), and removes nothing else. The golden vectors of
//! `crates/rmq/tests/golden/` (frames written by Java's `RemotingCommand`) are reused as
//! frame and header seeds.

use std::fs;
use std::path::{Path, PathBuf};

use rmq::protocol::{
    compress, encode_batch, encode_frame, encode_properties, BatchEntry, CompressionType,
    RemotingCommand, RequestCode, ResponseCode, SerializeType, SysFlag, MESSAGE_MAGIC_CODE_V1,
    MESSAGE_MAGIC_CODE_V2,
};

/// The golden file whose frames become seeds, relative to this crate.
const GOLDEN: &str = "../crates/rmq/tests/golden/java-5.3.3.txt";

/// A route body as a 4.9.x name server writes it (fastjson: bare integer map keys).
const ROUTE_FASTJSON: &str = r#"{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.1:10921"},"brokerName":"broker-a","cluster":"DefaultCluster"},{"brokerAddrs":{0:"127.0.0.1:10912"},"brokerName":"broker-b","cluster":"DefaultCluster","zoneName":"z1"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-b","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4},{"brokerName":"broker-a","perm":7,"readQueueNums":8,"topicSysFlag":0,"writeQueueNums":8}]}"#;

/// The same in standard JSON, as 5.x name servers write it when asked.
const ROUTE_STANDARD: &str = r#"{"brokerDatas":[{"brokerAddrs":{"0":"127.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{"127.0.0.1:10911":["127.0.0.1:30000"]},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;

/// An ordered topic: the queues come from `orderTopicConf`.
const ROUTE_ORDERED: &str = r#"{"orderTopicConf":"broker-a:4;broker-b:2","brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:10911"},"brokerName":"broker-a","cluster":"c"}],"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"writeQueueNums":4}]}"#;

const ROUTE_HUGE_QUEUES: &str = r#"{"brokerDatas":[{"brokerAddrs":{0:"a"},"brokerName":"b"}],"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":1,"writeQueueNums":2147483647}]}"#;

const ROUTE_HUGE_ORDER_CONF: &str = r#"{"orderTopicConf":"b:2147483647"}"#;

const CLUSTER_INFO: &str = r#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"127.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}},"clusterAddrTable":{"DefaultCluster":["broker-a","broker-b"]}}"#;

const PRODUCER_CONNECTION: &str = r#"{"connectionSet":[{"clientAddr":"127.0.0.1:50012","clientId":"127.0.0.1@1234#567","language":"JAVA","version":479},{"clientAddr":"[::1]:50013","clientId":"rust@1","language":"RUST","version":399}]}"#;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let golden = golden_frames(&root.join(GOLDEN));
    let corpus = root.join("corpus");
    let mut written = 0;
    let mut write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = corpus.join(target);
        fs::create_dir_all(&dir).expect("create corpus directory");
        let path: PathBuf = dir.join(name);
        fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        written += 1;
    };

    // frame_decoder: [control][chunk sizes][stream]; control 0 = one chunk, default limit.
    for (name, frame) in &golden {
        write(
            "frame_decoder",
            &format!("golden_{name}"),
            &[&[0][..], frame].concat(),
        );
    }
    let route_response = route_response(SerializeType::Json);
    write(
        "frame_decoder",
        "route_response_json",
        &[&[0][..], &route_response].concat(),
    );
    let binary_response = route_response_binary();
    // Two frames back to back in five chunks (control 4: four sizes follow).
    let stream = [
        binary_response.as_slice(),
        &golden_frame(&golden, "route_json"),
    ]
    .concat();
    write(
        "frame_decoder",
        "two_frames_chunked",
        &[&[4, 3, 0, 17, 200][..], &stream].concat(),
    );
    // The small-limit codec (bit 3) rejecting a frame over 256 bytes.
    write(
        "frame_decoder",
        "over_small_limit",
        &[&[8][..], &golden_frame(&golden, "send_v2_json")].concat(),
    );

    // json_header / binary_header: the header bytes of the golden frames of that type.
    for (name, frame) in &golden {
        let (serialize_type, header) = split_header(frame);
        let target = if serialize_type == 0 {
            "json_header"
        } else {
            "binary_header"
        };
        write(target, &format!("golden_{name}"), header);
    }
    write(
        "json_header",
        "route_response",
        split_header(&route_response).1,
    );
    write(
        "binary_header",
        "route_response",
        split_header(&binary_response).1,
    );

    // route_parsers: name server and broker bodies.
    write("route_parsers", "route_fastjson", ROUTE_FASTJSON.as_bytes());
    write("route_parsers", "route_standard", ROUTE_STANDARD.as_bytes());
    write("route_parsers", "route_ordered", ROUTE_ORDERED.as_bytes());
    write("route_parsers", "cluster_info", CLUSTER_INFO.as_bytes());
    write(
        "route_parsers",
        "producer_connection",
        PRODUCER_CONNECTION.as_bytes(),
    );
    // Regressions: queue counts that made `TopicPublishInfo::from_route` allocate 120 GB
    // before the route limits (MAX_QUEUES_PER_BROKER) existed; now parse errors.
    write(
        "route_parsers",
        "regression_write_queue_nums_i32_max",
        ROUTE_HUGE_QUEUES.as_bytes(),
    );
    write(
        "route_parsers",
        "regression_order_conf_i32_max",
        ROUTE_HUGE_ORDER_CONF.as_bytes(),
    );

    // stored_messages: records as the broker stores them.
    let props = encode_properties([
        ("TAGS", "TagA"),
        ("KEYS", "k1 k2"),
        ("UNIQ_KEY", "7F000001000118B4AAC2771B2D8C0000"),
        ("WAIT", "true"),
    ]);
    let plain = StoredRecord::v1("TopicTest", b"hello rocketmq", &props);
    write("stored_messages", "v1_plain", &plain.encode());
    let body = "a compressible body, ".repeat(20);
    let zlib = compressed(CompressionType::Zlib, body.as_bytes());
    let mut zlib_record = StoredRecord::v1("TopicTest", &zlib, &props);
    zlib_record.sys_flag |= SysFlag::COMPRESSED;
    write("stored_messages", "v1_zlib_body", &zlib_record.encode());
    let lz4 = compressed(CompressionType::Lz4, body.as_bytes());
    let mut v2 = StoredRecord::v1("TopicTest", &lz4, &props);
    v2.magic = MESSAGE_MAGIC_CODE_V2;
    v2.sys_flag = SysFlag::COMPRESSED
        | SysFlag::COMPRESSION_LZ4
        | SysFlag::BORNHOST_V6
        | SysFlag::STOREHOST_V6;
    write("stored_messages", "v2_ipv6_lz4_body", &v2.encode());
    let zstd = compressed(CompressionType::Zstd, body.as_bytes());
    let mut zstd_record = StoredRecord::v1("TopicTest", &zstd, &props);
    zstd_record.sys_flag |= SysFlag::COMPRESSED | SysFlag::COMPRESSION_ZSTD;
    write("stored_messages", "v1_zstd_body", &zstd_record.encode());
    // 1 MiB of zeros in about a kilobyte: over the target's inflate limit.
    let bomb = compressed(CompressionType::Zlib, &vec![0u8; 1024 * 1024]);
    let mut bomb_record = StoredRecord::v1("TopicTest", &bomb, "");
    bomb_record.sys_flag |= SysFlag::COMPRESSED | SysFlag::COMPRESSION_ZLIB;
    write(
        "stored_messages",
        "zlib_body_over_limit",
        &bomb_record.encode(),
    );
    write(
        "stored_messages",
        "two_records",
        &[plain.encode(), zlib_record.encode()].concat(),
    );

    // batch_decode: a SEND_BATCH_MESSAGE body.
    let p1 = encode_properties([("WAIT", "true"), ("UNIQ_KEY", "AB01"), ("TAGS", "t")]);
    let p2 = encode_properties([("WAIT", "true"), ("UNIQ_KEY", "AB02")]);
    let batch = encode_batch([
        BatchEntry {
            flag: 0,
            body: b"first",
            properties: &p1,
        },
        BatchEntry {
            flag: 7,
            body: b"",
            properties: &p2,
        },
        BatchEntry {
            flag: -1,
            body: b"third body",
            properties: "",
        },
    ])
    .expect("encode batch");
    write("batch_decode", "three_members", &batch);

    // decompress: [selector][data]; selector % 3 = zlib, lz4, zstd; bit 7 = also round trip.
    let text = "RocketMQ message body, RocketMQ message body, 0123456789".repeat(8);
    for (selector, kind) in [
        (0u8, CompressionType::Zlib),
        (1, CompressionType::Lz4),
        (2, CompressionType::Zstd),
    ] {
        let packed = compressed(kind, text.as_bytes());
        let name = kind.name().to_ascii_lowercase();
        write("decompress", &name, &[&[selector][..], &packed].concat());
        write(
            "decompress",
            &format!("{name}_round_trip"),
            &[&[selector | 0x80][..], text.as_bytes()].concat(),
        );
    }

    // properties: strings as producers and brokers write them.
    write("properties", "message", props.as_bytes());
    write(
        "properties",
        "trailing_separator_and_value_with_name_separator",
        "TAGS\u{1}a\u{2}KEYS\u{1}x\u{1}y\u{2}\u{2}WAIT\u{1}false\u{2}".as_bytes(),
    );
    write(
        "properties",
        "broker_properties",
        encode_properties([
            ("MIN_OFFSET", "0"),
            ("MAX_OFFSET", "42"),
            ("CLUSTER", "DefaultCluster"),
            ("TRAN_MSG", "true"),
            ("PGROUP", "group-1"),
        ])
        .as_bytes(),
    );

    println!("wrote {written} seeds under {}", corpus.display());
}

/// `name -> frame` of every vector in a golden file (`name hex` lines, `#` comments).
fn golden_frames(path: &Path) -> Vec<(String, Vec<u8>)> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, hex) = l.split_once(' ').expect("`name hex` line");
            (name.to_owned(), unhex(hex.trim()))
        })
        .collect()
}

fn golden_frame(golden: &[(String, Vec<u8>)], name: &str) -> Vec<u8> {
    golden
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no golden vector {name}"))
        .1
        .clone()
}

fn unhex(hex: &str) -> Vec<u8> {
    assert!(hex.len().is_multiple_of(2), "odd hex length");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// The serialize type and the header bytes of a complete frame.
fn split_header(frame: &[u8]) -> (u8, &[u8]) {
    let type_and_len = u32::from_be_bytes(frame[4..8].try_into().expect("frame header"));
    let header_len = (type_and_len & 0x00FF_FFFF) as usize;
    ((type_and_len >> 24) as u8, &frame[8..8 + header_len])
}

/// A `GET_ROUTEINFO_BY_TOPIC` response carrying a route body.
fn route_response(serialize_type: SerializeType) -> Vec<u8> {
    let mut request = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC);
    request.opaque = 11;
    request.serialize_type = serialize_type;
    let response = RemotingCommand::response_to(&request, ResponseCode::SUCCESS, None)
        .with_body(ROUTE_FASTJSON.as_bytes().to_vec());
    encode_frame(&response).expect("encode").to_vec()
}

/// A binary-header response with a remark and ext fields, and a route body.
fn route_response_binary() -> Vec<u8> {
    let mut request = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC);
    request.opaque = 12;
    request.serialize_type = SerializeType::RocketMq;
    let mut response = RemotingCommand::response_to(&request, ResponseCode::SUCCESS, None)
        .with_remark("ok")
        .with_body(ROUTE_STANDARD.as_bytes().to_vec());
    response.ext_fields.insert("zoneName", "z1");
    response.ext_fields.insert("acceptStandardJsonOnly", "true");
    encode_frame(&response).expect("encode").to_vec()
}

fn compressed(kind: CompressionType, data: &[u8]) -> Vec<u8> {
    compress(kind, kind.default_level(), data)
        .expect("compress")
        .to_vec()
}

/// The fields of a stored message record (`MessageDecoder`), as the fake broker of the
/// integration tests writes them (`tests/common/fake_cluster.rs`, `stored_message`).
struct StoredRecord<'a> {
    magic: i32,
    sys_flag: i32,
    topic: &'a str,
    body: &'a [u8],
    properties: &'a str,
}

impl<'a> StoredRecord<'a> {
    fn v1(topic: &'a str, body: &'a [u8], properties: &'a str) -> Self {
        Self {
            magic: MESSAGE_MAGIC_CODE_V1,
            sys_flag: SysFlag::TRANSACTION_PREPARED,
            topic,
            body,
            properties,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let host = |m: &mut Vec<u8>, v6: bool, port: i32| {
            if v6 {
                m.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            } else {
                m.extend_from_slice(&[127, 0, 0, 1]);
            }
            m.extend_from_slice(&port.to_be_bytes());
        };
        let mut m = Vec::new();
        m.extend_from_slice(&0i32.to_be_bytes()); // total size, patched below
        m.extend_from_slice(&self.magic.to_be_bytes());
        m.extend_from_slice(&0i32.to_be_bytes()); // body CRC
        m.extend_from_slice(&1i32.to_be_bytes()); // queue id
        m.extend_from_slice(&0i32.to_be_bytes()); // flag
        m.extend_from_slice(&7i64.to_be_bytes()); // queue offset
        m.extend_from_slice(&4096i64.to_be_bytes()); // commit log offset
        m.extend_from_slice(&self.sys_flag.to_be_bytes());
        m.extend_from_slice(&1_700_000_000_000i64.to_be_bytes()); // born timestamp
        host(&mut m, self.sys_flag & SysFlag::BORNHOST_V6 != 0, 5555);
        m.extend_from_slice(&1_700_000_000_001i64.to_be_bytes()); // store timestamp
        host(&mut m, self.sys_flag & SysFlag::STOREHOST_V6 != 0, 10911);
        m.extend_from_slice(&0i32.to_be_bytes()); // reconsume times
        m.extend_from_slice(&0i64.to_be_bytes()); // prepared transaction offset
        m.extend_from_slice(&(self.body.len() as i32).to_be_bytes());
        m.extend_from_slice(self.body);
        if self.magic == MESSAGE_MAGIC_CODE_V2 {
            m.extend_from_slice(&(self.topic.len() as i16).to_be_bytes());
        } else {
            m.push(self.topic.len() as u8);
        }
        m.extend_from_slice(self.topic.as_bytes());
        m.extend_from_slice(&(self.properties.len() as i16).to_be_bytes());
        m.extend_from_slice(self.properties.as_bytes());
        let total = m.len() as i32;
        m[..4].copy_from_slice(&total.to_be_bytes());
        m
    }
}
