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
