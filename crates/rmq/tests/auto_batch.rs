//! Auto-batching against the real broker: concurrent single sends leave as batches, each
//! caller's result names its own message exactly as the Java consumer then reads it, batches
//! leave on count, on delay and at shutdown, failures reach every member, and what a batch
//! cannot carry still goes alone.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::broker::{api, create_topic, namesrv, unique, wait_for};
use common::java::java_consume_by_id;
use futures_util::future::join_all;
use rmq::{AutoBatch, Error, Message, MessageQueue, Producer, SendResult, SendStatus};

/// Longer than any test here waits for a batch it expects to leave for another reason.
const NEVER: Duration = Duration::from_secs(30);

async fn producer(group: &str, auto_batch: AutoBatch) -> Producer {
    Producer::builder(unique(group))
        .name_server(&namesrv())
        .send_timeout(Duration::from_secs(60))
        .auto_batch(auto_batch)
        .start()
        .await
        .unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The results grouped by the request that carried them: (queue, first offset) → count.
/// Members of one batch share the queue and have consecutive offsets.
fn batches(results: &[SendResult]) -> Vec<usize> {
    let mut sorted: Vec<(&MessageQueue, i64)> =
        results.iter().map(|r| (&r.queue, r.queue_offset)).collect();
    sorted.sort();
    let mut sizes = Vec::new();
    let mut last: Option<(&MessageQueue, i64)> = None;
    for (queue, offset) in sorted {
        match last {
            Some((q, o)) if q == queue && o + 1 == offset => *sizes.last_mut().unwrap() += 1,
            _ => sizes.push(1),
        }
        last = Some((queue, offset));
    }
    sizes
}

#[tokio::test]
async fn concurrent_sends_leave_as_one_batch_and_java_reads_each_as_its_result_says() {
    let api = api().await;
    let topic = unique("AutoBatchTopic");
    create_topic(&api, &topic, 4).await;
    let producer = producer(
        "auto_batch",
        AutoBatch::new()
            .max_delay(Duration::from_secs(1))
            .max_bytes(1024 * 1024),
    )
    .await;
    let messages: Vec<Message> = (0..50)
        .map(|i| {
            Message::new(&topic, format!("auto batched {i}").repeat(i % 7 + 1))
                .with_tags(format!("T{}", i % 3))
                .with_key(format!("k{i}"))
                .with_property("n", i.to_string())
                .with_flag(i as i32)
        })
        .collect();
    let results: Vec<SendResult> = join_all(messages.iter().map(|m| producer.send(m.clone())))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    producer.shutdown().await;

    // All fifty were added within the delay: one request, fifty consecutive offsets.
    assert_eq!(batches(&results), vec![50], "results: {results:#?}");
    let ids: BTreeSet<&str> = results.iter().map(|r| r.msg_id.as_str()).collect();
    assert_eq!(ids.len(), 50, "every message has its own id");
    assert!(results.iter().all(|r| r.status == SendStatus::SendOk));
    assert!(results.iter().all(|r| !r.offset_msg_id.contains(',')));

    let got = java_consume_by_id(&topic, 50).await;
    assert_eq!(got.len(), 50, "Java read {} of 50", got.len());
    for (m, r) in messages.iter().zip(&results) {
        let j = got
            .get(&r.msg_id)
            .unwrap_or_else(|| panic!("Java did not see {}", r.msg_id));
        assert_eq!(j["body_hex"], hex(&m.body), "body of {}", r.msg_id);
        assert_eq!(j["tags"].as_str(), m.tags.as_deref());
        assert_eq!(j["keys"].as_str(), Some(m.keys[0].as_str()));
        assert_eq!(
            j["properties"]["n"].as_str(),
            Some(m.properties[0].1.as_str())
        );
        assert_eq!(j["flag"], m.flag);
        // What each caller was told is where the broker put its message.
        assert_eq!(j["offset_msg_id"].as_str(), Some(r.offset_msg_id.as_str()));
        assert_eq!(j["queue_id"], r.queue.queue_id);
        assert_eq!(j["queue_offset"], r.queue_offset);
    }
    api.close().await;
}

#[tokio::test]
async fn a_full_batch_leaves_without_waiting_for_its_delay() {
    let api = api().await;
    let topic = unique("AutoBatchCount");
    create_topic(&api, &topic, 4).await;
    let producer = producer(
        "auto_batch_count",
        AutoBatch::new().max_delay(NEVER).max_messages(5),
    )
    .await;
    let sends = join_all((0..10).map(|i| producer.send(Message::new(&topic, format!("m{i}")))));
    let results: Vec<SendResult> = tokio::time::timeout(NEVER / 2, sends)
        .await
        .expect("two full batches leave at once, not after their delay")
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(batches(&results), vec![5, 5]);

    producer.shutdown().await;
    api.close().await;
}

#[tokio::test]
async fn a_batch_leaves_when_the_next_message_would_not_fit() {
    let api = api().await;
    let topic = unique("AutoBatchSize");
    create_topic(&api, &topic, 4).await;
    // Members of about 135 encoded bytes (61-byte bodies and their properties), at most 400
    // bytes a batch: two a batch.
    let producer = producer(
        "auto_batch_size",
        AutoBatch::new().max_delay(NEVER).max_bytes(400),
    )
    .await;
    let sends: Vec<_> = (0..7)
        .map(|i| {
            let (producer, msg) = (producer.clone(), Message::new(&topic, format!("s{i:0>60}")));
            tokio::spawn(async move { producer.send(msg).await })
        })
        .collect();
    // The third, fifth and seventh messages each pushed a batch of two out; the seventh waits.
    wait_for(NEVER / 2, || async {
        let left = sends.iter().filter(|s| s.is_finished()).count();
        (left == 6 && producer.auto_batch_pending() == 1).then_some(())
    })
    .await
    .expect("six messages leave by size, long before the batches' delay");
    producer.shutdown().await;
    let mut results = Vec::new();
    for send in sends {
        results.push(send.await.unwrap().unwrap());
    }
    let mut sizes = batches(&results);
    sizes.sort();
    assert_eq!(sizes, vec![1, 2, 2, 2]);
    api.close().await;
}

#[tokio::test]
async fn shutdown_sends_the_open_batches_at_once() {
    let api = api().await;
    let topic = unique("AutoBatchShutdown");
    create_topic(&api, &topic, 4).await;
    let producer = producer("auto_batch_shutdown", AutoBatch::new().max_delay(NEVER)).await;
    let sends: Vec<_> = (0..3)
        .map(|i| {
            let (producer, msg) = (producer.clone(), Message::new(&topic, format!("m{i}")));
            tokio::spawn(async move { producer.send(msg).await })
        })
        .collect();
    wait_for(Duration::from_secs(10), || async {
        (producer.auto_batch_pending() == 3).then_some(())
    })
    .await
    .expect("the three sends wait in their batch");
    tokio::time::timeout(NEVER / 2, producer.shutdown())
        .await
        .expect("shutdown does not wait for the batch's delay");
    for send in sends {
        let result = send.await.unwrap().expect("sent at shutdown");
        assert_eq!(result.status, SendStatus::SendOk);
    }
    assert_eq!(producer.auto_batch_pending(), 0);
    assert!(matches!(
        producer.send(Message::new(&topic, "late")).await,
        Err(Error::Shutdown)
    ));
    api.close().await;
}

#[tokio::test]
async fn a_failed_batch_fails_every_member_with_the_brokers_answer() {
    let api = api().await;
    let topic = unique("AutoBatchFail");
    create_topic(&api, &topic, 4).await;
    let producer = producer(
        "auto_batch_fail",
        AutoBatch::new().max_delay(Duration::from_millis(200)),
    )
    .await;
    let queue = producer.queues(&topic).await.unwrap()[0].clone();
    // A queue the topic does not have: the broker refuses the whole request.
    let mut missing = queue.clone();
    missing.queue_id = 200;
    let outcomes = join_all(
        (0..4).map(|i| producer.send_to_queue(Message::new(&topic, format!("m{i}")), &missing)),
    )
    .await;
    for outcome in &outcomes {
        match outcome {
            Err(Error::Server { remark, .. }) => {
                assert!(
                    remark.contains("200"),
                    "the broker names the queue: {remark}"
                )
            }
            other => panic!("every member sees the broker's refusal, got {other:?}"),
        }
    }
    // The same producer still batches to a queue that exists.
    let results: Vec<SendResult> = join_all(
        (0..4).map(|i| producer.send_to_queue(Message::new(&topic, format!("ok{i}")), &queue)),
    )
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    assert!(results.iter().all(|r| r.queue == queue));
    assert_eq!(batches(&results), vec![4]);
    producer.shutdown().await;
    api.close().await;
}

#[tokio::test]
async fn what_a_batch_cannot_carry_goes_alone_at_once() {
    let api = api().await;
    let topic = unique("AutoBatchAlone");
    create_topic(&api, &topic, 4).await;
    let producer = producer("auto_batch_alone", AutoBatch::new().max_delay(NEVER)).await;
    let alone = [
        Message::new(&topic, "delayed").with_delay_level(1),
        Message::new(&topic, "timed").with_deliver_time_ms(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64
                + 1000,
        ),
        // Compressed when sent alone; a batch never is.
        Message::new(&topic, "compress me ".repeat(1000)),
        // Larger than a batch may be (32 KiB).
        Message::new(&topic, vec![7u8; 40 * 1024]),
    ];
    for msg in alone {
        let result = tokio::time::timeout(NEVER / 2, producer.send(msg))
            .await
            .expect("not held in a batch")
            .unwrap();
        assert_eq!(result.status, SendStatus::SendOk);
        assert_eq!(producer.auto_batch_pending(), 0);
    }
    producer.shutdown().await;
    api.close().await;
}

#[tokio::test]
async fn one_producers_shutdown_leaves_anothers_batching_alone() {
    // apache/rocketmq#10935: in Java, producers of one client id share one accumulator, and
    // the first shutdown stops the flushing of all.
    let api = api().await;
    let topic = unique("AutoBatchTwo");
    create_topic(&api, &topic, 4).await;
    let config = AutoBatch::new().max_delay(Duration::from_millis(100));
    let instance = unique("shared");
    let start = |group: &str| {
        Producer::builder(unique(group))
            .name_server(&namesrv())
            .instance_name(instance.clone())
            .auto_batch(config)
            .start()
    };
    let first = start("auto_batch_first").await.unwrap();
    let second = start("auto_batch_second").await.unwrap();
    assert!(first.shares_instance_with(&second));
    first.send(Message::new(&topic, "first")).await.unwrap();
    first.shutdown().await;
    let results = tokio::time::timeout(
        NEVER / 2,
        join_all((0..3).map(|i| second.send(Message::new(&topic, format!("m{i}"))))),
    )
    .await
    .expect("the second producer's batch still leaves after its delay");
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    second.shutdown().await;
    api.close().await;
}

#[tokio::test]
async fn bad_auto_batch_settings_are_refused_before_any_network() {
    for (config, field) in [
        (AutoBatch::new().max_delay(Duration::ZERO), "max delay"),
        (
            AutoBatch::new().max_delay(Duration::from_secs(31)),
            "max delay",
        ),
        (AutoBatch::new().max_bytes(0), "max bytes"),
        (AutoBatch::new().max_bytes(5 * 1024 * 1024), "max bytes"),
        (AutoBatch::new().max_messages(0), "max messages"),
    ] {
        // No name server listens on this port: a refusal here was made before the network.
        let err = Producer::builder("auto_batch_bad")
            .name_server("127.0.0.1:1")
            .auto_batch(config)
            .start()
            .await
            .unwrap_err();
        match err {
            Error::Validation(e) => assert!(e.to_string().contains(field), "{e}"),
            other => panic!("{config:?}: expected a validation error, got {other:?}"),
        }
    }
}
