//! [`Producer::send_in_transaction`]: half message, local transaction, `END_TRANSACTION`
//! (Java `DefaultMQProducerImpl.sendMessageInTransaction` and `endTransaction`).

use tracing::{debug, info, warn};

use super::transaction::{guarded, send_end, EndTrace, TransactionSendResult, TransactionState};
use super::{Message, Producer, SendStatus};
use crate::client::validate::wrap_namespace;
use crate::error::{Result, ValidationError};
use crate::protocol::{decode_offset_msg_id, EndTransactionRequestHeader};

impl Producer {
    /// Sends `msg` as a transactional message (Java `sendMessageInTransaction`): the broker
    /// stores it as a half message (invisible to consumers; a delay level is dropped), the
    /// listener's [`crate::TransactionListener::execute`] runs the local transaction, and the
    /// resulting state is sent to the broker (`END_TRANSACTION`, oneway): commit makes the
    /// message visible, rollback discards it, unknown leaves it to the broker's check-back.
    ///
    /// The half message is sent as [`Producer::send`] sends (retries, deadline). When the
    /// broker stored it without `SEND_OK` (flush or replication trouble) the local transaction
    /// does not run and the state is rollback, as in Java. A local transaction that fails or
    /// panics gives `Unknown` (see [`TransactionSendResult::local_error`]).
    ///
    /// # Errors
    /// [`ValidationError::NoTransactionListener`] and the other validation errors before any
    /// network; then the errors of [`Producer::send`] for the half message. A failure to write
    /// `END_TRANSACTION` is no error (the broker checks back): see
    /// [`TransactionSendResult::end_sent`].
    pub async fn send_in_transaction(&self, msg: Message) -> Result<TransactionSendResult> {
        let inner = &*self.inner;
        let Some(transactions) = &inner.transactions else {
            return Err(ValidationError::NoTransactionListener.into());
        };
        let sent = self.send_half(&msg).await?;
        let (state, local_error) = match sent.status {
            SendStatus::SendOk => guarded(transactions.listener.execute(&msg, &sent)).await,
            status => {
                debug!(group = %inner.group, %status, "half message not stored OK; rolling back");
                (TransactionState::Rollback, None)
            }
        };
        if let Some(e) = &local_error {
            warn!(group = %inner.group, msg_id = %sent.msg_id, error = %e, "local transaction failed; state UNKNOW");
        }
        let end_sent = self
            .end_transaction(&msg, &sent, state, local_error.as_deref())
            .await;
        info!(group = %inner.group, msg_id = %sent.msg_id, %state, end_sent, "transactional message sent");
        Ok(TransactionSendResult {
            send: sent,
            state,
            local_error,
            end_sent,
        })
    }

    /// Writes `END_TRANSACTION` for a half message this producer sent; false when it could
    /// not (logged: the broker checks back).
    async fn end_transaction(
        &self,
        msg: &Message,
        sent: &super::SendResult,
        state: TransactionState,
        local_error: Option<&str>,
    ) -> bool {
        let inner = &*self.inner;
        let broker = &sent.queue.broker_name;
        let Some(addr) = inner.instance.master_addr(broker) else {
            warn!(group = %inner.group, broker = %broker, "no master address for END_TRANSACTION");
            return false;
        };
        let commit_log_offset = match decode_offset_msg_id(&sent.offset_msg_id)
            .or_else(|_| decode_offset_msg_id(&sent.msg_id))
        {
            Ok((_, offset)) => offset,
            Err(e) => {
                warn!(group = %inner.group, offset_msg_id = %sent.offset_msg_id, error = %e, "END_TRANSACTION: message id does not decode");
                return false;
            }
        };
        if let Some(trace) = inner.trace.get() {
            EndTrace {
                group: &inner.group,
                namespace: inner.namespace.as_deref(),
                topic: &msg.topic,
                region_id: Some(&sent.region_id),
                msg_id: &sent.msg_id,
                tags: msg.tags.as_deref(),
                keys: (!msg.keys.is_empty()).then(|| msg.keys.join(" ")),
                store_host: &addr,
                transaction_id: sent.transaction_id.as_deref().or(Some(&sent.msg_id)),
                state,
                from_transaction_check: false,
            }
            .record(trace);
        }
        let header = EndTransactionRequestHeader {
            producer_group: inner.group.clone(),
            tran_state_table_offset: sent.queue_offset,
            commit_log_offset,
            commit_or_rollback: state.wire_code(),
            from_transaction_check: false,
            msg_id: sent.msg_id.clone(),
            transaction_id: sent.transaction_id.clone(),
            topic: Some(wrap_namespace(inner.namespace.as_deref(), &msg.topic)),
            broker_name: Some(broker.clone()),
        };
        let remark = local_error.map(|e| format!("executeLocalTransactionBranch exception: {e}"));
        match send_end(
            &inner.instance,
            &addr,
            &header,
            remark,
            inner.settings.send_timeout,
        )
        .await
        {
            Ok(()) => true,
            Err(e) => {
                warn!(group = %inner.group, broker = %addr, error = %e, "END_TRANSACTION not sent");
                false
            }
        }
    }
}
