//! `mm/sparse.c` and `mm/sparse-vmemmap.c`: the sections table and the struct page array.
//!
//! SPARSEMEM cuts physical memory into 128 MiB sections; `mem_section[]` (two-level with
//! SPARSEMEM_EXTREME) records which sections have memory, their node early on, and later
//! where each section's 32768 struct pages and its pageblock bitmap ("usemap") live. On x86_64
//! the memmap of a node is one memblock buffer carved 2 MiB per section and mapped by PMDs into
//! the virtually contiguous vmemmap. bootmm makes the same memblock calls, builds the same
//! vmemmap page tables in simulated RAM, and keeps the struct pages in the buffer; but it finds
//! a pfn's struct page through `section_mem_map` as classic SPARSEMEM does (section number in
//! `page->flags`), since the host has no vmemmap window to index; the hot paths read a
//! decoded copy of each section's entry (`docs/divergences.md`).

use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;
use core::ptr::NonNull;

use crate::era::Era;
use crate::include::mm_types::{page_to_section, Page, STRUCT_PAGE_SIZE};
use crate::include::{PhysAddr, NUMA_NO_NODE, PAGE_SIZE, SMP_CACHE_BYTES};
use crate::init::main::BootError;
use crate::kernel::Kernel;
use crate::mm::memblock::MEMBLOCK_ALLOC_ACCESSIBLE;
use crate::phys::PhysMem;

/// `SECTION_SIZE_BITS` on x86_64.
pub const SECTION_SIZE_BITS: u32 = 27;
/// `PFN_SECTION_SHIFT`.
pub const PFN_SECTION_SHIFT: u32 = SECTION_SIZE_BITS - 12;
/// `PAGES_PER_SECTION`.
pub const PAGES_PER_SECTION: u64 = 1 << PFN_SECTION_SHIFT;
/// `MAX_PHYSMEM_BITS` with 4-level paging.
pub const MAX_PHYSMEM_BITS: u32 = 46;
/// `NR_MEM_SECTIONS`.
pub const NR_MEM_SECTIONS: u64 = 1 << (MAX_PHYSMEM_BITS - SECTION_SIZE_BITS);
/// `sizeof(struct mem_section)` without CONFIG_PAGE_EXTENSION.
pub const MEM_SECTION_SIZE: u64 = 16;
/// `SECTIONS_PER_ROOT` (SPARSEMEM_EXTREME): one page of sections.
pub const SECTIONS_PER_ROOT: u64 = PAGE_SIZE / MEM_SECTION_SIZE;
/// `NR_SECTION_ROOTS`.
pub const NR_SECTION_ROOTS: u64 = NR_MEM_SECTIONS.div_ceil(SECTIONS_PER_ROOT);
/// `pageblock_order` on x86_64 (HUGETLB_PAGE_ORDER).
pub const PAGEBLOCK_ORDER: u32 = 9;
/// `pageblock_nr_pages`.
pub const PAGEBLOCK_NR_PAGES: u64 = 1 << PAGEBLOCK_ORDER;
/// `PMD_SIZE`.
pub const PMD_SIZE: u64 = 2 << 20;
/// `__pa(MAX_DMA_ADDRESS)`: 16 MiB.
pub const MAX_DMA_PA: u64 = 16 << 20;
/// `VMEMMAP_START` with 4-level paging and no KASLR.
pub const VMEMMAP_START: u64 = 0xffff_ea00_0000_0000;

/// `SECTION_MARKED_PRESENT`.
pub const SECTION_MARKED_PRESENT: u64 = 1 << 0;
/// `SECTION_HAS_MEM_MAP`.
pub const SECTION_HAS_MEM_MAP: u64 = 1 << 1;
/// `SECTION_IS_ONLINE` (4.13+).
pub const SECTION_IS_ONLINE: u64 = 1 << 2;
/// `SECTION_IS_EARLY` (5.3+).
pub const SECTION_IS_EARLY: u64 = 1 << 3;

/// `_PAGE_TABLE`: a page-table page's entry one level up (`pud_populate`,
/// `pmd_populate_kernel`: `_KERNPG_TABLE` plus `_PAGE_USER`).
const PAGE_TABLE: u64 = 0x067;
/// `PAGE_KERNEL_LARGE` (present, rw, accessed, dirty, PSE, global; NX).
const PAGE_KERNEL_LARGE: u64 = 0x1e3 | (1 << 63);
/// Address bits of a page-table entry.
const PTE_PFN_MASK: u64 = 0x000f_ffff_ffff_f000;

/// `pfn_to_section_nr`.
pub const fn pfn_to_section_nr(pfn: u64) -> u64 {
    pfn >> PFN_SECTION_SHIFT
}

/// `section_nr_to_pfn`.
pub const fn section_nr_to_pfn(nr: u64) -> u64 {
    nr << PFN_SECTION_SHIFT
}

/// mm/sparse.c: `section_map_size` (SPARSEMEM_VMEMMAP): the memmap of one section, rounded
/// up to the PMD that maps it.
pub fn section_map_size(struct_page_size: u64) -> u64 {
    crate::include::addr::round_up(struct_page_size * PAGES_PER_SECTION, PMD_SIZE)
}

/// The section flag changes, each decided once from the version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionRules {
    /// 4.13+: `SECTION_IS_ONLINE`: sections are marked online as memory is marked present
    /// (before, bit 2 is the low bit of the early nid).
    pub is_online: bool,
    /// 5.3+: the sub-section memory hotplug series (believed "mm/sparsemem: Introduce
    /// struct mem_section_usage" and "mm/sparsemem: introduce a SECTION_IS_EARLY flag"):
    /// `SECTION_IS_EARLY` marks a boot section, and `struct mem_section_usage` starts with
    /// the subsection map.
    pub subsections: bool,
}

impl SectionRules {
    pub fn new(era: &Era) -> Self {
        SectionRules {
            is_online: era.at_least(4, 13),
            subsections: era.at_least(5, 3),
        }
    }
}

/// `MIGRATE_MOVABLE`: 2 before 4.4 (after UNMOVABLE, RECLAIMABLE), 1 from 4.4.
pub fn migrate_movable(era: &Era) -> u64 {
    if era.at_least(4, 4) {
        1
    } else {
        2
    }
}

/// `NR_PAGEBLOCK_BITS`: 3 migratetype bits and the compaction skip bit, rounded to 4; 6.16
/// gave isolation its own bit (CONFIG_MEMORY_ISOLATION), which rounds up to 8.
pub fn nr_pageblock_bits(era: &Era) -> u64 {
    if era.at_least(6, 16) {
        8
    } else {
        4
    }
}

/// mm/sparse.c: `usemap_size`: the pageblock bits of one section in whole longs.
pub fn usemap_size(era: &Era) -> u64 {
    let bits = (PAGES_PER_SECTION >> PAGEBLOCK_ORDER) * nr_pageblock_bits(era);
    bits.div_ceil(64) * 8
}

/// `sizeof(struct mem_section_usage)` before its `pageblock_flags[]`: the subsection map
/// (5.3+, one long) and the `rcu_head` that 6.8 added (backported to 6.6.y and 6.1.y stable;
/// the exact first stable releases are not confirmed).
pub fn mem_section_usage_header(era: &Era) -> u64 {
    let v = era.version;
    let rcu = era.at_least(6, 8)
        || (v.major == 6 && v.minor == 6 && v.patch >= 14)
        || (v.major == 6 && v.minor == 1 && v.patch >= 75)
        || (v.major == 6 && v.minor == 7 && v.patch >= 2);
    let subsection = if SectionRules::new(era).subsections {
        8
    } else {
        0
    };
    subsection + if rcu { 16 } else { 0 }
}

