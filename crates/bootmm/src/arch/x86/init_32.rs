// SPDX-License-Identifier: GPL-2.0-only
//! arch/x86/mm/init_32.c: how a 32-bit kernel splits RAM into lowmem and HIGHMEM.
//!
//! DOC: only the RAM below `MAXMEM` (see [`super::pgtable_32_types`]) can be mapped linearly
//! at `PAGE_OFFSET`; `find_low_pfn_range` sets `max_low_pfn` there, and the rest of RAM
//! becomes ZONE_HIGHMEM, reached through `kmap`. `highmem=` moves the split down, `vmalloc=`
//! trades lowmem for vmalloc space; a kernel without CONFIG_HIGHMEM64G (PAE) cannot use RAM
//! above 4 GiB and one without CONFIG_HIGHMEM none above `MAXMEM`, and both say so.
//! `initmem_init` then prints the "…MB HIGHMEM available." and "…MB LOWMEM available."
//! lines. 2.6.24's `setup_memory` did the same before `initmem_init` existed on i386.

use alloc::string::String;

use super::pgtable_32_types::{self, layout_32, Layout32, VMALLOC_OFFSET, VMALLOC_RESERVE};
use crate::init::main::BootError;
use crate::kernel::Kernel;
use crate::klib::cmdline::{early_param_values, memparse};
use crate::{pr_err, pr_info, pr_notice, pr_warn};

/// `MAX_NONPAE_PFN`: 4 GiB.
const MAX_NONPAE_PFN: u64 = 1 << 20;

/// `pages_to_mb`.
fn pages_to_mb(pages: u64) -> u64 {
    pages >> (20 - 12)
}

/// The i386 layout of this boot: the fixmap's size from the machine's build facts (a log's
/// "fixmap :" line) or the default, `vmalloc=`'s reserve.
pub fn layout(k: &Kernel) -> Option<Layout32> {
    let nr_cpus = u64::from(k.machine.nr_cpus.max(1));
    let slots =
        k.machine.config.fixmap_slots.unwrap_or(
            pgtable_32_types::KM_TYPE_NR * nr_cpus + pgtable_32_types::FIXMAP_OTHER_SLOTS,
        );
    layout_32(&k.era, slots, nr_cpus, vmalloc_reserve(k))
}

/// arch/x86/mm/pgtable_32.c: `parse_vmalloc`: `__VMALLOC_RESERVE` is `vmalloc=` plus
/// `VMALLOC_OFFSET` (the guard hole), the last one given winning. The variable is an
/// `unsigned int`: `vmalloc=4G` wraps to 8 MiB, as in the kernel.
fn vmalloc_reserve(k: &Kernel) -> u64 {
    early_param_values(&k.machine.cmdline, "vmalloc")
        .into_iter()
        .flatten()
        .next_back()
        .map_or(VMALLOC_RESERVE, |v| {
            u64::from(memparse(v).0.wrapping_add(VMALLOC_OFFSET) as u32)
        })
}

/// arch/x86/mm/init_32.c: `parse_highmem`: `highmem=` in pages; `None` ("-1") when absent.
fn highmem_pages(k: &Kernel) -> Option<u64> {
    early_param_values(&k.machine.cmdline, "highmem")
        .into_iter()
        .flatten()
        .next_back()
        .map(|v| memparse(v).0 >> 12)
}

/// Before 2.6.28's unification of the x86 setup code (believed) i386 split memory in
/// arch/x86/kernel/setup_32.c: `setup_memory` (`find_max_low_pfn`, the HIGHMEM / LOWMEM
/// lines, `setup_bootmem_allocator`), which seed note 001 walks.
pub(crate) fn setup_memory_era(era: &crate::era::Era) -> bool {
    !era.at_least_patch(2, 6, 28)
}

