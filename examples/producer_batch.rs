//! Java `batch.SimpleBatchProducer`: several messages of one topic in one request. The broker
//! stores them at consecutive offsets of one queue.

use rmq::{Message, Producer};

#[tokio::main]
async fn main() -> rmq::Result<()> {
    let topic = std::env::var("TOPIC").unwrap_or_else(|_| "BatchTest".into());
    let producer = Producer::builder("BatchProducerGroupName").start().await?;
    let batch = vec![
        Message::new(&topic, "Hello world 0")
            .with_tags("Tag")
            .with_key("OrderID001"),
        Message::new(&topic, "Hello world 1")
            .with_tags("Tag")
            .with_key("OrderID002"),
        Message::new(&topic, "Hello world 2")
            .with_tags("Tag")
            .with_key("OrderID003"),
    ];
    let result = producer.send_batch(batch).await?;
    println!(
        "{} msg_ids={} queue={}/{} first offset={}",
        result.status,
        result.msg_id,
        result.queue.broker_name,
        result.queue.queue_id,
        result.queue_offset
    );
    producer.shutdown().await;
    Ok(())
}
