// SPDX-License-Identifier: GPL-2.0-only
//! memblock (`mm/memblock.c`, `include/linux/memblock.h`): the boot-time memory allocator.
//!
//! memblock keeps two sorted arrays of physical ranges, `memory` (RAM the kernel may use) and
//! `reserved` (ranges already taken), and allocates by searching `memory` minus `reserved`,
//! top-down by default. bootmm keeps the same arrays, with the kernel's `cnt`/`max` bookkeeping,
//! merging, splitting, array doubling (the doubled array is found and reserved exactly as the
//! kernel does) and era-dependent details; the region arrays themselves live in Rust vectors
//! rather than in simulated RAM, and the `%pS` caller in debug lines is the innermost recorded
//! call instead of a symbolised return address.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::era::Era;
use crate::include::{PhysAddr, NUMA_NO_NODE, PAGE_SIZE, SMP_CACHE_BYTES};
use crate::phys::{PhysError, PhysMem};
use crate::printk::Printk;
use crate::trace::Trace;

const FILE: &str = "mm/memblock.c";

/// `INIT_MEMBLOCK_REGIONS` (= `INIT_MEMBLOCK_MEMORY_REGIONS` = `INIT_MEMBLOCK_RESERVED_REGIONS`
/// on x86).
pub const INIT_MEMBLOCK_REGIONS: usize = 128;
/// `MAX_NUMNODES` with x86_64's default `CONFIG_NODES_SHIFT=6`. memblock uses it as the
/// "no node yet" id of `memblock_add()` regions.
pub const MAX_NUMNODES: i32 = 64;
/// `PHYS_ADDR_MAX`.
pub const PHYS_ADDR_MAX: u64 = u64::MAX;
/// `MEMBLOCK_ALLOC_ANYWHERE`: no upper limit.
pub const MEMBLOCK_ALLOC_ANYWHERE: u64 = u64::MAX;
/// `MEMBLOCK_ALLOC_ACCESSIBLE`: "up to `memblock.current_limit`".
pub const MEMBLOCK_ALLOC_ACCESSIBLE: u64 = 0;
/// `MEMBLOCK_ALLOC_NOLEAKTRACE`: like ACCESSIBLE, without kmemleak tracking.
pub const MEMBLOCK_ALLOC_NOLEAKTRACE: u64 = 1;
/// `MEMBLOCK_LOW_LIMIT`.
pub const MEMBLOCK_LOW_LIMIT: u64 = 0;
/// `ARCH_LOW_ADDRESS_LIMIT` on x86 (`include/linux/memblock.h` default: 0xffffffff).
pub const ARCH_LOW_ADDRESS_LIMIT: u64 = 0xffff_ffff;
/// `ENOMEM`.
pub const ENOMEM: i32 = 12;

bitflags::bitflags! {
    /// `enum memblock_flags` (`include/linux/memblock.h`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct MemblockFlags: u32 {
        const NONE = 0x0;
        const HOTPLUG = 0x1;
        const MIRROR = 0x2;
        const NOMAP = 0x4;
        const DRIVER_MANAGED = 0x8;
        const RSRV_NOINIT = 0x10;
        const RSRV_KERN = 0x20;
    }
}

/// `struct memblock_region`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MemblockRegion {
    pub base: u64,
    pub size: u64,
    pub flags: MemblockFlags,
    pub nid: i32,
}

impl MemblockRegion {
    /// `base + size` (never overflows: sizes are capped by `memblock_cap_size`).
    pub fn end(&self) -> u64 {
        self.base.wrapping_add(self.size)
    }
}

/// Which of the two arrays of `struct memblock` a call works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionType {
    Memory,
    Reserved,
}

impl RegionType {
    /// The `name` field of the type.
    pub fn name(self) -> &'static str {
        match self {
            RegionType::Memory => "memory",
            RegionType::Reserved => "reserved",
        }
    }
}

/// `struct memblock_type`.
///
/// `regions` holds exactly `regions[0..cnt]` of the kernel's array (so it contains the zero-size
/// dummy region in eras that keep one). `array` is where the array lives: `None` for the static
/// `memblock_*_init_regions`, or the physical address `memblock_double_array` found for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemblockType {
    pub cnt: usize,
    pub max: usize,
    pub total_size: u64,
    pub regions: Vec<MemblockRegion>,
    pub name: &'static str,
    pub array: Option<PhysAddr>,
}

impl MemblockType {
    fn new(name: &'static str, dummy: bool) -> Self {
        let mut t = MemblockType {
            cnt: 0,
            max: INIT_MEMBLOCK_REGIONS,
            total_size: 0,
            regions: Vec::new(),
            name,
            array: None,
        };
        if dummy {
            t.regions.push(empty_slot());
            t.cnt = 1;
        }
        t
    }

    /// `regions[0]` as the kernel reads it: for an empty array this is the zeroed slot memblock
    /// keeps there.
    pub fn slot0(&self) -> MemblockRegion {
        self.regions.first().copied().unwrap_or_else(empty_slot)
    }

    /// `regions[idx]` for `idx < cnt`, and the zeroed slot 0 of an empty array.
    pub fn region(&self, idx: usize) -> Option<MemblockRegion> {
        match self.regions.get(idx) {
            Some(r) => Some(*r),
            None if idx == 0 => Some(empty_slot()),
            None => None,
        }
    }

    /// `memblock_insert_region` (mm/memblock.c). The caller guarantees `cnt < max`.
    fn insert_region(&mut self, idx: usize, base: u64, size: u64, nid: i32, flags: MemblockFlags) {
        debug_assert!(self.cnt < self.max);
        self.regions.insert(
            idx,
            MemblockRegion {
                base,
                size,
                flags,
                nid,
            },
        );
        self.cnt += 1;
        self.total_size = self.total_size.wrapping_add(size);
    }
}

/// The slot memblock leaves in `regions[0]` of an empty array.
fn empty_slot() -> MemblockRegion {
    MemblockRegion {
        base: 0,
        size: 0,
        flags: MemblockFlags::NONE,
        nid: MAX_NUMNODES,
    }
}

/// What the allocators return: the block, `None` for the kernel's NULL / 0, or an error where
/// the kernel would have crashed.
pub type PhysAddrResult = Result<Option<PhysAddr>, MemblockError>;

/// Why a memblock call could not do what the kernel would.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemblockError {
    /// `memblock_double_array` before `memblock_allow_resize()`: the kernel panics with
    /// "memblock: cannot resize %s array".
    CannotResize { name: &'static str },
    /// The array needed doubling and no room for the new array was found (-ENOMEM; the kernel
    /// has printed "memblock: Failed to double ...").
    NoMem { name: &'static str, from: usize },
    /// Zeroing an allocation touched memory the simulated RAM does not back.
    Phys(PhysError),
}

impl fmt::Display for MemblockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemblockError::CannotResize { name } => write!(
                f,
                "memblock: cannot resize {name} array (the kernel panics here; call memblock_allow_resize() first)"
            ),
            MemblockError::NoMem { name, from } => write!(
                f,
                "memblock: Failed to double {name} array from {from} to {} entries (-ENOMEM)",
                from * 2
            ),
            MemblockError::Phys(e) => write!(f, "{e}"),
        }
    }
}

impl From<PhysError> for MemblockError {
    fn from(e: PhysError) -> Self {
        MemblockError::Phys(e)
    }
}

/// `numa_valid_node(nid)`: `0 <= nid < MAX_NUMNODES`.
pub fn numa_valid_node(nid: i32) -> bool {
    (0..MAX_NUMNODES).contains(&nid)
}

/// `round_down(x, y)` exactly as the kernel's mask macro computes it (`y` a power of two).
fn k_round_down(x: u64, y: u64) -> u64 {
    x & !y.wrapping_sub(1)
}

