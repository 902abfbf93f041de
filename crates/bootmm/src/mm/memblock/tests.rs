// SPDX-License-Identifier: GPL-2.0-only
//! Unit tests: one or more per function, era differences, and debug output checked against
//! lines copied from real memblock=debug logs (../shared/corpus/memblock-debug).

use super::*;
use crate::era::{Arch, KernelVersion};

fn era(maj: u32, min: u32) -> Era {
    Era::new(KernelVersion::new(maj, min, 0), Arch::X86_64)
}

fn mb(e: Era) -> Memblock {
    Memblock::new(e, Printk::new(), Trace::new(), None)
}

#[cfg(feature = "std")]
fn mb_ram(end: u64) -> Memblock {
    Memblock::new(
        Era::default(),
        Printk::new(),
        Trace::new(),
        Some(PhysMem::map_host(end).unwrap()),
    )
}

fn regions(t: &MemblockType) -> Vec<(u64, u64)> {
    t.regions.iter().map(|r| (r.base, r.size)).collect()
}

fn log(m: &Memblock) -> Vec<String> {
    m.printk.lines().into_iter().map(|l| l.text).collect()
}

#[test]
fn initializer_and_empty_arrays_per_era() {
    let m = mb(Era::default());
    assert_eq!((m.memory.cnt, m.memory.max, m.reserved.cnt), (0, 128, 0));
    assert_eq!(m.memory.name, "memory");
    assert_eq!(m.current_limit, MEMBLOCK_ALLOC_ANYWHERE);
    assert!(!m.bottom_up);
    // ≤ 6.10: one zero-size dummy region, cnt = 1.
    let mut old = mb(era(6, 6));
    assert_eq!((old.memory.cnt, old.memory.regions.len()), (1, 1));
    old.memblock_add(0x1000, 0x1000).unwrap();
    assert_eq!(
        (old.memory.cnt, regions(&old.memory)),
        (1, vec![(0x1000, 0x1000)])
    );
    old.memblock_remove(0x1000, 0x1000).unwrap();
    assert_eq!((old.memory.cnt, old.memory.total_size), (1, 0));
    assert_eq!(old.memory.regions[0].size, 0);
    let mut new = mb(Era::default());
    new.memblock_add(0x1000, 0x1000).unwrap();
    new.memblock_remove(0x1000, 0x1000).unwrap();
    assert_eq!(
        (
            new.memory.cnt,
            new.memory.slot0().base,
            new.memory.slot0().size
        ),
        (0, 0, 0)
    );
}

#[test]
fn add_merges_adjacent_and_fills_gaps_only() {
    let mut m = mb(Era::default());
    m.memblock_add(0x2000, 0x1000).unwrap();
    m.memblock_add(0x4000, 0x1000).unwrap();
    assert_eq!(m.memory.cnt, 2);
    // Covers both and the gap between: one region, existing ones untouched.
    m.memblock_add(0x1000, 0x5000).unwrap();
    assert_eq!(regions(&m.memory), vec![(0x1000, 0x5000)]);
    assert_eq!(m.memory.total_size, 0x5000);
    // Near the top of the address space the size is capped.
    m.memblock_add(u64::MAX - 0xfff, 0x10000).unwrap();
    assert_eq!(
        m.memory.regions[1],
        MemblockRegion {
            base: u64::MAX - 0xfff,
            size: 0xfff,
            flags: MemblockFlags::NONE,
            nid: MAX_NUMNODES
        }
    );
    // Size 0 does nothing.
    m.memblock_add(0x100000, 0).unwrap();
    assert_eq!(m.memory.cnt, 2);
}

#[test]
fn add_node_keeps_nid_and_flags_apart() {
    let mut m = mb(Era::default());
    m.memblock_add_node(0x100000, 0x100000, 1, MemblockFlags::HOTPLUG)
        .unwrap();
    m.memblock_add_node(0x200000, 0x100000, 2, MemblockFlags::HOTPLUG)
        .unwrap();
    m.memblock_add_node(0x300000, 0x100000, 2, MemblockFlags::NONE)
        .unwrap();
    m.memblock_add_node(0x400000, 0x100000, 2, MemblockFlags::NONE)
        .unwrap();
    assert_eq!(
        regions(&m.memory),
        vec![
            (0x100000, 0x100000),
            (0x200000, 0x100000),
            (0x300000, 0x200000)
        ]
    );
    assert_eq!(m.memory.regions[0].nid, 1);
    assert_eq!(m.memory.regions[0].flags, MemblockFlags::HOTPLUG);
}

