// SPDX-License-Identifier: GPL-2.0-only
//! arch/x86/mm/init_32.c, arch/x86/kernel/head_32.S (head32.c from 4.12) and
//! arch/x86/mm/init.c on a 32-bit kernel: the i386 kernel page tables, as pages of
//! simulated RAM.
//!
//! DOC: an i386 kernel translates through two levels without PAE (`swapper_pg_dir`, 1024
//! four-byte entries of 4 MiB each, then a page table of 1024 PTEs) and three with PAE (a
//! PGD of four eight-byte entries of 1 GiB, a PMD page of 512 entries of 2 MiB, a page table
//! of 512 PTEs). The PMD level folds into the PGD without PAE, so a large (PSE) page is a
//! PGD entry there and a PMD entry with PAE; either way the kernel counts it as
//! `PG_LEVEL_2M` (the name is the x86_64 one; without PAE the page is 4 MiB).
//!
//! The tables are built in the kernel's order. `startup_32` (`mk_early_pgtbl_32`) maps
//! RAM from 0 up to past `_end` (plus the room the direct map's own tables will need) with
//! 4 KiB pages whose page tables it writes at `__brk_base`; `swapper_pg_dir` receives the
//! kernel half of that (with PAE through the image's `initial_pg_pmd`, the one kernel PMD
//! page a 3 GiB split has). `early_ioremap_init` hooks its static `bm_pte` in for the boot
//! fixmap slots. `init_mem_mapping` then maps lowmem (`0 … max_low_pfn`) at `PAGE_OFFSET`:
//! the first PMD's worth always with 4 KiB pages, the middle with large pages when the CPU
//! has PSE, the unaligned tail with 4 KiB pages, reusing the page tables `startup_32` left
//! where a range is mapped with 4 KiB pages. Before 3.9 the page tables it needs come from
//! one block `find_early_table_space` sized and found below the initial mapping, and the
//! part used is reserved as "PGTABLE"; from 3.9 they come from the brk buffer
//! (`early_alloc_pgt_buf`) and then memblock (`alloc_low_pages`). The fixmap's page tables
//! (`early_ioremap_page_table_range_init`) and the pkmap area's
//! (`permanent_kmaps_init`) are made the same way, in the same tables. bootmm's struct
//! pages live above the machine's RAM (the FLATMEM shadow window) and are not in these
//! tables.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::init::{MapResult, MASK_2M};
use super::pgtable_32_types::{self, Layout32, FIXADDR_TOP, KM_TYPE_NR, PAGE_OFFSET};
use super::set_memory::{PgLevel, Walk};
use crate::era::Era;
use crate::include::PhysAddr;
use crate::kernel::Kernel;
use crate::phys::PhysMem;

const PAGE: u64 = 4096;
/// `_PAGE_PRESENT`.
pub(crate) const PRESENT: u64 = 0x001;
/// `_PAGE_PSE`.
pub(crate) const PSE: u64 = 0x080;
/// `_PAGE_TABLE`: a PMD (or, without PAE, PGD) entry pointing at a page table, as
/// `one_page_table_init` and `pmd_populate_kernel` write it.
pub(crate) const PAGE_TABLE: u64 = 0x067;
/// `PDE_IDENT_ATTR` (`_KERNPG_TABLE`): the entries `startup_32` writes.
const PDE_IDENT_ATTR: u64 = 0x063;
/// `PGD_IDENT_ATTR`: a PAE PGD entry (a PDPTE has only the present bit).
const PGD_IDENT_ATTR: u64 = 0x001;
/// `PTE_IDENT_ATTR`: `startup_32`'s 4 KiB entries (present, RW).
const PTE_IDENT_ATTR: u64 = 0x003;
/// `__PAGE_KERNEL_EXEC`: present, RW, accessed, dirty, global. `__PAGE_KERNEL` adds NX.
pub(crate) const PAGE_KERNEL_EXEC: u64 = 0x163;
/// `__PAGE_KERNEL_LARGE_EXEC`: as above with PSE. `__PAGE_KERNEL_LARGE` adds NX.
const PAGE_KERNEL_LARGE_EXEC: u64 = 0x1e3;
/// `_PAGE_NX`: only PAE entries have it (bit 63).
const PAGE_NX: u64 = 1 << 63;

/// The shape of the tables: 2-level or PAE, decided once from the architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geom32 {
    pub pae: bool,
}

impl Geom32 {
    /// `sizeof(pte_t)`.
    pub fn entry_size(self) -> u64 {
        if self.pae {
            8
        } else {
            4
        }
    }
    /// `PTRS_PER_PTE`.
    pub fn ptrs_per_pte(self) -> u64 {
        pgtable_32_types::ptrs_per_pte(self.pae)
    }
    /// `PTRS_PER_PMD`: 1 without PAE (folded).
    pub fn ptrs_per_pmd(self) -> u64 {
        if self.pae {
            512
        } else {
            1
        }
    }
    /// `PTRS_PER_PGD`.
    pub fn ptrs_per_pgd(self) -> u64 {
        if self.pae {
            4
        } else {
            1024
        }
    }
    /// `PGDIR_SHIFT`.
    pub fn pgdir_shift(self) -> u32 {
        if self.pae {
            30
        } else {
            22
        }
    }
    /// `PMD_SHIFT` (the PGD's without PAE).
    pub fn pmd_shift(self) -> u32 {
        if self.pae {
            21
        } else {
            22
        }
    }
    /// `PMD_SIZE`.
    pub fn pmd_size(self) -> u64 {
        1 << self.pmd_shift()
    }
    /// `PTE_PFN_MASK`: 36-bit (up to 52-bit) addresses with PAE, 32-bit without.
    pub fn pfn_mask(self) -> u64 {
        if self.pae {
            0x000f_ffff_ffff_f000
        } else {
            0xffff_f000
        }
    }
    /// `_PAGE_NX` as `__supported_pte_mask` lets it through (taken as set with PAE).
    pub fn nx(self) -> u64 {
        if self.pae {
            PAGE_NX
        } else {
            0
        }
    }
}

/// Read the entry at `pa` (0 when outside simulated RAM).
pub fn read_entry(ram: &PhysMem, g: Geom32, pa: u64) -> u64 {
    if g.pae {
        return ram.read_u64(PhysAddr(pa)).unwrap_or(0);
    }
    ram.host_ptr(PhysAddr(pa), 4).map_or(0, |h| {
        // SAFETY: four bytes of simulated RAM, checked by host_ptr; the read is unaligned.
        u64::from(unsafe { h.as_ptr().cast::<u32>().read_unaligned() })
    })
}

/// Write the entry at `pa`.
pub fn write_entry(ram: &PhysMem, g: Geom32, pa: u64, v: u64) -> MapResult<()> {
    if g.pae {
        return ram.write_u64(PhysAddr(pa), v).map_err(|e| format!("{e}"));
    }
    let h = ram.host_ptr(PhysAddr(pa), 4).map_err(|e| format!("{e}"))?;
    // SAFETY: four bytes of simulated RAM, checked by host_ptr; during boot only the
    // page-table code writes a page table, and later only under the lock guarding it.
    unsafe { h.as_ptr().cast::<u32>().write_unaligned(v as u32) };
    Ok(())
}

