// SPDX-License-Identifier: GPL-2.0-only
//! The memblock calls a script can make, named and ordered as in include/linux/memblock.h,
//! plus `memset`/`memchr_inv` on simulated RAM and the memblock test suite's reset helpers.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};

use super::{Args, CallSpec, DumpState, Extra, Param, Ret};
use crate::include::PhysAddr;
use crate::kernel::Kernel;
use crate::mm::memblock::{MemblockError, PhysAddrResult, ENOMEM};
use crate::param;

/// add/reserve/set_node: 0, or -ENOMEM as the kernel returns it; a kernel panic is an error.
fn int_ret(r: Result<(), MemblockError>) -> Result<Ret, String> {
    match r {
        Ok(()) => Ok(Ret::Int(0)),
        Err(MemblockError::NoMem { .. }) => Ok(Ret::Int(-(ENOMEM as i64))),
        Err(e) => Err(e.to_string()),
    }
}

/// Allocators: the address, or NULL.
fn addr_ret(r: PhysAddrResult) -> Result<Ret, String> {
    match r {
        Ok(Some(p)) => Ok(Ret::Addr(p.0)),
        Ok(None) => Ok(Ret::Null),
        Err(e) => Err(e.to_string()),
    }
}

/// remove/free: 0. A range with nothing to remove succeeds, as in the kernel (which says
/// nothing), with a note for the script's reader.
fn removed_ret(
    r: Result<u64, MemblockError>,
    extra: &mut Extra,
    func: &str,
    what: &str,
    base: u64,
    size: u64,
    void: bool,
) -> Result<Ret, String> {
    let ok = if void { Ret::Void } else { Ret::Int(0) };
    match r {
        Ok(0) if size != 0 => {
            extra.note = Some(format!(
                "{func}({base:#x}, {size:#x}): nothing in [{base:#x}-{:#x}] is {what}; the kernel ignores this call",
                base.wrapping_add(size).wrapping_sub(1)
            ));
            Ok(ok)
        }
        Ok(_) => Ok(ok),
        Err(MemblockError::NoMem { .. }) if !void => Ok(Ret::Int(-(ENOMEM as i64))),
        Err(e) => Err(e.to_string()),
    }
}

fn dump(k: &Kernel) -> Box<DumpState> {
    let m = &k.memblock;
    Box::new(DumpState {
        memory: (&m.memory).into(),
        reserved: (&m.reserved).into(),
        bottom_up: m.bottom_up,
        current_limit: m.current_limit,
    })
}

fn phys_err(e: crate::phys::PhysError) -> String {
    e.to_string()
}

/// The memblock dispatch table.
/// `(size, align, min_addr, max_addr, nid)`: the memblock_alloc_try_nid family.
const TRY_NID_PARAMS: &[Param] = &[
    param!("size", U64),
    param!("align", U64),
    param!("min_addr", U64),
    param!("max_addr", U64),
    param!("nid", Nid),
];

