// SPDX-License-Identifier: GPL-2.0-only
//! arch/x86/mm/numa.c (with srat.c, numa_emulation.c and, from 6.12, mm/numa_memblks.c and
//! mm/numa.c): finding the NUMA nodes and placing each node's `pg_data_t`.
//!
//! `initmem_init` tries the firmware's description (ACPI SRAT), then AMD northbridge
//! registers, then fakes one node over all RAM; the parsed ranges (`numa_meminfo`) are
//! cleaned and merged, optionally split by `numa=fake=`, written into memblock as node ids,
//! and every node with memory gets its `NODE_DATA` from memblock on that node. bootmm runs
//! the same steps on the machine's SRAT/SLIT; the `pxm → node` numbering is an input (as a
//! log prints it), AMD northbridge discovery is never found, and `sizeof(pg_data_t)` is a
//! build fact of the machine (see docs/divergences.md).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use crate::include::{NUMA_NO_NODE, PAGE_SIZE, SMP_CACHE_BYTES};
use crate::init::main::BootError;
use crate::kernel::Kernel;
use crate::klib::cmdline::{memparse, simple_strtoull};
use crate::mm::memblock::{numa_valid_node, RegionType, MAX_NUMNODES};
use crate::{pr_debug, pr_err, pr_info, pr_warn};

const NUMA_C: &str = "arch/x86/mm/numa.c";
const SRAT_C: &str = "arch/x86/mm/srat.c";

/// `NR_NODE_MEMBLKS` (`MAX_NUMNODES * 2`).
pub const NR_NODE_MEMBLKS: usize = MAX_NUMNODES as usize * 2;
/// `LOCAL_DISTANCE` / `REMOTE_DISTANCE` (include/linux/topology.h).
pub const LOCAL_DISTANCE: u8 = 10;
pub const REMOTE_DISTANCE: u8 = 20;
/// `NODE_MIN_SIZE`: nodes smaller than this got no NODE_DATA until 6.9.
const NODE_MIN_SIZE: u64 = 4 << 20;
/// `ZONE_ALIGN` of the pre-3.17 `setup_node_data` (`1 << (MAX_ORDER + PAGE_SHIFT)`).
const ZONE_ALIGN: u64 = 1 << (11 + 12);
/// `FAKE_NODE_MIN_SIZE` (numa_emulation.c).
const FAKE_NODE_MIN_SIZE: u64 = 32 << 20;
/// `MAX_DMA32_PFN << PAGE_SHIFT`: `numa_emu_dma_end()` on x86.
const DMA32_END: u64 = 1 << 32;

/// One `struct numa_memblk`: `[start, end)` on node `nid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NumaMemblk {
    pub start: u64,
    pub end: u64,
    pub nid: i32,
}

/// `struct numa_meminfo` (only the used `blk[0..nr_blks]`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NumaMeminfo {
    pub blk: Vec<NumaMemblk>,
}

/// The `numa=` early parameter (`numa_setup`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NumaParams {
    /// `numa=off`.
    pub off: bool,
    /// `numa=noacpi` (`acpi_numa = -1` / `disable_srat()`).
    pub noacpi: bool,
    /// `numa=fake=…` (`emu_cmdline`).
    pub fake: Option<String>,
}

/// Which `init_func` of `x86_numa_init` described the nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumaSource {
    /// `x86_acpi_numa_init`: the SRAT.
    Acpi,
    /// `dummy_numa_init`: one node over all RAM.
    Dummy,
}

/// A node's `pg_data_t` as `alloc_node_data` placed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeData {
    pub nid: u32,
    /// Physical address.
    pub pa: u64,
    /// Bytes allocated (`nd_size`).
    pub size: u64,
    /// The node the memory is on (`early_pfn_to_nid`).
    pub on_node: u32,
}

/// NUMA state after `initmem_init`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Numa {
    /// Online nodes with memory, ascending.
    pub online: Vec<u32>,
    /// `node_possible_map`, ascending (nodes with memory or CPUs).
    pub possible: Vec<u32>,
    /// `nr_node_ids`.
    pub nr_node_ids: u32,
    /// `numa_meminfo` as registered (after cleanup and emulation).
    pub meminfo: NumaMeminfo,
    /// `numa_distance_cnt` and the table (row-major), once one was allocated.
    pub distance_cnt: u32,
    pub distance: Vec<u8>,
    /// Physical address of the distance table.
    pub distance_pa: Option<u64>,
    /// Each online node's `pg_data_t`.
    pub node_data: Vec<NodeData>,
    /// How the nodes were found.
    pub source: Option<NumaSource>,
    /// `numa=fake=` split the nodes; `emu_nid_to_phys` maps emulated to physical nodes.
    pub emu_nid_to_phys: Vec<i32>,
    /// The parsed `numa=` parameter.
    pub params: NumaParams,
    /// Printed lines whose numbers depend on something the model does not compute, and why.
    pub caveats: Vec<(String, String)>,
    /// `x86_cpu_to_node_map`: each possible CPU's node (`early_cpu_to_node`), set by
    /// [`numa_cpu_map`].
    pub cpu_to_node: Vec<i32>,
}

impl Numa {
    /// `node_distance(from, to)` (`__node_distance`).
    pub fn node_distance(&self, from: u32, to: u32) -> u8 {
        let cnt = self.distance_cnt;
        if from >= cnt || to >= cnt {
            return if from == to {
                LOCAL_DISTANCE
            } else {
                REMOTE_DISTANCE
            };
        }
        self.distance[(from * cnt + to) as usize]
    }
}

/// The working state of `numa_init` (the file-scope variables of numa.c).
#[derive(Default)]
struct NumaInit {
    numa_nodes_parsed: u64,
    meminfo: NumaMeminfo,
    reserved_meminfo: NumaMeminfo,
}

/// What the kernel changes that reshaped numa.c mean here, each decided once from the
/// version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct NumaRules {
    /// 6.12+: the numa_memblks rework (commit 87482708210f "mm: introduce numa_memblks" and
    /// the rest of its series, moving the generic parts of numa.c out of x86): the meminfo
    /// code lives
    /// in mm/numa_memblks.c and `alloc_node_data` in mm/numa.c. The nodes start as
    /// NUMA_NO_NODE (not MAX_NUMNODES); the distance tables come from `memblock_alloc`
    /// (not `memblock_find_in_range` + `memblock_reserve`); `numa_cleanup_meminfo` trims to
    /// memblock's DRAM bounds (not `[0, max_pfn)`) and keeps the part of a block above the
    /// end of RAM in `numa_reserved_meminfo`; `numa_register_memblks` is split into
    /// `numa_register_meminfo` and `numa_register_nodes`, which takes a node's span from
    /// memblock's pfn ranges; `alloc_node_data` rounds `pg_data_t` to `SMP_CACHE_BYTES`
    /// (not a page) and panics when it finds no memory.
    memblks: bool,
    /// 5.10+: `numa_cleanup_meminfo` moves a block that overlaps no RAM into
    /// `numa_reserved_meminfo` (for `phys_to_target_node`), believed from "x86/NUMA:
    /// Provide a range-to-target_node lookup facility".
    reserved_meminfo: bool,
    /// 4.3 … 5.9: `numa_cleanup_meminfo` drops, after trimming, a block that overlaps no
    /// RAM (5.10 moves it to `numa_reserved_meminfo` before trimming instead). The 4.3
    /// boundary is believed, not confirmed.
    drop_blk_without_ram: bool,
}

impl NumaRules {
    fn new(era: &crate::era::Era) -> Self {
        let reserved_meminfo = era.at_least(5, 10);
        NumaRules {
            memblks: era.at_least(6, 12),
            reserved_meminfo,
            drop_blk_without_ram: era.at_least(4, 3) && !reserved_meminfo,
        }
    }
}

fn nodes(mask: u64) -> impl Iterator<Item = u32> {
    (0..64u32).filter(move |n| mask & (1u64 << n) != 0)
}

fn no_memory(e: impl ToString) -> BootError {
    BootError::NoMemory(e.to_string())
}

/// Whether `numa=fake=` on a kernel without CONFIG_NUMA_EMU is a malformed option
/// (`return numa_emu_cmdline(opt + 5)` with its -EINVAL stub): 6.1 logs show it, 5.11
/// patches already have it; before, an `#ifdef CONFIG_NUMA_EMU` skipped the word. Taken
/// as 5.5 (not confirmed; docs/divergences.md).
pub fn numa_setup_rejects_fake_without_emu(era: &crate::era::Era) -> bool {
    era.at_least(5, 5)
}

/// arch/x86/mm/numa.c: `numa_setup`, the `numa=` early parameter. `false` is the kernel's
/// -EINVAL ("Malformed early option").
pub fn numa_setup(k: &mut Kernel, opt: Option<&str>) -> bool {
    let _t = k.trace.enter("numa_setup", NUMA_C);
    let Some(opt) = opt else {
        return false;
    };
    if opt.starts_with("off") {
        k.numa.params.off = true;
    }
    if let Some(f) = opt.strip_prefix("fake=") {
        if !k.machine.kernel_config().numa_emu {
            // numa_emu_cmdline's stub without CONFIG_NUMA_EMU: -EINVAL (since the #ifdef
            // around the call went, about 5.5: not pinned), ignored before.
            return !numa_setup_rejects_fake_without_emu(&k.era);
        }
        k.numa.params.fake = Some(String::from(f));
    }
    if opt.starts_with("noacpi") {
        k.numa.params.noacpi = true;
    }
    true
}

