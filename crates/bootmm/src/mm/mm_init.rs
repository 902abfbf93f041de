//! `mm/mm_init.c` (`mm/page_alloc.c` before 6.3): sizing nodes and zones in `free_area_init`.
//!
//! The kernel splits each NUMA node's page frames into zones (DMA, DMA32, Normal, HighMem,
//! Movable, Device) from per-zone pfn limits, counts each zone's spanned, present and
//! estimated managed pages from memblock's memory ranges, and initialises the struct pages
//! of the holes. bootmm computes the same numbers and prints the same lines per era from
//! plain inputs, but builds no struct pages, pagesets or free lists here, and omits the
//! flat-memmap `free_area_init_node` line (it prints kernel virtual addresses).

use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::era::{Arch, Era};
use crate::printk::Printk;
use crate::trace::Trace;
use crate::{pr_cont, pr_debug, pr_info, pr_warn};

/// `MAX_DMA_PFN`: the end of ISA DMA memory, 16 MiB.
pub const MAX_DMA_PFN: u64 = (16 << 20) >> 12;
/// `MAX_DMA32_PFN`: 4 GiB (x86_64 only).
pub const MAX_DMA32_PFN: u64 = (4 << 30) >> 12;
/// `MAX_ORDER_NR_PAGES`: 1024 pages (4 MiB) on x86 in every era.
pub const MAX_ORDER_NR_PAGES: u64 = 1024;
/// `PAGE_SIZE`.
const PAGE_SIZE: u64 = 4096;

/// `enum zone_type` (include/linux/mmzone.h), in the kernel's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ZoneType {
    Dma,
    Dma32,
    Normal,
    HighMem,
    Movable,
    Device,
}

impl ZoneType {
    /// Every zone type, in `enum zone_type` order.
    pub const ALL: [ZoneType; 6] = [
        ZoneType::Dma,
        ZoneType::Dma32,
        ZoneType::Normal,
        ZoneType::HighMem,
        ZoneType::Movable,
        ZoneType::Device,
    ];

    /// `zone_names[]`.
    pub fn name(self) -> &'static str {
        match self {
            ZoneType::Dma => "DMA",
            ZoneType::Dma32 => "DMA32",
            ZoneType::Normal => "Normal",
            ZoneType::HighMem => "HighMem",
            ZoneType::Movable => "Movable",
            ZoneType::Device => "Device",
        }
    }

    /// `is_highmem_idx`.
    pub fn is_highmem(self) -> bool {
        self == ZoneType::HighMem
    }

    fn idx(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ZoneType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors for inputs the kernel would never see (they are bugs in the caller or the log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MmInitError {
    /// memblock has no memory at all.
    NoMemory,
    /// Initialising the struct pages failed (simulated RAM could not be used).
    Memmap(String),
    /// A range whose start lies above its end.
    BadRange { start_pfn: u64, end_pfn: u64 },
    /// Ranges are not sorted by start or overlap (memblock keeps them sorted and disjoint).
    UnsortedRanges { prev_end: u64, start_pfn: u64 },
    /// A zone name that is not one of `zone_names[]`.
    UnknownZone(String),
    /// The zone set lacks ZONE_NORMAL, or names a zone twice.
    BadZoneSet(String),
    /// `sizeof(struct page)` of zero.
    BadStructPageSize,
    /// A `kernelcore=`/`movablecore=` value that does not parse.
    BadCoreParam(String),
}

impl fmt::Display for MmInitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MmInitError::NoMemory => write!(f, "memblock has no memory ranges"),
            MmInitError::Memmap(e) => write!(f, "memmap_init: {e}"),
            MmInitError::BadRange { start_pfn, end_pfn } => {
                write!(f, "memory range starts at pfn {start_pfn:#x} after its end {end_pfn:#x}")
            }
            MmInitError::UnsortedRanges { prev_end, start_pfn } => write!(
                f,
                "memory ranges unsorted or overlapping: pfn {start_pfn:#x} starts below the previous end {prev_end:#x}"
            ),
            MmInitError::UnknownZone(z) => write!(f, "unknown zone name {z:?}"),
            MmInitError::BadZoneSet(why) => write!(f, "impossible zone set: {why}"),
            MmInitError::BadStructPageSize => write!(f, "sizeof(struct page) must be positive"),
            MmInitError::BadCoreParam(s) => write!(f, "cannot parse kernelcore/movablecore value {s:?}"),
        }
    }
}

/// Which zones the kernel was built with (CONFIG_ZONE_DMA, CONFIG_ZONE_DMA32, CONFIG_HIGHMEM,
/// CONFIG_ZONE_DEVICE). ZONE_NORMAL and ZONE_MOVABLE always exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneConfig {
    pub dma: bool,
    pub dma32: bool,
    pub highmem: bool,
    pub device: bool,
}

impl ZoneConfig {
    /// The usual distribution build: x86_64 with DMA and DMA32, i386 with DMA and HighMem.
    pub fn x86_default(era: &Era) -> Self {
        ZoneConfig {
            dma: true,
            dma32: era.is_64bit(),
            highmem: !era.is_64bit(),
            device: false,
        }
    }

    /// The zone set from the names a log prints under "Zone ranges:" (every zone but Movable).
    pub fn from_zone_names<'a, I: IntoIterator<Item = &'a str>>(
        names: I,
    ) -> Result<Self, MmInitError> {
        let mut c = ZoneConfig {
            dma: false,
            dma32: false,
            highmem: false,
            device: false,
        };
        let mut normal = false;
        for n in names {
            let flag = match n.trim() {
                "DMA" => &mut c.dma,
                "DMA32" => &mut c.dma32,
                "Normal" => &mut normal,
                "HighMem" => &mut c.highmem,
                "Device" => &mut c.device,
                other => return Err(MmInitError::UnknownZone(String::from(other))),
            };
            if *flag {
                return Err(MmInitError::BadZoneSet(alloc::format!(
                    "zone {n} listed twice"
                )));
            }
            *flag = true;
        }
        if !normal {
            return Err(MmInitError::BadZoneSet(String::from("no Normal zone")));
        }
        Ok(c)
    }

    /// The configured zones in `enum zone_type` order (the node's `node_zones[]`).
    pub fn zones(&self) -> Vec<ZoneType> {
        ZoneType::ALL
            .iter()
            .copied()
            .filter(|z| match z {
                ZoneType::Dma => self.dma,
                ZoneType::Dma32 => self.dma32,
                ZoneType::HighMem => self.highmem,
                ZoneType::Device => self.device,
                ZoneType::Normal | ZoneType::Movable => true,
            })
            .collect()
    }
}

/// One memblock memory region as `for_each_mem_pfn_range` yields it (`[PFN_UP(base),
/// PFN_DOWN(end))`, with its node), plus the region flags ZONE_MOVABLE placement reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemRange {
    pub start_pfn: u64,
    pub end_pfn: u64,
    pub nid: u32,
    /// MEMBLOCK_HOTPLUG (from SRAT), read by `movable_node`.
    pub hotplug: bool,
    /// MEMBLOCK_MIRROR (EFI mirrored memory), read by `kernelcore=mirror`.
    pub mirror: bool,
}

impl MemRange {
    pub const fn new(start_pfn: u64, end_pfn: u64, nid: u32) -> Self {
        MemRange {
            start_pfn,
            end_pfn,
            nid,
            hotplug: false,
            mirror: false,
        }
    }
}

/// A `kernelcore=` / `movablecore=` amount: pages, or a percentage of all memory (4.17+).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoreParam {
    Pages(u64),
    Percent(u64),
}

/// The boot parameters that create ZONE_MOVABLE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MovableParams {
    /// `kernelcore=` (size or percentage).
    pub kernelcore: Option<CoreParam>,
    /// `kernelcore=mirror` (4.6+).
    pub kernelcore_mirror: bool,
    /// `movablecore=`.
    pub movablecore: Option<CoreParam>,
    /// `movable_node`.
    pub movable_node: bool,
    /// Booted as a kdump kernel (`is_kdump_kernel()`), which ignores `kernelcore=mirror`.
    pub is_kdump: bool,
}

