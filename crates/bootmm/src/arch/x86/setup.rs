//! `arch/x86/kernel/setup.c`: `setup_arch`, the x86 half of early boot.
//!
//! `setup_arch` turns the firmware's e820 map into memblock, reserves what the kernel,
//! the bootloader and the BIOS still occupy, and sizes memory (`max_pfn`, `max_low_pfn`).
//! bootmm runs the memory steps in each era's order; steps with no memory effect (CPU
//! feature setup, ACPI parsing, consoles) are left out; the `brk` area is part of the kernel
//! image reservation (see docs/divergences.md).

// Model functions keep the kernel's names, double underscores included.
#![allow(non_snake_case)]

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::arch::x86::e820::{
    kvm_init_platform_reads_low_ram_pfn, E820Type, X86_RESERVE_LOW_DEFAULT,
};
use crate::include::PAGE_SIZE;
use crate::init::main::BootError;
use crate::kernel::Kernel;
use crate::klib::cmdline::split_args;
use crate::machine::Hypervisor;
use crate::machine::{E820OpKind, E820OpStage};
use crate::{pr_debug, pr_info, pr_warn, PhysAddr};

/// `ISA_END_ADDRESS`: the end of the first megabyte.
pub const ISA_END_ADDRESS: u64 = 0x10_0000;
/// `BIOS_RAM_SIZE_KB_PTR`: where the BIOS keeps the KiB of conventional memory.
const BIOS_RAM_SIZE_KB_PTR: u64 = 0x413;
/// The BIOS data area word holding the EBDA segment.
const BIOS_EBDA_SEGMENT_PTR: u64 = 0x40e;
/// `BIOS_START_MIN` / `BIOS_START_MAX` (arch/x86/kernel/ebda.c).
const BIOS_START_MIN: u64 = 0x2_0000;
const BIOS_START_MAX: u64 = 0x9_f000;
/// `CONFIG_X86_RESERVE_LOW` default, KiB (trim_low_memory_range before 5.13).
const X86_RESERVE_LOW_KB: u64 = 64;

/// The firmware's part, before the kernel runs: write the BIOS data area into RAM so that
/// `reserve_bios_regions` reads it from memory, as the kernel does.
pub fn bios_post(k: &mut Kernel) -> Result<(), BootError> {
    if let Some(bda) = k.machine.bda {
        let ram = &k.phys;
        let write16 = |pa: u64, v: u16| -> Result<(), BootError> {
            let p = ram.host_ptr(PhysAddr(pa), 2)?;
            // SAFETY: host_ptr validated the two bytes; the mapping is writable.
            unsafe { core::ptr::write_unaligned(p.as_ptr().cast::<u16>(), v) };
            Ok(())
        };
        if k.phys.end().0 >= ISA_END_ADDRESS {
            write16(BIOS_RAM_SIZE_KB_PTR, bda.base_mem_kb)?;
            write16(BIOS_EBDA_SEGMENT_PTR, bda.ebda_segment)?;
        }
    }
    Ok(())
}

fn read16(k: &Kernel, pa: u64) -> Result<u16, BootError> {
    let p = k.phys.host_ptr(PhysAddr(pa), 2)?;
    // SAFETY: host_ptr validated the two bytes.
    Ok(unsafe { core::ptr::read_unaligned(p.as_ptr().cast::<u16>()) })
}

