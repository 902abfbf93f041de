// SPDX-License-Identifier: GPL-2.0-only
//! `mm/percpu.c`: the percpu allocator's first chunk.
//!
//! Every possible CPU gets a *unit* of the same size holding its copy of the kernel's static
//! per-CPU variables (`__per_cpu_start` … `__per_cpu_end`), a reserved part for modules'
//! static per-CPU data, and a dynamic part that `alloc_percpu` serves early allocations from.
//! `pcpu_build_alloc_info` sizes the units and packs them into *allocations* of `atom_size`
//! (2 MiB on x86_64), a few units each, CPUs of one NUMA node sharing allocations
//! (*groups*). `pcpu_embed_first_chunk` takes each group's allocation from memblock on the
//! group's node, copies the static data into each unit, and gives each unit's unused tail
//! (and every unit no CPU uses) back to memblock. `pcpu_setup_first_chunk` then prints the
//! layout (`pcpu_dump_alloc_info`) and sets up the chunk.
//!
//! Eras: the arithmetic is the same from 2.6.32 to 6.18 (the CPU grouping loop was rewritten
//! around a cpumask in 5.x: the same groups whenever "at LOCAL_DISTANCE" is an equivalence,
//! as it is when distances come from nodes). The "Embedded" line changed its prefix and
//! dropped the chunk's address ([`EmbeddedLine`]); the first-chunk allocation moved from the
//! arch code into this file in 5.17 ([`pcpu_fc_alloc`]).
//!
//! bootmm models the first chunk's sizing, its memblock allocations and frees, and the lines
//! it prints. The chunk's own bookkeeping (`pcpu_setup_first_chunk`'s maps, the allocation
//! bitmap and `alloc_percpu`) is not modelled yet; see docs/divergences.md.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::era::Era;
use crate::include::NUMA_NO_NODE;
use crate::init::main::BootError;
use crate::kernel::Kernel;
use crate::mm::memblock::MEMBLOCK_ALLOC_ACCESSIBLE;
use crate::pr_info;

const FILE: &str = "mm/percpu.c";
const PAGE_SIZE: u64 = 4096;

/// `PCPU_MIN_UNIT_SIZE`: a unit is never smaller than 32 KiB.
pub const PCPU_MIN_UNIT_SIZE: u64 = 32 << 10;

/// `PERCPU_DYNAMIC_EARLY_SIZE`: the least dynamic space the first chunk keeps (12 KiB until
/// 6.1; 20 KiB from 6.2). Below the dynamic reserve in every era, so it never decides a size
/// on x86.
pub fn percpu_dynamic_early_size(era: &Era) -> u64 {
    if era.at_least(6, 2) {
        20 << 10
    } else {
        12 << 10
    }
}

/// `NR_CPUS` in a group's `cpu_map`: a unit no CPU uses.
pub const UNIT_UNUSED: u32 = u32::MAX;

/// `struct pcpu_group_info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcpuGroupInfo {
    /// Units in the group (a multiple of the units per allocation).
    pub nr_units: u32,
    /// Offset of the group's first unit from the chunk's base.
    pub base_offset: u64,
    /// The CPU of each unit, [`UNIT_UNUSED`] for a spare one.
    pub cpu_map: Vec<u32>,
}

/// `struct pcpu_alloc_info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcpuAllocInfo {
    pub static_size: u64,
    pub reserved_size: u64,
    /// The dynamic part, grown to fill the unit's last page.
    pub dyn_size: u64,
    pub unit_size: u64,
    pub atom_size: u64,
    pub alloc_size: u64,
    pub groups: Vec<PcpuGroupInfo>,
}

impl PcpuAllocInfo {
    /// `static + reserved + dyn`: what each CPU's unit keeps (a whole number of pages).
    pub fn size_sum(&self) -> u64 {
        self.static_size + self.reserved_size + self.dyn_size
    }

    /// Units per allocation.
    pub fn upa(&self) -> u64 {
        self.alloc_size / self.unit_size
    }
}

/// Why the first chunk could not be laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PcpuError {
    /// No possible CPU.
    NoCpus,
    /// Sizes that overflow or an atom that is not a power of two.
    BadSize(String),
}

impl core::fmt::Display for PcpuError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PcpuError::NoCpus => write!(f, "percpu: no possible CPU"),
            PcpuError::BadSize(m) => write!(f, "percpu: {m}"),
        }
    }
}

