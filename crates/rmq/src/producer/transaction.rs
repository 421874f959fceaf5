//! Transactional messages (Java `TransactionMQProducer`): the local-transaction states, the
//! user's [`TransactionListener`], and the service that answers the brokers' check-backs.
//!
//! ```text
//!  broker ── CHECK_TRANSACTION_STATE (39, oneway) ──▶ client instance ─▶ producer of PGROUP
//!     ▲                                                                     │ admit (≤ queued + running)
//!     │                                                                     ▼
//!     └──────── END_TRANSACTION (37, oneway, fromTransactionCheck) ◀── check task (≤ running at once)
//! ```
//!
//! Checks never run on a connection's reader: each is a task of the producer's tracker, which
//! `shutdown()` cancels and waits for. A check that panics, fails or outlives its timeout is
//! answered `UNKNOW`; a check that finds the queue full is dropped (the broker asks again).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::message::{Message, SendResult};
use crate::client::validate::without_namespace;
use crate::client::{ClientInstance, TraceDispatcher, TraceEvent, TransactionCheck};
use crate::error::Result;
use crate::protocol::{
    property, EndTransactionRequestHeader, EndTransactionTrace, RequestCode, StoredMessage,
    TraceRecord, DEFAULT_TRACE_REGION,
};

/// What a [`TransactionListener`] may fail with; the transaction is then `UNKNOW` and the
/// broker checks back later.
pub type TransactionError = Box<dyn std::error::Error + Send + Sync>;

/// The state of a local transaction (Java `LocalTransactionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum TransactionState {
    /// Deliver the message (`COMMIT_MESSAGE`).
    Commit,
    /// Discard the message (`ROLLBACK_MESSAGE`).
    Rollback,
    /// Not decided yet: the broker asks again later (`UNKNOW`).
    Unknown,
}

impl TransactionState {
    /// The Java name (`COMMIT_MESSAGE`, `ROLLBACK_MESSAGE`, `UNKNOW`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Commit => "COMMIT_MESSAGE",
            Self::Rollback => "ROLLBACK_MESSAGE",
            Self::Unknown => "UNKNOW",
        }
    }

    /// `commitOrRollback` of `END_TRANSACTION` (`MessageSysFlag.TRANSACTION_*_TYPE`).
    pub(crate) fn wire_code(self) -> i32 {
        match self {
            Self::Commit => 8,
            Self::Rollback => 12,
            Self::Unknown => 0,
        }
    }
}

impl std::fmt::Display for TransactionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The local transaction and its check-back (Java `TransactionListener`).
///
/// `execute` runs once per [`crate::Producer::send_in_transaction`], after the broker stored
/// the half message; `check` runs when a broker asks about a transaction still undecided (the
/// producer answered [`TransactionState::Unknown`], or its answer was lost). Both may fail or
/// even panic: the state is then `Unknown`.
///
/// ```
/// use rmq::{Message, MessageExt, SendResult, TransactionError, TransactionListener, TransactionState};
///
/// struct Orders;
///
/// impl TransactionListener for Orders {
///     async fn execute(&self, msg: &Message, _sent: &SendResult) -> Result<TransactionState, TransactionError> {
///         // Write the order to the database here, in the same unit of work as the message.
///         Ok(if msg.body.is_empty() { TransactionState::Rollback } else { TransactionState::Commit })
///     }
///
///     async fn check(&self, msg: &MessageExt) -> Result<TransactionState, TransactionError> {
///         // Look the order up by the message's keys or id.
///         let _ = msg.msg_id();
///         Ok(TransactionState::Commit)
///     }
/// }
/// ```
pub trait TransactionListener: Send + Sync + 'static {
    /// Runs the local transaction for `msg`, stored as half message `sent`.
    fn execute(
        &self,
        msg: &Message,
        sent: &SendResult,
    ) -> impl Future<Output = std::result::Result<TransactionState, TransactionError>> + Send;

    /// Tells the state of the transaction of half message `msg` (the broker's check-back).
    fn check(
        &self,
        msg: &StoredMessage,
    ) -> impl Future<Output = std::result::Result<TransactionState, TransactionError>> + Send;
}

/// [`TransactionListener`] as a trait object.
pub(super) trait DynListener: Send + Sync + 'static {
    fn execute<'a>(
        &'a self,
        msg: &'a Message,
        sent: &'a SendResult,
    ) -> BoxFuture<'a, std::result::Result<TransactionState, TransactionError>>;
    fn check<'a>(
        &'a self,
        msg: &'a StoredMessage,
    ) -> BoxFuture<'a, std::result::Result<TransactionState, TransactionError>>;
}

