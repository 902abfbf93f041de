// SPDX-License-Identifier: GPL-2.0-only
//! `mm/page_alloc.c`: the buddy allocator, its zones and the zonelist walk.
//!
//! Each zone keeps free memory as naturally aligned blocks of 2^order pages on
//! `free_area[order].free_list[migratetype]`, linked through the first struct page's `lru`.
//! Allocation takes the smallest block big enough and splits it (`expand`); freeing merges a
//! block with its buddy at `pfn ^ (1 << order)` for as long as the buddy is free
//! (`__free_one_page`). When a migrate type's lists run dry, `__rmqueue_fallback` steals from
//! another type, taking the whole pageblock when enough of it is free. bootmm runs these
//! algorithms on the real struct pages of its memmap, in simulated RAM, under the zone lock
//! alone; it has no per-CPU lists yet, and its slow path does no reclaim or compaction
//! (`docs/divergences.md`).

pub(crate) mod debug;
mod init;
pub mod pcp;
pub(crate) mod report;
mod reserve;
#[cfg(test)]
mod tests;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::ptr::{self, NonNull};
use core::sync::atomic::{
    AtomicBool, AtomicI32, AtomicI64, AtomicU64,
    Ordering::{AcqRel, Relaxed},
};

use crate::era::Era;
use crate::include::gfp::{gfp_migratetype, Gfp, GfpZoneTable, ZonesConfigured};
use crate::include::mm_types::ListHead;
use crate::include::mm_types::{
    __ClearPageBuddy, __SetPageBuddy, list_add, list_add_tail, list_del, list_empty, lru_to_page,
    page_zonenum, Page, PageBuddy, PageFlags, INIT_LIST_HEAD, NODES_MASK, ZONES_MASK, ZONES_PGOFF,
};
use crate::kernel::Kernel;
use crate::mm::mm_init::{ZoneLayout, ZoneType};
use crate::mm::sparse::{Sparse, PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER};
use crate::phys::PhysMem;

pub use debug::{bad_page, dump_page};
// The hand-over steps run once, in start_kernel's order: they are the model's, not an API.
pub(crate) use init::{
    deferred_grow_zone, free_highmem_page, memblock_free_all, page_alloc_init_late,
};
pub use init::{
    free_reserved_area, mem_init_print_info, memory_line_after_deferred_init, DEFERRED_EAGER_PAGES,
};
pub use report::{show_free_areas, warn_alloc};
pub use reserve::{migrate_reserve_blocks, setup_zone_migrate_reserve, ReserveForm};

/// `MAX_PAGE_ORDER` (`MAX_ORDER - 1` before 6.4): the largest block, 4 MiB.
pub const MAX_PAGE_ORDER: u32 = 10;
/// `NR_PAGE_ORDERS` (`MAX_ORDER` before 6.4).
pub const NR_PAGE_ORDERS: usize = MAX_PAGE_ORDER as usize + 1;
/// `MAX_ORDER_NR_PAGES`.
pub const MAX_ORDER_NR_PAGES: u64 = 1 << MAX_PAGE_ORDER;
/// The most migrate types any era has (`MIGRATE_TYPES` with CMA and isolation).
pub const MIGRATE_TYPES_MAX: usize = 6;
/// `MIGRATE_PCPTYPES`: the types with fallbacks.
pub const MIGRATE_PCPTYPES: usize = 3;
/// `MAX_NR_ZONES` at most (DMA, DMA32, Normal, HighMem, Movable, Device).
pub const MAX_NR_ZONES: usize = 6;
/// `enum zone_watermarks`: WMARK_MIN, WMARK_LOW, WMARK_HIGH, WMARK_PROMO.
pub const NR_WMARK: usize = 4;
pub const WMARK_MIN: usize = 0;
pub const WMARK_LOW: usize = 1;
pub const WMARK_HIGH: usize = 2;
/// `PAGE_ALLOC_COSTLY_ORDER`.
pub const PAGE_ALLOC_COSTLY_ORDER: u32 = 3;

// ---------------------------------------------------------------------------------------------
// Migrate types.

/// `enum migratetype`, named by what each type means; its index in the free lists and in
/// the pageblock bits depends on the era ([`MigrateTypes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrateType {
    Unmovable,
    Movable,
    Reclaimable,
    /// 4.4+: high-order atomic reserve (MIGRATE_PCPTYPES in its era).
    HighAtomic,
    /// ≤4.3: the min-watermark reserve blocks (MIGRATE_PCPTYPES in its era).
    Reserve,
    Cma,
    Isolate,
}

impl MigrateType {
    /// `migratetype_names[]`.
    pub fn name(self) -> &'static str {
        match self {
            MigrateType::Unmovable => "Unmovable",
            MigrateType::Movable => "Movable",
            MigrateType::Reclaimable => "Reclaimable",
            MigrateType::HighAtomic => "HighAtomic",
            MigrateType::Reserve => "Reserve",
            MigrateType::Cma => "CMA",
            MigrateType::Isolate => "Isolate",
        }
    }

    /// The letter `show_migration_types` prints.
    pub fn letter(self) -> char {
        match self {
            MigrateType::Unmovable => 'U',
            MigrateType::Movable => 'M',
            MigrateType::Reclaimable => 'E',
            MigrateType::HighAtomic => 'H',
            MigrateType::Reserve => 'R',
            MigrateType::Cma => 'C',
            MigrateType::Isolate => 'I',
        }
    }
}

/// The migrate types of an era, in `enum migratetype` order, and its fallbacks table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrateTypes {
    /// Index → type.
    pub order: Vec<MigrateType>,
    pub unmovable: usize,
    pub movable: usize,
    pub reclaimable: usize,
    pub highatomic: Option<usize>,
    pub reserve: Option<usize>,
    pub cma: Option<usize>,
    pub isolate: Option<usize>,
    /// `fallbacks[type]`, for the MIGRATE_PCPTYPES types, without the era's terminator.
    pub fallbacks: [Vec<usize>; MIGRATE_PCPTYPES],
}

impl MigrateTypes {
    /// include/linux/mmzone.h `enum migratetype` and mm/page_alloc.c `fallbacks[]` for `era`:
    /// 3.x UNMOVABLE, RECLAIMABLE, MOVABLE, RESERVE; 4.4+ UNMOVABLE, MOVABLE, RECLAIMABLE,
    /// HIGHATOMIC; then CMA and ISOLATE when configured.
    pub fn new(era: &Era, cma: bool, isolation: bool) -> Self {
        use MigrateType::*;
        let mut order = if era.at_least(4, 4) {
            alloc::vec![Unmovable, Movable, Reclaimable, HighAtomic]
        } else {
            alloc::vec![Unmovable, Reclaimable, Movable, Reserve]
        };
        if cma {
            order.push(Cma);
        }
        if isolation {
            order.push(Isolate);
        }
        let idx = |t: MigrateType| order.iter().position(|&x| x == t);
        let (u, m, r) = (
            idx(Unmovable).unwrap_or(0),
            idx(Movable).unwrap_or(0),
            idx(Reclaimable).unwrap_or(0),
        );
        let mut fallbacks: [Vec<usize>; MIGRATE_PCPTYPES] = Default::default();
        if era.at_least(4, 4) {
            fallbacks[u] = alloc::vec![r, m];
            fallbacks[m] = alloc::vec![r, u];
            fallbacks[r] = alloc::vec![u, m];
        } else {
            // 3.x: MIGRATE_RESERVE ends each list and is handled by __rmqueue itself;
            // MOVABLE may first fall back to CMA.
            fallbacks[u] = alloc::vec![r, m];
            fallbacks[r] = alloc::vec![u, m];
            fallbacks[m] = match idx(Cma) {
                Some(c) => alloc::vec![c, r, u],
                None => alloc::vec![r, u],
            };
        }
        MigrateTypes {
            unmovable: u,
            movable: m,
            reclaimable: r,
            highatomic: idx(HighAtomic),
            reserve: idx(Reserve),
            cma: idx(Cma),
            isolate: idx(Isolate),
            fallbacks,
            order,
        }
    }

    /// `MIGRATE_TYPES`.
    pub fn nr(&self) -> usize {
        self.order.len()
    }

    pub fn name(&self, mt: usize) -> &'static str {
        self.order.get(mt).map_or("?", |t| t.name())
    }

    /// `migratetype_is_mergeable`: the types below MIGRATE_PCPTYPES.
    pub fn is_mergeable(&self, mt: usize) -> bool {
        mt < MIGRATE_PCPTYPES
    }
}

impl Default for MigrateTypes {
    fn default() -> Self {
        MigrateTypes::new(&Era::default(), true, true)
    }
}

// ---------------------------------------------------------------------------------------------
// ALLOC_* (mm/internal.h).

bitflags::bitflags! {
    /// `alloc_flags` (mm/internal.h). The low two bits select the watermark.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct AllocFlags: u32 {
        const ALLOC_WMARK_LOW = 1;
        const ALLOC_WMARK_HIGH = 2;
        const ALLOC_NO_WATERMARKS = 0x04;
        /// 4.15+ (OOM victims).
        const ALLOC_OOM = 0x08;
        /// 6.3+ name; `ALLOC_HARDER` before.
        const ALLOC_NON_BLOCK = 0x10;
        /// 6.3+ name; `ALLOC_HIGH` before.
        const ALLOC_MIN_RESERVE = 0x20;
        const ALLOC_CPUSET = 0x40;
        const ALLOC_CMA = 0x80;
        /// 5.0+.
        const ALLOC_NOFRAGMENT = 0x100;
        /// 6.3+ (high-order atomic; `ALLOC_HARDER` with order > 0 before).
        const ALLOC_HIGHATOMIC = 0x200;
        const ALLOC_KSWAPD = 0x800;
    }
}

impl AllocFlags {
    /// `ALLOC_WMARK_MIN`.
    pub const ALLOC_WMARK_MIN: AllocFlags = AllocFlags::empty();
    /// `ALLOC_WMARK_MASK`.
    pub const ALLOC_WMARK_MASK: u32 = 0x3;
    /// `ALLOC_HARDER` (≤6.2).
    pub const ALLOC_HARDER: AllocFlags = AllocFlags::ALLOC_NON_BLOCK;
    /// `ALLOC_HIGH` (≤6.2).
    pub const ALLOC_HIGH: AllocFlags = AllocFlags::ALLOC_MIN_RESERVE;
    /// `ALLOC_RESERVES` (6.3+).
    pub const ALLOC_RESERVES: AllocFlags = AllocFlags::ALLOC_NON_BLOCK
        .union(AllocFlags::ALLOC_MIN_RESERVE)
        .union(AllocFlags::ALLOC_HIGHATOMIC)
        .union(AllocFlags::ALLOC_OOM);

    fn wmark(self) -> usize {
        (self.bits() & Self::ALLOC_WMARK_MASK) as usize
    }
}

// ---------------------------------------------------------------------------------------------
// What changes with the era, decided once.

/// Which form of `__rmqueue_fallback` the era has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FallbackForm {
    /// 3.x: `try_to_steal_freepages`, largest block first, RESERVE last.
    V3,
    /// 4.4 – 6.14: `find_suitable_fallback` + `steal_suitable_fallback`; from 5.0 a movable
    /// request that may not steal the block takes the smallest fallback block.
    Steal { find_smallest: bool },
    /// 6.15+: `__rmqueue_claim` (whole blocks, largest first) then `__rmqueue_steal`.
    ClaimSteal,
}

/// Which form of `__zone_watermark_ok` the era has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatermarkForm {
    /// ≤4.3: high orders halve `min` per order below.
    V3,
    /// 4.4 – 6.2: ALLOC_HIGH / ALLOC_HARDER / ALLOC_OOM, free-list scan for high orders.
    V4,
    /// 6.3+: ALLOC_MIN_RESERVE / ALLOC_NON_BLOCK.
    V6_3,
}

/// The era's rules the hot paths consult.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuddyRules {
    pub fallback: FallbackForm,
    pub watermark: WatermarkForm,
    /// 5.10+: `__free_pages_core` frees with FPI_TO_TAIL.
    pub core_to_tail: bool,
    /// 5.0+: `alloc_flags_nofragment`.
    pub nofragment: bool,
    /// 6.10+: free lists always match the pageblock type (merging retypes the buddy block,
    /// a stolen single block keeps its type's list).
    pub strict_freelist_type: bool,
    /// 4.4+: MIGRATE_HIGHATOMIC reserve.
    pub highatomic: bool,
    /// 6.0+: the `max_managed` of `reserve_highatomic_pageblock` is rounded to a pageblock.
    pub highatomic_align: bool,
    /// Before 4.4: how `setup_zone_migrate_reserve` picks the MIGRATE_RESERVE pageblocks.
    pub migrate_reserve: Option<ReserveForm>,
}

impl BuddyRules {
    pub fn new(era: &Era) -> Self {
        BuddyRules {
            fallback: if era.at_least(6, 15) {
                FallbackForm::ClaimSteal
            } else if era.at_least(4, 4) {
                FallbackForm::Steal {
                    find_smallest: era.at_least(5, 0),
                }
            } else {
                FallbackForm::V3
            },
            watermark: if era.at_least(6, 3) {
                WatermarkForm::V6_3
            } else if era.at_least(4, 4) {
                WatermarkForm::V4
            } else {
                WatermarkForm::V3
            },
            core_to_tail: era.at_least(5, 10),
            nofragment: era.at_least(5, 0),
            strict_freelist_type: era.at_least(6, 10),
            highatomic: era.at_least(4, 4),
            highatomic_align: era.at_least(6, 0),
            migrate_reserve: ReserveForm::new(era),
        }
    }
}

impl Default for BuddyRules {
    fn default() -> Self {
        BuddyRules::new(&Era::default())
    }
}

// ---------------------------------------------------------------------------------------------
// struct zone, struct free_area, pg_data_t.

/// `struct free_area`.
pub struct FreeArea {
    pub free_list: [UnsafeCell<ListHead>; MIGRATE_TYPES_MAX],
    pub nr_free: NrFree,
}

/// `free_area->nr_free`: written under the zone lock, read by the watermark check without
/// it (as the kernel reads it). A relaxed atomic, which costs what a plain counter does.
#[derive(Debug, Default)]
pub struct NrFree(AtomicU64);

impl NrFree {
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Relaxed);
    }
}

/// What `zone->lock` protects: the free areas.
pub struct FreeAreas {
    pub free_area: [FreeArea; NR_PAGE_ORDERS],
}

// SAFETY: the list pointers point at struct pages in simulated RAM and at these heads, which
// live in a boxed zone; they are only followed with the zone lock held.
unsafe impl Send for FreeAreas {}

impl FreeAreas {
    fn new() -> Self {
        FreeAreas {
            free_area: core::array::from_fn(|_| FreeArea {
                free_list: core::array::from_fn(|_| {
                    UnsafeCell::new(ListHead {
                        next: ptr::null_mut(),
                        prev: ptr::null_mut(),
                    })
                }),
                nr_free: NrFree::default(),
            }),
        }
    }

    /// `&zone->free_area[order].free_list[mt]`.
    #[inline]
    pub fn head(&self, order: u32, mt: usize) -> *mut ListHead {
        self.free_area[order as usize].free_list[mt].get()
    }

    /// `free_area_empty`.
    #[inline]
    pub fn free_area_empty(&self, order: u32, mt: usize) -> bool {
        // SAFETY: heads are initialised by `zone_init_free_lists` before the zone is used.
        unsafe { list_empty(self.head(order, mt)) }
    }

    /// `get_page_from_free_area`: the first page on a list.
    #[inline]
    fn first(&self, order: u32, mt: usize) -> Option<*mut Page> {
        let h = self.head(order, mt);
        // SAFETY: as in `free_area_empty`; a non-empty list links struct pages' lru.
        unsafe { (!ptr::eq((*h).next, h)).then(|| lru_to_page((*h).next)) }
    }

