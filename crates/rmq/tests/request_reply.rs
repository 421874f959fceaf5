//! Request–reply against the real local broker and Apache RocketMQ's own Java client: our
//! requests answered by a Java responder and by our own, Java's `request` answered by ours,
//! timeouts on time with nothing left pending; and, on a fake broker, what a real one cannot
//! be made to do on demand (a reply for no pending request, a reply after the timeout).

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::broker::{api, broker_a, broker_b, create_topic_on, namesrv, unique, version};
use common::fake_cluster::{FakeBroker, FakeNameServer};
use rmq::protocol::{
    decode_properties, encode_properties, RemotingCommand, RequestCode, ResponseCode,
};
use rmq::{
    create_reply_message, ClientConfig, ConsumeFrom, ConsumeResult, Error, Message, MessageExt,
    Producer, PushConsumer, SelectByHash, ValidationError,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

const LONG: Duration = Duration::from_secs(120);
/// Long enough for a fresh responder group to get its queues assigned.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn script(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(name)
}

fn decode_base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base64") as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// A topic on both brokers, so the requester knows (and heartbeats) both: the reply may come
/// through either broker's `<cluster>_REPLY_TOPIC`.
async fn topic(prefix: &str) -> String {
    let api = api().await;
    let topic = unique(prefix);
    create_topic_on(&api, &[broker_a(), broker_b()], &topic, 4).await;
    topic
}

async fn producer(group: &str) -> Producer {
    Producer::builder(unique(group))
        .client(
            ClientConfig::new()
                .name_server(&namesrv())
                .instance_name(unique("rr")),
        )
        .start()
        .await
        .unwrap()
}

/// Our responder: a push consumer on `topic` that answers every request with
/// `create_reply_message` + `send_reply`, body `rust-reply:` + request body.
async fn rust_responder(topic: &str) -> (PushConsumer, Producer) {
    let replier = producer("pg_replier").await;
    let sender = replier.clone();
    let consumer = PushConsumer::builder(unique("cg_responder"))
        .client(
            ClientConfig::new()
                .name_server(&namesrv())
                .instance_name(unique("responder")),
        )
        .subscribe(topic, "*")
        .consume_from(ConsumeFrom::FirstOffset)
        .handler(move |messages: Vec<MessageExt>, _context| {
            let sender = sender.clone();
            async move {
                for m in messages {
                    let mut body = b"rust-reply:".to_vec();
                    body.extend_from_slice(&m.body);
                    let reply = match create_reply_message(&m, body) {
                        Ok(reply) => reply,
                        Err(e) => panic!("not a request: {e}"),
                    };
                    // A reply that cannot be delivered is not retried: its requester has
                    // given up by the time a redelivery would come.
                    if let Err(e) = sender.send_reply(reply).await {
                        eprintln!("reply not sent: {e}");
                    }
                }
                ConsumeResult::Success
            }
        })
        .start()
        .await
        .unwrap();
    (consumer, replier)
}

/// A running Java program printing JSON lines.
struct Java {
    _child: tokio::process::Child,
    lines: mpsc::UnboundedReceiver<serde_json::Value>,
}

impl Java {
    fn start(script_name: &str, args: &[String]) -> Self {
        let mut child = tokio::process::Command::new("bash")
            .arg(script(script_name))
            .arg(version())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("scripts/{script_name} runs: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if let Ok(v) = serde_json::from_str(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        Self {
            _child: child,
            lines,
        }
    }

    async fn next(&mut self, event: &str) -> serde_json::Value {
        loop {
            let line = tokio::time::timeout(LONG, self.lines.recv())
                .await
                .unwrap_or_else(|_| panic!("no {event} line from Java"))
                .unwrap_or_else(|| panic!("the Java program ended before {event}"));
            if line["event"] == event {
                return line;
            }
        }
    }
}

