// SPDX-License-Identifier: GPL-2.0-only
//! Tests of the buddy allocator: splitting and merging, fallback stealing, watermarks,
//! the bad-page checks, the hand-over at boot, and allocator invariants under random
//! call sequences.

#![cfg(feature = "std")]

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::Ordering::Relaxed;

use super::*;
use crate::era::{Arch, KernelVersion};
use crate::include::gfp::gfp_constant;
use crate::init::main::start_kernel;
use crate::machine::Machine;

fn boot(m: Machine) -> Kernel {
    let mut k = Kernel::new(m).expect("simulated RAM");
    start_kernel(&mut k).expect("boot");
    k
}

fn small(v: (u32, u32, u32)) -> Kernel {
    let mut m = Machine::qemu(128 << 20, 1).unwrap();
    m.era = Era::new(KernelVersion::new(v.0, v.1, v.2), Arch::X86_64);
    boot(m)
}

fn gfp(k: &Kernel, name: &str) -> Gfp {
    gfp_constant(&k.era, name).unwrap()
}

/// One free block: (zone, pfn, order, list type).
type Block = (ZoneRef, u64, u32, usize);

/// Every free block on every list, checked as it is collected.
fn free_blocks(k: &Kernel) -> Vec<Block> {
    let mut out = Vec::new();
    for n in &k.page_alloc.node_data {
        for z in &n.node_zones {
            let fa = z.lock.lock();
            for o in 0..NR_PAGE_ORDERS as u32 {
                let mut count = 0;
                for mt in 0..k.page_alloc.mt.nr() {
                    let h = fa.head(o, mt);
                    // SAFETY: walking a list under its zone lock.
                    unsafe {
                        let mut p = (*h).next;
                        while !core::ptr::eq(p, h) {
                            let page = lru_to_page(p);
                            let pg = &*page;
                            assert!(PageBuddy(pg), "listed page without PageBuddy");
                            assert_eq!(pg.private, u64::from(o), "order mismatch");
                            assert_eq!(pg.refcount, 0);
                            assert!(core::ptr::eq((*pg.lru.next).prev, p), "broken list");
                            let pfn = pfn_of(&k.sparse, page);
                            out.push((
                                ZoneRef {
                                    nid: n.node_id,
                                    zone_idx: z.idx,
                                },
                                pfn,
                                o,
                                mt,
                            ));
                            count += 1;
                            p = (*p).next;
                        }
                    }
                }
                assert_eq!(fa.free_area[o as usize].nr_free.get(), count, "nr_free");
            }
        }
    }
    out
}

/// The allocator's invariants: blocks aligned, in their zone, on one list each, merged as
/// far as the kernel would, and counted exactly by NR_FREE_PAGES.
/// Every block on a pcp list: (zone, cpu, pfn, order), checking each pageset's count.
fn pcp_blocks(k: &Kernel) -> Vec<(ZoneRef, u32, u64, u32)> {
    let mut out = Vec::new();
    for z in k.page_alloc.zones() {
        let r = ZoneRef {
            nid: z.node,
            zone_idx: z.idx,
        };
        for (cpu, p) in z.per_cpu_pageset.iter().enumerate() {
            let mut g = p.lock();
            let mut n = 0i64;
            pcp::for_each_pcp_block(&g, &k.page_alloc.pcp, |_, o, page| {
                out.push((r, cpu as u32, pfn_of(&k.sparse, page), o));
                n += 1 << o;
            });
            assert_eq!(g.state().count as i64, n, "{} cpu {cpu} pcp->count", z.name);
        }
    }
    out
}

/// Pages on every pcp list.
fn pcp_pages(k: &Kernel) -> u64 {
    pcp_blocks(k).iter().map(|b| 1u64 << b.3).sum()
}

fn check_invariants(k: &Kernel) {
    let blocks = free_blocks(k);
    let pcp = pcp_blocks(k);
    let mut by_start: BTreeMap<u64, (u32, ZoneRef)> = BTreeMap::new();
    for &(r, pfn, o, _) in &blocks {
        assert_eq!(
            pfn & ((1 << o) - 1),
            0,
            "pfn {pfn:#x} not aligned to order {o}"
        );
        let z = k.page_alloc.zone(r).unwrap();
        assert!(z.zone_spans_pfn(pfn) && z.zone_spans_pfn(pfn + (1 << o) - 1));
        assert!(
            by_start.insert(pfn, (o, r)).is_none(),
            "pfn {pfn:#x} on two lists"
        );
    }
    let mut all = by_start.clone();
    for &(r, cpu, pfn, o) in &pcp {
        let z = k.page_alloc.zone(r).unwrap();
        assert!(z.zone_spans_pfn(pfn) && z.zone_spans_pfn(pfn + (1 << o) - 1));
        assert!(
            all.insert(pfn, (o, r)).is_none(),
            "pfn {pfn:#x} on cpu {cpu}'s pcp list and another list"
        );
    }
    let mut end = 0;
    for (&pfn, &(o, _)) in &all {
        assert!(pfn >= end, "free blocks overlap at {pfn:#x}");
        end = pfn + (1 << o);
    }
    for (&pfn, &(o, r)) in &by_start {
        if o < MAX_PAGE_ORDER {
            let b = pfn ^ (1 << o);
            if let Some(&(bo, br)) = by_start.get(&b) {
                assert!(
                    !(bo == o && br == r),
                    "free buddies {pfn:#x}/{b:#x} of order {o} not merged"
                );
            }
        }
    }
    for z in k.page_alloc.zones() {
        let r = ZoneRef {
            nid: z.node,
            zone_idx: z.idx,
        };
        let listed: u64 = blocks
            .iter()
            .filter(|b| b.0 == r)
            .map(|b| 1u64 << b.2)
            .sum();
        assert_eq!(
            listed + z.deferred_unlisted.load(Relaxed),
            z.free_pages(),
            "{} NR_FREE_PAGES",
            z.name
        );
    }
}

fn managed_total(k: &Kernel) -> u64 {
    k.page_alloc.zones().map(|z| z.managed()).sum()
}