/// arch/x86/kernel/setup.c: `setup_arch` (the memory-management steps).
pub fn setup_arch(k: &mut Kernel) -> Result<(), BootError> {
    let _t = k.trace.enter("setup_arch", "arch/x86/kernel/setup.c");
    bios_post(k)?;
    if k.era.is_64bit() {
        pr_info!(k.printk, "Command line: {}\n", k.machine.cmdline);
    }

    // Reservations made before memory is added to memblock.
    let early_res = k.era.early_allocator() == crate::era::EarlyAllocator::Bootmem;
    if early_res {
        // 2.6: early_res[]'s static entries come first (its initializer), then
        // x86_64_start_reservations' (head64.c) image and initrd.
        crate::arch::x86::early_res::early_res_static(k)?;
    }
    if k.era.at_least(5, 13) {
        early_reserve_memory(k)?;
    } else {
        reserve_kernel_image(k)?;
        if k.era.at_least(4, 19) {
            // memblock_reserve(0, PAGE_SIZE): page 0 is never handed out (L1TF).
            memblock_reserve(k, 0, PAGE_SIZE)?;
        }
        early_reserve_initrd(k)?;
    }

    e820__memory_setup(k)?;
    parse_early_param(k);
    {
        let _t = k
            .trace
            .enter("e820__reserve_setup_data", "arch/x86/kernel/e820.c");
        let blobs = k.machine.setup_data.clone();
        k.e820
            .e820__reserve_setup_data(&blobs)
            .map_err(|e| BootError::E820(e.to_string()))?;
    }
    {
        let _t = k
            .trace
            .enter("e820__finish_early_params", "arch/x86/kernel/e820.c");
        k.e820.e820__finish_early_params().map_err(|e| {
            // early_panic: the message on the early console, then panic().
            crate::pr_emerg!(k.printk, "Kernel panic - not syncing: {e}\n");
            BootError::E820(e.to_string())
        })?;
    }
    let _ = apply_firmware_e820_ops(k, E820OpStage::BeforeTrimBios);
    init_hypervisor_platform(k);

    {
        let (start, end) = kernel_image_range(k);
        let _t = k
            .trace
            .enter("e820_add_kernel_range", "arch/x86/kernel/setup.c");
        k.e820.e820_add_kernel_range(start, end);
    }
    if crate::arch::x86::e820::has_trim_bios_range(&k.era) {
        let _t = k.trace.enter("trim_bios_range", "arch/x86/kernel/setup.c");
        k.e820.trim_bios_range(X86_RESERVE_LOW_DEFAULT);
    }

    k.max_pfn = {
        let _t = k
            .trace
            .enter("e820__end_of_ram_pfn", "arch/x86/kernel/e820.c");
        k.e820.e820__end_of_ram_pfn()
    };
    // mtrr_trim_uncached_memory: its e820 changes come from the machine description.
    if apply_firmware_e820_ops(k, E820OpStage::AfterMaxPfn).0 != 0 {
        let _t = k
            .trace
            .enter("e820__end_of_ram_pfn", "arch/x86/kernel/e820.c");
        k.max_pfn = k.e820.e820__end_of_ram_pfn();
    }
    if k.max_pfn == 0 {
        // The kernel has nothing to run on and dies later in init_mem_mapping; stop here.
        return Err(BootError::E820(String::from(
            "the e820 map has no usable RAM",
        )));
    }
    k.max_possible_pfn = k.max_pfn;
    if k.era.is_64bit() {
        k.max_low_pfn = if k.max_pfn > 1 << (32 - 12) {
            let _t = k
                .trace
                .enter("e820__end_of_low_ram_pfn", "arch/x86/kernel/e820.c");
            k.e820.e820__end_of_low_ram_pfn()
        } else {
            k.max_pfn
        };
    } else {
        crate::arch::x86::init_32::find_low_pfn_range(k)?;
    }

    // Only the first megabyte is sure to be mapped yet: memblock may not resize into more.
    // (Newer kernels make this call inside e820__memblock_setup; the effect is the same.)
    k.memblock.memblock_set_current_limit(ISA_END_ADDRESS);
    e820__memblock_setup(k)?;
    // Late firmware changes (EFI memory reservations, …) reach e820 after memblock is
    // filled; the ones that take RAM away reserve it in memblock too, as efi_mem_reserve does.
    for (start, end) in apply_firmware_e820_ops(k, E820OpStage::Late).1 {
        memblock_reserve(k, start, end - start)?;
    }

    if !k.era.at_least(5, 13) {
        reserve_bios_regions(k)?;
    }
    if !early_res {
        reserve_real_mode(k)?;
        if !k.era.at_least(5, 13) {
            trim_low_memory_range(k)?;
        }
    }
    if early_res {
        reserve_brk(k)?;
    }
    init_mem_mapping(k)?;
    k.memblock
        .memblock_set_current_limit(k.max_pfn_mapped << 12);
    // Allocate bigger log buffer
    crate::kernel::printk::setup_log_buf(k, true);
    early_acpi_boot_init(k)?;

    if k.era.is_64bit() {
        crate::arch::x86::numa::initmem_init(k)?;
        if k.era.early_allocator() == crate::era::EarlyAllocator::Bootmem && k.bootmem.is_none() {
            // Only numa_64.c's setup_node_bootmem builds the bitmap here.
            return Err(BootError::Unmodelled(String::from(
                "a 2.6 x86_64 kernel without CONFIG_NUMA: init_64.c's initmem_init (setup_bootmem_allocator's bitmap) is not modelled",
            )));
        }
    } else {
        crate::arch::x86::init_32::initmem_init(k)?;
    }
    if k.era.is_64bit()
        && !k.era.at_least(6, 11)
        && k.era.early_allocator() != crate::era::EarlyAllocator::Bootmem
    {
        memblock_find_dma_reserve(k);
    }
    if crate::mm::nobootmem::bootmem_live(k) && k.era.is_64bit() {
        acpi_reserve_bootmem(k)?;
    }
    crate::arch::x86::init_64::paging_init(k)?;
    crate::arch::x86::numa::init_cpu_to_node(k)?;
    e820__reserve_resources(k)?;
    if !nosave_mem_form(&k.era) {
        e820_mark_nosave_regions(k)?;
    }
    Ok(())
}

