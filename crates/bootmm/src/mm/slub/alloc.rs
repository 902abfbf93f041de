// SPDX-License-Identifier: GPL-2.0-only
//! mm/slub.c, the allocator: `struct kmem_cache`, `kmem_cache_cpu` and `kmem_cache_node`,
//! `kmem_cache_open`, the allocation and free paths, shrinking and shutdown, and
//! `kmem_cache_init`'s bootstrap. The form is 6.6's, with 6.8's unfrozen partial slabs
//! where [`super::SlubRules::unfrozen_partials`] says so.
//!
//! DOC: every cache keeps, for each CPU, a *CPU slab* whose free objects the CPU hands out
//! from `c->freelist` without any lock (the fast path: one compare of the transaction id and
//! a pointer swap, `this_cpu_cmpxchg_double` in the kernel), and a short list of partial
//! slabs it froze for itself (`c->partial`). Frees of objects in the CPU slab go back to
//! `c->freelist`; frees of other objects go to their slab's own `freelist`, with one
//! cmpxchg16b of the slab's freelist and counters (`__slab_free`). Only when a slab changes
//! lists (a full slab gets a free object, a slab empties, a CPU gives up its slab) is the
//! node's `list_lock` taken. Each node keeps its partial slabs on `n->partial`; full slabs
//! are on no list.
//!
//! In bootmm a CPU's `kmem_cache_cpu` is only ever touched by the thread that holds that
//! CPU ([`crate::kernel::smp::Cpu`]), with nothing that can interrupt it, so the kernel's
//! CPU-local `this_cpu_cmpxchg_double` (atomic only against the CPU's own interrupts and
//! preemption) is a compare and two stores here, and always succeeds. The transaction id
//! is kept and advanced as the kernel does. The slab's freelist and counters, which any
//! CPU may change, are changed by a real 16-byte compare-and-exchange.
//!
//! Metadata structures live in simulated RAM, allocated as the kernel allocates them:
//! each `kmem_cache` is an object of the `kmem_cache` cache, each `kmem_cache_node` of the
//! `kmem_cache_node` cache, each `kmem_cache_cpu` a percpu allocation, each slab a block of
//! pages from the buddy allocator.

use core::mem::offset_of;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use portable_atomic::AtomicU128;

use crate::include::gfp::Gfp;
use crate::include::mm_types::{list_add, list_add_tail, list_del, ListHead, Page, PageFlags};
use crate::include::spinlock::RawSpinlock;
use crate::include::NUMA_NO_NODE;
use crate::kernel::Kernel;
use crate::mm::page_alloc::{self, AllocError};
use crate::mm::slab::{
    counters_frozen, counters_inuse, counters_objects, make_counters, Slab, SlabFlags,
};

use super::{calculate_order, order_objects};

/// `MIN_PARTIAL`: the fewest partial slabs a node keeps before it frees empty ones.
pub const MIN_PARTIAL: u64 = 5;
/// `MAX_PARTIAL`.
pub const MAX_PARTIAL: u64 = 10;
/// `SHRINK_PROMOTE_MAX`.
const SHRINK_PROMOTE_MAX: usize = 32;
/// `OO_SHIFT`.
const OO_SHIFT: u32 = 16;
/// `OO_MASK`.
const OO_MASK: u32 = (1 << OO_SHIFT) - 1;

/// `struct kmem_cache_cpu` (6.6, !PREEMPT_RT: the local lock has no state).
#[repr(C)]
#[derive(Debug)]
pub struct KmemCacheCpu {
    /// The next free object of the CPU slab (an address; 0 when empty).
    pub freelist: u64,
    /// `tid`: advanced by `TID_STEP` on every operation, starting at the CPU's number.
    pub tid: u64,
    /// The CPU slab.
    pub slab: *mut Slab,
    /// `partial`: the CPU's frozen partial slabs, linked through `next`.
    pub partial: *mut Slab,
}

/// `struct kmem_cache_node` (SLUB's part, CONFIG_SLUB_DEBUG).
#[repr(C)]
#[derive(Debug)]
pub struct KmemCacheNode {
    pub list_lock: RawSpinlock,
    /// `nr_partial` (read without the lock by `get_partial_node`'s first test).
    pub nr_partial: AtomicU64,
    pub partial: ListHead,
    /// `nr_slabs`, `total_objects` (CONFIG_SLUB_DEBUG).
    pub nr_slabs: AtomicI64,
    pub total_objects: AtomicI64,
    /// `full` (debug caches only).
    pub full: ListHead,
}

/// `struct reciprocal_value`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ReciprocalValue {
    pub m: u32,
    pub sh1: u8,
    pub sh2: u8,
}

/// lib/math/reciprocal_div.c: `reciprocal_value`.
pub fn reciprocal_value(d: u32) -> ReciprocalValue {
    let l = 32 - (d - 1).leading_zeros();
    let m = ((1u64 << 32) * ((1u64 << l) - u64::from(d))) / u64::from(d) + 1;
    ReciprocalValue {
        m: m as u32,
        sh1: l.min(1) as u8,
        sh2: l.saturating_sub(1) as u8,
    }
}

/// `reciprocal_divide`.
#[inline(always)]
pub fn reciprocal_divide(a: u32, r: ReciprocalValue) -> u32 {
    let t = ((u64::from(a) * u64::from(r.m)) >> 32) as u32;
    (t + ((a - t) >> r.sh1)) >> r.sh2
}

/// Longest cache name bootmm keeps (the kernel keeps a pointer; see [`KmemCache::name`]).
pub const CACHE_NAME_MAX: usize = 40;

/// `struct kmem_cache` (include/linux/slub_def.h, 6.6 with CONFIG_SLUB_CPU_PARTIAL, SYSFS,
/// NUMA, SLAB_FREELIST_HARDENED, HARDENED_USERCOPY), followed by `node[nr_node_ids]`.
#[repr(C)]
pub struct KmemCache {
    /// `cpu_slab`: a percpu pointer to the `kmem_cache_cpu`s.
    pub cpu_slab: u64,
    pub flags: SlabFlags,
    /// `min_partial`.
    pub min_partial: u64,
    /// The object's size with its metadata and alignment.
    pub size: u32,
    /// The size the cache was made for.
    pub object_size: u32,
    pub reciprocal_size: ReciprocalValue,
    /// Where the free pointer sits in a free object.
    pub offset: u32,
    /// `cpu_partial` (objects) and `cpu_partial_slabs`.
    pub cpu_partial: u32,
    pub cpu_partial_slabs: u32,
    /// `oo`: order << 16 | objects; `min`: the same for one object.
    pub oo: u32,
    pub min: u32,
    /// `allocflags`: GFP bits every slab allocation adds.
    pub allocflags: Gfp,
    /// `refcount`: aliases; -1 for boot caches (never merged).
    pub refcount: i32,
    /// `ctor` (bootmm has no constructors: always 0).
    pub ctor: u64,
    /// `inuse`: the offset of the metadata after the object.
    pub inuse: u32,
    pub align: u32,
    pub red_left_pad: u32,
    /// `name`: the kernel keeps a `const char *` (kstrdup_const); bootmm keeps the bytes
    /// inline (docs/divergences.md).
    pub name: [u8; CACHE_NAME_MAX],
    pub name_len: u32,
    /// `list`: the cache's place on `slab_caches`.
    pub list: ListHead,
    /// `kobj` (struct kobject under SYSFS): room only.
    pub kobj: [u64; 8],
    /// `random` (SLAB_FREELIST_HARDENED): 0, hardening is not modelled.
    pub random: u64,
    /// `remote_node_defrag_ratio` (NUMA).
    pub remote_node_defrag_ratio: u32,
    pub useroffset: u32,
    pub usersize: u32,
    /// `node[]`: `nr_node_ids` pointers follow.
    pub node: [*mut KmemCacheNode; 0],
}

/// `offsetof(struct kmem_cache, node)`.
pub const KMEM_CACHE_NODE_OFFSET: usize = offset_of!(KmemCache, node);

impl KmemCache {
    /// `s->name = name` (kept inline, cut at a character boundary to CACHE_NAME_MAX bytes).
    pub(crate) fn set_name(&mut self, name: &str) {
        let mut n = name.len().min(CACHE_NAME_MAX);
        while !name.is_char_boundary(n) {
            n -= 1;
        }
        self.name = [0; CACHE_NAME_MAX];
        self.name[..n].copy_from_slice(&name.as_bytes()[..n]);
        self.name_len = n as u32;
    }

    /// The cache's name.
    pub fn name(&self) -> &str {
        let n = (self.name_len as usize).min(CACHE_NAME_MAX);
        core::str::from_utf8(&self.name[..n]).unwrap_or("?")
    }
}

/// `oo_order`.
#[inline(always)]
pub const fn oo_order(x: u32) -> u32 {
    x >> OO_SHIFT
}

/// `oo_objects`.
#[inline(always)]
pub const fn oo_objects(x: u32) -> u32 {
    x & OO_MASK
}

/// `oo_make`.
fn oo_make(order: u32, size: u32) -> u32 {
    (order << OO_SHIFT) + order_objects(order, size)
}

/// `kmem_cache_debug`: any of the SLAB_DEBUG_FLAGS.
#[inline(always)]
pub fn kmem_cache_debug(s: &KmemCache) -> bool {
    s.flags.intersects(SlabFlags::SLAB_DEBUG_FLAGS)
}

/// `kmem_cache_has_cpu_partial` (CONFIG_SLUB_CPU_PARTIAL).
#[inline(always)]
fn kmem_cache_has_cpu_partial(s: &KmemCache) -> bool {
    !kmem_cache_debug(s)
}

/// A `struct kmem_cache *` that can cross threads. Only bootmm makes one, for a cache it
/// created; it stays valid until `kmem_cache_destroy`, which needs the kernel exclusively.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CachePtr(pub(crate) NonNull<KmemCache>);