/// `cmdline_parse_core` (mm/mm_init.c): a `kernelcore=`/`movablecore=` value. "mirror" is
/// handled by the caller. "N%" is understood from 4.17; earlier kernels read "N" as bytes.
pub fn cmdline_parse_core(era: &Era, s: &str) -> Result<CoreParam, MmInitError> {
    let bad = || MmInitError::BadCoreParam(String::from(s));
    let (num, rest) = parse_ull(s).ok_or_else(bad)?;
    if era.at_least(4, 17) && rest.starts_with('%') {
        // The kernel only warns about more than 100 and uses the value; so does bootmm.
        return Ok(CoreParam::Percent(num));
    }
    let shift = match rest.chars().next().map(|c| c.to_ascii_uppercase()) {
        Some('E') => 60,
        Some('P') => 50,
        Some('T') => 40,
        Some('G') => 30,
        Some('M') => 20,
        Some('K') => 10,
        _ => 0,
    };
    let bytes = num
        .checked_shl(shift)
        .filter(|v| v >> shift == num)
        .ok_or_else(bad)?;
    Ok(CoreParam::Pages(bytes >> 12))
}

/// `simple_strtoull(s, &end, 0)`: decimal, 0x-hex or 0-octal; returns the value and the rest.
fn parse_ull(s: &str) -> Option<(u64, &str)> {
    let (radix, body) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, h)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..])
    } else {
        (10, s)
    };
    let n = body.chars().take_while(|c| c.is_digit(radix)).count();
    if n == 0 {
        return if radix == 8 { Some((0, body)) } else { None };
    }
    let v = u64::from_str_radix(&body[..n], radix).ok()?;
    Some((v, &body[n..]))
}

/// Everything `free_area_init` reads: memblock's state and the build/boot facts that matter.
#[derive(Clone, Copy, Debug)]
pub struct FreeAreaInit<'a> {
    pub era: &'a Era,
    pub zones: ZoneConfig,
    /// memblock.memory as pfn ranges, sorted and disjoint.
    pub mem: &'a [MemRange],
    /// memblock.reserved, as byte ranges `[base, end)` (for the 4.15–4.19 hole line).
    pub reserved: &'a [(u64, u64)],
    /// Free memblock ranges (memory minus reserved) as byte ranges, for 6.11+ nr_kernel_pages.
    pub free: &'a [(u64, u64)],
    /// Online nodes, ascending; `None` means every node that has memory.
    pub online_nodes: Option<&'a [u32]>,
    pub max_low_pfn: u64,
    pub max_pfn: u64,
    /// sizeof(struct page): 64 on x86_64 SLUB builds, 56 with SLAB, 32/40 on i386.
    pub struct_page_size: u64,
    /// CONFIG_SPARSEMEM (always on x86_64; i386 distribution kernels are usually FLATMEM).
    pub sparsemem: bool,
    pub movable: MovableParams,
    /// `dma_reserve` as set by `memblock_find_dma_reserve` (x86_64, before 6.11).
    pub dma_reserve: u64,
}

/// One zone of one node after `calculate_node_totalpages` and `free_area_init_core`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneInfo {
    pub zone_type: ZoneType,
    pub zone_start_pfn: u64,
    pub spanned_pages: u64,
    pub present_pages: u64,
    /// The boot estimate `free_area_init_core` stores (memblock_free_all replaces it later).
    pub managed_pages: u64,
    /// `calc_memmap_size` for this zone (0 where the era does not compute it).
    pub memmap_pages: u64,
}

/// One node (`pg_data_t`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    pub nid: u32,
    pub node_start_pfn: u64,
    pub node_spanned_pages: u64,
    pub node_present_pages: u64,
    pub zones: Vec<ZoneInfo>,
}

/// What `free_area_init` leaves behind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneLayout {
    /// The configured zones, in order.
    pub zones: Vec<ZoneType>,
    /// `arch_zone_lowest_possible_pfn[]` / `arch_zone_highest_possible_pfn[]`, by ZoneType.
    pub lowest: [u64; 6],
    pub highest: [u64; 6],
    /// `movable_zone`: the zone ZONE_MOVABLE takes its pages from.
    pub movable_zone: ZoneType,
    /// `zone_movable_pfn[nid]` for nodes where it is set.
    pub zone_movable_pfn: Vec<(u32, u64)>,
    pub nodes: Vec<NodeInfo>,
    pub nr_kernel_pages: u64,
    pub nr_all_pages: u64,
    /// Pages whose struct page was set up for a hole (the sum the hole lines print).
    pub unavailable_pages: u64,
}

impl ZoneLayout {
    /// The zone's `[lowest, highest)` pfn limits, `None` if empty.
    pub fn zone_range(&self, z: ZoneType) -> Option<(u64, u64)> {
        let (lo, hi) = (self.lowest[z.idx()], self.highest[z.idx()]);
        (hi > lo).then_some((lo, hi))
    }

    pub fn node(&self, nid: u32) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.nid == nid)
    }

    /// `zone_movable_pfn[nid]` (0: no ZONE_MOVABLE on that node).
    pub fn movable_pfn(&self, nid: u32) -> u64 {
        movable_pfn_of(&self.zone_movable_pfn, nid)
    }
}

fn movable_pfn_of(v: &[(u32, u64)], nid: u32) -> u64 {
    v.iter().find(|(n, _)| *n == nid).map_or(0, |(_, p)| *p)
}