/// Whether `__register_nosave_region` prints the `[mem %#010llx-%#010llx]` form (from 3.10,
/// believed: a 3.8 log prints the old `%016lx - %016lx` form, a 3.11 log the new one). Only
/// the old form and its era are modelled.
fn nosave_mem_form(era: &crate::era::Era) -> bool {
    era.at_least(3, 10)
}

/// arch/x86/kernel/e820.c (CONFIG_HIBERNATION, before 3.10): `e820_mark_nosave_regions(max_low_pfn)`:
/// every gap between e820 entries and every entry that is neither RAM nor kernel-reserved
/// RAM, up to the entry that reaches `max_low_pfn`, is registered with
/// kernel/power/snapshot.c's `__register_nosave_region`: one line each, and a 32-byte
/// `struct nosave_region` from `alloc_bootmem` (the bitmap in 2.6, memblock through
/// nobootmem after) unless it extends the previous region.
///
/// # Errors
/// [`BootError::NoMemory`]: the bootmem allocation failed (the kernel oopses).
fn e820_mark_nosave_regions(k: &mut Kernel) -> Result<(), BootError> {
    use crate::arch::x86::e820::E820Type;
    let _t = k
        .trace
        .enter("e820_mark_nosave_regions", "arch/x86/kernel/e820.c");
    let table = k.e820.table.clone();
    let Some(first) = table.first() else {
        return Ok(());
    };
    let limit = k.max_low_pfn;
    let mut last_end: Option<u64> = None;
    let mut register = |k: &mut Kernel, start: u64, end: u64| -> Result<(), BootError> {
        if start >= end {
            return Ok(());
        }
        if last_end != Some(start) {
            let _t = k
                .trace
                .enter("__register_nosave_region", "kernel/power/snapshot.c");
            let p = crate::mm::nobootmem::alloc_bootmem(k, 32, crate::include::SMP_CACHE_BYTES)
                .map_err(BootError::NoMemory)?;
            if p.is_none() {
                return Err(BootError::NoMemory(String::from(
                    "__register_nosave_region: bootmem alloc of 32 bytes failed!",
                )));
            }
        }
        last_end = Some(end);
        crate::pr_info!(
            k.printk,
            "PM: Registered nosave memory: {:016x} - {:016x}\n",
            start << 12,
            end << 12
        );
        Ok(())
    };
    let mut pfn = (first.addr + first.size) >> 12;
    for ei in table.iter().skip(1) {
        let up = ei.addr.div_ceil(PAGE_SIZE);
        if pfn < up {
            register(k, pfn, up)?;
        }
        pfn = (ei.addr + ei.size) >> 12;
        if !matches!(ei.typ, E820Type::Ram | E820Type::ReservedKern) {
            register(k, up, pfn)?;
        }
        if pfn >= limit {
            break;
        }
    }
    Ok(())
}

/// arch/x86/kernel/e820.c: `e820__reserve_resources` (`e820_reserve_resources` before
/// 4.12), for its memory: one `struct resource` per e820 entry for the iomem tree, from
/// `alloc_bootmem` until 4.19 and `memblock_alloc` (SMP_CACHE_BYTES) after. It runs late in
/// `setup_arch`, before the percpu first chunk, whose address (page-aligned on i386) it can
/// move. `sizeof(struct resource)`: start and end (`resource_size_t`, 64-bit on x86_64 and
/// PAE), the name pointer, flags, from 4.6 the descriptor, and three tree pointers.
///
/// # Errors
/// [`BootError::NoMemory`]: the kernel panics.
fn e820__reserve_resources(k: &mut Kernel) -> Result<(), BootError> {
    let name = if crate::arch::x86::e820::e820_rework(&k.era) {
        "e820__reserve_resources"
    } else {
        "e820_reserve_resources"
    };
    let _t = k.trace.enter(name, "arch/x86/kernel/e820.c");
    let n = k.e820.table.len() as u64;
    if n == 0 {
        return Ok(());
    }
    let (word, addr) = match k.era.arch {
        crate::era::Arch::X86_64 => (8, 8),
        crate::era::Arch::I386 { pae } => (4, if pae { 8 } else { 4 }),
    };
    let desc = u64::from(k.era.at_least(4, 6));
    let size = n * (2 * addr + word * (2 + desc + 3));
    let nomem = |e: String| BootError::NoMemory(alloc::format!("{name}: {e}"));
    let p = crate::mm::nobootmem::alloc_bootmem(k, size, 64).map_err(nomem)?;
    p.ok_or_else(|| {
        BootError::NoMemory(alloc::format!(
            "{name}: no {size} bytes for the iomem resources"
        ))
    })?;
    // drivers/firmware/memmap.c: firmware_map_add_early for each entry of the firmware's own
    // map (e820_saved / e820_table_firmware), for /sys/firmware/memmap (CONFIG_FIRMWARE_MEMMAP,
    // which distribution builds set): one `struct firmware_map_entry` each (start, end, the
    // type's name, a list head and a kobject).
    let entry = match k.era.arch {
        crate::era::Arch::X86_64 => 104,
        crate::era::Arch::I386 { .. } => 64,
    };
    for _ in 0..k.e820.table_firmware.len() {
        let _t = k
            .trace
            .enter("firmware_map_add_early", "drivers/firmware/memmap.c");
        let p = crate::mm::nobootmem::alloc_bootmem(k, entry, 64).map_err(nomem)?;
        if p.is_none() {
            // The kernel's firmware_map_add_early returns -ENOMEM and carries on.
            break;
        }
    }
    Ok(())
}

