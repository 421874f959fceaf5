//! `rmq query`, `rmq view` and `rmq topic create`: stored messages by key or by offset message
//! id, and topic creation (like `mqadmin queryMsgByKey`, `queryMsgById` and `updateTopic`).

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use rmq::{Admin, MessageExt, MessageQueue, TopicTarget};

/// Turns a message into the JSON object `rmq consume --json` prints.
pub(crate) type MessageJson = fn(&MessageQueue, &MessageExt) -> serde_json::Value;

/// Arguments of `rmq query`.
#[derive(Args, Debug)]
pub(crate) struct QueryArgs {
    /// Topic.
    #[arg(long, short = 't')]
    topic: String,
    /// The message key to look for (one of a message's space-separated keys).
    #[arg(long, short = 'k')]
    key: String,
    /// Most messages each broker returns.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(i32).range(1..))]
    max: i32,
    /// Earliest store time, epoch ms.
    #[arg(long, default_value_t = 0)]
    begin_ms: i64,
    /// Latest store time, epoch ms (default: no limit).
    #[arg(long, default_value_t = i64::MAX)]
    end_ms: i64,
}

/// Arguments of `rmq view`.
#[derive(Args, Debug)]
pub(crate) struct ViewArgs {
    /// The offset message id (a send result's `offset_msg_id`).
    offset_msg_id: String,
}

/// `rmq topic …`.
#[derive(Subcommand, Debug)]
pub(crate) enum TopicCommand {
    /// Create (or update) a topic on every master of a cluster or on one broker; without
    /// `--cluster` or `--broker`, on every master the name server knows.
    Create(CreateArgs),
}

/// Arguments of `rmq topic create`.
#[derive(Args, Debug)]
pub(crate) struct CreateArgs {
    /// Topic.
    #[arg(long, short = 't')]
    topic: String,
    /// Read and write queues on each broker.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(i32).range(1..=16384))]
    queues: i32,
    /// Create on every master of this cluster.
    #[arg(long, short = 'c', conflicts_with = "broker")]
    cluster: Option<String>,
    /// Create on the broker at this address (`host:port`).
    #[arg(long, short = 'b')]
    broker: Option<String>,
}

/// A stored message as JSON: what `rmq consume --json` prints, with the storing broker's
/// address instead of a broker name.
fn stored_json(m: &MessageExt, message_json: MessageJson) -> serde_json::Value {
    let queue = MessageQueue::new(m.topic.clone(), String::new(), m.queue_id);
    let mut doc = message_json(&queue, m);
    if let Some(obj) = doc.as_object_mut() {
        obj.remove("broker");
        obj.insert("store_host".into(), m.store_host.to_string().into());
        obj.insert("commit_log_offset".into(), m.commit_log_offset.into());
    }
    doc
}

fn print_stored(m: &MessageExt) {
    println!(
        "{} offset_id={} {}@{}/{}@{} tags={} keys={} stored={} body={:?}",
        m.msg_id(),
        m.offset_msg_id,
        m.topic,
        m.store_host,
        m.queue_id,
        m.queue_offset,
        m.tags().unwrap_or("-"),
        m.keys().unwrap_or("-"),
        m.store_timestamp,
        String::from_utf8_lossy(&m.body)
    );
}

/// `rmq query`: every stored message of the topic with the key, oldest first.
pub(crate) async fn query(
    admin: &Admin,
    args: &QueryArgs,
    json: bool,
    message_json: MessageJson,
) -> Result<()> {
    let found = admin
        .query_message(&args.topic, &args.key, args.max, args.begin_ms, args.end_ms)
        .await
        .with_context(|| format!("query of key {:?} in {}", args.key, args.topic))?;
    if json {
        let messages: Vec<_> = found.iter().map(|m| stored_json(m, message_json)).collect();
        let doc = serde_json::json!({"topic": args.topic, "key": args.key, "messages": messages});
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        for m in &found {
            print_stored(m);
        }
        eprintln!("found {}", found.len());
    }
    Ok(())
}

/// `rmq view`: one stored message, body included.
pub(crate) async fn view(
    admin: &Admin,
    args: &ViewArgs,
    json: bool,
    message_json: MessageJson,
) -> Result<()> {
    let m = admin
        .view_message(&args.offset_msg_id)
        .await
        .with_context(|| format!("message {}", args.offset_msg_id))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&stored_json(&m, message_json))?
        );
    } else {
        print_stored(&m);
        for (k, v) in &m.properties {
            println!("  {k}={v}");
        }
    }
    Ok(())
}

/// `rmq topic …`.
pub(crate) async fn topic(admin: &Admin, cmd: &TopicCommand, json: bool) -> Result<()> {
    let TopicCommand::Create(args) = cmd;
    // The library checks the topic and the count before it asks the name server anything.
    let target = match (&args.cluster, &args.broker) {
        (Some(c), _) => TopicTarget::Cluster(c.clone()),
        (None, Some(b)) => TopicTarget::Broker(b.clone()),
        (None, None) => TopicTarget::AllClusters,
    };
    let brokers = admin
        .create_topic_on(&args.topic, args.queues, target.clone())
        .await
        .with_context(|| format!("create topic {} on {target:?}", args.topic))?;
    if json {
        let doc =
            serde_json::json!({"topic": args.topic, "queues": args.queues, "brokers": brokers});
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!(
            "created topic {} with {} queues on {}",
            args.topic,
            args.queues,
            brokers.join(", ")
        );
    }
    Ok(())
}
