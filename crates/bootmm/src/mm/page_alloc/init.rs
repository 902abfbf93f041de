// SPDX-License-Identifier: GPL-2.0-only
//! `mm/memblock.c` `memblock_free_all` (`mm/nobootmem.c` `free_all_bootmem` ≤4.19), the
//! deferred struct pages (`deferred_grow_zone`, `page_alloc_init_late`) and the "Memory:"
//! line (`mem_init_print_info`): how free memory passes from memblock to the buddy allocator.
//!
//! At `mem_init` the kernel marks every memblock reservation's struct pages Reserved and
//! frees every free memblock range into the buddy allocator in the largest aligned blocks
//! (`__free_pages_memory`), counting `managed_pages` per zone and `totalram_pages`. Pages of
//! a node's top zone past `first_deferred_pfn` are skipped and freed later, by pgdatinit
//! threads in `page_alloc_init_late`, or on demand by `deferred_grow_zone`. bootmm skips and
//! grows them the same way, but stays lazy on large machines: past
//! [`DEFERRED_EAGER_PAGES`] pending pages it counts them in `managed_pages` and
//! NR_FREE_PAGES as the kernel would after `page_alloc_init_late`, and puts them on the free
//! lists a section at a time when an allocation needs them (`docs/divergences.md`).

use alloc::string::ToString;
use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::Ordering::Relaxed;

use super::{Fpi, FreeResult, Zone, ZoneRef, MAX_PAGE_ORDER};
use crate::include::addr::{pfn_down, pfn_up};
use crate::include::mm_types::{__ClearPageReserved, Page};
use crate::init::main::BootError;
use crate::kernel::Kernel;
use crate::mm::memblock::{MemblockFlags, RegionType};
use crate::mm::sparse::PAGES_PER_SECTION;

/// Deferred pages bootmm frees eagerly in `page_alloc_init_late` (4 GiB worth); above this,
/// they are accounted at once and put on the free lists on demand.
pub const DEFERRED_EAGER_PAGES: u64 = 1 << 20;

/// `__ffs`.
fn ffs(x: u64) -> u32 {
    x.trailing_zeros()
}

/// mm/page_alloc.c: `reset_all_zones_managed_pages` (`reset_node_managed_pages`).
fn reset_all_zones_managed_pages(k: &Kernel) {
    for z in k.page_alloc.zones() {
        z.managed_pages.store(0, Relaxed);
    }
}

/// mm/mm_init.c: `__free_pages_core` (`__free_pages_boot_core` ≤4.20, `__free_pages_bootmem`
/// 3.x): clear PG_reserved, drop the refcounts to 0, add the block to its zone's
/// `managed_pages`, then free it: to the list tails (FPI_TO_TAIL) from 5.10.
fn __free_pages_core(k: &mut Kernel, page: NonNull<Page>, order: u32) -> FreeResult {
    let p = page.as_ptr();
    let n = 1usize << order;
    for i in 0..n {
        // SAFETY: the block lies in one section's memmap, its pages initialised and owned
        // by memblock until now.
        let pg = unsafe { &mut *p.add(i) };
        __ClearPageReserved(pg);
        pg.refcount = 0;
    }
    // SAFETY: as above.
    let (nid, zidx) = unsafe {
        (
            crate::include::mm_types::page_to_nid(&*p),
            crate::include::mm_types::page_zonenum(&*p) as usize,
        )
    };
    if let Some(z) = k.page_alloc.zone(ZoneRef {
        nid,
        zone_idx: zidx,
    }) {
        z.managed_pages.fetch_add(n as u64, Relaxed);
    }
    let fpi = if k.page_alloc.rules.core_to_tail {
        Fpi::ToTail
    } else {
        Fpi::None
    };
    super::__free_pages_ok(k, page, order, fpi)
}

/// mm/mm_init.c: `memblock_free_pages` (`__free_pages_bootmem` ≤4.20): free one block unless
/// its struct pages are deferred (`early_page_initialised`).
fn memblock_free_pages(k: &mut Kernel, pfn: u64, order: u32) {
    if k.memmap.deferred_at(pfn).is_some() {
        return;
    }
    if let Some(page) = k.sparse.pfn_to_page(pfn) {
        __free_pages_core(k, page, order);
    }
}