/// arch/x86/mm/numa_64.c: `initmem_init` (x86_64). Without CONFIG_NUMA (init_64.c) all
/// memory is put on node 0.
pub fn initmem_init(k: &mut Kernel) -> Result<(), BootError> {
    let cfg = k.machine.kernel_config();
    if !cfg.numa || !k.era.is_64bit() {
        let _t = k.trace.enter("initmem_init", "arch/x86/mm/init_64.c");
        k.memblock
            .memblock_set_node(0, u64::MAX, RegionType::Memory, 0)
            .map_err(no_memory)?;
        let params = core::mem::take(&mut k.numa.params);
        k.numa = Numa {
            online: vec![0],
            possible: vec![0],
            nr_node_ids: 1,
            params,
            ..Numa::default()
        };
        return Ok(());
    }
    let _t = k.trace.enter("initmem_init", "arch/x86/mm/numa_64.c");
    x86_numa_init(k)
}

/// arch/x86/mm/numa.c: `x86_numa_init`: each configured method until one succeeds; the
/// dummy one cannot fail.
pub fn x86_numa_init(k: &mut Kernel) -> Result<(), BootError> {
    let _t = k.trace.enter("x86_numa_init", NUMA_C);
    if !k.numa.params.off {
        if numa_init(k, InitFunc::Acpi)? {
            return Ok(());
        }
        if numa_init(k, InitFunc::Amd)? {
            return Ok(());
        }
    }
    if numa_init(k, InitFunc::Dummy)? {
        return Ok(());
    }
    Err(BootError::NoMemory(String::from(
        "dummy_numa_init's single node could not be registered",
    )))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum InitFunc {
    Acpi,
    Amd,
    Dummy,
}

/// arch/x86/mm/numa.c: `numa_init` (6.12+: `numa_memblks_init` and `numa_register_nodes`).
/// `Ok(false)` is the kernel's negative return: the next method is tried.
fn numa_init(k: &mut Kernel, f: InitFunc) -> Result<bool, BootError> {
    let _t = k.trace.enter("numa_init", NUMA_C);
    let mut st = NumaInit::default();
    k.numa.online.clear();
    k.numa.possible.clear();
    k.numa.node_data.clear();
    k.numa.emu_nid_to_phys.clear();
    let none = if NumaRules::new(&k.era).memblks {
        NUMA_NO_NODE
    } else {
        MAX_NUMNODES
    };
    k.memblock
        .memblock_set_node(0, u64::MAX, RegionType::Memory, none)
        .map_err(no_memory)?;
    k.memblock
        .memblock_set_node(0, u64::MAX, RegionType::Reserved, none)
        .map_err(no_memory)?;
    // In case that parsing SRAT failed.
    k.memblock
        .memblock_clear_hotplug(0, u64::MAX)
        .map_err(no_memory)?;
    numa_reset_distance(k)?;

    let ret = match f {
        InitFunc::Acpi => x86_acpi_numa_init(k, &mut st)?,
        InitFunc::Amd => {
            // arch/x86/mm/amdtopology.c: the northbridge registers are not part of the
            // machine description, so no AMD topology is ever found (-ENOENT).
            let _t = k.trace.enter("amd_numa_init", "arch/x86/mm/amdtopology.c");
            false
        }
        InitFunc::Dummy => dummy_numa_init(k, &mut st),
    };
    if !ret {
        return Ok(false);
    }
    // SRAT parsing may have set bottom-up for movable_node; go back to top-down.
    k.memblock.memblock_set_bottom_up(false);

    let mut mi = core::mem::take(&mut st.meminfo);
    if numa_cleanup_meminfo(k, &mut st, &mut mi).is_err() {
        return Ok(false);
    }
    st.meminfo = mi;
    numa_emulation(k, &mut st)?;
    if !numa_register_memblks(k, &mut st)? {
        return Ok(false);
    }
    k.numa.source = Some(match f {
        InitFunc::Acpi => NumaSource::Acpi,
        _ => NumaSource::Dummy,
    });
    k.numa.meminfo = st.meminfo;
    k.numa.online.sort_unstable();
    k.numa.online.dedup();
    Ok(true)
}

/// arch/x86/mm/numa.c: `dummy_numa_init` (and its 2.6.x form in numa_64.c).
fn dummy_numa_init(k: &mut Kernel, st: &mut NumaInit) -> bool {
    let _t = k.trace.enter("dummy_numa_init", NUMA_C);
    pr_info!(
        k.printk,
        "{}\n",
        if k.numa.params.off {
            "NUMA turned off"
        } else {
            "No NUMA configuration found"
        }
    );
    let end = k.max_pfn << 12;
    if k.era.at_least(3, 0) {
        pr_info!(
            k.printk,
            "Faking a node at [mem {:#018x}-{:#018x}]\n",
            0u64,
            end.wrapping_sub(1)
        );
    } else {
        pr_info!(k.printk, "Faking a node at {:016x}-{:016x}\n", 0u64, end);
    }
    st.numa_nodes_parsed |= 1;
    numa_add_memblk(k, &mut st.meminfo, 0, 0, end).is_ok()
}

/// arch/x86/mm/numa.c: `numa_add_memblk_to`. `Err` is -EINVAL (too many blocks).
fn numa_add_memblk_to(
    k: &Kernel,
    mi: &mut NumaMeminfo,
    nid: i32,
    start: u64,
    end: u64,
) -> Result<(), ()> {
    // ignore zero length blks
    if start == end {
        return Ok(());
    }
    let pfx = warn_prefix(k);
    if start > end || !numa_valid_node(nid) {
        pr_warn!(
            k.printk,
            "{pfx}Warning: invalid memblk node {nid} [mem {start:#010x}-{:#010x}]\n",
            end.wrapping_sub(1)
        );
        return Ok(());
    }
    if mi.blk.len() >= NR_NODE_MEMBLKS {
        pr_err!(k.printk, "{pfx}too many memblk ranges\n");
        return Err(());
    }
    mi.blk.push(NumaMemblk { start, end, nid });
    Ok(())
}

/// arch/x86/mm/numa.c: `numa_add_memblk`.
fn numa_add_memblk(
    k: &Kernel,
    mi: &mut NumaMeminfo,
    nid: i32,
    start: u64,
    end: u64,
) -> Result<(), ()> {
    numa_add_memblk_to(k, mi, nid, start, end)
}

/// The "NUMA: " that numa.c's warnings carried before the prefix was dropped (present in
/// 3.14, gone by 5.4; the release in between is not confirmed, 4.7 is assumed).
fn warn_prefix(k: &Kernel) -> &'static str {
    if k.era.at_least(4, 7) {
        ""
    } else {
        "NUMA: "
    }
}

/// arch/x86/mm/srat.c / drivers/acpi/numa.c: `x86_acpi_numa_init` → `acpi_numa_init`: walk
/// the SRAT's processor and memory affinity entries and the SLIT. `Ok(false)` when there is
/// no SRAT, SRAT is disabled, or it lists no memory.
fn x86_acpi_numa_init(k: &mut Kernel, st: &mut NumaInit) -> Result<bool, BootError> {
    let _t = k.trace.enter("x86_acpi_numa_init", SRAT_C);
    if k.numa.params.noacpi {
        // srat_disabled(): acpi_numa_init() does nothing.
        return Ok(false);
    }
    let Some(srat) = k.machine.srat.clone() else {
        return Ok(false);
    };
    let _t2 = k.trace.enter("acpi_numa_init", "drivers/acpi/numa.c");
    for c in &srat.cpus {
        // acpi_numa_processor_affinity_init / acpi_numa_x2apic_affinity_init
        let nid = c.nid as i32;
        if !numa_valid_node(nid) {
            pr_err!(k.printk, "SRAT: Too many proximity domains {:x}\n", c.pxm);
            continue;
        }
        st.numa_nodes_parsed |= 1 << nid;
        if c.apic > 0xff {
            pr_info!(
                k.printk,
                "SRAT: PXM {} -> APIC {:#06x} -> Node {}\n",
                c.pxm,
                c.apic,
                c.nid
            );
        } else {
            pr_info!(
                k.printk,
                "SRAT: PXM {} -> APIC {:#04x} -> Node {}\n",
                c.pxm,
                c.apic,
                c.nid
            );
        }
    }
    let mut parsed = 0usize;
    for m in &srat.memory {
        if acpi_numa_memory_affinity_init(k, st, m)? {
            parsed += 1;
        }
    }
    if let Some(slit) = &srat.slit {
        acpi_numa_slit_init(k, st, slit, &srat)?;
    }
    Ok(parsed > 0)
}

/// drivers/acpi/numa.c (arch/x86/mm/srat.c before 4.7): `acpi_numa_memory_affinity_init`.
fn acpi_numa_memory_affinity_init(
    k: &mut Kernel,
    st: &mut NumaInit,
    m: &crate::machine::SratMemory,
) -> Result<bool, BootError> {
    let _t = k
        .trace
        .enter("acpi_numa_memory_affinity_init", "drivers/acpi/numa.c");
    let nid = m.nid as i32;
    if m.end <= m.start {
        return Ok(false);
    }
    if !numa_valid_node(nid) {
        pr_err!(k.printk, "SRAT: Too many proximity domains.\n");
        return Ok(false);
    }
    let mut mi = core::mem::take(&mut st.meminfo);
    let r = numa_add_memblk(k, &mut mi, nid, m.start, m.end);
    st.meminfo = mi;
    if r.is_err() {
        pr_err!(
            k.printk,
            "SRAT: Failed to add memblk to node {} [mem {:#010x}-{:#010x}]\n",
            nid,
            m.start,
            m.end - 1
        );
        return Ok(false);
    }
    st.numa_nodes_parsed |= 1 << nid;
    let hot = if m.hotplug { " hotplug" } else { "" };
    if k.era.at_least(4, 7) {
        let nv = if m.nonvolatile { " non-volatile" } else { "" };
        pr_info!(
            k.printk,
            "ACPI: SRAT: Node {} PXM {} [mem {:#010x}-{:#010x}]{hot}{nv}\n",
            m.nid,
            m.pxm,
            m.start,
            m.end - 1
        );
    } else {
        pr_info!(
            k.printk,
            "SRAT: Node {} PXM {} [mem {:#010x}-{:#010x}]{hot}\n",
            m.nid,
            m.pxm,
            m.start,
            m.end - 1
        );
    }
    // Mark hotplug range in memblock.
    if m.hotplug
        && k.memblock
            .memblock_mark_hotplug(m.start, m.end - m.start)
            .is_err()
    {
        pr_warn!(
            k.printk,
            "SRAT: Failed to mark hotplug range [mem {:#010x}-{:#010x}] in memblock\n",
            m.start,
            m.end - 1
        );
    }
    k.max_possible_pfn = k.max_possible_pfn.max(m.end.div_ceil(PAGE_SIZE));
    Ok(true)
}

