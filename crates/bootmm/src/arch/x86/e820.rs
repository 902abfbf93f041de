//! arch/x86/kernel/e820.c: the firmware memory map and the kernel's copies of it.
//!
//! The BIOS (or the boot loader, or EFI stub) hands the kernel an unsorted, possibly
//! overlapping list of physical ranges with a type each; the kernel sanitizes it into a
//! sorted, non-overlapping table (`e820_table`), keeps copies for kexec and /sys, lets the
//! command line (`mem=`, `memmap=`) and quirks edit it, and reads `max_pfn` off it before
//! feeding the RAM ranges to memblock. bootmm keeps the same three tables as `Vec`s with the
//! kernel's fixed capacity enforced by hand, prints whole lines instead of `pr_cont`
//! fragments, and returns the kernel's `-1`/panic outcomes as [`E820Error`] values.

// The kernel's function names (`e820__range_update`, …) are kept verbatim.
#![allow(non_snake_case)]

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Ordering;
use core::fmt;

use crate::era::{Arch, Era};
use crate::include::addr::PAGE_SHIFT;
use crate::klib::cmdline::{memparse, simple_strtoull};
use crate::printk::Printk;
use crate::{pr_debug, pr_err, pr_info, pr_warn};

/// e820 entry types (arch/x86/include/asm/e820/types.h; `E820_*` before 4.12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum E820Type {
    /// 1, `E820_TYPE_RAM`.
    Ram,
    /// 2, `E820_TYPE_RESERVED`.
    Reserved,
    /// 3, `E820_TYPE_ACPI` (ACPI reclaimable data).
    Acpi,
    /// 4, `E820_TYPE_NVS`.
    Nvs,
    /// 5, `E820_TYPE_UNUSABLE`.
    Unusable,
    /// 7, `E820_TYPE_PMEM` (ACPI 6 persistent memory).
    Pmem,
    /// 12, `E820_TYPE_PRAM` (legacy, non-standard persistent memory; 4.1+).
    Pram,
    /// 0xefffffff, `E820_TYPE_SOFT_RESERVED` (EFI specific-purpose memory; 5.5+).
    SoftReserved,
    /// 128, `E820_TYPE_RESERVED_KERN`: RAM the kernel keeps (setup_data); printed as usable.
    ReservedKern,
    /// Any other code the firmware reports.
    Other(u32),
}

impl E820Type {
    /// The numeric type code, which is also the sanitize priority (highest wins).
    pub const fn code(self) -> u32 {
        match self {
            E820Type::Ram => 1,
            E820Type::Reserved => 2,
            E820Type::Acpi => 3,
            E820Type::Nvs => 4,
            E820Type::Unusable => 5,
            E820Type::Pmem => 7,
            E820Type::Pram => 12,
            E820Type::SoftReserved => 0xefff_ffff,
            E820Type::ReservedKern => 128,
            E820Type::Other(c) => c,
        }
    }

    /// The type for a numeric code (the inverse of [`E820Type::code`]).
    pub const fn from_code(c: u32) -> Self {
        match c {
            1 => E820Type::Ram,
            2 => E820Type::Reserved,
            3 => E820Type::Acpi,
            4 => E820Type::Nvs,
            5 => E820Type::Unusable,
            7 => E820Type::Pmem,
            12 => E820Type::Pram,
            0xefff_ffff => E820Type::SoftReserved,
            128 => E820Type::ReservedKern,
            c => E820Type::Other(c),
        }
    }
}

impl PartialOrd for E820Type {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Ordered by type code, the order `e820__update_table` resolves overlaps in.
impl Ord for E820Type {
    fn cmp(&self, other: &Self) -> Ordering {
        self.code().cmp(&other.code())
    }
}

/// One e820 entry (`struct e820_entry`): `[addr, addr + size)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct E820Entry {
    pub addr: u64,
    pub size: u64,
    pub typ: E820Type,
}

impl E820Entry {
    pub const fn new(addr: u64, size: u64, typ: E820Type) -> Self {
        E820Entry { addr, size, typ }
    }
    /// The exclusive end, wrapping as the kernel's `addr + size` does.
    pub const fn end(&self) -> u64 {
        self.addr.wrapping_add(self.size)
    }
}

/// The kernel's failure outcomes, as values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum E820Error {
    /// `e820__update_table` returned -1: fewer than two entries.
    TooFewEntries,
    /// `e820__update_table` returned -1: an entry whose `addr + size` wraps.
    WrappingEntry { index: usize, addr: u64, size: u64 },
    /// `append_e820_table` failed and there is no BIOS-88/e801 size to fall back on.
    NoFirmwareMap,
    /// `early_panic("Invalid user supplied memory map")`.
    InvalidUserMap,
    /// An early parameter handler returned `-EINVAL`.
    Inval(String),
}

impl fmt::Display for E820Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            E820Error::TooFewEntries => write!(f, "e820 table has fewer than 2 entries"),
            E820Error::WrappingEntry { index, addr, size } => write!(
                f,
                "e820 entry {index} [{addr:#x} + {size:#x}] wraps around the address space"
            ),
            E820Error::NoFirmwareMap => write!(
                f,
                "the firmware e820 map is unusable (fewer than 2 entries or a wrapping entry) \
                 and the machine gives no BIOS-88/e801 memory size to fall back on"
            ),
            E820Error::InvalidUserMap => write!(f, "Invalid user supplied memory map"),
            E820Error::Inval(s) => write!(f, "invalid parameter: {s}"),
        }
    }
}

/// `boot_params.screen_info.ext_mem_k` and `boot_params.alt_mem_k`: what the real-mode setup
/// code learned from INT 15h AH=88h and AX=E801h, used only when there is no usable e820 map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LegacyMemSize {
    pub ext_mem_k: u16,
    pub alt_mem_k: u32,
}

// ---------------------------------------------------------------------------------------
// Era questions specific to e820.c. Each names the release where the change appeared and
// how sure that boundary is (see the module tests and the report in docs).

/// The `[mem %#018Lx-%#018Lx]` entry format and the "e820: " message prefixes arrived with
/// the physical-address printing cleanup (seen: 3.2 old, 3.6 new; believed 3.5).
pub fn e820_mem_format(era: &Era) -> bool {
    era.at_least(3, 5)
}

/// The literal "e820: " before the headers, `last_pfn`, the PCI-gap line and "too many
/// entries": present 3.5 … 4.17 (a 4.17.4 log still has it, 4.18 logs do not).
pub fn e820_msg_prefix(era: &Era) -> &'static str {
    if e820_mem_format(era) && !era.at_least(4, 18) {
        "e820: "
    } else {
        ""
    }
}

/// `trim_bios_range` reserved `ALIGN(reserve_low, PAGE_SIZE)` (CONFIG_X86_RESERVE_LOW,
/// 64 KiB by default) instead of one page from 2.6.36 until 3.9 moved the low reservation
/// to memblock (`trim_low_memory_range`). Logs: 3.2 and 3.8 update `[0, 0x10000)`,
/// 3.11+ update `[0, 0x1000)`.
pub fn trim_bios_range_reserves_low(era: &Era) -> bool {
    era.at_least_patch(2, 6, 36) && !era.at_least(3, 9)
}

/// `trim_bios_range` exists (the BIOS data page and the 640K–1M hole taken out of e820 RAM):
/// after 2.6.32 mainline, whose early_node_map still starts at pfn 0 (believed 2.6.33;
/// RHEL 6 backported it).
pub fn has_trim_bios_range(era: &Era) -> bool {
    era.at_least_patch(2, 6, 33) || era.release.contains(".el6")
}

