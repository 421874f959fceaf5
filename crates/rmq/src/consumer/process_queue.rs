//! What a consumer holds of one queue: pulled messages not yet handled (Java `ProcessQueue`).

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::protocol::StoredMessage;

/// Pulled messages of one queue by queue offset, with the counters flow control reads.
#[derive(Debug, Default)]
pub(crate) struct ProcessQueue {
    messages: BTreeMap<i64, StoredMessage>,
    bytes: usize,
    /// Highest offset ever put (Java `queueOffsetMax`).
    max_offset: Option<i64>,
    /// Orderly consumption: held offsets by ordering key, each lane in queue order (one lane
    /// for per-queue order; one per message key for per-key order).
    lanes: HashMap<String, Lane>,
}

/// The held messages of one ordering key, oldest first.
#[derive(Debug, Default)]
struct Lane {
    offsets: VecDeque<i64>,
    /// A worker hands this lane to the handler; no second one may start.
    running: bool,
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

    /// Orderly: adds pulled messages to their lanes (`lane_of` names the lane) and returns
    /// the lanes that now need a worker (they were idle; they are marked running).
    pub(crate) fn put_ordered(
        &mut self,
        messages: &[StoredMessage],
        lane_of: impl Fn(&StoredMessage) -> String,
    ) -> Vec<String> {
        let mut wake = Vec::new();
        for m in messages {
            if self.messages.contains_key(&m.queue_offset) {
                continue;
            }
            self.put(std::slice::from_ref(m));
            let key = lane_of(m);
            let lane = self.lanes.entry(key.clone()).or_default();
            lane.offsets.push_back(m.queue_offset);
            if !lane.running {
                lane.running = true;
                wake.push(key);
            }
        }
        wake
    }

    /// Orderly: the oldest `n` messages of a lane (they stay held until
    /// [`finish_lane`](Self::finish_lane)). `None`, and the lane is forgotten, when it is
    /// empty: its worker ends.
    pub(crate) fn lane_batch(&mut self, key: &str, n: usize) -> Option<Vec<StoredMessage>> {
        let lane = self.lanes.get(key)?;
        let batch: Vec<StoredMessage> = lane
            .offsets
            .iter()
            .take(n)
            .filter_map(|o| self.messages.get(o).cloned())
            .collect();
        if batch.is_empty() {
            self.lanes.remove(key);
            return None;
        }
        Some(batch)
    }

    /// Orderly: marks a lane's worker as gone (the queue was dropped or reset).
    pub(crate) fn stop_lane(&mut self, key: &str) {
        if let Some(lane) = self.lanes.get_mut(key) {
            lane.running = false;
        }
    }

    /// Orderly: removes handled messages of a lane; returns the offset that may be committed.
    pub(crate) fn finish_lane(&mut self, key: &str, offsets: &[i64]) -> Option<i64> {
        if let Some(lane) = self.lanes.get_mut(key) {
            lane.offsets.retain(|o| !offsets.contains(o));
        }
        self.remove(offsets.iter().copied())
    }

    /// Orderly: one more delivery of these held messages (they are handed again).
    pub(crate) fn count_redelivery(&mut self, offsets: &[i64]) {
        for o in offsets {
            if let Some(m) = self.messages.get_mut(o) {
                m.reconsume_times = m.reconsume_times.saturating_add(1);
            }
        }
    }

    /// Orderly: lanes whose worker runs now.
    pub(crate) fn running_lanes(&self) -> usize {
        self.lanes.values().filter(|l| l.running).count()
    }

    /// Forgets everything (the queue's offset moved).
    pub(crate) fn clear(&mut self) {
        self.lanes.clear();
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
    fn lanes_keep_queue_order_per_key_and_wake_idle_lanes_once() {
        let mut pq = ProcessQueue::default();
        let key = |m: &StoredMessage| (m.queue_offset % 2).to_string();
        let wake = pq.put_ordered(&[msg(10), msg(11), msg(12)], key);
        assert_eq!(wake.len(), 2, "two lanes woke");
        assert!(
            pq.put_ordered(&[msg(13), msg(12)], key).is_empty(),
            "running lanes are not woken again"
        );
        let even = pq.lane_batch("0", 8).unwrap();
        assert_eq!(
            even.iter().map(|m| m.queue_offset).collect::<Vec<_>>(),
            vec![10, 12]
        );
        pq.count_redelivery(&[10]);
        assert_eq!(
            pq.lane_batch("0", 1).unwrap()[0].reconsume_times,
            1,
            "the same message, counted"
        );
        // Finishing the even lane cannot move the commit offset past the odd lane's 11.
        assert_eq!(pq.finish_lane("0", &[10, 12]), Some(11));
        assert!(
            pq.lane_batch("0", 8).is_none(),
            "an empty lane ends its worker"
        );
        assert_eq!(pq.running_lanes(), 1);
        assert_eq!(pq.finish_lane("1", &[11, 13]), Some(14));
        assert!(pq.is_empty());
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
