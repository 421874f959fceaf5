//! `rmq bench consume`: one push consumer drains a backlog or follows a live stream.
//!
//! The warm-up starts with the first message handled, so the consumer's start and the
//! group's first rebalance are never measured; it ends after `--warmup-ms` or
//! `--warmup-messages`, and the measured phase starts there (without a warm-up: at the first
//! message). Latency per message is end to end, handler time minus the message's born
//! timestamp (the producer's clock, ms resolution): meaningful for a live stream, and as
//! large as the backlog is old when draining one. Messages handled after the measured phase
//! are acknowledged but not counted.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use rmq::{ConsumeFrom, ConsumeResult, PushConsumer};
use serde_json::Value;

use super::progress::Progress;
use super::report::{Latencies, Report};
use super::{process, usage, Limit, RunArgs, RunPlan};

/// Most handler calls at once (the consumer's own limit).
const MAX_CONCURRENCY: u64 = 1000;

/// How often the run checks its clock (a `--duration` end when no message comes, the
/// timeout, Ctrl-C) and refreshes the progress line.
const TICK: Duration = Duration::from_millis(20);

/// Arguments of `rmq bench consume`.
#[derive(Args, Debug)]
pub(crate) struct ConsumeArgs {
    /// Topic to consume (every tag).
    #[arg(long)]
    topic: String,
    /// Consumer group: a new group starts at the first offset of every queue, a known one
    /// where it stopped.
    #[arg(long)]
    group: String,
    #[command(flatten)]
    run: RunArgs,
    /// Handler calls at once (the consumer's `consume_concurrency`, 1 to 1000).
    #[arg(long, default_value_t = 20)]
    concurrency: u64,
    /// Give up after this many seconds if the run has not ended by then (exit 1; what was
    /// measured so far is still reported).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
}

/// Where the run is.
#[derive(Debug, Clone, Copy)]
enum Stage {
    /// Nothing handled yet: the consumer starts, the group rebalances.
    Waiting,
    /// Handling the warm-up: until `until`, or `left` more messages.
    WarmingUp { until: Instant, left: u64 },
    /// Counting, since `since`, until `until` (`--duration`) or the count.
    Measuring {
        since: Instant,
        cpu: Option<Duration>,
        until: Option<Instant>,
    },
    /// The measured phase is over.
    Done {
        elapsed: Duration,
        cpu: Option<Duration>,
    },
}

/// What the handler saw, behind one mutex (one short lock per handler call).
#[derive(Debug)]
struct State {
    plan: RunPlan,
    stage: Stage,
    latencies: Latencies,
    messages: u64,
    warmup_messages: u64,
}

impl State {
    fn new(plan: RunPlan) -> Result<Self> {
        Ok(Self {
            plan,
            stage: Stage::Waiting,
            latencies: Latencies::new()?,
            messages: 0,
            warmup_messages: 0,
        })
    }

    /// One message born at `born_ms` (epoch ms) handled at `now` (`now_us`: the wall clock,
    /// epoch µs).
    fn on_message(&mut self, born_ms: i64, now: Instant, now_us: i64) {
        if matches!(self.stage, Stage::Waiting) {
            self.stage = match self.plan.warmup {
                Some(w) => Stage::WarmingUp {
                    until: now + w.time,
                    left: w.messages,
                },
                None => self.measuring(now),
            };
        }
        self.tick(now);
        match self.stage {
            Stage::WarmingUp { until, left } => {
                self.warmup_messages += 1;
                self.stage = if left > 1 {
                    Stage::WarmingUp {
                        until,
                        left: left - 1,
                    }
                } else {
                    self.measuring(now)
                };
            }
            Stage::Measuring { .. } => {
                let latency_us = now_us.saturating_sub(born_ms.saturating_mul(1000));
                self.latencies
                    .record_us(u64::try_from(latency_us).unwrap_or(0));
                self.messages += 1;
                if matches!(self.plan.limit, Limit::Count(n) if self.messages >= n) {
                    self.finish(now);
                }
            }
            Stage::Waiting | Stage::Done { .. } => {}
        }
    }

    /// Moves on by the clock alone: a warm-up whose time is up, a `--duration` that ended.
    fn tick(&mut self, now: Instant) {
        match self.stage {
            Stage::WarmingUp { until, .. } if now >= until => self.stage = self.measuring(now),
            Stage::Measuring {
                until: Some(until), ..
            } if now >= until => self.finish(until),
            _ => {}
        }
    }