/// arch/x86/mm/init_32.c: `find_low_pfn_range` (`lowmem_pfn_init` / `highmem_pfn_init`):
/// `max_low_pfn`, and `max_pfn` trimmed to what the build can address.
///
/// # Errors
/// [`BootError::Param`] when `vmalloc=` leaves no lowmem at all (the kernel would not boot).
pub fn find_low_pfn_range(k: &mut Kernel) -> Result<(), BootError> {
    let _t = if setup_memory_era(&k.era) {
        k.trace
            .enter("find_max_low_pfn", "arch/x86/kernel/setup_32.c")
    } else {
        k.trace.enter("find_low_pfn_range", "arch/x86/mm/init_32.c")
    };
    let Some(l) = layout(k) else {
        return Ok(());
    };
    if l.maxmem < 64 << 20 || l.maxmem > 1 << 32 {
        // The kernel does not check: MAXMEM wraps and its direct map would run into the
        // vmalloc space and the fixmap.
        return Err(BootError::Param(alloc::format!(
            "vmalloc= reserves {} of the {} between PAGE_OFFSET and VMALLOC_END: less than 64 MiB of lowmem would be left, which the kernel does not check and cannot run with",
            crate::phys::human_bytes(vmalloc_reserve(k)),
            crate::phys::human_bytes(l.vmalloc_end - pgtable_32_types::PAGE_OFFSET)
        )));
    }
    let highmem = k.machine.kernel_config().highmem;
    let maxmem_pfn = l.maxmem_pfn();
    let mut highmem_pages = highmem_pages(k);
    if k.max_pfn <= maxmem_pfn {
        // lowmem_pfn_init
        k.max_low_pfn = k.max_pfn;
        let mut hp = highmem_pages.unwrap_or(0);
        if highmem {
            if hp >= k.max_pfn {
                pr_err!(
                    k.printk,
                    "highmem size ({}MB) is bigger than pages available ({}MB)!\n",
                    pages_to_mb(hp),
                    pages_to_mb(k.max_pfn)
                );
                hp = 0;
            }
            if hp != 0 {
                if k.max_low_pfn - hp < (64 << 20) >> 12 {
                    pr_err!(
                        k.printk,
                        "highmem size ({}MB) results in <64MB lowmem, ignoring it!\n",
                        pages_to_mb(hp)
                    );
                    hp = 0;
                }
                k.max_low_pfn -= hp;
            }
        } else if hp != 0 {
            pr_err!(k.printk, "ignoring highmem size on non-highmem kernel!\n");
        }
    } else {
        // highmem_pfn_init
        k.max_low_pfn = maxmem_pfn;
        let hp = *highmem_pages.get_or_insert(k.max_pfn - maxmem_pfn);
        if hp + maxmem_pfn < k.max_pfn {
            k.max_pfn = maxmem_pfn + hp;
        }
        if hp + maxmem_pfn > k.max_pfn {
            pr_warn!(
                k.printk,
                "only {}MB highmem pages available, ignoring highmem size of {}MB!\n",
                pages_to_mb(k.max_pfn - maxmem_pfn),
                pages_to_mb(hp)
            );
        }
        if !highmem {
            pr_warn!(
                k.printk,
                "Warning only {}MB will be used.\n",
                l.maxmem >> 20
            );
            let msg = if k.max_pfn > MAX_NONPAE_PFN {
                "Use a HIGHMEM64G enabled kernel.\n"
            } else {
                "Use a HIGHMEM enabled kernel.\n"
            };
            pr_warn!(k.printk, "{msg}");
            k.max_pfn = maxmem_pfn;
        } else if !l.pae && k.max_pfn > MAX_NONPAE_PFN {
            k.max_pfn = MAX_NONPAE_PFN;
            pr_warn!(
                k.printk,
                "Warning: only 4GB will be used. Use a HIGHMEM64G enabled kernel!\n"
            );
        }
    }
    k.max_possible_pfn = k.max_pfn;
    Ok(())
}