/// What the i386 tables hold, kept for the walker, ptdump, /proc/meminfo and the later
/// page-table allocations.
#[derive(Clone, Debug, Default)]
pub struct Pt32 {
    /// The tables' shape (`None`: not built, an x86_64 kernel or an era not modelled).
    pub geom: Option<Geom32>,
    /// `swapper_pg_dir`'s physical address (a page of the image's `.bss`).
    pub swapper_pg_dir: u64,
    /// `direct_pages_count[PG_LEVEL_4K]` and `[PG_LEVEL_2M]`.
    pub pages_count: [u64; 2],
    /// The end of `startup_32`'s mapping (`max_pfn_mapped << PAGE_SHIFT` before
    /// `init_mem_mapping`).
    pub initial_map_end: u64,
    /// `__brk_base` and the end of what `startup_32` and `early_alloc_pgt_buf` took there.
    pub brk: (u64, u64),
    /// Before 3.9: the `find_early_table_space` block, `[start, top)`, and the part used.
    pub early_table: Option<(u64, u64, u64)>,
    /// From 3.9: `pgt_buf_end`, `pgt_buf_top`, `min_pfn_mapped`, `max_pfn_mapped` after
    /// `init_mem_mapping`, for the page tables `paging_init` still allocates.
    pub low_pages: Option<[u64; 4]>,
    /// Page-table pages taken from memblock (base, bytes), in order.
    pub memblock_pages: Vec<(u64, u64)>,
}

/// How `init_mem_mapping` finds page-table pages in an era, decided once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pt32Rules {
    /// The tables are built at all: memblock eras (2.6.34+); bootmem's 2.6 i386 built them
    /// in `pagetable_init` from bootmem, which is not modelled.
    pub built: bool,
    /// `find_early_table_space` with one block found below `max_pfn_mapped` (before 3.9's
    /// "x86, mm: Find early page table buffer together"), else `alloc_low_pages`.
    pub early_table_space: bool,
    /// From 3.8 `find_early_table_space` counts the tables per mapped range and prints
    /// "up to %#lx @ [mem …]" (seen in a 3.8 log; 3.2's counts the whole range).
    pub per_range_table_space: bool,
    /// The `[mem %#010lx-%#010lx]` format of the mapping lines (seen in 3.8, not in 3.2;
    /// taken as 3.7, unconfirmed).
    pub mem_format: bool,
    /// `page_table_kmap_check` copies every kmap PMD's page table into the block counted
    /// up front (3.9's `page_table_range_init_count`); before, only a page table outside
    /// the early block.
    pub kmap_check_counts: bool,
    /// `split_mem_range`'s `adjust_range_page_size_mask` (3.9+).
    pub adjust_page_size: bool,
}

impl Pt32Rules {
    pub fn new(era: &Era) -> Self {
        Pt32Rules {
            built: era.early_allocator() != crate::era::EarlyAllocator::Bootmem,
            early_table_space: !era.at_least(3, 9),
            per_range_table_space: era.at_least(3, 8),
            mem_format: era.at_least(3, 7),
            kmap_check_counts: era.at_least(3, 9),
            adjust_page_size: era.at_least(3, 9),
        }
    }
}

/// Where page-table pages come from while the tables are built.
pub(crate) trait LowPages {
    /// `alloc_low_pages(num)`: `num` zeroed, physically contiguous pages.
    fn alloc_low_pages(&mut self, num: u64) -> MapResult<u64>;
    /// The page lies in the early block's used part (`pgt_buf_start … pgt_buf_end`).
    fn in_early_block(&self, _pa: u64) -> bool {
        false
    }
}

/// The `find_early_table_space` block (before 3.9): `alloc_low_page` takes `pgt_buf_end++`
/// and panics past `pgt_buf_top`.
pub(crate) struct EarlyBlock<'a> {
    pub ram: &'a PhysMem,
    pub start: u64,
    pub end: u64,
    pub top: u64,
}

impl LowPages for EarlyBlock<'_> {
    fn alloc_low_pages(&mut self, num: u64) -> MapResult<u64> {
        if self.end + num > self.top {
            return Err(String::from("alloc_low_page: ran out of memory"));
        }
        let pa = self.end << 12;
        self.end += num;
        self.ram
            .memset(PhysAddr(pa), 0, num * PAGE)
            .map_err(|e| format!("{e}"))?;
        Ok(pa)
    }
    fn in_early_block(&self, pa: u64) -> bool {
        (self.start..self.end).contains(&(pa >> 12))
    }
}

/// The image's sections as an i386 build links them (`.text`, `.rodata`, `.data`, `.init`,
/// `.bss`, `.brk`, each following the last; the same estimate as the "virtual kernel
/// memory layout" block): `(_text, __init_end, __bss_start, __bss_stop)`, physical.
pub fn image_32(k: &Kernel) -> (u64, u64, u64, u64) {
    use crate::include::addr::page_align;
    let img = &k.machine.image;
    let text = img.phys_start;
    let edata = text + img.text + img.rodata + img.rwdata;
    let init_end = page_align(edata) + img.init;
    let bss = page_align(init_end);
    (text, init_end, bss, bss + img.bss)
}

/// `INIT_MAP_SIZE` / `MAPPING_BEYOND_END` in pages: `PAGE_TABLE_SIZE(LOWMEM_PAGES)`, the page
/// tables a 1 GiB lowmem would need (516 with PAE, 256 without).
fn page_table_size_lowmem(g: Geom32) -> u64 {
    let lowmem_pages = ((1u64 << 32) - PAGE_OFFSET) >> 12;
    if g.pae {
        lowmem_pages / 512 + 4
    } else {
        lowmem_pages / 1024
    }
}

/// `INIT_PGT_BUF_SIZE / PAGE_SIZE` on 32-bit (CONFIG_RANDOMIZE_MEMORY is x86_64's).
const INIT_PGT_BUF_PAGES: u64 = 6;
/// The brk area's fixed part: the 64 KiB `vmlinux.lds` opens it with, and
/// `RESERVE_BRK(dmi_alloc, 65536)`.
const BRK_FIXED: u64 = 128 << 10;

/// The entry index of `va` in the PGD.
fn pgd_index(g: Geom32, va: u64) -> u64 {
    (va >> g.pgdir_shift()) & (g.ptrs_per_pgd() - 1)
}

/// The physical address of the PMD entry for `va` (without PAE the PGD entry), if its
/// PMD page is present.
pub fn pmd_entry(ram: &PhysMem, g: Geom32, pgd: u64, va: u64) -> Option<u64> {
    let pgd_e = pgd + pgd_index(g, va) * g.entry_size();
    if !g.pae {
        return Some(pgd_e);
    }
    let e = read_entry(ram, g, pgd_e);
    (e & PRESENT != 0).then(|| (e & g.pfn_mask()) + ((va >> 21) & 511) * 8)
}

