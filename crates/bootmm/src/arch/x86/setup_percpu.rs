// SPDX-License-Identifier: GPL-2.0-only
//! `arch/x86/kernel/setup_percpu.c`: `setup_per_cpu_areas`, the x86 side of the percpu
//! first chunk.
//!
//! Right after `setup_arch`, `start_kernel` sizes the per-CPU areas: x86 prints the CPU and
//! node counts, then embeds the first chunk in 2 MiB allocations (x86_64) or pages (i386),
//! CPUs grouped by node (`pcpu_cpu_distance`), and points each CPU's `__per_cpu_offset` at
//! its unit. The generic work is in [`crate::mm::percpu`].
//!
//! Eras: `nr_cpumask_bits` is NR_CPUS unless the cpumasks are off-stack until 6.0, and
//! `nr_cpu_ids` always from 6.1 ([`nr_cpumask_bits`]); the dynamic reserve grew from 20 to
//! 28 KiB in 3.18 ([`percpu_dynamic_reserve`]). i386 with more than one node takes the page
//! first chunk, which is not modelled.

use crate::era::Era;
use crate::include::NUMA_NO_NODE;
use crate::init::main::BootError;
use crate::kernel::Kernel;
use crate::mm::percpu::pcpu_embed_first_chunk;
use crate::pr_info;

const FILE: &str = "arch/x86/kernel/setup_percpu.c";

/// `__PAGE_OFFSET`: where the direct map starts, for the chunk address old eras print:
/// 0xffff880000000000 on x86_64 until 4.19 (0xffff888000000000 from 4.20, after the LDT
/// remap moved below it), 0xc0000000 on i386 (the 3G/1G split).
pub fn page_offset(era: &Era) -> u64 {
    if !era.is_64bit() {
        0xc000_0000
    } else if era.at_least(4, 20) {
        crate::phys::PAGE_OFFSET_X86_64
    } else {
        0xffff_8800_0000_0000
    }
}

/// `PERCPU_DYNAMIC_RESERVE` (include/linux/percpu.h): 28 KiB on 64-bit and 20 KiB on 32-bit
/// from 3.18 (the asynchronous chunk population series), 20 and 12 KiB before: a 3.16 log
/// shows `d21504` for `s80896 r8192` and a 3.19 log `d32064` for `s86720 r8192`.
pub fn percpu_dynamic_reserve(era: &Era) -> u64 {
    match (era.is_64bit(), era.at_least(3, 18)) {
        (true, true) => 28 << 10,
        (true, false) | (false, true) => 20 << 10,
        (false, false) => 12 << 10,
    }
}

/// `nr_cpumask_bits`: `nr_cpu_ids` from 6.1 (a 6.1-rc4 log prints `NR_CPUS:64
/// nr_cpumask_bits:8`, 6.0 logs `NR_CPUS:320 nr_cpumask_bits:320`); before, NR_CPUS unless
/// CONFIG_CPUMASK_OFFSTACK, which x86's Kconfig requires above 512 CPUs (MAXSMP's 8192) and
/// distributions do not pick below.
pub fn nr_cpumask_bits(era: &Era, nr_cpus: u32, nr_cpu_ids: u32) -> u32 {
    if era.at_least(6, 1) || nr_cpus > 512 {
        nr_cpu_ids
    } else {
        nr_cpus
    }
}

/// `early_cpu_to_node(cpu)`: the node `numa_init` gave the CPU; `None` without CONFIG_NUMA.
pub fn early_cpu_to_node(k: &Kernel, cpu: u32) -> Option<i32> {
    if !k.machine.kernel_config().numa || !k.era.is_64bit() {
        return None;
    }
    Some(
        k.numa
            .cpu_to_node
            .get(cpu as usize)
            .copied()
            .unwrap_or(NUMA_NO_NODE),
    )
}

/// Whether an i386 kernel takes init/main.c's generic `setup_per_cpu_areas` (static areas
/// from `alloc_bootmem_pages`): before 2.6.26, whose x86 unification gave i386
/// arch/x86/kernel/setup_percpu.c's (believed; 2.6.24's i386 has no arch version).
pub fn generic_static_per_cpu_areas(era: &Era) -> bool {
    !era.is_64bit() && !era.at_least_patch(2, 6, 26)
}

