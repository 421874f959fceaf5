//! `rmq lite-pull` against the real local RocketMQ: reads what `rmq send` stored, from the
//! first offset or only new messages, of every queue or one.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use rmq::{Admin, ClientConfig};

fn namesrv() -> String {
    std::env::var("RMQ_NAMESRV").unwrap_or_else(|_| "127.0.0.1:9876".to_string())
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{}_{}", std::process::id(), nanos % 1_000_000_000)
}

fn rmq(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rmq"))
        .args(args)
        .args(["--namesrv", &namesrv()])
        .output()
        .expect("rmq runs")
}

/// Creates `topic` with 4 queues on broker-a and waits until the name server routes it.
fn create_topic(topic: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let admin = Admin::new(&ClientConfig::new().name_server(&namesrv())).unwrap();
        let broker =
            std::env::var("RMQ_BROKER_A").unwrap_or_else(|_| "127.0.0.1:10911".to_string());
        admin
            .create_topic(&broker, topic, 4)
            .await
            .unwrap_or_else(|e| {
                panic!(
                "no RocketMQ at {} ({e}): run scripts/rocketmq start or the README's test command",
                namesrv()
            )
            });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while admin.topic_route(topic).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no route for {topic}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        admin.close().await;
    });
}

fn json_lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn lite_pull_prints_what_was_sent_from_the_first_offset_and_nothing_from_the_last() {
    let topic = unique("CliLitePull");
    create_topic(&topic);
    let sent = rmq(&[
        "send", "--topic", &topic, "--body", "hello", "--key", "k{i}", "--count", "6", "--json",
    ]);
    assert!(sent.status.success(), "{sent:?}");
    let sent = json_lines(&sent);
    let ids: BTreeSet<String> = sent
        .iter()
        .map(|r| r["msg_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 6);

    let out = rmq(&[
        "lite-pull",
        "--topic",
        &topic,
        "--from",
        "first",
        "--count",
        "6",
        "--timeout",
        "60",
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let got = json_lines(&out);
    assert_eq!(got.len(), 6, "{got:?}");
    let got_ids: BTreeSet<String> = got
        .iter()
        .map(|m| m["msg_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got_ids, ids);
    for m in &got {
        assert_eq!(m["topic"], topic.as_str());
        assert_eq!(m["body"], "hello");
        assert_eq!(m["broker"], "broker-a");
        assert!(m["keys"].as_str().unwrap().starts_with('k'), "{m}");
    }

    // One queue only, as text: exactly what the sends put there.
    let queue = sent[0]["queue_id"].as_i64().unwrap();
    let in_queue = sent.iter().filter(|r| r["queue_id"] == queue).count();
    let q = queue.to_string();
    let out = rmq(&[
        "lite-pull",
        "--topic",
        &topic,
        "--queue",
        &q,
        "--count",
        &in_queue.to_string(),
        "--timeout",
        "60",
    ]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), in_queue, "{stdout}");
    assert!(
        stdout
            .lines()
            .all(|l| l.contains(&format!("{topic}/broker-a/{queue}@"))),
        "{stdout}"
    );

    // From the last offset nothing old comes: --count is not reached by the timeout.
    let out = rmq(&[
        "lite-pull",
        "--topic",
        &topic,
        "--from",
        "last",
        "--count",
        "1",
        "--timeout",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("0 of 1"),
        "{out:?}"
    );
}

#[test]
fn lite_pull_usage_errors_exit_2() {
    for args in [
        vec!["lite-pull", "--topic", "T", "--from", "yesterday"],
        vec!["lite-pull", "--topic", "T", "--count", "0"],
        vec!["lite-pull"],
    ] {
        let out = rmq(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
    let out = rmq(&["lite-pull", "--topic", "bad topic!"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
