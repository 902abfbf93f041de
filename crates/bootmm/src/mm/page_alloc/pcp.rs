//! mm/page_alloc.c: the per-CPU page lists (`struct per_cpu_pages`, "pcp") in front of each
//! zone's buddy free lists.
//!
//! DOC: each zone has, for every possible CPU, a small cache of free blocks. An allocation
//! the pcp may serve (`pcp_allowed_order`) takes the first block of the list for its type
//! (and, from 5.14, order); an empty list is refilled with `batch` blocks from the buddy
//! lists under `zone->lock` (`rmqueue_bulk`). A free puts the block at the head of its list;
//! once the CPU holds `high` pages or more, a batch goes back to the buddy lists from the
//! tails (`free_pcppages_bulk`). `drain_pages` empties a CPU's lists, `drain_all_pages`
//! every CPU's. Pages on a pcp list are not free pages to the counters: NR_FREE_PAGES drops
//! when they enter a list and rises when they are drained, in every era.
//!
//! What each release changes is decided once, in [`PcpRules`], from the version: the list
//! layout (three per-migratetype lists until 5.13; per order and migratetype with THP lists
//! from 5.14, one THP list from 6.0, two from 6.10), the refill size (`batch`; `max(batch >>
//! order, 2)` from 5.14; `nr_pcp_alloc`'s scaling from 6.7), the free trigger and amount
//! (`batch`; `nr_pcp_free`'s free_factor from 5.14; the free_high rule from 5.18; the
//! auto-tuned high of 6.7), the drain walk (round robin with `batch_free` until 5.17, one
//! pass starting at the freed list from 5.18), and the lock (interrupts off until 5.13, the
//! `pagesets.lock` local lock in 5.14–5.19, `pcp->lock` with `spin_trylock` from 6.0, whose
//! failure sends the request to the buddy lists). docs/design/pcp-eras.md gives the
//! commits. 2.6's hot/cold `pcp[2]` lists are a further [`PcpRules::nr_lists`] form.
//!
//! The lists live where the kernel keeps them: in each CPU's unit of the percpu area that
//! `setup_zone_pageset` allocated, inside simulated RAM. Every era's fast path takes the
//! CPU's own lock: the kernel disables interrupts on that CPU instead until 5.19, which
//! excludes the same callers, since a remote drain is then work run on that CPU
//! (docs/divergences.md).
//!
//! The list algorithms are generic over [`PcpBuddy`], the buddy side (`zone->lock`,
//! `__rmqueue`, `__free_one_page`), so that the loom tests run the same code against a
//! stand-in buddy.

use core::ptr::NonNull;

use crate::era::Era;
use crate::include::mm_types::{list_add, list_add_tail, list_del, list_empty, ListHead, Page};

#[cfg(not(loom))]
use core::sync::atomic::{AtomicU32, Ordering};
#[cfg(loom)]
use loom::sync::atomic::{AtomicU32, Ordering};

/// `PAGE_ALLOC_COSTLY_ORDER`.
pub const PAGE_ALLOC_COSTLY_ORDER: u32 = 3;
/// `MIGRATE_PCPTYPES`.
pub const MIGRATE_PCPTYPES: usize = 3;
/// The most lists any era has (5.14–5.19 with THP: 15).
pub const NR_PCP_LISTS_MAX: usize = 15;
/// `CONFIG_PCP_BATCH_SCALE_MAX` (6.7+, default 5).
pub const PCP_BATCH_SCALE_MAX: u32 = 5;
/// `PCPF_PREV_FREE_HIGH_ORDER` (6.7+).
const PCPF_PREV_FREE_HIGH_ORDER: u8 = 1 << 0;
/// `PCPF_FREE_HIGH_BATCH` (6.7+; set from the cache size, which bootmm does not model).
const PCPF_FREE_HIGH_BATCH: u8 = 1 << 1;

/// Where THP-sized blocks go on the pcp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PcpThp {
    /// No THP lists (before 5.14, or CONFIG_TRANSPARENT_HUGEPAGE=n).
    None,
    /// 44042b449872 (5.14): one THP list per migratetype, indices 12–14.
    PerMigratetype,
    /// 5d0a661d808f (6.0): one THP list, index 12.
    Single,
    /// bf14ed81f571 (6.10): movable and the rest apart, indices 12 and 13.
    SplitMovable,
}

/// How an empty list is refilled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefillForm {
    /// `rmqueue_bulk(zone, 0, pcp->batch, …)` (before 5.14).
    Batch,
    /// 44042b449872 (5.14): `batch > 1 ? max(batch >> order, 2) : batch`.
    ShiftOrder,
    /// c0a242394cb9 (6.7): `nr_pcp_alloc`, with `alloc_factor` and the high auto-tuning.
    Scaled,
}

/// When and how much a free sends back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeForm {
    /// `count >= high` → `batch` (before 5.14).
    Batch,
    /// 5.14 "Scale the number of pages that are batch freed": `nr_pcp_free` with
    /// `free_factor`.
    Factor,
    /// f26b3fa04611 (5.18): and a high-order free after a free frees everything.
    FreeHigh,
    /// The 6.7 auto-tuning series: `free_count`, PCPF flags, `nr_pcp_high` moving `high`
    /// within `[high_min, high_max]`.
    Tuned,
}

