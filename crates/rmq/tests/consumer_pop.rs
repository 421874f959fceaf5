//! Pop consumption (`PushConsumerBuilder::pop`) against the real local RocketMQ: 5.x brokers
//! pop, ack and change invisible times; a 4.9.x broker makes `start()` fail with a typed error.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::broker::{api, broker_a, broker_b, create_topic_on, is_v4, namesrv, unique, version};
use rmq::{
    ClientConfig, ConsumeFrom, ConsumeResult, Error, Message, MessageExt, PopOptions, Producer,
    PushConsumer, PushConsumerBuilder, ValidationError,
};
use tokio::sync::mpsc;

const LONG: Duration = Duration::from_secs(90);

fn client(instance: &str) -> ClientConfig {
    ClientConfig::new()
        .name_server(&namesrv())
        .instance_name(instance)
}

/// A pop consumer whose handler forwards every delivery (with the time it arrived) and
/// answers with `answer`.
fn popping(
    group: &str,
    instance: &str,
    topic: &str,
    options: PopOptions,
    answer: impl Fn(&MessageExt) -> ConsumeResult + Send + Sync + 'static,
) -> (
    PushConsumerBuilder,
    mpsc::UnboundedReceiver<(Instant, MessageExt)>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let answer = Arc::new(answer);
    let builder = PushConsumer::builder(group)
        .client(client(instance))
        .subscribe(topic, "*")
        .consume_from(ConsumeFrom::FirstOffset)
        .pop(options)
        .handler(move |messages, _context| {
            let tx = tx.clone();
            let answer = Arc::clone(&answer);
            async move {
                let mut result = ConsumeResult::Success;
                for m in messages {
                    let r = answer(&m);
                    if r != ConsumeResult::Success {
                        result = r;
                    }
                    let _ = tx.send((Instant::now(), m));
                }
                result
            }
        });
    (builder, rx)
}

async fn producer() -> Producer {
    Producer::builder(unique("pg_pop"))
        .client(client(&unique("p")))
        .start()
        .await
        .unwrap()
}

/// A topic with 4 queues on both brokers.
async fn topic(prefix: &str) -> String {
    let api = api().await;
    let topic = unique(prefix);
    create_topic_on(&api, &[broker_a(), broker_b()], &topic, 4).await;
    topic
}

