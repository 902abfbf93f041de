//! `mm/mm_init.c` (mm/page_alloc.c before 6.3): `memmap_init`, the first write of every
//! struct page.
//!
//! After the zones are sized, the kernel walks memblock's memory ranges zone by zone and
//! initialises each pfn's struct page (zone and node links, refcount 1, no type, empty
//! `lru`), marks every pageblock MIGRATE_MOVABLE, and fills the holes of present sections as
//! Reserved. With CONFIG_DEFERRED_STRUCT_PAGE_INIT the top zone of each node stops after its
//! first section; the rest is initialised by pgdatinit threads in `page_alloc_init_late`.
//! bootmm defers the same pages but initialises them only when something asks
//! (`init_deferred_page`, `deferred_init_memmap`), so untouched struct pages cost no host
//! memory; the hole walk follows the 5.12+ `memmap_init` in every era.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::ptr::NonNull;

use crate::include::mm_types::{
    __SetPageReserved, init_page_count, mm_zero_struct_page, page_mapcount_reset, set_page_links,
    Page, SetPageReserved, INIT_LIST_HEAD,
};
use crate::init::main::BootError;
use crate::kernel::Kernel;
use crate::mm::mm_init::{MemRange, ZoneLayout};
use crate::mm::sparse::{
    migrate_movable, pfn_to_section_nr, section_nr_to_pfn, PAGEBLOCK_NR_PAGES, PAGES_PER_SECTION,
};

/// One node's deferred part: `pgdat->first_deferred_pfn` up to the node's end, all in
/// its highest zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deferred {
    pub nid: u32,
    pub first_deferred_pfn: u64,
    pub end_pfn: u64,
    /// The zone's index in `node_zones[]`.
    pub zone: u32,
}

/// What `memmap_init` did, and the state the deferred initialisation needs.
#[derive(Clone, Debug, Default)]
pub struct Memmap {
    /// `highest_memmap_pfn`.
    pub highest_memmap_pfn: u64,
    /// Struct pages written so far (early, holes and on demand).
    pub initialised: u64,
    /// Nodes whose top zone was cut short.
    pub deferred: Vec<Deferred>,
    /// Deferred pfns already initialised, one bit per pfn, per section (only sections that
    /// something touched get a bitmap).
    done: BTreeMap<u64, alloc::boxed::Box<[u64; (PAGES_PER_SECTION / 64) as usize]>>,
}

impl Memmap {
    /// `pgdat->first_deferred_pfn` (`u64::MAX`: nothing deferred).
    pub fn first_deferred_pfn(&self, nid: u32) -> u64 {
        self.deferred
            .iter()
            .find(|d| d.nid == nid)
            .map_or(u64::MAX, |d| d.first_deferred_pfn)
    }

    /// The deferred range holding `pfn`, if any.
    pub fn deferred_at(&self, pfn: u64) -> Option<Deferred> {
        self.deferred
            .iter()
            .copied()
            .find(|d| (d.first_deferred_pfn..d.end_pfn).contains(&pfn))
    }

    /// mm/mm_init.c: `early_page_initialised` extended to pages initialised on demand.
    pub fn page_initialised(&self, pfn: u64) -> bool {
        if self.deferred_at(pfn).is_none() {
            return true;
        }
        self.done.get(&pfn_to_section_nr(pfn)).is_some_and(|b| {
            let i = pfn - section_nr_to_pfn(pfn_to_section_nr(pfn));
            b[(i / 64) as usize] & (1 << (i % 64)) != 0
        })
    }

    fn mark_done(&mut self, pfn: u64) {
        let b = self
            .done
            .entry(pfn_to_section_nr(pfn))
            .or_insert_with(|| alloc::boxed::Box::new([0; (PAGES_PER_SECTION / 64) as usize]));
        let i = pfn - section_nr_to_pfn(pfn_to_section_nr(pfn));
        b[(i / 64) as usize] |= 1 << (i % 64);
    }

    /// Deferred pages not initialised yet.
    pub fn deferred_pending(&self) -> u64 {
        let total: u64 = self
            .deferred
            .iter()
            .map(|d| d.end_pfn - d.first_deferred_pfn)
            .sum();
        let done: u64 = self
            .done
            .values()
            .map(|b| b.iter().map(|w| u64::from(w.count_ones())).sum::<u64>())
            .sum();
        total - done
    }
}