/// The physical address of the PTE for `va`, if a page table maps it (not a large page).
pub fn pte_entry(ram: &PhysMem, g: Geom32, pgd: u64, va: u64) -> Option<u64> {
    let pmd = pmd_entry(ram, g, pgd, va)?;
    let e = read_entry(ram, g, pmd);
    (e & PRESENT != 0 && e & PSE == 0)
        .then(|| (e & g.pfn_mask()) + ((va >> 12) & (g.ptrs_per_pte() - 1)) * g.entry_size())
}

/// arch/x86/mm/init_32.c: `one_md_table_init`: the PMD page under PGD entry `pgd_idx`
/// (with PAE, made when absent; without, the PGD entry itself). Returns the physical
/// address of its first entry.
fn one_md_table_init(
    ram: &PhysMem,
    g: Geom32,
    pgd: u64,
    pgd_idx: u64,
    lp: &mut dyn LowPages,
) -> MapResult<u64> {
    let pgd_e = pgd + pgd_idx * g.entry_size();
    if !g.pae {
        return Ok(pgd_e);
    }
    let e = read_entry(ram, g, pgd_e);
    if e & PRESENT != 0 {
        return Ok(e & g.pfn_mask());
    }
    let p = lp.alloc_low_pages(1)?;
    write_entry(ram, g, pgd_e, p | PRESENT)?;
    Ok(p)
}

/// arch/x86/mm/init_32.c: `one_page_table_init`: the page table under the PMD entry at
/// `pmd`, made when absent.
fn one_page_table_init(
    ram: &PhysMem,
    g: Geom32,
    pmd: u64,
    lp: &mut dyn LowPages,
) -> MapResult<u64> {
    let e = read_entry(ram, g, pmd);
    if e & PRESENT != 0 {
        if e & PSE != 0 {
            return Err(format!(
                "one_page_table_init: the PMD entry at {pmd:#x} maps a large page"
            ));
        }
        return Ok(e & g.pfn_mask());
    }
    let p = lp.alloc_low_pages(1)?;
    write_entry(ram, g, pmd, p | PAGE_TABLE)?;
    Ok(p)
}

/// The inputs of the 32-bit mapping code that stay the same through a boot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Map32 {
    pub geom: Geom32,
    pub pgd: u64,
    /// `_text` and `__init_end`, virtual (`is_kernel_text`).
    pub text: (u64, u64),
    pub max_low_pfn: u64,
    /// The CPU has PSE (taken as so: every CPU since the Pentium).
    pub pse: bool,
}

/// arch/x86/mm/init_32.c: `kernel_physical_mapping_init` (32-bit): map `[start, end)` at
/// `PAGE_OFFSET + start`, with large pages when `page_size_mask` is exactly the 2M bit and
/// the CPU has PSE, else 4 KiB pages in the page tables found or made. Only the final
/// entries are written (the kernel's first pass with the boot attributes is overwritten by
/// its second). Returns the end of what was mapped; adds to `counts` (4K, 2M).
pub(crate) fn kernel_physical_mapping_init(
    ram: &PhysMem,
    m: Map32,
    start: u64,
    end: u64,
    page_size_mask: u32,
    lp: &mut dyn LowPages,
    counts: &mut [u64; 2],
) -> MapResult<u64> {
    let g = m.geom;
    let use_pse = page_size_mask == MASK_2M && m.pse;
    let is_kernel_text = |a: u64| a >= m.text.0 && a <= m.text.1;
    let mut last_map_addr = end;
    let (mut pfn, end_pfn) = (start >> 12, end >> 12);
    let ptrs = g.ptrs_per_pte();
    let mut pgd_idx = pgd_index(g, (pfn << 12) + PAGE_OFFSET);
    while pgd_idx < g.ptrs_per_pgd() {
        let pmd_table = one_md_table_init(ram, g, m.pgd, pgd_idx, lp)?;
        if pfn >= end_pfn {
            pgd_idx += 1;
            continue;
        }
        let mut pmd_idx = if g.pae {
            (((pfn << 12) + PAGE_OFFSET) >> 21) & 511
        } else {
            0
        };
        while pmd_idx < g.ptrs_per_pmd() && pfn < end_pfn {
            let pmd = pmd_table + pmd_idx * g.entry_size();
            let addr = (pfn << 12) + PAGE_OFFSET;
            if use_pse {
                pfn &= !(ptrs - 1);
                let addr2 = (pfn + ptrs - 1) * PAGE + PAGE_OFFSET + PAGE - 1;
                let prot = if is_kernel_text(addr) || is_kernel_text(addr2) {
                    PAGE_KERNEL_LARGE_EXEC
                } else {
                    PAGE_KERNEL_LARGE_EXEC | g.nx()
                };
                counts[1] += 1;
                write_entry(ram, g, pmd, (pfn << 12) | prot)?;
                pfn += ptrs;
            } else {
                let pte = one_page_table_init(ram, g, pmd, lp)?;
                let mut ofs = (addr >> 12) & (ptrs - 1);
                while ofs < ptrs && pfn < end_pfn {
                    let a = (pfn << 12) + PAGE_OFFSET;
                    let prot = if is_kernel_text(a) {
                        PAGE_KERNEL_EXEC
                    } else {
                        PAGE_KERNEL_EXEC | g.nx()
                    };
                    counts[0] += 1;
                    write_entry(ram, g, pte + ofs * g.entry_size(), (pfn << 12) | prot)?;
                    last_map_addr = (pfn << 12) + PAGE;
                    pfn += 1;
                    ofs += 1;
                }
            }
            pmd_idx += 1;
        }
        pgd_idx += 1;
    }
    Ok(last_map_addr)
}

/// `memblock_is_region_memory(base, size)`.
pub type IsMemory<'a> = &'a dyn Fn(u64, u64) -> bool;