/// RHEL 6's 2.6.32 takes the first 64 KiB out of e820 RAM before the BIOS data page (its
/// backport of the low-memory reserve: a 2.6.32-279.el6 log prints both updates).
pub fn rhel6_reserves_low_64k(era: &Era) -> bool {
    !era.at_least_patch(2, 6, 33) && era.release.contains(".el6")
}

/// `e820_remove_range` printed its range (2.6.32 mainline did not; RHEL 6 backported it,
/// and 3.2 logs show it).
pub fn remove_range_prints(era: &Era) -> bool {
    era.at_least_patch(2, 6, 33) || era.release.contains(".el6")
}

/// E820_PRAM (12) exists, prints as "persistent (type 12)" and is never merged (4.1+).
pub fn has_pram(era: &Era) -> bool {
    era.at_least(4, 1)
}

/// E820_TYPE_SOFT_RESERVED exists, prints as "soft reserved" and is never merged (5.5+).
pub fn has_soft_reserved(era: &Era) -> bool {
    era.at_least(5, 5)
}

/// `e820__end_ram_pfn` counts E820_TYPE_ACPI ranges as well as RAM: commit 06fa48d85b09
/// ("x86/mm: Make e820__end_ram_pfn() cover E820_TYPE_ACPI ranges"), merged for 6.11.
pub fn end_pfn_counts_acpi(era: &Era) -> bool {
    era.at_least(6, 11)
}

/// 4.1 … 4.3 counted E820_PRAM as RAM for max_pfn ("Persistent memory is accounted as ram
/// for purposes of establishing max_pfn and mem_map"); 4.4 trees count RAM only.
/// Boundary not confirmed beyond those two trees.
pub fn end_pfn_counts_pram(era: &Era) -> bool {
    has_pram(era) && !era.at_least(4, 4)
}

/// `kvm_init_platform()` computes the top of low RAM with `e820__end_of_low_ram_pfn()` (an
/// extra "last_pfn = …" line right after "Hypervisor detected: KVM"): commit 0dccbc75e18d
/// ("x86/kvm: Force legacy PCI hole to UC when overriding MTRRs for TDX/SNP"), mainline
/// 6.18-rc1, backported to 6.12.54 (seen in the 6.12.54 stable patch) and to 6.17.y in
/// the same stable batch (6.17.4, not confirmed from a tree).
pub fn kvm_init_platform_reads_low_ram_pfn(era: &Era) -> bool {
    let v = era.version;
    era.at_least(6, 18)
        || (v.major == 6 && v.minor == 17 && v.patch >= 4)
        || (v.major == 6 && v.minor == 12 && v.patch >= 54)
}

/// 4.12's rewrite of e820.c (the "x86/boot/e820: ..." series): the `E820_TYPE_*` names and
/// a kernel table kept apart from the firmware's, so the raw table is appended before the
/// kernel's copy is sanitized ([`sanitize_after_append`]) and `e820__reserve_setup_data`
/// no longer copies the main table over the saved one.
pub fn e820_rework(era: &Era) -> bool {
    era.at_least(4, 12)
}

/// `e820__reserve_setup_data` also updated `e820_table_kexec` (a second "usable ==> usable"
/// line per blob): 4.12 … 6.11 (a 6.4 log shows the pairs; the 6.12.0 tree updates one
/// table; the exact release of the change is not confirmed).
pub fn setup_data_updates_kexec_table(era: &Era) -> bool {
    e820_rework(era) && !era.at_least(6, 12)
}

/// `e820__memory_setup_default` appends the raw firmware table and sanitizes the kernel's
/// copy (4.12+); older kernels sanitized `boot_params.e820_map` in place first and appended
/// the result.
pub fn sanitize_after_append(era: &Era) -> bool {
    e820_rework(era)
}

/// `memmap=` accepts a comma-separated list (`parse_memmap_opt` looping over
/// `parse_memmap_one`); believed 4.1, not confirmed.
pub fn memmap_takes_lists(era: &Era) -> bool {
    era.at_least(4, 1)
}

/// `memmap=nn%ss-t+u` (retype/add/remove by type); believed 4.19, not confirmed.
pub fn memmap_has_retype(era: &Era) -> bool {
    era.at_least(4, 19)
}

/// `mem=nopentium` on x86_64 prints "mem=nopentium ignored! (only supported on x86_32)"
/// (present in the 4.12 tree; earlier kernels silently failed the number parse).
pub fn nopentium_warns(era: &Era) -> bool {
    era.at_least(4, 12)
}

/// `e820_add_kernel_range` exists (3.9+, with the memblock low-memory rework).
pub fn has_add_kernel_range(era: &Era) -> bool {
    era.at_least(3, 9)
}

/// `E820_MAX_ENTRIES` (`E820_X_MAX` before 4.12): 128 + 3 × MAX_NUMNODES on x86_64 (EFI
/// and NUMA builds); bootmm assumes CONFIG_NODES_SHIFT = 6 (the x86_64 Kconfig default
/// without MAXSMP), so 320. i386 builds: 128 (E820MAX).
pub fn e820_max_entries(era: &Era) -> usize {
    match era.arch {
        Arch::X86_64 => 128 + 3 * (1 << 6),
        Arch::I386 { .. } => 128,
    }
}

/// `e820_print_type`: the name of a type as this era prints it.
pub fn e820_type_name(era: &Era, typ: E820Type) -> String {
    let old = !e820_mem_format(era);
    let s: &str = match typ {
        E820Type::Ram | E820Type::ReservedKern => "usable",
        E820Type::Reserved => "reserved",
        E820Type::Acpi => "ACPI data",
        E820Type::Nvs => "ACPI NVS",
        E820Type::Unusable => "unusable",
        E820Type::Pmem | E820Type::Pram if has_pram(era) => {
            return format!("persistent (type {})", typ.code());
        }
        E820Type::SoftReserved if has_soft_reserved(era) => "soft reserved",
        _ => return format!("type {}", typ.code()),
    };
    if old {
        format!("({s})")
    } else {
        String::from(s)
    }
}

/// `e820_nomerge`: types whose adjacent ranges stay separate entries.
fn e820_nomerge(era: &Era, code: u32) -> bool {
    (code == E820Type::Pram.code() && has_pram(era))
        || (code == E820Type::SoftReserved.code() && has_soft_reserved(era))
}

/// arch/x86/kernel/e820.c: `e820__update_table` (`sanitize_e820_map` before 4.12).
///
/// Sorts the change points (every entry's start and end; at one address a start sorts
/// before an end), sweeps them keeping the set of open entries, and emits a new entry
/// whenever the highest open type changes (or always, for the no-merge types). Zero-size
/// inputs are ignored, gaps stay gaps, and at most `max_nr` entries are produced.
/// Returns the kernel's -1 cases as errors, leaving `entries` untouched.
pub fn e820__update_table(
    era: &Era,
    entries: &mut Vec<E820Entry>,
    max_nr: usize,
) -> Result<(), E820Error> {
    if entries.len() < 2 {
        return Err(E820Error::TooFewEntries);
    }
    for (index, e) in entries.iter().enumerate() {
        if e.addr.checked_add(e.size).is_none() {
            return Err(E820Error::WrappingEntry {
                index,
                addr: e.addr,
                size: e.size,
            });
        }
    }
    // Change points: (address, entry index). "Start" means address == entry's addr.
    let mut points: Vec<(u64, usize)> = Vec::with_capacity(entries.len() * 2);
    for (i, e) in entries.iter().enumerate() {
        if e.size != 0 {
            points.push((e.addr, i));
            points.push((e.addr + e.size, i));
        }
    }
    let is_end = |p: &(u64, usize)| p.0 != entries[p.1].addr;
    // cpcompare: address, then starts before ends.
    points.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then((is_end(a) as u8).cmp(&(is_end(b) as u8)))
    });

    let mut overlap: Vec<usize> = Vec::new();
    let mut out: Vec<E820Entry> = Vec::new();
    let mut cur = E820Entry::new(0, 0, E820Type::Ram);
    let mut last_type: u32 = 0;
    let mut last_addr: u64 = 0;
    for p in &points {
        if !is_end(p) {
            overlap.push(p.1);
        } else if let Some(pos) = overlap.iter().position(|&x| x == p.1) {
            overlap.swap_remove(pos);
        }
        let current_type = overlap
            .iter()
            .map(|&i| entries[i].typ.code())
            .max()
            .unwrap_or(0);
        if current_type != last_type || e820_nomerge(era, current_type) {
            if last_type != 0 {
                cur.size = p.0 - last_addr;
                if cur.size != 0 {
                    out.push(cur);
                    if out.len() >= max_nr {
                        break;
                    }
                }
            }
            if current_type != 0 {
                cur = E820Entry::new(p.0, 0, E820Type::from_code(current_type));
                last_addr = p.0;
            }
            last_type = current_type;
        }
    }
    *entries = out;
    Ok(())
}

