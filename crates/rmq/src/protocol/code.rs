//! Request and response codes as open newtypes.
//!
//! A code the client does not know is data, not an error: decoding never fails on an unknown
//! code, and [`fmt::Debug`] prints the numeric value with the name when one is known.

use std::fmt;

macro_rules! open_code {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$cmeta:meta])* $const:ident = $value:expr ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i32);

        impl $name {
            $( $(#[$cmeta])* pub const $const: Self = Self($value); )*

            /// The Java constant name of this code, when the client knows it.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $value => Some(stringify!($const)), )*
                    _ => None,
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(name) => write!(f, "{}({})", name, self.0),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }

        impl From<i32> for $name {
            fn from(code: i32) -> Self {
                Self(code)
            }
        }
    };
}

open_code! {
    /// A request code (`org.apache.rocketmq.common.protocol.RequestCode`).
    RequestCode {
        /// Send one message with the long (V1) header field names.
        SEND_MESSAGE = 10,
        /// Pull messages (consumer side).
        PULL_MESSAGE = 11,
        /// Query messages by key.
        QUERY_MESSAGE = 12,
        /// Read a consumer group's stored offset of a queue.
        QUERY_CONSUMER_OFFSET = 14,
        /// Store a consumer group's offset of a queue.
        UPDATE_CONSUMER_OFFSET = 15,
        /// Create or update a topic on a broker.
        UPDATE_AND_CREATE_TOPIC = 17,
        /// Search a queue offset by timestamp.
        SEARCH_OFFSET_BY_TIMESTAMP = 29,
        /// Max offset of a queue.
        GET_MAX_OFFSET = 30,
        /// Min offset of a queue.
        GET_MIN_OFFSET = 31,
        /// Store time of the earliest message of a queue.
        GET_EARLIEST_MSG_STORETIME = 32,
        /// Read one stored message by commit-log offset.
        VIEW_MESSAGE_BY_ID = 33,
        /// Client heartbeat to a broker.
        HEART_BEAT = 34,
        /// Send a consumed message back for a later retry (or to the dead-letter queue).
        CONSUMER_SEND_MSG_BACK = 36,
        /// The client ids of a consumer group, as one broker knows them.
        GET_CONSUMER_LIST_BY_GROUP = 38,
        /// Check a consumer's subscription (SQL92 filters) with a broker.
        CHECK_CLIENT_CONFIG = 46,
        /// Lock queues of an orderly consumer group at their master.
        LOCK_BATCH_MQ = 41,
        /// Release queue locks of an orderly consumer group.
        UNLOCK_BATCH_MQ = 42,
        /// Unregister a client group from a broker.
        UNREGISTER_CLIENT = 35,
        /// Commit or roll back a half (transaction) message.
        END_TRANSACTION = 37,
        /// Broker asks a producer for the state of a transaction (server to client).
        CHECK_TRANSACTION_STATE = 39,
        /// Broker tells a consumer that its group changed (server to client).
        NOTIFY_CONSUMER_IDS_CHANGED = 40,
        /// Read a value from the name server's KV store.
        GET_KV_CONFIG = 101,
        /// Route of a topic from the name server.
        GET_ROUTEINFO_BY_TOPIC = 105,
        /// Brokers and clusters known to the name server.
        GET_BROKER_CLUSTER_INFO = 106,
        /// Producer connections of a group on a broker.
        GET_PRODUCER_CONNECTION_LIST = 204,
        /// A consumer group's offsets and lag on a broker (`mqadmin consumerProgress`).
        GET_CONSUME_STATS = 208,
        /// Broker asks a consumer to reset its offsets (server to client).
        RESET_CONSUMER_CLIENT_OFFSET = 220,
        /// Broker asks a consumer for its status (server to client).
        GET_CONSUMER_STATUS_FROM_CLIENT = 221,
        /// Broker asks a consumer for its running info (server to client).
        GET_CONSUMER_RUNNING_INFO = 307,
        /// Broker asks a consumer to consume one message now (server to client).
        CONSUME_MESSAGE_DIRECTLY = 309,
        /// Send one message with the short (V2) header field names.
        SEND_MESSAGE_V2 = 310,
        /// Send a batch of messages.
        SEND_BATCH_MESSAGE = 320,
        /// Send a reply message (request-reply) with V1 names.
        SEND_REPLY_MESSAGE = 324,
        /// Send a reply message (request-reply) with V2 names.
        SEND_REPLY_MESSAGE_V2 = 325,
        /// Broker pushes a reply message to the requesting producer (server to client).
        PUSH_REPLY_MESSAGE_TO_CLIENT = 326,
        /// 5.x: pop messages (the broker hides them for an invisible time until acked).
        POP_MESSAGE = 200050,
        /// 5.x: acknowledge one popped message.
        ACK_MESSAGE = 200051,
        /// 5.x: change when a popped message becomes visible again.
        CHANGE_MESSAGE_INVISIBLETIME = 200053,
        /// 5.x: acknowledge several popped messages at once.
        BATCH_ACK_MESSAGE = 200151,
    }
}

