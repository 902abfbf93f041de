// SPDX-License-Identifier: GPL-2.0-only
//! mm/percpu-vm.c and the chunk management of mm/percpu.c: chunks beyond the first, in the
//! vmalloc range.
//!
//! DOC: when no chunk has room, `pcpu_alloc` (holding `pcpu_alloc_mutex`) calls
//! `pcpu_create_chunk`: `pcpu_get_vm_areas` takes one vmalloc area per group of the first
//! chunk's layout, at the same offsets from one base, high in the vmalloc range, so that
//! every CPU's unit of the new chunk lies at the same distance from its unit of the first
//! chunk and `per_cpu_ptr` (the pointer plus `__per_cpu_offset[cpu]`) works for both. A
//! chunk's pages are populated on demand: `pcpu_populate_chunk` allocates one page per
//! possible CPU for each page of the unit an allocation touches and maps them into the
//! chunk's area (`pcpu_map_pages`). When a free leaves a chunk empty while another empty
//! chunk exists, `pcpu_balance_free` destroys the extra ones (`pcpu_depopulate_chunk`,
//! `pcpu_destroy_chunk`), keeping one.
//!
//! bootmm tries the first chunk, then the other chunks in creation order (the kernel walks
//! its chunk slots by free size: the same chunks, possibly another order), grows only from
//! a caller that holds a CPU ([`pcpu_alloc_on`]; `__alloc_percpu` without one stays in the
//! chunks that exist), and runs the balance in the freeing CPU instead of a workqueue.

use alloc::vec::Vec;

use super::{pcpu_alloc, PcpuChunk, PcpuFreeError, PcpuPtr, PAGE_SIZE, PCPU_MIN_ALLOC_SIZE};
use crate::kernel::Kernel;

/// A chunk `pcpu_create_chunk` made.
#[derive(Debug)]
pub(super) struct VmChunk {
    /// The allocation map over the unit (offsets from the unit's start).
    map: PcpuChunk,
    /// `chunk->base_addr`: the vmalloc address the first group's area starts at, less the
    /// group's offset (the chunk's "unit 0").
    base_addr: u64,
    /// The vm_structs of the groups' areas.
    vms: Vec<u64>,
    /// `chunk->populated`: a bit per page of the unit.
    populated: Vec<u64>,
}

/// The first chunk's `pcpu_base_addr` as a kernel address.
fn pcpu_base_va(k: &Kernel) -> u64 {
    k.phys.va(crate::PhysAddr(k.percpu.base)).0
}

/// `pcpu_unit_offsets[cpu]`.
fn unit_offset(k: &Kernel, cpu: u32) -> Option<u64> {
    k.percpu
        .unit_pa
        .get(cpu as usize)
        .map(|&u| u - k.percpu.base)
}

impl VmChunk {
    /// The per-CPU pointer value of offset 0 of this chunk.
    fn delta(&self, k: &Kernel) -> u64 {
        self.base_addr.wrapping_sub(pcpu_base_va(k))
    }

    fn offset_of(&self, k: &Kernel, p: u64) -> Option<u64> {
        let off = p.wrapping_sub(self.delta(k));
        (off < k.percpu.unit_size()).then_some(off)
    }
}

/// Whether `v` points into a chunk in the vmalloc range.
pub(super) fn in_vm_chunk(k: &Kernel, v: u64) -> bool {
    let c = k.percpu.lock.lock();
    c.vm.iter().any(|ch| ch.offset_of(k, v).is_some())
}

/// `per_cpu_ptr(p, cpu)` for a pointer into a vmalloc chunk: the vmalloc address.
pub(super) fn per_cpu_va(k: &Kernel, p: PcpuPtr, cpu: u32) -> Option<u64> {
    let c = k.percpu.lock.lock();
    let ch = c.vm.iter().find(|ch| ch.offset_of(k, p.0).is_some())?;
    let off = ch.offset_of(k, p.0)?;
    Some(ch.base_addr + unit_offset(k, cpu)? + off)
}

