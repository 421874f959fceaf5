//! `rmq lag` and the consumer's running info against the real local RocketMQ, checked with
//! Java's own admin tool (`scripts/rocketmq admin …`, mqadmin of the running version):
//! `rmq lag --json` says what `mqadmin consumerProgress` says, and `mqadmin consumerStatus` /
//! `consumerConnection` read a running Rust consumer's client id, subscription and statistics.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use rmq::{Admin, ClientConfig, ConsumeFrom, ConsumeResult, Message, Producer, PushConsumer};
use tokio::sync::mpsc;

const LONG: Duration = Duration::from_secs(120);

fn namesrv() -> String {
    std::env::var("RMQ_NAMESRV").unwrap_or_else(|_| "127.0.0.1:9876".to_string())
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{}_{}", std::process::id(), nanos % 1_000_000_000)
}

/// Creates `topic` with `queues` queues on both brokers and waits until both are routed.
async fn create_topic(topic: &str, queues: i32) {
    let admin = Admin::new(&ClientConfig::new().name_server(&namesrv())).unwrap();
    let brokers = [
        std::env::var("RMQ_BROKER_A").unwrap_or_else(|_| "127.0.0.1:10911".to_string()),
        std::env::var("RMQ_BROKER_B").unwrap_or_else(|_| "127.0.0.1:10921".to_string()),
    ];
    for broker in &brokers {
        admin
            .create_topic(broker, topic, queues)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "no RocketMQ broker at {broker} ({e}): run scripts/rocketmq start --brokers 2"
                )
            });
    }
    wait_for(LONG, || async {
        let route = admin.topic_route(topic).await.ok()?;
        (route.queue_datas.len() == brokers.len()).then_some(())
    })
    .await
    .expect("route of the new topic on both brokers");
    admin.close().await;
}

