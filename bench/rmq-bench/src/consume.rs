//! Backlog-drain benchmark of the `rmq` push consumer, the Rust counterpart of
//! `bench/java/src/main/java/JavaConsumeBench.java`; same flags, same single output line:
//!
//! ```text
//! rust-consumer complete=1 handled=N distinct=D duplicates=X elapsed_s=W mps=M first_ms=F
//!   max_gap_ms=G drain_cpu_s=C hwm_MiB=H body_bytes=B calls=K max_call=M shutdown_s=S
//! ```
//!
//! One [`PushConsumer`] joins a fresh group (`--group`, default `bench_consume_rust_<pid>`),
//! subscribes to `-t` with `*` from the first offset, and its handler (called with one message
//! at a time by default, 20 calls at once, as Java's `consumeThreadMax`) records every message
//! id (the 16-byte `UNIQ_KEY`, kept as a `u128` in a set sized for `-q`; other ids as strings)
//! and returns `Success`. The clock starts right before `start()` and stops when the `-q`-th
//! *distinct* id was handled (`elapsed_s`, `mps = q / elapsed_s`); the consumer then keeps
//! running for `--linger-ms` so late duplicates are still counted, and shuts down.
//!
//! * `handled` counts handler deliveries, `duplicates = handled − distinct`; `calls` handler
//!   calls and `max_call` the most messages in one call (with `--batch` ≥ 32 this shows how
//!   many messages one pull brought).
//! * `first_ms`: `start()` to the first message handled; `max_gap_ms`: longest time between two
//!   consecutive handled messages before the last one (stalls show here).
//! * `drain_cpu_s`: user+sys CPU of the process from before `start()` to the `-q`-th message
//!   (`/proc/self/stat`); `hwm_MiB`: `VmHWM` of `/proc/self/status` at the end.
//! * `complete=0` (and exit status 1) when `--timeout` passed before `-q` distinct ids arrived.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use rmq::{ClientConfig, ConsumeFrom, ConsumeResult, MessageExt, PushConsumer};
use tokio::sync::Notify;

/// Flags of the consume benchmark (`rmq-bench consume …`).
#[derive(Debug, Args)]
pub(crate) struct ConsumeArgs {
    /// Name server address.
    #[arg(short = 'n', default_value = "127.0.0.1:9876")]
    name_server: String,
    /// Topic holding the backlog.
    #[arg(short = 't', default_value = "BenchmarkTest")]
    topic: String,
    /// Messages to drain (distinct message ids).
    #[arg(short = 'q', default_value_t = 100_000)]
    total: u64,
    /// Consumer group (use a fresh one per run: a known group resumes at its stored offsets).
    #[arg(long)]
    group: Option<String>,
    /// Handler calls at once (`consume_concurrency`, Java `consumeThreadMax`).
    #[arg(long, default_value_t = 20)]
    threads: usize,
    /// Messages per handler call (`consume_batch_size`, Java `consumeMessageBatchMaxSize`).
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Messages asked for per pull (`pull_batch_size`, Java `pullBatchSize`; the broker
    /// returns at most 32 by default).
    #[arg(long, default_value_t = 32)]
    pull_batch: i32,
    /// Simulated work: the handler sleeps this many µs per message before it returns.
    #[arg(long, default_value_t = 0)]
    handler_delay_us: u64,
    /// Flow control per queue, `MESSAGES,BYTES,SPAN` (`flow_control`; default
    /// 1000,104857600,2000 as Java).
    #[arg(long, value_name = "MESSAGES,BYTES,SPAN")]
    flow_control: Option<String>,
    /// Give up after this many seconds without the last message.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Keep consuming this long after the last message, to count late duplicates.
    #[arg(long, default_value_t = 1000)]
    linger_ms: u64,
    /// Progress line on stderr every this many ms (0: none).
    #[arg(long, default_value_t = 1000)]
    progress_ms: u64,
}

/// What the handler saw; behind one mutex (one short lock per handler call).
struct Tally {
    ids: HashSet<u128>,
    /// Ids that are not 32 hex digits (none with this repository's or Java's producers).
    other_ids: HashSet<String>,
    handled: u64,
    calls: u64,
    max_call: usize,
    body_bytes: u64,
    first: Option<Instant>,
    last: Option<Instant>,
    max_gap: Duration,
    /// When the `total`-th distinct id was handled, and the process CPU time then.
    done: Option<(Instant, f64)>,
}

impl Tally {
    fn distinct(&self) -> u64 {
        (self.ids.len() + self.other_ids.len()) as u64
    }
}

struct Shared {
    total: u64,
    tally: Mutex<Tally>,
    finished: Notify,
}

impl Shared {
    fn record(&self, messages: &[MessageExt]) {
        let now = Instant::now();
        let mut t = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        for m in messages {
            let id = m.msg_id();
            match (id.len() == 32)
                .then(|| u128::from_str_radix(id, 16).ok())
                .flatten()
            {
                Some(v) => {
                    t.ids.insert(v);
                }
                None => {
                    t.other_ids.insert(id.to_string());
                }
            }
            t.handled += 1;
            t.body_bytes += m.body.len() as u64;
        }
        t.calls += 1;
        t.max_call = t.max_call.max(messages.len());
        if t.first.is_none() {
            t.first = Some(now);
        }
        if t.done.is_none() {
            if let Some(last) = t.last {
                t.max_gap = t.max_gap.max(now - last);
            }
            t.last = Some(now);
            if t.distinct() >= self.total {
                t.done = Some((now, cpu_seconds()));
                self.finished.notify_one();
            }
        }
    }
}

/// User+sys CPU seconds of this process (`/proc/self/stat`, USER_HZ = 100); NaN if unreadable.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
    match (tick(11), tick(12)) {
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => f64::NAN,
    }
}

