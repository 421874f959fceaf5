//! A real NameServer and broker with access control, beside the main cluster:
//! `scripts/rocketmq` with `RMQ_ACL=1` (4.9.x plain ACL, 5.x ACL 2.0 with the test's user
//! created at broker start), every port + 1000, its own run dir. Stopped when dropped, also
//! when the test fails. Shared by the library, CLI and example tests (one at a time: cargo runs
//! test binaries one after another).

use std::path::PathBuf;
use std::process::Command;

/// The access key the cluster knows (5.x: the user name).
pub const ACCESS_KEY: &str = "rmq-acl-test";
/// Its secret key (5.x: the password).
pub const SECRET_KEY: &str = "rmq-acl-secret";
const PORT_OFFSET: u16 = 1000;

/// The access-controlled cluster.
pub struct AclCluster {
    run_dir: PathBuf,
}

impl AclCluster {
    /// Its name server.
    pub fn namesrv() -> String {
        format!("127.0.0.1:{}", 9876 + PORT_OFFSET)
    }

    fn script(&self, args: &[&str]) -> std::process::Output {
        let version = std::env::var("ROCKETMQ_VERSION").unwrap_or_else(|_| "5.3.3".to_string());
        // The repository root is above whichever package's test includes this file.
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|dir| dir.join("scripts/rocketmq"))
            .find(|script| script.exists())
            .expect("scripts/rocketmq above the package");
        Command::new(script)
            .args(args)
            .env("RMQ_RUN", &self.run_dir)
            .env("RMQ_PORT_OFFSET", PORT_OFFSET.to_string())
            .env("RMQ_ACL", "1")
            .env("RMQ_ACL_ACCESS_KEY", ACCESS_KEY)
            .env("RMQ_ACL_SECRET_KEY", SECRET_KEY)
            .env("ROCKETMQ_VERSION", version)
            .output()
            .expect("scripts/rocketmq runs")
    }

    /// Starts it (blocking; about 15 to 30 s), after stopping a leftover one.
    pub fn start() -> Self {
        let cluster = Self {
            run_dir: std::env::temp_dir().join("rmq-acl-test-run"),
        };
        let _ = cluster.script(&["stop"]);
        let out = cluster.script(&["start", "--brokers", "1"]);
        assert!(
            out.status.success(),
            "the ACL cluster did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster
    }
}

impl Drop for AclCluster {
    fn drop(&mut self) {
        let _ = self.script(&["stop"]);
    }
}
