//! `arch/x86/mm/init.c`: `init_mem_mapping`, the x86_64 direct map of RAM (the page-table
//! walkers of `arch/x86/mm/init_64.c`, `kernel_physical_mapping_init` and `phys_*_init`, are
//! in [`super::init_64`]).
//!
//! The ISA range is mapped first, then RAM top-down in growing steps (bottom-up above the
//! kernel when memblock allocates bottom-up). Page-table pages come from the brk buffer
//! (`pgt_buf`, `INIT_PGT_BUF_SIZE`) while it lasts and while the range being mapped does not
//! hold it, then from memblock inside what is already mapped (`min_pfn_mapped` to
//! `max_pfn_mapped`, top-down). The tables are written into simulated RAM, and the PGD's
//! entries into `init_top_pgt`, a page of the kernel image's `.data` (at its estimated
//! start: [`crate::machine::ImageLayout::data_start`]).
//!
//! Three inputs no log prints directly decide how many pages the tables take: whether the CPU
//! has 1 GiB pages (`X86_FEATURE_GBPAGES`; the kernel prints "Using GB pages for direct
//! mapping" when it uses them), whether memory KASLR is on (`init_trampoline_kaslr` takes one
//! more page), and the size of the brk buffer (a build fact). Where the machine leaves one of
//! them open, `init_mem_mapping` also maps under the other values on a quiet copy of memblock
//! and records when the reservations would differ (see [`DirectMap::uncertain`]).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::Cell;

use crate::era::Era;
use crate::include::addr::{pfn_down, pfn_up};
use crate::include::PhysAddr;
use crate::kernel::Kernel;
use crate::mm::memblock::{Memblock, MAX_NUMNODES};
use crate::phys::PhysMem;
use crate::printk::Printk;
use crate::trace::Trace;
use crate::{pr_debug, pr_info, pr_warn};

pub(super) const PAGE: u64 = 4096;
pub(super) const PMD_SIZE: u64 = 2 << 20;
pub(super) const PUD_SIZE: u64 = 1 << 30;
pub(super) const PGDIR_SIZE: u64 = 1 << 39;
/// `ISA_END_ADDRESS`.
const ISA_END: u64 = 0x10_0000;
/// `_PAGE_PRESENT`.
pub(super) const PRESENT: u64 = 0x001;
/// `_PAGE_PSE`: a 2 MiB or 1 GiB page.
pub(super) const PSE: u64 = 0x080;
/// `_PAGE_TABLE`: the entry pointing at a page-table page, as `pmd_populate_kernel`,
/// `pud_populate` and `p4d_populate` write it (`_KERNPG_TABLE` plus `_PAGE_USER`).
pub(super) const PAGE_TABLE: u64 = 0x067;
/// `__PAGE_KERNEL_LARGE`: present, RW, accessed, dirty, PSE, global and NX (a CPU with NX
/// and without page-table isolation, which would clear the global bit).
pub(super) const PAGE_KERNEL_LARGE: u64 = 0x8000_0000_0000_01e3;
/// `__PAGE_KERNEL` for a 4 KiB page: as above without PSE.
pub(super) const PAGE_KERNEL: u64 = 0x8000_0000_0000_0163;
pub(super) const PTE_PFN_MASK: u64 = 0x000f_ffff_ffff_f000;

/// `PG_LEVEL_2M` / `PG_LEVEL_1G` bits of `page_size_mask`.
pub const MASK_2M: u32 = 1 << 2;
pub const MASK_1G: u32 = 1 << 3;

/// `memory_map_top_down` checks the 2 MiB probe it allocates and frees: when none is free it
/// warns and starts at the top of the range. Before, the failed allocation's 0 was freed as
/// if it were the block (taking the first 2 MiB out of memblock.reserved) and the walk started
/// at 2 MiB. Commit 631ca8909fd5 ("x86/mm: Check return value from
/// memblock_phys_alloc_range()"), merged for 6.15; in the stable queues for 6.14 (6.14.9) and,
/// chosen for 6.12 and 6.6 in May 2025, taken as 6.12.31 and 6.6.93 (sublevels inferred).
pub fn top_down_checks_probe(era: &Era) -> bool {
    let v = era.version;
    let since = |minor: u32, patch: u32| v.major == 6 && v.minor == minor && v.patch >= patch;
    era.at_least(6, 15) || since(14, 9) || since(12, 31) || since(6, 93)
}

/// The inputs that decide how many page-table pages the direct map takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapInputs {
    /// `direct_gbpages && boot_cpu_has(X86_FEATURE_GBPAGES)`.
    pub gbpages: bool,
    /// `kaslr_memory_enabled()` (4.8+).
    pub kaslr: bool,
    /// `INIT_PGT_BUF_SIZE / PAGE_SIZE`.
    pub pgt_buf_pages: u64,
}

/// What `init_mem_mapping` left behind.
#[derive(Clone, Debug, Default)]
pub struct DirectMap {
    /// `init_top_pgt` entries of the direct map: (index from `PAGE_OFFSET`, PUD page).
    pub pgd: Vec<(u64, u64)>,
    /// Physical address of `init_top_pgt` in simulated RAM, once its entries are written
    /// there (0: not written, the image lies outside simulated RAM).
    pub init_top_pgt: u64,
    /// `direct_pages_count[PG_LEVEL_4K]`, `[PG_LEVEL_2M]`, `[PG_LEVEL_1G]` as the mapping
    /// functions counted them (an existing large page met again is counted again, as there).
    pub pages_count: [u64; 3],
    /// Page-table pages taken from the brk buffer.
    pub brk_pages: u64,
    /// Page-table blocks taken from memblock: (base, bytes).
    pub memblock_pages: Vec<(u64, u64)>,
    /// The inputs the map was built with.
    pub inputs: Option<MapInputs>,
    /// Why the page-table pages taken from memblock may not be the kernel's: the inputs left
    /// open that change them.
    pub uncertain: Option<String>,
}

