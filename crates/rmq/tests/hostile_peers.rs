//! Hostile and broken peers: each test reproduces one way a peer, a setting or an input could
//! crash, hang or balloon the client, against fault-injecting fakes (named as such: a real
//! broker cannot be made to misbehave like this). Time bounds are generous upper limits that
//! prove "does not hang", never performance targets.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use common::fake::{pair_with, pair_with_buffer};
use common::fake_cluster::{FakeNameServer, SilentServer};
use rmq::protocol::{RemotingCommand, RequestCode};
use rmq::remoting::{ConnectionConfig, ConnectionPool, TimeoutPolicy, UnsupportedRequests};
use rmq::{ClientConfig, CloseReason, Error, Message, Producer, ValidationError};
use tokio::time::Instant;

fn client(name_server: &str, api_timeout: Duration) -> ClientConfig {
    ClientConfig::new()
        .name_server(name_server)
        .api_timeout(api_timeout)
}

fn keep_open() -> ConnectionConfig {
    ConnectionConfig {
        timeout_policy: TimeoutPolicy::KeepOpen,
        ..ConnectionConfig::default()
    }
}

// 1. Queue counts from the network size allocations.

#[tokio::test]
async fn a_route_asking_for_two_billion_queues_is_an_error_not_an_abort() {
    // About 200 bytes: before the limits, building its publish info asked for 112 GB.
    let route = r#"{"brokerDatas":[{"brokerAddrs":{"0":"127.0.0.1:1"},"brokerName":"b","cluster":"c"}],"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":4,"writeQueueNums":2000000000}]}"#;
    let ns = FakeNameServer::with_route(route.to_string()).await;
    let producer = Producer::builder("route_bomb_group")
        .client(client(&ns.addr, Duration::from_secs(2)))
        .start()
        .await
        .unwrap();
    let err = producer
        .send(Message::new("BombTopic", "x"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("writeQueueNums 2000000000") && text.contains(&ns.addr),
        "{text}"
    );
    let order = r#"{"orderTopicConf":"b:2000000000","brokerDatas":[],"queueDatas":[]}"#;
    let ns = FakeNameServer::with_route(order.to_string()).await;
    let producer = Producer::builder("order_bomb_group")
        .client(client(&ns.addr, Duration::from_secs(2)))
        .start()
        .await
        .unwrap();
    let err = producer
        .send(Message::new("BombTopic", "x"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("orderTopicConf count"), "{err}");
    producer.shutdown().await;
}

// 2. Writes are cancellable: close and shutdown finish when the peer stops reading.

#[tokio::test]
async fn close_returns_while_a_write_to_a_peer_that_never_reads_is_stuck() {
    // A 64 KiB pipe the peer never drains; a 4 MiB frame fills it at once.
    let (conn, _peer) = pair_with_buffer(keep_open(), Arc::new(UnsupportedRequests), 64 * 1024);
    let big = RemotingCommand::request(RequestCode::SEND_MESSAGE_V2).with_body(vec![7u8; 4 << 20]);
    conn.oneway(big, Duration::from_secs(1)).await.unwrap();
    // Not needed for the assertion: gives the writer time to get stuck in the write.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), conn.close())
        .await
        .expect("close() returns although the write cannot finish");
    println!(
        "close with a stuck 4 MiB write took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn shutdown_returns_when_the_broker_stops_reading() {
    let broker = SilentServer::start(false).await;
    let ns = FakeNameServer::start("silent", &broker.addr).await;
    let api_timeout = Duration::from_millis(500);
    let producer = Producer::builder("no_read_group")
        .client(client(&ns.addr, api_timeout))
        .send_timeout(Duration::from_millis(800))
        .retries(0)
        .start()
        .await
        .unwrap();
    for _ in 0..3 {
        let err = producer
            .send(Message::new("NoReadTopic", vec![1u8; 4 << 20]))
            .await
            .unwrap_err();
        assert!(err.is_timeout(), "{err}");
    }
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), producer.shutdown())
        .await
        .expect("shutdown() returns");
    let took = started.elapsed();
    println!("shutdown with a broker that stopped reading took {took:?}");
    // Draining (nothing in flight) + unregistering within the API timeout + closing.
    assert!(took < api_timeout * 4, "{took:?}");
}

// 3. Header decoding is linear and never stalls the runtime.

fn binary_frame_with_fields(opaque: i32, n: usize) -> Vec<u8> {
    let mut ext = BytesMut::new();
    for i in 0..n {
        let key = format!("k{i}");
        ext.put_i16(key.len() as i16);
        ext.put_slice(key.as_bytes());
        ext.put_i32(1);
        ext.put_u8(b'v');
    }
    let mut header = BytesMut::new();
    header.put_i16(0); // code SUCCESS
    header.put_u8(0); // language
    header.put_i16(0); // version
    header.put_i32(opaque);
    header.put_i32(1); // response flag
    header.put_i32(0); // no remark
    header.put_i32(ext.len() as i32);
    header.put_slice(&ext);
    let mut frame = Vec::new();
    frame.put_i32(4 + header.len() as i32);
    frame.put_u32((1 << 24) | header.len() as u32);
    frame.put_slice(&header);
    frame
}

fn json_frame_with_fields(opaque: i32, n: usize) -> Vec<u8> {
    let mut header = format!(r#"{{"code":0,"flag":1,"opaque":{opaque},"extFields":{{"#);
    for i in 0..n {
        if i > 0 {
            header.push(',');
        }
        header.push_str(&format!(r#""k{i}":"v""#));
    }
    header.push_str("}}");
    let mut frame = Vec::new();
    frame.put_i32(4 + header.len() as i32);
    frame.put_u32(header.len() as u32);
    frame.put_slice(header.as_bytes());
    frame
}

#[tokio::test]
async fn a_header_with_hundreds_of_thousands_of_fields_decodes_without_stalling_timers() {
    // On this single-threaded test runtime, a reader that decodes for long would stop the
    // timer below from firing on time.
    for frame_of in [binary_frame_with_fields, json_frame_with_fields] {
        let (conn, mut peer) = pair_with(keep_open(), Arc::new(UnsupportedRequests));
        let request = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC);
        let waiting = tokio::spawn({
            let conn = conn.clone();
            async move { conn.request(request, Duration::from_secs(60)).await }
        });
        let sent = peer.recv().await;
        let frame = frame_of(sent.opaque, 300_000);
        let started = Instant::now();
        let ticker = tokio::spawn(async {
            let mut worst = Duration::ZERO;
            for _ in 0..20 {
                let before = Instant::now();
                tokio::time::sleep(Duration::from_millis(10)).await;
                worst = worst.max(before.elapsed());
            }
            worst
        });
        let writer = tokio::spawn(async move {
            peer.send_raw(&frame).await;
            peer
        });
        let response = tokio::time::timeout(Duration::from_secs(30), waiting)
            .await
            .expect("decoded within 30 s")
            .unwrap()
            .unwrap();
        let took = started.elapsed();
        assert_eq!(response.ext_fields.len(), 300_000);
        let worst_tick = ticker.await.unwrap();
        let _peer = writer.await.unwrap();
        println!(
            "{} bytes of header: answered in {took:?}; worst 10 ms timer tick {worst_tick:?}",
            frame_of(0, 300_000).len()
        );
        assert!(worst_tick < Duration::from_secs(2), "{worst_tick:?}");
    }
}

// 5. A request that times out is removed from everything that holds it.

#[tokio::test]
async fn timed_out_requests_free_their_frames_and_are_never_written_late() {
    let (conn, mut peer) = pair_with_buffer(keep_open(), Arc::new(UnsupportedRequests), 64 * 1024);
    let sends: Vec<_> = (0..8)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move {
                let big = RemotingCommand::request(RequestCode::SEND_MESSAGE_V2)
                    .with_body(vec![3u8; 1 << 20]);
                conn.request(big, Duration::from_millis(300)).await
            })
        })
        .collect();
    for send in sends {
        let err = send.await.unwrap().unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
    }
    // At most the frame the writer had started is still held, not 8 MiB.
    let unwritten = conn.unwritten_bytes();
    println!("after 8 timed-out 1 MiB requests: {unwritten} bytes unwritten");
    assert!(unwritten <= (1 << 20) + 4096, "{unwritten}");
    // The peer starts reading: only that one frame arrives, whole; the others were dropped.
    let mut late = 0;
    while let Ok(frame) = tokio::time::timeout(Duration::from_millis(300), peer.recv()).await {
        assert_eq!(frame.body.len(), 1 << 20);
        late += 1;
    }
    assert!(late <= 1, "{late} timed-out requests were written late");
    assert_eq!(conn.unwritten_bytes(), 0);
    // The stream is intact: the next request works.
    let next = tokio::spawn({
        let conn = conn.clone();
        async move {
            conn.request(
                RemotingCommand::request(RequestCode::HEART_BEAT),
                Duration::from_secs(5),
            )
            .await
        }
    });
    let request = peer.recv().await;
    peer.reply(&request, "fine").await;
    assert_eq!(next.await.unwrap().unwrap().remark.as_deref(), Some("fine"));
}

