//! Transactional messages against the real broker: commit, rollback and unknown-then-commit
//! (read back by Apache RocketMQ's own Java consumer), checkers that panic or fail, and the
//! typed errors before any network. The test brokers check undecided transactions every 2 s
//! (`transactionCheckInterval=2000`, `transactionTimeOut=2000` in scripts/rocketmq.d).
//!
//! Both broker lines check back in the same way (4.9.3 `TransactionalMessageCheckService`,
//! 5.x the same service plus `topic`/`bname` in the check header), so nothing here depends on
//! the version.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::broker::{api, broker_a, create_topic_on, namesrv, unique, wait_for};
use common::java::java_consume;
use rmq::{
    Error, Message, MessageExt, Producer, SendResult, TransactionError, TransactionListener,
    TransactionState, ValidationError,
};

/// Decides by body: `commit…` → Commit, `rollback…` → Rollback, `panic…` panics, anything
/// else → Unknown. Checks of a transaction left Unknown answer by `check_plan` (one entry per
/// check, the last one repeating: `panic`, `error`, `commit`, `rollback`, `unknown`); checks
/// of one already decided answer Unknown (no action). Records every check's message id.
///
/// Why "unknown" after a decision: a 5.x broker records decisions in batches
/// (`transactionOpBatchInterval`, 3 s), longer than the test brokers' 2 s check interval, so it
/// may ask again about a transaction already committed; answering commit again would store the
/// message twice, which the exact counts below would (rightly) flag.
struct ByBody {
    check_plan: Vec<&'static str>,
    checks: Mutex<Vec<String>>,
    executed: AtomicUsize,
    decided: Mutex<Vec<String>>,
}

impl ByBody {
    fn new(check_plan: Vec<&'static str>) -> Arc<Self> {
        Arc::new(Self {
            check_plan,
            checks: Mutex::new(Vec::new()),
            executed: AtomicUsize::new(0),
            decided: Mutex::new(Vec::new()),
        })
    }

    fn checks_of(&self, msg_id: &str) -> usize {
        self.checks
            .lock()
            .unwrap()
            .iter()
            .filter(|id| *id == msg_id)
            .count()
    }
}

struct Shared(Arc<ByBody>);

impl TransactionListener for Shared {
    async fn execute(
        &self,
        msg: &Message,
        sent: &SendResult,
    ) -> Result<TransactionState, TransactionError> {
        self.0.executed.fetch_add(1, Ordering::SeqCst);
        let body = String::from_utf8_lossy(&msg.body);
        let decided = || self.0.decided.lock().unwrap().push(sent.msg_id.clone());
        if body.starts_with("commit") {
            decided();
            Ok(TransactionState::Commit)
        } else if body.starts_with("rollback") {
            decided();
            Ok(TransactionState::Rollback)
        } else if body.starts_with("panic") {
            panic!("local transaction exploded");
        } else {
            Ok(TransactionState::Unknown)
        }
    }

    async fn check(&self, msg: &MessageExt) -> Result<TransactionState, TransactionError> {
        let n = {
            let mut checks = self.0.checks.lock().unwrap();
            checks.push(msg.msg_id().to_string());
            checks.iter().filter(|id| *id == msg.msg_id()).count()
        };
        let decided = self
            .0
            .decided
            .lock()
            .unwrap()
            .iter()
            .any(|id| id == msg.msg_id());
        let plan = &self.0.check_plan;
        let answer = if decided {
            "unknown"
        } else {
            plan[(n - 1).min(plan.len() - 1)]
        };
        match answer {
            "panic" => panic!("checker exploded on check {n}"),
            "error" => Err(format!("checker failed on check {n}").into()),
            "commit" => {
                self.0
                    .decided
                    .lock()
                    .unwrap()
                    .push(msg.msg_id().to_string());
                Ok(TransactionState::Commit)
            }
            "rollback" => Ok(TransactionState::Rollback),
            _ => Ok(TransactionState::Unknown),
        }
    }
}

async fn one_queue_topic(prefix: &str) -> String {
    let api = api().await;
    let topic = unique(prefix);
    create_topic_on(&api, &[broker_a()], &topic, 1).await;
    topic
}