#[test]
fn reserve_kinds_do_not_merge() {
    let mut m = mb(Era::default());
    m.memblock_reserve(0x1000, 0x1000).unwrap();
    m.memblock_reserve_kern(0x2000, 0x1000).unwrap();
    m.__memblock_reserve(0x3000, 0x1000, 0, MemblockFlags::RSRV_KERN)
        .unwrap();
    assert_eq!(m.reserved.cnt, 3);
    assert_eq!(m.reserved.regions[0].nid, NUMA_NO_NODE);
    assert_eq!(m.reserved.regions[1].flags, MemblockFlags::RSRV_KERN);
    assert_eq!(m.reserved.regions[2].nid, 0);
    // Before 6.16 every reservation is plain and merges.
    let mut old = mb(era(6, 12));
    old.memblock_reserve(0x1000, 0x1000).unwrap();
    old.memblock_reserve_kern(0x2000, 0x1000).unwrap();
    assert_eq!(regions(&old.reserved), vec![(0x1000, 0x2000)]);
    assert_eq!(old.reserved.regions[0].nid, MAX_NUMNODES);
}

#[test]
fn remove_splits_and_reports_bytes() {
    let mut m = mb(Era::default());
    m.memblock_add(0x10000, 0x10000).unwrap();
    assert_eq!(m.memblock_remove(0x14000, 0x1000).unwrap(), 0x1000);
    assert_eq!(
        regions(&m.memory),
        vec![(0x10000, 0x4000), (0x15000, 0xb000)]
    );
    assert_eq!(m.memory.total_size, 0xf000);
    // Not there: the kernel does nothing, the model says 0 bytes.
    assert_eq!(m.memblock_remove(0x100000, 0x1000).unwrap(), 0);
    assert_eq!(m.memblock_remove(0x8000, 0x9000).unwrap(), 0x1000);
    assert_eq!(
        regions(&m.memory),
        vec![(0x11000, 0x3000), (0x15000, 0xb000)]
    );
}

#[test]
fn phys_free_and_free() {
    let mut m = mb(Era::default());
    m.memblock_reserve(0x1000, 0x3000).unwrap();
    assert_eq!(m.memblock_phys_free(0x2000, 0x1000).unwrap(), 0x1000);
    assert_eq!(
        regions(&m.reserved),
        vec![(0x1000, 0x1000), (0x3000, 0x1000)]
    );
    assert_eq!(m.memblock_free(0, 0x1000).unwrap(), 0);
    assert_eq!(m.memblock_free(0x1000, 0x1000).unwrap(), 0x1000);
    assert_eq!(m.memblock_phys_free(0x9000, 0x1000).unwrap(), 0);
    assert_eq!(m.memblock_reserved_size(), 0x1000);
}

#[test]
fn set_node_isolates_then_merges() {
    let mut m = mb(Era::default());
    m.memblock_add(0x0, 0x8000).unwrap();
    m.memblock_set_node(0x0, 0x4000, RegionType::Memory, 0)
        .unwrap();
    m.memblock_set_node(0x4000, 0x4000, RegionType::Memory, 1)
        .unwrap();
    assert_eq!(regions(&m.memory), vec![(0, 0x4000), (0x4000, 0x4000)]);
    m.memblock_set_node(0x0, 0x8000, RegionType::Memory, 1)
        .unwrap();
    assert_eq!(regions(&m.memory), vec![(0, 0x8000)]);
    assert_eq!(m.memory.regions[0].nid, 1);
}

#[test]
fn trim_memory_keeps_total_size_like_the_kernel() {
    let mut m = mb(Era::default());
    m.memblock_add(0x1000, 0x9ec00).unwrap();
    m.memblock_add(0x200010, 0x10).unwrap();
    m.memblock_trim_memory(PAGE_SIZE);
    assert_eq!(regions(&m.memory), vec![(0x1000, 0x9e000)]);
    // Only the dropped region left the total.
    assert_eq!(m.memory.total_size, 0x9ec00);
}

