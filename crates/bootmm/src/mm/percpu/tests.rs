//! The first chunk's layout against figures real logs print (sizes from their "Embedded"
//! lines, CPUs and nodes from their setup_percpu lines).
use super::*;
use crate::era::{Arch, KernelVersion};

fn era(r: &str) -> Era {
    Era::new(KernelVersion::parse(r).unwrap(), Arch::X86_64)
}

/// All CPUs on one node, or CPU `c` on node `node_of(c)`.
fn info(r: &str, cpus: u32, s: u64, node_of: impl Fn(u32) -> u32) -> PcpuAllocInfo {
    let d = |a: u32, b: u32| if node_of(a) == node_of(b) { 10 } else { 20 };
    pcpu_build_alloc_info(&era(r), cpus, s, 8192, 28 << 10, 2 << 20, d).unwrap()
}

#[test]
fn eight_cpus_share_one_allocation_of_quarter_megabyte_units() {
    // 4.4: "PERCPU: Embedded 33 pages/cpu @… s98008 r8192 d28968 u262144",
    // "pcpu-alloc: s98008 r8192 d28968 u262144 alloc=1*2097152", "[0] 0 1 2 3 4 5 6 7 ".
    let ai = info("4.4.0", 8, 98008, |_| 0);
    assert_eq!(
        (ai.dyn_size, ai.unit_size, ai.size_sum() / 4096),
        (28968, 262144, 33)
    );
    assert_eq!(
        pcpu_dump_alloc_info(&ai, 8),
        [
            "pcpu-alloc: s98008 r8192 d28968 u262144 alloc=1*2097152",
            "pcpu-alloc: [0] 0 1 2 3 4 5 6 7 "
        ]
    );
}

#[test]
fn two_cpus_take_a_megabyte_each_rather_than_waste_six_units() {
    // 5.4: "percpu: Embedded 60 pages/cpu s208896 r8192 d28672 u1048576".
    let ai = info("5.4.0", 2, 208896, |_| 0);
    assert_eq!((ai.dyn_size, ai.unit_size), (28672, 1 << 20));
    assert_eq!(pcpu_dump_alloc_info(&ai, 2)[1], "pcpu-alloc: [0] 0 1 ");
}

#[test]
fn nodes_make_groups() {
    // memblock-debug/003 (6.6, 2 nodes of 2 CPUs): "s183016 r8192 d29976 u1048576",
    // "pcpu-alloc: [0] 0 1 [1] 2 3 ".
    let ai = info("6.6.41", 4, 183016, |c| c / 2);
    assert_eq!((ai.dyn_size, ai.unit_size), (29976, 1 << 20));
    assert_eq!(ai.groups[1].base_offset, 2 << 20);
    assert_eq!(
        pcpu_dump_alloc_info(&ai, 4)[1],
        "pcpu-alloc: [0] 0 1 [1] 2 3 "
    );
    // QEMU, numa=fake=4 with 2 CPUs (one per node): a whole allocation each.
    let ai = info("6.12.0", 2, 233472, |c| c);
    assert_eq!(ai.unit_size, 2 << 20);
    assert_eq!(pcpu_dump_alloc_info(&ai, 2)[1], "pcpu-alloc: [0] 0 [1] 1 ");
}

#[test]
fn wide_cpu_numbers_and_spare_units() {
    // 16 CPUs: two allocations of eight a line, CPU numbers two digits wide.
    let ai = info("4.9.0", 16, 100000, |_| 0);
    assert_eq!(
        pcpu_dump_alloc_info(&ai, 16)[1],
        "pcpu-alloc: [0] 00 01 02 03 04 05 06 07 [0] 08 09 10 11 12 13 14 15 "
    );
    // 6 CPUs in 8 units of 256 KiB: the spare ones print as dashes.
    let ai = info("6.1.0", 6, 196608, |_| 0);
    assert_eq!(ai.unit_size, 256 << 10);
    assert_eq!(
        pcpu_dump_alloc_info(&ai, 6)[1],
        "pcpu-alloc: [0] 0 1 2 3 4 5 - - "
    );
}

#[test]
fn the_embedded_line_of_each_era() {
    let ai = info("4.4.0", 8, 98008, |_| 0);
    let va = 0xffff_8802_6f40_0000;
    let line = |r: &str| embedded_line_text(&era(r), &ai, va);
    assert_eq!(
        line("4.4.0"),
        "PERCPU: Embedded 33 pages/cpu @ffff88026f400000 s98008 r8192 d28968 u262144"
    );
    assert!(line("4.9.96").starts_with("percpu: Embedded 33 pages/cpu @ffff8802"));
    assert!(line("4.15.0").contains(" @        (ptrval) s98008"));
    assert!(line("4.18.0").contains(" @(____ptrval____) s98008"));
    let bare = "percpu: Embedded 33 pages/cpu s98008 r8192 d28968 u262144";
    for r in ["5.4.0", "4.14.114"] {
        assert_eq!(line(r), bare, "{r}");
    }
    let mut ubuntu = era("4.15.0");
    ubuntu.release = "4.15.0-136-generic".into();
    assert_eq!(embedded_line_text(&ubuntu, &ai, va), bare);
    assert_ne!(line("4.14.113"), bare);
}

#[test]
fn bad_layouts_are_errors() {
    let d = |_: u32, _: u32| 10;
    assert_eq!(
        pcpu_build_alloc_info(&era("6.6.0"), 0, 1, 0, 0, 2 << 20, d),
        Err(PcpuError::NoCpus)
    );
    assert!(pcpu_build_alloc_info(&era("6.6.0"), 1, u64::MAX, 8192, 0, 2 << 20, d).is_err());
    assert!(pcpu_build_alloc_info(&era("6.6.0"), 1, 1, 0, 0, 3 << 20, d).is_err());
}

