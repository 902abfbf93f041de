// SPDX-License-Identifier: GPL-2.0-only
//! arch/x86/kernel/e820.c (2.6.27–2.6.33; kernel/early_res.c in 2.6.34–2.6.35): `early_res`,
//! the named reservations x86 made before the bootmem allocator existed.
//!
//! DOC: from the first instructions of `x86_64_start_reservations` until `setup_node_bootmem`
//! builds each node's bitmap, x86 allocates by searching the e820 map (`find_e820_area`) and
//! records what it took in `early_res[]`, a fixed array of at most `MAX_EARLY_RES` entries,
//! each a `[start, end)` range and a name of up to 15 characters. The array starts with the
//! static entries (the BIOS data page and, on x86_64, the SMP trampoline); `reserve_early`
//! fills the first free slot, in call order, and panics on an overlap with an entry not
//! marked `overlap_ok`. `early_res_to_bootmem` then prints the array and reserves each entry,
//! clipped to the node, in the node's bitmap; from there on the bitmap is the allocator and
//! the array is no longer consulted for the node.
//!
//! bootmm keeps these reservations in its memblock as well, which stands in for the e820
//! searches of the era (`find_e820_area` is `memblock_find_in_range` bottom-up over the free
//! RAM); the array here holds only what the kernel's does, the names and the order.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::init::main::BootError;
use crate::kernel::Kernel;
use crate::pr_info;

/// `MAX_EARLY_RES`: the array's slots (2.6.32).
pub const MAX_EARLY_RES: usize = 20;

/// One `struct early_res`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EarlyResEntry {
    pub start: u64,
    pub end: u64,
    /// `name[16]`: at most 15 characters are kept (`strncpy(r->name, name, 15)`).
    pub name: String,
    /// `overlap_ok`: a later reservation may take this range over.
    pub overlap_ok: bool,
}

/// `early_res[]`, its used slots in array order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EarlyRes {
    pub entries: Vec<EarlyResEntry>,
}

impl EarlyRes {
    /// `find_overlapped_early`: the first entry overlapping `[start, end)`.
    fn find_overlapped_early(&self, start: u64, end: u64) -> Option<usize> {
        self.entries
            .iter()
            .position(|r| r.start < end && start < r.end)
    }

    /// `drop_overlaps_that_are_ok`: entries marked `overlap_ok` lose what `[start, end)`
    /// covers (an entry cut in the middle keeps its lower part and gains an upper one, as
    /// `__reserve_early` of the remainder appends it).
    fn drop_overlaps_that_are_ok(&mut self, start: u64, end: u64) {
        let mut i = 0;
        while i < self.entries.len() {
            let r = &self.entries[i];
            if !r.overlap_ok || r.end <= start || end <= r.start {
                i += 1;
                continue;
            }
            let (lower, upper, name) = (
                (r.start < start).then_some((r.start, start)),
                (end < r.end).then_some((end, r.end)),
                r.name.clone(),
            );
            self.entries.remove(i);
            if let Some((s, e)) = lower {
                self.entries.insert(
                    i,
                    EarlyResEntry {
                        start: s,
                        end: e,
                        name: name.clone(),
                        overlap_ok: true,
                    },
                );
                i += 1;
            }
            if let Some((s, e)) = upper {
                self.entries.push(EarlyResEntry {
                    start: s,
                    end: e,
                    name,
                    overlap_ok: true,
                });
            }
        }
    }

    /// `__reserve_early`: the next free slot gets `[start, end)`.
    ///
    /// # Errors
    /// The kernel's panics: "Too many early reservations" past [`MAX_EARLY_RES`], and
    /// "Overlapping early reservations" when the range overlaps an entry.
    pub fn __reserve_early(
        &mut self,
        start: u64,
        end: u64,
        name: &str,
        overlap_ok: bool,
    ) -> Result<(), String> {
        if let Some(i) = self.find_overlapped_early(start, end) {
            let r = &self.entries[i];
            return Err(alloc::format!(
                "Overlapping early reservations {start:x}-{:x} {name} to {:x}-{:x} {}",
                end - 1,
                r.start,
                r.end - 1,
                r.name
            ));
        }
        if self.entries.len() >= MAX_EARLY_RES {
            return Err(String::from("Too many early reservations"));
        }
        self.entries.push(EarlyResEntry {
            start,
            end,
            name: name.chars().take(15).collect(),
            overlap_ok,
        });
        Ok(())
    }