#[test]
fn boot_hands_memory_over_and_prints_memory_line() {
    let k = boot(Machine::qemu_4g());
    check_invariants(&k);
    // Everything managed is free except the vmalloc page-table pages mem_init took and the
    // hash tables mnt_init took from the buddy allocator (the "(… bytes, linear)" lines
    // printed after the hand-over).
    let late_hash_pages: u64 = k
        .printk
        .lines()
        .iter()
        .filter(|l| l.text.starts_with("Mount"))
        .filter_map(|l| {
            l.text
                .split(", ")
                .nth(1)?
                .strip_suffix(" bytes")?
                .parse::<u64>()
                .ok()
        })
        .map(|b| b.div_ceil(4096))
        .sum();
    assert!(late_hash_pages > 0);
    // kmem_cache_init's slabs (the boot caches and the kmalloc caches' node structures).
    let (rcl, unrcl) = k.slab.slab_bytes();
    let slab_pages = (rcl + unrcl) / 4096;
    assert!(slab_pages > 0);
    assert_eq!(
        managed_total(&k) - nr_free_pages(&k),
        64 + late_hash_pages + slab_pages
    );
    // totalram counts what memblock freed (deferred pages included).
    assert_eq!(k.page_alloc.totalram_pages(), managed_total(&k));
    let physpages: u64 = k
        .zones
        .as_ref()
        .unwrap()
        .nodes
        .iter()
        .map(|n| n.node_present_pages)
        .sum();
    let line = k
        .printk
        .lines()
        .into_iter()
        .find(|l| l.text.starts_with("Memory: "))
        .unwrap()
        .text;
    assert!(
        line.starts_with(&alloc::format!(
            "Memory: {}K/{}K available (",
            nr_free_pages(&k) * 4,
            physpages * 4
        )),
        "{line}"
    );
    assert!(line.ends_with("K cma-reserved)"));
    // Reserved pages stay Reserved and off the lists; the kernel image is among them.
    let img = k.machine.image.phys_start >> 12;
    // SAFETY: reading a struct page of the memmap.
    assert!(crate::include::mm_types::PageReserved(unsafe {
        k.sparse.pfn_to_page(img).unwrap().as_ref()
    }));
    // The swiotlb buffer (memory above 4 GiB, no IOMMU) is reserved below 4 GiB.
    assert!(k
        .printk
        .lines()
        .iter()
        .any(|l| l.text.starts_with("software IO TLB: mapped [mem ")));
}

#[test]
fn split_then_merge_restores_the_free_lists() {
    let mut k = small((6, 6, 0));
    k.drain_all_pages();
    let before = crate::mm::vmstat::buddyinfo(&k);
    let free0 = nr_free_pages(&k);
    assert_eq!(pcp_pages(&k), 0);
    let g = gfp(&k, "GFP_KERNEL");
    let p = alloc_pages(&mut k, g, 0).unwrap().unwrap();
    // The pcp list was refilled with a batch: the rest of it waits on CPU 0's list, off
    // the NR_FREE_PAGES books.
    // SAFETY: reading a page we own.
    let zone = k.page_alloc.page_zone(unsafe { p.as_ref() }).unwrap();
    let batch = zone.pageset(0).unwrap().batch as u64;
    assert_eq!(nr_free_pages(&k), free0 - batch);
    assert_eq!(pcp_pages(&k), batch - 1);
    // The order-0 page came from splitting a bigger block: one block at each order below.
    check_invariants(&k);
    let q = alloc_pages(&mut k, g, 3).unwrap().unwrap();
    // SAFETY: reading a page we own.
    assert_eq!(unsafe { q.as_ref() }.refcount, 1);
    check_invariants(&k);
    assert_eq!(__free_pages(&mut k, p, 0), FreeResult::Freed);
    assert_eq!(__free_pages(&mut k, q, 3), FreeResult::Freed);
    check_invariants(&k);
    assert!(pcp_pages(&k) > 0);
    k.drain_all_pages();
    check_invariants(&k);
    assert_eq!(nr_free_pages(&k), free0);
    assert_eq!(crate::mm::vmstat::buddyinfo(&k), before);
}

#[test]
fn zero_and_compound_pages() {
    let mut k = small((6, 6, 0));
    let g = gfp(&k, "GFP_KERNEL");
    let p = alloc_pages(&mut k, g, 1).unwrap().unwrap();
    let pa = page_to_pfn(&k, p).unwrap() << 12;
    k.phys.memset(crate::PhysAddr(pa), 0xaa, 8192).unwrap();
    __free_pages(&mut k, p, 1);
    let z = alloc_pages(&mut k, g | Gfp::__GFP_ZERO | Gfp::__GFP_COMP, 1)
        .unwrap()
        .unwrap();
    let zpa = page_to_pfn(&k, z).unwrap() << 12;
    assert_eq!(
        k.phys.memchr_inv(crate::PhysAddr(zpa), 0, 8192).unwrap(),
        None
    );
    // SAFETY: reading the pages we own.
    unsafe {
        assert!(PageHead(z.as_ref()));
        assert!(PageTail(&*z.as_ptr().add(1)));
        assert_eq!(compound_order(z.as_ptr()), 1);
    }
    // A compound page freed with the wrong order is refused.
    let free0 = nr_free_pages(&k);
    assert_eq!(__free_pages(&mut k, z, 0), FreeResult::BadPage);
    assert_eq!(nr_free_pages(&k), free0);
    assert_eq!(__free_pages(&mut k, z, 1), FreeResult::Freed);
    check_invariants(&k);
}

#[test]
fn get_free_pages_returns_direct_map_addresses() {
    let mut k = small((6, 6, 0));
    let g = gfp(&k, "GFP_KERNEL");
    let a = get_zeroed_page(&mut k, g).unwrap();
    assert!(a >= 0xffff_8880_0000_0000);
    assert_eq!(free_pages(&mut k, a, 0).unwrap(), FreeResult::Freed);
    assert!(free_pages(&mut k, 0x1000, 0).is_err());
    check_invariants(&k);
}

#[test]
fn bad_page_reports_leave_the_state_intact() {
    let mut k = small((6, 6, 0));
    let g = gfp(&k, "GFP_KERNEL");
    let p = alloc_pages(&mut k, g, 0).unwrap().unwrap();
    let q = alloc_pages(&mut k, g, 2).unwrap().unwrap();
    let snapshot = |k: &Kernel| (crate::mm::vmstat::buddyinfo(k), nr_free_pages(k));
    // Double free of a page back on the buddy lists (drained off CPU 0's pcp list).
    assert_eq!(__free_pages(&mut k, p, 0), FreeResult::Freed);
    k.drain_all_pages();
    let s = snapshot(&k);
    let n = k.printk.len();
    assert_eq!(__free_pages(&mut k, p, 0), FreeResult::BadPage);
    let log: Vec<String> = k.printk.lines_from(n).into_iter().map(|l| l.text).collect();
    assert!(
        log[0].starts_with("BUG: Bad page state in process swapper/0  pfn:"),
        "{log:?}"
    );
    assert!(log.iter().any(|l| l.starts_with(
        "page:(____ptrval____) refcount:0 mapcount:-128 mapping:0000000000000000 index:0x0 pfn:0x"
    )));
    assert!(log.iter().any(|l| l.starts_with("flags: 0x")));
    assert!(
        log.iter()
            .any(|l| l == "page dumped because: nonzero mapcount"),
        "{log:?}"
    );
    assert!(log
        .iter()
        .any(|l| l == "Disabling lock debugging due to kernel taint"));
    assert_eq!(snapshot(&k), s);
    check_invariants(&k);
    // Wrong order: too large (the tail pages beyond the block are someone else's or free).
    let qpfn = page_to_pfn(&k, q).unwrap();
    let big = if qpfn & 7 == 0 { 3 } else { 4 };
    let n = k.printk.len();
    assert_eq!(__free_pages(&mut k, q, big), FreeResult::BadPage);
    assert!(k
        .printk
        .lines_from(n)
        .iter()
        .any(|l| l.text.starts_with("page dumped because: ")));
    assert_eq!(snapshot(&k), s);
    // SAFETY: reading a page we own.
    assert_eq!(
        unsafe { q.as_ref() }.refcount,
        1,
        "the reference is given back"
    );
    assert_eq!(__free_pages(&mut k, q, 2), FreeResult::Freed);
    check_invariants(&k);
    // A reserved page (the kernel image).
    let s = snapshot(&k);
    let img = k
        .sparse
        .pfn_to_page(k.machine.image.phys_start >> 12)
        .unwrap();
    let n = k.printk.len();
    assert_eq!(__free_pages(&mut k, img, 0), FreeResult::BadPage);
    let log: Vec<String> = k.printk.lines_from(n).into_iter().map(|l| l.text).collect();
    assert!(
        log.iter()
            .any(|l| l == "page dumped because: PAGE_FLAGS_CHECK_AT_FREE flag(s) set"),
        "{log:?}"
    );
    assert!(log.iter().any(|l| l.contains("(reserved|")));
    // SAFETY: reading a struct page.
    assert_eq!(unsafe { img.as_ref() }.refcount, 1);
    assert_eq!(snapshot(&k), s);
    check_invariants(&k);
}

