//! Runs every example against the real local RocketMQ (started by the README's test command),
//! each on a fresh topic created first, and checks what it printed.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn namesrv() -> String {
    std::env::var("RMQ_NAMESRV").unwrap_or_else(|_| "127.0.0.1:9876".to_string())
}

/// `target/<profile>/examples/<name>`, built by `cargo test` next to this test's binary.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory");
    dir.join("examples").join(name)
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{}_{}", std::process::id(), nanos % 1_000_000_000)
}

/// Creates `topic` with 4 queues on every master and waits until the name server routes it.
fn create_topic(topic: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let admin = rmq::Admin::new(&rmq::ClientConfig::new().name_server(&namesrv())).unwrap();
        let cluster = admin.cluster_info().await.unwrap_or_else(|e| {
            panic!(
                "no RocketMQ name server at {} ({e}). Start one with `scripts/rocketmq start` \
                 or run the README's test command, which does.",
                namesrv()
            )
        });
        let masters: Vec<String> = cluster
            .broker_addr_table
            .values()
            .filter_map(|b| b.master_addr().map(str::to_string))
            .collect();
        for addr in &masters {
            admin.create_topic(addr, topic, 4).await.unwrap();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(route) = admin.topic_route(topic).await {
                if route.queue_datas.len() == masters.len() {
                    break;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "route of {topic} never appeared"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        admin.close().await;
    });
}

/// Runs `name` on a fresh topic; returns its standard output.
fn run(name: &str) -> String {
    let topic = unique(name);
    create_topic(&topic);
    run_on(name, &topic, &[])
}

/// Runs `name` on `topic` with extra environment variables.
fn run_on(name: &str, topic: &str, env: &[(&str, &str)]) -> String {
    let out = Command::new(example(name))
        .env("NAMESRV_ADDR", namesrv())
        .env("TOPIC", topic)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("run example {name}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn producer_sync_sends_ten_messages() {
    let out = run("producer_sync");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("SEND_OK")).count(),
        10,
        "{out}"
    );
}

#[test]
fn producer_concurrent_sends_a_hundred() {
    let out = run("producer_concurrent");
    assert_eq!(
        out.lines().filter(|l| l.contains("SEND_OK")).count(),
        100,
        "{out}"
    );
    assert!(out.contains("100 sent, 0 failed"), "{out}");
}

#[test]
fn transaction_producer_commits_rolls_back_and_answers_checks() {
    let out = run("transaction_producer");
    let sent: Vec<&str> = out.lines().filter(|l| l.starts_with("SEND_OK")).collect();
    assert_eq!(sent.len(), 10, "{out}");
    let local = |state: &str| sent.iter().filter(|l| l.ends_with(state)).count();
    // Indexes 0..10: i % 3 == 0 commit (4), 1 rollback (3), 2 unknown (3).
    assert_eq!(local("local=COMMIT_MESSAGE"), 4, "{out}");
    assert_eq!(local("local=ROLLBACK_MESSAGE"), 3, "{out}");
    assert_eq!(local("local=UNKNOW"), 3, "{out}");
    assert!(out.contains("all 3 pending transactions checked"), "{out}");
}

#[test]
fn producer_oneway_writes_ten() {
    let out = run("producer_oneway");
    assert!(out.contains("10 messages written one-way"), "{out}");
}

