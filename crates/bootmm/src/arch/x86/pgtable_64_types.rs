// SPDX-License-Identifier: GPL-2.0-only
//! arch/x86/include/asm/pgtable_64_types.h, pgtable_types.h and page_64_types.h: the
//! x86_64 kernel's virtual memory layout and page-table entry bits, in one place.
//!
//! DOC: with 4-level paging (Documentation/arch/x86/x86_64/mm.rst) the kernel half of the
//! address space holds, in order: the direct map of all physical memory at `PAGE_OFFSET`
//! (`0xffff888000000000` from 4.20), the vmalloc/ioremap space (`VMALLOC_START`
//! `0xffffc90000000000`, 32 TiB), the virtual memory map (`VMEMMAP_START`
//! `0xffffea0000000000`), the ESPfix area, EFI runtime services, the kernel image
//! (`__START_KERNEL_map` `0xffffffff80000000`), modules, the CPU entry area and the fixmap.
//! KASLR moves the first three by PUD-aligned random amounts; bootmm's layout is the one the
//! kernel uses without it (`nokaslr`, or a kernel built without RANDOMIZE_MEMORY).
//!
//! The walk itself is described by [`Paging`]: the levels' shifts and table sizes, so the
//! era work can add i386's 2-level and PAE 3-level tables beside 4-level without another
//! walker.

/// `VMALLOC_START` without KASLR (`__VMALLOC_BASE_L4`).
pub const VMALLOC_START: u64 = 0xffff_c900_0000_0000;
/// `VMALLOC_SIZE_TB` with 4-level paging (`VMALLOC_SIZE_TB_L4`).
pub const VMALLOC_SIZE_TB: u64 = 32;
/// `VMALLOC_END`: `VMALLOC_START + (VMALLOC_SIZE_TB << 40) - 1`.
pub const VMALLOC_END: u64 = VMALLOC_START + (VMALLOC_SIZE_TB << 40) - 1;
/// `VMEMMAP_START` without KASLR.
pub const VMEMMAP_START: u64 = crate::mm::sparse::VMEMMAP_START;
/// `ESPFIX_BASE_ADDR` (`ESPFIX_PGD_ENTRY` -2).
pub const ESPFIX_BASE_ADDR: u64 = 0xffff_ff00_0000_0000;
/// `EFI_VA_END` .. `EFI_VA_START`: the EFI runtime services' mappings.
pub const EFI_VA_END: u64 = 0xffff_ffef_0000_0000;
/// `__START_KERNEL_map`: the kernel image's mapping.
pub const START_KERNEL_MAP: u64 = 0xffff_ffff_8000_0000;
/// `MODULES_VADDR`: `__START_KERNEL_map + KERNEL_IMAGE_SIZE` (1 GiB with KASLR configured).
pub const MODULES_VADDR: u64 = START_KERNEL_MAP + (1 << 30);
/// `MODULES_END`.
pub const MODULES_END: u64 = 0xffff_ffff_ff00_0000;
/// `CPU_ENTRY_AREA_BASE` (4.15+).
pub const CPU_ENTRY_AREA_BASE: u64 = 0xffff_fe00_0000_0000;
/// `FIXADDR_TOP`-ish: the top of the fixmap, one page below the vsyscall page's end.
pub const FIXADDR_TOP: u64 = 0xffff_ffff_ff7f_f000;

/// `PAGE_SHIFT`.
pub const PAGE_SHIFT: u32 = 12;
/// `PAGE_SIZE`.
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;

/// `_PAGE_PRESENT`.
pub const _PAGE_PRESENT: u64 = 1 << 0;
/// `_PAGE_PSE`: the entry maps a large page.
pub const _PAGE_PSE: u64 = 1 << 7;
/// `_PAGE_TABLE`: an entry pointing at a page-table page (`_PAGE_PRESENT | _PAGE_RW |
/// _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY`), as `pud_populate` and
/// `pmd_populate_kernel` write it.
pub const _PAGE_TABLE: u64 = 0x067;
/// `PAGE_KERNEL`: `__PP | __RW | ___A | __NX | ___D | ___G`.
pub const PAGE_KERNEL: u64 = 0x8000_0000_0000_0163;
/// `PTE_PFN_MASK` with 46-bit physical addresses (bits 51–12).
pub const PTE_PFN_MASK: u64 = 0x000f_ffff_ffff_f000;

/// A page-table format: how a virtual address is split over the levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paging {
    /// The shift of each level, top first (the last is `PAGE_SHIFT`).
    pub shifts: &'static [u32],
    /// Entries in one table of each level.
    pub ptrs: &'static [u64],
    /// Bytes of one entry.
    pub entry_bytes: u64,
}

impl Paging {
    /// x86_64 4-level paging: PGD (P4D folded into it), PUD, PMD, PTE; 512 entries of 8 bytes.
    pub const X86_64_4LEVEL: Paging = Paging {
        shifts: &[39, 30, 21, 12],
        ptrs: &[512, 512, 512, 512],
        entry_bytes: 8,
    };

    /// Number of levels.
    pub fn levels(&self) -> usize {
        self.shifts.len()
    }

    /// The index into level `level`'s table for `va`.
    #[inline(always)]
    pub fn index(&self, level: usize, va: u64) -> u64 {
        (va >> self.shifts[level]) & (self.ptrs[level] - 1)
    }

    /// The bytes one entry of `level` maps.
    #[inline(always)]
    pub fn entry_size(&self, level: usize) -> u64 {
        1 << self.shifts[level]
    }

    /// `p?d_addr_end(addr, end)`: the end of `level`'s entry holding `addr`, clipped to `end`.
    #[inline(always)]
    pub fn addr_end(&self, level: usize, addr: u64, end: u64) -> u64 {
        let size = self.entry_size(level);
        let boundary = (addr & !(size - 1)).wrapping_add(size);
        if boundary.wrapping_sub(1) < end.wrapping_sub(1) {
            boundary
        } else {
            end
        }
    }
}