/// mm/percpu.c: `pcpu_build_alloc_info`: the unit size, the units per allocation and the
/// groups of CPUs, for `cpus` possible CPUs (ids `0..cpus`), `static_size` bytes of static
/// per-CPU data, the reserved and dynamic sizes asked for and the allocation atom.
/// `distance(a, b)` is `pcpu_cpu_distance`; CPUs at `LOCAL_DISTANCE` (10) of each other
/// share a group.
///
/// The unit is `static + reserved + dyn` rounded up to a page (at least 32 KiB); the most
/// units that divide the atom into page-aligned pieces is the starting point, and fewer are
/// taken while that wastes more than a third of the CPUs' worth of units or does not need
/// more allocations.
///
/// # Errors
/// [`PcpuError::NoCpus`] for no CPU; [`PcpuError::BadSize`] when the sizes overflow or
/// `atom_size` is not a power of two of at least a page.
///
/// Complexity: O(cpus² ) for the grouping (as the kernel's), O(cpus) otherwise.
pub fn pcpu_build_alloc_info(
    era: &Era,
    cpus: u32,
    static_size: u64,
    reserved_size: u64,
    dyn_size: u64,
    atom_size: u64,
    distance: impl Fn(u32, u32) -> u8,
) -> Result<PcpuAllocInfo, PcpuError> {
    if cpus == 0 {
        return Err(PcpuError::NoCpus);
    }
    if !atom_size.is_power_of_two() || atom_size < PAGE_SIZE {
        return Err(PcpuError::BadSize(format!(
            "allocation atom {atom_size:#x} is not a power of two of at least a page"
        )));
    }
    let too_big = || PcpuError::BadSize(String::from("the first chunk's sizes overflow"));
    let size_sum = static_size
        .checked_add(reserved_size)
        .and_then(|s| s.checked_add(dyn_size.max(percpu_dynamic_early_size(era))))
        .and_then(|s| s.checked_next_multiple_of(PAGE_SIZE))
        .ok_or_else(too_big)?;
    let dyn_size = size_sum - static_size - reserved_size;

    // Group CPUs: the first CPU left opens a group, and every later CPU at LOCAL_DISTANCE
    // both ways joins it.
    const LOCAL_DISTANCE: u8 = 10;
    let mut group_map = alloc::vec![u32::MAX; cpus as usize];
    let mut group_cnt: Vec<u64> = Vec::new();
    for cpu in 0..cpus {
        if group_map[cpu as usize] != u32::MAX {
            continue;
        }
        let g = group_cnt.len() as u32;
        group_map[cpu as usize] = g;
        let mut cnt = 1;
        for tcpu in cpu + 1..cpus {
            if group_map[tcpu as usize] == u32::MAX
                && distance(cpu, tcpu) == LOCAL_DISTANCE
                && distance(tcpu, cpu) == LOCAL_DISTANCE
            {
                group_map[tcpu as usize] = g;
                cnt += 1;
            }
        }
        group_cnt.push(cnt);
    }

    // The units per allocation: as many as fit, then fewer while that wastes too much.
    let min_unit_size = size_sum.max(PCPU_MIN_UNIT_SIZE);
    let alloc_size = min_unit_size
        .checked_next_multiple_of(atom_size)
        .ok_or_else(too_big)?;
    let fits = |upa: u64| alloc_size % upa == 0 && (alloc_size / upa) % PAGE_SIZE == 0;
    let mut max_upa = alloc_size / min_unit_size;
    while !fits(max_upa) {
        max_upa -= 1;
    }
    let mut best_upa = 0;
    let mut last_allocs = u64::MAX;
    for upa in (1..=max_upa).rev() {
        if !fits(upa) {
            continue;
        }
        let allocs: u64 = group_cnt.iter().map(|c| c.div_ceil(upa)).sum();
        let wasted: u64 = group_cnt.iter().map(|c| c.div_ceil(upa) * upa - c).sum();
        // Over a third of the CPUs' worth of units wasted; `>` lets upa 1 always pass.
        if wasted > u64::from(cpus) / 3 {
            continue;
        }
        if allocs > last_allocs {
            break;
        }
        last_allocs = allocs;
        best_upa = upa;
    }
    let upa = best_upa;
    let unit_size = alloc_size / upa;
    let mut groups = Vec::with_capacity(group_cnt.len());
    let mut unit = 0u64;
    for g in 0..group_cnt.len() as u32 {
        let mut cpu_map: Vec<u32> = (0..cpus).filter(|&c| group_map[c as usize] == g).collect();
        let nr_units = (cpu_map.len() as u64).next_multiple_of(upa);
        cpu_map.resize(nr_units as usize, UNIT_UNUSED);
        groups.push(PcpuGroupInfo {
            nr_units: nr_units as u32,
            base_offset: unit * unit_size,
            cpu_map,
        });
        unit += nr_units;
    }
    Ok(PcpuAllocInfo {
        static_size,
        reserved_size,
        dyn_size,
        unit_size,
        atom_size,
        alloc_size,
        groups,
    })
}

/// Decimal digits of `v` (at least 1), as `pcpu_dump_alloc_info` counts them.
fn digits(mut v: u64) -> usize {
    let mut d = 1;
    while v >= 10 {
        v /= 10;
        d += 1;
    }
    d
}

/// mm/percpu.c: `pcpu_dump_alloc_info` (KERN_DEBUG from `pcpu_setup_first_chunk`): the
/// sizes, then each allocation's units as `[group] cpu cpu …`, several allocations a line
/// (as many as fit 60 columns, rounded down to a power of two). The lines, without their
/// newlines.
pub fn pcpu_dump_alloc_info(ai: &PcpuAllocInfo, possible_cpus: u32) -> Vec<String> {
    let group_width = digits(ai.groups.len() as u64);
    let cpu_width = digits(u64::from(possible_cpus));
    let upa = ai.upa() as usize;
    let width = upa * (cpu_width + 1) + group_width + 3;
    let apl = match 60 / width {
        0 => 1,
        n => 1usize << (usize::BITS - 1 - n.leading_zeros()),
    };
    let mut lines = Vec::new();
    let mut line = format!(
        "pcpu-alloc: s{} r{} d{} u{} alloc={}*{}",
        ai.static_size,
        ai.reserved_size,
        ai.dyn_size,
        ai.unit_size,
        ai.alloc_size / ai.atom_size,
        ai.atom_size
    );
    let mut alloc = 0usize;
    for (g, gi) in ai.groups.iter().enumerate() {
        for units in gi.cpu_map.chunks(upa) {
            if alloc % apl == 0 {
                lines.push(core::mem::replace(&mut line, String::from("pcpu-alloc: ")));
            }
            line.push_str(&format!("[{g:0group_width$}] "));
            for &cpu in units {
                if cpu == UNIT_UNUSED {
                    line.push_str(&"--------"[..cpu_width.min(8)]);
                    line.push(' ');
                } else {
                    line.push_str(&format!("{cpu:0cpu_width$} "));
                }
            }
            alloc += 1;
        }
    }
    lines.push(line);
    lines
}

/// How `pcpu_embed_first_chunk` prints its "Embedded" line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmbeddedLine {
    /// `"PERCPU: Embedded %zu pages/cpu @%p s%zu r%zu d%zu u%zu"`: the prefix written out
    /// (until 4.5).
    Upper,
    /// pr_fmt "percpu: " (4.6, "percpu: use pr_fmt"; taken from the 4.4 and 4.9 logs), still
    /// with `@%p`, which prints a placeholder this early from 4.15 ([`early_ptr`]).
    ///
    /// [`early_ptr`]: crate::klib::vsprintf::early_ptr
    Lower,
    /// No address: commit 00206a69ee32 ("percpu: stop printing kernel addresses"), 5.1,
    /// and the stable releases it went to: 4.14.114, 3.16.67, and 4.19.37 and 5.0.10 of the
    /// same batch (those two inferred); Ubuntu's 4.15 from its ABI 50 (inferred: its 2021
    /// builds print no address).
    NoAddress,
}

/// The form of the "Embedded" line in `era`.
pub fn embedded_line(era: &Era) -> EmbeddedLine {
    let v = era.version;
    let since = |minor: u32, patch: u32| v.major == 4 && v.minor == minor && v.patch >= patch;
    let ubuntu_4_15 = era
        .release
        .strip_prefix("4.15.0-")
        .and_then(|r| r.split(['-', '.']).next())
        .and_then(|abi| abi.parse::<u32>().ok())
        .is_some_and(|abi| abi >= 50);
    if era.at_least(5, 1)
        || since(14, 114)
        || since(19, 37)
        || (v.major == 5 && v.minor == 0 && v.patch >= 10)
        || (v.major == 3 && v.minor == 16 && v.patch >= 67)
        || ubuntu_4_15
    {
        EmbeddedLine::NoAddress
    } else if era.at_least(4, 6) {
        EmbeddedLine::Lower
    } else {
        EmbeddedLine::Upper
    }
}

