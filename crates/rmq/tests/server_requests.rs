//! Requests a broker sends to a producer, delivered by a fault-injecting fake broker over the
//! producer's own connection (a real broker sends these only in situations a test cannot
//! arrange on demand).

mod common;

use std::time::Duration;

use common::fake_cluster::{stored_message, FakeBroker, FakeNameServer};
use rmq::client::TransactionCheck;
use rmq::protocol::{HeartbeatData, RemotingCommand, RequestCode, ResponseCode};
use rmq::Producer;
use tokio::sync::mpsc;

async fn cluster() -> (FakeBroker, FakeNameServer) {
    let broker = FakeBroker::start().await;
    let ns = FakeNameServer::start("fake-broker", &broker.addr).await;
    (broker, ns)
}

#[tokio::test]
async fn start_heartbeats_the_fake_broker_with_every_group() {
    let (broker, ns) = cluster().await;
    let producer = Producer::builder("hb_group")
        .name_server(&ns.addr)
        .start()
        .await
        .unwrap();
    // The heartbeat went out inside start().
    let hb = broker
        .heartbeats
        .lock()
        .unwrap()
        .first()
        .cloned()
        .expect("heartbeat during start");
    let data: HeartbeatData = serde_json::from_slice(&hb.body).unwrap();
    assert_eq!(data.client_id, producer.client_id());
    let mut groups: Vec<_> = data
        .producer_data_set
        .iter()
        .map(|p| p.group_name.as_str())
        .collect();
    groups.sort();
    assert_eq!(groups, vec!["CLIENT_INNER_PRODUCER", "hb_group"]);
    assert!(data.consumer_data_set.is_empty());
    assert!(ns.route_requests.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    producer.shutdown().await;
}

fn check_request(group: &str, uniq_key: &str) -> RemotingCommand {
    let mut req = RemotingCommand::request(RequestCode::CHECK_TRANSACTION_STATE);
    req.mark_oneway();
    req.ext_fields.insert("tranStateTableOffset", "3");
    req.ext_fields.insert("commitLogOffset", "4096");
    req.ext_fields.insert("msgId", uniq_key);
    req.ext_fields.insert("transactionId", uniq_key);
    req.ext_fields
        .insert("offsetMsgId", "7F00000100002A9F0000000000001000");
    let props =
        format!("PGROUP\u{1}{group}\u{2}UNIQ_KEY\u{1}{uniq_key}\u{2}TRAN_MSG\u{1}true\u{2}");
    req.with_body(stored_message("TxTopic", b"half message", &props, 4096))
}

#[tokio::test]
async fn check_transaction_state_reaches_the_producer_of_the_group() {
    let (broker, ns) = cluster().await;
    let (tx, mut rx) = mpsc::unbounded_channel::<TransactionCheck>();
    let producer = Producer::builder("tx_group")
        .name_server(&ns.addr)
        .on_transaction_check(move |check| {
            let _ = tx.send(check);
        })
        .start()
        .await
        .unwrap();
    let conn = broker.connection().await;
    // A check for a group this client does not have is ignored...
    conn.send(check_request("other_group", "AAAA"));
    // ...and one for ours reaches the producer.
    conn.send(check_request(
        "tx_group",
        "0A00000130391B6D3586075BCD150000",
    ));
    let check = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("check delivered")
        .unwrap();
    assert_eq!(check.group, "tx_group");
    assert_eq!(
        check.transaction_id.as_deref(),
        Some("0A00000130391B6D3586075BCD150000")
    );
    assert_eq!(check.header.commit_log_offset, Some(4096));
    assert_eq!(check.message.topic, "TxTopic");
    assert_eq!(&check.message.body[..], b"half message");
    assert_eq!(check.broker_addr, broker.addr);
    assert!(
        rx.try_recv().is_err(),
        "the other group's check was not delivered"
    );
    // Oneway: no reply.
    assert!(conn.recv_within(Duration::from_millis(200)).await.is_none());
    producer.shutdown().await;
}

#[tokio::test]
async fn consumer_requests_are_answered_as_java_answers_without_consumers() {
    let (broker, ns) = cluster().await;
    let producer = Producer::builder("consumerless")
        .name_server(&ns.addr)
        .start()
        .await
        .unwrap();
    let conn = broker.connection().await;

    // Notifications get no reply: send them, then a request that does get one; the first
    // reply must belong to that request.
    let mut notify = RemotingCommand::request(RequestCode::NOTIFY_CONSUMER_IDS_CHANGED);
    notify.ext_fields.insert("consumerGroup", "cg");
    conn.send(notify);
    let mut reset = RemotingCommand::request(RequestCode::RESET_CONSUMER_CLIENT_OFFSET);
    reset.ext_fields.insert("group", "cg");
    conn.send(reset);
    let unknown = RemotingCommand::request(RequestCode(9999));
    let unknown_opaque = unknown.opaque;
    conn.send(unknown);
    let reply = conn.recv().await;
    assert_eq!(reply.opaque, unknown_opaque);
    assert_eq!(
        reply.response_code(),
        ResponseCode::REQUEST_CODE_NOT_SUPPORTED
    );
    assert_eq!(
        reply.remark.as_deref(),
        Some(" request type 9999 not supported")
    );

    let mut status = RemotingCommand::request(RequestCode::GET_CONSUMER_STATUS_FROM_CLIENT);
    status.ext_fields.insert("group", "cg");
    let opaque = status.opaque;
    conn.send(status);
    let reply = conn.recv().await;
    assert_eq!(
        (reply.opaque, reply.response_code()),
        (opaque, ResponseCode::SUCCESS)
    );
    assert_eq!(
        &reply.body[..],
        br#"{"consumerTable":{},"messageQueueTable":{}}"#
    );

    for code in [
        RequestCode::GET_CONSUMER_RUNNING_INFO,
        RequestCode::CONSUME_MESSAGE_DIRECTLY,
    ] {
        let mut req = RemotingCommand::request(code);
        req.ext_fields.insert("consumerGroup", "cg");
        req.ext_fields.insert("clientId", producer.client_id());
        let opaque = req.opaque;
        conn.send(req);
        let reply = conn.recv().await;
        assert_eq!(reply.opaque, opaque);
        assert!(reply.is_response());
        assert_eq!(
            reply.response_code(),
            ResponseCode::SYSTEM_ERROR,
            "{code:?}"
        );
        assert_eq!(
            reply.remark.as_deref(),
            Some("The Consumer Group <cg> not exist in this consumer")
        );
    }

    // A reply push without its header: Java's answer (request_reply.rs covers real ones).
    let reply_msg = RemotingCommand::request(RequestCode::PUSH_REPLY_MESSAGE_TO_CLIENT);
    let opaque = reply_msg.opaque;
    conn.send(reply_msg);
    let reply = conn.recv().await;
    assert_eq!(
        (reply.opaque, reply.response_code()),
        (opaque, ResponseCode::SYSTEM_ERROR)
    );
    producer.shutdown().await;
}

#[tokio::test]
async fn a_slow_peer_does_not_stall_start_beyond_the_api_timeout() {
    // A "name server" that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let _hold = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            sockets.push(s);
        }
    });
    let started = tokio::time::Instant::now();
    let producer = Producer::builder("stalled_ns")
        .client(
            rmq::ClientConfig::new()
                .name_server(&addr)
                .api_timeout(Duration::from_millis(300)),
        )
        .start()
        .await
        .expect("start succeeds without a route, like Java");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(producer.instance().routes().is_empty());
    producer.shutdown().await;
}
