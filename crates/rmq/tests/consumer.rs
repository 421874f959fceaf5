//! The push consumer against the real local RocketMQ (started by the README's test command).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::broker::{api, create_topic, namesrv, unique, wait_for};
use rmq::{
    AllocateStrategy, ClientConfig, ConsumeFrom, ConsumeResult, Message, MessageExt, MessageQueue,
    Producer, PushConsumer, PushConsumerBuilder,
};
use tokio::sync::mpsc;

const LONG: Duration = Duration::from_secs(90);

fn client(instance: &str) -> ClientConfig {
    ClientConfig::new()
        .name_server(&namesrv())
        .instance_name(instance)
}

/// A consumer builder whose handler forwards every delivery to the returned channel and
/// answers with `answer`.
fn forwarding(
    group: &str,
    instance: &str,
    topic: &str,
    answer: impl Fn(&MessageExt) -> ConsumeResult + Send + Sync + 'static,
) -> (
    PushConsumerBuilder,
    mpsc::UnboundedReceiver<(MessageQueue, MessageExt)>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let answer = Arc::new(answer);
    let builder = PushConsumer::builder(group)
        .client(client(instance))
        .subscribe(topic, "*")
        .consume_from(ConsumeFrom::FirstOffset)
        .handler(move |messages, context| {
            let tx = tx.clone();
            let answer = Arc::clone(&answer);
            async move {
                let mut result = ConsumeResult::Success;
                for m in messages {
                    if answer(&m) != ConsumeResult::Success {
                        result = answer(&m);
                    }
                    let _ = tx.send((context.queue.clone(), m));
                }
                result
            }
        });
    (builder, rx)
}

async fn producer(group: &str) -> Producer {
    Producer::builder(group)
        .client(client(&unique("p")))
        .start()
        .await
        .unwrap()
}

