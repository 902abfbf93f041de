// SPDX-License-Identifier: GPL-2.0-only
//! arch/x86/mm/pat/set_memory.c: `lookup_address`, the kernel's walk of its own page
//! tables from a virtual address to the entry that maps it and its level.
//!
//! DOC: x86_64 with 4-level paging translates a kernel virtual address through four tables
//! of 512 eight-byte entries: the PGD (`init_top_pgt`, indexed by bits 47–39), the PUD (bits
//! 38–30), the PMD (bits 29–21) and the PTE table (bits 20–12); P4D folds into the PGD. An
//! entry with `_PAGE_PSE` at the PUD or PMD level maps a 1 GiB or 2 MiB page itself. The
//! walk stops at the first entry that is not present, or at the one that maps the page.
//!
//! What bootmm's tables hold so far is the direct map `init_mem_mapping` built: its PUD,
//! PMD and PTE pages are in simulated RAM, where the kernel took them (the brk buffer, then
//! memblock), and its PGD entries in `init_top_pgt`
//! ([`crate::arch::x86::init::DirectMap::init_top_pgt`]). Addresses outside the direct map
//! walk to an empty PGD entry.

use core::fmt;

use crate::include::PhysAddr;
use crate::kernel::Kernel;

/// `enum pg_level`: where a walk stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PgLevel {
    /// PG_LEVEL_4K: a PTE.
    Pte = 1,
    /// PG_LEVEL_2M: a PMD.
    Pmd = 2,
    /// PG_LEVEL_1G: a PUD.
    Pud = 3,
    /// PG_LEVEL_512G: the PGD (4-level; the P4D is folded into it).
    Pgd = 4,
}

impl PgLevel {
    /// The bytes one entry of this level maps.
    pub fn size(self) -> u64 {
        match self {
            PgLevel::Pte => 1 << 12,
            PgLevel::Pmd => 1 << 21,
            PgLevel::Pud => 1 << 30,
            PgLevel::Pgd => 1 << 39,
        }
    }

    /// The level's name as the kernel's page-table dumps print it.
    pub fn name(self) -> &'static str {
        match self {
            PgLevel::Pte => "pte",
            PgLevel::Pmd => "pmd",
            PgLevel::Pud => "pud",
            PgLevel::Pgd => "pgd",
        }
    }

    fn shift(self) -> u32 {
        self.size().trailing_zeros()
    }
}

bitflags::bitflags! {
    /// The x86 page-table entry bits (arch/x86/include/asm/pgtable_types.h).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct PteFlags: u64 {
        const _PAGE_PRESENT = 1 << 0;
        const _PAGE_RW = 1 << 1;
        const _PAGE_USER = 1 << 2;
        const _PAGE_PWT = 1 << 3;
        const _PAGE_PCD = 1 << 4;
        const _PAGE_ACCESSED = 1 << 5;
        const _PAGE_DIRTY = 1 << 6;
        /// At the PUD and PMD levels: the entry maps a large page.
        const _PAGE_PSE = 1 << 7;
        const _PAGE_GLOBAL = 1 << 8;
        const _PAGE_NX = 1 << 63;
    }
}

/// `PTE_PFN_MASK` (46-bit physical addresses with 4-level paging: bits 51–12).
const PTE_PFN_MASK: u64 = 0x000f_ffff_ffff_f000;

/// The result of [`lookup_address`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Walk {
    /// The address walked.
    pub va: u64,
    /// The level the walk stopped at.
    pub level: PgLevel,
    /// The entry found there (0 when not present).
    pub entry: u64,
    /// Where the address lands, when the entry maps it.
    pub pa: Option<PhysAddr>,
}

impl Walk {
    /// The entry's flags.
    pub fn flags(&self) -> PteFlags {
        PteFlags::from_bits_truncate(self.entry)
    }
}

impl fmt::Display for Walk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pa {
            Some(pa) => write!(
                f,
                "{:#018x} -> {:#x} ({} {}, entry {:#018x})",
                self.va,
                pa.0,
                self.level.name(),
                size_name(self.level.size()),
                self.entry
            ),
            None => write!(
                f,
                "{:#018x}: not mapped ({} entry {:#018x})",
                self.va,
                self.level.name(),
                self.entry
            ),
        }
    }
}

fn size_name(b: u64) -> &'static str {
    match b {
        0x1000 => "4K",
        0x20_0000 => "2M",
        0x4000_0000 => "1G",
        _ => "512G",
    }
}

