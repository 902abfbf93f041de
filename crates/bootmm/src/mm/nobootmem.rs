// SPDX-License-Identifier: GPL-2.0-only
//! mm/nobootmem.c: the bootmem API over memblock, as the era has it.
//!
//! DOC: before 4.20 early code allocated through `alloc_bootmem` and its relatives
//! (`alloc_bootmem_pages`, `alloc_bootmem_node_nopanic`, `free_bootmem`). From 2.6.34 on x86
//! (CONFIG_NO_BOOTMEM) they are thin wrappers: `___alloc_bootmem_nopanic` asks memblock
//! (`__alloc_memory_core_early`) for the range from `goal` up, and asks again from 0 when
//! that fails; the panicking forms panic only after both. 4.20 removed the API and its
//! callers call memblock directly. Which one an era has is [`crate::era::EarlyAllocator`];
//! the 2.6 bitmap allocator behind the same API is mm/bootmem.c's.

use crate::era::EarlyAllocator;
use crate::include::NUMA_NO_NODE;
use crate::kernel::Kernel;
use crate::mm::memblock::{MEMBLOCK_ALLOC_ACCESSIBLE, MEMBLOCK_LOW_LIMIT};
use alloc::string::ToString;

/// `__pa(MAX_DMA_ADDRESS)`: the goal of `alloc_bootmem` and `alloc_bootmem_pages`.
pub const BOOTMEM_GOAL: u64 = 16 << 20;

/// include/linux/bootmem.h `alloc_bootmem` / `alloc_bootmem_pages` (`align` SMP_CACHE_BYTES
/// or PAGE_SIZE, goal 16 MiB) before 4.20, `memblock_alloc` (from 0) after: `size` bytes
/// anywhere below memblock's current limit.
///
/// # Errors
/// What memblock (or 2.6's bitmap allocator) reports, as text; `Ok(None)` when no range is free (the kernel's panicking forms
/// panic there, which callers report).
pub fn alloc_bootmem(
    k: &mut Kernel,
    size: u64,
    align: u64,
) -> Result<Option<u64>, alloc::string::String> {
    if k.era.early_allocator() == EarlyAllocator::Memblock {
        let p = k.memblock.memblock_alloc_try_nid(
            size,
            align,
            MEMBLOCK_LOW_LIMIT,
            MEMBLOCK_ALLOC_ACCESSIBLE,
            NUMA_NO_NODE,
        );
        return p.map(|p| p.map(|p| p.0)).map_err(|e| e.to_string());
    }
    if k.bootmem.is_some() && !bootmem_live(k) {
        // 2.6: the bitmap's pages belong to the buddy allocator now; the kernel WARNs and
        // takes the memory from slab (alloc_arch_preferred_bootmem), which bootmm refuses.
        return Err(alloc::string::String::from(
            "alloc_bootmem after mem_init handed the bootmem pages to the buddy allocator",
        ));
    }
    if bootmem_live(k) {
        let _t = k.trace.enter("__alloc_bootmem", "mm/bootmem.c");
        return bootmem_alloc(k, size, align, BOOTMEM_GOAL, 0);
    }
    for goal in [BOOTMEM_GOAL, 0] {
        let p = k
            .memblock
            .__alloc_memory_core_early(NUMA_NO_NODE, size, align, goal, MEMBLOCK_ALLOC_ACCESSIBLE)
            .map_err(|e| e.to_string())?;
        if let Some(p) = p {
            return Ok(Some(p.0));
        }
    }
    Ok(None)
}

/// 2.6 (mm/bootmem.c): whether the bitmap allocator serves the bootmem API now, from
/// `setup_node_bootmem` until `mem_init` hands its pages to the buddy allocator.
pub fn bootmem_live(k: &Kernel) -> bool {
    k.bootmem.is_some() && !k.page_alloc.initialised
}

/// The simulated RAM and the bitmap allocator, borrowed together.
///
/// # Errors
/// No bitmap is set up.
fn live_bitmap(
    k: &mut Kernel,
) -> Result<(&crate::phys::PhysMem, &mut crate::mm::bootmem::Bootmem), alloc::string::String> {
    let phys = &k.phys;
    let bm = k
        .bootmem
        .as_mut()
        .ok_or_else(|| alloc::string::String::from("the bootmem allocator is not set up"))?;
    Ok((phys, bm))
}

/// mm/bootmem.c `___alloc_bootmem_nopanic` on the live bitmap allocator: `size` bytes at
/// `align`, from `goal` up (then from 0) and below `limit` (0: none). `Ok(None)` when no
/// node has room; the panicking forms' callers report that.
///
/// # Errors
/// The bitmap allocator's BUGs, as text; a call while no bitmap is live.
pub fn bootmem_alloc(
    k: &mut Kernel,
    size: u64,
    align: u64,
    goal: u64,
    limit: u64,
) -> Result<Option<u64>, alloc::string::String> {
    let (phys, bm) = live_bitmap(k)?;
    bm.___alloc_bootmem_nopanic(phys, size, align, goal, limit)
        .map(|p| p.map(|p| p.0))
        .map_err(|e| e.to_string())
}

/// mm/bootmem.c `__alloc_bootmem_node_nopanic` on the live bitmap allocator: node `nid`
/// first, then every node (`__alloc_bootmem_node`'s fallback is the same search; it panics
/// where this returns `Ok(None)`).
///
/// # Errors
/// As [`bootmem_alloc`].
pub fn bootmem_alloc_node(
    k: &mut Kernel,
    nid: i32,
    size: u64,
    align: u64,
    goal: u64,
) -> Result<Option<u64>, alloc::string::String> {
    let (phys, bm) = live_bitmap(k)?;
    let nid = if nid < 0 { 0 } else { nid as usize };
    let r = if bm.node(nid).is_some() {
        bm.__alloc_bootmem_node_nopanic(phys, nid, size, align, goal)
    } else {
        bm.__alloc_bootmem_nopanic(phys, size, align, goal)
    };
    r.map(|p| p.map(|p| p.0)).map_err(|e| e.to_string())
}

/// mm/bootmem.c `free_bootmem` on the live bitmap allocator: the whole pages inside
/// `[addr, addr + size)` become free (a partial page at either end stays reserved).
///
/// # Errors
/// The kernel's BUG for a page that is free already, or outside every node.
pub fn bootmem_free(k: &mut Kernel, addr: u64, size: u64) -> Result<(), alloc::string::String> {
    let (phys, bm) = live_bitmap(k)?;
    bm.free_bootmem(phys, addr, size).map_err(|e| e.to_string())
}