/// `round_up(x, y)` exactly as the kernel's mask macro computes it, wrap-around included.
fn k_round_up(x: u64, y: u64) -> u64 {
    (x.wrapping_sub(1) | y.wrapping_sub(1)).wrapping_add(1)
}

/// `clamp(val, lo, hi)`.
fn clamp(v: u64, lo: u64, hi: u64) -> u64 {
    v.max(lo).min(hi)
}

/// `memblock_cap_size`: keep `base + size` from overflowing.
fn memblock_cap_size(base: u64, size: u64) -> u64 {
    size.min(PHYS_ADDR_MAX - base)
}

/// `struct memblock` plus the file-scope variables of mm/memblock.c.
pub struct Memblock {
    pub era: Era,
    pub printk: Printk,
    pub trace: Trace,
    pub phys: Option<PhysMem>,
    pub memory: MemblockType,
    pub reserved: MemblockType,
    /// `memblock.bottom_up`.
    pub bottom_up: bool,
    /// `memblock.current_limit`.
    pub current_limit: u64,
    /// `memblock_can_resize` (set by `memblock_allow_resize`).
    pub can_resize: bool,
    /// `memblock_debug` (`memblock=debug`).
    pub debug: bool,
    /// `movable_node_is_enabled()` (`movable_node` on the command line).
    pub movable_node: bool,
    /// `mirrored_kernelcore` (`kernelcore=mirror`).
    pub mirrored_kernelcore: bool,
    /// `system_has_some_mirror`.
    pub system_has_some_mirror: bool,
    /// `ARCH_LOW_ADDRESS_LIMIT`, the ceiling of `memblock_alloc_low`.
    pub arch_low_address_limit: u64,
    /// `SMP_CACHE_BYTES`, the alignment used when a caller passes 0.
    pub smp_cache_bytes: u64,
    /// `__pa_symbol(_end)`: only pre-6.0 bottom-up searches look at it (None: unknown).
    pub kernel_end: Option<u64>,
}

impl fmt::Debug for Memblock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Memblock")
            .field("memory", &self.memory)
            .field("reserved", &self.reserved)
            .field("bottom_up", &self.bottom_up)
            .field("current_limit", &self.current_limit)
            .finish()
    }
}

/// One free range from `for_each_free_mem_range`: `[start, end)` on node `nid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreeRange {
    pub start: u64,
    pub end: u64,
    pub nid: i32,
}

/// Boot allocations go through nobootmem's bootmem wrappers (`__alloc_bootmem*`,
/// `free_bootmem`, `memblock_free_early`), which print no allocation line of their own,
/// until 4.20 removed nobootmem ("mm: remove nobootmem", the memblock_virt_alloc → memblock_alloc
/// rename).
pub fn boot_allocs_via_bootmem(era: &Era) -> bool {
    !era.at_least(4, 20)
}

/// The alignment callers pass for "a cache line": 0 (memblock's default, SMP_CACHE_BYTES)
/// until 5.0 replaced every `memblock_alloc(..., 0)` with `SMP_CACHE_BYTES`; memblock=debug
/// prints what was passed.
pub fn cache_line_align_arg(era: &Era) -> u64 {
    if era.at_least(5, 0) {
        SMP_CACHE_BYTES
    } else {
        0
    }
}

/// An empty region array holds one zeroed dummy entry (cnt 1) until 6.11's "mm/memblock:
/// remove empty dummy entry" (cnt 0).
fn empty_has_dummy(era: &Era) -> bool {
    !era.at_least(6, 11)
}

impl Memblock {
    /// The statically initialised `struct memblock memblock` (mm/memblock.c).
    pub fn new(era: Era, printk: Printk, trace: Trace, phys: Option<PhysMem>) -> Self {
        let dummy = empty_has_dummy(&era);
        Memblock {
            era,
            printk,
            trace,
            phys,
            memory: MemblockType::new("memory", dummy),
            reserved: MemblockType::new("reserved", dummy),
            bottom_up: false,
            current_limit: MEMBLOCK_ALLOC_ANYWHERE,
            can_resize: false,
            debug: false,
            movable_node: false,
            mirrored_kernelcore: false,
            system_has_some_mirror: false,
            arch_low_address_limit: ARCH_LOW_ADDRESS_LIMIT,
            smp_cache_bytes: SMP_CACHE_BYTES,
            kernel_end: None,
        }
    }

    /// A copy of the regions and settings with its own log and recorder and no simulated
    /// RAM: for trying out what a step would do under other inputs without printing anything.
    pub fn quiet_copy(&self) -> Self {
        let mut m = Memblock::new(self.era.clone(), Printk::new(), Trace::unrecorded(), None);
        m.memory = self.memory.clone();
        m.reserved = self.reserved.clone();
        m.bottom_up = self.bottom_up;
        m.current_limit = self.current_limit;
        m.can_resize = self.can_resize;
        m.movable_node = self.movable_node;
        m.mirrored_kernelcore = self.mirrored_kernelcore;
        m.system_has_some_mirror = self.system_has_some_mirror;
        m.arch_low_address_limit = self.arch_low_address_limit;
        m.smp_cache_bytes = self.smp_cache_bytes;
        m.kernel_end = self.kernel_end;
        m
    }

    // ----- era questions -------------------------------------------------------------------

    /// MEMBLOCK_RSRV_KERN, `__memblock_reserve()` and `memblock_reserve_kern()` (6.16).
    pub fn has_rsrv_kern(&self) -> bool {
        self.era.at_least(6, 16)
    }
    /// Debug output with `%pa` instead of `%#016llx`, and `memblock_add` without its
    /// "flags" (seen in 4.19, not in 4.9).
    fn pa_format(&self) -> bool {
        self.era.at_least(4, 19)
    }
    /// `sizeof(struct memblock_region)`: 32 bytes while `flags` was an `unsigned long`,
    /// 24 once it became `enum memblock_flags` (taken as 4.19, like the `%pa` output).
    pub fn sizeof_region(&self) -> u64 {
        if self.pa_format() {
            24
        } else {
            32
        }
    }

    fn ty(&self, which: RegionType) -> &MemblockType {
        match which {
            RegionType::Memory => &self.memory,
            RegionType::Reserved => &self.reserved,
        }
    }
    fn ty_mut(&mut self, which: RegionType) -> &mut MemblockType {
        match which {
            RegionType::Memory => &mut self.memory,
            RegionType::Reserved => &mut self.reserved,
        }
    }

    // ----- printing ------------------------------------------------------------------------

    /// `%pa`: "0x" and every hex digit of a `phys_addr_t`.
    fn pa(&self, v: u64) -> String {
        format!("0x{:0w$x}", v, w = self.era.pa_digits())
    }
    /// `[%pa-%pa]` or, before 4.19, `[%#016llx-%#016llx]`, for `[base, base + size - 1]`.
    ///
    /// Only `memblock_dbg` lines print it: empty unless `memblock=debug`, so that the
    /// allocations of a quiet boot format nothing.
    fn range_text(&self, base: u64, size: u64) -> String {
        if !self.debug {
            return String::new();
        }
        let end = base.wrapping_add(size).wrapping_sub(1);
        if self.pa_format() {
            format!("[{}-{}]", self.pa(base), self.pa(end))
        } else {
            format!("[{base:#016x}-{end:#016x}]")
        }
    }
    /// The `%pS` caller: the innermost recorded call, or nothing outside any (or without
    /// `memblock=debug`, whose lines alone print it).
    fn caller(&self) -> String {
        if !self.debug {
            return String::new();
        }
        match self.trace.current_func() {
            Some(f) => format!(" {f}"),
            None => String::new(),
        }
    }
    /// `memblock_dbg(...)`: `pr_info` when `memblock=debug`.
    fn dbg(&self, args: fmt::Arguments<'_>) {
        if self.debug {
            self.printk.info(args);
        }
    }

    // ----- small API ------------------------------------------------------------------------

