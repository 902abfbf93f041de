// SPDX-License-Identifier: GPL-2.0-only
//! vmalloc end to end on a booted kernel: areas mapped page by page into the kernel's page
//! tables in simulated RAM, bytes written through the vmalloc address landing in the pages
//! the allocator handed out, the lazy purge giving the free tree back its first shape, CPUs
//! on threads, and the kernel's answers to bad calls.

use bootmm::arch::x86::pgtable_64_types::{VMALLOC_END, VMALLOC_START};
use bootmm::arch::x86::set_memory::lookup_address;
use bootmm::era::{Era, KernelVersion};
use bootmm::mm::vmalloc::{self, find_vm_area, free_blocks, VfreeResult, VmallocArgs};
use bootmm::{init::main::start_kernel, Kernel, Machine, PhysAddr};
use proptest::prelude::*;

fn boot(version: (u32, u32), mem: u64, cpus: u32) -> Kernel {
    let mut m = Machine::qemu(mem, cpus).unwrap();
    m.era = Era::new(KernelVersion::new(version.0, version.1, 0), m.era.arch);
    let mut k = Kernel::new(m).unwrap();
    start_kernel(&mut k).unwrap();
    k
}

/// Write `byte` at vmalloc address `va` through the page tables.
fn poke(k: &Kernel, va: u64, byte: u8) {
    let pa = vmalloc::virt_to_phys_walk(k, va, 1).expect("mapped");
    k.phys.memset(pa, byte, 1).unwrap();
}

fn peek(k: &Kernel, va: u64) -> u8 {
    let pa = vmalloc::virt_to_phys_walk(k, va, 1).expect("mapped");
    let p = k.phys.host_ptr(pa, 1).unwrap();
    // SAFETY: one byte of simulated RAM.
    unsafe { *p.as_ptr() }
}

/// Every page of the area at `addr` walks to the page its `pages[]` names.
fn assert_mapped(k: &Kernel, addr: u64) -> usize {
    let a = find_vm_area(k, addr).expect("a live area");
    assert_eq!(a.addr, addr);
    for (i, &pfn) in a.pfns.iter().enumerate() {
        let w = lookup_address(k, addr + i as u64 * 4096);
        assert_eq!(
            w.pa,
            Some(PhysAddr(pfn << 12)),
            "page {i} of {addr:#x}: {w}"
        );
    }
    // The guard page is not mapped.
    assert_eq!(lookup_address(k, addr + a.size - 4096).pa, None);
    a.pfns.len()
}

#[test]
fn vmalloc_maps_real_pages_and_vfree_gives_them_back() {
    for v in [(6, 6), (5, 10)] {
        let mut k = boot(v, 1 << 30, 2);
        let start = free_blocks(&k).unwrap();
        assert_eq!(start, vec![(1, u64::MAX)], "{v:?}: one free block at boot");
        k.drain_all_pages();
        let free0 = bootmm::mm::page_alloc::nr_free_pages(&k);
        let slab0: u64 = bootmm::mm::slab_common::get_slabinfo(&k)
            .iter()
            .map(|s| s.num_slabs * u64::from(s.pagesperslab))
            .sum();
        let a = k.vmalloc(3 * 4096 + 5).unwrap();
        assert_eq!(a, VMALLOC_START, "{v:?}: the first area starts the range");
        assert_eq!(assert_mapped(&k, a), 4);
        for i in 0..4 {
            poke(&k, a + i * 4096 + 7, i as u8 + 1);
        }
        // The bytes are in the pages the allocator handed out, seen through the direct map.
        let area = find_vm_area(&k, a).unwrap();
        for (i, &pfn) in area.pfns.iter().enumerate() {
            let p = k.phys.host_ptr(PhysAddr((pfn << 12) + 7), 1).unwrap();
            // SAFETY: a byte of simulated RAM.
            assert_eq!(unsafe { *p.as_ptr() }, i as u8 + 1);
        }
        let b = k.vzalloc(4096).unwrap();
        assert_eq!(b, a + 5 * 4096, "after the first area and its guard page");
        assert_eq!(peek(&k, b + 100), 0);
        let info = vmalloc::vmallocinfo(&k);
        assert!(
            info.contains(&format!(
                "0x{a:016x}-0x{:016x}   20480 vmalloc pages=4 vmalloc N0=4",
                a + 20480
            )),
            "{info}"
        );
        assert_eq!(k.vfree(a), VfreeResult::Freed);
        assert_eq!(k.vfree(b), VfreeResult::Freed);
        assert_eq!(lookup_address(&k, a).pa, None);
        assert_eq!(lookup_address(&k, b).pa, None);
        // Lazily freed: the addresses wait on the purge list (merged into one).
        let info = vmalloc::vmallocinfo(&k);
        assert_eq!(
            info,
            format!("0x{a:016x}-0x{:016x}   28672 unpurged vm_area\n", a + 28672)
        );
        k.purge_vmap_area_lazy();
        assert_eq!(free_blocks(&k).unwrap(), start);
        assert_eq!(vmalloc::vmallocinfo(&k), "");
        // The pages (and the kmalloc'ed arrays) are back; the page-table pages stay.
        let tables = k.vmalloc.nr_pgtable_pages();
        assert_eq!(tables, 2, "{v:?}: one PMD page and one PTE page");
        k.drain_all_pages();
        let free1 = bootmm::mm::page_alloc::nr_free_pages(&k);
        let (slab_before, slab_after) = (
            slab0,
            bootmm::mm::slab_common::get_slabinfo(&k)
                .iter()
                .map(|s| s.num_slabs * u64::from(s.pagesperslab))
                .sum::<u64>(),
        );
        assert_eq!(
            free0 - free1,
            tables + (slab_after - slab_before),
            "{v:?}: {free0} free before, {free1} after"
        );
        assert_eq!(vmalloc::vmalloc_nr_pages(&k), 0);
    }
}