/// The mapping code's state (`pgt_buf_*`, `min_pfn_mapped`, `max_pfn_mapped`,
/// `can_use_brk_pgt`, `page_size_mask`) over one memblock.
pub(super) struct Mapper<'a> {
    pub(super) era: &'a Era,
    pub(super) mb: &'a mut Memblock,
    /// Simulated RAM; `None` keeps the tables in `shadow` (a trial run).
    pub(super) ram: Option<&'a PhysMem>,
    /// A trial run's page-table pages.
    pub(super) shadow: Shadow,
    pub(super) printk: Option<&'a Printk>,
    pub(super) trace: Trace,
    pub(super) pgd: Vec<(u64, u64)>,
    pub(super) pgt_buf_end: u64,
    pub(super) pgt_buf_top: u64,
    pub(super) can_use_brk_pgt: bool,
    /// The buffer lies in no range being mapped (a kernel KASLR placed elsewhere).
    pub(super) buf_elsewhere: bool,
    pub(super) min_pfn_mapped: u64,
    pub(super) max_pfn_mapped: u64,
    pub(super) page_size_mask: u32,
    pub(super) pages: [u64; 3],
    pub(super) brk_pages: u64,
    pub(super) taken: Vec<(u64, u64)>,
    /// A 32-bit kernel's tables (arch/x86/pgtable_32.rs): its mapping functions and
    /// `PMD_SIZE` instead of x86_64's.
    pub(super) pt32: Option<super::pgtable_32::Map32>,
}

pub(super) type MapResult<T> = Result<T, String>;

/// A trial run's page-table pages, kept host-side instead of in simulated RAM: the pages by
/// physical address, and the last one used, since the walkers read and write one table's
/// entries in a row (a 64 TiB map without GB pages writes 32 M entries per run).
#[derive(Default)]
pub(super) struct Shadow {
    index: BTreeMap<u64, usize>,
    pages: Vec<Box<[u64; 512]>>,
    last: Cell<Option<(u64, usize)>>,
}

impl Shadow {
    /// The page holding `pa`, if written.
    fn find(&self, pa: u64) -> Option<usize> {
        let page = pa & !(PAGE - 1);
        match self.last.get() {
            Some((p, i)) if p == page => Some(i),
            _ => {
                let i = *self.index.get(&page)?;
                self.last.set(Some((page, i)));
                Some(i)
            }
        }
    }

    /// The entry at `pa` (a never-written page reads as zero, as a zeroed page does).
    fn read(&self, pa: u64) -> u64 {
        self.find(pa)
            .map_or(0, |i| self.pages[i][((pa & (PAGE - 1)) / 8) as usize])
    }

    fn write(&mut self, pa: u64, v: u64) {
        self.table(pa)[((pa & (PAGE - 1)) / 8) as usize] = v;
    }

    /// The entries of the page holding `pa`, made (zeroed) if never written.
    fn table(&mut self, pa: u64) -> &mut [u64; 512] {
        let i = match self.find(pa) {
            Some(i) => i,
            None => {
                let (page, i) = (pa & !(PAGE - 1), self.pages.len());
                self.pages.push(Box::new([0; 512]));
                self.index.insert(page, i);
                self.last.set(Some((page, i)));
                i
            }
        };
        &mut self.pages[i]
    }

    /// Zero the page at `pa` (a page-table page handed out again).
    fn clear(&mut self, pa: u64) {
        if let Some(i) = self.find(pa) {
            *self.pages[i] = [0; 512];
        }
    }
}

impl super::pgtable_32::LowPages for Mapper<'_> {
    fn alloc_low_pages(&mut self, num: u64) -> MapResult<u64> {
        Mapper::alloc_low_pages(self, num)
    }
}