// SAFETY: a cache's fields are written only while it is created and destroyed (under
// slab_mutex, with no CPU using it); everything a CPU changes afterwards lives in its own
// kmem_cache_cpu, in slabs (cmpxchg16b) or in nodes (list_lock).
unsafe impl Send for CachePtr {}
// SAFETY: as above.
unsafe impl Sync for CachePtr {}

impl CachePtr {
    /// The cache.
    ///
    /// # Safety
    /// The cache has not been destroyed.
    #[inline(always)]
    pub(crate) unsafe fn get<'a>(self) -> &'a KmemCache {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.as_ref() }
    }

    pub(crate) fn as_ptr(self) -> *mut KmemCache {
        self.0.as_ptr()
    }
}

// ----- The host the allocator runs on -----------------------------------------------------

/// Where a slab's pages come from: a CPU of a kernel shared by threads, or the kernel
/// itself during boot and in scripts (which may grow a zone's deferred part).
pub(crate) trait SlabHost {
    fn k(&self) -> &Kernel;
    /// The CPU the call runs on.
    fn cpu(&self) -> u32;
    /// `alloc_pages_node(nid, gfp, order)` (nid < 0: the CPU's node).
    fn alloc_pages(
        &mut self,
        gfp: Gfp,
        order: u32,
        nid: i32,
    ) -> Result<Option<NonNull<Page>>, AllocError>;
}

/// A CPU of a kernel shared by threads.
pub(crate) struct OnCpu<'a> {
    pub k: &'a Kernel,
    pub cpu: u32,
}

impl SlabHost for OnCpu<'_> {
    #[inline(always)]
    fn k(&self) -> &Kernel {
        self.k
    }
    #[inline(always)]
    fn cpu(&self) -> u32 {
        self.cpu
    }
    fn alloc_pages(
        &mut self,
        gfp: Gfp,
        order: u32,
        nid: i32,
    ) -> Result<Option<NonNull<Page>>, AllocError> {
        page_alloc::alloc_pages_on(self.k, self.cpu, gfp, order, nid)
    }
}

/// The kernel, exclusively (boot, scripts): runs on `k.cpus.current()`.
pub(crate) struct Exclusive<'a>(pub &'a mut Kernel);

impl SlabHost for Exclusive<'_> {
    #[inline(always)]
    fn k(&self) -> &Kernel {
        self.0
    }
    fn cpu(&self) -> u32 {
        self.0.cpus.current()
    }
    fn alloc_pages(
        &mut self,
        gfp: Gfp,
        order: u32,
        nid: i32,
    ) -> Result<Option<NonNull<Page>>, AllocError> {
        page_alloc::alloc_pages_node(self.0, nid, gfp, order)
    }
}

// ----- Addresses -----------------------------------------------------------------------------

/// What SLUB needs of the machine to turn addresses into host pointers quickly: the host
/// mapping of simulated RAM, `PAGE_OFFSET`, and each CPU's percpu unit.
#[derive(Debug, Default)]
pub struct SlubMap {
    host_base: usize,
    ram_len: u64,
    page_offset: u64,
    /// Host address of each possible CPU's percpu unit.
    pcpu_unit: alloc::boxed::Box<[usize]>,
    /// `TID_STEP`: `roundup_pow_of_two(CONFIG_NR_CPUS)`.
    pub tid_step: u64,
}

impl SlubMap {
    pub(crate) fn new(k: &Kernel) -> Option<SlubMap> {
        let ram_len = k.phys.end().0;
        let host_base = k.phys.host_ptr(crate::PhysAddr(0), ram_len).ok()?.as_ptr() as usize;
        let pcpu_unit = k
            .percpu
            .unit_pa
            .iter()
            .map(|&pa| host_base + pa as usize)
            .collect();
        Some(SlubMap {
            host_base,
            ram_len,
            page_offset: k.phys.va(crate::PhysAddr(0)).0,
            pcpu_unit,
            tid_step: u64::from(k.machine.nr_cpus.max(1)).next_power_of_two(),
        })
    }

    /// The host pointer of the `len` bytes at kernel address `va`, if they are simulated RAM.
    #[inline(always)]
    pub fn host(&self, va: u64, len: u64) -> Option<*mut u8> {
        let pa = va.wrapping_sub(self.page_offset);
        (pa <= self.ram_len.wrapping_sub(len) && len <= self.ram_len)
            .then(|| (self.host_base + pa as usize) as *mut u8)
    }

    /// The kernel address of a host pointer into simulated RAM.
    #[inline(always)]
    pub fn va(&self, p: *const u8) -> u64 {
        (p as usize - self.host_base) as u64 + self.page_offset
    }

    /// `this_cpu_ptr(s->cpu_slab)` on `cpu`.
    #[inline(always)]
    fn cpu_slab(&self, s: &KmemCache, cpu: u32) -> *mut KmemCacheCpu {
        (self.pcpu_unit[cpu as usize] + s.cpu_slab as usize) as *mut KmemCacheCpu
    }

    /// `slab_address`: the kernel address of a slab's first byte.
    ///
    /// # Safety
    /// `slab` is a struct page of `k`'s memmap.
    #[inline]
    pub(crate) unsafe fn slab_address(&self, k: &Kernel, slab: *mut Slab) -> u64 {
        // SAFETY: forwarded from the caller.
        let pfn = unsafe { k.sparse.page_to_pfn(NonNull::new_unchecked(slab.cast())) };
        self.page_offset + (pfn.unwrap_or(0) << crate::include::PAGE_SHIFT)
    }

    /// `virt_to_slab`'s first half: the head struct page of the block `va` lies in, if `va`
    /// is simulated RAM with a memmap.
    #[inline(always)]
    pub fn virt_to_head_page(&self, k: &Kernel, va: u64) -> Option<NonNull<Page>> {
        self.virt_to_head(k, va).map(|(p, _)| p)
    }

    /// The head struct page of the block `va` lies in and the block's first address.
    #[inline(always)]
    pub(crate) fn virt_to_head(&self, k: &Kernel, va: u64) -> Option<(NonNull<Page>, u64)> {
        let pa = va.wrapping_sub(self.page_offset);
        if pa >= self.ram_len {
            return None;
        }
        let page = k.sparse.pfn_to_page(pa >> crate::include::PAGE_SHIFT)?;
        let page_va = va & !(crate::include::PAGE_SIZE - 1);
        // SAFETY: pfn_to_page gave a struct page of the memmap, readable for its lifetime.
        let next = unsafe { (*page.as_ptr()).lru.next } as usize;
        if next & 1 != 0 {
            // A tail page: compound_head. A compound block never crosses a section, so the
            // head's struct page is in the same memmap run, `tails` pages back.
            let head = (next - 1) as *mut Page;
            let tails =
                (page.as_ptr() as usize).wrapping_sub(head as usize) / core::mem::size_of::<Page>();
            return NonNull::new(head)
                .map(|h| (h, page_va - (tails as u64) * crate::include::PAGE_SIZE));
        }
        Some((page, page_va))
    }
}

// ----- Free pointers -----------------------------------------------------------------------

/// `get_freepointer`: the free pointer stored in free object `object` (0 when the object is
/// not simulated RAM: a corrupted chain ends there instead of faulting).
#[inline(always)]
pub(crate) fn get_freepointer(m: &SlubMap, s: &KmemCache, object: u64) -> u64 {
    match m.host(object.wrapping_add(u64::from(s.offset)), 8) {
        // SAFETY: `host` proved the 8 bytes are inside the live mapping; free pointers are
        // read and written as relaxed atomics (plain moves), so no access of ours races.
        Some(p) if p as usize % 8 == 0 => {
            unsafe { AtomicU64::from_ptr(p.cast()) }.load(Ordering::Relaxed)
        }
        _ => 0,
    }
}

/// `set_freepointer`. Returns false, writing nothing, when the object is not simulated RAM.
#[inline(always)]
pub(crate) fn set_freepointer(m: &SlubMap, s: &KmemCache, object: u64, fp: u64) -> bool {
    match m.host(object.wrapping_add(u64::from(s.offset)), 8) {
        Some(p) if p as usize % 8 == 0 => {
            // SAFETY: as in `get_freepointer`.
            unsafe { AtomicU64::from_ptr(p.cast()) }.store(fp, Ordering::Relaxed);
            true
        }
        _ => false,
    }
}

// ----- The slab's freelist and counters ----------------------------------------------------

/// The `freelist_counters` pair of a slab.
///
/// # Safety
/// `slab` is a struct page of the memmap (its bytes 32..48 are 16-byte aligned).
#[inline(always)]
unsafe fn slab_pair<'a>(slab: *mut Slab) -> &'a AtomicU128 {
    // SAFETY: forwarded; the memmap's struct pages are 64-byte aligned, so the pair at 32 is
    // 16-byte aligned, and every access to it while the slab is shared is through this.
    unsafe { AtomicU128::from_ptr(ptr::addr_of_mut!((*slab).freelist).cast()) }
}

#[inline(always)]
fn pair(freelist: u64, counters: u64) -> u128 {
    u128::from(freelist) | (u128::from(counters) << 64)
}

#[inline(always)]
fn unpair(v: u128) -> (u64, u64) {
    (v as u64, (v >> 64) as u64)
}