#[test]
fn overlaps_and_search() {
    let mut m = mb(Era::default());
    m.memblock_add(0x4000_0000, 0x40_0000).unwrap();
    assert!(!m.memblock_overlaps_region(RegionType::Memory, 0x3ff0_0000, 0x10_0000));
    assert!(m.memblock_overlaps_region(RegionType::Memory, 0x3ff0_0000, 0x20_0000));
    assert!(m.memblock_overlaps_region(RegionType::Memory, 0x4010_0000, u64::MAX));
    assert!(m.memblock_is_memory(0x4000_0000) && !m.memblock_is_memory(0x4040_0000));
    assert!(m.memblock_is_region_memory(0x4000_0000, 0x40_0000));
    assert!(!m.memblock_is_region_reserved(0x4000_0000, 0x40_0000));
    assert_eq!(
        (m.memblock_start_of_DRAM(), m.memblock_end_of_DRAM()),
        (0x4000_0000, 0x4040_0000)
    );
    assert_eq!(m.memblock_phys_mem_size(), 0x40_0000);
}

#[test]
fn free_ranges_skip_reserved_and_filter_nodes() {
    let mut m = mb(Era::default());
    m.memblock_add_node(0x0, 0x10000, 0, MemblockFlags::NONE)
        .unwrap();
    m.memblock_add_node(0x10000, 0x10000, 1, MemblockFlags::HOTPLUG)
        .unwrap();
    m.memblock_reserve(0x8000, 0x10000).unwrap();
    let all = m.for_each_free_mem_range(NUMA_NO_NODE, MemblockFlags::NONE);
    assert_eq!(
        all,
        vec![
            FreeRange {
                start: 0,
                end: 0x8000,
                nid: 0
            },
            FreeRange {
                start: 0x18000,
                end: 0x20000,
                nid: 1
            }
        ]
    );
    let mut rev = m.for_each_free_mem_range_reverse(NUMA_NO_NODE, MemblockFlags::NONE);
    rev.reverse();
    assert_eq!(rev, all);
    assert_eq!(m.for_each_free_mem_range(1, MemblockFlags::NONE).len(), 1);
    m.movable_node = true;
    assert_eq!(
        m.for_each_free_mem_range(NUMA_NO_NODE, MemblockFlags::NONE)
            .len(),
        1
    );
    assert_eq!(
        m.for_each_free_mem_range(NUMA_NO_NODE, MemblockFlags::HOTPLUG)
            .len(),
        2
    );
    m.memblock_mark_nomap(0x0, 0x10000).unwrap();
    assert_eq!(
        m.for_each_free_mem_range(NUMA_NO_NODE, MemblockFlags::HOTPLUG)
            .len(),
        1
    );
    assert_eq!(
        m.for_each_free_mem_range(NUMA_NO_NODE, MemblockFlags::HOTPLUG | MemblockFlags::NOMAP)
            .len(),
        2
    );
    assert!(m
        .for_each_free_mem_range(NUMA_NO_NODE, MemblockFlags::MIRROR)
        .is_empty());
}

#[test]
fn find_in_range_never_returns_the_first_page() {
    let mut m = mb(Era::default());
    m.memblock_add(0, 0x3000).unwrap();
    m.memblock_set_bottom_up(true);
    assert_eq!(
        m.memblock_find_in_range(0, MEMBLOCK_ALLOC_ANYWHERE, 0x1000, 0x1000),
        0x1000
    );
    m.memblock_set_bottom_up(false);
    assert_eq!(
        m.memblock_find_in_range(0, MEMBLOCK_ALLOC_ANYWHERE, 0x1000, 0x1000),
        0x2000
    );
    assert_eq!(
        m.memblock_find_in_range(0, MEMBLOCK_ALLOC_ANYWHERE, 0x3000, 0x1000),
        0
    );
    m.memblock_set_current_limit(0x2000);
    assert_eq!(
        m.memblock_find_in_range(0, MEMBLOCK_ALLOC_ACCESSIBLE, 0x1000, 0x1000),
        0x1000
    );
}

/// Layout of tools/testing/memblock's setup_numa_memblock() over 32 KiB at `base`.
fn numa_layout(m: &mut Memblock, base: u64) {
    let fractions = [2500u64, 625, 1250, 1250, 625, 625, 2500, 625];
    let mut b = base;
    for (nid, f) in fractions.iter().enumerate() {
        let size = 0x8000 * f / 10000;
        m.memblock_add_node(b, size, nid as i32, MemblockFlags::HOTPLUG)
            .unwrap();
        b += size;
    }
}

