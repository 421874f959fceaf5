//! Java `ordermessage.Producer`: messages of one order id go to one queue, so a consumer sees
//! them in the order they were sent. `SelectByHash` picks the queue as Java's
//! `SelectMessageQueueByHash` does, so Rust and Java producers agree.

use rmq::{Message, Producer, SelectByHash};

#[tokio::main]
async fn main() -> rmq::Result<()> {
    let topic = std::env::var("TOPIC").unwrap_or_else(|_| "TopicTest".into());
    let producer = Producer::builder("please_rename_unique_group_name")
        .start()
        .await?;
    let tags = ["TagA", "TagB", "TagC", "TagD", "TagE"];
    for i in 0..20i64 {
        let order_id = i % 4;
        let message = Message::new(&topic, format!("Hello RocketMQ {i}"))
            .with_tags(tags[(i % 5) as usize])
            .with_key(format!("KEY{i}"));
        let result = producer
            .send_with_selector(message, &SelectByHash, &order_id)
            .await?;
        println!(
            "order {order_id} {} queue={}/{} offset={}",
            result.status, result.queue.broker_name, result.queue.queue_id, result.queue_offset
        );
    }
    producer.shutdown().await;
    Ok(())
}
