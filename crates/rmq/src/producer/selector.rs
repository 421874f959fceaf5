//! Choosing a queue for [`Producer::send_with_selector`](super::Producer::send_with_selector):
//! the [`MessageQueueSelector`] trait and Java's two stock selectors.

use super::message::Message;
use crate::client::MessageQueue;
use crate::util::{java_string_hash, random_below};

/// Chooses a queue for [`Producer::send_with_selector`](super::Producer::send_with_selector)
/// (Java `MessageQueueSelector`).
pub trait MessageQueueSelector<A: ?Sized>: Send + Sync {
    /// Index into `queues` (never empty) for `msg` with the caller's `arg`.
    fn select(&self, queues: &[MessageQueue], msg: &Message, arg: &A) -> usize;
}

/// Same argument, same queue: Java's `SelectMessageQueueByHash` (`abs(arg.hashCode() % n)`),
/// with Java's `String.hashCode` and `Long.hashCode`, so a Rust and a Java producer put the
/// same order key on the same queue.
#[derive(Debug, Clone, Copy, Default)]
pub struct SelectByHash;

fn hash_index(hash: i32, n: usize) -> usize {
    ((hash % n as i32).unsigned_abs()) as usize
}

impl MessageQueueSelector<str> for SelectByHash {
    fn select(&self, queues: &[MessageQueue], _msg: &Message, arg: &str) -> usize {
        hash_index(java_string_hash(arg), queues.len())
    }
}

impl MessageQueueSelector<i64> for SelectByHash {
    fn select(&self, queues: &[MessageQueue], _msg: &Message, arg: &i64) -> usize {
        // Java Long.hashCode: (int)(value ^ (value >>> 32))
        let v = *arg as u64;
        hash_index((v ^ (v >> 32)) as u32 as i32, queues.len())
    }
}

impl MessageQueueSelector<i32> for SelectByHash {
    fn select(&self, queues: &[MessageQueue], _msg: &Message, arg: &i32) -> usize {
        hash_index(*arg, queues.len())
    }
}

/// A random queue (Java `SelectMessageQueueByRandom`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SelectRandom;

impl<A: ?Sized> MessageQueueSelector<A> for SelectRandom {
    fn select(&self, queues: &[MessageQueue], _msg: &Message, _arg: &A) -> usize {
        random_below(queues.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_string_hash_matches_java() {
        // Values computed with Java's String.hashCode.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99162322);
        assert_eq!(java_string_hash("order-12345"), 478832884);
    }

    #[test]
    fn hash_selection_is_stable_and_in_range() {
        let queues: Vec<MessageQueue> = (0..4)
            .map(|i| MessageQueue {
                topic: "T".into(),
                broker_name: "b".into(),
                queue_id: i,
            })
            .collect();
        let msg = Message::new("T", "x");
        for key in ["a", "order-12345", "zzz", ""] {
            let i = SelectByHash.select(&queues, &msg, key);
            assert!(i < 4);
            assert_eq!(i, SelectByHash.select(&queues, &msg, key));
        }
        // Java Long.hashCode(-7) = 6, 6 % 4 = 2.
        assert_eq!(
            MessageQueueSelector::<i64>::select(&SelectByHash, &queues, &msg, &-7),
            2
        );
    }
}
