//! The crate's one clock helper and one source of randomness, used by every layer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Wall-clock time in epoch milliseconds (0 if the clock is before 1970).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Wall-clock time in epoch nanoseconds, for names that must differ between starts: strictly
/// increasing within the process, because two starts can read the same clock value (a coarse
/// clock on a busy machine), and equal names would make two clients share one instance.
pub(crate) fn now_nanos() -> u128 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let previous = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(now.max(last.saturating_add(1)))
        })
        .unwrap_or(now);
    u128::from(now.max(previous.saturating_add(1)))
}

/// `now + d`, saturating far in the future instead of overflowing `Instant`.
pub(crate) fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// Java's `String.hashCode`: `s[0]*31^(n-1) + … + s[n-1]` over UTF-16 units, wrapping.
pub(crate) fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// A random index in `0..n` (`n > 0`).
pub(crate) fn random_below(n: usize) -> usize {
    fastrand::usize(..n.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_saturate() {
        assert!(deadline_after(Duration::MAX) > Instant::now());
        assert!(random_below(0) == 0 && random_below(3) < 3);
        assert!(now_ms() > 1_600_000_000_000);
    }

    #[test]
    fn instance_name_clock_never_repeats() {
        let stamps: Vec<u128> = (0..10_000).map(|_| now_nanos()).collect();
        assert!(stamps.windows(2).all(|w| w[1] > w[0]));
    }
}
