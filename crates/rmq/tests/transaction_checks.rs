//! The answer to a broker's transaction check, byte for byte: a fake broker sends
//! `CHECK_TRANSACTION_STATE` over the producer's own connection and reads the
//! `END_TRANSACTION` that comes back (a real broker's answer to it is invisible: oneway).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::fake_cluster::{stored_message, FakeBroker, FakeNameServer};
use rmq::protocol::{decode_properties, RemotingCommand, RequestCode, ResponseCode};
use rmq::{
    Message, MessageExt, Producer, SendResult, TransactionError, TransactionListener,
    TransactionState,
};

/// `state` answers every local transaction and check; `None` panics; `hang`: checks never
/// answer.
struct Answer {
    state: Option<TransactionState>,
    checks: Arc<AtomicUsize>,
    hang: bool,
}

impl TransactionListener for Answer {
    async fn execute(
        &self,
        _: &Message,
        _: &SendResult,
    ) -> Result<TransactionState, TransactionError> {
        match self.state {
            Some(state) => Ok(state),
            None => panic!("the local transaction must not run"),
        }
    }

    async fn check(&self, msg: &MessageExt) -> Result<TransactionState, TransactionError> {
        self.checks.fetch_add(1, Ordering::SeqCst);
        assert_eq!(msg.topic, "TxTopic");
        if self.hang {
            std::future::pending::<()>().await;
        }
        match self.state {
            Some(state) => Ok(state),
            None => panic!("checker exploded"),
        }
    }
}

fn check_request(group: &str, uniq_key: &str) -> RemotingCommand {
    let mut req = RemotingCommand::request(RequestCode::CHECK_TRANSACTION_STATE);
    req.mark_oneway();
    req.ext_fields.insert("tranStateTableOffset", "3");
    req.ext_fields.insert("commitLogOffset", "4096");
    req.ext_fields.insert("msgId", uniq_key);
    req.ext_fields.insert("transactionId", "TXID-1");
    req.ext_fields
        .insert("offsetMsgId", "7F00000100002A9F0000000000001000");
    req.ext_fields.insert("topic", "TxTopic");
    req.ext_fields.insert("bname", "fake-broker");
    let props =
        format!("PGROUP\u{1}{group}\u{2}UNIQ_KEY\u{1}{uniq_key}\u{2}TRAN_MSG\u{1}true\u{2}");
    req.with_body(stored_message("TxTopic", b"half message", &props, 4096))
}

async fn answer_to_check(state: Option<TransactionState>) -> (RemotingCommand, usize) {
    let broker = FakeBroker::start().await;
    let ns = FakeNameServer::start("fake-broker", &broker.addr).await;
    let checks = Arc::new(AtomicUsize::new(0));
    let producer = Producer::builder("tx_fake_group")
        .name_server(&ns.addr)
        .transaction_listener(Answer {
            state,
            checks: Arc::clone(&checks),
            hang: false,
        })
        .start()
        .await
        .unwrap();
    let conn = broker.connection().await;
    conn.send(check_request(
        "tx_fake_group",
        "0A00000130391B6D3586075BCD150000",
    ));
    let end = tokio::time::timeout(Duration::from_secs(10), conn.recv())
        .await
        .expect("END_TRANSACTION within 10 s");
    producer.shutdown().await;
    (end, checks.load(Ordering::SeqCst))
}

#[tokio::test]
async fn a_check_is_answered_with_end_transaction_from_the_check_header() {
    let (end, checks) = answer_to_check(Some(TransactionState::Commit)).await;
    assert_eq!(checks, 1);
    assert_eq!(end.request_code(), RequestCode::END_TRANSACTION);
    assert!(end.is_oneway(), "END_TRANSACTION is oneway");
    let f = &end.ext_fields;
    assert_eq!(f.get("producerGroup"), Some("tx_fake_group"));
    assert_eq!(f.get("tranStateTableOffset"), Some("3"));
    assert_eq!(f.get("commitLogOffset"), Some("4096"));
    assert_eq!(f.get("commitOrRollback"), Some("8"));
    assert_eq!(f.get("fromTransactionCheck"), Some("true"));
    assert_eq!(f.get("msgId"), Some("0A00000130391B6D3586075BCD150000"));
    assert_eq!(f.get("transactionId"), Some("TXID-1"));
    assert_eq!(f.get("topic"), Some("TxTopic"));
    assert_eq!(f.get("bname"), Some("fake-broker"));
    assert_eq!(end.remark, None);

    let (end, _) = answer_to_check(Some(TransactionState::Rollback)).await;
    assert_eq!(end.ext_fields.get("commitOrRollback"), Some("12"));
}

