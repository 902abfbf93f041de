// SPDX-License-Identifier: GPL-2.0-only
//! mm/vmalloc.c: virtually contiguous kernel memory, mapped page by page into the vmalloc
//! range of the kernel's page tables.
//!
//! DOC: the kernel's virtual address space is handed out in `struct vmap_area`s. From 5.2
//! the free space is itself a set of vmap_areas in an augmented red-black tree
//! (`free_vmap_area_root`), each node caching the largest free block below it
//! (`subtree_max_size`), so `find_vmap_lowest_match` finds the lowest fitting block in
//! O(log n); the free blocks are also on an address-sorted list for merging. At
//! `vmalloc_init` the free space is the whole address range `[1, ULONG_MAX)` minus the early
//! areas; every allocation is clipped by the caller's `[vstart, vend)`. Allocated areas go on
//! the busy tree (`vmap_area_root`). A freed area is unmapped at once but its addresses are
//! not reusable until a lazy purge (`__purge_vmap_area_lazy`), which runs once more than
//! `lazy_max_pages()` pages wait on the purge tree, and merges them back into the free tree
//! (one TLB flush for many frees).
//!
//! `vmalloc` (`__vmalloc_node_range`) takes a `vm_struct` (kzalloc), an area one guard page
//! larger than asked, the array of `struct page *` (kmalloc, or vmalloc itself beyond a
//! page), order-0 pages, and maps them with `vmap_pages_range`, allocating PMD and PTE
//! table pages from the page allocator under `init_mm.page_table_lock`; the top levels of
//! the vmalloc range exist from boot (`preallocate_vmalloc_pages`, 5.9+). `vm_map_ram` maps
//! up to `VMAP_MAX_ALLOC` pages from per-CPU `vmap_block`s of ``VMAP_BBMAP_BITS` pages,
//! bump-allocated and freed whole once every page was unmapped.
//!
//! On i386 the range runs from `high_memory + VMALLOC_OFFSET` up to the guard pages below
//! pkmap, mapped in `swapper_pg_dir`'s 2-level or PAE tables (4- or 8-byte entries), and
//! its pages are mostly HIGHMEM ones (`__GFP_HIGHMEM`), reached only through the mapping.
//!
//! bootmm keeps every structure where the kernel does: vmap_areas in the `vmap_area` slab
//! cache, vm_structs and page arrays in kmalloc caches, vmap_blocks in kmalloc-256, the
//! tables in page-table pages, all in simulated RAM and linked by kernel virtual addresses.
//! The tree roots and list heads (statics of mm/vmalloc.c) lie in the kernel image's
//! `.bss`. Where it differs (the purge runs in the freeing CPU rather than a workqueue,
//! `%pS` callers print without offsets, the 6.9 vmap nodes): docs/divergences.md.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::arch::x86::pgtable_64_types::{
    Paging, _PAGE_PRESENT, _PAGE_PSE, _PAGE_TABLE, PAGE_KERNEL, PAGE_SHIFT, PAGE_SIZE,
    PTE_PFN_MASK, VMALLOC_END, VMALLOC_START,
};
use crate::era::Era;
use crate::include::gfp::Gfp;
use crate::include::spinlock::RawSpinlock;
use crate::kernel::Kernel;
use crate::klib::rbtree::{self, Augment, Link, NoAugment, RbMem, RbNode};
use crate::mm::slub::alloc::{self as a, CachePtr, OnCpu};

const FILE: &str = "mm/vmalloc.c";

/// `VM_IOREMAP`.
pub const VM_IOREMAP: u64 = 0x1;
/// `VM_ALLOC`.
pub const VM_ALLOC: u64 = 0x2;
/// `VM_MAP`.
pub const VM_MAP: u64 = 0x4;
/// `VM_USERMAP`.
pub const VM_USERMAP: u64 = 0x8;
/// `VM_DMA_COHERENT`.
pub const VM_DMA_COHERENT: u64 = 0x10;
/// `VM_UNINITIALIZED`: the area is not set up yet (vmallocinfo skips it).
pub const VM_UNINITIALIZED: u64 = 0x20;
/// `VM_NO_GUARD`: no guard page after the area.
pub const VM_NO_GUARD: u64 = 0x40;
/// `VM_KASAN`.
pub const VM_KASAN: u64 = 0x80;
/// `VM_FLUSH_RESET_PERMS`.
pub const VM_FLUSH_RESET_PERMS: u64 = 0x100;
/// `VM_MAP_PUT_PAGES`: `vfree` frees the pages `vmap` was given.
pub const VM_MAP_PUT_PAGES: u64 = 0x200;

/// `VMAP_RAM`: a `vm_map_ram` area (vmap_area `flags`).
const VMAP_RAM: u64 = 0x1;
/// `VMAP_BLOCK`: a vmap_block's area.
const VMAP_BLOCK: u64 = 0x2;

/// `VMAP_BBMAP_BITS_MAX`: the most pages one vmap_block has.
pub const VMAP_BBMAP_BITS_MAX: u64 = 1024;

/// `NUMA_NO_NODE`.
pub const NUMA_NO_NODE: i32 = -1;

/// `GFP_KERNEL` in canonical bits.
pub const GFP_KERNEL: Gfp = Gfp::__GFP_DIRECT_RECLAIM
    .union(Gfp::__GFP_KSWAPD_RECLAIM)
    .union(Gfp::__GFP_IO)
    .union(Gfp::__GFP_FS);
/// `GFP_NOWAIT`.
const GFP_NOWAIT: Gfp = Gfp::__GFP_KSWAPD_RECLAIM;
/// `GFP_PGTABLE_KERNEL`: `GFP_KERNEL | __GFP_ZERO`.
const GFP_PGTABLE_KERNEL: Gfp = GFP_KERNEL.union(Gfp::__GFP_ZERO);

// ----- The structures, as they lie in simulated RAM --------------------------------------------

/// `struct list_head`.
#[repr(C)]
#[derive(Debug, Default)]
pub struct ListHead {
    pub next: u64,
    pub prev: u64,
}

/// `struct vmap_area` (6.3+: with `flags`; 72 bytes).
#[repr(C)]
#[derive(Debug)]
pub struct VmapArea {
    pub va_start: u64,
    pub va_end: u64,
    pub rb_node: RbNode,
    pub list: ListHead,
    /// `subtree_max_size` in the free tree, `vm` in the busy tree.
    pub u: u64,
    /// `flags`: `VMAP_RAM`, `VMAP_BLOCK` (6.3+; only touched when
    /// [`VmallocRules::vmap_area_size`] has room for it).
    pub flags: u64,
}

/// Offset of `rb_node` in `struct vmap_area`.
const RB_OFF: u64 = 16;
/// Offset of `list`.
const LIST_OFF: u64 = 40;

/// `struct vm_struct` (6.6; 64 bytes).
#[repr(C)]
#[derive(Debug)]
pub struct VmStruct {
    pub next: u64,
    pub addr: u64,
    pub size: u64,
    pub flags: u64,
    /// `struct page **pages`.
    pub pages: u64,
    pub page_order: u32,
    pub nr_pages: u32,
    pub phys_addr: u64,
    /// `caller`: an index into [`CALLERS`] (the kernel stores a return address).
    pub caller: u64,
}

/// `struct vmap_block`'s head (6.6 layout): `lock`, `va`, `free`, `dirty`; then
/// `used_map` (`VMAP_BBMAP_BITS` bits) and [`VbTail`].
#[repr(C)]
struct VmapBlock {
    lock: RawSpinlock,
    _pad: u32,
    va: u64,
    free: u64,
    dirty: u64,
}

/// The fields of `struct vmap_block` after `used_map`.
#[repr(C)]
struct VbTail {
    dirty_min: u64,
    dirty_max: u64,
    free_list: ListHead,
    rcu_head: [u64; 2],
    purge: ListHead,
    cpu: u32,
    _pad: u32,
}

/// `sizeof(struct vmap_block)` for blocks of `bits` pages.
fn vmap_block_size(bits: u64) -> u64 {
    core::mem::size_of::<VmapBlock>() as u64 + bits / 8 + core::mem::size_of::<VbTail>() as u64
}

/// Offset of `free_list` in `struct vmap_block` of `bits` pages.
fn vb_free_list_off(bits: u64) -> u64 {
    core::mem::size_of::<VmapBlock>() as u64 + bits / 8 + 16
}

/// `used_map` of the block at `vbv`.
///
/// # Safety
/// `vbv` is a vmap_block of `bits` pages.
unsafe fn vb_map<'a>(dm: &Dm, vbv: u64, bits: u64) -> &'a mut [u64] {
    // SAFETY: the caller's contract; the map follows the head.
    unsafe {
        core::slice::from_raw_parts_mut(
            dm.at::<u64>(vbv + core::mem::size_of::<VmapBlock>() as u64),
            (bits / 64) as usize,
        )
    }
}

/// The fields after `used_map`.
///
/// # Safety
/// As [`vb_map`].
unsafe fn vb_tail(dm: &Dm, vbv: u64, bits: u64) -> *mut VbTail {
    // SAFETY: the caller's contract.
    unsafe { dm.at::<VbTail>(vbv + core::mem::size_of::<VmapBlock>() as u64 + bits / 8) }
}

/// `VMAP_BBMAP_BITS` for a kernel built with `nr_cpus` (CONFIG_NR_CPUS):
/// `VMAP_MIN(VMAP_BBMAP_BITS_MAX, VMAP_MAX(VMAP_BBMAP_BITS_MIN, VMALLOC_PAGES /
/// roundup_pow_of_two(NR_CPUS) / 16))`, `VMAP_BBMAP_BITS_MIN` being `VMAP_MAX_ALLOC * 2`.
/// With `VMALLOC_SPACE` 128 GiB (64-bit): 1024 pages up to 128 CPUs, 256 with
/// NR_CPUS=8192; with 128 MiB (32-bit): 256 pages with 8 CPUs, 64 from 32.
pub fn vmap_bbmap_bits(rules: &VmallocRules, nr_cpus: u32) -> u64 {
    let vmalloc_pages = rules.vmalloc_space() / PAGE_SIZE;
    let per = vmalloc_pages / u64::from(nr_cpus.max(1)).next_power_of_two() / 16;
    per.clamp(rules.vmap_max_alloc() * 2, VMAP_BBMAP_BITS_MAX)
}

/// `struct vmap_block_queue` (per CPU): `lock`, `free`.
#[repr(C)]
struct VmapBlockQueue {
    lock: RawSpinlock,
    _pad: u32,
    free: ListHead,
}

/// The statics of mm/vmalloc.c, in the image's `.bss`.
#[repr(C)]
struct Statics {
    free_vmap_area_root: u64,
    vmap_area_root: u64,
    purge_vmap_area_root: u64,
    free_vmap_area_list: ListHead,
    vmap_area_list: ListHead,
    purge_vmap_area_list: ListHead,
}

const STATICS_BYTES: u64 = core::mem::size_of::<Statics>() as u64;
/// Offsets of the list heads in [`Statics`].
const FREE_LIST_OFF: u64 = core::mem::offset_of!(Statics, free_vmap_area_list) as u64;
const BUSY_LIST_OFF: u64 = core::mem::offset_of!(Statics, vmap_area_list) as u64;
const PURGE_LIST_OFF: u64 = core::mem::offset_of!(Statics, purge_vmap_area_list) as u64;

/// The callers `vmallocinfo` names (`%pS` of the return address the kernel stores).
pub const CALLERS: &[&str] = &[
    "vmalloc",
    "vzalloc",
    "vmap",
    "bootmm_script",
    "fix_size_alloc_test",
    "full_fit_alloc_test",
    "long_busy_list_alloc_test",
    "random_size_alloc_test",
    "fix_align_alloc_test",
    "random_size_align_alloc_test",
    "align_shift_alloc_test",
    "pcpu_alloc_test",
    "vm_map_ram_test",
    "vrealloc_test",
    "__vmalloc_area_node",
    "pcpu_get_vm_areas",
];

/// The index of `name` in [`CALLERS`] (0, "vmalloc", for a name not listed).
pub fn caller_id(name: &str) -> u64 {
    CALLERS.iter().position(|&c| c == name).unwrap_or(0) as u64
}

// ----- Simulated RAM through the direct map -----------------------------------------------------

/// The direct map as host pointers: kernel virtual address → host address.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dm {
    host_base: usize,
    ram_len: u64,
    /// The bytes of RAM the direct map covers: all of it on x86_64, lowmem on i386 (above
    /// `high_memory` lie the vmalloc range, pkmap and the fixmap, not RAM).
    dm_len: u64,
    page_offset: u64,
}

impl Dm {
    pub(crate) fn new(k: &Kernel) -> Option<Dm> {
        let ram_len = k.phys.end().0;
        let host_base = k.phys.host_ptr(crate::PhysAddr(0), ram_len).ok()?.as_ptr() as usize;
        let dm_len = if k.era.is_64bit() {
            ram_len
        } else {
            ram_len.min(k.max_low_pfn << PAGE_SHIFT)
        };
        Some(Dm {
            host_base,
            ram_len,
            dm_len,
            page_offset: k.phys.va(crate::PhysAddr(0)).0,
        })
    }

    /// The host pointer of `len` bytes at direct-map address `va`, if they are simulated RAM.
    #[inline(always)]
    fn host(&self, va: u64, len: u64) -> Option<*mut u8> {
        let pa = va.wrapping_sub(self.page_offset);
        (len <= self.dm_len && pa <= self.dm_len - len).then(|| self.pa_host(pa, len))?
    }

    /// The host pointer of `len` bytes at physical address `pa`, if they are simulated RAM.
    #[inline(always)]
    fn pa_host(&self, pa: u64, len: u64) -> Option<*mut u8> {
        (len <= self.ram_len && pa <= self.ram_len - len)
            .then(|| (self.host_base + pa as usize) as *mut u8)
    }

    /// The host pointer of a structure at `va` that this module placed there.
    ///
    /// # Safety
    /// `va` is the address of a `T` in simulated RAM.
    #[inline(always)]
    unsafe fn at<T>(&self, va: u64) -> *mut T {
        debug_assert!(
            self.host(va, core::mem::size_of::<T>() as u64).is_some(),
            "{va:#x} is no direct-map address"
        );
        (self.host_base + va.wrapping_sub(self.page_offset) as usize) as *mut T
    }

    /// The page-table entry `idx` of the table at physical `table`.
    #[inline(always)]
    fn entry(&self, table: u64, idx: u64) -> Option<&AtomicU64> {
        let p = self.pa_host(table + idx * 8, 8)?;
        // SAFETY: 8 bytes of simulated RAM, 8-aligned (tables are pages); page-table words
        // are only accessed atomically.
        Some(unsafe { &*(p as *const AtomicU64) })
    }

    /// The page-table entry `idx` of `size` bytes (4: i386 without PAE) at physical `table`.
    #[inline(always)]
    fn entry_sized(&self, table: u64, idx: u64, size: u64) -> Option<PteRef<'_>> {
        if size == 8 {
            return self.entry(table, idx).map(PteRef::Wide);
        }
        let p = self.pa_host(table + idx * 4, 4)?;
        // SAFETY: 4 bytes of simulated RAM, 4-aligned (tables are pages); page-table words
        // are only accessed atomically.
        Some(PteRef::Narrow(unsafe { &*(p as *const AtomicU32) }))
    }
}

/// A page-table entry in simulated RAM: 8 bytes (x86_64, i386 PAE) or 4 (2-level i386).
#[derive(Clone, Copy)]
enum PteRef<'a> {
    Wide(&'a AtomicU64),
    Narrow(&'a AtomicU32),
}

impl PteRef<'_> {
    #[inline(always)]
    fn load(self, o: Ordering) -> u64 {
        match self {
            PteRef::Wide(e) => e.load(o),
            PteRef::Narrow(e) => u64::from(e.load(o)),
        }
    }
    #[inline(always)]
    fn store(self, v: u64, o: Ordering) {
        match self {
            PteRef::Wide(e) => e.store(v, o),
            // A 2-level entry holds 32 bits (no NX, 32-bit frames).
            PteRef::Narrow(e) => e.store(v as u32, o),
        }
    }
    #[inline(always)]
    fn swap(self, v: u64, o: Ordering) -> u64 {
        match self {
            PteRef::Wide(e) => e.swap(v, o),
            PteRef::Narrow(e) => u64::from(e.swap(v as u32, o)),
        }
    }
}

impl RbMem for Dm {
    #[inline(always)]
    unsafe fn at(&self, node: u64) -> *mut RbNode {
        // SAFETY: the caller's contract: a node of a tree in simulated RAM.
        unsafe { Dm::at(self, node) }
    }
}

/// The vmap_area whose `rb_node` is at `rb`.
#[inline(always)]
unsafe fn va_of_rb(dm: &Dm, rb: u64) -> *mut VmapArea {
    // SAFETY: the caller's contract.
    unsafe { dm.at(rb - RB_OFF) }
}

/// `RB_DECLARE_CALLBACKS_MAX(static, free_vmap_area_rb_augment_cb, struct vmap_area,
/// rb_node, unsigned long, subtree_max_size, va_size)`.
struct FreeAug(Dm);

impl FreeAug {
    #[inline(always)]
    unsafe fn sub(&self, rb: u64) -> u64 {
        if rb == 0 {
            0
        } else {
            // SAFETY: a node of the free tree.
            unsafe { (*va_of_rb(&self.0, rb)).u }
        }
    }

    /// `..._compute_max(node, exit)`: true when `exit` and the value did not change.
    #[inline(always)]
    unsafe fn compute_max(&self, va: *mut VmapArea, exit: bool) -> bool {
        // SAFETY: a vmap_area of the free tree.
        unsafe {
            let mut max = (*va).va_end - (*va).va_start;
            max = max.max(self.sub((*va).rb_node.left));
            max = max.max(self.sub((*va).rb_node.right));
            if exit && (*va).u == max {
                return true;
            }
            (*va).u = max;
            false
        }
    }
}

