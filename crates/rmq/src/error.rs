//! The library's error type.

use std::sync::Arc;
use std::time::Duration;

use crate::protocol::{CodecError, RequestCode, ResponseCode};

/// Result alias with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a connection closed. Shared by every request that was waiting on it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer closed the connection.
    #[error("closed by peer")]
    Eof,
    /// Reading or writing failed.
    #[error("I/O error: {0}")]
    Io(Arc<std::io::Error>),
    /// The peer sent a malformed frame.
    #[error("malformed frame: {0}")]
    Codec(Arc<CodecError>),
    /// Nothing was read or written for the idle timeout.
    #[error("idle for {0:?}")]
    Idle(Duration),
    /// Closed by this client (shutdown, replacement).
    #[error("closed by client")]
    Local,
}

/// Everything that can go wrong in this crate.
///
/// Errors are cheap to clone (shared parts sit behind [`Arc`]) because one failure, such as a
/// dropped connection, is reported to many waiting requests.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Connecting failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// Target address.
        addr: String,
        /// The I/O error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// Connecting took longer than the connect timeout.
    #[error("connecting to {addr} timed out after {timeout:?}")]
    ConnectTimeout {
        /// Target address.
        addr: String,
        /// The timeout.
        timeout: Duration,
    },
    /// No response within the deadline.
    #[error("{code} to {addr} timed out after {timeout:?}")]
    Timeout {
        /// Target address.
        addr: String,
        /// The request's code.
        code: RequestCode,
        /// Time allowed.
        timeout: Duration,
    },
    /// The connection closed before the response arrived.
    #[error("connection to {addr} closed: {reason}")]
    ConnectionClosed {
        /// Peer address.
        addr: String,
        /// Why it closed.
        reason: CloseReason,
    },
    /// The request cannot be encoded (e.g. it exceeds the frame limit).
    #[error("cannot encode request: {0}")]
    Encode(Arc<CodecError>),
    /// The server answered with an error code.
    #[error("{addr} answered {code}: {remark}")]
    Server {
        /// Server address.
        addr: String,
        /// The response code.
        code: ResponseCode,
        /// The server's remark.
        remark: String,
    },
    /// The server's answer could not be understood.
    #[error("invalid response from {addr}: {reason}")]
    InvalidResponse {
        /// Server address.
        addr: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No name server address is configured.
    #[error("no name server address: pass one (e.g. 127.0.0.1:9876) or set NAMESRV_ADDR")]
    NoNameServer,
    /// An invalid setting or argument, found before anything touched the network.
    #[error("invalid {field}: {reason}")]
    Config {
        /// The setting.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A name or setting was rejected before anything touched the network.
    #[error(transparent)]
    Validation(#[from] crate::client::ValidationError),
    /// A producer of this group is already registered in the client instance.
    #[error("producer group {group} is already registered in client instance {client_id}")]
    DuplicateGroup {
        /// The group.
        group: String,
        /// The instance's client id.
        client_id: String,
    },
    /// No route for the topic, neither its own nor the auto-create template's.
    #[error("no route for topic {topic}")]
    NoRoute {
        /// The topic.
        topic: String,
    },
    /// Every attempt of a send failed.
    #[error("send failed after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        #[source]
        last: Box<Error>,
    },
    /// A send waited until its deadline for room among the sends in flight.
    #[error("too many sends in flight (limits: {max_messages} messages, {max_bytes} bytes) until the deadline")]
    BackPressure {
        /// Message limit.
        max_messages: usize,
        /// Byte limit.
        max_bytes: usize,
    },
    /// The client was shut down.
    #[error("client is shut down")]
    Shutdown,
}

impl Error {
    /// Whether trying again (on another connection or broker) may succeed.
    ///
    /// True for transport failures and for server codes the Java 5.x producer retries
    /// ([`ResponseCode::is_retriable_for_send`]); false for bad input, encoding errors and
    /// shutdown.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Connect { .. }
            | Self::ConnectTimeout { .. }
            | Self::Timeout { .. }
            | Self::ConnectionClosed { .. } => true,
            Self::Server { code, .. } => code.is_retriable_for_send(),
            Self::NoRoute { .. } => true,
            _ => false,
        }
    }

    /// Whether this is a timeout (connect or response), also as the last error of
    /// exhausted retries.
    pub fn is_timeout(&self) -> bool {
        match self {
            Self::Timeout { .. } | Self::ConnectTimeout { .. } => true,
            Self::RetriesExhausted { last, .. } => last.is_timeout(),
            _ => false,
        }
    }

    /// The server's response code, for [`Error::Server`].
    pub fn response_code(&self) -> Option<ResponseCode> {
        match self {
            Self::Server { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub(crate) fn invalid_response(addr: &str, reason: impl std::fmt::Display) -> Self {
        Self::InvalidResponse {
            addr: addr.to_string(),
            reason: reason.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retriable_classification() {
        let server = |code| Error::Server {
            addr: "a".into(),
            code,
            remark: String::new(),
        };
        assert!(server(ResponseCode::SYSTEM_BUSY).is_retriable());
        assert!(!server(ResponseCode::MESSAGE_ILLEGAL).is_retriable());
        assert!(Error::ConnectionClosed {
            addr: "a".into(),
            reason: CloseReason::Eof
        }
        .is_retriable());
        assert!(!Error::Shutdown.is_retriable());
        assert!(!Error::NoNameServer.is_retriable());
        assert_eq!(
            server(ResponseCode::GO_AWAY).response_code(),
            Some(ResponseCode::GO_AWAY)
        );
    }
}