impl Mapper<'_> {
    pub(super) fn read(&self, pa: u64) -> MapResult<u64> {
        match self.ram {
            Some(r) => r.read_u64(PhysAddr(pa)).map_err(|e| format!("{e}")),
            None => Ok(self.shadow.read(pa)),
        }
    }

    pub(super) fn write(&mut self, pa: u64, v: u64) -> MapResult<()> {
        match self.ram {
            Some(r) => r.write_u64(PhysAddr(pa), v).map_err(|e| format!("{e}")),
            None => {
                self.shadow.write(pa, v);
                Ok(())
            }
        }
    }

    /// Write `PAGE_KERNEL_LARGE` entries mapping `paddr`, `paddr + 2 MiB`, … into entries
    /// `first..first + n` of the table at `table`, stopping at the first present one.
    /// Returns how many were written.
    pub(super) fn fill_large(
        &mut self,
        table: u64,
        first: u64,
        n: u64,
        paddr: u64,
    ) -> MapResult<u64> {
        debug_assert!(first + n <= 512 && table % PAGE == 0);
        let entry = |k: u64| (paddr + k * PMD_SIZE) | PAGE_KERNEL_LARGE;
        match self.ram {
            Some(r) => {
                let p = r
                    .host_ptr(PhysAddr(table + first * 8), n * 8)
                    .map_err(|e| format!("{e}"))?
                    .as_ptr()
                    .cast::<u64>();
                for k in 0..n {
                    // SAFETY: host_ptr validated the n entries from `p`; page-table pages
                    // are 4 KiB aligned, so each u64 is too, and during boot nothing else
                    // touches simulated RAM.
                    unsafe {
                        let at = p.add(k as usize);
                        if at.read() & PRESENT != 0 {
                            return Ok(k);
                        }
                        at.write(entry(k));
                    }
                }
                Ok(n)
            }
            None => {
                let t = self.shadow.table(table);
                for k in 0..n {
                    let at = &mut t[(first + k) as usize];
                    if *at & PRESENT != 0 {
                        return Ok(k);
                    }
                    *at = entry(k);
                }
                Ok(n)
            }
        }
    }

    /// `PMD_SIZE`: 2 MiB, or 4 MiB on a 32-bit kernel without PAE.
    fn pmd_size(&self) -> u64 {
        self.pt32.map_or(PMD_SIZE, |m| m.geom.pmd_size())
    }

    /// arch/x86/mm/init.c: `alloc_low_pages(1)` (`alloc_low_page`), zeroed.
    pub(super) fn alloc_low_page(&mut self) -> MapResult<u64> {
        self.alloc_low_pages(1)
    }

    /// arch/x86/mm/init.c: `alloc_low_pages`: `num` contiguous pages, zeroed.
    pub(super) fn alloc_low_pages(&mut self, num: u64) -> MapResult<u64> {
        let _t = self.trace.enter("alloc_low_pages", "arch/x86/mm/init.c");
        let pfn = if self.pgt_buf_end + num > self.pgt_buf_top || !self.can_use_brk_pgt {
            let mut ret = 0;
            if self.min_pfn_mapped < self.max_pfn_mapped {
                let (start, end) = (self.min_pfn_mapped << 12, self.max_pfn_mapped << 12);
                if self.era.at_least(5, 15) {
                    ret = self
                        .mb
                        .memblock_phys_alloc_range(PAGE * num, PAGE, start, end)
                        .map_err(|e| format!("{e}"))?
                        .map_or(0, |p| p.0);
                } else {
                    ret = self.mb.memblock_find_in_range(start, end, PAGE * num, PAGE);
                    if ret != 0 {
                        self.mb
                            .memblock_reserve(ret, PAGE * num)
                            .map_err(|e| format!("{e}"))?;
                    }
                }
            }
            if ret == 0 {
                // extend_brk past the reserved brk area is a BUG in the kernel.
                return Err(String::from("alloc_low_pages: can not alloc memory"));
            }
            self.taken.push((ret, PAGE * num));
            ret >> 12
        } else {
            let pfn = self.pgt_buf_end;
            self.pgt_buf_end += num;
            self.brk_pages += num;
            // The KERN_DEBUG line was dropped in 5.7 (seen in 5.6, not in 5.8).
            if !self.era.at_least(5, 7) {
                if let Some(p) = self.printk {
                    pr_debug!(
                        p,
                        "BRK [{:#010x}, {:#010x}] PGTABLE\n",
                        pfn << 12,
                        (self.pgt_buf_end << 12) - 1
                    );
                }
            }
            pfn
        };
        let pa = pfn << 12;
        for i in 0..num {
            let p = pa + i * PAGE;
            match self.ram {
                Some(r) => r.memset(PhysAddr(p), 0, PAGE).map_err(|e| format!("{e}"))?,
                None => self.shadow.clear(p),
            }
        }
        Ok(pa)
    }

    /// arch/x86/mm/init.c: `init_memory_mapping`. Returns the end pfn mapped.
    pub(super) fn init_memory_mapping(&mut self, start: u64, end: u64) -> MapResult<u64> {
        let _t = self
            .trace
            .enter("init_memory_mapping", "arch/x86/mm/init.c");
        // KERN_INFO (and the page lines KERN_DEBUG) until "x86, mm: quiet arch_add_memory()"
        // made both pr_debug; posted after 4.3-rc1, whose logs still print them: 4.4.
        let loud = !self.era.at_least(4, 4);
        if loud {
            if let Some(p) = self.printk {
                pr_info!(
                    p,
                    "init_memory_mapping: [mem {:#010x}-{:#010x}]\n",
                    start,
                    end - 1
                );
            }
        }
        let mr = match self.pt32 {
            Some(m) => {
                let mb = &*self.mb;
                let is_memory = |b: u64, s: u64| mb.memblock_is_region_memory(b, s);
                let adjust = super::pgtable_32::Pt32Rules::new(self.era)
                    .adjust_page_size
                    .then_some((m.max_low_pfn, &is_memory as &dyn Fn(u64, u64) -> bool));
                super::pgtable_32::split_mem_range_32(
                    m.geom,
                    start,
                    end,
                    self.page_size_mask,
                    adjust,
                )
            }
            None => split_mem_range(start, end, self.page_size_mask, |b, s| {
                self.mb.memblock_is_region_memory(b, s)
            }),
        };
        if loud {
            if let Some(p) = self.printk {
                for &(s, e, m) in &mr {
                    let size = if m & MASK_1G != 0 {
                        "1G"
                    } else if m & MASK_2M != 0 {
                        "2M"
                    } else {
                        "4k"
                    };
                    pr_debug!(p, " [mem {:#010x}-{:#010x}] page {}\n", s, e - 1, size);
                }
            }
        }
        let mut ret = 0;
        for (s, e, m) in mr {
            ret = match self.pt32 {
                Some(m32) => {
                    let ram = self
                        .ram
                        .ok_or_else(|| String::from("a 32-bit direct map needs simulated RAM"))?;
                    let mut counts = [self.pages[0], self.pages[1]];
                    let r = super::pgtable_32::kernel_physical_mapping_init(
                        ram,
                        m32,
                        s,
                        e,
                        m,
                        self,
                        &mut counts,
                    )?;
                    self.pages[0] = counts[0];
                    self.pages[1] = counts[1];
                    r
                }
                None => self.kernel_physical_mapping_init(s, e, m)?,
            };
        }
        // add_pfn_range_mapped
        self.max_pfn_mapped = self.max_pfn_mapped.max(ret >> 12);
        Ok(ret >> 12)
    }

    /// arch/x86/mm/init.c: `init_range_memory_mapping`: the RAM of `[r_start, r_end)`.
    fn init_range_memory_mapping(&mut self, r_start: u64, r_end: u64) -> MapResult<u64> {
        let mut mapped = 0;
        for (spfn, epfn, _) in self.mb.for_each_mem_pfn_range(MAX_NUMNODES) {
            let start = (spfn << 12).clamp(r_start, r_end);
            let end = (epfn << 12).clamp(r_start, r_end);
            if start >= end {
                continue;
            }
            // A range holding the brk buffer takes its tables from memblock.
            self.can_use_brk_pgt = self.buf_elsewhere
                || start.max(self.pgt_buf_end << 12) >= end.min(self.pgt_buf_top << 12);
            self.init_memory_mapping(start, end)?;
            mapped += end - start;
            self.can_use_brk_pgt = true;
        }
        Ok(mapped)
    }

    /// The memory ranges `init_range_memory_mapping` maps, pfn-rounded as it rounds them
    /// (empty ones dropped), as byte ranges.
    fn mappable_ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.mb
            .memory
            .regions
            .iter()
            .map(|r| (pfn_up(r.base) << 12, pfn_down(r.end()) << 12))
            .filter(|&(s, e)| s < e)
    }

    /// Where a walk down from `addr` meets RAM again: the highest end below `addr` of a
    /// mappable range, or 0.
    fn ram_end_below(&self, addr: u64) -> u64 {
        self.mappable_ranges()
            .filter(|&(s, _)| s < addr)
            .map(|(_, e)| e.min(addr))
            .max()
            .unwrap_or(0)
    }

    /// Where a walk up from `addr` meets RAM again: the lowest start at or above `addr` of a
    /// mappable range, or `u64::MAX`.
    fn ram_start_from(&self, addr: u64) -> u64 {
        self.mappable_ranges()
            .filter(|&(_, e)| e > addr)
            .map(|(s, _)| s.max(addr))
            .min()
            .unwrap_or(u64::MAX)
    }

    /// `get_new_step_size`: `<< 5` until 3.17, `<< (PMD_SHIFT - PAGE_SHIFT - 1)` from 3.18
    /// (seen as 64 MiB steps in 3.16, 512 MiB in 3.19).
    fn new_step(&self, step: u64) -> u64 {
        if self.era.at_least(3, 18) {
            step << (self.pmd_size().trailing_zeros() - 12 - 1)
        } else {
            step << 5
        }
    }

    /// arch/x86/mm/init.c: `memory_map_top_down`.
    pub(super) fn memory_map_top_down(&mut self, map_start: u64, map_end: u64) -> MapResult<()> {
        let _t = self
            .trace
            .enter("memory_map_top_down", "arch/x86/mm/init.c");
        let pmd_size = self.pmd_size();
        // The top-most free 2 MiB block; 5.15+ allocates and frees it.
        let real_end = if self.era.at_least(5, 15) {
            let a = self
                .mb
                .memblock_phys_alloc_range(pmd_size, pmd_size, map_start, map_end)
                .map_err(|e| format!("{e}"))?;
            match a {
                Some(a) => {
                    self.mb
                        .memblock_phys_free(a.0, pmd_size)
                        .map_err(|e| format!("{e}"))?;
                    a.0 + pmd_size
                }
                None if top_down_checks_probe(self.era) => {
                    // The kernel's format has no newline; the next message, not a
                    // continuation, starts a record of its own, so the line reads the same.
                    if let Some(p) = self.printk {
                        pr_warn!(p, "Failed to release memory for alloc_low_pages()\n");
                    }
                    map_start.max(map_end / pmd_size * pmd_size)
                }
                None => {
                    // The failed allocation's 0 is freed as if it were the block: the
                    // first 2 MiB leave memblock.reserved, and the walk starts at 2 MiB.
                    self.mb
                        .memblock_phys_free(0, pmd_size)
                        .map_err(|e| format!("{e}"))?;
                    pmd_size
                }
            }
        } else {
            self.mb
                .memblock_find_in_range(map_start, map_end, pmd_size, pmd_size)
                + pmd_size
        };
        let mut step = pmd_size;
        self.max_pfn_mapped = 0;
        self.min_pfn_mapped = real_end >> 12;
        let mut last_start = real_end;
        let mut mapped = 0u64;
        let new_rule = self.era.at_least(3, 18);
        while last_start > map_start {
            let start = if last_start > step {
                ((last_start - 1) / step * step).max(map_start)
            } else {
                map_start
            };
            let new = self.init_range_memory_mapping(start, last_start)?;
            last_start = start;
            if new == 0 && last_start > map_start {
                // A step over a hole maps nothing and leaves the step as it was; the
                // kernel's loop goes on a step at a time to the step holding the next RAM
                // below. Go there at once: a 64 TiB max_pfn over a hole is 32 M steps.
                let target = self
                    .ram_end_below(last_start)
                    .div_ceil(step)
                    .saturating_mul(step)
                    .max(map_start);
                last_start = last_start.min(target);
            }
            self.min_pfn_mapped = last_start >> 12;
            if new_rule {
                mapped += new;
                if mapped >= step {
                    step = self.new_step(step);
                }
            } else {
                // Only grow the step after a bigger range got mapped.
                if new > mapped {
                    step = self.new_step(step);
                }
                mapped += new;
            }
        }
        if real_end < map_end {
            self.init_range_memory_mapping(real_end, map_end)?;
        }
        Ok(())
    }

    /// arch/x86/mm/init.c: `memory_map_bottom_up`.
    pub(super) fn memory_map_bottom_up(&mut self, map_start: u64, map_end: u64) -> MapResult<()> {
        let _t = self
            .trace
            .enter("memory_map_bottom_up", "arch/x86/mm/init.c");
        let pmd_size = self.pmd_size();
        let mut step = pmd_size;
        let mut start = map_start;
        let mut mapped = 0u64;
        self.min_pfn_mapped = start >> 12;
        while start < map_end {
            let next = if step != 0 && map_end - start > step {
                (start + 1).div_ceil(step).saturating_mul(step).min(map_end)
            } else {
                map_end
            };
            let new = self.init_range_memory_mapping(start, next)?;
            mapped += new;
            start = next;
            if new == 0 && step != 0 && start < map_end {
                // As in memory_map_top_down: skip the steps over a hole at once.
                let target = self.ram_start_from(start) / step * step;
                start = start.max(target.min(map_end));
            }
            if mapped >= step {
                step = self.new_step(step);
            }
        }
        Ok(())
    }
}

