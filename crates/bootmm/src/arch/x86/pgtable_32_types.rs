// SPDX-License-Identifier: GPL-2.0-only
//! arch/x86/include/asm/pgtable_32_types.h, pgtable_32_areas.h, fixmap.h and page_32_types.h:
//! the i386 kernel's virtual memory layout, in one place.
//!
//! DOC: a 32-bit kernel (VMSPLIT_3G) maps low memory linearly at `PAGE_OFFSET`
//! (`0xc0000000`). From the top of the address space down come the fixmap (`FIXADDR_TOP`
//! `0xfffff000` and below it the permanent slots, then the boot-time `early_ioremap` slots),
//! from 4.15 the CPU entry area, from 4.19 the LDT remap, the pkmap area that `kmap` uses
//! (`LAST_PKMAP` pages: 512 with PAE, 1024 without), two guard pages, and the vmalloc space.
//! What is left between `PAGE_OFFSET` and the vmalloc space, less `__VMALLOC_RESERVE`
//! (128 MiB, or `vmalloc=` plus 8 MiB), is `MAXMEM`: the most RAM the direct map can hold.
//! That is "896 MiB" only in 2.6's simple formula (`-PAGE_OFFSET - __VMALLOC_RESERVE`); later
//! kernels subtract the fixmap and pkmap areas too, which is why a 3.8 log says "891MB
//! LOWMEM available." and a 4.15 one "885MB".
//!
//! The fixmap's permanent size depends on the build (KM_TYPE_NR × NR_CPUS kmap slots, APIC,
//! ACPI, …); a log prints it in mem_init's "virtual kernel memory layout:" block, which the
//! checker reads. Without a log bootmm takes 20 × NR_CPUS + 75 slots, the size of the
//! Ubuntu and Debian builds in the corpus.

use crate::era::{Arch, Era};

/// `__PAGE_OFFSET` (CONFIG_VMSPLIT_3G).
pub const PAGE_OFFSET: u64 = 0xc000_0000;
/// `FIXADDR_TOP` without `reserve_top_address` (a hypervisor's hole at the top).
pub const FIXADDR_TOP: u64 = 0xffff_f000;
/// `VMALLOC_OFFSET`: the gap between the end of lowmem and `VMALLOC_START`.
pub const VMALLOC_OFFSET: u64 = 8 << 20;
/// The default `__VMALLOC_RESERVE`.
pub const VMALLOC_RESERVE: u64 = 128 << 20;
/// `KM_TYPE_NR`: the kmap_atomic slots per CPU in the fixmap (20 without DEBUG_HIGHMEM).
pub const KM_TYPE_NR: u64 = 20;
/// The permanent fixmap slots other than the kmap ones, when no log says (see the module
/// documentation).
pub const FIXMAP_OTHER_SLOTS: u64 = 75;

const PAGE: u64 = 4096;

/// `PMD_SIZE`: 2 MiB with PAE (3-level tables), 4 MiB without (2-level).
pub fn pmd_size(pae: bool) -> u64 {
    if pae {
        2 << 20
    } else {
        4 << 20
    }
}

/// `LAST_PKMAP`: the pkmap area's pages (one page table's worth).
pub fn last_pkmap(pae: bool) -> u64 {
    if pae {
        512
    } else {
        1024
    }
}

/// `PTRS_PER_PTE`.
pub fn ptrs_per_pte(pae: bool) -> u64 {
    last_pkmap(pae)
}

