//! Java `simple.AsyncProducer`: many sends in flight at once. A `Producer` is cheap to clone;
//! all clones share one pipelined connection per broker, and back-pressure bounds what is in
//! flight.

use rmq::{Message, Producer};
use tokio::task::JoinSet;

#[tokio::main]
async fn main() -> rmq::Result<()> {
    let topic = std::env::var("TOPIC").unwrap_or_else(|_| "TopicTest".into());
    let producer = Producer::builder("please_rename_unique_group_name")
        .start()
        .await?;
    let mut sends = JoinSet::new();
    for i in 0..100 {
        let producer = producer.clone();
        let message = Message::new(&topic, format!("Hello world {i}")).with_tags("TagA");
        sends.spawn(async move { (i, producer.send(message).await) });
    }
    let mut failed = 0;
    while let Some(joined) = sends.join_next().await {
        let Ok((i, outcome)) = joined else {
            failed += 1;
            continue;
        };
        match outcome {
            Ok(result) => println!("{i:3} {} msg_id={}", result.status, result.msg_id),
            Err(e) => {
                failed += 1;
                eprintln!("{i:3} failed: {e}");
            }
        }
    }
    producer.shutdown().await;
    println!("{} sent, {failed} failed", 100 - failed);
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}