    /// The pages on one list (for the /proc printers and the debug checks).
    pub fn list_len(&self, order: u32, mt: usize, limit: u64) -> u64 {
        let h = self.head(order, mt);
        let mut n = 0;
        // SAFETY: walked under the zone lock the caller holds.
        unsafe {
            let mut p = (*h).next;
            while !ptr::eq(p, h) && n < limit {
                n += 1;
                p = (*p).next;
            }
        }
        n
    }
}

/// One `struct zone` (include/linux/mmzone.h), with the kernel's field names. Boxed by its
/// node so that the free-list heads never move.
pub struct Zone {
    /// `_watermark[NR_WMARK]`, set by the watermark computation.
    pub _watermark: [u64; NR_WMARK],
    /// `watermark_boost` (5.0+).
    pub watermark_boost: AtomicU64,
    /// `nr_reserved_highatomic`.
    pub nr_reserved_highatomic: AtomicU64,
    /// `nr_migrate_reserve_block` (3.13–4.3): the MIGRATE_RESERVE pageblocks last wanted.
    pub nr_migrate_reserve_block: AtomicU64,
    /// `nr_free_highatomic` (6.x; free pages on HIGHATOMIC lists).
    pub nr_free_highatomic: AtomicU64,
    /// `lowmem_reserve[MAX_NR_ZONES]`, set by the lowmem reserve computation.
    pub lowmem_reserve: [u64; MAX_NR_ZONES],
    /// `zone_to_nid`.
    pub node: u32,
    /// `zone_idx`: the zone's place in `node_zones[]`.
    pub idx: usize,
    pub zone_type: ZoneType,
    /// `name`.
    pub name: &'static str,
    pub zone_start_pfn: u64,
    /// `managed_pages` (atomic_long_t).
    pub managed_pages: AtomicU64,
    pub spanned_pages: u64,
    pub present_pages: u64,
    /// `cma_pages`.
    pub cma_pages: u64,
    /// `vm_stat[NR_FREE_PAGES]`.
    pub nr_free_pages: AtomicI64,
    /// `vm_stat[NR_FREE_CMA_PAGES]`.
    pub nr_free_cma_pages: AtomicI64,
    /// `zone->lock` and what it protects.
    pub lock: spin::mutex::SpinMutex<FreeAreas>,
    /// Deferred pages already counted in `managed_pages` and NR_FREE_PAGES but not yet on a
    /// free list (bootmm's lazy `page_alloc_init_late`, see `docs/divergences.md`).
    pub deferred_unlisted: AtomicU64,
    /// `per_cpu_pageset`, as `per_cpu_ptr` gives it for each possible CPU: the pagesets
    /// `setup_zone_pageset` laid out in the percpu units. Empty while the zone still points
    /// at `boot_pageset` (see [`rmqueue`]).
    pub(crate) per_cpu_pageset: Box<[pcp::PcpPtr]>,
    /// `ZONE_BELOW_HIGH` (6.7+): the zone was found below its high watermark.
    pub below_high: AtomicBool,
}

impl Zone {
    /// A zone of `node` as `free_area_init_core` sets it up, with empty free lists.
    fn new(
        node: u32,
        idx: usize,
        t: ZoneType,
        start: u64,
        spanned: u64,
        present: u64,
        managed: u64,
    ) -> Box<Zone> {
        let z = Box::new(Zone {
            _watermark: [0; NR_WMARK],
            watermark_boost: AtomicU64::new(0),
            nr_reserved_highatomic: AtomicU64::new(0),
            nr_migrate_reserve_block: AtomicU64::new(0),
            nr_free_highatomic: AtomicU64::new(0),
            lowmem_reserve: [0; MAX_NR_ZONES],
            node,
            idx,
            zone_type: t,
            name: t.name(),
            zone_start_pfn: start,
            managed_pages: AtomicU64::new(managed),
            spanned_pages: spanned,
            present_pages: present,
            cma_pages: 0,
            nr_free_pages: AtomicI64::new(0),
            nr_free_cma_pages: AtomicI64::new(0),
            lock: spin::mutex::SpinMutex::new(FreeAreas::new()),
            deferred_unlisted: AtomicU64::new(0),
            per_cpu_pageset: Box::new([]),
            below_high: AtomicBool::new(false),
        });
        zone_init_free_lists(&z);
        z
    }

    /// A snapshot of `per_cpu_ptr(zone->per_cpu_pageset, cpu)`'s counts, under its lock;
    /// `None` while the zone uses `boot_pageset`.
    pub fn pageset(&self, cpu: u32) -> Option<pcp::PcpState> {
        self.per_cpu_pageset
            .get(cpu as usize)
            .map(|p| p.lock().state())
    }

    /// `zone_end_pfn`.
    pub fn zone_end_pfn(&self) -> u64 {
        self.zone_start_pfn + self.spanned_pages
    }

    /// `zone_spans_pfn`.
    pub fn zone_spans_pfn(&self, pfn: u64) -> bool {
        (self.zone_start_pfn..self.zone_end_pfn()).contains(&pfn)
    }

    /// `populated_zone`.
    pub fn populated(&self) -> bool {
        self.present_pages != 0
    }

    /// `zone_managed_pages`.
    #[inline]
    pub fn managed(&self) -> u64 {
        self.managed_pages.load(Relaxed)
    }

    /// `zone_page_state(zone, NR_FREE_PAGES)` (never below 0, as the kernel clamps it).
    #[inline]
    pub fn free_pages(&self) -> u64 {
        self.nr_free_pages.load(Relaxed).max(0) as u64
    }

    /// `wmark_pages(zone, i)`: the watermark plus the boost.
    #[inline]
    pub fn wmark_pages(&self, i: usize) -> u64 {
        self._watermark[i] + self.watermark_boost.load(Relaxed)
    }

    /// `min_wmark_pages` / `low_wmark_pages` / `high_wmark_pages`.
    pub fn min_wmark_pages(&self) -> u64 {
        self.wmark_pages(WMARK_MIN)
    }
    pub fn low_wmark_pages(&self) -> u64 {
        self.wmark_pages(WMARK_LOW)
    }
    pub fn high_wmark_pages(&self) -> u64 {
        self.wmark_pages(WMARK_HIGH)
    }

    /// The free areas as `__zone_watermark_ok` reads them: without the lock.
    #[inline]
    fn free_area_lockless(&self) -> LocklessFreeAreas<'_> {
        // SAFETY: the pointer is to the data of our own lock, valid for as long as `self`.
        // Nothing ever takes `&mut FreeAreas` (every operation goes through `&FreeAreas`),
        // and the view only reads `nr_free` and the heads' `next` (`list_empty`), which
        // every writer writes atomically (WRITE_ONCE); so reading them unlocked is no race.
        LocklessFreeAreas(unsafe { &*self.lock.as_mut_ptr() })
    }

    /// Set the watermarks (`__setup_per_zone_wmarks` computes them elsewhere).
    pub fn set_watermarks(&mut self, min: u64, low: u64, high: u64) {
        self._watermark[WMARK_MIN] = min;
        self._watermark[WMARK_LOW] = low;
        self._watermark[WMARK_HIGH] = high;
        self._watermark[3] = high;
    }

    /// `zone_page_state` of the free counter, adjusted under the zone lock
    /// (`__mod_zone_page_state`): a plain load and store, as every writer holds the lock.
    #[inline]
    fn mod_free(&self, nr: i64) {
        self.nr_free_pages
            .store(self.nr_free_pages.load(Relaxed) + nr, Relaxed);
    }
}

/// A zone's free areas read without `zone->lock`: the counters and whether a list is
/// empty, which may be stale but are never torn.
struct LocklessFreeAreas<'a>(&'a FreeAreas);

impl LocklessFreeAreas<'_> {
    /// `zone->free_area[order].nr_free`.
    #[inline]
    fn nr_free(&self, order: u32) -> u64 {
        self.0.free_area[order as usize].nr_free.get()
    }

    /// `free_area_empty(&zone->free_area[order], mt)`.
    #[inline]
    fn free_area_empty(&self, order: u32, mt: usize) -> bool {
        self.0.free_area_empty(order, mt)
    }
}

/// mm/mm_init.c: `zone_init_free_lists`.
fn zone_init_free_lists(zone: &Zone) {
    let fa = zone.lock.lock();
    for o in 0..NR_PAGE_ORDERS as u32 {
        for mt in 0..MIGRATE_TYPES_MAX {
            // SAFETY: the head lives in the boxed zone, which does not move.
            unsafe { INIT_LIST_HEAD(fa.head(o, mt)) };
        }
        fa.free_area[o as usize].nr_free.set(0);
    }
}

/// `struct zoneref`: a zone in a zonelist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneRef {
    pub nid: u32,
    pub zone_idx: usize,
}

/// `struct zonelist`: the zones an allocation may use, best first. It reads as a slice of
/// [`ZoneRef`]s; like the kernel's `_zonerefs[]`, each entry also caches the zone's address,
/// so that the allocation path walks pointers instead of looking zones up.
#[derive(Clone, Debug, Default)]
pub struct Zonelist {
    refs: Vec<ZoneRef>,
    /// `zoneref->zone` for each of `refs` (null where no such zone exists).
    zones: Vec<*const Zone>,
}

// SAFETY: the pointers name zones boxed in the `PageAlloc` that owns this zonelist; they are
// only turned into `&Zone` (and `Zone` is `Sync`) while that `PageAlloc` is borrowed.
unsafe impl Send for Zonelist {}
// SAFETY: as above.
unsafe impl Sync for Zonelist {}

impl core::ops::Deref for Zonelist {
    type Target = [ZoneRef];
    fn deref(&self) -> &[ZoneRef] {
        &self.refs
    }
}

impl Zonelist {
    /// `build_zonerefs_node` for an order computed elsewhere: record each zone's address.
    fn new(pa: &PageAlloc, refs: Vec<ZoneRef>) -> Self {
        let zones = refs
            .iter()
            .map(|&r| pa.zone(r).map_or(ptr::null(), |z| z as *const Zone))
            .collect();
        Zonelist { refs, zones }
    }

    /// `zonelist_zone(z)` of entry `i`, if the zone exists.
    #[inline]
    fn zone<'a>(&self, pa: &'a PageAlloc, i: usize) -> Option<&'a Zone> {
        let z = *self.zones.get(i)?;
        // SAFETY: `z` is null or the address of a zone boxed in `pa` (see the Send impl),
        // which lives as long as the borrow of `pa`.
        let zone = unsafe { z.as_ref() };
        debug_assert!(
            zone.map(|z| z as *const Zone) == pa.zone(self.refs[i]).map(|z| z as *const Zone),
            "stale zonelist entry"
        );
        zone
    }
}

/// The zones by `page_zone_id`, filled by [`init_zones`] once the zones are boxed.
#[derive(Default)]
struct ZoneTable(Vec<*const Zone>);

// SAFETY: the pointers name zones boxed in the `PageAlloc` that owns this table; they are
// only turned into `&Zone` (and `Zone` is `Sync`) while that `PageAlloc` is borrowed.
unsafe impl Send for ZoneTable {}
// SAFETY: as above.
unsafe impl Sync for ZoneTable {}

impl ZoneTable {
    fn new(nodes: &[PglistData]) -> Self {
        let ids = nodes.iter().flat_map(|n| {
            n.node_zones.iter().map(move |z| {
                let id =
                    (u64::from(n.node_id) << crate::include::mm_types::ZONES_WIDTH) | z.idx as u64;
                (id as usize, &**z as *const Zone)
            })
        });
        let mut t = Vec::new();
        for (id, z) in ids {
            if t.len() <= id {
                t.resize(id + 1, ptr::null());
            }
            t[id] = z;
        }
        ZoneTable(t)
    }
}

/// `pg_data_t` (the allocator's part).
pub struct PglistData {
    pub node_id: u32,
    /// The zones, boxed so that their addresses stay put: the zone table and the free
    /// lists in simulated RAM point at them. See [`PglistData::zones`].
    #[allow(clippy::vec_box)] // the boxes keep each zone's address fixed
    pub(crate) node_zones: Vec<Box<Zone>>,
    /// `node_zonelists[ZONELIST_FALLBACK]`: every zone the node may fall back to, best first.
    pub zonelist_fallback: Zonelist,
    /// `node_zonelists[ZONELIST_NOFALLBACK]` (NUMA; `__GFP_THISNODE`): the node's own zones.
    pub zonelist_nofallback: Zonelist,
    pub node_start_pfn: u64,
    pub node_spanned_pages: u64,
    pub node_present_pages: u64,
    /// `first_deferred_pfn` as `deferred_grow_zone` advances it (`u64::MAX`: none left).
    pub first_deferred_pfn: u64,
    /// End of the node's deferred part.
    pub deferred_end_pfn: u64,
}

impl PglistData {
    /// `node_zones[]`.
    pub fn zones(&self) -> impl ExactSizeIterator<Item = &Zone> {
        self.node_zones.iter().map(|z| &**z)
    }

    /// `pgdat_end_pfn`.
    pub fn pgdat_end_pfn(&self) -> u64 {
        self.node_start_pfn + self.node_spanned_pages
    }
}

/// The page allocator's global state: `node_data[]`, `totalram_pages`, the switches the
/// boot code sets, and the bad-page report state.
pub struct PageAlloc {
    /// `node_data[]`. The zone table and the free lists point into its zones, so it is
    /// private to the model: see [`PageAlloc::nodes`].
    pub(crate) node_data: Vec<PglistData>,
    /// Every zone's address by `page_zone_id` (node and zone bits of `page->flags`), so that
    /// `page_zone` is one load, as `&NODE_DATA(nid)->node_zones[zid]` is in the kernel.
    zone_table: ZoneTable,
    /// `_totalram_pages`.
    pub totalram_pages: AtomicU64,
    /// `totalcma_pages`.
    pub totalcma_pages: u64,
    /// `page_group_by_mobility_disabled` (set by `build_all_zonelists`).
    pub page_group_by_mobility_disabled: bool,
    /// `watermark_boost_factor` (5.0+: 15000; 0 turns boosting off).
    pub watermark_boost_factor: u64,
    pub mt: MigrateTypes,
    pub rules: BuddyRules,
    pub zones_configured: ZonesConfigured,
    /// The configured zone types (`node_zones[]` order).
    pub zone_types: Vec<ZoneType>,
    /// `GFP_ZONE_TABLE` with this build's zone numbers.
    pub gfp_zone_table: GfpZoneTable,
    /// The era's per-CPU list rules.
    pub pcp: pcp::PcpRules,
    /// The call-tree recorder (a handle on the kernel's), for the pcp bulk paths' spans.
    pub(crate) trace: crate::trace::Trace,
    /// `memblock_free_all` has run (the buddy allocator owns the free memory).
    pub initialised: bool,
    /// `page_alloc_init_late` has run.
    pub init_late_done: bool,
    /// Deferred pages are freed on demand only (`deferred_pages_enabled()` stays true).
    pub deferred_lazy: bool,
    /// Free memblock pfn ranges inside deferred parts, kept from `memblock_free_all` for
    /// `deferred_grow_zone`.
    pub deferred_free_ranges: Vec<(u64, u64)>,
    pub(crate) bad: debug::BadPageState,
    /// `nopage_rs`: the rate limit of `warn_alloc`'s reports.
    pub(crate) nopage_rs: crate::klib::ratelimit::RatelimitState,
    /// The `WARN_ON_ONCE` of an order above MAX_PAGE_ORDER has fired.
    pub(crate) warned_order: AtomicBool,
    /// `debug_locks` (cleared by the first taint).
    pub debug_locks: AtomicBool,
    /// `tainted_mask` has TAINT_BAD_PAGE.
    pub taint_bad_page: AtomicBool,
}