/// One step of the property test.
#[derive(Clone, Debug)]
enum Op {
    Vmalloc {
        pages: u64,
        align_shift: u32,
        zero: bool,
    },
    Vfree(usize),
    MapRam {
        pages: u64,
    },
    UnmapRam(usize),
    Purge,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u64..40, 0u32..23, any::<bool>()).prop_map(|(pages, align_shift, zero)| Op::Vmalloc { pages, align_shift, zero }),
        3 => any::<usize>().prop_map(Op::Vfree),
        2 => (1u64..80).prop_map(|pages| Op::MapRam { pages }),
        2 => any::<usize>().prop_map(Op::UnmapRam),
        1 => Just(Op::Purge),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Every page of every live area walks to the page the allocator handed out (and
    /// `vm_map_ram` areas to the pages given); alignment and zeroing hold; after every
    /// free and a purge nothing in the vmalloc range stays mapped and the free tree is one
    /// block again.
    #[test]
    fn live_areas_walk_to_their_pages_and_the_free_tree_comes_back(ops in proptest::collection::vec(op(), 1..60), era in prop_oneof![Just((6u32, 6u32)), Just((6, 12)), Just((5, 10))]) {
        let mut k = boot(era, 512 << 20, 2);
        let start = free_blocks(&k).unwrap();
        let mut live: Vec<u64> = Vec::new();
        let mut ram: Vec<(u64, Vec<u64>)> = Vec::new();
        let mut ever: Vec<(u64, u64)> = Vec::new();
        for op in ops {
            match op {
                Op::Vmalloc { pages, align_shift, zero } => {
                    let mut a = if zero { VmallocArgs::vzalloc(pages * 4096) } else { VmallocArgs::vmalloc(pages * 4096) };
                    a.align = 1 << align_shift;
                    let addr = k.__vmalloc_node(a).unwrap();
                    prop_assert_ne!(addr, 0);
                    prop_assert_eq!(addr % a.align.max(4096), 0);
                    prop_assert!(addr >= VMALLOC_START && addr + pages * 4096 <= VMALLOC_END);
                    prop_assert_eq!(assert_mapped(&k, addr), pages as usize);
                    if zero {
                        prop_assert_eq!(peek(&k, addr + pages * 4096 - 1), 0);
                    }
                    poke(&k, addr, 0x5a);
                    ever.push((addr, pages));
                    live.push(addr);
                }
                Op::Vfree(i) if !live.is_empty() => {
                    let addr = live.swap_remove(i % live.len());
                    prop_assert_eq!(peek(&k, addr), 0x5a);
                    prop_assert_eq!(k.vfree(addr), VfreeResult::Freed);
                    prop_assert_eq!(lookup_address(&k, addr).pa, None);
                }
                Op::MapRam { pages } => {
                    let order = pages.next_power_of_two().trailing_zeros();
                    let p = bootmm::mm::page_alloc::alloc_pages(&mut k, vmalloc::GFP_KERNEL, order).unwrap().unwrap();
                    let pfn = bootmm::mm::page_alloc::page_to_pfn(&k, p).unwrap();
                    let pfns: Vec<u64> = (pfn..pfn + pages).collect();
                    let addr = k.vm_map_ram(&pfns, -1).unwrap();
                    prop_assert_ne!(addr, 0);
                    for (i, &f) in pfns.iter().enumerate() {
                        prop_assert_eq!(lookup_address(&k, addr + i as u64 * 4096).pa, Some(PhysAddr(f << 12)));
                    }
                    ever.push((addr, pages));
                    ram.push((addr, pfns));
                }
                Op::UnmapRam(i) if !ram.is_empty() => {
                    let (addr, pfns) = ram.swap_remove(i % ram.len());
                    prop_assert!(k.vm_unmap_ram(addr, pfns.len() as u64));
                    prop_assert_eq!(lookup_address(&k, addr).pa, None);
                    let order = (pfns.len() as u64).next_power_of_two().trailing_zeros();
                    let page = k.sparse().pfn_to_page(pfns[0]).unwrap();
                    bootmm::mm::page_alloc::__free_pages(&mut k, page, order);
                }
                Op::Purge => k.purge_vmap_area_lazy(),
                _ => {}
            }
            prop_assert!(free_blocks(&k).is_ok(), "{:?}", free_blocks(&k));
            for &a in &live {
                assert_mapped(&k, a);
            }
        }
        for a in live.drain(..) {
            prop_assert_eq!(k.vfree(a), VfreeResult::Freed);
        }
        for (a, pfns) in ram.drain(..) {
            prop_assert!(k.vm_unmap_ram(a, pfns.len() as u64));
        }
        k.vm_unmap_aliases();
        for (a, pages) in ever {
            for i in 0..pages {
                prop_assert_eq!(lookup_address(&k, a + i * 4096).pa, None);
            }
        }
        prop_assert_eq!(free_blocks(&k).unwrap(), start);
        prop_assert_eq!(vmalloc::vmallocinfo(&k), "");
        prop_assert_eq!(vmalloc::vmalloc_nr_pages(&k), 0);
    }
}

