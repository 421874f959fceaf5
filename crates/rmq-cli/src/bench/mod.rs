//! `rmq bench produce` and `rmq bench consume`: throughput, latency and client cost of this
//! client against real brokers.
//!
//! Every run has a warm-up (route lookups, connections, the brokers' and our own caches
//! settling) that is left out of every figure, then a measured phase of `--count` messages or
//! `--duration` seconds. The report gives messages, failures, messages per second, latency
//! percentiles in µs (HdrHistogram, 3 significant digits), the CPU time of this process
//! during the measured phase and its peak RSS; `--json` prints it as one JSON object.

use std::time::Duration;

use clap::{Args, Subcommand};

use crate::UsageError;

mod consume;
mod process;
mod produce;
mod progress;
mod report;

/// Longest `--duration` (30 days): long soaks are fine, but a deadline must stay a valid time.
const MAX_DURATION_S: u64 = 30 * 24 * 3600;

/// Longest warm-up (one hour).
const MAX_WARMUP_MS: u64 = 3_600_000;

/// `rmq bench …`.
#[derive(Subcommand, Debug)]
pub(crate) enum BenchCommand {
    /// Send generated messages with one producer as fast as `--concurrency` allows, then
    /// report throughput, send latency and client cost (`[Complete] …` as Java's benchmark).
    Produce(produce::ProduceArgs),
    /// Consume a topic with a push consumer (from the first offset for a new group), then
    /// report throughput, end-to-end latency and client cost.
    Consume(consume::ConsumeArgs),
}

/// How long a run measures, and its warm-up (flags shared by both benchmarks).
#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// Measure this many messages (after the warm-up).
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Measure for this many seconds (after the warm-up).
    #[arg(long, value_name = "SECONDS")]
    duration: Option<u64>,
    /// Warm-up before measuring, in ms: it ends after this time or after
    /// `--warmup-messages`, whichever comes first; 0 for none.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    warmup_ms: u64,
    /// The warm-up ends after at most this many messages; 0 for none.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    warmup_messages: u64,
}

/// What ends the measured phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// After this many messages.
    Count(u64),
    /// After this long.
    Duration(Duration),
}

impl Limit {
    /// The message count, for a progress bar.
    fn count(self) -> Option<u64> {
        match self {
            Self::Count(n) => Some(n),
            Self::Duration(_) => None,
        }
    }
}

/// The warm-up: until `time` passed or `messages` were done, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Warmup {
    time: Duration,
    messages: u64,
}

/// The validated [`RunArgs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RunPlan {
    limit: Limit,
    /// `None`: no warm-up.
    warmup: Option<Warmup>,
}

impl RunArgs {
    /// Checks the flags: exactly one of `--count` and `--duration`, each at least 1.
    fn plan(&self) -> Result<RunPlan, UsageError> {
        let limit = match (self.count, self.duration) {
            (Some(_), Some(_)) => {
                return Err(usage("give --count or --duration, not both"));
            }
            (None, None) => {
                return Err(usage(
                    "say how long to measure: --count N (messages) or --duration SECONDS",
                ));
            }
            (Some(0), None) => return Err(usage("--count must be at least 1")),
            (Some(n), None) => Limit::Count(n),
            (None, Some(s)) if s == 0 || s > MAX_DURATION_S => {
                return Err(usage(format!(
                    "--duration must be 1 to {MAX_DURATION_S} seconds, not {s}"
                )));
            }
            (None, Some(s)) => Limit::Duration(Duration::from_secs(s)),
        };
        if self.warmup_ms > MAX_WARMUP_MS {
            return Err(usage(format!(
                "--warmup-ms must be at most {MAX_WARMUP_MS}, not {}",
                self.warmup_ms
            )));
        }
        let warmup = (self.warmup_ms > 0 && self.warmup_messages > 0).then(|| Warmup {
            time: Duration::from_millis(self.warmup_ms),
            messages: self.warmup_messages,
        });
        Ok(RunPlan { limit, warmup })
    }
}

fn usage(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

/// Runs `rmq bench …`.
pub(crate) async fn run(command: BenchCommand, common: &crate::Common) -> anyhow::Result<()> {
    match command {
        BenchCommand::Produce(args) => produce::run(&args, common).await,
        BenchCommand::Consume(args) => consume::run(&args, common).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(count: Option<u64>, duration: Option<u64>) -> RunArgs {
        RunArgs {
            count,
            duration,
            warmup_ms: 1000,
            warmup_messages: 1000,
        }
    }

    #[test]
    fn exactly_one_limit_of_at_least_one() {
        assert_eq!(args(Some(5), None).plan().unwrap().limit, Limit::Count(5));
        assert_eq!(
            args(None, Some(2)).plan().unwrap().limit,
            Limit::Duration(Duration::from_secs(2))
        );
        for bad in [
            args(Some(5), Some(2)),
            args(None, None),
            args(Some(0), None),
            args(None, Some(0)),
            args(None, Some(MAX_DURATION_S + 1)),
        ] {
            assert!(bad.plan().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_zero_warmup_limit_means_none() {
        let mut a = args(Some(1), None);
        assert_eq!(
            a.plan().unwrap().warmup,
            Some(Warmup {
                time: Duration::from_secs(1),
                messages: 1000
            })
        );
        a.warmup_ms = 0;
        assert_eq!(a.plan().unwrap().warmup, None);
        a.warmup_ms = 10;
        a.warmup_messages = 0;
        assert_eq!(a.plan().unwrap().warmup, None);
        a.warmup_ms = MAX_WARMUP_MS + 1;
        assert!(a.plan().is_err());
    }
}
