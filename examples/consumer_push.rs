//! Java `quickstart.Consumer`: a push consumer in a consumer group, handling every message of a
//! topic from its first offset. Runs until Ctrl-C, or until `COUNT` messages were handled.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rmq::{ConsumeFrom, ConsumeResult, PushConsumer};

#[tokio::main]
async fn main() -> rmq::Result<()> {
    let topic = std::env::var("TOPIC").unwrap_or_else(|_| "TopicTest".into());
    let group =
        std::env::var("GROUP").unwrap_or_else(|_| "please_rename_unique_group_name_4".into());
    let count: Option<u64> = std::env::var("COUNT").ok().and_then(|c| c.parse().ok());
    let handled = Arc::new(AtomicU64::new(0));
    let enough = Arc::new(tokio::sync::Notify::new());
    let (seen, done) = (Arc::clone(&handled), Arc::clone(&enough));
    // The name server comes from NAMESRV_ADDR (ClientConfig's fallback); there is no default.
    let consumer = PushConsumer::builder(group)
        .subscribe(&topic, "*")
        .consume_from(ConsumeFrom::FirstOffset)
        .handler(move |messages, context| {
            let (seen, done) = (Arc::clone(&seen), Arc::clone(&done));
            async move {
                for m in &messages {
                    println!(
                        "Receive New Messages: {} {}/{} offset={} body={:?}",
                        m.msg_id(),
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
