// SPDX-License-Identifier: GPL-2.0-only
//! mm/page_alloc.c before 4.4: the MIGRATE_RESERVE pageblocks.
//!
//! `memmap_init_zone` marks every pageblock of a zone MIGRATE_MOVABLE. Each time the
//! watermarks are computed (`__setup_per_zone_wmarks`, under the zone lock),
//! `setup_zone_migrate_reserve` turns the first movable pageblocks without reserved pages into
//! MIGRATE_RESERVE, as many as `min_wmark_pages` fills (at most 2), moving their free pages to
//! the RESERVE lists, and turns surplus RESERVE blocks back to MOVABLE. `__rmqueue` takes from
//! the RESERVE lists only when every other list is empty. 4.4 replaced them with the
//! high-order atomic reserve.

use core::sync::atomic::Ordering::Relaxed;

use super::{move_freepages_block, PageAlloc, Zone, ZoneRef};
use crate::era::Era;
use crate::include::mm_types::{page_to_nid, PageReserved};
use crate::mm::sparse::{Sparse, PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER};

/// How `setup_zone_migrate_reserve` walks a zone, by era (mm/page_alloc.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReserveForm {
    /// Up to 3.2 (seen in 3.2): every pageblock with a reserved page is skipped, even when
    /// the reserve is met.
    V3_2,
    /// 3.3 (believed; "mm: reduce the amount of work done when updating min_free_kbytes",
    /// posted Nov 2011, not in 3.2): reserved pages are looked for only while blocks are
    /// still wanted.
    V3_3,
    /// 3.13 (believed): `zone->nr_migrate_reserve_block` remembers the count; an unchanged
    /// count returns at once, and a first setup stops once the reserve is met.
    V3_13,
    /// 4.2–4.3: the loop starts with `if (!early_page_nid_uninitialised(pfn, nid)) return;`,
    /// which returns on the first initialised pageblock, so no block is ever marked
    /// (the regression 4.4's removal of MIGRATE_RESERVE ended).
    V4_2,
}

impl ReserveForm {
    /// The era's form, or `None` from 4.4 (no MIGRATE_RESERVE).
    pub fn new(era: &Era) -> Option<Self> {
        if era.at_least(4, 4) {
            None
        } else if era.at_least(4, 2) {
            Some(ReserveForm::V4_2)
        } else if era.at_least(3, 13) {
            Some(ReserveForm::V3_13)
        } else if era.at_least(3, 3) {
            Some(ReserveForm::V3_3)
        } else {
            Some(ReserveForm::V3_2)
        }
    }
}

/// The number of MIGRATE_RESERVE pageblocks `setup_zone_migrate_reserve` wants for a zone
/// whose min watermark is `min_wmark_pages`:
/// `min(2, roundup(min_wmark_pages(zone), pageblock_nr_pages) >> pageblock_order)`.
/// "A min_free_kbytes value that would result in more than 2 reserve blocks for atomic
/// allocations is assumed to be in place to help anti-fragmentation for the future
/// allocation of hugepages at runtime."
pub fn migrate_reserve_blocks(min_wmark_pages: u64) -> u64 {
    ((min_wmark_pages.div_ceil(PAGEBLOCK_NR_PAGES) * PAGEBLOCK_NR_PAGES) >> PAGEBLOCK_ORDER).min(2)
}

/// mm/page_alloc.c: `pageblock_is_reserved`: does `[start_pfn, end_pfn)` hold a reserved
/// page? (`pfn_valid_within` is always true without CONFIG_HOLES_IN_ZONE, as on x86.)
fn pageblock_is_reserved(sp: &Sparse, start_pfn: u64, end_pfn: u64) -> bool {
    (start_pfn..end_pfn).any(|pfn| {
        match sp.pfn_to_page(pfn) {
            // SAFETY: a struct page of a valid section; every one is initialised.
            Some(p) => PageReserved(unsafe { p.as_ref() }),
            None => true,
        }
    })
}

/// mm/page_alloc.c: `set_pageblock_migratetype` (UNMOVABLE for every block when grouping
/// by mobility is disabled).
fn set_pageblock_migratetype(pa: &PageAlloc, sp: &Sparse, pfn: u64, mt: usize) {
    let mt = if pa.page_group_by_mobility_disabled {
        pa.mt.unmovable
    } else {
        mt
    };
    sp.set_pageblock_migratetype(pfn, mt as u64);
}

