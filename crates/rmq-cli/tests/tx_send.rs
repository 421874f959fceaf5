//! `rmq tx-send` against the real local RocketMQ: the three outcomes, checked by what the
//! broker stores in the topic (a committed message is written to its queue; a rolled-back one
//! never is), and a usage error.

use std::time::Duration;

use rmq::{Admin, ClientConfig, MessageQueue};

fn namesrv() -> String {
    std::env::var("RMQ_NAMESRV").unwrap_or_else(|_| "127.0.0.1:9876".to_string())
}

fn broker_a() -> String {
    std::env::var("RMQ_BROKER_A").unwrap_or_else(|_| "127.0.0.1:10911".to_string())
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{}_{}", std::process::id(), nanos % 1_000_000_000)
}

async fn tx_send(topic: &str, group: &str, outcome: &str) -> (Option<i32>, serde_json::Value) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rmq"))
        .args([
            "tx-send",
            "--namesrv",
            &namesrv(),
            "--json",
            "--topic",
            topic,
        ])
        .args(["--group", group, "--outcome", outcome, "--body", outcome])
        .args(["--check-wait-secs", "90"])
        .stderr(std::process::Stdio::inherit())
        .output()
        .await
        .expect("rmq runs");
    let doc = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code(), doc)
}

/// The queue's max offset once it equals `want` (within 30 s), else the last one seen.
async fn max_offset_reaches(admin: &Admin, topic: &str, want: i64) -> i64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let max = admin
            .max_offset(&MessageQueue::new(topic, "broker-a", 0))
            .await
            .unwrap_or(-1);
        if max == want || tokio::time::Instant::now() >= deadline {
            return max;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn tx_send_commits_rolls_back_and_commits_on_check() {
    let admin = Admin::new(&ClientConfig::new().name_server(&namesrv())).unwrap();
    let topic = unique("CliTx");
    admin
        .create_topic(&broker_a(), &topic, 1)
        .await
        .unwrap_or_else(|e| panic!("no RocketMQ broker at {} ({e})", broker_a()));
    // Routed before the first send, so no send falls back to auto-creation elsewhere.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while admin.topic_route(&topic).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no route for {topic}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let group = unique("cli_tx");

    let (code, doc) = tx_send(&topic, &group, "commit").await;
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["local_state"], "COMMIT_MESSAGE");
    assert_eq!(doc["state"], "COMMIT_MESSAGE");
    assert_eq!(max_offset_reaches(&admin, &topic, 1).await, 1);

    let (code, doc) = tx_send(&topic, &group, "rollback").await;
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["state"], "ROLLBACK_MESSAGE");

    let (code, doc) = tx_send(&topic, &group, "unknown-then-commit").await;
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["local_state"], "UNKNOW");
    assert_eq!(doc["state"], "COMMIT_MESSAGE");
    assert!(doc["checks"].as_u64().unwrap() >= 1, "{doc}");
    // The commit and the checked commit are stored; the rollback is not.
    assert_eq!(max_offset_reaches(&admin, &topic, 2).await, 2);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        admin
            .max_offset(&MessageQueue::new(&topic, "broker-a", 0))
            .await
            .unwrap(),
        2,
        "nothing else arrives later (no rollback, no second commit)"
    );

    let (code, _) = tx_send(&topic, &group, "maybe").await;
    assert_eq!(code, Some(2), "an unknown outcome is a usage error");
    admin.close().await;
}
