//! The CLI's global TLS flags against a real NameServer and broker that accept TLS only,
//! started beside the main cluster for this test (see `crates/rmq/tests/common/side_cluster.rs`).

#[path = "../../rmq/tests/common/side_cluster.rs"]
#[allow(dead_code, unreachable_pub)]
mod side_cluster;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use side_cluster::{Kind, SideCluster};

fn rmq(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rmq"))
        .args(args)
        .env_remove("NAMESRV_ADDR")
        .output()
        .expect("rmq runs")
}

#[test]
fn tls_flags_reach_name_server_and_broker_and_a_plain_cli_is_told_why_it_fails() {
    let dir = std::env::temp_dir().join(format!("rmq-cli-tls-{}", std::process::id()));
    let ca = side_cluster::generate_certificates(&dir);
    let cluster = SideCluster::start(Kind::Tls(dir.clone()));
    let ns = cluster.namesrv();
    let ca = ca.to_str().unwrap();

    // The broker registers over TLS; `rmq cluster` over TLS shows it once it has.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = rmq(&[
            "cluster",
            "--namesrv",
            &ns,
            "--tls",
            "--tls-ca",
            ca,
            "--json",
        ]);
        if out.status.success() && String::from_utf8_lossy(&out.stdout).contains(&cluster.broker())
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the broker never showed up over TLS: {out:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = rmq(&[
        "send",
        "--namesrv",
        &ns,
        "--tls",
        "--tls-ca",
        ca,
        "--topic",
        "CliTls",
        "--body",
        "hi",
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("SEND_OK"),
        "{out:?}"
    );
    let out = rmq(&[
        "send",
        "--namesrv",
        &ns,
        "--tls",
        "--tls-insecure",
        "--topic",
        "CliTls",
        "--body",
        "hi",
    ]);
    assert!(out.status.success(), "{out:?}");

    let out = rmq(&["cluster", "--namesrv", &ns]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("accepts only TLS"),
        "{out:?}"
    );
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tls_without_a_trust_choice_is_a_usage_error() {
    let out = rmq(&["cluster", "--namesrv", "127.0.0.1:1", "--tls"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--tls-ca"),
        "{out:?}"
    );
    let out = rmq(&[
        "cluster",
        "--namesrv",
        "127.0.0.1:1",
        "--tls",
        "--tls-ca",
        "/nonexistent/ca.pem",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a missing CA file is a usage error: {out:?}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/nonexistent/ca.pem"),
        "{out:?}"
    );
}
