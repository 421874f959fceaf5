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
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::handler::{RpcHook, ServerRequestHandler};
use crate::error::{CloseReason, Error, Result};
use crate::protocol::{
    decode_frame_body, frame_header_len, next_opaque, CodecError, FrameSplitter, RemotingCodec,
    RemotingCommand, RequestCode, ResponseCode, DEFAULT_MAX_FRAME_LEN, FLAG_RESPONSE,
};
use crate::util::deadline_after;

/// Headers larger than this are decoded on a blocking thread, not on the reader task: decoding
/// is linear, but a 16 MiB header still takes a few hundred milliseconds, which would stall
/// every timer of a runtime worker.
const INLINE_HEADER_DECODE_LIMIT: usize = 64 * 1024;

/// What a request that times out does to its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TimeoutPolicy {
    /// Close the connection when the peer has sent nothing since the request was queued: it
    /// is stalled or gone, and every later request on it would time out too. A peer that
    /// keeps answering other requests keeps the connection. The default.
    #[default]
    CloseIfSilent,
    /// Close the connection on every timeout, as the Java client does by default
    /// (`clientCloseSocketIfTimeout = true`).
    Close,
    /// Never close on a timeout (only errors, EOF and idleness close).
    KeepOpen,
}

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
    /// Bytes queued for the writer and not yet written before senders wait (64 MiB): with
    /// `write_queue_capacity`, what bounds the memory a peer that stops reading can pin. A
    /// frame larger than this waits for the whole allowance.
    pub max_unwritten_bytes: usize,
    /// What a request timeout does to the connection.
    pub timeout_policy: TimeoutPolicy,
    /// Server requests queued for the handler before the client answers `SYSTEM_BUSY`.
    pub server_request_capacity: usize,
    /// Server requests handled at the same time on one connection.
    pub server_request_concurrency: usize,
    /// Hooks run around every request (Java `RPCHook`).
    pub rpc_hooks: Vec<Arc<dyn RpcHook>>,
    /// TLS on every connection (Java `tls.enable`), or plain TCP when `None`.
    pub tls: Option<tokio_rustls::TlsConnector>,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            idle_timeout: Some(Duration::from_secs(120)),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            write_queue_capacity: 4096,
            max_unwritten_bytes: 64 * 1024 * 1024,
            timeout_policy: TimeoutPolicy::default(),
            server_request_capacity: 256,
            server_request_concurrency: 16,
            rpc_hooks: Vec::new(),
            tls: None,
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
            .field("max_unwritten_bytes", &self.max_unwritten_bytes)
            .field("timeout_policy", &self.timeout_policy)
            .field("server_request_capacity", &self.server_request_capacity)
            .field(
                "server_request_concurrency",
                &self.server_request_concurrency,
            )
            .field("rpc_hooks", &self.rpc_hooks.len())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

type Waiter = oneshot::Sender<Result<RemotingCommand>>;

enum Pending {
    Open(HashMap<i32, Waiter>),
    Closed(CloseReason),
}

/// One encoded frame: its length prefix and header, then the command's body as the caller
/// gave it. The body is never copied into a buffer of its own, so a frame waiting for the
/// writer costs its header only (the body is shared with the message that holds it anyway).
#[derive(Clone)]
struct Frame {
    head: Bytes,
    body: Bytes,
}

impl Frame {
    /// Encodes `cmd`.
    fn encode(codec: &RemotingCodec, cmd: &RemotingCommand) -> std::result::Result<Self, CodecError> {
        let mut head = BytesMut::with_capacity(HEAD_CAPACITY);
        codec.encode_head(cmd, &mut head)?;
        Ok(Self {
            head: head.freeze(),
            body: cmd.body.clone(),
        })
    }

    fn len(&self) -> usize {
        self.head.len() + self.body.len()
    }
}

/// Room for the length prefix and a typical header (a send's JSON header is about 400 bytes).
const HEAD_CAPACITY: usize = 512;

/// A frame waiting for the writer, with its share of the unwritten-bytes allowance.
struct QueuedFrame {
    frame: Frame,
    _room: OwnedSemaphorePermit,
}

