//! One multiplexed connection: a handle, a reader task, a writer task and a dispatcher task.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::codec::{Encoder, FramedRead};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::handler::{RpcHook, ServerRequestHandler};
use crate::error::{CloseReason, Error, Result};
use crate::protocol::{
    CodecError, RemotingCodec, RemotingCommand, ResponseCode, DEFAULT_MAX_FRAME_LEN, FLAG_RESPONSE,
};

/// Settings of a connection. Defaults follow the Java `NettyClientConfig`.
#[derive(Clone)]
pub struct ConnectionConfig {
    /// Time allowed to establish a TCP connection (Java `connectTimeoutMillis`, 3 s).
    pub connect_timeout: Duration,
    /// Close the connection after this long without reads or writes (Java
    /// `clientChannelMaxIdleTimeSeconds`, 120 s). `None` keeps it open.
    pub idle_timeout: Option<Duration>,
    /// Largest frame accepted or sent, length field included (16 MiB).
    pub max_frame_len: usize,
    /// Frames queued for the writer before senders wait.
    pub write_queue_capacity: usize,
    /// Server requests queued for the handler before the client answers `SYSTEM_BUSY`.
    pub server_request_capacity: usize,
    /// Server requests handled at the same time on one connection.
    pub server_request_concurrency: usize,
    /// Hooks run around every request (Java `RPCHook`).
    pub rpc_hooks: Vec<Arc<dyn RpcHook>>,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            idle_timeout: Some(Duration::from_secs(120)),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            write_queue_capacity: 4096,
            server_request_capacity: 256,
            server_request_concurrency: 16,
            rpc_hooks: Vec::new(),
        }
    }
}

impl fmt::Debug for ConnectionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionConfig")
            .field("connect_timeout", &self.connect_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_frame_len", &self.max_frame_len)
            .field("write_queue_capacity", &self.write_queue_capacity)
            .field("server_request_capacity", &self.server_request_capacity)
            .field(
                "server_request_concurrency",
                &self.server_request_concurrency,
            )
            .field("rpc_hooks", &self.rpc_hooks.len())
            .finish()
    }
}

type Waiter = oneshot::Sender<Result<RemotingCommand>>;

enum Pending {
    Open(HashMap<i32, Waiter>),
    Closed(CloseReason),
}

/// State shared by the handle and the tasks.
struct Shared {
    addr: String,
    pending: Mutex<Pending>,
    closed: CancellationToken,
    started: Instant,
    /// Milliseconds since `started` of the last read or write.
    last_activity_ms: AtomicU64,
}

impl Shared {
    fn touch(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.last_activity_ms.store(ms, Ordering::Relaxed);
    }

    fn last_activity(&self) -> Instant {
        self.started + Duration::from_millis(self.last_activity_ms.load(Ordering::Relaxed))
    }

    fn closed_error(&self, reason: CloseReason) -> Error {
        Error::ConnectionClosed {
            addr: self.addr.clone(),
            reason,
        }
    }

    /// Closes the connection: every waiter gets the same error, later requests fail at once.
    fn fail(&self, reason: CloseReason) {
        let waiters = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            match std::mem::replace(&mut *pending, Pending::Closed(reason.clone())) {
                Pending::Open(map) => map,
                Pending::Closed(first) => {
                    // Keep the first reason.
                    *pending = Pending::Closed(first);
                    HashMap::new()
                }
            }
        };
        if !self.closed.is_cancelled() {
            info!(addr = %self.addr, reason = %reason, pending = waiters.len(), "connection closed");
        }
        self.closed.cancel();
        for (_, waiter) in waiters {
            let _ = waiter.send(Err(self.closed_error(reason.clone())));
        }
    }

    fn remove_waiter(&self, opaque: i32) -> Option<Waiter> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *pending {
            Pending::Open(map) => map.remove(&opaque),
            Pending::Closed(_) => None,
        }
    }

    fn pending_len(&self) -> usize {
        match &*self.pending.lock().unwrap_or_else(|e| e.into_inner()) {
            Pending::Open(map) => map.len(),
            Pending::Closed(_) => 0,
        }
    }
}

/// Removes the pending entry when the request future ends in any way (response, timeout,
/// cancellation), so nothing is left behind.
struct PendingGuard<'a> {
    shared: &'a Shared,
    opaque: i32,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.shared.remove_waiter(self.opaque);
    }
}