/// `slab_update_freelist` / `__slab_update_freelist`: the cmpxchg16b of a slab's freelist
/// and counters.
///
/// # Safety
/// As [`slab_pair`].
#[inline(always)]
unsafe fn slab_update_freelist(slab: *mut Slab, old: (u64, u64), new: (u64, u64)) -> bool {
    // SAFETY: forwarded.
    unsafe { slab_pair(slab) }
        .compare_exchange(
            pair(old.0, old.1),
            pair(new.0, new.1),
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_ok()
}

/// The freelist and counters of a shared slab, read together.
///
/// # Safety
/// As [`slab_pair`].
#[inline(always)]
unsafe fn slab_read(slab: *mut Slab) -> (u64, u64) {
    // SAFETY: forwarded.
    unpair(unsafe { slab_pair(slab) }.load(Ordering::Acquire))
}

/// `slab_nid`.
///
/// # Safety
/// `slab` is a struct page of the memmap.
#[inline(always)]
unsafe fn slab_nid(slab: *mut Slab) -> u32 {
    // SAFETY: forwarded.
    crate::include::mm_types::page_to_nid(unsafe { &*slab.cast::<Page>() })
}

/// `get_node(s, nid)`.
///
/// # Safety
/// `s` is a live cache and `nid < nr_node_ids`.
#[inline(always)]
pub(crate) unsafe fn get_node(s: *const KmemCache, nid: u32) -> *mut KmemCacheNode {
    // SAFETY: forwarded: node[] has nr_node_ids entries.
    unsafe {
        *ptr::addr_of!((*s).node)
            .cast::<*mut KmemCacheNode>()
            .add(nid as usize)
    }
}

/// `s->node[nid] = n`.
///
/// # Safety
/// As [`get_node`], and the cache is not in use.
unsafe fn set_node(s: *mut KmemCache, nid: u32, n: *mut KmemCacheNode) {
    // SAFETY: forwarded.
    unsafe {
        *ptr::addr_of_mut!((*s).node)
            .cast::<*mut KmemCacheNode>()
            .add(nid as usize) = n;
    }
}

/// The slab whose `slab_list` is `l`.
fn list_to_slab(l: *mut ListHead) -> *mut Slab {
    l.cast::<u8>()
        .wrapping_sub(offset_of!(Slab, slab_list))
        .cast()
}

/// A CPU-partial slab's `next`.
///
/// # Safety
/// `slab` is a struct page of the memmap.
#[inline(always)]
unsafe fn slab_next(slab: *mut Slab) -> *mut Slab {
    // SAFETY: forwarded.
    unsafe { (*slab).slab_list.next.cast() }
}

/// A CPU-partial slab's `slabs` (the count of slabs from it to the end of the list).
///
/// # Safety
/// As [`slab_next`].
#[inline(always)]
unsafe fn slab_slabs(slab: *mut Slab) -> u32 {
    // SAFETY: forwarded.
    unsafe { (*slab).slab_list.prev as usize as u32 }
}

/// Link `slab` at the head of a CPU-partial list.
///
/// # Safety
/// As [`slab_next`].
unsafe fn set_partial_link(slab: *mut Slab, next: *mut Slab, slabs: u32) {
    // SAFETY: forwarded.
    unsafe {
        (*slab).slab_list.next = next.cast();
        (*slab).slab_list.prev = slabs as usize as *mut ListHead;
    }
}

// ----- Node lists --------------------------------------------------------------------------

/// Where a slab goes on the partial list.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tail {
    /// DEACTIVATE_TO_HEAD.
    Head,
    /// DEACTIVATE_TO_TAIL.
    Tail,
}

/// `__add_partial` (list_lock held).
///
/// # Safety
/// `n` is a live node whose lock the caller holds; `slab` is on no list.
pub(crate) unsafe fn __add_partial(k: &Kernel, n: *mut KmemCacheNode, slab: *mut Slab, tail: Tail) {
    // SAFETY: forwarded.
    unsafe {
        if k.slab.rules.order.unfrozen_partials {
            // slab_set_node_partial (6.8): PG_workingset marks a slab on a node list.
            (*slab).__page_flags |= PageFlags::PG_WORKINGSET.bits();
        }
        (*n).nr_partial.fetch_add(1, Ordering::Relaxed);
        let l = ptr::addr_of_mut!((*slab).slab_list);
        let h = ptr::addr_of_mut!((*n).partial);
        match tail {
            Tail::Tail => list_add_tail(l, h),
            Tail::Head => list_add(l, h),
        }
    }
}

