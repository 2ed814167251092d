//! Per-sandbox inference budgets (`inference.max_requests_per_minute`,
//! `inference.max_tokens_per_hour`), beyond what OpenShell offers.
//!
//! Both are sliding windows at slot granularity: requests in one-second slots over the
//! last minute, tokens in one-minute slots over the last hour. A request is admitted
//! when, at its arrival, fewer than the limit were admitted in the last minute and
//! fewer than the limit tokens were used in the last hour; its tokens are counted when
//! its response ends (they are unknown before), so requests already in flight can
//! overshoot the token budget by their own usage — the next request is refused.
//! Counters live in the router, not the route: switching provider or model does not
//! reset a sandbox's budget.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use cordon_policy::InferencePolicy;

use crate::limits::{REQUEST_WINDOW, TOKEN_WINDOW};

/// Slots per window (both windows have 60).
const SLOTS: u64 = 60;

/// The limits in force (from the policy's `inference` section).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BudgetLimits {
    /// Requests admitted per minute.
    pub max_requests_per_minute: Option<u64>,
    /// Tokens (input + output) per hour.
    pub max_tokens_per_hour: Option<u64>,
}

impl From<&InferencePolicy> for BudgetLimits {
    fn from(policy: &InferencePolicy) -> BudgetLimits {
        BudgetLimits {
            max_requests_per_minute: policy.max_requests_per_minute,
            max_tokens_per_hour: policy.max_tokens_per_hour,
        }
    }
}

/// A refused request: which budget, and when to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetExceeded {
    /// The policy field: `max_requests_per_minute` or `max_tokens_per_hour`.
    pub budget: &'static str,
    /// Its value.
    pub limit: u64,
    /// Usage in the current window.
    pub used: u64,
    /// Until the oldest counted slot leaves the window.
    pub retry_after: Duration,
}

/// Usage against budget, for `cordon status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BudgetUsage {
    /// Requests admitted in the last minute.
    pub requests_last_minute: u64,
    /// Tokens used in the last hour.
    pub tokens_last_hour: u64,
    /// The limits in force.
    pub limits: BudgetLimits,
    /// Requests admitted since the sandbox started.
    pub requests_total: u64,
    /// Requests refused by a budget since the sandbox started.
    pub refused_total: u64,
    /// Input tokens since the sandbox started.
    pub tokens_in_total: u64,
    /// Output tokens since the sandbox started.
    pub tokens_out_total: u64,
}

/// Counts in fixed slots; `sum` covers the slots of the last window.
#[derive(Debug)]
struct Window {
    slot: Duration,
    /// `(slot index, count)`, one per slot position, stale entries ignored.
    slots: [(u64, u64); SLOTS as usize],
}

impl Window {
    fn new(window: Duration) -> Window {
        Window {
            slot: window / SLOTS as u32,
            slots: [(u64::MAX, 0); SLOTS as usize],
        }
    }

    fn index(&self, since_epoch: Duration) -> u64 {
        let slot_ms = self.slot.as_millis().max(1);
        u64::try_from(since_epoch.as_millis() / slot_ms).unwrap_or(u64::MAX)
    }

    fn live(&self, current: u64, index: u64) -> bool {
        index != u64::MAX && index <= current && current - index < SLOTS
    }

    fn add(&mut self, since_epoch: Duration, amount: u64) {
        let current = self.index(since_epoch);
        let entry = &mut self.slots[(current % SLOTS) as usize];
        if entry.0 != current {
            *entry = (current, 0);
        }
        entry.1 = entry.1.saturating_add(amount);
    }

    fn sum(&self, since_epoch: Duration) -> u64 {
        let current = self.index(since_epoch);
        self.slots
            .iter()
            .filter(|(index, _)| self.live(current, *index))
            .fold(0u64, |acc, (_, n)| acc.saturating_add(*n))
    }

    /// Time until the oldest non-empty live slot expires.
    fn retry_after(&self, since_epoch: Duration) -> Duration {
        let current = self.index(since_epoch);
        let oldest = self
            .slots
            .iter()
            .filter(|(index, n)| *n > 0 && self.live(current, *index))
            .map(|(index, _)| *index)
            .min()
            .unwrap_or(current);
        let expires = self.slot * u32::try_from(oldest + SLOTS).unwrap_or(u32::MAX);
        expires
            .saturating_sub(since_epoch)
            .max(Duration::from_secs(1))
    }
}

#[derive(Debug)]
struct Counters {
    requests: Window,
    tokens: Window,
    usage: BudgetUsage,
}

/// A sandbox's budget counters.
#[derive(Debug)]
pub struct BudgetState {
    epoch: Instant,
    counters: Mutex<Counters>,
}

