//! `arch/x86/mm/init_64.c` and `arch/x86/mm/init.c`: paging_init and the zone limits.
//!
//! On x86_64 `paging_init` sets up the sparse memory model (the struct page array) and then
//! sizes the zones: `zone_sizes_init` fills `max_zone_pfns` and hands them to the core's
//! `free_area_init`. `kernel_physical_mapping_init` and the `phys_*_init` walkers write the
//! direct map's page tables for `init_mem_mapping` ([`super::init`]).

use alloc::string::ToString;
use alloc::vec::Vec;

use crate::init::main::BootError;
use crate::kernel::Kernel;
use crate::mm::memblock::{MemblockFlags, MAX_NUMNODES};
use crate::mm::mm_init::{self, FreeAreaInit, MemRange, MovableParams, ZoneConfig};
use crate::pr_warn;

use super::init::{
    MapResult, Mapper, MASK_1G, MASK_2M, PAGE, PAGE_KERNEL, PAGE_KERNEL_LARGE, PAGE_TABLE,
    PGDIR_SIZE, PMD_SIZE, PRESENT, PSE, PTE_PFN_MASK, PUD_SIZE,
};

/// arch/x86/mm/init_64.c: `paging_init` (x86_64; i386's is arch/x86/mm/init_32.c's).
pub fn paging_init(k: &mut Kernel) -> Result<(), BootError> {
    if !k.era.is_64bit() {
        return crate::arch::x86::init_32::paging_init(k);
    }
    let _t = k.trace.enter("paging_init", "arch/x86/mm/init_64.c");
    crate::mm::sparse::sparse_init(k)?;
    zone_sizes_init(k)
}

/// The memory ranges `free_area_init` sees: memblock.memory by node, as whole pages, up to
/// the last pfn a section can describe (`memory_present` cut the rest; the kernel would
/// index past its tables for it, see docs/divergences.md).
pub fn mem_ranges(k: &Kernel) -> Vec<MemRange> {
    let regions = &k.memblock.memory.regions;
    let max = crate::mm::sparse::max_sparsemem_pfn();
    k.memblock
        .for_each_mem_pfn_range(MAX_NUMNODES)
        .into_iter()
        .filter(|&(s, _, _)| s < max)
        .map(|(s, e, nid)| (s, e.min(max), nid))
        .map(|(s, e, nid)| {
            let flags = regions
                .iter()
                .find(|r| crate::include::addr::pfn_up(r.base) == s)
                .map(|r| r.flags)
                .unwrap_or(MemblockFlags::empty());
            MemRange {
                start_pfn: s,
                end_pfn: e,
                nid: nid.max(0) as u32,
                hotplug: flags.contains(MemblockFlags::HOTPLUG),
                mirror: flags.contains(MemblockFlags::MIRROR),
            }
        })
        .collect()
}

/// Free memblock ranges `[start, end)` in bytes.
pub fn free_ranges(k: &Kernel) -> Vec<(u64, u64)> {
    k.memblock
        .for_each_free_mem_range(crate::include::NUMA_NO_NODE, MemblockFlags::empty())
        .into_iter()
        .map(|r| (r.start, r.end))
        .collect()
}

