//! The public request hook ([`RpcHook`], Java `RPCHook`) and the narrow view of a command it
//! gets, so the wire types stay private.

use std::fmt;
use std::sync::Arc;

use crate::protocol::RemotingCommand;
use crate::remoting::RpcHook as WireHook;

/// Called around every request this client sends (Java `RPCHook`), for example to sign
/// requests or to add a field every server should see.
///
/// Hooks run on the caller's task while the request is built and on the connection's task
/// when a response arrives: keep them quick and never block.
pub trait RpcHook: Send + Sync + 'static {
    /// Called before a request to `addr` is encoded; may read and add header fields.
    fn before_request(&self, addr: &str, request: &mut CommandView<'_>);

    /// Called when the response to a request with `request_code` arrives from `addr`, before
    /// the caller sees it. Does nothing by default.
    fn after_response(&self, addr: &str, request_code: i32, response: &mut CommandView<'_>) {
        let _ = (addr, request_code, response);
    }
}

/// What an [`RpcHook`] sees of a request or response: its code, header fields, remark and
/// body. Fields can be added or replaced; nothing else can be changed.
pub struct CommandView<'a> {
    command: &'a mut RemotingCommand,
}

impl fmt::Debug for CommandView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandView")
            .field("code", &self.code())
            .field("fields", &self.command.ext_fields.len())
            .field("body_len", &self.command.body.len())
            .finish()
    }
}

impl CommandView<'_> {
    /// The request or response code.
    pub fn code(&self) -> i32 {
        self.command.code
    }

    /// Whether this is a response.
    pub fn is_response(&self) -> bool {
        self.command.is_response()
    }

    /// A header field (`extFields`).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.command.ext_fields.get(name)
    }

    /// Every header field, in wire order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.command.ext_fields.iter()
    }

    /// Adds or replaces a header field.
    pub fn set_field(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.command.ext_fields.insert(name, value);
    }

    /// The remark, if any.
    pub fn remark(&self) -> Option<&str> {
        self.command.remark.as_deref()
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.command.body
    }
}

/// Runs a user's [`RpcHook`] where the connection layer expects its own hook type.
pub(crate) struct HookAdapter(pub(crate) Arc<dyn RpcHook>);

impl WireHook for HookAdapter {
    fn before_request(&self, addr: &str, request: &mut RemotingCommand) {
        self.0
            .before_request(addr, &mut CommandView { command: request });
    }

    fn after_response(
        &self,
        addr: &str,
        request: &RemotingCommand,
        response: &mut RemotingCommand,
    ) {
        self.0
            .after_response(addr, request.code, &mut CommandView { command: response });
    }
}
