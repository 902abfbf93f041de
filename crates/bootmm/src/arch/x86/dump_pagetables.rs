// SPDX-License-Identifier: GPL-2.0-only
//! arch/x86/mm/dump_pagetables.c and mm/ptdump.c: `/sys/kernel/debug/page_tables/kernel`,
//! the kernel page tables as runs of entries with the same flags.
//!
//! DOC: `ptdump_walk_pgd` walks the user half `[0, 0x0000800000000000)` and the kernel half
//! from `GUARD_HOLE_END_ADDR` (`0xffff880000000000`) with the generic page walker. Every
//! present upper-level entry updates the effective permissions (`effective_prot`: USR and RW
//! only if every level allows them, NX if any level sets it); every leaf (a large page, or a
//! PTE, present or not) and every hole (an empty upper entry, reported at its depth) goes to
//! `note_page`, which extends the current run while the flags, the effective flags and the
//! level stay the same and no address marker is crossed. A finished run prints as
//! `0x<start>-0x<end>   <size><unit> <flags> <level>`; markers print as `---[ Name ]---`.
//! With 4-level paging the P4D is folded into the PGD, so an empty PGD slot is a `p4d`
//! hole. The marker advances one step per flush, which is why the first kernel-half line
//! (the LDT slot) prints under "Kernel Space" and its own header follows it, as in the
//! kernel's output.
//!
//! bootmm's tables hold the direct map and the vmalloc range; the kernel image mapping,
//! the fixmap and the vmemmap's entries are not in them yet (docs/divergences.md), so their
//! sections show as holes.

use alloc::string::String;
use core::fmt::Write;

use crate::arch::x86::pgtable_64_types::{
    _PAGE_PRESENT, _PAGE_PSE, CPU_ENTRY_AREA_BASE, EFI_VA_END, ESPFIX_BASE_ADDR, FIXADDR_TOP,
    MODULES_END, MODULES_VADDR, PTE_PFN_MASK, START_KERNEL_MAP, VMALLOC_START, VMEMMAP_START,
};
use crate::kernel::Kernel;

/// `struct addr_marker`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrMarker {
    pub start_address: u64,
    pub name: &'static str,
    /// `max_lines` (0: no limit).
    pub max_lines: u64,
}

/// `PTE_FLAGS_MASK`.
const PTE_FLAGS_MASK: u64 = !PTE_PFN_MASK;
const _PAGE_USER: u64 = 1 << 2;
const _PAGE_RW: u64 = 1 << 1;
const _PAGE_PWT: u64 = 1 << 3;
const _PAGE_PCD: u64 = 1 << 4;
const _PAGE_PAT: u64 = 1 << 7;
const _PAGE_PAT_LARGE: u64 = 1 << 12;
const _PAGE_GLOBAL: u64 = 1 << 8;
const _PAGE_NX: u64 = 1 << 63;
/// `GUARD_HOLE_END_ADDR`.
const GUARD_HOLE_END_ADDR: u64 = 0xffff_8800_0000_0000;
/// The end of the user half with 4-level paging (`PTRS_PER_PGD * PGD_LEVEL_MULT / 2`).
const USER_END: u64 = 0x0000_8000_0000_0000;
/// `LDT_BASE_ADDR` (`LDT_PGD_ENTRY` -240).
const LDT_BASE_ADDR: u64 = 0xffff_8800_0000_0000;