    fn measuring(&self, now: Instant) -> Stage {
        Stage::Measuring {
            since: now,
            cpu: process::cpu_time(),
            until: match self.plan.limit {
                Limit::Duration(d) => Some(now + d),
                Limit::Count(_) => None,
            },
        }
    }

    /// Ends the measured phase at `end`, if it runs.
    fn finish(&mut self, end: Instant) {
        if let Stage::Measuring { since, cpu, .. } = self.stage {
            self.stage = Stage::Done {
                elapsed: end.saturating_duration_since(since),
                cpu: process::cpu_time()
                    .zip(cpu)
                    .map(|(after, before)| after.saturating_sub(before)),
            };
        }
    }

    /// Name of the stage for the progress line, and its count.
    fn progress(&self) -> (&'static str, u64) {
        match self.stage {
            Stage::Waiting => ("waiting", 0),
            Stage::WarmingUp { .. } => ("warm-up", self.warmup_messages),
            Stage::Measuring { .. } | Stage::Done { .. } => ("measuring", self.messages),
        }
    }
}

/// Why the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Done,
    TimedOut,
    Interrupted,
}

/// Runs `rmq bench consume`.
pub(crate) async fn run(args: &ConsumeArgs, common: &crate::Common) -> Result<()> {
    let plan = args.run.plan()?;
    if !(1..=MAX_CONCURRENCY).contains(&args.concurrency) {
        return Err(usage(format!(
            "--concurrency must be 1 to {MAX_CONCURRENCY}, not {}",
            args.concurrency
        ))
        .into());
    }
    let client = crate::client_config(common)?;
    let state = Arc::new(Mutex::new(State::new(plan)?));
    let handler_state = Arc::clone(&state);
    let started = Instant::now();
    let consumer = PushConsumer::builder(&args.group)
        .client(client)
        .subscribe(args.topic.as_str(), "*")
        .consume_from(ConsumeFrom::FirstOffset)
        .consume_concurrency(args.concurrency as usize)
        .shutdown_timeout(Duration::from_secs(1))
        .handler(move |messages, _context| {
            let (now, now_us) = (Instant::now(), process::epoch_us());
            let mut state = handler_state.lock().unwrap_or_else(PoisonError::into_inner);
            for m in &messages {
                state.on_message(m.born_timestamp, now, now_us);
            }
            std::future::ready(ConsumeResult::Success)
        })
        .start()
        .await
        .context("start consumer")?;

    let deadline = args
        .timeout
        .map(|s| started + Duration::from_secs(s.min(super::MAX_DURATION_S)));
    let end = follow(&state, deadline).await;
    let report = measured(&state, end);
    consumer.shutdown().await;
    let report = report?;
    if common.json {
        let details: Vec<(&'static str, Value)> = vec![
            ("kind", "consume".into()),
            ("topic", args.topic.as_str().into()),
            ("group", args.group.as_str().into()),
            ("concurrency", args.concurrency.into()),
        ];
        println!("{}", report.to_json(details));
    } else {
        report.print_text(
            &format!("consume {} in group {}", args.topic, args.group),
            "end-to-end latency, born to handled",
        );
    }
    match end {
        End::Done => Ok(()),
        End::Interrupted => bail!("interrupted after {} messages", report.messages),
        End::TimedOut => {
            let of = match plan.limit {
                Limit::Count(n) => format!(" of {n}"),
                Limit::Duration(_) => String::new(),
            };
            bail!(
                "timed out after {} s: {}{of} messages measured",
                args.timeout.unwrap_or_default(),
                report.messages
            )
        }
    }
}

/// Ends the measured phase now, if it still runs (timeout, Ctrl-C), and takes its figures;
/// an error when it never began.
fn measured(state: &Mutex<State>, end: End) -> Result<Report> {
    let peak_rss_kb = process::peak_rss_kb();
    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    state.finish(Instant::now());
    let Stage::Done { elapsed, cpu } = state.stage else {
        let (stage, n) = state.progress();
        let how = match end {
            End::Interrupted => "interrupted",
            End::Done | End::TimedOut => "timed out",
        };
        bail!("{how} before the measured phase began ({stage}: {n} messages handled)");
    };
    Ok(Report {
        messages: state.messages,
        failed: 0,
        elapsed,
        latencies: std::mem::replace(&mut state.latencies, Latencies::new()?),
        cpu,
        peak_rss_kb,
        warmup_messages: state.warmup_messages,
    })
}

