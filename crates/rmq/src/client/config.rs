//! [`ClientConfig`]: the settings every producer and consumer of one client instance share
//! (Java `ClientConfig`), defined once, with Java's names and defaults, validated before
//! anything touches the network.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::api::{parse_name_servers, WireIdentity};
use super::acl::{AclSigner, Credentials};
use super::hook::{HookAdapter, RpcHook};
use super::tls::TlsConfig;
use super::validate::{check_client_name, check_namespace};
use crate::error::ValidationError;
use crate::protocol::{LanguageCode, SerializeType, DEFAULT_MAX_FRAME_LEN};
use crate::remoting::ConnectionConfig;
use crate::util::now_nanos;

/// Shortest accepted timeout (API calls, sends, connects).
const MIN_TIMEOUT: Duration = Duration::from_millis(1);
/// Longest accepted timeout or interval: one day. Longer values are almost certainly a unit
/// mistake, and bounding them keeps every deadline computation far from `Instant` overflow.
const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// Shortest accepted interval of a periodic job (route refresh, heartbeat, address server).
const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// Smallest frame limit that still holds a request header and a small body.
const MIN_FRAME_LEN: usize = 64 * 1024;
/// Largest frame limit accepted (the length prefix is a signed 32-bit integer).
const MAX_FRAME_LEN: usize = i32::MAX as usize;

/// Checks that `value` lies in `min..=max`.
pub(crate) fn check_duration(
    field: &'static str,
    value: Duration,
    min: Duration,
    max: Duration,
    expected: &'static str,
) -> Result<(), ValidationError> {
    if value < min || value > max {
        return Err(ValidationError::OutOfRange {
            field,
            expected,
            got: format!("{value:?}"),
        });
    }
    Ok(())
}

/// Checks a timeout: 1 ms to 24 h.
pub(crate) fn check_timeout(field: &'static str, value: Duration) -> Result<(), ValidationError> {
    check_duration(
        field,
        value,
        MIN_TIMEOUT,
        MAX_DURATION,
        "between 1 ms and 24 h",
    )
}

/// Where the name-server list comes from when none is given: an HTTP address server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AddressServerConfig {
    /// URL answering with a `;`-separated list (Java `rocketmq.namesrv.domain` URL).
    pub url: String,
    /// Delay before the first periodic fetch (Java: 10 s); one fetch also happens at start.
    pub first_delay: Duration,
    /// Interval between fetches (Java: 2 minutes).
    pub interval: Duration,
}