fn set_movable_pfn(v: &mut Vec<(u32, u64)>, nid: u32, pfn: u64) {
    match v.iter_mut().find(|(n, _)| *n == nid) {
        Some(e) => e.1 = pfn,
        None => {
            v.push((nid, pfn));
            v.sort_unstable();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Era questions for this file.

/// How addresses are printed in the zone lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AddrStyle {
    /// 2.6.x – 3.4: raw pfns, "Zone PFN ranges:" (`%0#10lx -> %0#10lx`).
    Pfn,
    /// 3.5 – 3.19: `[mem %#010lx-%#010lx]` computed in `unsigned long` (wraps on i386).
    Mem32,
    /// 4.0+: `[mem %#018Lx-%#018Lx]` in u64.
    Mem64,
}

fn addr_style(era: &Era) -> AddrStyle {
    if era.at_least(4, 0) {
        AddrStyle::Mem64
    } else if era.at_least(3, 5) {
        AddrStyle::Mem32
    } else {
        AddrStyle::Pfn
    }
}

/// `pfn << PAGE_SHIFT` in `unsigned long`, as 3.x printed it (32 bits on i386).
fn ulong_shift(era: &Era, pfn: u64) -> u64 {
    let v = pfn << 12;
    if era.is_64bit() {
        v
    } else {
        v & 0xffff_ffff
    }
}

/// Level of the plain `printk("...")` lines of old kernels (MESSAGE_LOGLEVEL_DEFAULT, 4),
/// which became `pr_info` in the 3.17 rework.
fn plain_printk(log: &Printk, era: &Era, args: fmt::Arguments<'_>) {
    if era.at_least(3, 17) {
        log.info(args)
    } else {
        log.warn(args)
    }
}

/// The KERN_DEBUG accounting lines ("On node N totalpages", memmap, reserved, LIFO batch)
/// became `pr_debug` in 5.15 and vanish from dmesg.
fn debug_lines_visible(era: &Era) -> bool {
    !era.at_least(5, 15)
}

/// 3.9 split `present_pages` (real) from `managed_pages` (present minus memmap/reserve)
/// and introduced `calc_memmap_size`. Before, `present_pages` itself was reduced.
fn has_managed_split(era: &Era) -> bool {
    era.at_least(3, 9)
}

/// From 4.0 the memmap of a HighMem zone is no longer charged to the zone (bracketed by the
/// 3.18 and 4.4 trees; the exact release is not confirmed).
fn skips_highmem_memmap(era: &Era) -> bool {
    era.at_least(4, 0)
}

/// 6.11 dropped the memmap/dma_reserve estimate: managed = present, and nr_kernel_pages comes
/// from the free memblock ranges (`calc_nr_kernel_pages`).
fn managed_is_present(era: &Era) -> bool {
    era.at_least(6, 11)
}

/// The "Initmem setup node" line is printed by free_area_init_node from 3.17 (before, the x86
/// NUMA code printed its own variant while setting up NODE_DATA).
fn prints_initmem(era: &Era) -> bool {
    era.at_least(3, 17)
}

/// Which hole accounting the era has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HoleStyle {
    /// Before 4.15: holes are not touched at boot.
    None,
    /// 4.15 – 4.20 (4.19.102 in that series): `zero_resv_unavail` over reserved-but-not-memory
    /// ranges, "Reserved but unavailable: N pages".
    ReservedButUnavailable,
    /// 5.0 – 5.11.6, 5.10.23, 4.19.103+ and RHEL 8: `zero_resv_unavail`/`init_unavailable_mem`
    /// over the gaps between memory ranges, "Zeroed struct page in unavailable ranges: N
    /// pages"; `tail`: also up to the end of the last section ("fix uninitialized memmaps on a
    /// partially populated last section": 5.6, 5.4.19 and 4.19.103; the 5.4 sublevel is
    /// inferred from the 4.19 batch).
    ZeroedStructPage { tail: bool },
    /// 0740a50b9baa "refactor initialization of struct page for holes in memory layout":
    /// `memmap_init` per zone, "  %s zone: %llu pages in unavailable ranges" after the
    /// zone's LIFO line. Mainline 5.12 and 5.13, 5.13.0-5.13.1, 5.12.0-5.12.16, 5.11.7+,
    /// 5.10.24-5.10.50, and Ubuntu's 5.4 gcp kernels.
    PerZone,
    /// 122e093c1734 "fix memory map initialization for descending nodes": `memmap_init` →
    /// `init_unavailable_range`, one line per hole and zone after all nodes. 5.14, 5.13.2,
    /// 5.12.17 and 5.10.51 (the 5.13 and 5.10 sublevels inferred from the stable queues).
    PerNodeZone,
}

fn hole_style(era: &Era) -> HoleStyle {
    let v = era.version;
    let rel = era.release.as_str();
    let series = |a, b| v.major == a && v.minor == b;
    let since = |a, b, c| series(a, b) && v.patch >= c;
    if era.at_least(5, 14) || since(5, 13, 2) || since(5, 12, 17) || since(5, 10, 51) {
        HoleStyle::PerNodeZone
    } else if era.at_least(5, 12)
        || since(5, 11, 7)
        || since(5, 10, 24)
        || (series(5, 4) && rel.contains("-gcp"))
    {
        HoleStyle::PerZone
    } else if era.at_least(5, 0) || since(4, 19, 103) {
        HoleStyle::ZeroedStructPage {
            tail: era.at_least(5, 6) || since(5, 4, 19) || since(4, 19, 103),
        }
    } else if series(4, 18) && rel.contains(".el8") {
        HoleStyle::ZeroedStructPage { tail: false }
    } else if era.at_least(4, 15) {
        HoleStyle::ReservedButUnavailable
    } else {
        HoleStyle::None
    }
}

/// `SECTION_SIZE_BITS - PAGE_SHIFT`.
fn pfn_section_shift(era: &Era) -> u32 {
    match era.arch {
        Arch::X86_64 => 27 - 12,
        Arch::I386 { pae: true } => 29 - 12,
        Arch::I386 { pae: false } => 26 - 12,
    }
}

/// `pageblock_nr_pages`: 2 MiB huge pages on x86_64 and PAE, 4 MiB without PAE.
fn pageblock_nr_pages(era: &Era) -> u64 {
    match era.arch {
        Arch::I386 { pae: false } => 1024,
        _ => 512,
    }
}

// ---------------------------------------------------------------------------------------------
// Zone limits.

/// `zone_sizes_init` (arch/x86/mm/init.c; paging_init in arch/x86/mm/init_64.c and
/// init_32.c before 3.x): the highest pfn + 1 of every zone, indexed by [`ZoneType`].
/// From 3.19 DMA and DMA32 are capped at `max_low_pfn` (c072b90c8dfe "x86/mm: Fix zone
/// ranges boot printout", tip x86/urgent, Dec 2014); earlier kernels left them at 16 MiB and
/// 4 GiB, so a small machine's DMA32 ran to 4 GiB and Normal was empty.
pub fn zone_sizes_init(era: &Era, zones: &ZoneConfig, max_low_pfn: u64, max_pfn: u64) -> [u64; 6] {
    let capped = era.at_least(3, 19);
    let cap = |limit: u64| {
        if capped {
            limit.min(max_low_pfn)
        } else {
            limit
        }
    };
    let mut m = [0u64; 6];
    if zones.dma {
        m[ZoneType::Dma.idx()] = cap(MAX_DMA_PFN);
    }
    if zones.dma32 {
        m[ZoneType::Dma32.idx()] = cap(MAX_DMA32_PFN);
    }
    m[ZoneType::Normal.idx()] = max_low_pfn;
    if zones.highmem {
        m[ZoneType::HighMem.idx()] = max_pfn;
    }
    m
}

fn check_ranges(mem: &[MemRange]) -> Result<Vec<MemRange>, MmInitError> {
    let mut out: Vec<MemRange> = Vec::with_capacity(mem.len());
    let mut prev_end = 0;
    for r in mem {
        if r.start_pfn > r.end_pfn {
            return Err(MmInitError::BadRange {
                start_pfn: r.start_pfn,
                end_pfn: r.end_pfn,
            });
        }
        if r.start_pfn == r.end_pfn {
            // for_each_mem_pfn_range skips regions with no whole page.
            continue;
        }
        if !out.is_empty() && r.start_pfn < prev_end {
            return Err(MmInitError::UnsortedRanges {
                prev_end,
                start_pfn: r.start_pfn,
            });
        }
        prev_end = r.end_pfn;
        out.push(*r);
    }
    if out.is_empty() {
        return Err(MmInitError::NoMemory);
    }
    Ok(out)
}

/// `get_pfn_range_for_nid` (mm/mm_init.c): the lowest start and highest end of the node's
/// ranges, or (0, 0) for a node without memory.
pub fn get_pfn_range_for_nid(mem: &[MemRange], nid: u32) -> (u64, u64) {
    let mut it = mem.iter().filter(|r| r.nid == nid);
    match it.next() {
        None => (0, 0),
        Some(first) => it.fold((first.start_pfn, first.end_pfn), |(s, e), r| {
            (s.min(r.start_pfn), e.max(r.end_pfn))
        }),
    }
}

/// `early_calculate_totalpages` (mm/mm_init.c): all pages of all memory ranges.
fn early_calculate_totalpages(mem: &[MemRange]) -> u64 {
    mem.iter().map(|r| r.end_pfn - r.start_pfn).sum()
}

fn nodes_with_memory(mem: &[MemRange]) -> Vec<u32> {
    let s: BTreeSet<u32> = mem.iter().map(|r| r.nid).collect();
    s.into_iter().collect()
}

/// The zone limits `free_area_init` chains together: each zone starts where the previous
/// one ended, the first at the lowest memory pfn. 2.6.32 did not raise the first zone's
/// end to its start.
fn arch_zone_limits(
    era: &Era,
    zones: &[ZoneType],
    max_zone_pfn: &[u64; 6],
    first_pfn: u64,
) -> ([u64; 6], [u64; 6]) {
    let mut lowest = [0u64; 6];
    let mut highest = [0u64; 6];
    let mut start = first_pfn;
    let mut first = true;
    for &z in zones {
        if z == ZoneType::Movable {
            continue;
        }
        let end = if first && !era.at_least(3, 0) {
            // 2.6.x: arch_zone_highest_possible_pfn[0] = max_zone_pfn[0], not raised.
            max_zone_pfn[z.idx()]
        } else {
            max_zone_pfn[z.idx()].max(start)
        };
        lowest[z.idx()] = start;
        highest[z.idx()] = end;
        start = end;
        first = false;
    }
    (lowest, highest)
}

/// `find_usable_zone_for_movable` (mm/mm_init.c): the highest zone (below Movable) that is not empty.
fn find_usable_zone_for_movable(
    zones: &[ZoneType],
    lowest: &[u64; 6],
    highest: &[u64; 6],
) -> ZoneType {
    zones
        .iter()
        .rev()
        .copied()
        .filter(|&z| z != ZoneType::Movable)
        .find(|z| highest[z.idx()] > lowest[z.idx()])
        .unwrap_or(ZoneType::Normal)
}

/// `find_zone_movable_pfns_for_nodes` (mm/mm_init.c): where ZONE_MOVABLE starts on each
/// node, from `movable_node`, `kernelcore=mirror`, `kernelcore=` and `movablecore=`.
/// Returns `movable_zone` and the (nid, pfn) pairs that are non-zero.
pub fn find_zone_movable_pfns_for_nodes(
    era: &Era,
    log: &Printk,
    zones: &[ZoneType],
    mem: &[MemRange],
    lowest: &[u64; 6],
    highest: &[u64; 6],
    p: &MovableParams,
) -> (ZoneType, Vec<(u32, u64)>) {
    let mut zmp: Vec<(u32, u64)> = Vec::new();
    let totalpages = early_calculate_totalpages(mem);
    let nodes = nodes_with_memory(mem);
    let movable_zone = find_usable_zone_for_movable(zones, lowest, highest);

    let lowest_min = |v: &mut Vec<(u32, u64)>, nid: u32, pfn: u64| {
        let cur = movable_pfn_of(v, nid);
        set_movable_pfn(v, nid, if cur != 0 { cur.min(pfn) } else { pfn });
    };

    let mut aligned = false;
    if p.movable_node && era.at_least(3, 12) {
        for r in mem.iter().filter(|r| r.hotplug) {
            lowest_min(&mut zmp, r.nid, r.start_pfn);
        }
        aligned = true;
    } else if p.kernelcore_mirror && era.at_least(4, 6) {
        if !mem.iter().any(|r| r.mirror) {
            pr_warn!(
                log,
                "The system has no mirror memory, ignore kernelcore=mirror.\n"
            );
            return (movable_zone, zmp);
        }
        if p.is_kdump && era.at_least(4, 17) {
            pr_warn!(
                log,
                "The system is under kdump, ignore kernelcore=mirror.\n"
            );
            return (movable_zone, zmp);
        }
        let mut below_4g = false;
        for r in mem.iter().filter(|r| !r.mirror) {
            if r.start_pfn < MAX_DMA32_PFN {
                below_4g = true;
                continue;
            }
            lowest_min(&mut zmp, r.nid, r.start_pfn);
        }
        if below_4g {
            pr_warn!(
                log,
                "This configuration results in unmirrored kernel memory.\n"
            );
        }
        aligned = true;
    }

    if !aligned {
        let pct = |c: Option<CoreParam>| -> u64 {
            match c {
                Some(CoreParam::Pages(n)) => n,
                Some(CoreParam::Percent(x)) => {
                    totalpages.saturating_mul(100).saturating_mul(x) / 10000
                }
                None => 0,
            }
        };
        let mut required_kernelcore = pct(p.kernelcore);
        let mut required_movablecore = pct(p.movablecore);
        if required_movablecore != 0 {
            required_movablecore =
                crate::include::addr::roundup(required_movablecore, MAX_ORDER_NR_PAGES)
                    .min(totalpages);
            let corepages = totalpages - required_movablecore;
            required_kernelcore = required_kernelcore.max(corepages);
        }
        if required_kernelcore == 0 || required_kernelcore >= totalpages {
            return (movable_zone, zmp);
        }
        let usable_startpfn = lowest[movable_zone.idx()];
        let mut usable_nodes = nodes.len() as u64;
        loop {
            let mut kernelcore_node = required_kernelcore / usable_nodes;
            for &nid in &nodes {
                if required_kernelcore < kernelcore_node {
                    kernelcore_node = required_kernelcore / usable_nodes;
                }
                let mut remaining = kernelcore_node;
                for r in mem.iter().filter(|r| r.nid == nid) {
                    let mut start = r.start_pfn.max(movable_pfn_of(&zmp, nid));
                    let end = r.end_pfn;
                    if start >= end {
                        continue;
                    }
                    if start < usable_startpfn {
                        let kernel_pages = end.min(usable_startpfn) - start;
                        remaining -= kernel_pages.min(remaining);
                        required_kernelcore -= kernel_pages.min(required_kernelcore);
                        if end <= usable_startpfn {
                            set_movable_pfn(&mut zmp, nid, end);
                            continue;
                        }
                        start = usable_startpfn;
                    }
                    let size = (end - start).min(remaining);
                    set_movable_pfn(&mut zmp, nid, start + size);
                    required_kernelcore -= required_kernelcore.min(size);
                    remaining -= size;
                    if remaining == 0 {
                        break;
                    }
                }
            }
            usable_nodes -= 1;
            if !(usable_nodes != 0 && required_kernelcore > usable_nodes) {
                break;
            }
        }
    }

    // out2: align to MAX_ORDER_NR_PAGES; a start at or past the node's end means no zone
    // (that check is in the 4.6+ trees; 2.6.32 only aligned).
    for e in zmp.iter_mut() {
        e.1 = crate::include::addr::roundup(e.1, MAX_ORDER_NR_PAGES);
        if era.at_least(4, 6) {
            let (_, end) = get_pfn_range_for_nid(mem, e.0);
            if e.1 >= end {
                e.1 = 0;
            }
        }
    }
    zmp.retain(|e| e.1 != 0);
    (movable_zone, zmp)
}

// ---------------------------------------------------------------------------------------------
// Per-node sizes.

/// `adjust_zone_range_for_zone_movable` (mm/mm_init.c): carve ZONE_MOVABLE out of the
/// node's top zone (or place it there), given the node's `zone_movable_pfn`.
#[allow(clippy::too_many_arguments)]
pub fn adjust_zone_range_for_zone_movable(
    zone: ZoneType,
    zone_movable_pfn: u64,
    movable_zone_highest: u64,
    mirrored_kernelcore: bool,
    node_end_pfn: u64,
    zone_start_pfn: &mut u64,
    zone_end_pfn: &mut u64,
) {
    if zone_movable_pfn == 0 {
        return;
    }
    if zone == ZoneType::Movable {
        *zone_start_pfn = zone_movable_pfn;
        *zone_end_pfn = node_end_pfn.min(movable_zone_highest);
    } else if !mirrored_kernelcore
        && *zone_start_pfn < zone_movable_pfn
        && *zone_end_pfn > zone_movable_pfn
    {
        *zone_end_pfn = zone_movable_pfn;
    } else if *zone_start_pfn >= zone_movable_pfn {
        *zone_start_pfn = *zone_end_pfn;
    }
}

/// The global state the per-node zone computations read: memblock's ranges,
/// `arch_zone_{lowest,highest}_possible_pfn[]`, `movable_zone`, `zone_movable_pfn[]` and
/// `mirrored_kernelcore`.
#[derive(Clone, Copy, Debug)]
pub struct LayoutView<'a> {
    pub mem: &'a [MemRange],
    pub lowest: &'a [u64; 6],
    pub highest: &'a [u64; 6],
    pub movable_zone: ZoneType,
    pub zone_movable_pfn: &'a [(u32, u64)],
    pub mirrored: bool,
}