impl Augment for FreeAug {
    unsafe fn propagate(&self, mut rb: u64, stop: u64) {
        // SAFETY: nodes of the free tree, up through their parents.
        unsafe {
            while rb != stop && rb != 0 {
                let va = va_of_rb(&self.0, rb);
                if self.compute_max(va, true) {
                    break;
                }
                rb = rbtree::rb_parent(&self.0, rb);
            }
        }
    }
    unsafe fn copy(&self, old: u64, new: u64) {
        // SAFETY: nodes of the free tree.
        unsafe { (*va_of_rb(&self.0, new)).u = (*va_of_rb(&self.0, old)).u }
    }
    unsafe fn rotate(&self, old: u64, new: u64) {
        // SAFETY: nodes of the free tree.
        unsafe {
            (*va_of_rb(&self.0, new)).u = (*va_of_rb(&self.0, old)).u;
            self.compute_max(va_of_rb(&self.0, old), false);
        }
    }
}

// ----- Lists ------------------------------------------------------------------------------------

#[inline(always)]
unsafe fn list_init(dm: &Dm, head: u64) {
    // SAFETY: the caller's contract: a list_head in simulated RAM.
    unsafe {
        let h = dm.at::<ListHead>(head);
        (*h).next = head;
        (*h).prev = head;
    }
}

#[inline(always)]
unsafe fn list_add_between(dm: &Dm, new: u64, prev: u64, next: u64) {
    // SAFETY: list_heads in simulated RAM.
    unsafe {
        (*dm.at::<ListHead>(next)).prev = new;
        (*dm.at::<ListHead>(new)).next = next;
        (*dm.at::<ListHead>(new)).prev = prev;
        (*dm.at::<ListHead>(prev)).next = new;
    }
}

/// `list_add(new, head)`: after `head`.
#[inline(always)]
unsafe fn list_add(dm: &Dm, new: u64, head: u64) {
    // SAFETY: list_heads in simulated RAM.
    unsafe { list_add_between(dm, new, head, (*dm.at::<ListHead>(head)).next) }
}

/// `list_add_tail(new, head)`.
#[inline(always)]
unsafe fn list_add_tail(dm: &Dm, new: u64, head: u64) {
    // SAFETY: list_heads in simulated RAM.
    unsafe { list_add_between(dm, new, (*dm.at::<ListHead>(head)).prev, head) }
}

/// `list_del_init(entry)`.
#[inline(always)]
unsafe fn list_del_init(dm: &Dm, e: u64) {
    // SAFETY: list_heads in simulated RAM.
    unsafe {
        let (prev, next) = ((*dm.at::<ListHead>(e)).prev, (*dm.at::<ListHead>(e)).next);
        (*dm.at::<ListHead>(next)).prev = prev;
        (*dm.at::<ListHead>(prev)).next = next;
        list_init(dm, e);
    }
}

#[inline(always)]
unsafe fn list_empty(dm: &Dm, head: u64) -> bool {
    // SAFETY: a list_head in simulated RAM.
    unsafe { (*dm.at::<ListHead>(head)).next == head }
}

// ----- The allocator's globals --------------------------------------------------------------------

/// What differs between releases in mm/vmalloc.c, decided once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmallocRules {
    /// `sizeof(struct vmap_area)`: 72 from 6.3 (the `flags` field for vm_map_ram areas,
    /// "mm: vmalloc: add a flags field", 6.3), 64 before.
    pub vmap_area_size: u32,
    /// `preallocate_vmalloc_pages` (5.8, "x86/mm: Pre-allocate P4D/PUD pages for vmalloc
    /// area"): the vmalloc range's PUD pages come from the page allocator in `mem_init`,
    /// before the "Memory:" line counts the free pages; before it the PGD entries were
    /// filled on demand (and synced into every page table).
    pub preallocate: bool,
    /// What /proc/meminfo's VmallocUsed counts.
    pub meminfo_used: VmallocUsed,
    /// `BITS_PER_LONG`: 32 on i386. It sets `VMAP_MAX_ALLOC`, `VMALLOC_SPACE` (128 MiB on
    /// 32-bit, 128 GiB on 64-bit), `ULONG_MAX` (the top of `vmap_init_free_space`'s block),
    /// `sizeof(struct page *)` in a page array, and the digits `%p` prints.
    pub bits_per_long: u32,
}

/// /proc/meminfo's VmallocUsed over the releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmallocUsed {
    /// Before 4.4: `get_vmalloc_info`'s bytes of the busy areas, guard pages included
    /// (and VmallocChunk the largest free gap).
    BusyBytes,
    /// 4.4 ("mm/vmalloc: remove get_vmalloc_info") to 5.2: 0.
    Zero,
    /// From 5.3 ("mm: vmalloc: show number of vmalloc pages in /proc/meminfo"; the release
    /// is unconfirmed): `vmalloc_nr_pages()`.
    Pages,
}

impl VmallocRules {
    /// The rules of `era`.
    pub fn new(era: &Era) -> Self {
        VmallocRules {
            vmap_area_size: if era.at_least(6, 3) { 72 } else { 64 },
            preallocate: era.at_least(5, 8),
            meminfo_used: if era.at_least(5, 3) {
                VmallocUsed::Pages
            } else if era.at_least(4, 4) {
                VmallocUsed::Zero
            } else {
                VmallocUsed::BusyBytes
            },
            bits_per_long: if era.is_64bit() { 64 } else { 32 },
        }
    }

    /// `VMAP_MAX_ALLOC`: `BITS_PER_LONG` pages; larger `vm_map_ram`s get their own area.
    pub fn vmap_max_alloc(&self) -> u64 {
        u64::from(self.bits_per_long)
    }

    /// `VMALLOC_SPACE`, mm/vmalloc.c's guess at the range's size for `VMAP_BBMAP_BITS`.
    pub fn vmalloc_space(&self) -> u64 {
        if self.bits_per_long == 32 {
            128 << 20
        } else {
            128 << 30
        }
    }

    /// `ULONG_MAX`.
    pub fn ulong_max(&self) -> u64 {
        u64::MAX >> (64 - self.bits_per_long)
    }

    /// `sizeof(struct page *)`.
    pub fn ptr_size(&self) -> u64 {
        u64::from(self.bits_per_long / 8)
    }

    /// The hex digits of a pointer printed with `%p`/`%pK` (`2 * sizeof(void *)`).
    pub fn ptr_digits(&self) -> usize {
        self.bits_per_long as usize / 4
    }
}

/// The page tables the vmalloc range is mapped in: x86_64's four levels (`init_top_pgt`)
/// or i386's `swapper_pg_dir`, 2-level or PAE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PtFormat {
    X86_64,
    I386(crate::arch::x86::pgtable_32::Geom32),
}

/// mm/vmalloc.c's globals (the locks, counters and per-CPU preload slots); the trees and
/// lists themselves are in simulated RAM.
pub struct Vmalloc {
    pub(crate) rules: VmallocRules,
    dm: Option<Dm>,
    /// Kernel address of the statics (tree roots, list heads).
    statics: u64,
    /// Physical address of the PGD (`init_top_pgt`, `swapper_pg_dir`).
    pub(crate) pgd: u64,
    /// `VMALLOC_START` of this boot (i386: `high_memory + VMALLOC_OFFSET`).
    pub(crate) start: u64,
    /// `VMALLOC_END` of this boot: x86_64's names the range's last byte, i386's the first of
    /// the two guard pages below pkmap (the kernel passes either as the exclusive `vend`).
    pub(crate) end: u64,
    /// The page-table format.
    pub(crate) format: PtFormat,
    /// FLATMEM (i386): the kernel address of `mem_map`'s first struct page, its pfn and
    /// `sizeof(struct page)`, for the `struct page *` a page array holds (`None`: x86_64's
    /// vmemmap).
    mem_map: Option<(u64, u64, u64)>,
    /// `vmap_area_cachep`.
    pub(crate) vmap_area_cachep: Option<CachePtr>,
    /// `vmap_initialized`.
    initialized: AtomicBool,
    /// `__vmalloc_node_range`'s `WARN_ON_ONCE(!size)` has fired.
    warned_zero_size: AtomicBool,
    free_vmap_area_lock: RawSpinlock,
    vmap_area_lock: RawSpinlock,
    purge_vmap_area_lock: RawSpinlock,
    /// `vmap_purge_lock` (a mutex).
    vmap_purge_lock: RawSpinlock,
    /// `init_mm.page_table_lock`.
    page_table_lock: RawSpinlock,
    /// `vmap_lazy_nr`.
    pub(crate) vmap_lazy_nr: AtomicU64,
    /// `nr_vmalloc_pages`.
    pub(crate) nr_vmalloc_pages: AtomicU64,
    /// Page-table pages the vmalloc range took after boot.
    pub(crate) nr_pgtable_pages: AtomicU64,
    /// `ne_fit_preload_node` (per CPU).
    ne_fit_preload_node: alloc::boxed::Box<[AtomicU64]>,
    /// `VMAP_BBMAP_BITS`: pages of one vmap_block.
    pub(crate) vb_bits: u64,
    /// `vmap_block_queue` (per CPU): kernel address of each CPU's queue.
    vbq: alloc::boxed::Box<[u64]>,
    /// `vmap_blocks` (an xarray by block index): block index → the vmap_block's address.
    vmap_blocks: spin::Mutex<BTreeMap<u64, u64>>,
    /// `printk_ratelimit()` of "vmap allocation … failed".
    rs: crate::klib::ratelimit::RatelimitState,
}

impl Default for Vmalloc {
    fn default() -> Self {
        Vmalloc {
            rules: VmallocRules {
                vmap_area_size: 72,
                preallocate: true,
                meminfo_used: VmallocUsed::Pages,
                bits_per_long: 64,
            },
            dm: None,
            statics: 0,
            pgd: 0,
            start: VMALLOC_START,
            end: VMALLOC_END,
            format: PtFormat::X86_64,
            mem_map: None,
            vmap_area_cachep: None,
            initialized: AtomicBool::new(false),
            warned_zero_size: AtomicBool::new(false),
            free_vmap_area_lock: RawSpinlock::new(),
            vmap_area_lock: RawSpinlock::new(),
            purge_vmap_area_lock: RawSpinlock::new(),
            vmap_purge_lock: RawSpinlock::new(),
            page_table_lock: RawSpinlock::new(),
            vmap_lazy_nr: AtomicU64::new(0),
            nr_vmalloc_pages: AtomicU64::new(0),
            nr_pgtable_pages: AtomicU64::new(0),
            ne_fit_preload_node: alloc::boxed::Box::new([]),
            vb_bits: VMAP_BBMAP_BITS_MAX,
            vbq: alloc::boxed::Box::new([]),
            vmap_blocks: spin::Mutex::new(BTreeMap::new()),
            rs: crate::klib::ratelimit::RatelimitState::new(5 * 250, 10),
        }
    }
}

impl core::fmt::Debug for Vmalloc {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Vmalloc")
            .field("initialized", &self.initialized())
            .field("vmap_lazy_nr", &self.vmap_lazy_nr.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Vmalloc {
    /// `vmap_initialized`.
    pub fn initialized(&self) -> bool {
        self.initialized.load(Ordering::Acquire)
    }

    /// `&free_vmap_area_list`.
    fn free_head(&self) -> u64 {
        self.statics + FREE_LIST_OFF
    }

    /// `&vmap_area_list` (the busy areas).
    fn busy_head(&self) -> u64 {
        self.statics + BUSY_LIST_OFF
    }

    /// `&purge_vmap_area_list`.
    fn purge_head(&self) -> u64 {
        self.statics + PURGE_LIST_OFF
    }

    /// Page-table pages the vmalloc range took after boot (PMD and PTE pages).
    pub fn nr_pgtable_pages(&self) -> u64 {
        self.nr_pgtable_pages.load(Ordering::Relaxed)
    }

    /// `vmap_lazy_nr`: pages waiting for the lazy purge.
    pub fn vmap_lazy_nr(&self) -> u64 {
        self.vmap_lazy_nr.load(Ordering::Relaxed)
    }

    /// `PAGE_KERNEL` of the page-table format: present, RW, accessed, dirty, global, NX
    /// (none without PAE: 2-level entries have no NX bit).
    pub(crate) fn page_kernel(&self) -> u64 {
        match self.format {
            PtFormat::X86_64 => PAGE_KERNEL,
            PtFormat::I386(g) => crate::arch::x86::pgtable_32::PAGE_KERNEL_EXEC | g.nx(),
        }
    }

    /// `_PAGE_NX` as `pgprot_nx` sets it (0 without PAE).
    pub(crate) fn nx(&self) -> u64 {
        match self.format {
            PtFormat::X86_64 => 1 << 63,
            PtFormat::I386(g) => g.nx(),
        }
    }

    /// The end of the range as an exclusive bound (see [`Vmalloc::end`]).
    pub(crate) fn end_exclusive(&self) -> u64 {
        match self.format {
            PtFormat::X86_64 => self.end.wrapping_add(1),
            PtFormat::I386(_) => self.end,
        }
    }

    /// `VMALLOC_START` of this boot.
    pub fn vmalloc_start(&self) -> u64 {
        self.start
    }

    /// `VMALLOC_END` of this boot.
    pub fn vmalloc_end(&self) -> u64 {
        self.end
    }

    /// The `struct page *` the kernel stores in `vm->pages` for `pfn`: `vmemmap + pfn` on
    /// x86_64, `mem_map + (pfn - node_start_pfn)` (a lowmem address) on FLATMEM i386.
    #[inline(always)]
    fn page_ptr(&self, pfn: u64) -> u64 {
        match self.mem_map {
            None => {
                crate::mm::sparse::VMEMMAP_START + pfn * crate::include::mm_types::STRUCT_PAGE_SIZE
            }
            Some((base, first, size)) => {
                base.wrapping_add(pfn.wrapping_sub(first).wrapping_mul(size)) & 0xffff_ffff
            }
        }
    }

    /// The pfn of a `struct page *` read from a page array (`None` unless a memmap address).
    #[inline(always)]
    fn pfn_of_page_ptr(&self, v: u64) -> Option<u64> {
        let (base, first, size) = self.mem_map.unwrap_or((
            crate::mm::sparse::VMEMMAP_START,
            0,
            crate::include::mm_types::STRUCT_PAGE_SIZE,
        ));
        let off = v.checked_sub(base)?;
        (size != 0 && off % size == 0).then(|| off / size + first)
    }

    fn st(&self) -> *mut Statics {
        let dm = self.dm.expect("vmalloc_init set the direct map");
        // SAFETY: `statics` was placed in simulated RAM by vmalloc_init.
        unsafe { dm.at::<Statics>(self.statics) }
    }
}

/// `lazy_max_pages()`: `fls(num_online_cpus()) * (32 MiB / PAGE_SIZE)`.
pub fn lazy_max_pages(k: &Kernel) -> u64 {
    let cpus = u64::from(k.cpus.nr_cpu_ids().max(1));
    u64::from(64 - cpus.leading_zeros()) * ((32 << 20) / PAGE_SIZE)
}

// ----- Errors -------------------------------------------------------------------------------------

/// Why a vmalloc call could not be made at all (an allocation that fails is NULL, `Ok(0)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VmallocError {
    /// `vmalloc_init` has not run (a bare machine, or before `mm_core_init`).
    NotInitialized,
    /// The page or slab allocator refused the call.
    Alloc(crate::mm::page_alloc::AllocError),
}

impl core::fmt::Display for VmallocError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            VmallocError::NotInitialized => {
                f.write_str("vmalloc is not up (vmalloc_init has not run: a bare machine, or an i386 era whose page tables bootmm does not build, 2.6's bootmem kernels)")
            }
            VmallocError::Alloc(e) => write!(f, "{e:?}"),
        }
    }
}

impl From<crate::mm::page_alloc::AllocError> for VmallocError {
    fn from(e: crate::mm::page_alloc::AllocError) -> Self {
        VmallocError::Alloc(e)
    }
}

/// How `vfree` / `vunmap` ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VfreeResult {
    /// The area was unmapped and its pages freed (its addresses wait for the lazy purge).
    Freed,
    /// `vfree(NULL)`: nothing to do.
    Null,
    /// "Trying to vfree() bad address": not page aligned.
    BadAddress,
    /// "Trying to vfree() nonexistent vm area": no area starts there (or it was freed).
    Nonexistent,
}

// ----- Allocating vmap_areas ----------------------------------------------------------------------

/// `kmem_cache_alloc_node(vmap_area_cachep, gfp, node)` on `cpu`.
///
/// # Safety
/// The calling thread holds `cpu`.
unsafe fn va_alloc(k: &Kernel, cpu: u32, gfp: Gfp, node: i32) -> u64 {
    let Some(c) = k.vmalloc.vmap_area_cachep else {
        return 0;
    };
    // SAFETY: the caller holds the CPU; the cache lives as long as the kernel.
    unsafe { a::slab_alloc_node(&mut OnCpu { k, cpu }, c.as_ptr(), gfp, node, 0) }.unwrap_or(0)
}

/// `kmem_cache_free(vmap_area_cachep, va)` on `cpu`.
///
/// # Safety
/// As [`va_alloc`]; `va` is a vmap_area object no tree or list holds.
unsafe fn va_free(k: &Kernel, cpu: u32, va: u64) {
    // SAFETY: the caller's contract.
    let r = unsafe { crate::mm::slab_common::kfree_on(k, cpu, va) };
    debug_assert!(r.is_ok(), "freeing vmap_area {va:#x}: {r:?}");
}

/// `find_va_links`: where `va` belongs below `start` (the root, or the `from` node), or
/// `None` (with the kernel's warning) when it overlaps an area already there.
unsafe fn find_va_links(k: &Kernel, dm: &Dm, va: *mut VmapArea, start: u64) -> Option<Link> {
    if start == 0 {
        return Some(Link::Root);
    }
    let mut n = start;
    // SAFETY: `va` and the tree's nodes are vmap_areas in simulated RAM.
    unsafe {
        loop {
            let t = va_of_rb(dm, n);
            let link = if (*va).va_end <= (*t).va_start {
                n = (*t).rb_node.left;
                Link::Left(rb_addr(dm, t))
            } else if (*va).va_start >= (*t).va_end {
                n = (*t).rb_node.right;
                Link::Right(rb_addr(dm, t))
            } else {
                crate::pr_warn!(
                    k.printk,
                    "vmalloc bug: 0x{:x}-0x{:x} overlaps with 0x{:x}-0x{:x}\n",
                    (*va).va_start,
                    (*va).va_end,
                    (*t).va_start,
                    (*t).va_end
                );
                return None;
            };
            if n == 0 {
                return Some(link);
            }
        }
    }
}

