// SPDX-License-Identifier: GPL-2.0-only
//! The slab calls a script can make (include/linux/slab.h, mm/slab_common.c, mm/slub.c),
//! and `poke`/`peek` to corrupt and inspect memory on purpose, so that slub_debug can be
//! watched catching it.
//!
//! Objects and caches are kernel virtual addresses (`struct kmem_cache *` is the address of
//! the cache's own object in the `kmem_cache` cache), as the kernel returns them. A cache
//! argument is looked up among the live caches first: a destroyed or made-up one is an error
//! line, not a use after free. `validate(cache)` runs `validate_slab_cache` and returns how
//! many reports and fixes it made (slub_kunit's `slab_errors`).

use alloc::format;
use alloc::string::String;

use super::{Args, CallSpec, Ret};
use crate::include::PhysAddr;
use crate::kernel::Kernel;
use crate::mm::page_alloc::AllocError;
use crate::mm::slab::SlabFlags;
use crate::mm::slab_common::{self as sc, KfreeError, KreallocError};
use crate::mm::slub::alloc::CachePtr;
use crate::param;

fn alloc_err(e: AllocError) -> String {
    format!("the page allocator could not be called: {e:?}")
}

fn ptr(v: u64) -> Ret {
    if v == 0 {
        Ret::Null
    } else {
        Ret::Addr(v)
    }
}

fn cache(k: &Kernel, v: u64, call: &str) -> Result<CachePtr, String> {
    k.slab
        .cache_at(v)
        .ok_or_else(|| format!("{call}: {v:#x} is no live cache (kmem_cache_create's result)"))
}

fn kfree_err(e: KfreeError, call: &str) -> String {
    match e {
        KfreeError::NotMemory(x) => {
            format!("{call}: {x:#x} is not a kernel address of simulated RAM; nothing was freed")
        }
        KfreeError::NotKmalloc(x) => format!(
            "{call}: {x:#x} is no slab object or large kmalloc (see the warning above); nothing was freed"
        ),
        KfreeError::NotAnObject(x) => format!(
            "{call}: {x:#x} lies in a slab where no object fits (it would run past the slab); nothing was freed"
        ),
        KfreeError::SlabMetadata(x) => format!(
            "{call}: {x:#x} is a live cache's struct kmem_cache or kmem_cache_node (use kmem_cache_destroy); nothing was freed"
        ),
    }
}

/// A script address as a physical address: a direct-map (kernel virtual) address is
/// translated, anything below PAGE_OFFSET is taken as physical.
pub(crate) fn phys_of(k: &Kernel, v: u64) -> PhysAddr {
    let page_offset = k.phys.va(PhysAddr(0)).0;
    if let Some((pa, _)) = crate::mm::highmem::lookup_kmap_address(k, v) {
        // A kmap or kmap_atomic address: where the pkmap or fixmap page table maps it.
        return PhysAddr(pa);
    }
    if crate::mm::vmalloc::is_vmalloc_addr(k, v) {
        // A vmalloc address: the page the kernel's tables map it to (an unmapped one reads
        // as outside simulated RAM).
        return crate::mm::vmalloc::virt_to_phys_walk(k, v, 1).unwrap_or(PhysAddr(u64::MAX));
    }
    if !k.era.is_64bit()
        && v >= crate::arch::x86::pgtable_32_types::PAGE_OFFSET + (k.max_low_pfn << 12)
    {
        // Above lowmem on i386 and outside vmalloc's areas: no direct mapping (an unmapped
        // kmap slot, the vmalloc guard hole, the fixmap).
        return PhysAddr(u64::MAX);
    }
    if v >= page_offset {
        k.phys.pa(crate::VirtAddr(v))
    } else {
        PhysAddr(v)
    }
}