    /// mm/memblock.c: `get_allocated_memblock_reserved_regions_info` /
    /// `get_allocated_memblock_memory_regions_info` (3.x–4.12; `memblock_discard` does the
    /// same test inline from 4.13): where a doubled array lives and its `PAGE_ALIGN`ed size,
    /// or `None` while it is still the static one.
    pub fn allocated_regions_info(&self, which: RegionType) -> Option<(u64, u64)> {
        let t = self.ty(which);
        let addr = t.array?;
        Some((
            addr.0,
            crate::include::addr::page_align(t.max as u64 * self.sizeof_region()),
        ))
    }

    /// The `memblock_dbg` line of `memblock_free_late` (`__memblock_free_late` before 5.16):
    /// `"%s: [%pa-%pa] %pS"`, `[%#016llx-%#016llx] %pF` before 4.19. The caller is the
    /// innermost recorded call, so this is printed before the function's own span opens.
    pub fn dbg_free_late(&self, func: &str, base: u64, size: u64) {
        if !self.debug {
            return;
        }
        let caller = self.caller();
        let r = self.range_text(base, size);
        self.dbg(format_args!("{func}: {r}{caller}\n"));
    }

    /// mm/memblock.c: memblock_allow_resize
    pub fn memblock_allow_resize(&mut self) {
        self.can_resize = true;
    }
    /// include/linux/memblock.h: memblock_set_bottom_up
    pub fn memblock_set_bottom_up(&mut self, enable: bool) {
        self.bottom_up = enable;
    }
    /// include/linux/memblock.h: memblock_bottom_up
    pub fn memblock_bottom_up(&self) -> bool {
        self.bottom_up
    }
    /// mm/memblock.c: memblock_set_current_limit
    pub fn memblock_set_current_limit(&mut self, limit: u64) {
        self.current_limit = limit;
    }
    /// mm/memblock.c: memblock_get_current_limit
    pub fn memblock_get_current_limit(&self) -> u64 {
        self.current_limit
    }
    /// mm/memblock.c: memblock_phys_mem_size
    pub fn memblock_phys_mem_size(&self) -> u64 {
        self.memory.total_size
    }
    /// mm/memblock.c: memblock_reserved_size
    pub fn memblock_reserved_size(&self) -> u64 {
        self.reserved.total_size
    }
    /// mm/memblock.c: memblock_start_of_DRAM
    #[allow(non_snake_case)]
    pub fn memblock_start_of_DRAM(&self) -> u64 {
        self.memory.slot0().base
    }
    /// mm/memblock.c: memblock_end_of_DRAM (an empty array, where the kernel would read
    /// `regions[-1]`, gives 0).
    #[allow(non_snake_case)]
    pub fn memblock_end_of_DRAM(&self) -> u64 {
        self.memory.regions.last().map(|r| r.end()).unwrap_or(0)
    }

    /// mm/memblock.c: memblock_overlaps_region
    pub fn memblock_overlaps_region(&self, which: RegionType, base: u64, size: u64) -> bool {
        let size = memblock_cap_size(base, size);
        let end = base + size;
        self.ty(which)
            .regions
            .iter()
            .any(|r| base < r.base.wrapping_add(r.size) && r.base < end)
    }

    /// mm/memblock.c: memblock_search
    fn memblock_search(&self, which: RegionType, addr: u64) -> Option<usize> {
        let t = self.ty(which);
        t.regions
            .iter()
            .position(|r| addr >= r.base && addr < r.end())
    }
    /// mm/memblock.c: memblock_is_reserved
    pub fn memblock_is_reserved(&self, addr: u64) -> bool {
        self.memblock_search(RegionType::Reserved, addr).is_some()
    }
    /// mm/memblock.c: memblock_is_memory
    pub fn memblock_is_memory(&self, addr: u64) -> bool {
        self.memblock_search(RegionType::Memory, addr).is_some()
    }
    /// mm/memblock.c: memblock_is_region_memory
    pub fn memblock_is_region_memory(&self, base: u64, size: u64) -> bool {
        let end = base + memblock_cap_size(base, size);
        match self.memblock_search(RegionType::Memory, base) {
            Some(i) => self.memory.regions[i].end() >= end,
            None => false,
        }
    }
    /// mm/memblock.c: memblock_is_region_reserved
    pub fn memblock_is_region_reserved(&self, base: u64, size: u64) -> bool {
        self.memblock_overlaps_region(RegionType::Reserved, base, size)
    }

    // ----- array maintenance ---------------------------------------------------------------

    /// mm/memblock.c: memblock_remove_region
    fn memblock_remove_region(&mut self, which: RegionType, r: usize) {
        let dummy = empty_has_dummy(&self.era);
        let t = self.ty_mut(which);
        let gone = t.regions.remove(r);
        t.total_size = t.total_size.wrapping_sub(gone.size);
        t.cnt -= 1;
        if t.cnt == 0 {
            // The special case for empty arrays: slot 0 is zeroed; before 6.11 it stays
            // counted as the dummy region.
            if dummy {
                t.regions.push(empty_slot());
                t.cnt = 1;
            }
        }
    }

    /// mm/memblock.c: memblock_merge_regions
    fn memblock_merge_regions(&mut self, which: RegionType, start_rgn: usize, end_rgn: usize) {
        let t = self.ty_mut(which);
        if t.cnt == 0 {
            return;
        }
        let mut i = start_rgn.saturating_sub(1);
        let mut end_rgn = end_rgn.min(t.cnt - 1);
        while i < end_rgn {
            let this = t.regions[i];
            let next = t.regions[i + 1];
            if this.end() != next.base || this.nid != next.nid || this.flags != next.flags {
                debug_assert!(this.end() <= next.base, "memblock: overlapping regions");
                i += 1;
                continue;
            }
            t.regions[i].size += next.size;
            t.regions.remove(i + 1);
            t.cnt -= 1;
            end_rgn -= 1;
        }
    }

    /// mm/memblock.c: memblock_double_array
    ///
    /// Returns `Ok(false)` when no room was found (the kernel's -1).
    fn memblock_double_array(
        &mut self,
        which: RegionType,
        mut new_area_start: u64,
        mut new_area_size: u64,
    ) -> Result<bool, MemblockError> {
        let _t = self.trace.enter("memblock_double_array", FILE);
        let name = which.name();
        if !self.can_resize {
            return Err(MemblockError::CannotResize { name });
        }
        let max = self.ty(which).max;
        let old_size = max as u64 * self.sizeof_region();
        let new_size = old_size << 1;
        let old_alloc_size = crate::include::addr::page_align(old_size);
        let new_alloc_size = crate::include::addr::page_align(new_size);

        // slab is never available while bootmm runs memblock: always the memblock path.
        if which != RegionType::Reserved {
            new_area_start = 0;
            new_area_size = 0;
        }
        let mut addr = self.memblock_find_in_range(
            new_area_start.wrapping_add(new_area_size),
            self.current_limit,
            new_alloc_size,
            PAGE_SIZE,
        );
        if addr == 0 && new_area_size != 0 {
            addr = self.memblock_find_in_range(
                0,
                new_area_start.min(self.current_limit),
                new_alloc_size,
                PAGE_SIZE,
            );
        }
        if addr == 0 {
            crate::pr_err!(
                self.printk,
                "memblock: Failed to double {} array from {} to {} entries !\n",
                name,
                max,
                max * 2
            );
            return Ok(false);
        }
        let new_end = addr.wrapping_add(new_size).wrapping_sub(1);
        if self.pa_format() {
            self.dbg(format_args!(
                "memblock: {} is doubled to {} at [{}-{}]",
                name,
                max * 2,
                self.pa(addr),
                self.pa(new_end)
            ));
        } else {
            self.dbg(format_args!(
                "memblock: {} is doubled to {} at [{:#010x}-{:#010x}]",
                name,
                max * 2,
                addr,
                new_end
            ));
        }
        let old_array = {
            let t = self.ty_mut(which);
            t.max <<= 1;
            t.array.replace(PhysAddr(addr))
        };
        // Free the old array unless it was the static one.
        if let Some(old) = old_array {
            self.memblock_phys_free(old.0, old_alloc_size)?;
        }
        // Reserve the new array (the kernel BUG()s if this fails).
        if self.has_rsrv_kern() {
            self.memblock_reserve_kern(addr, new_alloc_size)?;
        } else {
            self.memblock_reserve(addr, new_alloc_size)?;
        }
        Ok(true)
    }

