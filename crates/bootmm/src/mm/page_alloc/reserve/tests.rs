// SPDX-License-Identifier: GPL-2.0-only
//! MIGRATE_RESERVE pageblocks: the formula, and the "Reserve" column of the
//! "Number of blocks type" table of /proc/pagetypeinfo against real 3.x machines.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use std::path::PathBuf;

use super::*;
use crate::era::{Arch, KernelVersion};
use crate::init::main::start_kernel;
use crate::kernel::Kernel;
use crate::machine::Machine;
use crate::mm::vmstat::pagetypeinfo_data;

/// `zone->nr_migrate_reserve_block` of each populated zone.
fn recorded_reserve_blocks(k: &Kernel) -> Vec<u64> {
    k.page_alloc
        .zones()
        .filter(|z| z.populated())
        .map(|z| z.nr_migrate_reserve_block.load(Relaxed))
        .collect()
}

#[test]
fn the_reserve_is_the_min_watermark_in_pageblocks_rounded_up_at_most_two() {
    assert_eq!(migrate_reserve_blocks(0), 0);
    assert_eq!(migrate_reserve_blocks(1), 1);
    assert_eq!(migrate_reserve_blocks(32), 1);
    assert_eq!(migrate_reserve_blocks(512), 1);
    assert_eq!(migrate_reserve_blocks(513), 2);
    assert_eq!(migrate_reserve_blocks(1024), 2);
    assert_eq!(migrate_reserve_blocks(6829), 2);
    assert_eq!(migrate_reserve_blocks(u64::MAX >> 12), 2);
}

#[test]
fn the_form_follows_the_era() {
    let e = |s: &str| Era::new(KernelVersion::parse(s).unwrap(), Arch::X86_64);
    assert_eq!(ReserveForm::new(&e("2.6.32")), Some(ReserveForm::V3_2));
    assert_eq!(ReserveForm::new(&e("3.2")), Some(ReserveForm::V3_2));
    assert_eq!(ReserveForm::new(&e("3.3")), Some(ReserveForm::V3_3));
    assert_eq!(ReserveForm::new(&e("3.13")), Some(ReserveForm::V3_13));
    assert_eq!(ReserveForm::new(&e("3.18")), Some(ReserveForm::V3_13));
    assert_eq!(ReserveForm::new(&e("4.3")), Some(ReserveForm::V4_2));
    assert_eq!(ReserveForm::new(&e("4.4")), None);
}

/// The "Reserve" column of a pagetypeinfo file's block table, per zone name.
fn reserve_column(text: &str) -> Vec<(String, u64)> {
    let mut lines = text
        .lines()
        .skip_while(|l| !l.starts_with("Number of blocks type"));
    let header: Vec<&str> = lines
        .next()
        .expect("block table")
        .split_whitespace()
        .collect();
    // "Number of blocks type" takes 4 words; the types follow.
    let col = header
        .iter()
        .position(|&w| w == "Reserve")
        .expect("Reserve column")
        - 4;
    lines
        .take_while(|l| l.starts_with("Node"))
        .map(|l| {
            // "Node 0, zone DMA32 <counts…>"
            let w: Vec<&str> = l.split_whitespace().collect();
            (w[3].to_string(), w[4 + col].parse().unwrap())
        })
        .collect()
}

fn corpus(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("corpus file {}: {e}", p.display()))
}

/// An Intel Core i7-2600 desktop with 8 GiB, as the 003 (3.2) and 013 (3.13) snapshots
/// show it: the zone spans and present pages of the 003 zoneinfo (DMA from pfn 16, DMA32
/// from 4096 with 828852 pages present, Normal 0x100000–0x22e000 with 1217664 present), 8
/// CPUs, and Ubuntu's THP default (khugepaged raises min_free_kbytes to 67584).
fn i7_2600(release: &str) -> Kernel {
    let mut m = Machine::from_e820_text(
        "0x0 0x9d800 usable
         0x9d800 0xa0000 reserved
         0xe0000 0x100000 reserved
         0x100000 0xcb5b4000 usable
         0xcb5b4000 0xe0000000 reserved
         0x100000000 0x200000000 usable
         0x200000000 0x204b80000 reserved
         0x204b80000 0x22e000000 usable",
    )
    .unwrap();
    m.cpus = 8;
    m.nr_cpus = 8;
    m.era = Era::new(KernelVersion::parse(release).unwrap(), Arch::X86_64);
    m.era.release = release.to_string();
    m.cmdline.push_str(" transparent_hugepage=madvise");
    let mut k = Kernel::new(m).expect("simulated RAM");
    start_kernel(&mut k).expect("boot");
    k
}