/// What an era decides about the i386 layout, once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout32Rules {
    /// `FIX_BTMAPS_SLOTS`: 4 `early_ioremap` slots of 64 pages, 8 later (seen 4 in 3.10 and
    /// 8 in 3.14; 3.11–3.13 taken as 4, unconfirmed).
    pub btmaps_slots: u64,
    /// `FIX_WP_TEST`, one boot-time slot after the btmaps (i386 only; gone with
    /// `test_wp_bit` in 4.13, believed).
    pub wp_test: bool,
    /// The CPU entry area below the fixmap (4.15: "x86/cpu_entry_area: Move it out of the
    /// fixmap"), `NR_CPUS × 40` pages plus one.
    pub cpu_entry_area: bool,
    /// The LDT remap PMD between the CPU entry area and pkmap: 4.19's page-table isolation
    /// for 32-bit ("x86/pgtable/32: Reserve space for the LDT mapping"), and Ubuntu's 4.15
    /// kernels, which carry that series (their logs put pkmap one PMD lower).
    pub ldt_remap: bool,
    /// MAXMEM is `-PAGE_OFFSET - __VMALLOC_RESERVE` (896 MiB by default): 2.6 up to 2.6.27
    /// ("x86: fix up MAXMEM", believed), before the fixmap and pkmap areas were subtracted.
    pub simple_maxmem: bool,
}

impl Layout32Rules {
    pub fn new(era: &Era) -> Self {
        let v = era.version;
        let ubuntu_backport = (v.major, v.minor) >= (4, 15)
            && ["-generic", "-lowlatency", "-generic-pae"]
                .iter()
                .any(|f| era.release.ends_with(f));
        Layout32Rules {
            btmaps_slots: if era.at_least(3, 14) { 8 } else { 4 },
            wp_test: !era.at_least(4, 13),
            cpu_entry_area: era.at_least(4, 15),
            ldt_remap: era.at_least(4, 19) || ubuntu_backport,
            simple_maxmem: !era.at_least_patch(2, 6, 28),
        }
    }
}

/// The i386 kernel's virtual layout for one boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout32 {
    pub pae: bool,
    /// `FIXADDR_START`: the permanent fixmap's bottom (`FIXADDR_TOP - FIXADDR_SIZE`).
    pub fixaddr_start: u64,
    /// `FIXADDR_BOOT_START` / `FIXADDR_TOT_START`: below the boot-time slots too.
    pub fixaddr_boot_start: u64,
    /// `FIX_BTMAP_BEGIN`: the index of the first `early_ioremap` slot (the highest index of
    /// the boot-time slots), whose page table `early_ioremap_init` hooks in.
    pub fix_btmap_begin: u64,
    /// `CPU_ENTRY_AREA_BASE` (4.15+).
    pub cpu_entry_area_base: Option<u64>,
    /// `LDT_BASE_ADDR` (4.19+).
    pub ldt_base: Option<u64>,
    /// `PKMAP_BASE`.
    pub pkmap_base: u64,
    /// `VMALLOC_END`: two guard pages below pkmap.
    pub vmalloc_end: u64,
    /// `MAXMEM`: the most RAM the direct map holds, bytes (wrapped past 4 GiB when
    /// `__VMALLOC_RESERVE` exceeds the space, which the caller must refuse).
    pub maxmem: u64,
}

impl Layout32 {
    /// `MAXMEM_PFN`.
    pub fn maxmem_pfn(&self) -> u64 {
        self.maxmem >> 12
    }
}