/// The kernel address of a vmap_area's `rb_node`, from its host pointer.
#[inline(always)]
fn rb_addr(dm: &Dm, va: *mut VmapArea) -> u64 {
    (va as usize - dm.host_base) as u64 + dm.page_offset + RB_OFF
}

/// The kernel address of a vmap_area from its host pointer.
#[inline(always)]
fn va_addr(dm: &Dm, va: *mut VmapArea) -> u64 {
    (va as usize - dm.host_base) as u64 + dm.page_offset
}

/// `__link_va`: link `va` at `link` of the tree at `root`, and into the address-sorted list
/// `head` beside its tree neighbour.
unsafe fn link_va(
    dm: &Dm,
    va: *mut VmapArea,
    root: &mut u64,
    link: Link,
    head: u64,
    augment: bool,
) {
    // SAFETY: `va`, the parent and the list are in simulated RAM, under the tree's lock.
    unsafe {
        let mut head = head;
        let parent = link.parent();
        if parent != 0 {
            head = parent - RB_OFF + LIST_OFF;
            if !matches!(link, Link::Right(_)) {
                head = (*dm.at::<ListHead>(head)).prev;
            }
        }
        let rb = rb_addr(dm, va);
        rbtree::rb_link_node(dm, rb, link, root);
        if augment {
            rbtree::rb_insert(dm, rb, root, &FreeAug(*dm));
            (*va).u = 0;
        } else {
            rbtree::rb_insert(dm, rb, root, &NoAugment);
        }
        list_add(dm, va_addr(dm, va) + LIST_OFF, head);
    }
}

/// `__unlink_va`: take `va` out of its tree and list.
unsafe fn unlink_va(dm: &Dm, va: *mut VmapArea, root: &mut u64, augment: bool) {
    // SAFETY: as in `link_va`.
    unsafe {
        let rb = rb_addr(dm, va);
        if augment {
            rbtree::rb_erase(dm, rb, root, &FreeAug(*dm));
        } else {
            rbtree::rb_erase(dm, rb, root, &NoAugment);
        }
        list_del_init(dm, va_addr(dm, va) + LIST_OFF);
        // RB_CLEAR_NODE: the node points at itself.
        (*va).rb_node.parent_color = rb;
    }
}

/// `augment_tree_propagate_from`.
#[inline(always)]
unsafe fn augment_tree_propagate_from(dm: &Dm, va: *mut VmapArea) {
    // SAFETY: a node of the free tree.
    unsafe { FreeAug(*dm).propagate(rb_addr(dm, va), 0) }
}

/// `insert_vmap_area` (busy tree) and `insert_vmap_area_augment` (free tree, from the root
/// or from a node `from`).
unsafe fn insert_vmap_area(
    k: &Kernel,
    dm: &Dm,
    va: *mut VmapArea,
    root: &mut u64,
    head: u64,
    from: u64,
    augment: bool,
) {
    // SAFETY: under the tree's lock.
    unsafe {
        let start = if from != 0 { from } else { *root };
        if let Some(link) = find_va_links(k, dm, va, start) {
            link_va(dm, va, root, link, head, augment);
            if augment {
                augment_tree_propagate_from(dm, va);
            }
        }
    }
}

/// `__merge_or_add_vmap_area`: put a freed area into the tree at `root` (the purge tree or
/// the free tree), merged with the neighbours it touches. Returns the area that now holds
/// it (0 if it overlapped something: the kernel's warning).
unsafe fn merge_or_add_vmap_area(
    k: &Kernel,
    cpu: u32,
    dm: &Dm,
    mut va: *mut VmapArea,
    root: &mut u64,
    head: u64,
    augment: bool,
) -> *mut VmapArea {
    // SAFETY: under the tree's lock; every node and list entry is a vmap_area.
    unsafe {
        let Some(link) = find_va_links(k, dm, va, *root) else {
            return core::ptr::null_mut();
        };
        let parent = link.parent();
        let mut merged = false;
        if parent != 0 {
            // get_va_next_sibling.
            let plist = parent - RB_OFF + LIST_OFF;
            let next = if matches!(link, Link::Right(_)) {
                (*dm.at::<ListHead>(plist)).next
            } else {
                plist
            };
            if next != head {
                let sibling = dm.at::<VmapArea>(next - LIST_OFF);
                if (*sibling).va_start == (*va).va_end {
                    (*sibling).va_start = (*va).va_start;
                    va_free(k, cpu, va_addr(dm, va));
                    va = sibling;
                    merged = true;
                }
            }
            let prev = (*dm.at::<ListHead>(next)).prev;
            if prev != head {
                let sibling = dm.at::<VmapArea>(prev - LIST_OFF);
                if (*sibling).va_end == (*va).va_start {
                    if merged {
                        unlink_va(dm, va, root, augment);
                    }
                    (*sibling).va_end = (*va).va_end;
                    va_free(k, cpu, va_addr(dm, va));
                    va = sibling;
                    merged = true;
                }
            }
        }
        if !merged {
            link_va(dm, va, root, link, head, augment);
        }
        if augment {
            augment_tree_propagate_from(dm, va);
        }
        va
    }
}

#[inline(always)]
fn align_up(x: u64, align: u64) -> u64 {
    x.wrapping_add(align - 1) & !(align - 1)
}

/// `is_within_this_va`.
#[inline(always)]
unsafe fn is_within_this_va(va: *mut VmapArea, size: u64, align: u64, vstart: u64) -> bool {
    // SAFETY: a vmap_area.
    unsafe {
        let nva = if (*va).va_start > vstart {
            align_up((*va).va_start, align)
        } else {
            align_up(vstart, align)
        };
        if nva.wrapping_add(size) < nva || nva < vstart {
            return false;
        }
        nva + size <= (*va).va_end
    }
}

/// `find_vmap_lowest_match`: the lowest free block that fits `size` at `align` from
/// `vstart`.
unsafe fn find_vmap_lowest_match(
    dm: &Dm,
    root: u64,
    size: u64,
    align: u64,
    mut vstart: u64,
    adjust_search_size: bool,
) -> *mut VmapArea {
    let aug = FreeAug(*dm);
    let length = if adjust_search_size {
        size.saturating_add(align - 1)
    } else {
        size
    };
    let mut node = root;
    // SAFETY: nodes of the free tree, under free_vmap_area_lock.
    unsafe {
        while node != 0 {
            let va = va_of_rb(dm, node);
            if aug.sub((*va).rb_node.left) >= length && vstart < (*va).va_start {
                node = (*va).rb_node.left;
            } else {
                if is_within_this_va(va, size, align, vstart) {
                    return va;
                }
                if aug.sub((*va).rb_node.right) >= length {
                    node = (*va).rb_node.right;
                    continue;
                }
                // Roll back to the first right subtree that can satisfy the request.
                loop {
                    node = rbtree::rb_parent(dm, node);
                    if node == 0 {
                        break;
                    }
                    let va = va_of_rb(dm, node);
                    if is_within_this_va(va, size, align, vstart) {
                        return va;
                    }
                    if aug.sub((*va).rb_node.right) >= length && vstart <= (*va).va_start {
                        vstart = (*va).va_start + 1;
                        node = (*va).rb_node.right;
                        break;
                    }
                }
            }
        }
    }
    core::ptr::null_mut()
}

/// `adjust_va_to_fit_type`: cut `[nva, nva + size)` out of free block `va`.
unsafe fn adjust_va_to_fit_type(
    k: &Kernel,
    cpu: u32,
    dm: &Dm,
    st: *mut Statics,
    va: *mut VmapArea,
    nva: u64,
    size: u64,
) -> bool {
    // SAFETY: under free_vmap_area_lock.
    unsafe {
        let root = &mut (*st).free_vmap_area_root;
        let list = k.vmalloc.free_head();
        let (s, e) = ((*va).va_start, (*va).va_end);
        if nva < s || nva + size > e {
            return false; // NOTHING_FIT
        }
        let mut lva: *mut VmapArea = core::ptr::null_mut();
        if s == nva {
            if e == nva + size {
                // FL_FIT_TYPE
                unlink_va(dm, va, root, true);
                va_free(k, cpu, va_addr(dm, va));
                return true;
            }
            // LE_FIT_TYPE
            (*va).va_start += size;
        } else if e == nva + size {
            // RE_FIT_TYPE
            (*va).va_end = nva;
        } else {
            // NE_FIT_TYPE: the block splits; the left part needs a new vmap_area.
            let mut l = k.vmalloc.ne_fit_preload_node[cpu as usize].swap(0, Ordering::Relaxed);
            if l == 0 {
                l = va_alloc(k, cpu, GFP_NOWAIT, NUMA_NO_NODE);
                if l == 0 {
                    return false;
                }
            }
            lva = dm.at::<VmapArea>(l);
            (*lva).va_start = s;
            (*lva).va_end = nva;
            (*va).va_start = nva + size;
        }
        augment_tree_propagate_from(dm, va);
        if !lva.is_null() {
            insert_vmap_area(k, dm, lva, root, list, rb_addr(dm, va), true);
        }
        true
    }
}

/// `__alloc_vmap_area`: the lowest `size` bytes at `align` in `[vstart, vend)`, or `vend`.
unsafe fn __alloc_vmap_area(
    k: &Kernel,
    cpu: u32,
    dm: &Dm,
    size: u64,
    align: u64,
    vstart: u64,
    vend: u64,
) -> u64 {
    let st = k.vmalloc.st();
    let adjust = !(align <= PAGE_SIZE || vend - vstart == size);
    // SAFETY: under free_vmap_area_lock.
    unsafe {
        let va = find_vmap_lowest_match(dm, (*st).free_vmap_area_root, size, align, vstart, adjust);
        if va.is_null() {
            return vend;
        }
        let nva = if (*va).va_start > vstart {
            align_up((*va).va_start, align)
        } else {
            align_up(vstart, align)
        };
        if nva.saturating_add(size) > vend {
            return vend;
        }
        if !adjust_va_to_fit_type(k, cpu, dm, st, va, nva, size) {
            return vend;
        }
        nva
    }
}

/// `preload_this_cpu_lock`: make sure this CPU has a spare vmap_area for a split, then take
/// `free_vmap_area_lock`.
unsafe fn preload_this_cpu_lock(k: &Kernel, cpu: u32, gfp: Gfp, node: i32) {
    let slot = &k.vmalloc.ne_fit_preload_node[cpu as usize];
    if slot.load(Ordering::Relaxed) == 0 {
        // SAFETY: the caller holds the CPU.
        let va = unsafe { va_alloc(k, cpu, gfp, node) };
        if va != 0
            && slot
                .compare_exchange(0, va, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            // SAFETY: the new object is ours.
            unsafe { va_free(k, cpu, va) };
        }
    }
    k.vmalloc.free_vmap_area_lock.lock();
}

/// mm/vmalloc.c `alloc_vmap_area`: a busy vmap_area of `size` bytes at `align` inside
/// `[vstart, vend)`. `Err(-EINVAL)` for a bad size or alignment, `Err(-ENOMEM)` without a
/// vmap_area object, `Err(-EBUSY)` when the range is full even after a purge (with the
/// kernel's warning unless `__GFP_NOWARN`).
///
/// # Safety
/// The calling thread holds `cpu`; vmalloc is initialised.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn alloc_vmap_area(
    k: &Kernel,
    cpu: u32,
    size: u64,
    align: u64,
    vstart: u64,
    vend: u64,
    node: i32,
    gfp: Gfp,
    va_flags: u64,
) -> Result<u64, i32> {
    if size == 0 || size & (PAGE_SIZE - 1) != 0 || !align.is_power_of_two() {
        return Err(-22);
    }
    let vm = &k.vmalloc;
    let Some(dm) = vm.dm.filter(|_| vm.initialized()) else {
        return Err(-16);
    };
    let gfp = gfp & Gfp::GFP_RECLAIM_MASK;
    // SAFETY: the caller holds the CPU.
    let va = unsafe { va_alloc(k, cpu, gfp, node) };
    if va == 0 {
        return Err(-12);
    }
    let mut purged = false;
    loop {
        // SAFETY: the caller holds the CPU; the lock is taken inside and released here.
        let addr = unsafe {
            preload_this_cpu_lock(k, cpu, gfp, node);
            let addr = __alloc_vmap_area(k, cpu, &dm, size, align, vstart, vend);
            vm.free_vmap_area_lock.unlock();
            addr
        };
        if addr != vend {
            // SAFETY: `va` is our new object; the busy tree is under vmap_area_lock.
            unsafe {
                let p = dm.at::<VmapArea>(va);
                (*p).va_start = addr;
                (*p).va_end = addr + size;
                (*p).u = 0;
                // 6.3+: `va->flags`; before, the structure ends at `vm`.
                if vm.rules.vmap_area_size > 64 {
                    (*p).flags = va_flags;
                }
                vm.vmap_area_lock.lock();
                insert_busy(k, &dm, p);
                vm.vmap_area_lock.unlock();
            }
            debug_assert!(addr % align == 0 && addr >= vstart && addr + size <= vend);
            return Ok(va);
        }
        if !purged {
            // SAFETY: the caller holds the CPU.
            unsafe { reclaim_and_purge_vmap_areas(k, cpu, &dm) };
            purged = true;
            continue;
        }
        if !gfp.contains(Gfp::__GFP_NOWARN)
            && vm
                .rs
                .ratelimit(k.jiffies.get(), "alloc_vmap_area", &k.printk)
        {
            crate::pr_warn!(
                k.printk,
                "vmap allocation for size {size} failed: use vmalloc=<size> to increase size\n"
            );
        }
        // SAFETY: our object, in no tree.
        unsafe { va_free(k, cpu, va) };
        return Err(-16);
    }
}

/// `insert_vmap_area(va, &vmap_area_root, &vmap_area_list)`.
///
/// # Safety
/// The caller holds `vmap_area_lock`; `va` is a vmap_area in no tree.
unsafe fn insert_busy(k: &Kernel, dm: &Dm, va: *mut VmapArea) {
    let vm = &k.vmalloc;
    // SAFETY: the caller's contract.
    unsafe {
        let st = vm.st();
        insert_vmap_area(
            k,
            dm,
            va,
            &mut (*st).vmap_area_root,
            vm.busy_head(),
            0,
            false,
        );
    }
}

/// `reclaim_and_purge_vmap_areas`: under `vmap_purge_lock`, the fragmented vmap_blocks
/// freed and every lazily freed area merged back into the free tree.
///
/// # Safety
/// The calling thread holds `cpu`.
unsafe fn reclaim_and_purge_vmap_areas(k: &Kernel, cpu: u32, dm: &Dm) {
    k.vmalloc.vmap_purge_lock.lock();
    // SAFETY: the caller holds the CPU; we hold vmap_purge_lock.
    unsafe {
        purge_fragmented_blocks_allcpus(k, cpu, dm);
        __purge_vmap_area_lazy(k, cpu, dm);
    }
    k.vmalloc.vmap_purge_lock.unlock();
}

/// `__purge_vmap_area_lazy`: move every lazily freed area into the free tree, merging.
/// Returns whether anything was purged.
///
/// # Safety
/// The calling thread holds `cpu` and `vmap_purge_lock`.
unsafe fn __purge_vmap_area_lazy(k: &Kernel, cpu: u32, dm: &Dm) -> bool {
    let vm = &k.vmalloc;
    let st = vm.st();
    let purge_head = vm.purge_head();
    // SAFETY: the lists are in simulated RAM under their locks.
    unsafe {
        vm.purge_vmap_area_lock.lock();
        (*st).purge_vmap_area_root = 0;
        // list_replace_init onto a local list: collect the entries.
        let mut local = Vec::new();
        let mut e = (*dm.at::<ListHead>(purge_head)).next;
        while e != purge_head {
            local.push(e - LIST_OFF);
            e = (*dm.at::<ListHead>(e)).next;
        }
        list_init(dm, purge_head);
        vm.purge_vmap_area_lock.unlock();
        if local.is_empty() {
            return false;
        }
        // flush_tlb_kernel_range(start, end): no TLB is modelled.
        vm.free_vmap_area_lock.lock();
        for &v in &local {
            let p = dm.at::<VmapArea>(v);
            let nr = ((*p).va_end - (*p).va_start) >> PAGE_SHIFT;
            list_init(dm, v + LIST_OFF);
            let merged = merge_or_add_vmap_area(
                k,
                cpu,
                dm,
                p,
                &mut (*st).free_vmap_area_root,
                vm.free_head(),
                true,
            );
            if !merged.is_null() {
                vm.vmap_lazy_nr.fetch_sub(nr, Ordering::Relaxed);
            }
        }
        vm.free_vmap_area_lock.unlock();
        true
    }
}

/// `free_vmap_area_noflush`: put an unlinked, unmapped area on the purge tree; purge when
/// more than `lazy_max_pages()` wait (the kernel schedules `drain_vmap_area_work`; bootmm
/// runs it in the freeing CPU).
///
/// # Safety
/// The calling thread holds `cpu`; `va` is in no tree.
unsafe fn free_vmap_area_noflush(k: &Kernel, cpu: u32, dm: &Dm, va: *mut VmapArea) {
    let vm = &k.vmalloc;
    // SAFETY: `va` is ours; the purge tree is under its lock.
    unsafe {
        if !list_empty(dm, va_addr(dm, va) + LIST_OFF) {
            crate::pr_warn!(
                k.printk,
                "WARNING: CPU: {cpu} PID: 0 at {FILE} free_vmap_area_noflush: WARN_ON_ONCE(!list_empty(&va->list))\n"
            );
            return;
        }
        let nr = ((*va).va_end - (*va).va_start) >> PAGE_SHIFT;
        let nr_lazy = vm.vmap_lazy_nr.fetch_add(nr, Ordering::Relaxed) + nr;
        vm.purge_vmap_area_lock.lock();
        let st = vm.st();
        merge_or_add_vmap_area(
            k,
            cpu,
            dm,
            va,
            &mut (*st).purge_vmap_area_root,
            vm.purge_head(),
            false,
        );
        vm.purge_vmap_area_lock.unlock();
        if nr_lazy > lazy_max_pages(k) && vm.vmap_purge_lock.try_lock() {
            // drain_vmap_area_work.
            __purge_vmap_area_lazy(k, cpu, dm);
            vm.vmap_purge_lock.unlock();
        }
    }
}