#[test]
fn try_nid_on_the_requested_node_records_nid_and_rsrv_kern() {
    // alloc_nid_api.c: alloc_nid_top_down_numa_simple_check
    let mut m = mb(Era::default());
    let base = 0x4000_0000;
    numa_layout(&mut m, base);
    let nid = 3;
    let req = m.memory.regions[nid as usize];
    let size = req.size / 4;
    let p = m
        .memblock_alloc_try_nid(size, 32, MEMBLOCK_LOW_LIMIT, MEMBLOCK_ALLOC_ACCESSIBLE, nid)
        .unwrap()
        .unwrap();
    assert_eq!(p.0, req.end() - size);
    let r = m.reserved.regions[0];
    assert_eq!(
        (r.base, r.size, r.nid, r.flags),
        (p.0, size, nid, MemblockFlags::RSRV_KERN)
    );
}

#[test]
fn try_nid_falls_back_to_any_node_but_exact_does_not() {
    // alloc_nid_api.c: alloc_nid_top_down_numa_small_node_check / exact_nid counterpart
    let base = 0x4000_0000;
    let mut m = mb(Era::default());
    numa_layout(&mut m, base);
    let small = m.memory.regions[1];
    let size = small.size * 2;
    let p = m
        .memblock_alloc_try_nid(size, 32, MEMBLOCK_LOW_LIMIT, MEMBLOCK_ALLOC_ACCESSIBLE, 1)
        .unwrap()
        .unwrap();
    // The fallback picks the highest fitting range: the last node.
    let last = m.memory.regions[7];
    assert!(last.size < size);
    let n6 = m.memory.regions[6];
    assert_eq!(p.0, n6.end() - size);
    assert_eq!(m.reserved.regions[0].nid, NUMA_NO_NODE);
    let mut e = mb(Era::default());
    numa_layout(&mut e, base);
    assert_eq!(
        e.memblock_alloc_exact_nid_raw(size, 32, MEMBLOCK_LOW_LIMIT, MEMBLOCK_ALLOC_ACCESSIBLE, 1)
            .unwrap(),
        None
    );
    assert_eq!(e.reserved.cnt, 0);
}

#[test]
fn try_nid_drops_min_addr_and_clamps_max_addr() {
    // alloc_nid_api.c: alloc_nid_top_down_reserved_no_space / cap_max checks (shape)
    let mut m = mb(Era::default());
    let base = 0x4000_0000u64;
    m.memblock_add(base, 0x8000).unwrap();
    // min_addr above everything: retried from 0.
    let p = m
        .memblock_alloc_try_nid_raw(0x100, 32, base + 0x10000, base + 0x20000, NUMA_NO_NODE)
        .unwrap();
    assert_eq!(p, Some(PhysAddr(base + 0x8000 - 0x100)));
    // max_addr above current_limit is clamped to it.
    m.memblock_set_current_limit(base + 0x4000);
    let p = m
        .memblock_alloc_try_nid_raw(0x100, 32, base, base + 0x8000, NUMA_NO_NODE)
        .unwrap();
    assert_eq!(p, Some(PhysAddr(base + 0x4000 - 0x100)));
    // Bottom-up from min_addr.
    m.memblock_set_bottom_up(true);
    let p = m
        .memblock_alloc_try_nid_raw(
            0x100,
            32,
            base + 0x1000,
            MEMBLOCK_ALLOC_ACCESSIBLE,
            NUMA_NO_NODE,
        )
        .unwrap();
    assert_eq!(p, Some(PhysAddr(base + 0x1000)));
    // Too big anywhere: NULL, nothing reserved.
    let before = m.reserved.clone();
    assert_eq!(
        m.memblock_alloc_try_nid_raw(0x10000, 32, 0, MEMBLOCK_ALLOC_ANYWHERE, 0)
            .unwrap(),
        None
    );
    assert_eq!(m.reserved, before);
}