pub static MEMBLOCK_CALLS: &[CallSpec] = &[
    CallSpec {
        name: "memblock_add",
        params: &[param!("base", U64), param!("size", U64)],
        run: |k, a: &Args<'_>, _| int_ret(k.memblock.memblock_add(a.u64(0), a.u64(1))),
    },
    CallSpec {
        name: "memblock_add_node",
        params: &[
            param!("base", U64),
            param!("size", U64),
            param!("nid", Nid),
            param!("flags", Flags),
        ],
        run: |k, a, _| {
            int_ret(
                k.memblock
                    .memblock_add_node(a.u64(0), a.u64(1), a.nid(2), a.flags(3)),
            )
        },
    },
    CallSpec {
        name: "memblock_reserve",
        params: &[param!("base", U64), param!("size", U64)],
        run: |k, a, _| int_ret(k.memblock.memblock_reserve(a.u64(0), a.u64(1))),
    },
    CallSpec {
        name: "memblock_reserve_kern",
        params: &[param!("base", U64), param!("size", U64)],
        run: |k, a, _| int_ret(k.memblock.memblock_reserve_kern(a.u64(0), a.u64(1))),
    },
    CallSpec {
        name: "__memblock_reserve",
        params: &[
            param!("base", U64),
            param!("size", U64),
            param!("nid", Nid),
            param!("flags", Flags),
        ],
        run: |k, a, _| {
            int_ret(
                k.memblock
                    .__memblock_reserve(a.u64(0), a.u64(1), a.nid(2), a.flags(3)),
            )
        },
    },
    CallSpec {
        name: "memblock_remove",
        params: &[param!("base", U64), param!("size", U64)],
        run: |k, a, extra| {
            let (b, s) = (a.u64(0), a.u64(1));
            removed_ret(
                k.memblock.memblock_remove(b, s),
                extra,
                "memblock_remove",
                "memory",
                b,
                s,
                false,
            )
        },
    },
    CallSpec {
        name: "memblock_phys_free",
        params: &[param!("base", U64), param!("size", U64)],
        run: |k, a, extra| {
            let (b, s) = (a.u64(0), a.u64(1));
            removed_ret(
                k.memblock.memblock_phys_free(b, s),
                extra,
                "memblock_phys_free",
                "reserved",
                b,
                s,
                false,
            )
        },
    },
    CallSpec {
        name: "memblock_free",
        params: &[param!("ptr", U64), param!("size", U64)],
        run: |k, a, extra| {
            let (b, s) = (a.u64(0), a.u64(1));
            if b == 0 {
                return Ok(Ret::Void);
            }
            removed_ret(
                k.memblock.memblock_free(b, s),
                extra,
                "memblock_free",
                "reserved",
                b,
                s,
                true,
            )
        },
    },
    CallSpec {
        name: "memblock_set_node",
        params: &[
            param!("base", U64),
            param!("size", U64),
            param!("type", Type),
            param!("nid", Nid),
        ],
        run: |k, a, _| {
            int_ret(
                k.memblock
                    .memblock_set_node(a.u64(0), a.u64(1), a.ty(2), a.nid(3)),
            )
        },
    },
    CallSpec {
        name: "memblock_mark_hotplug",
        params: &[param!("base", U64), param!("size", U64)],
        run: |k, a, _| int_ret(k.memblock.memblock_mark_hotplug(a.u64(0), a.u64(1))),
    },
    CallSpec {
        name: "memblock_clear_hotplug",
        params: &[param!("base", U64), param!("size", U64)],
        run: |k, a, _| int_ret(k.memblock.memblock_clear_hotplug(a.u64(0), a.u64(1))),
    },
    CallSpec {
        name: "memblock_mark_nomap",
        params: &[param!("base", U64), param!("size", U64)],
        run: |k, a, _| int_ret(k.memblock.memblock_mark_nomap(a.u64(0), a.u64(1))),
    },
    CallSpec {
        name: "memblock_clear_nomap",
        params: &[param!("base", U64), param!("size", U64)],
        run: |k, a, _| int_ret(k.memblock.memblock_clear_nomap(a.u64(0), a.u64(1))),
    },
    CallSpec {
        name: "memblock_trim_memory",
        params: &[param!("align", U64)],
        run: |k, a, _| {
            k.memblock.memblock_trim_memory(a.u64(0));
            Ok(Ret::Void)
        },
    },
    CallSpec {
        name: "memblock_overlaps_region",
        params: &[
            param!("type", Type),
            param!("base", U64),
            param!("size", U64),
        ],
        run: |k, a, _| {
            Ok(Ret::Bool(k.memblock.memblock_overlaps_region(
                a.ty(0),
                a.u64(1),
                a.u64(2),
            )))
        },
    },
    CallSpec {
        name: "memblock_is_reserved",
        params: &[param!("addr", U64)],
        run: |k, a, _| Ok(Ret::Bool(k.memblock.memblock_is_reserved(a.u64(0)))),
    },
    CallSpec {
        name: "memblock_is_memory",
        params: &[param!("addr", U64)],
        run: |k, a, _| Ok(Ret::Bool(k.memblock.memblock_is_memory(a.u64(0)))),
    },
    CallSpec {
        name: "memblock_is_region_memory",
        params: &[param!("base", U64), param!("size", U64)],
        run: |k, a, _| {
            Ok(Ret::Bool(
                k.memblock.memblock_is_region_memory(a.u64(0), a.u64(1)),
            ))
        },
    },
    CallSpec {
        name: "memblock_is_region_reserved",
        params: &[param!("base", U64), param!("size", U64)],
        run: |k, a, _| {
            Ok(Ret::Bool(
                k.memblock.memblock_is_region_reserved(a.u64(0), a.u64(1)),
            ))
        },
    },
    CallSpec {
        name: "memblock_allow_resize",
        params: &[],
        run: |k, _, _| {
            k.memblock.memblock_allow_resize();
            Ok(Ret::Void)
        },
    },
    CallSpec {
        name: "memblock_set_bottom_up",
        params: &[param!("enable", Bool)],
        run: |k, a, _| {
            k.memblock.memblock_set_bottom_up(a.bool(0));
            Ok(Ret::Void)
        },
    },
    CallSpec {
        name: "memblock_bottom_up",
        params: &[],
        run: |k, _, _| Ok(Ret::Bool(k.memblock.memblock_bottom_up())),
    },
    CallSpec {
        name: "memblock_set_current_limit",
        params: &[param!("limit", U64)],
        run: |k, a, _| {
            k.memblock.memblock_set_current_limit(a.u64(0));
            Ok(Ret::Void)
        },
    },
    CallSpec {
        name: "memblock_get_current_limit",
        params: &[],
        run: |k, _, _| Ok(Ret::Addr(k.memblock.memblock_get_current_limit())),
    },
    CallSpec {
        name: "memblock_phys_mem_size",
        params: &[],
        run: |k, _, _| Ok(Ret::Addr(k.memblock.memblock_phys_mem_size())),
    },
    CallSpec {
        name: "memblock_reserved_size",
        params: &[],
        run: |k, _, _| Ok(Ret::Addr(k.memblock.memblock_reserved_size())),
    },
    CallSpec {
        name: "memblock_start_of_DRAM",
        params: &[],
        run: |k, _, _| Ok(Ret::Addr(k.memblock.memblock_start_of_DRAM())),
    },
    CallSpec {
        name: "memblock_end_of_DRAM",
        params: &[],
        run: |k, _, _| Ok(Ret::Addr(k.memblock.memblock_end_of_DRAM())),
    },
    CallSpec {
        name: "memblock_phys_alloc_range",
        params: &[
            param!("size", U64),
            param!("align", U64),
            param!("start", U64),
            param!("end", U64),
        ],
        run: |k, a, _| {
            addr_ret(
                k.memblock
                    .memblock_phys_alloc_range(a.u64(0), a.u64(1), a.u64(2), a.u64(3)),
            )
        },
    },
    CallSpec {
        name: "memblock_phys_alloc",
        params: &[param!("size", U64), param!("align", U64)],
        run: |k, a, _| addr_ret(k.memblock.memblock_phys_alloc(a.u64(0), a.u64(1))),
    },
    CallSpec {
        name: "memblock_phys_alloc_try_nid",
        params: &[
            param!("size", U64),
            param!("align", U64),
            param!("nid", Nid),
        ],
        run: |k, a, _| {
            addr_ret(
                k.memblock
                    .memblock_phys_alloc_try_nid(a.u64(0), a.u64(1), a.nid(2)),
            )
        },
    },
    CallSpec {
        name: "memblock_alloc",
        params: &[param!("size", U64), param!("align", U64)],
        run: |k, a, _| addr_ret(k.memblock.memblock_alloc(a.u64(0), a.u64(1))),
    },
    CallSpec {
        name: "memblock_alloc_raw",
        params: &[param!("size", U64), param!("align", U64)],
        run: |k, a, _| addr_ret(k.memblock.memblock_alloc_raw(a.u64(0), a.u64(1))),
    },
    CallSpec {
        name: "memblock_alloc_from",
        params: &[
            param!("size", U64),
            param!("align", U64),
            param!("min_addr", U64),
        ],
        run: |k, a, _| addr_ret(k.memblock.memblock_alloc_from(a.u64(0), a.u64(1), a.u64(2))),
    },
    CallSpec {
        name: "memblock_alloc_low",
        params: &[param!("size", U64), param!("align", U64)],
        run: |k, a, _| addr_ret(k.memblock.memblock_alloc_low(a.u64(0), a.u64(1))),
    },
    CallSpec {
        name: "memblock_alloc_node",
        params: &[
            param!("size", U64),
            param!("align", U64),
            param!("nid", Nid),
        ],
        run: |k, a, _| addr_ret(k.memblock.memblock_alloc_node(a.u64(0), a.u64(1), a.nid(2))),
    },
    CallSpec {
        name: "memblock_alloc_try_nid",
        params: TRY_NID_PARAMS,
        run: |k, a, _| {
            addr_ret(k.memblock.memblock_alloc_try_nid(
                a.u64(0),
                a.u64(1),
                a.u64(2),
                a.u64(3),
                a.nid(4),
            ))
        },
    },
    CallSpec {
        name: "memblock_alloc_try_nid_raw",
        params: TRY_NID_PARAMS,
        run: |k, a, _| {
            addr_ret(k.memblock.memblock_alloc_try_nid_raw(
                a.u64(0),
                a.u64(1),
                a.u64(2),
                a.u64(3),
                a.nid(4),
            ))
        },
    },
    CallSpec {
        name: "memblock_alloc_exact_nid_raw",
        params: TRY_NID_PARAMS,
        run: |k, a, _| {
            addr_ret(k.memblock.memblock_alloc_exact_nid_raw(
                a.u64(0),
                a.u64(1),
                a.u64(2),
                a.u64(3),
                a.nid(4),
            ))
        },
    },
    CallSpec {
        name: "memblock_dump_all",
        params: &[],
        run: |k, _, extra| {
            // A script asks for the dump explicitly: print it as memblock=debug would.
            k.memblock.__memblock_dump_all();
            extra.dump = Some(dump(k));
            Ok(Ret::Void)
        },
    },
    CallSpec {
        name: "reset_memblock_regions",
        params: &[],
        run: |k, _, _| {
            k.memblock.reset_memblock_regions();
            Ok(Ret::Void)
        },
    },
    CallSpec {
        name: "reset_memblock_attributes",
        params: &[],
        run: |k, _, _| {
            k.memblock.reset_memblock_attributes();
            Ok(Ret::Void)
        },
    },
    CallSpec {
        name: "memset",
        params: &[param!("s", U64), param!("c", Byte), param!("n", U64)],
        run: |k, a, _| {
            // A physical address, a direct-map address (a kmalloc'd object) or a vmalloc
            // address (page by page, through the kernel's tables).
            let call = format!("memset({:#x}, {}, {:#x})", a.u64(0), a.byte(1), a.u64(2));
            let runs = super::slab_calls::phys_runs(k, a.u64(0), a.u64(2))
                .map_err(|e| format!("{call}: {e}"))?;
            for &(pa, n) in &runs {
                super::slab_calls::refuse_metadata(k, pa, n, &call)?;
            }
            for (pa, n) in runs {
                k.phys.memset(pa, a.byte(1), n).map_err(phys_err)?;
            }
            Ok(Ret::Addr(a.u64(0)))
        },
    },
    CallSpec {
        name: "memchr_inv",
        params: &[
            param!("start", U64),
            param!("c", Byte),
            param!("bytes", U64),
        ],
        run: |k, a, _| match k
            .phys
            .memchr_inv(PhysAddr(a.u64(0)), a.byte(1), a.u64(2))
            .map_err(phys_err)?
        {
            Some(p) => Ok(Ret::Addr(p.0)),
            None => Ok(Ret::Null),
        },
    },
];
