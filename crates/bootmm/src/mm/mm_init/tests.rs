//! Tests for `mm_init`: formulas on synthetic inputs, and whole blocks of real boot logs
//! rebuilt from the inputs those logs print.

use super::*;
use crate::era::KernelVersion;
use crate::printk::Level;
use alloc::string::ToString;
use alloc::vec;

fn era(v: &str) -> Era {
    Era::new(KernelVersion::parse(v).unwrap(), Arch::X86_64)
}

fn input<'a>(e: &'a Era, mem: &'a [MemRange], max_pfn: u64) -> FreeAreaInit<'a> {
    FreeAreaInit {
        era: e,
        zones: ZoneConfig::x86_default(e),
        mem,
        reserved: &[],
        free: &[],
        online_nodes: None,
        max_low_pfn: max_pfn,
        max_pfn,
        struct_page_size: 64,
        sparsemem: true,
        movable: MovableParams::default(),
        dma_reserve: 0,
    }
}

fn run(inp: &FreeAreaInit<'_>) -> (ZoneLayout, Vec<String>) {
    let log = Printk::new();
    let m = zone_sizes_init(inp.era, &inp.zones, inp.max_low_pfn, inp.max_pfn);
    let l = free_area_init(inp, &m, &log, &Trace::new()).unwrap();
    (l, log.lines().into_iter().map(|l| l.text).collect())
}

#[test]
fn batchsize_caps_per_era() {
    let old = era("4.4");
    let new = era("4.19");
    assert_eq!(zone_batchsize(&old, 3911), 0);
    assert_eq!(zone_batchsize(&new, 3911), 0);
    assert_eq!(zone_batchsize(&old, 568_409 - 8882), 31);
    assert_eq!(zone_batchsize(&new, 417_104 - 6524), 63);
    // 28416 present pages: 27 -> 6 -> rounddown_pow2(9) - 1 = 7 (3.2 i386 log).
    assert_eq!(zone_batchsize(&old, 28416), 7);
    assert_eq!(zone_batchsize(&new, 0), 0);
}

#[test]
fn memmap_size_uses_present_for_big_holes() {
    // 4.4 Surface: DMA32 spanned 1044480, present 568409 -> 8882 pages.
    assert_eq!(calc_memmap_size(1_044_480, 568_409, 64, true), 8882);
    assert_eq!(calc_memmap_size(1_044_480, 568_409, 64, false), 16320);
    assert_eq!(calc_memmap_size(4095, 3996, 64, true), 64);
    assert_eq!(calc_memmap_size(0, 0, 64, true), 0);
}

#[test]
fn dma_reserve_counts_non_free_pages_below_16m() {
    let mem = [MemRange::new(1, 0x9f, 0), MemRange::new(0x100, 0x80000, 0)];
    // Free: [0x1000, 0x9c000) and [0x2000000, ...): kernel at 16 MiB is not below DMA.
    let free = [(0x1000, 0x9c000), (0x100_0000 - 0x10_0000, 0x7000_0000)];
    let present = (0x9f - 1) + (0x1000 - 0x100);
    let free_pages = (0x9c - 1) + (0x1000 - 0xf00);
    assert_eq!(memblock_find_dma_reserve(&mem, &free), present - free_pages);
    // Unaligned free range ends: PFN_UP start, PFN_DOWN end.
    assert_eq!(
        memblock_find_dma_reserve(&[MemRange::new(0, 16, 0)], &[(0x800, 0x3800)]),
        16 - 2
    );
}

