// SPDX-License-Identifier: GPL-2.0-only
//! mm/bootmem.c: the 2.6 bitmap boot allocator.
//!
//! DOC: before the buddy allocator exists, each node's low memory is described by one bitmap
//! with a bit per page frame, 1 meaning reserved. `init_bootmem_node` places the bitmap in
//! the node's own RAM and marks every page reserved; the architecture then frees the usable
//! RAM (`free_bootmem`) and reserves what is in use (`reserve_bootmem`: the kernel image, the
//! initrd, the bitmap itself). `alloc_bootmem` and its relatives search the bitmap for a run
//! of free pages at or above a goal and below a limit, and pack consecutive small
//! allocations into the tail of the previous one's last page. `free_all_bootmem` finally
//! hands every free page to the buddy allocator, and the bitmap's own pages after them.
//!
//! Two algorithms, chosen once per era ([`BootmemAlgo`]):
//!
//! - up to 2.6.26 ([`BootmemAlgo::Pre2627`]): `__alloc_bootmem_core` starts at the goal or
//!   at `last_success` (the last allocation's page, lowered by frees) and retries from the
//!   node start; it merges into the previous allocation's page through `last_pos` /
//!   `last_offset`. `node_boot_start` is a physical address. Reserve and free are per node
//!   (`reserve_bootmem` / `free_bootmem` act on node 0).
//! - 2.6.27 to 2.6.33 ([`BootmemAlgo::Hinted`], Johannes Weiner's rewrite): the node is
//!   `node_min_pfn`; `alloc_bootmem_core` starts at the goal, or past `hint_idx` (the end of
//!   the last allocation, lowered by frees) with a `fallback` retry from the goal; merging
//!   uses `last_end_off`; alignment is absolute (`align_idx` / `align_off`); reserve and free
//!   go through `mark_bootmem`, which spans nodes, and `BOOTMEM_EXCLUSIVE` reserve undoes
//!   itself and returns -EBUSY; `___alloc_bootmem_nopanic` retries from goal 0.
//!
//! The model follows 2.6.24's text for the first and 2.6.32's for the second. The bitmap
//! lives in simulated RAM at the address the caller gives, accessed through [`BitmapMem`].
//! Where the kernel calls BUG() or panics, the model returns a [`BootmemError`] instead and
//! leaves the bitmap as it was (the kernel stops there, so nothing depends on the state it
//! leaves).

use alloc::vec::Vec;
use core::fmt;

use crate::era::Era;
use crate::include::{Pfn, PhysAddr, PAGE_SHIFT, PAGE_SIZE, SMP_CACHE_BYTES};
use crate::mm::nobootmem::BOOTMEM_GOAL;
use crate::phys::{PhysError, PhysMem};

/// include/linux/bootmem.h `BOOTMEM_DEFAULT`: a reserve that tolerates reserved pages.
pub const BOOTMEM_DEFAULT: u32 = 0;
/// include/linux/bootmem.h `BOOTMEM_EXCLUSIVE` (2.6.25): fail with -EBUSY if any page of the
/// range is reserved already.
pub const BOOTMEM_EXCLUSIVE: u32 = 1 << 0;

/// `EBUSY` (include/asm-generic/errno-base.h).
pub const EBUSY: i32 = 16;

/// mm/bootmem.c `ARCH_LOW_ADDRESS_LIMIT`: x86 does not define it, so both x86_64 and i386
/// take the generic `0xffffffffUL`. The limit is exclusive and rounded down to a page, so
/// the low allocations end below pfn 0xfffff: the last page under 4 GiB is never used.
pub const ARCH_LOW_ADDRESS_LIMIT: u64 = 0xffff_ffff;

/// Which mm/bootmem.c the era has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootmemAlgo {
    /// Up to 2.6.26: `__alloc_bootmem_core` with `last_success`, `last_pos` / `last_offset`.
    Pre2627,
    /// 2.6.27 (Johannes Weiner's "bootmem: clean up" series) to 2.6.33, the last release
    /// before CONFIG_NO_BOOTMEM: `alloc_bootmem_core` with `hint_idx`, `last_end_off` and
    /// the `fallback` retry.
    Hinted,
}

impl BootmemAlgo {
    /// The algorithm the era's mm/bootmem.c has (2.6.27 introduced [`BootmemAlgo::Hinted`]).
    pub fn for_era(era: &Era) -> Self {
        if era.at_least_patch(2, 6, 27) {
            BootmemAlgo::Hinted
        } else {
            BootmemAlgo::Pre2627
        }
    }
}

/// `BITS_PER_LONG` of the era's architecture: 64 on x86_64, 32 on i386.
pub fn bits_per_long(era: &Era) -> u32 {
    if era.is_64bit() {
        64
    } else {
        32
    }
}

/// What the kernel would have done instead of returning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootmemError {
    /// The kernel hits BUG() (`BUG_ON(cond)`): `func` is the kernel function, `what` the
    /// condition or message.
    Bug {
        func: &'static str,
        what: &'static str,
    },
    /// `-EBUSY`: a `BOOTMEM_EXCLUSIVE` reserve found a reserved page.
    Busy,
    /// The panicking allocators found nothing: `printk(KERN_ALERT "bootmem alloc of %lu
    /// bytes failed!\n")` then `panic("Out of memory")` (2.6.24's low forms: "low bootmem
    /// alloc ..." and "Out of low memory").
    OutOfMemory { size: u64, low: bool },
    /// No bootmem node with that id was initialised.
    NoNode { nid: usize },
    /// The bitmap is not in simulated RAM.
    Phys(PhysError),
}

impl BootmemError {
    /// The kernel's return value for the errors it returns (-EBUSY), else `None`.
    pub fn errno(&self) -> Option<i32> {
        match self {
            BootmemError::Busy => Some(-EBUSY),
            _ => None,
        }
    }
}

impl fmt::Display for BootmemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootmemError::Bug { func, what } => {
                write!(f, "kernel BUG at mm/bootmem.c ({func}): {what}")
            }
            BootmemError::Busy => write!(f, "-EBUSY: the range is already reserved"),
            BootmemError::OutOfMemory { size, low: false } => {
                write!(f, "bootmem alloc of {size} bytes failed! Kernel panic - not syncing: Out of memory")
            }
            BootmemError::OutOfMemory { size, low: true } => write!(
                f,
                "low bootmem alloc of {size} bytes failed! Kernel panic - not syncing: Out of low memory"
            ),
            BootmemError::NoNode { nid } => write!(f, "no bootmem allocator on node {nid}"),
            BootmemError::Phys(e) => write!(f, "bootmem bitmap: {e}"),
        }
    }
}

impl From<PhysError> for BootmemError {
    fn from(e: PhysError) -> Self {
        BootmemError::Phys(e)
    }
}

const fn bug(func: &'static str, what: &'static str) -> BootmemError {
    BootmemError::Bug { func, what }
}

/// The memory holding the bitmap (and the allocations `alloc_bootmem` zeroes): simulated RAM
/// ([`PhysMem`]), or any test double.
pub trait BitmapMem {
    /// Read the little-endian 64-bit word at `pa`.
    fn read_u64(&self, pa: PhysAddr) -> Result<u64, PhysError>;
    /// Write the 64-bit word at `pa`.
    fn write_u64(&self, pa: PhysAddr, v: u64) -> Result<(), PhysError>;
    /// `memset(__va(pa), byte, len)`.
    fn memset(&self, pa: PhysAddr, byte: u8, len: u64) -> Result<(), PhysError>;
}

impl BitmapMem for PhysMem {
    fn read_u64(&self, pa: PhysAddr) -> Result<u64, PhysError> {
        PhysMem::read_u64(self, pa)
    }
    fn write_u64(&self, pa: PhysAddr, v: u64) -> Result<(), PhysError> {
        PhysMem::write_u64(self, pa, v)
    }
    fn memset(&self, pa: PhysAddr, byte: u8, len: u64) -> Result<(), PhysError> {
        PhysMem::memset(self, pa, byte, len)
    }
}

const fn pfn_up(x: u64) -> u64 {
    (x >> PAGE_SHIFT) + (x & (PAGE_SIZE - 1) != 0) as u64
}

const fn pfn_down(x: u64) -> u64 {
    x >> PAGE_SHIFT
}

const fn pfn_phys(x: u64) -> u64 {
    x << PAGE_SHIFT
}

/// The kernel's `ALIGN(x, a)` for a power of two, including `ALIGN(x, 0) == 0`.
const fn kalign(x: u64, a: u64) -> u64 {
    let mask = a.wrapping_sub(1);
    x.wrapping_add(mask) & !mask
}

/// mm/bootmem.c (2.6.27+) `bootmap_bytes`, 2.6.24 `get_mapsize`: the bitmap's bytes for
/// `pages` pages, rounded to `sizeof(long)`.
pub fn bootmap_bytes(pages: u64, bits_per_long: u32) -> u64 {
    kalign(pages.div_ceil(8), u64::from(bits_per_long / 8))
}

/// mm/bootmem.c `bootmem_bootmap_pages` (all eras): the pages a bitmap for `pages` pages
/// takes. The kernel rounds the bytes to `sizeof(long)` first, which never changes the page
/// count.
pub fn bootmem_bootmap_pages(pages: u64) -> u64 {
    pfn_up(pages.div_ceil(8))
}

