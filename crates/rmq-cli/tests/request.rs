//! `rmq request` against the real local RocketMQ: a responder (the library's push consumer
//! with `create_reply_message` + `send_reply`) answers, and the CLI prints the reply; no
//! responder is a timeout (exit 1), a zero timeout a usage error (exit 2).

use std::time::{Duration, Instant};

use rmq::{
    create_reply_message, Admin, ClientConfig, ConsumeFrom, ConsumeResult, Producer, PushConsumer,
};

const LONG: Duration = Duration::from_secs(120);

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

/// Creates `topic` on both brokers and waits until both are routed.
async fn create_topic(topic: &str) {
    let admin = Admin::new(&ClientConfig::new().name_server(&namesrv())).unwrap();
    let brokers = [
        std::env::var("RMQ_BROKER_A").unwrap_or_else(|_| "127.0.0.1:10911".to_string()),
        std::env::var("RMQ_BROKER_B").unwrap_or_else(|_| "127.0.0.1:10921".to_string()),
    ];
    for broker in &brokers {
        admin
            .create_topic(broker, topic, 4)
            .await
            .unwrap_or_else(|e| panic!("no RocketMQ broker at {broker} ({e})"));
    }
    let deadline = Instant::now() + LONG;
    loop {
        if let Ok(route) = admin.topic_route(topic).await {
            if route.queue_datas.len() == brokers.len() {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "route of {topic} on both brokers"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    admin.close().await;
}

async fn rmq(args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_rmq"))
        .args(args)
        .env_remove("NAMESRV_ADDR")
        .output()
        .await
        .expect("rmq runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rmq_request_prints_the_reply_of_a_responder() {
    let topic = unique("CliRequest");
    create_topic(&topic).await;
    let replier = Producer::builder(unique("pg_cli_replier"))
        .client(ClientConfig::new().name_server(&namesrv()))
        .start()
        .await
        .unwrap();
    let sender = replier.clone();
    let consumer = PushConsumer::builder(unique("cg_cli_responder"))
        .client(ClientConfig::new().name_server(&namesrv()))
        .subscribe(&topic, "*")
        .consume_from(ConsumeFrom::FirstOffset)
        .handler(move |messages, _context| {
            let sender = sender.clone();
            async move {
                for m in messages {
                    let body = format!("echo:{}", String::from_utf8_lossy(&m.body));
                    match create_reply_message(&m, body) {
                        Ok(reply) => {
                            if let Err(e) = sender.send_reply(reply).await {
                                eprintln!("reply not sent: {e}");
                            }
                        }
                        Err(e) => eprintln!("not a request: {e}"),
                    }
                }
                ConsumeResult::Success
            }
        })
        .start()
        .await
        .unwrap();

    let ns = namesrv();
    let out = rmq(&[
        "request",
        "--namesrv",
        &ns,
        "--topic",
        &topic,
        "--body",
        "hello cli",
        "--timeout",
        "30000",
        "--json",
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["body"], "echo:hello cli");
    assert_eq!(doc["properties"]["MSG_TYPE"], "reply");
    let correlation = doc["correlation_id"].as_str().unwrap();
    assert_eq!(correlation.len(), 36, "{correlation}");
    assert_eq!(doc["properties"]["CORRELATION_ID"], correlation);
    assert!(doc["topic"].as_str().unwrap().ends_with("_REPLY_TOPIC"));

    let out = rmq(&[
        "request",
        "--namesrv",
        &ns,
        "--topic",
        &topic,
        "--body",
        "plain",
        "--timeout",
        "30000",
    ])
    .await;
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "echo:plain\n");
    consumer.shutdown().await;
    replier.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmq_request_without_a_responder_times_out_and_a_zero_timeout_is_a_usage_error() {
    let topic = unique("CliRequestNobody");
    create_topic(&topic).await;
    let ns = namesrv();
    let started = Instant::now();
    let out = rmq(&[
        "request",
        "--namesrv",
        &ns,
        "--topic",
        &topic,
        "--body",
        "anyone?",
        "--timeout",
        "1000",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no reply arrived within 1s"), "{stderr}");
    assert!(started.elapsed() >= Duration::from_secs(1));

    let out = rmq(&[
        "request",
        "--namesrv",
        &ns,
        "--topic",
        &topic,
        "--body",
        "x",
        "--timeout",
        "0",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    let out = rmq(&["request", "--topic", &topic, "--body", "x"]).await;
    assert_eq!(out.status.code(), Some(2), "no name server");
}
