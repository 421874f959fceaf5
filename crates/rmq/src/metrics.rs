//! Metrics published through the [`metrics`](https://docs.rs/metrics) facade.
//!
//! The library only records; it has no exporter. Install any `metrics` recorder (Prometheus,
//! StatsD, OpenTelemetry bridges …) in your program **before starting producers and
//! consumers** — a consumer registers its per-topic handles when it starts — and optionally
//! call [`describe`] once to give the recorder the units and help texts below. Without a
//! recorder every call is a no-op: the consumer's hot path only touches handles registered at
//! start, and the rest happens once per send or pull.
//!
//! | name | type | unit | labels | what |
//! |---|---|---|---|---|
//! | `rmq_producer_send_total` | counter | sends | `topic`, `result` (`ok` / `failed`) | sends that passed validation, by outcome (a send with retries counts once; a one-way send counts once it was tried on a queue) |
//! | `rmq_producer_send_latency_seconds` | histogram | seconds | `topic` | time of a whole send, all attempts and the route lookup included |
//! | `rmq_consumer_pulled_messages_total` | counter | messages | `group`, `topic` | messages pulled that match the subscription and go to the handler |
//! | `rmq_consumer_pull_latency_seconds` | histogram | seconds | `group`, `topic` | round trip of a pull that found messages (long polls that found nothing are not timed) |
//! | `rmq_consumer_consumed_messages_total` | counter | messages | `group`, `topic`, `result` (`ok` / `failed`) | messages the handler finished: `ok` for success, `failed` for "later" (and a panic or timeout) |
//! | `rmq_consumer_consume_latency_seconds` | histogram | seconds | `group`, `topic` | one handler call (one batch) |
//! | `rmq_consumer_lag_messages` | gauge | messages | `group`, `topic`, `broker`, `queue` | per owned queue: the broker's max offset (from each pull answer) minus the consumer's offset |
//! | `rmq_trace_dropped_total` | counter | events | — | traced sends and handler calls whose trace records were dropped (message trace buffer full, or recorded after shutdown) |
//!
//! `topic` is the topic as sent on the wire (with the namespace, if any); a consumer's
//! retry topic `%RETRY%<group>` appears as a topic of its own, as in Java's statistics.
//! `queue` is the queue id.

use std::time::Duration;

/// Counter: sends by `topic` and `result`.
pub const PRODUCER_SEND_TOTAL: &str = "rmq_producer_send_total";
/// Histogram (seconds): duration of a whole send, by `topic`.
pub const PRODUCER_SEND_LATENCY: &str = "rmq_producer_send_latency_seconds";
/// Counter: messages pulled for the handler, by `group` and `topic`.
pub const CONSUMER_PULLED_MESSAGES: &str = "rmq_consumer_pulled_messages_total";
/// Histogram (seconds): round trip of pulls that found messages, by `group` and `topic`.
pub const CONSUMER_PULL_LATENCY: &str = "rmq_consumer_pull_latency_seconds";
/// Counter: messages the handler finished, by `group`, `topic` and `result`.
pub const CONSUMER_CONSUMED_MESSAGES: &str = "rmq_consumer_consumed_messages_total";
/// Histogram (seconds): duration of one handler call, by `group` and `topic`.
pub const CONSUMER_CONSUME_LATENCY: &str = "rmq_consumer_consume_latency_seconds";
/// Gauge (messages): broker max offset minus consumer offset per queue, by `group`, `topic`,
/// `broker` and `queue`.
pub const CONSUMER_LAG: &str = "rmq_consumer_lag_messages";
/// Counter: traced events whose records were dropped (message trace buffer full).
pub const TRACE_DROPPED: &str = "rmq_trace_dropped_total";

/// `result` label value of a success.
const OK: &str = "ok";
/// `result` label value of a failure.
const FAILED: &str = "failed";