/// mm/bootmem.c `bootmem_data_t` (include/linux/bootmem.h): one node's allocator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootmemData {
    /// The node (`bdata - bootmem_node_data`).
    pub nid: usize,
    /// The era's algorithm, chosen once.
    pub algo: BootmemAlgo,
    /// `BITS_PER_LONG`: the word `free_all_bootmem_core` walks the bitmap in.
    pub bits_per_long: u32,
    /// `node_min_pfn` (2.6.27+); 2.6.24's `node_boot_start` is `PFN_PHYS` of it.
    pub node_min_pfn: u64,
    /// `node_low_pfn`: the end (exclusive) of the node's low memory.
    pub node_low_pfn: u64,
    /// `node_bootmem_map` as a physical address; `None` before `init_bootmem_core` (and, in
    /// 2.6.24, after `free_all_bootmem_core`).
    pub node_bootmem_map: Option<PhysAddr>,
    /// 2.6.27+ `hint_idx`: the node-relative page the next search starts from.
    pub hint_idx: u64,
    /// 2.6.27+ `last_end_off`: the node-relative end (byte) of the last allocation.
    pub last_end_off: u64,
    /// 2.6.24 `last_success`: mixed units as in the kernel (alloc stores the node-relative
    /// `PFN_PHYS(start)`, free lowers it to an absolute address).
    pub last_success: u64,
    /// 2.6.24 `last_offset`: bytes used in the last allocation's last page.
    pub last_offset: u64,
    /// 2.6.24 `last_pos`: the node-relative index of the last allocation's last page.
    pub last_pos: u64,
}

impl BootmemData {
    /// A zeroed `bootmem_data_t` (`bootmem_node_data[nid]` is `__initdata`, all zero).
    pub fn new(era: &Era, nid: usize) -> Self {
        BootmemData {
            nid,
            algo: BootmemAlgo::for_era(era),
            bits_per_long: bits_per_long(era),
            node_min_pfn: 0,
            node_low_pfn: 0,
            node_bootmem_map: None,
            hint_idx: 0,
            last_end_off: 0,
            last_success: 0,
            last_offset: 0,
            last_pos: 0,
        }
    }

    /// The node's pages (`node_low_pfn - node_min_pfn`).
    pub fn pages(&self) -> u64 {
        self.node_low_pfn.saturating_sub(self.node_min_pfn)
    }

    /// 2.6.24 `node_boot_start`.
    fn node_boot_start(&self) -> u64 {
        pfn_phys(self.node_min_pfn)
    }

    fn check_invariants(&self) {
        debug_assert!(self.node_min_pfn <= self.node_low_pfn);
        if self.algo == BootmemAlgo::Hinted {
            debug_assert!(
                self.hint_idx <= self.pages(),
                "hint_idx {:#x} beyond the node's {:#x} pages",
                self.hint_idx,
                self.pages()
            );
            debug_assert!(self.last_end_off <= pfn_phys(self.pages()));
        } else {
            debug_assert!(self.last_offset < PAGE_SIZE);
        }
    }

    fn word_addr(map: PhysAddr, idx: u64) -> PhysAddr {
        map + (idx / 64) * 8
    }

    /// `test_bit(idx, node_bootmem_map)`.
    fn test_bit(&self, mem: &dyn BitmapMem, map: PhysAddr, idx: u64) -> Result<bool, PhysError> {
        Ok(mem.read_u64(Self::word_addr(map, idx))? >> (idx % 64) & 1 != 0)
    }

    fn write_bit(
        &self,
        mem: &dyn BitmapMem,
        map: PhysAddr,
        idx: u64,
        set: bool,
    ) -> Result<bool, PhysError> {
        let a = Self::word_addr(map, idx);
        let w = mem.read_u64(a)?;
        let m = 1u64 << (idx % 64);
        mem.write_u64(a, if set { w | m } else { w & !m })?;
        Ok(w & m != 0)
    }

    /// `find_next_zero_bit(map, size, offset)`: the first clear bit in `[offset, size)`, or
    /// `size`.
    fn find_next_zero_bit(
        &self,
        mem: &dyn BitmapMem,
        map: PhysAddr,
        size: u64,
        offset: u64,
    ) -> Result<u64, PhysError> {
        let mut i = offset;
        while i < size {
            let inv = !mem.read_u64(Self::word_addr(map, i))? >> (i % 64);
            if inv != 0 {
                return Ok((i + u64::from(inv.trailing_zeros())).min(size));
            }
            i = (i / 64 + 1) * 64;
        }
        Ok(size)
    }

    /// The first set bit in `[from, to)`.
    fn find_set_bit(
        &self,
        mem: &dyn BitmapMem,
        map: PhysAddr,
        from: u64,
        to: u64,
    ) -> Result<Option<u64>, PhysError> {
        let mut i = from;
        while i < to {
            let w = mem.read_u64(Self::word_addr(map, i))? >> (i % 64);
            if w != 0 {
                let r = i + u64::from(w.trailing_zeros());
                return Ok((r < to).then_some(r));
            }
            i = (i / 64 + 1) * 64;
        }
        Ok(None)
    }

    /// `map[word]` read as an `unsigned long` of `BITS_PER_LONG` bits.
    fn read_long(&self, mem: &dyn BitmapMem, map: PhysAddr, word: u64) -> Result<u64, PhysError> {
        if self.bits_per_long == 64 {
            mem.read_u64(map + word * 8)
        } else {
            let w = mem.read_u64(map + (word / 2) * 8)?;
            Ok((w >> (32 * (word % 2))) & 0xffff_ffff)
        }
    }

    /// Whether page `pfn` of this node is reserved in the bitmap (`None` outside the node or
    /// before `init_bootmem_core`).
    ///
    /// # Errors
    /// The bitmap is outside simulated RAM.
    pub fn is_reserved(&self, mem: &dyn BitmapMem, pfn: Pfn) -> Result<Option<bool>, PhysError> {
        match self.node_bootmem_map {
            Some(map) if (self.node_min_pfn..self.node_low_pfn).contains(&pfn.0) => {
                Ok(Some(self.test_bit(mem, map, pfn.0 - self.node_min_pfn)?))
            }
            _ => Ok(None),
        }
    }

    fn map(&self, func: &'static str) -> Result<PhysAddr, BootmemError> {
        self.node_bootmem_map
            .ok_or(bug(func, "BUG_ON(!bdata->node_bootmem_map)"))
    }

    /// mm/bootmem.c `init_bootmem_core` (all eras): the bitmap at pfn `mapstart` covers
    /// `[start, end)`, every page reserved (`memset(map, 0xff, mapsize)`). Returns the
    /// bitmap's size in bytes. 2.6.27+ also clamps the range with
    /// `mminit_validate_memmodel_limits`, which only matters past MAX_PHYSMEM_BITS and is
    /// left to the caller.
    ///
    /// # Errors
    /// `end < start` (the kernel would compute a huge bitmap); the bitmap outside simulated
    /// RAM.
    pub fn init_bootmem_core(
        &mut self,
        mem: &dyn BitmapMem,
        mapstart: Pfn,
        start: Pfn,
        end: Pfn,
    ) -> Result<u64, BootmemError> {
        if end.0 < start.0 {
            return Err(bug("init_bootmem_core", "end pfn below start pfn"));
        }
        let map = PhysAddr(pfn_phys(mapstart.0));
        let mapsize = bootmap_bytes(end.0 - start.0, self.bits_per_long);
        mem.memset(map, 0xff, mapsize)?;
        self.node_bootmem_map = Some(map);
        self.node_min_pfn = start.0;
        self.node_low_pfn = end.0;
        self.check_invariants();
        Ok(mapsize)
    }

    /// mm/bootmem.c `init_bootmem_node`: [`Self::init_bootmem_core`] for this node.
    ///
    /// # Errors
    /// As [`Self::init_bootmem_core`].
    pub fn init_bootmem_node(
        &mut self,
        mem: &dyn BitmapMem,
        freepfn: Pfn,
        startpfn: Pfn,
        endpfn: Pfn,
    ) -> Result<u64, BootmemError> {
        self.init_bootmem_core(mem, freepfn, startpfn, endpfn)
    }

    /// mm/bootmem.c (2.6.27+) `__free`: clear bits `[sidx, eidx)` and lower `hint_idx` to
    /// `sidx` (even for an empty range).
    ///
    /// # Errors
    /// A bit already clear: the kernel's `BUG()` (checked before anything changes).
    fn __free(&mut self, mem: &dyn BitmapMem, sidx: u64, eidx: u64) -> Result<(), BootmemError> {
        let map = self.map("__free")?;
        for idx in sidx..eidx {
            if !self.test_bit(mem, map, idx)? {
                return Err(bug("__free", "test_and_clear_bit found a free page"));
            }
        }
        if self.hint_idx > sidx {
            self.hint_idx = sidx;
        }
        for idx in sidx..eidx {
            self.write_bit(mem, map, idx, false)?;
        }
        self.check_invariants();
        Ok(())
    }

    /// mm/bootmem.c (2.6.27+) `__reserve`: set bits `[sidx, eidx)`. With
    /// `BOOTMEM_EXCLUSIVE`, a bit already set makes it `__free` what it set (lowering
    /// `hint_idx` to `sidx`) and return -EBUSY; otherwise a double reserve is silent.
    fn __reserve(
        &mut self,
        mem: &dyn BitmapMem,
        sidx: u64,
        eidx: u64,
        flags: u32,
    ) -> Result<(), BootmemError> {
        let map = self.map("__reserve")?;
        for idx in sidx..eidx {
            if self.write_bit(mem, map, idx, true)? && flags & BOOTMEM_EXCLUSIVE != 0 {
                self.__free(mem, sidx, idx)?;
                return Err(BootmemError::Busy);
            }
        }
        Ok(())
    }

    /// mm/bootmem.c (2.6.27+) `mark_bootmem_node`: reserve or free pfns `[start, end)`.
    ///
    /// # Errors
    /// `BUG_ON(start < bdata->node_min_pfn)`, `BUG_ON(end > bdata->node_low_pfn)`; -EBUSY.
    fn mark_bootmem_node(
        &mut self,
        mem: &dyn BitmapMem,
        start: u64,
        end: u64,
        reserve: bool,
        flags: u32,
    ) -> Result<(), BootmemError> {
        if start < self.node_min_pfn {
            return Err(bug(
                "mark_bootmem_node",
                "BUG_ON(start < bdata->node_min_pfn)",
            ));
        }
        if end > self.node_low_pfn {
            return Err(bug(
                "mark_bootmem_node",
                "BUG_ON(end > bdata->node_low_pfn)",
            ));
        }
        let (sidx, eidx) = (start - self.node_min_pfn, end - self.node_min_pfn);
        if reserve {
            self.__reserve(mem, sidx, eidx, flags)
        } else {
            self.__free(mem, sidx, eidx)
        }
    }

