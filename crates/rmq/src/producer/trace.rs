//! The producer that carries trace messages (Java's `AsyncTraceDispatcher` inner producer),
//! and the dispatcher started with it, for producers and consumers alike.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, info};

use super::message::Message;
use super::Producer;
use crate::client::validate::GROUP_MAX_LEN;
use crate::client::{ClientConfig, TraceConfig, TraceDispatcher, TraceTransport, TransportFuture};
use crate::error::{Error, Result, ValidationError};

/// Group prefix of trace producers (`TraceConstants.GROUP_NAME_PREFIX`).
const TRACE_GROUP_PREFIX: &str = "_INNER_TRACE_PRODUCER";

/// Instance name of trace producers, followed by the name-server list
/// (`TraceConstants.TRACE_INSTANCE_NAME`): every trace producer of a process that talks to the
/// same name servers shares one client instance, as in Java.
const TRACE_INSTANCE_NAME: &str = "PID_CLIENT_INNER_TRACE_PRODUCER";

/// Send timeout of trace messages (Java: 5 s).
const TRACE_SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Numbers trace producer groups, process-wide (Java's `COUNTER`).
static TRACE_PRODUCERS: AtomicU64 = AtomicU64::new(0);

/// Whose events a dispatcher traces (Java `Type`), part of its producer's group name.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TraceKind {
    /// A producer's sends and transactions.
    Produce,
    /// A consumer's handler calls.
    Consume,
}

impl TraceKind {
    fn name(self) -> &'static str {
        match self {
            Self::Produce => "PRODUCE",
            Self::Consume => "CONSUME",
        }
    }
}

/// A trace producer as the dispatcher's transport.
struct TraceProducer(Producer);

impl TraceTransport for TraceProducer {
    fn send(&self, topic: &str, body: String, keys: Vec<String>) -> TransportFuture {
        let producer = self.0.clone();
        let message = keys
            .into_iter()
            .fold(Message::new(topic, body), Message::with_key);
        Box::pin(async move { producer.send(message).await.map(drop) })
    }

    fn shutdown(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let producer = self.0.clone();
        Box::pin(async move { producer.shutdown().await })
    }
}

impl Producer {
    /// Starts this producer's trace dispatcher (the last step of its start).
    pub(super) async fn start_trace(
        &self,
        host_group: &str,
        client: &ClientConfig,
        config: &TraceConfig,
    ) -> Result<()> {
        let dispatcher = start_dispatcher(host_group, TraceKind::Produce, client, config).await?;
        let _ = self.inner.trace.set(dispatcher);
        Ok(())
    }
}

/// Starts a trace producer for `host_group` (without namespace) with the host's client
/// settings, and a dispatcher that sends through it (Java `AsyncTraceDispatcher.start`).
///
/// # Errors
/// What starting the trace producer fails with (its settings are the host's).
pub(crate) async fn start_dispatcher(
    host_group: &str,
    kind: TraceKind,
    client: &ClientConfig,
    config: &TraceConfig,
) -> Result<Arc<TraceDispatcher>> {
    let number = TRACE_PRODUCERS.fetch_add(1, Ordering::Relaxed) + 1;
    let group = trace_group(host_group, kind, number, client.namespace_value());
    let instance = trace_instance_name(client.name_servers_value());
    let start = |instance_name: String| {
        Producer::builder(group.clone())
            .client(client.clone().instance_name(instance_name))
            .send_timeout(TRACE_SEND_TIMEOUT)
            .start()
    };
    // Boxed: this runs inside `ProducerBuilder::start`.
    let producer = match Box::pin(start(instance.clone())).await {
        // Another host of this process uses other instance settings (credentials, TLS …)
        // with the same name servers: its trace producers keep their instance, ours gets one
        // of its own.
        Err(Error::Validation(ValidationError::ClientIdInUse { .. })) => {
            debug!(group = %group, "trace instance in use with other settings; using one of our own");
            Box::pin(start(format!("{instance}_{number}"))).await?
        }
        other => other?,
    };
    info!(host_group, trace_group = %group, topic = config.topic_name(), "message trace started");
    Ok(TraceDispatcher::start(
        config,
        Arc::new(TraceProducer(producer)),
    ))
}

/// The group of a host's trace producer, `_INNER_TRACE_PRODUCER-<host>-<kind>-<n>`. Long host
/// groups are cut so the trace group stays a legal group name on the wire, where the host's
/// namespace is put in front of it (a host group within the limit used to give a trace group
/// over it, and the host's trace failed to start).
fn trace_group(host_group: &str, kind: TraceKind, number: u64, namespace: Option<&str>) -> String {
    let suffix = format!("-{}-{number}", kind.name());
    let namespace_len = namespace.map_or(0, |ns| ns.len() + 1);
    let room =
        GROUP_MAX_LEN.saturating_sub(TRACE_GROUP_PREFIX.len() + 1 + suffix.len() + namespace_len);
    let host: String = host_group.chars().take(room).collect();
    format!("{TRACE_GROUP_PREFIX}-{host}{suffix}")
}

/// The instance name of the trace producers of hosts with these name-server lists (as given to
/// [`ClientConfig::name_server`]): one instance per list, as Java's. The list is written
/// without white space or empty entries, which a valid list may hold around its `;` but an
/// instance name may not (a host given `"a:9876; b:9876"` failed to start its trace).
fn trace_instance_name(name_servers: &[String]) -> String {
    let addrs: Vec<&str> = name_servers
        .iter()
        .flat_map(|list| list.split(';'))
        .map(str::trim)
        .filter(|addr| !addr.is_empty())
        .collect();
    if addrs.is_empty() {
        TRACE_INSTANCE_NAME.to_string()
    } else {
        format!("{TRACE_INSTANCE_NAME}_{}", addrs.join(";"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::validate::check_client_name;

    #[test]
    fn the_trace_instance_name_of_a_list_with_spaces_is_a_valid_instance_name() {
        let lists = [
            "127.0.0.1:9876; 127.0.0.2:9876 ;".to_string(),
            " 127.0.0.3:9876".to_string(),
        ];
        let name = trace_instance_name(&lists);
        assert_eq!(
            name,
            "PID_CLIENT_INNER_TRACE_PRODUCER_127.0.0.1:9876;127.0.0.2:9876;127.0.0.3:9876"
        );
        assert!(check_client_name("instance name", &name).is_ok(), "{name}");
        assert_eq!(trace_instance_name(&[]), TRACE_INSTANCE_NAME);
    }

    #[test]
    fn the_trace_group_of_a_long_host_group_is_legal_with_the_namespace() {
        use crate::client::validate::{check_producer_group, check_wire_group_len, wrap_namespace};
        let host = "g".repeat(250);
        for namespace in [None, Some("ns"), Some("a_rather_long_namespace_1")] {
            let group = trace_group(&host, TraceKind::Consume, 12, namespace);
            check_producer_group(&group).unwrap();
            check_wire_group_len(&wrap_namespace(namespace, &group)).unwrap();
        }
    }
}