/// The "Embedded" line for `ai` at direct-map address `base_va`.
pub fn embedded_line_text(era: &Era, ai: &PcpuAllocInfo, base_va: u64) -> String {
    let pages = ai.size_sum() / PAGE_SIZE;
    let sizes = format!(
        "s{} r{} d{} u{}",
        ai.static_size, ai.reserved_size, ai.dyn_size, ai.unit_size
    );
    let at = crate::klib::vsprintf::early_ptr(era, base_va);
    match embedded_line(era) {
        EmbeddedLine::Upper => format!("PERCPU: Embedded {pages} pages/cpu @{at} {sizes}"),
        EmbeddedLine::Lower => format!("percpu: Embedded {pages} pages/cpu @{at} {sizes}"),
        EmbeddedLine::NoAddress => format!("percpu: Embedded {pages} pages/cpu {sizes}"),
    }
}

/// The first chunk as `pcpu_embed_first_chunk` left it, and the allocator that serves
/// `alloc_percpu` from it (`pcpu_lock` and what it protects).
#[derive(Debug, Default)]
pub struct FirstChunk {
    /// The layout.
    pub ai: Option<PcpuAllocInfo>,
    /// Physical address of the lowest group's allocation (`pcpu_base_addr`).
    pub base: u64,
    /// Physical address of each CPU's unit, by CPU id.
    pub unit_pa: Vec<u64>,
    /// `pcpu_lock`: the reserved and dynamic chunks' maps.
    lock: spin::Mutex<PcpuChunks>,
    /// `pcpu_alloc_mutex`: chunk creation, population and destruction.
    alloc_mutex: spin::Mutex<()>,
}

/// The chunks `pcpu_setup_first_chunk` sets up and the allocator's counters.
#[derive(Debug, Default)]
struct PcpuChunks {
    /// `pcpu_reserved_chunk`: modules' static per-CPU data.
    reserved: Option<PcpuChunk>,
    /// `pcpu_first_chunk`'s dynamic part.
    first: Option<PcpuChunk>,
    /// `warn_limit` of the allocation-failure message.
    warned: u32,
    /// Allocations the kernel itself holds for good or frees itself (zone pagesets, SLUB's
    /// `kmem_cache_cpu`s): bootmm's structures there are linked by host pointers, so a
    /// `free_percpu` from outside is refused (see [`pcpu_pin`]).
    pinned: alloc::collections::BTreeSet<u64>,
    /// The chunks `pcpu_create_chunk` made in the vmalloc range, in creation order.
    vm: Vec<vm::VmChunk>,
}

/// `__pcpu_size_to_slot`: the chunk-list slot of a free size (`PCPU_SLOT_BASE_SHIFT` 5).
fn pcpu_size_to_slot(size: u64) -> u64 {
    (u64::from(64 - size.leading_zeros()) + 2)
        .saturating_sub(5)
        .max(1)
}

/// mm/percpu.c: `pcpu_setup_first_chunk`'s memblock allocations, in the kernel's order: the
/// group offsets and sizes and the unit maps, then (after the `pcpu-alloc:` dump) the chunk
/// lists and each first chunk's structure and maps. Sizes as 4.9 and 6.6 memblock=debug
/// logs show them: from 4.14 (the bitmap allocator) a chunk has a populated bitmap, an
/// allocation and a bound bitmap and a `pcpu_block_md` (32 bytes from 5.1, 20 before) per
/// page; before, a fixed structure (88 bytes) and a populated bitmap. 5.9 to 5.13 keep a
/// second set of chunk lists for memcg-accounted chunks (MEMCG_KMEM taken as on); from 5.14
/// the lists have two more slots (sidelined, to depopulate).
///
/// # Errors
/// [`BootError::NoMemory`]: the kernel panics ("%s: Failed to allocate %zu bytes").
fn pcpu_setup_first_chunk(k: &mut Kernel, ai: &PcpuAllocInfo) -> Result<(), BootError> {
    let _t = k.trace.enter("pcpu_setup_first_chunk", FILE);
    let align = crate::mm::memblock::cache_line_align_arg(&k.era);
    let alloc = |k: &mut Kernel, size: u64| -> Result<(), BootError> {
        early_alloc(k, size, align, "pcpu_setup_first_chunk")?
            .map(|_| ())
            .ok_or_else(|| {
                BootError::NoMemory(format!(
                    "pcpu_setup_first_chunk: Failed to allocate {size} bytes"
                ))
            })
    };
    let groups = ai.groups.len() as u64;
    let cpus = u64::from(k.machine.cpus);
    alloc(k, groups * 8)?; // group_offsets
    alloc(k, groups * 8)?; // group_sizes
    alloc(k, cpus * 4)?; // unit_map
    alloc(k, cpus * 8)?; // unit_off
    for l in pcpu_dump_alloc_info(ai, k.machine.cpus) {
        crate::pr_debug!(k.printk, "{l}\n");
    }
    let slot = pcpu_size_to_slot(ai.unit_size);
    let long = |bits: u64| bits.div_ceil(64) * 8;
    if !k.era.at_least(4, 14) {
        alloc(k, (slot + 2) * 16)?; // pcpu_slot
        let chunk = 88 + long(ai.unit_size / PAGE_SIZE);
        alloc(k, chunk)?; // schunk
        if ai.dyn_size > 0 {
            alloc(k, chunk)?; // dchunk
        }
        return Ok(());
    }
    let lists = if k.era.at_least(5, 14) {
        (slot + 4) * 16
    } else if k.era.at_least(5, 9) {
        (slot + 2) * 16 * 2
    } else {
        (slot + 2) * 16
    };
    alloc(k, lists)?;
    let md = if k.era.at_least(5, 1) { 32 } else { 20 };
    let static_aligned = ai.static_size.next_multiple_of(PCPU_MIN_ALLOC_SIZE);
    let dyn_size = ai.dyn_size - (static_aligned - ai.static_size);
    let first = |k: &mut Kernel, tmp: u64, map_size: u64| -> Result<(), BootError> {
        let _t = k.trace.enter("pcpu_alloc_first_chunk", FILE);
        let start_offset = tmp % PAGE_SIZE;
        let region = (start_offset + map_size).next_multiple_of(PAGE_SIZE);
        let pages = region / PAGE_SIZE;
        let bits = region / PCPU_MIN_ALLOC_SIZE;
        alloc(k, 128 + long(pages))?; // the chunk and its populated bitmap
        alloc(k, long(bits))?; // alloc_map
        alloc(k, long(bits + 1))?; // bound_map
        alloc(k, pages * md) // md_blocks
    };
    if ai.reserved_size > 0 {
        first(k, static_aligned, ai.reserved_size)?;
    }
    first(k, static_aligned + ai.reserved_size, dyn_size)
}