/// The pcp facts of one kernel release, decided once (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcpRules {
    /// `NR_PCP_LISTS`.
    pub nr_lists: usize,
    /// 5.14+: orders up to PAGE_ALLOC_COSTLY_ORDER (and the THP order) use the pcp.
    pub high_order: bool,
    pub thp: PcpThp,
    /// The THP order (`pageblock_order`, `HPAGE_PMD_ORDER` from 6.10: 9 on x86_64 either way).
    pub thp_order: u32,
    pub refill: RefillForm,
    pub free: FreeForm,
    /// 5.18: `free_pcppages_bulk` drains the freed list first, in one pass per list.
    pub drain_pindex_first: bool,
    /// 6.0 (4b23a68f9536): `pcp_spin_trylock`; a failure goes to the buddy lists.
    pub trylock: bool,
    /// 6.0 (589d9973c1d2): an empty pcp falls back to `rmqueue_buddy` in the same zone.
    pub buddy_fallback: bool,
    /// 5.9–6.5: MOVABLE allocations without ALLOC_CMA bypass the pcp when CMA is built
    /// (removed by f945116e4e19, 6.6).
    pub cma_guard: bool,
    /// 6.0–6.5: a trylock-failed free lands on the MOVABLE buddy list even when its block
    /// is CMA or HIGHATOMIC (fixed by 7b086755fb8c, ~6.6).
    pub failed_free_uses_pcp_type: bool,
    /// 6.10 (55f77df7d715): drain_pages_zone frees at most `batch << PCP_BATCH_SCALE_MAX`
    /// per lock hold.
    pub bounded_drain: bool,
    /// 90b41691b988 (6.7): `high_min`/`high_max`, between which the run-time `high` moves.
    pub high_tuning: bool,
    /// 57c0419c5f0e (6.7): ZONE_BELOW_HIGH, set by the allocation walk.
    pub below_high: bool,
    /// MIGRATE_MOVABLE's number (2 before 4.4, 1 from 4.4).
    pub movable: usize,
    /// Before 6.10 the block's migratetype is cached in the struct page while it sits on a
    /// pcp list (`set_pcppage_migratetype`); 6.10 (17edeb5d3f76) reads the pageblock.
    pub cached_migratetype: bool,
}

impl PcpRules {
    /// The rules of `era`, with or without CONFIG_TRANSPARENT_HUGEPAGE.
    pub fn new(era: &Era, thp: bool) -> Self {
        let high_order = era.at_least(5, 14);
        let thp = match (high_order && thp, era.at_least(6, 0), era.at_least(6, 10)) {
            (false, _, _) => PcpThp::None,
            (true, false, _) => PcpThp::PerMigratetype,
            (true, true, false) => PcpThp::Single,
            (true, true, true) => PcpThp::SplitMovable,
        };
        let low = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER as usize + 1);
        let nr_lists = if !high_order {
            MIGRATE_PCPTYPES
        } else {
            low + match thp {
                PcpThp::None => 0,
                PcpThp::PerMigratetype => MIGRATE_PCPTYPES,
                PcpThp::Single => 1,
                PcpThp::SplitMovable => 2,
            }
        };
        PcpRules {
            nr_lists,
            high_order,
            thp,
            thp_order: crate::mm::sparse::PAGEBLOCK_ORDER,
            refill: if era.at_least(6, 7) {
                RefillForm::Scaled
            } else if high_order {
                RefillForm::ShiftOrder
            } else {
                RefillForm::Batch
            },
            free: if era.at_least(6, 7) {
                FreeForm::Tuned
            } else if era.at_least(5, 18) {
                FreeForm::FreeHigh
            } else if high_order {
                FreeForm::Factor
            } else {
                FreeForm::Batch
            },
            drain_pindex_first: era.at_least(5, 18),
            trylock: era.at_least(6, 0),
            buddy_fallback: era.at_least(6, 0),
            cma_guard: era.at_least(5, 9) && !era.at_least(6, 6),
            failed_free_uses_pcp_type: era.at_least(6, 0) && !era.at_least(6, 6),
            bounded_drain: era.at_least(6, 10),
            cached_migratetype: !era.at_least(6, 10),
            high_tuning: era.at_least(6, 7),
            below_high: era.at_least(6, 7),
            movable: crate::mm::sparse::migrate_movable(era) as usize,
        }
    }

    /// `pcp_allowed_order`.
    #[inline(always)]
    pub fn pcp_allowed_order(&self, order: u32) -> bool {
        if !self.high_order {
            return order == 0;
        }
        order <= PAGE_ALLOC_COSTLY_ORDER || (self.thp != PcpThp::None && order == self.thp_order)
    }

    /// `order_to_pindex` (the migratetype itself before 5.14).
    #[inline(always)]
    pub fn order_to_pindex(&self, mt: usize, order: u32) -> usize {
        debug_assert!(mt < MIGRATE_PCPTYPES && self.pcp_allowed_order(order));
        if !self.high_order {
            return mt;
        }
        let low = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER as usize + 1);
        if order > PAGE_ALLOC_COSTLY_ORDER {
            return match self.thp {
                PcpThp::PerMigratetype => low + mt,
                PcpThp::Single | PcpThp::None => low,
                PcpThp::SplitMovable => low + usize::from(mt == self.movable),
            };
        }
        MIGRATE_PCPTYPES * order as usize + mt
    }

    /// `pindex_to_order`.
    #[inline(always)]
    pub fn pindex_to_order(&self, pindex: usize) -> u32 {
        if !self.high_order {
            return 0;
        }
        let low = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER as usize + 1);
        if pindex >= low {
            self.thp_order
        } else {
            (pindex / MIGRATE_PCPTYPES) as u32
        }
    }
}