/// Gives the installed recorder the unit and description of every metric above. Optional;
/// call it once after installing the recorder.
pub fn describe() {
    use ::metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        PRODUCER_SEND_TOTAL,
        Unit::Count,
        "Producer sends by topic and result (ok/failed)"
    );
    describe_histogram!(
        PRODUCER_SEND_LATENCY,
        Unit::Seconds,
        "Duration of a whole send, retries included"
    );
    describe_counter!(
        CONSUMER_PULLED_MESSAGES,
        Unit::Count,
        "Messages pulled for the handler"
    );
    describe_histogram!(
        CONSUMER_PULL_LATENCY,
        Unit::Seconds,
        "Round trip of pulls that found messages"
    );
    describe_counter!(
        CONSUMER_CONSUMED_MESSAGES,
        Unit::Count,
        "Messages the handler finished, by result (ok/failed)"
    );
    describe_histogram!(
        CONSUMER_CONSUME_LATENCY,
        Unit::Seconds,
        "Duration of one handler call"
    );
    describe_gauge!(
        CONSUMER_LAG,
        Unit::Count,
        "Broker max offset minus consumer offset, per queue"
    );
    describe_counter!(
        TRACE_DROPPED,
        Unit::Count,
        "Traced events dropped because the trace buffer was full"
    );
}

fn result_label(ok: bool) -> &'static str {
    if ok {
        OK
    } else {
        FAILED
    }
}

/// Records one finished send (once per send call, whatever the number of attempts).
pub(crate) fn record_send(topic: &str, ok: bool, elapsed: Duration) {
    ::metrics::counter!(PRODUCER_SEND_TOTAL, "topic" => topic.to_string(), "result" => result_label(ok))
        .increment(1);
    ::metrics::histogram!(PRODUCER_SEND_LATENCY, "topic" => topic.to_string())
        .record(elapsed.as_secs_f64());
}

/// Counts one traced event dropped by a message-trace dispatcher.
pub(crate) fn record_trace_dropped() {
    ::metrics::counter!(TRACE_DROPPED).increment(1);
}

/// Records the lag of one queue seen in a pull answer.
pub(crate) fn record_lag(group: &str, topic: &str, broker: &str, queue_id: i32, lag: i64) {
    ::metrics::gauge!(
        CONSUMER_LAG,
        "group" => group.to_string(),
        "topic" => topic.to_string(),
        "broker" => broker.to_string(),
        "queue" => queue_id.to_string()
    )
    .set(lag as f64);
}

/// The handles of one consumer topic, registered once so the consume path does no lookups.
pub(crate) struct ConsumerTopicMetrics {
    pulled: ::metrics::Counter,
    pull_latency: ::metrics::Histogram,
    consumed_ok: ::metrics::Counter,
    consumed_failed: ::metrics::Counter,
    consume_latency: ::metrics::Histogram,
}

impl ConsumerTopicMetrics {
    /// Registers the handles of `topic` in `group` with the installed recorder.
    pub(crate) fn new(group: &str, topic: &str) -> Self {
        let (g, t) = (group.to_string(), topic.to_string());
        Self {
            pulled: ::metrics::counter!(CONSUMER_PULLED_MESSAGES, "group" => g.clone(), "topic" => t.clone()),
            pull_latency: ::metrics::histogram!(CONSUMER_PULL_LATENCY, "group" => g.clone(), "topic" => t.clone()),
            consumed_ok: ::metrics::counter!(CONSUMER_CONSUMED_MESSAGES, "group" => g.clone(), "topic" => t.clone(), "result" => OK),
            consumed_failed: ::metrics::counter!(CONSUMER_CONSUMED_MESSAGES, "group" => g.clone(), "topic" => t.clone(), "result" => FAILED),
            consume_latency: ::metrics::histogram!(CONSUMER_CONSUME_LATENCY, "group" => g, "topic" => t),
        }
    }

    pub(crate) fn pulled(&self, rt: Duration, messages: usize) {
        self.pull_latency.record(rt.as_secs_f64());
        self.pulled.increment(messages as u64);
    }

    pub(crate) fn consumed(&self, rt: Duration, ok: bool, messages: usize) {
        self.consume_latency.record(rt.as_secs_f64());
        if ok {
            self.consumed_ok.increment(messages as u64);
        } else {
            self.consumed_failed.increment(messages as u64);
        }
    }
}

impl std::fmt::Debug for ConsumerTopicMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerTopicMetrics")
            .finish_non_exhaustive()
    }
}
