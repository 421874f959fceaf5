//! Consumer statistics as Java's `ConsumerStatsManager` keeps them, for the `statusTable` of
//! `GET_CONSUMER_RUNNING_INFO` (what `mqadmin consumerStatus` and the dashboard show), plus
//! the `metrics` handles of each topic.
//!
//! Per `<topic>@<group>` there are five items — `PULL_RT`, `PULL_TPS`, `CONSUME_RT`,
//! `CONSUME_OK_TPS`, `CONSUME_FAILED_TPS` — each a running `value` sum and a `times` count
//! (Java `StatsItem`). Every 10 s a sampler snapshots them into a minute window (the last 7
//! snapshots: 60 s), every 10 min into an hour window (7 snapshots: 60 min). A window's figures
//! come from its first and last snapshot: `sum` = value difference, `tps` = sum per second,
//! `avgpt` = sum per call. Recording is two relaxed atomic adds; the windows' locks are taken
//! only by the sampler and by readers.
//!
//! The topics are fixed when the consumer starts (its subscriptions and its retry topic), so
//! the table is built once and never locked.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::metrics::ConsumerTopicMetrics;
use crate::util::now_ms;

/// Period of the minute window's snapshots (`samplingInSeconds`).
pub(crate) const SAMPLE_PERIOD: Duration = Duration::from_secs(10);
/// Snapshots of the minute window between two of the hour window (10 min / 10 s).
const SAMPLES_PER_HOUR_SAMPLE: u64 = 60;
/// Snapshots kept per window: the span of 6 periods (Java keeps `size() <= 7`).
const WINDOW_SNAPSHOTS: usize = 7;
const MINUTE_PERIOD_MS: i64 = 10 * 1000;
const HOUR_PERIOD_MS: i64 = 10 * 60 * 1000;

/// One snapshot of an item's running totals (Java `CallSnapshot`).
#[derive(Debug, Clone, Copy)]
struct CallSnapshot {
    timestamp_ms: i64,
    times: u64,
    value: u64,
}

/// What a window says (Java `StatsSnapshot`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct StatsSnapshot {
    /// Sum of the values added in the window.
    pub(crate) sum: u64,
    /// `sum` per second.
    pub(crate) tps: f64,
    /// `sum` per call.
    pub(crate) avgpt: f64,
    /// Calls in the window.
    pub(crate) times: u64,
}

/// A window of snapshots taken every `period_ms`.
#[derive(Debug)]
struct Window {
    period_ms: i64,
    snapshots: VecDeque<CallSnapshot>,
}

impl Window {
    fn new(period_ms: i64) -> Self {
        Self {
            period_ms,
            snapshots: VecDeque::with_capacity(WINDOW_SNAPSHOTS + 1),
        }
    }

    fn sample(&mut self, now_ms: i64, times: u64, value: u64) {
        if self.snapshots.is_empty() {
            // As Java: the first snapshot gets a zero one period before it, so whatever was
            // counted before the first sampling falls into the first period.
            self.snapshots.push_back(CallSnapshot {
                timestamp_ms: now_ms - self.period_ms,
                times: 0,
                value: 0,
            });
        }
        self.snapshots.push_back(CallSnapshot {
            timestamp_ms: now_ms,
            times,
            value,
        });
        if self.snapshots.len() > WINDOW_SNAPSHOTS {
            self.snapshots.pop_front();
        }
    }

    fn compute(&self) -> StatsSnapshot {
        let (Some(first), Some(last)) = (self.snapshots.front(), self.snapshots.back()) else {
            return StatsSnapshot::default();
        };
        let sum = last.value.saturating_sub(first.value);
        let times = last.times.saturating_sub(first.times);
        let span_ms = last.timestamp_ms - first.timestamp_ms;
        StatsSnapshot {
            sum,
            tps: if span_ms > 0 {
                sum as f64 * 1000.0 / span_ms as f64
            } else {
                0.0
            },
            avgpt: if times > 0 {
                sum as f64 / times as f64
            } else {
                0.0
            },
            times,
        }
    }
}

/// Running totals and their windows (Java `StatsItem`).
#[derive(Debug)]
pub(crate) struct StatsItem {
    value: AtomicU64,
    times: AtomicU64,
    minute: Mutex<Window>,
    hour: Mutex<Window>,
}

impl Default for StatsItem {
    fn default() -> Self {
        Self {
            value: AtomicU64::new(0),
            times: AtomicU64::new(0),
            minute: Mutex::new(Window::new(MINUTE_PERIOD_MS)),
            hour: Mutex::new(Window::new(HOUR_PERIOD_MS)),
        }
    }
}

