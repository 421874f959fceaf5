//! Requests brokers send to this client (Java `ClientRemotingProcessor`).

use std::sync::{Arc, OnceLock, Weak};

use tracing::{debug, info, warn};

use super::instance::ClientInstance;
use crate::producer::TransactionCheck;
use crate::protocol::{
    decode_stored_messages, CheckTransactionStateRequestHeader, ConsumerGroupRequestHeader,
    RemotingCommand, RequestCode, ResponseCode,
};
use crate::remoting::{HandlerFuture, ServerRequestHandler, UnsupportedRequests};

/// Answers server requests on every connection of one client instance. None of them runs on a
/// connection's reader task.
pub(crate) struct ClientRequestProcessor {
    client_id: String,
    instance: OnceLock<Weak<ClientInstance>>,
}

impl ClientRequestProcessor {
    pub(crate) fn new(client_id: String) -> Self {
        Self {
            client_id,
            instance: OnceLock::new(),
        }
    }

    pub(crate) fn attach(&self, instance: Weak<ClientInstance>) {
        let _ = self.instance.set(instance);
    }

    fn instance(&self) -> Option<Arc<ClientInstance>> {
        self.instance.get().and_then(Weak::upgrade)
    }

    /// The answer Java gives for a consumer group this process does not have.
    fn no_such_consumer(request: &RemotingCommand) -> RemotingCommand {
        let group = request
            .decode_header::<ConsumerGroupRequestHeader>()
            .ok()
            .and_then(|h| h.consumer_group)
            .unwrap_or_default();
        RemotingCommand::response_to(
            request,
            ResponseCode::SYSTEM_ERROR,
            Some(format!(
                "The Consumer Group <{group}> not exist in this consumer"
            )),
        )
    }

    /// Hands a transaction check to the producer of the message's group.
    fn check_transaction_state(&self, addr: &str, request: &RemotingCommand) {
        let header = match request.decode_header::<CheckTransactionStateRequestHeader>() {
            Ok(h) => h,
            Err(e) => {
                warn!(addr, error = %e, "transaction check with a bad header");
                return;
            }
        };
        let message = match decode_stored_messages(request.body.clone()) {
            Ok(mut msgs) if !msgs.is_empty() => msgs.swap_remove(0),
            Ok(_) => {
                warn!(addr, "transaction check without a message");
                return;
            }
            Err(e) => {
                warn!(addr, error = %e, "transaction check: message does not decode");
                return;
            }
        };
        let Some(group) = message.property("PGROUP").map(str::to_string) else {
            warn!(addr, "transaction check: message has no producer group");
            return;
        };
        let Some(producer) = self.instance().and_then(|i| i.producer(&group)) else {
            debug!(addr, group = %group, "transaction check for a group not in this client");
            return;
        };
        let transaction_id = message
            .property("UNIQ_KEY")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .or_else(|| header.transaction_id.clone());
        info!(client_id = %self.client_id, addr, group = %group, txid = ?transaction_id, "transaction check");
        producer.check_transaction_state(TransactionCheck {
            broker_addr: addr.to_string(),
            group,
            transaction_id,
            header,
            message,
        });
    }
}

impl ServerRequestHandler for ClientRequestProcessor {
    fn handle(&self, addr: &str, request: RemotingCommand) -> HandlerFuture {
        let code = request.request_code();
        let response = match code {
            RequestCode::CHECK_TRANSACTION_STATE => {
                self.check_transaction_state(addr, &request);
                None
            }
            RequestCode::NOTIFY_CONSUMER_IDS_CHANGED
            | RequestCode::RESET_CONSUMER_CLIENT_OFFSET => {
                // No consumers in this client yet: nothing to rebalance or reset; Java sends no
                // answer to these either.
                debug!(addr, ?code, "consumer notification ignored: no consumers");
                None
            }
            RequestCode::GET_CONSUMER_STATUS_FROM_CLIENT => Some(
                RemotingCommand::response_to(&request, ResponseCode::SUCCESS, None)
                    .with_body(&br#"{"consumerTable":{},"messageQueueTable":{}}"#[..]),
            ),
            RequestCode::GET_CONSUMER_RUNNING_INFO | RequestCode::CONSUME_MESSAGE_DIRECTLY => {
                Some(Self::no_such_consumer(&request))
            }
            RequestCode::PUSH_REPLY_MESSAGE_TO_CLIENT => {
                // Request-reply is not implemented: like Java with no waiting request, accept
                // and drop.
                warn!(addr, "reply message for no pending request dropped");
                Some(RemotingCommand::response_to(
                    &request,
                    ResponseCode::SUCCESS,
                    None,
                ))
            }
            _ => Some(UnsupportedRequests::response(&request)),
        };
        Box::pin(async move { response })
    }
}