/// mm/memblock.c: `__free_pages_memory`: free `[start, end)` in the largest naturally
/// aligned blocks (6.x: pfn 0 as MAX_PAGE_ORDER; `__ffs(0)` is undefined before).
fn __free_pages_memory(k: &mut Kernel, mut start: u64, end: u64) {
    while start < end {
        let mut order = if start == 0 {
            MAX_PAGE_ORDER
        } else {
            MAX_PAGE_ORDER.min(ffs(start))
        };
        while start + (1 << order) > end {
            order -= 1;
        }
        memblock_free_pages(k, start, order);
        start += 1 << order;
    }
}

/// mm/memblock.c: `__free_memory_core`: one free range, clipped to `max_low_pfn`.
fn __free_memory_core(k: &mut Kernel, start: u64, end: u64) -> u64 {
    let spfn = pfn_up(start);
    let epfn = pfn_down(end).min(k.max_low_pfn);
    let empty = if k.era.at_least(6, 0) {
        spfn >= epfn
    } else {
        spfn > epfn
    };
    if empty {
        return 0;
    }
    __free_pages_memory(k, spfn, epfn);
    epfn - spfn
}

/// mm/memblock.c: `free_low_memory_core_early`: reservations become Reserved pages, free
/// ranges go to the buddy allocator. Returns the pages counted for `totalram_pages`.
fn free_low_memory_core_early(k: &mut Kernel) -> Result<u64, BootError> {
    let file = k.era.early_allocator().hand_over_file(&k.era);
    let _t = k.trace.enter("free_low_memory_core_early", file);
    let _ = k.memblock.memblock_clear_hotplug(0, u64::MAX);
    if k.era.at_least(4, 2) {
        // memmap_init_reserved_pages (6.x) / for_each_reserved_mem_region +
        // reserve_bootmem_region: before 4.2 every page was Reserved from memmap_init.
        let (name, file) = if k.era.at_least(6, 4) {
            ("memmap_init_reserved_pages", "mm/memblock.c")
        } else {
            ("reserve_bootmem_region", k.era.mm_init_file())
        };
        let _t2 = k.trace.enter(name, file);
        let reserved: Vec<(u64, u64, i32, MemblockFlags)> = k
            .memblock
            .reserved
            .regions
            .iter()
            .map(|r| (r.base, r.end(), r.nid, r.flags))
            .collect();
        for (s, e, nid, flags) in reserved {
            if k.era.at_least(6, 5) && flags.contains(MemblockFlags::RSRV_NOINIT) {
                continue;
            }
            crate::mm::mm_init::memmap::reserve_bootmem_region(k, s, e, nid)?;
        }
        if k.era.at_least(6, 4) {
            let nomap: Vec<(u64, u64, i32)> = k
                .memblock
                .memory
                .regions
                .iter()
                .filter(|r| r.flags.contains(MemblockFlags::NOMAP))
                .map(|r| (r.base, r.end(), r.nid))
                .collect();
            for (s, e, nid) in nomap {
                crate::mm::mm_init::memmap::reserve_bootmem_region(k, s, e, nid)?;
            }
        }
    }
    let free: Vec<(u64, u64)> = k
        .memblock
        .for_each_free_mem_range(crate::include::NUMA_NO_NODE, MemblockFlags::empty())
        .into_iter()
        .map(|r| (r.start, r.end))
        .collect();
    // Remember the free parts of deferred ranges for deferred_grow_zone.
    k.page_alloc.deferred_free_ranges.clear();
    for &(s, e) in &free {
        let (s, e) = (pfn_up(s), pfn_down(e).min(k.max_low_pfn));
        for d in &k.memmap.deferred {
            let (a, b) = (s.max(d.first_deferred_pfn), e.min(d.end_pfn));
            if a < b {
                k.page_alloc.deferred_free_ranges.push((a, b));
            }
        }
    }
    let mut count = 0;
    {
        let _t2 = k.trace.enter("__free_memory_core", file);
        let _t3 = k.trace.enter("__free_pages_memory", file);
        let (f, c, file) = free_pages_names(k);
        let _t4 = k.trace.enter(f, file);
        let _t5 = k.trace.enter(c, file);
        for (s, e) in free {
            count += __free_memory_core(k, s, e);
        }
    }
    count += free_allocated_memblock_arrays(k);
    Ok(count)
}

