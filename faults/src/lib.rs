//! A real RocketMQ cluster of its own for the fault suite, beside the main one: two name
//! servers, two masters (broker-a, broker-b) and broker-a's slave (broker-a-s, brokerId 1),
//! started by `scripts/rocketmq start --namesrvs 2 --brokers 2 --slave` with ports + 4000 and
//! its own run dir, so servers can be killed without touching the cluster the other tests use.
//! Stopped (and its stores deleted) when dropped, also when the test fails.
//!
//! The tests in `faults/tests/` use it; `scripts/test` runs them after the main suite
//! (`cargo test -p rmq-faults`), one at a time.

use std::path::PathBuf;
use std::process::Command;

/// Added to every port of the main cluster.
const PORT_OFFSET: u16 = 4000;

/// A server of the fault cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// The first name server (`namesrv`, port 13876).
    NameServer1,
    /// The second name server (`namesrv-2`, port 13877).
    NameServer2,
    /// The master of broker-a (port 14911).
    BrokerA,
    /// broker-a's slave (brokerId 1, port 14931).
    BrokerASlave,
    /// The master of broker-b (port 14921), without a slave.
    BrokerB,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::NameServer1 => "namesrv",
            Server::NameServer2 => "namesrv-2",
            Server::BrokerA => "broker-a",
            Server::BrokerASlave => "broker-a-s",
            Server::BrokerB => "broker-b",
        }
    }

    fn port(self) -> u16 {
        PORT_OFFSET
            + match self {
                Server::NameServer1 => 9876,
                Server::NameServer2 => 9877,
                Server::BrokerA => 10911,
                Server::BrokerB => 10921,
                Server::BrokerASlave => 10931,
            }
    }

    /// Its address.
    pub fn addr(self) -> String {
        format!("127.0.0.1:{}", self.port())
    }
}

/// The fault cluster.
#[derive(Debug)]
pub struct FaultCluster {
    run_dir: PathBuf,
}

impl FaultCluster {
    /// Both name servers, `;`-separated.
    pub fn namesrv(&self) -> String {
        format!(
            "{};{}",
            Server::NameServer1.addr(),
            Server::NameServer2.addr()
        )
    }

    fn script(&self, args: &[&str]) -> std::process::Output {
        let version = std::env::var("ROCKETMQ_VERSION").unwrap_or_else(|_| "5.3.3".to_string());
        Command::new(workspace_root().join("scripts/rocketmq"))
            .args(args)
            .env("RMQ_RUN", &self.run_dir)
            .env("RMQ_PORT_OFFSET", PORT_OFFSET.to_string())
            .env("ROCKETMQ_VERSION", version)
            .output()
            .expect("scripts/rocketmq runs")
    }

    fn run(&self, args: &[&str]) {
        let out = self.script(args);
        assert!(
            out.status.success(),
            "scripts/rocketmq {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts it (blocking; about 15 to 40 s), after stopping a leftover one.
    pub fn start() -> Self {
        let cluster = Self {
            run_dir: std::env::temp_dir().join("rmq-fault-test-run"),
        };
        let _ = cluster.script(&["stop"]);
        cluster.run(&["start", "--namesrvs", "2", "--brokers", "2", "--slave"]);
        cluster
    }

    /// SIGKILL, as a crash: no shutdown hook, no unregistration.
    pub fn kill(&self, server: Server) {
        self.run(&["kill", server.name()]);
    }

    /// Starts a stopped or killed broker again on its store; waits until it is registered.
    pub fn start_broker(&self, server: Server) {
        self.run(&["start-broker", server.name()]);
    }

    /// Stops a broker cleanly (it unregisters), keeping its store.
    pub fn stop_broker(&self, server: Server) {
        self.run(&["stop-broker", server.name()]);
    }

    /// Starts a stopped or killed name server again.
    pub fn start_namesrv(&self, server: Server) {
        self.run(&["start-namesrv", server.name()]);
    }

    /// Runs mqadmin against the cluster; its standard output.
    pub fn admin(&self, args: &[&str]) -> String {
        let mut all = vec!["admin"];
        all.extend_from_slice(args);
        let out = self.script(&all);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for FaultCluster {
    fn drop(&mut self) {
        let _ = self.script(&["stop"]);
    }
}

/// Appends a line to the fault suite's report (`RMQ_FAULT_REPORT`, default
/// `target/fault-report.txt`), which scripts/test prints after each version's tests.
pub fn report(line: &str) {
    use std::io::Write;
    println!("{line}");
    let path = std::env::var("RMQ_FAULT_REPORT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target/fault-report.txt"));
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let version = std::env::var("ROCKETMQ_VERSION").unwrap_or_else(|_| "5.3.3".to_string());
        let _ = writeln!(file, "[{version}] {line}");
    }
}

/// The repository root (where `Cargo.lock` and `scripts/` are).
pub fn workspace_root() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").exists())
        .expect("the workspace above the package")
        .to_path_buf()
}

/// A topic or group name unique to this run.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{prefix}_{}_{}", std::process::id(), nanos % 1_000_000_000)
}