async fn producer(listener: &Arc<ByBody>) -> Producer {
    Producer::builder(unique("tx_group"))
        .name_server(&namesrv())
        .transaction_listener(Shared(Arc::clone(listener)))
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn commit_and_unknown_then_commit_are_visible_to_java_and_rollback_never_is() {
    let topic = one_queue_topic("TxTopic").await;
    let listener = ByBody::new(vec!["commit", "unknown"]);
    let producer = producer(&listener).await;

    // Rolled back first: were it ever delivered it would come before everything else.
    let rolled = producer
        .send_in_transaction(Message::new(&topic, "rollback me"))
        .await
        .unwrap();
    assert_eq!(rolled.state, TransactionState::Rollback);
    assert!(rolled.end_sent);
    let committed = producer
        .send_in_transaction(Message::new(&topic, "commit me").with_tags("TagTx"))
        .await
        .unwrap();
    assert_eq!(committed.state, TransactionState::Commit);
    assert!(committed.end_sent);
    assert!(committed.local_error.is_none());
    let pending = producer
        .send_in_transaction(Message::new(&topic, "unknown, then commit on check"))
        .await
        .unwrap();
    assert_eq!(pending.state, TransactionState::Unknown);
    assert_eq!(listener.executed.load(Ordering::SeqCst), 3);

    // The broker asks about the undecided one; the checker commits it.
    let checked = wait_for(Duration::from_secs(60), || async {
        (listener.checks_of(&pending.send.msg_id) > 0).then_some(())
    })
    .await;
    assert!(checked.is_some(), "the broker never checked back");

    // Java reads exactly the commit and the checked commit, in that order.
    let got = java_consume(&topic, 2).await;
    let ids: Vec<&str> = got.iter().map(|m| m["msg_id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        vec![committed.send.msg_id.as_str(), pending.send.msg_id.as_str()],
        "Java read {got:?}"
    );
    assert_eq!(got[0]["body_hex"], hex(b"commit me"));
    assert_eq!(got[0]["properties"]["TAGS"], "TagTx");
    assert_eq!(got[1]["body_hex"], hex(b"unknown, then commit on check"));
    // The broker moved the messages out of the half topic: their real topic, no longer
    // prepared (sysFlag transaction bits = commit).
    assert_eq!(got[0]["topic"], topic);
    producer.shutdown().await;
}

#[tokio::test]
async fn a_checker_that_panics_or_fails_is_asked_again_and_the_client_keeps_working() {
    let topic = one_queue_topic("TxPanic").await;
    let listener = ByBody::new(vec!["panic", "error", "commit", "unknown"]);
    let producer = producer(&listener).await;

    // The local transaction panics: UNKNOW with the panic as remark, the producer carries on.
    let sent = producer
        .send_in_transaction(Message::new(&topic, "panic in the local transaction"))
        .await
        .unwrap();
    assert_eq!(sent.state, TransactionState::Unknown);
    assert!(
        sent.local_error
            .as_deref()
            .is_some_and(|e| e.contains("local transaction exploded")),
        "{:?}",
        sent.local_error
    );

    // Check 1 panics, check 2 fails (both answered UNKNOW), check 3 commits.
    let asked = wait_for(Duration::from_secs(90), || async {
        (listener.checks_of(&sent.send.msg_id) >= 3).then_some(())
    })
    .await;
    assert!(
        asked.is_some(),
        "checks so far: {}",
        listener.checks_of(&sent.send.msg_id)
    );

    // The commit on check 3 reached the broker: the message is in the real topic's queue.
    let api = api().await;
    let stored = wait_for(Duration::from_secs(30), || async {
        let max = api.max_offset(&broker_a(), &topic, 0).await.ok()?;
        (max == 1).then_some(max)
    })
    .await;
    assert_eq!(stored, Some(1), "the committed message is in the topic");

    // The client still works: a plain send and another transaction.
    producer
        .send(Message::new(&topic, "plain after the panics"))
        .await
        .unwrap();
    let again = producer
        .send_in_transaction(Message::new(&topic, "commit after the panics"))
        .await
        .unwrap();
    assert_eq!(again.state, TransactionState::Commit);
    let stored = wait_for(Duration::from_secs(30), || async {
        let max = api.max_offset(&broker_a(), &topic, 0).await.ok()?;
        (max == 3).then_some(max)
    })
    .await;
    assert_eq!(stored, Some(3));
    producer.shutdown().await;
}

#[tokio::test]
async fn transactional_sends_are_refused_before_any_network_when_invalid() {
    // No listener: a plain producer cannot send in a transaction.
    let plain = Producer::builder(unique("tx_plain"))
        .name_server(&namesrv())
        .start()
        .await
        .unwrap();
    let err = plain
        .send_in_transaction(Message::new("AnyTopic", "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Validation(ValidationError::NoTransactionListener)
        ),
        "{err:?}"
    );
    plain.shutdown().await;

    // Bad messages on a transactional producer: typed errors, the listener never runs.
    let listener = ByBody::new(vec!["commit"]);
    let producer = producer(&listener).await;
    let err = producer
        .send_in_transaction(Message::new("AnyTopic", Vec::<u8>::new()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Validation(ValidationError::BodyEmpty)),
        "{err:?}"
    );
    let err = producer
        .send_in_transaction(Message::new("bad topic!", "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation(_)), "{err:?}");
    assert_eq!(listener.executed.load(Ordering::SeqCst), 0);
    producer.shutdown().await;

    // Check bounds out of range: start fails before touching the (unreachable) name server.
    let err = Producer::builder(unique("tx_bounds"))
        .name_server("127.0.0.1:1")
        .transaction_listener(Shared(ByBody::new(vec!["commit"])))
        .transaction_checks(0, 10, Duration::from_secs(1))
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Validation(ValidationError::OutOfRange { .. })),
        "{err:?}"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
