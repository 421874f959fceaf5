//! Java `filter.SqlFilterConsumer`: the broker delivers only messages whose properties match an
//! SQL92 expression (`SQL`, default Java's example). The broker must run with
//! `enablePropertyFilter=true`, or `start()` fails with `Error::FilterRejected`. Runs until
//! Ctrl-C, or until `COUNT` messages were handled.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rmq::{ConsumeFrom, ConsumeResult, PushConsumer, Selector};

#[tokio::main]
async fn main() -> rmq::Result<()> {
    let topic = std::env::var("TOPIC").unwrap_or_else(|_| "SqlFilterTest".into());
    let group = std::env::var("GROUP").unwrap_or_else(|_| "please_rename_unique_group_name".into());
    let sql = std::env::var("SQL").unwrap_or_else(|_| {
        "(TAGS is not null and TAGS in ('TagA', 'TagB')) and (a is not null and a between 0 and 3)"
            .into()
    });
    let count: Option<u64> = std::env::var("COUNT").ok().and_then(|c| c.parse().ok());
    let handled = Arc::new(AtomicU64::new(0));
    let enough = Arc::new(tokio::sync::Notify::new());
    let (seen, done) = (Arc::clone(&handled), Arc::clone(&enough));
    let consumer = PushConsumer::builder(group)
        .subscribe(&topic, Selector::sql(sql))
        .consume_from(ConsumeFrom::FirstOffset)
        .handler(move |messages, _context| {
            let (seen, done) = (Arc::clone(&seen), Arc::clone(&done));
            async move {
                for m in &messages {
                    println!(
                        "Receive New Messages: tags={} a={} body={:?}",
                        m.tags().unwrap_or("-"),
                        m.property("a").unwrap_or("-"),
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
    eprintln!("Consumer Started.");
    tokio::select! {
        _ = enough.notified() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    consumer.shutdown().await;
    eprintln!("{} messages handled", handled.load(Ordering::SeqCst));
    Ok(())
}