/// mm/mm_init.c: `__init_single_page`.
pub fn __init_single_page(page: &mut Page, pfn: u64, zone: u32, nid: u32) {
    mm_zero_struct_page(page);
    set_page_links(page, zone, nid, pfn);
    init_page_count(page);
    page_mapcount_reset(page);
    // SAFETY: `lru` is a field of the page we hold exclusively.
    unsafe { INIT_LIST_HEAD(core::ptr::addr_of_mut!(page.lru)) };
}

/// The struct page of `pfn`, or an error where the kernel would dereference a bad pointer.
fn page_of(k: &Kernel, pfn: u64) -> Result<NonNull<Page>, BootError> {
    k.sparse
        .pfn_to_page(pfn)
        .ok_or_else(|| BootError::NoMemory(alloc::format!("pfn {pfn:#x} has no struct page")))
}

/// How many pfns of a node's top zone are initialised before the rest is deferred
/// (`pgdat->static_init_pgcnt`, `static_init_size` before 4.17), per era:
/// - 4.2: 2 GiB (Mel Gorman's deferred init, 3a80a7fa7989);
/// - 4.6: at least 1/256 of the node ("initialise more memory for inode/dentry hash tables
///   in early boot");
/// - 4.12: plus what memblock has reserved in the node's first part, since those pages
///   never reach the buddy allocator (864b9a393dcb) -- called with pfns where addresses
///   were meant, and adding bytes to pages, until Pavel Tatashin's "mm: broken deferred
///   calculation" (4.15), which adds the whole size of each reservation that touches
///   `[node start, node start + max]`;
/// - 4.17: one section ("mm: initialize pages on demand during boot", c9e97a1997fb):
///   anything short of free pages grows on demand.
///   All capped at the node's span.
fn static_init_pgcnt(k: &Kernel, node_start: u64, node_spanned: u64) -> u64 {
    let era = &k.era;
    if era.at_least(4, 17) {
        return PAGES_PER_SECTION;
    }
    let two_gib = (2u64 << 30) >> 12;
    let max = if era.at_least(4, 6) {
        two_gib.max(node_spanned >> 8)
    } else {
        two_gib
    };
    // memblock_reserved_memory_within(start, end): the sizes of the reserved regions that
    // overlap [start, end] (a region is not cut to the range).
    let reserved_within = |start: u64, end: u64| -> u64 {
        k.memblock
            .reserved
            .regions
            .iter()
            .filter(|r| r.base.saturating_add(r.size) >= start && r.base <= end)
            .map(|r| r.size)
            .sum()
    };
    let extra = if era.at_least(4, 15) {
        reserved_within(node_start << 12, (node_start + max) << 12) >> 12
    } else if era.at_least(4, 12) {
        // The 4.12 form: pfns passed as physical addresses, the byte total added as pages.
        reserved_within(node_start, node_start + max)
    } else {
        0
    };
    max.saturating_add(extra).min(node_spanned)
}

/// 73a6e474cb37 ("mm: memmap_init: iterate over memblock regions rather that check each
/// PFN", 5.8) handed `defer_init` each memblock region's end: only the node's last region
/// could defer, the earlier ones of the top zone were initialised whole. dc2da7b45ffe
/// (5.11, and 5.10.5 by stable, the sublevel inferred) went back to the zone's end.
fn defer_init_per_region(era: &crate::era::Era) -> bool {
    let v = era.version;
    era.at_least(5, 8) && !era.at_least(5, 11) && !(v.major == 5 && v.minor == 10 && v.patch >= 5)
}

/// `defer_init`'s static state.
struct DeferInit {
    enabled: bool,
    prev_end_pfn: u64,
    nr_initialised: u64,
}

impl DeferInit {
    /// mm/mm_init.c: `defer_init`: true once this pfn and all after it in the zone wait.
    /// `end_pfn` is the zone's end (the region's in 5.8-5.10, `per_region`, which also lacks
    /// the check that the node is already deferred).
    #[allow(clippy::too_many_arguments)]
    fn defer_init(
        &mut self,
        m: &mut Memmap,
        static_cnt: u64,
        (nid, zone): (u32, u32),
        pfn: u64,
        end_pfn: u64,
        node_end: u64,
        per_region: bool,
    ) -> bool {
        if !self.enabled {
            return false;
        }
        if self.prev_end_pfn != end_pfn {
            self.prev_end_pfn = end_pfn;
            self.nr_initialised = 0;
        }
        // Always populate low zones for address-constrained allocations.
        if end_pfn < node_end {
            return false;
        }
        if !per_region && m.first_deferred_pfn(nid) != u64::MAX {
            return true;
        }
        self.nr_initialised += 1;
        if self.nr_initialised > static_cnt && pfn & (PAGES_PER_SECTION - 1) == 0 {
            m.deferred.push(Deferred {
                nid,
                first_deferred_pfn: pfn,
                end_pfn: node_end,
                zone,
            });
            return true;
        }
        false
    }
}

