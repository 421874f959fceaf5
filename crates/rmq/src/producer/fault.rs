//! Latency fault tolerance and fault-aware queue selection, as Java 5.3.3
//! `MQFaultStrategy` / `LatencyFaultToleranceImpl` / `TopicPublishInfo.selectOneMessageQueue`.
//!
//! Pure: no clock inside. Every method that needs the time takes `now`, so tests use synthetic
//! instants.
//!
//! # Isolation
//!
//! After each send attempt the producer reports the broker's latency. The broker becomes
//! unavailable for `notAvailableDuration[i]`, where `i` is the largest index with
//! `latency >= latencyMax[i]` (none: 0, nothing changes). 5.3.3 tables:
//!
//! ```text
//! latencyMax           = {50, 100,  550, 1800, 3000,  5000, 15000} ms
//! notAvailableDuration = { 0,   0, 2000, 5000, 6000, 10000, 30000} ms
//! ```
//!
//! A failed attempt reported with `isolation` counts as a latency of 10 000 ms, so the broker is
//! isolated for 10 s. (4.9.3 used `{50, 100, 550, 1000, 2000, 3000, 15000}` /
//! `{0, 0, 30000, 60000, 120000, 180000, 600000}` and 30 000 ms for isolation, i.e. 600 s.)
//! As in 5.3.3 an isolation is only ever extended, never shortened: a fast success does not end
//! it early (4.9.3 overwrote it).
//!
//! What 5.3.3 reports (`DefaultMQProducerImpl.sendDefaultImpl`), as
//! `(isolation, reachable)`: success, client-side error or interruption `(false, true)`;
//! transport error `(true, true)` (`(true, false)` when the reachability detector runs);
//! broker error response `(true, false)`. Java records nothing when `sendLatencyFaultEnable` is
//! off; with an empty table [`select_queue`] is exactly Java's selection without fault
//! tolerance, so a producer with the feature off simply never calls
//! [`LatencyFaultTolerance::update`].
//!
//! # Reachability
//!
//! 5.3.3 also keeps a `reachable` flag per broker: set by every report, cleared by a broker
//! error response. Java's optional detector (`startDetectorEnable`, off by default) pings
//! unreachable brokers every 3 s to set it again; without it, only the next report does.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::client::MessageQueue;

/// Latency thresholds of Java 5.3.3 `MQFaultStrategy.latencyMax`, in ms.
pub(crate) const LATENCY_MAX_MS: [u64; 7] = [50, 100, 550, 1800, 3000, 5000, 15000];

/// Isolation periods of Java 5.3.3 `MQFaultStrategy.notAvailableDuration`, in ms, one per
/// entry of [`LATENCY_MAX_MS`].
pub(crate) const NOT_AVAILABLE_DURATION_MS: [u64; 7] = [0, 0, 2000, 5000, 6000, 10000, 30000];

/// The latency a failure with isolation counts as (Java 5.3.3: 10 000 ms, giving 10 s).
pub(crate) const ISOLATION_LATENCY_MS: u64 = 10_000;

/// How long a broker with this latency is unavailable (`computeNotAvailableDuration`).
pub(crate) fn not_available_duration(latency: Duration) -> Duration {
    let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    LATENCY_MAX_MS
        .iter()
        .zip(NOT_AVAILABLE_DURATION_MS)
        .rev()
        .find(|(max, _)| ms >= **max)
        .map_or(Duration::ZERO, |(_, d)| Duration::from_millis(d))
}

/// What is known of one broker (Java `FaultItem`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FaultItem {
    /// Latency of the last report.
    latency: Duration,
    /// Unavailable before this instant; `None`: never isolated.
    available_at: Option<Instant>,
    /// Reachable flag of the last report.
    reachable: bool,
}

impl FaultItem {
    fn is_available(&self, now: Instant) -> bool {
        self.available_at.is_none_or(|at| now >= at)
    }
}

