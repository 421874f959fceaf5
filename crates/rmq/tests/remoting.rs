//! Connection behaviour over an in-memory pipe with a scripted fake peer.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::fake::{pair, pair_with};
use rmq::protocol::{RemotingCommand, RequestCode, ResponseCode};
use rmq::remoting::{
    ConnectionConfig, ConnectionPool, HandlerFuture, RpcHook, ServerRequestHandler, TimeoutPolicy,
    UnsupportedRequests,
};
use rmq::{CloseReason, Error};

const LONG: Duration = Duration::from_secs(10);

fn req(code: RequestCode) -> RemotingCommand {
    RemotingCommand::request(code)
}

#[tokio::test]
async fn out_of_order_responses_are_matched_by_opaque() {
    let (conn, mut peer) = pair();
    let a = tokio::spawn({
        let conn = conn.clone();
        async move {
            conn.request(req(RequestCode::GET_ROUTEINFO_BY_TOPIC), LONG)
                .await
        }
    });
    let first = peer.recv().await;
    let b = tokio::spawn({
        let conn = conn.clone();
        async move {
            conn.request(req(RequestCode::GET_BROKER_CLUSTER_INFO), LONG)
                .await
        }
    });
    let second = peer.recv().await;
    assert_ne!(first.opaque, second.opaque);
    peer.reply(&second, "second").await;
    peer.reply(&first, "first").await;
    assert_eq!(a.await.unwrap().unwrap().remark.as_deref(), Some("first"));
    assert_eq!(b.await.unwrap().unwrap().remark.as_deref(), Some("second"));
    assert_eq!(conn.pending_requests(), 0);
}

#[tokio::test]
async fn unknown_opaque_is_ignored_and_the_connection_keeps_working() {
    let (conn, mut peer) = pair();
    let pending = tokio::spawn({
        let conn = conn.clone();
        async move { conn.request(req(RequestCode::HEART_BEAT), LONG).await }
    });
    let request = peer.recv().await;
    let mut stray =
        RemotingCommand::response_to(&request, ResponseCode::SUCCESS, Some("stray".into()));
    stray.opaque = request.opaque.wrapping_add(1000);
    peer.send(stray).await;
    peer.reply(&request, "real").await;
    assert_eq!(
        pending.await.unwrap().unwrap().remark.as_deref(),
        Some("real")
    );
    assert!(!conn.is_closed());
}

#[tokio::test(start_paused = true)]
async fn timeout_removes_the_pending_entry_and_a_late_reply_is_dropped() {
    // Kept open on a timeout, to see what a late reply does.
    let config = ConnectionConfig {
        timeout_policy: TimeoutPolicy::KeepOpen,
        ..ConnectionConfig::default()
    };
    let (conn, mut peer) = pair_with(config, Arc::new(UnsupportedRequests));
    let request = req(RequestCode::HEART_BEAT);
    let fut = conn.request(request, Duration::from_millis(500));
    let (result, sent) = tokio::join!(fut, peer.recv());
    let err = result.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                code: RequestCode::HEART_BEAT,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_timeout() && err.is_retriable());
    assert_eq!(conn.pending_requests(), 0);
    // The late reply matches nothing and harms nothing.
    peer.reply(&sent, "late").await;
    let next = tokio::spawn({
        let conn = conn.clone();
        async move { conn.request(req(RequestCode::HEART_BEAT), LONG).await }
    });
    let again = peer.recv().await;
    peer.reply(&again, "ok").await;
    assert_eq!(next.await.unwrap().unwrap().remark.as_deref(), Some("ok"));
}

#[tokio::test]
async fn cancelled_request_removes_the_pending_entry() {
    let (conn, mut peer) = pair();
    let task = tokio::spawn({
        let conn = conn.clone();
        async move { conn.request(req(RequestCode::HEART_BEAT), LONG).await }
    });
    let _sent = peer.recv().await;
    assert_eq!(conn.pending_requests(), 1);
    task.abort();
    let _ = task.await;
    assert_eq!(conn.pending_requests(), 0);
}