impl Default for PcpRules {
    fn default() -> Self {
        PcpRules::new(&Era::default(), true)
    }
}

// ---------------------------------------------------------------------------------------------
// struct per_cpu_pages.

/// `spinlock_t` of a pageset (`pcp->lock`, 6.0+; the stand-in for interrupts off before).
#[repr(transparent)]
pub struct PcpLock(AtomicU32);

impl PcpLock {
    fn new() -> Self {
        PcpLock(AtomicU32::new(0))
    }

    /// `spin_trylock`.
    #[inline(always)]
    fn try_lock(&self) -> bool {
        self.0
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// `spin_lock`.
    #[inline]
    fn lock(&self) {
        while !self.try_lock() {
            while self.0.load(Ordering::Relaxed) != 0 {
                #[cfg(loom)]
                loom::thread::yield_now();
                #[cfg(not(loom))]
                core::hint::spin_loop();
            }
        }
    }

    #[inline(always)]
    fn unlock(&self) {
        self.0.store(0, Ordering::Release);
    }
}

/// The fields `pcp->lock` protects, in the 6.7 order (older eras use a subset; the unused
/// ones stay 0).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PcpState {
    /// `count`: pages on the lists (from 5.14, `1 << order` for each block).
    pub count: i32,
    /// `high`: fixed at setup before 6.7; moved between `high_min` and `high_max` from 6.7.
    pub high: i32,
    pub high_min: i32,
    pub high_max: i32,
    /// `batch`: the chunk moved to and from the buddy lists.
    pub batch: i32,
    /// `flags` (6.7+): PCPF_*.
    pub flags: u8,
    /// `alloc_factor` (6.7+).
    pub alloc_factor: u8,
    /// `free_factor` (5.14–6.6).
    pub free_factor: u8,
    /// `free_count` (6.7+).
    pub free_count: i16,
}

#[cfg(not(loom))]
type StateCell = core::cell::UnsafeCell<PcpState>;
#[cfg(loom)]
type StateCell = loom::cell::UnsafeCell<PcpState>;

/// `struct per_cpu_pages`: the lock, the counts, and `lists[NR_PCP_LISTS]`, which follow the
/// struct in memory (this era's number of them: [`per_cpu_pages_size`]).
#[repr(C)]
pub struct PerCpuPages {
    lock: PcpLock,
    state: StateCell,
}

/// Bytes one pageset with `nr_lists` lists takes.
pub const fn per_cpu_pages_size(nr_lists: usize) -> usize {
    let head = core::mem::size_of::<PerCpuPages>();
    let align = core::mem::align_of::<ListHead>();
    head.div_ceil(align) * align + nr_lists * core::mem::size_of::<ListHead>()
}

/// A pageset in memory, with its number of lists: what `per_cpu_ptr(zone->per_cpu_pageset,
/// cpu)` gives.
#[derive(Clone, Copy, Debug)]
pub struct PcpPtr {
    ptr: NonNull<PerCpuPages>,
    nr_lists: u8,
}

// SAFETY: a pageset is only touched under its lock (PcpGuard); the pointer names memory
// that lives as long as the kernel that made it.
unsafe impl Send for PcpPtr {}
// SAFETY: as above.
unsafe impl Sync for PcpPtr {}

impl PcpPtr {
    /// `per_cpu_pages_init`: lay a pageset out at `mem` with `nr_lists` empty lists and the
    /// boot pageset's sizes (high 0, batch 1), and return it.
    ///
    /// # Panics
    /// When `nr_lists` exceeds [`NR_PCP_LISTS_MAX`] (no release has more).
    ///
    /// # Safety
    /// `mem` is valid for writes of [`per_cpu_pages_size`]`(nr_lists)` bytes, aligned for
    /// `ListHead`, owned by the caller for as long as the result is used, and not moved.
    pub unsafe fn init(mem: NonNull<u8>, nr_lists: usize) -> PcpPtr {
        assert!(nr_lists <= NR_PCP_LISTS_MAX);
        debug_assert!(mem.as_ptr() as usize % core::mem::align_of::<ListHead>() == 0);
        let ptr = mem.cast::<PerCpuPages>();
        // SAFETY: forwarded from the caller: the memory is ours and large enough.
        unsafe {
            ptr.as_ptr().write(PerCpuPages {
                lock: PcpLock::new(),
                state: StateCell::new(PcpState {
                    batch: 1,
                    ..PcpState::default()
                }),
            });
        }
        let p = PcpPtr {
            ptr,
            nr_lists: nr_lists as u8,
        };
        for i in 0..nr_lists {
            let l = p.list_raw(i);
            // SAFETY: inside the caller's memory: INIT_LIST_HEAD.
            unsafe { l.write(ListHead { next: l, prev: l }) };
        }
        p
    }

