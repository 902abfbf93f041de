//! `init/main.c`: `start_kernel`, the order of boot and nothing else.
//!
//! The kernel's `start_kernel` runs a long, fixed list of initialisers. bootmm runs the
//! memory-management ones, in the kernel's order for the modelled era, each as a function
//! named after its kernel counterpart and recorded in the call tree. Steps that later parts
//! of the model add (zones, the buddy allocator, percpu, SLUB, vmalloc) slot in here.

use core::fmt;

use alloc::string::String;

use crate::arch::x86::setup::setup_arch;
use crate::kernel::Kernel;
use crate::phys::PhysError;
use crate::pr_notice;

/// Why a boot could not go on (the kernel would panic or hang here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootError {
    /// The firmware map is unusable (sanitising failed and there is no fallback).
    E820(String),
    /// A kernel parameter the kernel would reject outright.
    Param(String),
    /// memblock could not satisfy an allocation the kernel makes unconditionally.
    NoMemory(String),
    /// Simulated RAM could not be used (or the host-memory budget would be exceeded).
    Phys(PhysError),
    /// The model does not cover the rest of this era's boot yet: it stops here.
    Unmodelled(String),
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootError::E820(m) => write!(f, "e820: {m}"),
            BootError::Param(m) => write!(f, "kernel parameter: {m}"),
            BootError::NoMemory(m) => write!(f, "out of memory during boot: {m}"),
            BootError::Phys(e) => write!(f, "{e}"),
            BootError::Unmodelled(m) => write!(f, "not modelled yet: {m}"),
        }
    }
}

impl From<PhysError> for BootError {
    fn from(e: PhysError) -> Self {
        BootError::Phys(e)
    }
}

/// init/main.c: `start_kernel`.
pub fn start_kernel(k: &mut Kernel) -> Result<(), BootError> {
    let _t = k.trace.enter("start_kernel", "init/main.c");
    // linux_banner: the build host and compiler are not modelled.
    pr_notice!(k.printk, "Linux version {}\n", k.era.release);
    if k.machine.kernel_config().highmem {
        // mm/highmem.c: page_address_init: the page_address_htable's slots and locks (its
        // kmap state is set up with the pkmap page table, in paging_init).
        let _t = k.trace.enter("page_address_init", "mm/highmem.c");
    }
    setup_arch(k)?;
    setup_command_line(k)?;
    crate::arch::x86::setup_percpu::setup_per_cpu_areas(k)?;
    if k.era.at_least(6, 6) {
        // 6.6 moved build_all_zonelists into mm_core_init, after the early VFS hashes.
        crate::kernel::printk::setup_log_buf(k, false);
        crate::fs::vfs_caches_init_early(k)?;
        mm_core_init(k)?;
    } else {
        crate::mm::page_alloc_init::build_all_zonelists_init(k);
        // parse_early_param and parse_args (the kernel command line) come here.
        crate::kernel::printk::setup_log_buf(k, false);
        crate::fs::vfs_caches_init_early(k)?;
        mm_init(k)?;
    }
    crate::mm::page_alloc_init::setup_per_cpu_pageset(k)?;
    crate::fs::vfs_caches_init(k)?;
    // check_bugs / arch_cpu_finalize_init → alternative_instructions.
    late_frees(k, true);
    // rest_init → kernel_init → kernel_init_freeable, after SMP bring-up.
    crate::mm::page_alloc::page_alloc_init_late(k)?;
    // do_basic_setup → the initcalls.
    crate::mm::page_alloc_init::init_per_zone_wmark_min_initcall(k)?;
    late_frees(k, false);
    Ok(())
}

/// init/main.c `kernel_init`, its memory part after the initcalls: `populate_rootfs`'s
/// `free_initrd_mem`, `free_initmem` and `mark_readonly`'s gaps (arch/x86/mm/init.c
/// `free_init_pages` / `free_kernel_image_pages`, arch/x86/mm/init_64.c `mark_rodata_ro`),
/// each a `free_reserved_area`. Which of them ran and their sizes are the machine's
/// [`crate::machine::LateFree`]s (a log prints them); where they lie comes from the image
/// layout the boot used (`KernelImage::reserve_end`'s estimate) and the initrd's range.
///
/// `alternative_instructions` (start_kernel's `check_bugs`, `arch_cpu_finalize_init` from
/// 6.5) frees the SMP alternatives earlier, before the initcalls and so before the watermark
/// initcall: `early` runs that one, the other call the rest.
fn late_frees(k: &mut Kernel, early: bool) {
    if k.machine.late_frees.is_empty() || k.page_alloc.node_data.is_empty() {
        return;
    }
    use crate::include::addr::page_align;
    let l = k.machine.image.layout();
    let (text_end, rodata_end, data_end, init_start) =
        (l.text_end, l.rodata_end, l.data_end, l.init_start);
    // Before 5.6 the three image frees all say "unused kernel (image) memory", in the order
    // free_initmem, then mark_rodata_ro's text/rodata and rodata/data gaps.
    let mut unnamed = 0;
    for f in k.machine.late_frees.clone() {
        if (f.what == "SMP alternatives") != early {
            continue;
        }
        let size = f.kbytes << 10;
        let start = match f.what.as_str() {
            "initrd" => match k.machine.initrd {
                Some((s, _)) => s,
                None => continue,
            },
            "unused kernel image (initmem)" => init_start,
            "unused kernel image (text/rodata gap)" => page_align(text_end),
            "unused kernel image (rodata/data gap)" => page_align(rodata_end),
            "unused kernel" | "unused kernel image" => {
                unnamed += 1;
                match unnamed {
                    1 => init_start,
                    2 => page_align(text_end),
                    _ => page_align(rodata_end),
                }
            }
            // .bss..decrypted and the SMP alternatives: inside the data section (an
            // estimate of where).
            _ => page_align(data_end).saturating_sub(page_align(size)),
        };
        crate::mm::page_alloc::free_reserved_area(k, start, start + size, &f.what);
    }
}