    /// `reserve_early`: drop what overlap-tolerant entries hold of the range, then add it.
    ///
    /// # Errors
    /// As [`Self::__reserve_early`].
    pub fn reserve_early(&mut self, start: u64, end: u64, name: &str) -> Result<(), String> {
        if start >= end {
            return Ok(());
        }
        self.drop_overlaps_that_are_ok(start, end);
        self.__reserve_early(start, end, name, false)
    }
}

/// arch/x86/kernel/e820.c (2.6.x): `find_e820_area`: the lowest `align`-aligned run of
/// `size` bytes in `[start, end)` that is RAM and overlaps no early reservation (first fit,
/// ascending). It reserves nothing. bootmm's memblock holds the same RAM and reservations,
/// so this is its bottom-up `memblock_find_in_range`. Returns 0 where the kernel returns
/// `-1ULL` (no room).
pub fn find_e820_area(k: &mut Kernel, start: u64, end: u64, size: u64, align: u64) -> u64 {
    let saved = k.memblock.bottom_up;
    k.memblock.bottom_up = true;
    let at = k.memblock.memblock_find_in_range(start, end, size, align);
    k.memblock.bottom_up = saved;
    at
}

/// arch/x86/kernel/e820.c (2.6.x): `reserve_early`, recorded in `early_res[]` and, as
/// bootmm's stand-in for the e820 searches, in memblock.
///
/// # Errors
/// [`BootError::NoMemory`] with the kernel's panic text.
pub fn reserve_early(k: &mut Kernel, start: u64, end: u64, name: &str) -> Result<(), BootError> {
    if start >= end {
        return Ok(());
    }
    k.early_res
        .reserve_early(start, end, name)
        .map_err(BootError::NoMemory)?;
    k.memblock
        .memblock_reserve(start, end - start)
        .map_err(|e| BootError::NoMemory(e.to_string()))
}

/// arch/x86/kernel/e820.c (2.6.x): `early_res`'s static entry, the BIOS data page, and on
/// x86_64 the SMP trampoline at `TRAMPOLINE_BASE` (`reserve_trampoline_memory`, first of
/// `x86_64_start_reservations`).
///
/// # Errors
/// As [`reserve_early`].
pub fn early_res_static(k: &mut Kernel) -> Result<(), BootError> {
    k.early_res
        .__reserve_early(0, crate::include::PAGE_SIZE, "BIOS data page", false)
        .map_err(BootError::NoMemory)?;
    k.memblock
        .memblock_reserve(0, crate::include::PAGE_SIZE)
        .map_err(|e| BootError::NoMemory(e.to_string()))?;
    if k.era.is_64bit() {
        reserve_early(k, 0x6000, 0x8000, "TRAMPOLINE")?;
    }
    Ok(())
}

/// One line of `early_res_to_bootmem`'s list: `(index, entry, the part on the node)`.
pub type EarlyResLine = (usize, EarlyResEntry, Option<(u64, u64)>);

/// arch/x86/kernel/e820.c (2.6.x): `early_res_to_bootmem`, its printing half: "(%d early
/// reservations) ==> bootmem [%010llx - %010llx]" and one "  #%d [%010llx - %010llx] %16s"
/// line per entry, followed by " ==> [%010llx - %010llx]" for the part inside
/// `[start, end)`. Returns the parts to reserve in the bitmap, in array order.
pub fn early_res_to_bootmem_print(k: &mut Kernel, start: u64, end: u64) -> Vec<(u64, u64)> {
    let entries = k.early_res.entries.clone();
    pr_info!(
        k.printk,
        "({} early reservations) ==> bootmem [{start:010x} - {end:010x}]\n",
        entries.len()
    );
    let mut parts = Vec::new();
    for (i, r) in entries.iter().enumerate() {
        let (fs, fe) = (start.max(r.start), end.min(r.end));
        if fs >= fe {
            pr_info!(
                k.printk,
                "  #{i} [{:010x} - {:010x}] {:>16}\n",
                r.start,
                r.end,
                r.name
            );
            continue;
        }
        pr_info!(
            k.printk,
            "  #{i} [{:010x} - {:010x}] {:>16} ==> [{fs:010x} - {fe:010x}]\n",
            r.start,
            r.end,
            r.name
        );
        parts.push((fs, fe));
    }
    parts
}