impl Default for PageAlloc {
    fn default() -> Self {
        PageAlloc {
            node_data: Vec::new(),
            zone_table: ZoneTable::default(),
            totalram_pages: AtomicU64::new(0),
            totalcma_pages: 0,
            page_group_by_mobility_disabled: false,
            watermark_boost_factor: 0,
            mt: MigrateTypes::default(),
            rules: BuddyRules::default(),
            zones_configured: ZonesConfigured {
                dma: true,
                dma32: true,
                highmem: false,
            },
            zone_types: Vec::new(),
            gfp_zone_table: GfpZoneTable::new(
                ZonesConfigured {
                    dma: true,
                    dma32: true,
                    highmem: false,
                },
                |_| 0,
            ),
            pcp: pcp::PcpRules::default(),
            trace: crate::trace::Trace::unrecorded(),
            initialised: false,
            init_late_done: false,
            deferred_lazy: false,
            deferred_free_ranges: Vec::new(),
            bad: debug::BadPageState::default(),
            nopage_rs: Default::default(),
            warned_order: AtomicBool::new(false),
            debug_locks: AtomicBool::new(true),
            taint_bad_page: AtomicBool::new(false),
        }
    }
}

impl PageAlloc {
    /// Every node's `pg_data_t`, in `node_data[]` order.
    pub fn nodes(&self) -> &[PglistData] {
        &self.node_data
    }

    /// `NODE_DATA(nid)`: an index when the nodes are numbered densely (they are unless a
    /// node has no memory), a search otherwise.
    #[inline]
    pub fn node(&self, nid: u32) -> Option<&PglistData> {
        match self.node_data.get(nid as usize) {
            Some(n) if n.node_id == nid => Some(n),
            _ => self.node_data.iter().find(|n| n.node_id == nid),
        }
    }

    /// `&NODE_DATA(nid)->node_zones[zone_idx]`.
    #[inline]
    pub fn zone(&self, r: ZoneRef) -> Option<&Zone> {
        self.node(r.nid)?.node_zones.get(r.zone_idx).map(|z| &**z)
    }

    /// `page_zone`: the zone a struct page's links name.
    #[inline]
    pub fn page_zone(&self, page: &Page) -> Option<&Zone> {
        let z = *self.zone_table.0.get(page_zone_id(page) as usize)?;
        // SAFETY: `z` is null or the address of a zone boxed in `self` (see ZoneTable).
        let zone = unsafe { z.as_ref() };
        debug_assert!(
            zone.map(|z| z as *const Zone)
                == self
                    .zone(ZoneRef {
                        nid: crate::include::mm_types::page_to_nid(page),
                        zone_idx: page_zonenum(page) as usize,
                    })
                    .map(|z| z as *const Zone),
            "stale zone table"
        );
        zone
    }

    /// Every zone of every node.
    pub fn zones(&self) -> impl Iterator<Item = &Zone> {
        self.node_data
            .iter()
            .flat_map(|n| n.node_zones.iter().map(|z| &**z))
    }

    /// Every populated zone (`for_each_populated_zone`).
    pub fn populated_zones(&self) -> impl Iterator<Item = &Zone> {
        self.zones().filter(|z| z.populated())
    }

    /// `totalram_pages()`.
    pub fn totalram_pages(&self) -> u64 {
        self.totalram_pages.load(Relaxed)
    }

    /// The zone index of a zone type in this build (`ZONE_NORMAL` etc. as numbers).
    pub fn zone_idx_of(&self, t: ZoneType) -> Option<usize> {
        self.zone_types.iter().position(|&z| z == t)
    }

    /// Replace a node's zonelist with an order computed elsewhere (`build_zonelists`).
    pub fn set_zonelist(&mut self, nid: u32, fallback: Vec<ZoneRef>) {
        let zl = Zonelist::new(self, fallback);
        if let Some(n) = self.node_data.iter_mut().find(|n| n.node_id == nid) {
            n.zonelist_fallback = zl;
        }
    }

    /// Set a zone's watermarks and lowmem_reserve (computed by the watermark code).
    pub fn set_zone_watermarks(&mut self, r: ZoneRef, wmark: [u64; 3], lowmem_reserve: &[u64]) {
        if let Some(z) = self
            .node_data
            .iter_mut()
            .find(|n| n.node_id == r.nid)
            .and_then(|n| n.node_zones.get_mut(r.zone_idx))
        {
            z.set_watermarks(wmark[0], wmark[1], wmark[2]);
            for (d, s) in z.lowmem_reserve.iter_mut().zip(lowmem_reserve) {
                *d = *s;
            }
        }
    }

    /// `setup_zone_pageset`: the zone's pagesets, one per possible CPU, laid out in the
    /// percpu units.
    pub(crate) fn setup_zone_pageset(&mut self, r: ZoneRef, pcp: Box<[pcp::PcpPtr]>) {
        if let Some(z) = self
            .node_data
            .iter_mut()
            .find(|n| n.node_id == r.nid)
            .and_then(|n| n.node_zones.get_mut(r.zone_idx))
        {
            debug_assert!(z.per_cpu_pageset.is_empty(), "setup_zone_pageset twice");
            z.per_cpu_pageset = pcp;
        }
    }
}

/// mm/page_alloc.c: `pageset_update` (`pageset_set_high_and_batch` before 5.14): a zone's
/// pagesets get new sizes; the lists keep their pages. 6.7+ sets `high_min`/`high_max` and
/// leaves the run-time `high` to the tuning.
pub(crate) fn pageset_update(zone: &Zone, sizes: &crate::mm::watermark::PcpSizes) {
    for p in zone.per_cpu_pageset.iter() {
        let mut g = p.lock();
        g.with(|s| {
            s.batch = sizes.batch as i32;
            match (sizes.high_min, sizes.high_max) {
                (Some(lo), Some(hi)) => {
                    s.high_min = lo as i32;
                    s.high_max = hi as i32;
                }
                _ => s.high = sizes.high as i32,
            }
        });
    }
}

/// mm/vmstat.c: `nr_free_pages()` (`global_zone_page_state(NR_FREE_PAGES)`).
pub fn nr_free_pages(k: &Kernel) -> u64 {
    k.page_alloc.zones().map(|z| z.free_pages()).sum()
}

/// mm/mm_init.c `free_area_init_core` / `zone_init_internals` / `init_currently_empty_zone`
/// (the allocator's part): one `struct zone` per configured zone of each node, with the
/// sizes `free_area_init` computed, empty free lists, and a fallback zonelist that visits
/// the node's own zones from the highest down and then the other nodes' (the order
/// `build_all_zonelists` computes replaces it through [`PageAlloc::set_zonelist`]).
pub(crate) fn init_zones(k: &mut Kernel) {
    let Some(layout) = k.zones.clone() else {
        return;
    };
    let cfg = k.machine.kernel_config();
    let mut pa = PageAlloc {
        mt: MigrateTypes::new(&k.era, cfg.cma, cfg.memory_isolation),
        rules: BuddyRules::new(&k.era),
        pcp: pcp::PcpRules::new(&k.era, cfg.thp.is_some()),
        trace: k.trace.clone(),
        watermark_boost_factor: if k.era.at_least(5, 0) { 15000 } else { 0 },
        zones_configured: ZonesConfigured {
            dma: cfg.zone_dma,
            dma32: cfg.zone_dma32,
            highmem: cfg.highmem,
        },
        zone_types: layout.zones.clone(),
        ..PageAlloc::default()
    };
    pa.gfp_zone_table = GfpZoneTable::new(pa.zones_configured, |t| {
        // A zone type the build lacks (ZONE_MOVABLE is always configured on x86_64) counts
        // as the highest one.
        pa.zone_idx_of(t)
            .unwrap_or(pa.zone_types.len().saturating_sub(1)) as u64
    });
    for node in &layout.nodes {
        let zones: Vec<Box<Zone>> = node
            .zones
            .iter()
            .enumerate()
            .map(|(i, z)| {
                Zone::new(
                    node.nid,
                    i,
                    z.zone_type,
                    z.zone_start_pfn,
                    z.spanned_pages,
                    z.present_pages,
                    z.managed_pages,
                )
            })
            .collect();
        let first_deferred_pfn = k.memmap.first_deferred_pfn(node.nid);
        pa.node_data.push(PglistData {
            node_id: node.nid,
            node_zones: zones,
            zonelist_fallback: Zonelist::default(),
            zonelist_nofallback: Zonelist::default(),
            node_start_pfn: node.node_start_pfn,
            node_spanned_pages: node.node_spanned_pages,
            node_present_pages: node.node_present_pages,
            first_deferred_pfn,
            deferred_end_pfn: node.node_start_pfn + node.node_spanned_pages,
        });
    }
    default_zonelists(&mut pa, &layout);
    pa.zone_table = ZoneTable::new(&pa.node_data);
    k.page_alloc = pa;
}

/// The placeholder zonelists: own node's populated zones from the highest down, then the
/// other nodes' in nid order.
fn default_zonelists(pa: &mut PageAlloc, layout: &ZoneLayout) {
    let nids: Vec<u32> = pa.node_data.iter().map(|n| n.node_id).collect();
    let zonerefs = |nid: u32| -> Vec<ZoneRef> {
        let n = layout.node(nid);
        (0..layout.zones.len())
            .rev()
            .filter(|&i| {
                n.and_then(|n| n.zones.get(i))
                    .is_some_and(|z| z.present_pages != 0)
            })
            .map(|zone_idx| ZoneRef { nid, zone_idx })
            .collect()
    };
    for (i, &nid) in nids.iter().enumerate() {
        let own = zonerefs(nid);
        let mut all = own.clone();
        for &other in nids.iter().filter(|&&o| o != nid) {
            all.extend(zonerefs(other));
        }
        let (own, all) = (Zonelist::new(pa, own), Zonelist::new(pa, all));
        let n = &mut pa.node_data[i];
        n.zonelist_nofallback = own;
        n.zonelist_fallback = all;
    }
}

// ---------------------------------------------------------------------------------------------
// Page helpers.

/// `page_zone_id`: the zone and node bits of `page->flags`.
#[inline]
fn page_zone_id(page: &Page) -> u64 {
    (page.flags >> ZONES_PGOFF)
        & ((NODES_MASK << crate::include::mm_types::ZONES_WIDTH) | ZONES_MASK)
}

/// `buddy_order`.
#[inline]
fn buddy_order(page: &Page) -> u32 {
    page.private as u32
}

/// `set_buddy_order`.
#[inline]
fn set_buddy_order(page: &mut Page, order: u32) {
    page.private = u64::from(order);
    __SetPageBuddy(page);
}

/// `page_is_buddy`: `buddy` is a free block of exactly `order` in the same zone.
///
/// # Safety
/// Both must be initialised struct pages of one section's memmap.
#[inline]
unsafe fn page_is_buddy(page: *const Page, buddy: *const Page, order: u32) -> bool {
    // SAFETY: forwarded from the caller.
    let (p, b) = unsafe { (&*page, &*buddy) };
    if !PageBuddy(b) || buddy_order(b) != order {
        return false;
    }
    if page_zone_id(p) != page_zone_id(b) {
        return false;
    }
    debug_assert_eq!(b.refcount, 0, "VM_BUG_ON_PAGE(page_count(buddy) != 0)");
    true
}

/// `find_buddy_page_pfn`: the buddy of a block, if it is free and of the same order. The
/// buddy is found by pointer arithmetic within the MAX_PAGE_ORDER block, as the kernel does.
///
/// # Safety
/// `page` is the struct page of `pfn`, and the memmap of its MAX_PAGE_ORDER block exists.
#[inline]
unsafe fn find_buddy_page_pfn(page: *mut Page, pfn: u64, order: u32) -> (u64, Option<*mut Page>) {
    let buddy_pfn = pfn ^ (1 << order);
    // SAFETY: buddy_pfn lies in the same MAX_PAGE_ORDER-aligned block (order < MAX_PAGE_ORDER),
    // whose struct pages are contiguous in one section's memmap.
    let buddy = unsafe { page.offset(buddy_pfn as isize - pfn as isize) };
    // SAFETY: as above; every struct page of a valid section is initialised (holes as Reserved).
    (
        buddy_pfn,
        unsafe { page_is_buddy(page, buddy, order) }.then_some(buddy),
    )
}

// ---------------------------------------------------------------------------------------------
// Free lists under the zone lock.

/// `account_freepages`.
#[inline(always)]
fn account_freepages(zone: &Zone, pa: &PageAlloc, nr: i64, mt: usize) {
    if mt < MIGRATE_PCPTYPES {
        // Unmovable, movable or reclaimable (in every era): none of the special types.
        zone.mod_free(nr);
        return;
    }
    account_freepages_special(zone, pa, nr, mt);
}

/// [`account_freepages`] for the types past the per-CPU ones (isolate, CMA, highatomic).
#[cold]
#[inline(never)]
fn account_freepages_special(zone: &Zone, pa: &PageAlloc, nr: i64, mt: usize) {
    if Some(mt) == pa.mt.isolate {
        return;
    }
    zone.mod_free(nr);
    if Some(mt) == pa.mt.cma {
        zone.nr_free_cma_pages
            .store(zone.nr_free_cma_pages.load(Relaxed) + nr, Relaxed);
    } else if Some(mt) == pa.mt.highatomic {
        let v = zone.nr_free_highatomic.load(Relaxed) as i64 + nr;
        zone.nr_free_highatomic.store(v.max(0) as u64, Relaxed);
    }
}

/// `__add_to_free_list`.
///
/// # Safety
/// `page` is a struct page of `zone`, on no list; the zone lock is held (`fa`).
#[inline]
unsafe fn add_to_free_list(fa: &FreeAreas, page: *mut Page, order: u32, mt: usize, tail: bool) {
    let head = fa.head(order, mt);
    // SAFETY: forwarded from the caller.
    unsafe {
        let lru = ptr::addr_of_mut!((*page).lru);
        if tail {
            list_add_tail(lru, head);
        } else {
            list_add(lru, head);
        }
    }
    let a = &fa.free_area[order as usize];
    a.nr_free.set(a.nr_free.get() + 1);
}

/// `__del_page_from_free_list`: unlink, clear PageBuddy and the order.
///
/// # Safety
/// `page` is a free block of `order` on a list of `fa`; the zone lock is held.
#[inline]
unsafe fn del_page_from_free_list(fa: &FreeAreas, page: *mut Page, order: u32) {
    // SAFETY: forwarded from the caller.
    unsafe {
        list_del(ptr::addr_of_mut!((*page).lru));
        __ClearPageBuddy(&mut *page);
        (*page).private = 0;
    }
    let a = &fa.free_area[order as usize];
    a.nr_free.set(a.nr_free.get() - 1);
}

/// `move_to_free_list`: to the tail of another type's list.
///
/// # Safety
/// As [`del_page_from_free_list`].
#[inline]
unsafe fn move_to_free_list(fa: &FreeAreas, page: *mut Page, order: u32, new_mt: usize) {
    // SAFETY: forwarded from the caller.
    unsafe {
        let lru = ptr::addr_of_mut!((*page).lru);
        list_del(lru);
        list_add_tail(lru, fa.head(order, new_mt));
    }
}

/// `buddy_merge_likely`: is the buddy of the next-higher block free, so that this block
/// will probably merge soon (then it goes to the list's tail)?
///
/// # Safety
/// As [`find_buddy_page_pfn`].
#[inline]
unsafe fn buddy_merge_likely(pfn: u64, buddy_pfn: u64, page: *mut Page, order: u32) -> bool {
    if order >= MAX_PAGE_ORDER - 1 {
        return false;
    }
    let higher_pfn = buddy_pfn & pfn;
    // SAFETY: inside the same MAX_PAGE_ORDER block.
    unsafe {
        let higher = page.offset(higher_pfn as isize - pfn as isize);
        find_buddy_page_pfn(higher, higher_pfn, order + 1)
            .1
            .is_some()
    }
}

/// FPI_* flags of `__free_one_page`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fpi {
    None,
    /// `FPI_TO_TAIL`.
    ToTail,
}

/// The pageblock rule of `__free_one_page`'s merge loop at pageblock order and above: 6.10+
/// does not merge pageblocks that must not mix, and gives the buddy block the merging
/// block's type. False: stop merging.
#[cold]
#[inline(never)]
fn merge_pageblocks(pa: &PageAlloc, sp: &Sparse, buddy_pfn: u64, mt: usize) -> bool {
    if !pa.rules.strict_freelist_type {
        return true;
    }
    let buddy_mt = pfnblock_mt(sp, buddy_pfn);
    if buddy_mt != mt && (!pa.mt.is_mergeable(mt) || !pa.mt.is_mergeable(buddy_mt)) {
        return false;
    }
    if buddy_mt != mt {
        sp.set_pageblock_migratetype(buddy_pfn, mt as u64);
    }
    true
}

