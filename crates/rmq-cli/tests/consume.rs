//! `rmq consume` against the real local RocketMQ: a member killed without shutdown (the CLI
//! in its own process) is replaced by the group's other member, and nothing is lost.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use rmq::{
    Admin, ClientConfig, ConsumeFrom, ConsumeResult, Message, MessageQueue, Producer, PushConsumer,
};
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

/// Creates `topic` on broker-a and waits until the name server routes it.
async fn create_topic(topic: &str, queues: i32) {
    let admin = Admin::new(&ClientConfig::new().name_server(&namesrv())).unwrap();
    let broker = std::env::var("RMQ_BROKER_A").unwrap_or_else(|_| "127.0.0.1:10911".to_string());
    admin
        .create_topic(&broker, topic, queues)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "no RocketMQ at {} ({e}): run scripts/rocketmq start or the README's test command",
                namesrv()
            )
        });
    wait_for(LONG, || async { admin.topic_route(topic).await.ok() })
        .await
        .expect("route of the new topic");
    admin.close().await;
}

/// Polls `check` every 100 ms until it yields a value or `limit` passes.
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
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn consumer_of(
    group: &str,
    instance: &str,
    topic: &str,
) -> (
    rmq::PushConsumerBuilder,
    mpsc::UnboundedReceiver<(MessageQueue, rmq::MessageExt)>,
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
async fn a_member_killed_without_shutdown_is_replaced_and_nothing_is_lost() {
    let topic = unique("KilledMember");
    create_topic(&topic, 4).await;
    let group = unique("cg_killed");
    // The member to kill: the CLI in its own process, consuming until killed.
    let mut doomed = tokio::process::Command::new(env!("CARGO_BIN_EXE_rmq"))
        .args([
            "consume",
            "-n",
            &namesrv(),
            "--group",
            &group,
            "--topic",
            &topic,
            "--from",
            "first",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the rmq binary runs");
    let (builder, mut rx) = consumer_of(&group, "survivor", &topic);
    let survivor = builder.start().await.unwrap();
    // The group has two members: the survivor owns about half of the queues.
    let half = wait_for(LONG, || async {
        let ours = survivor
            .assigned_queues()
            .into_iter()
            .filter(|q| q.topic == topic)
            .count();
        (ours == 2).then_some(ours)
    })
    .await;
    assert_eq!(half, Some(2), "the group split the queues");
    doomed.kill().await.unwrap();
    // The broker sees the connection close and notifies the survivor, which takes over.
    let all = wait_for(LONG, || async {
        let ours = survivor
            .assigned_queues()
            .into_iter()
            .filter(|q| q.topic == topic)
            .count();
        (ours == 4).then_some(ours)
    })
    .await;
    assert_eq!(all, Some(4), "the survivor took over every queue");
    let producer = Producer::builder(unique("pg_killed"))
        .client(ClientConfig::new().name_server(&namesrv()))
        .start()
        .await
        .unwrap();
    let mut ids = BTreeSet::new();
    for i in 0..40 {
        ids.insert(
            producer
                .send(Message::new(&topic, format!("after {i}")))
                .await
                .unwrap()
                .msg_id,
        );
    }
    let mut got = BTreeSet::new();
    while !ids.is_subset(&got) {
        let (_, m) = tokio::time::timeout(LONG, rx.recv())
            .await
            .expect("every message sent after the kill arrives")
            .unwrap();
        got.insert(m.msg_id().to_string());
    }
    producer.shutdown().await;
    survivor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consume_with_pop_prints_what_was_sent_on_5x_and_names_the_version_on_4x() {
    let topic = unique("CliPop");
    create_topic(&topic, 4).await;
    let producer = Producer::builder(unique("pg_cli_pop"))
        .client(ClientConfig::new().name_server(&namesrv()))
        .start()
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        let sent = producer
            .send(Message::new(&topic, format!("pop {i}")))
            .await
            .unwrap();
        ids.push(sent.msg_id);
    }
    producer.shutdown().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rmq"))
        .args([
            "consume",
            "-n",
            &namesrv(),
            "--group",
            &unique("cg_cli_pop"),
            "--topic",
            &topic,
            "--from",
            "first",
            "--pop",
            "--count",
            "3",
            "--timeout",
            "90",
        ])
        .output()
        .await
        .expect("the rmq binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let v4 = std::env::var("ROCKETMQ_VERSION").is_ok_and(|v| v.starts_with('4'));
    if v4 {
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("pop needs RocketMQ 5.x"), "{stderr}");
        return;
    }
    assert!(out.status.success(), "{stderr}");
    for id in &ids {
        assert!(stdout.contains(id.as_str()), "{id} missing from {stdout}");
    }
}

/// Runs `rmq consume` with `extra` arguments until `count` messages were printed as JSON.
async fn cli_consume(
    group: &str,
    topic: &str,
    count: usize,
    extra: &[&str],
) -> Vec<serde_json::Value> {
    let mut args: Vec<String> = [
        "consume",
        "--group",
        group,
        "--topic",
        topic,
        "--from",
        "first",
        "--timeout",
        "90",
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend([
        "-n".to_string(),
        namesrv(),
        "--count".to_string(),
        count.to_string(),
    ]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rmq"))
        .args(&args)
        .output()
        .await
        .expect("the rmq binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rmq {args:?}: {stderr}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consume_orderly_prints_each_queue_in_order_and_sql_and_broadcast_filter_and_fan_out() {
    let topic = unique("CliOrderly");
    create_topic(&topic, 4).await;
    let producer = Producer::builder(unique("pg_cli_orderly"))
        .client(ClientConfig::new().name_server(&namesrv()))
        .start()
        .await
        .unwrap();
    for i in 0..40 {
        let color = if i % 4 == 0 { "blue" } else { "red" };
        producer
            .send(
                Message::new(&topic, format!("m-{i}"))
                    .with_property("n", i.to_string())
                    .with_property("color", color),
            )
            .await
            .unwrap();
    }
    producer.shutdown().await;

    // --orderly: within each queue, offsets strictly increase in print order.
    let printed = cli_consume(&unique("cg_cli_orderly"), &topic, 40, &["--orderly"]).await;
    let mut last: std::collections::BTreeMap<(String, i64), i64> = Default::default();
    for m in &printed {
        let queue = (
            m["broker"].as_str().unwrap_or_default().to_string(),
            m["queue_id"].as_i64().unwrap(),
        );
        let offset = m["queue_offset"].as_i64().unwrap();
        if let Some(prev) = last.insert(queue.clone(), offset) {
            assert!(offset > prev, "{queue:?}: {offset} printed after {prev}");
        }
    }
    assert_eq!(last.len(), 4, "every queue was read");

    // --sql: only the blue ones with n >= 20.
    let printed = cli_consume(
        &unique("cg_cli_sql"),
        &topic,
        5,
        &["--sql", "color = 'blue' AND n >= 20"],
    )
    .await;
    let mut bodies: Vec<String> = printed
        .iter()
        .map(|m| m["body"].as_str().unwrap_or_default().to_string())
        .collect();
    bodies.sort();
    assert_eq!(bodies, ["m-20", "m-24", "m-28", "m-32", "m-36"]);

    // --broadcast: two members of one group both print all 40.
    let group = unique("cg_cli_bcast");
    let dir = std::env::temp_dir().join(unique("rmq-cli-bcast-offsets"));
    let dir_arg = dir.to_string_lossy().to_string();
    let m1 = [
        "--broadcast",
        "--instance-name",
        "m1",
        "--offset-dir",
        &dir_arg,
    ];
    let m2 = [
        "--broadcast",
        "--instance-name",
        "m2",
        "--offset-dir",
        &dir_arg,
    ];
    let (a, b) = tokio::join!(
        cli_consume(&group, &topic, 40, &m1),
        cli_consume(&group, &topic, 40, &m2),
    );
    let ids = |v: &[serde_json::Value]| -> BTreeSet<String> {
        v.iter()
            .map(|m| m["msg_id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(ids(&a).len(), 40);
    assert_eq!(ids(&a), ids(&b));
    assert!(
        std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0) == 2,
        "one offsets directory per member in {dir:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