    #[inline(always)]
    fn list_raw(&self, i: usize) -> *mut ListHead {
        let head = core::mem::size_of::<PerCpuPages>();
        let align = core::mem::align_of::<ListHead>();
        let off = head.div_ceil(align) * align;
        // The lists follow the struct, inside the memory `init` was given.
        self.ptr
            .as_ptr()
            .cast::<u8>()
            .wrapping_add(off)
            .cast::<ListHead>()
            .wrapping_add(i)
    }

    #[inline(always)]
    fn pcp(&self) -> &PerCpuPages {
        // SAFETY: `init` wrote a PerCpuPages here that lives as long as `self` is used.
        unsafe { self.ptr.as_ref() }
    }

    /// `spin_lock(&pcp->lock)`.
    #[inline(always)]
    pub fn lock(&self) -> PcpGuard<'_> {
        self.pcp().lock.lock();
        PcpGuard { p: self }
    }

    /// `spin_trylock(&pcp->lock)`.
    #[inline(always)]
    pub fn try_lock(&self) -> Option<PcpGuard<'_>> {
        // Not `then_some`: a guard built for a failed trylock would unlock, on drop, the lock
        // someone else holds.
        if self.pcp().lock.try_lock() {
            Some(PcpGuard { p: self })
        } else {
            None
        }
    }

    /// The number of lists.
    pub fn nr_lists(&self) -> usize {
        self.nr_lists as usize
    }
}

/// A locked pageset.
pub struct PcpGuard<'a> {
    p: &'a PcpPtr,
}

impl Drop for PcpGuard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.p.pcp().lock.unlock();
    }
}

impl PcpGuard<'_> {
    /// The counts, under the lock.
    #[inline(always)]
    pub fn with<R>(&mut self, f: impl FnOnce(&mut PcpState) -> R) -> R {
        #[cfg(not(loom))]
        {
            // SAFETY: the lock is held, so nobody else touches the state.
            f(unsafe { &mut *self.p.pcp().state.get() })
        }
        #[cfg(loom)]
        {
            // SAFETY: as above.
            self.p.pcp().state.with_mut(|s| f(unsafe { &mut *s }))
        }
    }

    /// A snapshot of the counts.
    pub fn state(&mut self) -> PcpState {
        self.with(|s| *s)
    }

    /// `&pcp->lists[i]`.
    #[inline(always)]
    pub fn list(&self, i: usize) -> *mut ListHead {
        debug_assert!(i < self.p.nr_lists as usize);
        self.p.list_raw(i)
    }

    /// The number of lists.
    pub fn nr_lists(&self) -> usize {
        self.p.nr_lists as usize
    }
}

// ---------------------------------------------------------------------------------------------
// The buddy side.

/// What the pcp code asks of the zone behind it. The real one is the zone's free lists under
/// `zone->lock`; the loom tests give a stand-in.
pub trait PcpBuddy {
    /// `zone->lock` held.
    type Locked<'a>
    where
        Self: 'a;
    /// `spin_lock(&zone->lock)`.
    fn lock_zone(&self) -> Self::Locked<'_>;
    /// One `__rmqueue`: a block of `order` for `mt`, off the free lists.
    ///
    /// # Safety
    /// The zone lock is `l`.
    unsafe fn rmqueue_one<'a>(
        &'a self,
        l: &mut Self::Locked<'a>,
        order: u32,
        mt: usize,
    ) -> Option<*mut Page>;
    /// `__free_one_page` of a block that comes off a pcp list, with the migratetype the era
    /// reads for it (`cached`: the one set when it went on the list).
    ///
    /// # Safety
    /// The zone lock is `l`; `page` heads a block of `order` of this zone on no list.
    unsafe fn free_one<'a>(
        &'a self,
        l: &mut Self::Locked<'a>,
        page: *mut Page,
        order: u32,
        cached: usize,
    );
    /// `test_bit(ZONE_BELOW_HIGH, &zone->flags)` (6.7+).
    fn below_high(&self) -> bool {
        false
    }
    /// `clear_bit(ZONE_BELOW_HIGH)` when the zone is back above its high watermark.
    fn recheck_below_high(&self) {}
    /// A span of the call tree on the CPU's lane, while it records.
    fn span(&self, _func: &'static str) -> Option<crate::trace::TraceGuard> {
        None
    }
}

/// `set_pcppage_migratetype`: the block's type while it sits on a pcp list (page->index).
///
/// # Safety
/// `page` is a struct page the caller owns.
#[inline(always)]
unsafe fn set_pcppage_migratetype(page: *mut Page, mt: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { (*page).index = mt as u64 };
}

/// `get_pcppage_migratetype`.
///
/// # Safety
/// As [`set_pcppage_migratetype`].
#[inline(always)]
unsafe fn get_pcppage_migratetype(page: *mut Page) -> usize {
    // SAFETY: forwarded from the caller.
    unsafe { (*page).index as usize }
}

