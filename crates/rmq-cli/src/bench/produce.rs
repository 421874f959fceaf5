//! `rmq bench produce`: one producer sends generated messages to a topic.
//!
//! * `sync`: `--concurrency` senders, each waiting for its send before it starts the next
//!   (Java's benchmark threads);
//! * `async`: one dispatcher keeps up to `--concurrency` sends in flight, each in a task of
//!   its own, without anyone waiting per send (Java's async send with callbacks);
//! * `oneway`: as `sync`, with sends that get no answer; latency is the time to write.
//!
//! The first send goes alone (route lookup, connections; a topic that cannot be sent to
//! fails the run here), then the warm-up phase, then the measured phase. Each phase starts
//! with nothing in flight and ends when its last send returned. Latency is per send call
//! (a batch is one call); counts are messages.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use clap::Args;
use rmq::{AutoBatch, CompressionType, Message, Producer, SendStatus};
use serde_json::Value;
use tokio::task::JoinSet;

use super::progress::{Counters, Progress};
use super::report::{Latencies, Report};
use super::{process, usage, Limit, RunArgs, RunPlan};
use crate::{UsageError, MAX_BODY};

/// Most senders (or sends in flight). The producer itself lets at most 1024 messages and
/// 100 MiB be in flight; sends beyond that wait for room, as in any application.
const MAX_CONCURRENCY: u64 = 10_000;

/// Most messages per batch (as `rmq send --batch`).
const MAX_BATCH: u64 = 10_000;

/// With `--compress`, bodies of at least this many bytes are compressed (Java
/// `compressMsgBodyOverHowmuch`, the producer's default).
const COMPRESS_THRESHOLD: usize = 4096;

/// Distinct errors shown at the end; the rest are only counted.
const ERRORS_SHOWN: usize = 5;

/// Arguments of `rmq bench produce`.
#[derive(Args, Debug)]
pub(crate) struct ProduceArgs {
    /// Topic to send to (create it first, e.g. with `rmq topic create`).
    #[arg(long)]
    topic: String,
    /// Body size in bytes (1 to 4194304); the body is `a`…`z` repeated.
    #[arg(long, default_value_t = 1024)]
    size: u64,
    /// `sync` and `oneway`: this many senders, each waiting for its send before the next;
    /// `async`: this many sends in flight (1 to 10000).
    #[arg(long, default_value_t = 64)]
    concurrency: u64,
    #[command(flatten)]
    run: RunArgs,
    /// `sync` (wait for the broker's answer), `async` (keep `--concurrency` sends in flight)
    /// or `oneway` (no answer; the message counts once written).
    #[arg(long, default_value = "sync")]
    mode: String,
    /// Send batches of this many messages (`send_batch`, 1 to 10000; sync and async modes).
    #[arg(long, value_name = "N")]
    batch: Option<u64>,
    /// Turn on the producer's auto-batching, a batch leaving after at most this many
    /// milliseconds (1 to 30000; 32 KiB a batch): concurrent single sends share requests.
    /// Sync and async modes, not with `--batch`.
    #[arg(long, value_name = "MS")]
    auto_batch_ms: Option<u64>,
    /// Compress bodies of 4096 bytes and more with `zlib`, `lz4` or `zstd` (lz4 and zstd
    /// need 5.x consumers); off by default. Batches are never compressed.
    #[arg(long, value_name = "TYPE")]
    compress: Option<String>,
    /// Producer group.
    #[arg(long, default_value = "rmq_bench_producer")]
    group: String,
}

/// How each sender sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Sync,
    Async,
    Oneway,
}

