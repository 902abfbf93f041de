// SPDX-License-Identifier: GPL-2.0-only
//! `mm/vmstat.c`: `/proc/buddyinfo`, `/proc/pagetypeinfo` and `/proc/zoneinfo` from the live
//! zones.
//!
//! buddyinfo counts each populated zone's free blocks per order (`nr_free`);
//! pagetypeinfo splits them by migrate type by walking each free list, then counts the
//! zone's pageblocks by the type in their pageblock bits. The kernel stops a list walk at
//! 100000 entries and prints ">100000" from 5.10 (believed); bootmm does the same.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use core::sync::atomic::Ordering::Relaxed;

use crate::era::Era;
use crate::kernel::Kernel;
use crate::mm::page_alloc::{MAX_NR_ZONES, NR_PAGE_ORDERS};
use crate::mm::sparse::{PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER};
use crate::mm::watermark::calculate_normal_threshold;

/// mm/vmstat.c: `frag_show` → `frag_show_print`: `/proc/buddyinfo`.
pub fn buddyinfo(k: &Kernel) -> String {
    let mut s = String::new();
    for z in k.page_alloc.populated_zones() {
        let _ = write!(s, "Node {}, zone {:>8} ", z.node, z.name);
        let fa = z.lock.lock();
        for o in 0..NR_PAGE_ORDERS {
            let _ = write!(s, "{:6} ", fa.free_area[o].nr_free.get());
        }
        s.push('\n');
    }
    s
}

/// mm/vmstat.c: `pagetypeinfo_show`: `/proc/pagetypeinfo` (free counts per migrate type and
/// order, then pageblocks per type; no PAGE_OWNER section).
pub fn pagetypeinfo(k: &Kernel) -> String {
    let d = pagetypeinfo_data(k);
    let mut s = String::new();
    let _ = writeln!(s, "Page block order: {}", d.pageblock_order);
    let _ = writeln!(s, "Pages per block:  {}", d.pages_per_block);
    s.push('\n');
    // pagetypeinfo_showfree
    let _ = write!(s, "{:<43} ", "Free pages count per migrate type at order");
    for o in 0..NR_PAGE_ORDERS {
        let _ = write!(s, "{o:6} ");
    }
    s.push('\n');
    for f in &d.free {
        let _ = write!(
            s,
            "Node {:4}, zone {:>8}, type {:>12} ",
            f.nid, f.zone, f.migratetype
        );
        for (n, over) in f.counts.iter().zip(&f.overflow) {
            let _ = write!(s, "{}{:6} ", if *over { ">" } else { "" }, n);
        }
        s.push('\n');
    }
    // pagetypeinfo_showblockcount
    let _ = write!(s, "\n{:<23}", "Number of blocks type ");
    for mt in 0..k.page_alloc.mt.nr() {
        let _ = write!(s, "{:>12} ", k.page_alloc.mt.name(mt));
    }
    s.push('\n');
    for b in &d.blocks {
        let _ = write!(s, "Node {}, zone {:>8} ", b.nid, b.zone);
        for (_, c) in &b.counts {
            let _ = write!(s, "{c:12} ");
        }
        s.push('\n');
    }
    s
}

// ---------------------------------------------------------------------------------------
// Structured forms of /proc/buddyinfo and /proc/pagetypeinfo.

/// One populated zone's line of /proc/buddyinfo: `free_area[order].nr_free` per order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuddyinfoZone {
    pub nid: u32,
    pub zone: &'static str,
    pub nr_free: Vec<u64>,
}

/// /proc/buddyinfo as values: every populated zone of every online node.
pub fn buddyinfo_zones(k: &Kernel) -> Vec<BuddyinfoZone> {
    k.page_alloc
        .populated_zones()
        .map(|z| {
            let fa = z.lock.lock();
            BuddyinfoZone {
                nid: z.node,
                zone: z.name,
                nr_free: (0..NR_PAGE_ORDERS)
                    .map(|o| fa.free_area[o].nr_free.get())
                    .collect(),
            }
        })
        .collect()
}