/// mm/sparse.c: `mem_section_usage_size` (5.3+; `usemap_size` alone before).
pub fn mem_section_usage_size(era: &Era) -> u64 {
    mem_section_usage_header(era) + usemap_size(era)
}

/// `SECTION_NID_SHIFT` (= `SECTION_MAP_LAST_BIT`): 2 before SECTION_IS_ONLINE (4.13),
/// 3 before SECTION_IS_EARLY (5.3), 4 after, 5 with SECTION_TAINT_ZONE_DEVICE (5.12).
fn section_nid_shift(era: &Era, zone_device: bool) -> u32 {
    let rules = SectionRules::new(era);
    if era.at_least(5, 12) && zone_device {
        5
    } else if rules.subsections {
        4
    } else if rules.is_online {
        3
    } else {
        2
    }
}

/// The sections table and the vmemmap, as `sparse_init` leaves them.
#[derive(Clone, Debug, Default)]
pub struct Sparse {
    phys: Option<PhysMem>,
    /// `mem_section`: physical address of each root (one page of `struct mem_section`), 0 if
    /// none. With 4.15+ the root pointer array itself is also in simulated RAM.
    roots: Vec<u64>,
    /// Physical address of the `mem_section` pointer array (4.15+).
    pub root_array: Option<PhysAddr>,
    /// `__highest_present_section_nr`.
    pub highest_present_section_nr: Option<u64>,
    /// `SECTION_NID_SHIFT` of the era.
    nid_shift: u32,
    /// Where `pageblock_flags` starts in a usage struct, and the bits per pageblock.
    usage_header: u64,
    pageblock_bits: u64,
    /// The vmemmap's PGD entries: (pgd index, physical address of its PUD page).
    vmemmap_pgd: Vec<(u64, u64)>,
    /// `PAGE_OFFSET` for direct-map pointers stored in simulated RAM.
    page_offset: u64,
    /// The memblock buffers holding struct pages: (node, start, end) of what is in use.
    pub memmap_buffers: Vec<(i32, u64, u64)>,
    /// Host address of physical address 0 and the bytes behind it (from `phys`, which keeps
    /// the mapping alive), so that the O(1) accessors need no handle look-up.
    host_base: usize,
    host_len: u64,
    /// What each section's `mem_section` entry decodes to, as host addresses, so that the
    /// page allocator's `page_to_pfn` / `pfn_to_page` / pageblock look-ups cost what the
    /// kernel's do: [`SectionFast`] per section number, written together with the entry in
    /// simulated RAM by `sparse_init_one_section` (and checked against it in debug builds).
    fast: Vec<SectionFast>,
    /// `mminit_validate_memmodel_limits`' WARN_ON_ONCE has fired.
    warned_limits: bool,
}

/// A section's decoded `mem_section` entry: the host address of the encoded memmap
/// (`mem_map - section_nr_to_pfn(nr)`, so that `pfn_to_page` is one add) and of the
/// section's `pageblock_flags[]` (0: the section has no memmap).
#[derive(Clone, Copy, Debug, Default)]
struct SectionFast {
    memmap: usize,
    usemap: usize,
}

impl Sparse {
    fn phys(&self) -> Option<&PhysMem> {
        self.phys.as_ref()
    }

    #[inline]
    fn ms_pa(&self, nr: u64) -> Option<u64> {
        let root = *self.roots.get((nr / SECTIONS_PER_ROOT) as usize)?;
        (root != 0).then(|| root + (nr % SECTIONS_PER_ROOT) * MEM_SECTION_SIZE)
    }

    /// The host pointer of `len` bytes at `pa`, if they lie in simulated RAM: one compare
    /// against the cached size instead of a look-up through the `PhysMem` handle.
    #[inline]
    fn host(&self, pa: u64, len: u64) -> Option<*mut u8> {
        // `host_len` is 0 until `memblocks_present` set the table up, so nothing passes then.
        (pa <= self.host_len && len <= self.host_len - pa)
            .then(|| (self.host_base + pa as usize) as *mut u8)
    }

    /// Read the u64 at `pa` (a `mem_section` word or a usemap word).
    #[inline]
    fn read_word(&self, pa: u64) -> Option<u64> {
        let p = self.host(pa, 8)?;
        // SAFETY: `host` checked that the 8 bytes lie in the live mapping `phys` keeps.
        Some(unsafe { p.cast::<u64>().read_unaligned() })
    }

    /// `__nr_to_section(nr)->section_mem_map` (0 when there is no such section).
    #[inline]
    pub fn section_mem_map(&self, nr: u64) -> u64 {
        self.ms_pa(nr)
            .and_then(|pa| self.read_word(pa))
            .unwrap_or(0)
    }

    fn set_section_mem_map(&self, nr: u64, v: u64) -> Result<(), BootError> {
        let (Some(pa), Some(p)) = (self.ms_pa(nr), self.phys()) else {
            return Err(BootError::NoMemory(alloc::format!(
                "section {nr} has no root"
            )));
        };
        p.write_u64(PhysAddr(pa), v)?;
        Ok(())
    }

    /// `present_section_nr`.
    pub fn present_section_nr(&self, nr: u64) -> bool {
        self.section_mem_map(nr) & SECTION_MARKED_PRESENT != 0
    }

    /// `valid_section_nr`: the section has a memmap.
    pub fn valid_section_nr(&self, nr: u64) -> bool {
        self.section_mem_map(nr) & SECTION_HAS_MEM_MAP != 0
    }

    /// `sparse_early_nid`: the node memory_present recorded for a present section.
    pub fn sparse_early_nid(&self, nr: u64) -> i32 {
        (self.section_mem_map(nr) >> self.nid_shift) as i32
    }

    /// `next_present_section_nr`.
    pub fn next_present_section_nr(&self, after: Option<u64>) -> Option<u64> {
        let hi = self.highest_present_section_nr?;
        let mut nr = after.map_or(0, |a| a + 1);
        while nr <= hi {
            if self.present_section_nr(nr) {
                return Some(nr);
            }
            nr += 1;
        }
        None
    }

    /// include/linux/mmzone.h: `pfn_valid` (SPARSEMEM): the pfn's section has a memmap.
    /// Early sections are valid across their whole span.
    pub fn pfn_valid(&self, pfn: u64) -> bool {
        pfn_to_section_nr(pfn) < NR_MEM_SECTIONS && self.valid_section_nr(pfn_to_section_nr(pfn))
    }

    /// The host pointer of the struct page of `pfn`'s section start, or `None` when the
    /// section has no memmap. The section's 32768 struct pages follow it contiguously.
    #[inline]
    pub fn section_memmap(&self, nr: u64) -> Option<NonNull<Page>> {
        let smm = self.section_mem_map(nr);
        if smm & SECTION_HAS_MEM_MAP == 0 {
            return None;
        }
        let mask = !((1u64 << self.nid_shift) - 1);
        let va = (smm & mask).wrapping_add(section_nr_to_pfn(nr) * STRUCT_PAGE_SIZE);
        let pa = va.wrapping_sub(self.page_offset);
        let p = self.host(pa, PAGES_PER_SECTION * STRUCT_PAGE_SIZE)?;
        NonNull::new(p.cast())
    }