#[test]
fn alloc_wrappers() {
    let mut m = mb(Era::default());
    m.memblock_add(0x10_0000, 0x10_0000).unwrap();
    assert_eq!(
        m.memblock_alloc(0x1000, 0x1000).unwrap(),
        Some(PhysAddr(0x1f_f000))
    );
    assert_eq!(
        m.memblock_alloc_from(0x10, 0x10, 0x10_0000).unwrap(),
        Some(PhysAddr(0x1f_eff0))
    );
    m.arch_low_address_limit = 0x18_0000;
    assert_eq!(
        m.memblock_alloc_low(0x1000, 0x1000).unwrap(),
        Some(PhysAddr(0x17_f000))
    );
    assert_eq!(
        m.memblock_alloc_node(0x1000, 0x1000, 5).unwrap(),
        Some(PhysAddr(0x1f_d000))
    );
    assert_eq!(
        m.memblock_phys_alloc_range(0x1000, 0x1000, 0, 0x12_0000)
            .unwrap(),
        Some(PhysAddr(0x11_f000))
    );
    assert_eq!(
        m.memblock_phys_alloc(0x1000, 0).unwrap(),
        Some(PhysAddr(0x1f_c000))
    );
    assert_eq!(
        m.memblock_phys_alloc_try_nid(0x1000, 0x1000, 0).unwrap(),
        Some(PhysAddr(0x1f_b000))
    );
    assert_eq!(m.memblock_alloc_raw(0x100_0000, 8).unwrap(), None);
}

#[cfg(feature = "std")]
#[test]
fn zeroing_and_raw_allocations() {
    let mut m = mb_ram(1 << 24);
    m.memblock_add(0x10_0000, 0x10_0000).unwrap();
    let ram = m.phys.clone().unwrap();
    ram.memset(PhysAddr(0x10_0000), 1, 0x10_0000).unwrap();
    let p = m.memblock_alloc(0x100, 8).unwrap().unwrap();
    assert_eq!(ram.memchr_inv(p, 0, 0x100).unwrap(), None);
    let q = m.memblock_alloc_raw(0x100, 8).unwrap().unwrap();
    assert_eq!(ram.memchr_inv(q, 1, 0x100).unwrap(), None);
    // A block beyond simulated RAM cannot be zeroed: an error, not a crash.
    m.memblock_add(1 << 30, 0x1000).unwrap();
    assert!(matches!(
        m.memblock_alloc(0x100, 8),
        Err(MemblockError::Phys(_))
    ));
}

#[test]
fn doubling_needs_allow_resize_and_reserves_the_new_array() {
    let base = 0x4000_0000u64;
    let mut m = mb(Era::default());
    m.memblock_add(base, 0x8000).unwrap();
    for i in 0..128u64 {
        m.memblock_reserve(0x2_0000 + i * 0x1_0000, 0x8000).unwrap();
    }
    assert_eq!(m.reserved.cnt, 128);
    let err = m.memblock_reserve(0x2000_0000, 0x1000).unwrap_err();
    assert_eq!(err, MemblockError::CannotResize { name: "reserved" });
    m.memblock_allow_resize();
    m.memblock_reserve(0x2000_0000, 0x1000).unwrap();
    assert_eq!((m.reserved.cnt, m.reserved.max), (130, 256));
    // PAGE_ALIGN(256 * 24) = 8192 bytes, top-down in memory, kept with RSRV_KERN.
    let arr = m
        .reserved
        .regions
        .iter()
        .find(|r| r.flags == MemblockFlags::RSRV_KERN)
        .copied()
        .unwrap();
    assert_eq!((arr.base, arr.size), (base + 0x6000, 0x2000));
    assert_eq!(m.reserved.array, Some(PhysAddr(base + 0x6000)));
    assert_eq!(m.reserved.total_size, 128 * 0x8000 + 0x1000 + 0x2000);
    // Doubling again frees the old (non-static) array.
    for i in 0..127u64 {
        m.memblock_reserve(0x3000_0000 + i * 0x1_0000, 0x100)
            .unwrap();
    }
    assert_eq!(m.reserved.max, 512);
    assert!(!m
        .reserved
        .regions
        .iter()
        .any(|r| r.base == base + 0x6000 && r.size == 0x2000));
    let arr = m.reserved.array.unwrap();
    assert!(m.memblock_is_reserved(arr.0));
}

#[test]
fn doubling_failure_is_enomem() {
    let mut m = mb(Era::default());
    m.memblock_allow_resize();
    for i in 0..128u64 {
        m.memblock_add(0x2_0000 + i * 0x1_0000, 0x100).unwrap();
    }
    let e = m.memblock_add(0x9000_0000, 0x100).unwrap_err();
    assert_eq!(
        e,
        MemblockError::NoMem {
            name: "memory",
            from: 128
        }
    );
    assert!(log(&m)
        .iter()
        .any(|l| l == "memblock: Failed to double memory array from 128 to 256 entries !"));
}