    /// mm/memblock.c: memblock_add_range
    fn memblock_add_range(
        &mut self,
        which: RegionType,
        base: u64,
        size: u64,
        nid: i32,
        flags: MemblockFlags,
    ) -> Result<(), MemblockError> {
        let _t = self.trace.enter("memblock_add_range", FILE);
        let obase = base;
        let size = memblock_cap_size(base, size);
        let end = base + size;
        if size == 0 {
            return Ok(());
        }
        {
            let t = self.ty_mut(which);
            // special case for empty array
            if t.slot0().size == 0 {
                t.regions.clear();
                t.regions.push(MemblockRegion {
                    base,
                    size,
                    flags,
                    nid,
                });
                t.total_size = size;
                t.cnt = 1;
                return Ok(());
            }
        }
        let mut insert = {
            let t = self.ty(which);
            // The kernel's own form of the test: room for cnt + 1 new regions.
            #[allow(clippy::int_plus_one)]
            let room = t.cnt * 2 + 1 <= t.max;
            room
        };
        loop {
            let t = self.ty_mut(which);
            let mut base = obase;
            let mut nr_new = 0usize;
            let mut start_rgn: Option<usize> = None;
            let mut end_rgn = 0usize;
            let mut idx = 0usize;
            while idx < t.cnt {
                let rbase = t.regions[idx].base;
                let rend = t.regions[idx].end();
                if rbase >= end {
                    break;
                }
                if rend <= base {
                    idx += 1;
                    continue;
                }
                // The region overlaps: insert the part of the new range below it.
                if rbase > base {
                    nr_new += 1;
                    if insert {
                        start_rgn.get_or_insert(idx);
                        end_rgn = idx + 1;
                        t.insert_region(idx, base, rbase - base, nid, flags);
                        idx += 1;
                    }
                }
                base = rend.min(end);
                idx += 1;
            }
            if base < end {
                nr_new += 1;
                if insert {
                    start_rgn.get_or_insert(idx);
                    end_rgn = idx + 1;
                    t.insert_region(idx, base, end - base, nid, flags);
                }
            }
            if nr_new == 0 {
                return Ok(());
            }
            if !insert {
                while self.ty(which).cnt + nr_new > self.ty(which).max {
                    if !self.memblock_double_array(which, obase, size)? {
                        let from = self.ty(which).max;
                        return Err(MemblockError::NoMem {
                            name: which.name(),
                            from,
                        });
                    }
                }
                insert = true;
                continue;
            }
            self.memblock_merge_regions(which, start_rgn.unwrap_or(0), end_rgn);
            return Ok(());
        }
    }

    /// mm/memblock.c: memblock_isolate_range
    ///
    /// Returns `[start_rgn, end_rgn)`, the regions now exactly inside `[base, base + size)`.
    fn memblock_isolate_range(
        &mut self,
        which: RegionType,
        base: u64,
        size: u64,
    ) -> Result<(usize, usize), MemblockError> {
        let _t = self.trace.enter("memblock_isolate_range", FILE);
        let size = memblock_cap_size(base, size);
        let end = base + size;
        let (mut start_rgn, mut end_rgn) = (0usize, 0usize);
        if size == 0 {
            return Ok((0, 0));
        }
        // we'll create at most two more regions
        while self.ty(which).cnt + 2 > self.ty(which).max {
            if !self.memblock_double_array(which, base, size)? {
                let from = self.ty(which).max;
                return Err(MemblockError::NoMem {
                    name: which.name(),
                    from,
                });
            }
        }
        let t = self.ty_mut(which);
        let mut idx = 0usize;
        while idx < t.cnt {
            let r = t.regions[idx];
            let (rbase, rend) = (r.base, r.end());
            if rbase >= end {
                break;
            }
            if rend <= base {
                idx += 1;
                continue;
            }
            if rbase < base {
                // Intersects from below: split, continue with the new top half.
                t.regions[idx].base = base;
                t.regions[idx].size -= base - rbase;
                t.total_size -= base - rbase;
                t.insert_region(idx, rbase, base - rbase, r.nid, r.flags);
            } else if rend > end {
                // Intersects from above: split and redo the current (bottom) half.
                t.regions[idx].base = end;
                t.regions[idx].size -= end - rbase;
                t.total_size -= end - rbase;
                t.insert_region(idx, rbase, end - rbase, r.nid, r.flags);
                continue;
            } else {
                if end_rgn == 0 {
                    start_rgn = idx;
                }
                end_rgn = idx + 1;
            }
            idx += 1;
        }
        Ok((start_rgn, end_rgn))
    }

    /// mm/memblock.c: memblock_remove_range. Returns the number of bytes removed (0 when
    /// nothing of the range was in the array, which the kernel silently accepts).
    fn memblock_remove_range(
        &mut self,
        which: RegionType,
        base: u64,
        size: u64,
    ) -> Result<u64, MemblockError> {
        let (start_rgn, end_rgn) = self.memblock_isolate_range(which, base, size)?;
        let mut removed = 0;
        for i in (start_rgn..end_rgn).rev() {
            removed += self.ty(which).regions[i].size;
            self.memblock_remove_region(which, i);
        }
        Ok(removed)
    }

    /// mm/memblock.c: memblock_setclr_flag
    fn memblock_setclr_flag(
        &mut self,
        which: RegionType,
        base: u64,
        size: u64,
        set: bool,
        flag: MemblockFlags,
    ) -> Result<(), MemblockError> {
        let (s, e) = self.memblock_isolate_range(which, base, size)?;
        let t = self.ty_mut(which);
        for r in &mut t.regions[s..e] {
            if set {
                r.flags |= flag;
            } else {
                r.flags &= !flag;
            }
        }
        self.memblock_merge_regions(which, s, e);
        Ok(())
    }

    /// mm/memblock.c: memblock_mark_hotplug
    pub fn memblock_mark_hotplug(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.memblock_setclr_flag(RegionType::Memory, base, size, true, MemblockFlags::HOTPLUG)
    }
    /// mm/memblock.c: memblock_clear_hotplug
    pub fn memblock_clear_hotplug(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.memblock_setclr_flag(
            RegionType::Memory,
            base,
            size,
            false,
            MemblockFlags::HOTPLUG,
        )
    }
    /// mm/memblock.c: memblock_mark_mirror
    pub fn memblock_mark_mirror(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        if !self.mirrored_kernelcore {
            return Ok(());
        }
        self.system_has_some_mirror = true;
        self.memblock_setclr_flag(RegionType::Memory, base, size, true, MemblockFlags::MIRROR)
    }
    /// mm/memblock.c: memblock_mark_nomap
    pub fn memblock_mark_nomap(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.memblock_setclr_flag(RegionType::Memory, base, size, true, MemblockFlags::NOMAP)
    }
    /// mm/memblock.c: memblock_clear_nomap
    pub fn memblock_clear_nomap(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.memblock_setclr_flag(RegionType::Memory, base, size, false, MemblockFlags::NOMAP)
    }

    // ----- add / reserve / remove / free ---------------------------------------------------

    /// mm/memblock.c: memblock_add
    pub fn memblock_add(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        let caller = self.caller();
        let _t = self.trace.enter("memblock_add", FILE);
        if self.pa_format() {
            self.dbg(format_args!(
                "memblock_add: {}{}\n",
                self.range_text(base, size),
                caller
            ));
        } else if self.era.at_least(4, 1) {
            self.dbg(format_args!(
                "memblock_add: {} flags {:#02x}{}\n",
                self.range_text(base, size),
                0,
                caller
            ));
        }
        self.memblock_add_range(
            RegionType::Memory,
            base,
            size,
            MAX_NUMNODES,
            MemblockFlags::NONE,
        )
    }