/// mm/percpu.c (5.17+; arch/x86/kernel/setup_percpu.c `pcpu_fc_alloc` /
/// `pcpu_alloc_bootmem` before): one group's allocation, on the group's node when it has
/// memory, above `__pa(MAX_DMA_ADDRESS)` (16 MiB). A kernel without CONFIG_NUMA, or a CPU
/// whose node has no memory, takes it anywhere ("cpu %d has no node %d or node-local
/// memory", printed only then).
///
/// # Errors
/// [`BootError::NoMemory`] when memblock fails in a way the kernel would report.
pub fn pcpu_fc_alloc(
    k: &mut Kernel,
    cpu: u32,
    size: u64,
    align: u64,
    node: Option<i32>,
) -> Result<Option<u64>, BootError> {
    const MAX_DMA_PA: u64 = 16 << 20;
    let _t = k.trace.enter("pcpu_fc_alloc", k.era.pcpu_fc_file());
    let nomem =
        |e: crate::mm::memblock::MemblockError| BootError::NoMemory(format!("pcpu_fc_alloc: {e}"));
    if crate::mm::nobootmem::bootmem_live(k) {
        // 2.6's pcpu_alloc_bootmem: __alloc_bootmem_node_nopanic on an online node with
        // NODE_DATA, __alloc_bootmem_nopanic otherwise.
        let e = |e| BootError::NoMemory(format!("pcpu_fc_alloc: {e}"));
        return match node {
            Some(nid) if nid != NUMA_NO_NODE && k.numa.online.contains(&(nid as u32)) => {
                crate::mm::nobootmem::bootmem_alloc_node(k, nid, size, align, MAX_DMA_PA).map_err(e)
            }
            _ => {
                let p = crate::mm::nobootmem::bootmem_alloc(k, size, align, MAX_DMA_PA, 0)
                    .map_err(e)?;
                if let Some(nid) = node {
                    pr_info!(
                        k.printk,
                        "{}cpu {cpu} has no node {nid} or node-local memory\n",
                        fc_alloc_prefix(&k.era)
                    );
                }
                Ok(p)
            }
        };
    }
    // Until 4.19 x86 took it from bootmem (nobootmem's `__alloc_memory_core_early`).
    let bootmem = crate::mm::memblock::boot_allocs_via_bootmem(&k.era);
    let p = match node {
        Some(nid) if nid != NUMA_NO_NODE && k.numa.online.contains(&(nid as u32)) && bootmem => k
            .memblock
            .__alloc_memory_core_early(nid, size, align, MAX_DMA_PA, MEMBLOCK_ALLOC_ACCESSIBLE)
            .map_err(nomem)?,
        Some(nid) if nid != NUMA_NO_NODE && k.numa.online.contains(&(nid as u32)) => k
            .memblock
            .memblock_alloc_try_nid(size, align, MAX_DMA_PA, MEMBLOCK_ALLOC_ACCESSIBLE, nid)
            .map_err(nomem)?,
        _ if bootmem => {
            let p = k
                .memblock
                .__alloc_memory_core_early(
                    NUMA_NO_NODE,
                    size,
                    align,
                    MAX_DMA_PA,
                    MEMBLOCK_ALLOC_ACCESSIBLE,
                )
                .map_err(nomem)?;
            if let Some(nid) = node {
                pr_info!(
                    k.printk,
                    "{}cpu {cpu} has no node {nid} or node-local memory\n",
                    fc_alloc_prefix(&k.era)
                );
            }
            p
        }
        Some(nid) => {
            let p = k
                .memblock
                .memblock_alloc_from(size, align, MAX_DMA_PA)
                .map_err(nomem)?;
            pr_info!(
                k.printk,
                "{}cpu {cpu} has no node {nid} or node-local memory\n",
                fc_alloc_prefix(&k.era)
            );
            p
        }
        None => k
            .memblock
            .memblock_alloc_from(size, align, MAX_DMA_PA)
            .map_err(nomem)?,
    };
    Ok(p.map(|p| p.0))
}

/// The bootmem API's allocation of `size` bytes as the era serves it: 2.6's bitmap
/// allocator while it is live (`alloc_bootmem_nopanic`: goal 16 MiB, the cache line for a 0
/// alignment), memblock's `memblock_alloc` otherwise. `Ok(None)`: no room.
///
/// # Errors
/// [`BootError::NoMemory`] for what the allocator reports as the kernel's panic or BUG.
fn early_alloc(
    k: &mut Kernel,
    size: u64,
    align: u64,
    what: &str,
) -> Result<Option<u64>, BootError> {
    if crate::mm::nobootmem::bootmem_live(k) {
        let align = if align == 0 {
            crate::include::SMP_CACHE_BYTES
        } else {
            align
        };
        return crate::mm::nobootmem::bootmem_alloc(k, size, align, 16 << 20, 0)
            .map_err(|e| BootError::NoMemory(format!("{what}: {e}")));
    }
    k.memblock
        .memblock_alloc(size, align)
        .map(|p| p.map(|p| p.0))
        .map_err(|e| BootError::NoMemory(format!("{what}: {e}")))
}

/// The matching free: `free_bootmem` on 2.6's bitmap (whole pages only), else memblock's
/// `memblock_free` (`__memblock_free_early` when `early`, as nobootmem's `free_bootmem`).
///
/// # Errors
/// [`BootError::NoMemory`] for the allocator's BUG (a page freed twice).
fn early_free(
    k: &mut Kernel,
    pa: u64,
    size: u64,
    what: &str,
    early: bool,
) -> Result<(), BootError> {
    if crate::mm::nobootmem::bootmem_live(k) {
        return crate::mm::nobootmem::bootmem_free(k, pa, size)
            .map_err(|e| BootError::NoMemory(format!("{what}: {e}")));
    }
    let r = if early {
        k.memblock.__memblock_free_early(pa, size)
    } else {
        k.memblock.memblock_free(pa, size)
    };
    r.map(|_| ())
        .map_err(|e| BootError::NoMemory(format!("{what}: {e}")))
}

/// The pr_fmt of the "no node-local memory" message: percpu.c's from 5.17, where the
/// allocation moved ("percpu: generalize pcpu_fc_alloc/free"), setup_percpu.c's before.
fn fc_alloc_prefix(era: &Era) -> &'static str {
    if era.at_least(5, 17) {
        "percpu: "
    } else {
        "setup_percpu: "
    }
}