/// arch/x86/mm/init.c: `split_mem_range` on 32-bit: the first PMD's worth of RAM never
/// with large pages (fixed-size MTRRs often cover it), a 4 KiB head up to the next PMD
/// boundary, the large-page middle, the 4 KiB tail; from 3.9 a 4 KiB piece whose PMDs
/// lie wholly in RAM below `max_low_pfn` is widened (`adjust_range_page_size_mask`).
pub fn split_mem_range_32(
    g: Geom32,
    start: u64,
    end: u64,
    page_size_mask: u32,
    adjust: Option<(u64, IsMemory<'_>)>,
) -> Vec<(u64, u64, u32)> {
    let pmd_pages = g.pmd_size() >> 12;
    let up = |x: u64, a: u64| x.div_ceil(a) * a;
    let down = |x: u64, a: u64| x / a * a;
    let limit_pfn = end >> 12;
    let mut mr: Vec<(u64, u64, u32)> = Vec::new();
    let mut save = |s: u64, e: u64, m: u32| {
        if s < e {
            mr.push((s << 12, e << 12, m));
        }
    };
    let mut pfn = start >> 12;
    let start_pfn = pfn;
    let end_pfn = if pfn == 0 {
        pmd_pages
    } else {
        up(pfn, pmd_pages)
    }
    .min(limit_pfn);
    if start_pfn < end_pfn {
        save(start_pfn, end_pfn, 0);
        pfn = end_pfn;
    }
    let s = up(pfn, pmd_pages);
    let e = down(limit_pfn, pmd_pages);
    if s < e {
        save(s, e, page_size_mask & MASK_2M);
        pfn = e;
    }
    save(pfn, limit_pfn, 0);
    if let Some((max_low_pfn, is_memory)) = adjust {
        for r in mr.iter_mut() {
            if page_size_mask & MASK_2M != 0 && r.2 & MASK_2M == 0 {
                let (s, e) = (down(r.0, g.pmd_size()), up(r.1, g.pmd_size()));
                if e >> 12 > max_low_pfn {
                    continue;
                }
                if is_memory(s, e - s) {
                    r.2 |= MASK_2M;
                }
            }
        }
    }
    let mut i = 0;
    while mr.len() > 1 && i + 1 < mr.len() {
        if mr[i].1 == mr[i + 1].0 && mr[i].2 == mr[i + 1].2 {
            mr[i].1 = mr[i + 1].1;
            mr.remove(i + 1);
        } else {
            i += 1;
        }
    }
    mr
}

/// The fixmap facts `page_table_range_init` needs: `FIX_KMAP_BEGIN`'s and `FIX_KMAP_END`'s
/// PMD indexes (`vaddr >> PMD_SHIFT`).
fn kmap_pmd_range(g: Geom32, nr_cpus: u64) -> (u64, u64) {
    let fix = |idx: u64| FIXADDR_TOP - idx * PAGE;
    let begin = crate::mm::highmem::FIX_KMAP_BEGIN;
    let end = begin + KM_TYPE_NR * nr_cpus - 1;
    (fix(end) >> g.pmd_shift(), fix(begin) >> g.pmd_shift())
}

/// arch/x86/mm/init_32.c: `page_table_range_init`: page tables wherever they are missing
/// in `[start, end)` (`end` may be 4 GiB, the wrapped 0 of the kernel's arithmetic), with
/// `page_table_kmap_check` moving a kmap_atomic page table another user made first (the
/// early fixmap's `bm_pte`) into the allocated run, so that the kmap slots' page tables
/// are contiguous.
#[allow(clippy::too_many_arguments)]
pub(crate) fn page_table_range_init(
    ram: &PhysMem,
    g: Geom32,
    pgd: u64,
    rules: Pt32Rules,
    nr_cpus: u64,
    start: u64,
    end: u64,
    lp: &mut dyn LowPages,
) -> MapResult<()> {
    let (kb, ke) = kmap_pmd_range(g, nr_cpus);
    let in_kmap = |va: u64| kb != ke && (kb..=ke).contains(&(va >> g.pmd_shift()));
    let mut adr = 0;
    if rules.kmap_check_counts {
        // page_table_range_init_count
        let n = (start..end)
            .step_by(g.pmd_size() as usize)
            .filter(|&v| in_kmap(v))
            .count() as u64;
        if n > 0 {
            adr = lp.alloc_low_pages(n)?;
        }
    }
    let mut vaddr = start;
    while vaddr < end {
        let pmd_table = one_md_table_init(ram, g, pgd, pgd_index(g, vaddr), lp)?;
        let pmd = pmd_table + if g.pae { ((vaddr >> 21) & 511) * 8 } else { 0 };
        let pte = one_page_table_init(ram, g, pmd, lp)?;
        // page_table_kmap_check
        if in_kmap(vaddr) && (rules.kmap_check_counts || !lp.in_early_block(pte)) {
            let newpte = if rules.kmap_check_counts {
                let p = adr;
                adr += PAGE;
                p
            } else {
                lp.alloc_low_pages(1)?
            };
            for i in 0..g.ptrs_per_pte() {
                let e = read_entry(ram, g, pte + i * g.entry_size());
                write_entry(ram, g, newpte + i * g.entry_size(), e)?;
            }
            write_entry(ram, g, pmd, newpte | PAGE_TABLE)?;
        }
        vaddr += g.pmd_size();
    }
    Ok(())
}

/// The fixmap range `early_ioremap_page_table_range_init` covers: from the PMD of the last
/// fixmap slot (`__end_of_fixed_addresses - 1`) to the top.
pub(crate) fn fixmap_pmd_range(g: Geom32, l: &Layout32) -> (u64, u64) {
    let last = l.fixaddr_boot_start + PAGE;
    (last & !(g.pmd_size() - 1), 1 << 32)
}

/// The physical pages of the image's page-aligned `.bss` that hold the static tables:
/// `initial_pg_pmd` (PAE) or `initial_page_table`, `initial_pg_fixmap`, `empty_zero_page`,
/// `swapper_pg_dir` (head_32.S's order), then `bm_pte` (arch/x86/mm/ioremap.c). `None`
/// when `.bss` is too small to hold them.
fn static_tables(k: &Kernel) -> Option<(u64, u64, u64)> {
    let (_, _, bss, bss_end) = image_32(k);
    if bss_end < bss + 5 * PAGE {
        return None;
    }
    Some((bss, bss + 3 * PAGE, bss + 4 * PAGE))
}

/// The first address of the image's ordinary `.bss` (vmlinux.lds puts `.bss..page_aligned`,
/// the static tables of [`static_tables`], first), when the tables are built and `len`
/// bytes fit there before `__bss_stop`. Physical.
pub(crate) fn bss_after_static_tables(k: &Kernel, len: u64) -> Option<u64> {
    k.pt32.geom?;
    let (_, _, bm_pte) = static_tables(k)?;
    let (_, _, _, bss_end) = image_32(k);
    let start = bm_pte + PAGE;
    (start + len <= bss_end).then_some(start)
}

/// arch/x86/kernel/head_32.S `startup_32` (`mk_early_pgtbl_32` in head32.c from 4.12) and
/// arch/x86/mm/ioremap.c `early_ioremap_init`: the boot page tables. RAM from 0 is mapped
/// with 4 KiB pages whose page tables follow one another from `__brk_base`, until past
/// `_end + MAPPING_BEYOND_END`; `swapper_pg_dir` receives the kernel half
/// (`clone_pgd_range` from `initial_page_table` in `setup_arch`); `bm_pte` is hooked in
/// under the boot fixmap slots. Returns `None` when the image's `.bss` cannot hold the
/// static tables (nothing is written then).
///
/// `_end` is estimated: `__brk_base` plus the brk reservations (64 KiB, `dmi_alloc`'s 64 KiB,
/// `INIT_MAP_SIZE`, from 3.9 `INIT_PGT_BUF_SIZE`).
pub fn mk_early_pgtbl_32(k: &mut Kernel, g: Geom32, l: &Layout32) -> MapResult<Option<Pt32>> {
    let name = if k.era.at_least(4, 12) {
        ("mk_early_pgtbl_32", "arch/x86/kernel/head32.c")
    } else {
        ("startup_32", "arch/x86/kernel/head_32.S")
    };
    let _t = k.trace.enter(name.0, name.1);
    let Some((pmd_or_pgt, swapper, bm_pte)) = static_tables(k) else {
        return Ok(None);
    };
    let ram = k.phys.clone();
    let rules = Pt32Rules::new(&k.era);
    for p in [pmd_or_pgt, swapper, bm_pte] {
        ram.memset(PhysAddr(p), 0, PAGE)
            .map_err(|e| format!("{e}"))?;
    }
    let (_, _, _, bss_end) = image_32(k);
    let brk_base = crate::include::addr::page_align(bss_end);
    let pgt_buf = if rules.early_table_space {
        0
    } else {
        INIT_PGT_BUF_PAGES
    };
    let init_map = page_table_size_lowmem(g);
    let end = brk_base + BRK_FIXED + (init_map + pgt_buf) * PAGE;
    let target = end + init_map * PAGE;
    let kernel_pgd = pgd_index(g, PAGE_OFFSET);
    if g.pae {
        write_entry(
            &ram,
            g,
            swapper + kernel_pgd * 8,
            pmd_or_pgt | PGD_IDENT_ATTR,
        )?;
    }
    let mut next = 0u64;
    let mut pt = brk_base;
    let mut i = 0u64;
    while next < target {
        ram.memset(PhysAddr(pt), 0, PAGE)
            .map_err(|e| format!("{e}"))?;
        for j in 0..g.ptrs_per_pte() {
            write_entry(&ram, g, pt + j * g.entry_size(), next | PTE_IDENT_ATTR)?;
            next += PAGE;
        }
        let pmd = if g.pae {
            pmd_or_pgt + i * 8
        } else {
            swapper + (kernel_pgd + i) * 4
        };
        write_entry(&ram, g, pmd, pt | PDE_IDENT_ATTR)?;
        pt += PAGE;
        i += 1;
    }
    // early_ioremap_init: bm_pte under FIX_BTMAP_BEGIN's PMD (pmd_populate_kernel).
    {
        let _t = k.trace.enter("early_ioremap_init", "arch/x86/mm/ioremap.c");
        let va = FIXADDR_TOP - l.fix_btmap_begin * PAGE;
        if let Some(pmd) = pmd_entry(&ram, g, swapper, va) {
            write_entry(&ram, g, pmd, bm_pte | PAGE_TABLE)?;
        }
    }
    Ok(Some(Pt32 {
        geom: Some(g),
        swapper_pg_dir: swapper,
        initial_map_end: next,
        brk: (brk_base, pt + pgt_buf * PAGE),
        ..Default::default()
    }))
}

/// arch/x86/mm/init_32.c `native_pagetable_init`: clear the boot mapping's PTEs past
/// `max_low_pfn` (where `startup_32` mapped beyond lowmem), up to the first hole.
pub fn native_pagetable_init(k: &mut Kernel) {
    let pt = &k.pt32;
    let Some(g) = pt.geom else {
        return;
    };
    let _t = k
        .trace
        .enter("native_pagetable_init", "arch/x86/mm/init_32.c");
    let mut pfn = k.max_low_pfn;
    while pfn < 1 << 20 {
        let va = PAGE_OFFSET + (pfn << 12);
        if va >= 1 << 32 {
            break;
        }
        let Some(pte) = pte_entry(&k.phys, g, pt.swapper_pg_dir, va) else {
            break;
        };
        if read_entry(&k.phys, g, pte) & PRESENT == 0 {
            break;
        }
        let _ = write_entry(&k.phys, g, pte, 0);
        pfn += 1;
    }
}

/// arch/x86/mm/pat/set_memory.c `lookup_address` on 32-bit: the entry mapping `va` in
/// `swapper_pg_dir` and its level (a large page is `PG_LEVEL_2M`, 2 or 4 MiB). `None`
/// when the tables are not built.
pub fn lookup_address_32(k: &Kernel, va: u64) -> Option<Walk32> {
    let g = k.pt32.geom?;
    let ram = &k.phys;
    let not_mapped = |level, entry| {
        Some(Walk32 {
            walk: Walk {
                va,
                level,
                entry,
                pa: None,
            },
            size: 0,
        })
    };
    if va >= 1 << 32 {
        return not_mapped(PgLevel::Pgd, 0);
    }
    let pgd_e = k.pt32.swapper_pg_dir + pgd_index(g, va) * g.entry_size();
    let top = read_entry(ram, g, pgd_e);
    if top & PRESENT == 0 {
        return not_mapped(if g.pae { PgLevel::Pgd } else { PgLevel::Pmd }, top);
    }
    let Some(pmd) = pmd_entry(ram, g, k.pt32.swapper_pg_dir, va) else {
        return not_mapped(PgLevel::Pgd, top);
    };
    let e = read_entry(ram, g, pmd);
    if e & PRESENT == 0 {
        return not_mapped(PgLevel::Pmd, e);
    }
    let leaf = |level, entry: u64, size: u64| {
        let base = entry & g.pfn_mask() & !(size - 1);
        Some(Walk32 {
            walk: Walk {
                va,
                level,
                entry,
                pa: Some(PhysAddr(base + (va & (size - 1)))),
            },
            size,
        })
    };
    if e & PSE != 0 {
        return leaf(PgLevel::Pmd, e, g.pmd_size());
    }
    let pte = (e & g.pfn_mask()) + ((va >> 12) & (g.ptrs_per_pte() - 1)) * g.entry_size();
    let p = read_entry(ram, g, pte);
    if p & PRESENT == 0 {
        return not_mapped(PgLevel::Pte, p);
    }
    leaf(PgLevel::Pte, p, PAGE)
}

/// A 32-bit walk: the x86 [`Walk`] and the size of the page found (0 when not mapped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Walk32 {
    pub walk: Walk,
    pub size: u64,
}

