//! Java `simple.LitePullConsumerSubscribe`: a lite pull consumer in a consumer group that polls
//! for messages of a topic from its first offset, committing automatically. Runs until
//! Ctrl-C, or until `COUNT` messages were polled.

use std::time::Duration;

use rmq::{ConsumeFrom, LitePullConsumer};

#[tokio::main]
async fn main() -> rmq::Result<()> {
    let topic = std::env::var("TOPIC").unwrap_or_else(|_| "TopicTest".into());
    let group = std::env::var("GROUP").unwrap_or_else(|_| "lite_pull_consumer_test".into());
    let count: Option<usize> = std::env::var("COUNT").ok().and_then(|c| c.parse().ok());
    // The name server comes from NAMESRV_ADDR (ClientConfig's fallback); there is no default.
    let consumer = LitePullConsumer::builder(group)
        .consume_from(ConsumeFrom::FirstOffset)
        .start()
        .await?;
    consumer.subscribe(&topic, "*").await?;
    eprintln!("Consumer Started.");
    let mut polled = 0;
    while count.is_none_or(|n| polled < n) {
        let batch = tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            batch = consumer.poll_with_queue(Duration::from_secs(1)) => batch?,
        };
        let Some((queue, messages)) = batch else {
            continue;
        };
        for m in &messages {
            println!(
                "Receive New Messages: {} {}/{} offset={} body={:?}",
                m.msg_id(),
                queue.broker_name,
                m.queue_id,
                m.queue_offset,
                String::from_utf8_lossy(&m.body)
            );
        }
        polled += messages.len();
    }
    // Commits what was polled, then leaves the group.
    consumer.shutdown().await;
    eprintln!("{polled} messages polled");
    Ok(())
}