/// mm/page_alloc.c: `__free_one_page`: put a block back, merging it with its buddy for as
/// long as the buddy is free, up to MAX_PAGE_ORDER.
///
/// # Safety
/// `page` is the initialised struct page of `pfn` in `zone`, the head of a block of
/// `2^order` pages that are not free, `pfn` aligned to the order; the zone lock is held.
#[allow(clippy::too_many_arguments)]
#[inline]
pub unsafe fn __free_one_page(
    fa: &FreeAreas,
    zone: &Zone,
    pa: &PageAlloc,
    sp: &Sparse,
    mut page: *mut Page,
    mut pfn: u64,
    mut order: u32,
    mt: usize,
    fpi: Fpi,
) {
    debug_assert_eq!(
        pfn & ((1 << order) - 1),
        0,
        "VM_BUG_ON_PAGE(pfn & ((1 << order) - 1))"
    );
    debug_assert!(
        zone.zone_spans_pfn(pfn),
        "VM_BUG_ON_PAGE(bad_range(zone, page))"
    );
    account_freepages(zone, pa, 1 << order, mt);
    let mut buddy_pfn = 0;
    while order < MAX_PAGE_ORDER {
        // SAFETY: the caller guarantees page/pfn; the block stays within its MAX_ORDER block.
        let (bp, buddy) = unsafe { find_buddy_page_pfn(page, pfn, order) };
        buddy_pfn = bp;
        let Some(buddy) = buddy else { break };
        if order >= PAGEBLOCK_ORDER && !merge_pageblocks(pa, sp, bp, mt) {
            break;
        }
        // SAFETY: `buddy` is a free block of this order on one of this zone's lists.
        unsafe { del_page_from_free_list(fa, buddy, order) };
        let combined = bp & pfn;
        // SAFETY: within the MAX_PAGE_ORDER block.
        page = unsafe { page.offset(combined as isize - pfn as isize) };
        pfn = combined;
        order += 1;
    }
    // SAFETY: `page` heads the merged block, which is on no list.
    unsafe { set_buddy_order(&mut *page, order) };
    let to_tail = match fpi {
        Fpi::ToTail => true,
        // SAFETY: as above.
        Fpi::None => {
            order < MAX_PAGE_ORDER && unsafe { buddy_merge_likely(pfn, buddy_pfn, page, order) }
        }
    };
    // SAFETY: as above.
    unsafe { add_to_free_list(fa, page, order, mt, to_tail) };
}

/// mm/page_alloc.c: `expand`: split a block of `high` down to `low`, putting the upper
/// halves on the free lists of `mt`. Returns the pages added.
///
/// # Safety
/// `page` heads a block of `2^high` pages just taken off the lists; the zone lock is held.
#[inline]
unsafe fn expand(fa: &FreeAreas, page: *mut Page, low: u32, mut high: u32, mt: usize) -> u64 {
    let mut size = 1u64 << high;
    let mut added = 0;
    while high > low {
        high -= 1;
        size >>= 1;
        // SAFETY: page[size] lies inside the block the caller owns.
        unsafe {
            let half = page.add(size as usize);
            add_to_free_list(fa, half, high, mt, false);
            set_buddy_order(&mut *half, high);
        }
        added += size;
    }
    added
}

/// `page_del_and_expand`.
///
/// # Safety
/// As [`del_page_from_free_list`].
#[inline]
unsafe fn page_del_and_expand(
    fa: &FreeAreas,
    zone: &Zone,
    pa: &PageAlloc,
    page: *mut Page,
    low: u32,
    high: u32,
    mt: usize,
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        del_page_from_free_list(fa, page, high);
        let added = expand(fa, page, low, high, mt);
        account_freepages(zone, pa, -((1i64 << high) - added as i64), mt);
    }
}

/// mm/page_alloc.c: `__rmqueue_smallest`: the smallest block of `mt` that fits.
#[inline(always)]
fn __rmqueue_smallest(
    fa: &FreeAreas,
    zone: &Zone,
    pa: &PageAlloc,
    order: u32,
    mt: usize,
) -> Option<*mut Page> {
    for current in order..NR_PAGE_ORDERS as u32 {
        let Some(page) = fa.first(current, mt) else {
            continue;
        };
        // SAFETY: `page` heads a free block of `current` on this zone's list; lock held.
        unsafe { page_del_and_expand(fa, zone, pa, page, order, current, mt) };
        return Some(page);
    }
    None
}

/// The pfn of a struct page of this memmap.
#[inline]
fn pfn_of(sp: &Sparse, page: *mut Page) -> u64 {
    // SAFETY: pages on the free lists are initialised struct pages of this memmap.
    let pfn = unsafe { sp.page_to_pfn(NonNull::new_unchecked(page)) };
    debug_assert!(
        pfn.is_some(),
        "VM_BUG_ON_PAGE: {page:p} is no struct page of this memmap"
    );
    pfn.unwrap_or(u64::MAX)
}

/// `get_pfnblock_migratetype` of a pfn the allocator holds. Its section has a memmap, so it
/// has pageblock flags (a block never leaves its MAX_ORDER block, which never leaves its
/// section); CONFIG_DEBUG_VM builds check it.
#[inline(always)]
fn pfnblock_mt(sp: &Sparse, pfn: u64) -> usize {
    let mt = sp.get_pfnblock_migratetype(pfn);
    debug_assert!(
        mt.is_some(),
        "VM_BUG_ON: pfn {pfn:#x} has no pageblock flags"
    );
    mt.unwrap_or(0) as usize
}

/// `pageblock_start_pfn`.
#[inline]
fn pageblock_start_pfn(pfn: u64) -> u64 {
    pfn & !(PAGEBLOCK_NR_PAGES - 1)
}

/// `change_pageblock_range`: every pageblock of a block of `order` ≥ pageblock_order.
fn change_pageblock_range(sp: &Sparse, pfn: u64, order: u32, mt: usize) {
    let n = 1u64 << (order - PAGEBLOCK_ORDER);
    for i in 0..n {
        sp.set_pageblock_migratetype(pfn + i * PAGEBLOCK_NR_PAGES, mt as u64);
    }
}

/// `prep_move_freepages_block` with counting: the free and movable pages of the pageblock
/// of `pfn`, or `None` when the pageblock straddles the zone.
fn count_freepages_block(sp: &Sparse, zone: &Zone, pfn: u64) -> Option<(u64, u64, u64)> {
    let start = pageblock_start_pfn(pfn);
    let end = start + PAGEBLOCK_NR_PAGES;
    if !zone.zone_spans_pfn(start) || !zone.zone_spans_pfn(end - 1) {
        return None;
    }
    let base = sp.pfn_to_page(start)?.as_ptr();
    let (mut free, mut movable) = (0, 0);
    let mut p = start;
    while p < end {
        // SAFETY: the pageblock lies in one section's memmap (sections hold whole pageblocks).
        let page = unsafe { &*base.add((p - start) as usize) };
        if PageBuddy(page) {
            free += 1 << buddy_order(page);
            p += 1 << buddy_order(page);
            continue;
        }
        if page.flags & PageFlags::PG_LRU.bits() != 0 {
            movable += 1;
        }
        p += 1;
    }
    Some((start, free, movable))
}

/// `__move_freepages_block`: move every free block of a pageblock to `new_mt`'s lists.
fn move_freepages_block(
    fa: &FreeAreas,
    zone: &Zone,
    pa: &PageAlloc,
    sp: &Sparse,
    start: u64,
    old_mt: usize,
    new_mt: usize,
) -> u64 {
    let Some(base) = sp.pfn_to_page(start) else {
        return 0;
    };
    let base = base.as_ptr();
    let mut moved = 0;
    let mut p = start;
    while p < start + PAGEBLOCK_NR_PAGES {
        // SAFETY: within the pageblock's memmap (see count_freepages_block).
        let page = unsafe { base.add((p - start) as usize) };
        // SAFETY: as above.
        let pg = unsafe { &*page };
        if !PageBuddy(pg) {
            p += 1;
            continue;
        }
        let order = buddy_order(pg);
        // SAFETY: a free block on this zone's lists; lock held.
        unsafe { move_to_free_list(fa, page, order, new_mt) };
        account_freepages(zone, pa, -(1 << order), old_mt);
        account_freepages(zone, pa, 1 << order, new_mt);
        p += 1 << order;
        moved += 1 << order;
    }
    moved
}

/// `should_try_claim_block` (6.15+) / `can_steal_fallback` (4.4–6.14): take over the whole
/// pageblock rather than one block of it?
fn can_steal_fallback(pa: &PageAlloc, order: u32, start_mt: usize) -> bool {
    order >= PAGEBLOCK_ORDER
        || order >= PAGEBLOCK_ORDER / 2
        || start_mt == pa.mt.reclaimable
        || start_mt == pa.mt.unmovable
        || pa.page_group_by_mobility_disabled
}

/// `find_suitable_fallback`: the first fallback type with a free block at `order`.
fn find_suitable_fallback(fa: &FreeAreas, pa: &PageAlloc, order: u32, mt: usize) -> Option<usize> {
    if fa.free_area[order as usize].nr_free.get() == 0 {
        return None;
    }
    pa.mt.fallbacks[mt]
        .iter()
        .copied()
        .find(|&f| !fa.free_area_empty(order, f))
}

/// `boost_watermark` (5.0+).
fn boost_watermark(zone: &Zone, pa: &PageAlloc) -> bool {
    if pa.watermark_boost_factor == 0 || PAGEBLOCK_NR_PAGES * 4 > zone.managed() {
        return false;
    }
    let max_boost = zone._watermark[WMARK_HIGH] * pa.watermark_boost_factor / 10000;
    if max_boost == 0 {
        return false;
    }
    let max_boost = max_boost.max(PAGEBLOCK_NR_PAGES);
    let b = (zone.watermark_boost.load(Relaxed) + PAGEBLOCK_NR_PAGES).min(max_boost);
    zone.watermark_boost.store(b, Relaxed);
    true
}

/// Whether the pageblock should change hands: at least half of it free or compatible.
fn claim_threshold(
    pa: &PageAlloc,
    start_mt: usize,
    block_mt: usize,
    free: u64,
    movable: u64,
) -> bool {
    let alike = if start_mt == pa.mt.movable {
        movable
    } else if block_mt == pa.mt.movable {
        PAGEBLOCK_NR_PAGES - (free + movable)
    } else {
        0
    };
    free + alike >= 1 << (PAGEBLOCK_ORDER - 1) || pa.page_group_by_mobility_disabled
}

/// mm/page_alloc.c: `steal_suitable_fallback` (4.4–6.14): claim the pageblock of a
/// fallback block for `start_mt` (or just move the block), so that `__rmqueue_smallest`
/// can retry.
#[allow(clippy::too_many_arguments)]
fn steal_suitable_fallback(
    fa: &FreeAreas,
    zone: &Zone,
    pa: &PageAlloc,
    sp: &Sparse,
    page: *mut Page,
    current: u32,
    start_mt: usize,
    whole_block: bool,
) {
    let pfn = pfn_of(sp, page);
    let block_mt = pfnblock_mt(sp, pfn);
    let single = |fa: &FreeAreas| {
        // SAFETY: `page` is a free block of `current` on this zone's lists; lock held.
        unsafe { move_to_free_list(fa, page, current, start_mt) };
        account_freepages(zone, pa, -(1 << current), block_mt);
        account_freepages(zone, pa, 1 << current, start_mt);
    };
    if Some(block_mt) == pa.mt.highatomic {
        return single(fa);
    }
    if current >= PAGEBLOCK_ORDER {
        change_pageblock_range(sp, pfn, current, start_mt);
        return single(fa);
    }
    if pa.rules.nofragment {
        boost_watermark(zone, pa);
    }
    if !whole_block {
        return single(fa);
    }
    let Some((start, free, movable)) = count_freepages_block(sp, zone, pfn) else {
        return single(fa);
    };
    if free == 0 {
        return single(fa);
    }
    // The kernel moves the block's free pages first, counting as it goes.
    move_freepages_block(fa, zone, pa, sp, start, block_mt, start_mt);
    if claim_threshold(pa, start_mt, block_mt, free, movable) {
        sp.set_pageblock_migratetype(start, start_mt as u64);
    }
}

/// mm/page_alloc.c: `__rmqueue_fallback` (4.4–6.14): steal from another migrate type,
/// largest block first (so the whole pageblock is likely free).
#[allow(clippy::too_many_arguments)]
fn rmqueue_fallback_steal(
    fa: &FreeAreas,
    zone: &Zone,
    pa: &PageAlloc,
    sp: &Sparse,
    order: u32,
    start_mt: usize,
    flags: AllocFlags,
    find_smallest: bool,
) -> bool {
    let min_order = if order < PAGEBLOCK_ORDER && flags.contains(AllocFlags::ALLOC_NOFRAGMENT) {
        PAGEBLOCK_ORDER
    } else {
        order
    };
    let mut found = None;
    let mut current = MAX_PAGE_ORDER as i64;
    while current >= min_order as i64 {
        let c = current as u32;
        if let Some(f) = find_suitable_fallback(fa, pa, c, start_mt) {
            let can_steal = can_steal_fallback(pa, c, start_mt);
            if find_smallest && !can_steal && start_mt == pa.mt.movable && c > order {
                found = None;
                // find_smallest:
                for c2 in order..NR_PAGE_ORDERS as u32 {
                    if let Some(f2) = find_suitable_fallback(fa, pa, c2, start_mt) {
                        found = Some((c2, f2, can_steal_fallback(pa, c2, start_mt)));
                        break;
                    }
                }
            } else {
                found = Some((c, f, can_steal));
            }
            break;
        }
        current -= 1;
    }
    let Some((c, f, can_steal)) = found else {
        return false;
    };
    let Some(page) = fa.first(c, f) else {
        return false;
    };
    steal_suitable_fallback(fa, zone, pa, sp, page, c, start_mt, can_steal);
    true
}

/// mm/page_alloc.c: `__rmqueue_fallback` with `try_to_steal_freepages` (3.x).
fn rmqueue_fallback_v3(
    fa: &FreeAreas,
    zone: &Zone,
    pa: &PageAlloc,
    sp: &Sparse,
    order: u32,
    start_mt: usize,
) -> Option<*mut Page> {
    for current in (order..NR_PAGE_ORDERS as u32).rev() {
        for &f in &pa.mt.fallbacks[start_mt] {
            let Some(page) = fa.first(current, f) else {
                continue;
            };
            // try_to_steal_freepages
            let pfn = pfn_of(sp, page);
            let new_type = if Some(f) == pa.mt.cma {
                f
            } else if current >= PAGEBLOCK_ORDER {
                change_pageblock_range(sp, pfn, current, start_mt);
                start_mt
            } else if current >= PAGEBLOCK_ORDER / 2
                || start_mt == pa.mt.reclaimable
                || pa.page_group_by_mobility_disabled
            {
                let start = pageblock_start_pfn(pfn);
                let moved = if zone.zone_spans_pfn(start)
                    && zone.zone_spans_pfn(start + PAGEBLOCK_NR_PAGES - 1)
                {
                    let block_mt = pfnblock_mt(sp, pfn);
                    move_freepages_block(fa, zone, pa, sp, start, block_mt, start_mt)
                } else {
                    0
                };
                if moved >= 1 << (PAGEBLOCK_ORDER - 1) || pa.page_group_by_mobility_disabled {
                    sp.set_pageblock_migratetype(start, start_mt as u64);
                    start_mt
                } else {
                    f
                }
            } else {
                f
            };
            // The block may have moved lists with its pageblock; take it off whichever.
            // SAFETY: `page` is still a free block of `current` on this zone's lists.
            unsafe {
                del_page_from_free_list(fa, page, current);
                let added = expand(fa, page, order, current, new_type);
                account_freepages(zone, pa, -(1i64 << current), f);
                account_freepages(zone, pa, added as i64, new_type);
            }
            return Some(page);
        }
    }
    None
}