/// Orders with no free list (above MAX_PAGE_ORDER, up to the top of `unsigned int`) and
/// pointers that are no struct page of this memmap are refused, with the state unchanged.
#[test]
fn frees_of_impossible_orders_and_foreign_pointers_are_refused() {
    let mut k = small((6, 18, 0));
    let g = gfp(&k, "GFP_KERNEL");
    let p = alloc_pages(&mut k, g, 0).unwrap().unwrap();
    let snapshot = |k: &Kernel| (crate::mm::vmstat::buddyinfo(k), nr_free_pages(k));
    let s = snapshot(&k);
    for order in [11, 63, 64, 65, 127, 128, u32::MAX] {
        let n = k.printk.len();
        assert_eq!(
            __free_pages(&mut k, p, order),
            FreeResult::BadPage,
            "order {order}"
        );
        let log: Vec<String> = k.printk.lines_from(n).into_iter().map(|l| l.text).collect();
        assert!(
            log.iter()
                .any(|l| l == "page dumped because: VM_BUG_ON_PAGE(order > MAX_PAGE_ORDER)"),
            "order {order}: {log:?}"
        );
        assert_eq!(snapshot(&k), s, "order {order} changed the allocator");
    }
    let va = k
        .phys
        .va(crate::PhysAddr(page_to_pfn(&k, p).unwrap() << 12))
        .0;
    assert_eq!(free_pages(&mut k, va, 64).unwrap(), FreeResult::BadPage);
    // A pointer into the middle of a struct page, one outside simulated RAM, and a dangling one.
    let mid = NonNull::new(p.as_ptr().cast::<u8>().wrapping_add(8).cast::<Page>()).unwrap();
    let mut local = core::mem::MaybeUninit::<Page>::zeroed();
    let foreign = NonNull::new(local.as_mut_ptr()).unwrap();
    for bad in [mid, foreign, NonNull::dangling()] {
        assert_eq!(page_to_pfn(&k, bad), None);
        assert_eq!(__free_pages(&mut k, bad, 0), FreeResult::NotAPage);
    }
    assert_eq!(snapshot(&k), s);
    assert_eq!(__free_pages(&mut k, p, 0), FreeResult::Freed);
    check_invariants(&k);
}

#[test]
fn old_era_reports_use_the_old_formats() {
    let mut k = small((4, 4, 0));
    let g = gfp(&k, "GFP_KERNEL");
    let p = alloc_pages(&mut k, g, 0).unwrap().unwrap();
    __free_pages(&mut k, p, 0);
    k.drain_all_pages();
    let n = k.printk.len();
    __free_pages(&mut k, p, 0);
    let log: Vec<String> = k.printk.lines_from(n).into_iter().map(|l| l.text).collect();
    assert!(
        log.iter().any(|l| l.starts_with("page:ffffea")
            && l.contains(" count:0 mapcount:-128 mapping:          (null) index:0x0")),
        "{log:?}"
    );
    check_invariants(&k);
}

#[test]
fn oom_reports_and_returns_null() {
    let mut k = small((6, 6, 0));
    let g = gfp(&k, "GFP_KERNEL");
    let mut held = Vec::new();
    while let Some(p) = alloc_pages(&mut k, g | Gfp::__GFP_NOWARN, 10).unwrap() {
        held.push(p);
    }
    let n = k.printk.len();
    assert_eq!(alloc_pages(&mut k, g, 10).unwrap(), None);
    let log: Vec<String> = k.printk.lines_from(n).into_iter().map(|l| l.text).collect();
    assert_eq!(
        log[0],
        "swapper/0: page allocation failure: order:10, mode:0xcc0(GFP_KERNEL), nodemask=(null),cpuset=/,mems_allowed=0"
    );
    assert!(log.iter().any(|l| l == "Mem-Info:"));
    assert!(log
        .iter()
        .any(|l| l.starts_with("Node 0 DMA32 free:") && l.contains(" managed:")));
    assert!(log
        .iter()
        .any(|l| l.starts_with("Node 0 DMA32: ") && l.ends_with("kB")));
    // __GFP_NOWARN: silent.
    let n = k.printk.len();
    assert_eq!(
        alloc_pages(&mut k, g | Gfp::__GFP_NOWARN, 10).unwrap(),
        None
    );
    assert_eq!(k.printk.len(), n);
    for p in held {
        __free_pages(&mut k, p, 10);
    }
    check_invariants(&k);
}

#[test]
fn unmovable_fallback_claims_a_movable_pageblock() {
    for v in [(4, 9, 0), (5, 10, 0), (6, 6, 0), (6, 18, 0), (3, 18, 0)] {
        let mut k = small(v);
        let mt = k.page_alloc.mt.clone();
        let g = gfp(&k, "GFP_KERNEL");
        // Boot left every free pageblock MOVABLE; the first unmovable allocation that finds
        // no unmovable block takes a whole movable block (order >= pageblock_order).
        let mut pages = Vec::new();
        for _ in 0..600 {
            pages.push(alloc_pages(&mut k, g, 0).unwrap().unwrap());
        }
        for &p in &pages {
            let pfn = page_to_pfn(&k, p).unwrap();
            assert_eq!(
                k.sparse.get_pfnblock_migratetype(pfn),
                Some(mt.unmovable as u64),
                "{v:?} {pfn:#x}"
            );
        }
        check_invariants(&k);
        for p in pages {
            __free_pages(&mut k, p, 0);
        }
        check_invariants(&k);
    }
}

#[test]
fn small_steal_keeps_the_block_type() {
    // A movable order-0 request that must fall back takes one block without claiming its
    // unmovable pageblock (movable requests below pageblock_order/2 do not claim).
    let mut k = small((6, 6, 0));
    let pa = &k.page_alloc;
    assert!(!can_steal_fallback(pa, 0, pa.mt.movable));
    assert!(can_steal_fallback(pa, 0, pa.mt.unmovable));
    assert!(can_steal_fallback(pa, 0, pa.mt.reclaimable));
    assert!(can_steal_fallback(pa, PAGEBLOCK_ORDER / 2, pa.mt.movable));
    let g = gfp(&k, "GFP_HIGHUSER_MOVABLE");
    let p = alloc_pages(&mut k, g, 0).unwrap().unwrap();
    let pfn = page_to_pfn(&k, p).unwrap();
    assert_eq!(
        k.sparse.get_pfnblock_migratetype(pfn),
        Some(k.page_alloc.mt.movable as u64)
    );
    __free_pages(&mut k, p, 0);
    check_invariants(&k);
}

