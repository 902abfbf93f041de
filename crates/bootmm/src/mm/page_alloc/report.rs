// SPDX-License-Identifier: GPL-2.0-only
//! `mm/page_alloc.c` `warn_alloc` and `mm/show_mem.c` `__show_mem` / `show_free_areas`:
//! the report of a failed allocation.
//!
//! When an allocation fails without __GFP_NOWARN the kernel names the process, the order
//! and the GFP mask, dumps the stack and shows memory: per-zone free pages against the
//! watermarks, the lowmem reserves, and each zone's free blocks by order with the migrate
//! types that hold them. bootmm prints the 6.x layout of those lines for every era, with the
//! LRU and slab counters (which it does not model) as 0, and no stack.

use alloc::string::String;
use core::fmt::Write;

use super::{nr_free_pages, Zone, NR_PAGE_ORDERS, WMARK_HIGH, WMARK_LOW, WMARK_MIN};
use crate::include::gfp::{format_gfp, gfp_to_raw, Gfp};
use crate::kernel::Kernel;

/// `K(x)`: pages to KiB.
fn k_of(pages: u64) -> u64 {
    pages << 2
}

/// mm/page_alloc.c: `warn_alloc` (`warn_alloc_failed` before 4.10): the failure line in
/// the era's format, then `show_mem`; at most `DEFAULT_RATELIMIT_BURST` reports in each
/// `DEFAULT_RATELIMIT_INTERVAL` (`nopage_rs`), the rest counted and reported by the first
/// report after the interval.
pub fn warn_alloc(k: &Kernel, cpu: u32, gfp: Gfp, order: u32) {
    let era = &k.era;
    let func = if era.at_least(4, 10) {
        "warn_alloc"
    } else {
        "warn_alloc_failed"
    };
    if !k
        .page_alloc
        .nopage_rs
        .ratelimit(k.jiffies.get(), func, &k.printk)
    {
        return;
    }
    let comm = k.cpus.comm(cpu);
    let raw = gfp_to_raw(era, gfp);
    if era.at_least(4, 12) {
        crate::pr_warn!(
            k.printk,
            "{comm}: page allocation failure: order:{order}, mode:{raw:#x}({}), nodemask=(null),cpuset=/,mems_allowed=0\n",
            format_gfp(era, gfp)
        );
    } else if era.at_least(4, 10) {
        crate::pr_warn!(
            k.printk,
            "{comm}: page allocation failure: order:{order}, mode:{raw:#x}({}), nodemask=(null)\n",
            format_gfp(era, gfp)
        );
    } else if era.at_least(4, 5) {
        crate::pr_warn!(
            k.printk,
            "{comm}: page allocation failure: order:{order}, mode:{raw:#x}({})\n",
            format_gfp(era, gfp)
        );
    } else {
        crate::pr_warn!(
            k.printk,
            "{comm}: page allocation failure: order:{order}, mode:{raw:#x}\n"
        );
    }
    show_free_areas(k);
}

/// mm/page_alloc.c `warn_alloc(gfp, NULL, fmt, …)` with a caller's message (vmalloc's
/// "vmalloc error: size %lu, …"): "comm: message, mode:…, nodemask=(null),cpuset=/,
/// mems_allowed=0", then `show_mem`, under the same rate limit as the page allocator's.
pub fn warn_alloc_msg(k: &Kernel, cpu: u32, gfp: Gfp, msg: &str) {
    if !k
        .page_alloc
        .nopage_rs
        .ratelimit(k.jiffies.get(), "warn_alloc", &k.printk)
    {
        return;
    }
    let comm = k.cpus.comm(cpu);
    let raw = gfp_to_raw(&k.era, gfp);
    crate::pr_warn!(
        k.printk,
        "{comm}: {msg}, mode:{raw:#x}({}), nodemask=(null),cpuset=/,mems_allowed=0\n",
        format_gfp(&k.era, gfp)
    );
    show_free_areas(k);
}