/// `__START_KERNEL_map + 1 GiB * 511`: the start of the 1 GiB `level2_fixmap_pgt` maps.
const LEVEL2_FIXMAP_BASE: u64 = 0xffff_ffff_c000_0000;
/// The `level2_fixmap_pgt` entry that points at the static `level1_fixmap_pgt`.
const LEVEL1_FIXMAP_PMD: u64 = 506;

/// arch/x86/kernel/acpi/boot.c: `early_acpi_boot_init`, for its memory effect:
/// `register_lapic_address` maps the local APIC with `set_fixmap_nocache(FIX_APIC_BASE)`.
/// On x86_64 the fixmap's PTE pages are static only under the PMD entries `head_64.S` fills
/// (506; 506–507 from 4.19, `FIXMAP_PMD_NUM`); a build whose `FIX_APIC_BASE` lies elsewhere
/// (no vsyscall page below it) takes a PTE page from memblock in `spp_getpage`. Where the
/// APIC's fixmap address is not known it is taken to lie in the static page.
fn early_acpi_boot_init(k: &mut Kernel) -> Result<(), BootError> {
    let Some(va) = k.machine.apic_fixmap else {
        return Ok(());
    };
    if !k.era.is_64bit() || va < LEVEL2_FIXMAP_BASE {
        return Ok(());
    }
    let _t = k
        .trace
        .enter("early_acpi_boot_init", "arch/x86/kernel/acpi/boot.c");
    let _t2 = k
        .trace
        .enter("register_lapic_address", "arch/x86/kernel/apic/apic.c");
    let pmd = (va - LEVEL2_FIXMAP_BASE) >> 21;
    let static_pmds = if k.era.at_least(4, 19) { 2 } else { 1 };
    if (LEVEL1_FIXMAP_PMD..LEVEL1_FIXMAP_PMD + static_pmds).contains(&pmd) {
        return Ok(());
    }
    let _t3 = k.trace.enter("set_pte_vaddr", "arch/x86/mm/init_64.c");
    let _t4 = k.trace.enter("spp_getpage", "arch/x86/mm/init_64.c");
    // alloc_bootmem_pages (from 16 MiB up) before 4.20, memblock_alloc after.
    let floor = if k.era.at_least(4, 20) { 0 } else { 16 << 20 };
    let p = k
        .memblock
        .memblock_alloc_try_nid(
            PAGE_SIZE,
            PAGE_SIZE,
            floor,
            crate::mm::memblock::MEMBLOCK_ALLOC_ACCESSIBLE,
            crate::include::NUMA_NO_NODE,
        )
        .map_err(|e| BootError::NoMemory(e.to_string()))?;
    if p.is_none() {
        return Err(BootError::NoMemory(String::from(
            "spp_getpage: cannot allocate a fixmap page table",
        )));
    }
    Ok(())
}

/// arch/x86/kernel/acpi/sleep.c (2.6.x): `acpi_reserve_bootmem` (CONFIG_ACPI_SLEEP, which
/// distribution builds set): the S3 wakeup code's low buffer, `alloc_bootmem_low(WAKEUP_SIZE)`
/// (16 KiB below 4 GiB, from the bottom: usually the first bootmem allocation). Later eras
/// put the wakeup code in the real-mode blob. A failure only disables S3, as in the kernel.
fn acpi_reserve_bootmem(k: &mut Kernel) -> Result<(), BootError> {
    const WAKEUP_SIZE: u64 = 0x4000;
    let _t = k
        .trace
        .enter("acpi_reserve_bootmem", "arch/x86/kernel/acpi/sleep.c");
    let p = crate::mm::nobootmem::bootmem_alloc(
        k,
        WAKEUP_SIZE,
        crate::include::SMP_CACHE_BYTES,
        0,
        crate::mm::bootmem::ARCH_LOW_ADDRESS_LIMIT,
    )
    .map_err(BootError::NoMemory)?;
    if p.is_none() {
        crate::pr_err!(k.printk, "ACPI: Cannot allocate lowmem, S3 disabled.\n");
    }
    Ok(())
}