impl LayoutView<'_> {
    /// The zone's range on the node after clamping and the ZONE_MOVABLE adjustment.
    fn clamped(&self, nid: u32, z: ZoneType, node_start: u64, node_end: u64) -> (u64, u64) {
        let (lo, hi) = (self.lowest[z.idx()], self.highest[z.idx()]);
        let mut zs = node_start.clamp(lo, hi.max(lo));
        let mut ze = node_end.clamp(lo, hi.max(lo));
        adjust_zone_range_for_zone_movable(
            z,
            movable_pfn_of(self.zone_movable_pfn, nid),
            self.highest[self.movable_zone.idx()],
            self.mirrored,
            node_end,
            &mut zs,
            &mut ze,
        );
        (zs, ze)
    }
}

/// `zone_spanned_pages_in_node` (mm/mm_init.c): the zone's span on the node, as
/// `(spanned, zone_start_pfn, zone_end_pfn)`.
pub fn zone_spanned_pages_in_node(
    v: &LayoutView<'_>,
    nid: u32,
    z: ZoneType,
    node_start: u64,
    node_end: u64,
) -> (u64, u64, u64) {
    if node_start == 0 && node_end == 0 {
        return (0, 0, 0);
    }
    let (mut zs, mut ze) = v.clamped(nid, z, node_start, node_end);
    if ze < node_start || zs > node_end {
        return (0, zs, ze);
    }
    ze = ze.min(node_end);
    zs = zs.max(node_start);
    (ze.saturating_sub(zs), zs, ze)
}