#[test]
fn dma_reserve_feeds_the_reserved_line() {
    let e = era("4.4");
    let mem = [MemRange::new(1, 0x9e, 0), MemRange::new(0x100, 0x7ffe0, 0)];
    let mut inp = input(&e, &mem, 0x7ffe0);
    inp.dma_reserve = 21;
    let (l, lines) = run(&inp);
    assert!(lines.contains(&"  DMA zone: 21 pages reserved".to_string()));
    let dma = l.nodes[0].zones[0];
    assert_eq!(dma.present_pages, 0x9d + 0xf00);
    assert_eq!(dma.managed_pages, dma.present_pages - 64 - 21);
    // A reserve that does not fit leaves the zone alone and prints nothing.
    inp.dma_reserve = 1 << 20;
    let (_, lines) = run(&inp);
    assert!(!lines.iter().any(|l| l.contains("reserved")));
}

#[test]
fn zone_limits_3_18_have_no_min() {
    let mem = [MemRange::new(1, 0x9f, 0), MemRange::new(0x100, 0x7ffe0, 0)];
    let e = era("3.18");
    let (l, lines) = run(&input(&e, &mem, 0x7ffe0));
    assert_eq!(l.zone_range(ZoneType::Dma32), Some((0x1000, 0x100000)));
    assert_eq!(l.zone_range(ZoneType::Normal), None);
    assert_eq!(lines[2], "  DMA32    [mem 0x01000000-0xffffffff]");
    assert_eq!(lines[3], "  Normal   empty");
    let e = era("4.4");
    let (l, _) = run(&input(&e, &mem, 0x7ffe0));
    assert_eq!(l.zone_range(ZoneType::Dma32), Some((0x1000, 0x7ffe0)));
}

#[test]
fn kernelcore_and_movablecore_place_zone_movable() {
    let e = era("6.1");
    let mem = [
        MemRange::new(1, 0x9f, 0),
        MemRange::new(0x100, 0xbffdf, 0),
        MemRange::new(0x100000, 0x240000, 0),
    ];
    let total = early_calculate_totalpages(&mem);
    let mut inp = input(&e, &mem, 0x240000);
    inp.movable.kernelcore = Some(CoreParam::Pages(0x180000));
    let (l, lines) = run(&inp);
    // Everything below 4 GiB counts as kernelcore; the rest comes from Normal.
    let below = (0x9f - 1) + (0xbffdf - 0x100);
    let want = crate::include::addr::roundup(0x100000 + (0x180000 - below), 1024);
    assert_eq!(l.movable_pfn(0), want);
    assert!(lines.contains(&alloc::format!("  Node 0: {:#018x}", want << 12)));
    let node = &l.nodes[0];
    let normal = node
        .zones
        .iter()
        .find(|z| z.zone_type == ZoneType::Normal)
        .unwrap();
    let movable = node
        .zones
        .iter()
        .find(|z| z.zone_type == ZoneType::Movable)
        .unwrap();
    assert_eq!(normal.spanned_pages, want - 0x100000);
    assert_eq!(movable.zone_start_pfn, want);
    assert_eq!(movable.spanned_pages, 0x240000 - want);
    assert_eq!(node.node_present_pages, total);

    // movablecore=25% on 4.17+: kernelcore = total - roundup(25%, 1024).
    let mut inp = input(&e, &mem, 0x240000);
    inp.movable.movablecore = Some(cmdline_parse_core(&e, "25%").unwrap());
    let (l, _) = run(&inp);
    let mc = crate::include::addr::roundup(total * 100 * 25 / 10000, 1024);
    let kc = total - mc;
    let want = crate::include::addr::roundup(0x100000 + (kc - below), 1024);
    assert_eq!(l.movable_pfn(0), want);

    // kernelcore larger than memory: no ZONE_MOVABLE.
    let mut inp = input(&e, &mem, 0x240000);
    inp.movable.kernelcore = Some(CoreParam::Pages(total));
    let (l, lines) = run(&inp);
    assert!(l.zone_movable_pfn.is_empty());
    assert!(!lines.iter().any(|l| l.starts_with("  Node")));
}

