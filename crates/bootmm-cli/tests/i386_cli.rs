// SPDX-License-Identifier: GPL-2.0-only
//! i386: the lowmem/HIGHMEM split of find_low_pfn_range and initmem_init (setup_memory in
//! 2.6.24), its command-line parameters and the kernel's own warnings, and the boot's
//! honest stop where the model ends.

mod common;
use common::bootmm_rc;

/// The `…MB HIGHMEM available.` and `…MB LOWMEM available.` figures of a boot.
fn split(out: &str) -> (u64, u64) {
    let mb = |suffix: &str| {
        out.lines()
            .find_map(|l| l.strip_suffix(suffix))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no '{suffix}' line in:\n{out}"))
    };
    (mb("MB HIGHMEM available."), mb("MB LOWMEM available."))
}

fn boot(args: &[&str]) -> (i32, String, String) {
    let mut a = vec!["boot"];
    a.extend_from_slice(args);
    bootmm_rc(&a, b"")
}

#[test]
fn the_seed_machine_splits_at_896_mib() {
    // Seed note 001: a 2.6 i386 machine with exactly 1 GiB: max_low_pfn = 896 MiB / 4 KiB
    // (229376), highstart_pfn = max_low_pfn, highend_pfn = max_pfn = 1 GiB / 4 KiB.
    let dir = std::env::temp_dir().join(format!("bootmm-i386-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let e820 = dir.join("1g.e820");
    std::fs::write(&e820, "0x0 0x9fc00 usable\n0x100000 0x40000000 usable\n").unwrap();
    let seed = [
        "--i386",
        "i386",
        "--kernel",
        "2.6.24",
        "--e820",
        e820.to_str().unwrap(),
    ];
    let (rc, out, err) = boot(&seed);
    let (high, low) = split(&out);
    assert_eq!(low, 229376 * 4 / 1024, "max_low_pfn 229376");
    assert_eq!(high, (262144 - 229376) * 4 / 1024, "highend_pfn 262144");
    // add_active_range(0, 0, highend_pfn): one active range over all of RAM.
    assert!(
        out.contains("early_node_map[1] active PFN ranges\n    0: 0x00000000 -> 0x00040000\n"),
        "{out}"
    );
    assert!(out.contains("On node 0 totalpages: 262144\n"), "{out}");
    // The boot runs to the end on the bitmap allocator, HIGHMEM freed page by page.
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains(", 131072k highmem)\n"), "{out}");
    // The call tree has the note's functions in its order, each with its 2.6.24 source
    // file.
    let (_, out, _) = boot(&[&seed[..], &["--trace"]].concat());
    let want = [
        "- page_address_init mm/highmem.c",
        "- setup_arch arch/x86/kernel/setup.c",
        "- find_max_low_pfn arch/x86/kernel/setup_32.c",
        "- setup_memory arch/x86/kernel/setup_32.c",
        "- setup_bootmem_allocator arch/x86/kernel/setup_32.c",
        "- init_bootmem mm/bootmem.c",
        "- register_bootmem_low_pages arch/x86/kernel/setup_32.c",
        "- reserve_bootmem mm/bootmem.c",
        "- smp_alloc_memory arch/x86/kernel/smpboot_32.c",
        "- paging_init arch/x86/mm/init_32.c",
        "- pagetable_init arch/x86/mm/init_32.c",
        "- permanent_kmaps_init arch/x86/mm/init_32.c",
        "- page_table_range_init arch/x86/mm/init_32.c",
        "- zone_sizes_init arch/x86/kernel/setup_32.c",
        "- add_active_range mm/page_alloc.c",
        "- free_area_init_nodes mm/page_alloc.c",
        "- free_area_init_node mm/page_alloc.c",
        "- calculate_node_totalpages mm/page_alloc.c",
        "- alloc_node_mem_map mm/page_alloc.c",
        "- free_area_init_core mm/page_alloc.c",
        "- setup_per_cpu_areas init/main.c",
        "- build_all_zonelists mm/page_alloc.c",
        "- mem_init arch/x86/mm/init_32.c",
        "- free_all_bootmem mm/bootmem.c",
        "- free_all_bootmem_core mm/bootmem.c",
        "- set_highmem_pages_init arch/x86/mm/highmem_32.c",
        "- kmem_cache_init mm/slub.c",
        "- setup_per_cpu_pageset mm/page_alloc.c",
    ];
    let mut at = 0;
    for w in want {
        let i = out[at..]
            .find(w)
            .unwrap_or_else(|| panic!("{w} after byte {at} in:\n{out}"));
        at += i + w.len();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn later_kernels_subtract_the_fixmap_and_pkmap_from_lowmem() {
    // 3.x and later: MAXMEM = VMALLOC_END - PAGE_OFFSET - 128 MiB, below 896 MiB.
    let (_, out, _) = boot(&["--i386", "pae", "--kernel", "3.8", "--mem", "2G"]);
    let (high, low) = split(&out);
    assert!(low < 896 && low > 850, "{low}");
    // All RAM is lowmem or HIGHMEM (2 GiB less QEMU's top 128 KiB; each figure rounds down).
    assert!((2046..=2047).contains(&(high + low)), "{high} + {low}");
}

#[test]
fn vmalloc_and_highmem_parameters_move_the_split() {
    let base = split(&boot(&["--i386", "pae", "--mem", "2G"]).1);
    // vmalloc=256M: 256 MiB + the 8 MiB guard instead of 128 MiB.
    let v = split(&boot(&["--i386", "pae", "--mem", "2G", "--cmdline", "vmalloc=256M"]).1);
    assert_eq!(base.1 - v.1, 136);
    assert_eq!(v.0 - base.0, 136);
    // vmalloc=4G wraps the unsigned int __VMALLOC_RESERVE to 8 MiB, as in the kernel.
    let w = split(&boot(&["--i386", "pae", "--mem", "2G", "--cmdline", "vmalloc=4G"]).1);
    assert_eq!(w.1 - base.1, 120);
    // highmem=1G: exactly that much HIGHMEM, max_pfn trimmed to lowmem + 1 GiB.
    let h = split(&boot(&["--i386", "pae", "--mem", "2G", "--cmdline", "highmem=1G"]).1);
    assert_eq!(h, (1024, base.1));
}

#[test]
fn impossible_splits_get_the_kernels_warnings_or_a_refusal() {
    let (_, out, _) = boot(&["--i386", "pae", "--mem", "2G", "--cmdline", "highmem=4G"]);
    assert!(
        out.contains("highmem pages available, ignoring highmem size of 4096MB!"),
        "{out}"
    );
    let (_, out, _) = boot(&[
        "--i386",
        "pae",
        "--mem",
        "512M",
        "--cmdline",
        "highmem=480M",
    ]);
    assert!(
        out.contains("highmem size (480MB) results in <64MB lowmem, ignoring it!"),
        "{out}"
    );
    assert_eq!(split(&out).0, 0);
    // No lowmem left at all: the kernel would not notice; bootmm refuses, saying why.
    let (rc, _, err) = boot(&["--i386", "pae", "--mem", "2G", "--cmdline", "vmalloc=1000M"]);
    assert_eq!(rc, 1);
    assert!(
        err.contains("less than 64 MiB of lowmem would be left"),
        "{err}"
    );
    // Without PAE the RAM above 4 GiB is out of reach (max_arch_pfn 1 << 20); with PAE
    // above 64 GiB (1 << 24).
    let (_, out, _) = boot(&["--i386", "i386", "--mem", "8G"]);
    assert!(out.contains("max_arch_pfn = 0x100000\n"), "{out}");
    let (h, l) = split(&out);
    assert!(h + l < 4096, "{h} + {l}");
    let (_, out, _) = boot(&["--i386", "pae", "--mem", "80G"]);
    assert!(
        out.contains("last_pfn = 0x1000000 max_arch_pfn = 0x1000000"),
        "{out}"
    );
    let (h, l) = split(&out);
    assert_eq!(h + l, 65535, "64 GiB less the first MiB's rounding");
}

#[test]
fn i386_hands_highmem_over_and_refuses_what_is_not_modelled() {
    // The HIGHMEM zone is on the free lists after the boot; GFP_HIGHUSER takes from it.
    let (rc, out, err) = bootmm_rc(
        &["script", "--i386", "pae", "--kernel", "3.8", "--mem", "2G"],
        b"p = alloc_pages(GFP_HIGHUSER, 0)\nq = alloc_pages(GFP_KERNEL, 0)\n",
    );
    assert_eq!(rc, 0, "{err}");
    let pfn = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split("pfn 0x").nth(1))
            .and_then(|v| u64::from_str_radix(v.split_whitespace().next()?, 16).ok())
            .unwrap_or_else(|| panic!("{name} in {out}"))
    };
    let (_, boot_out, _) = boot(&["--i386", "pae", "--kernel", "3.8", "--mem", "2G"]);
    let low_mb = split(&boot_out).1;
    assert!(pfn("p =") >= low_mb << 8, "HIGHMEM page above lowmem");
    assert!(pfn("q =") < low_mb << 8, "GFP_KERNEL from lowmem");
    // The shadow window of bootmm's own struct pages is not the machine's memory: on a
    // machine whose map ends at 1 GiB the window starts there, below PAGE_OFFSET, where a
    // script address is physical.
    let dir = std::env::temp_dir().join(format!("bootmm-i386-shadow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let e820 = dir.join("1g.e820");
    std::fs::write(&e820, "0x0 0x9fc00 usable\n0x100000 0x3ff00000 usable\n").unwrap();
    let (rc, _, err) = bootmm_rc(
        &["script", "--i386", "pae", "--e820", e820.to_str().unwrap()],
        b"poke(0x40000000, 1)\n",
    );
    assert_eq!(rc, 1);
    assert!(err.contains("shadow window"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kmap_from_a_script_goes_through_the_pkmap_and_fixmap_tables() {
    let script = b"p = alloc_pages(GFP_HIGHUSER, 0)\nv = kmap(p)\nwalk(v)\npoke(v + 16, 0x5a)\ncpu(1)\na = kmap_atomic(p)\npeek(a + 16)\nkunmap_atomic(a)\ncpu(0)\nkunmap(p)\nkmap_flush_unused()\nwalk(v)\nkunmap(p)\n";
    let (rc, out, err) = bootmm_rc(
        &[
            "script", "--i386", "pae", "--kernel", "3.8", "--mem", "2G", "--cpus", "2",
        ],
        script,
    );
    // The last line, a kunmap of a page no longer kmapped, is the kernel's BUG.
    assert_eq!(rc, 1, "{out}{err}");
    assert!(err.contains("kernel BUG at mm/highmem.c"), "{err}");
    let page = out
        .lines()
        .find_map(|l| l.strip_prefix("p = alloc_pages(GFP_HIGHUSER, 0) = page:pfn 0x"))
        .and_then(|r| u64::from_str_radix(r.split_whitespace().next()?, 16).ok())
        .expect("a page");
    assert!(
        out.contains(&format!("-> {:#x} (pte 4K, entry", page << 12)),
        "the kmap address walks to the page: {out}"
    );
    assert!(out.contains("peek(a + 16) = 90"), "{out}");
    assert!(out.contains(": not mapped"), "flushed: {out}");
}

/// The older eras' zone lines are compared, and exact, each log through its end.
#[test]
fn older_eras_zone_families_are_exact() {
    let cases = [
        ("dmesg/026-qemu-512m-2.6.32-debian.txt", 0),
        // RHEL 6's percpu line differs (its backports, docs/divergences.md).
        ("dmesg/034-nec-express5800-16g-2.6.32-el6.txt", 1),
        ("dmesg/039-qemu-i386-pae-128m-3.2-debian.txt", 0),
        ("dmesg/047-dell-xps-l501x-i386-highmem-3.8g-3.8.txt", 0),
        ("dmesg/056-virtualbox-i386-highmem-2g-4.15.txt", 0),
    ];
    for (log, want_rc) in cases {
        let p = common::corpus(log);
        let (rc, out, err) = bootmm_rc(&["check", "--json", p.to_str().unwrap()], b"");
        assert_eq!(rc, want_rc, "{log}: {err}");
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let lines = v["lines"].as_array().unwrap();
        for fam in ["totalpages", "zone memmap/reserved/LIFO"] {
            let of: Vec<_> = lines.iter().filter(|l| l["family"] == fam).collect();
            assert!(!of.is_empty(), "{log}: no {fam} line compared");
            assert!(
                of.iter().all(|l| l["status"] == "exact"),
                "{log}: {fam}: {of:?}"
            );
        }
    }
}

#[test]
fn walk_translates_the_direct_map_through_swapper_pg_dir() {
    // A lowmem page's direct-map address walks back to the page, with PAE at a 2 MiB page
    // and without at a 4 MiB one; the first MiB (the ISA range) is always 4 KiB pages.
    for (arch, big) in [("pae", "pmd 2M"), ("i386", "pmd 4M")] {
        let (rc, out, err) = bootmm_rc(
            &["script", "--i386", arch, "--kernel", "4.15", "--mem", "2G"],
            b"q = alloc_pages(GFP_KERNEL, 0)\nwalk(0xc0000000 + q)\nwalk(0xc0001000)\n",
        );
        assert_eq!(rc, 0, "{err}");
        let q = out
            .lines()
            .find_map(|l| l.strip_prefix("q = alloc_pages(GFP_KERNEL, 0) = page:pfn 0x"))
            .and_then(|r| u64::from_str_radix(r.split_whitespace().next()?, 16).ok())
            .expect("a page");
        assert!(
            out.contains(&format!(
                "{:#010x} -> {:#x} ({big}",
                0xc000_0000u64 + (q << 12),
                q << 12
            )),
            "{arch}: {out}"
        );
        assert!(
            out.contains("0xc0001000 -> 0x1000 (pte 4K"),
            "{arch}: {out}"
        );
    }
}

/// 2.6.24's single active range spans the PCI hole of a machine with RAM above 4 GiB: the
/// FLATMEM memmap has struct pages for the hole's frames, which stay reserved, and the boot
/// runs to the end with the hole counted in HIGHMEM's span but no page of it freed.
#[test]
fn a_2_6_24_pae_machine_with_a_hole_boots() {
    let (rc, out, err) = boot(&["--i386", "pae", "--kernel", "2.6.24", "--mem", "8G"]);
    assert_eq!(rc, 0, "{err}");
    let mem = out
        .lines()
        .find(|l| l.starts_with("Memory: "))
        .unwrap_or_else(|| panic!("{out}"));
    // num_physpages is highend_pfn: 9 GiB of frames for 8 GiB of RAM and the 1 GiB hole.
    assert!(mem.contains("k/9437184k available"), "{mem}");
    let avail: u64 = mem["Memory: ".len()..mem.find("k/").unwrap()]
        .parse()
        .unwrap();
    assert!(avail < 8 << 20, "{mem}");
}

/// The `a = b` value of a script line starting with `name`.
fn script_value(out: &str, name: &str) -> u64 {
    out.lines()
        .find_map(|l| l.strip_prefix(name)?.rsplit(" = ").next())
        .and_then(|v| u64::from_str_radix(v.trim().trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| panic!("no '{name}' in:\n{out}"))
}

#[test]
fn vmalloc_maps_its_pages_into_swapper_pg_dir() {
    // With PAE (8-byte entries with NX) and without (4-byte entries): the area is in the
    // i386 range, a byte written through it lands in the page the walk names, vmallocinfo
    // prints 8-digit addresses, the ptdump's vmalloc section shows the PTEs, and vfree
    // clears them.
    for (arch, entry_hi) in [("pae", "0x80000000"), ("i386", "0x")] {
        let (rc, out, err) = bootmm_rc(
            &["script", "--i386", arch, "--kernel", "4.15", "--mem", "2G"],
            b"v = vmalloc(12288)\npoke(v + 4100, 0xa5)\nw = walk(v + 4096)\npeek(w + 4)\ncat(\"/proc/vmallocinfo\")\ncat(\"/sys/kernel/debug/page_tables/kernel\")\nvfree(v)\nwalk(v + 4096)\ncat(\"/proc/meminfo\")\n",
        );
        assert_eq!(rc, 0, "{arch}: {err}");
        let v = script_value(&out, "v = vmalloc(12288)");
        let w = script_value(&out, "w = walk(v + 4096)");
        assert!(
            (0xf000_0000..0xff80_0000).contains(&v),
            "{arch}: {v:#x} in the i386 vmalloc range"
        );
        assert!(w < 1 << 32 && w & 0xfff == 0, "{arch}: {w:#x}");
        assert!(out.contains("peek(w + 4) = 165"), "{arch}: {out}");
        let line = format!("{:#010x} -> {w:#x} (pte 4K, entry {entry_hi}", v + 4096);
        assert!(out.contains(&line), "{arch}: {line} in {out}");
        let info = format!(
            "0x{v:08x}-0x{:08x}   16384 bootmm_script pages=3 vmalloc N0=3\n",
            v + 16384
        );
        assert!(out.contains(&info), "{arch}: {info} in {out}");
        // The ptdump: after "vmalloc() Area", a run of the three pages (12K, RW, NX with PAE).
        let dump = out
            .split("---[ vmalloc() Area ]---\n")
            .nth(1)
            .and_then(|r| r.split("---[ vmalloc() End ]---").next())
            .unwrap_or_else(|| panic!("{arch}: no vmalloc section in {out}"));
        let run = dump
            .lines()
            .find(|l| l.starts_with(&format!("0x{v:08x}-0x{:08x}", v + 12288)))
            .unwrap_or_else(|| panic!("{arch}: no run at {v:#x} in {dump}"));
        assert!(run.contains("12K") && run.contains("RW"), "{arch}: {run}");
        assert_eq!(run.contains(" NX "), arch == "pae", "{arch}: {run}");
        assert!(
            out.contains(&format!("{:#010x}: not mapped (pte entry 0x0)", v + 4096)),
            "{arch}: vfree clears the PTEs: {out}"
        );
        // VmallocTotal: VMALLOC_END - VMALLOC_START.
        assert!(
            !out.contains("VmallocTotal:          0 kB"),
            "{arch}: {out}"
        );
    }
}

#[test]
fn vmalloc_pages_come_from_highmem_and_writes_reach_them() {
    // GFP_KERNEL | __GFP_HIGHMEM: with lowmem ending near 885 MiB of 2 GiB, the first
    // vmalloc page comes from ZONE_HIGHMEM, and a write through the vmalloc address reads
    // back through its physical address.
    let (_, boot_out, _) = boot(&["--i386", "pae", "--kernel", "4.15", "--mem", "2G"]);
    let low_mb = split(&boot_out).1;
    for arch in ["pae", "i386"] {
        let (rc, out, err) = bootmm_rc(
            &["script", "--i386", arch, "--kernel", "4.15", "--mem", "2G"],
            b"v = vzalloc(4096)\np = walk(v)\npoke(v + 17, 0x3c)\npeek(p + 17)\npeek(v + 17)\n",
        );
        assert_eq!(rc, 0, "{arch}: {err}");
        let p = script_value(&out, "p = walk(v)");
        assert!(
            p >> 20 >= low_mb,
            "{arch}: {p:#x} above lowmem ({low_mb} MiB)"
        );
        assert!(out.contains("peek(p + 17) = 60"), "{arch}: {out}");
        assert!(out.contains("peek(v + 17) = 60"), "{arch}: {out}");
    }
}

#[test]
fn test_vmalloc_runs_on_i386() {
    for arch in ["pae", "i386"] {
        let (rc, out, err) = bootmm_rc(
            &[
                "test-vmalloc",
                "--i386",
                arch,
                "--kernel",
                "4.15",
                "--mem",
                "2G",
                "--run-test-mask",
                "0x1411",
                "--test-loop-count",
                "50",
            ],
            b"",
        );
        assert_eq!(rc, 0, "{arch}: {err}\n{out}");
        for t in [
            "fix_size_alloc_test",
            "fix_align_alloc_test",
            "vm_map_ram_test",
            "vrealloc_test",
        ] {
            assert!(
                out.contains(&format!("Summary: {t} passed: 1 failed: 0")),
                "{arch}: {t} in {out}"
            );
        }
    }
}