/// The layout of an i386 kernel with `fixmap_slots` permanent fixmap slots, `nr_cpus`
/// (CONFIG_NR_CPUS) and `__VMALLOC_RESERVE` bytes kept for vmalloc.
///
/// Returns `None` on x86_64.
pub fn layout_32(
    era: &Era,
    fixmap_slots: u64,
    nr_cpus: u64,
    vmalloc_reserve: u64,
) -> Option<Layout32> {
    let Arch::I386 { pae } = era.arch else {
        return None;
    };
    let r = Layout32Rules::new(era);
    let pmd_mask = !(pmd_size(pae) - 1);
    // enum fixed_addresses: the permanent slots, then FIX_BTMAP_END..FIX_BTMAP_BEGIN placed
    // so that they do not cross a page table, then FIX_WP_TEST.
    let end_perm = fixmap_slots;
    let total_btmaps = 64 * r.btmaps_slots;
    let crosses = (end_perm ^ (end_perm + total_btmaps - 1)) & !(ptrs_per_pte(pae) - 1) != 0;
    let btmap_end = if crosses {
        end_perm + total_btmaps - (end_perm & (total_btmaps - 1))
    } else {
        end_perm
    };
    let btmap_begin = btmap_end + total_btmaps - 1;
    let end_of_fixed = btmap_begin + 1 + u64::from(r.wp_test);
    let fixaddr_start = FIXADDR_TOP - end_perm * PAGE;
    let fixaddr_boot_start = FIXADDR_TOP - end_of_fixed * PAGE;
    let cpu_entry_area_base = r
        .cpu_entry_area
        .then(|| (fixaddr_boot_start - PAGE * (nr_cpus * 40 + 1)) & pmd_mask);
    let below_cea = cpu_entry_area_base.unwrap_or(fixaddr_boot_start);
    let ldt_base = r.ldt_remap.then(|| (below_cea - PAGE) & pmd_mask);
    let pkmap_base = match (ldt_base, cpu_entry_area_base) {
        (Some(l), _) => (l - PAGE) & pmd_mask,
        (None, Some(c)) => (c - PAGE) & pmd_mask,
        (None, None) => (fixaddr_boot_start - PAGE * (last_pkmap(pae) + 1)) & pmd_mask,
    };
    let vmalloc_end = pkmap_base - 2 * PAGE;
    // Unchecked in the kernel: a reserve larger than the space wraps (callers refuse that).
    let maxmem = if r.simple_maxmem {
        ((1u64 << 32) - PAGE_OFFSET).wrapping_sub(vmalloc_reserve)
    } else {
        (vmalloc_end - PAGE_OFFSET).wrapping_sub(vmalloc_reserve)
    };
    Some(Layout32 {
        pae,
        fixaddr_start,
        fixaddr_boot_start,
        fix_btmap_begin: btmap_begin,
        cpu_entry_area_base,
        ldt_base,
        pkmap_base,
        vmalloc_end,
        maxmem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::era::KernelVersion;

    fn era(v: (u32, u32, u32), release: &str, pae: bool) -> Era {
        let mut e = Era::new(KernelVersion::new(v.0, v.1, v.2), Arch::I386 { pae });
        e.release = release.into();
        e
    }

    #[test]
    fn the_corpus_layouts_follow_from_their_fixmap_size() {
        // (era, permanent fixmap slots from the log's "fixmap :" line, NR_CPUS, the log's
        // pkmap base).
        let cases = [
            (
                era((3, 2, 68), "3.2.0-4-686-pae", true),
                (0xfffff000u64 - 0xffd36000) / 4096,
                32,
                0xffa0_0000u64,
            ),
            (
                era((3, 8, 13), "3.8.0-35-generic", true),
                (0xfffff000 - 0xfff14000) / 4096,
                8,
                0xffc0_0000,
            ),
            (
                era((4, 15, 18), "4.15.0-142-generic", true),
                (0xfffff000 - 0xfff14000) / 4096,
                8,
                0xff60_0000,
            ),
        ];
        for (e, slots, cpus, pkmap) in &cases {
            let l = layout_32(e, *slots, *cpus, VMALLOC_RESERVE).unwrap();
            assert_eq!(l.pkmap_base, *pkmap, "{}", e.release);
            assert_eq!(l.vmalloc_end, pkmap - 8192);
        }
        // 3.8: "891MB LOWMEM available.", lowmem ending at 0xf7bfe000; 4.15 at 0xf75fe000.
        let l = layout_32(&cases[1].0, cases[1].1, 8, VMALLOC_RESERVE).unwrap();
        assert_eq!(l.maxmem, 0x37bf_e000);
        assert_eq!(l.maxmem_pfn() >> 8, 891);
        let l = layout_32(&cases[2].0, cases[2].1, 8, VMALLOC_RESERVE).unwrap();
        assert_eq!(
            l.cpu_entry_area_base,
            Some(0xffa0_0000),
            "the log's cpu_entry line"
        );
        assert_eq!(l.maxmem_pfn() >> 8, 885);
        // 2.6.24: the seed note's 896 MiB.
        let l = layout_32(&era((2, 6, 24), "2.6.24", false), 235, 8, VMALLOC_RESERVE).unwrap();
        assert_eq!(l.maxmem, 896 << 20);
        assert!(layout_32(&Era::default(), 235, 8, VMALLOC_RESERVE).is_none());
    }
}
