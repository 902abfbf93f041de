use super::*;
use crate::era::{Arch, KernelVersion};

/// memblock as a QEMU 4 GiB guest's 6.6 kernel has it when init_mem_mapping starts (the
/// memory and reservations of a memblock=debug log of such a guest).
fn qemu_4g(release: &str) -> (Era, Memblock) {
    let era = Era::new(KernelVersion::parse(release).unwrap(), Arch::X86_64);
    let mut mb = Memblock::new(era.clone(), Printk::new(), Trace::new(), None);
    mb.memblock_add(0x1000, 0x9e000).unwrap();
    mb.memblock_add(0x10_0000, 0xbfee_0000).unwrap();
    mb.memblock_add(0x1_0000_0000, 0x4000_0000).unwrap();
    mb.memblock_reserve(0, 0x10_0000).unwrap();
    mb.memblock_reserve(0x100_0000, 0x260_9000).unwrap();
    (era, mb)
}

fn map(release: &str, gbpages: bool, kaslr: bool, buf: (u64, bool)) -> (RunOut, Memblock) {
    let (era, mut mb) = qemu_4g(release);
    let inputs = MapInputs {
        gbpages,
        kaslr,
        pgt_buf_pages: 6,
    };
    let out = run(
        &era,
        &mut mb,
        None,
        None,
        Trace::new(),
        inputs,
        buf,
        0x360_9000,
        0x1_4000_0000,
    )
    .unwrap();
    (out, mb)
}

/// The brk buffer inside the kernel image (at its link address).
const BUF: (u64, bool) = (0x3603, false);

#[test]
fn a_4g_guest_with_gb_pages_takes_two_pages_from_the_top_of_ram() {
    // [1 MiB, 3 GiB) holds the brk buffer, so its PMD page (2-3 GiB) and PTE page (the
    // 4 KiB tail below 0xbffe0000) come from memblock, top-down under 5 GiB: the two
    // allocations a 6.6 memblock=debug log of this guest shows.
    let (out, _) = map("6.6.0", true, false, BUF);
    assert_eq!(
        out.taken,
        alloc::vec![(0x1_3fff_f000, 4096), (0x1_3fff_e000, 4096)]
    );
    // ISA: PUD, PMD and PTE pages; the first 2 MiB step becomes a 1 GiB page (all of
    // 4-5 GiB is RAM) and needs none.
    assert_eq!(out.brk_pages, 3);
    assert_eq!(out.max_pfn_mapped, 0x14_0000);
}

#[test]
fn without_gb_pages_the_second_gigabyte_needs_a_pmd_page_too() {
    let (out, _) = map("6.6.0", false, false, BUF);
    assert_eq!(out.taken.len(), 3);
    assert_eq!(out.pages[2], 0);
    // Every RAM page is mapped exactly once when no large page is met twice.
    let kb = out.pages[0] * 4 + out.pages[1] * 2048;
    assert_eq!(kb, (0xbffe_0000 + 0x4000_0000) >> 10);
}

#[test]
fn memory_kaslr_takes_a_brk_page_for_the_trampoline() {
    let (plain, _) = map("6.6.0", true, false, BUF);
    let (kaslr, _) = map("6.6.0", true, true, BUF);
    assert_eq!(kaslr.brk_pages, plain.brk_pages + 1);
    assert_eq!(kaslr.taken, plain.taken);
}

#[test]
fn a_kernel_elsewhere_leaves_the_tables_in_the_brk_buffer() {
    let (out, mb) = map("6.6.0", true, false, (0x3603, true));
    assert!(out.taken.is_empty());
    assert_eq!(out.brk_pages, 3 + 2);
    assert!(!mb.memblock_is_region_reserved(0x1_3ff0_0000, 0x10_0000));
}

#[test]
fn a_gigabyte_page_met_again_is_counted_again() {
    // [4 GiB, 5 GiB) is one 1 GiB page that three steps of memory_map_top_down reach
    // (adjust_range_page_size_mask widens each piece to it); phys_pud_init counts it each time.
    let (out, _) = map("6.6.0", true, false, BUF);
    assert_eq!(out.pages[2], 1 + 3);
}