/// `__find_vmap_area`: the busy area holding `addr`.
unsafe fn __find_vmap_area(dm: &Dm, root: u64, addr: u64) -> *mut VmapArea {
    let mut n = root;
    // SAFETY: nodes of the busy tree under vmap_area_lock.
    unsafe {
        while n != 0 {
            let va = va_of_rb(dm, n);
            if addr < (*va).va_start {
                n = (*va).rb_node.left;
            } else if addr >= (*va).va_end {
                n = (*va).rb_node.right;
            } else {
                return va;
            }
        }
    }
    core::ptr::null_mut()
}

/// `find_unlink_vmap_area`: take the busy area holding `addr` off the busy tree.
unsafe fn find_unlink_vmap_area(k: &Kernel, dm: &Dm, addr: u64) -> *mut VmapArea {
    let vm = &k.vmalloc;
    vm.vmap_area_lock.lock();
    // SAFETY: under vmap_area_lock.
    let va = unsafe {
        let st = vm.st();
        let va = __find_vmap_area(dm, (*st).vmap_area_root, addr);
        if !va.is_null() {
            unlink_va(dm, va, &mut (*st).vmap_area_root, false);
        }
        va
    };
    vm.vmap_area_lock.unlock();
    va
}

// ----- Page tables ------------------------------------------------------------------------------

/// mm/memory.c `__pte_alloc_kernel` / `__pmd_alloc` / `__pud_alloc` for init_mm: a zeroed
/// page-table page from the page allocator (`GFP_PGTABLE_KERNEL`; i386's
/// `pte_alloc_one_kernel` takes `PGALLOC_GFP`, the same bits, so never a HIGHMEM page),
/// populated into `entry` with `flags` (`_PAGE_TABLE`; a PAE PGD entry has only
/// `_PAGE_PRESENT`) under `init_mm.page_table_lock` unless another CPU got there first
/// (then freed). Returns the table's physical address, or `None` without memory.
///
/// # Safety
/// The calling thread holds `cpu`.
unsafe fn pgtable_alloc_kernel(
    k: &Kernel,
    cpu: u32,
    entry: PteRef<'_>,
    flags: u64,
    pfn_mask: u64,
) -> Option<u64> {
    let page = crate::mm::page_alloc::alloc_pages_on(k, cpu, GFP_PGTABLE_KERNEL, 0, -1)
        .ok()
        .flatten()?;
    let pfn = k.sparse.page_to_pfn_checked(page)?;
    let vm = &k.vmalloc;
    vm.page_table_lock.lock();
    let cur = entry.load(Ordering::Acquire);
    let table = if cur & _PAGE_PRESENT == 0 {
        entry.store((pfn << PAGE_SHIFT) | flags, Ordering::Release);
        vm.nr_pgtable_pages.fetch_add(1, Ordering::Relaxed);
        None
    } else {
        Some(cur & pfn_mask)
    };
    vm.page_table_lock.unlock();
    match table {
        None => Some(pfn << PAGE_SHIFT),
        Some(t) => {
            crate::mm::page_alloc::__free_pages_on(k, cpu, page, 0);
            Some(t)
        }
    }
}

