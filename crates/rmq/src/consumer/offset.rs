//! The in-memory side of broker-stored offsets (Java `RemoteBrokerOffsetStore`): the next
//! offset to consume of every owned queue, and what was last written to the broker.

use std::collections::HashMap;
use std::sync::Mutex;

use super::fastjson::queue_keyed_map;
use crate::client::MessageQueue;

#[derive(Debug, Clone, Copy)]
struct Entry {
    offset: i64,
    persisted: Option<i64>,
}

/// Offsets of the queues a consumer owns.
#[derive(Debug, Default)]
pub(crate) struct OffsetStore {
    table: Mutex<HashMap<MessageQueue, Entry>>,
}

impl OffsetStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<MessageQueue, Entry>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the offset of `mq`; with `increase_only` a lower value is ignored (concurrent
    /// consumption finishes out of order). Negative offsets are never stored.
    pub(crate) fn update(&self, mq: &MessageQueue, offset: i64, increase_only: bool) {
        if offset < 0 {
            return;
        }
        let mut table = self.lock();
        match table.get_mut(mq) {
            Some(e) if increase_only && offset <= e.offset => {}
            Some(e) => e.offset = offset,
            None => {
                table.insert(
                    mq.clone(),
                    Entry {
                        offset,
                        persisted: None,
                    },
                );
            }
        }
    }

    /// Records an offset read from the broker: it is both current and persisted.
    pub(crate) fn loaded(&self, mq: &MessageQueue, offset: i64) {
        self.lock().insert(
            mq.clone(),
            Entry {
                offset,
                persisted: Some(offset),
            },
        );
    }

    /// The offset of `mq`, if known.
    pub(crate) fn read(&self, mq: &MessageQueue) -> Option<i64> {
        self.lock().get(mq).map(|e| e.offset)
    }

    /// Forgets `mq` (the queue was taken away).
    pub(crate) fn remove(&self, mq: &MessageQueue) {
        self.lock().remove(mq);
    }

    /// Offsets that changed since they were last persisted.
    pub(crate) fn dirty(&self) -> Vec<(MessageQueue, i64)> {
        self.lock()
            .iter()
            .filter(|(_, e)| e.persisted != Some(e.offset))
            .map(|(mq, e)| (mq.clone(), e.offset))
            .collect()
    }

    /// Every known offset.
    pub(crate) fn all(&self) -> Vec<(MessageQueue, i64)> {
        self.lock()
            .iter()
            .map(|(mq, e)| (mq.clone(), e.offset))
            .collect()
    }

    /// The body of the answer to `GET_CONSUMER_STATUS_FROM_CLIENT` (Java
    /// `ConsumerStatus`-less `GetConsumerStatusBody`): this consumer's offset of each queue of
    /// `topic`, as a fastjson queue-keyed map.
    pub(crate) fn status_body(&self, topic: &str) -> String {
        let table: Vec<(MessageQueue, i64)> = self
            .all()
            .into_iter()
            .filter(|(mq, _)| mq.topic == topic)
            .collect();
        format!(
            r#"{{"consumerTable":{{}},"messageQueueTable":{}}}"#,
            queue_keyed_map(table.iter().map(|(mq, o)| (mq, o.to_string())))
        )
    }

    /// Notes that `offset` of `mq` is on the broker now.
    pub(crate) fn persisted(&self, mq: &MessageQueue, offset: i64) {
        if let Some(e) = self.lock().get_mut(mq) {
            e.persisted = Some(offset);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increase_only_updates_and_dirty_tracking() {
        let store = OffsetStore::default();
        let mq = MessageQueue::new("T", "b", 0);
        store.loaded(&mq, 5);
        assert!(store.dirty().is_empty());
        store.update(&mq, 7, true);
        store.update(&mq, 6, true);
        assert_eq!(store.read(&mq), Some(7));
        assert_eq!(store.dirty(), vec![(mq.clone(), 7)]);
        store.persisted(&mq, 7);
        assert!(store.dirty().is_empty());
        store.update(&mq, 3, false);
        assert_eq!(store.read(&mq), Some(3));
        store.update(&mq, -1, false);
        assert_eq!(store.read(&mq), Some(3));
        store.remove(&mq);
        assert_eq!(store.read(&mq), None);
    }
}