/// drivers/acpi/numa.c: `acpi_numa_slit_init`: every pair of localities that maps to nodes.
fn acpi_numa_slit_init(
    k: &mut Kernel,
    st: &mut NumaInit,
    slit: &crate::machine::Slit,
    srat: &crate::machine::FirmwareNuma,
) -> Result<(), BootError> {
    let _t = k.trace.enter("acpi_numa_slit_init", "drivers/acpi/numa.c");
    let pxm_to_node = |pxm: u32| -> Option<u32> {
        srat.cpus
            .iter()
            .map(|c| (c.pxm, c.nid))
            .chain(srat.memory.iter().map(|m| (m.pxm, m.nid)))
            .find(|&(p, _)| p == pxm)
            .map(|(_, n)| n)
    };
    let n = slit.localities;
    for i in 0..n {
        let Some(from) = pxm_to_node(i) else { continue };
        for j in 0..n {
            let Some(to) = pxm_to_node(j) else { continue };
            let d = slit.entry.get((i * n + j) as usize).copied().unwrap_or(0);
            numa_set_distance(k, st, from as i32, to as i32, i32::from(d))?;
        }
    }
    Ok(())
}

/// arch/x86/mm/numa.c: `numa_nodemask_from_meminfo`.
fn numa_nodemask_from_meminfo(mi: &NumaMeminfo) -> u64 {
    mi.blk
        .iter()
        .filter(|b| b.start != b.end && numa_valid_node(b.nid))
        .fold(0, |m, b| m | 1 << b.nid)
}

/// arch/x86/mm/numa.c (mm/numa_memblks.c 6.12+): `numa_reset_distance`.
fn numa_reset_distance(k: &mut Kernel) -> Result<(), BootError> {
    let cnt = u64::from(k.numa.distance_cnt);
    if cnt != 0 {
        if let Some(pa) = k.numa.distance_pa {
            k.memblock
                .memblock_phys_free(pa, cnt * cnt)
                .map_err(no_memory)?;
        }
    }
    k.numa.distance_cnt = 0;
    k.numa.distance.clear();
    k.numa.distance_pa = None;
    Ok(())
}

/// arch/x86/mm/numa.c: `numa_alloc_distance`: a table for every node parsed so far, from
/// the top of mapped memory (`memblock_find_in_range` + `memblock_reserve` until 6.11,
/// `memblock_alloc` after), page aligned.
fn numa_alloc_distance(k: &mut Kernel, st: &NumaInit) -> Result<bool, BootError> {
    let _t = k.trace.enter("numa_alloc_distance", NUMA_C);
    let parsed = st.numa_nodes_parsed | numa_nodemask_from_meminfo(&st.meminfo);
    let cnt = nodes(parsed).last().map_or(0, |n| n + 1).max(1);
    let size = u64::from(cnt) * u64::from(cnt);
    let phys = if NumaRules::new(&k.era).memblks {
        k.memblock
            .memblock_alloc(size, PAGE_SIZE)
            .map_err(no_memory)?
            .map(|p| p.0)
    } else {
        let end = k.max_pfn_mapped << 12;
        let p = k.memblock.memblock_find_in_range(0, end, size, PAGE_SIZE);
        if p != 0 {
            k.memblock.memblock_reserve(p, size).map_err(no_memory)?;
        }
        (p != 0).then_some(p)
    };
    let Some(phys) = phys else {
        pr_warn!(
            k.printk,
            "{}Warning: can't allocate distance table!\n",
            warn_prefix(k)
        );
        return Ok(false);
    };
    let n = cnt as usize;
    let table: Vec<u8> = (0..n * n)
        .map(|i| {
            if i / n == i % n {
                LOCAL_DISTANCE
            } else {
                REMOTE_DISTANCE
            }
        })
        .collect();
    write_bytes(k, phys, &table)?;
    k.numa.distance = table;
    k.numa.distance_cnt = cnt;
    k.numa.distance_pa = Some(phys);
    // printk(KERN_DEBUG) in every era: arch/x86/mm/numa.c until 6.11, mm/numa_memblks.c
    // from 6.12 (only the arm64/riscv copy in drivers/base/arch_numa.c was a pr_debug).
    pr_debug!(k.printk, "NUMA: Initialized distance table, cnt={cnt}\n");
    Ok(true)
}

fn write_bytes(k: &Kernel, pa: u64, bytes: &[u8]) -> Result<(), BootError> {
    if bytes.is_empty() {
        return Ok(());
    }
    let p = k
        .phys
        .host_ptr(crate::PhysAddr(pa), bytes.len() as u64)
        .map_err(BootError::Phys)?;
    // SAFETY: host_ptr validated `bytes.len()` writable bytes of simulated RAM.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), p.as_ptr(), bytes.len()) };
    Ok(())
}

/// arch/x86/mm/numa.c: `numa_set_distance`.
fn numa_set_distance(
    k: &mut Kernel,
    st: &NumaInit,
    from: i32,
    to: i32,
    distance: i32,
) -> Result<(), BootError> {
    if k.numa.distance_pa.is_none() && !numa_alloc_distance(k, st)? {
        return Ok(());
    }
    let cnt = k.numa.distance_cnt as i32;
    let pfx = warn_prefix(k);
    if from >= cnt || to >= cnt || from < 0 || to < 0 {
        pr_warn!(
            k.printk,
            "{pfx}Warning: node ids are out of bound, from={from} to={to} distance={distance}\n"
        );
        return Ok(());
    }
    if !(0..=255).contains(&distance) || (from == to && distance != i32::from(LOCAL_DISTANCE)) {
        pr_warn!(
            k.printk,
            "{pfx}Warning: invalid distance parameter, from={from} to={to} distance={distance}\n"
        );
        return Ok(());
    }
    let idx = (from * cnt + to) as usize;
    k.numa.distance[idx] = distance as u8;
    if let Some(pa) = k.numa.distance_pa {
        write_bytes(k, pa + idx as u64, &[distance as u8])?;
    }
    Ok(())
}

/// arch/x86/mm/numa.c (mm/numa_memblks.c 6.12+): `numa_cleanup_meminfo`: trim the blocks to
/// RAM, drop the empty ones, and merge a node's blocks when no other node's memory lies
/// between them ("NUMA: Node N [mem …] + [mem …] -> [mem …]"). `Err` is -EINVAL (two nodes
/// overlap).
fn numa_cleanup_meminfo(k: &mut Kernel, st: &mut NumaInit, mi: &mut NumaMeminfo) -> Result<(), ()> {
    let _t = k.trace.enter("numa_cleanup_meminfo", NUMA_C);
    let rules = NumaRules::new(&k.era);
    let (low, high) = if rules.memblks {
        (
            k.memblock.memblock_start_of_DRAM(),
            k.memblock.memblock_end_of_DRAM(),
        )
    } else {
        (0, k.max_pfn << 12)
    };
    let overlaps_memory = |k: &Kernel, b: &NumaMemblk| {
        k.memblock
            .memblock_overlaps_region(RegionType::Memory, b.start, b.end - b.start)
    };

    // first, trim all entries
    let mut i = 0;
    while i < mi.blk.len() {
        let b = mi.blk[i];
        if rules.reserved_meminfo && !overlaps_memory(k, &b) {
            // move / save reserved memory ranges
            st.reserved_meminfo.blk.push(b);
            mi.blk.remove(i);
            continue;
        }
        let mut b = b;
        b.start = b.start.max(low);
        if rules.memblks {
            // preserve info for non-RAM areas above 'max_pfn'
            if b.end > high {
                let mut r = core::mem::take(&mut st.reserved_meminfo);
                let _ = numa_add_memblk_to(k, &mut r, b.nid, high, b.end);
                st.reserved_meminfo = r;
                b.end = high;
            }
        } else {
            b.end = b.end.min(high);
        }
        mi.blk[i] = b;
        let gone = b.start >= b.end || (rules.drop_blk_without_ram && !overlaps_memory(k, &b));
        if gone {
            mi.blk.remove(i);
            continue;
        }
        i += 1;
    }

    // merge neighboring / overlapping entries
    let pfx = warn_prefix(k);
    let mut i = 0;
    while i < mi.blk.len() {
        let mut j = i + 1;
        while j < mi.blk.len() {
            let (bi, bj) = (mi.blk[i], mi.blk[j]);
            if bi.end > bj.start && bi.start < bj.end {
                if bi.nid != bj.nid {
                    pr_err!(
                        k.printk,
                        "{pfx}node {} [mem {:#010x}-{:#010x}] overlaps with node {} [mem {:#010x}-{:#010x}]\n",
                        bi.nid,
                        bi.start,
                        bi.end - 1,
                        bj.nid,
                        bj.start,
                        bj.end - 1
                    );
                    return Err(());
                }
                pr_warn!(
                    k.printk,
                    "{pfx}Warning: node {} [mem {:#010x}-{:#010x}] overlaps with itself [mem {:#010x}-{:#010x}]\n",
                    bi.nid,
                    bi.start,
                    bi.end - 1,
                    bj.start,
                    bj.end - 1
                );
            }
            // Join together blocks on the same node, holes between which don't overlap
            // with memory on other nodes.
            if bi.nid != bj.nid {
                j += 1;
                continue;
            }
            let start = bi.start.min(bj.start);
            let end = bi.end.max(bj.end);
            let blocked = mi
                .blk
                .iter()
                .any(|bk| bk.nid != bi.nid && start < bk.end && end > bk.start);
            if blocked {
                j += 1;
                continue;
            }
            pr_info!(
                k.printk,
                "NUMA: Node {} [mem {:#010x}-{:#010x}] + [mem {:#010x}-{:#010x}] -> [mem {:#010x}-{:#010x}]\n",
                bi.nid,
                bi.start,
                bi.end - 1,
                bj.start,
                bj.end - 1,
                start,
                end - 1
            );
            mi.blk[i].start = start;
            mi.blk[i].end = end;
            mi.blk.remove(j);
        }
        i += 1;
    }
    Ok(())
}