/// The page of a pcp list entry (`list_entry(…, struct page, pcp_list)`).
#[inline(always)]
fn lru_to_page(l: *mut ListHead) -> *mut Page {
    l.wrapping_byte_sub(core::mem::offset_of!(Page, lru)).cast()
}

#[inline(always)]
fn page_lru(page: *mut Page) -> *mut ListHead {
    // SAFETY: only the field's address is taken.
    unsafe { core::ptr::addr_of_mut!((*page).lru) }
}

/// mm/page_alloc.c: `rmqueue_bulk`: up to `count` blocks of `order` onto the tail of `list`
/// under one hold of the zone lock (4.15+ form, which gives the order the older head
/// insertion did). Returns the number of blocks taken.
///
/// # Safety
/// `list` is a list of a pageset whose lock the caller holds.
unsafe fn rmqueue_bulk<B: PcpBuddy>(
    b: &B,
    rules: &PcpRules,
    order: u32,
    count: i32,
    list: *mut ListHead,
    mt: usize,
) -> i32 {
    let _t = b.span("rmqueue_bulk");
    let mut l = b.lock_zone();
    let mut i = 0;
    while i < count {
        // SAFETY: the zone lock is held.
        let Some(page) = (unsafe { b.rmqueue_one(&mut l, order, mt) }) else {
            break;
        };
        // SAFETY: the block is ours, off every list.
        unsafe {
            if rules.cached_migratetype {
                set_pcppage_migratetype(page, mt);
            }
            list_add_tail(page_lru(page), list);
        }
        i += 1;
    }
    i
}

/// mm/page_alloc.c: `nr_pcp_alloc` (6.7+), or the refill size of the older forms.
#[inline]
fn nr_pcp_alloc<B: PcpBuddy>(s: &mut PcpState, b: &B, rules: &PcpRules, order: u32) -> i32 {
    match rules.refill {
        RefillForm::Batch => s.batch,
        RefillForm::ShiftOrder => {
            let batch = s.batch;
            if batch > 1 {
                (batch >> order).max(2)
            } else {
                batch
            }
        }
        RefillForm::Scaled => {
            let base_batch = s.batch;
            let (high_min, high_max) = (s.high_min, s.high_max);
            s.high = s.high.max(high_min).min(high_max);
            let mut high = s.high;
            if high < base_batch {
                return 1;
            }
            let mut batch = if order > 0 {
                base_batch
            } else {
                base_batch << s.alloc_factor
            };
            if high_min != high_max && !b.below_high() {
                s.high = (high + batch).min(high_max);
                high = s.high;
            }
            if order == 0 {
                let max_nr_alloc = (high - s.count - base_batch).max(base_batch);
                if batch <= max_nr_alloc && u32::from(s.alloc_factor) < PCP_BATCH_SCALE_MAX {
                    s.alloc_factor += 1;
                }
                batch = batch.min(max_nr_alloc);
            }
            if batch > 1 {
                batch = (batch >> order).max(2);
            }
            batch
        }
    }
}

/// mm/page_alloc.c: `__rmqueue_pcplist`: the head of the list, refilling an empty one
/// first; `None` when the buddy lists had nothing either.
///
/// # Safety
/// `g` locks a pageset of the zone `b` stands for.
#[inline(always)]
pub unsafe fn __rmqueue_pcplist<B: PcpBuddy>(
    b: &B,
    g: &mut PcpGuard<'_>,
    rules: &PcpRules,
    order: u32,
    mt: usize,
    pindex: usize,
) -> Option<*mut Page> {
    let list = g.list(pindex);
    // SAFETY: the list is this locked pageset's.
    if unsafe { list_empty(list) } {
        let batch = g.with(|s| nr_pcp_alloc(s, b, rules, order));
        // SAFETY: as above.
        let n = unsafe { rmqueue_bulk(b, rules, order, batch, list, mt) };
        g.with(|s| s.count += n << order);
        // SAFETY: as above.
        if unsafe { list_empty(list) } {
            return None;
        }
    }
    // SAFETY: the list is not empty; its entries are struct pages' lru fields.
    let page = unsafe { lru_to_page((*list).next) };
    // SAFETY: as above.
    unsafe { list_del(page_lru(page)) };
    g.with(|s| s.count -= 1 << order);
    Some(page)
}

/// What `rmqueue_pcplist` does to the counts before taking a block: the free batch scaling
/// falls back on allocation.
#[inline(always)]
pub fn rmqueue_pcplist_prepare(s: &mut PcpState, rules: &PcpRules) {
    match rules.free {
        FreeForm::Batch => {}
        FreeForm::Factor | FreeForm::FreeHigh => s.free_factor >>= 1,
        FreeForm::Tuned => s.free_count >>= 1,
    }
}

