//! What a consumer holds of one queue: pulled messages not yet handled (Java `ProcessQueue`).

use std::collections::BTreeMap;

use crate::protocol::StoredMessage;

/// Pulled messages of one queue by queue offset, with the counters flow control reads.
#[derive(Debug, Default)]
pub(crate) struct ProcessQueue {
    messages: BTreeMap<i64, StoredMessage>,
    bytes: usize,
    /// Highest offset ever put (Java `queueOffsetMax`).
    max_offset: Option<i64>,
}

impl ProcessQueue {
    /// Adds pulled messages (a message already held is not added twice).
    pub(crate) fn put(&mut self, messages: &[StoredMessage]) {
        for m in messages {
            if self.messages.insert(m.queue_offset, m.clone()).is_none() {
                self.bytes += m.body.len();
            }
            self.max_offset = Some(
                self.max_offset
                    .map_or(m.queue_offset, |o| o.max(m.queue_offset)),
            );
        }
    }

    /// Removes handled messages and returns the offset that may be committed: the lowest
    /// offset still held, or one past the highest ever put when nothing is left; `None` when
    /// nothing was ever put.
    pub(crate) fn remove(&mut self, offsets: impl IntoIterator<Item = i64>) -> Option<i64> {
        for offset in offsets {
            if let Some(m) = self.messages.remove(&offset) {
                self.bytes -= m.body.len();
            }
        }
        self.commit_offset()
    }

    /// The offset that may be committed now (see [`remove`](Self::remove)).
    pub(crate) fn commit_offset(&self) -> Option<i64> {
        match self.messages.keys().next() {
            Some(first) => Some(*first),
            None => self.max_offset.map(|m| m + 1),
        }
    }

    /// Forgets everything (the queue's offset moved).
    pub(crate) fn clear(&mut self) {
        self.messages.clear();
        self.bytes = 0;
        self.max_offset = None;
    }

    /// Messages held.
    pub(crate) fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether no message is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Body bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Distance between the lowest and highest offset held (Java's span check).
    pub(crate) fn span(&self) -> i64 {
        match (
            self.messages.keys().next(),
            self.messages.keys().next_back(),
        ) {
            (Some(first), Some(last)) => last - first,
            _ => 0,
        }
    }

    /// Lowest and highest offset held.
    pub(crate) fn offset_range(&self) -> Option<(i64, i64)> {
        Some((
            *self.messages.keys().next()?,
            *self.messages.keys().next_back()?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msg(offset: i64) -> StoredMessage {
        StoredMessage {
            store_size: 0,
            magic: 0,
            body_crc: 0,
            queue_id: 0,
            flag: 0,
            queue_offset: offset,
            commit_log_offset: 0,
            sys_flag: 0,
            born_timestamp: 0,
            born_host: "127.0.0.1:1".parse().unwrap(),
            store_timestamp: 0,
            store_host: "127.0.0.1:2".parse().unwrap(),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: Bytes::from_static(b"abc"),
            body_compressed: false,
            topic: "T".into(),
            properties: vec![],
            offset_msg_id: String::new(),
        }
    }

    #[test]
    fn the_commit_offset_is_the_lowest_offset_still_held() {
        let mut pq = ProcessQueue::default();
        assert_eq!(pq.commit_offset(), None);
        pq.put(&[msg(10), msg(11), msg(12)]);
        assert_eq!((pq.len(), pq.bytes(), pq.span()), (3, 9, 2));
        // 11 done first: 10 still pins the offset.
        assert_eq!(pq.remove([11]), Some(10));
        assert_eq!(pq.remove([10]), Some(12));
        assert_eq!(pq.remove([12]), Some(13));
        assert!(pq.is_empty() && pq.bytes() == 0);
        // Removing again changes nothing.
        assert_eq!(pq.remove([12]), Some(13));
        pq.put(&[msg(13), msg(13)]);
        assert_eq!(pq.bytes(), 3);
        pq.clear();
        assert_eq!(pq.commit_offset(), None);
    }
}
