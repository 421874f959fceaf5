//! The lite pull consumer against the real local RocketMQ (started by the README's test
//! command).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::broker::{api, broker_a, create_topic, namesrv, unique, wait_for};
use futures_util::StreamExt;
use rmq::protocol::{RemotingCommand, RequestCode, ResponseCode};
use rmq::{
    ClientConfig, ConsumeFrom, Error, LitePullConsumer, Message, MessageExt, MessageQueue,
    Producer, ValidationError,
};

const LONG: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(500);

fn client() -> ClientConfig {
    ClientConfig::new()
        .name_server(&namesrv())
        .instance_name(unique("lite"))
}

async fn producer() -> Producer {
    Producer::builder(unique("pg_lite"))
        .client(client())
        .start()
        .await
        .unwrap()
}

async fn consumer(group: &str, from: ConsumeFrom) -> LitePullConsumer {
    LitePullConsumer::builder(group)
        .client(client())
        .consume_from(from)
        .start()
        .await
        .unwrap()
}

/// Sends `n` messages with bodies `<prefix><i>`; returns msg id → body.
async fn send(
    producer: &Producer,
    topic: &str,
    prefix: &str,
    n: usize,
) -> BTreeMap<String, String> {
    let mut sent = BTreeMap::new();
    for i in 0..n {
        let body = format!("{prefix}{i}");
        let r = producer
            .send(Message::new(topic, body.clone()))
            .await
            .unwrap();
        sent.insert(r.msg_id, body);
    }
    sent
}

/// Polls until `n` messages arrived (fails after `LONG`).
async fn poll_n(consumer: &LitePullConsumer, n: usize) -> Vec<MessageExt> {
    let deadline = tokio::time::Instant::now() + LONG;
    let mut got = Vec::new();
    while got.len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} messages arrived",
            got.len()
        );
        got.extend(consumer.poll(POLL).await.unwrap());
    }
    got
}