impl Mode {
    fn parse(name: &str) -> Result<Self, UsageError> {
        match name {
            "sync" => Ok(Self::Sync),
            "async" => Ok(Self::Async),
            "oneway" => Ok(Self::Oneway),
            other => Err(usage(format!(
                "--mode must be sync, async or oneway, not {other:?}"
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Sync => "sync",
            Self::Async => "async",
            Self::Oneway => "oneway",
        }
    }
}

/// The validated [`ProduceArgs`].
#[derive(Debug)]
struct Plan {
    size: usize,
    concurrency: usize,
    mode: Mode,
    /// Messages per send call when batching.
    batch: Option<usize>,
    /// The auto-batching delay, when on.
    auto_batch: Option<Duration>,
    compression: Option<CompressionType>,
    run: RunPlan,
}

impl ProduceArgs {
    /// Checks every flag before anything touches the network.
    fn plan(&self) -> Result<Plan, UsageError> {
        let run = self.run.plan()?;
        if !(1..=MAX_BODY as u64).contains(&self.size) {
            return Err(usage(format!(
                "--size must be 1 to {MAX_BODY} bytes (4 MiB), not {}",
                self.size
            )));
        }
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            return Err(usage(format!(
                "--concurrency must be 1 to {MAX_CONCURRENCY}, not {}",
                self.concurrency
            )));
        }
        let mode = Mode::parse(&self.mode)?;
        let batch = match self.batch {
            None => None,
            Some(n) if !(1..=MAX_BATCH).contains(&n) => {
                return Err(usage(format!(
                    "--batch must be 1 to {MAX_BATCH} messages, not {n}"
                )));
            }
            Some(_) if mode == Mode::Oneway => {
                return Err(usage("--batch works with --mode sync or async, not oneway"));
            }
            Some(n) if n.saturating_mul(self.size) > MAX_BODY as u64 => {
                return Err(usage(format!(
                    "a batch of {n} messages of {} bytes exceeds the 4 MiB message limit",
                    self.size
                )));
            }
            Some(n) => Some(n as usize),
        };
        let auto_batch = match self.auto_batch_ms {
            None => None,
            Some(ms) if !(1..=30_000).contains(&ms) => {
                return Err(usage(format!(
                    "--auto-batch-ms must be 1 to 30000, not {ms}"
                )));
            }
            Some(_) if batch.is_some() => {
                return Err(usage("--auto-batch-ms and --batch cannot be combined"));
            }
            Some(_) if mode == Mode::Oneway => {
                return Err(usage(
                    "--auto-batch-ms works with --mode sync or async, not oneway",
                ));
            }
            Some(ms) => Some(Duration::from_millis(ms)),
        };
        let compression = match self.compress.as_deref() {
            None => None,
            Some("zlib") => Some(CompressionType::Zlib),
            Some("lz4") => Some(CompressionType::Lz4),
            Some("zstd") => Some(CompressionType::Zstd),
            Some(other) => {
                return Err(usage(format!(
                    "--compress must be zlib, lz4 or zstd, not {other:?}"
                )));
            }
        };
        Ok(Plan {
            size: self.size as usize,
            concurrency: self.concurrency as usize,
            mode,
            batch,
            auto_batch,
            compression,
            run,
        })
    }
}

impl Plan {
    /// Why `--compress` will compress nothing in this run, if it will not.
    fn compression_note(&self) -> Option<&'static str> {
        self.compression?;
        if self.batch.is_some() {
            Some("--compress has no effect: batches are never compressed")
        } else if self.size < COMPRESS_THRESHOLD {
            Some("--compress has no effect: only bodies of 4096 bytes and more are compressed")
        } else {
            None
        }
    }
}

/// The producer and the message it sends over and over.
#[derive(Debug)]
struct Sender {
    producer: Producer,
    topic: String,
    body: Bytes,
    mode: Mode,
    batch: Option<usize>,
}

/// Why a send did not count.
#[derive(Debug)]
enum Failure {
    /// The send failed.
    Error(rmq::Error),
    /// The broker stored the message but did not answer SEND_OK (a flush or slave timeout).
    Status(SendStatus),
}

impl Failure {
    fn into_error(self) -> anyhow::Error {
        match self {
            Self::Error(e) => e.into(),
            Self::Status(status) => anyhow!("the broker answered {status}"),
        }
    }
}

impl Sender {
    /// Sends `n` messages: a batch of `n` with `--batch`, else one message (`n` is 1).
    async fn send(&self, n: u64) -> Result<(), Failure> {
        let message = || Message::new(self.topic.as_str(), self.body.clone());
        let result = if self.batch.is_some() {
            let batch = (0..n).map(|_| message()).collect();
            self.producer.send_batch(batch).await
        } else if self.mode == Mode::Oneway {
            return self
                .producer
                .send_oneway(message())
                .await
                .map_err(Failure::Error);
        } else {
            self.producer.send(message()).await
        };
        match result {
            Ok(r) if r.status == SendStatus::SendOk => Ok(()),
            Ok(r) => Err(Failure::Status(r.status)),
            Err(e) => Err(Failure::Error(e)),
        }
    }
}

/// Hands out the messages of a phase: at most `max` in all, none after `deadline`, and none
/// once `interrupted` (Ctrl-C) is set.
#[derive(Debug)]
struct Tickets {
    claimed: AtomicU64,
    max: Option<u64>,
    deadline: Option<Instant>,
    interrupted: Arc<AtomicBool>,
}

impl Tickets {
    fn new(max: Option<u64>, deadline: Option<Instant>, interrupted: &Arc<AtomicBool>) -> Self {
        Self {
            claimed: AtomicU64::new(0),
            max,
            deadline,
            interrupted: Arc::clone(interrupted),
        }
    }

