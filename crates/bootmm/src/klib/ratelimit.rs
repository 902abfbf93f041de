// SPDX-License-Identifier: GPL-2.0-only
//! `lib/ratelimit.c`: `___ratelimit`, the rate limit behind `printk_ratelimited` and the
//! allocator's failure reports.
//!
//! A `struct ratelimit_state` lets `burst` calls through in each `interval` of jiffies and
//! counts the rest; the first call after the interval ends prints
//! `"<func>: N callbacks suppressed"` and starts a new interval. bootmm keeps the kernel's
//! state and test, on its simulated `jiffies` ([`Jiffies`]), which moves only when the
//! model says time passes (`msleep` in a script), so output stays deterministic.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::printk::Printk;

/// `CONFIG_HZ`: the Kconfig default (250), which Debian and Ubuntu builds keep.
pub const HZ: u64 = 250;
/// `DEFAULT_RATELIMIT_INTERVAL` (`5 * HZ`).
pub const DEFAULT_RATELIMIT_INTERVAL: u64 = 5 * HZ;
/// `DEFAULT_RATELIMIT_BURST`.
pub const DEFAULT_RATELIMIT_BURST: u32 = 10;
/// `INITIAL_JIFFIES`: `(unsigned long)(unsigned int)(-300 * HZ)`, so that the 32-bit
/// counter wraps five minutes after boot.
pub const INITIAL_JIFFIES: u64 = (0u32.wrapping_sub(300 * HZ as u32)) as u64;

/// `jiffies`: the tick count since boot, on the model's clock.
#[derive(Debug)]
pub struct Jiffies(AtomicU64);

impl Default for Jiffies {
    fn default() -> Self {
        Jiffies(AtomicU64::new(INITIAL_JIFFIES))
    }
}

impl Jiffies {
    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }

    /// `msleep(ms)`: time passes (at least `msecs_to_jiffies(ms)` ticks, as in the kernel).
    pub fn msleep(&self, ms: u64) {
        self.0.fetch_add(msecs_to_jiffies(ms), Relaxed);
    }
}

/// `msecs_to_jiffies` (HZ divides 1000: round up).
pub fn msecs_to_jiffies(ms: u64) -> u64 {
    ms.saturating_mul(HZ).div_ceil(1000)
}

/// `time_after(a, b)`: `a` is later than `b`, across wrap-around.
pub fn time_after(a: u64, b: u64) -> bool {
    (b.wrapping_sub(a) as i64) < 0
}

/// `struct ratelimit_state`.
#[derive(Debug)]
pub struct RatelimitState {
    pub interval: u64,
    pub burst: u32,
    inner: spin::Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    begin: u64,
    printed: u32,
    missed: u32,
}

impl RatelimitState {
    /// `DEFINE_RATELIMIT_STATE(name, interval, burst)`.
    pub const fn new(interval: u64, burst: u32) -> Self {
        RatelimitState {
            interval,
            burst,
            inner: spin::Mutex::new(Inner {
                begin: 0,
                printed: 0,
                missed: 0,
            }),
        }
    }

    /// `__ratelimit(rs)` called from `func`: whether this call may print. The first call
    /// after an interval in which calls were suppressed prints how many.
    pub fn ratelimit(&self, now: u64, func: &str, log: &Printk) -> bool {
        if self.interval == 0 {
            return true;
        }
        let mut s = self.inner.lock();
        if s.begin == 0 {
            s.begin = now;
        }
        if time_after(now, s.begin.wrapping_add(self.interval)) {
            if s.missed != 0 {
                crate::pr_warn!(log, "{func}: {} callbacks suppressed\n", s.missed);
                s.missed = 0;
            }
            s.begin = now;
            s.printed = 0;
        }
        if self.burst > s.printed {
            s.printed += 1;
            true
        } else {
            s.missed += 1;
            false
        }
    }
}

impl Default for RatelimitState {
    /// `DEFINE_RATELIMIT_STATE(name, DEFAULT_RATELIMIT_INTERVAL, DEFAULT_RATELIMIT_BURST)`.
    fn default() -> Self {
        Self::new(DEFAULT_RATELIMIT_INTERVAL, DEFAULT_RATELIMIT_BURST)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_per_interval_then_the_count_of_the_suppressed() {
        let log = Printk::new();
        let clock = Jiffies::default();
        let rs = RatelimitState::default();
        let passed = (0..25)
            .filter(|_| rs.ratelimit(clock.get(), "warn_alloc", &log))
            .count();
        assert_eq!(passed, 10);
        assert!(log.is_empty());
        clock.msleep(5000);
        assert!(
            !rs.ratelimit(clock.get(), "warn_alloc", &log),
            "the interval ends only after 5 s"
        );
        clock.msleep(4);
        assert!(rs.ratelimit(clock.get(), "warn_alloc", &log));
        assert_eq!(log.lines()[0].text, "warn_alloc: 16 callbacks suppressed");
        assert_eq!(INITIAL_JIFFIES, 0xfffe_db08);
    }
}