    /// The vmemmap's PGD entries: (pgd index, physical address of its PUD page).
    pub fn vmemmap_pgd_entries(&self) -> alloc::vec::Vec<(u64, u64)> {
        self.vmemmap_pgd.clone()
    }

    /// include/asm-generic/memory_model.h: `pfn_to_page` (classic SPARSEMEM form:
    /// `__section_mem_map_addr(__pfn_to_section(pfn)) + pfn`). O(1): the root, the section
    /// word, and a range compare.
    #[inline]
    pub fn pfn_to_page(&self, pfn: u64) -> Option<NonNull<Page>> {
        let e = self.fast.get(pfn_to_section_nr(pfn) as usize)?;
        if e.memmap == 0 {
            return None;
        }
        let p = e
            .memmap
            .wrapping_add(pfn as usize * STRUCT_PAGE_SIZE as usize) as *mut Page;
        debug_assert_eq!(
            self.section_memmap(pfn_to_section_nr(pfn))
                .map(|b| b.as_ptr().wrapping_add((pfn % PAGES_PER_SECTION) as usize)),
            Some(p),
            "mem_section entry and its decoded copy disagree"
        );
        NonNull::new(p)
    }

    /// include/asm-generic/memory_model.h: `page_to_pfn` (classic SPARSEMEM form: the section
    /// from `page->flags`, then `page - __section_mem_map_addr(section)`).
    ///
    /// # Safety
    /// `page` must be a struct page of this memmap, initialised (its links set).
    #[inline]
    pub unsafe fn page_to_pfn(&self, page: NonNull<Page>) -> Option<u64> {
        // SAFETY: the caller guarantees `page` is an initialised struct page.
        let nr = page_to_section(unsafe { page.as_ref() });
        let e = self.fast.get(nr as usize)?;
        let off = (page.as_ptr() as usize).wrapping_sub(e.memmap) as u64;
        let pfn = off / STRUCT_PAGE_SIZE;
        (e.memmap != 0 && off % STRUCT_PAGE_SIZE == 0 && pfn_to_section_nr(pfn) == nr)
            .then_some(pfn)
    }

    /// [`Sparse::page_to_pfn`] for a pointer nothing vouches for: `Some(pfn)` only when
    /// `page` is the struct page of `pfn` in this memmap. The pointer is first checked to
    /// lie, aligned, inside simulated RAM (whose bytes are always readable), so any value is
    /// safe to pass. O(1): two compares before the usual look-up.
    #[inline]
    pub fn page_to_pfn_checked(&self, page: NonNull<Page>) -> Option<u64> {
        let addr = page.as_ptr() as usize;
        let pa = addr.checked_sub(self.host_base)? as u64;
        if addr % core::mem::align_of::<Page>() != 0 {
            return None;
        }
        self.host(pa, STRUCT_PAGE_SIZE)?;
        // SAFETY: the 64 bytes lie in the live mapping `phys` keeps, aligned for a Page, and
        // a Page is plain data: any bytes are a valid value. page_to_pfn then accepts only
        // the struct page its section's memmap has at that pfn.
        unsafe { self.page_to_pfn(page) }
    }

    /// The physical address of `pfn`'s usage struct (`ms->usage`), if it has one.
    #[inline]
    fn usage_pa(&self, nr: u64) -> Option<u64> {
        let va = self.read_word(self.ms_pa(nr)? + 8)?;
        (va != 0).then(|| va.wrapping_sub(self.page_offset))
    }

    /// Word address and shift of `pfn`'s pageblock bits (`pfn_to_bitidx`, 5.9+ bit order).
    #[inline]
    fn pageblock_word(&self, pfn: u64) -> Option<(u64, u32)> {
        let usage = self.usage_pa(pfn_to_section_nr(pfn))?;
        let bitidx = ((pfn & (PAGES_PER_SECTION - 1)) >> PAGEBLOCK_ORDER) * self.pageblock_bits;
        Some((
            usage + self.usage_header + (bitidx / 64) * 8,
            (bitidx % 64) as u32,
        ))
    }

    /// The host pointer and shift of `pfn`'s pageblock bits, through the decoded entry.
    #[inline]
    fn pageblock_ptr(&self, pfn: u64) -> Option<(*mut u64, u32)> {
        let e = self.fast.get(pfn_to_section_nr(pfn) as usize)?;
        if e.usemap == 0 {
            return None;
        }
        let bitidx = ((pfn & (PAGES_PER_SECTION - 1)) >> PAGEBLOCK_ORDER) * self.pageblock_bits;
        let p = (e.usemap + (bitidx / 64) as usize * 8) as *mut u64;
        debug_assert_eq!(
            self.pageblock_word(pfn)
                .and_then(|(w, _)| self.host(w, 8))
                .map(|h| h as usize),
            Some(p as usize),
            "mem_section usage and its decoded copy disagree"
        );
        Some((p, (bitidx % 64) as u32))
    }

    /// mm/page_alloc.c: `get_pfnblock_flags_mask(…, MIGRATETYPE_MASK)`: one word of the
    /// usemap, shifted and masked.
    #[inline]
    pub fn get_pfnblock_migratetype(&self, pfn: u64) -> Option<u64> {
        let (p, sh) = self.pageblock_ptr(pfn)?;
        // SAFETY: the usemap lies in simulated RAM, which `phys` keeps mapped.
        Some((unsafe { p.read_unaligned() } >> sh) & 0x7)
    }

    /// mm/page_alloc.c: `set_pageblock_migratetype`.
    pub fn set_pageblock_migratetype(&self, pfn: u64, mt: u64) -> bool {
        let Some((p, sh)) = self.pageblock_ptr(pfn) else {
            return false;
        };
        // SAFETY: as in `get_pfnblock_migratetype`.
        unsafe { p.write_unaligned((p.read_unaligned() & !(0x7 << sh)) | ((mt & 0x7) << sh)) };
        true
    }

    /// Walk the vmemmap page tables bootmm built: the physical address the kernel's
    /// `vmemmap + pfn` resolves to. Used to check [`Sparse::pfn_to_page`] against them.
    pub fn vmemmap_walk(&self, pfn: u64) -> Option<u64> {
        let va = VMEMMAP_START.wrapping_add(pfn * STRUCT_PAGE_SIZE);
        let p = self.phys()?;
        let pgd = (va >> 39) & 511;
        let pud_page = self.vmemmap_pgd.iter().find(|e| e.0 == pgd)?.1;
        let pud = p
            .read_u64(PhysAddr(pud_page + ((va >> 30) & 511) * 8))
            .ok()?;
        if pud & 1 == 0 {
            return None;
        }
        let pmd = p
            .read_u64(PhysAddr((pud & PTE_PFN_MASK) + ((va >> 21) & 511) * 8))
            .ok()?;
        if pmd & 1 == 0 {
            return None;
        }
        Some((pmd & PTE_PFN_MASK & !(PMD_SIZE - 1)) + (va & (PMD_SIZE - 1)))
    }

    /// The physical address of a host pointer into simulated RAM.
    pub fn host_to_phys(&self, p: NonNull<Page>) -> Option<u64> {
        let base = self.phys()?.host_ptr(PhysAddr(0), 0).ok()?;
        (p.as_ptr() as usize)
            .checked_sub(base.as_ptr() as usize)
            .map(|o| o as u64)
    }
}

