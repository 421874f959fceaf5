//! Runs the ACL example against a real broker with access control, started beside the main
//! cluster for this test (see `crates/rmq/tests/common/side_cluster.rs`).

#[path = "../../crates/rmq/tests/common/side_cluster.rs"]
#[allow(dead_code, unreachable_pub)]
mod side_cluster;

use std::process::Command;

use side_cluster::{Kind, SideCluster, ACCESS_KEY, SECRET_KEY};

fn run_acl_client(cluster: &SideCluster, secret: &str, topic: &str) -> std::process::Output {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory");
    Command::new(dir.join("examples").join("acl_client"))
        .env("NAMESRV_ADDR", cluster.namesrv())
        .env("TOPIC", topic)
        .env("ACCESS_KEY", ACCESS_KEY)
        .env("SECRET_KEY", secret)
        .output()
        .expect("run example acl_client")
}

#[test]
fn acl_client_sends_and_receives_with_the_right_secret_and_is_refused_with_a_wrong_one() {
    let cluster = SideCluster::start(Kind::Acl);
    let topic = format!("AclExample_{}", std::process::id());
    let out = run_acl_client(&cluster, SECRET_KEY, &topic);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("SEND_OK")).count(),
        3,
        "{stdout}"
    );
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("received Hello ACL"))
            .count(),
        3,
        "{stdout}"
    );

    let out = run_acl_client(&cluster, "wrong-secret", &topic);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a wrong secret was accepted");
    // main returns the error, which Rust prints with Debug.
    assert!(stderr.contains("Authentication"), "{stderr}");
    assert!(
        !stderr.contains("wrong-secret"),
        "the secret leaked: {stderr}"
    );
}