fn locked(window: &Mutex<Window>) -> std::sync::MutexGuard<'_, Window> {
    window.lock().unwrap_or_else(|e| e.into_inner())
}

impl StatsItem {
    /// Adds `value` over `times` calls (Java `addValue` / `addRTValue`).
    pub(crate) fn add(&self, value: u64, times: u64) {
        self.value.fetch_add(value, Ordering::Relaxed);
        self.times.fetch_add(times, Ordering::Relaxed);
    }

    fn totals(&self) -> (u64, u64) {
        (
            self.times.load(Ordering::Relaxed),
            self.value.load(Ordering::Relaxed),
        )
    }

    /// Snapshot for the minute window (every 10 s).
    pub(crate) fn sample_minute(&self, now_ms: i64) {
        let (times, value) = self.totals();
        locked(&self.minute).sample(now_ms, times, value);
    }

    /// Snapshot for the hour window (every 10 min).
    pub(crate) fn sample_hour(&self, now_ms: i64) {
        let (times, value) = self.totals();
        locked(&self.hour).sample(now_ms, times, value);
    }

    /// The last minute (Java `getStatsDataInMinute`).
    pub(crate) fn in_minute(&self) -> StatsSnapshot {
        locked(&self.minute).compute()
    }

    /// The last hour (Java `getStatsDataInHour`).
    pub(crate) fn in_hour(&self) -> StatsSnapshot {
        locked(&self.hour).compute()
    }
}

/// One `ConsumeStatus` of the running info's `statusTable`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct ConsumeStatus {
    pub(crate) pull_rt: f64,
    pub(crate) pull_tps: f64,
    pub(crate) consume_rt: f64,
    pub(crate) consume_ok_tps: f64,
    pub(crate) consume_failed_tps: f64,
    pub(crate) consume_failed_msgs: u64,
}

impl ConsumeStatus {
    /// The JSON object Java writes (fastjson: fields sorted by name).
    pub(crate) fn to_json(self) -> serde_json::Value {
        json!({
            "consumeFailedMsgs": self.consume_failed_msgs,
            "consumeFailedTPS": self.consume_failed_tps,
            "consumeOKTPS": self.consume_ok_tps,
            "consumeRT": self.consume_rt,
            "pullRT": self.pull_rt,
            "pullTPS": self.pull_tps,
        })
    }
}

/// The items of one `<topic>@<group>`.
#[derive(Debug)]
struct TopicStats {
    pull_rt: StatsItem,
    pull_tps: StatsItem,
    consume_rt: StatsItem,
    consume_ok_tps: StatsItem,
    consume_failed_tps: StatsItem,
    metrics: ConsumerTopicMetrics,
}

impl TopicStats {
    fn items(&self) -> [&StatsItem; 5] {
        [
            &self.pull_rt,
            &self.pull_tps,
            &self.consume_rt,
            &self.consume_ok_tps,
            &self.consume_failed_tps,
        ]
    }
}

/// Statistics of one consumer (Java `ConsumerStatsManager`, for one group).
#[derive(Debug)]
pub(crate) struct ConsumerStats {
    group: String,
    topics: HashMap<String, TopicStats>,
}