/// mm/mm_init.c: `memmap_init_range` (MEMINIT_EARLY, MIGRATE_MOVABLE).
#[allow(clippy::too_many_arguments)]
fn memmap_init_range(
    k: &mut Kernel,
    di: &mut DeferInit,
    static_cnt: u64,
    size: u64,
    nid: u32,
    zone: u32,
    start_pfn: u64,
    zone_end_pfn: u64,
    node_end: u64,
) -> Result<(), BootError> {
    let end_pfn = start_pfn + size;
    // What defer_init is told the range ends at: the zone's end, or in 5.8-5.10 the region's.
    let per_region = defer_init_per_region(&k.era);
    let defer_end = if per_region { end_pfn } else { zone_end_pfn };
    k.memmap.highest_memmap_pfn = k.memmap.highest_memmap_pfn.max(end_pfn - 1);
    let movable = migrate_movable(&k.era);
    // 2.6 – 4.1 marked every page Reserved here; 4.2 left that to reserve_bootmem_region.
    let reserve_all = !k.era.at_least(4, 2);
    let mut pfn = start_pfn;
    while pfn < end_pfn {
        if di.defer_init(
            &mut k.memmap,
            static_cnt,
            (nid, zone),
            pfn,
            defer_end,
            node_end,
            per_region,
        ) {
            break;
        }
        // Work a section at a time: one table lookup, then pointer steps.
        let nr = pfn_to_section_nr(pfn);
        let sec_end = section_nr_to_pfn(nr + 1).min(end_pfn);
        let base = page_of(k, pfn)?;
        if di.enabled && defer_end >= node_end && k.memmap.first_deferred_pfn(nid) == u64::MAX {
            // Inside a section defer_init can only count: it fires at a section start.
            di.nr_initialised += sec_end - pfn - 1;
        }
        let run_end = sec_end;
        for (i, p) in (pfn..run_end).enumerate() {
            // SAFETY: base is the struct page of `pfn` and the section's memmap covers
            // [pfn, sec_end); nothing else references these struct pages during boot.
            let page = unsafe { &mut *base.as_ptr().add(i) };
            __init_single_page(page, p, zone, nid);
            if reserve_all {
                SetPageReserved(page);
            }
            // CONFIG_DEBUG_VM: mminit_verify_page_links.
            debug_assert_eq!(
                crate::include::mm_types::debug_check_page(page, zone, nid, p),
                Ok(())
            );
            if p & (PAGEBLOCK_NR_PAGES - 1) == 0 {
                k.sparse.set_pageblock_migratetype(p, movable);
            }
        }
        k.memmap.initialised += run_end - pfn;
        pfn = run_end;
    }
    Ok(())
}

/// mm/mm_init.c: `init_unavailable_range`: holes in present sections get a Reserved struct
/// page (whole pageblocks whose first pfn has no memmap are skipped). The count is printed
/// by the zone code (`free_area_init`), not again here.
fn init_unavailable_range(
    k: &mut Kernel,
    spfn: u64,
    epfn: u64,
    zone: u32,
    nid: u32,
) -> Result<u64, BootError> {
    let mut n = 0;
    let mut pfn = spfn;
    while pfn < epfn {
        let blk = pfn & !(PAGEBLOCK_NR_PAGES - 1);
        if !k.sparse.pfn_valid(blk) {
            // pfn_valid is a section's: the whole section is skipped, a pageblock at a time
            // in the kernel, at once here.
            pfn = section_nr_to_pfn(pfn_to_section_nr(pfn) + 1);
            continue;
        }
        let p = page_of(k, pfn)?;
        // SAFETY: pfn_to_page returned a struct page inside this section's memmap.
        let page = unsafe { &mut *p.as_ptr() };
        __init_single_page(page, pfn, zone, nid);
        __SetPageReserved(page);
        n += 1;
        pfn += 1;
    }
    k.memmap.initialised += n;
    Ok(n)
}