/// Two CPUs on two threads allocate, write and free at once; every area holds its own
/// bytes, and at the end the free tree is whole again.
#[test]
fn cpus_on_threads_share_the_vmalloc_space() {
    for era in [(6, 6), (5, 10)] {
        let mut k = boot(era, 1 << 30, 2);
        k.smp_init().unwrap();
        let start = free_blocks(&k).unwrap();
        std::thread::scope(|s| {
            for id in 0..2u32 {
                let k = &k;
                s.spawn(move || {
                    let cpu = k.cpu(id).unwrap();
                    let mut held = Vec::new();
                    for i in 0..3000u64 {
                        let pages = 1 + (i * 7 + u64::from(id)) % 9;
                        let a = cpu.vmalloc(pages * 4096).unwrap();
                        assert_ne!(a, 0);
                        poke(k, a + pages * 4096 - 1, id as u8 + 1);
                        held.push((a, pages));
                        if held.len() > 20 {
                            let (b, n) = held.remove((i % 20) as usize);
                            assert_eq!(peek(k, b + n * 4096 - 1), id as u8 + 1);
                            assert_eq!(cpu.vfree(b), VfreeResult::Freed);
                        }
                        if i % 500 == 0 {
                            let p = cpu.alloc_pages(vmalloc::GFP_KERNEL, 0).unwrap().unwrap();
                            let pfn = bootmm::mm::page_alloc::page_to_pfn(k, p).unwrap();
                            let m = cpu.vm_map_ram(&[pfn], -1).unwrap();
                            assert_eq!(lookup_address(k, m).pa, Some(PhysAddr(pfn << 12)));
                            assert!(cpu.vm_unmap_ram(m, 1));
                            cpu.free_pages(p, 0);
                        }
                    }
                    for (b, _) in held {
                        assert_eq!(cpu.vfree(b), VfreeResult::Freed);
                    }
                });
            }
        });
        let cpu = k.cpu(0).unwrap();
        cpu.vm_unmap_aliases();
        drop(cpu);
        assert_eq!(free_blocks(&k).unwrap(), start, "{era:?}");
        assert_eq!(vmalloc::vmalloc_nr_pages(&k), 0);
    }
}