/// `address_markers[]` of x86_64 with 4-level paging, no KASLR, no KASAN, with
/// CONFIG_MODIFY_LDT_SYSCALL and CONFIG_EFI, and CONFIG_RANDOMIZE_BASE's 1 GiB image space
/// (as distribution kernels build it). `page_offset` is `PAGE_OFFSET`; `fixaddr_start` the
/// fixmap's start.
pub fn address_markers(page_offset: u64, fixaddr_start: u64) -> [AddrMarker; 15] {
    let m = |start_address, name| AddrMarker {
        start_address,
        name,
        max_lines: 0,
    };
    [
        m(0, "User Space"),
        m(1 << 63, "Kernel Space"),
        m(LDT_BASE_ADDR, "LDT remap"),
        m(page_offset, "Low Kernel Mapping"),
        m(VMALLOC_START, "vmalloc() Area"),
        m(VMEMMAP_START, "Vmemmap"),
        m(CPU_ENTRY_AREA_BASE, "CPU entry Area"),
        AddrMarker {
            start_address: ESPFIX_BASE_ADDR,
            name: "ESPfix Area",
            max_lines: 16,
        },
        m(EFI_VA_END, "EFI Runtime Services"),
        m(START_KERNEL_MAP, "High Kernel Mapping"),
        m(MODULES_VADDR, "Modules"),
        m(MODULES_END, "End Modules"),
        m(fixaddr_start, "Fixmap Area"),
        m(u64::MAX, ""),
        m(u64::MAX, ""),
    ]
}

/// One run of `note_page`, as printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PtdumpLine {
    pub start: u64,
    /// One past the end (0 for the last run, which ends at the top of the address space).
    pub end: u64,
    /// The entries' flags (`val & PTE_FLAGS_MASK`).
    pub prot: u64,
    /// 0 pgd, 1 p4d, 2 pud, 3 pmd, 4 pte.
    pub level: usize,
}

/// `struct pg_state`.
struct PgState<'a> {
    out: &'a mut String,
    lines: alloc::vec::Vec<PtdumpLine>,
    markers: alloc::vec::Vec<AddrMarker>,
    marker: usize,
    /// Hex digits of an address (`sizeof(unsigned long) * 2`) and the address mask.
    width: usize,
    mask: u64,
    level: i32,
    current_prot: u64,
    effective_prot: u64,
    prot_levels: [u64; 5],
    start_address: u64,
    nlines: u64,
}

/// `printk_prot`.
fn printk_prot(out: &mut String, pr: u64, level: usize) {
    const LEVEL_NAME: [&str; 5] = ["pgd", "p4d", "pud", "pmd", "pte"];
    if pr & _PAGE_PRESENT == 0 {
        out.push_str("                              ");
    } else {
        let f = |out: &mut String, on: bool, yes: &str, no: &str| {
            out.push_str(if on { yes } else { no })
        };
        f(out, pr & _PAGE_USER != 0, "USR ", "    ");
        f(out, pr & _PAGE_RW != 0, "RW ", "ro ");
        f(out, pr & _PAGE_PWT != 0, "PWT ", "    ");
        f(out, pr & _PAGE_PCD != 0, "PCD ", "    ");
        f(out, level <= 3 && pr & _PAGE_PSE != 0, "PSE ", "    ");
        f(
            out,
            (level == 4 && pr & _PAGE_PAT != 0)
                || ((level == 3 || level == 2) && pr & _PAGE_PAT_LARGE != 0),
            "PAT ",
            "    ",
        );
        f(out, pr & _PAGE_GLOBAL != 0, "GLB ", "    ");
        f(out, pr & _PAGE_NX != 0, "NX ", "x  ");
    }
    let _ = writeln!(out, "{}", LEVEL_NAME[level]);
}