/// `zone_idx`: the zone's place in `node_zones[]` (the configured zones, in enum order).
fn zone_idx(layout: &ZoneLayout, z: crate::mm::mm_init::ZoneType) -> u32 {
    layout.zones.iter().position(|&t| t == z).unwrap_or(0) as u32
}

/// mm/mm_init.c: `memmap_init` (5.12+ form, used for every era): for each memory range and
/// each populated zone of its node, `memmap_init_zone_range`, with the holes before each
/// part and after the last one up to its section end initialised as unavailable.
pub(crate) fn memmap_init(k: &mut Kernel, mem: &[MemRange]) -> Result<(), BootError> {
    let file = k.era.mm_init_file();
    // free_area_init opened the `memmap_init` span; this is the struct page side of it.
    let _t = k.trace.enter("memmap_init_range", file);
    let Some(layout) = k.zones.clone() else {
        return Ok(());
    };
    if k.sparse.highest_present_section_nr.is_none() {
        return Ok(());
    }
    let mut di = DeferInit {
        enabled: k.machine.kernel_config().deferred_struct_page_init,
        prev_end_pfn: 0,
        nr_initialised: 0,
    };
    check_memmap_budget(k, &layout, mem, di.enabled)?;
    k.memmap = Memmap::default();
    let mut hole_pfn = 0;
    let mut zone_id = 0;
    let (mut nid, mut end_pfn) = (0, 0);
    for r in mem {
        (nid, end_pfn) = (r.nid, r.end_pfn);
        let Some(node) = layout.node(r.nid) else {
            continue;
        };
        let node_end = node.node_start_pfn + node.node_spanned_pages;
        let static_cnt = static_init_pgcnt(k, node.node_start_pfn, node.node_spanned_pages);
        for z in node.zones.iter().filter(|z| z.present_pages != 0) {
            let zi = zone_idx(&layout, z.zone_type);
            zone_id = zi;
            // memmap_init_zone_range
            let (zs, ze) = (z.zone_start_pfn, z.zone_start_pfn + z.spanned_pages);
            let s = r.start_pfn.clamp(zs, ze);
            let e = r.end_pfn.clamp(zs, ze);
            if s >= e {
                continue;
            }
            memmap_init_range(k, &mut di, static_cnt, e - s, r.nid, zi, s, ze, node_end)?;
            if hole_pfn < s {
                init_unavailable_range(k, hole_pfn, s, zi, r.nid)?;
            }
            hole_pfn = e;
        }
    }
    let end = crate::include::addr::round_up(end_pfn, PAGES_PER_SECTION);
    if hole_pfn < end {
        init_unavailable_range(k, hole_pfn, end, zone_id, nid)?;
    }
    Ok(())
}

/// The most struct pages boot writes, an upper bound: every page of each memory range's
/// sections without deferred init; with it, the zones below each node's top zone, the top
/// zone's first `static_init_pgcnt` pages (and the section that ends the count), and every
/// reserved page (`reserve_bootmem_region` initialises those in the deferred part too;
/// the memmap itself is one of them).
fn memmap_pages_bound(k: &Kernel, layout: &ZoneLayout, mem: &[MemRange], deferred: bool) -> u64 {
    let all: u64 = mem
        .iter()
        .map(|r| r.end_pfn.saturating_sub(r.start_pfn) + PAGES_PER_SECTION)
        .sum();
    // 5.8-5.10 initialise all but a node's last region whole: bound them as undeferred.
    if !deferred || defer_init_per_region(&k.era) {
        return all;
    }
    let mut n = k.memblock.reserved.total_size >> 12;
    for node in &layout.nodes {
        let node_end = node.node_start_pfn + node.node_spanned_pages;
        let static_cnt = static_init_pgcnt(k, node.node_start_pfn, node.node_spanned_pages);
        for z in node.zones.iter().filter(|z| z.present_pages != 0) {
            n += if z.zone_start_pfn + z.spanned_pages >= node_end {
                z.spanned_pages.min(static_cnt + 2 * PAGES_PER_SECTION)
            } else {
                z.spanned_pages
            };
        }
    }
    n.min(all)
}