#[test]
fn split_mem_range_cuts_and_widens_as_the_kernel_prints() {
    // 3.19: "[mem 0x00100000-0xcff8ffff]" printed as 4k / 2M / 1G / 2M / 4k pieces.
    let all = |_: u64, _: u64| false;
    let mr = split_mem_range(0x10_0000, 0xcff9_0000, MASK_2M | MASK_1G, all);
    assert_eq!(
        mr,
        alloc::vec![
            (0x10_0000, 0x20_0000, 0),
            (0x20_0000, 0x4000_0000, MASK_2M),
            (0x4000_0000, 0xc000_0000, MASK_2M | MASK_1G),
            (0xc000_0000, 0xcfe0_0000, MASK_2M),
            (0xcfe0_0000, 0xcff9_0000, 0),
        ]
    );
    // A 2 MiB piece inside a gigabyte that is all RAM becomes a 1 GiB one.
    let ram = |b: u64, s: u64| b >= 0x1_0000_0000 && b + s <= 0x1_4000_0000;
    let mr = split_mem_range(0x1_3fe0_0000, 0x1_4000_0000, MASK_2M | MASK_1G, ram);
    assert_eq!(
        mr,
        alloc::vec![(0x1_3fe0_0000, 0x1_4000_0000, MASK_2M | MASK_1G)]
    );
}

#[test]
fn steps_grow_by_32_before_3_18_and_by_256_after() {
    // 3.16 maps [0x15c000000, 0x15fe00000) after the first 2 MiB (64 MiB steps); 3.19
    // maps down to the 512 MiB boundary.
    for (release, second) in [("3.16.0", 0x1_3c00_0000u64), ("3.19.0", 0x1_2000_0000)] {
        let (era, mut mb) = qemu_4g(release);
        let printk = Printk::new();
        let inputs = MapInputs {
            gbpages: false,
            kaslr: false,
            pgt_buf_pages: 6,
        };
        run(
            &era,
            &mut mb,
            None,
            Some(&printk),
            Trace::new(),
            inputs,
            BUF,
            0x360_9000,
            0x1_4000_0000,
        )
        .unwrap();
        let lines: Vec<String> = printk
            .lines()
            .into_iter()
            .map(|l| l.text)
            .filter(|t| t.starts_with("init_memory_mapping"))
            .collect();
        assert_eq!(
            lines[2],
            format!("init_memory_mapping: [mem {second:#010x}-0x13fdfffff]"),
            "{release}"
        );
    }
}

/// A log whose BRK lines no setting of the open inputs can reproduce: the layout the model
/// falls back on is flagged, not passed off as the kernel's.
#[test]
fn a_brk_count_no_setting_reproduces_is_flagged() {
    let boot = |used: Option<u64>| {
        let mut m = crate::machine::Machine::qemu(4 << 30, 2).unwrap();
        m.era = Era::new(KernelVersion::new(4, 9, 0), Arch::X86_64);
        m.pgt_buf_used = used;
        let mut k = crate::kernel::Kernel::new(m).unwrap();
        crate::init::main::start_kernel(&mut k).unwrap();
        k
    };
    // What the defaults take on this machine is reproducible, so nothing is flagged.
    let used = boot(None).direct_map.brk_pages;
    assert!(boot(Some(used)).direct_map.uncertain.is_none());
    let k = boot(Some(used + 100));
    let why = k.direct_map.uncertain.expect("flagged");
    assert!(
        why.contains(&alloc::format!("the log's {} BRK pages", used + 100)),
        "{why}"
    );
}