/// arch/x86/kernel/setup_percpu.c: `setup_per_cpu_areas`.
///
/// # Errors
/// [`BootError::NoMemory`] when memblock cannot hold the first chunk; [`BootError::Unmodelled`]
/// for the page first chunk (i386 with more than one node).
pub fn setup_per_cpu_areas(k: &mut Kernel) -> Result<(), BootError> {
    if k.era.early_allocator() == crate::era::EarlyAllocator::Bootmem && !k.era.is_64bit() {
        // 2.6.24 i386: init/main.c's static per-CPU areas (x86's own setup_per_cpu_areas
        // came to i386 with 2.6.26's unification; the 2.6.26-2.6.29 form is not modelled).
        if k.bootmem.is_none() {
            return Err(BootError::Unmodelled(alloc::format!(
                "the percpu first chunk and the rest of a {} i386 boot: the bootmem bitmap of 2.6.28-2.6.33's initmem_init (setup_bootmem_allocator) is not built",
                k.era.release
            )));
        }
        if !generic_static_per_cpu_areas(&k.era) {
            return Err(BootError::Unmodelled(alloc::format!(
                "the per-CPU areas of a {} i386 boot: x86's own setup_per_cpu_areas of 2.6.26-2.6.29 is not modelled",
                k.era.release
            )));
        }
        return crate::mm::percpu::setup_per_cpu_areas_static(k);
    }
    let _t = k.trace.enter("setup_per_cpu_areas", FILE);
    let cpus = k.machine.cpus;
    let nr_node_ids = k.numa.nr_node_ids.max(1);
    // The "setup_percpu: " pr_fmt prefix came after 2.6.32 (a 2.6.32 log prints the bare
    // line; 2.6.33 believed).
    let prefix = if k.era.at_least_patch(2, 6, 33) {
        "setup_percpu: "
    } else {
        ""
    };
    // Printed since the dynamic percpu allocator (2.6.30, believed); 2.6.24's generic
    // setup_per_cpu_areas printed nothing.
    if k.era.at_least_patch(2, 6, 30) {
        pr_info!(
            k.printk,
            "{prefix}NR_CPUS:{} nr_cpumask_bits:{} nr_cpu_ids:{} nr_node_ids:{}\n",
            k.machine.nr_cpus,
            nr_cpumask_bits(&k.era, k.machine.nr_cpus, cpus),
            cpus,
            nr_node_ids
        );
    }
    if !k.era.is_64bit() && k.numa.online.len() > 1 {
        return Err(BootError::Unmodelled(alloc::string::String::from(
            "setup_per_cpu_areas: the page first chunk (i386 with more than one node)",
        )));
    }
    let cfg = k.machine.kernel_config();
    let atom = if k.era.is_64bit() { 2 << 20 } else { 4096 };
    // dyn_size = PERCPU_MODULE_RESERVE + PERCPU_DYNAMIC_RESERVE - PERCPU_FIRST_CHUNK_RESERVE:
    // on x86_64 the first-chunk reserve is the module reserve; i386 reserves nothing and
    // gives the module reserve to the dynamic part.
    let module_reserve = if k.era.is_64bit() {
        cfg.percpu_reserved_size
    } else {
        8 << 10
    };
    let dyn_size = module_reserve + percpu_dynamic_reserve(&k.era) - cfg.percpu_reserved_size;
    let nodes: alloc::vec::Vec<Option<i32>> = (0..cpus).map(|c| early_cpu_to_node(k, c)).collect();
    let node_of = |c: u32| nodes.get(c as usize).copied().flatten();
    // pcpu_cpu_distance: LOCAL_DISTANCE for CPUs on the same node, REMOTE_DISTANCE else
    // (x86 compares the nodes; it does not read the node distance table, so emulated nodes
    // of one physical node are apart here).
    let distance = |a: u32, b: u32| if node_of(a) == node_of(b) { 10 } else { 20 };
    pcpu_embed_first_chunk(
        k,
        cfg.percpu_static_size,
        cfg.percpu_reserved_size,
        dyn_size,
        atom,
        &node_of,
        &distance,
        page_offset(&k.era),
    )
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::era::{Arch, KernelVersion};

    #[test]
    fn cpumask_bits_follow_offstack_until_6_1() {
        let e = |r: &str| Era::new(KernelVersion::parse(r).unwrap(), Arch::X86_64);
        assert_eq!(nr_cpumask_bits(&e("6.0.9"), 320, 8), 320);
        assert_eq!(nr_cpumask_bits(&e("6.1.0"), 64, 8), 8);
        assert_eq!(nr_cpumask_bits(&e("4.18.0"), 8192, 8), 8);
        assert_eq!(nr_cpumask_bits(&e("3.16.0"), 512, 2), 512);
    }

    #[test]
    fn the_dynamic_reserve_grew_in_3_18() {
        let e = |r: &str, a| Era::new(KernelVersion::parse(r).unwrap(), a);
        assert_eq!(percpu_dynamic_reserve(&e("3.16.0", Arch::X86_64)), 20 << 10);
        assert_eq!(percpu_dynamic_reserve(&e("3.19.0", Arch::X86_64)), 28 << 10);
        let i386 = Arch::I386 { pae: true };
        assert_eq!(percpu_dynamic_reserve(&e("3.2.0", i386)), 12 << 10);
    }
}