/// Refuse a memmap whose struct pages would take more host memory than the budget allows,
/// before writing any of them.
fn check_memmap_budget(
    k: &Kernel,
    layout: &ZoneLayout,
    mem: &[MemRange],
    deferred: bool,
) -> Result<(), BootError> {
    let pages = memmap_pages_bound(k, layout, mem, deferred);
    let bytes = pages.saturating_mul(crate::include::mm_types::STRUCT_PAGE_SIZE);
    crate::phys::check_host_budget(bytes, || {
        alloc::format!(
            "initialising up to {pages} struct pages ({} RAM{})",
            crate::phys::human_bytes(
                mem.iter().map(|r| r.end_pfn - r.start_pfn).sum::<u64>() << 12
            ),
            if deferred {
                ""
            } else {
                ", without deferred struct page init: every struct page is written at boot"
            }
        )
    })?;
    Ok(())
}

/// mm/mm_init.c: `init_deferred_page` (`init_reserved_page` before 6.9): initialise one
/// deferred struct page now because something needs it. Pages that were never deferred,
/// or are already initialised, are left alone.
pub(crate) fn init_deferred_page(k: &mut Kernel, pfn: u64) -> Result<(), BootError> {
    let Some(d) = k.memmap.deferred_at(pfn) else {
        return Ok(());
    };
    if k.memmap.page_initialised(pfn) {
        return Ok(());
    }
    let p = page_of(k, pfn)?;
    // SAFETY: a struct page of a present section's memmap, referenced nowhere else yet.
    __init_single_page(unsafe { &mut *p.as_ptr() }, pfn, d.zone, d.nid);
    k.memmap.mark_done(pfn);
    k.memmap.initialised += 1;
    Ok(())
}

/// mm/mm_init.c: `deferred_init_pages` plus the pageblock marking `deferred_free_pages`
/// does: initialise the deferred struct pages of `[start, end)` that are still waiting.
/// Returns how many were initialised.
pub(crate) fn deferred_init_pages(k: &mut Kernel, start: u64, end: u64) -> Result<u64, BootError> {
    let movable = migrate_movable(&k.era);
    let mut n = 0;
    for pfn in start..end {
        if k.memmap.deferred_at(pfn).is_none() || k.memmap.page_initialised(pfn) {
            continue;
        }
        init_deferred_page(k, pfn)?;
        if pfn & (PAGEBLOCK_NR_PAGES - 1) == 0 {
            k.sparse.set_pageblock_migratetype(pfn, movable);
        }
        n += 1;
    }
    Ok(n)
}

/// mm/mm_init.c: `deferred_init_memmap` for one node: everything from
/// `first_deferred_pfn` to the node's end. The kernel runs this in a pgdatinit thread per
/// node from `page_alloc_init_late`; bootmm grows deferred zones on demand instead
/// (docs/divergences.md), and runs this whole-node form only in its tests.
#[cfg(test)]
pub(crate) fn deferred_init_memmap(k: &mut Kernel, nid: u32) -> Result<u64, BootError> {
    let _t = k.trace.enter("deferred_init_memmap", "mm/mm_init.c");
    let Some(d) = k.memmap.deferred.iter().copied().find(|d| d.nid == nid) else {
        return Ok(0);
    };
    deferred_init_pages(k, d.first_deferred_pfn, d.end_pfn)
}