/// `remove_partial` (list_lock held).
///
/// # Safety
/// `slab` is on `n`'s partial list and the caller holds `n`'s lock.
pub(crate) unsafe fn remove_partial(k: &Kernel, n: *mut KmemCacheNode, slab: *mut Slab) {
    // SAFETY: forwarded.
    unsafe {
        if k.slab.rules.order.unfrozen_partials {
            // slab_clear_node_partial.
            (*slab).__page_flags &= !PageFlags::PG_WORKINGSET.bits();
        }
        list_del(ptr::addr_of_mut!((*slab).slab_list));
        (*n).nr_partial.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `inc_slabs_node`.
///
/// # Safety
/// `s` is live and `nid` a node of it.
pub(crate) unsafe fn inc_slabs_node(s: *const KmemCache, nid: u32, objects: u32) {
    // SAFETY: forwarded.
    let n = unsafe { get_node(s, nid) };
    if let Some(n) = NonNull::new(n) {
        // SAFETY: a node of a live cache.
        let n = unsafe { n.as_ref() };
        n.nr_slabs.fetch_add(1, Ordering::Relaxed);
        n.total_objects
            .fetch_add(i64::from(objects), Ordering::Relaxed);
    }
}

/// `dec_slabs_node`.
///
/// # Safety
/// As [`inc_slabs_node`].
unsafe fn dec_slabs_node(s: *const KmemCache, nid: u32, objects: u32) {
    // SAFETY: forwarded.
    let n = unsafe { &*get_node(s, nid) };
    n.nr_slabs.fetch_sub(1, Ordering::Relaxed);
    n.total_objects
        .fetch_sub(i64::from(objects), Ordering::Relaxed);
}

// ----- Slab pages ---------------------------------------------------------------------------

/// `allocate_slab` / `new_slab`: a slab of `s` from the page allocator, its objects chained
/// in address order (CONFIG_SLAB_FREELIST_RANDOM is not modelled), not frozen, on no list.
/// `None` when no pages could be had.
///
/// # Errors
/// The page allocator could not be called (see [`AllocError`]).
///
/// # Safety
/// `s` is a live cache.
pub(crate) unsafe fn new_slab<H: SlabHost>(
    h: &mut H,
    s: *mut KmemCache,
    flags: Gfp,
    node: i32,
) -> Result<Option<*mut Slab>, AllocError> {
    // SAFETY: forwarded.
    let sr = unsafe { &*s };
    let flags = (flags & (Gfp::GFP_RECLAIM_MASK | Gfp::GFP_CONSTRAINT_MASK)) | sr.allocflags;
    let mut oo = sr.oo;
    let mut alloc_gfp =
        (flags | Gfp::__GFP_NOWARN | Gfp::__GFP_NORETRY).difference(Gfp::__GFP_NOFAIL);
    if alloc_gfp.contains(Gfp::__GFP_DIRECT_RECLAIM) && oo_order(oo) > oo_order(sr.min) {
        alloc_gfp = (alloc_gfp | Gfp::__GFP_NOMEMALLOC).difference(Gfp::__GFP_RECLAIM);
    }
    let mut page = h.alloc_pages(alloc_gfp, oo_order(oo), node)?;
    if page.is_none() {
        oo = sr.min;
        page = h.alloc_pages(flags, oo_order(oo), node)?;
    }
    let Some(page) = page else { return Ok(None) };
    let k = h.k();
    let m = &k.slab.map;
    let slab = page.as_ptr().cast::<Slab>();
    let objects = oo_objects(oo);
    // SAFETY: a block the page allocator just gave us: its head page is ours alone.
    let start = unsafe {
        (*slab).__page_flags |= PageFlags::PG_SLAB.bits();
        (*slab).slab_cache = s;
        (*slab).counters = make_counters(0, objects, false);
        m.slab_address(k, slab)
    };
    k.slab.account_slab(sr, oo_order(oo), true);
    super::debug::setup_slab_debug(m, sr, start, oo_order(oo));
    let first = start + u64::from(sr.red_left_pad);
    let size = u64::from(sr.size);
    let mut p = first;
    for _ in 1..objects {
        super::debug::setup_object(m, sr, p);
        set_freepointer(m, sr, p, p + size);
        p += size;
    }
    super::debug::setup_object(m, sr, p);
    set_freepointer(m, sr, p, 0);
    // SAFETY: still ours alone.
    unsafe { (*slab).freelist = first };
    Ok(Some(slab))
}

/// `__free_slab` / `free_slab` / `discard_slab`'s free: PG_slab off, the pages back.
///
/// # Safety
/// `slab` is a slab of `s` on no list and frozen by nobody.
unsafe fn free_slab(k: &Kernel, cpu: u32, s: &KmemCache, slab: *mut Slab) {
    // SAFETY: forwarded.
    let order = unsafe {
        let o = page_alloc::compound_order(slab.cast::<Page>());
        (*slab).__page_flags &= !PageFlags::PG_SLAB.bits();
        (*slab).slab_cache = ptr::null_mut();
        // The page's own fields again: index 0, private 0 (freelist, counters).
        (*slab).freelist = 0;
        (*slab).counters = 0;
        (*slab).slab_list.prev = ptr::null_mut();
        o
    };
    k.slab.account_slab(s, order, false);
    // SAFETY: the slab is a block the page allocator gave and nobody else holds.
    let page = unsafe { NonNull::new_unchecked(slab.cast::<Page>()) };
    page_alloc::__free_pages_on(k, cpu, page, order);
}

/// `discard_slab`.
///
/// # Safety
/// As [`free_slab`].
pub(crate) unsafe fn discard_slab(k: &Kernel, cpu: u32, s: *mut KmemCache, slab: *mut Slab) {
    // SAFETY: forwarded.
    unsafe {
        let objects = counters_objects((*slab).counters);
        dec_slabs_node(s, slab_nid(slab), objects);
        free_slab(k, cpu, &*s, slab);
    }
}

// ----- Allocation --------------------------------------------------------------------------

/// `node_match`.
///
/// # Safety
/// `slab` is a struct page of the memmap.
#[inline(always)]
unsafe fn node_match(slab: *mut Slab, node: i32) -> bool {
    // SAFETY: forwarded.
    node == NUMA_NO_NODE || unsafe { slab_nid(slab) } as i32 == node
}

/// `next_tid`.
#[inline(always)]
fn next_tid(m: &SlubMap, tid: u64) -> u64 {
    tid.wrapping_add(m.tid_step)
}

/// mm/slub.c `slab_alloc_node`: an object of `s` on the host's CPU, from the CPU slab's
/// freelist or, failing that, [`___slab_alloc`]. Returns its address, 0 (NULL) when no
/// memory could be had.
///
/// Complexity: O(1) on the fast path (no lock, no atomic read-modify-write).
///
/// # Errors
/// The page allocator could not be called.
///
/// # Safety
/// `s` is a live cache; the host's CPU is held by the caller (nobody else touches its
/// kmem_cache_cpu during the call).
#[inline(always)]
pub(crate) unsafe fn slab_alloc_node<H: SlabHost>(
    h: &mut H,
    s: *mut KmemCache,
    gfp: Gfp,
    node: i32,
    orig_size: u32,
) -> Result<u64, AllocError> {
    // SAFETY: forwarded: the cache is live.
    let sr = unsafe { &*s };
    let object = {
        let k = h.k();
        let m = &k.slab.map;
        let c = m.cpu_slab(sr, h.cpu());
        // SAFETY: the CPU's own kmem_cache_cpu, which only its holder touches.
        let (object, slab) = unsafe { ((*c).freelist, (*c).slab) };
        // A debug cache never has a CPU freelist: it always takes the slow path, as in the
        // kernel.
        // SAFETY: a non-null CPU slab is a struct page of the memmap.
        if object == 0 || slab.is_null() || !unsafe { node_match(slab, node) } {
            // SAFETY: forwarded.
            unsafe { ___slab_alloc(h, s, gfp, node, orig_size)? }
        } else {
            let next = get_freepointer(m, sr, object);
            // SAFETY: as above; the kernel's this_cpu_cmpxchg_double, uncontended.
            unsafe {
                (*c).freelist = next;
                (*c).tid = next_tid(m, (*c).tid);
            }
            object
        }
    };
    if object != 0 && gfp.contains(Gfp::__GFP_ZERO) {
        let k = h.k();
        let m = &k.slab.map;
        // Zero only a real object of this cache: a freelist a caller corrupted could name
        // any address.
        let ours = match (virt_to_owner(k, object), m.virt_to_head(k, object)) {
            (Owner::Slab(c, slab), Some((_, base))) => {
                c == s && is_slab_object(sr, slab, base, object)
            }
            _ => false,
        };
        if let Some(p) = m.host(object, u64::from(sr.object_size)).filter(|_| ours) {
            // SAFETY: `host` proved the object's bytes are simulated RAM; the object is
            // the caller's now.
            unsafe { ptr::write_bytes(p, 0, sr.object_size as usize) };
        }
    }
    Ok(object)
}

/// `get_freelist`: take a frozen CPU slab's remote-freed objects. Returns the chain (0 if
/// none, and then the slab is unfrozen).
///
/// # Safety
/// `slab` is this CPU's CPU slab.
unsafe fn get_freelist(slab: *mut Slab) -> u64 {
    loop {
        // SAFETY: forwarded.
        let (freelist, counters) = unsafe { slab_read(slab) };
        let objects = counters_objects(counters);
        let new = make_counters(objects, objects, freelist != 0);
        // SAFETY: forwarded.
        if unsafe { slab_update_freelist(slab, (freelist, counters), (0, new)) } {
            return freelist;
        }
    }
}

/// mm/slub.c `___slab_alloc`: the slow path. The CPU slab's freelist is empty (or its node
/// does not match): take the slab's remote frees, then a CPU-partial slab, then a node's
/// partial slab, then a new slab.
///
/// # Errors
/// The page allocator could not be called.
///
/// # Safety
/// As [`slab_alloc_node`].
#[inline(never)]
unsafe fn ___slab_alloc<H: SlabHost>(
    h: &mut H,
    s: *mut KmemCache,
    gfp: Gfp,
    mut node: i32,
    orig_size: u32,
) -> Result<u64, AllocError> {
    // SAFETY: forwarded throughout: `s` is live, `c` is the held CPU's kmem_cache_cpu, and
    // every slab pointer comes from that CPU's state, a node list or new_slab.
    unsafe {
        let sr = &*s;
        if kmem_cache_debug(sr) {
            return super::debug::alloc_debug(h, s, gfp, node, orig_size);
        }
        let cpu = h.cpu();
        let c = h.k().slab.map.cpu_slab(sr, cpu);
        let mut slab = (*c).slab;
        'reread: loop {
            if slab.is_null() {
                if node != NUMA_NO_NODE && !h.k().slab.node_has_slabs(node) {
                    node = NUMA_NO_NODE;
                }
            } else {
                // redo:
                if !node_match(slab, node) {
                    if !h.k().slab.node_has_slabs(node) {
                        node = NUMA_NO_NODE;
                    } else {
                        // deactivate_slab:
                        let freelist = (*c).freelist;
                        (*c).slab = ptr::null_mut();
                        (*c).freelist = 0;
                        (*c).tid = next_tid(&h.k().slab.map, (*c).tid);
                        deactivate_slab(h.k(), cpu, s, slab, freelist);
                        slab = ptr::null_mut();
                        continue 'reread;
                    }
                }
                let mut freelist = (*c).freelist;
                if freelist == 0 {
                    freelist = get_freelist(slab);
                    if freelist == 0 {
                        (*c).slab = ptr::null_mut();
                        (*c).tid = next_tid(&h.k().slab.map, (*c).tid);
                        slab = ptr::null_mut();
                        continue 'reread;
                    }
                }
                // load_freelist:
                let m = &h.k().slab.map;
                (*c).freelist = get_freepointer(m, sr, freelist);
                (*c).tid = next_tid(m, (*c).tid);
                return Ok(freelist);
            }
            // new_slab: a CPU-partial slab first.
            let partial = (*c).partial;
            if !partial.is_null() {
                (*c).partial = slab_next(partial);
                if !node_match(partial, node) {
                    // 6.6: put it back to its node and try the node lists.
                    (*c).slab = ptr::null_mut();
                    __unfreeze_partials(h.k(), cpu, s, partial, true);
                } else {
                    (*c).slab = partial;
                    slab = partial;
                    continue 'reread;
                }
            }
            // new_objects:
            if let Some((slab_new, object)) = get_partial(h.k(), cpu, s, node, gfp) {
                return Ok(retry_load_slab(h.k(), cpu, s, c, slab_new, object));
            }
            let Some(new) = new_slab(h, s, gfp, node)? else {
                super::debug::slab_out_of_memory(h.k(), cpu, sr, gfp, node);
                return Ok(0);
            };
            let (freelist, counters) = ((*new).freelist, (*new).counters);
            let objects = counters_objects(counters);
            (*new).freelist = 0;
            (*new).counters = make_counters(objects, objects, true);
            inc_slabs_node(s, slab_nid(new), objects);
            return Ok(retry_load_slab(h.k(), cpu, s, c, new, freelist));
        }
    }
}

/// `retry_load_slab` + `load_freelist`: make `slab` the CPU slab (deactivating the one a
/// racing path installed, which cannot happen here but is handled) and hand out `object`,
/// the first of its chain.
///
/// # Safety
/// As [`___slab_alloc`]; `slab` is frozen for this CPU and `object` heads its chain.
unsafe fn retry_load_slab(
    k: &Kernel,
    cpu: u32,
    s: *mut KmemCache,
    c: *mut KmemCacheCpu,
    slab: *mut Slab,
    object: u64,
) -> u64 {
    // SAFETY: forwarded.
    unsafe {
        let m = &k.slab.map;
        if !(*c).slab.is_null() {
            let (old, fl) = ((*c).slab, (*c).freelist);
            (*c).slab = ptr::null_mut();
            (*c).freelist = 0;
            (*c).tid = next_tid(m, (*c).tid);
            deactivate_slab(k, cpu, s, old, fl);
        }
        (*c).slab = slab;
        (*c).freelist = get_freepointer(m, &*s, object);
        (*c).tid = next_tid(m, (*c).tid);
        object
    }
}

/// `get_partial`: a partial slab from the requested node (or the CPU's), else any node's
/// (`get_any_partial`; bootmm always searches, as if `remote_node_defrag_ratio` let it).
/// Returns the slab, frozen for this CPU, and its freelist.
///
/// # Safety
/// As [`___slab_alloc`].
unsafe fn get_partial(
    k: &Kernel,
    cpu: u32,
    s: *mut KmemCache,
    node: i32,
    gfp: Gfp,
) -> Option<(*mut Slab, u64)> {
    let searchnode = if node == NUMA_NO_NODE {
        page_alloc::numa_mem_id(k, cpu)
    } else {
        node as u32
    };
    // SAFETY: forwarded.
    unsafe {
        if let Some(r) = get_partial_node(k, cpu, s, searchnode) {
            return Some(r);
        }
        for nid in any_partial_nodes(k, s, searchnode, node, gfp) {
            if let Some(r) = get_partial_node(k, cpu, s, nid) {
                return Some(r);
            }
        }
    }
    None
}

/// The nodes `get_any_partial` tries after `searchnode` failed: none for a request of a
/// given node (up to 6.11; from 6.12 only for __GFP_THISNODE), else the nodes of
/// `searchnode`'s zonelist, nearest first, that hold more than `min_partial` partial slabs.
/// The kernel skips the search at random (`remote_node_defrag_ratio`, 1000 of 1024); bootmm
/// always searches.
///
/// # Safety
/// `s` is a live cache.
pub(crate) unsafe fn any_partial_nodes(
    k: &Kernel,
    s: *const KmemCache,
    searchnode: u32,
    node: i32,
    gfp: Gfp,
) -> alloc::vec::Vec<u32> {
    let mut v = alloc::vec::Vec::new();
    let only_node = if k.slab.rules.order.any_partial_for_node {
        node != NUMA_NO_NODE && gfp.contains(Gfp::__GFP_THISNODE)
    } else {
        node != NUMA_NO_NODE
    };
    if only_node {
        return v;
    }
    // SAFETY: forwarded.
    let min_partial = unsafe { (*s).min_partial };
    let Some(pgdat) = k.page_alloc().node(searchnode) else {
        return v;
    };
    for z in pgdat.zonelist_fallback.iter() {
        if v.contains(&z.nid) || !k.slab.node_has_slabs(z.nid as i32) {
            continue;
        }
        // SAFETY: forwarded; `nid` is a slab node, below nr_node_ids.
        let n = unsafe { get_node(s, z.nid) };
        // SAFETY: a node of a live cache; nr_partial is read without the lock, as there.
        if !n.is_null() && unsafe { (*n).nr_partial.load(Ordering::Relaxed) } > min_partial {
            v.push(z.nid);
        }
    }
    v
}

/// `get_partial_node`: take a slab from node `nid`'s partial list for the CPU slab, and
/// more for the CPU-partial list until it holds half its `cpu_partial_slabs`.
///
/// # Safety
/// As [`___slab_alloc`].
unsafe fn get_partial_node(
    k: &Kernel,
    cpu: u32,
    s: *mut KmemCache,
    nid: u32,
) -> Option<(*mut Slab, u64)> {
    // SAFETY: forwarded; list walking happens under the node's list_lock.
    unsafe {
        let n = get_node(s, nid);
        if n.is_null() || (*n).nr_partial.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let sr = &*s;
        let unfrozen = k.slab.rules.order.unfrozen_partials;
        let mut got: Option<(*mut Slab, u64)> = None;
        let mut partial_slabs = 0;
        (*n).list_lock.lock();
        let head = ptr::addr_of_mut!((*n).partial);
        let mut l = (*head).next;
        while l != head {
            let next = (*l).next;
            let slab = list_to_slab(l);
            let take_all = got.is_none();
            // Up to 6.7, acquire_slab: freeze it and take its freelist (all of it for the
            // CPU slab). From 6.8 the slab leaves the list unfrozen; the CPU slab is frozen
            // below (freeze_slab), the others stay unfrozen on the CPU-partial list.
            let freelist = if unfrozen {
                0
            } else {
                loop {
                    let (fl, ct) = slab_read(slab);
                    let objects = counters_objects(ct);
                    let new = if take_all {
                        (0, make_counters(objects, objects, true))
                    } else {
                        (fl, make_counters(counters_inuse(ct), objects, true))
                    };
                    if slab_update_freelist(slab, (fl, ct), new) {
                        break fl;
                    }
                }
            };
            remove_partial(k, n, slab);
            if take_all {
                got = Some((slab, freelist));
            } else {
                // put_cpu_partial, without draining (the lock is held).
                let c = k.slab.map.cpu_slab(sr, cpu);
                let old = (*c).partial;
                let slabs = if old.is_null() { 0 } else { slab_slabs(old) } + 1;
                set_partial_link(slab, old, slabs);
                (*c).partial = slab;
                partial_slabs += 1;
            }
            if !kmem_cache_has_cpu_partial(sr) || partial_slabs > sr.cpu_partial_slabs / 2 {
                break;
            }
            l = next;
        }
        (*n).list_lock.unlock();
        if unfrozen {
            if let Some((slab, _)) = got {
                got = Some((slab, freeze_slab(slab)));
            }
        }
        got
    }
}

/// mm/slub.c `freeze_slab` (6.8): make an unfrozen slab the CPU's, taking its freelist.
///
/// # Safety
/// `slab` is a slab on no list that only this CPU reaches.
unsafe fn freeze_slab(slab: *mut Slab) -> u64 {
    loop {
        // SAFETY: forwarded.
        let (fl, ct) = unsafe { slab_read(slab) };
        debug_assert!(!counters_frozen(ct), "freeze_slab of a frozen slab");
        let objects = counters_objects(ct);
        // SAFETY: forwarded.
        if unsafe {
            slab_update_freelist(slab, (fl, ct), (0, make_counters(objects, objects, true)))
        } {
            return fl;
        }
    }
}

// ----- Deactivation and CPU-partial lists --------------------------------------------------

/// mm/slub.c `deactivate_slab`: give a CPU slab back to its node: splice the CPU's freelist
/// onto the slab's, unfreeze it, and put it on the partial list (head, or tail when it had
/// remote frees), or free it when empty and the node has `min_partial` slabs; a full slab
/// goes on no list.
///
/// # Safety
/// `slab` was this CPU's CPU slab and `freelist` its CPU freelist; neither is reachable
/// from the CPU any more.
unsafe fn deactivate_slab(k: &Kernel, cpu: u32, s: *mut KmemCache, slab: *mut Slab, freelist: u64) {
    // SAFETY: forwarded.
    unsafe {
        let sr = &*s;
        let m = &k.slab.map;
        let n = get_node(s, slab_nid(slab));
        let mut tail = Tail::Head;
        if slab_read(slab).0 != 0 {
            tail = Tail::Tail;
        }
        // Stage one: count the CPU freelist and find its last object. A chain a caller
        // corrupted stops at the first address that is no object of this slab (the
        // kernel's freelist_corrupted isolates it with slub_debug F).
        let mut free_delta = 0u32;
        let mut freelist_tail = 0u64;
        let mut iter = freelist;
        let base = m.slab_address(k, slab);
        let objects = counters_objects(slab_read(slab).1);
        while iter != 0 && is_slab_object(sr, slab, base, iter) {
            let nextfree = get_freepointer(m, sr, iter);
            freelist_tail = iter;
            free_delta += 1;
            iter = nextfree;
            if free_delta > objects {
                // freelist_corrupted: a cycle; stop counting.
                break;
            }
        }
        let freelist = if freelist_tail == 0 { 0 } else { freelist };
        // Stage two: unfreeze while splicing.
        let (new_freelist, new_counters) = loop {
            let (old_fl, old_ct) = slab_read(slab);
            let objects = counters_objects(old_ct);
            let mut inuse = counters_inuse(old_ct);
            let nfl = if freelist_tail != 0 {
                inuse = inuse.saturating_sub(free_delta);
                set_freepointer(m, sr, freelist_tail, old_fl);
                freelist
            } else {
                old_fl
            };
            let nct = make_counters(inuse, objects, false);
            if slab_update_freelist(slab, (old_fl, old_ct), (nfl, nct)) {
                break (nfl, nct);
            }
        };
        // Stage three.
        if counters_inuse(new_counters) == 0
            && (*n).nr_partial.load(Ordering::Relaxed) >= sr.min_partial
        {
            discard_slab(k, cpu, s, slab);
        } else if new_freelist != 0 {
            (*n).list_lock.lock();
            __add_partial(k, n, slab, tail);
            (*n).list_lock.unlock();
        }
    }
}

/// mm/slub.c `__unfreeze_partials`: a chain of CPU-partial slabs back to their nodes'
/// partial lists (tail), freeing the empty ones beyond `min_partial`.
///
/// # Safety
/// `partial` heads a chain no CPU reaches any more.
unsafe fn __unfreeze_partials(
    k: &Kernel,
    cpu: u32,
    s: *mut KmemCache,
    mut partial: *mut Slab,
    single: bool,
) {
    // SAFETY: forwarded.
    unsafe {
        let sr = &*s;
        let mut discard: *mut Slab = ptr::null_mut();
        let mut n: *mut KmemCacheNode = ptr::null_mut();
        while !partial.is_null() {
            let slab = partial;
            partial = if single {
                ptr::null_mut()
            } else {
                slab_next(slab)
            };
            let n2 = get_node(s, slab_nid(slab));
            if n != n2 {
                if !n.is_null() {
                    (*n).list_lock.unlock();
                }
                n = n2;
                (*n).list_lock.lock();
            }
            // 6.8's __put_partials: CPU-partial slabs are not frozen, nothing to swap.
            let new_ct = if k.slab.rules.order.unfrozen_partials {
                slab_read(slab).1
            } else {
                loop {
                    let (fl, ct) = slab_read(slab);
                    let nct = ct & !(1 << 31);
                    if slab_update_freelist(slab, (fl, ct), (fl, nct)) {
                        break nct;
                    }
                }
            };
            if counters_inuse(new_ct) == 0
                && (*n).nr_partial.load(Ordering::Relaxed) >= sr.min_partial
            {
                set_partial_link(slab, discard, 0);
                discard = slab;
            } else {
                __add_partial(k, n, slab, Tail::Tail);
            }
        }
        if !n.is_null() {
            (*n).list_lock.unlock();
        }
        while !discard.is_null() {
            let slab = discard;
            discard = slab_next(slab);
            discard_slab(k, cpu, s, slab);
        }
    }
}

/// mm/slub.c `put_cpu_partial`: `slab` (just frozen by a free) onto this CPU's partial
/// list; when `drain` and the list already holds `cpu_partial_slabs`, the old list goes
/// back to the nodes first.
///
/// # Safety
/// The CPU is held by the caller; `slab` is frozen and on no list.
unsafe fn put_cpu_partial(k: &Kernel, cpu: u32, s: *mut KmemCache, slab: *mut Slab, drain: bool) {
    // SAFETY: forwarded.
    unsafe {
        let sr = &*s;
        let c = k.slab.map.cpu_slab(sr, cpu);
        let mut old = (*c).partial;
        let mut to_unfreeze: *mut Slab = ptr::null_mut();
        let mut slabs = 0;
        if !old.is_null() {
            if drain && slab_slabs(old) >= sr.cpu_partial_slabs {
                to_unfreeze = old;
                old = ptr::null_mut();
            } else {
                slabs = slab_slabs(old);
            }
        }
        slabs += 1;
        set_partial_link(slab, old, slabs);
        (*c).partial = slab;
        if !to_unfreeze.is_null() {
            __unfreeze_partials(k, cpu, s, to_unfreeze, false);
        }
    }
}

/// `flush_slab` + `unfreeze_partials_cpu` (`__flush_cpu_slab`): CPU `cpu`'s CPU slab and
/// partial slabs of `s` back to the nodes.
///
/// # Safety
/// The caller holds `cpu` (or the kernel exclusively) and `s` is live.
pub(crate) unsafe fn __flush_cpu_slab(k: &Kernel, cpu: u32, s: *mut KmemCache) {
    // SAFETY: forwarded.
    unsafe {
        let c = k.slab.map.cpu_slab(&*s, cpu);
        let slab = (*c).slab;
        if !slab.is_null() {
            let freelist = (*c).freelist;
            (*c).slab = ptr::null_mut();
            (*c).freelist = 0;
            (*c).tid = next_tid(&k.slab.map, (*c).tid);
            deactivate_slab(k, cpu, s, slab, freelist);
        }
        let partial = (*c).partial;
        if !partial.is_null() {
            (*c).partial = ptr::null_mut();
            __unfreeze_partials(k, cpu, s, partial, false);
        }
    }
}

// ----- Freeing -----------------------------------------------------------------------------

/// mm/slub.c `do_slab_free`: `object` back to its slab. To the CPU freelist when the slab is
/// this CPU's CPU slab (lock free), else [`__slab_free`].
///
/// # Safety
/// The caller holds the CPU; `s` is live; `slab` is the slab of `s` that `object` lies in
/// (the caller found it with `virt_to_slab`).
#[inline(always)]
pub(crate) unsafe fn do_slab_free(
    k: &Kernel,
    cpu: u32,
    s: *mut KmemCache,
    slab: *mut Slab,
    object: u64,
) {
    // SAFETY: forwarded.
    unsafe {
        let sr = &*s;
        let m = &k.slab.map;
        let c = m.cpu_slab(sr, cpu);
        if slab != (*c).slab {
            __slab_free(k, cpu, s, slab, object, object, 1);
            return;
        }
        let freelist = (*c).freelist;
        if freelist == object {
            // CONFIG_SLAB_FREELIST_HARDENED's "naive detection of double free".
            super::debug::naive_double_free(k, cpu, sr, object);
            return;
        }
        set_freepointer(m, sr, object, freelist);
        (*c).freelist = object;
        (*c).tid = next_tid(m, (*c).tid);
    }
}

/// mm/slub.c `__slab_free`: the chain `head`..`tail` of `cnt` objects back onto their slab's
/// own freelist with a cmpxchg16b; take `list_lock` only when the slab changes lists.
///
/// # Safety
/// As [`do_slab_free`]; the chain's objects are all in `slab` and linked.
pub(crate) unsafe fn __slab_free(
    k: &Kernel,
    cpu: u32,
    s: *mut KmemCache,
    slab: *mut Slab,
    head: u64,
    tail: u64,
    cnt: u32,
) {
    // SAFETY: forwarded.
    unsafe {
        let sr = &*s;
        if kmem_cache_debug(sr) {
            // A debug cache's slabs are never CPU slabs: every free comes here.
            super::debug::free_debug(k, cpu, s, slab, head);
            return;
        }
        let m = &k.slab.map;
        let unfrozen = k.slab.rules.order.unfrozen_partials;
        let mut n: *mut KmemCacheNode = ptr::null_mut();
        let mut on_node_partial = false;
        let (prior, was_frozen, new_ct) = loop {
            if !n.is_null() {
                (*n).list_lock.unlock();
                n = ptr::null_mut();
            }
            let (prior, counters) = slab_read(slab);
            if prior == head {
                super::debug::naive_double_free(k, cpu, sr, head);
                return;
            }
            set_freepointer(m, sr, tail, prior);
            let was_frozen = counters_frozen(counters);
            let inuse = counters_inuse(counters).wrapping_sub(cnt) & 0xffff;
            let mut frozen = was_frozen;
            if (inuse == 0 || prior == 0) && !was_frozen {
                if unfrozen {
                    // 6.8: a full slab goes to the CPU-partial list unfrozen; otherwise see
                    // under the lock whether the slab is on the node's list.
                    if !kmem_cache_has_cpu_partial(sr) || prior != 0 {
                        n = get_node(s, slab_nid(slab));
                        (*n).list_lock.lock();
                        on_node_partial =
                            (*slab).__page_flags & PageFlags::PG_WORKINGSET.bits() != 0;
                    }
                } else if kmem_cache_has_cpu_partial(sr) && prior == 0 {
                    // The slab was full: it will be this CPU's partial slab.
                    frozen = true;
                } else {
                    n = get_node(s, slab_nid(slab));
                    (*n).list_lock.lock();
                }
            }
            let nct = make_counters(inuse, counters_objects(counters), frozen);
            if slab_update_freelist(slab, (prior, counters), (head, nct)) {
                break (prior, was_frozen, nct);
            }
        };
        if n.is_null() {
            let to_cpu_partial = if unfrozen {
                !was_frozen && kmem_cache_has_cpu_partial(sr) && prior == 0
            } else {
                !was_frozen && counters_frozen(new_ct)
            };
            if to_cpu_partial {
                put_cpu_partial(k, cpu, s, slab, true);
            }
            return;
        }
        if unfrozen && prior != 0 && !on_node_partial {
            // On a CPU-partial list: its list is that CPU's business.
            (*n).list_lock.unlock();
            return;
        }
        if counters_inuse(new_ct) == 0 && (*n).nr_partial.load(Ordering::Relaxed) >= sr.min_partial
        {
            // slab_empty:
            if prior != 0 {
                remove_partial(k, n, slab);
            }
            (*n).list_lock.unlock();
            discard_slab(k, cpu, s, slab);
            return;
        }
        if !kmem_cache_has_cpu_partial(sr) && prior == 0 {
            __add_partial(k, n, slab, Tail::Tail);
        }
        (*n).list_lock.unlock();
    }
}

/// Whether an object at `x` fits inside slab `slab` of `s` (whose block starts at `base`):
/// its bytes, and so the free pointer a free writes into it, lie inside the slab's pages.
/// The kernel does not check a non-debug free (a misplaced one corrupts the slab's other
/// objects, here too); bootmm refuses only what would write outside the slab. Debug caches
/// check the object exactly (`check_valid_pointer`).
#[inline(always)]
pub(crate) fn is_slab_object(s: &KmemCache, slab: *mut Slab, base: u64, x: u64) -> bool {
    // SAFETY: a struct page of the memmap; a slab's order is in its first tail's flags.
    let order = unsafe { page_alloc::compound_order(slab.cast::<Page>()) };
    let bytes = crate::include::PAGE_SIZE << order;
    let start = x.wrapping_sub(base);
    start >= u64::from(s.red_left_pad) && start.saturating_add(u64::from(s.size)) <= bytes
}

/// What `virt_to_slab` found at an address.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Owner {
    /// A slab: the cache and the slab.
    Slab(*mut KmemCache, *mut Slab),
    /// A block of pages that is not a slab (a large kmalloc, or any other page), its head.
    Pages(NonNull<Page>),
    /// Not simulated RAM with a memmap.
    None,
}