// ---------------------------------------------------------------------------------------------
// Building the table.

fn nomem(what: &str, e: impl ToString) -> BootError {
    BootError::NoMemory(alloc::format!("{what}: {}", e.to_string()))
}

fn need(p: Option<PhysAddr>, what: &str, size: u64, nid: i32) -> Result<PhysAddr, BootError> {
    // The kernel panics: "%s: Failed to allocate %lu bytes align=... nid=%d".
    p.ok_or_else(|| {
        BootError::NoMemory(alloc::format!(
            "{what}: Failed to allocate {size} bytes nid={nid}"
        ))
    })
}

/// mm/sparse.c: `sparse_index_alloc` / `sparse_index_init`: one root page of sections on
/// the node of the first section that needs it.
fn sparse_index_init(k: &mut Kernel, nr: u64, nid: i32) -> Result<(), BootError> {
    let root = (nr / SECTIONS_PER_ROOT) as usize;
    if k.sparse.roots[root] != 0 {
        return Ok(());
    }
    let _t = k.trace.enter("sparse_index_alloc", "mm/sparse.c");
    let size = SECTIONS_PER_ROOT * MEM_SECTION_SIZE;
    // memblock_alloc_node(array_size, SMP_CACHE_BYTES, nid); before 5.0 the alignment was 0.
    let align = crate::mm::memblock::cache_line_align_arg(&k.era);
    let p = alloc_mb(k)
        .memblock_alloc_node(size, align, nid)
        .map_err(|e| nomem("sparse_index_alloc", e))?;
    let p = need(p, "sparse_index_alloc", size, nid)?;
    k.sparse.roots[root] = p.0;
    if let Some(arr) = k.sparse.root_array {
        k.phys
            .write_u64(arr + root as u64 * 8, k.phys.va(p).0)
            .map_err(BootError::Phys)?;
    }
    Ok(())
}

/// mm/sparse.c: `memory_present`: mark the sections of `[start, end)` present on `nid`.
fn memory_present(k: &mut Kernel, nid: i32, start: u64, end: u64) -> Result<(), BootError> {
    let max = max_sparsemem_pfn();
    if end > max && k.era.max_physmem_bits() > MAX_PHYSMEM_BITS {
        // The kernel's sections reach 52 bits under 5-level paging; bootmm's section table
        // is 4-level sized, so cutting the range here would not be the kernel's boot.
        return Err(BootError::Unmodelled(alloc::format!(
            "RAM past {} under 5-level paging (pfn {end:#x}): bootmm's sparse section table covers MAX_PHYSMEM_BITS {MAX_PHYSMEM_BITS}",
            crate::phys::human_bytes(max << 12)
        )));
    }
    // mminit_validate_memmodel_limits: a range past MAX_PHYSMEM_BITS is cut there, with a
    // WARN_ON_ONCE (its "mminit::pfnvalidation" text needs mminit_loglevel=).
    if end > max && !k.sparse.warned_limits {
        k.sparse.warned_limits = true;
        crate::pr_warn!(
            k.printk,
            "WARNING: CPU: 0 PID: 0 at mm/sparse.c mminit_validate_memmodel_limits\n"
        );
    }
    let start = (start & !(PAGES_PER_SECTION - 1)).min(max);
    let end = end.min(max);
    let online = if SectionRules::new(&k.era).is_online {
        SECTION_IS_ONLINE
    } else {
        0
    };
    let mut pfn = start;
    while pfn < end {
        let nr = pfn_to_section_nr(pfn);
        sparse_index_init(k, nr, nid)?;
        if k.sparse.section_mem_map(nr) == 0 {
            let v = ((nid as u64) << k.sparse.nid_shift) | online | SECTION_MARKED_PRESENT;
            k.sparse.set_section_mem_map(nr, v)?;
            let hi = k.sparse.highest_present_section_nr.get_or_insert(nr);
            *hi = (*hi).max(nr);
        }
        pfn += PAGES_PER_SECTION;
    }
    Ok(())
}

/// `max_sparsemem_pfn` of `mminit_validate_memmodel_limits`: `1 << (MAX_PHYSMEM_BITS -
/// PAGE_SHIFT)`, the first pfn no section can describe.
pub fn max_sparsemem_pfn() -> u64 {
    NR_MEM_SECTIONS << PFN_SECTION_SHIFT
}

/// mm/sparse.c: `memblocks_present` (`sparse_memory_present_with_active_regions` before
/// 5.10): allocate the root pointer array (4.15+) and mark every memblock range present.
pub(crate) fn memblocks_present(k: &mut Kernel) -> Result<(), BootError> {
    k.sparse = Sparse {
        phys: Some(k.phys.clone()),
        roots: vec![0; NR_SECTION_ROOTS as usize],
        nid_shift: section_nid_shift(&k.era, k.machine.kernel_config().zone_device),
        usage_header: mem_section_usage_header(&k.era),
        pageblock_bits: nr_pageblock_bits(&k.era),
        page_offset: k.phys.va(PhysAddr(0)).0,
        host_base: k
            .phys
            .host_ptr(PhysAddr(0), 0)
            .map_or(0, |p| p.as_ptr() as usize),
        host_len: k.phys.end().0,
        ..Sparse::default()
    };
    if k.era.at_least(4, 15) {
        // mem_section = memblock_alloc(sizeof(struct mem_section *) * NR_SECTION_ROOTS,
        //                              1 << INTERNODE_CACHE_SHIFT)
        // NR_SECTION_ROOTS follows MAX_PHYSMEM_BITS at run time (4.17+ with 5-level paging):
        // 1 MiB of roots under LA57. (bootmm's own tables stay 4-level sized: memory_present
        // stops a boot whose RAM reaches past 64 TiB.)
        let roots =
            (1u64 << (k.era.max_physmem_bits() - SECTION_SIZE_BITS)).div_ceil(SECTIONS_PER_ROOT);
        let size = 8 * roots;
        let p = alloc_mb(k)
            .memblock_alloc(size, SMP_CACHE_BYTES)
            .map_err(|e| nomem("memblocks_present", e))?;
        k.sparse.root_array = Some(need(p, "memblocks_present", size, NUMA_NO_NODE)?);
    }
    for (s, e, nid) in k
        .memblock
        .for_each_mem_pfn_range(crate::mm::memblock::MAX_NUMNODES)
    {
        memory_present(k, nid.max(0), s, e)?;
    }
    if k.flatmem_shadow.is_some()
        && !k.era.is_64bit()
        && crate::arch::x86::init_32::setup_memory_era(&k.era)
    {
        // 2.6.24's single active range (add_active_range(0, 0, highend_pfn)) covers the
        // holes, and memmap_init gives their frames struct pages too.
        memory_present(k, 0, 0, k.highend_pfn.max(k.max_low_pfn))?;
    }
    Ok(())
}

/// The memblock that serves sparse's own allocations: the kernel's, or on a FLATMEM kernel
/// (i386) the shadow window bootmm keeps its section table and struct pages in (see
/// [`flatmem_shadow`]), so that the kernel's memblock holds only what the kernel allocated.
fn alloc_mb(k: &mut Kernel) -> &mut crate::mm::memblock::Memblock {
    match k.flatmem_shadow.as_mut() {
        Some(m) => m,
        None => &mut k.memblock,
    }
}