/// arch/x86/kernel/e820.c: `memblock_find_dma_reserve` (x86_64, before 6.11): the pages
/// below 16 MiB that memblock holds reserved, charged to ZONE_DMA as "pages reserved".
fn memblock_find_dma_reserve(k: &mut Kernel) {
    let _t = k
        .trace
        .enter("memblock_find_dma_reserve", "arch/x86/kernel/e820.c");
    let mem = crate::arch::x86::init_64::mem_ranges(k);
    let free = crate::arch::x86::init_64::free_ranges(k);
    k.dma_reserve = crate::mm::mm_init::memblock_find_dma_reserve(&mem, &free);
}

/// arch/x86/mm/init.c: `init_mem_mapping`. On x86_64 the direct map of all RAM up to
/// `max_pfn` is built (arch/x86/init.rs); i386's lowmem map in arch/x86/pgtable_32.rs.
fn init_mem_mapping(k: &mut Kernel) -> Result<(), BootError> {
    if k.era.is_64bit() && k.era.at_least(3, 9) {
        crate::arch::x86::init::check_direct_map_budget(k)?;
        crate::arch::x86::init::init_mem_mapping(k).map_err(BootError::NoMemory)
    } else if k.era.is_64bit() && k.era.early_allocator() == crate::era::EarlyAllocator::Bootmem {
        // 2.6.x: init_memory_mapping for lowmem, then for the RAM above 4 GiB, each with its
        // find_early_table_space block.
        let _t = k.trace.enter("init_memory_mapping", "arch/x86/mm/init.c");
        let low = k.max_low_pfn << 12;
        early_table_space(k, 0, low)?;
        if k.max_pfn > k.max_low_pfn {
            early_table_space(k, 1 << 32, k.max_pfn << 12)?;
            // "can we preseve max_low_pfn ?"
            k.max_low_pfn = k.max_pfn;
        }
        k.max_pfn_mapped = k.max_pfn;
        k.direct_map.uncertain = Some(String::from(
            "2.6's direct map is estimated from its page count (find_early_table_space), not built",
        ));
        Ok(())
    } else if k.era.is_64bit() {
        // Before 3.9 find_early_table_space sized one block for all the tables up front;
        // that scheme is not modelled.
        let _t = k.trace.enter("init_mem_mapping", "arch/x86/mm/init.c");
        k.max_pfn_mapped = k.max_pfn;
        k.max_low_pfn = k.max_pfn;
        k.direct_map.uncertain = Some(String::from(
            "init_memory_mapping's page-table block (find_early_table_space, before 3.9) is not modeled",
        ));
        Ok(())
    } else {
        crate::arch::x86::pgtable_32::init_mem_mapping(k).map_err(BootError::NoMemory)
    }
}

/// `[_text, end of the kernel reservation)` as physical addresses.
fn kernel_image_range(k: &Kernel) -> (u64, u64) {
    let img = &k.machine.image;
    (img.phys_start, img.reserve_end())
}

fn reserve_kernel_image(k: &mut Kernel) -> Result<(), BootError> {
    let (start, end) = kernel_image_range(k);
    if k.era.early_allocator() == crate::era::EarlyAllocator::Bootmem {
        // 2.6 head64.c: [_text, __bss_stop); the brk area after it is reserve_brk's.
        let end = k
            .machine
            .image
            .reserve_end
            .unwrap_or(k.machine.image.layout().bss_end);
        return crate::arch::x86::early_res::reserve_early(k, start, end, "TEXT DATA BSS");
    }
    // memblock_reserve_kern (6.16+) marks the image MEMBLOCK_RSRV_KERN; before, plain reserve.
    let r = if k.memblock.has_rsrv_kern() {
        k.memblock.memblock_reserve_kern(start, end - start)
    } else {
        k.memblock.memblock_reserve(start, end - start)
    };
    r.map_err(|e| BootError::NoMemory(e.to_string()))
}

/// arch/x86/kernel/setup.c: `early_reserve_memory` (5.13+).
fn early_reserve_memory(k: &mut Kernel) -> Result<(), BootError> {
    let _t = k
        .trace
        .enter("early_reserve_memory", "arch/x86/kernel/setup.c");
    reserve_kernel_image(k)?;
    // The first 64 KiB: BIOSes are known to corrupt low memory, and page 0 must stay unused.
    memblock_reserve(k, 0, 64 << 10)?;
    early_reserve_initrd(k)?;
    reserve_bios_regions(k)?;
    Ok(())
}