    /// Claims up to `want` messages to send; 0 when the phase is over.
    fn claim(&self, want: u64) -> u64 {
        if self.interrupted.load(Ordering::Relaxed)
            || self.deadline.is_some_and(|d| Instant::now() >= d)
        {
            return 0;
        }
        let Some(max) = self.max else { return want };
        let mut claimed = self.claimed.load(Ordering::Relaxed);
        loop {
            if claimed >= max {
                return 0;
            }
            let n = want.min(max - claimed);
            match self.claimed.compare_exchange_weak(
                claimed,
                claimed + n,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return n,
                Err(now) => claimed = now,
            }
        }
    }
}

/// What came of a phase's sends.
#[derive(Debug)]
struct Tally {
    /// Per successful send call.
    latencies: Latencies,
    /// Messages acknowledged (one-way: written).
    messages: u64,
    /// Messages whose send failed.
    send_failed: u64,
    /// Messages answered with a status other than SEND_OK.
    status_failed: u64,
    /// The first distinct errors.
    errors: Vec<String>,
}

impl Tally {
    fn new() -> Result<Self> {
        Ok(Self {
            latencies: Latencies::new()?,
            messages: 0,
            send_failed: 0,
            status_failed: 0,
            errors: Vec::new(),
        })
    }

    fn failed(&self) -> u64 {
        self.send_failed + self.status_failed
    }
}

/// One phase (warm-up or measured): who may send how much, and what came of it. The tally
/// is behind one mutex, held for a few hundred ns per send call.
#[derive(Debug)]
struct Phase {
    tickets: Tickets,
    tally: Mutex<Tally>,
    counters: Arc<Counters>,
}

impl Phase {
    fn new(tickets: Tickets, counters: &Arc<Counters>) -> Result<Arc<Self>> {
        counters.reset();
        Ok(Arc::new(Self {
            tickets,
            tally: Mutex::new(Tally::new()?),
            counters: Arc::clone(counters),
        }))
    }

    fn record(&self, n: u64, outcome: Result<(), Failure>, latency: Duration) {
        self.counters.add(n, outcome.is_ok());
        let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        let error = match outcome {
            Ok(()) => {
                tally.latencies.record(latency);
                tally.messages += n;
                return;
            }
            Err(Failure::Error(e)) => {
                tally.send_failed += n;
                e.to_string()
            }
            Err(Failure::Status(status)) => {
                tally.status_failed += n;
                format!("the broker answered {status}")
            }
        };
        if tally.errors.len() < ERRORS_SHOWN && !tally.errors.contains(&error) {
            tally.errors.push(error);
        }
    }

    /// Takes the tally out, leaving an empty one.
    fn take_tally(&self) -> Result<Tally> {
        let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(std::mem::replace(&mut *tally, Tally::new()?))
    }

    /// One sender's loop (sync and one-way modes): send, wait, repeat.
    async fn send_in_turn(self: Arc<Self>, sender: Arc<Sender>, batch: u64) {
        loop {
            let n = self.tickets.claim(batch);
            if n == 0 {
                return;
            }
            self.send_once(&sender, n).await;
        }
    }

