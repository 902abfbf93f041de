//! `fs/proc/`: the /proc files bootmm can show, and `/proc/meminfo` (fs/proc/meminfo.c).
//!
//! /proc/meminfo prints what the model knows exactly — `MemTotal` (`totalram_pages`),
//! `MemFree` (NR_FREE_PAGES), `MemAvailable` (`si_mem_available` on the model's watermarks
//! and `totalreserve_pages`, with no page cache or reclaimable slab yet), `CommitLimit`
//! (`vm_commit_limit` with the default overcommit ratio and no swap), the HighMem split and
//! the direct map's page sizes — and every other line of the era with 0, as a kernel whose
//! boot has created no user pages, slabs, page tables or vmalloc areas would.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::arch::x86::e820::E820Type;
use crate::era::{Arch, Era};
use crate::kernel::Kernel;
use crate::mm::mm_init::ZoneType;

/// A file `cat` can show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcFile {
    Buddyinfo,
    Pagetypeinfo,
    Zoneinfo,
    Meminfo,
    Slabinfo,
    /// `/proc/vmallocinfo`.
    Vmallocinfo,
    /// `/sys/kernel/debug/page_tables/kernel` (debugfs, CONFIG_PTDUMP_DEBUGFS).
    PageTablesKernel,
}

impl ProcFile {
    /// Every file, in the order `--help` and error messages list them.
    pub const ALL: [ProcFile; 7] = [
        ProcFile::Buddyinfo,
        ProcFile::Pagetypeinfo,
        ProcFile::Zoneinfo,
        ProcFile::Meminfo,
        ProcFile::Slabinfo,
        ProcFile::Vmallocinfo,
        ProcFile::PageTablesKernel,
    ];

    /// The file at `p` ("/proc/zoneinfo"; the bare name "zoneinfo" is accepted too).
    pub fn from_path(p: &str) -> Option<Self> {
        let name = p.strip_prefix("/proc/").unwrap_or(p);
        Self::ALL
            .into_iter()
            .find(|f| f.name() == name || f.path() == p)
    }

    /// The name under /proc.
    pub fn name(self) -> &'static str {
        match self {
            ProcFile::Buddyinfo => "buddyinfo",
            ProcFile::Pagetypeinfo => "pagetypeinfo",
            ProcFile::Zoneinfo => "zoneinfo",
            ProcFile::Meminfo => "meminfo",
            ProcFile::Slabinfo => "slabinfo",
            ProcFile::Vmallocinfo => "vmallocinfo",
            ProcFile::PageTablesKernel => "page_tables",
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            ProcFile::Buddyinfo => "/proc/buddyinfo",
            ProcFile::Pagetypeinfo => "/proc/pagetypeinfo",
            ProcFile::Zoneinfo => "/proc/zoneinfo",
            ProcFile::Meminfo => "/proc/meminfo",
            ProcFile::Slabinfo => "/proc/slabinfo",
            ProcFile::Vmallocinfo => "/proc/vmallocinfo",
            ProcFile::PageTablesKernel => "/sys/kernel/debug/page_tables/kernel",
        }
    }

    /// "/proc/buddyinfo, /proc/pagetypeinfo, …" for error messages.
    pub fn known() -> String {
        let v: Vec<&str> = Self::ALL.iter().map(|f| f.path()).collect();
        v.join(", ")
    }

    /// The file's text as the kernel would print it now.
    pub fn show(self, k: &Kernel) -> String {
        match self {
            ProcFile::Buddyinfo => crate::mm::vmstat::buddyinfo(k),
            ProcFile::Pagetypeinfo => crate::mm::vmstat::pagetypeinfo(k),
            ProcFile::Zoneinfo => crate::mm::vmstat::zoneinfo(k),
            ProcFile::Meminfo => meminfo(k),
            ProcFile::Slabinfo => crate::mm::slab_common::slabinfo(k),
            ProcFile::Vmallocinfo => crate::mm::vmalloc::vmallocinfo(k),
            ProcFile::PageTablesKernel => crate::arch::x86::dump_pagetables::page_tables_kernel(k),
        }
    }
}

/// How a /proc/meminfo line prints its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeminfoFormat {
    /// `show_val_kb` / `"%8lu kB"`.
    Kb,
    /// `"HardwareCorrupted: %5lu kB"`.
    Kb5,
    /// `"HugePages_Total:   %5lu"`: a count, no unit.
    Count5,
}