/// Where `NODE_DATA(nid)` lives, for the usemap goal with CONFIG_MEMORY_HOTREMOVE. The NUMA
/// model does not place pg_data_t yet; until it does there is no goal.
fn pgdat_phys(_k: &Kernel, _nid: i32) -> Option<u64> {
    None
}

/// mm/sparse.c: `sparse_early_usemaps_alloc_pgdat_section` (CONFIG_MEMORY_HOTREMOVE: in the
/// pgdat's section if possible) or `memblock_alloc_node`.
fn sparse_early_usemaps_alloc(k: &mut Kernel, nid: i32, size: u64) -> Result<PhysAddr, BootError> {
    let cfg = k.machine.kernel_config();
    let r = match pgdat_phys(k, nid).filter(|_| cfg.memory_hotremove) {
        Some(pgdat) => {
            let goal = pgdat & !((1u64 << SECTION_SIZE_BITS) - 1);
            let limit = goal + (1u64 << SECTION_SIZE_BITS);
            let nid = early_pfn_to_nid(k, goal >> 12);
            let r = if k.era.at_least(5, 2) {
                k.memblock
                    .memblock_alloc_try_nid(size, SMP_CACHE_BYTES, goal, limit, nid)
            } else {
                k.memblock
                    .memblock_alloc_try_nid_nopanic(size, SMP_CACHE_BYTES, goal, limit, nid)
            };
            match r {
                Ok(None) => alloc_mb(k).memblock_alloc_try_nid(
                    size,
                    SMP_CACHE_BYTES,
                    goal,
                    MEMBLOCK_ALLOC_ACCESSIBLE,
                    nid,
                ),
                r => r,
            }
        }
        None => alloc_mb(k).memblock_alloc_node(size, SMP_CACHE_BYTES, nid),
    };
    let p = r.map_err(|e| nomem("sparse_init_nid", e))?;
    need(p, "sparse_init_nid: usemap", size, nid)
}

/// mm/mm_init.c: `early_pfn_to_nid` (`__early_pfn_to_nid`: the node of the memblock memory
/// region holding `pfn`, else the first online node).
pub fn early_pfn_to_nid(k: &Kernel, pfn: u64) -> i32 {
    let regs = &k.memblock.memory.regions;
    let pa = pfn << 12;
    let i = regs.partition_point(|r| r.end() <= pa);
    match regs.get(i) {
        Some(r) if r.base <= pa && r.nid >= 0 && r.nid < crate::mm::memblock::MAX_NUMNODES => r.nid,
        _ => k.numa.online.first().map_or(0, |&n| n as i32),
    }
}

/// The node's memmap buffer (`sparsemap_buf`/`vmemmap_buf`) while sections are carved.
struct Buffer {
    next: u64,
    end: u64,
}

/// mm/sparse.c: `sparse_buffer_alloc`: the next `size`-aligned block of the buffer; the
/// skipped head is freed.
fn sparse_buffer_alloc(k: &mut Kernel, buf: &mut Option<Buffer>, size: u64) -> Option<u64> {
    let b = buf.as_mut()?;
    let p = crate::include::addr::roundup(b.next, size);
    if p + size > b.end {
        return None;
    }
    if p > b.next {
        let _ = alloc_mb(k).memblock_free(b.next, p - b.next);
    }
    b.next = p + size;
    Some(p)
}

/// mm/sparse-vmemmap.c: `vmemmap_alloc_block_zero` at boot (`__earlyonly_bootmem_alloc`):
/// a zeroed page-table page on the node.
fn vmemmap_alloc_block_zero(
    k: &mut Kernel,
    func: &'static str,
    nid: i32,
) -> Result<u64, BootError> {
    let name = if k.era.at_least(4, 19) {
        func
    } else {
        "__earlyonly_bootmem_alloc"
    };
    let _t = k.trace.enter(name, "mm/sparse-vmemmap.c");
    // __earlyonly_bootmem_alloc: the _raw variant from 4.16, the zeroing one before.
    let r = if k.era.at_least(4, 16) {
        alloc_mb(k).memblock_alloc_try_nid_raw(
            PAGE_SIZE,
            PAGE_SIZE,
            MAX_DMA_PA,
            MEMBLOCK_ALLOC_ACCESSIBLE,
            nid,
        )
    } else {
        alloc_mb(k).memblock_alloc_try_nid(
            PAGE_SIZE,
            PAGE_SIZE,
            MAX_DMA_PA,
            MEMBLOCK_ALLOC_ACCESSIBLE,
            nid,
        )
    };
    let p = need(r.map_err(|e| nomem(func, e))?, func, PAGE_SIZE, nid)?;
    k.phys.memset(p, 0, PAGE_SIZE)?;
    Ok(p.0)
}

/// arch/x86/mm/init_64.c: `vmemmap_populate` → `vmemmap_populate_hugepages` for one
/// section: PUD and PMD table pages as needed, and a 2 MiB block from the node's buffer
/// (`vmemmap_alloc_block_buf`) under a PSE PMD. Returns the block's physical address.
fn vmemmap_populate_section(
    k: &mut Kernel,
    pnum: u64,
    nid: i32,
    buf: &mut Option<Buffer>,
    sps: u64,
) -> Result<u64, BootError> {
    let start = VMEMMAP_START.wrapping_add(section_nr_to_pfn(pnum) * STRUCT_PAGE_SIZE);
    let map_size = section_map_size(sps);
    let mut first = None;
    let mut addr = start;
    while addr < start.wrapping_add(map_size) {
        let pgd = (addr >> 39) & 511;
        let pud_page = match k.sparse.vmemmap_pgd.iter().find(|e| e.0 == pgd) {
            Some(e) => e.1,
            None => {
                let p = vmemmap_alloc_block_zero(k, "vmemmap_p4d_populate", nid)?;
                k.sparse.vmemmap_pgd.push((pgd, p));
                // pgd_populate into init_top_pgt (the kernel's PGD, synced into every
                // page table by sync_global_pgds).
                let top = k.direct_map.init_top_pgt;
                if top != 0 {
                    k.phys.write_u64(PhysAddr(top + pgd * 8), p | PAGE_TABLE)?;
                }
                p
            }
        };
        let pud_pa = PhysAddr(pud_page + ((addr >> 30) & 511) * 8);
        let mut pud = k.phys.read_u64(pud_pa)?;
        if pud & 1 == 0 {
            let p = vmemmap_alloc_block_zero(k, "vmemmap_pud_populate", nid)?;
            pud = p | PAGE_TABLE;
            k.phys.write_u64(pud_pa, pud)?;
        }
        let pmd_pa = PhysAddr((pud & PTE_PFN_MASK) + ((addr >> 21) & 511) * 8);
        let block = match sparse_buffer_alloc(k, buf, PMD_SIZE) {
            Some(b) => b,
            None => {
                // vmemmap_alloc_block_buf falls back to a block of its own.
                let _t = k
                    .trace
                    .enter("__earlyonly_bootmem_alloc", "mm/sparse-vmemmap.c");
                let p = alloc_mb(k)
                    .memblock_alloc_try_nid_raw(
                        PMD_SIZE,
                        PMD_SIZE,
                        MAX_DMA_PA,
                        MEMBLOCK_ALLOC_ACCESSIBLE,
                        nid,
                    )
                    .map_err(|e| nomem("vmemmap_populate", e))?;
                let p = need(p, "vmemmap_populate", PMD_SIZE, nid)?.0;
                k.sparse.memmap_buffers.push((nid, p, p + PMD_SIZE));
                p
            }
        };
        k.phys.write_u64(pmd_pa, block | PAGE_KERNEL_LARGE)?;
        first.get_or_insert(block);
        addr = addr.wrapping_add(PMD_SIZE);
    }
    first.ok_or_else(|| BootError::NoMemory("empty section memmap".into()))
}

