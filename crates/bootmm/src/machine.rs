//! A machine description: everything firmware, bootloader, build and command line decide
//! before the kernel runs its first memory-management line.
//!
//! The kernel learns these facts from `boot_params` (the e820 map, the initrd), from its own
//! build (NR_CPUS, the image's section sizes) and from the command line. bootmm takes them
//! as one value, built from a preset, from `--mem/--cpus`, from an e820 file, from a real
//! boot log, or from the host. Nothing in here is computed by the model.

use alloc::string::String;
use alloc::vec::Vec;

use crate::arch::x86::e820::E820Entry;
use crate::era::Era;

/// The kernel image as the linker laid it out (`_text` … `_end`), and the section sizes
/// the "Memory:" line reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelImage {
    /// Physical address of `_text` (CONFIG_PHYSICAL_START, 16 MiB by default; no KASLR).
    pub phys_start: u64,
    /// `_etext - _stext` (kernel code), bytes.
    pub text: u64,
    /// `_edata - _sdata` less init and rodata overlap (rwdata), bytes.
    pub rwdata: u64,
    /// `__end_rodata - __start_rodata`, bytes.
    pub rodata: u64,
    /// `__init_end - __init_begin`, bytes.
    pub init: u64,
    /// `__bss_stop - __bss_start`, bytes.
    pub bss: u64,
    /// End of what `early_reserve_memory` reserves (`__end_of_kernel_reserve`), when known
    /// exactly (a memblock=debug log prints it). Otherwise derived by [`KernelImage::reserve_end`].
    pub reserve_end: Option<u64>,
}

/// `PMD_SIZE` on x86_64: the kernel's sections are 2 MiB aligned where the linker script says so.
const PMD_SIZE: u64 = 2 << 20;

impl KernelImage {
    /// The physical end of the reserved image. Without an exact figure, lay the sections out
    /// the way arch/x86/kernel/vmlinux.lds.S does on x86_64: text, rodata and data each start
    /// on a 2 MiB boundary, init and bss on a page, and the whole is rounded to 2 MiB. This is
    /// an estimate (the linker adds tables the "Memory:" line does not count); see
    /// docs/divergences.md.
    pub fn reserve_end(&self) -> u64 {
        if let Some(e) = self.reserve_end {
            return e;
        }
        use crate::include::addr::{page_align, round_up};
        let mut p = self.phys_start + self.text;
        p = round_up(p, PMD_SIZE) + self.rodata;
        p = round_up(p, PMD_SIZE) + self.rwdata;
        p = page_align(p) + self.init;
        p = page_align(p) + self.bss;
        round_up(p, PMD_SIZE)
    }
}

/// Which hypervisor the kernel detects (`Hypervisor detected: …`); some eras act on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hypervisor {
    Kvm,
    Xen,
    VMware,
    HyperV,
    Other,
}

/// What the BIOS leaves in its data area for `reserve_bios_regions` (arch/x86/kernel/ebda.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BiosDataArea {
    /// The word at 0x413: KiB of conventional memory below the EBDA.
    pub base_mem_kb: u16,
    /// The EBDA segment at 0x40e (physical address >> 4); 0 when there is none.
    pub ebda_segment: u16,
}

/// A machine description.
#[derive(Clone, Debug)]
pub struct Machine {
    /// A short name for reports ("qemu-4g", a log's file name, …).
    pub name: String,
    /// The kernel being booted.
    pub era: Era,
    /// The firmware's e820 map, as handed over in boot_params (unsorted, possibly overlapping).
    pub e820: Vec<E820Entry>,
    /// Possible CPUs (nr_cpu_ids).
    pub cpus: u32,
    /// CONFIG_NR_CPUS.
    pub nr_cpus: u32,
    /// The kernel image.
    pub image: KernelImage,
    /// The initrd (`RAMDISK: [mem …]`): start and size in bytes.
    pub initrd: Option<(u64, u64)>,
    /// The kernel command line.
    pub cmdline: String,
    /// The hypervisor the kernel detects, if any.
    pub hypervisor: Option<Hypervisor>,
    /// The BIOS data area; `None` on platforms without a legacy BIOS (the kernel then skips it).
    pub bda: Option<BiosDataArea>,
}

impl Machine {
    /// A machine with no memory at all (the starting point of `--bare` scripts).
    pub fn empty() -> Self {
        Machine {
            name: String::from("bare"),
            era: Era::default(),
            e820: Vec::new(),
            cpus: 1,
            nr_cpus: 1,
            image: KernelImage {
                phys_start: 0x100_0000,
                text: 0,
                rwdata: 0,
                rodata: 0,
                init: 0,
                bss: 0,
                reserve_end: Some(0x100_0000),
            },
            initrd: None,
            cmdline: String::new(),
            hypervisor: None,
            bda: None,
        }
    }
}