#[test]
fn kernelcore_spreads_over_nodes() {
    let e = era("5.4");
    let mem = [
        MemRange::new(1, 0x9f, 0),
        MemRange::new(0x100, 0x80000, 0),
        MemRange::new(0x80000, 0xbffe0, 1),
        MemRange::new(0x100000, 0x140000, 1),
    ];
    let mut inp = input(&e, &mem, 0x140000);
    inp.movable.kernelcore = Some(CoreParam::Pages(0xa0000));
    let (l, _) = run(&inp);
    // Normal exists only on node 1; node 0's memory is all below usable_startpfn.
    assert_eq!(l.movable_zone, ZoneType::Normal);
    assert_eq!(l.movable_pfn(0), 0);
    // Node 1's memory below 4 GiB already exceeds its share, so all of its Normal is movable.
    assert_eq!(l.movable_pfn(1), 0x100000);
    let n1 = l.node(1).unwrap();
    let normal = n1
        .zones
        .iter()
        .find(|z| z.zone_type == ZoneType::Normal)
        .unwrap();
    assert_eq!(normal.spanned_pages, 0);
}

#[test]
fn movable_node_and_mirror() {
    let e = era("6.6");
    let mut mem = vec![
        MemRange::new(1, 0x9f, 0),
        MemRange::new(0x100, 0xbffdf, 0),
        MemRange::new(0x100000, 0x140000, 0),
        MemRange::new(0x140000, 0x240000, 1),
    ];
    mem[3].hotplug = true;
    let mut inp = input(&e, &mem, 0x240000);
    inp.movable.movable_node = true;
    let (l, _) = run(&inp);
    assert_eq!(l.zone_movable_pfn, vec![(1, 0x140000)]);
    let n1 = l.node(1).unwrap();
    assert_eq!(
        n1.zones
            .iter()
            .find(|z| z.zone_type == ZoneType::Normal)
            .unwrap()
            .spanned_pages,
        0
    );

    let log = Printk::new();
    let mut inp = input(&e, &mem, 0x240000);
    inp.movable.kernelcore_mirror = true;
    let m = zone_sizes_init(&e, &inp.zones, 0x240000, 0x240000);
    let l = free_area_init(&inp, &m, &log, &Trace::new()).unwrap();
    assert!(l.zone_movable_pfn.is_empty());
    assert_eq!(
        log.lines()[0].text,
        "The system has no mirror memory, ignore kernelcore=mirror."
    );
    assert_eq!(log.lines()[0].level, Level::Warning);

    let mut mem2 = mem.clone();
    for r in mem2.iter_mut().take(3) {
        r.mirror = true;
    }
    let mut inp = input(&e, &mem2, 0x240000);
    inp.movable.kernelcore_mirror = true;
    let (l, _) = run(&inp);
    assert_eq!(l.zone_movable_pfn, vec![(1, 0x140000)]);
}

#[test]
fn memoryless_node_lines() {
    let mem = [MemRange::new(1, 0x9f, 0), MemRange::new(0x100, 0x40000, 0)];
    let online = [0u32, 1];
    let e = era("6.6");
    let mut inp = input(&e, &mem, 0x40000);
    inp.online_nodes = Some(&online);
    let (_, lines) = run(&inp);
    assert!(lines.contains(&"Initmem setup node 1 as memoryless".to_string()));
    let e = era("5.10");
    let mut inp = input(&e, &mem, 0x40000);
    inp.online_nodes = Some(&online);
    let (l, lines) = run(&inp);
    assert!(lines
        .contains(&"Initmem setup node 1 [mem 0x0000000000000000-0x0000000000000000]".to_string()));
    assert_eq!(l.node(1).unwrap().node_present_pages, 0);
}