/// Per-broker latency and isolation (Java `LatencyFaultToleranceImpl`). Shareable across tasks:
/// every method takes `&self`, a [`Mutex`] inside guards the table.
#[derive(Debug, Default)]
pub(crate) struct LatencyFaultTolerance {
    items: Mutex<HashMap<String, FaultItem>>,
}

impl LatencyFaultTolerance {
    /// An empty table: every broker is available and reachable.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, FaultItem>> {
        // The table stays consistent whatever panicked while holding it.
        self.items.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reports an attempt on `broker` that took `latency`, with `isolation` for a failure
    /// (Java `updateFaultItem(broker, latency, isolation, reachable = true)`).
    pub(crate) fn update(&self, broker: &str, latency: Duration, isolation: bool, now: Instant) {
        self.update_reachable(broker, latency, isolation, true, now);
    }

    /// Reports an attempt with an explicit reachable flag (Java 5.3.3
    /// `updateFaultItem(broker, latency, isolation, reachable)`; `reachable = false` for a
    /// broker error response). The broker becomes unavailable until
    /// `now + not_available_duration(isolation ? 10 s : latency)` unless it already was for
    /// longer.
    pub(crate) fn update_reachable(
        &self,
        broker: &str,
        latency: Duration,
        isolation: bool,
        reachable: bool,
        now: Instant,
    ) {
        let basis = if isolation {
            Duration::from_millis(ISOLATION_LATENCY_MS)
        } else {
            latency
        };
        let duration = not_available_duration(basis);
        let mut items = self.lock();
        let item = items.entry(broker.to_owned()).or_insert(FaultItem {
            latency,
            available_at: None,
            reachable,
        });
        item.latency = latency;
        item.reachable = reachable;
        if !duration.is_zero() {
            // Saturates instead of panicking on absurd instants.
            if let Some(until) = now.checked_add(duration) {
                if item.available_at.is_none_or(|at| until > at) {
                    item.available_at = Some(until);
                }
            }
        }
    }

    #[cfg(test)]
    /// Whether `broker` may be used at `now`: it has no entry, or its isolation is over.
    pub(crate) fn is_available(&self, broker: &str, now: Instant) -> bool {
        self.lock().get(broker).is_none_or(|i| i.is_available(now))
    }

    #[cfg(test)]
    /// Whether `broker` is reachable: it has no entry, or its last report said so.
    pub(crate) fn is_reachable(&self, broker: &str) -> bool {
        self.lock().get(broker).is_none_or(|i| i.reachable)
    }

    #[cfg(test)]
    /// When `broker`'s isolation ends; `None` when it has none (or no entry).
    pub(crate) fn available_at(&self, broker: &str) -> Option<Instant> {
        self.lock().get(broker).and_then(|i| i.available_at)
    }

    #[cfg(test)]
    /// Latency of the last report on `broker`.
    pub(crate) fn latency(&self, broker: &str) -> Option<Duration> {
        self.lock().get(broker).map(|i| i.latency)
    }

