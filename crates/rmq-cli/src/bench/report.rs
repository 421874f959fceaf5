//! The figures of a run: a latency histogram and the final report, as text or one JSON object.

use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;
use serde_json::{Map, Value};

/// Largest latency told apart, in µs (one hour); longer ones count as one hour. Sends end at
/// their timeout (3 s by default), so only a consumer reading a very old backlog gets there.
const MAX_TRACKED_US: u64 = 3_600_000_000;

/// Latencies in µs, with 3 significant digits (HdrHistogram), and their exact sum for the
/// mean the Java benchmark prints.
#[derive(Debug)]
pub(crate) struct Latencies {
    histogram: Histogram<u64>,
    sum_us: u128,
}

impl Latencies {
    /// An empty histogram of 1 µs to one hour.
    pub(crate) fn new() -> anyhow::Result<Self> {
        Ok(Self {
            histogram: Histogram::new_with_bounds(1, MAX_TRACKED_US, 3)
                .context("latency histogram")?,
            sum_us: 0,
        })
    }

    /// Records one latency.
    pub(crate) fn record(&mut self, latency: Duration) {
        self.record_us(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    /// Records one latency given in µs; above one hour it counts as one hour.
    pub(crate) fn record_us(&mut self, us: u64) {
        let us = us.min(MAX_TRACKED_US);
        self.histogram.saturating_record(us);
        self.sum_us += u128::from(us);
    }

    /// Latencies recorded.
    pub(crate) fn len(&self) -> u64 {
        self.histogram.len()
    }

    /// The latency at quantile `q` (0 when nothing was recorded).
    fn quantile_us(&self, q: f64) -> u64 {
        if self.histogram.is_empty() {
            0
        } else {
            self.histogram.value_at_quantile(q)
        }
    }

    /// The exact mean in µs (0 when nothing was recorded).
    pub(crate) fn mean_us(&self) -> f64 {
        match self.len() {
            0 => 0.0,
            n => self.sum_us as f64 / n as f64,
        }
    }

    /// The largest latency recorded, in µs.
    pub(crate) fn max_us(&self) -> u64 {
        self.histogram.max()
    }
}

/// What a run measured, after its warm-up.
#[derive(Debug)]
pub(crate) struct Report {
    /// Messages acknowledged by the broker (produce; one-way: written) or handled (consume).
    pub(crate) messages: u64,
    /// Messages whose send failed.
    pub(crate) failed: u64,
    /// Length of the measured phase.
    pub(crate) elapsed: Duration,
    /// Per send call (produce) or per message (consume).
    pub(crate) latencies: Latencies,
    /// CPU time of the process during the measured phase.
    pub(crate) cpu: Option<Duration>,
    /// Peak RSS of the process at the end, in kB.
    pub(crate) peak_rss_kb: Option<u64>,
    /// Messages of the warm-up (excluded from everything else).
    pub(crate) warmup_messages: u64,
}

impl Report {
    /// Messages per second over the measured phase (0 for an empty phase).
    pub(crate) fn tps(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.messages as f64 / seconds
        } else {
            0.0
        }
    }

    /// CPU µs per message handled or acknowledged.
    fn cpu_us_per_msg(&self) -> Option<f64> {
        let cpu = self.cpu?;
        (self.messages > 0).then(|| cpu.as_secs_f64() * 1e6 / self.messages as f64)
    }

    /// The one JSON object of `--json`: the fixed fields first, in a fixed order, then
    /// `details` (what was run).
    pub(crate) fn to_json(&self, details: Vec<(&'static str, Value)>) -> Value {
        let l = &self.latencies;
        let mut doc = Map::new();
        doc.insert("messages".into(), self.messages.into());
        doc.insert("failed".into(), self.failed.into());
        doc.insert(
            "elapsed_s".into(),
            round(self.elapsed.as_secs_f64(), 3).into(),
        );
        doc.insert("tps".into(), round(self.tps(), 1).into());
        doc.insert("p50_us".into(), l.quantile_us(0.50).into());
        doc.insert("p90_us".into(), l.quantile_us(0.90).into());
        doc.insert("p99_us".into(), l.quantile_us(0.99).into());
        doc.insert("p999_us".into(), l.quantile_us(0.999).into());
        doc.insert("max_us".into(), l.max_us().into());
        doc.insert(
            "cpu_s".into(),
            self.cpu.map(|c| round(c.as_secs_f64(), 3)).into(),
        );
        doc.insert(
            "cpu_us_per_msg".into(),
            self.cpu_us_per_msg().map(|c| round(c, 2)).into(),
        );
        doc.insert("peak_rss_kb".into(), self.peak_rss_kb.into());
        doc.insert("mean_us".into(), round(l.mean_us(), 1).into());
        doc.insert("warmup_messages".into(), self.warmup_messages.into());
        for (key, value) in details {
            doc.insert(key.into(), value);
        }
        Value::Object(doc)
    }

    /// The text report: `title` line, then throughput, latency and cost, one line each.
    pub(crate) fn print_text(&self, title: &str, latency_name: &str) {
        let l = &self.latencies;
        println!(
            "{title}: {} messages, {} failed in {:.3} s: {:.0} msg/s",
            self.messages,
            self.failed,
            self.elapsed.as_secs_f64(),
            self.tps()
        );
        println!(
            "{latency_name} (µs): p50 {} | p90 {} | p99 {} | p99.9 {} | max {} | mean {:.1}",
            l.quantile_us(0.50),
            l.quantile_us(0.90),
            l.quantile_us(0.99),
            l.quantile_us(0.999),
            l.max_us(),
            l.mean_us()
        );
        let cpu = match (self.cpu, self.cpu_us_per_msg()) {
            (Some(cpu), Some(per_msg)) => {
                format!("{:.2} s ({per_msg:.1} µs/msg)", cpu.as_secs_f64())
            }
            (Some(cpu), None) => format!("{:.2} s", cpu.as_secs_f64()),
            (None, _) => "unknown".into(),
        };
        let rss = self
            .peak_rss_kb
            .map_or_else(|| "unknown".into(), |kb| format!("{kb} kB"));
        println!(
            "client: cpu {cpu}, peak rss {rss}; warm-up {} messages (not counted)",
            self.warmup_messages
        );
    }
}

/// `value` rounded to `decimals` places, so the JSON shows no float noise.
fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(messages: u64, elapsed: Duration, latencies_us: &[u64]) -> Report {
        let mut latencies = Latencies::new().unwrap();
        for us in latencies_us {
            latencies.record_us(*us);
        }
        Report {
            messages,
            failed: 1,
            elapsed,
            latencies,
            cpu: Some(Duration::from_millis(250)),
            peak_rss_kb: Some(9216),
            warmup_messages: 7,
        }
    }

    #[test]
    fn json_has_every_field_in_order_then_the_details() {
        let r = report(1000, Duration::from_millis(500), &[100, 200, 300, 4000]);
        let doc = r.to_json(vec![("mode", "sync".into())]);
        let keys: Vec<&str> = doc
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "messages",
                "failed",
                "elapsed_s",
                "tps",
                "p50_us",
                "p90_us",
                "p99_us",
                "p999_us",
                "max_us",
                "cpu_s",
                "cpu_us_per_msg",
                "peak_rss_kb",
                "mean_us",
                "warmup_messages",
                "mode"
            ]
        );
        assert_eq!(doc["tps"], 2000.0);
        assert_eq!(doc["p50_us"], 200);
        assert_eq!(
            doc["max_us"], 4001,
            "3 significant digits: 4000 is kept as 4001"
        );
        assert_eq!(doc["cpu_us_per_msg"], 250.0);
        assert_eq!(doc["mean_us"], 1150.0);
    }

    #[test]
    fn an_empty_run_has_zeros_not_nan() {
        let mut r = report(0, Duration::ZERO, &[]);
        r.cpu = None;
        let doc = r.to_json(Vec::new());
        assert_eq!(doc["tps"], 0.0);
        assert_eq!(doc["p99_us"], 0);
        assert_eq!(doc["mean_us"], 0.0);
        assert!(doc["cpu_s"].is_null() && doc["cpu_us_per_msg"].is_null());
    }

    #[test]
    fn latencies_past_an_hour_saturate() {
        let mut l = Latencies::new().unwrap();
        l.record(Duration::from_secs(7200));
        assert_eq!(l.len(), 1);
        assert!(l.max_us() >= MAX_TRACKED_US && l.max_us() < MAX_TRACKED_US + MAX_TRACKED_US / 100);
    }
}