#[test]
fn debug_lines_6_6_match_the_corpus() {
    // 003-qemu-2node-4cpu-4g-memblock-debug-6.6.txt, caller offsets cut.
    let mut m = mb(era(6, 6));
    m.debug = true;
    {
        let _s = m.trace.enter("setup_arch", "arch/x86/kernel/setup.c");
        m.memblock_reserve(0x100_0000, 0x260_0000).unwrap();
        m.memblock_reserve(0, 0x10000).unwrap();
        m.memblock_reserve(0x9f000, 0x61000).unwrap();
    }
    {
        let _s = m
            .trace
            .enter("smp_scan_config", "arch/x86/kernel/mpparse.c");
        m.memblock_reserve(0xf5470, 0x10).unwrap();
        m.memblock_reserve(0xf5480, 0xd8).unwrap();
    }
    {
        let _s = m.trace.enter("setup_arch", "arch/x86/kernel/setup.c");
        m.memblock_reserve(0x360_0000, 0x9000).unwrap();
    }
    {
        let _s = m
            .trace
            .enter("e820__memblock_setup", "arch/x86/kernel/e820.c");
        m.memblock_add(0x1000, 0x9ec00).unwrap();
        m.memblock_add(0x10_0000, 0xbfee_0000).unwrap();
        m.memblock_add(0x1_0000_0000, 0x4000_0000).unwrap();
        m.memblock_trim_memory(PAGE_SIZE);
        m.memblock_dump_all();
    }
    {
        let _s = m
            .trace
            .enter("reserve_real_mode", "arch/x86/realmode/init.c");
        m.memblock_phys_alloc_range(28672, 0x1000, 0, 0x10_0000)
            .unwrap();
    }
    let expected = [
        "memblock_reserve: [0x0000000001000000-0x00000000035fffff] setup_arch",
        "memblock_reserve: [0x0000000000000000-0x000000000000ffff] setup_arch",
        "memblock_reserve: [0x000000000009f000-0x00000000000fffff] setup_arch",
        "memblock_reserve: [0x00000000000f5470-0x00000000000f547f] smp_scan_config",
        "memblock_reserve: [0x00000000000f5480-0x00000000000f5557] smp_scan_config",
        "memblock_reserve: [0x0000000003600000-0x0000000003608fff] setup_arch",
        "memblock_add: [0x0000000000001000-0x000000000009fbff] e820__memblock_setup",
        "memblock_add: [0x0000000000100000-0x00000000bffdffff] e820__memblock_setup",
        "memblock_add: [0x0000000100000000-0x000000013fffffff] e820__memblock_setup",
        "MEMBLOCK configuration:",
        " memory size = 0x00000000fff7ec00 reserved size = 0x000000000267a000",
        " memory.cnt  = 0x3",
        " memory[0x0]\t[0x0000000000001000-0x000000000009efff], 0x000000000009e000 bytes flags: 0x0",
        " memory[0x1]\t[0x0000000000100000-0x00000000bffdffff], 0x00000000bfee0000 bytes flags: 0x0",
        " memory[0x2]\t[0x0000000100000000-0x000000013fffffff], 0x0000000040000000 bytes flags: 0x0",
        " reserved.cnt  = 0x3",
        " reserved[0x0]\t[0x0000000000000000-0x000000000000ffff], 0x0000000000010000 bytes flags: 0x0",
        " reserved[0x1]\t[0x000000000009f000-0x00000000000fffff], 0x0000000000061000 bytes flags: 0x0",
        " reserved[0x2]\t[0x0000000001000000-0x0000000003608fff], 0x0000000002609000 bytes flags: 0x0",
        "memblock_phys_alloc_range: 28672 bytes align=0x1000 from=0x0000000000000000 max_addr=0x0000000000100000 reserve_real_mode",
    ];
    let got = log(&m);
    assert_eq!(&got[..expected.len()], &expected[..]);
    // The reservation the allocation made: the range of the log's next line.
    assert!(got[expected.len()]
        .starts_with("memblock_reserve: [0x0000000000098000-0x000000000009efff]"));
}