/// Settings shared by every producer and consumer of one client instance (Java
/// `ClientConfig`).
///
/// Producers and consumers with the same client id (`IP@instanceName[@unitName]`) share one
/// client instance: its connections, routes, heartbeats and periodic jobs. They must then agree
/// on the instance-level settings; a mismatch is reported as
/// [`ValidationError::ClientIdInUse`] instead of being silently ignored as in Java.
///
/// Every setting has the Java default; the name server has none (give one, or set
/// `NAMESRV_ADDR`). Nothing is checked until a producer or consumer starts, and then before
/// any network traffic.
///
/// ```
/// use std::time::Duration;
/// let config = rmq::ClientConfig::new()
///     .name_server("127.0.0.1:9876")
///     .instance_name("orders")
///     .api_timeout(Duration::from_secs(5));
/// # let _ = config;
/// ```
#[derive(Clone)]
pub struct ClientConfig {
    name_servers: Vec<String>,
    address_server: Option<AddressServerConfig>,
    client_ip: Option<String>,
    instance_name: String,
    unit_name: Option<String>,
    namespace: Option<String>,
    poll_name_server_interval: Duration,
    heartbeat_broker_interval: Duration,
    api_timeout: Duration,
    vip_channel: bool,
    language: LanguageCode,
    header_format: SerializeType,
    connect_timeout: Duration,
    idle_timeout: Option<Duration>,
    max_frame_len: usize,
    rpc_hook: Option<Arc<dyn RpcHook>>,
    credentials: Option<Credentials>,
    tls: Option<TlsConfig>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            name_servers: Vec::new(),
            address_server: None,
            client_ip: None,
            instance_name: DEFAULT_INSTANCE_NAME.to_string(),
            unit_name: None,
            namespace: None,
            poll_name_server_interval: Duration::from_secs(30),
            heartbeat_broker_interval: Duration::from_secs(30),
            api_timeout: Duration::from_secs(3),
            vip_channel: false,
            language: LanguageCode::JAVA,
            header_format: SerializeType::Json,
            connect_timeout: Duration::from_secs(3),
            idle_timeout: Some(Duration::from_secs(120)),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            rpc_hook: None,
            credentials: None,
            tls: None,
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("name_servers", &self.name_servers)
            .field(
                "address_server",
                &self.address_server.as_ref().map(|s| redact_url(&s.url)),
            )
            .field("client_ip", &self.client_ip)
            .field("instance_name", &self.instance_name)
            .field("unit_name", &self.unit_name)
            .field("namespace", &self.namespace)
            .field("poll_name_server_interval", &self.poll_name_server_interval)
            .field("heartbeat_broker_interval", &self.heartbeat_broker_interval)
            .field("api_timeout", &self.api_timeout)
            .field("vip_channel", &self.vip_channel)
            .field("language", &self.language)
            .field("header_format", &self.header_format)
            .field("connect_timeout", &self.connect_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_frame_len", &self.max_frame_len)
            .field("rpc_hook", &self.rpc_hook.is_some())
            .field("credentials", &self.credentials)
            .field("tls", &self.tls)
            .finish()
    }
}

/// The instance name that is replaced by `PID#nanotime` at start (Java `"DEFAULT"`).
pub(crate) const DEFAULT_INSTANCE_NAME: &str = "DEFAULT";

/// A URL without user information or query string, for logs and `Debug` (they may carry
/// credentials or tokens).
pub(crate) fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.rsplit('@').next().unwrap_or_default();
    let user = if authority.contains('@') { "***@" } else { "" };
    let query = if url.contains('?') { "?***" } else { "" };
    let path = if path.is_empty() {
        String::new()
    } else {
        format!("/{path}")
    };
    if scheme.is_empty() {
        format!("{user}{host}{path}{query}")
    } else {
        format!("{scheme}://{user}{host}{path}{query}")
    }
}

impl ClientConfig {
    /// The defaults (the same as [`ClientConfig::default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds name servers: one `host:port` or a `;`-separated list; may be called repeatedly
    /// (Java `namesrvAddr`). Without any, `NAMESRV_ADDR` is used; there is no built-in
    /// default. A list that names no server (`""`, `";;"`) is an error at start, not a
    /// fallback to `NAMESRV_ADDR`.
    pub fn name_server(mut self, list: &str) -> Self {
        self.name_servers.push(list.to_string());
        self
    }

    /// Gets the name-server list from an HTTP address server at start, then every
    /// `interval` (Java `rocketmq.namesrv.domain`: first after 10 s, every 2 minutes). Used
    /// only when no name server is given.
    pub fn address_server(
        mut self,
        url: impl Into<String>,
        first_delay: Duration,
        interval: Duration,
    ) -> Self {
        self.address_server = Some(AddressServerConfig {
            url: url.into(),
            first_delay,
            interval,
        });
        self
    }

    /// IP in the client id (Java `clientIP`; default: this host's first non-loopback IPv4,
    /// else 127.0.0.1).
    pub fn client_ip(mut self, ip: impl Into<String>) -> Self {
        self.client_ip = Some(ip.into());
        self
    }

    /// Instance name (Java `instanceName`, default `DEFAULT`, which becomes `PID#nanotime`
    /// when a producer or consumer starts). Clients with the same instance name share one
    /// client instance.
    pub fn instance_name(mut self, name: impl Into<String>) -> Self {
        self.instance_name = name.into();
        self
    }

