// SPDX-License-Identifier: GPL-2.0-only
//! The page allocator calls a script can make (include/linux/gfp.h, mm/page_alloc.c), and
//! `cat` of the /proc files (`/proc/buddyinfo`, `pagetypeinfo`, `zoneinfo`, `meminfo`).
//!
//! A `struct page *` is returned as `page:pfn 0x… (0x<physical address>)` and a script
//! variable holds its physical address; `__free_pages` takes that physical address.
//! `__get_free_pages` and `get_zeroed_page` return the direct-map (kernel virtual) address,
//! as the kernel does, and `free_pages` takes it back. A free the kernel would report as a
//! "Bad page state" (or a `VM_BUG_ON_PAGE`) is an error line carrying the report; the page is
//! left as it was and the script goes on.

use alloc::format;
use alloc::string::{String, ToString};
use core::ptr::NonNull;

use super::{Args, CallSpec, Ret};
use crate::include::mm_types::Page;
use crate::kernel::Kernel;
use crate::mm::page_alloc::{self, AllocError, FreeResult};
use crate::param;

pub use crate::fs::proc::ProcFile;

fn alloc_err(e: AllocError) -> String {
    match e {
        AllocError::BadZoneModifiers(raw) => format!(
            "VM_BUG_ON((GFP_ZONE_BAD >> bit) & 1): gfp {raw:#x} combines zone modifiers the kernel rejects"
        ),
        AllocError::NoNode(n) => format!("node {n} does not exist"),
        AllocError::Grow(e) => format!("growing the zone's deferred struct pages: {e}"),
    }
}

fn page_ret(k: &Kernel, p: Option<NonNull<Page>>) -> Result<Ret, String> {
    match p {
        Some(p) => match page_alloc::page_to_pfn(k, p) {
            Some(pfn) => Ok(Ret::Page(pfn << 12)),
            // The allocator hands out only struct pages of its own memmap.
            None => Err(format!("internal error: the allocator returned {p:p}, which is no struct page of this memmap")),
        },
        None => Ok(Ret::Null),
    }
}

fn free_ret(r: FreeResult, call: &str) -> Result<Ret, String> {
    match r {
        FreeResult::Freed | FreeResult::StillReferenced => Ok(Ret::Void),
        FreeResult::BadPage => Err(format!(
            "{call}: the kernel's checks reject this free (report above); nothing was freed"
        )),
        FreeResult::NotAPage => Err(format!("{call}: not a struct page of this memmap")),
    }
}

/// `walk` on i386: `lookup_address` on `swapper_pg_dir` (the direct map, pkmap, fixmap and
/// whatever else the tables hold) where the era's tables are built; else the pkmap and
/// fixmap page tables and lowmem's linear direct map.
fn walk_32(k: &Kernel, va: u64, extra: &mut super::Extra) -> Result<Ret, String> {
    use crate::arch::x86::pgtable_32_types::PAGE_OFFSET;
    if let Some(w) = crate::arch::x86::pgtable_32::lookup_address_32(k, va) {
        extra.output = Some(format!("{w}\n"));
        return Ok(match w.walk.pa {
            Some(pa) => Ret::Addr(pa.0),
            None => Ret::Null,
        });
    }
    if let Some((pa, e)) = crate::mm::highmem::lookup_kmap_address(k, va) {
        extra.output = Some(format!("{va:#010x} -> {pa:#x} (pte 4K, entry {e:#x})\n"));
        return Ok(Ret::Addr(pa));
    }
    let high_memory = PAGE_OFFSET + (k.max_low_pfn << 12);
    if (PAGE_OFFSET..high_memory).contains(&va) {
        let pa = va - PAGE_OFFSET;
        extra.output = Some(format!(
            "{va:#010x} -> {pa:#x} (lowmem, the linear direct map; i386's direct-map tables are not modelled)\n"
        ));
        return Ok(Ret::Addr(pa));
    }
    extra.output = Some(format!("{va:#010x}: not mapped\n"));
    Ok(Ret::Null)
}

/// `__free_pages(page, order)` with the page given by its physical address.
fn free_by_phys(k: &mut Kernel, a: &Args<'_>) -> Result<Ret, String> {
    let (pa, order) = (a.u64(0), a.order(1));
    let call = format!("__free_pages({pa:#x}, {order})");
    if pa & 0xfff != 0 {
        return Err(format!(
            "{call}: not a page address (takes the physical address alloc_pages returned)"
        ));
    }
    let pfn = pa >> 12;
    let Some(page) = k
        .sparse
        .pfn_to_page(pfn)
        .filter(|_| k.memmap.page_initialised(pfn))
    else {
        return Err(format!("{call}: pfn {pfn:#x} has no struct page"));
    };
    free_ret(page_alloc::__free_pages(k, page, order), &call)
}