/// mm/sparse.c: `sparse_init_one_section`: record the memmap (encoded as
/// `mem_map - section_nr_to_pfn(pnum)`, classic SPARSEMEM) and the usage.
fn sparse_init_one_section(
    k: &mut Kernel,
    pnum: u64,
    memmap_pa: u64,
    usage_pa: u64,
) -> Result<(), BootError> {
    let va = k.phys.va(PhysAddr(memmap_pa)).0;
    let coded = va.wrapping_sub(section_nr_to_pfn(pnum) * STRUCT_PAGE_SIZE);
    let mask = !((1u64 << k.sparse.nid_shift) - 1);
    debug_assert_eq!(coded & !mask, 0, "memmap not aligned for the section flags");
    let early = if SectionRules::new(&k.era).subsections {
        SECTION_IS_EARLY
    } else {
        0
    };
    // ms->section_mem_map &= ~SECTION_MAP_MASK: keep the flag bits below SECTION_NID_SHIFT,
    // dropping the early nid. (Before 4.13 bit 2 is not SECTION_IS_ONLINE but nid bit 0.)
    let keep = k.sparse.section_mem_map(pnum) & !mask;
    k.sparse
        .set_section_mem_map(pnum, coded | keep | SECTION_HAS_MEM_MAP | early)?;
    let ms = k.sparse.ms_pa(pnum).unwrap_or(0);
    k.phys
        .write_u64(PhysAddr(ms + 8), k.phys.va(PhysAddr(usage_pa)).0)?;
    // The decoded copy the hot paths read.
    let (Some(map), Some(usemap)) = (
        k.sparse
            .host(memmap_pa, PAGES_PER_SECTION * STRUCT_PAGE_SIZE),
        k.sparse.host(usage_pa + k.sparse.usage_header, 8),
    ) else {
        return Err(BootError::NoMemory(alloc::format!(
            "section {pnum}: memmap or usage outside simulated RAM"
        )));
    };
    let fast = &mut k.sparse.fast;
    if fast.len() <= pnum as usize {
        fast.resize(pnum as usize + 1, SectionFast::default());
    }
    fast[pnum as usize] = SectionFast {
        memmap: (map as usize).wrapping_sub((section_nr_to_pfn(pnum) * STRUCT_PAGE_SIZE) as usize),
        usemap: usemap as usize,
    };
    Ok(())
}

/// The present sections of each node, in order: (nid, first, one past last, count).
fn node_runs(k: &Kernel) -> Vec<(i32, u64, u64, u64)> {
    let mut runs: Vec<(i32, u64, u64, u64)> = Vec::new();
    let mut cur = k.sparse.next_present_section_nr(None);
    while let Some(nr) = cur {
        let nid = k.sparse.sparse_early_nid(nr);
        match runs.last_mut() {
            Some(r) if r.0 == nid => {
                r.2 = nr + 1;
                r.3 += 1;
            }
            _ => runs.push((nid, nr, nr + 1, 1)),
        }
        cur = k.sparse.next_present_section_nr(Some(nr));
    }
    runs
}

/// mm/sparse.c: `sparse_buffer_init` (4.19+): one buffer for the node's whole memmap.
/// 4.19–5.4 aligned it to a page, 5.5 to `section_map_size()`, 5.10 made it node-exact
/// (`memblock_alloc_exact_nid_raw`, later through `memmap_alloc`).
fn sparse_buffer_init(
    k: &mut Kernel,
    size: u64,
    nid: i32,
    sps: u64,
) -> Result<Option<Buffer>, BootError> {
    let align = if k.era.at_least(5, 5) {
        section_map_size(sps)
    } else {
        PAGE_SIZE
    };
    let r = if k.era.at_least(5, 10) {
        alloc_mb(k).memblock_alloc_exact_nid_raw(
            size,
            align,
            MAX_DMA_PA,
            MEMBLOCK_ALLOC_ACCESSIBLE,
            nid,
        )
    } else {
        alloc_mb(k).memblock_alloc_try_nid_raw(
            size,
            align,
            MAX_DMA_PA,
            MEMBLOCK_ALLOC_ACCESSIBLE,
            nid,
        )
    };
    let p = r.map_err(|e| nomem("sparse_buffer_init", e))?;
    Ok(p.map(|p| Buffer {
        next: p.0,
        end: p.0 + size,
    }))
}

/// mm/sparse.c: `sparse_buffer_fini`: give back what the node's sections did not use.
fn sparse_buffer_fini(k: &mut Kernel, buf: Option<Buffer>, nid: i32, start: u64) {
    if let Some(b) = buf {
        k.sparse.memmap_buffers.push((nid, start, b.next));
        if b.end > b.next {
            let _ = alloc_mb(k).memblock_free(b.next, b.end - b.next);
        }
    }
}

/// mm/sparse.c: `sparse_init_nid` (4.19+): the node's usemaps, its memmap buffer, and the
/// vmemmap of each of its present sections.
fn sparse_init_nid(
    k: &mut Kernel,
    nid: i32,
    pnum_begin: u64,
    pnum_end: u64,
    map_count: u64,
) -> Result<(), BootError> {
    let _t = k.trace.enter("sparse_init_nid", "mm/sparse.c");
    let sps = k
        .machine
        .kernel_config()
        .struct_page_size
        .max(STRUCT_PAGE_SIZE);
    let usize_one = mem_section_usage_size(&k.era);
    let usage = sparse_early_usemaps_alloc(k, nid, usize_one * map_count)?.0;
    let buf = sparse_buffer_init(k, map_count * section_map_size(sps), nid, sps)?;
    let start = buf.as_ref().map_or(0, |b| b.next);
    let mut buf = buf;
    let mut u = usage;
    let mut pnum = k.sparse.next_present_section_nr(pnum_begin.checked_sub(1));
    while let Some(nr) = pnum.filter(|&n| n < pnum_end) {
        let map = vmemmap_populate_section(k, nr, nid, &mut buf, sps)?;
        sparse_init_one_section(k, nr, map, u)?;
        u += usize_one;
        pnum = k.sparse.next_present_section_nr(Some(nr));
    }
    sparse_buffer_fini(k, buf, nid, start);
    Ok(())
}