#[tokio::test]
async fn a_peer_that_stops_reading_pins_at_most_the_unwritten_allowance() {
    let config = ConnectionConfig {
        max_unwritten_bytes: 4 << 20,
        ..keep_open()
    };
    let (conn, _peer) = pair_with_buffer(config, Arc::new(UnsupportedRequests), 64 * 1024);
    let sends: Vec<_> = (0..16)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move {
                let big = RemotingCommand::request(RequestCode::SEND_MESSAGE_V2)
                    .with_body(vec![0u8; 1 << 20]);
                conn.oneway(big, Duration::from_millis(300)).await
            })
        })
        .collect();
    let mut refused = 0;
    for send in sends {
        if send.await.unwrap().is_err() {
            refused += 1;
        }
    }
    let unwritten = conn.unwritten_bytes();
    println!("16 oneway 1 MiB frames to a peer that never reads: {refused} refused, {unwritten} bytes queued");
    assert!(unwritten <= 4 << 20, "{unwritten}");
    assert!(refused >= 12, "{refused}");
}

// 6. Settings out of range are typed errors before the network, never panics.

#[tokio::test]
async fn extreme_settings_are_validation_errors() {
    let ns = "127.0.0.1:1";
    let builders = [
        Producer::builder("g")
            .client(client(ns, Duration::from_secs(1)))
            .send_timeout(Duration::MAX),
        Producer::builder("g")
            .client(client(ns, Duration::from_secs(1)))
            .retries(u32::MAX),
        Producer::builder("g").client(client(ns, Duration::MAX)),
        Producer::builder("g")
            .client(client(ns, Duration::from_secs(1)).poll_name_server_interval(Duration::MAX)),
        Producer::builder("g")
            .client(client(ns, Duration::from_secs(1)).heartbeat_interval(Duration::ZERO)),
    ];
    for builder in builders {
        let err = builder.start().await.unwrap_err();
        assert!(
            matches!(err, Error::Validation(ValidationError::OutOfRange { .. })),
            "{err}"
        );
    }
}

