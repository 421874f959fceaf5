//! Orderly push consumers against the real local RocketMQ: Java's producer sends ordered
//! messages (its `SelectMessageQueueByHash` selector, one queue per key); Rust orderly
//! consumers must hand each key's messages over in send order — across rebalances — and no
//! queue may be consumed by two members at once (checked with the broker's locks).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::broker::{
    api, broker_a, broker_b, create_topic_on, namesrv, unique, version, wait_for,
};
use rmq::client::ClientApi;
use rmq::{
    ClientConfig, ConsumeFrom, ConsumeOrder, ConsumeResult, MessageExt, MessageQueue, PushConsumer,
};

const LONG: Duration = Duration::from_secs(120);
const KEYS: usize = 20;

/// One handler call as the test saw it.
#[derive(Debug, Clone)]
struct Call {
    member: String,
    queue: MessageQueue,
    key: String,
    seq: usize,
    started: Instant,
    ended: Instant,
}

type Log = Arc<Mutex<Vec<Call>>>;

/// `order-<k>-<seq>` → (`order-<k>`, seq).
fn key_and_seq(m: &MessageExt) -> (String, usize) {
    let body = String::from_utf8_lossy(&m.body).to_string();
    let (key, seq) = body.rsplit_once('-').expect("ordered body");
    (key.to_string(), seq.parse().expect("seq"))
}

async fn orderly_member(
    group: &str,
    member: &str,
    topic: &str,
    order: ConsumeOrder,
    log: &Log,
    handler_time: Duration,
) -> PushConsumer {
    let log = Arc::clone(log);
    let name = member.to_string();
    PushConsumer::builder(group)
        .client(
            ClientConfig::new()
                .name_server(&namesrv())
                .instance_name(member),
        )
        .subscribe(topic, "*")
        .consume_from(ConsumeFrom::FirstOffset)
        .consume_order(order)
        .consume_concurrency(8)
        .handler(move |messages, context| {
            let log = Arc::clone(&log);
            let name = name.clone();
            async move {
                let started = Instant::now();
                tokio::time::sleep(handler_time).await;
                let ended = Instant::now();
                let mut log = log.lock().unwrap();
                for m in &messages {
                    let (key, seq) = key_and_seq(m);
                    log.push(Call {
                        member: name.clone(),
                        queue: context.queue.clone(),
                        key,
                        seq,
                        started,
                        ended,
                    });
                }
                ConsumeResult::Success
            }
        })
        .start()
        .await
        .unwrap()
}

/// Sends `n` ordered messages (i = first..first+n) over [`KEYS`] keys with Java's producer.
async fn java_send_ordered(topic: &str, first: usize, n: usize) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/java-produce");
    let out = tokio::process::Command::new(script)
        .args([
            version(),
            namesrv(),
            topic.to_string(),
            format!("ordered:{KEYS}:{n}:{first}"),
        ])
        .output()
        .await
        .expect("scripts/java-produce runs (needs a JDK and Maven)");
    assert!(out.status.success(), "Java producer failed: {out:?}");
}

/// Waits until every (key, seq) below `total` messages was handled at least once.
async fn wait_handled(log: &Log, total: usize) {
    let done = wait_for(LONG, || async {
        let seen: BTreeSet<(String, usize)> = log
            .lock()
            .unwrap()
            .iter()
            .map(|c| (c.key.clone(), c.seq))
            .collect();
        (seen.len() >= total).then_some(())
    })
    .await;
    assert!(
        done.is_some(),
        "only {} distinct messages of {total} handled",
        log.lock().unwrap().len()
    );
}

/// Each key's messages reached the handler in send order: the first deliveries are exactly
/// 0, 1, 2, … and a repeated message (at-least-once around a rebalance) only ever replays
/// from an earlier point. Returns the number of repeats.
fn assert_key_order(log: &Log, total_per_key: usize) -> usize {
    let log = log.lock().unwrap();
    let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for c in log.iter() {
        by_key.entry(&c.key).or_default().push(c.seq);
    }
    assert_eq!(by_key.len(), KEYS, "every key was handled");
    let mut repeats = 0;
    for (key, seqs) in &by_key {
        let mut next = 0;
        for &seq in seqs {
            if seq == next {
                next += 1;
            } else {
                assert!(
                    seq < next,
                    "key {key}: message {seq} handed over before {next}: {seqs:?}"
                );
                repeats += 1;
            }
        }
        assert_eq!(next, total_per_key, "key {key}: {seqs:?}");
    }
    repeats
}

/// No two handler calls of one queue overlapped in time, in one member or across members.
fn assert_one_call_per_queue_at_a_time(log: &Log) {
    let log = log.lock().unwrap();
    let mut by_queue: BTreeMap<&MessageQueue, Vec<&Call>> = BTreeMap::new();
    for c in log.iter() {
        by_queue.entry(&c.queue).or_default().push(c);
    }
    for (queue, calls) in by_queue {
        let mut calls: Vec<&Call> = calls;
        calls.sort_by_key(|c| c.started);
        calls.dedup_by_key(|c| (c.started, c.member.clone()));
        for pair in calls.windows(2) {
            assert!(
                pair[1].started >= pair[0].ended,
                "{queue:?}: {} started while {} was still handling",
                pair[1].member,
                pair[0].member
            );
        }
    }
}