/// One "Node N, zone Z, type T" line of /proc/pagetypeinfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PagetypeFree {
    pub nid: u32,
    pub zone: &'static str,
    pub migratetype: &'static str,
    /// Free blocks per order (a walk stops at 100000 entries, as the kernel's does).
    pub counts: Vec<u64>,
    /// Per order: the walk stopped at the limit (printed with a ">" prefix from 5.10).
    pub overflow: Vec<bool>,
}

/// One zone's pageblock counts per migrate type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PagetypeBlocks {
    pub nid: u32,
    pub zone: &'static str,
    pub counts: Vec<(&'static str, u64)>,
}

/// /proc/pagetypeinfo as values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pagetypeinfo {
    pub pageblock_order: u32,
    pub pages_per_block: u64,
    pub free: Vec<PagetypeFree>,
    pub blocks: Vec<PagetypeBlocks>,
}

/// mm/vmstat.c: `pagetypeinfo_showfree_print` and `pagetypeinfo_showblockcount_print`, as
/// values.
pub fn pagetypeinfo_data(k: &Kernel) -> Pagetypeinfo {
    let pa = &k.page_alloc;
    let limit = 100_000;
    let mut free = Vec::new();
    for z in pa.populated_zones() {
        let fa = z.lock.lock();
        for mt in 0..pa.mt.nr() {
            let counts: Vec<u64> = (0..NR_PAGE_ORDERS as u32)
                .map(|o| fa.list_len(o, mt, limit))
                .collect();
            let overflow = counts
                .iter()
                .map(|&n| n >= limit && k.era.at_least(5, 10))
                .collect();
            free.push(PagetypeFree {
                nid: z.node,
                zone: z.name,
                migratetype: pa.mt.name(mt),
                counts,
                overflow,
            });
        }
    }
    let mut blocks = Vec::new();
    for z in pa.populated_zones() {
        let mut count = [0u64; crate::mm::page_alloc::MIGRATE_TYPES_MAX + 2];
        let mut pfn = z.zone_start_pfn;
        while pfn < z.zone_end_pfn() {
            if let Some(p) = k.sparse.pfn_to_page(pfn) {
                // SAFETY: a struct page of this memmap, read only.
                let page = unsafe { p.as_ref() };
                let in_zone = k.memmap.page_initialised(pfn)
                    && crate::include::mm_types::page_zonenum(page) as usize == z.idx
                    && crate::include::mm_types::page_to_nid(page) == z.node;
                if in_zone {
                    let mt = k.sparse.get_pfnblock_migratetype(pfn).unwrap_or(0) as usize;
                    if let Some(c) = count.get_mut(mt) {
                        *c += 1;
                    }
                }
            }
            pfn += PAGEBLOCK_NR_PAGES;
        }
        blocks.push(PagetypeBlocks {
            nid: z.node,
            zone: z.name,
            counts: (0..pa.mt.nr())
                .map(|mt| (pa.mt.name(mt), count.get(mt).copied().unwrap_or(0)))
                .collect(),
        });
    }
    Pagetypeinfo {
        pageblock_order: PAGEBLOCK_ORDER,
        pages_per_block: PAGEBLOCK_NR_PAGES,
        free,
        blocks,
    }
}

// ---------------------------------------------------------------------------------------
// /proc/zoneinfo

/// The build options that decide which vmstat counters exist (`vmstat_text` has `#ifdef`s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmstatConfig {
    /// CONFIG_NUMA: the numa_* counters.
    pub numa: bool,
    /// CONFIG_ZSMALLOC: `nr_zspages`.
    pub zsmalloc: bool,
    /// CONFIG_SWAP: `nr_swapcached`.
    pub swap: bool,
    /// CONFIG_NUMA_BALANCING: `pgpromote_*`.
    pub numa_balancing: bool,
    /// CONFIG_IOMMU_SUPPORT: `nr_iommu_pages`.
    pub iommu: bool,
    /// CONFIG_HUGETLB_PAGE: `nr_hugetlb`.
    pub hugetlb: bool,
    /// CONFIG_UNACCEPTED_MEMORY: `nr_unaccepted`.
    pub unaccepted_memory: bool,
}