/// Bytes of `[start, end)` not covered by memblock memory (numa_emulation.c `mem_hole_size`).
fn mem_hole_size(k: &Kernel, start: u64, end: u64) -> u64 {
    let (s, e) = (start.div_ceil(PAGE_SIZE), end / PAGE_SIZE);
    if s >= e {
        return 0;
    }
    let present: u64 = k
        .memblock
        .for_each_mem_pfn_range(MAX_NUMNODES)
        .into_iter()
        .map(|(a, b, _)| b.min(e).saturating_sub(a.max(s)))
        .sum();
    (e - s - present) << 12
}

/// arch/x86/mm/numa_emulation.c (mm/ 6.12+): `numa_emulation`: `numa=fake=N` splits RAM
/// into N nodes interleaved over the physical ones, `numa=fake=<size>[MG]` into nodes of at
/// least that size. Not done (silently, as in the kernel) when the option is absent or the
/// split fails.
fn numa_emulation(k: &mut Kernel, st: &mut NumaInit) -> Result<(), BootError> {
    let Some(cmd) = k.numa.params.fake.clone() else {
        return Ok(());
    };
    let _t = k
        .trace
        .enter("numa_emulation", "arch/x86/mm/numa_emulation.c");
    let max_addr = k.max_pfn << 12;
    let mut pi = st.meminfo.clone();
    let mut ei = NumaMeminfo::default();
    let mut emu_nid_to_phys = vec![NUMA_NO_NODE; MAX_NUMNODES as usize];
    let physnode_mask = st.numa_nodes_parsed;
    let ret = if cmd.contains('U') {
        pr_info!(
            k.printk,
            "numa=fake={cmd}: the uniform (U) form is not modeled; no emulation\n"
        );
        Err(())
    } else if cmd.contains('M') || cmd.contains('G') {
        let (size, _) = memparse(&cmd);
        split_nodes_size_interleave(
            k,
            &mut ei,
            &mut pi,
            physnode_mask,
            &mut emu_nid_to_phys,
            max_addr,
            size,
        )
    } else {
        let (n, _) = simple_strtoull(&cmd, 0);
        split_nodes_interleave(
            k,
            &mut ei,
            &mut pi,
            physnode_mask,
            &mut emu_nid_to_phys,
            max_addr,
            n.min(i32::MAX as u64) as i32,
        )
    };
    if ret.is_err() {
        return Ok(());
    }
    if numa_cleanup_meminfo(k, st, &mut ei).is_err() {
        pr_warn!(
            k.printk,
            "{}Warning: constructed meminfo invalid, disabling emulation\n",
            warn_prefix(k)
        );
        return Ok(());
    }
    // Copy the physical distance table.
    let dist_cnt = k.numa.distance_cnt;
    let phys_dist: Vec<u8> = k.numa.distance.clone();
    let phys_size = u64::from(dist_cnt) * u64::from(dist_cnt);
    let mut phys_dist_pa = None;
    if dist_cnt != 0 {
        let p = if NumaRules::new(&k.era).memblks {
            k.memblock
                .memblock_alloc(phys_size, PAGE_SIZE)
                .map_err(no_memory)?
                .map(|p| p.0)
        } else {
            let p =
                k.memblock
                    .memblock_find_in_range(0, k.max_pfn_mapped << 12, phys_size, PAGE_SIZE);
            if p != 0 {
                k.memblock
                    .memblock_reserve(p, phys_size)
                    .map_err(no_memory)?;
            }
            (p != 0).then_some(p)
        };
        let Some(p) = p else {
            pr_warn!(
                k.printk,
                "{}Warning: can't allocate copy of distance table, disabling emulation\n",
                warn_prefix(k)
            );
            return Ok(());
        };
        write_bytes(k, p, &phys_dist)?;
        phys_dist_pa = Some(p);
    }
    // setup_emu2phys_nid
    let mut max_emu_nid = 0;
    let mut dfl_phys_nid = NUMA_NO_NODE;
    for (i, &p) in emu_nid_to_phys.iter().enumerate() {
        if p != NUMA_NO_NODE {
            max_emu_nid = i;
            if dfl_phys_nid == NUMA_NO_NODE {
                dfl_phys_nid = p;
            }
        }
    }
    st.numa_nodes_parsed = numa_nodemask_from_meminfo(&ei);
    st.meminfo = ei;
    for p in emu_nid_to_phys.iter_mut().take(max_emu_nid + 1) {
        if *p == NUMA_NO_NODE {
            *p = dfl_phys_nid;
        }
    }
    // Transform the distance table.
    numa_reset_distance(k)?;
    let dist_of = |i: i32, j: i32| -> i32 {
        if i >= dist_cnt as i32 || j >= dist_cnt as i32 || i < 0 || j < 0 {
            i32::from(if i == j {
                LOCAL_DISTANCE
            } else {
                REMOTE_DISTANCE
            })
        } else {
            i32::from(phys_dist[(i * dist_cnt as i32 + j) as usize])
        }
    };
    for i in 0..=max_emu_nid {
        for j in 0..=max_emu_nid {
            let (pi_, pj) = (emu_nid_to_phys[i], emu_nid_to_phys[j]);
            numa_set_distance(k, st, i as i32, j as i32, dist_of(pi_, pj))?;
        }
    }
    if let Some(p) = phys_dist_pa {
        k.memblock
            .memblock_phys_free(p, phys_size)
            .map_err(no_memory)?;
    }
    k.numa.emu_nid_to_phys = emu_nid_to_phys[..=max_emu_nid].to_vec();
    Ok(())
}

/// numa_emulation.c: `emu_setup_memblk`.
fn emu_setup_memblk(
    k: &Kernel,
    ei: &mut NumaMeminfo,
    pi: &mut NumaMeminfo,
    emu_nid_to_phys: &mut [i32],
    nid: i32,
    phys_blk: usize,
    size: u64,
) -> Result<(), ()> {
    if ei.blk.len() >= NR_NODE_MEMBLKS {
        pr_err!(
            k.printk,
            "NUMA: Too many emulated memblks, failing emulation\n"
        );
        return Err(());
    }
    let pb = pi.blk[phys_blk];
    let eb = NumaMemblk {
        start: pb.start,
        end: pb.start + size,
        nid,
    };
    ei.blk.push(eb);
    if emu_nid_to_phys[nid as usize] == NUMA_NO_NODE {
        emu_nid_to_phys[nid as usize] = pb.nid;
    }
    pi.blk[phys_blk].start += size;
    if pi.blk[phys_blk].start >= pi.blk[phys_blk].end {
        pi.blk.remove(phys_blk);
    }
    pr_info!(
        k.printk,
        "Faking node {} at [mem {:#018x}-{:#018x}] ({}MB)\n",
        nid,
        eb.start,
        eb.end - 1,
        (eb.end - eb.start) >> 20
    );
    Ok(())
}

/// numa_emulation.c: `split_nodes_interleave` (`numa=fake=N`).
fn split_nodes_interleave(
    k: &Kernel,
    ei: &mut NumaMeminfo,
    pi: &mut NumaMeminfo,
    physnode_mask: u64,
    emu: &mut [i32],
    max_addr: u64,
    nr_nodes: i32,
) -> Result<(), ()> {
    let _t = k
        .trace
        .enter("split_nodes_interleave", "arch/x86/mm/numa_emulation.c");
    let mut nr_nodes = nr_nodes;
    if nr_nodes <= 0 {
        return Err(());
    }
    if nr_nodes > MAX_NUMNODES {
        pr_info!(
            k.printk,
            "numa=fake={nr_nodes} too large, reducing to {MAX_NUMNODES}\n"
        );
        nr_nodes = MAX_NUMNODES;
    }
    let addr = 0u64;
    let size = max_addr - addr - mem_hole_size(k, addr, max_addr);
    let mut size = ((size >> 12) / nr_nodes as u64) << 12;
    let big = ((size & (FAKE_NODE_MIN_SIZE - 1)) * nr_nodes as u64) / FAKE_NODE_MIN_SIZE;
    size &= !(FAKE_NODE_MIN_SIZE - 1);
    if size == 0 {
        pr_err!(
            k.printk,
            "Not enough memory for each node.  NUMA emulation disabled.\n"
        );
        return Err(());
    }
    let mut mask = physnode_mask;
    let mut nid: i32 = 0;
    while mask != 0 {
        for i in nodes(mask) {
            let Some(phys_blk) = pi.blk.iter().position(|b| b.nid == i as i32) else {
                mask &= !(1 << i);
                continue;
            };
            let start = pi.blk[phys_blk].start;
            let limit = pi.blk[phys_blk].end;
            let mut end = start + size;
            if (nid as u64) < big {
                end += FAKE_NODE_MIN_SIZE;
            }
            // Continue to add memory to this fake node if its non-reserved memory is less
            // than the per-node size.
            while end - start - mem_hole_size(k, start, end) < size {
                end += FAKE_NODE_MIN_SIZE;
                if end > limit {
                    end = limit;
                    break;
                }
            }
            // If there won't be at least FAKE_NODE_MIN_SIZE of non-reserved memory in
            // ZONE_DMA32 for the next node, this one must extend to the boundary.
            if end < DMA32_END
                && DMA32_END - end - mem_hole_size(k, end, DMA32_END) < FAKE_NODE_MIN_SIZE
            {
                end = DMA32_END;
            }
            // If there won't be enough non-reserved memory for the next node, this one
            // must extend to the end of the physical node.
            if limit.saturating_sub(end) - mem_hole_size(k, end, limit) < size {
                end = limit;
            }
            let this = nid % nr_nodes;
            nid += 1;
            emu_setup_memblk(k, ei, pi, emu, this, phys_blk, end.min(limit) - start)?;
        }
    }
    Ok(())
}

