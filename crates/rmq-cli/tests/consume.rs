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