/// The page-table walk of `vmap_pages_range_noflush` and `vunmap_range_noflush`: for each
/// PTE slot of `[addr, end)`, `f(va, pte)`; missing tables are allocated when `alloc` (the
/// `p?d_alloc_track` / `pte_alloc_kernel_track` steps) and skipped otherwise
/// (`p?d_none_or_clear_bad`). Returns `Err(-ENOMEM)` without memory for a table,
/// `Err(-EFAULT)` over a large page or a table outside RAM, or `f`'s error.
///
/// # Safety
/// The calling thread holds `cpu`.
unsafe fn walk_range<F>(
    k: &Kernel,
    cpu: u32,
    dm: &Dm,
    addr: u64,
    end: u64,
    alloc: bool,
    f: &mut F,
) -> Result<(), i32>
where
    F: FnMut(u64, PteRef<'_>) -> Result<(), i32>,
{
    if let PtFormat::I386(g) = k.vmalloc.format {
        // SAFETY: the caller's contract.
        return unsafe { walk_range_32(k, cpu, dm, g, addr, end, alloc, f) };
    }
    let paging = Paging::X86_64_4LEVEL;
    let last = paging.levels() - 1;
    // One level at a time: (level, table, addr, end) frames on a small stack.
    let mut stack: [(usize, u64, u64, u64); 4] = [(0, 0, 0, 0); 4];
    let mut sp = 1;
    stack[0] = (0, k.vmalloc.pgd, addr, end);
    while sp > 0 {
        let (level, table, a0, e0) = stack[sp - 1];
        if a0 == e0 {
            sp -= 1;
            continue;
        }
        let next = paging.addr_end(level, a0, e0);
        stack[sp - 1].2 = next;
        let entry = dm.entry(table, paging.index(level, a0)).ok_or(-14)?;
        if level == last {
            f(a0, PteRef::Wide(entry))?;
            continue;
        }
        let v = entry.load(Ordering::Acquire);
        let child = if v & _PAGE_PRESENT == 0 {
            if !alloc {
                continue;
            }
            // SAFETY: the caller holds the CPU.
            unsafe { pgtable_alloc_kernel(k, cpu, PteRef::Wide(entry), _PAGE_TABLE, PTE_PFN_MASK) }
                .ok_or(-12)?
        } else if v & _PAGE_PSE != 0 && level != 0 {
            return Err(-14);
        } else {
            v & PTE_PFN_MASK
        };
        stack[sp] = (level + 1, child, a0, next);
        sp += 1;
    }
    Ok(())
}

/// [`walk_range`] on i386's `swapper_pg_dir` (arch/x86/include/asm/pgtable-2level.h and
/// pgtable-3level.h). Without PAE the PMD level folds into the PGD: a missing page table is
/// `pte_alloc_kernel`'s, and `pmd_populate_kernel` writes it into the kernel's PGD entry
/// itself; other page directories would copy that entry (`vmalloc_sync_all`, or the
/// `vmalloc_fault` of their first touch; 5.8's `arch_sync_kernel_mappings`), but init_mm's
/// is the only one bootmm has. With PAE the kernel's PMD page (the image's
/// `initial_pg_pmd`, shared by every PGD: `SHARED_KERNEL_PMD`) is there from boot, so
/// only page tables are added; a missing PMD page would be `pud_populate`'s.
///
/// # Safety
/// The calling thread holds `cpu`.
#[allow(clippy::too_many_arguments)]
unsafe fn walk_range_32<F>(
    k: &Kernel,
    cpu: u32,
    dm: &Dm,
    g: crate::arch::x86::pgtable_32::Geom32,
    addr: u64,
    end: u64,
    alloc: bool,
    f: &mut F,
) -> Result<(), i32>
where
    F: FnMut(u64, PteRef<'_>) -> Result<(), i32>,
{
    use crate::arch::x86::pgtable_32::{PAGE_TABLE, PSE};
    let es = g.entry_size();
    let end = end.min(1 << 32);
    let pgdir = 1u64 << g.pgdir_shift();
    let pmd_size = g.pmd_size();
    let mut a = addr;
    while a < end {
        let pgd_e = dm
            .entry_sized(
                k.vmalloc.pgd,
                (a >> g.pgdir_shift()) & (g.ptrs_per_pgd() - 1),
                es,
            )
            .ok_or(-14)?;
        let pmd_e = if g.pae {
            let v = pgd_e.load(Ordering::Acquire);
            let pmd_page = if v & _PAGE_PRESENT == 0 {
                if !alloc {
                    a = (a | (pgdir - 1)) + 1;
                    continue;
                }
                // SAFETY: the caller holds the CPU.
                unsafe { pgtable_alloc_kernel(k, cpu, pgd_e, _PAGE_PRESENT, g.pfn_mask()) }
                    .ok_or(-12)?
            } else {
                v & g.pfn_mask()
            };
            dm.entry_sized(pmd_page, (a >> g.pmd_shift()) & (g.ptrs_per_pmd() - 1), 8)
                .ok_or(-14)?
        } else {
            pgd_e
        };
        let next = ((a | (pmd_size - 1)) + 1).min(end);
        let v = pmd_e.load(Ordering::Acquire);
        let pt = if v & _PAGE_PRESENT == 0 {
            if !alloc {
                a = next;
                continue;
            }
            // SAFETY: the caller holds the CPU.
            unsafe { pgtable_alloc_kernel(k, cpu, pmd_e, PAGE_TABLE, g.pfn_mask()) }.ok_or(-12)?
        } else if v & PSE != 0 {
            return Err(-14);
        } else {
            v & g.pfn_mask()
        };
        while a < next {
            let pte = dm
                .entry_sized(pt, (a >> PAGE_SHIFT) & (g.ptrs_per_pte() - 1), es)
                .ok_or(-14)?;
            f(a, pte)?;
            a += PAGE_SIZE;
        }
    }
    Ok(())
}

/// mm/vmalloc.c `vmap_pages_range` (`vmap_small_pages_range_noflush`: `vmap_pages_p4d_range`
/// → `_pud_range` → `_pmd_range` → `_pte_range`): map `pfns` at `addr` with `prot`, one PTE
/// each. A PTE already in use is the kernel's WARN and `-EBUSY`.
///
/// # Safety
/// The calling thread holds `cpu`.
unsafe fn vmap_pages_range(
    k: &Kernel,
    cpu: u32,
    dm: &Dm,
    addr: u64,
    pfns: &mut dyn FnMut(usize) -> u64,
    nr: usize,
    prot: u64,
) -> Result<(), i32> {
    let mut i = 0usize;
    let end = addr + (nr as u64) * PAGE_SIZE;
    // SAFETY: the caller's contract.
    unsafe {
        walk_range(k, cpu, dm, addr, end, true, &mut |va, pte| {
            if pte.load(Ordering::Relaxed) != 0 {
                crate::pr_warn!(
                    k.printk,
                    "WARNING: CPU: {cpu} PID: 0 at {FILE} vmap_pages_pte_range: pte at {va:#x} is in use\n"
                );
                return Err(-16);
            }
            let pfn = pfns(i);
            i += 1;
            pte.store((pfn << PAGE_SHIFT) | prot, Ordering::Release);
            Ok(())
        })
    }
}

/// mm/vmalloc.c `vunmap_range_noflush`: clear the PTEs of `[addr, end)`. The tables stay.
///
/// # Safety
/// The calling thread holds `cpu`.
unsafe fn vunmap_range_noflush(k: &Kernel, cpu: u32, dm: &Dm, addr: u64, end: u64) {
    // SAFETY: the caller's contract; nothing is allocated.
    let _ = unsafe {
        walk_range(k, cpu, dm, addr, end, false, &mut |_, pte| {
            pte.swap(0, Ordering::AcqRel);
            Ok(())
        })
    };
}

// ----- vm_struct: get_vm_area, vmalloc, vfree ----------------------------------------------------

/// `kzalloc_node` / `kmalloc_node` on `cpu` (0 for NULL).
unsafe fn kmalloc_on(k: &Kernel, cpu: u32, size: u64, gfp: Gfp, node: i32) -> u64 {
    // SAFETY: the caller holds the CPU.
    unsafe { crate::mm::slab_common::__do_kmalloc_node(&mut OnCpu { k, cpu }, size, gfp, node) }
        .unwrap_or(0)
}

unsafe fn kfree_quiet(k: &Kernel, cpu: u32, x: u64) {
    // SAFETY: the caller holds the CPU.
    let r = unsafe { crate::mm::slab_common::kfree_on(k, cpu, x) };
    debug_assert!(r.is_ok(), "kfree({x:#x}): {r:?}");
}

/// mm/vmalloc.c `__get_vm_area_node`: a vm_struct and its area (plus a guard page unless
/// `VM_NO_GUARD`). Returns the vm_struct's address, 0 on failure.
///
/// # Safety
/// The calling thread holds `cpu`; vmalloc is initialised.
#[allow(clippy::too_many_arguments)]
unsafe fn __get_vm_area_node(
    k: &Kernel,
    cpu: u32,
    size: u64,
    align: u64,
    flags: u64,
    start: u64,
    end: u64,
    node: i32,
    gfp: Gfp,
    caller: u64,
) -> u64 {
    let dm = k.vmalloc.dm.expect("initialised");
    let mut size = align_up(size, PAGE_SIZE);
    if size == 0 {
        return 0;
    }
    // SAFETY: the caller holds the CPU.
    unsafe {
        let area = kmalloc_on(
            k,
            cpu,
            core::mem::size_of::<VmStruct>() as u64,
            (gfp & Gfp::GFP_RECLAIM_MASK) | Gfp::__GFP_ZERO,
            node,
        );
        if area == 0 {
            return 0;
        }
        if flags & VM_NO_GUARD == 0 {
            size += PAGE_SIZE;
        }
        let va = match alloc_vmap_area(k, cpu, size, align, start, end, node, gfp, 0) {
            Ok(va) => va,
            Err(_) => {
                kfree_quiet(k, cpu, area);
                return 0;
            }
        };
        // setup_vmalloc_vm.
        let vm = &k.vmalloc;
        vm.vmap_area_lock.lock();
        let v = dm.at::<VmStruct>(area);
        let p = dm.at::<VmapArea>(va);
        (*v).flags = flags;
        (*v).addr = (*p).va_start;
        (*v).size = (*p).va_end - (*p).va_start;
        (*v).caller = caller;
        (*p).u = area;
        vm.vmap_area_lock.unlock();
        area
    }
}

/// `get_vm_area_size`: the area without its guard page.
unsafe fn get_vm_area_size(v: *mut VmStruct) -> u64 {
    // SAFETY: a vm_struct.
    unsafe {
        if (*v).flags & VM_NO_GUARD == 0 {
            (*v).size - PAGE_SIZE
        } else {
            (*v).size
        }
    }
}

/// `WARN(1, fmt, …)` in `func`: the message (`__warn_printk`), then the WARNING line
/// (`__warn`; no stack or registers).
fn warn(k: &Kernel, cpu: u32, func: &str, msg: &str) {
    crate::pr_warn!(k.printk, "{msg}\n");
    crate::pr_warn!(k.printk, "WARNING: CPU: {cpu} PID: 0 at {FILE} {func}\n");
}

/// mm/page_alloc.c `warn_alloc` with a message: "%s: <msg>, mode:…", then show_mem.
fn warn_alloc(k: &Kernel, cpu: u32, gfp: Gfp, msg: &str) {
    if gfp.contains(Gfp::__GFP_NOWARN) {
        return;
    }
    crate::mm::page_alloc::report::warn_alloc_msg(k, cpu, gfp, msg);
}

/// `vm_area_alloc_pages` (order 0): `nr` pages on `node`, into `pages[]`. Returns how many
/// it got.
unsafe fn vm_area_alloc_pages(
    k: &Kernel,
    cpu: u32,
    gfp: Gfp,
    node: i32,
    nr: u64,
    pages: &mut dyn FnMut(u64, u64),
) -> u64 {
    for i in 0..nr {
        let Some(p) = crate::mm::page_alloc::alloc_pages_on(k, cpu, gfp, 0, node)
            .ok()
            .flatten()
        else {
            return i;
        };
        let Some(pfn) = k.sparse.page_to_pfn_checked(p) else {
            return i;
        };
        pages(i, pfn);
    }
    nr
}

/// The physical address a kernel virtual address of any mapping translates to in the
/// kernel's tables (`lookup_address`: x86_64's four levels or i386's `swapper_pg_dir`),
/// with the size of the page that maps it.
fn lookup_pa(k: &Kernel, va: u64) -> Option<(u64, u64)> {
    if let PtFormat::I386(_) = k.vmalloc.format {
        let w = crate::arch::x86::pgtable_32::lookup_address_32(k, va)?;
        return Some((w.walk.pa?.0, w.size));
    }
    let w = crate::arch::x86::set_memory::lookup_address(k, va);
    Some((w.pa?.0, w.level.size()))
}

/// Write `v` at index `i` of a page array (entries of `sizeof(struct page *)`) that is
/// kmalloc memory (`host`) or a vmalloc area (`va`, walked page by page).
unsafe fn array_set(k: &Kernel, dm: &Dm, host: Option<*mut u8>, va: u64, i: u64, v: u64) {
    let n = k.vmalloc.rules.ptr_size();
    let h = match host {
        // SAFETY: `i` is inside the array the caller allocated.
        Some(h) => Some(unsafe { h.add((i * n) as usize) }),
        None => lookup_pa(k, va + i * n).and_then(|(pa, _)| dm.pa_host(pa, n)),
    };
    if let Some(h) = h {
        // SAFETY: `n` bytes of simulated RAM, `n`-aligned (the array is).
        unsafe {
            if n == 4 {
                *(h as *mut u32) = v as u32;
            } else {
                *(h as *mut u64) = v;
            }
        }
    }
}

/// Read index `i` of a page array (see [`array_set`]).
unsafe fn array_get(k: &Kernel, dm: &Dm, va: u64, i: u64) -> u64 {
    let n = k.vmalloc.rules.ptr_size();
    let a = va + i * n;
    let h = dm
        .host(a, n)
        .or_else(|| lookup_pa(k, a).and_then(|(pa, _)| dm.pa_host(pa, n)));
    match h {
        // SAFETY: `n` bytes of simulated RAM, `n`-aligned.
        Some(h) if n == 4 => u64::from(unsafe { *(h as *const u32) }),
        // SAFETY: as above.
        Some(h) => unsafe { *(h as *const u64) },
        None => 0,
    }
}

/// mm/vmalloc.c `__vmalloc_node_range`: `size` bytes of virtually contiguous memory in
/// `[start, end)` at `align`, mapped with `prot`. Returns the address, 0 (NULL) when it
/// cannot be had, with the kernel's warnings: `vmalloc(0)` is a WARN_ON_ONCE, a size past
/// `totalram_pages()` "exceeds total pages", a full range or a bad alignment "vm_struct
/// allocation failed", no memory for the pages "failed to allocate pages".
///
/// # Safety
/// The calling thread holds `cpu`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn __vmalloc_node_range(
    k: &Kernel,
    cpu: u32,
    size: u64,
    align: u64,
    start: u64,
    end: u64,
    gfp: Gfp,
    prot: u64,
    vm_flags: u64,
    node: i32,
    caller: u64,
) -> Result<u64, VmallocError> {
    let Some(dm) = k.vmalloc.dm.filter(|_| k.vmalloc.initialized()) else {
        return Err(VmallocError::NotInitialized);
    };
    if size == 0 {
        // WARN_ON_ONCE: the first time only.
        if !k.vmalloc.warned_zero_size.swap(true, Ordering::Relaxed) {
            crate::pr_warn!(
                k.printk,
                "WARNING: CPU: {cpu} PID: 0 at {FILE} __vmalloc_node_range: WARN_ON_ONCE(!size)\n"
            );
        }
        return Ok(0);
    }
    let totalram = k.page_alloc.totalram_pages();
    if (size >> PAGE_SHIFT) > totalram {
        warn_alloc(
            k,
            cpu,
            gfp,
            &alloc::format!("vmalloc error: size {size}, exceeds total pages"),
        );
        return Ok(0);
    }
    // SAFETY: the caller holds the CPU.
    unsafe {
        let area = __get_vm_area_node(
            k,
            cpu,
            size,
            align,
            VM_ALLOC | VM_UNINITIALIZED | vm_flags,
            start,
            end,
            node,
            gfp,
            caller,
        );
        if area == 0 {
            warn_alloc(
                k,
                cpu,
                gfp,
                &alloc::format!("vmalloc error: size {size}, vm_struct allocation failed"),
            );
            return Ok(0);
        }
        let ret = __vmalloc_area_node(k, cpu, &dm, area, gfp, prot, node)?;
        if ret != 0 {
            // clear_vm_uninitialized_flag.
            (*dm.at::<VmStruct>(area)).flags &= !VM_UNINITIALIZED;
        }
        Ok(ret)
    }
}

/// mm/vmalloc.c `__vmalloc_area_node`: the page array, the pages, and their mapping.
unsafe fn __vmalloc_area_node(
    k: &Kernel,
    cpu: u32,
    dm: &Dm,
    area: u64,
    gfp: Gfp,
    prot: u64,
    node: i32,
) -> Result<u64, VmallocError> {
    // SAFETY: `area` is our new vm_struct; the caller holds the CPU.
    unsafe {
        let v = dm.at::<VmStruct>(area);
        let addr = (*v).addr;
        let size = get_vm_area_size(v);
        let nr_small = size >> PAGE_SHIFT;
        let array_size = nr_small * k.vmalloc.rules.ptr_size();
        let nested = (gfp & Gfp::GFP_RECLAIM_MASK) | Gfp::__GFP_ZERO;
        let mut gfp = gfp;
        if !gfp.intersects(Gfp::__GFP_DMA | Gfp::__GFP_DMA32) {
            gfp |= Gfp::__GFP_HIGHMEM;
        }
        let pages = if array_size > PAGE_SIZE {
            __vmalloc_node_range(
                k,
                cpu,
                array_size,
                1,
                k.vmalloc.start,
                k.vmalloc.end,
                nested,
                k.vmalloc.page_kernel(),
                0,
                node,
                caller_id("__vmalloc_area_node"),
            )?
        } else {
            kmalloc_on(k, cpu, array_size, nested, node)
        };
        if pages == 0 {
            warn_alloc(
                k,
                cpu,
                gfp,
                &alloc::format!(
                    "vmalloc error: size {}, failed to allocated page array size {array_size}",
                    nr_small * PAGE_SIZE
                ),
            );
            free_vm_area(k, cpu, dm, area);
            return Ok(0);
        }
        (*v).pages = pages;
        (*v).page_order = 0;
        let host = dm.host(pages, array_size);
        let got = vm_area_alloc_pages(
            k,
            cpu,
            gfp | Gfp::__GFP_NOWARN,
            node,
            nr_small,
            &mut |i, pfn| {
                array_set(k, dm, host, pages, i, k.vmalloc.page_ptr(pfn));
            },
        );
        (*v).nr_pages = got as u32;
        k.vmalloc.nr_vmalloc_pages.fetch_add(got, Ordering::Relaxed);
        if got != nr_small {
            warn_alloc(
                k,
                cpu,
                gfp,
                &alloc::format!(
                    "vmalloc error: size {}, failed to allocate pages",
                    got * PAGE_SIZE
                ),
            );
            vfree_on(k, cpu, addr);
            return Ok(0);
        }
        let r = vmap_pages_range(
            k,
            cpu,
            dm,
            addr,
            &mut |i| {
                k.vmalloc
                    .pfn_of_page_ptr(array_get(k, dm, pages, i as u64))
                    .unwrap_or(0)
            },
            nr_small as usize,
            prot,
        );
        if r.is_err() {
            warn_alloc(
                k,
                cpu,
                gfp,
                &alloc::format!(
                    "vmalloc error: size {}, failed to map pages",
                    got * PAGE_SIZE
                ),
            );
            vfree_on(k, cpu, addr);
            return Ok(0);
        }
        Ok(addr)
    }
}

/// `free_vm_area`: remove an area that has no pages and free its vm_struct.
unsafe fn free_vm_area(k: &Kernel, cpu: u32, dm: &Dm, area: u64) {
    // SAFETY: `area` is a vm_struct of ours.
    unsafe {
        let addr = (*dm.at::<VmStruct>(area)).addr;
        let _ = remove_vm_area(k, cpu, dm, addr);
        kfree_quiet(k, cpu, area);
    }
}

/// mm/vmalloc.c `remove_vm_area`: unlink the busy area holding `addr`, unmap it and queue it
/// for the purge. Returns its vm_struct (0: none; a `vm_map_ram` area found there is unlinked
/// and lost, as in the kernel).
unsafe fn remove_vm_area(k: &Kernel, cpu: u32, dm: &Dm, addr: u64) -> u64 {
    if addr & (PAGE_SIZE - 1) != 0 {
        warn(
            k,
            cpu,
            "remove_vm_area",
            &alloc::format!(
                "Trying to vfree() bad address (0x{addr:0w$x})",
                w = k.vmalloc.rules.ptr_digits()
            ),
        );
        return 0;
    }
    // SAFETY: the caller holds the CPU.
    unsafe {
        let va = find_unlink_vmap_area(k, dm, addr);
        if va.is_null() || (*va).u == 0 {
            return 0;
        }
        let vm = (*va).u;
        // free_unmap_vmap_area.
        vunmap_range_noflush(k, cpu, dm, (*va).va_start, (*va).va_end);
        free_vmap_area_noflush(k, cpu, dm, va);
        vm
    }
}

/// mm/vmalloc.c `vfree`.
///
/// # Safety
/// The calling thread holds `cpu`.
pub(crate) unsafe fn vfree_on(k: &Kernel, cpu: u32, addr: u64) -> VfreeResult {
    if addr == 0 {
        return VfreeResult::Null;
    }
    let Some(dm) = k.vmalloc.dm.filter(|_| k.vmalloc.initialized()) else {
        return VfreeResult::Nonexistent;
    };
    // SAFETY: the caller holds the CPU.
    unsafe {
        let area = remove_vm_area(k, cpu, &dm, addr);
        if area == 0 {
            warn(
                k,
                cpu,
                "vfree",
                &alloc::format!(
                    "Trying to vfree() nonexistent vm area (0x{addr:0w$x})",
                    w = k.vmalloc.rules.ptr_digits()
                ),
            );
            return if addr & (PAGE_SIZE - 1) != 0 {
                VfreeResult::BadAddress
            } else {
                VfreeResult::Nonexistent
            };
        }
        let v = dm.at::<VmStruct>(area);
        // A vm_struct overwritten through its kmalloc object cannot make the loop run past
        // the area's pages (the kernel's nr_pages never exceeds them).
        let nr = u64::from((*v).nr_pages).min((*v).size >> PAGE_SHIFT);
        let pages = (*v).pages;
        if (*v).flags & (VM_ALLOC | VM_MAP_PUT_PAGES) != 0 && pages != 0 {
            for i in 0..nr {
                let pv = array_get(k, &dm, pages, i);
                if let Some(p) = k
                    .vmalloc
                    .pfn_of_page_ptr(pv)
                    .and_then(|pfn| k.sparse.pfn_to_page(pfn))
                {
                    crate::mm::page_alloc::__free_pages_on(k, cpu, p, 0);
                }
            }
            k.vmalloc.nr_vmalloc_pages.fetch_sub(nr, Ordering::Relaxed);
            // kvfree(vm->pages).
            if dm.host(pages, 8).is_some() {
                kfree_quiet(k, cpu, pages);
            } else {
                vfree_on(k, cpu, pages);
            }
        }
        kfree_quiet(k, cpu, area);
        VfreeResult::Freed
    }
}

/// mm/vmalloc.c `vmap`: map `count` pages (`pfns`) into a new area with `VM_MAP | flags`.
/// Returns the address, 0 when it cannot.
///
/// # Safety
/// The calling thread holds `cpu`.
pub(crate) unsafe fn vmap_on(
    k: &Kernel,
    cpu: u32,
    pfns: &[u64],
    flags: u64,
    prot: u64,
) -> Result<u64, VmallocError> {
    let Some(dm) = k.vmalloc.dm.filter(|_| k.vmalloc.initialized()) else {
        return Err(VmallocError::NotInitialized);
    };
    if flags & (VM_FLUSH_RESET_PERMS | VM_NO_GUARD) != 0 {
        crate::pr_warn!(
            k.printk,
            "WARNING: CPU: {cpu} PID: 0 at {FILE} vmap: WARN_ON_ONCE(flags)\n"
        );
        return Ok(0);
    }
    let count = pfns.len() as u64;
    if count == 0 || count > k.page_alloc.totalram_pages() {
        return Ok(0);
    }
    if pfns.iter().any(|&p| k.sparse.pfn_to_page(p).is_none()) {
        crate::pr_warn!(
            k.printk,
            "WARNING: CPU: {cpu} PID: 0 at {FILE} vmap_pages_pte_range: WARN_ON(!pfn_valid(page_to_pfn(page)))\n"
        );
        return Ok(0);
    }
    // SAFETY: the caller holds the CPU.
    unsafe {
        let area = __get_vm_area_node(
            k,
            cpu,
            count * PAGE_SIZE,
            1,
            flags | VM_MAP,
            k.vmalloc.start,
            k.vmalloc.end,
            NUMA_NO_NODE,
            GFP_KERNEL,
            caller_id("vmap"),
        );
        if area == 0 {
            return Ok(0);
        }
        let addr = (*dm.at::<VmStruct>(area)).addr;
        // pgprot_nx(prot): no NX bit without PAE.
        let prot = prot | k.vmalloc.nx();
        if vmap_pages_range(k, cpu, &dm, addr, &mut |i| pfns[i], pfns.len(), prot).is_err() {
            vunmap_on(k, cpu, addr);
            return Ok(0);
        }
        Ok(addr)
    }
}

/// mm/vmalloc.c `vunmap`: undo a `vmap` (the pages stay the caller's).
///
/// # Safety
/// The calling thread holds `cpu`.
pub(crate) unsafe fn vunmap_on(k: &Kernel, cpu: u32, addr: u64) -> VfreeResult {
    if addr == 0 {
        return VfreeResult::Null;
    }
    let Some(dm) = k.vmalloc.dm.filter(|_| k.vmalloc.initialized()) else {
        return VfreeResult::Nonexistent;
    };
    // SAFETY: the caller holds the CPU.
    unsafe {
        let area = remove_vm_area(k, cpu, &dm, addr);
        if area == 0 {
            warn(
                k,
                cpu,
                "vunmap",
                &alloc::format!(
                    "Trying to vunmap() nonexistent vm area (0x{addr:0w$x})",
                    w = k.vmalloc.rules.ptr_digits()
                ),
            );
            return if addr & (PAGE_SIZE - 1) != 0 {
                VfreeResult::BadAddress
            } else {
                VfreeResult::Nonexistent
            };
        }
        kfree_quiet(k, cpu, area);
        VfreeResult::Freed
    }
}

// ----- vm_map_ram through vmap_blocks -------------------------------------------------------------

/// `addr_to_vb_idx`.
fn addr_to_vb_idx(vm: &Vmalloc, addr: u64, block: u64) -> u64 {
    (addr - (vm.start & !(block - 1))) / block
}

/// `new_vmap_block`: a block for this CPU, its first `1 << order` pages taken.
unsafe fn new_vmap_block(k: &Kernel, cpu: u32, dm: &Dm, order: u32, gfp: Gfp) -> u64 {
    let bits = k.vmalloc.vb_bits;
    let block = bits * PAGE_SIZE;
    // SAFETY: the caller holds the CPU.
    unsafe {
        let vb = kmalloc_on(
            k,
            cpu,
            vmap_block_size(bits),
            gfp & Gfp::GFP_RECLAIM_MASK,
            NUMA_NO_NODE,
        );
        if vb == 0 {
            return 0;
        }
        let va = match alloc_vmap_area(
            k,
            cpu,
            block,
            block,
            k.vmalloc.start,
            k.vmalloc.end,
            NUMA_NO_NODE,
            gfp,
            VMAP_RAM | VMAP_BLOCK,
        ) {
            Ok(va) => va,
            Err(_) => {
                kfree_quiet(k, cpu, vb);
                return 0;
            }
        };
        let start = (*dm.at::<VmapArea>(va)).va_start;
        let b = dm.at::<VmapBlock>(vb);
        core::ptr::write(&raw mut (*b).lock, RawSpinlock::new());
        (*b).va = va;
        (*b).free = bits - (1 << order);
        (*b).dirty = 0;
        let map = vb_map(dm, vb, bits);
        map.fill(0);
        bitmap_set(map, 0, 1 << order);
        let t = vb_tail(dm, vb, bits);
        (*t).dirty_min = bits;
        (*t).dirty_max = 0;
        (*t).cpu = cpu;
        k.vmalloc
            .vmap_blocks
            .lock()
            .insert(addr_to_vb_idx(&k.vmalloc, start, block), vb);
        let qv = k.vmalloc.vbq[cpu as usize];
        let q = dm.at::<VmapBlockQueue>(qv);
        (*q).lock.lock();
        list_add_tail(dm, vb + vb_free_list_off(bits), qv + 8);
        (*q).lock.unlock();
        start
    }
}

fn bitmap_set(map: &mut [u64], start: u64, n: u64) {
    for b in start..start + n {
        map[(b / 64) as usize] |= 1 << (b % 64);
    }
}

fn bitmap_clear(map: &mut [u64], start: u64, n: u64) {
    for b in start..start + n {
        map[(b / 64) as usize] &= !(1 << (b % 64));
    }
}

/// `get_order(size)`.
fn get_order(size: u64) -> u32 {
    size.div_ceil(PAGE_SIZE)
        .next_power_of_two()
        .trailing_zeros()
}

/// `vb_alloc`: `size` bytes from one of this CPU's blocks, or a new block.
unsafe fn vb_alloc(k: &Kernel, cpu: u32, dm: &Dm, size: u64, gfp: Gfp) -> u64 {
    let order = get_order(size);
    let bits = k.vmalloc.vb_bits;
    let off_list = vb_free_list_off(bits);
    let qv = k.vmalloc.vbq[cpu as usize];
    let head = qv + 8;
    // SAFETY: this CPU's queue and its blocks, under their locks. The kernel walks the
    // queue under RCU (blocks are freed with kfree_rcu); bootmm holds the queue's lock
    // instead, which orders it against a purge from another CPU.
    unsafe {
        let q = dm.at::<VmapBlockQueue>(qv);
        (*q).lock.lock();
        let mut e = (*dm.at::<ListHead>(head)).next;
        while e != head {
            let vbv = e - off_list;
            let vb = dm.at::<VmapBlock>(vbv);
            let next = (*dm.at::<ListHead>(e)).next;
            (*vb).lock.lock();
            if (*vb).free < (1 << order) {
                (*vb).lock.unlock();
                e = next;
                continue;
            }
            let off = bits - (*vb).free;
            let vaddr = (*dm.at::<VmapArea>((*vb).va)).va_start + off * PAGE_SIZE;
            (*vb).free -= 1 << order;
            bitmap_set(vb_map(dm, vbv, bits), off, 1 << order);
            if (*vb).free == 0 {
                list_del_init(dm, e);
            }
            (*vb).lock.unlock();
            (*q).lock.unlock();
            return vaddr;
        }
        (*q).lock.unlock();
        new_vmap_block(k, cpu, dm, order, gfp)
    }
}

/// `vb_free`: unmap `size` bytes at `addr` in their block; free the block once every page
/// of it was used and unmapped. False (nothing changed) when no block holds those pages in
/// use: the kernel would corrupt the block's counts.
unsafe fn vb_free(k: &Kernel, cpu: u32, dm: &Dm, addr: u64, size: u64) -> bool {
    let order = get_order(size);
    let bits = k.vmalloc.vb_bits;
    let block = bits * PAGE_SIZE;
    let off = (addr & (block - 1)) >> PAGE_SHIFT;
    let Some(vbv) = k
        .vmalloc
        .vmap_blocks
        .lock()
        .get(&addr_to_vb_idx(&k.vmalloc, addr, block))
        .copied()
    else {
        return false;
    };
    // SAFETY: a block of ours, under its lock.
    unsafe {
        let vb = dm.at::<VmapBlock>(vbv);
        (*vb).lock.lock();
        let map = vb_map(dm, vbv, bits);
        let in_use = off + (1 << order) <= bits
            && (off..off + (1 << order)).all(|b| map[(b / 64) as usize] & (1 << (b % 64)) != 0);
        if !in_use {
            (*vb).lock.unlock();
            return false;
        }
        bitmap_clear(map, off, 1 << order);
        (*vb).lock.unlock();
        vunmap_range_noflush(k, cpu, dm, addr, addr + size);
        (*vb).lock.lock();
        let t = vb_tail(dm, vbv, bits);
        (*t).dirty_min = (*t).dirty_min.min(off);
        (*t).dirty_max = (*t).dirty_max.max(off + (1 << order));
        (*vb).dirty += 1 << order;
        if (*vb).dirty == bits {
            debug_assert_eq!((*vb).free, 0, "BUG_ON(vb->free)");
            (*vb).lock.unlock();
            free_vmap_block(k, cpu, dm, vbv);
        } else {
            (*vb).lock.unlock();
        }
        true
    }
}

/// `free_vmap_block`: drop the block from the index, its area from the busy tree (to the
/// lazy purge), and the block itself.
unsafe fn free_vmap_block(k: &Kernel, cpu: u32, dm: &Dm, vbv: u64) {
    let block = k.vmalloc.vb_bits * PAGE_SIZE;
    // SAFETY: a block no queue lists any more; the caller holds the CPU.
    unsafe {
        let vb = dm.at::<VmapBlock>(vbv);
        let va = dm.at::<VmapArea>((*vb).va);
        k.vmalloc
            .vmap_blocks
            .lock()
            .remove(&addr_to_vb_idx(&k.vmalloc, (*va).va_start, block));
        let vm = &k.vmalloc;
        vm.vmap_area_lock.lock();
        unlink_va(dm, va, &mut (*vm.st()).vmap_area_root, false);
        vm.vmap_area_lock.unlock();
        free_vmap_area_noflush(k, cpu, dm, va);
        kfree_quiet(k, cpu, vbv);
    }
}

/// `purge_fragmented_blocks_allcpus` (`purge_fragmented_blocks` of each CPU, forced): every
/// queued block whose pages are all free or unmapped (`free + dirty == VMAP_BBMAP_BITS`)
/// but not yet freed is taken off its queue and freed.
///
/// # Safety
/// The calling thread holds `cpu`.
unsafe fn purge_fragmented_blocks_allcpus(k: &Kernel, cpu: u32, dm: &Dm) {
    let bits = k.vmalloc.vb_bits;
    let off_list = vb_free_list_off(bits);
    let mut purge = Vec::new();
    for &qv in k.vmalloc.vbq.iter() {
        // SAFETY: each CPU's queue under its lock, each block under its own.
        unsafe {
            let q = dm.at::<VmapBlockQueue>(qv);
            (*q).lock.lock();
            let head = qv + 8;
            let mut e = (*dm.at::<ListHead>(head)).next;
            while e != head {
                let next = (*dm.at::<ListHead>(e)).next;
                let vbv = e - off_list;
                let vb = dm.at::<VmapBlock>(vbv);
                (*vb).lock.lock();
                if (*vb).free + (*vb).dirty == bits && (*vb).dirty != bits {
                    // purge_fragmented_block: no more allocations, not purged again.
                    (*vb).free = 0;
                    (*vb).dirty = bits;
                    let t = vb_tail(dm, vbv, bits);
                    (*t).dirty_min = 0;
                    (*t).dirty_max = bits;
                    list_del_init(dm, e);
                    purge.push(vbv);
                }
                (*vb).lock.unlock();
                e = next;
            }
            (*q).lock.unlock();
        }
    }
    for vbv in purge {
        // SAFETY: taken off every queue above.
        unsafe { free_vmap_block(k, cpu, dm, vbv) };
    }
}

/// mm/vmalloc.c `vm_unmap_aliases`: free the fragmented vmap_blocks and purge every lazily
/// freed area (`_vm_unmap_aliases(0, ULONG_MAX, 0)` with the purge it forces).
///
/// # Safety
/// The calling thread holds `cpu`.
pub(crate) unsafe fn vm_unmap_aliases_on(k: &Kernel, cpu: u32) {
    let Some(dm) = k.vmalloc.dm.filter(|_| k.vmalloc.initialized()) else {
        return;
    };
    // SAFETY: the caller holds the CPU.
    unsafe { reclaim_and_purge_vmap_areas(k, cpu, &dm) };
}

/// mm/vmalloc.c `vm_map_ram`: map `pfns` at a fresh address (from a vmap_block for up to
/// `VMAP_MAX_ALLOC` pages, else an area of its own). Returns the address, 0 on failure.
///
/// # Safety
/// The calling thread holds `cpu`.
pub(crate) unsafe fn vm_map_ram_on(
    k: &Kernel,
    cpu: u32,
    pfns: &[u64],
    node: i32,
) -> Result<u64, VmallocError> {
    let Some(dm) = k.vmalloc.dm.filter(|_| k.vmalloc.initialized()) else {
        return Err(VmallocError::NotInitialized);
    };
    let count = pfns.len() as u64;
    if count == 0 || pfns.iter().any(|&p| k.sparse.pfn_to_page(p).is_none()) {
        return Ok(0);
    }
    let size = count << PAGE_SHIFT;
    // SAFETY: the caller holds the CPU.
    unsafe {
        let addr = if count <= k.vmalloc.rules.vmap_max_alloc() {
            vb_alloc(k, cpu, &dm, size, GFP_KERNEL)
        } else {
            match alloc_vmap_area(
                k,
                cpu,
                size,
                PAGE_SIZE,
                k.vmalloc.start,
                k.vmalloc.end,
                node,
                GFP_KERNEL,
                VMAP_RAM,
            ) {
                Ok(va) => (*dm.at::<VmapArea>(va)).va_start,
                Err(_) => 0,
            }
        };
        if addr == 0 {
            return Ok(0);
        }
        if vmap_pages_range(
            k,
            cpu,
            &dm,
            addr,
            &mut |i| pfns[i],
            pfns.len(),
            k.vmalloc.page_kernel(),
        )
        .is_err()
        {
            vm_unmap_ram_on(k, cpu, addr, count);
            return Ok(0);
        }
        Ok(addr)
    }
}

/// mm/vmalloc.c `vm_unmap_ram`. The kernel BUG()s on an address outside the vmalloc range
/// or not page aligned; bootmm reports that and changes nothing. Returns whether it unmapped.
///
/// # Safety
/// The calling thread holds `cpu`.
pub(crate) unsafe fn vm_unmap_ram_on(k: &Kernel, cpu: u32, addr: u64, count: u64) -> bool {
    let Some(dm) = k.vmalloc.dm.filter(|_| k.vmalloc.initialized()) else {
        return false;
    };
    if addr == 0
        || !(k.vmalloc.start..=k.vmalloc.end).contains(&addr)
        || addr & (PAGE_SIZE - 1) != 0
    {
        crate::pr_emerg!(
            k.printk,
            "kernel BUG at {FILE}: vm_unmap_ram({addr:#x}, {count}): not a vm_map_ram address\n"
        );
        return false;
    }
    let size = count << PAGE_SHIFT;
    // SAFETY: the caller holds the CPU.
    unsafe {
        if count <= k.vmalloc.rules.vmap_max_alloc() {
            if !vb_free(k, cpu, &dm, addr, size) {
                crate::pr_emerg!(
                    k.printk,
                    "kernel BUG at {FILE}: vb_free({addr:#x}, {size:#x}): no vmap_block holds these pages in use (not mapped by vm_map_ram, or unmapped already)\n"
                );
                return false;
            }
            return true;
        }
        let va = find_unlink_vmap_area(k, &dm, addr);
        if va.is_null() {
            crate::pr_warn!(
                k.printk,
                "WARNING: CPU: {cpu} PID: 0 at {FILE} vm_unmap_ram: WARN_ON_ONCE(!va)\n"
            );
            return false;
        }
        vunmap_range_noflush(k, cpu, &dm, (*va).va_start, (*va).va_end);
        free_vmap_area_noflush(k, cpu, &dm, va);
        true
    }
}

/// mm/vmalloc.c `vrealloc` (6.12+): grow or shrink a vmalloc area, in place when the area's
/// pages cover the new size, else a new area with the contents copied. Returns the address
/// (0: NULL, the old area left as it was).
///
/// # Safety
/// The calling thread holds `cpu`.
pub(crate) unsafe fn vrealloc_on(
    k: &Kernel,
    cpu: u32,
    p: u64,
    size: u64,
    gfp: Gfp,
) -> Result<u64, VmallocError> {
    let Some(dm) = k.vmalloc.dm.filter(|_| k.vmalloc.initialized()) else {
        return Err(VmallocError::NotInitialized);
    };
    if p == 0 {
        // SAFETY: the caller holds the CPU.
        return unsafe { vmalloc_on(k, cpu, size, gfp, caller_id("vrealloc_test")) };
    }
    if size == 0 {
        // SAFETY: as above.
        unsafe { vfree_on(k, cpu, p) };
        return Ok(0);
    }
    // SAFETY: the busy tree under its lock; the caller holds the CPU.
    unsafe {
        k.vmalloc.vmap_area_lock.lock();
        let va = __find_vmap_area(&dm, (*k.vmalloc.st()).vmap_area_root, p);
        let vm = if va.is_null() { 0 } else { (*va).u };
        k.vmalloc.vmap_area_lock.unlock();
        if vm == 0 || (*dm.at::<VmStruct>(vm)).addr != p {
            warn(
                k,
                cpu,
                "vrealloc",
                &alloc::format!(
                    "Trying to vrealloc() nonexistent vm area (0x{p:0w$x})",
                    w = k.vmalloc.rules.ptr_digits()
                ),
            );
            return Ok(0);
        }
        let v = dm.at::<VmStruct>(vm);
        let alloced = get_vm_area_size(v);
        let old_size = alloced;
        if size <= alloced {
            // In place. The kernel zeroes what a shrink gives up only under init_on_free,
            // which bootmm does not model.
            return Ok(p);
        }
        let n = vmalloc_on(k, cpu, size, gfp, caller_id("vrealloc_test"))?;
        if n == 0 {
            return Ok(0);
        }
        copy_vmalloc(k, &dm, n, p, old_size.min(size));
        vfree_on(k, cpu, p);
        Ok(n)
    }
}

/// `memcpy` between vmalloc addresses.
fn copy_vmalloc(k: &Kernel, dm: &Dm, dst: u64, src: u64, len: u64) {
    let mut off = 0;
    while off < len {
        let n = (PAGE_SIZE - ((src + off) & (PAGE_SIZE - 1)))
            .min(PAGE_SIZE - ((dst + off) & (PAGE_SIZE - 1)))
            .min(len - off);
        let s = lookup_pa(k, src + off);
        let d = lookup_pa(k, dst + off);
        if let (Some((s, _)), Some((d, _))) = (s, d) {
            if let (Some(hs), Some(hd)) = (dm.pa_host(s, n), dm.pa_host(d, n)) {
                // SAFETY: `n` bytes of simulated RAM each, in different pages.
                unsafe { core::ptr::copy(hs, hd, n as usize) };
            }
        }
        off += n;
    }
}

/// `vmalloc(size)` / `vzalloc` (with `__GFP_ZERO`): `__vmalloc_node(size, 1, gfp,
/// NUMA_NO_NODE, caller)` over the whole vmalloc range.
///
/// # Safety
/// The calling thread holds `cpu`.
pub(crate) unsafe fn vmalloc_on(
    k: &Kernel,
    cpu: u32,
    size: u64,
    gfp: Gfp,
    caller: u64,
) -> Result<u64, VmallocError> {
    // SAFETY: the caller's contract.
    unsafe {
        __vmalloc_node_range(
            k,
            cpu,
            size,
            1,
            k.vmalloc.start,
            k.vmalloc.end,
            gfp,
            k.vmalloc.page_kernel(),
            0,
            NUMA_NO_NODE,
            caller,
        )
    }
}

// ----- Boot ----------------------------------------------------------------------------------------

/// mm/vmalloc.c `vmalloc_init`: the `vmap_area` cache, the per-CPU vmap_block queues and
/// preload slots, the early areas (none on x86 of either width: the percpu first chunk is
/// embedded in the direct map, and only `pcpu_page_first_chunk`, which bootmm does not
/// model, registers one with `vm_area_register_early`) and the free space
/// `[1, ULONG_MAX)` (`vmap_init_free_space`). On i386 the range is `high_memory +
/// VMALLOC_OFFSET` to `VMALLOC_END` (below pkmap, or the fixmap) and the tables are
/// `swapper_pg_dir`'s; an era whose i386 tables bootmm does not build (2.6's bootmem
/// kernels) leaves vmalloc down.
///
/// # Errors
/// The cache or a vmap_area could not be allocated (the kernel panics: SLAB_PANIC).
pub fn vmalloc_init(k: &mut Kernel) -> Result<(), String> {
    if k.slab.state() < crate::mm::slub::SlabState::Up {
        return Ok(());
    }
    let i386 = if k.era.is_64bit() {
        None
    } else {
        // The tables and the layout vmalloc maps into; without them vmalloc stays down and
        // every call says so (docs/divergences.md).
        let (Some(g), Some(l)) = (k.pt32.geom, crate::arch::x86::init_32::layout(k)) else {
            return Ok(());
        };
        Some((g, l))
    };
    let _t = k.trace.enter("vmalloc_init", FILE);
    k.vmalloc.rules = VmallocRules::new(&k.era);
    match i386 {
        None => {
            k.vmalloc.pgd = crate::arch::x86::init_64::init_top_pgt(k)?;
        }
        Some((g, l)) => {
            use crate::arch::x86::pgtable_32_types::{PAGE_OFFSET, VMALLOC_OFFSET};
            k.vmalloc.pgd = k.pt32.swapper_pg_dir;
            k.vmalloc.format = PtFormat::I386(g);
            // VMALLOC_START: (unsigned long)high_memory + VMALLOC_OFFSET.
            k.vmalloc.start = PAGE_OFFSET + (k.max_low_pfn << PAGE_SHIFT) + VMALLOC_OFFSET;
            k.vmalloc.end = l.vmalloc_end;
            let (mm_pa, first) = k.flatmem_node_mem_map.unwrap_or((0, 0));
            k.vmalloc.mem_map = Some((
                PAGE_OFFSET + mm_pa,
                first,
                k.machine.kernel_config().struct_page_size,
            ));
        }
    }
    let size = k.vmalloc.rules.vmap_area_size;
    let c = k
        .kmem_cache_create("vmap_area", size, 8, crate::mm::slab::SlabFlags::SLAB_PANIC)
        .map_err(|e| alloc::format!("vmalloc_init: kmem_cache_create(vmap_area): {e:?}"))?;
    k.vmalloc.vmap_area_cachep = Some(c);
    let dm = Dm::new(k).ok_or_else(|| String::from("vmalloc_init: simulated RAM is not backed"))?;
    k.vmalloc.dm = Some(dm);
    // The statics: at the start of the image's .bss when it is in simulated RAM, else a
    // kmalloc'ed block (docs/divergences.md). On i386 the .bss opens with the page-aligned
    // tables (head_32.S's, then bm_pte), and the ordinary .bss, mm/vmalloc.c's statics
    // among it, follows them.
    let bss = match i386 {
        None => Some(crate::include::addr::page_align(
            k.machine.image.layout().init_end,
        ))
        .filter(|_| k.direct_map.init_top_pgt != 0),
        Some(_) => crate::arch::x86::pgtable_32::bss_after_static_tables(k, STATICS_BYTES),
    };
    let statics = match bss.filter(|&b| k.phys.host_ptr(crate::PhysAddr(b), STATICS_BYTES).is_ok())
    {
        Some(b) => k.phys.va(crate::PhysAddr(b)).0,
        None => {
            let v = k
                .kmalloc(STATICS_BYTES, GFP_KERNEL | Gfp::__GFP_ZERO)
                .map_err(|e| alloc::format!("vmalloc_init: {e:?}"))?;
            if v == 0 {
                return Err(String::from("vmalloc_init: no memory for the statics"));
            }
            v
        }
    };
    k.vmalloc.statics = statics;
    let nr = k.cpus.nr_cpu_ids() as usize;
    k.vmalloc.ne_fit_preload_node = (0..nr).map(|_| AtomicU64::new(0)).collect();
    k.vmalloc.vb_bits = vmap_bbmap_bits(&k.vmalloc.rules, k.machine.nr_cpus);
    // The per-CPU vmap_block queues: static per-CPU variables in the kernel, here from the
    // percpu allocator (docs/divergences.md).
    let mut vbq = Vec::with_capacity(nr);
    let q = crate::mm::percpu::__alloc_percpu(k, core::mem::size_of::<VmapBlockQueue>() as u64, 8);
    for cpu in 0..nr as u32 {
        let pa = q
            .and_then(|q| crate::mm::percpu::per_cpu_ptr(k, q, cpu))
            .ok_or_else(|| String::from("vmalloc_init: no per-CPU memory for vmap_block_queue"))?;
        vbq.push(k.phys.va(pa).0);
    }
    k.vmalloc.vbq = vbq.into_boxed_slice();
    let cpu = k.cpus.current();
    // SAFETY: the statics and queues were just placed in simulated RAM; the kernel is held
    // exclusively, so its current CPU is ours.
    unsafe {
        let st = dm.at::<Statics>(statics);
        core::ptr::write_bytes(st.cast::<u8>(), 0, STATICS_BYTES as usize);
        list_init(&dm, statics + FREE_LIST_OFF);
        list_init(&dm, statics + BUSY_LIST_OFF);
        list_init(&dm, statics + PURGE_LIST_OFF);
        for &q in k.vmalloc.vbq.iter() {
            let p = dm.at::<VmapBlockQueue>(q);
            core::ptr::write(&raw mut (*p).lock, RawSpinlock::new());
            list_init(&dm, q + 8);
        }
        // vmap_init_free_space: no early areas, so one block [1, ULONG_MAX).
        let ulong_max = k.vmalloc.rules.ulong_max();
        let kr: &Kernel = k;
        let free = va_alloc(kr, cpu, GFP_NOWAIT | Gfp::__GFP_ZERO, NUMA_NO_NODE);
        if free == 0 {
            return Err(String::from(
                "vmalloc_init: no vmap_area for the free space",
            ));
        }
        let p = dm.at::<VmapArea>(free);
        (*p).va_start = 1;
        (*p).va_end = ulong_max;
        insert_vmap_area(
            kr,
            &dm,
            p,
            &mut (*st).free_vmap_area_root,
            statics + FREE_LIST_OFF,
            0,
            true,
        );
    }
    k.vmalloc.initialized.store(true, Ordering::Release);
    Ok(())
}

// ----- Views ---------------------------------------------------------------------------------------

/// One busy area as vmallocinfo shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmInfo {
    pub start: u64,
    pub end: u64,
    pub size: u64,
    pub caller: Option<&'static str>,
    pub nr_pages: u32,
    pub flags: u64,
    /// A `vm_map_ram` area (no vm_struct).
    pub vm_map_ram: bool,
    /// Pages per node.
    pub nodes: Vec<(u32, u32)>,
    /// The page array is itself vmalloc memory.
    pub vpages: bool,
}

