//! Fixed-count send benchmark of the `rmq` producer, the Rust counterpart of
//! `bench/java/JavaBench.java` and `bench/go/main.go` (see `main.rs`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use rmq::{Message, Producer, SendStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Mode {
    /// `send`: wait for the broker's answer.
    Sync,
    /// `send_oneway`: latency is the time until the request is written.
    Oneway,
}

/// Flags of the send benchmark (`rmq-bench [send] …`).
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// Name server address (always set it; there is no address-server lookup here).
    #[arg(short = 'n', default_value = "127.0.0.1:9876")]
    name_server: String,
    /// Topic.
    #[arg(short = 't', default_value = "BenchmarkTest")]
    topic: String,
    /// Concurrent senders (tokio tasks sharing one producer).
    #[arg(short = 'w', default_value_t = 16)]
    workers: usize,
    /// Message body size in bytes.
    #[arg(short = 's', default_value_t = 128)]
    size: usize,
    /// Number of messages to send.
    #[arg(short = 'q', default_value_t = 100_000)]
    total: u64,
    /// Send mode.
    #[arg(long, value_enum, default_value_t = Mode::Sync)]
    mode: Mode,
    /// Producer group.
    #[arg(long, default_value = "bench_rust_producer")]
    group: String,
}

/// What one worker saw.
struct Tally {
    latency_ns: Histogram<u64>,
    failed: u64,
    errors: Vec<String>,
}

const MAX_ERRORS_SHOWN: usize = 5;

fn new_histogram() -> Histogram<u64> {
    // 1 ns .. 60 s, 3 significant digits; larger values saturate (the send timeout is 3 s).
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

async fn worker(
    producer: Producer,
    topic: Arc<str>,
    body: Bytes,
    mode: Mode,
    next: Arc<AtomicU64>,
    total: u64,
) -> Tally {
    let mut tally = Tally {
        latency_ns: new_histogram(),
        failed: 0,
        errors: Vec::new(),
    };
    while next.fetch_add(1, Ordering::Relaxed) < total {
        let msg = Message::new(&*topic, body.clone());
        let t0 = Instant::now();
        let outcome = match mode {
            Mode::Sync => match producer.send(msg).await {
                Ok(r) if r.status == SendStatus::SendOk => Ok(()),
                Ok(r) => Err(format!("status {:?}", r.status)),
                Err(e) => Err(e.to_string()),
            },
            Mode::Oneway => producer.send_oneway(msg).await.map_err(|e| e.to_string()),
        };
        let elapsed = t0.elapsed();
        match outcome {
            Ok(()) => {
                let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX).max(1);
                tally.latency_ns.saturating_record(ns);
            }
            Err(e) => {
                tally.failed += 1;
                if tally.errors.len() < MAX_ERRORS_SHOWN {
                    tally.errors.push(e);
                }
            }
        }
    }
    tally
}

pub(crate) async fn run(args: SendArgs) -> anyhow::Result<()> {
    if args.workers == 0 {
        bail!("-w must be at least 1");
    }
    let producer = Producer::builder(args.group.as_str())
        .name_server(&args.name_server)
        .instance_name(format!("bench-{}", std::process::id()))
        .retries(2)
        .send_timeout(Duration::from_secs(3))
        .compression(None)
        .start()
        .await
        .context("start producer")?;

    let body: Bytes = (0..args.size)
        .map(|i| b'a' + (i % 26) as u8)
        .collect::<Vec<u8>>()
        .into();
    let topic: Arc<str> = Arc::from(args.topic.as_str());

    // Warm-up: route lookup, connection, (with autoCreateTopicEnable) topic creation.
    producer
        .send(Message::new(&*topic, body.clone()))
        .await
        .context("warm-up send")?;

    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..args.workers)
        .map(|_| {
            tokio::spawn(worker(
                producer.clone(),
                Arc::clone(&topic),
                body.clone(),
                args.mode,
                Arc::clone(&next),
                args.total,
            ))
        })
        .collect();
    let mut all = new_histogram();
    let mut failed = 0;
    let mut errors = Vec::new();
    for h in handles {
        let t = h.await.context("worker panicked")?;
        all.add(&t.latency_ns).context("merge histograms")?;
        failed += t.failed;
        errors.extend(t.errors);
    }
    let elapsed = start.elapsed().as_secs_f64();
    producer.shutdown().await;

    for e in errors.iter().take(MAX_ERRORS_SHOWN) {
        eprintln!("rmq-bench: send failed: {e}");
    }
    let sent = all.len();
    let ms = |q: f64| {
        if sent == 0 {
            0.0
        } else {
            all.value_at_quantile(q) as f64 / 1e6
        }
    };
    println!(
        "rust-client sent={sent} failed={failed} elapsed_s={elapsed:.3} tps={:.0} p50_ms={:.3} p99_ms={:.3} max_ms={:.3}",
        sent as f64 / elapsed,
        ms(0.50),
        ms(0.99),
        if sent == 0 { 0.0 } else { all.max() as f64 / 1e6 },
    );
    Ok(())
}