    /// mm/memblock.c: memblock_add_node
    pub fn memblock_add_node(
        &mut self,
        base: u64,
        size: u64,
        nid: i32,
        flags: MemblockFlags,
    ) -> Result<(), MemblockError> {
        let caller = self.caller();
        let _t = self.trace.enter("memblock_add_node", FILE);
        let r = self.range_text(base, size);
        if self.era.at_least(6, 1) {
            self.dbg(format_args!(
                "memblock_add_node: {r} nid={nid} flags={:x}{caller}\n",
                flags.bits()
            ));
        } else if self.era.at_least(5, 15) {
            self.dbg(format_args!("memblock_add_node: {r} nid={nid}{caller}\n"));
        }
        self.memblock_add_range(RegionType::Memory, base, size, nid, flags)
    }

    /// mm/memblock.c: __memblock_reserve (6.16+; earlier kernels only have memblock_reserve).
    pub fn __memblock_reserve(
        &mut self,
        base: u64,
        size: u64,
        nid: i32,
        flags: MemblockFlags,
    ) -> Result<(), MemblockError> {
        let caller = self.caller();
        let _t = self.trace.enter("__memblock_reserve", FILE);
        let r = self.range_text(base, size);
        if self.has_rsrv_kern() {
            self.dbg(format_args!(
                "__memblock_reserve: {r} nid={nid} flags={:x}{caller}\n",
                flags.bits()
            ));
        } else if self.pa_format() {
            self.dbg(format_args!("memblock_reserve: {r}{caller}\n"));
        } else {
            self.dbg(format_args!(
                "memblock_reserve: {r} flags {:#02x}{caller}\n",
                flags.bits()
            ));
        }
        self.memblock_add_range(RegionType::Reserved, base, size, nid, flags)
    }

    /// include/linux/memblock.h: memblock_reserve (an inline wrapper from 6.16; before that
    /// mm/memblock.c, with `MAX_NUMNODES` as the node).
    pub fn memblock_reserve(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        let nid = if self.has_rsrv_kern() {
            NUMA_NO_NODE
        } else {
            MAX_NUMNODES
        };
        self.__memblock_reserve(base, size, nid, MemblockFlags::NONE)
    }

    /// include/linux/memblock.h: memblock_reserve_kern (6.16+; earlier eras reserve plainly).
    pub fn memblock_reserve_kern(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        if self.has_rsrv_kern() {
            self.__memblock_reserve(base, size, NUMA_NO_NODE, MemblockFlags::RSRV_KERN)
        } else {
            self.memblock_reserve(base, size)
        }
    }

    /// mm/memblock.c: memblock_remove. Returns the bytes removed (0: the range was not memory,
    /// which the kernel ignores).
    pub fn memblock_remove(&mut self, base: u64, size: u64) -> Result<u64, MemblockError> {
        let caller = self.caller();
        let _t = self.trace.enter("memblock_remove", FILE);
        if self.pa_format() {
            self.dbg(format_args!(
                "memblock_remove: {}{caller}\n",
                self.range_text(base, size)
            ));
        }
        self.memblock_remove_range(RegionType::Memory, base, size)
    }

    /// mm/memblock.c: memblock_phys_free (`memblock_free(phys_addr_t, size)` before 6.1).
    /// Returns the bytes that were reserved and are now free (0: nothing of the range was
    /// reserved, which the kernel ignores).
    pub fn memblock_phys_free(&mut self, base: u64, size: u64) -> Result<u64, MemblockError> {
        let caller = self.caller();
        let name = if self.era.at_least(6, 1) {
            "memblock_phys_free"
        } else {
            "memblock_free"
        };
        let _t = self.trace.enter(name, FILE);
        let r = self.range_text(base, size);
        if self.era.at_least(5, 10) {
            self.dbg(format_args!("{name}: {r}{caller}\n"));
        } else {
            self.dbg(format_args!("   memblock_free: {r}{caller}\n"));
        }
        self.memblock_remove_range(RegionType::Reserved, base, size)
    }

    /// mm/memblock.c: memblock_free (a pointer; bootmm's pointers are physical addresses).
    /// `NULL` does nothing.
    pub fn memblock_free(&mut self, ptr: u64, size: u64) -> Result<u64, MemblockError> {
        if ptr == 0 {
            return Ok(0);
        }
        self.memblock_phys_free(ptr, size)
    }

    /// mm/memblock.c: memblock_set_node (CONFIG_NUMA).
    pub fn memblock_set_node(
        &mut self,
        base: u64,
        size: u64,
        which: RegionType,
        nid: i32,
    ) -> Result<(), MemblockError> {
        let _t = self.trace.enter("memblock_set_node", FILE);
        let (s, e) = self.memblock_isolate_range(which, base, size)?;
        for r in &mut self.ty_mut(which).regions[s..e] {
            r.nid = nid;
        }
        self.memblock_merge_regions(which, s, e);
        Ok(())
    }

    /// mm/memblock.c: memblock_trim_memory. Like the kernel, shrinking a region does not
    /// update `memory.total_size`; dropping one does.
    pub fn memblock_trim_memory(&mut self, align: u64) {
        let _t = self.trace.enter("memblock_trim_memory", FILE);
        let mut i = 0;
        while i < self.memory.cnt {
            let r = self.memory.regions[i];
            let (orig_start, orig_end) = (r.base, r.end());
            let start = k_round_up(orig_start, align);
            let end = k_round_down(orig_end, align);
            if start == orig_start && end == orig_end {
                i += 1;
                continue;
            }
            if start < end {
                self.memory.regions[i].base = start;
                self.memory.regions[i].size = end - start;
                i += 1;
            } else {
                // The next region slid into slot i: look at it next.
                self.memblock_remove_region(RegionType::Memory, i);
            }
        }
    }

    // ----- iteration -----------------------------------------------------------------------

    /// mm/memblock.c: should_skip_region
    fn should_skip_region(
        &self,
        is_memory: bool,
        m: &MemblockRegion,
        nid: i32,
        flags: MemblockFlags,
    ) -> bool {
        if !is_memory {
            return false;
        }
        if numa_valid_node(nid) && nid != m.nid {
            return true;
        }
        if self.movable_node
            && m.flags.contains(MemblockFlags::HOTPLUG)
            && !flags.contains(MemblockFlags::HOTPLUG)
        {
            return true;
        }
        if flags.contains(MemblockFlags::MIRROR) && !m.flags.contains(MemblockFlags::MIRROR) {
            return true;
        }
        if !flags.contains(MemblockFlags::NOMAP) && m.flags.contains(MemblockFlags::NOMAP) {
            return true;
        }
        if self.era.at_least(5, 15)
            && !flags.contains(MemblockFlags::DRIVER_MANAGED)
            && m.flags.contains(MemblockFlags::DRIVER_MANAGED)
        {
            return true;
        }
        false
    }

    /// mm/memblock.c: __next_mem_range over memory minus reserved (`idx` as in the kernel:
    /// low 32 bits index memory, high 32 bits the gaps of reserved; `u64::MAX` ends).
    pub fn __next_mem_range(
        &self,
        idx: &mut u64,
        nid: i32,
        flags: MemblockFlags,
    ) -> Option<FreeRange> {
        let a = &self.memory;
        let b = &self.reserved;
        let mut idx_a = (*idx & 0xffff_ffff) as usize;
        let mut idx_b = (*idx >> 32) as usize;
        while idx_a < a.cnt {
            let m = &a.regions[idx_a];
            let (m_start, m_end) = (m.base, m.end());
            if self.should_skip_region(true, m, nid, flags) {
                idx_a += 1;
                continue;
            }
            while idx_b < b.cnt + 1 {
                let r_start = if idx_b > 0 {
                    b.regions[idx_b - 1].end()
                } else {
                    0
                };
                let r_end = if idx_b < b.cnt {
                    b.regions[idx_b].base
                } else {
                    PHYS_ADDR_MAX
                };
                if r_start >= m_end {
                    break;
                }
                if m_start < r_end {
                    let out = FreeRange {
                        start: m_start.max(r_start),
                        end: m_end.min(r_end),
                        nid: m.nid,
                    };
                    if m_end <= r_end {
                        idx_a += 1;
                    } else {
                        idx_b += 1;
                    }
                    *idx = idx_a as u64 | (idx_b as u64) << 32;
                    return Some(out);
                }
                idx_b += 1;
            }
            idx_a += 1;
        }
        *idx = u64::MAX;
        None
    }