impl PgState<'_> {
    /// `effective_prot`.
    fn effective_prot(&mut self, level: usize, val: u64) {
        let prot = val & PTE_FLAGS_MASK;
        let eff = if level > 0 {
            let higher = self.prot_levels[level - 1];
            (higher & prot & (_PAGE_USER | _PAGE_RW)) | ((higher | prot) & _PAGE_NX)
        } else {
            prot
        };
        self.prot_levels[level] = eff;
    }

    /// `note_page`. `level` -1 is the final flush.
    fn note_page(&mut self, addr: u64, level: i32, val: u64) {
        const UNITS: &[u8] = b"BKMGTPE";
        let new_prot = val & PTE_FLAGS_MASK;
        let new_eff = if val == 0 || level < 0 {
            0
        } else {
            self.prot_levels[level as usize]
        };
        let (cur, eff) = (self.current_prot, self.effective_prot);
        if self.level == -1 {
            self.current_prot = new_prot;
            self.effective_prot = new_eff;
            self.level = level;
            self.marker = 0;
            self.nlines = 0;
            let _ = writeln!(self.out, "---[ {} ]---", self.markers[0].name);
        } else if new_prot != cur
            || new_eff != eff
            || level != self.level
            || addr >= self.markers[self.marker + 1].start_address
        {
            let mk = self.markers[self.marker];
            if mk.max_lines == 0 || self.nlines < mk.max_lines {
                let w = self.width;
                let _ = write!(self.out, "0x{:0w$x}-0x{:0w$x}   ", self.start_address, addr);
                let mut delta = addr.wrapping_sub(self.start_address) & self.mask;
                let mut unit = 0;
                while delta & 1023 == 0 && unit + 1 < UNITS.len() {
                    delta >>= 10;
                    unit += 1;
                }
                let _ = write!(self.out, "{:9}{} ", delta, UNITS[unit] as char);
                printk_prot(self.out, self.current_prot, self.level as usize);
                self.lines.push(PtdumpLine {
                    start: self.start_address,
                    end: addr,
                    prot: self.current_prot,
                    level: self.level as usize,
                });
            }
            self.nlines += 1;
            if addr >= self.markers[self.marker + 1].start_address {
                if mk.max_lines != 0 && self.nlines > mk.max_lines {
                    let nskip = self.nlines - mk.max_lines;
                    let _ = writeln!(
                        self.out,
                        "... {nskip} entr{} skipped ... ",
                        if nskip == 1 { "y" } else { "ies" }
                    );
                }
                self.marker += 1;
                self.nlines = 0;
                let _ = writeln!(self.out, "---[ {} ]---", self.markers[self.marker].name);
            }
            self.start_address = addr;
            self.current_prot = new_prot;
            self.effective_prot = new_eff;
            self.level = level;
        }
    }
}

/// Read entry `idx` of the table at physical `table` (0 outside simulated RAM).
fn entry(k: &Kernel, table: u64, idx: u64) -> u64 {
    k.phys
        .read_u64(crate::PhysAddr(table + idx * 8))
        .unwrap_or(0)
}

/// The walk of `[start, end)` (`walk_page_range_novma` with ptdump's callbacks), 4-level;
/// `end` 0 is the top of the address space.
fn walk(k: &Kernel, st: &mut PgState<'_>, pgd: u64, start: u64, end: u64) {
    let mut addr = start;
    loop {
        let next = level_end(addr, 39, end);
        let v = entry(k, pgd, (addr >> 39) & 511);
        // pgd_entry (folded: the same entry as the p4d), then p4d.
        if v & _PAGE_PRESENT == 0 {
            st.note_page(addr, 1, 0);
        } else {
            st.effective_prot(0, v);
            st.effective_prot(1, v);
            walk_pud(k, st, v & PTE_PFN_MASK, addr, next);
        }
        if next == end {
            break;
        }
        addr = next;
    }
}

/// `p?d_addr_end(addr, end)` for a level of `1 << shift` bytes.
fn level_end(addr: u64, shift: u32, end: u64) -> u64 {
    let b = (addr | ((1u64 << shift) - 1)).wrapping_add(1);
    if b.wrapping_sub(1) < end.wrapping_sub(1) {
        b
    } else {
        end
    }
}

fn walk_pud(k: &Kernel, st: &mut PgState<'_>, table: u64, start: u64, end: u64) {
    let mut addr = start;
    loop {
        let next = level_end(addr, 30, end);
        let v = entry(k, table, (addr >> 30) & 511);
        if v & _PAGE_PRESENT == 0 {
            st.note_page(addr, 2, 0);
        } else {
            st.effective_prot(2, v);
            if v & _PAGE_PSE != 0 {
                st.note_page(addr, 2, v);
            } else {
                walk_pmd(k, st, v & PTE_PFN_MASK, addr, next);
            }
        }
        if next == end {
            break;
        }
        addr = next;
    }
}