/// mm/page_alloc.c: `free_pcppages_bulk`: `count` pages from the tails of the lists back to
/// the buddy lists, in the era's walk (see the module doc), under one hold of the zone lock.
///
/// # Safety
/// `g` locks a pageset of the zone `b` stands for.
pub unsafe fn free_pcppages_bulk<B: PcpBuddy>(
    b: &B,
    g: &mut PcpGuard<'_>,
    rules: &PcpRules,
    count: i32,
    pindex: usize,
) {
    let nr = g.nr_lists();
    let mut count = count.min(g.with(|s| s.count));
    if count <= 0 {
        return;
    }
    let _t = b.span("free_pcppages_bulk");
    let mut l = b.lock_zone();
    let mut take = |g: &mut PcpGuard<'_>, list: *mut ListHead, order: u32| {
        // SAFETY: the list is not empty (checked by the callers) and this pageset's.
        let page = unsafe { lru_to_page((*list).prev) };
        // SAFETY: as above.
        unsafe { list_del(page_lru(page)) };
        // SAFETY: the block came off a pcp list of this zone and is on no list now.
        unsafe { b.free_one(&mut l, page, order, get_pcppage_migratetype(page)) };
        g.with(|s| s.count -= 1 << order);
    };
    if rules.drain_pindex_first {
        // 5.18+: the requested list first, each chosen list until empty or done.
        let mut pindex = pindex as isize - 1;
        while count > 0 {
            let list = loop {
                pindex += 1;
                if pindex as usize > nr - 1 {
                    pindex = 0;
                }
                let list = g.list(pindex as usize);
                // SAFETY: this pageset's list; count > 0 keeps one non-empty.
                if !unsafe { list_empty(list) } {
                    break list;
                }
            };
            let order = rules.pindex_to_order(pindex as usize);
            loop {
                take(g, list, order);
                count -= 1 << order;
                // SAFETY: as above.
                if count <= 0 || unsafe { list_empty(list) } {
                    break;
                }
            }
        }
    } else {
        // Round robin with batch_free, from list 1.
        let mut pindex = 0usize;
        let mut batch_free = 0usize;
        while count > 0 {
            let list = loop {
                batch_free += 1;
                pindex += 1;
                if pindex == nr {
                    pindex = 0;
                }
                let list = g.list(pindex);
                // SAFETY: as above.
                if !unsafe { list_empty(list) } {
                    break list;
                }
            };
            // This is the only non-empty list: free them all.
            if batch_free == nr {
                batch_free = count as usize;
            }
            let order = rules.pindex_to_order(pindex);
            loop {
                take(g, list, order);
                count -= 1 << order;
                batch_free -= 1;
                // SAFETY: as above.
                if count <= 0 || batch_free == 0 || unsafe { list_empty(list) } {
                    break;
                }
            }
        }
    }
}

/// 5.14–6.6 `nr_pcp_free`.
fn nr_pcp_free_factor(s: &mut PcpState, high: i32, batch: i32, free_high: bool) -> i32 {
    if free_high {
        return s.count;
    }
    if high < batch {
        return 1;
    }
    let min_nr_free = batch;
    let max_nr_free = high - batch;
    let b = batch << s.free_factor;
    if b < max_nr_free {
        s.free_factor += 1;
    }
    // The kernel's clamp(): min(max(b, lo), hi), hi winning when lo > hi.
    b.max(min_nr_free).min(max_nr_free)
}

/// 6.7+ `nr_pcp_high`.
fn nr_pcp_high_tuned<B: PcpBuddy>(s: &mut PcpState, b: &B, batch: i32, free_high: bool) -> i32 {
    let (high_min, high_max) = (s.high_min, s.high_max);
    s.high = s.high.max(high_min).min(high_max);
    let mut high = s.high;
    if high == 0 {
        return 0;
    }
    if free_high {
        s.high = (high - (batch << PCP_BATCH_SCALE_MAX)).max(high_min);
        return 0;
    }
    if high_min == high_max {
        return high;
    }
    if b.below_high() {
        let fc = i32::from(s.free_count).max(batch);
        s.high = (high - fc).max(high_min);
        high = s.count.max(high_min);
    } else if s.count >= high {
        let need_high = i32::from(s.free_count) + batch;
        if s.high < need_high {
            s.high = need_high.max(high_min).min(high_max);
        }
    }
    high
}