/// `virt_to_folio` + `folio_test_slab` + `folio_slab(folio)->slab_cache`.
#[inline(always)]
pub(crate) fn virt_to_owner(k: &Kernel, va: u64) -> Owner {
    let Some(page) = k.slab.map.virt_to_head_page(k, va) else {
        return Owner::None;
    };
    // SAFETY: a struct page of the memmap, readable.
    let (flags, cache) = unsafe {
        let p = page.as_ptr().cast::<Slab>();
        ((*p).__page_flags, (*p).slab_cache)
    };
    if flags & PageFlags::PG_SLAB.bits() != 0 && !cache.is_null() {
        Owner::Slab(cache, page.as_ptr().cast())
    } else {
        Owner::Pages(page)
    }
}

// ----- Cache setup -------------------------------------------------------------------------

/// mm/slab_common.c `calculate_alignment`.
pub fn calculate_alignment(flags: SlabFlags, mut align: u32, size: u32) -> u32 {
    if flags.contains(SlabFlags::SLAB_HWCACHE_ALIGN) {
        let mut ralign = crate::include::SMP_CACHE_BYTES as u32;
        while size <= ralign / 2 {
            ralign /= 2;
        }
        align = align.max(ralign);
    }
    // arch_slab_minalign: ARCH_SLAB_MINALIGN, alignof(unsigned long long) on x86.
    align = align.max(8);
    align.next_multiple_of(8)
}

