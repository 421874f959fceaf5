//! Connections to name servers and brokers.
//!
//! ```text
//!  Connection (Clone)                 reader task                       writer task
//!   request(cmd, timeout)              FramedRead<FrameSplitter>          recv_many(slots)
//!     hooks.before_request               header > 64 KiB: decode on a       take each slot's frame
//!     pending.insert(opaque, tx)           blocking thread, else inline     (empty: timed out, skip)
//!     room: unwritten-bytes permits      response -> pending.remove(op)     write_all, flush
//!     writer_tx.send(slot) ------------------> waiter                   (cancelled by close)
//!     await rx until deadline            request  -> dispatcher.try_send   dispatcher task
//!     (guard removes the entry and       (full: SYSTEM_BUSY reply)          handler(request)
//!      empties the slot; a timeout       EOF/error -> fail all waiters      reply with its opaque
//!      closes a silent connection)
//! ```
//!
//! One writer per connection: a cancelled caller can never leave half a frame on the wire.
//! The reader never awaits user code. Every task ends when the connection closes or the last
//! handle is dropped, and closing never waits on the peer.
//!
//! What a peer can pin is bounded: frames are cut at the frame limit (16 MiB), queued frames by
//! `write_queue_capacity` and `max_unwritten_bytes`, and a request that times out frees its
//! frame at once.

mod connection;
mod handler;
mod pool;

pub use connection::{Connection, ConnectionConfig, TimeoutPolicy};
pub use handler::{
    HandlerFuture, RpcHook, ServerRequestHandler, UnsupportedRequests, REQUEST_NOT_SUPPORTED_REMARK,
};
pub use pool::ConnectionPool;
