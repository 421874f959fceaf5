//! `rmq lite-pull`: reads a topic's queues directly with a lite pull consumer in assign mode:
//! no group subscription, no rebalance, and no offset is ever committed (the internal group
//! `rmq_lite_pull_<pid>` only exists so that the brokers accept the pulls, as Java's tools do
//! with their own groups).

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use rmq::{ClientConfig, LitePullConsumer, MessageExt, MessageQueue};

/// Where the reading starts in every queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// The first stored message (the queue's min offset).
    First,
    /// After the last stored message: only new messages.
    Last,
    /// The first message stored at or after this epoch-ms time.
    Timestamp(i64),
}

fn parse_start(s: &str) -> Result<Start, String> {
    match s {
        "first" => Ok(Start::First),
        "last" => Ok(Start::Last),
        other => other
            .parse()
            .map(Start::Timestamp)
            .map_err(|_| format!("{other:?} is not first, last or an epoch-ms time")),
    }
}

/// `rmq lite-pull` arguments (the common ones come from the main command).
#[derive(Args, Debug)]
pub(crate) struct LitePullArgs {
    /// Topic.
    #[arg(long)]
    topic: String,
    /// Only this queue id (of every broker that has it).
    #[arg(long)]
    queue: Option<i32>,
    /// Where to start in each queue: `first`, `last` or an epoch-ms time.
    #[arg(long, default_value = "first", value_parser = parse_start)]
    from: Start,
    /// Stop after this many messages.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Stop after this many seconds (exit 1 if `--count` messages did not arrive by then).
    #[arg(long)]
    timeout: Option<u64>,
}

/// Prints the messages of the chosen queues until `--count`, `--timeout` or Ctrl-C; one line,
/// or one JSON object made by `to_json`, per message.
pub(crate) async fn run(
    args: LitePullArgs,
    client: ClientConfig,
    json: bool,
    to_json: fn(&MessageQueue, &MessageExt) -> serde_json::Value,
) -> Result<()> {
    let consumer = LitePullConsumer::builder(format!("rmq_lite_pull_{}", std::process::id()))
        .client(client)
        .auto_commit(false)
        .start()
        .await
        .context("start lite pull consumer")?;
    let outcome = read(&consumer, &args, json, to_json).await;
    consumer.shutdown().await;
    outcome
}

async fn read(
    consumer: &LitePullConsumer,
    args: &LitePullArgs,
    json: bool,
    to_json: fn(&MessageQueue, &MessageExt) -> serde_json::Value,
) -> Result<()> {
    let queues: Vec<MessageQueue> = consumer
        .queues(&args.topic)
        .await
        .with_context(|| format!("queues of {}", args.topic))?
        .into_iter()
        .filter(|q| args.queue.is_none_or(|id| q.queue_id == id))
        .collect();
    if queues.is_empty() {
        bail!(
            "{} has no queue {}",
            args.topic,
            args.queue.unwrap_or_default()
        );
    }
    consumer.assign(queues.clone()).await?;
    for q in &queues {
        match args.from {
            Start::First => consumer.seek_to_begin(q).await,
            Start::Last => consumer.seek_to_end(q).await,
            Start::Timestamp(ts) => consumer.seek_by_timestamp(q, ts).await,
        }
        .with_context(|| format!("seek {}/{}/{}", q.topic, q.broker_name, q.queue_id))?;
    }
    eprintln!(
        "reading {} queue(s) of {} as {}",
        queues.len(),
        args.topic,
        consumer.client_id()
    );
    let deadline = args
        .timeout
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let mut printed: u64 = 0;
    loop {
        if args.count.is_some_and(|n| printed >= n) {
            break;
        }
        let wait = match deadline {
            Some(d) => d.saturating_duration_since(tokio::time::Instant::now()),
            None => Duration::from_secs(5),
        };
        if wait.is_zero() {
            if let Some(n) = args.count {
                bail!(
                    "timed out after {} s: {printed} of {n} messages arrived",
                    args.timeout.unwrap_or_default()
                );
            }
            break;
        }
        let polled = tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            polled = consumer.poll_with_queue(wait) => polled?,
        };
        let Some((queue, messages)) = polled else {
            continue;
        };
        for m in messages {
            if args.count.is_some_and(|n| printed >= n) {
                break;
            }
            if json {
                println!("{}", to_json(&queue, &m));
            } else {
                println!(
                    "{} {}/{}/{}@{} tags={} keys={} reconsume={} body={:?}",
                    m.msg_id(),
                    m.topic,
                    queue.broker_name,
                    m.queue_id,
                    m.queue_offset,
                    m.tags().unwrap_or("-"),
                    m.keys().unwrap_or("-"),
                    m.reconsume_times,
                    String::from_utf8_lossy(&m.body)
                );
            }
            printed += 1;
        }
    }
    eprintln!("read {printed}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_positions() {
        assert_eq!(parse_start("first"), Ok(Start::First));
        assert_eq!(parse_start("last"), Ok(Start::Last));
        assert_eq!(
            parse_start("1700000000000"),
            Ok(Start::Timestamp(1_700_000_000_000))
        );
        assert!(parse_start("yesterday").is_err());
    }
}
