//! Namespaces end to end against the real local RocketMQ (started by the README's test
//! command): namespaced clients use plain names, the broker stores and knows the wrapped ones
//! (`<ns>%<topic>`, `<ns>%<group>`, `%RETRY%<ns>%<group>`), as Java's `NamespaceUtil` builds
//! them.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::broker::{api, broker_a, broker_b, create_topic_on, namesrv, unique, wait_for};
use rmq::{
    Admin, ClientConfig, ConsumeFrom, ConsumeResult, LitePullConsumer, Message, MessageExt,
    MessageQueue, Producer, PushConsumer,
};
use tokio::sync::mpsc;

const LONG: Duration = Duration::from_secs(90);

fn plain() -> ClientConfig {
    ClientConfig::new().name_server(&namesrv())
}

fn namespaced(ns: &str) -> ClientConfig {
    plain().namespace(ns).instance_name(unique("ns"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn namespaced_clients_see_plain_names_and_the_broker_the_wrapped_ones() {
    let api = api().await;
    let ns = unique("ns").replace('_', "-");
    let topic = unique("NsTopic");
    let group = unique("cg_ns");
    let wire_topic = format!("{ns}%{topic}");
    let wire_group = format!("{ns}%{group}");
    // The topic exists only under its wrapped name.
    create_topic_on(&api, &[broker_a(), broker_b()], &wire_topic, 2).await;

    // A push consumer: the first delivery of "retry-me" answers "later" (1 s).
    let (tx, mut rx) = mpsc::unbounded_channel::<(MessageQueue, MessageExt)>();
    let retried = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&retried);
    let consumer = PushConsumer::builder(&group)
        .client(namespaced(&ns))
        .subscribe(&topic, "*")
        .consume_from(ConsumeFrom::FirstOffset)
        .handler(move |messages, context| {
            let tx = tx.clone();
            let flag = Arc::clone(&flag);
            async move {
                let mut result = ConsumeResult::Success;
                for m in messages {
                    if m.body.as_ref() == b"retry-me" && !flag.swap(true, Ordering::SeqCst) {
                        result = ConsumeResult::Later { delay_level: 1 };
                    }
                    let _ = tx.send((context.queue.clone(), m));
                }
                result
            }
        })
        .start()
        .await
        .unwrap();
    assert_eq!(consumer.group(), wire_group);

    let producer = Producer::builder(unique("pg_ns"))
        .client(namespaced(&ns))
        .start()
        .await
        .unwrap();
    let mut sent = Vec::new();
    for body in ["one", "two", "three", "retry-me"] {
        let r = producer
            .send(Message::new(&topic, body).with_key("nskey"))
            .await
            .unwrap();
        assert_eq!(
            r.queue.topic, topic,
            "the send result names the plain topic"
        );
        sent.push(r);
    }

    // Five deliveries: four messages, and "retry-me" again through the retry topic.
    let mut got = Vec::new();
    while got.len() < 5 {
        match tokio::time::timeout(LONG, rx.recv()).await {
            Ok(Some(d)) => got.push(d),
            _ => panic!("only {} of 5 deliveries arrived: {got:?}", got.len()),
        }
    }
    for (queue, m) in &got {
        assert_eq!(m.topic, topic, "the handler sees the plain topic");
        // A retry arrives from a queue of the group's retry topic, `%RETRY%<ns>%<group>` on
        // the wire; the context names it without the namespace, as every other queue.
        let expected = if m.reconsume_times > 0 {
            format!("%RETRY%{group}")
        } else {
            topic.clone()
        };
        assert_eq!(queue.topic, expected, "the context queue without namespace");
    }
    let retry: Vec<&MessageExt> = got
        .iter()
        .map(|(_, m)| m)
        .filter(|m| m.body.as_ref() == b"retry-me")
        .collect();
    assert_eq!(retry.len(), 2);
    assert_eq!(retry[1].reconsume_times, 1);
    assert_eq!(retry[1].msg_id(), retry[0].msg_id());
    let bodies: BTreeSet<&[u8]> = got.iter().map(|(_, m)| m.body.as_ref()).collect();
    assert_eq!(bodies.len(), 4);

    // The broker: messages stored under `<ns>%<topic>`, the retry topic is
    // `%RETRY%<ns>%<group>`, and the group it knows is `<ns>%<group>`.
    let plain_admin = Admin::new(&plain()).unwrap();
    let ns_admin = Admin::new(&plain().namespace(&ns)).unwrap();
    for r in &sent {
        let stored = plain_admin.view_message(&r.offset_msg_id).await.unwrap();
        assert_eq!(stored.topic, wire_topic);
        assert_eq!(stored.property("INSTANCE_ID"), Some(ns.as_str()));
        let seen = ns_admin.view_message(&r.offset_msg_id).await.unwrap();
        assert_eq!(seen.topic, topic);
    }
    plain_admin
        .topic_route(&format!("%RETRY%{wire_group}"))
        .await
        .expect("the retry topic of the wrapped group exists");
    ns_admin
        .topic_route(&format!("%RETRY%{group}"))
        .await
        .expect("and a namespaced admin finds it by the plain name");
    let progress = wait_for(LONG, || async {
        plain_admin
            .consume_progress(&wire_group, None)
            .await
            .ok()
            .filter(|p| {
                p.queues
                    .iter()
                    .filter(|q| q.queue.topic == wire_topic)
                    .map(|q| q.consumer_offset)
                    .sum::<i64>()
                    == 4
            })
    })
    .await
    .expect("the broker has the wrapped group's offsets of the wrapped topic: 4 in all");
    assert!(progress
        .queues
        .iter()
        .all(|q| q.queue.topic == wire_topic || q.queue.topic == format!("%RETRY%{wire_group}")));
    let seen = ns_admin.consume_progress(&group, None).await.unwrap();
    assert_eq!(seen.group, group);
    assert!(
        seen.queues
            .iter()
            .all(|q| q.queue.topic == topic || q.queue.topic == format!("%RETRY%{group}")),
        "{seen:?}"
    );
    assert_eq!(
        plain_admin
            .consume_progress(&group, None)
            .await
            .map(|p| p.queues.len())
            .unwrap_or(0),
        0,
        "the plain group is unknown to the broker"
    );

    // Query by key: the namespaced admin by the plain topic, the plain one by the wrapped.
    let found = wait_for(Duration::from_secs(20), || async {
        ns_admin
            .query_message(&topic, "nskey", 64, 0, i64::MAX)
            .await
            .ok()
            .filter(|f| f.len() == 4)
    })
    .await
    .expect("four messages by key");
    assert!(found.iter().all(|m| m.topic == topic));
    let found = plain_admin
        .query_message(&wire_topic, "nskey", 64, 0, i64::MAX)
        .await
        .unwrap();
    assert!(found.iter().all(|m| m.topic == wire_topic));
    // Offsets by the plain topic.
    let queues = ns_admin.queues(&topic).await.unwrap();
    assert_eq!(queues.len(), 4);
    let mut total = 0;
    for q in &queues {
        assert_eq!(q.topic, topic);
        total += ns_admin.max_offset(q).await.unwrap();
    }
    assert_eq!(total, 4);

    // A namespaced lite pull consumer reads the same four by the plain topic.
    let lite = LitePullConsumer::builder(unique("cg_ns_lite"))
        .client(namespaced(&ns))
        .auto_commit(false)
        .start()
        .await
        .unwrap();
    let lite_queues = lite.queues(&topic).await.unwrap();
    assert_eq!(lite_queues, queues, "the plain topic's queues");
    lite.assign(lite_queues.clone()).await.unwrap();
    assert_eq!(lite.assignment(), lite_queues);
    for q in &lite_queues {
        lite.seek_to_begin(q).await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + LONG;
    let mut pulled = Vec::new();
    while pulled.len() < 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "lite pull got {pulled:?}"
        );
        pulled.extend(lite.poll(Duration::from_secs(1)).await.unwrap());
    }
    assert_eq!(pulled.len(), 4);
    assert!(pulled.iter().all(|m| m.topic == topic), "{pulled:?}");

    lite.shutdown().await;
    producer.shutdown().await;
    consumer.shutdown().await;
    plain_admin.close().await;
    ns_admin.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_queue_and_selector_sends_are_wrapped_on_the_wire_and_plain_in_results() {
    let api = api().await;
    let ns = unique("nsb").replace('_', "-");
    let topic = unique("NsSends");
    let wire_topic = format!("{ns}%{topic}");
    create_topic_on(&api, &[broker_a()], &wire_topic, 2).await;
    let producer = Producer::builder(unique("pg_nsb"))
        .client(namespaced(&ns))
        .start()
        .await
        .unwrap();
    let mut results = Vec::new();
    results.push(
        producer
            .send_batch(vec![
                Message::new(&topic, "batch-0"),
                Message::new(&topic, "batch-1"),
            ])
            .await
            .unwrap(),
    );
    let queue = MessageQueue::new(&topic, "broker-a", 1);
    let to_queue = producer
        .send_to_queue(Message::new(&topic, "to-queue"), &queue)
        .await
        .unwrap();
    assert_eq!(to_queue.queue, queue);
    results.push(to_queue);
    let selected = producer
        .send_with_selector(
            Message::new(&topic, "selected"),
            &rmq::SelectByHash,
            "order-1",
        )
        .await
        .unwrap();
    results.push(selected);
    let plain_admin = Admin::new(&plain()).unwrap();
    for r in &results {
        assert_eq!(r.queue.topic, topic, "{r:?}");
        for id in r.offset_msg_id.split(',') {
            let stored = plain_admin.view_message(id).await.unwrap();
            assert_eq!(stored.topic, wire_topic, "{id}");
        }
    }
    let total: i64 = {
        let mut sum = 0;
        for q in plain_admin.queues(&wire_topic).await.unwrap() {
            sum += plain_admin.max_offset(&q).await.unwrap();
        }
        sum
    };
    assert_eq!(total, 4, "two in the batch, one to a queue, one selected");
    producer.shutdown().await;
    plain_admin.close().await;
}

/// Java's own (non-namespaced) lite pull consumer, `scripts/java-consume`, reads `<ns>%<topic>`:
/// the messages a namespaced Rust producer sent to the plain topic, under the wrapped topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plain_java_consumer_reads_the_wrapped_topic() {
    let api = api().await;
    let ns = unique("nsj").replace('_', "-");
    let topic = unique("NsJava");
    let wire_topic = format!("{ns}%{topic}");
    create_topic_on(&api, &[broker_a()], &wire_topic, 2).await;
    let producer = Producer::builder(unique("pg_nsj"))
        .client(namespaced(&ns))
        .start()
        .await
        .unwrap();
    let mut sent = BTreeSet::new();
    for i in 0..3 {
        let r = producer
            .send(Message::new(&topic, format!("java-{i}")))
            .await
            .unwrap();
        sent.insert(r.msg_id);
    }
    producer.shutdown().await;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/java-consume");
    let out = tokio::process::Command::new("bash")
        .arg(script)
        .arg(common::broker::version())
        .arg(namesrv())
        .arg(&wire_topic)
        .arg("3")
        .arg("60000")
        .stderr(std::process::Stdio::inherit())
        .output()
        .await
        .expect("scripts/java-consume runs (needs a JDK and Maven)");
    assert!(
        out.status.success(),
        "Java consumer failed: {:?}",
        out.status
    );
    let mut got = BTreeSet::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        if !line.starts_with('{') {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["topic"], wire_topic.as_str(), "{v}");
        got.insert(v["msg_id"].as_str().unwrap().to_string());
    }
    assert_eq!(got, sent);
}