/// The writer queue holds frames through these slots. A request that times out or is
/// cancelled empties its slot, so its frame is freed at once and never written late (a
/// message the caller saw fail must not be stored afterwards); the writer skips empty slots.
#[derive(Default)]
struct FrameSlot(Mutex<Option<QueuedFrame>>);

impl FrameSlot {
    fn new(frame: QueuedFrame) -> Arc<Self> {
        Arc::new(Self(Mutex::new(Some(frame))))
    }

    fn take(&self) -> Option<QueuedFrame> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// State shared by the handle and the tasks.
struct Shared {
    addr: String,
    pending: Mutex<Pending>,
    closed: CancellationToken,
    started: Instant,
    /// Milliseconds since `started` of the last read or write (for the idle timeout).
    last_activity_ms: AtomicU64,
    /// Frames read so far (for [`TimeoutPolicy`]: a peer is silent when this did not move).
    frames_read: AtomicU64,
    /// Plain TCP to a server (not TLS, not a test stream): a close before any frame then
    /// hints at a TLS-only server.
    plain_tcp: bool,
    /// Bytes the writer may still be handed before senders wait.
    write_room: Arc<Semaphore>,
    max_unwritten_bytes: usize,
    timeout_policy: TimeoutPolicy,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last_activity_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    fn touch_read(&self) {
        self.last_activity_ms.store(self.now_ms(), Ordering::Relaxed);
        self.frames_read.fetch_add(1, Ordering::Relaxed);
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
        // Senders waiting for room give up at once.
        self.write_room.close();
        for (_, waiter) in waiters {
            let _ = waiter.send(Err(self.closed_error(reason.clone())));
        }
    }

    /// Registers a waiter for `cmd`, giving it a fresh opaque if its own is already waiting
    /// (two callers can never share, or displace, one entry).
    fn register(&self, cmd: &mut RemotingCommand, waiter: Waiter) -> Result<()> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *pending {
            Pending::Open(map) => {
                while map.contains_key(&cmd.opaque) {
                    cmd.opaque = next_opaque();
                }
                map.insert(cmd.opaque, waiter);
                Ok(())
            }
            Pending::Closed(reason) => Err(self.closed_error(reason.clone())),
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

    /// Waits (until `deadline`) for room for `bytes` among the unwritten bytes.
    async fn reserve_room(&self, frame: &Frame, deadline: Instant) -> Option<QueuedFrame> {
        let share = frame.len().clamp(1, self.max_unwritten_bytes.max(1));
        let share = u32::try_from(share).unwrap_or(u32::MAX);
        let room = tokio::time::timeout_at(
            deadline,
            Arc::clone(&self.write_room).acquire_many_owned(share),
        )
        .await
        .ok()?
        .ok()?;
        Some(QueuedFrame {
            frame: frame.clone(),
            _room: room,
        })
    }

    /// Applies the [`TimeoutPolicy`] to a request that timed out; `read_before` is
    /// [`Shared::frames_read`] when it was queued.
    fn on_timeout(&self, read_before: u64, code: RequestCode, timeout: Duration) {
        let silent = self.frames_read.load(Ordering::Relaxed) == read_before;
        let close = match self.timeout_policy {
            TimeoutPolicy::Close => true,
            TimeoutPolicy::CloseIfSilent => silent,
            TimeoutPolicy::KeepOpen => false,
        };
        if close {
            warn!(addr = %self.addr, ?code, ?timeout, silent, "request timed out, closing the connection");
            self.fail(CloseReason::Unresponsive(timeout));
        }
    }
}

/// Removes the pending entry, and the frame if it is still queued, when the request future
/// ends in any way (response, timeout, cancellation), so nothing is left behind.
struct PendingGuard<'a> {
    shared: &'a Shared,
    opaque: i32,
    slot: Option<Arc<FrameSlot>>,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.shared.remove_waiter(self.opaque);
        if let Some(slot) = &self.slot {
            slot.take();
        }
    }
}

