//! How times read on screen: durations (`1h02m`), ages (`12s ago`) and clock times
//! (`17:04:46`, UTC: the audit log's timestamps are UTC and no time zone database is
//! linked in).

/// `45s`, `3m12s`, `1h02m`, `2d03h`.
pub fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match (s / 86_400, (s / 3600) % 24, (s / 60) % 60, s % 60) {
        (0, 0, 0, sec) => format!("{sec}s"),
        (0, 0, min, sec) => format!("{min}m{sec:02}s"),
        (0, h, min, _) => format!("{h}h{min:02}m"),
        (d, h, _, _) => format!("{d}d{h:02}h"),
    }
}

/// `12s ago` (relative to `now_ms`; `just now` under a second).
pub fn ago(then_ms: u64, now_ms: u64) -> String {
    let elapsed = now_ms.saturating_sub(then_ms);
    if elapsed < 1000 {
        "just now".to_owned()
    } else {
        format!("{} ago", duration(elapsed))
    }
}

/// `HH:MM:SS` of the UTC day.
pub fn clock(ms: u64) -> String {
    let s = (ms / 1000) % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(duration(45_000), "45s");
        assert_eq!(duration(192_000), "3m12s");
        assert_eq!(duration(3_720_000), "1h02m");
        assert_eq!(duration(2 * 86_400_000 + 3 * 3_600_000), "2d03h");
        assert_eq!(ago(1_000, 1_500), "just now");
        assert_eq!(ago(0, 12_000), "12s ago");
        assert_eq!(clock(1_795_623_454_742), "16:17:34");
    }
}
