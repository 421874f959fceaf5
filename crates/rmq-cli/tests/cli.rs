//! The `rmq` binary against the real local RocketMQ (started by the README's test command).

use std::process::Command;

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

#[test]
fn route_of_tbw102_prints_the_local_broker() {
    let out = rmq(&["route", "TBW102", "--namesrv", &namesrv()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("127.0.0.1:10911"), "{stdout}");
    assert!(stdout.contains("broker-a"), "{stdout}");

    let out = rmq(&["route", "TBW102", "--namesrv", &namesrv(), "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert!(doc["brokerDatas"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["brokerAddrs"]["0"] == "127.0.0.1:10911"));
}

#[test]
fn no_name_server_is_a_clear_error() {
    let out = rmq(&["cluster"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no name server address"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

#[test]
fn send_prints_one_json_object_per_message_and_fails_loudly() {
    let topic = unique("CliTopic");
    let out = rmq(&[
        "send",
        "--namesrv",
        &namesrv(),
        "--topic",
        &topic,
        "--tag",
        "T",
        "--key",
        "k{i}",
        "--body",
        "hi",
        "--count",
        "3",
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 3);
    for l in &lines {
        assert_eq!(l["status"], "SEND_OK");
        assert_eq!(l["topic"], topic.as_str());
        assert_eq!(l["msg_id"].as_str().unwrap().len(), 32);
        assert_eq!(l["offset_msg_id"].as_str().unwrap().len(), 32);
        assert!(l["broker"].as_str().unwrap().starts_with("broker-"));
        assert!(l["queue_id"].as_i64().is_some() && l["queue_offset"].as_i64().is_some());
    }

    let out = rmq(&[
        "send",
        "--namesrv",
        &namesrv(),
        "--topic",
        "bad topic",
        "--body",
        "x",
        "--json",
    ]);
    // A bad topic is a usage error, refused before anything starts: one line, no output.
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("only %|a-zA-Z0-9_- are allowed"), "{err}");

    let out = rmq(&[
        "send",
        "--namesrv",
        &namesrv(),
        "--topic",
        &topic,
        "--size",
        "10",
        "--batch",
        "2",
        "--count",
        "3",
    ]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("SEND_OK msg_id="))
            .count(),
        3,
        "{text}"
    );
}

#[test]
fn bad_inputs_are_usage_errors_before_any_network() {
    // Port 1 is never listened on: each of these must fail before trying it.
    let cases: [&[&str]; 6] = [
        &["route", "", "-n", "127.0.0.1:1"],
        &[
            "send",
            "-n",
            "127.0.0.1:1",
            "--topic",
            "T",
            "--size",
            "3000000000",
        ],
        &[
            "send",
            "-n",
            "127.0.0.1:1",
            "--topic",
            "T",
            "--body-file",
            "/dev/zero",
        ],
        &[
            "send",
            "-n",
            "127.0.0.1:1",
            "--topic",
            "T",
            "--body",
            "x",
            "--batch",
            "0",
        ],
        &[
            "send",
            "-n",
            "127.0.0.1:1",
            "--topic",
            "T",
            "--body",
            "x",
            "--count",
            "0",
        ],
        &[
            "send",
            "-n",
            "not-an-address",
            "--topic",
            "T",
            "--body",
            "x",
        ],
    ];
    for args in cases {
        let out = rmq(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("refused"),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn an_unreachable_name_server_fails_with_its_cause_and_prints_no_answer() {
    for args in [
        &[
            "producer",
            "--group",
            "G",
            "-n",
            "127.0.0.1:1",
            "--timeout-ms",
            "1000",
        ][..],
        &["route", "TBW102", "-n", "127.0.0.1:1"][..],
        &["cluster", "-n", "127.0.0.1:1"][..],
    ] {
        let started = std::time::Instant::now();
        let out = rmq(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("127.0.0.1:1"), "{args:?}: {stderr}");
        assert!(
            stderr.to_lowercase().contains("refused"),
            "{args:?}: {stderr}"
        );
        // The cause is said once, not repeated by the error chain.
        assert_eq!(
            stderr.to_lowercase().matches("refused").count(),
            1,
            "{stderr}"
        );
        assert!(
            out.stdout.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{args:?}"
        );
    }
}

#[test]
fn a_namespace_wraps_names_on_the_wire_and_output_shows_the_plain_ones() {
    let topic = unique("CliNs");
    let ns = "clins";
    let out = rmq(&[
        "send",
        "--namesrv",
        &namesrv(),
        "--namespace",
        ns,
        "--topic",
        &topic,
        "--body",
        "in ns",
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(sent["topic"], topic.as_str(), "{sent}");
    // The broker knows the wrapped topic only.
    let wrapped = format!("{ns}%{topic}");
    let out = rmq(&["route", &wrapped, "--namesrv", &namesrv()]);
    assert!(
        out.status.success(),
        "the wrapped topic has a route: {out:?}"
    );
    let out = rmq(&["route", &topic, "--namesrv", &namesrv()]);
    assert!(!out.status.success(), "the plain topic has none: {out:?}");

    let out = rmq(&[
        "consume",
        "--namesrv",
        &namesrv(),
        "--namespace",
        ns,
        "--group",
        &unique("cg_cli_ns"),
        "--topic",
        &topic,
        "--from",
        "first",
        "--count",
        "1",
        "--timeout",
        "60",
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let got: serde_json::Value = serde_json::from_slice(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .as_bytes(),
    )
    .expect("one JSON object per message");
    assert_eq!(got["topic"], topic.as_str(), "{got}");
    assert_eq!(got["body"], "in ns", "{got}");
}