/// One line of /proc/meminfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeminfoLine {
    /// The label with its colon and padding, exactly as the kernel's format string has it.
    pub label: &'static str,
    /// KiB for `Kb`/`Kb5` lines, a count for `Count5` lines.
    pub value: u64,
    pub format: MeminfoFormat,
}

impl MeminfoLine {
    /// The field name ("MemTotal", "Active(anon)").
    pub fn name(&self) -> &'static str {
        self.label.split(':').next().unwrap_or(self.label)
    }
}

/// The build options that decide which /proc/meminfo lines exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MeminfoConfig {
    /// CONFIG_HIGHMEM: HighTotal/HighFree/LowTotal/LowFree.
    pub highmem: bool,
    /// CONFIG_ZSWAP (5.19+): Zswap/Zswapped.
    pub zswap: bool,
    /// CONFIG_MEMORY_FAILURE: HardwareCorrupted.
    pub memory_failure: bool,
    /// CONFIG_TRANSPARENT_HUGEPAGE: AnonHugePages and, later, the shmem/file THP lines.
    pub thp: bool,
    /// CONFIG_CMA: CmaTotal/CmaFree.
    pub cma: bool,
    /// CONFIG_UNACCEPTED_MEMORY: Unaccepted.
    pub unaccepted_memory: bool,
    /// CONFIG_HUGETLB_PAGE: the HugePages_* block.
    pub hugetlb: bool,
    /// `direct_gbpages`: the direct map may use 1 GiB pages (x86_64 CPUs with pdpe1gb), as
    /// `init_mem_mapping` decided it (the machine's `cpu_gbpages`, `nogbpages`).
    pub direct_gbpages: bool,
}

impl MeminfoConfig {
    /// A distribution x86 build for this machine.
    pub fn of(k: &Kernel) -> Self {
        let cfg = k.machine.kernel_config();
        let x86_64 = k.era.is_64bit();
        let nogbpages = crate::klib::cmdline::split_args(&k.machine.cmdline)
            .iter()
            .any(|a| a.param == "nogbpages");
        let direct_gbpages = match k.direct_map.inputs {
            Some(i) => i.gbpages,
            None => x86_64 && !nogbpages,
        };
        MeminfoConfig {
            highmem: cfg.highmem,
            zswap: true,
            memory_failure: true,
            thp: true,
            cma: cfg.cma,
            unaccepted_memory: false,
            hugetlb: true,
            direct_gbpages,
        }
    }
}

/// A RHEL 9 build: its 5.14 carries later /proc/meminfo lines (backports).
fn rhel9(era: &Era) -> bool {
    era.release.contains(".el9")
}

/// `VMALLOC_TOTAL` in KiB: `VMALLOC_END - VMALLOC_START`. x86_64 4-level paging: 32 TiB
/// less one byte; i386: from `high_memory` plus the 8 MiB `VMALLOC_OFFSET` up to the guard
/// pages below pkmap (0 where the 32-bit layout is not known).
fn vmalloc_total_kb(k: &Kernel) -> u64 {
    if k.era.is_64bit() {
        return (0xffff_e8ff_ffff_ffffu64 - 0xffff_c900_0000_0000) >> 10;
    }
    use crate::arch::x86::pgtable_32_types::{PAGE_OFFSET, VMALLOC_OFFSET};
    crate::arch::x86::init_32::layout(k).map_or(0, |l| {
        let start = PAGE_OFFSET + (k.max_low_pfn << 12) + VMALLOC_OFFSET;
        l.vmalloc_end.saturating_sub(start) >> 10
    })
}

/// arch/x86/mm/init.c: the pieces `split_mem_range` cuts `[start, end)` into (4 KiB head up
/// to 2 MiB alignment, 2 MiB pages up to 1 GiB alignment, 1 GiB pages, 2 MiB tail, 4 KiB
/// tail), as `(start, end, page size)`.
fn split_mem_range(start: u64, end: u64, big: bool, gb: bool) -> Vec<(u64, u64, u64)> {
    const PMD: u64 = 2 << 20;
    const PUD: u64 = 1 << 30;
    let up = |x: u64, a: u64| x.div_ceil(a) * a;
    let down = |x: u64, a: u64| x / a * a;
    let mut out = Vec::new();
    let mut pos = start;
    if big {
        let e = up(pos, PMD).min(end);
        if pos < e {
            out.push((pos, e, 4096));
            pos = e;
        }
        let s = up(pos, PMD);
        let e = if gb { up(pos, PUD) } else { end }.min(down(end, PMD));
        if s < e {
            out.push((s, e, PMD));
            pos = e;
        }
        if gb {
            let s = up(pos, PUD);
            let e = down(end, PUD);
            if s < e {
                out.push((s, e, PUD));
                pos = e;
            }
            let s = up(pos, PMD);
            let e = down(end, PMD);
            if s < e {
                out.push((s, e, PMD));
                pos = e;
            }
        }
    }
    if pos < end {
        out.push((pos, end, 4096));
    }
    out
}

