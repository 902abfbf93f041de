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

/// The first chunk as `pcpu_embed_first_chunk` left it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FirstChunk {
    /// The layout.
    pub ai: Option<PcpuAllocInfo>,
    /// Physical address of the lowest group's allocation (`pcpu_base_addr`).
    pub base: u64,
    /// Physical address of each CPU's unit, by CPU id.
    pub unit_pa: Vec<u64>,
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
    let _t = k.trace.enter("pcpu_fc_alloc", FILE);
    let nomem =
        |e: crate::mm::memblock::MemblockError| BootError::NoMemory(format!("pcpu_fc_alloc: {e}"));
    let p = match node {
        Some(nid) if nid != NUMA_NO_NODE && k.numa.online.contains(&(nid as u32)) => k
            .memblock
            .memblock_alloc_try_nid(size, align, MAX_DMA_PA, MEMBLOCK_ALLOC_ACCESSIBLE, nid)
            .map_err(nomem)?,
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
    let nomem = |what: &str, e: crate::mm::memblock::MemblockError| {
        BootError::NoMemory(format!("{what}: {e}"))
    };
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
        // Page-aligned from 4.15 ("percpu: use PAGE_SIZE alignment for the alloc info");
        // a cache line before.
        let ai_align = if k.era.at_least(4, 15) { PAGE_SIZE } else { 64 };
        let ai_pa = k
            .memblock
            .memblock_alloc(ai_size, ai_align)
            .map_err(|e| nomem("pcpu_alloc_alloc_info", e))?
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
    let areas_pa = k
        .memblock
        .memblock_alloc(areas_size, 64)
        .map_err(|e| nomem("pcpu_embed_first_chunk", e))?;
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
            let _t = k.trace.enter("pcpu_fc_free", FILE);
            if cpu == UNIT_UNUSED {
                k.memblock
                    .memblock_free(p, ai.unit_size)
                    .map_err(|e| nomem("pcpu_fc_free", e))?;
                continue;
            }
            unit_pa[cpu as usize] = p;
            k.memblock
                .memblock_free(p + size_sum, ai.unit_size - size_sum)
                .map_err(|e| nomem("pcpu_fc_free", e))?;
        }
    }
    for (gi, &area) in ai.groups.iter_mut().zip(&areas) {
        gi.base_offset = area - base;
    }
    let line = embedded_line_text(&k.era, &ai, page_offset.wrapping_add(base));
    pr_info!(k.printk, "{line}\n");
    {
        let _t = k.trace.enter("pcpu_setup_first_chunk", FILE);
        for l in pcpu_dump_alloc_info(&ai, cpus) {
            crate::pr_debug!(k.printk, "{l}\n");
        }
    }
    // pcpu_free_alloc_info, then the areas array.
    k.memblock
        .memblock_free(ai_pa.0, ai_size)
        .map_err(|e| nomem("pcpu_free_alloc_info", e))?;
    if let Some(a) = areas_pa {
        k.memblock
            .memblock_free(a.0, areas_size)
            .map_err(|e| nomem("pcpu_embed_first_chunk", e))?;
    }
    k.percpu = FirstChunk {
        ai: Some(ai),
        base,
        unit_pa,
    };
    Ok(())
}

#[cfg(test)]
mod tests;