/// mm/page_alloc.c: `free_unref_page_commit`: a block goes on the head of its list; past
/// the high mark a batch goes back to the buddy lists.
///
/// # Safety
/// `g` locks a pageset of the zone `b` stands for; `page` heads a block of `order` that
/// passed `free_pages_prepare` and is on no list; `pcpmt` < MIGRATE_PCPTYPES.
pub unsafe fn free_unref_page_commit<B: PcpBuddy>(
    b: &B,
    g: &mut PcpGuard<'_>,
    rules: &PcpRules,
    page: *mut Page,
    pcpmt: usize,
    mt: usize,
    order: u32,
) {
    let pindex = rules.order_to_pindex(pcpmt, order);
    // SAFETY: forwarded from the caller.
    unsafe {
        if rules.cached_migratetype {
            set_pcppage_migratetype(page, mt);
        }
        list_add(page_lru(page), g.list(pindex));
    }
    let to_free = g.with(|s| {
        // c0a242394cb9: a free halves the allocation batch scaling.
        if rules.refill == RefillForm::Scaled {
            s.alloc_factor >>= 1;
        }
        s.count += 1 << order;
        let batch = s.batch;
        match rules.free {
            FreeForm::Batch => (s.count >= s.high).then_some(batch),
            FreeForm::Factor | FreeForm::FreeHigh => {
                let free_high = rules.free == FreeForm::FreeHigh
                    && s.free_factor != 0
                    && order > 0
                    && order <= PAGE_ALLOC_COSTLY_ORDER;
                // nr_pcp_high without reclaim: 0 when disabled or free_high.
                let high = if s.high == 0 || free_high { 0 } else { s.high };
                (s.count >= high).then(|| nr_pcp_free_factor(s, high, batch, free_high))
            }
            FreeForm::Tuned => {
                let mut free_high = false;
                if order > 0 && order <= PAGE_ALLOC_COSTLY_ORDER {
                    free_high = i32::from(s.free_count) >= batch
                        && s.flags & PCPF_PREV_FREE_HIGH_ORDER != 0
                        && (s.flags & PCPF_FREE_HIGH_BATCH == 0 || s.count >= batch);
                    s.flags |= PCPF_PREV_FREE_HIGH_ORDER;
                } else if s.flags & PCPF_PREV_FREE_HIGH_ORDER != 0 {
                    s.flags &= !PCPF_PREV_FREE_HIGH_ORDER;
                }
                if i32::from(s.free_count) < (batch << PCP_BATCH_SCALE_MAX) {
                    s.free_count = s.free_count.saturating_add(1 << order);
                }
                let high = nr_pcp_high_tuned(s, b, batch, free_high);
                (s.count >= high).then(|| {
                    if free_high {
                        s.count.min(batch << PCP_BATCH_SCALE_MAX)
                    } else if high < batch {
                        1
                    } else {
                        // clamp_t: min(max(free_count, batch), high - batch).
                        i32::from(s.free_count).max(batch).min(high - batch)
                    }
                })
            }
        }
    });
    if let Some(n) = to_free {
        // SAFETY: forwarded from the caller.
        unsafe { free_pcppages_bulk(b, g, rules, n, pindex) };
        if rules.below_high {
            b.recheck_below_high();
        }
    }
}

/// mm/page_alloc.c: `drain_pages_zone`: empty one CPU's pageset of one zone (from 6.10 at
/// most `batch << CONFIG_PCP_BATCH_SCALE_MAX` pages per lock hold).
pub fn drain_pages_zone<B: PcpBuddy>(b: &B, p: &PcpPtr, rules: &PcpRules) {
    let _t = b.span("drain_pages_zone");
    loop {
        let mut g = p.lock();
        let (count, batch) = g.with(|s| (s.count, s.batch));
        if count == 0 {
            return;
        }
        let to_drain = if rules.bounded_drain {
            count.min(batch.max(1) << PCP_BATCH_SCALE_MAX)
        } else {
            count
        };
        // SAFETY: `g` locks a pageset of the zone `b` stands for.
        unsafe { free_pcppages_bulk(b, &mut g, rules, to_drain, 0) };
        if !rules.bounded_drain {
            return;
        }
    }
}