#[tokio::test]
async fn a_panicking_checker_answers_unknown_with_the_panic_as_remark() {
    let (end, checks) = answer_to_check(None).await;
    assert_eq!(checks, 1);
    assert_eq!(end.request_code(), RequestCode::END_TRANSACTION);
    assert_eq!(end.ext_fields.get("commitOrRollback"), Some("0"));
    assert_eq!(end.ext_fields.get("fromTransactionCheck"), Some("true"));
    let remark = end.remark.unwrap_or_default();
    assert!(
        remark.starts_with("checkLocalTransactionState Exception: ")
            && remark.contains("checker exploded"),
        "{remark}"
    );
}

async fn hanging_checker(
    running: usize,
    queued: usize,
    timeout: Duration,
) -> (FakeBroker, FakeNameServer, Producer, Arc<AtomicUsize>) {
    let broker = FakeBroker::start().await;
    let ns = FakeNameServer::start("fake-broker", &broker.addr).await;
    let checks = Arc::new(AtomicUsize::new(0));
    let producer = Producer::builder("tx_hang_group")
        .name_server(&ns.addr)
        .transaction_listener(Answer {
            state: Some(TransactionState::Commit),
            checks: Arc::clone(&checks),
            hang: true,
        })
        .transaction_checks(running, queued, timeout)
        .start()
        .await
        .unwrap();
    (broker, ns, producer, checks)
}

#[tokio::test]
async fn a_hanging_checker_is_answered_unknown_at_the_check_timeout() {
    let (broker, _ns, producer, checks) = hanging_checker(1, 0, Duration::from_millis(300)).await;
    let conn = broker.connection().await;
    conn.send(check_request(
        "tx_hang_group",
        "0A00000130391B6D3586075BCD150001",
    ));
    let end = tokio::time::timeout(Duration::from_secs(10), conn.recv())
        .await
        .expect("END_TRANSACTION after the check timeout");
    assert_eq!(checks.load(Ordering::SeqCst), 1);
    assert_eq!(end.ext_fields.get("commitOrRollback"), Some("0"));
    let remark = end.remark.unwrap_or_default();
    assert!(remark.contains("timed out"), "{remark}");
    producer.shutdown().await;
}