async fn send_all(producer: &Producer, topic: &str, n: usize) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for i in 0..n {
        let r = producer
            .send(Message::new(topic, format!("pop {i}")).with_tags("T"))
            .await
            .unwrap();
        ids.insert(r.msg_id);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pop_consumers_of_one_group_handle_every_message_at_least_once() {
    if is_v4() {
        println!(
            "skipped on RocketMQ {}: pop needs a 5.x broker (the 4.9 refusal is its own test)",
            version()
        );
        return;
    }
    let topic = topic("PopTwo").await;
    let group = unique("cg_pop_two");
    let (a, mut rx_a) = popping(&group, "pop-a", &topic, PopOptions::new(), |_| {
        ConsumeResult::Success
    });
    let (b, mut rx_b) = popping(&group, "pop-b", &topic, PopOptions::new(), |_| {
        ConsumeResult::Success
    });
    let a = a.start().await.unwrap();
    let b = b.start().await.unwrap();
    assert!(a.assigned_queues().is_empty(), "pop owns no queues");
    let producer = producer().await;
    let sent = send_all(&producer, &topic, 40).await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let deadline = tokio::time::Instant::now() + LONG;
    while seen.len() < sent.len() {
        let (_, m) = tokio::select! {
            Some(m) = rx_a.recv() => m,
            Some(m) = rx_b.recv() => m,
            _ = tokio::time::sleep_until(deadline) => panic!("only {} of {} messages arrived", seen.len(), sent.len()),
        };
        assert!(
            sent.contains(m.msg_id()),
            "unexpected message {}",
            m.msg_id()
        );
        assert_eq!(m.topic, topic, "the subscribed topic");
        assert!(
            m.property("POP_CK").is_some(),
            "a popped message carries its checkpoint"
        );
        *seen.entry(m.msg_id().to_string()).or_default() += 1;
    }
    let ids: BTreeSet<String> = seen.keys().cloned().collect();
    assert_eq!(ids, sent);
    producer.shutdown().await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_answered_later_comes_back_after_the_retry_delay_not_before() {
    if is_v4() {
        println!(
            "skipped on RocketMQ {}: pop needs a 5.x broker (the 4.9 refusal is its own test)",
            version()
        );
        return;
    }
    let topic = topic("PopLater").await;
    let group = unique("cg_pop_later");
    // The first delivery answers "later" with no delay level: Java's first pop retry delay,
    // 10 s.
    let (builder, mut rx) = popping(&group, "pop-later", &topic, PopOptions::new(), |m| {
        if m.reconsume_times == 0 {
            ConsumeResult::later()
        } else {
            ConsumeResult::Success
        }
    });
    let consumer = builder.start().await.unwrap();
    let producer = producer().await;
    let sent = producer
        .send(Message::new(&topic, "retry me").with_tags("T"))
        .await
        .unwrap();
    let (first_at, first) = tokio::time::timeout(LONG, rx.recv())
        .await
        .expect("first delivery")
        .unwrap();
    assert_eq!(first.msg_id(), sent.msg_id);
    assert_eq!(first.reconsume_times, 0);
    let (again_at, again) = tokio::time::timeout(LONG, rx.recv())
        .await
        .expect("the message came back")
        .unwrap();
    assert_eq!(again.msg_id(), sent.msg_id, "the same message again");
    assert_eq!(
        again.topic, topic,
        "the subscribed topic, not the pop retry topic"
    );
    assert_eq!(&again.body[..], b"retry me");
    assert!(again.reconsume_times >= 1, "{}", again.reconsume_times);
    let after = again_at - first_at;
    // Well below the 10 s delay, so broker timing cannot make this flaky, yet far above
    // what an immediate redelivery would take.
    assert!(after >= Duration::from_secs(5), "came back after {after:?}");
    producer.shutdown().await;
    consumer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acked_messages_never_come_back() {
    if is_v4() {
        println!(
            "skipped on RocketMQ {}: pop needs a 5.x broker (the 4.9 refusal is its own test)",
            version()
        );
        return;
    }
    let topic = topic("PopAcked").await;
    let group = unique("cg_pop_acked");
    // A short invisible time: a message whose ack (a batch ack: 4 per handler call) got lost
    // would come back within the watch below.
    let options = PopOptions::new().invisible_time(Duration::from_secs(5));
    let (builder, mut rx) = popping(&group, "pop-acked", &topic, options, |_| {
        ConsumeResult::Success
    });
    let consumer = builder.consume_batch_size(4).start().await.unwrap();
    let producer = producer().await;
    let sent = send_all(&producer, &topic, 30).await;
    let mut deliveries: HashMap<String, usize> = HashMap::new();
    while deliveries.len() < sent.len() {
        let (_, m) = tokio::time::timeout(LONG, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {} arrived", deliveries.len(), sent.len()))
            .unwrap();
        *deliveries.entry(m.msg_id().to_string()).or_default() += 1;
    }
    // Three invisible times and some revive slack: nothing acked may come back.
    let watch_until = tokio::time::Instant::now() + Duration::from_secs(20);
    while let Ok(Some((_, m))) = tokio::time::timeout_at(watch_until, rx.recv()).await {
        *deliveries.entry(m.msg_id().to_string()).or_default() += 1;
    }
    let again: Vec<(&String, &usize)> = deliveries.iter().filter(|(_, n)| **n > 1).collect();
    assert!(again.is_empty(), "acked messages came back: {again:?}");
    assert_eq!(deliveries.keys().cloned().collect::<BTreeSet<_>>(), sent);
    producer.shutdown().await;
    consumer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_held_at_shutdown_comes_back_to_another_member() {
    if is_v4() {
        println!(
            "skipped on RocketMQ {}: pop needs a 5.x broker (the 4.9 refusal is its own test)",
            version()
        );
        return;
    }
    let topic = topic("PopShutdown").await;
    let group = unique("cg_pop_shutdown");
    let options = PopOptions::new().invisible_time(Duration::from_secs(5));
    // The first member never finishes its handler call.
    let (tx, mut held) = mpsc::unbounded_channel();
    let first = PushConsumer::builder(&group)
        .client(client("pop-hold"))
        .subscribe(&topic, "*")
        .consume_from(ConsumeFrom::FirstOffset)
        .pop(options.clone())
        .shutdown_timeout(Duration::from_millis(500))
        .handler(move |messages, _| {
            let tx = tx.clone();
            async move {
                for m in messages {
                    let _ = tx.send(m.msg_id().to_string());
                }
                std::future::pending::<ConsumeResult>().await
            }
        })
        .start()
        .await
        .unwrap();
    let producer = producer().await;
    let sent = producer
        .send(Message::new(&topic, "held").with_tags("T"))
        .await
        .unwrap();
    let got = tokio::time::timeout(LONG, held.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, sent.msg_id);
    tokio::time::timeout(Duration::from_secs(30), first.shutdown())
        .await
        .expect("shutdown ends although a handler hangs");
    let (second, mut rx) = popping(&group, "pop-next", &topic, options, |_| {
        ConsumeResult::Success
    });
    let second = second.start().await.unwrap();
    let (_, m) = tokio::time::timeout(LONG, rx.recv())
        .await
        .expect("the held message came back")
        .unwrap();
    assert_eq!(m.msg_id(), sent.msg_id);
    producer.shutdown().await;
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pop_on_a_4_9_broker_fails_to_start_with_a_typed_error() {
    let topic = topic("PopOld").await;
    let group = unique("cg_pop_old");
    let (builder, _rx) = popping(&group, "pop-old", &topic, PopOptions::new(), |_| {
        ConsumeResult::Success
    });
    let started = builder.start().await;
    if !is_v4() {
        started.expect("5.x brokers pop").shutdown().await;
        return;
    }
    let err = started.unwrap_err();
    assert!(matches!(err, Error::PopNotSupported { .. }), "{err:?}");
    assert!(err.to_string().contains("pop needs RocketMQ 5.x"), "{err}");
    // The failed start left nothing registered: the group can start again (pull mode).
    let again = PushConsumer::builder(&group)
        .client(client("pop-old"))
        .subscribe(&topic, "*")
        .handler(|_, _| async { ConsumeResult::Success })
        .start()
        .await
        .expect("the group is free again");
    again.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_does_not_know_pop_fails_the_start_with_a_typed_error() {
    use common::fake_cluster::{FakeBroker, FakeNameServer};
    use rmq::protocol::{RemotingCommand, RequestCode, ResponseCode};
    // A fake 4.9.x broker: it answers the start's probe with REQUEST_CODE_NOT_SUPPORTED.
    let broker = FakeBroker::start().await;
    let name_server = FakeNameServer::start("old-broker", &broker.addr).await;
    let start = tokio::spawn(
        PushConsumer::builder("cg_pop_fake")
            .client(
                ClientConfig::new()
                    .name_server(&name_server.addr)
                    .instance_name("pop-fake"),
            )
            .subscribe("T", "*")
            .pop(PopOptions::new())
            .handler(|_, _| async { ConsumeResult::Success })
            .start(),
    );
    let conn = broker.connection().await;
    let probe = conn.recv().await;
    assert_eq!(probe.request_code(), RequestCode::POP_MESSAGE);
    let field = |k: &str| probe.ext_fields.get(k).map(str::to_string);
    assert_eq!(field("consumerGroup").as_deref(), Some("cg_pop_fake"));
    assert_eq!(field("topic").as_deref(), Some("T"));
    assert_eq!(field("queueId").as_deref(), Some("-1"));
    // Over the 5.x limit of 32, so that a 5.x broker pops nothing for the probe.
    assert_eq!(field("maxMsgNums").as_deref(), Some("33"));
    conn.send(RemotingCommand::response_to(
        &probe,
        ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
        Some(" request type 200050 not supported".into()),
    ));
    let err = start.await.unwrap().unwrap_err();
    match &err {
        Error::PopNotSupported { broker: name, addr } => {
            assert_eq!(name, "old-broker");
            assert_eq!(*addr, broker.addr);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("pop needs RocketMQ 5.x"), "{err}");
    assert!(!err.is_retriable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pops_long_poll_every_queue_of_a_broker_and_running_info_still_answers() {
    use common::fake_cluster::{FakeBroker, FakeNameServer};
    use rmq::protocol::{RemotingCommand, RequestCode, ResponseCode};
    let broker = FakeBroker::start().await;
    let name_server = FakeNameServer::start("new-broker", &broker.addr).await;
    let start = tokio::spawn(
        PushConsumer::builder("cg_pop_fake5")
            .client(
                ClientConfig::new()
                    .name_server(&name_server.addr)
                    .instance_name("pop-fake5"),
            )
            .subscribe("T", "TagA || TagB")
            .pop(
                PopOptions::new()
                    .invisible_time(Duration::from_secs(30))
                    .batch_size(16),
            )
            .handler(|_, _| async { ConsumeResult::Success })
            .start(),
    );
    let conn = broker.connection().await;
    let probe = conn.recv().await;
    assert_eq!(probe.request_code(), RequestCode::POP_MESSAGE);
    // What a 5.x broker answers to the probe's 33 messages.
    conn.send(RemotingCommand::response_to(
        &probe,
        ResponseCode::INVALID_PARAMETER,
        Some("the broker[127.0.0.1] pop message's num is greater than 32".into()),
    ));
    let consumer = start.await.unwrap().expect("a 5.x broker pops");
    let pop = conn.recv().await;
    assert_eq!(pop.request_code(), RequestCode::POP_MESSAGE);
    let field = |k: &str| pop.ext_fields.get(k).unwrap_or_default().to_string();
    assert_eq!(field("queueId"), "-1", "every queue of the broker");
    assert_eq!(field("maxMsgNums"), "16");
    assert_eq!(field("invisibleTime"), "30000");
    assert_eq!(field("pollTime"), "15000");
    assert_eq!(field("initMode"), "1", "consume from last offset");
    assert_eq!(field("expType"), "TAG");
    assert_eq!(field("exp"), "TagA || TagB");
    assert_eq!(field("bname"), "new-broker");
    let born: i64 = field("bornTime").parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        (now - born).abs() < 10_000,
        "bornTime is now: {born} vs {now}"
    );
    // The pop is held (not answered); the broker asks for the running info meanwhile.
    let mut info = RemotingCommand::request(RequestCode::GET_CONSUMER_RUNNING_INFO);
    info.ext_fields.insert("consumerGroup", "cg_pop_fake5");
    info.ext_fields.insert("clientId", consumer.client_id());
    let opaque = info.opaque;
    conn.send(info);
    let reply = conn.recv().await;
    assert_eq!(
        (reply.opaque, reply.response_code()),
        (opaque, ResponseCode::SUCCESS)
    );
    let body = String::from_utf8_lossy(&reply.body);
    assert!(body.contains(r#""consumerGroup":"cg_pop_fake5""#), "{body}");
    tokio::time::timeout(Duration::from_secs(15), consumer.shutdown())
        .await
        .expect("shutdown does not wait for the held pop");
}

#[tokio::test]
async fn bad_pop_options_are_validation_errors_before_the_network() {
    for (options, expected) in [
        (
            PopOptions::new().invisible_time(Duration::from_secs(1)),
            "pop invisible time",
        ),
        (PopOptions::new().batch_size(64), "pop batch size"),
        (PopOptions::new().max_in_flight(0), "pop max in flight"),
    ] {
        let err = PushConsumer::builder("g")
            .client(ClientConfig::new().name_server("127.0.0.1:1"))
            .subscribe("T", "*")
            .pop(options)
            .handler(|_, _| async { ConsumeResult::Success })
            .start()
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Validation(ValidationError::OutOfRange { .. })),
            "{err}"
        );
        assert!(err.to_string().contains(expected), "{expected}: {err}");
    }
}