fn assert_is_reply_of(reply: &MessageExt, body: &str) {
    assert_eq!(String::from_utf8_lossy(&reply.body), body);
    assert!(
        reply.topic.ends_with("_REPLY_TOPIC"),
        "reply topic {}",
        reply.topic
    );
    assert_eq!(reply.property("MSG_TYPE"), Some("reply"));
    let arrived: i64 = reply.property("ARRIVE_TIME").unwrap().parse().unwrap();
    assert!(arrived >= reply.born_timestamp, "arrived after it was born");
    assert_ne!(reply.store_host.port(), 0, "store host parsed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_java_responder_answers_our_requests() {
    let topic = topic("ReqJavaResp").await;
    let mut java = Java::start(
        "java-respond",
        &[
            namesrv(),
            unique("cg_java_responder"),
            topic.clone(),
            "2".into(),
            "110".into(),
        ],
    );
    java.next("started").await;
    let requester = producer("pg_requester").await;

    let reply = requester
        .request(Message::new(&topic, "ping-1"), REQUEST_TIMEOUT)
        .await
        .unwrap();
    let line = java.next("reply").await;
    assert_eq!(line["status"], "SEND_OK", "{line}");
    assert_eq!(line["reply_to"], requester.client_id());
    assert_eq!(
        reply.property("CORRELATION_ID"),
        line["correlation_id"].as_str(),
        "the reply carries the request's correlation id"
    );
    assert_eq!(
        decode_base64(line["request_body_base64"].as_str().unwrap()),
        b"ping-1"
    );
    assert_is_reply_of(&reply, "reply:ping-1");
    assert_eq!(
        reply.topic,
        format!("{}_REPLY_TOPIC", line["cluster"].as_str().unwrap())
    );

    // The selector variant goes to the queue it picks and is answered the same way.
    let reply = requester
        .request_with_selector(
            Message::new(&topic, "ping-2"),
            &SelectByHash,
            "key",
            REQUEST_TIMEOUT,
        )
        .await
        .unwrap();
    let line = java.next("reply").await;
    assert_eq!(
        reply.property("CORRELATION_ID"),
        line["correlation_id"].as_str()
    );
    assert_is_reply_of(&reply, "reply:ping-2");
    assert_eq!(requester.pending_requests(), 0, "nothing left pending");
    requester.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn our_responder_answers_our_requests() {
    let topic = topic("ReqRustResp").await;
    let (consumer, replier) = rust_responder(&topic).await;
    let requester = producer("pg_requester").await;
    let reply = requester
        .request(Message::new(&topic, "hello"), REQUEST_TIMEOUT)
        .await
        .unwrap();
    assert_is_reply_of(&reply, "rust-reply:hello");
    let correlation = reply.property("CORRELATION_ID").unwrap().to_string();
    assert_eq!(correlation.len(), 36, "a UUID: {correlation}");

    let queue = requester.queues(&topic).await.unwrap()[1].clone();
    let reply = requester
        .request_to_queue(Message::new(&topic, "to-queue"), &queue, REQUEST_TIMEOUT)
        .await
        .unwrap();
    assert_is_reply_of(&reply, "rust-reply:to-queue");
    assert_ne!(reply.property("CORRELATION_ID").unwrap(), correlation);
    assert_eq!(requester.pending_requests(), 0);
    requester.shutdown().await;
    consumer.shutdown().await;
    replier.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn our_responder_answers_java_requests() {
    let topic = topic("JavaReqRustResp").await;
    let (consumer, replier) = rust_responder(&topic).await;
    let mut java = Java::start(
        "java-request",
        &[
            namesrv(),
            unique("pg_java_requester"),
            topic.clone(),
            "from-java".into(),
            REQUEST_TIMEOUT.as_millis().to_string(),
            "2".into(),
        ],
    );
    for (i, body) in ["from-java", "from-java#1"].iter().enumerate() {
        let line = tokio::time::timeout(LONG, java.lines.recv())
            .await
            .expect("a line from the Java requester")
            .expect("the Java requester printed a line");
        assert_eq!(line["event"], "reply", "request {i}: {line}");
        assert_eq!(
            decode_base64(line["body_base64"].as_str().unwrap()),
            format!("rust-reply:{body}").as_bytes()
        );
        assert_eq!(line["properties"]["MSG_TYPE"], "reply");
        assert!(line["correlation_id"]
            .as_str()
            .is_some_and(|c| !c.is_empty()));
    }
    consumer.shutdown().await;
    replier.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_nobody_answers_times_out_on_time_and_leaves_nothing() {
    let topic = topic("ReqNoResp").await;
    let requester = producer("pg_requester").await;
    let timeout = Duration::from_millis(1500);
    let started = Instant::now();
    let err = requester
        .request(Message::new(&topic, "anyone?"), timeout)
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(&err, Error::RequestTimeout { topic: t, timeout: d } if *t == topic && *d == timeout),
        "{err}"
    );
    assert!(err.is_timeout() && !err.is_retriable());
    assert!(elapsed >= timeout, "gave up early: {elapsed:?}");
    assert!(elapsed < timeout + Duration::from_secs(10), "{elapsed:?}");
    assert_eq!(requester.pending_requests(), 0, "nothing left pending");

    // A cancelled request leaves nothing either.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(300),
        requester.request(Message::new(&topic, "cancelled"), Duration::from_secs(60)),
    )
    .await;
    assert!(cancelled.is_err(), "no reply, so the outer timeout fired");
    assert_eq!(
        requester.pending_requests(),
        0,
        "the dropped request left nothing"
    );
    requester.shutdown().await;
}

#[tokio::test]
async fn bad_requests_and_replies_are_typed_errors_before_the_network() {
    // A name server nobody listens on: nothing here may reach the network.
    let requester = Producer::builder("pg_offline")
        .client(
            ClientConfig::new()
                .name_server("127.0.0.1:1")
                .instance_name(unique("offline")),
        )
        .start()
        .await
        .unwrap();
    let started = Instant::now();
    let err = requester
        .request(Message::new("T", "x"), Duration::ZERO)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Validation(ValidationError::OutOfRange { .. })),
        "{err}"
    );
    let err = requester
        .request(Message::new("T", ""), Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Validation(ValidationError::BodyEmpty)),
        "{err}"
    );
    let err = requester
        .send_reply(Message::new("T", "not a reply"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Validation(ValidationError::NotAReply)),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "no network wait"
    );

    let props = encode_properties([("CORRELATION_ID", "c"), ("REPLY_TO_CLIENT", "x")]);
    let not_stamped = MessageExt {
        store_size: 0,
        magic: 0,
        body_crc: 0,
        queue_id: 0,
        flag: 0,
        queue_offset: 0,
        commit_log_offset: 0,
        sys_flag: 0,
        born_timestamp: 0,
        born_host: "127.0.0.1:1".parse().unwrap(),
        store_timestamp: 0,
        store_host: "127.0.0.1:1".parse().unwrap(),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: "x".into(),
        body_compressed: false,
        topic: "T".into(),
        properties: decode_properties(&props),
        offset_msg_id: String::new(),
    };
    assert_eq!(
        create_reply_message(&not_stamped, "r").unwrap_err(),
        ValidationError::NotARequest("CLUSTER")
    );
    assert_eq!(requester.pending_requests(), 0);
    requester.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_a_client_no_broker_knows_is_refused_by_the_reply_processor() {
    // Only the broker's reply path (SEND_REPLY_MESSAGE_V2) looks for the requester's channel:
    // a reply sent as an ordinary message would be stored with SEND_OK instead.
    let admin = rmq::Admin::new(&ClientConfig::new().name_server(&namesrv())).unwrap();
    let cluster = admin
        .cluster_info()
        .await
        .unwrap()
        .cluster_addr_table
        .keys()
        .next()
        .cloned()
        .expect("a cluster");
    admin.close().await;
    let props = encode_properties([
        ("CLUSTER", cluster.as_str()),
        ("CORRELATION_ID", "00000000-0000-4000-8000-000000000000"),
        ("REPLY_TO_CLIENT", "127.0.0.1@nobody_listens_here"),
        ("TTL", "3000"),
    ]);
    let request = MessageExt {
        store_size: 0,
        magic: 0,
        body_crc: 0,
        queue_id: 0,
        flag: 0,
        queue_offset: 0,
        commit_log_offset: 0,
        sys_flag: 0,
        born_timestamp: 0,
        born_host: "127.0.0.1:1".parse().unwrap(),
        store_timestamp: 0,
        store_host: "127.0.0.1:1".parse().unwrap(),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: "x".into(),
        body_compressed: false,
        topic: "T".into(),
        properties: decode_properties(&props),
        offset_msg_id: String::new(),
    };
    let reply = create_reply_message(&request, "for nobody").unwrap();
    assert_eq!(reply.topic, format!("{cluster}_REPLY_TOPIC"));
    let replier = producer("pg_replier_nobody").await;
    let err = replier.send_reply(reply).await.unwrap_err();
    assert_eq!(
        err.response_code(),
        Some(ResponseCode::SYSTEM_ERROR),
        "the broker found no channel for the requester: {err}"
    );
    replier.shutdown().await;
}

