// SPDX-License-Identifier: GPL-2.0-only
//! kmap on an i386 HIGHMEM kernel: a HIGHMEM page mapped with kmap into the pkmap area,
//! written through that mapping, read back through kmap_atomic on another CPU (on its own
//! thread), with pkmap_count and page_address_htable agreeing at every step, and nothing
//! left mapped after kunmap and the flush of unused slots.

use bootmm::arch::x86::pgtable_32_types::PAGE_OFFSET;
use bootmm::era::{Arch, Era, KernelVersion};
use bootmm::include::gfp::gfp_constant;
use bootmm::mm::highmem::{
    kmap, kmap_atomic, kmap_flush_unused, kunmap, kunmap_atomic, lookup_kmap_address, page_address,
    pkmap_state, KmapError, PkmapState,
};
use bootmm::{init::main::start_kernel, Kernel, Machine, PhysAddr};

fn boot(version: (u32, u32)) -> Kernel {
    let mut m = Machine::qemu(2 << 30, 2).unwrap();
    m.era = Era::new(
        KernelVersion::new(version.0, version.1, 0),
        Arch::I386 { pae: true },
    );
    let mut k = Kernel::new(m).unwrap();
    start_kernel(&mut k).unwrap();
    k
}

fn highmem_page(k: &mut Kernel) -> u64 {
    let gfp = gfp_constant(&k.era, "GFP_HIGHUSER").unwrap();
    let p = bootmm::mm::page_alloc::alloc_pages(k, gfp, 0)
        .unwrap()
        .expect("a page");
    let pfn = k.sparse().page_to_pfn_checked(p).unwrap();
    assert!(pfn >= k.max_low_pfn, "GFP_HIGHUSER gave a HIGHMEM page");
    pfn
}

fn write_via(k: &Kernel, va: u64, byte: u8) {
    let (pa, _) = lookup_kmap_address(k, va).expect("mapped");
    k.phys.memset(PhysAddr(pa), byte, 1).unwrap();
}

fn read_via(k: &Kernel, va: u64) -> u8 {
    let (pa, _) = lookup_kmap_address(k, va).expect("mapped");
    let p = k.phys.host_ptr(PhysAddr(pa), 1).unwrap();
    // SAFETY: one byte of simulated RAM.
    unsafe { *p.as_ptr() }
}

#[test]
fn kmap_write_then_kmap_atomic_read_on_another_cpu() {
    for v in [(3, 8), (4, 15), (6, 6)] {
        let mut k = boot(v);
        let pfn = highmem_page(&mut k);
        assert_eq!(page_address(&k, pfn), None, "{v:?}: no address before kmap");
        let va = kmap(&k, pfn).unwrap();
        // The pkmap slot maps exactly this page, page_address finds it through the hash
        // table, and the slot counts one mapping plus one user.
        assert_eq!(lookup_kmap_address(&k, va).map(|m| m.0), Some(pfn << 12));
        assert_eq!(page_address(&k, pfn), Some(va));
        let PkmapState { counts, entries } = pkmap_state(&k);
        assert_eq!(entries, vec![(pfn, va)], "{v:?}");
        assert_eq!(counts.len(), 1);
        assert_eq!(counts[0].1, 2, "{v:?}: mapped + one user");
        // A second kmap of the same page reuses the slot.
        assert_eq!(kmap(&k, pfn).unwrap(), va);
        assert_eq!(pkmap_state(&k).counts[0].1, 3);
        kunmap(&k, pfn).unwrap();
        write_via(&k, va + 100, 0xa5);
        // CPU 1, on its own thread, maps the page in its own fixmap slot and reads the byte.
        let k_ref = &k;
        let (atomic_va, byte) = std::thread::scope(|s| {
            s.spawn(move || {
                let a = kmap_atomic(k_ref, 1, pfn).unwrap();
                let b = read_via(k_ref, a + 100);
                kunmap_atomic(k_ref, 1, a).unwrap();
                (a, b)
            })
            .join()
            .unwrap()
        });
        assert_eq!(byte, 0xa5, "{v:?}");
        assert_ne!(atomic_va, va);
        assert_eq!(
            lookup_kmap_address(&k, atomic_va),
            None,
            "kunmap_atomic cleared the slot"
        );
        // The last kunmap leaves the slot mapped but unused (count 1) until the flush.
        kunmap(&k, pfn).unwrap();
        assert_eq!(pkmap_state(&k).counts[0].1, 1);
        kmap_flush_unused(&k);
        let PkmapState { counts, entries } = pkmap_state(&k);
        assert!(
            counts.is_empty() && entries.is_empty(),
            "{v:?}: nothing mapped"
        );
        assert_eq!(lookup_kmap_address(&k, va), None);
        assert_eq!(page_address(&k, pfn), None);
        // kunmap of a page that is not kmapped: the kernel's BUG, state unchanged.
        let before = pkmap_state(&k);
        match kunmap(&k, pfn) {
            Err(KmapError::Bug(t)) => assert!(t.contains("kernel BUG at mm/highmem.c"), "{t}"),
            r => panic!("{v:?}: {r:?}"),
        }
        assert_eq!(pkmap_state(&k), before);
        assert!(k
            .printk
            .lines()
            .iter()
            .any(|l| l.text.starts_with("kernel BUG at mm/highmem.c")));
    }
}