/// mm/page_alloc.c: `try_to_claim_block` (6.15+).
#[allow(clippy::too_many_arguments)]
fn try_to_claim_block(
    fa: &FreeAreas,
    zone: &Zone,
    pa: &PageAlloc,
    sp: &Sparse,
    page: *mut Page,
    current: u32,
    order: u32,
    start_mt: usize,
    block_mt: usize,
) -> Option<*mut Page> {
    let pfn = pfn_of(sp, page);
    if current >= PAGEBLOCK_ORDER {
        // SAFETY: a free block of `current` on this zone's lists; lock held.
        unsafe {
            del_page_from_free_list(fa, page, current);
            account_freepages(zone, pa, -(1i64 << current), block_mt);
            change_pageblock_range(sp, pfn, current, start_mt);
            let added = expand(fa, page, order, current, start_mt);
            account_freepages(zone, pa, added as i64, start_mt);
        }
        return Some(page);
    }
    boost_watermark(zone, pa);
    let (start, free, movable) = count_freepages_block(sp, zone, pfn)?;
    if claim_threshold(pa, start_mt, block_mt, free, movable) {
        move_freepages_block(fa, zone, pa, sp, start, block_mt, start_mt);
        sp.set_pageblock_migratetype(start, start_mt as u64);
        return __rmqueue_smallest(fa, zone, pa, order, start_mt);
    }
    None
}

/// mm/page_alloc.c: `__rmqueue_claim` (6.15+).
fn __rmqueue_claim(
    fa: &FreeAreas,
    zone: &Zone,
    pa: &PageAlloc,
    sp: &Sparse,
    order: u32,
    start_mt: usize,
    flags: AllocFlags,
) -> Option<*mut Page> {
    let min_order = if order < PAGEBLOCK_ORDER && flags.contains(AllocFlags::ALLOC_NOFRAGMENT) {
        PAGEBLOCK_ORDER
    } else {
        order
    };
    let mut current = MAX_PAGE_ORDER as i64;
    while current >= min_order as i64 {
        let c = current as u32;
        current -= 1;
        if !can_steal_fallback(pa, c, start_mt) {
            break;
        }
        let Some(f) = find_suitable_fallback(fa, pa, c, start_mt) else {
            continue;
        };
        let page = fa.first(c, f)?;
        if let Some(p) = try_to_claim_block(fa, zone, pa, sp, page, c, order, start_mt, f) {
            return Some(p);
        }
    }
    None
}

/// mm/page_alloc.c: `__rmqueue_steal` (6.15+): one block, its pageblock left as it is.
fn __rmqueue_steal(
    fa: &FreeAreas,
    zone: &Zone,
    pa: &PageAlloc,
    order: u32,
    start_mt: usize,
) -> Option<*mut Page> {
    for c in order..NR_PAGE_ORDERS as u32 {
        let Some(f) = find_suitable_fallback(fa, pa, c, start_mt) else {
            continue;
        };
        let page = fa.first(c, f)?;
        // SAFETY: a free block of `c` on this zone's lists; lock held.
        unsafe { page_del_and_expand(fa, zone, pa, page, order, c, f) };
        return Some(page);
    }
    None
}

/// mm/page_alloc.c: `__rmqueue`: the requested type, then the era's fallbacks.
#[inline(always)]
fn __rmqueue(
    fa: &FreeAreas,
    zone: &Zone,
    pa: &PageAlloc,
    sp: &Sparse,
    order: u32,
    mt: usize,
    flags: AllocFlags,
) -> Option<*mut Page> {
    if let Some(p) = __rmqueue_smallest(fa, zone, pa, order, mt) {
        return Some(p);
    }
    __rmqueue_fallbacks(fa, zone, pa, sp, order, mt, flags)
}

/// The part of `__rmqueue` after `__rmqueue_smallest` found nothing of the requested type.
#[cold]
#[inline(never)]
fn __rmqueue_fallbacks(
    fa: &FreeAreas,
    zone: &Zone,
    pa: &PageAlloc,
    sp: &Sparse,
    order: u32,
    mt: usize,
    flags: AllocFlags,
) -> Option<*mut Page> {
    match pa.rules.fallback {
        FallbackForm::V3 => {
            if let Some(p) = rmqueue_fallback_v3(fa, zone, pa, sp, order, mt) {
                return Some(p);
            }
            // retry_reserve
            pa.mt
                .reserve
                .and_then(|r| __rmqueue_smallest(fa, zone, pa, order, r))
        }
        FallbackForm::Steal { find_smallest } => {
            if let Some(c) = pa.mt.cma.filter(|_| flags.contains(AllocFlags::ALLOC_CMA)) {
                if let Some(p) = __rmqueue_smallest(fa, zone, pa, order, c) {
                    return Some(p);
                }
            }
            while rmqueue_fallback_steal(fa, zone, pa, sp, order, mt, flags, find_smallest) {
                if let Some(p) = __rmqueue_smallest(fa, zone, pa, order, mt) {
                    return Some(p);
                }
            }
            None
        }
        FallbackForm::ClaimSteal => {
            if let Some(c) = pa.mt.cma.filter(|_| flags.contains(AllocFlags::ALLOC_CMA)) {
                if let Some(p) = __rmqueue_smallest(fa, zone, pa, order, c) {
                    return Some(p);
                }
            }
            if let Some(p) = __rmqueue_claim(fa, zone, pa, sp, order, mt, flags) {
                return Some(p);
            }
            if flags.contains(AllocFlags::ALLOC_NOFRAGMENT) {
                return None;
            }
            __rmqueue_steal(fa, zone, pa, order, mt)
        }
    }
}

/// The buddy side of a zone's pagesets: `zone->lock`, `__rmqueue`, `__free_one_page`.
struct ZoneBuddy<'a> {
    zone: &'a Zone,
    pa: &'a PageAlloc,
    sp: &'a Sparse,
    flags: AllocFlags,
    /// The CPU whose pageset this is (its lane of the call tree).
    cpu: u32,
}

impl pcp::PcpBuddy for ZoneBuddy<'_> {
    type Locked<'b>
        = spin::mutex::SpinMutexGuard<'b, FreeAreas>
    where
        Self: 'b;

    #[inline(always)]
    fn lock_zone(&self) -> Self::Locked<'_> {
        self.zone.lock.lock()
    }

    #[inline(always)]
    unsafe fn rmqueue_one<'a>(
        &'a self,
        l: &mut Self::Locked<'a>,
        order: u32,
        mt: usize,
    ) -> Option<*mut Page> {
        __rmqueue(l, self.zone, self.pa, self.sp, order, mt, self.flags)
    }

    #[inline(always)]
    unsafe fn free_one<'a>(
        &'a self,
        l: &mut Self::Locked<'a>,
        page: *mut Page,
        order: u32,
        cached: usize,
    ) {
        let pfn = pfn_of(self.sp, page);
        let mt = if self.pa.pcp.cached_migratetype {
            cached
        } else {
            pfnblock_mt(self.sp, pfn)
        };
        // SAFETY: forwarded from the caller: a block of this zone on no list, lock held.
        unsafe {
            __free_one_page(
                l,
                self.zone,
                self.pa,
                self.sp,
                page,
                pfn,
                order,
                mt,
                Fpi::None,
            )
        };
    }

    #[inline(always)]
    fn below_high(&self) -> bool {
        self.zone.below_high.load(Relaxed)
    }

    fn span(&self, func: &'static str) -> Option<crate::trace::TraceGuard> {
        let t = &self.pa.trace;
        t.recording()
            .then(|| t.enter_on(self.cpu, func, "mm/page_alloc.c"))
    }

    fn recheck_below_high(&self) {
        if self.below_high() {
            let movable = self
                .pa
                .zone_idx_of(ZoneType::Movable)
                .unwrap_or(self.zone.idx);
            if zone_watermark_ok(
                self.zone,
                self.pa,
                0,
                self.zone.high_wmark_pages(),
                movable,
                AllocFlags::empty(),
            ) {
                self.zone.below_high.store(false, Relaxed);
            }
        }
    }
}

/// mm/page_alloc.c: `rmqueue_pcplist`: a block off this CPU's pageset of the zone, under
/// its lock (`None` when the trylock of 6.0+ failed or the lists and the buddy lists are
/// empty).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn rmqueue_pcplist(
    zone: &Zone,
    pa: &PageAlloc,
    sp: &Sparse,
    p: &pcp::PcpPtr,
    order: u32,
    mt: usize,
    flags: AllocFlags,
    cpu: u32,
) -> Option<*mut Page> {
    let rules = &pa.pcp;
    let mut g = if rules.trylock {
        p.try_lock()?
    } else {
        p.lock()
    };
    g.with(|s| pcp::rmqueue_pcplist_prepare(s, rules));
    let pindex = rules.order_to_pindex(mt, order);
    let b = ZoneBuddy {
        zone,
        pa,
        sp,
        flags,
        cpu,
    };
    // SAFETY: `g` locks a pageset of `zone`.
    unsafe { pcp::__rmqueue_pcplist(&b, &mut g, rules, order, mt, pindex) }
}

/// mm/page_alloc.c: `rmqueue`: orders the pcp may hold come from CPU `cpu`'s pageset,
/// the rest (and, from 6.0, what the pageset could not give) from the buddy lists under the
/// zone lock. A zone still on `boot_pageset` (high 0, batch 1: every free goes straight
/// back) is served by the buddy lists directly (docs/divergences.md).
#[inline(always)]
fn rmqueue(
    zone: &Zone,
    pa: &PageAlloc,
    sp: &Sparse,
    order: u32,
    mt: usize,
    flags: AllocFlags,
    cpu: u32,
) -> Option<*mut Page> {
    if pa.pcp.pcp_allowed_order(order) {
        if let Some(p) = zone.per_cpu_pageset.get(cpu as usize) {
            let cma_guard = pa.pcp.cma_guard
                && pa.mt.cma.is_some()
                && mt == pa.mt.movable
                && !flags.contains(AllocFlags::ALLOC_CMA);
            if !cma_guard {
                let page = rmqueue_pcplist(zone, pa, sp, p, order, mt, flags, cpu);
                if page.is_some() || !pa.pcp.buddy_fallback {
                    return page;
                }
            }
        }
    }
    rmqueue_buddy(zone, pa, sp, order, mt, flags)
}

/// mm/page_alloc.c: `rmqueue_buddy` (the zone->lock path of `rmqueue`).
#[inline(always)]
fn rmqueue_buddy(
    zone: &Zone,
    pa: &PageAlloc,
    sp: &Sparse,
    order: u32,
    mt: usize,
    flags: AllocFlags,
) -> Option<*mut Page> {
    let fa = zone.lock.lock();
    let ha = pa.mt.highatomic.filter(|_| pa.rules.highatomic);
    // Only ALLOC_HIGHATOMIC (6.3+) or ALLOC_HARDER (before) sends a request to the
    // highatomic reserve first; one test of the flags decides for every era.
    if flags.intersects(AllocFlags::ALLOC_HIGHATOMIC | AllocFlags::ALLOC_HARDER) {
        if let Some(h) = ha {
            let want = match pa.rules.watermark {
                WatermarkForm::V6_3 => flags.contains(AllocFlags::ALLOC_HIGHATOMIC),
                _ => order > 0 && flags.contains(AllocFlags::ALLOC_HARDER),
            };
            if want {
                if let Some(page) = __rmqueue_smallest(&fa, zone, pa, order, h) {
                    return Some(page);
                }
            }
        }
    }
    let page = __rmqueue(&fa, zone, pa, sp, order, mt, flags);
    if page.is_none() && pa.rules.watermark == WatermarkForm::V6_3 {
        if let Some(h) =
            ha.filter(|_| flags.intersects(AllocFlags::ALLOC_OOM | AllocFlags::ALLOC_NON_BLOCK))
        {
            return __rmqueue_smallest(&fa, zone, pa, order, h);
        }
    }
    page
}

// ---------------------------------------------------------------------------------------------
// Watermarks.

/// mm/page_alloc.c: `__zone_watermark_unusable_free`.
#[inline]
fn zone_watermark_unusable_free(zone: &Zone, pa: &PageAlloc, order: u32, flags: AllocFlags) -> i64 {
    let mut unusable = (1i64 << order) - 1;
    match pa.rules.watermark {
        WatermarkForm::V6_3 => {
            if !flags.intersects(AllocFlags::ALLOC_RESERVES) {
                unusable += zone.nr_free_highatomic.load(Relaxed) as i64;
            }
        }
        WatermarkForm::V4 => {
            if !flags.intersects(AllocFlags::ALLOC_HARDER | AllocFlags::ALLOC_OOM) {
                unusable += zone.nr_reserved_highatomic.load(Relaxed) as i64;
            }
        }
        WatermarkForm::V3 => {}
    }
    if !flags.contains(AllocFlags::ALLOC_CMA) {
        unusable += zone.nr_free_cma_pages.load(Relaxed);
    }
    unusable
}

/// mm/page_alloc.c: `__zone_watermark_ok`: may `zone` give a block of `order` and stay
/// above `mark` plus its reserve against `highest_zoneidx` allocations?
pub fn __zone_watermark_ok(
    zone: &Zone,
    pa: &PageAlloc,
    order: u32,
    mark: u64,
    highest_zoneidx: usize,
    flags: AllocFlags,
    free_pages: i64,
) -> bool {
    let mut min = mark as i64;
    let mut free = free_pages - zone_watermark_unusable_free(zone, pa, order, flags);
    match pa.rules.watermark {
        WatermarkForm::V6_3 => {
            if flags.intersects(AllocFlags::ALLOC_RESERVES) {
                if flags.contains(AllocFlags::ALLOC_MIN_RESERVE) {
                    min -= min / 2;
                    if flags.contains(AllocFlags::ALLOC_NON_BLOCK) {
                        min -= min / 4;
                    }
                }
                if flags.contains(AllocFlags::ALLOC_OOM) {
                    min -= min / 2;
                }
            }
        }
        WatermarkForm::V4 => {
            if flags.contains(AllocFlags::ALLOC_HIGH) {
                min -= min / 2;
            }
            if flags.intersects(AllocFlags::ALLOC_HARDER | AllocFlags::ALLOC_OOM) {
                if flags.contains(AllocFlags::ALLOC_OOM) {
                    min -= min / 2;
                } else {
                    min -= min / 4;
                }
            }
        }
        WatermarkForm::V3 => {
            if flags.contains(AllocFlags::ALLOC_HIGH) {
                min -= min / 2;
            }
            if flags.contains(AllocFlags::ALLOC_HARDER) {
                min -= min / 4;
            }
        }
    }
    let reserve = zone
        .lowmem_reserve
        .get(highest_zoneidx)
        .copied()
        .unwrap_or(0) as i64;
    if free <= min + reserve {
        return false;
    }
    if order == 0 {
        return true;
    }
    // The kernel reads the free areas here without zone->lock.
    let fa = zone.free_area_lockless();
    if pa.rules.watermark == WatermarkForm::V3 {
        // ≤4.3: at each lower order, discount its free pages and halve the requirement.
        for o in 0..order {
            free -= (fa.nr_free(o) << o) as i64;
            min >>= 1;
            if free <= min {
                return false;
            }
        }
        return true;
    }
    for o in order..NR_PAGE_ORDERS as u32 {
        if fa.nr_free(o) == 0 {
            continue;
        }
        if (0..MIGRATE_PCPTYPES).any(|mt| !fa.free_area_empty(o, mt)) {
            return true;
        }
        if let Some(c) = pa.mt.cma {
            if flags.contains(AllocFlags::ALLOC_CMA) && !fa.free_area_empty(o, c) {
                return true;
            }
        }
        if let Some(h) = pa.mt.highatomic {
            let allowed = match pa.rules.watermark {
                WatermarkForm::V6_3 => {
                    flags.intersects(AllocFlags::ALLOC_HIGHATOMIC | AllocFlags::ALLOC_OOM)
                }
                _ => flags.intersects(AllocFlags::ALLOC_HARDER | AllocFlags::ALLOC_OOM),
            };
            if allowed && !fa.free_area_empty(o, h) {
                return true;
            }
        }
    }
    false
}