/// arch/x86/kernel/setup.c: `early_reserve_initrd`.
fn early_reserve_initrd(k: &mut Kernel) -> Result<(), BootError> {
    let _t = k
        .trace
        .enter("early_reserve_initrd", "arch/x86/kernel/setup.c");
    if let Some((start, size)) = k.machine.initrd {
        if size != 0 && k.era.early_allocator() == crate::era::EarlyAllocator::Bootmem {
            // 2.6 head64.c: the initrd's bytes, not rounded to pages.
            return crate::arch::x86::early_res::reserve_early(k, start, start + size, "RAMDISK");
        }
        if size != 0 {
            let end = crate::include::addr::page_align(start + size);
            let start = start & !(PAGE_SIZE - 1);
            memblock_reserve(k, start, end - start)?;
        }
    }
    Ok(())
}

/// arch/x86/kernel/ebda.c: `reserve_bios_regions`.
fn reserve_bios_regions(k: &mut Kernel) -> Result<(), BootError> {
    let _t = k
        .trace
        .enter("reserve_bios_regions", "arch/x86/kernel/ebda.c");
    // x86_platform.legacy.reserve_bios_regions is clear on platforms without a BIOS.
    if k.machine.bda.is_none() || k.phys.end().0 < ISA_END_ADDRESS {
        return Ok(());
    }
    let mut bios_start = u64::from(read16(k, BIOS_RAM_SIZE_KB_PTR)?) << 10;
    if !(BIOS_START_MIN..=BIOS_START_MAX).contains(&bios_start) {
        bios_start = BIOS_START_MAX;
    }
    // get_bios_ebda()
    let ebda_start = u64::from(read16(k, BIOS_EBDA_SEGMENT_PTR)?) << 4;
    if ebda_start >= BIOS_START_MIN && ebda_start < bios_start {
        bios_start = ebda_start;
    }
    if k.era.early_allocator() == crate::era::EarlyAllocator::Bootmem {
        // 2.6 head.c reserve_ebda_region: reserve_early_overlap_ok(lowmem, 1 MiB).
        k.early_res
            .__reserve_early(bios_start, ISA_END_ADDRESS, "BIOS reserved", true)
            .map_err(BootError::NoMemory)?;
    }
    memblock_reserve(k, bios_start, ISA_END_ADDRESS - bios_start)
}

/// arch/x86/kernel/setup.c (2.6.30–2.6.33): `reserve_brk`: what `extend_brk` handed out
/// before it (DMI's strings, on x86_64), `[__brk_base, _brk_end)`, reserved as "BRK". The
/// brk area starts at the page after `__bss_stop`. Later eras reserve the brk area with the
/// image.
fn reserve_brk(k: &mut Kernel) -> Result<(), BootError> {
    let _t = k.trace.enter("reserve_brk", "arch/x86/kernel/setup.c");
    let bss_stop = k
        .machine
        .image
        .reserve_end
        .unwrap_or(k.machine.image.layout().bss_end);
    let base = crate::include::addr::page_align(bss_stop);
    let used = k.machine.brk_used.unwrap_or(0);
    crate::arch::x86::early_res::reserve_early(k, base, base + used, "BRK")
}

/// arch/x86/kernel/e820.c: `e820__memory_setup` (the default, non-Xen path).
fn e820__memory_setup(k: &mut Kernel) -> Result<(), BootError> {
    let _t = k
        .trace
        .enter("e820__memory_setup", "arch/x86/kernel/e820.c");
    let fw = k.machine.e820.clone();
    let _t2 = k
        .trace
        .enter("e820__memory_setup_default", "arch/x86/kernel/e820.c");
    k.e820
        .e820__memory_setup(&fw, k.machine.legacy_mem)
        .map_err(|e| BootError::E820(e.to_string()))
}

/// Replay the e820 changes that firmware and platform code dictate (EFI quirks, MTRR
/// trimming, …), taken from the machine description at the stage of boot they belong to.
/// Returns the bytes changed and the ranges retyped from RAM to something else. These are
/// inputs, not computations of the model.
fn apply_firmware_e820_ops(k: &mut Kernel, stage: E820OpStage) -> (u64, Vec<(u64, u64)>) {
    let ops: Vec<_> = k
        .machine
        .e820_ops
        .iter()
        .filter(|o| o.stage == stage)
        .cloned()
        .collect();
    let mut changed = 0;
    let mut taken = Vec::new();
    for op in ops {
        let size = op.end - op.start;
        if let E820OpKind::Update {
            old: E820Type::Ram,
            new,
        } = op.kind
        {
            if new != E820Type::Ram && new != E820Type::ReservedKern {
                taken.push((op.start, op.end));
            }
        }
        changed += match op.kind {
            E820OpKind::Update { old, new } => k
                .e820
                .e820__range_update(op.start, size, old, new)
                .unwrap_or(0),
            E820OpKind::Remove { old } => k.e820.e820__range_remove(
                op.start,
                size,
                old.unwrap_or(E820Type::Other(0)),
                old.is_some(),
            ),
        };
    }
    if changed != 0 {
        let _ = k.e820.update_table();
    }
    (changed, taken)
}