impl core::fmt::Display for Walk32 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let w = &self.walk;
        match w.pa {
            Some(pa) => write!(
                f,
                "{:#010x} -> {:#x} ({} {}, entry {:#x})",
                w.va,
                pa.0,
                w.level.name(),
                match self.size {
                    0x1000 => "4K",
                    0x20_0000 => "2M",
                    _ => "4M",
                },
                w.entry
            ),
            None => write!(
                f,
                "{:#010x}: not mapped ({} entry {:#x})",
                w.va,
                w.level.name(),
                w.entry
            ),
        }
    }
}

/// `ISA_END_ADDRESS`.
const ISA_END: u64 = 0x10_0000;

/// The mapping inputs of this boot.
fn map32(k: &Kernel, pt: &Pt32, g: Geom32) -> Map32 {
    let (text, init_end, _, _) = image_32(k);
    Map32 {
        geom: g,
        pgd: pt.swapper_pg_dir,
        text: (text + PAGE_OFFSET, init_end + PAGE_OFFSET),
        max_low_pfn: k.max_low_pfn,
        pse: true,
    }
}

/// arch/x86/mm/init.c `init_mem_mapping` on 32-bit: the boot tables, then lowmem's direct
/// map at `PAGE_OFFSET` and the fixmap's page tables; sets `max_pfn_mapped`. Where the
/// era's tables are not modelled (2.6's bootmem kernels) or the image's `.bss` cannot hold
/// the static tables, only `max_pfn_mapped` is set (to `max_low_pfn`), as before.
///
/// # Errors
/// No room for the page tables (the kernel panics).
pub fn init_mem_mapping(k: &mut Kernel) -> Result<(), String> {
    let _t = k.trace.enter("init_mem_mapping", "arch/x86/mm/init.c");
    k.max_pfn_mapped = k.max_low_pfn;
    let rules = Pt32Rules::new(&k.era);
    let Some(l) = super::init_32::layout(k) else {
        return Ok(());
    };
    if !rules.built {
        return Ok(());
    }
    let g = Geom32 { pae: l.pae };
    let Some(mut pt) = mk_early_pgtbl_32(k, g, &l)? else {
        return Ok(());
    };
    {
        // reserve_brk: what startup_32 and early_alloc_pgt_buf took of the brk area (the
        // image's reservation holds it already unless the estimate runs past it).
        let _t = k.trace.enter("reserve_brk", "arch/x86/kernel/setup.c");
        let (b, e) = pt.brk;
        k.memblock
            .memblock_reserve(b, e - b)
            .map_err(|e| format!("reserve_brk: {e}"))?;
    }
    let m = map32(k, &pt, g);
    let nr_cpus = u64::from(k.machine.nr_cpus.max(1));
    let ram = k.phys.clone();
    let (fix_start, fix_end) = fixmap_pmd_range(g, &l);
    let end = k.max_low_pfn << 12;
    if rules.early_table_space {
        init_memory_mapping(k, &mut pt, m, rules, &l, end)?;
    } else {
        let printk = k.printk.clone();
        let buf = (pt.brk.1 >> 12) - INIT_PGT_BUF_PAGES;
        let kernel_end = pt.brk.1;
        let mut mp = super::init::Mapper {
            era: &k.era,
            mb: &mut k.memblock,
            ram: Some(&ram),
            shadow: Default::default(),
            printk: Some(&printk),
            trace: k.trace.clone(),
            pgd: Vec::new(),
            pgt_buf_end: buf,
            pgt_buf_top: buf + INIT_PGT_BUF_PAGES,
            can_use_brk_pgt: true,
            buf_elsewhere: false,
            min_pfn_mapped: 0,
            max_pfn_mapped: pt.initial_map_end >> 12,
            page_size_mask: MASK_2M,
            pages: [0; 3],
            brk_pages: 0,
            taken: Vec::new(),
            pt32: Some(m),
        };
        // early_alloc_pgt_buf: the KERN_DEBUG line of its brk pages, as the mapper prints it.
        mp.init_memory_mapping(0, ISA_END)?;
        if mp.mb.memblock_bottom_up() {
            mp.memory_map_bottom_up(kernel_end, end)?;
            mp.memory_map_bottom_up(ISA_END, kernel_end)?;
        } else {
            mp.memory_map_top_down(ISA_END, end)?;
        }
        {
            let _t = mp.trace.enter(
                "early_ioremap_page_table_range_init",
                "arch/x86/mm/init_32.c",
            );
            page_table_range_init(&ram, g, m.pgd, rules, nr_cpus, fix_start, fix_end, &mut mp)?;
        }
        pt.pages_count = [mp.pages[0], mp.pages[1]];
        pt.low_pages = Some([
            mp.pgt_buf_end,
            mp.pgt_buf_top,
            mp.min_pfn_mapped,
            mp.max_pfn_mapped,
        ]);
        pt.memblock_pages = core::mem::take(&mut mp.taken);
        let mapped = mp.max_pfn_mapped;
        drop(mp);
        k.max_pfn_mapped = mapped;
    }
    k.pt32 = pt;
    Ok(())
}

