//! Micro-benchmarks of the protocol layer: the client's own CPU cost per send and per pulled
//! message, apart from the network.
//!
//! * `send_message_v2/encode`: a producer's `SendMessageRequestHeaderV2` (JSON header) and a
//!   1 KiB body into a frame: header fields, command, frame bytes, as every send does;
//! * `send_message_v2/decode`: that frame back into a command and its typed header;
//! * `pull_body/decode_32x1KiB`: a pull response body of 32 stored 1 KiB messages, in the
//!   broker's `MessageDecoder.encode` layout, into messages (`decode_stored_messages`);
//! * `topic_route/parse_*`: a route of two broker groups (master and slave) with 8 queues
//!   each, in the standard JSON of a 5.x name server and with the bare numeric keys a 4.9.x
//!   one writes (`TopicRouteData::from_json`).
//!
//! `cargo bench -p rmq --bench protocol`; CI runs them with `-- --quick`.

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};

use bytes::{BufMut, Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rmq::protocol::{
    decode_stored_messages, encode_properties, InflateLimits, LanguageCode, RemotingCodec,
    RemotingCommand, RequestCode, SendMessageRequestHeaderV2, TopicRouteData,
    MESSAGE_MAGIC_CODE_V1, PROPERTY_SEPARATOR, VERSION_5_3_3,
};
use tokio_util::codec::{Decoder, Encoder};

/// Body size of every message.
const BODY_LEN: usize = 1024;

/// Messages in one pull response (the broker's `maxTransferCountOnMessageInMemory`).
const PULLED_MESSAGES: usize = 32;

fn body() -> Bytes {
    (0..BODY_LEN).map(|i| b'a' + (i % 26) as u8).collect()
}

/// The properties of a keyed, tagged message with a unique id, as a producer sends them.
fn producer_properties() -> String {
    encode_properties([
        ("KEYS", "order-4711"),
        ("UNIQ_KEY", "7F00000112A718B4AAC2713D4C5F0000"),
        ("WAIT", "true"),
        ("TAGS", "TagA"),
    ])
}

/// The header the producer fills for one message to a 5.x broker.
fn send_header() -> SendMessageRequestHeaderV2 {
    SendMessageRequestHeaderV2 {
        producer_group: "bench_producer_group".into(),
        topic: "BenchTopic".into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: 3,
        sys_flag: 0,
        born_timestamp: 1_765_000_000_000,
        flag: 0,
        properties: Some(producer_properties()),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        max_reconsume_times: None,
        batch: Some(false),
        broker_name: Some("broker-a".into()),
    }
}

/// A send request as the client builds it: this client's language and version, JSON header.
fn send_request(header: &SendMessageRequestHeaderV2, body: &Bytes) -> RemotingCommand {
    let mut cmd = RemotingCommand::request_with_header(RequestCode::SEND_MESSAGE_V2, header)
        .with_body(body.clone());
    cmd.language = LanguageCode::RUST;
    cmd.version = VERSION_5_3_3;
    cmd
}

fn send_message_v2(c: &mut Criterion) {
    let header = send_header();
    let body = body();
    let mut codec = RemotingCodec::default();
    let mut frame = BytesMut::new();
    codec
        .encode(&send_request(&header, &body), &mut frame)
        .expect("a send request encodes");
    let frame = frame.freeze();

    let mut group = c.benchmark_group("send_message_v2");
    group.throughput(Throughput::Elements(1));
    let mut out = BytesMut::with_capacity(2 * frame.len());
    group.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            let cmd = send_request(black_box(&header), &body);
            codec.encode(&cmd, &mut out).expect("encodes");
            black_box(out.len())
        })
    });
    group.bench_function("decode", |b| {
        b.iter_batched(
            // The read buffer the frame arrived in; copying it in is not measured.
            || BytesMut::from(&frame[..]),
            |mut input| {
                let cmd = codec
                    .decode(&mut input)
                    .expect("decodes")
                    .expect("a whole frame");
                let header: SendMessageRequestHeaderV2 =
                    cmd.decode_header().expect("a send header");
                black_box((cmd, header))
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// One stored message in the broker's layout (Java `MessageDecoder.encode`, magic V1, IPv4
/// hosts), with the properties a 5.x broker keeps for a producer's message.
fn stored_message(queue_offset: i64, body: &[u8]) -> Vec<u8> {
    let mut properties = producer_properties();
    properties.push(PROPERTY_SEPARATOR);
    properties.push_str(&encode_properties([("CLUSTER", "DefaultCluster")]));
    properties.push(PROPERTY_SEPARATOR);
    let topic = "BenchTopic";
    let born = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 7), 50_412));
    let store = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1), 10_911));

    let mut m = Vec::with_capacity(BODY_LEN + 256);
    m.put_i32(0); // total size, patched below
    m.put_i32(MESSAGE_MAGIC_CODE_V1);
    m.put_i32(0x1234_5678); // body CRC
    m.put_i32(3); // queue id
    m.put_i32(0); // flag
    m.put_i64(queue_offset);
    m.put_i64(1_000_000 + queue_offset * 1300); // commit-log offset
    m.put_i32(0); // sys flag
    m.put_i64(1_765_000_000_000); // born timestamp
    put_host(&mut m, born);
    m.put_i64(1_765_000_000_002); // store timestamp
    put_host(&mut m, store);
    m.put_i32(0); // reconsume times
    m.put_i64(0); // prepared transaction offset
    m.put_i32(body.len() as i32);
    m.put_slice(body);
    m.put_u8(topic.len() as u8);
    m.put_slice(topic.as_bytes());
    m.put_i16(properties.len() as i16);
    m.put_slice(properties.as_bytes());
    let total = m.len() as i32;
    m[..4].copy_from_slice(&total.to_be_bytes());
    m
}