    /// Unit name, appended to the client id (Java `unitName`, default none).
    pub fn unit_name(mut self, name: impl Into<String>) -> Self {
        self.unit_name = Some(name.into());
        self
    }

    /// Namespace wrapped around groups and topics on the wire (Java `namespace`, default
    /// none).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Route refresh interval (Java `pollNameServerInterval`, 30 s; 10 ms to 24 h).
    pub fn poll_name_server_interval(mut self, interval: Duration) -> Self {
        self.poll_name_server_interval = interval;
        self
    }

    /// Heartbeat interval (Java `heartbeatBrokerInterval`, 30 s; 10 ms to 24 h).
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_broker_interval = interval;
        self
    }

    /// Timeout of route, heartbeat, unregister and admin calls (Java `mqClientApiTimeout`,
    /// 3 s; 1 ms to 24 h).
    pub fn api_timeout(mut self, timeout: Duration) -> Self {
        self.api_timeout = timeout;
        self
    }

    /// Send to the broker's VIP port, listen port − 2 (Java `vipChannelEnabled`; false here,
    /// as in Java 5.x).
    pub fn vip_channel(mut self, on: bool) -> Self {
        self.vip_channel = on;
        self
    }

    /// Language declared in every request (Java `language`, `JAVA`; `RUST` needs 4.9.4+
    /// servers).
    pub fn language(mut self, language: LanguageCode) -> Self {
        self.language = language;
        self
    }

    /// Header format of requests: JSON as the Java client (Java `serializeTypeCurrentRPC`), or
    /// the binary ROCKETMQ format.
    pub fn header_format(mut self, format: SerializeType) -> Self {
        self.header_format = format;
        self
    }

    /// Time allowed to establish a TCP connection (Java `connectTimeoutMillis`, 3 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Close a connection after this long without traffic (Java
    /// `clientChannelMaxIdleTimeSeconds`, 120 s); `None` keeps it open.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Largest frame accepted or sent, length field included (16 MiB; 64 KiB to 2 GiB).
    pub fn max_frame_len(mut self, bytes: usize) -> Self {
        self.max_frame_len = bytes;
        self
    }

    /// A hook around every request and response (Java `RPCHook`), e.g. for request signing.
    pub fn rpc_hook(mut self, hook: Arc<dyn RpcHook>) -> Self {
        self.rpc_hook = Some(hook);
        self
    }

    /// ACL credentials: every request is signed as Java's `AclClientRPCHook` signs it (4.9.x
    /// plain ACL with `aclEnable=true`, 5.x ACL 2.0 with authentication enabled). Name
    /// servers ignore the signature. A broker that refuses them answers
    /// [`Error::Authentication`](crate::Error::Authentication), which is not retried.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// TLS to every name server and broker (Java `tls.enable=true`); plain TCP when not set.
    /// The files are read when a producer or consumer starts; a bad file fails the start
    /// with [`ValidationError::Tls`].
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The name servers given (none when they come from `NAMESRV_ADDR` or an address server).
    pub(crate) fn name_servers_value(&self) -> &[String] {
        &self.name_servers
    }

    /// The namespace, if one is set and not empty.
    pub(crate) fn namespace_value(&self) -> Option<&str> {
        self.namespace.as_deref().filter(|n| !n.is_empty())
    }

    /// Whether sends go to the VIP port.
    pub(crate) fn vip_channel_enabled(&self) -> bool {
        self.vip_channel
    }

    /// The API timeout.
    pub(crate) fn api_timeout_value(&self) -> Duration {
        self.api_timeout
    }

    /// Checks every setting and resolves what start-up needs (name servers, with the
    /// `NAMESRV_ADDR` fallback). No network.
    ///
    /// # Errors
    /// The first [`ValidationError`] found.
    pub(crate) fn validate(&self) -> Result<InstanceConfig, ValidationError> {
        check_timeout("api timeout", self.api_timeout)?;
        check_timeout("connect timeout", self.connect_timeout)?;
        let interval = |field, d| {
            check_duration(field, d, MIN_INTERVAL, MAX_DURATION, "between 10 ms and 24 h")
        };
        interval("poll name server interval", self.poll_name_server_interval)?;
        interval("heartbeat interval", self.heartbeat_broker_interval)?;
        if let Some(idle) = self.idle_timeout {
            check_timeout("idle timeout", idle)?;
        }
        if !(MIN_FRAME_LEN..=MAX_FRAME_LEN).contains(&self.max_frame_len) {
            return Err(ValidationError::OutOfRange {
                field: "max frame length",
                expected: "between 64 KiB and 2 GiB",
                got: self.max_frame_len.to_string(),
            });
        }
        check_client_name("instance name", &self.instance_name)?;
        if let Some(unit) = &self.unit_name {
            check_client_name("unit name", unit)?;
        }
        if let Some(ip) = &self.client_ip {
            check_client_name("client ip", ip)?;
        }
        if let Some(ns) = &self.namespace {
            check_namespace(ns)?;
        }
        let mut name_servers = Vec::new();
        for list in &self.name_servers {
            let addrs = parse_name_servers(list)?;
            // A list given that names no server is a mistake (an empty variable, a stray
            // `;`), not a request for the NAMESRV_ADDR fallback.
            if addrs.is_empty() {
                return Err(ValidationError::InvalidAddress {
                    field: "name server address",
                    value: list.clone(),
                });
            }
            for addr in addrs {
                if !name_servers.contains(&addr) {
                    name_servers.push(addr);
                }
            }
        }
        let address_server = match &self.address_server {
            Some(s) => {
                if !(s.url.starts_with("http://") || s.url.starts_with("https://")) {
                    return Err(ValidationError::InvalidAddress {
                        field: "address server URL",
                        value: redact_url(&s.url),
                    });
                }
                interval("address server first delay", s.first_delay.max(MIN_INTERVAL))?;
                interval("address server interval", s.interval)?;
                Some(AddressServer {
                    url: s.url.clone(),
                    first_delay: s.first_delay,
                    interval: s.interval,
                })
            }
            None => None,
        };
        if name_servers.is_empty() && address_server.is_none() {
            // Java's fallback; never an address server on the internet.
            if let Ok(env) = std::env::var("NAMESRV_ADDR") {
                name_servers = parse_name_servers(&env)?;
            }
        }
        if name_servers.is_empty() && address_server.is_none() {
            return Err(ValidationError::NoNameServer);
        }
        let mut connection = ConnectionConfig {
            connect_timeout: self.connect_timeout,
            idle_timeout: self.idle_timeout,
            max_frame_len: self.max_frame_len,
            ..ConnectionConfig::default()
        };
        if let Some(hook) = &self.rpc_hook {
            connection
                .rpc_hooks
                .push(Arc::new(HookAdapter(Arc::clone(hook))));
        }
        if let Some(tls) = &self.tls {
            connection.tls = Some(tls.connector()?);
        }
        if let Some(credentials) = &self.credentials {
            if credentials.is_blank() {
                return Err(ValidationError::BlankCredentials);
            }
            // Last: the signature covers every field the other hooks added.
            connection
                .rpc_hooks
                .push(Arc::new(AclSigner::new(credentials.clone())));
        }
        Ok(InstanceConfig {
            name_servers,
            address_server,
            client_ip: self.client_ip.clone().unwrap_or_else(local_ip),
            instance_name: self.instance_name.clone(),
            unit_name: self.unit_name.clone().filter(|u| !u.is_empty()),
            poll_name_server_interval: self.poll_name_server_interval,
            heartbeat_broker_interval: self.heartbeat_broker_interval,
            api_timeout: self.api_timeout,
            identity: WireIdentity {
                language: self.language,
                serialize_type: self.header_format,
                ..WireIdentity::default()
            },
            connection,
            rpc_hook: self.rpc_hook.clone(),
            credentials: self.credentials.clone(),
            tls: self.tls.clone(),
        })
    }
}