/// mm/percpu.c: `pcpu_embed_first_chunk`: lay the first chunk out, take each group's
/// allocation from memblock, return the unused parts, print the "Embedded" line and set the
/// chunk up. `cpu_node(cpu)` is `early_cpu_to_node` (`None` without CONFIG_NUMA);
/// `distance` is `pcpu_cpu_distance`; `page_offset` maps the chunk's base to the address
/// old eras print.
///
/// # Errors
/// [`BootError::NoMemory`] when a group's allocation fails (the kernel then falls back to
/// the page first chunk, which is not modelled) or memblock reports an error;
/// [`BootError::Param`] when the sizes cannot be laid out.
#[allow(clippy::too_many_arguments)]
pub fn pcpu_embed_first_chunk(
    k: &mut Kernel,
    static_size: u64,
    reserved_size: u64,
    dyn_size: u64,
    atom_size: u64,
    cpu_node: &dyn Fn(u32) -> Option<i32>,
    distance: &dyn Fn(u32, u32) -> u8,
    page_offset: u64,
) -> Result<(), BootError> {
    let _t = k.trace.enter("pcpu_embed_first_chunk", FILE);
    let cpus = k.machine.cpus;
    let (mut ai, ai_pa, ai_size) = {
        let _t = k.trace.enter("pcpu_build_alloc_info", FILE);
        let ai = pcpu_build_alloc_info(
            &k.era,
            cpus,
            static_size,
            reserved_size,
            dyn_size,
            atom_size,
            distance,
        )
        .map_err(|e| BootError::Param(format!("{e}")))?;
        // pcpu_alloc_alloc_info: the info (six sizes, __ai_size, nr_groups: 64 bytes), its
        // groups (24 bytes each) and their cpu maps (4 bytes a unit), in whole pages.
        let units: u64 = ai.groups.iter().map(|g| u64::from(g.nr_units)).sum();
        let ai_size = (64 + ai.groups.len() as u64 * 24 + units * 4).next_multiple_of(PAGE_SIZE);
        let _t2 = k.trace.enter("pcpu_alloc_alloc_info", FILE);
        // Page-aligned from 4.15; before, 0 (memblock's default, a cache line).
        let ai_align = if k.era.at_least(4, 15) { PAGE_SIZE } else { 0 };
        let ai_pa = early_alloc(k, ai_size, ai_align, "pcpu_alloc_alloc_info")?
            .map(crate::include::PhysAddr)
            .ok_or_else(|| {
                BootError::NoMemory(format!(
                    "pcpu_alloc_alloc_info: Failed to allocate {ai_size} bytes"
                ))
            })?;
        (ai, ai_pa, ai_size)
    };
    let size_sum = ai.size_sum();
    // The array of the groups' allocations.
    let areas_size = (ai.groups.len() as u64 * 8).next_multiple_of(PAGE_SIZE);
    let areas_align = crate::mm::memblock::cache_line_align_arg(&k.era);
    let areas_pa = early_alloc(k, areas_size, areas_align, "pcpu_embed_first_chunk")?
        .map(crate::include::PhysAddr);
    let mut areas = Vec::with_capacity(ai.groups.len());
    for gi in &ai.groups {
        let cpu = gi
            .cpu_map
            .iter()
            .copied()
            .find(|&c| c != UNIT_UNUSED)
            .ok_or(BootError::Param(String::from(
                "percpu: a group without a CPU",
            )))?;
        let size = u64::from(gi.nr_units) * ai.unit_size;
        match pcpu_fc_alloc(k, cpu, size, atom_size, cpu_node(cpu))? {
            Some(p) => areas.push(p),
            None => {
                return Err(BootError::NoMemory(format!(
                    "pcpu_embed_first_chunk: Failed to allocate {size} bytes for cpu {cpu} (the page first chunk it falls back to is not modelled)"
                )))
            }
        }
    }
    let base = areas.iter().copied().min().unwrap_or(0);
    // Copy the static data (bootmm's units start zeroed) and give back what no CPU uses.
    let mut unit_pa = alloc::vec![0u64; cpus as usize];
    for (gi, &area) in ai.groups.iter().zip(&areas) {
        for (i, &cpu) in gi.cpu_map.iter().enumerate() {
            let p = area + i as u64 * ai.unit_size;
            let _t = k.trace.enter("pcpu_fc_free", k.era.pcpu_fc_file());
            // Before 4.20 x86's pcpu_fc_free called free_bootmem, nobootmem's wrapper of
            // memblock_free.
            let ea = k.era.early_allocator();
            let _t2 = (ea != crate::era::EarlyAllocator::Memblock)
                .then(|| k.trace.enter("free_bootmem", ea.hand_over_file(&k.era)));
            if cpu == UNIT_UNUSED {
                early_free(k, p, ai.unit_size, "pcpu_fc_free", false)?;
                continue;
            }
            unit_pa[cpu as usize] = p;
            early_free(
                k,
                p + size_sum,
                ai.unit_size - size_sum,
                "pcpu_fc_free",
                false,
            )?;
        }
    }
    for (gi, &area) in ai.groups.iter_mut().zip(&areas) {
        gi.base_offset = area - base;
    }
    let line = embedded_line_text(&k.era, &ai, page_offset.wrapping_add(base));
    pr_info!(k.printk, "{line}\n");
    pcpu_setup_first_chunk(k, &ai)?;
    // pcpu_free_alloc_info, then the areas array.
    let free = |k: &mut Kernel, pa: u64, size: u64, what: &str| {
        let early = crate::mm::memblock::boot_allocs_via_bootmem(&k.era);
        early_free(k, pa, size, what, early)
    };
    free(k, ai_pa.0, ai_size, "pcpu_free_alloc_info")?;
    if let Some(a) = areas_pa {
        free(k, a.0, areas_size, "pcpu_embed_first_chunk")?;
    }
    k.percpu = FirstChunk::new(ai, base, unit_pa);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The allocator: pcpu_alloc / pcpu_free_area on the first chunk.
// ---------------------------------------------------------------------------------------

/// `PCPU_MIN_ALLOC_SHIFT`: the allocation map has a bit per 4 bytes.
const PCPU_MIN_ALLOC_SHIFT: u32 = 2;
/// `PCPU_MIN_ALLOC_SIZE`.
pub const PCPU_MIN_ALLOC_SIZE: u64 = 1 << PCPU_MIN_ALLOC_SHIFT;
/// How many allocation failures are reported before the message stops (`warn_limit`).
const WARN_LIMIT: u32 = 10;

/// A `void __percpu *`. On x86_64 the per-CPU section is linked at 0, so a per-CPU pointer is
/// the variable's offset inside every CPU's unit; `per_cpu_ptr` adds a CPU's
/// `__per_cpu_offset`. Only the allocator makes one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PcpuPtr(u64);

impl PcpuPtr {
    /// The offset inside a unit (the pointer's value on x86_64).
    pub fn offset(self) -> u64 {
        self.0
    }

    /// The per-CPU pointer whose value is `v` (a script's variable), if it can be one: inside
    /// a unit and 4-byte aligned. Whether it was allocated is `free_percpu`'s to check.
    pub fn from_value(v: u64, unit_size: u64) -> Option<Self> {
        (v % PCPU_MIN_ALLOC_SIZE == 0 && v < unit_size).then_some(PcpuPtr(v))
    }

    /// The per-CPU pointer whose value is `v`, if it lies in the first chunk's unit or in a
    /// chunk `pcpu_create_chunk` made.
    pub fn from_value_in(k: &Kernel, v: u64) -> Option<Self> {
        Self::from_value(v, k.percpu.unit_size()).or_else(|| {
            (v % PCPU_MIN_ALLOC_SIZE == 0 && vm::in_vm_chunk(k, v)).then_some(PcpuPtr(v))
        })
    }
}

/// One chunk's allocation map (`struct pcpu_chunk`'s `alloc_map`, `bound_map`, `free_bytes`,
/// `first_free`). Offsets are from the unit's start.
#[derive(Debug)]
struct PcpuChunk {
    /// The chunk's page-aligned base, as an offset in the unit.
    base: u64,
    /// The hidden head (`start_offset`) and tail (`end_offset`), bytes.
    start_offset: u64,
    end_offset: u64,
    /// Bits in the map: the region's bytes / 4.
    nr_bits: usize,
    alloc_map: Vec<u64>,
    /// A bit at each allocation's start and one past its end.
    bound_map: Vec<u64>,
    free_bytes: u64,
    first_free: usize,
    /// An upper bound of the longest free run, in bits (the kernel's `contig_hint`, kept
    /// loosely): set by a search that found no room, reset by a free.
    contig_hint: usize,
}

/// The first index in `[from, limit)` whose bit is `set`, else `limit` (`find_next_bit` /
/// `find_next_zero_bit`).
fn next_bit(m: &[u64], from: usize, limit: usize, set: bool) -> usize {
    let mut i = from;
    while i < limit {
        let w = i / 64;
        let mut word = if set { m[w] } else { !m[w] };
        word &= !0u64 << (i % 64);
        if word != 0 {
            return (w * 64 + word.trailing_zeros() as usize).min(limit);
        }
        i = (w + 1) * 64;
    }
    limit
}

fn test_bit(m: &[u64], i: usize) -> bool {
    m[i / 64] & (1 << (i % 64)) != 0
}
fn set_bit(m: &mut [u64], i: usize) {
    m[i / 64] |= 1 << (i % 64);
}
fn clear_bit(m: &mut [u64], i: usize) {
    m[i / 64] &= !(1 << (i % 64));
}

impl PcpuChunk {
    /// mm/percpu.c: `pcpu_alloc_first_chunk`: the chunk covering `[tmp, tmp + map_size)` of
    /// the unit, its page-aligned base, and the head and tail outside the region hidden as
    /// allocated.
    fn pcpu_alloc_first_chunk(tmp: u64, map_size: u64) -> Self {
        let base = tmp & !(PAGE_SIZE - 1);
        let start_offset = tmp - base;
        let region_size = (start_offset + map_size).next_multiple_of(PAGE_SIZE);
        let nr_bits = (region_size >> PCPU_MIN_ALLOC_SHIFT) as usize;
        let words = (nr_bits + 1).div_ceil(64);
        let mut c = PcpuChunk {
            base,
            start_offset,
            end_offset: region_size - start_offset - map_size,
            nr_bits,
            alloc_map: alloc::vec![0; words],
            bound_map: alloc::vec![0; words],
            free_bytes: map_size,
            first_free: 0,
            contig_hint: nr_bits,
        };
        let head = (start_offset >> PCPU_MIN_ALLOC_SHIFT) as usize;
        if head > 0 {
            (0..head).for_each(|i| set_bit(&mut c.alloc_map, i));
            set_bit(&mut c.bound_map, 0);
            set_bit(&mut c.bound_map, head);
        }
        let tail = (c.end_offset >> PCPU_MIN_ALLOC_SHIFT) as usize;
        if tail > 0 {
            (nr_bits - tail..nr_bits).for_each(|i| set_bit(&mut c.alloc_map, i));
            set_bit(&mut c.bound_map, nr_bits - tail);
        }
        set_bit(&mut c.bound_map, nr_bits);
        c.first_free = (0..nr_bits)
            .find(|&i| !test_bit(&c.alloc_map, i))
            .unwrap_or(nr_bits);
        c
    }

    /// The region's offsets in the unit.
    fn contains(&self, off: u64) -> bool {
        let start = self.base + self.start_offset;
        let end = self.base + (self.nr_bits as u64 * PCPU_MIN_ALLOC_SIZE) - self.end_offset;
        (start..end).contains(&off)
    }

    /// mm/percpu.c: `pcpu_find_block_fit` + `pcpu_alloc_area`: the lowest `bit_align`-aligned
    /// run of `bits` free bits from `first_free` (the hints the kernel keeps skip only runs
    /// too small for the request, so they find the same run). Returns the offset in the unit.
    fn pcpu_alloc_area(&mut self, bits: usize, bit_align: usize) -> Option<u64> {
        if self.free_bytes < bits as u64 * PCPU_MIN_ALLOC_SIZE || bits > self.contig_hint {
            return None;
        }
        // The free runs in address order (a word at a time); the first whose lowest
        // aligned start leaves room is the lowest fit. The longest run seen bounds the hint.
        let mut longest = 0usize;
        let mut start = next_bit(&self.alloc_map, self.first_free, self.nr_bits, false);
        while start < self.nr_bits {
            let end = next_bit(&self.alloc_map, start, self.nr_bits, true);
            longest = longest.max(end - start);
            let i = start.next_multiple_of(bit_align);
            if i + bits <= end {
                (i..i + bits).for_each(|j| set_bit(&mut self.alloc_map, j));
                set_bit(&mut self.bound_map, i);
                (i + 1..i + bits).for_each(|j| clear_bit(&mut self.bound_map, j));
                set_bit(&mut self.bound_map, i + bits);
                self.free_bytes -= bits as u64 * PCPU_MIN_ALLOC_SIZE;
                if i == self.first_free {
                    self.first_free = next_bit(&self.alloc_map, i + bits, self.nr_bits, false);
                }
                return Some(self.base + (i as u64) * PCPU_MIN_ALLOC_SIZE);
            }
            start = next_bit(&self.alloc_map, end, self.nr_bits, false);
        }
        self.contig_hint = longest;
        None
    }

    /// mm/percpu.c: `pcpu_free_area`: the allocation starting at `off` (up to the next bound
    /// bit) is free again; its size in bytes. `None` when `off` starts no allocation (the
    /// kernel does not check: it would clear whatever lies up to the next bound).
    fn pcpu_free_area(&mut self, off: u64) -> Option<u64> {
        if !self.contains(off) {
            return None;
        }
        let bit = ((off - self.base) >> PCPU_MIN_ALLOC_SHIFT) as usize;
        if !test_bit(&self.alloc_map, bit) || !test_bit(&self.bound_map, bit) {
            return None;
        }
        let end = (bit + 1..=self.nr_bits).find(|&j| test_bit(&self.bound_map, j))?;
        (bit..end).for_each(|j| clear_bit(&mut self.alloc_map, j));
        let bytes = (end - bit) as u64 * PCPU_MIN_ALLOC_SIZE;
        self.free_bytes += bytes;
        self.first_free = self.first_free.min(bit);
        self.contig_hint = self.nr_bits;
        Some(bytes)
    }
}

/// Why `free_percpu` did nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PcpuFreeError {
    /// The pointer starts no live allocation (freed already, never allocated, or inside one).
    NotAllocated(u64),
    /// The percpu allocator is not set up (a bare machine).
    NoChunk,
    /// The kernel's own per-CPU data (a zone's pageset, a slab cache's CPU state).
    KernelOwned(u64),
}