    async fn send_once(&self, sender: &Sender, n: u64) {
        let started = Instant::now();
        let outcome = sender.send(n).await;
        self.record(n, outcome, started.elapsed());
    }
}

/// Runs one phase until its tickets are gone and every send returned; its length.
async fn run_phase(
    sender: &Arc<Sender>,
    phase: &Arc<Phase>,
    concurrency: usize,
) -> Result<Duration> {
    let started = Instant::now();
    let batch = sender.batch.map_or(1, |n| n as u64);
    let mut tasks = JoinSet::new();
    match sender.mode {
        Mode::Sync | Mode::Oneway => {
            for _ in 0..concurrency {
                tasks.spawn(Arc::clone(phase).send_in_turn(Arc::clone(sender), batch));
            }
        }
        Mode::Async => loop {
            // Finished tasks count until joined, so this bounds the sends in flight.
            while tasks.len() >= concurrency {
                joined(tasks.join_next().await)?;
            }
            let n = phase.tickets.claim(batch);
            if n == 0 {
                break;
            }
            let (phase, sender) = (Arc::clone(phase), Arc::clone(sender));
            tasks.spawn(async move { phase.send_once(&sender, n).await });
        },
    }
    while let Some(result) = tasks.join_next().await {
        joined(Some(result))?;
    }
    Ok(started.elapsed())
}

fn joined(result: Option<Result<(), tokio::task::JoinError>>) -> Result<()> {
    result.transpose().context("a sender task failed")?;
    Ok(())
}

/// What the run measured.
#[derive(Debug)]
struct Outcome {
    report: Report,
    send_failed: u64,
    status_failed: u64,
    errors: Vec<String>,
    /// Ctrl-C ended the measured phase early.
    interrupted: bool,
    /// Wall-clock times in µs since the Unix epoch (what a harness outside this process
    /// lines its own samples up with): the first send's answer, and the measured phase.
    first_ok_unix_us: i64,
    start_unix_us: i64,
    end_unix_us: i64,
}

/// The probe send, the warm-up and the measured phase.
async fn measure(sender: &Arc<Sender>, plan: &Plan) -> Result<Outcome> {
    let progress = Arc::new(Progress::on_stderr());
    let counters = Arc::new(Counters::default());
    let _follower = progress.follow(&counters);
    // Ctrl-C stops handing out messages; the sends in flight end, and the report follows.
    let interrupted = Arc::new(AtomicBool::new(false));
    let _ctrl_c = CtrlC::watch(&interrupted);

    // Alone first: the route lookup and connections are made here, and a topic that cannot
    // be sent to at all ends the run with its own error instead of a report of failures.
    let probe = sender.batch.map_or(1, |n| n as u64);
    sender
        .send(probe)
        .await
        .map_err(Failure::into_error)
        .with_context(|| format!("first send to {}", sender.topic))?;
    let first_ok_unix_us = process::epoch_us();
    let mut warmup_messages = probe;

    if let Some(warmup) = plan.run.warmup {
        progress.phase("warm-up", Some(warmup.messages));
        let deadline = Instant::now() + warmup.time;
        let tickets = Tickets::new(Some(warmup.messages), Some(deadline), &interrupted);
        let phase = Phase::new(tickets, &counters)?;
        run_phase(sender, &phase, plan.concurrency).await?;
        let tally = phase.take_tally()?;
        warmup_messages += tally.messages + tally.failed();
        if interrupted.load(Ordering::Relaxed) {
            bail!("interrupted during the warm-up");
        }
    }

    progress.phase("measuring", plan.run.limit.count());
    let tickets = match plan.run.limit {
        Limit::Count(n) => Tickets::new(Some(n), None, &interrupted),
        Limit::Duration(d) => Tickets::new(None, Some(Instant::now() + d), &interrupted),
    };
    let phase = Phase::new(tickets, &counters)?;
    let cpu_before = process::cpu_time();
    let start_unix_us = process::epoch_us();
    let elapsed = run_phase(sender, &phase, plan.concurrency).await?;
    let end_unix_us = process::epoch_us();
    let cpu_after = process::cpu_time();
    progress.finish();

    let tally = phase.take_tally()?;
    Ok(Outcome {
        report: Report {
            messages: tally.messages,
            failed: tally.failed(),
            elapsed,
            latencies: tally.latencies,
            cpu: cpu_after
                .zip(cpu_before)
                .map(|(after, before)| after.saturating_sub(before)),
            peak_rss_kb: process::peak_rss_kb(),
            warmup_messages,
        },
        send_failed: tally.send_failed,
        status_failed: tally.status_failed,
        errors: tally.errors,
        interrupted: interrupted.load(Ordering::Relaxed),
        first_ok_unix_us,
        start_unix_us,
        end_unix_us,
    })
}

/// Sets a flag on Ctrl-C until dropped (where no handler can be installed, Ctrl-C just ends
/// the process).
#[derive(Debug)]
struct CtrlC(tokio::task::JoinHandle<()>);

impl CtrlC {
    fn watch(flag: &Arc<AtomicBool>) -> Self {
        let flag = Arc::clone(flag);
        Self(tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                flag.store(true, Ordering::Relaxed);
            }
        }))
    }
}