/// How many chunks `pcpu_create_chunk` made that still exist.
pub fn pcpu_nr_vm_chunks(k: &Kernel) -> usize {
    k.percpu.lock.lock().vm.len()
}

/// `pcpu_create_chunk`: the vmalloc areas, and a map over the whole unit.
///
/// # Safety
/// The calling thread holds `cpu` and `pcpu_alloc_mutex`.
unsafe fn pcpu_create_chunk(k: &Kernel, cpu: u32) -> Option<VmChunk> {
    let ai = k.percpu.ai.as_ref()?;
    let offsets: Vec<u64> = ai.groups.iter().map(|g| g.base_offset).collect();
    let sizes: Vec<u64> = ai
        .groups
        .iter()
        .map(|g| u64::from(g.nr_units) * ai.unit_size)
        .collect();
    // SAFETY: the caller holds the CPU.
    let (base, vms) = unsafe {
        crate::mm::vmalloc::pcpu_get_vm_areas(k, cpu, &offsets, &sizes, ai.atom_size.max(PAGE_SIZE))
    }?;
    let pages = (ai.unit_size / PAGE_SIZE) as usize;
    Some(VmChunk {
        map: PcpuChunk::pcpu_alloc_first_chunk(0, ai.unit_size),
        base_addr: base,
        vms,
        populated: alloc::vec![0; pages.div_ceil(64)],
    })
}

/// `pcpu_populate_chunk` for the pages of `[off, off + size)` not populated yet: a page per
/// possible CPU each, mapped into the CPU's unit of the chunk. False without memory (the
/// pages taken so far stay, populated).
///
/// # Safety
/// The calling thread holds `cpu` and `pcpu_alloc_mutex`.
unsafe fn pcpu_populate(
    k: &Kernel,
    cpu: u32,
    base_addr: u64,
    populated: &mut [u64],
    off: u64,
    size: u64,
) -> bool {
    let gfp = crate::mm::vmalloc::GFP_KERNEL;
    for page in off / PAGE_SIZE..(off + size).div_ceil(PAGE_SIZE) {
        let (w, b) = ((page / 64) as usize, page % 64);
        if populated[w] & (1 << b) != 0 {
            continue;
        }
        let mut mapped: Vec<u64> = Vec::new();
        let mut ok = true;
        for u in 0..k.percpu.unit_pa.len() as u32 {
            let Some(uo) = unit_offset(k, u) else {
                continue;
            };
            let va = base_addr + uo + page * PAGE_SIZE;
            let pfn = crate::mm::page_alloc::alloc_pages_on(k, cpu, gfp, 0, -1)
                .ok()
                .flatten()
                .and_then(|p| crate::mm::page_alloc::page_to_pfn(k, p));
            match pfn {
                // SAFETY: the caller holds the CPU.
                Some(pfn)
                    if unsafe { crate::mm::vmalloc::map_kernel_pages(k, cpu, va, &[pfn]) } =>
                {
                    mapped.push(va)
                }
                Some(pfn) => {
                    if let Some(p) = k.sparse().pfn_to_page(pfn) {
                        crate::mm::page_alloc::__free_pages_on(k, cpu, p, 0);
                    }
                    ok = false;
                }
                None => ok = false,
            }
            if !ok {
                break;
            }
        }
        if !ok {
            // pcpu_populate_chunk's error path: this page's CPUs mapped so far are unmapped
            // and freed, so the page stays wholly unpopulated.
            for va in mapped {
                // SAFETY: as above.
                unsafe { unmap_and_free(k, cpu, va) };
            }
            return false;
        }
        populated[w] |= 1 << b;
    }
    true
}