/// The model's Reserve blocks per zone, checked against the formula on its own min
/// watermarks, and the free pages of those blocks on the Reserve lists.
fn model_reserve(k: &Kernel) -> Vec<(String, u64)> {
    let d = pagetypeinfo_data(k);
    let mut out = Vec::new();
    for b in &d.blocks {
        let n = b.counts.iter().find(|(t, _)| *t == "Reserve").unwrap().1;
        let z = k
            .page_alloc
            .zones()
            .find(|z| z.node == b.nid && z.name == b.zone)
            .unwrap();
        assert_eq!(
            n,
            migrate_reserve_blocks(z.min_wmark_pages()),
            "{}: formula",
            b.zone
        );
        let free_on_reserve: u64 = d
            .free
            .iter()
            .filter(|f| f.zone == b.zone && f.migratetype == "Reserve")
            .flat_map(|f| f.counts.iter().enumerate().map(|(o, c)| c << o))
            .sum();
        assert!(
            free_on_reserve > 0 || n == 0,
            "{}: reserve blocks without free pages",
            b.zone
        );
        out.push((b.zone.to_string(), n));
    }
    out
}

#[test]
fn reserve_blocks_of_3_2_and_3_13_boots_match_the_i7_2600_snapshots() {
    for (file, release) in [
        (
            "pagetypeinfo/003-i7-2600-8g-3.2-ubuntu.txt",
            "3.2.0-58-generic",
        ),
        (
            "pagetypeinfo/013-i7-2600-8g-3.13-ubuntu.txt",
            "3.13.0-77-generic",
        ),
    ] {
        let real = reserve_column(&corpus(file));
        assert_eq!(real.len(), 3, "{file}");
        let k = i7_2600(release);
        assert_eq!(model_reserve(&k), real, "{release}");
        if release.starts_with("3.13") {
            // 3.13 records the count in the zone (nr_migrate_reserve_block).
            assert_eq!(recorded_reserve_blocks(&k), [1, 2, 2]);
        }
    }
}

#[test]
fn the_dma_reserve_block_is_the_first_whole_pageblock_and_holds_its_free_pages() {
    // DMA starts at pfn 16 (3.2) or 1 (3.13): the scan starts at pfn 512, whose block is
    // free RAM; its 512 pages become one order-9 block on the Reserve list, as both
    // snapshots show ("type Reserve … 0 1 0").
    for release in ["3.2.0", "3.13.0"] {
        let k = i7_2600(release);
        assert_eq!(
            k.sparse.get_pfnblock_migratetype(512),
            k.page_alloc.mt.reserve.map(|r| r as u64)
        );
        let d = pagetypeinfo_data(&k);
        let dma = d
            .free
            .iter()
            .find(|f| f.zone == "DMA" && f.migratetype == "Reserve")
            .unwrap();
        assert_eq!(dma.counts, [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0], "{release}");
    }
}

#[test]
fn no_reserve_blocks_from_4_2() {
    // 4.2–4.3 return on the first initialised pageblock; 4.4 has no MIGRATE_RESERVE.
    let k = i7_2600("4.3.0");
    let reserve_blocks: Vec<u64> = pagetypeinfo_data(&k)
        .blocks
        .iter()
        .map(|b| b.counts.iter().find(|(t, _)| *t == "Reserve").unwrap().1)
        .collect();
    assert_eq!(reserve_blocks, [0, 0, 0]);
    // The count was still recorded before the loop returned.
    assert_eq!(recorded_reserve_blocks(&k), [1, 2, 2]);
    let k = i7_2600("4.4.0");
    assert!(pagetypeinfo_data(&k)
        .blocks
        .iter()
        .all(|b| b.counts.iter().all(|(t, _)| *t != "Reserve")));
}