/// Polls `check` every 200 ms until it yields a value or `limit` passes.
async fn wait_for<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs mqadmin (`scripts/rocketmq admin ARGS`) in a scratch directory (consumerStatus writes
/// files there); returns its standard output, after checking that it exited 0.
async fn mqadmin(args: &[&str]) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/rocketmq");
    let scratch = std::env::temp_dir().join(unique("rmq_mqadmin"));
    std::fs::create_dir_all(&scratch).unwrap();
    let out = tokio::process::Command::new(&script)
        .arg("admin")
        .args(args)
        .current_dir(&scratch)
        .output()
        .await
        .expect("scripts/rocketmq runs");
    let _ = std::fs::remove_dir_all(&scratch);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "mqadmin {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// One queue row: (topic, broker, queue id) → (broker offset, consumer offset, diff).
type Rows = BTreeMap<(String, String, i64), (i64, i64, i64)>;

/// Reads `mqadmin consumerProgress -g G` (4.9.3: `… #Diff #LastTime`, "Diff Total: n";
/// 5.x: `… #Diff #Inflight #LastTime`, "Consume Diff Total: n").
fn parse_mqadmin_progress(text: &str) -> (Rows, Option<i64>) {
    let mut rows = Rows::new();
    let mut total = None;
    for line in text.lines() {
        if let Some((_, n)) = line.split_once("Diff Total:") {
            total = n.trim().parse().ok();
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 6 || cols[0].starts_with('#') {
            continue;
        }
        let numbers: Option<Vec<i64>> = cols[2..6].iter().map(|c| c.parse().ok()).collect();
        if let Some(n) = numbers {
            rows.insert(
                (cols[0].to_string(), cols[1].to_string(), n[0]),
                (n[1], n[2], n[3]),
            );
        }
    }
    (rows, total)
}

/// Runs `rmq ARGS` and returns its standard output, after checking that it exited 0.
async fn rmq(args: &[&str]) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rmq"))
        .args(args)
        .output()
        .await
        .expect("the rmq binary runs");
    assert!(
        out.status.success(),
        "rmq {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn send(topic: &str, n: usize) {
    let producer = Producer::builder(unique("pg_lag"))
        .client(ClientConfig::new().name_server(&namesrv()))
        .start()
        .await
        .unwrap();
    for i in 0..n {
        producer
            .send(Message::new(topic, format!("lag {i}")))
            .await
            .unwrap();
    }
    producer.shutdown().await;
}

/// A consumer of `topic` from the first offset that reports each message it handled.
async fn consumer(group: &str, topic: &str) -> (PushConsumer, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let consumer = PushConsumer::builder(group)
        .client(ClientConfig::new().name_server(&namesrv()))
        .subscribe(topic, "*")
        .consume_from(ConsumeFrom::FirstOffset)
        .handler(move |messages, _context| {
            let tx = tx.clone();
            async move {
                for m in messages {
                    let _ = tx.send(m.msg_id().to_string());
                }
                ConsumeResult::Success
            }
        })
        .start()
        .await
        .unwrap();
    (consumer, rx)
}

async fn receive(rx: &mut mpsc::UnboundedReceiver<String>, n: usize) {
    let mut ids = std::collections::BTreeSet::new();
    while ids.len() < n {
        let id = tokio::time::timeout(LONG, rx.recv())
            .await
            .expect("the messages sent arrive")
            .unwrap();
        ids.insert(id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rmq_lag_says_what_mqadmin_consumer_progress_says() {
    const CONSUMED: usize = 20;
    const BEHIND: usize = 15;
    let topic = unique("Lag");
    create_topic(&topic, 4).await;
    let group = unique("cg_lag");
    send(&topic, CONSUMED).await;
    // Consume everything there is, then stop: the offsets are persisted at shutdown and stay.
    let (consumer, mut rx) = consumer(&group, &topic).await;
    receive(&mut rx, CONSUMED).await;
    consumer.shutdown().await;
    send(&topic, BEHIND).await;
    // The broker builds its consume queues just after SEND_OK: wait until its max offsets
    // count every message, as mqadmin would see them.
    let admin = Admin::new(&ClientConfig::new().name_server(&namesrv())).unwrap();
    let all_stored = wait_for(LONG, || async {
        let mut stored = 0;
        for q in admin.queues(&topic).await.ok()? {
            stored += admin.max_offset(&q).await.ok()?;
        }
        (stored == (CONSUMED + BEHIND) as i64).then_some(())
    })
    .await;
    admin.close().await;
    assert!(
        all_stored.is_some(),
        "the broker's consume queues never counted every message"
    );

    let json = rmq(&["lag", "-n", &namesrv(), "--group", &group, "--json"]).await;
    let doc: serde_json::Value = serde_json::from_str(&json).expect("one JSON document");
    let mut ours = Rows::new();
    for q in doc["queues"].as_array().expect("a queues array") {
        let (broker_offset, consumer_offset) = (
            q["broker_offset"].as_i64().unwrap(),
            q["consumer_offset"].as_i64().unwrap(),
        );
        let lag = q["lag"].as_i64().unwrap();
        assert_eq!(lag, broker_offset - consumer_offset, "{q}");
        ours.insert(
            (
                q["topic"].as_str().unwrap().to_string(),
                q["broker"].as_str().unwrap().to_string(),
                q["queue_id"].as_i64().unwrap(),
            ),
            (broker_offset, consumer_offset, lag),
        );
    }
    let total_lag = doc["total_lag"].as_i64().expect("total_lag");
    // Of the topic: 8 queues over two brokers, everything sent stored, exactly the second
    // batch behind.
    let topic_rows: Vec<_> = ours.iter().filter(|((t, _, _), _)| *t == topic).collect();
    assert_eq!(topic_rows.len(), 8, "{json}");
    let stored: i64 = topic_rows.iter().map(|(_, (b, _, _))| b).sum();
    assert_eq!(stored, (CONSUMED + BEHIND) as i64, "{json}");
    let behind: i64 = topic_rows.iter().map(|(_, (_, _, lag))| lag).sum();
    assert_eq!(behind, BEHIND as i64, "{json}");
    assert_eq!(total_lag, ours.values().map(|(_, _, lag)| lag).sum::<i64>());

    let text = mqadmin(&["consumerProgress", "-n", &namesrv(), "-g", &group]).await;
    let (theirs, their_total) = parse_mqadmin_progress(&text);
    assert_eq!(ours, theirs, "rmq lag:\n{json}\nmqadmin:\n{text}");
    assert_eq!(Some(total_lag), their_total, "mqadmin:\n{text}");

    // --topic narrows to that topic, and the text form shows the same total.
    let text = rmq(&["lag", "-n", &namesrv(), "-g", &group, "-t", &topic]).await;
    assert!(
        text.lines()
            .any(|l| l.trim() == format!("total lag: {BEHIND}")),
        "{text}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with(topic.as_str()))
            .count(),
        8,
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rmq_lag_of_an_unknown_group_fails_and_a_bad_group_is_a_usage_error() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rmq"))
        .args(["lag", "-n", &namesrv(), "--group", &unique("cg_nobody")])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rmq"))
        .args(["lag", "-n", &namesrv(), "--group", "no spaces allowed"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The numbers of `topic`'s row in the "#Consumer RT&TPS#" section of `formatString()`:
/// pull RT, pull TPS, consume RT, consume OK TPS, consume failed TPS, failed msgs in hour.
fn rt_tps_row(text: &str, topic: &str) -> Option<Vec<f64>> {
    let section = text.split("#Consumer RT&TPS#").nth(1)?;
    section.lines().find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.first() != Some(&topic) || cols.len() < 7 {
            return None;
        }
        cols[1..7].iter().map(|c| c.parse().ok()).collect()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mqadmin_consumer_status_and_connection_read_a_running_rust_consumer() {
    let topic = unique("LagStatus");
    create_topic(&topic, 2).await;
    let group = unique("cg_status");
    let (consumer, mut rx) = consumer(&group, &topic).await;
    let client_id = consumer.client_id().to_string();
    send(&topic, 30).await;
    receive(&mut rx, 30).await;

    let text = mqadmin(&["consumerConnection", "-n", &namesrv(), "-g", &group]).await;
    assert!(text.contains(&client_id), "{text}");
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().eq([topic.as_str(), "*"])),
        "{text}"
    );
    assert!(text.contains("CONSUME_PASSIVELY"), "{text}");
    assert!(text.contains("CLUSTERING"), "{text}");

    let text = mqadmin(&["consumerStatus", "-n", &namesrv(), "-g", &group]).await;
    assert!(text.contains(&client_id), "{text}");
    assert!(text.contains("Same subscription"), "{text}");

    // The statistics are sampled every 10 s: once a sample after the consumption was taken,
    // the minute window shows it.
    let row = wait_for(LONG, || async {
        let text = mqadmin(&[
            "consumerStatus",
            "-n",
            &namesrv(),
            "-g",
            &group,
            "-i",
            &client_id,
        ])
        .await;
        assert!(text.contains("#Consumer Subscription#"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.contains("Topic:") && l.contains(topic.as_str())),
            "{text}"
        );
        assert!(text.contains("PROP_CONSUME_TYPE"), "{text}");
        rt_tps_row(&text, &topic).filter(|row| row[1] > 0.0 && row[3] > 0.0)
    })
    .await
    .expect("consumerStatus shows non-zero pull and consume TPS");
    assert_eq!(row[4], 0.0, "nothing failed: {row:?}");
    assert_eq!(row[5], 0.0, "nothing failed: {row:?}");
    consumer.shutdown().await;
}