fn booted(cpus: u32) -> Kernel {
    let m = crate::machine::Machine::qemu(1 << 30, cpus).unwrap();
    let mut k = Kernel::new(m).unwrap();
    crate::init::main::start_kernel(&mut k).unwrap();
    k
}

#[test]
fn allocations_are_zeroed_in_every_unit_and_usable() {
    let k = booted(4);
    let ai = k.percpu.ai.clone().unwrap();
    let p = __alloc_percpu(&k, 64, 8).unwrap();
    // In the dynamic part (after the static data, the modules' reserve, and the zone
    // pagesets setup_per_cpu_pageset took).
    let dyn_start = ai.static_size + ai.reserved_size;
    assert!(p.offset() > dyn_start && p.offset() < dyn_start + ai.dyn_size);
    for cpu in 0..4 {
        let pa = per_cpu_ptr(&k, p, cpu).unwrap();
        assert_eq!(k.phys.read_u64(pa).unwrap(), 0);
        k.phys.write_u64(pa, 0x1000 + u64::from(cpu)).unwrap();
    }
    for cpu in 0..4 {
        let pa = per_cpu_ptr(&k, p, cpu).unwrap();
        assert_eq!(k.phys.read_u64(pa).unwrap(), 0x1000 + u64::from(cpu));
    }
    assert_eq!(per_cpu_ptr(&k, p, 4), None);
    // Freed and asked for again: the same place, zeroed again.
    free_percpu(&k, Some(p)).unwrap();
    let q = __alloc_percpu(&k, 64, 8).unwrap();
    assert_eq!(q, p);
    assert_eq!(k.phys.read_u64(per_cpu_ptr(&k, q, 2).unwrap()).unwrap(), 0);
    // Alignment is honoured.
    let r = __alloc_percpu(&k, 4, 4).unwrap();
    let s = __alloc_percpu(&k, 8, 256).unwrap();
    // First fit: a small request may land in a gap the aligned pageset areas left.
    assert!(r.offset() + 4 <= p.offset() || r.offset() >= p.offset() + 64);
    assert_eq!(s.offset() % 256, 0);
}

#[test]
fn a_bad_free_is_refused_and_changes_nothing() {
    let k = booted(2);
    let p = __alloc_percpu(&k, 32, 8).unwrap();
    let before = k.percpu.free_bytes(false);
    let inside = PcpuPtr::from_value(p.offset() + 8, k.percpu.unit_size()).unwrap();
    assert_eq!(
        free_percpu(&k, Some(inside)),
        Err(PcpuFreeError::NotAllocated(p.offset() + 8))
    );
    assert_eq!(k.percpu.free_bytes(false), before);
    free_percpu(&k, Some(p)).unwrap();
    assert_eq!(k.percpu.free_bytes(false), before + 32);
    assert!(free_percpu(&k, Some(p)).is_err(), "a second free");
    assert_eq!(k.percpu.free_bytes(false), before + 32);
    free_percpu(&k, None).unwrap();
    // The static area is nobody's allocation either.
    let st = PcpuPtr::from_value(0, k.percpu.unit_size()).unwrap();
    assert!(free_percpu(&k, Some(st)).is_err());
}

#[test]
fn illegal_requests_and_a_full_chunk_give_null_with_the_kernel_s_warnings() {
    let k = booted(2);
    assert_eq!(__alloc_percpu(&k, 0, 8), None);
    assert_eq!(__alloc_percpu(&k, 40000, 8), None);
    assert_eq!(__alloc_percpu(&k, 8, 12), None);
    assert_eq!(__alloc_percpu(&k, 8, 8192), None);
    let warned = |t: &str| {
        k.printk
            .lines()
            .into_iter()
            .filter(|l| l.text.contains(t))
            .count()
    };
    assert_eq!(warned("for percpu allocation"), 4);
    // ALIGN in size_t wraps the largest size to 0, as the kernel's message then says.
    assert_eq!(__alloc_percpu(&k, u64::MAX, 0), None);
    assert_eq!(warned("illegal size (0) or align (4)"), 1);
    // Fill the dynamic part, then ask twelve more times: ten reports, then the limit line.
    let free = k.percpu.free_bytes(false);
    let mut got = 0;
    while __alloc_percpu(&k, 1024, 4).is_some() {
        got += 1024;
    }
    assert!(got <= free && free - got < 1024, "{got} of {free}");
    for _ in 0..11 {
        assert_eq!(__alloc_percpu(&k, 1024, 4), None);
    }
    assert_eq!(
        warned("percpu: allocation failed, size=1024 align=4 atomic=0"),
        10
    );
    assert_eq!(warned("percpu: limit reached, disable warning"), 1);
    // The reserve is separate.
    assert!(__alloc_reserved_percpu(&k, 1024, 8).is_some());
}

#[test]
fn threads_allocate_and_free_concurrently_without_losing_space() {
    let k = booted(2);
    let free = k.percpu.free_bytes(false);
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let k = &k;
            s.spawn(move || {
                for i in 0..2000u64 {
                    let size = 4 * (1 + (i * 7 + t) % 16);
                    let p = __alloc_percpu(k, size, 4).unwrap();
                    // Use exactly the bytes handed out, on this thread's CPU.
                    let pa = per_cpu_ptr(k, p, t as u32).unwrap();
                    k.phys.memset(pa, (i % 251) as u8, size).unwrap();
                    free_percpu(k, Some(p)).unwrap();
                }
            });
        }
    });
    assert_eq!(k.percpu.free_bytes(false), free);
}