/// Walk the direct map's tables in simulated RAM: (4 KiB, 2 MiB, 1 GiB) entries present,
/// each checked to map the physical address its place in the tables stands for.
fn walk(ram: &PhysMem, pgd: &[(u64, u64)]) -> [u64; 3] {
    let entry = |pa: u64| ram.read_u64(PhysAddr(pa)).unwrap();
    let mut n = [0; 3];
    for &(i, pud) in pgd {
        for j in 0..512 {
            let e = entry(pud + j * 8);
            let at = (i << 39) | (j << 30);
            if e & PRESENT == 0 {
                continue;
            }
            if e & PSE != 0 {
                assert_eq!(e & PTE_PFN_MASK, at);
                n[2] += 1;
                continue;
            }
            for k in 0..512 {
                let e = entry((e & PTE_PFN_MASK) + k * 8);
                let at = at | (k << 21);
                if e & PRESENT == 0 {
                    continue;
                }
                if e & PSE != 0 {
                    assert_eq!(e & PTE_PFN_MASK, at);
                    n[1] += 1;
                    continue;
                }
                for l in 0..512 {
                    let e = entry((e & PTE_PFN_MASK) + l * 8);
                    if e & PRESENT != 0 {
                        assert_eq!(e & PTE_PFN_MASK, at | (l << 12));
                        n[0] += 1;
                    }
                }
            }
        }
    }
    n
}

#[test]
fn a_trial_run_takes_what_the_run_in_simulated_ram_takes_and_the_tables_map_ram() {
    let end = 0x1_4000_0000;
    let ram = PhysMem::map_host(end).unwrap();
    for gbpages in [false, true] {
        let inputs = MapInputs {
            gbpages,
            kaslr: false,
            pgt_buf_pages: 6,
        };
        let (era, mut trial_mb) = qemu_4g("6.6.0");
        let (_, mut mb) = qemu_4g("6.6.0");
        let bound = direct_map_pages_bound(&mb, end, gbpages);
        let trial = run(
            &era,
            &mut trial_mb,
            None,
            None,
            Trace::unrecorded(),
            inputs,
            BUF,
            0x360_9000,
            end,
        )
        .unwrap();
        let real = run(
            &era,
            &mut mb,
            Some(&ram),
            None,
            Trace::new(),
            inputs,
            BUF,
            0x360_9000,
            end,
        )
        .unwrap();
        assert_eq!(trial.pgd, real.pgd);
        assert_eq!(trial.pages, real.pages);
        assert_eq!(trial.taken, real.taken);
        assert_eq!(trial.brk_pages, real.brk_pages);
        assert_eq!(trial_mb.reserved.regions, mb.reserved.regions);
        // No large page is met twice without GB pages, so the tables hold what was counted.
        if !gbpages {
            assert_eq!(walk(&ram, &real.pgd), real.pages);
        } else {
            assert!(walk(&ram, &real.pgd)[2] > 0);
        }
        let used = real.brk_pages + real.taken.len() as u64;
        assert!(used <= bound, "{used} page-table pages, bound {bound}");
        ram.memset(PhysAddr(0), 0, end).unwrap();
    }
}

/// The `init_memory_mapping` lines of one run over `mb` up to `end`, and the run.
fn mapping_lines(era: &Era, mb: &mut Memblock, end: u64) -> (Vec<String>, RunOut) {
    let printk = Printk::new();
    let inputs = MapInputs {
        gbpages: true,
        kaslr: false,
        pgt_buf_pages: 6,
    };
    let out = run(
        era,
        mb,
        None,
        Some(&printk),
        Trace::new(),
        inputs,
        (0x3603, true),
        0x360_9000,
        end,
    )
    .unwrap();
    let lines = printk
        .lines()
        .into_iter()
        .map(|l| l.text)
        .filter(|t| t.starts_with("init_memory_mapping") || t.starts_with("Failed"))
        .collect();
    (lines, out)
}

#[test]
fn a_walk_down_over_a_hole_maps_each_range_as_the_step_by_step_walk_does() {
    // 2 GiB low and 1 GiB at 16 TiB, 3.19 (steps << 8): 2 MiB at the top, then 510 MiB,
    // 512 MiB (the step is now 128 GiB), then, 127 empty steps later, [1 MiB, 128 GiB).
    let era = Era::new(KernelVersion::parse("3.19.0").unwrap(), Arch::X86_64);
    let mut mb = Memblock::new(era.clone(), Printk::new(), Trace::new(), None);
    mb.memblock_add(0x10_0000, 0x7ff0_0000).unwrap();
    mb.memblock_add(0x1000_0000_0000, 0x4000_0000).unwrap();
    let (lines, _) = mapping_lines(&era, &mut mb, 0x1000_4000_0000);
    assert_eq!(
        lines,
        [
            "init_memory_mapping: [mem 0x00000000-0x000fffff]",
            "init_memory_mapping: [mem 0x10003fe00000-0x10003fffffff]",
            "init_memory_mapping: [mem 0x100020000000-0x10003fdfffff]",
            "init_memory_mapping: [mem 0x100000000000-0x10001fffffff]",
            "init_memory_mapping: [mem 0x00100000-0x7fffffff]",
        ]
    );
}