/// numa_emulation.c: `find_end_of_node`.
fn find_end_of_node(k: &Kernel, start: u64, max_addr: u64, size: u64) -> u64 {
    let mut end = start + size;
    while end - start - mem_hole_size(k, start, end) < size {
        end += FAKE_NODE_MIN_SIZE;
        if end > max_addr {
            end = max_addr;
            break;
        }
    }
    end
}

/// numa_emulation.c: `split_nodes_size_interleave` (`numa=fake=<size>[MG]`).
fn split_nodes_size_interleave(
    k: &Kernel,
    ei: &mut NumaMeminfo,
    pi: &mut NumaMeminfo,
    physnode_mask: u64,
    emu: &mut [i32],
    max_addr: u64,
    size: u64,
) -> Result<(), ()> {
    let _t = k.trace.enter(
        "split_nodes_size_interleave",
        "arch/x86/mm/numa_emulation.c",
    );
    if size == 0 {
        return Err(());
    }
    let addr = 0u64;
    let hole = mem_hole_size(k, addr, max_addr);
    let min_size = (((max_addr - addr - hole) >> 12) / MAX_NUMNODES as u64) << 12;
    let min_size = min_size
        .max(FAKE_NODE_MIN_SIZE)
        .next_multiple_of(FAKE_NODE_MIN_SIZE);
    let mut size = size;
    if size < min_size {
        pr_err!(
            k.printk,
            "Fake node size {}MB too small, increasing to {}MB\n",
            size >> 20,
            min_size >> 20
        );
        size = min_size;
    }
    size &= !(FAKE_NODE_MIN_SIZE - 1);
    let mut mask = physnode_mask;
    let mut nid: i32 = 0;
    while mask != 0 {
        for i in nodes(mask) {
            let Some(phys_blk) = pi.blk.iter().position(|b| b.nid == i as i32) else {
                mask &= !(1 << i);
                continue;
            };
            let start = pi.blk[phys_blk].start;
            let limit = pi.blk[phys_blk].end;
            let mut end = find_end_of_node(k, start, limit, size);
            if end < DMA32_END
                && DMA32_END - end - mem_hole_size(k, end, DMA32_END) < FAKE_NODE_MIN_SIZE
            {
                end = DMA32_END;
            }
            if limit.saturating_sub(end) - mem_hole_size(k, end, limit) < size {
                end = limit;
            }
            let this = nid % MAX_NUMNODES;
            nid += 1;
            emu_setup_memblk(k, ei, pi, emu, this, phys_blk, end.min(limit) - start)?;
        }
    }
    Ok(())
}

/// arch/x86/mm/numa.c: `numa_clear_kernel_node_hotplug`: nodes holding memblock-reserved
/// memory (the kernel itself) must not be hot-removable.
fn numa_clear_kernel_node_hotplug(k: &mut Kernel, mi: &NumaMeminfo) -> Result<(), BootError> {
    let _t = k.trace.enter("numa_clear_kernel_node_hotplug", NUMA_C);
    for b in &mi.blk {
        k.memblock
            .memblock_set_node(b.start, b.end - b.start, RegionType::Reserved, b.nid)
            .map_err(no_memory)?;
    }
    let reserved_nodes = k
        .memblock
        .reserved
        .regions
        .iter()
        .filter(|r| numa_valid_node(r.nid))
        .fold(0u64, |m, r| m | 1 << r.nid);
    for b in &mi.blk {
        if reserved_nodes & (1 << b.nid) != 0 {
            k.memblock
                .memblock_clear_hotplug(b.start, b.end - b.start)
                .map_err(no_memory)?;
        }
    }
    Ok(())
}

/// Pages of memblock memory in `[s, e)` on node `nid` (every node for `None`), as
/// `e - s - __absent_pages_in_range(nid, s, e)` counts them.
fn present_pages(k: &Kernel, nid: Option<i32>, s: u64, e: u64) -> u64 {
    k.memblock
        .for_each_mem_pfn_range(MAX_NUMNODES)
        .into_iter()
        .filter(|&(_, _, n)| nid.map_or(true, |x| x == n))
        .map(|(a, b, _)| b.min(e).saturating_sub(a.max(s)))
        .sum()
}

/// arch/x86/mm/numa.c: `numa_meminfo_cover_memory` (before 6.8): the nodes must cover all
/// of RAM but 1 MiB.
fn numa_meminfo_cover_memory(k: &Kernel, mi: &NumaMeminfo) -> bool {
    let mut numaram = 0u64;
    for b in &mi.blk {
        let (s, e) = (b.start >> 12, b.end >> 12);
        numaram += present_pages(k, Some(b.nid), s, e);
    }
    let e820ram = present_pages(k, None, 0, k.max_pfn);
    if e820ram.saturating_sub(numaram) >= 1 << (20 - 12) {
        pr_err!(
            k.printk,
            "NUMA: nodes only cover {}MB of your {}MB e820 RAM. Not used.\n",
            (numaram << 12) >> 20,
            (e820ram << 12) >> 20
        );
        return false;
    }
    true
}

/// mm/memblock.c: `memblock_validate_numa_coverage` (6.8+): RAM left without a node must
/// stay under `threshold_bytes`.
fn memblock_validate_numa_coverage(k: &Kernel, threshold_bytes: u64) -> bool {
    let _t = k
        .trace
        .enter("memblock_validate_numa_coverage", "mm/memblock.c");
    let nr_pages: u64 = k
        .memblock
        .for_each_mem_pfn_range(MAX_NUMNODES)
        .into_iter()
        .filter(|&(_, _, n)| !numa_valid_node(n))
        .map(|(a, b, _)| b - a)
        .sum();
    if (nr_pages << 12) >= threshold_bytes {
        pr_err!(
            k.printk,
            "NUMA: no nodes coverage for {}MB of {}MB RAM\n",
            (nr_pages << 12) >> 20,
            k.memblock.memblock_phys_mem_size() >> 20
        );
        return false;
    }
    true
}

/// arch/x86/mm/numa.c: `numa_register_memblks` (6.12+: `numa_register_meminfo` and
/// `numa_register_nodes`): node ids into memblock, then NODE_DATA for each node with memory.
fn numa_register_memblks(k: &mut Kernel, st: &mut NumaInit) -> Result<bool, BootError> {
    let memblks = NumaRules::new(&k.era).memblks;
    let name = if memblks {
        "numa_register_meminfo"
    } else {
        "numa_register_memblks"
    };
    let _t = k.trace.enter(name, NUMA_C);
    let mi = st.meminfo.clone();
    // Account for nodes with cpus and no memory.
    let possible = st.numa_nodes_parsed | numa_nodemask_from_meminfo(&mi);
    if possible == 0 {
        pr_warn!(k.printk, "WARNING: no NUMA node is possible\n");
        return Ok(false);
    }
    for b in &mi.blk {
        k.memblock
            .memblock_set_node(b.start, b.end - b.start, RegionType::Memory, b.nid)
            .map_err(no_memory)?;
    }
    if k.era.at_least(3, 13) {
        numa_clear_kernel_node_hotplug(k, &mi)?;
    }
    let covered = if k.era.at_least(6, 8) {
        memblock_validate_numa_coverage(k, 1 << 20)
    } else {
        numa_meminfo_cover_memory(k, &mi)
    };
    if !covered {
        return Ok(false);
    }
    k.numa.possible = nodes(possible).collect();
    k.numa.nr_node_ids = nodes(possible).last().map_or(1, |n| n + 1);

    // Finally register nodes.
    let _t2 = memblks.then(|| k.trace.enter("numa_register_nodes", NUMA_C));
    for nid in nodes(possible) {
        let (start, end) = if memblks {
            // get_pfn_range_for_nid(), from memblock
            let r = k.memblock.for_each_mem_pfn_range(nid as i32);
            let s = r.iter().map(|x| x.0).min().unwrap_or(0);
            let e = r.iter().map(|x| x.1).max().unwrap_or(0);
            (s << 12, e << 12)
        } else {
            mi.blk
                .iter()
                .filter(|b| b.nid == nid as i32)
                .fold((k.max_pfn << 12, 0), |(s, e), b| {
                    (s.min(b.start), e.max(b.end))
                })
        };
        if start >= end {
            continue;
        }
        // Don't confuse VM with a node that doesn't have the minimum amount of memory.
        if !k.era.at_least(6, 9) && end != 0 && end - start < NODE_MIN_SIZE {
            continue;
        }
        if k.era.at_least(3, 17) {
            alloc_node_data(k, nid)?;
        } else {
            setup_node_data(k, nid, start, end)?;
        }
    }
    // Dump memblock with node info and return.
    k.memblock.memblock_dump_all();
    Ok(true)
}

