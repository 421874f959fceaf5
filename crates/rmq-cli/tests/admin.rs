//! `rmq topic create`, `rmq query` and `rmq view` against the real local RocketMQ (started by
//! the README's test command), and their usage errors.

use std::process::Command;
use std::time::{Duration, Instant};

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

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

/// Runs `args` until it succeeds (the route and the index follow a moment after a change).
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

#[test]
fn topic_create_then_send_query_and_view() {
    let ns = namesrv();
    let topic = unique("CliAdmin");
    let doc = json(&rmq(&[
        "topic",
        "create",
        "--topic",
        &topic,
        "--queues",
        "3",
        "--namesrv",
        &ns,
        "--json",
    ]));
    assert_eq!(doc["topic"], topic.as_str());
    assert_eq!(doc["queues"], 3);
    let brokers = doc["brokers"].as_array().unwrap();
    assert_eq!(brokers.len(), 2, "both masters: {doc}");
    let route_doc = json(&until_success(
        &["route", &topic, "--namesrv", &ns, "--json"],
        Duration::from_secs(15),
    ));
    let queues = route_doc["queueDatas"].as_array().unwrap();
    assert_eq!(queues.len(), 2, "{route_doc}");
    assert!(
        queues.iter().all(|q| q["writeQueueNums"] == 3),
        "{route_doc}"
    );

    // One broker by address.
    let single = unique("CliAdminOne");
    let doc = json(&rmq(&[
        "topic",
        "create",
        "--topic",
        &single,
        "--broker",
        "127.0.0.1:10921",
        "--namesrv",
        &ns,
        "--json",
    ]));
    assert_eq!(doc["brokers"], serde_json::json!(["127.0.0.1:10921"]));

    let key = unique("clikey");
    let sent = rmq(&[
        "send",
        "--topic",
        &topic,
        "--key",
        &key,
        "--body",
        "hello admin",
        "--count",
        "3",
        "--namesrv",
        &ns,
        "--json",
    ]);
    assert!(sent.status.success(), "{sent:?}");
    let ids: Vec<String> = String::from_utf8_lossy(&sent.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("one JSON object a line");
            v["offset_msg_id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ids.len(), 3);

    // rmq view: the stored message with its body, by the send result's offset id.
    let doc = json(&rmq(&["view", &ids[0], "--namesrv", &ns, "--json"]));
    assert_eq!(doc["offset_msg_id"], ids[0].as_str());
    assert_eq!(doc["topic"], topic.as_str());
    assert_eq!(doc["body"], "hello admin");
    assert_eq!(doc["keys"], key.as_str());
    let text = rmq(&["view", &ids[0], "--namesrv", &ns]);
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains("hello admin"));

    // rmq query: all three by key (the index follows the store).
    let start = Instant::now();
    let found = loop {
        let out = rmq(&[
            "query",
            "--topic",
            &topic,
            "--key",
            &key,
            "--namesrv",
            &ns,
            "--json",
        ]);
        if out.status.success() {
            let doc = json(&out);
            if doc["messages"].as_array().unwrap().len() == 3 || start.elapsed().as_secs() > 20 {
                break doc;
            }
        } else {
            assert_eq!(out.status.code(), Some(1), "{out:?}");
            assert!(start.elapsed().as_secs() < 20, "never found: {out:?}");
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    let mut found_ids: Vec<String> = found["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["body"], "hello admin");
            m["offset_msg_id"].as_str().unwrap().to_string()
        })
        .collect();
    found_ids.sort();
    let mut sent_ids = ids.clone();
    sent_ids.sort();
    assert_eq!(found_ids, sent_ids);

    // A key nobody used: a failure (exit 1), not a usage error.
    let out = rmq(&[
        "query",
        "--topic",
        &topic,
        "--key",
        "nobody",
        "--namesrv",
        &ns,
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}

#[test]
fn admin_usage_errors_exit_2() {
    let ns = namesrv();
    for args in [
        vec!["view", "not-an-offset-id", "--namesrv", &ns],
        vec!["view", "--namesrv", &ns],
        vec!["query", "--topic", "T", "--namesrv", &ns],
        vec![
            "query",
            "--topic",
            "T",
            "--key",
            "k",
            "--max",
            "0",
            "--namesrv",
            &ns,
        ],
        vec![
            "query",
            "--topic",
            "bad topic",
            "--key",
            "k",
            "--namesrv",
            &ns,
        ],
        vec![
            "topic",
            "create",
            "--topic",
            "T",
            "--cluster",
            "C",
            "--broker",
            "127.0.0.1:1",
            "--namesrv",
            &ns,
        ],
        vec![
            "topic",
            "create",
            "--topic",
            "T",
            "--queues",
            "0",
            "--namesrv",
            &ns,
        ],
        vec![
            "topic",
            "create",
            "--topic",
            "bad topic",
            "--broker",
            "127.0.0.1:10911",
            "--namesrv",
            &ns,
        ],
        vec![
            "topic",
            "create",
            "--topic",
            "T",
            "--broker",
            "no-port",
            "--namesrv",
            &ns,
        ],
        vec!["topic", "--namesrv", &ns],
        vec!["view", "0A0B0C0D00002A9F0000000000000000"],
    ] {
        let out = rmq(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
    // A cluster the name server does not know: a failure, exit 1.
    let out = rmq(&[
        "topic",
        "create",
        "--topic",
        &unique("CliNoCluster"),
        "--cluster",
        "NoSuchCluster",
        "--namesrv",
        &ns,
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("NoSuchCluster"));
}