/// `__absent_pages_in_range` (mm/mm_init.c): pages of `[start, end)` not covered by the
/// node's memory ranges (`nid == None`: any node).
pub fn absent_pages_in_range(mem: &[MemRange], nid: Option<u32>, start: u64, end: u64) -> u64 {
    if end <= start {
        return 0;
    }
    let present: u64 = mem
        .iter()
        .filter(|r| match nid {
            Some(n) => r.nid == n,
            None => true,
        })
        .map(|r| {
            let s = r.start_pfn.clamp(start, end);
            let e = r.end_pfn.clamp(start, end);
            e - s
        })
        .sum();
    (end - start) - present
}

/// `zone_absent_pages_in_node` (mm/mm_init.c), including the `kernelcore=mirror` rule that
/// counts mirrored memory absent from Movable and unmirrored memory absent from Normal.
pub fn zone_absent_pages_in_node(
    v: &LayoutView<'_>,
    nid: u32,
    z: ZoneType,
    node_start: u64,
    node_end: u64,
) -> u64 {
    if node_start == 0 && node_end == 0 {
        return 0;
    }
    let (zs, ze) = v.clamped(nid, z, node_start, node_end);
    let mut absent = absent_pages_in_range(v.mem, Some(nid), zs, ze);
    if v.mirrored && movable_pfn_of(v.zone_movable_pfn, nid) != 0 {
        for r in v.mem {
            let s = r.start_pfn.clamp(zs, ze.max(zs));
            let e = r.end_pfn.clamp(zs, ze.max(zs));
            if (z == ZoneType::Movable && r.mirror) || (z == ZoneType::Normal && !r.mirror) {
                absent += e - s;
            }
        }
    }
    absent
}

/// `calculate_node_totalpages` (mm/mm_init.c): spanned and present pages of every zone of
/// the node and of the node itself. Managed pages are filled in by `free_area_init_core`.
pub fn calculate_node_totalpages(
    v: &LayoutView<'_>,
    zones: &[ZoneType],
    nid: u32,
    node_start: u64,
    node_end: u64,
) -> NodeInfo {
    let mut node = NodeInfo {
        nid,
        node_start_pfn: node_start,
        node_spanned_pages: 0,
        node_present_pages: 0,
        zones: Vec::with_capacity(zones.len()),
    };
    for &z in zones {
        let (spanned, zs, _) = zone_spanned_pages_in_node(v, nid, z, node_start, node_end);
        let absent = if spanned == 0 {
            0
        } else {
            zone_absent_pages_in_node(v, nid, z, node_start, node_end)
        };
        let present = spanned.saturating_sub(absent);
        node.zones.push(ZoneInfo {
            zone_type: z,
            zone_start_pfn: if spanned != 0 { zs } else { 0 },
            spanned_pages: spanned,
            present_pages: present,
            managed_pages: present,
            memmap_pages: 0,
        });
        node.node_spanned_pages += spanned;
        node.node_present_pages += present;
    }
    node
}

/// `calc_memmap_size` (mm/mm_init.c, 3.9+): pages of struct page a zone needs; with
/// SPARSEMEM and holes bigger than 1/16 of the zone, only present pages are counted.
/// Before 3.9 it was always `PAGE_ALIGN(spanned * sizeof(struct page)) >> PAGE_SHIFT`.
pub fn calc_memmap_size(spanned: u64, present: u64, struct_page_size: u64, sparsemem: bool) -> u64 {
    let pages = if sparsemem && spanned > present + (present >> 4) {
        present
    } else {
        spanned
    };
    crate::include::addr::page_align(pages.saturating_mul(struct_page_size)) >> 12
}

/// `zone_batchsize` (mm/page_alloc.c): the per-cpu list batch from the zone's managed pages
/// (present pages before 3.9); capped at 512 KiB of pages before 4.19 and 1 MiB from 4.19.
pub fn zone_batchsize(era: &Era, managed_pages: u64) -> u32 {
    let cap = if era.at_least(4, 19) {
        (1 << 20) / PAGE_SIZE
    } else {
        (512 << 10) / PAGE_SIZE
    };
    let mut batch = (managed_pages / 1024).min(cap);
    batch /= 4;
    if batch < 1 {
        batch = 1;
    }
    let x = batch + batch / 2;
    let pow = 1u64 << (63 - x.leading_zeros());
    (pow - 1) as u32
}

/// `memblock_find_dma_reserve` (arch/x86/kernel/e820.c, x86_64, 3.5 … 6.10): pages below
/// 16 MiB that memblock has but that are not free, i.e. already reserved at this point.
/// `free` holds the free memblock ranges (memory minus reserved) as byte ranges.
pub fn memblock_find_dma_reserve(mem: &[MemRange], free: &[(u64, u64)]) -> u64 {
    let nr_pages: u64 = mem
        .iter()
        .map(|r| r.end_pfn.min(MAX_DMA_PFN) - r.start_pfn.min(MAX_DMA_PFN))
        .sum();
    let nr_free: u64 = free
        .iter()
        .map(|&(s, e)| {
            let sp = crate::include::addr::pfn_up(s).min(MAX_DMA_PFN);
            let ep = crate::include::addr::pfn_down(e).min(MAX_DMA_PFN);
            ep.saturating_sub(sp)
        })
        .sum();
    nr_pages.saturating_sub(nr_free)
}

/// `calc_nr_kernel_pages` (mm/mm_init.c, 6.11+): free memblock pages, all and below HighMem.
/// Returns `(nr_kernel_pages, nr_all_pages)`.
pub fn calc_nr_kernel_pages(free: &[(u64, u64)], high_zone_low: Option<u64>) -> (u64, u64) {
    let (mut kernel, mut all) = (0, 0);
    for &(s, e) in free {
        let (sp, ep) = (
            crate::include::addr::pfn_up(s),
            crate::include::addr::pfn_down(e),
        );
        if sp < ep {
            all += ep - sp;
            match high_zone_low {
                Some(h) => kernel += ep.min(h) - sp.min(h),
                None => kernel += ep - sp,
            }
        }
    }
    (kernel, all)
}

// ---------------------------------------------------------------------------------------------
// Holes.