fn walk_pmd(k: &Kernel, st: &mut PgState<'_>, table: u64, start: u64, end: u64) {
    let mut addr = start;
    loop {
        let next = level_end(addr, 21, end);
        let v = entry(k, table, (addr >> 21) & 511);
        if v & _PAGE_PRESENT == 0 {
            st.note_page(addr, 3, 0);
        } else {
            st.effective_prot(3, v);
            if v & _PAGE_PSE != 0 {
                st.note_page(addr, 3, v);
            } else {
                // walk_pte_range: every PTE, present or not.
                let t = v & PTE_PFN_MASK;
                let mut a = addr;
                loop {
                    let pte = entry(k, t, (a >> 12) & 511);
                    if pte & _PAGE_PRESENT != 0 {
                        st.effective_prot(4, pte);
                    }
                    st.note_page(a, 4, pte);
                    a = a.wrapping_add(4096);
                    if a == next {
                        break;
                    }
                }
            }
        }
        if next == end {
            break;
        }
        addr = next;
    }
}

/// `ptdump_walk_pgd_level_core` over `init_top_pgt`: the debugfs file's text and the runs
/// it printed.
pub fn ptdump_kernel(k: &Kernel) -> (String, alloc::vec::Vec<PtdumpLine>) {
    let mut out = String::new();
    let page_offset = k.phys.va(crate::PhysAddr(0)).0;
    let mut st = PgState {
        out: &mut out,
        lines: alloc::vec::Vec::new(),
        markers: address_markers(page_offset, FIXADDR_TOP).to_vec(),
        marker: 0,
        width: 16,
        mask: u64::MAX,
        level: -1,
        current_prot: 0,
        effective_prot: 0,
        prot_levels: [0; 5],
        start_address: 0,
        nlines: 0,
    };
    let pgd = k.direct_map.init_top_pgt;
    if pgd != 0 {
        walk(k, &mut st, pgd, 0, USER_END);
        walk(k, &mut st, pgd, GUARD_HOLE_END_ADDR, 0);
    }
    st.note_page(0, -1, 0);
    let lines = core::mem::take(&mut st.lines);
    (out, lines)
}

/// The debugfs file's text.
pub fn page_tables_kernel(k: &Kernel) -> String {
    if !k.era.is_64bit() {
        return ptdump_kernel_32(k).0;
    }
    ptdump_kernel(k).0
}

/// arch/x86/mm/dump_pagetables.c `address_markers[]` of a 32-bit kernel: user space, the
/// direct map ("Kernel Mapping"), vmalloc's start and end, with HIGHMEM the pkmap area,
/// from 4.19 the LDT remap (CONFIG_MODIFY_LDT_SYSCALL), from 4.15 the CPU entry area, and
/// the fixmap ("Fixmap Area"; "Fixmap area" from 4.15, when the CPU entry area came).
pub fn address_markers_32(k: &Kernel) -> alloc::vec::Vec<AddrMarker> {
    use crate::arch::x86::pgtable_32_types::{PAGE_OFFSET, VMALLOC_OFFSET};
    let m = |start_address, name| AddrMarker {
        start_address,
        name,
        max_lines: 0,
    };
    let mut v = alloc::vec![m(0, "User Space"), m(PAGE_OFFSET, "Kernel Mapping")];
    let Some(l) = crate::arch::x86::init_32::layout(k) else {
        return v;
    };
    // VMALLOC_START: high_memory + VMALLOC_OFFSET.
    v.push(m(
        PAGE_OFFSET + (k.max_low_pfn << 12) + VMALLOC_OFFSET,
        "vmalloc() Area",
    ));
    v.push(m(l.vmalloc_end, "vmalloc() End"));
    if k.machine.kernel_config().highmem {
        v.push(m(l.pkmap_base, "Persistent kmap() Area"));
    }
    if let Some(ldt) = l.ldt_base.filter(|_| k.era.at_least(4, 19)) {
        v.push(m(ldt, "LDT remap"));
    }
    match l.cpu_entry_area_base {
        Some(cea) => {
            v.push(m(cea, "CPU entry area"));
            v.push(m(l.fixaddr_start, "Fixmap area"));
        }
        None => v.push(m(l.fixaddr_start, "Fixmap Area")),
    }
    v.push(m(u64::MAX, ""));
    v.push(m(u64::MAX, ""));
    v
}