/// Waits until the members own every queue of `topic` between them, each queue exactly once.
async fn wait_split(members: &[&PushConsumer], topic: &str, queues: usize) {
    let split = wait_for(LONG, || async {
        let mut all = Vec::new();
        for m in members {
            all.extend(m.assigned_queues().into_iter().filter(|q| q.topic == topic));
        }
        let distinct: BTreeSet<_> = all.iter().cloned().collect();
        let every_member = members
            .iter()
            .all(|m| m.assigned_queues().iter().any(|q| q.topic == topic));
        (all.len() == queues && distinct.len() == queues && every_member).then_some(())
    })
    .await;
    assert!(
        split.is_some(),
        "the members did not split the {queues} queues"
    );
}

/// Asks each master to lock every queue of `topic` for a client id no consumer has: the
/// broker must refuse all of them, because the members hold live locks.
async fn assert_broker_refuses_other_lockers(api: &ClientApi, group: &str, topic: &str) {
    for (addr, broker) in [(broker_a(), "broker-a"), (broker_b(), "broker-b")] {
        let queues: Vec<MessageQueue> = (0..4)
            .map(|q| MessageQueue::new(topic, broker, q))
            .collect();
        let granted = api
            .lock_batch_mq(
                &addr,
                group,
                "127.0.0.1@lock-probe",
                &queues,
                tokio::time::Instant::now() + Duration::from_secs(3),
            )
            .await
            .expect("lock request");
        assert!(
            granted.is_empty(),
            "{broker} granted {granted:?} to a third client: not locked by the members"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_keys_messages_arrive_in_send_order_across_rebalances_and_locks_hold() {
    key_order_across_rebalances(ConsumeOrder::Orderly).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ordering_by_key_keeps_each_keys_order_across_rebalances_and_locks_hold() {
    key_order_across_rebalances(ConsumeOrder::OrderlyByKey).await;
}

/// Two members, a third joins, one leaves; Java sends a batch at each stage.
async fn key_order_across_rebalances(order: ConsumeOrder) {
    let api = api().await;
    let topic = unique("Orderly");
    create_topic_on(&api, &[broker_a(), broker_b()], &topic, 4).await;
    let group = unique("cg_orderly");
    let log: Log = Arc::default();
    let handler_time = Duration::from_millis(2);
    let one = orderly_member(
        &group,
        &format!("{order:?}1"),
        &topic,
        order,
        &log,
        handler_time,
    )
    .await;
    let two = orderly_member(
        &group,
        &format!("{order:?}2"),
        &topic,
        order,
        &log,
        handler_time,
    )
    .await;
    wait_split(&[&one, &two], &topic, 8).await;
    assert_broker_refuses_other_lockers(&api, &group, &topic).await;

    let per_batch = 10 * KEYS;
    java_send_ordered(&topic, 0, per_batch).await;
    wait_handled(&log, per_batch).await;

    // A third member joins: queues move, each only after its old owner let go of it.
    let three = orderly_member(
        &group,
        &format!("{order:?}3"),
        &topic,
        order,
        &log,
        handler_time,
    )
    .await;
    java_send_ordered(&topic, per_batch, per_batch).await;
    wait_split(&[&one, &two, &three], &topic, 8).await;
    wait_handled(&log, 2 * per_batch).await;
    assert_broker_refuses_other_lockers(&api, &group, &topic).await;

    // One leaves (a clean shutdown unlocks its queues for the others at once).
    two.shutdown().await;
    java_send_ordered(&topic, 2 * per_batch, per_batch).await;
    wait_split(&[&one, &three], &topic, 8).await;
    wait_handled(&log, 3 * per_batch).await;

    let repeats = assert_key_order(&log, 3 * per_batch / KEYS);
    if order == ConsumeOrder::Orderly {
        assert_one_call_per_queue_at_a_time(&log);
    }
    println!(
        "{order:?}: {} deliveries of {} messages, {repeats} repeated around rebalances",
        log.lock().unwrap().len(),
        3 * per_batch
    );
    one.shutdown().await;
    three.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ordering_by_key_runs_keys_of_one_queue_concurrently_and_each_key_in_order() {
    let api = api().await;
    let topic = unique("OrderlyByKey");
    // One queue: per-queue order could only run one handler call at a time.
    create_topic_on(&api, &[broker_a()], &topic, 1).await;
    let group = unique("cg_bykey");
    let log: Log = Arc::default();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let per_key_running: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let consumer = {
        let log = Arc::clone(&log);
        let in_flight = Arc::clone(&in_flight);
        let most = Arc::clone(&most);
        let per_key_running = Arc::clone(&per_key_running);
        PushConsumer::builder(&group)
            .client(
                ClientConfig::new()
                    .name_server(&namesrv())
                    .instance_name("bykey"),
            )
            .subscribe(&topic, "*")
            .consume_from(ConsumeFrom::FirstOffset)
            .consume_order(ConsumeOrder::OrderlyByKey)
            .consume_concurrency(8)
            .handler(move |messages, context| {
                let log = Arc::clone(&log);
                let in_flight = Arc::clone(&in_flight);
                let most = Arc::clone(&most);
                let per_key_running = Arc::clone(&per_key_running);
                async move {
                    let (key, _) = key_and_seq(&messages[0]);
                    {
                        let mut running = per_key_running.lock().unwrap();
                        let n = running.entry(key.clone()).or_default();
                        *n += 1;
                        assert_eq!(*n, 1, "two calls of key {key} at once");
                    }
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    let started = Instant::now();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    *per_key_running.lock().unwrap().get_mut(&key).unwrap() -= 1;
                    let ended = Instant::now();
                    let mut log = log.lock().unwrap();
                    for m in &messages {
                        let (key, seq) = key_and_seq(m);
                        log.push(Call {
                            member: "bykey".into(),
                            queue: context.queue.clone(),
                            key,
                            seq,
                            started,
                            ended,
                        });
                    }
                    ConsumeResult::Success
                }
            })
            .start()
            .await
            .unwrap()
    };
    let total = 10 * KEYS;
    java_send_ordered(&topic, 0, total).await;
    wait_handled(&log, total).await;
    assert_key_order(&log, total / KEYS);
    let most = most.load(Ordering::SeqCst);
    assert!(
        most > 1,
        "handler calls of one queue never overlapped (at most {most} at once)"
    );
    println!("ordering by key: up to {most} handler calls of one queue at once");
    consumer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn later_suspends_the_queue_and_hands_the_same_messages_again_in_order() {
    let api = api().await;
    let topic = unique("OrderlySuspend");
    create_topic_on(&api, &[broker_a()], &topic, 1).await;
    let group = unique("cg_suspend");
    let deliveries: Arc<Mutex<Vec<(usize, i32, Instant)>>> = Arc::default();
    let suspend = Duration::from_millis(300);
    let consumer = {
        let deliveries = Arc::clone(&deliveries);
        PushConsumer::builder(&group)
            .client(
                ClientConfig::new()
                    .name_server(&namesrv())
                    .instance_name("suspend"),
            )
            .subscribe(&topic, "*")
            .consume_from(ConsumeFrom::FirstOffset)
            .consume_order(ConsumeOrder::Orderly)
            .suspend_time(suspend)
            .max_reconsume_times(2)
            .handler(move |messages, _| {
                let deliveries = Arc::clone(&deliveries);
                async move {
                    let m = &messages[0];
                    let seq: usize = String::from_utf8_lossy(&m.body)
                        .rsplit('-')
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap();
                    deliveries
                        .lock()
                        .unwrap()
                        .push((seq, m.reconsume_times, Instant::now()));
                    // Message 3 always fails; message 1 fails once.
                    if seq == 3 || (seq == 1 && m.reconsume_times == 0) {
                        ConsumeResult::later()
                    } else {
                        ConsumeResult::Success
                    }
                }
            })
            .start()
            .await
            .unwrap()
    };
    let producer = rmq::Producer::builder(unique("pg_suspend"))
        .client(
            ClientConfig::new()
                .name_server(&namesrv())
                .instance_name("ps"),
        )
        .start()
        .await
        .unwrap();
    for i in 0..6 {
        producer
            .send(rmq::Message::new(&topic, format!("m-{i}")))
            .await
            .unwrap();
    }
    let done = wait_for(LONG, || async {
        deliveries
            .lock()
            .unwrap()
            .iter()
            .any(|(seq, _, _)| *seq == 5)
            .then_some(())
    })
    .await;
    assert!(done.is_some(), "{:?}", deliveries.lock().unwrap());
    let got = deliveries.lock().unwrap().clone();
    let order: Vec<(usize, i32)> = got.iter().map(|(s, r, _)| (*s, *r)).collect();
    // 1 is handed again (nothing after it in between); 3 fails 3 times (reconsume 0, 1, 2),
    // then goes to the dead-letter queue and the queue moves on.
    assert_eq!(
        order,
        vec![
            (0, 0),
            (1, 0),
            (1, 1),
            (2, 0),
            (3, 0),
            (3, 1),
            (3, 2),
            (4, 0),
            (5, 0)
        ]
    );
    let gap = got[2].2 - got[1].2;
    assert!(
        gap >= suspend,
        "handed again after {gap:?}, before the suspend time"
    );
    // The dead-letter queue holds message 3.
    let dlq = format!("%DLQ%{group}");
    let stored = wait_for(LONG, || async {
        let route = api.topic_route(&dlq, api.deadline()).await.ok()?;
        let mut n = 0;
        for b in &route.broker_datas {
            for q in 0..route.queue_datas.iter().map(|q| q.read_queue_nums).max()? {
                n += api.max_offset(b.master_addr()?, &dlq, q).await.ok()?;
            }
        }
        (n >= 1).then_some(n)
    })
    .await;
    assert_eq!(stored, Some(1), "one message in {dlq}");
    consumer.shutdown().await;
    producer.shutdown().await;
}