/// arch/x86/mm/init.c `init_memory_mapping` before 3.9 on 32-bit, called once for
/// `[0, max_low_pfn)`: the ranges and their page sizes, `find_early_table_space`'s block
/// below the boot mapping, the mapping, the fixmap's page tables
/// (`early_ioremap_page_table_range_init`), and the block's used part reserved
/// (`x86_init.mapping.pagetable_reserve`, "PGTABLE").
fn init_memory_mapping(
    k: &mut Kernel,
    pt: &mut Pt32,
    m: Map32,
    rules: Pt32Rules,
    l: &Layout32,
    end: u64,
) -> Result<(), String> {
    let _t = k.trace.enter("init_memory_mapping", "arch/x86/mm/init.c");
    let g = m.geom;
    let start = 0u64;
    if rules.mem_format {
        crate::pr_info!(
            k.printk,
            "init_memory_mapping: [mem {:#010x}-{:#010x}]\n",
            start,
            end - 1
        );
    } else {
        crate::pr_info!(k.printk, "init_memory_mapping: {start:016x}-{end:016x}\n");
    }
    let mask = if m.pse { MASK_2M } else { 0 };
    let mr = split_mem_range_32(g, start, end, mask, None);
    for &(s, e, msk) in &mr {
        let size = if msk & MASK_2M != 0 { "2M" } else { "4k" };
        if rules.mem_format {
            crate::pr_debug!(k.printk, " [mem {:#010x}-{:#010x}] page {size}\n", s, e - 1);
        } else {
            crate::pr_debug!(k.printk, " {s:010x} - {e:010x} page {size}\n");
        }
    }
    // find_early_table_space
    let es = g.entry_size();
    let pages = |n: u64| (n * es).next_multiple_of(PAGE);
    let (pud_size, pmd_size) = (1u64 << g.pgdir_shift(), g.pmd_size());
    let (puds, pmds, ptes) = if rules.per_range_table_space {
        mr.iter().fold((0, 0, 0), |(pu, pm, pt), &(s, e, msk)| {
            let range = e - s;
            let ptes = if msk & MASK_2M != 0 {
                (range % pmd_size + pmd_size).div_ceil(PAGE)
            } else {
                range.div_ceil(PAGE)
            };
            (
                pu + range.div_ceil(pud_size),
                pm + range.div_ceil(pmd_size),
                pt + ptes,
            )
        })
    } else {
        let ptes = if m.pse {
            (end % pmd_size + pmd_size).div_ceil(PAGE)
        } else {
            end.div_ceil(PAGE)
        };
        (end.div_ceil(pud_size), end.div_ceil(pmd_size), ptes)
    };
    let end_of_fixed = (FIXADDR_TOP - l.fixaddr_boot_start) / PAGE;
    let tables = pages(puds) + pages(pmds) + pages(ptes) + pages(end_of_fixed);
    let base = k
        .memblock
        .memblock_find_in_range(0, pt.initial_map_end, tables, PAGE);
    if base == 0 {
        return Err(String::from(
            "find_early_table_space: Cannot find space for the kernel page tables",
        ));
    }
    if rules.per_range_table_space {
        let upto = mr.last().map_or(end, |r| r.1) - 1;
        crate::pr_debug!(
            k.printk,
            "kernel direct mapping tables up to {upto:#x} @ [mem {:#010x}-{:#010x}]\n",
            base,
            base + tables - 1
        );
    } else {
        crate::pr_debug!(
            k.printk,
            "kernel direct mapping tables up to {end:x} @ {base:x}-{:x}\n",
            base + tables
        );
    }
    let ram = k.phys.clone();
    let mut blk = EarlyBlock {
        ram: &ram,
        start: base >> 12,
        end: base >> 12,
        top: (base + tables) >> 12,
    };
    let mut counts = [0u64; 2];
    let mut ret = 0;
    for &(s, e, msk) in &mr {
        ret = kernel_physical_mapping_init(&ram, m, s, e, msk, &mut blk, &mut counts)?;
    }
    {
        let _t = k.trace.enter(
            "early_ioremap_page_table_range_init",
            "arch/x86/mm/init_32.c",
        );
        let (fs, fe) = fixmap_pmd_range(g, l);
        let nr_cpus = u64::from(k.machine.nr_cpus.max(1));
        page_table_range_init(&ram, g, m.pgd, rules, nr_cpus, fs, fe, &mut blk)?;
    }
    let (s, e, top) = (blk.start, blk.end, blk.top);
    if e > s {
        let _t = k
            .trace
            .enter("native_pagetable_reserve", "arch/x86/mm/init.c");
        k.memblock
            .memblock_reserve(s << 12, (e - s) << 12)
            .map_err(|e| format!("PGTABLE: {e}"))?;
        pt.memblock_pages.push((s << 12, (e - s) << 12));
    }
    pt.early_table = Some((s, top, e));
    pt.pages_count = counts;
    k.max_pfn_mapped = ret >> 12;
    Ok(())
}

