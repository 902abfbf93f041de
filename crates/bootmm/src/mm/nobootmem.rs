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
use crate::mm::memblock::{MemblockError, MEMBLOCK_ALLOC_ACCESSIBLE, MEMBLOCK_LOW_LIMIT};

/// `__pa(MAX_DMA_ADDRESS)`: the goal of `alloc_bootmem` and `alloc_bootmem_pages`.
pub const BOOTMEM_GOAL: u64 = 16 << 20;

/// include/linux/bootmem.h `alloc_bootmem` / `alloc_bootmem_pages` (`align` SMP_CACHE_BYTES
/// or PAGE_SIZE, goal 16 MiB) before 4.20, `memblock_alloc` (from 0) after: `size` bytes
/// anywhere below memblock's current limit.
///
/// # Errors
/// What memblock reports; `Ok(None)` when no range is free (the kernel's panicking forms
/// panic there, which callers report).
pub fn alloc_bootmem(k: &mut Kernel, size: u64, align: u64) -> Result<Option<u64>, MemblockError> {
    if k.era.early_allocator() == EarlyAllocator::Memblock {
        let p = k.memblock.memblock_alloc_try_nid(
            size,
            align,
            MEMBLOCK_LOW_LIMIT,
            MEMBLOCK_ALLOC_ACCESSIBLE,
            NUMA_NO_NODE,
        )?;
        return Ok(p.map(|p| p.0));
    }
    for goal in [BOOTMEM_GOAL, 0] {
        let p = k.memblock.__alloc_memory_core_early(
            NUMA_NO_NODE,
            size,
            align,
            goal,
            MEMBLOCK_ALLOC_ACCESSIBLE,
        )?;
        if let Some(p) = p {
            return Ok(Some(p.0));
        }
    }
    Ok(None)
}