/// mm/page_alloc.c: `zone_watermark_fast`: the order-0 shortcut inline, the full check
/// out of line.
#[inline(always)]
fn zone_watermark_fast(
    zone: &Zone,
    pa: &PageAlloc,
    order: u32,
    mark: u64,
    highest_zoneidx: usize,
    flags: AllocFlags,
) -> bool {
    let free = zone.nr_free_pages.load(Relaxed);
    if order == 0 {
        let reserved = zone_watermark_unusable_free(zone, pa, 0, flags);
        let usable = free - free.min(reserved);
        let reserve = zone
            .lowmem_reserve
            .get(highest_zoneidx)
            .copied()
            .unwrap_or(0) as i64;
        if usable > mark as i64 + reserve {
            return true;
        }
    }
    zone_watermark_full(zone, pa, order, mark, highest_zoneidx, flags, free)
}

/// The part of [`zone_watermark_fast`] after the order-0 shortcut.
#[inline(never)]
fn zone_watermark_full(
    zone: &Zone,
    pa: &PageAlloc,
    order: u32,
    mark: u64,
    highest_zoneidx: usize,
    flags: AllocFlags,
    free: i64,
) -> bool {
    if __zone_watermark_ok(zone, pa, order, mark, highest_zoneidx, flags, free) {
        return true;
    }
    if order == 0
        && flags.contains(AllocFlags::ALLOC_MIN_RESERVE)
        && zone.watermark_boost.load(Relaxed) != 0
        && flags.wmark() == WMARK_MIN
    {
        return __zone_watermark_ok(
            zone,
            pa,
            order,
            zone._watermark[WMARK_MIN],
            highest_zoneidx,
            flags,
            free,
        );
    }
    false
}

/// mm/page_alloc.c: `zone_watermark_ok` (the exported check, for callers outside).
pub fn zone_watermark_ok(
    zone: &Zone,
    pa: &PageAlloc,
    order: u32,
    mark: u64,
    highest_zoneidx: usize,
    flags: AllocFlags,
) -> bool {
    __zone_watermark_ok(
        zone,
        pa,
        order,
        mark,
        highest_zoneidx,
        flags,
        zone.nr_free_pages.load(Relaxed),
    )
}

// ---------------------------------------------------------------------------------------------
// The highatomic reserve.

/// mm/page_alloc.c: `reserve_highatomic_pageblock`: a high-order atomic allocation
/// succeeded; keep its pageblock for later ones (at most ~1% of the zone).
fn reserve_highatomic_pageblock(zone: &Zone, pa: &PageAlloc, sp: &Sparse, pfn: u64, order: u32) {
    let Some(h) = pa.mt.highatomic else { return };
    let max_managed = if pa.rules.highatomic_align {
        (zone.managed() / 100).div_ceil(PAGEBLOCK_NR_PAGES) * PAGEBLOCK_NR_PAGES
    } else {
        zone.managed() / 100 + PAGEBLOCK_NR_PAGES
    };
    if zone.nr_reserved_highatomic.load(Relaxed) >= max_managed {
        return;
    }
    let fa = zone.lock.lock();
    if zone.nr_reserved_highatomic.load(Relaxed) >= max_managed {
        return;
    }
    let mt = pfnblock_mt(sp, pfn);
    if !pa.mt.is_mergeable(mt) || mt == h {
        return;
    }
    if order < PAGEBLOCK_ORDER {
        let start = pageblock_start_pfn(pfn);
        if !zone.zone_spans_pfn(start) || !zone.zone_spans_pfn(start + PAGEBLOCK_NR_PAGES - 1) {
            return;
        }
        move_freepages_block(&fa, zone, pa, sp, start, mt, h);
        sp.set_pageblock_migratetype(start, h as u64);
        zone.nr_reserved_highatomic
            .fetch_add(PAGEBLOCK_NR_PAGES, Relaxed);
    } else {
        change_pageblock_range(sp, pfn, order, h);
        zone.nr_reserved_highatomic.fetch_add(1 << order, Relaxed);
    }
}

/// mm/page_alloc.c: `unreserve_highatomic_pageblock`: give one reserved pageblock per zone
/// of the zonelist back to the requested type (the kernel does this when direct reclaim
/// failed). Returns whether a block moved.
pub fn unreserve_highatomic_pageblock(
    k: &Kernel,
    zonelist: &[ZoneRef],
    highest_zoneidx: usize,
    mt: usize,
    force: bool,
) -> bool {
    let pa = &k.page_alloc;
    let sp = &k.sparse;
    let Some(h) = pa.mt.highatomic else {
        return false;
    };
    for zone in zonelist
        .iter()
        .filter(|r| r.zone_idx <= highest_zoneidx)
        .filter_map(|&r| pa.zone(r))
    {
        let reserved = zone.nr_reserved_highatomic.load(Relaxed);
        if !force && reserved <= PAGEBLOCK_NR_PAGES {
            continue;
        }
        let fa = zone.lock.lock();
        for order in 0..NR_PAGE_ORDERS as u32 {
            let Some(page) = fa.first(order, h) else {
                continue;
            };
            let pfn = pfn_of(sp, page);
            let start = pageblock_start_pfn(pfn);
            let take = PAGEBLOCK_NR_PAGES.min(zone.nr_reserved_highatomic.load(Relaxed));
            zone.nr_reserved_highatomic.fetch_sub(take, Relaxed);
            let moved = if order >= PAGEBLOCK_ORDER {
                // SAFETY: a free block of `order` on this zone's lists; lock held.
                unsafe { move_to_free_list(&fa, page, order, mt) };
                account_freepages(zone, pa, -(1 << order), h);
                account_freepages(zone, pa, 1 << order, mt);
                change_pageblock_range(sp, pfn, order, mt);
                1
            } else {
                let m = move_freepages_block(&fa, zone, pa, sp, start, h, mt);
                sp.set_pageblock_migratetype(start, mt as u64);
                m
            };
            if moved > 0 {
                return true;
            }
        }
    }
    false
}

// ---------------------------------------------------------------------------------------------
// Allocation.

/// `struct alloc_context`.
#[derive(Clone, Debug)]
pub struct AllocContext {
    /// `__GFP_THISNODE`: the node's ZONELIST_NOFALLBACK instead of its fallback list.
    pub thisnode: bool,
    pub highest_zoneidx: usize,
    pub migratetype: usize,
    pub preferred_nid: u32,
    /// `ac->preferred_zoneref` (`first_zones_zonelist`): the index of the first zonelist
    /// entry at or below `highest_zoneidx` (the zonelist's length when there is none).
    pub preferred_zoneref: usize,
    /// `smp_processor_id()` of the caller: whose pagesets `rmqueue` uses.
    pub cpu: u32,
}

impl AllocContext {
    /// `ac->zonelist` (`node_zonelist(preferred_nid, gfp)`), read in place.
    pub fn zonelist<'a>(&self, pa: &'a PageAlloc) -> &'a [ZoneRef] {
        self.zonelist_in(pa).map_or(&[], |z| &z[..])
    }

    /// `ac->preferred_zoneref` and its zone, if there is one.
    #[inline(always)]
    fn preferred_zone<'a>(&self, pa: &'a PageAlloc) -> Option<(ZoneRef, &'a Zone)> {
        let zl = self.zonelist_in(pa)?;
        let r = *zl.refs.get(self.preferred_zoneref)?;
        Some((r, zl.zone(pa, self.preferred_zoneref)?))
    }

    #[inline]
    fn zonelist_in<'a>(&self, pa: &'a PageAlloc) -> Option<&'a Zonelist> {
        let n = pa.node(self.preferred_nid)?;
        Some(if self.thisnode {
            &n.zonelist_nofallback
        } else {
            &n.zonelist_fallback
        })
    }
}

/// What the zonelist walk found.
enum Walk {
    Page(*mut Page, ZoneRef),
    /// A zone with deferred pages could give memory after `deferred_grow_zone`.
    Grow(ZoneRef),
    Fail,
}

/// mm/page_alloc.c: `get_page_from_freelist`: walk the zonelist for a zone above its
/// watermark and take a block from it.
///
/// The walk's first step, the preferred zone (`ac->preferred_zoneref`, which is at or below
/// `highest_zoneidx` and which ALLOC_NOFRAGMENT never skips), is taken here without the
/// rest of the walk; if it gives no page, the walk goes on from there with what that step
/// found.
#[inline(always)]
fn get_page_from_freelist(
    pa: &PageAlloc,
    sp: &Sparse,
    order: u32,
    flags: AllocFlags,
    ac: &AllocContext,
    grown: &[ZoneRef],
) -> Walk {
    if let Some((r, zone)) = ac.preferred_zone(pa) {
        let ok = above_high(zone, pa, order, ac, flags)
            || flags.contains(AllocFlags::ALLOC_NO_WATERMARKS)
            || zone_watermark_fast(
                zone,
                pa,
                order,
                zone.wmark_pages(flags.wmark()),
                ac.highest_zoneidx,
                flags,
            );
        if ok {
            if let Some(page) = rmqueue(zone, pa, sp, order, ac.migratetype, flags, ac.cpu) {
                return Walk::Page(page, r);
            }
        }
        return get_page_from_freelist_walk(pa, sp, order, flags, ac, grown, true);
    }
    get_page_from_freelist_walk(pa, sp, order, flags, ac, grown, false)
}

/// 6.7+ `get_page_from_freelist` (57c0419c5f0e): a zone not yet marked ZONE_BELOW_HIGH is
/// first tried against its high watermark; above it, the zone is taken at once (`goto
/// try_this_zone`, the lower mark needs no second look), below it, the zone is marked, so
/// that frees shrink the pcp high mark instead of growing it. True: above the high mark.
#[inline(always)]
fn above_high(
    zone: &Zone,
    pa: &PageAlloc,
    order: u32,
    ac: &AllocContext,
    flags: AllocFlags,
) -> bool {
    if !pa.pcp.below_high || zone.below_high.load(Relaxed) {
        return false;
    }
    let mark = zone.high_wmark_pages();
    if zone_watermark_fast(zone, pa, order, mark, ac.highest_zoneidx, flags) {
        return true;
    }
    zone.below_high.store(true, Relaxed);
    false
}

/// The zonelist walk of [`get_page_from_freelist`]. With `preferred_tried`, the preferred
/// zone already gave no page with these flags on this pass (below its watermark, or
/// `rmqueue` found nothing): only its deferred-growth escape is left to look at.
#[cold]
#[inline(never)]
fn get_page_from_freelist_walk(
    pa: &PageAlloc,
    sp: &Sparse,
    order: u32,
    mut flags: AllocFlags,
    ac: &AllocContext,
    grown: &[ZoneRef],
    mut preferred_tried: bool,
) -> Walk {
    let Some(zonelist) = ac.zonelist_in(pa) else {
        return Walk::Fail;
    };
    let start = ac.preferred_zoneref.min(zonelist.len());
    let preferred = zonelist.get(start).copied();
    // The deferred-growth escape (`_deferred_grow_zone` + `goto try_this_zone`), looked at
    // only when a zone falls short, as the kernel does.
    let grow = |zone: &Zone, r: ZoneRef| zone_has_deferred(pa, zone) && !grown.contains(&r);
    'retry: loop {
        let no_fallback = flags.contains(AllocFlags::ALLOC_NOFRAGMENT);
        for (i, &r) in zonelist.iter().enumerate().skip(start) {
            if r.zone_idx > ac.highest_zoneidx {
                continue;
            }
            let Some(zone) = zonelist.zone(pa, i) else {
                continue;
            };
            if no_fallback
                && pa.node_data.len() > 1
                && i != start
                && preferred.is_some_and(|p| p.nid != r.nid)
            {
                flags.remove(AllocFlags::ALLOC_NOFRAGMENT);
                preferred_tried = false;
                continue 'retry;
            }
            if i == start && preferred_tried {
                if grow(zone, r) {
                    return Walk::Grow(r);
                }
                continue;
            }
            if !above_high(zone, pa, order, ac, flags)
                && !flags.contains(AllocFlags::ALLOC_NO_WATERMARKS)
            {
                let mark = zone.wmark_pages(flags.wmark());
                if !zone_watermark_fast(zone, pa, order, mark, ac.highest_zoneidx, flags) {
                    if grow(zone, r) {
                        return Walk::Grow(r);
                    }
                    continue;
                }
            }
            match rmqueue(zone, pa, sp, order, ac.migratetype, flags, ac.cpu) {
                Some(page) => return Walk::Page(page, r),
                None if grow(zone, r) => return Walk::Grow(r),
                None => {}
            }
        }
        if no_fallback {
            flags.remove(AllocFlags::ALLOC_NOFRAGMENT);
            preferred_tried = false;
            continue 'retry;
        }
        return Walk::Fail;
    }
}

/// Does the node's last zone still hold deferred pages?
#[cold]
fn zone_has_deferred(pa: &PageAlloc, zone: &Zone) -> bool {
    pa.node(zone.node).is_some_and(|n| {
        n.first_deferred_pfn != u64::MAX
            && zone.zone_end_pfn() == n.pgdat_end_pfn()
            && zone.zone_spans_pfn(n.first_deferred_pfn.max(zone.zone_start_pfn))
    })
}

/// mm/page_alloc.c: `prep_new_page` / `post_alloc_hook`: a block leaves the allocator.
/// Returns false when `__GFP_ZERO` could not clear the block because its memory is not
/// simulated RAM (a broken memmap: the kernel would fault on the direct-map address).
///
/// # Safety
/// `page` heads a block of `2^order` pages just taken off the free lists.
#[inline(always)]
#[must_use]
unsafe fn prep_new_page(
    phys: &PhysMem,
    sp: &Sparse,
    page: *mut Page,
    order: u32,
    gfp: Gfp,
) -> bool {
    let mut zeroed = true;
    // SAFETY: forwarded from the caller: the block is ours.
    unsafe {
        (*page).private = 0;
        // set_page_refcounted, atomically: a racing double free on another CPU may be
        // reading it (see __free_pages_on).
        AtomicI32::from_ptr(ptr::addr_of_mut!((*page).refcount)).store(1, Relaxed);
        if cfg!(debug_assertions) {
            // check_new_pages (CONFIG_DEBUG_VM).
            for i in 0..1usize << order {
                let p = &*page.add(i);
                debug_assert!(
                    p.mapcount == -1
                        && p.mapping == 0
                        && (i == 0 || p.refcount == 0)
                        && p.flags & ((1 << crate::include::mm_types::NR_PAGEFLAGS) - 1) == 0,
                    "check_new_page: bad page {:?}",
                    p
                );
            }
        }
        if gfp.contains(Gfp::__GFP_ZERO) {
            // kernel_init_pages: clear_highpage on each page.
            let pfn = pfn_of(sp, page);
            zeroed = phys
                .memset(crate::PhysAddr(pfn << 12), 0, 4096 << order)
                .is_ok();
        }
        if order > 0 && gfp.contains(Gfp::__GFP_COMP) {
            prep_compound_page(page, order);
        }
    }
    zeroed
}

/// A `__GFP_ZERO` block whose memory lies outside simulated RAM: the kernel's
/// `clear_highpage` would fault on its direct-map address. Reported as that oops; the block
/// stays allocated (nothing can reach its bytes either way).
#[cold]
#[inline(never)]
fn report_unbacked_block(k: &Kernel, page: *mut Page, order: u32) {
    let pfn = pfn_of(&k.sparse, page);
    debug_assert!(
        false,
        "free block at pfn {pfn:#x} order {order} is not in simulated RAM"
    );
    crate::pr_alert!(
        k.printk,
        "BUG: unable to handle page fault for address: {:016x}\n",
        k.phys.va(crate::PhysAddr(pfn << 12)).0
    );
}

/// `TAIL_MAPPING` (`0x400 + POISON_POINTER_DELTA`).
pub const TAIL_MAPPING: u64 = 0xdead_0000_0000_0400;