/// arch/x86/mm/init.c: `zone_sizes_init`, then the core's `free_area_init`.
pub fn zone_sizes_init(k: &mut Kernel) -> Result<(), BootError> {
    let setup_32 = crate::arch::x86::init_32::setup_memory_era(&k.era);
    let _t = k.trace.enter(
        "zone_sizes_init",
        if setup_32 {
            "arch/x86/kernel/setup_32.c"
        } else {
            "arch/x86/mm/init.c"
        },
    );
    let cfg = k.machine.kernel_config();
    let zones = ZoneConfig {
        dma: cfg.zone_dma,
        dma32: cfg.zone_dma32,
        highmem: cfg.highmem,
        device: cfg.zone_device,
    };
    let max_zone_pfns = mm_init::zone_sizes_init(&k.era, &zones, k.max_low_pfn, k.max_pfn);
    let mem = if setup_32 {
        // 2.6.24 i386 (seed note 001): add_active_range(0, 0, highend_pfn): one active
        // range over all of RAM, holes included.
        let _t = k.trace.enter("add_active_range", "mm/page_alloc.c");
        alloc::vec![MemRange {
            start_pfn: 0,
            end_pfn: k.highend_pfn.max(k.max_low_pfn),
            nid: 0,
            hotplug: false,
            mirror: false,
        }]
    } else {
        mem_ranges(k)
    };
    let reserved: Vec<(u64, u64)> = k
        .memblock
        .reserved
        .regions
        .iter()
        .map(|r| (r.base, r.end()))
        .collect();
    let free = free_ranges(k);
    let online: Vec<u32> = k.numa.online.clone();
    let movable = movable_params(k);
    let era = k.era.clone();
    let input = FreeAreaInit {
        era: &era,
        zones,
        mem: &mem,
        reserved: &reserved,
        free: &free,
        online_nodes: Some(&online),
        max_low_pfn: k.max_low_pfn,
        max_pfn: k.max_pfn,
        struct_page_size: cfg.struct_page_size,
        sparsemem: true,
        movable,
        dma_reserve: k.dma_reserve,
    };
    let (printk, trace) = (k.printk.clone(), k.trace.clone());
    // memmap_init's own error (out of simulated RAM, over the host budget) is kept as it is.
    let mut memmap_err = None;
    let layout =
        mm_init::free_area_init_with_memmap(&input, &max_zone_pfns, &printk, &trace, &mut |step| {
            use crate::mm::mm_init::{node_alloc, FreeAreaStep};
            let r = match step {
                FreeAreaStep::NodeSized(node) => {
                    node_alloc::alloc_node_mem_map(k, node).map(|map| {
                        if let Some(map) = map {
                            k.flatmem_node_mem_map
                                .get_or_insert((map, node.node_start_pfn));
                        }
                    })
                }
                FreeAreaStep::ZoneSized(nid, z) => node_alloc::zone_allocs(k, nid, z),
                FreeAreaStep::Memmap(layout) => {
                    k.zones = Some(layout.clone());
                    crate::mm::mm_init::memmap::memmap_init(k, &mem)
                }
            };
            r.map_err(|e| {
                let text = e.to_string();
                memmap_err = Some(e);
                text
            })
        })
        .map_err(|e| {
            memmap_err
                .take()
                .unwrap_or_else(|| BootError::Param(e.to_string()))
        })?;
    k.zones = Some(layout);
    // The zones the buddy allocator keeps (struct zone in pg_data_t).
    crate::mm::page_alloc::init_zones(k);
    Ok(())
}

/// `kernelcore=`, `movablecore=` and `movable_node` from the command line
/// (mm/mm_init.c: cmdline_parse_kernelcore / cmdline_parse_movablecore). A value the
/// kernel cannot parse gets its "Malformed early option" warning and is ignored.
fn movable_params(k: &Kernel) -> MovableParams {
    use crate::klib::cmdline::split_args;
    let mut p = MovableParams::default();
    for a in split_args(&k.machine.cmdline) {
        let slot = match a.param {
            "kernelcore" if a.val == Some("mirror") => {
                p.kernelcore_mirror = true;
                continue;
            }
            "kernelcore" => &mut p.kernelcore,
            "movablecore" => &mut p.movablecore,
            "movable_node" => {
                p.movable_node = true;
                continue;
            }
            _ => continue,
        };
        match a.val.map(|v| mm_init::cmdline_parse_core(&k.era, v)) {
            Some(Ok(v)) => *slot = Some(v),
            _ => pr_warn!(k.printk, "Malformed early option '{}'\n", a.param),
        }
    }
    p
}

/// arch/x86/mm/init_64.c: `mem_init` (x86_64): the bounce buffer (`pci_iommu_alloc`, 6.18:
/// `arch_mm_preinit`), the hand-over to the buddy allocator (`memblock_free_all`, 6.18: in
/// `mm_core_init`), the vmalloc page-table pages (5.8+), and before 5.15 the "Memory:" line.
pub fn mem_init(k: &mut Kernel) -> Result<(), BootError> {
    if !k.era.is_64bit() {
        return crate::arch::x86::init_32::mem_init(k);
    }
    let _t = k.trace.enter("mem_init", "arch/x86/mm/init_64.c");
    if !k.era.at_least(6, 18) {
        crate::arch::x86::pci_dma::pci_iommu_alloc(k)?;
        crate::mm::page_alloc::memblock_free_all(k)?;
    }
    if crate::mm::vmalloc::VmallocRules::new(&k.era).preallocate {
        preallocate_vmalloc_pages(k);
    }
    if !k.era.at_least(5, 15) {
        crate::mm::page_alloc::mem_init_print_info(k);
    }
    Ok(())
}