/// mm/mm_init.c: `reserve_bootmem_region`: mark a memblock reservation's struct pages
/// Reserved (initialising deferred ones first), as `memblock_free_all` does before the
/// buddy allocator takes the rest.
pub(crate) fn reserve_bootmem_region(
    k: &mut Kernel,
    start: u64,
    end: u64,
    _nid: i32,
) -> Result<(), BootError> {
    let (s, e) = (
        crate::include::addr::pfn_down(start),
        crate::include::addr::pfn_up(end),
    );
    // No pfn past the highest present section is valid: a reservation reaching far above
    // RAM (a damaged RAMDISK line can end near 2^64) costs nothing there.
    let e = match k.sparse.highest_present_section_nr {
        Some(nr) => e.min(section_nr_to_pfn(nr + 1)),
        None => s,
    };
    // A section at a time: one look-up of its memmap and of its deferred state, then
    // pointer steps (a reservation can span the whole memmap of a large machine).
    let mut pfn = s;
    while pfn < e {
        let nr = pfn_to_section_nr(pfn);
        let run_end = section_nr_to_pfn(nr + 1).min(e);
        if !k.sparse.pfn_valid(pfn) {
            pfn = run_end;
            continue;
        }
        let base = page_of(k, pfn)?;
        let deferred = k
            .memmap
            .deferred_at(pfn)
            .or_else(|| k.memmap.deferred_at(run_end - 1));
        let sec_start = section_nr_to_pfn(nr);
        // init_deferred_page's bookkeeping, with the section's bitmap at hand.
        let mut bits = deferred.map(|_| {
            k.memmap
                .done
                .entry(nr)
                .or_insert_with(|| alloc::boxed::Box::new([0; (PAGES_PER_SECTION / 64) as usize]))
        });
        let mut inited = 0;
        for (i, p) in (pfn..run_end).enumerate() {
            // SAFETY: `base` is the struct page of `pfn` and the section's memmap covers
            // [pfn, run_end); these struct pages are on no list yet.
            let page = unsafe { &mut *base.as_ptr().add(i) };
            if let (Some(d), Some(bits)) = (deferred, bits.as_deref_mut()) {
                let j = p - sec_start;
                let (w, b) = ((j / 64) as usize, 1u64 << (j % 64));
                if (d.first_deferred_pfn..d.end_pfn).contains(&p) && bits[w] & b == 0 {
                    bits[w] |= b;
                    __init_single_page(page, p, d.zone, d.nid);
                    inited += 1;
                }
            }
            __SetPageReserved(page);
            // SAFETY: as above; the kernel re-initialises lru here to drop stale pointers.
            unsafe { INIT_LIST_HEAD(core::ptr::addr_of_mut!(page.lru)) };
        }
        k.memmap.initialised += inited;
        pfn = run_end;
    }
    Ok(())
}