    /// mm/bootmem.c `reserve_bootmem_node` (2.6.24 `reserve_bootmem_core`): reserve the
    /// pages `[physaddr, physaddr + size)` touches (PFN_DOWN start, PFN_UP end).
    ///
    /// 2.6.24 has no flags; `BOOTMEM_EXCLUSIVE` there follows 2.6.25-26, which check the
    /// whole range first (`can_reserve_bootmem_core`) and change nothing on -EBUSY.
    ///
    /// # Errors
    /// [`BootmemError::Busy`] for an exclusive reserve of a reserved page; the kernel's BUGs
    /// for a range outside the node (2.6.24 also `BUG_ON(!size)`).
    pub fn reserve_bootmem_node(
        &mut self,
        mem: &dyn BitmapMem,
        physaddr: u64,
        size: u64,
        flags: u32,
    ) -> Result<(), BootmemError> {
        let end = physaddr.saturating_add(size);
        match self.algo {
            BootmemAlgo::Hinted => {
                self.mark_bootmem_node(mem, pfn_down(physaddr), pfn_up(end), true, flags)
            }
            BootmemAlgo::Pre2627 => {
                const F: &str = "reserve_bootmem_core";
                let map = self.map(F)?;
                if size == 0 {
                    return Err(bug(F, "BUG_ON(!size)"));
                }
                if pfn_down(physaddr) >= self.node_low_pfn {
                    return Err(bug(F, "BUG_ON(PFN_DOWN(addr) >= bdata->node_low_pfn)"));
                }
                if pfn_up(end) > self.node_low_pfn {
                    return Err(bug(F, "BUG_ON(PFN_UP(addr + size) > bdata->node_low_pfn)"));
                }
                if physaddr < self.node_boot_start() {
                    // The kernel's index wraps and it writes outside the bitmap.
                    return Err(bug(F, "addr below node_boot_start"));
                }
                let sidx = pfn_down(physaddr - self.node_boot_start());
                let eidx = pfn_up(end - self.node_boot_start());
                if flags & BOOTMEM_EXCLUSIVE != 0
                    && self.find_set_bit(mem, map, sidx, eidx)?.is_some()
                {
                    return Err(BootmemError::Busy);
                }
                for i in sidx..eidx {
                    // A double reserve only printk()s under CONFIG_DEBUG_BOOTMEM.
                    self.write_bit(mem, map, i, true)?;
                }
                Ok(())
            }
        }
    }

    /// mm/bootmem.c `free_bootmem_node` (2.6.24 `free_bootmem_core`): free the whole pages
    /// inside `[physaddr, physaddr + size)` (PFN_UP start, PFN_DOWN end: partial pages stay
    /// reserved), lowering `hint_idx` (2.6.27+) or `last_success` (2.6.24).
    ///
    /// # Errors
    /// The kernel's BUGs: a range outside the node, a page in it already free (2.6.24 also
    /// `BUG_ON(!size)`). Nothing changes then.
    pub fn free_bootmem_node(
        &mut self,
        mem: &dyn BitmapMem,
        physaddr: u64,
        size: u64,
    ) -> Result<(), BootmemError> {
        let end = physaddr.saturating_add(size);
        match self.algo {
            BootmemAlgo::Hinted => {
                self.mark_bootmem_node(mem, pfn_up(physaddr), pfn_down(end), false, 0)
            }
            BootmemAlgo::Pre2627 => {
                const F: &str = "free_bootmem_core";
                let map = self.map(F)?;
                if size == 0 {
                    return Err(bug(F, "BUG_ON(!size)"));
                }
                if pfn_down(end) > self.node_low_pfn {
                    return Err(bug(
                        F,
                        "BUG_ON(PFN_DOWN(addr + size) > bdata->node_low_pfn)",
                    ));
                }
                let sidx = pfn_up(physaddr).wrapping_sub(self.node_min_pfn);
                let eidx = pfn_down(end.wrapping_sub(self.node_boot_start()));
                if sidx < eidx && pfn_up(physaddr) < self.node_min_pfn {
                    return Err(bug(F, "addr below node_boot_start"));
                }
                if sidx < eidx && self.find_next_zero_bit(mem, map, eidx, sidx)? < eidx {
                    return Err(bug(F, "test_and_clear_bit found a free page"));
                }
                if physaddr < self.last_success {
                    self.last_success = physaddr;
                }
                for i in sidx..eidx {
                    self.write_bit(mem, map, i, false)?;
                }
                Ok(())
            }
        }
    }

    /// mm/bootmem.c `alloc_bootmem_core` (2.6.27+) / `__alloc_bootmem_core` (2.6.24):
    /// `size` bytes aligned to `align`, searched from `goal` up and below `limit` (0: none),
    /// zeroed. Returns the physical address, or `None` when the node has no such run.
    ///
    /// 2.6.27+: the search starts at `ALIGN(PFN_DOWN(goal), step)` when `goal` lies strictly
    /// inside the node, else at the node start; if `hint_idx` is past that, it starts at the
    /// hint and, failing, retries once from the start (`fallback`). The run must end by
    /// `PFN_DOWN(limit)`. If the run begins right after the page the previous allocation
    /// ended in mid-page, the allocation begins in that page instead (`last_end_off`), so
    /// its address can be below the goal's page.
    ///
    /// 2.6.24: the search starts at the goal (or at `last_success` if that is higher) and
    /// retries from the node start; `align == 0` drops the goal (`ALIGN(x, 0)` is 0), and
    /// the alignment is relative to the node start. Merging into the previous allocation's
    /// page is for `align < PAGE_SIZE` only.
    ///
    /// # Errors
    /// The kernel's BUGs: `size == 0`, `align` not a power of two (0 passes, as in the
    /// kernel), and in 2.6.27+ `limit && goal + size > limit`.
    pub fn alloc_bootmem_core(
        &mut self,
        mem: &dyn BitmapMem,
        size: u64,
        align: u64,
        goal: u64,
        limit: u64,
    ) -> Result<Option<PhysAddr>, BootmemError> {
        let r = match self.algo {
            BootmemAlgo::Hinted => self.alloc_hinted(mem, size, align, goal, limit),
            BootmemAlgo::Pre2627 => self.alloc_pre2627(mem, size, align, goal, limit),
        };
        self.check_invariants();
        r
    }

    /// `align_idx`: `idx` rounded up so that the absolute pfn is a multiple of `step`.
    fn align_idx(&self, idx: u64, step: u64) -> u64 {
        kalign(self.node_min_pfn + idx, step) - self.node_min_pfn
    }

    /// `align_off`: `off` rounded up so that the absolute address is a multiple of `align`.
    fn align_off(&self, off: u64, align: u64) -> u64 {
        let base = pfn_phys(self.node_min_pfn);
        kalign(base + off, align).wrapping_sub(base)
    }

    fn alloc_hinted(
        &mut self,
        mem: &dyn BitmapMem,
        size: u64,
        align: u64,
        goal: u64,
        limit: u64,
    ) -> Result<Option<PhysAddr>, BootmemError> {
        const F: &str = "alloc_bootmem_core";
        if size == 0 {
            return Err(bug(F, "BUG_ON(!size)"));
        }
        if align & align.wrapping_sub(1) != 0 {
            return Err(bug(F, "BUG_ON(align & (align - 1))"));
        }
        if limit != 0 && goal.checked_add(size).map_or(true, |e| e > limit) {
            return Err(bug(F, "BUG_ON(limit && goal + size > limit)"));
        }
        let Some(map) = self.node_bootmem_map else {
            return Ok(None);
        };
        let min = self.node_min_pfn;
        let mut max = self.node_low_pfn;
        let (goal, limit) = (pfn_down(goal), pfn_down(limit));
        if limit != 0 && max > limit {
            max = limit;
        }
        if max <= min {
            return Ok(None);
        }
        let step = (align >> PAGE_SHIFT).max(1);
        let start = if goal != 0 && min < goal && goal < max {
            kalign(goal, step)
        } else {
            kalign(min, step)
        };
        let mut sidx = start - min;
        let midx = max - min;
        let pages = pfn_up(size);
        let mut fallback = 0;
        if self.hint_idx > sidx {
            // "Handle the valid case of sidx being zero and still catch the fallback below."
            fallback = sidx + 1;
            sidx = self.align_idx(self.hint_idx, step);
        }
        loop {
            sidx = self.find_next_zero_bit(mem, map, midx, sidx)?;
            sidx = self.align_idx(sidx, step);
            let eidx = sidx.saturating_add(pages);
            if sidx >= midx || eidx > midx {
                if fallback != 0 {
                    sidx = self.align_idx(fallback - 1, step);
                    fallback = 0;
                    continue;
                }
                return Ok(None);
            }
            if let Some(i) = self.find_set_bit(mem, map, sidx, eidx)? {
                sidx = self.align_idx(i, step);
                if sidx == i {
                    sidx += step;
                }
                continue;
            }
            let start_off = if self.last_end_off & (PAGE_SIZE - 1) != 0
                && pfn_down(self.last_end_off) + 1 == sidx
            {
                self.align_off(self.last_end_off, align)
            } else {
                pfn_phys(sidx)
            };
            let merge = u64::from(pfn_down(start_off) < sidx);
            let end_off = start_off + size;
            // Checked first so that the BUG changes nothing (the kernel stops there).
            if self
                .find_set_bit(mem, map, pfn_down(start_off) + merge, pfn_up(end_off))?
                .is_some()
            {
                return Err(bug(F, "__reserve(..., BOOTMEM_EXCLUSIVE) failed"));
            }
            self.last_end_off = end_off;
            self.hint_idx = pfn_up(end_off);
            self.__reserve(
                mem,
                pfn_down(start_off) + merge,
                pfn_up(end_off),
                BOOTMEM_EXCLUSIVE,
            )?;
            let region = PhysAddr(pfn_phys(min) + start_off);
            mem.memset(region, 0, size)?;
            return Ok(Some(region));
        }
    }