/// Where the name-server list comes from when none is given: an HTTP address server.
#[derive(Clone, PartialEq, Eq)]
pub struct AddressServer {
    /// URL answering with a `;`-separated list (Java `rocketmq.namesrv.domain` URL).
    pub url: String,
    /// Delay before the first periodic fetch (Java: 10 s); one fetch also happens at start.
    pub first_delay: Duration,
    /// Interval between fetches (Java: 2 minutes).
    pub interval: Duration,
}

impl fmt::Debug for AddressServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddressServer")
            .field("url", &redact_url(&self.url))
            .field("first_delay", &self.first_delay)
            .field("interval", &self.interval)
            .finish()
    }
}

/// Validated settings of a client instance (from [`crate::ClientConfig`]). Members that share
/// an instance must agree on all of them.
#[derive(Clone)]
pub struct InstanceConfig {
    /// Name servers given directly.
    pub name_servers: Vec<String>,
    /// Address server, when the list comes from HTTP.
    pub address_server: Option<AddressServer>,
    /// The IP in the client id.
    pub client_ip: String,
    /// The instance name in the client id (`DEFAULT` is resolved when joining).
    pub instance_name: String,
    /// Optional unit name, the third part of the client id.
    pub unit_name: Option<String>,
    /// Route refresh interval (Java `pollNameServerInterval`, 30 s).
    pub poll_name_server_interval: Duration,
    /// Heartbeat interval (Java `heartbeatBrokerInterval`, 30 s).
    pub heartbeat_broker_interval: Duration,
    /// Timeout of route, heartbeat and unregister calls (Java `mqClientApiTimeout`, 3 s).
    pub api_timeout: Duration,
    /// What every request declares (language, version, header format).
    pub identity: WireIdentity,
    /// Connection settings, the user's hook included.
    pub connection: ConnectionConfig,
    /// The user's hook, kept to compare instances.
    pub rpc_hook: Option<Arc<dyn RpcHook>>,
    /// ACL credentials (their signer is among the connection hooks), kept to compare
    /// instances.
    pub credentials: Option<Credentials>,
    /// TLS settings (their connector is in the connection settings), kept to compare
    /// instances.
    pub tls: Option<TlsConfig>,
}