/// `[v, v + len)` as runs of physical memory: one run for a physical or direct-map
/// address, one per page for a vmalloc address (each page where the tables map it).
///
/// # Errors
/// A vmalloc page of the range is not mapped.
pub(crate) fn phys_runs(
    k: &Kernel,
    v: u64,
    len: u64,
) -> Result<alloc::vec::Vec<(PhysAddr, u64)>, String> {
    if crate::mm::highmem::lookup_kmap_address(k, v).is_some() {
        if (v & 0xfff) + len > 4096 {
            return Err(format!(
                "{v:#x}+{len:#x} runs past the kmapped page (one page per kmap slot)"
            ));
        }
        return Ok(alloc::vec![(phys_of(k, v), len)]);
    }
    if !crate::mm::vmalloc::is_vmalloc_addr(k, v) {
        return Ok(alloc::vec![(phys_of(k, v), len)]);
    }
    let mut runs = alloc::vec::Vec::new();
    let mut a = v;
    let end = v.saturating_add(len);
    while a < end {
        let n = (4096 - (a & 0xfff)).min(end - a);
        let pa = crate::mm::vmalloc::virt_to_phys_walk(k, a, n)
            .ok_or_else(|| format!("{a:#x} is not mapped (walk it to see where the walk stops)"))?;
        runs.push((pa, n));
        a += n;
    }
    Ok(runs)
}

/// Refuse a script's write into memory where bootmm keeps structures linked by host
/// pointers: the memmap (struct pages), the percpu units (pagesets, `kmem_cache_cpu`s) and
/// the slabs of `kmem_cache` and `kmem_cache_node`. The kernel would let a write there
/// corrupt itself; bootmm cannot follow a corrupted host pointer safely, so it says no.
pub(crate) fn refuse_metadata(
    k: &Kernel,
    pa: PhysAddr,
    len: u64,
    call: &str,
) -> Result<(), String> {
    if len == 0 {
        return Ok(());
    }
    let (start, end) = (pa.0, pa.0.saturating_add(len));
    let overlaps = |b: u64, e: u64| start < e && b < end;
    if let Some((b, size)) = crate::mm::sparse::flatmem_shadow_window(&k.machine) {
        if overlaps(b, b + size) {
            return Err(format!(
                "{call}: {start:#x}-{:#x} is not the machine's memory but bootmm's shadow window of its i386 struct pages and section table; writing there is refused",
                end - 1
            ));
        }
    }
    let bytes = crate::mm::sparse::PAGES_PER_SECTION * crate::include::mm_types::STRUCT_PAGE_SIZE;
    let mut nr = None;
    while let Some(n) = k.sparse.next_present_section_nr(nr) {
        nr = Some(n);
        if let Some(b) = k
            .sparse
            .section_memmap(n)
            .and_then(|p| k.sparse.host_to_phys(p))
        {
            if overlaps(b, b + bytes) {
                return Err(format!(
                    "{call}: {start:#x}-{:#x} holds struct pages (the memmap of section {n}), which bootmm links with host pointers; writing there is refused",
                    end - 1
                ));
            }
        }
    }
    // The part of each unit the first chunk uses (`size_sum`); the rest of the unit went
    // back to memblock (`pcpu_fc_free`) and is ordinary free memory.
    let unit = k.percpu.ai.as_ref().map_or(0, |ai| ai.size_sum());
    for (cpu, &u) in k.percpu.unit_pa.iter().enumerate() {
        if unit != 0 && overlaps(u, u + unit) {
            return Err(format!(
                "{call}: {start:#x}-{:#x} holds CPU {cpu}'s percpu unit (pagesets, slab CPU state), which bootmm links with host pointers; writing there is refused",
                end - 1
            ));
        }
    }
    if let Some(what) = crate::mm::vmalloc::metadata_at(k, start, end - start) {
        return Err(format!(
            "{call}: {start:#x}-{:#x} holds {what}, whose links bootmm follows unchecked; writing there is refused",
            end - 1
        ));
    }
    if k.slab.state() >= crate::mm::slub::SlabState::Partial {
        let va0 = k.phys.va(PhysAddr(start & !0xfff)).0;
        let pages = (end - (start & !0xfff)).div_ceil(4096).min(1 << 20);
        for i in 0..pages {
            if let crate::mm::slub::alloc::Owner::Slab(s, _) =
                crate::mm::slub::alloc::virt_to_owner(k, va0 + i * 4096)
            {
                if s == k.slab.kmem_cache_ptr() || s == k.slab.kmem_cache_node_ptr() {
                    return Err(format!(
                        "{call}: {start:#x}-{:#x} holds a slab of struct kmem_cache or kmem_cache_node, which bootmm links with host pointers; writing there is refused",
                        end - 1
                    ));
                }
            }
        }
    }
    Ok(())
}