    fn alloc_pre2627(
        &mut self,
        mem: &dyn BitmapMem,
        size: u64,
        align: u64,
        goal: u64,
        limit: u64,
    ) -> Result<Option<PhysAddr>, BootmemError> {
        const F: &str = "__alloc_bootmem_core";
        if size == 0 {
            return Err(bug(F, "__alloc_bootmem_core(): zero-sized request"));
        }
        if align & align.wrapping_sub(1) != 0 {
            return Err(bug(F, "BUG_ON(align & (align-1))"));
        }
        let boot = self.node_boot_start();
        if limit != 0 && boot >= limit {
            return Ok(None);
        }
        let Some(map) = self.node_bootmem_map else {
            return Ok(None);
        };
        let mut end_pfn = self.node_low_pfn;
        let limit = pfn_down(limit);
        if limit != 0 && end_pfn > limit {
            end_pfn = limit;
        }
        let eidx = end_pfn - pfn_down(boot);
        let mut offset = 0;
        if align != 0 && boot & (align - 1) != 0 {
            offset = align - (boot & (align - 1));
        }
        let offset = pfn_down(offset);
        let mut preferred = if goal != 0 && goal >= boot && pfn_down(goal) < end_pfn {
            let mut p = goal - boot;
            // The kernel compares the pfn `limit` with the byte `last_success`.
            if self.last_success >= p && (limit == 0 || limit > self.last_success) {
                p = self.last_success;
            }
            p
        } else {
            0
        };
        preferred = pfn_down(kalign(preferred, align)) + offset;
        let areasize = pfn_up(size);
        let incr = (align >> PAGE_SHIFT).max(1);
        let start = 'scan: loop {
            let mut i = preferred;
            while i < eidx {
                i = self.find_next_zero_bit(mem, map, eidx, i)?;
                i = kalign(i, incr);
                if i >= eidx {
                    break;
                }
                if self.test_bit(mem, map, i)? {
                    i += incr;
                    continue;
                }
                let mut j = i + 1;
                let mut fits = true;
                while j < i + areasize {
                    if j >= eidx || self.test_bit(mem, map, j)? {
                        fits = false;
                        break;
                    }
                    j += 1;
                }
                if fits {
                    break 'scan i;
                }
                // fail_block: then the for loop's own `i += incr`.
                i = kalign(j, incr) + incr;
            }
            if preferred > offset {
                preferred = offset;
                continue;
            }
            return Ok(None);
        };
        let (ret, first, count);
        if align < PAGE_SIZE && self.last_offset != 0 && self.last_pos + 1 == start {
            let off = kalign(self.last_offset, align);
            if off > PAGE_SIZE {
                return Err(bug(F, "BUG_ON(offset > PAGE_SIZE)"));
            }
            let remaining = PAGE_SIZE - off;
            ret = pfn_phys(self.last_pos) + off + boot;
            if size < remaining {
                count = 0;
                self.last_offset = off + size;
            } else {
                let rest = size - remaining;
                count = pfn_up(rest);
                self.last_pos = start + count - 1;
                self.last_offset = rest;
            }
            self.last_offset &= PAGE_SIZE - 1;
            first = start;
        } else {
            self.last_pos = start + areasize - 1;
            self.last_offset = size & (PAGE_SIZE - 1);
            ret = pfn_phys(start) + boot;
            first = start;
            count = areasize;
        }
        self.last_success = pfn_phys(start);
        for i in first..first + count {
            // The scan found these free; test_and_set_bit cannot BUG.
            self.write_bit(mem, map, i, true)?;
        }
        mem.memset(PhysAddr(ret), 0, size)?;
        Ok(Some(PhysAddr(ret)))
    }

    /// mm/bootmem.c `free_all_bootmem_core`: hand the node's free pages to the buddy
    /// allocator (`__free_pages_bootmem(page, order)` is `free(pfn, order)`), then the
    /// bitmap's own pages; returns how many pages it handed over.
    ///
    /// It walks the bitmap a `BITS_PER_LONG` word at a time in ascending pfn order. A word
    /// of all-free pages goes as one block of order `ilog2(BITS_PER_LONG)` when the node
    /// start is suitably aligned: 2.6.27+ needs `node_min_pfn` a multiple of BITS_PER_LONG
    /// and the word not to reach the node end (`start + BITS_PER_LONG < end`, so a full last
    /// word goes page by page); 2.6.24 needs `node_boot_start` 0 or
    /// `ffs(node_boot_start) - PAGE_SHIFT > ffs(BITS_PER_LONG)` (512 KiB alignment on
    /// x86_64, `ffs` of the address truncated to `int`). Other words go page by page, order
    /// 0. The bitmap's `bootmem_bootmap_pages` pages follow, order 0 each: the caller must
    /// have reserved them, or they are handed over twice.
    ///
    /// 2.6.24 forgets the bitmap (`node_bootmem_map = NULL`); 2.6.32 keeps it, and a second
    /// call hands the same pages over again, as the kernel would.
    ///
    /// # Errors
    /// 2.6.24: `BUG_ON(!bdata->node_bootmem_map)`; the bitmap outside simulated RAM.
    pub fn free_all_bootmem_core(
        &mut self,
        mem: &dyn BitmapMem,
        free: &mut dyn FnMut(Pfn, u32),
    ) -> Result<u64, BootmemError> {
        let bpl = u64::from(self.bits_per_long);
        let full = if bpl == 64 { u64::MAX } else { 0xffff_ffff };
        let order = self.bits_per_long.ilog2();
        let map = match (self.node_bootmem_map, self.algo) {
            (Some(m), _) => m,
            (None, BootmemAlgo::Hinted) => return Ok(0),
            (None, BootmemAlgo::Pre2627) => {
                return Err(bug(
                    "free_all_bootmem_core",
                    "BUG_ON(!bdata->node_bootmem_map)",
                ))
            }
        };
        let (min, end) = (self.node_min_pfn, self.node_low_pfn);
        let aligned = match self.algo {
            BootmemAlgo::Hinted => min & (bpl - 1) == 0,
            BootmemAlgo::Pre2627 => {
                let ffs = |x: u32| {
                    if x == 0 {
                        0
                    } else {
                        x.trailing_zeros() as i32 + 1
                    }
                };
                let boot = self.node_boot_start();
                boot == 0 || ffs(boot as u32) - PAGE_SHIFT as i32 > ffs(self.bits_per_long)
            }
        };
        let mut count = 0;
        let mut start = min;
        while start < end {
            let idx = start - min;
            let vec = !self.read_long(mem, map, idx / bpl)? & full;
            let bulk = match self.algo {
                BootmemAlgo::Hinted => start + bpl < end,
                BootmemAlgo::Pre2627 => true,
            };
            if aligned && vec == full && bulk {
                free(Pfn(start), order);
                count += bpl;
            } else {
                for off in 0..bpl.min(end - start) {
                    if vec >> off & 1 != 0 {
                        free(Pfn(start + off), 0);
                        count += 1;
                    }
                }
            }
            start += bpl;
        }
        let map_pfn = pfn_down(map.0);
        let pages = bootmem_bootmap_pages(end - min);
        for p in 0..pages {
            free(Pfn(map_pfn + p), 0);
        }
        count += pages;
        if self.algo == BootmemAlgo::Pre2627 {
            self.node_bootmem_map = None;
        }
        Ok(count)
    }
}

/// mm/bootmem.c's node list: `bootmem_node_data[]` and `bdata_list` (kept in `node_min_pfn`
/// order by `link_bootmem`), with the list-wide API of include/linux/bootmem.h.
///
/// The allocation forms return the physical address. `___alloc_bootmem_nopanic` (2.6.27+)
/// tries each node from the goal, skipping nodes that end at or below the goal's page and
/// stopping at the first that starts at or above the limit's page; if nothing was found and
/// the goal was not 0 it tries all again with goal 0. 2.6.24's `__alloc_bootmem_nopanic`
/// tries each node once (each node's search itself falls back to the node start).
#[derive(Clone, Debug)]
pub struct Bootmem {
    pub algo: BootmemAlgo,
    pub bits_per_long: u32,
    /// `bdata_list`, in `node_min_pfn` order.
    pub nodes: Vec<BootmemData>,
    /// `max_low_pfn` / `min_low_pfn` as `init_bootmem` sets them.
    pub max_low_pfn: u64,
    pub min_low_pfn: u64,
    era: Era,
}

impl Bootmem {
    /// No node initialised yet.
    pub fn new(era: &Era) -> Self {
        Bootmem {
            algo: BootmemAlgo::for_era(era),
            bits_per_long: bits_per_long(era),
            nodes: Vec::new(),
            max_low_pfn: 0,
            min_low_pfn: 0,
            era: era.clone(),
        }
    }

    /// `NODE_DATA(nid)->bdata`.
    pub fn node(&self, nid: usize) -> Option<&BootmemData> {
        self.nodes.iter().find(|b| b.nid == nid)
    }

    /// `NODE_DATA(nid)->bdata`, mutable.
    ///
    /// # Errors
    /// [`BootmemError::NoNode`].
    pub fn node_mut(&mut self, nid: usize) -> Result<&mut BootmemData, BootmemError> {
        self.nodes
            .iter_mut()
            .find(|b| b.nid == nid)
            .ok_or(BootmemError::NoNode { nid })
    }

