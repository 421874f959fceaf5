//! Broker membership changes on the real two-broker cluster (`scripts/rocketmq start
//! --brokers 2`). This binary stops and restarts broker-b, so it holds only tests that can
//! share that disruption; cargo runs test binaries one at a time.

mod common;

use std::time::Duration;

use common::broker::{api, broker_a, broker_b, create_topic_on, namesrv, unique, wait_for};
use rmq::{Message, Producer, SendStatus};

/// The tests here stop and start brokers: they take turns.
static CLUSTER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn rocketmq(args: &[&str]) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/rocketmq");
    let status = tokio::process::Command::new("bash")
        .arg(script)
        .args(args)
        .status()
        .await
        .expect("scripts/rocketmq runs");
    assert!(status.success(), "scripts/rocketmq {args:?} failed");
}

#[tokio::test]
async fn a_stopped_broker_leaves_the_broker_table_and_a_restarted_one_returns() {
    let _turn = CLUSTER.lock().await;
    let producer = Producer::builder(unique("membership"))
        .client(
            rmq::ClientConfig::new()
                .name_server(&namesrv())
                .poll_name_server_interval(Duration::from_secs(1))
                .heartbeat_interval(Duration::from_secs(1)),
        )
        .start()
        .await
        .unwrap();
    let has_b = || async {
        producer
            .instance()
            .brokers()
            .contains_key("broker-b")
            .then_some(())
    };
    assert!(
        wait_for(Duration::from_secs(10), has_b).await.is_some(),
        "broker-b not in the broker table: start the cluster with `scripts/rocketmq start --brokers 2`; table: {:?}",
        producer.instance().brokers()
    );

    rocketmq(&["stop-broker", "broker-b"]).await;
    // The name server drops broker-b from the TBW102 route; the next refresh sees it and the
    // next heartbeat tick removes the broker.
    let gone = wait_for(Duration::from_secs(60), || async {
        (!producer.instance().brokers().contains_key("broker-b")).then_some(())
    })
    .await;
    let table = producer.instance().brokers();
    rocketmq(&["start-broker", "broker-b"]).await;
    assert!(
        gone.is_some(),
        "broker-b still in the broker table: {table:?}"
    );
    assert!(table.contains_key("broker-a"));

    let back = wait_for(Duration::from_secs(60), has_b).await;
    assert!(
        back.is_some(),
        "broker-b did not come back: {:?}",
        producer.instance().brokers()
    );
    producer.shutdown().await;
}

#[tokio::test]
async fn sends_fail_over_to_broker_b_inside_the_deadline_and_broker_a_is_avoided() {
    let _turn = CLUSTER.lock().await;
    let api = api().await;
    let topic = unique("FailoverTopic");
    create_topic_on(&api, &[broker_a(), broker_b()], &topic, 4).await;
    let send_timeout = Duration::from_secs(3);
    // Default 30 s route poll: the route keeps listing broker-a after it stops, so the
    // send path itself must route around it.
    let producer = Producer::builder(unique("failover"))
        .name_server(&namesrv())
        .send_timeout(send_timeout)
        .start()
        .await
        .unwrap();
    let mut brokers = std::collections::BTreeSet::new();
    for i in 0..16 {
        let r = producer
            .send(Message::new(&topic, format!("warm {i}")))
            .await
            .unwrap();
        brokers.insert(r.queue.broker_name);
    }
    assert_eq!(
        brokers.len(),
        2,
        "both brokers used while both run: {brokers:?}"
    );

    rocketmq(&["stop-broker", "broker-a"]).await;
    let mut outcome = Ok(());
    for i in 0..20 {
        let started = tokio::time::Instant::now();
        match producer
            .send(Message::new(&topic, format!("after stop {i}")))
            .await
        {
            Ok(r) => {
                if r.status != SendStatus::SendOk || r.queue.broker_name != "broker-b" {
                    outcome = Err(format!("send {i}: {r:?}"));
                    break;
                }
                if started.elapsed() > send_timeout {
                    outcome = Err(format!("send {i} took {:?}", started.elapsed()));
                    break;
                }
            }
            Err(e) => {
                outcome = Err(format!("send {i} failed: {e}"));
                break;
            }
        }
    }
    // Round-robin sent some attempt to broker-a; its failure isolated it (5.x: 10 s and more),
    // so the fault tolerance now steers every send to broker-b first.
    let isolated = producer.isolated_brokers();
    if outcome.is_ok() && !isolated.contains(&"broker-a".to_string()) {
        outcome = Err(format!(
            "broker-a not isolated after failures: {isolated:?}"
        ));
    }
    rocketmq(&["start-broker", "broker-a"]).await;
    outcome.unwrap();
    producer.shutdown().await;
    api.close().await;
}