impl<L: TransactionListener> DynListener for L {
    fn execute<'a>(
        &'a self,
        msg: &'a Message,
        sent: &'a SendResult,
    ) -> BoxFuture<'a, std::result::Result<TransactionState, TransactionError>> {
        Box::pin(TransactionListener::execute(self, msg, sent))
    }
    fn check<'a>(
        &'a self,
        msg: &'a StoredMessage,
    ) -> BoxFuture<'a, std::result::Result<TransactionState, TransactionError>> {
        Box::pin(TransactionListener::check(self, msg))
    }
}

/// The result of [`crate::Producer::send_in_transaction`] (Java `TransactionSendResult`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TransactionSendResult {
    /// The send of the half message.
    pub send: SendResult,
    /// The local transaction's state, as sent in `END_TRANSACTION`.
    pub state: TransactionState,
    /// Why the state is `Unknown` when the local transaction failed or panicked (the remark
    /// sent to the broker).
    pub local_error: Option<String>,
    /// Whether `END_TRANSACTION` was written to the broker (oneway: the broker's own answer is
    /// never seen). When false, the broker checks back.
    pub end_sent: bool,
}

/// Runs a listener future, turning an error or a panic into `Unknown` with a description.
pub(super) async fn guarded(
    fut: impl Future<Output = std::result::Result<TransactionState, TransactionError>>,
) -> (TransactionState, Option<String>) {
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(Ok(state)) => (state, None),
        Ok(Err(e)) => (TransactionState::Unknown, Some(e.to_string())),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_string());
            (TransactionState::Unknown, Some(format!("panicked: {what}")))
        }
    }
}

/// The `EndTransaction` trace of a decision (Java `EndTransactionTraceHookImpl`), recorded
/// before `END_TRANSACTION` is written.
pub(super) struct EndTrace<'a> {
    pub(super) group: &'a str,
    pub(super) namespace: Option<&'a str>,
    pub(super) topic: &'a str,
    pub(super) region_id: Option<&'a str>,
    pub(super) msg_id: &'a str,
    pub(super) tags: Option<&'a str>,
    pub(super) keys: Option<String>,
    pub(super) store_host: &'a str,
    pub(super) transaction_id: Option<&'a str>,
    pub(super) state: TransactionState,
    pub(super) from_transaction_check: bool,
}

impl EndTrace<'_> {
    pub(super) fn record(self, dispatcher: &TraceDispatcher) {
        let topic = without_namespace(self.namespace, self.topic);
        let record = TraceRecord::EndTransaction(EndTransactionTrace {
            timestamp_ms: crate::util::now_ms(),
            region_id: self
                .region_id
                .filter(|r| !r.is_empty())
                .unwrap_or(DEFAULT_TRACE_REGION)
                .to_string(),
            group: without_namespace(self.namespace, self.group),
            topic: topic.clone(),
            msg_id: self.msg_id.to_string(),
            tags: self.tags.map(str::to_string),
            keys: self.keys,
            store_host: self.store_host.to_string(),
            transaction_id: self.transaction_id.map(str::to_string),
            state: self.state.as_str(),
            from_transaction_check: self.from_transaction_check,
        });
        dispatcher.record(TraceEvent {
            topic,
            records: vec![record],
        });
    }
}

/// Writes `END_TRANSACTION` (oneway) to `addr`.
pub(super) async fn send_end(
    instance: &ClientInstance,
    addr: &str,
    header: &EndTransactionRequestHeader,
    remark: Option<String>,
    timeout: Duration,
) -> Result<()> {
    let mut cmd = instance
        .api()
        .command(RequestCode::END_TRANSACTION, Some(header));
    cmd.remark = remark;
    instance.api().pool().oneway(addr, cmd, timeout).await
}

/// Bounds of the check-back service (see [`crate::ProducerBuilder::transaction_checks`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct CheckLimits {
    pub(super) running: usize,
    pub(super) queued: usize,
    pub(super) timeout: Duration,
}