    /// The brokers isolated at `now` (unavailable until a later instant), sorted.
    pub(crate) fn unavailable_brokers(&self, now: Instant) -> Vec<String> {
        let mut out: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, i)| !i.is_available(now))
            .map(|(name, _)| name.clone())
            .collect();
        out.sort();
        out
    }

    #[cfg(test)]
    /// Java 5.3.3 `pickOneAtLeast`: a random reachable broker among those with an entry, `None`
    /// when there is none. (5.3.3's selection no longer uses it: [`select_queue`] falls back
    /// to reachable brokers, then to any queue.)
    pub(crate) fn pick_one_at_least(&self) -> Option<String> {
        let items = self.lock();
        let reachable: Vec<&String> = items
            .iter()
            .filter(|(_, i)| i.reachable)
            .map(|(name, _)| name)
            .collect();
        if reachable.is_empty() {
            return None;
        }
        // Java shuffles the candidates and takes the first.
        Some(reachable[crate::util::random_below(reachable.len())].clone())
    }

    #[cfg(test)]
    /// Forgets `broker` (Java `remove`), making it available and reachable.
    pub(crate) fn remove(&self, broker: &str) {
        self.lock().remove(broker);
    }

    #[cfg(test)]
    /// Number of brokers with an entry.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    #[cfg(test)]
    /// Whether no broker has an entry.
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// Picks a queue for a send attempt (Java 5.3.3 `MQFaultStrategy.selectOneMessageQueue` with
/// `sendLatencyFaultEnable`): scanning round-robin from `queues[start_index % len]`, the first
/// queue whose broker is available at `now` and is not `last_broker`; else the first whose
/// broker is reachable and is not `last_broker`; else `queues[start_index % len]`. `None` only
/// when `queues` is empty.
///
/// Java's index advances once per queue looked at, but every pass covers the whole list in the
/// same rotation, so one start index per call gives the same choice. The caller advances
/// `start_index` between calls; Java 5.3.3 also re-seeds it at random before each retry
/// (`resetIndex`).
pub(crate) fn select_queue<'a>(
    queues: &'a [MessageQueue],
    start_index: usize,
    last_broker: Option<&str>,
    fault: &LatencyFaultTolerance,
    now: Instant,
) -> Option<&'a MessageQueue> {
    if queues.is_empty() {
        return None;
    }
    let n = queues.len();
    let start = start_index % n;
    let rotation = || queues[start..].iter().chain(&queues[..start]);
    let not_last = |q: &MessageQueue| last_broker.is_none_or(|b| q.broker_name != b);
    let items = fault.lock();
    let available = |q: &MessageQueue| {
        items
            .get(&q.broker_name)
            .is_none_or(|i| i.is_available(now))
    };
    let reachable = |q: &MessageQueue| items.get(&q.broker_name).is_none_or(|i| i.reachable);
    rotation()
        .find(|q| available(q) && not_last(q))
        .or_else(|| rotation().find(|q| reachable(q) && not_last(q)))
        .or(Some(&queues[start]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn queues(spec: &[(&str, i32)]) -> Vec<MessageQueue> {
        spec.iter()
            .flat_map(|(b, n)| {
                (0..*n).map(move |i| MessageQueue {
                    topic: "T".into(),
                    broker_name: (*b).into(),
                    queue_id: i,
                })
            })
            .collect()
    }

    fn pick(
        qs: &[MessageQueue],
        start: usize,
        last: Option<&str>,
        f: &LatencyFaultTolerance,
        now: Instant,
    ) -> (String, i32) {
        let q = select_queue(qs, start, last, f, now).unwrap();
        (q.broker_name.clone(), q.queue_id)
    }

    #[test]
    fn duration_table_matches_5_3_3() {
        let cases = [
            (0, 0),
            (49, 0),
            (50, 0),
            (100, 0),
            (549, 0),
            (550, 2000),
            (1799, 2000),
            (1800, 5000),
            (3000, 6000),
            (4999, 6000),
            (5000, 10000),
            (10_000, 10000),
            (14_999, 10000),
            (15_000, 30000),
            (u64::MAX, 30000),
        ];
        for (latency, want) in cases {
            assert_eq!(not_available_duration(ms(latency)), ms(want), "{latency}");
        }
        assert_eq!(not_available_duration(Duration::MAX), ms(30000));
        assert_eq!(
            not_available_duration(ms(ISOLATION_LATENCY_MS)),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn isolation_lasts_ten_seconds() {
        let f = LatencyFaultTolerance::new();
        let t0 = Instant::now();
        assert!(f.is_available("a", t0));
        assert!(f.is_empty());
        f.update("a", ms(3), true, t0);
        assert!(!f.is_available("a", t0));
        assert!(!f.is_available("a", t0 + ms(9999)));
        assert!(f.is_available("a", t0 + ms(10_000)));
        assert_eq!(f.available_at("a"), Some(t0 + ms(10_000)));
        assert_eq!(f.latency("a"), Some(ms(3)));
        assert!(f.is_reachable("a"));
        assert!(f.is_available("b", t0));
        assert_eq!(f.len(), 1);
        f.update("c", ms(1), true, t0 + ms(5000));
        f.update("d", ms(1), false, t0);
        assert_eq!(f.unavailable_brokers(t0), vec!["a", "c"]);
        assert_eq!(f.unavailable_brokers(t0 + ms(10_000)), vec!["c"]);
        assert!(f.unavailable_brokers(t0 + ms(15_000)).is_empty());
    }

    #[test]
    fn latency_isolates_per_table() {
        let f = LatencyFaultTolerance::new();
        let t0 = Instant::now();
        f.update("fast", ms(40), false, t0);
        assert!(f.is_available("fast", t0));
        assert_eq!(f.available_at("fast"), None);
        f.update("slow", ms(600), false, t0);
        assert!(!f.is_available("slow", t0 + ms(1999)));
        assert!(f.is_available("slow", t0 + ms(2000)));
        f.update("slower", ms(20_000), false, t0);
        assert!(!f.is_available("slower", t0 + ms(29_999)));
        assert!(f.is_available("slower", t0 + ms(30_000)));
    }

    #[test]
    fn isolation_is_extended_never_shortened() {
        let f = LatencyFaultTolerance::new();
        let t0 = Instant::now();
        f.update("a", ms(20_000), false, t0); // until t0 + 30 s
        f.update("a", ms(1), false, t0 + ms(1)); // success: no change
        assert!(!f.is_available("a", t0 + ms(29_999)));
        assert_eq!(f.latency("a"), Some(ms(1)));
        f.update("a", ms(0), true, t0 + ms(5000)); // until t0 + 15 s: shorter, kept
        assert_eq!(f.available_at("a"), Some(t0 + ms(30_000)));
        f.update("a", ms(0), true, t0 + ms(25_000)); // until t0 + 35 s: longer, taken
        assert_eq!(f.available_at("a"), Some(t0 + ms(35_000)));
        assert!(f.is_available("a", t0 + ms(35_000)));
    }

    #[test]
    fn reachability_and_remove() {
        let f = LatencyFaultTolerance::new();
        let t0 = Instant::now();
        f.update_reachable("a", ms(5), true, false, t0);
        assert!(!f.is_reachable("a"));
        assert!(!f.is_available("a", t0));
        // Availability and reachability are separate: after the isolation, still unreachable.
        assert!(f.is_available("a", t0 + ms(10_000)));
        assert!(!f.is_reachable("a"));
        // Any later report sets the flag again.
        f.update("a", ms(5), false, t0 + ms(10_001));
        assert!(f.is_reachable("a"));
        f.update_reachable("a", ms(5), true, false, t0 + ms(10_002));
        f.remove("a");
        assert!(f.is_reachable("a"));
        assert!(f.is_available("a", t0));
        assert!(f.is_empty());
        f.remove("never");
    }

    #[test]
    fn pick_one_at_least_takes_a_reachable_broker() {
        let f = LatencyFaultTolerance::new();
        let t0 = Instant::now();
        assert_eq!(f.pick_one_at_least(), None);
        f.update_reachable("down", ms(1), true, false, t0);
        assert_eq!(f.pick_one_at_least(), None);
        f.update("a", ms(1), true, t0);
        f.update("b", ms(1), true, t0);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let p = f.pick_one_at_least().unwrap();
            assert!(p == "a" || p == "b");
            seen.insert(p);
        }
        assert_eq!(seen.len(), 2, "random choice among reachable brokers");
    }

    #[test]
    fn selection_with_an_empty_table_is_round_robin() {
        let qs = queues(&[("a", 2), ("b", 2)]);
        let f = LatencyFaultTolerance::new();
        let now = Instant::now();
        assert_eq!(pick(&qs, 0, None, &f, now), ("a".into(), 0));
        assert_eq!(pick(&qs, 1, None, &f, now), ("a".into(), 1));
        assert_eq!(pick(&qs, 2, None, &f, now), ("b".into(), 0));
        assert_eq!(pick(&qs, 7, None, &f, now), ("b".into(), 1));
        assert_eq!(pick(&qs, usize::MAX, None, &f, now), ("b".into(), 1));
        // Avoiding the last broker: the next queue on another broker.
        assert_eq!(pick(&qs, 0, Some("a"), &f, now), ("b".into(), 0));
        assert_eq!(pick(&qs, 3, Some("b"), &f, now), ("a".into(), 0));
        assert_eq!(pick(&qs, 0, Some("zzz"), &f, now), ("a".into(), 0));
        assert!(select_queue(&[], 0, None, &f, now).is_none());
    }

    #[test]
    fn selection_skips_unavailable_brokers() {
        let qs = queues(&[("a", 2), ("b", 2), ("c", 2)]);
        let f = LatencyFaultTolerance::new();
        let t0 = Instant::now();
        f.update("a", ms(1), true, t0);
        for start in 0..6 {
            let (b, _) = pick(&qs, start, None, &f, t0);
            assert_ne!(b, "a", "start {start}");
        }
        assert_eq!(pick(&qs, 0, None, &f, t0), ("b".into(), 0));
        assert_eq!(pick(&qs, 0, Some("b"), &f, t0), ("c".into(), 0));
        // Isolation over: back in rotation.
        assert_eq!(pick(&qs, 0, None, &f, t0 + ms(10_000)), ("a".into(), 0));
        // A slow success (600 ms) isolates for 2 s.
        f.update("b", ms(600), false, t0);
        assert_eq!(pick(&qs, 0, None, &f, t0 + ms(1)), ("c".into(), 0));
        assert_eq!(pick(&qs, 0, None, &f, t0 + ms(2000)), ("b".into(), 0));
    }

    #[test]
    fn selection_falls_back_to_reachable_then_any() {
        let qs = queues(&[("a", 1), ("b", 1), ("c", 1)]);
        let f = LatencyFaultTolerance::new();
        let t0 = Instant::now();
        // All isolated; b unreachable: the reachable pass picks a or c.
        f.update("a", ms(1), true, t0);
        f.update_reachable("b", ms(1), true, false, t0);
        f.update("c", ms(1), true, t0);
        assert_eq!(pick(&qs, 1, None, &f, t0), ("c".into(), 0));
        assert_eq!(pick(&qs, 0, None, &f, t0), ("a".into(), 0));
        assert_eq!(pick(&qs, 0, Some("a"), &f, t0), ("c".into(), 0));
        // Only the last broker is reachable: the final fallback is the start queue.
        f.update_reachable("c", ms(1), true, false, t0);
        assert_eq!(pick(&qs, 0, Some("a"), &f, t0), ("a".into(), 0));
        assert_eq!(pick(&qs, 1, Some("a"), &f, t0), ("b".into(), 0));
        // Availability ignores the reachable flag: b (isolation over, unreachable) is picked.
        let later = t0 + ms(10_000);
        f.update("c", ms(1), false, later);
        f.update("a", ms(1), true, later);
        assert_eq!(pick(&qs, 0, None, &f, later), ("b".into(), 0));
        f.update_reachable("b", ms(1), true, false, later);
        assert_eq!(pick(&qs, 0, None, &f, later), ("c".into(), 0));
    }

    #[test]
    fn single_broker_is_used_even_when_it_was_last_or_down() {
        let qs = queues(&[("only", 4)]);
        let f = LatencyFaultTolerance::new();
        let t0 = Instant::now();
        assert_eq!(pick(&qs, 2, Some("only"), &f, t0), ("only".into(), 2));
        f.update_reachable("only", ms(1), true, false, t0);
        assert_eq!(pick(&qs, 5, None, &f, t0), ("only".into(), 1));
    }

    #[test]
    fn shared_across_threads() {
        let f = std::sync::Arc::new(LatencyFaultTolerance::new());
        let t0 = Instant::now();
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let f = std::sync::Arc::clone(&f);
                std::thread::spawn(move || {
                    for i in 0..500u64 {
                        let broker = format!("b{}", i % 8);
                        f.update(&broker, ms(i), t == 0, t0 + ms(i));
                        let _ = f.is_available(&broker, t0 + ms(i));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(f.len(), 8);
    }
}