impl VmstatConfig {
    /// A distribution x86 build: NUMA as the machine's configuration says, the rest on
    /// (off for unaccepted memory, which only confidential-guest builds select).
    pub fn of(k: &Kernel) -> Self {
        let numa = k.machine.kernel_config().numa;
        VmstatConfig {
            numa,
            zsmalloc: true,
            swap: true,
            numa_balancing: numa,
            iommu: true,
            hugetlb: true,
            unaccepted_memory: false,
        }
    }
}

/// A RHEL 9 build: its 5.14 carries later counters and zoneinfo lines (backports).
fn rhel9(era: &Era) -> bool {
    era.release.contains(".el9")
}

/// The era's `enum node_stat_item` names in `vmstat_text` order (4.8+, where the LRU and
/// most page counters moved from zones to nodes). An empty name is the 4.17–4.19
/// `nr_indirectly_reclaimable` counter, whose name the kernel blanked to hide it from
/// /proc/vmstat; zoneinfo still prints its line.
pub fn node_stat_names(era: &Era, c: &VmstatConfig) -> Vec<&'static str> {
    let v = |a, b| era.at_least(a, b);
    let el9 = rhel9(era);
    let mut n = alloc::vec![
        "nr_inactive_anon",
        "nr_active_anon",
        "nr_inactive_file",
        "nr_active_file",
        "nr_unevictable",
    ];
    if v(4, 13) {
        n.extend(["nr_slab_reclaimable", "nr_slab_unreclaimable"]);
    }
    n.extend(["nr_isolated_anon", "nr_isolated_file"]);
    if !v(4, 11) {
        n.push("nr_pages_scanned");
    }
    if v(4, 20) {
        n.push("workingset_nodes");
    }
    if v(5, 9) {
        n.extend([
            "workingset_refault_anon",
            "workingset_refault_file",
            "workingset_activate_anon",
            "workingset_activate_file",
            "workingset_restore_anon",
            "workingset_restore_file",
        ]);
    } else {
        n.extend(["workingset_refault", "workingset_activate"]);
        if v(4, 20) {
            n.push("workingset_restore");
        }
    }
    n.extend([
        "workingset_nodereclaim",
        "nr_anon_pages",
        "nr_mapped",
        "nr_file_pages",
        "nr_dirty",
        "nr_writeback",
    ]);
    if !v(6, 17) {
        n.push("nr_writeback_temp");
    }
    n.extend(["nr_shmem", "nr_shmem_hugepages", "nr_shmem_pmdmapped"]);
    if v(5, 4) {
        n.extend(["nr_file_hugepages", "nr_file_pmdmapped"]);
    }
    n.push("nr_anon_transparent_hugepages");
    if !v(5, 8) {
        n.push("nr_unstable");
    }
    n.extend([
        "nr_vmscan_write",
        "nr_vmscan_immediate_reclaim",
        "nr_dirtied",
        "nr_written",
    ]);
    if v(5, 16) || el9 {
        n.push("nr_throttled_written");
    }
    if v(4, 17) && !v(4, 20) {
        n.push("");
    }
    if v(4, 20) {
        n.push("nr_kernel_misc_reclaimable");
    }
    if v(5, 7) {
        n.extend(["nr_foll_pin_acquired", "nr_foll_pin_released"]);
    }
    if v(5, 9) {
        n.push("nr_kernel_stack");
    }
    if v(5, 11) {
        n.push("nr_page_table_pages");
    }
    if v(6, 0) || el9 {
        n.push("nr_sec_page_table_pages");
    }
    if v(6, 11) && c.iommu {
        n.push("nr_iommu_pages");
    }
    if v(5, 12) && c.swap {
        n.push("nr_swapcached");
    }
    if c.numa_balancing {
        if v(5, 18) || el9 {
            n.push("pgpromote_success");
        }
        if v(6, 1) {
            n.push("pgpromote_candidate");
        }
        if v(6, 18) {
            n.push("pgpromote_candidate_nrl");
        }
    }
    if v(6, 8) {
        n.extend(["pgdemote_kswapd", "pgdemote_direct", "pgdemote_khugepaged"]);
    }
    if v(6, 15) {
        n.push("pgdemote_proactive");
    }
    if v(6, 11) && c.hugetlb {
        n.push("nr_hugetlb");
    }
    if v(6, 15) {
        n.push("nr_balloon_pages");
    }
    if v(6, 18) {
        n.push("nr_kernel_file_pages");
    }
    n
}