fn put_host(m: &mut Vec<u8>, host: SocketAddr) {
    if let std::net::IpAddr::V4(ip) = host.ip() {
        m.put_slice(&ip.octets());
    }
    m.put_i32(i32::from(host.port()));
}

fn pull_body(c: &mut Criterion) {
    let body = body();
    let pulled: Bytes = (0..PULLED_MESSAGES as i64)
        .flat_map(|offset| stored_message(offset, &body))
        .collect();
    let decoded = decode_stored_messages(pulled.clone(), InflateLimits::default())
        .expect("the pull body decodes");
    assert_eq!(decoded.len(), PULLED_MESSAGES);

    let mut group = c.benchmark_group("pull_body");
    group.throughput(Throughput::Elements(PULLED_MESSAGES as u64));
    group.bench_function("decode_32x1KiB", |b| {
        b.iter(|| {
            let messages =
                decode_stored_messages(black_box(pulled.clone()), InflateLimits::default())
                    .expect("decodes");
            black_box(messages)
        })
    });
    group.finish();
}

/// A route of two broker groups, each a master and a slave, with 8 queues each, as a 5.x
/// name server answers `GET_ROUTEINFO_BY_TOPIC`.
const ROUTE_5X: &str = concat!(
    r#"{"brokerDatas":["#,
    r#"{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false},"#,
    r#"{"brokerAddrs":{"0":"10.0.0.3:10911","1":"10.0.0.4:10911"},"brokerName":"broker-b","cluster":"DefaultCluster","enableActingMaster":false}"#,
    r#"],"filterServerTable":{},"queueDatas":["#,
    r#"{"brokerName":"broker-a","perm":6,"readQueueNums":8,"topicSysFlag":0,"writeQueueNums":8},"#,
    r#"{"brokerName":"broker-b","perm":6,"readQueueNums":8,"topicSysFlag":0,"writeQueueNums":8}"#,
    r#"]}"#
);

fn topic_route(c: &mut Criterion) {
    // 4.9.x name servers write broker ids as bare numbers (fastjson), which takes a second
    // pass after the quoting fix-up.
    let route_4x = ROUTE_5X.replace(r#""0":"#, "0:").replace(r#""1":"#, "1:");
    for (name, json) in [
        ("parse_5x_json", ROUTE_5X),
        ("parse_4x_fastjson", &route_4x),
    ] {
        let route = TopicRouteData::from_json(json.as_bytes()).expect("the route parses");
        assert_eq!(route.broker_datas.len(), 2, "{name}");
    }

    let mut group = c.benchmark_group("topic_route");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_5x_json", |b| {
        b.iter(|| TopicRouteData::from_json(black_box(ROUTE_5X.as_bytes())).expect("parses"))
    });
    group.bench_function("parse_4x_fastjson", |b| {
        b.iter(|| TopicRouteData::from_json(black_box(route_4x.as_bytes())).expect("parses"))
    });
    group.finish();
}

criterion_group!(benches, send_message_v2, pull_body, topic_route);
criterion_main!(benches);