/// The page allocator calls, as include/linux/gfp.h declares them.
pub static PAGE_CALLS: &[CallSpec] = &[
    CallSpec {
        name: "alloc_pages",
        params: &[param!("gfp", Gfp), param!("order", Order)],
        run: |k, a, _| {
            let p = page_alloc::alloc_pages(k, a.gfp(0), a.order(1)).map_err(alloc_err)?;
            page_ret(k, p)
        },
    },
    CallSpec {
        name: "alloc_pages_node",
        params: &[
            param!("nid", Nid),
            param!("gfp", Gfp),
            param!("order", Order),
        ],
        run: |k, a, _| {
            let p = page_alloc::alloc_pages_node(k, a.nid(0), a.gfp(1), a.order(2))
                .map_err(alloc_err)?;
            page_ret(k, p)
        },
    },
    CallSpec {
        name: "__free_pages",
        params: &[param!("page", U64), param!("order", Order)],
        run: |k, a, _| free_by_phys(k, a),
    },
    CallSpec {
        name: "walk",
        params: &[param!("vaddr", U64)],
        run: |k, a, extra| {
            if !k.era.is_64bit() {
                return walk_32(k, a.u64(0), extra);
            }
            // lookup_address: the entry mapping the address, its level, and where it lands.
            let w = crate::arch::x86::set_memory::lookup_address(k, a.u64(0));
            extra.output = Some(alloc::format!("{w}\n"));
            Ok(match w.pa {
                Some(pa) => Ret::Addr(pa.0),
                None => Ret::Null,
            })
        },
    },
    CallSpec {
        name: "__get_free_pages",
        params: &[param!("gfp", Gfp), param!("order", Order)],
        run: |k, a, _| {
            let v = page_alloc::__get_free_pages(k, a.gfp(0), a.order(1)).map_err(alloc_err)?;
            Ok(if v == 0 { Ret::Null } else { Ret::Addr(v) })
        },
    },
    CallSpec {
        name: "get_zeroed_page",
        params: &[param!("gfp", Gfp)],
        run: |k, a, _| {
            let v = page_alloc::get_zeroed_page(k, a.gfp(0)).map_err(alloc_err)?;
            Ok(if v == 0 { Ret::Null } else { Ret::Addr(v) })
        },
    },
    CallSpec {
        name: "free_pages",
        params: &[param!("addr", U64), param!("order", Order)],
        run: |k, a, _| {
            let (addr, order) = (a.u64(0), a.order(1));
            let r = page_alloc::free_pages(k, addr, order)?;
            free_ret(r, &format!("free_pages({addr:#x}, {order})"))
        },
    },
    CallSpec {
        name: "cpu",
        params: &[param!("cpu", Nid)],
        run: |k, a, _| {
            let cpu = a.nid(0);
            let nr = k.cpus.nr_cpu_ids();
            let cpu = u32::try_from(cpu).map_err(|_| {
                format!("cpu({cpu}): CPU {cpu} does not exist: this machine has nr_cpu_ids {nr} (CPUs 0-{})", nr - 1)
            })?;
            k.cpus
                .switch_to(cpu)
                .map_err(|e| format!("cpu({cpu}): {e}"))?;
            Ok(Ret::Void)
        },
    },
    CallSpec {
        name: "smp_processor_id",
        params: &[],
        run: |k, _, _| Ok(Ret::Int(i64::from(k.cpus.current()))),
    },
    CallSpec {
        name: "drain_local_pages",
        params: &[],
        run: |k, _, _| {
            page_alloc::drain_local_pages(k);
            Ok(Ret::Void)
        },
    },
    CallSpec {
        name: "drain_all_pages",
        params: &[],
        run: |k, _, _| {
            k.drain_all_pages();
            Ok(Ret::Void)
        },
    },
    CallSpec {
        name: "nr_free_pages",
        params: &[],
        run: |k, _, _| Ok(Ret::Int(page_alloc::nr_free_pages(k) as i64)),
    },
    CallSpec {
        name: "cat",
        params: &[param!("file", File)],
        run: |k, a, extra| {
            let text = match a.file(0) {
                Some(f) => f.show(k),
                None => return Err("cat: no file".to_string()),
            };
            extra.output = Some(text);
            Ok(Ret::Void)
        },
    },
];