/// mm/page_alloc.c: `prep_compound_page`: PG_head on the head, `compound_head` (bit 0 set)
/// in each tail's `lru.next`, the order in the first tail's flags (the 6.x folio encoding).
///
/// # Safety
/// `page` heads a block of `2^order` pages the caller owns.
unsafe fn prep_compound_page(page: *mut Page, order: u32) {
    // SAFETY: forwarded from the caller.
    unsafe {
        (*page).flags |= PageFlags::PG_HEAD.bits();
        for i in 1..1usize << order {
            let t = &mut *page.add(i);
            t.lru.next = (page as usize | 1) as *mut ListHead;
            t.mapping = TAIL_MAPPING;
        }
        let t1 = &mut *page.add(1);
        t1.flags = (t1.flags & !0xff) | u64::from(order);
    }
}

/// `PageTail`.
#[allow(non_snake_case)]
pub fn PageTail(page: &Page) -> bool {
    page.lru.next as usize & 1 != 0
}

/// `PageHead`.
#[allow(non_snake_case)]
pub fn PageHead(page: &Page) -> bool {
    page.flags & PageFlags::PG_HEAD.bits() != 0
}

/// `compound_order`.
///
/// # Safety
/// `page` is a struct page whose successor exists when it is a head.
pub unsafe fn compound_order(page: *const Page) -> u32 {
    // SAFETY: forwarded from the caller.
    unsafe {
        if PageHead(&*page) {
            ((*page.add(1)).flags & 0xff) as u32
        } else {
            0
        }
    }
}

/// mm/page_alloc.c: `gfp_to_alloc_flags`: the slow path's alloc_flags.
pub fn gfp_to_alloc_flags(era: &Era, gfp: Gfp, order: u32) -> AllocFlags {
    let mut f = AllocFlags::ALLOC_WMARK_MIN | AllocFlags::ALLOC_CPUSET;
    if gfp.contains(Gfp::__GFP_HIGH) {
        f |= AllocFlags::ALLOC_MIN_RESERVE;
    }
    if era.at_least(6, 3) {
        if gfp.contains(Gfp::__GFP_KSWAPD_RECLAIM) {
            f |= AllocFlags::ALLOC_KSWAPD;
        }
        if !gfp.contains(Gfp::__GFP_DIRECT_RECLAIM) {
            if !gfp.contains(Gfp::__GFP_NOMEMALLOC) {
                f |= AllocFlags::ALLOC_NON_BLOCK;
                if order > 0 {
                    f |= AllocFlags::ALLOC_HIGHATOMIC;
                }
            }
            if f.contains(AllocFlags::ALLOC_MIN_RESERVE) {
                f.remove(AllocFlags::ALLOC_CPUSET);
            }
        }
    } else if gfp.contains(Gfp::__GFP_ATOMIC) {
        if !gfp.contains(Gfp::__GFP_NOMEMALLOC) {
            f |= AllocFlags::ALLOC_HARDER;
        }
        f.remove(AllocFlags::ALLOC_CPUSET);
    }
    if gfp_migratetype(era, gfp, false) == MIGRATE_MOVABLE_OF(era) {
        f |= AllocFlags::ALLOC_CMA;
    }
    f
}

#[allow(non_snake_case)]
fn MIGRATE_MOVABLE_OF(era: &Era) -> usize {
    crate::mm::sparse::migrate_movable(era) as usize
}

/// Why an allocation call could not be made at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// The zone modifiers combine in a way `GFP_ZONE_BAD` rejects (`VM_BUG_ON`).
    BadZoneModifiers(u32),
    /// No such node.
    NoNode(i32),
    /// Growing a zone's deferred part failed: its struct pages could not be initialised
    /// (the host-memory budget, or a broken memmap).
    Grow(crate::init::main::BootError),
}

/// Who runs an allocation: the kernel it runs in, and whether it may grow a zone's deferred
/// part (`deferred_grow_zone` needs the memmap's bookkeeping, so only the `&mut Kernel`
/// callers do; after [`Kernel::smp_init`] nothing is left to grow).
pub(crate) trait AllocHost {
    fn kernel(&self) -> &Kernel;
    /// `_deferred_grow_zone`: whether pages were added.
    fn grow(&mut self, r: ZoneRef, order: u32) -> Result<bool, crate::init::main::BootError>;
}

impl AllocHost for &mut Kernel {
    #[inline(always)]
    fn kernel(&self) -> &Kernel {
        self
    }

    fn grow(&mut self, r: ZoneRef, order: u32) -> Result<bool, crate::init::main::BootError> {
        deferred_grow_zone(self, r, order)
    }
}

impl AllocHost for &Kernel {
    #[inline(always)]
    fn kernel(&self) -> &Kernel {
        self
    }

    fn grow(&mut self, _r: ZoneRef, _order: u32) -> Result<bool, crate::init::main::BootError> {
        debug_assert!(
            self.cpus.online(),
            "a shared-reference allocation before smp_init"
        );
        Ok(false)
    }
}

/// mm/page_alloc.c: `__alloc_pages` (`__alloc_pages_nodemask` before 5.13): the fast path,
/// then the slow path. bootmm's slow path retries at the min watermark with the
/// `gfp_to_alloc_flags` reserves, grows deferred zones, releases the highatomic reserve
/// where the kernel would after a failed direct reclaim, and stops there: no reclaim, no
/// compaction, no OOM killer. A failure is reported by `warn_alloc` unless __GFP_NOWARN.
///
/// Runs on the CPU `k.cpus.current()` names (see [`crate::kernel::smp`]).
///
/// # Errors
/// [`AllocError`] when the call cannot be made (bad zone modifiers, no such node, a zone's
/// deferred part that could not grow); out of memory is `Ok(None)`.
pub fn __alloc_pages(
    mut k: &mut Kernel,
    gfp: Gfp,
    order: u32,
    preferred_nid: u32,
    nodemask_thisnode: bool,
) -> Result<Option<NonNull<Page>>, AllocError> {
    let cpu = k.cpus.current();
    __alloc_pages_host(&mut k, cpu, gfp, order, preferred_nid, nodemask_thisnode)
}

/// [`__alloc_pages`] for any [`AllocHost`], on CPU `cpu`.
#[inline]
fn __alloc_pages_host<H: AllocHost>(
    h: &mut H,
    cpu: u32,
    gfp: Gfp,
    order: u32,
    preferred_nid: u32,
    nodemask_thisnode: bool,
) -> Result<Option<NonNull<Page>>, AllocError> {
    let k = h.kernel();
    if order > MAX_PAGE_ORDER {
        // WARN_ON_ONCE_GFP(order > MAX_PAGE_ORDER, gfp): once per boot, unless __GFP_NOWARN.
        if !gfp.contains(Gfp::__GFP_NOWARN) && !k.page_alloc.warned_order.swap(true, Relaxed) {
            crate::pr_warn!(k.printk, "WARNING: CPU: 0 PID: 0 at mm/page_alloc.c __alloc_pages: order {order} > MAX_PAGE_ORDER\n");
        }
        return Ok(None);
    }
    let pa = &k.page_alloc;
    let Some(highest_zoneidx) = pa.gfp_zone_table.gfp_zone(gfp) else {
        return Err(AllocError::BadZoneModifiers(
            crate::include::gfp::gfp_to_raw(&k.era, gfp),
        ));
    };
    let highest_zoneidx = highest_zoneidx as usize;
    let Some(node) = pa.node(preferred_nid).or_else(|| pa.node_data.first()) else {
        // No zones at all (a bare kernel): nothing to allocate from.
        if !gfp.contains(Gfp::__GFP_NOWARN) {
            warn_alloc(k, cpu, gfp, order);
        }
        return Ok(None);
    };
    let thisnode = nodemask_thisnode || gfp.contains(Gfp::__GFP_THISNODE);
    let zonelist = if thisnode {
        &node.zonelist_nofallback
    } else {
        &node.zonelist_fallback
    };
    let migratetype = gfp_migratetype(&k.era, gfp, false);
    let ac = AllocContext {
        thisnode,
        highest_zoneidx,
        // gfp_migratetype with page_group_by_mobility_disabled: everything UNMOVABLE.
        migratetype: if pa.page_group_by_mobility_disabled {
            0
        } else {
            migratetype
        },
        preferred_nid: node.node_id,
        preferred_zoneref: zonelist
            .iter()
            .position(|r| r.zone_idx <= highest_zoneidx)
            .unwrap_or(zonelist.len()),
        cpu,
    };
    // Fast path: the low watermark.
    let mut flags = AllocFlags::ALLOC_WMARK_LOW;
    if migratetype == pa.mt.movable {
        // gfp_to_alloc_flags_cma.
        flags |= AllocFlags::ALLOC_CMA;
    }
    if pa.rules.nofragment {
        flags |= alloc_flags_nofragment(pa, zonelist.get(ac.preferred_zoneref), gfp);
    }
    if let Some(p) = alloc_walk(h, gfp, order, flags, &ac)? {
        return Ok(Some(p));
    }
    __alloc_pages_slowpath(h, gfp, order, &ac)
}

/// mm/page_alloc.c: `__alloc_pages_slowpath`, as far as bootmm takes it (see
/// [`__alloc_pages`]).
#[cold]
#[inline(never)]
fn __alloc_pages_slowpath<H: AllocHost>(
    h: &mut H,
    gfp: Gfp,
    order: u32,
    ac: &AllocContext,
) -> Result<Option<NonNull<Page>>, AllocError> {
    let slow = gfp_to_alloc_flags(&h.kernel().era, gfp, order);
    if let Some(p) = alloc_walk(h, gfp, order, slow, ac)? {
        return Ok(Some(p));
    }
    if gfp.contains(Gfp::__GFP_DIRECT_RECLAIM) {
        // __alloc_pages_direct_reclaim after reclaim found nothing: release the highatomic
        // reserve, drain every CPU's pcp lists, and retry once (`drained`).
        let k = h.kernel();
        unreserve_highatomic_pageblock(
            k,
            ac.zonelist(&k.page_alloc),
            ac.highest_zoneidx,
            ac.migratetype,
            false,
        );
        drain_all_pages(k, None);
        if let Some(p) = alloc_walk(h, gfp, order, slow, ac)? {
            return Ok(Some(p));
        }
    }
    if !gfp.contains(Gfp::__GFP_NOWARN) {
        warn_alloc(h.kernel(), ac.cpu, gfp, order);
    }
    Ok(None)
}

/// mm/page_alloc.c: `alloc_flags_nofragment` (5.0+): avoid mixing pageblocks when the
/// preferred zone is Normal and DMA32 below it is populated.
#[inline]
fn alloc_flags_nofragment(pa: &PageAlloc, preferred: Option<&ZoneRef>, gfp: Gfp) -> AllocFlags {
    let mut f = AllocFlags::empty();
    if gfp.contains(Gfp::__GFP_KSWAPD_RECLAIM) {
        f |= AllocFlags::ALLOC_KSWAPD;
    }
    let Some(&pref) = preferred else {
        return f;
    };
    // ZONE_NORMAL's number is what GFP_ZONE_TABLE gives a mask without zone modifiers.
    if !pa.zones_configured.dma32 || Some(pref.zone_idx) != pa.gfp_zone_table.normal() {
        return f;
    }
    if pa.node_data.len() > 1 {
        let below = pa.zone(ZoneRef {
            nid: pref.nid,
            zone_idx: pref.zone_idx - 1,
        });
        if !below.is_some_and(|z| z.populated()) {
            return f;
        }
    }
    f | AllocFlags::ALLOC_NOFRAGMENT
}

/// The zonelist walk with deferred growth: `get_page_from_freelist`, and
/// `_deferred_grow_zone` + `goto try_this_zone` when a zone with deferred pages fell short.
#[inline(always)]
fn alloc_walk<H: AllocHost>(
    h: &mut H,
    gfp: Gfp,
    order: u32,
    flags: AllocFlags,
    ac: &AllocContext,
) -> Result<Option<NonNull<Page>>, AllocError> {
    let k = h.kernel();
    match get_page_from_freelist(&k.page_alloc, &k.sparse, order, flags, ac, &[]) {
        Walk::Page(page, r) => Ok(Some(finish_alloc(k, page, r, gfp, order, flags))),
        Walk::Grow(r) => alloc_walk_grow(h, gfp, order, flags, ac, r),
        Walk::Fail => Ok(None),
    }
}

/// [`alloc_walk`] once a zone with deferred pages fell short.
#[cold]
#[inline(never)]
fn alloc_walk_grow<H: AllocHost>(
    h: &mut H,
    gfp: Gfp,
    order: u32,
    flags: AllocFlags,
    ac: &AllocContext,
    first: ZoneRef,
) -> Result<Option<NonNull<Page>>, AllocError> {
    let mut grown: Vec<ZoneRef> = Vec::new();
    let mut walk = Walk::Grow(first);
    loop {
        match walk {
            Walk::Page(page, r) => {
                return Ok(Some(finish_alloc(h.kernel(), page, r, gfp, order, flags)))
            }
            Walk::Grow(r) => {
                // _deferred_grow_zone, then `goto try_this_zone` for as long as it grows.
                while h.grow(r, order).map_err(AllocError::Grow)? {
                    let k = h.kernel();
                    let pa = &k.page_alloc;
                    let page = pa.zone(r).and_then(|z| {
                        rmqueue(z, pa, &k.sparse, order, ac.migratetype, flags, ac.cpu)
                    });
                    if let Some(page) = page {
                        return Ok(Some(finish_alloc(k, page, r, gfp, order, flags)));
                    }
                }
                grown.push(r);
            }
            Walk::Fail => return Ok(None),
        }
        let k = h.kernel();
        walk = get_page_from_freelist(&k.page_alloc, &k.sparse, order, flags, ac, &grown);
    }
}

/// The end of `get_page_from_freelist`'s success: `prep_new_page`, and the highatomic
/// reserve for a high-order atomic allocation.
#[inline(always)]
fn finish_alloc(
    k: &Kernel,
    page: *mut Page,
    r: ZoneRef,
    gfp: Gfp,
    order: u32,
    flags: AllocFlags,
) -> NonNull<Page> {
    // SAFETY: the block was just taken off the lists of zone `r`.
    if !unsafe { prep_new_page(&k.phys, &k.sparse, page, order, gfp) } {
        report_unbacked_block(k, page, order);
    }
    let reserve = match k.page_alloc.rules.watermark {
        WatermarkForm::V6_3 => flags.contains(AllocFlags::ALLOC_HIGHATOMIC),
        WatermarkForm::V4 => order > 0 && flags.contains(AllocFlags::ALLOC_HARDER),
        WatermarkForm::V3 => false,
    };
    if reserve && k.page_alloc.rules.highatomic {
        finish_alloc_highatomic(k, page, r, order);
    }
    // SAFETY: `page` came off a free list: a struct page pointer, never null.
    unsafe { NonNull::new_unchecked(page) }
}

/// The `reserve_highatomic_pageblock` call of [`finish_alloc`].
#[cold]
#[inline(never)]
fn finish_alloc_highatomic(k: &Kernel, page: *mut Page, r: ZoneRef, order: u32) {
    if let Some(z) = k.page_alloc.zone(r) {
        reserve_highatomic_pageblock(z, &k.page_alloc, &k.sparse, pfn_of(&k.sparse, page), order);
    }
}

/// include/linux/gfp.h: `alloc_pages` (`alloc_pages_current` on NUMA before 5.x: the
/// current node, here node 0 at boot).
pub fn alloc_pages(
    k: &mut Kernel,
    gfp: Gfp,
    order: u32,
) -> Result<Option<NonNull<Page>>, AllocError> {
    let nid = numa_mem_id(k, k.cpus.current());
    __alloc_pages(k, gfp, order, nid, false)
}

/// `numa_mem_id()` on `cpu`: its node, or the first node with memory when its node has none.
#[inline]
pub(crate) fn numa_mem_id(k: &Kernel, cpu: u32) -> u32 {
    let pa = &k.page_alloc;
    let first = pa.node_data.first().map_or(0, |n| n.node_id);
    match k.numa.cpu_to_node.get(cpu as usize) {
        Some(&n) if n >= 0 && pa.node(n as u32).is_some_and(|d| d.node_present_pages > 0) => {
            n as u32
        }
        _ => first,
    }
}