/// arch/x86/mm/init_32.c: `initmem_init` (i386 without NUMA): `highstart_pfn` /
/// `highend_pfn`, all memory on node 0, and the HIGHMEM / LOWMEM lines; then
/// `setup_bootmem_allocator`'s "mapped low ram" / "low ram" lines (2.6.28 to 4.19,
/// believed). Before 2.6.28 this is `setup_memory`.
///
/// # Errors
/// [`BootError::NoMemory`] when memblock cannot record the node.
pub fn initmem_init(k: &mut Kernel) -> Result<(), BootError> {
    let _t = if setup_memory_era(&k.era) {
        k.trace.enter("setup_memory", "arch/x86/kernel/setup_32.c")
    } else {
        k.trace.enter("initmem_init", "arch/x86/mm/init_32.c")
    };
    if k.machine.kernel_config().highmem {
        let highend = k.max_pfn;
        let highstart = if k.max_pfn > k.max_low_pfn {
            k.max_low_pfn
        } else {
            k.max_pfn
        };
        k.highstart_pfn = highstart;
        k.highend_pfn = highend;
        pr_notice!(
            k.printk,
            "{}MB HIGHMEM available.\n",
            pages_to_mb(highend - highstart)
        );
    }
    k.memblock
        .memblock_set_node(0, u64::MAX, crate::mm::memblock::RegionType::Memory, 0)
        .map_err(|e| BootError::NoMemory(alloc::format!("initmem_init: {e}")))?;
    k.numa = crate::arch::x86::numa::Numa {
        online: alloc::vec![0],
        possible: alloc::vec![0],
        nr_node_ids: 1,
        params: core::mem::take(&mut k.numa.params),
        ..Default::default()
    };
    pr_notice!(
        k.printk,
        "{}MB LOWMEM available.\n",
        pages_to_mb(k.max_low_pfn)
    );
    let _t2 = k.trace.enter(
        "setup_bootmem_allocator",
        if setup_memory_era(&k.era) {
            "arch/x86/kernel/setup_32.c"
        } else {
            "arch/x86/mm/init_32.c"
        },
    );
    if k.era.at_least_patch(2, 6, 28) && !k.era.at_least(4, 20) {
        pr_info!(
            k.printk,
            "  mapped low ram: 0 - {:08x}\n",
            k.max_pfn_mapped << 12
        );
        pr_info!(k.printk, "  low ram: 0 - {:08x}\n", k.max_low_pfn << 12);
    }
    if setup_memory_era(&k.era) && k.era.early_allocator() == crate::era::EarlyAllocator::Bootmem {
        setup_bootmem_allocator_bitmap(k)?;
        drop(_t2);
        drop(_t);
        smp_alloc_memory(k)?;
    }
    Ok(())
}

/// arch/x86/kernel/head_32.S (before 2.6.26): `init_pg_tables_end`, the end of the page
/// tables `startup_32` builds at `pg0` (the page after `_end`): PTE pages of 1024 entries
/// (4 MiB each), added until the mapping reaches `INIT_MAP_BEYOND_END` past the tables'
/// end: the bootmem bitmap of 4 GiB (`BOOTBITMAP_SIZE`, 128 KiB) and the page tables
/// mapping it (`PAGE_TABLE_SIZE`, 1024 pages) with `ALLOCATOR_SLOP` (4 pages) to spare.
pub fn init_pg_tables_end(end: u64) -> u64 {
    const INIT_MAP_BEYOND_END: u64 = (128 << 10) + (1024 + 4) * 4096;
    let pg0 = crate::include::addr::page_align(end);
    let mut pages = 0;
    loop {
        pages += 1;
        if pages * (4 << 20) >= pg0 + pages * 4096 + INIT_MAP_BEYOND_END {
            return pg0 + pages * 4096;
        }
    }
}