/// arch/x86/mm/init.c: `split_mem_range` (x86_64) with `adjust_range_page_size_mask` and the
/// merge of neighbours: the pieces of `[start, end)` as (start, end, page_size_mask).
/// `is_memory(base, size)` is `memblock_is_region_memory`.
pub fn split_mem_range(
    start: u64,
    end: u64,
    page_size_mask: u32,
    mut is_memory: impl FnMut(u64, u64) -> bool,
) -> Vec<(u64, u64, u32)> {
    let up = |x: u64, a: u64| x.div_ceil(a) * a;
    let down = |x: u64, a: u64| x / a * a;
    let limit = down(end, PAGE);
    let mut mr: Vec<(u64, u64, u32)> = Vec::new();
    let mut save = |s: u64, e: u64, m: u32| {
        if s < e {
            mr.push((s, e, m));
        }
    };
    // head if not big page alignment
    let mut pos = down(start, PAGE);
    let e = up(pos, PMD_SIZE).min(limit);
    if pos < e {
        save(pos, e, 0);
        pos = e;
    }
    // big page (2M) range
    let s = up(pos, PMD_SIZE);
    let e = up(pos, PUD_SIZE).min(down(limit, PMD_SIZE));
    if s < e {
        save(s, e, page_size_mask & MASK_2M);
        pos = e;
    }
    // big page (1G) range
    let s = up(pos, PUD_SIZE);
    let e = down(limit, PUD_SIZE);
    if s < e {
        save(s, e, page_size_mask & (MASK_2M | MASK_1G));
        pos = e;
    }
    // tail is not big page (1G) alignment
    let s = up(pos, PMD_SIZE);
    let e = down(limit, PMD_SIZE);
    if s < e {
        save(s, e, page_size_mask & MASK_2M);
        pos = e;
    }
    // tail is not big page (2M) alignment
    save(pos, limit, 0);
    // adjust_range_page_size_mask
    for r in mr.iter_mut() {
        if page_size_mask & MASK_2M != 0 && r.2 & MASK_2M == 0 {
            let (s, e) = (down(r.0, PMD_SIZE), up(r.1, PMD_SIZE));
            if is_memory(s, e - s) {
                r.2 |= MASK_2M;
            }
        }
        if page_size_mask & MASK_1G != 0 && r.2 & MASK_1G == 0 {
            let (s, e) = (down(r.0, PUD_SIZE), up(r.1, PUD_SIZE));
            if is_memory(s, e - s) {
                r.2 |= MASK_1G;
            }
        }
    }
    // try to merge same page size and continuous
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

/// `INIT_PGT_BUF_SIZE / PAGE_SIZE` of a distribution build: 6 pages until 4.7; 12 from 4.8
/// with CONFIG_RANDOMIZE_MEMORY. (4.14+ builds with CONFIG_X86_5LEVEL have 16.)
pub fn default_pgt_buf_pages(era: &Era) -> u64 {
    if era.at_least(4, 8) {
        12
    } else {
        6
    }
}

/// The values of `INIT_PGT_BUF_SIZE / PAGE_SIZE` builds of `era` can have.
fn possible_pgt_buf_pages(era: &Era) -> &'static [u64] {
    if era.at_least(4, 14) {
        &[12, 16, 6, 8]
    } else if era.at_least(4, 8) {
        &[12, 6]
    } else {
        &[6]
    }
}