impl core::fmt::Display for PcpuFreeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PcpuFreeError::NotAllocated(p) => write!(
                f,
                "free_percpu({p:#x}): no allocation starts there (already freed, never allocated, or inside one); the kernel does not check and would clear its map up to the next allocation"
            ),
            PcpuFreeError::NoChunk => write!(f, "free_percpu: the percpu allocator is not set up"),
            PcpuFreeError::KernelOwned(p) => write!(
                f,
                "free_percpu({p:#x}): the kernel's own per-CPU data (a zone's pageset or a slab cache's kmem_cache_cpu), which it still uses; refused"
            ),
        }
    }
}

/// init/main.c (2.6.24, the generic `setup_per_cpu_areas` of CONFIG_SMP kernels without an
/// arch one: i386 before 2.6.26): one `alloc_bootmem_pages` of `PERCPU_ENOUGH_ROOM` (the
/// static per-CPU data and the 8 KiB module reserve, in whole pages) per possible CPU, each
/// CPU's copy of `.data.percpu` at `__per_cpu_offset[cpu]`. The era has no percpu allocator
/// and prints nothing. bootmm serves what later eras take from the dynamic chunk (the zone
/// pagesets, SLUB's per-CPU structures), which 2.6.24 keeps in static per-CPU variables,
/// from the area past the static data through its chunk allocator (docs/divergences.md).
///
/// # Errors
/// [`BootError::NoMemory`] where the kernel panics ("bootmem alloc of %lu bytes failed!").
pub fn setup_per_cpu_areas_static(k: &mut Kernel) -> Result<(), BootError> {
    let _t = k.trace.enter("setup_per_cpu_areas", "init/main.c");
    const PERCPU_MODULE_RESERVE: u64 = 8 << 10;
    let cpus = k.machine.cpus.max(1);
    let static_size = k.machine.kernel_config().percpu_static_size;
    let size = (static_size + PERCPU_MODULE_RESERVE).next_multiple_of(PAGE_SIZE);
    let total = size * u64::from(cpus);
    let ptr = {
        let _t = k.trace.enter("__alloc_bootmem", "mm/bootmem.c");
        early_alloc(k, total, PAGE_SIZE, "setup_per_cpu_areas")?
    }
    .ok_or_else(|| {
        BootError::NoMemory(format!(
            "setup_per_cpu_areas: bootmem alloc of {total} bytes failed!"
        ))
    })?;
    let ai = PcpuAllocInfo {
        static_size,
        reserved_size: 0,
        dyn_size: size - static_size,
        unit_size: size,
        atom_size: PAGE_SIZE,
        alloc_size: size,
        groups: alloc::vec![PcpuGroupInfo {
            nr_units: cpus,
            base_offset: 0,
            cpu_map: (0..cpus).collect(),
        }],
    };
    let unit_pa = (0..u64::from(cpus)).map(|c| ptr + c * size).collect();
    k.percpu = FirstChunk::new(ai, ptr, unit_pa);
    Ok(())
}

