//! The live progress line on stderr: phase, messages so far and messages per second. Drawn
//! only when stderr is a terminal, so pipes, files and tests never see it.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often the line is refreshed from the counters.
const REFRESH: Duration = Duration::from_millis(200);

/// The rate shown is taken over at least this long, so it does not jump with every refresh.
const RATE_WINDOW: Duration = Duration::from_millis(1000);

/// Messages done and failed in the current phase, counted by the senders and read by the
/// progress line (relaxed atomics: the line only needs a recent value).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    done: AtomicU64,
    failed: AtomicU64,
}

impl Counters {
    /// Adds `n` messages that succeeded (`ok`) or failed.
    pub(crate) fn add(&self, n: u64, ok: bool) {
        let counter = if ok { &self.done } else { &self.failed };
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Starts a new phase at zero.
    pub(crate) fn reset(&self) {
        self.done.store(0, Ordering::Relaxed);
        self.failed.store(0, Ordering::Relaxed);
    }

    fn get(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// The progress line, or nothing when stderr is not a terminal.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    rate: Mutex<RateWindow>,
}

/// Where the shown rate was last computed.
#[derive(Debug)]
struct RateWindow {
    since: Instant,
    done_then: u64,
    per_second: Option<f64>,
}

impl RateWindow {
    fn new() -> Self {
        Self {
            since: Instant::now(),
            done_then: 0,
            per_second: None,
        }
    }
}

impl Progress {
    /// A line on stderr when it is a terminal; otherwise every call does nothing.
    pub(crate) fn on_stderr() -> Self {
        let bar = std::io::stderr()
            .is_terminal()
            .then(|| ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()));
        Self {
            bar,
            rate: Mutex::new(RateWindow::new()),
        }
    }

    /// Starts a phase (`warm-up`, `measuring`) at zero; with `total`, as a bar towards it.
    pub(crate) fn phase(&self, name: &'static str, total: Option<u64>) {
        *self.rate.lock().unwrap_or_else(PoisonError::into_inner) = RateWindow::new();
        let Some(bar) = &self.bar else { return };
        let template = if total.is_some() {
            "{prefix:>9} {elapsed_precise} [{bar:30}] {pos}/{len} {msg}"
        } else {
            "{prefix:>9} {elapsed_precise} {spinner} {pos} {msg}"
        };
        // The templates are fixed and valid; a default style would do if one were not.
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.reset();
        if let Some(total) = total {
            bar.set_length(total);
        }
        bar.set_prefix(name);
        bar.set_message("");
    }

    /// Shows `done` messages (and `failed`, when there are any) and the recent rate.
    pub(crate) fn update(&self, done: u64, failed: u64) {
        let Some(bar) = &self.bar else { return };
        let per_second = {
            let mut rate = self.rate.lock().unwrap_or_else(PoisonError::into_inner);
            let elapsed = rate.since.elapsed();
            if elapsed >= RATE_WINDOW {
                rate.per_second =
                    Some(done.saturating_sub(rate.done_then) as f64 / elapsed.as_secs_f64());
                rate.since = Instant::now();
                rate.done_then = done;
            }
            rate.per_second
        };
        bar.set_position(done);
        let mut message = per_second.map_or_else(String::new, |r| format!("{r:.0} msg/s"));
        if failed > 0 {
            message.push_str(&format!(", {failed} failed"));
        }
        bar.set_message(message);
    }

    /// Refreshes the line from `counters` until the returned guard is dropped (no task when
    /// nothing is drawn).
    pub(crate) fn follow(self: &Arc<Self>, counters: &Arc<Counters>) -> Follower {
        if self.bar.is_none() {
            return Follower(None);
        }
        let progress = Arc::clone(self);
        let counters = Arc::clone(counters);
        Follower(Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(REFRESH);
            loop {
                tick.tick().await;
                let (done, failed) = counters.get();
                progress.update(done, failed);
            }
        })))
    }

    /// Removes the line, so the report starts on a clean terminal.
    pub(crate) fn finish(&self) {
        if let Some(bar) = self.bar.as_ref().filter(|bar| !bar.is_finished()) {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    /// A run that ends with an error leaves no half-drawn line behind.
    fn drop(&mut self) {
        self.finish();
    }
}

/// Stops refreshing the progress line when dropped.
#[derive(Debug)]
pub(crate) struct Follower(Option<tokio::task::JoinHandle<()>>);

impl Drop for Follower {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}