/// `sizeof(pg_data_t)` rounded as `alloc_node_data` rounds it: to a page until 6.11, to
/// `SMP_CACHE_BYTES` from 6.12 (mm/numa.c).
pub fn node_data_size(era: &crate::era::Era, pglist_data_size: u64) -> u64 {
    let align = if NumaRules::new(era).memblks {
        SMP_CACHE_BYTES
    } else {
        PAGE_SIZE
    };
    pglist_data_size.next_multiple_of(align)
}

/// mm/memblock.c: `early_pfn_to_nid` (node 0 for a page in no region).
fn early_pfn_to_nid(k: &Kernel, pa: u64) -> u32 {
    k.memblock
        .memory
        .regions
        .iter()
        .find(|r| r.base <= pa && pa < r.end())
        .map(|r| r.nid)
        .filter(|&n| numa_valid_node(n))
        .map_or(0, |n| n as u32)
}

/// Where the kernel's direct-map page tables go: `init_mem_mapping` takes its page-table
/// pages top-down from mapped RAM. When inputs the log does not give (GB pages, memory
/// KASLR, the brk buffer size) would change those pages, a NODE_DATA placed at the top of
/// mapped RAM may sit a few pages off the kernel's (docs/divergences.md).
fn note_page_table_caveat(k: &mut Kernel, line: String, nid: u32) {
    let Some(why) = k.direct_map.uncertain.clone() else {
        return;
    };
    let top = k
        .memblock
        .memory
        .regions
        .iter()
        .map(|r| r.end())
        .filter(|&e| e <= k.max_pfn_mapped << 12)
        .max()
        .unwrap_or(0);
    let holds_top = k
        .memblock
        .memory
        .regions
        .iter()
        .any(|r| r.nid == nid as i32 && r.end() == top);
    if holds_top {
        k.numa.caveats.push((
            line,
            format!("this node holds the top of mapped RAM, where {why}"),
        ));
    }
}

/// mm/numa.c (arch/x86/mm/numa.c before 6.12, 3.17+): `alloc_node_data`.
fn alloc_node_data(k: &mut Kernel, nid: u32) -> Result<(), BootError> {
    let memblks = NumaRules::new(&k.era).memblks;
    let _t = k.trace.enter(
        "alloc_node_data",
        if memblks { "mm/numa.c" } else { NUMA_C },
    );
    let sizeof = k.machine.kernel_config().pglist_data_size;
    let nd_size = node_data_size(&k.era, sizeof);
    // Allocate node data. Try node-local memory and then any node.
    let nd_pa = k
        .memblock
        .memblock_phys_alloc_try_nid(nd_size, SMP_CACHE_BYTES, nid as i32)
        .map_err(no_memory)?;
    let Some(nd_pa) = nd_pa.map(|p| p.0) else {
        if memblks {
            return Err(BootError::NoMemory(format!(
                "Cannot allocate {nd_size} bytes for node {nid} data"
            )));
        }
        pr_err!(
            k.printk,
            "Cannot find {nd_size} bytes in any node (initial node: {nid})\n"
        );
        return Ok(());
    };
    // report and initialize
    let line = format!(
        "NODE_DATA({nid}) allocated [mem {nd_pa:#010x}-{:#010x}]",
        nd_pa + nd_size - 1
    );
    pr_info!(k.printk, "{line}\n");
    note_page_table_caveat(k, line, nid);
    let tnid = early_pfn_to_nid(k, nd_pa);
    if tnid != nid {
        pr_info!(k.printk, "    NODE_DATA({nid}) on node {tnid}\n");
    }
    k.phys
        .memset(crate::PhysAddr(nd_pa), 0, sizeof.min(nd_size))
        .map_err(BootError::Phys)?;
    k.numa.node_data.push(NodeData {
        nid,
        pa: nd_pa,
        size: nd_size,
        on_node: tnid,
    });
    k.numa.online.push(nid);
    Ok(())
}

/// arch/x86/mm/numa.c (before 3.17): `setup_node_data`, which also printed the node's span
/// ("Initmem setup node"); 2.6.x's numa_64.c `setup_node_bootmem` printed "Bootmem setup
/// node" and placed NODE_DATA first-fit from the node's start (`find_e820_area`).
fn setup_node_data(k: &mut Kernel, nid: u32, start: u64, end: u64) -> Result<(), BootError> {
    let _t = k.trace.enter("setup_node_data", NUMA_C);
    let sizeof = k.machine.kernel_config().pglist_data_size;
    let nd_size = sizeof.next_multiple_of(PAGE_SIZE);
    let start = start.next_multiple_of(ZONE_ALIGN);
    let old = !k.era.at_least(3, 0);
    if old {
        pr_info!(
            k.printk,
            "Bootmem setup node {nid} {start:016x}-{end:016x}\n"
        );
    } else {
        pr_info!(
            k.printk,
            "Initmem setup node {nid} [mem {start:#010x}-{:#010x}]\n",
            end - 1
        );
    }
    let nd_pa = if old {
        // 2.6.x numa_64.c: find_e820_area, first fit from the node's start up.
        let at =
            crate::arch::x86::early_res::find_e820_area(k, start, end, nd_size, SMP_CACHE_BYTES);
        if at != 0 {
            k.memblock
                .memblock_reserve(at, nd_size)
                .map_err(no_memory)?;
        }
        (at != 0).then_some(crate::PhysAddr(at))
    } else {
        k.memblock
            .memblock_phys_alloc_try_nid(nd_size, SMP_CACHE_BYTES, nid as i32)
            .map_err(no_memory)?
    };
    let Some(nd_pa) = nd_pa.map(|p| p.0) else {
        pr_err!(k.printk, "Cannot find {nd_size} bytes in node {nid}\n");
        return Ok(());
    };
    let line = if old {
        format!("  NODE_DATA [{nd_pa:016x} - {:016x}]", nd_pa + nd_size - 1)
    } else {
        format!(
            "  NODE_DATA [mem {nd_pa:#010x}-{:#010x}]",
            nd_pa + nd_size - 1
        )
    };
    pr_info!(k.printk, "{line}\n");
    if !old {
        note_page_table_caveat(k, line, nid);
    }
    let tnid = early_pfn_to_nid(k, nd_pa);
    if tnid != nid && !old {
        pr_info!(k.printk, "    NODE_DATA({nid}) on node {tnid}\n");
    }
    k.phys
        .memset(crate::PhysAddr(nd_pa), 0, sizeof.min(nd_size))
        .map_err(BootError::Phys)?;
    if old && k.era.early_allocator() == crate::era::EarlyAllocator::Bootmem {
        setup_node_bootmem_bitmap(k, nid, start, end, nd_pa, nd_size, tnid)?;
    }
    k.numa.node_data.push(NodeData {
        nid,
        pa: nd_pa,
        size: nd_size,
        on_node: tnid,
    });
    k.numa.online.push(nid);
    Ok(())
}

/// arch/x86/mm/numa_64.c (2.6.x): the bitmap half of `setup_node_bootmem`, after NODE_DATA:
/// the bitmap placed first-fit after NODE_DATA (`early_node_mem`), `init_bootmem_node`
/// (every page reserved), `free_bootmem_with_active_regions` (the node's RAM free), then
/// `early_res_to_bootmem` (each early reservation reserved again, clipped to the node) and
/// NODE_DATA and the bitmap itself reserved with `reserve_bootmem_node`. The bitmap is
/// reserved in bootmm's memblock too, which stands in for the e820 searches.
///
/// # Errors
/// [`BootError::NoMemory`] when the bitmap finds no room (the kernel gives the node up and
/// its boot fails later) or the bitmap allocator reports the kernel's BUG.
fn setup_node_bootmem_bitmap(
    k: &mut Kernel,
    nid: u32,
    start: u64,
    end: u64,
    nd_pa: u64,
    nd_size: u64,
    tnid: u32,
) -> Result<(), BootError> {
    use crate::include::Pfn;
    let (start_pfn, last_pfn) = (start >> 12, end >> 12);
    let bootmap_pages = crate::mm::bootmem::bootmem_bootmap_pages(last_pfn - start_pfn);
    let from = if tnid == nid {
        (nd_pa + nd_size).next_multiple_of(PAGE_SIZE)
    } else {
        start.next_multiple_of(PAGE_SIZE)
    };
    let at =
        crate::arch::x86::early_res::find_e820_area(k, from, end, bootmap_pages << 12, PAGE_SIZE);
    if at == 0 {
        pr_err!(
            k.printk,
            "Cannot find {} bytes in node {nid}\n",
            bootmap_pages << 12
        );
        return Err(BootError::NoMemory(format!(
            "setup_node_bootmem: no room for node {nid}'s bootmem bitmap"
        )));
    }
    k.memblock
        .memblock_reserve(at, bootmap_pages << 12)
        .map_err(no_memory)?;
    let bug = |e: crate::mm::bootmem::BootmemError| BootError::NoMemory(e.to_string());
    let mut bm = k
        .bootmem
        .take()
        .unwrap_or_else(|| crate::mm::bootmem::Bootmem::new(&k.era));
    let _t = k.trace.enter("init_bootmem_node", "mm/bootmem.c");
    let size = bm
        .init_bootmem_node(
            &k.phys,
            nid as usize,
            Pfn(at >> 12),
            Pfn(start_pfn),
            Pfn(last_pfn),
        )
        .map_err(bug)?;
    drop(_t);
    pr_info!(
        k.printk,
        "  bootmap [{at:016x} -  {:016x}] pages {bootmap_pages:x}\n",
        at + size - 1
    );
    // free_bootmem_with_active_regions(nid, end): the node's active ranges (its memblock
    // memory, which e820_register_active_regions mirrors).
    {
        let _t = k
            .trace
            .enter("free_bootmem_with_active_regions", "mm/page_alloc.c");
        for (s, e, _) in k.memblock.for_each_mem_pfn_range(nid as i32) {
            let (s, e) = (s.max(start_pfn), e.min(last_pfn));
            if s < e {
                bm.node_mut(nid as usize)
                    .and_then(|b| b.free_bootmem_node(&k.phys, s << 12, (e - s) << 12))
                    .map_err(bug)?;
            }
        }
    }
    k.bootmem = Some(bm);
    crate::arch::x86::early_res::early_res_to_bootmem(k, start, end)?;
    let phys = &k.phys;
    let Some(bm) = k.bootmem.as_mut() else {
        return Ok(());
    };
    let node = bm.node_mut(nid as usize).map_err(bug)?;
    if tnid != nid {
        pr_info!(k.printk, "    NODE_DATA({nid}) on node {tnid}\n");
    } else {
        node.reserve_bootmem_node(phys, nd_pa, nd_size, crate::mm::bootmem::BOOTMEM_DEFAULT)
            .map_err(bug)?;
    }
    node.reserve_bootmem_node(
        phys,
        at,
        bootmap_pages << 12,
        crate::mm::bootmem::BOOTMEM_DEFAULT,
    )
    .map_err(bug)?;
    Ok(())
}

