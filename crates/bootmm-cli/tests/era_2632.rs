// SPDX-License-Identifier: GPL-2.0-only
//! 2.6.32 x86_64 boots to the end on the bootmem bitmap: early_res's named list handed to
//! the bitmap, sparse's, percpu's and the hashes' allocations from it, `free_all_bootmem`
//! handing its free pages to the buddy allocator, and the era's "Memory:" line.

mod common;
use common::bootmm_rc;

#[test]
fn the_debian_2_6_32_log_is_exact_to_its_last_checked_line() {
    let log = common::corpus("dmesg/026-qemu-512m-2.6.32-debian.txt");
    let (rc, out, err) = bootmm_rc(&["check", "--verbose", log.to_str().unwrap()], b"");
    assert_eq!(rc, 0, "{out}{err}");
    assert!(out.contains(" 0 differ, 0 not modeled"), "{out}");
    for family in [
        "[bootmem]",
        "[nosave]",
        "[percpu]",
        "[zonelists]",
        "[hash tables]",
        "[SLUB]",
    ] {
        assert!(out.contains(family), "{family} not compared:\n{out}");
    }
    // Every entry of the early reservation list was compared, and the bitmap's line.
    for l in [
        "(7 early reservations) ==> bootmem [0000000000 - 001fffd000]",
        "  #6 [0000008000 - 0000009000]          PGTABLE ==> [0000008000 - 0000009000]",
        "  bootmap [0000000000011000 -  0000000000014fff] pages 4",
        "PERCPU: Embedded 30 pages/cpu @ffff880001800000 s90328 r8192 d24360 u2097152",
    ] {
        assert!(out.contains(l), "{l}\n{out}");
    }
}

#[test]
fn a_2_6_32_boot_hands_the_bitmap_to_the_buddy_allocator() {
    let (rc, out, err) = bootmm_rc(
        &["boot", "--kernel", "2.6.32", "--mem", "2G", "--trace"],
        b"",
    );
    assert_eq!(rc, 0, "{err}");
    let log: Vec<&str> = out.lines().collect();
    let at = |p: &str| log.iter().position(|l| l.starts_with(p));
    let order = [
        "Bootmem setup node 0 ",
        "  bootmap [",
        "(",
        "  #0 [0000000000 - 0000001000]   BIOS data page ==> ",
        " [ffffea0000000000-",
        "PERCPU: Embedded ",
        "Built 1 zonelists",
        "Memory: ",
        "SLUB: Genslabs=",
    ];
    let mut last = 0;
    for p in order {
        let i = at(p).unwrap_or_else(|| panic!("no {p:?} line:\n{out}"));
        assert!(i >= last, "{p:?} out of order:\n{out}");
        last = i;
    }
    // The "Memory:" line adds up: available + absent + reserved = max_pfn's size.
    let mem = log[at("Memory: ").unwrap()];
    let num = |after: &str| -> u64 {
        let s = &mem[..mem.find(after).unwrap()];
        s.rsplit(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let avail: u64 = mem["Memory: ".len()..mem.find("k/").unwrap()]
        .parse()
        .unwrap();
    let total = num("k available");
    assert_eq!(avail + num("k absent") + num("k reserved"), total, "{mem}");
    // The hand-over ran on the bitmap, each node's free_all_bootmem_node in mm/bootmem.c.
    assert!(
        out.contains("- free_all_bootmem_core mm/bootmem.c"),
        "{out}"
    );
    assert!(
        out.contains("- numa_free_all_bootmem arch/x86/mm/numa_64.c"),
        "{out}"
    );
}

#[test]
fn a_2_6_32_machine_allocates_and_frees_pages() {
    let (rc, out, err) = bootmm_rc(
        &["script", "--kernel", "2.6.32", "--mem", "1G"],
        b"p = alloc_pages(GFP_KERNEL, 3)\n__free_pages(p, 3)\ncat(\"/proc/buddyinfo\")\n",
    );
    assert_eq!(rc, 0, "{out}{err}");
    assert!(out.contains("Node 0, zone    DMA32"), "{out}");
}

/// A 2.6 log's early reservation list is read with bounds, and a 2.6.32 kernel the model
/// cannot boot (no CONFIG_NUMA: `contig_initmem_init`'s bitmap) says so with exit 3.
#[test]
fn early_reservation_inputs_are_bounded_and_unbooted_kernels_say_why() {
    let dir = std::env::temp_dir().join(format!("bootmm-2632-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let head = "[    0.000000] Linux version 2.6.32-5-amd64\n\
                [    0.000000]  BIOS-e820: 0000000000000000 - 000000000009fc00 (usable)\n\
                [    0.000000]  BIOS-e820: 0000000000100000 - 0000000020000000 (usable)\n\
                [    0.000000]   #2 [0001000000 - 0001800000]    TEXT DATA BSS ==> [0001000000 - 0001800000]\n";
    let huge = dir.join("huge-brk.txt");
    std::fs::write(
        &huge,
        format!("{head}[    0.000000]   #5 [0001800000 - ffffffffff00]              BRK ==> [0001800000 - 001fffffff]\n"),
    )
    .unwrap();
    let (rc, _, err) = bootmm_rc(&["check", huge.to_str().unwrap()], b"");
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("line 5: a BRK early reservation of"), "{err}");
    let flat = dir.join("no-numa.txt");
    std::fs::write(
        &flat,
        format!("{head}[    0.000000]   #5 [0001800000 - 0001800079]              BRK ==> [0001800000 - 0001800079]\n"),
    )
    .unwrap();
    let (rc, _, err) = bootmm_rc(&["check", flat.to_str().unwrap()], b"");
    assert_eq!(rc, 3, "{err}");
    assert!(err.contains("without CONFIG_NUMA"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
