// SPDX-License-Identifier: GPL-2.0-only
//! include/linux/spinlock.h: `spinlock_t` as a word that can live inside simulated RAM
//! (a `kmem_cache_node`'s `list_lock` is a field of a slab object).
//!
//! The kernel's queued spinlock is a 4-byte word; bootmm's is a test-and-test-and-set lock
//! on the same word: acquire on success, release on unlock.

use core::sync::atomic::{AtomicU32, Ordering};

/// `spinlock_t`.
#[repr(transparent)]
#[derive(Debug, Default)]
pub struct RawSpinlock(AtomicU32);

impl RawSpinlock {
    /// `DEFINE_SPINLOCK` / `spin_lock_init`: unlocked.
    pub const fn new() -> Self {
        RawSpinlock(AtomicU32::new(0))
    }

    /// `spin_trylock`.
    #[inline(always)]
    pub fn try_lock(&self) -> bool {
        self.0
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// `spin_lock`.
    #[inline]
    pub fn lock(&self) {
        while !self.try_lock() {
            while self.0.load(Ordering::Relaxed) != 0 {
                core::hint::spin_loop();
            }
        }
    }

    /// `spin_unlock`.
    #[inline(always)]
    pub fn unlock(&self) {
        debug_assert!(self.is_locked(), "spin_unlock of an unlocked lock");
        self.0.store(0, Ordering::Release);
    }

    /// `spin_is_locked`.
    pub fn is_locked(&self) -> bool {
        self.0.load(Ordering::Relaxed) != 0
    }
}