/// arch/x86/mm/numa.c: `numa_init_array` and the CPU half of `init_cpu_to_node`: every
/// possible CPU is first dealt round-robin over the online nodes, then a CPU the SRAT
/// places (its APIC's proximity domain; under `numa=fake` the first emulated node of that
/// physical node) goes to that node. Logical CPU `i` is taken to have the `i`-th lowest APIC
/// id of the SRAT (QEMU lists them so) unless the machine says which node the CPU is on
/// ([`Machine::cpu_nodes`](crate::machine::Machine::cpu_nodes)).
pub fn numa_cpu_map(k: &mut Kernel) {
    let cpus = k.machine.cpus as usize;
    let online = k.numa.online.clone();
    let mut map: Vec<i32> = (0..cpus)
        .map(|i| match online.len() {
            0 => NUMA_NO_NODE,
            n => online[i % n] as i32,
        })
        .collect();
    if k.numa.source == Some(NumaSource::Acpi) {
        if let Some(srat) = &k.machine.srat {
            let mut apics: Vec<(u32, u32)> = srat.cpus.iter().map(|c| (c.apic, c.nid)).collect();
            apics.sort_unstable();
            apics.dedup_by_key(|a| a.0);
            for (cpu, &(_, nid)) in apics.iter().enumerate().take(cpus) {
                let nid = nid as i32;
                let node = if k.numa.emu_nid_to_phys.is_empty() {
                    Some(nid)
                } else {
                    k.numa
                        .emu_nid_to_phys
                        .iter()
                        .position(|&p| p == nid)
                        .map(|j| j as i32)
                };
                if let Some(n) = node {
                    map[cpu] = n;
                }
            }
        }
    }
    // The nodes the machine's CPUs were seen on (the MADT order a log reveals).
    for &(cpu, node) in &k.machine.cpu_nodes {
        if let Some(slot) = map.get_mut(cpu as usize) {
            if k.numa.possible.contains(&node) || k.numa.online.contains(&node) {
                *slot = node as i32;
            }
        }
    }
    k.numa.cpu_to_node = map;
}