/// `pfn_valid` at boot: with SPARSEMEM, every pfn of a section that has memory (early
/// sections are valid across their whole span); with FLATMEM, every pfn below `max_pfn`.
struct PfnValid {
    section_shift: Option<u32>,
    present: BTreeSet<u64>,
    max_pfn: u64,
}

impl PfnValid {
    fn new(era: &Era, mem: &[MemRange], sparsemem: bool, max_pfn: u64) -> Self {
        let mut present = BTreeSet::new();
        let shift = sparsemem.then(|| pfn_section_shift(era));
        if let Some(sh) = shift {
            for r in mem {
                for s in (r.start_pfn >> sh)..=((r.end_pfn - 1) >> sh) {
                    present.insert(s);
                }
            }
        }
        PfnValid {
            section_shift: shift,
            present,
            max_pfn,
        }
    }

    fn valid(&self, pfn: u64) -> bool {
        match self.section_shift {
            Some(sh) => self.present.contains(&(pfn >> sh)),
            None => pfn < self.max_pfn,
        }
    }

    /// `init_unavailable_range` / `zero_pfn_range`: the pfns of `[spfn, epfn)` whose
    /// pageblock starts at a valid pfn (invalid pageblocks are skipped whole).
    fn count(&self, spfn: u64, epfn: u64, pageblock: u64) -> u64 {
        let mut n = 0;
        let mut pfn = spfn;
        while pfn < epfn {
            let blk = pfn & !(pageblock - 1);
            let blk_end = (blk + pageblock).min(epfn);
            if self.valid(blk) {
                n += blk_end - pfn;
            }
            pfn = blk_end;
        }
        n
    }
}

/// `zero_resv_unavail` (mm/page_alloc.c, 4.15 – 4.20): pages reserved in memblock but not
/// in its memory, whose struct pages get zeroed.
fn zero_resv_unavail_reserved(
    pv: &PfnValid,
    mem: &[MemRange],
    reserved: &[(u64, u64)],
    pageblock: u64,
) -> u64 {
    // memblock keeps its regions sorted and merged; accept any order here.
    let mut merged: Vec<(u64, u64)> = reserved.iter().copied().filter(|(s, e)| s < e).collect();
    merged.sort_unstable();
    let mut regions: Vec<(u64, u64)> = Vec::with_capacity(merged.len());
    for (s, e) in merged {
        match regions.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => regions.push((s, e)),
        }
    }
    let mut total = 0;
    for &(s, e) in &regions {
        let (sp, ep) = (
            crate::include::addr::pfn_down(s),
            crate::include::addr::pfn_up(e),
        );
        // Subtract memory: walk the gaps of [sp, ep) not covered by memory ranges.
        let mut cur = sp;
        for r in mem {
            if r.end_pfn <= cur {
                continue;
            }
            if r.start_pfn >= ep {
                break;
            }
            if r.start_pfn > cur {
                total += pv.count(cur, r.start_pfn.min(ep), pageblock);
            }
            cur = cur.max(r.end_pfn);
            if cur >= ep {
                break;
            }
        }
        if cur < ep {
            total += pv.count(cur, ep, pageblock);
        }
    }
    total
}

/// `init_unavailable_mem` / `zero_resv_unavail` (mm/page_alloc.c, 5.0 – 5.11): the gaps
/// between memory ranges, plus (5.4+) the end of the last section.
fn init_unavailable_mem(
    pv: &PfnValid,
    mem: &[MemRange],
    max_pfn: u64,
    tail: bool,
    section: u64,
    pageblock: u64,
) -> u64 {
    let mut total = 0;
    let mut next = 0;
    for r in mem {
        if next < r.start_pfn {
            total += pv.count(next, r.start_pfn, pageblock);
        }
        next = r.end_pfn;
    }
    if tail && pv.section_shift.is_some() {
        total += pv.count(
            next,
            crate::include::addr::round_up(max_pfn, section),
            pageblock,
        );
    }
    total
}

/// A hole line to print: (nid, zone, pages).
type HoleLine = (u32, ZoneType, u64);

/// `memmap_init` (mm/mm_init.c, 5.12+): walks memory ranges in order and, for every populated
/// zone of the range's node, initialises the hole before the range's part in that zone,
/// attributing it to that zone; the tail up to the section end goes to the last zone seen.
fn memmap_init_holes(
    layout: &ZoneLayout,
    mem: &[MemRange],
    pv: &PfnValid,
    section: u64,
    pageblock: u64,
) -> Vec<HoleLine> {
    let mut out = Vec::new();
    let mut hole_pfn = 0;
    let mut zone_id = layout.zones.first().copied().unwrap_or(ZoneType::Normal);
    let mut last_nid = 0;
    let mut last_end = 0;
    for r in mem {
        let Some(node) = layout.node(r.nid) else {
            continue;
        };
        for z in node.zones.iter().filter(|z| z.present_pages != 0) {
            let (zs, ze) = (z.zone_start_pfn, z.zone_start_pfn + z.spanned_pages);
            let s = r.start_pfn.clamp(zs, ze);
            let e = r.end_pfn.clamp(zs, ze);
            if s < e {
                if hole_pfn < s {
                    let n = pv.count(hole_pfn, s, pageblock);
                    if n != 0 {
                        out.push((r.nid, z.zone_type, n));
                    }
                }
                hole_pfn = e;
            }
            zone_id = z.zone_type;
        }
        last_nid = r.nid;
        last_end = r.end_pfn;
    }
    let end = if pv.section_shift.is_some() {
        crate::include::addr::round_up(last_end, section)
    } else {
        last_end
    };
    if hole_pfn < end {
        let n = pv.count(hole_pfn, end, pageblock);
        if n != 0 {
            out.push((last_nid, zone_id, n));
        }
    }
    out
}

/// The per-zone `memmap_init` of 0740a50b9baa ([`HoleStyle::PerZone`]): called for each zone
/// from `free_area_init_core`, with one function-static `hole_pfn` kept across zones and
/// nodes; the tail up to the zone end's section is counted but does not move `hole_pfn`.
fn memmap_init_zone_holes(
    hole_pfn: &mut u64,
    z: &ZoneInfo,
    node_mem: &[MemRange],
    pv: &PfnValid,
    section: u64,
    pageblock: u64,
) -> u64 {
    let (zs, ze) = (z.zone_start_pfn, z.zone_start_pfn + z.spanned_pages);
    let mut n = 0;
    for r in node_mem {
        let s = r.start_pfn.clamp(zs, ze);
        let e = r.end_pfn.clamp(zs, ze);
        if *hole_pfn < s {
            n += pv.count(*hole_pfn, s, pageblock);
        }
        *hole_pfn = e;
    }
    let end = crate::include::addr::round_up(ze, section);
    if *hole_pfn < end {
        n += pv.count(*hole_pfn, end, pageblock);
    }
    n
}

// ---------------------------------------------------------------------------------------------
// free_area_init and its lines.

fn print_zone_ranges(
    log: &Printk,
    era: &Era,
    zones: &[ZoneType],
    lowest: &[u64; 6],
    highest: &[u64; 6],
) {
    let style = addr_style(era);
    if style == AddrStyle::Pfn {
        plain_printk(log, era, format_args!("Zone PFN ranges:\n"));
    } else {
        plain_printk(log, era, format_args!("Zone ranges:\n"));
    }
    for &z in zones {
        if z == ZoneType::Movable {
            continue;
        }
        let (lo, hi) = (lowest[z.idx()], highest[z.idx()]);
        let name = z.name();
        // 2.6.x printed every zone as a pfn pair; "empty" came with 3.0.
        if lo == hi && era.at_least(3, 0) {
            plain_printk(log, era, format_args!("  {name:<8} "));
            pr_cont!(log, "empty\n");
            continue;
        }
        match style {
            AddrStyle::Pfn => {
                if era.at_least(3, 0) {
                    plain_printk(log, era, format_args!("  {name:<8} "));
                    pr_cont!(log, "{lo:#010x} -> {hi:#010x}\n");
                } else {
                    plain_printk(
                        log,
                        era,
                        format_args!("  {name:<8} {lo:#010x} -> {hi:#010x}\n"),
                    );
                }
            }
            AddrStyle::Mem32 => {
                plain_printk(log, era, format_args!("  {name:<8} "));
                let (a, b) = (
                    ulong_shift(era, lo),
                    ulong_shift(era, hi).wrapping_sub(1) & ulong_mask(era),
                );
                pr_cont!(log, "[mem {a:#010x}-{b:#010x}]\n");
            }
            AddrStyle::Mem64 => {
                pr_info!(log, "  {name:<8} ");
                pr_cont!(log, "[mem {:#018x}-{:#018x}]\n", lo << 12, (hi << 12) - 1);
            }
        }
    }
}

