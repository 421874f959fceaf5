//! Connections keyed by address, connected on first use.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt, Shared};
use tokio::time::Instant;

use super::connection::{Connection, ConnectionConfig};
use super::handler::ServerRequestHandler;
use crate::error::{Error, Result};
use crate::protocol::RemotingCommand;
use crate::util::deadline_after;

type ConnectFuture = Shared<BoxFuture<'static, Result<Connection>>>;

enum Slot {
    /// A dial in progress, shared by every caller that wants this address meanwhile.
    Connecting(ConnectFuture),
    Ready(Connection),
}

/// One connection per address, shared by all users of a client instance.
///
/// Concurrent first requests to an address share one dial (single-flight); a closed connection
/// is replaced on the next request. A failed request is never replayed: callers decide.
pub struct ConnectionPool {
    config: ConnectionConfig,
    handler: Arc<dyn ServerRequestHandler>,
    slots: Mutex<HashMap<String, Slot>>,
}

impl fmt::Debug for ConnectionPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionPool")
            .field("config", &self.config)
            .field("addresses", &self.addresses())
            .finish()
    }
}

impl ConnectionPool {
    /// An empty pool whose connections deliver server requests to `handler`.
    pub fn new(config: ConnectionConfig, handler: Arc<dyn ServerRequestHandler>) -> Self {
        Self {
            config,
            handler,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The connection settings.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// The open connection to `addr`, connecting if needed.
    ///
    /// # Errors
    /// [`Error::Connect`] or [`Error::ConnectTimeout`].
    pub async fn get(&self, addr: &str) -> Result<Connection> {
        let dial = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            match slots.get(addr) {
                Some(Slot::Ready(conn)) if !conn.is_closed() => return Ok(conn.clone()),
                Some(Slot::Connecting(dial)) => dial.clone(),
                _ => {
                    let config = self.config.clone();
                    let handler = Arc::clone(&self.handler);
                    let target = addr.to_string();
                    let dial = async move { Connection::connect(&target, &config, handler).await }
                        .boxed()
                        .shared();
                    slots.insert(addr.to_string(), Slot::Connecting(dial.clone()));
                    dial
                }
            }
        };
        let result = dial.clone().await;
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        // Only the caller that still sees this dial in the slot settles it.
        if let Some(Slot::Connecting(current)) = slots.get(addr) {
            if current.ptr_eq(&dial) {
                match &result {
                    Ok(conn) => {
                        slots.insert(addr.to_string(), Slot::Ready(conn.clone()));
                    }
                    Err(_) => {
                        slots.remove(addr);
                    }
                }
            }
        }
        result
    }

    /// Sends a request to `addr`; time spent connecting counts against `timeout`.
    ///
    /// # Errors
    /// As [`ConnectionPool::get`] and [`Connection::request`].
    pub async fn request(
        &self,
        addr: &str,
        cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        let deadline = deadline_after(timeout);
        let conn = self.get_before(addr, &cmd, deadline, timeout).await?;
        conn.request(cmd, deadline.saturating_duration_since(Instant::now()))
            .await
    }

    /// Sends a oneway request to `addr`.
    ///
    /// # Errors
    /// As [`ConnectionPool::get`] and [`Connection::oneway`].
    pub async fn oneway(&self, addr: &str, cmd: RemotingCommand, timeout: Duration) -> Result<()> {
        let deadline = deadline_after(timeout);
        let conn = self.get_before(addr, &cmd, deadline, timeout).await?;
        conn.oneway(cmd, deadline.saturating_duration_since(Instant::now()))
            .await
    }

    /// The connection to `addr`, or a timeout error for `cmd` when connecting passes `deadline`.
    async fn get_before(
        &self,
        addr: &str,
        cmd: &RemotingCommand,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Connection> {
        tokio::time::timeout_at(deadline, self.get(addr))
            .await
            .map_err(|_| Error::Timeout {
                addr: addr.to_string(),
                code: cmd.request_code(),
                timeout,
            })?
    }

    /// Addresses with an open connection.
    pub fn addresses(&self) -> Vec<String> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let mut addrs: Vec<String> = slots
            .iter()
            .filter_map(|(addr, slot)| match slot {
                Slot::Ready(conn) if !conn.is_closed() => Some(addr.clone()),
                _ => None,
            })
            .collect();
        addrs.sort();
        addrs
    }

    /// Closes and forgets the connection to `addr`, if any.
    pub async fn close(&self, addr: &str) {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(addr);
        if let Some(Slot::Ready(conn)) = slot {
            conn.close().await;
        }
    }

    /// Closes every connection, all at once, and waits for their tasks to end (each close is
    /// bounded: see [`Connection::close`]).
    pub async fn close_all(&self) {
        let conns: Vec<Connection> = self
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .filter_map(|(_, slot)| match slot {
                Slot::Ready(conn) => Some(conn),
                Slot::Connecting(_) => None,
            })
            .collect();
        futures_util::future::join_all(conns.iter().map(Connection::close)).await;
    }
}