struct Handle {
    shared: Arc<Shared>,
    writer_tx: mpsc::Sender<Arc<FrameSlot>>,
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
        info!(addr, local = ?stream.local_addr().ok(), tls = config.tls.is_some(), "connected");
        match &config.tls {
            None => {
                let (read, write) = stream.into_split();
                Ok(Self::start(addr, read, write, config, handler, true))
            }
            Some(tls) => {
                let stream = Self::tls_handshake(addr, stream, tls, config.connect_timeout).await?;
                Ok(Self::from_stream(addr, stream, config, handler))
            }
        }
    }

    /// The TLS handshake over a fresh TCP stream; the server certificate must name the host
    /// of `addr` (an IP address or a DNS name) unless the connector accepts any certificate.
    async fn tls_handshake(
        addr: &str,
        stream: TcpStream,
        tls: &tokio_rustls::TlsConnector,
        timeout: Duration,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let failed = |e: std::io::Error| Error::Connect {
            addr: addr.to_string(),
            source: Arc::new(e),
        };
        let host = addr
            .rsplit_once(':')
            .map_or(addr, |(host, _)| host)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = rustls_pki_types::ServerName::try_from(host.to_string()).map_err(|e| {
            failed(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("not a TLS server name: {e}"),
            ))
        })?;
        match tokio::time::timeout(timeout, tls.connect(name, stream)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(failed(std::io::Error::new(
                e.kind(),
                format!("TLS handshake failed: {e}"),
            ))),
            Err(_) => Err(Error::ConnectTimeout {
                addr: addr.to_string(),
                timeout,
            }),
        }
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
        Self::start(addr, read, write, config, handler, false)
    }

    fn start<R, W>(
        addr: &str,
        read: R,
        write: W,
        config: &ConnectionConfig,
        handler: Arc<dyn ServerRequestHandler>,
        plain_tcp: bool,
    ) -> Self
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let max_unwritten_bytes = config
            .max_unwritten_bytes
            .clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        let shared = Arc::new(Shared {
            addr: addr.to_string(),
            pending: Mutex::new(Pending::Open(HashMap::new())),
            closed: CancellationToken::new(),
            started: Instant::now(),
            last_activity_ms: AtomicU64::new(0),
            frames_read: AtomicU64::new(0),
            write_room: Arc::new(Semaphore::new(max_unwritten_bytes)),
            max_unwritten_bytes,
            timeout_policy: config.timeout_policy,
            plain_tcp,
        });
        let codec = RemotingCodec::new(config.max_frame_len);
        let (writer_tx, writer_rx) = mpsc::channel(config.write_queue_capacity.max(1));
        let (request_tx, request_rx) = mpsc::channel(config.server_request_capacity.max(1));
        let tasks = vec![
            tokio::spawn(write_loop(Arc::clone(&shared), write, writer_rx)),
            tokio::spawn(read_loop(
                Arc::clone(&shared),
                FramedRead::new(read, FrameSplitter::new(config.max_frame_len)),
                request_tx,
                writer_tx.clone(),
                codec.clone(),
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
        // A writer task that is gone without closing the connection ended with the runtime
        // it ran on (the connection was opened from another runtime, since shut down).
        self.handle.shared.closed.is_cancelled() || self.handle.writer_tx.is_closed()
    }

    /// Completes when the connection closes.
    pub async fn closed(&self) {
        self.handle.shared.closed.cancelled().await;
    }

    /// Number of requests waiting for a response.
    pub fn pending_requests(&self) -> usize {
        self.handle.shared.pending_len()
    }

    /// Bytes queued for the writer and not yet written.
    pub fn unwritten_bytes(&self) -> usize {
        let shared = &self.handle.shared;
        shared
            .max_unwritten_bytes
            .saturating_sub(shared.write_room.available_permits())
    }

    /// Sends a request and waits for its response until `timeout`.
    ///
    /// On a timeout the pending entry is removed (a late response is dropped), the frame is
    /// dropped if the writer has not taken it yet, and the connection is closed as
    /// [`ConnectionConfig::timeout_policy`] says. Cancel safety: dropping the future does the
    /// same, except closing. A request whose opaque is already waiting on this connection gets
    /// a fresh one.
    ///
    /// # Errors
    /// [`Error::Timeout`], [`Error::ConnectionClosed`], [`Error::Encode`]. A response with an
    /// error code is returned as `Ok`: the caller decides what the code means.
    pub async fn request(
        &self,
        mut cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        let deadline = deadline_after(timeout);
        let shared = &*self.handle.shared;
        for hook in self.handle.hooks.iter() {
            hook.before_request(&shared.addr, &mut cmd);
        }
        let code = cmd.request_code();
        let (tx, rx) = oneshot::channel();
        shared.register(&mut cmd, tx)?;
        let mut guard = PendingGuard {
            shared,
            opaque: cmd.opaque,
            slot: None,
        };
        let frame = self.encode(&cmd)?;
        let request_for_hooks = (!self.handle.hooks.is_empty()).then_some(cmd);
        let timed_out = || Error::Timeout {
            addr: shared.addr.clone(),
            code,
            timeout,
        };
        let read_before = shared.frames_read.load(Ordering::Relaxed);
        let slot = self.enqueue(&frame, deadline).await.map_err(|e| {
            if e.is_none() {
                shared.on_timeout(read_before, code, timeout);
            }
            e.unwrap_or_else(timed_out)
        })?;
        guard.slot = Some(slot);
        drop(frame);
        debug!(addr = %shared.addr, ?code, opaque = guard.opaque, "request sent");
        let mut response = match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(result)) => result?,
            Ok(Err(_)) => return Err(self.closed_now()),
            Err(_) => {
                debug!(addr = %shared.addr, ?code, opaque = guard.opaque, ?timeout, "request timed out");
                shared.on_timeout(read_before, code, timeout);
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
        let deadline = deadline_after(timeout);
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
        self.enqueue(&frame, deadline).await.map(drop).map_err(|e| {
            e.unwrap_or_else(|| Error::Timeout {
                addr: shared.addr.clone(),
                code,
                timeout,
            })
        })
    }

    /// Queues `frame` for the writer before `deadline`: first room among the unwritten bytes,
    /// then a place in the queue. `Err(None)` is a timeout.
    async fn enqueue(
        &self,
        frame: &Frame,
        deadline: Instant,
    ) -> std::result::Result<Arc<FrameSlot>, Option<Error>> {
        let shared = &*self.handle.shared;
        let Some(queued) = shared.reserve_room(frame, deadline).await else {
            return Err(self.is_closed().then(|| self.closed_now()));
        };
        let slot = FrameSlot::new(queued);
        match tokio::time::timeout_at(deadline, self.handle.writer_tx.send(Arc::clone(&slot)))
            .await
        {
            Ok(Ok(())) => Ok(slot),
            Ok(Err(_)) => Err(Some(self.closed_now())),
            Err(_) => Err(None),
        }
    }

    /// Closes the connection: waiters fail with [`CloseReason::Local`] and the tasks are
    /// stopped and awaited. Returns promptly even when the peer has stopped reading: the writer
    /// gives up a write in progress.
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

    fn encode(&self, cmd: &RemotingCommand) -> Result<Frame> {
        Frame::encode(&self.handle.codec, cmd).map_err(|e| Error::Encode(Arc::new(e)))
    }

    fn closed_now(&self) -> Error {
        let shared = &self.handle.shared;
        let reason = match &*shared.pending.lock().unwrap_or_else(|e| e.into_inner()) {
            Pending::Closed(reason) => reason.clone(),
            Pending::Open(_) => CloseReason::Local,
        };
        // The writer is gone while the connection looked open: its runtime shut down. Close
        // it for good, so the pool dials a fresh connection on the caller's runtime.
        shared.fail(reason.clone());
        shared.closed_error(reason)
    }
}

/// Time the writer gives a peer to take a closing connection's last bytes.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(100);

async fn write_loop<W>(shared: Arc<Shared>, write: W, mut rx: mpsc::Receiver<Arc<FrameSlot>>)
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
        let write_batch = async {
            for slot in batch.drain(..) {
                // An empty slot is a request that timed out or was cancelled while queued.
                if let Some(queued) = slot.take() {
                    writer.write_all(&queued.frame.head).await?;
                    writer.write_all(&queued.frame.body).await?;
                }
            }
            writer.flush().await
        };
        // Writes are cancellable: a peer that stops reading cannot keep close() waiting.
        let result = tokio::select! {
            _ = shared.closed.cancelled() => break,
            result = write_batch => result,
        };
        if let Err(e) = result {
            shared.fail(CloseReason::Io(Arc::new(e)));
            break;
        }
        shared.touch();
    }
    batch.clear();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, writer.into_inner().shutdown()).await;
}