/// mm/slub.c `calculate_sizes`: the object layout (free pointer, debug metadata,
/// alignment) and the slab order. False when no order holds an object.
fn calculate_sizes(k: &Kernel, s: &mut KmemCache) -> bool {
    let flags = s.flags;
    let mut size = s.object_size.next_multiple_of(8);
    if flags.contains(SlabFlags::SLAB_POISON)
        && !flags.contains(SlabFlags::SLAB_TYPESAFE_BY_RCU)
        && s.ctor == 0
    {
        s.flags |= SlabFlags::__OBJECT_POISON;
    } else {
        s.flags.remove(SlabFlags::__OBJECT_POISON);
    }
    if flags.contains(SlabFlags::SLAB_RED_ZONE) && size == s.object_size {
        size += 8;
    }
    s.inuse = size;
    let freeptr_outside = (flags.contains(SlabFlags::SLAB_STORE_USER)
        && flags.contains(SlabFlags::SLAB_KMALLOC))
        || flags.intersects(SlabFlags::SLAB_TYPESAFE_BY_RCU | SlabFlags::SLAB_POISON)
        || (flags.contains(SlabFlags::SLAB_RED_ZONE) && s.object_size < 8)
        || s.ctor != 0;
    if freeptr_outside {
        s.offset = size;
        size += 8;
    } else {
        s.offset = k.slab.rules.freeptr_offset(s.object_size);
    }
    if flags.contains(SlabFlags::SLAB_STORE_USER) {
        size += 2 * super::debug::TRACK_SIZE;
        if flags.contains(SlabFlags::SLAB_KMALLOC) {
            size += 4;
        }
    }
    if flags.contains(SlabFlags::SLAB_RED_ZONE) {
        size += 8;
        s.red_left_pad = 8u32.next_multiple_of(s.align);
        size += s.red_left_pad;
    }
    size = size.next_multiple_of(s.align);
    s.size = size;
    s.reciprocal_size = reciprocal_value(size);
    let Some(order) = calculate_order(
        &k.slab.rules.order,
        &k.slab.params,
        size,
        k.slab.nr_cpus_for_order,
    ) else {
        return false;
    };
    let gfp = Gfp::__GFP_COMP;
    s.allocflags = gfp;
    if s.flags.contains(SlabFlags::SLAB_CACHE_DMA) {
        s.allocflags |= Gfp::__GFP_DMA;
    }
    if s.flags.contains(SlabFlags::SLAB_CACHE_DMA32) {
        s.allocflags |= Gfp::__GFP_DMA32;
    }
    if s.flags.contains(SlabFlags::SLAB_RECLAIM_ACCOUNT) {
        s.allocflags |= Gfp::__GFP_RECLAIMABLE;
    }
    s.oo = oo_make(order, size);
    let min_order = super::get_order(u64::from(size));
    s.min = oo_make(min_order, size);
    oo_objects(s.oo) != 0
}

