//! Tests of /proc/meminfo: each era's lines against real files (every label and width, the
//! corpus machine's value printed through the model's line), and the values the model knows.

#![cfg(feature = "std")]

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use std::path::PathBuf;

use super::*;
use crate::era::KernelVersion;
use crate::init::main::start_kernel;
use crate::machine::Machine;

fn corpus(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus")
        .join(rel);
    let t =
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("corpus file {}: {e}", p.display()));
    match t.find("# ---\n") {
        Some(i) if t.starts_with('#') => t[i + 6..].to_string(),
        _ => t,
    }
}

fn boot(mem: u64, cpus: u32, release: &str) -> Kernel {
    let mut m = Machine::qemu(mem, cpus).expect("machine");
    m.era = Era::new(KernelVersion::parse(release).unwrap(), Arch::X86_64);
    m.era.release = release.to_string();
    let mut k = Kernel::new(m).expect("simulated RAM");
    start_kernel(&mut k).expect("boot");
    k
}

/// Every line of `real` is the model's line of the same place with the real value: same
/// label, padding and width. `skip` names lines the real build has and the model's
/// configuration does not.
fn assert_same_lines(real: &str, model: &[MeminfoLine], skip: &[&str], what: &str) {
    let real: Vec<&str> = real
        .lines()
        .filter(|l| !skip.iter().any(|s| l.starts_with(s)))
        .collect();
    assert_eq!(
        real.iter()
            .map(|l| l.split(':').next().unwrap())
            .collect::<Vec<_>>(),
        model.iter().map(|m| m.name()).collect::<Vec<_>>(),
        "{what}: fields"
    );
    for (r, m) in real.iter().zip(model) {
        let value: u64 = r[m.label.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{what}: cannot read {r:?}"));
        let line = render_meminfo(&[MeminfoLine { value, ..m.clone() }]);
        assert_eq!(line.trim_end_matches('\n'), *r, "{what}");
    }
}

const G: u64 = 1 << 30;

fn config(k: &Kernel) -> MeminfoConfig {
    MeminfoConfig::of(k)
}

#[test]
fn meminfo_6_18_host_lines() {
    // The host's build has neither CONFIG_CMA nor CONFIG_MEMORY_FAILURE.
    let k = boot(24 * G, 2, "6.18.0");
    let c = MeminfoConfig {
        cma: false,
        memory_failure: false,
        ..config(&k)
    };
    assert_same_lines(
        &corpus("host/meminfo.txt"),
        &meminfo_lines_with(&k, &c),
        &[],
        "6.18",
    );
}

#[test]
fn meminfo_rhel8_4_18_lines() {
    // RHEL 8 builds lack CONFIG_CMA. This RHEL 8.0 file has no "Percpu:" line, which
    // mainline prints from 4.16; the model prints it.
    let k = boot(8 * G, 2, "4.18.0-80.11.2.el8_0.x86_64");
    let c = MeminfoConfig {
        cma: false,
        ..config(&k)
    };
    let lines: Vec<MeminfoLine> = meminfo_lines_with(&k, &c)
        .into_iter()
        .filter(|l| l.name() != "Percpu")
        .collect();
    assert_same_lines(
        &corpus("meminfo/001-hyperv-8g-rhel8-4.18.txt"),
        &lines,
        &[],
        "4.18",
    );
}

#[test]
fn meminfo_rhel9_5_14_lines() {
    // A DigitalOcean droplet's CPU without 1 GiB pages.
    let k = boot(G, 1, "5.14.0-325.el9.x86_64");
    let c = MeminfoConfig {
        direct_gbpages: false,
        ..config(&k)
    };
    assert_same_lines(
        &corpus("meminfo/002-digitalocean-1g-1cpu-5.14-el9.txt"),
        &meminfo_lines_with(&k, &c),
        &[],
        "5.14",
    );
}

#[test]
fn meminfo_3_2_lines() {
    // An i7-2600 (no 1 GiB pages); 3.2 has no MemAvailable and no CMA lines.
    let k = boot(8 * G, 8, "3.2.0-58-generic");
    let c = MeminfoConfig {
        direct_gbpages: false,
        ..config(&k)
    };
    assert_same_lines(
        &corpus("meminfo/003-i7-2600-8g-3.2-ubuntu.txt"),
        &meminfo_lines_with(&k, &c),
        &[],
        "3.2",
    );
}

#[test]
fn meminfo_values_are_the_models() {
    let k = boot(4 * G, 2, "6.18.0");
    let lines = meminfo_lines(&k);
    let get = |n: &str| lines.iter().find(|l| l.name() == n).unwrap().value;
    let totalram = k.page_alloc.totalram_pages();
    let free = crate::mm::page_alloc::nr_free_pages(&k);
    assert_eq!(get("MemTotal"), totalram * 4);
    assert_eq!(get("MemFree"), free * 4);
    assert_eq!(
        get("MemAvailable"),
        free.saturating_sub(k.vm.totalreserve_pages) * 4
    );
    assert!(get("MemAvailable") < get("MemFree"));
    assert_eq!(get("CommitLimit"), totalram / 2 * 4);
    // The direct map covers the RAM below max_pfn, the first MiB in 4 KiB pages.
    let mapped = get("DirectMap4k") + get("DirectMap2M") + get("DirectMap1G");
    let ram_kb: u64 = k
        .e820
        .table
        .iter()
        .filter(|e| e.typ == E820Type::Ram)
        .map(|e| (e.addr.saturating_add(e.size) / 4096 - e.addr.div_ceil(4096)) * 4)
        .sum();
    // The mapping functions' counts: every RAM page at least once; a large page met again
    // (QEMU's [4 GiB, 5 GiB) is reached by three steps of memory_map_top_down) counts again.
    assert!(mapped >= ram_kb, "{mapped} vs {ram_kb}");
    let n = k.direct_map.pages_count;
    assert_eq!(get("DirectMap4k"), n[0] * 4);
    assert_eq!(get("DirectMap2M"), n[1] * 2048);
    assert_eq!(get("DirectMap1G"), n[2] << 20);
    assert!(get("DirectMap1G") > 0);
    let text = meminfo(&k);
    assert!(text.starts_with("MemTotal:       "));
    assert!(text.contains("\nHugePages_Total:       0\n"));
    assert!(text.ends_with(" kB\n"));
}

#[test]
fn split_mem_range_cuts_like_the_kernel() {
    // [1 MiB, 3 GiB - 128 KiB): 4 KiB head to 2 MiB, 2 MiB pages to 1 GiB, 1 GiB pages,
    // 2 MiB pages to the last 2 MiB boundary, 4 KiB tail.
    let r = split_mem_range(0x10_0000, 0xbffe_0000, true, true);
    assert_eq!(
        r,
        [
            (0x10_0000, 0x20_0000, 4096),
            (0x20_0000, 0x4000_0000, 2 << 20),
            (0x4000_0000, 0x8000_0000, 1 << 30),
            (0x8000_0000, 0xbfe0_0000, 2 << 20),
            (0xbfe0_0000, 0xbffe_0000, 4096),
        ]
    );
    let r = split_mem_range(0x10_0000, 0xbffe_0000, true, false);
    assert_eq!(r[1], (0x20_0000, 0xbfe0_0000, 2 << 20));
}

#[test]
fn proc_files_by_path() {
    assert_eq!(
        ProcFile::from_path("/proc/zoneinfo"),
        Some(ProcFile::Zoneinfo)
    );
    assert_eq!(ProcFile::from_path("meminfo"), Some(ProcFile::Meminfo));
    assert_eq!(
        ProcFile::from_path("/proc/slabinfo"),
        Some(ProcFile::Slabinfo)
    );
    assert_eq!(
        ProcFile::from_path("/proc/vmallocinfo"),
        Some(ProcFile::Vmallocinfo)
    );
    assert_eq!(
        ProcFile::from_path("/sys/kernel/debug/page_tables/kernel"),
        Some(ProcFile::PageTablesKernel)
    );
    assert_eq!(ProcFile::from_path("/proc/vmstat"), None);
    assert!(ProcFile::known().contains("/proc/meminfo"));
}
