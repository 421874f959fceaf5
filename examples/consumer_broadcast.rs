//! Java `broadcast.PushConsumer`: a broadcasting consumer. Every member of the group gets every
//! message; each keeps its own offsets in `offsets.json` under `OFFSET_DIR` (default
//! `$HOME/.rocketmq_offsets`), named by its client id — give each member on one host its own
//! `INSTANCE`. Runs until Ctrl-C, or until `COUNT` messages were handled.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rmq::{ClientConfig, ConsumeFrom, ConsumeResult, MessageModel, PushConsumer};

#[tokio::main]
async fn main() -> rmq::Result<()> {
    let topic = std::env::var("TOPIC").unwrap_or_else(|_| "TopicTest".into());
    let group =
        std::env::var("GROUP").unwrap_or_else(|_| "please_rename_unique_group_name_1".into());
    let instance = std::env::var("INSTANCE").unwrap_or_else(|_| "DEFAULT".into());
    let count: Option<u64> = std::env::var("COUNT").ok().and_then(|c| c.parse().ok());
    let handled = Arc::new(AtomicU64::new(0));
    let enough = Arc::new(tokio::sync::Notify::new());
    let (seen, done) = (Arc::clone(&handled), Arc::clone(&enough));
    let mut builder = PushConsumer::builder(group)
        .client(ClientConfig::new().instance_name(instance))
        .message_model(MessageModel::Broadcasting)
        .subscribe(&topic, "*")
        .consume_from(ConsumeFrom::FirstOffset);
    if let Ok(dir) = std::env::var("OFFSET_DIR") {
        builder = builder.offset_store_dir(dir);
    }
    let consumer = builder
        .handler(move |messages, _context| {
            let (seen, done) = (Arc::clone(&seen), Arc::clone(&done));
            async move {
                for m in &messages {
                    println!(
                        "Receive New Messages: {} body={:?}",
                        m.msg_id(),
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
    eprintln!("Broadcast Consumer Started as {}.", consumer.client_id());
    tokio::select! {
        _ = enough.notified() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    consumer.shutdown().await;
    eprintln!("{} messages handled", handled.load(Ordering::SeqCst));
    Ok(())
}
