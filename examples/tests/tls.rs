//! Runs the TLS example against a real NameServer and broker that accept TLS only, started
//! beside the main cluster for this test (see `crates/rmq/tests/common/side_cluster.rs`).

#[path = "../../crates/rmq/tests/common/side_cluster.rs"]
#[allow(dead_code, unreachable_pub)]
mod side_cluster;

use std::process::Command;
use std::time::{Duration, Instant};

use side_cluster::{Kind, SideCluster};

#[test]
fn tls_client_sends_and_receives_over_tls() {
    let dir = std::env::temp_dir().join(format!("rmq-example-tls-{}", std::process::id()));
    let ca = side_cluster::generate_certificates(&dir);
    let cluster = SideCluster::start(Kind::Tls(dir.clone()));
    let exe = std::env::current_exe().expect("test binary path");
    let examples = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory")
        .join("examples");
    let topic = format!("TlsExample_{}", std::process::id());
    // The broker's registration over TLS may lag its start: try until the route exists.
    let deadline = Instant::now() + Duration::from_secs(60);
    let stdout = loop {
        let out = Command::new(examples.join("tls_client"))
            .env("NAMESRV_ADDR", cluster.namesrv())
            .env("TOPIC", &topic)
            .env("TLS_CA", &ca)
            .output()
            .expect("run example tls_client");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            break stdout;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            Instant::now() < deadline && stderr.contains("NoRoute"),
            "tls_client failed: {stderr}\n{stdout}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("SEND_OK")).count(),
        3,
        "{stdout}"
    );
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("received Hello TLS"))
            .count(),
        3,
        "{stdout}"
    );
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}