/// `alloc_pages_node(nid, gfp, order)` on CPU `cpu` of a kernel shared by threads
/// ([`crate::kernel::smp::Cpu::alloc_pages`]); `nid` < 0 is NUMA_NO_NODE.
///
/// # Errors
/// As [`__alloc_pages`], and [`AllocError::NoNode`] for a node that does not exist.
#[inline]
pub(crate) fn alloc_pages_on(
    k: &Kernel,
    cpu: u32,
    gfp: Gfp,
    order: u32,
    nid: i32,
) -> Result<Option<NonNull<Page>>, AllocError> {
    let nid = if nid < 0 {
        numa_mem_id(k, cpu)
    } else if k.page_alloc.node(nid as u32).is_none() {
        return Err(AllocError::NoNode(nid));
    } else {
        nid as u32
    };
    let mut h = k;
    __alloc_pages_host(&mut h, cpu, gfp, order, nid, false)
}

/// include/linux/gfp.h: `alloc_pages_node` (NUMA_NO_NODE: the current node).
pub fn alloc_pages_node(
    k: &mut Kernel,
    nid: i32,
    gfp: Gfp,
    order: u32,
) -> Result<Option<NonNull<Page>>, AllocError> {
    let nid = if nid < 0 {
        numa_mem_id(k, k.cpus.current())
    } else {
        let n = nid as u32;
        if k.page_alloc.node(n).is_none() {
            return Err(AllocError::NoNode(nid));
        }
        n
    };
    __alloc_pages(k, gfp, order, nid, false)
}

/// mm/page_alloc.c: `__get_free_pages`: the block's direct-map address (0 on failure).
pub fn __get_free_pages(k: &mut Kernel, gfp: Gfp, order: u32) -> Result<u64, AllocError> {
    let gfp = gfp.difference(Gfp::__GFP_HIGHMEM);
    Ok(match alloc_pages(k, gfp, order)? {
        Some(p) => {
            k.phys
                .va(crate::PhysAddr(pfn_of(&k.sparse, p.as_ptr()) << 12))
                .0
        }
        None => 0,
    })
}

/// mm/page_alloc.c: `get_zeroed_page`.
pub fn get_zeroed_page(k: &mut Kernel, gfp: Gfp) -> Result<u64, AllocError> {
    __get_free_pages(k, gfp | Gfp::__GFP_ZERO, 0)
}

/// include/asm-generic/memory_model.h: `page_to_pfn`, for any pointer: `None` unless `page`
/// is a struct page of this kernel's memmap (the kernel would compute a garbage pfn).
pub fn page_to_pfn(k: &Kernel, page: NonNull<Page>) -> Option<u64> {
    k.sparse.page_to_pfn_checked(page)
}

// ---------------------------------------------------------------------------------------------
// Freeing.

/// How a free call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeResult {
    /// The block went back to the buddy allocator.
    Freed,
    /// Another reference remains (`put_page_testzero` false).
    StillReferenced,
    /// The checks found a bad page: the report was printed and nothing was changed.
    BadPage,
    /// The pointer is not a struct page of this memmap: nothing was read or changed.
    NotAPage,
}

/// mm/page_alloc.c: `__free_pages`: drop a reference; on the last one, free the block.
///
/// Any pointer may be passed: one that is not a struct page of this memmap (which the
/// kernel would dereference) comes back as [`FreeResult::NotAPage`] with nothing done, and
/// an order above `MAX_PAGE_ORDER` (whose free lists do not exist) is reported as a
/// `VM_BUG_ON_PAGE` and refused.
pub fn __free_pages(k: &mut Kernel, page: NonNull<Page>, order: u32) -> FreeResult {
    let cpu = k.cpus.current();
    __free_pages_on(k, cpu, page, order)
}

/// [`__free_pages`] on CPU `cpu`, through a shared reference.
pub(crate) fn __free_pages_on(k: &Kernel, cpu: u32, page: NonNull<Page>, order: u32) -> FreeResult {
    let Some(pfn) = page_to_pfn(k, page) else {
        return FreeResult::NotAPage;
    };
    let p = page.as_ptr();
    if order > MAX_PAGE_ORDER {
        debug::report_bad_free_order(k, p, pfn, order);
        return FreeResult::BadPage;
    }
    // SAFETY: `page_to_pfn` proved `p` is the struct page of `pfn` in this memmap; the
    // refcount is an aligned i32 that every thread changes atomically.
    let refcount = unsafe { AtomicI32::from_ptr(ptr::addr_of_mut!((*p).refcount)) };
    // SAFETY: as above.
    let head = unsafe { PageHead(&*p) };
    // put_page_testzero (atomic_dec_and_test); a page that had no reference gets it back.
    let old = refcount.fetch_sub(1, AcqRel);
    match old {
        r if r <= 0 => {
            refcount.fetch_add(1, AcqRel);
            // put_page_testzero on a free page: CONFIG_DEBUG_VM's VM_BUG_ON_PAGE. bootmm
            // reports what the free-time checks see on such a page and leaves it as it is.
            debug::report_free_of_free_page(k, cpu, p, pfn);
            FreeResult::BadPage
        }
        1 => {
            let r = free_the_page(k, cpu, page, pfn, order);
            if r == FreeResult::BadPage {
                // The kernel leaves the page with its reference dropped; bootmm undoes the
                // call so that the allocator state stays as it was (docs/divergences.md).
                refcount.fetch_add(1, AcqRel);
            }
            r
        }
        _ => {
            if !head {
                // Someone else holds the head: free the tail halves (the kernel's split free).
                let mut o = order;
                while o > 0 {
                    o -= 1;
                    // The tail halves' struct pages, where the memmap has them (an unaligned
                    // head's block may run past it; the kernel would read beyond the section).
                    let tail = p.wrapping_add(1 << o);
                    if let Some(t) = NonNull::new(tail) {
                        if let Some(tpfn) = page_to_pfn(k, t) {
                            free_the_page(k, cpu, t, tpfn, o);
                        }
                    }
                }
            }
            FreeResult::StillReferenced
        }
    }
}

/// mm/page_alloc.c: `free_the_page`: orders the pcp holds go to `free_unref_page`, the
/// rest to `__free_pages_ok`.
#[inline]
fn free_the_page(k: &Kernel, cpu: u32, page: NonNull<Page>, pfn: u64, order: u32) -> FreeResult {
    if k.page_alloc.pcp.pcp_allowed_order(order) {
        free_unref_page(k, cpu, page, pfn, order)
    } else {
        __free_pages_ok_on(k, cpu, page, order, Fpi::None)
    }
}

/// The zone of a block about to be freed, once `free_pages_prepare` accepted it.
#[inline(always)]
fn free_pages_prepare_zone(
    k: &Kernel,
    cpu: u32,
    p: *mut Page,
    pfn: u64,
    order: u32,
) -> Option<&Zone> {
    let pa = &k.page_alloc;
    // SAFETY: an initialised struct page.
    match pa.page_zone(unsafe { &*p }) {
        // SAFETY: `p` is the struct page of `pfn`.
        Some(z) if unsafe { debug::free_pages_prepare_fast(z, p, pfn, order) } => Some(z),
        _ => {
            if !debug::free_pages_prepare(k, cpu, p, pfn, order) {
                return None;
            }
            // SAFETY: as above.
            pa.page_zone(unsafe { &*p })
        }
    }
}

/// mm/page_alloc.c: `free_unref_page`: the free-time checks, then the block goes on CPU
/// `cpu`'s pageset of its zone: an isolated block goes straight to the buddy lists, and a
/// CMA or highatomic one to the MOVABLE list (keeping its own type for the drain). A zone
/// on `boot_pageset`, and from 6.0 a failed trylock, frees to the buddy lists directly.
fn free_unref_page(k: &Kernel, cpu: u32, page: NonNull<Page>, pfn: u64, order: u32) -> FreeResult {
    let p = page.as_ptr();
    let Some(zone) = free_pages_prepare_zone(k, cpu, p, pfn, order) else {
        return FreeResult::BadPage;
    };
    let pa = &k.page_alloc;
    let sp = &k.sparse;
    let Some(mt) = sp.get_pfnblock_migratetype(pfn) else {
        debug::report_no_pageblock(k, p, pfn);
        return FreeResult::BadPage;
    };
    let mt = mt as usize;
    let mut pcpmt = mt;
    if mt >= pcp::MIGRATE_PCPTYPES {
        if Some(mt) == pa.mt.isolate {
            free_one_page(zone, pa, sp, p, pfn, order, mt);
            return FreeResult::Freed;
        }
        pcpmt = pa.mt.movable;
    }
    let Some(pset) = zone.per_cpu_pageset.get(cpu as usize) else {
        free_one_page(zone, pa, sp, p, pfn, order, mt);
        return FreeResult::Freed;
    };
    let rules = &pa.pcp;
    let mut g = if rules.trylock {
        match pset.try_lock() {
            Some(g) => g,
            None => {
                let t = if rules.failed_free_uses_pcp_type {
                    pcpmt
                } else {
                    mt
                };
                free_one_page(zone, pa, sp, p, pfn, order, t);
                return FreeResult::Freed;
            }
        }
    } else {
        pset.lock()
    };
    let b = ZoneBuddy {
        zone,
        pa,
        sp,
        flags: AllocFlags::empty(),
        cpu,
    };
    // SAFETY: `g` locks a pageset of `zone`; the block passed free_pages_prepare.
    unsafe { pcp::free_unref_page_commit(&b, &mut g, rules, p, pcpmt, mt, order) };
    FreeResult::Freed
}

/// mm/page_alloc.c: `free_one_page`: `__free_one_page` under the zone lock.
#[inline]
fn free_one_page(
    zone: &Zone,
    pa: &PageAlloc,
    sp: &Sparse,
    p: *mut Page,
    pfn: u64,
    order: u32,
    mt: usize,
) {
    let fa = zone.lock.lock();
    // SAFETY: the caller's block passed free_pages_prepare: aligned, ours, not free.
    unsafe { __free_one_page(&fa, zone, pa, sp, p, pfn, order, mt, Fpi::None) };
}

/// mm/page_alloc.c: `drain_pages` (`drain_pages_zone` for one zone): CPU `cpu`'s pcp lists
/// back to the buddy lists.
pub(crate) fn drain_pages(k: &Kernel, cpu: u32, zone: Option<ZoneRef>) {
    let pa = &k.page_alloc;
    let each = |z: &Zone| {
        if let Some(p) = z.per_cpu_pageset.get(cpu as usize) {
            let b = ZoneBuddy {
                zone: z,
                pa,
                sp: &k.sparse,
                flags: AllocFlags::empty(),
                cpu,
            };
            pcp::drain_pages_zone(&b, p, &pa.pcp);
        }
    };
    match zone {
        Some(r) => {
            if let Some(z) = pa.zone(r) {
                each(z);
            }
        }
        None => pa.populated_zones().for_each(each),
    }
}

/// mm/page_alloc.c: `drain_local_pages(NULL)` on the CPU the `&mut Kernel` calls run on.
pub fn drain_local_pages(k: &Kernel) {
    drain_pages(k, k.cpus.current(), None);
}

/// mm/page_alloc.c: `drain_all_pages`: every CPU with pages on its lists drains them
/// (see [`Kernel::drain_all_pages`]).
pub(crate) fn drain_all_pages(k: &Kernel, zone: Option<ZoneRef>) {
    for cpu in 0..k.cpus.nr_cpu_ids() {
        drain_pages(k, cpu, zone);
    }
}

/// mm/page_alloc.c: `zone_pcp_disable`: every CPU's pageset of the zone gets high 0 and
/// batch 1 (`__zone_set_pageset_high_and_batch(zone, 0, 0, 1)`), and the lists are drained,
/// so that every block goes to and from the buddy lists under `zone->lock` (what memory
/// offlining and `alloc_contig_range` use). Returns false for a zone that does not exist.
pub fn zone_pcp_disable(k: &Kernel, r: ZoneRef) -> bool {
    let Some(z) = k.page_alloc.zone(r) else {
        return false;
    };
    pageset_update(
        z,
        &crate::mm::watermark::PcpSizes {
            batch: 1,
            high: 0,
            high_min: k.page_alloc.pcp.high_tuning.then_some(0),
            high_max: k.page_alloc.pcp.high_tuning.then_some(0),
        },
    );
    for p in z.per_cpu_pageset.iter() {
        p.lock().with(|s| s.high = 0);
    }
    drain_all_pages(k, Some(r));
    true
}

/// Finish the deferred struct pages of every node (see [`Kernel::smp_init`]).
pub(crate) fn deferred_init_all(k: &mut Kernel) -> Result<(), crate::init::main::BootError> {
    let refs: Vec<ZoneRef> = k
        .page_alloc
        .node_data
        .iter()
        .filter_map(|n| {
            // The zone that ends the node (deferred pages are the node's last ones).
            let last = n
                .node_zones
                .iter()
                .rposition(|z| z.populated() && z.zone_end_pfn() == n.pgdat_end_pfn())?;
            Some(ZoneRef {
                nid: n.node_id,
                zone_idx: last,
            })
        })
        .collect();
    let first = |k: &Kernel, nid: u32| {
        k.page_alloc
            .node(nid)
            .map_or(u64::MAX, |n| n.first_deferred_pfn)
    };
    for r in refs {
        // A section a call; one without free pages still moves first_deferred_pfn on.
        loop {
            let before = first(k, r.nid);
            if before == u64::MAX {
                break;
            }
            deferred_grow_zone(k, r, MAX_PAGE_ORDER)?;
            if first(k, r.nid) == before {
                break;
            }
        }
    }
    Ok(())
}

/// mm/page_alloc.c: `free_pages`: free by direct-map address (0 is ignored).
pub fn free_pages(k: &mut Kernel, addr: u64, order: u32) -> Result<FreeResult, String> {
    if addr == 0 {
        return Ok(FreeResult::StillReferenced);
    }
    let pa = k.phys.pa(crate::VirtAddr(addr)).0;
    let pfn = pa >> 12;
    // VM_BUG_ON(!virt_addr_valid((void *)addr)).
    if addr < k.phys.va(crate::PhysAddr(0)).0 || pfn >= k.max_pfn || !k.sparse.pfn_valid(pfn) {
        return Err(alloc::format!("free_pages({addr:#x}, {order}): VM_BUG_ON(!virt_addr_valid(addr)): not a direct-map address of RAM"));
    }
    let page = k.sparse.pfn_to_page(pfn).ok_or("no struct page")?;
    Ok(__free_pages(k, page, order))
}

/// mm/page_alloc.c: `__free_pages_ok`: the free-time checks, then `__free_one_page` with
/// the pageblock's migrate type, under the zone lock.
#[inline]
pub(crate) fn __free_pages_ok(
    k: &mut Kernel,
    page: NonNull<Page>,
    order: u32,
    fpi: Fpi,
) -> FreeResult {
    let cpu = k.cpus.current();
    __free_pages_ok_on(k, cpu, page, order, fpi)
}

/// [`__free_pages_ok`] through a shared reference, on CPU `cpu`.
#[inline]
fn __free_pages_ok_on(
    k: &Kernel,
    cpu: u32,
    page: NonNull<Page>,
    order: u32,
    fpi: Fpi,
) -> FreeResult {
    let p = page.as_ptr();
    let pfn = pfn_of(&k.sparse, p);
    let Some(zone) = free_pages_prepare_zone(k, cpu, p, pfn, order) else {
        return FreeResult::BadPage;
    };
    let Some(mt) = k.sparse.get_pfnblock_migratetype(pfn) else {
        // A validated struct page always has pageblock flags; CONFIG_DEBUG_VM's report.
        debug::report_no_pageblock(k, p, pfn);
        return FreeResult::BadPage;
    };
    let mt = mt as usize;
    let fa = zone.lock.lock();
    // SAFETY: free_pages_prepare accepted the block: aligned, ours, not free.
    unsafe { __free_one_page(&fa, zone, &k.page_alloc, &k.sparse, p, pfn, order, mt, fpi) };
    FreeResult::Freed
}