// 7. A connection whose peer stalls leaves the pool.

#[tokio::test]
async fn a_stalled_connection_is_closed_on_timeout_and_replaced() {
    let server = SilentServer::start(true).await;
    let pool = ConnectionPool::new(ConnectionConfig::default(), Arc::new(UnsupportedRequests));
    let first = pool.get(&server.addr).await.unwrap();
    let err = pool
        .request(
            &server.addr,
            RemotingCommand::request(RequestCode::HEART_BEAT),
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Timeout { ref addr, .. } if addr == &server.addr),
        "{err}"
    );
    assert!(first.is_closed(), "the stalled connection is closed");
    let err = first
        .request(
            RemotingCommand::request(RequestCode::HEART_BEAT),
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ConnectionClosed {
                reason: CloseReason::Unresponsive(_),
                ..
            }
        ),
        "{err}"
    );
    let second = pool.get(&server.addr).await.unwrap();
    assert!(!second.is_closed());
    tokio::time::timeout(Duration::from_secs(5), server.accepted(2))
        .await
        .expect("a fresh dial");
    pool.close_all().await;
}

#[tokio::test]
async fn a_peer_that_answers_other_requests_keeps_its_connection() {
    let (conn, mut peer) = pair_with(ConnectionConfig::default(), Arc::new(UnsupportedRequests));
    let ignored = tokio::spawn({
        let conn = conn.clone();
        async move {
            conn.request(
                RemotingCommand::request(RequestCode::HEART_BEAT),
                Duration::from_millis(300),
            )
            .await
        }
    });
    let _unanswered = peer.recv().await;
    let answered = tokio::spawn({
        let conn = conn.clone();
        async move {
            conn.request(
                RemotingCommand::request(RequestCode::HEART_BEAT),
                Duration::from_secs(5),
            )
            .await
        }
    });
    let request = peer.recv().await;
    peer.reply(&request, "alive").await;
    answered.await.unwrap().unwrap();
    assert!(ignored.await.unwrap().unwrap_err().is_timeout());
    assert!(!conn.is_closed(), "the peer was not silent");
}