fn ulong_mask(era: &Era) -> u64 {
    if era.is_64bit() {
        u64::MAX
    } else {
        0xffff_ffff
    }
}

fn print_movable_starts(log: &Printk, era: &Era, zmp: &[(u32, u64)]) {
    let style = addr_style(era);
    if style == AddrStyle::Pfn {
        plain_printk(
            log,
            era,
            format_args!("Movable zone start PFN for each node\n"),
        );
    } else {
        plain_printk(log, era, format_args!("Movable zone start for each node\n"));
    }
    for &(nid, pfn) in zmp {
        match style {
            AddrStyle::Pfn => plain_printk(log, era, format_args!("  Node {nid}: {pfn}\n")),
            AddrStyle::Mem32 => plain_printk(
                log,
                era,
                format_args!("  Node {nid}: {:#010x}\n", ulong_shift(era, pfn)),
            ),
            AddrStyle::Mem64 => pr_info!(log, "  Node {nid}: {:#018x}\n", pfn << 12),
        }
    }
}

fn print_early_ranges(log: &Printk, era: &Era, mem: &[MemRange]) {
    match addr_style(era) {
        AddrStyle::Pfn => {
            if era.at_least(3, 3) {
                plain_printk(log, era, format_args!("Early memory PFN ranges\n"));
            } else {
                plain_printk(
                    log,
                    era,
                    format_args!("early_node_map[{}] active PFN ranges\n", mem.len()),
                );
            }
            for r in mem {
                plain_printk(
                    log,
                    era,
                    format_args!(
                        "  {:3}: {:#010x} -> {:#010x}\n",
                        r.nid, r.start_pfn, r.end_pfn
                    ),
                );
            }
        }
        AddrStyle::Mem32 => {
            plain_printk(log, era, format_args!("Early memory node ranges\n"));
            for r in mem {
                let a = ulong_shift(era, r.start_pfn);
                let b = ulong_shift(era, r.end_pfn).wrapping_sub(1) & ulong_mask(era);
                plain_printk(
                    log,
                    era,
                    format_args!("  node {:3}: [mem {a:#010x}-{b:#010x}]\n", r.nid),
                );
            }
        }
        AddrStyle::Mem64 => {
            pr_info!(log, "Early memory node ranges\n");
            for r in mem {
                pr_info!(
                    log,
                    "  node {:3}: [mem {:#018x}-{:#018x}]\n",
                    r.nid,
                    r.start_pfn << 12,
                    (r.end_pfn << 12) - 1
                );
            }
        }
    }
}

/// "Initmem setup node" (free_area_init_node, 3.17+).
fn print_initmem(log: &Printk, era: &Era, nid: u32, start: u64, end: u64) {
    if start == end && era.at_least(6, 1) {
        pr_info!(log, "Initmem setup node {nid} as memoryless\n");
        return;
    }
    let a = start << 12;
    let b = if end != 0 { (end << 12) - 1 } else { 0 };
    if era.at_least(4, 0) {
        pr_info!(log, "Initmem setup node {nid} [mem {a:#018x}-{b:#018x}]\n");
    } else {
        pr_info!(log, "Initmem setup node {nid} [mem {a:#010x}-{b:#010x}]\n");
    }
}

/// Accumulators `free_area_init_core` updates across nodes.
#[derive(Default)]
struct CoreTotals {
    nr_kernel_pages: u64,
    nr_all_pages: u64,
}

/// `free_area_init_core` (mm/mm_init.c): the per-zone memmap and dma_reserve estimate, the
/// boot `managed_pages`, and the KERN_DEBUG lines, per era. `zone_holes` is the per-zone hole
/// pass of [`HoleStyle::PerZone`], printed after each zone's LIFO line.
fn free_area_init_core(
    input: &FreeAreaInit<'_>,
    log: &Printk,
    node: &mut NodeInfo,
    totals: &mut CoreTotals,
    mut zone_holes: Option<(&mut u64, &PfnValid)>,
) -> u64 {
    let era = input.era;
    let visible = debug_lines_visible(era);
    let section = 1u64 << pfn_section_shift(era);
    let pageblock = pageblock_nr_pages(era);
    let node_mem: Vec<MemRange> = input
        .mem
        .iter()
        .filter(|r| r.nid == node.nid)
        .copied()
        .collect();
    let mut holes_total = 0;
    for (j, z) in node.zones.iter_mut().enumerate() {
        let name = z.zone_type.name();
        let highmem = z.zone_type.is_highmem();
        let size = z.spanned_pages;
        if managed_is_present(era) {
            z.managed_pages = z.present_pages;
        } else {
            let realsize = z.present_pages;
            let mut freesize = realsize;
            let memmap = if has_managed_split(era) {
                calc_memmap_size(size, realsize, input.struct_page_size, input.sparsemem)
            } else {
                crate::include::addr::page_align(size.saturating_mul(input.struct_page_size)) >> 12
            };
            z.memmap_pages = memmap;
            if !(highmem && skips_highmem_memmap(era)) {
                if freesize >= memmap {
                    freesize -= memmap;
                    if memmap != 0 && visible {
                        pr_debug!(log, "  {name} zone: {memmap} pages used for memmap\n");
                    }
                } else if !has_managed_split(era) {
                    pr_warn!(
                        log,
                        "  {name} zone: {memmap} pages exceeds realsize {freesize}\n"
                    );
                } else if era.at_least(5, 14) {
                    pr_warn!(
                        log,
                        "  {name} zone: {memmap} memmap pages exceeds freesize {freesize}\n"
                    );
                } else {
                    pr_warn!(
                        log,
                        "  {name} zone: {memmap} pages exceeds freesize {freesize}\n"
                    );
                }
            }
            if j == 0 && freesize > input.dma_reserve {
                freesize -= input.dma_reserve;
                if visible {
                    pr_debug!(log, "  {name} zone: {} pages reserved\n", input.dma_reserve);
                }
            }
            if !highmem {
                totals.nr_kernel_pages += freesize;
            } else if has_managed_split(era) && totals.nr_kernel_pages > memmap * 2 {
                totals.nr_kernel_pages -= memmap;
            }
            totals.nr_all_pages += freesize;
            if has_managed_split(era) {
                z.managed_pages = if highmem { realsize } else { freesize };
            } else {
                // Before 3.9 present_pages itself carried the estimate.
                z.present_pages = freesize;
                z.managed_pages = freesize;
            }
        }
        // zone_pcp_init
        if z.present_pages != 0 && visible {
            let basis = if has_managed_split(era) {
                z.managed_pages
            } else {
                z.present_pages
            };
            pr_debug!(
                log,
                "  {name} zone: {} pages, LIFO batch:{}\n",
                z.present_pages,
                zone_batchsize(era, basis)
            );
        }
        if size == 0 {
            continue;
        }
        if let Some((hole_pfn, pv)) = zone_holes.as_mut() {
            let n = memmap_init_zone_holes(hole_pfn, z, &node_mem, pv, section, pageblock);
            if n != 0 {
                pr_info!(log, "  {name} zone: {n} pages in unavailable ranges\n");
            }
            holes_total += n;
        }
    }
    holes_total
}

