//! Tests of /proc/zoneinfo: the layout of each era against real files (same lines, labels
//! and widths in the same order; the numbers differ, the machines being different), and its
//! numbers against the buddy allocator's own state.

#![cfg(feature = "std")]

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use std::path::PathBuf;

use super::*;
use crate::era::{Arch, KernelVersion};
use crate::init::main::start_kernel;
use crate::machine::Machine;

fn corpus(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus")
        .join(rel);
    let t =
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("corpus file {}: {e}", p.display()));
    // Skip the `# key: value` header ended by `# ---`.
    match t.find("# ---\n") {
        Some(i) if t.starts_with('#') => t[i + 6..].to_string(),
        _ => t,
    }
}

/// A QEMU guest of `mem` bytes and `cpus` CPUs, booted as `release`.
pub(crate) fn boot(mem: u64, cpus: u32, release: &str) -> Kernel {
    let mut m = Machine::qemu(mem, cpus).expect("machine");
    let v = KernelVersion::parse(release).expect("version");
    m.era = Era::new(v, Arch::X86_64);
    m.era.release = release.to_string();
    let mut k = Kernel::new(m).expect("simulated RAM");
    start_kernel(&mut k).expect("boot");
    k
}

/// A zoneinfo line without its values: the trailing number is cut (values are printed
/// left-aligned, so what precedes them keeps its width), the numbers of "protection" are
/// replaced by `#`.
fn shape(line: &str) -> String {
    if line.contains("protection:") {
        let mut s = String::new();
        let mut in_num = false;
        for c in line.chars() {
            if c.is_ascii_digit() {
                if !in_num {
                    s.push('#');
                }
                in_num = true;
            } else {
                s.push(c);
                in_num = false;
            }
        }
        s
    } else {
        line.trim_end_matches(|c: char| c.is_ascii_digit())
            .to_string()
    }
}

fn assert_same_layout(real: &str, model: &str, what: &str) {
    let r: Vec<String> = real.lines().map(shape).collect();
    let m: Vec<String> = model.lines().map(shape).collect();
    for (i, (a, b)) in r.iter().zip(&m).enumerate() {
        assert_eq!(a, b, "{what}: line {} differs", i + 1);
    }
    assert_eq!(r.len(), m.len(), "{what}: line count");
}

const G: u64 = 1 << 30;

#[test]
fn zoneinfo_6_18_has_the_host_layout() {
    // The host: 2 CPUs, DMA/DMA32/Normal populated, empty Movable and Device.
    let k = boot(24 * G, 2, "6.18.0");
    assert_same_layout(&corpus("host/zoneinfo.txt"), &zoneinfo(&k), "6.18");
}

#[test]
fn zoneinfo_rhel8_4_18_layout() {
    let k = boot(8 * G, 2, "4.18.0-80.11.2.el8_0.x86_64");
    assert_same_layout(
        &corpus("zoneinfo/001-hyperv-8g-rhel8-4.18.txt"),
        &zoneinfo(&k),
        "4.18",
    );
}

#[test]
fn zoneinfo_rhel9_5_14_layout() {
    // 1 GiB: DMA and DMA32 populated, Normal empty (printed up to "protection").
    let k = boot(G, 1, "5.14.0-325.el9.x86_64");
    assert_same_layout(
        &corpus("zoneinfo/002-digitalocean-1g-1cpu-5.14-el9.txt"),
        &zoneinfo(&k),
        "5.14",
    );
}

#[test]
fn zoneinfo_3_2_layout() {
    // Only populated zones, counters before "protection", no "managed".
    let k = boot(8 * G, 8, "3.2.0-58-generic");
    assert_same_layout(
        &corpus("zoneinfo/003-i7-2600-8g-3.2-ubuntu.txt"),
        &zoneinfo(&k),
        "3.2",
    );
}

#[test]
fn zoneinfo_4_8_layout_has_node_scanned_and_inactive_ratio() {
    // A 4.8/4.9 file (Device zone configured but unlisted, numa counters among the zone's).
    let k = boot(4 * G, 4, "4.9.0");
    assert_same_layout(
        &corpus("zoneinfo/009-pcp-qa-kvm-haswell-4cpu-4g.txt"),
        &zoneinfo(&k),
        "4.9",
    );
}