/// Whether memory KASLR is on when nothing says: from 4.12 (KASLR on by default) unless
/// `nokaslr`; 4.8–4.11 only with `kaslr`; never before 4.8 (no memory randomization).
pub fn default_kaslr(era: &Era, cmdline: &str) -> bool {
    let args = crate::klib::cmdline::split_args(cmdline);
    let has = |p: &str| args.iter().any(|a| a.param == p);
    if !era.at_least(4, 8) || has("nokaslr") {
        false
    } else if era.at_least(4, 12) {
        true
    } else {
        has("kaslr")
    }
}

/// What the machine says, or `None` where the input is left open.
fn given_inputs(k: &Kernel) -> (Option<bool>, Option<bool>, Option<u64>) {
    let m = &k.machine;
    let nogb = crate::klib::cmdline::split_args(&m.cmdline)
        .iter()
        .any(|a| a.param == "nogbpages");
    let gb = if nogb { Some(false) } else { m.cpu_gbpages };
    let args = crate::klib::cmdline::split_args(&m.cmdline);
    let kaslr = if !k.era.at_least(4, 8) || args.iter().any(|a| a.param == "nokaslr") {
        Some(false)
    } else if !k.era.at_least(4, 12) {
        Some(args.iter().any(|a| a.param == "kaslr"))
    } else {
        m.kaslr
    };
    let buf = m.config.init_pgt_buf_pages.or_else(|| {
        let p = possible_pgt_buf_pages(&k.era);
        (p.len() == 1).then(|| p[0])
    });
    (gb, kaslr, buf)
}