#[test]
fn watermarks_and_lowmem_reserve() {
    let mut k = small((6, 6, 0));
    let dma = ZoneRef {
        nid: 0,
        zone_idx: 0,
    };
    let free = k.page_alloc.zone(dma).unwrap().free_pages() as i64;
    k.page_alloc
        .set_zone_watermarks(dma, [100, 125, 150], &[0, 1000, 1000, 1000, 1000]);
    let pa = &k.page_alloc;
    let z = pa.zone(dma).unwrap();
    let low = AllocFlags::ALLOC_WMARK_LOW;
    // From DMA itself: free must exceed the mark.
    assert!(__zone_watermark_ok(z, pa, 0, 125, 0, low, free));
    assert!(!__zone_watermark_ok(z, pa, 0, 125, 0, low, 125));
    assert!(__zone_watermark_ok(z, pa, 0, 125, 0, low, 126));
    // For a Normal-zone request falling back to DMA, the reserve is added.
    assert!(!__zone_watermark_ok(z, pa, 0, 125, 2, low, 1125));
    assert!(__zone_watermark_ok(z, pa, 0, 125, 2, low, 1126));
    // __GFP_HIGH (ALLOC_MIN_RESERVE) may dip to half of min; atomic to 3/8.
    let min = AllocFlags::ALLOC_WMARK_MIN;
    assert!(!__zone_watermark_ok(z, pa, 0, 100, 0, min, 60));
    assert!(__zone_watermark_ok(
        z,
        pa,
        0,
        100,
        0,
        min | AllocFlags::ALLOC_MIN_RESERVE,
        60
    ));
    assert!(!__zone_watermark_ok(
        z,
        pa,
        0,
        100,
        0,
        min | AllocFlags::ALLOC_MIN_RESERVE,
        50
    ));
    assert!(__zone_watermark_ok(
        z,
        pa,
        0,
        100,
        0,
        min | AllocFlags::ALLOC_MIN_RESERVE | AllocFlags::ALLOC_NON_BLOCK,
        50
    ));
    // High orders also need a free block of that order.
    assert!(__zone_watermark_ok(z, pa, 10, 0, 0, low, free));
    // The watermark is what get_page_from_freelist uses: a GFP_DMA allocation under it fails.
    let g = gfp(&k, "GFP_KERNEL") | Gfp::__GFP_DMA | Gfp::__GFP_NOWARN;
    k.page_alloc
        .set_zone_watermarks(dma, [free as u64, free as u64, free as u64], &[0; 5]);
    assert_eq!(alloc_pages(&mut k, g, 0).unwrap(), None);
    // GFP_ATOMIC may go below min (to 3/8 of it here).
    let atomic = gfp(&k, "GFP_ATOMIC") | Gfp::__GFP_DMA;
    assert!(alloc_pages(&mut k, atomic, 0).unwrap().is_some());
}

#[test]
fn highatomic_reserve_for_high_order_atomic() {
    let mut k = small((6, 6, 0));
    let dma32 = ZoneRef {
        nid: 0,
        zone_idx: 1,
    };
    // Put the zone below its low mark so the slow path (with ALLOC_HIGHATOMIC) runs.
    let free = k.page_alloc.zone(dma32).unwrap().free_pages();
    k.page_alloc
        .set_zone_watermarks(dma32, [free / 4, free, free], &[0; 5]);
    let dma = ZoneRef {
        nid: 0,
        zone_idx: 0,
    };
    let f = k.page_alloc.zone(dma).unwrap().free_pages();
    k.page_alloc.set_zone_watermarks(dma, [f, f, f], &[0; 5]);
    let atomic = gfp(&k, "GFP_ATOMIC");
    let p = alloc_pages(&mut k, atomic, 2).unwrap().unwrap();
    let h = k.page_alloc.mt.highatomic.unwrap() as u64;
    assert_eq!(
        k.sparse
            .get_pfnblock_migratetype(page_to_pfn(&k, p).unwrap()),
        Some(h)
    );
    assert_eq!(
        k.page_alloc
            .zone(dma32)
            .unwrap()
            .nr_reserved_highatomic
            .load(Relaxed),
        PAGEBLOCK_NR_PAGES
    );
    __free_pages(&mut k, p, 2);
    check_invariants(&k);
    // Giving it back.
    let zl = k.page_alloc.node(0).unwrap().zonelist_fallback.clone();
    assert!(unreserve_highatomic_pageblock(&k, &zl, 1, 0, true));
    assert_eq!(
        k.page_alloc
            .zone(dma32)
            .unwrap()
            .nr_reserved_highatomic
            .load(Relaxed),
        0
    );
    check_invariants(&k);
}

#[test]
fn deferred_pages_grow_on_demand_when_lazy() {
    // A machine whose deferred part is larger than the eager limit stays lazy.
    let mut m = Machine::qemu(8 << 30, 1).unwrap();
    m.era = Era::new(KernelVersion::new(6, 6, 0), Arch::X86_64);
    let mut k = boot(m);
    assert!(
        k.page_alloc.deferred_lazy || k.page_alloc.node(0).unwrap().first_deferred_pfn == u64::MAX
    );
    check_invariants(&k);
    let managed = managed_total(&k);
    let g = gfp(&k, "GFP_KERNEL");
    let mut held = Vec::new();
    // Exhaust what is listed; allocations then grow the Normal zone section by section.
    for _ in 0..2500 {
        match alloc_pages(&mut k, g | Gfp::__GFP_NOWARN, 10).unwrap() {
            Some(p) => held.push(p),
            None => break,
        }
    }
    assert!(held.len() > 1800, "{}", held.len());
    assert_eq!(
        managed_total(&k),
        managed,
        "growth moves pages, it does not count them again"
    );
    check_invariants(&k);
    for p in held {
        __free_pages(&mut k, p, 10);
    }
    check_invariants(&k);
}

#[test]
fn eras_boot_and_hand_over() {
    for v in [
        (3, 18, 0),
        (4, 4, 0),
        (4, 19, 0),
        (5, 10, 0),
        (6, 1, 0),
        (6, 12, 0),
    ] {
        let mut m = Machine::qemu(2 << 30, 1).unwrap();
        m.era = Era::new(KernelVersion::new(v.0, v.1, v.2), Arch::X86_64);
        let k = boot(m);
        check_invariants(&k);
        let lines = k.printk.lines();
        let mem: Vec<_> = lines
            .iter()
            .filter(|l| l.text.starts_with("Memory: "))
            .collect();
        assert_eq!(mem.len(), 1, "{v:?}");
        assert_eq!(mem[0].text.contains("cma-reserved"), v.0 > 3, "{v:?}");
        let trace = k.trace.render_tree();
        let name = if v >= (4, 20, 0) {
            "memblock_free_all"
        } else {
            "free_all_bootmem"
        };
        assert!(trace.contains(name), "{v:?}");
    }
}