struct Handle {
    shared: Arc<Shared>,
    writer_tx: mpsc::Sender<Bytes>,
    codec: RemotingCodec,
    hooks: Arc<[Arc<dyn RpcHook>]>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // The last handle is gone: stop the tasks without I/O.
        self.shared.fail(CloseReason::Local);
        for task in self
            .tasks
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}

/// A connection to a name server or broker, shared by cloning.
///
/// Many requests can be in flight at once; responses are matched by opaque. Dropping the last
/// clone closes the connection and stops its tasks.
#[derive(Clone)]
pub struct Connection {
    handle: Arc<Handle>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.handle.shared.addr)
            .field("closed", &self.is_closed())
            .field("pending", &self.handle.shared.pending_len())
            .finish()
    }
}

impl Connection {
    /// Connects over TCP (with `TCP_NODELAY`) within `config.connect_timeout`.
    ///
    /// # Errors
    /// [`Error::Connect`] or [`Error::ConnectTimeout`].
    pub async fn connect(
        addr: &str,
        config: &ConnectionConfig,
        handler: Arc<dyn ServerRequestHandler>,
    ) -> Result<Self> {
        let stream =
            match tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    return Err(Error::Connect {
                        addr: addr.to_string(),
                        source: Arc::new(e),
                    })
                }
                Err(_) => {
                    return Err(Error::ConnectTimeout {
                        addr: addr.to_string(),
                        timeout: config.connect_timeout,
                    })
                }
            };
        stream.set_nodelay(true).map_err(|e| Error::Connect {
            addr: addr.to_string(),
            source: Arc::new(e),
        })?;
        info!(addr, local = ?stream.local_addr().ok(), "connected");
        let (read, write) = stream.into_split();
        Ok(Self::start(addr, read, write, config, handler))
    }

    /// Runs the protocol over any byte stream (a test duplex, or TLS later).
    pub fn from_stream<S>(
        addr: &str,
        stream: S,
        config: &ConnectionConfig,
        handler: Arc<dyn ServerRequestHandler>,
    ) -> Self
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (read, write) = tokio::io::split(stream);
        Self::start(addr, read, write, config, handler)
    }

    fn start<R, W>(
        addr: &str,
        read: R,
        write: W,
        config: &ConnectionConfig,
        handler: Arc<dyn ServerRequestHandler>,
    ) -> Self
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let shared = Arc::new(Shared {
            addr: addr.to_string(),
            pending: Mutex::new(Pending::Open(HashMap::new())),
            closed: CancellationToken::new(),
            started: Instant::now(),
            last_activity_ms: AtomicU64::new(0),
        });
        let codec = RemotingCodec::new(config.max_frame_len);
        let (writer_tx, writer_rx) = mpsc::channel(config.write_queue_capacity.max(1));
        let (request_tx, request_rx) = mpsc::channel(config.server_request_capacity.max(1));
        let tasks = vec![
            tokio::spawn(write_loop(Arc::clone(&shared), write, writer_rx)),
            tokio::spawn(read_loop(
                Arc::clone(&shared),
                FramedRead::new(read, codec.clone()),
                request_tx,
                writer_tx.clone(),
                config.idle_timeout,
            )),
            tokio::spawn(dispatch_loop(
                Arc::clone(&shared),
                request_rx,
                writer_tx.clone(),
                handler,
                codec.clone(),
                config.server_request_concurrency.max(1),
            )),
        ];
        Self {
            handle: Arc::new(Handle {
                shared,
                writer_tx,
                codec,
                hooks: config.rpc_hooks.clone().into(),
                tasks: Mutex::new(tasks),
            }),
        }
    }

    /// The peer address.
    pub fn addr(&self) -> &str {
        &self.handle.shared.addr
    }

    /// Whether the connection is closed (it never reopens).
    pub fn is_closed(&self) -> bool {
        self.handle.shared.closed.is_cancelled()
    }

    /// Completes when the connection closes.
    pub async fn closed(&self) {
        self.handle.shared.closed.cancelled().await;
    }

    /// Number of requests waiting for a response.
    pub fn pending_requests(&self) -> usize {
        self.handle.shared.pending_len()
    }

    /// Sends a request and waits for its response until `timeout`.
    ///
    /// A timeout does not close the connection (other requests keep their chances); the
    /// entry is removed and a late response is dropped. Cancel safety: dropping the future
    /// removes the pending entry; the request may still reach the server if it was queued.
    ///
    /// # Errors
    /// [`Error::Timeout`], [`Error::ConnectionClosed`], [`Error::Encode`]. A response with an
    /// error code is returned as `Ok`: the caller decides what the code means.
    pub async fn request(
        &self,
        mut cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        let deadline = Instant::now() + timeout;
        let shared = &*self.handle.shared;
        for hook in self.handle.hooks.iter() {
            hook.before_request(&shared.addr, &mut cmd);
        }
        let code = cmd.request_code();
        let opaque = cmd.opaque;
        let frame = self.encode(&cmd)?;
        let request_for_hooks = (!self.handle.hooks.is_empty()).then_some(cmd);
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = shared.pending.lock().unwrap_or_else(|e| e.into_inner());
            match &mut *pending {
                Pending::Open(map) => {
                    map.insert(opaque, tx);
                }
                Pending::Closed(reason) => return Err(shared.closed_error(reason.clone())),
            }
        }
        let _guard = PendingGuard { shared, opaque };
        let timed_out = || Error::Timeout {
            addr: shared.addr.clone(),
            code,
            timeout,
        };
        match tokio::time::timeout_at(deadline, self.handle.writer_tx.send(frame)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(self.closed_now()),
            Err(_) => return Err(timed_out()),
        }
        debug!(addr = %shared.addr, ?code, opaque, "request sent");
        let mut response = match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(result)) => result?,
            Ok(Err(_)) => return Err(self.closed_now()),
            Err(_) => {
                debug!(addr = %shared.addr, ?code, opaque, ?timeout, "request timed out");
                return Err(timed_out());
            }
        };
        if let Some(request) = &request_for_hooks {
            for hook in self.handle.hooks.iter() {
                hook.after_response(&shared.addr, request, &mut response);
            }
        }
        Ok(response)
    }

    /// Sends a oneway request (no response is expected), waiting at most `timeout` for room in
    /// the write queue.
    ///
    /// # Errors
    /// [`Error::Timeout`], [`Error::ConnectionClosed`], [`Error::Encode`].
    pub async fn oneway(&self, mut cmd: RemotingCommand, timeout: Duration) -> Result<()> {
        let shared = &*self.handle.shared;
        for hook in self.handle.hooks.iter() {
            hook.before_request(&shared.addr, &mut cmd);
        }
        cmd.mark_oneway();
        let code = cmd.request_code();
        let frame = self.encode(&cmd)?;
        if self.is_closed() {
            return Err(self.closed_now());
        }
        match tokio::time::timeout(timeout, self.handle.writer_tx.send(frame)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(self.closed_now()),
            Err(_) => Err(Error::Timeout {
                addr: shared.addr.clone(),
                code,
                timeout,
            }),
        }
    }

    /// Closes the connection: waiters fail with [`CloseReason::Local`] and the tasks are
    /// stopped and awaited.
    pub async fn close(&self) {
        self.handle.shared.fail(CloseReason::Local);
        let tasks: Vec<_> = self
            .handle
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    }

    fn encode(&self, cmd: &RemotingCommand) -> Result<Bytes> {
        let mut buf = BytesMut::new();
        self.handle
            .codec
            .clone()
            .encode(cmd, &mut buf)
            .map_err(|e| Error::Encode(Arc::new(e)))?;
        Ok(buf.freeze())
    }

    fn closed_now(&self) -> Error {
        let shared = &self.handle.shared;
        let reason = match &*shared.pending.lock().unwrap_or_else(|e| e.into_inner()) {
            Pending::Closed(reason) => reason.clone(),
            Pending::Open(_) => CloseReason::Local,
        };
        shared.closed_error(reason)
    }
}

