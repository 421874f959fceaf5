//! Hooks around requests, and handlers for requests the server sends to the client.

use std::future::Future;
use std::pin::Pin;

use crate::protocol::{RemotingCommand, ResponseCode};

/// The future a [`ServerRequestHandler`] returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Option<RemotingCommand>> + Send + 'static>>;

/// Hook called around every request this client sends (Java `RPCHook`), e.g. to sign requests
/// for ACL.
pub trait RpcHook: Send + Sync + 'static {
    /// Called before the request is encoded; may add ext fields.
    fn before_request(&self, addr: &str, request: &mut RemotingCommand);
    /// Called when the response arrives, before the caller sees it.
    fn after_response(&self, addr: &str, request: &RemotingCommand, response: &mut RemotingCommand);
}

/// Handles requests initiated by the server (e.g. `CHECK_TRANSACTION_STATE`).
///
/// Runs on its own task, never on the connection's reader. The returned command is sent back
/// with the request's opaque and the response flag set; it is dropped for oneway requests.
pub trait ServerRequestHandler: Send + Sync + 'static {
    /// Handles one request from the server at `addr`.
    fn handle(&self, addr: &str, request: RemotingCommand) -> HandlerFuture;
}

/// The remark Java's remoting core uses for an unknown request code (with the code after it).
pub const REQUEST_NOT_SUPPORTED_REMARK: &str = " request type ";

/// A handler that answers every request `REQUEST_CODE_NOT_SUPPORTED`, as a Java peer without a
/// processor for the code does.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnsupportedRequests;

impl UnsupportedRequests {
    /// The response Java sends for an unknown code.
    pub fn response(request: &RemotingCommand) -> RemotingCommand {
        RemotingCommand::response_to(
            request,
            ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
            Some(format!(
                "{REQUEST_NOT_SUPPORTED_REMARK}{} not supported",
                request.code
            )),
        )
    }
}

impl ServerRequestHandler for UnsupportedRequests {
    fn handle(&self, _addr: &str, request: RemotingCommand) -> HandlerFuture {
        let response = Self::response(&request);
        Box::pin(async move { Some(response) })
    }
}
