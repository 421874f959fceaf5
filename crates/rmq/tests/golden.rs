//! Golden vectors made by Apache RocketMQ's own Java `RemotingCommand` (see `interop/java`).
//!
//! `.ci/run` regenerates the files from the Java code and fails if they differ from the ones
//! committed here, so these bytes are Java's, not ours.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use bytes::BytesMut;
use common::canonical::{canonical, hex, unhex};
use rmq::protocol::{
    encode_frame, LanguageCode, RemotingCodec, RemotingCommand, RequestCode, ResponseCode,
    SerializeType, FLAG_ONEWAY,
};
use tokio_util::codec::Decoder;

/// Every version with committed vectors (`scripts/test` checks each against Java first).
const VERSIONS: [&str; 3] = ["4.9.3", "5.3.3", "5.5.0"];

fn golden_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// `name -> line` of a golden file (`name rest`).
fn read_lines(file: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(golden_dir().join(file)).expect("golden file");
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, rest) = l.split_once(' ').expect("name and value");
            (name.to_string(), rest.to_string())
        })
        .collect()
}

fn decode_one(frame: &[u8]) -> RemotingCommand {
    let mut buf = BytesMut::from(frame);
    let cmd = RemotingCodec::default()
        .decode(&mut buf)
        .expect("decodes")
        .expect("complete frame");
    assert!(buf.is_empty(), "exactly one frame");
    cmd
}

#[test]
fn we_read_java_bytes_as_java_reads_them_and_reencode_them_byte_exact() {
    for version in VERSIONS {
        let frames = read_lines(&format!("java-{version}.txt"));
        let expected = read_lines(&format!("java-{version}.canonical.txt"));
        assert!(frames.len() >= 14, "{version}: {} vectors", frames.len());
        for (name, hex_frame) in &frames {
            let bytes = unhex(hex_frame);
            let cmd = decode_one(&bytes);
            assert_eq!(
                canonical(name, &cmd),
                format!("{name} {}", expected[name]),
                "{version} {name}: decoded differently from Java"
            );
            let reencoded = encode_frame(&cmd).expect("encodes");
            assert_eq!(
                hex(&reencoded),
                *hex_frame,
                "{version} {name}: re-encoded bytes differ from Java's"
            );
        }
    }
}

fn with(mut cmd: RemotingCommand, opaque: i32, st: SerializeType) -> RemotingCommand {
    cmd.opaque = opaque;
    cmd.serialize_type = st;
    cmd
}

/// Commands built with our own constructors, in the field order our code uses.
fn built_from_scratch() -> Vec<(&'static str, RemotingCommand)> {
    let mut v = Vec::new();
    for (name, st) in [
        ("route_json", SerializeType::Json),
        ("route_rocketmq", SerializeType::RocketMq),
    ] {
        let mut cmd = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC);
        cmd.ext_fields.insert("topic", "TopicTest");
        v.push((name, with(cmd, 1, st)));
    }
    for (name, st) in [
        ("send_v2_json", SerializeType::Json),
        ("send_v2_rocketmq", SerializeType::RocketMq),
    ] {
        let header = rmq::protocol::SendMessageRequestHeaderV2 {
            producer_group: "yyzGroup2".into(),
            topic: "yyztest2".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 0,
            sys_flag: 0,
            born_timestamp: 1491978653614,
            flag: 0,
            properties: Some("TAGS\u{1}TAG\u{2}WAIT\u{1}true\u{2}KEYS\u{1}ffff".into()),
            reconsume_times: Some(0),
            unit_mode: Some(false),
            max_reconsume_times: None,
            batch: None,
            broker_name: Some("broker-a".into()),
        };
        let cmd = RemotingCommand::request_with_header(RequestCode::SEND_MESSAGE_V2, &header)
            .with_body(&b"hello rocketmq"[..]);
        v.push((name, with(cmd, 7, st)));
    }
    for (name, st) in [
        ("oneway_json", SerializeType::Json),
        ("oneway_rocketmq", SerializeType::RocketMq),
    ] {
        let mut cmd =
            RemotingCommand::request(RequestCode::END_TRANSACTION).with_remark("中文 remark ✓");
        cmd.mark_oneway();
        v.push((name, with(cmd, -5, st)));
    }
    for (name, st) in [
        ("empty_json", SerializeType::Json),
        ("empty_rocketmq", SerializeType::RocketMq),
    ] {
        let cmd = RemotingCommand::request(RequestCode::GET_BROKER_CLUSTER_INFO);
        v.push((name, with(cmd, 0, st)));
    }
    let req = with(
        RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC),
        i32::MAX,
        SerializeType::Json,
    );
    let err = RemotingCommand::response_to(
        &req,
        ResponseCode::TOPIC_NOT_EXIST,
        Some("No topic route info in name server for the topic: X".into()),
    );
    v.push(("error_json", err));
    let hb = rmq::protocol::HeartbeatData {
        client_id: "127.0.0.1@1#1".into(),
        consumer_data_set: vec![],
        producer_data_set: ["CLIENT_INNER_PRODUCER", "g"]
            .into_iter()
            .map(|g| rmq::protocol::ProducerData {
                group_name: g.into(),
            })
            .collect(),
    };
    let cmd = RemotingCommand::request(RequestCode::HEART_BEAT).with_body(hb.to_json());
    v.push(("heartbeat_json", with(cmd, 3, SerializeType::Json)));
    let mut cmd = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC);
    cmd.ext_fields.insert("topic", "T");
    cmd.language = LanguageCode::GO;
    cmd.version = 317;
    v.push(("go_version_json", with(cmd, 1, SerializeType::Json)));
    v
}

