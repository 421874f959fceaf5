//! Java `simple.AclClient`: a producer and a consumer that sign every request with ACL
//! credentials (brokers with `aclEnable=true` on 4.9.x, or authentication on 5.x).

use std::time::Duration;

use rmq::{ClientConfig, ConsumeFrom, ConsumeResult, Credentials, Message, Producer, PushConsumer};

#[tokio::main]
async fn main() -> rmq::Result<()> {
    let topic = std::env::var("TOPIC").unwrap_or_else(|_| "TopicTest".into());
    // Keys from the environment, never from the source or the command line.
    let access_key = std::env::var("ACCESS_KEY").unwrap_or_else(|_| "RocketMQ".into());
    let secret_key = std::env::var("SECRET_KEY").unwrap_or_else(|_| "12345678".into());
    // The name server comes from NAMESRV_ADDR (ClientConfig's fallback).
    let client = || ClientConfig::new().credentials(Credentials::new(&access_key, &secret_key));

    let producer = Producer::builder("please_rename_unique_group_name")
        .client(client().instance_name("acl-producer"))
        .start()
        .await?;
    for i in 0..3 {
        let result = producer
            .send(Message::new(&topic, format!("Hello ACL {i}")).with_tags("TagA"))
            .await?;
        println!("{} msg_id={}", result.status, result.msg_id);
    }
    producer.shutdown().await;

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let consumer = PushConsumer::builder("please_rename_unique_group_name_acl")
        .client(client().instance_name("acl-consumer"))
        .subscribe(&topic, "*")
        .consume_from(ConsumeFrom::FirstOffset)
        .handler(move |messages, _| {
            let tx = tx.clone();
            async move {
                for m in messages {
                    let _ = tx.send(String::from_utf8_lossy(&m.body).to_string());
                }
                ConsumeResult::Success
            }
        })
        .start()
        .await?;
    for _ in 0..3 {
        match tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
            Ok(Some(body)) => println!("received {body}"),
            _ => break,
        }
    }
    consumer.shutdown().await;
    Ok(())
}
