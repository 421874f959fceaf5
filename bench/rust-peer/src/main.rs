//! The Rust peer of bench/run: the same workloads as `rmq bench`, bench/java and bench/go, with
//! `rocketmq-client-rust` 1.0.0 (crates.io). Same flags and the same one-line JSON report as
//! bench/java (JavaBench) and bench/go:
//!
//! ```text
//! rust-peer-bench produce -n NS -t TOPIC -s SIZE -c CONCURRENCY -q COUNT
//!                 [--mode sync|async] [--batch N] [--warmup N] [--group G]
//! rust-peer-bench consume -n NS -t TOPIC -q COUNT [--group G] [--threads N]
//! ```
//!
//! produce: one producer; the first send goes alone (route, connection; its answer time is
//! `first_ok_unix_us`), then `--warmup` messages, then the measured `--count` messages, each
//! phase sent the same way: `sync`, `-c` tasks that each wait for their send (or batch of
//! `--batch`) before the next; `async`, the client's callback send with at most `-c` sends in
//! flight. Latency is per send call. consume: one push consumer in a new group from the first
//! offset; the first message handled starts the clock, the `-q`-th stops it. CPU is the whole
//! process's user+sys time over the measured phase (/proc/self/stat), RSS its VmHWM.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rocketmq_client_rust::{
    ClientError, ClientResult, ClientRuntime, ClientRuntimeConfig, ConsumeConcurrentlyContext,
    ConsumeConcurrentlyStatus, DefaultMQProducer, DefaultMQPushConsumer, MQPushConsumer,
    MessageListenerConcurrently, SendResult, SendStatus,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_runtime::{RuntimeConfig, RuntimeOwner};
use tokio::sync::Semaphore;

const TIMEOUT_MS: u64 = 3000;
/// The first send (route lookup, connection) may take longer on a busy machine.
const FIRST_TIMEOUT_MS: u64 = 30_000;

#[derive(Debug, Clone)]
struct Args {
    consume: bool,
    ns: String,
    topic: String,
    size: usize,
    concurrency: usize,
    count: u64,
    mode: String,
    batch: usize,
    warmup: u64,
    group: String,
    threads: u32,
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let consume = match it.next().as_deref() {
        Some("produce") => false,
        Some("consume") => true,
        other => die(&format!(
            "first argument must be produce or consume, not {other:?}"
        )),
    };
    let mut a = Args {
        consume,
        ns: "127.0.0.1:9876".into(),
        topic: "BenchTopic".into(),
        size: 1024,
        concurrency: 64,
        count: 100_000,
        mode: "sync".into(),
        batch: 1,
        warmup: 1000,
        group: String::new(),
        threads: 20,
    };
    while let Some(flag) = it.next() {
        let v = it
            .next()
            .unwrap_or_else(|| die(&format!("missing value for {flag}")));
        let num = |v: &str| -> u64 {
            v.parse()
                .unwrap_or_else(|_| die(&format!("{flag}: not a number: {v}")))
        };
        match flag.as_str() {
            "-n" => a.ns = v,
            "-t" => a.topic = v,
            "-s" => a.size = num(&v) as usize,
            "-c" => a.concurrency = num(&v).max(1) as usize,
            "-q" => a.count = num(&v).max(1),
            "--mode" => a.mode = v,
            "--batch" => a.batch = num(&v).max(1) as usize,
            "--warmup" => a.warmup = num(&v),
            "--group" => a.group = v,
            "--threads" => a.threads = num(&v).max(1) as u32,
            _ => die(&format!("unknown flag {flag}")),
        }
    }
    if a.mode != "sync" && a.mode != "async" {
        die("--mode must be sync or async");
    }
    if a.group.is_empty() {
        a.group = if consume {
            format!("bench_rust_peer_c_{}", std::process::id())
        } else {
            "bench_rust_peer_producer".into()
        };
    }
    a
}

fn die(msg: &str) -> ! {
    eprintln!("rust-peer-bench: {msg}");
    std::process::exit(2)
}

/// Prints the first few send errors to stderr; the rest are only counted.
fn send_error(e: &str) {
    static SHOWN: AtomicU64 = AtomicU64::new(0);
    if SHOWN.fetch_add(1, Ordering::Relaxed) < 5 {
        eprintln!("rust-peer-bench: send failed: {e}");
    }
}

fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// utime + stime of this process in seconds (/proc/self/stat, 10 ms ticks).
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
    let f: Vec<&str> = after.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (t(11) + t(12)) as f64 / 100.0
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn pct(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[(q * (sorted.len() - 1) as f64) as usize]
}

struct Measured {
    messages: u64,
    failed: u64,
    elapsed: Duration,
    lat_us: Vec<u64>,
    cpu_s: f64,
    start_unix_us: u64,
    end_unix_us: u64,
}

fn report(a: &Args, m: &Measured, first_ok_unix_us: Option<u64>) {
    let mut lat = m.lat_us.clone();
    lat.sort_unstable();
    let secs = m.elapsed.as_secs_f64();
    let lat_field = |q: f64| {
        if lat.is_empty() {
            "null".to_string()
        } else {
            pct(&lat, q).to_string()
        }
    };
    println!(
        "{{\"client\":\"rust-peer\",\"kind\":\"{}\",\"mode\":\"{}\",\"batch\":{},\"concurrency\":{},\"size\":{},\
\"messages\":{},\"failed\":{},\"elapsed_s\":{:.3},\"tps\":{:.1},\"p50_us\":{},\"p99_us\":{},\"max_us\":{},\
\"cpu_s\":{:.2},\"cpu_us_per_msg\":{:.2},\"peak_rss_kb\":{},\"first_ok_unix_us\":{},\"start_unix_us\":{},\"end_unix_us\":{}}}",
        if a.consume { "consume" } else { "produce" },
        a.mode,
        a.batch,
        a.concurrency,
        a.size,
        m.messages,
        m.failed,
        secs,
        m.messages as f64 / secs.max(1e-9),
        lat_field(0.50),
        lat_field(0.99),
        lat_field(1.0),
        m.cpu_s,
        m.cpu_s * 1e6 / (m.messages.max(1) as f64),
        peak_rss_kb(),
        first_ok_unix_us.map_or("null".to_string(), |v| v.to_string()),
        m.start_unix_us,
        m.end_unix_us,
    );
}

fn message(topic: &str, body: &[u8]) -> Message {
    Message::builder()
        .topic(topic)
        .body_slice(body)
        .build_unchecked()
}

fn main() {
    let args = parse_args();
    let owner = RuntimeOwner::plan(RuntimeConfig {
        thread_name: "rust-peer-bench".to_string(),
        ..Default::default()
    })
    .unwrap_or_else(|e| die(&format!("runtime plan: {e}")))
    .build()
    .unwrap_or_else(|e| die(&format!("runtime: {e}")));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| die(&format!("tokio: {e}")));
    let code = rt.block_on(async move {
        // No telemetry and no log subscriber: the client's logs would cost CPU and fill the
        // output; send errors are printed by this program.
        let client_runtime = ClientRuntime::try_new(
            owner.root_context().component("client"),
            ClientRuntimeConfig::default(),
            rocketmq_observability::TelemetryHandle::noop(),
        )
        .unwrap_or_else(|e| die(&format!("client runtime: {e}")));
        let result = if args.consume {
            consume(&args, Arc::clone(&client_runtime)).await
        } else {
            produce(&args, Arc::clone(&client_runtime)).await
        };
        let code = match result {
            Ok(true) => 0,
            Ok(false) => 1,
            Err(e) => {
                eprintln!("rust-peer-bench: {e}");
                1
            }
        };
        let _ = client_runtime.shutdown().await;
        let _ = owner.shutdown_tasks().await;
        code
    });
    std::process::exit(code);
}