/// `init_top_pgt`'s physical address: the page of the image's `.data` that
/// `init_mem_mapping` wrote the direct map's PGD entries into. When the image lies outside
/// simulated RAM those entries were kept aside; the PGD then gets a page of the page
/// allocator holding them (docs/divergences.md).
///
/// # Errors
/// No page for it.
pub fn init_top_pgt(k: &mut Kernel) -> Result<u64, alloc::string::String> {
    use crate::arch::x86::pgtable_64_types::{_PAGE_TABLE, PAGE_SHIFT};
    if k.direct_map.init_top_pgt != 0 {
        return Ok(k.direct_map.init_top_pgt);
    }
    let gfp = crate::include::gfp::gfp_constant(&k.era, "GFP_KERNEL").unwrap_or_default()
        | crate::include::gfp::Gfp::__GFP_ZERO;
    let Some(pfn) = crate::mm::page_alloc::alloc_pages(k, gfp, 0)
        .ok()
        .flatten()
        .and_then(|p| k.sparse().page_to_pfn_checked(p))
    else {
        return Err(alloc::string::String::from("no page for init_top_pgt"));
    };
    let top = pfn << PAGE_SHIFT;
    let base_index = (k.phys.va(crate::PhysAddr(0)).0 >> 39) & 511;
    for &(idx, pud) in &k.direct_map.pgd.clone() {
        let _ = k.phys.write_u64(
            crate::PhysAddr(top + (base_index + idx) * 8),
            pud | _PAGE_TABLE,
        );
    }
    k.direct_map.init_top_pgt = top;
    Ok(top)
}