/// The kernel's e820 tables and the boot-time state e820.c keeps (`userdef`).
pub struct E820 {
    /// `e820_table`: the working map (`e820` before 4.12).
    pub table: Vec<E820Entry>,
    /// `e820_table_kexec`: the map handed to a kexec'd kernel (`e820_saved` before 4.12).
    pub table_kexec: Vec<E820Entry>,
    /// `e820_table_firmware`: the firmware's map as first sanitized (/sys/firmware/memmap).
    pub table_firmware: Vec<E820Entry>,
    /// `E820_MAX_ENTRIES` for this build.
    pub max_entries: usize,
    /// `userdef`: `mem=` or `memmap=` changed the map.
    pub userdef: bool,
    pub era: Era,
    pub printk: Printk,
}

impl E820 {
    /// arch/x86/mm/ioremap.c (3.x): `page_is_ram`'s table walk: `pfn` lies in the whole
    /// pages of a RAM entry. (Its special cases, page 0 and the BIOS area, are the caller's.)
    pub fn page_is_ram(&self, pfn: u64) -> bool {
        self.table.iter().any(|e| {
            e.typ == E820Type::Ram
                && (e.addr.div_ceil(4096)..(e.addr + e.size) >> 12).contains(&pfn)
        })
    }

    pub fn new(era: Era, printk: Printk) -> Self {
        E820 {
            table: Vec::new(),
            table_kexec: Vec::new(),
            table_firmware: Vec::new(),
            max_entries: e820_max_entries(&era),
            userdef: false,
            era,
            printk,
        }
    }

