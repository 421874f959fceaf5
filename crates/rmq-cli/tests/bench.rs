//! `rmq bench produce` and `rmq bench consume` against the real local RocketMQ (started by the
//! README's test command), and their usage errors.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

fn namesrv() -> String {
    std::env::var("RMQ_NAMESRV").unwrap_or_else(|_| "127.0.0.1:9876".to_string())
}

fn rmq(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rmq"))
        .args(args)
        .env_remove("NAMESRV_ADDR")
        .output()
        .expect("rmq runs")
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{}_{}", std::process::id(), nanos % 1_000_000_000)
}

/// Runs `args` until it succeeds (a new topic is routed a moment after its creation).
fn until_success(args: &[&str], limit: Duration) -> std::process::Output {
    let start = Instant::now();
    loop {
        let out = rmq(args);
        if out.status.success() || start.elapsed() > limit {
            return out;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The report: standard output must be exactly one JSON object.
fn report(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert!(doc.is_object(), "{doc}");
    doc
}

/// Every field of the report is there and a number, and the figures are consistent.
fn check_figures(doc: &Value) {
    for field in [
        "messages",
        "failed",
        "elapsed_s",
        "tps",
        "p50_us",
        "p90_us",
        "p99_us",
        "p999_us",
        "max_us",
        "cpu_s",
        "cpu_us_per_msg",
        "peak_rss_kb",
    ] {
        assert!(doc[field].is_number(), "{field} in {doc}");
    }
    let us = |field: &str| doc[field].as_u64().unwrap();
    assert!(
        us("p50_us") <= us("p90_us")
            && us("p90_us") <= us("p99_us")
            && us("p99_us") <= us("p999_us")
            && us("p999_us") <= us("max_us"),
        "{doc}"
    );
    assert!(doc["elapsed_s"].as_f64().unwrap() > 0.0, "{doc}");
    assert!(doc["tps"].as_f64().unwrap() > 0.0, "{doc}");
    assert!(doc["cpu_s"].as_f64().unwrap() >= 0.0, "{doc}");
    assert!(us("peak_rss_kb") > 0, "{doc}");
}

#[test]
fn produce_in_every_mode_then_consume_drains_the_topic() {
    let ns = namesrv();
    let topic = unique("CliBench");
    let created = rmq(&[
        "topic",
        "create",
        "--topic",
        &topic,
        "--queues",
        "4",
        "--namesrv",
        &ns,
    ]);
    assert!(
        created.status.success(),
        "no RocketMQ at {ns}? run scripts/rocketmq start: {created:?}"
    );
    let routed = until_success(
        &["route", &topic, "--namesrv", &ns],
        Duration::from_secs(30),
    );
    assert!(routed.status.success(), "{routed:?}");

    // Messages the broker acknowledged, warm-ups included: what a new group can drain.
    let mut acknowledged = 0;
    for (mode, batch) in [
        ("sync", None),
        ("async", None),
        ("oneway", None),
        ("sync", Some("16")),
        ("async", Some("16")),
    ] {
        let mut args = vec![
            "bench",
            "produce",
            "--namesrv",
            &ns,
            "--topic",
            &topic,
            "--count",
            "2000",
            "--concurrency",
            "8",
            "--size",
            "256",
            "--mode",
            mode,
            "--json",
        ];
        if let Some(n) = batch {
            args.extend(["--batch", n]);
        }
        let out = rmq(&args);
        let doc = report(&out);
        check_figures(&doc);
        // One-way: the messages written, as nothing is answered.
        assert_eq!(doc["messages"], 2000, "{mode} {batch:?}: {doc}");
        assert_eq!(doc["failed"], 0, "{mode} {batch:?}: {doc}");
        assert_eq!(doc["mode"], mode, "{doc}");
        assert_eq!(
            doc["batch"],
            batch.map_or(Value::Null, |n| n.parse::<u64>().unwrap().into())
        );
        assert!(doc["warmup_messages"].as_u64().unwrap() >= 1, "{doc}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("[Complete] Send Total: 2000 | Send TPS: "),
            "Java's line on stderr: {stderr}"
        );
        if mode != "oneway" {
            acknowledged += 2000 + doc["warmup_messages"].as_u64().unwrap();
        }
    }

    // A new group drains the backlog from the first offset; without a warm-up every message
    // handled counts.
    let count = acknowledged.to_string();
    let out = rmq(&[
        "bench",
        "consume",
        "--namesrv",
        &ns,
        "--topic",
        &topic,
        "--group",
        &unique("cg_bench"),
        "--count",
        &count,
        "--warmup-ms",
        "0",
        "--timeout",
        "120",
        "--json",
    ]);
    let doc = report(&out);
    check_figures(&doc);
    assert!(doc["messages"].as_u64().unwrap() >= acknowledged, "{doc}");
    assert_eq!(doc["failed"], 0, "{doc}");
    assert_eq!(doc["warmup_messages"], 0, "{doc}");
    assert_eq!(doc["kind"], "consume", "{doc}");

    // For a duration, after a short warm-up, in text.
    let out = rmq(&[
        "bench",
        "consume",
        "--namesrv",
        &ns,
        "--topic",
        &topic,
        "--group",
        &unique("cg_bench_d"),
        "--duration",
        "1",
        "--warmup-messages",
        "100",
        "--timeout",
        "120",
    ]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(" failed in 1.000 s: ") && text.contains("p99.9 "),
        "{text}"
    );
}

#[test]
fn bad_bench_inputs_are_one_line_usage_errors_before_any_network() {
    // Port 1 is never listened on: each of these must fail before trying it.
    let produce = ["bench", "produce", "-n", "127.0.0.1:1", "--topic", "T"];
    let consume = [
        "bench",
        "consume",
        "-n",
        "127.0.0.1:1",
        "--topic",
        "T",
        "--group",
        "G",
    ];
    let cases: [(&[&str], &[&str]); 15] = [
        (&produce, &["--count", "10", "--size", "0"]),
        (&produce, &["--count", "10", "--size", "4194305"]),
        (&produce, &["--count", "10", "--concurrency", "0"]),
        (&produce, &["--count", "10", "--duration", "5"]),
        (&produce, &[]),
        (&produce, &["--count", "10", "--batch", "0"]),
        (&produce, &["--count", "0"]),
        (&produce, &["--duration", "0"]),
        (&produce, &["--count", "10", "--mode", "fast"]),
        (
            &produce,
            &["--count", "10", "--mode", "oneway", "--batch", "4"],
        ),
        (
            &produce,
            &["--count", "10", "--batch", "8", "--size", "1000000"],
        ),
        (&produce, &["--count", "10", "--compress", "gzip"]),
        (&consume, &[]),
        (&consume, &["--count", "10", "--concurrency", "0"]),
        (&consume, &["--count", "10", "--warmup-ms", "3600001"]),
    ];
    for (command, flags) in cases {
        let args: Vec<&str> = command.iter().chain(flags).copied().collect();
        let out = rmq(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{flags:?}: nothing on stdout");
        assert_eq!(stderr.lines().count(), 1, "{flags:?}: one line: {stderr}");
        assert!(stderr.starts_with("error: "), "{flags:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("refused"),
            "{flags:?}: {stderr}"
        );
    }
}