async fn read_loop<R>(
    shared: Arc<Shared>,
    mut frames: FramedRead<R, FrameSplitter>,
    request_tx: mpsc::Sender<RemotingCommand>,
    writer_tx: mpsc::Sender<Arc<FrameSlot>>,
    codec: RemotingCodec,
    idle_timeout: Option<Duration>,
) where
    R: AsyncRead + Unpin,
{
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
        let decoded = match next {
            None => {
                let silent = shared.frames_read.load(Ordering::Relaxed) == 0;
                shared.fail(if silent && shared.plain_tcp {
                    CloseReason::EofBeforeAnyFrame
                } else {
                    CloseReason::Eof
                });
                return;
            }
            Some(Err(e)) => Err(e),
            Some(Ok(frame)) if frame_header_len(&frame) > INLINE_HEADER_DECODE_LIMIT => {
                tokio::task::spawn_blocking(move || decode_frame_body(frame))
                    .await
                    .unwrap_or_else(|e| {
                        Err(CodecError::Io(std::io::Error::other(format!(
                            "header decoding stopped: {e}"
                        ))))
                    })
            }
            Some(Ok(frame)) => decode_frame_body(frame),
        };
        let cmd = match decoded {
            Ok(cmd) => cmd,
            Err(CodecError::Io(e)) => {
                shared.fail(CloseReason::Io(Arc::new(e)));
                return;
            }
            Err(e) => {
                warn!(addr = %shared.addr, error = %e, "malformed frame, closing connection");
                shared.fail(CloseReason::Codec(Arc::new(e)));
                return;
            }
        };
        shared.touch_read();
        if cmd.is_response() {
            match shared.remove_waiter(cmd.opaque) {
                Some(waiter) => {
                    let _ = waiter.send(Ok(cmd));
                }
                // Late (timed-out or cancelled: every long poll a consumer drops at shutdown)
                // responses and 4.9.x answers to oneway requests land here; all expected.
                None => {
                    debug!(addr = %shared.addr, opaque = cmd.opaque, code = cmd.code, "response matches no pending request")
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
                    if let Ok(frame) = Frame::encode(&codec, &busy) {
                        // Never block the reader: drop the reply if the writer is full too.
                        if let Ok(room) = Arc::clone(&shared.write_room)
                            .try_acquire_many_owned(frame.len() as u32)
                        {
                            let slot = FrameSlot::new(QueuedFrame { frame, _room: room });
                            let _ = writer_tx.try_send(slot);
                        }
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

/// Longest a handler's reply waits for room in the write queue.
const REPLY_QUEUE_TIMEOUT: Duration = Duration::from_secs(3);

async fn dispatch_loop(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<RemotingCommand>,
    writer_tx: mpsc::Sender<Arc<FrameSlot>>,
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
                let codec = codec.clone();
                let shared = Arc::clone(&shared);
                running.spawn(async move {
                    let Some(mut response) = future.await else { return };
                    if request.is_oneway() {
                        return;
                    }
                    response.opaque = request.opaque;
                    response.flag |= FLAG_RESPONSE;
                    let frame = match Frame::encode(&codec, &response) {
                        Ok(frame) => frame,
                        Err(e) => {
                            warn!(addr = %shared.addr, error = %e, "cannot encode reply to server request");
                            return;
                        }
                    };
                    let deadline = deadline_after(REPLY_QUEUE_TIMEOUT);
                    if let Some(queued) = shared.reserve_room(&frame, deadline).await {
                        let _ = tokio::time::timeout_at(deadline, writer_tx.send(FrameSlot::new(queued))).await;
                    }
                });
            }
        }
    }
}