impl Default for BudgetState {
    fn default() -> Self {
        BudgetState::new(Instant::now())
    }
}

impl BudgetState {
    /// Empty counters; `epoch` anchors the slots (any instant not after the first use).
    pub fn new(epoch: Instant) -> BudgetState {
        BudgetState {
            epoch,
            counters: Mutex::new(Counters {
                requests: Window::new(REQUEST_WINDOW),
                tokens: Window::new(TOKEN_WINDOW),
                usage: BudgetUsage::default(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        // A panic while holding the lock cannot leave the counters inconsistent.
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits (and counts) one request at `now`, or says which budget refuses it.
    pub fn admit(&self, limits: &BudgetLimits, now: Instant) -> Result<(), BudgetExceeded> {
        let t = now.saturating_duration_since(self.epoch);
        let mut c = self.lock();
        if let Some(limit) = limits.max_requests_per_minute {
            let used = c.requests.sum(t);
            if used >= limit {
                c.usage.refused_total += 1;
                return Err(BudgetExceeded {
                    budget: "max_requests_per_minute",
                    limit,
                    used,
                    retry_after: c.requests.retry_after(t),
                });
            }
        }
        if let Some(limit) = limits.max_tokens_per_hour {
            let used = c.tokens.sum(t);
            if used >= limit {
                c.usage.refused_total += 1;
                return Err(BudgetExceeded {
                    budget: "max_tokens_per_hour",
                    limit,
                    used,
                    retry_after: c.tokens.retry_after(t),
                });
            }
        }
        c.requests.add(t, 1);
        c.usage.requests_total += 1;
        Ok(())
    }

    /// Counts a finished request's tokens at `now`.
    pub fn record_tokens(&self, input: u64, output: u64, now: Instant) {
        let t = now.saturating_duration_since(self.epoch);
        let mut c = self.lock();
        c.tokens.add(t, input.saturating_add(output));
        c.usage.tokens_in_total = c.usage.tokens_in_total.saturating_add(input);
        c.usage.tokens_out_total = c.usage.tokens_out_total.saturating_add(output);
    }

    /// Usage at `now` against `limits`.
    pub fn snapshot(&self, limits: &BudgetLimits, now: Instant) -> BudgetUsage {
        let t = now.saturating_duration_since(self.epoch);
        let c = self.lock();
        BudgetUsage {
            requests_last_minute: c.requests.sum(t),
            tokens_last_hour: c.tokens.sum(t),
            limits: *limits,
            ..c.usage.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn requests_per_minute_slide() {
        let epoch = Instant::now();
        let state = BudgetState::new(epoch);
        let limits = BudgetLimits {
            max_requests_per_minute: Some(2),
            max_tokens_per_hour: None,
        };
        state.admit(&limits, epoch).unwrap();
        state.admit(&limits, epoch + 10 * SEC).unwrap();
        let refused = state.admit(&limits, epoch + 30 * SEC).unwrap_err();
        assert_eq!(refused.budget, "max_requests_per_minute");
        assert_eq!((refused.limit, refused.used), (2, 2));
        assert_eq!(refused.retry_after, 30 * SEC);
        // The first request leaves the window after 60 s.
        state.admit(&limits, epoch + 61 * SEC).unwrap();
        let usage = state.snapshot(&limits, epoch + 61 * SEC);
        assert_eq!(usage.requests_last_minute, 2);
        assert_eq!((usage.requests_total, usage.refused_total), (3, 1));
    }

    #[test]
    fn tokens_per_hour_count_at_completion() {
        let epoch = Instant::now();
        let state = BudgetState::new(epoch);
        let limits = BudgetLimits {
            max_requests_per_minute: None,
            max_tokens_per_hour: Some(100),
        };
        state.admit(&limits, epoch).unwrap();
        state.record_tokens(60, 50, epoch + SEC);
        let refused = state.admit(&limits, epoch + 2 * SEC).unwrap_err();
        assert_eq!((refused.budget, refused.used), ("max_tokens_per_hour", 110));
        state.admit(&limits, epoch + 3601 * SEC).unwrap();
        let usage = state.snapshot(&limits, epoch + 3601 * SEC);
        assert_eq!((usage.tokens_in_total, usage.tokens_out_total), (60, 50));
        assert_eq!(usage.tokens_last_hour, 0);
    }

    #[test]
    fn no_limits_admit_everything() {
        let state = BudgetState::default();
        for _ in 0..1000 {
            state
                .admit(&BudgetLimits::default(), Instant::now())
                .unwrap();
        }
    }
}