async fn produce(a: &Args, client_runtime: Arc<ClientRuntime>) -> ClientResult<bool> {
    let mut producer = DefaultMQProducer::builder(client_runtime)
        .producer_group(a.group.clone())
        .name_server_addr(a.ns.clone())
        .send_msg_timeout(TIMEOUT_MS as u32)
        .retry_times_when_send_failed(2)
        .compress_msg_body_over_howmuch(u32::MAX)
        .build();
    producer.start().await?;
    let body: Arc<Vec<u8>> = Arc::new((0..a.size).map(|i| b'a' + (i % 26) as u8).collect());

    // First send alone: route lookup and connection.
    let first = producer
        .send_with_timeout(message(&a.topic, &body), FIRST_TIMEOUT_MS)
        .await?;
    match first {
        Some(r) if r.send_status == SendStatus::SendOk => {}
        other => {
            return Err(ClientError::illegal_argument(format!(
                "first send: {:?}",
                other.map(|r| r.send_status)
            )))
        }
    }
    let first_ok = unix_us();

    if a.warmup > 0 {
        phase(a, &producer, &body, a.warmup).await;
    }
    let m = phase(a, &producer, &body, a.count).await;
    producer.shutdown().await;
    report(a, &m, Some(first_ok));
    Ok(m.failed == 0)
}

/// Sends `n` messages the configured way; counts, latencies and CPU of that phase.
async fn phase(a: &Args, producer: &DefaultMQProducer, body: &Arc<Vec<u8>>, n: u64) -> Measured {
    let cpu0 = cpu_s();
    let start_unix_us = unix_us();
    let t0 = Instant::now();
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut lat_us = Vec::new();
    if a.mode == "sync" {
        let next = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..a.concurrency {
            let (p, body, topic) = (producer.clone(), Arc::clone(body), a.topic.clone());
            let (next, ok, failed, batch) = (
                Arc::clone(&next),
                Arc::clone(&ok),
                Arc::clone(&failed),
                a.batch as u64,
            );
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(batch, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let k = batch.min(n - i);
                    let t = Instant::now();
                    let good: Result<(), String> = if batch == 1 {
                        match p
                            .send_with_timeout(message(&topic, &body), TIMEOUT_MS)
                            .await
                        {
                            Ok(Some(r)) if r.send_status == SendStatus::SendOk => Ok(()),
                            Ok(r) => Err(format!("status {:?}", r.map(|r| r.send_status))),
                            Err(e) => Err(e.to_string()),
                        }
                    } else {
                        let msgs: Vec<Message> = (0..k).map(|_| message(&topic, &body)).collect();
                        match p.send_batch_with_timeout(msgs, TIMEOUT_MS).await {
                            Ok(r) if r.send_status == SendStatus::SendOk => Ok(()),
                            Ok(r) => Err(format!("status {:?}", r.send_status)),
                            Err(e) => Err(e.to_string()),
                        }
                    };
                    if let Err(e) = &good {
                        send_error(e);
                    }
                    let good = good.is_ok();
                    if good {
                        lat.push(t.elapsed().as_micros() as u64);
                        ok.fetch_add(k, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(k, Ordering::Relaxed);
                    }
                }
                lat
            }));
        }
        for t in tasks {
            if let Ok(l) = t.await {
                lat_us.extend(l);
            }
        }
    } else {
        // async: the client's callback send, at most `concurrency` calls outstanding.
        let permits = Arc::new(Semaphore::new(a.concurrency));
        let lat = Arc::new(Mutex::new(Vec::with_capacity(n as usize)));
        let done = Arc::new(AtomicUsize::new(0));
        let batch = a.batch as u64;
        let mut i = 0;
        let mut calls = 0usize;
        while i < n {
            let k = batch.min(n - i);
            i += k;
            calls += 1;
            let permit = Arc::clone(&permits)
                .acquire_owned()
                .await
                .expect("semaphore");
            let slot = Arc::new(Mutex::new(Some(permit)));
            let (ok2, failed2, lat2, done2, slot2) = (
                Arc::clone(&ok),
                Arc::clone(&failed),
                Arc::clone(&lat),
                Arc::clone(&done),
                Arc::clone(&slot),
            );
            let t = Instant::now();
            let cb = move |r: Option<&SendResult>, e: Option<&ClientError>| {
                let Some(permit) = slot2.lock().expect("slot").take() else {
                    return; // called twice
                };
                match (r, e) {
                    (Some(r), None) if r.send_status == SendStatus::SendOk => {
                        lat2.lock()
                            .expect("lat")
                            .push(t.elapsed().as_micros() as u64);
                        ok2.fetch_add(k, Ordering::Relaxed);
                    }
                    (r, e) => {
                        failed2.fetch_add(k, Ordering::Relaxed);
                        send_error(&format!("{:?} {:?}", r.map(|r| r.send_status), e));
                    }
                }
                done2.fetch_add(1, Ordering::Release);
                drop(permit);
            };
            let sent = if batch == 1 {
                producer
                    .send_with_callback_timeout(message(&a.topic, body), cb, TIMEOUT_MS)
                    .await
            } else {
                let msgs: Vec<Message> = (0..k).map(|_| message(&a.topic, body)).collect();
                producer
                    .send_batch_with_callback_timeout(msgs, cb, TIMEOUT_MS)
                    .await
            };
            if let Err(e) = &sent {
                send_error(&e.to_string());
            }
            if sent.is_err() && slot.lock().expect("slot").take().is_some() {
                failed.fetch_add(k, Ordering::Relaxed);
                done.fetch_add(1, Ordering::Release);
            }
        }
        // Wait for every callback (each send times out after TIMEOUT_MS at the latest).
        let deadline = Instant::now() + Duration::from_millis(TIMEOUT_MS * 3);
        while done.load(Ordering::Acquire) < calls && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let missing = calls.saturating_sub(done.load(Ordering::Acquire)) as u64;
        failed.fetch_add(missing * batch, Ordering::Relaxed);
        lat_us = std::mem::take(&mut *lat.lock().expect("lat"));
    }
    let elapsed = t0.elapsed();
    Measured {
        messages: ok.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        elapsed,
        lat_us,
        cpu_s: cpu_s() - cpu0,
        start_unix_us,
        end_unix_us: unix_us(),
    }
}