/// mm/sparse.c: `sparse_init` before 4.19: temporary per-section pointer arrays, usemaps
/// per node, then per node one memmap buffer (`sparse_mem_maps_populate_node`), the
/// sections' vmemmap, and the temporary arrays freed.
fn sparse_init_old(k: &mut Kernel) -> Result<(), BootError> {
    let sps = k
        .machine
        .kernel_config()
        .struct_page_size
        .max(STRUCT_PAGE_SIZE);
    let runs = node_runs(k);
    let tmp_size = 8 * NR_MEM_SECTIONS;
    let usemap_map = alloc_mb(k)
        .memblock_alloc(tmp_size, 0)
        .map_err(|e| nomem("sparse_init", e))?;
    let usemap_map = need(usemap_map, "sparse_init", tmp_size, NUMA_NO_NODE)?;
    let mut usemaps = Vec::new();
    for &(nid, _, _, count) in &runs {
        let _t = k
            .trace
            .enter("sparse_early_usemaps_alloc_node", "mm/sparse.c");
        usemaps.push(sparse_early_usemaps_alloc(k, nid, usemap_size(&k.era) * count)?.0);
    }
    let map_map = alloc_mb(k)
        .memblock_alloc(tmp_size, 0)
        .map_err(|e| nomem("sparse_init", e))?;
    let map_map = need(map_map, "sparse_init", tmp_size, NUMA_NO_NODE)?;
    let mut maps = Vec::new();
    for &(nid, first, end, count) in &runs {
        let _t = k
            .trace
            .enter("sparse_mem_maps_populate_node", "mm/sparse-vmemmap.c");
        let size = section_map_size(sps) * count;
        let p = {
            let _t = k
                .trace
                .enter("__earlyonly_bootmem_alloc", "mm/sparse-vmemmap.c");
            k.memblock
                .memblock_alloc_try_nid(size, PMD_SIZE, MAX_DMA_PA, MEMBLOCK_ALLOC_ACCESSIBLE, nid)
                .map_err(|e| nomem("sparse_mem_maps_populate_node", e))?
        };
        let mut buf = p.map(|p| Buffer {
            next: p.0,
            end: p.0 + size,
        });
        let start = p.map_or(0, |p| p.0);
        let mut pnum = k.sparse.next_present_section_nr(first.checked_sub(1));
        while let Some(nr) = pnum.filter(|&n| n < end) {
            maps.push((nr, vmemmap_populate_section(k, nr, nid, &mut buf, sps)?));
            pnum = k.sparse.next_present_section_nr(Some(nr));
        }
        if let Some(b) = buf {
            k.sparse.memmap_buffers.push((nid, start, b.next));
            // memblock_free_early(__pa(vmemmap_buf), vmemmap_buf_end - vmemmap_buf), even
            // when nothing is left (the kernel prints the empty range).
            let _ = alloc_mb(k).__memblock_free_early(b.next, b.end - b.next);
        }
    }
    let _ = alloc_mb(k).__memblock_free_early(map_map.0, tmp_size);
    let _ = alloc_mb(k).__memblock_free_early(usemap_map.0, tmp_size);
    let mut ui = 0;
    let mut u = usemaps.first().copied().unwrap_or(0);
    let mut run_left = runs.first().map_or(0, |r| r.3);
    for (nr, map) in maps {
        while run_left == 0 {
            ui += 1;
            u = usemaps[ui];
            run_left = runs[ui].3;
        }
        sparse_init_one_section(k, nr, map, u)?;
        u += usemap_size(&k.era);
        run_left -= 1;
    }
    Ok(())
}

/// The shadow window of a FLATMEM kernel: `(base, size)` above everything the machine's
/// firmware map describes, 1 GiB-aligned, large enough for a section table and a 2 MiB
/// memmap block per 128 MiB section of the physical address space below `base`, plus page
/// tables and usage structs. `None` for SPARSEMEM kernels (x86_64).
///
/// The kernel's i386 FLATMEM memmap (`alloc_node_mem_map`) is one array of its 32- or
/// 40-byte struct pages, reserved in memblock at the kernel's address; bootmm's struct page
/// is the 64-byte x86_64 layout its allocators share, so it keeps them here, in simulated
/// RAM the kernel never sees, built by the same sparse code (see docs/divergences.md).
pub fn flatmem_shadow_window(machine: &crate::machine::Machine) -> Option<(u64, u64)> {
    if machine.era.is_64bit()
        && machine.era.early_allocator() != crate::era::EarlyAllocator::Bootmem
    {
        return None;
    }
    let base = crate::include::addr::round_up(machine.phys_end().max(1), 1 << 30);
    let sections = base.div_ceil(1 << SECTION_SIZE_BITS);
    Some((base, sections * (PMD_SIZE + 64 * 1024) + (16 << 20)))
}

/// FLATMEM (i386), and 2.6's SPARSEMEM (whose vmemmap packs the kernel's 56-byte struct
/// pages across PMDs, [`sparse_init_bootmem`]): bootmm's struct pages for the whole of RAM, through `sparse_init` on the
/// shadow window's memblock, out of the call tree and the log (the kernel makes no such
/// calls; `free_area_init_node` reserves its own memmap in the kernel's memblock).
///
/// # Errors
/// What [`sparse_init`] returns.
pub(crate) fn sparse_init_flatmem_shadow(k: &mut Kernel) -> Result<(), BootError> {
    let Some((base, size)) = flatmem_shadow_window(&k.machine) else {
        return Ok(());
    };
    let mut m = crate::mm::memblock::Memblock::new(
        k.era.clone(),
        crate::printk::Printk::new(),
        crate::trace::Trace::new(),
        Some(k.phys.clone()),
    );
    m.memblock_add(base, size)
        .map_err(|e| nomem("the FLATMEM shadow window", e))?;
    k.flatmem_shadow = Some(m);
    let recording = k.trace.recording();
    k.trace.set_recording(false);
    let r = sparse_init_sections(k);
    k.trace.set_recording(recording);
    r
}

/// mm/sparse.c: `sparse_init`.
pub(crate) fn sparse_init(k: &mut Kernel) -> Result<(), BootError> {
    if k.era.is_64bit() && k.era.early_allocator() == crate::era::EarlyAllocator::Bootmem {
        sparse_init_flatmem_shadow(k)?;
        return sparse_init_bootmem(k);
    }
    let _t = k.trace.enter("sparse_init", "mm/sparse.c");
    if !k.era.is_64bit() {
        // i386 builds are FLATMEM: see sparse_init_flatmem_shadow.
        return Ok(());
    }
    sparse_init_sections(k)
}

/// `__pa(MAX_DMA_ADDRESS)`'s direct-map address in 2.6 (`PAGE_OFFSET` 0xffff880000000000):
/// how the vmemmap line prints a block.
const PAGE_OFFSET_26: u64 = 0xffff_8800_0000_0000;

/// arch/x86/mm/init_64.c (2.6.27–2.6.33): `vmemmap_populate`'s print state, kept across
/// sections (`p_start`, `p_end`, `node_start`, `addr_start`, `addr_end`).
#[derive(Default)]
struct VmemmapPrint {
    run: Option<(u64, u64, u64, u64, i32)>,
}

impl VmemmapPrint {
    /// One new PMD block `p` for `[addr, addr + PMD_SIZE)` on `node`: a block not following
    /// the last one physically, or on another node, prints the run so far and starts anew.
    fn block(&mut self, k: &mut Kernel, addr: u64, p: u64, node: i32) {
        match &mut self.run {
            Some(r) if r.3 == p && r.4 == node => {
                r.1 = addr + PMD_SIZE;
                r.3 = p + PMD_SIZE;
            }
            _ => {
                self.print(k);
                self.run = Some((addr, addr + PMD_SIZE, p, p + PMD_SIZE, node));
            }
        }
    }

    /// `vmemmap_populate_print_last` (and the print of a finished run).
    fn print(&mut self, k: &mut Kernel) {
        if let Some((a0, a1, p0, p1, node)) = self.run.take() {
            crate::pr_debug!(
                k.printk,
                " [{a0:x}-{:x}] PMD -> [{:x}-{:x}] on node {node}\n",
                a1 - 1,
                PAGE_OFFSET_26 + p0,
                PAGE_OFFSET_26 + p1 - 1
            );
        }
    }
}