#[test]
fn commands_we_build_encode_to_java_bytes() {
    for version in VERSIONS {
        let frames = read_lines(&format!("java-{version}.txt"));
        for (name, cmd) in built_from_scratch() {
            let ours = hex(&encode_frame(&cmd).expect("encodes"));
            assert_eq!(
                ours, frames[name],
                "{version} {name}: our bytes differ from Java's"
            );
        }
    }
}

/// Runs `scripts/java-interop <version> decode` on frames we encoded and compares Java's reading
/// of them with ours. Needs a JDK and Maven (the test command provides both).
#[test]
fn java_reads_our_bytes_as_we_meant_them() {
    let version = std::env::var("ROCKETMQ_VERSION").unwrap_or_else(|_| "5.3.3".into());
    let mut cases = built_from_scratch();
    // Things Java never produced in the vectors: a multi-field response in binary form,
    // unusual characters, a large body, a negative code in JSON.
    let mut resp = with(
        RemotingCommand::response_to(
            &RemotingCommand::request(RequestCode::SEND_MESSAGE_V2),
            ResponseCode::SUCCESS,
            None,
        ),
        42,
        SerializeType::RocketMq,
    );
    resp.ext_fields
        .insert("msgId", "7F00000100002A9F0000000000000000");
    resp.ext_fields.insert("queueId", "3");
    resp.ext_fields.insert("queueOffset", "9223372036854775807");
    resp.ext_fields.insert("quote\"\\\t/\u{1}", "é中\u{7}");
    cases.push(("rust_response_rocketmq", resp.clone()));
    resp.serialize_type = SerializeType::Json;
    cases.push(("rust_response_json", resp));
    let mut big =
        RemotingCommand::request(RequestCode::SEND_MESSAGE_V2).with_body(vec![0xAB; 70_000]);
    big.flag = FLAG_ONEWAY;
    cases.push(("rust_big_body_json", with(big, -1, SerializeType::Json)));
    let mut neg = RemotingCommand::request(RequestCode(-1000));
    neg.remark = Some("r".into());
    cases.push((
        "rust_negative_code_json",
        with(neg, 77, SerializeType::Json),
    ));

    let mut input = String::new();
    for (name, cmd) in &cases {
        input.push_str(&format!(
            "{name} {}\n",
            hex(&encode_frame(cmd).expect("encodes"))
        ));
    }
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/java-interop");
    let mut child = Command::new("bash")
        .arg(script)
        .arg(&version)
        .arg("decode")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("scripts/java-interop runs (needs a JDK and Maven)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write frames");
    let out = child.wait_with_output().expect("java-interop finishes");
    assert!(out.status.success(), "java decode failed: {out:?}");
    let java: Vec<String> = String::from_utf8(out.stdout)
        .expect("utf8")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(java.len(), cases.len(), "one line per frame: {java:?}");
    for ((name, cmd), java_line) in cases.iter().zip(&java) {
        assert_eq!(
            *java_line,
            canonical(name, cmd),
            "Java {version} read {name} differently"
        );
    }
}