// 8. Start-up and shutdown each run under one deadline, in parallel across servers.

#[tokio::test]
async fn start_with_five_stalled_name_servers_takes_one_api_timeout() {
    let servers: Vec<SilentServer> =
        futures_util::future::join_all((0..5).map(|_| SilentServer::start(true))).await;
    let list: Vec<&str> = servers.iter().map(|s| s.addr.as_str()).collect();
    let api_timeout = Duration::from_millis(600);
    let started = Instant::now();
    let producer = Producer::builder("stalled_ns_group")
        .client(client(&list.join(";"), api_timeout))
        .start()
        .await
        .unwrap();
    let took = started.elapsed();
    println!("start with 5 stalled name servers (API timeout {api_timeout:?}) took {took:?}");
    assert!(took < api_timeout * 2, "{took:?}");
    // The cause of a failed send names a name server and says it timed out.
    let err = producer
        .send(Message::new("StalledTopic", "x"))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(list.iter().any(|a| err.to_string().contains(a)), "{err}");
    let started = Instant::now();
    producer.shutdown().await;
    println!("shutdown took {:?}", started.elapsed());
}

// 9. Errors carry their cause and address.

#[tokio::test]
async fn a_refused_name_server_is_reported_as_such() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let producer = Producer::builder("refused_group")
        .client(client(&addr, Duration::from_secs(1)))
        .start()
        .await
        .unwrap();
    let err = producer
        .send(Message::new("RefusedTopic", "x"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&addr) && text.to_lowercase().contains("refused"),
        "{text}"
    );
    assert!(!text.contains("no route"), "{text}");
    assert!(err.is_retriable());
    producer.shutdown().await;
}

// 12. A reused opaque never displaces another caller.

#[tokio::test]
async fn two_requests_with_one_opaque_each_get_their_own_answer() {
    let (conn, mut peer) = pair_with(ConnectionConfig::default(), Arc::new(UnsupportedRequests));
    let first = RemotingCommand::request(RequestCode::HEART_BEAT);
    let mut second = RemotingCommand::request(RequestCode::HEART_BEAT);
    second.opaque = first.opaque;
    let a = tokio::spawn({
        let conn = conn.clone();
        async move { conn.request(first, Duration::from_secs(5)).await }
    });
    let got_a = peer.recv().await;
    let b = tokio::spawn({
        let conn = conn.clone();
        async move { conn.request(second, Duration::from_secs(5)).await }
    });
    let got_b = peer.recv().await;
    assert_ne!(
        got_a.opaque, got_b.opaque,
        "the second request got a fresh opaque"
    );
    peer.reply(&got_b, "b").await;
    peer.reply(&got_a, "a").await;
    assert_eq!(a.await.unwrap().unwrap().remark.as_deref(), Some("a"));
    assert_eq!(b.await.unwrap().unwrap().remark.as_deref(), Some("b"));
}