/// The inputs used: the machine's, else the documented defaults (1 GiB pages: most x86_64
/// CPUs since 2010 and KVM guests have them).
pub fn resolve_inputs(k: &Kernel) -> MapInputs {
    let (gb, kaslr, buf) = given_inputs(k);
    MapInputs {
        gbpages: gb.unwrap_or(true),
        kaslr: kaslr.unwrap_or_else(|| default_kaslr(&k.era, &k.machine.cmdline)),
        pgt_buf_pages: buf.unwrap_or_else(|| default_pgt_buf_pages(&k.era)),
    }
}

/// Where `early_alloc_pgt_buf` puts the buffer: the first brk allocation, at the end of the
/// kernel image (brk follows bss). Only whether a mapped range holds it matters here.
fn pgt_buf_at_image(k: &Kernel, pages: u64) -> u64 {
    let end = k.machine.image.reserve_end() / PAGE * PAGE;
    end.saturating_sub(pages * PAGE) >> 12
}

/// Where the brk buffer is, as far as the machine tells: `Some(pfn)` when known (a log's BRK
/// lines, a memblock=debug kernel reservation, or a kernel at its link address), `None` when
/// KASLR put the kernel somewhere unprinted.
fn known_pgt_buf(k: &Kernel, pages: u64, kaslr: Option<bool>) -> Option<u64> {
    if let Some(a) = k.machine.pgt_buf_at {
        return Some(a >> 12);
    }
    let placed = k.machine.image.reserve_end.is_some();
    // Physical KASLR: opt-in (`kaslr`) from 3.14, on by default from 4.12.
    let args = crate::klib::cmdline::split_args(&k.machine.cmdline);
    let has = |p: &str| args.iter().any(|a| a.param == p);
    let random = k.era.at_least(3, 14)
        && !has("nokaslr")
        && (has("kaslr") || (k.era.at_least(4, 12) && kaslr != Some(false)));
    (placed || !random).then(|| pgt_buf_at_image(k, pages))
}

/// What one mapping run produced.
struct RunOut {
    pgd: Vec<(u64, u64)>,
    pages: [u64; 3],
    brk_pages: u64,
    taken: Vec<(u64, u64)>,
    max_pfn_mapped: u64,
}

/// Map RAM below `end` as `init_mem_mapping` does, on `mb`, with `inputs`.
#[allow(clippy::too_many_arguments)]
fn run(
    era: &Era,
    mb: &mut Memblock,
    ram: Option<&PhysMem>,
    printk: Option<&Printk>,
    trace: Trace,
    inputs: MapInputs,
    buf: (u64, bool),
    kernel_end: u64,
    end: u64,
) -> MapResult<RunOut> {
    let (buf_start, buf_elsewhere) = buf;
    let bottom_up = mb.memblock_bottom_up();
    let mut m = Mapper {
        era,
        mb,
        ram,
        shadow: Shadow::default(),
        printk,
        trace,
        pgd: Vec::new(),
        pgt_buf_end: buf_start,
        pgt_buf_top: buf_start + inputs.pgt_buf_pages,
        can_use_brk_pgt: true,
        buf_elsewhere,
        min_pfn_mapped: 0,
        max_pfn_mapped: 0,
        // PSE: 2 MiB pages always on x86_64.
        page_size_mask: MASK_2M | if inputs.gbpages { MASK_1G } else { 0 },
        pages: [0; 3],
        brk_pages: 0,
        taken: Vec::new(),
        pt32: None,
    };
    // The ISA range is always mapped regardless of memory holes.
    m.init_memory_mapping(0, ISA_END)?;
    // init_trampoline: with memory KASLR, a PUD page of its own (init_trampoline_kaslr).
    if inputs.kaslr {
        m.alloc_low_page()?;
    }
    if bottom_up {
        m.memory_map_bottom_up(kernel_end, end)?;
        m.memory_map_bottom_up(ISA_END, kernel_end)?;
    } else {
        m.memory_map_top_down(ISA_END, end)?;
    }
    Ok(RunOut {
        pgd: m.pgd,
        pages: m.pages,
        brk_pages: m.brk_pages,
        taken: m.taken,
        max_pfn_mapped: m.max_pfn_mapped,
    })
}

/// The most page-table pages one `init_mem_mapping` run can take for RAM below `max_pfn`: a
/// PUD page per 512 GiB and, without GB pages, a PMD page per 1 GiB each range touches, and at
/// a range's ends the lower tables of its unaligned parts (the ISA range and the trampoline's
/// page besides). A page met again is reused, so this bounds from above.
fn direct_map_pages_bound(mb: &Memblock, end: u64, gbpages: bool) -> u64 {
    let span = |s: u64, e: u64, unit: u64| e.div_ceil(unit) - s / unit;
    let mut pages = 4;
    for r in &mb.memory.regions {
        let (s, e) = (r.base, r.end().min(end));
        if s >= e {
            continue;
        }
        pages += span(s, e, PGDIR_SIZE) + 4;
        if !gbpages {
            pages += span(s, e, PUD_SIZE);
        }
    }
    pages
}