/// arch/x86/mm/pat/set_memory.c `lookup_address`: the entry mapping `va` in the kernel's
/// page tables and its level. A non-canonical address or one outside every table stops at
/// the PGD with entry 0.
///
/// Complexity: O(1), at most three reads of simulated RAM.
pub fn lookup_address(k: &Kernel, va: u64) -> Walk {
    let not_mapped = |level, entry| Walk {
        va,
        level,
        entry,
        pa: None,
    };
    let page_offset = k.phys.va(PhysAddr(0)).0;
    // init_top_pgt: the PGD page in simulated RAM (or, when the image lies outside it, the
    // direct map's entries kept host-side, by index from PAGE_OFFSET's).
    let pgd_index = (va >> 39) & 511;
    let base_index = (page_offset >> 39) & 511;
    let canonical = (va as i64 >> 47) == -1;
    if !canonical {
        return not_mapped(PgLevel::Pgd, 0);
    }
    let top = k.direct_map.init_top_pgt;
    let pud_page = if top != 0 {
        let entry = k.phys.read_u64(PhysAddr(top + pgd_index * 8)).unwrap_or(0);
        if entry & PteFlags::_PAGE_PRESENT.bits() == 0 {
            return not_mapped(PgLevel::Pgd, entry);
        }
        entry & PTE_PFN_MASK
    } else {
        match (pgd_index >= base_index)
            .then(|| {
                k.direct_map
                    .pgd
                    .iter()
                    .find(|e| e.0 == pgd_index - base_index)
            })
            .flatten()
        {
            Some(&(_, p)) => p,
            None => return not_mapped(PgLevel::Pgd, 0),
        }
    };
    let mut table = pud_page;
    for level in [PgLevel::Pud, PgLevel::Pmd, PgLevel::Pte] {
        let idx = (va >> level.shift()) & 511;
        let Ok(entry) = k.phys.read_u64(PhysAddr(table + idx * 8)) else {
            return not_mapped(level, 0);
        };
        if entry & PteFlags::_PAGE_PRESENT.bits() == 0 {
            return not_mapped(level, entry);
        }
        let large = level != PgLevel::Pte && entry & PteFlags::_PAGE_PSE.bits() != 0;
        if large || level == PgLevel::Pte {
            let size = level.size();
            let base = entry & PTE_PFN_MASK & !(size - 1);
            return Walk {
                va,
                level,
                entry,
                pa: Some(PhysAddr(base + (va & (size - 1)))),
            };
        }
        table = entry & PTE_PFN_MASK;
    }
    unreachable_walk(va)
}

/// The loop above returns at the PTE level; this keeps the function total.
fn unreachable_walk(va: u64) -> Walk {
    Walk {
        va,
        level: PgLevel::Pte,
        entry: 0,
        pa: None,
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::machine::Machine;

    fn boot(m: Machine) -> Kernel {
        let mut k = Kernel::new(m).unwrap();
        crate::init::main::start_kernel(&mut k).unwrap();
        k
    }

    /// Every mapped RAM address walks back to itself, at the level `init_mem_mapping`
    /// mapped it with, and the levels' counts add up to what /proc/meminfo's DirectMap
    /// lines say.
    #[test]
    fn the_direct_map_walks_to_every_page_of_ram() {
        for (mem, gbpages) in [(3u64 << 30, false), (6 << 30, true)] {
            let mut m = Machine::qemu(mem, 2).unwrap();
            if !gbpages {
                m.cmdline.push_str(" nogbpages");
            }
            let k = boot(m);
            let po = k.phys.va(PhysAddr(0)).0;
            let mut seen = [0u64; 3];
            let mut pa = 0u64;
            while pa < k.max_pfn_mapped << 12 {
                let w = lookup_address(&k, po + pa);
                match w.pa {
                    Some(got) => {
                        assert_eq!(got, PhysAddr(pa), "{w}");
                        let i = w.level as usize - 1;
                        seen[i] += 1;
                        assert!(w
                            .flags()
                            .contains(PteFlags::_PAGE_PRESENT | PteFlags::_PAGE_RW));
                        // Step to the next entry of the level that mapped it.
                        pa = (pa & !(w.level.size() - 1)) + w.level.size();
                    }
                    None => pa += 4096,
                }
            }
            let dm = &k.direct_map.pages_count;
            assert!(seen[0] + seen[1] + seen[2] > 0);
            assert_eq!(seen[2] > 0, gbpages, "1G entries only with GB pages");
            // The kernel counts an entry met twice twice (a remap), so its counts are at
            // least what the tables hold.
            for i in 0..3 {
                assert!(
                    dm[i] >= seen[i],
                    "level {i}: counted {} walked {}",
                    dm[i],
                    seen[i]
                );
            }
            // init_top_pgt is a page of the reserved kernel image, holding the entries.
            let top = k.direct_map.init_top_pgt;
            assert_ne!(top, 0);
            assert!(k
                .memblock
                .reserved
                .regions
                .iter()
                .any(|r| r.base <= top && top + 4096 <= r.base + r.size));
            // Outside the direct map: nothing.
            assert_eq!(lookup_address(&k, 0x1000).pa, None);
            assert_eq!(
                lookup_address(&k, po + (k.max_pfn_mapped << 12) + (1 << 40)).pa,
                None
            );
        }
    }
}