/// arch/x86/mm/numa.c: `init_cpu_to_node`, for nodes that have CPUs but no memory. Until
/// 5.16 `init_memory_less_node` gave such a node its NODE_DATA here (after paging_init);
/// from 5.17 the node is only put online and the core's `free_area_init` handles it.
pub fn init_cpu_to_node(k: &mut Kernel) -> Result<(), BootError> {
    numa_cpu_map(k);
    let cfg = k.machine.kernel_config();
    if !cfg.numa || !k.era.is_64bit() || k.numa.source != Some(NumaSource::Acpi) {
        return Ok(());
    }
    if !k.numa.emu_nid_to_phys.is_empty() {
        // numa=fake: the CPUs were remapped to emulated nodes with memory.
        return Ok(());
    }
    let _t = k.trace.enter("init_cpu_to_node", NUMA_C);
    let cpu_nodes: Vec<u32> = k
        .machine
        .srat
        .as_ref()
        .map(|s| s.cpus.iter().map(|c| c.nid).collect())
        .unwrap_or_default();
    for nid in cpu_nodes {
        if k.numa.online.contains(&nid) {
            continue;
        }
        if k.era.at_least(5, 17) {
            k.numa.online.push(nid);
        } else if k.era.at_least(4, 9) {
            let _t = k.trace.enter("init_memory_less_node", NUMA_C);
            alloc_node_data(k, nid)?;
            if !k.numa.online.contains(&nid) {
                k.numa.online.push(nid);
            }
        }
        k.numa.online.sort_unstable();
    }
    Ok(())
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::era::{Arch, Era, KernelVersion};
    use crate::init::main::start_kernel;
    use crate::machine::{FirmwareNuma, Machine, SratMemory};

    fn boot(mut m: Machine, version: (u32, u32), pgdat: u64) -> Kernel {
        m.era = Era::new(KernelVersion::new(version.0, version.1, 0), Arch::X86_64);
        m.config.pglist_data_size = Some(pgdat);
        let mut k = Kernel::new(m).unwrap();
        match start_kernel(&mut k) {
            // 2.6 i386 stops at setup_per_cpu_areas (no bitmap yet): these tests look at
            // what comes before.
            Ok(()) | Err(crate::init::main::BootError::Unmodelled(_)) => {}
            Err(e) => panic!("boot: {e}"),
        }
        k
    }

    fn lines(k: &Kernel, pfx: &[&str]) -> Vec<String> {
        k.printk
            .lines()
            .into_iter()
            .map(|l| l.text)
            .filter(|t| pfx.iter().any(|p| t.starts_with(p)))
            .collect()
    }

    #[test]
    fn qemu_split_places_the_pci_hole_inside_a_node() {
        // memblock-debug/003: node 0 = [0,2G), node 1 = [2G,3G) + [4G,5G).
        let m =
            Machine::qemu_numa(4 << 30, 4, &Machine::qemu_even_split(4 << 30, 2).unwrap()).unwrap();
        let srat = m.srat.as_ref().unwrap();
        let r: Vec<(u32, u64, u64)> = srat
            .memory
            .iter()
            .map(|x| (x.nid, x.start, x.end))
            .collect();
        assert_eq!(
            r,
            vec![
                (0, 0, 0xa0000),
                (0, 0x10_0000, 0x8000_0000),
                (1, 0x8000_0000, 0xc000_0000),
                (1, 0x1_0000_0000, 0x1_4000_0000)
            ]
        );
        let cpus: Vec<u32> = srat.cpus.iter().map(|c| c.nid).collect();
        assert_eq!(cpus, vec![0, 0, 1, 1]);
        assert!(Machine::qemu_numa(4 << 30, 2, &[1 << 30]).is_err());
        assert_eq!(
            Machine::qemu_even_split(1 << 30, 3).unwrap(),
            vec![0x1500_0000, 0x1500_0000, 0x1600_0000]
        );
    }

    #[test]
    fn srat_blocks_merge_and_node_data_goes_on_top_of_each_node() {
        let mut m = Machine::qemu_numa(4 << 30, 4, &[2 << 30, 2 << 30]).unwrap();
        // As `bootmm check` boots it: which lines unprinted inputs decide is worked out.
        m.explain_inputs = true;
        let k = boot(m, (6, 6), 0x4000);
        // The real 6.6 guest's lines (memblock-debug/003, lines 99-102).
        assert_eq!(
            lines(&k, &["NUMA: ", "NODE_DATA(0)"]),
            vec![
                "NUMA: Node 0 [mem 0x00000000-0x0009ffff] + [mem 0x00100000-0x7fffffff] -> [mem 0x00000000-0x7fffffff]",
                "NUMA: Node 1 [mem 0x80000000-0xbfffffff] + [mem 0x100000000-0x13fffffff] -> [mem 0x80000000-0x13fffffff]",
                "NODE_DATA(0) allocated [mem 0x7fffc000-0x7fffffff]",
            ]
        );
        assert_eq!(k.numa.online, vec![0, 1]);
        assert_eq!(k.numa.nr_node_ids, 2);
        assert_eq!(k.numa.source, Some(NumaSource::Acpi));
        // memblock.memory now carries the node ids.
        let nids: Vec<i32> = k.memblock.memory.regions.iter().map(|r| r.nid).collect();
        assert_eq!(nids, vec![0, 0, 1, 1]);
        // The top-of-RAM node's line is flagged: the page-table pages below it depend on
        // inputs no log prints (memory KASLR here).
        assert_eq!(k.numa.caveats.len(), 1);
        assert!(k.numa.caveats[0].0.starts_with("NODE_DATA(1)"));
        // A plain boot takes the defaults without weighing the alternatives: same lines.
        let plain = boot(
            Machine::qemu_numa(4 << 30, 4, &[2 << 30, 2 << 30]).unwrap(),
            (6, 6),
            0x4000,
        );
        assert!(plain.numa.caveats.is_empty());
        assert_eq!(lines(&plain, &["NODE_DATA("]), lines(&k, &["NODE_DATA("]));
        // 6.12+ trims to memblock's start of DRAM and rounds pg_data_t to a cache line.
        let m = Machine::qemu_numa(4 << 30, 4, &[2 << 30, 2 << 30]).unwrap();
        let k = boot(m, (6, 12), 0x20b8);
        assert_eq!(
            lines(&k, &["NUMA: Node 0", "NODE_DATA(0)"]),
            vec![
                "NUMA: Node 0 [mem 0x00001000-0x0009ffff] + [mem 0x00100000-0x7fffffff] -> [mem 0x00001000-0x7fffffff]",
                "NODE_DATA(0) allocated [mem 0x7fffdf40-0x7fffffff]",
            ]
        );
    }

    #[test]
    fn node_data_falls_back_to_another_node_when_its_own_is_full() {
        // Node 1 is 8 MiB above 4 GiB, all of it under the initrd.
        let mut m = Machine::qemu(4 << 30, 2).unwrap();
        m.srat = Some(FirmwareNuma {
            cpus: Vec::new(),
            memory: vec![
                SratMemory {
                    pxm: 0,
                    nid: 0,
                    start: 0,
                    end: 0x1_3f80_0000,
                    hotplug: false,
                    nonvolatile: false,
                },
                SratMemory {
                    pxm: 1,
                    nid: 1,
                    start: 0x1_3f80_0000,
                    end: 0x1_4000_0000,
                    hotplug: false,
                    nonvolatile: false,
                },
            ],
            slit: None,
        });
        m.initrd = Some((0x1_3f80_0000, 8 << 20));
        let k = boot(m, (5, 10), 0x5000);
        let nd = lines(&k, &["NODE_DATA(", "    NODE_DATA("]);
        assert_eq!(nd.len(), 3, "{nd:?}");
        assert_eq!(nd[2], "    NODE_DATA(1) on node 0");
        let n1 = k.numa.node_data.iter().find(|n| n.nid == 1).unwrap();
        assert_eq!((n1.on_node, n1.size), (0, 0x5000));
        // Below node 0's own NODE_DATA, top-down.
        let n0 = k.numa.node_data.iter().find(|n| n.nid == 0).unwrap();
        assert_eq!(n1.pa + n1.size, n0.pa);
    }

    #[test]
    fn no_srat_fakes_one_node_per_era() {
        let k = boot(Machine::qemu(2 << 30, 1).unwrap(), (4, 4), 0x5000);
        assert_eq!(
            lines(&k, &["No NUMA", "Faking", "NODE_DATA"]),
            vec![
                "No NUMA configuration found",
                "Faking a node at [mem 0x0000000000000000-0x000000007ffdffff]",
                "NODE_DATA(0) allocated [mem 0x7ffdb000-0x7ffdffff]",
            ]
        );
        // 3.x: numa.c printed the node's span itself, then "  NODE_DATA [mem …]".
        let k = boot(Machine::qemu(2 << 30, 1).unwrap(), (3, 13), 0x5000);
        assert_eq!(
            lines(&k, &["Initmem", "  NODE_DATA"]),
            vec![
                "Initmem setup node 0 [mem 0x00000000-0x7ffdffff]",
                "  NODE_DATA [mem 0x7ffdb000-0x7ffdffff]",
            ]
        );
        // 2.6.32 numa_64.c formats.
        let k = boot(Machine::qemu(512 << 20, 1).unwrap(), (2, 6), 0x5000);
        assert_eq!(
            lines(&k, &["Faking", "Bootmem"]),
            vec![
                "Faking a node at 0000000000000000-000000001ffe0000",
                "Bootmem setup node 0 0000000000000000-000000001ffe0000",
            ]
        );
    }

    #[test]
    fn numa_off_and_noacpi_ignore_the_srat() {
        let mut m = Machine::qemu_numa(4 << 30, 2, &[2 << 30, 2 << 30]).unwrap();
        m.cmdline = String::from("numa=off");
        let k = boot(m, (6, 6), 0x4000);
        assert_eq!(lines(&k, &["NUMA turned off"]).len(), 1);
        assert!(lines(&k, &["ACPI: SRAT"]).is_empty());
        assert_eq!(k.numa.online, vec![0]);
        let mut m = Machine::qemu_numa(4 << 30, 2, &[2 << 30, 2 << 30]).unwrap();
        m.cmdline = String::from("numa=noacpi");
        let k = boot(m, (6, 6), 0x4000);
        assert_eq!(lines(&k, &["No NUMA configuration found"]).len(), 1);
        assert_eq!(k.numa.source, Some(NumaSource::Dummy));
    }

    #[test]
    fn fake_numa_splits_ram_evenly_over_the_dummy_node() {
        let mut m = Machine::qemu(4 << 30, 2).unwrap();
        m.cmdline = String::from("numa=fake=4");
        let k = boot(m, (5, 10), 0x5000);
        let f = lines(&k, &["Faking node "]);
        assert_eq!(f.len(), 4, "{f:?}");
        assert!(f[0].starts_with("Faking node 0 at [mem 0x0000000000000000-"));
        assert_eq!(k.numa.online, vec![0, 1, 2, 3]);
        assert_eq!(k.numa.emu_nid_to_phys, vec![0, 0, 0, 0]);
        // The emulated distance table: 10 local, 20 remote (all on one physical node: 10).
        assert_eq!(k.numa.distance_cnt, 4);
        assert!(k.numa.distance.iter().all(|&d| d == LOCAL_DISTANCE));
        // Every byte of RAM is on exactly one fake node, in address order.
        let mi = &k.numa.meminfo.blk;
        assert!(mi.windows(2).all(|w| w[0].end <= w[1].start));
        // A size: nodes of at least 1 GiB of RAM each. The 640 KiB hole and page 0 push the
        // first node past 1 GiB, the PCI hole stretches the third, and what is left above
        // it (under 1 GiB) joins the third: three nodes.
        let mut m = Machine::qemu(4 << 30, 2).unwrap();
        m.cmdline = String::from("numa=fake=1G");
        let k = boot(m, (5, 10), 0x5000);
        let f = lines(&k, &["Faking node "]);
        assert_eq!(f.len(), 3, "{f:?}");
        assert!(f[0].starts_with("Faking node 0 at [mem 0x0000000000000000-0x0000000041ffffff]"));
        // Too many nodes for the RAM: emulation is refused, one node stays.
        let mut m = Machine::qemu(64 << 20, 1).unwrap();
        m.cmdline = String::from("numa=fake=8");
        let k = boot(m, (5, 10), 0x5000);
        assert_eq!(k.numa.online, vec![0]);
        assert_eq!(
            lines(&k, &["Not enough memory"]),
            vec!["Not enough memory for each node.  NUMA emulation disabled."]
        );
    }

    #[test]
    fn slit_allocates_the_distance_table_below_mapped_memory() {
        let mut m = Machine::qemu_numa(4 << 30, 2, &[2 << 30, 2 << 30]).unwrap();
        let mut slit = crate::machine::Slit::uniform(2);
        slit.set(0, 1, 21).unwrap();
        m.srat.as_mut().unwrap().slit = Some(slit);
        let k = boot(m, (4, 9), 0x4000);
        assert_eq!(
            lines(&k, &["NUMA: Initialized"]),
            vec!["NUMA: Initialized distance table, cnt=2"]
        );
        assert_eq!(k.numa.node_distance(0, 1), 21);
        assert_eq!(k.numa.node_distance(1, 1), 10);
        // init_mem_mapping's page-table pages from memblock sit at the top of RAM; the
        // table takes the page under them, and node 1's NODE_DATA goes under it.
        let pt: u64 = k.direct_map.memblock_pages.iter().map(|p| p.1).sum();
        let top = 0x1_4000_0000u64 - pt;
        assert!(k
            .direct_map
            .memblock_pages
            .iter()
            .all(|p| p.0 >= top && p.0 < 0x1_4000_0000));
        assert_eq!(k.numa.distance_pa, Some(top - PAGE_SIZE));
        let n1 = k.numa.node_data.iter().find(|n| n.nid == 1).unwrap();
        assert_eq!(n1.pa, top - PAGE_SIZE - 0x4000);
    }

    #[test]
    fn node_one_memmap_keeps_its_pmd_alignment_before_4_13() {
        // Before 4.13 SECTION_NID_SHIFT is 2, so node 1's early nid sits in bit 2 of
        // section_mem_map; sparse_init_one_section must clear it with the other map bits.
        let m = Machine::qemu_numa(4 << 30, 2, &[2 << 30, 2 << 30]).unwrap();
        let k = boot(m, (4, 9), 0x4000);
        let hi = k.sparse.highest_present_section_nr.unwrap();
        let mut node1 = 0;
        for nr in 0..=hi {
            let Some(map) = k.sparse.section_memmap(nr) else {
                continue;
            };
            let pa = k.sparse.host_to_phys(map).unwrap();
            assert_eq!(
                pa % crate::mm::sparse::PMD_SIZE,
                0,
                "section {nr} memmap at {pa:#x}"
            );
            node1 += u64::from(pa >= 2 << 30);
        }
        assert!(node1 > 0);
    }

    #[test]
    fn bad_node_descriptions_are_errors() {
        let mut fw = FirmwareNuma::default();
        fw.memory.push(SratMemory {
            pxm: 0,
            nid: 70,
            start: 0,
            end: 1 << 20,
            hotplug: false,
            nonvolatile: false,
        });
        assert!(fw.validate().unwrap_err().contains("MAX_NUMNODES"));
        let mut s = crate::machine::Slit::uniform(2);
        assert!(s.set(0, 0, 20).is_err());
        assert!(s.set(0, 2, 20).is_err());
        assert!(Machine::qemu_even_split(1 << 30, 0).is_err());
    }
}