/// The names of the `memblock_free_pages` / `__free_pages_core` pair of the era, and their
/// file.
fn free_pages_names(k: &Kernel) -> (&'static str, &'static str, &'static str) {
    let (f, c) = if k.era.at_least(4, 20) {
        ("memblock_free_pages", "__free_pages_core")
    } else if k.era.at_least(4, 2) {
        ("__free_pages_bootmem", "__free_pages_boot_core")
    } else {
        ("__free_pages_bootmem", "__free_pages")
    };
    let file = k.era.mm_init_file();
    (f, c, file)
}

/// mm/nobootmem.c: the tail of `free_low_memory_core_early` before 4.13: the doubled
/// `memblock.reserved` array (seen in 3.10; from 3.5, believed) and, from 3.14, the doubled
/// `memblock.memory` array (under CONFIG_ARCH_DISCARD_MEMBLOCK, which x86 selects) go to the
/// buddy allocator like free memory, though they stay in `memblock.reserved`. Their pages
/// count towards `totalram_pages` even where `__free_pages_bootmem` skips them as deferred
/// (4.2+), as the kernel's do. From 4.13 `memblock_discard` frees them later.
fn free_allocated_memblock_arrays(k: &mut Kernel) -> u64 {
    if !k.era.at_least(3, 5) || k.era.at_least(4, 13) {
        return 0;
    }
    let mut kinds = alloc::vec![(
        RegionType::Reserved,
        "get_allocated_memblock_reserved_regions_info"
    )];
    if k.era.at_least(3, 14) {
        kinds.push((
            RegionType::Memory,
            "get_allocated_memblock_memory_regions_info",
        ));
    }
    let mut count = 0;
    for (which, name) in kinds {
        let info = {
            let _t = k.trace.enter(name, "mm/memblock.c");
            k.memblock.allocated_regions_info(which)
        };
        let Some((start, size)) = info else {
            continue;
        };
        let file = k.era.early_allocator().hand_over_file(&k.era);
        let _t2 = k.trace.enter("__free_memory_core", file);
        let _t3 = k.trace.enter("__free_pages_memory", file);
        let (f, c, file) = free_pages_names(k);
        let _t4 = k.trace.enter(f, file);
        let _t5 = k.trace.enter(c, file);
        count += __free_memory_core(k, start, start + size);
    }
    count
}

/// mm/memblock.c: `memblock_free_late` (`__memblock_free_late` before 5.16): free
/// `[base, base + size)` page by page straight to the buddy allocator, each page counted in
/// `totalram_pages`. Only the struct pages change hands: the range stays in
/// `memblock.reserved`, as in the kernel. Every struct page is initialised by now (the
/// deferred ones in `page_alloc_init_late`, reserved ones by `reserve_bootmem_region`), so
/// `memblock_free_pages`' deferred test never skips one.
fn memblock_free_late(k: &mut Kernel, base: u64, size: u64) {
    let name = if k.era.at_least(5, 16) {
        "memblock_free_late"
    } else {
        "__memblock_free_late"
    };
    k.memblock.dbg_free_late(name, base, size);
    let _t = k.trace.enter(name, "mm/memblock.c");
    let (f, c, file) = free_pages_names(k);
    let _t2 = k.trace.enter(f, file);
    let _t3 = k.trace.enter(c, file);
    for pfn in pfn_up(base)..pfn_down(base + size) {
        if let Some(page) = k.sparse.pfn_to_page(pfn) {
            __free_pages_core(k, page, 0);
        }
        k.page_alloc.totalram_pages.fetch_add(1, Relaxed);
    }
}