/// init/main.c: `parse_early_param` → `do_early_param`, for the parameters memory
/// management reads. A handler that fails gets the kernel's "Malformed early option" warning
/// and boot goes on, as in the kernel.
fn parse_early_param(k: &mut Kernel) {
    let _t = k.trace.enter("parse_early_param", "init/main.c");
    let cmdline = k.machine.cmdline.clone();
    for arg in split_args(&cmdline) {
        let ok = match arg.param {
            "memblock" => {
                // mm/memblock.c: early_memblock
                if arg.val.is_some_and(|v| v.contains("debug")) {
                    k.params.memblock_debug = true;
                    k.memblock.debug = true;
                }
                true
            }
            "mem" => {
                let _t = k.trace.enter("parse_memopt", "arch/x86/kernel/e820.c");
                k.e820.parse_memopt(arg.val).is_ok()
            }
            "memmap" => {
                let _t = k.trace.enter("parse_memmap_opt", "arch/x86/kernel/e820.c");
                k.e820.parse_memmap_opt(arg.val).is_empty()
            }
            "numa" => crate::arch::x86::numa::numa_setup(k, arg.val),
            "log_buf_len" => crate::kernel::printk::log_buf_len_setup(k, arg.val),
            _ => true,
        };
        if !ok {
            pr_warn!(k.printk, "Malformed early option '{}'\n", arg.param);
        }
    }
}

/// arch/x86/kernel/cpu/hypervisor.c: `init_hypervisor_platform`, for its memory effects.
fn init_hypervisor_platform(k: &mut Kernel) {
    let _t = k.trace.enter(
        "init_hypervisor_platform",
        "arch/x86/kernel/cpu/hypervisor.c",
    );
    if k.machine.hypervisor == Some(Hypervisor::Kvm) && kvm_init_platform_reads_low_ram_pfn(&k.era)
    {
        let _t = k.trace.enter("kvm_init_platform", "arch/x86/kernel/kvm.c");
        let _t2 = k
            .trace
            .enter("e820__end_of_low_ram_pfn", "arch/x86/kernel/e820.c");
        k.e820.e820__end_of_low_ram_pfn();
    }
}

/// arch/x86/kernel/e820.c: `e820__memblock_setup` (≤4.11: `memblock_x86_fill`).
pub fn e820__memblock_setup(k: &mut Kernel) -> Result<(), BootError> {
    let name = if crate::arch::x86::e820::e820_rework(&k.era) {
        "e820__memblock_setup"
    } else {
        "memblock_x86_fill"
    };
    let _t = k.trace.enter(name, "arch/x86/kernel/e820.c");
    // The region arrays may double from here on.
    k.memblock.memblock_allow_resize();
    let entries = k.e820.table.clone();
    for e in entries.iter() {
        let end = e.addr.saturating_add(e.size);
        if end != end as usize as u64 {
            continue;
        }
        // 4.17 and 4.18 put every non-RAM range into memblock.reserved
        // ("x86/e820: put !E820_TYPE_RAM regions into memblock.reserved", reverted in 4.19).
        let non_ram_reserved = k.era.at_least(4, 17) && !k.era.at_least(4, 19);
        match e.typ {
            t if non_ram_reserved && t != E820Type::Ram && t != E820Type::ReservedKern => {
                memblock_reserve(k, e.addr, e.size)?;
            }
            E820Type::SoftReserved if k.era.at_least(5, 5) => {
                memblock_reserve(k, e.addr, e.size)?;
            }
            E820Type::Ram | E820Type::ReservedKern => {
                k.memblock
                    .memblock_add(e.addr, e.size)
                    .map_err(|e| BootError::NoMemory(e.to_string()))?;
            }
            _ => {}
        }
    }
    // Throw away partial pages.
    k.memblock.memblock_trim_memory(PAGE_SIZE);
    k.memblock.memblock_dump_all();
    Ok(())
}

/// arch/x86/realmode/init.c: `reserve_real_mode`: a home below 1 MiB for the trampoline
/// the application processors start in, and (5.13+) the whole first megabyte reserved.
fn reserve_real_mode(k: &mut Kernel) -> Result<(), BootError> {
    let _t = k
        .trace
        .enter("reserve_real_mode", "arch/x86/realmode/init.c");
    let size = k.machine.image.realmode_size;
    if size != 0 {
        let found = if k.era.at_least(5, 15) {
            k.memblock
                .memblock_phys_alloc_range(size, PAGE_SIZE, 0, ISA_END_ADDRESS)
                .map_err(|e| BootError::NoMemory(e.to_string()))?
                .map(|p| p.0)
        } else {
            let mem = k
                .memblock
                .memblock_find_in_range(0, ISA_END_ADDRESS, size, PAGE_SIZE);
            if mem != 0 {
                memblock_reserve(k, mem, size)?;
            }
            (mem != 0).then_some(mem)
        };
        if found.is_none() {
            pr_info!(
                k.printk,
                "No sub-1M memory is available for the trampoline\n"
            );
        }
    }
    // Unconditionally reserve the entire first 1M (5.13+; not in the 5.10 stable line).
    if k.era.at_least(5, 13) {
        memblock_reserve(k, 0, ISA_END_ADDRESS)?;
    }
    Ok(())
}