/// A `PUSH_REPLY_MESSAGE_TO_CLIENT` as a broker sends it.
fn push_reply(correlation_id: &str, body: &str) -> RemotingCommand {
    let props = encode_properties([
        ("CORRELATION_ID", correlation_id),
        ("MSG_TYPE", "reply"),
        ("REPLY_TO_CLIENT", "whoever"),
    ]);
    let mut cmd = RemotingCommand::request(RequestCode::PUSH_REPLY_MESSAGE_TO_CLIENT);
    for (k, v) in [
        ("producerGroup", "pg"),
        ("topic", "FakeCluster_REPLY_TOPIC"),
        ("defaultTopic", "TBW102"),
        ("defaultTopicQueueNums", "4"),
        ("queueId", "0"),
        ("sysFlag", "0"),
        ("bornTimestamp", "1700000000000"),
        ("flag", "0"),
        ("properties", props.as_str()),
        ("reconsumeTimes", "0"),
        ("unitMode", "false"),
        ("bornHost", "/127.0.0.1:40000"),
        ("storeHost", "/127.0.0.1:10911"),
        ("storeTimestamp", "1700000000001"),
    ] {
        cmd.ext_fields.insert(k, v);
    }
    cmd.with_body(body.as_bytes().to_vec())
}

/// Answers a send the fake broker received as stored, and returns the request's correlation id.
fn answer_send(
    conn: &common::fake_cluster::BrokerSideConnection,
    send: &RemotingCommand,
) -> String {
    assert_eq!(send.request_code(), RequestCode::SEND_MESSAGE_V2);
    let props = decode_properties(send.ext_fields.get("i").unwrap_or_default());
    let get = |k: &str| {
        props
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert!(!get("REPLY_TO_CLIENT").is_empty());
    assert!(get("TTL").parse::<u64>().is_ok());
    let mut resp = RemotingCommand::response_to(send, ResponseCode::SUCCESS, None);
    resp.ext_fields
        .insert("msgId", "7F00000100002A9F0000000000001000");
    resp.ext_fields.insert("queueId", "0");
    resp.ext_fields.insert("queueOffset", "0");
    conn.send(resp);
    get("CORRELATION_ID")
}

#[tokio::test]
async fn replies_on_a_fake_broker_in_time_late_and_for_nobody() {
    let broker = FakeBroker::start().await;
    let ns = FakeNameServer::start("fake-broker", &broker.addr).await;
    let requester = Producer::builder("pg_fake_requester")
        .name_server(&ns.addr)
        .instance_name(unique("fake_rr"))
        .start()
        .await
        .unwrap();
    let conn = broker.connection().await;

    // A reply nobody waits for: SUCCESS, as Java answers, and the client carries on.
    let unknown = push_reply("no-such-request", "stray");
    let opaque = unknown.opaque;
    conn.send(unknown);
    let answer = conn.recv().await;
    assert_eq!(
        (answer.opaque, answer.response_code()),
        (opaque, ResponseCode::SUCCESS)
    );

    // A reply in time completes the request; the header's hosts and body come through.
    let request = tokio::spawn({
        let requester = requester.clone();
        async move {
            requester
                .request(Message::new("FakeTopic", "ping"), Duration::from_secs(20))
                .await
        }
    });
    let send = conn.recv().await;
    let correlation = answer_send(&conn, &send);
    conn.send(push_reply(&correlation, "pong"));
    let reply = request.await.unwrap().unwrap();
    assert_eq!(&reply.body[..], b"pong");
    assert_eq!(reply.property("CORRELATION_ID"), Some(correlation.as_str()));
    assert_eq!(reply.born_host, "127.0.0.1:40000".parse().unwrap());
    assert!(reply.property("ARRIVE_TIME").is_some());
    let ack = conn.recv().await;
    assert_eq!(
        ack.response_code(),
        ResponseCode::SUCCESS,
        "reply acknowledged"
    );

    // A reply after the timeout: the request failed as a timeout, the late reply is dropped
    // with SUCCESS, nothing is pending.
    let request = tokio::spawn({
        let requester = requester.clone();
        async move {
            requester
                .request(
                    Message::new("FakeTopic", "late"),
                    Duration::from_millis(400),
                )
                .await
        }
    });
    let send = conn.recv().await;
    let correlation = answer_send(&conn, &send);
    let err = request.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::RequestTimeout { .. }), "{err}");
    assert_eq!(requester.pending_requests(), 0);
    let late = push_reply(&correlation, "too late");
    let opaque = late.opaque;
    conn.send(late);
    let answer = conn.recv().await;
    assert_eq!(
        (answer.opaque, answer.response_code()),
        (opaque, ResponseCode::SUCCESS)
    );

    // A push whose header does not decode: Java's SYSTEM_ERROR.
    let bad = RemotingCommand::request(RequestCode::PUSH_REPLY_MESSAGE_TO_CLIENT);
    conn.send(bad);
    let answer = conn.recv().await;
    assert_eq!(answer.response_code(), ResponseCode::SYSTEM_ERROR);
    assert_eq!(answer.remark.as_deref(), Some("process reply message fail"));

    // A broker that refuses the send: the send's error, not a request timeout.
    let request = tokio::spawn({
        let requester = requester.clone();
        async move {
            requester
                .request(Message::new("FakeTopic", "refused"), Duration::from_secs(5))
                .await
        }
    });
    let send = conn.recv().await;
    conn.send(RemotingCommand::response_to(
        &send,
        ResponseCode::MESSAGE_ILLEGAL,
        Some("no".into()),
    ));
    let err = request.await.unwrap().unwrap_err();
    assert_eq!(
        err.response_code(),
        Some(ResponseCode::MESSAGE_ILLEGAL),
        "{err}"
    );
    assert_eq!(requester.pending_requests(), 0);

    requester.shutdown().await;
    // Stopping the instance empties the table.
    assert_eq!(requester.pending_requests(), 0);
}
