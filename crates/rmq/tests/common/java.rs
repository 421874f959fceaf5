//! Apache RocketMQ's own Java consumer (`scripts/java-consume`, `rocketmq-client` of the
//! broker's version) as the witness of what reached the broker.

use super::broker::{namesrv, version};

/// Runs `scripts/<script> VERSION NAMESRV ARGS…` (a Java program of the broker's version);
/// the JSON lines it printed, in order. Panics, showing them, when it fails.
pub async fn run_java(script: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(script);
    let out = tokio::process::Command::new("bash")
        .arg(path)
        .arg(version())
        .arg(namesrv())
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .await
        .unwrap_or_else(|e| panic!("scripts/{script} runs (needs a JDK and Maven): {e}"));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .expect("utf8")
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert!(
        out.status.success(),
        "scripts/{script} failed ({:?}); it printed {lines:#?}",
        out.status
    );
    lines
}

/// Runs the Java consumer until it read `count` messages of `topic` (or 60 s passed); its
/// JSON lines, in the order it printed them.
pub async fn java_consume(topic: &str, count: usize) -> Vec<serde_json::Value> {
    run_java("java-consume", &[topic, &count.to_string(), "60000"]).await
}

/// [`java_consume`], keyed by message id.
pub async fn java_consume_by_id(
    topic: &str,
    count: usize,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    java_consume(topic, count)
        .await
        .into_iter()
        .map(|v| (v["msg_id"].as_str().unwrap_or_default().to_string(), v))
        .collect()
}