/// A 2 GiB QEMU guest whose RAM from 1 GiB up comes in 200 pieces with a page-sized hole
/// after each: 200 more memblock.memory regions than the 128 static slots hold, so
/// `e820__memblock_setup` doubles the memory array into memblock-allocated pages.
fn fragmented(v: (u32, u32, u32), cmdline: &str) -> Kernel {
    use crate::arch::x86::e820::{E820Entry, E820Type};
    let mut m = Machine::qemu(2 << 30, 1).unwrap();
    m.era = Era::new(KernelVersion::new(v.0, v.1, v.2), Arch::X86_64);
    m.cmdline = cmdline.into();
    let big = m
        .e820
        .iter()
        .position(|e| e.addr == 0x10_0000 && e.typ == E820Type::Ram)
        .unwrap();
    let end = m.e820[big].addr + m.e820[big].size;
    m.e820[big].size = (1 << 30) - 0x10_0000;
    let piece = 4 << 20;
    let mut a = 1u64 << 30;
    for _ in 0..200 {
        m.e820.push(E820Entry::new(a, piece - 4096, E820Type::Ram));
        a += piece;
    }
    assert!(a <= end);
    boot(m)
}

/// The pages present in every node (the "Memory:" line's second figure).
fn present_pages(k: &Kernel) -> u64 {
    k.page_alloc
        .node_data
        .iter()
        .map(|n| n.node_present_pages)
        .sum()
}

/// The "Memory:" line's available and reserved figures, in pages.
fn memory_line(k: &Kernel) -> (u64, u64) {
    let text = memory_text(k);
    let avail = text["Memory: ".len()..].split('K').next().unwrap();
    let reserved = text
        .split(", ")
        .find_map(|f| f.strip_suffix("K reserved"))
        .unwrap();
    (
        avail.parse::<u64>().unwrap() / 4,
        reserved.parse::<u64>().unwrap() / 4,
    )
}

/// Pages of the doubled arrays, and whether every one of them is inside a free block.
fn array_pages_free(k: &Kernel) -> (u64, bool) {
    use crate::mm::memblock::RegionType;
    let blocks = free_blocks(k);
    let mut pages = 0;
    let mut all_free = true;
    for which in [RegionType::Reserved, RegionType::Memory] {
        let Some((addr, size)) = k.memblock.allocated_regions_info(which) else {
            continue;
        };
        for pfn in addr >> 12..(addr + size) >> 12 {
            pages += 1;
            all_free &= blocks
                .iter()
                .any(|&(_, s, o, _)| (s..s + (1 << o)).contains(&pfn));
        }
    }
    (pages, all_free)
}

#[test]
fn memblock_discard_frees_the_doubled_arrays_after_the_memory_line() {
    // 6.12 prints "Memory:" in page_alloc_init_late right before memblock_discard: what is
    // free afterwards is exactly what it printed plus the array pages.
    let k = fragmented((6, 12, 0), "memblock=debug");
    check_invariants(&k);
    let (pages, all_free) = array_pages_free(&k);
    // memblock.memory doubled to 256 regions of 32 bytes (8 KiB); memblock.reserved doubled
    // too, for firmware_map_add_early's one allocation per e820 entry (each 104 bytes in a
    // 128-byte slot, so none merge).
    use crate::mm::memblock::RegionType;
    let arrays: Vec<u64> = [RegionType::Memory, RegionType::Reserved]
        .iter()
        .filter_map(|&w| k.memblock.allocated_regions_info(w).map(|(_, s)| s))
        .collect();
    assert_eq!(arrays.len(), 2, "both arrays were doubled");
    assert_eq!(arrays, [256 * 32, 256 * 32]);
    assert_eq!(pages, 4);
    assert!(all_free, "the array pages are on the free lists");
    let (avail, reserved) = memory_line(&k);
    assert_eq!(nr_free_pages(&k), avail + pages);
    let physpages = present_pages(&k);
    assert_eq!(physpages - k.page_alloc.totalram_pages(), reserved - pages);
    assert_eq!(managed_total(&k), k.page_alloc.totalram_pages());
    let trace = k.trace.render_tree();
    let discard = trace
        .find("memblock_discard")
        .expect("memblock_discard ran");
    assert!(trace[discard..].contains("memblock_free_late"));
    let dbg: Vec<_> = k
        .printk
        .lines()
        .iter()
        .filter(|l| l.text.starts_with("memblock_free_late: ["))
        .map(|l| l.text.clone())
        .collect();
    assert_eq!(dbg.len(), 2, "one line per array: {dbg:?}");
    assert!(
        dbg.iter().all(|l| l.ends_with("] memblock_discard")),
        "{dbg:?}"
    );
}

#[test]
fn memblock_discard_in_each_era() {
    for v in [(4, 19, 0), (5, 10, 0), (6, 1, 0), (6, 18, 0)] {
        let k = fragmented(v, "");
        check_invariants(&k);
        let (pages, all_free) = array_pages_free(&k);
        assert!(pages > 0, "{v:?}: the memory array doubled");
        assert!(all_free, "{v:?}");
        // The "Memory:" line came before the discard: totalram grew by the array since.
        let (_, reserved) = memory_line(&k);
        let physpages = present_pages(&k);
        assert_eq!(
            physpages - k.page_alloc.totalram_pages(),
            reserved - pages,
            "{v:?}"
        );
        let trace = k.trace.render_tree();
        let late = if v >= (5, 16, 0) {
            "memblock_free_late"
        } else {
            "__memblock_free_late"
        };
        assert!(trace.contains(late), "{v:?}");
    }
}

#[test]
fn before_4_13_free_all_bootmem_frees_the_doubled_arrays() {
    // 4.4 sanitizes the zero page's 128 entries first, so the map is split from the command
    // line instead: 127 one-page holes (16 characters each, inside COMMAND_LINE_SIZE) make
    // 129 memory regions. free_low_memory_core_early hands the doubled array over with the
    // free memory, so the "Memory:" line already counts it and nothing changes later.
    let mut m = Machine::qemu(2 << 30, 1).unwrap();
    m.era = Era::new(KernelVersion::new(4, 4, 0), Arch::X86_64);
    let holes: Vec<_> = (0..127)
        .map(|i| alloc::format!("memmap=4K${}M", 1028 + 4 * i))
        .collect();
    m.cmdline = holes.join(" ");
    assert!(m.cmdline.len() < 2048);
    let k = boot(m);
    check_invariants(&k);
    let (pages, all_free) = array_pages_free(&k);
    assert_eq!(pages, 2, "256 regions of 32 bytes: 8 KiB");
    assert!(all_free);
    let (_, reserved) = memory_line(&k);
    let physpages = present_pages(&k);
    assert_eq!(physpages - k.page_alloc.totalram_pages(), reserved);
    let trace = k.trace.render_tree();
    assert!(trace.contains("get_allocated_memblock_memory_regions_info"));
    assert!(!trace.contains("memblock_discard"));
}