#[test]
fn no_free_2m_block_for_the_probe_warns_from_6_15_and_frees_address_0_before() {
    // 1 MiB of RAM under a max_pfn of 64 TiB (6.11+ counts ACPI data in it): the probe
    // fails. 6.15 warns and walks down from 64 TiB, 2 MiB at a time until it meets RAM;
    // 6.12.20 frees [0, 2 MiB) from memblock.reserved and walks from 2 MiB. Both map the
    // same RAM. (Their init_memory_mapping lines are pr_debug, not printed.)
    let end = 0x4000_0000_0000u64;
    let mut seen = Vec::new();
    for release in ["6.15.0", "6.12.20"] {
        let era = Era::new(KernelVersion::parse(release).unwrap(), Arch::X86_64);
        let mut mb = Memblock::new(era.clone(), Printk::new(), Trace::new(), None);
        mb.memblock_add(0x1ff0_0000, 0x10_0000).unwrap();
        mb.memblock_reserve(0, 0x10_0000).unwrap();
        let (lines, out) = mapping_lines(&era, &mut mb, end);
        let warned = lines.iter().any(|l| l.starts_with("Failed to release"));
        assert_eq!(warned, top_down_checks_probe(&era), "{release}");
        assert_eq!(
            mb.memblock_is_region_reserved(0, 0x1000),
            warned,
            "{release}"
        );
        assert_eq!(out.max_pfn_mapped, 0x2_0000, "{release}");
        seen.push((out.pages, out.pgd));
    }
    assert_eq!(seen[0], seen[1]);
    // The ISA megabyte and the RAM megabyte, 4 KiB pages each.
    assert_eq!(seen[0].0, [512, 0, 0]);
}

#[test]
fn the_probe_check_reached_the_stable_lines_it_was_queued_for() {
    let has =
        |r: &str| top_down_checks_probe(&Era::new(KernelVersion::parse(r).unwrap(), Arch::X86_64));
    assert!(has("6.15.0") && has("6.14.9") && has("6.12.31") && has("6.6.93"));
    assert!(!has("6.14.8") && !has("6.12.30") && !has("6.6.92") && !has("6.1.140"));
}

#[test]
fn a_walk_up_over_a_hole_maps_each_range_as_the_step_by_step_walk_does() {
    // The same machine bottom-up: from the kernel's end up in growing steps (the 128 GiB
    // steps between 2 GiB and 16 TiB map nothing), then the ISA end up to the kernel.
    let era = Era::new(KernelVersion::parse("3.19.0").unwrap(), Arch::X86_64);
    let mut mb = Memblock::new(era.clone(), Printk::new(), Trace::new(), None);
    mb.memblock_add(0x10_0000, 0x7ff0_0000).unwrap();
    mb.memblock_add(0x1000_0000_0000, 0x4000_0000).unwrap();
    mb.memblock_set_bottom_up(true);
    let (lines, _) = mapping_lines(&era, &mut mb, 0x1000_4000_0000);
    assert_eq!(
        lines,
        [
            "init_memory_mapping: [mem 0x00000000-0x000fffff]",
            "init_memory_mapping: [mem 0x03609000-0x037fffff]",
            "init_memory_mapping: [mem 0x03800000-0x039fffff]",
            "init_memory_mapping: [mem 0x03a00000-0x1fffffff]",
            "init_memory_mapping: [mem 0x20000000-0x3fffffff]",
            "init_memory_mapping: [mem 0x40000000-0x7fffffff]",
            "init_memory_mapping: [mem 0x100000000000-0x10003fffffff]",
            "init_memory_mapping: [mem 0x00100000-0x001fffff]",
            "init_memory_mapping: [mem 0x00200000-0x003fffff]",
            "init_memory_mapping: [mem 0x00400000-0x03608fff]",
        ]
    );
}