/// mm/slub.c `set_cpu_partial`.
fn set_cpu_partial(s: &mut KmemCache) {
    let nr_objects = if !kmem_cache_has_cpu_partial(s) {
        0
    } else if s.size >= 4096 {
        6
    } else if s.size >= 1024 {
        24
    } else if s.size >= 256 {
        52
    } else {
        120
    };
    // slub_set_cpu_partial.
    s.cpu_partial = nr_objects;
    let per_slab = oo_objects(s.oo).max(1);
    s.cpu_partial_slabs = (nr_objects * 2).div_ceil(per_slab);
}

/// Why a cache could not be opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// `calculate_sizes` failed: no order holds one object (-EINVAL).
    Sizes,
    /// A node structure or the percpu area could not be allocated (-EINVAL / -ENOMEM).
    NoMemory,
    /// The page allocator could not be called.
    Alloc(AllocError),
}

/// `init_kmem_cache_node`.
///
/// # Safety
/// `n` is writable memory for a node.
unsafe fn init_kmem_cache_node(n: *mut KmemCacheNode) {
    // SAFETY: forwarded.
    unsafe {
        ptr::write(
            n,
            KmemCacheNode {
                list_lock: RawSpinlock::new(),
                nr_partial: AtomicU64::new(0),
                partial: ListHead {
                    next: ptr::null_mut(),
                    prev: ptr::null_mut(),
                },
                nr_slabs: AtomicI64::new(0),
                total_objects: AtomicI64::new(0),
                full: ListHead {
                    next: ptr::null_mut(),
                    prev: ptr::null_mut(),
                },
            },
        );
        crate::include::mm_types::INIT_LIST_HEAD(ptr::addr_of_mut!((*n).partial));
        crate::include::mm_types::INIT_LIST_HEAD(ptr::addr_of_mut!((*n).full));
    }
}

/// mm/slub.c `early_kmem_cache_node_alloc`: while `slab_state` is DOWN, the node structure
/// of the `kmem_cache_node` cache itself comes from a fresh slab of that cache.
///
/// # Safety
/// `kcn` is the boot `kmem_cache_node` cache being opened.
unsafe fn early_kmem_cache_node_alloc<H: SlabHost>(
    h: &mut H,
    kcn: *mut KmemCache,
    node: u32,
) -> Result<(), OpenError> {
    // SAFETY: forwarded.
    unsafe {
        let gfp = h.k().slab.gfp_nowait;
        let slab = new_slab(h, kcn, gfp, node as i32)
            .map_err(OpenError::Alloc)?
            .ok_or(OpenError::NoMemory)?;
        let k = h.k();
        if slab_nid(slab) != node {
            crate::pr_err!(
                k.printk,
                "SLUB: Unable to allocate memory from node {}\n",
                node
            );
            crate::pr_err!(
                k.printk,
                "SLUB: Allocating a useless per node structure in order to be able to continue\n"
            );
        }
        let m = &k.slab.map;
        let obj = (*slab).freelist;
        let kr = &*kcn;
        super::debug::init_object_active(m, kr, obj);
        (*slab).freelist = get_freepointer(m, kr, obj);
        let objects = counters_objects((*slab).counters);
        (*slab).counters = make_counters(1, objects, false);
        let n = m
            .host(obj, core::mem::size_of::<KmemCacheNode>() as u64)
            .ok_or(OpenError::NoMemory)?
            .cast::<KmemCacheNode>();
        set_node(kcn, node, n);
        init_kmem_cache_node(n);
        inc_slabs_node(kcn, node, objects);
        __add_partial(k, n, slab, Tail::Head);
    }
    Ok(())
}

/// mm/slub.c `kmem_cache_open` (with `init_kmem_cache_nodes`, `alloc_kmem_cache_cpus`):
/// size the cache and give it its node structures and per-CPU state.
///
/// # Errors
/// [`OpenError`]; what was allocated is released (`__kmem_cache_release`).
///
/// # Safety
/// `s` is a cache being created (name, object_size, align and flags set), reachable by
/// nobody else, with room for `nr_node_ids` node pointers.
pub(crate) unsafe fn kmem_cache_open<H: SlabHost>(
    h: &mut H,
    s: *mut KmemCache,
    flags: SlabFlags,
) -> Result<(), OpenError> {
    // SAFETY: forwarded throughout.
    unsafe {
        {
            let k = h.k();
            let sr = &mut *s;
            sr.flags = k.slab.kmem_cache_flags(sr.name(), flags);
            if !calculate_sizes(k, sr) {
                return Err(OpenError::Sizes);
            }
            if !sr.flags.intersects(
                SlabFlags::SLAB_CONSISTENCY_CHECKS
                    | SlabFlags::SLAB_STORE_USER
                    | SlabFlags::SLAB_TRACE,
            ) {
                sr.flags |= SlabFlags::__CMPXCHG_DOUBLE;
            }
            sr.min_partial = (u64::from(sr.size.ilog2()) / 2).clamp(MIN_PARTIAL, MAX_PARTIAL);
            set_cpu_partial(sr);
            sr.remote_node_defrag_ratio = 1000;
        }
        let nodes: alloc::vec::Vec<u32> = h.k().slab.slab_nodes().collect();
        for nid in nodes {
            if h.k().slab.state() == super::SlabState::Down {
                early_kmem_cache_node_alloc(h, s, nid)?;
                continue;
            }
            let kcn = h.k().slab.kmem_cache_node_ptr();
            let gfp = h.k().slab.gfp_kernel;
            let obj = slab_alloc_node(h, kcn, gfp, nid as i32, 0).map_err(OpenError::Alloc)?;
            if obj == 0 {
                __kmem_cache_release(h.k(), s);
                return Err(OpenError::NoMemory);
            }
            let n = h
                .k()
                .slab
                .map
                .host(obj, core::mem::size_of::<KmemCacheNode>() as u64)
                .ok_or(OpenError::NoMemory)?
                .cast::<KmemCacheNode>();
            init_kmem_cache_node(n);
            set_node(s, nid, n);
        }
        // alloc_kmem_cache_cpus: the percpu area is zeroed; tid = init_tid(cpu).
        let k = h.k();
        let Some(p) =
            crate::mm::percpu::__alloc_percpu(k, core::mem::size_of::<KmemCacheCpu>() as u64, 16)
        else {
            __kmem_cache_release(k, s);
            return Err(OpenError::NoMemory);
        };
        crate::mm::percpu::pcpu_pin(k, p);
        (*s).cpu_slab = p.offset();
        for cpu in 0..k.cpus.nr_cpu_ids() {
            let c = k.slab.map.cpu_slab(&*s, cpu);
            (*c).tid = u64::from(cpu);
        }
    }
    Ok(())
}

/// mm/slub.c `__kmem_cache_release`: the per-CPU area and the node structures.
///
/// # Safety
/// `s` is a cache no CPU uses, its slabs all gone.
pub(crate) unsafe fn __kmem_cache_release(k: &Kernel, s: *mut KmemCache) {
    // SAFETY: forwarded.
    unsafe {
        if (*s).cpu_slab != 0 {
            let p = crate::mm::percpu::PcpuPtr::from_value((*s).cpu_slab, u64::MAX);
            if let Some(p) = p {
                crate::mm::percpu::pcpu_unpin(k, p);
            }
            let _ = crate::mm::percpu::free_percpu(k, p);
            (*s).cpu_slab = 0;
        }
        let kcn = k.slab.kmem_cache_node_ptr();
        for nid in 0..k.slab.nr_node_ids {
            let n = get_node(s, nid);
            if n.is_null() {
                continue;
            }
            set_node(s, nid, ptr::null_mut());
            if !kcn.is_null() && kcn != s {
                let va = k.slab.map.va(n.cast());
                if let Owner::Slab(c, slab) = virt_to_owner(k, va) {
                    do_slab_free(k, k.cpus.current(), c, slab, va);
                }
            }
        }
    }
}