/// Refuse a direct map whose page tables would take the process past the host-memory budget
/// (they are written into simulated RAM, and a trial run's into host memory beside it),
/// before any is written. Without GB pages a 64 TiB machine's tables are 256 MiB; with
/// 5-level paging a 4 PiB one's are 16 GiB.
///
/// # Errors
/// [`PhysError::OverBudget`](crate::phys::PhysError::OverBudget) saying what the tables need.
pub fn check_direct_map_budget(k: &Kernel) -> Result<(), crate::phys::PhysError> {
    let end = k.max_pfn << 12;
    let (gb, _, _) = given_inputs(k);
    // Where the CPU's GB pages are not known, a run without them is among those tried.
    let gbpages = gb == Some(true);
    let pages = direct_map_pages_bound(&k.memblock, end, gbpages);
    crate::phys::check_host_budget(pages * PAGE, || {
        format!(
            "init_mem_mapping: the direct map of {} of RAM{} (up to {pages} page-table pages)",
            crate::phys::human_bytes(
                k.memblock
                    .memory
                    .regions
                    .iter()
                    .map(|r| r.end().min(end).saturating_sub(r.base))
                    .sum()
            ),
            if gbpages { "" } else { " in 2 MiB pages" }
        )
    })
}

/// arch/x86/mm/init.c: `init_mem_mapping` (x86_64). Builds the direct map, takes its
/// page-table pages from the brk buffer and memblock, and sets `max_pfn_mapped` and
/// `max_low_pfn`.
pub fn init_mem_mapping(k: &mut Kernel) -> Result<(), String> {
    let _t = k.trace.enter("init_mem_mapping", "arch/x86/mm/init.c");
    let end = k.max_pfn << 12;
    let kernel_end = k.machine.image.reserve_end();
    let default = resolve_inputs(k);

    // Every value of the inputs the machine leaves open, the defaults first; each mapped on a
    // quiet copy of memblock. A log's BRK lines rule out those using another number of brk
    // pages.
    let (mut gb, mut kaslr, mut buf) = given_inputs(k);
    let explore = k.machine.explain_inputs || k.machine.pgt_buf_used.is_some();
    if !explore {
        // Nothing to explain and no BRK count to match: the defaults alone.
        gb = gb.or(Some(default.gbpages));
        kaslr = kaslr.or(Some(default.kaslr));
        buf = buf.or(Some(default.pgt_buf_pages));
    }
    let one = |v: bool| alloc::vec![v];
    let gbs = gb.map_or(alloc::vec![default.gbpages, !default.gbpages], one);
    let kaslrs = kaslr.map_or(alloc::vec![default.kaslr, !default.kaslr], one);
    let mut bufs = alloc::vec![default.pgt_buf_pages];
    if buf.is_none() {
        bufs.extend(
            possible_pgt_buf_pages(&k.era)
                .iter()
                .filter(|&&b| b != default.pgt_buf_pages),
        );
    }
    struct Trial {
        inputs: MapInputs,
        buf: (u64, bool),
        located: bool,
        reserved: Option<Vec<crate::mm::memblock::MemblockRegion>>,
    }
    let mut trials: Vec<Trial> = Vec::new();
    for &g in &gbs {
        for &ka in &kaslrs {
            for &b in &bufs {
                let inputs = MapInputs {
                    gbpages: g,
                    kaslr: ka,
                    pgt_buf_pages: b,
                };
                // Unknown place: first a kernel away from the ranges that need new tables,
                // then one at its link address.
                let mut places = match known_pgt_buf(k, b, Some(ka)) {
                    Some(p) => alloc::vec![((p, false), true)],
                    None => {
                        let p = pgt_buf_at_image(k, b);
                        alloc::vec![((p, true), false), ((p, false), false)]
                    }
                };
                if !explore {
                    places.truncate(1);
                }
                for (buf, located) in places {
                    let mut mb = k.memblock.quiet_copy();
                    let r = run(
                        &k.era,
                        &mut mb,
                        None,
                        None,
                        Trace::unrecorded(),
                        inputs,
                        buf,
                        kernel_end,
                        end,
                    );
                    let fits = match (&r, k.machine.pgt_buf_used) {
                        (Ok(o), Some(used)) => o.brk_pages == used,
                        _ => true,
                    };
                    if fits {
                        trials.push(Trial {
                            inputs,
                            buf,
                            located,
                            reserved: r.ok().map(|_| mb.reserved.regions.clone()),
                        });
                    }
                }
            }
        }
    }
    let (inputs, buf) = trials.first().map_or(
        (default, (pgt_buf_at_image(k, default.pgt_buf_pages), false)),
        |t| (t.inputs, t.buf),
    );
    let mut open: Vec<&'static str> = Vec::new();
    if let Some(first) = trials.first() {
        for t in &trials[1..] {
            if t.reserved == first.reserved {
                continue;
            }
            for (differs, what) in [
                (t.inputs.gbpages != first.inputs.gbpages, "GB pages"),
                (t.inputs.kaslr != first.inputs.kaslr, "memory KASLR"),
                (
                    t.inputs.pgt_buf_pages != first.inputs.pgt_buf_pages,
                    "the brk buffer size",
                ),
                (
                    !t.located && t.buf != first.buf,
                    "where KASLR put the kernel",
                ),
            ] {
                if differs && !open.contains(&what) {
                    open.push(what);
                }
            }
        }
    }

    if inputs.gbpages {
        pr_info!(k.printk, "Using GB pages for direct mapping\n");
    }
    let trace = k.trace.clone();
    let printk = k.printk.clone();
    let out = run(
        &k.era,
        &mut k.memblock,
        Some(&k.phys),
        Some(&printk),
        trace,
        inputs,
        buf,
        kernel_end,
        end,
    )?;
    k.max_pfn_mapped = out.max_pfn_mapped;
    if k.max_pfn > k.max_low_pfn {
        k.max_low_pfn = k.max_pfn;
    }
    // pgd_populate into init_top_pgt, a page of the image's .data.
    let base_index = (k.phys.va(PhysAddr(0)).0 >> 39) & 511;
    let top = k.machine.image.layout().data_start;
    let written = top % PAGE == 0
        && out.pgd.iter().all(|&(idx, pud)| {
            base_index + idx < 512
                && k.phys
                    .write_u64(PhysAddr(top + (base_index + idx) * 8), pud | PAGE_TABLE)
                    .is_ok()
        });
    if written {
        cleanup_highmap(k, top);
    }
    k.direct_map = DirectMap {
        init_top_pgt: if written { top } else { 0 },
        pgd: out.pgd,
        pages_count: out.pages,
        brk_pages: out.brk_pages,
        memblock_pages: out.taken,
        inputs: Some(inputs),
        uncertain: match (trials.is_empty(), k.machine.pgt_buf_used) {
            // The log's BRK lines say how many brk pages the tables took, and no value of
            // the open inputs gives that many: the defaults' layout is not the kernel's.
            (true, Some(used)) => Some(format!(
                "init_mem_mapping's page-table pages go, and no GB-page / memory-KASLR / brk-size setting reproduces the log's {used} BRK pages ({} assumed)",
                describe(&inputs)
            )),
            _ => (!open.is_empty()).then(|| {
                format!(
                    "init_mem_mapping's page-table pages go, and their number depends on {} (not in the log; {} assumed)",
                    open.join(", "),
                    describe(&inputs)
                )
            }),
        },
    };
    Ok(())
}