async fn write_loop<W>(shared: Arc<Shared>, write: W, mut rx: mpsc::Receiver<Bytes>)
where
    W: AsyncWrite + Unpin,
{
    let mut writer = BufWriter::with_capacity(64 * 1024, write);
    let mut batch = Vec::with_capacity(64);
    loop {
        let n = tokio::select! {
            _ = shared.closed.cancelled() => break,
            n = rx.recv_many(&mut batch, 64) => n,
        };
        if n == 0 {
            break;
        }
        let mut result = Ok(());
        for frame in batch.drain(..) {
            result = writer.write_all(&frame).await;
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() {
            result = writer.flush().await;
        }
        if let Err(e) = result {
            shared.fail(CloseReason::Io(Arc::new(e)));
            break;
        }
        shared.touch();
    }
    let _ = writer.shutdown().await;
}

async fn read_loop<R>(
    shared: Arc<Shared>,
    mut frames: FramedRead<R, RemotingCodec>,
    request_tx: mpsc::Sender<RemotingCommand>,
    writer_tx: mpsc::Sender<Bytes>,
    idle_timeout: Option<Duration>,
) where
    R: AsyncRead + Unpin,
{
    let mut codec = frames.decoder().clone();
    loop {
        let idle_deadline = idle_timeout.map(|idle| shared.last_activity() + idle);
        let next = tokio::select! {
            _ = shared.closed.cancelled() => return,
            _ = sleep_until_opt(idle_deadline) => {
                let idle = idle_timeout.unwrap_or_default();
                if shared.last_activity() + idle <= Instant::now() {
                    shared.fail(CloseReason::Idle(idle));
                    return;
                }
                continue;
            }
            next = frames.next() => next,
        };
        let cmd = match next {
            None => {
                shared.fail(CloseReason::Eof);
                return;
            }
            Some(Err(CodecError::Io(e))) => {
                shared.fail(CloseReason::Io(Arc::new(e)));
                return;
            }
            Some(Err(e)) => {
                warn!(addr = %shared.addr, error = %e, "malformed frame, closing connection");
                shared.fail(CloseReason::Codec(Arc::new(e)));
                return;
            }
            Some(Ok(cmd)) => cmd,
        };
        shared.touch();
        if cmd.is_response() {
            match shared.remove_waiter(cmd.opaque) {
                Some(waiter) => {
                    let _ = waiter.send(Ok(cmd));
                }
                // Late (timed-out) responses and 4.9.x answers to oneway requests land here.
                None => {
                    warn!(addr = %shared.addr, opaque = cmd.opaque, code = cmd.code, "response matches no pending request")
                }
            }
            continue;
        }
        debug!(addr = %shared.addr, code = ?cmd.request_code(), opaque = cmd.opaque, "request from server");
        match request_tx.try_send(cmd) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(cmd)) => {
                warn!(addr = %shared.addr, code = ?cmd.request_code(), "server request queue full, answering SYSTEM_BUSY");
                if !cmd.is_oneway() {
                    let busy = RemotingCommand::response_to(
                        &cmd,
                        ResponseCode::SYSTEM_BUSY,
                        Some("client is busy, try again later".into()),
                    );
                    let mut buf = BytesMut::new();
                    if codec.encode(&busy, &mut buf).is_ok() {
                        // Never block the reader: drop the reply if the writer is full too.
                        let _ = writer_tx.try_send(buf.freeze());
                    }
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn dispatch_loop(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<RemotingCommand>,
    writer_tx: mpsc::Sender<Bytes>,
    handler: Arc<dyn ServerRequestHandler>,
    codec: RemotingCodec,
    concurrency: usize,
) {
    // Dropping the set when this task ends aborts handlers still running.
    let mut running = JoinSet::new();
    loop {
        tokio::select! {
            _ = shared.closed.cancelled() => return,
            Some(_) = running.join_next(), if !running.is_empty() => {}
            request = rx.recv(), if running.len() < concurrency => {
                let Some(request) = request else { return };
                let future = handler.handle(&shared.addr, request.clone());
                let writer_tx = writer_tx.clone();
                let mut codec = codec.clone();
                let addr = shared.addr.clone();
                running.spawn(async move {
                    let Some(mut response) = future.await else { return };
                    if request.is_oneway() {
                        return;
                    }
                    response.opaque = request.opaque;
                    response.flag |= FLAG_RESPONSE;
                    let mut buf = BytesMut::new();
                    match codec.encode(&response, &mut buf) {
                        Ok(()) => {
                            let _ = writer_tx.send(buf.freeze()).await;
                        }
                        Err(e) => warn!(addr = %addr, error = %e, "cannot encode reply to server request"),
                    }
                });
            }
        }
    }
}