#[tokio::test]
async fn checks_run_one_at_a_time_when_bounded_and_shutdown_cancels_a_hanging_one() {
    // One check at a time, one waiting: of three checks one runs (and hangs), one waits, one
    // is dropped.
    let (broker, _ns, producer, checks) = hanging_checker(1, 1, Duration::from_secs(3600)).await;
    let conn = broker.connection().await;
    for key in [
        "0A00000130391B6D3586075BCD150002",
        "0A00000130391B6D3586075BCD150003",
        "0A00000130391B6D3586075BCD150004",
    ] {
        conn.send(check_request("tx_hang_group", key));
    }
    let started = tokio::time::timeout(Duration::from_secs(10), async {
        while checks.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(started.is_ok(), "the first check never started");
    // Nothing is answered while the checker hangs, and no second check runs beside it.
    assert!(conn.recv_within(Duration::from_millis(500)).await.is_none());
    assert_eq!(checks.load(Ordering::SeqCst), 1);
    // Shutdown does not wait for the hanging checker, and the waiting check never runs.
    tokio::time::timeout(Duration::from_secs(10), producer.shutdown())
        .await
        .expect("shutdown returns although the checker hangs");
    assert_eq!(checks.load(Ordering::SeqCst), 1);
}

/// What the producer itself writes: the half message's flags and properties, then
/// `END_TRANSACTION` built from the send result (Java `endTransaction`).
async fn send_in_transaction_to_fake(
    state: Option<TransactionState>,
    body: &'static str,
    answer: ResponseCode,
) -> (RemotingCommand, rmq::TransactionSendResult, RemotingCommand) {
    let broker = FakeBroker::start().await;
    let ns = FakeNameServer::start("fake-broker", &broker.addr).await;
    let producer = Producer::builder("tx_send_group")
        .name_server(&ns.addr)
        .transaction_listener(Answer {
            state,
            checks: Arc::new(AtomicUsize::new(0)),
            hang: false,
        })
        .start()
        .await
        .unwrap();
    let conn = broker.connection().await;
    let sending = tokio::spawn({
        let producer = producer.clone();
        async move {
            producer
                .send_in_transaction(Message::new("TxTopic", body).with_delay_level(3))
                .await
        }
    });
    let half = tokio::time::timeout(Duration::from_secs(10), conn.recv())
        .await
        .expect("half message");
    let mut reply = RemotingCommand::response_to(&half, answer, None);
    reply
        .ext_fields
        .insert("msgId", "7F00000100002A9F0000000000002000");
    reply.ext_fields.insert("queueId", "0");
    reply.ext_fields.insert("queueOffset", "17");
    reply.ext_fields.insert("transactionId", "TXID-9");
    conn.send(reply);
    let result = sending.await.unwrap().unwrap();
    let end = tokio::time::timeout(Duration::from_secs(10), conn.recv())
        .await
        .expect("END_TRANSACTION");
    producer.shutdown().await;
    (half, result, end)
}

#[tokio::test]
async fn the_half_message_and_the_producers_end_transaction_carry_javas_fields() {
    let (half, result, end) = send_in_transaction_to_fake(
        Some(TransactionState::Unknown),
        "commit",
        ResponseCode::SUCCESS,
    )
    .await;
    // The half message: prepared sysFlag bit, TRAN_MSG and PGROUP, the delay level dropped.
    assert_eq!(half.request_code(), RequestCode::SEND_MESSAGE_V2);
    let sys_flag: i32 = half.ext_fields.get("f").unwrap().parse().unwrap();
    assert_eq!(sys_flag & 0xC, 0x4, "sysFlag {sys_flag:#x}");
    let props = decode_properties(half.ext_fields.get("i").unwrap());
    let prop = |k: &str| props.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(prop("TRAN_MSG"), Some("true"));
    assert_eq!(prop("PGROUP"), Some("tx_send_group"));
    assert_eq!(prop("DELAY"), None);
    let uniq = prop("UNIQ_KEY").unwrap().to_string();

    // The listener's "execute" answers Unknown for every message here.
    assert_eq!(result.state, TransactionState::Unknown);
    assert_eq!(end.request_code(), RequestCode::END_TRANSACTION);
    assert!(end.is_oneway());
    let f = &end.ext_fields;
    assert_eq!(f.get("producerGroup"), Some("tx_send_group"));
    assert_eq!(f.get("tranStateTableOffset"), Some("17"));
    assert_eq!(
        f.get("commitLogOffset"),
        Some("8192"),
        "from the offset message id"
    );
    assert_eq!(f.get("commitOrRollback"), Some("0"));
    assert_eq!(f.get("fromTransactionCheck"), Some("false"));
    assert_eq!(f.get("msgId"), Some(uniq.as_str()));
    assert_eq!(f.get("transactionId"), Some("TXID-9"));
    assert_eq!(f.get("topic"), Some("TxTopic"));
    assert_eq!(f.get("bname"), Some("fake-broker"));
    assert_eq!(end.remark, None);
}

#[tokio::test]
async fn a_half_message_not_stored_ok_is_rolled_back_without_the_local_transaction() {
    // `state: None` would panic in "execute" were it run.
    let (_, result, end) =
        send_in_transaction_to_fake(None, "x", ResponseCode::FLUSH_DISK_TIMEOUT).await;
    assert_eq!(result.state, TransactionState::Rollback);
    assert!(result.local_error.is_none());
    assert_eq!(end.ext_fields.get("commitOrRollback"), Some("12"));
}