impl FirstChunk {
    /// mm/percpu.c: the allocator part of `pcpu_setup_first_chunk`: the reserved chunk (when
    /// the layout has a reserve) right after the static data, the dynamic one after it.
    fn new(ai: PcpuAllocInfo, base: u64, unit_pa: Vec<u64>) -> Self {
        let mut chunks = PcpuChunks::default();
        // The static data rounded up to the allocation granule; the dynamic part gives up
        // what that takes.
        let mut tmp = ai.static_size.next_multiple_of(PCPU_MIN_ALLOC_SIZE);
        let dyn_size = ai.dyn_size - (tmp - ai.static_size);
        if ai.reserved_size > 0 {
            chunks.reserved = Some(PcpuChunk::pcpu_alloc_first_chunk(tmp, ai.reserved_size));
            tmp += ai.reserved_size;
        }
        chunks.first = Some(PcpuChunk::pcpu_alloc_first_chunk(tmp, dyn_size));
        FirstChunk {
            ai: Some(ai),
            base,
            unit_pa,
            lock: spin::Mutex::new(chunks),
            alloc_mutex: spin::Mutex::new(()),
        }
    }

    /// The unit size, 0 before setup.
    pub fn unit_size(&self) -> u64 {
        self.ai.as_ref().map_or(0, |a| a.unit_size)
    }

    /// Free bytes of the dynamic (`false`) or reserved (`true`) chunk.
    pub fn free_bytes(&self, reserved: bool) -> u64 {
        let c = self.lock.lock();
        let ch = if reserved { &c.reserved } else { &c.first };
        ch.as_ref().map_or(0, |ch| ch.free_bytes)
    }
}

