//! Java `tracemessage.TraceProducer` and `tracemessage.TracePushConsumer`: a producer and a
//! push consumer with message trace on. Every send the broker answered leaves a `Pub` record,
//! every handler call a `SubBefore` and a `SubAfter` record per message, in the trace topic
//! (`TRACE_TOPIC`, default `RMQ_SYS_TRACE_TOPIC`), in Java's format: `mqadmin
//! queryMsgTraceById -i <msg_id>` shows them.

use std::time::Duration;

use rmq::{ConsumeFrom, ConsumeResult, Message, Producer, PushConsumer, TraceConfig};

#[tokio::main]
async fn main() -> rmq::Result<()> {
    let topic = std::env::var("TOPIC").unwrap_or_else(|_| "TopicTest".into());
    let group = std::env::var("GROUP").unwrap_or_else(|_| "please_rename_unique_group_name".into());
    let trace = match std::env::var("TRACE_TOPIC") {
        Ok(t) => TraceConfig::new().topic(t),
        Err(_) => TraceConfig::new(),
    };
    // The name server comes from NAMESRV_ADDR (ClientConfig's fallback).
    let producer = Producer::builder("ProducerGroupName")
        .trace(trace.clone())
        .start()
        .await?;
    let mut sent = Vec::new();
    for i in 0..3 {
        let message = Message::new(&topic, format!("Hello RocketMQ {i}"))
            .with_tags("TagA")
            .with_key(format!("OrderID{i:03}"));
        let result = producer.send(message).await?;
        println!("{} msg_id={}", result.status, result.msg_id);
        sent.push(result.msg_id);
    }
    // Shutdown sends the trace records still buffered.
    producer.shutdown().await;
    if let Some(stats) = producer.trace_stats() {
        println!(
            "producer traces: {} recorded, {} dropped, {} trace messages sent",
            stats.recorded, stats.dropped, stats.sent_messages
        );
    }

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let consumer = PushConsumer::builder(&group)
        .subscribe(&topic, "TagA")
        .consume_from(ConsumeFrom::FirstOffset)
        .trace(trace)
        .handler(move |messages, _| {
            let tx = tx.clone();
            async move {
                for m in messages {
                    let _ = tx.send(m.msg_id().to_string());
                }
                ConsumeResult::Success
            }
        })
        .start()
        .await?;
    let mut received = 0;
    while received < sent.len() {
        match tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
            Ok(Some(id)) => {
                println!("received msg_id={id}");
                received += 1;
            }
            _ => break,
        }
    }
    consumer.shutdown().await;
    if let Some(stats) = consumer.trace_stats() {
        println!(
            "consumer traces: {} recorded, {} dropped, {} trace messages sent",
            stats.recorded, stats.dropped, stats.sent_messages
        );
    }
    Ok(())
}
