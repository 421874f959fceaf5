//! A fake name server and a fault-injecting fake broker on 127.0.0.1, for what a real broker
//! cannot be made to do on demand: send `CHECK_TRANSACTION_STATE` or consumer requests to a
//! producer, stall, answer late. Not a broker: it answers only what these tests need.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use rmq::protocol::{RemotingCodec, RemotingCommand, RequestCode, ResponseCode};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Mutex};
use tokio_util::codec::Framed;

/// A fake name server that routes every topic to one broker address.
pub struct FakeNameServer {
    pub addr: String,
    /// Route requests answered so far.
    pub route_requests: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeNameServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeNameServer {
    /// Routes TBW102 (and any topic) to `broker_addr` as `broker_name`.
    pub async fn start(broker_name: &str, broker_addr: &str) -> Self {
        // fastjson style, bare integer key, as a 4.9.x name server writes it.
        let route = format!(
            r#"{{"brokerDatas":[{{"brokerAddrs":{{0:"{broker_addr}"}},"brokerName":"{broker_name}","cluster":"FakeCluster"}}],"filterServerTable":{{}},"queueDatas":[{{"brokerName":"{broker_name}","perm":7,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}}]}}"#
        );
        Self::with_route(route).await
    }

    /// Answers every route request with `route` (any body, well-formed or not).
    pub async fn with_route(route: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let route_requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&route_requests);
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let route = route.clone();
                let counter = Arc::clone(&counter);
                conns.spawn(async move {
                    let mut framed = Framed::new(socket, RemotingCodec::default());
                    while let Some(Ok(req)) = framed.next().await {
                        let resp = match req.request_code() {
                            RequestCode::GET_ROUTEINFO_BY_TOPIC => {
                                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                RemotingCommand::response_to(&req, ResponseCode::SUCCESS, None)
                                    .with_body(route.clone().into_bytes())
                            }
                            _ => RemotingCommand::response_to(
                                &req,
                                ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
                                None,
                            ),
                        };
                        if framed.send(resp).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self {
            addr,
            route_requests,
            task,
        }
    }
}

/// Encodes one stored message the way a broker does (`MessageDecoder.encode`, magic V1,
/// IPv4 hosts), for bodies of server requests.
pub fn stored_message(
    topic: &str,
    body: &[u8],
    properties: &str,
    commit_log_offset: i64,
) -> Vec<u8> {
    use bytes::BufMut;
    let mut m = Vec::new();
    m.put_i32(0); // total size, patched below
    m.put_i32(-626843481); // MESSAGE_MAGIC_CODE (V1)
    m.put_i32(0); // body CRC
    m.put_i32(1); // queue id
    m.put_i32(0); // flag
    m.put_i64(7); // queue offset
    m.put_i64(commit_log_offset);
    m.put_i32(4); // sys flag: transaction prepared
    m.put_i64(1_700_000_000_000); // born timestamp
    m.put_slice(&[127, 0, 0, 1]);
    m.put_i32(5555);
    m.put_i64(1_700_000_000_001); // store timestamp
    m.put_slice(&[127, 0, 0, 1]);
    m.put_i32(10911);
    m.put_i32(0); // reconsume times
    m.put_i64(0); // prepared transaction offset
    m.put_i32(body.len() as i32);
    m.put_slice(body);
    m.put_u8(topic.len() as u8);
    m.put_slice(topic.as_bytes());
    m.put_i16(properties.len() as i16);
    m.put_slice(properties.as_bytes());
    let total = m.len() as i32;
    m[..4].copy_from_slice(&total.to_be_bytes());
    m
}

/// One client connection as the fake broker sees it.
pub struct BrokerSideConnection {
    to_client: mpsc::UnboundedSender<RemotingCommand>,
    from_client: Mutex<mpsc::UnboundedReceiver<RemotingCommand>>,
}

impl BrokerSideConnection {
    /// Sends a request (or anything) to the client.
    pub fn send(&self, cmd: RemotingCommand) {
        self.to_client.send(cmd).expect("connection alive");
    }

    /// The next frame from the client that is not a heartbeat or unregister request (those
    /// are answered automatically).
    pub async fn recv(&self) -> RemotingCommand {
        self.from_client
            .lock()
            .await
            .recv()
            .await
            .expect("client frame")
    }

    /// The next frame within `d`, if any.
    pub async fn recv_within(&self, d: std::time::Duration) -> Option<RemotingCommand> {
        tokio::time::timeout(d, self.recv()).await.ok()
    }
}

/// A fault-injecting fake server on 127.0.0.1 that accepts connections and never answers:
/// with `read`, it reads and discards everything (a stalled server); without, it never reads
/// (a server whose socket buffers fill up). Counts the connections it accepted.
pub struct SilentServer {
    pub addr: String,
    accepted: tokio::sync::watch::Receiver<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SilentServer {
    pub async fn start(read: bool) -> Self {
        use tokio::io::AsyncReadExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (count, accepted) = tokio::sync::watch::channel(0usize);
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            let mut readers = tokio::task::JoinSet::new();
            while let Ok((mut socket, _)) = listener.accept().await {
                count.send_modify(|n| *n += 1);
                if read {
                    readers.spawn(async move {
                        let mut buf = vec![0u8; 64 * 1024];
                        while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
                    });
                } else {
                    held.push(socket);
                }
            }
        });
        Self {
            addr,
            accepted,
            task,
        }
    }

    /// Waits until `n` connections have been accepted.
    pub async fn accepted(&self, n: usize) {
        let mut accepted = self.accepted.clone();
        accepted.wait_for(|count| *count >= n).await.unwrap();
    }
}

/// A fake broker: accepts connections, answers HEART_BEAT and UNREGISTER_CLIENT with SUCCESS,
/// and hands each connection to the test.
pub struct FakeBroker {
    pub addr: String,
    conns: Mutex<mpsc::UnboundedReceiver<Arc<BrokerSideConnection>>>,
    pub heartbeats: Arc<std::sync::Mutex<Vec<RemotingCommand>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeBroker {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (conn_tx, conn_rx) = mpsc::unbounded_channel();
        let heartbeats = Arc::new(std::sync::Mutex::new(Vec::new()));
        let hb = Arc::clone(&heartbeats);
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let (to_client, mut outgoing) = mpsc::unbounded_channel::<RemotingCommand>();
                let (incoming, from_client) = mpsc::unbounded_channel::<RemotingCommand>();
                let _ = conn_tx.send(Arc::new(BrokerSideConnection {
                    to_client,
                    from_client: Mutex::new(from_client),
                }));
                let hb = Arc::clone(&hb);
                conns.spawn(async move {
                    let mut framed = Framed::new(socket, RemotingCodec::default());
                    loop {
                        tokio::select! {
                            Some(cmd) = outgoing.recv() => {
                                if framed.send(cmd).await.is_err() { return; }
                            }
                            frame = framed.next() => {
                                let Some(Ok(cmd)) = frame else { return };
                                let auto = !cmd.is_response()
                                    && matches!(cmd.request_code(), RequestCode::HEART_BEAT | RequestCode::UNREGISTER_CLIENT);
                                if auto {
                                    if cmd.request_code() == RequestCode::HEART_BEAT {
                                        hb.lock().unwrap().push(cmd.clone());
                                    }
                                    let resp = RemotingCommand::response_to(&cmd, ResponseCode::SUCCESS, None);
                                    if framed.send(resp).await.is_err() { return; }
                                } else {
                                    let _ = incoming.send(cmd);
                                }
                            }
                        }
                    }
                });
            }
        });
        Self {
            addr,
            conns: Mutex::new(conn_rx),
            heartbeats,
            task,
        }
    }

    /// The next client connection.
    pub async fn connection(&self) -> Arc<BrokerSideConnection> {
        self.conns
            .lock()
            .await
            .recv()
            .await
            .expect("a client connects")
    }
}