/// mm/percpu.c: `pcpu_alloc`: `size` bytes aligned to `align` in every possible CPU's unit,
/// zeroed, from the reserved chunk or the dynamic one, under `pcpu_lock`. Callable from any
/// thread through a shared reference.
///
/// Returns `None` (the kernel's NULL) for a size of 0 or above 32 KiB, an alignment that is
/// not a power of two or above a page (with the kernel's warning, unless `nowarn`), and when
/// the first chunk has no room: this path, callable without a CPU, does not make chunks
/// ("allocation failed, size=… align=… atomic=0, failed to allocate new chunk", at most 10
/// times); [`pcpu_alloc_on`] does.
///
/// Complexity: O(bits of the chunk) for the search, under the lock.
pub fn pcpu_alloc(
    k: &Kernel,
    size: u64,
    align: u64,
    reserved: bool,
    nowarn: bool,
) -> Option<PcpuPtr> {
    let Some((size, align)) = pcpu_legal_size(size, align) else {
        let align = align.max(PCPU_MIN_ALLOC_SIZE);
        let size = size.wrapping_add(PCPU_MIN_ALLOC_SIZE - 1) & !(PCPU_MIN_ALLOC_SIZE - 1);
        if !nowarn {
            crate::pr_warn!(
                k.printk,
                "WARNING: CPU: 0 PID: 0 at mm/percpu.c pcpu_alloc: illegal size ({size}) or align ({align}) for percpu allocation\n"
            );
        }
        return None;
    };
    let bits = (size >> PCPU_MIN_ALLOC_SHIFT) as usize;
    let bit_align = (align >> PCPU_MIN_ALLOC_SHIFT) as usize;
    let fc = &k.percpu;
    let mut c = fc.lock.lock();
    let chunk = if reserved {
        c.reserved.as_mut()
    } else {
        c.first.as_mut()
    };
    let (off, err) = match chunk {
        Some(ch) => match ch.pcpu_alloc_area(bits, bit_align) {
            Some(off) => (Some(off), ""),
            None if reserved => (None, "alloc from reserved chunk failed"),
            None => (None, "failed to allocate new chunk"),
        },
        None if reserved => (None, "no reserved chunk"),
        None => (None, "the percpu allocator is not set up"),
    };
    let Some(off) = off else {
        if !nowarn && c.warned < WARN_LIMIT {
            c.warned += 1;
            crate::pr_warn!(
                k.printk,
                "percpu: allocation failed, size={size} align={align} atomic=0, {err}\n"
            );
            if c.warned == WARN_LIMIT {
                pr_info!(k.printk, "percpu: limit reached, disable warning\n");
            }
        }
        return None;
    };
    // Zero the area in every possible CPU's unit (still under the lock, so that a unit that
    // cannot be written gives the area back before anyone else sees it).
    for &u in &fc.unit_pa {
        if k.phys.memset(crate::PhysAddr(u + off), 0, size).is_err() {
            // The units were taken from memblock inside simulated RAM at boot: this is a
            // broken machine. Report it as CONFIG_DEBUG_VM would and hand nothing out.
            debug_assert!(false, "percpu unit at {:#x} not in simulated RAM", u + off);
            crate::pr_err!(
                k.printk,
                "percpu: unit of {size} bytes at {:#x} is not in simulated RAM; allocation refused\n",
                u + off
            );
            let chunk = if reserved {
                c.reserved.as_mut()
            } else {
                c.first.as_mut()
            };
            if let Some(ch) = chunk {
                ch.pcpu_free_area(off);
            }
            return None;
        }
    }
    Some(PcpuPtr(off))
}

/// `pcpu_alloc`'s checks: the size rounded up to `PCPU_MIN_ALLOC_SIZE` (in size_t: a size
/// at the top of the range wraps to 0) and the alignment raised to it, when the request is
/// one the kernel serves (size 1 ..= `PCPU_MIN_UNIT_SIZE`, a power-of-two alignment up to
/// a page).
pub(crate) fn pcpu_legal_size(size: u64, align: u64) -> Option<(u64, u64)> {
    let align = align.max(PCPU_MIN_ALLOC_SIZE);
    let size = size.wrapping_add(PCPU_MIN_ALLOC_SIZE - 1) & !(PCPU_MIN_ALLOC_SIZE - 1);
    (size != 0 && size <= PCPU_MIN_UNIT_SIZE && align <= PAGE_SIZE && align.is_power_of_two())
        .then_some((size, align))
}

/// include/linux/percpu.h: `__alloc_percpu(size, align)` (GFP_KERNEL). See [`pcpu_alloc`].
pub fn __alloc_percpu(k: &Kernel, size: u64, align: u64) -> Option<PcpuPtr> {
    pcpu_alloc(k, size, align, false, false)
}

/// mm/percpu.c: `__alloc_reserved_percpu`: from the modules' reserve. See [`pcpu_alloc`].
pub fn __alloc_reserved_percpu(k: &Kernel, size: u64, align: u64) -> Option<PcpuPtr> {
    pcpu_alloc(k, size, align, true, false)
}

/// mm/percpu.c: `free_percpu`: `None` (NULL) does nothing.
///
/// # Errors
/// [`PcpuFreeError::NotAllocated`] for a pointer that starts no live allocation, with the
/// allocator's state unchanged (the kernel does not check; see the error's text).
pub fn free_percpu(k: &Kernel, p: Option<PcpuPtr>) -> Result<(), PcpuFreeError> {
    let Some(p) = p else { return Ok(()) };
    if k.percpu.unit_size() != 0 && p.0 >= k.percpu.unit_size() {
        // A chunk in the vmalloc range (without a CPU, an emptied chunk stays).
        return vm::free_in_vm_chunk(k, p.0).map(|_| ());
    }
    let mut c = k.percpu.lock.lock();
    let c = &mut *c;
    if c.pinned.contains(&p.0) {
        return Err(PcpuFreeError::KernelOwned(p.0));
    }

    // pcpu_chunk_addr_search: the reserved chunk's range, else the first chunk's.
    let chunk = match (&mut c.reserved, &mut c.first) {
        (Some(r), _) if r.contains(p.0) => r,
        (_, Some(f)) => f,
        _ => return Err(PcpuFreeError::NoChunk),
    };
    chunk
        .pcpu_free_area(p.0)
        .map(|_| ())
        .ok_or(PcpuFreeError::NotAllocated(p.0))
}

/// Mark `p` as the kernel's own (a zone pageset, a cache's `kmem_cache_cpu`):
/// [`free_percpu`] refuses it until [`pcpu_unpin`].
pub(crate) fn pcpu_pin(k: &Kernel, p: PcpuPtr) {
    k.percpu.lock.lock().pinned.insert(p.0);
}

/// The kernel frees `p` itself next (a destroyed cache's per-CPU area).
pub(crate) fn pcpu_unpin(k: &Kernel, p: PcpuPtr) {
    k.percpu.lock.lock().pinned.remove(&p.0);
}

/// include/linux/percpu-defs.h: `per_cpu_ptr(ptr, cpu)`, as a physical address (the unit of
/// `cpu` plus the pointer's offset). `None` for a CPU that is not possible.
pub fn per_cpu_ptr(k: &Kernel, p: PcpuPtr, cpu: u32) -> Option<crate::PhysAddr> {
    let u = *k.percpu.unit_pa.get(cpu as usize)?;
    if p.0 < k.percpu.unit_size() {
        return Some(crate::PhysAddr(u + p.0));
    }
    // A chunk in the vmalloc range: `p + __per_cpu_offset[cpu]` is a vmalloc address, which
    // the kernel's page tables map to the page populated for it.
    let va = vm::per_cpu_va(k, p, cpu)?;
    crate::mm::vmalloc::virt_to_phys_walk(k, va, 1)
}

#[path = "percpu/vm.rs"]
mod vm;
pub use vm::{free_percpu_on, pcpu_alloc_on, pcpu_nr_vm_chunks};

#[cfg(test)]
mod tests;