/// arch/x86/kernel/setup_32.c (2.6.24–2.6.27): `setup_bootmem_allocator`: the bitmap for
/// lowmem placed at `min_low_pfn`, right after `startup_32`'s page tables
/// (`init_bootmem(min_low_pfn, max_low_pfn)`: every page reserved),
/// `register_bootmem_low_pages` freeing the e820 RAM below `max_low_pfn`, then the
/// reservations: the image through the bitmap's end, page 0, the EBDA's first page, page 1
/// (the SMP trampoline's stack, CONFIG_SMP), the ACPI wakeup page (`alloc_bootmem_low`,
/// CONFIG_ACPI_SLEEP) and the initrd. From here the bitmap is the allocator; bootmm's
/// memblock keeps the state it had (docs/divergences.md).
///
/// # Errors
/// [`BootError::NoMemory`] with the bitmap allocator's BUG text, or when the bitmap does not
/// fit below `max_low_pfn` (the kernel would not boot).
fn setup_bootmem_allocator_bitmap(k: &mut Kernel) -> Result<(), BootError> {
    use crate::arch::x86::e820::E820Type;
    use crate::include::{Pfn, PAGE_SIZE};
    use crate::mm::bootmem::{Bootmem, BootmemError, BOOTMEM_DEFAULT};
    let bug = |e: BootmemError| BootError::NoMemory(alloc::format!("setup_bootmem_allocator: {e}"));
    let text = k.machine.image.phys_start;
    let end = k
        .machine
        .image
        .reserve_end
        .unwrap_or(k.machine.image.layout().bss_end);
    let min_low_pfn = init_pg_tables_end(end).div_ceil(PAGE_SIZE);
    if min_low_pfn >= k.max_low_pfn {
        return Err(BootError::NoMemory(String::from(
            "setup_bootmem_allocator: the kernel image reaches past lowmem",
        )));
    }
    let mut bm = Bootmem::new(&k.era);
    let bootmap_size = {
        let _t = k.trace.enter("init_bootmem", "mm/bootmem.c");
        bm.init_bootmem(&k.phys, Pfn(min_low_pfn), k.max_low_pfn)
            .map_err(bug)?
    };
    {
        let _t = k
            .trace
            .enter("register_bootmem_low_pages", "arch/x86/kernel/setup_32.c");
        for e in k.e820.table.iter().filter(|e| e.typ == E820Type::Ram) {
            let curr = e.addr.div_ceil(PAGE_SIZE);
            let last = ((e.addr + e.size) / PAGE_SIZE).min(k.max_low_pfn);
            if last > curr {
                bm.free_bootmem(&k.phys, curr * PAGE_SIZE, (last - curr) * PAGE_SIZE)
                    .map_err(bug)?;
            }
        }
    }
    let reserve = |bm: &mut Bootmem, k: &Kernel, at: u64, size: u64| {
        bm.reserve_bootmem(&k.phys, at, size, BOOTMEM_DEFAULT)
            .map_err(bug)
    };
    let _t = k.trace.enter("reserve_bootmem", "mm/bootmem.c");
    reserve(
        &mut bm,
        k,
        text,
        min_low_pfn * PAGE_SIZE + bootmap_size + PAGE_SIZE - 1 - text,
    )?;
    reserve(&mut bm, k, 0, PAGE_SIZE)?;
    // reserve_ebda_region: the EBDA's first page, where the BIOS data area points.
    if k.machine.bda.is_some() && k.phys.end().0 >= 0x1000 {
        let ebda = (k
            .phys
            .read_u64(crate::PhysAddr(0x40e))
            .map_err(BootError::Phys)?
            & 0xffff)
            << 4;
        if ebda != 0 && ebda < k.max_low_pfn * PAGE_SIZE {
            reserve(&mut bm, k, ebda, PAGE_SIZE)?;
        }
    }
    reserve(&mut bm, k, PAGE_SIZE, PAGE_SIZE)?;
    drop(_t);
    k.bootmem = Some(bm);
    {
        // arch/x86/kernel/acpi/sleep_32.c: acpi_reserve_bootmem.
        let _t = k
            .trace
            .enter("acpi_reserve_bootmem", "arch/x86/kernel/acpi/sleep_32.c");
        let p = crate::mm::nobootmem::bootmem_alloc(
            k,
            PAGE_SIZE,
            crate::include::SMP_CACHE_BYTES,
            0,
            crate::mm::bootmem::ARCH_LOW_ADDRESS_LIMIT,
        )
        .map_err(BootError::NoMemory)?;
        if p.is_none() {
            crate::pr_err!(k.printk, "ACPI: Cannot allocate lowmem. S3 disabled.\n");
        }
    }
    if let Some((start, size)) = k.machine.initrd {
        if size != 0 && start + size <= k.max_low_pfn * PAGE_SIZE {
            let phys = &k.phys;
            if let Some(bm) = k.bootmem.as_mut() {
                bm.reserve_bootmem(phys, start, size, BOOTMEM_DEFAULT)
                    .map_err(bug)?;
            }
        }
    }
    Ok(())
}