#[test]
fn lowmem_pages_are_their_direct_map_address() {
    let mut k = boot((3, 8));
    let gfp = gfp_constant(&k.era, "GFP_KERNEL").unwrap();
    let p = bootmm::mm::page_alloc::alloc_pages(&mut k, gfp, 0)
        .unwrap()
        .unwrap();
    let pfn = k.sparse().page_to_pfn_checked(p).unwrap();
    assert!(pfn < k.max_low_pfn);
    let va = PAGE_OFFSET + (pfn << 12);
    assert_eq!(kmap(&k, pfn), Ok(va));
    assert_eq!(kmap_atomic(&k, 0, pfn), Ok(va));
    assert_eq!(page_address(&k, pfn), Some(va));
    assert!(
        pkmap_state(&k).counts.is_empty(),
        "no pkmap slot for a lowmem page"
    );
    kunmap(&k, pfn).unwrap();
}

#[test]
fn the_pkmap_ring_wraps_and_kmap_atomic_nests() {
    let mut k = boot((3, 8));
    // More pages than LAST_PKMAP (512 with PAE), each kmapped and kunmapped: the ring wraps
    // and flush_all_zero_pkmaps recycles the unused slots.
    let pfns: Vec<u64> = (0..600).map(|_| highmem_page(&mut k)).collect();
    for &p in &pfns {
        let va = kmap(&k, p).unwrap();
        assert_eq!(lookup_kmap_address(&k, va).map(|m| m.0), Some(p << 12));
        kunmap(&k, p).unwrap();
    }
    let PkmapState { counts, entries } = pkmap_state(&k);
    assert!(counts.iter().all(|&(_, c)| c == 1));
    assert_eq!(counts.len(), entries.len());
    // Holding all 512 slots (LAST_PKMAP), one more kmap would sleep.
    kmap_flush_unused(&k);
    for &p in &pfns[..512] {
        kmap(&k, p).unwrap();
    }
    assert_eq!(kmap(&k, pfns[599]), Err(KmapError::WouldSleep));
    // kmap_atomic nests up to KM_TYPE_NR slots per CPU, in stack order.
    let a = kmap_atomic(&k, 0, pfns[0]).unwrap();
    let b = kmap_atomic(&k, 0, pfns[1]).unwrap();
    assert_eq!(a - b, 4096, "the next slot down");
    assert!(
        matches!(kunmap_atomic(&k, 0, a), Err(KmapError::Bug(_))),
        "not the innermost"
    );
    kunmap_atomic(&k, 0, b).unwrap();
    kunmap_atomic(&k, 0, a).unwrap();
}

#[test]
fn without_highmem_kmap_is_page_address_and_stray_unmaps_bug() {
    // x86_64: no HIGHMEM, so kmap and kmap_atomic are the direct-map address.
    let mut m = Machine::qemu(1 << 30, 1).unwrap();
    m.era = Era::new(KernelVersion::new(6, 6, 0), Arch::X86_64);
    let mut k = Kernel::new(m).unwrap();
    start_kernel(&mut k).unwrap();
    let gfp = gfp_constant(&k.era, "GFP_HIGHUSER").unwrap();
    let p = bootmm::mm::page_alloc::alloc_pages(&mut k, gfp, 0)
        .unwrap()
        .unwrap();
    let pfn = k.sparse().page_to_pfn_checked(p).unwrap();
    let va = k.phys.va(PhysAddr(pfn << 12)).0;
    assert_eq!(kmap(&k, pfn), Ok(va));
    assert_eq!(kmap_atomic(&k, 0, pfn), Ok(va));
    assert_eq!(kunmap_atomic(&k, 0, va), Ok(()));
    assert_eq!(kunmap(&k, pfn), Ok(()));
    assert_eq!(page_address(&k, pfn), Some(va));
    // i386: kunmap_atomic of a pkmap address is neither a kmap_atomic slot nor lowmem.
    let mut k = boot((3, 8));
    let pfn = highmem_page(&mut k);
    let v = kmap(&k, pfn).unwrap();
    match kunmap_atomic(&k, 0, v) {
        Err(KmapError::Bug(t)) => {
            assert!(t.contains("neither a kmap_atomic slot nor lowmem"), "{t}")
        }
        r => panic!("{r:?}"),
    }
    assert_eq!(
        lookup_kmap_address(&k, v).map(|m| m.0),
        Some(pfn << 12),
        "still mapped"
    );
}
