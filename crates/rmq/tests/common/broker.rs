//! Access to the real Apache RocketMQ started by `scripts/rocketmq start` (the test command in
//! the README starts it). A test that needs it fails with a clear message when it is absent.

use std::time::Duration;

use rmq::client::ClientApi;
use rmq::protocol::{CreateTopicRequestHeader, Perm};

/// The name server of the local RocketMQ (`RMQ_NAMESRV`, default `127.0.0.1:9876`).
pub fn namesrv() -> String {
    std::env::var("RMQ_NAMESRV").unwrap_or_else(|_| "127.0.0.1:9876".to_string())
}

/// The broker-a address (`RMQ_BROKER_A`, default `127.0.0.1:10911`).
pub fn broker_a() -> String {
    std::env::var("RMQ_BROKER_A").unwrap_or_else(|_| "127.0.0.1:10911".to_string())
}

/// The RocketMQ version under test, as `scripts/rocketmq` was told (`ROCKETMQ_VERSION`).
pub fn version() -> String {
    std::env::var("ROCKETMQ_VERSION").unwrap_or_else(|_| "5.3.3".to_string())
}

pub fn is_v4() -> bool {
    version().starts_with('4')
}

/// A client API to the local name server; panics with instructions when it is not running.
pub async fn api() -> ClientApi {
    let api = ClientApi::standalone(vec![namesrv()], Duration::from_secs(5));
    if let Err(e) = api.cluster_info().await {
        panic!(
            "no RocketMQ name server at {} ({e}). Start one with `scripts/rocketmq start` \
             or run the README's test command, which does.",
            namesrv()
        );
    }
    api
}

/// A topic name unique to this test run.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{}_{}", std::process::id(), nanos % 1_000_000_000)
}

/// The broker-b address (`RMQ_BROKER_B`, default `127.0.0.1:10921`).
pub fn broker_b() -> String {
    std::env::var("RMQ_BROKER_B").unwrap_or_else(|_| "127.0.0.1:10921".to_string())
}

/// Creates `topic` on every broker in `addrs` and waits until the route lists them all.
pub async fn create_topic_on(api: &ClientApi, addrs: &[String], topic: &str, queues: i32) {
    for addr in addrs {
        let header = CreateTopicRequestHeader {
            topic: topic.to_string(),
            default_topic: "TBW102".to_string(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm: Perm::READ | Perm::WRITE,
            topic_filter_type: "SINGLE_TAG".to_string(),
            topic_sys_flag: Some(0),
            order: false,
        };
        api.create_topic(addr, &header).await.expect("create topic");
    }
    // Also right after an update: every broker must list the new queue count.
    wait_for(Duration::from_secs(15), || async {
        api.topic_route(topic, api.deadline())
            .await
            .ok()
            .filter(|r| {
                r.queue_datas.len() == addrs.len()
                    && r.queue_datas.iter().all(|q| q.write_queue_nums == queues)
            })
    })
    .await
    .unwrap_or_else(|| panic!("route of {topic} never listed {addrs:?}"));
}

/// Creates `topic` on broker-a with `queues` read and write queues and waits until the name
/// server returns a route for it.
pub async fn create_topic(api: &ClientApi, topic: &str, queues: i32) {
    create_topic_on(api, &[broker_a()], topic, queues).await;
}

/// Polls `check` (every 100 ms) until it yields a value or `limit` passes.
pub async fn wait_for<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
