//! A real NameServer and broker beside the main cluster, for settings the main cluster cannot
//! have: access control (`scripts/rocketmq` with `RMQ_ACL=1`: 4.9.x plain ACL, 5.x ACL 2.0
//! with the test's user created at broker start; ports + 1000) or TLS only (`RMQ_TLS_DIR`;
//! ports + 2000). Each has its own run dir and is stopped when dropped, also when the test
//! fails. Shared by the library, CLI and example tests (one at a time per kind: cargo runs
//! test binaries one after another).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The access key the cluster knows (5.x: the user name).
pub const ACCESS_KEY: &str = "rmq-acl-test";
/// Its secret key (5.x: the password).
pub const SECRET_KEY: &str = "rmq-acl-secret";

/// What sets the side cluster apart.
#[derive(Debug, Clone)]
pub enum Kind {
    /// Access control with the [`ACCESS_KEY`] account.
    Acl,
    /// TLS only, with `server.pem` and `server.key` of this directory.
    Tls(PathBuf),
}

impl Kind {
    fn port_offset(&self) -> u16 {
        match self {
            Kind::Acl => 1000,
            Kind::Tls(_) => 2000,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Kind::Acl => "acl",
            Kind::Tls(_) => "tls",
        }
    }
}

/// The side cluster.
pub struct SideCluster {
    kind: Kind,
    run_dir: PathBuf,
}

impl SideCluster {
    /// Its name server.
    pub fn namesrv(&self) -> String {
        format!("127.0.0.1:{}", 9876 + self.kind.port_offset())
    }

    /// Its broker-a.
    pub fn broker(&self) -> String {
        format!("127.0.0.1:{}", 10911 + self.kind.port_offset())
    }

    fn script(&self, args: &[&str]) -> std::process::Output {
        let version = std::env::var("ROCKETMQ_VERSION").unwrap_or_else(|_| "5.3.3".to_string());
        // The repository root is above whichever package's test includes this file.
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|dir| dir.join("scripts/rocketmq"))
            .find(|script| script.exists())
            .expect("scripts/rocketmq above the package");
        let mut command = Command::new(script);
        command
            .args(args)
            .env("RMQ_RUN", &self.run_dir)
            .env("RMQ_PORT_OFFSET", self.kind.port_offset().to_string())
            .env("ROCKETMQ_VERSION", version);
        match &self.kind {
            Kind::Acl => command
                .env("RMQ_ACL", "1")
                .env("RMQ_ACL_ACCESS_KEY", ACCESS_KEY)
                .env("RMQ_ACL_SECRET_KEY", SECRET_KEY),
            Kind::Tls(dir) => command.env("RMQ_TLS_DIR", dir),
        };
        command.output().expect("scripts/rocketmq runs")
    }

    /// Starts it (blocking; about 15 to 30 s), after stopping a leftover one.
    pub fn start(kind: Kind) -> Self {
        let cluster = Self {
            run_dir: std::env::temp_dir().join(format!("rmq-{}-test-run", kind.name())),
            kind,
        };
        let _ = cluster.script(&["stop"]);
        let out = cluster.script(&["start", "--brokers", "1"]);
        assert!(
            out.status.success(),
            "the {} cluster did not start: {}",
            cluster.kind.name(),
            String::from_utf8_lossy(&out.stderr)
        );
        cluster
    }
}

impl Drop for SideCluster {
    fn drop(&mut self) {
        let _ = self.script(&["stop"]);
    }
}

/// Writes `ca.pem`, `server.pem` and `server.key` (PKCS#8) into `dir`; returns the CA file.
pub fn generate_certificates(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "rmq test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let server = server_params.signed_by(&server_key, &ca, &ca_key).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), server.pem() + &ca.pem()).unwrap();
    std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
    dir.join("ca.pem")
}
