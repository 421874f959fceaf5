//! What this process costs: CPU time and peak resident memory, read from `/proc` (the
//! workspace forbids `unsafe`, so no `getrusage` through libc). Both are `None` where `/proc`
//! is not there or does not parse; the report then shows `null`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Clock ticks per second of `/proc/<pid>/stat` times: `USER_HZ`, which Linux fixes at 100
/// for user space on every architecture it runs these tools on.
const TICKS_PER_SECOND: u64 = 100;

/// User plus system CPU time of the whole process (every thread) so far, at the 10 ms
/// resolution of `/proc/self/stat`.
pub(crate) fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let ticks = cpu_ticks(&stat)?;
    Some(Duration::from_millis(
        ticks.saturating_mul(1000) / TICKS_PER_SECOND,
    ))
}

/// Peak resident set size of the process in kB (`VmHWM` of `/proc/self/status`).
pub(crate) fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    vm_hwm_kb(&status)
}

/// The wall clock in µs since the epoch (0 before 1970).
pub(crate) fn epoch_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// `utime + stime` (fields 14 and 15) of a `/proc/<pid>/stat` line. The command name in
/// field 2 is in parentheses and may itself hold spaces and parentheses, so fields are
/// counted from the last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let (_, after_name) = stat.rsplit_once(')')?;
    // After the name, field 3 (state) comes first: field n is at index n - 3.
    let mut fields = after_name.split_whitespace().skip(14 - 3);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    utime.checked_add(stime)
}

/// The `VmHWM:   1234 kB` line of `/proc/<pid>/status`.
fn vm_hwm_kb(status: &str) -> Option<u64> {
    let value = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    value.trim().strip_suffix("kB")?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_counted_after_the_last_parenthesis() {
        let stat = "4242 (rmq (x) y) S 1 4242 4242 0 -1 4194560 1590 0 0 0 37 12 0 0 20 0 3 0";
        assert_eq!(cpu_ticks(stat), Some(49));
        assert_eq!(cpu_ticks("4242 (rmq) S 1 2"), None);
        assert_eq!(cpu_ticks("no name here"), None);
        assert_eq!(
            cpu_ticks("1 (a) S 1 1 1 0 -1 0 0 0 0 0 x 1 0"),
            None,
            "a field that is not a number"
        );
    }

    #[test]
    fn vm_hwm_is_read_in_kb() {
        let status = "Name:\trmq\nVmPeak:\t  20000 kB\nVmHWM:\t    9216 kB\nVmRSS:\t 9000 kB\n";
        assert_eq!(vm_hwm_kb(status), Some(9216));
        assert_eq!(vm_hwm_kb("Name:\trmq\n"), None);
        assert_eq!(vm_hwm_kb("VmHWM:\t 12 MB\n"), None);
    }

    #[test]
    fn this_process_can_be_measured_on_linux() {
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(cpu_time().is_some());
            assert!(peak_rss_kb().is_some_and(|kb| kb > 0));
        }
    }
}