/// The free blocks of a zone by order, and which migrate types hold them (under the lock).
fn zone_free_blocks(k: &Kernel, z: &Zone) -> ([u64; NR_PAGE_ORDERS], [u32; NR_PAGE_ORDERS]) {
    let mut nr = [0u64; NR_PAGE_ORDERS];
    let mut types = [0u32; NR_PAGE_ORDERS];
    let fa = z.lock.lock();
    for (o, (n, t)) in nr.iter_mut().zip(types.iter_mut()).enumerate() {
        *n = fa.free_area[o].nr_free.get();
        for mt in 0..k.page_alloc.mt.nr() {
            if !fa.free_area_empty(o as u32, mt) {
                *t |= 1 << mt;
            }
        }
    }
    (nr, types)
}

/// mm/show_mem.c: `__show_mem` → `show_free_areas` (6.x layout).
pub fn show_free_areas(k: &Kernel) {
    let p = &k.printk;
    let pa = &k.page_alloc;
    crate::pr_info!(p, "Mem-Info:\n");
    let free_cma: i64 = pa
        .zones()
        .map(|z| {
            z.nr_free_cma_pages
                .load(core::sync::atomic::Ordering::Relaxed)
        })
        .sum();
    crate::pr_info!(
        p,
        "active_anon:0 inactive_anon:0 isolated_anon:0\n active_file:0 inactive_file:0 isolated_file:0\n unevictable:0 dirty:0 writeback:0\n slab_reclaimable:0 slab_unreclaimable:0\n mapped:0 shmem:0 pagetables:0\n sec_pagetables:0 bounce:0\n kernel_misc_reclaimable:0\n free:{} free_pcp:0 free_cma:{free_cma}\n",
        nr_free_pages(k)
    );
    for z in pa.populated_zones() {
        crate::pr_info!(
            p,
            "Node {} {} free:{}kB boost:{}kB min:{}kB low:{}kB high:{}kB reserved_highatomic:{}KB active_anon:0kB inactive_anon:0kB active_file:0kB inactive_file:0kB unevictable:0kB writepending:0kB present:{}kB managed:{}kB mlocked:0kB bounce:0kB free_pcp:0kB local_pcp:0kB free_cma:{}kB\n",
            z.node,
            z.name,
            k_of(z.free_pages()),
            k_of(z.watermark_boost.load(core::sync::atomic::Ordering::Relaxed)),
            k_of(z._watermark[WMARK_MIN]),
            k_of(z._watermark[WMARK_LOW]),
            k_of(z._watermark[WMARK_HIGH]),
            k_of(z.nr_reserved_highatomic.load(core::sync::atomic::Ordering::Relaxed)),
            k_of(z.present_pages),
            k_of(z.managed()),
            k_of(z.nr_free_cma_pages.load(core::sync::atomic::Ordering::Relaxed).max(0) as u64)
        );
        let mut lr = String::from("lowmem_reserve[]:");
        for r in &z.lowmem_reserve[..pa.zone_types.len()] {
            let _ = write!(lr, " {r}");
        }
        crate::pr_info!(p, "{lr}\n");
    }
    for z in pa.populated_zones() {
        let (nr, types) = zone_free_blocks(k, z);
        let mut line = alloc::format!("Node {} {}: ", z.node, z.name);
        let mut total = 0;
        for o in 0..NR_PAGE_ORDERS {
            let _ = write!(line, "{}*{}kB ", nr[o], 4u64 << o);
            total += nr[o] << o;
            if nr[o] != 0 {
                // show_migration_types
                line.push('(');
                for (mt, t) in pa.mt.order.iter().enumerate() {
                    if types[o] & (1 << mt) != 0 {
                        line.push(t.letter());
                    }
                }
                line.push_str(") ");
            }
        }
        let _ = write!(line, "= {}kB", k_of(total));
        crate::pr_info!(p, "{line}\n");
    }
    crate::pr_info!(p, "0 total pagecache pages\n");
    let (mut ram, mut reserved, mut highmem) = (0, 0, 0);
    for z in pa.zones() {
        ram += z.present_pages;
        reserved += z.present_pages.saturating_sub(z.managed());
        if z.zone_type.is_highmem() || z.zone_type == crate::mm::mm_init::ZoneType::Movable {
            highmem += z.present_pages;
        }
    }
    crate::pr_info!(p, "{ram} pages RAM\n");
    crate::pr_info!(p, "{highmem} pages HighMem/MovableOnly\n");
    crate::pr_info!(p, "{reserved} pages reserved\n");
    crate::pr_info!(p, "{} pages cma reserved\n", pa.totalcma_pages);
    crate::pr_info!(p, "0 pages hwpoisoned\n");
}