/// `VmHWM` (peak RSS) of this process in MiB; NaN if unreadable.
fn hwm_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn parse_flow_control(s: &str) -> anyhow::Result<(usize, usize, i64)> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if let [m, b, span] = parts[..] {
        Ok((
            m.parse().context("flow control messages")?,
            b.parse().context("flow control bytes")?,
            span.parse().context("flow control span")?,
        ))
    } else {
        bail!("--flow-control wants MESSAGES,BYTES,SPAN, e.g. 100,1048576,2000 (got {s:?})")
    }
}

pub(crate) async fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    if args.total == 0 {
        bail!("-q must be at least 1");
    }
    let group = args
        .group
        .clone()
        .unwrap_or_else(|| format!("bench_consume_rust_{}", std::process::id()));
    let capacity = usize::try_from(args.total).context("-q too large")?;
    let shared = Arc::new(Shared {
        total: args.total,
        tally: Mutex::new(Tally {
            ids: HashSet::with_capacity(capacity),
            other_ids: HashSet::new(),
            handled: 0,
            calls: 0,
            max_call: 0,
            body_bytes: 0,
            first: None,
            last: None,
            max_gap: Duration::ZERO,
            done: None,
        }),
        finished: Notify::new(),
    });

    let mut builder = PushConsumer::builder(group.as_str())
        .client(
            ClientConfig::new()
                .name_server(&args.name_server)
                .instance_name(format!("bench-{}", std::process::id())),
        )
        .subscribe(args.topic.as_str(), "*")
        .consume_from(ConsumeFrom::FirstOffset)
        .consume_concurrency(args.threads)
        .consume_batch_size(args.batch)
        .pull_batch_size(args.pull_batch);
    if let Some(fc) = &args.flow_control {
        let (messages, bytes, span) = parse_flow_control(fc)?;
        builder = builder.flow_control(messages, bytes, span);
    }
    let handler_state = Arc::clone(&shared);
    let delay_us = args.handler_delay_us;
    let builder = builder.handler(move |messages, _context| {
        let state = Arc::clone(&handler_state);
        async move {
            if delay_us > 0 {
                tokio::time::sleep(Duration::from_micros(delay_us * messages.len() as u64)).await;
            }
            state.record(&messages);
            ConsumeResult::Success
        }
    });

    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let consumer = builder.start().await.context("start consumer")?;

    // Wait for the last message, printing progress.
    let deadline = tokio::time::Instant::from_std(start) + Duration::from_secs(args.timeout);
    let period = Duration::from_millis(if args.progress_ms == 0 {
        u64::MAX / 4
    } else {
        args.progress_ms
    });
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let mut last_handled = 0;
    let complete = loop {
        tokio::select! {
            () = shared.finished.notified() => break true,
            () = tokio::time::sleep_until(deadline) => break false,
            _ = ticker.tick() => {
                let (handled, distinct) = {
                    let t = shared.tally.lock().unwrap_or_else(PoisonError::into_inner);
                    (t.handled, t.distinct())
                };
                eprintln!(
                    "rmq-bench consume: t={:.1}s handled={handled} distinct={distinct} (+{}) queues={}",
                    start.elapsed().as_secs_f64(),
                    handled - last_handled,
                    consumer.assigned_queues().len(),
                );
                last_handled = handled;
            }
        }
    };
    if complete && args.linger_ms > 0 {
        tokio::time::sleep(Duration::from_millis(args.linger_ms)).await;
    }
    let t_shutdown = Instant::now();
    consumer.shutdown().await;
    let shutdown_s = t_shutdown.elapsed().as_secs_f64();

    let t = shared.tally.lock().unwrap_or_else(PoisonError::into_inner);
    let distinct = t.distinct();
    let (end, cpu_end) = t.done.unwrap_or_else(|| (Instant::now(), cpu_seconds()));
    let elapsed = (end - start).as_secs_f64();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "rust-consumer complete={} handled={} distinct={distinct} duplicates={} elapsed_s={elapsed:.3} mps={:.0} first_ms={:.1} max_gap_ms={:.1} drain_cpu_s={:.2} hwm_MiB={:.1} body_bytes={} calls={} max_call={} shutdown_s={shutdown_s:.3}",
        u8::from(complete),
        t.handled,
        t.handled - distinct,
        distinct as f64 / elapsed,
        t.first.map_or(f64::NAN, |f| ms(f - start)),
        ms(t.max_gap),
        cpu_end - cpu0,
        hwm_mib(),
        t.body_bytes,
        t.calls,
        t.max_call,
    );
    if !complete {
        bail!(
            "timed out after {} s: {distinct} of {} distinct messages handled",
            args.timeout,
            args.total
        );
    }
    Ok(())
}