#[test]
fn mainline_5_14_lacks_the_rhel_backports() {
    let k = boot(G, 1, "5.14.0");
    let z = zoneinfo(&k);
    for absent in [
        "nr_throttled_written",
        "nr_sec_page_table_pages",
        "pgpromote_success",
        "        boost",
        "        cma",
    ] {
        assert!(!z.contains(absent), "mainline 5.14 printed {absent:?}");
    }
    assert!(z.contains("nr_swapcached"));
}

#[test]
fn zoneinfo_agrees_with_buddyinfo_and_the_zones() {
    let k = boot(4 * G, 2, "6.18.0");
    let zones = zoneinfo_zones(&k);
    let buddy = buddyinfo_zones(&k);
    let populated: Vec<&ZoneinfoZone> = zones.iter().filter(|z| z.populated).collect();
    assert_eq!(populated.len(), buddy.len());
    for (z, b) in populated.iter().zip(&buddy) {
        assert_eq!((z.nid, z.zone), (b.nid, b.zone));
        let sum: u64 = b.nr_free.iter().enumerate().map(|(o, n)| n << o).sum();
        assert_eq!(z.free, sum, "{}: pages free vs buddyinfo", z.zone);
        let stat = |n: &str| z.zone_stats.iter().find(|(s, _)| *s == n).unwrap().1;
        assert_eq!(stat("nr_free_pages"), z.free);
        let blocks: u64 = b.nr_free[9..]
            .iter()
            .enumerate()
            .map(|(o, n)| n << (o + 9))
            .sum();
        assert_eq!(stat("nr_free_pages_blocks"), blocks);
        assert!(z.free <= z.managed && z.managed <= z.present && z.present <= z.spanned);
        let live = k
            .page_alloc
            .zones()
            .find(|lz| lz.node == z.nid && lz.name == z.zone)
            .unwrap();
        assert_eq!(z.managed, live.managed());
        assert_eq!(
            (z.min, z.low, z.high),
            (live._watermark[0], live._watermark[1], live._watermark[2])
        );
        assert_eq!(z.protection.len(), k.page_alloc.zone_types.len());
        assert_eq!(z.pagesets.len(), 2);
        assert_eq!(
            z.pagesets[0].stat_threshold,
            crate::mm::watermark::calculate_normal_threshold(z.managed, 2)
        );
    }
    let managed: u64 = zones.iter().map(|z| z.managed).sum();
    assert_eq!(managed, k.page_alloc.totalram_pages());
    let text = zoneinfo(&k);
    assert!(text.starts_with("Node 0, zone      DMA\n  per-node stats\n"));
    assert_eq!(text.matches("per-node stats").count(), 1);
}

#[test]
fn zoneinfo_of_an_unbooted_kernel_is_empty() {
    let k = Kernel::bare(Era::default()).unwrap();
    assert_eq!(zoneinfo(&k), "");
    assert!(buddyinfo_zones(&k).is_empty());
}

#[test]
fn counter_lists_follow_the_kernel_history() {
    let c = VmstatConfig {
        numa: true,
        zsmalloc: true,
        swap: true,
        numa_balancing: true,
        iommu: true,
        hugetlb: true,
        unaccepted_memory: false,
    };
    let e = |s: &str| Era::new(KernelVersion::parse(s).unwrap(), Arch::X86_64);
    // 4.17–4.19 print the blanked nr_indirectly_reclaimable counter.
    assert!(node_stat_names(&e("4.19"), &c).contains(&""));
    assert!(!node_stat_names(&e("4.20"), &c).contains(&""));
    assert!(node_stat_names(&e("4.20"), &c).contains(&"nr_kernel_misc_reclaimable"));
    // The NUMA counters left the zone items in 4.14.
    assert!(zone_stat_names(&e("4.13"), &c).contains(&"numa_hit"));
    assert!(!zone_stat_names(&e("4.14"), &c).contains(&"numa_hit"));
    let no_numa = VmstatConfig { numa: false, ..c };
    assert!(!zone_stat_names(&e("4.9"), &no_numa).contains(&"numa_hit"));
}