impl ConsumerStats {
    /// Statistics for `group` consuming `topics` (wire names, retry topic included).
    pub(crate) fn new<'a>(group: &str, topics: impl IntoIterator<Item = &'a str>) -> Self {
        let topics = topics
            .into_iter()
            .map(|topic| {
                let stats = TopicStats {
                    pull_rt: StatsItem::default(),
                    pull_tps: StatsItem::default(),
                    consume_rt: StatsItem::default(),
                    consume_ok_tps: StatsItem::default(),
                    consume_failed_tps: StatsItem::default(),
                    metrics: ConsumerTopicMetrics::new(group, topic),
                };
                (topic.to_string(), stats)
            })
            .collect();
        Self {
            group: group.to_string(),
            topics,
        }
    }

    /// A pull that found messages: its round trip, and how many messages go to the handler
    /// (Java `incPullRT` on every FOUND, `incPullTPS` when some are left after filtering).
    pub(crate) fn record_pull(&self, topic: &str, rt: Duration, messages: usize) {
        let Some(t) = self.topics.get(topic) else {
            return;
        };
        t.pull_rt.add(millis(rt), 1);
        if messages > 0 {
            t.pull_tps.add(messages as u64, 1);
        }
        t.metrics.pulled(rt, messages);
    }

    /// The duration of a handler call (Java `incConsumeRT`, counted even when the result is
    /// then ignored).
    pub(crate) fn record_consume_rt(&self, topic: &str, rt: Duration) {
        if let Some(t) = self.topics.get(topic) {
            t.consume_rt.add(millis(rt), 1);
        }
    }

    /// The result of a handler call on `messages` messages (Java `incConsumeOKTPS` /
    /// `incConsumeFailedTPS` in `processConsumeResult`), with `rt` for the metrics.
    pub(crate) fn record_consume_result(
        &self,
        topic: &str,
        rt: Duration,
        ok: bool,
        messages: usize,
    ) {
        let Some(t) = self.topics.get(topic) else {
            return;
        };
        let item = if ok {
            &t.consume_ok_tps
        } else {
            &t.consume_failed_tps
        };
        item.add(messages as u64, 1);
        t.metrics.consumed(rt, ok, messages);
    }

    /// Publishes the lag of a queue: `max_offset` from a pull answer minus the consumer's
    /// offset.
    pub(crate) fn record_lag(
        &self,
        mq: &crate::client::MessageQueue,
        max_offset: i64,
        consumer_offset: i64,
    ) {
        crate::metrics::record_lag(
            &self.group,
            &mq.topic,
            &mq.broker_name,
            mq.queue_id,
            (max_offset - consumer_offset).max(0),
        );
    }

    /// Snapshots every item into its minute window, and its hour window when `hour` is set.
    pub(crate) fn sample(&self, now_ms: i64, hour: bool) {
        for t in self.topics.values() {
            for item in t.items() {
                item.sample_minute(now_ms);
                if hour {
                    item.sample_hour(now_ms);
                }
            }
        }
    }

    /// Java `consumeStatus(group, topic)`: the minute's figures (consume RT falls back to
    /// the hour when the minute saw no call), and the failures of the last hour.
    pub(crate) fn consume_status(&self, topic: &str) -> ConsumeStatus {
        let Some(t) = self.topics.get(topic) else {
            return ConsumeStatus::default();
        };
        let mut consume_rt = t.consume_rt.in_minute();
        if consume_rt.sum == 0 {
            consume_rt = t.consume_rt.in_hour();
        }
        ConsumeStatus {
            pull_rt: t.pull_rt.in_minute().avgpt,
            pull_tps: t.pull_tps.in_minute().tps,
            consume_rt: consume_rt.avgpt,
            consume_ok_tps: t.consume_ok_tps.in_minute().tps,
            consume_failed_tps: t.consume_failed_tps.in_minute().tps,
            consume_failed_msgs: t.consume_failed_tps.in_hour().sum,
        }
    }

    /// Samples every 10 s (the hour window every 10 min, both at once to begin with, as
    /// Java's schedules with no initial delay) until `token` is cancelled.
    pub(crate) async fn run_sampler(self: Arc<Self>, token: CancellationToken) {
        let mut ticks = tokio::time::interval(SAMPLE_PERIOD);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut n: u64 = 0;
        loop {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = ticks.tick() => {}
            }
            self.sample(now_ms(), n.is_multiple_of(SAMPLES_PER_HOUR_SAMPLE));
            n += 1;
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "Orders";
    const RETRY: &str = "%RETRY%g";

    fn stats() -> ConsumerStats {
        ConsumerStats::new("g", [T, RETRY])
    }

    /// Samples as the sampler does, from `start` every 10 s, `ticks` times; returns the time
    /// of the last sample.
    fn run_ticks(s: &ConsumerStats, start: i64, first_tick: u64, ticks: u64) -> i64 {
        let mut now = start;
        for n in first_tick..first_tick + ticks {
            now = start + (n - first_tick) as i64 * MINUTE_PERIOD_MS;
            s.sample(now, n.is_multiple_of(SAMPLES_PER_HOUR_SAMPLE));
        }
        now
    }

    #[test]
    fn an_unsampled_or_unknown_topic_reads_zero() {
        let s = stats();
        s.record_pull(T, Duration::from_millis(5), 3);
        assert_eq!(s.consume_status(T), ConsumeStatus::default());
        assert_eq!(s.consume_status("Other"), ConsumeStatus::default());
        // Recording for a topic it does not have is ignored, not a panic.
        s.record_pull("Other", Duration::from_millis(5), 3);
    }

    #[test]
    fn the_minute_window_gives_tps_and_average_rt() {
        let s = stats();
        let start = 1_000_000;
        s.sample(start, true);
        // 10 s later: 4 pulls of 25 ms that brought 120 messages; 3 handler calls.
        for _ in 0..4 {
            s.record_pull(T, Duration::from_millis(25), 30);
        }
        for rt in [10, 20, 30] {
            s.record_consume_rt(T, Duration::from_millis(rt));
        }
        s.record_consume_result(T, Duration::from_millis(10), true, 50);
        s.record_consume_result(T, Duration::from_millis(20), true, 10);
        s.record_consume_result(T, Duration::from_millis(30), false, 2);
        s.sample(start + 10_000, false);
        let status = s.consume_status(T);
        // The window spans the synthetic zero 10 s before the first sample: 20 s.
        assert_eq!(status.pull_rt, 25.0);
        assert_eq!(status.pull_tps, 120.0 / 20.0);
        assert_eq!(status.consume_rt, 20.0);
        assert_eq!(status.consume_ok_tps, 60.0 / 20.0);
        assert_eq!(status.consume_failed_tps, 2.0 / 20.0);
        // The hour window has only its first (zero) sample yet, as in Java's first 10 min.
        assert_eq!(status.consume_failed_msgs, 0);
        // The retry topic is counted apart.
        assert_eq!(s.consume_status(RETRY), ConsumeStatus::default());
    }

    #[test]
    fn the_minute_window_forgets_what_is_older_than_60_s() {
        let s = stats();
        let start = 5_000_000;
        s.sample(start, true);
        s.record_pull(T, Duration::from_millis(40), 600);
        // 6 more samples (60 s): the burst is still inside.
        let now = run_ticks(&s, start + 10_000, 1, 6);
        assert_eq!(now, start + 60_000);
        let status = s.consume_status(T);
        assert_eq!(status.pull_tps, 600.0 / 60.0);
        assert_eq!(status.pull_rt, 40.0);
        // One more: the window is the last 60 s, which saw nothing.
        s.sample(now + 10_000, false);
        let status = s.consume_status(T);
        assert_eq!(status.pull_tps, 0.0);
        assert_eq!(status.pull_rt, 0.0);
    }

    #[test]
    fn consume_rt_falls_back_to_the_hour_and_failures_are_counted_per_hour() {
        let s = stats();
        let start = 9_000_000;
        s.sample(start, true);
        s.record_consume_rt(T, Duration::from_millis(8));
        s.record_consume_rt(T, Duration::from_millis(12));
        s.record_consume_result(T, Duration::from_millis(8), false, 7);
        // 10 minutes of samples: the 60th tick also samples the hour window.
        let now = run_ticks(&s, start + 10_000, 1, 60);
        assert_eq!(now, start + 600_000);
        let status = s.consume_status(T);
        // Nothing in the last minute: consume RT is the hour's average.
        assert_eq!(status.consume_rt, 10.0);
        assert_eq!(status.consume_failed_tps, 0.0);
        assert_eq!(status.consume_failed_msgs, 7);
        // An hour and ten minutes later the failures have left the hour window too.
        run_ticks(&s, now + 10_000, 61, 7 * 60);
        let status = s.consume_status(T);
        assert_eq!(status.consume_failed_msgs, 0);
        assert_eq!(status.consume_rt, 0.0);
    }

    #[test]
    fn status_json_has_java_field_names_in_fastjson_order() {
        let status = ConsumeStatus {
            pull_rt: 1.5,
            pull_tps: 2.0,
            consume_rt: 3.0,
            consume_ok_tps: 4.0,
            consume_failed_tps: 0.5,
            consume_failed_msgs: 6,
        };
        assert_eq!(
            status.to_json().to_string(),
            r#"{"consumeFailedMsgs":6,"consumeFailedTPS":0.5,"consumeOKTPS":4.0,"consumeRT":3.0,"pullRT":1.5,"pullTPS":2.0}"#
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_sampler_samples_every_10_s_and_stops_with_its_token() {
        let s = Arc::new(stats());
        let token = CancellationToken::new();
        let task = tokio::spawn(Arc::clone(&s).run_sampler(token.clone()));
        // The first tick samples at once; the totals recorded after it show after the next.
        tokio::task::yield_now().await;
        s.record_pull(T, Duration::from_millis(3), 10);
        tokio::time::sleep(SAMPLE_PERIOD + Duration::from_millis(1)).await;
        assert_eq!(s.consume_status(T).pull_rt, 3.0);
        token.cancel();
        tokio::time::timeout(Duration::from_secs(1), task)
            .await
            .expect("the sampler ends with its token")
            .unwrap();
    }
}