#[test]
fn bad_inputs_are_errors() {
    let e = era("6.6");
    let t = Trace::new();
    let log = Printk::new();
    let m = [0u64; 6];
    let bad = [MemRange::new(5, 3, 0)];
    assert!(matches!(
        free_area_init(&input(&e, &bad, 10), &m, &log, &t),
        Err(MmInitError::BadRange { .. })
    ));
    let overlap = [MemRange::new(1, 10, 0), MemRange::new(5, 20, 0)];
    assert!(matches!(
        free_area_init(&input(&e, &overlap, 20), &m, &log, &t),
        Err(MmInitError::UnsortedRanges { .. })
    ));
    assert_eq!(
        free_area_init(&input(&e, &[], 20), &m, &log, &t),
        Err(MmInitError::NoMemory)
    );
    let mut inp = input(&e, &overlap[..1], 10);
    inp.struct_page_size = 0;
    assert_eq!(
        free_area_init(&inp, &m, &log, &t),
        Err(MmInitError::BadStructPageSize)
    );
    assert!(ZoneConfig::from_zone_names(["DMA", "Bogus"]).is_err());
    assert!(ZoneConfig::from_zone_names(["DMA", "DMA32"]).is_err());
    assert!(ZoneConfig::from_zone_names(["Normal", "Normal"]).is_err());
    assert!(cmdline_parse_core(&e, "lots").is_err());
    assert!(MmInitError::NoMemory.to_string().contains("no memory"));
}

#[test]
fn core_param_parsing() {
    let e = era("6.6");
    assert_eq!(
        cmdline_parse_core(&e, "512M"),
        Ok(CoreParam::Pages(0x20000))
    );
    assert_eq!(cmdline_parse_core(&e, "2g"), Ok(CoreParam::Pages(0x80000)));
    assert_eq!(cmdline_parse_core(&e, "30%"), Ok(CoreParam::Percent(30)));
    assert_eq!(
        cmdline_parse_core(&e, "0x100000"),
        Ok(CoreParam::Pages(0x100))
    );
    // Before 4.17 "30%" is 30 bytes.
    assert_eq!(
        cmdline_parse_core(&era("4.4"), "30%"),
        Ok(CoreParam::Pages(0))
    );
}

#[test]
fn hole_attribution_follows_the_next_range() {
    // 6.0 HP laptop (corpus 002): the hole below 4 GiB is charged to Normal, and only the
    // part inside the last present 128 MiB section counts.
    let e = era("6.0");
    let mem = [
        MemRange::new(1, 0x9f, 0),
        MemRange::new(0x100, 0x69ee2, 0),
        MemRange::new(0x71eff, 0x71f00, 0),
        MemRange::new(0x100000, 0x37fc00, 0),
    ];
    let (l, lines) = run(&input(&e, &mem, 0x37fc00));
    let holes: Vec<&String> = lines.iter().filter(|l| l.contains("unavailable")).collect();
    assert_eq!(
        holes,
        [
            "On node 0, zone DMA: 1 pages in unavailable ranges",
            "On node 0, zone DMA: 97 pages in unavailable ranges",
            "On node 0, zone DMA32: 32797 pages in unavailable ranges",
            "On node 0, zone Normal: 24832 pages in unavailable ranges",
            "On node 0, zone Normal: 1024 pages in unavailable ranges",
        ]
    );
    assert_eq!(l.unavailable_pages, 1 + 97 + 32797 + 24832 + 1024);
}

#[test]
fn six_eleven_managed_equals_present() {
    let e = era("6.12");
    let mem = [MemRange::new(1, 0x9f, 0), MemRange::new(0x100, 0x40000, 0)];
    let free = [(0x1000, 0x9f000), (0x200_0000, 0x4000_0000)];
    let mut inp = input(&e, &mem, 0x40000);
    inp.free = &free;
    let (l, _) = run(&inp);
    for z in &l.nodes[0].zones {
        assert_eq!(z.managed_pages, z.present_pages);
    }
    assert_eq!(l.nr_all_pages, 0x9e + (0x40000 - 0x2000));
    assert_eq!(l.nr_kernel_pages, l.nr_all_pages);
}

