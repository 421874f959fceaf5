//! `rmq request`: send one request and print its reply (Java `DefaultMQProducer.request`).

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use rmq::{ClientConfig, Message, MessageExt, Producer};

/// Arguments of `rmq request`.
#[derive(Args, Debug)]
pub(crate) struct RequestArgs {
    /// Topic the responders consume.
    #[arg(long, short = 't')]
    topic: String,
    /// Request body (UTF-8 text).
    #[arg(long)]
    body: String,
    /// How long to wait for the reply, sending included, in milliseconds.
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    timeout: u64,
    /// Tag of the request.
    #[arg(long)]
    tags: Option<String>,
    /// Key of the request.
    #[arg(long)]
    key: Option<String>,
    /// Producer group of the requester.
    #[arg(long, default_value = "rmq_cli_requester")]
    group: String,
}

/// Sends the request, waits for the reply and prints it: its body (or, with `--json`, one
/// document with the correlation id, body and properties). No reply in time is an error.
pub(crate) async fn run(args: &RequestArgs, config: ClientConfig, json: bool) -> Result<()> {
    let timeout = Duration::from_millis(args.timeout);
    let mut msg = Message::new(&args.topic, args.body.clone().into_bytes());
    if let Some(tags) = &args.tags {
        msg = msg.with_tags(tags);
    }
    if let Some(key) = &args.key {
        msg = msg.with_key(key);
    }
    msg.validate()?;
    let producer = Producer::builder(&args.group)
        .client(config)
        .start()
        .await
        .context("starting the requester")?;
    let reply = producer.request(msg, timeout).await;
    producer.shutdown().await;
    // The library's errors name the topic already.
    let reply = reply?;
    if json {
        println!("{}", serde_json::to_string_pretty(&reply_json(&reply))?);
    } else {
        println!("{}", String::from_utf8_lossy(&reply.body));
    }
    Ok(())
}

fn reply_json(m: &MessageExt) -> serde_json::Value {
    use base64::Engine as _;
    let properties: serde_json::Map<String, serde_json::Value> = m
        .properties
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let mut doc = serde_json::json!({
        "correlation_id": m.property("CORRELATION_ID"),
        "topic": m.topic,
        "queue_id": m.queue_id,
        "born_host": m.born_host.to_string(),
        "born_timestamp": m.born_timestamp,
        "store_host": m.store_host.to_string(),
        "store_timestamp": m.store_timestamp,
        "body_len": m.body.len(),
        "properties": properties,
    });
    match std::str::from_utf8(&m.body) {
        Ok(text) => doc["body"] = text.into(),
        Err(_) => {
            doc["body"] = base64::engine::general_purpose::STANDARD
                .encode(&m.body)
                .into();
            doc["body_encoding"] = "base64".into();
        }
    }
    doc
}