/// The blocks on a locked pageset's lists, by list: `(pindex, order, page)` for each.
pub fn for_each_pcp_block(
    g: &PcpGuard<'_>,
    rules: &PcpRules,
    mut f: impl FnMut(usize, u32, *mut Page),
) {
    for i in 0..g.nr_lists() {
        let head = g.list(i);
        // SAFETY: the list is this locked pageset's; its entries are struct pages' lru.
        let mut l = unsafe { (*head).next };
        while l != head {
            f(i, rules.pindex_to_order(i), lru_to_page(l));
            // SAFETY: as above.
            l = unsafe { (*l).next };
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::era::{Arch, KernelVersion};
    use alloc::vec::Vec;
    use core::cell::RefCell;

    /// A stand-in zone: struct pages on the host, the free ones by index, and a record of
    /// what `free_one` got, in order.
    struct Pool {
        pages: Vec<Page>,
        free: RefCell<Vec<usize>>,
        freed: RefCell<Vec<(usize, u32)>>,
    }

    impl Pool {
        fn new(n: usize) -> Pool {
            let pages = (0..n)
                .map(|_| Page {
                    flags: 0,
                    lru: ListHead {
                        next: core::ptr::null_mut(),
                        prev: core::ptr::null_mut(),
                    },
                    mapping: 0,
                    index: 0,
                    private: 0,
                    mapcount: -1,
                    refcount: 0,
                    memcg_data: 0,
                })
                .collect();
            Pool {
                pages,
                free: RefCell::new((0..n).rev().collect()),
                freed: RefCell::new(Vec::new()),
            }
        }
        fn page(&self, i: usize) -> *mut Page {
            self.pages.as_ptr().wrapping_add(i) as *mut Page
        }
        fn index(&self, p: *mut Page) -> usize {
            (p as usize - self.pages.as_ptr() as usize) / core::mem::size_of::<Page>()
        }
    }

    impl PcpBuddy for Pool {
        type Locked<'a> = ();
        fn lock_zone(&self) {}
        unsafe fn rmqueue_one(&self, _: &mut (), _order: u32, _mt: usize) -> Option<*mut Page> {
            let i = self.free.borrow_mut().pop()?;
            Some(self.page(i))
        }
        unsafe fn free_one(&self, _: &mut (), page: *mut Page, order: u32, _mt: usize) {
            let i = self.index(page);
            self.freed.borrow_mut().push((i, order));
            self.free.borrow_mut().push(i);
        }
    }

    fn rules(v: (u32, u32, u32)) -> PcpRules {
        PcpRules::new(
            &Era::new(KernelVersion::new(v.0, v.1, v.2), Arch::X86_64),
            true,
        )
    }

    fn pageset(r: &PcpRules, batch: i32, high: i32) -> (Vec<u64>, PcpPtr) {
        let mut mem = alloc::vec![0u64; per_cpu_pages_size(r.nr_lists).div_ceil(8)];
        // SAFETY: large enough, aligned, kept alive by the caller with the pageset.
        let p = unsafe { PcpPtr::init(NonNull::new(mem.as_mut_ptr().cast()).unwrap(), r.nr_lists) };
        p.lock().with(|s| {
            s.batch = batch;
            s.high = high;
            s.high_min = high;
            s.high_max = high;
        });
        (mem, p)
    }

    /// ≤5.17's drain: round robin from list 1, each list from its tail, `batch_free` growing
    /// with every list probed.
    #[test]
    fn round_robin_drain_starts_at_list_one_from_the_tails() {
        let r = rules((5, 10, 0));
        let pool = Pool::new(8);
        let (_m, p) = pageset(&r, 100, 1000);
        let mut g = p.lock();
        // Pages 0, 1 freed to list 0 (head insertion: the tail is page 0), page 2 to list 1.
        for (i, mt) in [(0, 0), (1, 0), (2, 1)] {
            // SAFETY: the page is the pool's and on no list.
            unsafe { free_unref_page_commit(&pool, &mut g, &r, pool.page(i), mt, mt, 0) };
        }
        // SAFETY: `g` locks a pageset of `pool`.
        unsafe { free_pcppages_bulk(&pool, &mut g, &r, 3, 0) };
        assert_eq!(*pool.freed.borrow(), [(2, 0), (0, 0), (1, 0)]);
        assert_eq!(g.state().count, 0);
    }

    /// Before 5.14 a free past high sends `batch` back; 5.14's free_factor doubles it on
    /// each further free without an allocation.
    #[test]
    fn the_free_batch_follows_the_release() {
        for (v, second) in [((5, 10, 0), 2), ((5, 15, 0), 4)] {
            let r = rules(v);
            let pool = Pool::new(64);
            let (_m, p) = pageset(&r, 2, 8);
            let mut g = p.lock();
            let mut next = 0;
            let mut free_until_flush = |g: &mut PcpGuard<'_>| loop {
                let before = pool.freed.borrow().len();
                // SAFETY: a fresh pool page, on no list.
                unsafe { free_unref_page_commit(&pool, g, &r, pool.page(next), 0, 0, 0) };
                next += 1;
                let n = pool.freed.borrow().len() - before;
                if n > 0 {
                    return n;
                }
            };
            assert_eq!(
                free_until_flush(&mut g),
                2,
                "{v:?}: the first flush is a batch"
            );
            assert_eq!(free_until_flush(&mut g), second, "{v:?}");
        }
    }

    /// 5.18–6.6: a high-order free after another free (free_factor set) frees everything.
    #[test]
    fn free_high_empties_the_lists() {
        let r = rules((6, 6, 0));
        let pool = Pool::new(64);
        let (_m, p) = pageset(&r, 4, 64);
        let mut g = p.lock();
        g.with(|s| s.free_factor = 1);
        for i in 0..3 {
            // SAFETY: as above.
            unsafe { free_unref_page_commit(&pool, &mut g, &r, pool.page(i), 0, 0, 0) };
        }
        assert_eq!(g.state().count, 3);
        // SAFETY: as above (an order-1 block headed by page 8).
        unsafe { free_unref_page_commit(&pool, &mut g, &r, pool.page(8), 0, 0, 1) };
        assert_eq!(g.state().count, 0);
    }

    /// 6.7's nr_pcp_alloc: the refill grows with alloc_factor (up to
    /// CONFIG_PCP_BATCH_SCALE_MAX) while high leaves room, and high itself moves up by it.
    #[test]
    fn scaled_refill_grows_with_alloc_factor() {
        let r = rules((6, 12, 0));
        let pool = Pool::new(0);
        let mut s = PcpState {
            batch: 4,
            high: 0,
            high_min: 16,
            high_max: 1024,
            ..PcpState::default()
        };
        let sizes: Vec<i32> = (0..7).map(|_| nr_pcp_alloc(&mut s, &pool, &r, 0)).collect();
        assert_eq!(sizes, [4, 8, 16, 32, 64, 128, 128]);
        assert_eq!(s.alloc_factor, 5);
        assert!(s.high > 16 && s.high <= 1024);
        // Order 3 takes base batch >> 3, at least 2.
        assert_eq!(nr_pcp_alloc(&mut s, &pool, &r, 3), 2);
    }
}
