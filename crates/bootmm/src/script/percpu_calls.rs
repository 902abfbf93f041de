// SPDX-License-Identifier: GPL-2.0-only
//! The percpu allocator calls a script can make (include/linux/percpu.h, mm/percpu.c).
//!
//! A `void __percpu *` is, on x86_64, the variable's offset in every CPU's unit (the per-CPU
//! section is linked at 0), and a script variable holds that; `per_cpu_ptr(p, cpu)` returns
//! the direct-map address of CPU `cpu`'s copy. A free the kernel would not catch (a pointer
//! freed twice or never allocated) is an error line; the allocator's map is left as it was.

use alloc::format;

use super::{CallSpec, Ret};
use crate::kernel::Kernel;
use crate::mm::percpu::{self, PcpuPtr};
use crate::param;

fn ptr_ret(p: Option<PcpuPtr>) -> Ret {
    match p {
        Some(p) => Ret::Addr(p.offset()),
        None => Ret::Null,
    }
}

/// A script value as a per-CPU pointer, or why it cannot be one.
fn ptr_arg(k: &Kernel, v: u64, call: &str) -> Result<PcpuPtr, alloc::string::String> {
    if k.percpu.unit_size() == 0 {
        return Err(format!(
            "{call}: no percpu area: setup_per_cpu_areas has not run (a bare machine)"
        ));
    }
    PcpuPtr::from_value_in(k, v).ok_or_else(|| {
        format!(
            "{call}: {v:#x} is no per-CPU pointer (an offset below the unit size {:#x}, 4-byte aligned, or a pointer into a chunk in the vmalloc range)",
            k.percpu.unit_size()
        )
    })
}

/// The percpu calls.
pub static PERCPU_CALLS: &[CallSpec] = &[
    CallSpec {
        name: "__alloc_percpu",
        params: &[param!("size", U64), param!("align", U64)],
        run: |k, a, _| {
            let cpu = k.cpus.current();
            // SAFETY: the script holds the kernel exclusively, so its current CPU is ours.
            Ok(ptr_ret(unsafe {
                percpu::pcpu_alloc_on(k, cpu, a.u64(0), a.u64(1))
            }))
        },
    },
    CallSpec {
        name: "__alloc_reserved_percpu",
        params: &[param!("size", U64), param!("align", U64)],
        run: |k, a, _| {
            Ok(ptr_ret(percpu::__alloc_reserved_percpu(
                k,
                a.u64(0),
                a.u64(1),
            )))
        },
    },
    CallSpec {
        name: "free_percpu",
        params: &[param!("ptr", U64)],
        run: |k, a, _| {
            let v = a.u64(0);
            if v == 0 {
                return Ok(Ret::Void);
            }
            let p = ptr_arg(k, v, &format!("free_percpu({v:#x})"))?;
            let cpu = k.cpus.current();
            // SAFETY: as in `__alloc_percpu`.
            unsafe { percpu::free_percpu_on(k, cpu, Some(p)) }.map_err(|e| format!("{e}"))?;
            Ok(Ret::Void)
        },
    },
    CallSpec {
        name: "per_cpu_ptr",
        params: &[param!("ptr", U64), param!("cpu", U64)],
        run: |k, a, _| {
            let (v, cpu) = (a.u64(0), a.u64(1));
            let call = format!("per_cpu_ptr({v:#x}, {cpu})");
            let p = ptr_arg(k, v, &call)?;
            let cpus = k.machine.cpus;
            let pa = u32::try_from(cpu)
                .ok()
                .and_then(|c| percpu::per_cpu_ptr(k, p, c))
                .ok_or_else(|| format!("{call}: CPU {cpu} is not possible (nr_cpu_ids {cpus})"))?;
            Ok(Ret::Addr(k.phys.va(pa).0))
        },
    },
];
