//! Where a producer may send: [`MessageQueue`] and [`TopicPublishInfo`].

use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use crate::protocol::{TopicRouteData, MASTER_ID};

/// One queue of a topic on one broker (Java `MessageQueue`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[non_exhaustive]
pub struct MessageQueue {
    /// Topic (without namespace when shown to users).
    pub topic: String,
    /// Broker name.
    pub broker_name: String,
    /// Queue id on that broker.
    pub queue_id: i32,
}

impl MessageQueue {
    /// The queue `queue_id` of `topic` on the broker named `broker_name`.
    pub fn new(topic: impl Into<String>, broker_name: impl Into<String>, queue_id: i32) -> Self {
        Self {
            topic: topic.into(),
            broker_name: broker_name.into(),
            queue_id,
        }
    }
}

/// The readable queues of `topic` in `route`, sorted (Java `topicRouteData2TopicSubscribeInfo`):
/// `0..readQueueNums` of every broker whose queue data is readable, master or not.
pub fn subscribe_queues(topic: &str, route: &TopicRouteData) -> Vec<MessageQueue> {
    let mut queues: Vec<MessageQueue> = route
        .queue_datas
        .iter()
        .filter(|q| q.perm.is_readable())
        .flat_map(|q| (0..q.read_queue_nums).map(|i| MessageQueue::new(topic, q.broker_name.clone(), i)))
        .collect();
    queues.sort();
    queues.dedup();
    queues
}

/// The writable queues of a topic, built from its route (`TopicPublishInfo`).
#[derive(Debug, Default)]
pub struct TopicPublishInfo {
    /// The topic is ordered (the name server has an `orderTopicConf` for it).
    pub order_topic: bool,
    /// Writable queues on brokers that have a master, sorted by broker name.
    pub queues: Vec<MessageQueue>,
    /// The route they came from, `None` until the name server knew the topic.
    pub route: Option<TopicRouteData>,
    next: AtomicUsize,
}

impl TopicPublishInfo {
    /// Builds the publish info of `topic` from `route` (`topicRouteData2TopicPublishInfo`):
    /// from `orderTopicConf` when present, else one queue per write queue of every writable
    /// broker that has a master (id 0). The counts were checked against
    /// [`MAX_QUEUES_PER_BROKER`](crate::protocol::MAX_QUEUES_PER_BROKER) when the route was
    /// parsed; a negative count gives no queue.
    pub fn from_route(topic: &str, route: &TopicRouteData) -> Self {
        let mut queues = Vec::new();
        let order_queues = route.order_topic_queues();
        if !order_queues.is_empty() {
            for (broker, n) in &order_queues {
                queues.extend((0..*n).map(|i| MessageQueue {
                    topic: topic.to_string(),
                    broker_name: (*broker).to_string(),
                    queue_id: i,
                }));
            }
        } else {
            let mut datas: Vec<_> = route.queue_datas.iter().collect();
            datas.sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
            for q in datas {
                if !q.perm.is_writeable() {
                    continue;
                }
                let has_master = route.broker_datas.iter().any(|b| {
                    b.broker_name == q.broker_name && b.broker_addrs.contains_key(&MASTER_ID)
                });
                if !has_master {
                    continue;
                }
                queues.extend((0..q.write_queue_nums).map(|i| MessageQueue {
                    topic: topic.to_string(),
                    broker_name: q.broker_name.clone(),
                    queue_id: i,
                }));
            }
        }
        Self {
            order_topic: !order_queues.is_empty(),
            queues,
            route: Some(route.clone()),
            next: AtomicUsize::new(start_index()),
        }
    }

    /// The next round-robin start index (for selection strategies outside this type).
    pub fn next_index(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether there is at least one queue to send to.
    pub fn ok(&self) -> bool {
        !self.queues.is_empty()
    }

    /// The next queue round-robin, avoiding `avoid_broker` when another broker has queues.
    pub fn select_queue(&self, avoid_broker: Option<&str>) -> Option<&MessageQueue> {
        if self.queues.is_empty() {
            return None;
        }
        let n = self.queues.len();
        if let Some(avoid) = avoid_broker {
            for _ in 0..n {
                let q = &self.queues[self.next.fetch_add(1, Ordering::Relaxed) % n];
                if q.broker_name != avoid {
                    return Some(q);
                }
            }
        }
        Some(&self.queues[self.next.fetch_add(1, Ordering::Relaxed) % n])
    }
}

/// A random start so many producers do not all begin on queue 0.
fn start_index() -> usize {
    crate::util::random_below(1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{BrokerData, Perm, QueueData};

    fn route() -> TopicRouteData {
        let qd = |name: &str, n, perm| QueueData {
            broker_name: name.into(),
            read_queue_nums: n,
            write_queue_nums: n,
            perm: Perm(perm),
            topic_sys_flag: 0,
        };
        let bd = |name: &str, ids: &[i64]| BrokerData {
            cluster: "c".into(),
            broker_name: name.into(),
            broker_addrs: ids.iter().map(|id| (*id, format!("{name}:{id}"))).collect(),
            zone_name: None,
        };
        TopicRouteData {
            order_topic_conf: None,
            queue_datas: vec![
                qd("b", 2, 6),
                qd("a", 3, 6),
                qd("ro", 4, 4),
                qd("slaveonly", 4, 6),
            ],
            broker_datas: vec![
                bd("a", &[0]),
                bd("b", &[0, 1]),
                bd("ro", &[0]),
                bd("slaveonly", &[1]),
            ],
            filter_server_table: Default::default(),
        }
    }

    #[test]
    fn writable_master_queues_sorted_by_broker() {
        let info = TopicPublishInfo::from_route("T", &route());
        let names: Vec<_> = info
            .queues
            .iter()
            .map(|q| format!("{}{}", q.broker_name, q.queue_id))
            .collect();
        assert_eq!(names, vec!["a0", "a1", "a2", "b0", "b1"]);
        assert!(!info.order_topic);
    }

    #[test]
    fn order_topic_conf_wins() {
        let mut r = route();
        r.order_topic_conf = Some("x:2;y:1".into());
        let info = TopicPublishInfo::from_route("T", &r);
        assert!(info.order_topic);
        assert_eq!(info.queues.len(), 3);
        assert_eq!(info.queues[2].broker_name, "y");
    }

    #[test]
    fn selection_avoids_the_last_failed_broker() {
        let info = TopicPublishInfo::from_route("T", &route());
        for _ in 0..20 {
            assert_eq!(info.select_queue(Some("a")).unwrap().broker_name, "b");
        }
        let only_a = TopicPublishInfo::from_route(
            "T",
            &TopicRouteData {
                queue_datas: route().queue_datas[1..2].to_vec(),
                ..route()
            },
        );
        assert_eq!(only_a.select_queue(Some("a")).unwrap().broker_name, "a");
        assert!(TopicPublishInfo::default().select_queue(None).is_none());
    }
}