/// `ptdump_walk_pgd_level_core` over `swapper_pg_dir` (32-bit): the debugfs file's text and
/// the runs it printed. Addresses print with 8 hex digits; the last run ends at the wrapped
/// 0 of the kernel's `PTRS_PER_PGD * PGD_LEVEL_MULT`. The levels are named as the walk
/// meets them: a PAE PGD entry is a "pgd" (a "pud" with 5.6's generic walker, where the
/// folded levels report an empty top entry at the PUD), a 2 or 4 MiB page and an empty PMD
/// a "pmd", a PTE a "pte". Empty when the tables are not built.
pub fn ptdump_kernel_32(k: &Kernel) -> (String, alloc::vec::Vec<PtdumpLine>) {
    use crate::arch::x86::pgtable_32::{read_entry, PRESENT, PSE};
    let mut out = String::new();
    let mut st = PgState {
        out: &mut out,
        lines: alloc::vec::Vec::new(),
        markers: address_markers_32(k),
        marker: 0,
        width: 8,
        mask: 0xffff_ffff,
        level: -1,
        current_prot: 0,
        effective_prot: 0,
        prot_levels: [0; 5],
        start_address: 0,
        nlines: 0,
    };
    let Some(g) = k.pt32.geom else {
        return (out, alloc::vec::Vec::new());
    };
    let ram = &k.phys;
    let pgd = k.pt32.swapper_pg_dir;
    let top_level = if !g.pae {
        3
    } else if k.era.at_least(5, 6) {
        2
    } else {
        0
    };
    let pte_walk = |st: &mut PgState<'_>, t: u64, base: u64| {
        for i in 0..g.ptrs_per_pte() {
            let pte = read_entry(ram, g, t + i * g.entry_size());
            if pte & PRESENT != 0 {
                st.effective_prot(4, pte);
            }
            st.note_page(base + i * 4096, 4, pte);
        }
    };
    let pmd_walk = |st: &mut PgState<'_>, addr: u64, v: u64| {
        if v & PRESENT == 0 {
            st.note_page(addr, 3, 0);
        } else {
            st.effective_prot(3, v);
            if v & PSE != 0 {
                st.note_page(addr, 3, v);
            } else {
                pte_walk(st, v & g.pfn_mask(), addr);
            }
        }
    };
    for i in 0..g.ptrs_per_pgd() {
        let addr = i << g.pgdir_shift();
        let v = read_entry(ram, g, pgd + i * g.entry_size());
        if !g.pae {
            st.prot_levels[2] = PTE_FLAGS_MASK;
            pmd_walk(&mut st, addr, v);
            continue;
        }
        if v & PRESENT == 0 {
            st.note_page(addr, top_level, 0);
            continue;
        }
        // A PDPTE holds no RW/USER bits: the walk's permissions start from the PMDs.
        st.prot_levels[2] = PTE_FLAGS_MASK;
        let t = v & g.pfn_mask();
        for j in 0..512u64 {
            let e = read_entry(ram, g, t + j * 8);
            pmd_walk(&mut st, addr + (j << 21), e);
        }
    }
    st.note_page(0, -1, 0);
    let lines = core::mem::take(&mut st.lines);
    (out, lines)
}