/// mm/page_alloc.c: `free_highmem_page` (3.10+; arch/x86/mm/init_32.c
/// `add_one_highpage_init` before): one HIGHMEM page of memblock's free memory to the buddy
/// allocator, counted in `totalram_pages` and its zone's managed pages. Returns whether the
/// pfn had a struct page to free.
pub(crate) fn free_highmem_page(k: &mut Kernel, pfn: u64) -> bool {
    let Some(page) = k.sparse.pfn_to_page(pfn) else {
        return false;
    };
    if !k.memmap.page_initialised(pfn) {
        return false;
    }
    __free_pages_core(k, page, 0);
    k.page_alloc.totalram_pages.fetch_add(1, Relaxed);
    true
}

/// mm/memblock.c: `memblock_discard` (4.13+, called from `page_alloc_init_late`; x86 never
/// sets CONFIG_ARCH_KEEP_MEMBLOCK): the arrays `memblock_double_array` allocated are freed
/// to the buddy allocator, `memblock.reserved`'s first. Static arrays are left alone; the
/// kernel's slab-allocated case (`kfree`) does not arise, as bootmm never doubles an array
/// once slab is up.
pub(crate) fn memblock_discard(k: &mut Kernel) {
    let _t = k.trace.enter("memblock_discard", "mm/memblock.c");
    for which in [RegionType::Reserved, RegionType::Memory] {
        if let Some((addr, size)) = k.memblock.allocated_regions_info(which) {
            memblock_free_late(k, addr, size);
        }
    }
}

/// mm/memblock.c: `memblock_free_all` (4.20+); mm/nobootmem.c (mm/bootmem.c before 2.6.39):
/// `free_all_bootmem` before, as [`crate::era::EarlyAllocator`] names it.
pub(crate) fn memblock_free_all(k: &mut Kernel) -> Result<(), BootError> {
    if k.bootmem.is_some() {
        // 2.6 x86_64 (CONFIG_NUMA): mem_init calls numa_free_all_bootmem itself.
        return hand_over(k);
    }
    let ea = k.era.early_allocator();
    let _t = k
        .trace
        .enter(ea.hand_over_name(), ea.hand_over_file(&k.era));
    hand_over(k)
}

fn hand_over(k: &mut Kernel) -> Result<(), BootError> {
    if k.page_alloc.node_data.is_empty() || k.page_alloc.initialised {
        return Ok(());
    }
    reset_all_zones_managed_pages(k);
    let pages = if k.bootmem.is_some() {
        numa_free_all_bootmem(k)?
    } else {
        free_low_memory_core_early(k)?
    };
    k.page_alloc.totalram_pages.fetch_add(pages, Relaxed);
    k.page_alloc.initialised = true;
    Ok(())
}

/// arch/x86/mm/numa_64.c (2.6.x): `numa_free_all_bootmem` (i386: mm/bootmem.c
/// `free_all_bootmem`): each online node's
/// `free_all_bootmem_node` (mm/bootmem.c `free_all_bootmem_core`): the bitmap's free pages in
/// words of `BITS_PER_LONG` (order 6 on x86_64 where a whole word is free and aligned, page
/// by page otherwise), then the bitmap's own pages, each through `__free_pages_bootmem`.
/// Returns the pages counted for `totalram_pages` (the bitmap's included).
///
/// # Errors
/// [`BootError::NoMemory`] with the bitmap allocator's BUG text.
fn numa_free_all_bootmem(k: &mut Kernel) -> Result<u64, BootError> {
    // x86_64 (CONFIG_NUMA) goes through numa_free_all_bootmem; i386's mem_init calls
    // free_all_bootmem, node 0's free_all_bootmem_core.
    let (name, file) = if k.era.is_64bit() {
        ("numa_free_all_bootmem", "arch/x86/mm/numa_64.c")
    } else {
        ("free_all_bootmem", "mm/bootmem.c")
    };
    let _t = k.trace.enter(name, file);
    let Some(mut bm) = k.bootmem.take() else {
        return Ok(0);
    };
    let mut blocks = Vec::new();
    let mut total = 0;
    let nodes: Vec<usize> = bm.nodes.iter().map(|b| b.nid).collect();
    for nid in nodes {
        let _t2 = k
            .era
            .is_64bit()
            .then(|| k.trace.enter("free_all_bootmem_node", "mm/bootmem.c"));
        let _t3 = k.trace.enter("free_all_bootmem_core", "mm/bootmem.c");
        let r = bm.free_all_bootmem_node(&k.phys, nid, &mut |pfn, order| {
            blocks.push((pfn.0, order));
        });
        match r {
            Ok(n) => total += n,
            Err(e) => {
                k.bootmem = Some(bm);
                return Err(BootError::NoMemory(e.to_string()));
            }
        }
    }
    k.bootmem = Some(bm);
    let _t2 = k.trace.enter("__free_pages_bootmem", "mm/page_alloc.c");
    for (pfn, order) in blocks {
        if let Some(page) = k.sparse.pfn_to_page(pfn) {
            __free_pages_core(k, page, order);
        }
    }
    Ok(total)
}