fn by_id(messages: &[MessageExt]) -> BTreeMap<String, String> {
    messages
        .iter()
        .map(|m| {
            (
                m.msg_id().to_string(),
                String::from_utf8_lossy(&m.body).into_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn assign_and_seek_to_begin_reads_exactly_what_was_sent() {
    let api = api().await;
    let topic = unique("LiteAssign");
    create_topic(&api, &topic, 4).await;
    let producer = producer().await;
    let sent = send(&producer, &topic, "assigned-", 20).await;
    // LastOffset: without the seeks nothing sent before the start would come.
    let consumer = LitePullConsumer::builder(unique("cg_lite_assign"))
        .client(client())
        .auto_commit(false)
        .start()
        .await
        .unwrap();
    let queues = consumer.queues(&topic).await.unwrap();
    assert_eq!(queues.len(), 4);
    consumer.assign(queues.clone()).await.unwrap();
    assert_eq!(consumer.assignment(), queues);
    for q in &queues {
        consumer.seek_to_begin(q).await.unwrap();
    }
    let got = poll_n(&consumer, sent.len()).await;
    assert_eq!(by_id(&got), sent);
    assert_eq!(got.len(), sent.len(), "nothing twice");
    // Per queue, in offset order, from 0.
    let mut offsets: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for m in &got {
        assert_eq!(m.topic, topic);
        offsets.entry(m.queue_id).or_default().push(m.queue_offset);
    }
    for list in offsets.values() {
        assert_eq!(*list, (0..list.len() as i64).collect::<Vec<_>>());
    }
    assert!(
        consumer
            .poll(Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty(),
        "nothing but what was sent"
    );
    // Never committed: the group has no offset.
    consumer.shutdown().await;
    producer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_subscribers_of_one_group_split_the_queues_and_together_read_every_message() {
    let api = api().await;
    let topic = unique("LiteSplit");
    create_topic(&api, &topic, 8).await;
    let group = unique("cg_lite_split");
    let a = consumer(&group, ConsumeFrom::FirstOffset).await;
    let b = consumer(&group, ConsumeFrom::FirstOffset).await;
    a.subscribe(&topic, "*").await.unwrap();
    b.subscribe(&topic, "*").await.unwrap();
    let all: BTreeSet<MessageQueue> = a.queues(&topic).await.unwrap().into_iter().collect();
    assert_eq!(all.len(), 8);
    wait_for(LONG, || async {
        let qa: BTreeSet<MessageQueue> = a.assignment().into_iter().collect();
        let qb: BTreeSet<MessageQueue> = b.assignment().into_iter().collect();
        (qa.is_disjoint(&qb)
            && !qa.is_empty()
            && !qb.is_empty()
            && qa.union(&qb).cloned().collect::<BTreeSet<_>>() == all)
            .then_some(())
    })
    .await
    .expect("the two members split the 8 queues");
    let producer = producer().await;
    let sent = send(&producer, &topic, "split-", 100).await;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut from_a = 0;
    let deadline = tokio::time::Instant::now() + LONG;
    while counts.len() < sent.len() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of 100",
            counts.len()
        );
        let (ga, gb) = tokio::join!(a.poll(POLL), b.poll(POLL));
        let (ga, gb) = (ga.unwrap(), gb.unwrap());
        from_a += ga.len();
        for m in ga.iter().chain(&gb) {
            *counts.entry(m.msg_id().to_string()).or_default() += 1;
        }
    }
    assert_eq!(
        counts.keys().cloned().collect::<BTreeSet<_>>(),
        sent.keys().cloned().collect()
    );
    assert!(counts.values().all(|n| *n == 1), "each exactly once");
    assert!(
        from_a > 0 && from_a < 100,
        "both members read: a got {from_a}"
    );
    a.shutdown().await;
    b.shutdown().await;
    producer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_commit_and_shutdown_a_new_member_resumes_at_the_committed_offset() {
    let api = api().await;
    let topic = unique("LiteCommit");
    create_topic(&api, &topic, 1).await;
    let group = unique("cg_lite_commit");
    let producer = producer().await;
    let sent = send(&producer, &topic, "commit-", 12).await;
    let first = LitePullConsumer::builder(&group)
        .client(client())
        .consume_from(ConsumeFrom::FirstOffset)
        .pull_batch_size(4)
        .start()
        .await
        .unwrap();
    first.subscribe(&topic, "*").await.unwrap();
    let queue = first.queues(&topic).await.unwrap().remove(0);
    let before = poll_n(&first, 1).await;
    let next = before.iter().map(|m| m.queue_offset).max().unwrap() + 1;
    assert!(next < 12, "one poll returns at most the batch size");
    first.commit().await.unwrap();
    assert_eq!(first.committed(&queue).await.unwrap(), Some(next));
    first.shutdown().await;
    assert!(matches!(first.poll(POLL).await, Err(Error::Shutdown)));

    let second = consumer(&group, ConsumeFrom::FirstOffset).await;
    assert_eq!(second.committed(&queue).await.unwrap(), Some(next));
    second.subscribe(&topic, "*").await.unwrap();
    let after = poll_n(&second, 12 - next as usize).await;
    assert!(
        after.iter().all(|m| m.queue_offset >= next),
        "nothing before the committed offset came again"
    );
    let mut all = by_id(&before);
    all.extend(by_id(&after));
    assert_eq!(all, sent);
    assert_eq!(before.len() + after.len(), 12);
    second.shutdown().await;
    producer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seeks_outside_the_stored_range_or_of_queues_not_assigned_are_typed_errors() {
    let api = api().await;
    let topic = unique("LiteSeek");
    create_topic(&api, &topic, 1).await;
    let producer = producer().await;
    let sent = send(&producer, &topic, "seek-", 3).await;
    let consumer = consumer(&unique("cg_lite_seek"), ConsumeFrom::LastOffset).await;
    let queue = consumer.queues(&topic).await.unwrap().remove(0);
    let other = MessageQueue::new(&topic, &queue.broker_name, 7);
    consumer.assign([queue.clone()]).await.unwrap();
    for offset in [4, -1] {
        match consumer.seek(&queue, offset).await {
            Err(Error::OffsetOutOfRange {
                offset: o,
                min: 0,
                max: 3,
                ..
            }) => assert_eq!(o, offset),
            other => panic!("seek to {offset}: {other:?}"),
        }
    }
    assert!(matches!(
        consumer.seek(&other, 0).await,
        Err(Error::Validation(ValidationError::QueueNotAssigned {
            queue_id: 7,
            ..
        }))
    ));
    // The upper bound itself is fine (nothing comes), and a time before everything is 0.
    consumer.seek_to_end(&queue).await.unwrap();
    consumer.seek_by_timestamp(&queue, 0).await.unwrap();
    let got = poll_n(&consumer, 3).await;
    assert_eq!(got[0].queue_offset, 0);
    assert_eq!(by_id(&got), sent);
    consumer.shutdown().await;
    producer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_queue_gives_nothing_until_it_is_resumed() {
    let api = api().await;
    let topic = unique("LitePause");
    create_topic(&api, &topic, 2).await;
    let producer = producer().await;
    let write_queues = producer.queues(&topic).await.unwrap();
    let consumer = consumer(&unique("cg_lite_pause"), ConsumeFrom::FirstOffset).await;
    let queues = consumer.queues(&topic).await.unwrap();
    consumer.assign(queues.clone()).await.unwrap();
    let (paused, running) = (&queues[0], &queues[1]);
    consumer.pause(std::slice::from_ref(paused));
    for q in &write_queues {
        for i in 0..5 {
            producer
                .send_to_queue(Message::new(&topic, format!("q{}-{i}", q.queue_id)), q)
                .await
                .unwrap();
        }
    }
    let got = poll_n(&consumer, 5).await;
    assert!(
        got.iter().all(|m| m.queue_id == running.queue_id),
        "only the running queue"
    );
    // A while later: still nothing from the paused queue.
    for _ in 0..4 {
        assert!(consumer.poll(POLL).await.unwrap().is_empty());
    }
    consumer.resume(std::slice::from_ref(paused));
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + LONG;
    while got.len() < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "resumed queue silent"
        );
        if let Some((queue, batch)) = consumer.poll_with_queue(POLL).await.unwrap() {
            assert_eq!(&queue, paused, "each batch names its queue");
            got.extend(batch);
        }
    }
    assert_eq!(
        got.iter().map(|m| m.queue_offset).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );
    consumer.shutdown().await;
    producer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stream_yields_every_message_and_ends_at_shutdown() {
    let api = api().await;
    let topic = unique("LiteStream");
    create_topic(&api, &topic, 2).await;
    let consumer = LitePullConsumer::builder(unique("cg_lite_stream"))
        .client(client())
        .consume_from(ConsumeFrom::FirstOffset)
        .poll_timeout(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    consumer.subscribe(&topic, "TagA").await.unwrap();
    let producer = producer().await;
    let mut sent = BTreeMap::new();
    for i in 0..6 {
        let tag = if i % 2 == 0 { "TagA" } else { "TagB" };
        let body = format!("stream-{i}");
        let r = producer
            .send(Message::new(&topic, body.clone()).with_tags(tag))
            .await
            .unwrap();
        if tag == "TagA" {
            sent.insert(r.msg_id, body);
        }
    }
    let stream = consumer.stream();
    let got: Vec<MessageExt> = tokio::time::timeout(LONG, stream.take(3).collect::<Vec<_>>())
        .await
        .expect("three messages")
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(by_id(&got), sent, "only TagA");
    let mut rest = Box::pin(consumer.stream());
    let end = {
        let c = consumer.clone();
        tokio::spawn(async move { c.shutdown().await })
    };
    assert!(
        tokio::time::timeout(LONG, rest.next())
            .await
            .unwrap()
            .is_none(),
        "the stream ends at shutdown"
    );
    end.await.unwrap();
    producer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn brokers_see_a_consume_actively_member_and_its_running_info() {
    let api = api().await;
    let topic = unique("LiteInfo");
    create_topic(&api, &topic, 2).await;
    let group = unique("cg_lite_info");
    let consumer = consumer(&group, ConsumeFrom::LastOffset).await;
    consumer.subscribe(&topic, "*").await.unwrap();
    wait_for(LONG, || async {
        (!consumer.assignment().is_empty()).then_some(())
    })
    .await
    .expect("queues assigned");
    let mut req = RemotingCommand::request(RequestCode::GET_CONSUMER_RUNNING_INFO);
    req.ext_fields.insert("consumerGroup", group.as_str());
    req.ext_fields.insert("clientId", consumer.client_id());
    req.ext_fields.insert("jstackEnable", "false");
    let resp = api.invoke(&broker_a(), req, api.deadline()).await.unwrap();
    assert_eq!(
        resp.response_code(),
        ResponseCode::SUCCESS,
        "{:?}",
        resp.remark
    );
    let body = String::from_utf8_lossy(&resp.body);
    assert!(
        body.contains(r#""PROP_CONSUME_TYPE":"CONSUME_ACTIVELY""#),
        "{body}"
    );
    assert!(body.contains(&format!(r#""topic":"{topic}""#)), "{body}");
    consumer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_settings_and_mixing_subscribe_with_assign_are_validation_errors() {
    let validation = |r: rmq::Result<LitePullConsumer>| match r {
        Err(Error::Validation(e)) => e,
        other => panic!("expected a validation error, got {other:?}"),
    };
    // Unreachable name server: every one of these fails before the network.
    let offline = || ClientConfig::new().name_server("127.0.0.1:1");
    let e = validation(
        LitePullConsumer::builder("bad group!")
            .client(offline())
            .start()
            .await,
    );
    assert!(
        matches!(e, ValidationError::GroupIllegalChar { ch: ' ', .. }),
        "{e}"
    );
    let e = validation(
        LitePullConsumer::builder("DEFAULT_CONSUMER")
            .client(offline())
            .start()
            .await,
    );
    assert!(matches!(e, ValidationError::GroupReserved(_)), "{e}");
    for builder in [
        LitePullConsumer::builder("g").pull_batch_size(0),
        LitePullConsumer::builder("g").auto_commit_interval(Duration::from_millis(999)),
        LitePullConsumer::builder("g").flow_control(0, 1 << 20, 10),
        LitePullConsumer::builder("g").pull_threshold_for_all(0),
    ] {
        let e = validation(builder.client(offline()).start().await);
        assert!(matches!(e, ValidationError::OutOfRange { .. }), "{e}");
    }

    let api = api().await;
    let topic = unique("LiteMix");
    create_topic(&api, &topic, 1).await;
    let assigned = consumer(&unique("cg_lite_mix"), ConsumeFrom::LastOffset).await;
    assert!(matches!(
        assigned.assign(Vec::new()).await,
        Err(Error::Validation(ValidationError::NoQueuesAssigned))
    ));
    let queues = assigned.queues(&topic).await.unwrap();
    assigned.assign(queues.clone()).await.unwrap();
    assert!(matches!(
        assigned.subscribe(&topic, "*").await,
        Err(Error::Validation(ValidationError::SubscribeAndAssign {
            used: "assign"
        }))
    ));
    let subscribed = consumer(&unique("cg_lite_mix"), ConsumeFrom::LastOffset).await;
    assert!(matches!(
        subscribed.subscribe(&topic, "||").await,
        Err(Error::Validation(ValidationError::BadTagExpression(_)))
    ));
    subscribed.subscribe(&topic, "*").await.unwrap();
    assert!(matches!(
        subscribed.assign(queues).await,
        Err(Error::Validation(ValidationError::SubscribeAndAssign {
            used: "subscribe"
        }))
    ));
    assigned.shutdown().await;
    subscribed.shutdown().await;
    assert!(matches!(
        subscribed.subscribe(&topic, "*").await,
        Err(Error::Shutdown)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_sql92_subscription_polls_only_matching_messages() {
    let api = api().await;
    let topic = unique("LiteSql");
    // One queue: the last (matching) message marks the end of what was sent.
    create_topic(&api, &topic, 1).await;
    let producer = producer().await;
    for i in 0..10 {
        producer
            .send(Message::new(&topic, format!("m-{i}")).with_property("n", i.to_string()))
            .await
            .unwrap();
    }
    let consumer = consumer(&unique("cg_lite_sql"), ConsumeFrom::FirstOffset).await;
    consumer
        .subscribe(&topic, rmq::Selector::sql("n >= 7"))
        .await
        .unwrap();
    let got = poll_n(&consumer, 3).await;
    let bodies: Vec<String> = got
        .iter()
        .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        .collect();
    assert_eq!(bodies, ["m-7", "m-8", "m-9"]);
    consumer.shutdown().await;
    producer.shutdown().await;
}