/// 3.19 capped DMA and DMA32 at max_low_pfn: a 2 GiB machine's DMA32 ends at 2 GiB there,
/// at 4 GiB in 3.18 (c072b90c8dfe, "x86/mm: Fix zone ranges boot printout").
#[test]
fn small_machines_zone_limits_follow_3_19() {
    let zones = ZoneConfig::x86_default(&era("3.18"));
    let max = 0x80000;
    let old = zone_sizes_init(&era("3.18"), &zones, max, max);
    let new = zone_sizes_init(&era("3.19"), &zones, max, max);
    assert_eq!(old[ZoneType::Dma32.idx()], MAX_DMA32_PFN);
    assert_eq!(new[ZoneType::Dma32.idx()], max);
    assert_eq!(old[ZoneType::Dma.idx()], new[ZoneType::Dma.idx()]);
    assert_eq!(new[ZoneType::Normal.idx()], max);
}

#[test]
fn debug_lines_carry_kern_debug() {
    let e = era("4.4");
    let mem = [MemRange::new(1, 0x9f, 0), MemRange::new(0x100, 0x40000, 0)];
    let log = Printk::new();
    let inp = input(&e, &mem, 0x40000);
    let m = zone_sizes_init(&e, &inp.zones, 0x40000, 0x40000);
    free_area_init(&inp, &m, &log, &Trace::new()).unwrap();
    for l in log.lines() {
        let dbg = ["totalpages", "LIFO", "memmap", "reserved"]
            .iter()
            .any(|w| l.text.contains(w));
        assert_eq!(l.level == Level::Debug, dbg, "{}", l.text);
    }
}

#[test]
fn hole_styles_per_era() {
    let mut gcp = era("5.4.210");
    gcp.release = "5.4.0-1092-gcp".to_string();
    let mut el8 = era("4.18");
    el8.release = "4.18.0-80.11.2.el8_0.x86_64".to_string();
    assert_eq!(hole_style(&era("4.14")), HoleStyle::None);
    assert_eq!(
        hole_style(&era("4.19.1")),
        HoleStyle::ReservedButUnavailable
    );
    assert_eq!(
        hole_style(&el8),
        HoleStyle::ZeroedStructPage { tail: false }
    );
    assert_eq!(
        hole_style(&era("5.3.18")),
        HoleStyle::ZeroedStructPage { tail: false }
    );
    assert_eq!(
        hole_style(&era("5.4.181")),
        HoleStyle::ZeroedStructPage { tail: true }
    );
    assert_eq!(hole_style(&gcp), HoleStyle::PerZone);
    assert_eq!(
        hole_style(&era("5.10.7")),
        HoleStyle::ZeroedStructPage { tail: true }
    );
    assert_eq!(hole_style(&era("5.10.180")), HoleStyle::PerNodeZone);
    assert_eq!(hole_style(&era("6.12")), HoleStyle::PerNodeZone);
    // The stable series: 4.19.103 took the 5.x counting, 5.10.24 and 5.11.7 the per-zone
    // rework, 5.10.51, 5.12.17 and 5.13.2 the per-hole one; mainline 5.12 and 5.13 print
    // per zone.
    let b = HoleStyle::ZeroedStructPage { tail: true };
    for (v, want) in [
        ("4.19.102", HoleStyle::ReservedButUnavailable),
        ("4.19.103", b),
        ("4.19.320", b),
        ("5.4.18", HoleStyle::ZeroedStructPage { tail: false }),
        ("5.4.19", b),
        ("5.10.23", b),
        ("5.10.24", HoleStyle::PerZone),
        ("5.10.50", HoleStyle::PerZone),
        ("5.10.51", HoleStyle::PerNodeZone),
        ("5.11.6", b),
        ("5.11.7", HoleStyle::PerZone),
        ("5.12", HoleStyle::PerZone),
        ("5.12.17", HoleStyle::PerNodeZone),
        ("5.13.1", HoleStyle::PerZone),
        ("5.13.2", HoleStyle::PerNodeZone),
        ("5.14", HoleStyle::PerNodeZone),
    ] {
        assert_eq!(hole_style(&era(v)), want, "{v}");
    }
}

mod corpus;