/// arch/x86/kernel/e820.c (2.6.x): `early_res_to_bootmem`: the list printed, and each
/// entry's part inside the node `[start, end)` reserved in the bitmap with
/// `reserve_bootmem_generic` (arch/x86/mm/init_64.c), which also counts the pages of each
/// reservation lying wholly below 16 MiB in `dma_reserve` (truncating, per entry).
///
/// # Errors
/// [`BootError::NoMemory`] with the bitmap allocator's BUG text.
pub fn early_res_to_bootmem(k: &mut Kernel, start: u64, end: u64) -> Result<(), BootError> {
    let _t = k
        .trace
        .enter("early_res_to_bootmem", "arch/x86/kernel/e820.c");
    let parts = early_res_to_bootmem_print(k, start, end);
    for (s, e) in parts {
        reserve_bootmem_generic(k, s, e - s)?;
    }
    Ok(())
}

/// arch/x86/mm/init_64.c (2.6.x): `reserve_bootmem_generic`: a range past `max_pfn` is
/// refused (-EFAULT, with "reserve_bootmem: illegal reserve" unless it lies below
/// `max_pfn_mapped`); one node's range goes to `reserve_bootmem_node`, a range across nodes
/// to `reserve_bootmem`; one wholly below `MAX_DMA_PFN` adds its whole pages to
/// `dma_reserve`.
///
/// # Errors
/// [`BootError::NoMemory`] with the bitmap allocator's BUG text.
pub fn reserve_bootmem_generic(k: &mut Kernel, phys: u64, len: u64) -> Result<(), BootError> {
    use crate::include::PAGE_SIZE;
    let pfn = phys >> 12;
    if pfn >= k.max_pfn {
        if pfn >= k.max_pfn_mapped {
            crate::pr_err!(
                k.printk,
                "reserve_bootmem: illegal reserve {phys:x} {len}\n"
            );
        }
        return Ok(());
    }
    let nid = crate::mm::sparse::early_pfn_to_nid(k, pfn);
    let next = crate::mm::sparse::early_pfn_to_nid(k, (phys + len - 1) >> 12);
    let phys_mem = &k.phys;
    let Some(bm) = k.bootmem.as_mut() else {
        return Ok(());
    };
    let flags = crate::mm::bootmem::BOOTMEM_DEFAULT;
    let r = match bm.node_mut(nid as usize) {
        Ok(node) if nid == next => node.reserve_bootmem_node(phys_mem, phys, len, flags),
        _ => bm.reserve_bootmem(phys_mem, phys, len, flags),
    };
    r.map_err(|e| BootError::NoMemory(e.to_string()))?;
    if phys + len <= 16 << 20 {
        k.dma_reserve += len / PAGE_SIZE;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_keep_call_order_and_refuse_overlaps() {
        let mut e = EarlyRes::default();
        e.__reserve_early(0, 0x1000, "BIOS data page", true)
            .unwrap();
        e.reserve_early(0x6000, 0x8000, "TRAMPOLINE").unwrap();
        e.reserve_early(0x100_0000, 0x200_0000, "TEXT DATA BSS")
            .unwrap();
        e.reserve_early(0x8000, 0x9000, "PGTABLE").unwrap();
        e.reserve_early(0x9000, 0xa000, "PGTABLE").unwrap();
        let names: Vec<_> = e.entries.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "BIOS data page",
                "TRAMPOLINE",
                "TEXT DATA BSS",
                "PGTABLE",
                "PGTABLE"
            ]
        );
        let err = e.reserve_early(0x7000, 0x8800, "X").unwrap_err();
        assert!(
            err.starts_with("Overlapping early reservations 7000-87ff X to 6000-7fff TRAMPOLINE")
        );
        // An overlap-tolerant entry gives way.
        e.reserve_early(0x800, 0x1800, "EBDA").unwrap();
        assert_eq!(e.entries[0].end, 0x800);
        assert_eq!(e.entries.last().unwrap().name, "EBDA");
        // Names keep 15 characters.
        e.reserve_early(0x300_0000, 0x300_1000, "A NAME LONGER THAN 15")
            .unwrap();
        assert_eq!(e.entries.last().unwrap().name, "A NAME LONGER T");
    }

    #[test]
    fn the_array_is_bounded() {
        let mut e = EarlyRes::default();
        for i in 0..MAX_EARLY_RES as u64 {
            e.reserve_early(i * 0x1000, i * 0x1000 + 0x800, "R")
                .unwrap();
        }
        assert_eq!(
            e.reserve_early(0x10_0000, 0x10_1000, "R").unwrap_err(),
            "Too many early reservations"
        );
    }
}