    fn prefix(&self) -> &'static str {
        e820_msg_prefix(&self.era)
    }

    fn name(&self, t: E820Type) -> String {
        e820_type_name(&self.era, t)
    }

    /// arch/x86/kernel/e820.c: `__e820__range_add` (`__e820_add_region` before 4.12) on
    /// `e820_table`. A full table drops the range with the kernel's message.
    pub fn e820__range_add(&mut self, start: u64, size: u64, typ: E820Type) {
        let max = self.max_entries;
        Self::range_add(
            &self.era,
            &self.printk,
            &mut self.table,
            max,
            start,
            size,
            typ,
        );
    }

    fn range_add(
        era: &Era,
        printk: &Printk,
        table: &mut Vec<E820Entry>,
        max: usize,
        start: u64,
        size: u64,
        typ: E820Type,
    ) {
        if table.len() >= max {
            if e820_mem_format(era) {
                pr_err!(
                    printk,
                    "{}too many entries; ignoring [mem {:#010x}-{:#010x}]\n",
                    e820_msg_prefix(era),
                    start,
                    start.wrapping_add(size).wrapping_sub(1)
                );
            } else {
                pr_err!(printk, "Ooops! Too many entries in the memory map!\n");
            }
            return;
        }
        table.push(E820Entry::new(start, size, typ));
    }

    /// arch/x86/kernel/e820.c: `e820__update_table(e820_table)`.
    pub fn update_table(&mut self) -> Result<(), E820Error> {
        e820__update_table(&self.era, &mut self.table, self.max_entries)
    }

    /// arch/x86/kernel/e820.c: `e820__print_table(who)` (`e820_print_map` before 4.12).
    pub fn e820__print_table(&self, who: &str) {
        for e in &self.table {
            let name = self.name(e.typ);
            if e820_mem_format(&self.era) {
                pr_info!(
                    self.printk,
                    "{}: [mem {:#018x}-{:#018x}] {}\n",
                    who,
                    e.addr,
                    e.end().wrapping_sub(1),
                    name
                );
            } else {
                pr_info!(
                    self.printk,
                    " {}: {:016x} - {:016x} {}\n",
                    who,
                    e.addr,
                    e.end(),
                    name
                );
            }
        }
    }

    /// arch/x86/kernel/e820.c: `e820__memory_setup_default` + `e820__memory_setup`
    /// (`default_machine_specific_memory_setup` + `setup_memory_map` before 4.12): load the
    /// firmware map, fall back to the BIOS-88/e801 sizes if it is unusable, sanitize, copy
    /// to the kexec and firmware tables, and print the "BIOS-provided physical RAM map".
    pub fn e820__memory_setup(
        &mut self,
        firmware: &[E820Entry],
        legacy: Option<LegacyMemSize>,
    ) -> Result<(), E820Error> {
        let max = self.max_entries;
        let mut who = "BIOS-e820";
        // The zero page holds E820MAX (128) entries; more come via SETUP_E820_EXT, which
        // bootmm does not model, so a longer firmware list is loaded in full.
        let mut fw: Vec<E820Entry> = firmware.to_vec();
        if !sanitize_after_append(&self.era) {
            // Old kernels sanitized boot_params.e820_map (E820MAX entries) first.
            let _ = e820__update_table(&self.era, &mut fw, 128);
        }
        let appended = Self::append_e820_table(&self.era, &fw);
        self.table.clear();
        match appended {
            Ok(()) => {
                for e in &fw {
                    Self::range_add(
                        &self.era,
                        &self.printk,
                        &mut self.table,
                        max,
                        e.addr,
                        e.size,
                        e.typ,
                    );
                }
            }
            Err(_) => {
                let l = legacy.ok_or(E820Error::NoFirmwareMap)?;
                let mem_k = if l.alt_mem_k < l.ext_mem_k as u32 {
                    who = "BIOS-88";
                    l.ext_mem_k as u64
                } else {
                    who = "BIOS-e801";
                    l.alt_mem_k as u64
                };
                // LOWMEMSIZE() is 640 KiB; HIGH_MEMORY is 1 MiB.
                self.e820__range_add(0, 0xa0000, E820Type::Ram);
                self.e820__range_add(0x10_0000, mem_k << 10, E820Type::Ram);
            }
        }
        if sanitize_after_append(&self.era) {
            let _ = self.update_table();
        }
        self.table_kexec = self.table.clone();
        self.table_firmware = self.table.clone();
        pr_info!(
            self.printk,
            "{}BIOS-provided physical RAM map:\n",
            self.prefix()
        );
        self.e820__print_table(who);
        Ok(())
    }

    /// arch/x86/kernel/e820.c: `append_e820_table` / `__append_e820_table`.
    fn append_e820_table(era: &Era, fw: &[E820Entry]) -> Result<(), E820Error> {
        if fw.len() < 2 {
            return Err(E820Error::TooFewEntries);
        }
        for (index, e) in fw.iter().enumerate() {
            let bad = if sanitize_after_append(era) {
                // end = start + size - 1; "start > end && likely(size)".
                e.size != 0 && e.addr > e.addr.wrapping_add(e.size).wrapping_sub(1)
            } else {
                e.addr > e.addr.wrapping_add(e.size)
            };
            if bad {
                return Err(E820Error::WrappingEntry {
                    index,
                    addr: e.addr,
                    size: e.size,
                });
            }
        }
        Ok(())
    }

    fn print_update_line(&self, start: u64, end: u64, old: E820Type, new: E820Type) {
        if e820_mem_format(&self.era) {
            pr_debug!(
                self.printk,
                "e820: update [mem {:#010x}-{:#010x}] {} ==> {}\n",
                start,
                end.wrapping_sub(1),
                self.name(old),
                self.name(new)
            );
        } else {
            pr_debug!(
                self.printk,
                "e820 update range: {:016x} - {:016x} {} ==> {}\n",
                start,
                end,
                self.name(old),
                self.name(new)
            );
        }
    }

    /// arch/x86/kernel/e820.c: `__e820__range_update` (`__e820_update_range` before 4.12):
    /// retype the parts of `old`-typed entries inside `[start, start + size)` to `new`.
    /// Covered entries are retyped in place; a split or partial overlap appends the new
    /// pieces at the end of the table (a later sanitize sorts them). Returns the bytes
    /// changed. `old == new` is the kernel's BUG_ON; it is refused here.
    pub fn __e820__range_update(
        &mut self,
        which: Table,
        start: u64,
        size: u64,
        old: E820Type,
        new: E820Type,
    ) -> Result<u64, E820Error> {
        if old == new {
            return Err(E820Error::Inval(format!(
                "e820 range update from {old:?} to the same type"
            )));
        }
        let size = size.min(u64::MAX - start);
        let end = start + size;
        self.print_update_line(start, end, old, new);
        let max = self.max_entries;
        let (era, printk) = (self.era.clone(), self.printk.clone());
        let table = match which {
            Table::Main => &mut self.table,
            Table::Kexec => &mut self.table_kexec,
            Table::Firmware => &mut self.table_firmware,
        };
        let mut updated = 0u64;
        let mut i = 0;
        while i < table.len() {
            let e = table[i];
            i += 1;
            if e.typ != old {
                continue;
            }
            let e_end = e.end();
            if e.addr >= start && e_end <= end {
                table[i - 1].typ = new;
                updated = updated.wrapping_add(e.size);
                continue;
            }
            if e.addr < start && e_end > end {
                Self::range_add(&era, &printk, table, max, start, size, new);
                Self::range_add(&era, &printk, table, max, end, e_end - end, e.typ);
                table[i - 1].size = start - e.addr;
                updated = updated.wrapping_add(size);
                continue;
            }
            let fs = start.max(e.addr);
            let fe = end.min(e_end);
            if fs >= fe {
                continue;
            }
            Self::range_add(&era, &printk, table, max, fs, fe - fs, new);
            updated = updated.wrapping_add(fe - fs);
            let ent = &mut table[i - 1];
            ent.size -= fe - fs;
            if ent.addr < fs {
                continue;
            }
            ent.addr = fe;
        }
        Ok(updated)
    }

    /// arch/x86/kernel/e820.c: `e820__range_update` on `e820_table`.
    pub fn e820__range_update(
        &mut self,
        start: u64,
        size: u64,
        old: E820Type,
        new: E820Type,
    ) -> Result<u64, E820Error> {
        self.__e820__range_update(Table::Main, start, size, old, new)
    }

    /// arch/x86/kernel/e820.c: `e820__range_remove` (`e820_remove_range` before 4.12): drop
    /// `[start, start + size)` from entries (of type `old` when `check_type`). Covered
    /// entries become zero-size in place; a split appends the tail. Returns bytes removed.
    pub fn e820__range_remove(
        &mut self,
        start: u64,
        size: u64,
        old: E820Type,
        check_type: bool,
    ) -> u64 {
        let size = size.min(u64::MAX - start);
        let end = start + size;
        if e820_mem_format(&self.era) {
            let t = if check_type {
                self.name(old)
            } else {
                String::new()
            };
            pr_debug!(
                self.printk,
                "e820: remove [mem {:#010x}-{:#010x}] {}\n",
                start,
                end.wrapping_sub(1),
                t
            );
        } else if remove_range_prints(&self.era) {
            let t = if check_type {
                self.name(old)
            } else {
                String::new()
            };
            pr_debug!(
                self.printk,
                "e820 remove range: {:016x} - {:016x} {}\n",
                start,
                end,
                t
            );
        }
        let mut removed = 0u64;
        let mut i = 0;
        while i < self.table.len() {
            let e = self.table[i];
            i += 1;
            if check_type && e.typ != old {
                continue;
            }
            let e_end = e.end();
            if e.addr >= start && e_end <= end {
                // u64 arithmetic, as in the kernel (only the printed total can wrap).
                removed = removed.wrapping_add(e.size);
                // memset(entry, 0): type 0 is no type at all; it is dropped by the next
                // sanitize as a zero-size entry.
                self.table[i - 1] = E820Entry::new(0, 0, E820Type::Other(0));
                continue;
            }
            if e.addr < start && e_end > end {
                self.e820__range_add(end, e_end - end, e.typ);
                self.table[i - 1].size = start - e.addr;
                removed = removed.wrapping_add(size);
                continue;
            }
            let fs = start.max(e.addr);
            let fe = end.min(e_end);
            if fs >= fe {
                continue;
            }
            removed = removed.wrapping_add(fe - fs);
            let ent = &mut self.table[i - 1];
            ent.size -= fe - fs;
            if ent.addr < fs {
                continue;
            }
            ent.addr = fe;
        }
        removed
    }

    /// arch/x86/kernel/e820.c: `e820__update_table_print` (`update_e820`): sanitize and,
    /// if that did something, print the "modified physical RAM map".
    pub fn e820__update_table_print(&mut self) {
        if self.update_table().is_err() {
            return;
        }
        pr_info!(self.printk, "{}modified physical RAM map:\n", self.prefix());
        self.e820__print_table("modified");
    }

    /// arch/x86/kernel/e820.c: `e820__end_ram_pfn` (`e820_end_pfn`): the end of the last
    /// counted range below `limit_pfn`, capped at MAX_ARCH_PFN, printed as "last_pfn = …".
    pub fn e820__end_ram_pfn(&self, limit_pfn: u64) -> u64 {
        let max_arch_pfn = self.era.max_arch_pfn();
        let acpi = end_pfn_counts_acpi(&self.era);
        let pram = end_pfn_counts_pram(&self.era);
        let mut last_pfn = 0u64;
        for e in &self.table {
            let counted = e.typ == E820Type::Ram
                || (acpi && e.typ == E820Type::Acpi)
                || (pram && e.typ == E820Type::Pram);
            if !counted {
                continue;
            }
            let start_pfn = e.addr >> PAGE_SHIFT;
            let end_pfn = e.end() >> PAGE_SHIFT;
            if start_pfn >= limit_pfn {
                continue;
            }
            if end_pfn > limit_pfn {
                last_pfn = limit_pfn;
                break;
            }
            last_pfn = last_pfn.max(end_pfn);
        }
        last_pfn = last_pfn.min(max_arch_pfn);
        pr_info!(
            self.printk,
            "{}last_pfn = {:#x} max_arch_pfn = {:#x}\n",
            self.prefix(),
            last_pfn,
            max_arch_pfn
        );
        last_pfn
    }

    /// arch/x86/kernel/e820.c: `e820__end_of_ram_pfn` — `max_pfn`.
    pub fn e820__end_of_ram_pfn(&self) -> u64 {
        self.e820__end_ram_pfn(self.era.max_arch_pfn())
    }

    /// arch/x86/kernel/e820.c: `e820__end_of_low_ram_pfn` — RAM end below 4 GiB.
    pub fn e820__end_of_low_ram_pfn(&self) -> u64 {
        self.e820__end_ram_pfn(1 << (32 - PAGE_SHIFT))
    }

    /// arch/x86/kernel/e820.c: `parse_memopt` — early_param "mem". `None` is a bare `mem`.
    pub fn parse_memopt(&mut self, p: Option<&str>) -> Result<(), E820Error> {
        let p = p.ok_or_else(|| E820Error::Inval(String::from("mem needs a value")))?;
        if p == "nopentium" {
            if matches!(self.era.arch, Arch::I386 { .. }) {
                // setup_clear_cpu_cap(X86_FEATURE_PSE): no 4 MiB pages; no map change.
                return Ok(());
            }
            if nopentium_warns(&self.era) {
                pr_warn!(
                    self.printk,
                    "mem=nopentium ignored! (only supported on x86_32)\n"
                );
                return Err(E820Error::Inval(String::from("mem=nopentium on x86_64")));
            }
        }
        self.userdef = true;
        let (mem_size, _) = memparse(p);
        if mem_size == 0 {
            return Err(E820Error::Inval(format!("mem={p}")));
        }
        self.e820__range_remove(mem_size, u64::MAX - mem_size, E820Type::Ram, true);
        Ok(())
    }

    /// arch/x86/kernel/e820.c: `parse_memmap_opt` — early_param "memmap": each
    /// comma-separated item (in eras that split) goes to [`E820::parse_memmap_one`]; the
    /// kernel ignores their individual failures, so they are returned for reporting only.
    pub fn parse_memmap_opt(&mut self, s: Option<&str>) -> Vec<E820Error> {
        let Some(s) = s else {
            return alloc::vec![E820Error::Inval(String::from("memmap needs a value"))];
        };
        let items: Vec<&str> = if memmap_takes_lists(&self.era) {
            s.split(',').collect()
        } else {
            alloc::vec![s]
        };
        items
            .into_iter()
            .filter_map(|it| self.parse_memmap_one(it).err())
            .collect()
    }

    /// arch/x86/kernel/e820.c: `parse_memmap_one`: `exactmap`, `nn@ss` (RAM), `nn#ss`
    /// (ACPI), `nn$ss` (reserved), `nn!ss` (PRAM), `nn%ss-t+u` (retype), or plain `nn`
    /// (like `mem=nn`).
    pub fn parse_memmap_one(&mut self, p: &str) -> Result<(), E820Error> {
        if p.starts_with("exactmap") {
            self.table.clear();
            self.userdef = true;
            return Ok(());
        }
        let (mem_size, rest) = memparse(p);
        if rest.len() == p.len() {
            return Err(E820Error::Inval(format!("memmap={p}")));
        }
        self.userdef = true;
        let mut rest = rest;
        let op = rest.as_bytes().first().copied();
        let add = |t| Some(t);
        let typ = match op {
            Some(b'@') => add(E820Type::Ram),
            Some(b'#') => add(E820Type::Acpi),
            Some(b'$') => add(E820Type::Reserved),
            Some(b'!') if has_pram(&self.era) => add(E820Type::Pram),
            _ => None,
        };
        if let Some(t) = typ {
            let (start_at, r) = memparse(&rest[1..]);
            rest = r;
            self.e820__range_add(start_at, mem_size, t);
        } else if op == Some(b'%') && memmap_has_retype(&self.era) {
            let (start_at, r) = memparse(&rest[1..]);
            rest = r;
            let (mut from, mut to) = (0u32, 0u32);
            if let Some(r) = rest.strip_prefix('-') {
                let (v, r) = simple_strtoull(r, 0);
                from = v as u32;
                rest = r;
            }
            if let Some(r) = rest.strip_prefix('+') {
                let (v, r) = simple_strtoull(r, 0);
                to = v as u32;
                rest = r;
            }
            if !rest.is_empty() {
                return Err(E820Error::Inval(format!("memmap={p}")));
            }
            let (f, t) = (E820Type::from_code(from), E820Type::from_code(to));
            if from != 0 && to != 0 {
                self.e820__range_update(start_at, mem_size, f, t)?;
            } else if to != 0 {
                self.e820__range_add(start_at, mem_size, t);
            } else if from != 0 {
                self.e820__range_remove(start_at, mem_size, f, true);
            } else {
                self.e820__range_remove(start_at, mem_size, E820Type::Other(0), false);
            }
        } else {
            self.e820__range_remove(mem_size, u64::MAX - mem_size, E820Type::Ram, true);
        }
        if rest.is_empty() {
            Ok(())
        } else {
            Err(E820Error::Inval(format!("memmap={p}")))
        }
    }

    /// arch/x86/kernel/e820.c: `e820__finish_early_params` (`finish_e820_parsing` before
    /// 4.12): after `mem=`/`memmap=`, sanitize and print the "user-defined physical RAM map".
    /// An unsanitizable user map is the kernel's early panic.
    pub fn e820__finish_early_params(&mut self) -> Result<(), E820Error> {
        if !self.userdef {
            return Ok(());
        }
        if self.update_table().is_err() {
            return Err(E820Error::InvalidUserMap);
        }
        pr_info!(
            self.printk,
            "{}user-defined physical RAM map:\n",
            self.prefix()
        );
        self.e820__print_table("user");
        Ok(())
    }

    /// arch/x86/kernel/e820.c: `e820__reserve_setup_data` — each setup_data blob
    /// (`(address, total length)` including its header) becomes RESERVED_KERN, printed as
    /// "usable ==> usable"; then sanitize and print the "extended physical RAM map".
    pub fn e820__reserve_setup_data(&mut self, blobs: &[(u64, u64)]) -> Result<(), E820Error> {
        if blobs.is_empty() {
            return Ok(());
        }
        let both = setup_data_updates_kexec_table(&self.era);
        for &(pa, len) in blobs {
            self.__e820__range_update(Table::Main, pa, len, E820Type::Ram, E820Type::ReservedKern)?;
            if both {
                self.__e820__range_update(
                    Table::Kexec,
                    pa,
                    len,
                    E820Type::Ram,
                    E820Type::ReservedKern,
                )?;
            }
        }
        let _ = self.update_table();
        if both {
            let _ = e820__update_table(&self.era, &mut self.table_kexec, self.max_entries);
        } else if !e820_rework(&self.era) {
            // memcpy(&e820_saved, &e820, ...)
            self.table_kexec = self.table.clone();
        }
        pr_info!(self.printk, "{}extended physical RAM map:\n", self.prefix());
        self.e820__print_table("reserve setup_data");
        Ok(())
    }

    /// arch/x86/kernel/e820.c: `e820__mapped_all` — `[start, end)` covered by entries of
    /// `typ` (the table must be sorted).
    pub fn e820__mapped_all(&self, start: u64, end: u64, typ: E820Type) -> bool {
        let mut start = start;
        for e in &self.table {
            if e.typ != typ {
                continue;
            }
            if e.addr >= end || e.end() <= start {
                continue;
            }
            if e.addr <= start {
                start = e.end();
            }
            if start >= end {
                return true;
            }
        }
        false
    }

    /// arch/x86/kernel/setup.c: `e820_add_kernel_range` — make sure `[_text, _end)` is RAM,
    /// complaining and forcing it if not. Absent before 3.9.
    pub fn e820_add_kernel_range(&mut self, start: u64, end: u64) {
        if !has_add_kernel_range(&self.era) {
            return;
        }
        let size = end.saturating_sub(start);
        if self.e820__mapped_all(start, start + size, E820Type::Ram) {
            return;
        }
        let tname = if e820_rework(&self.era) {
            "E820_TYPE_RAM"
        } else {
            "E820_RAM"
        };
        pr_warn!(
            self.printk,
            ".text .data .bss are not marked as {}!\n",
            tname
        );
        self.e820__range_remove(start, size, E820Type::Ram, false);
        self.e820__range_add(start, size, E820Type::Ram);
    }

    /// arch/x86/kernel/setup.c: `trim_bios_range` — the first page (2.6.36 … 3.8: the first
    /// `reserve_low` bytes, 64 KiB by default) becomes reserved, RAM in the legacy BIOS hole
    /// `[0xa0000, 1 MiB)` is removed, and the table is sanitized.
    pub fn trim_bios_range(&mut self, reserve_low: u64) {
        let first = if trim_bios_range_reserves_low(&self.era) {
            crate::include::addr::page_align(reserve_low)
        } else {
            crate::include::addr::PAGE_SIZE
        };
        if rhel6_reserves_low_64k(&self.era) {
            let _ = self.e820__range_update(0, 0x10000, E820Type::Ram, E820Type::Reserved);
        }
        let _ = self.e820__range_update(0, first, E820Type::Ram, E820Type::Reserved);
        self.e820__range_remove(0xa0000, 0x10_0000 - 0xa0000, E820Type::Ram, true);
        let _ = self.update_table();
    }
}