/// The busy areas in address order, and the lazily freed ones ("unpurged vm_area").
pub fn vmap_areas(k: &Kernel) -> (Vec<VmInfo>, Vec<(u64, u64)>) {
    let vm = &k.vmalloc;
    let (mut busy, mut purge) = (Vec::new(), Vec::new());
    let Some(dm) = vm.dm.filter(|_| vm.initialized()) else {
        return (busy, purge);
    };
    vm.vmap_area_lock.lock();
    // SAFETY: the busy list under vmap_area_lock.
    unsafe {
        let head = vm.busy_head();
        let mut e = (*dm.at::<ListHead>(head)).next;
        while e != head {
            let va = dm.at::<VmapArea>(e - LIST_OFF);
            let (s, en) = ((*va).va_start, (*va).va_end);
            if (*va).u == 0 {
                // Before 6.3 (no flags) every area without a vm_struct printed as vm_map_ram.
                if vm.rules.vmap_area_size == 64 || (*va).flags & VMAP_RAM != 0 {
                    busy.push(VmInfo {
                        start: s,
                        end: en,
                        size: en - s,
                        caller: None,
                        nr_pages: 0,
                        flags: 0,
                        vm_map_ram: true,
                        nodes: Vec::new(),
                        vpages: false,
                    });
                }
            } else {
                let v = dm.at::<VmStruct>((*va).u);
                if (*v).flags & VM_UNINITIALIZED == 0 {
                    let mut nodes: BTreeMap<u32, u32> = BTreeMap::new();
                    if (*v).flags & VM_ALLOC != 0 {
                        for i in 0..u64::from((*v).nr_pages) {
                            if let Some(pfn) =
                                k.vmalloc.pfn_of_page_ptr(array_get(k, &dm, (*v).pages, i))
                            {
                                if let Some(pg) = k.sparse.pfn_to_page(pfn) {
                                    let nid = crate::include::mm_types::page_to_nid(pg.as_ref());
                                    *nodes.entry(nid).or_default() += 1;
                                }
                            }
                        }
                    }
                    busy.push(VmInfo {
                        start: (*v).addr,
                        end: (*v).addr + (*v).size,
                        size: (*v).size,
                        caller: CALLERS.get((*v).caller as usize).copied(),
                        nr_pages: (*v).nr_pages,
                        flags: (*v).flags,
                        vm_map_ram: false,
                        nodes: nodes.into_iter().collect(),
                        vpages: (*v).pages != 0 && dm.host((*v).pages, 8).is_none(),
                    });
                }
            }
            e = (*dm.at::<ListHead>(e)).next;
        }
    }
    vm.vmap_area_lock.unlock();
    vm.purge_vmap_area_lock.lock();
    // SAFETY: the purge list under its lock.
    unsafe {
        let head = vm.purge_head();
        let mut e = (*dm.at::<ListHead>(head)).next;
        while e != head {
            let va = dm.at::<VmapArea>(e - LIST_OFF);
            purge.push(((*va).va_start, (*va).va_end));
            e = (*dm.at::<ListHead>(e)).next;
        }
    }
    vm.purge_vmap_area_lock.unlock();
    (busy, purge)
}

