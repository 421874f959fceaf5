//! The CLI's global ACL flags against a real broker with access control, started beside the
//! main cluster for this test (see `crates/rmq/tests/common/side_cluster.rs`).

#[path = "../../rmq/tests/common/side_cluster.rs"]
#[allow(dead_code, unreachable_pub)]
mod side_cluster;

use std::process::{Command, Output};

use side_cluster::{Kind, SideCluster, ACCESS_KEY, SECRET_KEY};

fn rmq(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rmq"))
        .args(args)
        .env_remove("NAMESRV_ADDR")
        .env_remove("RMQ_ACCESS_KEY")
        .env_remove("RMQ_SECRET_KEY")
        .output()
        .expect("rmq runs")
}

#[test]
fn send_signs_with_the_given_keys_and_a_wrong_secret_fails_with_a_clear_message() {
    let cluster = SideCluster::start(Kind::Acl);
    let ns = cluster.namesrv();
    let topic = format!("AclCli_{}", std::process::id());
    let send = |extra: &[&str]| {
        let mut args = vec![
            "send",
            "--namesrv",
            &ns,
            "--topic",
            &topic,
            "--body",
            "hi",
            "--json",
        ];
        args.extend_from_slice(extra);
        rmq(&args)
    };
    let out = send(&["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("SEND_OK"),
        "{out:?}"
    );

    let out = send(&["--access-key", ACCESS_KEY, "--secret-key", "wrong-secret"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr.contains("refused the credentials"), "{stderr}");
    assert!(
        !stderr.contains("wrong-secret"),
        "the secret leaked: {stderr}"
    );

    let out = send(&[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a plain client is refused: {out:?}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused the credentials"));
}

#[test]
fn an_access_key_without_a_secret_is_a_usage_error() {
    let out = rmq(&["cluster", "--namesrv", "127.0.0.1:1", "--access-key", "ak"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--secret-key"),
        "{out:?}"
    );
}