/// The era's `enum zone_stat_item` names in `vmstat_text` order; before 4.14 the NUMA
/// counters were zone items too (before `nr_anon_transparent_hugepages` until 4.7, before
/// `nr_free_cma` in 4.8–4.13).
pub fn zone_stat_names(era: &Era, c: &VmstatConfig) -> Vec<&'static str> {
    let v = |a, b| era.at_least(a, b);
    let numa: &[&'static str] = if c.numa { &NUMA_STAT_NAMES } else { &[] };
    let mut n = alloc::vec!["nr_free_pages"];
    if !v(4, 8) {
        if v(3, 12) {
            n.push("nr_alloc_batch");
        }
        n.extend([
            "nr_inactive_anon",
            "nr_active_anon",
            "nr_inactive_file",
            "nr_active_file",
            "nr_unevictable",
            "nr_mlock",
            "nr_anon_pages",
            "nr_mapped",
            "nr_file_pages",
            "nr_dirty",
            "nr_writeback",
            "nr_slab_reclaimable",
            "nr_slab_unreclaimable",
            "nr_page_table_pages",
            "nr_kernel_stack",
            "nr_unstable",
            "nr_bounce",
            "nr_vmscan_write",
            "nr_vmscan_immediate_reclaim",
            "nr_writeback_temp",
            "nr_isolated_anon",
            "nr_isolated_file",
            "nr_shmem",
            "nr_dirtied",
            "nr_written",
        ]);
        if v(3, 18) {
            n.push("nr_pages_scanned");
        }
        n.extend_from_slice(numa);
        if v(3, 15) {
            n.extend([
                "workingset_refault",
                "workingset_activate",
                "workingset_nodereclaim",
            ]);
        }
        n.push("nr_anon_transparent_hugepages");
        if v(3, 7) {
            n.push("nr_free_cma");
        }
        return n;
    }
    if v(6, 16) {
        n.push("nr_free_pages_blocks");
    }
    n.extend([
        "nr_zone_inactive_anon",
        "nr_zone_active_anon",
        "nr_zone_inactive_file",
        "nr_zone_active_file",
        "nr_zone_unevictable",
        "nr_zone_write_pending",
        "nr_mlock",
    ]);
    if !v(4, 13) {
        n.extend(["nr_slab_reclaimable", "nr_slab_unreclaimable"]);
    }
    if !v(5, 11) {
        n.push("nr_page_table_pages");
    }
    if !v(5, 9) {
        n.push("nr_kernel_stack");
    }
    if !v(6, 16) {
        n.push("nr_bounce");
    }
    if c.zsmalloc {
        n.push("nr_zspages");
    }
    if !v(4, 14) {
        n.extend_from_slice(numa);
    }
    n.push("nr_free_cma");
    if v(6, 5) && c.unaccepted_memory {
        n.push("nr_unaccepted");
    }
    n
}

/// `enum numa_stat_item` (4.14+; zone items before).
pub const NUMA_STAT_NAMES: [&str; 6] = [
    "numa_hit",
    "numa_miss",
    "numa_foreign",
    "numa_interleave",
    "numa_local",
    "numa_other",
];

/// One CPU's pageset as /proc/zoneinfo shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneinfoPageset {
    pub cpu: u32,
    pub count: u64,
    pub high: u64,
    pub batch: u64,
    pub high_min: u64,
    pub high_max: u64,
    /// `per_cpu_zonestats->stat_threshold` (`vm stats threshold`).
    pub stat_threshold: u32,
}