#[test]
fn debug_lines_4_9_match_the_corpus() {
    // 002-hp-286-pro-g2-8g-memblock-debug-4.9.txt, caller offsets cut.
    let mut m = mb(era(4, 9));
    m.debug = true;
    {
        let _s = m
            .trace
            .enter("smp_scan_config", "arch/x86/kernel/mpparse.c");
        m.memblock_reserve(0xfcc30, 0x10).unwrap();
        m.memblock_reserve(0xfca10, 0x19c).unwrap();
    }
    m.memblock_reserve(0x100_0000, 0x114_b000).unwrap();
    m.memblock_reserve(0x34ca_d000, 0x19a_1000).unwrap();
    {
        let _s = m.trace.enter("memblock_x86_fill", "arch/x86/kernel/e820.c");
        m.memblock_add(0x1000, 0x9b800).unwrap();
        m.memblock_add(0x10_0000, 0x7129_3000).unwrap();
        m.memblock_add(0x713b_e000, 0x5b5_4000).unwrap();
        m.memblock_add(0x77ff_f000, 0x1000).unwrap();
        m.memblock_add(0x1_0000_0000, 0x1_8080_0000).unwrap();
        m.memblock_trim_memory(PAGE_SIZE);
    }
    m.printk.drain();
    m.memblock_dump_all();
    {
        let _s = m
            .trace
            .enter("reserve_bios_regions", "arch/x86/kernel/ebda.c");
        m.memblock_reserve(0x9c800, 0x63800).unwrap();
    }
    let expected = [
        "MEMBLOCK configuration:",
        " memory size = 0x1f7683800 reserved size = 0x2aec1ac",
        " memory.cnt  = 0x5",
        " memory[0x0]\t[0x00000000001000-0x0000000009bfff], 0x9b000 bytes flags: 0x0",
        " memory[0x1]\t[0x00000000100000-0x00000071392fff], 0x71293000 bytes flags: 0x0",
        " memory[0x2]\t[0x000000713be000-0x00000076f11fff], 0x5b54000 bytes flags: 0x0",
        " memory[0x3]\t[0x00000077fff000-0x00000077ffffff], 0x1000 bytes flags: 0x0",
        " memory[0x4]\t[0x00000100000000-0x000002807fffff], 0x180800000 bytes flags: 0x0",
        " reserved.cnt  = 0x4",
        " reserved[0x0]\t[0x000000000fca10-0x000000000fcbab], 0x19c bytes flags: 0x0",
        " reserved[0x1]\t[0x000000000fcc30-0x000000000fcc3f], 0x10 bytes flags: 0x0",
        " reserved[0x2]\t[0x00000001000000-0x0000000214afff], 0x114b000 bytes flags: 0x0",
        " reserved[0x3]\t[0x00000034cad000-0x0000003664dfff], 0x19a1000 bytes flags: 0x0",
        "memblock_reserve: [0x0000000009c800-0x000000000fffff] flags 0x0 reserve_bios_regions",
    ];
    assert_eq!(log(&m), expected);
    // memblock_add's 4.9 line, with the flags field.
    let mut a = mb(era(4, 9));
    a.debug = true;
    let _s = a.trace.enter("memblock_x86_fill", "arch/x86/kernel/e820.c");
    a.memblock_add(0x1000, 0x9b800).unwrap();
    assert_eq!(
        log(&a),
        ["memblock_add: [0x00000000001000-0x0000000009c7ff] flags 0x0 memblock_x86_fill"]
    );
}

