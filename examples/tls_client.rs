//! A producer and a consumer over TLS (Java clients with `-Dtls.enable=true`), for servers run
//! with `tls.server.mode=enforcing`. `TLS_CA` names the PEM file of the trusted certificate
//! authority; without it the example uses the explicitly insecure mode.

use std::time::Duration;

use rmq::{ClientConfig, ConsumeFrom, ConsumeResult, Message, Producer, PushConsumer, TlsConfig};

#[tokio::main]
async fn main() -> rmq::Result<()> {
    let topic = std::env::var("TOPIC").unwrap_or_else(|_| "TopicTest".into());
    let tls = match std::env::var("TLS_CA") {
        Ok(ca) => TlsConfig::with_ca_file(ca),
        // Self-signed development setups only: any certificate is accepted.
        Err(_) => TlsConfig::insecure_accept_any_certificate(),
    };
    // The name server comes from NAMESRV_ADDR (ClientConfig's fallback).
    let client = |instance: &str| ClientConfig::new().tls(tls.clone()).instance_name(instance);

    let producer = Producer::builder("please_rename_unique_group_name")
        .client(client("tls-producer"))
        .start()
        .await?;
    for i in 0..3 {
        let result = producer
            .send(Message::new(&topic, format!("Hello TLS {i}")))
            .await?;
        println!("{} msg_id={}", result.status, result.msg_id);
    }
    producer.shutdown().await;

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let consumer = PushConsumer::builder("please_rename_unique_group_name_tls")
        .client(client("tls-consumer"))
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