fn slab_up(k: &Kernel, call: &str) -> Result<(), String> {
    if k.slab.state() < crate::mm::slub::SlabState::Up {
        return Err(format!(
            "{call}: the slab allocator is not up (kmem_cache_init has not run: a bare machine)"
        ));
    }
    Ok(())
}

fn flags_of(v: u64) -> Result<SlabFlags, String> {
    u32::try_from(v)
        .ok()
        .and_then(SlabFlags::from_bits)
        .ok_or_else(|| format!("{v:#x} has bits that are no SLAB_* flag"))
}

fn validate(k: &mut Kernel, a: &Args<'_>) -> Result<Ret, String> {
    let c = cache(k, a.u64(0), "validate")?;
    let before = k.slab.errors.load(core::sync::atomic::Ordering::Relaxed);
    sc::validate_slab_cache(k, c);
    let after = k.slab.errors.load(core::sync::atomic::Ordering::Relaxed);
    Ok(Ret::Int((after - before) as i64))
}

/// The slab calls.
pub static SLAB_CALLS: &[CallSpec] = &[
    CallSpec {
        name: "kmem_cache_create",
        params: &[
            param!("name", Str),
            param!("size", U64),
            param!("align", U64),
            param!("flags", U64),
        ],
        run: |k, a, _| {
            slab_up(k, "kmem_cache_create")?;
            let flags = flags_of(a.u64(3))?;
            let size = u32::try_from(a.u64(1)).map_err(|_| "size must fit in an unsigned int")?;
            let align = u32::try_from(a.u64(2)).map_err(|_| "align must fit in an unsigned int")?;
            match k.kmem_cache_create(a.str(0), size, align, flags) {
                Ok(c) => Ok(Ret::Addr(sc::cache_va(k, c))),
                // The kernel's warning is in the log; it returns NULL.
                Err(_) => Ok(Ret::Null),
            }
        },
    },
    CallSpec {
        name: "kmem_cache_destroy",
        params: &[param!("cache", U64)],
        run: |k, a, _| {
            if a.u64(0) == 0 {
                return Ok(Ret::Void);
            }
            let c = cache(k, a.u64(0), "kmem_cache_destroy")?;
            match sc::kmem_cache_destroy(k, c) {
                Ok(()) => Ok(Ret::Void),
                Err(sc::DestroyError::Busy) => Err(
                    "kmem_cache_destroy: objects remain (report above); the cache is kept".into(),
                ),
                Err(sc::DestroyError::BootCache) => {
                    Err("kmem_cache_destroy: a boot cache is never destroyed".into())
                }
                Err(sc::DestroyError::NotACache) => Err("kmem_cache_destroy: no such cache".into()),
            }
        },
    },
    CallSpec {
        name: "kmem_cache_shrink",
        params: &[param!("cache", U64)],
        run: |k, a, _| {
            let c = cache(k, a.u64(0), "kmem_cache_shrink")?;
            Ok(Ret::Int(i64::from(sc::kmem_cache_shrink(k, c))))
        },
    },
    CallSpec {
        name: "kmem_cache_alloc",
        params: &[param!("cache", U64), param!("gfp", Gfp)],
        run: |k, a, _| {
            let c = cache(k, a.u64(0), "kmem_cache_alloc")?;
            Ok(ptr(k.kmem_cache_alloc(c, a.gfp(1)).map_err(alloc_err)?))
        },
    },
    CallSpec {
        name: "kmem_cache_free",
        params: &[param!("cache", U64), param!("obj", U64)],
        run: |k, a, _| {
            let call = format!("kmem_cache_free({:#x}, {:#x})", a.u64(0), a.u64(1));
            let c = cache(k, a.u64(0), &call)?;
            k.kmem_cache_free(c, a.u64(1))
                .map_err(|e| kfree_err(e, &call))?;
            Ok(Ret::Void)
        },
    },
    CallSpec {
        name: "kmalloc_trace",
        params: &[
            param!("cache", U64),
            param!("gfp", Gfp),
            param!("size", U64),
        ],
        run: |k, a, _| {
            let c = cache(k, a.u64(0), "kmalloc_trace")?;
            Ok(ptr(k
                .kmalloc_trace(c, a.gfp(1), a.u64(2))
                .map_err(alloc_err)?))
        },
    },
    CallSpec {
        name: "kmalloc",
        params: &[param!("size", U64), param!("gfp", Gfp)],
        run: |k, a, _| {
            slab_up(k, "kmalloc")?;
            Ok(ptr(k.kmalloc(a.u64(0), a.gfp(1)).map_err(alloc_err)?))
        },
    },
    CallSpec {
        name: "kzalloc",
        params: &[param!("size", U64), param!("gfp", Gfp)],
        run: |k, a, _| {
            slab_up(k, "kzalloc")?;
            let gfp = a.gfp(1) | crate::include::gfp::Gfp::__GFP_ZERO;
            Ok(ptr(k.kmalloc(a.u64(0), gfp).map_err(alloc_err)?))
        },
    },
    CallSpec {
        name: "kfree",
        params: &[param!("obj", U64)],
        run: |k, a, _| {
            let call = format!("kfree({:#x})", a.u64(0));
            k.kfree(a.u64(0)).map_err(|e| kfree_err(e, &call))?;
            Ok(Ret::Void)
        },
    },
    CallSpec {
        name: "krealloc",
        params: &[param!("obj", U64), param!("size", U64), param!("gfp", Gfp)],
        run: |k, a, _| {
            slab_up(k, "krealloc")?;
            let call = format!("krealloc({:#x}, {})", a.u64(0), a.u64(1));
            match k.krealloc(a.u64(0), a.u64(1), a.gfp(2)) {
                Ok(v) => Ok(ptr(v)),
                Err(KreallocError::Alloc(e)) => Err(alloc_err(e)),
                Err(KreallocError::Free(e)) => Err(kfree_err(e, &call)),
            }
        },
    },
    CallSpec {
        name: "ksize",
        params: &[param!("obj", U64)],
        run: |k, a, _| Ok(Ret::Int(sc::ksize(k, a.u64(0)) as i64)),
    },
    CallSpec {
        name: "validate",
        params: &[param!("cache", U64)],
        run: |k, a, _| validate(k, a),
    },
    CallSpec {
        name: "slabinfo",
        params: &[],
        run: |k, _, extra| {
            let caches = crate::tools::slabinfo::read_slab_dir(k);
            extra.output = Some(crate::tools::slabinfo::report(&caches, false));
            Ok(Ret::Void)
        },
    },
    CallSpec {
        name: "poke",
        params: &[param!("addr", U64), param!("c", Byte)],
        run: |k, a, _| {
            let call = format!("poke({:#x})", a.u64(0));
            let pa = phys_runs(k, a.u64(0), 1).map_err(|e| format!("{call}: {e}"))?[0].0;
            refuse_metadata(k, pa, 1, &call)?;
            k.phys
                .memset(pa, a.byte(1), 1)
                .map_err(|e| format!("{call}: {e}"))?;
            Ok(Ret::Void)
        },
    },
    CallSpec {
        name: "peek",
        params: &[param!("addr", U64)],
        run: |k, a, _| {
            let pa = phys_of(k, a.u64(0));
            let p = k
                .phys
                .host_ptr(pa, 1)
                .map_err(|e| format!("peek({:#x}): {e}", a.u64(0)))?;
            // SAFETY: `host_ptr` proved the byte is inside simulated RAM.
            Ok(Ret::Int(i64::from(unsafe { p.as_ptr().read() })))
        },
    },
];
