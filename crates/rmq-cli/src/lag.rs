//! `rmq lag`: a consumer group's progress per queue, like `mqadmin consumerProgress -g G`.

use anyhow::{bail, Context, Result};
use clap::Args;
use rmq::{Admin, ConsumeProgress};

/// Arguments of `rmq lag`.
#[derive(Args, Debug)]
pub(crate) struct LagArgs {
    /// Consumer group.
    #[arg(long, short = 'g')]
    group: String,
    /// Only this topic (default: every topic the group has offsets of, its retry topic too).
    #[arg(long, short = 't')]
    topic: Option<String>,
}

/// Asks the brokers and prints the progress: a table (or one JSON document with `queues` and
/// `total_lag`). A group no broker has offsets of is an error, as in mqadmin.
pub(crate) async fn run(admin: &Admin, args: &LagArgs, json: bool) -> Result<()> {
    let progress = admin
        .consume_progress(&args.group, args.topic.as_deref())
        .await
        .with_context(|| format!("consume progress of {}", args.group))?;
    if progress.queues.is_empty() {
        bail!(
            "no consume progress for group {}: no broker has offsets of it",
            args.group
        );
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&to_json(&progress))?);
    } else {
        print_table(&progress);
    }
    Ok(())
}

fn to_json(progress: &ConsumeProgress) -> serde_json::Value {
    let queues: Vec<serde_json::Value> = progress
        .queues
        .iter()
        .map(|q| {
            serde_json::json!({
                "topic": q.queue.topic,
                "broker": q.queue.broker_name,
                "queue_id": q.queue.queue_id,
                "broker_offset": q.broker_offset,
                "consumer_offset": q.consumer_offset,
                "lag": q.lag,
                "pull_offset": q.pull_offset,
                "last_timestamp": q.last_timestamp,
            })
        })
        .collect();
    serde_json::json!({
        "group": progress.group,
        "queues": queues,
        "total_lag": progress.total_lag,
        "consume_tps": progress.consume_tps,
    })
}

fn print_table(progress: &ConsumeProgress) {
    let topic_width = progress
        .queues
        .iter()
        .map(|q| q.queue.topic.len())
        .max()
        .unwrap_or(0)
        .max(6);
    let broker_width = progress
        .queues
        .iter()
        .map(|q| q.queue.broker_name.len())
        .max()
        .unwrap_or(0)
        .max(7);
    println!(
        "{:<topic_width$}  {:<broker_width$}  {:>5}  {:>14}  {:>16}  {:>10}  LAST TIME (UTC)",
        "TOPIC", "BROKER", "QUEUE", "BROKER OFFSET", "CONSUMER OFFSET", "LAG"
    );
    for q in &progress.queues {
        println!(
            "{:<topic_width$}  {:<broker_width$}  {:>5}  {:>14}  {:>16}  {:>10}  {}",
            q.queue.topic,
            q.queue.broker_name,
            q.queue.queue_id,
            q.broker_offset,
            q.consumer_offset,
            q.lag,
            q.last_timestamp.map_or_else(|| "N/A".to_string(), utc_time)
        );
    }
    println!();
    println!("consume TPS: {:.2}", progress.consume_tps);
    println!("total lag: {}", progress.total_lag);
}

/// `YYYY-MM-DD HH:MM:SS` in UTC of an epoch-ms time (the civil-from-days algorithm).
fn utc_time(epoch_ms: i64) -> String {
    let secs = epoch_ms.div_euclid(1000);
    let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        day_secs / 3600,
        day_secs % 3600 / 60,
        day_secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00");
        assert_eq!(utc_time(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(utc_time(1_764_665_439_123), "2025-12-02 08:50:39");
    }
}