    /// mm/bootmem.c `init_bootmem_node` with `link_bootmem`: set up node `nid`'s allocator
    /// (bitmap at pfn `freepfn`, pages `[startpfn, endpfn)`, all reserved) and insert it in
    /// `node_min_pfn` order. Returns the bitmap's size in bytes.
    ///
    /// # Errors
    /// As [`BootmemData::init_bootmem_core`].
    pub fn init_bootmem_node(
        &mut self,
        mem: &dyn BitmapMem,
        nid: usize,
        freepfn: Pfn,
        startpfn: Pfn,
        endpfn: Pfn,
    ) -> Result<u64, BootmemError> {
        let mut b = self
            .nodes
            .iter()
            .position(|b| b.nid == nid)
            .map(|i| self.nodes.remove(i))
            .unwrap_or_else(|| BootmemData::new(&self.era, nid));
        let mapsize = b.init_bootmem_node(mem, freepfn, startpfn, endpfn)?;
        let at = self
            .nodes
            .iter()
            .position(|e| b.node_min_pfn < e.node_min_pfn)
            .unwrap_or(self.nodes.len());
        self.nodes.insert(at, b);
        Ok(mapsize)
    }

    /// mm/bootmem.c `init_bootmem`: node 0 covers `[0, pages)` with its bitmap at pfn
    /// `start`; sets `max_low_pfn = pages`, `min_low_pfn = start`.
    ///
    /// # Errors
    /// As [`BootmemData::init_bootmem_core`].
    pub fn init_bootmem(
        &mut self,
        mem: &dyn BitmapMem,
        start: Pfn,
        pages: u64,
    ) -> Result<u64, BootmemError> {
        self.max_low_pfn = pages;
        self.min_low_pfn = start.0;
        self.init_bootmem_node(mem, 0, start, Pfn(0), Pfn(pages))
    }

    /// mm/bootmem.c (2.6.27+) `mark_bootmem`: reserve or free pfns `[start, end)` across
    /// the nodes that hold them; a failed reserve frees what it reserved in earlier nodes.
    fn mark_bootmem(
        &mut self,
        mem: &dyn BitmapMem,
        start: u64,
        end: u64,
        reserve: bool,
        flags: u32,
    ) -> Result<(), BootmemError> {
        let mut pos = start;
        for i in 0..self.nodes.len() {
            let b = &mut self.nodes[i];
            if pos < b.node_min_pfn || pos >= b.node_low_pfn {
                if pos != start {
                    return Err(bug("mark_bootmem", "BUG_ON(pos != start)"));
                }
                continue;
            }
            let max = b.node_low_pfn.min(end);
            let low = b.node_low_pfn;
            let r = b.mark_bootmem_node(mem, pos, max, reserve, flags);
            if reserve {
                if let Err(e) = r {
                    self.mark_bootmem(mem, start, pos, false, 0)?;
                    return Err(e);
                }
            } else {
                r?;
            }
            if max == end {
                return Ok(());
            }
            pos = low;
        }
        Err(bug("mark_bootmem", "BUG(): the range is not in any node"))
    }

    /// mm/bootmem.c `reserve_bootmem`: 2.6.27+ reserves `[PFN_DOWN(addr), PFN_UP(addr +
    /// size))` across nodes; 2.6.24 reserves in node 0 only.
    ///
    /// # Errors
    /// [`BootmemError::Busy`] (`BOOTMEM_EXCLUSIVE`); the kernel's BUGs for a range no node
    /// holds.
    pub fn reserve_bootmem(
        &mut self,
        mem: &dyn BitmapMem,
        addr: u64,
        size: u64,
        flags: u32,
    ) -> Result<(), BootmemError> {
        match self.algo {
            BootmemAlgo::Hinted => self.mark_bootmem(
                mem,
                pfn_down(addr),
                pfn_up(addr.saturating_add(size)),
                true,
                flags,
            ),
            BootmemAlgo::Pre2627 => self
                .node_mut(0)?
                .reserve_bootmem_node(mem, addr, size, flags),
        }
    }

    /// mm/bootmem.c `free_bootmem`: 2.6.27+ frees `[PFN_UP(addr), PFN_DOWN(addr + size))`
    /// across nodes; 2.6.24 frees in node 0 only.
    ///
    /// # Errors
    /// The kernel's BUGs (a range no node holds, a page already free).
    pub fn free_bootmem(
        &mut self,
        mem: &dyn BitmapMem,
        addr: u64,
        size: u64,
    ) -> Result<(), BootmemError> {
        match self.algo {
            BootmemAlgo::Hinted => self.mark_bootmem(
                mem,
                pfn_up(addr),
                pfn_down(addr.saturating_add(size)),
                false,
                0,
            ),
            BootmemAlgo::Pre2627 => self.node_mut(0)?.free_bootmem_node(mem, addr, size),
        }
    }

    /// mm/bootmem.c `___alloc_bootmem_nopanic` (2.6.27+; 2.6.24 `__alloc_bootmem_nopanic`
    /// and the node loop of `__alloc_bootmem_low`): see [`Bootmem`] for the goal and limit
    /// rules. `CONFIG_HAVE_ARCH_BOOTMEM`'s preferred node is not modelled.
    ///
    /// # Errors
    /// The BUGs of [`BootmemData::alloc_bootmem_core`].
    pub fn ___alloc_bootmem_nopanic(
        &mut self,
        mem: &dyn BitmapMem,
        size: u64,
        align: u64,
        mut goal: u64,
        limit: u64,
    ) -> Result<Option<PhysAddr>, BootmemError> {
        loop {
            for b in self.nodes.iter_mut() {
                if self.algo == BootmemAlgo::Hinted {
                    if goal != 0 && b.node_low_pfn <= pfn_down(goal) {
                        continue;
                    }
                    if limit != 0 && b.node_min_pfn >= pfn_down(limit) {
                        break;
                    }
                }
                if let Some(p) = b.alloc_bootmem_core(mem, size, align, goal, limit)? {
                    return Ok(Some(p));
                }
            }
            if self.algo == BootmemAlgo::Hinted && goal != 0 {
                goal = 0;
                continue;
            }
            return Ok(None);
        }
    }

    /// mm/bootmem.c `__alloc_bootmem_nopanic`: [`Self::___alloc_bootmem_nopanic`] without a
    /// limit.
    ///
    /// # Errors
    /// As [`Self::___alloc_bootmem_nopanic`].
    pub fn __alloc_bootmem_nopanic(
        &mut self,
        mem: &dyn BitmapMem,
        size: u64,
        align: u64,
        goal: u64,
    ) -> Result<Option<PhysAddr>, BootmemError> {
        self.___alloc_bootmem_nopanic(mem, size, align, goal, 0)
    }

    /// mm/bootmem.c `___alloc_bootmem`: the nopanic form, panicking when it finds nothing.
    ///
    /// # Errors
    /// [`BootmemError::OutOfMemory`] where the kernel panics; the BUGs.
    pub fn ___alloc_bootmem(
        &mut self,
        mem: &dyn BitmapMem,
        size: u64,
        align: u64,
        goal: u64,
        limit: u64,
    ) -> Result<PhysAddr, BootmemError> {
        self.___alloc_bootmem_nopanic(mem, size, align, goal, limit)?
            .ok_or(BootmemError::OutOfMemory {
                size,
                low: self.algo == BootmemAlgo::Pre2627 && limit != 0,
            })
    }

    /// mm/bootmem.c `__alloc_bootmem`.
    ///
    /// # Errors
    /// As [`Self::___alloc_bootmem`].
    pub fn __alloc_bootmem(
        &mut self,
        mem: &dyn BitmapMem,
        size: u64,
        align: u64,
        goal: u64,
    ) -> Result<PhysAddr, BootmemError> {
        self.___alloc_bootmem(mem, size, align, goal, 0)
    }

    /// mm/bootmem.c `__alloc_bootmem_node`: node `nid` first (goal, no limit), then every
    /// node through `___alloc_bootmem` (2.6.24 `__alloc_bootmem`).
    ///
    /// # Errors
    /// As [`Self::___alloc_bootmem`]; [`BootmemError::NoNode`].
    pub fn __alloc_bootmem_node(
        &mut self,
        mem: &dyn BitmapMem,
        nid: usize,
        size: u64,
        align: u64,
        goal: u64,
    ) -> Result<PhysAddr, BootmemError> {
        if let Some(p) = self
            .node_mut(nid)?
            .alloc_bootmem_core(mem, size, align, goal, 0)?
        {
            return Ok(p);
        }
        self.___alloc_bootmem(mem, size, align, goal, 0)
    }

    /// mm/bootmem.c `__alloc_bootmem_node_nopanic` (2.6.32): node `nid`, then
    /// `__alloc_bootmem_nopanic`.
    ///
    /// # Errors
    /// The BUGs; [`BootmemError::NoNode`].
    pub fn __alloc_bootmem_node_nopanic(
        &mut self,
        mem: &dyn BitmapMem,
        nid: usize,
        size: u64,
        align: u64,
        goal: u64,
    ) -> Result<Option<PhysAddr>, BootmemError> {
        if let Some(p) = self
            .node_mut(nid)?
            .alloc_bootmem_core(mem, size, align, goal, 0)?
        {
            return Ok(Some(p));
        }
        self.__alloc_bootmem_nopanic(mem, size, align, goal)
    }

    /// mm/bootmem.c `__alloc_bootmem_low`: below [`ARCH_LOW_ADDRESS_LIMIT`]. 2.6.24 does
    /// not retry without the goal.
    ///
    /// # Errors
    /// As [`Self::___alloc_bootmem`] (2.6.24: "Out of low memory").
    pub fn __alloc_bootmem_low(
        &mut self,
        mem: &dyn BitmapMem,
        size: u64,
        align: u64,
        goal: u64,
    ) -> Result<PhysAddr, BootmemError> {
        self.___alloc_bootmem(mem, size, align, goal, ARCH_LOW_ADDRESS_LIMIT)
    }

