//! Requests brokers send to this client (Java `ClientRemotingProcessor`).

use std::sync::Arc;

use tracing::{debug, info, warn};

use super::members::{Members, TransactionCheck};
use super::request::{reply_from_push, RequestTable};
use crate::protocol::{
    decode_first_stored_message, CheckTransactionStateRequestHeader, InflateLimits, RemotingCommand, RequestCode,
    ResponseCode,
};
use crate::remoting::{HandlerFuture, ServerRequestHandler, UnsupportedRequests};

/// Answers server requests on every connection of one client instance, handing those about one
/// group to that group's member. None of them runs on a connection's reader task.
pub(crate) struct ClientRequestProcessor {
    client_id: String,
    members: Arc<Members>,
    requests: Arc<RequestTable>,
}

/// The consumer group a broker request is about: `consumerGroup` in most headers, `group` in
/// `RESET_CONSUMER_CLIENT_OFFSET` and `GET_CONSUMER_STATUS_FROM_CLIENT`.
fn consumer_group_of(request: &RemotingCommand) -> String {
    request
        .ext_fields
        .get("consumerGroup")
        .or_else(|| request.ext_fields.get("group"))
        .unwrap_or_default()
        .to_string()
}

impl ClientRequestProcessor {
    pub(crate) fn new(
        client_id: String,
        members: Arc<Members>,
        requests: Arc<RequestTable>,
    ) -> Self {
        Self {
            client_id,
            members,
            requests,
        }
    }

    /// The answer Java gives for a consumer group this process does not have.
    fn no_such_consumer(request: &RemotingCommand) -> RemotingCommand {
        let group = consumer_group_of(request);
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
        let message = match decode_first_stored_message(request.body.clone(), InflateLimits::default())
        {
            Ok(message) => message,
            Err(e) => {
                warn!(addr, error = %e, "transaction check: message does not decode");
                return;
            }
        };
        let Some(group) = message.property("PGROUP").map(str::to_string) else {
            warn!(addr, "transaction check: message has no producer group");
            return;
        };
        let Some(producer) = self.members.producer(&group) else {
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
        let consumer_request = matches!(
            code,
            RequestCode::NOTIFY_CONSUMER_IDS_CHANGED
                | RequestCode::RESET_CONSUMER_CLIENT_OFFSET
                | RequestCode::GET_CONSUMER_STATUS_FROM_CLIENT
                | RequestCode::GET_CONSUMER_RUNNING_INFO
                | RequestCode::CONSUME_MESSAGE_DIRECTLY
        );
        if consumer_request {
            if let Some(consumer) = self.members.consumer(&consumer_group_of(&request)) {
                return consumer.handle_request(addr, request);
            }
        }
        let response = match code {
            RequestCode::CHECK_TRANSACTION_STATE => {
                self.check_transaction_state(addr, &request);
                None
            }
            RequestCode::NOTIFY_CONSUMER_IDS_CHANGED
            | RequestCode::RESET_CONSUMER_CLIENT_OFFSET => {
                // Not a group of this client: nothing to rebalance or reset; Java sends no
                // answer to these either.
                debug!(addr, ?code, "consumer notification for a group not in this client");
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
                // Decoding may inflate the body: done in the handler's task, not here.
                let requests = Arc::clone(&self.requests);
                let addr = addr.to_string();
                return Box::pin(async move { Some(receive_reply(&requests, &addr, &request)) });
            }
            _ => Some(UnsupportedRequests::response(&request)),
        };
        Box::pin(async move { response })
    }
}

/// A reply the broker pushes (Java `receiveReplyMessage`): completes the waiting request, or
/// logs and drops a reply nobody waits for (late, or unknown); SUCCESS either way, as Java
/// answers. A header that does not decode gets Java's SYSTEM_ERROR.
fn receive_reply(requests: &RequestTable, addr: &str, request: &RemotingCommand) -> RemotingCommand {
    let reply = match reply_from_push(addr, request) {
        Ok(reply) => reply,
        Err(e) => {
            warn!(addr, error = %e, "reply message does not decode");
            return RemotingCommand::response_to(
                request,
                ResponseCode::SYSTEM_ERROR,
                Some("process reply message fail".into()),
            );
        }
    };
    let correlation_id = reply
        .property(crate::protocol::property::CORRELATION_ID)
        .unwrap_or_default()
        .to_string();
    if requests.complete(reply) {
        debug!(addr, correlation_id = %correlation_id, "reply delivered");
    } else {
        warn!(addr, correlation_id = %correlation_id, "reply for no pending request (late or unknown) dropped");
    }
    RemotingCommand::response_to(request, ResponseCode::SUCCESS, None)
}