/// arch/x86/mm/init_64.c: `preallocate_vmalloc_pages` (5.8+): for each PGDIR_SIZE slot of
/// `VMALLOC_START..=VMEMORY_END` (4-level paging, no KASLR: 32 TiB, 64 slots) `p4d_alloc`
/// (folded) and `pud_alloc`: a zeroed PUD page from the buddy allocator, written into
/// `init_top_pgt`, before "Memory:" is printed. The kernel panics without the memory
/// ("Failed to pre-allocate pud pages for vmalloc area"); bootmm stops filling.
fn preallocate_vmalloc_pages(k: &mut Kernel) {
    use crate::arch::x86::pgtable_64_types::{
        Paging, _PAGE_PRESENT, _PAGE_TABLE, PAGE_SHIFT, VMALLOC_END, VMALLOC_START,
    };
    let _t = k
        .trace
        .enter("preallocate_vmalloc_pages", "arch/x86/mm/init_64.c");
    let gfp = crate::include::gfp::gfp_constant(&k.era, "GFP_KERNEL").unwrap_or_default()
        | crate::include::gfp::Gfp::__GFP_ZERO;
    let Ok(top) = init_top_pgt(k) else {
        return;
    };
    let paging = Paging::X86_64_4LEVEL;
    let mut addr = VMALLOC_START;
    while addr <= VMALLOC_END {
        let pa = crate::PhysAddr(top + paging.index(0, addr) * 8);
        if k.phys.read_u64(pa).unwrap_or(0) & _PAGE_PRESENT == 0 {
            let Some(pfn) = crate::mm::page_alloc::alloc_pages(k, gfp, 0)
                .ok()
                .flatten()
                .and_then(|p| k.sparse().page_to_pfn_checked(p))
            else {
                break;
            };
            let _ = k.phys.write_u64(pa, (pfn << PAGE_SHIFT) | _PAGE_TABLE);
        }
        addr = (addr | (paging.entry_size(0) - 1)).wrapping_add(1);
        if addr == 0 {
            break;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The direct map's page-table walkers (`init_mem_mapping` in [`super::init`] drives them).

impl Mapper<'_> {
    /// arch/x86/mm/init_64.c: `phys_pte_init`.
    fn phys_pte_init(&mut self, pte_page: u64, mut paddr: u64, paddr_end: u64) -> MapResult<u64> {
        let mut last = paddr_end;
        let mut i = (paddr >> 12) & 511;
        while i < 512 {
            let next = (paddr & !(PAGE - 1)) + PAGE;
            if paddr >= paddr_end {
                break;
            }
            let at = pte_page + i * 8;
            if self.read(at)? & PRESENT != 0 {
                // An existing mapping is kept (and counted).
                self.pages[0] += 1;
            } else {
                self.pages[0] += 1;
                self.write(at, (paddr & PTE_PFN_MASK) | PAGE_KERNEL)?;
                last = next;
            }
            i += 1;
            paddr = next;
        }
        Ok(last)
    }

    /// arch/x86/mm/init_64.c: `phys_pmd_init`.
    fn phys_pmd_init(
        &mut self,
        pmd_page: u64,
        mut paddr: u64,
        paddr_end: u64,
        mask: u32,
    ) -> MapResult<u64> {
        let mut last = paddr_end;
        let mut i = (paddr >> 21) & 511;
        while i < 512 {
            if paddr >= paddr_end {
                break;
            }
            if mask & MASK_2M != 0 {
                // The entries not present yet each take a 2 MiB page (the `else` below),
                // written a run at a time: a 64 TiB map has 32 M of them.
                let base = paddr & !(PMD_SIZE - 1);
                let want = (paddr_end - base).div_ceil(PMD_SIZE).min(512 - i);
                let n = self.fill_large(pmd_page, i, want, base)?;
                if n > 0 {
                    self.pages[1] += n;
                    i += n;
                    paddr = base + n * PMD_SIZE;
                    last = paddr;
                    continue;
                }
            }
            let next = (paddr & !(PMD_SIZE - 1)) + PMD_SIZE;
            let at = pmd_page + i * 8;
            let e = self.read(at)?;
            let mut split = false;
            if e & PRESENT != 0 {
                if e & PSE == 0 {
                    last = self.phys_pte_init(e & PTE_PFN_MASK, paddr, paddr_end)?;
                    i += 1;
                    paddr = next;
                    continue;
                }
                if mask & MASK_2M != 0 {
                    self.pages[1] += 1;
                    last = next;
                    i += 1;
                    paddr = next;
                    continue;
                }
                split = true;
            }
            if mask & MASK_2M != 0 && !split {
                self.pages[1] += 1;
                self.write(at, (paddr & !(PMD_SIZE - 1)) | PAGE_KERNEL_LARGE)?;
                last = next;
            } else {
                let pte = self.alloc_low_page()?;
                last = self.phys_pte_init(pte, paddr, paddr_end)?;
                self.write(at, pte | PAGE_TABLE)?;
            }
            i += 1;
            paddr = next;
        }
        Ok(last)
    }

    /// arch/x86/mm/init_64.c: `phys_pud_init`.
    fn phys_pud_init(
        &mut self,
        pud_page: u64,
        mut paddr: u64,
        paddr_end: u64,
        mask: u32,
    ) -> MapResult<u64> {
        let mut last = paddr_end;
        let mut i = (paddr >> 30) & 511;
        while i < 512 {
            let next = (paddr & !(PUD_SIZE - 1)) + PUD_SIZE;
            if paddr >= paddr_end {
                break;
            }
            let at = pud_page + i * 8;
            let e = self.read(at)?;
            let mut split = false;
            if e & PRESENT != 0 {
                if e & PSE == 0 {
                    last = self.phys_pmd_init(e & PTE_PFN_MASK, paddr, paddr_end, mask)?;
                    i += 1;
                    paddr = next;
                    continue;
                }
                if mask & MASK_1G != 0 {
                    self.pages[2] += 1;
                    last = next;
                    i += 1;
                    paddr = next;
                    continue;
                }
                split = true;
            }
            if mask & MASK_1G != 0 && !split {
                self.pages[2] += 1;
                self.write(at, (paddr & !(PUD_SIZE - 1)) | PAGE_KERNEL_LARGE)?;
                last = next;
            } else {
                let pmd = self.alloc_low_page()?;
                last = self.phys_pmd_init(pmd, paddr, paddr_end, mask)?;
                self.write(at, pmd | PAGE_TABLE)?;
            }
            i += 1;
            paddr = next;
        }
        Ok(last)
    }

    /// arch/x86/mm/init_64.c: `kernel_physical_mapping_init` (4-level paging: the P4D level
    /// folds into the PGD and `phys_p4d_init` goes straight to `phys_pud_init`).
    pub(super) fn kernel_physical_mapping_init(
        &mut self,
        start: u64,
        end: u64,
        mask: u32,
    ) -> MapResult<u64> {
        let _t = self
            .trace
            .enter("kernel_physical_mapping_init", "arch/x86/mm/init_64.c");
        let mut last = end;
        let mut paddr = start;
        while paddr < end {
            let next = (paddr & !(PGDIR_SIZE - 1)) + PGDIR_SIZE;
            let idx = paddr >> 39;
            let pud = match self.pgd.iter().find(|e| e.0 == idx) {
                Some(e) => e.1,
                None => {
                    let p = self.alloc_low_page()?;
                    self.pgd.push((idx, p));
                    p
                }
            };
            last = self.phys_pud_init(pud, paddr, end, mask)?;
            paddr = next;
        }
        Ok(last)
    }
}