    /// mm/memblock.c: __next_mem_range_rev (start with `*idx == u64::MAX`).
    pub fn __next_mem_range_rev(
        &self,
        idx: &mut u64,
        nid: i32,
        flags: MemblockFlags,
    ) -> Option<FreeRange> {
        let a = &self.memory;
        let b = &self.reserved;
        let (mut idx_a, mut idx_b): (i64, i64) = if *idx == u64::MAX {
            (a.cnt as i64 - 1, b.cnt as i64)
        } else {
            (
                (*idx & 0xffff_ffff) as u32 as i32 as i64,
                (*idx >> 32) as u32 as i32 as i64,
            )
        };
        while idx_a >= 0 {
            let m = &a.regions[idx_a as usize];
            let (m_start, m_end) = (m.base, m.end());
            if self.should_skip_region(true, m, nid, flags) {
                idx_a -= 1;
                continue;
            }
            while idx_b >= 0 {
                let ib = idx_b as usize;
                let r_start = if ib > 0 { b.regions[ib - 1].end() } else { 0 };
                let r_end = if ib < b.cnt {
                    b.regions[ib].base
                } else {
                    PHYS_ADDR_MAX
                };
                if r_end <= m_start {
                    break;
                }
                if m_end > r_start {
                    let out = FreeRange {
                        start: m_start.max(r_start),
                        end: m_end.min(r_end),
                        nid: m.nid,
                    };
                    if m_start >= r_start {
                        idx_a -= 1;
                    } else {
                        idx_b -= 1;
                    }
                    *idx = (idx_a as u32) as u64 | ((idx_b as u32) as u64) << 32;
                    return Some(out);
                }
                idx_b -= 1;
            }
            idx_a -= 1;
        }
        *idx = u64::MAX;
        None
    }

    /// mm/memblock.c: `__next_mem_pfn_range` as `for_each_mem_pfn_range(i, nid, …)` walks it:
    /// each memory region of node `nid` (every node for `MAX_NUMNODES`) as whole pages
    /// `[PFN_UP(base), PFN_DOWN(end))`, skipping regions with no whole page.
    pub fn for_each_mem_pfn_range(&self, nid: i32) -> Vec<(u64, u64, i32)> {
        self.memory
            .regions
            .iter()
            .filter(|r| nid == MAX_NUMNODES || r.nid == nid)
            .map(|r| {
                (
                    crate::include::addr::pfn_up(r.base),
                    crate::include::addr::pfn_down(r.end()),
                    r.nid,
                )
            })
            .filter(|(s, e, _)| s < e)
            .collect()
    }

    /// include/linux/memblock.h: for_each_free_mem_range (ascending).
    pub fn for_each_free_mem_range(&self, nid: i32, flags: MemblockFlags) -> Vec<FreeRange> {
        let mut out = Vec::new();
        let mut idx = 0u64;
        while let Some(r) = self.__next_mem_range(&mut idx, nid, flags) {
            out.push(r);
            if idx == u64::MAX {
                break;
            }
        }
        out
    }

    /// include/linux/memblock.h: for_each_free_mem_range_reverse (descending).
    pub fn for_each_free_mem_range_reverse(
        &self,
        nid: i32,
        flags: MemblockFlags,
    ) -> Vec<FreeRange> {
        let mut out = Vec::new();
        let mut idx = u64::MAX;
        while let Some(r) = self.__next_mem_range_rev(&mut idx, nid, flags) {
            out.push(r);
            if idx == u64::MAX {
                break;
            }
        }
        out
    }

    // ----- finding --------------------------------------------------------------------------

    /// mm/memblock.c: __memblock_find_range_bottom_up
    fn __memblock_find_range_bottom_up(
        &self,
        start: u64,
        end: u64,
        size: u64,
        align: u64,
        nid: i32,
        flags: MemblockFlags,
    ) -> u64 {
        for r in self.for_each_free_mem_range(nid, flags) {
            let this_start = clamp(r.start, start, end);
            let this_end = clamp(r.end, start, end);
            let cand = k_round_up(this_start, align);
            if cand < this_end && this_end - cand >= size {
                return cand;
            }
        }
        0
    }

    /// mm/memblock.c: __memblock_find_range_top_down
    fn __memblock_find_range_top_down(
        &self,
        start: u64,
        end: u64,
        size: u64,
        align: u64,
        nid: i32,
        flags: MemblockFlags,
    ) -> u64 {
        for r in self.for_each_free_mem_range_reverse(nid, flags) {
            let this_start = clamp(r.start, start, end);
            let this_end = clamp(r.end, start, end);
            if this_end < size {
                continue;
            }
            let cand = k_round_down(this_end - size, align);
            if cand >= this_start {
                return cand;
            }
        }
        0
    }

    /// mm/memblock.c: memblock_find_in_range_node. Returns 0 on failure, like the kernel.
    pub fn memblock_find_in_range_node(
        &self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        nid: i32,
        flags: MemblockFlags,
    ) -> u64 {
        let _t = self.trace.enter("memblock_find_in_range_node", FILE);
        let mut end = end;
        if end == MEMBLOCK_ALLOC_ACCESSIBLE
            || (end == MEMBLOCK_ALLOC_NOLEAKTRACE && self.era.at_least(5, 13))
        {
            end = self.current_limit;
        }
        // avoid allocating the first page
        let start = start.max(PAGE_SIZE);
        let end = start.max(end);
        if !self.era.at_least(6, 0) && self.bottom_up {
            // Older kernels first try above the kernel image, then fall back to top-down.
            if let Some(kernel_end) = self.kernel_end {
                if end > kernel_end {
                    let bottom_up_start = start.max(kernel_end);
                    let r = self.__memblock_find_range_bottom_up(
                        bottom_up_start,
                        end,
                        size,
                        align,
                        nid,
                        flags,
                    );
                    if r != 0 {
                        return r;
                    }
                }
                return self.__memblock_find_range_top_down(start, end, size, align, nid, flags);
            }
        }
        if self.bottom_up {
            self.__memblock_find_range_bottom_up(start, end, size, align, nid, flags)
        } else {
            self.__memblock_find_range_top_down(start, end, size, align, nid, flags)
        }
    }

    /// mm/memblock.c: choose_memblock_flags
    fn choose_memblock_flags(&self) -> MemblockFlags {
        if self.system_has_some_mirror {
            MemblockFlags::MIRROR
        } else {
            MemblockFlags::NONE
        }
    }

    fn warn_mirror(&self, size: u64) {
        crate::pr_warn!(
            self.printk,
            "Could not allocate {} bytes of mirrored memory\n",
            self.pa(size)
        );
    }

    /// mm/memblock.c: memblock_find_in_range. Returns 0 on failure.
    pub fn memblock_find_in_range(&self, start: u64, end: u64, size: u64, align: u64) -> u64 {
        let mut flags = self.choose_memblock_flags();
        loop {
            let ret =
                self.memblock_find_in_range_node(size, align, start, end, NUMA_NO_NODE, flags);
            if ret == 0 && flags.contains(MemblockFlags::MIRROR) {
                self.warn_mirror(size);
                flags.remove(MemblockFlags::MIRROR);
                continue;
            }
            return ret;
        }
    }