/// arch/x86/mm/pageattr.c: `direct_pages_count[]` after `init_mem_mapping` — KiB mapped with
/// 4 KiB, 2 MiB (4 MiB on non-PAE i386) and 1 GiB pages. The first MiB is mapped with 4 KiB
/// pages, then every RAM range up to `max_pfn` (`max_low_pfn` on i386) as `split_mem_range`
/// cuts it; a page (or large page) that covers no RAM is left unmapped, as
/// `phys_pte_init`/`phys_pmd_init` leave it. See docs/divergences.md for what this leaves out.
pub fn direct_map_kb(k: &Kernel, gbpages: bool) -> [u64; 3] {
    const ISA_END: u64 = 0x10_0000;
    let limit = if k.era.is_64bit() {
        k.max_pfn << 12
    } else {
        k.max_low_pfn << 12
    };
    // memblock.memory as e820__memblock_setup fills it: RAM (and RESERVED_KERN), merged.
    let mut ram: Vec<(u64, u64)> = Vec::new();
    let mut entries: Vec<(u64, u64)> = k
        .e820
        .table
        .iter()
        .filter(|e| matches!(e.typ, E820Type::Ram | E820Type::ReservedKern))
        .map(|e| (e.addr, e.addr.saturating_add(e.size)))
        .collect();
    entries.sort_unstable();
    for (s, e) in entries {
        match ram.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => ram.push((s, e)),
        }
    }
    let has_ram = |s: u64, e: u64| ram.iter().any(|&(rs, re)| rs < e && s < re);
    let big_size = if k.era.is_64bit() || matches!(k.era.arch, Arch::I386 { pae: true }) {
        2 << 20
    } else {
        4 << 20
    };
    let mut calls: Vec<(u64, u64)> = alloc::vec![(0, ISA_END.min(limit))];
    for &(s, e) in &ram {
        let s = s.div_ceil(4096) * 4096;
        let e = (e / 4096 * 4096).min(limit);
        let s = s.max(ISA_END);
        if s < e {
            calls.push((s, e));
        }
    }
    let mut kb = [0u64; 3];
    for (i, &(s, e)) in calls.iter().enumerate() {
        let pieces = if big_size == (2 << 20) {
            split_mem_range(s, e, i > 0, gbpages && k.era.is_64bit())
        } else {
            // Non-PAE i386: 4 MiB pages where aligned, 4 KiB elsewhere.
            let (b, t) = (s.div_ceil(big_size) * big_size, e / big_size * big_size);
            let mut v = Vec::new();
            if i > 0 && b < t {
                if s < b {
                    v.push((s, b, 4096));
                }
                v.push((b, t, big_size));
                if t < e {
                    v.push((t, e, 4096));
                }
            } else {
                v.push((s, e, 4096));
            }
            v
        };
        for (ps, pe, size) in pieces {
            let mut a = ps;
            while a < pe {
                if has_ram(a, a + size) {
                    let slot = match size {
                        4096 => 0,
                        x if x == big_size => 1,
                        _ => 2,
                    };
                    kb[slot] += size >> 10;
                }
                a += size;
            }
        }
    }
    kb
}

/// /proc/meminfo as values, in the era's order, for the machine's build.
pub fn meminfo_lines(k: &Kernel) -> Vec<MeminfoLine> {
    meminfo_lines_with(k, &MeminfoConfig::of(k))
}

