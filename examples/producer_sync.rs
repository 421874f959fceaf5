//! Java `quickstart.Producer`: synchronous sends, each waiting for the broker's answer.

use rmq::{Message, Producer};

#[tokio::main]
async fn main() -> rmq::Result<()> {
    let topic = std::env::var("TOPIC").unwrap_or_else(|_| "TopicTest".into());
    // The name server comes from NAMESRV_ADDR (ClientConfig's fallback); there is no default.
    let producer = Producer::builder("please_rename_unique_group_name")
        .start()
        .await?;
    for i in 0..10 {
        let message = Message::new(&topic, format!("Hello RocketMQ {i}"))
            .with_tags("TagA")
            .with_key(format!("key-{i}"));
        let result = producer.send(message).await?;
        println!(
            "{} msg_id={} queue={}/{} offset={}",
            result.status,
            result.msg_id,
            result.queue.broker_name,
            result.queue.queue_id,
            result.queue_offset
        );
    }
    producer.shutdown().await;
    Ok(())
}
