// SPDX-License-Identifier: GPL-2.0-only
//! The vmalloc calls a script can make (include/linux/vmalloc.h, mm/vmalloc.c).
//!
//! `vmalloc`, `vzalloc` and `__vmalloc_node` return the area's kernel virtual address (NULL
//! when the kernel's would be, with its warning in the log); `poke`, `peek`, `memset` and
//! `walk` take such addresses and go through the kernel's page tables. `vmap` and
//! `vm_map_ram` map `count` pages starting at the physical address `alloc_pages` returned
//! (the pages of one higher-order block, or any run of allocated pages). A `vfree` of what
//! vmalloc never gave out, or gave out and freed, is an error line carrying the kernel's
//! warning; nothing changes and the script goes on.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{CallSpec, Ret};
use crate::kernel::Kernel;
use crate::mm::vmalloc::{VfreeResult, VmallocArgs, VmallocError};
use crate::param;

fn err(e: VmallocError) -> String {
    format!("{e}")
}

fn addr_ret(v: u64) -> Ret {
    if v == 0 {
        Ret::Null
    } else {
        Ret::Addr(v)
    }
}

/// The last line the kernel logged (the warning a bad call printed).
fn last_warning(k: &Kernel, from: usize) -> String {
    k.printk
        .lines_from(from)
        .iter()
        .rev()
        .find(|l| l.text.starts_with("Trying to") || l.text.starts_with("kernel BUG"))
        .map(|l| String::from(l.text.trim_end()))
        .unwrap_or_default()
}

fn free_ret(k: &Kernel, from: usize, r: VfreeResult, call: &str) -> Result<Ret, String> {
    match r {
        VfreeResult::Freed | VfreeResult::Null => Ok(Ret::Void),
        VfreeResult::BadAddress | VfreeResult::Nonexistent => Err(format!(
            "{call}: {} (the kernel WARNs and returns; nothing was freed)",
            last_warning(k, from)
        )),
    }
}

/// The pfns of `count` pages from physical address `pa`, each with an initialised struct
/// page.
fn pfns(k: &Kernel, pa: u64, count: u64, call: &str) -> Result<Vec<u64>, String> {
    if pa & 0xfff != 0 {
        return Err(format!(
            "{call}: {pa:#x} is not a page address (takes the physical address alloc_pages returned)"
        ));
    }
    if count == 0 || count > k.page_alloc().totalram_pages() {
        return Err(format!(
            "{call}: count {count} pages is not a number of pages this machine has"
        ));
    }
    let first = pa >> 12;
    (first..first + count)
        .map(|pfn| {
            k.sparse()
                .pfn_to_page(pfn)
                .filter(|_| k.memmap.page_initialised(pfn))
                .map(|_| pfn)
                .ok_or_else(|| format!("{call}: pfn {pfn:#x} has no struct page"))
        })
        .collect()
}

/// The vmalloc calls.
pub static VMALLOC_CALLS: &[CallSpec] = &[
    CallSpec {
        name: "vmalloc",
        params: &[param!("size", U64)],
        run: |k, a, _| {
            let mut v = VmallocArgs::vmalloc(a.u64(0));
            v.caller = "bootmm_script";
            k.__vmalloc_node(v).map(addr_ret).map_err(err)
        },
    },
    CallSpec {
        name: "vzalloc",
        params: &[param!("size", U64)],
        run: |k, a, _| {
            let mut v = VmallocArgs::vzalloc(a.u64(0));
            v.caller = "bootmm_script";
            k.__vmalloc_node(v).map(addr_ret).map_err(err)
        },
    },
    CallSpec {
        name: "vmalloc_node",
        params: &[param!("size", U64), param!("nid", Nid)],
        run: |k, a, _| {
            let mut v = VmallocArgs::vmalloc(a.u64(0));
            v.caller = "bootmm_script";
            v.node = a.nid(1);
            k.__vmalloc_node(v).map(addr_ret).map_err(err)
        },
    },
    CallSpec {
        name: "__vmalloc_node",
        params: &[
            param!("size", U64),
            param!("align", U64),
            param!("gfp", Gfp),
            param!("nid", Nid),
        ],
        run: |k, a, _| {
            let v = VmallocArgs {
                size: a.u64(0),
                align: a.u64(1),
                gfp: a.gfp(2),
                node: a.nid(3),
                caller: "bootmm_script",
            };
            k.__vmalloc_node(v).map(addr_ret).map_err(err)
        },
    },
    CallSpec {
        name: "vfree",
        params: &[param!("addr", U64)],
        run: |k, a, _| {
            let from = k.printk.lines().len();
            let r = k.vfree(a.u64(0));
            free_ret(k, from, r, &format!("vfree({:#x})", a.u64(0)))
        },
    },
    CallSpec {
        name: "vrealloc",
        params: &[param!("addr", U64), param!("size", U64), param!("gfp", Gfp)],
        run: |k, a, _| {
            k.vrealloc(a.u64(0), a.u64(1), a.gfp(2))
                .map(addr_ret)
                .map_err(err)
        },
    },
    CallSpec {
        name: "vmap",
        params: &[param!("page", U64), param!("count", U64)],
        run: |k, a, _| {
            let call = format!("vmap({:#x}, {})", a.u64(0), a.u64(1));
            let p = pfns(k, a.u64(0), a.u64(1), &call)?;
            k.vmap(&p, 0).map(addr_ret).map_err(err)
        },
    },
    CallSpec {
        name: "vunmap",
        params: &[param!("addr", U64)],
        run: |k, a, _| {
            let from = k.printk.lines().len();
            let r = k.vunmap(a.u64(0));
            free_ret(k, from, r, &format!("vunmap({:#x})", a.u64(0)))
        },
    },
    CallSpec {
        name: "vm_map_ram",
        params: &[param!("page", U64), param!("count", U64)],
        run: |k, a, _| {
            let call = format!("vm_map_ram({:#x}, {})", a.u64(0), a.u64(1));
            let p = pfns(k, a.u64(0), a.u64(1), &call)?;
            k.vm_map_ram(&p, -1).map(addr_ret).map_err(err)
        },
    },
    CallSpec {
        name: "vm_unmap_ram",
        params: &[param!("addr", U64), param!("count", U64)],
        run: |k, a, _| {
            let from = k.printk.lines().len();
            if k.vm_unmap_ram(a.u64(0), a.u64(1)) {
                Ok(Ret::Void)
            } else {
                Err(format!(
                    "vm_unmap_ram({:#x}, {}): {} (the kernel would crash; nothing changed)",
                    a.u64(0),
                    a.u64(1),
                    last_warning(k, from)
                ))
            }
        },
    },
    CallSpec {
        name: "vm_unmap_aliases",
        params: &[],
        run: |k, _, _| {
            k.vm_unmap_aliases();
            Ok(Ret::Void)
        },
    },
    CallSpec {
        name: "purge_vmap_area_lazy",
        params: &[],
        run: |k, _, _| {
            k.purge_vmap_area_lazy();
            Ok(Ret::Void)
        },
    },
];
