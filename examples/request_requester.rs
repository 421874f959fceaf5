//! Java `rpc.RequestProducer`: send one request and wait for its reply (run
//! `request_responder` on the same topic first). `TIMEOUT` is the wait in ms (default 3000,
//! as in Java).

use std::time::{Duration, Instant};

use rmq::{Message, Producer};

#[tokio::main]
async fn main() -> rmq::Result<()> {
    let topic = std::env::var("TOPIC").unwrap_or_else(|_| "RequestTopic".into());
    let timeout: u64 = std::env::var("TIMEOUT")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(3000);
    // The name server comes from NAMESRV_ADDR (ClientConfig's fallback); there is no default.
    let producer = Producer::builder("please_rename_unique_group_name")
        .start()
        .await?;
    let started = Instant::now();
    let reply = producer
        .request(
            Message::new(&topic, "Hello world"),
            Duration::from_millis(timeout),
        )
        .await;
    producer.shutdown().await;
    let reply = reply?;
    println!(
        "request to <{topic}> cost: {} ms, correlation_id={} reply={:?}",
        started.elapsed().as_millis(),
        reply.property("CORRELATION_ID").unwrap_or_default(),
        String::from_utf8_lossy(&reply.body)
    );
    Ok(())
}