#[test]
fn static_arrays_are_not_discarded() {
    let k = small((6, 12, 0));
    assert_eq!(array_pages_free(&k).0, 0);
    let (avail, _) = memory_line(&k);
    assert_eq!(nr_free_pages(&k), avail);
    assert!(k.trace.render_tree().contains("memblock_discard"));
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Alloc { order: u32, gfp: u8 },
        Free { idx: usize },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u32..=10, 0u8..6).prop_map(|(order, gfp)| Op::Alloc { order, gfp }),
            2 => any::<usize>().prop_map(|idx| Op::Free { idx }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
        #[test]
        fn random_alloc_free_keeps_the_invariants(ops in proptest::collection::vec(op(), 1..160), era in 0usize..5) {
            let v = [(6, 6, 0), (5, 4, 0), (6, 18, 0), (3, 18, 0), (4, 4, 0)][era];
            let mut k = small(v);
            let masks = [
                gfp(&k, "GFP_KERNEL"),
                gfp(&k, "GFP_HIGHUSER_MOVABLE"),
                gfp(&k, "GFP_KERNEL") | Gfp::__GFP_RECLAIMABLE,
                gfp(&k, "GFP_ATOMIC"),
                gfp(&k, "GFP_KERNEL") | Gfp::__GFP_DMA,
                gfp(&k, "GFP_KERNEL") | Gfp::__GFP_COMP | Gfp::__GFP_ZERO,
            ];
            let managed = managed_total(&k);
            let base_alloc = managed - nr_free_pages(&k) - pcp_pages(&k);
            let mut held: Vec<(NonNull<Page>, u32)> = Vec::new();
            for o in ops {
                match o {
                    Op::Alloc { order, gfp } => {
                        if let Some(p) = alloc_pages(&mut k, masks[gfp as usize] | Gfp::__GFP_NOWARN, order).unwrap() {
                            held.push((p, order));
                        }
                    }
                    Op::Free { idx } if !held.is_empty() => {
                        let (p, order) = held.swap_remove(idx % held.len());
                        prop_assert_eq!(__free_pages(&mut k, p, order), FreeResult::Freed);
                    }
                    Op::Free { .. } => {}
                }
                let allocated: u64 = held.iter().map(|(_, o)| 1u64 << o).sum();
                prop_assert_eq!(nr_free_pages(&k) + pcp_pages(&k) + allocated + base_alloc, managed_total(&k));
            }
            check_invariants(&k);
            for (p, o) in held {
                prop_assert_eq!(__free_pages(&mut k, p, o), FreeResult::Freed);
            }
            check_invariants(&k);
            k.drain_all_pages();
            prop_assert_eq!(pcp_pages(&k), 0);
            check_invariants(&k);
            prop_assert_eq!(managed_total(&k) - nr_free_pages(&k), base_alloc);
        }
    }
}

/// The boot's "Memory:" line.
fn memory_text(k: &Kernel) -> String {
    k.printk
        .lines()
        .into_iter()
        .map(|l| l.text)
        .find(|t| t.starts_with("Memory: "))
        .expect("a Memory: line")
}

/// Before 3.11 x86_64's mem_init printed "Memory: …k/…k available (… absent …)": the total
/// is max_pfn (holes included), and available + absent + reserved add up to it at the
/// moment of printing (nothing else is allocated in between).
#[test]
fn pre_3_11_memory_line_counts_holes_as_absent() {
    let k = small((3, 8, 0));
    let line = memory_text(&k);
    let num = |after: &str| -> u64 {
        let i = line
            .find(after)
            .unwrap_or_else(|| panic!("{after} in {line}"));
        let head = line[..i].trim_end_matches('k');
        let d = head.bytes().rev().take_while(u8::is_ascii_digit).count();
        head[head.len() - d..].parse().unwrap()
    };
    let (avail, total) = (num("k/"), num("k available"));
    let (absent, reserved) = (num("k absent"), num("k reserved"));
    assert_eq!(total, k.max_pfn * 4, "{line}");
    assert_eq!(avail + absent + reserved, total, "{line}");
    // The holes below max_pfn, counted off the final e820 map: pages no RAM entry covers
    // (3.8 also reserves the first 64 KiB: reserve_low).
    let ram: u64 = k
        .e820
        .table
        .iter()
        .filter(|e| e.typ == crate::arch::x86::e820::E820Type::Ram)
        .map(|e| {
            let s = e.addr.div_ceil(4096).min(k.max_pfn);
            let end = ((e.addr + e.size) / 4096).min(k.max_pfn);
            end.saturating_sub(s)
        })
        .sum();
    assert_eq!(absent, (k.max_pfn - ram) * 4, "{line}");
    assert_eq!(absent, (16 + 0x100 - 0x9f) * 4, "{line}");
    assert!(line.ends_with("k data, 3728k init)"), "{line}");
    assert!(
        line.contains(" 12824k data"),
        "rodata and rwdata together: {line}"
    );
}

/// "Memory:" moved after the deferred struct pages in 6.11 (Wei Yang's "print mem_init info
/// after defer_init is done"): 6.10's "available" lacks the deferred free pages, 6.11's has
/// them.
#[test]
fn memory_line_follows_deferred_init_from_6_11() {
    let avail = |v: (u32, u32, u32)| {
        let mut m = Machine::qemu(8 << 30, 2).unwrap();
        m.era = Era::new(KernelVersion::new(v.0, v.1, v.2), Arch::X86_64);
        memory_line(&boot(m)).0 * 4
    };
    let (before, after) = (avail((6, 10, 0)), avail((6, 11, 0)));
    // 8 GiB with Normal from 4 GiB: one section of Normal initialised before 6.11.
    assert!(before < 4 << 20 && after > 7 << 20, "{before} {after}");
}

#[test]
fn pcp_list_layout_follows_the_release() {
    let rules = |v: (u32, u32, u32), thp: bool| {
        pcp::PcpRules::new(
            &Era::new(KernelVersion::new(v.0, v.1, v.2), Arch::X86_64),
            thp,
        )
    };
    let n = |v, thp| rules(v, thp).nr_lists;
    assert_eq!(n((4, 19, 0), true), 3);
    assert_eq!(n((5, 13, 0), true), 3);
    assert_eq!(n((5, 14, 0), true), 15);
    assert_eq!(n((5, 14, 0), false), 12);
    assert_eq!(n((6, 1, 0), true), 13);
    assert_eq!(n((6, 10, 0), true), 14);
    // 5.14–5.19: THP per migratetype at 12..14; 6.0: one list at 12; 6.10: movable at 13.
    let r = rules((5, 15, 0), true);
    assert_eq!(r.order_to_pindex(2, 9), 14);
    assert_eq!(r.pindex_to_order(14), 9);
    let r = rules((6, 6, 0), true);
    assert_eq!(r.order_to_pindex(r.movable, 9), 12);
    assert_eq!(r.order_to_pindex(0, 3), 9);
    assert_eq!(r.pindex_to_order(11), 3);
    let r = rules((6, 12, 0), true);
    assert_eq!(r.order_to_pindex(r.movable, 9), 13);
    assert_eq!(r.order_to_pindex(0, 9), 12);
    assert!(!rules((5, 10, 0), true).pcp_allowed_order(1));
    assert!(r.pcp_allowed_order(3) && r.pcp_allowed_order(9) && !r.pcp_allowed_order(4));
    assert!(!rules((6, 12, 0), false).pcp_allowed_order(9));
}