/// Pop (5.x): a namespaced pop consumer pops `<ns>%<topic>` as `<ns>%<group>`; the handler sees
/// the plain topic, also for a message that came back through the pop retry topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_namespaced_pop_consumer_sees_plain_names() {
    if common::broker::is_v4() {
        println!(
            "skipped on RocketMQ {}: pop needs a 5.x broker",
            common::broker::version()
        );
        return;
    }
    let api = api().await;
    let ns = unique("nsp").replace('_', "-");
    let topic = unique("NsPop");
    let group = unique("cg_nsp");
    let wire_topic = format!("{ns}%{topic}");
    let wire_group = format!("{ns}%{group}");
    create_topic_on(&api, &[broker_a(), broker_b()], &wire_topic, 2).await;
    let (tx, mut rx) = mpsc::unbounded_channel::<(MessageQueue, MessageExt)>();
    let consumer = PushConsumer::builder(&group)
        .client(namespaced(&ns))
        .subscribe(&topic, "*")
        .consume_from(ConsumeFrom::FirstOffset)
        .pop(rmq::PopOptions::new())
        .handler(move |messages, context| {
            let tx = tx.clone();
            async move {
                let mut result = ConsumeResult::Success;
                for m in messages {
                    if m.body.as_ref() == b"pop-retry" && m.reconsume_times == 0 {
                        result = ConsumeResult::Later { delay_level: 1 };
                    }
                    let _ = tx.send((context.queue.clone(), m));
                }
                result
            }
        })
        .start()
        .await
        .unwrap();
    assert_eq!(consumer.group(), wire_group);
    let producer = Producer::builder(unique("pg_nsp"))
        .client(namespaced(&ns))
        .start()
        .await
        .unwrap();
    for body in ["pop-plain", "pop-retry"] {
        producer.send(Message::new(&topic, body)).await.unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 3 {
        match tokio::time::timeout(LONG, rx.recv()).await {
            Ok(Some(d)) => got.push(d),
            _ => panic!("only {} of 3 pop deliveries arrived: {got:?}", got.len()),
        }
    }
    for (queue, m) in &got {
        assert_eq!(m.topic, topic, "the handler sees the plain topic");
        assert!(
            !queue.topic.contains(&format!("{ns}%")),
            "the context queue carries no namespace: {queue:?}"
        );
    }
    let again = got
        .iter()
        .filter(|(_, m)| m.body.as_ref() == b"pop-retry")
        .count();
    assert_eq!(again, 2, "the retried message came back once");
    producer.shutdown().await;
    consumer.shutdown().await;
}
