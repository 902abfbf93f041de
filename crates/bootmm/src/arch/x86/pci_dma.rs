// SPDX-License-Identifier: GPL-2.0-only
//! `arch/x86/kernel/pci-dma.c` `pci_iommu_alloc` and `kernel/dma/swiotlb.c` `swiotlb_init`:
//! the bounce buffer reserved from memblock just before the buddy allocator takes over.
//!
//! Devices that can only address 32 bits need a bounce buffer below 4 GiB when the machine
//! has memory above it and no IOMMU is in use. x86 decides this in `pci_swiotlb_detect`
//! (`max_possible_pfn > MAX_DMA32_PFN` unless `iommu=off`; `swiotlb=force`/`iommu=soft`
//! force it, `swiotlb=noforce` turns it off), and `swiotlb_init` takes 64 MiB (or
//! `swiotlb=<slabs>`) of low memory from memblock plus its slot arrays. bootmm models no
//! IOMMU driver, so the buffer stays for the machine's lifetime as it does without one.

use crate::include::addr::page_align;
use crate::init::main::BootError;
use crate::kernel::Kernel;

/// `IO_TLB_SHIFT`: 2 KiB slabs.
pub const IO_TLB_SHIFT: u32 = 11;
/// `IO_TLB_SEGSIZE`.
pub const IO_TLB_SEGSIZE: u64 = 128;
/// `IO_TLB_DEFAULT_SIZE`: 64 MiB.
pub const IO_TLB_DEFAULT_SIZE: u64 = 64 << 20;
/// `MAX_DMA32_PFN`.
pub const MAX_DMA32_PFN: u64 = 1 << (32 - 12);

/// What the command line says about the bounce buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SwiotlbParams {
    /// `swiotlb=<nslabs>` (rounded up to IO_TLB_SEGSIZE).
    pub nslabs: Option<u64>,
    /// `swiotlb=force` / `iommu=soft`.
    pub force: bool,
    /// `swiotlb=noforce` (4.10+).
    pub noforce: bool,
    /// `iommu=off` (`no_iommu`).
    pub no_iommu: bool,
}