/// `after_bootmem` page tables before 3.9: `alloc_bootmem_pages` (one_page_table_init's).
struct BootmemPages<'k>(&'k mut Kernel);

impl LowPages for BootmemPages<'_> {
    fn alloc_low_pages(&mut self, num: u64) -> MapResult<u64> {
        let p = crate::mm::nobootmem::alloc_bootmem(self.0, num * PAGE, PAGE)
            .map_err(|e| format!("one_page_table_init: {e}"))?
            .ok_or_else(|| String::from("one_page_table_init: no page for a page table"))?;
        self.0
            .phys
            .memset(PhysAddr(p), 0, num * PAGE)
            .map_err(|e| format!("{e}"))?;
        Ok(p)
    }
}

/// arch/x86/mm/init_32.c `permanent_kmaps_init`: `page_table_range_init` over the pkmap
/// area (one PMD's worth), in `swapper_pg_dir`. Before 3.9 `after_bootmem` is set by then
/// and the page table comes from bootmem; from 3.9 from `alloc_low_pages` (the brk buffer
/// while it lasts, then memblock below `max_pfn_mapped`). Returns `pkmap_page_table`'s
/// physical address, or `None` when the tables are not built.
///
/// # Errors
/// No page for the page table (the kernel panics).
pub fn permanent_kmaps_init(k: &mut Kernel, l: &Layout32) -> Result<Option<u64>, String> {
    let Some(g) = k.pt32.geom else {
        return Ok(None);
    };
    let rules = Pt32Rules::new(&k.era);
    let ram = k.phys.clone();
    let pgd = k.pt32.swapper_pg_dir;
    let nr_cpus = u64::from(k.machine.nr_cpus.max(1));
    let (start, end) = (
        l.pkmap_base,
        l.pkmap_base + pgtable_32_types::last_pkmap(g.pae) * PAGE,
    );
    match k.pt32.low_pages {
        None => {
            page_table_range_init(
                &ram,
                g,
                pgd,
                rules,
                nr_cpus,
                start,
                end,
                &mut BootmemPages(k),
            )?;
        }
        Some([buf_end, buf_top, min_pfn, max_pfn]) => {
            let printk = k.printk.clone();
            let m = map32(k, &k.pt32, g);
            let mut mp = super::init::Mapper {
                era: &k.era,
                mb: &mut k.memblock,
                ram: Some(&ram),
                shadow: Default::default(),
                printk: Some(&printk),
                trace: k.trace.clone(),
                pgd: Vec::new(),
                pgt_buf_end: buf_end,
                pgt_buf_top: buf_top,
                can_use_brk_pgt: true,
                buf_elsewhere: false,
                min_pfn_mapped: min_pfn,
                max_pfn_mapped: max_pfn,
                page_size_mask: MASK_2M,
                pages: [0; 3],
                brk_pages: 0,
                taken: Vec::new(),
                pt32: Some(m),
            };
            page_table_range_init(&ram, g, pgd, rules, nr_cpus, start, end, &mut mp)?;
            let taken = core::mem::take(&mut mp.taken);
            let state = [mp.pgt_buf_end, mp.pgt_buf_top, min_pfn, max_pfn];
            drop(mp);
            k.pt32.memblock_pages.extend(taken);
            k.pt32.low_pages = Some(state);
        }
    }
    Ok(pte_entry(&ram, g, pgd, start).map(|p| p & !(PAGE - 1)))
}

/// The page table under the PMD holding `va` (its physical page), if any.
pub fn page_table_of(k: &Kernel, va: u64) -> Option<u64> {
    let g = k.pt32.geom?;
    pte_entry(&k.phys, g, k.pt32.swapper_pg_dir, va).map(|p| p & !(PAGE - 1))
}

#[cfg(all(test, feature = "std"))]
pub(crate) mod tests {
    use super::*;
    use crate::era::{Arch, KernelVersion};
    use crate::machine::Machine;

    /// A booted i386 QEMU machine of era `v` (PAE or not) with `mem` bytes and 2 CPUs.
    pub(crate) fn boot(v: (u32, u32), pae: bool, mem: u64) -> Kernel {
        let mut m = Machine::qemu(mem, 2).unwrap();
        m.era = Era::new(KernelVersion::new(v.0, v.1, 0), Arch::I386 { pae });
        m.image.realmode_size = crate::machine::default_realmode_size(&m.era);
        let mut k = Kernel::new(m).unwrap();
        crate::init::main::start_kernel(&mut k).unwrap();
        k
    }

