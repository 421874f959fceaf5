//! Java `ordermessage.Consumer`: an orderly push consumer. Each queue is locked at its broker
//! and its messages reach the handler one at a time, in the order they were stored — so the
//! messages of one order id (sent to one queue by `producer_ordered`) are handled in send
//! order. Runs until Ctrl-C, or until `COUNT` messages were handled.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rmq::{ConsumeFrom, ConsumeOrder, ConsumeResult, PushConsumer};

#[tokio::main]
async fn main() -> rmq::Result<()> {
    let topic = std::env::var("TOPIC").unwrap_or_else(|_| "TopicTest".into());
    let group =
        std::env::var("GROUP").unwrap_or_else(|_| "please_rename_unique_group_name_3".into());
    let count: Option<u64> = std::env::var("COUNT").ok().and_then(|c| c.parse().ok());
    let handled = Arc::new(AtomicU64::new(0));
    let enough = Arc::new(tokio::sync::Notify::new());
    let (seen, done) = (Arc::clone(&handled), Arc::clone(&enough));
    let consumer = PushConsumer::builder(group)
        .subscribe(&topic, "TagA || TagC || TagD")
        .consume_from(ConsumeFrom::FirstOffset)
        .consume_order(ConsumeOrder::Orderly)
        // Orderly consumers retry a failing message forever unless told otherwise (as Java);
        // after 5 deliveries it goes to the dead-letter topic and the queue moves on.
        .max_reconsume_times(5)
        .handler(move |messages, context| {
            let (seen, done) = (Arc::clone(&seen), Arc::clone(&done));
            async move {
                for m in &messages {
                    println!(
                        "Receive in order: {}/{} offset={} body={:?}",
                        context.queue.broker_name,
                        m.queue_id,
                        m.queue_offset,
                        String::from_utf8_lossy(&m.body)
                    );
                }
                let total =
                    seen.fetch_add(messages.len() as u64, Ordering::SeqCst) + messages.len() as u64;
                if count.is_some_and(|n| total >= n) {
                    done.notify_one();
                }
                ConsumeResult::Success
            }
        })
        .start()
        .await?;
    eprintln!("Consumer Started.");
    tokio::select! {
        _ = enough.notified() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    consumer.shutdown().await;
    eprintln!("{} messages handled", handled.load(Ordering::SeqCst));
    Ok(())
}