/// Which of the three tables an update applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Main,
    Kexec,
    Firmware,
}

/// `CONFIG_X86_RESERVE_LOW` default: 64 KiB.
pub const X86_RESERVE_LOW_DEFAULT: u64 = 64 << 10;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::era::KernelVersion;
    use E820Type::*;

    fn era(maj: u32, min: u32, patch: u32) -> Era {
        Era::new(KernelVersion::new(maj, min, patch), Arch::X86_64)
    }
    fn e(a: u64, s: u64, t: E820Type) -> E820Entry {
        E820Entry::new(a, s, t)
    }
    fn texts(p: &Printk) -> Vec<String> {
        p.lines().into_iter().map(|l| l.text).collect()
    }

    #[test]
    fn sanitize_overlaps_highest_type_wins() {
        let era = Era::default();
        // The kernel's comment example, in a small form: RAM overlapped by reserved and ACPI.
        let mut t = alloc::vec![
            e(0x0, 0x8000, Ram),
            e(0x4000, 0x2000, Reserved),
            e(0x1000, 0x1000, Nvs),
            e(0x9000, 0x1000, Acpi),
            e(0x9800, 0x1000, Ram),
        ];
        e820__update_table(&era, &mut t, 128).unwrap();
        assert_eq!(
            t,
            alloc::vec![
                e(0x0, 0x1000, Ram),
                e(0x1000, 0x1000, Nvs),
                e(0x2000, 0x2000, Ram),
                e(0x4000, 0x2000, Reserved),
                e(0x6000, 0x2000, Ram),
                e(0x9000, 0x1000, Acpi),
                e(0xa000, 0x800, Ram),
            ]
        );
    }

    #[test]
    fn sanitize_sorts_merges_drops_zero_and_nested() {
        let era = Era::default();
        let mut t = alloc::vec![
            e(0x100000, 0x100000, Ram),
            e(0x0, 0x9fc00, Ram),
            e(0x200000, 0x100000, Ram),
            e(0x50000, 0, Reserved),
            e(0x9fc00, 0x400, Reserved),
            e(0x180000, 0x1000, Ram),
        ];
        e820__update_table(&era, &mut t, 128).unwrap();
        assert_eq!(
            t,
            alloc::vec![
                e(0x0, 0x9fc00, Ram),
                e(0x9fc00, 0x400, Reserved),
                e(0x100000, 0x200000, Ram)
            ]
        );
    }

    #[test]
    fn sanitize_refuses_short_and_wrapping() {
        let era = Era::default();
        let mut one = alloc::vec![e(0, 0x1000, Ram)];
        assert_eq!(
            e820__update_table(&era, &mut one, 128),
            Err(E820Error::TooFewEntries)
        );
        let mut wrap = alloc::vec![e(0, 0x1000, Ram), e(u64::MAX - 0xfff, 0x2000, Reserved)];
        assert!(matches!(
            e820__update_table(&era, &mut wrap, 128),
            Err(E820Error::WrappingEntry { index: 1, .. })
        ));
        assert_eq!(wrap.len(), 2);
    }

    #[test]
    fn pram_and_soft_reserved_do_not_merge() {
        let mut t = alloc::vec![
            e(0x1000_0000, 0x1000_0000, Pram),
            e(0x2000_0000, 0x1000_0000, Pram)
        ];
        e820__update_table(&era(6, 6, 0), &mut t, 128).unwrap();
        assert_eq!(t.len(), 2);
        let mut t = alloc::vec![
            e(0x1000_0000, 0x1000_0000, SoftReserved),
            e(0x2000_0000, 0x1000_0000, SoftReserved)
        ];
        e820__update_table(&era(5, 4, 0), &mut t, 128).unwrap();
        assert_eq!(t.len(), 1);
        let mut t = alloc::vec![
            e(0x1000_0000, 0x1000_0000, SoftReserved),
            e(0x2000_0000, 0x1000_0000, SoftReserved)
        ];
        e820__update_table(&era(5, 10, 0), &mut t, 128).unwrap();
        assert_eq!(t.len(), 2);
        let mut t = alloc::vec![e(0, 0x1000, Ram), e(0x1000, 0x1000, Ram)];
        e820__update_table(&era(6, 6, 0), &mut t, 128).unwrap();
        assert_eq!(t, alloc::vec![e(0, 0x2000, Ram)]);
    }

    #[test]
    fn sanitize_caps_at_max_entries() {
        let era = Era::default();
        let mut t: Vec<E820Entry> = (0..10)
            .map(|i| e(i * 0x2000, 0x1000, if i % 2 == 0 { Ram } else { Reserved }))
            .collect();
        e820__update_table(&era, &mut t, 4).unwrap();
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn update_splits_and_appends() {
        let p = Printk::new();
        let mut m = E820::new(Era::default(), p.clone());
        m.table = alloc::vec![e(0, 0x9fc00, Ram), e(0x100000, 0x1000_0000, Ram)];
        // Strictly inside: head kept in place, range and tail appended.
        let n = m
            .e820__range_update(0x200000, 0x1000, Ram, Reserved)
            .unwrap();
        assert_eq!(n, 0x1000);
        assert_eq!(
            m.table,
            alloc::vec![
                e(0, 0x9fc00, Ram),
                e(0x100000, 0x100000, Ram),
                e(0x200000, 0x1000, Reserved),
                e(0x201000, 0x1000_0000 - 0x101000, Ram),
            ]
        );
        // Partial at the head of the first entry: shrunk from the front, piece appended.
        m.e820__range_update(0, 0x1000, Ram, Reserved).unwrap();
        assert_eq!(m.table[0], e(0x1000, 0x9ec00, Ram));
        assert_eq!(*m.table.last().unwrap(), e(0, 0x1000, Reserved));
        assert_eq!(
            texts(&p)[0],
            "e820: update [mem 0x00200000-0x00200fff] usable ==> reserved"
        );
        assert_eq!(
            texts(&p)[1],
            "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved"
        );
        assert_eq!(p.lines()[0].level, crate::printk::Level::Debug);
        assert!(m.e820__range_update(0, 1, Ram, Ram).is_err());
    }

    #[test]
    fn remove_zeroes_and_splits() {
        let p = Printk::new();
        let mut m = E820::new(Era::default(), p.clone());
        m.table = alloc::vec![
            e(0, 0xa0000, Ram),
            e(0xf0000, 0x10000, Reserved),
            e(0x100000, 0x100000, Ram)
        ];
        let r = m.e820__range_remove(0xa0000, 0x60000, Ram, true);
        assert_eq!(r, 0);
        let r = m.e820__range_remove(0x140000, 0x1000, Ram, true);
        assert_eq!(r, 0x1000);
        assert_eq!(m.table[2], e(0x100000, 0x40000, Ram));
        assert_eq!(m.table[3], e(0x141000, 0xbf000, Ram));
        let r = m.e820__range_remove(0xf0000, 0x10000, Ram, false);
        assert_eq!(r, 0x10000);
        assert_eq!(m.table[1].size, 0);
        assert_eq!(
            texts(&p)[0],
            "e820: remove [mem 0x000a0000-0x000fffff] usable"
        );
        assert_eq!(texts(&p)[2], "e820: remove [mem 0x000f0000-0x000fffff] ");
    }

    fn qemu6_6() -> Vec<E820Entry> {
        // memblock-debug/003-qemu-2node-4cpu-4g-memblock-debug-6.6.txt
        alloc::vec![
            e(0, 0x9fc00, Ram),
            e(0x9fc00, 0x400, Reserved),
            e(0xf0000, 0x10000, Reserved),
            e(0x100000, 0xbffe0000 - 0x100000, Ram),
            e(0xbffe0000, 0x20000, Reserved),
            e(0xfeffc000, 0x4000, Reserved),
            e(0xfffc0000, 0x40000, Reserved),
            e(0x1_0000_0000, 0x4000_0000, Ram),
        ]
    }

    #[test]
    fn qemu_6_6_boot_lines_match_the_log() {
        let p = Printk::new();
        let mut m = E820::new(era(6, 6, 41), p.clone());
        m.e820__memory_setup(&qemu6_6(), None).unwrap();
        m.trim_bios_range(X86_RESERVE_LOW_DEFAULT);
        let max_pfn = m.e820__end_of_ram_pfn();
        let low = m.e820__end_of_low_ram_pfn();
        assert_eq!((max_pfn, low), (0x140000, 0xbffe0));
        let want = [
            "BIOS-provided physical RAM map:",
            "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
            "BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved",
            "BIOS-e820: [mem 0x00000000000f0000-0x00000000000fffff] reserved",
            "BIOS-e820: [mem 0x0000000000100000-0x00000000bffdffff] usable",
            "BIOS-e820: [mem 0x00000000bffe0000-0x00000000bfffffff] reserved",
            "BIOS-e820: [mem 0x00000000feffc000-0x00000000feffffff] reserved",
            "BIOS-e820: [mem 0x00000000fffc0000-0x00000000ffffffff] reserved",
            "BIOS-e820: [mem 0x0000000100000000-0x000000013fffffff] usable",
            "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved",
            "e820: remove [mem 0x000a0000-0x000fffff] usable",
            "last_pfn = 0x140000 max_arch_pfn = 0x400000000",
            "last_pfn = 0xbffe0 max_arch_pfn = 0x400000000",
        ];
        assert_eq!(texts(&p), want);
        assert_eq!(m.table[0], e(0, 0x1000, Reserved));
        assert_eq!(m.table[1], e(0x1000, 0x9ec00, Ram));
        assert_eq!(m.table_firmware[0], e(0, 0x9fc00, Ram));
    }

    #[test]
    fn old_2_6_32_format() {
        // dmesg/026-qemu-512m-2.6.32-debian.txt
        let p = Printk::new();
        let mut m = E820::new(era(2, 6, 32), p.clone());
        let fw = alloc::vec![
            e(0, 0x9dc00, Ram),
            e(0x9dc00, 0x2400, Reserved),
            e(0xf0000, 0x10000, Reserved),
            e(0x100000, 0x1fffd000 - 0x100000, Ram),
            e(0x1fffd000, 0x3000, Reserved),
            e(0xfffbc000, 0x44000, Reserved),
        ];
        m.e820__memory_setup(&fw, None).unwrap();
        let t = texts(&p);
        assert_eq!(t[0], "BIOS-provided physical RAM map:");
        assert_eq!(
            t[1],
            " BIOS-e820: 0000000000000000 - 000000000009dc00 (usable)"
        );
        assert_eq!(
            t[6],
            " BIOS-e820: 00000000fffbc000 - 0000000100000000 (reserved)"
        );
        m.trim_bios_range(X86_RESERVE_LOW_DEFAULT);
        assert_eq!(m.e820__end_of_ram_pfn(), 0x1fffd);
        let t = texts(&p);
        assert_eq!(
            t[7],
            "e820 update range: 0000000000000000 - 0000000000001000 (usable) ==> (reserved)"
        );
        assert_eq!(
            t.last().unwrap(),
            "last_pfn = 0x1fffd max_arch_pfn = 0x400000000"
        );
    }

    #[test]
    fn three_x_forms() {
        // dmesg/039 (3.2 i386 PAE) and dmesg/047 (3.8 i386 PAE), dmesg/043 (3.11).
        let p = Printk::new();
        let mut m = E820::new(
            Era::new(KernelVersion::new(3, 2, 0), Arch::I386 { pae: true }),
            p.clone(),
        );
        m.table = alloc::vec![e(0, 0x9fc00, Ram), e(0x100000, 0x7ee0000, Ram)];
        m.trim_bios_range(X86_RESERVE_LOW_DEFAULT);
        m.e820__end_of_ram_pfn();
        assert_eq!(
            texts(&p),
            [
                "e820 update range: 0000000000000000 - 0000000000010000 (usable) ==> (reserved)",
                "e820 remove range: 00000000000a0000 - 0000000000100000 (usable)",
                "last_pfn = 0x7fe0 max_arch_pfn = 0x1000000",
            ]
        );
        let p = Printk::new();
        let mut m = E820::new(
            Era::new(KernelVersion::new(3, 8, 13), Arch::I386 { pae: true }),
            p.clone(),
        );
        m.table = alloc::vec![
            e(0, 0x9c400, Ram),
            e(0x100000, 0x1_5800_0000 - 0x100000, Ram)
        ];
        m.trim_bios_range(X86_RESERVE_LOW_DEFAULT);
        m.e820__end_of_ram_pfn();
        assert_eq!(
            texts(&p),
            [
                "e820: update [mem 0x00000000-0x0000ffff] usable ==> reserved",
                "e820: remove [mem 0x000a0000-0x000fffff] usable",
                "e820: last_pfn = 0x158000 max_arch_pfn = 0x1000000",
            ]
        );
        let p = Printk::new();
        let mut m = E820::new(era(3, 11, 10), p.clone());
        m.e820__memory_setup(&[e(0, 0x9d800, Ram), e(0x9d800, 0x2800, Reserved)], None)
            .unwrap();
        m.trim_bios_range(X86_RESERVE_LOW_DEFAULT);
        let t = texts(&p);
        assert_eq!(t[0], "e820: BIOS-provided physical RAM map:");
        assert_eq!(
            t[1],
            "BIOS-e820: [mem 0x0000000000000000-0x000000000009d7ff] usable"
        );
        assert_eq!(
            t[3],
            "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved"
        );
    }

    #[test]
    fn end_pfn_limits_and_acpi() {
        let p = Printk::new();
        let mut m = E820::new(era(6, 6, 0), p.clone());
        m.table = alloc::vec![
            e(0x1000, 0x9e000, Ram),
            e(0x100000, 0x7ff00000, Ram),
            e(0x8000_0000, 0x10_0000, Acpi)
        ];
        assert_eq!(m.e820__end_of_ram_pfn(), 0x80000);
        m.era = era(6, 12, 0);
        assert_eq!(m.e820__end_of_ram_pfn(), 0x80100);
        // A RAM range crossing the limit stops the scan at the limit.
        m.table = alloc::vec![e(0x100000, 0x1_4000_0000, Ram)];
        assert_eq!(m.e820__end_of_low_ram_pfn(), 0x100000);
        // Capped at MAX_ARCH_PFN (i386 non-PAE: 4 GiB).
        m.era = Era::new(KernelVersion::new(6, 1, 0), Arch::I386 { pae: false });
        m.table = alloc::vec![e(0, 0x2_0000_0000, Ram)];
        assert_eq!(m.e820__end_of_ram_pfn(), 0x100000);
    }

    #[test]
    fn mem_and_memmap() {
        let p = Printk::new();
        let mut m = E820::new(Era::default(), p.clone());
        m.table = qemu6_6();
        m.parse_memopt(Some("2G")).unwrap();
        m.e820__finish_early_params().unwrap();
        assert_eq!(m.table.last().unwrap(), &e(0xfffc0000, 0x40000, Reserved));
        assert!(m.table.contains(&e(0x100000, 0x8000_0000 - 0x100000, Ram)));
        let t = texts(&p);
        assert_eq!(
            t[0],
            "e820: remove [mem 0x80000000-0xfffffffffffffffe] usable"
        );
        assert_eq!(t[1], "user-defined physical RAM map:");
        assert!(t[2].starts_with("user: [mem 0x0000000000000000-"));

        let mut m = E820::new(Era::default(), Printk::new());
        m.table = qemu6_6();
        assert!(m
            .parse_memmap_opt(Some("exactmap,640K@0,1G@1M,64K$0x18690000,1M#2G"))
            .is_empty());
        m.e820__finish_early_params().unwrap();
        assert_eq!(
            m.table,
            alloc::vec![
                e(0, 0xa0000, Ram),
                e(0x100000, 0x1869_0000 - 0x100000, Ram),
                e(0x1869_0000, 0x10000, Reserved),
                e(0x186a_0000, 0x4010_0000 - 0x186a_0000, Ram),
                e(0x8000_0000, 0x10_0000, Acpi),
            ]
        );
        let mut m = E820::new(Era::default(), Printk::new());
        m.table = qemu6_6();
        assert!(m.parse_memmap_one("1G%4G-1+12").is_ok());
        assert!(m.table.contains(&e(0x1_0000_0000, 0x4000_0000, Pram)));
        assert!(m.parse_memmap_one("junk").is_err());
        assert!(m.parse_memmap_one("1G@4Gjunk").is_err());
        let p = Printk::new();
        let mut m = E820::new(Era::default(), p.clone());
        assert!(m.parse_memopt(Some("nopentium")).is_err());
        assert_eq!(
            texts(&p),
            ["mem=nopentium ignored! (only supported on x86_32)"]
        );
        // A map with one entry cannot be sanitized: the kernel panics.
        let mut m = E820::new(Era::default(), Printk::new());
        m.parse_memmap_opt(Some("exactmap,1G@0"));
        assert_eq!(
            m.e820__finish_early_params(),
            Err(E820Error::InvalidUserMap)
        );
    }

    #[test]
    fn memory_setup_fallbacks() {
        let mut m = E820::new(Era::default(), Printk::new());
        assert_eq!(
            m.e820__memory_setup(&[e(0, 0x1000, Ram)], None),
            Err(E820Error::NoFirmwareMap)
        );
        let p = Printk::new();
        let mut m = E820::new(Era::default(), p.clone());
        m.e820__memory_setup(
            &[],
            Some(LegacyMemSize {
                ext_mem_k: 0xfc00,
                alt_mem_k: 0x3ff00,
            }),
        )
        .unwrap();
        assert_eq!(
            texts(&p)[1],
            "BIOS-e801: [mem 0x0000000000000000-0x000000000009ffff] usable"
        );
        assert_eq!(m.table[1], e(0x100000, 0x3ff00 << 10, Ram));
    }

    #[test]
    fn too_many_entries_message() {
        let p = Printk::new();
        let mut m = E820::new(Era::default(), p.clone());
        m.max_entries = 1;
        m.e820__range_add(0, 0x1000, Ram);
        m.e820__range_add(0x2000, 0x1000, Ram);
        assert_eq!(
            texts(&p),
            ["too many entries; ignoring [mem 0x00002000-0x00002fff]"]
        );
    }

    #[test]
    fn setup_data_and_kernel_range() {
        // dmesg/050 (6.4): each blob updates both tables, printed twice.
        let p = Printk::new();
        let mut m = E820::new(era(6, 4, 7), p.clone());
        m.e820__memory_setup(&[e(0, 0x3f000, Ram), e(0x100000, 0x7000_0000, Ram)], None)
            .unwrap();
        m.e820__reserve_setup_data(&[(0x6fcb8018, 0x6fcd6458 - 0x6fcb8018)])
            .unwrap();
        let t = texts(&p);
        assert_eq!(
            t[3],
            "e820: update [mem 0x6fcb8018-0x6fcd6457] usable ==> usable"
        );
        assert_eq!(t[4], t[3]);
        assert_eq!(t[5], "extended physical RAM map:");
        assert_eq!(
            t[8],
            "reserve setup_data: [mem 0x000000006fcb8018-0x000000006fcd6457] usable"
        );
        let p = Printk::new();
        let mut m = E820::new(Era::default(), p.clone());
        m.table = alloc::vec![e(0, 0x9f000, Ram), e(0x100000, 0x100000, Ram)];
        m.e820_add_kernel_range(0x100000, 0x400000);
        assert_eq!(
            texts(&p)[0],
            ".text .data .bss are not marked as E820_TYPE_RAM!"
        );
        m.update_table().unwrap();
        assert!(m.e820__mapped_all(0x100000, 0x400000, Ram));
    }

    #[test]
    fn type_names_per_era() {
        assert_eq!(e820_type_name(&era(3, 18, 0), Pram), "type 12");
        assert_eq!(e820_type_name(&era(4, 4, 0), Pmem), "persistent (type 7)");
        assert_eq!(
            e820_type_name(&era(4, 19, 0), SoftReserved),
            "type 4026531839"
        );
        assert_eq!(
            e820_type_name(&era(5, 10, 0), SoftReserved),
            "soft reserved"
        );
        assert_eq!(e820_type_name(&era(2, 6, 32), Nvs), "(ACPI NVS)");
        assert_eq!(e820_type_name(&era(6, 1, 0), Other(20)), "type 20");
        assert_eq!(e820_type_name(&era(6, 1, 0), ReservedKern), "usable");
        assert!(kvm_init_platform_reads_low_ram_pfn(&era(6, 18, 44)));
        assert!(kvm_init_platform_reads_low_ram_pfn(&era(6, 12, 54)));
        assert!(!kvm_init_platform_reads_low_ram_pfn(&era(6, 12, 53)));
        assert!(!kvm_init_platform_reads_low_ram_pfn(&era(6, 14, 0)));
        assert_eq!(e820_msg_prefix(&era(4, 15, 0)), "e820: ");
        assert_eq!(e820_msg_prefix(&era(4, 18, 0)), "");
        assert_eq!(e820_msg_prefix(&era(3, 2, 0)), "");
    }
}