/// [`free_area_init_with_memmap`] with no struct pages to initialise (the sizing and the
/// lines only).
pub fn free_area_init(
    input: &FreeAreaInit<'_>,
    max_zone_pfn: &[u64; 6],
    log: &Printk,
    trace: &Trace,
) -> Result<ZoneLayout, MmInitError> {
    free_area_init_with_memmap(input, max_zone_pfn, log, trace, &mut |_| Ok(()))
}

/// Where `free_area_init` hands control to the caller, which owns the early allocator and
/// the struct pages.
pub enum FreeAreaStep<'a> {
    /// After `calculate_node_totalpages`: `alloc_node_mem_map`'s moment.
    NodeSized(&'a NodeInfo),
    /// In `free_area_init_core`, a zone with pages spanned, after its `zone_pcp_init`:
    /// `setup_usemap` and `init_currently_empty_zone`'s moment.
    ZoneSized(u32, &'a ZoneInfo),
    /// The kernel's `memmap_init()`.
    Memmap(&'a ZoneLayout),
}

/// `free_area_init` (mm/mm_init.c; `free_area_init_nodes` in mm/page_alloc.c before 5.8):
/// chain the zone limits, place ZONE_MOVABLE, print the zone, movable and memory-range
/// blocks, size every online node (`free_area_init_node`), and initialise the holes, with
/// the lines of `input.era` in its order. `max_zone_pfn` comes from [`zone_sizes_init`].
/// `step` does the caller's part at each [`FreeAreaStep`]: the node and zone allocations
/// and `memmap_init()`.
pub fn free_area_init_with_memmap(
    input: &FreeAreaInit<'_>,
    max_zone_pfn: &[u64; 6],
    log: &Printk,
    trace: &Trace,
    step: &mut dyn FnMut(FreeAreaStep<'_>) -> Result<(), String>,
) -> Result<ZoneLayout, MmInitError> {
    let era = input.era;
    let fname = if era.at_least(5, 8) {
        "free_area_init"
    } else {
        "free_area_init_nodes"
    };
    let file = era.mm_init_file();
    let _t = trace.enter(fname, file);
    if input.struct_page_size == 0 {
        return Err(MmInitError::BadStructPageSize);
    }
    let mem = check_ranges(input.mem)?;
    let zones = input.zones.zones();
    let first_pfn = mem[0].start_pfn;
    let (lowest, highest) = arch_zone_limits(era, &zones, max_zone_pfn, first_pfn);

    let (movable_zone, zmp) = {
        let _t = trace.enter("find_zone_movable_pfns_for_nodes", file);
        find_zone_movable_pfns_for_nodes(era, log, &zones, &mem, &lowest, &highest, &input.movable)
    };

    print_zone_ranges(log, era, &zones, &lowest, &highest);
    print_movable_starts(log, era, &zmp);
    print_early_ranges(log, era, &mem);

    let style = hole_style(era);
    let pv = PfnValid::new(era, &mem, input.sparsemem, input.max_pfn);
    let section = 1u64 << pfn_section_shift(era);
    let pageblock = pageblock_nr_pages(era);
    let mut unavailable = 0;
    match style {
        HoleStyle::ReservedButUnavailable => {
            let _t = trace.enter("zero_resv_unavail", file);
            let n = zero_resv_unavail_reserved(&pv, &mem, input.reserved, pageblock);
            if n != 0 {
                pr_info!(log, "Reserved but unavailable: {n} pages");
            }
            unavailable += n;
        }
        HoleStyle::ZeroedStructPage { tail } => {
            let name = if era.at_least(5, 8) {
                "init_unavailable_mem"
            } else {
                "zero_resv_unavail"
            };
            let _t = trace.enter(name, file);
            let n = init_unavailable_mem(&pv, &mem, input.max_pfn, tail, section, pageblock);
            if n != 0 {
                pr_info!(log, "Zeroed struct page in unavailable ranges: {n} pages");
            }
            unavailable += n;
        }
        _ => {}
    }

    let mirrored = input.movable.kernelcore_mirror && era.at_least(4, 6);
    let view = LayoutView {
        mem: &mem,
        lowest: &lowest,
        highest: &highest,
        movable_zone,
        zone_movable_pfn: &zmp,
        mirrored,
    };
    let online: Vec<u32> = match input.online_nodes {
        Some(n) => {
            let mut v = n.to_vec();
            v.sort_unstable();
            v.dedup();
            v
        }
        None => nodes_with_memory(&mem),
    };

    let mut totals = CoreTotals::default();
    let mut nodes = Vec::with_capacity(online.len());
    let mut zone_hole_pfn = 0u64;
    for &nid in &online {
        let _t = trace.enter("free_area_init_node", file);
        let (start, end) = get_pfn_range_for_nid(&mem, nid);
        if prints_initmem(era) {
            print_initmem(log, era, nid, start, end);
        }
        if start == end && era.at_least(6, 1) {
            // Memoryless: zones stay empty, nothing else is printed.
            nodes.push(calculate_node_totalpages(&view, &zones, nid, 0, 0));
            continue;
        }
        let mut node = {
            let _t = trace.enter("calculate_node_totalpages", file);
            calculate_node_totalpages(&view, &zones, nid, start, end)
        };
        if debug_lines_visible(era) {
            pr_debug!(
                log,
                "On node {nid} totalpages: {}\n",
                node.node_present_pages
            );
        }
        step(FreeAreaStep::NodeSized(&node)).map_err(MmInitError::Memmap)?;
        let _t2 = trace.enter("free_area_init_core", file);
        let per_zone = (style == HoleStyle::PerZone).then_some((&mut zone_hole_pfn, &pv));
        unavailable += free_area_init_core(input, log, &mut node, &mut totals, per_zone);
        // Each zone's zone_pcp_init (the zone starts on boot_pageset), then for a zone with
        // pages its usemap and wait table.
        for z in &node.zones {
            drop(trace.enter("zone_pcp_init", "mm/page_alloc.c"));
            if z.spanned_pages != 0 {
                step(FreeAreaStep::ZoneSized(node.nid, z)).map_err(MmInitError::Memmap)?;
            }
        }
        nodes.push(node);
    }

    if managed_is_present(era) {
        let _t = trace.enter("calc_nr_kernel_pages", file);
        let high = input.zones.highmem.then(|| lowest[ZoneType::HighMem.idx()]);
        let (k, a) = calc_nr_kernel_pages(input.free, high);
        totals.nr_kernel_pages = k;
        totals.nr_all_pages = a;
    }

    let mut layout = ZoneLayout {
        zones,
        lowest,
        highest,
        movable_zone,
        zone_movable_pfn: zmp,
        nodes,
        nr_kernel_pages: totals.nr_kernel_pages,
        nr_all_pages: totals.nr_all_pages,
        unavailable_pages: unavailable,
    };

    let _t = trace.enter("memmap_init", file);
    step(FreeAreaStep::Memmap(&layout)).map_err(MmInitError::Memmap)?;
    if style == HoleStyle::PerNodeZone {
        for (nid, z, n) in memmap_init_holes(&layout, &mem, &pv, section, pageblock) {
            // "\n" was added to this format in 6.12; without it the record stays open.
            if era.at_least(6, 12) {
                pr_info!(
                    log,
                    "On node {nid}, zone {}: {n} pages in unavailable ranges\n",
                    z.name()
                );
            } else {
                pr_info!(
                    log,
                    "On node {nid}, zone {}: {n} pages in unavailable ranges",
                    z.name()
                );
            }
            layout.unavailable_pages += n;
        }
    }
    Ok(layout)
}

pub mod memmap;
pub mod node_alloc;

#[cfg(test)]
mod tests;