/// `/proc/vmallocinfo` (mm/vmalloc.c `s_show` and `show_purge_info`). Addresses print in
/// full, as with `no_hash_pointers` (the kernel hashes `%pK` otherwise); callers print
/// their function name without the `+off/size` of `%pS`.
pub fn vmallocinfo(k: &Kernel) -> String {
    let (busy, purge) = vmap_areas(k);
    // `%pK`: 16 hex digits on 64-bit, 8 on 32-bit.
    let w = k.vmalloc.rules.ptr_digits();
    let mut s = String::new();
    for v in &busy {
        if v.vm_map_ram {
            let _ = writeln!(
                s,
                "0x{:0w$x}-0x{:0w$x} {:7} vm_map_ram",
                v.start, v.end, v.size
            );
            continue;
        }
        let _ = write!(s, "0x{:0w$x}-0x{:0w$x} {:7}", v.start, v.end, v.size);
        if let Some(c) = v.caller {
            let _ = write!(s, " {c}");
        }
        if v.nr_pages != 0 {
            let _ = write!(s, " pages={}", v.nr_pages);
        }
        for (bit, name) in [
            (VM_IOREMAP, " ioremap"),
            (VM_ALLOC, " vmalloc"),
            (VM_MAP, " vmap"),
            (VM_USERMAP, " user"),
            (VM_DMA_COHERENT, " dma-coherent"),
        ] {
            if v.flags & bit != 0 {
                s.push_str(name);
            }
        }
        if v.vpages {
            s.push_str(" vpages");
        }
        for (n, c) in &v.nodes {
            let _ = write!(s, " N{n}={c}");
        }
        s.push('\n');
    }
    for (a, b) in purge {
        let _ = writeln!(s, "0x{a:0w$x}-0x{b:0w$x} {:7} unpurged vm_area", b - a);
    }
    s
}

/// The free tree's blocks in address order (`[start, end)`), with a check of the tree:
/// red-black rules, `subtree_max_size` of every node, and the list in the same order.
///
/// # Errors
/// What is inconsistent.
pub fn free_blocks(k: &Kernel) -> Result<Vec<(u64, u64)>, String> {
    let vm = &k.vmalloc;
    let Some(dm) = vm.dm.filter(|_| vm.initialized()) else {
        return Ok(Vec::new());
    };
    vm.free_vmap_area_lock.lock();
    // SAFETY: the free tree under its lock.
    let r = unsafe {
        let st = vm.st();
        let root = (*st).free_vmap_area_root;
        let mut out = Vec::new();
        let check = rbtree::rb_check(&dm, root);
        let mut n = rbtree::rb_first(&dm, root);
        let aug = FreeAug(dm);
        let mut bad = None;
        while n != 0 {
            let va = va_of_rb(&dm, n);
            let want = ((*va).va_end - (*va).va_start)
                .max(aug.sub((*va).rb_node.left))
                .max(aug.sub((*va).rb_node.right));
            if (*va).u != want && bad.is_none() {
                bad = Some(alloc::format!(
                    "free area {:#x}-{:#x}: subtree_max_size {:#x}, expected {want:#x}",
                    (*va).va_start,
                    (*va).va_end,
                    (*va).u
                ));
            }
            out.push(((*va).va_start, (*va).va_end));
            n = rbtree::rb_next(&dm, n);
        }
        let mut listed = Vec::new();
        let head = vm.free_head();
        let mut e = (*dm.at::<ListHead>(head)).next;
        while e != head && listed.len() <= out.len() {
            let va = dm.at::<VmapArea>(e - LIST_OFF);
            listed.push(((*va).va_start, (*va).va_end));
            e = (*dm.at::<ListHead>(e)).next;
        }
        match (check, bad) {
            (Err(e), _) => Err(e),
            (_, Some(b)) => Err(b),
            _ if listed != out => Err(String::from("the free list and the free tree disagree")),
            _ => Ok(out),
        }
    };
    vm.free_vmap_area_lock.unlock();
    r
}

/// `vmalloc_nr_pages()`: pages vmalloc holds (meminfo's VmallocUsed, in pages).
pub fn vmalloc_nr_pages(k: &Kernel) -> u64 {
    k.vmalloc.nr_vmalloc_pages.load(Ordering::Relaxed)
}

/// `purge_vmap_area_lazy` from outside the allocator (a script's `purge`): every lazily
/// freed area back into the free tree.
///
/// # Safety
/// The calling thread holds `cpu`.
pub(crate) unsafe fn purge_vmap_area_lazy_on(k: &Kernel, cpu: u32) {
    let Some(dm) = k.vmalloc.dm.filter(|_| k.vmalloc.initialized()) else {
        return;
    };
    k.vmalloc.vmap_purge_lock.lock();
    // SAFETY: the caller holds the CPU; we hold vmap_purge_lock.
    unsafe { __purge_vmap_area_lazy(k, cpu, &dm) };
    k.vmalloc.vmap_purge_lock.unlock();
}

/// Whether `addr` lies inside the vmalloc range (`is_vmalloc_addr`).
pub fn is_vmalloc_addr(k: &Kernel, addr: u64) -> bool {
    (k.vmalloc.start..k.vmalloc.end).contains(&addr)
}

// ----- Entry points --------------------------------------------------------------------------------

/// `__vmalloc_node(size, align, gfp, node, caller)`'s arguments.
#[derive(Clone, Copy, Debug)]
pub struct VmallocArgs {
    pub size: u64,
    pub align: u64,
    pub gfp: Gfp,
    pub node: i32,
    /// The function named as the caller in /proc/vmallocinfo (see [`CALLERS`]).
    pub caller: &'static str,
}

impl VmallocArgs {
    /// `vmalloc(size)`: GFP_KERNEL, no alignment beyond a page, any node.
    pub fn vmalloc(size: u64) -> Self {
        VmallocArgs {
            size,
            align: 1,
            gfp: GFP_KERNEL,
            node: NUMA_NO_NODE,
            caller: "vmalloc",
        }
    }

    /// `vzalloc(size)`.
    pub fn vzalloc(size: u64) -> Self {
        VmallocArgs {
            gfp: GFP_KERNEL | Gfp::__GFP_ZERO,
            caller: "vzalloc",
            ..Self::vmalloc(size)
        }
    }
}

/// The calls, on a CPU the caller holds.
///
/// # Safety
/// The calling thread holds `cpu` (a [`crate::kernel::smp::Cpu`] handle, or `&mut Kernel`).
unsafe fn node_on(k: &Kernel, cpu: u32, a: VmallocArgs) -> Result<u64, VmallocError> {
    // SAFETY: the caller's contract.
    unsafe {
        __vmalloc_node_range(
            k,
            cpu,
            a.size,
            a.align,
            k.vmalloc.start,
            k.vmalloc.end,
            a.gfp,
            k.vmalloc.page_kernel(),
            0,
            a.node,
            caller_id(a.caller),
        )
    }
}

impl Kernel {
    /// `__vmalloc_node(size, align, gfp, node, caller)` on the current CPU (`vmalloc`,
    /// `vzalloc`, `vmalloc_node` through [`VmallocArgs`]): the address, or 0 (NULL) with the
    /// kernel's warnings.
    ///
    /// # Errors
    /// [`VmallocError::NotInitialized`] before `vmalloc_init`.
    pub fn __vmalloc_node(&mut self, a: VmallocArgs) -> Result<u64, VmallocError> {
        let cpu = self.cpus.current();
        // SAFETY: the kernel is held exclusively, so its current CPU is ours.
        unsafe { node_on(self, cpu, a) }
    }

    /// `vmalloc(size)`.
    ///
    /// # Errors
    /// As [`Kernel::__vmalloc_node`].
    pub fn vmalloc(&mut self, size: u64) -> Result<u64, VmallocError> {
        self.__vmalloc_node(VmallocArgs::vmalloc(size))
    }

    /// `vzalloc(size)`.
    ///
    /// # Errors
    /// As [`Kernel::__vmalloc_node`].
    pub fn vzalloc(&mut self, size: u64) -> Result<u64, VmallocError> {
        self.__vmalloc_node(VmallocArgs::vzalloc(size))
    }

    /// `vfree(addr)`: see [`VfreeResult`] for how it ended (the kernel's warnings are logged).
    pub fn vfree(&mut self, addr: u64) -> VfreeResult {
        let cpu = self.cpus.current();
        // SAFETY: as in `__vmalloc_node`.
        unsafe { vfree_on(self, cpu, addr) }
    }

    /// `vmap(pages, count, flags, PAGE_KERNEL)` of the pages with these pfns.
    ///
    /// # Errors
    /// As [`Kernel::__vmalloc_node`].
    pub fn vmap(&mut self, pfns: &[u64], flags: u64) -> Result<u64, VmallocError> {
        let cpu = self.cpus.current();
        // SAFETY: as in `__vmalloc_node`.
        unsafe { vmap_on(self, cpu, pfns, flags, self.vmalloc.page_kernel()) }
    }

    /// `vunmap(addr)`.
    pub fn vunmap(&mut self, addr: u64) -> VfreeResult {
        let cpu = self.cpus.current();
        // SAFETY: as in `__vmalloc_node`.
        unsafe { vunmap_on(self, cpu, addr) }
    }

    /// `vm_map_ram(pages, count, node)`.
    ///
    /// # Errors
    /// As [`Kernel::__vmalloc_node`].
    pub fn vm_map_ram(&mut self, pfns: &[u64], node: i32) -> Result<u64, VmallocError> {
        let cpu = self.cpus.current();
        // SAFETY: as in `__vmalloc_node`.
        unsafe { vm_map_ram_on(self, cpu, pfns, node) }
    }

    /// `vm_unmap_ram(mem, count)`: whether it unmapped (the kernel BUG()s otherwise).
    pub fn vm_unmap_ram(&mut self, addr: u64, count: u64) -> bool {
        let cpu = self.cpus.current();
        // SAFETY: as in `__vmalloc_node`.
        unsafe { vm_unmap_ram_on(self, cpu, addr, count) }
    }

    /// `vrealloc(p, size, gfp)`.
    ///
    /// # Errors
    /// As [`Kernel::__vmalloc_node`].
    pub fn vrealloc(&mut self, p: u64, size: u64, gfp: Gfp) -> Result<u64, VmallocError> {
        let cpu = self.cpus.current();
        // SAFETY: as in `__vmalloc_node`.
        unsafe { vrealloc_on(self, cpu, p, size, gfp) }
    }

    /// `purge_vmap_area_lazy()`: every lazily freed area back into the free tree.
    pub fn purge_vmap_area_lazy(&mut self) {
        let cpu = self.cpus.current();
        // SAFETY: as in `__vmalloc_node`.
        unsafe { purge_vmap_area_lazy_on(self, cpu) }
    }

    /// `vm_unmap_aliases()`: the fragmented vmap_blocks freed, then the lazy purge.
    pub fn vm_unmap_aliases(&mut self) {
        let cpu = self.cpus.current();
        // SAFETY: as in `__vmalloc_node`.
        unsafe { vm_unmap_aliases_on(self, cpu) }
    }
}

impl crate::kernel::smp::Cpu<'_> {
    /// `__vmalloc_node` on this CPU.
    ///
    /// # Errors
    /// As [`Kernel::__vmalloc_node`].
    #[inline]
    pub fn __vmalloc_node(&self, a: VmallocArgs) -> Result<u64, VmallocError> {
        // SAFETY: this handle holds the CPU.
        unsafe { node_on(self.kernel(), self.id(), a) }
    }

    /// `vmalloc(size)` on this CPU.
    ///
    /// # Errors
    /// As [`Kernel::__vmalloc_node`].
    #[inline]
    pub fn vmalloc(&self, size: u64) -> Result<u64, VmallocError> {
        self.__vmalloc_node(VmallocArgs::vmalloc(size))
    }

    /// `vzalloc(size)` on this CPU.
    ///
    /// # Errors
    /// As [`Kernel::__vmalloc_node`].
    pub fn vzalloc(&self, size: u64) -> Result<u64, VmallocError> {
        self.__vmalloc_node(VmallocArgs::vzalloc(size))
    }

    /// `vfree(addr)` on this CPU.
    #[inline]
    pub fn vfree(&self, addr: u64) -> VfreeResult {
        // SAFETY: this handle holds the CPU.
        unsafe { vfree_on(self.kernel(), self.id(), addr) }
    }

    /// `vmap` on this CPU.
    ///
    /// # Errors
    /// As [`Kernel::__vmalloc_node`].
    pub fn vmap(&self, pfns: &[u64], flags: u64) -> Result<u64, VmallocError> {
        // SAFETY: this handle holds the CPU.
        unsafe {
            let k = self.kernel();
            vmap_on(k, self.id(), pfns, flags, k.vmalloc.page_kernel())
        }
    }

    /// `vunmap` on this CPU.
    pub fn vunmap(&self, addr: u64) -> VfreeResult {
        // SAFETY: this handle holds the CPU.
        unsafe { vunmap_on(self.kernel(), self.id(), addr) }
    }

    /// `vm_map_ram` on this CPU.
    ///
    /// # Errors
    /// As [`Kernel::__vmalloc_node`].
    pub fn vm_map_ram(&self, pfns: &[u64], node: i32) -> Result<u64, VmallocError> {
        // SAFETY: this handle holds the CPU.
        unsafe { vm_map_ram_on(self.kernel(), self.id(), pfns, node) }
    }

    /// `vm_unmap_ram` on this CPU.
    pub fn vm_unmap_ram(&self, addr: u64, count: u64) -> bool {
        // SAFETY: this handle holds the CPU.
        unsafe { vm_unmap_ram_on(self.kernel(), self.id(), addr, count) }
    }

    /// `vrealloc` on this CPU.
    ///
    /// # Errors
    /// As [`Kernel::__vmalloc_node`].
    pub fn vrealloc(&self, p: u64, size: u64, gfp: Gfp) -> Result<u64, VmallocError> {
        // SAFETY: this handle holds the CPU.
        unsafe { vrealloc_on(self.kernel(), self.id(), p, size, gfp) }
    }

    /// `purge_vmap_area_lazy()` on this CPU.
    pub fn purge_vmap_area_lazy(&self) {
        // SAFETY: this handle holds the CPU.
        unsafe { purge_vmap_area_lazy_on(self.kernel(), self.id()) }
    }

    /// `vm_unmap_aliases()` on this CPU.
    pub fn vm_unmap_aliases(&self) {
        // SAFETY: this handle holds the CPU.
        unsafe { vm_unmap_aliases_on(self.kernel(), self.id()) }
    }
}