/// arch/x86/kernel/smpboot_32.c (2.6.24): `smp_alloc_memory`: the trampoline page for the
/// secondary CPUs, `alloc_bootmem_low_pages(PAGE_SIZE)` (CONFIG_SMP, as distribution builds
/// set it).
///
/// # Errors
/// [`BootError::NoMemory`] with the bitmap allocator's BUG text.
fn smp_alloc_memory(k: &mut Kernel) -> Result<(), BootError> {
    let _t = k
        .trace
        .enter("smp_alloc_memory", "arch/x86/kernel/smpboot_32.c");
    let page = crate::include::PAGE_SIZE;
    crate::mm::nobootmem::bootmem_alloc(
        k,
        page,
        page,
        0,
        crate::mm::bootmem::ARCH_LOW_ADDRESS_LIMIT,
    )
    .map_err(BootError::NoMemory)?;
    Ok(())
}

/// arch/x86/mm/init_32.c: `paging_init` (i386): `pagetable_init` → `permanent_kmaps_init`,
/// `kmap_init`, then the zones (FLATMEM: `sparse_init` does nothing), and the kmap state
/// on the page tables made here.
///
/// # Errors
/// What [`super::init_64::zone_sizes_init`] returns, and [`BootError::NoMemory`] when the
/// pkmap page table cannot be allocated (the kernel panics).
pub fn paging_init(k: &mut Kernel) -> Result<(), BootError> {
    super::pgtable_32::native_pagetable_init(k);
    let _t = k.trace.enter("paging_init", "arch/x86/mm/init_32.c");
    let pkmap = {
        let _t = k.trace.enter("pagetable_init", "arch/x86/mm/init_32.c");
        permanent_kmaps_init(k)?
    };
    let _t2 = k.trace.enter("kmap_init", "arch/x86/mm/init_32.c");
    drop(_t2);
    crate::mm::sparse::sparse_init_flatmem_shadow(k)?;
    super::init_64::zone_sizes_init(k)?;
    crate::mm::highmem::kmap_init(k, pkmap);
    Ok(())
}

/// arch/x86/mm/init_32.c: `permanent_kmaps_init`: `page_table_range_init` over the pkmap
/// area, one PMD's worth (`LAST_PKMAP` is `PTRS_PER_PTE` and `PKMAP_BASE` is PMD-aligned),
/// so one page table. Its PMD is the image's (`swapper_pg_dir`'s kernel PMDs). Before 3.9
/// `one_page_table_init` took the page from bootmem once `after_bootmem` was set (in
/// `setup_bootmem_allocator`, before `paging_init`): top-down, page-aligned, which lands
/// it just below the top of lowmem. From 3.9 it is `alloc_low_page`, served from the brk
/// page-table buffer while that lasts. Where the i386 tables are built
/// ([`super::pgtable_32`]) the page table goes into `swapper_pg_dir` there.
fn permanent_kmaps_init(k: &mut Kernel) -> Result<Option<u64>, BootError> {
    let _t = k
        .trace
        .enter("permanent_kmaps_init", "arch/x86/mm/init_32.c");
    let _t2 = k
        .trace
        .enter("page_table_range_init", "arch/x86/mm/init_32.c");
    if k.pt32.geom.is_some() {
        // The real tables (arch/x86/pgtable_32.rs).
        let Some(l) = layout(k) else {
            return Ok(None);
        };
        if !k.machine.kernel_config().highmem {
            return Ok(None);
        }
        return super::pgtable_32::permanent_kmaps_init(k, &l).map_err(BootError::NoMemory);
    }
    if k.era.at_least(3, 9) {
        return Ok(None);
    }
    let _t3 = k
        .trace
        .enter("one_page_table_init", "arch/x86/mm/init_32.c");
    if crate::mm::nobootmem::bootmem_live(k) {
        // 2.6's bitmap: alloc_bootmem_low_pages, from the bottom of lowmem.
        let page = crate::include::PAGE_SIZE;
        let p = crate::mm::nobootmem::bootmem_alloc(
            k,
            page,
            page,
            0,
            crate::mm::bootmem::ARCH_LOW_ADDRESS_LIMIT,
        )
        .map_err(BootError::NoMemory)?;
        return p.map(Some).ok_or_else(|| {
            BootError::NoMemory(String::from(
                "one_page_table_init: no page for the pkmap page table",
            ))
        });
    }
    let nomem = |e: String| BootError::NoMemory(alloc::format!("one_page_table_init: {e}"));
    if let Some(p) = crate::mm::nobootmem::alloc_bootmem(k, 4096, 4096).map_err(nomem)? {
        return Ok(Some(p));
    }
    Err(BootError::NoMemory(String::from(
        "one_page_table_init: no page for the pkmap page table",
    )))
}

