//! Java `transaction.TransactionProducer`: transactional messages. Each message's local
//! transaction commits, rolls back, or answers "unknown"; the broker then checks back and the
//! listener's `check` commits those. Stops when every unknown one was checked (at most
//! `WAIT_SECS`, 120 s; the broker's `transactionCheckInterval` sets the pace, 30 s by default
//! on 5.x and 60 s on 4.9.x).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmq::{
    Message, MessageExt, Producer, SendResult, TransactionError, TransactionListener,
    TransactionState,
};
use tokio::sync::Notify;

/// The "database" of local transactions: message id → state.
#[derive(Default)]
struct Orders {
    states: Mutex<HashMap<String, TransactionState>>,
    checked: Mutex<Vec<String>>,
    wake: Notify,
}

struct Listener(Arc<Orders>);

impl TransactionListener for Listener {
    async fn execute(
        &self,
        msg: &Message,
        sent: &SendResult,
    ) -> Result<TransactionState, TransactionError> {
        // The local transaction: here the message's index decides.
        let index: u32 = String::from_utf8_lossy(&msg.body)
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let state = match index % 3 {
            0 => TransactionState::Commit,
            1 => TransactionState::Rollback,
            _ => TransactionState::Unknown,
        };
        self.0
            .states
            .lock()
            .unwrap()
            .insert(sent.msg_id.clone(), state);
        Ok(state)
    }

    async fn check(&self, msg: &MessageExt) -> Result<TransactionState, TransactionError> {
        // The broker asks about a transaction it has no decision for: look it up. A pending one
        // has completed by now: commit it.
        let mut states = self.0.states.lock().unwrap();
        let state = match states.get(msg.msg_id()) {
            Some(TransactionState::Rollback) => TransactionState::Rollback,
            Some(_) => TransactionState::Commit,
            None => TransactionState::Unknown, // not ours (an earlier run's)
        };
        if state == TransactionState::Commit {
            states.insert(msg.msg_id().to_string(), state);
        }
        drop(states);
        println!("checked {} -> {state}", msg.msg_id());
        self.0
            .checked
            .lock()
            .unwrap()
            .push(msg.msg_id().to_string());
        self.0.wake.notify_one();
        Ok(state)
    }
}

#[tokio::main]
async fn main() -> rmq::Result<()> {
    let topic = std::env::var("TOPIC").unwrap_or_else(|_| "TopicTest".into());
    let wait = std::env::var("WAIT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let orders = Arc::new(Orders::default());
    // The name server comes from NAMESRV_ADDR (ClientConfig's fallback); there is no default.
    let producer = Producer::builder("please_rename_unique_group_name")
        .transaction_listener(Listener(Arc::clone(&orders)))
        .start()
        .await?;
    let tags = ["TagA", "TagB", "TagC", "TagD", "TagE"];
    let mut pending = Vec::new();
    for i in 0..10 {
        let message = Message::new(&topic, format!("Hello RocketMQ {i}"))
            .with_tags(tags[i % tags.len()])
            .with_key(format!("KEY{i}"));
        let result = producer.send_in_transaction(message).await?;
        println!(
            "{} msg_id={} local={}",
            result.send.status, result.send.msg_id, result.state
        );
        if result.state == TransactionState::Unknown {
            pending.push(result.send.msg_id);
        }
    }
    // Wait until the broker checked every undecided transaction.
    let all_checked = tokio::time::timeout(Duration::from_secs(wait), async {
        loop {
            let woken = orders.wake.notified();
            let checked = orders.checked.lock().unwrap().clone();
            if pending.iter().all(|id| checked.contains(id)) {
                break;
            }
            woken.await;
        }
    })
    .await;
    producer.shutdown().await;
    match all_checked {
        Ok(()) => println!("all {} pending transactions checked", pending.len()),
        Err(_) => {
            eprintln!("not every pending transaction was checked within {wait}s");
            std::process::exit(1);
        }
    }
    Ok(())
}