/// Read or write simulated memory through a kernel virtual address of any mapping (the
/// direct map or vmalloc): the physical address the walker names, if the `len` bytes lie in
/// one mapped page.
pub fn virt_to_phys_walk(k: &Kernel, va: u64, len: u64) -> Option<crate::PhysAddr> {
    let (pa, size) = if k.era.is_64bit() {
        let w = crate::arch::x86::set_memory::lookup_address(k, va);
        (w.pa?, w.level.size())
    } else {
        let w = crate::arch::x86::pgtable_32::lookup_address_32(k, va)?;
        (w.walk.pa?, w.size)
    };
    (size != 0 && (va & (size - 1)) + len <= size).then_some(pa)
}

/// What `find_vm_area(addr)` finds: a live area's vm_struct, with the pfns of its
/// `pages[]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmArea {
    pub addr: u64,
    /// With the guard page.
    pub size: u64,
    pub flags: u64,
    pub caller: Option<&'static str>,
    /// The pfns in `pages[]`, in order.
    pub pfns: Vec<u64>,
}

/// mm/vmalloc.c `find_vm_area`: the area holding `addr`, if it has a vm_struct.
pub fn find_vm_area(k: &Kernel, addr: u64) -> Option<VmArea> {
    let vm = &k.vmalloc;
    let dm = vm.dm.filter(|_| vm.initialized())?;
    vm.vmap_area_lock.lock();
    // SAFETY: the busy tree under vmap_area_lock; a vm_struct it links is live.
    let r = unsafe {
        let va = __find_vmap_area(&dm, (*vm.st()).vmap_area_root, addr);
        if va.is_null() || (*va).u == 0 {
            None
        } else {
            let v = dm.at::<VmStruct>((*va).u);
            let pfns = if (*v).pages == 0 {
                Vec::new()
            } else {
                (0..u64::from((*v).nr_pages))
                    .map(|i| {
                        k.vmalloc
                            .pfn_of_page_ptr(array_get(k, &dm, (*v).pages, i))
                            .unwrap_or(u64::MAX)
                    })
                    .collect()
            };
            Some(VmArea {
                addr: (*v).addr,
                size: (*v).size,
                flags: (*v).flags,
                caller: CALLERS.get((*v).caller as usize).copied(),
                pfns,
            })
        }
    };
    vm.vmap_area_lock.unlock();
    r
}

/// What of vmalloc's own structures `[pa, pa + len)` holds, if any: a `vmap_area` slab, a
/// live `vmap_block`, or the statics (tree roots and list heads). bootmm follows their links
/// without checking each one (they are the allocator's own), so a script may not write there.
pub fn metadata_at(k: &Kernel, pa: u64, len: u64) -> Option<&'static str> {
    let vm = &k.vmalloc;
    let dm = vm.dm.filter(|_| vm.initialized())?;
    let va = pa.wrapping_add(dm.page_offset);
    let end = va.saturating_add(len);
    let overlaps = |b: u64, e: u64| va < e && b < end;
    if overlaps(vm.statics, vm.statics + STATICS_BYTES) {
        return Some("the vmalloc allocator's tree roots and list heads");
    }
    let size = vmap_block_size(vm.vb_bits);
    if vm
        .vmap_blocks
        .lock()
        .values()
        .any(|&b| overlaps(b, b + size))
    {
        return Some("a struct vmap_block");
    }
    let c = vm.vmap_area_cachep?;
    let first = va & !(PAGE_SIZE - 1);
    let pages = (end - first).div_ceil(PAGE_SIZE).min(1 << 20);
    for i in 0..pages {
        if let a::Owner::Slab(s, _) = a::virt_to_owner(k, first + i * PAGE_SIZE) {
            if s == c.as_ptr() {
                return Some("a slab of struct vmap_area");
            }
        }
    }
    None
}

/// `vmap_initialized`.
pub fn vmap_initialized(k: &Kernel) -> bool {
    k.vmalloc.initialized()
}

/// The largest free block inside `[VMALLOC_START, VMALLOC_END]`, in bytes (the old
/// `get_vmalloc_info`'s `largest_chunk`).
pub fn largest_free_block(k: &Kernel) -> u64 {
    free_blocks(k)
        .unwrap_or_default()
        .into_iter()
        .map(|(s, e)| {
            let (s, e) = (s.max(k.vmalloc.start), e.min(k.vmalloc.end_exclusive()));
            e.saturating_sub(s)
        })
        .max()
        .unwrap_or(0)
}

// ----- For the percpu allocator's chunks (mm/percpu-vm.c) -------------------------------------------

/// mm/vmalloc.c `pcpu_get_vm_areas`: one area per group, at `base + offsets[i]` of
/// `sizes[i]` bytes, `base` aligned to `align`, as high in the vmalloc range as they all fit
/// (the kernel searches top-down so that percpu chunks stay away from ordinary vmalloc
/// areas, which grow from the bottom). No guard pages. Returns `base` and each area's
/// vm_struct, or `None` when they do not fit even after a purge.
///
/// # Safety
/// The calling thread holds `cpu`.
pub(crate) unsafe fn pcpu_get_vm_areas(
    k: &Kernel,
    cpu: u32,
    offsets: &[u64],
    sizes: &[u64],
    align: u64,
) -> Option<(u64, Vec<u64>)> {
    let vm = &k.vmalloc;
    let dm = vm.dm.filter(|_| vm.initialized())?;
    let n = offsets.len();
    if n == 0 || n != sizes.len() || !align.is_power_of_two() {
        return None;
    }
    let last_end = offsets.iter().zip(sizes).map(|(o, s)| o + s).max()?;
    // SAFETY: the caller holds the CPU; the trees are under their locks.
    unsafe {
        let mut vas = Vec::with_capacity(n);
        let mut vms = Vec::with_capacity(n);
        for _ in 0..n {
            let va = va_alloc(k, cpu, GFP_KERNEL | Gfp::__GFP_ZERO, NUMA_NO_NODE);
            let v = kmalloc_on(k, cpu, 64, GFP_KERNEL | Gfp::__GFP_ZERO, NUMA_NO_NODE);
            vas.push(va);
            vms.push(v);
        }
        let give_back = |vas: &[u64], vms: &[u64]| {
            for &v in vas.iter().filter(|&&v| v != 0) {
                va_free(k, cpu, v);
            }
            for &v in vms.iter().filter(|&&v| v != 0) {
                kfree_quiet(k, cpu, v);
            }
        };
        if vas.contains(&0) || vms.contains(&0) {
            give_back(&vas, &vms);
            return None;
        }
        let mut purged = false;
        let base = loop {
            vm.free_vmap_area_lock.lock();
            let st = vm.st();
            let mut blocks = Vec::new();
            let mut r = rbtree::rb_first(&dm, (*st).free_vmap_area_root);
            while r != 0 {
                let va = va_of_rb(&dm, r);
                blocks.push(((*va).va_start, (*va).va_end));
                r = rbtree::rb_next(&dm, r);
            }
            let vmalloc_end = vm.end_exclusive() & !(align - 1);
            let mut base = vmalloc_end.checked_sub(last_end).map(|b| b & !(align - 1));
            let fits = |s: u64, e: u64| blocks.iter().find(|b| b.0 <= s && e <= b.1);
            while let Some(b) = base.filter(|&b| b >= vm.start) {
                let bad =
                    (0..n).find(|&i| fits(b + offsets[i], b + offsets[i] + sizes[i]).is_none());
                let Some(i) = bad else { break };
                // pvm_determine_end_from_reverse: the highest free block starting below the
                // area's end; move the base down so that the area ends inside it.
                let e = b + offsets[i] + sizes[i];
                let below = blocks.iter().rev().find(|blk| blk.0 < e).copied();
                base = match below {
                    Some(blk) => {
                        let end = blk.1.min(e);
                        let nb = end
                            .checked_sub(offsets[i] + sizes[i])
                            .map(|x| x & !(align - 1));
                        nb.map(|nb| if nb >= b { b.saturating_sub(align) } else { nb })
                    }
                    None => None,
                };
            }
            match base.filter(|&b| b >= vm.start) {
                Some(b) => {
                    // Carve each area out of the free block that holds it.
                    for i in 0..n {
                        let (s, size) = (b + offsets[i], sizes[i]);
                        let mut node = (*st).free_vmap_area_root;
                        let mut hit = core::ptr::null_mut();
                        while node != 0 {
                            let va = va_of_rb(&dm, node);
                            if s < (*va).va_start {
                                node = (*va).rb_node.left;
                            } else if s >= (*va).va_end {
                                node = (*va).rb_node.right;
                            } else {
                                hit = va;
                                break;
                            }
                        }
                        let ok =
                            !hit.is_null() && adjust_va_to_fit_type(k, cpu, &dm, st, hit, s, size);
                        debug_assert!(ok, "pcpu_get_vm_areas: {s:#x} was checked free");
                    }
                    vm.free_vmap_area_lock.unlock();
                    break b;
                }
                None => {
                    vm.free_vmap_area_lock.unlock();
                    if purged {
                        give_back(&vas, &vms);
                        return None;
                    }
                    reclaim_and_purge_vmap_areas(k, cpu, &dm);
                    purged = true;
                }
            }
        };
        // Insert the areas into the busy tree and set their vm_structs up.
        vm.vmap_area_lock.lock();
        for i in 0..n {
            let p = dm.at::<VmapArea>(vas[i]);
            (*p).va_start = base + offsets[i];
            (*p).va_end = base + offsets[i] + sizes[i];
            (*p).u = vms[i];
            insert_busy(k, &dm, p);
            let v = dm.at::<VmStruct>(vms[i]);
            (*v).flags = VM_ALLOC | VM_NO_GUARD;
            (*v).addr = base + offsets[i];
            (*v).size = sizes[i];
            (*v).caller = caller_id("pcpu_get_vm_areas");
        }
        vm.vmap_area_lock.unlock();
        Some((base, vms))
    }
}

/// mm/vmalloc.c `pcpu_free_vm_areas`: `free_vm_area` of each (the pages were unmapped and
/// freed by the percpu allocator before).
///
/// # Safety
/// The calling thread holds `cpu`; `vms` came from [`pcpu_get_vm_areas`].
pub(crate) unsafe fn pcpu_free_vm_areas(k: &Kernel, cpu: u32, vms: &[u64]) {
    let Some(dm) = k.vmalloc.dm else { return };
    for &v in vms {
        // SAFETY: the caller's contract.
        unsafe { free_vm_area(k, cpu, &dm, v) };
    }
}

/// Map the pages `pfns` at `addr` with PAGE_KERNEL (`__pcpu_map_pages`:
/// `vmap_pages_range_noflush`). False without memory for a table, or over a PTE in use.
///
/// # Safety
/// The calling thread holds `cpu`.
pub(crate) unsafe fn map_kernel_pages(k: &Kernel, cpu: u32, addr: u64, pfns: &[u64]) -> bool {
    let Some(dm) = k.vmalloc.dm else { return false };
    // SAFETY: the caller's contract.
    unsafe {
        vmap_pages_range(
            k,
            cpu,
            &dm,
            addr,
            &mut |i| pfns[i],
            pfns.len(),
            k.vmalloc.page_kernel(),
        )
        .is_ok()
    }
}

/// Clear the PTEs of `[addr, end)` (`__pcpu_unmap_pages`: `vunmap_range_noflush`).
///
/// # Safety
/// The calling thread holds `cpu`.
pub(crate) unsafe fn unmap_kernel_range(k: &Kernel, cpu: u32, addr: u64, end: u64) {
    let Some(dm) = k.vmalloc.dm else { return };
    // SAFETY: the caller's contract.
    unsafe { vunmap_range_noflush(k, cpu, &dm, addr, end) }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::arch::x86::pgtable_32::tests::{boot as boot_i386, CASES};
    use crate::arch::x86::pgtable_32::{lookup_address_32, page_table_of, read_entry};
    use crate::arch::x86::pgtable_32_types::{PAGE_OFFSET, VMALLOC_OFFSET};
    use crate::include::PhysAddr;

    /// vmalloc on i386: the range follows the layout, each page's PTE is in a lowmem page
    /// table hooked into swapper_pg_dir in the era's entry format, a value written through
    /// the physical page the walk names is what the vmalloc address holds, and vfree
    /// clears the PTEs.
    #[test]
    fn i386_vmalloc_maps_into_swapper_pg_dir_and_vfree_clears_it() {
        for (v, pae) in CASES {
            let mut k = boot_i386(v, pae, 2 << 30);
            assert!(k.vmalloc.initialized(), "{v:?} {pae}");
            let l = crate::arch::x86::init_32::layout(&k).unwrap();
            let start = PAGE_OFFSET + (k.max_low_pfn << 12) + VMALLOC_OFFSET;
            assert_eq!((k.vmalloc.start, k.vmalloc.end), (start, l.vmalloc_end));
            let g = k.pt32.geom.unwrap();
            let pgd_e = k.pt32.swapper_pg_dir + (start >> g.pgdir_shift()) * g.entry_size();
            let before = read_entry(&k.phys, g, pgd_e);
            let a = k.vmalloc(3 * PAGE_SIZE).unwrap();
            assert!(a >= start && a + 4 * PAGE_SIZE <= l.vmalloc_end, "{a:#x}");
            if !pae {
                // pmd_populate_kernel into the kernel's PGD entry itself.
                assert_eq!(before, 0, "no table under the vmalloc range at boot");
                assert_ne!(read_entry(&k.phys, g, pgd_e) & 1, 0);
            }
            let area = find_vm_area(&k, a).unwrap();
            assert_eq!(area.pfns.len(), 3);
            for (i, &pfn) in area.pfns.iter().enumerate() {
                let va = a + i as u64 * PAGE_SIZE;
                let w = lookup_address_32(&k, va).unwrap();
                assert_eq!(w.walk.pa, Some(PhysAddr(pfn << 12)), "{w}");
                assert_eq!(w.walk.entry & 0xfff, 0x163, "{w}");
                assert_eq!(w.walk.entry >> 63 == 1, pae, "NX only with PAE: {w}");
                assert!(pae || w.walk.entry >> 32 == 0, "4-byte entry: {w}");
                let pt = page_table_of(&k, va).unwrap();
                assert!(
                    pt < k.max_low_pfn << 12,
                    "the page table is lowmem: {pt:#x}"
                );
                // Write through the physical page, read through the vmalloc address.
                k.phys
                    .write_u64(PhysAddr((pfn << 12) + 8), 0x1122_3344_5566_7788 + i as u64)
                    .unwrap();
                let pa = virt_to_phys_walk(&k, va + 8, 8).unwrap();
                assert_eq!(
                    k.phys.read_u64(pa).unwrap(),
                    0x1122_3344_5566_7788 + i as u64
                );
            }
            assert_eq!(k.vfree(a), VfreeResult::Freed);
            for i in 0..4 {
                let w = lookup_address_32(&k, a + i * PAGE_SIZE).unwrap();
                assert_eq!(w.walk.pa, None, "{w}");
            }
            assert!(virt_to_phys_walk(&k, a, 1).is_none());
        }
    }

    /// The free space runs up to the 32-bit ULONG_MAX, vmallocinfo prints 8-digit
    /// addresses, and the statics follow the image's static page tables in .bss.
    #[test]
    fn i386_free_space_vmallocinfo_and_statics() {
        for (v, pae) in CASES {
            let mut k = boot_i386(v, pae, 1 << 30);
            let blocks = free_blocks(&k).unwrap();
            assert_eq!(blocks, alloc::vec![(1, 0xffff_ffff)], "{v:?} {pae}");
            let a = k.vmalloc(PAGE_SIZE).unwrap();
            let info = vmallocinfo(&k);
            assert!(
                info.contains(&alloc::format!(
                    "0x{a:08x}-0x{:08x}    8192 vmalloc pages=1 vmalloc N0=1\n",
                    a + 8192
                )),
                "{info}"
            );
            let statics = k.phys.pa(crate::VirtAddr(k.vmalloc.statics)).0;
            let swapper = k.pt32.swapper_pg_dir;
            assert!(
                statics >= swapper + 2 * PAGE_SIZE,
                "after swapper_pg_dir and bm_pte"
            );
            assert_eq!(
                metadata_at(&k, statics, 8),
                Some("the vmalloc allocator's tree roots and list heads")
            );
            assert_eq!(metadata_at(&k, swapper, 8), None);
            assert_eq!(k.vfree(a), VfreeResult::Freed);
        }
    }

    /// `struct page *` is 4 bytes on i386: a 600-page area keeps its page array in kmalloc
    /// memory (2400 bytes), a 1100-page one needs a vmalloc'ed array ("vpages"). The
    /// pointers are mem_map's lowmem addresses, and vfree returns every page.
    #[test]
    fn i386_page_arrays_hold_32_bit_page_pointers() {
        let mut k = boot_i386((4, 15), true, 2 << 30);
        let free0 = crate::mm::page_alloc::nr_free_pages(&k);
        let small = k.vmalloc(600 * PAGE_SIZE).unwrap();
        let big = k.vmalloc(1100 * PAGE_SIZE).unwrap();
        let (busy, _) = vmap_areas(&k);
        let vp = |a: u64| busy.iter().find(|v| v.start == a).unwrap().vpages;
        assert!(!vp(small) && vp(big), "{busy:?}");
        let area = find_vm_area(&k, small).unwrap();
        // SAFETY: the page array of a live area.
        let raw = unsafe {
            let v = k.vmalloc.dm.unwrap().at::<VmStruct>(
                (*__find_vmap_area(
                    &k.vmalloc.dm.unwrap(),
                    (*k.vmalloc.st()).vmap_area_root,
                    small,
                ))
                .u,
            );
            array_get(&k, &k.vmalloc.dm.unwrap(), (*v).pages, 1)
        };
        assert!((PAGE_OFFSET..1 << 32).contains(&raw), "{raw:#x}");
        assert_eq!(k.vmalloc.pfn_of_page_ptr(raw), Some(area.pfns[1]));
        // Some of the pages are HIGHMEM ones.
        assert!(area.pfns.iter().any(|&p| p >= k.max_low_pfn));
        // The data pages and the big area's two-page array.
        assert_eq!(vmalloc_nr_pages(&k), 600 + 1100 + 2);
        assert!(free0 - crate::mm::page_alloc::nr_free_pages(&k) >= 1702);
        assert_eq!(k.vfree(small), VfreeResult::Freed);
        assert_eq!(k.vfree(big), VfreeResult::Freed);
        assert_eq!(vmalloc_nr_pages(&k), 0);
    }
}
