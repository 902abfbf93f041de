// SPDX-License-Identifier: GPL-2.0-only
//! mm/page_alloc.c (before 6.3's mm/mm_init.c): what `free_area_init_node` and
//! `free_area_init_core` take from the early allocator, node by node and zone by zone.
//!
//! DOC: with SPARSEMEM (every x86_64 kernel) the struct pages and the pageblock bitmaps come
//! from `sparse_init`, section by section, before the zones are sized. A FLATMEM kernel (i386
//! without NUMA) has neither yet, so `free_area_init_node` allocates each node's
//! `node_mem_map` (`alloc_node_mem_map`: the node's span widened to MAX_ORDER blocks, one
//! struct page per frame) and `free_area_init_core` each zone's `pageblock_flags`
//! (`setup_usemap`). Until 4.9 every zone also had a hashed table of wait queues for
//! `wait_on_page_bit` (`zone_wait_table_init`; Linus Torvalds' "mm: remove per-zone
//! hashtable of bitlock waitqueues" dropped it), on both architectures. These allocations
//! come before the percpu first chunk's, so on i386 (whose percpu atom is one page) they
//! decide the address the "PERCPU: Embedded" line prints.
//!
//! bootmm makes the same memblock reservations. The struct pages it keeps for an i386
//! machine are not written into `node_mem_map` (see docs/divergences.md).

use crate::era::{Arch, Era};
use crate::init::main::BootError;
use crate::kernel::Kernel;
use crate::mm::memblock::MEMBLOCK_ALLOC_ACCESSIBLE;
use crate::mm::mm_init::{NodeInfo, ZoneInfo};

/// `MAX_ORDER_NR_PAGES`.
const MAX_ORDER_NR_PAGES: u64 = 1024;
/// `SMP_CACHE_BYTES` (`L1_CACHE_BYTES` of x86's generic builds).
const SMP_CACHE_BYTES: u64 = 64;
/// `PAGES_PER_WAITQUEUE`.
const PAGES_PER_WAITQUEUE: u64 = 256;

/// What an era and architecture allocate here, decided once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeAllocRules {
    /// FLATMEM: `alloc_node_mem_map` and `setup_usemap` allocate (i386).
    pub flatmem: bool,
    /// `zone_wait_table_init` allocates a zone's wait table (until 4.9).
    pub wait_table: bool,
    /// `sizeof(wait_queue_head_t)`: a spinlock and a list head (24 bytes on x86_64, 12 on
    /// i386).
    pub wait_queue_head_size: u64,
    /// `NR_PAGEBLOCK_BITS`: 3 migrate-type bits, plus compaction's skip bit from 3.7
    /// (believed).
    pub pageblock_bits: u64,
    /// `BITS_PER_LONG`.
    pub bits_per_long: u64,
}

impl NodeAllocRules {
    pub fn new(era: &Era) -> Self {
        let i386 = matches!(era.arch, Arch::I386 { .. });
        NodeAllocRules {
            flatmem: i386,
            wait_table: !era.at_least(4, 9),
            wait_queue_head_size: if i386 { 12 } else { 24 },
            pageblock_bits: if era.at_least(3, 7) { 4 } else { 3 },
            bits_per_long: if i386 { 32 } else { 64 },
        }
    }
}

/// mm/page_alloc.c: `wait_table_hash_nr_entries`: one wait queue per 256 pages, a power of
/// two from 4 to 4096.
pub fn wait_table_hash_nr_entries(pages: u64) -> u64 {
    let pages = pages / PAGES_PER_WAITQUEUE;
    let mut size = 1u64;
    while size < pages {
        size <<= 1;
    }
    size.clamp(4, 4096)
}

/// mm/page_alloc.c: `usemap_size` (FLATMEM): the zone's pageblock bits, in whole longs.
pub fn usemap_size(
    r: &NodeAllocRules,
    pageblock_nr_pages: u64,
    zone_start_pfn: u64,
    zonesize: u64,
) -> u64 {
    let zonesize = zonesize + (zone_start_pfn & (pageblock_nr_pages - 1));
    let blocks = zonesize.div_ceil(pageblock_nr_pages);
    (blocks * r.pageblock_bits).next_multiple_of(r.bits_per_long) / 8
}