/// The free path's batching before 5.14: the list grows to `high`, then `batch` pages go
/// back from its tail, so `high - batch` stay.
#[test]
fn pcp_frees_send_a_batch_back_at_high() {
    let mut k = small((5, 4, 0));
    k.drain_all_pages();
    let g = gfp(&k, "GFP_KERNEL");
    let mut held = Vec::new();
    let first = alloc_pages(&mut k, g, 0).unwrap().unwrap();
    // SAFETY: reading a page we own.
    let zr = {
        let z = k.page_alloc.page_zone(unsafe { first.as_ref() }).unwrap();
        ZoneRef {
            nid: z.node,
            zone_idx: z.idx,
        }
    };
    let ps = |k: &Kernel| k.page_alloc.zone(zr).unwrap().pageset(0).unwrap();
    let (high, batch) = (ps(&k).high, ps(&k).batch);
    assert_eq!(high, 6 * batch);
    held.push(first);
    while held.len() < high as usize + 1 {
        held.push(alloc_pages(&mut k, g, 0).unwrap().unwrap());
    }
    k.drain_all_pages();
    for (i, p) in held.into_iter().enumerate() {
        assert_eq!(__free_pages(&mut k, p, 0), FreeResult::Freed);
        let count = ps(&k).count;
        if i + 1 < high as usize {
            assert_eq!(count, i as i32 + 1);
        } else if i + 1 == high as usize {
            assert_eq!(count, high - batch, "count reached high: a batch went back");
        }
    }
    check_invariants(&k);
}

/// `cpu(N)`: allocations on CPU 1 fill CPU 1's lists; CPU 0's stay as they were.
#[test]
fn each_cpu_fills_its_own_lists() {
    let mut m = Machine::qemu(1 << 30, 2).unwrap();
    m.era = Era::new(KernelVersion::new(6, 6, 0), Arch::X86_64);
    let mut k = boot(m);
    k.drain_all_pages();
    k.cpus.switch_to(1).unwrap();
    let g = gfp(&k, "GFP_KERNEL");
    let p = alloc_pages(&mut k, g, 0).unwrap().unwrap();
    let count = |k: &Kernel, cpu| -> i32 {
        k.page_alloc
            .populated_zones()
            .map(|z| z.pageset(cpu).unwrap().count)
            .sum()
    };
    assert!(count(&k, 1) > 0);
    assert_eq!(count(&k, 0), 0);
    assert_eq!(
        k.cpus.switch_to(2),
        Err(crate::kernel::smp::CpuError::NoSuchCpu {
            cpu: 2,
            nr_cpu_ids: 2
        })
    );
    k.cpus.switch_to(0).unwrap();
    // Freed on CPU 0, the page joins CPU 0's list.
    __free_pages(&mut k, p, 0);
    assert_eq!(count(&k, 0), 1);
    crate::mm::page_alloc::drain_local_pages(&k);
    assert_eq!(count(&k, 0), 0);
    assert!(count(&k, 1) > 0);
    k.drain_all_pages();
    assert_eq!(count(&k, 1), 0);
    check_invariants(&k);
}

/// A small xorshift generator: each stress thread draws its own reproducible stream.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// The first word of a block, through its direct-map page in simulated RAM.
fn block_word(k: &Kernel, p: NonNull<Page>) -> *mut u64 {
    let pfn = page_to_pfn(k, p).unwrap();
    k.phys
        .host_ptr(crate::PhysAddr(pfn << 12), 8)
        .unwrap()
        .as_ptr()
        .cast()
}

/// Simulated CPUs on OS threads: each runs random allocations and frees of mixed orders and
/// GFP masks on its own CPU, writes a tag into every block it gets and checks it before the
/// free (two callers handed one block would overwrite each other's tags). Then every block
/// is on exactly one list or held by exactly one thread, the counters agree, and once the
/// held blocks are freed and every pcp drained, free + allocated = managed again.
fn smp_stress(v: (u32, u32, u32), cpus: u32, total_ops: u64) {
    let m = Machine::qemu(1 << 30, cpus).unwrap();
    smp_stress_on(m, v, total_ops, false);
}