/// Receives until `n` deliveries arrived (fails after `LONG`).
async fn receive(
    rx: &mut mpsc::UnboundedReceiver<(MessageQueue, MessageExt)>,
    n: usize,
) -> Vec<(MessageQueue, MessageExt)> {
    let mut got = Vec::new();
    while got.len() < n {
        match tokio::time::timeout(LONG, rx.recv()).await {
            Ok(Some(m)) => got.push(m),
            _ => panic!("only {} of {n} deliveries arrived", got.len()),
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_consumer_receives_every_field_of_what_was_sent() {
    let api = api().await;
    let topic = unique("ConsumeFields");
    create_topic(&api, &topic, 4).await;
    let group = unique("cg_fields");
    let (builder, mut rx) = forwarding(&group, "fields", &topic, |_| ConsumeResult::Success);
    let consumer = builder.start().await.unwrap();
    let producer = producer(&unique("pg_fields")).await;
    let mut sent = HashMap::new();
    let binary: Vec<u8> = (0..=255u8).collect();
    let messages = vec![
        Message::new(&topic, "plain"),
        Message::new(&topic, "tagged")
            .with_tags("TagA")
            .with_key("k1"),
        Message::new(&topic, "keys").with_key("k2").with_key("k3"),
        Message::new(&topic, "props")
            .with_property("color", "blue")
            .with_property("unicode", "π≈3.14"),
        Message::new(&topic, binary.clone()),
        Message::new(&topic, "compressible ".repeat(2000)),
        Message::new(&topic, "flagged").with_flag(42),
    ];
    for m in &messages {
        let r = producer.send(m.clone()).await.unwrap();
        sent.insert(r.msg_id.clone(), (m.clone(), r));
    }
    let got = receive(&mut rx, messages.len()).await;
    for (queue, m) in &got {
        let (original, result) = sent
            .get(m.msg_id())
            .unwrap_or_else(|| panic!("unexpected message {}", m.msg_id()));
        assert_eq!(m.topic, topic);
        assert_eq!(m.body, original.body, "{}", m.msg_id());
        assert_eq!(m.tags(), original.tags.as_deref());
        let keys = (!original.keys.is_empty()).then(|| original.keys.join(" "));
        assert_eq!(m.keys(), keys.as_deref());
        for (k, v) in &original.properties {
            assert_eq!(m.property(k), Some(v.as_str()), "{k}");
        }
        assert_eq!(m.flag, original.flag);
        assert_eq!(m.reconsume_times, 0);
        assert_eq!(*queue, result.queue);
        assert_eq!(m.queue_id, result.queue.queue_id);
        assert_eq!(m.queue_offset, result.queue_offset);
        assert_eq!(m.offset_msg_id, result.offset_msg_id);
        assert!(m.store_timestamp >= m.born_timestamp);
        assert!(m.born_host.ip().is_ipv4() || m.born_host.ip().is_ipv6());
    }
    let ids: BTreeSet<&str> = got.iter().map(|(_, m)| m.msg_id()).collect();
    assert_eq!(ids.len(), messages.len(), "each message once");
    producer.shutdown().await;
    consumer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn later_twice_then_success_comes_back_with_reconsume_times_one_and_two() {
    let api = api().await;
    let topic = unique("ConsumeLater");
    create_topic(&api, &topic, 2).await;
    let group = unique("cg_later");
    let (builder, mut rx) = forwarding(&group, "later", &topic, |m| {
        if m.reconsume_times < 2 {
            // Level 1: a second's delay, to keep the test short.
            ConsumeResult::Later { delay_level: 1 }
        } else {
            ConsumeResult::Success
        }
    });
    let consumer = builder.start().await.unwrap();
    let producer = producer(&unique("pg_later")).await;
    let sent = producer
        .send(Message::new(&topic, "retry me").with_tags("T"))
        .await
        .unwrap();
    let got = receive(&mut rx, 3).await;
    let times: Vec<i32> = got.iter().map(|(_, m)| m.reconsume_times).collect();
    assert_eq!(times, vec![0, 1, 2]);
    for (_, m) in &got {
        assert_eq!(m.msg_id(), sent.msg_id, "the same message id each time");
        assert_eq!(m.topic, topic, "the original topic, not the retry topic");
        assert_eq!(&m.body[..], b"retry me");
        assert_eq!(m.tags(), Some("T"));
    }
    producer.shutdown().await;
    consumer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_always_answered_later_ends_in_the_dead_letter_topic() {
    let api = api().await;
    let topic = unique("ConsumeDlq");
    create_topic(&api, &topic, 2).await;
    let group = unique("cg_dlq");
    let (builder, mut rx) = forwarding(&group, "dlq", &topic, |_| ConsumeResult::Later {
        delay_level: 1,
    });
    let consumer = builder.max_reconsume_times(1).start().await.unwrap();
    let producer = producer(&unique("pg_dlq")).await;
    let sent = producer
        .send(Message::new(&topic, "poison").with_key("poison-key"))
        .await
        .unwrap();
    // The first delivery and one retry.
    let got = receive(&mut rx, 2).await;
    assert_eq!(
        got.iter()
            .map(|(_, m)| m.reconsume_times)
            .collect::<Vec<_>>(),
        vec![0, 1]
    );
    // Read it back from %DLQ%<group> with a second consumer group.
    let dlq = format!("%DLQ%{group}");
    let (reader, mut dlq_rx) = forwarding(&unique("cg_dlq_reader"), "dlq-reader", &dlq, |_| {
        ConsumeResult::Success
    });
    let reader = reader.start().await.unwrap();
    let (_, dead) = receive(&mut dlq_rx, 1).await.remove(0);
    assert_eq!(dead.msg_id(), sent.msg_id);
    assert_eq!(&dead.body[..], b"poison");
    assert_eq!(dead.keys(), Some("poison-key"));
    reader.shutdown().await;
    producer.shutdown().await;
    consumer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_consumers_of_one_group_split_the_queues_as_java_allocates_and_handle_each_message_once(
) {
    let api = api().await;
    let topic = unique("ConsumeSplit");
    create_topic(&api, &topic, 8).await;
    let group = unique("cg_split");
    let counts: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let mut consumers = Vec::new();
    for instance in ["split-a", "split-b"] {
        let counts = Arc::clone(&counts);
        let consumer = PushConsumer::builder(&group)
            .client(client(instance))
            .subscribe(&topic, "*")
            .consume_from(ConsumeFrom::FirstOffset)
            .handler(move |messages, _| {
                let counts = Arc::clone(&counts);
                async move {
                    for m in messages {
                        *counts
                            .lock()
                            .unwrap()
                            .entry(m.msg_id().to_string())
                            .or_default() += 1;
                    }
                    ConsumeResult::Success
                }
            })
            .start()
            .await
            .unwrap();
        consumers.push(consumer);
    }
    // Wait until the two assignments cover the topic's 8 queues without overlap.
    let topic_queues = |c: &PushConsumer| -> BTreeSet<MessageQueue> {
        c.assigned_queues()
            .into_iter()
            .filter(|q| q.topic == topic)
            .collect()
    };
    let split = wait_for(LONG, || async {
        let a = topic_queues(&consumers[0]);
        let b = topic_queues(&consumers[1]);
        (a.len() + b.len() == 8 && a.is_disjoint(&b) && !a.is_empty() && !b.is_empty())
            .then_some((a, b))
    })
    .await
    .expect("the group split the queues");
    // The same split Java's AllocateMessageQueueAveragely computes.
    let mq_all: Vec<MessageQueue> = split.0.union(&split.1).cloned().collect();
    let cid_all: Vec<String> = consumers
        .iter()
        .map(|c| c.client_id().to_string())
        .collect();
    for (consumer, owned) in consumers.iter().zip([&split.0, &split.1]) {
        let expected: BTreeSet<MessageQueue> = AllocateStrategy::Averagely
            .allocate(consumer.client_id(), &mq_all, &cid_all)
            .into_iter()
            .collect();
        assert_eq!(&expected, owned, "{}", consumer.client_id());
    }
    let producer = producer(&unique("pg_split")).await;
    let mut ids = BTreeSet::new();
    for i in 0..200 {
        let r = producer
            .send(Message::new(&topic, format!("m{i}")))
            .await
            .unwrap();
        ids.insert(r.msg_id);
    }
    let all_once = wait_for(LONG, || async {
        let counts = counts.lock().unwrap();
        (counts.len() == ids.len()).then(|| counts.clone())
    })
    .await
    .expect("every message handled");
    assert!(all_once.values().all(|n| *n == 1), "each exactly once");
    assert_eq!(all_once.keys().cloned().collect::<BTreeSet<_>>(), ids);
    producer.shutdown().await;
    for c in consumers {
        c.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_clean_shutdown_a_restart_handles_nothing_twice_and_misses_nothing() {
    let api = api().await;
    let topic = unique("ConsumeRestart");
    create_topic(&api, &topic, 4).await;
    let group = unique("cg_restart");
    let producer = producer(&unique("pg_restart")).await;
    let mut first = BTreeSet::new();
    for i in 0..40 {
        let r = producer
            .send(Message::new(&topic, format!("first {i}")))
            .await
            .unwrap();
        first.insert(r.msg_id);
    }
    let (builder, mut rx) = forwarding(&group, "restart", &topic, |_| ConsumeResult::Success);
    let consumer = builder.start().await.unwrap();
    let got: BTreeSet<String> = receive(&mut rx, 40)
        .await
        .into_iter()
        .map(|(_, m)| m.msg_id().to_string())
        .collect();
    assert_eq!(got, first);
    consumer.shutdown().await;

    let mut second = BTreeSet::new();
    for i in 0..40 {
        let r = producer
            .send(Message::new(&topic, format!("second {i}")))
            .await
            .unwrap();
        second.insert(r.msg_id);
    }
    let (builder, mut rx) = forwarding(&group, "restart", &topic, |_| ConsumeResult::Success);
    let consumer = builder.start().await.unwrap();
    // Per queue, older offsets come first: a message of the first round handled again would
    // arrive before the second round is complete.
    let got: Vec<String> = receive(&mut rx, 40)
        .await
        .into_iter()
        .map(|(_, m)| m.msg_id().to_string())
        .collect();
    assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), second);
    producer.shutdown().await;
    consumer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_group_on_a_young_queue_starts_at_its_first_message_whatever_consume_from_says() {
    // The broker answers "offset 0" for a group it has never seen when the queue's first
    // message is still in memory, so Java's consumers start there under every
    // consume-from setting; ours behave the same (a stored offset always wins).
    let api = api().await;
    let topic = unique("ConsumeFrom");
    create_topic(&api, &topic, 1).await;
    let producer = producer(&unique("pg_from")).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        let r = producer
            .send(Message::new(&topic, format!("old {i}")))
            .await
            .unwrap();
        sent.push(r.msg_id);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for from in [
        ConsumeFrom::LastOffset,
        ConsumeFrom::FirstOffset,
        ConsumeFrom::Timestamp(now),
    ] {
        let (builder, mut rx) = forwarding(&unique("cg_from"), "from", &topic, |_| {
            ConsumeResult::Success
        });
        let consumer = builder.consume_from(from).start().await.unwrap();
        // Handled concurrently: in any order, but all from offset 0.
        let got: BTreeSet<String> = receive(&mut rx, 5)
            .await
            .into_iter()
            .map(|(_, m)| m.msg_id().to_string())
            .collect();
        assert_eq!(
            got,
            sent.iter().cloned().collect::<BTreeSet<_>>(),
            "{from:?}"
        );
        consumer.shutdown().await;
    }
    producer.shutdown().await;
}

#[tokio::test]
async fn bad_consumer_settings_are_validation_errors_before_the_network() {
    use rmq::{Error, ValidationError};
    let base = || {
        PushConsumer::builder("g")
            .client(ClientConfig::new().name_server("127.0.0.1:1"))
            .handler(|_, _| async { ConsumeResult::Success })
    };
    let cases = [
        (base(), "subscribes to nothing"),
        (base().subscribe("T", "||"), "names no tag"),
        (base().subscribe("bad topic", "*"), "only"),
        (
            base().subscribe("T", "*").consume_batch_size(0),
            "consume batch size",
        ),
        (
            base().subscribe("T", "*").consume_concurrency(5000),
            "consume concurrency",
        ),
        (
            base().subscribe("T", "*").consume_timeout(Duration::MAX),
            "consume timeout",
        ),
        (
            PushConsumer::builder("DEFAULT_CONSUMER")
                .client(ClientConfig::new().name_server("127.0.0.1:1"))
                .subscribe("T", "*")
                .handler(|_, _| async { ConsumeResult::Success }),
            "reserved",
        ),
        (
            PushConsumer::builder("g")
                .client(ClientConfig::new().name_server("127.0.0.1:1"))
                .subscribe("T", "*"),
            "no message handler",
        ),
    ];
    for (builder, expected) in cases {
        let err = builder.start().await.unwrap_err();
        assert!(matches!(err, Error::Validation(_)), "{err}");
        assert!(err.to_string().contains(expected), "{expected}: {err}");
    }
    let _ = ValidationError::NoHandler;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_handler_that_panics_or_hangs_gets_the_message_again_and_the_consumer_lives() {
    let api = api().await;
    let topic = unique("ConsumeFaulty");
    create_topic(&api, &topic, 2).await;
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, i32)>();
    let consumer = PushConsumer::builder(unique("cg_faulty"))
        .client(client("faulty"))
        .subscribe(&topic, "*")
        .consume_from(ConsumeFrom::FirstOffset)
        .consume_timeout(Duration::from_millis(500))
        .handler(move |messages, _| {
            let tx = tx.clone();
            async move {
                for m in messages {
                    let body = String::from_utf8_lossy(&m.body).into_owned();
                    let _ = tx.send((body.clone(), m.reconsume_times));
                    if m.reconsume_times == 0 {
                        match body.as_str() {
                            "panic" => panic!("handler bug"),
                            "hang" => std::future::pending::<()>().await,
                            _ => {}
                        }
                    }
                }
                ConsumeResult::Success
            }
        })
        .start()
        .await
        .unwrap();
    let producer = producer(&unique("pg_faulty")).await;
    for body in ["panic", "hang", "fine"] {
        producer.send(Message::new(&topic, body)).await.unwrap();
    }
    // First deliveries, then the two faulty ones again (the broker's first retry delay is 10 s).
    let mut seen: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    while seen.values().map(Vec::len).sum::<usize>() < 5 {
        let (body, times) = tokio::time::timeout(LONG, rx.recv())
            .await
            .expect("deliveries continue")
            .unwrap();
        seen.entry(body).or_default().push(times);
    }
    assert_eq!(seen["panic"], vec![0, 1]);
    assert_eq!(seen["hang"], vec![0, 1]);
    assert_eq!(seen["fine"], vec![0]);
    producer.shutdown().await;
    consumer.shutdown().await;
}