/// init/main.c: `setup_command_line`: memblock copies of the command line, `strlen + 1`
/// bytes each: `saved_command_line`, `initcall_command_line` (until 5.4: the bootconfig
/// series, 5.5, moved it to `do_initcalls`) and `static_command_line`. Aligned to
/// SMP_CACHE_BYTES from 5.0, with 0 (memblock's default) before. No bootconfig: the extra
/// command line and init arguments are empty.
///
/// # Errors
/// [`BootError::NoMemory`]: the kernel panics ("%s: Failed to allocate %zu bytes").
fn setup_command_line(k: &mut Kernel) -> Result<(), BootError> {
    let _t = k.trace.enter("setup_command_line", "init/main.c");
    let len = k.machine.cmdline.len() as u64 + 1;
    let align = crate::mm::memblock::cache_line_align_arg(&k.era);
    // 2.6: saved_command_line and static_command_line only, from the bootmem bitmap.
    let copies = if k.era.at_least(5, 5) || crate::mm::nobootmem::bootmem_live(k) {
        2
    } else {
        3
    };
    for _ in 0..copies {
        if crate::mm::nobootmem::bootmem_live(k) {
            let p = crate::mm::nobootmem::alloc_bootmem(k, len, crate::include::SMP_CACHE_BYTES)
                .map_err(|e| BootError::NoMemory(alloc::format!("setup_command_line: {e}")))?;
            if p.is_none() {
                return Err(BootError::NoMemory(alloc::format!(
                    "setup_command_line: bootmem alloc of {len} bytes failed!"
                )));
            }
            continue;
        }
        let p = k
            .memblock
            .memblock_alloc(len, align)
            .map_err(|e| BootError::NoMemory(alloc::format!("setup_command_line: {e}")))?;
        if p.is_none() {
            return Err(BootError::NoMemory(alloc::format!(
                "setup_command_line: Failed to allocate {len} bytes"
            )));
        }
    }
    Ok(())
}

/// init/main.c: `mm_init` (≤6.5): the memory-management initialisers after `setup_arch`
/// (the allocator's part: `mem_init`, and from 5.15 the "Memory:" line after it).
fn mm_init(k: &mut Kernel) -> Result<(), BootError> {
    if k.zones.is_none() {
        return Ok(());
    }
    // init/main.c's mm_init came with 2.6.31 (SLUB/SLAB set up before the IRQs); before,
    // start_kernel called mem_init and kmem_cache_init itself.
    let _t = k
        .era
        .at_least_patch(2, 6, 31)
        .then(|| k.trace.enter("mm_init", "init/main.c"));
    crate::arch::x86::init_64::mem_init(k)?;
    if k.era.at_least(5, 15) {
        crate::mm::page_alloc::mem_init_print_info(k);
    }
    kmem_cache_init(k)?;
    vmalloc_init(k)
}

/// mm/vmalloc.c `vmalloc_init`, last of the allocators `mm_init` / `mm_core_init` set up
/// (after `kmem_cache_init`, `pgtable_cache_init` and `debug_objects_mem_init`); the kernel
/// panics when it fails.
fn vmalloc_init(k: &mut Kernel) -> Result<(), BootError> {
    crate::mm::vmalloc::vmalloc_init(k).map_err(BootError::NoMemory)
}

/// mm/slub.c `kmem_cache_init`, where `mm_init` / `mm_core_init` call it (after `mem_init`
/// and the "Memory:" line); the kernel panics when it fails.
fn kmem_cache_init(k: &mut Kernel) -> Result<(), BootError> {
    crate::mm::slab_common::kmem_cache_init(k).map_err(|e| BootError::NoMemory(e.0))
}

/// mm/mm_init.c: `mm_core_init` (6.6+): 6.18 calls `arch_mm_preinit` (the bounce buffer) and
/// `memblock_free_all` itself before `mem_init`; 6.6–6.10 print "Memory:" after `mem_init`.
fn mm_core_init(k: &mut Kernel) -> Result<(), BootError> {
    if k.zones.is_none() {
        return Ok(());
    }
    let _t = k.trace.enter("mm_core_init", "mm/mm_init.c");
    crate::mm::page_alloc_init::build_all_zonelists_init(k);
    if k.era.at_least(6, 18) {
        {
            let _t2 = k.trace.enter("arch_mm_preinit", "arch/x86/mm/init_64.c");
            crate::arch::x86::pci_dma::pci_iommu_alloc(k)?;
        }
        crate::mm::page_alloc::memblock_free_all(k)?;
    }
    crate::arch::x86::init_64::mem_init(k)?;
    if !crate::mm::page_alloc::memory_line_after_deferred_init(&k.era) {
        crate::mm::page_alloc::mem_init_print_info(k);
    }
    kmem_cache_init(k)?;
    vmalloc_init(k)
}