/// `count_partial(n, count_free)`: free objects on a node's partial slabs.
///
/// # Safety
/// `n` is a live node.
pub(crate) unsafe fn count_partial_free(n: *mut KmemCacheNode) -> u64 {
    // SAFETY: forwarded; the walk is under the node's lock.
    unsafe {
        (*n).list_lock.lock();
        let head = ptr::addr_of_mut!((*n).partial);
        let mut l = (*head).next;
        let mut x = 0u64;
        while l != head {
            let (_, ct) = slab_read(list_to_slab(l));
            x += u64::from(counters_objects(ct) - counters_inuse(ct).min(counters_objects(ct)));
            l = (*l).next;
        }
        (*n).list_lock.unlock();
        x
    }
}

/// The node structures of a cache, by node id.
///
/// # Safety
/// `s` is live.
pub(crate) unsafe fn cache_nodes(
    k: &Kernel,
    s: *const KmemCache,
) -> impl Iterator<Item = (u32, *mut KmemCacheNode)> + '_ {
    (0..k.slab.nr_node_ids).filter_map(move |nid| {
        // SAFETY: forwarded.
        let n = unsafe { get_node(s, nid) };
        (!n.is_null()).then_some((nid, n))
    })
}

/// mm/slub.c `__kmem_cache_do_shrink`: free every empty partial slab and sort the rest,
/// fullest first. True when slabs remain.
///
/// # Safety
/// `s` is live; the CPUs' slabs were flushed (or the caller accepts they stay).
pub(crate) unsafe fn __kmem_cache_do_shrink(k: &Kernel, cpu: u32, s: *mut KmemCache) -> bool {
    let mut ret = false;
    // SAFETY: forwarded.
    unsafe {
        for (nid, n) in cache_nodes(k, s).collect::<alloc::vec::Vec<_>>() {
            let mut discard: alloc::vec::Vec<*mut Slab> = alloc::vec::Vec::new();
            let mut promote: [alloc::vec::Vec<*mut Slab>; SHRINK_PROMOTE_MAX] =
                core::array::from_fn(|_| alloc::vec::Vec::new());
            (*n).list_lock.lock();
            let head = ptr::addr_of_mut!((*n).partial);
            let mut l = (*head).next;
            let mut keep: alloc::vec::Vec<*mut Slab> = alloc::vec::Vec::new();
            while l != head {
                let next = (*l).next;
                let slab = list_to_slab(l);
                let (_, ct) = slab_read(slab);
                let free = counters_objects(ct).saturating_sub(counters_inuse(ct)) as usize;
                debug_assert!(free > 0, "a full slab on the partial list");
                if free == counters_objects(ct) as usize {
                    remove_partial(k, n, slab);
                    dec_slabs_node(s, nid, counters_objects(ct));
                    discard.push(slab);
                } else if free <= SHRINK_PROMOTE_MAX && free > 0 {
                    list_del(l);
                    promote[free - 1].push(slab);
                } else {
                    keep.push(slab);
                }
                l = next;
            }
            // list_splice(promote + i, &n->partial) from the last: fullest at the head.
            for i in (0..SHRINK_PROMOTE_MAX).rev() {
                for &slab in promote[i].iter().rev() {
                    list_add(ptr::addr_of_mut!((*slab).slab_list), head);
                }
            }
            let _ = keep;
            (*n).list_lock.unlock();
            for slab in discard {
                free_slab(k, cpu, &*s, slab);
            }
            if (*n).nr_slabs.load(Ordering::Relaxed) != 0 {
                ret = true;
            }
        }
    }
    ret
}

/// `slab_objects` walk for the leak report and `validate`: every object address of a slab.
///
/// # Safety
/// `slab` is a slab of `s`.
pub(crate) unsafe fn slab_object_addrs(
    k: &Kernel,
    s: &KmemCache,
    slab: *mut Slab,
) -> impl Iterator<Item = u64> {
    // SAFETY: forwarded.
    let (start, objects) = unsafe {
        (
            k.slab.map.slab_address(k, slab) + u64::from(s.red_left_pad),
            counters_objects(slab_read(slab).1),
        )
    };
    let size = u64::from(s.size);
    (0..u64::from(objects)).map(move |i| start + i * size)
}

/// The free objects of a slab (its freelist, without the CPU's), as a set of indexes.
///
/// # Safety
/// `slab` is a slab of `s`.
pub(crate) unsafe fn slab_free_set(
    k: &Kernel,
    s: &KmemCache,
    slab: *mut Slab,
    extra: u64,
) -> alloc::vec::Vec<bool> {
    // SAFETY: forwarded.
    unsafe {
        let m = &k.slab.map;
        let start = m.slab_address(k, slab) + u64::from(s.red_left_pad);
        let (fl, ct) = slab_read(slab);
        let objects = counters_objects(ct) as usize;
        let mut set = alloc::vec![false; objects];
        for head in [fl, extra] {
            let mut p = head;
            let mut n = 0;
            while p != 0 && n <= objects {
                // obj_to_index: the reciprocal divide of the cache.
                let off = p.wrapping_sub(start);
                if p < start || off > u64::from(u32::MAX) {
                    break;
                }
                let idx = u64::from(reciprocal_divide(off as u32, s.reciprocal_size));
                if p < start || idx as usize >= objects {
                    break;
                }
                set[idx as usize] = true;
                p = get_freepointer(m, s, p);
                n += 1;
            }
        }
        set
    }
}

/// The partial slabs of a node (a snapshot under the lock).
///
/// # Safety
/// `n` is a live node.
pub(crate) unsafe fn node_partial_slabs(n: *mut KmemCacheNode) -> alloc::vec::Vec<*mut Slab> {
    // SAFETY: forwarded.
    unsafe {
        (*n).list_lock.lock();
        let v = slabs_on(ptr::addr_of_mut!((*n).partial));
        (*n).list_lock.unlock();
        v
    }
}

/// The slabs on a node list (`partial` or `full`) whose lock the caller holds.
///
/// # Safety
/// The caller holds the list's node's `list_lock`.
pub(crate) unsafe fn slabs_on(head: *mut ListHead) -> alloc::vec::Vec<*mut Slab> {
    // SAFETY: forwarded.
    unsafe {
        let mut v = alloc::vec::Vec::new();
        let mut l = (*head).next;
        while l != head {
            v.push(list_to_slab(l));
            l = (*l).next;
        }
        v
    }
}

/// `free_partial`: every empty partial slab of a node freed; the others reported.
///
/// # Safety
/// `s` is live and no CPU uses it.
pub(crate) unsafe fn free_partial(k: &Kernel, cpu: u32, s: *mut KmemCache, n: *mut KmemCacheNode) {
    // SAFETY: forwarded.
    unsafe {
        for slab in node_partial_slabs(n) {
            let (_, ct) = slab_read(slab);
            if counters_inuse(ct) == 0 {
                (*n).list_lock.lock();
                remove_partial(k, n, slab);
                (*n).list_lock.unlock();
                discard_slab(k, cpu, s, slab);
            } else {
                super::debug::list_slab_objects(
                    k,
                    &*s,
                    slab,
                    "Objects remaining in %s on __kmem_cache_shutdown()",
                );
            }
        }
    }
}

/// The free/counters pair of a slab, read atomically (for views and checks).
///
/// # Safety
/// `slab` is a struct page of the memmap.
pub(crate) unsafe fn slab_state(slab: *mut Slab) -> (u64, u64) {
    // SAFETY: forwarded.
    unsafe { slab_read(slab) }
}

/// Write a slab's freelist and counters while nobody else can reach it.
///
/// # Safety
/// As [`slab_state`], and the caller holds the slab exclusively (node lock held and the slab
/// not frozen, or a slab only it sees).
pub(crate) unsafe fn slab_set(slab: *mut Slab, freelist: u64, counters: u64) {
    // SAFETY: forwarded.
    unsafe { slab_pair(slab) }.store(pair(freelist, counters), Ordering::Release);
}

/// What `/sys/kernel/slab/<cache>/` shows of a cache (`show_slab_objects` for `objects`,
/// `slabs`, `partial` and `cpu_slabs`; `aliases`, the geometry and the flags), for
/// [`crate::tools::slabinfo`].
///
/// # Safety
/// `c` is live and no CPU runs (the per-CPU state is read as it stands).
pub(crate) unsafe fn sysfs_view(k: &Kernel, c: CachePtr) -> crate::tools::slabinfo::ToolCache {
    let s = c.as_ptr();
    // SAFETY: forwarded.
    unsafe {
        let sr = &*s;
        let (mut slabs, mut objs, mut free, mut partial) = (0i64, 0i64, 0u64, 0u64);
        for (_, n) in cache_nodes(k, s) {
            slabs += (*n).nr_slabs.load(Ordering::Relaxed);
            objs += (*n).total_objects.load(Ordering::Relaxed);
            free += count_partial_free(n);
            partial += (*n).nr_partial.load(Ordering::Relaxed);
        }
        let mut cpu_slabs = 0u64;
        for cpu in 0..k.cpus.nr_cpu_ids() {
            let cc = k.slab.map.cpu_slab(sr, cpu);
            if !(*cc).slab.is_null() {
                cpu_slabs += 1;
            }
            let p = (*cc).partial;
            if !p.is_null() {
                cpu_slabs += u64::from(slab_slabs(p));
            }
        }
        crate::tools::slabinfo::ToolCache {
            name: alloc::string::String::from(sr.name()),
            objects: (objs.max(0) as u64).saturating_sub(free),
            object_size: sr.object_size,
            slabs: slabs.max(0) as u64,
            partial,
            cpu_slabs,
            objs_per_slab: oo_objects(sr.oo),
            order: oo_order(sr.oo),
            aliases: if sr.refcount < 0 {
                0
            } else {
                (sr.refcount - 1) as u32
            },
            flags: sr.flags,
        }
    }
}