/// Waits for the end of the run (the count, the duration, the timeout or Ctrl-C), keeping
/// the progress line and the clock-driven stages up to date.
async fn follow(state: &Mutex<State>, deadline: Option<Instant>) -> End {
    let progress = Progress::on_stderr();
    let mut shown = "";
    let mut tick = tokio::time::interval(TICK);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let end = loop {
        tokio::select! {
            // Where no handler can be installed, Ctrl-C just ends the process.
            Ok(()) = &mut ctrl_c => break End::Interrupted,
            _ = tick.tick() => {}
        }
        let now = Instant::now();
        let (n, done) = {
            let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
            state.tick(now);
            let (stage, n) = state.progress();
            let total = match (stage, state.plan.limit, state.plan.warmup) {
                ("measuring", Limit::Count(n), _) => Some(n),
                ("warm-up", _, Some(w)) => Some(w.messages),
                _ => None,
            };
            if stage != shown {
                progress.phase(stage, total);
                shown = stage;
            }
            (n, matches!(state.stage, Stage::Done { .. }))
        };
        progress.update(n, 0);
        if done {
            break End::Done;
        }
        if deadline.is_some_and(|d| now >= d) {
            break End::TimedOut;
        }
    };
    progress.finish();
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Warmup;

    fn state(limit: Limit, warmup: Option<(u64, u64)>) -> State {
        State::new(RunPlan {
            limit,
            warmup: warmup.map(|(ms, messages)| Warmup {
                time: Duration::from_millis(ms),
                messages,
            }),
        })
        .unwrap()
    }

    #[test]
    fn the_warmup_counts_its_messages_then_the_count_ends_the_run() {
        let mut s = state(Limit::Count(3), Some((60_000, 2)));
        let t0 = Instant::now();
        let now_us = 1_700_000_000_000_000;
        for i in 0..10 {
            s.on_message(
                1_700_000_000_000,
                t0 + Duration::from_millis(i),
                now_us + 1500,
            );
        }
        assert_eq!(s.warmup_messages, 2);
        assert_eq!(s.messages, 3);
        assert_eq!(s.latencies.max_us(), 1500);
        let Stage::Done { elapsed, .. } = s.stage else {
            panic!("{:?}", s.stage)
        };
        // Measuring began after the 2nd message (t0 + 1 ms) and ended with the 5th (t0 + 4 ms).
        assert_eq!(elapsed, Duration::from_millis(3));
    }

    #[test]
    fn the_warmup_ends_by_time_and_a_duration_ends_by_the_clock() {
        let mut s = state(Limit::Duration(Duration::from_secs(1)), Some((100, 1000)));
        let t0 = Instant::now();
        s.on_message(0, t0, 0);
        s.tick(t0 + Duration::from_millis(50));
        assert!(matches!(s.stage, Stage::WarmingUp { .. }));
        s.tick(t0 + Duration::from_millis(100));
        assert!(matches!(s.stage, Stage::Measuring { .. }));
        s.on_message(0, t0 + Duration::from_millis(500), 0);
        s.tick(t0 + Duration::from_millis(1200));
        let Stage::Done { elapsed, .. } = s.stage else {
            panic!("{:?}", s.stage)
        };
        assert_eq!(elapsed, Duration::from_secs(1));
        assert_eq!((s.warmup_messages, s.messages), (1, 1));
        // Late messages are not counted.
        s.on_message(0, t0 + Duration::from_millis(1300), 0);
        assert_eq!(s.messages, 1);
    }

    #[test]
    fn without_a_warmup_the_first_message_is_measured() {
        let mut s = state(Limit::Count(2), None);
        let t0 = Instant::now();
        s.on_message(0, t0, -5);
        assert_eq!(s.messages, 1);
        assert_eq!(
            s.latencies.max_us(),
            0,
            "a clock behind the producer's counts as 0"
        );
        assert!(matches!(s.stage, Stage::Measuring { .. }));
    }
}
