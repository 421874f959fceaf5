//! Java `simple.OnewayProducer`: fire-and-forget sends (for logs and metrics, where losing a
//! message now and then is acceptable). There is no result to print.

use rmq::{Message, Producer};

#[tokio::main]
async fn main() -> rmq::Result<()> {
    let topic = std::env::var("TOPIC").unwrap_or_else(|_| "TopicTest".into());
    let producer = Producer::builder("please_rename_unique_group_name")
        .start()
        .await?;
    for i in 0..10 {
        producer
            .send_oneway(Message::new(&topic, format!("Hello RocketMQ {i}")).with_tags("TagA"))
            .await?;
    }
    println!("10 messages written one-way");
    producer.shutdown().await;
    Ok(())
}