/// kernel/dma/swiotlb.c `setup_io_tlb_npages` and arch/x86/kernel/pci-dma.c `iommu_setup`.
pub fn swiotlb_params(k: &Kernel) -> SwiotlbParams {
    let mut p = SwiotlbParams::default();
    for a in crate::klib::cmdline::split_args(&k.machine.cmdline) {
        match (a.param, a.val) {
            ("swiotlb", Some(v)) => {
                let mut rest = v;
                if rest.starts_with(|c: char| c.is_ascii_digit()) {
                    let (n, r) = crate::klib::cmdline::simple_strtoull(rest, 0);
                    p.nslabs = Some(n.div_ceil(IO_TLB_SEGSIZE) * IO_TLB_SEGSIZE);
                    rest = r;
                }
                for opt in rest.split(',') {
                    match opt {
                        "force" => p.force = true,
                        "noforce" if k.era.at_least(4, 10) => p.noforce = true,
                        _ => {}
                    }
                }
            }
            ("iommu", Some(v)) => {
                for opt in v.split(',') {
                    match opt {
                        "off" => p.no_iommu = true,
                        "soft" => p.force = true,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    p
}

/// The slot bookkeeping `swiotlb_init` allocates besides the buffer, per era: 3.x–5.14 an
/// `int` list and a `phys_addr_t` orig_addr array (and, before 4.20, a 32 KiB low overflow
/// buffer); 5.15+ one 24-byte `struct io_tlb_slot` per slab (believed; see
/// docs/divergences.md).
fn slot_arrays(k: &Kernel, nslabs: u64) -> [(u64, bool); 3] {
    if k.era.at_least(5, 15) {
        [(page_align(24 * nslabs), false), (0, false), (0, false)]
    } else {
        let overflow = if k.era.at_least(4, 20) { 0 } else { 32 << 10 };
        [
            (page_align(4 * nslabs), false),
            (page_align(8 * nslabs), false),
            (overflow, true),
        ]
    }
}

/// kernel/dma/swiotlb.c: `swiotlb_init` (`swiotlb_init_remap`): the buffer from low memory,
/// then the slot arrays.
fn swiotlb_init(k: &mut Kernel, nslabs: u64) -> Result<(), BootError> {
    let _t = k.trace.enter("swiotlb_init", "kernel/dma/swiotlb.c");
    let bytes = nslabs << IO_TLB_SHIFT;
    if crate::mm::nobootmem::bootmem_live(k) {
        return swiotlb_init_bootmem(k, nslabs, bytes);
    }
    let tlb = k
        .memblock
        .memblock_alloc_low(page_align(bytes), crate::include::PAGE_SIZE)
        .map_err(|e| BootError::NoMemory(alloc::format!("swiotlb: {e}")))?;
    let Some(tlb) = tlb else {
        crate::pr_warn!(k.printk, "Cannot allocate buffer\n");
        return Ok(());
    };
    for (size, low) in slot_arrays(k, nslabs) {
        if size == 0 {
            continue;
        }
        let r = if low {
            k.memblock
                .memblock_alloc_low(size, crate::include::PAGE_SIZE)
        } else {
            k.memblock.memblock_alloc(size, crate::include::PAGE_SIZE)
        };
        r.map_err(|e| BootError::NoMemory(alloc::format!("swiotlb: {e}")))?;
    }
    if k.era.at_least(5, 15) {
        // io_tlb_mem areas (6.0+): one small array per possible-CPU area.
        if k.era.at_least(6, 0) {
            let nareas = u64::from(k.machine.cpus.max(1)).next_power_of_two();
            let _ = k
                .memblock
                .memblock_alloc(nareas * 24, crate::include::SMP_CACHE_BYTES);
        }
        crate::pr_info!(
            k.printk,
            "software IO TLB: mapped [mem {:#018x}-{:#018x}] ({}MB)\n",
            tlb.0,
            tlb.0 + bytes,
            bytes >> 20
        );
    }
    Ok(())
}

/// lib/swiotlb.c (2.6.x): `swiotlb_init_with_default_size` on the bootmem bitmap: the
/// buffer with `alloc_bootmem_low_pages` (below 4 GiB, from the bottom), the slot list and
/// the original addresses with `alloc_bootmem` (from 16 MiB), the overflow buffer with
/// `alloc_bootmem_low`; any failure is the kernel's panic.
fn swiotlb_init_bootmem(k: &mut Kernel, nslabs: u64, bytes: u64) -> Result<(), BootError> {
    use crate::mm::bootmem::ARCH_LOW_ADDRESS_LIMIT;
    use crate::mm::nobootmem::{bootmem_alloc, BOOTMEM_GOAL};
    let page = crate::include::PAGE_SIZE;
    let line = crate::include::SMP_CACHE_BYTES;
    let allocs = [
        (page_align(bytes), page, 0, ARCH_LOW_ADDRESS_LIMIT),
        (4 * nslabs, line, BOOTMEM_GOAL, 0),
        (8 * nslabs, line, BOOTMEM_GOAL, 0),
        (32 << 10, line, 0, ARCH_LOW_ADDRESS_LIMIT),
    ];
    for (size, align, goal, limit) in allocs {
        let p = bootmem_alloc(k, size, align, goal, limit).map_err(BootError::NoMemory)?;
        if p.is_none() {
            return Err(BootError::NoMemory(alloc::format!(
                "swiotlb: bootmem alloc of {size} bytes failed!"
            )));
        }
    }
    Ok(())
}

/// arch/x86/kernel/pci-dma.c: `pci_iommu_alloc` (`pci_swiotlb_detect` / `_4gb`, then
/// `swiotlb_init`).
pub fn pci_iommu_alloc(k: &mut Kernel) -> Result<(), BootError> {
    let _t = k
        .trace
        .enter("pci_iommu_alloc", "arch/x86/kernel/pci-dma.c");
    let p = swiotlb_params(k);
    let detect = (!p.no_iommu && k.max_possible_pfn > MAX_DMA32_PFN) || p.force;
    if !detect || p.noforce {
        return Ok(());
    }
    let nslabs = p.nslabs.unwrap_or(IO_TLB_DEFAULT_SIZE >> IO_TLB_SHIFT);
    swiotlb_init(k, nslabs)
}
