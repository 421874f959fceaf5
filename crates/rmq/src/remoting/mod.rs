//! Connections to name servers and brokers.
//!
//! ```text
//!  Connection (Clone)                 reader task                       writer task
//!   request(cmd, timeout)              FramedRead<RemotingCodec>          recv_many(frames)
//!     hooks.before_request               response -> pending.remove(op)     write_all each
//!     pending.insert(opaque, tx)            -> waiter                       flush
//!     writer_tx.send(frame) ------------------------------------------->
//!     await rx until deadline            request  -> dispatcher.try_send   dispatcher task
//!     (guard removes the entry           (full: SYSTEM_BUSY reply)          handler(request)
//!      on timeout or drop)               EOF/error -> fail all waiters      reply with its opaque
//! ```
//!
//! One writer per connection: a cancelled caller can never leave half a frame on the wire.
//! The reader never awaits user code. Every task ends when the connection closes or the last
//! handle is dropped.

mod connection;
mod handler;
mod pool;

pub use connection::{Connection, ConnectionConfig};
pub use handler::{
    HandlerFuture, RpcHook, ServerRequestHandler, UnsupportedRequests, REQUEST_NOT_SUPPORTED_REMARK,
};
pub use pool::ConnectionPool;