/// mm/page_alloc.c (3.x): `move_freepages_block`: nothing when the pageblock ends outside
/// the zone (`pfn` is pageblock-aligned and inside the zone here).
fn move_freepages_block_v3(pa: &PageAlloc, sp: &Sparse, zone: &Zone, pfn: u64, new_mt: usize) {
    if !zone.zone_spans_pfn(pfn + PAGEBLOCK_NR_PAGES - 1) {
        return;
    }
    let old_mt = super::pfnblock_mt(sp, pfn);
    let fa = zone.lock.lock();
    move_freepages_block(&fa, zone, pa, sp, pfn, old_mt, new_mt);
}

/// mm/page_alloc.c (before 4.4): `setup_zone_migrate_reserve`: "Mark a number of pageblocks
/// as MIGRATE_RESERVE. The number of blocks reserved is based on min_wmark_pages(zone)."
/// Called for every zone by `__setup_per_zone_wmarks` once the zone's watermarks are set.
pub fn setup_zone_migrate_reserve(pa: &PageAlloc, sp: &Sparse, r: ZoneRef) {
    let (Some(form), Some(reserve_mt)) = (pa.rules.migrate_reserve, pa.mt.reserve) else {
        return;
    };
    let Some(zone) = pa.zone(r) else {
        return;
    };
    let movable = pa.mt.movable;
    // "We have to be careful to be aligned to pageblock_nr_pages to make sure that we
    // always check pfn_valid for the first page in the block."
    let end_pfn = zone.zone_end_pfn();
    let start_pfn = zone.zone_start_pfn.next_multiple_of(PAGEBLOCK_NR_PAGES);
    let mut reserve = migrate_reserve_blocks(zone.min_wmark_pages());
    let old_reserve = zone.nr_migrate_reserve_block.load(Relaxed);
    if form >= ReserveForm::V3_13 {
        // "When memory hot-add, we almost always need to do nothing"
        if reserve == old_reserve {
            return;
        }
        zone.nr_migrate_reserve_block.store(reserve, Relaxed);
    }
    let mut pfn = start_pfn;
    while pfn < end_pfn {
        let block = pfn;
        pfn += PAGEBLOCK_NR_PAGES;
        if form == ReserveForm::V4_2 {
            // !early_page_nid_uninitialised(pfn, nid): true for every initialised pfn.
            let first_deferred = pa
                .node(zone.node)
                .map_or(u64::MAX, |n| n.first_deferred_pfn);
            if block < first_deferred {
                return;
            }
        }
        if !sp.pfn_valid(block) {
            continue;
        }
        let Some(page) = sp.pfn_to_page(block) else {
            continue;
        };
        // Watch out for overlapping nodes.
        // SAFETY: an initialised struct page of a valid section.
        if page_to_nid(unsafe { page.as_ref() }) != zone.node {
            continue;
        }
        let block_end_pfn = (block + PAGEBLOCK_NR_PAGES).min(end_pfn);
        // Up to 3.2 blocks with reserved pages are skipped whatever the count.
        if form == ReserveForm::V3_2 && pageblock_is_reserved(sp, block, block_end_pfn) {
            continue;
        }
        let block_mt = super::pfnblock_mt(sp, block);
        if reserve > 0 {
            // Blocks with reserved pages will never free, skip them.
            if form != ReserveForm::V3_2 && pageblock_is_reserved(sp, block, block_end_pfn) {
                continue;
            }
            // If this block is reserved, account for it.
            if block_mt == reserve_mt {
                reserve -= 1;
                continue;
            }
            // Suitable for reserving if this block is movable.
            if block_mt == movable {
                set_pageblock_migratetype(pa, sp, block, reserve_mt);
                move_freepages_block_v3(pa, sp, zone, block, reserve_mt);
                reserve -= 1;
                continue;
            }
        } else if form >= ReserveForm::V3_13 && old_reserve == 0 {
            // At boot time we don't need to scan the whole zone for turning off
            // MIGRATE_RESERVE.
            break;
        }
        // If the reserve is met and this is a previous reserved block, take it back.
        if block_mt == reserve_mt {
            set_pageblock_migratetype(pa, sp, block, movable);
            move_freepages_block_v3(pa, sp, zone, block, movable);
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests;