impl fmt::Debug for InstanceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstanceConfig")
            .field("name_servers", &self.name_servers)
            .field("address_server", &self.address_server)
            .field("client_ip", &self.client_ip)
            .field("instance_name", &self.instance_name)
            .field("unit_name", &self.unit_name)
            .field("poll_name_server_interval", &self.poll_name_server_interval)
            .field("heartbeat_broker_interval", &self.heartbeat_broker_interval)
            .field("api_timeout", &self.api_timeout)
            .field("identity", &self.identity)
            .field("connection", &self.connection)
            .field("rpc_hook", &self.rpc_hook.is_some())
            .field("credentials", &self.credentials)
            .finish()
    }
}

impl InstanceConfig {
    /// `IP@instanceName[@unitName]` (Java `buildMQClientId`).
    pub fn client_id(&self) -> String {
        match &self.unit_name {
            Some(unit) if !unit.is_empty() => {
                format!("{}@{}@{}", self.client_ip, self.instance_name, unit)
            }
            _ => format!("{}@{}", self.client_ip, self.instance_name),
        }
    }

    /// The same settings with the instance name `DEFAULT` replaced by `PID#nanotime` (Java
    /// `changeInstanceNameToPID`).
    pub(crate) fn resolved(&self) -> Self {
        let mut config = self.clone();
        if config.instance_name == DEFAULT_INSTANCE_NAME {
            config.instance_name = format!("{}#{}", std::process::id(), now_nanos());
        }
        config
    }

