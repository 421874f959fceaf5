//! Java `rpc.ResponseConsumer`: a push consumer answers every request on a topic with a reply
//! (`create_reply_message` + `send_reply`), which the broker pushes straight to the requester.
//! Runs until Ctrl-C, or until `COUNT` replies were sent.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rmq::{create_reply_message, ConsumeFrom, ConsumeResult, Producer, PushConsumer};

#[tokio::main]
async fn main() -> rmq::Result<()> {
    let topic = std::env::var("TOPIC").unwrap_or_else(|_| "RequestTopic".into());
    let group = std::env::var("GROUP").unwrap_or_else(|_| "please_rename_unique_group_name".into());
    let count: Option<u64> = std::env::var("COUNT").ok().and_then(|c| c.parse().ok());
    // The name server comes from NAMESRV_ADDR (ClientConfig's fallback); there is no default.
    // The reply goes out through an ordinary producer.
    let replier = Producer::builder(format!("{group}_replier"))
        .start()
        .await?;
    let replied = Arc::new(AtomicU64::new(0));
    let enough = Arc::new(tokio::sync::Notify::new());
    let (sender, seen, done) = (replier.clone(), Arc::clone(&replied), Arc::clone(&enough));
    let consumer = PushConsumer::builder(group)
        .subscribe(&topic, "*")
        .consume_from(ConsumeFrom::FirstOffset)
        .handler(move |messages, _context| {
            let (sender, seen, done) = (sender.clone(), Arc::clone(&seen), Arc::clone(&done));
            async move {
                for m in &messages {
                    println!(
                        "handle message: {} body={:?}",
                        m.msg_id(),
                        String::from_utf8_lossy(&m.body)
                    );
                    let reply = match create_reply_message(m, "reply message contents.") {
                        Ok(reply) => reply,
                        Err(e) => {
                            eprintln!("not a request, no reply: {e}");
                            continue;
                        }
                    };
                    match sender.send_reply(reply).await {
                        Ok(result) => println!("reply to {} sent: {}", m.msg_id(), result.status),
                        Err(e) => eprintln!("reply to {} failed: {e}", m.msg_id()),
                    }
                    if count.is_some_and(|n| seen.fetch_add(1, Ordering::SeqCst) + 1 >= n) {
                        done.notify_one();
                    }
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
    replier.shutdown().await;
    eprintln!("{} replies sent", replied.load(Ordering::SeqCst));
    Ok(())
}
