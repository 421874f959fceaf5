//! The producers and consumers registered in a client instance (Java `producerTable` and
//! `consumerTable`), shared by the instance (heartbeats, the last-member rule) and the
//! server-request processor (requests addressed to one group), so neither needs a pointer back
//! to the other.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::Arc;

use crate::protocol::{CheckTransactionStateRequestHeader, RemotingCommand, StoredMessage};
use crate::remoting::HandlerFuture;

use super::validate::CLIENT_INNER_PRODUCER_GROUP;

/// A broker's question about a transaction, delivered to the producer of the message's group.
#[derive(Debug, Clone)]
pub struct TransactionCheck {
    /// Broker that asks.
    pub broker_addr: String,
    /// Producer group of the half message.
    pub group: String,
    /// Transaction id (the message's UNIQ_KEY, else the header's).
    pub transaction_id: Option<String>,
    /// The request header.
    pub header: CheckTransactionStateRequestHeader,
    /// The half message as stored.
    pub message: StoredMessage,
}

/// What the instance needs from a registered producer.
pub trait ProducerMember: Send + Sync + 'static {
    /// A broker asks about a transaction of this group. Called off the connection's reader;
    /// must not block.
    fn check_transaction_state(&self, check: TransactionCheck);
}

/// What the instance needs from a registered consumer.
pub trait ConsumerMember: Send + Sync + 'static {
    /// The consumer's entry in every heartbeat (Java `ConsumerData`: group, consume type,
    /// message model, where to consume from, subscriptions).
    fn heartbeat_data(&self) -> serde_json::Value;

    /// A broker request addressed to this consumer's group (`NOTIFY_CONSUMER_IDS_CHANGED`,
    /// `GET_CONSUMER_RUNNING_INFO`, `CONSUME_MESSAGE_DIRECTLY`,
    /// `RESET_CONSUMER_CLIENT_OFFSET`, `GET_CONSUMER_STATUS_FROM_CLIENT`). Runs on the
    /// instance's request task, never on a connection's reader; `None` sends no answer.
    fn handle_request(&self, addr: &str, request: RemotingCommand) -> HandlerFuture;
}

/// A producer or a consumer in the member table.
#[derive(Clone)]
pub enum Member {
    /// A producer group.
    Producer(Arc<dyn ProducerMember>),
    /// A consumer group.
    Consumer(Arc<dyn ConsumerMember>),
}

/// Which table a group is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MemberKind {
    /// A producer group.
    Producer,
    /// A consumer group.
    Consumer,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Producer(_) => "Member::Producer",
            Self::Consumer(_) => "Member::Consumer",
        })
    }
}

impl Member {
    /// Which table this member goes into.
    pub fn kind(&self) -> MemberKind {
        match self {
            Self::Producer(_) => MemberKind::Producer,
            Self::Consumer(_) => MemberKind::Consumer,
        }
    }
}

/// Why a member could not join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinRefused {
    /// The table is closed: its last member left and the instance is stopping.
    Closing,
    /// A member of that kind and group is registered already.
    Duplicate,
}

#[derive(Default)]
struct Tables {
    producers: BTreeMap<String, Arc<dyn ProducerMember>>,
    consumers: BTreeMap<String, Arc<dyn ConsumerMember>>,
    /// Set when the last user member left: the instance is stopping and takes no one.
    closed: bool,
}

/// The member tables of one instance. The instance's own inner producer group
/// (`CLIENT_INNER_PRODUCER`) is listed but never counts as a user member.
#[derive(Default)]
pub struct Members {
    tables: Mutex<Tables>,
}

impl std::fmt::Debug for Members {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Members")
            .field("producers", &self.producer_groups())
            .field("consumers", &self.consumer_groups())
            .finish()
    }
}

impl Members {
    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `member` under `group`, unless the table is closed or the group is taken.
    pub(crate) fn join(&self, group: &str, member: Member) -> Result<(), JoinRefused> {
        let mut t = self.lock();
        if t.closed {
            return Err(JoinRefused::Closing);
        }
        let taken = match &member {
            Member::Producer(_) => t.producers.contains_key(group),
            Member::Consumer(_) => t.consumers.contains_key(group),
        };
        if taken {
            return Err(JoinRefused::Duplicate);
        }
        match member {
            Member::Producer(p) => t.producers.insert(group.to_string(), p).map(drop),
            Member::Consumer(c) => t.consumers.insert(group.to_string(), c).map(drop),
        };
        Ok(())
    }