/// The kernel image mapping that head_64.S builds statically and arch/x86/mm/init_64.c
/// `cleanup_highmap` trims: `init_top_pgt[511]` → `level3_kernel_pgt`, whose entry 510
/// (`__START_KERNEL_map`) is `level2_kernel_pgt` (2 MiB pages `__PAGE_KERNEL_LARGE_EXEC`
/// from `phys_base`, kept only over `[_text, roundup(_brk_end, PMD_SIZE))`) and entry 511
/// `level2_fixmap_pgt` with the fixmap's PTE pages (`level1_fixmap_pgt`, FIXMAP_PMD_NUM = 2,
/// empty at this stage). bootmm places these pages after `init_top_pgt` in the image's
/// `.data` (the kernel's are there too, in `.data..page_aligned`); nothing is written when
/// `.data` is too small to hold them.
fn cleanup_highmap(k: &mut Kernel, top: u64) {
    use crate::arch::x86::pgtable_64_types::START_KERNEL_MAP;
    let _t = k.trace.enter("cleanup_highmap", "arch/x86/mm/init_64.c");
    let image = k.machine.image.clone();
    if image.rwdata < 6 * PAGE {
        return;
    }
    let (l3, l2k, l2f, l1f) = (top + PAGE, top + 2 * PAGE, top + 3 * PAGE, top + 4 * PAGE);
    let w = |k: &mut Kernel, pa: u64, v: u64| k.phys.write_u64(PhysAddr(pa), v).is_ok();
    for t in [l3, l2k, l2f, l1f, l1f + PAGE] {
        if k.phys.memset(PhysAddr(t), 0, PAGE).is_err() {
            return;
        }
    }
    // `_PAGE_TABLE_NOENC` / `_KERNPG_TABLE_NOENC`.
    const KERNPG_TABLE: u64 = 0x063;
    // __PAGE_KERNEL_LARGE_EXEC: present, RW, accessed, dirty, PSE, global.
    const PAGE_KERNEL_LARGE_EXEC: u64 = 0x1e3;
    let ok = w(k, top + 511 * 8, l3 | PAGE_TABLE)
        && w(k, l3 + 510 * 8, l2k | KERNPG_TABLE)
        && w(k, l3 + 511 * 8, l2f | PAGE_TABLE)
        && w(k, l2f + 506 * 8, l1f | KERNPG_TABLE)
        && w(k, l2f + 507 * 8, (l1f + PAGE) | KERNPG_TABLE);
    if !ok {
        return;
    }
    // The image is linked at __START_KERNEL (16 MiB into the mapping); phys_base is where
    // it was loaded less that.
    let phys_base = image.phys_start.wrapping_sub(0x100_0000);
    let text_va = START_KERNEL_MAP + 0x100_0000;
    let end_va = START_KERNEL_MAP
        + (image.reserve_end().next_multiple_of(2 << 20)).wrapping_sub(phys_base)
        - 1;
    for i in 0..512u64 {
        let va = START_KERNEL_MAP + i * (2 << 20);
        if va < text_va || va > end_va {
            continue;
        }
        let pa = phys_base.wrapping_add(i * (2 << 20));
        w(k, l2k + i * 8, pa | PAGE_KERNEL_LARGE_EXEC);
    }
}

/// The inputs in words.
pub fn describe(i: &MapInputs) -> String {
    format!(
        "GB pages {}, memory KASLR {}, brk buffer {} pages",
        if i.gbpages { "on" } else { "off" },
        if i.kaslr { "on" } else { "off" },
        i.pgt_buf_pages
    )
}

#[cfg(test)]
mod tests;