/// arch/x86/mm/init.c (2.6.x, x86_64): `find_early_table_space` and the pages
/// `init_memory_mapping` then used of it, reserved as "PGTABLE": the estimate (PUD, PMD and
/// PTE pages for `[0, end)` with 2 MiB pages) placed first-fit from 0x8000 up, and of it the
/// pages the mapping of `[start, end)` takes: a PMD page per GiB past the first (head_64.S's
/// `level2_ident_pgt` maps the first) and a PTE page for a tail that is not 2 MiB-aligned
/// (`level3_ident_pgt` holds the PUD entries below 512 GiB).
fn early_table_space(k: &mut Kernel, start: u64, end: u64) -> Result<(), BootError> {
    const PUD: u64 = 1 << 30;
    const PMD: u64 = 2 << 20;
    let page = |n: u64| (n * 8).next_multiple_of(PAGE_SIZE);
    let puds = end.div_ceil(PUD);
    let pmds = end.div_ceil(PMD);
    let ptes = (end % PMD).div_ceil(PAGE_SIZE);
    let tables = page(puds) + page(pmds) + page(ptes);
    let limit = k.max_pfn_mapped.max(end >> 12) << 12;
    let at = crate::arch::x86::early_res::find_e820_area(k, 0x8000, limit, tables, PAGE_SIZE);
    if at == 0 {
        return Err(BootError::NoMemory(String::from(
            "Cannot find space for the kernel page tables",
        )));
    }
    pr_debug!(
        k.printk,
        "kernel direct mapping tables up to {end:x} @ {at:x}-{:x}\n",
        at + tables
    );
    let first_gb = (start / PUD).max(1);
    let last_gb = end.div_ceil(PUD);
    let used = last_gb.saturating_sub(first_gb) + u64::from(end % PMD != 0);
    if used > 0 {
        crate::arch::x86::early_res::reserve_early(k, at, at + used * PAGE_SIZE, "PGTABLE")?;
    }
    Ok(())
}

/// arch/x86/kernel/setup.c: `trim_low_memory_range` (before 5.13): reserve the first
/// CONFIG_X86_RESERVE_LOW KiB.
fn trim_low_memory_range(k: &mut Kernel) -> Result<(), BootError> {
    let _t = k
        .trace
        .enter("trim_low_memory_range", "arch/x86/kernel/setup.c");
    memblock_reserve(
        k,
        0,
        crate::include::addr::page_align(X86_RESERVE_LOW_KB << 10),
    )
}

/// `memblock_reserve`, with a failure (the region array could not grow) stopping the boot.
fn memblock_reserve(k: &mut Kernel, base: u64, size: u64) -> Result<(), BootError> {
    k.memblock
        .memblock_reserve(base, size)
        .map_err(|e| BootError::NoMemory(e.to_string()))
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use crate::era::{Arch, Era, KernelVersion};
    use crate::init::main::start_kernel;
    use crate::kernel::Kernel;
    use crate::machine::Machine;

    fn node_data_pa(v: (u32, u32, u32), apic: Option<u64>) -> u64 {
        let mut m = Machine::qemu(2 << 30, 1).unwrap();
        m.era = Era::new(KernelVersion::new(v.0, v.1, v.2), Arch::X86_64);
        m.apic_fixmap = apic;
        let mut k = Kernel::new(m).unwrap();
        start_kernel(&mut k).unwrap();
        k.numa.node_data[0].pa
    }

    #[test]
    fn apic_fixmap_outside_the_static_page_table_takes_a_page() {
        // No vsyscall page: FIX_APIC_BASE in PMD entry 507, static only from 4.19.
        let top = 0xffff_ffff_ff7f_c000;
        // With the vsyscall page: FIX_APIC_BASE in entry 506 (level1_fixmap_pgt).
        let low = 0xffff_ffff_ff5f_c000;
        let base = node_data_pa((4, 2, 0), None);
        assert_eq!(node_data_pa((4, 2, 0), Some(top)), base - 0x1000);
        assert_eq!(node_data_pa((4, 2, 0), Some(low)), base);
        assert_eq!(
            node_data_pa((4, 19, 0), Some(top)),
            node_data_pa((4, 19, 0), None)
        );
    }
}
