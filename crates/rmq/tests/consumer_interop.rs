//! The push consumer beside Apache RocketMQ's own Java client, on the real local broker: what
//! the Java producer sends we receive field for field, and a mixed Rust + Java group splits
//! the queues exactly as Java allocates them.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::broker::{api, create_topic, is_v4, namesrv, unique, version, wait_for};
use rmq::{
    AllocateStrategy, ClientConfig, ConsumeFrom, ConsumeResult, Message, MessageExt, MessageQueue,
    Producer, PushConsumer,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

const LONG: Duration = Duration::from_secs(120);

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

fn consumer_of(
    group: &str,
    instance: &str,
    topic: &str,
) -> (
    rmq::PushConsumerBuilder,
    mpsc::UnboundedReceiver<(MessageQueue, MessageExt)>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let builder = PushConsumer::builder(group)
        .client(
            ClientConfig::new()
                .name_server(&namesrv())
                .instance_name(instance),
        )
        .subscribe(topic, "*")
        .consume_from(ConsumeFrom::FirstOffset)
        .handler(move |messages, context| {
            let tx = tx.clone();
            async move {
                for m in messages {
                    let _ = tx.send((context.queue.clone(), m));
                }
                ConsumeResult::Success
            }
        });
    (builder, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn what_the_java_producer_sends_arrives_with_every_field_equal() {
    let api = api().await;
    let topic = unique("JavaToRust");
    create_topic(&api, &topic, 4).await;
    let out = tokio::process::Command::new("bash")
        .arg(script("java-produce"))
        .args([version(), namesrv(), topic.clone(), "varied".into()])
        .output()
        .await
        .expect("scripts/java-produce runs (needs a JDK and Maven)");
    assert!(out.status.success(), "Java producer failed: {out:?}");
    let sent: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // 4.9.x has no LZ4 or zstd.
    assert_eq!(sent.len(), if is_v4() { 10 } else { 12 });
    let (builder, mut rx) = consumer_of(&unique("cg_java_fields"), "java-fields", &topic);
    let consumer = builder.start().await.unwrap();
    let mut got = BTreeMap::new();
    while got.len() < sent.len() {
        let (queue, m) = tokio::time::timeout(LONG, rx.recv())
            .await
            .expect("every Java message arrives")
            .unwrap();
        got.insert(m.msg_id().to_string(), (queue, m));
    }
    for s in &sent {
        let id = s["msg_id"].as_str().unwrap();
        let (queue, m) = &got[id];
        let name = s["name"].as_str().unwrap_or("?");
        assert_eq!(
            m.offset_msg_id,
            s["offset_msg_id"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(m.topic, topic, "{name}");
        assert_eq!(queue.broker_name, s["broker"].as_str().unwrap(), "{name}");
        assert_eq!(
            i64::from(m.queue_id),
            s["queue_id"].as_i64().unwrap(),
            "{name}"
        );
        assert_eq!(
            m.queue_offset,
            s["queue_offset"].as_i64().unwrap(),
            "{name}"
        );
        assert_eq!(m.tags(), s["tags"].as_str(), "{name}");
        assert_eq!(m.keys(), s["keys"].as_str(), "{name}");
        assert_eq!(i64::from(m.flag), s["flag"].as_i64().unwrap(), "{name}");
        assert_eq!(
            m.body.to_vec(),
            decode_base64(s["body_base64"].as_str().unwrap()),
            "{name}: body"
        );
        for (k, v) in s["properties"].as_object().unwrap() {
            assert_eq!(m.property(k), v.as_str(), "{name}: property {k}");
        }
        assert!(!m.body_compressed, "{name}: inflated");
    }
    consumer.shutdown().await;
}

/// A running Java push consumer (`scripts/java-push-consume`) and its JSON lines.
struct JavaConsumer {
    child: tokio::process::Child,
    lines: mpsc::UnboundedReceiver<serde_json::Value>,
}

impl JavaConsumer {
    fn start(group: &str, topic: &str, seconds: u64, instance: &str) -> Self {
        let mut child = tokio::process::Command::new("bash")
            .arg(script("java-push-consume"))
            .args([
                version(),
                namesrv(),
                group.to_string(),
                topic.to_string(),
                "*".to_string(),
                seconds.to_string(),
                instance.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("scripts/java-push-consume runs");
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
        Self { child, lines }
    }

    /// The next line with this `event`.
    async fn next(&mut self, event: &str) -> serde_json::Value {
        loop {
            let line = tokio::time::timeout(LONG, self.lines.recv())
                .await
                .unwrap_or_else(|_| panic!("no {event} line from the Java consumer"))
                .unwrap_or_else(|| panic!("the Java consumer ended before {event}"));
            if line["event"] == event {
                return line;
            }
        }
    }
}

fn parse_queue(text: &str) -> MessageQueue {
    let mut parts = text.rsplitn(3, '/');
    let id = parts.next().unwrap().parse().unwrap();
    let broker = parts.next().unwrap();
    MessageQueue::new(parts.next().unwrap(), broker, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rust_and_a_java_consumer_share_a_group_exactly_as_java_allocates() {
    let api = api().await;
    let topic = unique("MixedGroup");
    create_topic(&api, &topic, 8).await;
    let group = unique("cg_mixed");
    let mut java = JavaConsumer::start(&group, &topic, 90, "java_member");
    let java_id = java.next("started").await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (builder, mut rx) = consumer_of(&group, "rust_member", &topic);
    let rust = builder.start().await.unwrap();
    // Wait until both sides hold disjoint halves that cover the topic.
    let (rust_queues, java_queues) = loop {
        let line = java.next("assignment").await;
        let java_queues: BTreeSet<MessageQueue> = line["queues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| parse_queue(q.as_str().unwrap()))
            .collect();
        let ours = wait_for(Duration::from_secs(5), || async {
            let ours: BTreeSet<MessageQueue> = rust
                .assigned_queues()
                .into_iter()
                .filter(|q| q.topic == topic)
                .collect();
            (ours.len() + java_queues.len() == 8 && ours.is_disjoint(&java_queues)).then_some(ours)
        })
        .await;
        if let Some(ours) = ours {
            break (ours, java_queues);
        }
    };
    let mq_all: Vec<MessageQueue> = rust_queues.union(&java_queues).cloned().collect();
    let cid_all = vec![java_id.clone(), rust.client_id().to_string()];
    let expected = |id: &str| -> BTreeSet<MessageQueue> {
        AllocateStrategy::Averagely
            .allocate(id, &mq_all, &cid_all)
            .into_iter()
            .collect()
    };
    assert_eq!(rust_queues, expected(rust.client_id()), "Rust's share");
    assert_eq!(java_queues, expected(&java_id), "Java's share");

    // Steady state: every message handled exactly once across the two.
    let producer = Producer::builder(unique("pg_mixed"))
        .client(ClientConfig::new().name_server(&namesrv()))
        .start()
        .await
        .unwrap();
    let mut ids = BTreeSet::new();
    for i in 0..100 {
        ids.insert(
            producer
                .send(Message::new(&topic, format!("mixed {i}")))
                .await
                .unwrap()
                .msg_id,
        );
    }
    let handled: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    while handled.lock().unwrap().values().sum::<usize>() < ids.len() {
        tokio::select! {
            Some((_, m)) = rx.recv() => {
                *handled.lock().unwrap().entry(m.msg_id().to_string()).or_default() += 1;
            }
            line = java.next("message") => {
                let id = line["msg_id"].as_str().unwrap().to_string();
                *handled.lock().unwrap().entry(id).or_default() += 1;
            }
            _ = tokio::time::sleep(LONG) => panic!("messages missing"),
        }
    }
    let handled = handled.lock().unwrap().clone();
    assert_eq!(handled.keys().cloned().collect::<BTreeSet<_>>(), ids);
    assert!(handled.values().all(|n| *n == 1), "each message once");
    producer.shutdown().await;
    rust.shutdown().await;
    let _ = java.child.kill().await;
}