fn smp_stress_on(mut m: Machine, v: (u32, u32, u32), total_ops: u64, expect_oom: bool) {
    let cpus = m.cpus;
    m.era = Era::new(KernelVersion::new(v.0, v.1, v.2), Arch::X86_64);
    let mut k = boot(m);
    k.smp_init().unwrap();
    let k = &k;
    let managed = managed_total(k);
    let base_alloc = managed - nr_free_pages(k) - pcp_pages(k);
    let masks = [
        gfp(k, "GFP_KERNEL"),
        gfp(k, "GFP_HIGHUSER_MOVABLE"),
        gfp(k, "GFP_KERNEL") | Gfp::__GFP_RECLAIMABLE,
        gfp(k, "GFP_ATOMIC"),
        gfp(k, "GFP_KERNEL") | Gfp::__GFP_DMA32,
        gfp(k, "GFP_KERNEL") | Gfp::__GFP_COMP,
    ];
    let per_cpu = total_ops / u64::from(cpus);
    // Each thread hands back what it still holds, by pfn (a struct page pointer is not Send).
    let done = std::sync::atomic::AtomicU64::new(0);
    let failed = std::sync::atomic::AtomicU64::new(0);
    let (done, failed) = (&done, &failed);
    let held: Vec<Vec<(u64, u32)>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..cpus)
            .map(|id| {
                s.spawn(move || {
                    let cpu = k.cpu(id).unwrap();
                    let mut rng =
                        XorShift(0x9e37_79b9_7f4a_7c15 ^ ((u64::from(id) + 1) * 0x2545_f491));
                    let mut held: Vec<(NonNull<Page>, u32, u64)> = Vec::with_capacity(256);
                    for op in 0..per_cpu {
                        let r = rng.next();
                        if held.len() < 256 && (held.is_empty() || r & 1 == 0) {
                            let order = match (r >> 8) % 100 {
                                0..=69 => 0,
                                70..=94 => 1 + ((r >> 16) % 3) as u32,
                                _ => 4 + ((r >> 16) % 6) as u32,
                            };
                            let mask = masks[((r >> 24) % masks.len() as u64) as usize];
                            let got = cpu.alloc_pages(mask | Gfp::__GFP_NOWARN, order).unwrap();
                            if let Some(p) = got {
                                let tag = (u64::from(id) << 56) | op;
                                // SAFETY: the block is ours until we free it.
                                unsafe { block_word(k, p).write(tag) };
                                held.push((p, order, tag));
                            } else {
                                failed.fetch_add(1, Relaxed);
                            }
                            done.fetch_add(1, Relaxed);
                        } else {
                            let i = ((r >> 32) % held.len() as u64) as usize;
                            let (p, order, tag) = held.swap_remove(i);
                            // SAFETY: as above.
                            assert_eq!(unsafe { block_word(k, p).read() }, tag, "block shared");
                            assert_eq!(cpu.free_pages(p, order), FreeResult::Freed);
                            done.fetch_add(1, Relaxed);
                        }
                    }
                    held.into_iter()
                        .map(|(p, o, _)| (page_to_pfn(k, p).unwrap(), o))
                        .collect()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Every call returned: an allocation (a block or NULL) or a free.
    assert_eq!(done.load(Relaxed), per_cpu * u64::from(cpus));
    if !expect_oom {
        assert_eq!(failed.load(Relaxed), 0);
    } else {
        assert!(failed.load(Relaxed) > 0, "the small machine ran out");
    }
    // Every page on exactly one list or held by exactly one thread.
    check_invariants(k);
    let mut spans: BTreeMap<u64, u32> = BTreeMap::new();
    for b in free_blocks(k) {
        assert!(spans.insert(b.1, b.2).is_none());
    }
    for b in pcp_blocks(k) {
        assert!(spans.insert(b.2, b.3).is_none());
    }
    for &(pfn, o) in held.iter().flatten() {
        assert!(spans.insert(pfn, o).is_none(), "a held block is on a list");
    }
    let mut end = 0;
    for (&pfn, &o) in &spans {
        assert!(pfn >= end, "blocks overlap at {pfn:#x}");
        end = pfn + (1 << o);
    }
    let allocated: u64 = held.iter().flatten().map(|&(_, o)| 1u64 << o).sum();
    assert_eq!(
        nr_free_pages(k) + pcp_pages(k) + allocated + base_alloc,
        managed
    );
    let cpu0 = k.cpu(0).unwrap();
    for (pfn, o) in held.into_iter().flatten() {
        let p = k.sparse.pfn_to_page(pfn).unwrap();
        assert_eq!(cpu0.free_pages(p, o), FreeResult::Freed);
    }
    k.drain_all_pages();
    assert_eq!(pcp_pages(k), 0);
    check_invariants(k);
    assert_eq!(managed - nr_free_pages(k), base_alloc);
    // The vm counters agree with the lists: NR_FREE_PAGES per zone (check_invariants), and
    // /proc/meminfo's MemFree is their sum.
    let meminfo = crate::fs::proc::ProcFile::Meminfo.show(k);
    assert!(
        meminfo.contains(&alloc::format!(
            "MemFree:        {:>8} kB",
            nr_free_pages(k) * 4
        )),
        "{meminfo}"
    );
}

/// 8 simulated CPUs on threads, 10 M operations in all (a tenth of that in debug builds).
#[test]
fn smp_stress_loses_no_page() {
    let ops = if cfg!(debug_assertions) {
        400_000
    } else {
        10_000_000
    };
    smp_stress((6, 6, 0), 8, ops);
}

/// The same on the eras with other list forms and locks: 5.10 (three lists, no trylock),
/// 5.15 (per-order lists, free_factor), 6.12 (auto-tuned high, split THP lists).
#[test]
fn smp_stress_in_other_eras() {
    let ops = if cfg!(debug_assertions) {
        100_000
    } else {
        1_000_000
    };
    for v in [(5, 10, 0), (5, 15, 0), (6, 12, 0)] {
        smp_stress(v, 4, ops);
    }
}

/// smp_init leaves no deferred struct page behind: every node's deferred part is
/// initialised and on the free lists, and the counters agree with the lists.
#[test]
fn smp_init_finishes_the_deferred_pages() {
    let mut m = Machine::qemu(8 << 30, 2).unwrap();
    m.era = Era::new(KernelVersion::new(6, 6, 0), Arch::X86_64);
    let mut k = boot(m);
    let before = nr_free_pages(&k) + pcp_pages(&k);
    assert!(k
        .page_alloc
        .nodes()
        .iter()
        .any(|n| n.first_deferred_pfn != u64::MAX));
    assert!(k.cpu(0).is_err(), "no CPU before smp_init");
    k.smp_init().unwrap();
    for n in k.page_alloc.nodes() {
        assert_eq!(n.first_deferred_pfn, u64::MAX);
    }
    for z in k.page_alloc.zones() {
        assert_eq!(z.deferred_unlisted.load(Relaxed), 0, "{}", z.name);
    }
    check_invariants(&k);
    // The lazily counted pages were already in NR_FREE_PAGES: nothing appears or vanishes.
    assert_eq!(nr_free_pages(&k) + pcp_pages(&k), before);
    let c = k.cpu(1).unwrap();
    assert!(matches!(
        k.cpu(1),
        Err(crate::kernel::smp::CpuError::Busy(1))
    ));
    drop(c);
    assert!(k.cpu(1).is_ok());
}

/// Two nodes with deferred struct pages (4 GiB each): the CPUs allocate on their own nodes
/// (numa_mem_id) and fall back across them, after smp_init finished the deferred parts.
#[test]
fn smp_stress_on_two_nodes() {
    let ops = if cfg!(debug_assertions) {
        100_000
    } else {
        1_000_000
    };
    let m = Machine::qemu_numa(8 << 30, 4, &[4 << 30, 4 << 30]).unwrap();
    smp_stress_on(m, (6, 12, 0), ops, false);
}

/// A machine too small for what the CPUs ask: allocations fail (NULL), and the slow path's
/// drain_all_pages takes the other CPUs' pcp locks while they run their fast paths.
#[test]
fn smp_stress_out_of_memory() {
    let ops = if cfg!(debug_assertions) {
        100_000
    } else {
        1_000_000
    };
    smp_stress_on(Machine::qemu(64 << 20, 4).unwrap(), (6, 6, 0), ops, true);
    smp_stress_on(Machine::qemu(64 << 20, 4).unwrap(), (5, 10, 0), ops, true);
}

/// 6.7+ ZONE_BELOW_HIGH: the allocation walk marks a zone it finds below its high
/// watermark, and a pcp flush that leaves it above the mark again clears it; before 6.7
/// nothing marks it.
#[test]
fn zone_below_high_follows_the_high_watermark() {
    for (v, marks) in [((6, 12, 0), true), ((6, 6, 0), false)] {
        let mut k = small(v);
        let g = gfp(&k, "GFP_KERNEL") | Gfp::__GFP_NOWARN;
        let zone_of = |k: &Kernel, p: NonNull<Page>| {
            // SAFETY: reading a page we own.
            let z = k.page_alloc.page_zone(unsafe { p.as_ref() }).unwrap();
            ZoneRef {
                nid: z.node,
                zone_idx: z.idx,
            }
        };
        let first = alloc_pages(&mut k, g, 0).unwrap().unwrap();
        let r = zone_of(&k, first);
        assert!(!k.page_alloc.zone(r).unwrap().below_high.load(Relaxed));
        let mut held = vec![first];
        while k.page_alloc.zone(r).unwrap().free_pages()
            > k.page_alloc.zone(r).unwrap().high_wmark_pages()
        {
            match alloc_pages(&mut k, g, 0).unwrap() {
                Some(p) => held.push(p),
                None => break,
            }
        }
        // One more walk sees the zone below high.
        held.push(alloc_pages(&mut k, g, 0).unwrap().unwrap());
        assert_eq!(
            k.page_alloc.zone(r).unwrap().below_high.load(Relaxed),
            marks,
            "{v:?}"
        );
        for p in held {
            __free_pages(&mut k, p, 0);
        }
        assert!(
            !k.page_alloc.zone(r).unwrap().below_high.load(Relaxed),
            "{v:?}: cleared by the frees"
        );
        check_invariants(&k);
    }
}