    /// Settings that differ from `other`, by name (empty when an instance can be shared).
    pub(crate) fn differences(&self, other: &Self) -> Vec<&'static str> {
        let mut diff = Vec::new();
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v
        };
        if sorted(&self.name_servers) != sorted(&other.name_servers) {
            diff.push("name servers");
        }
        if self.address_server != other.address_server {
            diff.push("address server");
        }
        if self.poll_name_server_interval != other.poll_name_server_interval {
            diff.push("poll name server interval");
        }
        if self.heartbeat_broker_interval != other.heartbeat_broker_interval {
            diff.push("heartbeat interval");
        }
        if self.api_timeout != other.api_timeout {
            diff.push("api timeout");
        }
        let conn = (&self.connection, &other.connection);
        if conn.0.connect_timeout != conn.1.connect_timeout
            || conn.0.idle_timeout != conn.1.idle_timeout
            || conn.0.max_frame_len != conn.1.max_frame_len
        {
            diff.push("connection settings");
        }
        if self.identity.language != other.identity.language
            || self.identity.version != other.identity.version
            || self.identity.serialize_type != other.identity.serialize_type
        {
            diff.push("language/version/header format");
        }
        let same_hook = match (&self.rpc_hook, &other.rpc_hook) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        if !same_hook {
            diff.push("rpc hook");
        }
        if self.credentials != other.credentials {
            diff.push("credentials");
        }
        if self.tls != other.tls {
            diff.push("tls");
        }
        diff
    }
}

/// This host's address for the client id (see [`crate::protocol::local_ip`]), else 127.0.0.1.
fn local_ip() -> String {
    crate::protocol::local_ip().map_or_else(|| "127.0.0.1".to_string(), |ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ClientConfig {
        ClientConfig::new().name_server("127.0.0.1:9876")
    }

    #[test]
    fn defaults_are_java_defaults() {
        let c = config().validate().unwrap();
        assert_eq!(c.name_servers, vec!["127.0.0.1:9876"]);
        assert_eq!(c.instance_name, "DEFAULT");
        assert_eq!(c.poll_name_server_interval, Duration::from_secs(30));
        assert_eq!(c.heartbeat_broker_interval, Duration::from_secs(30));
        assert_eq!(c.api_timeout, Duration::from_secs(3));
        assert_eq!(c.connection.connect_timeout, Duration::from_secs(3));
        assert_eq!(c.identity.language, LanguageCode::JAVA);
    }

    #[test]
    fn out_of_range_settings_are_validation_errors() {
        let cases = [
            config().api_timeout(Duration::ZERO),
            config().api_timeout(Duration::MAX),
            config().poll_name_server_interval(Duration::MAX),
            config().heartbeat_interval(Duration::from_nanos(1)),
            config().connect_timeout(Duration::MAX),
            config().idle_timeout(Some(Duration::MAX)),
            config().max_frame_len(0),
            config().max_frame_len(usize::MAX),
        ];
        for c in cases {
            let err = c.validate().unwrap_err();
            assert!(
                matches!(err, ValidationError::OutOfRange { .. }),
                "{c:?}: {err}"
            );
        }
    }

    #[test]
    fn bad_names_and_addresses() {
        let err = ClientConfig::new().name_server("nohost").validate().unwrap_err();
        assert!(matches!(err, ValidationError::InvalidAddress { .. }), "{err}");
        let err = config().instance_name("a@b").validate().unwrap_err();
        assert!(matches!(err, ValidationError::IllegalName { .. }), "{err}");
        let err = config()
            .address_server("ftp://x", Duration::ZERO, Duration::from_secs(1))
            .validate()
            .unwrap_err();
        assert!(matches!(err, ValidationError::InvalidAddress { .. }), "{err}");
    }

    #[test]
    fn debug_hides_credentials_in_the_address_server_url() {
        let c = config().address_server(
            "http://user:secret@127.0.0.1:8080/rocketmq/nsaddr?token=abc",
            Duration::from_secs(10),
            Duration::from_secs(120),
        );
        let shown = format!("{c:?}");
        assert!(!shown.contains("secret") && !shown.contains("abc"), "{shown}");
        assert!(shown.contains("127.0.0.1:8080/rocketmq/nsaddr"), "{shown}");
    }
}