    /// The eras and paging modes the i386 tests run on.
    pub(crate) const CASES: [((u32, u32), bool); 4] = [
        ((3, 8), true),
        ((3, 8), false),
        ((4, 15), true),
        ((4, 15), false),
    ];

    /// Every lowmem page walks back to itself, at the level the mapping counted it, and
    /// the counts are /proc/meminfo's DirectMap lines.
    #[test]
    fn lowmem_walks_back_to_itself_and_the_counts_are_the_directmap_lines() {
        for (v, pae) in CASES {
            let k = boot(v, pae, 3 << 30);
            let g = k.pt32.geom.expect("tables built");
            assert_eq!(g.pae, pae);
            let mut seen = [0u64; 2];
            let mut pa = 0u64;
            while pa < k.max_low_pfn << 12 {
                let w = lookup_address_32(&k, PAGE_OFFSET + pa).unwrap();
                let got = w.walk.pa.unwrap_or_else(|| panic!("{v:?} {pae}: {w}"));
                assert_eq!(got.0, pa, "{w}");
                let large = w.size != PAGE;
                assert_eq!(w.size, if large { g.pmd_size() } else { PAGE });
                seen[usize::from(large)] += 1;
                pa = (pa & !(w.size - 1)) + w.size;
            }
            assert_eq!(seen, k.pt32.pages_count, "{v:?} pae {pae}");
            assert!(seen[0] > 0 && seen[1] > 0);
            let mi = crate::fs::proc::meminfo(&k);
            let line = |l: &str| {
                mi.lines()
                    .find_map(|x| x.strip_prefix(l))
                    .and_then(|r| r.trim().strip_suffix(" kB")?.trim().parse::<u64>().ok())
                    .unwrap_or_else(|| panic!("{l} in {mi}"))
            };
            assert_eq!(line("DirectMap4k:"), seen[0] * 4);
            let big = if pae { "DirectMap2M:" } else { "DirectMap4M:" };
            assert_eq!(line(big), seen[1] * (g.pmd_size() >> 10));
            // Past lowmem (the vmalloc guard hole) nothing is mapped; the struct pages'
            // shadow window is not in the tables either.
            let hole = PAGE_OFFSET + (k.max_low_pfn << 12) + (4 << 20);
            assert_eq!(lookup_address_32(&k, hole).unwrap().walk.pa, None);
            // swapper_pg_dir is a page of the reserved image.
            let pgd = k.pt32.swapper_pg_dir;
            assert!(k
                .memblock
                .reserved
                .regions
                .iter()
                .any(|r| r.base <= pgd && pgd + PAGE <= r.base + r.size));
        }
    }

    /// Before 3.9 the page tables come from the block below the boot mapping, whose used
    /// part is reserved; from 3.9 from the brk buffer, or memblock (reserved) for a range
    /// that holds the buffer itself.
    #[test]
    fn the_page_table_pages_come_from_where_the_era_takes_them() {
        let k = boot((3, 8), true, 3 << 30);
        let (s, top, used) = k.pt32.early_table.unwrap();
        assert!(used > s && used <= top);
        assert!(top << 12 <= k.pt32.initial_map_end);
        assert_eq!(
            k.pt32.memblock_pages,
            alloc::vec![(s << 12, (used - s) << 12)]
        );
        let pa = s << 12;
        assert!(k
            .memblock
            .reserved
            .regions
            .iter()
            .any(|r| r.base <= pa && pa < r.base + r.size));
        // The 4 KiB tail's page table is the first page of the block.
        let tail = PAGE_OFFSET + (k.max_low_pfn << 12) - PAGE;
        assert_eq!(page_table_of(&k, tail), Some(pa));
        let k = boot((4, 15), true, 3 << 30);
        assert!(k.pt32.early_table.is_none());
        let (b, e) = k.pt32.brk;
        let tail = PAGE_OFFSET + (k.max_low_pfn << 12) - PAGE;
        let pt = page_table_of(&k, tail).unwrap();
        assert!((b..e).contains(&pt), "the tail's page table is a brk page");
        for &(p, n) in &k.pt32.memblock_pages {
            assert!(p + n <= k.max_low_pfn << 12);
            assert!(k
                .memblock
                .reserved
                .regions
                .iter()
                .any(|r| r.base <= p && p + n <= r.base + r.size));
        }
    }

    /// The pkmap and fixmap page tables kmap uses are the ones swapper_pg_dir holds: a
    /// kmap address walks to its page.
    #[test]
    fn kmap_goes_through_swapper_pg_dir() {
        for (v, pae) in CASES {
            let k = boot(v, pae, 3 << 30);
            let pfn = k.max_pfn - 1;
            let va = crate::mm::highmem::kmap(&k, pfn).unwrap();
            let w = lookup_address_32(&k, va + 0x10).unwrap();
            assert_eq!(w.walk.pa, Some(PhysAddr((pfn << 12) + 0x10)), "{w}");
            assert_eq!(w.walk.level, PgLevel::Pte);
            let a = crate::mm::highmem::kmap_atomic(&k, 0, pfn).unwrap();
            assert_eq!(
                lookup_address_32(&k, a).unwrap().walk.pa,
                Some(PhysAddr(pfn << 12))
            );
        }
    }

    /// ptdump: the era's sections in order, runs adding up to the 4 GiB address space, the
    /// direct map's runs adding up to lowmem.
    #[test]
    fn ptdump_sections_are_in_order_and_add_up() {
        for (v, pae) in CASES {
            let k = boot(v, pae, 3 << 30);
            let (text, lines) = crate::arch::x86::dump_pagetables::ptdump_kernel_32(&k);
            let headers: alloc::vec::Vec<&str> =
                text.lines().filter(|l| l.starts_with("---[")).collect();
            let mut want = alloc::vec![
                "---[ User Space ]---",
                "---[ Kernel Mapping ]---",
                "---[ vmalloc() Area ]---",
                "---[ vmalloc() End ]---",
                "---[ Persistent kmap() Area ]---",
            ];
            if v >= (4, 15) {
                want.push("---[ CPU entry area ]---");
                want.push("---[ Fixmap area ]---");
            } else {
                want.push("---[ Fixmap Area ]---");
            }
            assert_eq!(headers, want, "{v:?} {pae}");
            let total: u64 = lines
                .iter()
                .map(|l| l.end.wrapping_sub(l.start) & 0xffff_ffff)
                .sum();
            assert_eq!(total, 1 << 32);
            let low: u64 = lines
                .iter()
                .filter(|l| l.prot & PRESENT != 0 && l.start >= PAGE_OFFSET)
                .filter(|l| l.end <= PAGE_OFFSET + (k.max_low_pfn << 12))
                .map(|l| l.end - l.start)
                .sum();
            assert_eq!(low, k.max_low_pfn << 12, "{v:?} {pae}");
            assert!(text.contains(" pmd\n") && text.contains(" pte\n"));
            assert!(text.lines().any(|l| l.starts_with("0xc0000000-0x")));
        }
    }
}