impl Default for CheckLimits {
    fn default() -> Self {
        Self {
            running: 4,
            queued: 2000,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Timeout of the `END_TRANSACTION` answering a check (Java: 3000 ms).
const CHECK_ANSWER_TIMEOUT: Duration = Duration::from_secs(3);

/// The producer's transaction side: the listener and the check-back tasks.
pub(super) struct Transactions {
    pub(super) listener: Arc<dyn DynListener>,
    limits: CheckLimits,
    /// Checks admitted (waiting or running): at most `queued + running`.
    admitted: Arc<Semaphore>,
    /// Checks running: at most `running`.
    running: Arc<Semaphore>,
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl Transactions {
    pub(super) fn new(listener: Arc<dyn DynListener>, limits: CheckLimits) -> Self {
        Self {
            listener,
            limits,
            admitted: Arc::new(Semaphore::new(limits.queued + limits.running)),
            running: Arc::new(Semaphore::new(limits.running)),
            tracker: TaskTracker::new(),
            cancel: CancellationToken::new(),
        }
    }

    /// Admits a broker's check and answers it on a task of its own; drops it (the broker asks
    /// again) when the queue is full or the producer is shutting down. Never blocks.
    pub(super) fn dispatch(
        &self,
        check: TransactionCheck,
        instance: Arc<ClientInstance>,
        group: String,
        namespace: Option<String>,
        trace: Option<Arc<TraceDispatcher>>,
    ) {
        if self.cancel.is_cancelled() {
            debug!(group = %group, "transaction check after shutdown dropped");
            return;
        }
        let Ok(admitted) = Arc::clone(&self.admitted).try_acquire_owned() else {
            warn!(group = %group, broker = %check.broker_addr, queued = self.limits.queued, "transaction check queue full; check dropped (the broker asks again)");
            return;
        };
        let listener = Arc::clone(&self.listener);
        let running = Arc::clone(&self.running);
        let cancel = self.cancel.clone();
        let timeout = self.limits.timeout;
        self.tracker.spawn(async move {
            let _admitted = admitted;
            // Shutdown cancels a check still waiting or running; one that has decided is
            // still answered (within the answer's own timeout).
            // Biased: a check that decided in the same poll as a shutdown is still answered.
            let decided = tokio::select! {
                biased;
                decided = run_check(&*listener, &running, &check.message, timeout) => decided,
                () = cancel.cancelled() => None,
            };
            match decided {
                Some((state, error)) => {
                    if let Some(trace) = &trace {
                        let message = &check.message;
                        EndTrace {
                            group: &group,
                            namespace: namespace.as_deref(),
                            topic: &message.topic,
                            region_id: message.property(property::MSG_REGION),
                            msg_id: message.msg_id(),
                            tags: message.tags(),
                            keys: message.keys().map(str::to_string),
                            store_host: &check.broker_addr,
                            transaction_id: check.header.transaction_id.as_deref(),
                            state,
                            from_transaction_check: true,
                        }
                        .record(trace);
                    }
                    answer_check(check, state, error, &instance, &group).await
                }
                None => debug!(group = %group, "transaction check cancelled by shutdown"),
            }
        });
    }

    /// Cancels the checks waiting or running, and waits for their tasks (and the answers of
    /// those already decided) to end.
    pub(super) async fn shutdown(&self) {
        // Closed first: a waiting check must not take the slot a cancelled one frees.
        self.running.close();
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

/// Runs the listener's check when a running slot is free, bounded by `timeout`; `None` when
/// the semaphore is closed.
async fn run_check(
    listener: &dyn DynListener,
    running: &Semaphore,
    message: &StoredMessage,
    timeout: Duration,
) -> Option<(TransactionState, Option<String>)> {
    let _running = running.acquire().await.ok()?;
    Some(
        match tokio::time::timeout(timeout, guarded(listener.check(message))).await {
            Ok(outcome) => outcome,
            Err(_) => (
                TransactionState::Unknown,
                Some(format!("timed out after {timeout:?}")),
            ),
        },
    )
}

/// Answers a check with `END_TRANSACTION` to the address the check came from, header fields
/// taken from the check (Java `DefaultMQProducerImpl.checkTransactionState`).
async fn answer_check(
    check: TransactionCheck,
    state: TransactionState,
    error: Option<String>,
    instance: &ClientInstance,
    group: &str,
) {
    let header = &check.header;
    let (Some(tran_state_table_offset), Some(commit_log_offset)) =
        (header.tran_state_table_offset, header.commit_log_offset)
    else {
        warn!(group, broker = %check.broker_addr, "transaction check without offsets; not answered");
        return;
    };
    let end = EndTransactionRequestHeader {
        producer_group: group.to_string(),
        tran_state_table_offset,
        commit_log_offset,
        commit_or_rollback: state.wire_code(),
        from_transaction_check: true,
        msg_id: check.message.msg_id().to_string(),
        transaction_id: header.transaction_id.clone(),
        topic: header
            .topic
            .clone()
            .or_else(|| Some(check.message.topic.clone())),
        broker_name: header.broker_name.clone(),
    };
    match &error {
        Some(e) => {
            warn!(group, msg_id = %end.msg_id, error = %e, "transaction checker failed; answering UNKNOW")
        }
        None => info!(group, msg_id = %end.msg_id, state = %state, "transaction checked"),
    }
    let remark = error.map(|e| format!("checkLocalTransactionState Exception: {e}"));
    if let Err(e) = send_end(
        instance,
        &check.broker_addr,
        &end,
        remark,
        CHECK_ANSWER_TIMEOUT,
    )
    .await
    {
        warn!(group, broker = %check.broker_addr, error = %e, "END_TRANSACTION for a check not sent");
    }
}