/// CONFIG_DEBUG_VM: check every initialised struct page against its pfn, zone and node
/// (`mminit_verify_page_links`), and each pageblock start's migratetype. Returns the number
/// of pages checked. Deferred pages still waiting are skipped.
pub fn memmap_verify(k: &Kernel) -> Result<u64, alloc::string::String> {
    let Some(layout) = &k.zones else {
        return Ok(0);
    };
    let mut n = 0;
    for node in &layout.nodes {
        for z in node.zones.iter().filter(|z| z.present_pages != 0) {
            let zi = zone_idx(layout, z.zone_type);
            for pfn in z.zone_start_pfn..z.zone_start_pfn + z.spanned_pages {
                if !k.sparse.pfn_valid(pfn) || !k.memmap.page_initialised(pfn) {
                    continue;
                }
                let Some(p) = k.sparse.pfn_to_page(pfn) else {
                    return Err(alloc::format!("pfn {pfn:#x}: valid but no struct page"));
                };
                // SAFETY: an initialised struct page of this memmap; only read here.
                let page = unsafe { p.as_ref() };
                let is_hole = crate::include::mm_types::PageReserved(page)
                    && crate::include::mm_types::page_zonenum(page) != zi;
                if !is_hole {
                    crate::include::mm_types::debug_check_page(page, zi, node.nid, pfn)
                        .map_err(|e| alloc::format!("pfn {pfn:#x}: {e:?}"))?;
                }
                // SAFETY: as above.
                if unsafe { k.sparse.page_to_pfn(p) } != Some(pfn) {
                    return Err(alloc::format!("pfn {pfn:#x}: page_to_pfn disagrees"));
                }
                n += 1;
            }
        }
    }
    Ok(n)
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::arch::x86::e820::{E820Entry, E820Type};
    use crate::era::{Arch, KernelVersion};
    use crate::include::mm_types::{page_to_nid, page_zonenum, PageReserved};
    use crate::machine::Machine;
    use crate::mm::mm_init::ZoneType;

    /// Boot up to the end of `setup_arch`: the memmap as `memmap_init` left it, before the
    /// buddy allocator takes the free pages over.
    fn boot(m: Machine) -> Kernel {
        let mut k = Kernel::new(m).expect("simulated RAM");
        crate::arch::x86::setup::setup_arch(&mut k).expect("boot");
        k
    }

    fn qemu(gib: u64, v: (u32, u32, u32)) -> Machine {
        let mut m = Machine::qemu(gib << 30, 2).unwrap();
        m.era = crate::era::Era::new(KernelVersion::new(v.0, v.1, v.2), Arch::X86_64);
        m
    }

    fn page(k: &Kernel, pfn: u64) -> &Page {
        let p = k.sparse.pfn_to_page(pfn).expect("struct page");
        // SAFETY: pages of a booted kernel's memmap, only read.
        unsafe { p.as_ref() }
    }

    /// The first deferred pfn of an 8 GiB guest's node (Normal from 4 GiB), era by era:
    /// 2 GiB before 4.17 (plus, from 4.12, the reservations of the node's first part: the
    /// 4.12 form reads pfns as addresses and adds bytes as pages), one section after; 5.8 to
    /// 5.10.4 defer only a node's last memblock region.
    #[test]
    fn deferral_starts_where_each_era_puts_it() {
        let first = |v| {
            let k = boot(qemu(8, v));
            k.memmap.first_deferred_pfn(0)
        };
        let normal = 0x10_0000;
        assert_eq!(first((4, 4, 0)), normal + 0x8_0000);
        // The node's reservations in its first 2 GiB (kernel image, initrd, low memory...)
        // round up to one more section.
        assert_eq!(first((4, 15, 0)), normal + 0x8_0000 + PAGES_PER_SECTION);
        assert_eq!(first((4, 16, 0)), first((4, 15, 0)));
        assert!(
            first((4, 12, 0)) > first((4, 15, 0)),
            "the 4.12 unit mix-up adds more"
        );
        assert_eq!(first((4, 17, 0)), normal + PAGES_PER_SECTION);
        assert_eq!(first((6, 6, 0)), normal + PAGES_PER_SECTION);
        // Normal split in two by a reserved range: 5.9 initialises the first region whole.
        let mut m = qemu(8, (5, 9, 0));
        let top = m.e820.pop().unwrap();
        m.e820
            .push(E820Entry::new(top.addr, 2 << 30, E820Type::Ram));
        m.e820.push(E820Entry::new(
            top.addr + (2 << 30),
            1 << 30,
            E820Type::Reserved,
        ));
        m.e820.push(E820Entry::new(
            top.addr + (3 << 30),
            top.size - (3 << 30),
            E820Type::Ram,
        ));
        let per_region = |v| {
            let mut m = m.clone();
            m.era = crate::era::Era::new(KernelVersion::new(5, 10, v), Arch::X86_64);
            boot(m).memmap.first_deferred_pfn(0)
        };
        let second = (top.addr + (3 << 30)) >> 12;
        assert_eq!(per_region(4), second + PAGES_PER_SECTION);
        assert_eq!(per_region(5), normal + PAGES_PER_SECTION);
    }

    #[test]
    fn default_machine_has_a_struct_page_for_every_present_pfn() {
        let k = boot(Machine::qemu_4g());
        let layout = k.zones.clone().unwrap();
        let zi = |z| layout.zones.iter().position(|&t| t == z).unwrap() as u32;
        // Every memblock memory pfn: valid, right zone and node, round trip.
        for (s, e, nid) in k
            .memblock
            .for_each_mem_pfn_range(crate::mm::memblock::MAX_NUMNODES)
        {
            for pfn in s..e {
                assert!(k.sparse.pfn_valid(pfn), "{pfn:#x}");
                if !k.memmap.page_initialised(pfn) {
                    continue;
                }
                let p = page(&k, pfn);
                let zone = if pfn < 0x1000 {
                    ZoneType::Dma
                } else if pfn < 0x100000 {
                    ZoneType::Dma32
                } else {
                    ZoneType::Normal
                };
                assert_eq!(page_zonenum(p), zi(zone), "{pfn:#x}");
                assert_eq!(page_to_nid(p), nid as u32);
                assert_eq!(p.refcount, 1);
                // SAFETY: as in `page`.
                let back = unsafe { k.sparse.page_to_pfn(k.sparse.pfn_to_page(pfn).unwrap()) };
                assert_eq!(back, Some(pfn));
            }
        }
        // Holes inside present sections: Reserved (pfn 0, the legacy hole, the tail of
        // [3 GiB - 128 KiB, 3 GiB) rounds to its section end).
        assert!(PageReserved(page(&k, 0)));
        assert!(PageReserved(page(&k, 0xa0)));
        // Memory pages are not Reserved before the buddy hand-over (4.2+).
        assert!(!PageReserved(page(&k, 0x1000)));
        // Every pageblock of initialised memory is MOVABLE (1 from 4.4).
        for pfn in (0x1000..0xbfe00).step_by(512) {
            assert_eq!(k.sparse.get_pfnblock_migratetype(pfn), Some(1), "{pfn:#x}");
        }
        // Sections without memory have no memmap.
        assert!(!k.sparse.pfn_valid(0xc0000));
        assert!(k.sparse.pfn_to_page(0xc0000).is_none());
        // The vmemmap page tables map pfn -> the same struct page.
        for pfn in [0u64, 0x1234, 0xbffff, 0x100000, 0x13ffff] {
            let host = k.sparse.host_to_phys(k.sparse.pfn_to_page(pfn).unwrap());
            assert_eq!(k.sparse.vmemmap_walk(pfn), host, "{pfn:#x}");
        }
        assert!(memmap_verify(&k).unwrap() > 0x80000);
        // The memmap buffer is reserved in memblock: 32 present sections, 2 MiB each.
        assert_eq!(k.sparse.memmap_buffers.len(), 1);
        let (_, s, e) = k.sparse.memmap_buffers[0];
        assert_eq!(e - s, 32 << 21);
        assert!(k.memblock.memblock_is_region_reserved(s, e - s));
        assert!(k
            .memblock
            .reserved
            .regions
            .iter()
            .any(|r| r.base <= s && r.end() >= e));
    }

    #[test]
    fn deferred_boundary_and_on_demand_init() {
        let mut k = boot(Machine::qemu_4g());
        // Normal starts at 4 GiB; one section is initialised, then the rest waits.
        assert_eq!(k.memmap.first_deferred_pfn(0), 0x108000);
        assert!(k.memmap.page_initialised(0x107fff));
        assert!(!k.memmap.page_initialised(0x108000));
        assert_eq!(k.memmap.deferred_pending(), 0x140000 - 0x108000);
        // Untouched: its usemap bits are still 0 (UNMOVABLE).
        assert_eq!(k.sparse.get_pfnblock_migratetype(0x120000), Some(0));
        init_deferred_page(&mut k, 0x120001).unwrap();
        assert!(k.memmap.page_initialised(0x120001));
        assert_eq!(page(&k, 0x120001).refcount, 1);
        assert_eq!(
            deferred_init_memmap(&mut k, 0).unwrap(),
            0x140000 - 0x108000 - 1
        );
        assert_eq!(k.memmap.deferred_pending(), 0);
        assert_eq!(k.sparse.get_pfnblock_migratetype(0x120000), Some(1));
        memmap_verify(&k).unwrap();
        // reserve_bootmem_region marks the kernel image Reserved.
        let r = k.memblock.reserved.regions[0];
        reserve_bootmem_region(&mut k, r.base, r.end(), 0).unwrap();
        assert!(PageReserved(page(&k, r.base >> 12)));
    }

    #[test]
    fn without_deferred_init_every_page_is_written() {
        let mut m = Machine::qemu_4g();
        m.config.deferred_struct_page_init = Some(false);
        let k = boot(m);
        assert!(k.memmap.deferred.is_empty());
        assert_eq!(k.memmap.first_deferred_pfn(0), u64::MAX);
        assert!(k.memmap.page_initialised(0x13ffff));
        assert_eq!(page(&k, 0x13ffff).refcount, 1);
        assert_eq!(k.memmap.highest_memmap_pfn, 0x13ffff);
    }

    #[test]
    fn old_eras_reserve_everything_and_use_the_per_node_buffer() {
        // 3.18: no deferred init, every page Reserved, MIGRATE_MOVABLE is 2.
        let k = boot(qemu(4, (3, 18, 0)));
        assert!(PageReserved(page(&k, 0x1000)));
        assert!(PageReserved(page(&k, 0x13ffff)));
        assert_eq!(k.sparse.get_pfnblock_migratetype(0x1000), Some(2));
        memmap_verify(&k).unwrap();
        // 4.9: the pre-4.19 sparse_init; temporary arrays gone, the memmap kept.
        let k = boot(qemu(4, (4, 9, 96)));
        let (_, s, e) = k.sparse.memmap_buffers[0];
        assert_eq!(e - s, 32 << 21);
        assert!(k.memblock.memblock_is_region_reserved(s, e - s));
        assert_eq!(
            k.memblock.memblock_reserved_size() >> 20,
            k.memblock
                .reserved
                .regions
                .iter()
                .map(|r| r.size)
                .sum::<u64>()
                >> 20
        );
        memmap_verify(&k).unwrap();
        // Before 4.16 the top zone keeps its first 2 GiB: this 1 GiB Normal zone is whole.
        assert_eq!(k.memmap.first_deferred_pfn(0), u64::MAX);
    }
}