    // ----- allocating ----------------------------------------------------------------------

    /// Reserve what an allocation found: `__memblock_reserve(found, size, nid, RSRV_KERN)` in
    /// 6.16+, `memblock_reserve(found, size)` before. `Ok(false)` is the kernel's non-zero return.
    fn reserve_found(&mut self, found: u64, size: u64, nid: i32) -> Result<bool, MemblockError> {
        let r = if self.has_rsrv_kern() {
            self.__memblock_reserve(found, size, nid, MemblockFlags::RSRV_KERN)
        } else {
            self.memblock_reserve(found, size)
        };
        match r {
            Ok(()) => Ok(true),
            Err(MemblockError::NoMem { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// mm/memblock.c: memblock_alloc_range_nid. `Ok(None)` is the kernel's 0.
    pub fn memblock_alloc_range_nid(
        &mut self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        nid: i32,
        exact_nid: bool,
    ) -> Result<Option<PhysAddr>, MemblockError> {
        let _t = self.trace.enter("memblock_alloc_range_nid", FILE);
        let mut flags = self.choose_memblock_flags();
        // The kernel dump_stack()s here; bootmm cannot show a stack and only fixes the alignment.
        let align = if align == 0 {
            self.smp_cache_bytes
        } else {
            align
        };
        loop {
            let found = self.memblock_find_in_range_node(size, align, start, end, nid, flags);
            if found != 0 && self.reserve_found(found, size, nid)? {
                return Ok(Some(PhysAddr(found)));
            }
            if numa_valid_node(nid) && !exact_nid {
                let found =
                    self.memblock_find_in_range_node(size, align, start, end, NUMA_NO_NODE, flags);
                // memblock_reserve_kern(found, size) (plain memblock_reserve before 6.16)
                if found != 0 && self.reserve_found(found, size, NUMA_NO_NODE)? {
                    return Ok(Some(PhysAddr(found)));
                }
            }
            if flags.contains(MemblockFlags::MIRROR) {
                flags.remove(MemblockFlags::MIRROR);
                self.warn_mirror(size);
                continue;
            }
            return Ok(None);
        }
    }

    /// mm/memblock.c: memblock_phys_alloc_range
    pub fn memblock_phys_alloc_range(
        &mut self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
    ) -> Result<Option<PhysAddr>, MemblockError> {
        let caller = self.caller();
        let _t = self.trace.enter("memblock_phys_alloc_range", FILE);
        if self.debug && self.era.at_least(5, 15) {
            self.dbg(format_args!(
                "memblock_phys_alloc_range: {size} bytes align={align:#x} from={} max_addr={}{caller}\n",
                self.pa(start),
                self.pa(end)
            ));
        }
        self.memblock_alloc_range_nid(size, align, start, end, NUMA_NO_NODE, false)
    }

    /// include/linux/memblock.h: memblock_phys_alloc
    pub fn memblock_phys_alloc(
        &mut self,
        size: u64,
        align: u64,
    ) -> Result<Option<PhysAddr>, MemblockError> {
        self.memblock_phys_alloc_range(size, align, 0, MEMBLOCK_ALLOC_ACCESSIBLE)
    }

    /// mm/memblock.c: memblock_phys_alloc_try_nid
    pub fn memblock_phys_alloc_try_nid(
        &mut self,
        size: u64,
        align: u64,
        nid: i32,
    ) -> Result<Option<PhysAddr>, MemblockError> {
        let _t = self.trace.enter("memblock_phys_alloc_try_nid", FILE);
        self.memblock_alloc_range_nid(size, align, 0, MEMBLOCK_ALLOC_ACCESSIBLE, nid, false)
    }

    /// mm/memblock.c: memblock_alloc_internal
    fn memblock_alloc_internal(
        &mut self,
        size: u64,
        align: u64,
        min_addr: u64,
        max_addr: u64,
        nid: i32,
        exact_nid: bool,
    ) -> Result<Option<PhysAddr>, MemblockError> {
        let _t = self.trace.enter("memblock_alloc_internal", FILE);
        let max_addr = max_addr.min(self.current_limit);
        let mut alloc =
            self.memblock_alloc_range_nid(size, align, min_addr, max_addr, nid, exact_nid)?;
        // retry allocation without lower limit
        if alloc.is_none() && min_addr != 0 {
            alloc = self.memblock_alloc_range_nid(size, align, 0, max_addr, nid, exact_nid)?;
        }
        Ok(alloc)
    }

    /// The debug line of the try_nid family ("%s: %llu bytes align=0x%llx nid=%d from=%pa
    /// max_addr=%pa %pS"; before 4.19 with 0x%llx and the memblock_virt_alloc names).
    #[allow(clippy::too_many_arguments)]
    fn dbg_try_nid(
        &self,
        func: &str,
        size: u64,
        align: u64,
        min_addr: u64,
        max_addr: u64,
        nid: i32,
        caller: &str,
    ) {
        if !self.debug {
            return;
        }
        if self.pa_format() {
            let func = if boot_allocs_via_bootmem(&self.era) {
                func.replacen("memblock_alloc", "memblock_virt_alloc", 1)
            } else {
                String::from(func)
            };
            self.dbg(format_args!(
                "{func}: {size} bytes align={align:#x} nid={nid} from={} max_addr={}{caller}\n",
                self.pa(min_addr),
                self.pa(max_addr)
            ));
        } else {
            let func = func.replacen("memblock_alloc", "memblock_virt_alloc", 1);
            self.dbg(format_args!(
                "{func}: {size} bytes align={align:#x} nid={nid} from={min_addr:#x} max_addr={max_addr:#x}{caller}\n"
            ));
        }
    }

    fn zero(&self, p: PhysAddr, size: u64) -> Result<(), MemblockError> {
        if let Some(phys) = &self.phys {
            phys.memset(p, 0, size)?;
        }
        Ok(())
    }

    /// The body the `memblock_alloc_try_nid` family shares (mm/memblock.c): the debug line
    /// under the caller-visible name, the allocation, and zeroing for the non-raw variants.
    #[allow(clippy::too_many_arguments)]
    fn alloc_try_nid_named(
        &mut self,
        name: &'static str,
        size: u64,
        align: u64,
        min_addr: u64,
        max_addr: u64,
        nid: i32,
        exact_nid: bool,
        zero: bool,
    ) -> Result<Option<PhysAddr>, MemblockError> {
        let caller = self.caller();
        let _t = self.trace.enter(name, FILE);
        self.dbg_try_nid(name, size, align, min_addr, max_addr, nid, &caller);
        let p = self.memblock_alloc_internal(size, align, min_addr, max_addr, nid, exact_nid)?;
        if let (true, Some(p)) = (zero, p) {
            self.zero(p, size)?;
        }
        Ok(p)
    }

    /// mm/nobootmem.c: `__alloc_memory_core_early` behind `___alloc_bootmem_node_nopanic`
    /// (x86 until 4.19): find and reserve, zeroed, without the allocation line memblock's
    /// own allocators print (a memblock=debug log shows only the `memblock_reserve`).
    pub fn __alloc_memory_core_early(
        &mut self,
        nid: i32,
        size: u64,
        align: u64,
        goal: u64,
        limit: u64,
    ) -> Result<Option<PhysAddr>, MemblockError> {
        let _t = self
            .trace
            .enter("__alloc_memory_core_early", "mm/nobootmem.c");
        let p = self.memblock_alloc_internal(size, align, goal, limit, nid, false)?;
        if let Some(p) = p {
            self.zero(p, size)?;
        }
        Ok(p)
    }

    /// mm/memblock.c: memblock_alloc_exact_nid_raw
    pub fn memblock_alloc_exact_nid_raw(
        &mut self,
        size: u64,
        align: u64,
        min_addr: u64,
        max_addr: u64,
        nid: i32,
    ) -> Result<Option<PhysAddr>, MemblockError> {
        self.alloc_try_nid_named(
            "memblock_alloc_exact_nid_raw",
            size,
            align,
            min_addr,
            max_addr,
            nid,
            true,
            false,
        )
    }

    /// mm/memblock.c: memblock_alloc_try_nid_raw
    pub fn memblock_alloc_try_nid_raw(
        &mut self,
        size: u64,
        align: u64,
        min_addr: u64,
        max_addr: u64,
        nid: i32,
    ) -> Result<Option<PhysAddr>, MemblockError> {
        self.alloc_try_nid_named(
            "memblock_alloc_try_nid_raw",
            size,
            align,
            min_addr,
            max_addr,
            nid,
            false,
            false,
        )
    }

    /// mm/memblock.c: memblock_alloc_try_nid (zeroes the block).
    pub fn memblock_alloc_try_nid(
        &mut self,
        size: u64,
        align: u64,
        min_addr: u64,
        max_addr: u64,
        nid: i32,
    ) -> Result<Option<PhysAddr>, MemblockError> {
        self.alloc_try_nid_named(
            "memblock_alloc_try_nid",
            size,
            align,
            min_addr,
            max_addr,
            nid,
            false,
            true,
        )
    }

    /// mm/memblock.c: memblock_alloc_try_nid_nopanic (before 5.2; `memblock_virt_alloc_…`
    /// before 4.20): memblock_alloc_try_nid under the name that does not panic.
    pub fn memblock_alloc_try_nid_nopanic(
        &mut self,
        size: u64,
        align: u64,
        min_addr: u64,
        max_addr: u64,
        nid: i32,
    ) -> Result<Option<PhysAddr>, MemblockError> {
        self.alloc_try_nid_named(
            "memblock_alloc_try_nid_nopanic",
            size,
            align,
            min_addr,
            max_addr,
            nid,
            false,
            true,
        )
    }

    /// mm/nobootmem.c, mm/memblock.c: __memblock_free_early (before 4.20): free a boot
    /// allocation, printing the range even when it is empty.
    pub fn __memblock_free_early(&mut self, base: u64, size: u64) -> Result<u64, MemblockError> {
        let caller = self.caller();
        let _t = self.trace.enter("__memblock_free_early", FILE);
        let end = base.wrapping_add(size).wrapping_sub(1);
        self.dbg(format_args!(
            "__memblock_free_early: [{base:#016x}-{end:#016x}]{caller}\n"
        ));
        self.memblock_remove_range(RegionType::Reserved, base, size)
    }

    /// include/linux/memblock.h: memblock_alloc
    pub fn memblock_alloc(
        &mut self,
        size: u64,
        align: u64,
    ) -> Result<Option<PhysAddr>, MemblockError> {
        self.memblock_alloc_try_nid(
            size,
            align,
            MEMBLOCK_LOW_LIMIT,
            MEMBLOCK_ALLOC_ACCESSIBLE,
            NUMA_NO_NODE,
        )
    }

    /// include/linux/memblock.h: memblock_alloc_raw
    pub fn memblock_alloc_raw(
        &mut self,
        size: u64,
        align: u64,
    ) -> Result<Option<PhysAddr>, MemblockError> {
        self.memblock_alloc_try_nid_raw(
            size,
            align,
            MEMBLOCK_LOW_LIMIT,
            MEMBLOCK_ALLOC_ACCESSIBLE,
            NUMA_NO_NODE,
        )
    }

    /// include/linux/memblock.h: memblock_alloc_from
    pub fn memblock_alloc_from(
        &mut self,
        size: u64,
        align: u64,
        min_addr: u64,
    ) -> Result<Option<PhysAddr>, MemblockError> {
        self.memblock_alloc_try_nid(
            size,
            align,
            min_addr,
            MEMBLOCK_ALLOC_ACCESSIBLE,
            NUMA_NO_NODE,
        )
    }

    /// include/linux/memblock.h: memblock_alloc_low
    pub fn memblock_alloc_low(
        &mut self,
        size: u64,
        align: u64,
    ) -> Result<Option<PhysAddr>, MemblockError> {
        let limit = self.arch_low_address_limit;
        self.memblock_alloc_try_nid(size, align, MEMBLOCK_LOW_LIMIT, limit, NUMA_NO_NODE)
    }

    /// include/linux/memblock.h: memblock_alloc_node
    pub fn memblock_alloc_node(
        &mut self,
        size: u64,
        align: u64,
        nid: i32,
    ) -> Result<Option<PhysAddr>, MemblockError> {
        self.memblock_alloc_try_nid(
            size,
            align,
            MEMBLOCK_LOW_LIMIT,
            MEMBLOCK_ALLOC_ACCESSIBLE,
            nid,
        )
    }

    // ----- dumping -------------------------------------------------------------------------

    /// mm/memblock.c: memblock_dump
    fn memblock_dump(&self, which: RegionType) {
        let t = self.ty(which);
        crate::pr_info!(self.printk, " {}.cnt  = {:#x}\n", t.name, t.cnt);
        for (idx, r) in t.regions.iter().enumerate() {
            let end = r.base.wrapping_add(r.size).wrapping_sub(1);
            // 6.12: regions without a node hold NUMA_NO_NODE (MAX_NUMNODES before).
            let node_text = if self.era.at_least(6, 12) {
                numa_valid_node(r.nid)
            } else {
                r.nid != MAX_NUMNODES
            };
            let nid_buf = if node_text {
                format!(" on node {}", r.nid)
            } else {
                String::new()
            };
            if self.pa_format() {
                crate::pr_info!(
                    self.printk,
                    " {}[{:#x}]\t[{}-{}], {} bytes{} flags: {:#x}\n",
                    t.name,
                    idx,
                    self.pa(r.base),
                    self.pa(end),
                    self.pa(r.size),
                    nid_buf,
                    r.flags.bits()
                );
            } else {
                crate::pr_info!(
                    self.printk,
                    " {}[{:#x}]\t[{:#016x}-{:#016x}], {:#x} bytes{} flags: {:#x}\n",
                    t.name,
                    idx,
                    r.base,
                    end,
                    r.size,
                    nid_buf,
                    r.flags.bits()
                );
            }
        }
    }

    /// mm/memblock.c: __memblock_dump_all (prints whether or not `memblock=debug` is set).
    pub fn __memblock_dump_all(&self) {
        crate::pr_info!(self.printk, "MEMBLOCK configuration:\n");
        if self.pa_format() {
            crate::pr_info!(
                self.printk,
                " memory size = {} reserved size = {}\n",
                self.pa(self.memory.total_size),
                self.pa(self.reserved.total_size)
            );
        } else {
            crate::pr_info!(
                self.printk,
                " memory size = {:#x} reserved size = {:#x}\n",
                self.memory.total_size,
                self.reserved.total_size
            );
        }
        self.memblock_dump(RegionType::Memory);
        self.memblock_dump(RegionType::Reserved);
    }

    /// mm/memblock.c: memblock_dump_all (only with `memblock=debug`).
    pub fn memblock_dump_all(&self) {
        if self.debug {
            self.__memblock_dump_all();
        }
    }

    // ----- the kernel test suite's helpers -------------------------------------------------

    /// tools/testing/memblock/tests/common.c: reset_memblock_regions. The arrays also go back
    /// to the static ones, which the suite's doubling tests do by hand afterwards.
    pub fn reset_memblock_regions(&mut self) {
        let dummy = empty_has_dummy(&self.era);
        self.memory = MemblockType::new("memory", dummy);
        self.reserved = MemblockType::new("reserved", dummy);
    }

    /// tools/testing/memblock/tests/common.c: reset_memblock_attributes
    pub fn reset_memblock_attributes(&mut self) {
        self.bottom_up = false;
        self.current_limit = MEMBLOCK_ALLOC_ANYWHERE;
    }
}

#[cfg(test)]
mod tests;