#[test]
fn debug_lines_of_other_calls() {
    let mut m = mb(Era::default());
    m.debug = true;
    m.memblock_add_node(0x1000, 0x1000, 1, MemblockFlags::HOTPLUG)
        .unwrap();
    m.memblock_reserve(0x1000, 0x10).unwrap();
    m.memblock_phys_free(0x1000, 0x10).unwrap();
    m.memblock_remove(0x1000, 0x1000).unwrap();
    m.memblock_alloc_try_nid(0x10, 0, 0, 0, 0).unwrap();
    assert_eq!(
        log(&m),
        [
            "memblock_add_node: [0x0000000000001000-0x0000000000001fff] nid=1 flags=1",
            "__memblock_reserve: [0x0000000000001000-0x000000000000100f] nid=-1 flags=0",
            "memblock_phys_free: [0x0000000000001000-0x000000000000100f]",
            "memblock_remove: [0x0000000000001000-0x0000000000001fff]",
            "memblock_alloc_try_nid: 16 bytes align=0x0 nid=0 from=0x0000000000000000 max_addr=0x0000000000000000",
        ]
    );
    // The 4.9 try_nid line (memblock_virt_alloc_try_nid, 0x%llx addresses).
    let mut o = mb(era(4, 9));
    o.debug = true;
    o.memblock_alloc_try_nid(2048, 0x40, 0x2_8000_0000, 0x2_8800_0000, 0)
        .unwrap();
    assert_eq!(
        log(&o)[0],
        "memblock_virt_alloc_try_nid: 2048 bytes align=0x40 nid=0 from=0x280000000 max_addr=0x288000000"
    );
    // An emptied pre-6.11 array dumps its dummy region.
    let d = mb(era(6, 6));
    d.__memblock_dump_all();
    assert_eq!(log(&d)[2], " memory.cnt  = 0x1");
    assert_eq!(log(&d)[3], " memory[0x0]\t[0x0000000000000000-0xffffffffffffffff], 0x0000000000000000 bytes flags: 0x0");
    let mut n = mb(Era::default());
    n.memblock_add_node(0, 0x1000, 0, MemblockFlags::NONE)
        .unwrap();
    n.__memblock_dump_all();
    assert!(log(&n)
        .iter()
        .any(|l| l.ends_with("bytes on node 0 flags: 0x0")));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Add(u64, u64, i32),
        Reserve(u64, u64),
        ReserveKern(u64, u64),
        Remove(u64, u64),
        Free(u64, u64),
        Alloc(u64, u32, bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        let r = (0u64..64, 1u64..16);
        prop_oneof![
            (r.clone(), -1i32..3).prop_map(|((b, s), n)| Op::Add(b * 0x1000, s * 0x1000, n)),
            r.clone()
                .prop_map(|(b, s)| Op::Reserve(b * 0x1000 + 0x10, s * 0x800)),
            r.clone()
                .prop_map(|(b, s)| Op::ReserveKern(b * 0x1000, s * 0x800)),
            r.clone()
                .prop_map(|(b, s)| Op::Remove(b * 0x1000, s * 0x1000)),
            r.prop_map(|(b, s)| Op::Free(b * 0x1000, s * 0x400)),
            (1u64..0x4000, 0u32..13, any::<bool>()).prop_map(|(s, a, bu)| Op::Alloc(s, a, bu)),
        ]
    }

    fn check(t: &MemblockType) -> Result<(), TestCaseError> {
        prop_assert_eq!(t.cnt, t.regions.len());
        prop_assert!(t.cnt <= t.max);
        let sum: u64 = t.regions.iter().map(|r| r.size).sum();
        prop_assert_eq!(sum, t.total_size);
        for w in t.regions.windows(2) {
            prop_assert!(w[0].end() <= w[1].base, "sorted and disjoint: {:?}", w);
            let mergeable =
                w[0].end() == w[1].base && w[0].nid == w[1].nid && w[0].flags == w[1].flags;
            prop_assert!(!mergeable, "left unmerged: {:?}", w);
        }
        prop_assert!(t.regions.iter().all(|r| r.size > 0));
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn memblock_invariants(ops in proptest::collection::vec(op(), 1..60)) {
            let mut m = mb(Era::default());
            m.memblock_allow_resize();
            for op in ops {
                match op {
                    Op::Add(b, s, n) => m.memblock_add_node(b, s, n, MemblockFlags::NONE).map(|_| ()),
                    Op::Reserve(b, s) => m.memblock_reserve(b, s),
                    Op::ReserveKern(b, s) => m.memblock_reserve_kern(b, s),
                    Op::Remove(b, s) => m.memblock_remove(b, s).map(|_| ()),
                    Op::Free(b, s) => m.memblock_phys_free(b, s).map(|_| ()),
                    Op::Alloc(size, a, bu) => {
                        m.memblock_set_bottom_up(bu);
                        let align = 1u64 << a;
                        let before = m.reserved.clone();
                        let p = m.memblock_alloc_raw(size, align);
                        prop_assert!(p.is_ok());
                        if let Ok(Some(p)) = p {
                            let p = p.0;
                            prop_assert_eq!(p % align, 0);
                            prop_assert!(p >= PAGE_SIZE);
                            prop_assert!(m.memblock_is_region_memory(p, size), "inside memory");
                            prop_assert!(
                                !before.regions.iter().any(|r| p < r.end() && r.base < p + size),
                                "outside earlier reservations"
                            );
                        } else {
                            prop_assert_eq!(&m.reserved, &before);
                        }
                        Ok(())
                    }
                }
                .map_err(|e| TestCaseError::fail(format!("{e}")))?;
                check(&m.memory)?;
                check(&m.reserved)?;
            }
        }
    }
}
