// SPDX-License-Identifier: GPL-2.0-only
//! The HIGHMEM calls a script can make (include/linux/highmem.h, mm/highmem.c,
//! arch/x86/mm/highmem_32.c), on an i386 kernel with CONFIG_HIGHMEM.
//!
//! A page is named by the physical address `alloc_pages` returned. `kmap` and `kmap_atomic`
//! return the kernel virtual address the page is mapped at (its direct-map address for a
//! lowmem page); `poke`, `peek`, `memset` and `walk` take those addresses and go through the
//! pkmap and fixmap page tables. `kmap_atomic` maps on the script's current CPU (`cpu(N)`).
//! A `kunmap` of a page that is not kmapped is the kernel's BUG report as an error line; the
//! state is left as it was.

use alloc::format;
use alloc::string::String;

use super::{CallSpec, Ret};
use crate::kernel::Kernel;
use crate::mm::highmem;
use crate::param;

fn page_pfn(pa: u64, call: &str) -> Result<u64, String> {
    if pa & 0xfff != 0 {
        return Err(format!(
            "{call}: {pa:#x} is not a page address (takes the physical address alloc_pages returned)"
        ));
    }
    Ok(pa >> 12)
}

fn run(call: String, r: Result<u64, highmem::KmapError>) -> Result<Ret, String> {
    r.map(Ret::Addr).map_err(|e| format!("{call}: {e}"))
}

fn unit(call: String, r: Result<(), highmem::KmapError>) -> Result<Ret, String> {
    r.map(|()| Ret::Void)
        .map_err(|e| format!("{call}: {e} (nothing changed)"))
}

fn cpu(k: &Kernel) -> u32 {
    k.cpus.current()
}

/// The HIGHMEM calls.
pub static HIGHMEM_CALLS: &[CallSpec] = &[
    CallSpec {
        name: "kmap",
        params: &[param!("page", U64)],
        run: |k, a, _| {
            let call = format!("kmap({:#x})", a.u64(0));
            let pfn = page_pfn(a.u64(0), &call)?;
            run(call, highmem::kmap(k, pfn))
        },
    },
    CallSpec {
        name: "kunmap",
        params: &[param!("page", U64)],
        run: |k, a, _| {
            let call = format!("kunmap({:#x})", a.u64(0));
            let pfn = page_pfn(a.u64(0), &call)?;
            unit(call, highmem::kunmap(k, pfn))
        },
    },
    CallSpec {
        name: "kmap_atomic",
        params: &[param!("page", U64)],
        run: |k, a, _| {
            let call = format!("kmap_atomic({:#x})", a.u64(0));
            let pfn = page_pfn(a.u64(0), &call)?;
            run(call, highmem::kmap_atomic(k, cpu(k), pfn))
        },
    },
    CallSpec {
        name: "kunmap_atomic",
        params: &[param!("addr", U64)],
        run: |k, a, _| {
            let call = format!("kunmap_atomic({:#x})", a.u64(0));
            unit(call, highmem::kunmap_atomic(k, cpu(k), a.u64(0)))
        },
    },
    CallSpec {
        name: "kmap_flush_unused",
        params: &[],
        run: |k, _, _| {
            highmem::kmap_flush_unused(k);
            Ok(Ret::Void)
        },
    },
    CallSpec {
        name: "page_address",
        params: &[param!("page", U64)],
        run: |k, a, _| {
            let call = format!("page_address({:#x})", a.u64(0));
            let pfn = page_pfn(a.u64(0), &call)?;
            Ok(highmem::page_address(k, pfn).map_or(Ret::Null, Ret::Addr))
        },
    },
];