/// mm/sparse.c and arch/x86/mm/init_64.c (2.6.27–2.6.33): `sparse_init`'s allocations from
/// the bootmem bitmap, in the kernel's order: a root array per 256 present sections
/// (`sparse_index_alloc`, from `sparse_memory_present_with_active_regions`), the 4 MiB
/// `usemap_map`, every present section's usemap (`sparse_early_usemap_alloc`), then each
/// section's memmap (`sparse_early_mem_map_alloc` → `vmemmap_populate`): a page for the
/// vmemmap's PUD table, one for each PMD table, and a 2 MiB block (2 MiB aligned, from
/// 16 MiB up, on the section's node) for each PMD the section's struct pages reach that
/// has none yet, printed as runs of contiguous blocks; last `usemap_map` is freed.
///
/// The kernel's struct page is `sizeof(struct page)` bytes (56 in distribution builds), so
/// a section's memmap is not PMD-aligned and neighbouring sections share PMDs; bootmm's
/// own struct pages live in the shadow window ([`sparse_init_flatmem_shadow`]). The 2.6
/// kernel page tables are not built (docs/divergences.md): the vmemmap entries are tracked
/// here only to know which tables and blocks exist.
///
/// # Errors
/// [`BootError::NoMemory`] where the kernel panics (`__alloc_bootmem_node` finds no room).
fn sparse_init_bootmem(k: &mut Kernel) -> Result<(), BootError> {
    use crate::mm::nobootmem::{bootmem_alloc, bootmem_alloc_node, bootmem_free};
    let _t = k.trace.enter("sparse_init", "mm/sparse.c");
    let sps = k.machine.kernel_config().struct_page_size;
    let mut sections = Vec::new();
    let mut pnum = k.sparse.next_present_section_nr(None);
    while let Some(nr) = pnum {
        sections.push((nr, early_pfn_to_nid(k, section_nr_to_pfn(nr))));
        pnum = k.sparse.next_present_section_nr(Some(nr));
    }
    let need = |p: Result<Option<u64>, alloc::string::String>, what: &str, size: u64| match p {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(BootError::NoMemory(alloc::format!(
            "{what}: bootmem alloc of {size} bytes failed! (Out of memory)"
        ))),
        Err(e) => Err(BootError::NoMemory(alloc::format!("{what}: {e}"))),
    };
    {
        let _t = k.trace.enter("sparse_index_alloc", "mm/sparse.c");
        let mut last_root = None;
        for &(nr, nid) in &sections {
            let root = nr / SECTIONS_PER_ROOT;
            if last_root == Some(root) {
                continue;
            }
            last_root = Some(root);
            let r = bootmem_alloc_node(k, nid, PAGE_SIZE, SMP_CACHE_BYTES, MAX_DMA_PA);
            need(r, "sparse_index_alloc", PAGE_SIZE)?;
        }
    }
    let map_size = 8 * NR_MEM_SECTIONS;
    let usemap_map = need(
        bootmem_alloc(k, map_size, SMP_CACHE_BYTES, MAX_DMA_PA, 0),
        "can not allocate usemap_map",
        map_size,
    )?;
    {
        let _t = k.trace.enter("sparse_early_usemap_alloc", "mm/sparse.c");
        let size = usemap_size(&k.era);
        for &(_, nid) in &sections {
            let r = bootmem_alloc_node(k, nid, size, SMP_CACHE_BYTES, MAX_DMA_PA);
            need(r, "sparse_early_usemap_alloc", size)?;
        }
    }
    {
        let _t = k.trace.enter("sparse_early_mem_map_alloc", "mm/sparse.c");
        let _t2 = k.trace.enter("vmemmap_populate", "arch/x86/mm/init_64.c");
        let mut print = VmemmapPrint::default();
        let (mut pgd_done, mut puds, mut pmds) = (false, Vec::new(), Vec::new());
        for &(nr, nid) in &sections {
            let start = VMEMMAP_START.wrapping_add(section_nr_to_pfn(nr) * sps);
            let end = start.wrapping_add(PAGES_PER_SECTION * sps);
            let mut addr = start;
            while addr < end {
                if !pgd_done {
                    let r = bootmem_alloc_node(k, nid, PAGE_SIZE, PAGE_SIZE, MAX_DMA_PA);
                    need(r, "vmemmap_pgd_populate", PAGE_SIZE)?;
                    pgd_done = true;
                }
                let pud = addr >> 30;
                if !puds.contains(&pud) {
                    let r = bootmem_alloc_node(k, nid, PAGE_SIZE, PAGE_SIZE, MAX_DMA_PA);
                    need(r, "vmemmap_pud_populate", PAGE_SIZE)?;
                    puds.push(pud);
                }
                let pmd = addr & !(PMD_SIZE - 1);
                if pmds.last() != Some(&pmd) && !pmds.contains(&pmd) {
                    let r = bootmem_alloc_node(k, nid, PMD_SIZE, PMD_SIZE, MAX_DMA_PA);
                    let p = need(r, "vmemmap_populate", PMD_SIZE)?;
                    pmds.push(pmd);
                    print.block(k, pmd, p, nid);
                }
                addr = (pmd + PMD_SIZE).min(end);
            }
        }
        print.print(k);
    }
    bootmem_free(k, usemap_map, map_size).map_err(BootError::NoMemory)
}

/// `sparse_init`'s work: the sections present, then their usemaps and memmaps.
fn sparse_init_sections(k: &mut Kernel) -> Result<(), BootError> {
    memblocks_present(k)?;
    if k.sparse.highest_present_section_nr.is_none() {
        return Ok(());
    }
    if !k.era.at_least(4, 19) {
        return sparse_init_old(k);
    }
    for (nid, first, end, count) in node_runs(k) {
        sparse_init_nid(k, nid, first, end, count)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::era::{Arch, KernelVersion};

    fn era(a: u32, b: u32, c: u32) -> Era {
        Era::new(KernelVersion::new(a, b, c), Arch::X86_64)
    }

    #[test]
    fn section_math() {
        assert_eq!(PAGES_PER_SECTION, 32768);
        assert_eq!(NR_SECTION_ROOTS * 8, 16384);
        assert_eq!(SECTIONS_PER_ROOT, 256);
        assert_eq!(section_map_size(64), 2 << 20);
        assert_eq!(section_map_size(56), 2 << 20);
        assert_eq!(pfn_to_section_nr(0x13_ffff), 39);
        assert_eq!(section_nr_to_pfn(40), 0x14_0000);
    }

    #[test]
    fn usage_sizes_per_era() {
        // 4.9: a usemap of 64 pageblocks × 4 bits.
        assert_eq!(mem_section_usage_size(&era(4, 9, 96)), 32);
        // 5.4: plus the subsection map.
        assert_eq!(mem_section_usage_size(&era(5, 4, 0)), 40);
        // 6.6.41 (the 003 log: 896 bytes for 16 sections) has the rcu_head backport.
        assert_eq!(mem_section_usage_size(&era(6, 6, 41)) * 16, 896);
        assert_eq!(mem_section_usage_size(&era(6, 6, 9)), 40);
        // 6.16+: eight bits per pageblock.
        assert_eq!(mem_section_usage_size(&era(6, 18, 0)), 16 + 8 + 64);
    }
}
