// SPDX-License-Identifier: GPL-2.0-only
//! `mm/vmstat.c`: `/proc/buddyinfo` and `/proc/pagetypeinfo` from the live zones.
//!
//! buddyinfo counts each populated zone's free blocks per order (`nr_free`);
//! pagetypeinfo splits them by migrate type by walking each free list, then counts the
//! zone's pageblocks by the type in their pageblock bits. The kernel stops a list walk at
//! 100000 entries and prints ">100000" from 5.10 (believed); bootmm does the same.

use alloc::string::String;
use core::fmt::Write;

use crate::kernel::Kernel;
use crate::mm::page_alloc::NR_PAGE_ORDERS;
use crate::mm::sparse::{PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER};

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
    let pa = &k.page_alloc;
    let mut s = String::new();
    let _ = writeln!(s, "Page block order: {PAGEBLOCK_ORDER}");
    let _ = writeln!(s, "Pages per block:  {PAGEBLOCK_NR_PAGES}");
    s.push('\n');
    // pagetypeinfo_showfree
    let _ = write!(s, "{:<43} ", "Free pages count per migrate type at order");
    for o in 0..NR_PAGE_ORDERS {
        let _ = write!(s, "{o:6} ");
    }
    s.push('\n');
    let limit = 100_000;
    for z in pa.populated_zones() {
        let fa = z.lock.lock();
        for mt in 0..pa.mt.nr() {
            let _ = write!(
                s,
                "Node {:4}, zone {:>8}, type {:>12} ",
                z.node,
                z.name,
                pa.mt.name(mt)
            );
            for o in 0..NR_PAGE_ORDERS as u32 {
                let n = fa.list_len(o, mt, limit);
                let over = n >= limit && k.era.at_least(5, 10);
                let _ = write!(s, "{}{:6} ", if over { ">" } else { "" }, n);
            }
            s.push('\n');
        }
    }
    // pagetypeinfo_showblockcount
    let _ = write!(s, "\n{:<23}", "Number of blocks type ");
    for mt in 0..pa.mt.nr() {
        let _ = write!(s, "{:>12} ", pa.mt.name(mt));
    }
    s.push('\n');
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
        let _ = write!(s, "Node {}, zone {:>8} ", z.node, z.name);
        for c in count.iter().take(pa.mt.nr()) {
            let _ = write!(s, "{c:12} ");
        }
        s.push('\n');
    }
    s
}