impl Drop for CtrlC {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `rmq bench produce`.
pub(crate) async fn run(args: &ProduceArgs, common: &crate::Common) -> Result<()> {
    let plan = args.plan()?;
    let client = crate::client_config(common)?;
    if let Some(note) = plan.compression_note() {
        eprintln!("note: {note}");
    }
    let producer = Producer::builder(&args.group)
        .client(client)
        .send_timeout(Duration::from_millis(common.timeout_ms))
        .compression(plan.compression.map(|c| (c, c.default_level())))
        .compress_threshold(COMPRESS_THRESHOLD);
    let producer = match plan.auto_batch {
        Some(delay) => producer.auto_batch(AutoBatch::new().max_delay(delay)),
        None => producer,
    };
    let producer = producer.start().await.context("start producer")?;
    let sender = Arc::new(Sender {
        producer,
        topic: args.topic.clone(),
        body: (0..plan.size).map(|i| b'a' + (i % 26) as u8).collect(),
        mode: plan.mode,
        batch: plan.batch,
    });
    let outcome = measure(&sender, &plan).await;
    sender.producer.shutdown().await;
    let outcome = outcome?;
    let report = &outcome.report;

    // Java's `org.apache.rocketmq.example.benchmark.Producer` final line, for comparing by eye
    // (its totals count attempted sends; ours count messages).
    let java_line = format!(
        "[Complete] Send Total: {} | Send TPS: {} | Max RT(ms): {} | Average RT(ms): {:7.3} | Send Failed: {} | Response Failed: {}",
        report.messages + report.failed,
        report.tps() as u64,
        report.latencies.max_us() / 1000,
        report.latencies.mean_us() / 1000.0,
        outcome.send_failed,
        outcome.status_failed,
    );
    if common.json {
        eprintln!("{java_line}");
        let details: Vec<(&'static str, Value)> = vec![
            ("kind", "produce".into()),
            ("mode", plan.mode.name().into()),
            ("topic", args.topic.as_str().into()),
            ("size", plan.size.into()),
            ("concurrency", plan.concurrency.into()),
            ("batch", plan.batch.into()),
            (
                "auto_batch_ms",
                plan.auto_batch.map(|d| d.as_millis() as u64).into(),
            ),
            (
                "compress",
                plan.compression
                    .map(|c| c.name().to_ascii_lowercase())
                    .into(),
            ),
            ("send_failed", outcome.send_failed.into()),
            ("status_failed", outcome.status_failed.into()),
            ("first_ok_unix_us", outcome.first_ok_unix_us.into()),
            ("start_unix_us", outcome.start_unix_us.into()),
            ("end_unix_us", outcome.end_unix_us.into()),
        ];
        println!("{}", report.to_json(details));
    } else {
        println!("{java_line}");
        let batch = plan
            .batch
            .map_or(String::new(), |n| format!(", batches of {n}"));
        report.print_text(
            &format!(
                "produce {} to {} ({} × {} B{batch})",
                plan.mode.name(),
                args.topic,
                plan.concurrency,
                plan.size
            ),
            "send latency",
        );
    }
    for error in &outcome.errors {
        eprintln!("send failed: {error}");
    }
    if outcome.interrupted {
        bail!("interrupted after {} messages", report.messages);
    }
    if report.failed > 0 {
        bail!(
            "{} of {} messages failed",
            report.failed,
            report.messages + report.failed
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> ProduceArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: ProduceArgs,
        }
        let mut argv = vec!["test", "--topic", "T", "--count", "10"];
        argv.extend_from_slice(extra);
        Wrapper::try_parse_from(argv).unwrap().args
    }

    #[test]
    fn good_flags_make_a_plan() {
        let plan = args(&["--mode", "async", "--batch", "16", "--size", "100"])
            .plan()
            .unwrap();
        assert_eq!(plan.mode, Mode::Async);
        assert_eq!(plan.batch, Some(16));
        assert_eq!(plan.concurrency, 64);
        assert_eq!(plan.run.limit, Limit::Count(10));
        let plan = args(&["--size", "4194304", "--compress", "zstd"])
            .plan()
            .unwrap();
        assert_eq!(plan.compression, Some(CompressionType::Zstd));
        assert_eq!(plan.compression_note(), None);
        let plan = args(&["--auto-batch-ms", "5"]).plan().unwrap();
        assert_eq!(plan.auto_batch, Some(Duration::from_millis(5)));
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        for bad in [
            &["--size", "0"][..],
            &["--size", "4194305"],
            &["--concurrency", "0"],
            &["--concurrency", "10001"],
            &["--batch", "0"],
            &["--batch", "10001"],
            &["--batch", "2", "--mode", "oneway"],
            &["--batch", "5", "--size", "1000000"],
            &["--mode", "fast"],
            &["--compress", "gzip"],
            &["--auto-batch-ms", "0"],
            &["--auto-batch-ms", "30001"],
            &["--auto-batch-ms", "5", "--batch", "4"],
            &["--auto-batch-ms", "5", "--mode", "oneway"],
        ] {
            let error = args(bad).plan().unwrap_err();
            assert!(!error.0.contains('\n'), "{bad:?}: one line: {}", error.0);
        }
    }

    #[test]
    fn compression_that_would_do_nothing_is_pointed_out() {
        let plan = args(&["--compress", "zlib"]).plan().unwrap();
        assert!(plan.compression_note().unwrap().contains("4096"));
        let plan = args(&["--compress", "lz4", "--batch", "2", "--size", "5000"])
            .plan()
            .unwrap();
        assert!(plan.compression_note().unwrap().contains("batches"));
        assert_eq!(args(&[]).plan().unwrap().compression_note(), None);
    }

    #[test]
    fn tickets_stop_at_the_count_and_split_the_last_batch() {
        let tickets = Tickets::new(Some(10), None, &Arc::default());
        assert_eq!(tickets.claim(4), 4);
        assert_eq!(tickets.claim(4), 4);
        assert_eq!(tickets.claim(4), 2);
        assert_eq!(tickets.claim(4), 0);
        assert_eq!(tickets.claim(1), 0);
    }

    #[test]
    fn tickets_stop_at_the_deadline_and_on_ctrl_c() {
        let interrupted = Arc::default();
        let open = Tickets::new(
            None,
            Some(Instant::now() + Duration::from_secs(60)),
            &interrupted,
        );
        assert_eq!(open.claim(3), 3);
        let over = Tickets::new(Some(100), Some(Instant::now()), &interrupted);
        assert_eq!(over.claim(3), 0);
        interrupted.store(true, Ordering::Relaxed);
        assert_eq!(open.claim(3), 0, "Ctrl-C ends every phase");
    }

    #[test]
    fn concurrent_claims_never_hand_out_more_than_the_count() {
        let tickets = Arc::new(Tickets::new(Some(100_000), None, &Arc::default()));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let tickets = Arc::clone(&tickets);
                std::thread::spawn(move || {
                    let mut mine = 0;
                    loop {
                        match tickets.claim(3) {
                            0 => return mine,
                            n => mine += n,
                        }
                    }
                })
            })
            .collect();
        let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(total, 100_000);
    }
}