/// `pcpu_unmap_pages` + `pcpu_free_pages` for the page mapped at `va`.
///
/// # Safety
/// The calling thread holds `cpu`; nothing uses the page.
unsafe fn unmap_and_free(k: &Kernel, cpu: u32, va: u64) {
    let pa = crate::mm::vmalloc::virt_to_phys_walk(k, va, 1);
    // SAFETY: the caller's contract.
    unsafe { crate::mm::vmalloc::unmap_kernel_range(k, cpu, va, va + PAGE_SIZE) };
    if let Some(p) = pa.and_then(|pa| k.sparse().pfn_to_page(pa.0 >> 12)) {
        crate::mm::page_alloc::__free_pages_on(k, cpu, p, 0);
    }
}

/// `pcpu_depopulate_chunk` and `pcpu_destroy_chunk`: unmap and free every populated page,
/// then the vmalloc areas.
///
/// # Safety
/// The calling thread holds `cpu` and `pcpu_alloc_mutex`; no pointer into the chunk is live.
unsafe fn pcpu_destroy_chunk(k: &Kernel, cpu: u32, ch: VmChunk) {
    let pages = (k.percpu.unit_size() / PAGE_SIZE) as usize;
    for page in 0..pages {
        if ch.populated[page / 64] & (1 << (page % 64)) == 0 {
            continue;
        }
        for u in 0..k.percpu.unit_pa.len() as u32 {
            let Some(uo) = unit_offset(k, u) else {
                continue;
            };
            // SAFETY: the caller holds the CPU.
            unsafe { unmap_and_free(k, cpu, ch.base_addr + uo + page as u64 * PAGE_SIZE) };
        }
    }
    // SAFETY: the areas are ours and unmapped.
    unsafe { crate::mm::vmalloc::pcpu_free_vm_areas(k, cpu, &ch.vms) };
}

/// mm/percpu.c `pcpu_alloc` on a CPU the caller holds: as [`pcpu_alloc`], and when no chunk
/// has room, a new chunk from the vmalloc range (`pcpu_create_chunk`), its pages populated
/// for the area handed out.
///
/// Returns `None` as `pcpu_alloc` does, and when the vmalloc range or memory for a chunk
/// runs out ("percpu: allocation failed, … failed to allocate new chunk").
///
/// # Safety
/// The calling thread holds `cpu`.
pub unsafe fn pcpu_alloc_on(k: &Kernel, cpu: u32, size: u64, align: u64) -> Option<PcpuPtr> {
    // The first chunk, and the checks and warnings of the size and alignment.
    if let Some(p) = pcpu_alloc(k, size, align, false, true) {
        return Some(p);
    }
    let Some((size_a, align)) =
        super::pcpu_legal_size(size, align).filter(|_| k.vmalloc.initialized())
    else {
        // The illegal-size warning, or no vmalloc to grow into: pcpu_alloc's own answer.
        return pcpu_alloc(k, size, align, false, false);
    };
    let bits = (size_a / PCPU_MIN_ALLOC_SIZE) as usize;
    let bit_align = (align / PCPU_MIN_ALLOC_SIZE) as usize;
    let _m = k.percpu.alloc_mutex.lock();
    loop {
        let mut c = k.percpu.lock.lock();
        let found =
            c.vm.iter_mut()
                .enumerate()
                .find_map(|(i, ch)| ch.map.pcpu_alloc_area(bits, bit_align).map(|off| (i, off)));
        if let Some((i, off)) = found {
            // Populate outside pcpu_lock, under pcpu_alloc_mutex as the kernel does: frees
            // into the chunk go on meanwhile; only a holder of the mutex creates, populates
            // or destroys chunks, so the chunk stays at index `i`.
            let (base_addr, mut populated, p) = (
                c.vm[i].base_addr,
                c.vm[i].populated.clone(),
                c.vm[i].delta(k) + off,
            );
            drop(c);
            // SAFETY: the caller holds the CPU; we hold pcpu_alloc_mutex.
            let ok = unsafe { pcpu_populate(k, cpu, base_addr, &mut populated, off, size_a) };
            {
                let mut c = k.percpu.lock.lock();
                c.vm[i].populated = populated;
                if !ok {
                    c.vm[i].map.pcpu_free_area(off);
                }
            }
            if !ok {
                crate::pr_warn!(
                    k.printk,
                    "percpu: allocation failed, size={size_a} align={align} atomic=0, failed to populate\n"
                );
                return None;
            }
            for u in 0..k.percpu.unit_pa.len() as u32 {
                if let Some(va) = per_cpu_va(k, PcpuPtr(p), u) {
                    let mut a = va;
                    while a < va + size_a {
                        let n = (PAGE_SIZE - (a % PAGE_SIZE)).min(va + size_a - a);
                        if let Some(pa) = crate::mm::vmalloc::virt_to_phys_walk(k, a, n) {
                            let _ = k.phys.memset(pa, 0, n);
                        }
                        a += n;
                    }
                }
            }
            return Some(PcpuPtr(p));
        }
        drop(c);
        // SAFETY: the caller holds the CPU; we hold pcpu_alloc_mutex.
        match unsafe { pcpu_create_chunk(k, cpu) } {
            Some(ch) => k.percpu.lock.lock().vm.push(ch),
            None => {
                let mut c = k.percpu.lock.lock();
                if c.warned < super::WARN_LIMIT {
                    c.warned += 1;
                    crate::pr_warn!(
                        k.printk,
                        "percpu: allocation failed, size={size_a} align={align} atomic=0, failed to allocate new chunk\n"
                    );
                }
                return None;
            }
        }
    }
}