/// Free the deferred pages of `[spfn, epfn)` that memblock had free: initialise their struct
/// pages (`deferred_init_pages`) and free them (`deferred_free_pages`). Returns how many.
fn deferred_init_memmap_chunk(
    k: &mut Kernel,
    r: ZoneRef,
    spfn: u64,
    epfn: u64,
) -> Result<u64, BootError> {
    let ranges: Vec<(u64, u64)> = k
        .page_alloc
        .deferred_free_ranges
        .iter()
        .map(|&(s, e)| (s.max(spfn), e.min(epfn)))
        .filter(|(s, e)| s < e)
        .collect();
    let n: u64 = ranges.iter().map(|(s, e)| e - s).sum();
    if n == 0 {
        return Ok(0);
    }
    crate::phys::check_host_budget(n * crate::include::mm_types::STRUCT_PAGE_SIZE, || {
        alloc::format!("initialising {n} deferred struct pages")
    })?;
    if let Some(z) = k.page_alloc.zone(r) {
        // Pages counted ahead by the lazy page_alloc_init_late are now really freed.
        let ahead = z.deferred_unlisted.load(Relaxed).min(n);
        if ahead > 0 {
            z.deferred_unlisted.fetch_sub(ahead, Relaxed);
            z.managed_pages.fetch_sub(ahead, Relaxed);
            z.nr_free_pages.fetch_sub(ahead as i64, Relaxed);
        }
    }
    for (s, e) in ranges {
        crate::mm::mm_init::memmap::deferred_init_pages(k, s, e)?;
        // Mark them done for memblock_free_pages' deferred test: free directly.
        let mut start = s;
        while start < e {
            let mut order = MAX_PAGE_ORDER.min(ffs(start));
            while start + (1 << order) > e {
                order -= 1;
            }
            if let Some(page) = k.sparse.pfn_to_page(start) {
                __free_pages_core(k, page, order);
            }
            start += 1 << order;
        }
    }
    Ok(n)
}