/// One "Node N, zone Z" block of /proc/zoneinfo, as values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneinfoZone {
    pub nid: u32,
    pub zone: &'static str,
    pub populated: bool,
    /// The node's counters, on the node's first populated zone (4.8+).
    pub node_stats: Option<Vec<(&'static str, u64)>>,
    pub free: u64,
    pub boost: u64,
    pub min: u64,
    pub low: u64,
    pub high: u64,
    pub promo: u64,
    /// `scanned` (before 4.8) / `node_scanned` (4.8–4.10).
    pub scanned: u64,
    pub spanned: u64,
    pub present: u64,
    pub managed: u64,
    pub cma: u64,
    /// `lowmem_reserve[]`, MAX_NR_ZONES entries.
    pub protection: Vec<u64>,
    /// The zone counters (and, from 4.14, the NUMA counters after them), in print order.
    pub zone_stats: Vec<(&'static str, u64)>,
    pub pagesets: Vec<ZoneinfoPageset>,
    /// `all_unreclaimable` (before 4.8) / `node_unreclaimable` (4.8+).
    pub unreclaimable: u32,
    pub start_pfn: u64,
    /// `inactive_ratio` (before 4.8) / `node_inactive_ratio` (4.8, 4.9).
    pub inactive_ratio: Option<u64>,
}

/// Boot pageset values (mm/page_alloc.c `boot_pageset`: `BOOT_PAGESET_HIGH` 0,
/// `BOOT_PAGESET_BATCH` 1; `setup_pageset(p, 0)` before 5.14 gives the same): what a zone
/// shows until `setup_per_cpu_pageset` gives it per-CPU pagesets.
const BOOT_PAGESET_HIGH: u64 = 0;
const BOOT_PAGESET_BATCH: u64 = 1;

/// `calculate_zone_inactive_ratio` (mm/page_alloc.c, before 4.8): `int_sqrt(10 * GiB)`, 1
/// below 1 GiB.
fn calculate_zone_inactive_ratio(pages: u64) -> u64 {
    let gb = pages >> (30 - crate::include::PAGE_SHIFT);
    if gb != 0 {
        crate::mm::watermark::int_sqrt(10 * gb)
    } else {
        1
    }
}

/// What mm/vmstat.c `zoneinfo_show_print` reads, for every zone of every online node, with
/// the model's values: the buddy allocator's free counts, the watermarks and
/// `lowmem_reserve` set by `init_per_zone_wmark_min`, the zone sizes. Counters of activity
/// boot has not had in the model (LRU, slab, NUMA hits) are 0.
pub fn zoneinfo_zones(k: &Kernel) -> Vec<ZoneinfoZone> {
    zoneinfo_zones_with(k, &VmstatConfig::of(k))
}

/// [`zoneinfo_zones`] for an explicit set of build options.
pub fn zoneinfo_zones_with(k: &Kernel, c: &VmstatConfig) -> Vec<ZoneinfoZone> {
    let era = &k.era;
    let pa = &k.page_alloc;
    let nr_zones = pa.zone_types.len();
    let cpus = k.machine.cpus.max(1);
    let node_names = node_stat_names(era, c);
    let zone_names = zone_stat_names(era, c);
    let mut out = Vec::new();
    for n in &pa.node_data {
        let first_populated = n.node_zones.iter().position(|z| z.populated());
        for (i, z) in n.node_zones.iter().enumerate() {
            let populated = z.populated();
            let free = z.free_pages();
            let (low, high) = (z.low_wmark_pages(), z.high_wmark_pages());
            // __setup_per_zone_wmarks (6.1+): high = low + tmp, promo = high + tmp.
            let promo = high + high.saturating_sub(low);
            let free_blocks = {
                let fa = z.lock.lock();
                (PAGEBLOCK_ORDER as usize..NR_PAGE_ORDERS)
                    .map(|o| fa.free_area[o].nr_free.get() << o)
                    .sum::<u64>()
            };
            let zone_stats = zone_names
                .iter()
                .chain(if era.at_least(4, 14) && c.numa {
                    NUMA_STAT_NAMES.iter()
                } else {
                    [].iter()
                })
                .map(|&name| {
                    let v = match name {
                        "nr_free_pages" => free,
                        "nr_free_pages_blocks" => free_blocks,
                        "nr_free_cma" => z.nr_free_cma_pages.load(Relaxed).max(0) as u64,
                        "nr_alloc_batch" => z.high_wmark_pages() - z.low_wmark_pages(),
                        _ => 0,
                    };
                    (name, v)
                })
                .collect();
            // calculate_normal_threshold: present pages before 3.8 (the managed estimate).
            let sized = if era.at_least(3, 8) {
                z.managed()
            } else {
                z.present_pages
            };
            let threshold = if populated {
                calculate_normal_threshold(sized, cpus)
            } else {
                0
            };
            // Each CPU's pageset, or boot_pageset where setup_per_cpu_pageset gave none.
            let pagesets = (0..cpus)
                .map(|cpu| {
                    let p = z
                        .pageset(cpu)
                        .unwrap_or(crate::mm::page_alloc::pcp::PcpState {
                            high: BOOT_PAGESET_HIGH as i32,
                            batch: BOOT_PAGESET_BATCH as i32,
                            high_min: BOOT_PAGESET_HIGH as i32,
                            high_max: BOOT_PAGESET_HIGH as i32,
                            ..Default::default()
                        });
                    ZoneinfoPageset {
                        cpu,
                        count: p.count.max(0) as u64,
                        high: p.high.max(0) as u64,
                        batch: p.batch.max(0) as u64,
                        high_min: p.high_min.max(0) as u64,
                        high_max: p.high_max.max(0) as u64,
                        stat_threshold: threshold,
                    }
                })
                .collect();
            // all_unreclaimable / node_unreclaimable: from 3.12 until 4.11 the flag is
            // "scanned >= 6 * reclaimable pages", true with no LRU pages at all; from 4.11
            // it is kswapd_failures >= MAX_RECLAIM_RETRIES, 0 until kswapd gives up.
            let unreclaimable = u32::from(era.at_least(3, 12) && !era.at_least(4, 11));
            let inactive_ratio = if !era.at_least(4, 8) {
                Some(calculate_zone_inactive_ratio(sized))
            } else if !era.at_least(4, 10) {
                // pgdat->inactive_ratio: never set in 4.8/4.9.
                Some(0)
            } else {
                None
            };
            out.push(ZoneinfoZone {
                nid: n.node_id,
                zone: z.name,
                populated,
                node_stats: (era.at_least(4, 8) && first_populated == Some(i))
                    .then(|| node_names.iter().map(|&s| (s, 0)).collect()),
                free,
                boost: z.watermark_boost.load(Relaxed),
                min: z.min_wmark_pages(),
                low,
                high,
                promo,
                scanned: 0,
                spanned: z.spanned_pages,
                present: z.present_pages,
                managed: z.managed(),
                cma: z.cma_pages,
                protection: z.lowmem_reserve[..nr_zones.min(MAX_NR_ZONES)].to_vec(),
                zone_stats,
                pagesets,
                unreclaimable,
                start_pfn: z.zone_start_pfn,
                inactive_ratio,
            });
        }
    }
    out
}

/// mm/vmstat.c: `zoneinfo_show` → `zoneinfo_show_print`: `/proc/zoneinfo` in the era's
/// layout.
pub fn zoneinfo(k: &Kernel) -> String {
    render_zoneinfo(&k.era, &zoneinfo_zones(k))
}

/// The text of /proc/zoneinfo for `zones` in `era`'s layout (`zoneinfo_show_print`).
///
/// - before 4.8: zone counters (4 spaces) before "protection", a "scanned" line,
///   "all_unreclaimable"/"start_pfn"/"inactive_ratio" at the end; "managed" from 3.8;
/// - 4.8: per-node counters on the node's first populated zone, "node_scanned" (until
///   4.10), zone counters (6 spaces) before "protection", "node_inactive_ratio" (4.8, 4.9);
/// - 4.12: every zone is listed, "protection" comes first and an unpopulated zone stops
///   there; 4.14: the NUMA counters follow the zone counters;
/// - "cma" from 5.15, "boost" from 6.1, "promo" from 6.12 (RHEL 9's 5.14 has the first two);
///   "high_min"/"high_max" per CPU (with wider labels) from 6.14.
pub fn render_zoneinfo(era: &Era, zones: &[ZoneinfoZone]) -> String {
    let v = |a, b| era.at_least(a, b);
    let el9 = rhel9(era);
    let all_zones = v(4, 12);
    let mut s = String::new();
    for z in zones {
        if !all_zones && !z.populated {
            continue;
        }
        let _ = write!(s, "Node {}, zone {:>8}", z.nid, z.zone);
        if let Some(ns) = &z.node_stats {
            s.push_str("\n  per-node stats");
            for (name, val) in ns {
                let _ = write!(s, "\n      {name:<12} {val}");
            }
        }
        let _ = write!(s, "\n  pages free     {}", z.free);
        if v(6, 1) || el9 {
            let _ = write!(s, "\n        boost    {}", z.boost);
        }
        let _ = write!(
            s,
            "\n        min      {}\n        low      {}\n        high     {}",
            z.min, z.low, z.high
        );
        if v(6, 12) {
            let _ = write!(s, "\n        promo    {}", z.promo);
        }
        if !v(4, 8) {
            let _ = write!(s, "\n        scanned  {}", z.scanned);
        } else if !v(4, 11) {
            let _ = write!(s, "\n   node_scanned  {}", z.scanned);
        }
        let _ = write!(
            s,
            "\n        spanned  {}\n        present  {}",
            z.spanned, z.present
        );
        if v(3, 8) {
            let _ = write!(s, "\n        managed  {}", z.managed);
        }
        if v(5, 15) || el9 {
            let _ = write!(s, "\n        cma      {}", z.cma);
        }
        let stat_indent = if v(4, 8) { "      " } else { "    " };
        if !all_zones {
            for (name, val) in &z.zone_stats {
                let _ = write!(s, "\n{stat_indent}{name:<12} {val}");
            }
        }
        let mut prot = z.protection.iter();
        let _ = write!(
            s,
            "\n        protection: ({}",
            prot.next().copied().unwrap_or(0)
        );
        for p in prot {
            let _ = write!(s, ", {p}");
        }
        s.push(')');
        if all_zones {
            if !z.populated {
                s.push('\n');
                continue;
            }
            for (name, val) in &z.zone_stats {
                let _ = write!(s, "\n{stat_indent}{name:<12} {val}");
            }
        }
        s.push_str("\n  pagesets");
        for p in &z.pagesets {
            if v(6, 14) {
                let _ = write!(
                    s,
                    "\n    cpu: {}\n              count:    {}\n              high:     {}\n              batch:    {}\n              high_min: {}\n              high_max: {}",
                    p.cpu, p.count, p.high, p.batch, p.high_min, p.high_max
                );
            } else {
                let _ = write!(
                    s,
                    "\n    cpu: {}\n              count: {}\n              high:  {}\n              batch: {}",
                    p.cpu, p.count, p.high, p.batch
                );
            }
            let _ = write!(s, "\n  vm stats threshold: {}", p.stat_threshold);
        }
        if v(4, 8) {
            let _ = write!(
                s,
                "\n  node_unreclaimable:  {}\n  start_pfn:           {}",
                z.unreclaimable, z.start_pfn
            );
            if let Some(r) = z.inactive_ratio {
                let _ = write!(s, "\n  node_inactive_ratio: {r}");
            }
        } else {
            let _ = write!(
                s,
                "\n  all_unreclaimable: {}\n  start_pfn:         {}\n  inactive_ratio:    {}",
                z.unreclaimable,
                z.start_pfn,
                z.inactive_ratio.unwrap_or(1)
            );
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests;