/// fs/proc/meminfo.c: `meminfo_proc_show` (with mm/show_mem.c `si_meminfo`,
/// `si_mem_available`, mm/util.c `vm_commit_limit`, mm/hugetlb.c `hugetlb_report_meminfo`
/// and arch/x86/mm/pageattr.c `arch_report_meminfo`), as values.
pub fn meminfo_lines_with(k: &Kernel, c: &MeminfoConfig) -> Vec<MeminfoLine> {
    let era = &k.era;
    let v = |a, b| era.at_least(a, b);
    let el9 = rhel9(era);
    let pa = &k.page_alloc;
    let kb = |pages: u64| pages << (crate::include::PAGE_SHIFT - 10);
    let totalram = pa.totalram_pages();
    let freeram = crate::mm::page_alloc::nr_free_pages(k);
    // si_mem_available: free pages above the reserves, plus the reclaimable part of the page
    // cache and of reclaimable kernel memory (none in the model).
    let available = (freeram as i64 - k.vm.totalreserve_pages as i64).max(0) as u64;
    // si_meminfo_node / nr_free_highpages: the HighMem zones' managed and free pages.
    let (totalhigh, freehigh) = pa
        .zones()
        .filter(|z| z.zone_type == ZoneType::HighMem)
        .fold((0, 0), |(t, f), z| (t + z.managed(), f + z.free_pages()));
    // vm_commit_limit: overcommit_ratio 50, no hugetlb pages, no swap.
    let commit_limit = totalram * 50 / 100;

    let mut l: Vec<MeminfoLine> = Vec::new();
    let mut p = |label: &'static str, value: u64| {
        l.push(MeminfoLine {
            label,
            value,
            format: MeminfoFormat::Kb,
        })
    };
    p("MemTotal:       ", kb(totalram));
    p("MemFree:        ", kb(freeram));
    if v(3, 14) {
        p("MemAvailable:   ", kb(available));
    }
    for label in [
        "Buffers:        ",
        "Cached:         ",
        "SwapCached:     ",
        "Active:         ",
        "Inactive:       ",
        "Active(anon):   ",
        "Inactive(anon): ",
        "Active(file):   ",
        "Inactive(file): ",
        "Unevictable:    ",
        "Mlocked:        ",
    ] {
        p(label, 0);
    }
    if c.highmem {
        p("HighTotal:      ", kb(totalhigh));
        p("HighFree:       ", kb(freehigh));
        p("LowTotal:       ", kb(totalram - totalhigh));
        p("LowFree:        ", kb(freeram - freehigh));
    }
    p("SwapTotal:      ", 0);
    p("SwapFree:       ", 0);
    if c.zswap && (v(5, 19) || el9) {
        p("Zswap:          ", 0);
        p("Zswapped:       ", 0);
    }
    for label in [
        "Dirty:          ",
        "Writeback:      ",
        "AnonPages:      ",
        "Mapped:         ",
        "Shmem:          ",
    ] {
        p(label, 0);
    }
    // NR_SLAB_RECLAIMABLE_B / NR_SLAB_UNRECLAIMABLE_B, in KiB.
    let (sreclaimable, sunreclaim) = k.slab.slab_bytes();
    let (sreclaimable, sunreclaim) = (sreclaimable >> 10, sunreclaim >> 10);
    if v(4, 20) || el9 {
        // KReclaimable: SReclaimable plus NR_KERNEL_MISC_RECLAIMABLE (none).
        p("KReclaimable:   ", sreclaimable);
    }
    p("Slab:           ", sreclaimable + sunreclaim);
    p("SReclaimable:   ", sreclaimable);
    p("SUnreclaim:     ", sunreclaim);
    for label in ["KernelStack:    ", "PageTables:     "] {
        p(label, 0);
    }
    if v(6, 0) || el9 {
        p("SecPageTables:  ", 0);
    }
    for label in ["NFS_Unstable:   ", "Bounce:         ", "WritebackTmp:   "] {
        p(label, 0);
    }
    p("CommitLimit:    ", kb(commit_limit));
    p("Committed_AS:   ", 0);
    let vt = vmalloc_total_kb(k);
    p("VmallocTotal:   ", vt);
    // VmallocUsed and VmallocChunk, as the release counts them.
    use crate::mm::vmalloc::{VmallocRules, VmallocUsed};
    let form = VmallocRules::new(era).meminfo_used;
    let used = match form {
        VmallocUsed::Pages => crate::mm::vmalloc::vmalloc_nr_pages(k) << 2,
        VmallocUsed::Zero => 0,
        VmallocUsed::BusyBytes => {
            let (busy, _) = crate::mm::vmalloc::vmap_areas(k);
            busy.iter().map(|a| a.size).sum::<u64>() >> 10
        }
    };
    p("VmallocUsed:    ", used);
    // Before 4.4 the largest free block inside the range (all of it while nothing is
    // vmalloc'd); from 4.4 the line stays, 0.
    let chunk = match form {
        VmallocUsed::BusyBytes if crate::mm::vmalloc::vmap_initialized(k) => {
            crate::mm::vmalloc::largest_free_block(k) >> 10
        }
        VmallocUsed::BusyBytes => vt,
        _ => 0,
    };
    p("VmallocChunk:   ", chunk);
    if v(4, 16) {
        p("Percpu:         ", 0);
    }
    if c.memory_failure {
        l.push(MeminfoLine {
            label: "HardwareCorrupted: ",
            value: 0,
            format: MeminfoFormat::Kb5,
        });
    }
    let mut p = |label: &'static str, value: u64| {
        l.push(MeminfoLine {
            label,
            value,
            format: MeminfoFormat::Kb,
        })
    };
    if c.thp {
        p("AnonHugePages:  ", 0);
        if v(4, 8) {
            p("ShmemHugePages: ", 0);
            p("ShmemPmdMapped: ", 0);
        }
        if v(5, 4) {
            p("FileHugePages:  ", 0);
            p("FilePmdMapped:  ", 0);
        }
    }
    if c.cma && v(4, 1) {
        p("CmaTotal:       ", kb(pa.totalcma_pages));
        let free_cma: i64 = pa
            .zones()
            .map(|z| {
                z.nr_free_cma_pages
                    .load(core::sync::atomic::Ordering::Relaxed)
            })
            .sum();
        p("CmaFree:        ", kb(free_cma.max(0) as u64));
    }
    if c.unaccepted_memory && v(6, 5) {
        p("Unaccepted:     ", 0);
    }
    if v(6, 15) {
        p("Balloon:        ", 0);
    }
    if c.hugetlb {
        for label in [
            "HugePages_Total:   ",
            "HugePages_Free:    ",
            "HugePages_Rsvd:    ",
            "HugePages_Surp:    ",
        ] {
            l.push(MeminfoLine {
                label,
                value: 0,
                format: MeminfoFormat::Count5,
            });
        }
        let huge_kb = if era.is_64bit() || matches!(era.arch, Arch::I386 { pae: true }) {
            2048
        } else {
            4096
        };
        l.push(MeminfoLine {
            label: "Hugepagesize:   ",
            value: huge_kb,
            format: MeminfoFormat::Kb,
        });
        if v(4, 14) {
            l.push(MeminfoLine {
                label: "Hugetlb:        ",
                value: 0,
                format: MeminfoFormat::Kb,
            });
        }
    }
    // The counts init_mem_mapping's mapping functions kept, where the direct map was built.
    let dm = match (k.direct_map.inputs, k.pt32.geom) {
        // i386: the counts kernel_physical_mapping_init kept; PG_LEVEL_2M pages are 4 MiB
        // without PAE.
        (_, Some(g)) => {
            let n = k.pt32.pages_count;
            [n[0] << 2, n[1] << (g.pmd_shift() - 10), 0]
        }
        (Some(_), None) => {
            let n = k.direct_map.pages_count;
            [n[0] << 2, n[1] << 11, n[2] << 20]
        }
        (None, None) => direct_map_kb(k, c.direct_gbpages),
    };
    let big = if era.is_64bit() || matches!(era.arch, Arch::I386 { pae: true }) {
        "DirectMap2M:    "
    } else {
        "DirectMap4M:    "
    };
    let mut p = |label: &'static str, value: u64| {
        l.push(MeminfoLine {
            label,
            value,
            format: MeminfoFormat::Kb,
        })
    };
    p("DirectMap4k:    ", dm[0]);
    p(big, dm[1]);
    if c.direct_gbpages {
        p("DirectMap1G:    ", dm[2]);
    }
    l
}

/// The text of /proc/meminfo for `lines`.
pub fn render_meminfo(lines: &[MeminfoLine]) -> String {
    let mut s = String::new();
    for m in lines {
        let _ = match m.format {
            MeminfoFormat::Kb => writeln!(s, "{}{:8} kB", m.label, m.value),
            MeminfoFormat::Kb5 => writeln!(s, "{}{:5} kB", m.label, m.value),
            MeminfoFormat::Count5 => writeln!(s, "{}{:5}", m.label, m.value),
        };
    }
    s
}

/// fs/proc/meminfo.c: `meminfo_proc_show`: `/proc/meminfo`.
pub fn meminfo(k: &Kernel) -> String {
    render_meminfo(&meminfo_lines(k))
}

#[cfg(test)]
mod tests;