/// The kernel's answers to bad calls, with the state left intact.
#[test]
fn bad_calls_get_the_kernels_answers() {
    let mut k = boot((6, 6), 512 << 20, 1);
    let before = free_blocks(&k).unwrap();
    let log = |k: &Kernel| {
        k.printk
            .lines()
            .iter()
            .map(|l| l.text.clone())
            .collect::<String>()
    };
    // vmalloc(0): WARN_ON_ONCE, NULL.
    assert_eq!(k.vmalloc(0).unwrap(), 0);
    assert!(log(&k).contains("__vmalloc_node_range: WARN_ON_ONCE(!size)"));
    // Larger than all RAM: "exceeds total pages".
    assert_eq!(k.vmalloc(1 << 40).unwrap(), 0);
    assert!(
        log(&k).contains(
            "vmalloc error: size 1099511627776, exceeds total pages, mode:0xcc0(GFP_KERNEL)"
        ),
        "{}",
        log(&k)
    );
    // A non-power-of-two alignment: alloc_vmap_area says -EINVAL, "vm_struct allocation failed".
    let mut a = VmallocArgs::vmalloc(4096);
    a.align = 3 * 4096;
    assert_eq!(k.__vmalloc_node(a).unwrap(), 0);
    assert!(log(&k).contains("vmalloc error: size 4096, vm_struct allocation failed"));
    // vfree of an address vmalloc never gave out, and a double vfree.
    assert_eq!(k.vfree(VMALLOC_START + (1 << 30)), VfreeResult::Nonexistent);
    assert!(log(&k).contains(&format!(
        "Trying to vfree() nonexistent vm area (0x{:016x})",
        VMALLOC_START + (1 << 30)
    )));
    let p = k.vmalloc(8192).unwrap();
    assert_eq!(k.vfree(p + 1), VfreeResult::BadAddress);
    assert!(log(&k).contains("Trying to vfree() bad address"));
    assert_eq!(k.vfree(p), VfreeResult::Freed);
    assert_eq!(k.vfree(p), VfreeResult::Nonexistent);
    assert_eq!(k.vfree(0), VfreeResult::Null);
    // A range too small for the request: "vmap allocation for size … failed".
    let mut a = VmallocArgs::vmalloc(4096);
    a.align = 1 << 62;
    assert_eq!(k.__vmalloc_node(a).unwrap(), 0);
    assert!(log(&k)
        .contains("vmap allocation for size 8192 failed: use vmalloc=<size> to increase size"));
    // vm_unmap_ram of what was never mapped.
    assert!(!k.vm_unmap_ram(VMALLOC_START + (1 << 32), 1));
    assert!(!k.vm_unmap_ram(0x1000, 1));
    // Walks of unmapped and non-canonical addresses.
    assert_eq!(lookup_address(&k, VMALLOC_START + (5 << 30)).pa, None);
    assert_eq!(lookup_address(&k, 0x0000_9000_0000_0000).pa, None);
    k.purge_vmap_area_lazy();
    assert_eq!(free_blocks(&k).unwrap(), before);
}

/// ptdump of the default machine (with a few vmalloc areas): the runs tile the address
/// space, and every run's flags and level are what a walk of the tables finds at each of
/// its entries (sampled evenly over long runs).
#[test]
fn ptdump_lines_are_what_the_tables_hold() {
    use bootmm::arch::x86::dump_pagetables::ptdump_kernel;
    use bootmm::arch::x86::set_memory::PgLevel;
    let mut k = boot((6, 6), 4 << 30, 2);
    let a = k.vmalloc(5 * 4096).unwrap();
    let b = k.vmalloc(600 * 4096).unwrap();
    assert_ne!(a * b, 0);
    let (text, lines) = ptdump_kernel(&k);
    assert!(text.starts_with("---[ User Space ]---\n"), "{text}");
    assert!(text.contains("---[ vmalloc() Area ]---\n"));
    assert!(
        text.contains(&format!(
            "0x{a:016x}-0x{:016x}          20K     RW                 GLB NX pte\n",
            a + 20480
        )),
        "{text}"
    );
    assert_eq!(lines.first().unwrap().start, 0);
    assert_eq!(lines.last().unwrap().end, 0);
    for w in lines.windows(2) {
        assert_eq!(w[0].end, w[1].start, "{w:x?}");
    }
    let mut checked = 0;
    for l in &lines {
        let (size, level) = match l.level {
            4 => (4096u64, Some(PgLevel::Pte)),
            3 => (1 << 21, Some(PgLevel::Pmd)),
            2 => (1 << 30, Some(PgLevel::Pud)),
            _ => (1 << 39, None),
        };
        let n = l.end.wrapping_sub(l.start) / size;
        let step = (n / 64).max(1);
        let mut i = 0;
        while i < n {
            let va = l.start.wrapping_add(i * size);
            let w = lookup_address(&k, va);
            if l.prot & 1 != 0 {
                assert_eq!(Some(w.level), level, "{va:#x} in {l:x?}: {w}");
                assert_eq!(w.entry & !0x000f_ffff_ffff_f000, l.prot, "{va:#x}: {w}");
                assert!(w.pa.is_some());
            } else {
                assert_eq!(w.pa, None, "{va:#x} in a hole {l:x?}: {w}");
            }
            checked += 1;
            i += step;
        }
    }
    assert!(checked > 500, "{checked}");
}