/// arch/x86/mm/init_32.c: `mem_init` (i386): lowmem to the buddy allocator
/// (`free_all_bootmem` / `memblock_free_all`, which stop at `max_low_pfn`), then the HIGHMEM
/// pages one by one (`set_highmem_pages_init`), the "Memory:" line (before 3.11 in its i386
/// form; from 5.15 the caller prints it) and the "virtual kernel memory layout:" block.
///
/// # Errors
/// What the hand-over returns.
pub fn mem_init(k: &mut Kernel) -> Result<(), BootError> {
    let _t = k.trace.enter("mem_init", "arch/x86/mm/init_32.c");
    crate::mm::page_alloc::memblock_free_all(k)?;
    if k.machine.kernel_config().highmem {
        set_highmem_pages_init(k);
    }
    if !k.era.at_least(5, 15) {
        crate::mm::page_alloc::mem_init_print_info(k);
    }
    print_memory_layout(k);
    Ok(())
}

/// arch/x86/mm/highmem_32.c: `set_highmem_pages_init`: every HIGHMEM zone's free memory,
/// page by page (`add_highpages_with_active_regions`), with an "Initializing %s for node %d"
/// line per zone. ZONE_MOVABLE counts as HIGHMEM when it takes its pages from there
/// (`zone_movable_is_highmem`), except where a typo in its #ifdef
/// (`CONFIG_HAVE_MEMBLOCK_NODE`) made it false: seen in 3.8, gone by 4.15 (the boundary is
/// taken as 4.0, unconfirmed).
fn set_highmem_pages_init(k: &mut Kernel) {
    let _t = k
        .trace
        .enter("set_highmem_pages_init", "arch/x86/mm/highmem_32.c");
    let movable_is_highmem = k.era.at_least(4, 0)
        && k.zones
            .as_ref()
            .is_some_and(|l| l.movable_zone == crate::mm::mm_init::ZoneType::HighMem);
    let zones: alloc::vec::Vec<(u32, &'static str, u64, u64)> = k
        .page_alloc
        .node_data
        .iter()
        .flat_map(|n| {
            n.node_zones.iter().map(move |z| {
                (
                    n.node_id,
                    z.zone_type,
                    z.zone_start_pfn,
                    z.zone_start_pfn + z.spanned_pages,
                )
            })
        })
        .filter(|(_, t, _, _)| {
            *t == crate::mm::mm_init::ZoneType::HighMem
                || (*t == crate::mm::mm_init::ZoneType::Movable && movable_is_highmem)
        })
        .map(|(nid, t, s, e)| (nid, t.name(), s, e))
        .collect();
    for (nid, name, start, end) in zones {
        pr_info!(
            k.printk,
            "Initializing {name} for node {nid} ({start:08x}:{end:08x})\n"
        );
        add_highpages_with_active_regions(k, start, end);
    }
}

/// arch/x86/mm/init_32.c: `add_highpages_with_active_regions`: the pfns of memblock's free
/// ranges inside `[start_pfn, end_pfn)` that have a struct page, each freed on its own
/// (`free_highmem_page`; `add_one_highpage_init` before 3.10).
fn add_highpages_with_active_regions(k: &mut Kernel, start_pfn: u64, end_pfn: u64) {
    let name = if k.era.at_least(3, 10) {
        ("free_highmem_page", "mm/page_alloc.c")
    } else {
        ("add_one_highpage_init", "arch/x86/mm/init_32.c")
    };
    let _t = k
        .trace
        .enter("add_highpages_with_active_regions", "arch/x86/mm/init_32.c");
    let free = crate::arch::x86::init_64::free_ranges(k);
    let _t2 = k.trace.enter(name.0, name.1);
    for (s, e) in free {
        let pfn = s.div_ceil(4096).clamp(start_pfn, end_pfn);
        let e_pfn = (e >> 12).clamp(start_pfn, end_pfn);
        for pfn in pfn..e_pfn {
            if k.sparse().pfn_valid(pfn) {
                crate::mm::page_alloc::free_highmem_page(k, pfn);
            }
        }
    }
}

/// arch/x86/mm/init_32.c: `mem_init`'s "virtual kernel memory layout:" block: the fixmap,
/// from 4.15 the CPU entry area, pkmap, vmalloc (`high_memory + VMALLOC_OFFSET` to
/// `VMALLOC_END`), lowmem, and the image's sections (as the image sizes give them: the
/// kernel's exact `_etext` and `_edata` are not printed elsewhere). The CPU entry area
/// prints `NR_CPUS × 39 + 1` pages, the size of `struct cpu_entry_area` in the 4.15 build
/// of the corpus (a build fact).
fn print_memory_layout(k: &mut Kernel) {
    let Some(l) = layout(k) else {
        return;
    };
    let high_memory = pgtable_32_types::PAGE_OFFSET + (k.max_low_pfn << 12);
    let vmalloc_start = high_memory + VMALLOC_OFFSET;
    let kb = |a: u64, b: u64| b.wrapping_sub(a) >> 10;
    let mb = |a: u64, b: u64| b.wrapping_sub(a) >> 20;
    let mut s = alloc::format!(
        "virtual kernel memory layout:\n    fixmap  : 0x{:08x} - 0x{:08x}   ({:4} kB)\n",
        l.fixaddr_start,
        pgtable_32_types::FIXADDR_TOP,
        kb(l.fixaddr_start, pgtable_32_types::FIXADDR_TOP)
    );
    if let Some(cea) = l.cpu_entry_area_base {
        let end = cea + (u64::from(k.machine.nr_cpus.max(1)) * 39 + 1) * 4096;
        s += &alloc::format!(
            "  cpu_entry : 0x{cea:08x} - 0x{end:08x}   ({:4} kB)\n",
            kb(cea, end)
        );
    }
    if k.machine.kernel_config().highmem {
        let end = l.pkmap_base + pgtable_32_types::last_pkmap(l.pae) * 4096;
        s += &alloc::format!(
            "    pkmap   : 0x{:08x} - 0x{end:08x}   ({:4} kB)\n",
            l.pkmap_base,
            kb(l.pkmap_base, end)
        );
    }
    s += &alloc::format!(
        "    vmalloc : 0x{vmalloc_start:08x} - 0x{:08x}   ({:4} MB)\n    lowmem  : 0x{:08x} - 0x{high_memory:08x}   ({:4} MB)\n",
        l.vmalloc_end,
        mb(vmalloc_start, l.vmalloc_end),
        pgtable_32_types::PAGE_OFFSET,
        mb(pgtable_32_types::PAGE_OFFSET, high_memory)
    );
    let img = &k.machine.image;
    let text = pgtable_32_types::PAGE_OFFSET + img.phys_start;
    let etext = text + img.text;
    let edata = etext + img.rodata + img.rwdata;
    let init = crate::include::addr::page_align(edata);
    s += &alloc::format!(
        "      .init : 0x{init:08x} - 0x{:08x}   ({:4} kB)\n      .data : 0x{etext:08x} - 0x{edata:08x}   ({:4} kB)\n      .text : 0x{text:08x} - 0x{etext:08x}   ({:4} kB)\n",
        init + img.init,
        img.init >> 10,
        kb(etext, edata),
        kb(text, etext)
    );
    pr_info!(k.printk, "{s}");
}