    /// Removes `group` of `kind`. Returns `None` when it was not registered, else whether it
    /// was the last user member — in which case the table is now closed (decided under the
    /// lock, so no one can join a stopping instance).
    pub(crate) fn leave(&self, kind: MemberKind, group: &str) -> Option<bool> {
        let mut t = self.lock();
        let removed = match kind {
            MemberKind::Producer => t.producers.remove(group).is_some(),
            MemberKind::Consumer => t.consumers.remove(group).is_some(),
        };
        if !removed {
            return None;
        }
        let last = t.consumers.is_empty()
            && t.producers.keys().all(|g| g == CLIENT_INNER_PRODUCER_GROUP);
        if last {
            t.closed = true;
        }
        Some(last)
    }

    /// Removes the inner producer group; returns whether it was there.
    pub(crate) fn remove_inner(&self) -> bool {
        self.lock()
            .producers
            .remove(CLIENT_INNER_PRODUCER_GROUP)
            .is_some()
    }

    /// Whether the table is closed (the instance is stopping).
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Producer groups, the inner one included, sorted.
    pub fn producer_groups(&self) -> Vec<String> {
        self.lock().producers.keys().cloned().collect()
    }

    /// Consumer groups, sorted.
    pub fn consumer_groups(&self) -> Vec<String> {
        self.lock().consumers.keys().cloned().collect()
    }

    /// The producer of `group`.
    pub(crate) fn producer(&self, group: &str) -> Option<Arc<dyn ProducerMember>> {
        self.lock().producers.get(group).cloned()
    }

    /// The consumer of `group`.
    pub(crate) fn consumer(&self, group: &str) -> Option<Arc<dyn ConsumerMember>> {
        self.lock().consumers.get(group).cloned()
    }

    /// Every consumer's heartbeat entry, by group order.
    pub(crate) fn consumer_heartbeat_data(&self) -> Vec<serde_json::Value> {
        let consumers: Vec<_> = self.lock().consumers.values().cloned().collect();
        consumers.iter().map(|c| c.heartbeat_data()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoChecks;
    impl ProducerMember for NoChecks {
        fn check_transaction_state(&self, _check: TransactionCheck) {}
    }

    struct Quiet;
    impl ConsumerMember for Quiet {
        fn heartbeat_data(&self) -> serde_json::Value {
            serde_json::json!({"groupName": "c"})
        }
        fn handle_request(&self, _addr: &str, _request: RemotingCommand) -> HandlerFuture {
            Box::pin(async { None })
        }
    }

    fn with_inner() -> Members {
        let m = Members::default();
        m.join(
            CLIENT_INNER_PRODUCER_GROUP,
            Member::Producer(Arc::new(NoChecks)),
        )
        .unwrap();
        m
    }

    #[test]
    fn a_consumer_keeps_the_table_open_until_it_leaves() {
        let m = with_inner();
        m.join("p", Member::Producer(Arc::new(NoChecks))).unwrap();
        m.join("c", Member::Consumer(Arc::new(Quiet))).unwrap();
        // The same name may be a producer group and a consumer group.
        m.join("p", Member::Consumer(Arc::new(Quiet))).unwrap();
        assert_eq!(
            m.join("c", Member::Consumer(Arc::new(Quiet))),
            Err(JoinRefused::Duplicate)
        );
        assert_eq!(m.leave(MemberKind::Producer, "p"), Some(false));
        assert_eq!(m.leave(MemberKind::Consumer, "p"), Some(false));
        assert_eq!(m.consumer_heartbeat_data().len(), 1);
        assert_eq!(m.leave(MemberKind::Consumer, "c"), Some(true));
        assert!(m.is_closed());
        assert_eq!(
            m.join("late", Member::Consumer(Arc::new(Quiet))),
            Err(JoinRefused::Closing)
        );
        assert_eq!(m.leave(MemberKind::Consumer, "c"), None);
    }
}