#[tokio::test]
async fn eof_fails_every_waiter_with_the_same_error() {
    let (conn, mut peer) = pair();
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let conn = conn.clone();
        tasks.push(tokio::spawn(async move {
            conn.request(req(RequestCode::HEART_BEAT), LONG).await
        }));
    }
    for _ in 0..3 {
        peer.recv().await;
    }
    drop(peer);
    for task in tasks {
        let err = task.await.unwrap().unwrap_err();
        assert!(
            matches!(
                err,
                Error::ConnectionClosed {
                    reason: CloseReason::Eof,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.is_retriable());
    }
    assert!(conn.is_closed());
    // Later requests fail at once with the same reason.
    let err = conn
        .request(req(RequestCode::HEART_BEAT), LONG)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ConnectionClosed {
                reason: CloseReason::Eof,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn server_request_is_answered_with_its_own_opaque() {
    // The default handler answers like a Java peer without a processor for the code.
    let (_conn, mut peer) = pair();
    let mut from_server = req(RequestCode(9999));
    from_server.opaque = 424242;
    peer.send(from_server).await;
    let answer = peer.recv().await;
    assert!(answer.is_response());
    assert_eq!(answer.opaque, 424242);
    assert_eq!(
        answer.response_code(),
        ResponseCode::REQUEST_CODE_NOT_SUPPORTED
    );
    assert_eq!(
        answer.remark.as_deref(),
        Some(" request type 9999 not supported")
    );
}

/// Blocks until released, to show the reader keeps going while a handler is busy.
struct SlowHandler {
    release: Arc<tokio::sync::Notify>,
}

impl ServerRequestHandler for SlowHandler {
    fn handle(&self, _addr: &str, request: RemotingCommand) -> HandlerFuture {
        let release = Arc::clone(&self.release);
        Box::pin(async move {
            release.notified().await;
            Some(RemotingCommand::response_to(
                &request,
                ResponseCode::SUCCESS,
                Some("handled".into()),
            ))
        })
    }
}

#[tokio::test]
async fn a_busy_handler_does_not_block_responses_and_oneway_requests_get_no_reply() {
    let release = Arc::new(tokio::sync::Notify::new());
    let handler = Arc::new(SlowHandler {
        release: Arc::clone(&release),
    });
    let (conn, mut peer) = pair_with(ConnectionConfig::default(), handler);
    let mut oneway = req(RequestCode::CHECK_TRANSACTION_STATE);
    oneway.mark_oneway();
    peer.send(oneway).await;
    let server_req = req(RequestCode::GET_CONSUMER_RUNNING_INFO);
    let server_opaque = server_req.opaque;
    peer.send(server_req).await;
    // While both handlers wait, a normal request/response still flows.
    let task = tokio::spawn({
        let conn = conn.clone();
        async move { conn.request(req(RequestCode::HEART_BEAT), LONG).await }
    });
    let hb = peer.recv().await;
    peer.reply(&hb, "hb").await;
    assert_eq!(task.await.unwrap().unwrap().remark.as_deref(), Some("hb"));
    release.notify_waiters();
    // Exactly one reply comes back: for the two-way request, not the oneway one.
    let answer = peer.recv().await;
    assert_eq!(answer.opaque, server_opaque);
    assert_eq!(answer.remark.as_deref(), Some("handled"));
    let nothing_else = tokio::time::timeout(Duration::from_millis(200), peer.recv()).await;
    assert!(nothing_else.is_err(), "no reply to the oneway request");
}

#[tokio::test]
async fn full_server_request_queue_answers_system_busy() {
    let release = Arc::new(tokio::sync::Notify::new());
    let config = ConnectionConfig {
        server_request_capacity: 1,
        server_request_concurrency: 1,
        ..ConnectionConfig::default()
    };
    let (_conn, mut peer) = pair_with(config, Arc::new(SlowHandler { release }));
    // One is being handled, one waits in the queue, the rest overflow.
    let mut opaques = Vec::new();
    for _ in 0..6 {
        let r = req(RequestCode::GET_CONSUMER_RUNNING_INFO);
        opaques.push(r.opaque);
        peer.send(r).await;
    }
    let busy = peer.recv().await;
    assert_eq!(busy.response_code(), ResponseCode::SYSTEM_BUSY);
    assert!(opaques.contains(&busy.opaque));
}

#[tokio::test]
async fn malformed_frames_close_only_that_connection() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("negative length", vec![0x80, 0, 0, 0]),
        ("huge length", vec![0x7f, 0xff, 0xff, 0xff]),
        (
            "header longer than frame",
            vec![0, 0, 0, 8, 0, 0, 0, 200, 1, 2, 3, 4],
        ),
        (
            "unknown serialize type",
            vec![0, 0, 0, 6, 9, 0, 0, 2, b'{', b'}'],
        ),
        ("invalid JSON", vec![0, 0, 0, 6, 0, 0, 0, 2, b'{', b'{']),
        ("invalid UTF-8", vec![0, 0, 0, 6, 0, 0, 0, 2, 0xff, 0xfe]),
    ];
    let (healthy, mut healthy_peer) = pair();
    for (what, bytes) in cases {
        let (conn, mut peer) = pair();
        let waiting = tokio::spawn({
            let conn = conn.clone();
            async move { conn.request(req(RequestCode::HEART_BEAT), LONG).await }
        });
        peer.recv().await;
        peer.send_raw(&bytes).await;
        let err = waiting.await.unwrap().unwrap_err();
        assert!(
            matches!(
                err,
                Error::ConnectionClosed {
                    reason: CloseReason::Codec(_),
                    ..
                }
            ),
            "{what}: {err}"
        );
        assert!(conn.is_closed(), "{what}");
    }
    // The other connection never noticed.
    let task = tokio::spawn({
        let healthy = healthy.clone();
        async move { healthy.request(req(RequestCode::HEART_BEAT), LONG).await }
    });
    let r = healthy_peer.recv().await;
    healthy_peer.reply(&r, "fine").await;
    assert_eq!(task.await.unwrap().unwrap().remark.as_deref(), Some("fine"));
}

#[tokio::test(start_paused = true)]
async fn idle_connection_closes() {
    let config = ConnectionConfig {
        idle_timeout: Some(Duration::from_secs(120)),
        ..ConnectionConfig::default()
    };
    let (conn, _peer) = pair_with(config, Arc::new(UnsupportedRequests));
    tokio::time::timeout(Duration::from_secs(121), conn.closed())
        .await
        .expect("closed after 120 s idle");
    let err = conn
        .request(req(RequestCode::HEART_BEAT), LONG)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ConnectionClosed {
                reason: CloseReason::Idle(_),
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn oneway_sets_the_flag_and_expects_nothing() {
    let (conn, mut peer) = pair();
    conn.oneway(req(RequestCode::END_TRANSACTION), LONG)
        .await
        .unwrap();
    let got = peer.recv().await;
    assert!(got.is_oneway());
    assert_eq!(conn.pending_requests(), 0);
}

#[tokio::test]
async fn oversized_request_is_an_encode_error_and_nothing_is_sent() {
    let config = ConnectionConfig {
        max_frame_len: 1024,
        ..ConnectionConfig::default()
    };
    let (conn, mut peer) = pair_with(config, Arc::new(UnsupportedRequests));
    let big = req(RequestCode::SEND_MESSAGE_V2).with_body(vec![0u8; 4096]);
    let err = conn.request(big, LONG).await.unwrap_err();
    assert!(matches!(err, Error::Encode(_)), "{err}");
    assert!(!err.is_retriable());
    assert_eq!(conn.pending_requests(), 0);
    let nothing = tokio::time::timeout(Duration::from_millis(100), peer.recv()).await;
    assert!(nothing.is_err());
}

struct CountingHook {
    seen: std::sync::Mutex<Vec<String>>,
}

impl RpcHook for CountingHook {
    fn before_request(&self, addr: &str, request: &mut RemotingCommand) {
        request.ext_fields.insert("Signature", "sig");
        self.seen
            .lock()
            .unwrap()
            .push(format!("before {addr} {}", request.code));
    }
    fn after_response(
        &self,
        addr: &str,
        request: &RemotingCommand,
        response: &mut RemotingCommand,
    ) {
        self.seen.lock().unwrap().push(format!(
            "after {addr} {} {:?}",
            request.code, response.remark
        ));
    }
}

#[tokio::test]
async fn rpc_hooks_run_before_request_and_after_response() {
    let hook = Arc::new(CountingHook {
        seen: std::sync::Mutex::new(Vec::new()),
    });
    let config = ConnectionConfig {
        rpc_hooks: vec![Arc::clone(&hook) as Arc<dyn RpcHook>],
        ..ConnectionConfig::default()
    };
    let (conn, mut peer) = pair_with(config, Arc::new(UnsupportedRequests));
    let task = tokio::spawn({
        let conn = conn.clone();
        async move { conn.request(req(RequestCode::HEART_BEAT), LONG).await }
    });
    let got = peer.recv().await;
    assert_eq!(got.ext_fields.get("Signature"), Some("sig"));
    peer.reply(&got, "r").await;
    task.await.unwrap().unwrap();
    assert_eq!(
        *hook.seen.lock().unwrap(),
        vec![
            "before fake-peer 34".to_string(),
            "after fake-peer 34 Some(\"r\")".to_string()
        ]
    );
}

#[tokio::test]
async fn pool_shares_one_dial_and_replaces_dead_connections() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (accepted_tx, mut accepted_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (kill_tx, mut kill_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let server = tokio::spawn(async move {
        let mut sockets = Vec::new();
        loop {
            tokio::select! {
                Ok((socket, _)) = listener.accept() => {
                    sockets.push(socket);
                    let _ = accepted_tx.send(());
                }
                Some(()) = kill_rx.recv() => sockets.clear(),
            }
        }
    });
    let pool = Arc::new(ConnectionPool::new(
        ConnectionConfig::default(),
        Arc::new(UnsupportedRequests),
    ));
    let gets: Vec<_> = (0..16)
        .map(|_| {
            let pool = Arc::clone(&pool);
            let addr = addr.clone();
            tokio::spawn(async move { pool.get(&addr).await })
        })
        .collect();
    let mut conns = Vec::new();
    for g in gets {
        conns.push(g.await.unwrap().unwrap());
    }
    accepted_rx.recv().await.unwrap();
    assert_eq!(pool.addresses(), vec![addr.clone()]);
    // The server drops every socket it has: all 16 handles close together, so they were one
    // connection.
    kill_tx.send(()).unwrap();
    for conn in &conns {
        conn.closed().await;
    }
    assert!(accepted_rx.try_recv().is_err(), "no second dial");
    // The pool replaces the dead connection on next use.
    let fresh = pool.get(&addr).await.unwrap();
    assert!(!fresh.is_closed());
    accepted_rx.recv().await.unwrap();
    pool.close_all().await;
    assert!(fresh.is_closed());
    assert!(pool.addresses().is_empty());
    server.abort();
}

#[tokio::test]
async fn pool_connect_failure_is_typed_and_retriable() {
    // Bind then drop, so the port is very likely closed.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let pool = ConnectionPool::new(ConnectionConfig::default(), Arc::new(UnsupportedRequests));
    let err = pool.get(&addr).await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    assert!(err.is_retriable());
    assert!(pool.addresses().is_empty());
}