struct Counter {
    target: u64,
    handled: AtomicU64,
    first: Mutex<Option<(Instant, f64, u64)>>,
    last: Mutex<Option<(Instant, f64, u64)>>,
    done: tokio::sync::Notify,
}

#[derive(Clone)]
struct Listener(Arc<Counter>);

impl MessageListenerConcurrently for Listener {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        _context: &ConsumeConcurrentlyContext,
    ) -> ClientResult<ConsumeConcurrentlyStatus> {
        let c = &self.0;
        let n = msgs.len() as u64;
        let before = c.handled.fetch_add(n, Ordering::AcqRel);
        if before == 0 {
            *c.first.lock().expect("first") = Some((Instant::now(), cpu_s(), unix_us()));
        }
        if before < c.target && before + n >= c.target {
            *c.last.lock().expect("last") = Some((Instant::now(), cpu_s(), unix_us()));
            c.done.notify_one();
        }
        Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
    }
}

async fn consume(a: &Args, client_runtime: Arc<ClientRuntime>) -> ClientResult<bool> {
    let counter = Arc::new(Counter {
        target: a.count,
        handled: AtomicU64::new(0),
        first: Mutex::new(None),
        last: Mutex::new(None),
        done: tokio::sync::Notify::new(),
    });
    let mut consumer = DefaultMQPushConsumer::builder(client_runtime)
        .consumer_group(a.group.clone())
        .name_server_addr(a.ns.clone())
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .consume_thread_min(a.threads)
        .consume_thread_max(a.threads)
        .build();
    consumer.subscribe(&a.topic, "*").await?;
    consumer.register_message_listener_concurrently(Listener(Arc::clone(&counter)));
    consumer.start().await?;
    let finished = tokio::time::timeout(Duration::from_secs(600), counter.done.notified())
        .await
        .is_ok();
    consumer.shutdown().await;
    let first = *counter.first.lock().expect("first");
    let last = *counter.last.lock().expect("last");
    let (Some(first), Some(last)) = (first, last) else {
        eprintln!(
            "rust-peer-bench: consumed {} of {} messages before the timeout",
            counter.handled.load(Ordering::Acquire),
            a.count
        );
        return Ok(false);
    };
    let m = Measured {
        // The first message starts the clock: the messages after it are measured.
        messages: a.count - 1,
        failed: 0,
        elapsed: last.0 - first.0,
        lat_us: Vec::new(),
        cpu_s: last.1 - first.1,
        start_unix_us: first.2,
        end_unix_us: last.2,
    };
    report(a, &m, None);
    Ok(finished)
}