#[test]
fn producer_batch_stores_three_messages_in_one_request() {
    let out = run("producer_batch");
    let line = out.lines().next().unwrap_or_default();
    assert!(line.starts_with("SEND_OK"), "{out}");
    let ids = line
        .split("msg_ids=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert_eq!(ids.split(',').count(), 3, "{out}");
}

#[test]
fn producer_ordered_keeps_each_order_on_one_queue() {
    let out = run("producer_ordered");
    let mut queue_of = std::collections::HashMap::new();
    for line in out.lines() {
        let mut words = line.split_whitespace();
        assert_eq!(words.next(), Some("order"), "{line}");
        let order = words.next().unwrap().to_string();
        assert_eq!(words.next(), Some("SEND_OK"), "{line}");
        let queue = words.next().unwrap().to_string();
        let first = queue_of.entry(order).or_insert_with(|| queue.clone());
        assert_eq!(*first, queue, "{out}");
    }
    assert_eq!(queue_of.len(), 4, "{out}");
}

#[test]
fn consumer_push_handles_what_producer_sync_sent() {
    let topic = unique("consumer_push");
    create_topic(&topic);
    let sent = run_on("producer_sync", &topic, &[]);
    assert_eq!(
        sent.lines().filter(|l| l.starts_with("SEND_OK")).count(),
        10
    );
    let group = unique("cg_example");
    let out = run_on(
        "consumer_push",
        &topic,
        &[("COUNT", "10"), ("GROUP", &group)],
    );
    let received: std::collections::BTreeSet<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("Receive New Messages: "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    for line in sent.lines() {
        let id = line
            .split("msg_id=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        assert!(received.contains(id), "{id} not received:\n{out}");
    }
}

#[test]
fn consumer_lite_pull_polls_what_producer_sync_sent() {
    let topic = unique("consumer_lite_pull");
    create_topic(&topic);
    let sent = run_on("producer_sync", &topic, &[]);
    let group = unique("cg_lite_example");
    let out = run_on(
        "consumer_lite_pull",
        &topic,
        &[("COUNT", "10"), ("GROUP", &group)],
    );
    let received: std::collections::BTreeSet<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("Receive New Messages: "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let ids: Vec<&str> = sent
        .lines()
        .filter_map(|l| l.split("msg_id=").nth(1))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert_eq!(ids.len(), 10, "{sent}");
    for id in ids {
        assert!(received.contains(id), "{id} not polled:\n{out}");
    }
}

#[test]
fn consumer_orderly_handles_each_order_in_send_order() {
    let topic = unique("consumer_orderly");
    create_topic(&topic);
    let sent = run_on("producer_ordered", &topic, &[]);
    assert_eq!(sent.lines().filter(|l| l.starts_with("order ")).count(), 20);
    // The consumer subscribes to TagA || TagC || TagD: messages i with i % 5 in {0, 2, 3}.
    let group = unique("cg_orderly_example");
    let out = run_on(
        "consumer_orderly",
        &topic,
        &[("COUNT", "12"), ("GROUP", &group)],
    );
    // Within a queue, "Hello RocketMQ <i>" arrive with i increasing.
    let mut last: std::collections::BTreeMap<String, i64> = Default::default();
    let mut n = 0;
    for line in out
        .lines()
        .filter_map(|l| l.strip_prefix("Receive in order: "))
    {
        let queue = line.split(' ').next().unwrap().to_string();
        let i: i64 = line
            .rsplit("Hello RocketMQ ")
            .next()
            .unwrap()
            .trim_end_matches('"')
            .parse()
            .unwrap();
        assert!([0, 2, 3].contains(&(i % 5)), "{line}: filtered tag arrived");
        if let Some(prev) = last.insert(queue.clone(), i) {
            assert!(i > prev, "{queue}: {i} after {prev}\n{out}");
        }
        n += 1;
    }
    assert_eq!(n, 12, "{out}");
}

#[test]
fn consumer_broadcast_members_each_get_every_message() {
    let topic = unique("consumer_broadcast");
    create_topic(&topic);
    let sent = run_on("producer_sync", &topic, &[]);
    let ids: std::collections::BTreeSet<String> = sent
        .lines()
        .filter_map(|l| l.split("msg_id=").nth(1))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_string)
        .collect();
    assert_eq!(ids.len(), 10);
    let group = unique("cg_broadcast_example");
    let dir = std::env::temp_dir().join(unique("rmq-example-offsets"));
    let dir = dir.to_string_lossy().to_string();
    for instance in ["e1", "e2"] {
        let out = run_on(
            "consumer_broadcast",
            &topic,
            &[
                ("COUNT", "10"),
                ("GROUP", &group),
                ("INSTANCE", instance),
                ("OFFSET_DIR", &dir),
            ],
        );
        let got: std::collections::BTreeSet<String> = out
            .lines()
            .filter_map(|l| l.strip_prefix("Receive New Messages: "))
            .filter_map(|l| l.split(' ').next())
            .map(str::to_string)
            .collect();
        assert_eq!(got, ids, "{instance}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn consumer_sql92_gets_only_matching_messages() {
    let topic = unique("consumer_sql92");
    create_topic(&topic);
    // As Java's filter.SqlFilterProducer: tags TagA, TagB, TagC in turn and a = i.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let producer = rmq::Producer::builder(unique("pg_sql_example"))
            .client(rmq::ClientConfig::new().name_server(&namesrv()))
            .start()
            .await
            .unwrap();
        for i in 0..10 {
            let tag = ["TagA", "TagB", "TagC"][i % 3];
            producer
                .send(
                    rmq::Message::new(&topic, format!("Hello RocketMQ {i}"))
                        .with_tags(tag)
                        .with_property("a", i.to_string()),
                )
                .await
                .unwrap();
        }
        producer.shutdown().await;
    });
    // a in 0..=3 and tag A or B: i = 0, 1, 3.
    let group = unique("cg_sql_example");
    let out = run_on(
        "consumer_sql92",
        &topic,
        &[("COUNT", "3"), ("GROUP", &group)],
    );
    let mut got: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("Receive New Messages: "))
        .filter_map(|l| l.split("a=").nth(1))
        .filter_map(|l| l.split(' ').next())
        .collect();
    got.sort();
    assert_eq!(got, ["0", "1", "3"], "{out}");
}

#[test]
fn request_requester_gets_the_reply_of_request_responder() {
    let topic = unique("request");
    create_topic(&topic);
    let group = unique("cg_responder_example");
    // The responder first; the request waits until it is assigned the queues and answers.
    let responder = Command::new(example("request_responder"))
        .env("NAMESRV_ADDR", namesrv())
        .env("TOPIC", &topic)
        .env("GROUP", &group)
        .env("COUNT", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run example request_responder");
    let requester = run_on("request_requester", &topic, &[("TIMEOUT", "30000")]);
    assert!(
        requester.contains(r#"reply="reply message contents.""#),
        "{requester}"
    );
    let correlation = requester
        .split("correlation_id=")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .unwrap();
    assert_eq!(correlation.len(), 36, "{requester}");
    let out = responder.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "request_responder failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(r#"body="Hello world""#), "{stdout}");
    assert!(stdout.contains("sent: SEND_OK"), "{stdout}");
}

#[test]
fn trace_message_traces_every_send_and_every_handler_call() {
    let topic = unique("trace_message");
    create_topic(&topic);
    let group = unique("cg_trace_example");
    let out = run_on("trace_message", &topic, &[("GROUP", &group)]);
    let sent: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("SEND_OK"))
        .filter_map(|l| l.split("msg_id=").nth(1))
        .collect();
    assert_eq!(sent.len(), 3, "{out}");
    for id in &sent {
        assert!(out.contains(&format!("received msg_id={id}")), "{out}");
    }
    // One event per send; a before and an after event per handler call.
    assert!(
        out.contains("producer traces: 3 recorded, 0 dropped"),
        "{out}"
    );
    assert!(
        out.contains("consumer traces: 6 recorded, 0 dropped"),
        "{out}"
    );
    assert!(!out.contains("0 trace messages sent"), "{out}");
}
