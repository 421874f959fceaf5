//! `rmq::Admin`'s topic, offset and stored-message calls against the real local RocketMQ
//! (started by the README's test command).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::broker::{broker_a, broker_b, namesrv, unique, wait_for};
use rmq::{Admin, ClientConfig, Error, Message, MessageQueue, Producer, TopicTarget};

fn config() -> ClientConfig {
    ClientConfig::new().name_server(&namesrv())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Creates `topic` on the whole cluster and waits until the route lists both brokers.
async fn create_on_cluster(admin: &Admin, topic: &str, queues: i32) -> Vec<String> {
    let info = admin.cluster_info().await.unwrap();
    let cluster = info
        .cluster_addr_table
        .keys()
        .next()
        .expect("a cluster")
        .clone();
    let mut created = admin
        .create_topic_on(topic, queues, TopicTarget::Cluster(cluster))
        .await
        .unwrap();
    created.sort();
    wait_for(Duration::from_secs(15), || async {
        admin
            .topic_route(topic)
            .await
            .ok()
            .filter(|r| r.queue_datas.len() == created.len())
    })
    .await
    .unwrap_or_else(|| panic!("route of {topic} never listed {created:?}"));
    created
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn created_topics_appear_in_the_route_with_their_queue_count() {
    let admin = Admin::new(&config()).unwrap();
    let topic = unique("AdminCreate");
    let created = create_on_cluster(&admin, &topic, 3).await;
    let mut expected = vec![broker_a(), broker_b()];
    expected.sort();
    assert_eq!(created, expected, "every master of the cluster");
    let route = admin.topic_route(&topic).await.unwrap();
    for q in &route.queue_datas {
        assert_eq!((q.read_queue_nums, q.write_queue_nums), (3, 3), "{q:?}");
    }
    assert_eq!(admin.queues(&topic).await.unwrap().len(), 6);

    // One broker only; an update changes the count.
    let single = unique("AdminCreateOne");
    admin
        .create_topic_on(&single, 2, TopicTarget::Broker(broker_b()))
        .await
        .unwrap();
    let route = wait_for(Duration::from_secs(15), || async {
        admin.topic_route(&single).await.ok()
    })
    .await
    .expect("route of the topic on broker-b");
    assert_eq!(route.queue_datas.len(), 1);
    assert_eq!(
        route.broker_datas[0].master_addr(),
        Some(broker_b().as_str())
    );

    // Typed errors: bad input before the network, unknown cluster and topic after.
    assert!(matches!(
        admin
            .create_topic_on(&single, 0, TopicTarget::Broker(broker_b()))
            .await,
        Err(Error::Validation(_))
    ));
    assert!(matches!(
        admin
            .create_topic_on("bad topic", 1, TopicTarget::Broker(broker_b()))
            .await,
        Err(Error::Validation(_))
    ));
    assert!(matches!(
        admin
            .create_topic_on(&single, 1, TopicTarget::Broker("no-port".into()))
            .await,
        Err(Error::Validation(_))
    ));
    assert!(matches!(
        admin
            .create_topic_on(&single, 1, TopicTarget::Cluster(unique("NoCluster")))
            .await,
        Err(Error::ClusterNotFound { .. })
    ));
    let missing = unique("AdminMissing");
    assert!(matches!(
        admin.queues(&missing).await,
        Err(Error::TopicNotFound { topic }) if topic == missing
    ));
    admin.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sent_messages_are_found_by_key_by_id_and_by_offsets() {
    let admin = Admin::new(&config()).unwrap();
    let topic = unique("AdminMsgs");
    create_on_cluster(&admin, &topic, 2).await;
    let producer = Producer::builder(unique("pg_admin"))
        .client(config())
        .start()
        .await
        .unwrap();
    let key = unique("key");
    let before = now_ms();
    let mut sent = Vec::new();
    for i in 0..6 {
        // Every message has the key, among others; two more have other keys only.
        let m = Message::new(&topic, format!("body-{i}"))
            .with_key(format!("other-{i}"))
            .with_key(&key);
        sent.push(producer.send(m).await.unwrap());
    }
    for i in 0..2 {
        let m = Message::new(&topic, format!("noise-{i}")).with_key(format!("{key}x"));
        producer.send(m).await.unwrap();
    }
    let after = now_ms();

    // view_message: the same body, topic and key, from the broker the id names.
    for r in &sent {
        let m = admin.view_message(&r.offset_msg_id).await.unwrap();
        assert_eq!(m.offset_msg_id, r.offset_msg_id);
        assert_eq!(m.msg_id(), r.msg_id);
        assert_eq!(m.topic, topic);
        assert_eq!(m.queue_id, r.queue.queue_id);
        assert_eq!(m.queue_offset, r.queue_offset);
        assert!(m.keys().unwrap().split(' ').any(|k| k == key));
        assert!(String::from_utf8_lossy(&m.body).starts_with("body-"));
    }
    // A bad id fails before the network; an id of an offset past the log is not found.
    assert!(matches!(
        admin.view_message("not-an-id").await,
        Err(Error::Validation(rmq::ValidationError::InvalidMessageId(_)))
    ));
    // Same broker (the first 16 hex digits: IPv4 and port), an offset far past its log.
    let far = format!("{}{:016X}", &sent[0].offset_msg_id[..16], i64::MAX / 2);
    assert!(
        matches!(
            admin.view_message(&far).await,
            Err(Error::MessageNotFound { .. })
        ),
        "{:?}",
        admin.view_message(&far).await
    );

    // query_message: the index is built asynchronously; all six, none of the noise.
    let found = wait_for(Duration::from_secs(20), || async {
        admin
            .query_message(&topic, &key, 64, before - 1000, after + 1000)
            .await
            .ok()
            .filter(|f| f.len() >= sent.len())
    })
    .await
    .expect("every message found by key");
    let mut found_ids: Vec<&str> = found.iter().map(|m| m.offset_msg_id.as_str()).collect();
    let mut sent_ids: Vec<&str> = sent.iter().map(|r| r.offset_msg_id.as_str()).collect();
    found_ids.sort();
    sent_ids.sort();
    assert_eq!(found_ids, sent_ids);
    assert!(found.iter().all(|m| m.topic == topic));
    assert!(found
        .windows(2)
        .all(|w| w[0].store_timestamp <= w[1].store_timestamp));
    // By the client-side id (UNIQ_KEY): exactly that message.
    for r in &sent {
        let m = admin.query_message_by_id(&topic, &r.msg_id).await.unwrap();
        assert_eq!(m.offset_msg_id, r.offset_msg_id);
        assert_eq!(m.topic, topic);
    }
    assert!(matches!(
        admin
            .query_message_by_id(&topic, "0A0B0C0D0000000000000000000000000000")
            .await,
        Err(Error::MessageNotFound { .. })
    ));
    assert!(matches!(
        admin
            .query_message(&topic, &unique("nokey"), 64, 0, i64::MAX)
            .await,
        Err(Error::MessageNotFound { .. })
    ));
    assert!(matches!(
        admin.query_message(&topic, " ", 64, 0, i64::MAX).await,
        Err(Error::Validation(_))
    ));

    // Offsets per queue agree with the send results: max = last offset + 1, min = 0,
    // a search before the first store time gives 0 and one after the last gives max.
    let mut per_queue: BTreeMap<MessageQueue, Vec<i64>> = BTreeMap::new();
    // The noise messages count too: read the totals from max offsets.
    for r in &sent {
        per_queue
            .entry(r.queue.clone())
            .or_default()
            .push(r.queue_offset);
    }
    let queues = admin.queues(&topic).await.unwrap();
    assert_eq!(queues.len(), 4);
    let mut total = 0;
    for q in &queues {
        let max = admin.max_offset(q).await.unwrap();
        let min = admin.min_offset(q).await.unwrap();
        assert_eq!(min, 0, "{q:?}");
        total += max;
        if let Some(offsets) = per_queue.get(q) {
            assert!(
                max > *offsets.iter().max().unwrap(),
                "{q:?}: {max} vs {offsets:?}"
            );
            let earliest = admin.earliest_msg_store_time(q).await.unwrap();
            assert!(
                earliest >= before - 1000 && earliest <= after + 1000,
                "earliest store time {earliest} outside {before}..{after}"
            );
            assert_eq!(admin.search_offset(q, before - 60_000).await.unwrap(), 0);
            // Past the last store time: 5.x answers the max offset, 4.9.3 the offset of the
            // last message (its binary search keeps the nearest message).
            let past = admin.search_offset(q, after + 60_000).await.unwrap();
            assert!(
                past == max || past == max - 1,
                "{q:?}: search past the end = {past}, max {max}"
            );
            // By each message's own store time: within the queue, never decreasing.
            let mut last = 0;
            for &offset in offsets {
                let r = sent
                    .iter()
                    .find(|r| r.queue == *q && r.queue_offset == offset)
                    .unwrap();
                let m = admin.view_message(&r.offset_msg_id).await.unwrap();
                let at = admin.search_offset(q, m.store_timestamp).await.unwrap();
                assert!(
                    (last..max).contains(&at),
                    "{q:?}: search({}) = {at}, before {last}, max {max}",
                    m.store_timestamp
                );
                last = at;
            }
        }
    }
    assert_eq!(total, 8, "six messages and two of noise");
    let unknown = MessageQueue::new(&topic, "no-such-broker", 0);
    assert!(matches!(
        admin.max_offset(&unknown).await,
        Err(Error::NoRoute { .. })
    ));
    producer.shutdown().await;
    admin.close().await;
}

/// `mqadmin topicStatus -t T` (`scripts/rocketmq admin`, the running version's tool), run in a
/// scratch directory: (broker, queue id) → (min offset, max offset).
async fn mqadmin_topic_status(topic: &str) -> BTreeMap<(String, i32), (i64, i64)> {
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/rocketmq");
    let scratch = std::env::temp_dir().join(unique("rmq_mqadmin"));
    std::fs::create_dir_all(&scratch).unwrap();
    let out = tokio::process::Command::new(&script)
        .args(["admin", "topicStatus", "-n", &namesrv(), "-t", topic])
        .current_dir(&scratch)
        .output()
        .await
        .expect("scripts/rocketmq runs");
    let _ = std::fs::remove_dir_all(&scratch);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "mqadmin failed: {stdout}");
    stdout
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            match cols.as_slice() {
                [broker, qid, min, max, ..] => Some((
                    (broker.to_string(), qid.parse().ok()?),
                    (min.parse().ok()?, max.parse().ok()?),
                )),
                _ => None,
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn min_and_max_offsets_are_what_mqadmin_topic_status_says() {
    let admin = Admin::new(&config()).unwrap();
    let topic = unique("AdminStatus");
    create_on_cluster(&admin, &topic, 3).await;
    let producer = Producer::builder(unique("pg_status"))
        .client(config())
        .start()
        .await
        .unwrap();
    for i in 0..10 {
        producer
            .send(Message::new(&topic, format!("m{i}")))
            .await
            .unwrap();
    }
    producer.shutdown().await;
    let mut ours = BTreeMap::new();
    for q in admin.queues(&topic).await.unwrap() {
        let min = admin.min_offset(&q).await.unwrap();
        let max = admin.max_offset(&q).await.unwrap();
        ours.insert((q.broker_name.clone(), q.queue_id), (min, max));
    }
    assert_eq!(ours.values().map(|(_, max)| max).sum::<i64>(), 10);
    assert_eq!(mqadmin_topic_status(&topic).await, ours);
    admin.close().await;
}