    /// mm/bootmem.c `__alloc_bootmem_low_node`: node `nid` below
    /// [`ARCH_LOW_ADDRESS_LIMIT`]; 2.6.27+ then tries every node and panics (`None` never
    /// comes back), 2.6.24 returns `None`.
    ///
    /// # Errors
    /// As [`Self::___alloc_bootmem`]; [`BootmemError::NoNode`].
    pub fn __alloc_bootmem_low_node(
        &mut self,
        mem: &dyn BitmapMem,
        nid: usize,
        size: u64,
        align: u64,
        goal: u64,
    ) -> Result<Option<PhysAddr>, BootmemError> {
        let p = self.node_mut(nid)?.alloc_bootmem_core(
            mem,
            size,
            align,
            goal,
            ARCH_LOW_ADDRESS_LIMIT,
        )?;
        if p.is_some() || self.algo == BootmemAlgo::Pre2627 {
            return Ok(p);
        }
        self.___alloc_bootmem(mem, size, align, goal, ARCH_LOW_ADDRESS_LIMIT)
            .map(Some)
    }

    /// include/linux/bootmem.h `alloc_bootmem(x)`: `__alloc_bootmem(x, SMP_CACHE_BYTES,
    /// __pa(MAX_DMA_ADDRESS))`, the goal being 16 MiB.
    ///
    /// # Errors
    /// As [`Self::___alloc_bootmem`].
    pub fn alloc_bootmem(&mut self, mem: &dyn BitmapMem, x: u64) -> Result<PhysAddr, BootmemError> {
        self.__alloc_bootmem(mem, x, SMP_CACHE_BYTES, BOOTMEM_GOAL)
    }

    /// include/linux/bootmem.h `alloc_bootmem_nopanic(x)`.
    ///
    /// # Errors
    /// As [`Self::___alloc_bootmem_nopanic`].
    pub fn alloc_bootmem_nopanic(
        &mut self,
        mem: &dyn BitmapMem,
        x: u64,
    ) -> Result<Option<PhysAddr>, BootmemError> {
        self.__alloc_bootmem_nopanic(mem, x, SMP_CACHE_BYTES, BOOTMEM_GOAL)
    }

    /// include/linux/bootmem.h `alloc_bootmem_pages(x)`: PAGE_SIZE aligned, goal 16 MiB.
    ///
    /// # Errors
    /// As [`Self::___alloc_bootmem`].
    pub fn alloc_bootmem_pages(
        &mut self,
        mem: &dyn BitmapMem,
        x: u64,
    ) -> Result<PhysAddr, BootmemError> {
        self.__alloc_bootmem(mem, x, PAGE_SIZE, BOOTMEM_GOAL)
    }

    /// include/linux/bootmem.h `alloc_bootmem_low(x)`: `__alloc_bootmem_low(x,
    /// SMP_CACHE_BYTES, 0)`.
    ///
    /// # Errors
    /// As [`Self::__alloc_bootmem_low`].
    pub fn alloc_bootmem_low(
        &mut self,
        mem: &dyn BitmapMem,
        x: u64,
    ) -> Result<PhysAddr, BootmemError> {
        self.__alloc_bootmem_low(mem, x, SMP_CACHE_BYTES, 0)
    }

    /// include/linux/bootmem.h `alloc_bootmem_low_pages(x)`: `__alloc_bootmem_low(x,
    /// PAGE_SIZE, 0)`.
    ///
    /// # Errors
    /// As [`Self::__alloc_bootmem_low`].
    pub fn alloc_bootmem_low_pages(
        &mut self,
        mem: &dyn BitmapMem,
        x: u64,
    ) -> Result<PhysAddr, BootmemError> {
        self.__alloc_bootmem_low(mem, x, PAGE_SIZE, 0)
    }

    /// include/linux/bootmem.h `alloc_bootmem_node(pgdat, x)`: `SMP_CACHE_BYTES`, goal 16
    /// MiB.
    ///
    /// # Errors
    /// As [`Self::__alloc_bootmem_node`].
    pub fn alloc_bootmem_node(
        &mut self,
        mem: &dyn BitmapMem,
        nid: usize,
        x: u64,
    ) -> Result<PhysAddr, BootmemError> {
        self.__alloc_bootmem_node(mem, nid, x, SMP_CACHE_BYTES, BOOTMEM_GOAL)
    }

    /// include/linux/bootmem.h `alloc_bootmem_pages_node(pgdat, x)`: PAGE_SIZE, goal 16 MiB.
    ///
    /// # Errors
    /// As [`Self::__alloc_bootmem_node`].
    pub fn alloc_bootmem_pages_node(
        &mut self,
        mem: &dyn BitmapMem,
        nid: usize,
        x: u64,
    ) -> Result<PhysAddr, BootmemError> {
        self.__alloc_bootmem_node(mem, nid, x, PAGE_SIZE, BOOTMEM_GOAL)
    }

    /// mm/bootmem.c `free_all_bootmem_node`: [`BootmemData::free_all_bootmem_core`] of
    /// node `nid`.
    ///
    /// # Errors
    /// As [`BootmemData::free_all_bootmem_core`]; [`BootmemError::NoNode`].
    pub fn free_all_bootmem_node(
        &mut self,
        mem: &dyn BitmapMem,
        nid: usize,
        free: &mut dyn FnMut(Pfn, u32),
    ) -> Result<u64, BootmemError> {
        self.node_mut(nid)?.free_all_bootmem_core(mem, free)
    }