/// `free_percpu` of a pointer into a vmalloc chunk (under `pcpu_lock`); whether the chunk
/// is now empty.
pub(super) fn free_in_vm_chunk(k: &Kernel, p: u64) -> Result<bool, PcpuFreeError> {
    let mut c = k.percpu.lock.lock();
    let Some(ch) = c.vm.iter_mut().find(|ch| ch.offset_of(k, p).is_some()) else {
        return Err(PcpuFreeError::NotAllocated(p));
    };
    let off = ch.offset_of(k, p).unwrap_or(0);
    ch.map
        .pcpu_free_area(off)
        .ok_or(PcpuFreeError::NotAllocated(p))?;
    Ok(ch.map.free_bytes == k.percpu.unit_size())
}

/// mm/percpu.c `free_percpu` on a CPU the caller holds: as [`super::free_percpu`], and when
/// a chunk became empty while another empty one exists, `pcpu_balance_free`: every empty
/// chunk but the first is destroyed.
///
/// # Errors
/// As [`super::free_percpu`].
///
/// # Safety
/// The calling thread holds `cpu`.
pub unsafe fn free_percpu_on(
    k: &Kernel,
    cpu: u32,
    p: Option<PcpuPtr>,
) -> Result<(), PcpuFreeError> {
    let Some(p) = p else { return Ok(()) };
    if p.0 < k.percpu.unit_size() {
        return super::free_percpu(k, Some(p));
    }
    if !free_in_vm_chunk(k, p.0)? {
        return Ok(());
    }
    let _m = k.percpu.alloc_mutex.lock();
    let doomed: Vec<VmChunk> = {
        let mut c = k.percpu.lock.lock();
        let unit = k.percpu.unit_size();
        let mut kept = false;
        let mut doomed = Vec::new();
        let mut i = 0;
        while i < c.vm.len() {
            if c.vm[i].map.free_bytes == unit {
                if kept {
                    doomed.push(c.vm.remove(i));
                    continue;
                }
                kept = true;
            }
            i += 1;
        }
        doomed
    };
    for ch in doomed {
        // SAFETY: the caller holds the CPU; we hold pcpu_alloc_mutex; the chunk is empty.
        unsafe { pcpu_destroy_chunk(k, cpu, ch) };
    }
    Ok(())
}
