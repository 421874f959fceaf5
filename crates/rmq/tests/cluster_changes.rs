//! Broker membership changes on the real two-broker cluster (`scripts/rocketmq start
//! --brokers 2`). This binary stops and restarts broker-b, so it holds only tests that can
//! share that disruption; cargo runs test binaries one at a time.

mod common;

use std::time::Duration;

use common::broker::{namesrv, unique, wait_for};
use rmq::Producer;

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
    let producer = Producer::builder(unique("membership"))
        .name_server(&namesrv())
        .poll_name_server_interval(Duration::from_secs(1))
        .heartbeat_interval(Duration::from_secs(1))
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
