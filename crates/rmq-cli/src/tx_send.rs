//! `rmq tx-send`: one transactional message with a chosen outcome (like the Java quickstart
//! `TransactionProducer`, one message at a time).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use rmq::{
    ClientConfig, Message, MessageExt, Producer, SendResult, TransactionError, TransactionListener,
    TransactionState,
};
use tokio::sync::Notify;

/// What the local transaction decides.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Commit at once: the message becomes visible.
    Commit,
    /// Roll back at once: the message is discarded.
    Rollback,
    /// Answer "unknown", then commit when the broker checks back.
    UnknownThenCommit,
}

/// Arguments of `rmq tx-send`.
#[derive(Args, Debug)]
pub(crate) struct TxSendArgs {
    /// Topic.
    #[arg(long, short = 't')]
    topic: String,
    /// What the local transaction decides.
    #[arg(long, value_enum)]
    outcome: Outcome,
    /// Message body.
    #[arg(long, default_value = "Hello RocketMQ transaction")]
    body: String,
    /// Tag.
    #[arg(long)]
    tag: Option<String>,
    /// Producer group.
    #[arg(long, default_value = "rmq_cli_tx_producer")]
    group: String,
    /// With `unknown-then-commit`: how long to wait for the broker's check, in seconds.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    check_wait_secs: u64,
}

/// The CLI's listener: the local transaction decides `outcome`; a check commits the message
/// this run sent (and wakes the command), any other (an older run's) stays unknown.
struct CliListener {
    outcome: Outcome,
    /// Message id of the half message this run sent, once known.
    ours: Mutex<Option<String>>,
    /// Message ids checked and committed.
    committed: Mutex<HashSet<String>>,
    checks: Mutex<u32>,
    checked: Notify,
}

struct Shared(Arc<CliListener>);

impl TransactionListener for Shared {
    async fn execute(
        &self,
        _msg: &Message,
        sent: &SendResult,
    ) -> Result<TransactionState, TransactionError> {
        *self.0.ours.lock().unwrap() = Some(sent.msg_id.clone());
        Ok(match self.0.outcome {
            Outcome::Commit => TransactionState::Commit,
            Outcome::Rollback => TransactionState::Rollback,
            Outcome::UnknownThenCommit => TransactionState::Unknown,
        })
    }

    async fn check(&self, msg: &MessageExt) -> Result<TransactionState, TransactionError> {
        let ours = self.0.ours.lock().unwrap().clone();
        if ours.as_deref() != Some(msg.msg_id()) || self.0.outcome != Outcome::UnknownThenCommit {
            return Ok(TransactionState::Unknown);
        }
        *self.0.checks.lock().unwrap() += 1;
        let first = self
            .0
            .committed
            .lock()
            .unwrap()
            .insert(msg.msg_id().to_string());
        self.0.checked.notify_one();
        // A broker that asks again before it recorded the commit gets "unknown": committing
        // twice would store the message twice.
        Ok(if first {
            TransactionState::Commit
        } else {
            TransactionState::Unknown
        })
    }
}

/// Sends the message, waits for the check when asked to, prints the result.
pub(crate) async fn run(
    args: &TxSendArgs,
    client: ClientConfig,
    timeout: Duration,
    json: bool,
) -> Result<()> {
    message(args).validate()?;
    let listener = Arc::new(CliListener {
        outcome: args.outcome,
        ours: Mutex::new(None),
        committed: Mutex::new(HashSet::new()),
        checks: Mutex::new(0),
        checked: Notify::new(),
    });
    let producer = Producer::builder(&args.group)
        .client(client)
        .send_timeout(timeout)
        .transaction_listener(Shared(Arc::clone(&listener)))
        .start()
        .await
        .context("start producer")?;
    let outcome = send(&producer, args, &listener, json).await;
    producer.shutdown().await;
    outcome
}

/// The transactional message of `args`.
fn message(args: &TxSendArgs) -> Message {
    let mut msg = Message::new(&args.topic, args.body.clone().into_bytes());
    if let Some(tag) = &args.tag {
        msg = msg.with_tags(tag);
    }
    msg
}

async fn send(
    producer: &Producer,
    args: &TxSendArgs,
    listener: &CliListener,
    json: bool,
) -> Result<()> {
    let result = producer
        .send_in_transaction(message(args))
        .await
        .with_context(|| format!("transactional send to {}", args.topic))?;
    if !result.end_sent {
        bail!(
            "half message {} stored, but END_TRANSACTION could not be sent (the broker will check back)",
            result.send.msg_id
        );
    }
    let mut final_state = result.state;
    if args.outcome == Outcome::UnknownThenCommit {
        let wait = Duration::from_secs(args.check_wait_secs);
        let msg_id = result.send.msg_id.clone();
        let committed = tokio::time::timeout(wait, async {
            loop {
                let notified = listener.checked.notified();
                if listener.committed.lock().unwrap().contains(&msg_id) {
                    break;
                }
                notified.await;
            }
        })
        .await;
        if committed.is_err() {
            bail!(
                "no transaction check for {msg_id} within {}s (the broker's transactionCheckInterval may be longer)",
                args.check_wait_secs
            );
        }
        final_state = TransactionState::Commit;
    }
    let checks = *listener.checks.lock().unwrap();
    if json {
        let doc = serde_json::json!({
            "topic": args.topic,
            "msg_id": result.send.msg_id,
            "offset_msg_id": result.send.offset_msg_id,
            "broker": result.send.queue.broker_name,
            "queue_id": result.send.queue.queue_id,
            "queue_offset": result.send.queue_offset,
            "transaction_id": result.send.transaction_id,
            "local_state": result.state.as_str(),
            "state": final_state.as_str(),
            "checks": checks,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!(
            "{} {} {}/{}/{} local={} final={} checks={}",
            result.send.msg_id,
            result.send.offset_msg_id,
            result.send.queue.broker_name,
            result.send.queue.queue_id,
            result.send.queue_offset,
            result.state,
            final_state,
            checks
        );
    }
    Ok(())
}