    /// mm/bootmem.c `free_all_bootmem`: node 0's (`NODE_DATA(0)`) free pages only, as in
    /// the kernel; NUMA callers use [`Self::free_all_bootmem_node`] per node.
    ///
    /// # Errors
    /// As [`Self::free_all_bootmem_node`].
    pub fn free_all_bootmem(
        &mut self,
        mem: &dyn BitmapMem,
        free: &mut dyn FnMut(Pfn, u32),
    ) -> Result<u64, BootmemError> {
        self.free_all_bootmem_node(mem, 0, free)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::era::{Arch, KernelVersion};
    use alloc::vec;
    use core::cell::RefCell;
    use proptest::prelude::*;

    /// Bitmap memory over a Vec covering `[0, len)`; a memset beyond it (the zeroing of an
    /// allocation) is clipped, reads and writes beyond it fail.
    struct VecMem(RefCell<Vec<u8>>);

    impl VecMem {
        fn new(len: usize) -> Self {
            VecMem(RefCell::new(vec![0x5a; len]))
        }
        fn range(&self, pa: PhysAddr, len: u64) -> Result<core::ops::Range<usize>, PhysError> {
            let end = self.0.borrow().len() as u64;
            match pa.0.checked_add(len) {
                Some(e) if e <= end => Ok(pa.0 as usize..e as usize),
                _ => Err(PhysError::OutOfRange {
                    addr: pa.0,
                    len,
                    end,
                }),
            }
        }
    }

    impl BitmapMem for VecMem {
        fn read_u64(&self, pa: PhysAddr) -> Result<u64, PhysError> {
            let r = self.range(pa, 8)?;
            Ok(u64::from_le_bytes(self.0.borrow()[r].try_into().unwrap()))
        }
        fn write_u64(&self, pa: PhysAddr, v: u64) -> Result<(), PhysError> {
            let r = self.range(pa, 8)?;
            self.0.borrow_mut()[r].copy_from_slice(&v.to_le_bytes());
            Ok(())
        }
        fn memset(&self, pa: PhysAddr, byte: u8, len: u64) -> Result<(), PhysError> {
            let end = self.0.borrow().len() as u64;
            let (a, b) = (pa.0.min(end), pa.0.saturating_add(len).min(end));
            self.0.borrow_mut()[a as usize..b as usize].fill(byte);
            Ok(())
        }
    }

    fn era(v: (u32, u32, u32)) -> Era {
        Era::new(KernelVersion::new(v.0, v.1, v.2), Arch::X86_64)
    }

    const MIB: u64 = 1 << 20;

    /// The 2.6.32 x86_64 QEMU boot with 512 MiB: e820 RAM [0, 0x9fc00) and
    /// [0x100000, 0x1fffd000), the bitmap at 0x11000.
    fn qemu_512m(v: (u32, u32, u32)) -> (Bootmem, VecMem) {
        let mem = VecMem::new(0x20000);
        let mut bm = Bootmem::new(&era(v));
        assert_eq!(bm.init_bootmem(&mem, Pfn(0x11), 0x1fffd).unwrap(), 0x4000);
        bm.free_bootmem(&mem, 0, 0x9f000).unwrap();
        bm.free_bootmem(&mem, 0x100000, 0x1fffd000 - 0x100000)
            .unwrap();
        for (s, e) in [
            (0, 0x1000),
            (0x6000, 0x8000),
            (0x1000000, 0x16d95c4),
            (0x1f631000, 0x1ffef6ab),
            (0x9dc00, 0x100000),
            (0x16da000, 0x16da079),
            (0x8000, 0x9000),
            (0x9000, 0x11000),
            (0x11000, 0x15000),
        ] {
            bm.reserve_bootmem(&mem, s, e - s, BOOTMEM_DEFAULT).unwrap();
        }
        (bm, mem)
    }

    fn reserved(bm: &Bootmem, mem: &VecMem, pfn: u64) -> bool {
        bm.node(0)
            .unwrap()
            .is_reserved(mem, Pfn(pfn))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn qemu_2632_allocations_match_the_boot_log() {
        let (mut bm, mem) = qemu_512m((2, 6, 32));
        // The first free page at or above 16 MiB: past the kernel and the BRK page.
        let a = bm.alloc_bootmem(&mem, 4 * MIB).unwrap();
        assert_eq!(a, PhysAddr(0x16db000));
        assert_eq!(bm.node(0).unwrap().hint_idx, 0x1adb);
        // The hint skips the 4 MiB block: 0x1adb000 rounded up to 2 MiB.
        let b = bm
            .__alloc_bootmem(&mem, 2 * MIB, 2 * MIB, BOOTMEM_GOAL)
            .unwrap();
        assert_eq!(b, PhysAddr(0x1c00000));
        // Freeing the block lowers the hint to its start; 0x16db000 rounded up to 2 MiB.
        bm.free_bootmem(&mem, a.0, 4 * MIB).unwrap();
        assert_eq!(bm.node(0).unwrap().hint_idx, 0x16db);
        let c = bm
            .__alloc_bootmem(&mem, 2 * MIB, 2 * MIB, BOOTMEM_GOAL)
            .unwrap();
        assert_eq!(c, PhysAddr(0x1800000));
        assert!((0x1800..0x1a00).all(|p| reserved(&bm, &mem, p)));
        assert!(!reserved(&bm, &mem, 0x1a00) && !reserved(&bm, &mem, 0x17ff));
    }

    #[test]
    fn qemu_2624_allocations_start_at_the_goal_and_merge() {
        let (mut bm, mem) = qemu_512m((2, 6, 24));
        let a = bm.alloc_bootmem(&mem, 4 * MIB).unwrap();
        assert_eq!(a, PhysAddr(0x16db000));
        // No hint in 2.6.24: last_success (0x16db000) is the preferred start, and the first
        // 2 MiB-aligned free run at or above it is 0x1c00000 too.
        let b = bm
            .__alloc_bootmem(&mem, 2 * MIB, 2 * MIB, BOOTMEM_GOAL)
            .unwrap();
        assert_eq!(b, PhysAddr(0x1c00000));
        // Free lowers last_success to the freed address.
        bm.free_bootmem(&mem, a.0, 4 * MIB).unwrap();
        assert_eq!(bm.node(0).unwrap().last_success, 0x16db000);
        let c = bm
            .__alloc_bootmem(&mem, 2 * MIB, 2 * MIB, BOOTMEM_GOAL)
            .unwrap();
        assert_eq!(c, PhysAddr(0x1800000));
        // Small allocations share a page through last_pos / last_offset.
        let d = bm.alloc_bootmem(&mem, 100).unwrap();
        let e = bm.alloc_bootmem(&mem, 100).unwrap();
        assert_eq!(d.0 & 0xfff, 0);
        assert_eq!(e.0, d.0 + 128, "ALIGN(100, SMP_CACHE_BYTES)");
        assert_eq!(bm.node(0).unwrap().last_offset, 228);
    }

    #[test]
    fn small_allocations_share_a_partial_page() {
        let (mut bm, mem) = qemu_512m((2, 6, 32));
        let a = bm.alloc_bootmem(&mem, 100).unwrap();
        assert_eq!(a, PhysAddr(0x16db000));
        let b = bm.alloc_bootmem(&mem, 100).unwrap();
        assert_eq!(b, PhysAddr(0x16db080), "align_off(last_end_off = 100, 64)");
        assert_eq!(bm.node(0).unwrap().last_end_off, 0x16db0e4);
        // One that crosses into the next page reserves only the new page.
        let c = bm.alloc_bootmem(&mem, 0x1000).unwrap();
        assert_eq!(c, PhysAddr(0x16db100));
        assert!(reserved(&bm, &mem, 0x16dc) && !reserved(&bm, &mem, 0x16dd));
        // A page-aligned one does not merge.
        let d = bm.alloc_bootmem_pages(&mem, 0x1000).unwrap();
        assert_eq!(d, PhysAddr(0x16dd000));
    }

    #[test]
    fn low_allocations_and_goal_retry() {
        let (mut bm, mem) = qemu_512m((2, 6, 32));
        let a = bm.alloc_bootmem_low(&mem, 64).unwrap();
        assert_eq!(a, PhysAddr(0x1000), "goal 0: the first free page");
        let p = bm.alloc_bootmem_low_pages(&mem, 0x2000).unwrap();
        assert_eq!(p, PhysAddr(0x2000));
        // A goal above the node: ___alloc_bootmem_nopanic retries with goal 0.
        let g = bm
            .__alloc_bootmem_nopanic(&mem, 0x1000, PAGE_SIZE, 1 << 32)
            .unwrap();
        assert_eq!(g, Some(PhysAddr(0x4000)));
        // A goal past the limit: the list walk skips the node (it ends below the goal)
        // and retries from 0, so alloc_bootmem_core's BUG_ON is never reached...
        assert_eq!(
            bm.___alloc_bootmem(&mem, 0x1000, 0, 1 << 32, ARCH_LOW_ADDRESS_LIMIT),
            Ok(PhysAddr(0x5000))
        );
        // ...unless the core is called with it.
        assert_eq!(
            bm.node_mut(0)
                .unwrap()
                .alloc_bootmem_core(&mem, 0x1000, 0, 0x1000_0000, 0x1000_0800),
            Err(bug(
                "alloc_bootmem_core",
                "BUG_ON(limit && goal + size > limit)"
            ))
        );
        let too_big = bm.__alloc_bootmem(&mem, 1 << 30, PAGE_SIZE, 0);
        assert_eq!(
            too_big,
            Err(BootmemError::OutOfMemory {
                size: 1 << 30,
                low: false
            })
        );
        assert!(too_big.unwrap_err().to_string().contains("Out of memory"));
    }

    #[test]
    fn exclusive_reserve_of_a_reserved_page_is_ebusy() {
        for v in [(2, 6, 24), (2, 6, 32)] {
            let (mut bm, mem) = qemu_512m(v);
            let r = bm.reserve_bootmem(&mem, 0x20000, 0x9000, BOOTMEM_EXCLUSIVE);
            assert_eq!(r, Ok(()), "{v:?}");
            let r = bm.reserve_bootmem(&mem, 0x28000, 0x2000, BOOTMEM_EXCLUSIVE);
            assert_eq!(r, Err(BootmemError::Busy), "{v:?}");
            assert_eq!(r.unwrap_err().errno(), Some(-16));
            // The undo leaves the page that was free (0x29) free, the reserved one reserved.
            assert!(
                reserved(&bm, &mem, 0x28) && !reserved(&bm, &mem, 0x29),
                "{v:?}"
            );
            // BOOTMEM_DEFAULT reserves twice silently.
            bm.reserve_bootmem(&mem, 0x28000, 0x2000, BOOTMEM_DEFAULT)
                .unwrap();
            assert!(reserved(&bm, &mem, 0x29));
        }
        // 2.6.32's undo goes through __free, which lowers hint_idx to the range's start.
        let (mut bm, mem) = qemu_512m((2, 6, 32));
        bm.alloc_bootmem(&mem, 4 * MIB).unwrap();
        assert_eq!(bm.node(0).unwrap().hint_idx, 0x1adb);
        let r = bm.reserve_bootmem(&mem, 0xff000, 0x2000, BOOTMEM_EXCLUSIVE);
        assert_eq!(
            r,
            Err(BootmemError::Busy),
            "0xff is reserved, 0x100 is free"
        );
        assert_eq!(bm.node(0).unwrap().hint_idx, 0xff);
        assert!(!reserved(&bm, &mem, 0x100));
    }

    #[test]
    fn reserve_rounds_out_and_free_rounds_in() {
        let (mut bm, mem) = qemu_512m((2, 6, 32));
        bm.reserve_bootmem(&mem, 0x30fff, 2, BOOTMEM_DEFAULT)
            .unwrap();
        assert!(reserved(&bm, &mem, 0x30) && reserved(&bm, &mem, 0x31));
        assert!(!reserved(&bm, &mem, 0x2f) && !reserved(&bm, &mem, 0x32));
        bm.reserve_bootmem(&mem, 0x40000, 0x3000, BOOTMEM_DEFAULT)
            .unwrap();
        bm.free_bootmem(&mem, 0x40001, 0x2ffe).unwrap();
        assert!(reserved(&bm, &mem, 0x40) && !reserved(&bm, &mem, 0x41));
        assert!(reserved(&bm, &mem, 0x42));
        // Freeing a free page, or outside every node, is the kernel's BUG().
        assert!(matches!(
            bm.free_bootmem(&mem, 0x41000, 0x1000),
            Err(BootmemError::Bug { func: "__free", .. })
        ));
        assert!(matches!(
            bm.free_bootmem(&mem, 1 << 32, 0x1000),
            Err(BootmemError::Bug { .. })
        ));
        assert!(matches!(
            bm.reserve_bootmem(&mem, 0x1fffc000, 0x2000, BOOTMEM_DEFAULT),
            Err(BootmemError::Bug { .. })
        ));
    }

    #[test]
    fn bad_requests_are_errors_not_panics() {
        for v in [(2, 6, 24), (2, 6, 32)] {
            let (mut bm, mem) = qemu_512m(v);
            let n = bm.node_mut(0).unwrap();
            assert!(matches!(
                n.alloc_bootmem_core(&mem, 0, 64, 0, 0),
                Err(BootmemError::Bug { .. })
            ));
            assert!(matches!(
                n.alloc_bootmem_core(&mem, 64, 96, 0, 0),
                Err(BootmemError::Bug { .. })
            ));
            // align 0 passes BUG_ON(align & (align - 1)), as in the kernel.
            assert!(n.alloc_bootmem_core(&mem, 64, 0, 0, 0).is_ok());
            assert!(n.alloc_bootmem_core(&mem, u64::MAX, 64, 0, 0).is_ok());
            assert!(matches!(
                bm.node_mut(3),
                Err(BootmemError::NoNode { nid: 3 })
            ));
        }
    }

    /// Runs free_all and checks each block is free in `free_before`; returns the blocks.
    fn free_all(bm: &mut Bootmem, mem: &VecMem) -> (Vec<(u64, u32)>, u64) {
        let mut blocks = Vec::new();
        let n = bm
            .free_all_bootmem(mem, &mut |p, o| blocks.push((p.0, o)))
            .unwrap();
        (blocks, n)
    }

    #[test]
    fn free_all_hands_over_words_then_pages_then_the_bitmap() {
        for v in [(2, 6, 24), (2, 6, 32)] {
            let (mut bm, mem) = qemu_512m(v);
            let free: u64 = (0..0x1fffd).filter(|&p| !reserved(&bm, &mem, p)).count() as u64;
            let (blocks, n) = free_all(&mut bm, &mem);
            assert_eq!(n, free + 4, "{v:?}: the free pages and the 4 bitmap pages");
            assert_eq!(blocks.iter().map(|b| 1u64 << b.1).sum::<u64>(), n);
            // [0x1000, 0x9f000): pages 1..0x6 page by page (word 0 is not all free).
            assert_eq!(&blocks[..5], &[(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]);
            // The first all-free word: pfn 0x40 (0x15..0x9d is free).
            assert!(blocks.contains(&(0x40, 6)), "{v:?}");
            assert!(!blocks.iter().any(|&(p, o)| o == 6 && p % 64 != 0));
            // The bitmap's pages come last.
            assert_eq!(
                &blocks[blocks.len() - 4..],
                &[(0x11, 0), (0x12, 0), (0x13, 0), (0x14, 0)]
            );
        }
    }

    #[test]
    fn free_all_last_word_and_alignment_rules() {
        // A node of exactly 128 pages, all free: 2.6.32 frees word 0 in bulk but word 1
        // page by page (start + BITS_PER_LONG < end fails); 2.6.24 both in bulk.
        for (v, bulk) in [((2, 6, 24), 2), ((2, 6, 32), 1)] {
            let mem = VecMem::new(0x100000);
            let mut bm = Bootmem::new(&era(v));
            bm.init_bootmem_node(&mem, 0, Pfn(0xf0), Pfn(0), Pfn(128))
                .unwrap();
            bm.free_bootmem(&mem, 0, 128 << 12).unwrap();
            let (blocks, n) = free_all(&mut bm, &mem);
            assert_eq!(n, 129);
            assert_eq!(blocks.iter().filter(|b| b.1 == 6).count(), bulk, "{v:?}");
        }
        // A node of 0x81 pages starting at pfn 0x40 (256 KiB): 2.6.32 is aligned (both
        // words in bulk, the last page alone), 2.6.24 wants 512 KiB (all page by page).
        for (v, bulk) in [((2, 6, 24), 0), ((2, 6, 32), 2)] {
            let mem = VecMem::new(0x100000);
            let mut bm = Bootmem::new(&era(v));
            bm.init_bootmem_node(&mem, 0, Pfn(0xf0), Pfn(0x40), Pfn(0xc1))
                .unwrap();
            bm.node_mut(0)
                .unwrap()
                .free_bootmem_node(&mem, 0x40000, 0x81000)
                .unwrap();
            let (blocks, n) = free_all(&mut bm, &mem);
            assert_eq!(n, 0x81 + 1);
            assert_eq!(blocks.iter().filter(|b| b.1 == 6).count(), bulk, "{v:?}");
        }
    }

    #[test]
    fn i386_walks_32_bit_words() {
        let mem = VecMem::new(0x100000);
        let mut bm = Bootmem::new(&Era::new(
            KernelVersion::new(2, 6, 32),
            Arch::I386 { pae: false },
        ));
        assert_eq!(
            bm.init_bootmem_node(&mem, 0, Pfn(0xf0), Pfn(0), Pfn(100))
                .unwrap(),
            16,
            "13 bytes rounded to sizeof(long) = 4"
        );
        bm.free_bootmem(&mem, 0, 100 << 12).unwrap();
        let (blocks, n) = free_all(&mut bm, &mem);
        assert_eq!(n, 101);
        assert_eq!(&blocks[..4], &[(0, 5), (32, 5), (64, 5), (96, 0)]);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Reserve(u64, u64, bool),
        Free(u64, u64),
        Alloc(u64, u32, u64, u64),
    }

    fn op(pages: u64) -> impl Strategy<Value = Op> {
        let span = pages << 12;
        prop_oneof![
            (0..span, 1..span / 4, any::<bool>()).prop_map(|(a, s, x)| Op::Reserve(a, s, x)),
            (0..span, 1..span / 4).prop_map(|(a, s)| Op::Free(a, s)),
            (1..0x6000u64, 0..15u32, 0..span, 0..span + 0x4000)
                .prop_map(|(s, a, g, l)| Op::Alloc(s, a, g, l)),
        ]
    }

    /// Replays `ops` on one node and on a Vec<bool> of pages, checking every result.
    fn check_against_model(v: (u32, u32, u32), min: u64, pages: u64, ops: &[Op]) {
        // The bitmap in the page after the node: allocations are zeroed in `mem` too, and
        // must not wipe it.
        let map = min + pages;
        let mem = VecMem::new(((map + 1) << 12) as usize);
        let mut bm = Bootmem::new(&era(v));
        bm.init_bootmem_node(&mem, 0, Pfn(map), Pfn(min), Pfn(min + pages))
            .unwrap();
        let hinted = bm.algo == BootmemAlgo::Hinted;
        let mut model = vec![true; pages as usize];
        let base = min << 12;
        bm.node_mut(0)
            .unwrap()
            .free_bootmem_node(&mem, base, pages << 12)
            .unwrap();
        model.fill(false);
        let mut last_end: Option<u64> = None;
        for o in ops {
            let n = bm.node_mut(0).unwrap();
            match *o {
                Op::Reserve(a, s, excl) => {
                    let (a, s) = (base + a, s.min((pages << 12) - a));
                    let (sp, ep) = (pfn_down(a) - min, pfn_up(a + s) - min);
                    let busy = model[sp as usize..ep as usize].iter().any(|&r| r);
                    let flags = if excl { BOOTMEM_EXCLUSIVE } else { 0 };
                    let r = n.reserve_bootmem_node(&mem, a, s, flags);
                    if excl && busy {
                        assert_eq!(r, Err(BootmemError::Busy));
                    } else {
                        r.unwrap();
                        model[sp as usize..ep as usize].fill(true);
                    }
                }
                Op::Free(a, s) => {
                    let (a, s) = (base + a, s.min((pages << 12) - a));
                    let (sp, ep) = (pfn_up(a) - min, pfn_down(a + s) - min);
                    let r = n.free_bootmem_node(&mem, a, s);
                    if sp < ep && model[sp as usize..ep as usize].iter().any(|&r| !r) {
                        assert!(matches!(r, Err(BootmemError::Bug { .. })), "{r:?}");
                    } else {
                        r.unwrap();
                        if sp < ep {
                            model[sp as usize..ep as usize].fill(false);
                        }
                    }
                }
                Op::Alloc(size, a, g, l) => {
                    let align = 1u64 << a;
                    let (goal, limit) = (base + g, if l > g + size { base + l } else { 0 });
                    let r = n
                        .alloc_bootmem_core(&mem, size, align, goal, limit)
                        .unwrap();
                    let Some(p) = r else { continue };
                    let p = p.0;
                    assert_eq!(p % align, 0, "{p:#x} aligned to {align:#x}");
                    assert!(p >= base && p + size <= ((min + pages) << 12));
                    if limit != 0 {
                        assert!(p + size <= limit, "{p:#x}+{size:#x} below {limit:#x}");
                    }
                    let first = pfn_up(p) - min;
                    let end = pfn_up(p + size) - min;
                    if p & 0xfff != 0 {
                        // Merged into the previous allocation's last page.
                        assert_eq!(Some(pfn_down(p)), last_end.map(pfn_down));
                    }
                    let max = match pfn_down(limit) {
                        0 => min + pages,
                        l => l.min(min + pages),
                    };
                    // 2.6.27+ searches from the goal's page when it is inside the node.
                    if hinted && goal > base && pfn_down(goal) < max {
                        assert!(first + min >= pfn_down(goal), "{p:#x} below goal {goal:#x}");
                    }
                    for i in first..end {
                        assert!(!model[i as usize], "page {i:#x} was free");
                        model[i as usize] = true;
                    }
                    last_end = Some(p + size);
                }
            }
            let n = bm.node(0).unwrap();
            for (i, &r) in model.iter().enumerate() {
                assert_eq!(n.is_reserved(&mem, Pfn(min + i as u64)).unwrap(), Some(r));
            }
        }
        let mut seen = vec![false; pages as usize];
        let (blocks, count) = free_all(&mut bm, &mem);
        let mut total = 0;
        assert_eq!(
            blocks.last(),
            Some(&(map, 0)),
            "the bitmap's page comes last"
        );
        for &(p, o) in &blocks[..blocks.len() - 1] {
            assert_eq!(p % (1 << o), 0);
            for q in p..p + (1 << o) {
                let i = (q - min) as usize;
                assert!(
                    !model[i] && !seen[i],
                    "pfn {q:#x} handed over once and free"
                );
                seen[i] = true;
            }
            total += 1u64 << o;
        }
        assert_eq!(total + 1, count);
        assert_eq!(seen, model.iter().map(|r| !r).collect::<Vec<_>>());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn hinted_bitmap_matches_a_page_model(
            min in prop_oneof![Just(0u64), Just(64), 1..200u64],
            pages in 64..600u64,
            ops in proptest::collection::vec(op(64), 1..40),
        ) {
            let ops: Vec<Op> = ops.into_iter().map(|o| scale(o, pages)).collect();
            check_against_model((2, 6, 32), min, pages, &ops);
        }

        #[test]
        fn pre2627_bitmap_matches_a_page_model(
            pages in 64..600u64,
            ops in proptest::collection::vec(op(64), 1..40),
        ) {
            let ops: Vec<Op> = ops.into_iter().map(|o| scale(o, pages)).collect();
            check_against_model((2, 6, 24), 0, pages, &ops);
        }
    }

    /// Op offsets were drawn for 64 pages; stretch them over `pages`.
    fn scale(o: Op, pages: u64) -> Op {
        let f = |x: u64| x * pages / 64;
        match o {
            Op::Reserve(a, s, x) => Op::Reserve(f(a), f(s).max(1), x),
            Op::Free(a, s) => Op::Free(f(a), f(s).max(1)),
            Op::Alloc(s, a, g, l) => Op::Alloc(s, a, f(g), f(l)),
        }
    }
}