open_code! {
    /// A response code (`RemotingSysResponseCode` and `ResponseCode`).
    ResponseCode {
        /// The request succeeded.
        SUCCESS = 0,
        /// The server failed while processing.
        SYSTEM_ERROR = 1,
        /// The server is busy (flow control).
        SYSTEM_BUSY = 2,
        /// The server does not know the request code.
        REQUEST_CODE_NOT_SUPPORTED = 3,
        /// A transaction failed.
        TRANSACTION_FAILED = 4,
        /// Stored, but the flush to disk timed out.
        FLUSH_DISK_TIMEOUT = 10,
        /// Stored, but no slave is available.
        SLAVE_NOT_AVAILABLE = 11,
        /// Stored, but replication to the slave timed out.
        FLUSH_SLAVE_TIMEOUT = 12,
        /// The message is not acceptable.
        MESSAGE_ILLEGAL = 13,
        /// The service is not available (e.g. the broker is shutting down or full).
        SERVICE_NOT_AVAILABLE = 14,
        /// The server does not support this version of the request.
        VERSION_NOT_SUPPORTED = 15,
        /// The client has no permission (or the broker is not writable).
        NO_PERMISSION = 16,
        /// The topic does not exist.
        TOPIC_NOT_EXIST = 17,
        /// The topic exists already.
        TOPIC_EXIST_ALREADY = 18,
        /// Nothing to pull.
        PULL_NOT_FOUND = 19,
        /// Messages were there but none matched the subscription: pull again at once.
        PULL_RETRY_IMMEDIATELY = 20,
        /// The requested offset is outside the queue: continue at `nextBeginOffset`.
        PULL_OFFSET_MOVED = 21,
        /// No message found for the query.
        QUERY_NOT_FOUND = 22,
        /// The subscription expression does not parse.
        SUBSCRIPTION_PARSE_FAILED = 23,
        /// The broker does not know the group's subscription (heartbeat not seen yet).
        SUBSCRIPTION_NOT_EXIST = 24,
        /// The broker has an older subscription version than the pull (heartbeat in flight).
        SUBSCRIPTION_NOT_LATEST = 25,
        /// The consumer group does not exist on the broker (auto-creation disabled).
        SUBSCRIPTION_GROUP_NOT_EXIST = 26,
        /// The broker has no filter data for an SQL92 subscription (heartbeat not seen yet).
        FILTER_DATA_NOT_EXIST = 27,
        /// The broker's filter data is older than the pull's subscription version.
        FILTER_DATA_NOT_LATEST = 28,
        /// 5.x: an invalid request parameter.
        INVALID_PARAMETER = 29,
        /// No buyer id.
        NO_BUYER_ID = 204,
        /// Not in the current unit.
        NOT_IN_CURRENT_UNIT = 205,
        /// The consumer is not online.
        CONSUMER_NOT_ONLINE = 206,
        /// 5.x pop: the acked offset is outside the queue, or a batch ack is empty.
        NO_MESSAGE = 208,
        /// 5.x pop: the broker's queue of held pop requests is full.
        POLLING_FULL = 209,
        /// 5.x pop: nothing arrived while the request was held (or it came too late).
        POLLING_TIMEOUT = 210,
        /// 5.x: the server is shutting down; reconnect and retry elsewhere.
        GO_AWAY = 1500,
    }
}

impl ResponseCode {
    /// Whether a producer should retry a send that got this code, as the Java 5.x
    /// `DefaultMQProducer.retryResponseCodes` does (4.9.x plus `SYSTEM_BUSY` and `GO_AWAY`).
    pub fn is_retriable_for_send(self) -> bool {
        matches!(
            self,
            Self::TOPIC_NOT_EXIST
                | Self::SERVICE_NOT_AVAILABLE
                | Self::SYSTEM_ERROR
                | Self::SYSTEM_BUSY
                | Self::NO_PERMISSION
                | Self::NO_BUYER_ID
                | Self::NOT_IN_CURRENT_UNIT
                | Self::GO_AWAY
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_codes_are_data() {
        let code = RequestCode(4242);
        assert_eq!(code.name(), None);
        assert_eq!(format!("{code:?}"), "RequestCode(4242)");
        assert_eq!(
            format!("{:?}", RequestCode::SEND_MESSAGE_V2),
            "SEND_MESSAGE_V2(310)"
        );
        assert_eq!(ResponseCode::from(17), ResponseCode::TOPIC_NOT_EXIST);
    }

    #[test]
    fn retriable_send_codes_follow_java_5() {
        assert!(ResponseCode::SYSTEM_BUSY.is_retriable_for_send());
        assert!(ResponseCode::GO_AWAY.is_retriable_for_send());
        assert!(!ResponseCode::MESSAGE_ILLEGAL.is_retriable_for_send());
        assert!(!ResponseCode::SUCCESS.is_retriable_for_send());
    }
}