/// The bootmem API's node allocation as the era has it: `memblock_virt_alloc_node_nopanic`
/// (3.14–4.19; the zone wait tables are gone by 4.20), `alloc_bootmem_node_nopanic` over
/// nobootmem before (goal 16 MiB, retried from 0).
fn alloc_node_nopanic(k: &mut Kernel, size: u64, nid: i32) -> Result<Option<u64>, BootError> {
    let nomem = |e: crate::mm::memblock::MemblockError| BootError::NoMemory(alloc::format!("{e}"));
    if crate::mm::nobootmem::bootmem_live(k) {
        // 2.6's bitmap: alloc_bootmem_node (goal 16 MiB on the node, then every node).
        return crate::mm::nobootmem::bootmem_alloc_node(
            k,
            nid,
            size,
            SMP_CACHE_BYTES,
            crate::mm::nobootmem::BOOTMEM_GOAL,
        )
        .map_err(BootError::NoMemory);
    }
    if k.era.at_least(3, 14) {
        // memblock_virt_alloc_node_nopanic: align 0 (SMP_CACHE_BYTES), from
        // BOOTMEM_LOW_LIMIT (0 over memblock).
        let align = crate::mm::memblock::cache_line_align_arg(&k.era);
        let p = k
            .memblock
            .memblock_alloc_try_nid_nopanic(
                size,
                align,
                crate::mm::memblock::MEMBLOCK_LOW_LIMIT,
                MEMBLOCK_ALLOC_ACCESSIBLE,
                nid,
            )
            .map_err(nomem)?;
        return Ok(p.map(|p| p.0));
    }
    // alloc_bootmem_node_nopanic: from the goal on the node, then anywhere; then the same
    // from 0.
    for goal in [crate::mm::nobootmem::BOOTMEM_GOAL, 0] {
        for nid in [nid, crate::include::NUMA_NO_NODE] {
            let p = k
                .memblock
                .__alloc_memory_core_early(
                    nid,
                    size,
                    SMP_CACHE_BYTES,
                    goal,
                    MEMBLOCK_ALLOC_ACCESSIBLE,
                )
                .map_err(nomem)?;
            if let Some(p) = p {
                return Ok(Some(p.0));
            }
        }
    }
    Ok(None)
}

/// mm/page_alloc.c: `alloc_node_mem_map` (FLATMEM): the node's span widened to
/// MAX_ORDER blocks, one struct page per frame, from the early allocator. Returns
/// `node_mem_map`'s physical address (`None` on SPARSEMEM, an empty node, or a failed
/// `_nopanic` allocation, as in the kernel).
///
/// # Errors
/// [`BootError::NoMemory`] when memblock fails in a way the kernel reports.
pub fn alloc_node_mem_map(k: &mut Kernel, node: &NodeInfo) -> Result<Option<u64>, BootError> {
    if !NodeAllocRules::new(&k.era).flatmem || node.node_spanned_pages == 0 {
        return Ok(None);
    }
    let _t = k.trace.enter("alloc_node_mem_map", "mm/page_alloc.c");
    let struct_page = k.machine.kernel_config().struct_page_size;
    let start = node.node_start_pfn & !(MAX_ORDER_NR_PAGES - 1);
    let end = (node.node_start_pfn + node.node_spanned_pages).next_multiple_of(MAX_ORDER_NR_PAGES);
    let map = alloc_node_nopanic(k, (end - start) * struct_page, node.nid as i32)?;
    Ok(map.map(|m| m + (node.node_start_pfn - start) * struct_page))
}

/// mm/page_alloc.c: `free_area_init_core`'s allocations for a zone with pages spanned:
/// `setup_usemap` (FLATMEM) and `zone_wait_table_init` (until 4.9).
///
/// # Errors
/// [`BootError::NoMemory`] when memblock fails in a way the kernel reports.
pub fn zone_allocs(k: &mut Kernel, nid: u32, z: &ZoneInfo) -> Result<(), BootError> {
    let r = NodeAllocRules::new(&k.era);
    let file = "mm/page_alloc.c";
    if r.flatmem {
        let pageblock = crate::mm::watermark::pageblock_nr_pages(&k.era);
        let size = usemap_size(&r, pageblock, z.zone_start_pfn, z.spanned_pages);
        if size != 0 {
            let _t = k.trace.enter("setup_usemap", file);
            alloc_node_nopanic(k, size, nid as i32)?;
        }
    }
    if r.wait_table {
        let _t = k.trace.enter("zone_wait_table_init", file);
        // With CONFIG_MEMORY_HOTPLUG (which CONFIG_MEMORY_HOTREMOVE needs) a zone may grow,
        // so every table has the maximum, 4096 entries.
        let entries = if k.machine.kernel_config().memory_hotremove {
            4096
        } else {
            wait_table_hash_nr_entries(z.spanned_pages)
        };
        let size = entries * r.wait_queue_head_size;
        alloc_node_nopanic(k, size, nid as i32)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_tables_and_usemaps() {
        assert_eq!(wait_table_hash_nr_entries(0), 4);
        assert_eq!(wait_table_hash_nr_entries(4096), 16);
        assert_eq!(wait_table_hash_nr_entries(1 << 20), 4096);
        assert_eq!(wait_table_hash_nr_entries(1 << 30), 4096);
        let e = Era::new(
            crate::era::KernelVersion::new(3, 8, 0),
            Arch::I386 { pae: true },
        );
        let r = NodeAllocRules::new(&e);
        // DMA from pfn 0x10: 4080 pages in 8 pageblocks of 512, 4 bits each: one long.
        assert_eq!(usemap_size(&r, 512, 0x10, 4080), 4);
        // 224254 pages: 438 blocks, 1752 bits, 55 longs.
        assert_eq!(usemap_size(&r, 512, 0x1000, 224254), 220);
    }
}