/// mm/mm_init.c: `deferred_grow_zone`: initialise and free deferred pages of the node's
/// last zone, a section at a time, until at least `1 << order` pages (rounded up to a
/// section) were freed. Returns whether any were.
///
/// # Errors
/// The struct pages could not be initialised (over the host-memory budget, or a broken
/// memmap); what was grown before stays grown.
pub(crate) fn deferred_grow_zone(
    k: &mut Kernel,
    r: ZoneRef,
    order: u32,
) -> Result<bool, BootError> {
    let Some(node) = k.page_alloc.node(r.nid) else {
        return Ok(false);
    };
    let Some(zone) = node.node_zones.get(r.zone_idx) else {
        return Ok(false);
    };
    let first = node.first_deferred_pfn;
    let zone_end = zone.zone_end_pfn();
    if first == u64::MAX || zone_end != node.pgdat_end_pfn() {
        return Ok(false);
    }
    let needed = (1u64 << order).div_ceil(PAGES_PER_SECTION) * PAGES_PER_SECTION;
    let _t = k.trace.enter("deferred_grow_zone", "mm/mm_init.c");
    let mut nr = 0;
    let mut spfn = first;
    let mut failed = None;
    while nr < needed && spfn < zone_end {
        let epfn = (spfn / PAGES_PER_SECTION + 1) * PAGES_PER_SECTION;
        match deferred_init_memmap_chunk(k, r, spfn, epfn.min(zone_end)) {
            Ok(n) => nr += n,
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
        spfn = epfn;
    }
    if let Some(n) = k
        .page_alloc
        .node_data
        .iter_mut()
        .find(|n| n.node_id == r.nid)
    {
        n.first_deferred_pfn = if spfn >= zone_end { u64::MAX } else { spfn };
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(nr > 0),
    }
}

/// Free memblock pages still waiting in a node's deferred part.
fn deferred_pending_free(k: &Kernel, nid: u32) -> u64 {
    let Some(n) = k.page_alloc.node(nid) else {
        return 0;
    };
    if n.first_deferred_pfn == u64::MAX {
        return 0;
    }
    k.page_alloc
        .deferred_free_ranges
        .iter()
        .map(|&(s, e)| (s.max(n.first_deferred_pfn), e.min(n.deferred_end_pfn)))
        .filter(|(s, e)| s < e)
        .map(|(s, e)| e - s)
        .sum()
}

/// Wei Yang's "mm/mm_init.c: print mem_init info after defer_init is done" (the 6.11 MM
/// pull): from 6.11 "Memory:" is printed by `page_alloc_init_late`, after the deferred
/// struct pages were freed, instead of right after `mem_init`.
pub fn memory_line_after_deferred_init(era: &crate::era::Era) -> bool {
    era.at_least(6, 11)
}

/// mm/mm_init.c (mm/page_alloc.c before 6.3): `page_alloc_init_late`: the deferred struct
/// pages (the kernel's pgdatinit threads, `deferred_init_memmap`), then, from 6.9 (between
/// 6.6 and 6.12; not confirmed), the "Memory:" line.
pub(crate) fn page_alloc_init_late(k: &mut Kernel) -> Result<(), BootError> {
    let file = k.era.mm_init_file();
    let _t = k.trace.enter("page_alloc_init_late", file);
    if k.page_alloc.init_late_done || !k.page_alloc.initialised {
        return Ok(());
    }
    let nids: Vec<u32> = k.page_alloc.node_data.iter().map(|n| n.node_id).collect();
    let pending: u64 = nids.iter().map(|&n| deferred_pending_free(k, n)).sum();
    let vendor_lazy = crate::klib::cmdline::early_param_values(&k.machine.cmdline, "deferred_init")
        .into_iter()
        .any(|v| v == Some("lazy"));
    if vendor_lazy && pending > 0 {
        // A vendor option seen in the corpus: leave them all to deferred_grow_zone.
        crate::pr_info!(
            k.printk,
            "deferred_init=lazy: {pending} pages left to deferred_grow_zone()\n"
        );
        k.page_alloc.deferred_lazy = true;
    } else {
        for &nid in &nids {
            let Some(n) = k.page_alloc.node(nid) else {
                continue;
            };
            if n.first_deferred_pfn == u64::MAX {
                continue;
            }
            let Some(zi) = n.node_zones.iter().rposition(|z| z.populated()) else {
                continue;
            };
            let r = ZoneRef { nid, zone_idx: zi };
            let _t2 = k.trace.enter("deferred_init_memmap", "mm/mm_init.c");
            let node_pending = deferred_pending_free(k, nid);
            if pending <= DEFERRED_EAGER_PAGES {
                while deferred_grow_zone(k, r, MAX_PAGE_ORDER)? {}
            } else {
                // Count the node's deferred free pages now, free them on demand.
                let c = deferred_pending_free(k, nid);
                if let Some(z) = k.page_alloc.zone(r) {
                    z.managed_pages.fetch_add(c, Relaxed);
                    z.nr_free_pages.fetch_add(c as i64, Relaxed);
                    z.deferred_unlisted.fetch_add(c, Relaxed);
                }
                k.page_alloc.deferred_lazy = true;
            }
            // The kernel times the threads; bootmm's clock does not run.
            if k.era.at_least(5, 7) {
                crate::pr_info!(k.printk, "node {nid} deferred pages initialised in 0ms\n");
            } else {
                crate::pr_info!(
                    k.printk,
                    "node {nid} initialised, {node_pending} pages in 0ms\n"
                );
            }
        }
    }
    k.page_alloc.init_late_done = true;
    if memory_line_after_deferred_init(&k.era) {
        mem_init_print_info(k);
    }
    if k.era.at_least(4, 13) {
        // "Discard memblock private memory", after the "Memory:" line.
        memblock_discard(k);
    }
    Ok(())
}

/// arch/x86/mm/init_64.c `mem_init` before 3.11 (replaced by `mem_init_print_info` in
/// Jiang Liu's "mm/x86: prepare for removing num_physpages and simplify mem_init()"): the
/// line in lower-case k over `max_pfn` pages, holes included: available `nr_free_pages()`,
/// code `_etext - _text`, absent `absent_pages_in_range(0, max_pfn)`, reserved `max_pfn -
/// totalram_pages - absent`, data `_edata - _etext` (rodata and rwdata), init.
fn mem_init_print_old(k: &mut Kernel) {
    if !k.era.is_64bit() {
        mem_init_print_old_32(k);
        return;
    }
    let mem = crate::arch::x86::init_64::mem_ranges(k);
    let absent = crate::mm::mm_init::absent_pages_in_range(&mem, None, 0, k.max_pfn);
    let totalram = k.page_alloc.totalram_pages();
    let reserved = k.max_pfn.saturating_sub(totalram).saturating_sub(absent);
    let img = &k.machine.image;
    crate::printk_default!(
        k.printk,
        "Memory: {}k/{}k available ({}k kernel code, {}k absent, {}k reserved, {}k data, {}k init)\n",
        super::nr_free_pages(k) << 2,
        k.max_pfn << 2,
        img.text >> 10,
        absent << 2,
        reserved << 2,
        (img.rodata + img.rwdata) >> 10,
        img.init >> 10
    );
}

/// mm/mm_init.c (mm/page_alloc.c before 6.3): `mem_init_print_info`: the "Memory:" line.
/// "available" is `nr_free_pages()` now; physpages is every node's present pages; the kernel
/// section sizes are the image's; reserved is what never reached the buddy allocator.
pub fn mem_init_print_info(k: &mut Kernel) {
    if !k.era.at_least(3, 11) {
        mem_init_print_old(k);
        return;
    }
    let physpages: u64 = k
        .page_alloc
        .node_data
        .iter()
        .map(|n| n.node_present_pages)
        .sum();
    let available = super::nr_free_pages(k);
    let totalram = k.page_alloc.totalram_pages();
    let totalcma = k.page_alloc.totalcma_pages;
    let img = &k.machine.image;
    let kk = |pages: u64| pages << 2;
    let mut line = alloc::format!(
        "Memory: {}K/{}K available ({}K kernel code, {}K rwdata, {}K rodata, {}K init, {}K bss, {}K reserved",
        kk(available),
        kk(physpages),
        img.text >> 10,
        img.rwdata >> 10,
        img.rodata >> 10,
        img.init >> 10,
        img.bss >> 10,
        kk(physpages.saturating_sub(totalram).saturating_sub(totalcma)),
    );
    if k.era.at_least(3, 19) {
        line.push_str(&alloc::format!(", {}K cma-reserved", kk(totalcma)));
    }
    if k.machine.kernel_config().highmem {
        line.push_str(&alloc::format!(", {}K highmem", kk(totalhigh_pages(k))));
    }
    line.push(')');
    if k.era.at_least(4, 0) {
        crate::pr_info!(k.printk, "{line}\n");
    } else {
        crate::printk_default!(k.printk, "{line}\n");
    }
}

/// `totalhigh_pages`: the pages the HIGHMEM zones manage.
pub fn totalhigh_pages(k: &Kernel) -> u64 {
    k.page_alloc
        .node_data
        .iter()
        .flat_map(|n| n.node_zones.iter())
        .filter(|z| z.zone_type.is_highmem())
        .map(|z| z.managed())
        .sum()
}

/// arch/x86/mm/init_32.c `mem_init`'s line before 3.11: available `nr_free_pages()` over
/// `num_physpages` (`highend_pfn`, holes included), code `_etext - _text`, reserved the
/// lowmem RAM pages still PageReserved (`page_is_ram`: e820 RAM, not page 0 nor the BIOS
/// area), data `_edata - _etext`, init, and `totalhigh_pages`.
fn mem_init_print_old_32(k: &mut Kernel) {
    let mut reserved = 0u64;
    for pfn in 1..k.max_low_pfn {
        if (0xa0..0x100).contains(&pfn) || !k.e820.page_is_ram(pfn) {
            continue;
        }
        let Some(page) = k.sparse.pfn_to_page(pfn) else {
            continue;
        };
        // SAFETY: an initialised struct page of this memmap; boot is single-threaded here.
        if k.memmap.page_initialised(pfn)
            && unsafe { crate::include::mm_types::PageReserved(&*page.as_ptr()) }
        {
            reserved += 1;
        }
    }
    let img = &k.machine.image;
    crate::printk_default!(
        k.printk,
        "Memory: {}k/{}k available ({}k kernel code, {}k reserved, {}k data, {}k init, {}k highmem)\n",
        super::nr_free_pages(k) << 2,
        k.highend_pfn.max(k.max_low_pfn) << 2,
        img.text >> 10,
        reserved << 2,
        (img.rodata + img.rwdata) >> 10,
        img.init >> 10,
        totalhigh_pages(k) << 2
    );
}

/// mm/page_alloc.c: `free_reserved_area`: give the Reserved pages of `[start, end)` to the
/// buddy allocator one by one (`free_reserved_page`: clear PG_reserved, one reference,
/// `__free_page`, `adjust_managed_page_count(+1)`), then print "Freeing %s memory: %ldK".
/// Returns the pages freed.
///
/// Pages that are not Reserved (never reserved, or freed already) are skipped: the kernel
/// would free them regardless, a double free the model refuses (docs/divergences.md).
pub fn free_reserved_area(k: &mut Kernel, start: u64, end: u64, s: &str) -> u64 {
    let _t = k.trace.enter("free_reserved_area", "mm/page_alloc.c");
    let (first, last) = (start.div_ceil(4096), end / 4096);
    let mut pages = 0u64;
    for pfn in first..last {
        if !k.sparse.pfn_valid(pfn) || !k.memmap.page_initialised(pfn) {
            continue;
        }
        let Some(page) = k.sparse.pfn_to_page(pfn) else {
            continue;
        };
        let p = page.as_ptr();
        // SAFETY: an initialised struct page of this memmap; boot is single-threaded here.
        let reserved = unsafe { crate::include::mm_types::PageReserved(&*p) };
        // SAFETY: as above.
        let zone = k
            .page_alloc
            .page_zone(unsafe { &*p })
            .map(|z| z as *const Zone);
        let Some(zone) = zone.filter(|_| reserved) else {
            continue;
        };
        // SAFETY: as above; the page is Reserved, so nobody holds it through the allocator.
        unsafe {
            crate::include::mm_types::__ClearPageReserved(&mut *p);
            (*p).refcount = 1;
        }
        if super::__free_pages(k, page, 0) != FreeResult::Freed {
            continue;
        }
        // adjust_managed_page_count(page, 1).
        // SAFETY: `zone` points at a zone boxed in `k.page_alloc`, which lives on.
        unsafe { (*zone).managed_pages.fetch_add(1, Relaxed) };
        k.page_alloc.totalram_pages.fetch_add(1, Relaxed);
        pages += 1;
    }
    if pages > 0 && !s.is_empty() {
        crate::pr_info!(k.printk, "Freeing {s} memory: {}K\n", pages << 2);
    }
    pages
}
